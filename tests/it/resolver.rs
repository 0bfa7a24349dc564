//! The full (directory) account resolver, compared with nats-server: the configuration
//! `nsc generate config --nats-resolver` writes, account JWTs pushed over `$SYS` by a
//! system user (an account unknown at start becomes usable without a restart), lookups and
//! the account list, a revocation that closes a connected user, a deletion that closes the
//! account's clients, and the stored JWTs surviving `kill -9` next to a corrupt file, in
//! a directory nats-server reads as its own.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nkeys::KeyPair;
use serde_json::{json, Value};

use crate::harness::{nats_server_bin, Natrium, NatsServer, Raw, TempDir};
use crate::operator::{encode, login, now, session, user_jwt};

/// An operator whose system account is `sys`, and a configuration in `dir` trusting it
/// with the full resolver keeping JWTs in `dir/jwt` (deletes allowed), `sys` preloaded.
struct Operator {
    key: KeyPair,
    sys: KeyPair,
}

impl Operator {
    fn new() -> Operator {
        Operator {
            key: KeyPair::new_operator(),
            sys: KeyPair::new_account(),
        }
    }

    fn account_jwt(&self, account: &KeyPair, name: &str, extra: Value) -> String {
        let mut nats = json!({"type": "account", "version": 2,
                              "limits": {"subs": -1, "conn": -1, "imports": -1, "exports": -1,
                                         "data": -1, "payload": -1, "wildcards": true}});
        if let (Value::Object(n), Value::Object(e)) = (&mut nats, extra) {
            n.extend(e);
        }
        encode(
            &self.key,
            json!({"sub": account.public_key(), "name": name, "nats": nats}),
        )
    }

    fn conf(&self, dir: &TempDir) -> std::path::PathBuf {
        let operator_jwt = encode(
            &self.key,
            json!({"sub": self.key.public_key(), "name": "O",
                   "nats": {"type": "operator", "version": 2,
                            "system_account": self.sys.public_key()}}),
        );
        let jwt_dir = dir.path().join("jwt");
        dir.write(
            "full.conf",
            &format!(
                "listen: 127.0.0.1:-1\noperator: {operator_jwt}\nsystem_account: {sys}\n\
                 resolver {{\n  type: full\n  dir: \"{}\"\n  allow_delete: true\n  interval: \"2m\"\n}}\n\
                 resolver_preload: {{ {sys}: \"{}\" }}\n",
                jwt_dir.display(),
                self.account_jwt(&self.sys, "SYS", json!({})),
                sys = self.sys.public_key(),
            ),
        )
    }

    /// A connection of a new system-account user, logged in.
    fn system_user(&self, addr: SocketAddr) -> Raw {
        let user = KeyPair::new_user();
        let jwt = user_jwt(&self.sys, &user, json!({}), None);
        let mut raw = login(addr, &jwt, Some(&user), "SUB _R.> 1\r\n");
        raw.expect("PONG\r\n");
        raw
    }
}

/// Sends `body` to `subject` on the system user's connection; the first answer.
fn ask(sys: &mut Raw, subject: &str, body: &str) -> String {
    let inbox = format!("_R.{}", fastrand::u64(..));
    sys.send_str(&format!(
        "PUB {subject} {inbox} {}\r\n{body}\r\n",
        body.len()
    ));
    match sys.read_msg(Duration::from_secs(3)) {
        Some((_, data)) => String::from_utf8_lossy(&data).into_owned(),
        None => format!("(no answer; then {:?})", sys.buffered()),
    }
}

/// The `data` (or for an error the code and account of `error`) of a claims answer.
fn outcome(answer: &str) -> Value {
    let v: Value = serde_json::from_str(answer).unwrap_or_else(|_| panic!("JSON: {answer}"));
    if v.get("error").is_some() {
        json!({"error": v["error"]["code"], "account": v["error"]["account"]})
    } else {
        v["data"].clone()
    }
}

