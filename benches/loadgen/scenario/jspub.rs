//! `jspub`: JetStream publishing with acknowledgements, as an asynchronous client does it:
//! one publisher keeps at most `window` publishes outstanding, each with its own reply
//! subject under one wildcard inbox subscription, and counts the pub acks that come back.
//! With `keys`, publish `i` goes to `<subject>.k<i % keys>`: KV puts over that many keys.
//! Also the JetStream API requests the group needs (create a stream, read its state).
//!
//! ```text
//!  connect ─ SUB <inbox>.* ─ PING/PONG
//!  warm-up:  PUB <subject> <inbox>.warm, one at a time, until an ack (not a 503) comes back
//!  measured: PUB <subject> <inbox>.<i> <size>, topped up to `window` outstanding after
//!            every read; each ack must be {"stream":…,"seq":base+1+i} for publish i
//! ```
//!
//! Why one thread and no pipelining past the window: a pub ack is the server's promise that
//! the message is stored (and, with `sync_interval: always`, synced), so the rate that
//! matters is acknowledged messages per second at a bounded number in flight, which is what
//! `js.publish_async` with a `max_pending` gives applications. The server never owes more
//! than `window` small acks, so the publisher's blocking writes cannot deadlock against
//! unread acks.
//!
//! Why the warm-up: a stream's subscription may reach the publisher's side of the server
//! after the create request was answered (natrium spreads interest between reactors
//! asynchronously); until then a publish gets a 503 "no responders" status and is not
//! stored. Warm-up publishes go one at a time so exactly one of them is stored, and its
//! sequence number is the base the measured acks are checked against.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::client::Conn;
use crate::frames::{Msg, Sink};
use crate::procfs::CpuSample;
use crate::scenario::Outcome;

/// Read buffer of the publisher's connection.
const READ_BUFFER: usize = 256 * 1024;
/// Payload bytes the ack reader sees: a pub ack, its error form included, is shorter.
const ACK_HEAD: usize = 512;
/// Payload bytes an API response may have (a stream info is about 1 KiB).
const API_HEAD: usize = 64 * 1024;
/// No ack for this long while publishes are outstanding: the run fails.
const STALL: Duration = Duration::from_secs(5);
/// How long warm-up and API requests may take, retries included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of PUB frames written per `write` at most.
const BATCH_BYTES: usize = 256 * 1024;
/// Errors recorded per run; the rest are counted.
const MAX_ERRORS: usize = 5;

/// One publishing run.
#[derive(Clone, Debug)]
pub struct JsPubSpec {
    /// The outcome's name, e.g. `js_pub_16`.
    pub name: String,
    pub msgs: u64,
    pub size: usize,
    /// Publishes in flight at most.
    pub window: u64,
    /// The subject published on (a subject of the stream); with `keys`, the prefix of
    /// the subjects.
    pub subject: String,
    /// 0: every publish goes to `subject`. Otherwise publish `i` goes to
    /// `<subject>.k<i % keys>` (a KV bucket's keys) and the warm-up to `<subject>.warm`.
    pub keys: u64,
    /// The stream the acks must name.
    pub stream: String,
    /// Upper bound on the measured phase.
    pub time: Duration,
}

/// Counts and checks pub acks.
struct Acks {
    /// `<inbox>.` as bytes.
    prefix: Vec<u8>,
    /// The sequence the next ack must carry.
    next_seq: u64,
    acked: u64,
    /// Warm-up: an ack (`Some(seq)`) or a 503 (`Some(0)`) for `<inbox>.warm` arrived.
    warm: Option<u64>,
    errors: Vec<String>,
    more_errors: u64,
    pings: u64,
}

impl Acks {
    fn error(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }
}

