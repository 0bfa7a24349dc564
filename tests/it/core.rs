//! Core messaging through async-nats, the official Rust client: publish/subscribe,
//! wildcards, queue groups, request/reply, headers, no-responders, auto-unsubscribe, large
//! payloads, many subscriptions, echo off. The server runs with two reactors,
//! and connections are spread over reactors round-robin, so these also cross reactors.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::{rt, sync, Natrium};

const WAIT: Duration = Duration::from_secs(5);

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

#[test]
fn pub_sub_and_wildcards() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let sub_client = async_nats::connect(srv.url()).await.unwrap();
        let pub_client = async_nats::connect(srv.url()).await.unwrap();
        let mut exact = sub_client.subscribe("orders.eu.new").await.unwrap();
        let mut star = sub_client.subscribe("orders.*.new").await.unwrap();
        let mut gt = sub_client.subscribe("orders.>").await.unwrap();
        let mut other = sub_client.subscribe("orders.*").await.unwrap();
        sync(&sub_client).await;

        pub_client
            .publish("orders.eu.new", Bytes::from_static(b"one"))
            .await
            .unwrap();
        pub_client
            .publish("orders.us.new", Bytes::from_static(b"two"))
            .await
            .unwrap();
        pub_client
            .publish("orders.eu.old.x", Bytes::from_static(b"three"))
            .await
            .unwrap();
        pub_client.flush().await.unwrap();

        assert_eq!(next(&mut exact).await.payload, "one");
        assert_eq!(next(&mut star).await.payload, "one");
        assert_eq!(next(&mut star).await.payload, "two");
        let gt_got: Vec<Bytes> = vec![
            next(&mut gt).await.payload,
            next(&mut gt).await.payload,
            next(&mut gt).await.payload,
        ];
        assert_eq!(gt_got, vec!["one", "two", "three"]);
        // `orders.*` matches none of the three (all have more tokens).
        assert!(timeout(Duration::from_millis(200), other.next())
            .await
            .is_err());
    });
}

#[test]
fn ordering_from_one_publisher_is_preserved() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let sub_client = async_nats::connect(srv.url()).await.unwrap();
        let pub_client = async_nats::connect(srv.url()).await.unwrap();
        let mut sub = sub_client.subscribe("seq").await.unwrap();
        sync(&sub_client).await;
        for i in 0..5000u32 {
            pub_client
                .publish("seq", Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        pub_client.flush().await.unwrap();
        for i in 0..5000u32 {
            assert_eq!(next(&mut sub).await.payload, i.to_string());
        }
    });
}

#[test]
fn queue_group_delivers_each_message_once_and_spreads() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let mut members = Vec::new();
        for _ in 0..4 {
            let c = async_nats::connect(srv.url()).await.unwrap();
            let s = c.queue_subscribe("work", "workers".into()).await.unwrap();
            sync(&c).await;
            members.push((c, s));
        }
        let publisher = async_nats::connect(srv.url()).await.unwrap();
        const N: usize = 2000;
        for i in 0..N {
            publisher
                .publish("work", Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        let mut seen = HashMap::new();
        let mut per_member = Vec::new();
        let mut total = 0;
        for (_, s) in members.iter_mut() {
            let mut n = 0;
            while let Ok(Some(m)) = timeout(Duration::from_millis(500), s.next()).await {
                *seen.entry(m.payload.clone()).or_insert(0) += 1;
                n += 1;
                total += 1;
            }
            per_member.push(n);
        }
        assert_eq!(
            total, N,
            "each message delivered exactly once in total: {per_member:?}"
        );
        assert!(seen.values().all(|&c| c == 1));
        // Random spread: every member gets a fair share (expected 500 each).
        assert!(
            per_member.iter().all(|&n| n > 300),
            "uneven spread {per_member:?}"
        );
    });
}

#[test]
fn request_reply_and_no_responders() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let responder = async_nats::connect(srv.url()).await.unwrap();
        let mut svc = responder.subscribe("svc.echo").await.unwrap();
        sync(&responder).await;
        let r2 = responder.clone();
        tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                if let Some(reply) = m.reply {
                    let mut body = b"echo:".to_vec();
                    body.extend_from_slice(&m.payload);
                    r2.publish(reply, body.into()).await.unwrap();
                }
            }
        });
        let requester = async_nats::connect(srv.url()).await.unwrap();
        for i in 0..50 {
            let resp = timeout(
                WAIT,
                requester.request("svc.echo", Bytes::from(format!("{i}"))),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(resp.payload, format!("echo:{i}"));
        }
        let err = timeout(WAIT, requester.request("svc.nobody", Bytes::new()))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    });
}

