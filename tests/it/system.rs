//! The system account (`$SYS`): a system-account client gets connect and disconnect events
//! and server-ping answers with the same keys and value types as from nats-server, and in
//! a three-node natrium cluster a server ping is answered by every server.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{nats_server_bin, Natrium, NatsServer, Raw, TempDir};

const CONF: &str = r#"
listen: 127.0.0.1:-1
server_name: S1
accounts {
  SYS { users [ {user: sys, password: p} ] }
  A {
    users [ {user: a, password: p, permissions: {
      publish: {allow: ["x", "$SYS.REQ.USER.INFO", "_INBOX.>"]}, subscribe: {deny: ["y"]} } } ]
  }
}
system_account: SYS
"#;

fn login(addr: SocketAddr, user: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.send_str(&format!(
        "CONNECT {{\"user\":\"{user}\",\"pass\":\"p\",\"verbose\":false,\"headers\":true,\"name\":\"n1\",\"lang\":\"rust\",\"version\":\"1.0\"}}\r\nPING\r\n"
    ));
    raw.expect("PONG\r\n");
    raw
}

/// Keys and JSON types, recursively.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

/// A connect event, a disconnect event, the ping answer and the IDZ answer, as JSON.
fn observe(addr: SocketAddr) -> Vec<Value> {
    let mut sys = login(addr, "sys");
    sys.send_str("SUB $SYS.ACCOUNT.*.CONNECT 1\r\nSUB $SYS.ACCOUNT.*.DISCONNECT 2\r\nSUB _INBOX.me 3\r\nPING\r\n");
    sys.expect("PONG\r\n");
    let mut a = login(addr, "a");
    a.send_str("PUB x 2\r\nhi\r\nPING\r\n");
    a.expect("PONG\r\n");
    drop(a);
    let mut got: Vec<Value> = Vec::new();
    // User a's events (nats-server sends events from a queue, so the system user's own
    // connect event may come after its SUB).
    while got.len() < 2 {
        let (_, body) = sys
            .read_msg(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no events for user a: {got:?}"));
        let event: Value = serde_json::from_slice(&body).expect("JSON");
        if event["client"]["user"] == "a" {
            got.push(event);
        }
    }
    sys.send_str("PUB $SYS.REQ.SERVER.PING _INBOX.me 0\r\n\r\nPUB $SYS.REQ.SERVER.PING.IDZ _INBOX.me 0\r\n\r\n");
    for what in ["ping answer", "IDZ answer"] {
        let (_, body) = sys
            .read_msg(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no {what}"));
        got.push(serde_json::from_slice(&body).expect("JSON"));
    }
    // nats-server answers from its send loop, in either order: the ping answer first.
    if got[3].get("statsz").is_some() {
        got.swap(2, 3);
    }
    for x in ["HEALTHZ", "VARZ"] {
        sys.send_str(&format!("PUB $SYS.REQ.SERVER.PING.{x} _INBOX.me 0\r\n\r\n"));
        let (_, body) = sys
            .read_msg(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no {x} answer"));
        got.push(serde_json::from_slice(&body).expect("JSON"));
    }
    // The periodic statsz (every 10 s at most).
    sys.send_str("SUB $SYS.SERVER.*.STATSZ 4\r\n");
    let (line, body) = sys
        .read_msg(Duration::from_secs(12))
        .expect("a periodic statsz");
    assert!(line.starts_with("MSG $SYS.SERVER."), "{line}");
    got.push(serde_json::from_slice(&body).expect("JSON"));
    // Who am I, from an account that is not the system account.
    let mut a = login(addr, "a");
    a.send_str("SUB _INBOX.ui 1\r\nPUB $SYS.REQ.USER.INFO _INBOX.ui 0\r\n\r\n");
    let (_, body) = a
        .read_msg(Duration::from_secs(5))
        .expect("a USER.INFO answer");
    got.push(serde_json::from_slice(&body).expect("JSON"));
    got
}

#[test]
fn system_account_events_and_pings_like_nats_server() {
    let dir = TempDir::new("system");
    let conf = dir.write("sys.conf", CONF);
    let conf = conf.to_str().expect("utf-8 path");
    let mine = Natrium::start(&["-c", conf]);
    let got = observe(mine.addr());
    assert_eq!(got[0]["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(got[0]["client"]["acc"], "A");
    assert_eq!(got[0]["client"]["user"], "a");
    assert_eq!(got[0]["server"]["name"], "S1");
    assert_eq!(
        got[1]["type"],
        "io.nats.server.advisory.v1.client_disconnect"
    );
    assert_eq!(got[1]["reason"], "Client Closed");
    assert_eq!(got[1]["sent"]["msgs"], 1, "what the client published");
    assert_eq!(got[2]["statsz"]["total_connections"], 2);
    assert_eq!(got[3]["name"], "S1");
    assert_eq!(got[4]["data"]["status"], "ok");
    assert!(got[6]["statsz"]["connections"].is_number());
    assert_eq!(got[7]["data"]["account"], "A");
    assert_eq!(got[7]["data"]["permissions"]["subscribe"]["deny"][0], "y");
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", conf]).expect("nats-server");
        let want = observe(theirs.addr());
        // The events, the ping, IDZ and HEALTHZ answers, the periodic statsz: the same keys
        // and types.
        for (i, (g, w)) in got.iter().zip(&want).enumerate().filter(|(i, _)| *i != 5) {
            assert_eq!(
                shape(g),
                shape(w),
                "document {i}: natrium {g}\nnats-server {w}"
            );
        }
        // nats-server lists a permission's subjects in no fixed order.
        let sorted = |v: &Value| -> Value {
            let mut v = v.clone();
            for side in ["publish", "subscribe"] {
                for list in ["allow", "deny"] {
                    if let Some(Value::Array(a)) = v
                        .get_mut("permissions")
                        .and_then(|p| p.get_mut(side))
                        .and_then(|p| p.get_mut(list))
                    {
                        a.sort_by_key(|x| x.to_string());
                    }
                }
            }
            v
        };
        assert_eq!(
            sorted(&got[7]["data"]),
            sorted(&want[7]["data"]),
            "USER.INFO"
        );
        // VARZ: the envelope, and the varz /varz serves (tests/it/monitor.rs compares that).
        assert_eq!(shape(&got[5]["server"]), shape(&want[5]["server"]));
        assert_eq!(
            got[5]["data"]["system_account"],
            want[5]["data"]["system_account"]
        );
        assert_eq!(got[5]["data"]["server_name"], "S1");
    }
}

/// A server ping in a three-node natrium cluster gets one answer from each server.
#[test]
fn server_ping_is_answered_by_every_server_of_a_cluster() {
    let dir = TempDir::new("system-cluster");
    let ports = [
        crate::harness::free_port(),
        crate::harness::free_port(),
        crate::harness::free_port(),
    ];
    let nodes: Vec<crate::cluster::Node> = (0..3)
        .map(|i| {
            let text = format!(
                "{}\nserver_name: S{i}\ncluster {{\n  name: sys\n  listen: 127.0.0.1:{}\n  routes: [nats-route://127.0.0.1:{}]\n}}\n",
                CONF.replace("server_name: S1", ""),
                ports[i],
                ports[(i + 1) % 3]
            );
            let path = dir.write(&format!("s{i}.conf"), &text);
            let proc = Natrium::start(&["-c", path.to_str().expect("utf-8 path"), "-m", "-1"]);
            crate::cluster::Node::new(proc, &format!("S{i}"), TempDir::new("system-node"))
        })
        .collect();
    crate::cluster::wait_mesh(&nodes.iter().collect::<Vec<_>>(), 2);
    let mut sys = login(nodes[1].proc.addr(), "sys");
    sys.send_str("SUB _INBOX.me 1\r\nPING\r\n");
    sys.expect("PONG\r\n");
    sys.send_str("PUB $SYS.REQ.SERVER.PING _INBOX.me 0\r\n\r\n");
    let mut names = Vec::new();
    while let Some((_, body)) = sys.read_msg(Duration::from_secs(2)) {
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["statsz"]["active_servers"], 3, "{v}");
        names.push(v["server"]["name"].as_str().unwrap_or_default().to_string());
    }
    names.sort();
    assert_eq!(names, ["S0", "S1", "S2"]);
}
