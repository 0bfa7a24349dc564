//! The server-to-server protocols: turns the bytes a route or a leaf node sends into
//! [`PeerOp`]s, one operation per call, with the acceptance rules nats-server's `parse`
//! state machine (`server/parser.go`) applies to its `ROUTER` and `LEAF` connection kinds and
//! the argument handling of `processRoutedMsgArgs`, `processRoutedHeaderMsgArgs`,
//! `processRoutedOriginClusterMsgArgs`, `processRemoteSub`, `parseUnsubProto` (`route.go`)
//! and `processLeafMsgArgs`, `processLeafHeaderMsgArgs`, `processLeafSub`,
//! `processLeafUnsub` (`leafnode.go`); and writes the interest and message lines nats-server
//! writes to them (`addRouteSubOrUnsubProtoToBuf`, `writeLeafSub`, and
//! `msgHeaderForRouteOrLeaf` in `client.go`).
//!
//! What this module owns: the verbs each kind accepts, splitting their arguments, the
//! control-line and payload limits of these kinds, which malformed input is fatal and what
//! nats-server answers, and the exact bytes of `RS±`/`LS±`/`RMSG`/`HMSG`/`LMSG`. It does not
//! own what an op means (INFO/CONNECT JSON, accounts, interest, loop detection, permissions):
//! the route and leaf code does that, and flips the parser's flags (`set_expect_connect`,
//! `set_headers`, `set_account_bound`, `set_unsub_origin`) as the handshake goes.
//!
//! Invariants (those of [`super::parser`], which this module shares its line scanner with):
//! - Never panics and never allocates on a successful parse: every op borrows from the
//!   caller's buffer. Only the error path allocates (the [`PeerError::Args`] log text).
//! - Split invariance: the caller keeps every unconsumed byte and calls again with them plus
//!   new bytes; the ops and the error are the same whatever the split points. Where
//!   nats-server is not split invariant (PUB/HPUB on a route, below) we do what it does when
//!   the whole op arrives in one read.
//! - Only state kept between calls: the parsed control line of a message whose payload has
//!   not fully arrived, and the flags.
//! - A [`PeerStatus::Complete`] never consumes more than `buf.len()` bytes, and at least 1.
//!
//! The rules of these kinds, as nats-server 2.15.1 applies them (checked against the binary):
//! - The control line may be 16 × `max_control_line` long (`overMaxControlLineLimit`), 64 KiB
//!   by default, because origin, account, reply and queue names share one line.
//! - Routes have no payload limit: a route's `mpay` is -1 (`createRoute`) and the routed
//!   message parsers never look at it, so an `RMSG` of up to 999,999,999 bytes (the largest
//!   `parseSize` reads) is accepted whatever `max_payload` says. Leafs use the connection's
//!   `mpay` (`max_payload`, lowered by account and user limits): over it, `-ERR 'Maximum
//!   Payload Violation'` and close, before any payload byte.
//! - On a route `SUB` is read and silently ignored (`parse` dispatches `SUB_ARG` on the
//!   first byte of the verb and routes know only `R`/`L`), `UNSUB` is an `RS-`, `A+`/`A-`
//!   (gateway interest) are ignored, `PUB`/`HPUB` are messages without an account.
//! - On a leaf `SUB`/`RS+` are `LS+`, `UNSUB`/`RS-` are `LS-`, `RMSG` is `LMSG`, `PUB`/`HPUB`
//!   are messages, `A+`/`A-` are ignored; no op carries an account.
//! - `MSG` is an unknown op on both (`-ERR 'Unknown Protocol Operation'`, close).
//! - Bad arguments close the connection without `-ERR` (nats logs the text and closes with
//!   `ProtocolViolation`); the texts are nats-server's, `'%s'`-formatted as it does.
//!
//! Deliberate differences from nats-server:
//! - `PUB`/`HPUB` on a route whose payload is split across reads: nats re-parses the saved
//!   arguments as `RMSG`/`HMSG` arguments (`clonePubArg`), so `PUB foo 5` then fails with
//!   `Unknown Protocol Operation` and `PUB foo bar 5` becomes a message on subject `bar` in
//!   account `foo`. We always parse them as PUB/HPUB (what nats does in one read).
//! - A route `LS- ` whose argument has no field (e.g. `LS- \r\n`) while the peer has `lnocu`
//!   crashes nats-server 2.15.1 (index out of range in `parseUnsubProto`); we reject it like
//!   any other bad `LS-` ([`PeerError::Args`]).
//! - The two bounds [`super::parser`] documents (junk after PING/PONG/+OK, blanks before an
//!   argument) apply here with the 16 × limit.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::errors::CloseReason;
use super::parser::{
    go_quote, is_pub_sep, is_split_arg_sep, parse_size, Limits, Line, ParseError, Parser, Span,
    NO_PAYLOAD_LIMIT,
};
use super::{fmt_usize, Message};
use std::fmt;

/// nats-server allows route, leaf and gateway control lines this many times
/// `max_control_line` (`overMaxControlLineLimit` in `parser.go`).
pub const CONTROL_LINE_FACTOR: usize = 16;

/// Which server-to-server connection the bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// A cluster route (nats-server's `ROUTER`).
    Route,
    /// A leaf node connection, hub or spoke side (nats-server's `LEAF`).
    Leaf,
}

/// Result of one [`PeerParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus<'a> {
    /// An operation and the number of bytes it took from the start of the buffer.
    Complete(PeerOp<'a>, usize),
    /// More bytes are needed; nothing was consumed.
    Incomplete,
}

