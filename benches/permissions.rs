//! What permissions cost on the message path: the publish check (a per-connection cache hit,
//! and a miss with nats-server's cache pruning on unique subjects), the delivery-time deny
//! filter, and `allow_responses` bookkeeping. Motivation: a permissioned user's publishes and
//! deliveries go through these once per message.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use natrium::auth::permissions::{ConnPerms, PermSet};
use natrium::auth::{Permissions, ResponsePermission, SubjectPermission};

fn list(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn conn_perms(responses: bool) -> ConnPerms {
    let p = Permissions {
        publish: Some(SubjectPermission {
            allow: Some(list(&[
                "orders.*",
                "svc.>",
                "events.*.created",
                "_INBOX.>",
                "metrics.cpu",
            ])),
            deny: list(&["svc.admin.>"]),
        }),
        subscribe: Some(SubjectPermission {
            allow: None,
            deny: list(&["secret.>", "svc.admin.>"]),
        }),
        response: responses.then(ResponsePermission::default),
    };
    let (set, _) = PermSet::compile(&p);
    ConnPerms::new(Arc::new(set))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("permissions");
    let mut p = conn_perms(false);
    g.bench_function("publish_allowed_cached", |b| {
        b.iter(|| black_box(p.publish_allowed(black_box(b"orders.new"))))
    });
    let subjects: Vec<Vec<u8>> = (0..4096)
        .map(|i| format!("events.{i}.created").into_bytes())
        .collect();
    let mut i = 0;
    g.bench_function("publish_allowed_unique_subjects", |b| {
        b.iter(|| {
            i = (i + 1) % subjects.len();
            black_box(p.publish_allowed(&subjects[i]))
        })
    });
    let mut d = conn_perms(false);
    assert!(d.subscribe_allowed(b">", None));
    g.bench_function("delivery_denied_cached", |b| {
        b.iter(|| black_box(d.delivery_denied(black_box(b"orders.new"), None)))
    });
    let mut r = conn_perms(true);
    let replies: Vec<Vec<u8>> = (0..4096).map(|i| format!("_R.{i}").into_bytes()).collect();
    let mut j = 0;
    g.bench_function("request_reply_tracking", |b| {
        b.iter(|| {
            j = (j + 1) % replies.len();
            r.track_reply(&replies[j]);
            black_box(r.publish_allowed(&replies[j]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
