//! Unit tests of the codec: round trips of every packet at both levels, known wire bytes,
//! streams cut anywhere and mutated packets (the refusals are in `tests_errors`).

use super::encode::body_len;
use super::*;

const MAX: usize = usize::MAX;

pub(super) fn dec(buf: &[u8], level: u8) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
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
    // With a code, the property length too (paho reads the code only then); the short form
    // still decodes.
    assert_eq!(enc(&puback, LEVEL_5), b"\x40\x04\x00\x05\x10\x00");
    assert_eq!(
        dec(b"\x40\x03\x00\x05\x10", LEVEL_5).unwrap().unwrap().0,
        puback
    );
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
    assert_eq!(enc(&disc, LEVEL_5), b"\xe0\x02\x8e\x00");
    assert_eq!(dec(b"\xe0\x01\x8e", LEVEL_5).unwrap().unwrap().0, disc);
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
