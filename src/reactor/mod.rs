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

mod accept;
mod authn;
mod claims;
pub mod conn;
mod deliver;
pub mod interest;
mod websocket;
pub use deliver::MAX_REACTORS;
pub mod inbox;
mod internal;
mod links;
mod mqtt;
mod ops;
mod peers;
mod reclaim;
mod sharing;
mod system;
mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rustc_hash::FxHashMap;
use slab::Slab;

use crate::auth::Auth;
use crate::config::Options;
use crate::proto::errors::CloseReason;
use crate::proto::parser::{Limits, ParseError, Status};
use crate::server::{ClosedClient, Shared, SubInfo};
use crate::subject::sublist::Sublist;
use crate::websocket::session::as_frame_error;
use conn::{Conn, ReadOutcome};
pub(crate) use conn::{PendingAuth, TlsPhase};
use inbox::{Batch, Inbox, InterestChange, ReactorHandle};
use interest::{InterestKey, Origin};

const LISTENER: Token = Token(usize::MAX - 1);
const WS_LISTENER: Token = Token(usize::MAX - 2);
const CLUSTER_LISTENER: Token = Token(usize::MAX - 3);
const LEAF_LISTENER: Token = Token(usize::MAX - 4);
const MQTT_LISTENER: Token = Token(usize::MAX - 5);
const WAKER: Token = Token(usize::MAX);
/// Shared read buffer size; also the most one read call takes.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Bytes read from one connection per turn before others get their turn.
const READ_BUDGET: usize = 512 * 1024;
/// How long a closing connection may take to flush its last bytes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll timeout while waiting for a full peer channel to drain.
const BACKPRESSURE_RETRY: Duration = Duration::from_millis(1);

/// What a subscription in the index points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A key into this reactor's subscription slab.
    Local(usize),
    /// A peer reactor's interest, of its clients or of its routes; `weight` is the total
    /// weight for queue groups.
    Remote {
        reactor: u16,
        origin: Origin,
        weight: u32,
    },
    /// A route connection of this reactor (its `RS+`); `weight` is the queue weight it
    /// announced.
    Route { conn: usize, weight: u32 },
    /// A leaf connection of this reactor (its `LS+`): `hub` when we dialled it (the peer is
    /// our hub), else it is a leaf node of ours.
    Leaf { conn: usize, weight: u32, hub: bool },
    /// An internal subscription of the JetStream thread (reactor 0 only), by its id.
    Internal(u32),
    /// A hook of accounts sharing on this reactor (`sharing::Hook`), by its index.
    Import(u32),
}

impl Target {
    /// Whose interest this entry is.
    pub fn origin(&self) -> Origin {
        match *self {
            Target::Local(_) | Target::Internal(_) | Target::Import(_) => Origin::Client,
            Target::Route { .. } => Origin::Route,
            Target::Leaf { hub: true, .. } => Origin::Hub,
            Target::Leaf { .. } => Origin::Leaf,
            Target::Remote { origin, .. } => origin,
        }
    }
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
    /// A stream import's shadow subscription (in the exporting account): how what it gets
    /// is shown to the subscriber.
    pub shown: Option<Arc<crate::accounts::StreamImport>>,
    /// The keys of this subscription's shadow subscriptions.
    pub shadows: Vec<usize>,
}

