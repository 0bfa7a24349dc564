//! WebSocket transport for browser clients (nats.ws, nats.js `wsconnect`), as nats-server's
//! `websocket {}` listener serves them.
//!
//! ```text
//!  ws listener (reactor 0) ──AdoptWebsocket──► reactor k
//!     [TLS (wss)] ─► HTTP upgrade request (handshake.rs) ─► 101 ─► INFO as binary frames
//!     socket bytes ─► session.rs: frame.rs Decoder (in place) ─► NATS parser  (same as TCP)
//!     conn.out (NATS bytes) ─► session.rs: frames (≤ 64 KiB chunk) ─► [TLS] ─► socket
//! ```
//!
//! A WebSocket connection is an ordinary client connection whose transport has a WebSocket
//! layer: the same reactors, parser, subject index, slow-consumer and keepalive rules. Only
//! the upgrade (before INFO) and the framing differ.
//!
//! ## Why natrium frames WebSocket itself rather than with tungstenite
//!
//! The design card named tungstenite's `WebSocketContext`. It was set aside, for reasons
//! that are all about matching nats-server on the wire and keeping memory bounded:
//! - tungstenite assembles whole messages before handing them over (`max_message_size`,
//!   64 MiB by default). nats-server streams frame payload straight into its parser, and
//!   nats.ws writes everything it has buffered as one message, which may be larger than
//!   max_payload. The in-place decoder here needs no memory beyond the read buffer.
//! - permessage-deflate needs RSV1 frames, which tungstenite 0.28–0.30 rejects; compression
//!   would need a second framing path anyway.
//! - nats-server parses text frames as protocol (tungstenite validates them as UTF-8), sends
//!   4 KiB frames to browsers, answers broken frames with close frames whose reasons clients
//!   show (`mask bit missing`, `invalid close status code 1005`), and maps every close reason
//!   to a status; each is a line here, and a fight with the library there.
//! - The HTTP upgrade must give nats-server's (Go's) exact error responses, so it is ours
//!   anyway (httparse), and what remains of tungstenite would be a frame header codec.
//!
//! The codec is small, has no I/O, and is tested at every split point and with proptest.

pub mod client;
pub mod frame;
pub mod handshake;
pub mod session;

use std::time::Duration;

use crate::tls::TlsConfig;

/// natrium's handshake timeout when none is configured. nats-server has none (a silent
/// socket stays open until the client goes away); natrium bounds it (docs/compat.md).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `websocket {}` block (nats-server's `WebsocketOpts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebsocketOptions {
    /// Default `0.0.0.0` (nats-server's `DEFAULT_HOST`, set when a port is).
    pub host: String,
    /// None: no listener (nats-server starts it only once a port is set); Some(0): a random
    /// port (`-1` in the file).
    pub port: Option<u16>,
    pub advertise: String,
    pub no_tls: bool,
    pub tls: Option<TlsConfig>,
    pub same_origin: bool,
    pub allowed_origins: Vec<String>,
    pub compression: bool,
    /// Time for the TLS handshake plus the upgrade request; None: natrium's default.
    pub handshake_timeout: Option<Duration>,
    pub no_auth_user: String,
    /// `authorization { user, password, token, timeout }`.
    pub username: String,
    pub password: String,
    pub token: String,
    pub auth_timeout: Option<Duration>,
    pub jwt_cookie: String,
    pub user_cookie: String,
    pub pass_cookie: String,
    pub token_cookie: String,
    /// Extra headers for the 101 response, in the order written.
    pub headers: Vec<(String, String)>,
    /// Overrides `ping_interval` for WebSocket clients.
    pub ping_interval: Option<Duration>,
}

impl WebsocketOptions {
    pub fn enabled(&self) -> bool {
        self.port.is_some()
    }

    pub fn handshake_timeout(&self) -> Duration {
        match self.handshake_timeout {
            Some(d) if !d.is_zero() => d,
            _ => DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// nats-server's `validateWebsocketOptions`, plus refusals for what natrium cannot do
    /// yet (so a configuration never silently loses its security).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.tls.is_none() && !self.no_tls {
            return Err("websocket requires TLS configuration".into());
        }
        for ao in &self.allowed_origins {
            let u = handshake::parse_request_uri(ao)
                .map_err(|e| format!("unable to parse allowed origin: {e}"))?;
            if u.scheme != "http" && u.scheme != "https" {
                return Err(format!(
                    "unable to parse allowed origin {ao:?}: allowed origins must be absolute URLs with http or https scheme"
                ));
            }
            if u.host.is_empty() {
                return Err(format!(
                    "unable to parse allowed origin {ao:?}: host is required"
                ));
            }
            handshake::host_and_port(u.scheme == "https", u.host)
                .map_err(|e| format!("unable to parse allowed origin: {e}"))?;
        }
        if !self.no_auth_user.is_empty() {
            // natrium has no users yet, which is exactly nats-server's error for this case.
            return Err(format!(
                "no_auth_user: {:?} present, but users/nkeys are not defined",
                self.no_auth_user
            ));
        }
        if !self.username.is_empty() || !self.token.is_empty() || !self.password.is_empty() {
            return Err(
                "websocket authorization needs authentication, which natrium does not support yet"
                    .into(),
            );
        }
        if !self.jwt_cookie.is_empty() {
            return Err(format!(
                "trusted operators or trusted keys configuration is required for JWT authentication via cookie {:?}",
                self.jwt_cookie
            ));
        }
        for (key, _) in &self.headers {
            let k = key.to_ascii_lowercase();
            if matches!(
                k.as_str(),
                "host" | "content-length" | "connection" | "upgrade" | "nats-no-masking"
            ) {
                return Err(format!("websocket: invalid header {key:?} not allowed"));
            }
            if k.starts_with("sec-websocket-") {
                return Err(format!(
                    "websocket: invalid header {key:?}, \"Sec-WebSocket-\" prefix not allowed"
                ));
            }
        }
        Ok(())
    }
}