/// One operation from a route or leaf, borrowing from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerOp<'a> {
    /// The JSON argument of CONNECT (leading blanks skipped, trailing CR dropped).
    Connect(&'a [u8]),
    /// The JSON argument of INFO. nats-server closes on JSON it cannot decode.
    Info(&'a [u8]),
    Ping,
    Pong,
    /// `+OK`: read and ignored.
    Ok,
    /// `-ERR`'s argument. nats-server closes a route that sends one (`processErr`, close
    /// reason `ParseError`) and only logs it on a leaf.
    Err(&'a [u8]),
    /// `RS+`, `LS+` (and `UNSUB`/`SUB`/`RS+` on a leaf): interest, or a new queue weight.
    Sub(PeerSub<'a>),
    /// `RS-`, `LS-` (and `UNSUB`, `RS-` on a leaf, `UNSUB` on a route).
    Unsub(PeerSub<'a>),
    /// `RMSG`, `HMSG`, `LMSG`, and `PUB`/`HPUB`, with their payload.
    Msg(PeerMsg<'a>),
    /// An op nats-server reads and does nothing with; `arg` is its argument.
    Ignored {
        op: IgnoredOp,
        arg: &'a [u8],
    },
}

/// What [`PeerOp::Ignored`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredOp {
    /// `SUB` on a route.
    RouteSub,
    /// `A+` (gateway account interest; `processAccountSub` acts only on gateways).
    AccountSub,
    /// `A-`, also spelt `Au` (but not `AU`): `parser.go` accepts `-` or a lower-case `u`.
    AccountUnsub,
    /// An `LS-` on a leaf whose argument has no field (it starts with CR or LF): nats looks
    /// its raw argument up as a key, which no subscription can have.
    LeafUnsubNoFields,
}

/// Interest from a peer: `RS+`/`RS-`/`LS+`/`LS-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSub<'a> {
    /// The leaf cluster the interest is for: route `LS+`, and route `LS-` from a peer with
    /// `lnocu`.
    pub origin: Option<&'a [u8]>,
    /// The account; `None` on a leaf and on a route pinned to one account.
    pub account: Option<&'a [u8]>,
    pub subject: &'a [u8],
    pub queue: Option<&'a [u8]>,
    /// A queue subscription's weight (the sender's member count), as nats reads it: -1 when
    /// not a `parseSize` number. 1 for plain subscriptions and for unsubscribes.
    pub weight: i32,
    /// With [`Self::key`], the identity nats-server gives this interest: its subscription map
    /// key is `key_prefix` followed by `key`, compared byte for byte, blanks included (so
    /// `RS- $G  foo` does not remove `RS+ $G foo`). The prefix is `R ` or `L ` on a route
    /// whose peer has `lnocu` (nats' `keyRoutedSubByte`/`keyRoutedLeafSubByte`), else empty.
    pub key_prefix: &'static [u8],
    /// The raw argument (nats' `drop` quirk applied), without the queue weight for a sub, and
    /// without the origin for a route `LS+` from a peer without `lnocu` (`processRemoteSub`).
    /// A leaf `LS-` is looked up by this alone and never split by nats: with more than two
    /// fields it can still match a queue sub whose `LS+` had trailing blanks.
    pub key: &'a [u8],
}

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgVerb {
    /// `RMSG` (on a leaf: parsed as `LMSG`).
    Rmsg,
    Hmsg,
    Lmsg,
    /// `PUB` on a peer connection: no account, reply but no queues.
    Pub,
    /// `HPUB`: as [`MsgVerb::Pub`], accepted only once [`PeerParser::set_headers`] is on.
    Hpub,
}

/// The queue groups a routed message names: the receiver delivers it to one member of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queues<'a> {
    raw: &'a [u8],
}

impl<'a> Queues<'a> {
    /// The bytes from the first queue name to the end of the last one, as sent.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn iter(&self) -> QueueIter<'a> {
        QueueIter { rest: self.raw }
    }
}

impl<'a> IntoIterator for Queues<'a> {
    type Item = &'a [u8];
    type IntoIter = QueueIter<'a>;
    fn into_iter(self) -> QueueIter<'a> {
        self.iter()
    }
}

/// The names in [`Queues`], split where nats splits routed arguments (space, tab, CR, LF).
#[derive(Debug, Clone)]
pub struct QueueIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for QueueIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| !is_split_arg_sep(b))?;
        let tail = self.rest.get(start..).unwrap_or_default();
        let len = tail
            .iter()
            .position(|&b| is_split_arg_sep(b))
            .unwrap_or(tail.len());
        let (name, rest) = tail.split_at(len);
        self.rest = rest;
        Some(name)
    }
}

/// A message from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMsg<'a> {
    pub verb: MsgVerb,
    /// The leaf cluster a route `LMSG` came from.
    pub origin: Option<&'a [u8]>,
    /// The account; `None` on a leaf, on a pinned route, and for PUB/HPUB.
    pub account: Option<&'a [u8]>,
    pub queues: Queues<'a>,
    /// Subject, reply (empty: none), header size (0 and empty text without headers; a route
    /// `LMSG` always has the text, `0` when there are none: `header_len` 0 means no headers
    /// whatever the text), the size digits as sent, and headers+payload without the CRLF.
    pub msg: Message<'a>,
}

/// A [`PeerOp`] copied out of its buffer, so ops parsed from different buffers (or from one
/// input split at different points) compare: the tests and the fuzz target use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedPeerOp {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
    Sub(OwnedPeerSub),
    Unsub(OwnedPeerSub),
    Msg(OwnedPeerMsg),
    Ignored(IgnoredOp, Vec<u8>),
}

/// [`PeerSub`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPeerSub {
    pub origin: Option<Vec<u8>>,
    pub account: Option<Vec<u8>>,
    pub subject: Vec<u8>,
    pub queue: Option<Vec<u8>>,
    pub weight: i32,
    pub key_prefix: &'static [u8],
    pub key: Vec<u8>,
}

/// [`PeerMsg`], owned; `queues` are the names, `queues_raw` the bytes as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPeerMsg {
    pub verb: MsgVerb,
    pub origin: Option<Vec<u8>>,
    pub account: Option<Vec<u8>>,
    pub queues: Vec<Vec<u8>>,
    pub queues_raw: Vec<u8>,
    pub subject: Vec<u8>,
    pub reply: Vec<u8>,
    pub header_len: usize,
    pub header_text: Vec<u8>,
    pub size_text: Vec<u8>,
    pub data: Vec<u8>,
}

impl PeerSub<'_> {
    pub fn to_owned_sub(&self) -> OwnedPeerSub {
        OwnedPeerSub {
            origin: self.origin.map(<[u8]>::to_vec),
            account: self.account.map(<[u8]>::to_vec),
            subject: self.subject.to_vec(),
            queue: self.queue.map(<[u8]>::to_vec),
            weight: self.weight,
            key_prefix: self.key_prefix,
            key: self.key.to_vec(),
        }
    }
}

