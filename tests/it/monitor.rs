//! The HTTP monitor against the real binary with real HTTP requests: nats-server's endpoint
//! shapes (diffed against the official nats-server running the same clients), the numbers
//! after a known workload, paging/sorting/filters, closed-connection reasons, `/metrics`
//! parsed by Prometheus' own Python parser, the dashboard in headless Chromium, and the HTTP
//! server's behaviour with garbage and slow clients.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{root, Natrium, NatsServer, Proc, Raw};

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// Parses one response from raw bytes.
fn parse_response(raw: &[u8]) -> Resp {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends raw request bytes on a new connection and reads until the server closes it.
pub fn raw_http(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect monitor");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `GET path` over a fresh connection (`Connection: close`).
pub fn get(port: u16, path: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    parse_response(&raw_http(port, req.as_bytes()))
}

/// `GET path`, which must answer 200 with JSON.
pub fn get_json(port: u16, path: &str) -> Value {
    let r = get(port, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

fn mport(p: &Proc) -> u16 {
    p.monitor_port.expect("monitor port logged")
}

/// Polls `path` until `pred` holds (counters are published once per reactor turn).
fn eventually(port: u16, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = get_json(port, path);
        if pred(&v) {
            return v;
        }
        if Instant::now() > deadline {
            panic!("{what}: {path} never matched; last:\n{v:#}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(port: u16, name: &str) -> Raw {
    let mut c = Raw::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    c.handshake(&format!(
        r#"{{"verbose":false,"pedantic":false,"name":"{name}","lang":"rust","version":"1.0","user":"u-{name}"}}"#
    ));
    c
}

// ----- start-up ----------------------------------------------------------------------

#[test]
fn monitor_starts_before_clients_and_varz_answers_at_once() {
    let started = Instant::now();
    let srv = Natrium::start(&["-m", "-1"]);
    let ready = started.elapsed();
    let port = mport(&srv);
    let t = Instant::now();
    let v = get_json(port, "/varz");
    let first = t.elapsed();
    assert!(
        first < Duration::from_millis(500),
        "first /varz took {first:?} (server ready after {ready:?})"
    );
    assert_eq!(v["http_port"], -1);
    assert_eq!(v["port"], srv.port);
    assert_eq!(v["version"], "2.15.1");
    // nats-server's log line and order: the monitor comes up before the client listener.
    let log = srv.log_text();
    let mon = log
        .find(&format!("[INF] Starting http monitor on 127.0.0.1:{port}"))
        .expect("monitor log line");
    let listen = log
        .find("Listening for client connections on")
        .expect("listen line");
    assert!(mon < listen, "{log}");
}

#[test]
fn https_monitoring_is_refused_until_tls_exists() {
    let out = Command::new(crate::harness::natrium_bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "-ms", "-1"])
        .output()
        .expect("run natrium");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not supported yet"), "{err}");
    let out = Command::new(crate::harness::natrium_bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "-m", "8222", "-ms", "8443"])
        .output()
        .expect("run natrium");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("can't specify both HTTP (8222) and HTTPs (8443) ports"),
        "{err}"
    );
}

// ----- shapes against nats-server ------------------------------------------------------

/// The same clients on either server: one that subscribes and publishes and stays, one that
/// sends garbage (closed: Protocol Violation), one that leaves cleanly (Client Closed).
fn shape_workload(port: u16) -> Raw {
    let mut a = connect(port, "alpha");
    a.send_str("SUB foo 1\r\nSUB bar.* q 2\r\nPUB foo 5\r\nhello\r\nPING\r\n");
    a.expect("PONG\r\n");
    let mut b = connect(port, "beta");
    b.send_str("GARBAGE\r\n");
    assert!(b.is_closed(Duration::from_secs(5)));
    let mut c = connect(port, "gamma");
    c.send_str("SUB baz 9\r\nPING\r\n");
    c.expect("PONG\r\n");
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    a
}

/// JSON type names, with every number one type (Go and Rust pick int or float differently).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Objects whose keys are data, not schema.
const MAPS: &[&str] = &[
    ".http_req_stats",
    ".feature_flags",
    ".outbound_gateways",
    ".inbound_gateways",
];

/// Merges an array's object elements into one object with every key seen.
fn union(items: &[Value]) -> Value {
    let mut m = serde_json::Map::new();
    for it in items {
        match it {
            Value::Object(o) => {
                for (k, v) in o {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            other => return other.clone(),
        }
    }
    Value::Object(m)
}

fn shape_diff(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    match (theirs, ours) {
        (Value::Object(t), Value::Object(o)) => {
            if MAPS.iter().any(|m| path.ends_with(m)) {
                return;
            }
            for (k, tv) in t {
                match o.get(k) {
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(ov) => shape_diff(&format!("{path}.{k}"), tv, ov, out),
                }
            }
            for k in o.keys() {
                if !t.contains_key(k) {
                    out.push(format!("{path}.{k}: extra"));
                }
            }
        }
        (Value::Array(t), Value::Array(o)) if !t.is_empty() && !o.is_empty() => {
            shape_diff(&format!("{path}[]"), &union(t), &union(o), out);
        }
        (Value::Array(_), Value::Array(_)) => {}
        (t, o) if type_name(t) != type_name(o) => {
            out.push(format!("{path}: {} vs {}", type_name(t), type_name(o)))
        }
        _ => {}
    }
}

/// Differences from nats-server 2.15.1 that remain, each explained in docs/compat.md
/// ("Monitoring").
const ALLOWED: &[&str] = &[
    "/varz .git_commit: missing",
    "/varz .feature_flags: missing",
    "/varz .natrium_version: extra",
    "/accountz?acc=$G .account_detail.imports: missing",
];

const SHAPE_PATHS: &[&str] = &[
    "/varz",
    "/connz",
    "/connz?subs=1",
    "/connz?subs=detail&auth=1",
    "/connz?state=closed&subs=detail",
    "/connz?state=any&subs=1&sort=uptime",
    "/connz?state=closed&sort=reason",
    "/connz?cid=1",
    "/connz?acc=nope",
    "/subsz",
    "/subscriptionsz?subs=1",
    "/subsz?subs=1&test=foo",
    "/routez",
    "/leafz",
    "/gatewayz",
    "/accountz",
    "/accountz?acc=$G",
    "/accstatz",
    "/accstatz?unused=1",
    "/healthz",
    "/healthz?details=true",
    "/jsz",
];

#[test]
fn endpoint_shapes_match_nats_server() {
    let theirs = NatsServer::start(&["-m", "-1"]).expect("nats-server (make deps installs it)");
    let ours = Natrium::start(&["-m", "-1"]);
    let _a1 = shape_workload(theirs.port);
    let _a2 = shape_workload(ours.port);
    let mut diffs = Vec::new();
    for path in SHAPE_PATHS {
        let t = get(mport(&theirs), path);
        let o = get(mport(&ours), path);
        assert_eq!(t.status, o.status, "{path}: status");
        assert_eq!(
            t.header("Content-Type"),
            o.header("Content-Type"),
            "{path}: content type"
        );
        assert_eq!(
            t.header("Access-Control-Allow-Origin"),
            o.header("Access-Control-Allow-Origin"),
            "{path}: CORS header"
        );
        shape_diff(&format!("{path} "), &t.json(), &o.json(), &mut diffs);
    }
    // Errors: same status and the same text.
    for path in [
        "/connz?sort=foo",
        "/connz?sort=stop",
        "/connz?limit=abc",
        "/connz?state=zzz",
        "/connz?subs=maybe",
        "/subsz?test=foo.*",
        "/accountz?acc=nope",
        "/nope",
    ] {
        let t = get(mport(&theirs), path);
        let o = get(mport(&ours), path);
        assert_eq!((t.status, &t.body), (o.status, &o.body), "{path}");
    }
    let unexpected: Vec<&String> = diffs
        .iter()
        .filter(|d| !ALLOWED.contains(&d.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "shape differences from nats-server not in the allow-list:\n{unexpected:#?}\nall: {diffs:#?}"
    );
    // The allow-list stays honest: every entry is still a real difference.
    for a in ALLOWED {
        assert!(
            diffs.iter().any(|d| d == a),
            "allow-list entry no longer differs: {a}"
        );
    }
    // Same closed reasons for the same behaviour.
    for srv in [&theirs, &ours] {
        let c = get_json(mport(srv), "/connz?state=closed");
        let reasons: Vec<&str> = c["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["Protocol Violation", "Client Closed"]);
    }
}

// ----- numbers --------------------------------------------------------------------------

#[test]
fn counters_sorting_paging_and_filters_after_a_known_workload() {
    let srv = Natrium::start(&["-m", "-1", "--reactors", "2"]);
    let (port, mp) = (srv.port, mport(&srv));
    let mut sub = connect(port, "sub");
    sub.send_str("SUB foo 1\r\nSUB foo.* 2\r\nSUB other q 3\r\nPING\r\n");
    sub.expect("PONG\r\n");
    let mut publ = connect(port, "pub");
    for _ in 0..10 {
        publ.send_str("PUB foo 5\r\nhello\r\n");
    }
    publ.send_str("PUB foo.bar 3\r\nabc\r\nPING\r\n");
    publ.expect("PONG\r\n");
    for _ in 0..11 {
        sub.expect("MSG foo");
    }
    let idle = connect(port, "idle");

    let v = eventually(mp, "/varz", "varz counters", |v| {
        v["in_msgs"] == 11 && v["out_msgs"] == 11 && v["subscriptions"] == 3
    });
    assert_eq!(v["connections"], 3);
    assert_eq!(v["total_connections"], 3);
    assert_eq!(v["in_bytes"], 53);
    assert_eq!(v["out_bytes"], 53);
    assert_eq!(v["slow_consumers"], 0);

    // Per-connection numbers (what nats.py's tests read).
    let c = get_json(mp, "/connz");
    assert_eq!(
        (c["num_connections"].as_u64(), c["total"].as_u64()),
        (Some(3), Some(3))
    );
    let conns = c["connections"].as_array().unwrap();
    let by_name = |n: &str| conns.iter().find(|c| c["name"] == n).unwrap().clone();
    let (s, p, i) = (by_name("sub"), by_name("pub"), by_name("idle"));
    assert_eq!(
        (
            &s["subscriptions"],
            &s["out_msgs"],
            &s["out_bytes"],
            &s["in_msgs"]
        ),
        (&3.into(), &11.into(), &53.into(), &0.into())
    );
    assert_eq!(
        (
            &p["in_msgs"],
            &p["in_bytes"],
            &p["out_msgs"],
            &p["subscriptions"]
        ),
        (&11.into(), &53.into(), &0.into(), &0.into())
    );
    let cids: Vec<u64> = conns.iter().map(|c| c["cid"].as_u64().unwrap()).collect();
    assert!(
        cids.windows(2).all(|w| w[0] < w[1]),
        "default sort is cid: {cids:?}"
    );
    let (scid, pcid, icid) = (
        s["cid"].as_u64().unwrap(),
        p["cid"].as_u64().unwrap(),
        i["cid"].as_u64().unwrap(),
    );

    let order = |q: &str| -> Vec<u64> {
        get_json(mp, &format!("/connz?{q}"))["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cid"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(order("sort=msgs_from")[0], pcid);
    assert_eq!(order("sort=bytes_from")[0], pcid);
    assert_eq!(order("sort=msgs_to")[0], scid);
    assert_eq!(order("sort=bytes_to")[0], scid);
    assert_eq!(order("sort=subs")[0], scid);
    assert_eq!(order("sort=start"), vec![scid, pcid, icid]);
    assert_eq!(order("sort=last")[0], icid, "newest activity first");
    assert_eq!(order("sort=uptime")[0], icid, "shortest uptime first");
    assert_eq!(order("sort=idle")[0], scid, "longest idle first");
    assert_eq!(order("sort=rtt").len(), 3);
    assert_eq!(order("sort=pending").len(), 3);

    // Paging and the cid filter.
    let page = get_json(mp, "/connz?offset=1&limit=1");
    assert_eq!(
        (page["num_connections"].as_u64(), page["total"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (page["offset"].as_u64(), page["limit"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(page["connections"][0]["cid"].as_u64(), Some(pcid));
    let past = get_json(mp, "/connz?offset=10");
    assert_eq!(past["num_connections"], 0);
    assert_eq!(past["connections"], Value::Array(vec![]));
    let one = get_json(mp, &format!("/connz?cid={pcid}"));
    assert_eq!(one["limit"], 1);
    assert_eq!(one["num_connections"], 1);
    assert_eq!(one["connections"][0]["name"], "pub");
    let user = get_json(mp, "/connz?user=u-idle&auth=1");
    assert_eq!(user["num_connections"], 1);
    assert_eq!(user["connections"][0]["authorized_user"], "u-idle");

    // Subscription lists.
    let subs = get_json(mp, &format!("/connz?cid={scid}&subs=1"));
    let mut list: Vec<&str> = subs["connections"][0]["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    list.sort();
    assert_eq!(list, ["foo", "foo.*", "other"]);
    let det = get_json(mp, &format!("/connz?cid={scid}&subs=detail"));
    let det = det["connections"][0]["subscriptions_list_detail"]
        .as_array()
        .unwrap()
        .clone();
    let foo = det.iter().find(|d| d["subject"] == "foo").unwrap();
    assert_eq!(
        (&foo["sid"], &foo["msgs"], &foo["cid"]),
        (&"1".into(), &10.into(), &scid.into())
    );
    let q = det.iter().find(|d| d["subject"] == "other").unwrap();
    assert_eq!(q["qgroup"], "q");

    // subsz: statistics, test-subject matching and paging.
    let sz = get_json(mp, "/subsz");
    assert_eq!(sz["num_subscriptions"], 3);
    assert!(sz.get("subscriptions_list").is_none());
    let t = get_json(mp, "/subsz?subs=1&test=foo.bar");
    let subjects: Vec<&str> = t["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["foo.*"]);
    assert_eq!(t["total"], 1);
    let t = get_json(mp, "/subsz?subs=1&test=nothing.here");
    assert_eq!(t["total"], 0);
    let all = get_json(mp, "/subsz?subs=1&limit=2&offset=1");
    assert_eq!(
        (
            all["total"].as_u64(),
            all["subscriptions_list"].as_array().map(|a| a.len())
        ),
        (Some(3), Some(2))
    );
    assert_eq!(get(mp, "/subsz?test=foo.*").status, 400);

    // Closed connections and their reasons.
    drop(idle); // a clean close
    let mut bad = connect(port, "bad");
    bad.send_str("GARBAGE\r\n");
    assert!(bad.is_closed(Duration::from_secs(5)));
    let closed = eventually(mp, "/connz?state=closed&subs=1", "closed ring", |c| {
        c["total"] == 2
    });
    let reasons: BTreeMap<String, String> = closed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons["idle"], "Client Closed");
    assert_eq!(reasons["bad"], "Protocol Violation");
    let any = get_json(mp, "/connz?state=any");
    assert_eq!(any["total"], 4);
    let closed_cid = get_json(mp, &format!("/connz?state=any&cid={icid}"));
    assert_eq!(closed_cid["connections"][0]["reason"], "Client Closed");
    let stopped = get_json(mp, "/connz?state=closed&sort=stop");
    assert_eq!(
        stopped["connections"][0]["name"], "bad",
        "latest stop first"
    );

    // A subscriber that stops reading becomes a slow consumer.
    drop(sub);
    let slow_srv = Natrium::start(&[
        "-m",
        "-1",
        "--max_payload",
        "1024",
        "--max_pending",
        "262144",
    ]);
    let mut slow = connect(slow_srv.port, "slow");
    slow.send_str("SUB big 1\r\nPING\r\n");
    slow.expect("PONG\r\n");
    let mut flood = connect(slow_srv.port, "flood");
    let payload = "x".repeat(1000);
    let mut chunk = String::new();
    for _ in 0..100 {
        chunk.push_str(&format!("PUB big 1000\r\n{payload}\r\n"));
    }
    let smp = mport(&slow_srv);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        flood.send_str(&chunk);
        let v = get_json(smp, "/varz");
        if v["slow_consumers"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no slow consumer: {v:#}");
    }
    let c = eventually(smp, "/connz?state=closed", "slow consumer closed", |c| {
        c["total"] == 1
    });
    let reason = c["connections"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Slow Consumer"), "{reason}");
    assert_eq!(get_json(smp, "/varz")["slow_consumer_stats"]["clients"], 1);
}

// ----- HTTP behaviour ---------------------------------------------------------------------

#[test]
fn http_edges_keepalive_errors_and_base_path() {
    let srv = Natrium::start(&["-m", "-1"]);
    let mp = mport(&srv);

    // Keep-alive with two pipelined requests on one connection, then HEAD.
    let raw = raw_http(
        mp,
        b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /varz HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    assert!(text.contains("{\"status\":\"ok\"}"));
    assert!(
        text.trim_end().ends_with("Connection: close"),
        "HEAD has no body: {text}"
    );

    // Malformed and oversized requests.
    let r = parse_response(&raw_http(mp, b"\x16\x03\x01garbage\r\n\r\n"));
    assert_eq!(r.status, 400);
    let mut big = b"GET /varz HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let r = parse_response(&raw_http(mp, &big));
    assert_eq!(r.status, 431);

    // 404s, nats-server's way.
    let r = get(mp, "/nope");
    assert_eq!((r.status, r.body.as_str()), (404, "404 page not found\n"));
    assert_eq!(get(mp, "/varz/").status, 404);

    // JSONP.
    let r = get(mp, "/varz?callback=cb");
    assert_eq!(r.header("Content-Type"), Some("application/javascript"));
    assert!(r.body.starts_with("cb({") && r.body.ends_with("})"));
    let r = get(mp, "/varz?callback=alert(1)");
    assert_eq!(r.header("Content-Type"), Some("application/json"));

    // The dashboard and request statistics.
    let r = get(mp, "/");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert!(
        r.body.contains("<canvas") && !r.body.contains("http://") && !r.body.contains("https://")
    );
    let v = get_json(mp, "/varz");
    let stats = &v["http_req_stats"];
    assert_eq!(stats["/"], 1);
    assert!(stats["/varz"].as_u64().unwrap() >= 4);
    assert_eq!(stats["/healthz"], 1);
}

/// `http_base_path` (a configuration-file option) moves every endpoint under it; driven
/// through the library, which is also how the ports file learns the monitor address.
#[test]
fn base_path_and_monitor_addr_through_the_library() {
    let opts = natrium::config::Options {
        host: "127.0.0.1".into(),
        port: 0,
        http_port: Some(0),
        http_base_path: "nats/".into(),
        reactors: Some(1),
        ..Default::default()
    };
    let server = natrium::server::Server::start(opts).expect("start");
    let mp = server.monitor_addr().expect("monitor address").port();
    assert_ne!(mp, 0);
    let v = get_json(mp, "/nats/varz");
    assert_eq!(v["http_base_path"], "nats/");
    assert_eq!(v["http_port"], -1);
    assert_eq!(get(mp, "/varz").status, 404);
    assert_eq!(get(mp, "/").status, 404);
    assert_eq!(get(mp, "/nats").status, 200);
    assert_eq!(get_json(mp, "/nats/connz")["num_connections"], 0);
    server.shutdown();
    assert!(
        TcpStream::connect(("127.0.0.1", mp)).is_err(),
        "the monitor port closes on shutdown"
    );
}

#[test]
fn slow_and_garbage_http_clients_do_not_disturb_anything() {
    let srv = Natrium::start(&["-m", "-1"]);
    let mp = mport(&srv);
    // Slowloris: many connections each holding half a request head.
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(("127.0.0.1", mp)).unwrap();
        s.write_all(b"GET /varz HTTP/1.1\r\nX-Slow: ").unwrap();
        held.push(s);
    }
    // Garbage of every kind.
    for junk in [
        &b"\x00\x00\x00\x00"[..],
        b"GET",
        b"\r\n\r\n",
        b"POST /varz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /connz?limit=-5&offset=99999999999999999999999 HTTP/1.1\r\n\r\n",
        b"GET /connz?sort=%ZZ HTTP/1.1\r\n\r\n",
        b"GET http://h HTTP/1.1\r\n\r\n",
        b"GET /%ff%fe HTTP/1.1\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", mp)).unwrap();
        let _ = s.write_all(junk);
        drop(s);
    }
    // The monitor and the messaging path still answer promptly.
    let t = Instant::now();
    let v = get_json(mp, "/varz");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(v["server_id"].as_str().map(|s| s.len()), Some(56));
    let mut c = connect(srv.port, "alive");
    c.send_str("SUB a 1\r\nPUB a 2\r\nhi\r\nPING\r\n");
    c.expect("MSG a 1 2\r\nhi\r\nPONG\r\n");
    let r = get(mp, "/connz?limit=-5&offset=99999999999999999999999");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.ends_with("value out of range"), "{}", r.body);
    assert_eq!(get_json(mp, "/connz?limit=-5")["limit"], 1024);
    drop(held);
}

#[test]
fn healthz_fails_in_lame_duck_mode_like_nats_server() {
    let srv = Natrium::start(&["-m", "-1"]);
    let mp = mport(&srv);
    assert_eq!(get(mp, "/healthz").status, 200);
    srv.signal("USR2");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(mp, "/healthz");
        if r.status == 500 {
            assert_eq!(
                r.body,
                r#"{"status":"error","error":"failed to be ready for connections after 1ms: server"}"#
            );
            break;
        }
        assert!(Instant::now() < deadline, "healthz stayed {}", r.status);
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = get(mp, "/healthz?details=true");
    assert_eq!(r.json()["errors"][0]["type"], "CONNECTION");
}

/// SIGTERM stops the reactors and then the monitor, and the process exits — also when
/// clients with subscriptions sit on several reactors, whose interest changes at shutdown
/// used to wait forever for a reactor that had already stopped (found testing this).
#[test]
fn sigterm_exits_and_closes_the_monitor_port() {
    for _ in 0..3 {
        let mut srv = Natrium::start(&["-m", "-1", "--reactors", "2"]);
        let mp = mport(&srv);
        let mut clients: Vec<Raw> = (0..4)
            .map(|i| connect(srv.port, &format!("c{i}")))
            .collect();
        for (i, c) in clients.iter_mut().enumerate() {
            c.send_str(&format!(
                "SUB foo.{i} 1\r\nSUB bar.* q 2\r\nPUB foo.0 2\r\nhi\r\nPING\r\n"
            ));
            c.expect("PONG\r\n");
        }
        assert_eq!(get_json(mp, "/connz")["num_connections"], 4);
        srv.signal("TERM");
        assert_eq!(
            srv.wait_exit(Duration::from_secs(10)),
            Some(0),
            "natrium did not exit on SIGTERM:\n{}",
            srv.log_text()
        );
        assert!(TcpStream::connect(("127.0.0.1", mp)).is_err());
    }
}

// ----- Prometheus -----------------------------------------------------------------------

#[test]
fn metrics_parse_as_prometheus_text_and_equal_varz() {
    let srv = Natrium::start(&["-m", "-1", "--reactors", "2"]);
    let mp = mport(&srv);
    let mut sub = connect(srv.port, "msub");
    sub.send_str("SUB m.> 1\r\nPING\r\n");
    sub.expect("PONG\r\n");
    let mut p = connect(srv.port, "mpub");
    for i in 0..25 {
        p.send_str(&format!("PUB m.{i} 4\r\ndata\r\n"));
    }
    p.send_str("PING\r\n");
    p.expect("PONG\r\n");
    eventually(mp, "/varz", "counters", |v| v["out_msgs"] == 25);
    let out = Command::new("python3")
        .arg(root().join("tests/python/metrics_check.py"))
        .arg(format!("http://127.0.0.1:{mp}"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "metrics check failed (make deps installs prometheus-client):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}

// ----- dashboard in a real browser ----------------------------------------------------------

#[test]
fn dashboard_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `make deps` installs the Debian package chromium"
    );
    let node = root().join("tests/node");
    assert!(
        node.join("node_modules/playwright-core").exists(),
        "tests/node/node_modules/playwright-core is missing: run `make deps`"
    );
    let store = crate::harness::TempDir::new("dashboard-js");
    let store_dir = store.path().to_string_lossy().into_owned();
    let srv = Natrium::start(&["-m", "-1", "--reactors", "2", "-js", "-sd", &store_dir]);
    let (port, mp) = (srv.port, mport(&srv));
    // A stream for the JetStream section, with a few messages.
    let mut js = connect(port, "dashboard-js");
    let create = r#"{"name":"DASH","subjects":["dash.js.*"]}"#;
    js.send_str(&format!(
        "SUB _R.> 9\r\nPUB $JS.API.STREAM.CREATE.DASH _R.c {}\r\n{create}\r\n",
        create.len()
    ));
    js.expect("did_create");
    for i in 0..3 {
        js.send_str(&format!("PUB dash.js.{i} _R.a 2\r\nhi\r\n"));
        js.expect("\"seq\"");
    }
    // A client that keeps publishing to itself while the page watches.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let publisher = std::thread::spawn(move || {
        let mut c = connect(port, "dashboard-client");
        c.send_str("SUB dash.> 1\r\nSUB dash.x 2\r\n");
        let mut n = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            for _ in 0..50 {
                c.send_str("PUB dash.x 11\r\nhello world\r\n");
            }
            n += 50;
            c.send_str("PING\r\n");
            c.expect("PONG\r\n");
            c.drain_for(Duration::from_millis(1));
            std::thread::sleep(Duration::from_millis(40));
        }
        n
    });
    let mut others = Vec::new();
    for name in ["sensor-a", "sensor-b"] {
        let mut c = connect(port, name);
        c.send_str("SUB telemetry.* 1\r\nPING\r\n");
        c.expect("PONG\r\n");
        others.push(c);
    }
    let profile = std::env::temp_dir().join(format!("natrium-chromium-{}", std::process::id()));
    // The committed docs/dashboard.png is refreshed only on request, so a test run leaves
    // the tree clean: `UPDATE_DASHBOARD_PNG=1 cargo test --test it monitor::dashboard`.
    let shot = if std::env::var_os("UPDATE_DASHBOARD_PNG").is_some() {
        root().join("docs/dashboard.png")
    } else {
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png")
    };
    let out = Command::new("node")
        .arg("dashboard.js")
        .current_dir(&node)
        .env("MONITOR_URL", format!("http://127.0.0.1:{mp}/"))
        .env("CHROMIUM", &chromium)
        .env("PROFILE_DIR", &profile)
        .env("SCREENSHOT", &shot)
        .env("CLIENT_NAME", "dashboard-client")
        .env("STREAM", "DASH")
        .output()
        .expect("node");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = publisher.join().expect("publisher");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "dashboard check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sent > 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(shot.exists());
}

// ----- measurement (not a test) --------------------------------------------------------------

/// pub→sub throughput with `/varz` and `/connz` polled 10×/s versus not polled, and the
/// server's CPU time per million messages (steadier than throughput on a shared machine).
/// `cargo build --release && NATRIUM_BIN=target/release/natrium cargo test --test it \
///  monitor::monitoring_overhead -- --ignored --nocapture` (ROUNDS, MSGS override the sizes).
#[test]
#[ignore]
#[allow(clippy::print_stdout)]
fn monitoring_overhead() {
    let (rounds, msgs): (u64, u64) = (
        crate::harness::setting("ROUNDS", 9),
        crate::harness::setting("MSGS", 3_000_000),
    );
    let (mut plain, mut polled) = (Vec::new(), Vec::new());
    let mut polls = 0;
    for _ in 0..rounds {
        let (rate, cpu, _) = throughput(msgs, false);
        plain.push((rate, cpu));
        let (rate, cpu, n) = throughput(msgs, true);
        polled.push((rate, cpu));
        polls += n;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let rate_p = median(plain.iter().map(|r| r.0).collect());
    let rate_q = median(polled.iter().map(|r| r.0).collect());
    let cpu_p = median(plain.iter().map(|r| r.1).collect());
    let cpu_q = median(polled.iter().map(|r| r.1).collect());
    println!("rounds {rounds} x {msgs} msgs (16-byte payloads), {polls} /varz+/connz polls in all");
    println!(
        "unpolled msgs/s: {:.0?}",
        plain.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    println!(
        "polled   msgs/s: {:.0?}",
        polled.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    println!(
        "median msgs/s: unpolled {rate_p:.0}, polled {rate_q:.0} ({:+.1}%)",
        (rate_q - rate_p) / rate_p * 100.0
    );
    println!(
        "median server CPU s per 1M msgs: unpolled {cpu_p:.3}, polled {cpu_q:.3} ({:+.1}%)",
        (cpu_q - cpu_p) / cpu_p * 100.0
    );
    // The cost of one poll, measured directly: server CPU per request with 100 clients.
    let srv = Natrium::start(&["-m", "-1"]);
    let mp = mport(&srv);
    let _clients: Vec<Raw> = (0..100)
        .map(|i| {
            let mut c = connect(srv.port, &format!("c{i}"));
            c.send_str("SUB a.b 1\r\nSUB c.> 2\r\nPING\r\n");
            c.expect("PONG\r\n");
            c
        })
        .collect();
    for path in ["/varz", "/connz"] {
        let n = 500;
        let req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n");
        let cpu0 = cpu_secs(srv.pid());
        let t = Instant::now();
        for _ in 0..n {
            assert!(raw_http(mp, req.as_bytes()).starts_with(b"HTTP/1.1 200 OK"));
        }
        let wall = t.elapsed().as_secs_f64() / n as f64;
        let cpu = (cpu_secs(srv.pid()) - cpu0) / n as f64;
        println!(
            "{path} with 100 clients: {:.0} µs server CPU and {:.0} µs wall per request",
            cpu * 1e6,
            wall * 1e6
        );
    }
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

/// One publisher to one subscriber: (messages per second, server CPU seconds per million
/// messages, monitor polls made).
fn throughput(msgs: u64, poll: bool) -> (f64, f64, u64) {
    let srv = Natrium::start(&["-m", "-1"]);
    let (port, mp) = (srv.port, mport(&srv));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = poll.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                // Raw requests: parsing the answers here would take CPU from the server
                // on a small machine and bias the polled figure.
                for path in ["/varz", "/connz"] {
                    let req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n");
                    let r = raw_http(mp, req.as_bytes());
                    assert!(r.starts_with(b"HTTP/1.1 200 OK"));
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100).saturating_sub(t.elapsed()));
            }
            n
        })
    });
    let mut sub = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sub.write_all(b"CONNECT {\"verbose\":false}\r\nSUB bench 1\r\nPING\r\n")
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = Vec::new();
    while !seen.windows(6).any(|w| w == b"PONG\r\n") {
        let n = sub.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    let msg = b"PUB bench 16\r\n0123456789abcdef\r\n";
    let frame = b"MSG bench 1 16\r\n0123456789abcdef\r\n".len() as u64;
    let reader = std::thread::spawn(move || {
        let want = msgs * frame;
        let mut got = 0u64;
        while got < want {
            match sub.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        Instant::now()
    });
    let mut publ = TcpStream::connect(("127.0.0.1", port)).unwrap();
    publ.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
    let batch: Vec<u8> = msg.iter().copied().cycle().take(msg.len() * 1000).collect();
    let cpu0 = cpu_secs(srv.pid());
    let start = Instant::now();
    for _ in 0..msgs / 1000 {
        publ.write_all(&batch).unwrap();
    }
    let end = reader.join().unwrap();
    let cpu = cpu_secs(srv.pid()) - cpu0;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = poller.map(|p| p.join().unwrap()).unwrap_or(0);
    let secs = end.duration_since(start).as_secs_f64();
    (msgs as f64 / secs, cpu / (msgs as f64 / 1e6), polls)
}

/// Fast-producer stalls are counted as nats-server counts them: `/varz` `stalled_clients`
/// in total, `/connz` `stalls` on the subscriber that was behind (after `out_bytes`, left
/// out when 0), for open and closed connections alike.
#[test]
fn producer_stalls_are_counted_like_nats_server() {
    let dir = crate::harness::TempDir::new("stalls");
    let conf = dir.write(
        "stalls.conf",
        "host: 127.0.0.1\nport: -1\nmax_pending: 1MB\n",
    );
    let conf = conf.to_str().unwrap();
    let theirs =
        NatsServer::start(&["-c", conf, "-m", "-1"]).expect("nats-server (make deps installs it)");
    let ours = Natrium::start(&["-c", conf, "-m", "-1"]);
    for srv in [&theirs, &ours] {
        let addr = srv.addr();
        let mut sub = connect(srv.port, "behind");
        sub.send_str("SUB stall 1\r\nPING\r\n");
        sub.expect("PONG\r\n");
        let mut sub = sub.stream;
        // A subscriber that reads, but slowly: 16 KiB every 2 ms.
        let reader = std::thread::spawn(move || {
            sub.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = vec![0u8; 16 * 1024];
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                match sub.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        let mut publisher = TcpStream::connect(addr).unwrap();
        let mut frame = b"CONNECT {\"verbose\":false,\"name\":\"fast\"}\r\n".to_vec();
        // 16 MiB: more than the kernel's socket buffers hold, so the server queues some.
        for _ in 0..16 * 1024 {
            frame.extend_from_slice(b"PUB stall 1024\r\n");
            frame.extend(std::iter::repeat_n(b's', 1024));
            frame.extend_from_slice(b"\r\n");
        }
        frame.extend_from_slice(b"PING\r\n");
        publisher.write_all(&frame).unwrap();
        publisher
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(6).any(|w| w == b"PONG\r\n") {
            let n = publisher.read(&mut buf).unwrap();
            assert!(n > 0, "publisher closed");
            got.extend_from_slice(&buf[..n]);
        }
        reader.join().unwrap();
        let name = if std::ptr::eq(srv, &theirs) {
            "nats-server"
        } else {
            "natrium"
        };
        let varz = eventually(mport(srv), "/varz", name, |v| {
            v["stalled_clients"].as_u64().unwrap_or(0) > 0
        });
        let connz = get_json(mport(srv), "/connz?state=all");
        let conns = connz["connections"].as_array().unwrap();
        let by_name = |n: &str| {
            conns
                .iter()
                .find(|c| c["name"] == n)
                .unwrap_or_else(|| panic!("{name}: no connection {n} in {connz:#}"))
        };
        let behind = by_name("behind");
        let stalls = behind["stalls"].as_u64().unwrap_or(0);
        assert!(stalls > 0, "{name}: the subscriber's stalls: {behind:#}");
        assert!(
            stalls <= varz["stalled_clients"].as_u64().unwrap(),
            "{name}: per-connection stalls add up to the total"
        );
        // Field order, in the text: `stalls` comes right after `out_bytes`.
        let text = get(mport(srv), "/connz?state=all").body;
        let at = text.find("\"stalls\"").expect("stalls in the text");
        let before = &text[..at];
        let out_bytes = before
            .rfind("\"out_bytes\"")
            .expect("out_bytes before stalls");
        assert_eq!(
            before[out_bytes..].matches('"').count(),
            2,
            "{name}: the key before stalls: {}",
            &before[out_bytes..]
        );
        assert!(
            by_name("fast").get("stalls").is_none(),
            "{name}: a producer that was never behind has no stalls field"
        );
    }
}
