//! MQTT control packets (3.1.1 = protocol level 4, 5.0 = protocol level 5) as bytes, without I/O.
//!
//! This module owns the wire format and nothing else: [`decode`](fn@decode) turns the first
//! packet of a buffer into a [`Packet`] that borrows from the buffer (strings and payloads are
//! not copied), and [`encode`](fn@encode) appends a packet's bytes to an output buffer.
//! Sessions, QoS flows, topic aliases, authentication and the mapping of topics to NATS
//! subjects live elsewhere (`mqtt::topic`, `reactor::mqtt`).
//!
//! # Decoding
//!
//! [`decode`](fn@decode) is stateless: the caller keeps the unconsumed bytes and calls again
//! when more arrive. "Incomplete" is `Ok(None)`, never an error, and nothing is consumed until
//! a whole packet is in the buffer. The size limit is checked as soon as the fixed header is
//! readable, so an oversized packet is refused before its body arrives
//! ([`DecodeError::TooLarge`]).
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
//!
//! # Layout
//!
//! - `mod.rs` (this file): the packet types ([`Packet`] and one struct per packet,
//!   [`SubOptions`]), [`DecodeError`], the protocol levels and [`kind`] numbers;
//! - `props.rs`: MQTT 5 properties ([`Properties`]): which packet may carry which, their
//!   decoding with the checks on their values, and their encoding;
//! - `decode.rs`: the body reader, [`decode`](fn@decode), [`peek_connect_level`] and the
//!   per-packet decoders;
//! - `encode.rs`: [`encode`](fn@encode), [`encoded_len`] and the writers they share with
//!   `props.rs`;
//! - `tests.rs` (round trips, known bytes, streams) and `tests_errors.rs` (what the decoder
//!   refuses, with which text): the unit tests.

use std::fmt;

mod decode;
mod encode;
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;

pub use decode::{decode, peek_connect_level};
pub use encode::{encode, encoded_len};
pub use props::Properties;

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
    /// [`LEVEL_311`] or [`LEVEL_5`]; [`encode`](fn@encode) writes this level (and v5
    /// properties iff it is [`LEVEL_5`]) whatever level it is given.
    pub level: u8,
    /// "MQTT" (the only name [`decode`](fn@decode) accepts; "MQIsdp" is MQTT 3.1, refused).
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
    /// Some (non-zero) iff qos > 0. [`encode`](fn@encode) writes it only for qos > 0 (0 if
    /// missing).
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

/// Why a packet could not be decoded. The server maps these onto CONNACK codes, v5 reason
/// codes ([`DecodeError::reason_code`]) or a plain close; `Display` is the text it logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// CONNECT with an unsupported protocol level ("MQIsdp", MQTT 3.1, is malformed, as
    /// nats-server has it). The server answers CONNACK 0x01 in 3.1.1, 0x84 in v5, then closes.
    UnsupportedProtocol(u8),
    /// The packet (fixed header included) is larger than the limit given to
    /// [`decode`](fn@decode): its size. v5 reason 0x95 Packet too large.
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
