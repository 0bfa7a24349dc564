//! The client-protocol parser: turns the bytes a NATS client sends into [`Op`]s, one operation
//! per call, with the exact acceptance rules of nats-server's `parse` state machine
//! (`server/parser.go`) and the argument handling of `processPub`, `processHeaderPub`,
//! `parseSub`/`splitArg` and `processUnsub` (`server/client.go`).
//!
//! What this module owns: recognising verbs, splitting control lines into arguments, the
//! control-line and payload limits, and deciding which malformed input is fatal and how. It
//! does not own what an op *means* (CONNECT JSON, subject validity, permissions): the caller
//! does that and flips [`Parser::set_headers`] / [`Parser::set_expect_connect`] after CONNECT.
//!
//! Invariants:
//! - Never panics and never allocates on a successful parse: every op borrows from the
//!   caller's buffer. Only the error path allocates (the [`ParseError::Args`] log text).
//! - Split invariance: the caller keeps every unconsumed byte and calls again with them plus
//!   new bytes, and the result is the same ops and the same error whatever the split points.
//!   nats-server is *not* split invariant in a few corners (below); where it is not we follow
//!   what it does when the whole op arrives in one read, which is the common case.
//! - Only state kept between calls: the parsed control line of a PUB/HPUB/HMSG whose payload
//!   has not fully arrived (so the line is not rescanned per read), and the two flags.
//! - A [`Status::Complete`] never consumes more than `buf.len()` bytes, and always at least 1.
//!
//! Exact nats quirks reproduced on purpose (they are observable on the wire):
//! - The first byte of an argument is never interpreted: `CONNECT\r\n` yields the argument
//!   `"\r"`, and after `PUB \n` the line goes on to the next `\n`.
//! - If any `\r` occurs in an argument, the byte before the terminating `\n` is dropped even
//!   when it is not the `\r` (nats' `drop` flag). So a PUB subject can contain `\r`, or start
//!   with `\n`; nats publishes such a subject, and so do we, the caller decides.
//! - Client-sent `HMSG <anything>` is followed by a zero-length message: `\r\n` must come next
//!   and the whole thing is swallowed ([`Op::Nop`]); anything else is an unknown op. (nats
//!   swallows it only when all of it arrives in one read, and errors otherwise; we always
//!   wait for the two bytes.)
//!
//! Deliberate differences from nats-server, all to bound the bytes a caller must buffer
//! before an op completes (nats discards these bytes as it goes, we cannot):
//! - The junk nats ignores between `PING`/`PONG`/`+OK` and the `\n` must not exceed
//!   `max_control_line` (a final `\r` not counted). nats has no bound there.
//! - The run of spaces/tabs between a verb and its argument must not exceed
//!   `max_control_line`. nats has no bound there.
//!
//!   Both are checked on complete lines as well as incomplete ones, so they stay split
//!   invariant; both can only reject input no real client sends.
//! - On an incomplete argument line we fail as soon as the bytes so far (minus one if a `\r`
//!   was seen) exceed the limit, which is exactly nats' check for a line split after those
//!   bytes; nats' own check on later reads undercounts `\r` bytes, so depends on the split.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use memchr::{memchr, memchr2};
use std::fmt;

/// The limits nats-server applies while parsing a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted argument part of a control line, in bytes (nats `max_control_line`).
    pub max_control_line: usize,
    /// Largest accepted PUB size / HPUB total size; [`NO_PAYLOAD_LIMIT`] disables the check.
    pub max_payload: i64,
}

/// The `max_payload` value meaning "no limit" (nats' `jwt.NoLimit`); any other negative value
/// rejects every message, as in nats.
pub const NO_PAYLOAD_LIMIT: i64 = -1;

impl Default for Limits {
    /// nats-server's defaults: `MAX_CONTROL_LINE_SIZE` 4096 and `MAX_PAYLOAD_SIZE` 1 MiB.
    fn default() -> Limits {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    }
}

/// Result of one [`Parser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    /// An operation and the number of bytes it took from the start of the buffer.
    Complete(Op<'a>, usize),
    /// More bytes are needed; nothing was consumed.
    Incomplete,
}

/// One client operation, borrowing from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// The JSON argument (leading space/tab skipped, trailing CR dropped).
    Connect(&'a [u8]),
    /// INFO sent by a client: the argument.
    Info(&'a [u8]),
    Pub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        /// The size field as sent; nats copies these digits into MSG verbatim.
        size_text: &'a [u8],
        payload: &'a [u8],
    },
    Hpub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        header_text: &'a [u8],
        size_text: &'a [u8],
        header_len: usize,
        /// Headers followed by payload; its length is the declared total size.
        message: &'a [u8],
    },
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `max` is -1 when absent or not a valid `parseSize` number.
    Unsub {
        sid: &'a [u8],
        max: i64,
    },
    Ping,
    Pong,
    Ok,
    /// A `-ERR` sent by the client: its argument.
    Err(&'a [u8]),
    /// Bytes nats-server swallows (a client-sent `HMSG` line plus `\r\n`). Not quite without
    /// effect there: it runs `processInboundClientMsg` on an empty subject, so it counts one
    /// inbound message of 0 bytes and, for a verbose client, answers `+OK`.
    Nop,
}

/// An [`Op`] copied out of its buffer, so ops parsed from different buffers (or from one
/// input split at different points) compare: the parser's tests and the fuzz targets use it.
/// Fields in the order of [`Op`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedOp {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub(Vec<u8>, Option<Vec<u8>>, Vec<u8>, Vec<u8>),
    Hpub(Vec<u8>, Option<Vec<u8>>, Vec<u8>, Vec<u8>, usize, Vec<u8>),
    Sub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    Unsub(Vec<u8>, i64),
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
    Nop,
}

impl Op<'_> {
    pub fn to_owned_op(&self) -> OwnedOp {
        let v = |s: &[u8]| s.to_vec();
        match *self {
            Op::Connect(a) => OwnedOp::Connect(v(a)),
            Op::Info(a) => OwnedOp::Info(v(a)),
            Op::Pub {
                subject,
                reply,
                size_text,
                payload,
            } => OwnedOp::Pub(v(subject), reply.map(v), v(size_text), v(payload)),
            Op::Hpub {
                subject,
                reply,
                header_text,
                size_text,
                header_len,
                message,
            } => OwnedOp::Hpub(
                v(subject),
                reply.map(v),
                v(header_text),
                v(size_text),
                header_len,
                v(message),
            ),
            Op::Sub {
                subject,
                queue,
                sid,
            } => OwnedOp::Sub(v(subject), queue.map(v), v(sid)),
            Op::Unsub { sid, max } => OwnedOp::Unsub(v(sid), max),
            Op::Ping => OwnedOp::Ping,
            Op::Pong => OwnedOp::Pong,
            Op::Ok => OwnedOp::Ok,
            Op::Err(a) => OwnedOp::Err(v(a)),
            Op::Nop => OwnedOp::Nop,
        }
    }
}

/// Why the connection must close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Server sends `-ERR 'Unknown Protocol Operation'` and closes.
    UnknownOp,
    /// `-ERR 'maximum control line exceeded'` and close.
    MaxControlLine,
    /// `-ERR 'Maximum Payload Violation'` and close; `size` is the declared size.
    MaxPayload { size: i64 },
    /// HPUB before CONNECT{headers:true}: close without `-ERR`.
    HeadersNotSupported,
    /// An op other than CONNECT while CONNECT is awaited: the caller answers
    /// `Authorization Violation`.
    NotConnect,
    /// Bad arity/size in PUB/HPUB/SUB/UNSUB: close without `-ERR`; the text is what
    /// nats-server logs.
    Args(String),
}

