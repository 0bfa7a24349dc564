//! The WebSocket listener: raw upgrade requests and frames compared with nats-server's
//! answers, wss with a test certificate, origin checks, the handshake timeout, junk frames
//! beside a TCP stream, compression and browser framing; real clients (nats.ws and nats.js
//! `wsconnect` under Node, next to async-nats over TCP) and a real browser (headless
//! Chromium via playwright-core) in `node_*` and `browser_*` tests.
//!
//! natrium is started with its `--websocket_*` flags (config files arrive with the config
//! work); nats-server, which has no such flags, gets an equivalent `websocket {}` file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{nats_server_bin, root, rt, spawn, Natrium, Proc, Raw};
use crate::tls::Certs;

/// The WebSocket port a server logged (`Listening for websocket clients on ws://h:p`).
fn ws_port(p: &Proc) -> u16 {
    let log = p.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("Listening for websocket clients on "))
        .unwrap_or_else(|| panic!("no websocket listener in log:\n{log}"));
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("websocket port")
}

fn ws_addr(p: &Proc) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ws_port(p)))
}

/// natrium with a plain ws:// listener on a random port, plus `extra` flags.
fn natrium_ws(extra: &[&str]) -> Proc {
    let mut args = vec![
        "--websocket_port",
        "-1",
        "--websocket_host",
        "127.0.0.1",
        "--websocket_no_tls",
    ];
    args.extend_from_slice(extra);
    Natrium::start(&args)
}

/// nats-server with the same listener, from a config file.
fn nats_server_ws(name: &str, block_extra: &str) -> Option<(Proc, PathBuf)> {
    let bin = nats_server_bin()?;
    let path = std::env::temp_dir().join(format!("natrium-ws-{name}-{}.conf", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "listen: \"127.0.0.1:-1\"\nwebsocket {{\n  listen: \"127.0.0.1:-1\"\n  no_tls: true\n{block_extra}\n}}\n"
        ),
    )
    .unwrap();
    let p = spawn(&bin, &["-c", path.to_str().unwrap()]);
    Some((p, path))
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade_request(host: &str, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A frame as a server sends it.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    op: u8,
    fin: bool,
    rsv1: bool,
    payload: Vec<u8>,
}

/// A blocking WebSocket client over any stream (TCP or rustls).
struct Ws<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
    /// The 101 response head.
    head: String,
    /// NATS bytes received in data frames and not yet consumed.
    data: Vec<u8>,
    frames: Vec<Frame>,
    closed: bool,
}

fn mask_frame(op: u8, payload: &[u8], fin: bool, rsv1: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    let b0 = op | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 };
    let len = payload.len();
    if len <= 125 {
        f.extend_from_slice(&[b0, 0x80 | len as u8]);
    } else if len < 65536 {
        f.extend_from_slice(&[b0, 0x80 | 126]);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.extend_from_slice(&[b0, 0x80 | 127]);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let key: [u8; 4] = fastrand::u32(..).to_be_bytes();
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    f
}

impl<S: Read + Write> Ws<S> {
    fn handshake(s: S, host: &str, extra_headers: &str) -> Ws<S> {
        let mut ws = Ws {
            s,
            buf: Vec::new(),
            head: String::new(),
            data: Vec::new(),
            frames: Vec::new(),
            closed: false,
        };
        ws.s.write_all(upgrade_request(host, extra_headers).as_bytes())
            .expect("send request");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ws.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            assert!(Instant::now() < deadline, "no upgrade response");
            ws.read_some();
            assert!(
                !ws.closed || ws.buf.windows(4).any(|w| w == b"\r\n\r\n"),
                "closed during upgrade: {:?}",
                String::from_utf8_lossy(&ws.buf)
            );
        }
        let end = ws.buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        ws.head = String::from_utf8_lossy(&ws.buf[..end]).into_owned();
        ws.buf.drain(..end);
        assert!(
            ws.head.starts_with("HTTP/1.1 101 "),
            "upgrade refused: {}",
            ws.head
        );
        ws
    }

    fn read_some(&mut self) {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => self.closed = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => self.closed = true,
        }
    }

    /// Parses complete frames from `buf`.
    fn parse_frames(&mut self) {
        loop {
            if self.buf.len() < 2 {
                return;
            }
            let (b0, b1) = (self.buf[0], self.buf[1]);
            assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
            let (len, hl) = match b1 & 0x7f {
                126 if self.buf.len() >= 4 => {
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 if self.buf.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => return,
                n => (n as usize, 2),
            };
            if self.buf.len() < hl + len {
                return;
            }
            let payload = self.buf[hl..hl + len].to_vec();
            self.buf.drain(..hl + len);
            let f = Frame {
                op: b0 & 0x0f,
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                payload,
            };
            if (f.op == 1 || f.op == 2 || f.op == 0) && !f.rsv1 {
                self.data.extend_from_slice(&f.payload);
            }
            self.frames.push(f);
        }
    }

    fn send(&mut self, op: u8, payload: &[u8]) {
        let f = mask_frame(op, payload, true, false);
        self.s.write_all(&f).expect("send frame");
    }

    fn send_nats(&mut self, text: &str) {
        self.send(2, text.as_bytes());
    }

    /// Reads until the NATS data received contains `needle`; returns everything up to it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = needle.as_bytes();
        loop {
            self.parse_frames();
            if let Some(p) = self.data.windows(n.len()).position(|w| w == n) {
                let out = String::from_utf8_lossy(&self.data[..p + n.len()]).into_owned();
                self.data.drain(..p + n.len());
                return out;
            }
            assert!(
                Instant::now() < deadline && !self.closed,
                "expected {needle:?}, got {:?} (closed: {})",
                String::from_utf8_lossy(&self.data),
                self.closed
            );
            self.read_some();
        }
    }

    /// Reads until the server closes the socket (or `within` passes); true if closed.
    fn wait_closed(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.closed && Instant::now() < deadline {
            self.read_some();
        }
        self.parse_frames();
        self.closed
    }

    /// The close frame received, as (status, reason).
    fn close_frame(&self) -> Option<(u16, String)> {
        self.frames.iter().find(|f| f.op == 8).map(|f| {
            if f.payload.len() >= 2 {
                (
                    u16::from_be_bytes([f.payload[0], f.payload[1]]),
                    String::from_utf8_lossy(&f.payload[2..]).into_owned(),
                )
            } else {
                (1005, String::new())
            }
        })
    }
}

