//! What account JWTs share in operator mode, compared with nats-server: stream and service
//! exports and imports (the deprecated `to`, `local_subject`, `token_req` with activation
//! tokens, `account_token_position`), account mappings, `default_permissions`, scoped
//! signing keys with their user templates, and user `times` windows.

use std::net::SocketAddr;
use std::time::Duration;

use nkeys::KeyPair;
use serde_json::{json, Value};

use crate::harness::{nats_server_bin, Natrium, NatsServer, Raw, TempDir};
use crate::operator::{encode, login, now, session, unlimited, user_jwt};

/// The accounts and users of the scenario.
struct World {
    conf: std::path::PathBuf,
    a: (KeyPair, String),
    b: (KeyPair, String),
    c: (KeyPair, String),
    b_key: String,
    scoped: (KeyPair, String),
    scoped_with_perms: (KeyPair, String),
    in_window: (KeyPair, String),
    out_of_window: (KeyPair, String),
    _dir: TempDir,
}

/// `HH:MM:SS` (UTC) `offset` seconds from now.
fn clock(offset: i64) -> String {
    let t = (now() + offset).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn world() -> World {
    let dir = TempDir::new("jwt-sharing");
    let operator = KeyPair::new_operator();
    let (a, b, c) = (
        KeyPair::new_account(),
        KeyPair::new_account(),
        KeyPair::new_account(),
    );
    let (ak, bk, ck) = (a.public_key(), b.public_key(), c.public_key());
    let scope_key = KeyPair::new_account();
    let activation = |to: &str, subject: &str, kind: &str| {
        encode(
            &a,
            json!({"sub": to, "name": "act",
                   "nats": {"type": "activation", "version": 2, "subject": subject, "kind": kind}}),
        )
    };
    let a_jwt = encode(
        &operator,
        json!({"sub": ak, "name": "A", "nats": {"type": "account", "version": 2, "limits": unlimited(), "exports": [
            {"name": "news", "subject": "news.>", "type": "stream"},
            {"name": "sports", "subject": "sports.>", "type": "stream"},
            {"name": "help", "subject": "help", "type": "service"},
            {"name": "secret", "subject": "secret.>", "type": "stream", "token_req": true},
            {"name": "per-account", "subject": "svc.*", "type": "service", "account_token_position": 2}
        ]}}),
    );
    let b_jwt = encode(
        &operator,
        json!({"sub": bk, "name": "B", "nats": {"type": "account", "version": 2, "limits": unlimited(),
            "signing_keys": [{"kind": "user_scope", "key": scope_key.public_key(), "role": "r",
                "template": {"pub": {"allow": ["{{name()}}.>", "_INBOX.>"]},
                             "sub": {"allow": ["_INBOX.>", "{{account-name()}}.in"]},
                             "subs": -1, "data": -1, "payload": -1}}],
            "imports": [
                {"name": "news", "subject": "news.>", "account": ak, "type": "stream", "to": "a"},
                {"name": "sports", "subject": "sports.*", "account": ak, "type": "stream",
                 "local_subject": "local.sports.*"},
                {"name": "help", "subject": "help", "account": ak, "type": "service",
                 "local_subject": "ask.help"},
                {"name": "secret", "subject": "secret.>", "account": ak, "type": "stream",
                 "token": activation(&bk, "secret.>", "stream")},
                {"name": "mine", "subject": format!("svc.{bk}"), "account": ak, "type": "service",
                 "local_subject": "mysvc"}
            ],
            "mappings": {"old": [{"subject": "new"}]}}}),
    );
    let c_jwt = encode(
        &operator,
        json!({"sub": ck, "name": "C", "nats": {"type": "account", "version": 2, "limits": unlimited(),
        "default_permissions": {"sub": {"deny": ["forbidden"]}},
        "imports": [
            {"name": "secret", "subject": "secret.>", "account": ak, "type": "stream"},
            {"name": "theirs", "subject": format!("svc.{bk}"), "account": ak, "type": "service",
             "local_subject": "mysvc"}
        ]}}),
    );
    let operator_jwt = encode(
        &operator,
        json!({"sub": operator.public_key(), "name": "O", "nats": {"type": "operator", "version": 2}}),
    );
    let conf = dir.write(
        "op.conf",
        &format!(
            "listen: 127.0.0.1:-1\noperator: {operator_jwt}\nresolver: MEMORY\n\
             resolver_preload: {{ {ak}: \"{a_jwt}\", {bk}: \"{b_jwt}\", {ck}: \"{c_jwt}\" }}\n"
        ),
    );
    let user_of = |account: &KeyPair, extra: Value| {
        let user = KeyPair::new_user();
        let jwt = user_jwt(account, &user, extra, None);
        (user, jwt)
    };
    let scoped_user = |extra: Value| {
        let user = KeyPair::new_user();
        let mut nats = json!({"type": "user", "version": 2, "issuer_account": bk});
        if let (Value::Object(n), Value::Object(e)) = (&mut nats, extra) {
            n.extend(e);
        }
        let jwt = encode(
            &scope_key,
            json!({"sub": user.public_key(), "name": "bob", "nats": nats}),
        );
        (user, jwt)
    };
    let window = |from: i64, to: i64| json!({"times": [{"start": clock(from), "end": clock(to)}], "times_location": "UTC"});
    World {
        conf,
        a: user_of(&a, json!({})),
        b: user_of(&b, json!({})),
        c: {
            // No permissions of its own: the account's default permissions apply.
            let user = KeyPair::new_user();
            let jwt = encode(
                &c,
                json!({"sub": user.public_key(), "name": "c",
                       "nats": {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1}}),
            );
            (user, jwt)
        },
        b_key: bk.clone(),
        scoped: scoped_user(json!({})),
        scoped_with_perms: scoped_user(json!({"pub": {"allow": [">"]}})),
        in_window: user_of(&b, window(-3600, 3600)),
        out_of_window: user_of(&b, window(3600, 7200)),
        _dir: dir,
    }
}

/// What arrives on `raw` within `within`, sorted (servers may order the deliveries of one
/// message to several subscriptions differently): a message as one line with its payload,
/// `_R_.` replies shown as `_R_`, the servers' PINGs left out.
fn lines(raw: &mut Raw, within: Duration) -> Vec<String> {
    let text = raw.drain_for(within);
    let mut out: Vec<String> = Vec::new();
    let mut in_msg = false;
    // The servers' own PINGs (RTT, keepalive) come when they will.
    for l in text.lines().filter(|l| !l.is_empty() && *l != "PING") {
        let l = l
            .split(' ')
            .map(|w| if w.starts_with("_R_.") { "_R_" } else { w })
            .collect::<Vec<_>>()
            .join(" ");
        match out.last_mut() {
            Some(last) if in_msg => {
                last.push_str(" => ");
                last.push_str(&l);
                in_msg = false;
            }
            _ => {
                in_msg = l.starts_with("MSG ");
                out.push(l);
            }
        }
    }
    out.sort();
    out
}

fn ready(raw: &mut Raw) -> Vec<String> {
    let mut got = lines(raw, Duration::from_millis(300));
    got.retain(|l| l != "PONG");
    got
}

fn scenario(w: &World, addr: SocketAddr) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut b_sub = login(
        addr,
        &w.b.1,
        Some(&w.b.0),
        "SUB a.news.> 1\r\nSUB local.sports.> 2\r\nSUB secret.> 3\r\nSUB new 4\r\n",
    );
    let mut c_sub = login(
        addr,
        &w.c.1,
        Some(&w.c.0),
        "SUB secret.> 1\r\nSUB forbidden 2\r\nSUB _INBOX.c 3\r\n",
    );
    let mut responder = login(addr, &w.a.1, Some(&w.a.0), "SUB help 1\r\nSUB svc.* 2\r\n");
    out.push(ready(&mut b_sub));
    out.push(ready(&mut c_sub));
    out.push(ready(&mut responder));
    out.push(vec![session(
        addr,
        &w.a.1,
        Some(&w.a.0),
        "PUB news.x 1\r\n1\r\nPUB sports.x 1\r\n5\r\nPUB secret.y 1\r\n2\r\n",
    )]);
    // After its PONG, as clients do: nats-server maps only what it reads after CONNECT.
    let mut b_pub = login(addr, &w.b.1, Some(&w.b.0), "");
    ready(&mut b_pub);
    b_pub.send_str("PUB old 1\r\n3\r\n");
    out.push(lines(&mut b_pub, Duration::from_millis(100)));
    out.push(lines(&mut b_sub, Duration::from_millis(300)));
    out.push(lines(&mut c_sub, Duration::from_millis(100)));

    // Requests through the service imports; the responder answers each.
    let mut requester = login(
        addr,
        &w.b.1,
        Some(&w.b.0),
        "SUB _INBOX.b 9\r\nPUB ask.help _INBOX.b 1\r\nq\r\nPUB mysvc _INBOX.b 1\r\nr\r\n",
    );
    ready(&mut requester);
    c_sub.send_str("PUB mysvc _INBOX.c 1\r\ns\r\nPING\r\n");
    let seen = responder.drain_for(Duration::from_millis(300));
    let mut asked = Vec::new();
    for line in seen.lines().filter(|l| l.starts_with("MSG ")) {
        let words: Vec<&str> = line.split(' ').collect();
        if let [_, subject, sid, reply, _] = words.as_slice() {
            asked.push(format!(
                "{} {sid} {}",
                subject.replace(&w.b_key, "<B>"),
                if reply.starts_with("_R_.") {
                    "_R_"
                } else {
                    reply
                }
            ));
            responder.send_str(&format!("PUB {reply} 1\r\nz\r\n"));
        }
    }
    asked.sort();
    out.push(asked);
    out.push(lines(&mut requester, Duration::from_millis(300)));
    out.push(lines(&mut c_sub, Duration::from_millis(100)));

    // A scoped signing key's template, and a scoped user that brings permissions.
    out.push(vec![session(
        addr,
        &w.scoped.1,
        Some(&w.scoped.0),
        "PUB bob.x 1\r\na\r\nPUB other 1\r\nb\r\nSUB B.in 1\r\nSUB nope 2\r\n",
    )]);
    out.push(vec![session(
        addr,
        &w.scoped_with_perms.1,
        Some(&w.scoped_with_perms.0),
        "",
    )]);
    // Connect-time windows.
    out.push(vec![session(
        addr,
        &w.in_window.1,
        Some(&w.in_window.0),
        "",
    )]);
    out.push(vec![session(
        addr,
        &w.out_of_window.1,
        Some(&w.out_of_window.0),
        "",
    )]);
    out
}

