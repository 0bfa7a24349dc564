//! Consumers, Key-Value and Object Store through async-nats's own APIs on natrium: pull
//! and push consumers with acks, a KV bucket (put, get, update by revision, delete, watch,
//! keys, history), an object store (a multi-chunk object in and out), and a durable
//! consumer's position kept across `kill -9`.

use std::time::Duration;

use futures::StreamExt;

use crate::harness::{natrium_bin, spawn, Proc, TempDir};

fn start(dir: &std::path::Path) -> Proc {
    let d = dir.to_str().expect("utf-8 path");
    spawn(&natrium_bin(), &["-js", "-sd", d])
}

const WAIT: Duration = Duration::from_secs(10);

/// A durable pull consumer: fetched in batches, acknowledged (double acks), and its info
/// as the client reads it; then a push consumer on an inbox gets everything.
#[test]
fn async_nats_pull_and_push_consumers() {
    use async_nats::jetstream::consumer::{self, pull, push, AckPolicy};
    let dir = TempDir::new("js-consumers");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client.clone());
        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "WORK".into(),
                subjects: vec!["work.>".into()],
                ..Default::default()
            })
            .await
            .expect("create");
        for i in 0..10u32 {
            js.publish(format!("work.{i}"), i.to_string().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        let puller: consumer::Consumer<pull::Config> = stream
            .create_consumer(pull::Config {
                durable_name: Some("PULLER".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .expect("pull consumer");
        let mut batch = puller
            .fetch()
            .max_messages(4)
            .messages()
            .await
            .expect("fetch");
        let mut got = Vec::new();
        while let Some(m) = tokio::time::timeout(WAIT, batch.next())
            .await
            .expect("in time")
        {
            let m = m.expect("message");
            let info = m.info().expect("ack subject metadata");
            got.push(info.stream_sequence);
            m.double_ack().await.expect("double ack");
        }
        assert_eq!(got, [1, 2, 3, 4]);
        let mut puller = puller;
        let info = puller.info().await.expect("info");
        assert_eq!(info.delivered.stream_sequence, 4);
        assert_eq!(info.ack_floor.stream_sequence, 4);
        assert_eq!(info.num_ack_pending, 0);
        assert_eq!(info.num_pending, 6);
        // The rest through the client's continuous pull.
        let mut msgs = puller.messages().await.expect("messages");
        for want in 5..=10u64 {
            let m = tokio::time::timeout(WAIT, msgs.next())
                .await
                .expect("in time")
                .expect("some")
                .expect("message");
            assert_eq!(m.info().expect("info").stream_sequence, want);
            m.ack().await.expect("ack");
        }
        drop(msgs);

        let pusher: consumer::Consumer<push::Config> = stream
            .create_consumer(push::Config {
                durable_name: Some("PUSHER".into()),
                deliver_subject: client.new_inbox(),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .expect("push consumer");
        let mut pushed = pusher.messages().await.expect("push messages");
        for want in 1..=10u64 {
            let m = tokio::time::timeout(WAIT, pushed.next())
                .await
                .expect("in time")
                .expect("some")
                .expect("message");
            assert_eq!(m.info().expect("info").stream_sequence, want);
            assert_eq!(m.subject.as_str(), format!("work.{}", want - 1));
            m.ack().await.expect("ack");
        }
    });
}

/// A Key-Value bucket as async-nats uses one.
#[test]
fn async_nats_key_value() {
    let dir = TempDir::new("js-kv");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: "settings".into(),
                history: 5,
                ..Default::default()
            })
            .await
            .expect("bucket");
        let r1 = kv.put("color", "red".into()).await.expect("put");
        assert_eq!(
            kv.get("color").await.expect("get"),
            Some("red".into()),
            "read back"
        );
        let r2 = kv.update("color", "blue".into(), r1).await.expect("update");
        assert!(r2 > r1);
        assert!(
            kv.update("color", "green".into(), r1).await.is_err(),
            "a stale revision is refused"
        );
        assert!(kv.create("color", "x".into()).await.is_err(), "exists");
        kv.create("size", "L".into()).await.expect("create");
        let mut watch = kv.watch("color").await.expect("watch");
        kv.put("color", "violet".into()).await.expect("put");
        let e = tokio::time::timeout(WAIT, watch.next())
            .await
            .expect("in time")
            .expect("some")
            .expect("entry");
        assert_eq!(e.key, "color");
        assert_eq!(e.value, "violet");
        let mut keys: Vec<String> = kv
            .keys()
            .await
            .expect("keys")
            .map(|k| k.expect("key"))
            .collect()
            .await;
        keys.sort();
        assert_eq!(keys, ["color", "size"]);
        let history: Vec<_> = kv
            .history("color")
            .await
            .expect("history")
            .map(|e| e.expect("entry").value)
            .collect()
            .await;
        assert_eq!(history, ["red", "blue", "violet"]);
        kv.delete("size").await.expect("delete");
        assert_eq!(kv.get("size").await.expect("get"), None);
        kv.purge("color").await.expect("purge");
        assert_eq!(kv.get("color").await.expect("get"), None);
        let left: Vec<_> = kv
            .history("color")
            .await
            .expect("history")
            .map(|e| e.expect("entry").operation)
            .collect()
            .await;
        assert_eq!(
            left,
            [async_nats::jetstream::kv::Operation::Purge],
            "a purge leaves only its marker"
        );
    });
}