fn set_timeouts(s: &TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(50))).ok();
}

/// A plain ws:// client with short read timeouts.
fn ws_client(addr: SocketAddr, extra: &str) -> Ws<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    set_timeouts(&s);
    Ws::handshake(s, &addr.to_string(), extra)
}

fn info_json(ws: &mut Ws<impl Read + Write>) -> serde_json::Value {
    let line = ws.expect("\r\n");
    let json = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not INFO: {line}"))
        .trim();
    serde_json::from_str(json).expect("INFO json")
}

#[test]
fn upgrade_info_and_messages_both_ways_with_a_tcp_client() {
    let srv = natrium_ws(&["-m", "-1"]);
    let addr = ws_addr(&srv);
    let mut ws = ws_client(addr, "");
    assert!(ws
        .head
        .contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    let info = info_json(&mut ws);
    // nats-server's generateClientInfoJSON: the WebSocket listener's host and port.
    assert_eq!(info["port"], addr.port() as u64);
    assert_eq!(info["host"], "127.0.0.1");
    assert!(info.get("tls_required").is_none());
    assert!(info.get("connect_urls").is_none());
    assert!(srv.log_text().contains(&format!(
        "Listening for websocket clients on ws://127.0.0.1:{}",
        addr.port()
    )));
    assert!(srv
        .log_text()
        .contains("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!"));

    ws.send_nats(
        "CONNECT {\"verbose\":false,\"protocol\":1,\"headers\":true}\r\nSUB to.ws 1\r\nPING\r\n",
    );
    ws.expect("PONG\r\n");
    let mut tcp = Raw::connect(srv.addr());
    tcp.handshake("{\"verbose\":false,\"headers\":true}");
    tcp.send_str("SUB to.tcp 9\r\nPING\r\n");
    tcp.expect("PONG\r\n");
    // /connz tells the transports apart as nats-server does (`type`).
    let connz = crate::monitor::get_json(srv.monitor_port.expect("monitor port"), "/connz");
    let mut types: Vec<&str> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap_or(""))
        .collect();
    types.sort();
    assert_eq!(types, vec!["nats", "websocket"], "{connz}");
    // Text frames are NATS protocol too (nats-server does not treat them differently).
    ws.send(1, b"PUB to.tcp 5\r\nhello\r\n");
    tcp.expect("MSG to.tcp 9 5\r\nhello\r\n");
    tcp.send_str("HPUB to.ws reply.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    ws.expect("HMSG to.ws 1 reply.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    // A message split over many small frames, and a big one in one frame.
    let big = "x".repeat(200_000);
    let op = format!("PUB to.tcp {}\r\n{big}\r\n", big.len());
    for piece in op.as_bytes()[..100].chunks(7) {
        ws.send(2, piece);
    }
    ws.send(2, &op.as_bytes()[100..]);
    let got = tcp.expect(&format!("{big}\r\n"));
    assert!(got.starts_with("MSG to.tcp 9 200000\r\n"), "{}", &got[..40]);
    // A WebSocket ping gets a pong with the same payload.
    ws.send(9, b"are you there");
    ws.send_nats("PING\r\n");
    ws.expect("PONG\r\n");
    assert!(ws
        .frames
        .iter()
        .any(|f| f.op == 10 && f.payload == b"are you there"));
    // Closing: the close frame is answered with the same status and reason.
    ws.send(8, &[&1000u16.to_be_bytes()[..], b"bye"].concat());
    assert!(ws.wait_closed(Duration::from_secs(3)));
    assert_eq!(ws.close_frame(), Some((1000, "bye".into())));
}

/// Sends `request` on a fresh connection and returns the response (Date removed), waiting
/// `wait` for more; and whether the server closed the connection.
fn http_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).ok();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\n");
    (text, closed)
}

