//! Reloading users, passwords and permissions: new connections use the new configuration,
//! and connected clients are re-checked as nats-server does (`reloadAuthorization`): a
//! client whose user is gone is closed without an error, one whose password no longer
//! matches gets `Authorization Violation`, and subscriptions the new permissions forbid are
//! removed with a `(sid "…")` violation while the connection stays open.
//!
//! natrium reloads in-process here ([`natrium::server::Server::reload`], what SIGHUP runs);
//! nats-server reloads its configuration file on SIGHUP; the transcripts are compared.

use std::net::SocketAddr;
use std::time::Duration;

use natrium::auth::Permissions;
use natrium::config::Options;

use crate::auth::{subj, user, with_users};
use crate::harness::{InProc, Natrium, NatsServer, Raw, TempDir};

const BEFORE: &str = r#"
listen: 127.0.0.1:-1
authorization {
  users: [
    {user: alice, password: pa, permissions: {subscribe: ["foo.>", "bar", "jobs w"], publish: ["foo.>", "bar"]}}
    {user: bob, password: pb}
    {user: carol, password: pc}
  ]
}
"#;

const AFTER: &str = r#"
listen: 127.0.0.1:-1
authorization {
  users: [
    {user: alice, password: pa, permissions: {subscribe: ["foo.>"], publish: ["foo.>"]}}
    {user: bob, password: pb2}
    {user: dave, password: pd}
  ]
}
"#;

fn before() -> Options {
    let alice = Permissions {
        publish: subj(Some(&["foo.>", "bar"]), &[]),
        subscribe: subj(Some(&["foo.>", "bar", "jobs w"]), &[]),
        response: None,
    };
    with_users(
        vec![
            user("alice", "pa", Some(alice)),
            user("bob", "pb", None),
            user("carol", "pc", None),
        ],
        "",
    )
}

fn after() -> Options {
    let alice = Permissions {
        publish: subj(Some(&["foo.>"]), &[]),
        subscribe: subj(Some(&["foo.>"]), &[]),
        response: None,
    };
    with_users(
        vec![
            user("alice", "pa", Some(alice)),
            user("bob", "pb2", None),
            user("dave", "pd", None),
        ],
        "",
    )
}

fn login(addr: SocketAddr, name: &str, pass: &str) -> Raw {
    let mut c = Raw::connect(addr);
    c.handshake(&format!(
        "{{\"verbose\":false,\"pedantic\":false,\"user\":\"{name}\",\"pass\":\"{pass}\"}}"
    ));
    c
}

/// Connects alice (three subscriptions), bob and carol; runs `reload`; then reports what
/// each connection received and whether it was closed, and which logins work afterwards.
fn scenario(addr: SocketAddr, reload: impl FnOnce()) -> Vec<String> {
    let mut alice = login(addr, "alice", "pa");
    alice.send_str("SUB foo.> 1\r\nSUB bar 2\r\nSUB jobs w 3\r\nPING\r\n");
    alice.expect("PONG\r\n");
    let mut bob = login(addr, "bob", "pb");
    let mut carol = login(addr, "carol", "pc");
    reload();
    std::thread::sleep(Duration::from_millis(300));
    let mut out = Vec::new();
    for (name, c) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("carol", &mut carol),
    ] {
        let closed = c.is_closed(Duration::from_millis(300));
        let mut text = c.buffered();
        if !closed {
            // Still connected: the removed subscriptions no longer deliver, the new
            // publish permissions apply.
            c.send_str("PUB foo.x 1\r\nf\r\nPUB bar 1\r\nb\r\nPING\r\n");
            text = c.expect("PONG\r\n");
        }
        let text = removals_sorted(&text);
        out.push(format!("{name}: closed={closed} {text:?}"));
    }
    for (name, pass) in [
        ("bob", "pb"),
        ("bob", "pb2"),
        ("carol", "pc"),
        ("dave", "pd"),
    ] {
        let (t, closed, _) = crate::harness::transcript(
            addr,
            &format!(
                "CONNECT {{\"verbose\":false,\"user\":\"{name}\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
            ),
        );
        out.push(format!("login {name}/{pass}: {t:?} closed={closed}"));
    }
    out
}

/// Subscriptions removed by a reload are reported in subscription-map order, which
/// is random in nats-server (a Go map): each run of removal errors is put in sorted
/// order so transcripts compare exactly otherwise.
fn removals_sorted(text: &str) -> String {
    const REMOVAL: &str = "-ERR 'Permissions Violation for Subscription to ";
    let mut out = String::new();
    let mut run: Vec<&str> = Vec::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with(REMOVAL) {
            run.push(line);
            continue;
        }
        run.sort_unstable();
        out.extend(run.drain(..));
        out.push_str(line);
    }
    run.sort_unstable();
    out.extend(run.drain(..));
    out
}

const EXPECTED: &[&str] = &[
    "alice: closed=false \"-ERR 'Permissions Violation for Subscription to \\\"bar\\\" (sid \\\"2\\\")'\\r\\n-ERR 'Permissions Violation for Subscription to \\\"jobs\\\" using queue \\\"w\\\" (sid \\\"3\\\")'\\r\\nMSG foo.x 1 1\\r\\nf\\r\\n-ERR 'Permissions Violation for Publish to \\\"bar\\\"'\\r\\nPONG\\r\\n\"",
    "bob: closed=true \"-ERR 'Authorization Violation'\\r\\n\"",
    "carol: closed=true \"\"",
    "login bob/pb: \"-ERR 'Authorization Violation'\\r\\n\" closed=true",
    "login bob/pb2: \"PONG\\r\\n\" closed=false",
    "login carol/pc: \"-ERR 'Authorization Violation'\\r\\n\" closed=true",
    "login dave/pd: \"PONG\\r\\n\" closed=false",
];

