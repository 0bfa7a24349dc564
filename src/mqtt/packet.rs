//! MQTT control packets (3.1.1 = protocol level 4, 5.0 = protocol level 5) as bytes, without I/O.
//!
//! This module owns the wire format and nothing else: [`decode`] turns the first packet of a
//! buffer into a [`Packet`] that borrows from the buffer (strings and payloads are not copied),
//! and [`encode`] appends a packet's bytes to an output buffer. Sessions, QoS flows, topic
//! aliases, authentication and the mapping of topics to NATS subjects live elsewhere
//! (`mqtt::topic`, `reactor::mqtt`).
//!
//! # Decoding
//!
//! [`decode`] is stateless: the caller keeps the unconsumed bytes and calls again when more
//! arrive. "Incomplete" is `Ok(None)`, never an error, and nothing is consumed until a whole
//! packet is in the buffer. The size limit is checked as soon as the fixed header is readable,
//! so an oversized packet is refused before its body arrives ([`DecodeError::TooLarge`]).
//!
//! The connection's protocol level is the caller's state: 0 until CONNECT (only CONNECT is
//! valid then), afterwards the level of that CONNECT, which decides whether v5 properties and
//! reason codes are on the wire.
//!
//! # What is validated here
//!
//! Everything the specifications make a property of the bytes, with nats-server's log texts
//! (`mqttParse`, `mqttParseConnect`, `mqttParsePub`, `mqttParseSubsOrUnsubs`, `mqttReader`)
//! where it has them:
//! - fixed header: reserved flags (PUBREL, SUBSCRIBE, UNSUBSCRIBE 0b0010, others 0 except
//!   PUBLISH), PUBLISH QoS 3, the remaining length as a variable integer of at most 4 bytes,
//!   exact remaining lengths where the packet has a fixed size, no bytes left over;
//! - UTF-8 strings: valid UTF-8 and no U+0000;
//! - CONNECT: protocol name and level, reserved flag, Will flag/QoS/retain consistency,
//!   password without user name (3.1.1 only), non-empty Will topic;
//! - PUBLISH: non-empty topic (v5: unless a topic alias is given), **no `+` or `#` in topic
//!   names** (PUBLISH and Will topics; filters are checked by `mqtt::topic`), non-zero packet
//!   identifier for QoS > 0, DUP on QoS 0 (v5 only: nats-server accepts it in 3.1.1);
//! - SUBSCRIBE/UNSUBSCRIBE: at least one filter, no empty filter, subscription options
//!   (reserved bits, QoS 3, retain handling 3);
//! - v5 properties: known identifiers, allowed on this packet, not repeated (except user
//!   properties, and subscription identifiers in PUBLISH), and the values the specification
//!   restricts (0 for topic alias, receive maximum, maximum packet size and subscription
//!   identifier; 0/1 flags; authentication data without a method).
//!
//! Left to the caller: server policy (empty client ID, empty user name, QoS 2 refused, NATS
//! characters in topics, client ID as a NATS name), topic filter syntax and shared
//! subscriptions, topic alias bounds, receive maximum accounting, and which direction a packet
//! may travel (the decoder also reads server-to-client packets such as CONNACK and SUBACK,
//! see [`Packet::from_client`]).
//!
//! Non-minimal variable integers are accepted, as nats-server does.

use std::fmt;

/// MQTT 3.1.1.
pub const LEVEL_311: u8 = 4;
/// MQTT 5.0.
pub const LEVEL_5: u8 = 5;
/// The largest remaining length a 4-byte variable integer carries.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
/// The longest fixed header: the type byte and a 4-byte remaining length.
pub const MAX_FIXED_HEADER: usize = 5;

/// Packet type numbers (the high nibble of the first byte).
pub mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;
}

/// CONNECT flag bits.
const CONN_RESERVED: u8 = 0x01;
const CONN_CLEAN: u8 = 0x02;
const CONN_WILL: u8 = 0x04;
const CONN_WILL_QOS: u8 = 0x18;
const CONN_WILL_RETAIN: u8 = 0x20;
const CONN_PASSWORD: u8 = 0x40;
const CONN_USERNAME: u8 = 0x80;

/// PUBLISH fixed-header flag bits.
const PUB_RETAIN: u8 = 0x01;
const PUB_QOS: u8 = 0x06;
const PUB_DUP: u8 = 0x08;

/// One packet, borrowing from the input buffer.
///
/// CONNECT (two property sets, ~600 bytes) is much larger than the rest; it is not boxed
/// because a packet lives on the stack for one `decode`/`encode` and a box would cost an
/// allocation per packet built.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Connect(Connect<'a>),
    ConnAck(ConnAck<'a>),
    Publish(Publish<'a>),
    PubAck(Ack<'a>),
    PubRec(Ack<'a>),
    PubRel(Ack<'a>),
    PubComp(Ack<'a>),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    /// v5 carries reason codes; 3.1.1 none (`codes` is empty when decoded, ignored when encoded).
    UnsubAck(SubAck<'a>),
    PingReq,
    PingResp,
    Disconnect(Disconnect<'a>),
    /// v5 only.
    Auth(Auth<'a>),
}

impl Packet<'_> {
    /// The packet type number ([`kind`]).
    pub fn kind(&self) -> u8 {
        match self {
            Packet::Connect(_) => kind::CONNECT,
            Packet::ConnAck(_) => kind::CONNACK,
            Packet::Publish(_) => kind::PUBLISH,
            Packet::PubAck(_) => kind::PUBACK,
            Packet::PubRec(_) => kind::PUBREC,
            Packet::PubRel(_) => kind::PUBREL,
            Packet::PubComp(_) => kind::PUBCOMP,
            Packet::Subscribe(_) => kind::SUBSCRIBE,
            Packet::SubAck(_) => kind::SUBACK,
            Packet::Unsubscribe(_) => kind::UNSUBSCRIBE,
            Packet::UnsubAck(_) => kind::UNSUBACK,
            Packet::PingReq => kind::PINGREQ,
            Packet::PingResp => kind::PINGRESP,
            Packet::Disconnect(_) => kind::DISCONNECT,
            Packet::Auth(_) => kind::AUTH,
        }
    }

    /// The packet's name as traces show it ("CONNECT", "PUBLISH", ...).
    pub fn name(&self) -> &'static str {
        kind_name(self.kind())
    }

    /// Whether a client may send this packet to a server (CONNACK, SUBACK, UNSUBACK and
    /// PINGRESP travel only the other way; the decoder reads them all).
    pub fn from_client(&self) -> bool {
        !matches!(
            self,
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp
        )
    }
}

/// The name of packet type `kind` ("CONNECT", ...; "RESERVED" for 0).
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        kind::CONNECT => "CONNECT",
        kind::CONNACK => "CONNACK",
        kind::PUBLISH => "PUBLISH",
        kind::PUBACK => "PUBACK",
        kind::PUBREC => "PUBREC",
        kind::PUBREL => "PUBREL",
        kind::PUBCOMP => "PUBCOMP",
        kind::SUBSCRIBE => "SUBSCRIBE",
        kind::SUBACK => "SUBACK",
        kind::UNSUBSCRIBE => "UNSUBSCRIBE",
        kind::UNSUBACK => "UNSUBACK",
        kind::PINGREQ => "PINGREQ",
        kind::PINGRESP => "PINGRESP",
        kind::DISCONNECT => "DISCONNECT",
        kind::AUTH => "AUTH",
        _ => "RESERVED",
    }
}

/// CONNECT (client → server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    /// [`LEVEL_311`] or [`LEVEL_5`]; [`encode`] writes this level (and v5 properties iff it
    /// is [`LEVEL_5`]) whatever level it is given.
    pub level: u8,
    /// "MQTT" (the only name [`decode`] accepts; "MQIsdp" is MQTT 3.1, refused).
    pub protocol_name: &'a str,
    /// Clean Session (3.1.1) / Clean Start (v5).
    pub clean_start: bool,
    /// Seconds; 0 disables the keep-alive.
    pub keep_alive: u16,
    /// May be empty (the server then assigns one, or refuses: policy, not decoding).
    pub client_id: &'a str,
    pub will: Option<Will<'a>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub props: Properties<'a>,
}

/// The Will of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will<'a> {
    /// A topic name: not empty, no wildcards.
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
    /// The Will properties (v5).
    pub props: Properties<'a>,
}

/// CONNACK (server → client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck<'a> {
    pub session_present: bool,
    /// The 3.1.1 return code or the v5 reason code.
    pub code: u8,
    pub props: Properties<'a>,
}

/// PUBLISH (both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish<'a> {
    pub dup: bool,
    /// 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
    /// A topic name without wildcards; empty only in v5 with a topic alias.
    pub topic: &'a str,
    /// Some (non-zero) iff qos > 0. [`encode`] writes it only for qos > 0 (0 if missing).
    pub packet_id: Option<u16>,
    pub props: Properties<'a>,
    pub payload: &'a [u8],
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Non-zero.
    pub packet_id: u16,
    /// The v5 reason code; 0 when absent (and always in 3.1.1).
    pub code: u8,
    pub props: Properties<'a>,
}

/// SUBSCRIBE (client → server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Non-zero.
    pub packet_id: u16,
    pub props: Properties<'a>,
    /// At least one; filters are non-empty UTF-8 (their syntax is `mqtt::topic`'s to check).
    pub filters: Vec<(&'a str, SubOptions)>,
}

/// The options byte of one SUBSCRIBE filter (3.1.1 has only the QoS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOptions {
    /// Maximum QoS: 0, 1 or 2.
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    /// 0, 1 or 2.
    pub retain_handling: u8,
}

impl SubOptions {
    /// The options byte as written on the wire at `level` (3.1.1: the QoS alone).
    pub fn to_byte(self, level: u8) -> u8 {
        if level != LEVEL_5 {
            return self.qos & 3;
        }
        (self.qos & 3)
            | u8::from(self.no_local) << 2
            | u8::from(self.retain_as_published) << 3
            | (self.retain_handling & 3) << 4
    }
}

/// SUBACK and UNSUBACK (server → client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck<'a> {
    pub packet_id: u16,
    pub props: Properties<'a>,
    /// One per filter (for UNSUBACK: v5 only).
    pub codes: Vec<u8>,
}

/// UNSUBSCRIBE (client → server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Non-zero.
    pub packet_id: u16,
    pub props: Properties<'a>,
    /// At least one, each non-empty.
    pub filters: Vec<&'a str>,
}

/// DISCONNECT (client → server; v5 also server → client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// The v5 reason code; 0 (normal disconnection) when absent, and always in 3.1.1.
    pub code: u8,
    pub props: Properties<'a>,
}

/// AUTH (v5 only, both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth<'a> {
    /// 0x00 success (also when absent), 0x18 continue, 0x19 re-authenticate.
    pub code: u8,
    pub props: Properties<'a>,
}

/// MQTT 5 properties; all None/empty for 3.1.1. Default = none set.
///
/// [`decode`] fills only the properties allowed on the packet; [`encode`] writes every one
/// that is set (in identifier order), so the caller sets only the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties<'a> {
    /// 0x01: 0 unspecified bytes, 1 UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03.
    pub content_type: Option<&'a str>,
    /// 0x08.
    pub response_topic: Option<&'a str>,
    /// 0x09.
    pub correlation_data: Option<&'a [u8]>,
    /// 0x0B: one in SUBSCRIBE, any number in PUBLISH (server → client); each 1..=268,435,455.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12.
    pub assigned_client_identifier: Option<&'a str>,
    /// 0x13, seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15.
    pub authentication_method: Option<&'a str>,
    /// 0x16 (only with an authentication method).
    pub authentication_data: Option<&'a [u8]>,
    /// 0x17: 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19: 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A.
    pub response_information: Option<&'a str>,
    /// 0x1C.
    pub server_reference: Option<&'a str>,
    /// 0x1F.
    pub reason_string: Option<&'a str>,
    /// 0x21: non-zero.
    pub receive_maximum: Option<u16>,
    /// 0x22.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23: non-zero.
    pub topic_alias: Option<u16>,
    /// 0x24: 0 or 1.
    pub maximum_qos: Option<u8>,
    /// 0x25: 0 or 1.
    pub retain_available: Option<u8>,
    /// 0x26, in order; repeats allowed.
    pub user_properties: Vec<(&'a str, &'a str)>,
    /// 0x27: non-zero.
    pub maximum_packet_size: Option<u32>,
    /// 0x28: 0 or 1.
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29: 0 or 1.
    pub subscription_identifier_available: Option<u8>,
    /// 0x2A: 0 or 1.
    pub shared_subscription_available: Option<u8>,
}