impl ParseError {
    /// The `-ERR` text the server sends before closing, if any. `NotConnect` gives `None`
    /// because the caller owns the authorization-violation path.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOp => Some("Unknown Protocol Operation"),
            ParseError::MaxControlLine => Some("maximum control line exceeded"),
            ParseError::MaxPayload { .. } => Some("Maximum Payload Violation"),
            ParseError::HeadersNotSupported | ParseError::NotConnect | ParseError::Args(_) => None,
        }
    }
}

impl fmt::Display for ParseError {
    /// nats-server's error strings, for logging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownOp => f.write_str("unknown protocol operation"),
            ParseError::MaxControlLine => f.write_str("maximum control line exceeded"),
            ParseError::MaxPayload { size } => write!(f, "maximum payload exceeded: {size}"),
            ParseError::HeadersNotSupported => f.write_str("message headers not supported"),
            ParseError::NotConnect => f.write_str("authentication error"),
            ParseError::Args(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for ParseError {}

/// Per-connection parser. Stateless across calls except for a cache of an already-parsed
/// control line whose payload is still incomplete, and two flags.
#[derive(Debug, Clone)]
pub struct Parser {
    limits: Limits,
    headers: bool,
    expect_connect: bool,
    pending: Option<Pending>,
    needed: Option<usize>,
}

/// Byte range into the caller's buffer; kept as offsets because the buffer may move between
/// calls (only its prefix is guaranteed to be the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Span {
    pub(super) fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
enum MsgKind {
    Pub,
    Hpub {
        header_text: Span,
        header_len: usize,
    },
    Hmsg,
}

/// A message whose control line is complete and accepted.
#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: MsgKind,
    subject: Span,
    reply: Option<Span>,
    size_text: Span,
    size: usize,
    payload_start: usize,
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Pub,
    Hpub,
    Hmsg,
    Sub,
    Unsub,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Verb {
    fn name(self) -> &'static [u8] {
        match self {
            Verb::Pub => b"PUB",
            Verb::Hpub => b"HPUB",
            Verb::Hmsg => b"HMSG",
            Verb::Sub => b"SUB",
            Verb::Unsub => b"UNSUB",
            Verb::Connect => b"CONNECT",
            Verb::Info => b"INFO",
            Verb::Ping => b"PING",
            Verb::Pong => b"PONG",
            Verb::Ok => b"+OK",
            Verb::Err => b"-ERR",
        }
    }
}

/// A complete argument line: the argument and the offset just past its `\n`.
pub(super) struct Line {
    pub(super) arg: Span,
    pub(super) next: usize,
}

impl Parser {
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            headers: false,
            expect_connect: false,
            pending: None,
            needed: None,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// HPUB is accepted only after the client's CONNECT said headers:true.
    pub fn set_headers(&mut self, on: bool) {
        self.headers = on;
    }

    /// While true (auth required and CONNECT not yet received), any op whose first byte is
    /// not 'C'/'c' is rejected with ParseError::NotConnect, as soon as that first byte is seen.
    pub fn set_expect_connect(&mut self, on: bool) {
        self.expect_connect = on;
    }

    /// Parse one operation from the start of `buf`. The caller keeps every byte that was not
    /// consumed and calls again with those bytes plus newly read ones (same prefix), so an op
    /// split at any point parses identically. Returns Incomplete when more bytes are needed.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<'a>, ParseError> {
        self.needed = None;
        match self.pending.take() {
            Some(p) if buf.len() >= p.payload_start => self.finish_message(buf, p),
            // A shorter buffer breaks the caller contract; reparsing is still panic free.
            _ => self.parse_op(buf),
        }
    }

    /// When the last call returned Incomplete for a message whose control line was complete:
    /// total bytes (from the start of buf) needed before the message can complete. Lets the
    /// caller reserve capacity and skip calls until enough bytes arrived. None otherwise.
    pub fn bytes_needed(&self) -> Option<usize> {
        self.needed
    }

