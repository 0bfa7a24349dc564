//! One client connection as its reactor holds it: the socket, the parser and its unconsumed
//! input, the outbound buffer, the subscriptions by sid, the keepalive and deadline state,
//! and the counters `/connz` reports.
//!
//! Memory per idle connection is kept small on purpose: input is read into the reactor's
//! shared scratch buffer and only the tail of an incomplete operation is copied into
//! `inbuf`; `out` is released once drained and idle if it grew large.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustc_hash::FxHashMap;

use crate::auth::permissions::ConnPerms;
use crate::auth::UserEntry;
use crate::proto::errors::{self, CloseReason};
use crate::proto::info::ClientOptions;
use crate::proto::parser::Parser;
pub use crate::transport::ReadOutcome;
use crate::transport::Transport;

/// An outbound buffer larger than this is kept only while its connection is busy (see
/// `reactor::reclaim`); smaller ones stay with their connection.
pub const KEEP_OUT_CAPACITY: usize = 64 * 1024;

/// Traffic counters of one connection (nats-server's in/out msgs and bytes).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnStats {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    /// Times a producer was paused because this connection was behind (`/connz` `stalls`).
    pub stalls: u64,
}

/// Where a connection on a TLS port is in its TLS life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPhase {
    /// No TLS on this connection.
    None,
    /// INFO went out in plaintext; waiting for the client to complete the handshake.
    Upgrading,
    /// TLS before INFO: INFO is sent once the handshake completes.
    First,
    /// `handshake_first: auto`: waiting briefly to see whether the client starts TLS.
    AwaitFirstBytes,
    /// `allow_non_tls`: the first byte decides between TLS and plaintext.
    Sniff,
    /// TLS from the first byte, with no INFO before it (a leaf connection we dialled, a
    /// route either way): what the connection writes meanwhile waits for the handshake.
    Immediate,
    /// Handshake complete (or plaintext accepted on a mixed port).
    Done,
}

pub struct Conn {
    pub cid: u64,
    pub transport: Transport,
    pub tls_phase: TlsPhase,
    /// The TLS handshake (or the auto handshake-first wait) must finish by then.
    pub tls_deadline: Option<Instant>,
    /// A WebSocket connection's TLS handshake and HTTP upgrade must finish by then.
    pub ws_deadline: Option<Instant>,
    pub peer: SocketAddr,
    pub started: SystemTime,
    pub opts: ClientOptions,
    /// CONNECT has been received.
    pub connected: bool,
    /// Both sides support headers: deliveries may be HMSG and HPUB is accepted.
    pub headers: bool,
    pub parser: Parser,
    /// The unconsumed tail of an incomplete operation.
    pub inbuf: Vec<u8>,
    pub out: Vec<u8>,
    /// Bytes of `out` already written.
    pub out_pos: usize,
    /// Subscriptions by sid, holding keys into the reactor's subscription slab.
    pub subs: FxHashMap<Box<[u8]>, usize>,
    /// Queued in the reactor's dirty list for a flush this turn.
    pub dirty: bool,
    pub writable_armed: bool,
    /// Set once the connection is closing; it stops reading and drains `out`.
    pub closing: Option<CloseReason>,
    pub drain_deadline: Option<Instant>,
    /// Reading is paused until peers acknowledge interest (a deferred PONG).
    pub read_paused: bool,
    /// Reading is paused for the rest of this turn because a subscriber it publishes to is
    /// behind (nats-server's fast-producer stall).
    pub stalled: bool,
    /// Reading is paused until this connection's own outbound buffer drains: it published
    /// to itself while its own subscription was more than 3/4 of `max_pending` behind (a
    /// client busy publishing that reads later). Only it waits; its socket is not read, so
    /// TCP pushes back on it, and the write deadline still closes one that never reads.
    pub waits_for_own_drain: bool,
    /// Last time a write to this connection made progress.
    pub last_progress: Instant,
    /// Pending bytes at which the next mid-turn write is attempted (0: the default level).
    pub relieve_at: usize,
    /// Listed in the reactor's buffers to release once idle (see `reactor::reclaim`).
    pub big_out_listed: bool,
    /// Interest sequence the peers must acknowledge before this client's next PONG.
    pub needs_interest_seq: u64,
    pub deferred_pongs: u32,
    pub pings_out: u32,
    pub ping_at: Instant,
    pub auth_deadline: Option<Instant>,
    /// When the user's JWT expires.
    pub auth_expires: Option<Instant>,
    /// A user JWT's limits, with the server's applied (subscriptions, payload; -1: none).
    pub jwt_limits: Option<crate::auth::operator::JwtLimits>,
    /// The JWT account this client counts against (counted by `Shared::join_account`).
    pub counted_in_account: Option<u32>,
    /// When a write that has made no progress since becomes a slow consumer.
    pub write_deadline_at: Option<Instant>,
    /// Last time the client sent messages, subscriptions or a PING (nats-server's `lastIn`).
    pub last_in: Instant,
    pub last_activity: SystemTime,
    pub rtt: Option<Duration>,
    pub rtt_start: Option<Instant>,
    pub first_pong_sent: bool,
    /// Its connect event was published (so it gets a disconnect event).
    pub announced: bool,
    pub stats: ConnStats,
    /// The nonce sent in INFO (nkeys configured), which an nkey client signs.
    pub nonce: Option<Box<str>>,
    /// The configured user this connection authenticated as, if any.
    pub user: Option<Arc<UserEntry>>,
    /// The number of the account it is bound to (`Auth::accounts`; 0 = `$G`): which
    /// subject index its subscriptions and publishes use.
    pub account: u32,
    /// The user's permissions with this connection's caches; `None` = unrestricted.
    pub perms: Option<Box<ConnPerms>>,
    /// A bcrypt check of this connection's CONNECT is running off the reactor; reading
    /// waits for it.
    pub auth_pending: Option<PendingAuth>,
    /// `$G/user:alice`: the account and user nats-server adds to the log prefix.
    pub auth_label: Option<String>,
    /// Set when the connection is a route to another server rather than a client.
    pub route: Option<Box<crate::route::RouteState>>,
    /// Set when the connection is a leaf connection (to our hub, or from a leaf node).
    pub leaf: Option<Box<crate::leaf::LeafState>>,
    /// Set when the connection speaks MQTT rather than the NATS client protocol.
    pub mqtt: Option<Box<crate::mqtt::session::MqttConn>>,
    /// A server-to-server handshake must reach its next step by then (a dialled leaf
    /// connection waiting for the hub's INFO).
    pub peer_deadline: Option<Instant>,
}

