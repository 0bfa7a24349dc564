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

use crate::config::{Options, NATS_COMPAT_VERSION, VERSION};
use crate::proto::errors::CloseReason;
use crate::proto::info::ServerInfo;
use crate::reactor::conn::{Conn, ConnStats};
use crate::reactor::{self, Control, Handle, Reactor};

/// Counters of one reactor as other threads see them (published once per loop turn).
#[derive(Default)]
pub struct ReactorStats {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub routed_out: AtomicU64,
    pub routed_in: AtomicU64,
    pub polls: AtomicU64,
    pub events: AtomicU64,
    pub connections: AtomicU64,
    pub subscriptions: AtomicU64,
}

/// A closed connection as `/connz?state=closed` reports it.
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
    pub subscriptions: Vec<String>,
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
            subscriptions: Vec::new(),
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
    pub stats: Vec<ReactorStats>,
    closed: Mutex<VecDeque<ClosedClient>>,
    pub lame_duck: AtomicBool,
    pub shutting_down: AtomicBool,
    /// Bumped by a reactor after it has queued interest changes for its peers. A reactor
    /// that sees it move drains its channel before routing a publish, so a subscription
    /// any reactor has processed is visible to every publish processed after it.
    pub interest_epoch: AtomicU64,
    /// The rustls configuration for the client port, when TLS is on.
    pub tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
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

    pub fn client_closed(&self, record: ClosedClient) {
        self.clients.fetch_sub(1, Ordering::AcqRel);
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

    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
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
    client_addr: SocketAddr,
}

/// Resolves `host:port` the way nats-server's `net.Listen` does: the first address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (h, port)
        .to_socket_addrs()
        .map_err(|e| format!("lookup {h}: {e}"))?
        .next()
        .ok_or_else(|| format!("lookup {h}: no such host"))
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Like Go, "::" also accepts IPv4 connections.
        let _ = socket.set_only_v6(false);
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Formats an address the way nats-server logs it (`[::]:4222` for IPv6).
pub fn host_port(addr: &SocketAddr) -> String {
    addr.to_string()
}

impl Server {
    /// Binds the client port and starts the reactors. Returns once the port accepts
    /// connections.
    pub fn start(opts: Options) -> Result<Server, String> {
        opts.validate()?;
        let opts = Arc::new(opts);
        let addr = resolve(&opts.host, opts.port).map_err(|e| {
            format!(
                "Error listening on port: {}:{}, {:?}",
                opts.host, opts.port, e
            )
        })?;
        let std_listener = bind(addr).map_err(|e| {
            format!(
                "Error listening on port: {}:{}, {:?}",
                opts.host,
                opts.port,
                e.to_string()
            )
        })?;
        let client_addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let listener = mio::net::TcpListener::from_std(std_listener);

        let tls = match &opts.tls {
            Some(t) => Some(crate::tls::server_config(t)?),
            None => None,
        };
        let server_id = crate::nkey::server_id();
        let server_name = if opts.server_name.is_empty() {
            server_id.clone()
        } else {
            opts.server_name.clone()
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
            max_payload: opts.max_payload.clamp(0, i32::MAX as i64) as i32,
            tls_required: tls.is_some() && !opts.allow_non_tls,
            tls_available: tls.is_some() && opts.allow_non_tls,
            tls_verify: opts.tls.as_ref().is_some_and(|t| t.requires_client_cert()),
            ..Default::default()
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
            stats: (0..n).map(|_| ReactorStats::default()).collect(),
            closed: Mutex::new(VecDeque::new()),
            lame_duck: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            interest_epoch: AtomicU64::new(0),
            tls: RwLock::new(tls),
        });

        info!("Starting natrium");
        info!("  Version:  {VERSION} (nats-server {NATS_COMPAT_VERSION} compatible)");
        info!("  Name:     {server_name}");
        info!("  ID:       {server_id}");
        info!("  Reactors: {n}");
        if let Some(f) = &opts.config_file {
            info!("Using configuration file: {}", f.display());
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
        let mut threads = Vec::with_capacity(n);
        let mut listener = Some(listener);
        for (id, (poll, inbox)) in polls.into_iter().zip(inboxes).enumerate() {
            let r = Reactor::new(
                id,
                poll,
                inbox,
                handles.clone(),
                listener.take(),
                shared.clone(),
            )
            .map_err(|e| e.to_string())?;
            let t = std::thread::Builder::new()
                .name(format!("reactor-{id}"))
                .spawn(move || r.run())
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        info!(
            "Listening for client connections on {}",
            host_port(&client_addr)
        );
        Ok(Server {
            shared,
            handles,
            threads: Mutex::new(threads),
            client_addr,
        })
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
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

    /// Applies new options to the running reactors.
    pub fn reload(&self, opts: Options) {
        let opts = Arc::new(opts);
        self.shared.set_options(opts.clone());
        self.shared.update_info(|i| {
            i.max_payload = opts.max_payload.clamp(0, i32::MAX as i64) as i32;
        });
        self.broadcast(|| Control::Reload(opts.clone()));
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
        self.broadcast(|| Control::Shutdown);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
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

impl Drop for Shared {
    fn drop(&mut self) {
        if self.client_count() > 0 {
            warn!("{} clients still counted at exit", self.client_count());
        }
    }
}
