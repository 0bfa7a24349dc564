//! Our side of the upgrade when this server dials a WebSocket (`ws://`, `wss://` leaf
//! remotes): the request nats-server's `leafNodeSolicitWSConnection` sends, and the checks
//! it makes on the hub's response.

use base64::Engine;

use super::handshake::accept_key;

/// The largest response accepted (nats-server reads it through a `MAX_CONTROL_LINE_SIZE`
/// buffer; a hub's 101 is a few hundred bytes).
const MAX_RESPONSE: usize = 16 * 1024;

/// nats-server's leaf path: a hub's WebSocket listener makes a leaf connection of a request
/// whose path ends with it.
pub const LEAF_PATH: &str = "/leafnode";

/// The upgrade request for `host_port` (Go's `URL.Host`) and the URL's `path`, and the key
/// the answer must be derived from. `no_masking` asks the hub to take unmasked frames.
pub fn leaf_request(host_port: &str, path: &str, no_masking: bool) -> (Vec<u8>, String) {
    let key = base64::engine::general_purpose::STANDARD.encode(fastrand::u128(..).to_ne_bytes());
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_matches('/');
    let target = if path.is_empty() {
        LEAF_PATH.to_string()
    } else {
        format!("/{path}{LEAF_PATH}")
    };
    let mut req = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_port}\r\nUser-Agent: Go-http-client/1.1\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Upgrade: websocket\r\n"
    );
    if no_masking {
        req.push_str("Nats-No-Masking: true\r\n");
    }
    req.push_str("\r\n");
    (req.into_bytes(), key)
}

/// What the bytes read so far say about the hub's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Partial,
    /// Upgraded: the response took `consumed` bytes (frames may follow); `no_masking`: the
    /// hub takes our frames unmasked.
    Upgraded {
        consumed: usize,
        no_masking: bool,
    },
    /// nats-server's error text.
    Failed(String),
}

/// Checks the hub's response as nats-server does: status 101, `Upgrade: websocket`,
/// `Connection: upgrade`, and the accept key of `key`.
pub fn check_answer(buf: &[u8], key: &str) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let consumed = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_RESPONSE => return Answer::Partial,
        Ok(httparse::Status::Partial) => return Answer::Failed("bufio: buffer full".into()),
        Err(e) => return Answer::Failed(format!("malformed HTTP response: {e}")),
    };
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let upgraded = resp.code == Some(101)
        && header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("upgrade"))
        && header("Sec-WebSocket-Accept") == Some(accept_key(key).as_str());
    if !upgraded {
        return Answer::Failed("invalid websocket connection".into());
    }
    Answer::Upgraded {
        consumed,
        no_masking: header("Nats-No-Masking") == Some("true"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_and_headers() {
        let (req, key) = leaf_request("hub:443", "", true);
        let req = String::from_utf8(req).unwrap();
        assert!(
            req.starts_with("GET /leafnode HTTP/1.1\r\nHost: hub:443\r\n"),
            "{req}"
        );
        assert!(req.contains(&format!("Sec-WebSocket-Key: {key}\r\n")));
        assert!(req.contains("Nats-No-Masking: true\r\n") && req.ends_with("\r\n\r\n"));
        let (req, _) = leaf_request("hub", "/some/path/?x=1", false);
        assert!(String::from_utf8(req)
            .unwrap()
            .starts_with("GET /some/path/leafnode HTTP/1.1"));
    }

    #[test]
    fn answers() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let mut with_frame = ok.as_bytes().to_vec();
        with_frame.extend_from_slice(b"\x82\x02hi");
        assert_eq!(
            check_answer(&with_frame, key),
            Answer::Upgraded {
                consumed: ok.len(),
                no_masking: false
            }
        );
        assert_eq!(check_answer(&ok.as_bytes()[..20], key), Answer::Partial);
        let wrong_key = ok.replace("s3pP", "AAAA");
        assert_eq!(
            check_answer(wrong_key.as_bytes(), key),
            Answer::Failed("invalid websocket connection".into())
        );
        let refused = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            check_answer(refused.as_bytes(), key),
            Answer::Failed(_)
        ));
        assert!(matches!(
            check_answer(b"garbage\r\n\r\n", key),
            Answer::Failed(_)
        ));
    }
}
