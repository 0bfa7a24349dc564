//! Several reactors: connections are handed to reactors round-robin in accept order
//! (connection k of a fresh server goes to reactor k mod N), which the tests use to place
//! publishers and subscribers on chosen reactors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::{rt, sync, Natrium, Raw};

/// Connects `n` raw clients in order, so client i lands on reactor i mod N.
fn clients(addr: std::net::SocketAddr, n: usize) -> Vec<Raw> {
    (0..n)
        .map(|_| {
            let mut c = Raw::connect(addr);
            c.handshake(r#"{"verbose":false,"pedantic":false}"#);
            c
        })
        .collect()
}

#[test]
fn plain_subscribers_on_every_reactor_get_each_message_once() {
    let srv = Natrium::start(&["--reactors", "4"]);
    let mut c = clients(srv.addr(), 8);
    // Subscribers on reactors 0..3 with overlapping patterns, publisher on reactor 0 and 3.
    for (i, sub) in c.iter_mut().take(4).enumerate() {
        sub.send_str(&format!("SUB x.* {i}\r\nSUB x.> {}\r\nPING\r\n", i + 10));
        sub.expect("PONG\r\n");
    }
    for p in [4usize, 7] {
        c[p].send_str(&format!("PUB x.y 1\r\n{p}\r\nPING\r\n"));
        c[p].expect("PONG\r\n");
    }
    for (i, sub) in c.iter_mut().take(4).enumerate() {
        sub.send_str("PING\r\n");
        let got = sub.expect("PONG\r\n");
        // Each of the client's two subscriptions gets each message exactly once; per
        // subscription the two publishers' messages are whole frames.
        let mut frames: Vec<String> = got
            .split("MSG ")
            .filter(|f| !f.is_empty() && *f != "PONG\r\n")
            .map(|f| f.trim_end_matches("PONG\r\n").to_string())
            .collect();
        frames.sort();
        let mut want = vec![
            format!("x.y {i} 1\r\n4\r\n"),
            format!("x.y {i} 1\r\n7\r\n"),
            format!("x.y {} 1\r\n4\r\n", i + 10),
            format!("x.y {} 1\r\n7\r\n", i + 10),
        ];
        want.sort();
        assert_eq!(frames, want, "subscriber {i}: {got:?}");
    }
}

#[test]
fn queue_group_across_reactors_delivers_once_and_spreads() {
    let srv = Natrium::start(&["--reactors", "3"]);
    let mut c = clients(srv.addr(), 7);
    // Members: clients 0..6 except the publisher (client 6 → reactor 0); two groups.
    for (i, m) in c.iter_mut().take(6).enumerate() {
        m.send_str(&format!(
            "SUB jobs workers {i}\r\nSUB jobs auditors {}\r\nPING\r\n",
            100 + i
        ));
        m.expect("PONG\r\n");
    }
    const N: usize = 3000;
    let mut batch = String::new();
    for k in 0..N {
        batch.push_str(&format!("PUB jobs {}\r\n{k}\r\n", k.to_string().len()));
    }
    c[6].send_str(&batch);
    c[6].send_str("PING\r\n");
    c[6].expect("PONG\r\n");
    let mut workers = HashMap::new();
    let mut auditors = HashMap::new();
    let mut per_member = Vec::new();
    for (i, m) in c.iter_mut().take(6).enumerate() {
        m.send_str("PING\r\n");
        let got = m.expect("PONG\r\n");
        let mut n = 0;
        let mut lines = got.split("\r\n");
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("MSG jobs ") {
                let sid: usize = rest.split(' ').next().unwrap().parse().unwrap();
                let payload = lines.next().unwrap().to_string();
                if sid == i {
                    *workers.entry(payload).or_insert(0) += 1;
                    n += 1;
                } else {
                    assert_eq!(sid, 100 + i);
                    *auditors.entry(payload).or_insert(0) += 1;
                }
            }
        }
        per_member.push(n);
    }
    assert_eq!(workers.len(), N, "every message reached the workers group");
    assert!(workers.values().all(|&n| n == 1), "exactly once per group");
    assert_eq!(auditors.len(), N);
    assert!(auditors.values().all(|&n| n == 1));
    // Uniform over 6 members across 3 reactors: 500 expected each.
    assert!(per_member.iter().all(|&n| n > 350), "spread {per_member:?}");
}

