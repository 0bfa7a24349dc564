//! The JetStream thread: it owns every stream, recovers them at start-up, takes the
//! messages the reactors hand it (API requests and publishes to stream subjects), and
//! answers through the reactors. It is an internal subscriber of the subject index: its
//! subscriptions live in reactor 0, which announces them like a client's, so publishes on
//! every reactor, route and leaf reach it; its replies are published into the account
//! by reactor 0 like a client's.
//!
//! Acknowledgements wait for the store: each round takes every message that arrived, then
//! flushes the streams that changed (which survives `kill -9`; with `sync_interval:
//! always` it also syncs them, one sync per round: group commit), and only then sends the
//! round's replies. Between rounds a timer syncs on `sync_interval` and applies `max_age`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::stream::Stream;
pub use crate::config::jetstream::AccountLimits;

/// A message for the JetStream thread: `id` is the internal subscription it matched.
#[derive(Debug, Clone)]
pub struct InMsg {
    pub id: u32,
    pub account: u32,
    pub subject: Vec<u8>,
    pub reply: Vec<u8>,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A message the JetStream thread publishes (no reply subject).
#[derive(Debug)]
pub struct OutMsg {
    pub account: u32,
    pub subject: Vec<u8>,
    /// The reply subject (a consumer's ack subject, a flow-control subject), or empty.
    pub reply: Vec<u8>,
    /// A consumer's message goes to `subject` (a deliver subject, a pull request's inbox)
    /// but shows its stored subject, this one (nats-server's `pa.deliver`); empty: `subject`.
    pub shown_as: Vec<u8>,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A reply of this round: an acknowledgement of a store change waits for that change to be
/// made safe, and becomes an error ack when that fails.
#[derive(Debug)]
pub(super) enum Outgoing {
    Msg(OutMsg),
    Ack {
        stream: u32,
        name: String,
        msg: OutMsg,
    },
}

/// An internal subscription to add or remove.
#[derive(Debug, Clone)]
pub struct InternalSub {
    pub account: u32,
    pub subject: Vec<u8>,
    pub id: u32,
    pub add: bool,
    /// The stream's name for a stream's subscriptions (the reactor answers a publisher
    /// it cannot queue in its name); empty for the API.
    pub stream: String,
    /// Not a subscription but a watch on the interest in a literal subject (a push
    /// consumer's deliver subject): reactor 0 reports it as a message to `id` with an empty
    /// subject and the payload `1` (someone listens) or `0`, whenever it changes.
    pub watch: bool,
}

/// Publishes handed to the JetStream thread and not handled yet, bounded as nats-server
/// bounds a stream's ingest queue (`max_buffered_msgs`, `max_buffered_size`): past it,
/// reactor 0 answers the publisher `429 Too Many Requests` instead of queueing.
#[derive(Debug)]
pub struct IngestQueue {
    msgs: AtomicU64,
    bytes: AtomicU64,
    max_msgs: u64,
    max_bytes: u64,
}

impl Default for IngestQueue {
    fn default() -> Self {
        IngestQueue::new(0, 0)
    }
}

impl IngestQueue {
    /// nats-server's `streamDefaultMaxQueueMsgs` and `streamDefaultMaxQueueBytes`.
    pub const DEFAULT_MSGS: u64 = 100_000;
    pub const DEFAULT_BYTES: u64 = 128 << 20;

    /// A queue bounded by `max_buffered_msgs` and `max_buffered_size` (0 or less: the
    /// defaults).
    pub fn new(max_msgs: i64, max_bytes: i64) -> IngestQueue {
        let or_default = |v: i64, d: u64| if v > 0 { v as u64 } else { d };
        IngestQueue {
            msgs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_msgs: or_default(max_msgs, Self::DEFAULT_MSGS),
            max_bytes: or_default(max_bytes, Self::DEFAULT_BYTES),
        }
    }

    /// Takes a message of `bytes` into the queue, unless it is full.
    pub fn try_add(&self, bytes: u64) -> bool {
        if self.msgs.load(Ordering::Acquire) >= self.max_msgs
            || self.bytes.load(Ordering::Acquire) >= self.max_bytes
        {
            return false;
        }
        self.msgs.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        true
    }

