//! Authentication with real clients and raw sockets: user/password and token from the
//! command line, users with plaintext and bcrypt passwords, nkeys (clients signing the INFO
//! nonce with their seed), no_auth_user, the exact `-ERR` for wrong credentials, the auth
//! timeout for a silent socket, and differential transcripts against nats-server.
//!
//! Settings the command line cannot express (users, nkeys, permissions) run natrium
//! in-process from `Options` ([`InProc`]) and nats-server from the equivalent
//! configuration file, written next to each test.

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use natrium::auth::{Authorization, NkeyUser, Permissions, SubjectPermission, User};
use natrium::config::Options;
use tokio::time::timeout;

use crate::harness::{root, rt, transcript, InProc, Natrium, NatsServer, Raw, TempDir};

pub fn user(name: &str, pass: &str, perms: Option<Permissions>) -> User {
    User {
        username: name.into(),
        password: pass.into(),
        permissions: perms,
        ..Default::default()
    }
}

pub fn list(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn subj(allow: Option<&[&str]>, deny: &[&str]) -> Option<SubjectPermission> {
    Some(SubjectPermission {
        allow: allow.map(list),
        deny: list(deny),
    })
}

pub fn with_users(users: Vec<User>, no_auth_user: &str) -> Options {
    Options {
        authorization: Some(Authorization {
            users,
            ..Default::default()
        }),
        no_auth_user: no_auth_user.into(),
        ..Default::default()
    }
}

async fn connect(
    url: &str,
    opts: async_nats::ConnectOptions,
) -> Result<async_nats::Client, String> {
    match timeout(Duration::from_secs(5), opts.connect(url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// A round trip through the server proves the client is connected and working.
async fn works(c: &async_nats::Client, subject: &str) {
    let mut sub = c.subscribe(subject.to_string()).await.unwrap();
    c.publish(subject.to_string(), Bytes::from_static(b"ok"))
        .await
        .unwrap();
    c.flush().await.unwrap();
    let m = timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("message in time")
        .unwrap();
    assert_eq!(m.payload, "ok");
}

/// Measurements tests print for the docs (visible with `--nocapture`).
#[allow(clippy::print_stderr)]
fn report(line: &str) {
    eprintln!("{line}");
}

#[test]
fn user_and_password_from_flags() {
    let srv = Natrium::start(&["--user", "derek", "--pass", "s3cr3t"]);
    let raw = Raw::connect(srv.addr());
    assert!(raw.info.contains("\"auth_required\":true"), "{}", raw.info);
    assert!(!raw.info.contains("nonce"), "no nonce without nkeys");
    rt().block_on(async {
        let c = connect(
            &srv.url(),
            async_nats::ConnectOptions::with_user_and_password("derek".into(), "s3cr3t".into()),
        )
        .await
        .expect("good credentials");
        works(&c, "flags.userpass").await;
        let bad = connect(
            &srv.url(),
            async_nats::ConnectOptions::with_user_and_password(
                "derek".into(),
                "wrong-password-x".into(),
            ),
        )
        .await;
        assert!(bad.is_err(), "wrong password accepted");
        assert!(connect(&srv.url(), async_nats::ConnectOptions::new())
            .await
            .is_err());
    });
    // Wrong credentials: the exact reply, then close.
    let (out, closed, _) = transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"hunter2-secret\"}\r\nPING\r\n",
    );
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(closed);
    assert!(srv.wait_log(
        "authentication error - User \"derek\"",
        Duration::from_secs(3)
    ));
    assert!(srv.wait_log(
        "Plaintext passwords detected, use nkeys or bcrypt",
        Duration::from_secs(1)
    ));
    let log = srv.log_text();
    assert!(!log.contains("hunter2-secret") && !log.contains("wrong-password-x"));
    assert!(!log.contains("s3cr3t"));
}

#[test]
fn token_from_flags() {
    let srv = Natrium::start(&["--auth", "T0K3N-abc", "-DV"]);
    rt().block_on(async {
        let c = connect(
            &srv.url(),
            async_nats::ConnectOptions::with_token("T0K3N-abc".into()),
        )
        .await
        .expect("good token");
        works(&c, "flags.token").await;
        assert!(connect(
            &srv.url(),
            async_nats::ConnectOptions::with_token("T0K3N-abd".into())
        )
        .await
        .is_err());
    });
    let (out, closed, _) = transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"auth_token\":\"nope-token\"}\r\n",
    );
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(closed);
    assert!(srv.wait_log(
        "authentication error - Token \"[REDACTED]\"",
        Duration::from_secs(3)
    ));
    // Even the protocol trace (-DV) hides the token.
    let log = srv.log_text();
    assert!(log.contains("[REDACTED]"));
    assert!(
        !log.contains("T0K3N-abc") && !log.contains("nope-token"),
        "{log}"
    );
}

#[test]
fn silent_socket_gets_authentication_timeout() {
    let srv = Natrium::start(&["--user", "a", "--pass", "b"]);
    let mut raw = Raw::connect(srv.addr());
    let start = Instant::now();
    assert_eq!(
        raw.read_line(Duration::from_secs(5)).as_deref(),
        Some("-ERR 'Authentication Timeout'")
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1800) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(raw.is_closed(Duration::from_secs(2)));
    // A client that authenticates in time is not affected by the timer.
    let mut ok = Raw::connect(srv.addr());
    ok.send_str("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    ok.send_str("PING\r\n");
    ok.expect("PONG\r\n");
}

/// The same command-line credentials on both servers, the same bytes in, the same bytes
/// out (INFO aside).
#[test]
fn differential_flag_auth_transcripts() {
    assert!(
        crate::harness::nats_server_bin().is_some(),
        "nats-server not found: run `make deps`"
    );
    let q = "\"verbose\":false,\"pedantic\":false";
    let cases: Vec<(&[&str], String)> = vec![
        (&["--user", "derek", "--pass", "s3cr3t"], format!("CONNECT {{{q},\"user\":\"derek\",\"pass\":\"s3cr3t\"}}\r\nPING\r\n")),
        (&["--user", "derek", "--pass", "s3cr3t"], "CONNECT {\"user\":\"derek\",\"pass\":\"s3cr3t\"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n".to_string()),
        (&["--user", "derek", "--pass", "s3cr3t"], format!("CONNECT {{{q},\"user\":\"derek\",\"pass\":\"nope\"}}\r\nPING\r\n")),
        (&["--user", "derek", "--pass", "s3cr3t"], format!("CONNECT {{{q},\"user\":\"bob\",\"pass\":\"s3cr3t\"}}\r\nPING\r\n")),
        (&["--user", "derek", "--pass", "s3cr3t"], format!("CONNECT {{{q}}}\r\nPING\r\n")),
        (&["--user", "derek", "--pass", "s3cr3t"], "PING\r\n".to_string()),
        (&["--user", "derek", "--pass", "s3cr3t"], "SUB foo 1\r\n".to_string()),
        (&["--user", "derek", "--pass", "s3cr3t"], format!("CONNECT {{{q},\"user\":\"derek\",\"pass\":\"s3cr3t\",\"account\":\"A\"}}\r\n")),
        (&["--auth", "tok"], format!("CONNECT {{{q},\"auth_token\":\"tok\"}}\r\nPING\r\n")),
        (&["--auth", "tok"], format!("CONNECT {{{q},\"auth_token\":\"tik\"}}\r\nPING\r\n")),
        (&["--auth", "tok"], format!("CONNECT {{{q},\"user\":\"tok\"}}\r\nPING\r\n")),
        (&["--auth", "tok"], format!("CONNECT {{{q},\"auth_token\":\"tok\"}}\r\nCONNECT {{{q},\"auth_token\":\"bad\"}}\r\nPING\r\n")),
    ];
    let mut failures = Vec::new();
    for (args, input) in &cases {
        let theirs = NatsServer::start(args).expect("nats-server");
        let mine = Natrium::start(args);
        let (t, tc, tinfo) = transcript(theirs.addr(), input);
        let (m, mc, minfo) = transcript(mine.addr(), input);
        if (t.as_str(), tc) != (m.as_str(), mc) {
            failures.push(format!(
                "{args:?} {input:?}:\n  nats-server {t:?} closed={tc}\n  natrium     {m:?} closed={mc}"
            ));
        }
        for key in ["\"auth_required\":true", "\"nonce\""] {
            if tinfo.contains(key) != minfo.contains(key) {
                failures.push(format!("{args:?}: INFO {key} differs:\n{tinfo}\n{minfo}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn users_with_plaintext_and_bcrypt_passwords() {
    let hash = bcrypt::hash("b-pass", 10).unwrap();
    let srv = InProc::start(with_users(
        vec![user("plain", "p-pass", None), user("hashed", &hash, None)],
        "",
    ));
    rt().block_on(async {
        let up = |u: &str, p: &str| {
            async_nats::ConnectOptions::with_user_and_password(u.into(), p.into())
        };
        let c = connect(&srv.url(), up("plain", "p-pass")).await.unwrap();
        works(&c, "users.plain").await;
        let started = Instant::now();
        let h = connect(&srv.url(), up("hashed", "b-pass")).await.unwrap();
        let first = started.elapsed();
        works(&h, "users.hashed").await;
        assert!(connect(&srv.url(), up("hashed", "b-pas")).await.is_err());
        assert!(connect(&srv.url(), up("hashed", &hash)).await.is_err());
        assert!(connect(&srv.url(), up("plain", "b-pass")).await.is_err());
        assert!(connect(&srv.url(), up("nobody", "p-pass")).await.is_err());
        // The second time the verified pair is cached.
        let started = Instant::now();
        let again = connect(&srv.url(), up("hashed", "b-pass")).await.unwrap();
        works(&again, "users.hashed2").await;
        report(&format!(
            "bcrypt cost 10: first connect {first:?}, cached {:?}",
            started.elapsed()
        ));
    });
}

/// While a bcrypt check runs (off the reactor), other clients on the same reactor keep
/// being served: a publisher/subscriber pair measures its round trips meanwhile.
#[test]
fn bcrypt_does_not_stall_other_clients() {
    let hash = bcrypt::hash("slow", 12).unwrap();
    // What one verification costs on this machine right now (it is shared and loaded).
    let t = Instant::now();
    assert!(!bcrypt::verify("wrong", &hash).unwrap());
    let one_check = t.elapsed();
    let mut opts = with_users(vec![user("slow", &hash, None), user("fast", "f", None)], "");
    opts.reactors = Some(1);
    let srv = InProc::start(opts);
    rt().block_on(async {
        let fast = connect(
            &srv.url(),
            async_nats::ConnectOptions::with_user_and_password("fast".into(), "f".into()),
        )
        .await
        .unwrap();
        let mut sub = fast.subscribe("ping.pong").await.unwrap();
        fast.flush().await.unwrap();
        let url = srv.url();
        let slow = tokio::spawn(async move {
            let mut clients = Vec::new();
            for _ in 0..3 {
                clients.push(
                    connect(
                        &url,
                        async_nats::ConnectOptions::with_user_and_password(
                            "slow".into(),
                            "wrong".into(),
                        ),
                    )
                    .await,
                );
            }
            clients
        });
        let mut worst = Duration::ZERO;
        let deadline = Instant::now() + one_check * 2;
        while Instant::now() < deadline {
            let t = Instant::now();
            fast.publish("ping.pong", Bytes::from_static(b"x"))
                .await
                .unwrap();
            timeout(Duration::from_secs(5), sub.next())
                .await
                .unwrap()
                .unwrap();
            worst = worst.max(t.elapsed());
        }
        for r in slow.await.unwrap() {
            assert!(r.is_err());
        }
        // Had the checks run on the reactor, a round trip would wait for a whole check.
        assert!(
            worst < one_check / 2,
            "a round trip took {worst:?} during bcrypt checks of {one_check:?} each"
        );
    });
}

fn nkey_opts(pk: &str) -> Options {
    Options {
        authorization: Some(Authorization {
            nkeys: vec![NkeyUser {
                nkey: pk.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn nkeys_with_async_nats() {
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().unwrap();
    let srv = InProc::start(nkey_opts(&kp.public_key()));
    let raw = Raw::connect(srv.addr());
    let info: serde_json::Value =
        serde_json::from_str(raw.info.trim_start_matches("INFO ").trim()).unwrap();
    let nonce = info["nonce"].as_str().expect("nonce in INFO");
    assert_eq!(nonce.len(), 15);
    assert_eq!(info["auth_required"], true);
    rt().block_on(async {
        let c = connect(&srv.url(), async_nats::ConnectOptions::with_nkey(seed))
            .await
            .expect("nkey accepted");
        works(&c, "nkeys.ok").await;
        let stranger = nkeys::KeyPair::new_user().seed().unwrap();
        assert!(
            connect(&srv.url(), async_nats::ConnectOptions::with_nkey(stranger))
                .await
                .is_err(),
            "unknown nkey accepted"
        );
    });
    // Right key, signature over another nonce: refused.
    let other = crate::harness::Raw::connect(srv.addr());
    let sig = kp.sign(b"not-the-nonce").unwrap();
    let sig = data_encoding::BASE64URL_NOPAD.encode(&sig);
    drop(other);
    let (out, closed, _) = transcript(
        srv.addr(),
        &format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
            kp.public_key()
        ),
    );
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(closed);
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{script} failed (run `make deps` for nats-py and nkeys):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn nats_py_user_password_token_and_nkeys() {
    let dir = TempDir::new("py-auth");
    let srv = InProc::start(with_users(vec![user("py", "py-pass", None)], ""));
    assert_eq!(
        python("auth.py", &["userpass", &srv.url(), "py", "py-pass"]),
        "OK"
    );
    assert_eq!(
        python("auth.py", &["userpass-bad", &srv.url(), "py", "nope"]),
        "OK"
    );

    let tok = Natrium::start(&["--auth", "py-token"]);
    assert_eq!(python("auth.py", &["token", &tok.url(), "py-token"]), "OK");

    let kp = nkeys::KeyPair::new_user();
    let seed_file = dir
        .write("user.nk", &kp.seed().unwrap())
        .to_string_lossy()
        .into_owned();
    let nk = InProc::start(nkey_opts(&kp.public_key()));
    assert_eq!(python("auth.py", &["nkey", &nk.url(), &seed_file]), "OK");
    let stranger = dir
        .write("stranger.nk", &nkeys::KeyPair::new_user().seed().unwrap())
        .to_string_lossy()
        .into_owned();
    assert_eq!(python("auth.py", &["nkey-bad", &nk.url(), &stranger]), "OK");
}

#[test]
fn no_auth_user_binds_anonymous_clients() {
    let guest_perms = Permissions {
        publish: subj(Some(&["guest.>"]), &[]),
        subscribe: subj(Some(&["guest.>"]), &[]),
        response: None,
    };
    let srv = InProc::start(with_users(
        vec![
            user("alice", "pa", None),
            user("guest", "pg", Some(guest_perms)),
        ],
        "guest",
    ));
    let raw = Raw::connect(srv.addr());
    assert!(
        !raw.info.contains("auth_required"),
        "no_auth_user clears auth_required: {}",
        raw.info
    );
    // No CONNECT at all: bound to the guest and its permissions (telnet style).
    let (out, closed, _) = transcript(
        srv.addr(),
        "SUB guest.x 1\r\nPUB guest.x 2\r\nhi\r\nPUB other 0\r\n\r\nPING\r\n",
    );
    // Without CONNECT nats-server's defaults apply: verbose, so every op is acknowledged.
    assert_eq!(
        out,
        "+OK\r\n+OK\r\nMSG guest.x 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n"
    );
    assert!(!closed);
    // CONNECT without credentials: the guest too.
    let (out, _, _) = transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false}\r\nPUB other 0\r\n\r\nPING\r\n",
    );
    assert_eq!(
        out,
        "-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n"
    );
    // Wrong credentials do not fall back to the guest.
    let (out, closed, _) = transcript(
        srv.addr(),
        "CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"x\"}\r\nPING\r\n",
    );
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(closed);
    rt().block_on(async {
        let anon = connect(&srv.url(), async_nats::ConnectOptions::new())
            .await
            .unwrap();
        works(&anon, "guest.async").await;
        let alice = connect(
            &srv.url(),
            async_nats::ConnectOptions::with_user_and_password("alice".into(), "pa".into()),
        )
        .await
        .unwrap();
        works(&alice, "anything.goes").await;
    });
}

/// nats-server configured by file, natrium by the equivalent options: the same replies.
#[test]
fn differential_users_and_no_auth_user() {
    let Some(_) = crate::harness::nats_server_bin() else {
        panic!("nats-server not found: run `make deps`");
    };
    let dir = TempDir::new("diff-users");
    let conf = dir
        .write(
            "users.conf",
            r#"
listen: 127.0.0.1:-1
authorization {
  users: [
    {user: alice, password: pa}
    {user: guest, password: pg, permissions: {publish: "guest.>", subscribe: "guest.>"}}
  ]
}
no_auth_user: guest
"#,
        )
        .to_string_lossy()
        .into_owned();
    let guest_perms = Permissions {
        publish: subj(Some(&["guest.>"]), &[]),
        subscribe: subj(Some(&["guest.>"]), &[]),
        response: None,
    };
    let mine = InProc::start(with_users(
        vec![
            user("alice", "pa", None),
            user("guest", "pg", Some(guest_perms)),
        ],
        "guest",
    ));
    let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
    let from_file = Natrium::start(&["-c", &conf]);
    let q = "\"verbose\":false,\"pedantic\":false";
    let inputs = [
        "PING\r\n".to_string(),
        "SUB guest.a 1\r\nPUB guest.a 1\r\nx\r\nSUB x 2\r\nPING\r\n".to_string(),
        format!("CONNECT {{{q}}}\r\nPUB nope 0\r\n\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"alice\",\"pass\":\"pa\"}}\r\nSUB x 2\r\nPUB x 0\r\n\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"alice\",\"pass\":\"pb\"}}\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"carol\",\"pass\":\"pa\"}}\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"guest\",\"pass\":\"pg\"}}\r\nSUB guest.b 1\r\nPING\r\n"),
    ];
    let mut failures = Vec::new();
    for input in &inputs {
        let (t, tc, tinfo) = transcript(theirs.addr(), input);
        let (m, mc, minfo) = transcript(mine.addr(), input);
        if (t.as_str(), tc) != (m.as_str(), mc) {
            failures.push(format!(
                "{input:?}:\n  nats-server {t:?} closed={tc}\n  natrium     {m:?} closed={mc}"
            ));
        }
        assert_eq!(
            tinfo.contains("auth_required"),
            minfo.contains("auth_required")
        );
        let (f, fc, _) = transcript(from_file.addr(), input);
        if (t.as_str(), tc) != (f.as_str(), fc) {
            failures.push(format!(
                "-c {input:?}:\n  nats-server {t:?} closed={tc}\n  natrium     {f:?} closed={fc}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An nkey user and bcrypt user next to each other, as nats-server reads them from a file:
/// same verdicts on both servers.
#[test]
fn differential_nkeys_and_bcrypt() {
    let Some(_) = crate::harness::nats_server_bin() else {
        panic!("nats-server not found: run `make deps`");
    };
    let kp = nkeys::KeyPair::new_user();
    let hash = bcrypt::hash("bpass", 4).unwrap();
    let dir = TempDir::new("diff-nkeys");
    let conf = dir.write(
        "nkeys.conf",
        &format!(
            "listen: 127.0.0.1:-1\nauthorization {{ users: [ {{nkey: {}}}, {{user: b, password: \"{hash}\"}} ] }}\n",
            kp.public_key()
        ),
    ).to_string_lossy().into_owned();
    let mut opts = nkey_opts(&kp.public_key());
    if let Some(a) = opts.authorization.as_mut() {
        a.users.push(user("b", &hash, None));
    }
    let mine = InProc::start(opts);
    let theirs = NatsServer::start(&["-c", &conf]).expect("nats-server");
    let from_file = Natrium::start(&["-c", &conf]);
    let q = "\"verbose\":false,\"pedantic\":false";
    let mut failures = Vec::new();
    for addr in [theirs.addr(), mine.addr(), from_file.addr()] {
        // Sign the nonce this very connection got.
        let mut raw = Raw::connect(addr);
        let info: serde_json::Value =
            serde_json::from_str(raw.info.trim_start_matches("INFO ").trim()).unwrap();
        let nonce = info["nonce"].as_str().unwrap().to_string();
        let sig = data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap());
        raw.send_str(&format!(
            "CONNECT {{{q},\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
            kp.public_key()
        ));
        raw.expect("PONG\r\n");
    }
    let inputs = [
        format!(
            "CONNECT {{{q},\"nkey\":\"{}\"}}\r\nPING\r\n",
            kp.public_key()
        ),
        format!(
            "CONNECT {{{q},\"nkey\":\"{}\",\"sig\":\"AAAA\"}}\r\nPING\r\n",
            kp.public_key()
        ),
        format!("CONNECT {{{q},\"user\":\"b\",\"pass\":\"bpass\"}}\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"b\",\"pass\":\"bpasz\"}}\r\nPING\r\n"),
        format!("CONNECT {{{q},\"user\":\"b\",\"pass\":\"{hash}\"}}\r\nPING\r\n"),
        format!("CONNECT {{{q}}}\r\nPING\r\n"),
    ];
    for input in &inputs {
        let (t, tc, _) = transcript(theirs.addr(), input);
        for (name, addr) in [("in-process", mine.addr()), ("-c", from_file.addr())] {
            let (m, mc, _) = transcript(addr, input);
            if (t.as_str(), tc) != (m.as_str(), mc) {
                failures.push(format!(
                    "{name} {input:?}:\n  nats-server {t:?} closed={tc}\n  natrium     {m:?} closed={mc}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
