//! Accounts sharing on a reactor (see [`crate::accounts`]): subject mappings on a client's
//! publish, the shadow subscriptions of stream imports, and service imports with the
//! `_R_.` replies that bring answers back.
//!
//! Each reactor keeps its own service-import hooks (a [`Target::Import`] in the importing
//! account's index, never announced: every server and reactor has the same ones) and, per
//! exporting account it has sent requests to, one reply prefix whose `_R_.<prefix>.>`
//! subscription *is* announced, to peer reactors and routes, so that an answer published
//! anywhere comes back to the reactor holding the request's mapping (nats-server's
//! `createRespWildcard`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::{Reactor, Sub, Target};
use crate::accounts::{ResponseType, ServiceImport};
use crate::proto::Message;

/// How deep a request may travel through chained service imports (nats-server refuses
/// import cycles at configuration time; this bounds what is left).
const MAX_IMPORT_DEPTH: u8 = 8;
/// How often expired reply mappings are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What a [`Target::Import`] stands for.
pub(crate) enum Hook {
    /// Requests on an imported service's local subject.
    Service(Arc<ServiceImport>),
    /// Answers to this reactor's requests into an exporting account.
    Responses,
    /// A service import a reload removed.
    Retired,
    /// A server request of the system account (reactor 0).
    System(super::system::SysRequest),
}

/// A request's reply, waiting for its answers.
struct Pending {
    importer: u32,
    reply: Box<[u8]>,
    response: ResponseType,
    threshold: Duration,
    expires: Instant,
}

/// A reactor's sharing state.
#[derive(Default)]
pub(crate) struct SharingState {
    pub hooks: Vec<Hook>,
    /// Reply prefix (`_R_.xxxxxx.`) per exporting account.
    prefixes: FxHashMap<u32, Box<[u8]>>,
    pending: FxHashMap<Box<[u8]>, Pending>,
    last_sweep: Option<Instant>,
    /// Nesting of deliveries through imports.
    depth: u8,
    /// A service request is being delivered: stream imports do not re-export it.
    pub in_service: bool,
    /// The wait before the next periodic statsz of the system account (reactor 0).
    pub statsz_wait: std::time::Duration,
}

/// The header a service import adds to each request.
const REQUEST_INFO: &str = "Nats-Request-Info";

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| BASE62[fastrand::usize(..BASE62.len())])
        .collect()
}

impl Reactor {
    /// Replaces the service-import hooks with those of a reloaded configuration (answers
    /// to requests already sent still come back).
    pub(super) fn reinstall_sharing(&mut self, before: &crate::accounts::Sharing) {
        for id in 0..self.sharing.hooks.len() {
            if let Hook::Service(si) = &self.sharing.hooks[id] {
                let (importer, local) = (si.importer, si.local.clone());
                self.sublist_mut(importer).remove(
                    local.as_bytes(),
                    None,
                    Target::Import(id as u32),
                );
                self.sharing.hooks[id] = Hook::Retired;
            }
        }
        self.install_sharing();
        if !before.same_stream_imports(&self.auth.sharing) {
            self.refresh_shadows();
        }
    }

