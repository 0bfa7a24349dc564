//! Hostile input over raw sockets (issue 8): each case is sent to the official nats-server
//! and to natrium and the replies (and whether the server closed the connection) must be
//! the same, while a healthy async-nats client streams sequenced messages through the natrium
//! under attack; afterwards every one of those messages must have arrived, in order.
//!
//! Every case uses its own subjects (`h<N>.…`), never wildcards that could catch another
//! case's or the healthy client's traffic, so all cases share one server per side.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::{rt, sync, Natrium, NatsServer};
use crate::transcripts::{run_case, Case};

const Q: &str = r#"CONNECT {"verbose":false,"pedantic":false}"#;
const P: &str = r#"CONNECT {"verbose":false,"pedantic":true}"#;

fn case(name: &'static str, input: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        args: &[],
        chunks: vec![input.into()],
        expect: "",
        closed: false,
        differential: true,
    }
}

fn split(name: &'static str, chunks: Vec<Vec<u8>>) -> Case {
    Case {
        name,
        args: &[],
        chunks,
        expect: "",
        closed: false,
        differential: true,
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(seed: u64, len: usize, printable: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            if printable {
                b' ' + b % 95
            } else {
                b
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Garbage and noise.
    for (i, name) in ["noise_0", "noise_1", "noise_2", "noise_3", "noise_4"]
        .iter()
        .enumerate()
    {
        v.push(case(name, noise(i as u64 + 1, 300, false)));
    }
    for (i, name) in ["ascii_junk_0", "ascii_junk_1", "ascii_junk_2"]
        .iter()
        .enumerate()
    {
        let mut b = noise(i as u64 + 100, 200, true);
        b.extend_from_slice(b"\r\n");
        v.push(case(name, b));
    }
    v.push(case("nul_bytes", vec![0u8; 64]));
    v.push(case("only_crlf_lines", "\r\n\r\n\r\n"));
    v.push(case("lone_lf", "\n"));
    v.push(case(
        "verb_then_binary",
        [b"PUB ".as_slice(), &noise(7, 40, false)].concat(),
    ));
    // Partial operations, then silence (the server waits, as nats-server does).
    for (name, text) in [
        ("partial_pu", "PU"),
        ("partial_pub_line", "PUB h1.a 5"),
        ("partial_payload", "PUB h1.a 5\r\nhel"),
        ("partial_sub", "SUB h1"),
        ("partial_connect", "CONNECT {\"verbose\":"),
        ("partial_hpub", "HPUB h1.a 12 14\r\nNATS/1.0"),
        ("partial_unsub", "UNSUB"),
        ("partial_ping", "PIN"),
    ] {
        v.push(case(name, format!("{Q}\r\n{text}")));
    }
    // Control lines around the limit: the argument after the verb may be 4096 bytes.
    // Publish and subscribe cases use different subjects: they run side by side.
    let arg = |prefix: &str, len: usize, tail: &str| {
        format!(
            "{prefix}{}{tail}",
            "a".repeat(len - prefix.len() - tail.len())
        )
    };
    v.push(case(
        "pub_line_4096",
        format!("{Q}\r\nPUB {}\r\n\r\nPING\r\n", arg("h2p.", 4096, " 0")),
    ));
    v.push(case(
        "pub_line_4097",
        format!("{Q}\r\nPUB {}\r\n\r\nPING\r\n", arg("h2p.", 4097, " 0")),
    ));
    v.push(case(
        "sub_line_4096",
        format!("{Q}\r\nSUB {}\r\nPING\r\n", arg("h2s.", 4096, " 1")),
    ));
    v.push(case(
        "sub_line_4097",
        format!("{Q}\r\nSUB {}\r\nPING\r\n", arg("h2s.", 4097, " 1")),
    ));
    v.push(case(
        "unsub_line_4097",
        format!("{Q}\r\nUNSUB {}\r\nPING\r\n", "9".repeat(4097)),
    ));
    v.push(case(
        "connect_line_4097",
        format!("CONNECT {}\r\nPING\r\n", "9".repeat(4097)),
    ));
    v.push(case(
        "incomplete_line_over_limit",
        format!("{Q}\r\nSUB h2.{}", "b".repeat(5000)),
    ));
    // PUB sizes.
    for (name, size) in [
        ("pub_size_negative", "-5"),
        ("pub_size_plus", "+5"),
        ("pub_size_alpha", "five"),
        ("pub_size_hex", "0x5"),
        ("pub_size_10_digits", "1234567890"),
        ("pub_size_9_digits_over_max", "999999999"),
        ("pub_size_u64_overflow", "18446744073709551617"),
        ("pub_size_empty_arg", ""),
    ] {
        v.push(case(
            name,
            format!("{Q}\r\nPUB h3.a {size}\r\nhello\r\nPING\r\n"),
        ));
    }
    v.push(case(
        "payload_longer_than_size",
        format!("{Q}\r\nPUB h3.a 2\r\nhello\r\nPING\r\n"),
    ));
    v.push(case(
        "payload_shorter_then_next_op",
        format!("{Q}\r\nPUB h3.a 10\r\nhi\r\nPING\r\n"),
    ));
    v.push(case(
        "payload_missing_crlf",
        format!("{Q}\r\nPUB h3.a 2\r\nhiXY"),
    ));
    // Invalid subjects, pedantic and not.
    for (name, conn, subject) in [
        ("pedantic_double_dot", P, "h4..a"),
        ("pedantic_leading_dot", P, ".h4"),
        ("pedantic_trailing_dot", P, "h4."),
        ("pedantic_star", P, "h4.*"),
        ("pedantic_gt", P, "h4.>"),
        ("lenient_double_dot", Q, "h4..a"),
        ("lenient_star", Q, "h4.*"),
    ] {
        v.push(case(
            name,
            format!("{conn}\r\nPUB {subject} 1\r\nx\r\nPING\r\n"),
        ));
    }
    for (name, subject) in [
        ("sub_double_dot", "h5..a"),
        ("sub_gt_middle", "h5.>.a"),
        ("sub_trailing_dot", "h5."),
    ] {
        v.push(case(name, format!("{Q}\r\nSUB {subject} 1\r\nPING\r\n")));
    }
    // HPUB.
    let hq = r#"CONNECT {"verbose":false,"headers":true}"#;
    v.push(case(
        "hpub_header_gt_total",
        format!("{hq}\r\nHPUB h6.a 20 10\r\n"),
    ));
    v.push(case(
        "hpub_header_negative",
        format!("{hq}\r\nHPUB h6.a -1 10\r\n"),
    ));
    v.push(case(
        "hpub_header_alpha",
        format!("{hq}\r\nHPUB h6.a x 10\r\n"),
    ));
    v.push(case(
        "hpub_total_over_max",
        format!("{hq}\r\nHPUB h6.a 12 2000000\r\n"),
    ));
    v.push(case(
        "hpub_no_headers_support",
        format!("{Q}\r\nHPUB h6.a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
    ));
    // CONNECT.
    for (name, json) in [
        ("connect_malformed", "{\"verbose\":false"),
        ("connect_not_json", "hello"),
        ("connect_array", "[1,2,3]"),
        ("connect_string", "\"x\""),
        ("connect_null", "null"),
        ("connect_wrong_type_verbose", "{\"verbose\":\"no\"}"),
        (
            "connect_wrong_type_protocol",
            "{\"verbose\":false,\"protocol\":\"1\"}",
        ),
        ("connect_wrong_type_echo", "{\"verbose\":false,\"echo\":1}"),
        ("connect_protocol_5", "{\"verbose\":false,\"protocol\":5}"),
        (
            "connect_protocol_negative",
            "{\"verbose\":false,\"protocol\":-1}",
        ),
        (
            "connect_unknown_fields",
            "{\"verbose\":false,\"x\":{\"y\":[1,2,{\"z\":null}]},\"lang\":\"evil\"}",
        ),
        (
            "connect_deep_nesting",
            "{\"verbose\":false,\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
        ),
    ] {
        v.push(case(name, format!("CONNECT {json}\r\nPING\r\n")));
    }
    v.push(case(
        "connect_huge_json",
        format!(
            "CONNECT {{\"verbose\":false,\"name\":\"{}\"}}\r\nPING\r\n",
            "n".repeat(8000)
        ),
    ));
    // Other hostile inputs.
    v.push(case(
        "client_sends_err",
        format!("{Q}\r\n-ERR 'go away'\r\n"),
    ));
    v.push(case(
        "tls_client_hello_on_plain_port",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ));
    v.push(case(
        "http_get",
        "GET /varz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    v.push(case(
        "http_post",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    ));
    v.push(case(
        "route_protocol_from_client",
        "CONNECT {\"verbose\":false}\r\nRS+ $G h7.a\r\n",
    ));
    v.push(case(
        "leaf_protocol_from_client",
        "CONNECT {\"verbose\":false}\r\nLS+ $G h7.a\r\n",
    ));
    v.push(case(
        "pong_without_ping",
        format!("{Q}\r\nPONG\r\nPONG\r\nPING\r\n"),
    ));
    v.push(split(
        "slowloris_connect",
        b"CONNE".iter().map(|b| vec![*b]).collect::<Vec<_>>(),
    ));
    v.push(case(
        "thousands_of_sub_unsub",
        format!(
            "{Q}\r\n{}{}PING\r\n",
            (0..3000)
                .map(|i| format!("SUB h8.{i} {i}\r\n"))
                .collect::<String>(),
            (0..3000)
                .map(|i| format!("UNSUB {i}\r\n"))
                .collect::<String>()
        ),
    ));
    v.push(case(
        "ping_flood",
        format!("{Q}\r\n{}", "PING\r\n".repeat(5000)),
    ));
    v.push(case(
        "unsub_bad_max",
        format!("{Q}\r\nSUB h9.a 1\r\nUNSUB 1 abc\r\nPUB h9.a 1\r\nx\r\nPING\r\n"),
    ));
    v.push(case(
        "unsub_too_many_args",
        format!("{Q}\r\nUNSUB 1 2 3\r\n"),
    ));
    v.push(case("sub_too_many_args", format!("{Q}\r\nSUB a b c d\r\n")));
    v.push(case("sub_too_few_args", format!("{Q}\r\nSUB h9.b\r\n")));
    v
}

/// Runs the cases in groups of 16 against one server; returns (output, closed) per case.
fn run_against(addr: std::net::SocketAddr, cases: &[Case]) -> Vec<(String, bool)> {
    let mut out = Vec::with_capacity(cases.len());
    for group in cases.chunks(16) {
        out.extend(std::thread::scope(|s| {
            let hs: Vec<_> = group
                .iter()
                .map(|c| s.spawn(move || run_case(addr, c)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("case"))
                .collect::<Vec<_>>()
        }));
    }
    out
}

#[test]
fn hostile_inputs_match_nats_server_and_spare_a_healthy_client() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let reference = NatsServer::start(&[]).expect("nats-server (make deps installs it)");
    let natrium = Natrium::start(&["--reactors", "2"]);

    // The healthy client streams sequenced messages through natrium during the attack.
    let stop = Arc::new(AtomicBool::new(false));
    let url = natrium.url();
    let stop2 = stop.clone();
    let healthy = std::thread::spawn(move || {
        rt().block_on(async move {
            let sub_client = async_nats::connect(&url).await.unwrap();
            let pub_client = async_nats::connect(&url).await.unwrap();
            let mut sub = sub_client.subscribe("healthy.stream").await.unwrap();
            sync(&sub_client).await;
            // Read while publishing, checking order as messages arrive.
            let reader = tokio::spawn(async move {
                let mut next = 0u64;
                while let Ok(Some(m)) = timeout(Duration::from_secs(10), sub.next()).await {
                    assert_eq!(
                        m.payload,
                        next.to_string(),
                        "healthy stream out of order or lossy"
                    );
                    next += 1;
                    if m.headers.is_some() {
                        break;
                    }
                }
                next
            });
            let mut sent = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                pub_client
                    .publish("healthy.stream", Bytes::from(sent.to_string()))
                    .await
                    .unwrap();
                sent += 1;
                if sent % 50 == 0 {
                    pub_client.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            // The last message carries a header: the reader stops after it.
            let mut h = async_nats::HeaderMap::new();
            h.insert("Last", "1");
            pub_client
                .publish_with_headers("healthy.stream", h, Bytes::from(sent.to_string()))
                .await
                .unwrap();
            sent += 1;
            pub_client.flush().await.unwrap();
            let got = reader.await.expect("reader");
            assert_eq!(got, sent, "healthy client lost messages");
            sent
        })
    });

    let theirs = run_against(reference.addr(), &cases);
    let mine = run_against(natrium.addr(), &cases);
    stop.store(true, Ordering::Relaxed);
    let delivered = healthy.join().expect("healthy client");
    assert!(delivered > 100, "healthy client streamed {delivered}");

    let mut failures = Vec::new();
    for ((c, t), m) in cases.iter().zip(&theirs).zip(&mine) {
        if t != m {
            failures.push(format!(
                "{}:\n  nats-server {:?} closed={}\n  natrium     {:?} closed={}",
                c.name, t.0, t.1, m.0, m.1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // natrium is still alive and serving.
    let mut raw = crate::harness::Raw::connect(natrium.addr());
    raw.handshake(r#"{"verbose":false}"#);
}
