//! The inbound side of a benchmark connection: a resumable reader of server-to-client NATS
//! frames (`MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`, `INFO`) that counts messages at
//! memory speed.
//!
//! The reader owns one large buffer. It finds each control line with `memchr`, reads the
//! payload size from the end of the line, hands the sink the line's fields and at most the
//! first [`Frames::head`] payload bytes (the publisher's sequence number), and then *skips*
//! the payload without looking at it — also across reads, so a 16 KiB payload costs nothing
//! but its `read`. Only a partial control line (plus the head) is ever moved to the front of
//! the buffer before the next read, so compaction is a few dozen bytes.

use std::io::{self, Read};

use memchr::memchr;

/// nats-server's default `max_control_line`; anything longer is a protocol error here.
pub const MAX_CONTROL_LINE: usize = 4096;

/// One delivered message, as much of it as the sink needs.
pub struct Msg<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// True for `HMSG` (a message with headers).
    pub headers: bool,
    /// Total payload size (headers included for `HMSG`).
    pub size: usize,
    /// The first `min(head, size)` bytes of the payload.
    pub head: &'a [u8],
}

/// What the reader reports. Every method has a default so a sink implements only what it
/// cares about.
pub trait Sink {
    fn msg(&mut self, _m: &Msg<'_>) {}
    fn ping(&mut self) {}
    fn pong(&mut self) {}
    fn err(&mut self, _text: &[u8]) {}
    /// When false the reader does not split the control line into subject and reply, which
    /// keeps pure counting to one `memchr` and a number parse per message.
    fn wants_subject(&self) -> bool {
        false
    }
}

/// A frame the reader cannot understand; the connection is unusable after it.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The resumable frame reader. See the module docs.
pub struct Frames {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes (and the trailing CRLF) still to skip.
    skip: usize,
    /// How many payload bytes the sink wants to see.
    head: usize,
}

impl Frames {
    /// A reader with a buffer of `capacity` bytes that shows the sink `head` payload bytes.
    pub fn new(capacity: usize, head: usize) -> Frames {
        Frames {
            buf: vec![0; capacity.max(2 * MAX_CONTROL_LINE + head)],
            start: 0,
            end: 0,
            skip: 0,
            head,
        }
    }

    /// Makes room after the unparsed bytes, moving them to the front when needed.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < MAX_CONTROL_LINE {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// One `read` from `r` into the buffer; returns what `read` returned.
    pub fn read_from<R: Read>(&mut self, r: &mut R) -> io::Result<usize> {
        self.make_room();
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Appends bytes as if read (for tests and for replaying).
    #[cfg(test)]
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut rest = Vec::new();
        while !data.is_empty() {
            self.make_room();
            let n = data.len().min(self.buf.len() - self.end);
            self.buf[self.end..self.end + n].copy_from_slice(&data[..n]);
            self.end += n;
            data = &data[n..];
            if !data.is_empty() {
                rest = data.to_vec();
                break;
            }
        }
        rest
    }

