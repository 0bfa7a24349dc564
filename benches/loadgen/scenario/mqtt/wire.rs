//! The MQTT 3.1.1 the generator speaks, encoded and framed by hand so that it depends on
//! nothing of the server under test: the few packets it sends (CONNECT, SUBSCRIBE,
//! PUBLISH, PUBACK, PINGREQ, DISCONNECT), the framing of what it reads (fixed header,
//! remaining-length varint), and a blocking [`Client`] that connects and subscribes.
//!
//! ```text
//!  packet  = type<<4 | flags · remaining length (1–4 bytes, 7 bits each, LSB first) · body
//!  PUBLISH = 0x30 | qos<<1 · len · topic (u16 len + bytes) · [packet id, qos > 0] · payload
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const SUBACK: u8 = 9;
pub const PINGRESP: u8 = 13;

pub const PINGREQ_PACKET: [u8; 2] = [0xC0, 0];
pub const DISCONNECT_PACKET: [u8; 2] = [0xE0, 0];

/// The largest remaining length MQTT can express (4 varint bytes).
const MAX_REMAINING: usize = 268_435_455;

/// How long connecting, CONNACK and SUBACK may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet from its first byte and body.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_varint(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNECT, protocol level 4 (3.1.1), clean session, no will, no credentials.
pub fn connect(client_id: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + client_id.len());
    put_str(&mut body, b"MQTT");
    body.push(4);
    body.push(0x02);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    packet(0x10, &body)
}

/// SUBSCRIBE to one filter at `qos`.
pub fn subscribe(id: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + filter.len());
    body.extend_from_slice(&id.to_be_bytes());
    put_str(&mut body, filter.as_bytes());
    body.push(qos);
    packet(0x82, &body)
}

/// A PUBLISH template and where its packet identifier (QoS > 0) and payload start, so a
/// publisher can stamp identifiers and sequence numbers into copies without re-encoding.
pub struct PublishTemplate {
    pub bytes: Vec<u8>,
    pub id_at: Option<usize>,
    pub payload_at: usize,
}

pub fn publish(topic: &str, qos: u8, size: usize, fill: u8) -> PublishTemplate {
    let id_len = if qos > 0 { 2 } else { 0 };
    let remaining = 2 + topic.len() + id_len + size;
    let mut bytes = Vec::with_capacity(remaining + 5);
    bytes.push(0x30 | (qos << 1));
    put_varint(&mut bytes, remaining);
    put_str(&mut bytes, topic.as_bytes());
    let id_at = (qos > 0).then(|| {
        bytes.extend_from_slice(&[0, 0]);
        bytes.len() - 2
    });
    let payload_at = bytes.len();
    bytes.resize(payload_at + size, fill);
    PublishTemplate {
        bytes,
        id_at,
        payload_at,
    }
}

pub fn puback(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x40, 2, hi, lo]
}

/// One packet read: its type (high nibble), flags (low nibble) and body.
#[derive(Debug)]
pub struct Packet<'a> {
    pub kind: u8,
    pub flags: u8,
    pub body: &'a [u8],
}

/// The parts of a PUBLISH body.
pub struct Publish<'a> {
    pub qos: u8,
    pub dup: bool,
    pub topic: &'a [u8],
    pub id: Option<u16>,
    pub payload: &'a [u8],
}

impl Packet<'_> {
    pub fn publish(&self) -> Result<Publish<'_>, String> {
        let qos = (self.flags >> 1) & 3;
        let b = self.body;
        if b.len() < 2 {
            return Err("PUBLISH too short".into());
        }
        let tl = u16::from_be_bytes([b[0], b[1]]) as usize;
        let mut at = 2 + tl;
        if b.len() < at {
            return Err("PUBLISH topic runs past the packet".into());
        }
        let topic = &b[2..at];
        let id = if qos > 0 {
            if b.len() < at + 2 {
                return Err("PUBLISH without its packet identifier".into());
            }
            at += 2;
            Some(u16::from_be_bytes([b[at - 2], b[at - 1]]))
        } else {
            None
        };
        Ok(Publish {
            qos,
            dup: self.flags & 0x08 != 0,
            topic,
            id,
            payload: &b[at..],
        })
    }

    /// The packet identifier of PUBACK and SUBACK.
    pub fn id(&self) -> Option<u16> {
        (self.body.len() >= 2).then(|| u16::from_be_bytes([self.body[0], self.body[1]]))
    }
}

