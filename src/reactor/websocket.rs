//! WebSocket connections in the reactor: adopting a socket from the WebSocket listener,
//! reading its HTTP upgrade request, and turning it into a client (or, on the `/leafnode`
//! path, a leaf connection) once upgraded; for a WebSocket leaf remote we dialled, reading
//! the hub's answer to our request.
//!
//! Until the upgrade completes the connection is not a client: it has cid 0, is not
//! counted, gets no INFO and leaves no closed-connection record, as in nats-server, where
//! the HTTP server owns the socket until `createWSClient`. Its deadline (`ws_deadline`)
//! covers the TLS handshake (wss) and the request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, error};
use mio::net::TcpStream;

use super::conn::ReadOutcome;
use super::{Reactor, SCRATCH_SIZE};
use crate::proto::errors::{self, CloseReason};
use crate::transport::Transport;
use crate::websocket::handshake::{self, Kind, Outcome};

impl Reactor {
    /// Takes a socket accepted on the WebSocket listener: starts TLS for wss and waits for
    /// the upgrade request.
    pub(super) fn adopt_websocket(&mut self, stream: TcpStream, peer: SocketAddr) {
        let Some(ws) = self.shared.websocket.clone() else {
            return;
        };
        let max_payload = self.opts.max_payload.max(0) as usize;
        let ping_interval = ws.config.ping_interval.unwrap_or(self.opts.ping_interval);
        let tls = ws.tls.clone();
        let setup = |transport: &mut Transport| {
            if let Some(config) = tls {
                transport
                    .start_tls(config)
                    .map_err(|e| format!("websocket: TLS: {e}"))?;
            }
            transport.start_websocket(max_payload);
            Ok(())
        };
        let Some(token) = self.register_conn(stream, peer, setup, ping_interval, false) else {
            return;
        };
        let now = Instant::now();
        self.conns[token].ws_deadline = Some(now + ws.config.handshake_timeout);
        debug!("{peer} - websocket connection accepted");
        self.arm_timer(token);
    }