impl PeerOp<'_> {
    pub fn to_owned_op(&self) -> OwnedPeerOp {
        match *self {
            PeerOp::Connect(a) => OwnedPeerOp::Connect(a.to_vec()),
            PeerOp::Info(a) => OwnedPeerOp::Info(a.to_vec()),
            PeerOp::Ping => OwnedPeerOp::Ping,
            PeerOp::Pong => OwnedPeerOp::Pong,
            PeerOp::Ok => OwnedPeerOp::Ok,
            PeerOp::Err(a) => OwnedPeerOp::Err(a.to_vec()),
            PeerOp::Sub(s) => OwnedPeerOp::Sub(s.to_owned_sub()),
            PeerOp::Unsub(s) => OwnedPeerOp::Unsub(s.to_owned_sub()),
            PeerOp::Msg(m) => OwnedPeerOp::Msg(OwnedPeerMsg {
                verb: m.verb,
                origin: m.origin.map(<[u8]>::to_vec),
                account: m.account.map(<[u8]>::to_vec),
                queues: m.queues.iter().map(<[u8]>::to_vec).collect(),
                queues_raw: m.queues.raw().to_vec(),
                subject: m.msg.subject.to_vec(),
                reply: m.msg.reply.to_vec(),
                header_len: m.msg.header_len,
                header_text: m.msg.header_text.to_vec(),
                size_text: m.msg.size_text.to_vec(),
                data: m.msg.data.to_vec(),
            }),
            PeerOp::Ignored { op, arg } => OwnedPeerOp::Ignored(op, arg.to_vec()),
        }
    }
}

/// Why the connection must close. Every error closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// `-ERR 'Unknown Protocol Operation'`: unknown verb, a verb this kind may not send, or a
    /// payload not followed by CRLF.
    UnknownOp,
    /// `-ERR 'maximum control line exceeded'` (16 × `max_control_line`).
    MaxControlLine,
    /// `-ERR 'Maximum Payload Violation'` (leafs only); `size` is the declared size.
    MaxPayload { size: i64 },
    /// HPUB before headers were agreed: close without `-ERR`.
    HeadersNotSupported,
    /// An op other than CONNECT while CONNECT is awaited: `-ERR 'Authorization Violation'`.
    NotConnect,
    /// Bad arguments: close without `-ERR`; the text is what nats-server logs.
    Args(String),
}

impl PeerError {
    /// The `-ERR` text nats-server sends before closing, if any.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            PeerError::UnknownOp => Some(super::errors::UNKNOWN_OP),
            PeerError::MaxControlLine => Some(super::errors::MAX_CONTROL_LINE),
            PeerError::MaxPayload { .. } => Some(super::errors::MAX_PAYLOAD),
            PeerError::NotConnect => Some(super::errors::AUTH_VIOLATION),
            PeerError::HeadersNotSupported | PeerError::Args(_) => None,
        }
    }

    /// The close reason nats-server records (`readLoop` closes with `ProtocolViolation`
    /// unless the error path closed first).
    pub fn close_reason(&self) -> CloseReason {
        match self {
            PeerError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            PeerError::MaxPayload { .. } => CloseReason::MaxPayloadExceeded,
            PeerError::NotConnect => CloseReason::AuthenticationViolation,
            PeerError::UnknownOp | PeerError::HeadersNotSupported | PeerError::Args(_) => {
                CloseReason::ProtocolViolation
            }
        }
    }
}

impl From<ParseError> for PeerError {
    /// The shared line scanner reports only these two.
    fn from(e: ParseError) -> PeerError {
        match e {
            ParseError::MaxControlLine => PeerError::MaxControlLine,
            _ => PeerError::UnknownOp,
        }
    }
}

