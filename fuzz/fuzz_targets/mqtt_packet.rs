//! MQTT packet decoding and encoding (`mqtt::packet::{decode, encode}`) on arbitrary bytes.
//!
//! Input layout: byte 0 is the configuration (bits 0-1 the connection's starting level
//! [0 = before CONNECT, 4 = 3.1.1, 5 = v5, 0]; bits 2-3 max_packet [no limit, 16, 256,
//! 65536]); the rest is the client's byte stream, decoded packet after packet until it is
//! incomplete or an error. A CONNECT decoded at level 0 moves the stream to its level, as the
//! server does.
//!
//! Oracles:
//! - never panics; every decode takes 0 < consumed <= input and <= max_packet bytes;
//!   TooLarge carries a size over the limit; every error has a text and one of the four v5
//!   reason codes;
//! - every strict prefix of a decoded packet's bytes is incomplete (`Ok(None)`), not an error;
//! - the packet re-encoded at the same level is no longer than the input it came from (but
//!   for the property length a v5 reason code always gets), has the length `encoded_len` predicts, and decodes to an equal packet consuming exactly the
//!   encoding, whose strict prefixes are all incomplete too;
//! - `peek_connect_level` gives the level of every CONNECT decoded or refused as unsupported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium::mqtt::packet::{
    decode, encode, encoded_len, peek_connect_level, DecodeError, Packet, LEVEL_311, LEVEL_5,
};

const LEVELS: [u8; 4] = [0, LEVEL_311, LEVEL_5, 0];
const MAX_PACKETS: [usize; 4] = [usize::MAX, 16, 256, 65536];

fn all_prefixes_incomplete(bytes: &[u8], level: u8, max: usize) {
    for i in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..i], level, max),
            Ok(None),
            "prefix {i} of {bytes:?} at level {level}"
        );
    }
}

fn check_error(e: &DecodeError, max: usize) {
    assert!(!e.to_string().is_empty());
    assert!(
        matches!(e.reason_code(), 0x81 | 0x82 | 0x84 | 0x95),
        "{e:?}"
    );
    if let DecodeError::TooLarge(n) = e {
        assert!(*n > max, "{e:?} under {max}");
    }
}

fn check_packet(p: &Packet<'_>, input: &[u8], level: u8) {
    let _ = (p.name(), p.from_client());
    let mut out = Vec::new();
    encode(p, level, &mut out);
    assert_eq!(out.len(), encoded_len(p, level), "{p:?}");
    // Re-encoding never grows, except by the property length the encoder always writes
    // after a v5 reason code (the short form without it is valid input too).
    let short_form = level == LEVEL_5
        && out.len() == input.len() + 1
        && out.last() == Some(&0)
        && match p {
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.code != 0 && a.props.is_empty()
            }
            Packet::Disconnect(d) => d.code != 0 && d.props.is_empty(),
            Packet::Auth(a) => a.code != 0 && a.props.is_empty(),
            _ => false,
        };
    assert!(
        out.len() <= input.len() || short_form,
        "re-encoding grew: {p:?} from {input:?} to {out:?}"
    );
    match decode(&out, level, usize::MAX) {
        Ok(Some((q, m))) => {
            assert_eq!(&q, p, "from {input:?} via {out:?}");
            assert_eq!(m, out.len(), "{out:?}");
        }
        other => panic!("{p:?} from {input:?} encoded as {out:?} decodes as {other:?}"),
    }
    all_prefixes_incomplete(&out, level, usize::MAX);
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let mut level = LEVELS[(cfg & 3) as usize];
    let max = MAX_PACKETS[((cfg >> 2) & 3) as usize];
    loop {
        match decode(rest, level, max) {
            Ok(None) => return,
            Err(e) => {
                check_error(&e, max);
                if let DecodeError::UnsupportedProtocol(l) = e {
                    assert_eq!(peek_connect_level(rest), Some(l));
                }
                return;
            }
            Ok(Some((p, n))) => {
                assert!(n > 0 && n <= rest.len(), "consumed {n} of {}", rest.len());
                assert!(n <= max, "consumed {n} over the limit {max}");
                all_prefixes_incomplete(&rest[..n], level, max);
                check_packet(&p, &rest[..n], level);
                if let Packet::Connect(c) = &p {
                    assert_eq!(peek_connect_level(rest), Some(c.level));
                    level = c.level;
                }
                rest = &rest[n..];
            }
        }
    }
});
