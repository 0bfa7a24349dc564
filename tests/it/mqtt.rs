//! MQTT: real MQTT clients (paho-mqtt for Python at both protocol levels, Debian's
//! mosquitto_pub/mosquitto_sub) against natrium over TCP, TLS and WebSocket, NATS clients
//! on the other side; raw packet transcripts compared with nats-server 2.15.1's MQTT; and
//! malformed input that must close only its own connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{free_port, root, Natrium, NatsServer, Proc, TempDir};
use crate::tls::Certs;

/// A natrium with NATS, WebSocket and MQTT listeners; users with a no_auth_user, so
/// clients without credentials get in and wrong credentials are refused.
fn server(dir: &TempDir, extra: &str) -> (Proc, u16, u16) {
    server_with(dir, extra, &[])
}

fn server_with(dir: &TempDir, extra: &str, args: &[&str]) -> (Proc, u16, u16) {
    let (mqtt, ws) = (free_port(), free_port());
    let conf = dir.write(
        "mqtt.conf",
        &format!(
            "port: -1\n\
             authorization {{ users [ {{user: dev, password: pw}} ] }}\n\
             no_auth_user: dev\n\
             websocket {{ port: {ws}, no_tls: true }}\n\
             mqtt {{ port: {mqtt} {extra} }}\n"
        ),
    );
    let mut all = vec!["-c", conf.to_str().unwrap()];
    all.extend_from_slice(args);
    let p = Natrium::start(&all);
    (p, mqtt, ws)
}

#[test]
fn paho_and_mqtt_js_at_both_protocol_levels_over_tcp_tls_and_websocket() {
    let dir = TempDir::new("mqtt-paho");
    let certs = Certs::new("mqtt");
    let (p, mqtt, ws) = server(&dir, "");
    let tls_port = free_port();
    let tls_conf = dir.write(
        "tls.conf",
        &format!(
            "port: -1\nmqtt {{ port: {tls_port}, tls {{ cert_file: {:?}, key_file: {:?} }} }}\n",
            certs.path("server.pem"),
            certs.path("server-key.pem")
        ),
    );
    let tls_server = Natrium::start(&["-c", tls_conf.to_str().unwrap()]);
    assert!(tls_server.wait_log(
        &format!("Listening for MQTT clients on tls://0.0.0.0:{tls_port}"),
        Duration::from_secs(5)
    ));
    let out = Command::new("python3")
        .arg(root().join("tests/python/mqtt_clients.py"))
        .args([
            &mqtt.to_string(),
            &p.url(),
            &ws.to_string(),
            &tls_port.to_string(),
            &certs.path("ca.pem"),
        ])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log_text()
    );
    // Sessions across reactors: a reconnect or take-over lands on another event loop than
    // the connection before it (connections are handed out in turn).
    let dir2 = TempDir::new("mqtt-paho-2");
    let (p2, mqtt2, ws2) = server_with(&dir2, "", &["--reactors", "2"]);
    let out2 = Command::new("python3")
        .arg(root().join("tests/python/mqtt_clients.py"))
        .args([&mqtt2.to_string(), &p2.url(), &ws2.to_string(), "0", ""])
        .args([
            "persistent_session",
            "offline_messages_wait_for_a_persistent_session",
            "takeover_keeps_the_session",
            "v5_server_disconnect_with_reason",
            "v5_shared_subscriptions",
            "retained",
        ])
        .output()
        .expect("python3");
    assert!(
        out2.status.success(),
        "two reactors:\n{}{}\n{}",
        String::from_utf8_lossy(&out2.stdout),
        String::from_utf8_lossy(&out2.stderr),
        p2.log_text()
    );
    // And MQTT.js, the Node.js client, the same ways.
    let node_dir = root().join("tests/node");
    assert!(
        node_dir.join("node_modules/mqtt").exists(),
        "tests/node/node_modules is missing: run `make deps`"
    );
    let js = Command::new("node")
        .current_dir(&node_dir)
        .args([
            "mqtt_clients.mjs",
            &mqtt.to_string(),
            &p.port.to_string(),
            &ws.to_string(),
            &tls_port.to_string(),
            &certs.path("ca.pem"),
        ])
        .output()
        .expect("node");
    let js_out = String::from_utf8_lossy(&js.stdout);
    assert!(
        js.status.success() && js_out.contains("OK websocket_and_tls"),
        "{js_out}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&js.stderr),
        p.log_text()
    );
    for case in [
        "qos_levels",
        "retained",
        "will",
        "persistent_session",
        "wildcards",
        "nats_interop",
        "websocket_transport",
        "tls_transport",
        "v5_shared_subscriptions",
        "v5_calls_nats_service",
        "nats_calls_v5_device",
    ] {
        assert!(
            stdout.contains(&format!("OK {case}\n")),
            "{case} did not run:\n{stdout}"
        );
    }
}

