//! Taking connections on: accepting on the listeners, handing sockets to reactors, the
//! first INFO, and TLS set-up before a connection's bytes reach the parser
//! (`allow_non_tls`, `handshake_first`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, error, warn};
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::conn::{Conn, TlsPhase};
use super::{Control, Reactor};
use crate::proto::errors::{self, CloseReason};
use crate::proto::parser::{Limits, Parser};
use crate::tls::HandshakeFirst;
use crate::transport::Transport;

/// The listeners a reactor accepts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listener {
    Client,
    Websocket,
    Cluster,
    Leaf,
    Mqtt,
}

impl Reactor {
    // ----- accepting -------------------------------------------------------------------

    pub(super) fn accept_all(&mut self, which: Listener) {
        loop {
            let listener = match which {
                Listener::Client => self.listener.as_ref(),
                Listener::Websocket => self.ws_listener.as_ref(),
                Listener::Cluster => self.cluster_listener.as_ref(),
                Listener::Leaf => self.leaf_listener.as_ref(),
                Listener::Mqtt => self.mqtt_listener.as_ref(),
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
                        match which {
                            Listener::Client => self.adopt(stream, addr),
                            Listener::Websocket => self.adopt_websocket(stream, addr),
                            Listener::Cluster => self.adopt_route(stream, addr, None),
                            Listener::Leaf => self.adopt_leaf(stream, addr, None),
                            Listener::Mqtt => self.adopt_mqtt(stream, addr),
                        }
                    } else if !self.all[target].send_control(match which {
                        Listener::Client => Control::Adopt(stream, addr),
                        Listener::Websocket => Control::AdoptWebsocket(stream, addr),
                        Listener::Cluster => Control::AdoptRoute(stream, addr, None),
                        Listener::Leaf => Control::AcceptLeaf(stream, addr),
                        Listener::Mqtt => Control::AdoptMqtt(stream, addr),
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
    pub(crate) fn register_conn(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        transport_setup: impl FnOnce(&mut Transport) -> Result<(), String>,
        ping_interval: Duration,
        route: bool,
    ) -> Option<usize> {
        // A server in lame duck mode takes no clients but stays in its cluster.
        if self.stopping || (self.lame_duck && !route) {
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
    pub(super) fn adopt(&mut self, stream: TcpStream, peer: SocketAddr) {
        let opts = self.opts.clone();
        let Some(token) = self.register_conn(stream, peer, |_| Ok(()), opts.ping_interval, false)
        else {
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
                let mut line = Vec::new();
                info.write_to(&mut line);
                let (timeout, first) = (crate::tls::timeout(tls), tls.handshake_first.clone());
                if !self.start_server_tls(token, config, timeout, &first, opts.allow_non_tls, line)
                {
                    return;
                }
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

    /// Starts TLS on a connection we accepted, whose first INFO is `info`: INFO in plaintext
    /// and then the handshake (nats-server's default), the handshake first (INFO once it is
    /// done), or with `auto` whichever the peer starts; `sniff` (`allow_non_tls`): INFO,
    /// then the first byte decides. Returns false when the connection was closed.
    pub(crate) fn start_server_tls(
        &mut self,
        token: usize,
        config: std::sync::Arc<rustls::ServerConfig>,
        timeout: Duration,
        first: &HandshakeFirst,
        sniff: bool,
        info: Vec<u8>,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let now = Instant::now();
        conn.tls_deadline = Some(now + timeout);
        if sniff {
            conn.tls_phase = TlsPhase::Sniff;
            conn.out.extend_from_slice(&info);
        } else {
            match first {
                HandshakeFirst::On => {
                    conn.tls_phase = TlsPhase::First;
                    if conn.transport.start_tls(config).is_err() {
                        self.close(token, CloseReason::TlsHandshakeError);
                        return false;
                    }
                }
                HandshakeFirst::Auto(delay) => {
                    conn.tls_phase = TlsPhase::AwaitFirstBytes;
                    conn.tls_deadline = Some(now + *delay);
                }
                HandshakeFirst::Off => {
                    conn.tls_phase = TlsPhase::Upgrading;
                    // INFO goes out in plaintext; everything after it is TLS.
                    let sent = conn.transport.write_raw(&info).unwrap_or(0);
                    if sent < info.len() || conn.transport.start_tls(config).is_err() {
                        self.close(token, CloseReason::WriteError);
                        return false;
                    }
                }
            }
        }
        match conn.leaf.is_some() {
            true => debug!("{} - Starting TLS leafnode server handshake", conn.label()),
            false => debug!(
                "{} - Starting TLS client connection handshake",
                conn.label()
            ),
        }
        true
    }

    /// Starts the client side of TLS on a connection we dialled (to a hub, to a route),
    /// checking the peer's certificate for `name`. What the connection writes meanwhile
    /// waits for the handshake. Returns false when the connection was closed.
    pub(crate) fn start_client_tls(
        &mut self,
        token: usize,
        tls: &crate::tls::DialTls,
        name: rustls_pki_types::ServerName<'static>,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        debug!(
            "{} - Starting TLS {} client handshake",
            conn.label(),
            conn.kind_name()
        );
        let started = conn.transport.start_tls_client(tls.config.clone(), name);
        self.tls_started(token, started, tls.timeout)
    }

    /// Starts the server side of TLS at once on a route we accepted: no INFO before it.
    pub(crate) fn start_immediate_server_tls(
        &mut self,
        token: usize,
        config: std::sync::Arc<rustls::ServerConfig>,
        timeout: Duration,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        debug!(
            "{} - Starting TLS {} server handshake",
            conn.label(),
            conn.kind_name()
        );
        let started = conn.transport.start_tls(config);
        self.tls_started(token, started, timeout)
    }

    fn tls_started(
        &mut self,
        token: usize,
        started: Result<(), rustls::Error>,
        timeout: Duration,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if let Err(e) = started {
            error!(
                "{} - TLS {} handshake error: {e}",
                conn.label(),
                conn.kind_name()
            );
            self.close(token, CloseReason::TlsHandshakeError);
            return false;
        }
        conn.tls_phase = TlsPhase::Immediate;
        conn.tls_deadline = Some(Instant::now() + timeout);
        self.mark_dirty(token);
        self.arm_timer(token);
        true
    }

    /// The TLS of the listener a connection came in on, and its handshake timeout.
    pub(super) fn listener_tls(
        &self,
        conn: &Conn,
    ) -> Option<(std::sync::Arc<rustls::ServerConfig>, Duration)> {
        if conn.leaf.is_some() {
            let tls = self.shared.leafnodes.as_ref()?.listener_tls()?;
            return Some((tls.config, tls.timeout));
        }
        let timeout = self
            .opts
            .tls
            .as_ref()
            .map_or(crate::tls::TLS_TIMEOUT, crate::tls::timeout);
        Some((self.shared.tls_config()?, timeout))
    }

    /// The first INFO of a connection we accepted, for when it goes out after TLS.
    pub(super) fn first_info(&self, conn: &Conn) -> Vec<u8> {
        let mut line = Vec::new();
        match conn.leaf.as_deref() {
            Some(l) => self
                .leaf_info(conn.cid, &l.nonce, false, "")
                .write_to(&mut line),
            None => {
                let mut info = self.shared.info_for_client(conn.cid, conn.peer);
                info.nonce = conn.nonce.as_deref().unwrap_or_default().to_string();
                info.write_to(&mut line);
            }
        }
        line
    }

    /// Moves a connection through TLS set-up before its bytes reach the parser: decides
    /// TLS-or-not on the first byte (`allow_non_tls`, `handshake_first: auto`). Returns false
    /// when reading must wait.
    pub(super) fn tls_progress(&mut self, token: usize) -> bool {
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
        let Some((config, timeout)) = self.conns.get(token).and_then(|c| self.listener_tls(c))
        else {
            return true;
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
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
    pub(super) fn tls_check_handshake(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if !matches!(
            conn.tls_phase,
            TlsPhase::Upgrading | TlsPhase::First | TlsPhase::Immediate
        ) || conn.transport.is_handshaking()
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
            if let Some(line) = self.conns.get(token).map(|c| self.first_info(c)) {
                if let Some(conn) = self.conns.get_mut(token) {
                    conn.out.extend_from_slice(&line);
                }
            }
        }
        self.mark_dirty(token);
    }
}