    /// The stream imports changed: every subscription gets the shadows the new imports
    /// give it (nats-server's `processSubsOnConfigReload`).
    fn refresh_shadows(&mut self) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .flat_map(|(_, c)| c.subs.values().copied())
            .collect();
        for key in keys {
            let old = self
                .subs
                .get_mut(key)
                .map(|s| std::mem::take(&mut s.shadows))
                .unwrap_or_default();
            for shadow in old {
                self.remove_sub(shadow);
            }
            self.add_shadows(key);
        }
    }

    /// Installs this reactor's service-import hooks (at start, and after a reload).
    pub(super) fn install_sharing(&mut self) {
        let sharing = self.auth.sharing.clone();
        for account in 0..self.auth.accounts().len() as u32 {
            let Some(shares) = sharing.of(account) else {
                continue;
            };
            for si in &shares.services {
                let id = self.sharing.hooks.len() as u32;
                self.sharing.hooks.push(Hook::Service(si.clone()));
                let _ = self.sublist_mut(si.importer).insert(
                    si.local.as_bytes(),
                    None,
                    Target::Import(id),
                );
            }
        }
    }

    /// `msg` as a client's (or a leaf's) publish in `account` is delivered: with the
    /// subject a mapping gives it, kept in `subject`.
    pub(crate) fn mapped<'m>(
        &self,
        account: u32,
        msg: &Message<'m>,
        subject: &'m mut Vec<u8>,
    ) -> Message<'m> {
        if self.auth.sharing.is_empty() {
            return *msg;
        }
        match self.auth.sharing.map(account, msg.subject) {
            Some(mapped) => {
                *subject = mapped;
                let subject: &'m Vec<u8> = subject;
                Message { subject, ..*msg }
            }
            None => *msg,
        }
    }

    /// Adds the shadow subscriptions of a new subscription `key` for the stream imports of
    /// its account.
    pub(super) fn add_shadows(&mut self, key: usize) {
        let Some(sub) = self.subs.get(key) else {
            return;
        };
        let Some(shares) = self.auth.sharing.of(sub.account) else {
            return;
        };
        if shares.streams.is_empty() {
            return;
        }
        let Ok(subject) = std::str::from_utf8(&sub.subject) else {
            return;
        };
        let found: Vec<(Arc<crate::accounts::StreamImport>, String)> = shares
            .streams
            .iter()
            .filter_map(|im| Some((im.clone(), crate::accounts::shadow_subject(subject, im)?)))
            .collect();
        let (conn, sid, queue) = (sub.conn, sub.sid.clone(), sub.queue.clone());
        let mut keys = Vec::new();
        for (im, shadow) in found {
            log::debug!(
                "Creating import subscription on {shadow:?} from account {:?}",
                self.auth.account_name(im.exporter)
            );
            let skey = self.subs.insert(Sub {
                conn,
                account: im.exporter,
                sid: sid.clone(),
                subject: shadow.as_bytes().into(),
                queue: queue.clone(),
                max: 0,
                delivered: 0,
                shown: Some(im.clone()),
                shadows: Vec::new(),
            });
            if self
                .sublist_mut(im.exporter)
                .insert(shadow.as_bytes(), queue.as_deref(), Target::Local(skey))
                .is_err()
            {
                self.subs.remove(skey);
                continue;
            }
            self.note_interest(im.exporter, shadow.as_bytes(), queue.as_deref(), 1);
            keys.push(skey);
        }
        if let Some(sub) = self.subs.get_mut(key) {
            sub.shadows = keys;
        }
    }

    /// Whether `publisher` is where a service import applies: a client or leaf connection
    /// of this reactor, or JetStream (requests from routes and peer reactors were turned into
    /// requests of the exporting account where they were published).
    fn applies_service_imports(&self, publisher: usize) -> bool {
        match self.conns.get(publisher) {
            Some(c) => c.route.is_none(),
            None => publisher == super::internal::INTERNAL_PUBLISHER,
        }
    }

    /// Delivers `msg` to import hook `id`: a request re-published in the exporting account
    /// with a reply of ours, or an answer taken back to its requester. Returns whether
    /// anyone got it.
    pub(super) fn deliver_import(&mut self, publisher: usize, id: u32, msg: &Message<'_>) -> bool {
        if self.sharing.depth >= MAX_IMPORT_DEPTH {
            return false;
        }
        let si = match self.sharing.hooks.get(id as usize) {
            Some(Hook::Service(si)) => si.clone(),
            Some(Hook::Responses) => return self.deliver_answer(msg),
            Some(Hook::System(kind)) => return self.answer_system(publisher, *kind, msg),
            Some(Hook::Retired) | None => return false,
        };
        if !self.applies_service_imports(publisher) {
            return false;
        }
        let subject = si.exporter_subject(msg.subject);
        let reply = if msg.reply.is_empty() {
            Vec::new()
        } else {
            let reply = self.new_service_reply(si.exporter);
            let now = Instant::now();
            self.sharing.pending.insert(
                reply.clone().into_boxed_slice(),
                Pending {
                    importer: si.importer,
                    reply: msg.reply.into(),
                    response: si.response,
                    threshold: si.threshold,
                    expires: now + si.threshold,
                },
            );
            self.sweep_answers(now);
            reply
        };
        // Every request through a service import carries who asked (nats-server's
        // `Nats-Request-Info`: the account and RTT, with `share` the client's details).
        let old_headers = &msg.data[..msg.header_len.min(msg.data.len())];
        let headers = match self.request_info(publisher, si.share) {
            Some(info) => crate::jetstream::headers::set(old_headers, REQUEST_INFO, &info),
            // A request passed on from another import keeps what the first one said.
            None => old_headers.to_vec(),
        };
        let mut data = headers.clone();
        data.extend_from_slice(&msg.data[old_headers.len()..]);
        let (header_text, size_text) = (headers.len().to_string(), data.len().to_string());
        let request = Message {
            subject: &subject,
            reply: &reply,
            header_len: headers.len(),
            header_text: header_text.as_bytes(),
            size_text: size_text.as_bytes(),
            data: &data,
        };
        self.sharing.depth += 1;
        let was = std::mem::replace(&mut self.sharing.in_service, true);
        let delivered = self.deliver(super::internal::INTERNAL_PUBLISHER, si.exporter, &request);
        self.sharing.in_service = was;
        self.sharing.depth -= 1;
        if !delivered && !reply.is_empty() {
            self.sharing.pending.remove(reply.as_slice());
        }
        delivered
    }

    /// The `Nats-Request-Info` JSON for a request by `publisher` (nats-server's
    /// `getClientInfo`, detailed when the import shares).
    fn request_info(&self, publisher: usize, share: bool) -> Option<String> {
        let mut info = self.client_info(publisher, share)?;
        info.name_tag.clear();
        serde_json::to_string(&info).ok()
    }

    /// A reply subject in exporting account `exporter` that maps back to this reactor.
    fn new_service_reply(&mut self, exporter: u32) -> Vec<u8> {
        let prefix = match self.sharing.prefixes.get(&exporter) {
            Some(p) => p.clone(),
            None => {
                let mut p = b"_R_.".to_vec();
                p.extend(base62(6));
                p.push(b'.');
                let id = self.sharing.hooks.len() as u32;
                self.sharing.hooks.push(Hook::Responses);
                let mut wildcard = p.clone();
                wildcard.push(b'>');
                if self
                    .sublist_mut(exporter)
                    .insert(&wildcard, None, Target::Import(id))
                    .is_ok()
                {
                    self.note_interest(exporter, &wildcard, None, 1);
                }
                let p = p.into_boxed_slice();
                self.sharing.prefixes.insert(exporter, p.clone());
                p
            }
        };
        let mut reply = prefix.to_vec();
        reply.extend(base62(6));
        reply
    }

    /// An answer on one of our `_R_.` replies: to the requester's reply in its account.
    fn deliver_answer(&mut self, msg: &Message<'_>) -> bool {
        let now = Instant::now();
        let Some(p) = self.sharing.pending.get_mut(msg.subject) else {
            return false;
        };
        let (importer, reply) = (p.importer, p.reply.clone());
        let done = match p.response {
            ResponseType::Singleton => true,
            // A stream of answers ends with an empty one, or when none comes in time.
            ResponseType::Stream | ResponseType::Chunked => {
                p.expires = now + p.threshold;
                msg.data.is_empty()
            }
        };
        if done {
            self.sharing.pending.remove(msg.subject);
        }
        let answer = Message {
            subject: &reply,
            ..*msg
        };
        self.sharing.depth += 1;
        let delivered = self.deliver(super::internal::INTERNAL_PUBLISHER, importer, &answer);
        self.sharing.depth -= 1;
        delivered
    }

    /// Forgets requests whose answers did not come within their threshold.
    pub(super) fn sweep_answers(&mut self, now: Instant) {
        if self
            .sharing
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.sharing.last_sweep = Some(now);
        self.sharing.pending.retain(|_, p| p.expires > now);
    }
}
