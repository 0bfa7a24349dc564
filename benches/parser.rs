//! How fast does the client-protocol parser consume input? Throughput in bytes/s for PUB
//! with 0 B, 128 B, 1 KiB and 32 KiB payloads, many operations per buffer (the shape a
//! publishing client produces), plus HPUB and SUB lines. Motivation: the parser runs on every
//! byte a client sends; issue 3 asks for these figures next to the end-to-end benchmark.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrium::proto::parser::{Limits, Parser, Status};
use std::hint::black_box;

/// Parses a whole buffer of complete operations; returns the number parsed.
fn parse_all(parser: &mut Parser, buf: &[u8]) -> usize {
    let n = parse_prefix(parser, buf);
    assert!(n > 0, "benchmark input does not parse");
    n
}

fn parse_prefix(parser: &mut Parser, buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while pos < buf.len() {
        match parser.parse(&buf[pos..]) {
            Ok(Status::Complete(op, used)) => {
                black_box(op);
                pos += used;
                n += 1;
            }
            _ => break,
        }
    }
    n
}

fn pubs(size: usize, count: usize) -> Vec<u8> {
    let payload = vec![b'x'; size];
    let mut buf = Vec::new();
    for _ in 0..count {
        buf.extend_from_slice(format!("PUB bench.subject.{} {size}\r\n", count % 7).as_bytes());
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(b"\r\n");
    }
    buf
}

fn bench_pub(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_pub");
    for size in [0usize, 128, 1024, 32 * 1024] {
        // About 64 KiB of input per iteration (one read's worth), at least one operation.
        let count = (64 * 1024 / (size + 30)).max(1);
        let buf = pubs(size, count);
        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &buf, |b, buf| {
            let mut parser = Parser::new(Limits::default());
            b.iter(|| parse_all(&mut parser, buf))
        });
    }
    group.finish();
}

fn bench_other_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_ops");
    let mut hpub = Vec::new();
    for _ in 0..1000 {
        hpub.extend_from_slice(b"HPUB bench.subject _INBOX.abc 23 39\r\nNATS/1.0\r\nX-Id: 123\r\n\r\n0123456789abcdef\r\n");
    }
    group.throughput(Throughput::Bytes(hpub.len() as u64));
    group.bench_function("hpub_16", |b| {
        let mut parser = Parser::new(Limits::default());
        parser.set_headers(true);
        b.iter(|| parse_all(&mut parser, &hpub))
    });
    let mut subs = Vec::new();
    for i in 0..1000 {
        subs.extend_from_slice(format!("SUB orders.{i}.* workers {i}\r\n").as_bytes());
    }
    group.throughput(Throughput::Bytes(subs.len() as u64));
    group.bench_function("sub_queue", |b| {
        let mut parser = Parser::new(Limits::default());
        b.iter(|| parse_all(&mut parser, &subs))
    });
    group.finish();
}

criterion_group!(benches, bench_pub, bench_other_ops);
criterion_main!(benches);