/// An object larger than one chunk goes in and comes out whole.
#[test]
fn async_nats_object_store() {
    use tokio::io::AsyncReadExt;
    let dir = TempDir::new("js-obj");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let store = js
            .create_object_store(async_nats::jetstream::object_store::Config {
                bucket: "files".into(),
                ..Default::default()
            })
            .await
            .expect("object store");
        // 10 MB: 80 chunks of async-nats's 128 KiB.
        let data: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = data.as_slice();
        let info = store.put("blob.bin", &mut reader).await.expect("put");
        assert_eq!(info.size, data.len());
        let mut obj = store.get("blob.bin").await.expect("get");
        let mut back = Vec::new();
        tokio::time::timeout(WAIT, obj.read_to_end(&mut back))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(back.len(), data.len());
        assert!(back == data, "same bytes");
        let names: Vec<String> = store
            .list()
            .await
            .expect("list")
            .map(|o| o.expect("info").name)
            .collect()
            .await;
        assert_eq!(names, ["blob.bin"]);
    });
}

/// Ordered consumers as async-nats drives them: pull-ordered and push-ordered (flow
/// control and heartbeats on), each reading the whole stream in order; a push consumer with
/// flow control gets a stream larger than its first window.
#[test]
fn async_nats_ordered_consumers_and_flow_control() {
    use async_nats::jetstream::consumer::{pull, push, DeliverPolicy};
    let dir = TempDir::new("js-ordered");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client.clone());
        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "EVENTS".into(),
                subjects: vec!["events.>".into()],
                ..Default::default()
            })
            .await
            .expect("create");
        let big = vec![7u8; 60_000];
        for i in 0..100u32 {
            js.publish(format!("events.{}", i % 3), big.clone().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        let ordered = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .expect("pull ordered");
        let mut msgs = ordered.messages().await.expect("messages");
        for want in 1..=100u64 {
            let m = tokio::time::timeout(WAIT, msgs.next())
                .await
                .expect("in time")
                .expect("some")
                .expect("message");
            assert_eq!(m.info().expect("info").stream_sequence, want);
        }
        drop(msgs);
        let ordered = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: client.new_inbox(),
                filter_subject: "events.1".into(),
                ..Default::default()
            })
            .await
            .expect("push ordered");
        let mut msgs = ordered.messages().await.expect("messages");
        let mut seqs = Vec::new();
        while seqs.len() < 33 {
            let m = tokio::time::timeout(WAIT, msgs.next())
                .await
                .expect("in time")
                .expect("some")
                .expect("message");
            assert_eq!(m.subject.as_str(), "events.1");
            seqs.push(m.info().expect("info").stream_sequence);
        }
        assert_eq!(seqs, (0..33u64).map(|i| 3 * i + 2).collect::<Vec<_>>());
        // 6 MB through a flow-controlled push consumer: past the 2 MiB first window only
        // when the client answers the flow-control requests.
        let fc = stream
            .create_consumer(push::Config {
                durable_name: Some("FC".into()),
                deliver_subject: client.new_inbox(),
                flow_control: true,
                idle_heartbeat: Duration::from_millis(500),
                ..Default::default()
            })
            .await
            .expect("flow-controlled consumer");
        let mut msgs = fc.messages().await.expect("messages");
        for want in 1..=100u64 {
            let m = tokio::time::timeout(WAIT, msgs.next())
                .await
                .expect("in time")
                .expect("some")
                .expect("message");
            assert_eq!(m.info().expect("info").stream_sequence, want);
        }
    });
}

