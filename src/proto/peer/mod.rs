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
use super::Message;
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

mod encode;
pub use encode::*;

#[cfg(test)]
mod tests;