/// Every upgrade check, against both servers: same status line, headers, body, and whether
/// the connection stays open (Go's HTTP/1.1 keep-alive) or closes.
#[test]
fn handshake_errors_match_nats_server() {
    let srv = natrium_ws(&["--websocket_allowed_origins", "http://good.example:8080"]);
    let (ns, conf) = nats_server_ws(
        "handshake",
        "  allowed_origins: [\"http://good.example:8080\"]",
    )
    .expect("nats-server (make deps installs it)");
    let host = "127.0.0.1:8080";
    let base = upgrade_request(host, "");
    let cases: Vec<(&str, String)> = vec![
        ("post", base.replacen("GET", "POST", 1)),
        (
            "origin",
            upgrade_request(host, "Origin: http://evil.example\r\n"),
        ),
        (
            "origin-port",
            upgrade_request(host, "Origin: http://good.example\r\n"),
        ),
        (
            "origin-scheme",
            upgrade_request(host, "Origin: https://good.example:8080\r\n"),
        ),
        ("no-upgrade", base.replace("Upgrade: websocket\r\n", "")),
        ("no-connection", base.replace("Connection: Upgrade\r\n", "")),
        (
            "no-key",
            base.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
        ),
        ("bad-key", base.replace(KEY, "c2hvcnQ=")),
        ("version", base.replace("Version: 13", "Version: 8")),
        ("garbage", "HELLO WORLD\r\n\r\n".into()),
        (
            "no-host-1.1",
            base.replace(&format!("Host: {host}\r\n"), ""),
        ),
        (
            "no-host-1.0",
            base.replace(&format!("Host: {host}\r\n"), "")
                .replace("HTTP/1.1", "HTTP/1.0"),
        ),
        ("mqtt", base.replacen("GET / ", "GET /mqtt ", 1)),
        (
            "close",
            upgrade_request(host, "Origin: http://evil.example\r\nConnection: close\r\n"),
        ),
    ];
    let wait = Duration::from_millis(400);
    for (name, req) in &cases {
        let mine = http_exchange(ws_addr(&srv), req.as_bytes(), wait);
        let theirs = http_exchange(ws_addr(&ns), req.as_bytes(), wait);
        assert_eq!(mine, theirs, "case {name}");
        assert!(!mine.0.is_empty(), "case {name}: no response");
    }
    // Allowed origin and no origin: both upgrade.
    for extra in ["Origin: http://good.example:8080\r\n", ""] {
        let req = upgrade_request(host, extra);
        let (mine, _) = http_exchange(ws_addr(&srv), req.as_bytes(), wait);
        let (theirs, _) = http_exchange(ws_addr(&ns), req.as_bytes(), wait);
        let head = |s: &str| s.split("\n\n").next().unwrap_or("").to_string();
        assert_eq!(head(&mine), head(&theirs));
        assert!(mine.starts_with("HTTP/1.1 101 Switching Protocols"));
    }
    assert!(srv
        .log_text()
        .contains("websocket handshake error: origin not allowed: not in the allowed list"));
    let _ = std::fs::remove_file(conf);
}

#[test]
fn same_origin_is_checked_against_the_host() {
    let srv = natrium_ws(&["--websocket_same_origin"]);
    let addr = ws_addr(&srv);
    let ok = upgrade_request(&addr.to_string(), &format!("Origin: http://{addr}\r\n"));
    assert!(
        http_exchange(addr, ok.as_bytes(), Duration::from_millis(300))
            .0
            .starts_with("HTTP/1.1 101")
    );
    let bad = upgrade_request(&addr.to_string(), "Origin: http://elsewhere.example\r\n");
    let (resp, _) = http_exchange(addr, bad.as_bytes(), Duration::from_millis(300));
    assert!(resp.starts_with("HTTP/1.1 403 Forbidden"), "{resp}");
    assert!(srv.wait_log(
        "origin not allowed: not same origin",
        Duration::from_secs(2)
    ));
}

#[test]
fn tls_is_required_unless_no_tls() {
    let out = std::process::Command::new(crate::harness::natrium_bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "--websocket_port", "-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("websocket requires TLS configuration"),
        "{err}"
    );
}

