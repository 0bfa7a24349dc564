//! Clustering (issue 16): natrium and nats-server in one cluster, routes formed by gossip,
//! messages between real clients on different servers, client failover, and bad input on the
//! cluster port compared with nats-server's answers.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::{free_port, natrium_bin, nats_server_bin, rt, spawn, Proc, TempDir};
use crate::monitor::get_json;

const WAIT: Duration = Duration::from_secs(5);

/// One server of a test cluster.
pub struct Node {
    pub proc: Proc,
    pub name: String,
    _dir: TempDir,
}

impl Node {
    /// A server started from a configuration in `dir`, which lives as long as it.
    pub fn new(proc: Proc, name: &str, dir: TempDir) -> Node {
        Node {
            proc,
            name: name.to_string(),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        self.proc.url()
    }

    /// Where its configuration file is (to rewrite it before a reload).
    pub fn dir(&self) -> &TempDir {
        &self._dir
    }

    /// An async-nats client of user `user` (password = user name).
    pub async fn client(&self, user: &str) -> async_nats::Client {
        async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
            .connect(self.url())
            .await
            .unwrap()
    }

    pub fn monitor(&self) -> u16 {
        self.proc.monitor_port.expect("monitor port")
    }

    /// The distinct servers this one has routes to (nats-server counts each pooled
    /// connection in `num_routes`: 4 per peer by default).
    pub fn peers(&self) -> Vec<String> {
        let routez = get_json(self.monitor(), "/routez");
        let mut names: Vec<String> = routez["routes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| r["remote_name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    }
}

/// Starts `bin` as cluster member `name` on `cluster_port`, with routes to `seeds` (cluster
/// ports), accounts A (user a) and B (user b), and `extra` inside the `cluster {}` block.
pub fn node(bin: &Path, name: &str, cluster_port: u16, seeds: &[u16], extra: &str) -> Node {
    node_with(
        bin,
        name,
        cluster_port,
        Spec {
            seeds,
            extra,
            ..Spec::default()
        },
    )
}

/// More about a test node than [`node`] takes.
#[derive(Default)]
pub struct Spec<'a> {
    /// A fixed client port (to restart it at the same URL); else a random one.
    pub client_port: Option<u16>,
    pub seeds: &'a [u16],
    /// Inside the `cluster {}` block.
    pub extra: &'a str,
    /// At the top level of the configuration.
    pub top: &'a str,
    /// Command-line arguments after `-c`.
    pub args: &'a [&'a str],
}

