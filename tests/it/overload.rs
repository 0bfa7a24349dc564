//! Overload (issue 8): 10,000 concurrent connections, a connect/close storm that must not
//! leak descriptors or memory, and a publisher flooding a slow subscriber that must meet
//! back-pressure instead of growing the server without bound. Figures are printed for
//! docs/reliability.md; the assertions are the guarantees.

// The figures are printed for the record (run with --nocapture).
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
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

/// One fast subscriber's run: its whole-run rate, and its rate over the second half of
/// the bytes (long after a stalled subscriber beside it has been cut off).
struct FastRun {
    msgs_per_sec: f64,
    second_half_msgs_per_sec: f64,
    took: Duration,
}

/// Throughput of one subscriber reading `n` messages of `size` bytes, with `stalled`
/// subscribers on the same subject that never read.
fn fast_subscriber_rate(stalled: usize, n: usize, size: usize) -> FastRun {
    let srv = Natrium::start(&[]);
    let mut stuck = Vec::new();
    for _ in 0..stalled {
        let mut s = handshake(srv.addr()).unwrap();
        s.write_all(b"SUB rate 1\r\nPING\r\n").unwrap();
        let mut b = [0u8; 64];
        let _ = s.read(&mut b).unwrap();
        stuck.push(s);
    }
    let mut fast = handshake(srv.addr()).unwrap();
    fast.write_all(b"SUB rate 1\r\nPING\r\n").unwrap();
    let mut b = [0u8; 64];
    let _ = fast.read(&mut b).unwrap();
    let expected = n * (size + "MSG rate 1 1024\r\n\r\n".len());
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        let mut halfway = None;
        let start = Instant::now();
        while total < expected {
            match fast.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
            if halfway.is_none() && total >= expected / 2 {
                halfway = Some(start.elapsed());
            }
        }
        (total, start.elapsed(), halfway.unwrap_or_default())
    });
    let mut publisher = handshake(srv.addr()).unwrap();
    let mut frame = format!("PUB rate {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'r', size));
    frame.extend_from_slice(b"\r\n");
    let batch: Vec<u8> = frame.repeat(64);
    for _ in 0..n / 64 {
        publisher.write_all(&batch).unwrap();
    }
    let (total, took, halfway) = reader.join().unwrap();
    assert_eq!(total, expected, "fast subscriber lost data");
    FastRun {
        msgs_per_sec: n as f64 / took.as_secs_f64(),
        second_half_msgs_per_sec: (n / 2) as f64 / (took - halfway).as_secs_f64(),
        took,
    }
}

/// Measurement for docs/reliability.md (run in release: `cargo test --release --test it
/// stalled_subscriber_throughput -- --ignored --nocapture`): a stalled subscriber on the same
/// subject must not cost the fast one more than 5% of its throughput. Reported: the
/// whole-run ratio, the ratio over the second half of the run (the stalled subscriber is cut
/// off within the first tenth), and the fixed time the stalled one cost, as medians over 15
/// alternating rounds (`STALL_ROUNDS=n` for another count): single runs on two cores vary
/// by ±15 %.
#[test]
#[ignore]
fn stalled_subscriber_throughput() {
    let mut alone = Vec::new();
    let mut with_stalled = Vec::new();
    let rounds = std::env::var("STALL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    for _ in 0..rounds {
        alone.push(fast_subscriber_rate(0, 1_000_000, 1024));
        with_stalled.push(fast_subscriber_rate(1, 1_000_000, 1024));
    }
    let median = |runs: &[FastRun], f: fn(&FastRun) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (a, w) = (
        median(&alone, |r| r.msgs_per_sec),
        median(&with_stalled, |r| r.msgs_per_sec),
    );
    let (a2, w2) = (
        median(&alone, |r| r.second_half_msgs_per_sec),
        median(&with_stalled, |r| r.second_half_msgs_per_sec),
    );
    let extra_ms = median(&with_stalled, |r| r.took.as_secs_f64() * 1e3)
        - median(&alone, |r| r.took.as_secs_f64() * 1e3);
    println!(
        "fast subscriber, 1 KiB messages: alone {a:.0} msgs/s, beside a stalled subscriber {w:.0} msgs/s ({:.1}%); second half of the run {a2:.0} vs {w2:.0} msgs/s ({:.1}%); the stalled subscriber cost {extra_ms:.0} ms",
        100.0 * w / a,
        100.0 * w2 / a2
    );
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
