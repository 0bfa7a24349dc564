//! The server: binds the client port, starts the reactors, and owns what they share —
//! the options snapshot, the INFO template, connection ids and counts, the per-reactor
//! counters and the ring of closed connections. It also runs shutdown and lame duck mode.
//!
//! Threads: the caller's thread (normally `main`, waiting for signals), one thread per
//! reactor. Everything in [`Shared`] is either immutable, atomic, or behind a lock that the
//! message path never takes (options are read once per reload, INFO once per connection).

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use log::{info, warn};

use crate::auth::Auth;
use crate::config::{Options, NATS_COMPAT_VERSION, VERSION};
use crate::monitor::Monitor;
use crate::proto::errors::CloseReason;
use crate::proto::info::ServerInfo;
use crate::reactor::conn::{Conn, ConnStats};
use crate::reactor::{self, Control, Handle, Reactor, Sub};

/// Counters of one reactor as other threads see them (published once per loop turn).
#[derive(Default)]
pub struct ReactorStats {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub slow_routes: AtomicU64,
    pub slow_leafs: AtomicU64,
    pub stalls: AtomicU64,
    pub routed_out: AtomicU64,
    pub routed_in: AtomicU64,
    pub polls: AtomicU64,
    pub events: AtomicU64,
    pub connections: AtomicU64,
    pub subscriptions: AtomicU64,
}

/// A subscription as `/connz?subs=detail` and `/subsz?subs=1` report it.
#[derive(Debug, Clone)]
pub struct SubInfo {
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    /// Messages delivered to it.
    pub msgs: u64,
    /// Auto-unsubscribe limit (0 = none).
    pub max: u64,
}

impl From<&Sub> for SubInfo {
    fn from(s: &Sub) -> SubInfo {
        SubInfo {
            subject: String::from_utf8_lossy(&s.subject).into_owned(),
            queue: s
                .queue
                .as_deref()
                .map(|q| String::from_utf8_lossy(q).into_owned()),
            sid: String::from_utf8_lossy(&s.sid).into_owned(),
            msgs: s.delivered,
            max: s.max,
        }
    }
}

/// A closed connection as `/connz?state=closed` reports it: frozen at the moment it closed.
#[derive(Debug, Clone)]
pub struct ClosedClient {
    pub cid: u64,
    pub peer: SocketAddr,
    pub started: SystemTime,
    pub stopped: SystemTime,
    pub last_activity: SystemTime,
    pub reason: CloseReason,
    pub stats: ConnStats,
    pub rtt: Option<Duration>,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    /// Its account's name; empty for the global account (as nats-server keeps it).
    pub account: String,
    /// Bytes still queued for it when it closed.
    pub pending: usize,
    pub num_subs: usize,
    /// Its subscriptions when it closed (kept only while closed connections are kept).
    pub subscriptions: Vec<SubInfo>,
    pub websocket: bool,
    /// An MQTT client's client ID.
    pub mqtt_client: Option<String>,
}

impl ClosedClient {
    pub fn from_conn(c: &Conn, reason: CloseReason) -> ClosedClient {
        ClosedClient {
            cid: c.cid,
            peer: c.peer,
            started: c.started,
            stopped: SystemTime::now(),
            last_activity: c.last_activity,
            reason,
            stats: c.stats,
            rtt: c.rtt,
            name: c.opts.name.clone(),
            lang: c.opts.lang.clone(),
            version: c.opts.version.clone(),
            user: crate::auth::raw_auth_user(&c.opts).to_string(),
            account: c
                .user
                .as_ref()
                .map(|u| u.account.clone())
                .filter(|a| a != crate::auth::GLOBAL_ACCOUNT)
                .unwrap_or_default(),
            pending: c.pending(),
            num_subs: c.subs.len(),
            subscriptions: Vec::new(),
            websocket: c.transport.is_websocket(),
            mqtt_client: c.mqtt.as_ref().map(|m| m.client_id.clone()),
        }
    }
}