fn mosquitto(bin: &str) -> Command {
    let found = Command::new(bin)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{bin} missing: `make deps` installs Debian's mosquitto-clients"
    );
    Command::new(bin)
}

#[test]
fn mosquitto_clients_publish_subscribe_and_retain() {
    let dir = TempDir::new("mqtt-mosquitto");
    let (_p, mqtt, _) = server(&dir, "");
    let port = mqtt.to_string();
    let publish = |args: &[&str]| {
        let st = mosquitto("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv311"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "mosquitto_pub {args:?}");
    };
    publish(&["-t", "home/hall/light", "-m", "on", "-q", "1", "-r"]);
    let sub = mosquitto("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv5"])
        .args(["-t", "home/#", "-q", "2", "-v", "-C", "3", "-W", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The retained message arrives first; wait for the subscription to exist before the
    // live ones (mosquitto_sub prints nothing until then, so poll the server's subs).
    std::thread::sleep(Duration::from_millis(500));
    publish(&["-t", "home/kitchen/temp", "-m", "21", "-q", "2"]);
    publish(&["-t", "home/kitchen/temp", "-m", "22", "-q", "0"]);
    let out = sub.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "home/hall/light on\nhome/kitchen/temp 21\nhome/kitchen/temp 22\n"
    );
}

// ----- raw packets ---------------------------------------------------------------------

/// What a connection got back for `input` and whether the server closed it.
fn exchange(addr: SocketAddr, steps: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let mut closed = false;
    for step in steps {
        if s.write_all(step).is_err() {
            closed = true;
            break;
        }
        let mut quiet = Instant::now();
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while quiet.elapsed() < Duration::from_millis(300)
            && start.elapsed() < Duration::from_secs(5)
        {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    quiet = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            break;
        }
    }
    (got, closed)
}

fn connect_packet(client_id: &str, flags: u8, level: u8, name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name.as_bytes());
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&30u16.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut p = vec![0x10, body.len() as u8];
    p.extend_from_slice(&body);
    p
}

fn with_string(head: &[u8], s: &str, tail: &[u8]) -> Vec<u8> {
    let mut body = head[2..].to_vec();
    body.extend_from_slice(&(s.len() as u16).to_be_bytes());
    body.extend_from_slice(s.as_bytes());
    body.extend_from_slice(tail);
    let mut p = vec![head[0], body.len() as u8];
    p.extend_from_slice(&body);
    p
}

/// SUBSCRIBE packet id 1 to `filter` at `qos`.
fn subscribe(filter: &str, qos: u8) -> Vec<u8> {
    with_string(&[0x82, 0, 0, 1], filter, &[qos])
}

/// PUBLISH `payload` to `topic` (QoS 1 with packet id 7 when `qos1`).
fn publish(topic: &str, payload: &[u8], qos1: bool) -> Vec<u8> {
    let mut tail = Vec::new();
    if qos1 {
        tail.extend_from_slice(&[0, 7]);
    }
    tail.extend_from_slice(payload);
    with_string(&[if qos1 { 0x32 } else { 0x30 }, 0], topic, &tail)
}

