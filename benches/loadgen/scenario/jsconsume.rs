//! `jsconsume`: reading a filled stream through a durable consumer, as a client library's
//! `fetch` loop or push subscription does, acknowledging every message where the consumer
//! wants acks. Also the consumer requests the group needs (create one, read its info).
//!
//! ```text
//!  fetch: consumer {durable_name, ack_policy: explicit}, created first
//!         PUB $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> <inbox>.<r> {"batch":B,"expires":5 s}
//!         with `in_flight` requests outstanding, topped up as each is served (B messages,
//!         or a 404/408/409 status); every message acked: PUB <its $JS.ACK reply> 0
//!  push:  SUB <deliver inbox>, then on the same connection
//!         PUB $JS.API.CONSUMER.CREATE.<stream>.<consumer> {deliver_subject, ack_policy}
//!         and read the deliveries (acking each when ack_policy is explicit)
//!  both:  until all N messages (stream sequences 1..=N) arrived, first deliveries, in
//!         stream order; then consumer info must show every one delivered (and acked)
//! ```
//!
//! The stream is filled before (by [`crate::scenario::jspub`]) and holds exactly N
//! messages. The rate is first deliveries per second from the first pull request (the
//! consumer's create request, for push) to the last delivery. Acks are written in one
//! batch after each read, so they cost the generator one `write` per read, not per
//! message; a server owes acks no reply, so the blocking writes cannot deadlock.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::client::Conn;
use crate::frames::{Msg, Sink};
use crate::procfs::CpuSample;
use crate::scenario::jspub::{inbox, pong, read_some, Api};
use crate::scenario::Outcome;

/// Read buffer of the consuming connection.
const READ_BUFFER: usize = 1024 * 1024;
/// Payload bytes the sink sees: a status header, the head of a create reply.
const HEAD: usize = 2048;
/// No delivery for this long while messages are owed: the run fails.
const STALL: Duration = Duration::from_secs(10);
/// A pull request's `expires` (ns): 5 s.
const EXPIRES_NS: u64 = 5_000_000_000;
/// How long consumer info may take to show every ack (acks are asynchronous).
const SETTLE: Duration = Duration::from_secs(5);
/// Errors recorded per run; the rest are counted.
const MAX_ERRORS: usize = 5;

/// How the consumer is read.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// A pull consumer with explicit acks: pull requests of `batch`, `in_flight` of them
    /// outstanding.
    Fetch { batch: u64, in_flight: u64 },
    /// A push consumer delivering to an inbox; `ack`: `ack_policy: explicit`, else `none`.
    Push { ack: bool },
}

/// One consuming run.
#[derive(Clone, Debug)]
pub struct ConsumeSpec {
    /// The outcome's name, e.g. `js_fetch_16`.
    pub name: String,
    /// Payload size of the stored messages (for MB/s).
    pub size: usize,
    pub stream: String,
    /// The subject the stream's messages were published on.
    pub subject: String,
    /// The durable consumer's name.
    pub consumer: String,
    pub mode: Mode,
    /// Upper bound on the measured phase.
    pub time: Duration,
}

impl ConsumeSpec {
    fn acks(&self) -> bool {
        matches!(self.mode, Mode::Fetch { .. } | Mode::Push { ack: true })
    }
}

