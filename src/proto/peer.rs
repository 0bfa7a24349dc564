//! The parser for server-to-server connections (routes now, leaf nodes next): turns what a
//! peer server sends into [`PeerOp`]s, one per call, with the acceptance rules of
//! nats-server's `parse` for its ROUTER and LEAF kinds and the argument handling of
//! `processRoutedMsgArgs`, `processRoutedHeaderMsgArgs`,
//! `processRoutedOriginClusterMsgArgs`, `processRemoteSub` and `parseUnsubProto`
//! (`server/route.go`).
//!
//! Like the client parser it is pure (no I/O, no server state), never panics, borrows every
//! op from the caller's buffer, and is split-invariant: the caller keeps what was not
//! consumed and calls again with more, and gets the same ops whatever the split points.
//! It works line by line: find the end of the control line (bounded by 16 times
//! `max_control_line`, nats-server's limit for these kinds), split it into fields on runs of
//! space and tab, then wait for `size + 2` payload bytes. A message whose payload has not
//! arrived is parsed again from its line on the next call; `bytes_needed` says how many
//! bytes that takes, so the caller does not retry on every small read.
//!
//! Errors carry what nats-server does: a `-ERR` text or none, and the close reason. Wrong
//! argument counts and sizes close without `-ERR` (nats-server returns them from `parse`).
//! `PUB`, `HPUB`, `SUB` and `UNSUB`, which nats-server's parser takes on a route and then
//! drops, are accepted and ignored ([`PeerOp::Ignored`]), as are the gateway-only `A+`/`A-`.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt;

use memchr::memchr;

use super::errors::CloseReason;
use super::parser::Limits;
use super::Message;

/// nats-server allows control lines this many times `max_control_line` on routes, leaf
/// nodes and gateways (`overMaxControlLineLimit`).
pub const PEER_CONTROL_LINE_FACTOR: usize = 16;

/// Which server-to-server protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Routes: every sub and message names its account (unless the route is pinned to one).
    Route,
    /// Leaf nodes: the connection is bound to one account; no account tokens.
    Leaf,
}

/// The message verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgVerb {
    Rmsg,
    Hmsg,
    Lmsg,
}

/// Result of one [`PeerParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus<'a> {
    /// An operation and the bytes it took from the start of the buffer.
    Complete(PeerOp<'a>, usize),
    /// More bytes are needed; nothing was consumed.
    Incomplete,
}

use PeerStatus as Status;

/// Queue group names of a routed message, as sent (space-separated fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queues<'a>(&'a [u8]);

impl<'a> Queues<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> {
        self.0
            .split(|b| matches!(b, b' ' | b'\t'))
            .filter(|f| !f.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// `RS+`/`RS-`/`LS+`/`LS-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSub<'a> {
    /// The leaf cluster the interest comes from (route `LS+`, and `LS-` with `lnocu`).
    pub origin: Option<&'a [u8]>,
    /// None on leaf connections and pinned routes.
    pub account: Option<&'a [u8]>,
    pub subject: &'a [u8],
    pub queue: Option<&'a [u8]>,
    /// A queue group's weight (nats-server's `parseSize`, so -1 when not a number); 1 for
    /// plain subjects and for unsubscribes.
    pub weight: i64,
    /// Sent as `LS±` (leaf interest) rather than `RS±`.
    pub leaf: bool,
}

/// `RMSG`/`HMSG`/`LMSG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMsg<'a> {
    pub verb: MsgVerb,
    pub origin: Option<&'a [u8]>,
    pub account: Option<&'a [u8]>,
    /// The queue groups the receiver must give the message to (one member each).
    pub queues: Queues<'a>,
    /// Subject, reply (empty = none), header size and total size as sent, and the data.
    pub msg: Message<'a>,
}

