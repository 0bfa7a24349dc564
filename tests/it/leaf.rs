//! Leaf nodes (issue 17): natrium as a leaf of nats-server, as a hub of nats-server leaves,
//! and with itself; accounts bound by user/password, by an nkey and by a `.creds` file (an
//! operator-mode nats-server hub); queue members served locally first; loops detected;
//! bad input on the leaf port answered as nats-server answers it.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::cluster::{exchange_between, next, ready, Node};
use crate::harness::{free_port, natrium_bin, nats_server_bin, rt, spawn, Raw, TempDir};
use crate::monitor::get_json;

pub(crate) const ACCOUNTS: &str = "accounts {\n  A { users [ {user: a, password: a} ] }\n  \
                        B { users [ {user: b, password: b} ] }\n}\n";

/// The configuration file of server `name`: the common top-level settings, then `body`.
pub(crate) fn conf_text(name: &str, body: &str) -> String {
    format!("host: 127.0.0.1\nport: -1\nhttp: 127.0.0.1:-1\nserver_name: {name}\n{body}\n")
}

/// Starts `bin` as server `name` with `body` after the common top-level settings.
pub(crate) fn server(bin: &Path, name: &str, body: &str) -> Node {
    let dir = TempDir::new(&format!("leaf-{name}"));
    let path = dir.write("leaf.conf", &conf_text(name, body));
    let proc = spawn(bin, &["-c", path.to_str().unwrap()]);
    Node::new(proc, name, dir)
}

/// A hub with accounts A and B, its leaf listener on `leaf_port`, `leaf` inside
/// `leafnodes {}` (its authorization).
pub(crate) fn hub(bin: &Path, name: &str, leaf_port: u16, leaf: &str) -> Node {
    server(
        bin,
        name,
        &format!("{ACCOUNTS}leafnodes {{\n  listen: 127.0.0.1:{leaf_port}\n  {leaf}\n}}\n"),
    )
}

/// A leaf node with accounts A and B and one remote (`remote` is the inside of its map).
pub(crate) fn spoke(bin: &Path, name: &str, remote: &str) -> Node {
    server(
        bin,
        name,
        &format!("{ACCOUNTS}leafnodes {{\n  remotes [ {{ {remote} }} ]\n}}\n"),
    )
}

