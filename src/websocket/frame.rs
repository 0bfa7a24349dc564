//! WebSocket frames (RFC 6455 §5) as nats-server reads and writes them, without I/O.
//!
//! [`Decoder`] is a resumable state machine in the style of the NATS parser: it takes whatever
//! bytes the socket gave, in any split, and decodes them *in place*: frame headers are
//! dropped and the unmasked payload of data frames is moved to the front of the same buffer,
//! ready for the NATS parser. Nothing is accumulated per message, so an uncompressed frame
//! of any length costs no memory beyond the read buffer (nats-server's `wsReadLoop` streams
//! the same way). Only two things are buffered: a frame header split across reads (≤ 14
//! bytes) and a control frame's payload (≤ 125 bytes); and the payload of a compressed
//! message, which must be whole before it can be inflated, bounded by [`max_message_size`].
//!
//! Text and binary frames are treated alike (nats-server parses both as NATS protocol; it does
//! not validate text frames as UTF-8). Checks and their order, and the close-frame rules, are
//! nats-server's (`wsReadLoop`, `wsHandleControlFrame`); a violation is a [`FrameError`]
//! carrying the close status and reason nats-server puts in its close frame.
//!
//! The encoding side writes frame headers ([`write_header`]), close payloads
//! ([`close_payload`], with nats-server's truncation rule), and raw-deflate compression for
//! permessage-deflate without context takeover ([`Deflater`], [`Inflater`]).

use std::fmt;

pub const OP_CONTINUATION: u8 = 0;
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

const FINAL_BIT: u8 = 0x80;
const RSV1_BIT: u8 = 0x40;
const RSV2_BIT: u8 = 0x20;
const RSV3_BIT: u8 = 0x10;
const MASK_BIT: u8 = 0x80;

/// Control frames carry at most this much payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER: usize = 14;
/// nats-server's `wsFrameSizeForBrowsers`: browsers get data in frames of at most 4 KiB.
pub const BROWSER_FRAME_SIZE: usize = 4096;
/// nats-server's `wsCompressThreshold`: outbound data this small is not compressed.
pub const COMPRESS_THRESHOLD: usize = 64;
/// The tail a permessage-deflate sender strips (RFC 7692 §7.2.1), plus an empty final stored
/// block so that the inflater sees the end of the stream (nats-server's `compressLastBlock`).
pub const COMPRESS_LAST_BLOCK: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff];

/// Close status codes (RFC 6455 §7.4.1) that nats-server sends.
pub mod status {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const NO_STATUS: u16 = 1005;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const TLS_HANDSHAKE: u16 = 1015;
}

/// nats-server's `wsMaxMessageSize`: the most compressed bytes one message may hold before
/// it is inflated: 8 × max_payload, at most 64 MiB.
pub fn max_message_size(max_payload: usize) -> usize {
    let mpay = if max_payload == 0 {
        crate::config::MAX_PAYLOAD as usize
    } else {
        max_payload
    };
    mpay.saturating_mul(8).min(64 * 1024 * 1024)
}

/// A frame the connection must not accept: the close frame to answer with, and the reason
/// (also what the server logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub status: u16,
    pub reason: String,
}

impl FrameError {
    fn protocol(reason: impl Into<String>) -> FrameError {
        FrameError {
            status: status::PROTOCOL_ERROR,
            reason: reason.into(),
        }
    }