#[test]
fn per_publisher_order_holds_across_reactors() {
    let srv = Natrium::start(&["--reactors", "4"]);
    let mut c = clients(srv.addr(), 8);
    for sub in c.iter_mut().take(4) {
        sub.send_str("SUB o.> 1\r\nPING\r\n");
        sub.expect("PONG\r\n");
    }
    let mut pubs: Vec<Raw> = c.drain(4..).collect();
    const N: usize = 2000;
    std::thread::scope(|s| {
        for (p, publisher) in pubs.iter_mut().enumerate() {
            s.spawn(move || {
                let mut buf = String::new();
                for k in 0..N {
                    let body = format!("{p}:{k}");
                    buf.push_str(&format!("PUB o.{p} {}\r\n{body}\r\n", body.len()));
                }
                publisher.send_str(&buf);
                publisher.send_str("PING\r\n");
                publisher.expect("PONG\r\n");
            });
        }
    });
    for sub in c.iter_mut() {
        sub.send_str("PING\r\n");
        let got = sub.expect("PONG\r\n");
        let mut next = [0usize; 4];
        for line in got
            .split("\r\n")
            .filter(|l| l.contains(':') && !l.starts_with("MSG"))
        {
            let (p, k) = line.split_once(':').unwrap();
            let (p, k): (usize, usize) = (p.parse().unwrap(), k.parse().unwrap());
            assert_eq!(k, next[p], "publisher {p} out of order");
            next[p] += 1;
        }
        assert_eq!(next, [N; 4], "every message of every publisher");
    }
}

#[test]
fn pong_after_sub_means_every_reactor_routes_to_it() {
    // No settling time anywhere: SUB + PING on one reactor, then an immediate publish from
    // every other reactor must arrive.
    let srv = Natrium::start(&["--reactors", "4"]);
    let mut c = clients(srv.addr(), 4);
    for round in 0..50 {
        let subject = format!("fresh.{round}");
        c[round % 4].send_str(&format!("SUB {subject} {round}\r\nPING\r\n"));
        c[round % 4].expect("PONG\r\n");
        for (p, publisher) in c.iter_mut().enumerate().filter(|(p, _)| *p != round % 4) {
            publisher.send_str(&format!("PUB {subject} 1\r\n{p}\r\n"));
        }
        for (_, publisher) in c.iter_mut().enumerate().filter(|(p, _)| *p != round % 4) {
            publisher.send_str("PING\r\n");
            publisher.expect("PONG\r\n");
        }
        let s = &mut c[round % 4];
        s.send_str(&format!("UNSUB {round}\r\nPING\r\n"));
        let got = s.expect("PONG\r\n");
        assert_eq!(
            got.matches(&format!("MSG {subject} {round} 1")).count(),
            3,
            "round {round}: {got:?}"
        );
    }
}