/// One operation from a peer server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerOp<'a> {
    Connect(&'a [u8]),
    Info(&'a [u8]),
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    Sub(PeerSub<'a>),
    Unsub(PeerSub<'a>),
    Msg(PeerMsg<'a>),
    /// Taken and dropped, as nats-server does on these connections.
    Ignored,
}

impl fmt::Display for PeerOp<'_> {
    /// The op as nats-server traces it (`<<- [RS+ $G foo]`), without payloads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            PeerOp::Connect(j) => write!(f, "CONNECT {}", s(j)),
            PeerOp::Info(j) => write!(f, "INFO {}", s(j)),
            PeerOp::Ping => f.write_str("PING"),
            PeerOp::Pong => f.write_str("PONG"),
            PeerOp::Ok => f.write_str("OK"),
            PeerOp::Err(t) => write!(f, "-ERR {}", s(t)),
            PeerOp::Sub(sub) | PeerOp::Unsub(sub) => {
                let verb = match (matches!(self, PeerOp::Sub(_)), sub.leaf) {
                    (true, false) => "RS+",
                    (true, true) => "LS+",
                    (false, false) => "RS-",
                    (false, true) => "LS-",
                };
                write!(f, "{verb}")?;
                for part in [sub.origin, sub.account, Some(sub.subject), sub.queue]
                    .into_iter()
                    .flatten()
                {
                    write!(f, " {}", s(part))?;
                }
                Ok(())
            }
            PeerOp::Msg(m) => {
                let verb = match m.verb {
                    MsgVerb::Rmsg => "RMSG",
                    MsgVerb::Hmsg => "HMSG",
                    MsgVerb::Lmsg => "LMSG",
                };
                write!(f, "{verb}")?;
                for part in [m.origin, m.account, Some(m.msg.subject)]
                    .into_iter()
                    .flatten()
                {
                    write!(f, " {}", s(part))?;
                }
                if !m.msg.reply.is_empty() {
                    write!(f, " {}", s(m.msg.reply))?;
                }
                for q in m.queues.iter() {
                    write!(f, " {}", s(q))?;
                }
                if !m.msg.header_text.is_empty() {
                    write!(f, " {}", s(m.msg.header_text))?;
                }
                write!(f, " {}", s(m.msg.size_text))
            }
            PeerOp::Ignored => f.write_str("(ignored)"),
        }
    }
}

/// Why a peer connection must close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// `-ERR 'Unknown Protocol Operation'`.
    UnknownOp,
    /// `-ERR 'maximum control line exceeded'`.
    MaxControlLine,
    /// Something other than CONNECT while CONNECT is awaited: `-ERR 'Authorization
    /// Violation'`.
    NotConnect,
    /// Wrong arguments: no `-ERR`; the text is what nats-server logs.
    Args(String),
}

impl PeerError {
    /// The `-ERR` text sent before closing, if any.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            PeerError::UnknownOp => Some("Unknown Protocol Operation"),
            PeerError::MaxControlLine => Some("maximum control line exceeded"),
            PeerError::NotConnect => Some(super::errors::AUTH_VIOLATION),
            PeerError::Args(_) => None,
        }
    }

    pub fn close_reason(&self) -> CloseReason {
        match self {
            PeerError::UnknownOp | PeerError::Args(_) => CloseReason::ProtocolViolation,
            PeerError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            PeerError::NotConnect => CloseReason::AuthenticationViolation,
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::UnknownOp => f.write_str("unknown protocol operation"),
            PeerError::MaxControlLine => f.write_str("maximum control line exceeded"),
            PeerError::NotConnect => f.write_str("authentication error"),
            PeerError::Args(t) => f.write_str(t),
        }
    }
}

impl std::error::Error for PeerError {}

/// The parser of one peer connection.
#[derive(Debug, Clone)]
pub struct PeerParser {
    kind: PeerKind,
    limits: Limits,
    expect_connect: bool,
    account_bound: bool,
    unsub_origin: bool,
    needed: Option<usize>,
}

/// Most fields a control line is split into before it counts as "many" (queue lists are
/// taken from the raw line, not from this array).
const MAX_FIELDS: usize = 8;

