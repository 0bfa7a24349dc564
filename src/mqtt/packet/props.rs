//! MQTT 5 properties: the [`Properties`] of a packet, where each may appear, their decoding
//! with the checks on their values, and their encoding.

use super::decode::{check_topic_name, malformed, protocol, Reader};
use super::encode::{bin_len, put_bin, put_u16, put_varint, varint_len};
use super::DecodeError;

/// MQTT 5 properties; all None/empty for 3.1.1. Default = none set.
///
/// [`decode`](fn@super::decode) fills only the properties allowed on the packet;
/// [`encode`](fn@super::encode) writes every one that is set (in identifier order), so the
/// caller sets only the allowed ones.
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

/// Where a property may appear (one bit per packet, the Will being a "packet" of its own).
pub(super) mod ctx {
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
pub(super) fn read_props<'a>(r: &mut Reader<'a>, ctx: u16) -> Result<Properties<'a>, DecodeError> {
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

// Encoding (see `encode`).

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
pub(super) fn props_block_len(p: &Properties<'_>) -> usize {
    let n = props_len(p);
    varint_len(n) + n
}

pub(super) fn put_props(out: &mut Vec<u8>, p: &Properties<'_>) {
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
