//! Accounts from the configuration file (`accounts { NAME { users [...] } }`): each account
//! is its own subject space, across reactors too; users, nkeys and `no_auth_user` are bound
//! to their account with its permissions. Checked against nats-server where it is installed
//! (same messages delivered, same `-ERR` replies).
//!
//! Regression for the nats.py suite's `NoAuthUserClientTest` (no_auth_user inside an account)
//! and `ClientNkeysAuthTest` (an nkey user inside an account), which natrium refused to start.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::{nats_server_bin, rt, transcript, Natrium, NatsServer, Proc, Raw, TempDir};

const Q: &str = "\"verbose\":false,\"pedantic\":false";

fn login(addr: SocketAddr, user: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.send_str(&format!(
        "CONNECT {{{Q},\"user\":\"{user}\",\"pass\":\"p\"}}\r\nPING\r\n"
    ));
    raw.expect("PONG\r\n");
    raw
}

/// Four clients, two per account, alternating accounts and (on natrium with two reactors,
/// where connection k lands on reactor k mod 2) reactors, so that each account's traffic
/// crosses reactors while the other account's clients sit on the same reactors. Returns the
/// messages each client received.
fn isolation_scenario(addr: SocketAddr) -> Vec<Vec<String>> {
    // c0: A on reactor 0, c1: B on reactor 1, c2: B on reactor 0, c3: A on reactor 1.
    let mut c: Vec<Raw> = ["a1", "b1", "b2", "a2"]
        .iter()
        .map(|u| login(addr, u))
        .collect();
    for (i, raw) in c.iter_mut().enumerate() {
        // One queue member per account (c0 for A, c1 for B), with the same group name.
        let queue = if i < 2 {
            format!("SUB q g 1{i}\r\n")
        } else {
            String::new()
        };
        raw.send_str(&format!("SUB foo {i}\r\n{queue}SUB > 2{i}\r\nPING\r\n"));
        raw.expect("PONG\r\n");
    }
    let mut got = vec![String::new(); 4];
    // A publishes from reactor 1, B from reactor 0.
    c[3].send_str("PUB foo 1\r\na\r\nPUB q 2\r\naq\r\nPING\r\n");
    got[3] += &c[3].expect("PONG\r\n");
    c[2].send_str("PUB foo 1\r\nb\r\nPUB q 2\r\nbq\r\nPING\r\n");
    got[2] += &c[2].expect("PONG\r\n");
    for (i, raw) in c.iter_mut().enumerate() {
        got[i] += &raw.drain_for(Duration::from_millis(400));
    }
    got.iter().map(|o| messages(o)).collect()
}

/// `MSG` lines with their payload, sorted (the order across subscriptions of one client is
/// not what these tests are about).
fn messages(out: &str) -> Vec<String> {
    let lines: Vec<&str> = out.split("\r\n").collect();
    let mut msgs = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("MSG ") {
            msgs.push(format!("{l} {}", lines.get(i + 1).unwrap_or(&"")));
        }
    }
    msgs.sort();
    msgs
}

const TWO_ACCOUNTS: &str = r#"
listen: 127.0.0.1:-1
accounts {
  A { users [ {user: a1, password: p}, {user: a2, password: p} ] }
  B { users [ {user: b1, password: p}, {user: b2, password: p} ] }
}
"#;

/// `/connz?auth=1` account fields and the `acc` filter, as nats-server fills them: `account`
/// only outside `$G`, `name_tag` the account name.
fn connz_accounts(srv: &Proc) -> Vec<(String, String, String)> {
    let port = srv.monitor_port.expect("started with -m");
    let _a = login(srv.addr(), "a1");
    let _b = login(srv.addr(), "b1");
    let mut out = Vec::new();
    for q in ["auth=1", "auth=1&acc=A", "auth=1&acc=B", "acc=C"] {
        let v = crate::monitor::get_json(port, &format!("/connz?{q}&sort=cid"));
        let conns = v["connections"].as_array().cloned().unwrap_or_default();
        for c in conns {
            out.push((
                q.to_string(),
                c["account"].as_str().unwrap_or("").to_string(),
                c["name_tag"].as_str().unwrap_or("").to_string(),
            ));
        }
        out.push((q.to_string(), "total".into(), v["total"].to_string()));
    }
    out
}

