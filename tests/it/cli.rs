//! The binary as an operator meets it: flags, help, version, start-up log lines, fatal
//! errors, pid file, graceful shutdown on SIGINT/SIGTERM, keepalive PINGs.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{
    free_port, natrium_bin, nats_server_bin, Natrium, NatsServer, OrderedObject, Proc, Raw, TempDir,
};

#[test]
fn help_lists_the_flags() {
    let out = Command::new(natrium_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--addr",
        "--port",
        "--name",
        "--pid",
        "--http_port",
        "--config",
        "--signal",
        "--log",
        "--logtime",
        "--debug",
        "--trace",
        "-DV",
        "--user",
        "--tls",
        "--reactors",
        "--max_payload",
        "--version",
        "--help",
        "-t ",
        "--ports_file_dir",
        "--log_format",
        "--logtime_utc",
        "SIGHUP",
        "SIGUSR2",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
    ] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn version_and_bad_flags() {
    let out = Command::new(natrium_bin()).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("natrium: v"));

    let out = Command::new(natrium_bin()).arg("--bogus").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"));

    let out = Command::new(natrium_bin())
        .arg("-js=maybe")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_listen_address_is_fatal() {
    let out = Command::new(natrium_bin())
        .args(["--addr", "999.999.999.999", "-p", "-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[FTL]") && err.contains("Error listening on port"),
        "{err}"
    );
}

#[test]
fn startup_lines_and_info_shape() {
    let srv = Natrium::start(&["-n", "edge-1"]);
    let log = srv.log_text();
    assert!(
        log.contains("[INF] Listening for client connections on 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("[INF] Server is ready"));
    // nats-server's line format: [pid] date time [LVL] msg
    let first = log.lines().next().unwrap();
    assert!(first.starts_with(&format!("[{}] ", srv.pid())), "{first}");
    let raw = Raw::connect(srv.addr());
    assert!(
        raw.info.ends_with("} "),
        "INFO must end with a space before CRLF: {:?}",
        raw.info
    );
    let info: serde_json::Value =
        serde_json::from_str(raw.info.trim_start_matches("INFO ").trim_end()).unwrap();
    let id = info["server_id"].as_str().unwrap();
    assert_eq!(id.len(), 56);
    assert!(id.starts_with('N'));
    assert_eq!(info["server_name"], "edge-1");
    assert_eq!(info["proto"], 1);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert_eq!(info["port"], srv.port);
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert!(info["client_id"].as_u64().unwrap() >= 1);
    assert!(info["version"].as_str().unwrap().starts_with("2."));
}

/// The client INFO carries the keys nats-server 2.15.1 sends, in its order and with its
/// values where they are not per-server (`api_lvl` among them, which clients read with or
/// without JetStream). natrium has no `git_commit` and no `xkey` (auth callout).
#[test]
fn client_info_keys_match_nats_server() {
    let Some(nats) = NatsServer::start(&[]) else {
        panic!("nats-server not installed (make deps)");
    };
    let ours = Natrium::start(&[]);
    let info_of = |p: &Proc| OrderedObject::from_info_line(&Raw::connect(p.addr()).info);
    let theirs = info_of(&nats);
    let mine = info_of(&ours);
    let not_ours = ["git_commit", "xkey"];
    let expected: Vec<&str> = theirs
        .keys()
        .into_iter()
        .filter(|k| !not_ours.contains(k))
        .collect();
    assert_eq!(mine.keys(), expected, "INFO keys in order");
    for key in [
        "proto",
        "headers",
        "max_payload",
        "host",
        "client_ip",
        "api_lvl",
    ] {
        assert_eq!(mine.get(key), theirs.get(key), "INFO {key}");
    }
}

#[test]
fn sigterm_and_sigint_stop_gracefully() {
    for sig in ["TERM", "INT"] {
        let dir = std::env::temp_dir().join(format!("natrium-pid-{}-{sig}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("natrium.pid");
        let mut srv = Natrium::start(&["-P", pid_file.to_str().unwrap()]);
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap(),
            srv.pid().to_string()
        );
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false}"#);
        srv.signal(sig);
        assert_eq!(
            srv.wait_exit(Duration::from_secs(5)),
            Some(0),
            "exit status after SIG{sig}"
        );
        assert!(
            raw.is_closed(Duration::from_secs(2)),
            "client closed on shutdown"
        );
        assert!(!pid_file.exists(), "pid file removed on exit");
        assert!(srv.wait_log("Server Exiting..", Duration::from_secs(2)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn server_pings_and_closes_stale_connections() {
    let srv = Natrium::start(&["--ping_interval", "1", "--ping_max", "2"]);
    let mut raw = Raw::connect(srv.addr());
    raw.send_str("CONNECT {\"verbose\":false}\r\n");
    // First PING comes within the first interval (at most 1s + 20% jitter after CONNECT).
    let line = raw
        .read_line(Duration::from_millis(1600))
        .expect("first PING");
    assert_eq!(line, "PING");
    // A client that answers stays connected.
    raw.send_str("PONG\r\n");
    assert_eq!(
        raw.read_line(Duration::from_millis(1600)).as_deref(),
        Some("PING")
    );
    // Stop answering: after ping_max unanswered PINGs the server gives up.
    let rest = raw.expect("-ERR 'Stale Connection'\r\n");
    assert!(rest.contains("PING"), "{rest}");
    assert!(raw.is_closed(Duration::from_secs(2)));
}

#[test]
fn active_client_is_not_pinged_early() {
    // A PING from the client counts as activity; the server still sends its first PING
    // (to measure RTT) but never closes a client that answers.
    let srv = Natrium::start(&["--ping_interval", "1"]);
    let mut raw = Raw::connect(srv.addr());
    raw.handshake(r#"{"verbose":false}"#);
    for _ in 0..4 {
        raw.send_str("PING\r\n");
        std::thread::sleep(Duration::from_millis(500));
        let got = raw.drain_for(Duration::from_millis(50));
        if got.contains("PING\r\n") {
            raw.send_str("PONG\r\n");
        }
        assert!(!got.contains("Stale"), "{got}");
    }
    assert!(!raw.is_closed(Duration::from_millis(100)));
}

#[test]
fn max_connections_sends_info_then_error() {
    let srv = Natrium::start(&["--max_connections", "1"]);
    let mut first = Raw::connect(srv.addr());
    first.handshake(r#"{"verbose":false}"#);
    let mut second = Raw::connect(srv.addr());
    assert_eq!(
        second.read_line(Duration::from_secs(2)).as_deref(),
        Some("-ERR 'maximum connections exceeded'")
    );
    assert!(second.is_closed(Duration::from_secs(2)));
    // The first one is unaffected.
    first.send_str("PING\r\n");
    first.expect("PONG\r\n");
}

#[test]
fn slow_consumer_is_cut_off_without_err() {
    let srv = Natrium::start(&["--max_pending", "65536", "--max_payload", "4096"]);
    // A subscriber that never reads.
    let mut slow = Raw::connect(srv.addr());
    slow.handshake(r#"{"verbose":false}"#);
    slow.send_str("SUB flood 1\r\nPING\r\n");
    slow.expect("PONG\r\n");
    let mut fast = Raw::connect(srv.addr());
    fast.handshake(r#"{"verbose":false}"#);
    fast.send_str("SUB flood 1\r\nPING\r\n");
    fast.expect("PONG\r\n");
    let mut publisher = Raw::connect(srv.addr());
    publisher.handshake(r#"{"verbose":false}"#);
    // The fast subscriber keeps up by construction: the publisher sends the next batch only
    // after it has read the last one, so at most one batch (well under max_pending) is ever
    // queued for it however the threads are scheduled. The slow one falls 20 MB behind.
    const N: usize = 5000;
    const BATCH: usize = 8;
    let padding = "x".repeat(4000 - "<000000>".len());
    let mut received = Vec::with_capacity(N);
    for batch_start in (0..N).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(N);
        for seq in batch_start..batch_end {
            publisher.send_str(&format!("PUB flood 4000\r\n<{seq:06}>{padding}\r\n"));
        }
        let read = fast.expect(&format!("<{:06}>", batch_end - 1));
        received.extend(
            read.split("MSG flood 1 4000\r\n<")
                .skip(1)
                .filter_map(|frame| frame.get(..6)?.parse::<usize>().ok()),
        );
    }
    publisher.send_str("PING\r\n");
    publisher.expect("PONG\r\n");
    assert!(
        srv.wait_log(
            "Slow Consumer Detected: MaxPending of 65536 Exceeded",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log_text()
    );
    assert!(
        slow.is_closed(Duration::from_secs(5)),
        "the slow one is closed"
    );
    assert!(!slow.buffered().contains("-ERR"), "and gets no -ERR");
    assert_eq!(
        received,
        (0..N).collect::<Vec<_>>(),
        "the fast subscriber gets every message, in order"
    );
    let log = srv.log_text();
    assert_eq!(
        log.matches("Slow Consumer Detected").count(),
        1,
        "only the slow subscriber is cut off:\n{log}"
    );
}

#[test]
fn write_deadline_closes_a_stuck_subscriber() {
    // max_pending high enough that only the write deadline can trigger.
    let srv = Natrium::start(&["--write_deadline", "1s", "--max_pending", "1000000000"]);
    let mut stuck = Raw::connect(srv.addr());
    stuck.handshake(r#"{"verbose":false}"#);
    stuck.send_str("SUB wd 1\r\nPING\r\n");
    stuck.expect("PONG\r\n");
    let mut publisher = Raw::connect(srv.addr());
    publisher.handshake(r#"{"verbose":false}"#);
    let payload = "y".repeat(60_000);
    let frame = format!("PUB wd {}\r\n{payload}\r\n", payload.len());
    // ~30 MB: far more than the kernel buffers of the stuck socket.
    for _ in 0..500 {
        publisher.send_str(&frame);
    }
    publisher.send_str("PING\r\n");
    publisher.expect("PONG\r\n");
    assert!(
        srv.wait_log(
            "Slow Consumer Detected: WriteDeadline of 1s exceeded",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log_text()
    );
    // The publisher is unaffected.
    publisher.send_str("PING\r\n");
    publisher.expect("PONG\r\n");
}

/// CPU time (user + system clock ticks) the process used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Regression: a closing connection whose last bytes could not be flushed before its drain
/// deadline made the timer loop re-arm an already-past deadline forever (100% CPU, and
/// SIGTERM never completed).
#[test]
fn expired_close_drain_does_not_spin() {
    let mut srv = Natrium::start(&["--max_pending", "100000000"]);
    let mut stuck = Raw::connect(srv.addr());
    stuck.handshake(r#"{"verbose":false}"#);
    stuck.send_str("SUB fill 1\r\nPING\r\n");
    stuck.expect("PONG\r\n");
    let mut publisher = Raw::connect(srv.addr());
    publisher.handshake(r#"{"verbose":false}"#);
    let payload = "z".repeat(60_000);
    for _ in 0..300 {
        publisher.send_str(&format!("PUB fill {}\r\n{payload}\r\n", payload.len()));
    }
    publisher.send_str("PING\r\n");
    publisher.expect("PONG\r\n");
    // The stuck subscriber now misbehaves: the server closes it, but cannot flush to it.
    stuck.send_str("BOGUS\r\n");
    // Past the 2 s drain deadline.
    std::thread::sleep(Duration::from_millis(2600));
    let before = cpu_ticks(srv.pid());
    std::thread::sleep(Duration::from_millis(1000));
    let used = cpu_ticks(srv.pid()) - before;
    assert!(used < 30, "server burned {used} ticks in an idle second");
    srv.signal("TERM");
    assert_eq!(srv.wait_exit(Duration::from_secs(5)), Some(0));
}

/// `-V` traces both directions as nats-server does: `<<- [...]` for what the client sent and
/// `->> [...]` for what the server queued (`OK`, `MSG`/`HMSG` lines, `PONG`, `-ERR`), so an
/// operator can follow a conversation in the log. Compared with nats-server's own trace.
#[test]
fn trace_shows_both_directions_like_nats_server() {
    const SCRIPT: &str = "CONNECT {\"verbose\":true,\"headers\":true}\r\nSUB foo 1\r\n\
        PUB foo 5\r\nhello\r\nHPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPING\r\nBOGUS\r\n";
    let outbound = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.find("->> [").map(|at| l[at..].to_string()))
            .filter(|l| l != "->> [PING]")
            .collect()
    };
    let srv = Natrium::start(&["-V"]);
    let (_, closed, _) = crate::harness::transcript(srv.addr(), SCRIPT);
    assert!(closed);
    assert!(srv.wait_log(
        "->> [-ERR Unknown Protocol Operation]",
        Duration::from_secs(3)
    ));
    let mine = outbound(&srv.log_text());
    assert_eq!(
        mine,
        [
            "->> [OK]",
            "->> [OK]",
            "->> [OK]",
            "->> [MSG foo 1 5]",
            "->> [OK]",
            "->> [HMSG foo 1 12 17]",
            "->> [PONG]",
            "->> [-ERR Unknown Protocol Operation]",
        ]
    );
    assert!(srv.log_text().contains("<<- [SUB foo 1]"));
    let theirs = crate::harness::NatsServer::start(&["-V"]).expect("nats-server (make deps)");
    let _ = crate::harness::transcript(theirs.addr(), SCRIPT);
    assert!(theirs.wait_log(
        "->> [-ERR Unknown Protocol Operation]",
        Duration::from_secs(3)
    ));
    assert_eq!(mine, outbound(&theirs.log_text()));
}

/// A wildcard listen address accepts both families, as Go's `net.Listen` does for
/// nats-server: with `-a 0.0.0.0`, a client reaching `[::1]` (what `localhost` resolves to
/// first for many clients) connects, and an IPv4 client is still reported as `127.0.0.1`.
#[test]
fn wildcard_address_accepts_ipv6_loopback_like_nats_server() {
    assert!(
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "this test needs the IPv6 loopback address ::1"
    );
    // Starts a server on 0.0.0.0, connects over both families and reads /connz.
    let check = |name: &str, start: &dyn Fn(&[&str]) -> Proc| {
        let (port, mport) = (free_port(), free_port());
        let (port_arg, mport_arg) = (port.to_string(), mport.to_string());
        let srv = start(&["-a", "0.0.0.0", "-p", &port_arg, "-m", &mport_arg]);
        assert!(
            srv.log_text().contains(&format!(
                "Listening for client connections on 0.0.0.0:{port}"
            )),
            "{name}"
        );
        let mut clients = Vec::new();
        for addr in [
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ] {
            let mut raw = Raw::connect(addr);
            raw.handshake("{\"verbose\":false,\"name\":\"family\"}");
            raw.send_str("PING\r\n");
            raw.expect("PONG\r\n");
            // Both stay connected while /connz is read.
            clients.push(raw);
        }
        let connz = crate::monitor::get_json(mport, "/connz");
        let mut ips: Vec<String> = connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| c["ip"].as_str().unwrap_or_default().to_string())
            .collect();
        ips.sort();
        assert_eq!(ips, ["127.0.0.1", "::1"], "{name}");
    };
    check("natrium", &|args: &[&str]| Natrium::start(args));
    check("nats-server", &|args: &[&str]| {
        crate::harness::NatsServer::start(args).expect("nats-server (make deps)")
    });
}

/// What running a server binary with some flags led to.
enum Outcome {
    /// It accepted a client on the port (and was then stopped).
    Serving,
    /// It exited on its own: the status code and what it wrote to stderr.
    Exited(i32, String),
}

/// Runs `bin args…` and waits until it either serves a client (an INFO line) on
/// `127.0.0.1:port` or exits; stops it in the first case.
fn run_with_flags(bin: &std::path::Path, args: &[String], port: u16) -> Outcome {
    let dir = TempDir::new("flag-run");
    let err = dir.0.join("stderr");
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
            return Outcome::Exited(status.code().unwrap_or(-1), read(&err));
        }
        if let Ok(mut s) = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = [0u8; 5];
            if s.read_exact(&mut head).is_ok() && &head == b"INFO " {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Serving;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} neither served nor exited", bin.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The flags `nats-server --help` lists: `-a, --addr, --net <host>` gives `-a`, `--addr`,
/// `--net`.
fn nats_server_help_flags() -> Vec<String> {
    let bin = nats_server_bin().expect("nats-server (make deps)");
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    let mut flags = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        // The flag column ends where the two-space gap before the description starts.
        let spec = line.split("  ").next().unwrap_or_default();
        for word in spec.split([',', ' ']) {
            if word.starts_with('-') && !flags.iter().any(|f| f == word) {
                flags.push(word.to_string());
            }
        }
    }
    flags
}

/// The flags natrium refuses on purpose, each with a fragment of its refusal; every one must
/// be listed, with its reason, in docs/compat.md's "Flags refused by design".
const REFUSED_FLAGS: &[(&str, &str, &str)] = &[
    ("-s", "", "syslog logging is not supported"),
    ("--syslog", "", "syslog logging is not supported"),
    (
        "-r",
        "udp://127.0.0.1:514",
        "syslog logging is not supported",
    ),
    (
        "--remote_syslog",
        "udp://127.0.0.1:514",
        "syslog logging is not supported",
    ),
    ("-ms", "-1", "HTTPS monitoring"),
    ("--https_port", "-1", "HTTPS monitoring"),
    ("--profile", "6060", "no profiling endpoint"),
];

/// Every flag `nats-server --help` lists is accepted by natrium — it starts and serves a
/// client with it — except the flags refused by design (each refused with its message and
/// documented in docs/compat.md). The flags that act at once (`-h`, `-v`, `--help_tls`, `-t`,
/// `-sl`) succeed or fail as nats-server's do.
#[test]
fn every_nats_server_flag_is_accepted_or_refused_by_design() {
    let dir = TempDir::new("flags");
    let certs = crate::tls::Certs::new("flags");
    let (cert, key, ca) = (
        certs.path("server.pem"),
        certs.path("server-key.pem"),
        certs.path("ca.pem"),
    );
    let conf = dir.write("ok.conf", "port: -1\n");
    let conf = conf.to_string_lossy().into_owned();
    let path = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
    let compat = std::fs::read_to_string(crate::harness::root().join("docs/compat.md")).unwrap();
    let refused_section = compat
        .split("### Flags refused by design")
        .nth(1)
        .and_then(|rest| rest.split("\n#").next())
        .expect("docs/compat.md has a section \"Flags refused by design\"");
    let natrium = natrium_bin();
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let immediate = |args: &[&str]| {
        let run = |bin: &std::path::Path, name: &str| {
            let out = Command::new(bin).args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).replace(name, "EXE");
            (out.status.code(), !out.stdout.is_empty(), stderr)
        };
        let (mine, theirs) = (run(&natrium, "natrium"), run(&nats, "nats-server"));
        assert_eq!(
            mine.0, theirs.0,
            "exit status of {args:?}: {mine:?} / {theirs:?}"
        );
        assert_eq!(
            mine.1, theirs.1,
            "stdout of {args:?}: {mine:?} / {theirs:?}"
        );
        mine
    };
    let flags = nats_server_help_flags();
    assert!(flags.len() > 60, "too few flags found in --help: {flags:?}");
    for flag in &flags {
        let f = flag.as_str();
        // Flags that do something at once.
        match f {
            "-h" | "--help" | "-v" | "--version" | "--help_tls" => {
                let (code, stdout, _) = immediate(&[f]);
                assert!(code == Some(0) && stdout, "{f}");
                continue;
            }
            "-t" => {
                let (code, _, err) = immediate(&[f]);
                assert_eq!(code, Some(1));
                assert_eq!(
                    err.trim_end(),
                    "EXE: must specify [-c, --config] option to check configuration file syntax"
                );
                let (code, _, _) = immediate(&[f, "-c", &conf]);
                assert_eq!(code, Some(0), "-t -c {conf}");
                continue;
            }
            "-sl" | "--signal" => {
                for (name, srv) in [
                    ("natrium", Natrium::start(&[])),
                    ("nats-server", NatsServer::start(&[]).unwrap()),
                ] {
                    let bin = if name == "natrium" { &natrium } else { &nats };
                    let target = format!("reload={}", srv.pid());
                    let out = Command::new(bin).args([f, &target]).output().unwrap();
                    assert!(out.status.success(), "{name} {f} {target}: {out:?}");
                    assert!(
                        srv.wait_log("Trapped \"hangup\" signal", Duration::from_secs(5)),
                        "{name}: {}",
                        srv.log_text()
                    );
                }
                continue;
            }
            _ => {}
        }
        let port = free_port();
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-p", &port.to_string()]
            .map(String::from)
            .to_vec();
        if let Some((_, value, refusal)) = REFUSED_FLAGS.iter().find(|(n, _, _)| *n == f) {
            assert!(
                refused_section.contains(&format!("`{f}`")),
                "{f} is refused but not listed in docs/compat.md's \"Flags refused by design\""
            );
            args.push(f.to_string());
            if !value.is_empty() {
                args.push(value.to_string());
            }
            match run_with_flags(&natrium, &args, port) {
                Outcome::Exited(1, err) if err.contains(refusal) => {}
                Outcome::Exited(code, err) => panic!("{args:?}: exit {code}: {err}"),
                Outcome::Serving => panic!("{args:?} is served, not refused"),
            }
            if f != "--profile" {
                continue;
            }
            // Off is the same as nats-server's default: accepted.
            args.truncate(4);
        }
        let value: Vec<String> = match f {
            "-a" | "--addr" | "--net" => vec!["127.0.0.1".into()],
            "-p" | "--port" => vec![port.to_string()],
            "-n" | "--name" | "--server_name" => vec!["flags-test".into()],
            "-P" | "--pid" => vec![path("natrium.pid")],
            "-m" | "--http_port" => vec![free_port().to_string()],
            "-c" | "--config" => vec![conf.clone()],
            "--client_advertise" => vec!["127.0.0.1:4222".into()],
            "--ports_file_dir" | "-sd" | "--store_dir" => vec![dir.0.to_string_lossy().into()],
            // With a store directory of the test's own rather than the shared default.
            "-js" | "--jetstream" => vec!["-sd".into(), dir.0.to_string_lossy().into()],
            "-l" | "--log" => vec![path("natrium.log")],
            "-T" | "--logtime" | "--logtime_utc" | "-D" | "--debug" | "-V" | "--trace" | "-VV"
            | "-DV" | "-DVV" => vec![],
            "--log_size_limit" => vec!["1000000".into()],
            "--max_traced_msg_len" => vec!["10".into()],
            "--user" => vec!["derek".into()],
            "--pass" => vec!["s3cr3t".into()],
            "--auth" => vec!["T0K3N".into()],
            "--tls" => vec![
                "--tlscert".into(),
                cert.clone(),
                "--tlskey".into(),
                key.clone(),
            ],
            "--tlscert" => vec![cert.clone(), "--tlskey".into(), key.clone()],
            "--tlskey" => vec![key.clone(), "--tlscert".into(), cert.clone()],
            "--tlsverify" | "--tlscacert" => {
                let mut v = vec![
                    "--tlscert".into(),
                    cert.clone(),
                    "--tlskey".into(),
                    key.clone(),
                ];
                v.extend([if f == "--tlsverify" {
                    "--tlscacert"
                } else {
                    "--tlsverify"
                }
                .into()]);
                if f == "--tlsverify" {
                    v.push(ca.clone());
                } else {
                    v.insert(0, ca.clone());
                }
                v
            }
            "--profile" => vec!["0".into()],
            "--routes" => vec![
                format!("nats://127.0.0.1:{}", free_port()),
                "--cluster".into(),
                "nats://127.0.0.1:-1".into(),
            ],
            "--cluster" | "--cluster_listen" => vec!["nats://127.0.0.1:-1".into()],
            "--cluster_name" => vec!["c1".into()],
            "--cluster_advertise" => vec!["127.0.0.1:6222".into()],
            "--no_advertise" => vec![],
            "--connect_retries" => vec!["3".into()],
            _ => panic!("nats-server lists {f}, which this test does not know: add it"),
        };
        args.push(f.to_string());
        args.extend(value);
        match run_with_flags(&natrium, &args, port) {
            Outcome::Serving => {}
            Outcome::Exited(code, err) => panic!("natrium {args:?}: exit {code}: {err}"),
        }
    }
}

/// A store directory alone (no `-js`) starts the server normally, as nats-server does: both
/// serve a client (connect, PING/PONG) with `--store_dir DIR`, and natrium with `-sd DIR` and
/// with the config key `store_dir`, which is not reported as ignored.
#[test]
fn store_dir_without_jetstream_serves_like_nats_server() {
    let dir = TempDir::new("store-dir");
    let store = dir.0.to_string_lossy().into_owned();
    let ping = |srv: &Proc| {
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false}"#);
        raw.send_str("PING\r\n");
        raw.expect("PONG\r\n");
    };
    ping(&NatsServer::start(&["--store_dir", &store]).expect("nats-server (make deps)"));
    ping(&Natrium::start(&["--store_dir", &store]));
    ping(&Natrium::start(&["-sd", &store]));
    let conf = dir.write("sd.conf", &format!("store_dir: {store:?}\nport: -1\n"));
    let conf = conf.to_string_lossy().into_owned();
    let srv = Natrium::start(&["-c", &conf]);
    ping(&srv);
    assert!(!srv.log_text().contains("store_dir"), "{}", srv.log_text());
}

/// `--max_traced_msg_len N` (and the config key) cut traced payloads as nats-server does:
/// `MSG_PAYLOAD: ["hel..."]`, in both directions, and empty payloads are not traced.
#[test]
fn traced_payloads_are_cut_like_nats_server() {
    const SCRIPT: &str = "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\n\
        PUB foo 5\r\nhello\r\nPUB foo 0\r\n\r\nPUB foo 3\r\nabc\r\n\
        HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPUB foo 4\r\n\u{e9}\u{e9}\r\nPING\r\n";
    let payload_lines = |srv: &Proc| -> Vec<String> {
        let (out, _, _) = crate::harness::transcript(srv.addr(), SCRIPT);
        assert!(out.ends_with("PONG\r\n"), "{out}");
        assert!(srv.wait_log("->> [PONG]", Duration::from_secs(3)));
        srv.log_text()
            .lines()
            .filter_map(|l| l.find("MSG_PAYLOAD").map(|at| l[at - 4..].to_string()))
            .collect()
    };
    let theirs = payload_lines(
        &NatsServer::start(&["-V", "--max_traced_msg_len", "3"]).expect("nats-server (make deps)"),
    );
    assert_eq!(theirs[0], "<<- MSG_PAYLOAD: [\"hel...\"]");
    assert_eq!(theirs.len(), 8, "{theirs:?}");
    assert_eq!(
        payload_lines(&Natrium::start(&["-V", "--max_traced_msg_len", "3"])),
        theirs
    );
    let dir = TempDir::new("trace-len");
    let conf = dir.write("t.conf", "trace: true\nmax_traced_msg_len: 3\nport: -1\n");
    let conf = conf.to_string_lossy().into_owned();
    assert_eq!(payload_lines(&Natrium::start(&["-c", &conf])), theirs);
}