/// Requests other threads send a reactor.
pub enum Control {
    /// A socket accepted by reactor 0 for this reactor to serve.
    Adopt(TcpStream, SocketAddr),
    /// The same for a socket accepted on the WebSocket listener.
    AdoptWebsocket(TcpStream, SocketAddr),
    /// The same for a socket accepted on the MQTT listener.
    AdoptMqtt(TcpStream, SocketAddr),
    /// Another connection took this MQTT connection's client ID: close it, and send its
    /// session to that connection.
    MqttTakeOver {
        token: usize,
        cid: u64,
        successor: (usize, usize, u64),
    },
    /// The session of the connection this MQTT connection took over (None: there was none
    /// to keep): it may now finish its CONNECT.
    MqttSession {
        token: usize,
        cid: u64,
        /// With its account and client ID.
        session: Option<(u32, String, crate::mqtt::shared::StoredSession)>,
    },
    /// Drop the parked MQTT session of this client ID; what it caught goes to `to`
    /// (reactor, token, cid), where the client connected again.
    MqttUnpark {
        account: u32,
        client_id: String,
        to: Option<(usize, usize, u64)>,
    },
    /// What a parked MQTT session caught, for the connection that resumed it here.
    MqttQueued {
        token: usize,
        cid: u64,
        level: u8,
        queue: mqtt::park::Caught,
    },
    /// A route connection: accepted on the cluster listener (None) or dialled.
    AdoptRoute(TcpStream, SocketAddr, Option<crate::dialer::Dialled>),
    /// A leaf connection we dialled (to a hub).
    AdoptLeaf(TcpStream, SocketAddr, crate::dialer::Dialled),
    /// A leaf connection accepted on the leaf listener.
    AcceptLeaf(TcpStream, SocketAddr),
    /// Close the routes dialled at these URLs (a reload removed them from `routes`).
    CloseRoutes(Vec<crate::route::url::RouteUrl>),
    /// A new route's INFO to write to this reactor's other routes (gossip), and its id.
    ForwardRouteInfo(Arc<Vec<u8>>, String),
    /// The cluster's client URLs changed: clients that take async INFO get one (`ws`: the
    /// WebSocket URLs changed too).
    ClientUrlsChanged { ws: bool },
    /// The cluster's leaf URLs changed: tell the leaf connections we are the hub of.
    LeafUrlsChanged,
    /// A reload removed or disabled these leaf remotes: close their connections.
    CloseLeafRemotes(Vec<usize>),
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
    /// The resolver's account JWTs changed (a claims update or delete on reactor 0):
    /// new connections use `auth`, and the connected clients of these accounts are
    /// re-checked against it.
    Claims(Arc<Auth>, Arc<Vec<u32>>),
    /// The verdict of a bcrypt check run off the reactor for connection `token`.
    AuthVerdict { token: usize, cid: u64, ok: bool },
    /// The JetStream thread's subscriptions to add or remove (reactor 0).
    InternalSubs(Vec<crate::jetstream::InternalSub>),
    /// Messages the JetStream thread publishes (reactor 0).
    InternalPublish(Vec<crate::jetstream::OutMsg>),
}

/// How the JetStream thread reaches reactor 0.
pub struct InternalOutlet(pub Handle);

impl crate::jetstream::Outlet for InternalOutlet {
    fn subscribe(&self, subs: Vec<crate::jetstream::InternalSub>) {
        self.0.send_control(Control::InternalSubs(subs));
    }