impl PeerParser {
    pub fn new(kind: PeerKind, limits: Limits) -> PeerParser {
        PeerParser {
            kind,
            limits,
            expect_connect: false,
            account_bound: false,
            unsub_origin: false,
            needed: None,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The first operation must be CONNECT (an accepted route before it is known).
    pub fn set_expect_connect(&mut self, on: bool) {
        self.expect_connect = on;
    }

    /// A route pinned to one account: no account token in its protocol lines.
    pub fn set_account_bound(&mut self, on: bool) {
        self.account_bound = on;
    }

    /// The peer said `lnocu`: a route `LS-` carries the origin cluster.
    pub fn set_unsub_origin(&mut self, on: bool) {
        self.unsub_origin = on;
    }

    /// Bytes the pending message needs in all before another call can complete it.
    pub fn bytes_needed(&self) -> Option<usize> {
        self.needed
    }

    fn max_line(&self) -> usize {
        self.limits
            .max_control_line
            .max(1)
            .saturating_mul(PEER_CONTROL_LINE_FACTOR)
    }

    /// Parses one operation from the start of `buf`.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<PeerStatus<'a>, PeerError> {
        self.needed = None;
        let Some(&first) = buf.first() else {
            return Ok(Status::Incomplete);
        };
        if self.expect_connect && first != b'C' && first != b'c' {
            return Err(PeerError::NotConnect);
        }
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > self.max_line() {
                return Err(PeerError::MaxControlLine);
            }
            return Ok(Status::Incomplete);
        };
        let line = buf.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.max_line() {
            return Err(PeerError::MaxControlLine);
        }
        let next = nl + 1;
        let verb_end = line
            .iter()
            .position(|b| matches!(b, b' ' | b'\t'))
            .unwrap_or(line.len());
        let verb = line.get(..verb_end).unwrap_or_default();
        let rest = line.get(verb_end..).unwrap_or_default();
        let arg = trim_start(rest);
        let has_arg = rest.len() != verb.len() && !rest.is_empty();
        let upper = |v: &[u8]| -> [u8; 8] {
            let mut out = [0u8; 8];
            for (o, b) in out.iter_mut().zip(v) {
                *o = b.to_ascii_uppercase();
            }
            out
        };
        let v = upper(verb);
        let is = |name: &[u8]| verb.len() == name.len() && v.get(..name.len()) == Some(name);
        // PING, PONG and +OK take anything after them up to the newline, as nats-server's
        // states do.
        let starts = |name: &[u8]| v.get(..name.len()) == Some(name) && verb.len() >= name.len();
        let op = if starts(b"PING") {
            PeerOp::Ping
        } else if starts(b"PONG") {
            PeerOp::Pong
        } else if starts(b"+OK") {
            PeerOp::Ok
        } else if is(b"-ERR") {
            PeerOp::Err(arg)
        } else if is(b"CONNECT") && has_arg {
            PeerOp::Connect(arg)
        } else if is(b"INFO") && has_arg {
            PeerOp::Info(arg)
        } else if (is(b"RS+") || is(b"RS-")) && self.kind == PeerKind::Route {
            self.sub(arg, v.get(2) == Some(&b'+'), false)?
        } else if is(b"LS+") || is(b"LS-") {
            self.sub(arg, v.get(2) == Some(&b'+'), true)?
        } else if (is(b"RMSG") && self.kind == PeerKind::Route) || is(b"HMSG") || is(b"LMSG") {
            let verb = match v.first() {
                Some(b'H') => MsgVerb::Hmsg,
                Some(b'L') => MsgVerb::Lmsg,
                _ => MsgVerb::Rmsg,
            };
            return self.msg(buf, verb, arg, next);
        } else if is(b"PUB") || is(b"HPUB") {
            return self.skipped_pub(buf, arg, next, is(b"HPUB"));
        } else if is(b"SUB") || is(b"UNSUB") || is(b"A+") || is(b"A-") {
            PeerOp::Ignored
        } else {
            return Err(PeerError::UnknownOp);
        };
        Ok(Status::Complete(op, next))
    }