#[test]
fn silent_socket_is_cut_at_the_handshake_timeout() {
    let srv = natrium_ws(&["--websocket_handshake_timeout", "500ms"]);
    let addr = ws_addr(&srv);
    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    // One that sent half a request is cut too.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Meanwhile clients on both ports work.
    let mut ws = ws_client(addr, "");
    ws.send_nats("CONNECT {}\r\nPING\r\n");
    ws.expect("PONG\r\n");
    let mut tcp = Raw::connect(srv.addr());
    tcp.handshake("{}");
    for s in [&mut silent, &mut half] {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut b = [0u8; 64];
        // Go's server closes without an answer; so does natrium.
        assert_eq!(s.read(&mut b).unwrap_or(0), 0, "expected a bare close");
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    // The upgraded client is not subject to it.
    std::thread::sleep(Duration::from_millis(300));
    ws.send_nats("PING\r\n");
    ws.expect("PONG\r\n");
}

#[test]
fn broken_frames_get_nats_server_close_codes() {
    let srv = natrium_ws(&["--max_payload", "1024"]);
    let addr = ws_addr(&srv);
    let unmasked = {
        let mut f = vec![0x82, 6];
        f.extend_from_slice(b"PING\r\n");
        f
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (unmasked, 1002, "mask bit missing"),
        (mask_frame(3, b"x", true, false), 1002, "unknown opcode 3"),
        (
            mask_frame(2, b"x", true, true),
            1002,
            "compressed frame received without negotiated permessage-deflate",
        ),
        (
            mask_frame(9, &[0; 126], true, false),
            1002,
            "control frame length bigger than maximum allowed of 125 bytes",
        ),
        (
            mask_frame(0, b"PING\r\n", true, false),
            1002,
            "invalid continuation frame",
        ),
        (
            mask_frame(8, &1005u16.to_be_bytes(), true, false),
            1002,
            "invalid close status code 1005",
        ),
        (
            mask_frame(
                8,
                &[&1000u16.to_be_bytes()[..], &[0xff]].concat(),
                true,
                false,
            ),
            1007,
            "invalid utf8 body in close frame",
        ),
        (
            mask_frame(2, b"PUB foo 2000\r\n", true, false),
            1009,
            "Maximum Message Payload Exceeded",
        ),
        (
            mask_frame(2, b"FOO BAR\r\n", true, false),
            1002,
            "Protocol Violation",
        ),
    ];
    let mut tcp = Raw::connect(srv.addr());
    tcp.handshake("{}");
    for (frame, status, reason) in cases {
        let mut ws = ws_client(addr, "");
        ws.send_nats("CONNECT {\"verbose\":false}\r\nPING\r\n");
        ws.expect("PONG\r\n");
        ws.s.write_all(&frame).unwrap();
        assert!(
            ws.wait_closed(Duration::from_secs(3)),
            "{reason}: not closed"
        );
        assert_eq!(ws.close_frame(), Some((status, reason.to_string())));
    }
    // The TCP client saw none of it.
    tcp.send_str("PING\r\n");
    tcp.expect("PONG\r\n");
    assert!(srv.log_text().contains("- read error: mask bit missing"));
    assert!(srv.log_text().contains(" - wid:"));
}

/// Junk from many WebSocket connections while a TCP publisher streams sequenced messages to
/// a TCP subscriber: every message arrives, in order.
#[test]
fn junk_frame_flood_leaves_a_tcp_stream_intact() {
    let srv = natrium_ws(&["--reactors", "2"]);
    let addr = ws_addr(&srv);
    const N: usize = 20_000;
    let mut sub = Raw::connect(srv.addr());
    sub.handshake("{\"verbose\":false}");
    sub.send_str("SUB seq 1\r\nPING\r\n");
    sub.expect("PONG\r\n");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut junkers = Vec::new();
    for j in 0..4 {
        let stop = stop.clone();
        junkers.push(std::thread::spawn(move || {
            let mut rounds = 0u32;
            let mut rng = fastrand::Rng::with_seed(j);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && rounds < 2000 {
                rounds += 1;
                let Ok(s) = TcpStream::connect(addr) else {
                    continue;
                };
                s.set_read_timeout(Some(Duration::from_millis(200))).ok();
                let mut s = s;
                let kind = rng.u8(0..6);
                let mut junk: Vec<u8> = match kind {
                    // Random bytes instead of an HTTP request.
                    0 => (0..rng.usize(1..2000)).map(|_| rng.u8(..)).collect(),
                    _ => upgrade_request(&addr.to_string(), "").into_bytes(),
                };
                let _ = s.write_all(&junk);
                if kind == 0 {
                    continue;
                }
                let mut head = [0u8; 512];
                let _ = s.read(&mut head);
                junk.clear();
                match kind {
                    // Random frames.
                    1 => junk.extend((0..rng.usize(1..4000)).map(|_| rng.u8(..))),
                    // Valid frames with random protocol bytes.
                    2 => {
                        let p: Vec<u8> = (0..rng.usize(1..3000)).map(|_| rng.u8(..)).collect();
                        junk.extend(mask_frame(2, &p, true, false));
                    }
                    // Text frames with invalid UTF-8 and a bad op.
                    3 => junk.extend(mask_frame(1, &[0xff, 0xfe, b'\r', b'\n'], true, false)),
                    // A huge declared length, never sent.
                    4 => {
                        junk.extend_from_slice(&[0x82, 0xff]);
                        junk.extend_from_slice(&(1u64 << 40).to_be_bytes());
                        junk.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
                    }
                    // Many pings, never reading the pongs.
                    _ => {
                        for _ in 0..200 {
                            junk.extend(mask_frame(9, b"ping", true, false));
                        }
                    }
                }
                let _ = s.write_all(&junk);
            }
        }));
    }
    let mut publisher = Raw::connect(srv.addr());
    publisher.handshake("{\"verbose\":false}");
    let mut batch = String::new();
    for i in 0..N {
        batch.push_str(&format!("PUB seq {}\r\n{i}\r\n", i.to_string().len()));
        if batch.len() > 16 * 1024 {
            publisher.send_str(&batch);
            batch.clear();
        }
    }
    batch.push_str("PING\r\n");
    publisher.send_str(&batch);
    publisher.expect("PONG\r\n");
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < N {
        assert!(
            Instant::now() < deadline,
            "only {next} of {N} messages arrived"
        );
        let line = sub.read_line(Duration::from_secs(5)).expect("MSG line");
        let payload = sub.read_line(Duration::from_secs(5)).expect("payload");
        assert!(line.starts_with("MSG seq 1 "), "{line}");
        assert_eq!(payload, next.to_string(), "out of order");
        next += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for j in junkers {
        j.join().unwrap();
    }
    // Still serving WebSocket clients.
    let mut ws = ws_client(addr, "");
    ws.send_nats("CONNECT {}\r\nPING\r\n");
    ws.expect("PONG\r\n");
}

#[test]
fn compression_when_negotiated() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    let srv = natrium_ws(&["--websocket_compression"]);
    let addr = ws_addr(&srv);
    let mut ws = ws_client(
        addr,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert!(ws.head.contains(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
    ));
    // A compressed client message.
    let text = b"CONNECT {\"verbose\":false}\r\nSUB z 1\r\nPING\r\n";
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(256);
    c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
    ws.s.write_all(&mask_frame(2, &out, true, true)).unwrap();
    // INFO arrives compressed (it is over 64 bytes); PONG small and plain.
    ws.expect("PONG\r\n");
    let mut tcp = Raw::connect(srv.addr());
    tcp.handshake("{}");
    let payload = "compress me ".repeat(1000);
    tcp.send_str(&format!("PUB z {}\r\n{payload}\r\nPING\r\n", payload.len()));
    tcp.expect("PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    let inflate = |p: &[u8]| {
        let mut d = Decompress::new(false);
        let mut input = p.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut o = Vec::with_capacity(64 * 1024);
        d.decompress_vec(&input, &mut o, FlushDecompress::Sync)
            .unwrap();
        String::from_utf8(o).unwrap()
    };
    loop {
        ws.parse_frames();
        let texts: Vec<String> = ws
            .frames
            .iter()
            .filter(|f| f.rsv1)
            .map(|f| inflate(&f.payload))
            .collect();
        if texts.iter().any(|t| t.contains(&payload)) {
            assert!(texts[0].starts_with("INFO "));
            let msg = texts.iter().find(|t| t.contains(&payload)).unwrap();
            assert!(msg.starts_with(&format!("MSG z 1 {}\r\n", payload.len())));
            break;
        }
        assert!(Instant::now() < deadline, "no compressed MSG");
        ws.read_some();
    }
}

#[test]
fn browsers_get_4k_frames() {
    let srv = natrium_ws(&[]);
    let addr = ws_addr(&srv);
    let mut ws = ws_client(
        addr,
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156\r\n",
    );
    ws.send_nats("CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n");
    ws.expect("PONG\r\n");
    let payload = "b".repeat(20_000);
    ws.send_nats(&format!("PUB big {}\r\n{payload}\r\n", payload.len()));
    ws.expect(&format!("{payload}\r\n"));
    assert!(ws.frames.iter().all(|f| f.payload.len() <= 4096));
    assert!(ws.frames.iter().filter(|f| f.payload.len() == 4096).count() >= 4);
}

#[test]
fn slow_websocket_consumer_is_cut_off_alone() {
    let srv = natrium_ws(&["--max_pending", "1048576"]);
    let addr = ws_addr(&srv);
    // A subscriber that never reads.
    let mut slow = ws_client(addr, "");
    slow.send_nats("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n");
    slow.expect("PONG\r\n");
    let mut fast = ws_client(addr, "");
    fast.send_nats("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n");
    fast.expect("PONG\r\n");
    let mut publisher = Raw::connect(srv.addr());
    publisher.handshake("{\"verbose\":false}");
    let chunk = "p".repeat(32 * 1024);
    let reader = std::thread::spawn(move || {
        let mut total = 0usize;
        let deadline = Instant::now() + Duration::from_secs(20);
        while total < 400 && Instant::now() < deadline {
            fast.expect(&format!("{}\r\n", "p".repeat(32 * 1024)));
            total += 1;
        }
        total
    });
    for _ in 0..400 {
        publisher.send_str(&format!("PUB flood {}\r\n{chunk}\r\n", chunk.len()));
    }
    publisher.send_str("PING\r\n");
    publisher.expect("PONG\r\n");
    assert_eq!(reader.join().unwrap(), 400);
    assert!(
        srv.wait_log("Slow Consumer Detected", Duration::from_secs(10)),
        "{}",
        srv.log_text()
    );
    assert!(srv.log_text().contains("wid:"));
    drop(slow);
}

/// A TLS client that trusts the test CA.
fn tls_stream(
    addr: SocketAddr,
    certs: &Certs,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(certs.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    set_timeouts(&sock);
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn wss_with_a_test_certificate() {
    let certs = Certs::new("wss");
    let (cert, key) = (certs.path("server.pem"), certs.path("server-key.pem"));
    let srv = Natrium::start(&[
        "--websocket_port",
        "-1",
        "--websocket_host",
        "127.0.0.1",
        "--websocket_tlscert",
        &cert,
        "--websocket_tlskey",
        &key,
        "--websocket_handshake_timeout",
        "1s",
    ]);
    assert!(srv
        .log_text()
        .contains("Listening for websocket clients on wss://127.0.0.1:"));
    assert!(!srv.log_text().contains("DO NOT USE IN PRODUCTION"));
    let addr = ws_addr(&srv);
    let mut ws = Ws::handshake(tls_stream(addr, &certs), &addr.to_string(), "");
    let info = info_json(&mut ws);
    assert_eq!(info["tls_required"], true);
    assert_eq!(info["tls_available"], true);
    assert_eq!(info["port"], addr.port() as u64);
    ws.send_nats("CONNECT {\"verbose\":false,\"tls_required\":true}\r\nSUB secure 1\r\nPING\r\n");
    ws.expect("PONG\r\n");
    let mut tcp = Raw::connect(srv.addr());
    assert!(
        !tcp.info.contains("tls_required"),
        "client port is plain: {}",
        tcp.info
    );
    tcp.handshake("{}");
    let payload = "s".repeat(100_000);
    tcp.send_str(&format!("PUB secure {}\r\n{payload}\r\n", payload.len()));
    ws.expect(&format!("MSG secure 1 100000\r\n{payload}\r\n"));
    // A plaintext upgrade request on the wss port gets nothing useful and is dropped.
    let (resp, closed) = http_exchange(
        addr,
        upgrade_request(&addr.to_string(), "").as_bytes(),
        Duration::from_secs(3),
    );
    assert!(!resp.contains("101"), "{resp}");
    assert!(closed);
    // A TLS client that stops after the handshake is cut at the handshake timeout.
    let mut idle = tls_stream(addr, &certs);
    let _ = idle.write_all(b"");
    let _ = idle.flush();
    idle.sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .ok();
    let mut b = [0u8; 16];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match idle.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        start.elapsed() < Duration::from_millis(2900),
        "idle wss client kept open"
    );
}

// ----- real clients ----------------------------------------------------------------------

fn node_dir() -> PathBuf {
    let dir = root().join("tests/node");
    assert!(
        dir.join("node_modules/nats.ws").exists() && dir.join("node_modules/ws").exists(),
        "tests/node/node_modules is missing nats.ws/ws: run `make deps`"
    );
    dir
}

/// Runs a Node script against natrium (WebSocket URL in `WS_URL`) while async-nats, over
/// TCP, serves the other side: a responder on `svc.echo` (echoing payload and headers), a
/// member of queue group `q` on `work`, and a forwarder from `ws.out` to `tcp.in.<n>`.
/// The script prints one JSON line with what it observed.
fn run_node_against_tcp(script: &str, args: &[&str]) -> serde_json::Value {
    use futures::StreamExt;
    let srv = natrium_ws(&[]);
    let ws_url = format!("ws://127.0.0.1:{}", ws_port(&srv));
    let dir = node_dir();
    let url = srv.url();
    let runtime = rt();
    let (tcp_count, node_out) = runtime.block_on(async move {
        let nc = async_nats::connect(url).await.unwrap();
        // Request/reply: echo with a header added.
        let mut svc = nc.subscribe("svc.echo").await.unwrap();
        let nc2 = nc.clone();
        tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                if let Some(reply) = m.reply {
                    let mut h = m.headers.clone().unwrap_or_default();
                    h.insert("X-Served-By", "async-nats");
                    let mut body = b"echo:".to_vec();
                    body.extend_from_slice(&m.payload);
                    nc2.publish_with_headers(reply, h, body.into())
                        .await
                        .unwrap();
                }
            }
        });
        // Queue group member.
        let mut q = nc.queue_subscribe("work", "q".into()).await.unwrap();
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = counter.clone();
        tokio::spawn(async move {
            while q.next().await.is_some() {
                c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        // Messages from the WebSocket side, republished for it to count (round trip).
        let mut from_ws = nc.subscribe("ws.out").await.unwrap();
        let nc3 = nc.clone();
        tokio::spawn(async move {
            while let Some(m) = from_ws.next().await {
                nc3.publish("tcp.in", m.payload).await.unwrap();
            }
        });
        nc.flush().await.unwrap();
        // Ask the WebSocket client (a responder there) something, from TCP.
        let nc4 = nc.clone();
        let asker = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match nc4.request("ws.svc", "from tcp".into()).await {
                    Ok(m) => return String::from_utf8_lossy(&m.payload).into_owned(),
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => return format!("error: {e}"),
                }
            }
        });
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(script)
            .args(args)
            .current_dir(&dir)
            .env("WS_URL", &ws_url)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("node script timed out")
            .expect("node");
        let asked = tokio::time::timeout(Duration::from_secs(5), asker)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        (
            (counter.load(std::sync::atomic::Ordering::SeqCst), asked),
            out,
        )
    });
    let stdout = String::from_utf8_lossy(&node_out.stdout);
    assert!(
        node_out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&node_out.stderr)
    );
    let line = stdout.lines().last().unwrap_or("");
    let mut v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["tcp_queue_count"] = (tcp_count.0 as u64).into();
    v["tcp_asked"] = tcp_count.1.into();
    v
}