    /// Reads the upgrade request. Returns true once the connection is an upgraded client
    /// (and reading may go on), false while it waits or after it was closed.
    pub(super) fn ws_handshake(&mut self, token: usize) -> bool {
        let ws_rt = self.shared.websocket.clone();
        let dialled = self.conns.get(token).is_some_and(|c| c.leaf.is_some());
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut result = false;
        while let Some(conn) = self.conns.get_mut(token) {
            if conn.closing.is_some() {
                break;
            }
            let n = match conn
                .transport
                .read_below_ws(&mut scratch[..SCRATCH_SIZE.min(4096)])
            {
                ReadOutcome::Data(n) => n,
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Eof => {
                    debug!("{} - websocket: closed before the upgrade", conn.peer);
                    self.close(token, CloseReason::ClientClosed);
                    break;
                }
                ReadOutcome::Error(e) => {
                    if conn.transport.is_handshaking() {
                        // Go's http server logs TLS handshake failures through its ErrorLog.
                        error!(
                            "websocket: http: TLS handshake error from {}: {e}",
                            conn.peer
                        );
                    } else {
                        debug!("{} - websocket: read error: {e}", conn.peer);
                    }
                    self.close(token, CloseReason::ReadError);
                    break;
                }
            };
            let Some(ws) = conn.transport.ws_mut() else {
                break;
            };
            ws.request.extend_from_slice(&scratch[..n]);
            let progress = match (&ws_rt, dialled) {
                (_, true) => self.hub_websocket_answer(token),
                (Some(rt), false) => self.ws_process_request(token, &rt.config),
                (None, false) => Some(false),
            };
            match progress {
                Some(true) => {
                    result = true;
                    break;
                }
                Some(false) => break,
                None => continue,
            }
        }
        self.scratch = scratch;
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.transport.wants_write())
        {
            self.mark_dirty(token);
        }
        result
    }

    /// Runs the checks over the request bytes held. Some(true): upgraded; Some(false):
    /// closed or closing; None: wait for more bytes.
    fn ws_process_request(
        &mut self,
        token: usize,
        cfg: &crate::websocket::WsConfig,
    ) -> Option<bool> {
        loop {
            let conn = self.conns.get_mut(token)?;
            let peer = conn.peer;
            let ws = conn.transport.ws_mut()?;
            if ws.request.is_empty() {
                return None;
            }
            match handshake::process(&ws.request, cfg) {
                Outcome::Partial => return None,
                Outcome::Reject(r) => {
                    ws.queue_raw(&r.response);
                    if let Some(log) = &r.log {
                        // nats-server: `s.Errorf(err.Error())` with "<addr> - websocket
                        // handshake error: <reason>".
                        error!("{peer} - {log}");
                    }
                    if r.close || r.consumed == 0 {
                        self.close(token, CloseReason::ProtocolViolation);
                        return Some(false);
                    }
                    // HTTP/1.1 keep-alive: the connection may send another request.
                    ws.request.drain(..r.consumed.min(ws.request.len()));
                }
                Outcome::Upgrade {
                    response,
                    negotiated,
                    kind,
                } => {
                    ws.queue_raw(&response);
                    ws.open(negotiated);
                    let leaf_port = self
                        .shared
                        .leafnodes
                        .as_ref()
                        .is_some_and(|l| l.settings.listen.is_some());
                    if kind == Kind::Leaf && leaf_port {
                        // nats-server's `createLeafNode` with the WebSocket connection.
                        conn.ws_deadline = None;
                        self.start_leaf(token, None);
                        return Some(self.conns.get(token).is_some_and(|c| c.is_open()));
                    }
                    if kind == Kind::Leaf {
                        error!("Not configured to accept leaf node connections");
                        // Closing a not-yet-client: the 101 goes out, then the socket closes.
                        conn.closing = Some(CloseReason::ProtocolViolation);
                        conn.drain_deadline = Some(Instant::now() + Duration::from_secs(2));
                        self.closing.push(token);
                        self.mark_dirty(token);
                        return Some(false);
                    }
                    if kind == Kind::Mqtt {
                        conn.ws_deadline = None;
                        self.start_mqtt(token);
                    } else {
                        self.ws_upgraded(token);
                    }
                    return Some(self.conns.get(token).is_some_and(|c| c.is_open()));
                }
            }
        }
    }

    /// The upgrade is done: the connection becomes a client (nats-server's
    /// `createWSClient`): a cid, the count, INFO with the WebSocket values, timers.
    fn ws_upgraded(&mut self, token: usize) {
        let opts = self.opts.clone();
        let now = Instant::now();
        let cid = self.shared.next_cid();
        let count = self.shared.client_opened();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.cid = cid;
        conn.ws_deadline = None;
        conn.started = std::time::SystemTime::now();
        debug!("{} - Client connection created", conn.label());
        if let Some((version, suite)) = conn.transport.tls_details() {
            debug!(
                "{} - TLS version {version}, cipher suite {suite}",
                conn.label()
            );
        }
        let mut info = self.shared.info_for_conn(conn);
        if self.auth.wants_nonce() {
            let Some(nonce) = crate::nkey::nonce() else {
                // Without randomness nkey clients cannot be authenticated: fail closed.
                error!("{} - cannot generate a nonce", conn.label());
                self.close(token, CloseReason::ServerShutdown);
                return;
            };
            info.nonce = nonce.clone();
            conn.nonce = Some(nonce.into());
        }
        info.write_to(&mut conn.out);
        if self.auth.required() {
            conn.parser.set_expect_connect(true);
            conn.auth_deadline = Some(now + opts.effective_auth_timeout());
        }
        self.mark_dirty(token);
        self.arm_timer(token);
        if opts.max_connections < 0 || (opts.max_connections > 0 && count > opts.max_connections) {
            if let Some(c) = self.conns.get_mut(token) {
                error!("{} - {}", c.label(), errors::MAX_CONNECTIONS);
                c.queue_err(errors::MAX_CONNECTIONS);
            }
            self.close(token, CloseReason::MaxConnectionsExceeded);
        }
    }

    /// The PING interval of a connection: the `websocket { ping_interval }` override for
    /// WebSocket clients, else the server's.
    pub(crate) fn ping_interval_for(&self, token: usize) -> Duration {
        let is_ws = self
            .conns
            .get(token)
            .is_some_and(|c| c.transport.is_websocket());
        if is_ws {
            if let Some(d) = self
                .shared
                .websocket
                .as_ref()
                .and_then(|w| w.config.ping_interval)
            {
                return d;
            }
        }
        self.opts.ping_interval
    }
}