#[test]
fn account_jwt_exports_imports_mappings_and_scoped_keys_like_nats_server() {
    let w = world();
    let conf = w.conf.to_str().expect("utf-8 path");
    let mine = Natrium::start(&["-c", conf]);
    let got = scenario(&w, mine.addr());
    let deliveries = got[5].join("|");
    for want in [
        "MSG a.news.x 1 1",
        "MSG local.sports.x 2 1",
        "MSG secret.y 3 1",
        "MSG new 4 1",
    ] {
        assert!(deliveries.contains(want), "{want} in {deliveries}");
    }
    assert!(
        got[1]
            .join("|")
            .contains("Permissions Violation for Subscription to \"forbidden\""),
        "default permissions: {:?}",
        got[1]
    );
    assert!(
        got[6].is_empty(),
        "no activation token, no stream: {:?}",
        got[6]
    );
    assert_eq!(got[7], ["help 1 _R_", "svc.<B> 2 _R_"], "requests seen");
    assert_eq!(
        got[8].join("|"),
        "MSG _INBOX.b 9 1 => z|MSG _INBOX.b 9 1 => z",
        "both answers"
    );
    assert!(
        got[9].iter().all(|l| !l.starts_with("MSG")),
        "C may not import B's service subject: {:?}",
        got[9]
    );
    let scoped = &got[10][0];
    assert!(
        scoped.contains("Permissions Violation for Publish to \"other\"")
            && scoped.contains("Permissions Violation for Subscription to \"nope\"")
            && !scoped.contains("\"bob.x\"")
            && !scoped.contains("\"B.in\""),
        "{scoped}"
    );
    assert_eq!(
        got[11],
        ["-ERR 'Authorization Violation'"],
        "scoped user with its own perms"
    );
    assert_eq!(got[12], ["PONG"], "inside the window");
    assert_eq!(
        got[13],
        ["-ERR 'Authorization Violation'"],
        "outside the window"
    );
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", conf]).expect("nats-server");
        let want = scenario(&w, theirs.addr());
        assert_eq!(got, want, "natrium vs nats-server");
    }
}
