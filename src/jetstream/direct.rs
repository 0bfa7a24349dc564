//! Direct get (`$JS.API.DIRECT.GET.<stream>[.<subject>]`, streams with `allow_direct`):
//! messages answered as they are stored, with the stream headers nats-server adds, in its
//! single, last-by-subject, batch and `multi_last` forms, and its status replies
//! (`404 Message Not Found`, `408 Empty Request`, `408 Bad Request`, `204 EOB` …).

use super::api::{decode, MsgGetRequest};
use super::headers;
use super::json;
use super::service::{InMsg, Service};
use super::store::StoredMsg;
use super::stream::Stream;

/// nats-server's cap on `multi_last` answers.
const MAX_MULTI_RESULTS: usize = 1024;
/// What a batch sends at most without `max_bytes`: nats-server uses the server's
/// `max_pending`, whose default this is.
const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

fn status(s: &str) -> Vec<u8> {
    headers::block(s, &[])
}

/// The headers of a delivered message: its own, then the stream's, then the batch's.
fn delivered_headers(name: &str, m: &StoredMsg, batch: Option<(u64, u64)>) -> Vec<u8> {
    let subject = String::from_utf8_lossy(&m.subject).into_owned();
    let seq = m.seq.to_string();
    let ts = json::rfc3339(m.ts);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("Nats-Stream", name),
        ("Nats-Subject", &subject),
        ("Nats-Sequence", &seq),
        ("Nats-Time-Stamp", &ts),
    ];
    let (pending, last) = batch.map_or((String::new(), String::new()), |(np, l)| {
        (np.to_string(), l.to_string())
    });
    if batch.is_some() {
        pairs.push(("Nats-Num-Pending", &pending));
        pairs.push(("Nats-Last-Sequence", &last));
    }
    headers::extend(&m.headers, &pairs)
}

impl Service {
    pub(super) fn direct_get(&mut self, id: u32, m: &InMsg) {
        if m.reply.is_empty() {
            return;
        }
        let Some(name) = self.streams.get(&id).map(|s| s.cfg.name.clone()) else {
            return;
        };
        let answer = |svc: &mut Service, hdrs: Vec<u8>, payload: Vec<u8>| {
            svc.reply(m.account, &m.reply, hdrs, payload)
        };
        if headers::requires_newer_api(&m.headers) {
            return answer(self, status("412 Required Api Level"), Vec::new());
        }
        let subject = String::from_utf8_lossy(&m.subject).into_owned();
        let marker = format!(".DIRECT.GET.{name}");
        let after = subject
            .find(&marker)
            .map(|i| subject[i + marker.len()..].to_string())
            .unwrap_or_default();
        // The request body is read leniently here (nats-server: plain json.Unmarshal).
        let body = m.payload.trim_ascii();
        let parse = |body: &[u8]| decode::<MsgGetRequest>(body, false);
        let req = if let Some(key) = after.strip_prefix('.') {
            let mut req = if body.is_empty() {
                MsgGetRequest::default()
            } else {
                match parse(body) {
                    Ok(r) => r,
                    Err(_) => return answer(self, status("408 Malformed Request"), Vec::new()),
                }
            };
            let extra = !req.last_by_subj.is_empty()
                || !req.next_by_subj.is_empty()
                || !req.multi_last.is_empty()
                || req.seq != 0
                || req.batch != 0
                || req.start_time.is_some()
                || req.up_to_seq != 0
                || req.up_to_time.is_some();
            if key.is_empty() || extra {
                return answer(self, status("408 Bad Request"), Vec::new());
            }
            req.last_by_subj = key.to_string();
            req
        } else {
            if body.is_empty() {
                return answer(self, status("408 Empty Request"), Vec::new());
            }
            let Ok(req) = parse(body) else {
                return answer(self, status("408 Malformed Request"), Vec::new());
            };
            let (seq, last, next) = (
                req.seq > 0,
                !req.last_by_subj.is_empty(),
                !req.next_by_subj.is_empty(),
            );
            let (time, multi) = (req.start_time.is_some(), !req.multi_last.is_empty());
            if !seq && !last && !next && !multi && !time {
                return answer(self, status("408 Empty Request"), Vec::new());
            }
            let batch = req.batch > 0;
            let up_to_both = req.up_to_seq > 0 && req.up_to_time.is_some();
            let conflicts = [
                (seq, last),
                (seq, time),
                (time, last),
                (last, next),
                (last, batch),
                (last, multi),
                (next, multi),
                (up_to_both, true),
            ];
            if conflicts.iter().any(|&(a, b)| a && b) {
                return answer(self, status("408 Bad Request"), Vec::new());
            }
            req
        };
        let out = match self.streams.get_mut(&id) {
            Some(s) if !req.multi_last.is_empty() => multi_last(s, &name, &req),
            Some(s) => single_or_batch(s, &name, &req),
            None => return,
        };
        for (hdrs, payload) in out {
            answer(self, hdrs, payload);
        }
    }
}

