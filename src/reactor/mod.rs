//! The reactor: one thread, one `mio::Poll`, one `Slab<Conn>` and one subject index.
//!
//! ```text
//!   acceptor (reactor 0) ──adopt──► reactor k          peers ◄──batches──► peers
//!        poll ─► readable: read into scratch ─► parser ─► ops ─► deliver into out buffers
//!             ─► writable: flush                              └► routed to peer outboxes
//!        end of turn: timers ─► flush dirty connections ─► send one batch per peer ─► close
//! ```
//!
//! Ownership: a reactor owns its connections, their subscriptions and its `Sublist` outright;
//! nothing on the message path takes a lock. Other reactors reach it only through its
//! channels (see [`inbox`]). The slab key of a connection is its mio `Token`.
//!
//! Invariants:
//! - A connection is read until `WouldBlock` or a per-turn byte budget; when the budget stops
//!   it, it is kept in `pending_reads` and the next poll does not block.
//! - Output is appended to the connection's buffer and flushed once per turn; WRITABLE is
//!   registered only while bytes remain.
//! - Closing is two-phase: `close` removes the subscriptions and stops reading at once;
//!   the socket is dropped after its last bytes are flushed (or a deadline passes), at the
//!   end of a turn, so tokens and subscription keys are never reused within a turn.
//! - Interest: this reactor's sublists (one per account: accounts are separate subject
//!   spaces) hold its own subscriptions (`Target::Local`) and its peers' announced interest
//!   (`Target::Remote`). A publish is matched once here, in its publisher's account; each
//!   peer with interest gets the message once, tagged with that account.

mod authn;
pub mod conn;
mod deliver;
mod websocket;
pub use deliver::MAX_REACTORS;
pub mod inbox;
mod ops;
mod reclaim;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error, info, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rustc_hash::FxHashMap;
use slab::Slab;

use crate::auth::Auth;
use crate::config::Options;
use crate::proto::errors::{self, CloseReason};
use crate::proto::parser::{Limits, ParseError, Parser, Status};
use crate::server::{ClosedClient, Shared, SubInfo};
use crate::subject::sublist::Sublist;
use crate::tls::HandshakeFirst;
use crate::transport::Transport;
use crate::websocket::session::as_frame_error;
use conn::{Conn, ReadOutcome, TlsPhase};
use inbox::{Batch, Inbox, InterestChange, ReactorHandle};

const LISTENER: Token = Token(usize::MAX - 1);
const WS_LISTENER: Token = Token(usize::MAX - 2);
const WAKER: Token = Token(usize::MAX);
/// Shared read buffer size; also the most one read call takes.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Bytes read from one connection per turn before others get their turn.
const READ_BUDGET: usize = 512 * 1024;
/// How long a closing connection may take to flush its last bytes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll timeout while waiting for a full peer channel to drain.
const BACKPRESSURE_RETRY: Duration = Duration::from_millis(1);

/// An account number, a subject and optional queue group, as interest is counted and
/// announced.
type InterestKey = (u32, Box<[u8]>, Option<Box<[u8]>>);

/// What a subscription in the index points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A key into this reactor's subscription slab.
    Local(usize),
    /// A peer reactor's interest; `weight` is its member count for queue groups.
    Remote { reactor: u16, weight: u32 },
}

/// One subscription of one connection.
pub struct Sub {
    pub conn: usize,
    /// The account of the connection (the subject index the subscription is in).
    pub account: u32,
    pub sid: Box<[u8]>,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    /// Auto-unsubscribe after this many deliveries (0 = never).
    pub max: u64,
    pub delivered: u64,
}

/// Requests other threads send a reactor.
pub enum Control {
    /// A socket accepted by reactor 0 for this reactor to serve.
    Adopt(TcpStream, SocketAddr),
    /// The same for a socket accepted on the WebSocket listener.
    AdoptWebsocket(TcpStream, SocketAddr),
    /// New options after a reload.
    Reload(Arc<Options>),
    /// Stop accepting and close every connection (shutdown).
    Shutdown,
    /// Lame duck: stop accepting; tell clients with an async INFO.
    LameDuck,
    /// Close up to this many clients (lame duck spreading).
    CloseSome(usize),
    /// Run a closure with read access to the reactor (monitoring snapshots).
    Inspect(Box<dyn FnOnce(&Reactor) + Send>),
    /// New users, credentials or permissions (a reload): new connections use them, and
    /// connected clients are re-checked against them.
    Auth(Arc<Auth>),
    /// The verdict of a bcrypt check run off the reactor for connection `token`.
    AuthVerdict { token: usize, cid: u64, ok: bool },
}

pub type Handle = ReactorHandle<Control>;

/// Per-peer sending state.
struct Peer {
    handle: Handle,
    /// Batches that did not fit in the channel, oldest first.
    backlog: VecDeque<Batch>,
    /// The batch being filled this turn.
    current: Batch,
    /// Highest interest sequence of ours this peer acknowledged.
    acked: u64,
    /// Highest interest sequence of theirs we applied (echoed back as `ack`).
    applied: u64,
    /// An ack is owed even if the batch has nothing else.
    ack_owed: bool,
}