    fn publish(&self, msgs: Vec<crate::jetstream::OutMsg>) {
        self.0.send_control(Control::InternalPublish(msgs));
    }
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
    /// Reactor 0 of a server with JetStream: the JetStream thread's channel, and what
    /// this turn matched its internal subscriptions.
    jetstream: Option<std::sync::mpsc::Sender<crate::jetstream::Inbound>>,
    to_jetstream: Vec<crate::jetstream::InMsg>,
    /// What is queued for it, and the stream names of its subscriptions (to answer a
    /// publisher when the queue is full), and those answers.
    ingest: Option<Arc<crate::jetstream::IngestQueue>>,
    stream_names: FxHashMap<u32, String>,
    ingest_refusals: Vec<crate::jetstream::OutMsg>,
    /// Subjects whose interest the JetStream thread watches (push consumers).
    interest_watches: Vec<internal::InterestWatch>,
    /// When the last refusal was logged (at most one line a second, as nats-server's
    /// `RateLimitWarnf`).
    ingest_warned: Option<Instant>,
    poll: Poll,
    listener: Option<TcpListener>,
    /// The WebSocket listener (reactor 0 only, when configured).
    ws_listener: Option<TcpListener>,
    /// The cluster listener (reactor 0 only, when clustered).
    cluster_listener: Option<TcpListener>,
    /// The leaf listener (reactor 0 only, when configured).
    leaf_listener: Option<TcpListener>,
    /// The MQTT listener (reactor 0 only, when configured).
    mqtt_listener: Option<TcpListener>,
    pub conns: Slab<Conn>,
    pub subs: Slab<Sub>,
    /// Persistent MQTT sessions whose client is away (`mqtt::park`).
    mqtt_parked: Slab<mqtt::park::Parked>,
    /// When parked MQTT sessions are next checked for expiry.
    mqtt_park_sweep: Instant,
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
    pub(crate) all: Vec<Handle>,
    next_target: usize,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    /// Connections holding a drained outbound buffer past `KEEP_OUT_CAPACITY`, and when
    /// they are next looked at (see [`reclaim`]).
    big_out: Vec<usize>,
    big_out_sweep: Option<Instant>,
    pending_reads: Vec<usize>,
    /// Publishers paused until the next turn because a subscriber is behind.
    stalled: Vec<usize>,
    /// A subscriber that is draining, but slowly, passed 3/4 of max_pending this turn:
    /// publishers pause after their current operation and peer batches wait.
    pub(crate) congested: bool,
    closing: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// This reactor's clients' interest, kept when there are peers or routes.
    pub(crate) local_interest: interest::Counts,
    /// This reactor's routes' interest (plain: routes with interest; queues: their weight).
    pub(crate) route_interest: interest::Counts,
    /// The server's clients' interest, which routes are told (kept when clustered).
    pub(crate) server_interest: interest::Counts,
    /// What each peer reactor announced, by its origin.
    pub(crate) remote_interest: FxHashMap<(u16, Origin, InterestKey), u32>,
    /// This server has routes or leaf connections (or may get them): they are told its
    /// interest, so it is counted even while none is connected.
    clustered: bool,
    /// This reactor's route connections (tokens).
    pub(crate) routes: Vec<usize>,
    /// This reactor's leaf connections that finished their handshake (tokens).
    pub(crate) leafs: Vec<usize>,
    /// This reactor's leaf nodes' interest (`Origin::Leaf`), aggregated like routes'.
    pub(crate) leaf_interest: interest::Counts,
    /// Its hub connections' interest (`Origin::Hub`).
    pub(crate) hub_interest: interest::Counts,
    pub(crate) pending_interest: Vec<InterestChange>,
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
    pub(crate) stopping: bool,
    lame_duck: bool,
    pub counters: Counters,
    /// Service-import hooks, reply mappings (see `sharing`).
    pub(crate) sharing: sharing::SharingState,
}