/// A line the server sends to `raw` within 3 s, skipping PINGs.
fn next_line(raw: &mut Raw) -> String {
    loop {
        match raw.read_line(Duration::from_secs(3)) {
            Some(l) if l == "PING" => raw.send_str("PONG\r\n"),
            Some(l) => return l,
            None => return "(nothing)".to_string(),
        }
    }
}

/// The push/lookup/revoke/delete scenario; what each step observed.
fn scenario(op: &Operator, addr: SocketAddr) -> Vec<String> {
    let mut seen = Vec::new();
    let account = KeyPair::new_account();
    let a = account.public_key();
    let alice = KeyPair::new_user();
    let alice_jwt = user_jwt(&account, &alice, json!({}), None);
    let bob = KeyPair::new_user();
    let bob_jwt = user_jwt(&account, &bob, json!({}), None);
    // nats-server first asks the cluster for the account, up to the resolver's timeout.
    let mut unknown = login(addr, &alice_jwt, Some(&alice), "");
    seen.push(format!("unknown account: {}", next_line(&mut unknown)));

    let mut sys = op.system_user(addr);
    let account_jwt = op.account_jwt(&account, "A", json!({}));
    let pushed = ask(&mut sys, "$SYS.REQ.CLAIMS.UPDATE", &account_jwt);
    seen.push(format!("push: {}", outcome(&pushed)));
    seen.push(format!(
        "pushed account: {}",
        session(addr, &alice_jwt, Some(&alice), "")
    ));
    let looked_up = ask(&mut sys, &format!("$SYS.REQ.ACCOUNT.{a}.CLAIMS.LOOKUP"), "");
    seen.push(format!("lookup is the JWT: {}", looked_up == account_jwt));
    let list: Value =
        serde_json::from_str(&ask(&mut sys, "$SYS.REQ.CLAIMS.LIST", "")).expect("list JSON");
    let mut keys: Vec<String> = list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    let mut want = vec![a.clone(), op.sys.public_key()];
    want.sort();
    seen.push(format!("list is both accounts: {}", keys == want));
    let garbage = ask(&mut sys, "$SYS.REQ.CLAIMS.UPDATE", "not a jwt");
    seen.push(format!("garbage: {}", outcome(&garbage)));
    let stranger = KeyPair::new_account();
    let wrong_subject = ask(
        &mut sys,
        &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", stranger.public_key()),
        &account_jwt,
    );
    seen.push(format!(
        "other account's subject: {}",
        outcome(&wrong_subject)
    ));

    // Alice and Bob are connected; a new JWT revokes Alice.
    let mut alice_conn = login(addr, &alice_jwt, Some(&alice), "");
    alice_conn.expect("PONG\r\n");
    let mut bob_conn = login(addr, &bob_jwt, Some(&bob), "");
    bob_conn.expect("PONG\r\n");
    let revoking = op.account_jwt(
        &account,
        "A",
        json!({"revocations": {alice.public_key(): now()}}),
    );
    let revoked = ask(
        &mut sys,
        &format!("$SYS.REQ.ACCOUNT.{a}.CLAIMS.UPDATE"),
        &revoking,
    );
    seen.push(format!("revoke: {}", outcome(&revoked)));
    seen.push(format!("alice: {}", next_line(&mut alice_conn)));
    seen.push(format!(
        "alice closed: {}",
        alice_conn.is_closed(Duration::from_secs(3))
    ));
    seen.push(format!(
        "alice again: {}",
        session(addr, &alice_jwt, Some(&alice), "")
    ));
    bob_conn.send_str("PING\r\n");
    seen.push(format!("bob: {}", next_line(&mut bob_conn)));

    // The operator deletes the account: its clients are closed.
    let delete = encode(
        &op.key,
        json!({"sub": op.key.public_key(), "nats": {"accounts": [a.clone()]}}),
    );
    let deleted = ask(&mut sys, "$SYS.REQ.CLAIMS.DELETE", &delete);
    seen.push(format!("delete: {}", outcome(&deleted)));
    seen.push(format!("bob after delete: {}", next_line(&mut bob_conn)));
    let looked_up = ask(&mut sys, &format!("$SYS.REQ.ACCOUNT.{a}.CLAIMS.LOOKUP"), "");
    seen.push(format!("lookup after delete: {looked_up:?}"));
    seen
}

