//! Shared pieces of the natrium fuzz targets: a parser driver that behaves like the server's
//! read loop (keep unconsumed bytes, append, call again) and the oracles every yielded op is
//! checked against. Kept in a library so `parser` and `parser_split` check exactly the same
//! things, and so a crash input can be replayed from a plain test.
//!
//! Input layout of both parser targets: byte 0 chooses the [`Config`], the rest is what the
//! client sends (`parser_split` takes its split points from a few more bytes first).

use natrium::proto::info::ClientOptions;
pub use natrium::proto::parser::OwnedOp;
use natrium::proto::parser::{Limits, Op, ParseError, Parser, Status, NO_PAYLOAD_LIMIT};

/// How the parser is set up and how the driver reacts to ops, chosen by one input byte so
/// the fuzzer explores small limits (cheap to hit) as well as the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub limits: Limits,
    /// `set_headers(true)` from the start.
    pub headers: bool,
    /// `set_expect_connect(true)` from the start (auth required); lifted by a CONNECT.
    pub expect_connect: bool,
    /// Act like the server on CONNECT: decode the JSON with `ClientOptions::apply_connect`,
    /// close on error, and turn headers on or off as the client asked.
    pub server_mode: bool,
}

impl Config {
    pub fn from_byte(b: u8) -> Config {
        const MCL: [usize; 4] = [16, 64, 1024, 4096];
        const MAX_PAYLOAD: [i64; 4] = [NO_PAYLOAD_LIMIT, 0, 32, 1024 * 1024];
        Config {
            limits: Limits {
                max_control_line: MCL[usize::from(b & 3)],
                max_payload: MAX_PAYLOAD[usize::from((b >> 2) & 3)],
            },
            headers: b & 0x10 != 0,
            expect_connect: b & 0x20 != 0,
            server_mode: b & 0x40 != 0,
        }
    }
}

/// How a connection's byte stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// All input used; this many bytes wait for more (a partial op).
    Incomplete { leftover: usize },
    /// The parser rejected the input: the server closes the connection.
    Error(ParseError),
    /// CONNECT JSON rejected (server mode): the server closes the connection.
    BadConnect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub ops: Vec<OwnedOp>,
    pub end: End,
}

/// nats' `parseSize`, written out again so the oracle does not trust the parser's copy.
pub fn parse_size(d: &[u8]) -> i64 {
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return -1;
    }
    d.iter().fold(0, |n, &c| n * 10 + i64::from(c - b'0'))
}

/// Where `part` starts inside `window`; panics if it is not a sub-slice (an op must borrow
/// from the buffer it was parsed from).
fn offset(window: &[u8], part: &[u8]) -> usize {
    let w = window.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    assert!(
        p >= w && p + part.len() <= w + window.len(),
        "op field is not inside the parsed buffer"
    );
    p - w
}

/// PUB/HPUB fields are split on space and tab only.
fn has_pub_ws(s: &[u8]) -> bool {
    s.iter().any(|&b| b == b' ' || b == b'\t')
}