impl Properties<'_> {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        props_len(self) == 0
    }
}

/// Why a packet could not be decoded. The server maps these onto CONNACK codes, v5 reason
/// codes ([`DecodeError::reason_code`]) or a plain close; `Display` is the text it logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// CONNECT with an unsupported protocol level ("MQIsdp", MQTT 3.1, is malformed, as
    /// nats-server has it). The server answers CONNACK 0x01 in 3.1.1, 0x84 in v5, then closes.
    UnsupportedProtocol(u8),
    /// The packet (fixed header included) is larger than the limit given to [`decode`]:
    /// its size. v5 reason 0x95 Packet too large.
    TooLarge(usize),
    /// The bytes do not parse (v5 reason 0x81 Malformed Packet).
    Malformed(String),
    /// The bytes parse but break a rule of the protocol (v5 reason 0x82 Protocol Error).
    ProtocolError(String),
}

impl DecodeError {
    /// The v5 reason code for a CONNACK or DISCONNECT: 0x84, 0x95, 0x81 or 0x82.
    pub fn reason_code(&self) -> u8 {
        match self {
            DecodeError::UnsupportedProtocol(_) => 0x84,
            DecodeError::TooLarge(_) => 0x95,
            DecodeError::Malformed(_) => 0x81,
            DecodeError::ProtocolError(_) => 0x82,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnsupportedProtocol(level) => {
                write!(f, "unacceptable protocol version of {level}")
            }
            DecodeError::TooLarge(size) => write!(f, "packet of {size} bytes too large"),
            DecodeError::Malformed(s) | DecodeError::ProtocolError(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for DecodeError {}

fn malformed(s: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(s.into())
}

fn protocol(s: impl Into<String>) -> DecodeError {
    DecodeError::ProtocolError(s.into())
}

/// A byte string for an error text: lossy UTF-8, quoted, cut after 64 bytes.
fn quote(b: &[u8]) -> String {
    const MAX: usize = 64;
    if b.len() > MAX {
        format!("{:?}...", String::from_utf8_lossy(&b[..MAX]))
    } else {
        format!("{:?}", String::from_utf8_lossy(b))
    }
}

/// Reads one packet's body; every read is bounded by the body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn u8(&mut self, field: &str) -> Result<u8, DecodeError> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(malformed(format!("error reading {field}: EOF")));
        };
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(malformed(format!("error reading {field}: unexpected EOF")));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u16(&mut self, field: &str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn varint(&mut self, field: &str) -> Result<u32, DecodeError> {
        match read_varint(&self.buf[self.pos..]) {
            Varint::Value(v, n) => {
                self.pos += n;
                Ok(v)
            }
            Varint::Incomplete => Err(malformed(format!("error reading {field}: EOF"))),
            Varint::Malformed => Err(malformed("malformed variable int")),
        }
    }

    /// Binary data: a 2-byte length and that many bytes.
    fn bytes(&mut self, field: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.u16(field)?;
        self.take(n as usize, field)
    }

    /// A UTF-8 encoded string: valid UTF-8 without U+0000.
    fn string(&mut self, field: &str) -> Result<&'a str, DecodeError> {
        let b = self.bytes(field)?;
        let Ok(s) = std::str::from_utf8(b) else {
            return Err(malformed(format!("invalid utf8 for {field} {}", quote(b))));
        };
        if memchr::memchr(0, b).is_some() {
            return Err(malformed(format!(
                "invalid null character in {field} {}",
                quote(b)
            )));
        }
        Ok(s)
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// The body must be used up.
    fn end(&self, name: &str) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} extra bytes at the end of {name}",
                self.remaining()
            )))
        }
    }
}

enum Varint {
    /// The value and the bytes it took.
    Value(u32, usize),
    Incomplete,
    Malformed,
}

/// A variable byte integer (at most 4 bytes, so at most 268,435,455).
fn read_varint(buf: &[u8]) -> Varint {
    let mut v: u32 = 0;
    for (i, &b) in buf.iter().enumerate().take(4) {
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Varint::Value(v, i + 1);
        }
    }
    if buf.len() >= 4 {
        Varint::Malformed
    } else {
        Varint::Incomplete
    }
}

/// Decodes the first packet of `buf`.
///
/// `level` is the connection's protocol level: 0 before CONNECT (then only CONNECT is valid),
/// afterwards [`LEVEL_311`] or [`LEVEL_5`] (any level but [`LEVEL_5`] reads as 3.1.1).
/// `max_packet` bounds the whole packet, fixed header included (`usize::MAX` for no limit).
///
/// Returns `Ok(None)` when more bytes are needed (nothing is consumed), otherwise the packet and
/// the bytes it took (always > 0). A packet over `max_packet` is refused as soon as its fixed
/// header is in, without waiting for the body.
pub fn decode(
    buf: &[u8],
    level: u8,
    max_packet: usize,
) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let kind = first >> 4;
    let flags = first & 0x0f;
    if level == 0 && kind != kind::CONNECT {
        if buf.starts_with(b"GET ") {
            return Err(protocol(
                "MQTT clients over websocket must connect to the Websocket port, not the MQTT port",
            ));
        }
        return Err(protocol(format!(
            "the first packet should be a CONNECT (16), got {}",
            first & 0xf0
        )));
    }
    if level != 0 && kind == kind::CONNECT {
        return Err(protocol("received a second CONNECT packet"));
    }
    let v5 = level == LEVEL_5;
    let expected_flags = match kind {
        kind::PUBLISH => flags,
        kind::PUBREL | kind::SUBSCRIBE | kind::UNSUBSCRIBE => 0x2,
        kind::AUTH if v5 => 0,
        kind::CONNECT..=kind::DISCONNECT => 0,
        _ => return Err(malformed(format!("received unknown packet type {kind}"))),
    };
    if flags != expected_flags {
        return Err(malformed(format!(
            "invalid fixed header flags {flags:x} for packet type {:x}",
            first & 0xf0
        )));
    }
    let (rl, n) = match read_varint(&buf[1..]) {
        Varint::Value(v, n) => (v as usize, n),
        Varint::Incomplete => return Ok(None),
        Varint::Malformed => return Err(malformed("malformed variable int")),
    };
    let total = 1 + n + rl;
    if total > max_packet {
        return Err(DecodeError::TooLarge(total));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let mut r = Reader::new(&buf[1 + n..total]);
    let p = match kind {
        kind::CONNECT => Packet::Connect(decode_connect(&mut r)?),
        kind::CONNACK => Packet::ConnAck(decode_connack(&mut r, v5)?),
        kind::PUBLISH => Packet::Publish(decode_publish(&mut r, flags, v5)?),
        kind::PUBACK => Packet::PubAck(decode_ack(&mut r, kind, v5)?),
        kind::PUBREC => Packet::PubRec(decode_ack(&mut r, kind, v5)?),
        kind::PUBREL => Packet::PubRel(decode_ack(&mut r, kind, v5)?),
        kind::PUBCOMP => Packet::PubComp(decode_ack(&mut r, kind, v5)?),
        kind::SUBSCRIBE => Packet::Subscribe(decode_subscribe(&mut r, v5)?),
        kind::SUBACK => Packet::SubAck(decode_suback(&mut r, kind, v5)?),
        kind::UNSUBSCRIBE => Packet::Unsubscribe(decode_unsubscribe(&mut r, v5)?),
        kind::UNSUBACK => Packet::UnsubAck(decode_suback(&mut r, kind, v5)?),
        kind::PINGREQ | kind::PINGRESP => {
            exact_length(&r, kind, 0)?;
            if kind == kind::PINGREQ {
                Packet::PingReq
            } else {
                Packet::PingResp
            }
        }
        kind::DISCONNECT => {
            let (code, props) = decode_code_props(&mut r, kind, v5, ctx::DISCONNECT)?;
            Packet::Disconnect(Disconnect { code, props })
        }
        _ => {
            // AUTH, v5 (checked with the flags).
            let (code, props) = decode_code_props(&mut r, kind, v5, ctx::AUTH)?;
            Packet::Auth(Auth { code, props })
        }
    };
    r.end(kind_name(kind))?;
    Ok(Some((p, total)))
}

/// The protocol level a CONNECT at the start of `buf` claims, if its bytes get that far:
/// for answering a CONNECT that [`decode`] refused with a CONNACK of the right format (v5
/// reason code at [`LEVEL_5`], 3.1.1 return code otherwise). None if `buf` does not start
/// with a CONNECT named "MQTT" (or "MQIsdp") whose level byte is in `buf`.
pub fn peek_connect_level(buf: &[u8]) -> Option<u8> {
    if buf.first()? >> 4 != kind::CONNECT {
        return None;
    }
    let Varint::Value(_, n) = read_varint(buf.get(1..)?) else {
        return None;
    };
    let body = buf.get(1 + n..)?;
    let name_len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let name = body.get(2..2 + name_len)?;
    if name != b"MQTT" && name != b"MQIsdp" {
        return None;
    }
    body.get(2 + name_len).copied()
}

/// nats-server's `mqttCheckRemainingLength`.
fn exact_length(r: &Reader<'_>, kind: u8, len: usize) -> Result<(), DecodeError> {
    if r.buf.len() != len {
        return Err(malformed(format!(
            "invalid remaining length {} for packet type {:x}",
            r.buf.len(),
            kind << 4
        )));
    }
    Ok(())
}

fn packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    let pi = r.u16("packet identifier")?;
    if pi == 0 {
        return Err(protocol("packet identifier cannot be 0"));
    }
    Ok(pi)
}

/// [MQTT-3.3.2-2]: topic names (PUBLISH, Will) carry no wildcard.
fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(protocol(format!(
            "wildcards not allowed in publish's topic: {}",
            quote(topic.as_bytes())
        )));
    }
    Ok(())
}