pub(crate) fn leaf_count(n: &Node) -> u64 {
    get_json(n.monitor(), "/leafz")["leafnodes"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until `n` has `count` leaf connections.
pub(crate) fn wait_leafs(n: &Node, count: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while leaf_count(n) != count {
        assert!(
            Instant::now() < deadline,
            "{} has {} leaf connections, not {count}:\n{}",
            n.name,
            leaf_count(n),
            n.proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nats() -> std::path::PathBuf {
    nats_server_bin().expect("nats-server (make deps)")
}

/// The three pairings: (hub binary, spoke binary, what the pair is called).
pub(crate) fn pairings() -> Vec<(std::path::PathBuf, std::path::PathBuf, &'static str)> {
    vec![
        (nats(), natrium_bin(), "natrium leaf of nats-server"),
        (natrium_bin(), nats(), "nats-server leaf of natrium"),
        (natrium_bin(), natrium_bin(), "natrium leaf of natrium"),
    ]
}

/// Publishes `count` messages on `subject` from `publisher`; returns how many each
/// subscriber got.
async fn spread(
    publisher: &async_nats::Client,
    subject: &str,
    subs: &mut [&mut async_nats::Subscriber],
    count: usize,
) -> Vec<usize> {
    for i in 0..count {
        publisher
            .publish(subject.to_string(), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    let mut got = vec![0usize; subs.len()];
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.iter().sum::<usize>() < count && Instant::now() < deadline {
        for (i, s) in subs.iter_mut().enumerate() {
            while let Ok(Some(_)) = timeout(Duration::from_millis(20), s.next()).await {
                got[i] += 1;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (i, s) in subs.iter_mut().enumerate() {
        while let Ok(Some(_)) = timeout(Duration::from_millis(20), s.next()).await {
            got[i] += 1;
        }
    }
    got
}

/// [`crate::cluster::exchange`]'s traffic in account A from each side to the other; account
/// B, not bound across the leaf connection, subscribed on the receiving side, gets none of
/// it.
pub(crate) async fn both_ways(one: &Node, two: &Node) {
    for (from, to) in [(one, two), (two, one)] {
        let tag = format!("{}-{}", from.name, to.name);
        let other = to.client("b").await;
        let b_side = other.subscribe(format!("x.{tag}.>")).await.unwrap();
        other.flush().await.unwrap();
        exchange_between(
            &tag,
            &from.client("a").await,
            &to.client("a").await,
            Some(b_side),
        )
        .await;
    }
}

/// A queue group with a member on each side: what `near`'s clients publish goes to the
/// member on `near` (local members first, as nats-server picks them); once that member is
/// gone, to the one across the leaf connection; every message exactly once.
async fn queue_prefers_local_members(near: &Node, far: &Node, what: &str) {
    let subject = format!("jobs.{}-{}", near.name, far.name);
    let publisher = near.client("a").await;
    let near_c = near.client("a").await;
    let far_c = far.client("a").await;
    let mut far_member = far_c
        .queue_subscribe(subject.clone(), "workers".into())
        .await
        .unwrap();
    ready(&far_c, &publisher).await;
    let mut near_member = near_c
        .queue_subscribe(subject.clone(), "workers".into())
        .await
        .unwrap();
    // async-nats' flush does not wait for the server: a probe on the same connection does.
    ready(&near_c, &publisher).await;
    let got = spread(
        &publisher,
        &subject,
        &mut [&mut near_member, &mut far_member],
        200,
    )
    .await;
    assert_eq!(
        got,
        [200, 0],
        "{what}, {}: the local member takes all",
        near.name
    );
    near_member.unsubscribe().await.unwrap();
    ready(&near_c, &publisher).await;
    let got = spread(&publisher, &subject, &mut [&mut far_member], 200).await;
    assert_eq!(
        got,
        [200],
        "{what}, {}: then the member across the leaf",
        near.name
    );
}

/// Acceptance 1: each pairing, an account bound by user/password (the leaf user of the hub
/// is bound to A; the remote's local account is A): pub/sub with wildcards and headers,
/// request/reply, no-responders and queue groups both ways; account B stays apart.
#[test]
fn leaf_pairs_exchange_traffic_both_ways() {
    for (hub_bin, spoke_bin, what) in pairings() {
        let lp = free_port();
        let h = hub(
            &hub_bin,
            "HUB",
            lp,
            "authorization { users [ {user: leaf, password: s3cret, account: A} ] }",
        );
        let s = spoke(
            &spoke_bin,
            "SPOKE",
            &format!("url: \"nats://leaf:s3cret@127.0.0.1:{lp}\", account: A"),
        );
        wait_leafs(&h, 1, Duration::from_secs(10));
        wait_leafs(&s, 1, Duration::from_secs(10));
        rt().block_on(async {
            both_ways(&s, &h).await;
            queue_prefers_local_members(&s, &h, what).await;
            queue_prefers_local_members(&h, &s, what).await;
        });
        let leafz = get_json(h.monitor(), "/leafz?subs=1");
        let leaf = &leafz["leafs"][0];
        assert_eq!(leaf["account"], "A", "{what}: {leafz}");
        assert_eq!(leaf["name"], "SPOKE", "{what}: {leafz}");
        assert_eq!(leaf["is_spoke"], false, "{what}: {leafz}");
        let spoke_side = get_json(s.monitor(), "/leafz");
        assert_eq!(spoke_side["leafs"][0]["is_spoke"], true, "{what}");
        assert_eq!(spoke_side["leafs"][0]["name"], "HUB", "{what}");
        assert_eq!(get_json(s.monitor(), "/varz")["leafnodes"], 1, "{what}");
    }
}

/// Acceptance 1: an account bound through an nkey: the hub's leaf authorization names the
/// user nkey and account A, the remote signs the hub's nonce with the seed.
#[test]
fn leaf_binds_an_account_with_an_nkey() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    for (hub_bin, spoke_bin, what) in pairings() {
        let lp = free_port();
        let authorization = format!(
            "authorization {{ nkey: {}, account: A }}",
            user.public_key()
        );
        let remote = format!("url: \"nats://127.0.0.1:{lp}\", account: A, seed: {seed}");
        bound_to_a(&hub_bin, &spoke_bin, lp, &authorization, &remote, what);
    }
}

/// Leaf users with bcrypt passwords (as nats-server's `Plaintext passwords detected`
/// warning asks for): the leaf logs in with the password, checked off the reactor, in every
/// pairing; a wrong password gets nats-server's `authentication error - User "leaf"` and no
/// connection.
#[test]
fn leaf_users_with_bcrypt_passwords_log_in() {
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    for (hub_bin, spoke_bin, what) in pairings() {
        let lp = free_port();
        let authorization = format!(
            "authorization {{ users [ {{user: leaf, password: \"{hash}\", account: A}} ] }}"
        );
        let remote = format!("url: \"nats://leaf:s3cret@127.0.0.1:{lp}\", account: A");
        let (h, s) = bound_to_a(&hub_bin, &spoke_bin, lp, &authorization, &remote, what);
        drop(s);
        let wrong = spoke(
            &spoke_bin,
            "WRONG",
            &format!("url: \"nats://leaf:guess@127.0.0.1:{lp}\", account: A"),
        );
        assert!(
            h.proc.wait_log(
                "authentication error - User \"leaf\"",
                Duration::from_secs(10)
            ),
            "{what}: {}",
            h.proc.log_text()
        );
        assert_eq!(leaf_count(&wrong), 0, "{what}");
        wait_leafs(&h, 0, Duration::from_secs(5));
    }
}

/// A hub with `authorization` in its leaf block on `leaf_port`, and a spoke with `remote`:
/// once connected, the hub has bound the leaf to account A, and traffic flows both ways.
fn bound_to_a(
    hub_bin: &Path,
    spoke_bin: &Path,
    leaf_port: u16,
    authorization: &str,
    remote: &str,
    what: &str,
) -> (Node, Node) {
    let h = hub(hub_bin, "HUB", leaf_port, authorization);
    let s = spoke(spoke_bin, "SPOKE", remote);
    wait_leafs(&h, 1, Duration::from_secs(10));
    assert_eq!(
        get_json(h.monitor(), "/leafz")["leafs"][0]["account"],
        "A",
        "{what}"
    );
    rt().block_on(both_ways(&s, &h));
    (h, s)
}

/// A JWT as nsc writes them (v2: `ed25519-nkey`, signing `header.payload`), for
/// `subject`, signed by `issuer`, with the `nats` claims given.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use data_encoding::BASE64URL_NOPAD as B64;
    let header = B64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "jti": format!("{:032X}", fastrand::u128(..)),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = B64.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let sig = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", B64.encode(&sig))
}

/// A `.creds` file's text, as nsc writes it.
fn creds(user_jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// An operator, one account signed by it, and users of that account.
struct Operator {
    jwt: String,
    account: nkeys::KeyPair,
    account_jwt: String,
}

impl Operator {
    fn new() -> Operator {
        let op = nkeys::KeyPair::new_operator();
        let jwt_op = jwt(
            &op,
            &op.public_key(),
            "OP",
            serde_json::json!({"type": "operator", "version": 2}),
        );
        let account = nkeys::KeyPair::new_account();
        let account_jwt = jwt(
            &op,
            &account.public_key(),
            "ACC",
            serde_json::json!({
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                           "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2,
            }),
        );
        Operator {
            jwt: jwt_op,
            account,
            account_jwt,
        }
    }

    /// A `.creds` text for a new user of the account.
    fn user_creds(&self, name: &str) -> String {
        let user = nkeys::KeyPair::new_user();
        let user_jwt = jwt(
            &self.account,
            &user.public_key(),
            name,
            serde_json::json!({
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2,
            }),
        );
        creds(&user_jwt, &user.seed().unwrap())
    }
}

/// Acceptance 1: natrium as a leaf of an operator-mode nats-server hub logs in with a
/// `.creds` file (user JWT in CONNECT, the hub's nonce signed with the seed); its local
/// account A is bound to the hub's JWT account, and clients on both sides talk both ways.
#[test]
fn natrium_leaf_logs_in_to_an_operator_mode_hub_with_a_creds_file() {
    let op = Operator::new();
    let lp = free_port();
    let h = server(
        &nats(),
        "HUB",
        &format!(
            "operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{}\"\n}}\n\
             leafnodes {{ listen: 127.0.0.1:{lp} }}\n",
            op.jwt,
            op.account.public_key(),
            op.account_jwt
        ),
    );
    let dir = TempDir::new("leaf-creds");
    let leaf_creds = dir.write("leaf.creds", &op.user_creds("leaf"));
    let s = spoke(
        &natrium_bin(),
        "SPOKE",
        &format!(
            "url: \"nats://127.0.0.1:{lp}\", account: A, credentials: \"{}\"",
            leaf_creds.display()
        ),
    );
    wait_leafs(&h, 1, Duration::from_secs(10));
    assert_eq!(
        get_json(h.monitor(), "/leafz")["leafs"][0]["account"],
        op.account.public_key(),
    );
    let client_creds = op.user_creds("cloud");
    rt().block_on(async {
        let cloud = async_nats::ConnectOptions::with_credentials(&client_creds)
            .unwrap()
            .connect(h.url())
            .await
            .unwrap();
        let device = s.client("a").await;
        exchange_between("cloud-device", &cloud, &device, None).await;
        exchange_between("device-cloud", &device, &cloud, None).await;
    });
}

/// Acceptance 3: two servers that are each other's hub form a loop; the one that sees its
/// own `$LDS.` subject come back sends nats-server's loop error and the dialling side waits
/// 30 s before it tries again; a message published meanwhile is delivered once per
/// subscriber, not in a storm.
#[test]
fn leaf_loop_is_detected_and_dialling_backs_off() {
    for (one_bin, two_bin) in [(natrium_bin(), nats()), (natrium_bin(), natrium_bin())] {
        let (p1, p2) = (free_port(), free_port());
        let body = |listen: u16, remote: u16| {
            format!(
                "leafnodes {{\n  listen: 127.0.0.1:{listen}\n  \
                 remotes [ {{ url: \"nats://127.0.0.1:{remote}\" }} ]\n}}\n"
            )
        };
        let one = server(&one_bin, "ONE", &body(p1, p2));
        let two = server(&two_bin, "TWO", &body(p2, p1));
        let needle =
            "Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s";
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(one.proc.log_text().contains(needle) || two.proc.log_text().contains(needle)) {
            assert!(
                Instant::now() < deadline,
                "no loop detected:\n--- ONE\n{}\n--- TWO\n{}",
                one.proc.log_text(),
                two.proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The connections that made the loop are gone; what is left stays put for the 30 s
        // delay (a few seconds checked here).
        std::thread::sleep(Duration::from_millis(500));
        let created = |n: &Node| {
            n.proc
                .log_text()
                .matches("Leafnode connection created")
                .count()
        };
        let before = (created(&one), created(&two));
        let counts = (leaf_count(&one), leaf_count(&two));
        assert!(
            counts.0 <= 1 && counts.1 <= 1,
            "leaf connections {counts:?}"
        );
        rt().block_on(async {
            let c1 = async_nats::connect(one.url()).await.unwrap();
            let c2 = async_nats::connect(two.url()).await.unwrap();
            let mut s1 = c1.subscribe("storm").await.unwrap();
            let mut s2 = c2.subscribe("storm").await.unwrap();
            c1.flush().await.unwrap();
            c2.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            c1.publish("storm", Bytes::from_static(b"x")).await.unwrap();
            c1.flush().await.unwrap();
            assert_eq!(next(&mut s1).await.payload, "x");
            let mut extra = 0;
            let end = Instant::now() + Duration::from_secs(2);
            while Instant::now() < end {
                if let Ok(Some(_)) = timeout(Duration::from_millis(100), s1.next()).await {
                    extra += 1;
                }
                if let Ok(Some(_)) = timeout(Duration::from_millis(100), s2.next()).await {
                    extra += 1;
                }
            }
            assert!(extra <= 1, "{extra} more deliveries of one message");
        });
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            (created(&one), created(&two)),
            before,
            "a dialler tried again within the 30 s delay"
        );
    }
}

/// What a peer on `port` (a leaf listener) gets for `input`: the server's lines other than
/// INFO, LS+ and PING/PONG, and whether it closed the connection.
fn leaf_transcript(port: u16, input: &[u8]) -> (Vec<String>, bool) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut raw = Raw::connect(addr);
    // A server may close before it read everything: that is part of the answer.
    let _ = raw.stream.write_all(input);
    let closed = raw.is_closed(Duration::from_millis(1500));
    let lines = raw
        .buffered()
        .split("\r\n")
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("INFO ")
                && !l.starts_with("LS+ ")
                && *l != "PING"
                && *l != "PONG"
        })
        .map(str::to_string)
        .collect();
    (lines, closed)
}

/// Acceptance 4: bad input on the leaf port gets what nats-server gives (the same `-ERR`,
/// the same close), and a client of the server is not disturbed.
#[test]
fn bad_input_on_the_leaf_port_is_answered_as_nats_server_answers_it() {
    let auth = "authorization { users [ {user: leaf, password: s3cret, account: A} ] }";
    let (np, rp) = (free_port(), free_port());
    let reference = hub(&nats(), "REF", np, auth);
    let ours = hub(&natrium_bin(), "OURS", rp, auth);
    let forger = nkeys::KeyPair::new_user();
    let good = r#"CONNECT {"user":"leaf","pass":"s3cret","name":"X","cluster":"X","headers":true}"#;
    let big_line = format!("LS+ {}\r\n", "a".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"FOO BAR\r\n".to_vec()),
        (
            "client CONNECT",
            br#"CONNECT {"lang":"go","user":"leaf","pass":"s3cret"}"#.to_vec(),
        ),
        (
            "client CONNECT, no credentials",
            br#"CONNECT {"lang":"go"}"#.to_vec(),
        ),
        (
            "wrong password",
            br#"CONNECT {"user":"leaf","pass":"nope"}"#.to_vec(),
        ),
        (
            "forged signature",
            format!(
                r#"CONNECT {{"nkey":"{}","sig":"AAAA"}}"#,
                forger.public_key()
            )
            .into_bytes(),
        ),
        ("LS+ before CONNECT", b"LS+ foo\r\n".to_vec()),
        ("LMSG before CONNECT", b"LMSG foo 2\r\nhi\r\n".to_vec()),
        (
            "oversized line before CONNECT",
            big_line.clone().into_bytes(),
        ),
        ("bad JSON", b"CONNECT {bad\r\n".to_vec()),
        ("INFO first", br#"INFO {"server_id":"x"}"#.to_vec()),
        (
            "oversized line",
            format!("{good}\r\n{big_line}").into_bytes(),
        ),
        (
            "payload over max_payload",
            format!("{good}\r\nLMSG foo 2000000\r\n").into_bytes(),
        ),
        (
            "bad LMSG size",
            format!("{good}\r\nLMSG foo bar\r\n").into_bytes(),
        ),
        (
            "unknown operation",
            format!("{good}\r\nXYZ\r\n").into_bytes(),
        ),
    ];
    rt().block_on(async {
        let bystander = ours.client("a").await;
        let mut watch = bystander.subscribe("still.here").await.unwrap();
        bystander.flush().await.unwrap();
        for (what, input) in &cases {
            let mut input = input.clone();
            if !input.ends_with(b"\r\n") {
                input.extend_from_slice(b"\r\n");
            }
            let want = leaf_transcript(np, &input);
            let got = leaf_transcript(rp, &input);
            assert_eq!(got, want, "{what}: natrium vs nats-server");
            bystander
                .publish("still.here", Bytes::from_static(b"ok"))
                .await
                .unwrap();
            assert_eq!(next(&mut watch).await.payload, "ok", "{what}");
        }
    });
    drop(reference);
}

/// What natrium does not implement on leaf connections yet is refused, at start-up and by
/// `-t`, naming the key, rather than run a link less protected than configured.
#[test]
fn unsupported_leaf_settings_are_refused_by_name() {
    let dir = TempDir::new("leaf-refused");
    let cases = [
        (
            "port: -1, tls { cert_file: a.pem, key_file: a-key.pem, verify_and_map: true }",
            "leafnodes { tls { verify_and_map } }",
        ),
        (
            "remotes [ { url: \"ws://127.0.0.1:7422\", proxy { url: \"http://127.0.0.1:3128\" } } ]",
            "a proxy on leafnode remote",
        ),
        (
            "remotes [ { url: \"nats://127.0.0.1:7422\", hub: true } ]",
            "hub: true on leafnode remote",
        ),
    ];
    for (i, (block, needle)) in cases.iter().enumerate() {
        let conf = dir.write(
            &format!("refused-{i}.conf"),
            &format!("port: -1\nleafnodes {{ {block} }}\n"),
        );
        for check in [false, true] {
            let mut cmd = std::process::Command::new(natrium_bin());
            if check {
                cmd.arg("-t");
            }
            let mut child = cmd
                .args(["-c", conf.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run natrium");
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait for natrium") {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            let code = status.and_then(|s| s.code());
            assert_eq!(code, Some(1), "{block} (-t: {check}): {stderr}");
            assert!(
                stderr.contains(needle) && stderr.contains("is not supported by natrium yet"),
                "{block} (-t: {check}): {stderr}"
            );
        }
    }
}

/// deny_exports stops what the leaf sends, deny_imports (sent to the hub as `deny_pub`,
/// which the hub applies) what the hub sends; JetStream's API subjects do not cross without
/// domains. In every pairing.
#[test]
fn deny_lists_and_jetstream_subjects_stop_at_the_leaf_connection() {
    for (hub_bin, spoke_bin, what) in pairings() {
        let lp = free_port();
        let h = hub(
            &hub_bin,
            "HUB",
            lp,
            "authorization { users [ {user: leaf, password: s3cret, account: A} ] }",
        );
        let s = spoke(
            &spoke_bin,
            "SPOKE",
            &format!(
                "url: \"nats://leaf:s3cret@127.0.0.1:{lp}\", account: A, \
                 deny_exports: [\"secret.>\"], deny_imports: [\"hidden.>\"]"
            ),
        );
        wait_leafs(&h, 1, Duration::from_secs(10));
        wait_leafs(&s, 1, Duration::from_secs(10));
        rt().block_on(async {
            let (cloud, device) = (h.client("a").await, s.client("a").await);
            let mut secret = cloud.subscribe("secret.x").await.unwrap();
            let mut js = cloud.subscribe("$JS.API.INFO").await.unwrap();
            let mut public = cloud.subscribe("public.x").await.unwrap();
            ready(&cloud, &device).await;
            for subject in ["secret.x", "$JS.API.INFO", "public.x"] {
                device.publish(subject, "d".into()).await.unwrap();
            }
            device.flush().await.unwrap();
            assert_eq!(next(&mut public).await.subject.as_str(), "public.x");
            for (subject, sub) in [("secret.x", &mut secret), ("$JS.API.INFO", &mut js)] {
                let got = timeout(Duration::from_millis(300), sub.next()).await;
                assert!(
                    got.is_err(),
                    "{what}: {subject} crossed to the hub: {got:?}"
                );
            }

            let mut hidden = device.subscribe("hidden.x").await.unwrap();
            let mut shown = device.subscribe("public.y").await.unwrap();
            ready(&device, &cloud).await;
            for subject in ["hidden.x", "public.y"] {
                cloud.publish(subject, "c".into()).await.unwrap();
            }
            cloud.flush().await.unwrap();
            assert_eq!(next(&mut shown).await.subject.as_str(), "public.y");
            let got = timeout(Duration::from_millis(300), hidden.next()).await;
            assert!(
                got.is_err(),
                "{what}: hidden.x crossed to the leaf: {got:?}"
            );
        });
    }
}

/// A hub applies the `deny_pub` of a leaf's CONNECT (the leaf's deny_imports): messages on
/// those subjects do not go to the leaf even under a wildcard it subscribed to, and a leaf
/// that subscribes to one literally is told and cut off, as nats-server does
/// (`leafSubPermViolation`). Differential, with a raw leaf.
#[test]
fn a_hub_sends_nothing_a_leaf_denied_itself() {
    let auth = "authorization { users [ {user: leaf, password: s3cret, account: A} ] }";
    for bin in [nats(), natrium_bin()] {
        let who = bin.display().to_string();
        let lp = free_port();
        let h = hub(&bin, "HUB", lp, auth);
        let mut leaf = Raw::connect(std::net::SocketAddr::from(([127, 0, 0, 1], lp)));
        leaf.send_str(
            "CONNECT {\"user\":\"leaf\",\"pass\":\"s3cret\",\"name\":\"RAW\",\"cluster\":\"RAW\",\
             \"headers\":true,\"deny_pub\":[\"hidden.>\"]}\r\n\
             LS+ hidden.*\r\nLS+ public.x\r\nPING\r\n",
        );
        leaf.expect("PONG\r\n");
        rt().block_on(async {
            let cloud = h.client("a").await;
            for subject in ["hidden.x", "public.x"] {
                cloud.publish(subject, "c".into()).await.unwrap();
            }
            cloud.flush().await.unwrap();
        });
        let seen = leaf.expect("LMSG public.x");
        assert!(
            !seen.contains("LMSG hidden.x"),
            "{who}: the hub sent a denied subject: {seen}"
        );
        leaf.send_str("LS+ hidden.x\r\n");
        leaf.expect("-ERR 'Permissions Violation for Subscription to \"hidden.x\"'\r\n");
        assert!(leaf.is_closed(Duration::from_secs(2)), "{who}: still open");
        assert!(
            h.proc.wait_log(
                "Subscription Violation on \"hidden.x\" - Check other side configuration",
                Duration::from_secs(2)
            ),
            "{who}: {}",
            h.proc.log_text()
        );
    }
}