/// SUB/UNSUB fields are split on space, tab, CR and LF (nats `splitArg`).
fn has_split_ws(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The verb an op was spelled with on the wire.
fn verb(op: &Op<'_>) -> &'static [u8] {
    match op {
        Op::Connect(_) => b"CONNECT",
        Op::Info(_) => b"INFO",
        Op::Pub { .. } => b"PUB",
        Op::Hpub { .. } => b"HPUB",
        Op::Sub { .. } => b"SUB",
        Op::Unsub { .. } => b"UNSUB",
        Op::Ping => b"PING",
        Op::Pong => b"PONG",
        Op::Ok => b"+OK",
        Op::Err(_) => b"-ERR",
        Op::Nop => b"HMSG",
    }
}

/// The oracles: what every op the parser yields must satisfy. `window` is the slice the
/// op was parsed from (it starts with the op), `consumed` what the parser said it took.
pub fn check_op(op: &Op<'_>, consumed: usize, window: &[u8], limits: Limits, headers: bool) {
    let mcl = limits.max_control_line;
    assert!(consumed >= 1, "Complete consumed nothing");
    assert!(
        consumed <= window.len(),
        "consumed {consumed} of {}",
        window.len()
    );
    let taken = &window[..consumed];
    let verb = verb(op);
    assert!(
        taken.len() >= verb.len() && taken[..verb.len()].eq_ignore_ascii_case(verb),
        "{op:?} does not start with its verb"
    );
    // The longest control line the limits allow: verb, a run of at most `mcl` blanks
    // (separator included), an argument of at most `mcl` bytes, a dropped byte and LF.
    let max_line = verb.len() + 2 * mcl + 2;
    // A message's control line, payload and CRLF, with the oracles shared by PUB and HPUB.
    let check_message = |subject: &[u8], reply: Option<&[u8]>, last: &[u8], data: &[u8]| {
        assert!(
            !subject.is_empty() && !has_pub_ws(subject),
            "bad subject {subject:?}"
        );
        if let Some(r) = reply {
            assert!(!r.is_empty() && !has_pub_ws(r), "bad reply {r:?}");
        }
        assert!(taken.ends_with(b"\r\n"), "message not ended by CRLF");
        let data_at = consumed - 2 - data.len();
        if !data.is_empty() {
            assert_eq!(offset(window, data), data_at, "payload not before the CRLF");
        }
        assert!(
            data_at <= max_line,
            "control line of {data_at} bytes, max_control_line {mcl}"
        );
        // The argument (subject .. size) is within the limit.
        let from = offset(window, subject);
        let to = offset(window, last) + last.len();
        assert!(
            to > from && to - from <= mcl,
            "argument of {} bytes",
            to - from
        );
        assert!(to < data_at, "argument runs into the payload");
        let max = limits.max_payload;
        if max != NO_PAYLOAD_LIMIT {
            assert!(
                i64::try_from(data.len()).unwrap_or(i64::MAX) <= max,
                "payload of {} over max_payload {max}",
                data.len()
            );
        }
    };
    match *op {
        Op::Pub {
            subject,
            reply,
            size_text,
            payload,
        } => {
            let size = parse_size(size_text);
            assert!(size >= 0, "PUB yielded with size text {size_text:?}");
            assert_eq!(size, payload.len() as i64, "PUB payload length");
            check_message(subject, reply, size_text, payload);
        }
        Op::Hpub {
            subject,
            reply,
            header_text,
            size_text,
            header_len,
            message,
        } => {
            assert!(headers, "HPUB yielded while headers are off");
            let total = parse_size(size_text);
            assert!(total >= 0, "HPUB yielded with size text {size_text:?}");
            assert_eq!(total, message.len() as i64, "HPUB message length");
            assert_eq!(
                parse_size(header_text),
                header_len as i64,
                "HPUB header_len"
            );
            assert!(header_len <= message.len(), "HPUB header_len > total");
            check_message(subject, reply, size_text, message);
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            assert!(
                !subject.is_empty() && !has_split_ws(subject),
                "bad SUB subject"
            );
            if let Some(q) = queue {
                assert!(!q.is_empty() && !has_split_ws(q), "bad SUB queue");
            }
            assert!(!sid.is_empty() && !has_split_ws(sid), "bad SUB sid");
            let from = offset(window, subject);
            let to = offset(window, sid) + sid.len();
            assert!(to > from && to - from <= mcl, "SUB argument over the limit");
            assert!(consumed <= max_line, "SUB line of {consumed} bytes");
            assert_eq!(taken.last(), Some(&b'\n'), "SUB line not ended by LF");
        }
        Op::Unsub { sid, max } => {
            assert!(!sid.is_empty() && !has_split_ws(sid), "bad UNSUB sid");
            assert!((-1..=999_999_999).contains(&max), "UNSUB max {max}");
            assert!(consumed <= max_line, "UNSUB line of {consumed} bytes");
            assert_eq!(taken.last(), Some(&b'\n'), "UNSUB line not ended by LF");
        }
        Op::Connect(arg) | Op::Info(arg) | Op::Err(arg) => {
            assert!(arg.len() <= mcl, "argument of {} bytes", arg.len());
            if !arg.is_empty() {
                assert!(offset(window, arg) + arg.len() < consumed);
            }
            assert!(consumed <= max_line, "line of {consumed} bytes");
            assert_eq!(taken.last(), Some(&b'\n'), "line not ended by LF");
        }
        Op::Ping | Op::Pong | Op::Ok => {
            // Junk up to the LF is bounded by the limit (a final CR not counted).
            assert!(consumed <= verb.len() + mcl + 2, "line of {consumed} bytes");
            assert_eq!(taken.last(), Some(&b'\n'), "line not ended by LF");
        }
        Op::Nop => {
            assert!(taken.ends_with(b"\r\n"), "HMSG not ended by CRLF");
            assert!(consumed <= max_line + 2, "HMSG line of {consumed} bytes");
        }
    }
}

/// Drives one connection's parser over `chunks` the way the server's read loop does: the
/// unconsumed tail is kept and each chunk appended to it. With `honor_needed`, calls are
/// skipped while `bytes_needed()` says the message cannot complete yet (also allowed); so
/// that a bad byte already present (say, no CR where the payload should end) is still seen,
/// the parser is called once more after the last chunk. Every op is checked with
/// [`check_op`].
pub fn run<'c>(
    cfg: Config,
    chunks: impl IntoIterator<Item = &'c [u8]>,
    honor_needed: bool,
) -> Transcript {
    let last: &[u8] = &[];
    let chunks = chunks
        .into_iter()
        .map(|c| (c, honor_needed))
        .chain(honor_needed.then_some((last, false)));
    let mut parser = Parser::new(cfg.limits);
    let mut headers = cfg.headers;
    let mut expect_connect = cfg.expect_connect;
    parser.set_headers(headers);
    parser.set_expect_connect(expect_connect);
    let mut ops = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut at = 0;
    for (chunk, honor_needed) in chunks {
        // Compact lazily, as a real read buffer would; the parser sees the same prefix.
        buf.drain(..at);
        at = 0;
        buf.extend_from_slice(chunk);
        loop {
            let window = &buf[at..];
            if honor_needed {
                if let Some(n) = parser.bytes_needed() {
                    if window.len() < n {
                        break;
                    }
                }
            }
            match parser.parse(window) {
                Ok(Status::Complete(op, n)) => {
                    check_op(&op, n, window, cfg.limits, headers);
                    if expect_connect {
                        assert!(
                            matches!(op, Op::Connect(_)),
                            "{op:?} accepted before CONNECT"
                        );
                    }
                    ops.push(op.to_owned_op());
                    if let Op::Connect(json) = op {
                        expect_connect = false;
                        parser.set_expect_connect(false);
                        if cfg.server_mode {
                            let mut opts = ClientOptions::default();
                            if opts.apply_connect(json).is_err() {
                                return Transcript {
                                    ops,
                                    end: End::BadConnect,
                                };
                            }
                            headers = opts.headers;
                            parser.set_headers(headers);
                        }
                    }
                    at += n;
                }
                Ok(Status::Incomplete) => {
                    if let Some(n) = parser.bytes_needed() {
                        assert!(n > window.len(), "bytes_needed {n} already there");
                    }
                    break;
                }
                Err(e) => {
                    if expect_connect {
                        // Only the first byte matters while CONNECT is awaited.
                        let first = window.first().copied().unwrap_or(b'C');
                        if !first.eq_ignore_ascii_case(&b'C') {
                            assert_eq!(e, ParseError::NotConnect);
                        }
                    }
                    return Transcript {
                        ops,
                        end: End::Error(e),
                    };
                }
            }
        }
    }
    Transcript {
        ops,
        end: End::Incomplete {
            leftover: buf.len() - at,
        },
    }
}