/// The `"seq":N` of a pub ack, and its `"error"` object if it has one.
fn ack_fields(payload: &[u8]) -> (Option<u64>, Option<&[u8]>) {
    let seq = memmem::find(payload, b"\"seq\":").and_then(|i| {
        let digits: Vec<u8> = payload[i + 6..]
            .iter()
            .copied()
            .skip_while(|b| *b == b' ')
            .take_while(u8::is_ascii_digit)
            .collect();
        std::str::from_utf8(&digits).ok()?.parse().ok()
    });
    let err = memmem::find(payload, b"\"error\"").map(|i| &payload[i..]);
    (seq, err)
}

impl Sink for Acks {
    fn msg(&mut self, m: &Msg<'_>) {
        let Some(token) = m.subject.strip_prefix(self.prefix.as_slice()) else {
            let s = String::from_utf8_lossy(m.subject).into_owned();
            self.error(format!("message on unexpected subject {s}"));
            return;
        };
        if token == b"warm" {
            self.warm = Some(if m.headers {
                0
            } else {
                ack_fields(m.head).0.unwrap_or(0)
            });
            return;
        }
        let index: Option<u64> = std::str::from_utf8(token).ok().and_then(|t| t.parse().ok());
        if m.headers {
            // A status (503 no responders) instead of an ack: the message was not stored.
            self.error(format!(
                "publish {index:?} got a status message, not an ack"
            ));
            self.acked += 1;
            return;
        }
        let (seq, err) = ack_fields(m.head);
        if let Some(e) = err {
            let text = String::from_utf8_lossy(&e[..e.len().min(160)]).into_owned();
            self.error(format!("publish {index:?}: error ack {text}"));
        } else if index != Some(self.acked) || seq != Some(self.next_seq) {
            // One publisher, one connection: a server acknowledges in publish order and
            // stores without gaps, so anything else is a lost, duplicated or reordered
            // message (or ack).
            self.error(format!(
                "ack #{} was for publish {index:?} with seq {seq:?}, expected publish {} with seq {}",
                self.acked, self.acked, self.next_seq
            ));
        }
        self.acked += 1;
        self.next_seq = seq.map_or(self.next_seq + 1, |s| s + 1);
    }
    fn ping(&mut self) {
        self.pings += 1;
    }
    fn err(&mut self, text: &[u8]) {
        let t = String::from_utf8_lossy(text).into_owned();
        self.error(format!("server sent {t}"));
    }
    fn wants_subject(&self) -> bool {
        true
    }
}

/// A unique inbox prefix for this process and call.
pub fn inbox(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "_INBOX.nb{}x{}.{tag}",
        std::process::id(),
        N.fetch_add(1, Relaxed)
    )
}