impl fmt::Display for PeerError {
    /// nats-server's error strings, for logging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::UnknownOp => f.write_str("unknown protocol operation"),
            PeerError::MaxControlLine => f.write_str("maximum control line exceeded"),
            PeerError::MaxPayload { size } => write!(f, "maximum payload exceeded: {size}"),
            PeerError::HeadersNotSupported => f.write_str("message headers not supported"),
            PeerError::NotConnect => f.write_str("authentication error"),
            PeerError::Args(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for PeerError {}

/// Per-connection parser for a route or a leaf.
#[derive(Debug, Clone)]
pub struct PeerParser {
    kind: PeerKind,
    limits: Limits,
    headers: bool,
    expect_connect: bool,
    info_before_connect: bool,
    /// The pinned account's name: only used in error texts, where nats inserts it.
    bound_account: Option<Box<[u8]>>,
    unsub_origin: bool,
    pending: Option<Pending>,
    needed: Option<usize>,
}

/// A message whose control line is complete and accepted.
#[derive(Debug, Clone, Copy)]
struct Pending {
    verb: MsgVerb,
    origin: Option<Span>,
    account: Option<Span>,
    subject: Span,
    reply: Option<Span>,
    queues: Span,
    header_text: Span,
    header_len: usize,
    size_text: Span,
    size: usize,
    payload_start: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pub,
    Hpub,
    Hmsg,
    Sub,
    Unsub,
    RSub,
    RUnsub,
    LSub,
    LUnsub,
    Rmsg,
    Lmsg,
    ASub,
    AUnsub,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Verb {
    /// The spelling matched case-insensitively (A+/A- are matched on their own).
    fn name(self) -> &'static [u8] {
        match self {
            Verb::Pub => b"PUB",
            Verb::Hpub => b"HPUB",
            Verb::Hmsg => b"HMSG",
            Verb::Sub => b"SUB",
            Verb::Unsub => b"UNSUB",
            Verb::RSub => b"RS+",
            Verb::RUnsub => b"RS-",
            Verb::LSub => b"LS+",
            Verb::LUnsub => b"LS-",
            Verb::Rmsg => b"RMSG",
            Verb::Lmsg => b"LMSG",
            Verb::ASub => b"A+",
            Verb::AUnsub => b"A-",
            Verb::Connect => b"CONNECT",
            Verb::Info => b"INFO",
            Verb::Ping => b"PING",
            Verb::Pong => b"PONG",
            Verb::Ok => b"+OK",
            Verb::Err => b"-ERR",
        }
    }
}

/// Where the message parsers find their fields (the argument lists of nats' routed and
/// leaf message parsers differ only in what precedes the subject and in the header size).
#[derive(Clone, Copy)]
struct Layout {
    /// The nats function named in error texts.
    func: &'static str,
    /// Fields up to and including the subject.
    fixed: usize,
    /// A header size precedes the total size.
    hdr: bool,
}

impl PeerParser {
    /// `limits` as configured; the control line limit is applied ×16 for these kinds, and
    /// `max_payload` only on leafs (see the module docs).
    pub fn new(kind: PeerKind, limits: Limits) -> PeerParser {
        PeerParser {
            kind,
            limits,
            headers: false,
            expect_connect: false,
            info_before_connect: false,
            bound_account: None,
            unsub_origin: false,
            pending: None,
            needed: None,
        }
    }

    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// HPUB is accepted only with headers on (the peer's CONNECT or INFO said `headers`,
    /// and so do we). HMSG and LMSG do not depend on it, as in nats.
    pub fn set_headers(&mut self, on: bool) {
        self.headers = on;
    }

    /// While true (an accepted route or leaf before its CONNECT: nats' `expectConnect`),
    /// any op whose first byte is not `C`/`c` is [`PeerError::NotConnect`], decided on that
    /// first byte.
    pub fn set_expect_connect(&mut self, on: bool) {
        self.expect_connect = on;
    }

    /// Leafs only: while CONNECT is awaited, an op starting with `I`/`i` (INFO) is allowed
    /// too. nats-server allows it on a leaf listener whose compression mode is not `off`
    /// (default `s2_auto`), so that the spoke can negotiate compression first.
    pub fn set_info_before_connect(&mut self, on: bool) {
        self.info_before_connect = on;
    }

    /// Routes only: `Some(account)` once the route is pinned to an account (its INFO had
    /// `route_account`): RS±, LS±, RMSG, HMSG and LMSG then carry no account token. The
    /// name appears only in error texts, where nats-server inserts it into the arguments.
    pub fn set_account_bound(&mut self, account: Option<&[u8]>) {
        self.bound_account = account.map(Box::from);
    }

    /// Routes only: the peer said `lnocu`, so its `LS-` carries the origin, and nats keys
    /// the route's subscriptions by `R `/`L ` + argument ([`PeerSub::key_prefix`]).
    pub fn set_unsub_origin(&mut self, on: bool) {
        self.unsub_origin = on;
    }

    fn mcl(&self) -> usize {
        self.limits
            .max_control_line
            .saturating_mul(CONTROL_LINE_FACTOR)
    }

    /// Parse one operation from the start of `buf`. The caller keeps every byte that was not
    /// consumed and calls again with those bytes plus newly read ones (same prefix).
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<PeerStatus<'a>, PeerError> {
        self.needed = None;
        match self.pending.take() {
            Some(p) if buf.len() >= p.payload_start => self.finish_message(buf, p),
            // A shorter buffer breaks the caller contract; reparsing is still panic free.
            _ => self.parse_op(buf),
        }
    }

    /// After Incomplete on a message whose control line was complete: the total bytes (from
    /// the start of the buffer) needed before it completes. None otherwise.
    pub fn bytes_needed(&self) -> Option<usize> {
        self.needed
    }

    fn verb(&self, buf: &[u8]) -> Result<Option<Verb>, PeerError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        // nats checks this on the first byte of every op, before knowing what the op is.
        if self.expect_connect && !first.eq_ignore_ascii_case(&b'C') {
            let info_first = self.kind == PeerKind::Leaf
                && self.info_before_connect
                && first.eq_ignore_ascii_case(&b'I');
            if !info_first {
                return Err(PeerError::NotConnect);
            }
        }
        let at = |i: usize| buf.get(i).map(u8::to_ascii_uppercase);
        let Some(second) = at(1) else {
            return Ok(match first.to_ascii_uppercase() {
                b'P' | b'H' | b'R' | b'L' | b'A' | b'S' | b'U' | b'C' | b'I' | b'+' | b'-' => None,
                _ => return Err(PeerError::UnknownOp),
            });
        };
        let verb = match first.to_ascii_uppercase() {
            b'P' => match second {
                b'U' => Verb::Pub,
                b'I' => Verb::Ping,
                b'O' => Verb::Pong,
                _ => return Err(PeerError::UnknownOp),
            },
            b'H' => match second {
                b'P' => Verb::Hpub,
                b'M' => Verb::Hmsg,
                _ => return Err(PeerError::UnknownOp),
            },
            b @ (b'R' | b'L') => match second {
                b'M' => {
                    if b == b'R' {
                        Verb::Rmsg
                    } else {
                        Verb::Lmsg
                    }
                }
                b'S' => match at(2) {
                    None => return Ok(None),
                    Some(b'+') if b == b'R' => Verb::RSub,
                    Some(b'-') if b == b'R' => Verb::RUnsub,
                    Some(b'+') => Verb::LSub,
                    Some(b'-') => Verb::LUnsub,
                    Some(_) => return Err(PeerError::UnknownOp),
                },
                _ => return Err(PeerError::UnknownOp),
            },
            // Exact bytes: `parser.go` takes '+', '-' or a lower-case 'u' after 'A'.
            b'A' => match buf.get(1) {
                Some(b'+') => Verb::ASub,
                Some(b'-' | b'u') => Verb::AUnsub,
                _ => return Err(PeerError::UnknownOp),
            },
            b'S' => Verb::Sub,
            b'U' => Verb::Unsub,
            b'C' => Verb::Connect,
            b'I' => Verb::Info,
            b'+' => Verb::Ok,
            b'-' => Verb::Err,
            // MSG included: a peer may not send it.
            _ => return Err(PeerError::UnknownOp),
        };
        if matches!(verb, Verb::ASub | Verb::AUnsub) {
            return Ok(Some(verb));
        }
        for (i, want) in verb.name().iter().enumerate() {
            match buf.get(i) {
                None => return Ok(None),
                Some(b) if b.to_ascii_uppercase() == *want => {}
                Some(_) => return Err(PeerError::UnknownOp),
            }
        }
        Ok(Some(verb))
    }