/// A durable consumer's acks and pending deliveries are there after `kill -9`.
#[test]
fn consumer_state_survives_kill_9() {
    use async_nats::jetstream::consumer::{pull, AckPolicy};
    let dir = TempDir::new("js-consumer-kill9");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "Q".into(),
                subjects: vec!["q".into()],
                ..Default::default()
            })
            .await
            .expect("create");
        for i in 0..10u32 {
            js.publish("q", i.to_string().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        let c = stream
            .create_consumer(pull::Config {
                durable_name: Some("D".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .expect("consumer");
        let mut batch = c.fetch().max_messages(5).messages().await.expect("fetch");
        let mut n = 0;
        while let Some(m) = tokio::time::timeout(WAIT, batch.next())
            .await
            .expect("in time")
        {
            n += 1;
            // The first three acknowledged (and confirmed), the last two left pending.
            if n <= 3 {
                m.expect("message").double_ack().await.expect("double ack");
            }
        }
        assert_eq!(n, 5);
    });
    drop(srv); // SIGKILL
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("Q").await.expect("stream");
        let mut c: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("D").await.expect("consumer recovered");
        let info = c.info().await.expect("info");
        assert_eq!(info.delivered.stream_sequence, 5);
        assert_eq!(info.ack_floor.stream_sequence, 3);
        assert_eq!(info.num_ack_pending, 2);
        assert_eq!(info.num_pending, 5);
        let mut batch = c.fetch().max_messages(1).messages().await.expect("fetch");
        let m = tokio::time::timeout(WAIT, batch.next())
            .await
            .expect("in time")
            .expect("some")
            .expect("message");
        assert_eq!(
            m.info().expect("info").stream_sequence,
            6,
            "goes on after 5"
        );
    });
}

/// The `nats` npm package's consumers, KV and object store (`tests/node/jetstream_consumers.mjs`),
/// checked against nats-server first.
#[test]
fn nats_npm_package_consumers_kv_and_object_store() {
    let node = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        node.join("node_modules/nats").exists(),
        "tests/node/node_modules is missing: run `make deps`"
    );
    let run = |srv: &Proc| {
        let out = std::process::Command::new("node")
            .arg("jetstream_consumers.mjs")
            .arg(srv.url())
            .current_dir(&node)
            .output()
            .expect("node");
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let theirs_dir = TempDir::new("js-npm-consumers-nats");
    let d = theirs_dir.path().to_str().expect("utf-8").to_string();
    if let Some(theirs) = crate::harness::NatsServer::start(&["-js", "-sd", &d]) {
        let (out, err) = run(&theirs);
        assert_eq!(out, "ok", "the script against nats-server: {err}");
    }
    let dir = TempDir::new("js-npm-consumers");
    let ours = start(dir.path());
    let (out, err) = run(&ours);
    assert_eq!(out, "ok", "{err}");
}

/// A work-queue stream lets go of what its consumer acknowledged; an interest stream of
/// what every consumer taking it acknowledged (a consumer filtered elsewhere does not hold
/// it).
#[test]
fn work_queue_and_interest_streams_let_acknowledged_messages_go() {
    use async_nats::jetstream::consumer::{pull, AckPolicy};
    use async_nats::jetstream::stream::RetentionPolicy;
    let dir = TempDir::new("js-retention");
    let srv = start(dir.path());
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        for (name, retention) in [
            ("WQ", RetentionPolicy::WorkQueue),
            ("INT", RetentionPolicy::Interest),
        ] {
            let mut stream = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: name.into(),
                    subjects: vec![format!("{name}.>")],
                    retention,
                    ..Default::default()
                })
                .await
                .expect("create");
            let mut consumers = Vec::new();
            let filters: &[&str] = if name == "WQ" {
                &[">"]
            } else {
                &[">", ">", "a"]
            };
            for (i, f) in filters.iter().enumerate() {
                consumers.push(
                    stream
                        .create_consumer(pull::Config {
                            durable_name: Some(format!("C{i}")),
                            ack_policy: AckPolicy::Explicit,
                            filter_subject: format!("{name}.{f}"),
                            ..Default::default()
                        })
                        .await
                        .expect("consumer"),
                );
            }
            for _ in 0..4 {
                js.publish(format!("{name}.b"), "x".into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
            }
            assert_eq!(stream.info().await.expect("info").state.messages, 4);
            // Every consumer taking `.b` acknowledges the first two.
            for c in consumers
                .iter()
                .filter(|c| !c.cached_info().config.filter_subject.ends_with(".a"))
            {
                let mut batch = c.fetch().max_messages(2).messages().await.expect("fetch");
                while let Some(m) = tokio::time::timeout(WAIT, batch.next())
                    .await
                    .expect("in time")
                {
                    m.expect("message").double_ack().await.expect("ack");
                }
            }
            let st = stream.info().await.expect("info").state.clone();
            assert_eq!((st.messages, st.first_sequence), (2, 3), "{name}");
        }
    });
}

