//! Overload (issue 8): 10,000 concurrent connections, a connect/close storm that must not
//! leak descriptors or memory, and a publisher flooding a slow subscriber that must meet
//! back-pressure instead of growing the server without bound. Figures are printed for
//! docs/reliability.md; the assertions are the guarantees.

// The figures are printed for the record (run with --nocapture).
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{Natrium, Proc, Raw};

/// Raises this process's open-file limit (inherited by the server it starts).
fn raise_fd_limit(want: u64) -> u64 {
    rlimit::increase_nofile_limit(want).unwrap_or(0)
}

fn open_fds(p: &Proc) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Connects and completes CONNECT + PING/PONG with a blocking socket.
fn handshake(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")?;
    read_until_pong(&mut s)?;
    Ok(s)
}

/// Reads until a `PONG` has arrived, dropping what came before it.
fn read_until_pong(s: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !got.windows(6).any(|w| w == b"PONG\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

#[test]
fn ten_thousand_concurrent_connections() {
    let limit = raise_fd_limit(20_000);
    assert!(
        limit >= 12_000,
        "cannot raise the open-file limit (got {limit})"
    );
    let srv = Natrium::start(&[]);
    let before = srv.rss_kib();
    let mut held = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        match handshake(srv.addr()) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connection {i} failed: {e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = srv.rss_kib();
    let per_conn = (after.saturating_sub(before)) * 1024 / 10_000;
    println!("10,000 connections: RSS {before} KiB -> {after} KiB, {per_conn} B per connection");
    // nats-server needs about 40 KiB per connection here; the issue's target is 0.15x of that.
    assert!(per_conn < 6 * 1024, "{per_conn} B per idle connection");
    // Everything still answers.
    let mut raw = Raw::connect(srv.addr());
    raw.handshake(r#"{"verbose":false}"#);
    for s in held.iter_mut().step_by(997) {
        s.write_all(b"PING\r\n").unwrap();
        // A connection held for over two minutes (a slow run) also gets the server's own
        // keepalive PING first.
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while got.len() < 6 || got.starts_with(b"PING\r\n") {
            if got.starts_with(b"PING\r\n") {
                got.drain(..6);
                continue;
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"PONG\r\n");
    }
    drop(held);
}

#[test]
fn connection_storm_leaks_no_fds_or_memory() {
    // A small ring of closed connections (`/connz?state=closed`), so the ring filling up is
    // not mistaken for a leak.
    let dir = crate::harness::TempDir::new("storm");
    let conf = dir.write(
        "natrium.conf",
        "listen: 127.0.0.1:-1\nmax_closed_clients: 100\n",
    );
    let srv = Natrium::start(&["-c", conf.to_str().unwrap()]);
    // Warm up allocator and buffers, then take the baseline.
    for _ in 0..500 {
        drop(handshake(srv.addr()).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    let (fds0, rss0) = (open_fds(&srv), srv.rss_kib());
    let start = Instant::now();
    let mut n = 0;
    while n < 5_000 && start.elapsed() < Duration::from_secs(30) {
        let mut s = handshake(srv.addr()).unwrap();
        if n % 3 == 0 {
            // Some leave abruptly in the middle of an operation.
            let _ = s.write_all(b"PUB storm 10\r\nhalf");
        }
        drop(s);
        n += 1;
    }
    std::thread::sleep(Duration::from_millis(500));
    let (fds1, rss1) = (open_fds(&srv), srv.rss_kib());
    println!(
        "connection storm: {n} connections in {:?}; fds {fds0} -> {fds1}; RSS {rss0} -> {rss1} KiB",
        start.elapsed()
    );
    assert!(fds1 <= fds0 + 2, "descriptors leaked: {fds0} -> {fds1}");
    assert!(rss1 <= rss0 + 1024, "memory grew: {rss0} -> {rss1} KiB");
    let mut raw = Raw::connect(srv.addr());
    raw.handshake(r#"{"verbose":false}"#);
}

/// A crowd of devices that connect, say `CONNECT {}` and `PING`, and hang up at once
/// (without reading): the server gives their descriptors back within 0.3 s, as
/// nats-server does, whatever it still had to write to them.
#[test]
fn dead_peers_are_released_at_once() {
    const CROWD: usize = 3_000;
    assert!(
        raise_fd_limit(2 * CROWD as u64 + 1_000) > 2 * CROWD as u64,
        "this test needs {} open files",
        2 * CROWD
    );
    let srv = Natrium::start(&["-a", "127.0.0.1", "-p", "-1", "-m", "-1"]);
    let monitor = srv.monitor_port.expect("monitor port");
    let accepted = || crate::monitor::get_json(monitor, "/varz")["total_connections"].as_u64();
    let fds0 = open_fds(&srv);
    let mut crowd = Vec::with_capacity(CROWD);
    let start = Instant::now();
    while crowd.len() < CROWD && start.elapsed() < Duration::from_secs(30) {
        let mut s = TcpStream::connect(srv.addr()).expect("connect");
        let _ = s.write_all(b"CONNECT {}\r\nPING\r\n");
        crowd.push(s);
    }
    assert_eq!(crowd.len(), CROWD, "connected in time");
    let peak = open_fds(&srv);
    drop(crowd);
    let closed = Instant::now();
    // Released: back to the descriptors before, with every connection accepted.
    let mut fds = open_fds(&srv);
    while (fds > fds0 || accepted() < Some(CROWD as u64))
        && closed.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(10));
        fds = open_fds(&srv);
    }
    let took = closed.elapsed();
    println!("{CROWD} dead peers released in {took:?} ({fds0} -> {peak} -> {fds} descriptors)");
    assert_eq!(accepted(), Some(CROWD as u64), "all accepted");
    assert!(fds <= fds0, "descriptors held: {fds0} -> {fds}");
    assert!(
        took <= Duration::from_millis(300),
        "released after {took:?}"
    );
}

#[test]
fn flooding_publisher_meets_back_pressure_with_bounded_memory() {
    // A subscriber that reads slowly; the publisher writes as fast as it can. Server memory
    // must stay near max_pending, not grow with the flood.
    let srv = Natrium::start(&["--max_pending", "8388608"]);
    let mut sub = handshake(srv.addr()).unwrap();
    sub.write_all(b"SUB flood 1\r\nPING\r\n").unwrap();
    read_until_pong(&mut sub).unwrap();
    let mut buf = vec![0u8; 65536];
    let base = srv.rss_kib();
    let reader = std::thread::spawn(move || {
        // About 40 MB/s: far slower than the publisher.
        let mut total = 0usize;
        let mut closed = false;
        sub.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        loop {
            match sub.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => total += n,
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        (total, closed)
    });
    let mut publisher = handshake(srv.addr()).unwrap();
    let payload = vec![b'f'; 16 * 1024];
    let mut frame = b"PUB flood 16384\r\n".to_vec();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    let mut batch = Vec::new();
    for _ in 0..32 {
        batch.extend_from_slice(&frame);
    }
    let mut peak = 0;
    let start = Instant::now();
    let mut sent = 0usize;
    // 200 MB in total, or 15 s.
    while sent < 200 * 1024 * 1024 && start.elapsed() < Duration::from_secs(15) {
        publisher.write_all(&batch).unwrap();
        sent += batch.len();
        if sent % (8 * 1024 * 1024) < batch.len() {
            peak = peak.max(srv.rss_kib());
        }
    }
    publisher.write_all(b"PING\r\n").unwrap();
    let (delivered, closed) = reader.join().unwrap();
    peak = peak.max(srv.rss_kib());
    println!(
        "flood: {} MB published in {:?}, subscriber read {} MB (cut off: {closed}); server RSS {base} KiB, peak {peak} KiB",
        sent >> 20,
        start.elapsed(),
        delivered >> 20
    );
    // max_pending (8 MiB) + the read buffers + allocator slack, never the 200 MB flood.
    assert!(
        peak < base + 48 * 1024,
        "server grew to {peak} KiB from {base} KiB"
    );
}

/// Reads `MSG rate 1 <size>` frames from `sub` until `stop` is set, counting them in
/// `frames`. Only frame boundaries are looked at: a server PING (nats-server sends its first
/// one 2 s after a client connects) may sit between two frames.
fn count_frames(mut sub: TcpStream, size: usize, frames: &AtomicU64, stop: &AtomicBool) {
    let frame_len = format!("MSG rate 1 {size}\r\n\r\n").len() + size;
    sub.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut left_in_frame = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let k = match sub.read(&mut buf) {
            Ok(0) => panic!("the server closed the fast subscriber"),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => panic!("fast subscriber: {e}"),
        };
        let mut i = 0;
        while i < k {
            if left_in_frame == 0 {
                left_in_frame = match buf[i] {
                    b'M' => {
                        frames.fetch_add(1, Ordering::Relaxed);
                        frame_len
                    }
                    b'P' => "PING\r\n".len(),
                    other => panic!("unexpected byte {other} at a frame boundary"),
                };
            }
            let take = left_in_frame.min(k - i);
            i += take;
            left_in_frame -= take;
        }
    }
}

/// A raw connection subscribed to `rate` (sid 1), the SUB confirmed by a PONG.
fn subscribe_rate(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = handshake(addr).unwrap();
    s.write_all(b"SUB rate 1\r\nPING\r\n").unwrap();
    read_until_pong(&mut s).unwrap();
    s
}

/// How often the fast subscriber's count is sampled.
const TICK: Duration = Duration::from_millis(100);

/// What a fast subscriber received per [`TICK`] in each window of a continuous stream, and
/// how many subscribers the server cut off as slow consumers meanwhile (`None` when its
/// monitoring did not say).
struct Windows {
    ticks: Vec<Vec<u64>>,
    slow_consumers: Option<u64>,
}

/// One server, one publisher streaming 1 KiB messages without pause, one fast subscriber
/// counting them over `windows` windows of `ticks` [`TICK`]s each, after a 1 s warm-up. At
/// the start of every odd window a new subscriber on the same subject connects and never
/// reads (unless `control`); it is dropped at the window's end.
fn stream_with_stalled_windows(
    server: &Path,
    windows: usize,
    ticks: u32,
    control: bool,
) -> Windows {
    const SIZE: usize = 1024;
    let srv = crate::harness::spawn(server, &["-m", "-1"]);
    let fast = subscribe_rate(srv.addr());
    let frames = std::sync::Arc::new(AtomicU64::new(0));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let (frames, stop) = (frames.clone(), stop.clone());
        std::thread::spawn(move || count_frames(fast, SIZE, &frames, &stop))
    };
    let publisher = {
        let mut publisher = handshake(srv.addr()).unwrap();
        let stop = stop.clone();
        let mut frame = format!("PUB rate {SIZE}\r\n").into_bytes();
        frame.extend(std::iter::repeat_n(b'r', SIZE));
        frame.extend_from_slice(b"\r\n");
        let batch: Vec<u8> = frame.repeat(64);
        std::thread::spawn(move || {
            // Ends on `stop`, or when the server is gone at the end of the run.
            while !stop.load(Ordering::Relaxed) && publisher.write_all(&batch).is_ok() {}
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let mut per_window = Vec::new();
    let mut start = Instant::now();
    let mut before = frames.load(Ordering::Relaxed);
    for w in 0..windows {
        let stalled = (w % 2 == 1 && !control).then(|| subscribe_rate(srv.addr()));
        let mut counts = Vec::new();
        for k in 1..=ticks {
            std::thread::sleep((start + TICK * k).saturating_duration_since(Instant::now()));
            let now = frames.load(Ordering::Relaxed);
            counts.push(now - before);
            before = now;
        }
        per_window.push(counts);
        start += TICK * ticks;
        drop(stalled);
    }
    let slow_consumers =
        crate::monitor::get_json(srv.monitor_port.unwrap(), "/varz")["slow_consumers"].as_u64();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    drop(srv);
    let _ = publisher.join();
    Windows {
        ticks: per_window,
        slow_consumers,
    }
}

/// How many [`TICK`]s at the start of a window a stalled subscriber is given to be cut off.
const SETTLE_TICKS: usize = 3;

/// A window's whole count against its steady state: the median tick after the first
/// [`SETTLE_TICKS`], by then long after any stalled subscriber was cut off. Returns that
/// ratio and the time, in milliseconds, the first ticks fell short of the steady state.
fn against_own_steady_state(ticks: &[u64]) -> (f64, f64) {
    let mut rest = ticks[SETTLE_TICKS..].to_vec();
    rest.sort_unstable();
    let steady = rest[rest.len() / 2] as f64;
    let total: u64 = ticks.iter().sum();
    let short: f64 = ticks[..SETTLE_TICKS]
        .iter()
        .map(|&t| (steady - t as f64) / steady)
        .sum();
    (
        total as f64 / (steady * ticks.len() as f64),
        short * TICK.as_secs_f64() * 1e3,
    )
}

/// The median and the range of `v`.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Measurement for docs/reliability.md (run in release: `cargo test --release --test it
/// stalled_subscriber_throughput -- --ignored --nocapture`): a subscriber that never reads
/// must not cost a fast subscriber on the same subject more than 5% of its throughput.
///
/// One continuous stream of 1 KiB messages per server, cut into windows of 2 s
/// (`STALL_WINDOW_MS`, a multiple of 100); in every other window a new subscriber joins
/// that never reads and is cut off as a slow consumer once `max_pending` (64 MiB) is queued
/// for it, within the first 300 ms. The fast subscriber's count is sampled every 100 ms.
/// Over `STALL_PAIRS` (20) such windows, reported as medians and ranges:
/// * each window against its own steady state (the median 100 ms after the first 300):
///   the share of its throughput the fast subscriber kept, and the milliseconds of delivery
///   it lost; the windows nobody joins give the same figures for comparison (this machine
///   also wanders between speeds on its own);
/// * each window against the mean of its two neighbours, which is direct but noisier: this
///   machine's speed drifts by a third over tens of seconds.
///
/// The same run measures nats-server when installed (`STALL_SERVERS=natrium` to skip it).
/// `STALL_CONTROL=1` runs the same windows with nobody joining.
#[test]
#[ignore]
fn stalled_subscriber_throughput() {
    let pairs: usize = crate::harness::setting("STALL_PAIRS", 20);
    let ticks =
        (crate::harness::setting("STALL_WINDOW_MS", 2000usize) / 100).max(2 * SETTLE_TICKS) as u32;
    let control = std::env::var("STALL_CONTROL").is_ok();
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let mut servers = vec![("natrium", path(crate::harness::natrium_bin()))];
    servers.extend(crate::harness::nats_server_bin().map(|b| ("nats-server", path(b))));
    if let Ok(only) = std::env::var("STALL_SERVERS") {
        servers.retain(|(name, _)| only.split(',').any(|o| o == *name));
    }
    for (name, bin) in servers {
        let run = stream_with_stalled_windows(Path::new(&bin), 2 * pairs + 1, ticks, control);
        let totals: Vec<u64> = run.ticks.iter().map(|t| t.iter().sum()).collect();
        println!("  {name}: messages per window {totals:?}");
        let (mut kept, mut lost, mut kept_quiet, mut lost_quiet) = (vec![], vec![], vec![], vec![]);
        for (w, t) in run.ticks.iter().enumerate() {
            let (k, l) = against_own_steady_state(t);
            if w % 2 == 1 {
                kept.push(k);
                lost.push(l);
            } else {
                kept_quiet.push(k);
                lost_quiet.push(l);
            }
        }
        let neighbours: Vec<f64> = (1..totals.len())
            .step_by(2)
            .map(|i| 2.0 * totals[i] as f64 / (totals[i - 1] + totals[i + 1]) as f64)
            .collect();
        let window_s = ticks as f64 * TICK.as_secs_f64();
        let rate = totals.iter().step_by(2).sum::<u64>() as f64 / ((pairs + 1) as f64 * window_s);
        let pct = |(m, lo, hi): (f64, f64, f64)| {
            format!("{:.1}% ({:.1}-{:.1}%)", 100.0 * m, 100.0 * lo, 100.0 * hi)
        };
        let ms = |(m, lo, hi): (f64, f64, f64)| format!("{m:.0} ms ({lo:.0} to {hi:.0} ms)");
        let joined = if control {
            "nobody joined (control)"
        } else {
            "a subscriber that never reads joined"
        };
        // A window's own steady state is the unstalled one only if the stalled subscriber
        // was gone by then.
        let own = if control || run.slow_consumers == Some(pairs as u64) {
            format!(
                "it kept {} of its steady throughput and lost {} of delivery (in the windows between them: {} and {})",
                pct(spread(kept)),
                ms(spread(lost)),
                pct(spread(kept_quiet)),
                ms(spread(lost_quiet)),
            )
        } else {
            "the stalled subscribers were not all cut off within their window".to_string()
        };
        println!(
            "{name}: fast subscriber alone {rate:.0} msgs/s of 1 KiB; {pairs} windows of {window_s} s in which {joined}: {own}; against the neighbouring windows {}; slow consumers cut off: {:?}",
            pct(spread(neighbours)),
            run.slow_consumers,
        );
    }
}

/// A subscriber that stops reading falls tens of megabytes behind and, once it reads again,
/// gets every message once and in order (its buffer is compacted while it catches up, and
/// handed to the reclaim thread once drained).
#[test]
fn lagging_subscriber_catches_up_in_order() {
    const COUNT: usize = 6000;
    const SIZE: usize = 4096;
    let srv = Natrium::start(&["-m", "-1"]);
    let mut sub = handshake(srv.addr()).unwrap();
    sub.write_all(b"SUB lag 1\r\nPING\r\n").unwrap();
    read_until_pong(&mut sub).unwrap();
    let mut publisher = handshake(srv.addr()).unwrap();
    let mut batch = Vec::new();
    for seq in 0..COUNT {
        let payload = format!("{seq:08}").into_bytes();
        batch.extend_from_slice(format!("PUB lag {SIZE}\r\n").as_bytes());
        batch.extend_from_slice(&payload);
        batch.extend(std::iter::repeat_n(b'.', SIZE - payload.len()));
        batch.extend_from_slice(b"\r\n");
    }
    // 24 MiB: far past the 1 MiB from which a drained buffer goes to the reclaim thread,
    // short of the 48 MiB at which a subscriber that does not read would start to slow the
    // publisher down.
    publisher.write_all(&batch).unwrap();
    publisher.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 6];
    publisher.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"PONG\r\n");
    let connz = crate::monitor::get_json(srv.monitor_port.unwrap(), "/connz?sort=pending");
    let pending = connz["connections"][0]["pending_bytes"].as_u64().unwrap();
    assert!(
        pending > 8 << 20,
        "the subscriber should be megabytes behind: {connz}"
    );

    // Read it all back: MSG lag 1 4096\r\n<payload>\r\n, sequence numbers 0..COUNT.
    let mut buf = vec![0u8; 1 << 16];
    let line = format!("MSG lag 1 {SIZE}\r\n");
    let frame = line.len() + SIZE + 2;
    let mut stream = Vec::with_capacity(COUNT * frame);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream.len() < COUNT * frame && Instant::now() < deadline {
        match sub.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => stream.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(stream.len(), COUNT * frame, "bytes delivered");
    for (seq, msg) in stream.chunks(frame).enumerate() {
        assert_eq!(&msg[..line.len()], line.as_bytes(), "frame {seq}");
        let payload = &msg[line.len()..line.len() + SIZE];
        assert_eq!(
            &payload[..8],
            format!("{seq:08}").as_bytes(),
            "message order"
        );
        assert_eq!(&msg[frame - 2..], b"\r\n");
    }
}

/// One connection subscribes to `foo`, publishes 256,000 × 1 KiB to `foo` as fast as it can
/// and starts reading its socket only 0.5 s later, as a single-threaded client busy
/// publishing does (nats.node's `clobber.js`). nats-server stalls such a producer and every
/// message arrives; natrium must too, instead of cutting it off as a slow consumer. Returns
/// the messages received in order, whether the server closed the connection, and the log.
fn late_reading_self_subscriber(server: &Path) -> (usize, bool, String) {
    const COUNT: usize = 256_000;
    const SIZE: usize = 1024;
    let srv = crate::harness::spawn(server, &[]);
    let mut conn = handshake(srv.addr()).unwrap();
    conn.write_all(b"SUB foo 1\r\nPING\r\n").unwrap();
    read_until_pong(&mut conn).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let publisher = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(64 * (SIZE + 20));
        for seq in 0..COUNT {
            batch.extend_from_slice(format!("PUB foo {SIZE}\r\n{seq:010}").as_bytes());
            batch.extend(std::iter::repeat_n(b'.', SIZE - 10));
            batch.extend_from_slice(b"\r\n");
            if batch.len() >= 64 * SIZE || seq == COUNT - 1 {
                if writer.write_all(&batch).is_err() {
                    return;
                }
                batch.clear();
            }
        }
        let _ = writer.write_all(b"PING\r\n");
    });
    std::thread::sleep(Duration::from_millis(500));
    let line = format!("MSG foo 1 {SIZE}\r\n");
    let frame = line.len() + SIZE + 2;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut received = 0usize;
    let mut closed = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    'read: while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
        let mut at = 0;
        loop {
            let rest = &pending[at..];
            if rest.starts_with(b"PING\r\n") {
                at += 6;
            } else if rest.starts_with(b"PONG\r\n") {
                if received == COUNT {
                    break 'read;
                }
                at += 6;
            } else if rest.len() >= frame {
                assert_eq!(&rest[..line.len()], line.as_bytes(), "frame {received}");
                let seq = &rest[line.len()..line.len() + 10];
                assert_eq!(seq, format!("{received:010}").as_bytes(), "message order");
                received += 1;
                at += frame;
            } else {
                break;
            }
        }
        pending.drain(..at);
    }
    let _ = publisher.join();
    (received, closed, srv.log_text())
}

#[test]
fn late_reading_self_subscriber_gets_every_message_like_nats_server() {
    let nats = crate::harness::nats_server_bin().expect("nats-server (make deps)");
    let (got, closed, log) = late_reading_self_subscriber(&nats);
    assert_eq!((got, closed), (256_000, false), "nats-server: {log}");
    let (got, closed, log) = late_reading_self_subscriber(&crate::harness::natrium_bin());
    assert_eq!((got, closed), (256_000, false), "natrium: {log}");
    assert!(!log.contains("Slow Consumer"), "{log}");
}

/// A publisher that is its own subscriber and never reads is paused, not served forever: the
/// write deadline closes it as a slow consumer (as nats-server's would), and other clients
/// are served meanwhile.
#[test]
fn self_subscriber_that_never_reads_is_closed_at_the_write_deadline() {
    let srv = Natrium::start(&["--max_pending", "1048576", "--write_deadline", "1s"]);
    let mut conn = handshake(srv.addr()).unwrap();
    conn.write_all(b"SUB foo 1\r\nPING\r\n").unwrap();
    read_until_pong(&mut conn).unwrap();
    conn.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut chunk = Vec::new();
    for _ in 0..64 {
        chunk.extend_from_slice(b"PUB foo 1024\r\n");
        chunk.extend(std::iter::repeat_n(b'x', 1024));
        chunk.extend_from_slice(b"\r\n");
    }
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(20) {
        match conn.write(&chunk) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Paused: meanwhile another client is served at once.
                let mut other = Raw::connect(srv.addr());
                other.send_str("CONNECT {\"verbose\":false}\r\nPING\r\n");
                assert!(other.read_line(Duration::from_secs(2)).is_some());
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
        if srv
            .log_text()
            .contains("Slow Consumer Detected: WriteDeadline")
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", start.elapsed());
    assert!(
        srv.wait_log(
            "Slow Consumer Detected: WriteDeadline",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log_text()
    );
}