    /// `RS±`/`LS±`, with nats-server's field positions (`processRemoteSub`,
    /// `parseUnsubProto`, `processLeafSub`).
    fn sub<'a>(&self, arg: &'a [u8], add: bool, leaf: bool) -> Result<PeerOp<'a>, PeerError> {
        let (f, n) = fields::<MAX_FIELDS>(arg);
        let has_origin = leaf && self.kind == PeerKind::Route && (add || self.unsub_origin);
        let has_account = self.kind == PeerKind::Route && !self.account_bound;
        let subj = has_origin as usize + has_account as usize;
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let (queue, weight) = match (add, n.checked_sub(subj)) {
            (_, Some(1)) => (None, 1),
            (true, Some(3)) => (Some(get(subj + 1)), parse_size(get(subj + 2))),
            (false, Some(2)) => (Some(get(subj + 1)), 1),
            _ => {
                let what = match (self.kind, add) {
                    (PeerKind::Route, true) => "processRemoteSub Parse Error",
                    (PeerKind::Route, false) => "processRemoteUnsub parse error",
                    (PeerKind::Leaf, true) => "processLeafSub Parse Error",
                    (PeerKind::Leaf, false) => "processLeafUnsub parse error",
                };
                return Err(PeerError::Args(format!(
                    "{what}: '{}'",
                    String::from_utf8_lossy(arg)
                )));
            }
        };
        let sub = PeerSub {
            origin: has_origin.then(|| get(0)),
            account: has_account.then(|| get(has_origin as usize)),
            subject: get(subj),
            queue,
            weight,
            leaf,
        };
        Ok(if add {
            PeerOp::Sub(sub)
        } else {
            PeerOp::Unsub(sub)
        })
    }

    fn msg<'a>(
        &mut self,
        buf: &'a [u8],
        verb: MsgVerb,
        arg: &'a [u8],
        payload_start: usize,
    ) -> Result<PeerStatus<'a>, PeerError> {
        let name = match verb {
            MsgVerb::Rmsg => "processRoutedMsgArgs",
            MsgVerb::Hmsg if self.kind == PeerKind::Route => "processRoutedHeaderMsgArgs",
            MsgVerb::Hmsg => "processLeafHeaderMsgArgs",
            MsgVerb::Lmsg if self.kind == PeerKind::Route => "processRoutedOriginClusterMsgArgs",
            MsgVerb::Lmsg => "processLeafMsgArgs",
        };
        let bad = |what: &str| {
            PeerError::Args(format!("{name} {what}: '{}'", String::from_utf8_lossy(arg)))
        };
        let all = field_spans(arg);
        let has_origin = verb == MsgVerb::Lmsg && self.kind == PeerKind::Route;
        let has_account = self.kind == PeerKind::Route && !self.account_bound;
        let lead = has_origin as usize + has_account as usize;
        let with_header = verb == MsgVerb::Hmsg || has_origin;
        let sizes = 1 + with_header as usize;
        // Fields after the subject: [reply] sizes, or `+ reply q… sizes`, `| q… sizes`.
        let n = all.len();
        let min = lead + 1 + sizes;
        if n < min {
            return Err(bad("Parse Error"));
        }
        let field = |i: usize| {
            all.get(i)
                .and_then(|&(s, e)| arg.get(s..e))
                .unwrap_or_default()
        };
        let subj = lead;
        let extra = n - min;
        let (reply, queues): (&[u8], &[u8]) = match extra {
            0 => (b"", b""),
            1 => (field(subj + 1), b""),
            _ => {
                let marker = field(subj + 1);
                let (reply, first_queue) = match marker {
                    b"+" => (field(subj + 2), subj + 3),
                    b"|" => (&b""[..], subj + 2),
                    _ => return Err(bad("Bad or Missing Reply Indicator")),
                };
                let last_queue = n - sizes;
                let queues = match (all.get(first_queue), all.get(last_queue.wrapping_sub(1))) {
                    (Some(&(s, _)), Some(&(_, e))) if first_queue < last_queue => {
                        arg.get(s..e).unwrap_or_default()
                    }
                    _ => b"",
                };
                (reply, queues)
            }
        };
        let size_text = field(n - 1);
        let size = parse_size(size_text);
        let (header_text, header_len) = if with_header {
            let h = field(n - 2);
            let hl = parse_size(h);
            if hl < 0 {
                return Err(bad("Bad or Missing Header Size"));
            }
            (h, hl)
        } else {
            (&b""[..], 0)
        };
        if size < 0 {
            return Err(bad("Bad or Missing Size"));
        }
        if header_len > size {
            return Err(bad("Header Size larger then TotalSize"));
        }
        let data = match take_payload(buf, payload_start, size as usize)? {
            Some(d) => d,
            None => {
                self.needed = Some(payload_start + size as usize + 2);
                return Ok(Status::Incomplete);
            }
        };
        let msg = PeerMsg {
            verb,
            origin: has_origin.then(|| field(0)),
            account: has_account.then(|| field(has_origin as usize)),
            queues: Queues(queues),
            msg: Message {
                subject: field(subj),
                reply,
                header_len: header_len as usize,
                header_text,
                size_text,
                data,
            },
        };
        Ok(Status::Complete(
            PeerOp::Msg(msg),
            payload_start + size as usize + 2,
        ))
    }

    /// A client-style PUB/HPUB on a peer connection: its payload is consumed and dropped.
    fn skipped_pub<'a>(
        &mut self,
        buf: &'a [u8],
        arg: &'a [u8],
        payload_start: usize,
        headers: bool,
    ) -> Result<PeerStatus<'a>, PeerError> {
        let (f, n) = fields::<MAX_FIELDS>(arg);
        let sizes = 1 + headers as usize;
        if n < 1 + sizes || n > 2 + sizes {
            return Err(PeerError::Args(format!(
                "processPub Parse Error: '{}'",
                String::from_utf8_lossy(arg)
            )));
        }
        let size = parse_size(f.get(n - 1).copied().unwrap_or_default());
        if size < 0 {
            return Err(PeerError::Args(format!(
                "processPub Bad or Missing Size: '{}'",
                String::from_utf8_lossy(arg)
            )));
        }
        match take_payload(buf, payload_start, size as usize)? {
            Some(_) => Ok(Status::Complete(
                PeerOp::Ignored,
                payload_start + size as usize + 2,
            )),
            None => {
                self.needed = Some(payload_start + size as usize + 2);
                Ok(Status::Incomplete)
            }
        }
    }
}

