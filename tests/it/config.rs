//! Operating natrium like nats-server: the configuration file, `-t`, reload on SIGHUP and
//! `--signal`, log reopening and rotation, lame duck mode, the pid and ports files, and
//! systemd's notify protocol.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{free_port, natrium_bin, root, spawn_env, Natrium, Proc, Raw, TempDir};

fn conf_with(dir: &TempDir, body: &str) -> PathBuf {
    dir.write("natrium.conf", body)
}

fn start_conf(conf: &Path) -> Proc {
    Natrium::start(&["-c", conf.to_str().unwrap()])
}

/// Runs `natrium args…` to completion: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(natrium_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn starts_from_a_config_file() {
    let dir = TempDir::new("conf-start");
    let conf = conf_with(
        &dir,
        "listen: 127.0.0.1:-1\nserver_name: from-file\nmax_payload: 4KB\n",
    );
    let srv = start_conf(&conf);
    assert!(srv.log_text().contains("Using configuration file:"));
    let raw = Raw::connect(srv.addr());
    assert!(
        raw.info.contains("\"server_name\":\"from-file\""),
        "{}",
        raw.info
    );
    assert!(raw.info.contains("\"max_payload\":4096"), "{}", raw.info);
}

#[test]
fn flags_override_the_file() {
    let dir = TempDir::new("conf-flags");
    let conf = conf_with(&dir, "listen: 127.0.0.1:-1\nserver_name: from-file\n");
    let srv = Natrium::start(&["-c", conf.to_str().unwrap(), "-n", "from-flag"]);
    let raw = Raw::connect(srv.addr());
    assert!(
        raw.info.contains("\"server_name\":\"from-flag\""),
        "{}",
        raw.info
    );
}