fn check_node_result(v: &serde_json::Value) {
    // Pub/sub both ways.
    assert_eq!(v["received_from_tcp"], 100, "{v}");
    assert_eq!(v["in_order"], true, "{v}");
    // Request/reply with headers, WebSocket → TCP.
    assert_eq!(v["reply"], "echo:hello", "{v}");
    assert_eq!(v["reply_header"], "async-nats", "{v}");
    assert_eq!(v["echoed_header"], "from-ws", "{v}");
    // Request/reply, TCP → WebSocket.
    assert_eq!(v["tcp_asked"], "ws says: from tcp", "{v}");
    // Queue group across both transports: each message once, both members used.
    let ws_q = v["ws_queue_count"].as_u64().unwrap();
    let tcp_q = v["tcp_queue_count"].as_u64().unwrap();
    assert_eq!(ws_q + tcp_q, 200, "{v}");
    assert!(ws_q > 0 && tcp_q > 0, "{v}");
}

#[test]
fn node_nats_ws_with_async_nats_over_tcp() {
    let v = run_node_against_tcp("ws_clients.mjs", &["nats.ws"]);
    check_node_result(&v);
}

#[test]
fn node_nats_core_wsconnect_with_async_nats_over_tcp() {
    let v = run_node_against_tcp("ws_clients.mjs", &["nats-core"]);
    check_node_result(&v);
}

