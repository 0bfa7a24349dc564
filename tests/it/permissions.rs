//! Publish and subscribe permissions: allow and deny lists with wildcards, queue-group
//! entries, deny overriding allow, wildcard subscriptions filtered at delivery, reserved
//! subjects, and `allow_responses` letting a responder answer once and not twice. Every
//! violation keeps the connection open.
//!
//! The same users are given to nats-server as a configuration file ([`CONF`]) and to
//! natrium as options ([`options`]); the transcripts are compared byte for byte.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use natrium::auth::{Permissions, ResponsePermission};
use natrium::config::Options;
use tokio::time::timeout;

use crate::auth::{subj, user, with_users};
use crate::harness::{rt, transcript, InProc, Natrium, NatsServer, Raw, TempDir};

pub const CONF: &str = r#"
listen: 127.0.0.1:-1
authorization {
  users: [
    {user: alice, password: pa, permissions: {
      publish: {allow: ["foo.*", "req.>", "_INBOX.>"], deny: ["foo.secret"]}
      subscribe: {allow: ["foo.>", "jobs work", "jobs.* w.*", "_INBOX.>"], deny: ["foo.private", "jobs.bad"]}
    }}
    {user: svc, password: ps, permissions: {
      publish: {deny: ">"}
      subscribe: {allow: "svc.>"}
      allow_responses: true
    }}
    {user: svc2, password: ps, permissions: {
      subscribe: {allow: "svc.>"}
      allow_responses: {max: 2, expires: "1m"}
    }}
    {user: admin, password: px}
  ]
}
"#;

/// [`CONF`] as natrium options.
pub fn options() -> Options {
    let alice = Permissions {
        publish: subj(Some(&["foo.*", "req.>", "_INBOX.>"]), &["foo.secret"]),
        subscribe: subj(
            Some(&["foo.>", "jobs work", "jobs.* w.*", "_INBOX.>"]),
            &["foo.private", "jobs.bad"],
        ),
        response: None,
    };
    let svc = Permissions {
        publish: subj(None, &[">"]),
        subscribe: subj(Some(&["svc.>"]), &[]),
        response: Some(ResponsePermission::default()),
    };
    let svc2 = Permissions {
        publish: None,
        subscribe: subj(Some(&["svc.>"]), &[]),
        response: Some(ResponsePermission {
            max_msgs: 2,
            expires: Some(Duration::from_secs(60)),
        }),
    };
    with_users(
        vec![
            user("alice", "pa", Some(alice)),
            user("svc", "ps", Some(svc)),
            user("svc2", "ps", Some(svc2)),
            user("admin", "px", None),
        ],
        "",
    )
}

fn login(name: &str, pass: &str, verbose: bool) -> String {
    format!("CONNECT {{\"verbose\":{verbose},\"pedantic\":false,\"user\":\"{name}\",\"pass\":\"{pass}\"}}\r\n")
}

/// Single-connection transcripts: (input, what natrium and nats-server answer).
fn cases() -> Vec<(String, &'static str)> {
    let alice = login("alice", "pa", false);
    let admin = login("admin", "px", false);
    vec![
        (
            format!("{alice}PUB foo.a 1\r\nx\r\nPUB bar 0\r\n\r\nPUB foo.secret 0\r\n\r\nPUB foo.a.b 0\r\n\r\nPUB req.x.y 0\r\n\r\nPING\r\n"),
            "-ERR 'Permissions Violation for Publish to \"bar\"'\r\n\
             -ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n\
             -ERR 'Permissions Violation for Publish to \"foo.a.b\"'\r\nPONG\r\n",
        ),
        (
            format!("{alice}SUB foo.private 1\r\nSUB foo.> 2\r\nSUB jobs 3\r\nSUB jobs work 4\r\nSUB jobs other 5\r\nSUB jobs.x w.1 6\r\nSUB jobs.x v.1 7\r\nSUB jobs.bad w.1 8\r\nSUB bar 9\r\nSUB foo.q _sys_ 10\r\nSUB foo.* 11\r\nPING\r\n"),
            "-ERR 'Permissions Violation for Subscription to \"foo.private\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"jobs\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"jobs\" using queue \"other\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"jobs.x\" using queue \"v.1\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"jobs.bad\" using queue \"w.1\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"bar\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"foo.q\" using queue \"_sys_\"'\r\nPONG\r\n",
        ),
        (
            // The wide subscription is allowed; denied subjects are filtered at delivery.
            format!("{alice}SUB foo.> 1\r\nPUB foo.private 1\r\nx\r\nPUB foo.ok 1\r\ny\r\nPING\r\n"),
            "MSG foo.ok 1 1\r\ny\r\nPONG\r\n",
        ),
        (
            // Two subscriptions through the deny filter (nats-server's order for two entries
            // on one subject is its map's, so they are on different patterns: `>` first).
            format!("{alice}SUB foo.* 1\r\nSUB foo.> 2\r\nPUB foo.private 1\r\nx\r\nPUB foo.z 1\r\nz\r\nPING\r\n"),
            "MSG foo.z 2 1\r\nz\r\nMSG foo.z 1 1\r\nz\r\nPONG\r\n",
        ),
        (
            // Verbose: a violation gets its -ERR and no +OK.
            format!("{}PUB bar 0\r\n\r\nSUB bar 1\r\nPUB foo.a 0\r\n\r\nPING\r\n", login("alice", "pa", true)),
            "+OK\r\n-ERR 'Permissions Violation for Publish to \"bar\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"bar\"'\r\n+OK\r\nPONG\r\n",
        ),
        (
            // Reserved subjects and replies, whatever the permissions.
            format!("{admin}PUB _GR_.abc 0\r\n\r\nPUB $NRG.x 0\r\n\r\nPUB x _R_.abc 0\r\n\r\nPUB x $JS.ACK.a.b 0\r\n\r\nSUB x _sys_ 1\r\nSUB ok 2\r\nPUB ok 0\r\n\r\nPING\r\n"),
            "-ERR 'Permissions Violation for Publish to \"_GR_.abc\"'\r\n\
             -ERR 'Permissions Violation for Publish to \"$NRG.x\"'\r\n\
             -ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\n\
             -ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.a.b\"'\r\n\
             -ERR 'Permissions Violation for Subscription to \"x\" using queue \"_sys_\"'\r\n\
             MSG ok 2 0\r\n\r\nPONG\r\n",
        ),
        (
            // A responder without a request has nothing to answer.
            format!("{}PUB reply.1 0\r\n\r\nPING\r\n", login("svc", "ps", false)),
            "-ERR 'Permissions Violation for Publish to \"reply.1\"'\r\nPONG\r\n",
        ),
        (
            format!("{}PUB anything 0\r\n\r\nPING\r\n", login("svc2", "ps", false)),
            "-ERR 'Permissions Violation for Publish to \"anything\"'\r\nPONG\r\n",
        ),
    ]
}

