//! Message requests (get, delete) and publishes to stream subjects: stored, then
//! acknowledged with nats-server's pub ack once the round is made safe.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::*;
use crate::jetstream::errors::ApiError;
use crate::jetstream::json::{self, to_go_json, Time};
use crate::jetstream::service::{InMsg, Service};
use crate::jetstream::store::StoredMsg;
use crate::jetstream::stream::{Ingest, Stream};
use crate::subject;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MsgDeleteRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    no_erase: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MsgGetRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) last_by_subj: String,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) next_by_subj: String,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) batch: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) max_bytes: i64,
    #[serde(default)]
    pub(crate) start_time: Option<Time>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) multi_last: Vec<String>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) up_to_seq: u64,
    #[serde(default)]
    pub(crate) up_to_time: Option<Time>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(crate) no_hdr: bool,
}

#[derive(Serialize)]
pub(crate) struct StoredMsgJson {
    subject: String,
    seq: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    hdrs: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    data: String,
    time: Time,
}

pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The error shape of a pub ack: `{"error":{…},"stream":"S","seq":0}`.
pub(crate) fn pub_ack_error(stream: &str, e: &ApiError) -> Vec<u8> {
    Obj(Vec::new())
        .field("error", e)
        .field("stream", stream)
        .field("seq", &0)
        .done()
}

impl Service {
    pub(crate) fn msg_delete(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_msg_delete_response";
        let fail = |e: ApiError| Obj::typed(kind).field("error", &e).done();
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        if is_empty_request(body) {
            return self.respond(m, fail(ApiError::bad_request()), true);
        }
        let req: MsgDeleteRequest = match decode(body, self.settings.strict) {
            Ok(r) => r,
            Err(e) => return self.respond(m, fail(e), true),
        };
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.cfg.sealed {
            return self.respond(m, fail(ApiError::sealed()), true);
        }
        if s.cfg.deny_delete {
            return self.respond(m, fail(ApiError::message_delete_not_permitted()), true);
        }
        s.unflushed = true;
        match s.store.remove(req.seq, !req.no_erase) {
            Ok(true) => {
                let body = Obj::typed(kind).field("success", &true).done();
                self.stream_shrank(id);
                self.respond(m, body, false)
            }
            Ok(false) => self.respond(m, fail(ApiError::sequence_not_found(req.seq)), false),
            Err(e) => self.respond(m, fail(ApiError::stream_general(e.to_string())), false),
        }
    }

