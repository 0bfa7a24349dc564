//! The HTTP upgrade request of a WebSocket connection, checked as nats-server's `wsUpgrade`
//! checks it, with its HTTP error responses.
//!
//! Pure functions over the bytes read so far: [`process`] says whether more are needed, or
//! gives the `101 Switching Protocols` response and what was negotiated, or the error
//! response. nats-server answers through Go's `net/http`, so the error responses are Go's:
//! `http.Error` (status text body, `Sec-Websocket-Version: 13`, `X-Content-Type-Options:
//! nosniff`, `Date`, `Content-Length`), and, for requests Go refuses before the handler
//! runs (unparsable, header too large, HTTP/1.1 without Host), Go's bare `Connection: close`
//! replies. After an `http.Error` an HTTP/1.1 connection stays open for another request, as
//! with Go (bounded here by the handshake timeout).

use std::net::IpAddr;

use base64::Engine;

use super::session::{Cookies, Negotiated};
use super::WsConfig;

/// The largest upgrade request accepted; beyond it the answer is Go's `431`. Go allows
/// 1 MiB of headers; browsers send a few hundred bytes plus cookies (at most ~8 KiB each).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Headers per request (httparse needs a fixed array).
const MAX_HEADERS: usize = 100;

const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const PMC_RESPONSE: &str = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";

/// Which kind of connection the request path asks for (nats-server's path routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    /// A path ending in `/leafnode`: a leaf connection when the leaf listener is configured;
    /// otherwise nats-server upgrades, logs "Not configured to accept leaf node connections"
    /// and closes.
    Leaf,
    /// A path ending in `/mqtt`, when the MQTT listener is configured: an MQTT connection.
    Mqtt,
}

#[derive(Debug)]
pub enum Outcome {
    /// The request is not complete yet.
    Partial,
    Upgrade {
        response: Vec<u8>,
        negotiated: Negotiated,
        kind: Kind,
    },
    Reject(Reject),
}

#[derive(Debug)]
pub struct Reject {
    pub response: Vec<u8>,
    /// Close after the response (otherwise wait for another request on the connection).
    pub close: bool,
    /// nats-server's error log text (after `<addr> - `), when it logs one.
    pub log: Option<String>,
    /// Request bytes used (the rest may be a next request).
    pub consumed: usize,
}