/// The close status nats-server sends for a close reason (`wsEnqueueCloseMessage`).
pub fn close_status(reason: crate::proto::errors::CloseReason) -> u16 {
    use crate::proto::errors::CloseReason as R;
    use frame::status;
    match reason {
        R::ClientClosed => status::NORMAL,
        R::AuthenticationTimeout
        | R::AuthenticationViolation
        | R::SlowConsumerPendingBytes
        | R::SlowConsumerWriteDeadline
        | R::MaxConnectionsExceeded
        | R::MaxControlLineExceeded
        | R::MaxSubscriptionsExceeded => status::POLICY_VIOLATION,
        R::TlsHandshakeError => status::TLS_HANDSHAKE,
        R::ParseError | R::ProtocolViolation | R::BadClientProtocolVersion => {
            status::PROTOCOL_ERROR
        }
        R::MaxPayloadExceeded => status::MESSAGE_TOO_BIG,
        R::WriteError | R::ReadError | R::StaleConnection | R::ServerShutdown => status::GOING_AWAY,
        _ => status::INTERNAL_ERROR,
    }
}

/// One entry of `allowed_origins`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigin {
    pub host: String,
    pub scheme: String,
    pub port: String,
}

/// Names of the cookies CONNECT may take credentials from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieNames {
    pub jwt: String,
    pub user: String,
    pub pass: String,
    pub token: String,
}

impl CookieNames {
    pub fn is_empty(&self) -> bool {
        self.jwt.is_empty() && self.user.is_empty() && self.pass.is_empty() && self.token.is_empty()
    }
}

/// What the reactors need to run the upgrade, built once at start-up.
#[derive(Debug, Clone, Default)]
pub struct WsConfig {
    /// The listener is wss:// (TLS before the HTTP request).
    pub tls: bool,
    pub same_origin: bool,
    pub allowed_origins: Vec<AllowedOrigin>,
    pub compression: bool,
    /// `headers {}` as response lines (`Name: value\r\n`…).
    pub raw_headers: String,
    pub cookie_names: CookieNames,
    pub handshake_timeout: Duration,
    pub ping_interval: Option<Duration>,
    /// The MQTT listener runs, so the `/mqtt` path takes MQTT connections.
    pub mqtt: bool,
}

impl WsConfig {
    pub fn new(o: &WebsocketOptions) -> WsConfig {
        let mut allowed = Vec::new();
        for ao in &o.allowed_origins {
            // Validated at start-up; an entry that does not parse is skipped, as nats-server does.
            let Ok(u) = handshake::parse_request_uri(ao) else {
                continue;
            };
            if let Ok((host, port)) = handshake::host_and_port(u.scheme == "https", u.host) {
                allowed.push(AllowedOrigin {
                    host,
                    scheme: u.scheme,
                    port,
                });
            }
        }
        let mut raw_headers = String::new();
        for (k, v) in &o.headers {
            raw_headers.push_str(k);
            raw_headers.push_str(": ");
            raw_headers.push_str(v);
            raw_headers.push_str("\r\n");
        }
        WsConfig {
            tls: o.tls.is_some(),
            same_origin: o.same_origin,
            allowed_origins: allowed,
            compression: o.compression,
            raw_headers,
            cookie_names: CookieNames {
                jwt: o.jwt_cookie.clone(),
                user: o.user_cookie.clone(),
                pass: o.pass_cookie.clone(),
                token: o.token_cookie.clone(),
            },
            handshake_timeout: o.handshake_timeout(),
            ping_interval: o.ping_interval.filter(|d| !d.is_zero()),
            mqtt: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_as_nats_server() {
        let mut o = WebsocketOptions {
            port: Some(0),
            ..Default::default()
        };
        assert_eq!(
            o.validate().unwrap_err(),
            "websocket requires TLS configuration"
        );
        o.no_tls = true;
        assert!(o.validate().is_ok());
        o.allowed_origins = vec!["ftp://x".into()];
        assert!(o.validate().unwrap_err().contains("http or https scheme"));
        o.allowed_origins = vec!["http://".into()];
        assert!(o.validate().unwrap_err().contains("host is required"));
        o.allowed_origins = vec!["https://a.example".into()];
        assert!(o.validate().is_ok());
        o.headers = vec![("Sec-WebSocket-Foo".into(), "x".into())];
        assert!(o.validate().unwrap_err().contains("prefix not allowed"));
        o.headers = vec![("Upgrade".into(), "x".into())];
        assert!(o.validate().unwrap_err().contains("not allowed"));
        let cfg = WsConfig::new(&WebsocketOptions {
            allowed_origins: vec!["https://A.example".into(), "http://b.example:8080".into()],
            ..Default::default()
        });
        assert_eq!(
            cfg.allowed_origins,
            vec![
                AllowedOrigin {
                    host: "a.example".into(),
                    scheme: "https".into(),
                    port: "443".into()
                },
                AllowedOrigin {
                    host: "b.example".into(),
                    scheme: "http".into(),
                    port: "8080".into()
                }
            ]
        );
    }
}