#[test]
fn check_config_exit_codes() {
    let dir = TempDir::new("conf-check");
    let good = dir.write("good.conf", "port: 4333\nserver_tags: [\"a\"]\n");
    let (code, _, err) = run(&["-t", "-c", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("configuration file") && err.contains("is valid"),
        "{err}"
    );
    assert!(
        err.contains("good.conf:2:1: \"server_tags\" is accepted but ignored"),
        "{err}"
    );

    let bad = dir.write("bad.conf", "port: 4333\nbogus: 1\nmax_payload: \"x\"\n");
    let (code, _, err) = run(&["-t", "-c", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let b = bad.display();
    assert!(
        err.contains(&format!("{b}:2:1: unknown field \"bogus\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{b}:3:1: \"max_payload\" expects an integer")),
        "{err}"
    );

    // nats-server fails -t on warnings too.
    let warn = dir.write("warn.conf", "ping_interval: 30\n");
    let (code, _, err) = run(&["-t", "-c", warn.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("ping_interval should be converted to a duration"),
        "{err}"
    );

    let (code, _, err) = run(&["-t"]);
    assert_eq!(code, 1);
    assert!(err.contains("must specify [-c, --config] option"), "{err}");

    let (code, _, err) = run(&["-t", "-c", "/nonexistent/natrium.conf"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "natrium: open /nonexistent/natrium.conf: no such file or directory\n"
    );

    // The client suites' deliberately invalid file.
    let (code, _, err) = run(&[
        "-t",
        "-c",
        root()
            .join("tests/conf/launchers/invalid.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "natrium: Parse error on line 1: 'Expected a block-level value to end with a new \
         line, comment or EOF, but got '\"' instead.'\n"
    );
}

/// As nats-server, a file that cannot be used stops the start with its errors on stderr,
/// not as a log line: `natrium: file:line:col: msg`, then an empty line.
#[test]
fn bad_config_is_fatal_at_start_with_positions() {
    let dir = TempDir::new("conf-fatal");
    let conf = conf_with(&dir, "port: -1\nunknown_thing: 1\n");
    let (code, _, err) = run(&["-c", conf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "natrium: {}:2:1: unknown field \"unknown_thing\"\n\n",
            conf.display()
        )
    );
}

/// The client test launchers' configurations start; a `/tmp` in them is pointed at a temp dir.
#[test]
fn client_launcher_configs_start() {
    let dir = TempDir::new("conf-launchers");
    for name in [
        "natsjs_v2.conf",
        "natsjs_v3.conf",
        "natspy_core.conf",
        "jetstream.json",
        "js_domain.conf",
        "cluster.conf",
    ] {
        let text = std::fs::read_to_string(root().join("tests/conf/launchers").join(name)).unwrap();
        let text = text.replace("/tmp", dir.path().to_str().unwrap());
        // Log to stderr, where the harness reads readiness (log files are tested below).
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("logfile"))
            .map(|l| format!("{l}\n"))
            .collect();
        let conf = dir.write(name, &text);
        let srv = start_conf(&conf);
        let mut raw = Raw::connect(srv.addr());
        raw.send_str("CONNECT {\"verbose\":false}\r\nPING\r\n");
        raw.expect("PONG\r\n");
        // natsjs_v3 has server tags (ignored); the others enable JetStream (served).
        let log = srv.log_text();
        match name {
            "natsjs_v2.conf" => {}
            "natsjs_v3.conf" => assert!(log.contains("[WRN] Ignoring configuration"), "{name}"),
            _ => assert!(
                log.contains("Starting JetStream") && !log.contains("Ignoring configuration"),
                "{name}: {log}"
            ),
        }
    }
    // Flags the launchers pass.
    let srv = Natrium::start(&["-a", "127.0.0.1", "--port", "-1", "-m", "-1"]);
    Raw::connect(srv.addr());
}

#[test]
fn configured_security_fails_closed() {
    for (name, start, needle) in [
        // TLS is served; this launcher config names certificate files it does not ship
        // (read when the server starts, so a fatal log line).
        ("tls.conf", "[", "[FTL] error loading certificate file"),
        // Operator mode is read; this launcher's operator JWT carries no real signature,
        // so the server refuses to start (nats-server too).
        ("operator.conf", "[", "[FTL] operator JWT: "),
    ] {
        let conf = root().join("tests/conf/launchers").join(name);
        let (code, _, err) = run(&["-c", conf.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.starts_with(start) && err.contains(needle),
            "{name}: {err}"
        );
    }
}

/// The launcher's account with a user (the no_auth_user) is served, and enforced: it used
/// to be refused before accounts existed.
#[test]
fn configured_account_users_are_enforced() {
    let conf = root().join("tests/conf/launchers/accounts.conf");
    let srv = crate::harness::Natrium::start(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    let (out, closed, info) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n",
    );
    assert!(!info.contains("auth_required"), "{info}");
    assert_eq!(
        (out.as_str(), closed),
        ("MSG a 1 1\r\nx\r\nPONG\r\n", false)
    );
    let (out, closed, _) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"user\":\"js\",\"pass\":\"nope\"}\r\nPING\r\n",
    );
    assert_eq!(
        (out.as_str(), closed),
        ("-ERR 'Authorization Violation'\r\n", true)
    );
    // The account's `jetstream: enabled` is read (not ignored); JetStream itself is off.
    assert!(!srv.log_text().contains("Ignoring"), "{}", srv.log_text());
}

/// The launcher's `authorization { token }` is enforced (it used to be refused before
/// authentication existed).
#[test]
fn configured_token_is_enforced() {
    let conf = root().join("tests/conf/launchers/token.conf");
    let srv = crate::harness::Natrium::start(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    let raw = Raw::connect(srv.addr());
    assert!(raw.info.contains("\"auth_required\":true"), "{}", raw.info);
    let (out, closed, _) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\nPING\r\n",
    );
    assert_eq!((out.as_str(), closed), ("PONG\r\n", false));
    let (out, closed, _) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\nPING\r\n",
    );
    assert_eq!(
        (out.as_str(), closed),
        ("-ERR 'Authorization Violation'\r\n", true)
    );
}

#[test]
fn reload_applies_max_payload_and_log_level_to_existing_connections() {
    let dir = TempDir::new("conf-reload");
    let conf = conf_with(&dir, "listen: 127.0.0.1:-1\nmax_payload: 1000\n");
    let srv = start_conf(&conf);
    let mut raw = Raw::connect(srv.addr());
    raw.send_str("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 500\r\n");
    raw.send(&[b'x'; 500]);
    raw.send_str("\r\nPING\r\n");
    raw.expect("MSG a 1 500\r\n");
    raw.expect("PONG\r\n");

    std::fs::write(
        &conf,
        "listen: 127.0.0.1:-1\nmax_payload: 100\ndebug: true\n",
    )
    .unwrap();
    srv.signal("HUP");
    assert!(
        srv.wait_log("Reloaded server configuration", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    let log = srv.log_text();
    assert!(log.contains("[INF] Reloaded: debug = true"), "{log}");
    assert!(log.contains("[INF] Reloaded: max_payload = 100"), "{log}");
    // New connections are told the new limit…
    let other = Raw::connect(srv.addr());
    assert!(
        other.info.contains("\"max_payload\":100,"),
        "{}",
        other.info
    );
    // …and the existing one is held to it, as nats-server does.
    raw.send_str("PUB a 500\r\n");
    raw.expect("-ERR 'Maximum Payload Violation'\r\n");
    assert!(raw.is_closed(Duration::from_secs(2)));
    // The new log level applies to it: its close is logged at debug level.
    assert!(
        srv.wait_log("[DBG]", Duration::from_secs(2)),
        "{}",
        srv.log_text()
    );
}

#[test]
fn reload_refuses_unsupported_changes_and_keeps_running() {
    let dir = TempDir::new("conf-refuse");
    let conf = conf_with(&dir, "listen: 127.0.0.1:-1\nmax_payload: 1000\n");
    let srv = start_conf(&conf);
    let new_port = free_port();
    std::fs::write(
        &conf,
        format!("listen: 127.0.0.1:{new_port}\nmax_payload: 100\n"),
    )
    .unwrap();
    srv.signal("HUP");
    let want = format!(
        "[ERR] Failed to reload server configuration: config reload not supported for Port: old={}, new={new_port}",
        srv.port
    );
    assert!(
        srv.wait_log(&want, Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    // Still serving, with the old configuration.
    let raw = Raw::connect(srv.addr());
    assert!(raw.info.contains("\"max_payload\":1000,"), "{}", raw.info);

    // A broken file is refused as a whole too.
    std::fs::write(&conf, "listen: 127.0.0.1:-1\nmax_payload: [\n").unwrap();
    srv.signal("HUP");
    assert!(wait_until(Duration::from_secs(5), || srv
        .log_text()
        .matches("Failed to reload server configuration")
        .count()
        == 2));
    Raw::connect(srv.addr());
}

#[test]
fn signal_reload_and_quit_via_pid_file() {
    let dir = TempDir::new("conf-signal");
    let pid_file = dir.path().join("natrium.pid");
    let conf = conf_with(
        &dir,
        &format!(
            "listen: 127.0.0.1:-1\npid_file: {:?}\n",
            pid_file.to_str().unwrap()
        ),
    );
    let mut srv = start_conf(&conf);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(pid, srv.pid().to_string());
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:-1\npid_file: {:?}\nping_max: 5\n",
            pid_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let target = format!("reload={}", pid_file.display());
    let (code, _, err) = run(&["--signal", &target]);
    assert_eq!(code, 0, "{err}");
    assert!(srv.wait_log("Reloaded: ping_max = 5", Duration::from_secs(5)));

    let (code, _, err) = run(&["-sl", "bogus"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown signal \"bogus\""), "{err}");

    let (code, _, err) = run(&["-sl", &format!("quit={}", srv.pid())]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(srv.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(srv.log_text().contains("Trapped \"interrupt\" signal"));
    assert!(!pid_file.exists(), "the pid file is removed on exit");
}

#[test]
fn ports_file_appears_and_disappears() {
    let dir = TempDir::new("conf-ports");
    let mut srv = Natrium::start(&[
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "--ports_file_dir",
        dir.path().to_str().unwrap(),
    ]);
    let path = dir.path().join(format!("natrium_{}.ports", srv.pid()));
    // Written before "Server is ready", which the harness waited for.
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"nats": [format!("nats://127.0.0.1:{}", srv.port)]})
    );
    srv.signal("TERM");
    assert_eq!(srv.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(!path.exists(), "the ports file is removed on SIGTERM");
}

#[test]
fn ports_file_lists_every_interface_for_any_address() {
    let dir = TempDir::new("conf-ports-any");
    let port = free_port();
    let conf = conf_with(
        &dir,
        &format!(
            "port: {port}\nports_file_dir: {:?}\n",
            dir.path().to_str().unwrap()
        ),
    );
    let srv = start_conf(&conf);
    let path = dir.path().join(format!("natrium_{}.ports", srv.pid()));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let urls: Vec<&str> = v["nats"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert!(
        urls.contains(&format!("nats://127.0.0.1:{port}").as_str()),
        "{urls:?}"
    );
    assert!(urls
        .iter()
        .all(|u| u.starts_with("nats://") && u.ends_with(&format!(":{port}"))));
}

/// Starts natrium logging to a file (not stderr); returns the child and its client port.
fn start_logging_to(conf: &Path, log: &Path) -> (Child, u16) {
    let child = Command::new(natrium_bin())
        .args(["-c", conf.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            port = text
                .lines()
                .find_map(|l| l.split("Listening for client connections on ").nth(1))
                .map(|r| {
                    // host:port, up to the end of the text or JSON string.
                    let end = r.find(['"', ' ']).unwrap_or(r.len());
                    &r[..end]
                })
                .and_then(|r| r.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            port.is_some() && text.contains("Server is ready")
        }),
        "natrium did not log readiness to {}",
        log.display()
    );
    (child, port.unwrap())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

#[test]
fn sigusr1_reopens_the_log_file_after_a_rename() {
    let dir = TempDir::new("conf-reopen");
    let log = dir.path().join("natrium.log");
    let conf = conf_with(
        &dir,
        &format!(
            "listen: 127.0.0.1:-1\nlogfile: {:?}\ndebug: true\n",
            log.to_str().unwrap()
        ),
    );
    let (child, port) = start_logging_to(&conf, &log);
    let child = Killed(child);
    let rotated = dir.path().join("natrium.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    kill(child.0.id(), "USR1");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("File log re-opened")
    }));
    // New lines go to the new file, not the renamed one.
    let before = std::fs::read_to_string(&rotated).unwrap();
    Raw::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Client connection created")
    }));
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), before);
}

#[test]
fn log_file_rotates_by_size_and_keeps_max_num() {
    let dir = TempDir::new("conf-rotate");
    let log = dir.path().join("natrium.log");
    let conf = conf_with(
        &dir,
        &format!(
            "listen: 127.0.0.1:-1\nlogfile: {:?}\nlogfile_size_limit: 1KB\nlogfile_max_num: 3\ndebug: true\n",
            log.to_str().unwrap()
        ),
    );
    let (child, port) = start_logging_to(&conf, &log);
    let _child = Killed(child);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // Each connection logs a couple of debug lines.
    for _ in 0..60 {
        let mut raw = Raw::connect(addr);
        raw.send_str("CONNECT {}\r\nPING\r\n");
        raw.expect("PONG\r\n");
    }
    let backups = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("natrium.log.") && n != "natrium.log")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(5), || backups() == 2),
        "backups: {}",
        backups()
    );
    let current = std::fs::metadata(&log).unwrap().len();
    assert!(current < 2048, "current log is {current} bytes");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("Rotated log, backup saved as"));
}