    /// The message a get request names, or the error for it (shared by MSG.GET and the
    /// single form of DIRECT.GET).
    pub(crate) fn find_msg(&mut self, id: u32, req: &MsgGetRequest) -> Result<StoredMsg, ApiError> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Err(ApiError::stream_not_found());
        };
        let found = if req.seq > 0 && !req.next_by_subj.is_empty() {
            s.next_matching(req.seq, req.next_by_subj.as_bytes())
        } else if req.seq > 0 {
            s.store.load(req.seq)
        } else if !req.last_by_subj.is_empty() {
            s.last_matching(req.last_by_subj.as_bytes())
        } else if let Some(t) = req.start_time {
            first_at_or_after(s, t.0, req.next_by_subj.as_bytes())
        } else {
            s.next_matching(0, req.next_by_subj.as_bytes())
        };
        match found {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(ApiError::no_message_found()),
            Err(e) => Err(ApiError::stream_general(e.to_string())),
        }
    }

    pub(crate) fn msg_get(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_msg_get_response";
        let fail = |e: ApiError| Obj::typed(kind).field("error", &e).done();
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        let req: MsgGetRequest = match decode(body, self.settings.strict) {
            Ok(r) => r,
            Err(e) => return self.respond(m, fail(e), true),
        };
        if req.batch > 0 || req.max_bytes > 0 || !get_fields_agree(&req) {
            return self.respond(m, fail(ApiError::bad_request()), true);
        }
        match self.find_msg(id, &req) {
            Ok(msg) => {
                let json = StoredMsgJson {
                    subject: String::from_utf8_lossy(&msg.subject).into_owned(),
                    seq: msg.seq,
                    hdrs: if req.no_hdr {
                        String::new()
                    } else {
                        b64(&msg.headers)
                    },
                    data: b64(&msg.payload),
                    time: Time(msg.ts),
                };
                let body = Obj::typed(kind).field("message", &json).done();
                // nats-server sends this answer past its API layer: not counted.
                self.reply(m.account, &m.reply, Vec::new(), body)
            }
            Err(e) => self.respond(m, fail(e), true),
        }
    }

    /// Whether the account's storage (or memory) limit has room for this message, as
    /// nats-server's `wouldExceedLimits` counts it (what is stored, not reserved).
    fn account_room(&self, account: u32, stream: u32, m: &InMsg) -> bool {
        let Some(acc) = self.accounts.get(&account) else {
            return true;
        };
        let Some(s) = self.streams.get(&stream) else {
            return true;
        };
        let memory = !s.is_file();
        let limit = if memory {
            acc.limits.max_memory
        } else {
            acc.limits.max_store
        };
        if limit < 0 {
            return true;
        }
        let used: u64 = acc
            .streams
            .values()
            .filter_map(|id| self.streams.get(id))
            .filter(|x| x.is_file() != memory)
            .map(|x| x.store.state().bytes)
            .sum();
        let (sl, hl, pl) = (m.subject.len(), m.headers.len(), m.payload.len());
        let size = if memory {
            crate::jetstream::store::mem_store_size(sl, hl, pl)
        } else {
            crate::jetstream::store::file_store_size(sl, hl, pl)
        };
        (used + size) as i64 <= limit
    }

    /// A publish to a stream's subjects: stored, then acknowledged after the round is
    /// made safe (when it has a reply subject and the stream acks).
    pub(crate) fn publish(&mut self, id: u32, m: &InMsg) {
        let now = json::now_nanos();
        let room = self.account_room(m.account, id, m);
        let Some(mut s) = self.streams.get_mut(&id) else {
            return;
        };
        let first_before = s.store.state().first_seq;
        let outcome = if room {
            s.ingest(&m.subject, &m.headers, &m.payload, now)
        } else {
            Ingest::Refused(ApiError::account_resources_exceeded())
        };
        if let Ingest::Stored(_) = outcome {
            // Limits may have taken older messages; a transform changes the subject.
            let dropped =
                s.store.state().first_seq != first_before || s.cfg.subject_transform.is_some();
            self.stream_stored(id, &m.subject, dropped);
            let Some(again) = self.streams.get_mut(&id) else {
                return;
            };
            s = again;
        }
        if !s.republished.is_empty() {
            let republished = std::mem::take(&mut s.republished);
            self.send_republished(m.account, republished);
            let Some(again) = self.streams.get_mut(&id) else {
                return;
            };
            s = again;
        }
        if s.cfg.no_ack || m.reply.is_empty() {
            return;
        }
        let name = s.cfg.name.clone();
        let domain = self.settings.domain.clone();
        let body = match outcome {
            Ingest::Stored(seq) => ack(&name, &domain, seq, false),
            Ingest::Duplicate(seq) => ack(&name, &domain, seq, true),
            Ingest::Refused(e) => {
                return self.reply(m.account, &m.reply, Vec::new(), pub_ack_error(&name, &e))
            }
        };
        // A success (or a duplicate of this round's message) waits for the write.
        self.out.push(crate::jetstream::service::Outgoing::Ack {
            stream: id,
            name,
            msg: crate::jetstream::service::OutMsg {
                account: m.account,
                subject: m.reply.clone(),
                reply: Vec::new(),
                shown_as: Vec::new(),
                headers: Vec::new(),
                payload: body,
            },
        });
    }
}

/// nats-server's rule: `seq`, `last_by_subj` and `start_time` exclude each other;
/// `next_by_subj` goes with `seq` or `start_time`, or alone; something must be set.
pub(crate) fn get_fields_agree(r: &MsgGetRequest) -> bool {
    let seq = r.seq > 0;
    let last = !r.last_by_subj.is_empty();
    let next = !r.next_by_subj.is_empty();
    let time = r.start_time.is_some();
    !((seq && last)
        || (!seq && !last && !next && !time)
        || (seq && time)
        || (time && last)
        || (last && next))
}

pub(crate) fn first_at_or_after(
    s: &mut Stream,
    ts: i64,
    filter: &[u8],
) -> Result<Option<StoredMsg>, crate::jetstream::store::StoreError> {
    let st = s.store.state();
    let mut seq = st.first_seq;
    while seq <= st.last_seq && st.msgs > 0 {
        if let Some(m) = s.store.load(seq)? {
            if m.ts >= ts && (filter.is_empty() || subject::matches(filter, &m.subject)) {
                return Ok(Some(m));
            }
        }
        seq += 1;
    }
    Ok(None)
}

/// A pub ack as nats-server formats it (`{"stream":…,"domain":…,"seq":…}`, and the
/// duplicate form with its space).
pub(crate) fn ack(stream: &str, domain: &str, seq: u64, duplicate: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"stream\":");
    out.extend_from_slice(&to_go_json(&stream));
    if !domain.is_empty() {
        out.extend_from_slice(b",\"domain\":");
        out.extend_from_slice(&to_go_json(&domain));
    }
    out.extend_from_slice(format!(",\"seq\":{seq}").as_bytes());
    if duplicate {
        out.extend_from_slice(b",\"duplicate\": true");
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pub_acks_as_nats_server_writes_them() {
        assert_eq!(
            ack("P", "", 1, false),
            br#"{"stream":"P","seq":1}"#.to_vec()
        );
        assert_eq!(
            ack("P", "hub", 1, false),
            br#"{"stream":"P","domain":"hub","seq":1}"#.to_vec()
        );
        assert_eq!(
            ack("P", "", 2, true),
            br#"{"stream":"P","seq":2,"duplicate": true}"#.to_vec()
        );
        assert_eq!(
            pub_ack_error("P", &ApiError::expected_stream()),
            br#"{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"P","seq":0}"#.to_vec()
        );
    }
}