#[test]
fn connz_shows_and_filters_accounts_like_nats_server() {
    let dir = TempDir::new("accounts-connz");
    let conf = dir.write("accounts.conf", TWO_ACCOUNTS);
    let conf = conf.to_string_lossy();
    let mine = Natrium::start(&["-c", &conf, "-m", "-1"]);
    let got = connz_accounts(&mine);
    let row = |q: &str, a: &str, t: &str| (q.to_string(), a.to_string(), t.to_string());
    assert_eq!(
        got,
        [
            row("auth=1", "A", "A"),
            row("auth=1", "B", "B"),
            row("auth=1", "total", "2"),
            row("auth=1&acc=A", "A", "A"),
            row("auth=1&acc=A", "total", "1"),
            row("auth=1&acc=B", "B", "B"),
            row("auth=1&acc=B", "total", "1"),
            row("acc=C", "total", "0"),
        ]
    );
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", &conf, "-m", "-1"]).expect("nats-server");
        assert_eq!(connz_accounts(&theirs), got, "nats-server");
    }
}

#[test]
fn accounts_are_separate_subject_spaces_across_reactors() {
    let dir = TempDir::new("accounts");
    let conf = dir.write("accounts.conf", TWO_ACCOUNTS);
    let conf = conf.to_string_lossy();
    let mine = Natrium::start(&["-c", &conf, "--reactors", "2"]);
    let got = isolation_scenario(mine.addr());
    let sorted = |v: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    // Each client sees its own account's messages, and all of them.
    let want = vec![
        sorted(&[
            "MSG foo 0 1 a",
            "MSG foo 20 1 a",
            "MSG q 10 2 aq",
            "MSG q 20 2 aq",
        ]),
        sorted(&[
            "MSG foo 1 1 b",
            "MSG foo 21 1 b",
            "MSG q 11 2 bq",
            "MSG q 21 2 bq",
        ]),
        sorted(&["MSG foo 2 1 b", "MSG foo 22 1 b", "MSG q 22 2 bq"]),
        sorted(&["MSG foo 3 1 a", "MSG foo 23 1 a", "MSG q 23 2 aq"]),
    ];
    assert_eq!(got, want);
    // nats-server delivers exactly the same.
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
        assert_eq!(isolation_scenario(theirs.addr()), want, "nats-server");
    }
}

/// The nats.py `no_auth_user.conf` shape: the no_auth_user lives in account `a`, and a user
/// of account `b` is denied everything but `bar`.
const NO_AUTH_USER_IN_ACCOUNT: &str = r#"
listen: 127.0.0.1:-1
accounts {
  a {
    users = [ { user: 'foo', pass: 'foo',
      permissions: {
        subscribe: { allow: ["foo", "_INBOX.>"], deny: ["bar"] }
        publish: { allow: ["foo", "_INBOX.>"], deny: ["bar"] }
      }
    }]
  }
  b {
    users = [ { user: 'bar', pass: 'bar',
      permissions: {
        subscribe: { allow: ["bar"], deny: [">"] }
        publish: { allow: ["bar"], deny: [">"] }
      }
    }]
  }
}
no_auth_user = "foo"
"#;