#[test]
fn json_log_format_from_the_config_file() {
    let dir = TempDir::new("conf-json");
    let log = dir.path().join("natrium.log");
    let conf = conf_with(
        &dir,
        &format!(
            "listen: 127.0.0.1:-1\nlogfile: {:?}\nlog_format: json\nlogtime_utc: true\n",
            log.to_str().unwrap()
        ),
    );
    let (child, _) = start_logging_to(&conf, &log);
    let _child = Killed(child);
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(v["level"].is_string() && v["msg"].is_string());
    }
}

#[test]
fn lame_duck_informs_clients_closes_them_and_exits() {
    let dir = TempDir::new("conf-ldm");
    let conf = conf_with(
        &dir,
        "listen: 127.0.0.1:-1\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n",
    );
    let mut srv = start_conf(&conf);
    let url = srv.url();
    let rt = crate::harness::rt();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let client = rt.block_on(async {
        async_nats::ConnectOptions::new()
            .event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(e.to_string());
                }
            })
            .max_reconnects(Some(1))
            .connect(&url)
            .await
            .unwrap()
    });
    // The server has processed its CONNECT (protocol 1) once a flush round trip is done.
    rt.block_on(client.flush()).unwrap();
    let mut raw = Raw::connect(srv.addr());
    raw.handshake("{\"verbose\":false,\"protocol\":1}");
    let started = Instant::now();
    srv.signal("USR2");
    // A protocol-1 client gets INFO with ldm:true.
    let info = raw.expect("\r\n");
    assert!(info.contains("\"ldm\":true"), "{info}");
    // SIGTERM is ignored while in lame duck mode.
    srv.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        srv.wait_exit(Duration::ZERO).is_none(),
        "SIGTERM ended lame duck mode"
    );
    // async-nats sees lame duck mode, then the disconnection.
    let events = rt.block_on(async {
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = rx.recv().await {
                seen.push(e.clone());
                if e == "disconnected" {
                    break;
                }
            }
        })
        .await;
        seen
    });
    assert!(
        events.iter().any(|e| e == "lame duck mode detected"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "disconnected"), "{events:?}");
    assert!(raw.is_closed(Duration::from_secs(5)));
    assert_eq!(srv.wait_exit(Duration::from_secs(10)), Some(0));
    // Grace period 1 s, then the clients closed at most 1 s apart: far inside the duration.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(client);
    let log = srv.log_text();
    assert!(
        log.contains("Entering lame duck mode, stop accepting new clients"),
        "{log}"
    );
}

