//! Encoding: [`encode`], [`encoded_len`] and the writers they share with `props`.

use super::props::{props_block_len, put_props};
use super::{
    Auth, Disconnect, Packet, Properties, CONN_CLEAN, CONN_PASSWORD, CONN_USERNAME, CONN_WILL,
    CONN_WILL_RETAIN, LEVEL_5,
};

// Encoding. Every writer has a length twin (`*_len`) so that the remaining length is written
// before the body, without a temporary buffer; `encode` checks they agree in debug builds.
// Strings and binary data longer than 65,535 bytes are cut to that length (callers bound them).

pub(super) fn varint_len(v: usize) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

/// Writes a variable integer (values past [`MAX_REMAINING_LENGTH`](super::MAX_REMAINING_LENGTH)
/// are the caller's bug; they come out as more than 4 bytes, which a decoder refuses).
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: usize) {
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

pub(super) fn bin_len(b: &[u8]) -> usize {
    2 + b.len().min(u16::MAX as usize)
}

pub(super) fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

pub(super) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Whether a v5 ack-like packet (PUBACK…, DISCONNECT, AUTH) carries its reason code and
/// properties: not when the code is 0 and there are none. A non-zero code always comes with
/// the property length, even when it is 0: the specification allows leaving it out, but
/// paho-mqtt reads a DISCONNECT's code only when it is there.
fn has_ack_tail(v5: bool, code: u8, props: &Properties<'_>) -> bool {
    v5 && (code != 0 || !props.is_empty())
}

fn ack_tail_len(v5: bool, code: u8, props: &Properties<'_>) -> usize {
    if has_ack_tail(v5, code, props) {
        1 + props_block_len(props)
    } else {
        0
    }
}

fn put_ack_tail(out: &mut Vec<u8>, v5: bool, code: u8, props: &Properties<'_>) {
    if has_ack_tail(v5, code, props) {
        out.push(code);
        put_props(out, props);
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
pub(super) fn body_len(p: &Packet<'_>, level: u8) -> usize {
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
            ack_tail_len(v5, *code, props)
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
