//! The client protocol parser on arbitrary bytes, fed in one piece.
//!
//! Input: byte 0 picks the limits and flags ([`natrium_fuzz::Config::from_byte`]), the rest
//! is the client's byte stream. Oracles ([`natrium_fuzz::check_op`]) on every op: subjects,
//! replies, queues and sids non-empty without blanks; payload length equal to the declared
//! size; HPUB header length within the total; the control line within `max_control_line`;
//! `0 < consumed <= len`; nothing but CONNECT before CONNECT; HPUB only with headers on;
//! `bytes_needed` only ever asks for bytes that are missing. And no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium_fuzz::{run, Config};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, input)) = data.split_first() else {
        return;
    };
    let cfg = Config::from_byte(cfg);
    run(cfg, [input], false);
});