pub struct Reactor {
    pub id: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    /// The WebSocket listener (reactor 0 only, when configured).
    ws_listener: Option<TcpListener>,
    pub conns: Slab<Conn>,
    pub subs: Slab<Sub>,
    /// One subject index per account, indexed by account number (`Auth::accounts`);
    /// grown on first use.
    pub sublists: Vec<Sublist<Target>>,
    pub shared: Arc<Shared>,
    pub opts: Arc<Options>,
    /// Who may connect and what they may do.
    pub auth: Arc<Auth>,
    inbox: Inbox<Control>,
    wake: Arc<inbox::WakeFlag>,
    peers: Vec<Option<Peer>>,
    /// Handles of all reactors, indexed by id (for handing accepted sockets over).
    all: Vec<Handle>,
    next_target: usize,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    pending_reads: Vec<usize>,
    /// Publishers paused until the next turn because a subscriber is behind.
    stalled: Vec<usize>,
    /// A subscriber that is draining, but slowly, passed 3/4 of max_pending this turn:
    /// publishers pause after their current operation and peer batches wait.
    pub(crate) congested: bool,
    closing: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Local interest counts per (subject, queue), kept only when there are peers.
    local_interest: FxHashMap<InterestKey, u32>,
    remote_interest: FxHashMap<(u16, InterestKey), u32>,
    pending_interest: Vec<InterestChange>,
    /// The interest sequence of the last batch round sent (0 = none yet).
    interest_seq: u64,
    /// Connections whose PONG waits for peers to acknowledge interest.
    pong_waiters: Vec<usize>,
    force_seq: bool,
    /// Subscriptions that reached their auto-unsubscribe count during a delivery loop.
    auto_unsub: Vec<usize>,
    /// The shared interest epoch this reactor last synchronised with.
    seen_epoch: u64,
    /// The undelivered rest of a peer batch, held while a local subscriber is congested.
    inbound_rest: Option<(Vec<u8>, usize)>,
    /// The last publish's match result (see `deliver::lookup`).
    last_match: Option<deliver::LastMatch>,
    matched_generation: u64,
    /// Reading paused because a peer channel is full.
    backpressure: bool,
    stopping: bool,
    lame_duck: bool,
    pub counters: Counters,
}

/// Counters of this reactor, published to the shared atomics once per turn.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    /// Producer pauses for subscribers that were behind (`/varz` `stalled_clients`).
    pub stalls: u64,
    pub routed_out: u64,
    pub routed_in: u64,
    pub polls: u64,
    pub events: u64,
}

impl Reactor {
    /// Builds reactor `id`. `listener` is given to reactor 0 only.
    pub fn new(
        id: usize,
        poll: Poll,
        inbox: Inbox<Control>,
        all: Vec<Handle>,
        listener: Option<TcpListener>,
        shared: Arc<Shared>,
    ) -> std::io::Result<Reactor> {
        let opts = shared.options();
        let auth = shared.auth();
        let wake = all[id].wake.clone();
        let peers = all
            .iter()
            .enumerate()
            .map(|(i, h)| {
                (i != id).then(|| Peer {
                    handle: h.clone(),
                    backlog: VecDeque::new(),
                    current: Batch {
                        from: id,
                        ..Default::default()
                    },
                    acked: 0,
                    applied: 0,
                    ack_owed: false,
                })
            })
            .collect();
        let mut r = Reactor {
            id,
            poll,
            listener,
            ws_listener: None,
            conns: Slab::new(),
            subs: Slab::new(),
            sublists: vec![Sublist::new()],
            shared,
            opts,
            auth,
            inbox,
            wake,
            peers,
            all,
            next_target: 0,
            scratch: vec![0; SCRATCH_SIZE],
            dirty: Vec::new(),
            pending_reads: Vec::new(),
            stalled: Vec::new(),
            congested: false,
            closing: Vec::new(),
            timers: BinaryHeap::new(),
            local_interest: FxHashMap::default(),
            remote_interest: FxHashMap::default(),
            pending_interest: Vec::new(),
            interest_seq: 0,
            pong_waiters: Vec::new(),
            force_seq: false,
            auto_unsub: Vec::new(),
            seen_epoch: 0,
            inbound_rest: None,
            last_match: None,
            matched_generation: 0,
            backpressure: false,
            stopping: false,
            lame_duck: false,
            counters: Counters::default(),
        };
        if let Some(l) = r.listener.as_mut() {
            r.poll
                .registry()
                .register(l, LISTENER, Interest::READABLE)?;
        }
        Ok(r)
    }

    /// Gives this reactor the WebSocket listener to accept on (reactor 0).
    pub fn set_websocket_listener(&mut self, mut l: TcpListener) -> std::io::Result<()> {
        self.poll
            .registry()
            .register(&mut l, WS_LISTENER, Interest::READABLE)?;
        self.ws_listener = Some(l);
        Ok(())
    }

    /// The subject index of account `account`, created on first use.
    pub(crate) fn sublist_mut(&mut self, account: u32) -> &mut Sublist<Target> {
        let i = account as usize;
        if i >= self.sublists.len() {
            self.sublists.resize_with(i + 1, Sublist::new);
        }
        &mut self.sublists[i]
    }

    pub fn has_peers(&self) -> bool {
        self.all.len() > 1
    }

