//! Connection scenarios.
//!
//! - `conn`: the connection rate. Each cycle is what a client does to start: TCP connect,
//!   read INFO, send CONNECT + PING, wait for PONG, close. `threads` workers run cycles
//!   back to back, so one thread measures the sequential (latency-bound) rate and several
//!   measure how fast the server accepts under concurrency.
//! - `idle`: memory per idle connection. Opens `conns` connections that each completed the
//!   handshake, lets the server settle, and reads its VmRSS before and after (needs the
//!   server's pid). Raises the generator's own open-file limit first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::hist::Histogram;
use crate::procfs::{self, CpuSample};
use crate::scenario::{Ctx, Idle, Latency, Outcome};

/// Smallest read buffer `Frames` accepts; enough for INFO and PONG.
const HANDSHAKE_BUFFER: usize = 0;
/// How long the server gets to settle before its RSS is read.
const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Clone, Debug)]
pub struct ConnSpec {
    pub conns: u64,
    pub threads: usize,
}

#[derive(Clone, Debug)]
pub struct IdleSpec {
    pub conns: u64,
    pub threads: usize,
}

pub fn run_conn(spec: &ConnSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    // One cycle first, so a server that is not there fails fast and clearly.
    drop(Conn::open(ctx.addr, HANDSHAKE_BUFFER, 0)?);
    let threads = spec.threads.max(1);
    let next = AtomicU64::new(0);
    let completed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let failures = AtomicU64::new(0);
    let sample = CpuSample::now(&ctx.server_pids());
    let start = Instant::now();
    let deadline = start + ctx.time;
    let label = format!("connections x{threads}");
    let (hists, cpus) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let cpu0 = procfs::thread_cpu();
                    let mut h = Histogram::new();
                    while !stop.load(Relaxed) && next.fetch_add(1, Relaxed) < spec.conns {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let t0 = Instant::now();
                        match Conn::open(ctx.addr, HANDSHAKE_BUFFER, 0) {
                            Ok(c) => {
                                drop(c);
                                h.record(t0.elapsed().as_nanos() as u64);
                                completed.fetch_add(1, Relaxed);
                            }
                            Err(e) => {
                                failures.fetch_add(1, Relaxed);
                                if let Ok(mut f) = first_error.lock() {
                                    f.get_or_insert(e);
                                }
                                // A refused or reset connection usually repeats: stop early.
                                if failures.load(Relaxed) > 100 {
                                    stop.store(true, Relaxed);
                                }
                            }
                        }
                    }
                    (h, procfs::thread_cpu().saturating_sub(cpu0))
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            ctx.progress
                .update(&label, completed.load(Relaxed), spec.conns);
        }
        let mut hist = Histogram::new();
        let mut cpus = Vec::new();
        for h in handles {
            if let Ok((hh, cpu)) = h.join() {
                hist.merge(&hh);
                cpus.push(cpu);
            }
        }
        (hist, cpus)
    });
    let wall = start.elapsed().as_secs_f64().max(1e-9);
    let done = completed.load(Relaxed);
    let failed = failures.load(Relaxed);
    let mut out = Outcome {
        name: format!("conn_t{}", spec.threads),
        scenario: "conn".into(),
        publishers: threads,
        sent: done + failed,
        received: done,
        expected: done + failed,
        wall_secs: wall,
        rate: done as f64 / wall,
        ..Default::default()
    };
    let us = |ns: u64| ns as f64 / 1000.0;
    out.latency = Some(Latency {
        p50_us: us(hists.percentile(50.0)),
        p99_us: us(hists.percentile(99.0)),
        p999_us: us(hists.percentile(99.9)),
        min_us: us(hists.min()),
        max_us: us(hists.max()),
        mean_us: hists.mean() / 1000.0,
    });
    out.set_cpu(&sample, &cpus, done);
    if failed > 0 {
        let first = first_error.lock().ok().and_then(|f| f.clone());
        out.errors.push(format!(
            "{failed} connections failed (first: {})",
            first.unwrap_or_default()
        ));
    }
    if done < spec.conns && failed == 0 {
        out.notes.push(format!(
            "time bound ({} s) hit after {done} connections",
            ctx.time.as_secs_f64()
        ));
    }
    out.ok = out.errors.is_empty();
    Ok(out)
}