/// What waits for a bcrypt verdict.
#[derive(Debug)]
pub struct PendingAuth {
    pub user: Option<Arc<UserEntry>>,
    /// The check re-validates a connected client after a reload (rather than a CONNECT).
    pub reload: bool,
}

impl Conn {
    pub fn new(
        cid: u64,
        transport: Transport,
        peer: SocketAddr,
        parser: Parser,
        now: Instant,
        ping_interval: Duration,
    ) -> Conn {
        Conn {
            cid,
            transport,
            tls_phase: TlsPhase::None,
            tls_deadline: None,
            ws_deadline: None,
            peer,
            started: SystemTime::now(),
            opts: ClientOptions::default(),
            connected: false,
            headers: false,
            parser,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            subs: FxHashMap::default(),
            dirty: false,
            writable_armed: false,
            closing: None,
            drain_deadline: None,
            read_paused: false,
            stalled: false,
            waits_for_own_drain: false,
            last_progress: now,
            big_out_listed: false,
            relieve_at: 0,
            needs_interest_seq: 0,
            deferred_pongs: 0,
            pings_out: 0,
            ping_at: now + ping_interval,
            auth_deadline: None,
            auth_expires: None,
            jwt_limits: None,
            counted_in_account: None,
            write_deadline_at: None,
            last_in: now,
            last_activity: SystemTime::now(),
            rtt: None,
            rtt_start: None,
            first_pong_sent: false,
            announced: false,
            stats: ConnStats::default(),
            nonce: None,
            user: None,
            account: 0,
            perms: None,
            auth_pending: None,
            auth_label: None,
            route: None,
            leaf: None,
            mqtt: None,
            peer_deadline: None,
        }
    }

    /// A route or leaf connection rather than a client.
    pub fn is_peer(&self) -> bool {
        self.route.is_some() || self.leaf.is_some()
    }

    /// Whether operations may be read and executed now (not paused for a deferred PONG, a
    /// stalled subscriber, its own backlog or a pending authentication).
    pub fn can_process(&self) -> bool {
        self.closing.is_none()
            && !self.read_paused
            && !self.stalled
            && !self.waits_for_own_drain
            && self.auth_pending.is_none()
            && !self.mqtt.as_ref().is_some_and(|m| m.awaiting_session)
    }