/// Starts cluster member `name` on `cluster_port` as `spec` says.
pub fn node_with(bin: &Path, name: &str, cluster_port: u16, spec: Spec<'_>) -> Node {
    let Spec {
        client_port,
        seeds,
        extra,
        top,
        args,
    } = spec;
    let dir = TempDir::new(&format!("cluster-{name}"));
    let port = client_port.map_or("-1".to_string(), |p| p.to_string());
    let routes: Vec<String> = seeds
        .iter()
        .map(|p| format!("nats-route://127.0.0.1:{p}"))
        .collect();
    let conf = format!(
        "host: 127.0.0.1\nport: {port}\nhttp: 127.0.0.1:-1\nserver_name: {name}\n{top}\n\
         accounts {{\n  A {{ users [ {{user: a, password: a}} ] }}\n  B {{ users [ {{user: b, password: b}} ] }}\n}}\n\
         cluster {{\n  name: mixed\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n  {extra}\n}}\n",
        routes.join(", ")
    );
    let path = dir.write("node.conf", &conf);
    let mut all = vec!["-c", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let proc = spawn(bin, &all);
    // nats-server opens its route listener after it says it is ready.
    assert!(
        proc.wait_log("Listening for route connections", Duration::from_secs(10)),
        "{}",
        proc.log_text()
    );
    Node {
        proc,
        name: name.to_string(),
        _dir: dir,
    }
}

/// Waits until every node has `n` routes.
pub fn wait_mesh(nodes: &[&Node], n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counts: Vec<u64> = nodes.iter().map(|n| n.peers().len() as u64).collect();
        if counts.iter().all(|&c| c == n) {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("--- {}:\n{}", n.name, n.proc.log_text()))
                .collect();
            panic!("no full mesh: routes {counts:?}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

/// Waits until what `sub_client` subscribed so far is known where `pub_client` is connected:
/// a probe subscribed after it is seen there (interest crosses a route in order).
pub async fn ready(sub_client: &async_nats::Client, pub_client: &async_nats::Client) {
    let subject = format!("probe.{}", fastrand::u64(..));
    let mut probe = sub_client.subscribe(subject.clone()).await.unwrap();
    sub_client.flush().await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        pub_client
            .publish(subject.clone(), Bytes::from_static(b"p"))
            .await
            .unwrap();
        pub_client.flush().await.unwrap();
        if timeout(Duration::from_millis(100), probe.next())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "interest never crossed the route"
        );
    }
    probe.unsubscribe().await.unwrap();
}

/// Pub/sub with wildcards and headers, request/reply and no-responders from a client on
/// `from` to one on `to`, in account A, and account B on the same subjects sees none of it.
pub async fn exchange(from: &Node, to: &Node) {
    let tag = format!("{}-{}", from.name, to.name);
    let other = to.client("b").await;
    let b_side = other.subscribe(format!("x.{tag}.>")).await.unwrap();
    let pub_b = from.client("b").await;
    ready(&other, &pub_b).await;
    exchange_between(
        &tag,
        &from.client("a").await,
        &to.client("a").await,
        Some(b_side),
    )
    .await;
}

/// [`exchange`]'s traffic from `pub_c` to `sub_c` on subjects named after `tag`;
/// `isolated`, subscribed to the same subjects in another account, must get none of it.
pub async fn exchange_between(
    tag: &str,
    pub_c: &async_nats::Client,
    sub_c: &async_nats::Client,
    isolated: Option<async_nats::Subscriber>,
) {
    let mut exact = sub_c.subscribe(format!("x.{tag}.one")).await.unwrap();
    let mut star = sub_c.subscribe(format!("x.{tag}.*")).await.unwrap();
    let mut gt = sub_c.subscribe(format!("x.{tag}.>")).await.unwrap();
    let mut svc = sub_c.subscribe(format!("svc.{tag}")).await.unwrap();
    ready(sub_c, pub_c).await;

    pub_c
        .publish(format!("x.{tag}.one"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "abc");
    pub_c
        .publish_with_headers(
            format!("x.{tag}.two.deep"),
            headers,
            Bytes::from_static(b"2"),
        )
        .await
        .unwrap();
    pub_c.flush().await.unwrap();
    assert_eq!(next(&mut exact).await.payload, "1", "{tag}");
    assert_eq!(next(&mut star).await.payload, "1", "{tag}");
    assert_eq!(next(&mut gt).await.payload, "1", "{tag}");
    let deep = next(&mut gt).await;
    assert_eq!(deep.payload, "2", "{tag}");
    assert_eq!(
        deep.headers
            .as_ref()
            .and_then(|h| h.get("X-Trace"))
            .map(|v| v.as_str()),
        Some("abc"),
        "{tag}: headers cross the route"
    );

    let responder = tokio::spawn(async move {
        let req = next(&mut svc).await;
        let reply = req.reply.expect("reply subject");
        (req.payload, reply)
    });
    let answer = {
        let pub_c = pub_c.clone();
        let tag = tag.to_string();
        tokio::spawn(async move {
            pub_c
                .request(format!("svc.{tag}"), Bytes::from_static(b"q"))
                .await
        })
    };
    let (payload, reply) = responder.await.unwrap();
    assert_eq!(payload, "q");
    sub_c
        .publish(reply, Bytes::from_static(b"answer"))
        .await
        .unwrap();
    sub_c.flush().await.unwrap();
    let got = timeout(WAIT, answer).await.unwrap().unwrap().unwrap();
    assert_eq!(got.payload, "answer", "{tag}: request/reply across servers");

    let err = timeout(WAIT, pub_c.request(format!("nobody.{tag}"), Bytes::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{tag}"
    );

    // Account B subscribed to the same subjects and got nothing.
    if let Some(mut b_side) = isolated {
        assert!(
            timeout(Duration::from_millis(200), b_side.next())
                .await
                .is_err(),
            "{tag}: account B must not see account A's messages"
        );
    }
}

/// A queue group with one member on each server; `count` messages published on `from` are
/// each delivered exactly once, and every member takes part.
async fn queue_group(nodes: &[&Node], from: usize, count: usize) {
    let subject = format!("work.{}", fastrand::u64(..));
    let publisher = nodes[from].client("a").await;
    let mut members = Vec::new();
    for n in nodes {
        let c = n.client("a").await;
        let sub = c
            .queue_subscribe(subject.clone(), "workers".into())
            .await
            .unwrap();
        ready(&c, &publisher).await;
        members.push((c, sub));
    }
    for i in 0..count {
        publisher
            .publish(subject.clone(), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    let mut seen = HashSet::new();
    let mut per_member = vec![0usize; members.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < count && Instant::now() < deadline {
        for (i, (_, sub)) in members.iter_mut().enumerate() {
            while let Ok(Some(m)) = timeout(Duration::from_millis(20), sub.next()).await {
                let n: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                assert!(seen.insert(n), "message {n} delivered twice");
                per_member[i] += 1;
            }
        }
    }
    // Nothing more comes: every message once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (_, sub) in members.iter_mut() {
        assert!(
            timeout(Duration::from_millis(50), sub.next())
                .await
                .is_err(),
            "extra delivery"
        );
    }
    assert_eq!(seen.len(), count, "delivered {per_member:?}");
    assert!(
        per_member.iter().all(|&n| n > count / 10),
        "every server's member takes part: {per_member:?}"
    );
}

/// Acceptance 1: natrium, nats-server and natrium, each given only the middle one as a seed,
/// become a full mesh by gossip, and real clients on any two of them talk both ways.
#[test]
fn mixed_cluster_full_mesh_and_traffic_between_every_pair() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let middle = node(&nats, "middle", p2, &[p2], "");
    let first = node(&natrium_bin(), "first", p1, &[p2], "");
    let third = node(&natrium_bin(), "third", p3, &[p2], "");
    let nodes = [&first, &middle, &third];
    wait_mesh(&nodes, 2);
    for n in &nodes {
        let names = n.peers();
        let mut want: Vec<String> = nodes
            .iter()
            .filter(|m| m.name != n.name)
            .map(|m| m.name.clone())
            .collect();
        want.sort();
        assert_eq!(names, want, "{}'s routes", n.name);
    }
    rt().block_on(async {
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    exchange(nodes[a], nodes[b]).await;
                }
            }
        }
        queue_group(&nodes, 0, 10_000).await;
        queue_group(&nodes, 1, 10_000).await;
    });
    node_client_between(&first, &middle);
    node_client_between(&middle, &third);
}

/// Routes on servers with several reactors: route connections, clients and their interest
/// spread over reactors, so messages and queue picks cross reactors on both sides.
#[test]
fn routes_between_servers_with_several_reactors() {
    let (p1, p2) = (free_port(), free_port());
    let args = ["--reactors", "3"];
    let spec = |seeds| Spec {
        seeds,
        args: &args,
        ..Spec::default()
    };
    let (s1, s2) = ([p2], [p1]);
    let one = node_with(&natrium_bin(), "one", p1, spec(&s1));
    let two = node_with(&natrium_bin(), "two", p2, spec(&s2));
    let nodes = [&one, &two];
    wait_mesh(&nodes, 1);
    rt().block_on(async {
        exchange(&one, &two).await;
        exchange(&two, &one).await;
        queue_group(&[&one, &two, &one, &two], 0, 4_000).await;
        queue_group(&[&one, &two, &two], 1, 4_000).await;
    });
}

/// The `nats` npm package: a subscriber on one server, a publisher and a requester on
/// another (tests/node/cluster_check.mjs).
fn node_client_between(sub_on: &Node, pub_on: &Node) {
    let out = std::process::Command::new("node")
        .arg("cluster_check.mjs")
        .args([&sub_on.url(), &pub_on.url(), "a", "a"])
        .current_dir(crate::harness::root().join("tests/node"))
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "nats.js between {} and {}: {}{}",
        sub_on.name,
        pub_on.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// What a fake peer on the cluster port gets for `input`: the server's lines other than
/// INFO, RS+ and PING (which differ between servers and are not the point), and whether it
/// closed the connection.
fn route_transcript(port: u16, input: &str, handshake: bool) -> (String, bool) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut raw = crate::harness::Raw::connect(addr);
    if handshake {
        raw.send_str(&format!(
            "{}\r\n{}\r\nPING\r\n",
            fake_connect("mixed"),
            fake_info("mixed")
        ));
        raw.expect("PONG\r\n");
    }
    raw.send_str(input);
    let closed = raw.is_closed(Duration::from_millis(1500));
    let text: String = raw
        .buffered()
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("INFO ") && !l.starts_with("RS+ ") && !l.starts_with("PING"))
        .collect();
    (text, closed)
}