/// Many publishers and stable subscribers spread over reactors while other clients subscribe
/// and unsubscribe in a loop: stable subscribers get every message exactly once, in order per
/// publisher, with no deadlock or crash.
#[test]
fn stress_churn_while_publishing() {
    let srv = Natrium::start(&["--reactors", "4"]);
    const PUBS: usize = 4;
    const MSGS: usize = 5000;
    rt().block_on(async {
        let mut stable = Vec::new();
        for _ in 0..4 {
            let c = async_nats::connect(srv.url()).await.unwrap();
            let s = c.subscribe("stress.>").await.unwrap();
            let q = c.queue_subscribe("stress.*", "q".into()).await.unwrap();
            stable.push((c, s, q));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut churners = Vec::new();
        for i in 0..4 {
            let c = async_nats::connect(srv.url()).await.unwrap();
            let stop = stop.clone();
            churners.push(tokio::spawn(async move {
                let mut rounds = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let mut a = c.subscribe(format!("stress.{}", i % PUBS)).await.unwrap();
                    let b = c.queue_subscribe("stress.>", "q".into()).await.unwrap();
                    let _ = timeout(Duration::from_millis(2), a.next()).await;
                    drop(b);
                    a.unsubscribe().await.unwrap();
                    rounds += 1;
                }
                rounds
            }));
        }
        for (c, _, _) in &stable {
            sync(c).await;
        }
        let mut publishers = Vec::new();
        for p in 0..PUBS {
            let c = async_nats::connect(srv.url()).await.unwrap();
            publishers.push(tokio::spawn(async move {
                for k in 0..MSGS {
                    c.publish(format!("stress.{p}"), Bytes::from(format!("{p}:{k}")))
                        .await
                        .unwrap();
                }
                c.flush().await.unwrap();
                sync(&c).await;
            }));
        }
        for p in publishers {
            timeout(Duration::from_secs(30), p)
                .await
                .expect("publishers finish")
                .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let mut rounds = 0;
        for ch in churners {
            rounds += timeout(Duration::from_secs(10), ch)
                .await
                .expect("churners stop")
                .unwrap();
        }
        assert!(rounds > 10, "churn happened ({rounds} rounds)");
        let deadline = Instant::now() + Duration::from_secs(20);
        for (i, (_, s, _)) in stable.iter_mut().enumerate() {
            let mut next = [0usize; PUBS];
            let mut total = 0;
            while total < PUBS * MSGS && Instant::now() < deadline {
                let Ok(Some(m)) = timeout(Duration::from_secs(5), s.next()).await else {
                    break;
                };
                let text = std::str::from_utf8(&m.payload).unwrap();
                let (p, k) = text.split_once(':').unwrap();
                let (p, k): (usize, usize) = (p.parse().unwrap(), k.parse().unwrap());
                assert_eq!(
                    k, next[p],
                    "stable subscriber {i}: publisher {p} lost or duplicated"
                );
                next[p] += 1;
                total += 1;
            }
            assert_eq!(next, [MSGS; PUBS], "stable subscriber {i} got everything");
        }
        // The stable queue members together got each message at most once (churning members
        // took the rest).
        let mut seen = HashMap::new();
        for (_, _, q) in stable.iter_mut() {
            while let Ok(Some(m)) = timeout(Duration::from_millis(200), q.next()).await {
                *seen.entry(m.payload).or_insert(0u32) += 1;
            }
        }
        assert!(
            seen.values().all(|&n| n == 1),
            "a queue message was duplicated"
        );
    });
}

/// Messages routed out by each reactor, from the monitor's `/reactorz`.
fn routed_out(port: u16) -> Vec<u64> {
    let v = crate::monitor::get_json(port, "/reactorz");
    v["reactors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["routed_out"].as_u64().unwrap())
        .collect()
}

#[test]
fn last_unsubscribe_withdraws_remote_interest() {
    let srv = Natrium::start(&["--reactors", "2", "-m", "-1"]);
    let port = srv.monitor_port.expect("monitor");
    let mut c = clients(srv.addr(), 2);
    // Subscribers on reactor 0, publisher on reactor 1.
    c[0].send_str("SUB w 1\r\nSUB w 2\r\nPING\r\n");
    c[0].expect("PONG\r\n");
    c[1].send_str("PUB w 1\r\na\r\nPING\r\n");
    c[1].expect("PONG\r\n");
    c[0].send_str("PING\r\n");
    c[0].expect("PONG\r\n");
    // Counters are published at the end of each loop turn.
    std::thread::sleep(Duration::from_millis(100));
    let crossed = routed_out(port)[1];
    assert_eq!(crossed, 1, "one copy crossed for two subscriptions");
    // One of two local subscriptions gone: interest stays.
    c[0].send_str("UNSUB 1\r\nPING\r\n");
    c[0].expect("PONG\r\n");
    c[1].send_str("PUB w 1\r\nb\r\nPING\r\n");
    c[1].expect("PONG\r\n");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(routed_out(port)[1], 2);
    // The last one gone: interest is withdrawn and nothing crosses any more.
    c[0].send_str("UNSUB 2\r\nPING\r\n");
    c[0].expect("PONG\r\n");
    for _ in 0..100 {
        c[1].send_str("PUB w 1\r\nc\r\n");
    }
    c[1].send_str("PING\r\n");
    c[1].expect("PONG\r\n");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        routed_out(port)[1],
        2,
        "traffic crossed after the last unsubscribe"
    );
    let got = c[0].drain_for(Duration::from_millis(100));
    assert_eq!(got.matches("MSG w").count(), 0, "{got:?}");
}