    /// A message larger than the limits (nats-server's `ErrMaxPayload` on the compressed path).
    pub fn too_big() -> FrameError {
        FrameError {
            status: status::MESSAGE_TOO_BIG,
            reason: "maximum payload exceeded".into(),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FrameError {}

/// Something in the input the connection has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ping: answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// A close frame: answer with a close frame carrying this payload, then close.
    Close(Vec<u8>),
    /// A compressed message is complete; take it with [`Decoder::take_compressed`].
    Compressed,
    /// The input breaks the protocol; the connection must close.
    Error(FrameError),
}

/// What one [`Decoder::decode`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// NATS bytes now at the front of the buffer.
    pub data: usize,
    /// Input bytes used; the caller offers the rest again after handling `event`.
    pub consumed: usize,
    pub event: Option<Event>,
}

/// Incremental frame decoder for one connection (client to server direction).
#[derive(Debug)]
pub struct Decoder {
    /// Frame header bytes gathered so far (a header may be split across reads).
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    /// Inside a frame's payload (nats-server's `!fs`).
    in_payload: bool,
    /// Payload bytes left in the current frame.
    rem: u64,
    op: u8,
    masked: bool,
    key: [u8; 4],
    key_pos: usize,
    /// The current message's last frame has been seen (nats-server's `ff`).
    msg_final: bool,
    /// The current message is compressed (nats-server's `fc`).
    msg_compressed: bool,
    control: Vec<u8>,
    compressed: Vec<u8>,
    /// permessage-deflate was negotiated.
    compression: bool,
    /// Clients must mask (always, for client connections).
    require_mask: bool,
    max_compressed: usize,
}

impl Decoder {
    pub fn new(compression: bool, max_payload: usize) -> Decoder {
        Decoder {
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            in_payload: false,
            rem: 0,
            op: 0,
            masked: false,
            key: [0; 4],
            key_pos: 0,
            msg_final: true,
            msg_compressed: false,
            control: Vec::new(),
            compressed: Vec::new(),
            compression,
            require_mask: true,
            max_compressed: max_message_size(max_payload),
        }
    }

    /// Accepts unmasked client frames (the client asked with `Nats-No-Masking: true`).
    pub fn allow_unmasked(&mut self) {
        self.require_mask = false;
    }

    /// The compressed payload of the message just completed ([`Event::Compressed`]).
    pub fn take_compressed(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.compressed)
    }

    /// Decodes frames from `buf` in place. Stops at the end of the input, at an event, or at
    /// an error ([`Event::Error`], after which the connection must close); NATS bytes decoded
    /// before the event are reported with it. Never panics, whatever the input.
    pub fn decode(&mut self, buf: &mut [u8]) -> Decoded {
        let mut pos = 0;
        let mut out = 0;
        match self.decode_loop(buf, &mut pos, &mut out) {
            Ok(event) => Decoded {
                data: out,
                consumed: pos,
                event,
            },
            Err(e) => Decoded {
                data: out,
                consumed: pos,
                event: Some(Event::Error(e)),
            },
        }
    }

    fn decode_loop(
        &mut self,
        buf: &mut [u8],
        pos: &mut usize,
        out: &mut usize,
    ) -> Result<Option<Event>, FrameError> {
        while *pos < buf.len() {
            if !self.in_payload {
                *pos += self.gather_header(&buf[*pos..]);
                let Some(need) = self.header_len() else {
                    continue; // header still incomplete and the input is used up
                };
                if self.hdr_len < need {
                    continue;
                }
                self.start_frame()?;
                if is_control(self.op) {
                    if self.rem == 0 {
                        if let Some(event) = self.end_control()? {
                            return Ok(Some(event));
                        }
                    }
                    continue;
                }
                if self.rem == 0 {
                    self.in_payload = false;
                    if let Some(event) = self.end_data_frame() {
                        return Ok(Some(event));
                    }
                }
                continue;
            }
            // Payload bytes.
            let n = (self.rem.min((buf.len() - *pos) as u64)) as usize;
            let chunk = &mut buf[*pos..*pos + n];
            if self.masked {
                unmask(chunk, self.key, self.key_pos);
                self.key_pos = (self.key_pos + n) & 3;
            }
            self.rem -= n as u64;
            if is_control(self.op) {
                self.control.extend_from_slice(&buf[*pos..*pos + n]);
                *pos += n;
                if self.rem == 0 {
                    if let Some(event) = self.end_control()? {
                        return Ok(Some(event));
                    }
                }
                continue;
            }
            if self.msg_compressed {
                if self.compressed.len() + n > self.max_compressed {
                    return Err(FrameError::too_big());
                }
                self.compressed.extend_from_slice(&buf[*pos..*pos + n]);
            } else {
                buf.copy_within(*pos..*pos + n, *out);
                *out += n;
            }
            *pos += n;
            if self.rem == 0 {
                self.in_payload = false;
                if let Some(event) = self.end_data_frame() {
                    return Ok(Some(event));
                }
            }
        }
        Ok(None)
    }