    fn parse_op<'a>(&mut self, buf: &'a [u8]) -> Result<PeerStatus<'a>, PeerError> {
        let Some(verb) = self.verb(buf)? else {
            return Ok(PeerStatus::Incomplete);
        };
        let end = verb.name().len();
        let mcl = self.mcl();
        match verb {
            Verb::Ping | Verb::Pong | Verb::Ok => {
                let Some(next) = Parser::junk_line(buf, end, mcl)? else {
                    return Ok(PeerStatus::Incomplete);
                };
                let op = match verb {
                    Verb::Ping => PeerOp::Ping,
                    Verb::Pong => PeerOp::Pong,
                    _ => PeerOp::Ok,
                };
                Ok(PeerStatus::Complete(op, next))
            }
            Verb::Connect | Verb::Info => {
                // No separator is required: `CONNECT{...}` is accepted by nats.
                let Some(line) = Parser::arg_line(buf, end, end, mcl)? else {
                    return Ok(PeerStatus::Incomplete);
                };
                let arg = line.arg.of(buf);
                let op = match verb {
                    Verb::Connect => PeerOp::Connect(arg),
                    _ => PeerOp::Info(arg),
                };
                Ok(PeerStatus::Complete(op, line.next))
            }
            _ => {
                match buf.get(end) {
                    None => return Ok(PeerStatus::Incomplete),
                    Some(b' ' | b'\t') => {}
                    Some(_) => return Err(PeerError::UnknownOp),
                }
                let Some(line) = Parser::arg_line(buf, end, end + 1, mcl)? else {
                    return Ok(PeerStatus::Incomplete);
                };
                self.arg_op(buf, verb, line)
            }
        }
    }

    fn arg_op<'a>(
        &mut self,
        buf: &'a [u8],
        verb: Verb,
        line: Line,
    ) -> Result<PeerStatus<'a>, PeerError> {
        let arg = line.arg.of(buf);
        let next = line.next;
        let ignored = |op| Ok(PeerStatus::Complete(PeerOp::Ignored { op, arg }, next));
        let route = self.kind == PeerKind::Route;
        let op = match verb {
            Verb::Pub => return self.pub_line(buf, line),
            Verb::Hpub => return self.hpub_line(buf, line),
            Verb::Hmsg if route => return self.msg_line(buf, line, MsgVerb::Hmsg, ROUTED_HMSG),
            Verb::Rmsg if route => return self.msg_line(buf, line, MsgVerb::Rmsg, ROUTED_MSG),
            Verb::Lmsg if route => return self.msg_line(buf, line, MsgVerb::Lmsg, ROUTED_LMSG),
            Verb::Hmsg => return self.msg_line(buf, line, MsgVerb::Hmsg, LEAF_HMSG),
            Verb::Rmsg => return self.msg_line(buf, line, MsgVerb::Rmsg, LEAF_MSG),
            Verb::Lmsg => return self.msg_line(buf, line, MsgVerb::Lmsg, LEAF_MSG),
            Verb::Sub if route => return ignored(IgnoredOp::RouteSub),
            Verb::ASub => return ignored(IgnoredOp::AccountSub),
            Verb::AUnsub => return ignored(IgnoredOp::AccountUnsub),
            Verb::RSub if route => PeerOp::Sub(self.remote_sub(arg, false)?),
            Verb::LSub if route => PeerOp::Sub(self.remote_sub(arg, true)?),
            Verb::Unsub | Verb::RUnsub if route => PeerOp::Unsub(self.remote_unsub(arg, false)?),
            Verb::LUnsub if route => PeerOp::Unsub(self.remote_unsub(arg, true)?),
            Verb::Sub | Verb::RSub | Verb::LSub => PeerOp::Sub(leaf_sub(arg)?),
            Verb::Unsub | Verb::RUnsub | Verb::LUnsub => match leaf_unsub(arg) {
                Some(sub) => PeerOp::Unsub(sub),
                None => return ignored(IgnoredOp::LeafUnsubNoFields),
            },
            Verb::Err => PeerOp::Err(arg),
            // Handled in parse_op.
            Verb::Connect | Verb::Info | Verb::Ping | Verb::Pong | Verb::Ok => {
                return Err(PeerError::UnknownOp)
            }
        };
        Ok(PeerStatus::Complete(op, next))
    }

    /// nats' `mpay` for this connection: -1 on routes (`createRoute`).
    fn check_payload(&self, size: i64) -> Result<(), PeerError> {
        let max = self.limits.max_payload;
        if self.kind == PeerKind::Leaf && max != NO_PAYLOAD_LIMIT && size > max {
            return Err(PeerError::MaxPayload { size });
        }
        Ok(())
    }

    /// `PUB` as `processPub` reads it (space/tab separated, `%q` in error texts).
    fn pub_line<'a>(&mut self, buf: &'a [u8], line: Line) -> Result<PeerStatus<'a>, PeerError> {
        let arg = line.arg.of(buf);
        let f = Fields::split(arg, line.arg.start, is_pub_sep);
        let (subject, reply, size_text) = match (f.count, f.wire(0), f.wire(1), f.wire(2)) {
            (2, Some(s), Some(n), _) => (s, None, n),
            (3, Some(s), Some(r), Some(n)) => (s, Some(r), n),
            _ => return Err(quoted_error("processPub Parse Error", arg)),
        };
        let size = parse_size(size_text.of(buf));
        if size < 0 {
            return Err(quoted_error("processPub Bad or Missing Size", arg));
        }
        self.check_payload(size)?;
        let p = Pending {
            verb: MsgVerb::Pub,
            origin: None,
            account: None,
            subject,
            reply,
            queues: Span::default(),
            header_text: Span::default(),
            header_len: 0,
            size_text,
            size: to_usize(size),
            payload_start: line.next,
        };
        self.finish_message(buf, p)
    }

    /// `HPUB` as `processHeaderPub` reads it; refused before headers are on.
    fn hpub_line<'a>(&mut self, buf: &'a [u8], line: Line) -> Result<PeerStatus<'a>, PeerError> {
        if !self.headers {
            return Err(PeerError::HeadersNotSupported);
        }
        let arg = line.arg.of(buf);
        let f = Fields::split(arg, line.arg.start, is_pub_sep);
        let (subject, reply, header_text, size_text) =
            match (f.count, f.wire(0), f.wire(1), f.wire(2), f.wire(3)) {
                (3, Some(s), Some(h), Some(n), _) => (s, None, h, n),
                (4, Some(s), Some(r), Some(h), Some(n)) => (s, Some(r), h, n),
                _ => return Err(quoted_error("processHeaderPub Parse Error", arg)),
            };
        let header_len = parse_size(header_text.of(buf));
        let size = parse_size(size_text.of(buf));
        if header_len < 0 {
            return Err(quoted_error(
                "processHeaderPub Bad or Missing Header Size",
                arg,
            ));
        }
        if size < 0 {
            return Err(quoted_error(
                "processHeaderPub Bad or Missing Total Size",
                arg,
            ));
        }
        if header_len > size {
            return Err(quoted_error(
                "processHeaderPub Header Size larger then TotalSize",
                arg,
            ));
        }
        self.check_payload(size)?;
        let p = Pending {
            verb: MsgVerb::Hpub,
            origin: None,
            account: None,
            subject,
            reply,
            queues: Span::default(),
            header_text,
            header_len: to_usize(header_len),
            size_text,
            size: to_usize(size),
            payload_start: line.next,
        };
        self.finish_message(buf, p)
    }

    /// RMSG, HMSG and LMSG, on routes and leafs: the shared shape of nats'
    /// `processRoutedMsgArgs`, `processRoutedHeaderMsgArgs`,
    /// `processRoutedOriginClusterMsgArgs`, `processLeafMsgArgs` and
    /// `processLeafHeaderMsgArgs`: `<fixed…> [reply | + reply q… | '|' q…] [hdr] size`.
    fn msg_line<'a>(
        &mut self,
        buf: &'a [u8],
        line: Line,
        verb: MsgVerb,
        layout: Layout,
    ) -> Result<PeerStatus<'a>, PeerError> {
        let arg = line.arg.of(buf);
        let f = Fields::split(arg, line.arg.start, is_split_arg_sep);
        // A pinned route's account is inserted where the wire omits it: first for RMSG/HMSG,
        // after the origin for LMSG (and only when there are more than two fields there).
        let bound_at = match (&self.bound_account, self.kind, verb) {
            (None, _, _) | (_, PeerKind::Leaf, _) => None,
            (Some(_), _, MsgVerb::Lmsg) => (f.count > 2).then_some(1),
            (Some(_), _, _) => Some(0),
        };
        let args = Args { f: &f, bound_at };
        let n = args.len();
        let fixed = layout.fixed;
        let sizes = 1 + usize::from(layout.hdr);
        let list = || self.list_text(arg, bound_at);
        let err =
            |what: &str, text: String| PeerError::Args(format!("{} {what}: '{text}'", layout.func));
        if n < fixed + sizes {
            return Err(err("Parse Error", list()));
        }
        let mut reply = None;
        let mut queues = Span::default();
        if n == fixed + sizes + 1 {
            reply = args.span(fixed);
        } else if n > fixed + sizes + 1 {
            let indicator = args.span(fixed).unwrap_or_default();
            let qs = match indicator.of(buf) {
                b"+" => {
                    reply = args.span(fixed + 1);
                    fixed + 2
                }
                b"|" => fixed + 1,
                other => {
                    let text = String::from_utf8_lossy(other).into_owned();
                    return Err(err("Bad or Missing Reply Indicator", text));
                }
            };
            let qe = n - sizes;
            if qs < qe {
                let first = args.span(qs).unwrap_or_default();
                let last = args.span(qe - 1).unwrap_or_default();
                queues = Span {
                    start: first.start,
                    end: last.end,
                };
            }
        }
        let size_text = args.span(n - 1).unwrap_or_default();
        let header_text = if layout.hdr {
            args.span(n - 2).unwrap_or_default()
        } else {
            Span::default()
        };
        let header_len = if layout.hdr {
            parse_size(header_text.of(buf))
        } else {
            0
        };
        let size = parse_size(size_text.of(buf));
        let raw = || String::from_utf8_lossy(arg).into_owned();
        if header_len < 0 {
            return Err(err("Bad or Missing Header Size", raw()));
        }
        if size < 0 {
            return Err(err("Bad or Missing Size", list()));
        }
        if header_len > size {
            return Err(err("Header Size larger then TotalSize", raw()));
        }
        self.check_payload(size)?;
        let (origin, account, subject) = match fixed {
            3 => (args.span(0), args.span(1), args.span(2)),
            2 => (None, args.span(0), args.span(1)),
            _ => (None, None, args.span(0)),
        };
        let p = Pending {
            verb,
            origin,
            account,
            subject: subject.unwrap_or_default(),
            reply,
            queues,
            header_text,
            header_len: to_usize(header_len),
            size_text,
            size: to_usize(size),
            payload_start: line.next,
        };
        self.finish_message(buf, p)
    }

    /// nats' `'%s'` of its argument list: `[a b c]`, the pinned account inserted.
    fn list_text(&self, arg: &[u8], bound_at: Option<usize>) -> String {
        let mut items: Vec<&[u8]> = QueueIter { rest: arg }.collect();
        if let (Some(at), Some(acc)) = (bound_at, self.bound_account.as_deref()) {
            items.insert(at.min(items.len()), acc);
        }
        let items: Vec<String> = items
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        format!("[{}]", items.join(" "))
    }

    /// `RS+` and route `LS+` (`processRemoteSub`): `[<origin>] [<acc>] <subj> [<q> <w>]`.
    fn remote_sub<'a>(&self, arg: &'a [u8], has_origin: bool) -> Result<PeerSub<'a>, PeerError> {
        let f = Fields::split(arg, 0, is_split_arg_sep);
        let acc_in_proto = self.bound_account.is_none();
        let subj = usize::from(has_origin) + usize::from(acc_in_proto);
        let field = |i: usize| f.wire(i).map(|s| s.of(arg));
        let (queue, weight) = match f.count {
            n if n == subj + 1 => (None, None),
            n if n == subj + 3 => (field(subj + 1), field(subj + 2)),
            _ => {
                // nats splits a copy prefixed with the sub type, and quotes that copy.
                let kind = if has_origin { "L" } else { "R" };
                let text = String::from_utf8_lossy(arg);
                return Err(PeerError::Args(format!(
                    "processRemoteSub Parse Error: '{kind} {text}'"
                )));
            }
        };
        let origin = if has_origin { field(0) } else { None };
        let account = if acc_in_proto {
            field(subj.saturating_sub(1))
        } else {
            None
        };
        // The subscription's key: the argument without ' <weight>', and for a peer without
        // lnocu ("old style") without the origin either (nats' slice arithmetic, which
        // assumes a single blank after the origin).
        let end = match weight {
            Some(w) => arg.len().saturating_sub(1 + w.len()),
            None => arg.len(),
        };
        let start = match origin {
            Some(o) if !self.unsub_origin => (o.len() + 1).min(end),
            _ => 0,
        };
        Ok(PeerSub {
            origin,
            account,
            subject: field(subj).unwrap_or_default(),
            queue,
            weight: weight.map_or(1, weight_of),
            key_prefix: self.key_prefix(has_origin),
            key: arg.get(start..end).unwrap_or_default(),
        })
    }

    /// `RS-`, `UNSUB` and route `LS-` (`parseUnsubProto`): `[<origin>] [<acc>] <subj> [<q>]`,
    /// the origin only on `LS-` from a peer with lnocu.
    fn remote_unsub<'a>(&self, arg: &'a [u8], leaf_unsub: bool) -> Result<PeerSub<'a>, PeerError> {
        let f = Fields::split(arg, 0, is_split_arg_sep);
        let has_origin = leaf_unsub && self.unsub_origin;
        let acc_in_proto = self.bound_account.is_none();
        let subj = usize::from(has_origin) + usize::from(acc_in_proto);
        let field = |i: usize| f.wire(i).map(|s| s.of(arg));
        // nats-server indexes the origin before checking the count and crashes when there is
        // no field at all; that case falls into the arity error here.
        let queue = match f.count {
            n if n == subj + 1 => None,
            n if n == subj + 2 => field(subj + 1),
            _ => {
                let text = String::from_utf8_lossy(arg);
                return Err(PeerError::Args(format!(
                    "processRemoteUnsub parse error: '{text}'"
                )));
            }
        };
        Ok(PeerSub {
            origin: if has_origin { field(0) } else { None },
            account: if acc_in_proto {
                field(subj.saturating_sub(1))
            } else {
                None
            },
            subject: field(subj).unwrap_or_default(),
            queue,
            weight: 1,
            key_prefix: self.key_prefix(leaf_unsub),
            key: arg,
        })
    }

    fn key_prefix(&self, leaf: bool) -> &'static [u8] {
        match (self.unsub_origin, leaf) {
            (false, _) => b"",
            (true, true) => b"L ",
            (true, false) => b"R ",
        }
    }

    /// Completes a message whose control line was accepted, or caches it and waits.
    fn finish_message<'a>(
        &mut self,
        buf: &'a [u8],
        p: Pending,
    ) -> Result<PeerStatus<'a>, PeerError> {
        let end = p.payload_start.saturating_add(p.size);
        let total = end.saturating_add(2);
        for (at, want) in [(end, b'\r'), (end.saturating_add(1), b'\n')] {
            match buf.get(at) {
                None => {
                    self.pending = Some(p);
                    self.needed = Some(total);
                    return Ok(PeerStatus::Incomplete);
                }
                Some(&b) if b == want => {}
                Some(_) => return Err(PeerError::UnknownOp),
            }
        }
        let msg = Message {
            subject: p.subject.of(buf),
            reply: p.reply.map(|r| r.of(buf)).unwrap_or_default(),
            header_len: p.header_len,
            header_text: p.header_text.of(buf),
            size_text: p.size_text.of(buf),
            data: buf.get(p.payload_start..end).unwrap_or_default(),
        };
        let op = PeerOp::Msg(PeerMsg {
            verb: p.verb,
            origin: p.origin.map(|s| s.of(buf)),
            account: p.account.map(|s| s.of(buf)),
            queues: Queues {
                raw: p.queues.of(buf),
            },
            msg,
        });
        Ok(PeerStatus::Complete(op, total))
    }
}

