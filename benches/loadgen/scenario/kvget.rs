//! `kvget`: a KV bucket's `get` as client libraries do it on a stream with
//! `allow_direct`: one direct get of the last message of a key's subject at a time, and
//! its latency.
//!
//! ```text
//!  connect ─ SUB <inbox>.* ─ PING/PONG
//!  warm-up:  gets of key k0 until one is answered with the value (not a 503)
//!  measured: PUB $JS.API.DIRECT.GET.<stream>.<prefix>.k<i % keys> <inbox>.<i> 0, then wait
//!            for its reply: an HMSG without a status whose Nats-Subject is the key's
//!            subject and whose payload has the value's size
//! ```
//!
//! The bucket is filled before (by [`crate::scenario::jspub`], one put per key). One
//! request in flight: the latency is the server's answer time plus two loopback hops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::io::Write;

use memchr::memmem;

use crate::client::Conn;
use crate::frames::{Msg, Sink};
use crate::hist::Histogram;
use crate::procfs::CpuSample;
use crate::scenario::jspub::{inbox, pong, read_some, REQUEST_TIMEOUT};
use crate::scenario::{Latency, Outcome};

/// Payload bytes the sink sees: the reply's headers (about 150 bytes) and more.
const HEAD: usize = 1024;
/// No reply to a get within this long: the run fails.
const STALL: Duration = Duration::from_secs(5);
/// Errors recorded per run; the rest are counted.
const MAX_ERRORS: usize = 5;

/// One run of gets.
#[derive(Clone, Debug)]
pub struct KvGetSpec {
    /// The outcome's name, `kv_get`.
    pub name: String,
    pub gets: u64,
    /// Keys `k0` … `k<keys-1>` exist, each with a value of `size` bytes.
    pub keys: u64,
    pub size: usize,
    /// The bucket's stream, e.g. `KV_b`.
    pub stream: String,
    /// The keys' subject prefix, e.g. `$KV.b`.
    pub prefix: String,
    /// Upper bound on the measured phase.
    pub time: Duration,
}

/// What came back for the get in flight.
enum Got {
    Value,
    /// A 503: nobody answers the direct get subject (yet).
    NoResponders,
    Wrong(String),
}

/// Waits for the reply to get `want` and checks it.
struct Replies {
    /// `<inbox>.` as bytes.
    prefix: Vec<u8>,
    want: u64,
    /// `nats-subject: <the key's subject>\r\n`, lowercase.
    header: Vec<u8>,
    size: usize,
    got: Option<Got>,
    pings: u64,
    errors: Vec<String>,
    more_errors: u64,
}

impl Replies {
    fn error(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }

    fn check(&self, m: &Msg<'_>) -> Got {
        let text = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
        if !m.headers {
            return Got::Wrong(format!("a reply without headers: {}", text(m.head)));
        }
        if !m.head.starts_with(b"NATS/1.0\r\n") {
            if m.head.starts_with(b"NATS/1.0 503") {
                return Got::NoResponders;
            }
            return Got::Wrong(format!("a status reply: {}", text(m.head)));
        }
        let Some(end) = memmem::find(m.head, b"\r\n\r\n") else {
            return Got::Wrong(format!("headers longer than {HEAD} bytes"));
        };
        let lower = m.head[..end + 2].to_ascii_lowercase();
        if memmem::find(&lower, &self.header).is_none() {
            return Got::Wrong(format!(
                "no {:?} header: {}",
                String::from_utf8_lossy(&self.header).trim_end(),
                text(m.head)
            ));
        }
        if m.size - (end + 4) != self.size {
            return Got::Wrong(format!(
                "a value of {} bytes, expected {}",
                m.size - (end + 4),
                self.size
            ));
        }
        Got::Value
    }
}