    /// Bytes the operation being parsed needs in all, when known (a message whose payload
    /// has not fully arrived).
    pub fn bytes_needed(&self) -> Option<usize> {
        match (&self.route, &self.leaf) {
            (Some(r), _) => r.parser.bytes_needed(),
            (_, Some(l)) => l.parser.bytes_needed(),
            _ => self.parser.bytes_needed(),
        }
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    pub fn is_open(&self) -> bool {
        self.closing.is_none()
    }

    /// The earliest deadline this connection has.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.ping_at;
        for d in [
            self.auth_deadline,
            self.auth_expires,
            self.drain_deadline,
            self.write_deadline_at,
            self.tls_deadline,
            self.ws_deadline,
            self.peer_deadline,
        ]
        .into_iter()
        .flatten()
        {
            t = t.min(d);
        }
        t
    }

    pub fn queue_err(&mut self, text: &str) {
        if self.mqtt.is_some() {
            // MQTT has no -ERR: the reactor's MQTT code answers in MQTT or closes.
            return;
        }
        log::trace!("{} - ->> [-ERR {text}]", self.label());
        errors::write_err(&mut self.out, text);
    }

    /// Queues `+OK` (verbose mode).
    pub fn queue_ok(&mut self) {
        if self.mqtt.is_some() {
            return;
        }
        log::trace!("{} - ->> [OK]", self.label());
        self.out.extend_from_slice(crate::proto::OK);
    }

    pub fn queue_pong(&mut self) {
        if self.mqtt.is_some() {
            return;
        }
        log::trace!("{} - ->> [PONG]", self.label());
        self.out.extend_from_slice(crate::proto::PONG);
    }

    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        self.transport.read(buf)
    }

    /// Writes as much of `out` as the socket takes. Returns Ok(true) when everything was
    /// written (including TLS records buffered in rustls), Ok(false) when the socket is full.
    pub fn write_pending(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            let n = self.transport.write(&self.out[self.out_pos..])?;
            if n == 0 {
                // A subscriber that never quite catches up never empties `out`; reclaim the
                // written front once it is the larger half, or the buffer would keep growing
                // with everything ever sent to it.
                if self.out_pos >= self.out.len() / 2 {
                    self.out.drain(..self.out_pos);
                    self.out_pos = 0;
                }
                return Ok(false);
            }
            self.out_pos += n;
            self.last_progress = Instant::now();
        }
        self.out.clear();
        self.out_pos = 0;
        self.relieve_at = 0;
        self.transport.flush_records()
    }

    /// What nats-server calls this kind of connection in its TLS log lines.
    pub fn kind_name(&self) -> &'static str {
        if self.route.is_some() {
            "route"
        } else if self.leaf.is_some() {
            "leafnode"
        } else {
            "client"
        }
    }

    /// The connection's log prefix, as nats-server writes it: `ip:port - cid:N`, or for
    /// WebSocket `ip:port - wid:N`, with the `X-Forwarded-For` address first when given
    /// (`xff/ip:port - wid:N`).
    pub fn label(&self) -> ConnLabel<'_> {
        ConnLabel(self)
    }
}

pub struct ConnLabel<'a>(&'a Conn);

impl std::fmt::Display for ConnLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.transport.ws() {
            _ if self.0.route.is_some() => write!(f, "{} - rid:{}", self.0.peer, self.0.cid)?,
            _ if self.0.leaf.is_some() => write!(f, "{} - lid:{}", self.0.peer, self.0.cid)?,
            None => write!(f, "{} - cid:{}", self.0.peer, self.0.cid)?,
            Some(ws) => {
                match ws.negotiated.client_ip.as_deref() {
                    Some(ip) if ip.contains(':') => write!(f, "[{ip}]/")?,
                    Some(ip) => write!(f, "{ip}/")?,
                    None => {}
                }
                write!(f, "{} - wid:{}", self.0.peer, self.0.cid)?
            }
        }
        let o = &self.0.opts;
        if !o.name.is_empty() || !o.lang.is_empty() || !o.version.is_empty() {
            let mut parts = Vec::new();
            if !o.version.is_empty() {
                parts.push(format!("v{}", o.version));
            }
            if !o.lang.is_empty() {
                parts.push(o.lang.clone());
            }
            if !o.name.is_empty() {
                parts.push(o.name.clone());
            }
            write!(f, " - {:?}", parts.join(":"))?;
        }
        if let Some(acs) = &self.0.auth_label {
            write!(f, " - {acs:?}")?;
        }
        Ok(())
    }
}