const ROUTED_MSG: Layout = Layout {
    func: "processRoutedMsgArgs",
    fixed: 2,
    hdr: false,
};
const ROUTED_HMSG: Layout = Layout {
    func: "processRoutedHeaderMsgArgs",
    fixed: 2,
    hdr: true,
};
const ROUTED_LMSG: Layout = Layout {
    func: "processRoutedOriginClusterMsgArgs",
    fixed: 3,
    hdr: true,
};
const LEAF_MSG: Layout = Layout {
    func: "processLeafMsgArgs",
    fixed: 1,
    hdr: false,
};
const LEAF_HMSG: Layout = Layout {
    func: "processLeafHeaderMsgArgs",
    fixed: 1,
    hdr: true,
};

/// Leaf `LS+` (`processLeafSub`): `<subj> [<q> <w>]`.
fn leaf_sub(arg: &[u8]) -> Result<PeerSub<'_>, PeerError> {
    let f = Fields::split(arg, 0, is_split_arg_sep);
    let field = |i: usize| f.wire(i).map(|s| s.of(arg));
    let (queue, weight) = match f.count {
        1 => (None, None),
        3 => (field(1), field(2)),
        _ => {
            let text = String::from_utf8_lossy(arg);
            return Err(PeerError::Args(format!(
                "processLeafSub Parse Error: '{text}'"
            )));
        }
    };
    let end = match weight {
        Some(w) => arg.len().saturating_sub(1 + w.len()),
        None => arg.len(),
    };
    Ok(PeerSub {
        origin: None,
        account: None,
        subject: field(0).unwrap_or_default(),
        queue,
        weight: weight.map_or(1, weight_of),
        key_prefix: b"",
        key: arg.get(..end).unwrap_or_default(),
    })
}