fn decode_connect<'a>(r: &mut Reader<'a>) -> Result<Connect<'a>, DecodeError> {
    let name = r.bytes("protocol name")?;
    if name == b"MQIsdp" {
        // MQTT 3.1: nats-server closes without a CONNACK, with this error.
        return Err(malformed("older protocol \"MQIsdp\" not supported"));
    }
    if name != b"MQTT" {
        return Err(malformed(format!(
            "expected connect packet with protocol name \"MQTT\", got {}",
            quote(name)
        )));
    }
    let level = r.u8("protocol level")?;
    if level != LEVEL_311 && level != LEVEL_5 {
        return Err(DecodeError::UnsupportedProtocol(level));
    }
    let v5 = level == LEVEL_5;
    let flags = r.u8("flags")?;
    if flags & CONN_RESERVED != 0 {
        return Err(malformed("connect flags reserved bit not set to 0"));
    }
    let will_qos = (flags & CONN_WILL_QOS) >> 3;
    let will_retain = flags & CONN_WILL_RETAIN != 0;
    let has_will = flags & CONN_WILL != 0;
    if !has_will {
        if will_qos != 0 {
            return Err(malformed(format!(
                "if Will flag is set to 0, Will QoS must be 0 too, got {will_qos}"
            )));
        }
        if will_retain {
            return Err(malformed(
                "if Will flag is set to 0, Will Retain flag must be 0 too",
            ));
        }
    } else if will_qos == 3 {
        return Err(malformed(
            "if Will flag is set to 1, Will QoS can be 0, 1 or 2, got 3",
        ));
    }
    let has_user = flags & CONN_USERNAME != 0;
    let has_password = flags & CONN_PASSWORD != 0;
    if !v5 && has_password && !has_user {
        return Err(malformed("password flag set but username flag is not"));
    }
    let keep_alive = r.u16("keep alive")?;
    let props = if v5 {
        read_props(r, ctx::CONNECT)?
    } else {
        Properties::default()
    };
    let client_id = r.string("client ID")?;
    let will = if has_will {
        let props = if v5 {
            read_props(r, ctx::WILL)?
        } else {
            Properties::default()
        };
        let topic = r.string("Will topic")?;
        if topic.is_empty() {
            return Err(protocol("empty Will topic not allowed"));
        }
        check_topic_name(topic)?;
        let payload = r.bytes("Will message")?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            props,
        })
    } else {
        None
    };
    let username = if has_user {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.bytes("password")?)
    } else {
        None
    };
    Ok(Connect {
        level,
        protocol_name: "MQTT",
        clean_start: flags & CONN_CLEAN != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        props,
    })
}

fn decode_connack<'a>(r: &mut Reader<'a>, v5: bool) -> Result<ConnAck<'a>, DecodeError> {
    if !v5 {
        exact_length(r, kind::CONNACK, 2)?;
    }
    let flags = r.u8("connack flags")?;
    if flags & 0xfe != 0 {
        return Err(malformed("connack flags reserved bits not set to 0"));
    }
    let code = r.u8("connack return code")?;
    let props = if v5 {
        read_props(r, ctx::CONNACK)?
    } else {
        Properties::default()
    };
    Ok(ConnAck {
        session_present: flags & 1 != 0,
        code,
        props,
    })
}

fn decode_publish<'a>(r: &mut Reader<'a>, flags: u8, v5: bool) -> Result<Publish<'a>, DecodeError> {
    let qos = (flags & PUB_QOS) >> 1;
    if qos == 3 {
        return Err(malformed("QoS=3 is invalid in MQTT"));
    }
    let dup = flags & PUB_DUP != 0;
    if v5 && dup && qos == 0 {
        return Err(malformed("DUP flag set on a QoS 0 PUBLISH"));
    }
    let topic = r.string("topic")?;
    if topic.is_empty() && !v5 {
        return Err(protocol("topic cannot be empty"));
    }
    check_topic_name(topic)?;
    let packet_id = if qos > 0 {
        let pi = r.u16("packet identifier")?;
        if pi == 0 {
            return Err(protocol(format!(
                "with QoS={qos}, packet identifier cannot be 0"
            )));
        }
        Some(pi)
    } else {
        None
    };
    let props = if v5 {
        read_props(r, ctx::PUBLISH)?
    } else {
        Properties::default()
    };
    if topic.is_empty() && props.topic_alias.is_none() {
        return Err(protocol("topic cannot be empty without a topic alias"));
    }
    Ok(Publish {
        dup,
        qos,
        retain: flags & PUB_RETAIN != 0,
        topic,
        packet_id,
        props,
        payload: r.rest(),
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: v5 may omit the reason code (length 2) and the properties
/// (length 3).
fn decode_ack<'a>(r: &mut Reader<'a>, kind: u8, v5: bool) -> Result<Ack<'a>, DecodeError> {
    if !v5 {
        exact_length(r, kind, 2)?;
    }
    let packet_id = packet_id(r)?;
    let mut ack = Ack {
        packet_id,
        code: 0,
        props: Properties::default(),
    };
    if !r.is_empty() {
        ack.code = r.u8("reason code")?;
    }
    if !r.is_empty() {
        ack.props = read_props(r, ctx::ACK)?;
    }
    Ok(ack)
}

/// DISCONNECT and AUTH: v5 may omit the reason code (length 0) and the properties (length 1).
fn decode_code_props<'a>(
    r: &mut Reader<'a>,
    kind: u8,
    v5: bool,
    ctx: u16,
) -> Result<(u8, Properties<'a>), DecodeError> {
    if !v5 {
        exact_length(r, kind, 0)?;
    }
    let mut code = 0;
    let mut props = Properties::default();
    if !r.is_empty() {
        code = r.u8("reason code")?;
    }
    if !r.is_empty() {
        props = read_props(r, ctx)?;
    }
    Ok((code, props))
}

fn decode_subscribe<'a>(r: &mut Reader<'a>, v5: bool) -> Result<Subscribe<'a>, DecodeError> {
    let packet_id = packet_id(r)?;
    let props = if v5 {
        read_props(r, ctx::SUBSCRIBE)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string("topic filter")?;
        if filter.is_empty() {
            return Err(protocol("topic filter cannot be empty"));
        }
        let b = r.u8("QoS")?;
        let opts = if v5 {
            if b & 0xc0 != 0 {
                return Err(malformed(format!(
                    "subscription options reserved bits not set to 0: {b:#04x}"
                )));
            }
            let o = SubOptions {
                qos: b & 3,
                no_local: b & 0x04 != 0,
                retain_as_published: b & 0x08 != 0,
                retain_handling: (b >> 4) & 3,
            };
            if o.qos == 3 {
                return Err(protocol("subscribe QoS value must be 0, 1 or 2, got 3"));
            }
            if o.retain_handling == 3 {
                return Err(protocol(
                    "subscribe retain handling must be 0, 1 or 2, got 3",
                ));
            }
            o
        } else {
            if b > 2 {
                return Err(malformed(format!(
                    "subscribe QoS value must be 0, 1 or 2, got {b}"
                )));
            }
            SubOptions {
                qos: b,
                ..SubOptions::default()
            }
        };
        filters.push((filter, opts));
    }
    if filters.is_empty() {
        return Err(protocol(
            "subscribe protocol must contain at least 1 topic filter",
        ));
    }
    Ok(Subscribe {
        packet_id,
        props,
        filters,
    })
}

fn decode_unsubscribe<'a>(r: &mut Reader<'a>, v5: bool) -> Result<Unsubscribe<'a>, DecodeError> {
    let packet_id = packet_id(r)?;
    let props = if v5 {
        read_props(r, ctx::UNSUBSCRIBE)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string("topic filter")?;
        if filter.is_empty() {
            return Err(protocol("topic filter cannot be empty"));
        }
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(protocol(
            "unsubscribe protocol must contain at least 1 topic filter",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        props,
        filters,
    })
}

/// SUBACK and UNSUBACK (the 3.1.1 UNSUBACK is the packet identifier alone).
fn decode_suback<'a>(r: &mut Reader<'a>, kind: u8, v5: bool) -> Result<SubAck<'a>, DecodeError> {
    if !v5 && kind == kind::UNSUBACK {
        exact_length(r, kind, 2)?;
    }
    let packet_id = packet_id(r)?;
    let props = if v5 {
        read_props(
            r,
            if kind == kind::SUBACK {
                ctx::SUBACK
            } else {
                ctx::UNSUBACK
            },
        )?
    } else {
        Properties::default()
    };
    let codes = r.rest().to_vec();
    if codes.is_empty() && (v5 || kind == kind::SUBACK) {
        return Err(protocol(format!(
            "{} must contain at least 1 reason code",
            kind_name(kind)
        )));
    }
    Ok(SubAck {
        packet_id,
        props,
        codes,
    })
}

/// Where a property may appear (one bit per packet, the Will being a "packet" of its own).
mod ctx {
    pub const CONNECT: u16 = 1 << 0;
    pub const WILL: u16 = 1 << 1;
    pub const CONNACK: u16 = 1 << 2;
    pub const PUBLISH: u16 = 1 << 3;
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    pub const ACK: u16 = 1 << 4;
    pub const SUBSCRIBE: u16 = 1 << 5;
    pub const SUBACK: u16 = 1 << 6;
    pub const UNSUBSCRIBE: u16 = 1 << 7;
    pub const UNSUBACK: u16 = 1 << 8;
    pub const DISCONNECT: u16 = 1 << 9;
    pub const AUTH: u16 = 1 << 10;
    pub const ALL: u16 = (1 << 11) - 1;

    pub fn name(ctx: u16) -> &'static str {
        match ctx {
            CONNECT => "CONNECT",
            WILL => "Will properties",
            CONNACK => "CONNACK",
            PUBLISH => "PUBLISH",
            ACK => "PUBACK/PUBREC/PUBREL/PUBCOMP",
            SUBSCRIBE => "SUBSCRIBE",
            SUBACK => "SUBACK",
            UNSUBSCRIBE => "UNSUBSCRIBE",
            UNSUBACK => "UNSUBACK",
            DISCONNECT => "DISCONNECT",
            _ => "AUTH",
        }
    }
}

/// Property identifiers.
mod prop {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0b;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1a;
    pub const SERVER_REFERENCE: u8 = 0x1c;
    pub const REASON_STRING: u8 = 0x1f;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2a;
}

/// A property's name (for error texts) and the packets it may appear in (MQTT 5 table 2-4).
fn prop_info(id: u8) -> Option<(&'static str, u16)> {
    use ctx::*;
    const PUB_WILL: u16 = PUBLISH | WILL;
    const REASON: u16 = CONNACK | ACK | SUBACK | UNSUBACK | DISCONNECT | AUTH;
    Some(match id {
        prop::PAYLOAD_FORMAT_INDICATOR => ("payload format indicator", PUB_WILL),
        prop::MESSAGE_EXPIRY_INTERVAL => ("message expiry interval", PUB_WILL),
        prop::CONTENT_TYPE => ("content type", PUB_WILL),
        prop::RESPONSE_TOPIC => ("response topic", PUB_WILL),
        prop::CORRELATION_DATA => ("correlation data", PUB_WILL),
        prop::SUBSCRIPTION_IDENTIFIER => ("subscription identifier", PUBLISH | SUBSCRIBE),
        prop::SESSION_EXPIRY_INTERVAL => {
            ("session expiry interval", CONNECT | CONNACK | DISCONNECT)
        }
        prop::ASSIGNED_CLIENT_IDENTIFIER => ("assigned client identifier", CONNACK),
        prop::SERVER_KEEP_ALIVE => ("server keep alive", CONNACK),
        prop::AUTHENTICATION_METHOD => ("authentication method", CONNECT | CONNACK | AUTH),
        prop::AUTHENTICATION_DATA => ("authentication data", CONNECT | CONNACK | AUTH),
        prop::REQUEST_PROBLEM_INFORMATION => ("request problem information", CONNECT),
        prop::WILL_DELAY_INTERVAL => ("will delay interval", WILL),
        prop::REQUEST_RESPONSE_INFORMATION => ("request response information", CONNECT),
        prop::RESPONSE_INFORMATION => ("response information", CONNACK),
        prop::SERVER_REFERENCE => ("server reference", CONNACK | DISCONNECT),
        prop::REASON_STRING => ("reason string", REASON),
        prop::RECEIVE_MAXIMUM => ("receive maximum", CONNECT | CONNACK),
        prop::TOPIC_ALIAS_MAXIMUM => ("topic alias maximum", CONNECT | CONNACK),
        prop::TOPIC_ALIAS => ("topic alias", PUBLISH),
        prop::MAXIMUM_QOS => ("maximum QoS", CONNACK),
        prop::RETAIN_AVAILABLE => ("retain available", CONNACK),
        prop::USER_PROPERTY => ("user property", ALL),
        prop::MAXIMUM_PACKET_SIZE => ("maximum packet size", CONNECT | CONNACK),
        prop::WILDCARD_SUBSCRIPTION_AVAILABLE => ("wildcard subscription available", CONNACK),
        prop::SUBSCRIPTION_IDENTIFIER_AVAILABLE => ("subscription identifier available", CONNACK),
        prop::SHARED_SUBSCRIPTION_AVAILABLE => ("shared subscription available", CONNACK),
        _ => return None,
    })
}

