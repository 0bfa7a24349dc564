//! The WebSocket layer of one connection, between the reactor's NATS bytes and the socket
//! (plain TCP or TLS).
//!
//! Reads: bytes from the socket are decoded in the caller's buffer ([`frame::Decoder`]), so
//! the parser gets NATS bytes with no copy beyond the unmasking; a compressed message is
//! inflated into the caller's buffer piece by piece ([`frame::Inflater`]). Pings are answered
//! (only the latest unanswered one, as RFC 6455 §5.5.3 allows, so a ping flood cannot grow a
//! buffer), a close frame is answered and ends the connection, and a broken frame gets a
//! close frame with nats-server's status and reason, written at once (the connection closes
//! without waiting for its pending output, as for any read error).
//!
//! Writes: the connection's outbound NATS bytes are framed a chunk at a time into `frames`,
//! which holds at most one chunk ([`WRITE_CHUNK`] plus headers, or its compressed form) and
//! control frames. Until `frames` has drained into the socket, [`WsSession::write`] takes
//! nothing more, so unsent bytes stay in the connection's own buffer where `max_pending` and
//! the write deadline see them: a slow browser is a slow consumer like any client.
//!
//! Before the upgrade the session only carries the HTTP response ([`WsSession::queue_raw`]);
//! reading the request is the reactor's job (`handshake.rs` decides).

use std::io;

use super::frame::{self, Decoder, Deflater, Event, FrameError, Inflater};
use crate::transport::ReadOutcome;

/// Outbound NATS bytes framed per write call (one frame, or 4 KiB frames for browsers).
pub const WRITE_CHUNK: usize = 64 * 1024;

/// The socket under the WebSocket layer.
pub trait RawIo {
    fn read(&mut self, buf: &mut [u8]) -> ReadOutcome;
    /// Writes as much as the socket takes (0 when it is full).
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;
    /// Pushes out bytes buffered below (TLS records); Ok(true) when none remain.
    fn flush(&mut self) -> io::Result<bool>;
}

/// What the upgrade negotiated.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    pub compression: bool,
    /// A browser (User-Agent `Mozilla/…`): data goes out in 4 KiB frames.
    pub browser: bool,
    /// Safari: compressed messages are not fragmented (nats-server's `nocompfrag`).
    pub no_compressed_fragments: bool,
    /// The client asked for unmasked frames (`Nats-No-Masking: true`).
    pub no_masking: bool,
    /// The client address from `X-Forwarded-For`, when it is a valid IP.
    pub client_ip: Option<String>,
    pub cookies: Cookies,
}

/// Credentials found in the cookies named by `jwt_cookie`, `user_cookie`, `pass_cookie` and
/// `token_cookie`; CONNECT falls back to them (nats-server's `processConnect`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    pub jwt: String,
    pub user: String,
    pub pass: String,
    pub token: String,
}

impl Cookies {
    /// nats-server's `processConnect`: a credential CONNECT leaves empty is taken from its
    /// cookie (possibly empty too).
    pub fn fill_connect(&self, opts: &mut crate::proto::info::ClientOptions) {
        if opts.jwt.is_empty() {
            opts.jwt = self.jwt.clone();
        }
        if opts.user.is_empty() {
            opts.user = self.user.clone();
        }
        if opts.pass.is_empty() {
            opts.pass = self.pass.clone();
        }
        if opts.auth_token.is_empty() {
            opts.auth_token = self.token.clone();
        }
    }
}

