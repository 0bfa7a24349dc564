//! The reactor side of internal subscribers (the JetStream thread, on reactor 0): its
//! subscriptions in the subject index, counted and announced like a client's; what
//! matches them, collected per turn and handed over once; and what it publishes, delivered
//! as if a client of the account had published it.

use log::{debug, warn};

use super::deliver::Groups;
use super::interest::{Origin, Reach};
use super::{Reactor, Target};
use crate::jetstream::{InMsg, Inbound, InternalSub, OutMsg};
use crate::proto::Message;

/// The "publisher" of internal messages: no connection has this token.
pub(super) const INTERNAL_PUBLISHER: usize = usize::MAX - 1;

/// Pulls and direct gets are not API requests: the API subscription (`$JS.API.>`) lets them
/// pass, to be taken by a consumer or a stream, or by no one (a 503).
fn not_for_the_api(subject: &[u8]) -> bool {
    memchr::memmem::find(subject, b".API.CONSUMER.MSG.NEXT.").is_some()
        || memchr::memmem::find(subject, b".API.DIRECT.GET.").is_some()
}

/// A literal subject whose interest the JetStream thread wants to hear about.
pub(super) struct InterestWatch {
    account: u32,
    subject: Vec<u8>,
    id: u32,
    /// The sublist generation last looked at (None: never, report the first look).
    generation: Option<u64>,
    listening: bool,
}

impl Reactor {
    pub(super) fn apply_internal_subs(&mut self, subs: Vec<InternalSub>) {
        for s in subs {
            if s.watch {
                self.interest_watches.retain(|w| w.id != s.id);
                if s.add {
                    self.interest_watches.push(InterestWatch {
                        account: s.account,
                        subject: s.subject,
                        id: s.id,
                        generation: None,
                        listening: false,
                    });
                }
                continue;
            }
            if !s.stream.is_empty() {
                if s.add {
                    self.stream_names.insert(s.id, s.stream.clone());
                } else {
                    self.stream_names.remove(&s.id);
                }
            }
            let target = Target::Internal(s.id);
            if s.add {
                if self
                    .sublist_mut(s.account)
                    .insert(&s.subject, None, target)
                    .is_err()
                {
                    debug!(
                        "internal subscription on {:?} refused",
                        String::from_utf8_lossy(&s.subject)
                    );
                    continue;
                }
                self.note_interest(s.account, &s.subject, None, 1);
            } else {
                self.sublist_mut(s.account).remove(&s.subject, None, target);
                self.note_interest(s.account, &s.subject, None, -1);
            }
        }
    }

    /// Queues a message for the JetStream thread; true when there is one to take it.
    pub(super) fn deliver_internal(&mut self, id: u32, account: u32, msg: &Message<'_>) -> bool {
        if self.jetstream.is_none() {
            return false;
        }
        if id == crate::jetstream::service::API_SUB && not_for_the_api(msg.subject) {
            return false;
        }
        // A pull whose reply subject nobody listens on is dropped, as nats-server drops a
        // waiting request without interest, before it costs a delivery. (Interest another
        // reactor announced before the pull is already here: peer channels keep order.)
        if id & 3 == crate::jetstream::service::KIND_NEXT
            && memchr::memmem::find(msg.subject, b".CONSUMER.MSG.NEXT.").is_some()
            && !msg.reply.is_empty()
            && !self.sublist_mut(account).has_interest(msg.reply)
        {
            return true;
        }
        let (headers, payload) = msg.data.split_at(msg.header_len.min(msg.data.len()));
        if let (Some(name), Some(queue)) = (self.stream_names.get(&id), &self.ingest) {
            if !queue.try_add(crate::jetstream::ingest_size(msg.subject, headers, payload)) {
                // The JetStream thread is this far behind: answer as nats-server answers
                // an overflowing ingest queue, and keep nothing of the message.
                let now = std::time::Instant::now();
                if self
                    .ingest_warned
                    .is_none_or(|at| now.duration_since(at).as_secs() >= 1)
                {
                    self.ingest_warned = Some(now);
                    warn!(
                        "Dropping messages due to excessive stream ingest rate on '{}' > '{name}': IPQ len limit reached",
                        self.shared.auth().account_name(account)
                    );
                }
                if !msg.reply.is_empty() {
                    let body = crate::jetstream::api::pub_ack_error(
                        name,
                        &crate::jetstream::errors::ApiError::too_many_requests(),
                    );
                    self.ingest_refusals.push(OutMsg {
                        account,
                        subject: msg.reply.to_vec(),
                        reply: Vec::new(),
                        shown_as: Vec::new(),
                        headers: b"NATS/1.0 429 Too Many Requests\r\n\r\n".to_vec(),
                        payload: body,
                    });
                }
                return true;
            }
        }
        self.to_jetstream.push(InMsg {
            id,
            account,
            subject: msg.subject.to_vec(),
            reply: msg.reply.to_vec(),
            headers: headers.to_vec(),
            payload: payload.to_vec(),
        });
        true
    }