#[test]
fn full_resolver_takes_pushed_accounts_revocations_and_deletes_like_nats_server() {
    let op = Operator::new();
    let dir = TempDir::new("resolver-full");
    let conf = op.conf(&dir);
    let conf = conf.to_str().expect("utf-8 path");
    let mine = Natrium::start(&["-c", conf]);
    let got = scenario(&op, mine.addr());
    let expect = [
        "unknown account: -ERR 'Authorization Violation'",
        "pushed account: PONG",
        "lookup is the JWT: true",
        "list is both accounts: true",
        "alice: -ERR 'User Authentication Revoked'",
        "alice closed: true",
        "alice again: -ERR 'Authorization Violation'",
        "bob: PONG",
        "bob after delete: -ERR 'Account Authentication Expired'",
        "lookup after delete: \"\"",
    ];
    for line in expect {
        assert!(got.iter().any(|g| g == line), "{line:?} in {got:#?}");
    }
    let pushed = got.iter().find(|g| g.starts_with("push: ")).expect("push");
    assert!(pushed.contains("\"message\":\"jwt updated\""), "{pushed}");
    assert!(pushed.contains("\"code\":200"), "{pushed}");
    let deleted = got
        .iter()
        .find(|g| g.starts_with("delete: "))
        .expect("delete");
    assert!(deleted.contains("deleted 1 accounts"), "{deleted}");
    drop(mine);
    if nats_server_bin().is_some() {
        let theirs_dir = TempDir::new("resolver-full-ns");
        let theirs_conf = op.conf(&theirs_dir);
        let theirs =
            NatsServer::start(&["-c", theirs_conf.to_str().expect("utf-8")]).expect("nats-server");
        let want = scenario(&op, theirs.addr());
        // The accounts differ per run: compare with each run's own key masked.
        let mask = |lines: &[String]| -> Vec<String> {
            lines
                .iter()
                .map(|l| {
                    l.split('"')
                        .map(|p| {
                            if p.len() == 56 && p.starts_with('A') {
                                "<account>"
                            } else {
                                p
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\"")
                })
                .collect()
        };
        assert_eq!(mask(&got), mask(&want), "natrium vs nats-server");
    }
}

/// An import added, then removed, by pushed account JWTs while the importer's subscriber
/// stays connected; what the subscriber got after each push.
fn import_scenario(op: &Operator, addr: SocketAddr) -> Vec<String> {
    let (exporter, importer) = (KeyPair::new_account(), KeyPair::new_account());
    let mut sys = op.system_user(addr);
    let export = json!({"exports": [{"name": "feed", "subject": "feed.>", "type": "stream"}]});
    let with_import = json!({"imports": [{"name": "feed", "subject": "feed.>", "type": "stream",
                                          "account": exporter.public_key()}]});
    let mut push = |account: &KeyPair, extra: Value| {
        let jwt = op.account_jwt(account, "X", extra);
        outcome(&ask(&mut sys, "$SYS.REQ.CLAIMS.UPDATE", &jwt))["code"].clone()
    };
    let mut seen = vec![
        format!("exporter: {}", push(&exporter, export)),
        format!("importer: {}", push(&importer, json!({}))),
    ];
    let (reader, publisher) = (KeyPair::new_user(), KeyPair::new_user());
    let mut sub = login(
        addr,
        &user_jwt(&importer, &reader, json!({}), None),
        Some(&reader),
        "SUB feed.> 1\r\n",
    );
    sub.expect("PONG\r\n");
    let mut publish = login(
        addr,
        &user_jwt(&exporter, &publisher, json!({}), None),
        Some(&publisher),
        "",
    );
    publish.expect("PONG\r\n");
    let mut round = |name: &str, sub: &mut Raw| {
        publish.send_str(&format!(
            "PUB feed.{name} 1\r\n{}\r\nPING\r\n",
            name.len() % 10
        ));
        publish.expect("PONG\r\n");
        sub.send_str("PING\r\n");
        let got = sub.drain_for(Duration::from_millis(300));
        got.lines()
            .filter(|l| l.starts_with("MSG"))
            .collect::<Vec<_>>()
            .join("|")
    };
    seen.push(format!("before: {}", round("a", &mut sub)));
    seen.push(format!("import pushed: {}", push(&importer, with_import)));
    seen.push(format!("with the import: {}", round("b", &mut sub)));
    seen.push(format!("import removed: {}", push(&importer, json!({}))));
    seen.push(format!("without it again: {}", round("c", &mut sub)));
    seen
}

#[test]
fn a_pushed_import_reaches_a_connected_subscriber_like_nats_server() {
    let op = Operator::new();
    let dir = TempDir::new("resolver-import");
    let conf = op.conf(&dir);
    let mine = Natrium::start(&["-c", conf.to_str().expect("utf-8 path")]);
    let got = import_scenario(&op, mine.addr());
    assert_eq!(got[2], "before: ", "{got:#?}");
    assert_eq!(got[4], "with the import: MSG feed.b 1 1", "{got:#?}");
    assert_eq!(got[6], "without it again: ", "{got:#?}");
    drop(mine);
    if nats_server_bin().is_some() {
        let theirs_dir = TempDir::new("resolver-import-ns");
        let theirs_conf = op.conf(&theirs_dir);
        let theirs =
            NatsServer::start(&["-c", theirs_conf.to_str().expect("utf-8")]).expect("nats-server");
        assert_eq!(
            got,
            import_scenario(&op, theirs.addr()),
            "natrium vs nats-server"
        );
    }
}

fn jwt_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn pushed_accounts_survive_kill_9_and_a_corrupt_file_is_skipped() {
    let op = Operator::new();
    let dir = TempDir::new("resolver-kill");
    let conf = op.conf(&dir);
    let conf = conf.to_str().expect("utf-8 path");
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();
    let user_token = user_jwt(&account, &user, json!({}), None);
    let srv = Natrium::start(&["-c", conf]);
    let mut sys = op.system_user(srv.addr());
    let pushed = ask(
        &mut sys,
        "$SYS.REQ.CLAIMS.UPDATE",
        &op.account_jwt(&account, "A", json!({})),
    );
    assert_eq!(outcome(&pushed)["message"], "jwt updated", "{pushed}");
    srv.signal("KILL");
    drop(srv);
    let jwt_dir = dir.path().join("jwt");
    let files = jwt_files(&jwt_dir);
    assert!(
        files.contains(&format!("{}.jwt", account.public_key())),
        "{files:?}"
    );
    // A torn write of another account, and a file that is no JWT at all.
    let torn = op.account_jwt(&KeyPair::new_account(), "T", json!({}));
    let torn_key = KeyPair::new_account().public_key();
    std::fs::write(
        jwt_dir.join(format!("{torn_key}.jwt")),
        &torn[..torn.len() / 2],
    )
    .expect("write");
    std::fs::write(jwt_dir.join("notes.txt"), "hello").expect("write");

    let srv = Natrium::start(&["-c", conf]);
    assert_eq!(
        session(srv.addr(), &user_token, Some(&user), ""),
        "PONG",
        "the pushed account after kill -9"
    );
    assert!(
        srv.wait_log(&torn_key, Duration::from_secs(2)),
        "the corrupt file is reported: {}",
        srv.log_text()
    );
    drop(srv);
    // The directory is nats-server's format: it takes over where natrium stopped.
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", conf]).expect("nats-server");
        assert_eq!(
            session(theirs.addr(), &user_token, Some(&user), ""),
            "PONG",
            "nats-server on natrium's directory"
        );
    }
}
