//! The NATS protocols: the parser for what clients send ([`parser`]), the parser and encoders
//! for what routes and leaf nodes exchange ([`peer`]), the encoders for what the server sends
//! to clients, the INFO/CONNECT documents ([`info`]) and the `-ERR` texts ([`errors`]).

pub mod errors;
pub mod info;
pub mod parser;
pub mod peer;

/// Protocol lines the server sends verbatim.
pub const PING: &[u8] = b"PING\r\n";
pub const PONG: &[u8] = b"PONG\r\n";
pub const OK: &[u8] = b"+OK\r\n";

/// A published message as the publisher wrote it; the size fields keep the publisher's own
/// digits because nats-server copies them into `MSG`/`HMSG` verbatim (`PUB foo 02` is
/// delivered as `MSG foo 1 02`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub subject: &'a [u8],
    pub reply: &'a [u8],
    /// Header block length; 0 for PUB.
    pub header_len: usize,
    /// The header-size field as sent (empty for PUB).
    pub header_text: &'a [u8],
    /// The total-size field as sent.
    pub size_text: &'a [u8],
    /// Headers followed by payload.
    pub data: &'a [u8],
}

/// Appends one delivery of `msg` to subscription `sid`.
///
/// A subscriber that did not ask for headers gets a `MSG` with the header block stripped and
/// the size recomputed, as nats-server's `msgHeader` does.
pub fn write_msg(out: &mut Vec<u8>, msg: &Message<'_>, sid: &[u8], receiver_has_headers: bool) {
    let has_headers = msg.header_len > 0;
    let body = if has_headers && !receiver_has_headers {
        msg.data.get(msg.header_len..).unwrap_or_default()
    } else {
        msg.data
    };
    out.reserve(msg.subject.len() + sid.len() + msg.reply.len() + body.len() + 40);
    out.extend_from_slice(if has_headers && receiver_has_headers {
        b"HMSG "
    } else {
        b"MSG "
    });
    out.extend_from_slice(msg.subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if !msg.reply.is_empty() {
        out.extend_from_slice(msg.reply);
        out.push(b' ');
    }
    if has_headers && receiver_has_headers {
        out.extend_from_slice(msg.header_text);
        out.push(b' ');
        out.extend_from_slice(msg.size_text);
    } else if has_headers {
        let mut num = itoa_buf();
        out.extend_from_slice(fmt_usize(&mut num, body.len()));
    } else {
        out.extend_from_slice(msg.size_text);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// Appends the no-responders status message nats-server sends to a requester
/// (`processInboundClientMsg`): `HMSG <reply> <sid> <n> <n>` with a 503 status header.
pub fn write_no_responders(out: &mut Vec<u8>, reply: &[u8], sid: &[u8], subject: &[u8]) {
    // 32 is the header block without the subject: "NATS/1.0 503\r\nNats-Subject: \r\n\r\n".
    let header_len = 32 + subject.len();
    let mut num = itoa_buf();
    out.extend_from_slice(b"HMSG ");
    out.extend_from_slice(reply);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    let n = fmt_usize(&mut num, header_len);
    out.extend_from_slice(n);
    out.push(b' ');
    out.extend_from_slice(n);
    out.extend_from_slice(b"\r\nNATS/1.0 503\r\nNats-Subject: ");
    out.extend_from_slice(subject);
    out.extend_from_slice(b"\r\n\r\n\r\n");
}

/// The trace of a message body, as nats-server's `traceMsgInternal` writes it after the
/// `<<-`/`->>` arrow: `MSG_PAYLOAD: ["hello"]` (Go's `%q`), cut to `max_len` bytes with `...`
/// inside the quotes when longer (`["hel..."]`; a cut may split a UTF-8 character, which then
/// shows as `\xNN` escapes, as in Go). An empty body is not traced (None); `max_len` 0 or less
/// means no limit.
pub fn traced_payload(body: &[u8], max_len: i64) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let limit = usize::try_from(max_len).unwrap_or(0);
    Some(match body.get(..limit) {
        Some(cut) if limit > 0 && body.len() > limit => {
            let q = parser::go_quote(cut);
            let inner = q.get(1..q.len().saturating_sub(1)).unwrap_or_default();
            format!("MSG_PAYLOAD: [\"{inner}...\"]")
        }
        _ => format!("MSG_PAYLOAD: [{}]", parser::go_quote(body)),
    })
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` in decimal into `buf` without allocating.
pub fn fmt_usize(buf: &mut [u8; 20], mut n: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traced_payloads_like_nats_server() {
        // Lines read from nats-server 2.15.1 run with `-V --max_traced_msg_len 3`.
        assert_eq!(
            traced_payload(b"hello", 3).unwrap(),
            r#"MSG_PAYLOAD: ["hel..."]"#
        );
        assert_eq!(
            traced_payload(b"abc", 3).unwrap(),
            r#"MSG_PAYLOAD: ["abc"]"#
        );
        assert_eq!(traced_payload(b"ab", 3).unwrap(), r#"MSG_PAYLOAD: ["ab"]"#);
        assert_eq!(
            traced_payload("\u{e9}\u{e9}".as_bytes(), 3).unwrap(),
            "MSG_PAYLOAD: [\"\u{e9}\\xc3...\"]"
        );
        assert_eq!(traced_payload(b"", 3), None);
        // No limit: Go's %q of the whole body.
        assert_eq!(
            traced_payload(b"NATS/1.0\r\n\r\nhi\x1b\x00\"", 0).unwrap(),
            r#"MSG_PAYLOAD: ["NATS/1.0\r\n\r\nhi\x1b\x00\""]"#
        );
        assert_eq!(
            traced_payload(b"hello", -1).unwrap(),
            r#"MSG_PAYLOAD: ["hello"]"#
        );
    }

    fn msg<'a>(
        reply: &'a [u8],
        header_len: usize,
        header_text: &'a [u8],
        size_text: &'a [u8],
        data: &'a [u8],
    ) -> Message<'a> {
        Message {
            subject: b"foo",
            reply,
            header_len,
            header_text,
            size_text,
            data,
        }
    }

    #[test]
    fn msg_frames() {
        let mut out = Vec::new();
        write_msg(&mut out, &msg(b"", 0, b"", b"2", b"hi"), b"1", true);
        assert_eq!(out, b"MSG foo 1 2\r\nhi\r\n");
        out.clear();
        write_msg(&mut out, &msg(b"", 0, b"", b"02", b"hi"), b"1", true);
        assert_eq!(out, b"MSG foo 1 02\r\nhi\r\n");
        out.clear();
        let h = msg(b"_INBOX.x", 12, b"12", b"17", b"NATS/1.0\r\n\r\nhello");
        write_msg(&mut out, &h, b"9", true);
        assert_eq!(
            out,
            b"HMSG foo 9 _INBOX.x 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
        );
        out.clear();
        write_msg(&mut out, &h, b"9", false);
        assert_eq!(out, b"MSG foo 9 _INBOX.x 5\r\nhello\r\n");
    }

    #[test]
    fn no_responders_exact_bytes() {
        let mut out = Vec::new();
        write_no_responders(&mut out, b"_INBOX.1", b"3", b"svc");
        let expect = b"HMSG _INBOX.1 3 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\n";
        assert_eq!(out, expect);
        // The declared size counts exactly the header block.
        let block = b"NATS/1.0 503\r\nNats-Subject: svc\r\n\r\n";
        assert_eq!(block.len(), 35);
    }

    #[test]
    fn numbers() {
        let mut b = itoa_buf();
        assert_eq!(fmt_usize(&mut b, 0), b"0");
        assert_eq!(fmt_usize(&mut b, 1048576), b"1048576");
        assert_eq!(
            fmt_usize(&mut b, usize::MAX),
            usize::MAX.to_string().as_bytes()
        );
    }
}