#[test]
fn systemd_notify_ready_after_listening_and_watchdog() {
    let dir = TempDir::new("conf-notify");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = free_port();
    let port_s = port.to_string();
    let notify = sock_path.to_str().unwrap().to_string();
    // Spawn without waiting for the log, so READY=1 is observed as it arrives.
    let child = Command::new(natrium_bin())
        .args(["-a", "127.0.0.1", "-p", &port_s])
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // The client port already accepts connections when READY=1 arrives.
    let mut raw = Raw::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    raw.send_str("PING\r\n");
    raw.expect("PONG\r\n");
    // Keep-alives every WATCHDOG_USEC/2 = 100 ms.
    let start = Instant::now();
    let mut watchdogs = 0;
    while watchdogs < 4 {
        let n = sock.recv(&mut buf).unwrap();
        if &buf[..n] == b"WATCHDOG=1" {
            watchdogs += 1;
        }
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "4 watchdog pings took {took:?}"
    );
    kill(child.0.id(), "TERM");
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if &buf[..n] == b"STOPPING=1" {
            stopping = true;
            break;
        }
    }
    assert!(stopping);
}

#[test]
fn systemd_notify_abstract_socket_and_watchdog_pid() {
    let name = format!("natrium-it-notify-{}", std::process::id());
    let addr = {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
    };
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let at = format!("@{name}");
    // WATCHDOG_PID names another process: no keep-alives from this one.
    let srv = spawn_env(
        &natrium_bin(),
        &[],
        &[
            ("NOTIFY_SOCKET", &at),
            ("WATCHDOG_USEC", "100000"),
            ("WATCHDOG_PID", "1"),
        ],
    );
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    sock.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    assert!(sock.recv(&mut buf).is_err(), "unexpected {:?}", &buf[..8]);
    drop(srv);
    let _ = std::io::stderr().flush();
}