    /// Runs the event loop until shutdown completes.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    error!("reactor {}: poll failed: {e}", self.id);
                    break;
                }
            }
            self.counters.polls += 1;
            self.congested = false;
            for token in std::mem::take(&mut self.stalled) {
                if let Some(c) = self.conns.get_mut(token) {
                    c.stalled = false;
                    self.pending_reads.push(token);
                }
            }
            // Peer traffic first: an interest change another reactor sent before this wake
            // must be in place before this reactor routes the publishes it is about to read.
            self.wake.clear();
            self.drain_control();
            self.drain_peers();
            for event in events.iter() {
                self.counters.events += 1;
                match event.token() {
                    LISTENER => self.accept_all(false),
                    WS_LISTENER => self.accept_all(true),
                    WAKER => {}
                    Token(t) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.on_readable(t);
                        }
                        if event.is_writable() {
                            self.flush(t);
                        }
                    }
                }
            }
            self.resume_reads();
            self.fire_timers();
            // Batches go out before replies: once a client sees any answer from this turn,
            // what this turn routed to other reactors is already in their channels.
            self.send_batches();
            self.flush_dirty();
            self.finish_closes();
            self.shared
                .publish(self.id, &self.counters, self.conns.len(), self.subs.len());
            if self.stopping && self.conns.is_empty() && self.peers_idle() {
                break;
            }
        }
        debug!("reactor {} stopped", self.id);
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.pending_reads.is_empty() {
            return Some(Duration::ZERO);
        }
        if !self.stalled.is_empty() {
            // Give the slow subscriber's socket a moment (a WRITABLE event ends it early).
            return Some(BACKPRESSURE_RETRY);
        }
        if self.backpressure || self.peers.iter().flatten().any(|p| !p.backlog.is_empty()) {
            return Some(BACKPRESSURE_RETRY);
        }
        let now = Instant::now();
        let mut t = self
            .timers
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now));
        if self.stopping {
            t = Some(t.map_or(Duration::from_millis(50), |d| {
                d.min(Duration::from_millis(50))
            }));
        }
        t
    }

    fn peers_idle(&self) -> bool {
        self.inbound_rest.is_none() && self.peers.iter().flatten().all(|p| p.backlog.is_empty())
    }

    // ----- accepting -------------------------------------------------------------------

    fn accept_all(&mut self, websocket: bool) {
        loop {
            let listener = if websocket {
                self.ws_listener.as_ref()
            } else {
                self.listener.as_ref()
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => {
                    let addr = crate::server::canonical_peer(addr);
                    let n = self.all.len();
                    let target = self.next_target % n;
                    self.next_target = self.next_target.wrapping_add(1);
                    if target == self.id {
                        if websocket {
                            self.adopt_websocket(stream, addr);
                        } else {
                            self.adopt(stream, addr);
                        }
                    } else if !self.all[target].send_control(if websocket {
                        Control::AdoptWebsocket(stream, addr)
                    } else {
                        Control::Adopt(stream, addr)
                    }) {
                        warn!("reactor {target} is gone; dropping connection from {addr}");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors and similar: nats-server logs and retries.
                    error!("Temporary Client Accept Error({e}), sleeping 10ms");
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    /// Registers an accepted socket with the poll and creates its connection (cid 0 until the
    /// caller assigns one). Returns the token, or None when the reactor is stopping or the
    /// socket cannot be registered.
    pub(super) fn register_conn(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        transport_setup: impl FnOnce(&mut Transport) -> Result<(), String>,
        ping_interval: Duration,
    ) -> Option<usize> {
        if self.stopping || self.lame_duck {
            return None;
        }
        let _ = stream.set_nodelay(true);
        let parser = Parser::new(Limits {
            max_control_line: self.opts.max_control_line,
            max_payload: self.opts.max_payload,
        });
        let entry = self.conns.vacant_entry();
        let token = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(token), Interest::READABLE)
        {
            error!("{peer}: cannot register connection: {e}");
            return None;
        }
        let mut transport = Transport::plain(stream);
        if let Err(e) = transport_setup(&mut transport) {
            error!("{peer} - {e}");
            let _ = self.poll.registry().deregister(transport.tcp_mut());
            return None;
        }
        entry.insert(Conn::new(
            0,
            transport,
            peer,
            parser,
            Instant::now(),
            ping_interval,
        ));
        Some(token)
    }

    /// Takes a newly accepted socket: sends INFO (or starts TLS first) and its timers.
    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr) {
        let opts = self.opts.clone();
        let Some(token) = self.register_conn(stream, peer, |_| Ok(()), opts.ping_interval) else {
            return;
        };
        let nonce = if self.auth.wants_nonce() {
            match crate::nkey::nonce() {
                Some(n) => Some(n),
                None => {
                    // Without randomness nkey clients cannot be authenticated: fail closed.
                    error!("{peer}: cannot generate a nonce; refusing the connection");
                    let mut conn = self.conns.remove(token);
                    let _ = self.poll.registry().deregister(conn.transport.tcp_mut());
                    return;
                }
            }
        } else {
            None
        };
        let now = Instant::now();
        let cid = self.shared.next_cid();
        let conn = &mut self.conns[token];
        conn.cid = cid;
        let count = self.shared.client_opened();
        debug!("{} - Client connection created", conn.label());
        let mut info = self.shared.info_for_client(cid, peer);
        if let Some(n) = nonce {
            info.nonce = n.clone();
            conn.nonce = Some(n.into());
        }
        if self.auth.required() {
            // Until CONNECT, any other operation is an Authorization Violation (or, with a
            // no_auth_user, authenticates as that user).
            conn.parser.set_expect_connect(true);
        }
        match (self.shared.tls_config(), opts.tls.as_ref()) {
            (Some(config), Some(tls)) => {
                conn.tls_deadline = Some(now + crate::tls::timeout(tls));
                if opts.allow_non_tls {
                    conn.tls_phase = TlsPhase::Sniff;
                    info.write_to(&mut conn.out);
                } else {
                    match tls.handshake_first {
                        HandshakeFirst::On => {
                            conn.tls_phase = TlsPhase::First;
                            if conn.transport.start_tls(config).is_err() {
                                self.close(token, CloseReason::TlsHandshakeError);
                                return;
                            }
                        }
                        HandshakeFirst::Auto(delay) => {
                            conn.tls_phase = TlsPhase::AwaitFirstBytes;
                            conn.tls_deadline = Some(now + delay);
                        }
                        HandshakeFirst::Off => {
                            conn.tls_phase = TlsPhase::Upgrading;
                            // INFO goes out in plaintext; everything after it is TLS.
                            let mut line = Vec::new();
                            info.write_to(&mut line);
                            let sent = conn.transport.write_raw(&line).unwrap_or(0);
                            if sent < line.len() || conn.transport.start_tls(config).is_err() {
                                self.close(token, CloseReason::WriteError);
                                return;
                            }
                        }
                    }
                }
                debug!(
                    "{} - Starting TLS client connection handshake",
                    conn.label()
                );
            }
            _ => info.write_to(&mut conn.out),
        }
        if self.auth.required() {
            if let Some(c) = self.conns.get_mut(token) {
                c.auth_deadline = Some(now + opts.effective_auth_timeout());
            }
        }
        self.mark_dirty(token);
        self.arm_timer(token);
        // nats-server sends INFO first and only then checks the limit.
        if opts.max_connections < 0 || (opts.max_connections > 0 && count > opts.max_connections) {
            if let Some(c) = self.conns.get_mut(token) {
                error!("{} - {}", c.label(), errors::MAX_CONNECTIONS);
                c.queue_err(errors::MAX_CONNECTIONS);
            }
            self.close(token, CloseReason::MaxConnectionsExceeded);
        }
    }

    /// Moves a connection through TLS set-up before its bytes reach the parser: decides
    /// TLS-or-not on the first byte (`allow_non_tls`, `handshake_first: auto`). Returns false
    /// when reading must wait.
    fn tls_progress(&mut self, token: usize) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if !matches!(conn.tls_phase, TlsPhase::Sniff | TlsPhase::AwaitFirstBytes) {
            return true;
        }
        let first = match conn.transport.peek_first_byte() {
            Ok(Some(b)) => b,
            Ok(None) => return true, // EOF: the read reports it
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        };
        let Some(config) = self.shared.tls_config() else {
            return true;
        };
        let timeout = self
            .opts
            .tls
            .as_ref()
            .map_or(crate::tls::TLS_TIMEOUT, crate::tls::timeout);
        if conn.tls_phase == TlsPhase::Sniff && first != 0x16 {
            // A plaintext client on a port that allows it.
            conn.tls_phase = TlsPhase::Done;
            conn.tls_deadline = None;
            return true;
        }
        conn.tls_phase = if conn.tls_phase == TlsPhase::Sniff {
            TlsPhase::Upgrading
        } else {
            TlsPhase::First
        };
        conn.tls_deadline = Some(Instant::now() + timeout);
        if conn.transport.start_tls(config).is_err() {
            self.close(token, CloseReason::TlsHandshakeError);
            return false;
        }
        self.arm_timer(token);
        true
    }

    /// Called after reads: when the handshake has just completed, logs it and, for
    /// TLS-first connections, sends INFO.
    fn tls_check_handshake(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if !matches!(conn.tls_phase, TlsPhase::Upgrading | TlsPhase::First)
            || conn.transport.is_handshaking()
        {
            return;
        }
        let first = conn.tls_phase == TlsPhase::First;
        conn.tls_phase = TlsPhase::Done;
        conn.tls_deadline = None;
        debug!("{} - TLS handshake complete", conn.label());
        if let Some((version, suite)) = conn.transport.tls_details() {
            debug!(
                "{} - TLS version {version}, cipher suite {suite}",
                conn.label()
            );
        }
        if first {
            let mut info = self.shared.info_for_client(conn.cid, conn.peer);
            info.nonce = conn.nonce.as_deref().unwrap_or_default().to_string();
            info.write_to(&mut conn.out);
        }
        self.mark_dirty(token);
    }

    // ----- reading ---------------------------------------------------------------------

    fn on_readable(&mut self, token: usize) {
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.transport.ws_handshaking())
            && !self.ws_handshake(token)
        {
            return;
        }
        if !self.tls_progress(token) {
            return;
        }
        if !self.process_held(token) {
            return;
        }
        let mut budget = READ_BUDGET;
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conns.get_mut(token) {
            if !conn.can_process() || self.backpressure {
                break;
            }
            if budget == 0 {
                if !self.pending_reads.contains(&token) {
                    self.pending_reads.push(token);
                }
                break;
            }
            match conn.read(&mut scratch) {
                ReadOutcome::Data(n) => {
                    budget = budget.saturating_sub(n);
                    // What peers routed here before these bytes arrived is delivered first.
                    self.drain_peers();
                    self.ingest(token, &scratch[..n]);
                    // Announce interest changes at once rather than at the end of the turn,
                    // so a publish on another reactor right after this SUB finds it.
                    if !self.pending_interest.is_empty() {
                        self.send_batches();
                    }
                }
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Eof => {
                    self.close(token, CloseReason::ClientClosed);
                    break;
                }
                ReadOutcome::Error(e) => {
                    if let Some(fe) = as_frame_error(&e) {
                        // nats-server: `c.Errorf("read error: %v", err)`, closed as a read error.
                        error!("{} - read error: {fe}", conn.label());
                        self.close(token, CloseReason::ReadError);
                    } else if conn.transport.is_handshaking() {
                        debug!("{} - TLS handshake error: {e}", conn.label());
                        self.close(token, CloseReason::TlsHandshakeError);
                    } else {
                        debug!("{} - Read error: {e}", conn.label());
                        self.close(token, CloseReason::ReadError);
                    }
                    break;
                }
            }
        }
        self.scratch = scratch;
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.transport.is_websocket() && c.transport.wants_write())
        {
            // A pong or the answer to a close frame.
            self.mark_dirty(token);
        }
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.tls_phase != TlsPhase::None)
        {
            self.tls_check_handshake(token);
            if self
                .conns
                .get(token)
                .is_some_and(|c| c.transport.wants_write())
            {
                self.mark_dirty(token);
            }
        }
    }

    /// Feeds freshly read bytes to a connection's parser.
    fn ingest(&mut self, token: usize, fresh: &[u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.inbuf.is_empty() {
            let used = self.process(token, fresh);
            if let Some(conn) = self.conns.get_mut(token) {
                if conn.is_open() && used < fresh.len() {
                    conn.inbuf.extend_from_slice(&fresh[used..]);
                }
            }
        } else {
            conn.inbuf.extend_from_slice(fresh);
            if conn
                .parser
                .bytes_needed()
                .is_some_and(|need| conn.inbuf.len() < need)
            {
                return;
            }
            let data = std::mem::take(&mut conn.inbuf);
            let used = self.process(token, &data);
            if let Some(conn) = self.conns.get_mut(token) {
                if conn.is_open() && used < data.len() {
                    let mut data = data;
                    data.drain(..used);
                    if data.capacity() > 4 * SCRATCH_SIZE && data.len() < SCRATCH_SIZE {
                        data.shrink_to(SCRATCH_SIZE);
                    }
                    conn.inbuf = data;
                }
            }
        }
    }

    /// Parses and executes operations from `data`; returns the bytes consumed. Stops early
    /// when the connection closes or pauses.
    fn process(&mut self, token: usize, data: &[u8]) -> usize {
        let mut pos = 0;
        let (in_msgs_before, subs_before) = match self.conns.get(token) {
            Some(c) => (c.stats.in_msgs, c.subs.len()),
            None => return 0,
        };
        let mut activity = false;
        while pos < data.len() {
            let Some(conn) = self.conns.get_mut(token) else {
                return pos;
            };
            if !conn.can_process() {
                break;
            }
            match conn.parser.parse(&data[pos..]) {
                Ok(Status::Complete(op, used)) => {
                    pos += used;
                    if self.execute(token, op) {
                        activity = true;
                    }
                    if self.congested {
                        self.stall(token);
                    }
                }
                Ok(Status::Incomplete) => break,
                Err(ParseError::NotConnect) if self.authenticate_no_auth_user(token) => {
                    // Bound to the no_auth_user: the same bytes parse again as usual.
                    continue;
                }
                Err(e) => {
                    self.parse_error(token, e, &data[pos..]);
                    return data.len();
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(token) {
            if activity || conn.stats.in_msgs != in_msgs_before || conn.subs.len() != subs_before {
                conn.last_in = Instant::now();
                conn.last_activity = std::time::SystemTime::now();
            }
        }
        pos
    }

    /// Pauses a publisher until the next turn, after which buffers have been flushed.
    fn stall(&mut self, token: usize) {
        if let Some(c) = self.conns.get_mut(token) {
            if !c.stalled {
                c.stalled = true;
                self.stalled.push(token);
            }
        }
    }

    fn resume_reads(&mut self) {
        if self.backpressure {
            return;
        }
        let pending = std::mem::take(&mut self.pending_reads);
        for token in pending {
            self.resume(token);
        }
    }

    /// Continues a connection that stopped early: first the input it already holds (kept
    /// while it was paused), then its socket.
    fn resume(&mut self, token: usize) {
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        if !conn.can_process() {
            return;
        }
        self.on_readable(token);
    }

    /// Runs the operations a connection still holds from an earlier pause. Returns whether
    /// its socket may be read now: not while it is paused again with operations still held
    /// (a flooding publisher would otherwise grow `inbuf` by a read per turn), but yes when
    /// what remains is only the start of an operation waiting for more bytes.
    fn process_held(&mut self, token: usize) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if conn.inbuf.is_empty() {
            return true;
        }
        if conn
            .parser
            .bytes_needed()
            .is_some_and(|need| conn.inbuf.len() < need)
        {
            return true;
        }
        let data = std::mem::take(&mut conn.inbuf);
        let used = self.process(token, &data);
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if conn.is_open() && used < data.len() {
            let mut data = data;
            data.drain(..used);
            conn.inbuf = data;
        }
        // `process` stops early only when the connection closed or paused; otherwise what is
        // left is an incomplete operation and reading must go on.
        conn.can_process()
    }

    /// Applies peer traffic when some reactor announced interest since we last looked.
    pub(crate) fn sync_interest(&mut self) {
        if !self.has_peers() {
            return;
        }
        let epoch = self
            .shared
            .interest_epoch
            .load(std::sync::atomic::Ordering::Acquire);
        if epoch != self.seen_epoch {
            self.seen_epoch = epoch;
            self.drain_peers();
        }
    }

    // ----- writing ---------------------------------------------------------------------

    pub(crate) fn mark_dirty(&mut self, token: usize) {
        if let Some(conn) = self.conns.get_mut(token) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(token);
            }
        }
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &token in &dirty {
            if let Some(c) = self.conns.get_mut(token) {
                c.dirty = false;
            }
            self.flush(token);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn flush(&mut self, token: usize) {
        let write_deadline = self.opts.write_deadline;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.pending() == 0 && !conn.writable_armed && !conn.transport.wants_write() {
            // A mid-turn write may have drained it already.
            self.resume_if_own_backlog_drained(token);
            return;
        }
        if conn.closing.is_some_and(|r| r.skips_flush()) {
            return;
        }
        let before = conn.pending();
        match conn.write_pending() {
            Ok(true) => {
                conn.write_deadline_at = None;
                if conn.writable_armed {
                    conn.writable_armed = false;
                    let _ = self.poll.registry().reregister(
                        conn.transport.tcp_mut(),
                        Token(token),
                        Interest::READABLE,
                    );
                }
            }
            Ok(false) => {
                let now = Instant::now();
                if conn.pending() < before || conn.write_deadline_at.is_none() {
                    conn.write_deadline_at = Some(now + write_deadline);
                    self.timers
                        .push(Reverse((now + write_deadline, token, conn.cid)));
                }
                if !conn.writable_armed {
                    conn.writable_armed = true;
                    let _ = self.poll.registry().reregister(
                        conn.transport.tcp_mut(),
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                }
            }
            Err(e) => {
                debug!("{} - Error flushing: {e}", conn.label());
                self.close(token, CloseReason::WriteError);
            }
        }
        self.resume_if_own_backlog_drained(token);
    }

    /// A publisher paused behind its own subscription (`Conn::waits_for_own_drain`) goes on
    /// once half of `max_pending` has drained: first with what it published meanwhile (held
    /// in `inbuf`), then its socket.
    fn resume_if_own_backlog_drained(&mut self, token: usize) {
        let half = self.opts.max_pending / 2;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.waits_for_own_drain && conn.pending() as i64 <= half {
            conn.waits_for_own_drain = false;
            if !self.pending_reads.contains(&token) {
                self.pending_reads.push(token);
            }
        }
    }

    // ----- closing ---------------------------------------------------------------------

    /// Starts closing a connection: removes its subscriptions, stops reading, and leaves the
    /// socket to drain. Idempotent.
    pub(crate) fn close(&mut self, token: usize, reason: CloseReason) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.closing.is_some() {
            return;
        }
        conn.closing = Some(reason);
        conn.drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
        conn.inbuf = Vec::new();
        if let Some(ws) = conn.transport.ws_mut() {
            if !ws.is_open() {
                // Still in the HTTP upgrade: not a client yet, nothing to record.
                self.closing.push(token);
                self.mark_dirty(token);
                return;
            }
            // nats-server's `wsEnqueueCloseMessage`: a close frame after the last data,
            // unless the socket is not worth writing to.
            if !reason.skips_flush() {
                ws.queue_close(crate::websocket::close_status(reason), reason.as_str());
            }
        }
        debug!("{} - Client connection closed: {reason}", conn.label());
        let sids: Vec<usize> = conn.subs.drain().map(|(_, k)| k).collect();
        let mut record = ClosedClient::from_conn(conn, reason);
        record.num_subs = sids.len();
        if self.opts.max_closed_clients > 0 {
            // `/connz?state=closed&subs=1` lists what a closed client was subscribed to.
            record.subscriptions = sids
                .iter()
                .filter_map(|&k| self.subs.get(k))
                .map(SubInfo::from)
                .collect();
        }
        for key in sids {
            self.remove_sub(key);
        }
        self.shared.client_closed(record);
        self.closing.push(token);
        self.mark_dirty(token);
    }

    fn finish_closes(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let now = Instant::now();
        let closing = std::mem::take(&mut self.closing);
        for token in closing {
            let done = match self.conns.get(token) {
                None => continue,
                Some(c) => {
                    (c.pending() == 0 && !c.transport.wants_write())
                        || c.closing.is_some_and(|r| r.skips_flush())
                        || c.drain_deadline.is_some_and(|d| d <= now)
                }
            };
            if done {
                let mut conn = self.conns.remove(token);
                reclaim::release(std::mem::take(&mut conn.out));
                let _ = self.poll.registry().deregister(conn.transport.tcp_mut());
                let _ = conn.transport.tcp().shutdown(std::net::Shutdown::Both);
            } else {
                self.closing.push(token);
            }
        }
    }

    // ----- timers ----------------------------------------------------------------------

    pub(crate) fn arm_timer(&mut self, token: usize) {
        if let Some(c) = self.conns.get(token) {
            self.timers.push(Reverse((c.next_deadline(), token, c.cid)));
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        // Take every due entry first and re-arm afterwards, so a deadline that is still due
        // after its handler ran can never keep this loop spinning.
        let mut due = Vec::new();
        while let Some(Reverse((at, token, cid))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((at, token, cid));
        }
        for (at, token, cid) in due {
            let Some(conn) = self.conns.get(token) else {
                continue;
            };
            if conn.cid != cid {
                continue;
            }
            // Entries are not removed when a deadline moves; a stale one just re-arms.
            if conn.next_deadline() > now {
                if conn.next_deadline() != at {
                    self.arm_timer(token);
                }
                continue;
            }
            self.on_deadline(token, now);
            if let Some(c) = self.conns.get(token) {
                let next = c.next_deadline().max(now + Duration::from_millis(1));
                self.timers.push(Reverse((next, token, c.cid)));
            }
        }
    }

    fn on_deadline(&mut self, token: usize, now: Instant) {
        let opts = self.opts.clone();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.closing.is_some() {
            if conn.drain_deadline.is_some_and(|d| d <= now) {
                // Give up on the last bytes; finish_closes drops it this turn.
                conn.drain_deadline = None;
                conn.out_pos = conn.out.len();
            }
            return;
        }
        if conn.ws_deadline.is_some_and(|d| d <= now) {
            conn.ws_deadline = None;
            if conn.transport.ws_handshaking() {
                // Go's http server (nats-server's ReadTimeout) closes without a response.
                debug!("{} - websocket handshake timeout", conn.peer);
                self.close(token, CloseReason::ReadError);
                return;
            }
        }
        if conn.tls_deadline.is_some_and(|d| d <= now) {
            conn.tls_deadline = None;
            if conn.tls_phase == TlsPhase::AwaitFirstBytes {
                // handshake_first auto: the client did not start TLS; INFO first, then it
                // upgrades.
                let timeout = opts
                    .tls
                    .as_ref()
                    .map_or(crate::tls::TLS_TIMEOUT, crate::tls::timeout);
                let mut line = Vec::new();
                let mut info = self.shared.info_for_client(conn.cid, conn.peer);
                info.nonce = conn.nonce.as_deref().unwrap_or_default().to_string();
                info.write_to(&mut line);
                let Some(config) = self.shared.tls_config() else {
                    return;
                };
                if conn.transport.write_raw(&line).unwrap_or(0) < line.len()
                    || conn.transport.start_tls(config).is_err()
                {
                    self.close(token, CloseReason::WriteError);
                    return;
                }
                conn.tls_phase = TlsPhase::Upgrading;
                conn.tls_deadline = Some(now + timeout);
                return;
            }
            if matches!(
                conn.tls_phase,
                TlsPhase::Upgrading | TlsPhase::First | TlsPhase::Sniff
            ) {
                debug!("{} - TLS handshake timeout", conn.label());
                // Plaintext: the peer may be a client that never started TLS.
                let mut line = Vec::new();
                errors::write_err(&mut line, errors::TLS_REQUIRED);
                let _ = conn.transport.write_raw(&line);
                self.close(token, CloseReason::TlsHandshakeError);
                return;
            }
        }
        if conn.auth_deadline.is_some_and(|d| d <= now) {
            conn.auth_deadline = None;
            conn.queue_err(errors::AUTH_TIMEOUT);
            debug!("{} - {}", conn.label(), errors::AUTH_TIMEOUT);
            self.close(token, CloseReason::AuthenticationTimeout);
            return;
        }
        if conn.write_deadline_at.is_some_and(|d| d <= now) {
            conn.write_deadline_at = None;
            info!(
                "{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded with {} chunks of {} total bytes.",
                conn.label(),
                opts.write_deadline,
                1,
                conn.pending()
            );
            self.counters.slow_consumers += 1;
            self.close(token, CloseReason::SlowConsumerWriteDeadline);
            return;
        }
        if conn.ping_at <= now {
            self.ping_timer(token, now);
        }
    }

    /// nats-server's `processPingTimer`: skip the PING when the client was recently active
    /// and an RTT is known; close as stale after `ping_max` unanswered PINGs.
    fn ping_timer(&mut self, token: usize, now: Instant) {
        let opts = self.opts.clone();
        let ping_interval = self.ping_interval_for(token);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.ping_at = now + ping_interval;
        let need_rtt = conn.rtt.is_none()
            || conn
                .rtt_start
                .is_none_or(|s| now.duration_since(s) > Duration::from_secs(3600));
        if now.duration_since(conn.last_in) < ping_interval && !need_rtt {
            debug!(
                "{} - Delaying PING due to remote client data or ping",
                conn.label()
            );
            return;
        }
        if conn.pings_out + 1 > opts.ping_max {
            debug!("{} - Stale Client Connection - Closing", conn.label());
            conn.queue_err(errors::STALE_CONNECTION);
            self.close(token, CloseReason::StaleConnection);
            return;
        }
        conn.pings_out += 1;
        conn.rtt_start = Some(now);
        conn.out.extend_from_slice(crate::proto::PING);
        if log::log_enabled!(log::Level::Trace) {
            trace!("{} - ->> [PING]", conn.label());
        }
        self.mark_dirty(token);
    }

    // ----- control ---------------------------------------------------------------------

    fn drain_control(&mut self) {
        while let Ok(msg) = self.inbox.control.try_recv() {
            match msg {
                Control::Adopt(stream, addr) => self.adopt(stream, addr),
                Control::AdoptWebsocket(stream, addr) => self.adopt_websocket(stream, addr),
                Control::Reload(opts) => self.reload(opts),
                Control::Shutdown => self.shutdown(),
                Control::LameDuck => self.enter_lame_duck(),
                Control::CloseSome(n) => self.close_some(n),
                Control::Inspect(f) => f(self),
                Control::Auth(auth) => self.reload_auth(auth),
                Control::AuthVerdict { token, cid, ok } => self.auth_verdict(token, cid, ok),
            }
        }
    }

    fn reload(&mut self, opts: Arc<Options>) {
        let limits = Limits {
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
        };
        for (_, c) in self.conns.iter_mut() {
            c.parser.set_limits(Limits {
                max_control_line: limits.max_control_line,
                max_payload: limits.max_payload,
            });
        }
        self.opts = opts;
    }

    fn stop_listening(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.ws_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        self.stop_listening();
        let tokens: Vec<usize> = self.conns.iter().map(|(t, _)| t).collect();
        for t in tokens {
            self.close(t, CloseReason::ServerShutdown);
        }
    }

    fn enter_lame_duck(&mut self) {
        self.lame_duck = true;
        self.stop_listening();
        let tokens: Vec<usize> = self.conns.iter().map(|(t, _)| t).collect();
        for t in tokens {
            let Some(c) = self.conns.get_mut(t) else {
                continue;
            };
            if c.is_open() && c.opts.protocol >= 1 && !c.transport.ws_handshaking() {
                let mut info = self.shared.info_for_conn(c);
                info.ldm = true;
                info.write_to(&mut c.out);
                self.mark_dirty(t);
            }
        }
    }

    fn close_some(&mut self, n: usize) {
        let tokens: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_open())
            .map(|(t, _)| t)
            .take(n)
            .collect();
        for t in tokens {
            self.close(t, CloseReason::ServerShutdown);
        }
    }

    // ----- peers -----------------------------------------------------------------------

    /// Applies what peers sent. While a local subscriber is congested the rest waits in the
    /// channel, which in turn pushes back on the peers' publishers.
    fn drain_peers(&mut self) {
        if let Some((msgs, offset)) = self.inbound_rest.take() {
            self.deliver_routed_from(msgs, offset);
        }
        while !self.congested && self.inbound_rest.is_none() {
            let Ok(batch) = self.inbox.data.try_recv() else {
                break;
            };
            self.apply_batch(batch);
        }
    }

    fn apply_batch(&mut self, batch: Batch) {
        let from = batch.from;
        for change in batch.interest {
            self.apply_remote_interest(from as u16, change);
        }
        if let Some(Some(peer)) = self.peers.get_mut(from) {
            if batch.interest_seq > peer.applied {
                peer.applied = batch.interest_seq;
                peer.ack_owed = true;
            }
            if batch.ack > peer.acked {
                peer.acked = batch.ack;
            }
        }
        self.release_pongs();
        if !batch.msgs.is_empty() {
            self.deliver_routed_from(batch.msgs, 0);
        }
    }

    fn apply_remote_interest(&mut self, from: u16, change: InterestChange) {
        let key = (from, (change.account, change.subject, change.queue));
        let old = self.remote_interest.get(&key).copied().unwrap_or(0);
        if old == change.weight {
            return;
        }
        let (subject, queue) = (&key.1 .1, key.1 .2.as_deref());
        let sublist = self.sublist_mut(change.account);
        if old > 0 {
            sublist.remove(
                subject,
                queue,
                Target::Remote {
                    reactor: from,
                    weight: old,
                },
            );
        }
        if change.weight > 0 {
            if sublist
                .insert(
                    subject,
                    queue,
                    Target::Remote {
                        reactor: from,
                        weight: change.weight,
                    },
                )
                .is_err()
            {
                return;
            }
            self.remote_interest.insert(key, change.weight);
        } else {
            self.remote_interest.remove(&key);
        }
    }

    /// The lowest interest sequence all peers have acknowledged.
    fn min_acked(&self) -> u64 {
        self.peers
            .iter()
            .flatten()
            .map(|p| p.acked)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Sends the PONGs that were waiting for peers to learn this reactor's interest.
    fn release_pongs(&mut self) {
        if self.pong_waiters.is_empty() {
            return;
        }
        let acked = self.min_acked();
        let waiters = std::mem::take(&mut self.pong_waiters);
        for token in waiters {
            let Some(c) = self.conns.get_mut(token) else {
                continue;
            };
            if c.needs_interest_seq > acked {
                self.pong_waiters.push(token);
                continue;
            }
            for _ in 0..c.deferred_pongs {
                c.queue_pong();
            }
            c.deferred_pongs = 0;
            c.read_paused = false;
            self.mark_dirty(token);
            // Input that arrived behind the PING waits in `inbuf`; `resume` picks it up at
            // the end of the turn (not here, which may run in the middle of another client's
            // operations).
            if !self.pending_reads.contains(&token) {
                self.pending_reads.push(token);
            }
        }
    }

    /// Sends this turn's batch to every peer that has something (or is owed an ack).
    fn send_batches(&mut self) {
        if !self.has_peers() {
            return;
        }
        let changes = std::mem::take(&mut self.pending_interest);
        let bump = !changes.is_empty() || self.force_seq;
        if bump {
            self.interest_seq += 1;
            self.force_seq = false;
        }
        let seq = self.interest_seq;
        let mut blocked = false;
        for peer in self.peers.iter_mut().flatten() {
            if bump {
                peer.current.interest.extend(changes.iter().cloned());
                peer.current.interest_seq = seq;
            }
            if peer.ack_owed {
                peer.current.ack = peer.applied;
                peer.ack_owed = false;
            }
            let has_ack = peer.current.ack > 0;
            if !peer.current.is_empty() || bump || has_ack {
                let mut batch = std::mem::replace(
                    &mut peer.current,
                    Batch {
                        from: self.id,
                        ..Default::default()
                    },
                );
                batch.interest_seq = seq;
                peer.backlog.push_back(batch);
            }
            while let Some(batch) = peer.backlog.pop_front() {
                match peer.handle.try_send(batch) {
                    Ok(()) => peer.handle.wake.wake(),
                    Err(batch) => {
                        peer.backlog.push_front(batch);
                        peer.handle.wake.wake();
                        break;
                    }
                }
            }
            if !peer.backlog.is_empty() {
                blocked = true;
            }
        }
        if bump {
            self.shared
                .interest_epoch
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        if self.backpressure && !blocked {
            // Reads were paused for every connection; revisit them all.
            self.pending_reads.extend(self.conns.iter().map(|(t, _)| t));
        }
        self.backpressure = blocked;
    }

    /// Queues a message for a peer, starting a new batch when the current one is large.
    pub(crate) fn route_to(
        &mut self,
        reactor: usize,
        account: u32,
        msg: &crate::proto::Message<'_>,
        plain: bool,
        queues: &[&[u8]],
    ) {
        let id = self.id;
        let Some(Some(peer)) = self.peers.get_mut(reactor) else {
            return;
        };
        inbox::encode_msg(&mut peer.current.msgs, account, msg, plain, queues);
        self.counters.routed_out += 1;
        if peer.current.msgs.len() >= inbox::MAX_BATCH_BYTES {
            let batch = std::mem::replace(
                &mut peer.current,
                Batch {
                    from: id,
                    ..Default::default()
                },
            );
            peer.backlog.push_back(batch);
        }
    }

    /// Records a change of local interest for the peers (first/last plain subscriber on a
    /// subject, or a queue group's member count).
    pub(crate) fn note_interest(
        &mut self,
        account: u32,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i32,
    ) {
        if !self.has_peers() {
            return;
        }
        let key = (
            account,
            Box::<[u8]>::from(subject),
            queue.map(Box::<[u8]>::from),
        );
        let count = self.local_interest.entry(key.clone()).or_insert(0);
        let old = *count;
        let new = if delta > 0 {
            old + 1
        } else {
            old.saturating_sub(1)
        };
        *count = new;
        if new == 0 {
            self.local_interest.remove(&key);
        }
        let announce = match queue {
            None => (old == 0) != (new == 0),
            Some(_) => old != new,
        };
        if announce {
            let weight = if queue.is_some() {
                new
            } else {
                (new > 0) as u32
            };
            self.pending_interest.push(InterestChange {
                account,
                subject: key.1,
                queue: key.2,
                weight,
            });
        }
    }
}