/// Headless Chromium loads a page with nats.ws bundled from npm, connects to natrium's
/// WebSocket port, subscribes and publishes; a TCP client exchanges messages with it.
#[test]
fn browser_page_exchanges_messages_with_a_tcp_client() {
    use futures::StreamExt;
    let dir = node_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core missing: run `make deps`"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} missing: run `make deps` (installs Debian's chromium)"
    );
    let srv = natrium_ws(&[]);
    let ws_url = format!("ws://127.0.0.1:{}", ws_port(&srv));
    let url = srv.url();
    // WS_SCREENSHOT=docs/websocket-browser.png refreshes the committed picture.
    let shot = std::env::var("WS_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/websocket-browser.png"));
    let shot2 = shot.clone();
    let out = rt().block_on(async move {
        let nc = async_nats::connect(url).await.unwrap();
        let mut from_page = nc.subscribe("browser.out").await.unwrap();
        // When the page says hello, answer on browser.in with a numbered series.
        let nc2 = nc.clone();
        let relay = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = from_page.next().await {
                let text = String::from_utf8_lossy(&m.payload).into_owned();
                if text == "ready" {
                    for i in 0..10 {
                        nc2.publish("browser.in", format!("tcp #{i}").into())
                            .await
                            .unwrap();
                    }
                    nc2.flush().await.unwrap();
                } else {
                    got.push(text);
                }
                if got.len() == 10 {
                    break;
                }
            }
            got
        });
        nc.flush().await.unwrap();
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg("browser/run.mjs")
            .current_dir(&dir)
            .env("WS_URL", &ws_url)
            .env("CHROMIUM", &chromium)
            .env("SCREENSHOT", &shot)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
            .await
            .expect("browser run timed out")
            .expect("node");
        let got = tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        (out, got)
    });
    let (node_out, from_page) = out;
    let stdout = String::from_utf8_lossy(&node_out.stdout);
    assert!(
        node_out.status.success(),
        "browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&node_out.stderr)
    );
    let line = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // TCP → page: all ten, in order.
    let received: Vec<String> = v["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        received,
        (0..10).map(|i| format!("tcp #{i}")).collect::<Vec<_>>()
    );
    // Page → TCP: all ten, in order.
    assert_eq!(
        from_page,
        (0..10).map(|i| format!("page #{i}")).collect::<Vec<_>>()
    );
    assert!(
        v["userAgent"].as_str().unwrap_or("").contains("Chrome"),
        "{v}"
    );
    assert!(std::fs::metadata(&shot2).is_ok_and(|m| m.len() > 1000));
    assert!(!srv.log_text().contains("read error"), "{}", srv.log_text());
}

