//! Unit tests of what the decoder refuses and with which error: fixed header, lengths,
//! strings, CONNECT, PUBLISH, SUBSCRIBE and the v5 property rules.

use super::decode::{malformed, protocol};
use super::encode::{put_bin, put_varint};
use super::tests::dec;
use super::*;

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