#[test]
fn syslog_is_refused_not_ignored() {
    let (code, _, err) = run(&["-a", "127.0.0.1", "-p", "-1", "-s"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("syslog logging is not supported by natrium yet"),
        "{err}"
    );
    let dir = TempDir::new("conf-syslog");
    let conf = conf_with(&dir, "port: -1\nremote_syslog: \"udp://127.0.0.1:514\"\n");
    let (code, _, err) = run(&["-t", "-c", conf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("syslog logging is not supported"), "{err}");
}

/// `-t` against the official nats-server on the same files: every error and warning that
/// nats-server reports, natrium reports with the same position and text — except Go's type
/// assertion texts and natrium's own keys, listed in docs/compat.md.
#[test]
fn check_config_matches_nats_server() {
    let Some(nats) = crate::harness::nats_server_bin() else {
        return;
    };
    let strip = |out: &str, prog: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.trim_start_matches(prog).trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    for name in [
        "options/errors.conf",
        "options/aliases.conf",
        "launchers/natsjs_v3.conf",
        "launchers/invalid.json",
        "launchers/permission_vars.conf",
    ] {
        let path = format!("tests/conf/{name}");
        let theirs = Command::new(&nats)
            .current_dir(root())
            .args(["-t", "-c", &path])
            .output()
            .unwrap();
        let ours = Command::new(natrium_bin())
            .current_dir(root())
            .args(["-t", "-c", &path])
            .output()
            .unwrap();
        let theirs_text = String::from_utf8_lossy(&theirs.stderr);
        let ours_text = String::from_utf8_lossy(&ours.stderr);
        let ours_lines = strip(&ours_text, "natrium:");
        let valid = theirs_text.contains("is valid");
        if valid {
            assert_eq!(ours.status.code(), Some(0), "{name}: {ours_text}");
            continue;
        }
        assert_eq!(ours.status.code(), Some(1), "{name}: {ours_text}");
        for line in strip(&theirs_text, "nats-server:") {
            if line.contains("interface conversion")
                || line.contains("log_format")
                || line.contains("Parse error")
                || line.contains("is valid")
            {
                continue;
            }
            assert!(
                ours_lines.iter().any(|l| l == &line),
                "{name}: nats-server says {line:?}; natrium says:\n{ours_text}"
            );
        }
    }
}

/// A listen host name is bound at its first IPv4 address, as Go's `net.Listen` picks it for
/// nats-server (`first(isIPv4)`), not at the resolver's first answer: with an /etc/hosts
/// (private to the server's mount namespace) that lists `::1 localhost` before
/// `127.0.0.1 localhost`, `net: localhost` serves clients on 127.0.0.1, and the start-up line
/// names the host as configured. Checked with natrium and nats-server in the same way.
#[test]
fn listen_host_name_takes_its_first_ipv4_address_like_nats_server() {
    let unshare_works = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        unshare_works,
        "this test needs unshare(1) and the right to make a mount namespace (root)"
    );
    let dir = TempDir::new("hosts");
    let hosts = dir.write("hosts", "::1 localhost\n127.0.0.1 localhost\n");
    let conf = dir.write("localhost.conf", "net: localhost\nport: -1\n");
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec \"$0\" \"$@\"",
        hosts.display()
    );
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let nats = crate::harness::nats_server_bin().expect("nats-server (make deps)");
    for (name, bin) in [("natrium", natrium_bin()), ("nats-server", nats)] {
        let srv = crate::harness::spawn_via(&wrapper, &bin, &["-c", conf.to_str().unwrap()]);
        let log = srv.log_text();
        assert!(
            log.contains(&format!(
                "Listening for client connections on localhost:{}",
                srv.port
            )),
            "{name}: {log}"
        );
        assert!(
            std::net::TcpStream::connect(srv.addr()).is_ok(),
            "{name} does not listen on {}",
            srv.addr()
        );
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false}"#);
        raw.send_str("PING\r\n");
        raw.expect("PONG\r\n");
    }
}

/// Runs `bin args…` with `envs` until it exits (killed after 10 s): (exit code, stderr).
fn run_bounded(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let dir = TempDir::new("bounded");
    let err_path = dir.0.join("stderr");
    let mut child = Command::new(bin)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, std::fs::read_to_string(&err_path).unwrap_or_default())
}