    /// Copies header bytes from `input` into `hdr`, no more than the header needs; returns
    /// how many were taken.
    fn gather_header(&mut self, input: &[u8]) -> usize {
        let want = match self.hdr_len {
            0 | 1 => 2,
            _ => self.header_len().unwrap_or(self.hdr_len),
        };
        let take = want.saturating_sub(self.hdr_len).min(input.len());
        self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&input[..take]);
        self.hdr_len += take;
        take
    }

    /// The full header length once the first two bytes are known (and checked).
    fn header_len(&self) -> Option<usize> {
        if self.hdr_len < 2 {
            return None;
        }
        let b1 = self.hdr[1];
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b1 & MASK_BIT != 0 { 4 } else { 0 };
        Some(2 + ext + mask)
    }

    /// Validates a complete header (nats-server's checks, in its order) and enters the frame.
    fn start_frame(&mut self) -> Result<(), FrameError> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let hdr_len = self.hdr_len;
        self.hdr_len = 0;
        let op = b0 & 0x0f;
        let fin = b0 & FINAL_BIT != 0;
        let compressed = b0 & RSV1_BIT != 0;
        if b0 & (RSV2_BIT | RSV3_BIT) != 0 {
            return Err(FrameError::protocol("RSV2 and RSV3 must be clear"));
        }
        if compressed && !self.compression {
            return Err(FrameError::protocol(
                "compressed frame received without negotiated permessage-deflate",
            ));
        }
        let masked = b1 & MASK_BIT != 0;
        if self.require_mask && !masked {
            return Err(FrameError::protocol("mask bit missing"));
        }
        let short = (b1 & 0x7f) as u64;
        match op {
            OP_PING | OP_PONG | OP_CLOSE => {
                if short > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(FrameError::protocol(format!(
                        "control frame length bigger than maximum allowed of {MAX_CONTROL_PAYLOAD} bytes"
                    )));
                }
                if !fin {
                    return Err(FrameError::protocol(
                        "control frame does not have final bit set",
                    ));
                }
                if compressed {
                    return Err(FrameError::protocol("control frame must not be compressed"));
                }
            }
            OP_TEXT | OP_BINARY => {
                if !self.msg_final {
                    return Err(FrameError::protocol(
                        "new message started before final frame for previous message was received",
                    ));
                }
                self.msg_final = fin;
                self.msg_compressed = compressed;
            }
            OP_CONTINUATION => {
                if self.msg_final || compressed {
                    return Err(FrameError::protocol("invalid continuation frame"));
                }
                self.msg_final = fin;
            }
            other => return Err(FrameError::protocol(format!("unknown opcode {other}"))),
        }
        let rem = match short {
            126 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.hdr[2..10]);
                let n = u64::from_be_bytes(b);
                if n & (1 << 63) != 0 {
                    return Err(FrameError::protocol("invalid 64-bit payload length"));
                }
                n
            }
            n => n,
        };
        if masked {
            self.key.copy_from_slice(&self.hdr[hdr_len - 4..hdr_len]);
        }
        self.masked = masked;
        self.key_pos = 0;
        self.op = op;
        self.rem = rem;
        self.in_payload = rem > 0;
        self.control.clear();
        Ok(())
    }

    /// The current data frame ended; a compressed message that is now complete is an event.
    fn end_data_frame(&mut self) -> Option<Event> {
        if self.msg_compressed && self.msg_final {
            self.msg_compressed = false;
            return Some(Event::Compressed);
        }
        None
    }

    /// A control frame's payload is complete (nats-server's `wsHandleControlFrame`).
    fn end_control(&mut self) -> Result<Option<Event>, FrameError> {
        self.in_payload = false;
        let payload = std::mem::take(&mut self.control);
        match self.op {
            OP_PING => Ok(Some(Event::Ping(payload))),
            OP_CLOSE => {
                if payload.len() == 1 {
                    return Err(FrameError::protocol("close frame payload cannot be 1 byte"));
                }
                if payload.is_empty() {
                    // No status: the answer is a close frame without one (1005 is never sent).
                    return Ok(Some(Event::Close(Vec::new())));
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !valid_close_status(code) {
                    return Err(FrameError::protocol(format!(
                        "invalid close status code {code}"
                    )));
                }
                let body = &payload[2..];
                let reply = match std::str::from_utf8(body) {
                    Ok(text) => close_payload(code, text),
                    Err(_) => {
                        close_payload(status::INVALID_PAYLOAD, "invalid utf8 body in close frame")
                    }
                };
                Ok(Some(Event::Close(reply)))
            }
            _ => Ok(None), // pong: nothing to do
        }
    }
}