/// The transcripts of good and bad 3.1.1 input, each from a new connection.
fn transcripts() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let hello = connect_packet("dev-1", 0x02, 4, "MQTT");
    vec![
        ("connect, ping", vec![hello.clone(), vec![0xC0, 0]]),
        (
            "subscribe, publish QoS 1 to itself, unsubscribe",
            vec![
                hello.clone(),
                subscribe("t/a", 1),
                publish("t/a", b"hi", true),
                with_string(&[0xA2, 0, 0, 2], "t/a", &[]),
            ],
        ),
        (
            "protocol level 3",
            vec![connect_packet("dev-1", 0x02, 3, "MQTT")],
        ),
        (
            "protocol name MQIsdp",
            vec![connect_packet("dev-1", 0x02, 3, "MQIsdp")],
        ),
        ("first packet not CONNECT", vec![vec![0xC0, 0]]),
        (
            "reserved connect flag",
            vec![connect_packet("dev-1", 0x03, 4, "MQTT")],
        ),
        (
            "empty client id without clean session",
            vec![connect_packet("", 0x00, 4, "MQTT")],
        ),
        (
            "client id with a dot",
            vec![connect_packet("a.b", 0x02, 4, "MQTT")],
        ),
        ("second CONNECT", vec![hello.clone(), hello.clone()]),
        (
            "wildcard in a PUBLISH topic",
            vec![hello.clone(), publish("t/+", b"x", false)],
        ),
        (
            "space in a PUBLISH topic",
            vec![hello.clone(), publish("t a", b"x", false)],
        ),
        (
            "bad SUBSCRIBE flags",
            vec![hello.clone(), {
                let mut s = subscribe("t/a", 0);
                s[0] = 0x80;
                s
            }],
        ),
        (
            "five-byte remaining length",
            vec![hello.clone(), vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]],
        ),
        (
            "QoS 3 PUBLISH",
            vec![hello.clone(), {
                let mut p = publish("t/a", b"x", false);
                p[0] = 0x36;
                p
            }],
        ),
        (
            "invalid UTF-8 topic",
            vec![hello.clone(), vec![0x30, 5, 0, 2, 0xC3, 0x28, b'x']],
        ),
        ("unknown packet type 0", vec![hello.clone(), vec![0x00, 0]]),
        ("DISCONNECT", vec![hello, vec![0xE0, 0]]),
    ]
}

#[test]
fn packet_transcripts_match_nats_server() {
    let dir = TempDir::new("mqtt-diff");
    let mqtt_port = free_port();
    let ours_conf = dir.write(
        "ours.conf",
        &format!("port: -1\nmqtt {{ port: {mqtt_port} }}\n"),
    );
    let ours = Natrium::start(&["-c", ours_conf.to_str().unwrap()]);
    let ours_addr: SocketAddr = format!("127.0.0.1:{mqtt_port}").parse().unwrap();
    let ref_port = free_port();
    let store = dir.path().join("js");
    let ref_conf = dir.write(
        "ref.conf",
        &format!(
            "port: -1\nserver_name: ref\njetstream {{ store_dir: {:?} }}\nmqtt {{ port: {ref_port} }}\n",
            store.to_string_lossy()
        ),
    );
    let Some(reference) = NatsServer::start(&["-c", ref_conf.to_str().unwrap()]) else {
        panic!("nats-server missing (make deps)");
    };
    let ref_addr: SocketAddr = format!("127.0.0.1:{ref_port}").parse().unwrap();
    let mut differences = Vec::new();
    for (name, steps) in transcripts() {
        let steps: Vec<&[u8]> = steps.iter().map(Vec::as_slice).collect();
        let theirs = exchange(ref_addr, &steps);
        let mine = exchange(ours_addr, &steps);
        if mine != theirs {
            differences.push(format!(
                "{name}:\n  nats-server {:02x?} closed={}\n  natrium     {:02x?} closed={}",
                theirs.0, theirs.1, mine.0, mine.1
            ));
        }
    }
    // And what a NATS subscriber sees of MQTT publishes: the subject, the header with the
    // QoS, the payload.
    let nats_side = |nats: &Proc, mqtt: SocketAddr| {
        let mut sub = crate::harness::Raw::connect(nats.addr());
        sub.send_str("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB t.> 1\r\nPING\r\n");
        sub.expect("PONG");
        let hello = connect_packet("dev-2", 0x02, 4, "MQTT");
        exchange(
            mqtt,
            &[
                &hello,
                &publish("t/x.y", b"zero", false),
                &publish("t//z", b"one", true),
            ],
        );
        sub.drain_for(Duration::from_millis(500))
    };
    let theirs = nats_side(&reference, ref_addr);
    let mine = nats_side(&ours, ours_addr);
    if mine != theirs {
        differences.push(format!(
            "NATS side:\n  nats-server {theirs:?}\n  natrium     {mine:?}"
        ));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    drop(ours);
}

#[test]
fn malformed_packets_close_only_their_connection() {
    let dir = TempDir::new("mqtt-bad");
    let (p, mqtt, _) = server(&dir, "");
    let addr: SocketAddr = format!("127.0.0.1:{mqtt}").parse().unwrap();
    // A healthy subscriber throughout.
    let mut good = TcpStream::connect(addr).unwrap();
    good.write_all(&connect_packet("good", 0x02, 4, "MQTT"))
        .unwrap();
    good.write_all(&subscribe("h/b", 0)).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..200 {
        let mut junk: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            // Past CONNECT, so the packet decoder sees the junk.
            let mut c = connect_packet(
                &format!("j{i}"),
                0x02,
                if i % 4 == 0 { 5 } else { 4 },
                "MQTT",
            );
            c.append(&mut junk);
            junk = c;
        }
        let (_, _) = exchange(addr, &[&junk]);
    }
    // A CONNECT flood: many connections, each one CONNECT and gone.
    for i in 0..300 {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(&connect_packet(&format!("f{i}"), 0x02, 4, "MQTT"));
    }
    let mut pubc = TcpStream::connect(addr).unwrap();
    pubc.write_all(&connect_packet("pub", 0x02, 4, "MQTT"))
        .unwrap();
    pubc.write_all(&publish("h/b", b"still here", false))
        .unwrap();
    good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    while !got.windows(10).any(|w| w == b"still here") && start.elapsed() < Duration::from_secs(5) {
        match good.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        got.windows(10).any(|w| w == b"still here"),
        "the good subscriber lost its message: {got:02x?}\n{}",
        p.log_text()
    );
    assert!(!p.log_text().contains("panicked"));
}

