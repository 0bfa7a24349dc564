//! Soak (issue 8): a mixed workload — sequenced streams, a queue group, request/reply,
//! subscription churn and reconnecting clients — runs against one server for `SOAK_SECS`
//! seconds (60 in `make test`; `make soak` runs longer). Subscribers that are not slow lose
//! nothing and see no duplicates, every queue message is taken exactly once, every request
//! gets its own reply, and the server's RSS shows no growth trend.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::{sleep, timeout};

use crate::harness::{rt, sync, Natrium};

// The figures are printed for the record (run with --nocapture).
#[allow(clippy::print_stdout)]
#[test]
fn soak_mixed_workload() {
    let secs: u64 = crate::harness::setting("SOAK_SECS", 60);
    // A small ring of closed connections, so the reconnecting clients filling the ring (by
    // design, 10,000 by default) is not mistaken for a leak.
    let dir = crate::harness::TempDir::new("soak");
    let conf = dir.write(
        "natrium.conf",
        "listen: 127.0.0.1:-1\nmax_closed_clients: 100\nreactors: 2\n",
    );
    let srv = Natrium::start(&["-c", conf.to_str().unwrap()]);
    let url = srv.url();
    // The async block moves what it names; the server stays here.
    let server = &srv;
    let stop = Arc::new(AtomicBool::new(false));
    let rss_samples = rt().block_on(async move {
        const PUBS: usize = 2;
        let mut tasks = Vec::new();
        // Stable stream subscribers: every message of every publisher, in order.
        let mut stream_checkers = Vec::new();
        for _ in 0..2 {
            let c = async_nats::connect(&url).await.unwrap();
            let mut s = c.subscribe("soak.stream.>").await.unwrap();
            sync(&c).await;
            stream_checkers.push(tokio::spawn(async move {
                let _keep = c;
                let mut next = [0u64; PUBS];
                while let Ok(Some(m)) = timeout(Duration::from_secs(10), s.next()).await {
                    let text = std::str::from_utf8(&m.payload).unwrap();
                    if text == "end" {
                        break;
                    }
                    let (p, k) = text.split_once(':').unwrap();
                    let (p, k): (usize, u64) = (p.parse().unwrap(), k.parse().unwrap());
                    assert_eq!(k, next[p], "stream from publisher {p}: lost or duplicated");
                    next[p] += 1;
                }
                next
            }));
        }
        // Queue group: each work item taken by exactly one member.
        let taken = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
        let mut members = Vec::new();
        for _ in 0..3 {
            let c = async_nats::connect(&url).await.unwrap();
            let mut s = c.queue_subscribe("soak.work", "workers".into()).await.unwrap();
            sync(&c).await;
            let taken = taken.clone();
            members.push(tokio::spawn(async move {
                let _keep = c;
                while let Ok(Some(m)) = timeout(Duration::from_secs(5), s.next()).await {
                    let k: u64 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                    taken.lock().unwrap().push(k);
                }
            }));
        }
        // Responder.
        let responder = async_nats::connect(&url).await.unwrap();
        let mut svc = responder.queue_subscribe("soak.svc", "svc".into()).await.unwrap();
        sync(&responder).await;
        let r2 = responder.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                if let Some(reply) = m.reply {
                    let mut body = b"re:".to_vec();
                    body.extend_from_slice(&m.payload);
                    let _ = r2.publish(reply, body.into()).await;
                }
            }
        }));

        let sent_stream = Arc::new(AtomicU64::new(0));
        let sent_work = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let mut producers = Vec::new();
        for p in 0..PUBS {
            let c = async_nats::connect(&url).await.unwrap();
            let stop = stop.clone();
            let sent_stream = sent_stream.clone();
            producers.push(tokio::spawn(async move {
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..20 {
                        c.publish(format!("soak.stream.{p}"), Bytes::from(format!("{p}:{k}"))).await.unwrap();
                        k += 1;
                    }
                    sent_stream.fetch_add(20, Ordering::Relaxed);
                    sleep(Duration::from_millis(10)).await;
                }
                sync(&c).await;
                k
            }));
        }
        {
            let c = async_nats::connect(&url).await.unwrap();
            let stop = stop.clone();
            let sent_work = sent_work.clone();
            producers.push(tokio::spawn(async move {
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10 {
                        c.publish("soak.work", Bytes::from(k.to_string())).await.unwrap();
                        k += 1;
                    }
                    sent_work.store(k, Ordering::Relaxed);
                    sleep(Duration::from_millis(10)).await;
                }
                sync(&c).await;
                k
            }));
        }
        for r in 0..2 {
            let c = async_nats::connect(&url).await.unwrap();
            let stop = stop.clone();
            let requests = requests.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!("{r}-{i}");
                    let resp = timeout(Duration::from_secs(5), c.request("soak.svc", Bytes::from(body.clone())))
                        .await
                        .expect("request timed out")
                        .expect("request failed");
                    assert_eq!(resp.payload, format!("re:{body}"));
                    requests.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        // Subscription churn.
        {
            let c = async_nats::connect(&url).await.unwrap();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let s1 = c.subscribe(format!("soak.churn.{}", i % 50)).await.unwrap();
                    let s2 = c.queue_subscribe(format!("soak.stream.{}", i % 2), "churners".into()).await.unwrap();
                    sleep(Duration::from_millis(5)).await;
                    drop(s1);
                    drop(s2);
                    i += 1;
                }
            }));
        }
        // Reconnecting clients.
        {
            let url = url.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let c = async_nats::connect(&url).await.unwrap();
                    let mut s = c.subscribe("soak.echo").await.unwrap();
                    sync(&c).await;
                    c.publish("soak.echo", Bytes::from_static(b"hi")).await.unwrap();
                    let m = timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap();
                    assert_eq!(m.payload, "hi");
                    drop(s);
                    drop(c);
                    sleep(Duration::from_millis(20)).await;
                }
            }));
        }

        let start = Instant::now();
        let mut samples = Vec::new();
        while start.elapsed() < Duration::from_secs(secs) {
            sleep(Duration::from_secs(1)).await;
            samples.push((start.elapsed().as_secs_f64(), server.rss_kib()));
        }
        stop.store(true, Ordering::Relaxed);
        let mut produced = Vec::new();
        for p in producers {
            produced.push(timeout(Duration::from_secs(20), p).await.expect("producer stops").unwrap());
        }
        for t in tasks.drain(1..) {
            timeout(Duration::from_secs(20), t).await.expect("worker stops").unwrap();
        }
        // End markers for the stream checkers.
        let c = async_nats::connect(&url).await.unwrap();
        c.publish("soak.stream.end", Bytes::from_static(b"end")).await.unwrap();
        sync(&c).await;
        for checker in stream_checkers {
            let got = timeout(Duration::from_secs(30), checker).await.expect("checker").unwrap();
            assert_eq!(got.to_vec(), produced[..PUBS].to_vec(), "a stable subscriber missed messages");
        }
        for m in members {
            timeout(Duration::from_secs(30), m).await.expect("member").unwrap();
        }
        let taken = taken.lock().unwrap().clone();
        let unique: HashSet<u64> = taken.iter().copied().collect();
        assert_eq!(unique.len(), taken.len(), "a queue message was taken twice");
        assert_eq!(unique.len() as u64, produced[PUBS], "a queue message was lost");
        println!(
            "soak {secs}s: stream {} msgs x2 subscribers, queue {} msgs, {} requests, RSS samples {:?}",
            sent_stream.load(Ordering::Relaxed),
            produced[PUBS],
            requests.load(Ordering::Relaxed),
            samples.iter().map(|(_, r)| *r).collect::<Vec<_>>()
        );
        samples
    });
    // No growth trend after warm-up: the last third of the run peaks no more than 512 KiB
    // above the middle third (allocator steps are tens of KiB; a leak of one small
    // allocation per message would add megabytes over that time).
    let third = rss_samples.len() / 3;
    let peak = |s: &[(f64, u64)]| s.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let (middle, last) = (
        peak(&rss_samples[third..2 * third]),
        peak(&rss_samples[2 * third..]),
    );
    assert!(
        last <= middle + 512,
        "RSS keeps growing: {middle} KiB -> {last} KiB: {rss_samples:?}"
    );
}
