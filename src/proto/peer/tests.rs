//! Tests of the route and leaf parser and its encoders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use proptest::prelude::*;

const MIB: i64 = 1024 * 1024;

fn limits(mcl: usize, max_payload: i64) -> Limits {
    Limits {
        max_control_line: mcl,
        max_payload,
    }
}

fn route() -> PeerParser {
    let mut p = PeerParser::new(PeerKind::Route, Limits::default());
    p.set_headers(true);
    p
}

fn leaf() -> PeerParser {
    let mut p = PeerParser::new(PeerKind::Leaf, Limits::default());
    p.set_headers(true);
    p
}

fn esc(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

/// A compact, exact rendering of an op, so the tables below read like the wire.
fn describe(op: &OwnedPeerOp) -> String {
    let opt = |tag: &str, v: &Option<Vec<u8>>| match v {
        Some(v) => format!(" {tag}={}", esc(v)),
        None => String::new(),
    };
    match op {
        OwnedPeerOp::Connect(a) => format!("Connect {}", esc(a)),
        OwnedPeerOp::Info(a) => format!("Info {}", esc(a)),
        OwnedPeerOp::Ping => "Ping".into(),
        OwnedPeerOp::Pong => "Pong".into(),
        OwnedPeerOp::Ok => "Ok".into(),
        OwnedPeerOp::Err(a) => format!("Err {}", esc(a)),
        OwnedPeerOp::Sub(s) | OwnedPeerOp::Unsub(s) => {
            let verb = if matches!(op, OwnedPeerOp::Sub(_)) {
                "Sub"
            } else {
                "Unsub"
            };
            let w = if s.queue.is_some() && verb == "Sub" {
                format!(" w={}", s.weight)
            } else {
                assert_eq!(s.weight, 1);
                String::new()
            };
            format!(
                "{verb}{}{} s={}{}{w} k={}{}",
                opt("o", &s.origin),
                opt("a", &s.account),
                esc(&s.subject),
                opt("q", &s.queue),
                esc(s.key_prefix),
                esc(&s.key)
            )
        }
        OwnedPeerOp::Msg(m) => {
            let r = if m.reply.is_empty() {
                String::new()
            } else {
                format!(" r={}", esc(&m.reply))
            };
            let qs = if m.queues.is_empty() {
                assert!(m.queues_raw.is_empty());
                String::new()
            } else {
                let names: Vec<String> = m.queues.iter().map(|q| esc(q)).collect();
                format!(" qs={}", names.join(","))
            };
            let h = if m.header_text.is_empty() {
                assert_eq!(m.header_len, 0);
                String::new()
            } else {
                format!(" h={}", esc(&m.header_text))
            };
            format!(
                "{:?}{}{} s={}{r}{qs}{h} n={} d={}",
                m.verb,
                opt("o", &m.origin),
                opt("a", &m.account),
                esc(&m.subject),
                esc(&m.size_text),
                esc(&m.data)
            )
        }
        OwnedPeerOp::Ignored(what, arg) => format!("Ignored {what:?} {}", esc(arg)),
    }
}

/// What every yielded op must satisfy.
fn check_op(op: &PeerOp<'_>, consumed: usize, buf_len: usize, kind: PeerKind) {
    assert!(consumed >= 1 && consumed <= buf_len, "{consumed} {buf_len}");
    let blank = |s: &[u8]| s.iter().any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let word = |s: &[u8]| !s.is_empty() && !blank(s);
    match *op {
        PeerOp::Sub(s) | PeerOp::Unsub(s) => {
            assert!(word(s.subject));
            assert!(s.origin.is_none_or(word) && s.account.is_none_or(word));
            assert!(s.queue.is_none_or(word));
            if kind == PeerKind::Leaf {
                assert!(s.origin.is_none() && s.account.is_none());
            }
        }
        PeerOp::Msg(m) => {
            assert!(word(m.msg.subject));
            assert!(m.origin.is_none_or(word) && m.account.is_none_or(word));
            assert_eq!(parse_size(m.msg.size_text), m.msg.data.len() as i64);
            assert!(m.msg.header_len <= m.msg.data.len());
            if !m.msg.header_text.is_empty() {
                assert_eq!(parse_size(m.msg.header_text), m.msg.header_len as i64);
            }
            assert!(m.queues.iter().all(word));
            if kind == PeerKind::Leaf {
                assert!(m.origin.is_none() && m.account.is_none());
            }
        }
        _ => {}
    }
}

type Outcome = (Vec<OwnedPeerOp>, Option<PeerError>);

fn parse_whole(p: &mut PeerParser, input: &[u8]) -> Outcome {
    let mut ops = Vec::new();
    let mut at = 0;
    loop {
        match p.parse(&input[at..]) {
            Ok(PeerStatus::Complete(op, n)) => {
                check_op(&op, n, input.len() - at, p.kind());
                ops.push(op.to_owned_op());
                at += n;
            }
            Ok(PeerStatus::Incomplete) => return (ops, None),
            Err(e) => return (ops, Some(e)),
        }
    }
}

/// The read-loop pattern: append each chunk to what was not consumed, parse until
/// Incomplete, honouring `bytes_needed` except after the last chunk.
fn parse_chunked(p: &mut PeerParser, chunks: &[&[u8]]) -> Outcome {
    let mut ops = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        buf.extend_from_slice(chunk);
        let last = i + 1 == chunks.len();
        if !last && p.bytes_needed().is_some_and(|n| buf.len() < n) {
            continue;
        }
        loop {
            match p.parse(&buf) {
                Ok(PeerStatus::Complete(op, n)) => {
                    check_op(&op, n, buf.len(), p.kind());
                    ops.push(op.to_owned_op());
                    buf.drain(..n);
                }
                Ok(PeerStatus::Incomplete) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

fn split_at(p: &mut PeerParser, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut chunks = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        let c = c.clamp(prev, input.len());
        chunks.push(&input[prev..c]);
        prev = c;
    }
    chunks.push(&input[prev..]);
    parse_chunked(p, &chunks)
}

/// Parses exactly one op that must take the whole input.
fn one(p: &mut PeerParser, input: &[u8]) -> Result<String, PeerError> {
    match p.parse(input)? {
        PeerStatus::Complete(op, n) => {
            check_op(&op, n, input.len(), p.kind());
            assert_eq!(n, input.len(), "whole input consumed for {input:?}");
            Ok(describe(&op.to_owned_op()))
        }
        PeerStatus::Incomplete => panic!("incomplete: {input:?}"),
    }
}

fn check_forms(p: &mut PeerParser, cases: &[(&str, &str)]) {
    for (input, want) in cases {
        assert_eq!(one(p, input.as_bytes()).as_deref(), Ok(*want), "{input:?}");
    }
}

#[test]
fn route_interest_forms() {
    check_forms(
        &mut route(),
        &[
            ("RS+ $G foo\r\n", "Sub a=$G s=foo k=$G foo"),
            ("rs+ $G foo.*\n", "Sub a=$G s=foo.* k=$G foo.*"),
            (
                "RS+ $G work.> WORKERS 1\r\n",
                "Sub a=$G s=work.> q=WORKERS w=1 k=$G work.> WORKERS",
            ),
            (
                "RS+\t$G  foo \t q  12\r\n",
                "Sub a=$G s=foo q=q w=12 k=$G  foo \\t q ",
            ),
            // The weight as nats reads it: -1 when not a size.
            ("RS+ $G foo q x\r\n", "Sub a=$G s=foo q=q w=-1 k=$G foo q"),
            (
                "RS+ $G foo q 1234567890\r\n",
                "Sub a=$G s=foo q=q w=-1 k=$G foo q",
            ),
            // nats' key: the argument minus one byte and the weight, trailing blanks kept.
            ("RS+ $G foo q 1 \r\n", "Sub a=$G s=foo q=q w=1 k=$G foo q "),
            ("RS- $G foo\r\n", "Unsub a=$G s=foo k=$G foo"),
            (
                "RS- $G work.> WORKERS\r\n",
                "Unsub a=$G s=work.> q=WORKERS k=$G work.> WORKERS",
            ),
            // UNSUB on a route is RS-.
            ("UNSUB $G foo\r\n", "Unsub a=$G s=foo k=$G foo"),
            (
                "LS+ LEAFC $G bar q1 2\r\n",
                "Sub o=LEAFC a=$G s=bar q=q1 w=2 k=$G bar q1",
            ),
            ("LS+ LEAFC $G bar\r\n", "Sub o=LEAFC a=$G s=bar k=$G bar"),
            // Without lnocu, LS- has no origin.
            ("LS- $G bar q1\r\n", "Unsub a=$G s=bar q=q1 k=$G bar q1"),
            ("ls- $G bar\r\n", "Unsub a=$G s=bar k=$G bar"),
            // Ignored.
            ("SUB foo 1\r\n", "Ignored RouteSub foo 1"),
            ("A+ foo\r\n", "Ignored AccountSub foo"),
            ("a+ \r\n", "Ignored AccountSub \\r"),
            ("A- foo\r\n", "Ignored AccountUnsub foo"),
            ("Au foo\r\n", "Ignored AccountUnsub foo"),
            ("au\tfoo\r\n", "Ignored AccountUnsub foo"),
        ],
    );
}

#[test]
fn route_with_lnocu_keys_and_origin() {
    let mut p = route();
    p.set_unsub_origin(true);
    check_forms(
        &mut p,
        &[
            ("RS+ $G foo q 2\r\n", "Sub a=$G s=foo q=q w=2 k=R $G foo q"),
            ("RS- $G foo q\r\n", "Unsub a=$G s=foo q=q k=R $G foo q"),
            (
                "LS+ LC $G foo q 2\r\n",
                "Sub o=LC a=$G s=foo q=q w=2 k=L LC $G foo q",
            ),
            (
                "LS- LC $G foo q\r\n",
                "Unsub o=LC a=$G s=foo q=q k=L LC $G foo q",
            ),
            ("LS- LC $G foo\r\n", "Unsub o=LC a=$G s=foo k=L LC $G foo"),
            ("UNSUB $G foo\r\n", "Unsub a=$G s=foo k=R $G foo"),
        ],
    );
    // nats-server 2.15.1 crashes on this one (parseUnsubProto indexes a missing origin).
    assert_eq!(
        p.parse(b"LS- \r\n"),
        Err(PeerError::Args(
            "processRemoteUnsub parse error: '\r'".into()
        ))
    );
    assert_eq!(
        p.parse(b"LS- $G foo\r\n"),
        Err(PeerError::Args(
            "processRemoteUnsub parse error: '$G foo'".into()
        ))
    );
}

#[test]
fn pinned_route_forms() {
    let mut p = route();
    p.set_account_bound(Some(b"ACC"));
    check_forms(
        &mut p,
        &[
            ("RS+ foo\r\n", "Sub s=foo k=foo"),
            ("RS+ foo q 3\r\n", "Sub s=foo q=q w=3 k=foo q"),
            ("RS- foo q\r\n", "Unsub s=foo q=q k=foo q"),
            ("LS+ LC foo\r\n", "Sub o=LC s=foo k=foo"),
            ("LS- foo\r\n", "Unsub s=foo k=foo"),
            ("RMSG foo 2\r\nhi\r\n", "Rmsg s=foo n=2 d=hi"),
            ("RMSG foo rep 2\r\nhi\r\n", "Rmsg s=foo r=rep n=2 d=hi"),
            (
                "RMSG foo | q1 q2 2\r\nhi\r\n",
                "Rmsg s=foo qs=q1,q2 n=2 d=hi",
            ),
            (
                "RMSG foo + rep q1 2\r\nhi\r\n",
                "Rmsg s=foo r=rep qs=q1 n=2 d=hi",
            ),
            ("HMSG foo 1 2\r\nhi\r\n", "Hmsg s=foo h=1 n=2 d=hi"),
            (
                "HMSG foo rep 1 2\r\nhi\r\n",
                "Hmsg s=foo r=rep h=1 n=2 d=hi",
            ),
            ("HMSG foo | q 1 2\r\nhi\r\n", "Hmsg s=foo qs=q h=1 n=2 d=hi"),
            ("LMSG LC foo 0 2\r\nhi\r\n", "Lmsg o=LC s=foo h=0 n=2 d=hi"),
            (
                "LMSG LC foo + r q 0 2\r\nhi\r\n",
                "Lmsg o=LC s=foo r=r qs=q h=0 n=2 d=hi",
            ),
        ],
    );
    // The pinned account shows in nats' error texts.
    let args = |s: &str| Err(PeerError::Args(s.into()));
    assert_eq!(
        p.parse(b"RMSG foo\r\n"),
        args("processRoutedMsgArgs Parse Error: '[ACC foo]'")
    );
    assert_eq!(
        p.parse(b"RMSG foo x\r\n"),
        args("processRoutedMsgArgs Bad or Missing Size: '[ACC foo x]'")
    );
    assert_eq!(
        p.parse(b"LMSG LC foo 2\r\n"),
        args("processRoutedOriginClusterMsgArgs Parse Error: '[LC ACC foo 2]'")
    );
    // LMSG inserts the account only after more than two fields.
    assert_eq!(
        p.parse(b"LMSG LC foo\r\n"),
        args("processRoutedOriginClusterMsgArgs Parse Error: '[LC foo]'")
    );
    assert_eq!(
        p.parse(b"RS+ $G foo\r\n"),
        args("processRemoteSub Parse Error: 'R $G foo'")
    );
    p.set_account_bound(None);
    assert_eq!(
        one(&mut p, b"RS+ $G foo\r\n").as_deref(),
        Ok("Sub a=$G s=foo k=$G foo")
    );
}

#[test]
fn route_message_forms() {
    check_forms(
        &mut route(),
        &[
            ("RMSG $G foo 2\r\nhi\r\n", "Rmsg a=$G s=foo n=2 d=hi"),
            ("rmsg $G foo 02\r\nhi\r\n", "Rmsg a=$G s=foo n=02 d=hi"),
            ("RMSG $G foo 0\r\n\r\n", "Rmsg a=$G s=foo n=0 d="),
            (
                "RMSG $G foo rep 2\r\nhi\r\n",
                "Rmsg a=$G s=foo r=rep n=2 d=hi",
            ),
            (
                "RMSG $G work.a | WORKERS 6\r\nhello!\r\n",
                "Rmsg a=$G s=work.a qs=WORKERS n=6 d=hello!",
            ),
            (
                "RMSG $G foo + _INBOX.x q1 q2 q3 2\r\nhi\r\n",
                "Rmsg a=$G s=foo r=_INBOX.x qs=q1,q2,q3 n=2 d=hi",
            ),
            // '+' with no queue names, and '|' read as a reply in the 4-field form.
            (
                "RMSG $G foo + rep 2\r\nhi\r\n",
                "Rmsg a=$G s=foo r=rep n=2 d=hi",
            ),
            ("RMSG $G foo | 2\r\nhi\r\n", "Rmsg a=$G s=foo r=| n=2 d=hi"),
            // Fields split on CR too (nats' routed splitter), and runs of blanks.
            (
                "RMSG\t $G  foo \t| a \t b  2 \r\nhi\r\n",
                "Rmsg a=$G s=foo qs=a,b n=2 d=hi",
            ),
            (
                "HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                "Hmsg a=$G s=foo h=12 n=14 d=NATS/1.0\\r\\n\\r\\nhi",
            ),
            (
                "HMSG $G bar + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                "Hmsg a=$G s=bar r=rep qs=q1,q2 h=12 n=14 d=NATS/1.0\\r\\n\\r\\nhi",
            ),
            (
                "HMSG $G foo rep 0 2\r\nhi\r\n",
                "Hmsg a=$G s=foo r=rep h=0 n=2 d=hi",
            ),
            (
                "LMSG LEAFC $G foo rep 0 2\r\nhi\r\n",
                "Lmsg o=LEAFC a=$G s=foo r=rep h=0 n=2 d=hi",
            ),
            (
                "LMSG LC $G foo 0 2\r\nhi\r\n",
                "Lmsg o=LC a=$G s=foo h=0 n=2 d=hi",
            ),
            (
                "LMSG LC $G bar | q1 0 2\r\nhi\r\n",
                "Lmsg o=LC a=$G s=bar qs=q1 h=0 n=2 d=hi",
            ),
            (
                "LMSG LC $G bar + rep q1 q2 3 5\r\nabcde\r\n",
                "Lmsg o=LC a=$G s=bar r=rep qs=q1,q2 h=3 n=5 d=abcde",
            ),
            // PUB/HPUB on a route: messages without an account.
            ("PUB foo 2\r\nhi\r\n", "Pub s=foo n=2 d=hi"),
            ("PUB foo rep 2\r\nhi\r\n", "Pub s=foo r=rep n=2 d=hi"),
            ("HPUB foo 0 2\r\nhi\r\n", "Hpub s=foo h=0 n=2 d=hi"),
            (
                "HPUB foo rep 1 2\r\nhi\r\n",
                "Hpub s=foo r=rep h=1 n=2 d=hi",
            ),
        ],
    );
}

#[test]
fn simple_ops_on_both_kinds() {
    for mut p in [route(), leaf()] {
        check_forms(
            &mut p,
            &[
                ("PING\r\n", "Ping"),
                ("ping\n", "Ping"),
                ("PONG junk\r\n", "Pong"),
                ("+OK\r\n", "Ok"),
                ("-ERR 'boom'\r\n", "Err 'boom'"),
                ("CONNECT {\"name\":\"x\"}\r\n", "Connect {\"name\":\"x\"}"),
                ("CONNECT{}\r\n", "Connect {}"),
                (
                    "INFO {\"server_id\":\"N\"} \r\n",
                    "Info {\"server_id\":\"N\"} ",
                ),
                ("info\t{}\n", "Info {}"),
            ],
        );
    }
}

#[test]
fn leaf_forms() {
    check_forms(
        &mut leaf(),
        &[
            ("LS+ foo\r\n", "Sub s=foo k=foo"),
            ("LS+ bar q1 2\r\n", "Sub s=bar q=q1 w=2 k=bar q1"),
            ("LS+ bar q1 x\r\n", "Sub s=bar q=q1 w=-1 k=bar q1"),
            ("LS+ bar  q1  2\r\n", "Sub s=bar q=q1 w=2 k=bar  q1 "),
            ("LS- foo\r\n", "Unsub s=foo k=foo"),
            ("LS- bar q1\r\n", "Unsub s=bar q=q1 k=bar q1"),
            // LS- is never split by nats: any argument is a key to look up.
            ("LS- a b c d\r\n", "Unsub s=a q=b k=a b c d"),
            ("LS- \r\n", "Ignored LeafUnsubNoFields \\r"),
            // SUB/RS+ are LS+, UNSUB/RS- are LS-, on a leaf.
            ("SUB foo\r\n", "Sub s=foo k=foo"),
            ("RS+ foo q 1\r\n", "Sub s=foo q=q w=1 k=foo q"),
            ("UNSUB foo\r\n", "Unsub s=foo k=foo"),
            ("RS- foo\r\n", "Unsub s=foo k=foo"),
            ("A+ x\r\n", "Ignored AccountSub x"),
            ("A- x\r\n", "Ignored AccountUnsub x"),
            ("LMSG foo 2\r\nhi\r\n", "Lmsg s=foo n=2 d=hi"),
            ("LMSG foo rep 02\r\nhi\r\n", "Lmsg s=foo r=rep n=02 d=hi"),
            (
                "LMSG edge.svc + _INBOX.N NATS-RPLY-22 3\r\nabc\r\n",
                "Lmsg s=edge.svc r=_INBOX.N qs=NATS-RPLY-22 n=3 d=abc",
            ),
            (
                "LMSG edge.work | W 6\r\nabcdef\r\n",
                "Lmsg s=edge.work qs=W n=6 d=abcdef",
            ),
            ("RMSG foo 2\r\nhi\r\n", "Rmsg s=foo n=2 d=hi"),
            (
                "HMSG edge.work | W 3 5\r\nabcde\r\n",
                "Hmsg s=edge.work qs=W h=3 n=5 d=abcde",
            ),
            (
                "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                "Hmsg s=foo h=12 n=14 d=NATS/1.0\\r\\n\\r\\nhi",
            ),
            (
                "HMSG foo rep 1 2\r\nhi\r\n",
                "Hmsg s=foo r=rep h=1 n=2 d=hi",
            ),
            ("PUB foo 2\r\nhi\r\n", "Pub s=foo n=2 d=hi"),
            (
                "HPUB foo rep 0 2\r\nhi\r\n",
                "Hpub s=foo r=rep h=0 n=2 d=hi",
            ),
        ],
    );
}

#[test]
fn queues_iterate_and_keep_raw_bytes() {
    let mut p = route();
    let input = b"RMSG $G foo | a \t b\tc 1\r\nx\r\n";
    let Ok(PeerStatus::Complete(PeerOp::Msg(m), _)) = p.parse(input) else {
        panic!()
    };
    assert_eq!(m.queues.raw(), b"a \t b\tc");
    assert_eq!(m.queues.iter().collect::<Vec<_>>(), [&b"a"[..], b"b", b"c"]);
    assert!(!m.queues.is_empty());
    assert!(Queues::default().iter().next().is_none());
    // Many queues: more fields than the splitter keeps from the front.
    let names: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
    let line = format!("RMSG $G foo + r {} 1\r\nx\r\n", names.join(" "));
    let Ok(PeerStatus::Complete(PeerOp::Msg(m), _)) = p.parse(line.as_bytes()) else {
        panic!()
    };
    let got: Vec<String> = m
        .queues
        .iter()
        .map(|q| String::from_utf8(q.to_vec()).unwrap())
        .collect();
    assert_eq!(got, names);
    assert_eq!(m.msg.reply, b"r");
}

type ErrCase<'a> = (&'a [u8], Result<PeerStatus<'a>, PeerError>);

fn check_errors(p: &mut PeerParser, cases: &[ErrCase<'_>]) {
    for (input, want) in cases {
        assert_eq!(
            &p.parse(input),
            want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn args(s: &str) -> Result<PeerStatus<'static>, PeerError> {
    Err(PeerError::Args(s.to_string()))
}

#[test]
fn route_errors() {
    use PeerError::*;
    // Texts as nats-server 2.15.1 logged them for these inputs.
    check_errors(
        &mut route(),
        &[
            (b"MSG foo 1 1\r\nx\r\n", Err(UnknownOp)),
            (b"AU foo\r\n", Err(UnknownOp)),
            (b"A foo\r\n", Err(UnknownOp)),
            (b"A+foo\r\n", Err(UnknownOp)),
            (b"RSX", Err(UnknownOp)),
            (b"RX", Err(UnknownOp)),
            (b"RMSX", Err(UnknownOp)),
            (b"RS+\r\n", Err(UnknownOp)),
            (b"LMSGX", Err(UnknownOp)),
            (b"GET / HTTP/1.1\r\n", Err(UnknownOp)),
            (b"\r\n", Err(UnknownOp)),
            (b"RMSG $G foo 1\r\nxy\r\n", Err(UnknownOp)),
            (b"RMSG $G foo 1\r\nx\n", Err(UnknownOp)),
            (b"RS+ $G\r\n", args("processRemoteSub Parse Error: 'R $G'")),
            (
                b"RS+ $G foo q\r\n",
                args("processRemoteSub Parse Error: 'R $G foo q'"),
            ),
            (
                b"RS+ $G foo q 1 2\r\n",
                args("processRemoteSub Parse Error: 'R $G foo q 1 2'"),
            ),
            (b"LS+ X $G\r\n", args("processRemoteSub Parse Error: 'L X $G'")),
            (b"RS- $G\r\n", args("processRemoteUnsub parse error: '$G'")),
            (
                b"RS- $G foo q x\r\n",
                args("processRemoteUnsub parse error: '$G foo q x'"),
            ),
            (
                b"LS- X $G foo q\r\n",
                args("processRemoteUnsub parse error: 'X $G foo q'"),
            ),
            (
                b"RMSG $G foo\r\n",
                args("processRoutedMsgArgs Parse Error: '[$G foo]'"),
            ),
            (
                b"RMSG $G foo bar baz 1\r\n",
                args("processRoutedMsgArgs Bad or Missing Reply Indicator: 'bar'"),
            ),
            (
                b"RMSG $G foo x\r\n",
                args("processRoutedMsgArgs Bad or Missing Size: '[$G foo x]'"),
            ),
            (
                b"RMSG $G foo -1\r\n",
                args("processRoutedMsgArgs Bad or Missing Size: '[$G foo -1]'"),
            ),
            (
                b"RMSG $G foo 1000000000\r\n",
                args("processRoutedMsgArgs Bad or Missing Size: '[$G foo 1000000000]'"),
            ),
            (
                b"HMSG $G foo 2\r\n",
                args("processRoutedHeaderMsgArgs Parse Error: '[$G foo 2]'"),
            ),
            (
                b"HMSG $G foo x 2\r\n",
                args("processRoutedHeaderMsgArgs Bad or Missing Header Size: '$G foo x 2'"),
            ),
            (
                b"HMSG $G foo 1 x\r\n",
                args("processRoutedHeaderMsgArgs Bad or Missing Size: '[$G foo 1 x]'"),
            ),
            (
                b"HMSG $G foo 3 2\r\n",
                args("processRoutedHeaderMsgArgs Header Size larger then TotalSize: '$G foo 3 2'"),
            ),
            (
                b"HMSG $G foo ++ r q 1 2\r\n",
                args("processRoutedHeaderMsgArgs Bad or Missing Reply Indicator: '++'"),
            ),
            (
                b"LMSG LC $G foo 2\r\n",
                args("processRoutedOriginClusterMsgArgs Parse Error: '[LC $G foo 2]'"),
            ),
            (
                b"LMSG LC $G foo x 2 1 1\r\n",
                args("processRoutedOriginClusterMsgArgs Bad or Missing Reply Indicator: 'x'"),
            ),
            (
                b"LMSG LC $G foo 3 2\r\n",
                args("processRoutedOriginClusterMsgArgs Header Size larger then TotalSize: 'LC $G foo 3 2'"),
            ),
            (b"PUB foo\r\n", args("processPub Parse Error: \"foo\"")),
            (b"PUB foo x\r\n", args("processPub Bad or Missing Size: \"foo x\"")),
            (
                b"HPUB foo 1\r\n",
                args("processHeaderPub Parse Error: \"foo 1\""),
            ),
            (
                b"HPUB foo 3 2\r\n",
                args("processHeaderPub Header Size larger then TotalSize: \"foo 3 2\""),
            ),
        ],
    );
    let mut p = route();
    p.set_headers(false);
    check_errors(&mut p, &[(b"HPUB foo 0 2\r\n", Err(HeadersNotSupported))]);
    // HMSG does not depend on the headers flag, as in nats.
    assert!(matches!(
        p.parse(b"HMSG $G foo 0 2\r\nhi\r\n"),
        Ok(PeerStatus::Complete(PeerOp::Msg(_), 21))
    ));
}

#[test]
fn leaf_errors() {
    use PeerError::*;
    check_errors(
        &mut leaf(),
        &[
            (b"MSG foo 1\r\n", Err(UnknownOp)),
            (b"AU x\r\n", Err(UnknownOp)),
            (
                b"LS+ foo q\r\n",
                args("processLeafSub Parse Error: 'foo q'"),
            ),
            (
                b"SUB foo 1\r\n",
                args("processLeafSub Parse Error: 'foo 1'"),
            ),
            (
                b"LS+ a b c d\r\n",
                args("processLeafSub Parse Error: 'a b c d'"),
            ),
            (
                b"LMSG foo\r\n",
                args("processLeafMsgArgs Parse Error: '[foo]'"),
            ),
            (
                b"LMSG foo bar baz 1\r\n",
                args("processLeafMsgArgs Bad or Missing Reply Indicator: 'bar'"),
            ),
            (
                b"LMSG foo x\r\n",
                args("processLeafMsgArgs Bad or Missing Size: '[foo x]'"),
            ),
            (
                b"HMSG foo 1\r\n",
                args("processLeafHeaderMsgArgs Parse Error: '[foo 1]'"),
            ),
            (
                b"HMSG foo 2 1\r\n",
                args("processLeafHeaderMsgArgs Header Size larger then TotalSize: 'foo 2 1'"),
            ),
            (
                b"HMSG foo x 1\r\n",
                args("processLeafHeaderMsgArgs Bad or Missing Header Size: 'foo x 1'"),
            ),
            (b"LMSG foo 2\r\nhiX\r\n", Err(UnknownOp)),
        ],
    );
}

#[test]
fn payload_limit_applies_to_leafs_only() {
    let lim = limits(4096, 1024);
    // Routes: nats' route mpay is -1; a 5000-byte RMSG passes a 1024 max_payload.
    let mut p = PeerParser::new(PeerKind::Route, lim);
    p.set_headers(true);
    for head in [
        "RMSG $G foo 5000\r\n",
        "HMSG $G foo 0 5000\r\n",
        "LMSG X $G foo 0 5000\r\n",
        "PUB foo 5000\r\n",
        "HPUB foo 0 5000\r\n",
    ] {
        let mut input = head.as_bytes().to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\r\n");
        let (ops, err) = parse_whole(&mut p, &input);
        assert_eq!((ops.len(), err), (1, None), "{head}");
    }
    assert_eq!(
        p.parse(b"RMSG $G foo 999999999\r\n"),
        Ok(PeerStatus::Incomplete)
    );
    assert_eq!(p.bytes_needed(), Some(23 + 999_999_999 + 2));
    // Leafs: -ERR 'Maximum Payload Violation' before any payload byte.
    let mut p = PeerParser::new(PeerKind::Leaf, lim);
    p.set_headers(true);
    for (head, size) in [
        ("LMSG foo 1025\r\n", 1025),
        ("RMSG foo r 5000\r\n", 5000),
        ("HMSG foo 12 1025\r\n", 1025),
        ("PUB foo 1025\r\n", 1025),
        ("HPUB foo 0 1025\r\n", 1025),
    ] {
        assert_eq!(
            p.parse(head.as_bytes()),
            Err(PeerError::MaxPayload { size }),
            "{head}"
        );
    }
    assert_eq!(p.parse(b"LMSG foo 1024\r\n"), Ok(PeerStatus::Incomplete));
    p.set_limits(limits(4096, NO_PAYLOAD_LIMIT));
    assert_eq!(p.parse(b"LMSG foo 5000\r\n"), Ok(PeerStatus::Incomplete));
    // Any other negative max_payload rejects everything, as in nats.
    p.set_limits(limits(4096, -2));
    assert_eq!(
        p.parse(b"LMSG foo 0\r\n\r\n"),
        Err(PeerError::MaxPayload { size: 0 })
    );
}

#[test]
fn control_line_is_sixteen_times_the_limit() {
    for kind in [PeerKind::Route, PeerKind::Leaf] {
        // max_control_line 8: lines up to 128 bytes of argument.
        let mut p = PeerParser::new(kind, limits(8, MIB));
        let ok = format!("CONNECT {}\r\n", "x".repeat(128));
        assert!(matches!(
            p.parse(ok.as_bytes()),
            Ok(PeerStatus::Complete(..))
        ));
        let over = format!("CONNECT {}\r\n", "x".repeat(129));
        assert_eq!(p.parse(over.as_bytes()), Err(PeerError::MaxControlLine));
        assert_eq!(
            p.parse(&over.as_bytes()[..8 + 129]),
            Err(PeerError::MaxControlLine)
        );
        assert_eq!(
            p.parse(&over.as_bytes()[..8 + 128]),
            Ok(PeerStatus::Incomplete)
        );
        let ping = format!("PING{}\r\n", " ".repeat(129));
        assert_eq!(p.parse(ping.as_bytes()), Err(PeerError::MaxControlLine));
    }
    // Default: 64 KiB.
    let mut p = route();
    let q = "q".repeat(65536 - "$G foo | ".len() - 2);
    let ok = format!("RMSG $G foo | {q} 1\r\nx\r\n");
    assert!(matches!(
        p.parse(ok.as_bytes()),
        Ok(PeerStatus::Complete(..))
    ));
    let over = format!("RMSG $G foo | {q}q 1\r\nx\r\n");
    assert_eq!(p.parse(over.as_bytes()), Err(PeerError::MaxControlLine));
    // A huge configured limit saturates instead of overflowing.
    let mut p = PeerParser::new(PeerKind::Route, limits(usize::MAX, MIB));
    assert_eq!(p.parse(b"RS+ $G foo\r\n").map(|_| ()), Ok(()));
}

#[test]
fn expect_connect() {
    for kind in [PeerKind::Route, PeerKind::Leaf] {
        let mut p = PeerParser::new(kind, Limits::default());
        p.set_expect_connect(true);
        for input in [
            "PING\r\n",
            "INFO {}\r\n",
            "RS+ $G foo\r\n",
            "LS+ foo\r\n",
            "x",
            "\r\n",
        ] {
            assert_eq!(
                p.parse(input.as_bytes()),
                Err(PeerError::NotConnect),
                "{input}"
            );
        }
        assert_eq!(p.parse(b"C"), Ok(PeerStatus::Incomplete));
        assert_eq!(p.parse(b"CX"), Err(PeerError::UnknownOp));
        assert_eq!(
            p.parse(b"CONNECT {}\r\n"),
            Ok(PeerStatus::Complete(PeerOp::Connect(b"{}"), 12))
        );
        p.set_expect_connect(false);
        assert_eq!(
            p.parse(b"PING\r\n"),
            Ok(PeerStatus::Complete(PeerOp::Ping, 6))
        );
    }
    // A leaf listener with compression lets INFO come first; nothing else.
    let mut p = PeerParser::new(PeerKind::Leaf, Limits::default());
    p.set_expect_connect(true);
    p.set_info_before_connect(true);
    assert_eq!(
        p.parse(b"iNFO {}\r\n"),
        Ok(PeerStatus::Complete(PeerOp::Info(b"{}"), 9))
    );
    assert_eq!(p.parse(b"IX\r\n"), Err(PeerError::UnknownOp));
    assert_eq!(p.parse(b"PING\r\n"), Err(PeerError::NotConnect));
    // ...and never on a route.
    let mut p = PeerParser::new(PeerKind::Route, Limits::default());
    p.set_expect_connect(true);
    p.set_info_before_connect(true);
    assert_eq!(p.parse(b"INFO {}\r\n"), Err(PeerError::NotConnect));
}

#[test]
fn err_texts_and_close_reasons() {
    use PeerError::*;
    let cases = [
        (
            UnknownOp,
            Some("Unknown Protocol Operation"),
            CloseReason::ProtocolViolation,
        ),
        (
            MaxControlLine,
            Some("maximum control line exceeded"),
            CloseReason::MaxControlLineExceeded,
        ),
        (
            MaxPayload { size: 2 },
            Some("Maximum Payload Violation"),
            CloseReason::MaxPayloadExceeded,
        ),
        (HeadersNotSupported, None, CloseReason::ProtocolViolation),
        (
            NotConnect,
            Some("Authorization Violation"),
            CloseReason::AuthenticationViolation,
        ),
        (Args("x".into()), None, CloseReason::ProtocolViolation),
    ];
    for (e, text, reason) in cases {
        assert_eq!(e.err_text(), text, "{e:?}");
        assert_eq!(e.close_reason(), reason, "{e:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn incomplete_prefixes_and_bytes_needed() {
    let mut p = route();
    for input in [
        "",
        "R",
        "RS",
        "RS+",
        "RS+ ",
        "RS+ $G foo",
        "RS+ $G foo\r",
        "RM",
        "RMSG",
        "RMSG ",
        "L",
        "LS",
        "LM",
        "A",
        "A+",
        "A+ ",
        "H",
        "HM",
        "P",
        "PI",
        "+",
        "-ER",
        "INFO",
    ] {
        assert_eq!(
            p.parse(input.as_bytes()),
            Ok(PeerStatus::Incomplete),
            "{input:?}"
        );
        assert_eq!(p.bytes_needed(), None, "{input:?}");
    }
    assert_eq!(p.parse(b"RMSG $G foo 5\r\nhel"), Ok(PeerStatus::Incomplete));
    assert_eq!(p.bytes_needed(), Some(15 + 5 + 2));
    assert_eq!(
        p.parse(b"RMSG $G foo 5\r\nhello\r"),
        Ok(PeerStatus::Incomplete)
    );
    let r = p.parse(b"RMSG $G foo 5\r\nhello\r\nPI");
    assert!(matches!(r, Ok(PeerStatus::Complete(PeerOp::Msg(_), 22))));
    assert_eq!(p.bytes_needed(), None);
    // A shorter buffer than the cached line (a caller bug) is reparsed, panic free.
    assert_eq!(
        p.parse(b"LMSG X $G foo 0 5\r\n"),
        Ok(PeerStatus::Incomplete)
    );
    assert_eq!(
        p.parse(b"PING\r\n"),
        Ok(PeerStatus::Complete(PeerOp::Ping, 6))
    );
    assert_eq!(
        p.parse(b"LMSG X $G foo 0 5\r\n"),
        Ok(PeerStatus::Incomplete)
    );
    assert_eq!(p.parse(&[0xff; 40]), Err(PeerError::UnknownOp));
}

fn route_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(
        b"CONNECT {\"echo\":true,\"verbose\":false,\"name\":\"N\",\"cluster\":\"C1\"}\r\n",
    );
    s.extend_from_slice(b"INFO {\"server_id\":\"N\",\"lnoc\":true} \r\n");
    s.extend_from_slice(b"RS+ $G orders.new\r\n");
    s.extend_from_slice(b"RS+ $G work.> WORKERS 1\r\n");
    s.extend_from_slice(b"LS+ LEAFC $G bar q1 2\r\n");
    s.extend_from_slice(b"RMSG $G work.a | WORKERS 6\r\nhello!\r\n");
    s.extend_from_slice(b"RMSG $G foo + _INBOX.a q1 q2 0\r\n\r\n");
    s.extend_from_slice(b"HMSG $G foo rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    s.extend_from_slice(b"LMSG LEAFC $G foo rep 0 2\r\nhi\r\n");
    s.extend_from_slice(b"PING\r\nPONG\r\n+OK\r\n");
    s.extend_from_slice(b"SUB x 1\r\nA+ $G\r\nAu $G\r\n");
    s.extend_from_slice(b"PUB foo 4\r\n\r\n\r\n\r\n");
    s.extend_from_slice(b"RS- $G work.> WORKERS\r\nUNSUB $G orders.new\r\nLS- $G bar q1\r\n");
    s.extend_from_slice(b"RMSG $G big 300\r\n");
    s.extend(std::iter::repeat_n(b'z', 300));
    s.extend_from_slice(b"\r\n-ERR 'x y'\r\n");
    s
}

fn leaf_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"INFO {\"server_id\":\"H\",\"client_id\":5} \r\n");
    s.extend_from_slice(b"CONNECT {\"version\":\"2.15.1\",\"headers\":true}\r\n");
    s.extend_from_slice(b"LS+ $LDS.26VqHkL0fMcjV5LtUkCYCy\r\nLS+ bar q1 2\r\n");
    s.extend_from_slice(b"LMSG edge.svc + _INBOX.N NATS-RPLY-22 3\r\nabc\r\n");
    s.extend_from_slice(b"LMSG edge.work | W 6\r\nabcdef\r\n");
    s.extend_from_slice(b"HMSG edge.work | W 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    s.extend_from_slice(b"LMSG foo 0\r\n\r\nRMSG foo r 1\r\nx\r\n");
    s.extend_from_slice(b"SUB s\r\nUNSUB s\r\nLS- bar q1\r\nLS- a b c\r\nLS- \r\n");
    s.extend_from_slice(b"HPUB h r 0 2\r\nhi\r\nPUB p 1\r\nx\r\n");
    s.extend_from_slice(b"PING\r\n-ERR 'Loop detected'\r\nPONG\r\n");
    s
}

#[test]
fn streams_parse() {
    let (ops, err) = parse_whole(&mut route(), &route_stream());
    let seen: Vec<String> = ops.iter().map(describe).collect();
    assert_eq!((ops.len(), err), (21, None), "{seen:#?}");
    let (ops, err) = parse_whole(&mut leaf(), &leaf_stream());
    assert_eq!((ops.len(), err), (19, None));
    assert_eq!(describe(&ops[13]), "Ignored LeafUnsubNoFields \\r");
}

#[test]
fn every_split_point() {
    for (mk, input) in [
        (route as fn() -> PeerParser, route_stream()),
        (leaf as fn() -> PeerParser, leaf_stream()),
    ] {
        let whole = parse_whole(&mut mk(), &input);
        for cut in 0..=input.len() {
            assert_eq!(split_at(&mut mk(), &input, &[cut]), whole, "cut {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunked(&mut mk(), &bytes), whole);
    }
}

#[test]
fn every_split_point_of_failures() {
    let inputs: &[(PeerKind, &[u8])] = &[
        (PeerKind::Route, b"PING\r\nRMSG $G foo 3\r\nabcX\r\n"),
        (PeerKind::Route, b"RS+ $G foo\r\nRS+ $G\r\n"),
        (PeerKind::Route, b"PING\r\nMSG foo 1 1\r\nx\r\n"),
        (PeerKind::Route, b"PONG\r\nRMSG $G foo | q1 q2 q3 qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq 1\r\n"),
        (PeerKind::Route, b"PING\r\nLMSG LC $G foo 3 2\r\n"),
        (PeerKind::Leaf, b"LS+ foo\r\nLMSG foo 99\r\n"),
        (PeerKind::Leaf, b"PING\r\nAU x\r\n"),
        (PeerKind::Leaf, b"LS+ a b\r\n"),
    ];
    for (kind, input) in inputs {
        let mk = || {
            let mut p = PeerParser::new(*kind, limits(4, 32));
            p.set_headers(true);
            p
        };
        let whole = parse_whole(&mut mk(), input);
        assert!(whole.1.is_some(), "{input:?}");
        for cut in 0..=input.len() {
            assert_eq!(split_at(&mut mk(), input, &[cut]), whole, "cut {cut}");
        }
    }
}

// -----------------------------------------------------------------------------------
// Encoders.

const HDR_MSG: &str = "NATS/1.0\r\n\r\nhi";

fn m<'a>(
    subject: &'a str,
    reply: &'a str,
    hdr: Option<&'a str>,
    size: &'a str,
    data: &'a str,
) -> Message<'a> {
    Message {
        subject: subject.as_bytes(),
        reply: reply.as_bytes(),
        header_len: hdr.map_or(0, |h| h.parse().unwrap()),
        header_text: hdr.unwrap_or("").as_bytes(),
        size_text: size.as_bytes(),
        data: data.as_bytes(),
    }
}

fn route_line(peer: &RoutePeer, origin: Option<&str>, mm: &Message<'_>, qs: &[&str]) -> String {
    let mut out = Vec::new();
    write_route_msg(
        &mut out,
        peer,
        b"$G",
        origin.map(str::as_bytes),
        mm,
        qs.iter().map(|q| q.as_bytes()),
    );
    String::from_utf8(out).unwrap()
}

fn leaf_line(headers: bool, mm: &Message<'_>, qs: &[&str]) -> String {
    let mut out = Vec::new();
    write_leaf_msg(&mut out, headers, mm, qs.iter().map(|q| q.as_bytes()));
    String::from_utf8(out).unwrap()
}

/// Peer, origin, message, queues, the expected bytes.
type RouteCase<'a> = (
    &'a RoutePeer,
    Option<&'a str>,
    &'a Message<'a>,
    &'a [&'a str],
    &'a str,
);

#[test]
fn route_messages_as_nats_writes_them() {
    let hp = RoutePeer {
        lnoc: true,
        lnocu: true,
        headers: true,
        account_bound: false,
    };
    let nh = RoutePeer {
        headers: false,
        ..hp
    };
    let plain = m("foo", "", None, "2", "hi");
    let padded = m("foo", "rep", None, "02", "hi");
    let with_hdr = m("foo", "", Some("12"), "14", HDR_MSG);
    let zero_hdr = m("foo", "rep", Some("0"), "2", "hi");
    let bar_hdr = m("bar", "rep", Some("12"), "14", HDR_MSG);
    let bar = m("bar", "", None, "2", "hi");
    let bar_rep = m("bar", "rep", None, "2", "hi");
    // Lines observed from nats-server 2.15.1 delivering to a fake route peer.
    let cases: &[RouteCase<'_>] = &[
        (&hp, None, &plain, &[], "RMSG $G foo 2\r\nhi\r\n"),
        (&hp, None, &padded, &[], "RMSG $G foo rep 02\r\nhi\r\n"),
        (
            &hp,
            None,
            &with_hdr,
            &[],
            "HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        ),
        (&hp, None, &zero_hdr, &[], "RMSG $G foo rep 2\r\nhi\r\n"),
        (
            &hp,
            None,
            &bar,
            &["q1", "q2"],
            "RMSG $G bar | q1 q2 2\r\nhi\r\n",
        ),
        (
            &hp,
            None,
            &bar_rep,
            &["q1", "q2"],
            "RMSG $G bar + rep q1 q2 2\r\nhi\r\n",
        ),
        (
            &hp,
            None,
            &bar_hdr,
            &["q1", "q2"],
            "HMSG $G bar + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        ),
        (&hp, Some("LC"), &plain, &[], "LMSG LC $G foo 0 2\r\nhi\r\n"),
        (
            &hp,
            Some("LC"),
            &m("foo", "rep", None, "2", "hi"),
            &[],
            "LMSG LC $G foo rep 0 2\r\nhi\r\n",
        ),
        (
            &hp,
            Some("LC"),
            &with_hdr,
            &[],
            "LMSG LC $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        ),
        (
            &hp,
            Some("LC"),
            &bar_rep,
            &["q1"],
            "LMSG LC $G bar + rep q1 0 2\r\nhi\r\n",
        ),
        (
            &hp,
            Some("LC"),
            &bar,
            &["q1"],
            "LMSG LC $G bar | q1 0 2\r\nhi\r\n",
        ),
        // A peer without headers: stripped, size recomputed (observed).
        (&nh, None, &with_hdr, &[], "RMSG $G foo 2\r\nhi\r\n"),
        (
            &nh,
            None,
            &bar_hdr,
            &["q1", "q2"],
            "RMSG $G bar + rep q1 q2 2\r\nhi\r\n",
        ),
        // nats writes `LMSG LC $G foo 12 14` with a 2-byte payload here; we keep the
        // frame consistent.
        (
            &nh,
            Some("LC"),
            &with_hdr,
            &[],
            "LMSG LC $G foo 0 2\r\nhi\r\n",
        ),
        // A peer without lnoc gets RMSG, the origin dropped.
        (
            &RoutePeer { lnoc: false, ..hp },
            Some("LC"),
            &plain,
            &[],
            "RMSG $G foo 2\r\nhi\r\n",
        ),
        // A pinned route: no account token.
        (
            &RoutePeer {
                account_bound: true,
                ..hp
            },
            None,
            &bar_rep,
            &["q"],
            "RMSG bar + rep q 2\r\nhi\r\n",
        ),
        (
            &RoutePeer {
                account_bound: true,
                ..hp
            },
            Some("LC"),
            &plain,
            &[],
            "LMSG LC foo 0 2\r\nhi\r\n",
        ),
    ];
    for (peer, origin, mm, qs, want) in cases {
        assert_eq!(route_line(peer, *origin, mm, qs), *want);
    }
}

#[test]
fn leaf_messages_as_nats_writes_them() {
    let with_hdr = m("foo", "", Some("12"), "14", HDR_MSG);
    let bar_hdr = m("bar", "rep", Some("12"), "14", HDR_MSG);
    // Observed from nats-server 2.15.1 delivering to a fake leaf.
    let cases: &[(bool, &Message<'_>, &[&str], &str)] = &[
        (
            true,
            &m("foo", "", None, "2", "hi"),
            &[],
            "LMSG foo 2\r\nhi\r\n",
        ),
        (
            true,
            &m("foo", "rep", None, "02", "hi"),
            &[],
            "LMSG foo rep 02\r\nhi\r\n",
        ),
        (
            true,
            &with_hdr,
            &[],
            "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        ),
        (
            true,
            &m("foo", "rep", Some("0"), "2", "hi"),
            &[],
            "LMSG foo rep 2\r\nhi\r\n",
        ),
        (
            true,
            &m("bar", "", None, "2", "hi"),
            &["q1"],
            "LMSG bar | q1 2\r\nhi\r\n",
        ),
        (
            true,
            &m("bar", "rep", None, "2", "hi"),
            &["q1"],
            "LMSG bar + rep q1 2\r\nhi\r\n",
        ),
        (
            true,
            &bar_hdr,
            &["q1"],
            "HMSG bar + rep q1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        ),
        (false, &with_hdr, &[], "LMSG foo 2\r\nhi\r\n"),
        (false, &bar_hdr, &["q1"], "LMSG bar + rep q1 2\r\nhi\r\n"),
    ];
    for (headers, mm, qs, want) in cases {
        assert_eq!(leaf_line(*headers, mm, qs), *want);
    }
}

#[test]
fn interest_lines_as_nats_writes_them() {
    let peer = RoutePeer {
        lnoc: true,
        lnocu: true,
        headers: true,
        account_bound: false,
    };
    let line = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    };
    let cases: &[(String, &str)] = &[
        (
            line(&|o| write_route_sub(o, &peer, b"$G", None, b"orders.new", None)),
            "RS+ $G orders.new\r\n",
        ),
        (
            line(&|o| write_route_sub(o, &peer, b"$G", None, b"work.>", Some((b"WORKERS", 1)))),
            "RS+ $G work.> WORKERS 1\r\n",
        ),
        (
            line(&|o| write_route_sub(o, &peer, b"$G", Some(b"LEAFC"), b"bar", Some((b"q1", 2)))),
            "LS+ LEAFC $G bar q1 2\r\n",
        ),
        (
            line(&|o| {
                write_route_sub(
                    o,
                    &RoutePeer {
                        lnoc: false,
                        ..peer
                    },
                    b"$G",
                    Some(b"LEAFC"),
                    b"bar",
                    None,
                )
            }),
            "RS+ $G bar\r\n",
        ),
        (
            line(&|o| {
                write_route_sub(
                    o,
                    &RoutePeer {
                        account_bound: true,
                        ..peer
                    },
                    b"$G",
                    None,
                    b"x",
                    Some((b"q", 1234567)),
                )
            }),
            "RS+ x q 1234567\r\n",
        ),
        (
            line(&|o| write_route_unsub(o, &peer, b"$G", None, b"work.>", Some(b"WORKERS"))),
            "RS- $G work.> WORKERS\r\n",
        ),
        (
            line(&|o| write_route_unsub(o, &peer, b"$G", Some(b"LC"), b"bar", Some(b"q1"))),
            "LS- LC $G bar q1\r\n",
        ),
        (
            line(&|o| {
                write_route_unsub(
                    o,
                    &RoutePeer {
                        lnocu: false,
                        ..peer
                    },
                    b"$G",
                    Some(b"LC"),
                    b"bar",
                    None,
                )
            }),
            "LS- $G bar\r\n",
        ),
        (
            line(&|o| {
                write_route_unsub(
                    o,
                    &RoutePeer {
                        lnoc: false,
                        ..peer
                    },
                    b"$G",
                    Some(b"LC"),
                    b"bar",
                    None,
                )
            }),
            "RS- $G bar\r\n",
        ),
        (
            line(&|o| write_leaf_sub(o, b"$LDS.26VqHkL0fMcjV5LtUkCYCy", None)),
            "LS+ $LDS.26VqHkL0fMcjV5LtUkCYCy\r\n",
        ),
        (
            line(&|o| write_leaf_sub(o, b"bar", Some((b"q1", 2)))),
            "LS+ bar q1 2\r\n",
        ),
        (
            line(&|o| write_leaf_unsub(o, b"bar", Some(b"q1"))),
            "LS- bar q1\r\n",
        ),
        (line(&|o| write_leaf_unsub(o, b"bar", None)), "LS- bar\r\n"),
        (
            line(&|o| write_leaf_sub(o, b"bar", Some((b"q1", -1)))),
            "LS+ bar q1 -1\r\n",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

fn parse_one_owned(p: &mut PeerParser, input: &[u8]) -> OwnedPeerOp {
    match p.parse(input) {
        Ok(PeerStatus::Complete(op, n)) => {
            assert_eq!(n, input.len(), "{:?}", String::from_utf8_lossy(input));
            op.to_owned_op()
        }
        other => panic!("{other:?} for {:?}", String::from_utf8_lossy(input)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// encode → parse gives back the fields, for every form the encoders write.
    #[test]
    fn messages_round_trip(
        subject in "[a-z.>*]{1,8}",
        reply in prop::option::of("[A-Z_.a-z]{1,8}"),
        queues in prop::collection::vec("[a-z0-9]{1,5}", 0..4),
        origin in prop::option::of("[A-Z]{1,4}"),
        header_len in prop::option::of(1usize..6),
        payload in "[ -~]{0,12}",
        lnoc: bool, bound: bool,
    ) {
        let data = format!("{}{payload}", "h".repeat(header_len.unwrap_or(0)));
        let hdr_text = header_len.map(|h| h.to_string()).unwrap_or_default();
        let size_text = data.len().to_string();
        let msg = Message {
            subject: subject.as_bytes(),
            reply: reply.as_deref().unwrap_or("").as_bytes(),
            header_len: header_len.unwrap_or(0),
            header_text: hdr_text.as_bytes(),
            size_text: size_text.as_bytes(),
            data: data.as_bytes(),
        };
        let qs: Vec<&[u8]> = queues.iter().map(|q| q.as_bytes()).collect();
        let peer = RoutePeer { lnoc, lnocu: true, headers: true, account_bound: bound };
        let mut out = Vec::new();
        write_route_msg(&mut out, &peer, b"ACC", origin.as_deref().map(str::as_bytes), &msg, qs.iter().copied());
        let mut p = route();
        if bound {
            p.set_account_bound(Some(b"ACC"));
        }
        let OwnedPeerOp::Msg(got) = parse_one_owned(&mut p, &out) else { panic!() };
        let is_lmsg = lnoc && origin.is_some();
        prop_assert_eq!(got.origin.clone(), origin.clone().filter(|_| lnoc).map(String::into_bytes));
        prop_assert_eq!(got.account.clone(), (!bound).then(|| b"ACC".to_vec()));
        prop_assert_eq!(&got.subject, subject.as_bytes());
        prop_assert_eq!(&got.reply, msg.reply);
        prop_assert_eq!(&got.queues, &queues.iter().map(|q| q.clone().into_bytes()).collect::<Vec<_>>());
        prop_assert_eq!(got.header_len, msg.header_len);
        prop_assert_eq!(&got.data, data.as_bytes());
        let verb = if is_lmsg { MsgVerb::Lmsg } else if header_len.is_some() { MsgVerb::Hmsg } else { MsgVerb::Rmsg };
        prop_assert_eq!(got.verb, verb);

        // To a leaf.
        let mut out = Vec::new();
        write_leaf_msg(&mut out, true, &msg, qs.iter().copied());
        let OwnedPeerOp::Msg(got) = parse_one_owned(&mut leaf(), &out) else { panic!() };
        prop_assert_eq!((got.origin, got.account), (None, None));
        prop_assert_eq!(&got.subject, subject.as_bytes());
        prop_assert_eq!(&got.reply, msg.reply);
        prop_assert_eq!(got.queues.len(), queues.len());
        prop_assert_eq!(got.header_len, msg.header_len);
        prop_assert_eq!(&got.data, data.as_bytes());

        // Headers stripped for peers without them.
        let mut out = Vec::new();
        write_leaf_msg(&mut out, false, &msg, qs.iter().copied());
        let OwnedPeerOp::Msg(got) = parse_one_owned(&mut leaf(), &out) else { panic!() };
        prop_assert_eq!(got.header_len, 0);
        prop_assert_eq!(&got.data, payload.as_bytes());
    }

    #[test]
    fn interest_round_trips(
        subject in "[a-z.>*]{1,8}",
        queue in prop::option::of(("[a-z0-9]{1,5}", 1i32..100_000)),
        origin in prop::option::of("[A-Z]{1,4}"),
        bound: bool, lnocu: bool,
    ) {
        let peer = RoutePeer { lnoc: true, lnocu, headers: true, account_bound: bound };
        let mut p = route();
        p.set_unsub_origin(lnocu);
        if bound {
            p.set_account_bound(Some(b"ACC"));
        }
        let o = origin.as_deref().map(str::as_bytes);
        let q = queue.as_ref().map(|(q, w)| (q.as_bytes(), *w));
        let mut out = Vec::new();
        write_route_sub(&mut out, &peer, b"ACC", o, subject.as_bytes(), q);
        let OwnedPeerOp::Sub(sub) = parse_one_owned(&mut p, &out) else { panic!() };
        prop_assert_eq!(sub.origin.as_deref(), o);
        prop_assert_eq!(sub.account.clone(), (!bound).then(|| b"ACC".to_vec()));
        prop_assert_eq!(&sub.subject, subject.as_bytes());
        prop_assert_eq!(sub.queue.as_deref(), q.map(|q| q.0));
        prop_assert_eq!(sub.weight, q.map_or(1, |q| q.1));
        // The RS-/LS- written for it finds the same nats key.
        let mut out = Vec::new();
        write_route_unsub(&mut out, &peer, b"ACC", o, subject.as_bytes(), q.map(|q| q.0));
        let OwnedPeerOp::Unsub(unsub) = parse_one_owned(&mut p, &out) else { panic!() };
        prop_assert_eq!((unsub.key_prefix, &unsub.key), (sub.key_prefix, &sub.key));
        prop_assert_eq!(&unsub.subject, subject.as_bytes());

        // Leafs.
        let mut out = Vec::new();
        write_leaf_sub(&mut out, subject.as_bytes(), q);
        let OwnedPeerOp::Sub(sub) = parse_one_owned(&mut leaf(), &out) else { panic!() };
        prop_assert_eq!(sub.weight, q.map_or(1, |q| q.1));
        let mut out = Vec::new();
        write_leaf_unsub(&mut out, subject.as_bytes(), q.map(|q| q.0));
        let OwnedPeerOp::Unsub(unsub) = parse_one_owned(&mut leaf(), &out) else { panic!() };
        prop_assert_eq!(&unsub.key, &sub.key);
    }
}

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let token = "[a-zA-Z0-9._>*$]{1,6}";
    prop_oneof![
        3 => prop::sample::select(vec![
            "PING\r\n", "PONG\r\n", "+OK\r\n", "CONNECT {}\r\n", "INFO {}\r\n", "-ERR 'x'\r\n",
            "RS+ $G foo\r\n", "RS+ $G foo q 2\r\n", "RS- $G foo\r\n", "LS+ O $G f\r\n",
            "LS- O $G f q\r\n", "LS- $G f\r\n", "LS+ f\r\n", "LS+ f q 3\r\n", "LS- f\r\n",
            "SUB a\r\n", "UNSUB a\r\n", "A+ x\r\n", "Au x\r\n", "LS- \r\n",
            "\r\n", " ", "\t", "\r", "\n", "RMSG", "LMSG ", "HMSG ", "RS", "L", "A", "+",
            "\x00", "\u{ff}", "|", "+ ",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        3 => (token, prop::option::of(token), prop::collection::vec(token, 0..3), 0usize..12, any::<bool>())
            .prop_map(|(s, r, qs, n, route_form)| {
                let mid = match (r, qs.is_empty()) {
                    (Some(r), false) => format!("+ {r} {} ", qs.join(" ")),
                    (None, false) => format!("| {} ", qs.join(" ")),
                    (Some(r), true) => format!("{r} "),
                    (None, true) => String::new(),
                };
                let head = if route_form { "RMSG $G " } else { "LMSG " };
                format!("{head}{s} {mid}{n}\r\n{}\r\n", "p".repeat(n)).into_bytes()
            }),
        2 => (token, 0usize..6, 0usize..6, 0u8..3).prop_map(|(s, h, extra, form)| {
            let t = h + extra;
            let head = match form {
                0 => "HMSG $G ".to_string(),
                1 => "LMSG LC $G ".to_string(),
                _ => "HMSG ".to_string(),
            };
            format!("{head}{s} {h} {t}\r\n{}\r\n", "h".repeat(t)).into_bytes()
        }),
        1 => (token, 0usize..8).prop_map(|(s, n)| {
            format!("PUB {s} {n}\r\n{}\r\n", "u".repeat(n)).into_bytes()
        }),
        2 => prop::collection::vec(
            prop::sample::select(b"RLSMGHAPUBINOK+-|$ \t\r\n0123456789abxyz".to_vec()),
            0..12
        ),
        1 => prop::collection::vec(any::<u8>(), 0..10),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..12).prop_map(|f| f.concat())
}

#[derive(Debug, Clone, Copy)]
struct Cfg {
    route: bool,
    mcl: usize,
    maxp: i64,
    headers: bool,
    expect: bool,
    info_first: bool,
    bound: bool,
    lnocu: bool,
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        any::<bool>(),
        0usize..6,
        -2i64..40,
        any::<bool>(),
        prop::bool::weighted(0.1),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(route, mcl, maxp, headers, expect, info_first, bound, lnocu)| Cfg {
                route,
                mcl,
                maxp,
                headers,
                expect,
                info_first,
                bound,
                lnocu,
            },
        )
}

fn configured(c: Cfg) -> PeerParser {
    let kind = if c.route {
        PeerKind::Route
    } else {
        PeerKind::Leaf
    };
    let mut p = PeerParser::new(kind, limits(c.mcl, c.maxp));
    p.set_headers(c.headers);
    p.set_expect_connect(c.expect);
    p.set_info_before_connect(c.info_first);
    p.set_account_bound(c.bound.then_some(&b"ACC"[..]));
    p.set_unsub_origin(c.lnocu);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), c in cfg()) {
        parse_whole(&mut configured(c), &bytes);
    }

    #[test]
    fn split_invariance(input in input(), cuts in prop::collection::vec(0usize..400, 0..6), c in cfg()) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let whole = parse_whole(&mut configured(c), &input);
        let split = split_at(&mut configured(c), &input, &cuts);
        prop_assert_eq!(&split, &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let single = parse_chunked(&mut configured(c), &bytes);
        prop_assert_eq!(&single, &whole);
    }
}
