//! `reqrep`: one requester, one responder, strictly one request in flight. The requester
//! sends the next request only after the reply to the previous one arrived, so every
//! sample is one full round trip through the server (requester → server → responder →
//! server → requester), and throughput is 1 / latency.
//!
//! Each request carries its own reply subject (`_INBOX.<run>.<n>`) so a late reply to an
//! earlier request can never be taken for the current one. Before measuring, requests are
//! retried until a real reply arrives (a `no_responders` 503 status or silence means the
//! responder's interest has not reached the requester's side of the server yet), then a
//! few hundred unrecorded round trips warm both servers' caches.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::frames::{Msg, Sink};
use crate::hist::Histogram;
use crate::procfs::{self, CpuSample};
use crate::scenario::{Ctx, Latency, Outcome};

/// Unrecorded round trips before measuring.
const WARM_ROUNDS: u64 = 200;
/// How long one request may wait for its reply during the measured phase.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct ReqRepSpec {
    pub requests: u64,
    pub size: usize,
    pub subject: String,
}

/// The responder: answers every request on its reply subject with a same-size payload.
struct Responder {
    out: Vec<u8>,
    payload: Vec<u8>,
    pings: u64,
    err: Option<String>,
}

impl Sink for Responder {
    fn msg(&mut self, m: &Msg<'_>) {
        if let Some(reply) = m.reply {
            self.out.extend_from_slice(b"PUB ");
            self.out.extend_from_slice(reply);
            self.out
                .extend_from_slice(format!(" {}\r\n", self.payload.len()).as_bytes());
            self.out.extend_from_slice(&self.payload);
            self.out.extend_from_slice(b"\r\n");
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

fn respond(mut conn: Conn, size: usize, stop: &AtomicBool) -> Result<Duration, String> {
    let cpu0 = procfs::thread_cpu();
    let mut sink = Responder {
        out: Vec::with_capacity(64 * 1024),
        payload: vec![b'r'; size],
        pings: 0,
        err: None,
    };
    conn.stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    while !stop.load(Relaxed) {
        match conn.frames.read_from(&mut conn.stream) {
            Ok(0) => return Err("server closed the responder's connection".into()),
            Ok(_) => {
                conn.frames.parse(&mut sink).map_err(|e| e.to_string())?;
                for _ in 0..std::mem::take(&mut sink.pings) {
                    sink.out.extend_from_slice(b"PONG\r\n");
                }
                if !sink.out.is_empty() {
                    conn.stream
                        .write_all(&sink.out)
                        .map_err(|e| format!("reply: {e}"))?;
                    sink.out.clear();
                }
                if let Some(e) = sink.err.take() {
                    return Err(format!("server sent {e}"));
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("responder read: {e}")),
        }
    }
    Ok(procfs::thread_cpu().saturating_sub(cpu0))
}

/// The requester's view: did the reply for the current request arrive?
struct Requester {
    want: Vec<u8>,
    got: bool,
    /// A 503 "no responders" status for the current request.
    no_responders: bool,
    pings: u64,
    err: Option<String>,
}

impl Sink for Requester {
    fn msg(&mut self, m: &Msg<'_>) {
        if m.subject == self.want.as_slice() {
            if m.headers {
                self.no_responders = true;
            } else {
                self.got = true;
            }
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

/// Sends request `n` and waits up to `timeout` for its reply. Ok(false) on a timeout or a
/// no-responders status.
fn round_trip(
    conn: &mut Conn,
    sink: &mut Requester,
    inbox: &str,
    n: u64,
    request_head: &[u8],
    payload: &[u8],
    timeout: Duration,
) -> Result<bool, String> {
    sink.want.clear();
    sink.want
        .extend_from_slice(format!("{inbox}.{n}").as_bytes());
    sink.got = false;
    sink.no_responders = false;
    let mut frame = Vec::with_capacity(request_head.len() + sink.want.len() + payload.len() + 16);
    frame.extend_from_slice(request_head);
    frame.extend_from_slice(&sink.want);
    frame.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    conn.stream
        .write_all(&frame)
        .map_err(|e| format!("request: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        conn.frames.parse(sink).map_err(|e| e.to_string())?;
        for _ in 0..std::mem::take(&mut sink.pings) {
            conn.stream
                .write_all(b"PONG\r\n")
                .map_err(|e| format!("send PONG: {e}"))?;
        }
        if let Some(e) = sink.err.take() {
            return Err(format!("server sent {e}"));
        }
        if sink.got {
            return Ok(true);
        }
        if sink.no_responders {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        conn.stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match conn.frames.read_from(&mut conn.stream) {
            Ok(0) => return Err("server closed the requester's connection".into()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("requester read: {e}")),
        }
    }
}

pub fn run(spec: &ReqRepSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    // The responder on `sub_addr(0)` (another server, e.g. a leaf node of the requester's
    // hub, or the same one); the requester on `addr`.
    let mut responder = Conn::open(ctx.sub_addr(0), 256 * 1024, 0)?;
    responder.subscribe(&spec.subject, None, 1)?;
    let mut requester = Conn::open(ctx.addr, 256 * 1024, 0)?;
    let inbox = format!("_INBOX.bench{}", fastrand::u64(..));
    requester.subscribe(&format!("{inbox}.*"), None, 1)?;
    let stop = AtomicBool::new(false);
    let payload = vec![b'q'; spec.size];
    let head = format!("PUB {} ", spec.subject).into_bytes();
    let label = format!("req/rep {} B", spec.size);

    std::thread::scope(|s| -> Result<Outcome, String> {
        let stop_ref = &stop;
        let size = spec.size;
        let resp = s.spawn(move || respond(responder, size, stop_ref));
        let result = (|| -> Result<(Outcome, CpuSample), String> {
            let mut sink = Requester {
                want: Vec::new(),
                got: false,
                no_responders: false,
                pings: 0,
                err: None,
            };
            let mut n = 0u64;
            // Until the responder's interest is visible from the requester's side.
            let ready_by = Instant::now() + Duration::from_secs(10);
            loop {
                n += 1;
                let short = Duration::from_millis(100);
                if round_trip(&mut requester, &mut sink, &inbox, n, &head, &payload, short)? {
                    break;
                }
                if Instant::now() > ready_by {
                    return Err("no reply from the responder within 10 s".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            for _ in 0..WARM_ROUNDS {
                n += 1;
                if !round_trip(
                    &mut requester,
                    &mut sink,
                    &inbox,
                    n,
                    &head,
                    &payload,
                    REPLY_TIMEOUT,
                )? {
                    return Err("a warm-up request got no reply".into());
                }
            }
            let mut hist = Histogram::new();
            let sample = CpuSample::now(&ctx.server_pids());
            let start = Instant::now();
            let deadline = start + ctx.time;
            let mut done = 0u64;
            let mut errors = Vec::new();
            let mut notes = Vec::new();
            while done < spec.requests {
                if Instant::now() >= deadline {
                    notes.push(format!(
                        "time bound ({} s) hit after {done} requests",
                        ctx.time.as_secs_f64()
                    ));
                    break;
                }
                n += 1;
                let t0 = Instant::now();
                let ok = round_trip(
                    &mut requester,
                    &mut sink,
                    &inbox,
                    n,
                    &head,
                    &payload,
                    REPLY_TIMEOUT,
                )?;
                if !ok {
                    errors.push(format!(
                        "request {done} got no reply within {} s",
                        REPLY_TIMEOUT.as_secs()
                    ));
                    break;
                }
                hist.record(t0.elapsed().as_nanos() as u64);
                done += 1;
                if done % 256 == 0 {
                    ctx.progress.update(&label, done, spec.requests);
                }
            }
            let wall = start.elapsed().as_secs_f64().max(1e-9);
            let mut out = Outcome {
                name: format!("reqrep_{}", spec.size),
                scenario: "reqrep".into(),
                size: spec.size,
                publishers: 1,
                subscribers: 1,
                sent: done + u64::from(!errors.is_empty()),
                received: hist.count(),
                expected: done + u64::from(!errors.is_empty()),
                wall_secs: wall,
                rate: done as f64 / wall,
                errors,
                notes,
                ..Default::default()
            };
            out.mb_per_sec = out.rate * spec.size as f64 / 1e6;
            let us = |ns: u64| ns as f64 / 1000.0;
            out.latency = Some(Latency {
                p50_us: us(hist.percentile(50.0)),
                p99_us: us(hist.percentile(99.0)),
                p999_us: us(hist.percentile(99.9)),
                min_us: us(hist.min()),
                max_us: us(hist.max()),
                mean_us: hist.mean() / 1000.0,
            });
            Ok((out, sample))
        })();
        stop.store(true, Relaxed);
        let resp = resp
            .join()
            .map_err(|_| "responder thread panicked".to_string())?;
        let (mut out, sample) = result?;
        // The requester ran on this thread (the sample's own); the responder on its own.
        let messages = out.received * 2;
        match resp {
            Ok(cpu) => out.set_cpu(&sample, &[cpu], messages),
            Err(e) => {
                out.set_cpu(&sample, &[], messages);
                out.errors.push(format!("responder: {e}"));
            }
        }
        out.ok = out.errors.is_empty();
        Ok(out)
    })
}