/// nats-server's `getDirectRequest`: one message, or a batch of them and an end marker.
fn single_or_batch(s: &mut Stream, name: &str, req: &MsgGetRequest) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seq = match req.start_time {
        Some(t) => s.seq_from_time(t.0),
        None => req.seq,
    };
    let batched = req.batch > 0;
    let batch = req.batch.max(1);
    let next = req.next_by_subj.as_bytes();
    let mut pending = if batched { s.num_pending(seq, next) } else { 0 };
    let max_bytes = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        DEFAULT_MAX_BYTES
    };
    let (mut last_seq, mut sent_bytes) = (0u64, 0usize);
    for i in 0..batch {
        let found = if seq > 0 && next.is_empty() {
            if i == 0 && !batched {
                s.store.load(seq)
            } else {
                s.next_matching(seq, b"")
            }
        } else if !next.is_empty() {
            s.next_matching(seq, next)
        } else {
            s.last_matching(req.last_by_subj.as_bytes())
        };
        let msg = match found {
            Ok(Some(msg)) => msg,
            _ => {
                if batch > 1 && i > 0 {
                    break;
                }
                return vec![(status("404 Message Not Found"), Vec::new())];
            }
        };
        seq = msg.seq + 1;
        let hdrs = if req.no_hdr {
            Vec::new()
        } else if batched {
            pending = pending.saturating_sub(1);
            delivered_headers(name, &msg, Some((pending, last_seq)))
        } else {
            delivered_headers(name, &msg, None)
        };
        last_seq = msg.seq;
        sent_bytes += msg.subject.len() + msg.headers.len() + msg.payload.len();
        out.push((hdrs, msg.payload));
        if sent_bytes >= max_bytes {
            break;
        }
    }
    if batched {
        let eob = headers::block(
            "204 EOB",
            &[
                ("Nats-Num-Pending", &pending.to_string()),
                ("Nats-Last-Sequence", &last_seq.to_string()),
            ],
        );
        out.push((eob, Vec::new()));
    }
    out
}

/// nats-server's `getDirectMulti`: the last message of each subject matching the filters
/// (up to a sequence or time), in sequence order, then an end marker.
fn multi_last(s: &mut Stream, name: &str, req: &MsgGetRequest) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut up_to = req.up_to_seq;
    if let Some(t) = req.up_to_time {
        up_to = s.seq_from_time(t.0);
        if up_to <= s.store.state().first_seq {
            return vec![(status("404 No Results"), Vec::new())];
        }
        up_to -= 1;
    }
    if up_to == 0 {
        up_to = s.store.state().last_seq;
    }
    let seqs = match s.multi_last_seqs(&req.multi_last, up_to) {
        Ok(seqs) => seqs,
        Err(_) => return vec![(status("404 Message Not Found"), Vec::new())],
    };
    if seqs.len() > MAX_MULTI_RESULTS {
        return vec![(status("413 Too Many Results"), Vec::new())];
    }
    if seqs.is_empty() {
        return vec![(status("404 No Results"), Vec::new())];
    }
    let max_bytes = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        DEFAULT_MAX_BYTES
    };
    let mut out = Vec::new();
    let mut pending = seqs.len() as u64;
    let (mut last_seq, mut sent_bytes, mut sent) = (0u64, 0usize, 0i64);
    for seq in seqs {
        pending = pending.saturating_sub(1);
        if seq < req.seq {
            continue;
        }
        let Ok(Some(msg)) = s.store.load(seq) else {
            return vec![(status("404 Message Not Found"), Vec::new())];
        };
        let hdrs = delivered_headers(name, &msg, Some((pending, last_seq)));
        last_seq = msg.seq;
        sent_bytes += msg.subject.len() + msg.headers.len() + msg.payload.len();
        out.push((hdrs, msg.payload));
        sent += 1;
        if sent_bytes >= max_bytes || (req.batch > 0 && sent >= req.batch) {
            break;
        }
    }
    let eob = headers::block(
        "204 EOB",
        &[
            ("Nats-Num-Pending", &pending.to_string()),
            ("Nats-Last-Sequence", &last_seq.to_string()),
            ("Nats-UpTo-Sequence", &up_to.to_string()),
        ],
    );
    out.push((eob, Vec::new()));
    out
}
