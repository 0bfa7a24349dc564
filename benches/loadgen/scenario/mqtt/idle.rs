//! `mqtt-idle`: memory per idle MQTT connection.
//!
//! One connection first (CONNECT, SUBSCRIBE, DISCONNECT) so that what a broker sets up
//! once, on its first MQTT client (nats-server creates its MQTT streams then), is not
//! counted per connection; then, after a second, the broker's VmRSS; then `conns`
//! connections from `threads` threads, each with its own client id (clean session,
//! keep-alive 0) and one subscription (`<prefix>/<i>`, QoS 0), each CONNACK and SUBACK
//! awaited. After [`SETTLE`], VmRSS again: (after − before) / connections is the figure.
//! Every connection is then checked to be still open (a broker that dropped some would
//! make the figure meaningless). Needs the broker's pid; raises the generator's own
//! open-file limit first.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::wire::Client;
use crate::procfs::{self, CpuSample};
use crate::scenario::{Ctx, Idle, Outcome};

/// How long the broker gets to settle before its RSS is read (after the first connection,
/// and after the last).
const SETTLE: Duration = Duration::from_millis(1500);
/// The read buffer of a connection while it waits for CONNACK and SUBACK.
const HANDSHAKE_BUFFER: usize = 64;

#[derive(Clone, Debug)]
pub struct MqttIdleSpec {
    pub conns: u64,
    pub threads: usize,
    /// Connection `i` subscribes to `<prefix>/<i>`.
    pub prefix: String,
}

/// One connection: CONNECT, CONNACK, SUBSCRIBE, SUBACK; the socket.
fn open(addr: SocketAddr, id: &str, filter: &str) -> Result<TcpStream, String> {
    let mut c = Client::connect(addr, id, 0, HANDSHAKE_BUFFER)?;
    c.subscribe(1, filter, 0)?;
    Ok(c.stream)
}

/// How many of `streams` the broker has closed (or that fail to read).
fn closed(streams: &mut [TcpStream]) -> u64 {
    let mut n = 0;
    let mut buf = [0u8; 64];
    for s in streams {
        if s.set_nonblocking(true).is_err() {
            n += 1;
            continue;
        }
        match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Nothing is due on an idle connection with keep-alive 0: data, EOF or an
            // error all mean it is not idle and open any more.
            _ => n += 1,
        }
    }
    n
}

pub fn run(spec: &MqttIdleSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    let mut out = Outcome {
        name: "mqtt_idle".into(),
        scenario: "mqtt-idle".into(),
        ..Default::default()
    };
    // Our own sockets plus stdio and a margin.
    let limit = procfs::raise_nofile(spec.conns + 64);
    let mut want = spec.conns;
    if limit < spec.conns + 64 {
        want = limit.saturating_sub(64);
        out.errors.push(format!(
            "open-file limit is {limit}: opening {want} connections instead of {}",
            spec.conns
        ));
    }
    let pid = std::process::id();
    let addr = ctx.addr;
    let mut first = open(
        addr,
        &format!("natrium-bench-idle-{pid}-first"),
        &format!("{}/first", spec.prefix),
    )
    .map_err(|e| format!("first connection: {e}"))?;
    let _ = first.write_all(&super::wire::DISCONNECT_PACKET);
    drop(first);
    ctx.progress.note("MQTT idle connections: settling");
    std::thread::sleep(SETTLE);
    let rss_before = ctx.pid.and_then(procfs::rss_kib);
    let threads = spec.threads.max(1);
    let next = AtomicU64::new(0);
    let opened = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let sample = CpuSample::now(&ctx.server_pids());
    let start = Instant::now();
    let deadline = start + ctx.time;
    // Each worker keeps its sockets; the read buffers are dropped right away.
    let held: Vec<(Vec<TcpStream>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let cpu0 = procfs::thread_cpu();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Relaxed);
                        if i >= want || stop.load(Relaxed) || Instant::now() >= deadline {
                            break;
                        }
                        let id = format!("natrium-bench-idle-{pid}-{i}");
                        match open(addr, &id, &format!("{}/{i}", spec.prefix)) {
                            Ok(c) => {
                                mine.push(c);
                                opened.fetch_add(1, Relaxed);
                            }
                            Err(e) => {
                                if let Ok(mut f) = first_error.lock() {
                                    f.get_or_insert(format!("connection {i}: {e}"));
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
            ctx.progress
                .update("MQTT idle connections", opened.load(Relaxed), want);
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
    ctx.progress.note("MQTT idle connections: settling");
    std::thread::sleep(SETTLE);
    let rss_after = ctx.pid.and_then(procfs::rss_kib);
    let bytes_per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if n > 0 => Some((a as f64 - b as f64) * 1024.0 / n as f64),
        _ => None,
    };
    out.idle = Some(Idle {
        conns_requested: spec.conns,
        conns_open: n,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        bytes_per_conn,
        open_per_sec: out.rate,
    });
    if ctx.pid.is_none() {
        out.notes
            .push("no --pid given: broker RSS not measured".into());
    }
    let mut streams: Vec<TcpStream> = held.into_iter().flat_map(|(v, _)| v).collect();
    let gone = closed(&mut streams);
    if gone > 0 {
        out.errors.push(format!(
            "{gone} of the {n} connections were closed by the broker (or had data) after \
             SUBACK"
        ));
    }
    drop(streams);
    out.ok = out.errors.is_empty();
    Ok(out)
}