/// Counters of this reactor, published to the shared atomics once per turn.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    /// Of `slow_consumers`, the routes (`/varz` `slow_consumer_stats.routes`).
    pub slow_routes: u64,
    /// Of `slow_consumers`, the leaf connections (`slow_consumer_stats.leafs`).
    pub slow_leafs: u64,
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
        let clustered = shared.cluster.is_some() || shared.leafnodes.is_some();
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
        let jetstream = if id == 0 {
            shared.jetstream.clone()
        } else {
            None
        };
        let mut r = Reactor {
            id,
            ingest: if id == 0 {
                shared.jetstream_ingest.clone()
            } else {
                None
            },
            jetstream,
            to_jetstream: Vec::new(),
            stream_names: FxHashMap::default(),
            ingest_refusals: Vec::new(),
            interest_watches: Vec::new(),
            ingest_warned: None,
            poll,
            listener,
            ws_listener: None,
            cluster_listener: None,
            leaf_listener: None,
            mqtt_listener: None,
            conns: Slab::new(),
            subs: Slab::new(),
            mqtt_parked: Slab::new(),
            mqtt_park_sweep: Instant::now(),
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
            big_out: Vec::new(),
            big_out_sweep: None,
            pending_reads: Vec::new(),
            stalled: Vec::new(),
            congested: false,
            closing: Vec::new(),
            timers: BinaryHeap::new(),
            local_interest: interest::Counts::default(),
            route_interest: interest::Counts::default(),
            server_interest: interest::Counts::default(),
            remote_interest: FxHashMap::default(),
            clustered,
            routes: Vec::new(),
            leafs: Vec::new(),
            leaf_interest: interest::Counts::default(),
            hub_interest: interest::Counts::default(),
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
            sharing: sharing::SharingState::default(),
        };
        r.install_sharing();
        r.install_system();
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

    /// Gives this reactor the cluster listener to accept routes on (reactor 0).
    pub fn set_cluster_listener(&mut self, mut l: TcpListener) -> std::io::Result<()> {
        self.poll
            .registry()
            .register(&mut l, CLUSTER_LISTENER, Interest::READABLE)?;
        self.cluster_listener = Some(l);
        self.clustered = true;
        Ok(())
    }

    /// Gives this reactor the leaf listener to accept leaf connections on (reactor 0).
    pub fn set_leaf_listener(&mut self, mut l: TcpListener) -> std::io::Result<()> {
        self.poll
            .registry()
            .register(&mut l, LEAF_LISTENER, Interest::READABLE)?;
        self.leaf_listener = Some(l);
        Ok(())
    }

    /// Gives this reactor the MQTT listener to accept on (reactor 0).
    pub fn set_mqtt_listener(&mut self, mut l: TcpListener) -> std::io::Result<()> {
        self.poll
            .registry()
            .register(&mut l, MQTT_LISTENER, Interest::READABLE)?;
        self.mqtt_listener = Some(l);
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
                    LISTENER => self.accept_all(accept::Listener::Client),
                    WS_LISTENER => self.accept_all(accept::Listener::Websocket),
                    CLUSTER_LISTENER => self.accept_all(accept::Listener::Cluster),
                    LEAF_LISTENER => self.accept_all(accept::Listener::Leaf),
                    MQTT_LISTENER => self.accept_all(accept::Listener::Mqtt),
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
            self.send_to_jetstream();
            self.flush_dirty();
            self.sweep_big_out();
            self.finish_closes();
            self.shared.publish(
                self.id,
                &self.counters,
                self.conns
                    .len()
                    .saturating_sub(self.routes.len() + self.leafs.len()),
                self.subs.len(),
            );
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
        if let Some(at) = self.big_out_sweep {
            let d = at.saturating_duration_since(now);
            t = Some(t.map_or(d, |t| t.min(d)));
        }
        t
    }

    fn peers_idle(&self) -> bool {
        self.inbound_rest.is_none() && self.peers.iter().flatten().all(|p| p.backlog.is_empty())
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
                    } else if conn.transport.is_handshaking()
                        && (conn.leaf.is_some() || conn.route.is_some())
                    {
                        // Peer ports are not probed by load balancers: always an error.
                        let kind = conn.kind_name();
                        error!("{} - TLS {kind} handshake error: {e}", conn.label());
                        self.close(token, CloseReason::TlsHandshakeError);
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
            Some(c) if c.is_peer() => return self.process_link(token, data),
            Some(c) if c.mqtt.is_some() => return self.process_mqtt(token, data),
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
    pub(crate) fn stall(&mut self, token: usize) {
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
        self.write_out(token);
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.out.is_empty() && c.out.capacity() > conn::KEEP_OUT_CAPACITY)
        {
            self.keep_big_out(token);
        }
    }

    fn write_out(&mut self, token: usize) {
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
            Err(e) => self.write_failed(token, &e),
        }
        self.resume_if_own_backlog_drained(token);
    }

    /// A write to connection `token` failed: its peer is gone. What is left unwritten is
    /// dropped, so that the socket is released at the end of this turn even when it was
    /// already closing (a client that sent its last commands and hung up).
    pub(crate) fn write_failed(&mut self, token: usize, e: &std::io::Error) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        debug!("{} - Error flushing: {e}", conn.label());
        conn.out.clear();
        conn.out_pos = 0;
        self.close(token, CloseReason::WriteError);
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
        if conn.mqtt.is_some() {
            self.mqtt_closing(token);
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.route.is_some() || conn.leaf.is_some() {
            if conn.route.is_some() {
                self.route_closed(token, reason);
            } else {
                self.leaf_closed(token, reason);
            }
            self.closing.push(token);
            self.mark_dirty(token);
            return;
        }
        debug!("{} - Client connection closed: {reason}", conn.label());
        if let Some(account) = conn.counted_in_account.take() {
            self.shared.leave_account(account);
        }
        self.disconnect_event(token, reason);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
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

    // ----- control ---------------------------------------------------------------------

    fn drain_control(&mut self) {
        while let Ok(msg) = self.inbox.control.try_recv() {
            match msg {
                Control::Adopt(stream, addr) => self.adopt(stream, addr),
                Control::AdoptWebsocket(stream, addr) => self.adopt_websocket(stream, addr),
                Control::AdoptMqtt(stream, addr) => self.adopt_mqtt(stream, addr),
                Control::MqttTakeOver {
                    token,
                    cid,
                    successor: (reactor, to, to_cid),
                } => {
                    let successor = crate::mqtt::session::Successor::There {
                        reactor,
                        token: to,
                        cid: to_cid,
                    };
                    self.mqtt_take_over(token, cid, successor)
                }
                Control::MqttSession {
                    token,
                    cid,
                    session,
                } => self.mqtt_session_arrived(token, cid, session),
                Control::MqttUnpark {
                    account,
                    client_id,
                    to,
                } => self.mqtt_release_parked(account, &client_id, to),
                Control::MqttQueued {
                    token,
                    cid,
                    level,
                    queue,
                } => {
                    if self.conns.get(token).is_some_and(|c| c.cid == cid) {
                        self.mqtt_take_queued(token, level, queue);
                    }
                }
                Control::AdoptRoute(stream, addr, dialled) => {
                    self.adopt_route(stream, addr, dialled)
                }
                Control::AdoptLeaf(stream, addr, dialled) => {
                    self.adopt_leaf(stream, addr, Some(dialled))
                }
                Control::AcceptLeaf(stream, addr) => self.adopt_leaf(stream, addr, None),
                Control::ForwardRouteInfo(line, id) => self.forward_route_info(&line, &id),
                Control::CloseRoutes(urls) => self.close_routes_to(&urls),
                Control::ClientUrlsChanged { ws } => self.send_client_urls(ws),
                Control::LeafUrlsChanged => self.send_leafnode_urls(),
                Control::CloseLeafRemotes(remotes) => self.close_leaf_remotes(&remotes),
                Control::Reload(opts) => self.reload(opts),
                Control::Shutdown => self.shutdown(),
                Control::LameDuck => self.enter_lame_duck(),
                Control::CloseSome(n) => self.close_some(n),
                Control::Inspect(f) => f(self),
                Control::Auth(auth) => self.reload_auth(auth, None),
                Control::Claims(auth, accounts) => self.reload_auth(auth, Some(&accounts)),
                Control::AuthVerdict { token, cid, ok } => self.auth_verdict(token, cid, ok),
                Control::InternalSubs(subs) => self.apply_internal_subs(subs),
                Control::InternalPublish(msgs) => self.publish_internal(msgs),
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
                max_payload: c.jwt_limits.map_or(limits.max_payload, |l| l.payload),
            });
        }
        self.opts = opts;
    }

    /// Stops accepting clients, and routes too unless `keep_routes` (lame duck mode: the
    /// server stays in its cluster until it exits).
    fn stop_listening(&mut self, keep_routes: bool) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.ws_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.mqtt_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if keep_routes {
            return;
        }
        if let Some(mut l) = self.cluster_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.leaf_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        self.stop_listening(false);
        let tokens: Vec<usize> = self.conns.iter().map(|(t, _)| t).collect();
        for t in tokens {
            self.close(t, CloseReason::ServerShutdown);
        }
    }

    fn enter_lame_duck(&mut self) {
        self.lame_duck = true;
        self.stop_listening(true);
        // nats-server's `sendLDMToRoutes` and `sendLDMToClients`: clients are pointed at the
        // other servers only.
        self.routes_lame_duck();
        let peers = self.shared.cluster.as_ref().map(|c| c.registry.peer_urls());
        let tokens: Vec<usize> = self.conns.iter().map(|(t, _)| t).collect();
        for t in tokens {
            let Some(c) = self.conns.get_mut(t) else {
                continue;
            };
            if !c.is_peer() && c.is_open() && c.opts.protocol >= 1 && !c.transport.ws_handshaking()
            {
                let mut info = self.shared.info_for_conn(c);
                info.ldm = true;
                if let Some((urls, ws_urls)) = &peers {
                    info.connect_urls = if c.transport.is_websocket() {
                        ws_urls.clone()
                    } else {
                        urls.clone()
                    };
                }
                info.write_to(&mut c.out);
                self.mark_dirty(t);
            }
        }
    }

    fn close_some(&mut self, n: usize) {
        let tokens: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_open() && !c.is_peer())
            .map(|(t, _)| t)
            .take(n)
            .collect();
        for t in tokens {
            self.close(t, CloseReason::ServerShutdown);
        }
    }
}