    /// A queued message was handled.
    pub fn done(&self, bytes: u64) {
        self.msgs.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What a publish counts in the ingest queue.
pub fn ingest_size(subject: &[u8], headers: &[u8], payload: &[u8]) -> u64 {
    (subject.len() + headers.len() + payload.len()) as u64
}

pub enum Inbound {
    Msgs(Vec<InMsg>),
    Shutdown,
}

/// How the JetStream thread reaches the subject index (reactor 0).
pub trait Outlet: Send {
    fn subscribe(&self, subs: Vec<InternalSub>);
    fn publish(&self, msgs: Vec<OutMsg>);
}

/// The API subscription id. Every other id is an index (a stream's or a consumer's, from 1)
/// shifted left by two, and one of these kinds.
pub const API_SUB: u32 = 0;
/// A stream's subjects.
pub const KIND_STREAM: u32 = 0;
/// A stream's direct-get subjects.
pub const KIND_DIRECT: u32 = 1;
/// A consumer's `MSG.NEXT` subject.
pub const KIND_NEXT: u32 = 2;
/// A consumer's ack and flow-control subjects, and the interest in its deliver subject.
pub const KIND_CONSUMER: u32 = 3;

/// The subscription id of `kind` for stream or consumer `index`.
pub fn sub_id(index: u32, kind: u32) -> u32 {
    (index << 2) | kind
}

/// The API subjects served: all of them, as nats-server subscribes `$JS.API.>` (reactor 0
/// does not hand it `CONSUMER.MSG.NEXT` and `DIRECT.GET`, which are answered by a
/// consumer's or a stream's own subscription, or by no one: a 503, as in nats-server).
const API_SUBJECTS: &[&str] = &[">"];

#[derive(Debug, Clone)]
pub struct Settings {
    /// `<store_dir>/jetstream`.
    pub root: PathBuf,
    pub sync_always: bool,
    pub sync_interval: Duration,
    pub strict: bool,
    pub domain: String,
    pub server_name: String,
    pub max_memory: i64,
    pub max_store: i64,
}

/// What monitoring shows of JetStream (`/jsz`, `/varz` `jetstream`), refreshed by the
/// JetStream thread after each round.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub api_total: u64,
    pub api_errors: u64,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    pub max_memory: i64,
    pub max_storage: i64,
    pub store_dir: String,
    pub sync_interval: std::time::Duration,
    pub sync_always: bool,
    pub strict: bool,
    pub domain: String,
    /// Per account: its name and streams (name, created, state).
    pub details: Vec<AccountStats>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountStats {
    pub name: String,
    pub memory: u64,
    pub storage: u64,
    pub api_total: u64,
    pub api_errors: u64,
    pub streams: Vec<(
        String,
        i64,
        super::store::State,
        super::config::StreamConfig,
    )>,
}

pub type SharedStats = std::sync::Arc<std::sync::Mutex<Stats>>;

pub(super) struct JsAccount {
    pub name: String,
    pub limits: AccountLimits,
    pub streams: BTreeMap<String, u32>,
    pub api_total: u64,
    pub api_errors: u64,
}

pub struct Service {
    pub(super) settings: Settings,
    pub(super) accounts: HashMap<u32, JsAccount>,
    pub(super) streams: HashMap<u32, Stream>,
    next_stream: u32,
    pub(super) out: Vec<Outgoing>,
    outlet: Box<dyn Outlet>,
    stats: SharedStats,
    ingest: Arc<IngestQueue>,
    /// Something changed since the stats were last published.
    stats_dirty: bool,
    pub(super) consumers: HashMap<u32, super::consumer::runtime::Consumer>,
    /// Per stream: its consumers by name.
    pub(super) consumer_names: HashMap<u32, BTreeMap<String, u32>>,
    pub(super) next_consumer: u32,
    /// Consumers that may have something to send after this round.
    pub(super) consumers_to_serve: std::collections::BTreeSet<u32>,
    /// When a consumer's timer is due next (ns).
    pub(super) next_consumer_wake: Option<i64>,
}

impl Service {
    /// Recovers the streams of the accounts that have JetStream (`(number, name)`) and
    /// subscribes what they need.
    pub fn start(
        settings: Settings,
        accounts: &[(u32, String, AccountLimits)],
        without_jetstream: &[u32],
        outlet: Box<dyn Outlet>,
        stats: SharedStats,
        ingest: Arc<IngestQueue>,
    ) -> Service {
        let mut s = Service {
            settings,
            accounts: HashMap::new(),
            streams: HashMap::new(),
            next_stream: 1,
            out: Vec::new(),
            outlet,
            stats,
            ingest,
            stats_dirty: false,
            consumers: HashMap::new(),
            consumer_names: HashMap::new(),
            next_consumer: 1,
            consumers_to_serve: Default::default(),
            next_consumer_wake: None,
        };
        let mut subs = Vec::new();
        for (id, name, limits) in accounts {
            s.accounts.insert(
                *id,
                JsAccount {
                    name: name.clone(),
                    limits: *limits,
                    streams: BTreeMap::new(),
                    api_total: 0,
                    api_errors: 0,
                },
            );
            for sub in API_SUBJECTS {
                for prefix in s.api_prefixes() {
                    subs.push(InternalSub {
                        account: *id,
                        subject: format!("{prefix}{sub}").into_bytes(),
                        id: API_SUB,
                        add: true,
                        stream: String::new(),
                        watch: false,
                    });
                }
            }
            s.recover_account(*id, name);
        }
        // The other accounts are told JetStream is not enabled for them (10039).
        for id in without_jetstream {
            for sub in API_SUBJECTS {
                for prefix in s.api_prefixes() {
                    subs.push(InternalSub {
                        account: *id,
                        subject: format!("{prefix}{sub}").into_bytes(),
                        id: API_SUB,
                        add: true,
                        stream: String::new(),
                        watch: false,
                    });
                }
            }
        }
        s.outlet.subscribe(subs);
        let ids: Vec<u32> = s.streams.keys().copied().collect();
        for id in ids {
            s.subscribe_stream(id, true);
            if let Some(account) = s.account_of(id) {
                s.recover_consumers(id, account);
            }
        }
        s.publish_stats();
        s
    }

    fn publish_stats(&self) {
        let mut st = Stats {
            max_memory: self.settings.max_memory,
            max_storage: self.settings.max_store,
            store_dir: self.settings.root.display().to_string(),
            sync_interval: self.settings.sync_interval,
            sync_always: self.settings.sync_always,
            strict: self.settings.strict,
            domain: self.settings.domain.clone(),
            accounts: self.accounts.len() as u64,
            ..Stats::default()
        };
        let mut accounts: Vec<&JsAccount> = self.accounts.values().collect();
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        for acc in accounts {
            let mut a = AccountStats {
                name: acc.name.clone(),
                api_total: acc.api_total,
                api_errors: acc.api_errors,
                ..AccountStats::default()
            };
            st.api_total += acc.api_total;
            st.api_errors += acc.api_errors;
            for id in acc.streams.values() {
                let Some(s) = self.streams.get(id) else {
                    continue;
                };
                let mut state = s.store.state();
                state.num_subjects = s.store.subjects().len() as u64;
                let reserve = s.cfg.max_bytes.max(0) as u64;
                if s.is_file() {
                    a.storage += state.bytes;
                    st.reserved_storage += reserve;
                } else {
                    a.memory += state.bytes;
                    st.reserved_memory += reserve;
                }
                st.streams += 1;
                st.consumers += s.consumer_count as u64;
                st.messages += state.msgs;
                st.bytes += state.bytes;
                a.streams
                    .push((s.cfg.name.clone(), s.created, state, s.cfg.clone()));
            }
            st.memory += a.memory;
            st.storage += a.storage;
            st.details.push(a);
        }
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = st;
    }

    /// `$JS.API.` and, with a domain, `$JS.<domain>.API.`.
    pub(super) fn api_prefixes(&self) -> Vec<String> {
        let mut p = vec!["$JS.API.".to_string()];
        if !self.settings.domain.is_empty() {
            p.push(format!("$JS.{}.API.", self.settings.domain));
        }
        p
    }

    pub(super) fn account_dir(&self, name: &str) -> PathBuf {
        self.settings.root.join(name).join("streams")
    }

    fn recover_account(&mut self, account: u32, name: &str) {
        let dir = self.account_dir(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut found = 0;
        for e in entries.flatten() {
            let path = e.path();
            if !path.is_dir() {
                continue;
            }
            match Stream::recover(&path) {
                Ok((stream, notes)) => {
                    for n in notes {
                        warn!("JetStream stream '{} > {}': {n}", name, stream.cfg.name);
                    }
                    let id = self.next_stream;
                    self.next_stream += 1;
                    if let Some(acc) = self.accounts.get_mut(&account) {
                        acc.streams.insert(stream.cfg.name.clone(), id);
                    }
                    self.streams.insert(id, stream);
                    found += 1;
                }
                // Never a failed start-up over one stream: it is left on disk, unserved.
                Err(e) => error!(
                    "JetStream could not recover the stream in {}: {e}",
                    path.display()
                ),
            }
        }
        if found > 0 {
            info!("  Restored {found} stream(s) for account {name:?}");
        }
    }

    /// Runs requests now, before the thread does (the MQTT layer creates its streams so
    /// that their subscriptions are in place when the first MQTT client connects).
    pub fn handle_now(&mut self, msgs: Vec<InMsg>) {
        msgs.into_iter().for_each(|m| self.handle(m));
        self.finish_round();
    }

    /// Every message of stream `name` in `account`, oldest first (none when there is no
    /// such stream). For the MQTT layer, which reads its state streams once at start-up,
    /// before this thread runs.
    pub fn stored_messages(&mut self, account: u32, name: &str) -> Vec<super::store::StoredMsg> {
        let id = self
            .accounts
            .get(&account)
            .and_then(|a| a.streams.get(name).copied());
        let Some(stream) = id.and_then(|id| self.streams.get_mut(&id)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seq = 0;
        while let Ok(Some(m)) = stream.next_matching(seq, b"") {
            seq = m.seq + 1;
            out.push(m);
        }
        out
    }

    /// Adds a new stream's id (its subscriptions follow with [`Self::subscribe_stream`]).
    pub(super) fn add_stream(&mut self, account: u32, stream: Stream) -> u32 {
        let id = self.next_stream;
        self.next_stream += 1;
        if let Some(acc) = self.accounts.get_mut(&account) {
            acc.streams.insert(stream.cfg.name.clone(), id);
        }
        self.streams.insert(id, stream);
        id
    }

    pub(super) fn account_of(&self, stream: u32) -> Option<u32> {
        self.accounts
            .iter()
            .find(|(_, a)| a.streams.values().any(|&s| s == stream))
            .map(|(id, _)| *id)
    }

    /// Subscribes (or unsubscribes) a stream's subjects and, with `allow_direct`, its
    /// direct-get subjects.
    pub(super) fn subscribe_stream(&mut self, id: u32, add: bool) {
        let Some(account) = self.account_of(id) else {
            return;
        };
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        let subs = self.stream_subs(account, id, stream, add);
        self.outlet.subscribe(subs);
    }

    pub(super) fn stream_subs(
        &self,
        account: u32,
        id: u32,
        stream: &Stream,
        add: bool,
    ) -> Vec<InternalSub> {
        let mut subs: Vec<InternalSub> = stream
            .cfg
            .subjects
            .iter()
            .map(|s| InternalSub {
                account,
                subject: s.clone().into_bytes(),
                id: sub_id(id, KIND_STREAM),
                add,
                stream: stream.cfg.name.clone(),
                watch: false,
            })
            .collect();
        if stream.cfg.allow_direct {
            for prefix in self.api_prefixes() {
                for subject in [
                    format!("{prefix}DIRECT.GET.{}", stream.cfg.name),
                    format!("{prefix}DIRECT.GET.{}.>", stream.cfg.name),
                ] {
                    subs.push(InternalSub {
                        account,
                        subject: subject.into_bytes(),
                        id: sub_id(id, KIND_DIRECT),
                        add,
                        stream: String::new(),
                        watch: false,
                    });
                }
            }
        }
        subs
    }

    pub(super) fn send_subs(&self, subs: Vec<InternalSub>) {
        if !subs.is_empty() {
            self.outlet.subscribe(subs);
        }
    }

    /// Queues what a stream republished (in the stream's account).
    pub(super) fn send_republished(&mut self, account: u32, msgs: Vec<(String, Vec<u8>, Vec<u8>)>) {
        for (subject, headers, payload) in msgs {
            self.out.push(Outgoing::Msg(OutMsg {
                account,
                subject: subject.into_bytes(),
                reply: Vec::new(),
                shown_as: Vec::new(),
                headers,
                payload,
            }));
        }
    }

    /// Queues a reply (dropped when the request had no reply subject).
    pub(super) fn reply(&mut self, account: u32, to: &[u8], headers: Vec<u8>, payload: Vec<u8>) {
        if to.is_empty() {
            return;
        }
        self.out.push(Outgoing::Msg(OutMsg {
            account,
            subject: to.to_vec(),
            reply: Vec::new(),
            shown_as: Vec::new(),
            headers,
            payload,
        }));
    }

    fn handle(&mut self, m: InMsg) {
        self.stats_dirty = true;
        if m.id == API_SUB {
            self.api(&m);
            return;
        }
        let index = m.id >> 2;
        match m.id & 3 {
            KIND_STREAM => {
                self.publish(index, &m);
                self.ingest
                    .done(ingest_size(&m.subject, &m.headers, &m.payload));
            }
            KIND_DIRECT => self.direct_get(index, &m),
            KIND_NEXT => self.pull_request(index, &m),
            _ => self.consumer_input(index, &m),
        }
    }

    /// Flushes (or syncs) what changed, then sends the round's replies: the acks of a
    /// stream whose write failed say so instead of confirming.
    fn finish_round(&mut self) {
        if !self.consumers.is_empty() {
            self.serve_consumers();
        }
        let sync = self.settings.sync_always;
        let mut failed: HashMap<u32, String> = HashMap::new();
        for (id, s) in self.streams.iter_mut() {
            if let Err(e) = s.make_safe(sync) {
                error!("JetStream stream '{}' store error: {e}", s.cfg.name);
                failed.insert(*id, e.to_string());
            }
        }
        if self.out.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.out)
            .into_iter()
            .map(|o| match o {
                Outgoing::Msg(m) => m,
                Outgoing::Ack { stream, name, msg } => match failed.get(&stream) {
                    Some(why) => OutMsg {
                        payload: super::api::pub_ack_error(
                            &name,
                            &super::errors::ApiError::store_failed(why.clone()),
                        ),
                        ..msg
                    },
                    None => msg,
                },
            })
            .collect();
        self.outlet.publish(out);
        self.stats_dirty = true;
    }

    fn sync_all(&mut self) {
        for s in self.streams.values_mut() {
            if let Err(e) = s.make_safe(true) {
                error!("JetStream stream '{}' sync error: {e}", s.cfg.name);
            }
        }
    }

    /// Runs until shutdown.
    pub fn run(mut self, rx: Receiver<Inbound>) {
        const EXPIRY_TICK: Duration = Duration::from_millis(250);
        // Messages taken per round before the round is made safe and answered.
        const ROUND: usize = 64;
        let mut next_sync = Instant::now() + self.settings.sync_interval;
        let mut next_expiry = Instant::now() + EXPIRY_TICK;
        loop {
            let mut wait = next_sync
                .min(next_expiry)
                .saturating_duration_since(Instant::now());
            if let Some(w) = self.consumer_wait() {
                wait = wait.min(w);
            }
            let mut batches = 0;
            match rx.recv_timeout(wait) {
                Ok(Inbound::Msgs(msgs)) => {
                    msgs.into_iter().for_each(|m| self.handle(m));
                    batches += 1;
                }
                Ok(Inbound::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let mut stop = false;
            while batches < ROUND {
                match rx.try_recv() {
                    Ok(Inbound::Msgs(msgs)) => {
                        msgs.into_iter().for_each(|m| self.handle(m));
                        batches += 1;
                    }
                    Ok(Inbound::Shutdown) => {
                        stop = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.finish_round();
            if stop {
                break;
            }
            let now = Instant::now();
            if now >= next_expiry {
                let ns = super::json::now_nanos();
                let mut republished = Vec::new();
                let mut shrank = Vec::new();
                for (id, s) in self.streams.iter_mut() {
                    if s.expire(ns) {
                        self.stats_dirty = true;
                        shrank.push(*id);
                    }
                    if !s.republished.is_empty() {
                        republished.push((*id, std::mem::take(&mut s.republished)));
                    }
                }
                for id in shrank {
                    self.stream_shrank(id);
                }
                for (id, msgs) in republished {
                    if let Some(account) = self.account_of(id) {
                        self.send_republished(account, msgs);
                    }
                }
                next_expiry = now + EXPIRY_TICK;
                // Monitoring sees the state at most one tick old, whatever the load.
                if self.stats_dirty {
                    self.publish_stats();
                    self.stats_dirty = false;
                }
            }
            if now >= next_sync {
                self.sync_all();
                next_sync = now + self.settings.sync_interval;
            }
        }
        self.finish_round();
        self.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::jetstream::config::{self, StreamConfig};
    use crate::jetstream::store::fs::sim::SimFs;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<OutMsg>>>);

    impl Outlet for Capture {
        fn subscribe(&self, _subs: Vec<InternalSub>) {}
        fn publish(&self, msgs: Vec<OutMsg>) {
            self.0.lock().unwrap().extend(msgs);
        }
    }

    fn publish(svc: &mut Service, stream: u32, n: u32) {
        svc.handle(InMsg {
            id: sub_id(stream, KIND_STREAM),
            account: 0,
            subject: b"f".to_vec(),
            reply: format!("_R.{n}").into_bytes(),
            headers: Vec::new(),
            payload: b"x".to_vec(),
        });
    }

    /// On a full disk the write fails and the publisher gets an error ack, never a
    /// confirmation of a message that was not written.
    #[test]
    fn a_failed_write_is_never_acknowledged() {
        let root = std::env::temp_dir().join(format!("natrium-svc-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let settings = Settings {
            root: root.clone(),
            sync_always: false,
            sync_interval: Duration::from_secs(120),
            strict: true,
            domain: String::new(),
            server_name: "t".into(),
            max_memory: 1 << 30,
            max_store: 1 << 30,
        };
        let capture = Capture::default();
        let mut svc = Service::start(
            settings,
            &[(0, "$G".into(), AccountLimits::default())],
            &[],
            Box::new(capture.clone()),
            SharedStats::default(),
            Arc::default(),
        );
        let disk = SimFs::new();
        let cfg = config::check(&StreamConfig {
            name: "F".into(),
            subjects: vec!["f".into()],
            ..StreamConfig::default()
        })
        .unwrap();
        let stream = Stream::create_on(Arc::new(disk.clone()), Some(root.join("F")), cfg).unwrap();
        let id = svc.add_stream(0, stream);
        let acks = |c: &Capture| -> Vec<String> {
            c.0.lock()
                .unwrap()
                .drain(..)
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
                .collect()
        };
        publish(&mut svc, id, 1);
        svc.finish_round();
        assert_eq!(acks(&capture), [r#"{"stream":"F","seq":1}"#]);
        disk.set_full(true);
        publish(&mut svc, id, 2);
        svc.finish_round();
        let got = acks(&capture);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with(
                r#"{"error":{"code":503,"err_code":10077,"description":"No space left on device"#
            ) && got[0].ends_with(r#""stream":"F","seq":0}"#),
            "{got:?}"
        );
        // Room again: the next publish is written (with the one before) and confirmed.
        disk.set_full(false);
        publish(&mut svc, id, 3);
        svc.finish_round();
        assert_eq!(acks(&capture), [r#"{"stream":"F","seq":3}"#]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