/// A configuration that cannot be used is reported as nats-server reports it, for `-c` as
/// for `-t`: on stderr after the program's name, exit status 1; syntax errors as `Parse error
/// on line N: '…'`, option errors as `file:line:col: msg` lines followed by an empty line,
/// and the parser's own messages (includes, variables, keys without values) in its words.
/// Compared with nats-server 2.15.1 byte for byte, the program's name aside.
#[test]
fn config_errors_read_as_nats_servers() {
    let nats = crate::harness::nats_server_bin().expect("nats-server (make deps)");
    let dir = TempDir::new("conf-errors");
    dir.write("syntax_inside.conf", "a = 1\nb = [1 2]\n");
    // (file name, contents, environment)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            "syntax.conf",
            "{\n  \"port\": : \"invalid syntax\"\n}\n",
            &[],
        ),
        ("unknown.conf", "port: 4222\nfoo: bar\nbaz: 1\n", &[]),
        (
            "nested.conf",
            "port: 4222\nauthorization {\n  user: a\n  bogus: 1\n}\n",
            &[],
        ),
        ("duration.conf", "ping_interval: \"abc\"\n", &[]),
        ("include.conf", "port: 4222\ninclude missing.conf\n", &[]),
        ("include_syntax.conf", "include syntax_inside.conf\n", &[]),
        ("variable.conf", "port: $NATRIUM_TEST_SURELY_UNSET\n", &[]),
        (
            "env.conf",
            "port: $NATRIUM_TEST_X\n",
            &[("NATRIUM_TEST_X", "[1 2]")],
        ),
        (
            "unclosed_map.conf",
            "port: 4222\nauthorization {\n  user: a\n",
            &[],
        ),
        ("unclosed_array.conf", "a = [1,\n 2\n", &[]),
        ("unclosed_string.conf", "a = \"abc\n", &[]),
        ("no_value.conf", "port 4222\nhttp\n", &[]),
        ("newline.conf", "port =\n4222\n", &[]),
        ("range.conf", "max_payload: 99999999999999999999\n", &[]),
    ];
    for (name, text, envs) in cases {
        // Nothing on line 1: there nats-server's columns count from 0 (docs/compat.md).
        let text = format!("# {name}\n{text}");
        let path = dir.write(name, &text);
        let path = path.to_str().unwrap();
        for args in [vec!["-t", "-c", path], vec!["-c", path]] {
            let (their_code, theirs) = run_bounded(&nats, &args, envs);
            let (my_code, mine) = run_bounded(&natrium_bin(), &args, envs);
            assert_eq!(their_code, 1, "nats-server {args:?}: {theirs}");
            assert_eq!(my_code, 1, "natrium {args:?}: {mine}");
            assert!(theirs.starts_with("nats-server: "), "{theirs}");
            // nats-server reads the keys in Go's random map order, natrium in file order:
            // the same lines, the first one after the program's name.
            let lines = |text: &str, exe: &str| {
                let text = text.strip_prefix(exe).unwrap_or(text);
                let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
                lines.sort();
                lines
            };
            assert!(mine.starts_with("natrium: "), "{mine}");
            // Where nats-server prints the NUL its lexer reads at the end of the text,
            // natrium writes `EOF` (docs/compat.md).
            let theirs = theirs.replace("'\0'", "EOF");
            assert_eq!(
                lines(&mine, "natrium: "),
                lines(&theirs, "nats-server: "),
                "{args:?} with {text:?}:\n{mine}\n{theirs}"
            );
        }
    }
    // A value of the wrong type: nats-server prints Go's `interface conversion: …` at
    // column 0; natrium names the key and the types (docs/compat.md). The form is the same.
    let path = dir.write("type.conf", "# type.conf\nport: \"abc\"\n");
    let path = path.to_str().unwrap();
    let (_, theirs) = run_bounded(&nats, &["-t", "-c", path], &[]);
    let (code, mine) = run_bounded(&natrium_bin(), &["-t", "-c", path], &[]);
    assert!(
        theirs.starts_with(&format!("nats-server: {path}:2:1: ")) && theirs.ends_with("\n\n"),
        "{theirs}"
    );
    assert_eq!(code, 1);
    assert_eq!(
        mine,
        format!("natrium: {path}:2:1: \"port\" expects an integer, got a string\n\n")
    );
}

// ----- clustering: the configuration layer, against nats-server -------------------------

/// Runs `bin args…` in `dir` until it exits (at most 10 s; a server that starts is killed):
/// the first non-empty line of its stderr that is not an `[INF]` log line, without the
/// program's prefix.
fn first_problem(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("[INF]"))
        .map(|l| {
            let l = l.trim_start_matches("nats-server: ");
            let l = l.trim_start_matches("natrium: ");
            // A fatal log line: the message after the level.
            l.split_once("[FTL] ").map_or(l, |(_, m)| m).to_string()
        })
        .unwrap_or_default()
}