    fn parse_op<'a>(&mut self, buf: &'a [u8]) -> Result<Status<'a>, ParseError> {
        let Some(&first) = buf.first() else {
            return Ok(Status::Incomplete);
        };
        // nats checks this on the first byte of every op, before knowing what the op is.
        if self.expect_connect && !first.eq_ignore_ascii_case(&b'C') {
            return Err(ParseError::NotConnect);
        }
        let second = || buf.get(1).map(u8::to_ascii_uppercase);
        let verb = match first.to_ascii_uppercase() {
            b'P' => match second() {
                None => return Ok(Status::Incomplete),
                Some(b'U') => Verb::Pub,
                Some(b'I') => Verb::Ping,
                Some(b'O') => Verb::Pong,
                Some(_) => return Err(ParseError::UnknownOp),
            },
            b'H' => match second() {
                None => return Ok(Status::Incomplete),
                Some(b'P') => Verb::Hpub,
                Some(b'M') => Verb::Hmsg,
                Some(_) => return Err(ParseError::UnknownOp),
            },
            b'S' => Verb::Sub,
            b'U' => Verb::Unsub,
            b'C' => Verb::Connect,
            b'I' => Verb::Info,
            b'+' => Verb::Ok,
            b'-' => Verb::Err,
            // Includes MSG, RS+/LS+, A+: client connections may not send them.
            _ => return Err(ParseError::UnknownOp),
        };
        let name = verb.name();
        for (i, want) in name.iter().enumerate() {
            match buf.get(i) {
                None => return Ok(Status::Incomplete),
                Some(b) if b.to_ascii_uppercase() == *want => {}
                Some(_) => return Err(ParseError::UnknownOp),
            }
        }
        let end = name.len();

        match verb {
            Verb::Ping | Verb::Pong | Verb::Ok => {
                let Some(next) = Parser::junk_line(buf, end, self.limits.max_control_line)? else {
                    return Ok(Status::Incomplete);
                };
                let op = match verb {
                    Verb::Ping => Op::Ping,
                    Verb::Pong => Op::Pong,
                    _ => Op::Ok,
                };
                Ok(Status::Complete(op, next))
            }
            Verb::Connect | Verb::Info => {
                // No separator is required here: `CONNECT{...}` is accepted by nats.
                let Some(line) = Parser::arg_line(buf, end, end, self.limits.max_control_line)?
                else {
                    return Ok(Status::Incomplete);
                };
                let arg = line.arg.of(buf);
                let op = match verb {
                    Verb::Connect => Op::Connect(arg),
                    _ => Op::Info(arg),
                };
                Ok(Status::Complete(op, line.next))
            }
            Verb::Pub | Verb::Hpub | Verb::Hmsg | Verb::Sub | Verb::Unsub | Verb::Err => {
                match buf.get(end) {
                    None => return Ok(Status::Incomplete),
                    Some(b' ' | b'\t') => {}
                    Some(_) => return Err(ParseError::UnknownOp),
                }
                let Some(line) = Parser::arg_line(buf, end, end + 1, self.limits.max_control_line)?
                else {
                    return Ok(Status::Incomplete);
                };
                match verb {
                    Verb::Pub => self.pub_line(buf, line),
                    Verb::Hpub => self.hpub_line(buf, line),
                    Verb::Hmsg => {
                        // A client connection parses no HMSG arguments, so the message
                        // size stays 0: only the terminating CRLF may follow.
                        let pending = Pending {
                            kind: MsgKind::Hmsg,
                            subject: Span::default(),
                            reply: None,
                            size_text: Span::default(),
                            size: 0,
                            payload_start: line.next,
                        };
                        self.finish_message(buf, pending)
                    }
                    Verb::Sub => sub_line(buf, line),
                    Verb::Unsub => unsub_line(buf, line),
                    _ => Ok(Status::Complete(Op::Err(line.arg.of(buf)), line.next)),
                }
            }
        }
    }

    /// Ignored bytes after PING/PONG/+OK up to `\n`. Returns the offset past the `\n`.
    /// `mcl` is the limit in force (the peer parser passes its larger one).
    pub(super) fn junk_line(
        buf: &[u8],
        from: usize,
        mcl: usize,
    ) -> Result<Option<usize>, ParseError> {
        let rest = buf.get(from..).unwrap_or_default();
        let (len, next) = match memchr(b'\n', rest) {
            Some(k) => (k, Some(from + k + 1)),
            None => (rest.len(), None),
        };
        let body = rest.get(..len).unwrap_or_default();
        // The final CR of a CRLF is not junk; an incomplete line ending in CR may be one.
        let junk = len - usize::from(body.last() == Some(&b'\r'));
        if junk > mcl {
            return Err(ParseError::MaxControlLine);
        }
        Ok(next)
    }

    /// Finds the argument of a control line. `verb_end` is where the verb ends, `ws_from`
    /// where optional spaces/tabs may start, `mcl` the limit in force (shared with the peer
    /// parser, whose limit is larger).
    pub(super) fn arg_line(
        buf: &[u8],
        verb_end: usize,
        ws_from: usize,
        mcl: usize,
    ) -> Result<Option<Line>, ParseError> {
        let rest = buf.get(ws_from..).unwrap_or_default();
        let Some(skip) = rest.iter().position(|&b| b != b' ' && b != b'\t') else {
            if buf.len().saturating_sub(verb_end) > mcl {
                return Err(ParseError::MaxControlLine);
            }
            return Ok(None);
        };
        let start = ws_from + skip;
        if start - verb_end > mcl {
            return Err(ParseError::MaxControlLine);
        }
        // nats enters the argument state on this byte without looking at it, so even a CR or
        // LF here is part of the argument.
        let body_from = start + 1;
        let body = buf.get(body_from..).unwrap_or_default();
        let (drop, newline) = match memchr2(b'\r', b'\n', body) {
            None => (false, None),
            Some(k) if body.get(k) == Some(&b'\n') => (false, Some(k)),
            Some(k) => {
                let after = k + 1;
                let nl = memchr(b'\n', body.get(after..).unwrap_or_default()).map(|j| after + j);
                (true, nl)
            }
        };
        match newline {
            None => {
                // What the argument is at least once complete: nats' check of a split line.
                if buf.len() - start - usize::from(drop) > mcl {
                    return Err(ParseError::MaxControlLine);
                }
                Ok(None)
            }
            Some(k) => {
                let nl = body_from + k;
                // nats drops the byte before LF if a CR was seen anywhere in the argument.
                let end = nl - usize::from(drop);
                if end - start > mcl {
                    return Err(ParseError::MaxControlLine);
                }
                Ok(Some(Line {
                    arg: Span { start, end },
                    next: nl + 1,
                }))
            }
        }
    }

    fn pub_line<'a>(&mut self, buf: &'a [u8], line: Line) -> Result<Status<'a>, ParseError> {
        let arg = line.arg.of(buf);
        let (fields, n) = split_fields::<3>(arg, line.arg.start, is_pub_sep);
        let [a, b, c] = fields;
        let (subject, reply, size_text) = match n {
            2 => (a, None, b),
            3 => (a, Some(b), c),
            _ => return Err(args_error("processPub Parse Error", arg)),
        };
        let size = parse_size(size_text.of(buf));
        if size < 0 {
            return Err(args_error("processPub Bad or Missing Size", arg));
        }
        self.check_payload(size)?;
        let pending = Pending {
            kind: MsgKind::Pub,
            subject,
            reply,
            size_text,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            payload_start: line.next,
        };
        self.finish_message(buf, pending)
    }

    fn hpub_line<'a>(&mut self, buf: &'a [u8], line: Line) -> Result<Status<'a>, ParseError> {
        // nats checks this before looking at the arguments.
        if !self.headers {
            return Err(ParseError::HeadersNotSupported);
        }
        let arg = line.arg.of(buf);
        let (fields, n) = split_fields::<4>(arg, line.arg.start, is_pub_sep);
        let [a, b, c, d] = fields;
        let (subject, reply, header_text, size_text) = match n {
            3 => (a, None, b, c),
            4 => (a, Some(b), c, d),
            _ => return Err(args_error("processHeaderPub Parse Error", arg)),
        };
        let header_len = parse_size(header_text.of(buf));
        let size = parse_size(size_text.of(buf));
        if header_len < 0 {
            return Err(args_error(
                "processHeaderPub Bad or Missing Header Size",
                arg,
            ));
        }
        if size < 0 {
            return Err(args_error(
                "processHeaderPub Bad or Missing Total Size",
                arg,
            ));
        }
        if header_len > size {
            return Err(args_error(
                "processHeaderPub Header Size larger then TotalSize",
                arg,
            ));
        }
        self.check_payload(size)?;
        let pending = Pending {
            kind: MsgKind::Hpub {
                header_text,
                header_len: usize::try_from(header_len).unwrap_or(usize::MAX),
            },
            subject,
            reply,
            size_text,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            payload_start: line.next,
        };
        self.finish_message(buf, pending)
    }

    fn check_payload(&self, size: i64) -> Result<(), ParseError> {
        let max = self.limits.max_payload;
        if max != NO_PAYLOAD_LIMIT && size > max {
            return Err(ParseError::MaxPayload { size });
        }
        Ok(())
    }

    /// Completes a message whose control line was accepted, or caches it and waits.
    fn finish_message<'a>(&mut self, buf: &'a [u8], p: Pending) -> Result<Status<'a>, ParseError> {
        let end = p.payload_start.saturating_add(p.size);
        let total = end.saturating_add(2);
        for (at, want) in [(end, b'\r'), (end.saturating_add(1), b'\n')] {
            match buf.get(at) {
                None => {
                    self.pending = Some(p);
                    self.needed = Some(total);
                    return Ok(Status::Incomplete);
                }
                Some(&b) if b == want => {}
                Some(_) => return Err(ParseError::UnknownOp),
            }
        }
        let data = buf.get(p.payload_start..end).unwrap_or_default();
        let subject = p.subject.of(buf);
        let reply = p.reply.map(|r| r.of(buf));
        let size_text = p.size_text.of(buf);
        let op = match p.kind {
            MsgKind::Pub => Op::Pub {
                subject,
                reply,
                size_text,
                payload: data,
            },
            MsgKind::Hpub {
                header_text,
                header_len,
            } => Op::Hpub {
                subject,
                reply,
                header_text: header_text.of(buf),
                size_text,
                header_len,
                message: data,
            },
            MsgKind::Hmsg => Op::Nop,
        };
        Ok(Status::Complete(op, total))
    }
}

