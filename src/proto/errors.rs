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
pub const MAX_CONTROL_LINE: &str = "maximum control line exceeded";
pub const TLS_REQUIRED: &str = "Secure Connection - TLS Required";
pub const BAD_CLIENT_PROTOCOL: &str = "invalid client protocol";
pub const NO_RESPONDERS_NEEDS_HEADERS: &str = "no responders requires headers support";
pub const STALE_CONNECTION: &str = "Stale Connection";

/// `-ERR` texts that leave the connection open.
pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
pub const INVALID_SUBJECT: &str = "Invalid Subject";
pub const MAX_SUBSCRIPTIONS: &str = "maximum subscriptions exceeded";

/// Why a connection closed: nats-server's `ClosedState`, with its display strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
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
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxSubscriptionsExceeded,
    ServerShutdown,
    MsgHeaderViolation,
    NoRespondersRequiresHeaders,
}

impl CloseReason {
    /// The text nats-server shows for this reason in `/connz` and its logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::MsgHeaderViolation => "Message Header Violation",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
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