/// Reads once (the socket's read timeout applies) and parses; false on a timeout.
pub fn read_some<S: Sink>(conn: &mut Conn, sink: &mut S) -> Result<bool, String> {
    match conn.frames.read_from(&mut conn.stream) {
        Ok(0) => Err("server closed the connection".into()),
        Ok(_) => {
            conn.frames.parse(sink).map_err(|e| e.to_string())?;
            Ok(true)
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Answers the server's PINGs the sink counted.
pub fn pong(conn: &mut Conn, pings: &mut u64) -> Result<(), String> {
    for _ in 0..std::mem::take(pings) {
        conn.stream
            .write_all(b"PONG\r\n")
            .map_err(|e| format!("send PONG: {e}"))?;
    }
    Ok(())
}

/// Publishes until one message is acknowledged, one attempt in flight at a time; returns
/// its stream sequence.
fn warm_up(conn: &mut Conn, acks: &mut Acks, spec: &JsPubSpec, inbox: &str) -> Result<u64, String> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let subject = if spec.keys == 0 {
        spec.subject.clone()
    } else {
        format!("{}.warm", spec.subject)
    };
    let frame = format!(
        "PUB {subject} {inbox}.warm {}\r\n{}\r\n",
        spec.size,
        "w".repeat(spec.size)
    );
    while Instant::now() < deadline {
        acks.warm = None;
        conn.stream
            .write_all(frame.as_bytes())
            .map_err(|e| format!("warm-up publish: {e}"))?;
        let attempt = Instant::now() + Duration::from_secs(1);
        while acks.warm.is_none() && Instant::now() < attempt {
            read_some(conn, acks)?;
            pong(conn, &mut acks.pings)?;
        }
        match acks.warm {
            Some(seq) if seq > 0 => return Ok(seq),
            // A 503, or nothing: the stream's interest has not arrived yet.
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    Err(format!(
        "no pub ack for a warm-up publish within {} s",
        REQUEST_TIMEOUT.as_secs()
    ))
}

/// Runs `spec` against the server at `addr`, whose stream `spec.stream` must be empty;
/// `pids` are the server processes whose CPU is measured. The outcome's `rate` is
/// acknowledged messages per second. Afterwards `api` reads the stream's state: it must
/// hold exactly the warm-up message and every acknowledged one.
pub fn run(spec: &JsPubSpec, addr: SocketAddr, pids: &[u32], api: &mut Api) -> Outcome {
    run_inner(spec, addr, pids, api)
        .unwrap_or_else(|e| Outcome::failed(spec.name.clone(), "jspub", e))
}

fn run_inner(
    spec: &JsPubSpec,
    addr: SocketAddr,
    pids: &[u32],
    api: &mut Api,
) -> Result<Outcome, String> {
    let mut conn = Conn::open(addr, READ_BUFFER, ACK_HEAD)?;
    let inbox = inbox("ack");
    conn.subscribe(&format!("{inbox}.*"), None, 1)?;
    conn.stream
        .set_write_timeout(Some(STALL))
        .map_err(|e| e.to_string())?;
    conn.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut acks = Acks {
        prefix: format!("{inbox}.").into_bytes(),
        next_seq: 0,
        acked: 0,
        warm: None,
        errors: Vec::new(),
        more_errors: 0,
        pings: 0,
    };
    let base = warm_up(&mut conn, &mut acks, spec, &inbox)?;
    acks.next_seq = base + 1;

    let payload = vec![b'j'; spec.size];
    let window = spec.window.max(1);
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES + spec.size + 128);
    let mut sent = 0u64;
    let mut notes = Vec::new();
    let sample = CpuSample::now(pids);
    let t0 = Instant::now();
    let mut last_ack = t0;
    let mut last_progress = t0;
    let mut sending = true;
    while acks.acked < sent || (sending && sent < spec.msgs) {
        if sending && t0.elapsed() >= spec.time {
            sending = false;
            if sent < spec.msgs {
                notes.push(format!(
                    "time bound ({} s) reached after {sent} of {} publishes",
                    spec.time.as_secs_f64(),
                    spec.msgs
                ));
            }
        }
        // Saturating: a server that acked more than was sent is caught by the checks.
        let room = window.saturating_sub(sent.saturating_sub(acks.acked));
        if sending && room > 0 && sent < spec.msgs {
            buf.clear();
            let until = sent + room.min(spec.msgs - sent);
            while sent < until && buf.len() < BATCH_BYTES {
                // Infallible: writing into a Vec.
                let _ = if spec.keys == 0 {
                    write!(buf, "PUB {} {inbox}.{sent} {}\r\n", spec.subject, spec.size)
                } else {
                    write!(
                        buf,
                        "PUB {}.k{} {inbox}.{sent} {}\r\n",
                        spec.subject,
                        sent % spec.keys,
                        spec.size
                    )
                };
                buf.extend_from_slice(&payload);
                buf.extend_from_slice(b"\r\n");
                sent += 1;
            }
            conn.stream
                .write_all(&buf)
                .map_err(|e| format!("publish: {e}"))?;
        }
        let before = acks.acked;
        read_some(&mut conn, &mut acks)?;
        pong(&mut conn, &mut acks.pings)?;
        let now = Instant::now();
        if acks.acked > before {
            last_ack = now;
            last_progress = now;
        } else if now.duration_since(last_progress) > STALL {
            return Err(format!(
                "no pub ack for {} s with {} outstanding ({} acked of {sent} sent)",
                STALL.as_secs(),
                sent.saturating_sub(acks.acked),
                acks.acked
            ));
        }
    }
    let wall = last_ack.duration_since(t0).as_secs_f64().max(1e-9);
    let mut out = Outcome {
        name: spec.name.clone(),
        scenario: "jspub".into(),
        size: spec.size,
        publishers: 1,
        subscribers: 0,
        sent,
        received: acks.acked,
        expected: sent,
        wall_secs: wall,
        rate: acks.acked as f64 / wall,
        mb_per_sec: (acks.acked * spec.size as u64) as f64 / wall / 1e6,
        notes,
        ..Default::default()
    };
    out.set_cpu(&sample, &[], acks.acked);
    if acks.more_errors > 0 {
        acks.errors
            .push(format!("… and {} more errors", acks.more_errors));
    }
    // Sequences start at 1 in an empty stream, so the last stored one is the count; with
    // keys (one message per subject kept), the stream holds the warm-up and one per key.
    let last = base + acks.acked;
    let want = if spec.keys == 0 {
        last
    } else {
        1 + spec.keys.min(acks.acked)
    };
    match api.stream_state(&spec.stream) {
        Ok(st) if st.messages == want && st.last_seq == last => {}
        Ok(st) => acks.errors.push(format!(
            "stream {} holds {} messages up to seq {}, expected {want} up to seq {last} (the warm-up's seq {base} + {} acknowledged)",
            spec.stream,
            st.messages,
            st.last_seq,
            acks.acked
        )),
        Err(e) => acks.errors.push(e),
    }
    out.errors = acks.errors;
    out.ok = out.errors.is_empty() && out.received == out.expected;
    Ok(out)
}

/// Collects the reply to one API request.
struct Reply {
    subject: Vec<u8>,
    body: Option<Result<Vec<u8>, ()>>,
    pings: u64,
    err: Option<String>,
}

impl Sink for Reply {
    fn msg(&mut self, m: &Msg<'_>) {
        if m.subject == self.subject.as_slice() {
            // A message with headers on the reply subject is a 503 status: nobody answers
            // the API subject (yet).
            self.body = Some(if m.headers {
                Err(())
            } else {
                Ok(m.head.to_vec())
            });
        }
    }
    fn ping(&mut self) {
        self.pings += 1;
    }
    fn err(&mut self, text: &[u8]) {
        self.err
            .get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
    }
    fn wants_subject(&self) -> bool {
        true
    }
}

/// A stream's `state` as `$JS.API.STREAM.INFO` reports it, the fields the bench checks.
#[derive(Clone, Copy, Debug)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub last_seq: u64,
}

/// A connection for JetStream API requests.
pub struct Api {
    conn: Conn,
    inbox: String,
    n: u64,
}

impl Api {
    pub fn open(addr: SocketAddr) -> Result<Api, String> {
        let mut conn = Conn::open(addr, 4 * API_HEAD, API_HEAD)?;
        let inbox = inbox("api");
        conn.subscribe(&format!("{inbox}.*"), None, 1)?;
        conn.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        Ok(Api { conn, inbox, n: 0 })
    }

    /// Sends `body` to `subject` and returns the JSON reply; retries while the answer is
    /// a 503 (JetStream's subscriptions not there yet) until [`REQUEST_TIMEOUT`]. A reply
    /// with an `error` member is an error.
    pub fn request(&mut self, subject: &str, body: &str) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        while Instant::now() < deadline {
            self.n += 1;
            let reply = format!("{}.{}", self.inbox, self.n);
            let mut sink = Reply {
                subject: reply.clone().into_bytes(),
                body: None,
                pings: 0,
                err: None,
            };
            self.conn
                .stream
                .write_all(format!("PUB {subject} {reply} {}\r\n{body}\r\n", body.len()).as_bytes())
                .map_err(|e| format!("{subject}: send: {e}"))?;
            let attempt = Instant::now() + Duration::from_secs(2);
            while sink.body.is_none() && Instant::now() < attempt {
                read_some(&mut self.conn, &mut sink)?;
                pong(&mut self.conn, &mut sink.pings)?;
                if let Some(e) = sink.err.take() {
                    return Err(format!("{subject}: server sent {e}"));
                }
            }
            match sink.body {
                Some(Ok(bytes)) => {
                    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                        format!(
                            "{subject}: reply is not JSON ({e}): {}",
                            String::from_utf8_lossy(&bytes)
                        )
                    })?;
                    if let Some(err) = v.get("error") {
                        return Err(format!("{subject}: {err}"));
                    }
                    return Ok(v);
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        Err(format!(
            "{subject}: no JetStream reply within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))
    }

    /// Creates a file stream `name` on `subjects`.
    pub fn create_stream(&mut self, name: &str, subjects: &str) -> Result<(), String> {
        self.create_stream_config(
            name,
            serde_json::json!({
                "name": name,
                "subjects": [subjects],
                "storage": "file",
            }),
        )
    }

    /// Creates stream `name` with the stream configuration `config`.
    pub fn create_stream_config(
        &mut self,
        name: &str,
        config: serde_json::Value,
    ) -> Result<(), String> {
        self.request(
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &config.to_string(),
        )
        .map(|_| ())
    }

    /// The stream's `state`: messages, bytes, last sequence.
    pub fn stream_state(&mut self, name: &str) -> Result<StreamState, String> {
        let v = self.request(&format!("$JS.API.STREAM.INFO.{name}"), "")?;
        let state = &v["state"];
        match (
            state["messages"].as_u64(),
            state["bytes"].as_u64(),
            state["last_seq"].as_u64(),
        ) {
            (Some(messages), Some(bytes), Some(last_seq)) => Ok(StreamState {
                messages,
                bytes,
                last_seq,
            }),
            _ => Err(format!("$JS.API.STREAM.INFO.{name}: no state in {v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_parsing() {
        assert_eq!(ack_fields(br#"{"stream":"B","seq":42}"#), (Some(42), None));
        assert_eq!(
            ack_fields(br#"{"stream":"B","domain":"d","seq": 7,"duplicate":true}"#).0,
            Some(7)
        );
        let (seq, err) = ack_fields(br#"{"error":{"code":503,"description":"x"}}"#);
        assert_eq!(seq, None);
        assert!(err.is_some());
        assert_eq!(ack_fields(b"garbage"), (None, None));
        assert_eq!(ack_fields(br#"{"seq":}"#), (None, None));
    }

    #[test]
    fn acks_in_order_pass_and_gaps_fail() {
        let mut a = Acks {
            prefix: b"_INBOX.x.".to_vec(),
            next_seq: 2,
            acked: 0,
            warm: None,
            errors: Vec::new(),
            more_errors: 0,
            pings: 0,
        };
        let ack = |a: &mut Acks, subject: &[u8], payload: &[u8]| {
            a.msg(&Msg {
                subject,
                reply: None,
                headers: false,
                size: payload.len(),
                head: payload,
            })
        };
        ack(&mut a, b"_INBOX.x.0", br#"{"stream":"B","seq":2}"#);
        ack(&mut a, b"_INBOX.x.1", br#"{"stream":"B","seq":3}"#);
        assert!(a.errors.is_empty());
        ack(&mut a, b"_INBOX.x.2", br#"{"stream":"B","seq":5}"#);
        assert_eq!(a.errors.len(), 1, "a gap in the sequence");
        ack(&mut a, b"_INBOX.x.3", br#"{"stream":"B","seq":6}"#);
        assert_eq!(a.errors.len(), 1, "resynchronised after the gap");
        assert_eq!(a.acked, 4);
    }
}