// ----- measurement -----------------------------------------------------------------------

/// A raw frame reader that only counts NATS bytes (for the benchmark).
fn count_ws_bytes(s: &mut TcpStream, want: usize) -> usize {
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut data = 0usize;
    let mut rem = 0usize; // payload bytes left in the current frame
    while data < want {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break
            }
            Err(_) => break,
        };
        let mut i = 0;
        while i < n {
            if rem > 0 {
                let k = rem.min(n - i);
                data += k;
                rem -= k;
                i += k;
                continue;
            }
            // Gather a header (possibly split).
            pending.push(buf[i]);
            i += 1;
            if pending.len() < 2 {
                continue;
            }
            let need = match pending[1] & 0x7f {
                126 => 4,
                127 => 10,
                _ => 2,
            };
            if pending.len() < need {
                continue;
            }
            rem = match pending[1] & 0x7f {
                126 => u16::from_be_bytes([pending[2], pending[3]]) as usize,
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&pending[2..10]);
                    u64::from_be_bytes(b) as usize
                }
                l => l as usize,
            };
            pending.clear();
        }
    }
    data
}

/// One server's numbers: pub→sub throughput over WebSocket and pub→sub latency.
fn ws_measure(addr: SocketAddr, n: usize, size: usize) -> (f64, f64, Vec<Duration>) {
    let connect = |a: SocketAddr| {
        let s = TcpStream::connect(a).unwrap();
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut ws = Ws::handshake(s, &a.to_string(), "");
        ws.send_nats("CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":true}\r\nPING\r\n");
        ws.expect("PONG\r\n");
        ws
    };
    let mut sub = connect(addr);
    sub.send_nats("SUB bench 1\r\nPING\r\n");
    sub.expect("PONG\r\n");

    let msg_len = format!("MSG bench 1 {size}\r\n").len() + size + 2;
    let want = n * msg_len;
    let mut sub_sock = sub.s;
    let reader = std::thread::spawn(move || {
        let start = Instant::now();
        let got = count_ws_bytes(&mut sub_sock, want);
        (got, start)
    });
    let mut publisher = connect(addr);
    let payload = "x".repeat(size);
    let one = format!("PUB bench {size}\r\n{payload}\r\n");
    let per_frame = (64 * 1024 / one.len()).max(1);
    let frame_text = one.repeat(per_frame);
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let k = per_frame.min(n - sent);
        let f = if k == per_frame {
            mask_frame(2, frame_text.as_bytes(), true, false)
        } else {
            mask_frame(2, one.repeat(k).as_bytes(), true, false)
        };
        publisher.s.write_all(&f).unwrap();
        sent += k;
    }
    let (got, _) = reader.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got, want, "subscriber got {got} of {want} bytes");
    let msgs_per_sec = n as f64 / secs;
    let mb_per_sec = (n * size) as f64 / secs / 1e6;
    // Latency: one connection publishes and waits for its own message, 2000 times.
    let mut lat = connect(addr);
    lat.send_nats("SUB lat 1\r\nPING\r\n");
    lat.expect("PONG\r\n");
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t = Instant::now();
        lat.send_nats("PUB lat 8\r\n12345678\r\n");
        lat.expect("12345678\r\n");
        samples.push(t.elapsed());
    }
    samples.sort();
    (msgs_per_sec, mb_per_sec, samples)
}