pub fn run_idle(spec: &IdleSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    let mut out = Outcome {
        name: "idle".into(),
        scenario: "idle".into(),
        ..Default::default()
    };
    let want = idle_target(spec.conns, &mut out);
    let rss_before = ctx.pid.and_then(procfs::rss_kib);
    // The handshake state (`Frames`) is dropped right away; only the sockets are kept.
    let addr = ctx.addr;
    let held = hold_idle(
        ctx,
        &mut out,
        "idle connections",
        "server",
        want,
        spec.threads,
        |_| Conn::open(addr, HANDSHAKE_BUFFER, 0).map(|c| c.stream),
    );
    idle_figures(&mut out, spec.conns, held.len() as u64, rss_before, ctx);
    drop(held);
    out.ok = out.errors.is_empty();
    Ok(out)
}

/// How many connections an idle scenario opens for `conns` requested: fewer (with an
/// error in `out`) when the open-file limit, raised as far as it goes, is lower.
pub fn idle_target(conns: u64, out: &mut Outcome) -> u64 {
    // Our own sockets plus stdio and a margin.
    let limit = procfs::raise_nofile(conns + 64);
    if limit >= conns + 64 {
        return conns;
    }
    let want = limit.saturating_sub(64);
    out.errors.push(format!(
        "open-file limit is {limit}: opening {want} connections instead of {conns}"
    ));
    want
}

/// Opens up to `want` connections with `open(i)` from `threads` threads, bounded by
/// `--time`, and keeps them: the idle scenarios' load phase. Fills the rate, CPU, errors and
/// notes of `out`; `what` names them in the progress line, `server` in the notes.
pub fn hold_idle<S: Send>(
    ctx: &mut Ctx,
    out: &mut Outcome,
    what: &str,
    server: &str,
    want: u64,
    threads: usize,
    open: impl Fn(u64) -> Result<S, String> + Sync,
) -> Vec<S> {
    let next = AtomicU64::new(0);
    let opened = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let sample = CpuSample::now(&ctx.server_pids());
    let start = Instant::now();
    let deadline = start + ctx.time;
    let held: Vec<(Vec<S>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let cpu0 = procfs::thread_cpu();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Relaxed);
                        if i >= want || stop.load(Relaxed) || Instant::now() >= deadline {
                            break;
                        }
                        match open(i) {
                            Ok(c) => {
                                mine.push(c);
                                opened.fetch_add(1, Relaxed);
                            }
                            Err(e) => {
                                if let Ok(mut f) = first_error.lock() {
                                    f.get_or_insert(e);
                                }
                                stop.store(true, Relaxed);
                            }
                        }
                    }
                    (mine, procfs::thread_cpu().saturating_sub(cpu0))
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            ctx.progress.update(what, opened.load(Relaxed), want);
        }
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let open_secs = start.elapsed().as_secs_f64().max(1e-9);
    let n = opened.load(Relaxed);
    out.wall_secs = open_secs;
    out.sent = want;
    out.received = n;
    out.expected = want;
    out.rate = n as f64 / open_secs;
    let cpus: Vec<Duration> = held.iter().map(|(_, cpu)| *cpu).collect();
    out.set_cpu(&sample, &cpus, n);
    if let Some(e) = first_error.lock().ok().and_then(|f| f.clone()) {
        out.errors
            .push(format!("stopped after {n} connections: {e}"));
    } else if n < want {
        out.notes.push(format!(
            "time bound ({} s) hit after {n} connections",
            ctx.time.as_secs_f64()
        ));
    }
    ctx.progress.note(&format!("{what}: settling"));
    std::thread::sleep(SETTLE);
    if ctx.pid.is_none() {
        out.notes
            .push(format!("no --pid given: {server} RSS not measured"));
    }
    held.into_iter().flat_map(|(v, _)| v).collect()
}

/// The idle figures once `open` connections are held and the server settled: its RSS
/// now against `rss_before`, per connection.
pub fn idle_figures(
    out: &mut Outcome,
    requested: u64,
    open: u64,
    rss_before: Option<u64>,
    ctx: &Ctx,
) {
    let rss_after = ctx.pid.and_then(procfs::rss_kib);
    let bytes_per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if open > 0 => Some((a as f64 - b as f64) * 1024.0 / open as f64),
        _ => None,
    };
    out.idle = Some(Idle {
        conns_requested: requested,
        conns_open: open,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        bytes_per_conn,
        open_per_sec: out.rate,
    });
}