/// State shared by the reactors, the monitor and the main thread.
pub struct Shared {
    pub server_id: String,
    pub started: SystemTime,
    pub started_at: Instant,
    options: RwLock<Arc<Options>>,
    info: RwLock<ServerInfo>,
    next_cid: AtomicU64,
    clients: AtomicI64,
    pub total_connections: AtomicU64,
    /// The sequence of this server's system-account messages (`server.seq`).
    pub sys_seq: AtomicU64,
    pub stats: Vec<ReactorStats>,
    closed: Mutex<VecDeque<ClosedClient>>,
    /// Clients closed as stale (unanswered PINGs), for `/varz`.
    pub stale_connections: AtomicU64,
    /// When the options in force were loaded (start or last reload), for `/varz`.
    config_time: Mutex<SystemTime>,
    pub lame_duck: AtomicBool,
    pub shutting_down: AtomicBool,
    /// Bumped by a reactor after it has queued interest changes for its peers. A reactor
    /// that sees it move drains its channel before routing a publish, so a subscription
    /// any reactor has processed is visible to every publish processed after it.
    pub interest_epoch: AtomicU64,
    /// The rustls configuration for the client port, when TLS is on.
    pub tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
    /// Users, credentials and permissions; replaced by a reload.
    auth: RwLock<Arc<Auth>>,
    /// Connected clients of each JWT account, across reactors (for `limits.conn`).
    account_clients: Mutex<rustc_hash::FxHashMap<u32, i64>>,
    /// The WebSocket listener's settings, when it runs.
    pub websocket: Option<Arc<WsRuntime>>,
    /// The MQTT listener's settings and shared MQTT state, when it runs.
    pub mqtt: Option<Arc<crate::mqtt::MqttRuntime>>,
    /// The cluster, when this server is in one.
    pub cluster: Option<Arc<crate::route::Cluster>>,
    /// The leaf-node side (listener, remotes), when configured.
    pub leafnodes: Option<Arc<crate::leaf::LeafNodes>>,
    /// Reaches the dialler thread (routes and leaf remotes to connect to).
    pub dialer: crate::dialer::DialerHandle,
    /// The route listener's port for `/varz` `cluster_port`: `Some(0)` for a random port
    /// not bound yet. Filled from the options at start; the route listener replaces it with
    /// the bound port ([`Shared::set_cluster_port`]).
    cluster_port: Mutex<Option<u16>>,
    /// The JetStream thread's channel, when JetStream is enabled (reactor 0 feeds it).
    pub jetstream: Option<std::sync::mpsc::Sender<crate::jetstream::Inbound>>,
    /// JetStream's figures for monitoring, when it is enabled.
    pub jetstream_stats: Option<crate::jetstream::SharedStats>,
    /// Publishes queued for the JetStream thread (reactor 0 answers 429 past its bound).
    pub jetstream_ingest: Option<Arc<crate::jetstream::IngestQueue>>,
}

/// What WebSocket connections need from the server (nats-server's `srvWebsocket`).
pub struct WsRuntime {
    pub config: crate::websocket::WsConfig,
    /// wss: the rustls configuration of the `websocket { tls {} }` block.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// INFO `host` and `port` for WebSocket clients: the configured host, the bound port.
    pub host: String,
    pub port: u16,
    /// This server's WebSocket URLs (`advertise`, or host:port). nats-server gossips them
    /// to cluster peers, whose INFO then lists them in `ws_connect_urls`; standalone, INFO
    /// carries none. Kept for clustering.
    pub connect_urls: Vec<String>,
}