/// `cargo test --release --test it websocket::bench_websocket -- --ignored --nocapture`:
/// natrium and nats-server side by side, same machine, same run (docs/benchmarks.md).
#[test]
#[ignore]
#[allow(clippy::print_stdout)]
fn bench_websocket_against_nats_server() {
    let Some((ns, conf)) = nats_server_ws("bench", "") else {
        panic!("nats-server not installed (make deps)");
    };
    let na = natrium_ws(&[]);
    let n: usize = crate::harness::setting("WS_BENCH_N", 500_000);
    for size in [16usize, 128, 1024] {
        for (name, p) in [("natrium", &na), ("nats-server", &ns)] {
            let (mps, mbs, lat) = ws_measure(ws_addr(p), n, size);
            let q = |f: f64| {
                lat[((lat.len() as f64 * f) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6
            };
            println!(
                "| {name} | {size} B | {:.0} msgs/s | {mbs:.1} MB/s | p50 {:.0} µs | p99 {:.0} µs |",
                mps,
                q(0.50),
                q(0.99)
            );
        }
    }
    let _ = std::fs::remove_file(conf);
}

/// The `websocket {}` block of a configuration file starts the listener, and the ports file
/// lists it (the official nats.js launcher reads it).
#[test]
fn websocket_from_the_config_file_and_ports_file() {
    let dir = crate::harness::TempDir::new("ws-conf");
    let conf = dir.write(
        "natrium.conf",
        &format!(
            "listen: 127.0.0.1:-1\nports_file_dir: \"{}\"\nwebsocket {{\n  port: -1\n  host: 127.0.0.1\n  no_tls: true\n}}\n",
            dir.0.display()
        ),
    );
    let srv = Natrium::start(&["-c", conf.to_str().unwrap()]);
    let addr = ws_addr(&srv);
    let mut ws = ws_client(addr, "");
    let info = info_json(&mut ws);
    assert_eq!(info["port"], addr.port() as u64);
    ws.send_nats("CONNECT {\"verbose\":false}\r\nPING\r\n");
    ws.expect("PONG\r\n");
    let ports_file = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))
        .expect("ports file written");
    let ports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ports_file.path()).unwrap()).unwrap();
    assert_eq!(
        ports["websocket"][0],
        format!("ws://127.0.0.1:{}", addr.port())
    );
    assert_eq!(ports["nats"][0], format!("nats://127.0.0.1:{}", srv.port));
}