fn sub_line(buf: &[u8], line: Line) -> Result<Status<'_>, ParseError> {
    let arg = line.arg.of(buf);
    let (fields, n) = split_fields::<3>(arg, line.arg.start, is_split_arg_sep);
    let [a, b, c] = fields.map(|s| s.of(buf));
    let op = match n {
        2 => Op::Sub {
            subject: a,
            queue: None,
            sid: b,
        },
        3 => Op::Sub {
            subject: a,
            queue: Some(b),
            sid: c,
        },
        _ => return Err(args_error("processSub Parse Error", arg)),
    };
    Ok(Status::Complete(op, line.next))
}

fn unsub_line(buf: &[u8], line: Line) -> Result<Status<'_>, ParseError> {
    let arg = line.arg.of(buf);
    let (fields, n) = split_fields::<2>(arg, line.arg.start, is_split_arg_sep);
    let [a, b] = fields.map(|s| s.of(buf));
    let max = match n {
        1 => -1,
        2 => parse_size(b),
        _ => return Err(args_error("processUnsub Parse Error", arg)),
    };
    Ok(Status::Complete(Op::Unsub { sid: a, max }, line.next))
}

/// PUB/HPUB arguments are split on space and tab only (`processPub`'s unrolled split).
pub(super) fn is_pub_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// SUB/UNSUB arguments are split by nats' `splitArg`, which also splits on CR and LF.
pub(super) fn is_split_arg_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `arg` (which starts at `offset` in the buffer) into fields, keeping the first `N`
/// as buffer spans. The count saturates at `N + 1`: callers only need to know "too many".
fn split_fields<const N: usize>(
    arg: &[u8],
    offset: usize,
    is_sep: fn(u8) -> bool,
) -> ([Span; N], usize) {
    let mut fields = [Span::default(); N];
    let mut count = 0;
    let mut start = None;
    // A virtual separator at the end closes the last field.
    let bytes = arg.iter().map(|&b| is_sep(b)).chain(std::iter::once(true));
    for (i, sep) in bytes.enumerate() {
        match (sep, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                if let Some(slot) = fields.get_mut(count) {
                    *slot = Span {
                        start: offset + s,
                        end: offset + i,
                    };
                }
                count += 1;
                if count > N {
                    break;
                }
                start = None;
            }
            _ => {}
        }
    }
    (fields, count)
}

/// nats' `parseSize`: 1 to 9 ASCII digits, else -1.
pub(super) fn parse_size(d: &[u8]) -> i64 {
    if d.is_empty() || d.len() > 9 {
        return -1;
    }
    let mut n: i64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return -1;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    n
}

fn args_error(what: &str, arg: &[u8]) -> ParseError {
    ParseError::Args(format!("{what}: {}", go_quote(arg)))
}