impl Sink for Replies {
    fn msg(&mut self, m: &Msg<'_>) {
        let index = m
            .subject
            .strip_prefix(self.prefix.as_slice())
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<u64>().ok());
        if index == Some(self.want) {
            self.got = Some(self.check(m));
        } else {
            let s = String::from_utf8_lossy(m.subject).into_owned();
            self.error(format!("reply on {s} while waiting for get {}", self.want));
        }
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

/// Sends get `i` and waits for its reply, at most `limit`.
fn get(
    conn: &mut Conn,
    r: &mut Replies,
    spec: &KvGetSpec,
    inbox: &str,
    i: u64,
    key: u64,
    limit: Duration,
) -> Result<Option<Got>, String> {
    let subject = format!("{}.k{key}", spec.prefix);
    r.want = i;
    r.got = None;
    r.header = format!("nats-subject: {subject}\r\n")
        .to_ascii_lowercase()
        .into_bytes();
    conn.stream
        .write_all(
            format!(
                "PUB $JS.API.DIRECT.GET.{}.{subject} {inbox}.{i} 0\r\n\r\n",
                spec.stream
            )
            .as_bytes(),
        )
        .map_err(|e| format!("get: {e}"))?;
    let deadline = Instant::now() + limit;
    while r.got.is_none() && Instant::now() < deadline {
        read_some(conn, r)?;
        pong(conn, &mut r.pings)?;
    }
    Ok(r.got.take())
}

/// Runs `spec` against the server at `addr`, whose bucket holds every key; `pids` are the
/// server processes whose CPU is measured. The outcome's `rate` is gets per second, its
/// `latency` their round trips.
pub fn run(spec: &KvGetSpec, addr: SocketAddr, pids: &[u32]) -> Outcome {
    run_inner(spec, addr, pids).unwrap_or_else(|e| Outcome::failed(spec.name.clone(), "kvget", e))
}

fn run_inner(spec: &KvGetSpec, addr: SocketAddr, pids: &[u32]) -> Result<Outcome, String> {
    let mut conn = Conn::open(addr, 64 * 1024, HEAD)?;
    let inbox = inbox("get");
    conn.subscribe(&format!("{inbox}.*"), None, 1)?;
    conn.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut r = Replies {
        prefix: format!("{inbox}.").into_bytes(),
        want: 0,
        header: Vec::new(),
        size: spec.size,
        got: None,
        pings: 0,
        errors: Vec::new(),
        more_errors: 0,
    };
    // Warm-up: the direct get subscription may reach this connection's side of the server
    // after the stream was created.
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut n = 0u64;
    loop {
        match get(
            &mut conn,
            &mut r,
            spec,
            &inbox,
            n,
            0,
            Duration::from_secs(1),
        )? {
            Some(Got::Value) => break,
            Some(Got::Wrong(e)) => return Err(format!("warm-up get of k0: {e}")),
            Some(Got::NoResponders) | None if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                return Err(format!(
                    "warm-up get of k0: no value within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ))
            }
        }
        n += 1;
    }
    let keys = spec.keys.max(1);
    let mut hist = Histogram::new();
    let mut notes = Vec::new();
    let mut wrong = 0u64;
    let sample = CpuSample::now(pids);
    let t0 = Instant::now();
    let mut done = 0u64;
    while done < spec.gets {
        if t0.elapsed() >= spec.time {
            notes.push(format!(
                "time bound ({} s) reached after {done} of {} gets",
                spec.time.as_secs_f64(),
                spec.gets
            ));
            break;
        }
        n += 1;
        let start = Instant::now();
        let got = get(&mut conn, &mut r, spec, &inbox, n, done % keys, STALL)?;
        let took = start.elapsed();
        match got {
            Some(Got::Value) => hist.record(took.as_nanos() as u64),
            Some(Got::NoResponders) => {
                wrong += 1;
                r.error(format!("get {done}: 503 no responders"));
            }
            Some(Got::Wrong(e)) => {
                wrong += 1;
                r.error(format!("get {done} (k{}): {e}", done % keys));
            }
            None => {
                return Err(format!(
                    "no reply to get {done} within {} s",
                    STALL.as_secs()
                ))
            }
        }
        done += 1;
    }
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let mut out = Outcome {
        name: spec.name.clone(),
        scenario: "kvget".into(),
        size: spec.size,
        publishers: 1,
        subscribers: 0,
        sent: done,
        received: hist.count(),
        expected: done,
        wall_secs: wall,
        rate: done as f64 / wall,
        mb_per_sec: (hist.count() * spec.size as u64) as f64 / wall / 1e6,
        notes,
        ..Default::default()
    };
    out.set_cpu(&sample, &[], done);
    let us = |ns: u64| ns as f64 / 1000.0;
    out.latency = Some(Latency {
        p50_us: us(hist.percentile(50.0)),
        p99_us: us(hist.percentile(99.0)),
        p999_us: us(hist.percentile(99.9)),
        min_us: us(hist.min()),
        max_us: us(hist.max()),
        mean_us: hist.mean() / 1000.0,
    });
    if r.more_errors > 0 {
        r.errors
            .push(format!("… and {} more errors", r.more_errors));
    }
    out.errors = r.errors;
    out.ok = out.errors.is_empty() && wrong == 0 && done > 0;
    Ok(out)
}