#[test]
fn no_auth_user_and_permissions_inside_accounts_match_nats_server() {
    let dir = TempDir::new("accounts-noauth");
    let conf = dir.write("no_auth_user.conf", NO_AUTH_USER_IN_ACCOUNT);
    let conf = conf.to_string_lossy();
    let mine = Natrium::start(&["-c", &conf]);
    let bar = "\"user\":\"bar\",\"pass\":\"bar\"";
    let cases = [
        (
            format!("CONNECT {{{Q},{bar}}}\r\nSUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n"),
            "-ERR 'Permissions Violation for Subscription to \"foo\"'\r\n\
             -ERR 'Permissions Violation for Publish to \"foo\"'\r\nPONG\r\n",
        ),
        (
            format!("CONNECT {{{Q}}}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nSUB bar 2\r\nPING\r\n"),
            "MSG foo 1 2\r\nhi\r\n-ERR 'Permissions Violation for Subscription to \"bar\"'\r\n\
             PONG\r\n",
        ),
        (
            format!("CONNECT {{{Q},\"user\":\"bar\",\"pass\":\"nope\"}}\r\nPING\r\n"),
            "-ERR 'Authorization Violation'\r\n",
        ),
    ];
    let theirs = nats_server_bin().map(|_| NatsServer::start(&["-c", &conf]).expect("nats-server"));
    for (input, want) in &cases {
        let (m, _, info) = transcript(mine.addr(), input);
        assert_eq!(&m, want, "{input:?}");
        assert!(!info.contains("auth_required"), "{info}");
        if let Some(t) = &theirs {
            let (t, _, _) = transcript(t.addr(), input);
            assert_eq!(m, t, "natrium vs nats-server for {input:?}");
        }
    }
    // The nats.py test itself, with a real client: the anonymous client (account a) answers
    // its own request; bar's denied subscription is reported asynchronously.
    rt().block_on(async {
        let nc2 = async_nats::connect(mine.url()).await.unwrap();
        let mut sub = nc2.subscribe("foo").await.unwrap();
        let responder = nc2.clone();
        tokio::spawn(async move {
            if let Some(m) = sub.next().await {
                if let Some(reply) = m.reply {
                    let _ = responder.publish(reply, Bytes::from_static(b"pong")).await;
                }
            }
        });
        let resp = timeout(Duration::from_secs(5), nc2.request("foo", "ping".into()))
            .await
            .expect("reply in time")
            .unwrap();
        assert_eq!(resp.payload, "pong");
    });
}

/// An nkey user inside an account, with permissions: signs the nonce, works within its
/// allowance, is refused beyond it.
#[test]
fn nkey_user_inside_an_account() {
    let kp = nkeys::KeyPair::new_user();
    let dir = TempDir::new("accounts-nkey");
    let conf = dir.write(
        "nkeys.conf",
        &format!(
            "listen: 127.0.0.1:-1\naccounts {{\n  acme {{\n    users [ {{\n      nkey = \"{}\"\n      \
             permissions = {{\n        subscribe = {{ allow = [\"help\", \"_INBOX.>\"], deny = [\"foo\"] }}\n        \
             publish = {{ allow = [\"help\", \"_INBOX.>\"], deny = [\"foo\"] }}\n      }}\n    }} ]\n  }}\n}}\n",
            kp.public_key()
        ),
    );
    let conf = conf.to_string_lossy();
    let mine = Natrium::start(&["-c", &conf]);
    let mut servers: Vec<(&str, Proc)> = vec![("natrium", mine)];
    if nats_server_bin().is_some() {
        servers.push((
            "nats-server",
            NatsServer::start(&["-c", &conf]).expect("nats-server"),
        ));
    }
    for (name, srv) in &servers {
        let mut raw = Raw::connect(srv.addr());
        assert!(raw.info.contains("\"nonce\""), "{name}: {}", raw.info);
        let info: serde_json::Value =
            serde_json::from_str(raw.info.trim_start_matches("INFO ").trim()).unwrap();
        let nonce = info["nonce"].as_str().unwrap().to_string();
        let sig = data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap());
        raw.send_str(&format!(
            "CONNECT {{{Q},\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nSUB help 1\r\n\
             PUB help 2\r\nok\r\nSUB bar 2\r\nPING\r\n",
            kp.public_key()
        ));
        let out = raw.expect("PONG\r\n");
        assert_eq!(
            out,
            "MSG help 1 2\r\nok\r\n-ERR 'Permissions Violation for Subscription to \"bar\"'\r\n\
             PONG\r\n",
            "{name}"
        );
    }
    // A real client signing with its seed.
    let seed = kp.seed().unwrap();
    let url = servers[0].1.url();
    rt().block_on(async {
        let c = async_nats::ConnectOptions::with_nkey(seed)
            .connect(url)
            .await
            .unwrap();
        let mut sub = c.subscribe("help").await.unwrap();
        c.publish("help", "x".into()).await.unwrap();
        let m = timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("message in time")
            .unwrap();
        assert_eq!(m.payload, "x");
    });
}