/// Reads a v5 property block (its variable-integer length, then identifier/value pairs) for
/// the packet `ctx`.
fn read_props<'a>(r: &mut Reader<'a>, ctx: u16) -> Result<Properties<'a>, DecodeError> {
    let len = r.varint("property length")? as usize;
    let mut r = Reader::new(r.take(len, "properties")?);
    let mut p = Properties::default();
    let mut seen: u64 = 0;
    while !r.is_empty() {
        // An identifier is a variable integer, but all defined ones take one byte: a longer
        // one is unknown anyway.
        let id = r.u8("property identifier")?;
        let Some((name, allowed)) = prop_info(id) else {
            return Err(malformed(format!("unknown property identifier {id:#04x}")));
        };
        if allowed & ctx == 0 {
            return Err(protocol(format!(
                "property {name} not allowed in {}",
                ctx::name(ctx)
            )));
        }
        let repeatable = id == prop::USER_PROPERTY
            || (id == prop::SUBSCRIPTION_IDENTIFIER && ctx == ctx::PUBLISH);
        let bit = 1u64 << id; // ids are < 64
        if seen & bit != 0 && !repeatable {
            return Err(protocol(format!("property {name} included more than once")));
        }
        seen |= bit;
        let flag = |r: &mut Reader<'a>| -> Result<u8, DecodeError> {
            let v = r.u8(name)?;
            if v > 1 {
                return Err(protocol(format!("property {name} must be 0 or 1, got {v}")));
            }
            Ok(v)
        };
        let non_zero_u16 = |r: &mut Reader<'a>| -> Result<u16, DecodeError> {
            let v = r.u16(name)?;
            if v == 0 {
                return Err(protocol(format!("property {name} cannot be 0")));
            }
            Ok(v)
        };
        match id {
            prop::PAYLOAD_FORMAT_INDICATOR => p.payload_format_indicator = Some(flag(&mut r)?),
            prop::MESSAGE_EXPIRY_INTERVAL => p.message_expiry_interval = Some(r.u32(name)?),
            prop::CONTENT_TYPE => p.content_type = Some(r.string(name)?),
            prop::RESPONSE_TOPIC => {
                let t = r.string(name)?;
                check_topic_name(t)?;
                p.response_topic = Some(t);
            }
            prop::CORRELATION_DATA => p.correlation_data = Some(r.bytes(name)?),
            prop::SUBSCRIPTION_IDENTIFIER => {
                let v = r.varint(name)?;
                if v == 0 {
                    return Err(protocol(format!("property {name} cannot be 0")));
                }
                p.subscription_identifiers.push(v);
            }
            prop::SESSION_EXPIRY_INTERVAL => p.session_expiry_interval = Some(r.u32(name)?),
            prop::ASSIGNED_CLIENT_IDENTIFIER => {
                p.assigned_client_identifier = Some(r.string(name)?)
            }
            prop::SERVER_KEEP_ALIVE => p.server_keep_alive = Some(r.u16(name)?),
            prop::AUTHENTICATION_METHOD => p.authentication_method = Some(r.string(name)?),
            prop::AUTHENTICATION_DATA => p.authentication_data = Some(r.bytes(name)?),
            prop::REQUEST_PROBLEM_INFORMATION => {
                p.request_problem_information = Some(flag(&mut r)?)
            }
            prop::WILL_DELAY_INTERVAL => p.will_delay_interval = Some(r.u32(name)?),
            prop::REQUEST_RESPONSE_INFORMATION => {
                p.request_response_information = Some(flag(&mut r)?)
            }
            prop::RESPONSE_INFORMATION => p.response_information = Some(r.string(name)?),
            prop::SERVER_REFERENCE => p.server_reference = Some(r.string(name)?),
            prop::REASON_STRING => p.reason_string = Some(r.string(name)?),
            prop::RECEIVE_MAXIMUM => p.receive_maximum = Some(non_zero_u16(&mut r)?),
            prop::TOPIC_ALIAS_MAXIMUM => p.topic_alias_maximum = Some(r.u16(name)?),
            prop::TOPIC_ALIAS => p.topic_alias = Some(non_zero_u16(&mut r)?),
            prop::MAXIMUM_QOS => p.maximum_qos = Some(flag(&mut r)?),
            prop::RETAIN_AVAILABLE => p.retain_available = Some(flag(&mut r)?),
            prop::USER_PROPERTY => {
                let k = r.string(name)?;
                let v = r.string(name)?;
                p.user_properties.push((k, v));
            }
            prop::MAXIMUM_PACKET_SIZE => {
                let v = r.u32(name)?;
                if v == 0 {
                    return Err(protocol(format!("property {name} cannot be 0")));
                }
                p.maximum_packet_size = Some(v);
            }
            prop::WILDCARD_SUBSCRIPTION_AVAILABLE => {
                p.wildcard_subscription_available = Some(flag(&mut r)?)
            }
            prop::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                p.subscription_identifier_available = Some(flag(&mut r)?)
            }
            _ => p.shared_subscription_available = Some(flag(&mut r)?),
        }
    }
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        return Err(protocol(
            "authentication data without an authentication method",
        ));
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Encoding. Every writer has a length twin (`*_len`) so that the remaining length is written
// before the body, without a temporary buffer; `encode` checks they agree in debug builds.
// Strings and binary data longer than 65,535 bytes are cut to that length (callers bound them).

fn varint_len(v: usize) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

/// Writes a variable integer (values past [`MAX_REMAINING_LENGTH`] are the caller's bug; they
/// come out as more than 4 bytes, which a decoder refuses).
fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let mut b = (v & 0x7f) as u8;
        v >>= 7;
        if v > 0 {
            b |= 0x80;
        }
        out.push(b);
        if v == 0 {
            return;
        }
    }
}

fn bin_len(b: &[u8]) -> usize {
    2 + b.len().min(u16::MAX as usize)
}

fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The bytes of a property block's content (without its length).
fn props_len(p: &Properties<'_>) -> usize {
    let b = |v: Option<u8>| v.map_or(0, |_| 2);
    let w = |v: Option<u16>| v.map_or(0, |_| 3);
    let d = |v: Option<u32>| v.map_or(0, |_| 5);
    let s = |v: Option<&str>| v.map_or(0, |s| 1 + bin_len(s.as_bytes()));
    let x = |v: Option<&[u8]>| v.map_or(0, |x| 1 + bin_len(x));
    b(p.payload_format_indicator)
        + d(p.message_expiry_interval)
        + s(p.content_type)
        + s(p.response_topic)
        + x(p.correlation_data)
        + p.subscription_identifiers
            .iter()
            .map(|&v| 1 + varint_len(v as usize))
            .sum::<usize>()
        + d(p.session_expiry_interval)
        + s(p.assigned_client_identifier)
        + w(p.server_keep_alive)
        + s(p.authentication_method)
        + x(p.authentication_data)
        + b(p.request_problem_information)
        + d(p.will_delay_interval)
        + b(p.request_response_information)
        + s(p.response_information)
        + s(p.server_reference)
        + s(p.reason_string)
        + w(p.receive_maximum)
        + w(p.topic_alias_maximum)
        + w(p.topic_alias)
        + b(p.maximum_qos)
        + b(p.retain_available)
        + p.user_properties
            .iter()
            .map(|(k, v)| 1 + bin_len(k.as_bytes()) + bin_len(v.as_bytes()))
            .sum::<usize>()
        + d(p.maximum_packet_size)
        + b(p.wildcard_subscription_available)
        + b(p.subscription_identifier_available)
        + b(p.shared_subscription_available)
}

/// A property block with its length prefix.
fn props_block_len(p: &Properties<'_>) -> usize {
    let n = props_len(p);
    varint_len(n) + n
}