    /// Parses every complete frame in the buffer, reporting each to `sink`. Returns the
    /// number of messages seen; a partial frame stays for the next read.
    pub fn parse<S: Sink>(&mut self, sink: &mut S) -> Result<u64, ProtocolError> {
        let mut msgs = 0u64;
        loop {
            if self.skip > 0 {
                let k = self.skip.min(self.end - self.start);
                self.start += k;
                self.skip -= k;
                if self.skip > 0 {
                    return Ok(msgs);
                }
            }
            let avail = &self.buf[self.start..self.end];
            let Some(nl) = memchr(b'\n', avail) else {
                if avail.len() > MAX_CONTROL_LINE {
                    return Err(ProtocolError("control line too long".into()));
                }
                return Ok(msgs);
            };
            let line = trim_cr(&avail[..nl]);
            let body = self.start + nl + 1;
            if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
                let headers = line[0] == b'H';
                let args = &line[if headers { 5 } else { 4 }..];
                let (rest, size) = split_last_number(args)?;
                if headers {
                    // HMSG ... <header size> <total size>: the total is what follows.
                    split_last_number(rest)?;
                }
                let want = self.head.min(size);
                if self.end - body < want {
                    return Ok(msgs); // wait for the head of the payload
                }
                let head = &self.buf[body..body + want];
                let (subject, reply) = if sink.wants_subject() {
                    subject_and_reply(args, headers)?
                } else {
                    (&b""[..], None)
                };
                sink.msg(&Msg {
                    subject,
                    reply,
                    headers,
                    size,
                    head,
                });
                msgs += 1;
                self.start = body;
                self.skip = size + 2;
            } else {
                match line {
                    b"PING" => sink.ping(),
                    b"PONG" => sink.pong(),
                    b"+OK" => {}
                    _ if line.starts_with(b"-ERR") => sink.err(line),
                    _ if line.starts_with(b"INFO") => {}
                    _ => {
                        return Err(ProtocolError(format!(
                            "unexpected frame from server: {:?}",
                            String::from_utf8_lossy(&line[..line.len().min(80)])
                        )))
                    }
                }
                self.start = body;
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits `args` at its last space-separated token, which must be a decimal number.
fn split_last_number(args: &[u8]) -> Result<(&[u8], usize), ProtocolError> {
    let args = trim_ws_end(args);
    let pos = args
        .iter()
        .rposition(|&b| b == b' ' || b == b'\t')
        .ok_or_else(|| ProtocolError("message line without a size".into()))?;
    let digits = &args[pos + 1..];
    let mut n: usize = 0;
    if digits.is_empty() || digits.len() > 12 {
        return Err(ProtocolError("bad message size".into()));
    }
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError("bad message size".into()));
        }
        n = n * 10 + (d - b'0') as usize;
    }
    Ok((&args[..pos], n))
}

fn trim_ws_end(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && (s[end - 1] == b' ' || s[end - 1] == b'\t') {
        end -= 1;
    }
    &s[..end]
}

/// The subject and optional reply subject of `MSG`/`HMSG` arguments.
fn subject_and_reply(args: &[u8], headers: bool) -> Result<(&[u8], Option<&[u8]>), ProtocolError> {
    let mut toks = args
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty());
    let t: [Option<&[u8]>; 5] = [
        toks.next(),
        toks.next(),
        toks.next(),
        toks.next(),
        toks.next(),
    ];
    let sizes = if headers { 2 } else { 1 };
    let n = t.iter().filter(|x| x.is_some()).count();
    match (t[0], n - sizes) {
        (Some(subject), 2) => Ok((subject, None)),
        (Some(subject), 3) => Ok((subject, t[2])),
        _ => Err(ProtocolError("bad message line".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// subject, reply, headers, size, head
    type Seen = (String, Option<String>, bool, usize, Vec<u8>);

    #[derive(Default)]
    struct Rec {
        msgs: Vec<Seen>,
        pings: usize,
        pongs: usize,
        errs: Vec<String>,
    }

    impl Sink for Rec {
        fn msg(&mut self, m: &Msg<'_>) {
            self.msgs.push((
                String::from_utf8_lossy(m.subject).into_owned(),
                m.reply.map(|r| String::from_utf8_lossy(r).into_owned()),
                m.headers,
                m.size,
                m.head.to_vec(),
            ));
        }
        fn ping(&mut self) {
            self.pings += 1;
        }
        fn pong(&mut self) {
            self.pongs += 1;
        }
        fn err(&mut self, text: &[u8]) {
            self.errs.push(String::from_utf8_lossy(text).into_owned());
        }
        fn wants_subject(&self) -> bool {
            true
        }
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(b"INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n");
        s.extend_from_slice(b"PONG\r\n+OK\r\n");
        for i in 0..50u64 {
            s.extend_from_slice(b"MSG bench.a 1 16\r\n");
            s.extend_from_slice(&i.to_le_bytes());
            s.extend_from_slice(b"xxxxxxxx\r\n");
        }
        s.extend_from_slice(b"MSG bench.b 22 _INBOX.r.7 3\r\nabc\r\n");
        s.extend_from_slice(b"PING\r\n");
        s.extend_from_slice(b"HMSG _INBOX.r.8 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
        s.extend_from_slice(b"MSG big 3 5000\r\n");
        s.extend_from_slice(&[b'z'; 5000]);
        s.extend_from_slice(b"\r\nMSG empty 4 0\r\n\r\n");
        s.extend_from_slice(b"-ERR 'Slow Consumer'\r\n");
        s
    }

    fn check(r: &Rec) {
        assert_eq!(r.msgs.len(), 54);
        for (i, m) in r.msgs[..50].iter().enumerate() {
            assert_eq!(m.0, "bench.a");
            assert_eq!(m.3, 16);
            assert_eq!(m.4, (i as u64).to_le_bytes());
        }
        assert_eq!(r.msgs[50].1.as_deref(), Some("_INBOX.r.7"));
        assert_eq!(r.msgs[50].4, b"abc");
        assert_eq!(r.msgs[51].0, "_INBOX.r.8");
        assert!(r.msgs[51].2, "HMSG flagged as headers");
        assert_eq!(r.msgs[51].3, 16);
        assert_eq!(r.msgs[52].3, 5000);
        assert_eq!(r.msgs[52].4, b"zzzzzzzz");
        assert_eq!(r.msgs[53].3, 0);
        assert_eq!(r.pings, 1);
        assert_eq!(r.pongs, 1);
        assert_eq!(r.errs, vec!["-ERR 'Slow Consumer'".to_string()]);
    }

    #[test]
    fn whole_stream_at_once() {
        let mut f = Frames::new(64 * 1024, 8);
        let mut r = Rec::default();
        assert!(f.feed(&stream()).is_empty());
        assert_eq!(f.parse(&mut r), Ok(54));
        check(&r);
    }

    #[test]
    fn every_split_point() {
        let s = stream();
        for cut in 0..s.len() {
            let mut f = Frames::new(64 * 1024, 8);
            let mut r = Rec::default();
            f.feed(&s[..cut]);
            let a = f.parse(&mut r).unwrap();
            f.feed(&s[cut..]);
            let b = f.parse(&mut r).unwrap();
            assert_eq!(a + b, 54, "cut at {cut}");
            check(&r);
        }
    }

    #[test]
    fn byte_at_a_time_with_a_small_buffer() {
        // The buffer is smaller than the stream, so compaction and skipping across reads
        // are both exercised.
        let s = stream();
        let mut f = Frames::new(0, 8);
        let mut r = Rec::default();
        for b in &s {
            assert!(f.feed(std::slice::from_ref(b)).is_empty());
            f.parse(&mut r).unwrap();
        }
        check(&r);
    }

    #[test]
    fn counting_only_needs_no_subject() {
        struct Count(u64);
        impl Sink for Count {
            fn msg(&mut self, m: &Msg<'_>) {
                assert!(m.subject.is_empty());
                self.0 += 1;
            }
        }
        let mut f = Frames::new(1 << 16, 0);
        let mut c = Count(0);
        f.feed(&stream());
        assert_eq!(f.parse(&mut c), Ok(54));
        assert_eq!(c.0, 54);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"HELLO\r\n"[..],
            b"MSG a 1 x\r\n",
            b"MSG a\r\n",
            b"MSG a 1 99999999999999999\r\n",
        ] {
            let mut f = Frames::new(1 << 16, 8);
            f.feed(bad);
            assert!(f.parse(&mut Rec::default()).is_err(), "{bad:?}");
        }
        let mut f = Frames::new(1 << 16, 8);
        f.feed(&[b'A'; MAX_CONTROL_LINE + 1]);
        assert!(f.parse(&mut Rec::default()).is_err());
    }
}