#[test]
fn permission_transcripts() {
    let srv = InProc::start(options());
    let mut failures = Vec::new();
    for (input, expect) in cases() {
        let (out, closed, _) = transcript(srv.addr(), &input);
        if out != expect || closed {
            failures.push(format!(
                "{input:?}\n  expected {expect:?}\n  got      {out:?} closed={closed}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn differential_permission_transcripts() {
    assert!(
        crate::harness::nats_server_bin().is_some(),
        "nats-server not found: run `make deps`"
    );
    let dir = TempDir::new("perms");
    let conf = dir.write("perms.conf", CONF).to_string_lossy().into_owned();
    let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
    // natrium twice: from the same configuration file, and in-process from options.
    let from_file = Natrium::start(&["-c", &conf]);
    let in_process = InProc::start(options());
    let mut failures = Vec::new();
    for (name, addr) in [
        ("natrium -c", from_file.addr()),
        ("in-process", in_process.addr()),
    ] {
        for (input, _) in cases() {
            let (t, tc, _) = transcript(theirs.addr(), &input);
            let (m, mc, _) = transcript(addr, &input);
            if (t.as_str(), tc) != (m.as_str(), mc) {
                failures.push(format!(
                    "{name} {input:?}:\n  nats-server {t:?} closed={tc}\n  natrium     {m:?} closed={mc}"
                ));
            }
        }
        for (t, m) in responder_script(theirs.addr())
            .into_iter()
            .zip(responder_script(addr))
        {
            if t != m {
                failures.push(format!(
                    "{name} allow_responses:\n  nats-server {t:?}\n  natrium     {m:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A requester (admin) and two responders (svc: one reply per request; svc2: two): each
/// answers more often than allowed. Returns what each connection received.
fn responder_script(addr: std::net::SocketAddr) -> Vec<String> {
    let mut admin = Raw::connect(addr);
    admin.handshake(
        &login("admin", "px", false)
            .replace("CONNECT ", "")
            .replace("\r\n", ""),
    );
    let mut svc = Raw::connect(addr);
    svc.handshake(
        &login("svc", "ps", false)
            .replace("CONNECT ", "")
            .replace("\r\n", ""),
    );
    let mut svc2 = Raw::connect(addr);
    svc2.handshake(
        &login("svc2", "ps", false)
            .replace("CONNECT ", "")
            .replace("\r\n", ""),
    );
    svc.send_str("SUB svc.echo 1\r\nPING\r\n");
    svc.expect("PONG\r\n");
    svc2.send_str("SUB svc.two 1\r\nPING\r\n");
    svc2.expect("PONG\r\n");
    admin.send_str(
        "SUB reply.> 1\r\nPUB svc.echo reply.1 2\r\nhi\r\nPUB svc.two reply.2 2\r\nho\r\nPING\r\n",
    );
    admin.expect("PONG\r\n");
    svc.expect("hi\r\n");
    svc2.expect("ho\r\n");
    svc.send_str("PUB reply.1 3\r\none\r\nPUB reply.1 3\r\ntwo\r\nPUB reply.9 0\r\n\r\nPING\r\n");
    let svc_out = svc.expect("PONG\r\n");
    svc2.send_str("PUB reply.2 1\r\na\r\nPUB reply.2 1\r\nb\r\nPUB reply.2 1\r\nc\r\nPING\r\n");
    let svc2_out = svc2.expect("PONG\r\n");
    admin.send_str("PING\r\n");
    let admin_out = admin.expect("PONG\r\n");
    vec![admin_out, svc_out, svc2_out]
}

#[test]
fn allow_responses_once_not_twice() {
    let srv = InProc::start(options());
    let out = responder_script(srv.addr());
    assert_eq!(
        out[0],
        "MSG reply.1 1 3\r\none\r\nMSG reply.2 1 1\r\na\r\nMSG reply.2 1 1\r\nb\r\nPONG\r\n"
    );
    assert_eq!(
        out[1],
        "-ERR 'Permissions Violation for Publish to \"reply.1\"'\r\n\
         -ERR 'Permissions Violation for Publish to \"reply.9\"'\r\nPONG\r\n"
    );
    assert_eq!(
        out[2],
        "-ERR 'Permissions Violation for Publish to \"reply.2\"'\r\nPONG\r\n"
    );
}

/// Collects the server errors async-nats reports.
fn error_collector() -> (
    async_nats::ConnectOptions,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = async_nats::ConnectOptions::new().event_callback(move |e| {
        let tx = tx.clone();
        async move {
            if let async_nats::Event::ServerError(err) = e {
                let _ = tx.send(err.to_string());
            }
        }
    });
    (opts, rx)
}

async fn next_error(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a server error")
        .expect("channel open")
        .to_lowercase()
}

#[test]
fn async_nats_violations_keep_the_connection_open() {
    let srv = InProc::start(options());
    rt().block_on(async {
        let (opts, mut errors) = error_collector();
        let alice = opts
            .user_and_password("alice".into(), "pa".into())
            .connect(srv.url())
            .await
            .unwrap();
        let admin = async_nats::ConnectOptions::with_user_and_password("admin".into(), "px".into())
            .connect(srv.url())
            .await
            .unwrap();
        let mut wide = alice.subscribe("foo.>").await.unwrap();
        let mut workers = alice.queue_subscribe("jobs", "work".into()).await.unwrap();
        alice.flush().await.unwrap();

        alice.publish("bar", Bytes::new()).await.unwrap();
        assert!(next_error(&mut errors)
            .await
            .contains("permissions violation for publish to \"bar\""));
        let _denied = alice.subscribe("foo.private").await.unwrap();
        assert!(next_error(&mut errors)
            .await
            .contains("permissions violation for subscription to \"foo.private\""));
        let _other = alice.queue_subscribe("jobs", "other".into()).await.unwrap();
        assert!(next_error(&mut errors)
            .await
            .contains("using queue \"other\""));

        // Still connected: the allowed traffic flows, the denied subject is filtered.
        admin.publish("foo.private", "p".into()).await.unwrap();
        admin.publish("foo.public", "q".into()).await.unwrap();
        admin.publish("jobs", "j".into()).await.unwrap();
        admin.flush().await.unwrap();
        let m = timeout(Duration::from_secs(5), wide.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.subject.as_str(), "foo.public");
        let m = timeout(Duration::from_secs(5), workers.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload, "j");
        alice.publish("foo.x", "self".into()).await.unwrap();
        let m = timeout(Duration::from_secs(5), wide.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload, "self");
        assert_eq!(
            alice.connection_state(),
            async_nats::connection::State::Connected
        );
    });
}

#[test]
fn async_nats_request_reply_with_allow_responses() {
    let srv = InProc::start(options());
    rt().block_on(async {
        let (opts, mut errors) = error_collector();
        let svc = opts
            .user_and_password("svc".into(), "ps".into())
            .connect(srv.url())
            .await
            .unwrap();
        let admin = async_nats::ConnectOptions::with_user_and_password("admin".into(), "px".into())
            .connect(srv.url())
            .await
            .unwrap();
        let mut requests = svc.subscribe("svc.time").await.unwrap();
        svc.flush().await.unwrap();
        let responder = tokio::spawn(async move {
            let req = requests.next().await.unwrap();
            let reply = req.reply.unwrap();
            svc.publish(reply.clone(), "first".into()).await.unwrap();
            svc.publish(reply.clone(), "second".into()).await.unwrap();
            svc.flush().await.unwrap();
            (svc, reply)
        });
        // async-nats's flush() only writes the SUB; the server may read admin's request
        // first. A request nobody received gets "no responders" and is asked again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let resp = loop {
            match admin.request("svc.time", "now?".into()).await {
                Err(e)
                    if e.kind() == async_nats::RequestErrorKind::NoResponders
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(resp.payload, "first");
        let (_svc, reply) = responder.await.unwrap();
        let err = next_error(&mut errors).await;
        assert!(
            err.contains(
                &format!(
                    "permissions violation for publish to \"{}\"",
                    reply.as_str()
                )
                .to_lowercase()
            ),
            "{err}"
        );
    });
}
