//! The `-ERR` texts natrium sends and the reasons a connection closes.
//!
//! Every text here is the exact string nats-server's binary sends (read from its
//! `client.go`/`parser.go`, not from the protocol docs, which are wrong on several); the
//! close reasons are nats-server's `ClosedState` names as `/connz?state=closed` shows them.

/// `-ERR` texts that nats-server sends and then closes the connection.
pub const UNKNOWN_OP: &str = "Unknown Protocol Operation";
pub const AUTH_VIOLATION: &str = "Authorization Violation";
pub const AUTH_TIMEOUT: &str = "Authentication Timeout";
pub const MAX_CONNECTIONS: &str = "maximum connections exceeded";
pub const MAX_PAYLOAD: &str = "Maximum Payload Violation";
/// A JWT account's `limits.conn` is reached (nats-server's `ErrTooManyAccountConnections`).
pub const MAX_ACCOUNT_CONNECTIONS: &str = "maximum account active connections exceeded";
pub const MAX_CONTROL_LINE: &str = "maximum control line exceeded";
pub const TLS_REQUIRED: &str = "Secure Connection - TLS Required";
pub const BAD_CLIENT_PROTOCOL: &str = "invalid client protocol";
pub const NO_RESPONDERS_NEEDS_HEADERS: &str = "no responders requires headers support";
pub const STALE_CONNECTION: &str = "Stale Connection";

/// `-ERR` texts that leave the connection open.
pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
pub const INVALID_SUBJECT: &str = "Invalid Subject";
pub const AUTH_EXPIRED: &str = "User Authentication Expired";
pub const MAX_SUBSCRIPTIONS: &str = "maximum subscriptions exceeded";

/// Why a connection closed: nats-server's `ClosedState`, with its display strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
    /// A user JWT's expiry passed while connected.
    AuthenticationExpired,
    /// An account update revoked the user's JWT while connected.
    Revocation,
    TlsHandshakeError,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    WriteError,
    ReadError,
    ParseError,
    StaleConnection,
    ProtocolViolation,
    BadClientProtocolVersion,
    WrongPort,
    MaxConnectionsExceeded,
    MaxAccountConnectionsExceeded,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxSubscriptionsExceeded,
    ServerShutdown,
    MsgHeaderViolation,
    NoRespondersRequiresHeaders,
    DuplicateRoute,
    RouteRemoved,
    WrongGateway,
    MissingAccount,
    ClusterNameConflict,
    DuplicateServerName,
    MinimumVersionRequired,
    ClusterNamesIdentical,
    /// An MQTT client connected with a client ID another connection then took.
    DuplicateClientId,
}

impl CloseReason {
    /// The text nats-server shows for this reason in `/connz` and its logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::Revocation => "Credentials Revoked",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::DuplicateClientId => "Duplicate Client ID",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::MsgHeaderViolation => "Message Header Violation",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::RouteRemoved => "Route Removed",
            CloseReason::WrongGateway => "Wrong Gateway",
            CloseReason::MissingAccount => "Missing Account",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::DuplicateServerName => "Duplicate Server Name",
            CloseReason::MinimumVersionRequired => "Minimum Version Required",
            CloseReason::ClusterNamesIdentical => "Cluster Names Identical",
        }
    }

    /// nats-server skips the final flush for these (`markConnAsClosed`): the socket is broken
    /// or the peer is not reading, so writing more would only wait.
    pub fn skips_flush(self) -> bool {
        matches!(
            self,
            CloseReason::ReadError
                | CloseReason::WriteError
                | CloseReason::SlowConsumerPendingBytes
                | CloseReason::SlowConsumerWriteDeadline
                | CloseReason::TlsHandshakeError
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Appends `-ERR '<text>'\r\n` to `out`.
pub fn write_err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// Go's `%q` (`strconv.Quote`) of bytes, as nats-server formats subjects in its `-ERR`
/// texts and logs: printable characters as they are, `"` and `\` escaped, the rest as
/// `\n`-style, `\xNN`, `\uNNNN` escapes.
pub fn go_quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    let mut rest = b;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                // `valid_up_to` marks a UTF-8 boundary, so this cannot fail.
                (std::str::from_utf8(v).unwrap_or_default(), b)
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() || c == '\u{feff}' => {
                    if (c as u32) < 0x10000 {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        if let Some((&byte, tail)) = bad.split_first() {
            out.push_str(&format!("\\x{byte:02x}"));
            rest = tail;
        } else {
            rest = &[];
        }
    }
    out.push('"');
    out
}

/// `Permissions Violation for Publish to "<subject>"`.
pub fn publish_violation(subject: &[u8]) -> String {
    format!("Permissions Violation for Publish to {}", go_quote(subject))
}

/// `Permissions Violation for Publish with Reply of "<reply>"`.
pub fn reply_violation(reply: &[u8]) -> String {
    format!(
        "Permissions Violation for Publish with Reply of {}",
        go_quote(reply)
    )
}

/// `Permissions Violation for Subscription to "<subject>"` (`using queue "<q>"`), with the
/// `(sid "<sid>")` suffix nats-server adds when a reload removes the subscription.
pub fn subscription_violation(subject: &[u8], queue: Option<&[u8]>, sid: Option<&[u8]>) -> String {
    let mut s = format!(
        "Permissions Violation for Subscription to {}",
        go_quote(subject)
    );
    if let Some(q) = queue {
        s.push_str(&format!(" using queue {}", go_quote(q)));
    }
    if let Some(sid) = sid {
        s.push_str(&format!(" (sid {})", go_quote(sid)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote(b"foo.bar"), "\"foo.bar\"");
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote(b"\x01\x7f\n"), r#""\x01\x7f\n""#);
        assert_eq!(go_quote("ünï".as_bytes()), "\"ünï\"");
        assert_eq!(go_quote(b"a\xffb"), r#""a\xffb""#);
    }

    #[test]
    fn violation_texts() {
        assert_eq!(
            publish_violation(b"foo"),
            r#"Permissions Violation for Publish to "foo""#
        );
        assert_eq!(
            subscription_violation(b"foo", Some(b"q"), None),
            r#"Permissions Violation for Subscription to "foo" using queue "q""#
        );
        assert_eq!(
            subscription_violation(b"foo", None, Some(b"1")),
            r#"Permissions Violation for Subscription to "foo" (sid "1")"#
        );
    }
}