/// Leaf `LS-` (`processLeafUnsub`): nats never splits it, the raw argument is the key.
fn leaf_unsub(arg: &[u8]) -> Option<PeerSub<'_>> {
    let mut names = QueueIter { rest: arg };
    let subject = names.next()?;
    Some(PeerSub {
        origin: None,
        account: None,
        subject,
        queue: names.next(),
        weight: 1,
        key_prefix: b"",
        key: arg,
    })
}

/// nats stores `int32(parseSize(w))`: -1 when not a size.
fn weight_of(w: &[u8]) -> i32 {
    i32::try_from(parse_size(w)).unwrap_or(-1)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn quoted_error(what: &str, arg: &[u8]) -> PeerError {
    PeerError::Args(format!("{what}: {}", go_quote(arg)))
}

/// The fields of an argument: how many, the first [`Fields::FIRST`] and the last three, as
/// buffer spans, without allocating (a routed message can name any number of queues).
#[derive(Debug, Default)]
struct Fields {
    first: [Span; Fields::FIRST],
    last: [Span; 3],
    count: usize,
}

impl Fields {
    const FIRST: usize = 6;

    fn split(arg: &[u8], offset: usize, is_sep: fn(u8) -> bool) -> Fields {
        let mut f = Fields::default();
        let mut start = None;
        let bytes = arg.iter().map(|&b| is_sep(b)).chain(std::iter::once(true));
        for (i, sep) in bytes.enumerate() {
            match (sep, start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    let span = Span {
                        start: offset + s,
                        end: offset + i,
                    };
                    if let Some(slot) = f.first.get_mut(f.count) {
                        *slot = span;
                    }
                    f.last.rotate_left(1);
                    if let Some(slot) = f.last.last_mut() {
                        *slot = span;
                    }
                    f.count += 1;
                    start = None;
                }
                _ => {}
            }
        }
        f
    }

    /// Field `i`, if it is among the first six or the last three.
    fn wire(&self, i: usize) -> Option<Span> {
        if i >= self.count {
            return None;
        }
        if let Some(&s) = self.first.get(i) {
            return Some(s);
        }
        self.last.get((i + 3).checked_sub(self.count)?).copied()
    }
}

/// nats' argument list of a message: the wire fields, with a pinned account inserted.
struct Args<'f> {
    f: &'f Fields,
    bound_at: Option<usize>,
}