/// The `size` payload bytes at `start` if they and their CRLF have arrived; an error when
/// something else follows the payload.
fn take_payload(buf: &[u8], start: usize, size: usize) -> Result<Option<&[u8]>, PeerError> {
    let end = start.saturating_add(size);
    match (buf.get(end), buf.get(end.saturating_add(1))) {
        (Some(b'\r'), Some(b'\n')) => Ok(buf.get(start..end)),
        (Some(b'\r'), None) | (None, _) => Ok(None),
        _ => Err(PeerError::UnknownOp),
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    b.get(skip..).unwrap_or_default()
}

/// The fields of `arg` (split on runs of space and tab), the first `N` of them, and how
/// many there are.
fn fields<const N: usize>(arg: &[u8]) -> ([&[u8]; N], usize) {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    for f in arg
        .split(|b| matches!(b, b' ' | b'\t'))
        .filter(|f| !f.is_empty())
    {
        if let Some(slot) = out.get_mut(n) {
            *slot = f;
        }
        n += 1;
    }
    (out, n)
}

/// Start and end of every field of `arg`.
fn field_spans(arg: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::with_capacity(8);
    let mut start = None;
    for (i, &b) in arg.iter().chain(std::iter::once(&b' ')).enumerate() {
        let sep = matches!(b, b' ' | b'\t');
        match (sep, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// nats' `parseSize`: 1 to 9 ASCII digits, else -1.
fn parse_size(d: &[u8]) -> i64 {
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return -1;
    }
    d.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'))
}

// ----- encoders ------------------------------------------------------------------------

/// `RS+ <acc> <subj> [<queue> <weight>]`, or `RS- <acc> <subj> [<queue>]` at weight 0, as
/// nats-server's `sendRouteSubOrUnSubProtos` writes them.
pub fn write_route_interest(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    weight: u32,
) {
    out.extend_from_slice(if weight > 0 { b"RS+ " } else { b"RS- " });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        if weight > 0 {
            out.push(b' ');
            out.extend_from_slice(weight.to_string().as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A message to a route, as nats-server's `msgHeaderForRouteOrLeaf` writes it:
/// `RMSG <acc> <subj> [<reply>] <size>`, `… + <reply> <q…> <size>` or `… | <q…> <size>`,
/// and `HMSG` with `<hdr> <total>` when it has headers and the peer takes them. A peer that
/// does not take headers gets the message without its header block.
pub fn write_route_msg(
    out: &mut Vec<u8>,
    account: &[u8],
    msg: &Message<'_>,
    queues: &[&[u8]],
    peer_headers: bool,
) {
    let with_headers = msg.header_len > 0 && peer_headers;
    let body = if msg.header_len > 0 && !peer_headers {
        msg.data.get(msg.header_len..).unwrap_or_default()
    } else {
        msg.data
    };
    out.reserve(msg.subject.len() + msg.reply.len() + account.len() + body.len() + 32);
    out.extend_from_slice(if with_headers { b"HMSG " } else { b"RMSG " });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(msg.subject);
    out.push(b' ');
    if !queues.is_empty() {
        if msg.reply.is_empty() {
            out.extend_from_slice(b"| ");
        } else {
            out.extend_from_slice(b"+ ");
            out.extend_from_slice(msg.reply);
            out.push(b' ');
        }
        for q in queues {
            out.extend_from_slice(q);
            out.push(b' ');
        }
    } else if !msg.reply.is_empty() {
        out.extend_from_slice(msg.reply);
        out.push(b' ');
    }
    if with_headers {
        out.extend_from_slice(msg.header_text);
        out.push(b' ');
        out.extend_from_slice(msg.size_text);
    } else if msg.header_len > 0 {
        out.extend_from_slice(body.len().to_string().as_bytes());
    } else {
        out.extend_from_slice(msg.size_text);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route() -> PeerParser {
        PeerParser::new(PeerKind::Route, Limits::default())
    }

    /// Parses every op of `input`; the rendered ops, or the error.
    fn all(p: &mut PeerParser, input: &[u8]) -> Result<Vec<String>, PeerError> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            match p.parse(&input[pos..])? {
                Status::Complete(op, used) => {
                    assert!(used > 0 && pos + used <= input.len());
                    out.push(render(&op));
                    pos += used;
                }
                Status::Incomplete => break,
            }
        }
        Ok(out)
    }

    fn render(op: &PeerOp<'_>) -> String {
        match op {
            PeerOp::Msg(m) => format!("{op} data={:?}", String::from_utf8_lossy(m.msg.data)),
            PeerOp::Sub(s) | PeerOp::Unsub(s) => format!("{op} w={}", s.weight),
            _ => op.to_string(),
        }
    }

    fn one(input: &str) -> Result<String, PeerError> {
        let ops = all(&mut route(), input.as_bytes())?;
        assert_eq!(ops.len(), 1, "{input:?} gave {ops:?}");
        Ok(ops[0].clone())
    }

    #[test]
    fn route_forms() {
        assert_eq!(one("RS+ $G foo\r\n").unwrap(), "RS+ $G foo w=1");
        assert_eq!(
            one("rs+ $G foo.> WORKERS 3\r\n").unwrap(),
            "RS+ $G foo.> WORKERS w=3"
        );
        assert_eq!(
            one("RS- $G foo WORKERS\r\n").unwrap(),
            "RS- $G foo WORKERS w=1"
        );
        assert_eq!(
            one("LS+ LEAFC $G bar q1 2\r\n").unwrap(),
            "LS+ LEAFC $G bar q1 w=2"
        );
        assert_eq!(
            one("RMSG $G foo 2\r\nhi\r\n").unwrap(),
            "RMSG $G foo 2 data=\"hi\""
        );
        assert_eq!(
            one("RMSG $G foo _INBOX.1 2\r\nhi\r\n").unwrap(),
            "RMSG $G foo _INBOX.1 2 data=\"hi\""
        );
        assert_eq!(
            one("RMSG $G work.a | WORKERS 6\r\nabcdef\r\n").unwrap(),
            "RMSG $G work.a WORKERS 6 data=\"abcdef\""
        );
        assert_eq!(
            one("RMSG $G work.a + rep q1 q2 1\r\nx\r\n").unwrap(),
            "RMSG $G work.a rep q1 q2 1 data=\"x\""
        );
        assert_eq!(
            one("HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n").unwrap(),
            "HMSG $G foo 12 14 data=\"NATS/1.0\\r\\n\\r\\nhi\""
        );
        assert_eq!(
            one("LMSG LEAFC $G foo rep 0 2\r\nhi\r\n").unwrap(),
            "LMSG LEAFC $G foo rep 0 2 data=\"hi\""
        );
        assert_eq!(one("PING\r\n").unwrap(), "PING");
        assert_eq!(one("pong\r\n").unwrap(), "PONG");
        assert_eq!(one("-ERR 'oops'\r\n").unwrap(), "-ERR 'oops'");
        assert_eq!(one("INFO {\"a\":1}\r\n").unwrap(), "INFO {\"a\":1}");
        assert_eq!(one("SUB foo 1\r\n").unwrap(), "(ignored)");
        assert_eq!(one("PUB foo 2\r\nhi\r\n").unwrap(), "(ignored)");
    }

    #[test]
    fn queues_and_fields() {
        let mut p = route();
        let input = b"RMSG $G\twork.a  +  rep q1\tq2 1\r\nx\r\n";
        let Status::Complete(PeerOp::Msg(m), used) = p.parse(input).unwrap() else {
            panic!()
        };
        assert_eq!(used, input.len());
        assert_eq!(m.account, Some(&b"$G"[..]));
        assert_eq!(m.msg.reply, b"rep");
        let q: Vec<&[u8]> = m.queues.iter().collect();
        assert_eq!(q, vec![&b"q1"[..], &b"q2"[..]]);
        assert_eq!(m.msg.size_text, b"1");
    }

    #[test]
    fn leaf_forms() {
        let mut p = PeerParser::new(PeerKind::Leaf, Limits::default());
        let ops = all(
            &mut p,
            b"LS+ bar q1 2\r\nLS- bar q1\r\nLMSG edge.work | W 6\r\nabcdef\r\nHMSG edge.work | W 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                "LS+ bar q1 w=2",
                "LS- bar q1 w=1",
                "LMSG edge.work W 6 data=\"abcdef\"",
                "HMSG edge.work W 12 14 data=\"NATS/1.0\\r\\n\\r\\nhi\"",
            ]
        );
        assert_eq!(
            all(&mut p, b"RMSG $G foo 1\r\nx\r\n"),
            Err(PeerError::UnknownOp)
        );
    }

    #[test]
    fn pinned_routes_have_no_account() {
        let mut p = route();
        p.set_account_bound(true);
        let Status::Complete(PeerOp::Sub(s), _) = p.parse(b"RS+ foo q 2\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.account, s.subject, s.queue),
            (None, &b"foo"[..], Some(&b"q"[..]))
        );
        let Status::Complete(PeerOp::Msg(m), _) = p.parse(b"RMSG foo 1\r\nx\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((m.account, m.msg.subject), (None, &b"foo"[..]));
    }

    #[test]
    fn errors_like_nats_server() {
        assert_eq!(one("FOO bar\r\n"), Err(PeerError::UnknownOp));
        assert!(
            matches!(one("RS+ $G\r\n"), Err(PeerError::Args(t)) if t.starts_with("processRemoteSub Parse Error"))
        );
        assert!(matches!(one("RS+ $G foo q\r\n"), Err(PeerError::Args(_))));
        assert!(matches!(one("RMSG $G\r\n"), Err(PeerError::Args(t)) if t.contains("Parse Error")));
        assert!(
            matches!(one("RMSG $G foo x y 1\r\n"), Err(PeerError::Args(t)) if t.contains("Bad or Missing Reply Indicator"))
        );
        assert!(
            matches!(one("RMSG $G foo abc\r\n"), Err(PeerError::Args(t)) if t.contains("Bad or Missing Size"))
        );
        assert!(
            matches!(one("HMSG $G foo 9 3\r\n"), Err(PeerError::Args(t)) if t.contains("Header Size larger"))
        );
        assert_eq!(one("RMSG $G foo 1\r\nxy\r\n"), Err(PeerError::UnknownOp));
        let mut p = route();
        p.set_expect_connect(true);
        assert_eq!(p.parse(b"RS+ $G foo\r\n"), Err(PeerError::NotConnect));
        assert!(matches!(
            p.parse(b"CONNECT {}\r\n"),
            Ok(Status::Complete(PeerOp::Connect(b"{}"), _))
        ));
        let long = format!("RS+ $G {}\r\n", "a".repeat(16 * 4096));
        assert_eq!(
            route().parse(long.as_bytes()),
            Err(PeerError::MaxControlLine)
        );
        let ok = format!("RS+ $G {}\r\n", "a".repeat(8 * 4096));
        assert!(matches!(
            route().parse(ok.as_bytes()),
            Ok(Status::Complete(..))
        ));
        assert_eq!(
            route().parse("a".repeat(16 * 4096 + 1).as_bytes()),
            Err(PeerError::MaxControlLine)
        );
    }

    #[test]
    fn bytes_needed_for_payloads() {
        let mut p = route();
        assert_eq!(
            p.parse(b"RMSG $G foo 10\r\nabc").unwrap(),
            Status::Incomplete
        );
        assert_eq!(p.bytes_needed(), Some(16 + 10 + 2));
    }

    #[test]
    fn encoders_round_trip() {
        let mut out = Vec::new();
        write_route_interest(&mut out, b"$G", b"foo.*", None, 1);
        write_route_interest(&mut out, b"$G", b"work", Some(b"W"), 3);
        write_route_interest(&mut out, b"$G", b"work", Some(b"W"), 0);
        write_route_interest(&mut out, b"$G", b"foo.*", None, 0);
        let m = |reply: &'static [u8],
                 data: &'static [u8],
                 hl: usize,
                 ht: &'static [u8],
                 st: &'static [u8]| Message {
            subject: b"s",
            reply,
            header_len: hl,
            header_text: ht,
            size_text: st,
            data,
        };
        write_route_msg(&mut out, b"A", &m(b"", b"hi", 0, b"", b"2"), &[], true);
        write_route_msg(
            &mut out,
            b"A",
            &m(b"r", b"hi", 0, b"", b"2"),
            &[b"q1", b"q2"],
            true,
        );
        write_route_msg(&mut out, b"A", &m(b"", b"hi", 0, b"", b"2"), &[b"q1"], true);
        write_route_msg(
            &mut out,
            b"A",
            &m(b"r", b"NATS/1.0\r\n\r\nhi", 12, b"12", b"14"),
            &[],
            true,
        );
        write_route_msg(
            &mut out,
            b"A",
            &m(b"", b"NATS/1.0\r\n\r\nhi", 12, b"12", b"14"),
            &[],
            false,
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "RS+ $G foo.*\r\nRS+ $G work W 3\r\nRS- $G work W\r\nRS- $G foo.*\r\n\
             RMSG A s 2\r\nhi\r\nRMSG A s + r q1 q2 2\r\nhi\r\nRMSG A s | q1 2\r\nhi\r\n\
             HMSG A s r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nRMSG A s 2\r\nhi\r\n"
        );
        let ops = all(&mut route(), &out).unwrap();
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[5], "RMSG A s r q1 q2 2 data=\"hi\"");
        assert_eq!(ops[7], "HMSG A s r 12 14 data=\"NATS/1.0\\r\\n\\r\\nhi\"");
    }

    fn stream() -> Vec<u8> {
        b"PING\r\nRS+ $G foo\r\nRS+ $G q.> W 2\r\nRMSG $G foo + r W 3\r\nabc\r\n\
          HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nLMSG L $G x 0 1\r\nz\r\nRS- $G foo\r\nPONG\r\n"
            .to_vec()
    }

    /// Parses what `held[*pos..]` holds completely, advancing `pos`.
    fn drain(p: &mut PeerParser, held: &[u8], pos: &mut usize, got: &mut Vec<String>) {
        while let Status::Complete(op, used) = p.parse(&held[*pos..]).unwrap() {
            got.push(render(&op));
            *pos += used;
        }
    }

    #[test]
    fn every_split_point() {
        let input = stream();
        let whole = all(&mut route(), &input).unwrap();
        assert_eq!(whole.len(), 8);
        for cut in 0..input.len() {
            let mut p = route();
            let (mut got, mut pos) = (Vec::new(), 0);
            drain(&mut p, &input[..cut], &mut pos, &mut got);
            drain(&mut p, &input, &mut pos, &mut got);
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96), leaf in any::<bool>()) {
            let kind = if leaf { PeerKind::Leaf } else { PeerKind::Route };
            let mut p = PeerParser::new(kind, Limits { max_control_line: 8, max_payload: -1 });
            let mut pos = 0;
            while pos < bytes.len() {
                match p.parse(&bytes[pos..]) {
                    Ok(Status::Complete(_, used)) => {
                        prop_assert!(used > 0 && pos + used <= bytes.len());
                        pos += used;
                    }
                    _ => break,
                }
            }
        }
    }
}
