//! The reactor side of internal subscribers (the JetStream thread, on reactor 0): its
//! subscriptions in the subject index, counted and announced like a client's; what
//! matches them, collected per turn and handed over once; and what it publishes, delivered
//! as if a client of the account had published it.

use log::{debug, warn};

use super::{Reactor, Target};
use crate::jetstream::{InMsg, Inbound, InternalSub, OutMsg};
use crate::proto::Message;

/// The "publisher" of internal messages: no connection has this token.
const INTERNAL_PUBLISHER: usize = usize::MAX - 1;

impl Reactor {
    pub(super) fn apply_internal_subs(&mut self, subs: Vec<InternalSub>) {
        for s in subs {
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

    /// Hands the turn's messages to the JetStream thread.
    pub(super) fn send_to_jetstream(&mut self) {
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
                reply: b"",
                header_len: m.headers.len(),
                header_text: if m.headers.is_empty() {
                    b""
                } else {
                    header_text.as_bytes()
                },
                size_text: size_text.as_bytes(),
                data: &data,
            };
            self.deliver(INTERNAL_PUBLISHER, m.account, &msg);
        }
    }
}