/// Creates (or, same config, finds) a consumer on `stream`: `config` must have a
/// `durable_name`. Returns the consumer info.
pub fn create_consumer(
    api: &mut Api,
    stream: &str,
    config: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let name = config["durable_name"]
        .as_str()
        .ok_or("consumer config without durable_name")?
        .to_string();
    let body = serde_json::json!({ "stream_name": stream, "config": config }).to_string();
    api.request(&format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"), &body)
}

/// Consumer info of `stream`'s consumer `name`.
pub fn consumer_info(api: &mut Api, stream: &str, name: &str) -> Result<serde_json::Value, String> {
    api.request(&format!("$JS.API.CONSUMER.INFO.{stream}.{name}"), "")
}

/// (delivery count, stream sequence) from a `$JS.ACK` reply subject:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the form with
/// domain and account hash in front (9 or more tokens after `$JS.ACK.`).
fn ack_meta(reply: &[u8]) -> Option<(u64, u64)> {
    let rest = reply.strip_prefix(b"$JS.ACK.")?;
    let t: Vec<&[u8]> = rest.split(|b| *b == b'.').collect();
    let at = match t.len() {
        7 => 2,
        n if n >= 9 => 4,
        _ => return None,
    };
    let num = |x: &[u8]| -> Option<u64> { std::str::from_utf8(x).ok()?.parse().ok() };
    Some((num(t[at])?, num(t[at + 1])?))
}

/// The status code of a status message (`NATS/1.0 408 Request Timeout`), and its first
/// line.
fn status(head: &[u8]) -> (Option<u16>, String) {
    let line = head
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
    let code = line
        .strip_prefix(b"NATS/1.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok());
    (code, text)
}

/// Counts and checks deliveries, collects the acks to send.
struct Deliveries {
    /// Fetch: `<inbox>.`, the prefix of the pull requests' reply subjects (where their
    /// statuses come). Push: the deliver subject.
    inbox: Vec<u8>,
    pull: bool,
    /// The subject the stored messages were published on.
    subject: Vec<u8>,
    /// Push: the create request's reply subject, and what came back on it.
    create_reply: Vec<u8>,
    created: Option<Result<(), String>>,
    ack: bool,
    /// Ack frames not yet written.
    acks: Vec<u8>,
    /// First deliveries.
    received: u64,
    /// The stream sequence the next first delivery must have.
    next_seq: u64,
    redelivered: u64,
    /// Fetch: messages still owed per outstanding pull request.
    owed: BTreeMap<u64, u64>,
    /// Status messages by their first line.
    statuses: BTreeMap<String, u64>,
    /// A 503 (no responders) answered a pull request.
    no_responders: bool,
    no_reply: u64,
    errors: Vec<String>,
    more_errors: u64,
    pings: u64,
}

impl Deliveries {
    fn error(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }

    fn delivery(&mut self, m: &Msg<'_>) {
        let Some(reply) = m.reply else {
            self.no_reply += 1;
            self.received += 1;
            self.next_seq += 1;
            return;
        };
        if self.ack {
            self.acks.extend_from_slice(b"PUB ");
            self.acks.extend_from_slice(reply);
            self.acks.extend_from_slice(b" 0\r\n\r\n");
        }
        match ack_meta(reply) {
            Some((delivered, _)) if delivered > 1 => self.redelivered += 1,
            Some((_, seq)) if seq == self.next_seq => {
                self.received += 1;
                self.next_seq += 1;
            }
            Some((_, seq)) if seq < self.next_seq => {
                self.error(format!(
                    "stream seq {seq} delivered again as a first delivery (expected {})",
                    self.next_seq
                ));
            }
            Some((_, seq)) => {
                // A gap: messages skipped (lost for this consumer).
                self.error(format!(
                    "first delivery of stream seq {seq}, expected {}",
                    self.next_seq
                ));
                self.received += 1;
                self.next_seq = seq + 1;
            }
            None => {
                let r = String::from_utf8_lossy(&reply[..reply.len().min(160)]).into_owned();
                self.error(format!(
                    "delivery with a reply subject that is no ack subject: {r}"
                ));
                self.received += 1;
                self.next_seq += 1;
            }
        }
    }
}

impl Sink for Deliveries {
    fn msg(&mut self, m: &Msg<'_>) {
        if !self.pull && m.subject == self.create_reply.as_slice() {
            self.created = Some(if m.headers {
                Err(format!("status reply {}", status(m.head).1))
            } else if let Some(i) = memmem::find(m.head, b"\"error\"") {
                let e = &m.head[i..];
                Err(String::from_utf8_lossy(&e[..e.len().min(240)]).into_owned())
            } else {
                Ok(())
            });
            return;
        }
        if m.headers {
            // The stored messages carry no headers: this is a status. For a pull request it
            // comes on the request's reply subject and ends the request; a push consumer
            // has no heartbeats or flow control configured, so it is only recorded.
            let (code, text) = status(m.head);
            *self.statuses.entry(text.clone()).or_default() += 1;
            if self.pull {
                let req = m
                    .subject
                    .strip_prefix(self.inbox.as_slice())
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<u64>().ok());
                let Some(req) = req else {
                    let s = String::from_utf8_lossy(m.subject).into_owned();
                    self.error(format!("status {text} on unexpected subject {s}"));
                    return;
                };
                self.owed.remove(&req);
                match code {
                    Some(404 | 408 | 409) => {}
                    Some(503) => self.no_responders = true,
                    _ => self.error(format!("pull request {req}: status {text}")),
                }
            }
            return;
        }
        if m.subject != self.subject.as_slice() {
            let s = String::from_utf8_lossy(m.subject).into_owned();
            self.error(format!("delivery on unexpected subject {s}"));
        }
        if self.pull {
            // A delivery keeps its own subject, so which request it answers is not on the
            // wire; the server serves waiting requests in order, so count it against the
            // oldest.
            if let Some(mut e) = self.owed.first_entry() {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
        self.delivery(m);
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

/// Reads `spec.consumer` of `spec.stream` at `addr`, whose stream holds exactly `msgs`
/// messages (sequences 1..=msgs); for `Mode::Fetch` the consumer must exist already, for
/// `Mode::Push` it is created here. `pids` are the server processes whose CPU is measured;
/// `api` reads the consumer info afterwards. The outcome's `rate` is first deliveries
/// per second.
pub fn run(
    spec: &ConsumeSpec,
    msgs: u64,
    addr: SocketAddr,
    pids: &[u32],
    api: &mut Api,
) -> Outcome {
    run_inner(spec, msgs, addr, pids, api)
        .unwrap_or_else(|e| Outcome::failed(spec.name.clone(), "jsconsume", e))
}

fn run_inner(
    spec: &ConsumeSpec,
    msgs: u64,
    addr: SocketAddr,
    pids: &[u32],
    api: &mut Api,
) -> Result<Outcome, String> {
    let mut conn = Conn::open(addr, READ_BUFFER, HEAD)?;
    let pull = matches!(spec.mode, Mode::Fetch { .. });
    let inbox = inbox(if pull { "pull" } else { "push" });
    let create_reply = format!("{inbox}-create");
    if pull {
        conn.subscribe(&format!("{inbox}.*"), None, 1)?;
    } else {
        conn.subscribe(&inbox, None, 1)?;
        conn.subscribe(&create_reply, None, 2)?;
    }
    conn.stream
        .set_write_timeout(Some(STALL))
        .map_err(|e| e.to_string())?;
    conn.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut d = Deliveries {
        inbox: if pull {
            format!("{inbox}.").into_bytes()
        } else {
            inbox.clone().into_bytes()
        },
        pull,
        subject: spec.subject.clone().into_bytes(),
        create_reply: create_reply.clone().into_bytes(),
        created: None,
        ack: spec.acks(),
        acks: Vec::with_capacity(256 * 1024),
        received: 0,
        next_seq: 1,
        redelivered: 0,
        owed: BTreeMap::new(),
        statuses: BTreeMap::new(),
        no_responders: false,
        no_reply: 0,
        errors: Vec::new(),
        more_errors: 0,
        pings: 0,
    };
    let (batch, in_flight) = match spec.mode {
        Mode::Fetch { batch, in_flight } => (batch.max(1), in_flight.max(1)),
        Mode::Push { .. } => (0, 0),
    };
    let next_subject = format!(
        "$JS.API.CONSUMER.MSG.NEXT.{}.{}",
        spec.stream, spec.consumer
    );
    let next_body = format!("{{\"batch\":{batch},\"expires\":{EXPIRES_NS}}}");
    let mut requests = 0u64;
    let mut notes = Vec::new();
    let mut out_buf: Vec<u8> = Vec::with_capacity(4096);

    let sample = CpuSample::now(pids);
    let t0 = Instant::now();
    if !pull {
        let ack_policy = if spec.acks() { "explicit" } else { "none" };
        let body = serde_json::json!({
            "stream_name": spec.stream,
            "config": {
                "durable_name": spec.consumer,
                "deliver_subject": inbox,
                "ack_policy": ack_policy,
            },
        })
        .to_string();
        conn.stream
            .write_all(
                format!(
                    "PUB $JS.API.CONSUMER.CREATE.{}.{} {create_reply} {}\r\n{body}\r\n",
                    spec.stream,
                    spec.consumer,
                    body.len()
                )
                .as_bytes(),
            )
            .map_err(|e| format!("consumer create: {e}"))?;
    }
    let mut last = t0;
    let mut timed_out = false;
    while d.received < msgs {
        if t0.elapsed() >= spec.time {
            timed_out = true;
            notes.push(format!(
                "time bound ({} s) reached after {} of {msgs} messages",
                spec.time.as_secs_f64(),
                d.received
            ));
            break;
        }
        out_buf.clear();
        if pull {
            if std::mem::take(&mut d.no_responders) {
                // The consumer's subscription is not in place yet: ask again shortly.
                std::thread::sleep(Duration::from_millis(5));
            }
            while (d.owed.len() as u64) < in_flight {
                // Infallible: writing into a Vec.
                let _ = write!(
                    out_buf,
                    "PUB {next_subject} {inbox}.{requests} {}\r\n{next_body}\r\n",
                    next_body.len()
                );
                d.owed.insert(requests, batch);
                requests += 1;
            }
        }
        out_buf.append(&mut d.acks);
        if !out_buf.is_empty() {
            conn.stream
                .write_all(&out_buf)
                .map_err(|e| format!("write acks / pull requests: {e}"))?;
        }
        let before = d.received + d.redelivered;
        read_some(&mut conn, &mut d)?;
        pong(&mut conn, &mut d.pings)?;
        if let Some(Err(e)) = &d.created {
            return Err(format!(
                "$JS.API.CONSUMER.CREATE.{}.{}: {e}",
                spec.stream, spec.consumer
            ));
        }
        let now = Instant::now();
        if d.received + d.redelivered > before {
            last = now;
        } else if now.duration_since(last) > STALL {
            return Err(format!(
                "no delivery for {} s after {} of {msgs} messages ({} pull requests sent; statuses {:?})",
                STALL.as_secs(),
                d.received,
                requests,
                d.statuses
            ));
        }
    }
    // The last acks.
    if !d.acks.is_empty() {
        conn.stream
            .write_all(&d.acks)
            .map_err(|e| format!("write acks: {e}"))?;
        d.acks.clear();
    }
    let wall = last.duration_since(t0).as_secs_f64().max(1e-9);
    let mut out = Outcome {
        name: spec.name.clone(),
        scenario: "jsconsume".into(),
        size: spec.size,
        publishers: 0,
        subscribers: 1,
        sent: requests,
        received: d.received,
        expected: if timed_out { d.received } else { msgs },
        wall_secs: wall,
        rate: d.received as f64 / wall,
        mb_per_sec: (d.received * spec.size as u64) as f64 / wall / 1e6,
        notes,
        ..Default::default()
    };
    out.set_cpu(&sample, &[], d.received);
    if d.redelivered > 0 {
        d.error(format!(
            "{} redeliveries (an ack lost or late?)",
            d.redelivered
        ));
    }
    if d.no_reply > 0 {
        let e = format!("{} deliveries without a reply subject", d.no_reply);
        if d.ack {
            d.error(e);
        } else {
            out.notes.push(e);
        }
    }
    let unusual: Vec<String> = d
        .statuses
        .iter()
        .filter(|(k, _)| !k.contains(" 408"))
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect();
    if !unusual.is_empty() {
        out.notes
            .push(format!("status messages: {}", unusual.join(", ")));
    }
    if !timed_out {
        if let Err(e) = check_consumer(api, spec, msgs) {
            d.error(e);
        }
    }
    // The pull requests still waiting end with the connection.
    drop(conn);
    if d.more_errors > 0 {
        d.errors
            .push(format!("… and {} more errors", d.more_errors));
    }
    out.errors = d.errors;
    out.ok = out.errors.is_empty() && out.received == out.expected;
    Ok(out)
}

/// Polls consumer info until it shows all `msgs` delivered (and, with acks, acknowledged:
/// `num_ack_pending` 0 and `ack_floor.stream_seq` = `msgs`), for at most [`SETTLE`].
fn check_consumer(api: &mut Api, spec: &ConsumeSpec, msgs: u64) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let v = consumer_info(api, &spec.stream, &spec.consumer)?;
        let n = |x: &serde_json::Value| x.as_u64();
        let pending = n(&v["num_pending"]);
        let delivered = n(&v["delivered"]["stream_seq"]);
        let ack_pending = n(&v["num_ack_pending"]);
        let floor = n(&v["ack_floor"]["stream_seq"]);
        let done = if spec.acks() {
            pending == Some(0) && ack_pending == Some(0) && floor == Some(msgs)
        } else {
            pending == Some(0) && delivered == Some(msgs)
        };
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "consumer info {} s after the last delivery: num_pending {pending:?}, delivered.stream_seq {delivered:?}, num_ack_pending {ack_pending:?}, ack_floor.stream_seq {floor:?}; expected {msgs} delivered{}",
                SETTLE.as_secs(),
                if spec.acks() { " and acked" } else { "" }
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_subjects() {
        assert_eq!(
            ack_meta(b"$JS.ACK.BENCH.F.1.42.42.1700000000000000000.9"),
            Some((1, 42))
        );
        assert_eq!(
            ack_meta(b"$JS.ACK.dom.ACCHASH.BENCH.F.2.7.8.1700000000000000000.0.rnd"),
            Some((2, 7))
        );
        assert_eq!(ack_meta(b"$JS.ACK.BENCH.F.1"), None);
        assert_eq!(ack_meta(b"_INBOX.x"), None);
        assert_eq!(
            status(b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\n\r\n"),
            (Some(408), "NATS/1.0 408 Request Timeout".to_string())
        );
        assert_eq!(status(b"NATS/1.0\r\n\r\n").0, None);
    }
}