/// A consumer's messages show their stored subject wherever the subscriber is: on another
/// reactor of the JetStream server, behind a natrium route and behind a nats-server route
/// (which reads the subject from the ack reply's `@` suffix, as natrium does). A KV watch
/// reads the key from that subject, so it is the check; a push consumer's queue group
/// member on the JetStream server's first reactor is another.
#[test]
fn consumer_messages_keep_their_subject_across_reactors_and_routes() {
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    use crate::cluster::wait_mesh;
    let dir = TempDir::new("js-shown-as");
    let d = dir.path().to_str().expect("utf-8 path");
    let (pa, pb, pc) = (
        crate::harness::free_port(),
        crate::harness::free_port(),
        crate::harness::free_port(),
    );
    let listen = |p: u16| format!("nats://127.0.0.1:{p}");
    let seed = listen(pa);
    let (la, lb, lc) = (listen(pa), listen(pb), listen(pc));
    let common = |cluster: &str, name: &str| -> Vec<String> {
        [
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-m",
            "-1",
            "-n",
            name,
            "--cluster_name",
            "js",
            "--cluster",
            cluster,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // Without a system account on the natrium side: a nats-server without JetStream that
    // learns from a server ping that a peer has it answers its own clients' JetStream
    // requests itself (10039, not enabled for the account) instead of routing them.
    let no_sys = dir.write("no-sys.conf", "no_system_account: true\n");
    let no_sys = no_sys.to_str().expect("utf-8 path").to_string();
    let mut a_args = vec!["-c".to_string(), no_sys.clone()];
    a_args.extend(common(&la, "A"));
    a_args.extend(["-js", "-sd", d, "--reactors", "2"].map(String::from));
    let mut b_args = vec!["-c".to_string(), no_sys];
    b_args.extend(common(&lb, "B"));
    b_args.extend(["--routes".to_string(), seed.clone()]);
    let mut c_args = common(&lc, "C");
    c_args.extend(["--routes".to_string(), seed]);
    let a = crate::cluster::Node::new(
        spawn(&natrium_bin(), &refs(&a_args)),
        "A",
        TempDir::new("js-shown-as-a"),
    );
    let b = crate::cluster::Node::new(
        spawn(&natrium_bin(), &refs(&b_args)),
        "B",
        TempDir::new("js-shown-as-b"),
    );
    let c = crate::harness::nats_server_bin().map(|bin| {
        crate::cluster::Node::new(
            spawn(&bin, &refs(&c_args)),
            "C",
            TempDir::new("js-shown-as-c"),
        )
    });
    let mut nodes = vec![&a, &b];
    nodes.extend(c.as_ref());
    wait_mesh(&nodes, nodes.len() as u64 - 1);
    crate::harness::rt().block_on(async {
        // Connections to A alternate between its two reactors.
        let mut clients = Vec::new();
        for node in [&a, &a, &b].into_iter().chain(c.as_ref()) {
            clients.push(async_nats::connect(node.url()).await.expect("connect"));
        }
        let js = async_nats::jetstream::new(clients[0].clone());
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: "where".into(),
                ..Default::default()
            })
            .await
            .expect("bucket");
        let mut watches = Vec::new();
        for client in &clients {
            let kv = async_nats::jetstream::new(client.clone())
                .get_key_value("where")
                .await
                .expect("bucket from every server");
            watches.push(kv.watch("color").await.expect("watch"));
        }
        kv.put("color", "teal".into()).await.expect("put");
        for (i, watch) in watches.iter_mut().enumerate() {
            let e = tokio::time::timeout(WAIT, watch.next())
                .await
                .unwrap_or_else(|_| panic!("watcher {i} in time"))
                .expect("some")
                .unwrap_or_else(|e| panic!("watcher {i}: {e}"));
            assert_eq!(
                (e.key.as_str(), &e.value[..]),
                ("color", &b"teal"[..]),
                "watcher {i}"
            );
        }

        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        let mut member = clients[0]
            .queue_subscribe("deliver.orders", "workers".into())
            .await
            .expect("queue subscribe");
        clients[0].flush().await.expect("flush");
        stream
            .create_consumer(async_nats::jetstream::consumer::push::Config {
                durable_name: Some("WORKERS".into()),
                deliver_subject: "deliver.orders".into(),
                deliver_group: Some("workers".into()),
                ..Default::default()
            })
            .await
            .expect("push consumer");
        js.publish("orders.new", "1".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        let m = tokio::time::timeout(WAIT, member.next())
            .await
            .expect("delivered in time")
            .expect("some");
        assert_eq!(m.subject.as_str(), "orders.new");
        let reply = m.reply.expect("ack reply");
        assert!(
            reply.starts_with("$JS.ACK.ORDERS.WORKERS.") && !reply.contains('@'),
            "{reply}"
        );
    });
}