/// Checks the request in `buf` (everything read since the last request).
pub fn process(buf: &[u8], cfg: &WsConfig) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_REQUEST {
                return Outcome::Reject(go_plain(
                    "431 Request Header Fields Too Large",
                    "431 Request Header Fields Too Large",
                ));
            }
            return Outcome::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Outcome::Reject(go_plain(
                "431 Request Header Fields Too Large",
                "431 Request Header Fields Too Large",
            ))
        }
        Err(_) => return Outcome::Reject(go_plain("400 Bad Request", "400 Bad Request")),
    };
    if consumed > MAX_REQUEST {
        return Outcome::Reject(go_plain(
            "431 Request Header Fields Too Large",
            "431 Request Header Fields Too Large",
        ));
    }
    let minor = req.version.unwrap_or(1);
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("/");
    let h = Headers(req.headers);
    let host = h.get("Host").unwrap_or("");
    if minor == 1 && h.get("Host").is_none() {
        return Outcome::Reject(go_plain(
            "400 Bad Request: missing required Host header",
            "400 Bad Request: missing required Host header",
        ));
    }
    // Go keeps an HTTP/1.1 connection open after an error unless the client asked to close;
    // HTTP/1.0 closes.
    let client_close = h.contains("Connection", "close");
    let close = minor == 0 || client_close;
    let reject = |status: u16, why: String| {
        Outcome::Reject(Reject {
            response: http_error(minor, status, client_close && minor == 1),
            close,
            log: Some(format!("websocket handshake error: {why}")),
            consumed,
        })
    };
    let escaped = path.split(['?', '#']).next().unwrap_or("");
    let kind = if escaped.ends_with("/leafnode") {
        Kind::Leaf
    } else if escaped.ends_with("/mqtt") {
        if !cfg.mqtt {
            // nats-server's answer when MQTT is not enabled.
            return reject(404, "mqtt websocket endpoint not enabled".into());
        }
        Kind::Mqtt
    } else {
        Kind::Client
    };
    if method != "GET" {
        return reject(405, "request method must be GET".into());
    }
    if host.is_empty() {
        return reject(400, "'Host' missing in request".into());
    }
    if !h.contains("Upgrade", "websocket") {
        return reject(400, "invalid value for header 'Upgrade'".into());
    }
    if !h.contains("Connection", "Upgrade") {
        return reject(400, "invalid value for header 'Connection'".into());
    }
    let key = h.get("Sec-Websocket-Key").unwrap_or("");
    if key.is_empty() {
        return reject(400, "key missing".into());
    }
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return reject(400, "invalid websocket key".into()),
    }
    if !h.contains("Sec-Websocket-Version", "13") {
        return reject(400, "invalid version".into());
    }
    if let Err(e) = check_origin(&h, host, cfg) {
        return reject(403, format!("origin not allowed: {e}"));
    }
    let compression = cfg.compression && pmc_offered(&h);
    let no_masking = h.get("Nats-No-Masking") == Some("true");
    if consumed < buf.len() {
        return reject(400, "client sent data before handshake is complete".into());
    }

    let mut response = Vec::with_capacity(256);
    response.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    response.extend_from_slice(accept_key(key).as_bytes());
    response.extend_from_slice(b"\r\n");
    if compression {
        response.extend_from_slice(PMC_RESPONSE.as_bytes());
    }
    if no_masking {
        response.extend_from_slice(b"Nats-No-Masking: true\r\n");
    }
    if kind == Kind::Mqtt {
        response.extend_from_slice(b"Sec-WebSocket-Protocol: mqtt\r\n");
    }
    response.extend_from_slice(cfg.raw_headers.as_bytes());
    response.extend_from_slice(b"\r\n");

    let mut negotiated = Negotiated {
        compression,
        no_masking,
        ..Default::default()
    };
    if let Some(cip) = h.get_raw("X-Forwarded-For") {
        if cip.parse::<IpAddr>().is_ok() {
            negotiated.client_ip = Some(cip.to_string());
        }
    }
    if kind != Kind::Leaf {
        if let Some(ua) = h.get("User-Agent").filter(|ua| ua.starts_with("Mozilla/")) {
            negotiated.browser = true;
            negotiated.no_compressed_fragments =
                compression && ua.contains("Version/") && ua.contains("Safari/");
        }
        negotiated.cookies = cookies(&h, cfg);
    }
    Outcome::Upgrade {
        response,
        negotiated,
        kind,
    }
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(WS_GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

struct Headers<'a>(&'a [httparse::Header<'a>]);

impl<'a> Headers<'a> {
    fn values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }

    /// The first value, trimmed as Go's header parsing trims it.
    fn get(&self, name: &'a str) -> Option<&'a str> {
        self.values(name)
            .next()
            .map(|v| v.trim_matches([' ', '\t']))
    }

    fn get_raw(&self, name: &'a str) -> Option<&'a str> {
        self.get(name)
    }

    /// nats-server's `wsHeaderContains`: a comma-separated token equal (ignoring case) to
    /// `value` in any of the header's lines.
    fn contains(&self, name: &'a str, value: &str) -> bool {
        self.values(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(value))
        })
    }
}

/// nats-server's `wsPMCExtensionSupport(header, true)`: permessage-deflate is offered.
fn pmc_offered(h: &Headers<'_>) -> bool {
    h.values("Sec-Websocket-Extensions").any(|list| {
        list.split(',').any(|ext| {
            ext.split(';').any(|p| {
                p.trim_matches([' ', '\t'])
                    .eq_ignore_ascii_case("permessage-deflate")
            })
        })
    })
}

fn cookies(h: &Headers<'_>, cfg: &WsConfig) -> Cookies {
    let mut c = Cookies::default();
    if cfg.cookie_names.is_empty() {
        return c;
    }
    for line in h.values("Cookie") {
        for part in line.split(';') {
            let Some((name, value)) = part.trim().split_once('=') else {
                continue;
            };
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let n = &cfg.cookie_names;
            if !n.jwt.is_empty() && name == n.jwt {
                c.jwt = value.to_string();
            } else if !n.user.is_empty() && name == n.user {
                c.user = value.to_string();
            } else if !n.pass.is_empty() && name == n.pass {
                c.pass = value.to_string();
            } else if !n.token.is_empty() && name == n.token {
                c.token = value.to_string();
            }
        }
    }
    c
}

/// nats-server's `checkOrigin`.
fn check_origin(h: &Headers<'_>, host: &str, cfg: &WsConfig) -> Result<(), String> {
    if !cfg.same_origin && cfg.allowed_origins.is_empty() {
        return Ok(());
    }
    let origin = match h.get("Origin").filter(|o| !o.is_empty()) {
        Some(o) => o,
        None => match h.get("Sec-Websocket-Origin").filter(|o| !o.is_empty()) {
            Some(o) => o,
            // No Origin: not a browser; the origin model does not apply (RFC 6455 §1.6).
            None => return Ok(()),
        },
    };
    let u = parse_request_uri(origin)?;
    let (oh, op) = host_and_port(u.scheme == "https", u.host)?;
    if cfg.same_origin {
        let (rh, rp) = host_and_port(cfg.tls, host)?;
        let rs = if cfg.tls { "https" } else { "http" };
        if oh != rh || op != rp || !u.scheme.eq_ignore_ascii_case(rs) {
            return Err("not same origin".into());
        }
    }
    if !cfg.allowed_origins.is_empty()
        && !cfg
            .allowed_origins
            .iter()
            .any(|a| a.host == oh && a.scheme == u.scheme && a.port == op)
    {
        return Err("not in the allowed list".into());
    }
    Ok(())
}

/// The parts of a URL the origin checks use.
#[derive(Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    /// Lower case, as Go's url package returns it.
    pub scheme: String,
    pub host: &'a str,
}

