//! How fast is the subject index? nats-server's `sublist_test.go` benchmark set as criterion
//! groups: literal matches of 1–5 tokens, a miss on the last token, wildcard-heavy patterns,
//! 10,000 subscriptions, each with the match cache on and off; and insert/remove.
//! Motivation: every publish is matched once on the reactor that reads it.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use natrium::subject::sublist::Sublist;
use std::hint::black_box;

fn populated(cache: bool) -> Sublist<u32> {
    let mut s = if cache {
        Sublist::new()
    } else {
        Sublist::without_cache()
    };
    let mut id = 0u32;
    // 10,000 subscriptions over a realistic tree: 10 x 10 x 100 literals plus wildcards.
    for a in 0..10 {
        for b in 0..10 {
            for c in 0..100 {
                let subj = format!("svc{a}.region{b}.item{c}");
                s.insert(subj.as_bytes(), None, id).ok();
                id += 1;
            }
            s.insert(format!("svc{a}.region{b}.*").as_bytes(), None, id)
                .ok();
            id += 1;
        }
        s.insert(format!("svc{a}.>").as_bytes(), Some(b"workers"), id)
            .ok();
        id += 1;
    }
    s.insert(b"a", None, id).ok();
    s.insert(b"a.b", None, id + 1).ok();
    s.insert(b"a.b.c", None, id + 2).ok();
    s.insert(b"a.b.c.d", None, id + 3).ok();
    s.insert(b"a.b.c.d.e", None, id + 4).ok();
    s.insert(b"*.*.*.*.*", None, id + 5).ok();
    s.insert(b"a.>", None, id + 6).ok();
    s
}

fn bench_match(c: &mut Criterion) {
    for cache in [true, false] {
        let name = if cache {
            "match_cached"
        } else {
            "match_uncached"
        };
        let mut group = c.benchmark_group(name);
        let mut s = populated(cache);
        let cases: [(&str, &[u8]); 7] = [
            ("1_token", b"a"),
            ("2_tokens", b"a.b"),
            ("3_tokens", b"a.b.c"),
            ("5_tokens", b"a.b.c.d.e"),
            ("miss_last_token", b"svc3.region4.nothing_here"),
            ("wildcards_10k", b"svc7.region2.item42"),
            ("no_interest", b"zzz.yyy"),
        ];
        for (label, subject) in cases {
            group.bench_with_input(
                BenchmarkId::from_parameter(label),
                &subject,
                |b, subject| b.iter(|| black_box(s.match_subject(black_box(subject)))),
            );
        }
        group.finish();
    }
}

fn bench_insert_remove(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert_remove");
    let subjects: Vec<String> = (0..1000)
        .map(|i| format!("orders.{}.{}", i % 37, i))
        .collect();
    group.bench_function("1000_literals_cached", |b| {
        let mut s = populated(true);
        b.iter(|| {
            for (i, subj) in subjects.iter().enumerate() {
                s.insert(subj.as_bytes(), None, 1_000_000 + i as u32).ok();
            }
            for (i, subj) in subjects.iter().enumerate() {
                s.remove(subj.as_bytes(), None, 1_000_000 + i as u32);
            }
        })
    });
    group.bench_function("wildcard_insert_remove_with_warm_cache", |b| {
        let mut s = populated(true);
        for a in 0..10 {
            s.match_subject(format!("svc{a}.region1.item1").as_bytes());
        }
        b.iter(|| {
            s.insert(b"svc1.*.item1", None, 9_999_999).ok();
            s.remove(b"svc1.*.item1", None, 9_999_999);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_match, bench_insert_remove);
criterion_main!(benches);
