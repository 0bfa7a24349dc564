//! Split invariance: the same bytes fed in chunks (the server's read loop: keep what was not
//! consumed, append the next read, parse again) yield exactly the ops and the end (error, or
//! how many bytes wait for more) of the unsplit parse. This is the property behind
//! nats-server's `FuzzParser`, generalised from one split to many.
//!
//! Input: byte 0 is the [`natrium_fuzz::Config`]; byte 1 chooses the split plan: its low 4
//! bits are how many chunk-length bytes follow (each byte is one chunk's length, 0 meaning a
//! read that brought nothing; the rest of the input is the final chunk), bit 0x40 feeds one
//! byte at a time instead, bit 0x80 makes the split run skip calls while `bytes_needed()`
//! says the message is still short. Every op of both runs is also checked by the `parser`
//! target's oracles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium_fuzz::{run, Config};

fuzz_target!(|data: &[u8]| {
    let [cfg, plan, rest @ ..] = data else {
        return;
    };
    let cfg = Config::from_byte(*cfg);
    let n_lens = usize::from(plan & 0x0f).min(rest.len());
    let (lens, input) = rest.split_at(n_lens);
    let byte_at_a_time = plan & 0x40 != 0;
    let honor_needed = plan & 0x80 != 0;

    let whole = run(cfg, [input], false);

    let mut chunks: Vec<&[u8]> = Vec::new();
    if byte_at_a_time {
        chunks.extend(input.chunks(1));
    } else {
        let mut tail = input;
        for &len in lens {
            let (head, rest) = tail.split_at(usize::from(len).min(tail.len()));
            chunks.push(head);
            tail = rest;
        }
        chunks.push(tail);
    }
    let split = run(cfg, chunks.iter().copied(), honor_needed);
    assert_eq!(
        whole, split,
        "split at {lens:?} (byte at a time: {byte_at_a_time})"
    );
});