/// Splits one packet off the front of `buf`: `Ok(None)` when it is not complete yet, with
/// the bytes the whole packet needs when the header says so.
pub fn split(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut mult = 1usize;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len += (b & 0x7F) as usize * mult;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return Err("malformed remaining length".into());
        }
        mult *= 128;
    }
    if len > MAX_REMAINING {
        return Err("remaining length too large".into());
    }
    let end = i + len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((
        Packet {
            kind: first >> 4,
            flags: first & 0x0F,
            body: &buf[i..end],
        },
        end,
    )))
}

/// A read buffer that yields whole packets.
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Reader {
    pub fn new(capacity: usize) -> Reader {
        Reader {
            buf: vec![0; capacity.max(64)],
            start: 0,
            end: 0,
        }
    }

    /// One `read` into the free space (moving what is left to the front, and growing the
    /// buffer when one packet does not fit); returns the bytes read, 0 at end of stream.
    pub fn read_from(&mut self, r: &mut impl Read) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete packet, if one has arrived.
    pub fn next(&mut self) -> Result<Option<Packet<'_>>, String> {
        match split(&self.buf[self.start..self.end])? {
            Some((p, used)) => {
                self.start += used;
                Ok(Some(p))
            }
            None => Ok(None),
        }
    }
}

/// A connection that sent CONNECT and got CONNACK (return code 0).
pub struct Client {
    pub stream: TcpStream,
    pub rx: Reader,
}

impl Client {
    /// Connects, sends CONNECT and waits for CONNACK; `buffer` is the read buffer.
    pub fn connect(
        addr: SocketAddr,
        client_id: &str,
        keep_alive: u16,
        buffer: usize,
    ) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut c = Client {
            stream,
            rx: Reader::new(buffer),
        };
        c.stream
            .write_all(&connect(client_id, keep_alive))
            .map_err(|e| format!("send CONNECT: {e}"))?;
        let (flags, body) = c.expect(CONNACK, "CONNACK")?;
        if flags != 0 || body.len() != 2 {
            return Err(format!("malformed CONNACK {body:?}"));
        }
        if body[1] != 0 {
            return Err(format!("CONNACK refused the connection (code {})", body[1]));
        }
        Ok(c)
    }

    /// SUBSCRIBE to one filter and wait for SUBACK; the granted QoS.
    pub fn subscribe(&mut self, id: u16, filter: &str, qos: u8) -> Result<u8, String> {
        self.stream
            .write_all(&subscribe(id, filter, qos))
            .map_err(|e| format!("send SUBSCRIBE: {e}"))?;
        let (_, body) = self.expect(SUBACK, "SUBACK")?;
        match body[..] {
            [hi, lo, granted] if u16::from_be_bytes([hi, lo]) == id => {
                if granted & 0x80 != 0 {
                    Err(format!("SUBACK refused {filter:?} (0x{granted:02x})"))
                } else {
                    Ok(granted)
                }
            }
            _ => Err(format!("unexpected SUBACK {body:?}")),
        }
    }

    /// Reads until a packet of type `kind` arrives (within [`HANDSHAKE_TIMEOUT`]); its
    /// flags and body. Anything else before it is an error.
    fn expect(&mut self, kind: u8, what: &str) -> Result<(u8, Vec<u8>), String> {
        let mut got = None;
        self.wait_for(what, |p| {
            if p.kind != kind {
                return Err(format!("expected {what}, got packet type {}", p.kind));
            }
            got = Some((p.flags, p.body.to_vec()));
            Ok(true)
        })?;
        got.ok_or_else(|| format!("no {what}"))
    }

    /// Hands every packet that arrives to `done` until it returns true (or an error), for
    /// at most [`HANDSHAKE_TIMEOUT`].
    pub fn wait_for(
        &mut self,
        what: &str,
        mut done: impl FnMut(&Packet<'_>) -> Result<bool, String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            while let Some(p) = self.rx.next()? {
                if done(&p)? {
                    return Ok(());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no {what} within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.rx.read_from(&mut self.stream) {
                Ok(0) => return Err(format!("connection closed before {what}")),
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("waiting for {what}: {e}")),
            }
        }
    }

    /// PINGREQ, then reads until PINGRESP: every packet this connection sent before has
    /// been read by the broker. Other packets read meanwhile go to `other`.
    pub fn ping(&mut self, mut other: impl FnMut(&Packet<'_>)) -> Result<(), String> {
        self.stream
            .write_all(&PINGREQ_PACKET)
            .map_err(|e| format!("send PINGREQ: {e}"))?;
        self.wait_for("PINGRESP", |p| {
            if p.kind == PINGRESP {
                return Ok(true);
            }
            other(p);
            Ok(false)
        })
    }

    /// DISCONNECT (a clean end: no will), then the socket closes when dropped.
    pub fn disconnect(mut self) {
        let _ = self.stream.write_all(&DISCONNECT_PACKET);
    }
}