/// A realistic cluster block: every key, routes to ports nobody listens on.
fn realistic_cluster_conf() -> String {
    format!(
        "listen: 127.0.0.1:-1\n\
         http: \"127.0.0.1:-1\"\n\
         server_name: n1\n\
         cluster {{\n\
         \x20 name: prod\n\
         \x20 listen: \"127.0.0.1:-1\"\n\
         \x20 no_advertise: true\n\
         \x20 connect_retries: 3\n\
         \x20 connect_backoff: true\n\
         \x20 authorization {{\n\
         \x20   user: route\n\
         \x20   password: s3cr3t\n\
         \x20   timeout: 3\n\
         \x20 }}\n\
         \x20 routes [\n\
         \x20   nats-route://route:s3cr3t@127.0.0.1:{}\n\
         \x20   nats://route:s3cr3t@127.0.0.1:{}\n\
         \x20 ]\n\
         \x20 permissions {{\n\
         \x20   import: {{ allow: [\"orders.>\", \"_INBOX.>\"] }}\n\
         \x20   export: {{ deny: \"secret.>\" }}\n\
         \x20 }}\n\
         \x20 pool_size: 4\n\
         \x20 accounts: [APP]\n\
         \x20 compression: {{ mode: s2_auto, rtt_thresholds: [\"10ms\", \"50ms\", \"100ms\"] }}\n\
         \x20 ping_interval: \"20s\"\n\
         \x20 ping_max: 3\n\
         \x20 write_deadline: \"5s\"\n\
         \x20 write_timeout: retry\n\
         }}\n\
         accounts {{ APP {{ users [ {{user: app, password: app}} ] }} }}\n",
        free_port(),
        free_port()
    )
}

/// The `cluster` object of a `/varz` body, its members in the order written.
fn varz_cluster(port: u16) -> Vec<(String, serde_json::Value)> {
    let body = crate::monitor::get(port, "/varz").body;
    let start = body.find("\"cluster\"").expect("a cluster member");
    let open = start + body[start..].find('{').expect("an object");
    let close = open + body[open..].find('}').expect("its end");
    let obj: crate::harness::OrderedObject =
        serde_json::from_str(&body[open..=close]).expect("JSON");
    obj.0
}

/// `-t` on cluster configurations: nats-server's and natrium's verdicts and texts agree
/// (each bad file has one problem: nats-server reports a block's problems in random order,
/// and its first-line columns are 0-based, so the keys sit on later lines).
#[test]
fn cluster_config_check_matches_nats_server() {
    let Some(nats) = crate::harness::nats_server_bin() else {
        return;
    };
    let dir = TempDir::new("conf-cluster-check");
    std::fs::write(dir.path().join("good.conf"), realistic_cluster_conf()).unwrap();
    let check = |bin: &Path, name: &str| {
        let out = Command::new(bin)
            .current_dir(dir.path())
            .args(["-t", "-c", name])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (theirs, text) = check(&nats, "good.conf");
    assert_eq!(theirs, Some(0), "nats-server: {text}");
    let (ours, text) = check(&natrium_bin(), "good.conf");
    assert_eq!(ours, Some(0), "natrium: {text}");
    assert!(!text.contains("cluster"), "nothing ignored: {text}");

    for (name, body) in [
        ("name.conf", "  name: \"a b\"\n  port: -1"),
        (
            "users.conf",
            "  authorization {\n    users [ {user: a, password: b} ]\n  }",
        ),
        ("token.conf", "  authorization {\n    token: abc\n  }"),
        ("unknown.conf", "  port: -1\n  bogus: 1"),
        (
            "dup_route.conf",
            "  routes [\n    nats://a:1\n    nats://a:1\n  ]",
        ),
        ("bad_route.conf", "  routes [\n    nats://a%zz:1\n  ]"),
        ("ping.conf", "  ping_interval: \"1m\""),
        ("ping_int.conf", "  ping_interval: 5"),
        (
            "auth_perms.conf",
            "  authorization {\n    user: a\n    password: b\n    permissions { import: x }\n  }",
        ),
        (
            "responses.conf",
            "  permissions {\n    allow_responses: true\n  }",
        ),
        ("queue.conf", "  permissions {\n    export: \"a q\"\n  }"),
        ("compression.conf", "  compression: 5"),
        ("compression_map.conf", "  compression: {\n    foo: 1\n  }"),
        ("write_timeout.conf", "  write_timeout: sometimes"),
        ("accounts.conf", "  accounts: 5"),
        ("listen.conf", "  listen: localhost"),
        (
            "auth_timeout.conf",
            "  authorization {\n    user: a\n    timeout: 100\n  }",
        ),
    ] {
        std::fs::write(
            dir.path().join(name),
            format!("port: -1\ncluster {{\n{body}\n}}\n"),
        )
        .unwrap();
        let (theirs, their_text) = check(&nats, name);
        let (ours, our_text) = check(&natrium_bin(), name);
        assert_eq!(theirs, Some(1), "{name}: nats-server: {their_text}");
        assert_eq!(ours, Some(1), "{name}: natrium: {our_text}");
        let want = first_problem(&nats, dir.path(), &["-t", "-c", name]);
        let got = first_problem(&natrium_bin(), dir.path(), &["-t", "-c", name]);
        assert!(want.starts_with(name), "{name}: nats-server said {want:?}");
        assert_eq!(got, want, "{name}");
    }
}

/// What nats-server checks when it starts (not with `-t`), and its cluster flags: the
/// same refusals in the same words.
#[test]
fn cluster_start_up_and_flag_errors_match_nats_server() {
    let Some(nats) = crate::harness::nats_server_bin() else {
        return;
    };
    let dir = TempDir::new("conf-cluster-start");
    let mut cases: Vec<Vec<String>> = Vec::new();
    for (name, body) in [
        ("mode.conf", "compression: bogus"),
        ("uncompressed.conf", "compression: s2_uncompressed"),
        (
            "rtt.conf",
            "compression: { mode: s2_auto, rtt_thresholds: [\"50ms\", \"10ms\"] }",
        ),
        ("pool.conf", "pool_size: -1\n  accounts: [A]"),
        ("dup.conf", "accounts: [A, A]"),
    ] {
        std::fs::write(
            dir.path().join(name),
            format!(
                "listen: 127.0.0.1:-1\naccounts {{ A {{}} }}\ncluster {{\n  port: -1\n  {body}\n}}\n"
            ),
        )
        .unwrap();
        cases.push(vec!["-c".into(), name.into()]);
    }
    for flags in [
        "--routes nats://127.0.0.1:1",
        "--cluster nats://ruser@127.0.0.1:-1",
        "-cluster 127.0.0.1:6222",
        "--cluster_listen nats://127.0.0.1",
        "--cluster=nats://127.0.0.1:abc",
        "--cluster nats://127.0.0.1:-1 --cluster_name a_b --connect_retries x",
        "--cluster nats://127.0.0.1:-1 --no_advertise=maybe",
    ] {
        cases.push(flags.split(' ').map(String::from).collect());
    }
    for args in cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["-a", "127.0.0.1", "-p", "-1"]);
        let want = first_problem(&nats, dir.path(), &args);
        let got = first_problem(&natrium_bin(), dir.path(), &args);
        assert!(!want.is_empty(), "{args:?}: nats-server said nothing");
        assert_eq!(got, want, "{args:?}");
    }
}

