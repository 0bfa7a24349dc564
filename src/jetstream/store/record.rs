//! The on-disk record of the file store: one per stored message, delete tombstone or purge
//! marker, appended to a segment file.
//!
//! ```text
//!  0  u32  length of the whole record, checksum included
//!  4  u8   kind: 1 message, 2 delete tombstone, 3 purge marker, 4 erased message,
//!          5 filler (a corrupt record recovery stepped over, made valid and empty)
//!  5  u64  sequence (message: its own; tombstone: the one deleted; purge: the new first)
//! 13  i64  timestamp, ns since the Unix epoch
//! 21  u16  subject length
//! 23  u32  header length
//! 27  subject, headers, payload
//! ..  u32  CRC-32 of every byte before it
//! ```
//!
//! Little endian. The length comes first so that a reader can step over a record whose
//! checksum fails (an erase torn by a crash) when a valid record follows it; a record that
//! does not decode otherwise ends the segment's good part.

/// Bytes of a record that are not subject, headers or payload.
pub const OVERHEAD: usize = 31;
const HEADER: usize = 27;
/// No record is larger (nats-server's max payload is far below it); a length field beyond
/// it is corruption, not a huge record to wait for.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Msg = 1,
    Delete = 2,
    Purge = 3,
    Erased = 4,
    Filler = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Msg),
            2 => Some(Kind::Delete),
            3 => Some(Kind::Purge),
            4 => Some(Kind::Erased),
            5 => Some(Kind::Filler),
            _ => None,
        }
    }
}

/// A record decoded from a buffer, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub ts: i64,
    pub subject: &'a [u8],
    pub headers: &'a [u8],
    pub payload: &'a [u8],
}

/// What the bytes at an offset hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record and its length.
    Record(Record<'a>, usize),
    /// Too few bytes for the record the length field announces (a torn tail), or for a
    /// length field at all.
    Incomplete,
    /// A length field that cannot be: nothing after it can be trusted.
    Garbage,
    /// A plausible length whose checksum or layout fails (a torn or flipped record).
    Corrupt(usize),
}

/// Appends a record.
pub fn encode(
    out: &mut Vec<u8>,
    kind: Kind,
    seq: u64,
    ts: i64,
    subject: &[u8],
    headers: &[u8],
    payload: &[u8],
) {
    let len = OVERHEAD + subject.len() + headers.len() + payload.len();
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    out.extend_from_slice(subject);
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The length of a record with these parts.
pub fn encoded_len(subject: usize, headers: usize, payload: usize) -> usize {
    OVERHEAD + subject + headers + payload
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Decodes the record at the start of `buf`. Never panics, whatever the bytes.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < 4 {
        return Decoded::Incomplete;
    }
    let len = u32_at(buf, 0) as usize;
    if !(OVERHEAD..=MAX_RECORD).contains(&len) {
        return Decoded::Garbage;
    }
    if buf.len() < len {
        return Decoded::Incomplete;
    }
    let rec = &buf[..len];
    let crc = u32_at(rec, len - 4);
    if crc32fast::hash(&rec[..len - 4]) != crc {
        return Decoded::Corrupt(len);
    }
    let Some(kind) = Kind::from_u8(rec[4]) else {
        return Decoded::Corrupt(len);
    };
    let mut w8 = [0u8; 8];
    w8.copy_from_slice(&rec[5..13]);
    let seq = u64::from_le_bytes(w8);
    w8.copy_from_slice(&rec[13..21]);
    let ts = i64::from_le_bytes(w8);
    let subj_len = u16::from_le_bytes([rec[21], rec[22]]) as usize;
    let hdr_len = u32_at(rec, 23) as usize;
    let body = &rec[HEADER..len - 4];
    if subj_len.saturating_add(hdr_len) > body.len() {
        return Decoded::Corrupt(len);
    }
    let (subject, rest) = body.split_at(subj_len);
    let (headers, payload) = rest.split_at(hdr_len);
    Decoded::Record(
        Record {
            kind,
            seq,
            ts,
            subject,
            headers,
            payload,
        },
        len,
    )
}

/// A valid record of kind `Filler` exactly `len` bytes long (at least [`OVERHEAD`]), to
/// put over a corrupt one recovery stepped over, so that the next recovery need not.
pub fn filler(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let body = vec![0u8; len.saturating_sub(OVERHEAD)];
    encode(&mut out, Kind::Filler, 0, 0, b"", b"", &body);
    out
}

/// The record at `at` in `buf` made an erased one: kind `Erased`, subject, headers and
/// payload zeroed, checksum rewritten; its length and sequence stay. Returns false when
/// there is no message record there.
pub fn erase_in_place(buf: &mut [u8]) -> bool {
    let len = match decode(buf) {
        Decoded::Record(r, len) if r.kind == Kind::Msg => len,
        _ => return false,
    };
    buf[4] = Kind::Erased as u8;
    for b in &mut buf[HEADER..len - 4] {
        *b = 0;
    }
    let crc = crc32fast::hash(&buf[..len - 4]);
    buf[len - 4..len].copy_from_slice(&crc.to_le_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_cut() {
        let mut buf = Vec::new();
        encode(
            &mut buf,
            Kind::Msg,
            7,
            -3,
            b"foo.bar",
            b"NATS/1.0\r\n\r\n",
            b"hello",
        );
        assert_eq!(buf.len(), encoded_len(7, 12, 5));
        match decode(&buf) {
            Decoded::Record(r, n) => {
                assert_eq!(n, buf.len());
                assert_eq!((r.kind, r.seq, r.ts), (Kind::Msg, 7, -3));
                assert_eq!(
                    (r.subject, r.headers, r.payload),
                    (&b"foo.bar"[..], &b"NATS/1.0\r\n\r\n"[..], &b"hello"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut {cut}");
        }
        for i in 4..buf.len() {
            let mut flipped = buf.clone();
            flipped[i] ^= 0x10;
            assert!(matches!(decode(&flipped), Decoded::Corrupt(_)), "flip {i}");
        }
    }

    #[test]
    fn filler_has_the_length_asked_for() {
        for len in [OVERHEAD, OVERHEAD + 1, 500] {
            let f = filler(len);
            assert_eq!(f.len(), len);
            assert!(
                matches!(decode(&f), Decoded::Record(r, n) if r.kind == Kind::Filler && n == len)
            );
        }
    }

    #[test]
    fn erase_keeps_length_and_sequence() {
        let mut buf = Vec::new();
        encode(&mut buf, Kind::Msg, 9, 1, b"s", b"", b"secret");
        assert!(erase_in_place(&mut buf));
        match decode(&buf) {
            Decoded::Record(r, n) => {
                assert_eq!((r.kind, r.seq, n), (Kind::Erased, 9, buf.len()));
                assert!(r.payload.iter().all(|b| *b == 0));
            }
            other => panic!("{other:?}"),
        }
        assert!(!erase_in_place(&mut buf));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