/// Go's `%q` of a byte slice (`strconv.Quote`), so logged texts match nats-server's.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                _ if go_is_print(c) => {
                    out.push(c);
                    continue;
                }
                '\x07' => Some("\\a"),
                '\x08' => Some("\\b"),
                '\x0c' => Some("\\f"),
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                '\x0b' => Some("\\v"),
                _ => None,
            };
            let code = u32::from(c);
            // Writing to a String cannot fail.
            let _ = match short {
                Some(s) => out.write_str(s),
                None if code < 0x20 || code == 0x7f => write!(out, "\\x{code:02x}"),
                None if code < 0x10000 => write!(out, "\\u{code:04x}"),
                None => write!(out, "\\U{code:08x}"),
            };
        }
        // Go escapes each byte of invalid UTF-8 on its own.
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: exact for ASCII; for other characters an approximation without
/// Unicode tables (controls, spaces other than U+0020, format and private-use characters are
/// not printable; unassigned code points are treated as printable). Only affects log text.
fn go_is_print(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, ' '..='~');
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u32::from(c),
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF
        | 0x110BD | 0xE000..=0xF8FF | 0xE0001 | 0xE0020..=0xE007F | 0xF0000..)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::OwnedOp as Owned;
    use super::*;
    use proptest::prelude::*;

    const MIB: i64 = 1024 * 1024;

    fn limits(mcl: usize, max_payload: i64) -> Limits {
        Limits {
            max_control_line: mcl,
            max_payload,
        }
    }

    fn parser() -> Parser {
        let mut p = Parser::new(Limits::default());
        p.set_headers(true);
        p
    }

    /// Checks what every yielded op must satisfy.
    fn check_op(op: &Op<'_>, consumed: usize, buf_len: usize) {
        assert!(
            consumed >= 1 && consumed <= buf_len,
            "{consumed} of {buf_len}"
        );
        let ws = |s: &[u8]| s.iter().any(|&b| b == b' ' || b == b'\t');
        let ws_crlf = |s: &[u8]| s.iter().any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        match *op {
            Op::Pub {
                subject,
                reply,
                size_text,
                payload,
            } => {
                assert!(!subject.is_empty() && !ws(subject));
                assert!(reply.is_none_or(|r| !r.is_empty() && !ws(r)));
                assert_eq!(parse_size(size_text), payload.len() as i64);
            }
            Op::Hpub {
                subject,
                reply,
                header_text,
                size_text,
                header_len,
                message,
            } => {
                assert!(!subject.is_empty() && !ws(subject));
                assert!(reply.is_none_or(|r| !r.is_empty() && !ws(r)));
                assert_eq!(parse_size(size_text), message.len() as i64);
                assert_eq!(parse_size(header_text), header_len as i64);
                assert!(header_len <= message.len());
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                assert!(!subject.is_empty() && !ws_crlf(subject));
                assert!(queue.is_none_or(|q| !q.is_empty() && !ws_crlf(q)));
                assert!(!sid.is_empty() && !ws_crlf(sid));
            }
            Op::Unsub { sid, max } => {
                assert!(!sid.is_empty() && !ws_crlf(sid));
                assert!(max >= -1);
            }
            _ => {}
        }
    }

    type Outcome = (Vec<Owned>, Option<ParseError>);

    /// Parses everything in one buffer; the outcome ends at the first error or Incomplete.
    fn parse_whole(p: &mut Parser, input: &[u8]) -> Outcome {
        let mut ops = Vec::new();
        let mut at = 0;
        loop {
            match p.parse(&input[at..]) {
                Ok(Status::Complete(op, n)) => {
                    check_op(&op, n, input.len() - at);
                    ops.push(op.to_owned_op());
                    at += n;
                }
                Ok(Status::Incomplete) => return (ops, None),
                Err(e) => return (ops, Some(e)),
            }
        }
    }

    /// The caller pattern: append each chunk to the unconsumed bytes and parse until
    /// Incomplete; honours `bytes_needed` the way a server would, except after the last chunk
    /// (a bad byte where the CRLF belongs is only seen by a call that has it).
    fn parse_chunked(p: &mut Parser, chunks: &[&[u8]]) -> Outcome {
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
                    Ok(Status::Complete(op, n)) => {
                        check_op(&op, n, buf.len());
                        ops.push(op.to_owned_op());
                        buf.drain(..n);
                    }
                    Ok(Status::Incomplete) => break,
                    Err(e) => return (ops, Some(e)),
                }
            }
        }
        (ops, None)
    }

    fn split_at(p: &mut Parser, input: &[u8], cuts: &[usize]) -> Outcome {
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

    fn one(input: &[u8]) -> Result<Owned, ParseError> {
        one_with(&mut parser(), input)
    }

    fn one_with(p: &mut Parser, input: &[u8]) -> Result<Owned, ParseError> {
        match p.parse(input)? {
            Status::Complete(op, n) => {
                assert_eq!(n, input.len(), "whole input consumed for {input:?}");
                Ok(op.to_owned_op())
            }
            Status::Incomplete => panic!("incomplete: {input:?}"),
        }
    }

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn pubop(subject: &str, reply: Option<&str>, size: &str, payload: &str) -> Owned {
        Owned::Pub(v(subject), reply.map(v), v(size), v(payload))
    }

    #[test]
    fn simple_ops_any_case() {
        for input in [
            "PING\r\n",
            "ping\r\n",
            "PiNg\r\n",
            "PING\n",
            "PINGxyz\r\n",
            "PING \t\r\n",
        ] {
            assert_eq!(one(input.as_bytes()), Ok(Owned::Ping), "{input}");
        }
        for input in ["PONG\r\n", "pong\n", "pOnG junk\r\n"] {
            assert_eq!(one(input.as_bytes()), Ok(Owned::Pong), "{input}");
        }
        for input in ["+OK\r\n", "+ok\r\n", "+oK whatever\r\n"] {
            assert_eq!(one(input.as_bytes()), Ok(Owned::Ok), "{input}");
        }
    }

    #[test]
    fn connect_info_err() {
        let cases: &[(&str, Owned)] = &[
            (
                "CONNECT {\"verbose\":false}\r\n",
                Owned::Connect(v("{\"verbose\":false}")),
            ),
            ("connect \t {}\r\n", Owned::Connect(v("{}"))),
            ("CONNECT{}\r\n", Owned::Connect(v("{}"))),
            (
                "CoNnEcT {\"a\": \"b c\"}\n",
                Owned::Connect(v("{\"a\": \"b c\"}")),
            ),
            // The first argument byte is taken as is, as nats does.
            ("CONNECT\r\n", Owned::Connect(v("\r"))),
            ("CONNECT \r\n", Owned::Connect(v("\r"))),
            ("INFO {\"x\":1}\r\n", Owned::Info(v("{\"x\":1}"))),
            ("info\t{}\r\n", Owned::Info(v("{}"))),
            (
                "-ERR 'Stale Connection'\r\n",
                Owned::Err(v("'Stale Connection'")),
            ),
            ("-err\t\tboom\n", Owned::Err(v("boom"))),
        ];
        for (input, want) in cases {
            assert_eq!(one(input.as_bytes()).as_ref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn pub_forms() {
        let cases: &[(&str, Owned)] = &[
            ("PUB foo 5\r\nhello\r\n", pubop("foo", None, "5", "hello")),
            ("pub foo 5\r\nhello\r\n", pubop("foo", None, "5", "hello")),
            ("PuB\tfoo\t5\r\nhello\r\n", pubop("foo", None, "5", "hello")),
            (
                "PUB  \t foo \t  bar   5  \r\nhello\r\n",
                pubop("foo", Some("bar"), "5", "hello"),
            ),
            (
                "PUB foo bar 5\r\nhello\r\n",
                pubop("foo", Some("bar"), "5", "hello"),
            ),
            ("PUB foo 0\r\n\r\n", pubop("foo", None, "0", "")),
            ("PUB foo 02\r\nhi\r\n", pubop("foo", None, "02", "hi")),
            (
                "PUB foo 4\n\r\n\r\n\r\n",
                pubop("foo", None, "4", "\r\n\r\n"),
            ),
            ("PUB foo 3\r\nPUB\r\n", pubop("foo", None, "3", "PUB")),
            // A CR inside the argument is kept and the byte before LF dropped (nats' drop).
            ("PUB fo\ro 1\r\nx\r\n", pubop("fo\ro", None, "1", "x")),
            // ... even when that byte is not the CR.
            ("PUB fo\ro 1x\nx\r\n", pubop("fo\ro", None, "1", "x")),
        ];
        for (input, want) in cases {
            assert_eq!(one(input.as_bytes()).as_ref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn hpub_forms() {
        let msg = "NATS/1.0\r\nA: B\r\n\r\nhello";
        let hdr = msg.len() - 5;
        let input = format!("HPUB foo {hdr} {}\r\n{msg}\r\n", msg.len());
        let want = Owned::Hpub(
            v("foo"),
            None,
            v(&hdr.to_string()),
            v(&msg.len().to_string()),
            hdr,
            v(msg),
        );
        assert_eq!(one(input.as_bytes()), Ok(want));

        let input = format!("hpub\tfoo  reply\t{hdr} {}\r\n{msg}\r\n", msg.len());
        let want = Owned::Hpub(
            v("foo"),
            Some(v("reply")),
            v(&hdr.to_string()),
            v(&msg.len().to_string()),
            hdr,
            v(msg),
        );
        assert_eq!(one(input.as_bytes()), Ok(want));

        let want = Owned::Hpub(v("foo"), None, v("0"), v("2"), 0, v("hi"));
        assert_eq!(one(b"HPUB foo 0 2\r\nhi\r\n"), Ok(want));
        let want = Owned::Hpub(v("foo"), None, v("3"), v("3"), 3, v("abc"));
        assert_eq!(one(b"HPUB foo 3 3\r\nabc\r\n"), Ok(want));
    }

    #[test]
    fn sub_unsub_forms() {
        let sub = |s: &str, q: Option<&str>, sid: &str| Owned::Sub(v(s), q.map(v), v(sid));
        let cases: &[(&str, Owned)] = &[
            ("SUB foo 1\r\n", sub("foo", None, "1")),
            ("sub foo.* 12\n", sub("foo.*", None, "12")),
            ("SuB \t foo\t  bar  1 \r\n", sub("foo", Some("bar"), "1")),
            (
                "SUB foo.> workers 99\r\n",
                sub("foo.>", Some("workers"), "99"),
            ),
            // splitArg also splits on CR.
            ("SUB foo\r 1\r\n", sub("foo", None, "1")),
            ("UNSUB 1\r\n", Owned::Unsub(v("1"), -1)),
            ("unsub\t1\t5\r\n", Owned::Unsub(v("1"), 5)),
            ("UnSuB  7   0 \r\n", Owned::Unsub(v("7"), 0)),
            ("UNSUB 1 x\r\n", Owned::Unsub(v("1"), -1)),
            ("UNSUB 1 -5\r\n", Owned::Unsub(v("1"), -1)),
            ("UNSUB 1 1234567890\r\n", Owned::Unsub(v("1"), -1)),
            ("UNSUB 1 999999999\r\n", Owned::Unsub(v("1"), 999_999_999)),
        ];
        for (input, want) in cases {
            assert_eq!(one(input.as_bytes()).as_ref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn client_hmsg_is_swallowed() {
        assert_eq!(one(b"HMSG foo 1 2 3\r\n\r\n"), Ok(Owned::Nop));
        assert_eq!(one(b"hmsg x\n\r\n"), Ok(Owned::Nop));
        let mut p = parser();
        assert_eq!(
            p.parse(b"HMSG foo 1 2 3\r\nab\r\n"),
            Err(ParseError::UnknownOp)
        );
        assert_eq!(p.parse(b"HMSG foo\r\n\n"), Err(ParseError::UnknownOp));
        assert_eq!(p.parse(b"HMSG foo\r\n\r"), Ok(Status::Incomplete));
        assert_eq!(p.bytes_needed(), Some(12));
        assert_eq!(
            p.parse(b"HMSG foo\r\n\r\nPING\r\n"),
            Ok(Status::Complete(Op::Nop, 12))
        );
        // Headers need not be on: a client's HMSG arguments are never looked at.
        let mut p = Parser::new(Limits::default());
        assert_eq!(one_with(&mut p, b"HMSG a\r\n\r\n"), Ok(Owned::Nop));
    }

    #[test]
    fn consumes_exactly_one_op() {
        let mut p = parser();
        let input = b"PUB a 1\r\nx\r\nPING\r\n";
        let Ok(Status::Complete(_, n)) = p.parse(input) else {
            panic!()
        };
        assert_eq!(n, 12);
        assert_eq!(p.parse(&input[n..]), Ok(Status::Complete(Op::Ping, 6)));
    }

    #[test]
    fn cache_survives_contract_violation() {
        let mut p = parser();
        assert_eq!(p.parse(b"PUB foo 5\r\nhe"), Ok(Status::Incomplete));
        // A buffer shorter than the cached control line is reparsed from scratch.
        assert_eq!(p.parse(b"PING\r\n"), Ok(Status::Complete(Op::Ping, 6)));
        assert_eq!(p.bytes_needed(), None);
        assert_eq!(p.parse(b"PUB foo 5\r\nhe"), Ok(Status::Incomplete));
        // A different buffer of sufficient length cannot make it panic either.
        assert_eq!(p.parse(&[0xff; 40]), Err(ParseError::UnknownOp));
        assert_eq!(p.parse(b"\x00"), Err(ParseError::UnknownOp));
    }

    #[test]
    fn incomplete_prefixes() {
        let mut p = parser();
        for input in [
            "",
            "P",
            "PU",
            "PUB",
            "PUB ",
            "PUB foo",
            "PUB foo 5",
            "PUB foo 5\r",
            "PING",
            "PING\r",
            "+",
            "-ER",
            "CONNECT",
            "CONNECT {",
            "H",
            "HPUB a 1 2\r",
        ] {
            assert_eq!(
                p.parse(input.as_bytes()),
                Ok(Status::Incomplete),
                "{input:?}"
            );
            assert_eq!(p.bytes_needed(), None, "{input:?}");
        }
    }

    #[test]
    fn bytes_needed_for_payloads() {
        let mut p = parser();
        assert_eq!(p.parse(b"PUB foo 5\r\nhel"), Ok(Status::Incomplete));
        assert_eq!(p.bytes_needed(), Some(11 + 5 + 2));
        assert_eq!(p.parse(b"PUB foo 5\r\nhello\r"), Ok(Status::Incomplete));
        assert_eq!(p.bytes_needed(), Some(18));
        let r = p.parse(b"PUB foo 5\r\nhello\r\nPI");
        assert_eq!(
            r,
            Ok(Status::Complete(
                Op::Pub {
                    subject: b"foo",
                    reply: None,
                    size_text: b"5",
                    payload: b"hello"
                },
                18
            ))
        );
        assert_eq!(p.bytes_needed(), None);
        assert_eq!(p.parse(b"PI"), Ok(Status::Incomplete));
        assert_eq!(p.bytes_needed(), None);
        assert_eq!(p.parse(b"HPUB a 2 4\r\n"), Ok(Status::Incomplete));
        assert_eq!(p.bytes_needed(), Some(12 + 4 + 2));
        // Without the cache (fresh parser) the same bytes give the same answer.
        let mut q = parser();
        assert_eq!(
            q.parse(b"HPUB a 2 4\r\nabcd\r\n"),
            p.parse(b"HPUB a 2 4\r\nabcd\r\n")
        );
    }

    type ErrCase<'a> = (&'a [u8], Limits, bool, Result<Status<'a>, ParseError>);

    #[test]
    fn errors_table() {
        use ParseError::*;
        let args = |s: &str| Err(Args(s.to_string()));
        let cases: Vec<ErrCase<'_>> = vec![
            // Unknown ops, detected on the first wrong byte.
            (
                b"GET / HTTP/1.1\r\n",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            (b"G", Limits::default(), true, Err(UnknownOp)),
            (b"PIN\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"PUX", Limits::default(), true, Err(UnknownOp)),
            (b"PUB\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"PUBX foo 1\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"SUBfoo 1\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"-ERR\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"+O\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"\n", Limits::default(), true, Err(UnknownOp)),
            (b" PING\r\n", Limits::default(), true, Err(UnknownOp)),
            (
                b"MSG foo 1 1\r\nx\r\n",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            (b"RS+ foo\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"LS+ foo\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"A+ foo\r\n", Limits::default(), true, Err(UnknownOp)),
            (b"HX", Limits::default(), true, Err(UnknownOp)),
            (b"HMSG\r\n", Limits::default(), true, Err(UnknownOp)),
            // Payload not followed by CRLF.
            (
                b"PUB foo 2\r\nabc\r\n",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            (
                b"PUB foo 2\r\nab\rx",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            (
                b"PUB foo 2\r\nab\n",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            (
                b"HPUB foo 1 2\r\nabX",
                Limits::default(),
                true,
                Err(UnknownOp),
            ),
            // PUB arguments.
            (
                b"PUB foo\r\n",
                Limits::default(),
                true,
                args("processPub Parse Error: \"foo\""),
            ),
            (
                b"PUB a b c 1\r\n",
                Limits::default(),
                true,
                args("processPub Parse Error: \"a b c 1\""),
            ),
            (
                b"PUB foo bar x\r\n",
                Limits::default(),
                true,
                args("processPub Bad or Missing Size: \"foo bar x\""),
            ),
            (
                b"PUB foo -1\r\n",
                Limits::default(),
                true,
                args("processPub Bad or Missing Size: \"foo -1\""),
            ),
            (
                b"PUB foo 99999999999\r\n",
                Limits::default(),
                true,
                args("processPub Bad or Missing Size: \"foo 99999999999\""),
            ),
            (
                b"PUB foo 1234567890\r\n",
                limits(4096, NO_PAYLOAD_LIMIT),
                true,
                args("processPub Bad or Missing Size: \"foo 1234567890\""),
            ),
            (
                b"PUB \r\n",
                Limits::default(),
                true,
                args("processPub Parse Error: \"\\r\""),
            ),
            (
                b"PUB foo\t\xff\r\n",
                Limits::default(),
                true,
                args("processPub Bad or Missing Size: \"foo\\t\\xff\""),
            ),
            // Max payload, before any payload byte.
            (
                b"PUB foo 999999999\r\n",
                limits(4096, MIB),
                true,
                Err(MaxPayload { size: 999_999_999 }),
            ),
            (
                b"PUB foo 1048577\r\n",
                limits(4096, MIB),
                true,
                Err(MaxPayload { size: 1_048_577 }),
            ),
            (
                b"PUB foo 6\r\n",
                limits(4096, 5),
                true,
                Err(MaxPayload { size: 6 }),
            ),
            (
                b"PUB foo 0\r\n",
                limits(4096, -2),
                true,
                Err(MaxPayload { size: 0 }),
            ),
            (
                b"HPUB foo 1 6\r\n",
                limits(4096, 5),
                true,
                Err(MaxPayload { size: 6 }),
            ),
            // HPUB.
            (
                b"HPUB foo 1 2\r\nab\r\n",
                Limits::default(),
                false,
                Err(HeadersNotSupported),
            ),
            (
                b"HPUB foo\r\n",
                Limits::default(),
                false,
                Err(HeadersNotSupported),
            ),
            (
                b"HPUB foo 1\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Parse Error: \"foo 1\""),
            ),
            (
                b"HPUB a b 1 2 3\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Parse Error: \"a b 1 2 3\""),
            ),
            (
                b"HPUB foo x 2\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Bad or Missing Header Size: \"foo x 2\""),
            ),
            (
                b"HPUB foo -1 2\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Bad or Missing Header Size: \"foo -1 2\""),
            ),
            (
                b"HPUB foo 1 x\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Bad or Missing Total Size: \"foo 1 x\""),
            ),
            (
                b"HPUB foo 1 99999999999\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Bad or Missing Total Size: \"foo 1 99999999999\""),
            ),
            (
                b"HPUB foo 3 2\r\n",
                Limits::default(),
                true,
                args("processHeaderPub Header Size larger then TotalSize: \"foo 3 2\""),
            ),
            (
                b"HPUB foo r 3 2\r\n",
                limits(4096, 1),
                true,
                args("processHeaderPub Header Size larger then TotalSize: \"foo r 3 2\""),
            ),
            // SUB / UNSUB arity.
            (
                b"SUB foo\r\n",
                Limits::default(),
                true,
                args("processSub Parse Error: \"foo\""),
            ),
            (
                b"SUB a b c d\r\n",
                Limits::default(),
                true,
                args("processSub Parse Error: \"a b c d\""),
            ),
            (
                b"SUB \r\n",
                Limits::default(),
                true,
                args("processSub Parse Error: \"\\r\""),
            ),
            (
                b"UNSUB 1 2 3\r\n",
                Limits::default(),
                true,
                args("processUnsub Parse Error: \"1 2 3\""),
            ),
            (
                b"UNSUB \r\n",
                Limits::default(),
                true,
                args("processUnsub Parse Error: \"\\r\""),
            ),
            // Control line limit on complete and incomplete lines.
            (b"PUB foo 5\r\n", limits(4, MIB), true, Err(MaxControlLine)),
            (b"PUB foo 5", limits(4, MIB), true, Err(MaxControlLine)),
            (b"SUB foo 1\r\n", limits(4, MIB), true, Err(MaxControlLine)),
            (
                b"CONNECT {\"verbose\":false",
                limits(8, MIB),
                true,
                Err(MaxControlLine),
            ),
            (
                b"HPUB foo 1 2\r\n",
                limits(4, MIB),
                false,
                Err(MaxControlLine),
            ),
            (
                b"HMSG foo 1 2\r\n",
                limits(4, MIB),
                false,
                Err(MaxControlLine),
            ),
            (b"PING 123456789", limits(8, MIB), true, Err(MaxControlLine)),
            (b"PUB          ", limits(8, MIB), true, Err(MaxControlLine)),
        ];
        for (input, lim, headers, want) in cases {
            let mut p = Parser::new(lim);
            p.set_headers(headers);
            assert_eq!(p.parse(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn control_line_limit_edges() {
        // Argument "foo 5" is 5 bytes; separators and CRLF do not count.
        let mut p = Parser::new(limits(5, MIB));
        assert!(matches!(
            p.parse(b"PUB foo 5\r\nhello\r\n"),
            Ok(Status::Complete(..))
        ));
        assert!(matches!(
            p.parse(b"PUB  \t foo 5\nhello\r\n"),
            Ok(Status::Complete(..))
        ));
        assert_eq!(p.parse(b"PUB foo 10\r\n"), Err(ParseError::MaxControlLine));
        // Incomplete: 5 bytes pending is fine, 6 is over; a pending CR is not counted.
        assert_eq!(p.parse(b"SUB foo 1"), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"SUB foo 1\r"), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"SUB foo 12"), Err(ParseError::MaxControlLine));
        // PING junk counts against the limit too (a deliberate bound), CR excluded.
        assert_eq!(
            p.parse(b"PING12345\r\n"),
            Ok(Status::Complete(Op::Ping, 11))
        );
        assert_eq!(p.parse(b"PING12345\r"), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"PING123456"), Err(ParseError::MaxControlLine));
        assert_eq!(p.parse(b"PING123456\r\n"), Err(ParseError::MaxControlLine));
        // Whitespace between verb and argument is bounded separately.
        assert_eq!(p.parse(b"SUB     "), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"SUB      "), Err(ParseError::MaxControlLine));
        assert_eq!(
            p.parse(b"SUB      x 1\r\n"),
            Err(ParseError::MaxControlLine)
        );
        assert_eq!(
            p.parse(b"CONNECT     {}\r\n"),
            Ok(Status::Complete(Op::Connect(b"{}"), 16))
        );
        assert_eq!(
            p.parse(b"CONNECT      {}\r\n"),
            Err(ParseError::MaxControlLine)
        );
        // Default limit: exactly 4096 passes, 4097 fails.
        let mut p = parser();
        let ok = format!("SUB {} 1\r\n", "a".repeat(4094));
        assert!(matches!(p.parse(ok.as_bytes()), Ok(Status::Complete(..))));
        let over = format!("SUB {} 1\r\n", "a".repeat(4095));
        assert_eq!(p.parse(over.as_bytes()), Err(ParseError::MaxControlLine));
        assert_eq!(
            p.parse(&over.as_bytes()[..4101]),
            Err(ParseError::MaxControlLine)
        );
        assert_eq!(p.parse(&over.as_bytes()[..4100]), Ok(Status::Incomplete));
    }

    #[test]
    fn expect_connect() {
        let mut p = parser();
        p.set_expect_connect(true);
        for input in [
            "PING\r\n",
            "P",
            "SUB foo 1\r\n",
            "\r\n",
            "x",
            "+OK\r\n",
            "-ERR x\r\n",
            "HMSG",
        ] {
            assert_eq!(
                p.parse(input.as_bytes()),
                Err(ParseError::NotConnect),
                "{input:?}"
            );
        }
        assert_eq!(p.parse(b""), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"C"), Ok(Status::Incomplete));
        assert_eq!(p.parse(b"cx"), Err(ParseError::UnknownOp));
        assert_eq!(
            p.parse(b"connect {}\r\n"),
            Ok(Status::Complete(Op::Connect(b"{}"), 12))
        );
        p.set_expect_connect(false);
        assert_eq!(p.parse(b"PING\r\n"), Ok(Status::Complete(Op::Ping, 6)));
    }

    #[test]
    fn err_texts() {
        assert_eq!(
            ParseError::UnknownOp.err_text(),
            Some("Unknown Protocol Operation")
        );
        assert_eq!(
            ParseError::MaxControlLine.err_text(),
            Some("maximum control line exceeded")
        );
        assert_eq!(
            ParseError::MaxPayload { size: 1 }.err_text(),
            Some("Maximum Payload Violation")
        );
        assert_eq!(ParseError::HeadersNotSupported.err_text(), None);
        assert_eq!(ParseError::NotConnect.err_text(), None);
        assert_eq!(ParseError::Args(String::new()).err_text(), None);
    }

    #[test]
    fn go_quote_matches_go() {
        // Expected values produced by Go's strconv.Quote.
        let cases: &[(&[u8], &str)] = &[
            (b"foo bar", r#""foo bar""#),
            (b"a\"b\\c", r#""a\"b\\c""#),
            (b"\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            (b"\x00\x1f\x7f", r#""\x00\x1f\x7f""#),
            (b"\xff\xfe", r#""\xff\xfe""#),
            (b"\xe2\x82", r#""\xe2\x82""#),
            ("héllo €".as_bytes(), "\"héllo €\""),
            (
                "\u{a0}\u{200b}\u{feff}".as_bytes(),
                r#""\u00a0\u200b\ufeff""#,
            ),
            ("\u{f0000}".as_bytes(), r#""\U000f0000""#),
            ("😀".as_bytes(), "\"😀\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), *want);
        }
    }

    #[test]
    fn parse_size_like_nats() {
        assert_eq!(parse_size(b""), -1);
        assert_eq!(parse_size(b"0"), 0);
        assert_eq!(parse_size(b"007"), 7);
        assert_eq!(parse_size(b"999999999"), 999_999_999);
        assert_eq!(parse_size(b"1000000000"), -1);
        assert_eq!(parse_size(b"+1"), -1);
        assert_eq!(parse_size(b"1 "), -1);
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"name\":\"a b\"}\r\n",
        );
        s.extend_from_slice(b"PING\r\n");
        s.extend_from_slice(b"sub foo.* 1\r\n");
        s.extend_from_slice(b"SUB  foo.>\tq1  2\r\n");
        s.extend_from_slice(b"PUB foo.bar 11\r\nhello world\r\n");
        s.extend_from_slice(b"PUB foo.bar _INBOX.x 4\r\n\r\n\r\n\r\n");
        s.extend_from_slice(b"PUB foo 0\r\n\r\n");
        s.extend_from_slice(b"HPUB foo.h reply 20 25\r\nNATS/1.0\r\nA: 1 2\r\n\r\nhello\r\n");
        s.extend_from_slice(b"hpub foo 12 12\nNATS/1.0\r\n\r\n\r\n");
        s.extend_from_slice(b"UNSUB 1\r\n");
        s.extend_from_slice(b"unsub 2 10\n");
        s.extend_from_slice(b"PONG\r\n+OK\r\n");
        s.extend_from_slice(b"INFO {}\r\n");
        s.extend_from_slice(b"HMSG x y 1 2\r\n\r\n");
        s.extend_from_slice(b"-ERR 'x y'\r\n");
        s.extend_from_slice(b"PUB big 300\r\n");
        s.extend(std::iter::repeat_n(b'z', 300));
        s.extend_from_slice(b"\r\nPING\r\n");
        s
    }

    #[test]
    fn stream_parses() {
        let (ops, err) = parse_whole(&mut parser(), &stream());
        assert_eq!(err, None);
        assert_eq!(ops.len(), 18);
        assert_eq!(ops[4], pubop("foo.bar", None, "11", "hello world"));
        assert_eq!(
            ops[7],
            Owned::Hpub(
                v("foo.h"),
                Some(v("reply")),
                v("20"),
                v("25"),
                20,
                v("NATS/1.0\r\nA: 1 2\r\n\r\nhello")
            )
        );
        assert_eq!(ops[14], Owned::Nop);
        assert_eq!(ops[17], Owned::Ping);
    }

    #[test]
    fn every_split_point() {
        let input = stream();
        let whole = parse_whole(&mut parser(), &input);
        for cut in 0..=input.len() {
            assert_eq!(split_at(&mut parser(), &input, &[cut]), whole, "cut {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunked(&mut parser(), &bytes), whole);
    }

    #[test]
    fn every_split_point_of_failures() {
        let inputs: &[&[u8]] = &[
            b"PING\r\nPUB foo 3\r\nabcX\r\n",
            b"SUB foo 1\r\nPUB foo 999999999\r\n",
            b"PING\r\nPUB foo\r\n",
            b"PONG\r\nHMSG a\r\nxx",
            b"PING\r\nSUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n",
            b"PING\r\nGET / HTTP/1.1\r\n",
        ];
        for input in inputs {
            let mut p = Parser::new(limits(64, MIB));
            p.set_headers(true);
            let whole = parse_whole(&mut p, input);
            assert!(whole.1.is_some());
            for cut in 0..=input.len() {
                let mut p = Parser::new(limits(64, MIB));
                p.set_headers(true);
                assert_eq!(split_at(&mut p, input, &[cut]), whole, "cut {cut}");
            }
        }
    }

    fn fragment() -> impl Strategy<Value = Vec<u8>> {
        let token = "[a-zA-Z0-9._>*]{1,6}";
        prop_oneof![
            3 => prop::sample::select(vec![
                "PING\r\n", "PONG\r\n", "+OK\r\n", "ping\n", "CONNECT {}\r\n", "INFO {}\r\n",
                "-ERR 'x'\r\n", "UNSUB 1\r\n", "UNSUB 1 5\r\n", "HMSG a b\r\n\r\n", "\r\n", " ",
                "\t", "\r", "\n", "PUB", "HPUB ", "SUB ", "C", "-", "+", "\x00", "\u{ff}",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            3 => (token, prop::option::of(token), 0usize..12, any::<bool>()).prop_map(
                |(s, r, n, crlf)| {
                    let reply = r.map(|r| format!("{r} ")).unwrap_or_default();
                    let end = if crlf { "\r\n" } else { "\n" };
                    format!("PUB {s} {reply}{n}{end}{}\r\n", "p".repeat(n)).into_bytes()
                }
            ),
            2 => (token, 0usize..6, 0usize..6).prop_map(|(s, h, extra)| {
                let t = h + extra;
                format!("HPUB {s} {h} {t}\r\n{}\r\n", "h".repeat(t)).into_bytes()
            }),
            2 => (token, prop::option::of(token), "[0-9]{1,3}").prop_map(|(s, q, sid)| {
                let q = q.map(|q| format!("{q} ")).unwrap_or_default();
                format!("SUB {s}  {q}{sid}\r\n").into_bytes()
            }),
            2 => prop::collection::vec(
                prop::sample::select(b"PUBSHMGINOK+-CRE \t\r\n0123456789abxyz".to_vec()),
                0..10
            ),
            1 => prop::collection::vec(any::<u8>(), 0..10),
        ]
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(fragment(), 0..12).prop_map(|f| f.concat())
    }

    fn configured(mcl: usize, max_payload: i64, headers: bool, expect: bool) -> Parser {
        let mut p = Parser::new(limits(mcl, max_payload));
        p.set_headers(headers);
        p.set_expect_connect(expect);
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64),
                                       mcl in 0usize..16, maxp in -2i64..16, headers: bool) {
            let mut p = configured(mcl, maxp, headers, false);
            parse_whole(&mut p, &bytes);
        }

        #[test]
        fn split_invariance(input in input(),
                            cuts in prop::collection::vec(0usize..400, 0..6),
                            mcl in 4usize..40, maxp in -1i64..14,
                            headers: bool, expect in prop::bool::weighted(0.1)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let whole = parse_whole(&mut configured(mcl, maxp, headers, expect), &input);
            let split = split_at(&mut configured(mcl, maxp, headers, expect), &input, &cuts);
            prop_assert_eq!(&split, &whole);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            let single = parse_chunked(&mut configured(mcl, maxp, headers, expect), &bytes);
            prop_assert_eq!(&single, &whole);
        }
    }
}