fn put_props(out: &mut Vec<u8>, p: &Properties<'_>) {
    put_varint(out, props_len(p));
    let byte = |out: &mut Vec<u8>, id: u8, v: Option<u8>| {
        if let Some(v) = v {
            out.extend_from_slice(&[id, v]);
        }
    };
    let word = |out: &mut Vec<u8>, id: u8, v: Option<u16>| {
        if let Some(v) = v {
            out.push(id);
            put_u16(out, v);
        }
    };
    let dword = |out: &mut Vec<u8>, id: u8, v: Option<u32>| {
        if let Some(v) = v {
            out.push(id);
            out.extend_from_slice(&v.to_be_bytes());
        }
    };
    let bin = |out: &mut Vec<u8>, id: u8, v: Option<&[u8]>| {
        if let Some(v) = v {
            out.push(id);
            put_bin(out, v);
        }
    };
    fn s(v: Option<&str>) -> Option<&[u8]> {
        v.map(str::as_bytes)
    }
    byte(
        out,
        prop::PAYLOAD_FORMAT_INDICATOR,
        p.payload_format_indicator,
    );
    dword(
        out,
        prop::MESSAGE_EXPIRY_INTERVAL,
        p.message_expiry_interval,
    );
    bin(out, prop::CONTENT_TYPE, s(p.content_type));
    bin(out, prop::RESPONSE_TOPIC, s(p.response_topic));
    bin(out, prop::CORRELATION_DATA, p.correlation_data);
    for &v in &p.subscription_identifiers {
        out.push(prop::SUBSCRIPTION_IDENTIFIER);
        put_varint(out, v as usize);
    }
    dword(
        out,
        prop::SESSION_EXPIRY_INTERVAL,
        p.session_expiry_interval,
    );
    bin(
        out,
        prop::ASSIGNED_CLIENT_IDENTIFIER,
        s(p.assigned_client_identifier),
    );
    word(out, prop::SERVER_KEEP_ALIVE, p.server_keep_alive);
    bin(out, prop::AUTHENTICATION_METHOD, s(p.authentication_method));
    bin(out, prop::AUTHENTICATION_DATA, p.authentication_data);
    byte(
        out,
        prop::REQUEST_PROBLEM_INFORMATION,
        p.request_problem_information,
    );
    dword(out, prop::WILL_DELAY_INTERVAL, p.will_delay_interval);
    byte(
        out,
        prop::REQUEST_RESPONSE_INFORMATION,
        p.request_response_information,
    );
    bin(out, prop::RESPONSE_INFORMATION, s(p.response_information));
    bin(out, prop::SERVER_REFERENCE, s(p.server_reference));
    bin(out, prop::REASON_STRING, s(p.reason_string));
    word(out, prop::RECEIVE_MAXIMUM, p.receive_maximum);
    word(out, prop::TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
    word(out, prop::TOPIC_ALIAS, p.topic_alias);
    byte(out, prop::MAXIMUM_QOS, p.maximum_qos);
    byte(out, prop::RETAIN_AVAILABLE, p.retain_available);
    for (k, v) in &p.user_properties {
        out.push(prop::USER_PROPERTY);
        put_bin(out, k.as_bytes());
        put_bin(out, v.as_bytes());
    }
    dword(out, prop::MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
    byte(
        out,
        prop::WILDCARD_SUBSCRIPTION_AVAILABLE,
        p.wildcard_subscription_available,
    );
    byte(
        out,
        prop::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        p.subscription_identifier_available,
    );
    byte(
        out,
        prop::SHARED_SUBSCRIPTION_AVAILABLE,
        p.shared_subscription_available,
    );
}

/// How a v5 ack-like packet is cut: 0 = nothing after the fixed part, 1 = the reason code,
/// 2 = code and properties.
fn ack_tail(v5: bool, code: u8, props: &Properties<'_>) -> u8 {
    if !v5 {
        0
    } else if !props.is_empty() {
        2
    } else if code != 0 {
        1
    } else {
        0
    }
}

fn ack_tail_len(v5: bool, code: u8, props: &Properties<'_>) -> usize {
    match ack_tail(v5, code, props) {
        0 => 0,
        1 => 1,
        _ => 1 + props_block_len(props),
    }
}

fn put_ack_tail(out: &mut Vec<u8>, v5: bool, code: u8, props: &Properties<'_>) {
    match ack_tail(v5, code, props) {
        0 => {}
        1 => out.push(code),
        _ => {
            out.push(code);
            put_props(out, props);
        }
    }
}

/// The first byte: type and flags.
fn first_byte(p: &Packet<'_>) -> u8 {
    let flags = match p {
        Packet::Publish(p) => u8::from(p.dup) << 3 | (p.qos & 3) << 1 | u8::from(p.retain),
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => 0x2,
        _ => 0,
    };
    p.kind() << 4 | flags
}

/// The remaining length of `p` at `level`.
fn body_len(p: &Packet<'_>, level: u8) -> usize {
    let v5 = level == LEVEL_5;
    let props = |pr: &Properties<'_>| if v5 { props_block_len(pr) } else { 0 };
    match p {
        Packet::Connect(c) => {
            let v5 = c.level == LEVEL_5;
            let props = |pr: &Properties<'_>| if v5 { props_block_len(pr) } else { 0 };
            bin_len(c.protocol_name.as_bytes())
                + 4
                + props(&c.props)
                + bin_len(c.client_id.as_bytes())
                + c.will.as_ref().map_or(0, |w| {
                    props(&w.props) + bin_len(w.topic.as_bytes()) + bin_len(w.payload)
                })
                + c.username.map_or(0, |u| bin_len(u.as_bytes()))
                + c.password.map_or(0, bin_len)
        }
        Packet::ConnAck(c) => 2 + props(&c.props),
        Packet::Publish(p) => {
            bin_len(p.topic.as_bytes())
                + if p.qos > 0 { 2 } else { 0 }
                + props(&p.props)
                + p.payload.len()
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            2 + ack_tail_len(v5, a.code, &a.props)
        }
        Packet::Subscribe(s) => {
            2 + props(&s.props)
                + s.filters
                    .iter()
                    .map(|(f, _)| bin_len(f.as_bytes()) + 1)
                    .sum::<usize>()
        }
        Packet::SubAck(s) => 2 + props(&s.props) + s.codes.len(),
        Packet::UnsubAck(s) => {
            if v5 {
                2 + props(&s.props) + s.codes.len()
            } else {
                2
            }
        }
        Packet::Unsubscribe(u) => {
            2 + props(&u.props)
                + u.filters
                    .iter()
                    .map(|f| bin_len(f.as_bytes()))
                    .sum::<usize>()
        }
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(Disconnect { code, props }) | Packet::Auth(Auth { code, props }) => {
            match ack_tail(v5, *code, props) {
                0 => 0,
                1 => 1,
                _ => 1 + props_block_len(props),
            }
        }
    }
}

/// The bytes [`encode`] appends for `p` at `level` (for sizing buffers and checking limits).
pub fn encoded_len(p: &Packet<'_>, level: u8) -> usize {
    let n = body_len(p, level);
    1 + varint_len(n) + n
}

/// Appends the encoding of `p` at protocol level `level` (CONNECT at its own level).
///
/// Properties are written only at [`LEVEL_5`]; in 3.1.1 the reason codes of acks and
/// DISCONNECT are not written, and SUBACK codes are written as they are. In v5 the reason
/// code and properties of PUBACK/PUBREC/PUBREL/PUBCOMP, DISCONNECT and AUTH are left out when
/// they are 0 and empty, as the specification allows.
pub fn encode(p: &Packet<'_>, level: u8, out: &mut Vec<u8>) {
    let v5 = level == LEVEL_5;
    let body = body_len(p, level);
    out.reserve(1 + varint_len(body) + body);
    out.push(first_byte(p));
    put_varint(out, body);
    let start = out.len();
    let props = |out: &mut Vec<u8>, pr: &Properties<'_>| {
        if v5 {
            put_props(out, pr);
        }
    };
    match p {
        Packet::Connect(c) => {
            let cv5 = c.level == LEVEL_5;
            let props = |out: &mut Vec<u8>, pr: &Properties<'_>| {
                if cv5 {
                    put_props(out, pr);
                }
            };
            put_bin(out, c.protocol_name.as_bytes());
            out.push(c.level);
            let mut flags = 0;
            if c.clean_start {
                flags |= CONN_CLEAN;
            }
            if let Some(w) = &c.will {
                flags |= CONN_WILL | (w.qos & 3) << 3;
                if w.retain {
                    flags |= CONN_WILL_RETAIN;
                }
            }
            if c.username.is_some() {
                flags |= CONN_USERNAME;
            }
            if c.password.is_some() {
                flags |= CONN_PASSWORD;
            }
            out.push(flags);
            put_u16(out, c.keep_alive);
            props(out, &c.props);
            put_bin(out, c.client_id.as_bytes());
            if let Some(w) = &c.will {
                props(out, &w.props);
                put_bin(out, w.topic.as_bytes());
                put_bin(out, w.payload);
            }
            if let Some(u) = c.username {
                put_bin(out, u.as_bytes());
            }
            if let Some(pw) = c.password {
                put_bin(out, pw);
            }
        }
        Packet::ConnAck(c) => {
            out.push(u8::from(c.session_present));
            out.push(c.code);
            props(out, &c.props);
        }
        Packet::Publish(p) => {
            put_bin(out, p.topic.as_bytes());
            if p.qos > 0 {
                put_u16(out, p.packet_id.unwrap_or(0));
            }
            props(out, &p.props);
            out.extend_from_slice(p.payload);
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            put_u16(out, a.packet_id);
            put_ack_tail(out, v5, a.code, &a.props);
        }
        Packet::Subscribe(s) => {
            put_u16(out, s.packet_id);
            props(out, &s.props);
            for (f, o) in &s.filters {
                put_bin(out, f.as_bytes());
                out.push(o.to_byte(level));
            }
        }
        Packet::SubAck(s) => {
            put_u16(out, s.packet_id);
            props(out, &s.props);
            out.extend_from_slice(&s.codes);
        }
        Packet::UnsubAck(s) => {
            put_u16(out, s.packet_id);
            if v5 {
                put_props(out, &s.props);
                out.extend_from_slice(&s.codes);
            }
        }
        Packet::Unsubscribe(u) => {
            put_u16(out, u.packet_id);
            props(out, &u.props);
            for f in &u.filters {
                put_bin(out, f.as_bytes());
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(Disconnect { code, props }) | Packet::Auth(Auth { code, props }) => {
            put_ack_tail(out, v5, *code, props)
        }
    }
    debug_assert_eq!(out.len() - start, body, "{} body length", p.name());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = usize::MAX;

    fn dec(buf: &[u8], level: u8) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
        decode(buf, level, MAX)
    }

    fn enc(p: &Packet<'_>, level: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, level, &mut out);
        assert_eq!(out.len(), encoded_len(p, level), "{p:?}");
        out
    }

    /// The level a packet is decoded at: CONNECT before any, the rest at `level`.
    fn state(p: &Packet<'_>, level: u8) -> u8 {
        if matches!(p, Packet::Connect(_)) {
            0
        } else {
            level
        }
    }

    /// encode → decode gives the packet back, consuming exactly the bytes; every strict
    /// prefix is incomplete; a limit one byte short refuses the packet after its header.
    fn round_trip(p: &Packet<'_>, level: u8) -> Vec<u8> {
        let bytes = enc(p, level);
        let st = state(p, level);
        let (q, n) = dec(&bytes, st)
            .unwrap_or_else(|e| panic!("{p:?} at {level}: {e}"))
            .expect("complete");
        assert_eq!(&q, p, "at level {level}");
        assert_eq!(n, bytes.len());
        // Followed by more bytes: still exactly one packet.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(dec(&two, st).unwrap().unwrap().1, bytes.len());
        for i in 0..bytes.len() {
            assert_eq!(dec(&bytes[..i], st), Ok(None), "prefix {i} of {bytes:?}");
        }
        let hdr = bytes.len() - body_len(p, level);
        assert_eq!(
            decode(&bytes[..hdr], st, bytes.len() - 1),
            Err(DecodeError::TooLarge(bytes.len()))
        );
        bytes
    }

    fn user_props() -> Properties<'static> {
        Properties {
            user_properties: vec![("k", "v"), ("k", "v2"), ("", "")],
            ..Properties::default()
        }
    }

    fn connect_v5() -> Connect<'static> {
        Connect {
            level: LEVEL_5,
            protocol_name: "MQTT",
            clean_start: true,
            keep_alive: 60,
            client_id: "dev-1",
            will: Some(Will {
                topic: "last/will",
                payload: b"bye",
                qos: 1,
                retain: true,
                props: Properties {
                    will_delay_interval: Some(5),
                    payload_format_indicator: Some(1),
                    message_expiry_interval: Some(100),
                    content_type: Some("text/plain"),
                    response_topic: Some("resp/topic"),
                    correlation_data: Some(b"\x00\x01"),
                    user_properties: vec![("a", "b")],
                    ..Properties::default()
                },
            }),
            username: Some("user"),
            password: Some(b"p\x00ss"),
            props: Properties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(10),
                maximum_packet_size: Some(1 << 20),
                topic_alias_maximum: Some(8),
                request_response_information: Some(1),
                request_problem_information: Some(0),
                authentication_method: Some("SCRAM"),
                authentication_data: Some(b"data"),
                user_properties: vec![("x", "y")],
                ..Properties::default()
            },
        }
    }

    fn connect_311() -> Connect<'static> {
        Connect {
            level: LEVEL_311,
            protocol_name: "MQTT",
            clean_start: false,
            keep_alive: 30,
            client_id: "c",
            will: Some(Will {
                topic: "w",
                payload: b"",
                qos: 2,
                retain: false,
                props: Properties::default(),
            }),
            username: Some(""),
            password: Some(b""),
            props: Properties::default(),
        }
    }

    fn all_packets(level: u8) -> Vec<Packet<'static>> {
        let v5 = level == LEVEL_5;
        let pr = |p: Properties<'static>| if v5 { p } else { Properties::default() };
        let ack = |code: u8| Ack {
            packet_id: 7,
            code: if v5 { code } else { 0 },
            props: pr(Properties {
                reason_string: Some("why"),
                ..user_props()
            }),
        };
        let mut v = vec![
            Packet::Connect(if v5 { connect_v5() } else { connect_311() }),
            Packet::Connect(Connect {
                level,
                protocol_name: "MQTT",
                clean_start: true,
                keep_alive: 0,
                client_id: "",
                will: None,
                username: None,
                password: None,
                props: Properties::default(),
            }),
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                props: pr(Properties {
                    session_expiry_interval: Some(0),
                    assigned_client_identifier: Some("auto-1"),
                    server_keep_alive: Some(20),
                    response_information: Some("info"),
                    server_reference: Some("other:1883"),
                    reason_string: Some("ok"),
                    receive_maximum: Some(100),
                    topic_alias_maximum: Some(0),
                    maximum_qos: Some(1),
                    retain_available: Some(0),
                    maximum_packet_size: Some(1000),
                    wildcard_subscription_available: Some(1),
                    subscription_identifier_available: Some(1),
                    shared_subscription_available: Some(0),
                    authentication_method: Some("m"),
                    ..user_props()
                }),
            }),
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: if v5 { 0x87 } else { 5 },
                props: Properties::default(),
            }),
            Packet::Publish(Publish {
                dup: false,
                qos: 0,
                retain: true,
                topic: "a/b/c",
                packet_id: None,
                props: Properties::default(),
                payload: b"hello",
            }),
            Packet::Publish(Publish {
                dup: true,
                qos: 1,
                retain: false,
                topic: "x",
                packet_id: Some(1),
                props: pr(Properties {
                    payload_format_indicator: Some(0),
                    message_expiry_interval: Some(9),
                    topic_alias: Some(3),
                    response_topic: Some("r"),
                    correlation_data: Some(b""),
                    subscription_identifiers: vec![1, 268_435_455, 1],
                    content_type: Some(""),
                    ..user_props()
                }),
                payload: &[0u8; 300],
            }),
            Packet::Publish(Publish {
                dup: false,
                qos: 2,
                retain: true,
                topic: "ünïcode/€",
                packet_id: Some(65535),
                props: Properties::default(),
                payload: b"",
            }),
            Packet::PubAck(ack(0)),
            Packet::PubRec(ack(0x10)),
            Packet::PubRel(ack(0x92)),
            Packet::PubComp(ack(0)),
            Packet::PubAck(Ack {
                packet_id: 1,
                code: 0,
                props: Properties::default(),
            }),
            Packet::PubRec(Ack {
                packet_id: 2,
                code: if v5 { 0x80 } else { 0 },
                props: Properties::default(),
            }),
            Packet::Subscribe(Subscribe {
                packet_id: 9,
                props: pr(Properties {
                    subscription_identifiers: vec![42],
                    ..user_props()
                }),
                filters: vec![
                    ("a/+/c", SubOptions::default()),
                    (
                        "#",
                        SubOptions {
                            qos: 2,
                            no_local: v5,
                            retain_as_published: v5,
                            retain_handling: if v5 { 2 } else { 0 },
                        },
                    ),
                    (
                        "$share/g/t",
                        SubOptions {
                            qos: 1,
                            retain_handling: if v5 { 1 } else { 0 },
                            ..SubOptions::default()
                        },
                    ),
                ],
            }),
            Packet::SubAck(SubAck {
                packet_id: 9,
                props: pr(Properties {
                    reason_string: Some("r"),
                    ..user_props()
                }),
                codes: vec![0, 1, 2, 0x80],
            }),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 10,
                props: pr(user_props()),
                filters: vec!["a/b", "c/#"],
            }),
            Packet::UnsubAck(SubAck {
                packet_id: 10,
                props: pr(Properties {
                    reason_string: Some("r"),
                    ..Properties::default()
                }),
                codes: if v5 { vec![0, 0x11] } else { vec![] },
            }),
            Packet::PingReq,
            Packet::PingResp,
            Packet::Disconnect(Disconnect {
                code: 0,
                props: Properties::default(),
            }),
        ];
        if v5 {
            v.extend([
                Packet::Disconnect(Disconnect {
                    code: 0x04,
                    props: Properties::default(),
                }),
                Packet::Disconnect(Disconnect {
                    code: 0,
                    props: Properties {
                        session_expiry_interval: Some(10),
                        reason_string: Some("bye"),
                        server_reference: Some("s"),
                        ..user_props()
                    },
                }),
                Packet::Auth(Auth {
                    code: 0,
                    props: Properties::default(),
                }),
                Packet::Auth(Auth {
                    code: 0x18,
                    props: Properties::default(),
                }),
                Packet::Auth(Auth {
                    code: 0x18,
                    props: Properties {
                        authentication_method: Some("SCRAM"),
                        authentication_data: Some(b"\xff\x00"),
                        reason_string: Some("more"),
                        ..user_props()
                    },
                }),
                Packet::Publish(Publish {
                    dup: false,
                    qos: 0,
                    retain: false,
                    topic: "",
                    packet_id: None,
                    props: Properties {
                        topic_alias: Some(1),
                        ..Properties::default()
                    },
                    payload: b"aliased",
                }),
            ]);
        }
        v
    }

    #[test]
    fn round_trips_every_packet_at_both_levels() {
        for level in [LEVEL_311, LEVEL_5] {
            let all = all_packets(level);
            let mut kinds: Vec<u8> = all.iter().map(Packet::kind).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let expected = if level == LEVEL_5 { 15 } else { 14 };
            assert_eq!(kinds.len(), expected, "every packet type at level {level}");
            for p in &all {
                round_trip(p, level);
            }
        }
    }

    #[test]
    fn large_publish_uses_a_long_remaining_length() {
        let payload = vec![7u8; 200_000];
        for level in [LEVEL_311, LEVEL_5] {
            let p = Packet::Publish(Publish {
                dup: false,
                qos: 1,
                retain: false,
                topic: "big",
                packet_id: Some(3),
                props: Properties::default(),
                payload: &payload,
            });
            let bytes = enc(&p, level);
            assert_eq!(bytes[1] & 0x80, 0x80);
            let (q, n) = dec(&bytes, level).unwrap().unwrap();
            assert_eq!(q, p);
            assert_eq!(n, bytes.len());
            // The body is not awaited once the header says the packet is too large.
            assert_eq!(
                decode(&bytes[..5], level, 100_000),
                Err(DecodeError::TooLarge(bytes.len()))
            );
            assert_eq!(decode(&bytes[..5], level, MAX), Ok(None));
        }
    }

    /// The wire bytes of known packets, written out by hand (from the specifications'
    /// examples), so that the encoder is not only checked against itself.
    #[test]
    fn known_bytes() {
        let connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04dev1";
        let (p, n) = dec(connect, 0).unwrap().unwrap();
        assert_eq!(n, connect.len());
        let Packet::Connect(c) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(
            (c.level, c.clean_start, c.keep_alive, c.client_id),
            (4, true, 60, "dev1")
        );
        assert_eq!(enc(&p, 0), connect);

        let publish = b"\x32\x0a\x00\x03a/b\x00\x01hi\x21";
        let (p, _) = dec(publish, LEVEL_311).unwrap().unwrap();
        assert_eq!(
            p,
            Packet::Publish(Publish {
                dup: false,
                qos: 1,
                retain: false,
                topic: "a/b",
                packet_id: Some(1),
                props: Properties::default(),
                payload: b"hi\x21",
            })
        );
        assert_eq!(enc(&p, LEVEL_311), publish);

        // v5 PUBLISH with a topic alias and a user property.
        let publish5 = b"\x30\x0f\x00\x01t\x0a\x23\x00\x05\x26\x00\x01k\x00\x01vX";
        let (p, _) = dec(publish5, LEVEL_5).unwrap().unwrap();
        let Packet::Publish(pb) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(pb.props.topic_alias, Some(5));
        assert_eq!(pb.props.user_properties, vec![("k", "v")]);
        assert_eq!(pb.payload, b"X");
        assert_eq!(enc(&p, LEVEL_5), publish5);

        let suback = Packet::SubAck(SubAck {
            packet_id: 0x0102,
            props: Properties::default(),
            codes: vec![0, 0x80],
        });
        assert_eq!(enc(&suback, LEVEL_311), b"\x90\x04\x01\x02\x00\x80");
        assert_eq!(enc(&suback, LEVEL_5), b"\x90\x05\x01\x02\x00\x00\x80");
        let connack = Packet::ConnAck(ConnAck {
            session_present: false,
            code: 1,
            props: Properties::default(),
        });
        assert_eq!(enc(&connack, LEVEL_311), b"\x20\x02\x00\x01");
        assert_eq!(enc(&connack, LEVEL_5), b"\x20\x03\x00\x01\x00");
        assert_eq!(enc(&Packet::PingResp, LEVEL_311), b"\xd0\x00");
        let puback = Packet::PubAck(Ack {
            packet_id: 5,
            code: 0x10,
            props: Properties::default(),
        });
        assert_eq!(enc(&puback, LEVEL_311), b"\x40\x02\x00\x05");
        assert_eq!(enc(&puback, LEVEL_5), b"\x40\x03\x00\x05\x10");
        let unsuback = Packet::UnsubAck(SubAck {
            packet_id: 5,
            props: Properties::default(),
            codes: vec![0],
        });
        assert_eq!(enc(&unsuback, LEVEL_311), b"\xb0\x02\x00\x05");
        let disc = Packet::Disconnect(Disconnect {
            code: 0x8e,
            props: Properties::default(),
        });
        assert_eq!(enc(&disc, LEVEL_311), b"\xe0\x00");
        assert_eq!(enc(&disc, LEVEL_5), b"\xe0\x01\x8e");
    }

    fn err(buf: &[u8], level: u8) -> DecodeError {
        match dec(buf, level) {
            Err(e) => e,
            other => panic!("{buf:?} at {level}: expected an error, got {other:?}"),
        }
    }

    fn assert_malformed(buf: &[u8], level: u8, text: &str) {
        match err(buf, level) {
            DecodeError::Malformed(s) => assert!(s.contains(text), "{s:?} lacks {text:?}"),
            e => panic!("{buf:?}: expected Malformed({text:?}), got {e:?}"),
        }
    }

    fn assert_protocol(buf: &[u8], level: u8, text: &str) {
        match err(buf, level) {
            DecodeError::ProtocolError(s) => assert!(s.contains(text), "{s:?} lacks {text:?}"),
            e => panic!("{buf:?}: expected ProtocolError({text:?}), got {e:?}"),
        }
    }

    /// A packet from its first byte and body.
    fn pkt(first: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![first];
        put_varint(&mut v, body.len());
        v.extend_from_slice(body);
        v
    }

    /// A v5 property block.
    fn props(content: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_varint(&mut v, content.len());
        v.extend_from_slice(content);
        v
    }

    /// A v5 PUBLISH QoS 0 to "t" with the given property block content.
    fn pub5(content: &[u8]) -> Vec<u8> {
        let mut body = b"\x00\x01t".to_vec();
        body.extend(props(content));
        body.extend_from_slice(b"pl");
        pkt(0x30, &body)
    }

    /// A CONNECT: name, level, flags, keep-alive 0, then `rest`.
    fn connect(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        put_bin(&mut body, name);
        body.extend_from_slice(&[level, flags, 0, 0]);
        body.extend_from_slice(rest);
        pkt(0x10, &body)
    }

    #[test]
    fn first_packet_must_be_connect() {
        assert_protocol(
            b"\x30\x00",
            0,
            "the first packet should be a CONNECT (16), got 48",
        );
        assert_protocol(b"\xc0\x00", 0, "got 192");
        // Decided on the first byte, before the rest arrives.
        assert_protocol(b"\x82", 0, "got 128");
        assert_protocol(b"GET / HTTP/1.1\r\n", 0, "Websocket port");
        let c = connect(b"MQTT", 4, 2, b"\x00\x00");
        assert!(matches!(dec(&c, 0), Ok(Some((Packet::Connect(_), _)))));
        assert_protocol(&c, LEVEL_311, "received a second CONNECT packet");
        assert_protocol(&c, LEVEL_5, "received a second CONNECT packet");
    }

    #[test]
    fn fixed_header_flags() {
        for (first, ok) in [
            (0x62u8, true),
            (0x60, false),
            (0x82, true),
            (0x80, false),
            (0x83, false),
            (0xa2, true),
            (0xa0, false),
            (0x41, false),
            (0x52, false),
            (0x71, false),
            (0xc1, false),
            (0xe8, false),
            (0x92, false),
            (0xb1, false),
            (0xd4, false),
            (0x21, false),
        ] {
            // Bodies valid for the packet's type when the flags are right.
            let body: &[u8] = match first >> 4 {
                6 | 4 | 5 | 7 | 11 => b"\x00\x01",
                8 => b"\x00\x01\x00\x01a\x00",
                10 => b"\x00\x01\x00\x01a",
                9 => b"\x00\x01\x00",
                2 => b"\x00\x00",
                _ => b"",
            };
            let b = pkt(first, body);
            if ok {
                assert!(dec(&b, LEVEL_311).is_ok(), "{first:#x}");
            } else {
                assert_malformed(&b, LEVEL_311, "invalid fixed header flags");
            }
        }
        assert_malformed(
            &pkt(0x11, b""),
            0,
            "invalid fixed header flags 1 for packet type 10",
        );
        assert_malformed(b"\x00\x00", LEVEL_311, "received unknown packet type 0");
        assert_malformed(b"\x00\x00", LEVEL_5, "received unknown packet type 0");
        assert_malformed(b"\xf0\x00", LEVEL_311, "received unknown packet type 15");
        assert_malformed(b"\xf1\x00", LEVEL_5, "invalid fixed header flags");
    }

    #[test]
    fn publish_flags() {
        // QoS 3.
        assert_malformed(b"\x36\x05\x00\x01t\x00\x01", LEVEL_311, "QoS=3 is invalid");
        assert_malformed(b"\x36\x06\x00\x01t\x00\x01\x00", LEVEL_5, "QoS=3");
        // DUP on QoS 0: nats-server accepts it in 3.1.1; malformed in v5.
        let (p, _) = dec(b"\x38\x03\x00\x01t", LEVEL_311).unwrap().unwrap();
        assert!(matches!(
            p,
            Packet::Publish(Publish {
                dup: true,
                qos: 0,
                ..
            })
        ));
        assert_malformed(b"\x38\x04\x00\x01t\x00", LEVEL_5, "DUP");
        // Packet identifier 0.
        assert_protocol(
            b"\x32\x05\x00\x01t\x00\x00",
            LEVEL_311,
            "with QoS=1, packet identifier cannot be 0",
        );
        assert_protocol(b"\x34\x06\x00\x01t\x00\x00\x00", LEVEL_5, "QoS=2");
        // Missing packet identifier.
        assert_malformed(
            b"\x32\x03\x00\x01t",
            LEVEL_311,
            "error reading packet identifier",
        );
    }

    #[test]
    fn remaining_length_varint() {
        // Four bytes at most.
        assert_malformed(
            b"\x30\xff\xff\xff\xff\x01",
            LEVEL_311,
            "malformed variable int",
        );
        assert_malformed(b"\x30\x80\x80\x80\x80", LEVEL_5, "malformed variable int");
        // Up to then, incomplete.
        assert_eq!(dec(b"\x30\xff\xff\xff", LEVEL_311), Ok(None));
        assert_eq!(dec(b"\x30", LEVEL_311), Ok(None));
        assert_eq!(dec(b"", LEVEL_311), Ok(None));
        // The largest value.
        assert_eq!(
            decode(b"\x30\xff\xff\xff\x7f", LEVEL_311, 1 << 20),
            Err(DecodeError::TooLarge(5 + MAX_REMAINING_LENGTH))
        );
        // A non-minimal encoding is accepted (as nats-server does).
        let (p, n) = dec(b"\xc0\x80\x00", LEVEL_311).unwrap().unwrap();
        assert_eq!((p, n), (Packet::PingReq, 3));
    }

    #[test]
    fn too_large_counts_the_fixed_header() {
        let b = pkt(0x30, b"\x00\x01tabc");
        assert_eq!(b.len(), 8);
        assert!(decode(&b, LEVEL_311, 8).unwrap().is_some());
        assert_eq!(decode(&b, LEVEL_311, 7), Err(DecodeError::TooLarge(8)));
        assert_eq!(decode(&b[..2], LEVEL_311, 7), Err(DecodeError::TooLarge(8)));
        // Also before CONNECT.
        let c = connect(b"MQTT", 4, 2, b"\x00\x00");
        assert_eq!(decode(&c[..2], 0, 5), Err(DecodeError::TooLarge(c.len())));
        assert_eq!(DecodeError::TooLarge(8).reason_code(), 0x95);
    }

    #[test]
    fn strings_are_utf8_without_nul() {
        assert_malformed(
            b"\x30\x04\x00\x02\xc3\x28",
            LEVEL_311,
            "invalid utf8 for topic",
        );
        assert_malformed(
            b"\x30\x04\x00\x02a\x00",
            LEVEL_311,
            "invalid null character in topic",
        );
        // A surrogate (U+D800) in "modified UTF-8" is not UTF-8.
        assert_malformed(b"\x30\x05\x00\x03\xed\xa0\x80", LEVEL_5, "invalid utf8");
        // Length past the end of the packet.
        assert_malformed(
            b"\x30\x03\x00\x05a",
            LEVEL_311,
            "error reading topic: unexpected EOF",
        );
        // Client ID and user name.
        assert_malformed(
            &connect(b"MQTT", 4, 2, b"\x00\x01\x00"),
            0,
            "invalid null character in client ID",
        );
        assert_malformed(
            &connect(b"MQTT", 4, 0x82, b"\x00\x00\x00\x01\xff"),
            0,
            "invalid utf8 for user name",
        );
        // Filters and user properties.
        assert_malformed(
            &pkt(0x82, b"\x00\x01\x00\x01\x00\x00"),
            LEVEL_311,
            "topic filter",
        );
        assert_malformed(&pub5(b"\x26\x00\x01\x00\x00\x00"), LEVEL_5, "user property");
        // The password is binary data.
        let c = connect(b"MQTT", 4, 0xc2, b"\x00\x00\x00\x01u\x00\x02\xff\x00");
        let (p, _) = dec(&c, 0).unwrap().unwrap();
        let Packet::Connect(c) = p else { panic!() };
        assert_eq!(c.password, Some(&b"\xff\x00"[..]));
    }

    #[test]
    fn topic_names_have_no_wildcards() {
        assert_protocol(b"\x30\x05\x00\x03a/+", LEVEL_311, "wildcards not allowed");
        assert_protocol(b"\x30\x04\x00\x01#\x00", LEVEL_5, "wildcards not allowed");
        assert_protocol(b"\x30\x02\x00\x00", LEVEL_311, "topic cannot be empty");
        assert_protocol(b"\x30\x03\x00\x00\x00", LEVEL_5, "without a topic alias");
        // Will topic.
        let w = connect(b"MQTT", 4, 0x06, b"\x00\x00\x00\x01#\x00\x00");
        assert_protocol(&w, 0, "wildcards not allowed");
        let w = connect(b"MQTT", 4, 0x06, b"\x00\x00\x00\x00\x00\x00");
        assert_protocol(&w, 0, "empty Will topic not allowed");
        // Response topic.
        assert_protocol(&pub5(b"\x08\x00\x01+"), LEVEL_5, "wildcards");
        // Filters may have them.
        assert!(dec(&pkt(0x82, b"\x00\x01\x00\x01#\x00"), LEVEL_311).is_ok());
    }

    #[test]
    fn connect_protocol_name_and_level() {
        for level in [0u8, 3, 6, 255] {
            assert_eq!(
                err(&connect(b"MQTT", level, 2, b"\x00\x00"), 0),
                DecodeError::UnsupportedProtocol(level)
            );
        }
        assert_eq!(
            err(&connect(b"MQIsdp", 3, 2, b"\x00\x00"), 0),
            malformed("older protocol \"MQIsdp\" not supported")
        );
        assert_eq!(DecodeError::UnsupportedProtocol(3).reason_code(), 0x84);
        assert_eq!(
            DecodeError::UnsupportedProtocol(3).to_string(),
            "unacceptable protocol version of 3"
        );
        assert_malformed(
            &connect(b"MQTX", 4, 2, b"\x00\x00"),
            0,
            "expected connect packet with protocol name \"MQTT\", got \"MQTX\"",
        );
        assert_malformed(
            &pkt(0x10, b"\x00\x04MQTT"),
            0,
            "error reading protocol level: EOF",
        );
        assert_malformed(&pkt(0x10, b"\x00\x04MQ"), 0, "protocol name");
    }

    #[test]
    fn peek_connect_level_reads_the_level_byte() {
        let c = connect(b"MQTT", 5, 0x01, b"\x00\x00\x00");
        assert!(matches!(dec(&c, 0), Err(DecodeError::Malformed(_))));
        assert_eq!(peek_connect_level(&c), Some(5));
        assert_eq!(peek_connect_level(&c[..9]), Some(5));
        assert_eq!(peek_connect_level(&c[..8]), None);
        assert_eq!(peek_connect_level(&connect(b"MQIsdp", 3, 2, b"")), Some(3));
        assert_eq!(peek_connect_level(&connect(b"MQTX", 4, 2, b"")), None);
        assert_eq!(peek_connect_level(b"\x30\x00"), None);
        assert_eq!(peek_connect_level(b"\x10\xff\xff\xff\xff"), None);
        assert_eq!(peek_connect_level(b""), None);
    }

    #[test]
    fn connect_flags() {
        assert_malformed(
            &connect(b"MQTT", 4, 0x03, b"\x00\x00"),
            0,
            "connect flags reserved bit not set to 0",
        );
        assert_malformed(
            &connect(b"MQTT", 5, 0x01, b"\x00\x00\x00"),
            0,
            "reserved bit",
        );
        assert_malformed(
            &connect(b"MQTT", 4, 0x0a, b"\x00\x00"),
            0,
            "if Will flag is set to 0, Will QoS must be 0 too, got 1",
        );
        assert_malformed(
            &connect(b"MQTT", 4, 0x22, b"\x00\x00"),
            0,
            "if Will flag is set to 0, Will Retain flag must be 0 too",
        );
        assert_malformed(
            &connect(b"MQTT", 4, 0x1e, b"\x00\x00\x00\x01w\x00\x00"),
            0,
            "if Will flag is set to 1, Will QoS can be 0, 1 or 2, got 3",
        );
        // Password without user name: malformed in 3.1.1, allowed in v5.
        assert_malformed(
            &connect(b"MQTT", 4, 0x42, b"\x00\x00\x00\x01p"),
            0,
            "password flag set but username flag is not",
        );
        let buf = connect(b"MQTT", 5, 0x42, b"\x00\x00\x00\x00\x01p");
        let (p, _) = dec(&buf, 0).unwrap().unwrap();
        let Packet::Connect(c) = p else { panic!() };
        assert_eq!((c.username, c.password), (None, Some(&b"p"[..])));
        // Extra bytes after the last field.
        assert_malformed(&connect(b"MQTT", 4, 0x02, b"\x00\x00X"), 0, "1 extra bytes");
        // Missing client ID.
        assert_malformed(&connect(b"MQTT", 4, 0x02, b""), 0, "client ID");
    }

    #[test]
    fn subscribe_rules() {
        for level in [LEVEL_311, LEVEL_5] {
            let pr: &[u8] = if level == LEVEL_5 { b"\x00" } else { b"" };
            let sub = |tail: &[u8]| {
                let mut body = b"\x00\x01".to_vec();
                body.extend_from_slice(pr);
                body.extend_from_slice(tail);
                pkt(0x82, &body)
            };
            let unsub = |tail: &[u8]| {
                let mut body = b"\x00\x01".to_vec();
                body.extend_from_slice(pr);
                body.extend_from_slice(tail);
                pkt(0xa2, &body)
            };
            assert_protocol(&sub(b""), level, "must contain at least 1 topic filter");
            assert_protocol(
                &unsub(b""),
                level,
                "unsubscribe protocol must contain at least 1",
            );
            assert_protocol(&sub(b"\x00\x00\x00"), level, "topic filter cannot be empty");
            assert_protocol(&unsub(b"\x00\x00"), level, "topic filter cannot be empty");
            assert_malformed(&sub(b"\x00\x01a"), level, "error reading QoS: EOF");
            assert_protocol(
                &pkt(0x82, b"\x00\x00\x00\x01a\x00"),
                level,
                "packet identifier cannot be 0",
            );
            assert_protocol(
                &pkt(0xa2, b"\x00\x00\x00\x01a"),
                level,
                "packet identifier cannot be 0",
            );
        }
        // 3.1.1: only the QoS bits.
        assert_malformed(
            &pkt(0x82, b"\x00\x01\x00\x01a\x03"),
            LEVEL_311,
            "subscribe QoS value must be 0, 1 or 2, got 3",
        );
        assert_malformed(&pkt(0x82, b"\x00\x01\x00\x01a\x04"), LEVEL_311, "got 4");
        // v5: reserved bits, QoS 3, retain handling 3.
        assert_malformed(
            &pkt(0x82, b"\x00\x01\x00\x00\x01a\x40"),
            LEVEL_5,
            "reserved bits",
        );
        assert_protocol(&pkt(0x82, b"\x00\x01\x00\x00\x01a\x03"), LEVEL_5, "QoS");
        assert_protocol(
            &pkt(0x82, b"\x00\x01\x00\x00\x01a\x30"),
            LEVEL_5,
            "retain handling",
        );
        let buf = pkt(0x82, b"\x00\x01\x00\x00\x01a\x2e");
        let (p, _) = dec(&buf, LEVEL_5).unwrap().unwrap();
        let Packet::Subscribe(s) = p else { panic!() };
        assert_eq!(
            s.filters,
            vec![(
                "a",
                SubOptions {
                    qos: 2,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2
                }
            )]
        );
    }

    #[test]
    fn ack_lengths() {
        // 3.1.1: exactly 2.
        for first in [0x40u8, 0x50, 0x62, 0x70] {
            assert_malformed(
                &pkt(first, b"\x00\x01\x00"),
                LEVEL_311,
                "invalid remaining length 3",
            );
            assert_malformed(
                &pkt(first, b"\x00"),
                LEVEL_311,
                "invalid remaining length 1",
            );
            assert_protocol(
                &pkt(first, b"\x00\x00"),
                LEVEL_311,
                "packet identifier cannot be 0",
            );
        }
        assert_malformed(
            &pkt(0xb0, b"\x00\x01\x00"),
            LEVEL_311,
            "invalid remaining length 3",
        );
        // v5: code and properties may be left out.
        for (body, code) in [
            (&b"\x00\x07"[..], 0u8),
            (b"\x00\x07\x92", 0x92),
            (b"\x00\x07\x10\x00", 0x10),
        ] {
            let buf = pkt(0x40, body);
            let (p, n) = dec(&buf, LEVEL_5).unwrap().unwrap();
            assert_eq!(n, 2 + body.len());
            assert_eq!(
                p,
                Packet::PubAck(Ack {
                    packet_id: 7,
                    code,
                    props: Properties::default()
                })
            );
        }
        assert_malformed(&pkt(0x40, b"\x00\x07\x00\x05"), LEVEL_5, "properties");
        assert_malformed(&pkt(0x40, b"\x00\x07\x00\x00X"), LEVEL_5, "extra bytes");
        assert_malformed(&pkt(0x40, b"\x00"), LEVEL_5, "packet identifier");
    }

    #[test]
    fn disconnect_auth_ping_lengths() {
        assert_malformed(
            b"\xe0\x01\x00",
            LEVEL_311,
            "invalid remaining length 1 for packet type e0",
        );
        assert_malformed(b"\xc0\x01\x00", LEVEL_5, "invalid remaining length 1");
        assert_malformed(b"\xd0\x01\x00", LEVEL_311, "invalid remaining length 1");
        let d = |code| {
            Packet::Disconnect(Disconnect {
                code,
                props: Properties::default(),
            })
        };
        assert_eq!(dec(b"\xe0\x00", LEVEL_311), Ok(Some((d(0), 2))));
        assert_eq!(dec(b"\xe0\x00", LEVEL_5), Ok(Some((d(0), 2))));
        assert_eq!(dec(b"\xe0\x01\x8e", LEVEL_5), Ok(Some((d(0x8e), 3))));
        assert_eq!(dec(b"\xe0\x02\x04\x00", LEVEL_5), Ok(Some((d(4), 4))));
        let a = Packet::Auth(Auth {
            code: 0,
            props: Properties::default(),
        });
        assert_eq!(dec(b"\xf0\x00", LEVEL_5), Ok(Some((a, 2))));
        // Session expiry is a DISCONNECT property, topic alias is not.
        assert_protocol(
            b"\xe0\x05\x00\x03\x23\x00\x01",
            LEVEL_5,
            "topic alias not allowed in DISCONNECT",
        );
    }

    #[test]
    fn connack_checks() {
        assert_malformed(b"\x20\x02\x02\x00", LEVEL_311, "reserved bits");
        assert_malformed(
            b"\x20\x03\x00\x00\x00",
            LEVEL_311,
            "invalid remaining length 3",
        );
        // v5 CONNACK has its property length.
        assert_malformed(b"\x20\x02\x00\x00", LEVEL_5, "property length");
    }

    #[test]
    fn suback_needs_codes() {
        assert_protocol(
            b"\x90\x02\x00\x01",
            LEVEL_311,
            "SUBACK must contain at least 1",
        );
        assert_protocol(
            b"\x90\x03\x00\x01\x00",
            LEVEL_5,
            "SUBACK must contain at least 1",
        );
        assert_protocol(
            b"\xb0\x03\x00\x01\x00",
            LEVEL_5,
            "UNSUBACK must contain at least 1",
        );
    }

    #[test]
    fn property_rules() {
        // Unknown identifier.
        assert_malformed(
            &pub5(b"\x04\x00"),
            LEVEL_5,
            "unknown property identifier 0x04",
        );
        assert_malformed(&pub5(b"\x80\x01"), LEVEL_5, "unknown property identifier");
        // Not allowed on this packet.
        assert_protocol(
            &pub5(b"\x11\x00\x00\x00\x01"),
            LEVEL_5,
            "session expiry interval not allowed in PUBLISH",
        );
        assert_protocol(
            &pub5(b"\x18\x00\x00\x00\x01"),
            LEVEL_5,
            "will delay interval not allowed",
        );
        // Duplicates.
        assert_protocol(
            &pub5(b"\x23\x00\x01\x23\x00\x02"),
            LEVEL_5,
            "topic alias included more than once",
        );
        assert_protocol(&pub5(b"\x01\x00\x01\x01"), LEVEL_5, "more than once");
        // ...except user properties and subscription identifiers in PUBLISH.
        assert!(dec(&pub5(b"\x26\x00\x00\x00\x00\x26\x00\x00\x00\x00"), LEVEL_5).is_ok());
        let buf = pub5(b"\x0b\x01\x0b\xff\xff\xff\x7f");
        let (p, _) = dec(&buf, LEVEL_5).unwrap().unwrap();
        let Packet::Publish(pb) = p else { panic!() };
        assert_eq!(pb.props.subscription_identifiers, vec![1, 268_435_455]);
        let sub = |content: &[u8]| {
            let mut body = b"\x00\x01".to_vec();
            body.extend(props(content));
            body.extend_from_slice(b"\x00\x01a\x00");
            pkt(0x82, &body)
        };
        assert!(dec(&sub(b"\x0b\x05"), LEVEL_5).is_ok());
        assert_protocol(
            &sub(b"\x0b\x05\x0b\x06"),
            LEVEL_5,
            "subscription identifier included more than once",
        );
        // Zero values.
        assert_protocol(&pub5(b"\x23\x00\x00"), LEVEL_5, "topic alias cannot be 0");
        assert_protocol(
            &pub5(b"\x0b\x00"),
            LEVEL_5,
            "subscription identifier cannot be 0",
        );
        assert_protocol(
            &sub(b"\x0b\x00"),
            LEVEL_5,
            "subscription identifier cannot be 0",
        );
        let c5 = |content: &[u8]| {
            let mut rest = props(content);
            rest.extend_from_slice(b"\x00\x00");
            connect(b"MQTT", 5, 0x02, &rest)
        };
        assert!(dec(&c5(b"\x21\x00\x01\x27\x00\x00\x00\x01"), 0).is_ok());
        assert_protocol(&c5(b"\x21\x00\x00"), 0, "receive maximum cannot be 0");
        assert_protocol(
            &c5(b"\x27\x00\x00\x00\x00"),
            0,
            "maximum packet size cannot be 0",
        );
        // 0/1 flags.
        assert_protocol(
            &c5(b"\x17\x02"),
            0,
            "request problem information must be 0 or 1, got 2",
        );
        assert_protocol(&c5(b"\x19\x02"), 0, "must be 0 or 1");
        assert_protocol(
            &pub5(b"\x01\x02"),
            LEVEL_5,
            "payload format indicator must be 0 or 1",
        );
        // Authentication data needs a method.
        assert_protocol(&c5(b"\x16\x00\x01x"), 0, "authentication data without");
        // Truncated values and blocks.
        assert_malformed(
            &pub5(b"\x02\x00\x00"),
            LEVEL_5,
            "error reading message expiry interval",
        );
        assert_malformed(
            &pub5(b"\x0b\x80"),
            LEVEL_5,
            "error reading subscription identifier",
        );
        assert_malformed(
            &pub5(b"\x0b\x80\x80\x80\x80"),
            LEVEL_5,
            "malformed variable int",
        );
        assert_malformed(
            b"\x30\x05\x00\x01t\x05\x01",
            LEVEL_5,
            "error reading properties",
        );
        assert_malformed(
            b"\x30\x07\x00\x01t\x80\x80\x80\x80",
            LEVEL_5,
            "malformed variable int",
        );
        // Will properties are their own set.
        let w = |content: &[u8]| {
            let mut rest = b"\x00\x00\x00".to_vec();
            rest.extend(props(content));
            rest.extend_from_slice(b"\x00\x01w\x00\x00");
            connect(b"MQTT", 5, 0x06, &rest)
        };
        assert!(dec(&w(b"\x18\x00\x00\x00\x05"), 0).is_ok());
        assert_protocol(
            &w(b"\x11\x00\x00\x00\x05"),
            0,
            "session expiry interval not allowed in Will properties",
        );
        // Properties are not read in 3.1.1: the bytes are the payload.
        let (p, _) = dec(b"\x30\x05\x00\x01t\x00X", LEVEL_311).unwrap().unwrap();
        let Packet::Publish(pb) = p else { panic!() };
        assert_eq!(pb.payload, b"\x00X");
    }

    #[test]
    fn reason_codes() {
        assert_eq!(malformed("x").reason_code(), 0x81);
        assert_eq!(protocol("x").reason_code(), 0x82);
        assert_eq!(malformed("some text").to_string(), "some text");
    }

    #[test]
    fn every_split_of_a_stream() {
        // Several packets back to back, fed in growing prefixes: each decode either waits or
        // takes exactly one whole packet.
        for level in [LEVEL_311, LEVEL_5] {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for p in all_packets(level)
                .iter()
                .filter(|p| !matches!(p, Packet::Connect(_)))
            {
                stream.extend(enc(p, level));
                expected.push(p.clone());
            }
            let mut got = Vec::new();
            let mut pos = 0;
            for end in 0..=stream.len() {
                while let Some((p, n)) = dec(&stream[pos..end], level).unwrap() {
                    assert!(n > 0 && pos + n <= end);
                    got.push(p);
                    pos += n;
                }
            }
            assert_eq!(pos, stream.len());
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap stand-in for the fuzz target: mutate every valid packet byte by byte.
        for level in [LEVEL_311, LEVEL_5] {
            for p in all_packets(level) {
                let st = state(&p, level);
                let bytes = enc(&p, level);
                for i in 0..bytes.len() {
                    for x in [0u8, 1, 0x7f, 0x80, 0xff] {
                        let mut b = bytes.clone();
                        b[i] ^= x;
                        if let Ok(Some((q, n))) = dec(&b, st) {
                            assert!(n > 0 && n <= b.len());
                            let again = enc(&q, level);
                            assert_eq!(dec(&again, st).unwrap(), Some((q, again.len())));
                        }
                    }
                }
            }
        }
    }
}
