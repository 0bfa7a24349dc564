//! WebSocket frame decoding (`websocket::frame::Decoder`, `Inflater`) on arbitrary bytes.
//!
//! Input layout: byte 0 is the configuration (bit 0 permessage-deflate negotiated, bit 1
//! unmasked frames allowed, bits 2-3 max_payload [64, 1024, 65536, 1 MiB], bit 4 round-trip
//! mode); byte 1 the split plan (low 4 bits: how many chunk-length bytes follow; 0x40 one
//! byte at a time); the rest is the client's byte stream.
//!
//! Oracles:
//! - never panics, never loops: every `decode` call either takes input or reports an event;
//! - `data <= consumed <= input`, and without an event the whole input is consumed;
//! - ping and close payloads fit a control frame; an inflated message never exceeds
//!   max_payload (it is an error instead);
//! - the same stream cut at arbitrary points yields the same NATS bytes and the same events
//!   in the same order, and stops at the same error;
//! - round-trip mode: the stream's bytes, framed by the server's own writer (`write_data`,
//!   and `Deflater` when compression is on) in frames of the plan's size, decode back to
//!   exactly those bytes with unmasked frames allowed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium::websocket::frame::{self, Decoder, Event, Inflater, MAX_CONTROL_PAYLOAD};

const MAX_PAYLOADS: [usize; 4] = [64, 1024, 65536, 1 << 20];

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Data(Vec<u8>),
    Ping(Vec<u8>),
    Close(Vec<u8>),
    Inflated(Result<Vec<u8>, String>),
    Error(String),
}

struct Run {
    items: Vec<Item>,
    stopped: bool,
}

impl Run {
    fn new() -> Run {
        Run {
            items: Vec::new(),
            stopped: false,
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Item::Data(d)) = self.items.last_mut() {
            d.extend_from_slice(bytes);
        } else {
            self.items.push(Item::Data(bytes.to_vec()));
        }
    }

    /// Offers one read's worth of input, the way the reactor does: decode, hand the NATS bytes
    /// on, act on the event, offer the rest again.
    fn feed(&mut self, dec: &mut Decoder, chunk: &[u8], max_payload: usize) {
        let mut buf = chunk.to_vec();
        let mut pos = 0;
        while pos < buf.len() && !self.stopped {
            let len = buf.len() - pos;
            let d = dec.decode(&mut buf[pos..]);
            assert!(d.data <= d.consumed, "{d:?}");
            assert!(d.consumed <= len, "{d:?} of {len}");
            assert!(
                d.event.is_some() || d.consumed == len,
                "no event, input left: {d:?} of {len}"
            );
            let data = buf[pos..pos + d.data].to_vec();
            self.data(&data);
            pos += d.consumed;
            match d.event {
                None => {}
                Some(Event::Ping(p)) => {
                    assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                    self.items.push(Item::Ping(p));
                }
                Some(Event::Close(p)) => {
                    assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                    self.items.push(Item::Close(p));
                }
                Some(Event::Compressed) => {
                    let inflated = inflate(dec.take_compressed(), max_payload);
                    self.items.push(Item::Inflated(inflated));
                }
                Some(Event::Error(e)) => {
                    self.items.push(Item::Error(e.to_string()));
                    self.stopped = true;
                }
            }
        }
    }
}

fn inflate(input: Vec<u8>, limit: usize) -> Result<Vec<u8>, String> {
    let mut inf = Inflater::new(input, limit);
    let mut out = Vec::new();
    let mut piece = [0u8; 97]; // odd size: exercises partial reads
    loop {
        let n = inf.read(&mut piece).map_err(|e| e.to_string())?;
        assert!(out.len() + n <= limit, "inflated past the limit");
        out.extend_from_slice(&piece[..n]);
        if n == 0 || inf.is_done() {
            return Ok(out);
        }
    }
}

fn decoder(compression: bool, unmasked: bool, max_payload: usize) -> Decoder {
    let mut d = Decoder::new(compression, max_payload);
    if unmasked {
        d.allow_unmasked();
    }
    d
}

/// Chunk lengths from the plan; an empty list means "one byte at a time".
fn plan(data: &[u8]) -> (Vec<usize>, bool, &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return (Vec::new(), false, data);
    };
    let n = ((p & 0x0f) as usize).min(rest.len());
    let lens = rest[..n].iter().map(|&b| b as usize).collect();
    (lens, p & 0x40 != 0, &rest[n..])
}

fn chunks<'a>(stream: &'a [u8], lens: &[usize], bytewise: bool) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if bytewise || lens.is_empty() {
            1
        } else {
            lens[i % lens.len()].clamp(1, rest.len())
        };
        i += 1;
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

fn round_trip(stream: &[u8], compression: bool, max_payload: usize, lens: &[usize]) {
    let msg = &stream[..stream.len().min(max_payload)];
    if msg.is_empty() {
        return;
    }
    let max_frame = lens.first().map(|&n| n.max(1) * 16);
    let mut wire = Vec::new();
    if compression {
        frame::Deflater::default()
            .write_message(&mut wire, msg, max_frame)
            .expect("deflate");
    } else {
        frame::write_data(&mut wire, msg, max_frame);
    }
    let mut dec = decoder(compression, true, max_payload);
    let mut run = Run::new();
    for c in chunks(&wire, lens, false) {
        run.feed(&mut dec, c, max_payload);
    }
    let expected = if compression {
        Item::Inflated(Ok(msg.to_vec()))
    } else {
        Item::Data(msg.to_vec())
    };
    assert_eq!(run.items, vec![expected]);
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let compression = cfg & 1 != 0;
    let unmasked = cfg & 2 != 0;
    let max_payload = MAX_PAYLOADS[((cfg >> 2) & 3) as usize];
    let (lens, bytewise, stream) = plan(rest);

    if cfg & 0x10 != 0 {
        round_trip(stream, compression, max_payload, &lens);
        return;
    }

    let mut whole = Run::new();
    whole.feed(
        &mut decoder(compression, unmasked, max_payload),
        stream,
        max_payload,
    );

    let mut split = Run::new();
    let mut dec = decoder(compression, unmasked, max_payload);
    for c in chunks(stream, &lens, bytewise) {
        split.feed(&mut dec, c, max_payload);
        if split.stopped {
            break;
        }
    }
    assert_eq!(whole.items, split.items, "split run differs");
    assert_eq!(whole.stopped, split.stopped);
});