/// One client on a kept connection: reads packets as they come.
struct Device {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Device {
    fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> (Device, Vec<u8>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.write_all(&connect_packet(
            client_id,
            if clean { 0x02 } else { 0x00 },
            4,
            "MQTT",
        ))
        .unwrap();
        let mut d = Device { s, buf: Vec::new() };
        let connack = d.packet(Duration::from_secs(5)).expect("CONNACK");
        (d, connack)
    }

    /// The next whole packet (small packets only: one-byte remaining length).
    fn packet(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            if self.buf.len() >= 2 && self.buf.len() >= 2 + self.buf[1] as usize {
                let n = 2 + self.buf[1] as usize;
                return Some(self.buf.drain(..n).collect());
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut b = [0u8; 512];
            match self.s.read(&mut b) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(_) => {}
            }
        }
    }

    fn send(&mut self, p: &[u8]) -> Vec<u8> {
        self.s.write_all(p).unwrap();
        self.packet(Duration::from_secs(5)).expect("an answer")
    }
}

/// A configuration with JetStream (in `dir`) and an MQTT listener on a free port.
fn jetstream_conf(dir: &TempDir) -> (std::path::PathBuf, u16) {
    let port = free_port();
    let conf = dir.write(
        "js.conf",
        &format!(
            "port: -1\nserver_name: keeper\njetstream {{ store_dir: {:?} }}\nmqtt {{ port: {port} }}\n",
            dir.path().join("js").to_string_lossy()
        ),
    );
    (conf, port)
}

#[test]
fn paho_session_and_retained_message_survive_a_restart() {
    let dir = TempDir::new("mqtt-paho-restart");
    let (conf, port) = jetstream_conf(&dir);
    let run = |p: &Proc, case: &str| {
        let out = Command::new("python3")
            .arg(root().join("tests/python/mqtt_clients.py"))
            .args([&port.to_string(), &p.url(), "0", "0", "", case])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            p.log_text()
        );
    };
    let p = Natrium::start(&["-c", conf.to_str().unwrap()]);
    run(&p, "restart_before");
    p.signal("TERM");
    let mut p = p;
    assert!(p.wait_exit(Duration::from_secs(10)).is_some());
    let p = Natrium::start(&["-c", conf.to_str().unwrap()]);
    run(&p, "restart_after");
}