#[test]
fn headers_round_trip() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let c = async_nats::connect(srv.url()).await.unwrap();
        let mut sub = c.subscribe("h").await.unwrap();
        c.flush().await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("X-Trace", "abc123");
        headers.append("X-Multi", "1");
        headers.append("X-Multi", "2");
        c.publish_with_headers("h", headers, Bytes::from_static(b"body"))
            .await
            .unwrap();
        c.flush().await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.payload, "body");
        let h = m.headers.expect("headers delivered");
        assert_eq!(h.get("X-Trace").map(|v| v.as_str()), Some("abc123"));
        let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, vec!["1", "2"]);
    });
}

#[test]
fn unsubscribe_after_max() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let c = async_nats::connect(srv.url()).await.unwrap();
        let mut sub = c.subscribe("limited").await.unwrap();
        sub.unsubscribe_after(3).await.unwrap();
        sync(&c).await;
        let p = async_nats::connect(srv.url()).await.unwrap();
        for i in 0..10 {
            p.publish("limited", Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        p.flush().await.unwrap();
        let mut got = Vec::new();
        while let Ok(Some(m)) = timeout(Duration::from_millis(500), sub.next()).await {
            got.push(m.payload);
        }
        assert_eq!(got, vec!["0", "1", "2"]);
    });
}

#[test]
fn one_mebibyte_payload() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let c = async_nats::connect(srv.url()).await.unwrap();
        assert_eq!(c.server_info().max_payload, 1024 * 1024);
        let mut sub = c.subscribe("big").await.unwrap();
        sync(&c).await;
        let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let p = async_nats::connect(srv.url()).await.unwrap();
        p.publish("big", payload.clone().into()).await.unwrap();
        p.flush().await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.payload.len(), payload.len());
        assert!(m.payload == payload);
    });
}

#[test]
fn ten_thousand_subscriptions_on_one_connection() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let c = async_nats::connect(srv.url()).await.unwrap();
        let mut subs = Vec::with_capacity(10_000);
        for i in 0..10_000 {
            subs.push(c.subscribe(format!("many.{i}")).await.unwrap());
        }
        sync(&c).await;
        let p = async_nats::connect(srv.url()).await.unwrap();
        for i in (0..10_000).step_by(997) {
            p.publish(format!("many.{i}"), Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        p.flush().await.unwrap();
        for i in (0..10_000).step_by(997) {
            assert_eq!(next(&mut subs[i]).await.payload, i.to_string());
        }
    });
}

#[test]
fn echo_off_suppresses_own_messages() {
    let srv = Natrium::start(&["--reactors", "2"]);
    rt().block_on(async {
        let quiet = async_nats::ConnectOptions::new()
            .no_echo()
            .connect(srv.url())
            .await
            .unwrap();
        let loud = async_nats::connect(srv.url()).await.unwrap();
        let mut quiet_sub = quiet.subscribe("echo").await.unwrap();
        let mut loud_sub = loud.subscribe("echo").await.unwrap();
        sync(&quiet).await;
        sync(&loud).await;
        quiet
            .publish("echo", Bytes::from_static(b"from-quiet"))
            .await
            .unwrap();
        // Make the quiet client's publish happen before the loud one's.
        sync(&quiet).await;
        loud.publish("echo", Bytes::from_static(b"from-loud"))
            .await
            .unwrap();
        loud.flush().await.unwrap();
        // The quiet client sees only the other client's message.
        assert_eq!(next(&mut quiet_sub).await.payload, "from-loud");
        assert!(timeout(Duration::from_millis(200), quiet_sub.next())
            .await
            .is_err());
        // The echoing client sees both, in order.
        assert_eq!(next(&mut loud_sub).await.payload, "from-quiet");
        assert_eq!(next(&mut loud_sub).await.payload, "from-loud");
    });
}

#[test]
fn single_reactor_mode_works() {
    let srv = Natrium::start(&["--reactors", "1"]);
    rt().block_on(async {
        let c = async_nats::connect(srv.url()).await.unwrap();
        let mut sub = c.subscribe("edge.>").await.unwrap();
        sync(&c).await;
        let p = async_nats::connect(srv.url()).await.unwrap();
        p.publish("edge.a", Bytes::from_static(b"x")).await.unwrap();
        p.flush().await.unwrap();
        assert_eq!(next(&mut sub).await.subject.as_str(), "edge.a");
    });
    assert!(srv.log_text().contains("Reactors: 1"));
}