const FAKE_ID: &str = "NFAKEPEERAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn fake_connect(cluster: &str) -> String {
    format!(
        "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"{FAKE_ID}\",\"cluster\":\"{cluster}\",\"lnoc\":true}}"
    )
}

fn fake_info(cluster: &str) -> String {
    format!(
        "INFO {{\"server_id\":\"{FAKE_ID}\",\"server_name\":\"fake\",\"version\":\"2.15.1\",\"proto\":3,\"go\":\"go1.27\",\"host\":\"127.0.0.1\",\"port\":1,\"headers\":true,\"max_payload\":1048576,\"cluster\":\"{cluster}\",\"lnoc\":true,\"lnocu\":true}}"
    )
}

/// Acceptance 4: bad input on the cluster port gets what nats-server gives (the same `-ERR`,
/// close or not), and a client of that server sees no effect.
#[test]
fn bad_route_input_is_answered_like_nats_server() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let auth = "authorization { user: ruser, password: rpass }";
    let big = "x".repeat(1024 * 1024 + 10);
    let cases: Vec<(&str, String, bool, &str)> = vec![
        ("garbage", "GARBAGE LINE\r\n".into(), false, ""),
        (
            "client connect",
            "CONNECT {\"lang\":\"go\",\"version\":\"1.0\",\"verbose\":false}\r\nPING\r\n".into(),
            false,
            "",
        ),
        (
            "wrong cluster name",
            format!("{}\r\n", fake_connect("other")),
            false,
            "",
        ),
        ("unknown verb after handshake", "FOO\r\n".into(), true, ""),
        ("malformed RS+", "RS+ $G\r\n".into(), true, ""),
        (
            "RS+ with a bad subject",
            "RS+ $G foo..bar\r\nPING\r\n".into(),
            true,
            "",
        ),
        (
            "malformed RMSG",
            "RMSG $G foo x y 2\r\nhi\r\n".into(),
            true,
            "",
        ),
        (
            "RMSG payload too short",
            "RMSG $G foo 5\r\nhi\r\nPING\r\n".into(),
            true,
            "",
        ),
        (
            "RMSG above max_payload",
            format!("RMSG $G foo {}\r\n{big}\r\nPING\r\n", big.len()),
            true,
            "",
        ),
        (
            "control line too long",
            format!("RS+ $G {}\r\n", "a".repeat(70_000)),
            true,
            "",
        ),
        (
            "wrong credentials",
            format!("{}\r\n", fake_connect("mixed")),
            false,
            auth,
        ),
    ];
    let mut mismatches = Vec::new();
    for (name, input, handshake, extra) in &cases {
        let run = |bin: &Path| {
            let port = free_port();
            let n = node(bin, "bad", port, &[], extra);
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                "{} is not listening on its cluster port {port}: {}",
                bin.display(),
                n.proc.log_text()
            );
            let mut client = crate::harness::Raw::connect(n.proc.addr());
            client.handshake(r#"{"verbose":false,"user":"a","pass":"a"}"#);
            let got = route_transcript(port, input, *handshake);
            client.send_str("PING\r\n");
            let alive = client.read_line(Duration::from_secs(2)).as_deref() == Some("PONG");
            (got, alive)
        };
        let theirs = run(&nats);
        let ours = run(&natrium_bin());
        assert!(theirs.1 && ours.1, "{name}: the client must be unaffected");
        if theirs.0 != ours.0 {
            mismatches.push(format!(
                "{name}: nats-server {:?}, natrium {:?}",
                theirs.0, ours.0
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Waits until `pred` holds for the client's latest INFO.
async fn until_info(
    c: &async_nats::Client,
    what: &str,
    pred: impl Fn(&async_nats::ServerInfo) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !pred(&c.server_info()) {
        assert!(
            Instant::now() < deadline,
            "{what}: last INFO {:?}",
            c.server_info()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads a raw protocol-1 client's lines until an INFO whose `connect_urls` satisfy `pred`.
fn until_async_info(raw: &mut crate::harness::Raw, what: &str, pred: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(line) = raw.read_line(Duration::from_millis(200)) else {
            continue;
        };
        if line == "PING" {
            raw.send_str("PONG\r\n");
            continue;
        }
        let Some(json) = line.strip_prefix("INFO ") else {
            continue;
        };
        let info: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        let urls: Vec<String> = info["connect_urls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if pred(&urls) {
            return;
        }
        seen.push(urls);
    }
    panic!("{what}: INFOs seen {seen:?}");
}

/// Requests `subject` until one is answered (a responder that just reconnected may not
/// have its subscription back yet); how long that took.
async fn answered(c: &async_nats::Client, subject: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(Ok(m)) = timeout(
            Duration::from_millis(500),
            c.request(subject.to_string(), Bytes::from_static(b"?")),
        )
        .await
        {
            assert_eq!(m.payload, "here");
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no answer on {subject} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A responder on `subject` through `c`, answering "here".
fn respond(c: async_nats::Client, mut sub: async_nats::Subscriber) {
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            if let Some(reply) = m.reply {
                let _ = c.publish(reply, Bytes::from_static(b"here")).await;
            }
        }
    });
}

/// Acceptance 2: a client given one URL learns the others from INFO; when that server is
/// killed (SIGKILL) it reconnects to another and its subscription and requests work again;
/// the server comes back, rejoins and is gossiped to clients again; in lame duck mode the
/// clients move before the server exits.
#[test]
fn clients_fail_over_and_the_cluster_heals() {
    let bin = natrium_bin();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let ldm = "lame_duck_duration: 30s\nlame_duck_grace_period: 1s";
    let start = |i: usize| {
        let seeds: Vec<u16> = ports.iter().copied().filter(|&p| p != ports[i]).collect();
        node_with(
            &bin,
            &format!("n{i}"),
            ports[i],
            Spec {
                client_port: Some(client_ports[i]),
                seeds: &seeds,
                top: ldm,
                ..Spec::default()
            },
        )
    };
    let mut nodes: Vec<Option<Node>> = (0..3).map(|i| Some(start(i))).collect();
    wait_mesh(&nodes.iter().flatten().collect::<Vec<_>>(), 2);
    let url = |i: usize| format!("nats://127.0.0.1:{}", client_ports[i]);
    rt().block_on(async {
        let connect = |i: usize| {
            async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
                .retry_on_initial_connect()
                .connect(url(i))
        };
        let responder = connect(0).await.unwrap();
        let requester = connect(1).await.unwrap();
        // The first INFO already names the other two servers.
        until_info(&responder, "connect_urls on first connect", |i| {
            i.connect_urls.len() == 3
        })
        .await;
        let sub = responder.subscribe("svc.failover").await.unwrap();
        respond(responder.clone(), sub);
        answered(&requester, "svc.failover", WAIT).await;
        let mut watcher = crate::harness::Raw::connect(nodes[2].as_ref().unwrap().proc.addr());
        watcher.handshake(r#"{"verbose":false,"protocol":1,"user":"a","pass":"a"}"#);
        let n0_port = format!(":{}", client_ports[0]);

        // SIGKILL the responder's server: it moves to another one and answers again.
        let first_id = responder.server_info().server_id;
        drop(nodes[0].take());
        let took = answered(&requester, "svc.failover", Duration::from_secs(15)).await;
        assert_ne!(
            responder.server_info().server_id,
            first_id,
            "responder moved"
        );
        assert!(took < Duration::from_secs(10), "failover took {took:?}");

        // Clients of the others hear that it left (an async INFO, as nats-server sends it
        // to clients of protocol 1), then that it is back once it rejoined the mesh.
        until_async_info(&mut watcher, "n0 gone from connect_urls", |urls| {
            !urls.iter().any(|u| u.ends_with(&n0_port))
        });
        nodes[0] = Some(start(0));
        wait_mesh(&nodes.iter().flatten().collect::<Vec<_>>(), 2);
        until_async_info(&mut watcher, "n0 gossiped again", |urls| {
            urls.len() == 3 && urls.iter().any(|u| u.ends_with(&n0_port))
        });

        // Lame duck on the requester's server: the client is moved off it while it still runs.
        let n1 = nodes[1].as_ref().unwrap();
        let before = requester.server_info().server_id;
        n1.proc.signal("USR2");
        until_info(&requester, "moved off the lame duck server", |i| {
            i.server_id != before
        })
        .await;
        assert!(
            nodes[1]
                .as_mut()
                .unwrap()
                .proc
                .wait_exit(Duration::ZERO)
                .is_none(),
            "the client moved before the server exited"
        );
        answered(&requester, "svc.failover", Duration::from_secs(15)).await;
        assert_eq!(
            nodes[1]
                .as_mut()
                .unwrap()
                .proc
                .wait_exit(Duration::from_secs(15)),
            Some(0),
            "lame duck ends in a clean exit"
        );
    });
}

/// Route permissions as nats-server applies them: `import` limits the interest this server
/// asks its peers for, `export` the interest it accepts from them. The same scenario with
/// nats-server in the restricted server's place gives the same deliveries.
#[test]
fn route_permissions_limit_interest_like_nats_server() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let perms = "permissions { import: { allow: [\"in.>\", \"probe.>\"] }, export: { deny: [\"secret.>\"] } }";
    for restricted in [natrium_bin(), nats.clone()] {
        let (p1, p2) = (free_port(), free_port());
        let (s1, s2) = ([p2], [p1]);
        let a = node_with(
            &restricted,
            "restricted",
            p1,
            Spec {
                seeds: &s1,
                extra: perms,
                ..Spec::default()
            },
        );
        let b = node(&natrium_bin(), "open", p2, &s2, "");
        wait_mesh(&[&a, &b], 1);
        let got = rt().block_on(async {
            let on_a = a.client("a").await;
            let on_b = b.client("a").await;
            // Interest on B for a subject A does not export: A never sends it there.
            let mut secret = on_b.subscribe("secret.x").await.unwrap();
            let mut open = on_b.subscribe("open.x").await.unwrap();
            ready(&on_b, &on_a).await;
            // Interest on A outside its import list: B is never asked for it.
            let mut other = on_a.subscribe("other.x").await.unwrap();
            let mut inside = on_a.subscribe("in.x").await.unwrap();
            ready(&on_a, &on_b).await;
            for s in ["secret.x", "open.x"] {
                on_a.publish(s, Bytes::from_static(b"m")).await.unwrap();
            }
            for s in ["other.x", "in.x"] {
                on_b.publish(s, Bytes::from_static(b"m")).await.unwrap();
            }
            on_a.flush().await.unwrap();
            on_b.flush().await.unwrap();
            let mut got = Vec::new();
            for (name, sub) in [
                ("secret", &mut secret),
                ("open", &mut open),
                ("other", &mut other),
                ("in", &mut inside),
            ] {
                if timeout(Duration::from_millis(500), sub.next())
                    .await
                    .is_ok()
                {
                    got.push(name);
                }
            }
            got
        });
        assert_eq!(got, ["open", "in"], "{}", restricted.display());
    }
}

/// `cluster { tls }` in a mixed cluster: natrium, nats-server and natrium with certificates
/// from one CA form a full mesh over TLS (the first route by host name, the rest learnt by
/// gossip as IP addresses) and carry traffic both ways; a server whose certificate another
/// CA signed gets no route (both sides verify, as nats-server forces it).
#[test]
fn routes_run_tls_in_a_mixed_cluster() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let certs = crate::tls::Certs::new("routes");
    let tls = |cert: &str| {
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", timeout: 2 }}",
            certs.path(&format!("{cert}.pem")),
            certs.path(&format!("{cert}-key.pem")),
            certs.path("ca.pem"),
        )
    };
    let ours = tls("server");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let middle = node(&nats, "middle", p2, &[], &ours);
    let by_name = format!("routes: [\"nats-route://localhost:{p2}\"]\n  {ours}");
    let first = node(&natrium_bin(), "first", p1, &[], &by_name);
    let third = node(&natrium_bin(), "third", p3, &[p2], &ours);
    let nodes = [&first, &middle, &third];
    wait_mesh(&nodes, 2);
    rt().block_on(async {
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    exchange(nodes[a], nodes[b]).await;
                }
            }
        }
    });
    for n in &nodes {
        let cluster = &get_json(n.monitor(), "/varz")["cluster"];
        assert_eq!(cluster["tls_required"], true, "{}: {cluster}", n.name);
        assert_eq!(cluster["tls_verify"], true, "{}: {cluster}", n.name);
    }

    // A stranger's certificate: refused by natrium and by nats-server.
    for seed in [p1, p2] {
        let p4 = free_port();
        let stranger = node(&natrium_bin(), "stranger", p4, &[seed], &tls("stranger"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let seed_node = if seed == p1 { &first } else { &middle };
        while !seed_node
            .proc
            .log_text()
            .contains("TLS route handshake error")
        {
            assert!(
                Instant::now() < deadline,
                "{} logged no TLS error for the stranger:\n{}\n--- stranger:\n{}",
                seed_node.name,
                seed_node.proc.log_text(),
                stranger.proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(stranger.peers().is_empty(), "{:?}", stranger.peers());
        assert_eq!(seed_node.peers().len(), 2, "{}", seed_node.name);
    }
}

/// SIGHUP with a changed `routes` list: a removed route is closed and not dialled again, an
/// added one is dialled (nats-server's reload of `cluster { routes }`).
#[test]
fn reloading_routes_closes_removed_and_dials_added() {
    let (pa, pb) = (free_port(), free_port());
    let b = node(&natrium_bin(), "b", pb, &[], "");
    let dir = TempDir::new("reload-routes");
    let conf = |routes: &str| {
        format!(
            "host: 127.0.0.1\nport: -1\nhttp: 127.0.0.1:-1\nserver_name: a\n\
             cluster {{ name: mixed, listen: 127.0.0.1:{pa}, routes: [{routes}] }}\n"
        )
    };
    let path = dir.write("a.conf", &conf(&format!("nats-route://127.0.0.1:{pb}")));
    let a = spawn(&natrium_bin(), &["-c", path.to_str().unwrap()]);
    let peers = |port: u16| {
        get_json(port, "/routez")["num_routes"]
            .as_u64()
            .unwrap_or(99)
    };
    let until = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (ma, mb) = (a.monitor_port.unwrap(), b.monitor());
    until("connected", &|| peers(ma) == 1 && peers(mb) == 1);
    dir.write("a.conf", &conf(""));
    a.signal("HUP");
    until("removed route closed", &|| peers(ma) == 0 && peers(mb) == 0);
    assert!(
        a.wait_log("Route Removed", Duration::from_secs(5)),
        "{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!((peers(ma), peers(mb)), (0, 0), "not dialled again");
    dir.write("a.conf", &conf(&format!("nats-route://127.0.0.1:{pb}")));
    a.signal("HUP");
    until("added route dialled", &|| peers(ma) == 1 && peers(mb) == 1);
}