impl Shared {
    pub fn options(&self) -> Arc<Options> {
        self.options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_options(&self, opts: Arc<Options>) {
        *self.options.write().unwrap_or_else(|e| e.into_inner()) = opts;
    }

    pub fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new client; returns the count including it.
    pub fn client_opened(&self) -> i64 {
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        self.clients.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Counts a client of `account` unless it already has `limit` (-1: no limit); false
    /// when it has.
    pub(crate) fn join_account(&self, account: u32, limit: i64) -> bool {
        let mut counts = self
            .account_clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(account).or_insert(0);
        if limit >= 0 && *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    /// A client counted by [`Shared::join_account`] left.
    pub(crate) fn leave_account(&self, account: u32) {
        let mut counts = self
            .account_clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&account) {
            *n = (*n - 1).max(0);
        }
    }

    pub fn client_closed(&self, record: ClosedClient) {
        self.clients.fetch_sub(1, Ordering::AcqRel);
        if record.reason == CloseReason::StaleConnection {
            self.stale_connections.fetch_add(1, Ordering::Relaxed);
        }
        let max = self.options().max_closed_clients;
        if max == 0 {
            return;
        }
        let mut ring = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        while ring.len() >= max {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    pub fn client_count(&self) -> i64 {
        self.clients.load(Ordering::Acquire)
    }

    pub fn closed_clients(&self) -> Vec<ClosedClient> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The INFO a new client gets.
    pub fn info_for_client(&self, cid: u64, peer: SocketAddr) -> ServerInfo {
        let mut info = self.info.read().unwrap_or_else(|e| e.into_inner()).clone();
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info
    }

    /// The authorization configuration new connections are checked against.
    pub fn auth(&self) -> Arc<Auth> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the authorization configuration new connections are checked against.
    pub(crate) fn set_auth(&self, auth: Arc<Auth>) {
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = auth;
    }

    /// The INFO a connection gets: for WebSocket clients nats-server's
    /// `generateClientInfoJSON` swaps in the WebSocket listener's TLS flags, host and port,
    /// and `connect_urls` becomes the WebSocket URLs.
    pub fn info_for_conn(&self, c: &Conn) -> ServerInfo {
        let mut info = self.info_for_client(c.cid, c.peer);
        if c.transport.is_websocket() {
            if let Some(ws) = &self.websocket {
                info.tls_required = ws.tls.is_some();
                info.tls_available = ws.tls.is_some();
                info.host = ws.host.clone();
                info.port = ws.port;
            }
            info.connect_urls = std::mem::take(&mut info.ws_connect_urls);
        }
        info.ws_connect_urls = Vec::new();
        info
    }

    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The INFO template (no client fields filled in).
    pub fn info(&self) -> ServerInfo {
        self.info.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When the options in force were loaded.
    /// The route listener's port, as `/varz` shows it (see the field).
    pub fn cluster_port(&self) -> Option<u16> {
        *self.cluster_port.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the port the route listener bound (or `None` when it stopped).
    pub fn set_cluster_port(&self, port: Option<u16>) {
        *self.cluster_port.lock().unwrap_or_else(|e| e.into_inner()) = port;
    }

    pub fn config_time(&self) -> SystemTime {
        *self.config_time.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn update_info(&self, f: impl FnOnce(&mut ServerInfo)) {
        f(&mut self.info.write().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn publish(&self, id: usize, c: &reactor::Counters, conns: usize, subs: usize) {
        let Some(s) = self.stats.get(id) else { return };
        s.in_msgs.store(c.in_msgs, Ordering::Relaxed);
        s.in_bytes.store(c.in_bytes, Ordering::Relaxed);
        s.out_msgs.store(c.out_msgs, Ordering::Relaxed);
        s.out_bytes.store(c.out_bytes, Ordering::Relaxed);
        s.slow_consumers.store(c.slow_consumers, Ordering::Relaxed);
        s.slow_routes.store(c.slow_routes, Ordering::Relaxed);
        s.slow_leafs.store(c.slow_leafs, Ordering::Relaxed);
        s.stalls.store(c.stalls, Ordering::Relaxed);
        s.routed_out.store(c.routed_out, Ordering::Relaxed);
        s.routed_in.store(c.routed_in, Ordering::Relaxed);
        s.polls.store(c.polls, Ordering::Relaxed);
        s.events.store(c.events, Ordering::Relaxed);
        s.connections.store(conns as u64, Ordering::Relaxed);
        s.subscriptions.store(subs as u64, Ordering::Relaxed);
    }

    /// Sums a counter over all reactors.
    pub fn total(&self, f: impl Fn(&ReactorStats) -> &AtomicU64) -> u64 {
        self.stats
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    }
}

/// A running server.
pub struct Server {
    pub shared: Arc<Shared>,
    handles: Vec<Handle>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The JetStream thread, when JetStream is enabled.
    jetstream_thread: Mutex<Option<JoinHandle<()>>>,
    client_addr: SocketAddr,
    websocket_addr: Option<SocketAddr>,
    cluster_addr: Option<SocketAddr>,
    monitor: Option<Monitor>,
}

/// Resolves the `host:port` a listener binds, the way nats-server's `net.Listen` does it:
/// an IP literal as it is; a host name at its first IPv4 address, else at its first address
/// (Go's `first(isIPv4)`). Every listener that takes a host (client, monitor, WebSocket, and
/// the cluster and leaf ports to come) goes through here: the resolver's own first answer
/// would often be `::1` for `localhost`, where nats-server listens on 127.0.0.1.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (h, port)
        .to_socket_addrs()
        .map_err(|e| format!("lookup {h}: {e}"))?
        .collect();
    first_ipv4_else_first(&addrs).ok_or_else(|| format!("lookup {h}: no such host"))
}

/// Go's `addrList.first(isIPv4)`: the first IPv4 address, else the first one.
fn first_ipv4_else_first(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// Opens a non-blocking listening socket on `addr` and returns it with the address to
/// report (the requested host with the bound port).
///
/// Like Go's `net.Listen`, which nats-server uses, a wildcard address listens on both
/// families where the host has IPv6: `0.0.0.0` and `::` both become one dual-stack `[::]`
/// socket, so `localhost` resolving to `::1` reaches the server as it does nats-server.
/// Without IPv6, `0.0.0.0` stays an IPv4 socket.
pub(crate) fn listen_tcp(addr: SocketAddr) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let unspecified_v4 = addr.ip() == std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let listener = if unspecified_v4 {
        let dual = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match bind_socket(dual) {
            Ok(l) => l,
            Err(_) => bind_socket(addr)?,
        }
    } else {
        bind_socket(addr)?
    };
    let port = listener.local_addr()?.port();
    Ok((listener, SocketAddr::new(addr.ip(), port)))
}

fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A peer address as nats-server reports it: an IPv4 client of a dual-stack socket arrives
/// as `::ffff:a.b.c.d`, which Go shows (and natrium logs, reports and matches) as `a.b.c.d`.
pub fn canonical_peer(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl Server {
    /// Binds the client port and starts the reactors. Returns once the port accepts
    /// connections.
    pub fn start(opts: Options) -> Result<Server, String> {
        opts.validate()?;
        check_monitor_options(&opts)?;
        let opts = Arc::new(opts);
        let addr = resolve(&opts.host, opts.port).map_err(|e| {
            format!(
                "Error listening on port: {}:{}, {:?}",
                opts.host, opts.port, e
            )
        })?;
        let (std_listener, client_addr) = listen_tcp(addr).map_err(|e| {
            format!(
                "Error listening on port: {}:{}, {:?}",
                opts.host,
                opts.port,
                e.to_string()
            )
        })?;
        let listener = mio::net::TcpListener::from_std(std_listener);

        let tls = match &opts.tls {
            Some(t) => Some(crate::tls::server_config(t)?),
            None => None,
        };
        let built = Auth::from_options(&opts)?;
        for w in &built.warnings {
            warn!("{w}");
        }
        let auth = Arc::new(built.auth);
        let (ws_listener, websocket, websocket_addr) =
            match opts.websocket.as_ref().filter(|w| w.enabled()) {
                Some(w) => {
                    let mqtt = opts.mqtt.as_ref().is_some_and(|m| m.port.is_some());
                    let (l, rt, bound) = websocket_listener(w, mqtt)?;
                    (Some(l), Some(Arc::new(rt)), Some(bound))
                }
                None => (None, None, None),
            };
        // Outgoing connections (routes, leaf remotes) are dialled on one thread, started
        // below when there is anything to dial.
        let (dialer, dial_requests) = std::sync::mpsc::channel();
        let cluster = match crate::route::Settings::from_options(&opts)? {
            Some(settings) => {
                let own = connect_urls(&opts.client_advertise, &opts.host, client_addr.port());
                let own_ws = websocket
                    .as_ref()
                    .map(|w| w.connect_urls.clone())
                    .unwrap_or_default();
                Some(crate::route::cluster::bind(
                    settings,
                    own,
                    own_ws,
                    dialer.clone(),
                )?)
            }
            None => None,
        };
        let leafnodes = match crate::leaf::Settings::from_options(&opts)? {
            Some(settings) => {
                let (l, listener) = crate::leaf::LeafNodes::bind(settings, dialer.clone())?;
                Some((Arc::new(l), listener))
            }
            None => None,
        };
        let server_id = crate::nkey::server_id();
        let server_name = if opts.server_name.is_empty() {
            server_id.clone()
        } else {
            opts.server_name.clone()
        };
        let (mqtt_listener, mqtt) = match opts.mqtt.as_ref().filter(|m| m.port.is_some()) {
            Some(m) => {
                let origin = opts.jetstream.enabled.then(|| server_name.clone());
                let (l, rt) = mqtt_listener(m, origin)?;
                (Some(l), Some(Arc::new(rt)))
            }
            None => (None, None),
        };
        let n = opts.reactor_count().min(reactor::MAX_REACTORS);
        let info = ServerInfo {
            server_id: server_id.clone(),
            server_name: server_name.clone(),
            version: NATS_COMPAT_VERSION.to_string(),
            proto: 1,
            go: format!("natrium {VERSION}"),
            host: opts.host.clone(),
            port: client_addr.port(),
            headers: !opts.no_header_support,
            auth_required: auth.info_auth_required(),
            max_payload: opts.max_payload.clamp(0, i32::MAX as i64) as i32,
            tls_required: tls.is_some() && !opts.allow_non_tls,
            tls_available: tls.is_some() && opts.allow_non_tls,
            tls_verify: opts
                .tls
                .as_ref()
                .is_some_and(crate::tls::requires_client_cert),
            api_lvl: crate::proto::info::JS_API_LEVEL,
            jetstream: opts.jetstream.enabled,
            ..Default::default()
        };
        let js_settings = if opts.jetstream.enabled {
            Some(crate::jetstream::settings(&opts, &server_name)?)
        } else {
            None
        };
        let (js_tx, js_rx) = match js_settings {
            Some(_) => {
                let (tx, rx) = std::sync::mpsc::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            server_id: server_id.clone(),
            started: SystemTime::now(),
            started_at: Instant::now(),
            options: RwLock::new(opts.clone()),
            info: RwLock::new(info),
            next_cid: AtomicU64::new(1),
            clients: AtomicI64::new(0),
            total_connections: AtomicU64::new(0),
            sys_seq: AtomicU64::new(0),
            stats: (0..n).map(|_| ReactorStats::default()).collect(),
            closed: Mutex::new(VecDeque::new()),
            stale_connections: AtomicU64::new(0),
            config_time: Mutex::new(SystemTime::now()),
            lame_duck: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            interest_epoch: AtomicU64::new(0),
            tls: RwLock::new(tls),
            auth: RwLock::new(auth),
            account_clients: Mutex::new(Default::default()),
            websocket: websocket.clone(),
            mqtt: mqtt.clone(),
            cluster: cluster.as_ref().map(|c| c.cluster.clone()),
            leafnodes: leafnodes.as_ref().map(|(l, _)| l.clone()),
            dialer: dialer.clone(),
            cluster_port: Mutex::new(
                cluster
                    .as_ref()
                    .map(|c| c.cluster.addr.port())
                    .or(opts.cluster.as_ref().and_then(|c| c.port)),
            ),
            jetstream: js_tx,
            jetstream_stats: js_settings.as_ref().map(|_| Default::default()),
            jetstream_ingest: js_settings.as_ref().map(|_| {
                Arc::new(crate::jetstream::IngestQueue::new(
                    opts.jetstream.max_buffered_msgs,
                    opts.jetstream.max_buffered_size,
                ))
            }),
        });

        info!("Starting natrium");
        info!("  Version:  {VERSION} (nats-server {NATS_COMPAT_VERSION} compatible)");
        info!("  Name:     {server_name}");
        info!("  ID:       {server_id}");
        info!("  Reactors: {n}");
        if let Some(f) = &opts.config_file {
            info!("Using configuration file: {}", f.display());
        }
        if let Some(s) = &js_settings {
            crate::jetstream::log_start(s, &opts);
        }

        let mut polls = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let poll = mio::Poll::new().map_err(|e| e.to_string())?;
            let waker = mio::Waker::new(poll.registry(), mio::Token(usize::MAX))
                .map_err(|e| e.to_string())?;
            let (h, inbox) = reactor::inbox::channels(waker);
            polls.push(poll);
            handles.push(h);
            inboxes.push(inbox);
        }
        // The monitor is up before the reactors, as nats-server's is before its client
        // listener: a snapshot request simply waits in a reactor's channel until it runs.
        let monitor = match opts.http_port {
            Some(_) => Some(Monitor::start(shared.clone(), handles.clone())?),
            None => None,
        };
        let jetstream_thread = match (js_settings, js_rx) {
            (Some(settings), Some(rx)) => {
                let accounts = jetstream_accounts(&opts, &shared.auth());
                let without: Vec<u32> = (0..shared.auth().accounts().len() as u32)
                    .filter(|id| !accounts.iter().any(|(a, _, _)| a == id))
                    .collect();
                let outlet = Box::new(reactor::InternalOutlet(handles[0].clone()));
                let mut service = crate::jetstream::service::Service::start(
                    settings,
                    &accounts,
                    &without,
                    outlet,
                    shared.jetstream_stats.clone().unwrap_or_default(),
                    shared.jetstream_ingest.clone().unwrap_or_default(),
                );
                if let Some(rt) = mqtt.as_ref().filter(|rt| rt.persist.is_some()) {
                    restore_mqtt(rt, &mut service);
                }
                Some(
                    std::thread::Builder::new()
                        .name("jetstream".into())
                        .spawn(move || service.run(rx))
                        .map_err(|e| e.to_string())?,
                )
            }
            _ => None,
        };
        let mut threads = Vec::with_capacity(n);
        let mut listener = Some(listener);
        let mut ws_listener = ws_listener.map(mio::net::TcpListener::from_std);
        let mut mqtt_listener = mqtt_listener.map(mio::net::TcpListener::from_std);
        let (cluster_listener, cluster) = match cluster {
            Some(b) => {
                let l = b.listener.try_clone().map_err(|e| e.to_string())?;
                (Some(l), Some(b))
            }
            None => (None, None),
        };
        let mut cluster_listener = cluster_listener;
        let (leafnodes, mut leaf_listener) = match leafnodes {
            Some((l, listener)) => (Some(l), listener),
            None => (None, None),
        };
        for (id, (poll, inbox)) in polls.into_iter().zip(inboxes).enumerate() {
            let mut r = Reactor::new(
                id,
                poll,
                inbox,
                handles.clone(),
                listener.take(),
                shared.clone(),
            )
            .map_err(|e| e.to_string())?;
            if let Some(l) = ws_listener.take() {
                r.set_websocket_listener(l).map_err(|e| e.to_string())?;
            }
            if let Some(l) = mqtt_listener.take() {
                r.set_mqtt_listener(l).map_err(|e| e.to_string())?;
            }
            if let Some(l) = cluster_listener.take() {
                r.set_cluster_listener(mio::net::TcpListener::from_std(l))
                    .map_err(|e| e.to_string())?;
            }
            if let Some(l) = leaf_listener.take() {
                r.set_leaf_listener(mio::net::TcpListener::from_std(l))
                    .map_err(|e| e.to_string())?;
            }
            let t = std::thread::Builder::new()
                .name(format!("reactor-{id}"))
                .spawn(move || r.run())
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        if let Some(ws) = &websocket {
            // nats-server's line, written with the configured host.
            let proto = if ws.tls.is_some() { "wss" } else { "ws" };
            info!(
                "Listening for websocket clients on {proto}://{}:{}",
                ws.host, ws.port
            );
            if ws.tls.is_none() {
                warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
            }
        }
        if let Some(m) = &mqtt {
            // nats-server's line, written with the configured host.
            let proto = if m.tls.is_some() { "tls" } else { "mqtt" };
            info!(
                "Listening for MQTT clients on {proto}://{}:{}",
                m.host, m.port
            );
        }
        if let Some(l) = &leafnodes {
            l.log_listening();
        }
        // With the host as configured (`localhost:4222`), as nats-server writes it.
        info!(
            "Listening for client connections on {}",
            join_host_port(&opts.host, client_addr.port())
        );
        let cluster_addr = cluster.as_ref().map(|b| b.cluster.addr);
        // With a leaf block at all: a reload may add the first remote.
        let dials_leafs = leafnodes.is_some();
        if cluster.is_some() || dials_leafs {
            let reactors = handles.clone();
            let for_dialer = cluster.as_ref().map(|b| b.cluster.clone());
            let leafs_for_dialer = leafnodes.clone();
            std::thread::Builder::new()
                .name("dialer".into())
                .spawn(move || {
                    crate::dialer::run(dial_requests, reactors, for_dialer, leafs_for_dialer)
                })
                .map_err(|e| e.to_string())?;
        }
        if let Some(b) = cluster {
            b.start();
        }
        if let Some(l) = &leafnodes {
            l.start();
        }
        Ok(Server {
            shared,
            handles,
            threads: Mutex::new(threads),
            jetstream_thread: Mutex::new(jetstream_thread),
            client_addr,
            websocket_addr,
            cluster_addr,
            monitor,
        })
    }

    /// The bound cluster listener address, when clustered (for the ports file).
    pub fn cluster_addr(&self) -> Option<SocketAddr> {
        self.cluster_addr
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The bound WebSocket address, when the listener runs (for the ports file).
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.websocket_addr
    }

    /// Whether the WebSocket listener speaks TLS (wss).
    pub fn websocket_tls(&self) -> bool {
        self.shared
            .options()
            .websocket
            .as_ref()
            .is_some_and(|w| w.tls.is_some() && !w.no_tls)
    }

    /// Where the HTTP monitor listens, when monitoring is on.
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        self.monitor.as_ref().map(|m| m.addr())
    }

    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Sends every reactor a control message built by `f`.
    pub fn broadcast(&self, f: impl Fn() -> Control) {
        for h in &self.handles {
            h.send_control(f());
        }
    }

    /// Applies new options to the running reactors. When users, credentials or
    /// permissions changed, connected clients are re-checked as nats-server does
    /// (`reloadAuthorization`): those whose user is gone are closed, those whose
    /// credentials no longer pass get `Authorization Violation`, and subscriptions the new
    /// permissions forbid are removed. Nothing is applied if the new authorization
    /// configuration is invalid.
    pub fn reload(&self, opts: Options) -> Result<(), String> {
        // The new leaf settings, built (certificates read) before anything is applied.
        let leaf_reload = match (&self.shared.leafnodes, &opts.leafnodes) {
            (Some(_), Some(_)) => crate::leaf::Settings::from_options(&opts)?,
            _ => None,
        };
        let current = self.shared.auth();
        let new_auth = if current.differs(&opts) {
            let built = current.rebuild(&opts)?;
            for w in &built.warnings {
                warn!("{w}");
            }
            Some(Arc::new(built.auth))
        } else {
            None
        };
        let opts = Arc::new(opts);
        self.shared.set_options(opts.clone());
        *self
            .shared
            .config_time
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
        self.shared.update_info(|i| {
            i.max_payload = opts.max_payload.clamp(0, i32::MAX as i64) as i32;
            if let Some(a) = &new_auth {
                i.auth_required = a.info_auth_required();
            }
        });
        self.broadcast(|| Control::Reload(opts.clone()));
        if let (Some(cluster), Some(c)) = (&self.shared.cluster, &opts.cluster) {
            let routes = c
                .routes
                .iter()
                .map(crate::route::url::RouteUrl::from)
                .collect();
            let removed = cluster.set_explicit(routes);
            if !removed.is_empty() {
                self.broadcast(|| Control::CloseRoutes(removed.clone()));
            }
        }
        if let Some(auth) = new_auth {
            self.shared.set_auth(auth.clone());
            self.broadcast(|| Control::Auth(auth.clone()));
        }
        if let (Some(leafs), Some(mut new)) = (&self.shared.leafnodes, leaf_reload) {
            let effects = leafs.reload(new.tls.take(), std::mem::take(&mut new.remotes));
            if !effects.close.is_empty() {
                self.broadcast(|| Control::CloseLeafRemotes(effects.close.clone()));
            }
            for remote in effects.dial {
                leafs.dial_remote(remote, Duration::ZERO, true);
            }
        }
        Ok(())
    }

    /// Lame duck mode: stop accepting, tell clients, wait the grace period, then close the
    /// clients spread over the rest of the duration, and shut down.
    pub fn lame_duck(&self) {
        let opts = self.shared.options();
        self.shared.lame_duck.store(true, Ordering::Release);
        info!("Entering lame duck mode, stop accepting new clients");
        self.broadcast(|| Control::LameDuck);
        let grace = opts.lame_duck_grace_period;
        let duration = opts
            .lame_duck_duration
            .saturating_sub(grace)
            .max(Duration::from_secs(1));
        std::thread::sleep(grace);
        let total = self.shared.client_count().max(0) as u64;
        if total > 0 {
            info!("Closing existing clients");
            // nats-server closes clients at most one second apart, in batches when many.
            let steps = total.min(duration.as_secs().max(1));
            let per_step = total.div_ceil(steps).max(1) as usize;
            let pause = duration / steps as u32;
            for _ in 0..steps {
                if self.shared.client_count() <= 0 {
                    break;
                }
                let per_reactor = per_step.div_ceil(self.handles.len()).max(1);
                self.broadcast(|| Control::CloseSome(per_reactor));
                std::thread::sleep(pause.min(Duration::from_secs(1)));
            }
        }
        self.shutdown();
    }

    /// Stops accepting, closes every connection after flushing it, and waits for the reactors.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::Release);
        let _ = self.shared.dialer.send(crate::dialer::Request::Stop);
        self.broadcast(|| Control::Shutdown);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        // After the reactors: nothing reaches the JetStream thread any more, and it makes
        // what it stored safe before it ends.
        if let Some(tx) = &self.shared.jetstream {
            let _ = tx.send(crate::jetstream::Inbound::Shutdown);
        }
        let js = self
            .jetstream_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = js {
            let _ = t.join();
        }
        if let Some(m) = &self.monitor {
            m.stop();
        }
    }

    /// True once `shutdown` has completed (or every reactor thread has ended).
    pub fn is_stopped(&self) -> bool {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|t| t.is_finished())
    }
}

/// The accounts JetStream serves, by number and name: `$G` when no accounts are
/// configured, else those whose `jetstream` key enables it (nats-server's
/// `enableJetStreamAccounts`).
fn jetstream_accounts(
    opts: &Options,
    auth: &Auth,
) -> Vec<(u32, String, crate::config::jetstream::AccountLimits)> {
    let names = auth.accounts();
    let id_of = |name: &str| names.iter().position(|n| n == name).map(|i| i as u32);
    if opts.accounts.is_empty() {
        return vec![(
            0,
            crate::auth::GLOBAL_ACCOUNT.to_string(),
            Default::default(),
        )];
    }
    opts.accounts
        .iter()
        .filter(|a| a.jetstream)
        .filter_map(|a| Some((id_of(&a.name)?, a.name.clone(), a.jetstream_limits)))
        .collect()
}

/// Monitoring options nats-server rejects at start-up, and HTTPS, which needs TLS.
fn check_monitor_options(opts: &Options) -> Result<(), String> {
    match (opts.http_port, opts.https_port) {
        (Some(http), Some(https)) => Err(format!(
            "can't specify both HTTP ({}) and HTTPs ({}) ports",
            port_flag(http),
            port_flag(https)
        )),
        (_, Some(_)) => {
            Err("HTTPS monitoring (https_port) is not supported yet; use http_port".to_string())
        }
        _ => Ok(()),
    }
}

/// A port as it was given: `Some(0)` in the options stands for `-1` (a random port).
fn port_flag(p: u16) -> i32 {
    if p == 0 {
        -1
    } else {
        p as i32
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.client_count() > 0 {
            warn!("{} clients still counted at exit", self.client_count());
        }
    }
}

/// Binds the WebSocket listener and builds what its connections need.
fn websocket_listener(
    w: &crate::websocket::WebsocketOptions,
    mqtt: bool,
) -> Result<(std::net::TcpListener, WsRuntime, SocketAddr), String> {
    let host = if w.host.is_empty() {
        crate::config::DEFAULT_HOST.to_string()
    } else {
        w.host.clone()
    };
    let port = w.port.unwrap_or(0);
    let fail = |e: String| format!("Unable to listen for websocket connections: {e}");
    let addr = resolve(&host, port).map_err(fail)?;
    let (listener, bound) = listen_tcp(addr).map_err(|e| fail(e.to_string()))?;
    // nats-server uses the TLS block whenever there is one, whatever no_tls says.
    let tls = match &w.tls {
        Some(t) => Some(crate::tls::server_config(t).map_err(|e| format!("websocket: {e}"))?),
        None => None,
    };
    let connect_urls = connect_urls(&w.advertise, &host, bound.port());
    let rt = WsRuntime {
        config: crate::websocket::WsConfig {
            mqtt,
            ..crate::websocket::WsConfig::new(w)
        },
        tls,
        host,
        port: bound.port(),
        connect_urls,
    };
    Ok((listener, rt, bound))
}

/// Reads the retained messages and persistent sessions kept in JetStream (the global
/// account's MQTT streams) into the MQTT state, and creates the streams when they are not
/// there yet. Runs before the JetStream thread and the reactors do, so their subscriptions
/// are in place for the first MQTT client.
fn restore_mqtt(rt: &crate::mqtt::MqttRuntime, service: &mut crate::jetstream::service::Service) {
    use crate::mqtt::persist;
    let (mut retained, mut sessions) = (0, 0);
    for m in service.stored_messages(0, persist::RETAINED_STREAM) {
        if let Some((subject, Some(r))) = persist::read_retained(&m.subject, &m.headers, &m.payload)
        {
            rt.state.retain(0, &subject, r);
            retained += 1;
        }
    }
    for m in service.stored_messages(0, persist::SESSIONS_STREAM) {
        if let Some((id, s)) = persist::read_session(&m.payload) {
            rt.state.restore_session(0, &id, s);
            sessions += 1;
        }
    }
    if retained + sessions > 0 {
        info!("MQTT: restored {retained} retained message(s) and {sessions} session(s)");
    }
    let requests = persist::stream_configs()
        .into_iter()
        .map(|(name, body)| crate::jetstream::InMsg {
            id: crate::jetstream::service::API_SUB,
            account: 0,
            subject: format!("$JS.API.STREAM.CREATE.{name}").into_bytes(),
            reply: Vec::new(),
            headers: Vec::new(),
            payload: body.into_bytes(),
        })
        .collect();
    service.handle_now(requests);
}

/// Binds the MQTT listener and builds what its connections need.
fn mqtt_listener(
    m: &crate::config::mqtt::MqttOptions,
    persist: Option<String>,
) -> Result<(std::net::TcpListener, crate::mqtt::MqttRuntime), String> {
    let host = if m.host.is_empty() {
        crate::config::DEFAULT_HOST.to_string()
    } else {
        m.host.clone()
    };
    let fail = |e: String| format!("Unable to listen for MQTT connections: {e}");
    let addr = resolve(&host, m.port.unwrap_or(0)).map_err(fail)?;
    let (listener, bound) = listen_tcp(addr).map_err(|e| fail(e.to_string()))?;
    let (tls, tls_timeout) = match &m.tls {
        Some(t) => (
            Some(crate::tls::server_config(t).map_err(|e| format!("mqtt: {e}"))?),
            crate::tls::timeout(t),
        ),
        None => (None, Duration::from_secs(2)),
    };
    let rt = crate::mqtt::MqttRuntime {
        state: crate::mqtt::shared::MqttShared::default(),
        tls,
        tls_timeout,
        auth_timeout: m.auth_timeout,
        reject_qos2_publish: m.reject_qos2_publish,
        downgrade_qos2_subscribe: m.downgrade_qos2_subscribe,
        persist,
        host,
        port: bound.port(),
    };
    Ok((listener, rt))
}

/// The URLs a listener is reached at, as nats-server advertises them to clients and peers
/// (`getConnectURLs`): the advertise address; else for a wildcard host every global unicast
/// address of the machine; else (or if there is none) the host itself.
pub fn connect_urls(advertise: &str, host: &str, port: u16) -> Vec<String> {
    if !advertise.is_empty() {
        return vec![advertise_url(advertise, port)];
    }
    let wildcard = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    let mut urls = Vec::new();
    if wildcard {
        if let Ok(ifs) = if_addrs::get_if_addrs() {
            for ip in ifs.iter().map(|i| i.ip()).filter(is_global_unicast) {
                let url = join_host_port(&ip.to_string(), port);
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
    }
    if urls.is_empty() {
        urls.push(join_host_port(host, port));
    }
    urls
}

/// Go's `IP.IsGlobalUnicast`: not loopback, link-local, multicast, broadcast or unspecified.
fn is_global_unicast(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified())
        }
        std::net::IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// `host:port` with IPv6 hosts in brackets (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An advertise address with the listener's port when it names none.
fn advertise_url(advertise: &str, port: u16) -> String {
    let has_port = match advertise.rsplit_once(':') {
        Some((h, p)) => p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')),
        None => false,
    };
    if has_port {
        advertise.to_string()
    } else {
        join_host_port(advertise, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_listens_at_its_first_ipv4_address() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let pick =
            |list: &[&str]| first_ipv4_else_first(&list.iter().map(|s| a(s)).collect::<Vec<_>>());
        assert_eq!(pick(&["[::1]:1", "127.0.0.1:1"]), Some(a("127.0.0.1:1")));
        assert_eq!(pick(&["[::1]:1", "[fe80::1]:1"]), Some(a("[::1]:1")));
        assert_eq!(pick(&["10.0.0.1:1", "10.0.0.2:1"]), Some(a("10.0.0.1:1")));
        assert_eq!(pick(&[]), None);
        assert_eq!(resolve("[::1]", 5).unwrap(), a("[::1]:5"));
        assert_eq!(resolve("127.0.0.1", 5).unwrap(), a("127.0.0.1:5"));
    }
}
