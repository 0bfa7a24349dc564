//! Decoding: the body reader ([`Reader`]), [`decode`] and the per-packet decoders (v5
//! property blocks are read by `props`).

use super::props::{ctx, read_props};
use super::{
    kind, kind_name, Ack, Auth, ConnAck, Connect, DecodeError, Disconnect, Packet, Properties,
    Publish, SubAck, SubOptions, Subscribe, Unsubscribe, Will, CONN_CLEAN, CONN_PASSWORD,
    CONN_RESERVED, CONN_USERNAME, CONN_WILL, CONN_WILL_QOS, CONN_WILL_RETAIN, LEVEL_311, LEVEL_5,
    PUB_DUP, PUB_QOS, PUB_RETAIN,
};

pub(super) fn malformed(s: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(s.into())
}

pub(super) fn protocol(s: impl Into<String>) -> DecodeError {
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
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(super) fn u8(&mut self, field: &str) -> Result<u8, DecodeError> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(malformed(format!("error reading {field}: EOF")));
        };
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(malformed(format!("error reading {field}: unexpected EOF")));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(super) fn u16(&mut self, field: &str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self, field: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn varint(&mut self, field: &str) -> Result<u32, DecodeError> {
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
    pub(super) fn bytes(&mut self, field: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.u16(field)?;
        self.take(n as usize, field)
    }

    /// A UTF-8 encoded string: valid UTF-8 without U+0000.
    pub(super) fn string(&mut self, field: &str) -> Result<&'a str, DecodeError> {
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
pub(super) fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
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