/// nats-server's start-up errors for account configurations, with its texts.
#[test]
fn account_configuration_errors_use_nats_texts() {
    let dir = TempDir::new("accounts-errors");
    let cases = [
        (
            "accounts { A { users [ {user: x, password: p} ] }, B { users [ {user: x, password: q} ] } }",
            "Duplicate user \"x\" detected",
        ),
        (
            "authorization { user: u, password: p }\naccounts { A { users [ {user: x, password: p} ] } }",
            "Can not have a single user/pass and accounts",
        ),
        (
            "authorization { token: t }\naccounts { A { users [ {user: x, password: p} ] } }",
            "Can not have a token and accounts",
        ),
        ("accounts { \"$G\" { } }", "\"$G\" is a Reserved Account"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let conf = dir.write(&format!("bad{i}.conf"), text);
        let out = std::process::Command::new(crate::harness::natrium_bin())
            .args(["-t", "-c", &conf.to_string_lossy()])
            .output()
            .expect("run natrium -t");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(err.contains(want), "natrium: {text}: {err}");
        if let Some(bin) = nats_server_bin() {
            let out = std::process::Command::new(bin)
                .args(["-t", "-c", &conf.to_string_lossy()])
                .output()
                .expect("run nats-server -t");
            let theirs = String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout);
            // nats-server reads the top-level keys in Go map order, so beside a token it
            // reports either this or "Can not have a token and a users array".
            let want = want.strip_suffix(" accounts").unwrap_or(want);
            assert!(theirs.contains(want), "nats-server: {text}: {theirs}");
        }
    }
}

/// A reload that moves a user to another account closes its connections (nats-server's
/// `clientHasMovedToDifferentAccount`); it logs back in to the new account's subject space.
/// Clients of an unchanged account keep their subscriptions.
#[test]
fn reload_moves_a_user_to_another_account() {
    let dir = TempDir::new("accounts-reload");
    let conf = dir.write("accounts.conf", TWO_ACCOUNTS);
    let srv = Natrium::start(&["-c", &conf.to_string_lossy(), "--reactors", "2"]);
    let mut a2 = login(srv.addr(), "a2");
    let mut b1 = login(srv.addr(), "b1");
    b1.send_str("SUB foo 1\r\nPING\r\n");
    b1.expect("PONG\r\n");
    dir.write(
        "accounts.conf",
        &TWO_ACCOUNTS
            .replace("{user: a2, password: p}", "{user: a3, password: p}")
            .replace(
                "{user: b2, password: p}",
                "{user: b2, password: p}, {user: a2, password: p}",
            ),
    );
    srv.signal("HUP");
    assert!(srv.wait_log("Reloaded: accounts", Duration::from_secs(5)));
    assert!(a2.is_closed(Duration::from_secs(5)), "a2 moved: closed");
    // Back in, now in account B: it reaches b1, whose subscription survived the reload.
    let mut a2 = login(srv.addr(), "a2");
    a2.send_str("PUB foo 2\r\nhi\r\nPING\r\n");
    a2.expect("PONG\r\n");
    b1.expect("MSG foo 1 2\r\nhi\r\n");
    let mut a1 = login(srv.addr(), "a1");
    a1.send_str("PUB foo 3\r\nnot\r\nPING\r\n");
    a1.expect("PONG\r\n");
    b1.send_str("PING\r\n");
    assert_eq!(b1.expect("PONG\r\n"), "PONG\r\n", "nothing from account A");
}
