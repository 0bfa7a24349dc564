//! Reading and writing NATS header blocks (`NATS/1.0\r\nKey: value\r\n…\r\n`) as JetStream
//! needs them: the publish headers it acts on and the headers it adds to what it sends.

/// The value of the first header named `name` (case-sensitive, as nats-server's
/// `getHeader` compares), trimmed.
pub fn get<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if block.is_empty() {
        return None;
    }
    let mut lines = block.split(|&b| b == b'\n');
    lines.next(); // NATS/1.0 [status]
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if &line[..colon] == name.as_bytes() {
            return Some(line[colon + 1..].trim_ascii());
        }
    }
    None
}

/// [`get`] as text.
pub fn get_str<'a>(block: &'a [u8], name: &str) -> Option<&'a str> {
    get(block, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// The request asks for a newer JetStream API level than this server has
/// (`Nats-Required-Api-Level`, nats-server's `errorOnRequiredApiLevel`).
pub fn requires_newer_api(block: &[u8]) -> bool {
    get_str(block, "Nats-Required-Api-Level")
        .is_some_and(|l| l.parse::<i64>().unwrap_or(0) > crate::proto::info::JS_API_LEVEL as i64)
}

/// Builds a header block: `NATS/1.0[ status]` then each pair.
pub fn block(status: &str, pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"NATS/1.0");
    if !status.is_empty() {
        out.push(b' ');
        out.extend_from_slice(status.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for (k, v) in pairs {
        append(&mut out, k, v);
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn append(out: &mut Vec<u8>, k: &str, v: &str) {
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A header block with `name` set to `value` (replacing its first occurrence, or appended).
pub fn set(block: &[u8], name: &str, value: &str) -> Vec<u8> {
    if get(block, name).is_none() {
        return extend(block, &[(name, value)]);
    }
    let mut out = Vec::with_capacity(block.len() + value.len());
    let mut done = false;
    for (i, line) in block.split(|&b| b == b'\n').enumerate() {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if i > 0 && !done {
            if let Some(colon) = text.iter().position(|&b| b == b':') {
                if &text[..colon] == name.as_bytes() {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(value.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    done = true;
                    continue;
                }
            }
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    // The split leaves an empty piece after the final newline.
    out.pop();
    out
}

/// A stored header block with more headers appended (before its closing blank line), or
/// a new block of them when there was none.
pub fn extend(stored: &[u8], pairs: &[(&str, &str)]) -> Vec<u8> {
    let Some(body) = stored.strip_suffix(b"\r\n\r\n") else {
        return block("", pairs);
    };
    let mut out = Vec::with_capacity(stored.len() + 96);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    for (k, v) in pairs {
        append(&mut out, k, v);
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_extend() {
        let b = b"NATS/1.0\r\nNats-Msg-Id: 1 \r\nX: y\r\n\r\n";
        assert_eq!(get(b, "Nats-Msg-Id"), Some(&b"1"[..]));
        assert_eq!(get(b, "nats-msg-id"), None);
        assert_eq!(
            extend(b, &[("Nats-Stream", "S")]),
            b"NATS/1.0\r\nNats-Msg-Id: 1 \r\nX: y\r\nNats-Stream: S\r\n\r\n".to_vec()
        );
        assert_eq!(
            extend(b"", &[("A", "1")]),
            b"NATS/1.0\r\nA: 1\r\n\r\n".to_vec()
        );
        assert_eq!(
            set(b, "X", "z"),
            b"NATS/1.0\r\nNats-Msg-Id: 1 \r\nX: z\r\n\r\n".to_vec()
        );
        assert_eq!(
            set(b, "Y", "1"),
            b"NATS/1.0\r\nNats-Msg-Id: 1 \r\nX: y\r\nY: 1\r\n\r\n".to_vec()
        );
        assert_eq!(
            block("404 Message Not Found", &[]),
            b"NATS/1.0 404 Message Not Found\r\n\r\n".to_vec()
        );
    }
}