/// Waits until a broker at `addr` accepts an MQTT connection (CONNECT answered by CONNACK),
/// for at most `timeout`; the connection is then closed with DISCONNECT.
pub fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let id = format!("natrium-bench-probe-{}", std::process::id());
    loop {
        match Client::connect(addr, &id, 0, 256) {
            Ok(c) => {
                c.disconnect();
                return Ok(());
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "MQTT at {addr} not ready within {} s: {e}",
                    timeout.as_secs()
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_packets() {
        for (n, want) in [
            (0usize, vec![0u8]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
        ] {
            let mut v = Vec::new();
            put_varint(&mut v, n);
            assert_eq!(v, want, "{n}");
        }
        let c = connect("id", 0);
        assert_eq!(
            c,
            [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 0, 0, 2, b'i', b'd']
        );
        assert_eq!(
            subscribe(7, "a/b", 1),
            [0x82, 8, 0, 7, 0, 3, b'a', b'/', b'b', 1]
        );
        let t = publish("bench/t", 1, 200, b'x');
        let (p, used) = split(&t.bytes).unwrap().unwrap();
        assert_eq!(used, t.bytes.len());
        assert_eq!((p.kind, p.flags), (PUBLISH, 2));
        let pb = p.publish().unwrap();
        assert_eq!(pb.topic, b"bench/t");
        assert_eq!((pb.qos, pb.id, pb.payload.len()), (1, Some(0), 200));
        assert_eq!(t.id_at, Some(t.payload_at - 2));
        assert!(split(&t.bytes[..t.bytes.len() - 1]).unwrap().is_none());
        assert!(split(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]).is_err());
        let q0 = publish("t", 0, 3, b'x');
        assert_eq!(q0.bytes, [0x30, 6, 0, 1, b't', b'x', b'x', b'x']);
        assert_eq!((q0.id_at, q0.payload_at), (None, 5));
    }

    #[test]
    fn reader_yields_whole_packets_and_grows() {
        let mut wire = Vec::new();
        for _ in 0..3 {
            wire.extend_from_slice(&publish("t", 0, 100, b'y').bytes);
        }
        wire.extend_from_slice(&puback(9));
        let mut r = Reader::new(64);
        let mut src = &wire[..];
        let mut seen = Vec::new();
        while r.read_from(&mut src).unwrap() > 0 {
            while let Some(p) = r.next().unwrap() {
                seen.push((p.kind, p.body.len()));
            }
        }
        assert_eq!(
            seen,
            [(PUBLISH, 103), (PUBLISH, 103), (PUBLISH, 103), (PUBACK, 2)]
        );
    }
}