#[test]
fn sessions_and_retained_messages_survive_kill_9() {
    let dir = TempDir::new("mqtt-persist");
    let (conf, port) = jetstream_conf(&dir);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = Natrium::start(&["-c", conf.to_str().unwrap()]);
    let (mut dev, connack) = Device::connect(addr, "meter-7", false);
    assert_eq!(connack, [0x20, 2, 0, 0], "a new session");
    assert_eq!(dev.send(&subscribe("k/a", 1)), [0x90, 3, 0, 1, 1]);
    let (mut other, _) = Device::connect(addr, "tool", true);
    let mut retained = publish("r/t", b"kept", true);
    retained[0] |= 0x01;
    assert_eq!(other.send(&retained), [0x40, 2, 0, 7], "PUBACK");
    // Removing a retained message is kept too.
    let mut gone = publish("r/gone", b"x", true);
    gone[0] |= 0x01;
    other.send(&gone);
    let mut remove = publish("r/gone", b"", true);
    remove[0] |= 0x01;
    other.send(&remove);
    p.signal("KILL");
    drop(p);
    let p = Natrium::start(&["-c", conf.to_str().unwrap()]);
    assert!(
        p.wait_log(
            "restored 1 retained message(s) and 1 session(s)",
            Duration::from_secs(5)
        ),
        "{}",
        p.log_text()
    );
    let (mut dev, connack) = Device::connect(addr, "meter-7", false);
    assert_eq!(
        connack,
        [0x20, 2, 1, 0],
        "session present after the restart"
    );
    let (mut other, _) = Device::connect(addr, "tool", true);
    other.send(&publish("k/a", b"after", true));
    let got = dev
        .packet(Duration::from_secs(5))
        .expect("the resumed subscription delivers");
    assert_eq!(got[0] & 0xF6, 0x32, "a QoS 1 PUBLISH: {got:02x?}");
    assert!(got.ends_with(b"after"));
    let (mut fresh, _) = Device::connect(addr, "reader", true);
    fresh.s.write_all(&subscribe("r/#", 1)).unwrap();
    let mut seen = Vec::new();
    while let Some(pk) = fresh.packet(Duration::from_millis(700)) {
        seen.push(pk);
    }
    assert_eq!(seen[0], [0x90, 3, 0, 1, 1], "SUBACK");
    assert_eq!(
        seen.len(),
        2,
        "one retained message, the removed one gone: {seen:02x?}"
    );
    assert_eq!(seen[1][0], 0x33, "retained, QoS 1");
    assert!(seen[1].ends_with(b"kept"));
    // A clean session replacing the persistent one removes it, across restarts too.
    drop(dev);
    let (_dev, connack) = Device::connect(addr, "meter-7", true);
    assert_eq!(connack, [0x20, 2, 0, 0]);
    drop(_dev);
    std::thread::sleep(Duration::from_millis(200));
    p.signal("KILL");
    drop(p);
    let p = Natrium::start(&["-c", conf.to_str().unwrap()]);
    let (_dev, connack) = Device::connect(addr, "meter-7", false);
    assert_eq!(
        connack,
        [0x20, 2, 0, 0],
        "no session any more\n{}",
        p.log_text()
    );
}

/// CONNECT with a user name and password (clean session).
fn connect_login(client_id: &str, user: &str, pass: &str) -> Vec<u8> {
    let mut p = connect_packet(client_id, 0xC2, 4, "MQTT");
    for s in [user, pass] {
        p.extend_from_slice(&(s.len() as u16).to_be_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    p[1] = (p.len() - 2) as u8;
    p
}

#[test]
fn the_mqtt_blocks_own_authorization_is_what_mqtt_clients_log_in_with() {
    let dir = TempDir::new("mqtt-auth");
    let (user_port, token_port) = (free_port(), free_port());
    let start = |name: &str, port: u16, auth: &str| {
        let conf = dir.write(
            name,
            &format!(
                "port: -1\nauthorization {{ user: nats, password: natspw }}\n\
                 mqtt {{ port: {port}, authorization {{ {auth} }} }}\n"
            ),
        );
        Natrium::start(&["-c", conf.to_str().unwrap()])
    };
    let _a = start("user.conf", user_port, "username: dev, password: s3cret");
    let _b = start("token.conf", token_port, "token: t0k");
    let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
    let refused = vec![0x20, 2, 0, 5];
    let ok = vec![0x20, 2, 0, 0];
    let cases: [(u16, Vec<u8>, &Vec<u8>); 5] = [
        (user_port, connect_login("a", "dev", "s3cret"), &ok),
        (user_port, connect_login("b", "dev", "wrong"), &refused),
        // The server's own login is not an MQTT one when the block has its own.
        (user_port, connect_login("c", "nats", "natspw"), &refused),
        (user_port, connect_packet("d", 0x02, 4, "MQTT"), &refused),
        (token_port, connect_login("e", "any", "t0k"), &ok),
    ];
    for (port, packet, want) in cases {
        let (got, _) = exchange(addr(port), &[&packet]);
        assert_eq!(&got, want, "port {port} packet {packet:02x?}");
    }
}
