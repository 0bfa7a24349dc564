//! Accounts that share: stream and service exports and imports (`prefix`, `to`, wildcard
//! services, singleton and streamed responses, private exports) and subject mappings, over
//! raw connections, on natrium (one and two reactors, a natrium cluster, a cluster of natrium
//! and nats-server) and on nats-server from the same configuration file: the same
//! deliveries, replies and request headers, with the random `_R_.` reply tokens normalised.

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::{natrium_bin, nats_server_bin, Natrium, NatsServer, Raw, TempDir};

const CONF: &str = r#"
listen: 127.0.0.1:-1
accounts {
  A {
    users [ {user: a, password: p}, {user: a2, password: p} ]
    exports [
      {stream: "events.>"}
      {stream: "private.*", accounts: [B]}
      {service: "svc.echo"}
      {service: "svc.stream", response_type: stream, response_threshold: "2s"}
      {service: "svc.wild.*", accounts: [B]}
      {service: "svc.nobody"}
      {service: "svc.shared"}
    ]
    mappings {
      "old.*": "new.{{wildcard(1)}}"
      "swap.*.*": "swapped.$2.$1"
    }
  }
  B {
    users [ {user: b, password: p}, {user: b2, password: p} ]
    imports [
      {stream: {account: A, subject: "events.>"}, prefix: "fromA"}
      {stream: {account: A, subject: "private.*"}, to: "priv.*"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
      {service: {account: A, subject: "svc.stream"}}
      {service: {account: A, subject: "svc.wild.*"}, to: "wild.*"}
      {service: {account: A, subject: "svc.nobody"}}
      {service: {account: A, subject: "svc.shared"}, share: true}
    ]
  }
  C {
    users [ {user: c, password: p} ]
    imports [ {stream: {account: A, subject: "events.>"}} ]
  }
}
"#;

const Q: &str = "\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true";

/// A raw client and what it received so far.
struct Client {
    raw: Raw,
    got: String,
}

impl Client {
    fn login(addr: SocketAddr, user: &str) -> Client {
        let mut raw = Raw::connect(addr);
        raw.send_str(&format!(
            "CONNECT {{{Q},\"user\":\"{user}\",\"pass\":\"p\"}}\r\nPING\r\n"
        ));
        raw.expect("PONG\r\n");
        Client {
            raw,
            got: String::new(),
        }
    }

    /// Sends `text` and a PING, and keeps what arrived before the PONG.
    fn send(&mut self, text: &str) {
        self.raw.send_str(&format!("{text}PING\r\n"));
        let upto = self.raw.expect("PONG\r\n");
        self.got += upto.strip_suffix("PONG\r\n").unwrap_or(&upto);
    }

    /// What it received, waiting `settle` for more, as sorted messages.
    fn take(&mut self, settle: Duration) -> String {
        self.got += &self.raw.drain_for(settle);
        let text = std::mem::take(&mut self.got);
        let mut msgs = split_messages(&normalise(&text));
        msgs.sort();
        msgs.join(" | ")
    }

    /// Reads one request and returns its `Nats-Request-Info`, as JSON.
    fn request_info(&mut self, what: &str) -> serde_json::Value {
        let (_, body) = self
            .raw
            .read_msg(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{what}: no request"));
        let body = String::from_utf8_lossy(&body).into_owned();
        let info = body
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Nats-Request-Info: "))
            .unwrap_or_else(|| panic!("{what}: no Nats-Request-Info in {body:?}"));
        serde_json::from_str(info).expect("Nats-Request-Info is JSON")
    }

    /// Reads one request and returns its `MSG` line and reply subject.
    fn request(&mut self, what: &str) -> (String, String) {
        assert!(self.got.is_empty(), "{what}: unread {:?}", self.got);
        let (line, body) = self
            .raw
            .read_msg(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{what}: no request"));
        let reply = line.split(' ').nth(3).unwrap_or_default().to_string();
        let text = format!("{line}\r\n{}\r\n", String::from_utf8_lossy(&body));
        (split_messages(&normalise(&text)).join(" | "), reply)
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// `MSG`/`HMSG` records (control line and body) of a received byte stream.
fn split_messages(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find("\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if !(line.starts_with("MSG ") || line.starts_with("HMSG ")) {
            // Keepalive PINGs come when each server's timer says.
            if !line.is_empty() && line != "PING" {
                out.push(line.to_string());
            }
            continue;
        }
        let size: usize = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let body = rest.get(..size).unwrap_or(rest);
        out.push(match body.find("\"rtt\":") {
            // The requester's RTT (and with it the sizes) differs from run to run.
            Some(at) => {
                let digits = body[at + 6..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(0);
                let body = format!("{}\"rtt\":_{}", &body[..at], &body[at + 6 + digits..]);
                let line: Vec<&str> = line.split(' ').collect();
                let line = line[..line.len().saturating_sub(2)].join(" ");
                format!("{line} {body:?}")
            }
            None => format!("{line} {body:?}"),
        });
        rest = rest.get(size + 2..).unwrap_or("");
    }
    out
}

/// `_R_.xxxxxx.yyyyyy` replies with their random tokens hidden (their token lengths kept).
fn normalise(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("_R_.") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 4..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(tail.len());
        let shape: Vec<usize> = tail[..end].split('.').map(str::len).collect();
        out.push_str(&format!("_R_.{shape:?}"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Everything each client saw, normalised, in a fixed order.
fn scenario(addr: SocketAddr, settle: Duration) -> Vec<String> {
    scenario_on([addr; 4], settle)
}

/// [`scenario`] with its clients a, a2, b and c connected to these servers.
fn scenario_on(addrs: [SocketAddr; 4], settle: Duration) -> Vec<String> {
    let mut a = Client::login(addrs[0], "a");
    let mut a2 = Client::login(addrs[1], "a2");
    let mut b = Client::login(addrs[2], "b");
    let mut c = Client::login(addrs[3], "c");
    let mut seen = Vec::new();
    a.send("SUB svc.echo 1\r\nSUB svc.stream 2\r\nSUB svc.wild.* 3\r\nSUB new.* 4\r\nSUB swapped.> 5\r\nSUB svc.shared 6\r\n");
    b.send("SUB fromA.events.> 1\r\nSUB priv.* 2\r\nSUB fromA.> 3\r\nSUB _INBOX.b.* 9\r\nSUB events.> 10\r\n");
    c.send("SUB events.* 1\r\nSUB priv.* 2\r\nSUB _INBOX.c.* 9\r\n");
    std::thread::sleep(settle);

    // Streams, and mappings of the exporting account.
    a2.send("PUB events.x 2\r\nhi\r\nPUB private.1 1\r\np\r\nPUB old.5 1\r\nm\r\nPUB swap.l.r 1\r\ns\r\n");
    // B publishing its own `events.x` stays in B.
    b.send("PUB events.x 1\r\nb\r\n");
    for (name, cl) in [("a", &mut a), ("b", &mut b), ("c", &mut c)] {
        seen.push(format!("{name}: {}", cl.take(settle)));
    }

    // A singleton service: one answer reaches the requester, a second does not.
    b.send("PUB echo _INBOX.b.1 3\r\nreq\r\n");
    let (line, reply) = a.request("echo");
    seen.push(format!("a got: {line}"));
    a.send(&format!(
        "PUB {reply} 3\r\nans\r\nPUB {reply} 5\r\nagain\r\n"
    ));
    seen.push(format!("b: {}", b.take(settle)));

    // A streamed service: every answer reaches the requester.
    b.send("PUB svc.stream _INBOX.b.2 1\r\ns\r\n");
    let (line, reply) = a.request("stream");
    seen.push(format!("a got: {line}"));
    a.send(&format!(
        "PUB {reply} 2\r\nr1\r\nPUB {reply} 2\r\nr2\r\nPUB {reply} 2\r\nr3\r\n"
    ));
    seen.push(format!("b: {}", b.take(settle)));

    // A wildcard service mapped onto another subject; a request without a reply.
    b.send("PUB wild.7 _INBOX.b.3 1\r\nw\r\nPUB wild.8 1\r\nx\r\n");
    let (line, _) = a.request("wild");
    seen.push(format!("a got: {line}"));
    seen.push(format!("a: {}", a.take(settle)));

    // A shared service: the requester's details, compared by key and type (values of
    // what names the connection and the server differ between servers).
    b.send("PUB svc.shared _INBOX.b.5 1\r\nq\r\n");
    let info = a.request_info("shared");
    let mut shape: Vec<String> = info
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| match k.as_str() {
            "acc" | "user" | "kind" | "client_type" | "host" => format!("{k}={v}"),
            _ => format!("{k}:{}", json_type(v)),
        })
        .collect();
    shape.sort();
    seen.push(format!("shared: {}", shape.join(" ")));

    // No responder behind an imported service.
    b.send("PUB svc.nobody _INBOX.b.4 0\r\n\r\n");
    seen.push(format!("b: {}", b.take(settle)));
    // C imports no service.
    c.send("PUB echo _INBOX.c.1 1\r\nz\r\n");
    seen.push(format!("c: {}", c.take(settle)));
    seen.push(format!("a: {}", a.take(settle)));
    seen
}

fn expect_facts(got: &[String], who: &str) {
    let all = got.join("\n");
    for needle in [
        "MSG new.5 4 1",
        "MSG swapped.r.l 5 1",
        "MSG fromA.events.x 1 2",
        "MSG fromA.events.x 3 2",
        "MSG priv.1 2 1",
        "MSG events.x 1 2",
        "MSG events.x 10 1",
        "a got: HMSG svc.echo 1 _R_.[6, 6]",
        "MSG _INBOX.b.1 9 3",
        "a got: HMSG svc.wild.7 3 _R_.[6, 6]",
        "HMSG svc.wild.8 3",
        "Nats-Request-Info: {\\\"acc\\\":\\\"B\\\",\\\"rtt\\\":_}",
        "HMSG _INBOX.b.4 9",
    ] {
        assert!(all.contains(needle), "{who}: no {needle:?} in\n{all}");
    }
    assert!(
        !all.contains("again"),
        "{who}: a singleton answered twice:\n{all}"
    );
    for r in ["r1", "r2", "r3"] {
        assert!(
            all.contains(r),
            "{who}: streamed answer {r} missing:\n{all}"
        );
    }
}

fn conf_file(dir: &TempDir) -> String {
    dir.write("sharing.conf", CONF)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exports_imports_and_mappings_like_nats_server() {
    let dir = TempDir::new("sharing");
    let conf = conf_file(&dir);
    let settle = Duration::from_millis(300);
    let mine = Natrium::start(&["-c", &conf]);
    let got = scenario(mine.addr(), settle);
    expect_facts(&got, "natrium");
    let two = Natrium::start(&["-c", &conf, "--reactors", "2"]);
    let got_two = scenario(two.addr(), settle);
    assert_eq!(got_two, got, "natrium with two reactors");
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
        let want = scenario(theirs.addr(), settle);
        assert_eq!(got, want, "natrium vs nats-server");
    }
}

/// The same between two natrium servers of a cluster: the responder and a publisher on one,
/// the requester and the other importer on the other (shadow subscriptions and `_R_.`
/// reply prefixes cross the route as interest of the exporting account).
#[test]
fn exports_and_imports_work_across_a_natrium_cluster() {
    let dir = TempDir::new("sharing-cluster");
    let single = Natrium::start(&["-c", &conf_file(&dir)]);
    let settle = Duration::from_millis(300);
    let want = scenario(single.addr(), settle);
    let (p1, p2) = (crate::harness::free_port(), crate::harness::free_port());
    let node = |name: &str, listen: u16, seed: u16, bin: &std::path::Path| {
        let text = format!(
            "{CONF}\nserver_name: {name}\ncluster {{\n  name: share\n  listen: 127.0.0.1:{listen}\n  routes: [nats-route://127.0.0.1:{seed}]\n}}\n"
        );
        let path = dir.write(&format!("{name}.conf"), &text);
        crate::harness::spawn(bin, &["-c", path.to_str().expect("utf-8 path"), "-m", "-1"])
    };
    let n1 = node("n1", p1, p2, &natrium_bin());
    let n2 = node("n2", p2, p1, &natrium_bin());
    let nodes = [
        crate::cluster::Node::new(n1, "n1", TempDir::new("sharing-n1")),
        crate::cluster::Node::new(n2, "n2", TempDir::new("sharing-n2")),
    ];
    crate::cluster::wait_mesh(&[&nodes[0], &nodes[1]], 1);
    let (one, two) = (nodes[0].proc.addr(), nodes[1].proc.addr());
    // Only a shared request's details differ: a clustered server names its cluster.
    let unclustered = |got: Vec<String>| -> Vec<String> {
        got.into_iter()
            .map(|s| s.replace(" cluster:string", ""))
            .collect()
    };
    let got = scenario_on([one, one, two, two], settle);
    assert!(got.iter().any(|s| s.contains("cluster:string")), "{got:?}");
    assert_eq!(unclustered(got), want, "a, a2 on n1; b, c on n2");
    let got = scenario_on([two, one, two, one], settle);
    assert_eq!(unclustered(got), want, "a, b on n2; a2, c on n1");
    drop(nodes);
    // natrium beside nats-server: each applies the imports of its own clients.
    if let Some(bin) = nats_server_bin() {
        let (p3, p4) = (crate::harness::free_port(), crate::harness::free_port());
        let mixed = [
            crate::cluster::Node::new(
                node("n3", p3, p4, &natrium_bin()),
                "n3",
                TempDir::new("sharing-n3"),
            ),
            crate::cluster::Node::new(node("n4", p4, p3, &bin), "n4", TempDir::new("sharing-n4")),
        ];
        crate::cluster::wait_mesh(&[&mixed[0], &mixed[1]], 1);
        let (three, four) = (mixed[0].proc.addr(), mixed[1].proc.addr());
        let got = scenario_on([three, three, four, four], settle);
        assert_eq!(
            unclustered(got),
            want,
            "a, a2 on natrium; b, c on nats-server"
        );
        let got = scenario_on([four, three, three, four], settle);
        assert_eq!(
            unclustered(got),
            want,
            "a, c on nats-server; a2, b on natrium"
        );
    }
}

/// A SIGHUP that adds a stream import, then takes it away, while the importer's
/// subscriber stays connected; what it got after each (natrium, then nats-server).
fn reload_import_scenario(srv: &crate::harness::Proc, dir: &TempDir) -> Vec<String> {
    let conf = |import: &str| {
        dir.write(
            "reload-import.conf",
            &format!(
                "listen: {}\naccounts {{\n  A {{ users [ {{user: a, password: p}} ]\n    exports [ {{stream: \"feed.>\"}} ] }}\n  B {{ users [ {{user: b, password: p}} ]\n    imports [ {import} ] }}\n}}\n",
                srv.addr()
            ),
        )
    };
    let connect = |user: &str| {
        let mut raw = Raw::connect(srv.addr());
        raw.send_str(&format!(
            "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"p\"}}\r\nSUB feed.> 1\r\nPING\r\n"
        ));
        raw.expect("PONG\r\n");
        raw
    };
    let (mut sub, mut publisher) = (connect("b"), connect("a"));
    let mut round = |name: &str, sub: &mut Raw| {
        publisher.send_str(&format!("PUB feed.{name} 1\r\nx\r\nPING\r\n"));
        publisher.expect("PONG\r\n");
        let got = sub.drain_for(Duration::from_millis(300));
        let msgs: Vec<&str> = got.lines().filter(|l| l.starts_with("MSG")).collect();
        format!("{name}: {}", msgs.join("|"))
    };
    let mut seen = vec![round("before", &mut sub)];
    conf("{stream: {account: A, subject: \"feed.>\"}}");
    srv.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    seen.push(round("imported", &mut sub));
    conf("");
    srv.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    seen.push(round("removed", &mut sub));
    seen
}

#[test]
fn a_reload_that_changes_stream_imports_reaches_connected_subscribers() {
    let start = |dir: &TempDir, server: &dyn Fn(&str) -> Option<crate::harness::Proc>| {
        let port = crate::harness::free_port();
        let conf = dir.write(
            "reload-import.conf",
            &format!(
                "listen: 127.0.0.1:{port}\naccounts {{\n  A {{ users [ {{user: a, password: p}} ]\n    exports [ {{stream: \"feed.>\"}} ] }}\n  B {{ users [ {{user: b, password: p}} ] }}\n}}\n"
            ),
        );
        server(conf.to_str().expect("utf-8 path"))
    };
    let dir = TempDir::new("reload-import");
    let mine = start(&dir, &|c| Some(Natrium::start(&["-c", c]))).expect("natrium");
    let got = reload_import_scenario(&mine, &dir);
    assert_eq!(
        got,
        ["before: ", "imported: MSG feed.imported 1 1", "removed: "],
        "natrium"
    );
    if nats_server_bin().is_some() {
        let theirs_dir = TempDir::new("reload-import-ns");
        let theirs = start(&theirs_dir, &|c| NatsServer::start(&["-c", c])).expect("nats-server");
        assert_eq!(
            got,
            reload_import_scenario(&theirs, &theirs_dir),
            "nats-server"
        );
    }
}