impl Args<'_> {
    fn len(&self) -> usize {
        self.f.count + usize::from(self.bound_at.is_some())
    }

    /// The wire span of argument `i`; None for the inserted account.
    fn span(&self, i: usize) -> Option<Span> {
        match self.bound_at {
            Some(b) if i == b => None,
            Some(b) if i > b => self.f.wire(i - 1),
            _ => self.f.wire(i),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoders.

/// What the receiving end of a route said it understands (its INFO and CONNECT), which
/// decides how interest and messages are written to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutePeer {
    /// The route is pinned to one account (`route_account`): no account token.
    pub account_bound: bool,
    /// `lnoc`: leaf-origin interest goes as `LS+ <origin>`, leaf-origin messages as `LMSG`.
    pub lnoc: bool,
    /// `lnocu`: `LS-` carries the origin.
    pub lnocu: bool,
    /// `headers`: messages with headers go as `HMSG`; otherwise the headers are stripped.
    pub headers: bool,
}

/// Appends `RS+ [<acc>] <subj> [<q> <w>]`, or `LS+ <origin> …` for interest from a leaf
/// cluster when the peer has lnoc (`addRouteSubOrUnsubProtoToBuf`). `account` is left out
/// on a pinned route. nats writes no weight digits for a weight ≤ 0 (a line its own parser
/// rejects); this writes the number.
pub fn write_route_sub(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    subject: &[u8],
    queue: Option<(&[u8], i32)>,
) {
    match origin {
        Some(o) if peer.lnoc => {
            out.extend_from_slice(b"LS+ ");
            out.extend_from_slice(o);
            out.push(b' ');
        }
        _ => out.extend_from_slice(b"RS+ "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_interest(out, subject, queue);
}

/// Appends `RS- [<acc>] <subj> [<q>]`, or for leaf-origin interest to a peer with lnoc
/// `LS- [<origin>] …` (the origin only if the peer has lnocu).
pub fn write_route_unsub(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    subject: &[u8],
    queue: Option<&[u8]>,
) {
    match origin {
        Some(o) if peer.lnoc => {
            out.extend_from_slice(b"LS- ");
            if peer.lnocu {
                out.extend_from_slice(o);
                out.push(b' ');
            }
        }
        _ => out.extend_from_slice(b"RS- "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_unsub_tail(out, subject, queue);
}

/// Appends a leaf `LS+ <subj> [<q> <w>]` (`writeLeafSub`). nats sends `LS-` instead when
/// the count is ≤ 0; the caller decides which to send.
pub fn write_leaf_sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], i32)>) {
    out.extend_from_slice(b"LS+ ");
    write_interest(out, subject, queue);
}

/// Appends a leaf `LS- <subj> [<q>]`.
pub fn write_leaf_unsub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"LS- ");
    write_unsub_tail(out, subject, queue);
}

fn write_unsub_tail(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_interest(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], i32)>) {
    out.extend_from_slice(subject);
    if let Some((q, weight)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        write_i32(out, weight);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_i32(out: &mut Vec<u8>, n: i32) {
    if n < 0 {
        out.push(b'-');
    }
    let mut num = [0u8; 20];
    let abs = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    out.extend_from_slice(fmt_usize(&mut num, abs));
}

/// Appends one message to a route, as `msgHeaderForRouteOrLeaf` writes it:
/// - `origin` is the leaf cluster the message came from (a leaf connection with a cluster
///   name); to a peer with lnoc it goes as `LMSG <origin> [<acc>] <subj> … <hdr> <total>`,
///   whose header size is always present (`0` without headers);
/// - otherwise `HMSG [<acc>] <subj> … <hdr> <total>` when it has headers and the peer takes
///   them, else `RMSG [<acc>] <subj> … <size>`, headers stripped if the peer takes none;
/// - `queues` are the groups the receiver must serve: `+ <reply> q…` or `| q…`.
///
/// The size digits are the publisher's (`msg.size_text`, `msg.header_text`) except when
/// headers are stripped. One deviation: nats-server writes `LMSG` to a peer with lnoc but
/// without headers with the full sizes and the stripped payload (a frame that does not
/// parse); here the headers are stripped and the sizes say so (`0 <payload>`).
pub fn write_route_msg<'q>(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
) {
    let lmsg = origin.filter(|_| peer.lnoc);
    let has_headers = msg.header_len > 0;
    out.reserve(msg.subject.len() + msg.reply.len() + account.len() + msg.data.len() + 48);
    match lmsg {
        Some(o) => {
            out.extend_from_slice(b"LMSG ");
            out.extend_from_slice(o);
            out.push(b' ');
        }
        None if has_headers && peer.headers => out.extend_from_slice(b"HMSG "),
        None => out.extend_from_slice(b"RMSG "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_msg_rest(out, msg, queues, peer.headers, lmsg.is_some());
}

/// Appends one message to a leaf: `LMSG <subj> … <size>`, or `HMSG <subj> … <hdr> <total>`
/// when it has headers and the leaf takes them (else they are stripped).
pub fn write_leaf_msg<'q>(
    out: &mut Vec<u8>,
    peer_headers: bool,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
) {
    out.reserve(msg.subject.len() + msg.reply.len() + msg.data.len() + 40);
    if msg.header_len > 0 && peer_headers {
        out.extend_from_slice(b"HMSG ");
    } else {
        out.extend_from_slice(b"LMSG ");
    }
    write_msg_rest(out, msg, queues, peer_headers, false);
}

/// Subject, reply/queues, sizes, CRLF, body, CRLF. `always_hdr`: a route LMSG.
fn write_msg_rest<'q>(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
    peer_headers: bool,
    always_hdr: bool,
) {
    out.extend_from_slice(msg.subject);
    out.push(b' ');
    let mut queues = queues.into_iter().peekable();
    if queues.peek().is_some() {
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
    let has_headers = msg.header_len > 0;
    let strip = has_headers && !peer_headers;
    let body = if strip {
        msg.data.get(msg.header_len..).unwrap_or_default()
    } else {
        msg.data
    };
    let mut num = [0u8; 20];
    if always_hdr {
        if has_headers && !strip {
            out.extend_from_slice(msg.header_text);
        } else {
            out.push(b'0');
        }
        out.push(b' ');
    } else if has_headers && !strip {
        out.extend_from_slice(msg.header_text);
        out.push(b' ');
    }
    if strip {
        out.extend_from_slice(fmt_usize(&mut num, body.len()));
    } else {
        out.extend_from_slice(msg.size_text);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
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
                line(&|o| {
                    write_route_sub(o, &peer, b"$G", Some(b"LEAFC"), b"bar", Some((b"q1", 2)))
                }),
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
}