/// Go's `url.ParseRequestURI`, as far as origins need it: an absolute URL
/// (`scheme://host[:port][/path]`) or an absolute path.
pub fn parse_request_uri(s: &str) -> Result<Uri<'_>, String> {
    let invalid = || format!("parse {s:?}: invalid URI for request");
    if s.starts_with('/') {
        return Ok(Uri {
            scheme: String::new(),
            host: "",
        });
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err(invalid());
    };
    let mut chars = scheme.chars();
    let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return Err(if scheme.is_empty() {
            format!("parse {s:?}: missing protocol scheme")
        } else {
            format!("parse {s:?}: first path segment in URL cannot contain colon")
        });
    }
    let Some(rest) = rest.strip_prefix("//") else {
        // `mailto:x` and the like: no authority, so no host.
        return Ok(Uri {
            scheme: scheme.to_ascii_lowercase(),
            host: "",
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    Ok(Uri {
        scheme: scheme.to_ascii_lowercase(),
        host,
    })
}

/// nats-server's `wsGetHostAndPort`: splits `host:port`, defaulting the port to 443 or 80
/// when it is missing; the host is lower-cased.
pub fn host_and_port(tls: bool, hostport: &str) -> Result<(String, String), String> {
    let default = if tls { "443" } else { "80" };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        match rest.split_once(']') {
            None => return Err(format!("address {hostport}: missing ']' in address")),
            Some((h, "")) => {
                let _ = h;
                (hostport, default) // Go keeps the brackets when the port is missing
            }
            Some((h, after)) => match after.strip_prefix(':') {
                Some(p) => (h, p),
                None => return Err(format!("address {hostport}: missing port in address")),
            },
        }
    } else {
        match hostport.matches(':').count() {
            0 => (hostport, default),
            1 => hostport.split_once(':').unwrap_or((hostport, default)),
            _ => return Err(format!("address {hostport}: too many colons in address")),
        }
    };
    Ok((host.to_ascii_lowercase(), port.to_string()))
}

/// Go's `http.Error` response as nats-server's handshake sends it.
fn http_error(minor: u8, status: u16, connection_close: bool) -> Vec<u8> {
    let text = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let body = format!("{text}\n");
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    let mut r = format!(
        "HTTP/1.{minor} {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {date}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if connection_close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.push_str(&body);
    r.into_bytes()
}

/// Go's replies to requests it refuses before any handler runs.
fn go_plain(status_line: &str, body: &str) -> Reject {
    Reject {
        response: format!(
            "HTTP/1.1 {status_line}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes(),
        close: true,
        log: None,
        consumed: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::{AllowedOrigin, CookieNames};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> String {
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn reject_status(out: Outcome) -> (String, Option<String>) {
        match out {
            Outcome::Reject(r) => (
                String::from_utf8_lossy(&r.response)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
                r.log,
            ),
            other => panic!("not a reject: {other:?}"),
        }
    }

    #[test]
    fn accept_key_from_the_rfc() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn upgrade_and_partial() {
        let cfg = WsConfig::default();
        let req = request("User-Agent: Mozilla/5.0 Chrome\r\nX-Forwarded-For: 10.1.2.3\r\n");
        for cut in [0, 10, req.len() - 1] {
            assert!(matches!(
                process(&req.as_bytes()[..cut], &cfg),
                Outcome::Partial
            ));
        }
        match process(req.as_bytes(), &cfg) {
            Outcome::Upgrade {
                response,
                negotiated,
                kind,
            } => {
                assert_eq!(
                    String::from_utf8(response).unwrap(),
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                );
                assert!(negotiated.browser && !negotiated.compression);
                assert_eq!(negotiated.client_ip.as_deref(), Some("10.1.2.3"));
                assert_eq!(kind, Kind::Client);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejections_as_nats_server() {
        let cfg = WsConfig {
            allowed_origins: vec![AllowedOrigin {
                host: "good.example".into(),
                scheme: "http".into(),
                port: "8080".into(),
            }],
            ..Default::default()
        };
        let r = request("");
        let cases: Vec<(String, &str, Option<&str>)> = vec![
            (
                r.replacen("GET", "POST", 1),
                "HTTP/1.1 405 Method Not Allowed",
                Some("request method must be GET"),
            ),
            (
                r.replace("Upgrade: websocket\r\n", ""),
                "HTTP/1.1 400 Bad Request",
                Some("invalid value for header 'Upgrade'"),
            ),
            (
                r.replace("Connection: Upgrade\r\n", ""),
                "HTTP/1.1 400 Bad Request",
                Some("invalid value for header 'Connection'"),
            ),
            (
                r.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
                "HTTP/1.1 400 Bad Request",
                Some("key missing"),
            ),
            (
                r.replace(KEY, "abc"),
                "HTTP/1.1 400 Bad Request",
                Some("invalid websocket key"),
            ),
            (
                r.replace("Version: 13", "Version: 12"),
                "HTTP/1.1 400 Bad Request",
                Some("invalid version"),
            ),
            (
                request("Origin: http://evil.example\r\n"),
                "HTTP/1.1 403 Forbidden",
                Some("origin not allowed: not in the allowed list"),
            ),
            (
                r.replacen("GET / ", "GET /mqtt ", 1),
                "HTTP/1.1 404 Not Found",
                Some("mqtt websocket endpoint not enabled"),
            ),
            ("HELLO\r\n\r\n".into(), "HTTP/1.1 400 Bad Request", None),
            (
                r.replace("Host: 127.0.0.1:8080\r\n", ""),
                "HTTP/1.1 400 Bad Request: missing required Host header",
                None,
            ),
            (
                format!("{r}\u{82}\u{80}"),
                "HTTP/1.1 400 Bad Request",
                Some("client sent data before handshake is complete"),
            ),
        ];
        for (req, status, log) in cases {
            let (line, got_log) = reject_status(process(req.as_bytes(), &cfg));
            assert_eq!(line, status, "{req:?}");
            assert_eq!(
                got_log.as_deref(),
                log.map(|l| format!("websocket handshake error: {l}"))
                    .as_deref(),
                "{req:?}"
            );
        }
        assert!(matches!(
            process(
                request("Origin: http://good.example:8080\r\n").as_bytes(),
                &cfg
            ),
            Outcome::Upgrade { .. }
        ));
        // No Origin header: allowed.
        assert!(matches!(
            process(r.as_bytes(), &cfg),
            Outcome::Upgrade { .. }
        ));
        // Oversized.
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_REQUEST));
        assert_eq!(
            reject_status(process(big.as_bytes(), &cfg)).0,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn same_origin() {
        let cfg = WsConfig {
            same_origin: true,
            ..Default::default()
        };
        assert!(matches!(
            process(
                request("Origin: http://127.0.0.1:8080\r\n").as_bytes(),
                &cfg
            ),
            Outcome::Upgrade { .. }
        ));
        let (line, log) = reject_status(process(
            request("Origin: https://127.0.0.1:8080\r\n").as_bytes(),
            &cfg,
        ));
        assert_eq!(line, "HTTP/1.1 403 Forbidden");
        assert_eq!(
            log.as_deref(),
            Some("websocket handshake error: origin not allowed: not same origin")
        );
    }

    #[test]
    fn compression_cookies_and_headers() {
        let cfg = WsConfig {
            compression: true,
            raw_headers: "X-Custom: hello\r\n".into(),
            cookie_names: CookieNames {
                jwt: "jwt".into(),
                user: "u".into(),
                pass: "p".into(),
                token: "t".into(),
            },
            ..Default::default()
        };
        let req = request(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nCookie: u=alice; p=\"secret\"; other=1\r\nCookie: t=tok\r\n",
        );
        match process(req.as_bytes(), &cfg) {
            Outcome::Upgrade {
                response,
                negotiated,
                ..
            } => {
                let text = String::from_utf8(response).unwrap();
                assert!(text.ends_with(&format!("{PMC_RESPONSE}X-Custom: hello\r\n\r\n")));
                assert!(negotiated.compression);
                assert_eq!(negotiated.cookies.user, "alice");
                assert_eq!(negotiated.cookies.pass, "secret");
                assert_eq!(negotiated.cookies.token, "tok");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_port_and_uri() {
        assert_eq!(
            host_and_port(false, "Example.com").unwrap(),
            ("example.com".into(), "80".into())
        );
        assert_eq!(host_and_port(true, "example.com").unwrap().1, "443");
        assert_eq!(
            host_and_port(false, "[::1]:99").unwrap(),
            ("::1".into(), "99".into())
        );
        assert!(host_and_port(false, "::1").is_err());
        assert_eq!(
            parse_request_uri("HTTP://a.b:1/x").unwrap(),
            Uri {
                scheme: "http".into(),
                host: "a.b:1"
            }
        );
        assert!(parse_request_uri("null").is_err());
    }
}