    /// Reports the watched subjects whose interest changed since the last turn.
    fn check_interest_watches(&mut self) {
        for i in 0..self.interest_watches.len() {
            let account = self.interest_watches[i].account;
            let generation = self.sublist_mut(account).generation();
            if self.interest_watches[i].generation == Some(generation) {
                continue;
            }
            let subject = std::mem::take(&mut self.interest_watches[i].subject);
            let listening = self.sublist_mut(account).has_interest(&subject);
            let w = &mut self.interest_watches[i];
            w.subject = subject;
            let first = w.generation.is_none();
            w.generation = Some(generation);
            if listening != w.listening || first {
                w.listening = listening;
                let (id, payload) = (w.id, if listening { b"1" } else { b"0" });
                self.to_jetstream.push(InMsg {
                    id,
                    account,
                    subject: Vec::new(),
                    reply: Vec::new(),
                    headers: Vec::new(),
                    payload: payload.to_vec(),
                });
            }
        }
    }

    /// Hands the turn's messages to the JetStream thread.
    pub(super) fn send_to_jetstream(&mut self) {
        if !self.interest_watches.is_empty() {
            self.check_interest_watches();
        }
        if !self.ingest_refusals.is_empty() {
            let refusals = std::mem::take(&mut self.ingest_refusals);
            self.publish_internal(refusals);
        }
        if self.to_jetstream.is_empty() {
            return;
        }
        let msgs = std::mem::take(&mut self.to_jetstream);
        if let Some(tx) = &self.jetstream {
            let _ = tx.send(Inbound::Msgs(msgs));
        }
    }

    /// Delivers what the JetStream thread published.
    pub(super) fn publish_internal(&mut self, msgs: Vec<OutMsg>) {
        let mut data = Vec::new();
        for m in msgs {
            data.clear();
            data.extend_from_slice(&m.headers);
            data.extend_from_slice(&m.payload);
            let header_text = m.headers.len().to_string();
            let size_text = data.len().to_string();
            let msg = Message {
                subject: &m.subject,
                reply: &m.reply,
                header_len: m.headers.len(),
                header_text: if m.headers.is_empty() {
                    b""
                } else {
                    header_text.as_bytes()
                },
                size_text: size_text.as_bytes(),
                data: &data,
            };
            if m.shown_as.is_empty() {
                self.deliver(INTERNAL_PUBLISHER, m.account, &msg);
            } else {
                self.deliver_shown_as(m.account, &msg, &m.shown_as);
            }
        }
    }

    /// A consumer's message: matched on its deliver subject, shown to this server's
    /// clients with its stored subject, and carried past this reactor with the stored
    /// subject after the reply's `@` as nats-server carries it.
    fn deliver_shown_as(&mut self, account: u32, msg: &Message<'_>, shown_as: &[u8]) {
        self.sync_interest();
        let result = self.sublist_mut(account).match_subject(msg.subject);
        let shown = Message {
            subject: shown_as,
            ..*msg
        };
        let reply = super::deliver::join_js_deliver(msg.reply, shown_as);
        let on_hops = Message {
            reply: &reply,
            ..*msg
        };
        let reach = Reach::from(Origin::Client);
        self.fan_out(
            INTERNAL_PUBLISHER,
            account,
            &on_hops,
            &shown,
            &result,
            reach,
            Groups::All(reach),
        );
    }
}