/// A configured cluster starts (its routes to absent peers keep failing), serves clients,
/// and `/varz` `cluster` has nats-server's members, order and values (the bound route
/// port aside, which is random on both).
#[test]
fn configured_cluster_starts_serves_clients_and_shows_in_varz() {
    let dir = TempDir::new("conf-cluster-run");
    let conf = conf_with(&dir, &realistic_cluster_conf());
    let srv = start_conf(&conf);
    let mut raw = Raw::connect(srv.addr());
    raw.send_str("CONNECT {\"verbose\":false,\"user\":\"app\",\"pass\":\"app\"}\r\nPING\r\n");
    raw.expect("PONG\r\n");
    let ours = varz_cluster(srv.monitor_port.expect("monitor"));
    let Some(nats) = crate::harness::NatsServer::start(&["-c", conf.to_str().unwrap()]) else {
        return;
    };
    // nats-server builds its /varz body once, at the first request, and never refreshes the
    // route port in it: asked before its route listener is up (which can be after "ready"),
    // it reports the configured -1 for good. Ask only once it listens for routes.
    assert!(
        nats.wait_log("Listening for route connections on", Duration::from_secs(5)),
        "nats-server's route listener"
    );
    let theirs = varz_cluster(nats.monitor_port.expect("monitor"));
    let keys = |o: &[(String, serde_json::Value)]| -> Vec<String> {
        o.iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(keys(&ours), keys(&theirs));
    for ((k, a), (_, b)) in ours.iter().zip(&theirs) {
        match k.as_str() {
            "cluster_port" => {
                assert!(a.as_u64().is_some_and(|p| p > 0), "bound port: {a}");
                assert!(b.as_u64().is_some_and(|p| p > 0), "nats-server's: {b}");
            }
            "tls_cert_not_after" => {}
            _ => assert_eq!(a, b, "{k}"),
        }
    }
}

/// SIGHUP: the cluster settings nats-server reloads are reloaded, the listen address is
/// refused with its text, and the server keeps serving either way.
#[test]
fn cluster_reload_follows_nats_server() {
    let dir = TempDir::new("conf-cluster-reload");
    let port = free_port();
    let body = |extra: &str| {
        format!("listen: 127.0.0.1:-1\ncluster {{\n  name: C1\n  listen: \"127.0.0.1:{port}\"\n  {extra}\n}}\n")
    };
    let conf = conf_with(&dir, &body(""));
    let srv = start_conf(&conf);
    std::fs::write(&conf, body("routes [ nats://127.0.0.1:1 ]\n  pool_size: 5")).unwrap();
    srv.signal("HUP");
    assert!(
        srv.wait_log("Reloaded server configuration", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    let log = srv.log_text();
    assert!(
        log.lines().any(|l| l.ends_with("[INF] Reloaded: cluster")),
        "{log}"
    );
    assert!(log.contains("[INF] Reloaded: cluster routes"), "{log}");
    let new_port = free_port();
    std::fs::write(
        &conf,
        body("").replace(&port.to_string(), &new_port.to_string()),
    )
    .unwrap();
    srv.signal("HUP");
    let want = format!(
        "[ERR] Failed to reload server configuration: config reload not supported for cluster port: old={port}, new={new_port}"
    );
    assert!(
        srv.wait_log(&want, Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    Raw::connect(srv.addr());
}