#[test]
fn reload_users_passwords_and_permissions() {
    let srv = InProc::start(before());
    let out = scenario(srv.addr(), || {
        srv.server.reload(after()).expect("reload");
    });
    assert_eq!(out, EXPECTED);
}

#[test]
fn reload_that_fails_changes_nothing() {
    let srv = InProc::start(before());
    let mut bad = after();
    bad.no_auth_user = "nobody".into();
    assert!(srv.server.reload(bad).is_err());
    let (t, closed, _) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"user\":\"carol\",\"pass\":\"pc\"}\r\nPING\r\n",
    );
    assert_eq!((t.as_str(), closed), ("PONG\r\n", false));
}

#[test]
fn reload_turning_auth_on_and_off() {
    // Open server, then a token: anonymous clients fail the re-check.
    let srv = InProc::start(Options::default());
    let mut anon = Raw::connect(srv.addr());
    anon.handshake("{\"verbose\":false}");
    // Connected, but CONNECT not sent yet when the reload comes.
    let mut early = Raw::connect(srv.addr());
    let mut token = Options::default();
    token.authorization = Some(natrium::auth::Authorization {
        token: "t0k".into(),
        ..Default::default()
    });
    srv.server.reload(token.clone()).unwrap();
    assert_eq!(
        anon.read_line(Duration::from_secs(3)).as_deref(),
        Some("-ERR 'Authorization Violation'")
    );
    assert!(anon.is_closed(Duration::from_secs(2)));
    // It cannot skip CONNECT now, and must authenticate.
    early.send_str("SUB foo 1\r\n");
    assert_eq!(
        early.read_line(Duration::from_secs(3)).as_deref(),
        Some("-ERR 'Authorization Violation'")
    );
    let raw = Raw::connect(srv.addr());
    assert!(raw.info.contains("\"auth_required\":true"), "{}", raw.info);
    let mut tok = Raw::connect(srv.addr());
    tok.handshake("{\"verbose\":false,\"auth_token\":\"t0k\"}");
    // Back to open: token clients stay (nothing to fail), INFO no longer asks for auth.
    srv.server.reload(Options::default()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    tok.send_str("PING\r\n");
    tok.expect("PONG\r\n");
    let raw = Raw::connect(srv.addr());
    assert!(!raw.info.contains("auth_required"), "{}", raw.info);
}

/// natrium from the configuration file, reloaded by SIGHUP like nats-server.
#[test]
fn sighup_reload_of_users_passwords_and_permissions() {
    let dir = TempDir::new("reload-sighup");
    let conf = dir
        .write("auth.conf", BEFORE)
        .to_string_lossy()
        .into_owned();
    let srv = Natrium::start(&["-c", &conf]);
    let out = scenario(srv.addr(), || {
        dir.write("auth.conf", AFTER);
        srv.signal("HUP");
        assert!(
            srv.wait_log("Reloaded server configuration", Duration::from_secs(5)),
            "natrium did not reload:\n{}",
            srv.log_text()
        );
    });
    assert_eq!(out, EXPECTED);
    assert!(srv.wait_log("Reloaded: authorization users", Duration::from_secs(1)));
    assert!(srv.wait_log(
        "Removed sub \"bar\" (sid \"2\") for User \"alice\" - not authorized",
        Duration::from_secs(1)
    ));
    // A configuration the engine refuses changes nothing.
    dir.write(
        "auth.conf",
        &AFTER
            .replace(
                "{user: dave, password: pd}",
                "{user: dave, password: pd, allowed_connection_types: [\"LEAFNODE\"]}",
            )
            .replace(
                "listen: 127.0.0.1:-1",
                "listen: 127.0.0.1:-1\nno_auth_user: nobody",
            ),
    );
    srv.signal("HUP");
    assert!(srv.wait_log(
        "Failed to reload server configuration",
        Duration::from_secs(5)
    ));
    let (t, closed, _) = crate::harness::transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"user\":\"dave\",\"pass\":\"pd\"}\r\nPING\r\n",
    );
    assert_eq!((t.as_str(), closed), ("PONG\r\n", false));
}

/// The same reload on both servers: nats-server rereads its file on SIGHUP.
#[test]
fn differential_reload() {
    assert!(
        crate::harness::nats_server_bin().is_some(),
        "nats-server not found: run `make deps`"
    );
    let dir = TempDir::new("reload-diff");
    let conf = dir
        .write("auth.conf", BEFORE)
        .to_string_lossy()
        .into_owned();
    let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
    let t = scenario(theirs.addr(), || {
        dir.write("auth.conf", AFTER);
        theirs.signal("HUP");
        assert!(
            theirs.wait_log("Reloaded server configuration", Duration::from_secs(5)),
            "nats-server did not reload:\n{}",
            theirs.log_text()
        );
    });
    let mine = InProc::start(before());
    let m = scenario(mine.addr(), || {
        mine.server.reload(after()).expect("reload");
    });
    assert_eq!(t, m, "\nnats-server: {t:#?}\nnatrium: {m:#?}");
}