fn is_control(op: u8) -> bool {
    op >= OP_CLOSE
}

/// nats-server's `wsIsValidCloseStatus`.
pub fn valid_close_status(code: u16) -> bool {
    match code {
        status::NO_STATUS | 1004 | 1006 | status::TLS_HANDSHAKE => false,
        c if !(1000..5000).contains(&c) => false,
        1016..=2999 => false,
        _ => true,
    }
}

/// XORs `buf` with the masking key, starting at key offset `key_pos`.
pub fn unmask(buf: &mut [u8], key: [u8; 4], key_pos: usize) {
    let mut k = [0u8; 8];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(key_pos + i) & 3];
    }
    let k64 = u64::from_ne_bytes(k);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ k64).to_ne_bytes());
    }
    let tail = chunks.into_remainder();
    for (i, b) in tail.iter_mut().enumerate() {
        *b ^= k[i];
    }
}

/// Appends a server frame header (servers never mask, RFC 6455 §5.1).
pub fn write_header(
    out: &mut Vec<u8>,
    first: bool,
    fin: bool,
    compressed: bool,
    op: u8,
    len: usize,
) {
    let mut b0 = if first { op } else { OP_CONTINUATION };
    if fin {
        b0 |= FINAL_BIT;
    }
    if compressed {
        b0 |= RSV1_BIT;
    }
    if len <= 125 {
        out.extend_from_slice(&[b0, len as u8]);
    } else if len < 65536 {
        out.extend_from_slice(&[b0, 126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[b0, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends one complete frame as a client writes it (RFC 6455 §5.3): the mask bit, a fresh
/// random key, and the payload masked with it. A leaf connection we dial writes these.
pub fn write_masked(out: &mut Vec<u8>, op: u8, payload: &[u8]) {
    let start = out.len();
    write_header(out, true, true, false, op, payload.len());
    out[start + 1] |= MASK_BIT;
    let key = fastrand::u32(..).to_ne_bytes();
    out.extend_from_slice(&key);
    let body = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[body..], key, 0);
}

/// Appends a complete control frame.
pub fn write_control(out: &mut Vec<u8>, op: u8, payload: &[u8]) {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    write_header(out, true, true, false, op, payload.len());
    out.extend_from_slice(payload);
}

/// A close payload: the status, then the reason truncated with "..." to fit a control frame
/// (nats-server's `wsCreateCloseMessage`).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut body = reason;
    let truncated;
    if body.len() > MAX_CONTROL_PAYLOAD - 2 {
        let mut cut = MAX_CONTROL_PAYLOAD - 5;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        truncated = format!("{}...", &body[..cut]);
        body = &truncated;
    }
    let mut p = Vec::with_capacity(2 + body.len());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(body.as_bytes());
    p
}

/// Appends `data` as binary frames: one frame, or frames of at most `max_frame` bytes
/// (browsers). `data` must not be empty.
pub fn write_data(out: &mut Vec<u8>, data: &[u8], max_frame: Option<usize>) {
    match max_frame {
        Some(m) if m > 0 && data.len() > m => {
            // nats-server's browser framing: complete frames of at most 4 KiB each.
            for chunk in data.chunks(m) {
                write_header(out, true, true, false, OP_BINARY, chunk.len());
                out.extend_from_slice(chunk);
            }
        }
        _ => {
            write_header(out, true, true, false, OP_BINARY, data.len());
            out.extend_from_slice(data);
        }
    }
}

/// permessage-deflate compression without context takeover: every message starts from a
/// fresh deflate state, at the fastest level (nats-server uses `flate.BestSpeed`).
pub struct Deflater {
    c: flate2::Compress,
    buf: Vec<u8>,
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater {
            c: flate2::Compress::new(flate2::Compression::fast(), false),
            buf: Vec::new(),
        }
    }
}

impl Deflater {
    /// Appends `data` as one compressed message: a first frame with RSV1 set, continued in
    /// frames of at most `max_frame` bytes when given (browsers, except Safari).
    pub fn write_message(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        max_frame: Option<usize>,
    ) -> Result<(), String> {
        self.c.reset();
        self.buf.clear();
        let start = self.c.total_in();
        loop {
            let used = (self.c.total_in() - start) as usize;
            self.buf.reserve((data.len() - used) / 2 + 64);
            self.c
                .compress_vec(&data[used..], &mut self.buf, flate2::FlushCompress::Sync)
                .map_err(|e| e.to_string())?;
            let used = (self.c.total_in() - start) as usize;
            if used == data.len() && self.buf.len() < self.buf.capacity() {
                break;
            }
        }
        // A sync flush ends with an empty stored block, 00 00 ff ff, which the receiver adds back.
        if self.buf.ends_with(&[0x00, 0x00, 0xff, 0xff]) {
            self.buf.truncate(self.buf.len() - 4);
        }
        let p = &self.buf[..];
        match max_frame {
            Some(m) if m > 0 && p.len() > m => {
                let mut first = true;
                let mut rest = p;
                while !rest.is_empty() {
                    let n = rest.len().min(m);
                    let fin = n == rest.len();
                    // Only the first frame of a message carries RSV1.
                    write_header(out, first, fin, first, OP_BINARY, n);
                    out.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    first = false;
                }
            }
            _ => {
                write_header(out, true, true, true, OP_BINARY, p.len());
                out.extend_from_slice(p);
            }
        }
        Ok(())
    }
}

/// Inflates one compressed message into the caller's buffers, a piece at a time, so the
/// decompressed bytes never need a buffer of their own. At most `limit` bytes come out
/// (nats-server caps a compressed message's output at max_payload).
pub struct Inflater {
    d: flate2::Decompress,
    input: Vec<u8>,
    pos: usize,
    produced: usize,
    limit: usize,
    done: bool,
}

impl Inflater {
    pub fn new(mut input: Vec<u8>, limit: usize) -> Inflater {
        input.extend_from_slice(&COMPRESS_LAST_BLOCK);
        Inflater {
            d: flate2::Decompress::new(false),
            input,
            pos: 0,
            produced: 0,
            limit,
            done: false,
        }
    }

    /// Starts over with another message, keeping the allocations.
    pub fn reset(&mut self, mut input: Vec<u8>, limit: usize) {
        input.extend_from_slice(&COMPRESS_LAST_BLOCK);
        self.d.reset(false);
        self.input = input;
        self.pos = 0;
        self.produced = 0;
        self.limit = limit;
        self.done = false;
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Writes decompressed bytes into `out`; Ok(0) once the message is exhausted.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, FrameError> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let (in0, out0) = (self.d.total_in(), self.d.total_out());
        let status = self
            .d
            .decompress(&self.input[self.pos..], out, flate2::FlushDecompress::None)
            .map_err(|e| FrameError {
                status: status::INVALID_PAYLOAD,
                reason: format!("decompression error: {e}"),
            })?;
        let used = (self.d.total_in() - in0) as usize;
        let n = (self.d.total_out() - out0) as usize;
        self.pos += used;
        self.produced += n;
        if self.produced > self.limit {
            self.done = true;
            return Err(FrameError::too_big());
        }
        if status == flate2::Status::StreamEnd || (n == 0 && used == 0) {
            self.done = true;
            self.input = Vec::new();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn frame(op: u8, payload: &[u8], fin: bool, rsv: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b0 = op | rsv;
        if fin {
            b0 |= FINAL_BIT;
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        let len = payload.len();
        if len <= 125 {
            out.extend_from_slice(&[b0, MASK_BIT | len as u8]);
        } else if len < 65536 {
            out.extend_from_slice(&[b0, MASK_BIT | 126]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.extend_from_slice(&[b0, MASK_BIT | 127]);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        out
    }

    /// Feeds `input` in pieces of `step` bytes, collecting data and events.
    fn run(
        dec: &mut Decoder,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<Event>), FrameError> {
        let mut data = Vec::new();
        let mut events = Vec::new();
        for piece in input.chunks(step.max(1)) {
            let mut buf = piece.to_vec();
            let mut start = 0;
            while start < buf.len() {
                let d = dec.decode(&mut buf[start..]);
                data.extend_from_slice(&buf[start..start + d.data]);
                start += d.consumed;
                match d.event {
                    Some(Event::Error(e)) => return Err(e),
                    Some(e) => events.push(e),
                    None => {}
                }
            }
        }
        Ok((data, events))
    }

    #[test]
    fn data_frames_at_every_split() {
        let mut input = frame(OP_BINARY, b"PING\r\n", true, 0);
        input.extend(frame(OP_TEXT, b"PUB foo 5\r\nhello\r\n", true, 0));
        input.extend(frame(OP_PING, b"hi", true, 0));
        input.extend(frame(OP_BINARY, &vec![b'x'; 300], false, 0));
        input.extend(frame(OP_CONTINUATION, &vec![b'y'; 70000], true, 0));
        input.extend(frame(OP_PONG, b"", true, 0));
        let mut want = b"PING\r\nPUB foo 5\r\nhello\r\n".to_vec();
        want.extend(vec![b'x'; 300]);
        want.extend(vec![b'y'; 70000]);
        for step in [1, 2, 3, 5, 7, 13, 64, 4096, input.len()] {
            let mut dec = Decoder::new(false, 1 << 20);
            let (data, events) = run(&mut dec, &input, step).unwrap();
            assert_eq!(data, want, "step {step}");
            assert_eq!(events, vec![Event::Ping(b"hi".to_vec())], "step {step}");
        }
    }

    #[test]
    fn close_frames_as_nats_server_answers_them() {
        type Case = (Vec<u8>, Result<Vec<u8>, &'static str>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(vec![])),
            (close_payload(1000, "bye"), Ok(close_payload(1000, "bye"))),
            (
                [&1000u16.to_be_bytes()[..], &[0xff, 0xfe]].concat(),
                Ok(close_payload(1007, "invalid utf8 body in close frame")),
            ),
            (vec![b'x'], Err("close frame payload cannot be 1 byte")),
            (
                1005u16.to_be_bytes().to_vec(),
                Err("invalid close status code 1005"),
            ),
            (
                999u16.to_be_bytes().to_vec(),
                Err("invalid close status code 999"),
            ),
            (
                2000u16.to_be_bytes().to_vec(),
                Err("invalid close status code 2000"),
            ),
        ];
        for (payload, want) in cases {
            let mut dec = Decoder::new(false, 1 << 20);
            let buf = frame(OP_CLOSE, &payload, true, 0);
            match (run(&mut dec, &buf, buf.len()), want) {
                (Ok((_, events)), Ok(reply)) => assert_eq!(events, vec![Event::Close(reply)]),
                (Err(e), Err(reason)) => {
                    assert_eq!(e.reason, reason);
                    assert_eq!(e.status, status::PROTOCOL_ERROR);
                }
                (got, want) => panic!("{payload:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn protocol_errors() {
        let unmasked = {
            let mut f = frame(OP_BINARY, b"PING\r\n", true, 0);
            f[1] &= !MASK_BIT;
            f.drain(2..6); // drop the key
            f
        };
        let len64 = {
            let mut f = vec![FINAL_BIT | OP_BINARY, MASK_BIT | 127];
            f.extend_from_slice(&(1u64 << 63).to_be_bytes());
            f.extend_from_slice(&[0; 4]);
            f
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (unmasked, "mask bit missing"),
            (
                frame(OP_BINARY, b"x", true, RSV2_BIT),
                "RSV2 and RSV3 must be clear",
            ),
            (
                frame(OP_BINARY, b"x", true, RSV1_BIT),
                "compressed frame received without negotiated permessage-deflate",
            ),
            (
                frame(OP_PING, &[0; 126], true, 0),
                "control frame length bigger than maximum allowed of 125 bytes",
            ),
            (
                frame(OP_PING, b"x", false, 0),
                "control frame does not have final bit set",
            ),
            (
                frame(OP_CONTINUATION, b"x", true, 0),
                "invalid continuation frame",
            ),
            (
                [
                    frame(OP_BINARY, b"PI", false, 0),
                    frame(OP_BINARY, b"NG", true, 0),
                ]
                .concat(),
                "new message started before final frame for previous message was received",
            ),
            (frame(3, b"x", true, 0), "unknown opcode 3"),
            (len64, "invalid 64-bit payload length"),
        ];
        for (input, reason) in cases {
            for step in [1, input.len()] {
                let mut dec = Decoder::new(false, 1 << 20);
                let err = run(&mut dec, &input, step).unwrap_err();
                assert_eq!(err.reason, reason);
            }
        }
    }

    #[test]
    fn compression_round_trip_and_limits() {
        let msg = b"PUB foo 11\r\nhello world\r\n".repeat(100);
        let mut framed = Vec::new();
        Deflater::default()
            .write_message(&mut framed, &msg, None)
            .unwrap();
        // Server frames are unmasked; re-mask them as a client would.
        assert_eq!(framed[0], FINAL_BIT | RSV1_BIT | OP_BINARY);
        let payload = {
            let mut d = Decoder::new(true, 1 << 20);
            d.require_mask = false;
            let mut b = framed.clone();
            let r = d.decode(&mut b);
            assert_eq!(r.event, Some(Event::Compressed));
            d.take_compressed()
        };
        let client = frame(OP_BINARY, &payload, true, RSV1_BIT);
        for step in [1, 10, client.len()] {
            let mut dec = Decoder::new(true, 1 << 20);
            let (data, events) = run(&mut dec, &client, step).unwrap();
            assert!(data.is_empty());
            assert_eq!(events, vec![Event::Compressed]);
            let mut inf = Inflater::new(dec.take_compressed(), 1 << 20);
            let mut out = Vec::new();
            let mut buf = [0u8; 100];
            loop {
                let n = inf.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, msg);
        }
        // Output over the limit is an error.
        let mut inf = Inflater::new(payload.clone(), 100);
        let mut buf = vec![0u8; 4096];
        let mut res = Ok(1);
        while matches!(res, Ok(n) if n > 0) {
            res = inf.read(&mut buf);
        }
        assert_eq!(res.unwrap_err().status, status::MESSAGE_TOO_BIG);
        // Compressed input over 8 × max_payload is an error.
        let mut dec = Decoder::new(true, 10);
        let big = frame(OP_BINARY, &[0u8; 81], true, RSV1_BIT);
        assert_eq!(
            run(&mut dec, &big, 1000).unwrap_err().status,
            status::MESSAGE_TOO_BIG
        );
        // Fragmented for browsers: RSV1 only on the first frame.
        let mut framed = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noisy: Vec<u8> = (0..20000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Deflater::default()
            .write_message(&mut framed, &noisy, Some(BROWSER_FRAME_SIZE))
            .unwrap();
        assert_eq!(framed[0], RSV1_BIT | OP_BINARY);
        let mut d = Decoder::new(true, 1 << 20);
        d.require_mask = false;
        let (data, events) = run(&mut d, &framed, 333).unwrap();
        assert!(data.is_empty());
        assert_eq!(events, vec![Event::Compressed]);
        let mut inf = Inflater::new(d.take_compressed(), 1 << 20);
        let mut out = vec![0u8; 30000];
        let mut n = 0;
        loop {
            let k = inf.read(&mut out[n..]).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(&out[..n], &noisy[..]);
    }

    #[test]
    fn browser_frames_and_close_payload() {
        let mut out = Vec::new();
        write_data(&mut out, &[7u8; 10000], Some(BROWSER_FRAME_SIZE));
        let mut d = Decoder::new(false, 1 << 20);
        d.require_mask = false;
        let (data, _) = run(&mut d, &out, out.len()).unwrap();
        assert_eq!(data.len(), 10000);
        // Three frames: 4096 + 4096 + 1808, each with a 4-byte header.
        assert_eq!(out.len(), 10000 + 3 * 4);
        let long = "x".repeat(200);
        let p = close_payload(1002, &long);
        assert_eq!(p.len(), 125);
        assert!(p.ends_with(b"..."));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..600), step in 1usize..50) {
            let mut dec = Decoder::new(true, 1000);
            let _ = run(&mut dec, &input, step);
        }
    }
}