/// The WebSocket state of one connection.
pub struct WsSession {
    /// The upgrade is done; reads and writes are frames.
    open: bool,
    /// The HTTP request read so far (before the upgrade); when we dialled, the response.
    pub request: Vec<u8>,
    /// When we dialled: the `Sec-WebSocket-Key` we sent.
    pub request_key: String,
    pub negotiated: Negotiated,
    decoder: Decoder,
    inflater: Option<Inflater>,
    max_payload: usize,
    /// Raw input held back after an event stopped decoding mid-buffer.
    rx: Vec<u8>,
    rx_pos: usize,
    /// What to report once the data before it has been handed out.
    deferred: Option<Deferred>,
    /// Frames (or the HTTP response) waiting for the socket.
    frames: Vec<u8>,
    frames_pos: usize,
    pending_pong: Option<Vec<u8>>,
    /// The close frame, sent after the connection's last data.
    close_frame: Option<Vec<u8>>,
    close_sent: bool,
    deflater: Option<Deflater>,
    /// Our side dialled (a leaf connection to a hub): our frames are masked unless the hub
    /// agreed to `Nats-No-Masking`, the hub's are not.
    mask_writes: bool,
}

enum Deferred {
    Eof,
    Error(FrameError),
}

/// A frame error as an `io::Error`, so that the reactor can tell it from socket errors.
pub fn frame_error(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The WebSocket frame error inside an `io::Error`, if that is what it is.
pub fn as_frame_error(e: &io::Error) -> Option<&FrameError> {
    e.get_ref().and_then(|e| e.downcast_ref::<FrameError>())
}

impl WsSession {
    pub fn new(max_payload: usize) -> WsSession {
        WsSession {
            open: false,
            request: Vec::new(),
            request_key: String::new(),
            negotiated: Negotiated::default(),
            decoder: Decoder::new(false, max_payload),
            inflater: None,
            max_payload,
            rx: Vec::new(),
            rx_pos: 0,
            deferred: None,
            frames: Vec::new(),
            frames_pos: 0,
            pending_pong: None,
            close_frame: None,
            close_sent: false,
            deflater: None,
            mask_writes: false,
        }
    }

    /// The hub answered our upgrade request (`leftover`: what came after its response, the
    /// first frames): from now on we write client frames (masked unless `no_masking`) and
    /// read the hub's unmasked ones.
    pub fn open_dialled(&mut self, no_masking: bool, leftover: &[u8]) {
        self.open(Negotiated {
            no_masking: true,
            ..Default::default()
        });
        self.negotiated.no_masking = no_masking;
        self.mask_writes = !no_masking;
        self.rx = leftover.to_vec();
        self.rx_pos = 0;
    }

    /// Appends a control frame, masked when we dialled.
    fn control(&self, out: &mut Vec<u8>, op: u8, payload: &[u8]) {
        if self.mask_writes {
            let payload = &payload[..payload.len().min(frame::MAX_CONTROL_PAYLOAD)];
            frame::write_masked(out, op, payload);
        } else {
            frame::write_control(out, op, payload);
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The upgrade succeeded: from now on reads and writes are frames.
    pub fn open(&mut self, negotiated: Negotiated) {
        self.decoder = Decoder::new(negotiated.compression, self.max_payload);
        if negotiated.no_masking {
            self.decoder.allow_unmasked();
        }
        if negotiated.compression {
            self.deflater = Some(Deflater::default());
        }
        self.negotiated = negotiated;
        self.request = Vec::new();
        self.open = true;
    }

    /// Queues bytes for the socket as they are (the HTTP response to the upgrade request).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.frames.extend_from_slice(bytes);
    }

    /// Queues the close frame that ends the connection, unless one was sent already; it goes
    /// out after the connection's pending data.
    pub fn queue_close(&mut self, status: u16, reason: &str) {
        if self.open && !self.close_sent {
            self.close_sent = true;
            let mut f = Vec::new();
            self.control(
                &mut f,
                frame::OP_CLOSE,
                &frame::close_payload(status, reason),
            );
            self.close_frame = Some(f);
        }
    }

    /// Frames or control frames wait for the socket.
    pub fn wants_write(&self) -> bool {
        self.frames_pos < self.frames.len()
            || self.pending_pong.is_some()
            || self.close_frame.is_some()
    }

    /// Reads NATS bytes into `buf`.
    pub fn read(&mut self, io: &mut impl RawIo, buf: &mut [u8]) -> ReadOutcome {
        if !self.open {
            return io.read(buf);
        }
        loop {
            if let Some(inf) = self.inflater.as_mut() {
                if !inf.is_done() {
                    match inf.read(buf) {
                        Ok(0) => {}
                        Ok(n) => return ReadOutcome::Data(n),
                        Err(e) => return self.fail(io, e),
                    }
                }
            }
            match self.deferred.take() {
                Some(Deferred::Eof) => return ReadOutcome::Eof,
                Some(Deferred::Error(e)) => return self.fail(io, e),
                None => {}
            }
            let from_rx = self.rx_pos < self.rx.len();
            let n = if from_rx {
                let n = buf.len().min(self.rx.len() - self.rx_pos);
                buf[..n].copy_from_slice(&self.rx[self.rx_pos..self.rx_pos + n]);
                self.rx_pos += n;
                n
            } else {
                self.rx.clear();
                self.rx_pos = 0;
                match io.read(buf) {
                    ReadOutcome::Data(n) => n,
                    other => return other,
                }
            };
            let d = self.decoder.decode(&mut buf[..n]);
            if d.consumed < n {
                // Decoding stopped at an event: keep the undecoded rest for the next call.
                if from_rx {
                    // `rx` still holds these bytes as they arrived; step back over them.
                    self.rx_pos -= n - d.consumed;
                } else {
                    self.rx.extend_from_slice(&buf[d.consumed..n]);
                }
            }
            match d.event {
                None => {}
                Some(Event::Ping(payload)) => self.pending_pong = Some(payload),
                Some(Event::Close(reply)) => {
                    if !self.close_sent {
                        self.close_sent = true;
                        let mut f = Vec::new();
                        self.control(&mut f, frame::OP_CLOSE, &reply);
                        self.close_frame = Some(f);
                    }
                    self.deferred = Some(Deferred::Eof);
                }
                Some(Event::Compressed) => {
                    let input = self.decoder.take_compressed();
                    match self.inflater.as_mut() {
                        Some(inf) => inf.reset(input, self.max_payload),
                        None => self.inflater = Some(Inflater::new(input, self.max_payload)),
                    }
                }
                Some(Event::Error(e)) => self.deferred = Some(Deferred::Error(e)),
            }
            if d.data > 0 {
                return ReadOutcome::Data(d.data);
            }
        }
    }

    /// A broken frame: a last close frame with nats-server's status and reason goes out now,
    /// after any complete frames already queued, and the read fails.
    fn fail(&mut self, io: &mut impl RawIo, e: FrameError) -> ReadOutcome {
        if !self.close_sent {
            self.close_sent = true;
            let mut f = std::mem::take(&mut self.frames);
            self.control(
                &mut f,
                frame::OP_CLOSE,
                &frame::close_payload(e.status, &e.reason),
            );
            self.frames = f;
            let _ = self.flush_frames(io);
            let _ = io.flush();
        }
        self.close_frame = None;
        self.deferred = Some(Deferred::Error(e.clone()));
        ReadOutcome::Error(frame_error(e))
    }

    /// Takes up to [`WRITE_CHUNK`] of `data` as frames once the previous frames are out;
    /// returns how much was taken (0: the socket is full, or the upgrade is not done).
    pub fn write(&mut self, io: &mut impl RawIo, data: &[u8]) -> io::Result<usize> {
        if !self.flush_frames(io)? || !self.open || data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(WRITE_CHUNK);
        let chunk = &data[..n];
        self.take_pong();
        let max_frame = self.negotiated.browser.then_some(frame::BROWSER_FRAME_SIZE);
        match self.deflater.as_mut() {
            _ if self.mask_writes => frame::write_masked(&mut self.frames, frame::OP_BINARY, chunk),
            Some(d) if n > frame::COMPRESS_THRESHOLD => {
                let max_frame = if self.negotiated.no_compressed_fragments {
                    None
                } else {
                    max_frame
                };
                d.write_message(&mut self.frames, chunk, max_frame)
                    .map_err(|e| io::Error::other(format!("Error during compression: {e}")))?;
            }
            _ => frame::write_data(&mut self.frames, chunk, max_frame),
        }
        self.flush_frames(io)?;
        Ok(n)
    }

    /// Writes queued frames, the pong, and (when called with the connection's output
    /// drained) the close frame. Ok(true) when nothing is left, below included.
    pub fn flush(&mut self, io: &mut impl RawIo) -> io::Result<bool> {
        self.take_pong();
        if let Some(f) = self.close_frame.take() {
            self.frames.extend_from_slice(&f);
        }
        if !self.flush_frames(io)? {
            return Ok(false);
        }
        io.flush()
    }

    fn take_pong(&mut self) {
        if let Some(p) = self.pending_pong.take() {
            let mut f = std::mem::take(&mut self.frames);
            self.control(&mut f, frame::OP_PONG, &p);
            self.frames = f;
        }
    }

    fn flush_frames(&mut self, io: &mut impl RawIo) -> io::Result<bool> {
        while self.frames_pos < self.frames.len() {
            let n = io.write(&self.frames[self.frames_pos..])?;
            if n == 0 {
                return Ok(false);
            }
            self.frames_pos += n;
        }
        if self.frames.capacity() > 4 * WRITE_CHUNK {
            self.frames = Vec::new();
        } else {
            self.frames.clear();
        }
        self.frames_pos = 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory socket: reads come from `input` in pieces of `step`, writes go to
    /// `output`, accepting at most `room` bytes per call.
    struct Fake {
        input: Vec<u8>,
        pos: usize,
        step: usize,
        output: Vec<u8>,
        room: usize,
    }

    impl RawIo for Fake {
        fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
            if self.pos >= self.input.len() {
                return ReadOutcome::WouldBlock;
            }
            let n = buf.len().min(self.step).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            ReadOutcome::Data(n)
        }
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let n = data.len().min(self.room);
            self.room -= n;
            self.output.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<bool> {
            Ok(true)
        }
    }

    fn masked(op: u8, payload: &[u8], rsv1: bool) -> Vec<u8> {
        let mut f = Vec::new();
        frame::write_header(&mut f, true, true, rsv1, op, payload.len());
        f[1] |= 0x80;
        let key = [1, 2, 3, 4];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        f
    }

    fn read_all(
        s: &mut WsSession,
        io: &mut Fake,
        buf_len: usize,
    ) -> (Vec<u8>, Option<ReadOutcome>) {
        let mut data = Vec::new();
        let mut buf = vec![0u8; buf_len];
        loop {
            match s.read(io, &mut buf) {
                ReadOutcome::Data(n) => data.extend_from_slice(&buf[..n]),
                ReadOutcome::WouldBlock => return (data, None),
                other => return (data, Some(other)),
            }
        }
    }

    #[test]
    fn compressed_then_plain_then_close_in_one_read() {
        let mut compressed = Vec::new();
        let text = b"PUB a 3\r\nabc\r\n".repeat(50);
        Deflater::default()
            .write_message(&mut compressed, &text, None)
            .unwrap();
        // Re-frame the server's (unmasked) compressed payload as a masked client frame.
        let payload = {
            let mut d = Decoder::new(true, 1 << 20);
            d.allow_unmasked();
            assert_eq!(d.decode(&mut compressed).event, Some(Event::Compressed));
            d.take_compressed()
        };
        let mut input = masked(frame::OP_BINARY, &payload, true);
        input.extend(masked(frame::OP_BINARY, b"PING\r\n", false));
        input.extend(masked(frame::OP_PING, b"p", false));
        input.extend(masked(
            frame::OP_CLOSE,
            &frame::close_payload(1000, "done"),
            false,
        ));
        input.extend(masked(frame::OP_BINARY, b"IGNORED\r\n", false));
        for (step, buf_len) in [(input.len(), 65536), (3, 65536), (input.len(), 16), (7, 5)] {
            let mut io = Fake {
                input: input.clone(),
                pos: 0,
                step,
                output: Vec::new(),
                room: usize::MAX,
            };
            let mut s = WsSession::new(1 << 20);
            s.open(Negotiated {
                compression: true,
                ..Default::default()
            });
            let (data, end) = read_all(&mut s, &mut io, buf_len);
            let mut want = text.clone();
            want.extend_from_slice(b"PING\r\n");
            assert_eq!(data, want, "step {step} buf {buf_len}");
            assert!(matches!(end, Some(ReadOutcome::Eof)));
            assert!(s.wants_write());
            s.flush(&mut io).unwrap();
            let mut pong_close = Vec::new();
            frame::write_control(&mut pong_close, frame::OP_PONG, b"p");
            frame::write_control(
                &mut pong_close,
                frame::OP_CLOSE,
                &frame::close_payload(1000, "done"),
            );
            assert_eq!(io.output, pong_close);
        }
    }

    #[test]
    fn frame_error_sends_close_at_once() {
        let mut input = masked(frame::OP_BINARY, b"PING\r\n", false);
        input.extend(masked(3, b"x", false));
        let mut io = Fake {
            input,
            pos: 0,
            step: 1000,
            output: Vec::new(),
            room: usize::MAX,
        };
        let mut s = WsSession::new(1 << 20);
        s.open(Negotiated::default());
        let (data, end) = read_all(&mut s, &mut io, 4096);
        assert_eq!(data, b"PING\r\n");
        match end {
            Some(ReadOutcome::Error(e)) => {
                assert_eq!(as_frame_error(&e).unwrap().reason, "unknown opcode 3")
            }
            _ => panic!("expected an error"),
        }
        let mut want = Vec::new();
        frame::write_control(
            &mut want,
            frame::OP_CLOSE,
            &frame::close_payload(1002, "unknown opcode 3"),
        );
        assert_eq!(io.output, want);
        // A server close reason after that adds nothing.
        s.queue_close(1000, "Client Closed");
        assert!(!s.wants_write());
    }

    #[test]
    fn writes_are_bounded_by_the_socket() {
        let mut io = Fake {
            input: Vec::new(),
            pos: 0,
            step: 1,
            output: Vec::new(),
            room: 1000,
        };
        let mut s = WsSession::new(1 << 20);
        s.open(Negotiated::default());
        let data = vec![b'z'; 200_000];
        // First call frames one chunk and writes what fits.
        assert_eq!(s.write(&mut io, &data).unwrap(), WRITE_CHUNK);
        assert!(s.wants_write());
        // While that chunk is not out, nothing more is taken.
        io.room = 0;
        assert_eq!(s.write(&mut io, &data[WRITE_CHUNK..]).unwrap(), 0);
        io.room = usize::MAX;
        let mut taken = WRITE_CHUNK;
        while taken < data.len() {
            taken += s.write(&mut io, &data[taken..]).unwrap();
        }
        s.queue_close(1001, "Server Shutdown");
        assert!(s.flush(&mut io).unwrap());
        // Decode what went out (server frames are unmasked).
        let mut d = Decoder::new(false, 1 << 20);
        d.allow_unmasked();
        let mut out = io.output.clone();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut close = None;
        while pos < out.len() {
            let r = d.decode(&mut out[pos..]);
            got.extend_from_slice(&out[pos..pos + r.data]);
            pos += r.consumed;
            if let Some(Event::Close(c)) = r.event {
                close = Some(c);
            }
        }
        assert_eq!(got, data);
        assert_eq!(close, Some(frame::close_payload(1001, "Server Shutdown")));
    }
}
