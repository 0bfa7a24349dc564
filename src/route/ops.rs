//! What a reactor does on a route connection: the handshake (CONNECT and INFO both ways,
//! registration, duplicate and self detection, cluster names), the peer's interest (`RS+`,
//! `RS-`, `LS+`, `LS-`), its messages (`RMSG`, `HMSG`, `LMSG`), gossip, and the close.
//!
//! Order of a handshake, as nats-server runs it (`createRoute`, `processRouteConnect`,
//! `processRouteInfo`, `addRoute`): the accepting side sends INFO at once and expects
//! CONNECT first; the dialling side sends CONNECT and its INFO. A route counts as connected
//! only when the peer's INFO has arrived (a nats-server that dials sends CONNECT at once but
//! may never send INFO, e.g. for a dedicated `$SYS` route it then refuses); then it is
//! registered, gets every interest of this server's clients as `RS+`, its INFO is forwarded
//! to the other routes (gossip: they dial it), and its client URLs go to our clients.

use std::time::{Duration, Instant};

use log::{debug, error, info, trace};
use serde_json::Value;

use super::dialer::{Dialled, ROUTE_RECONNECT};
use super::registry::{Registration, Remote};
use super::url::RouteUrl;
use super::RouteState;
use crate::proto::errors::{self, CloseReason};
use crate::proto::info::{RouteConnect, ServerInfo};
use crate::proto::parser::Limits;
use crate::proto::peer::{
    self, MsgVerb, PeerKind, PeerOp, PeerParser, PeerStatus, PeerSub, RoutePeer,
};
use crate::reactor::interest::InterestKey;
use crate::reactor::{Control, Reactor, Target};

/// nats-server's route protocol version in INFO (`MsgTraceProto`).
const ROUTE_PROTO: i32 = 3;

/// `RS+`/`RS-` for the server's interest in `key`, now `weight` (0: gone), to one route.
pub(crate) fn write_interest(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    key: &InterestKey,
    weight: u32,
) {
    let (subject, queue) = (&key.1[..], key.2.as_deref());
    if weight > 0 {
        let weight = i32::try_from(weight).unwrap_or(i32::MAX);
        peer::write_route_sub(
            out,
            peer,
            account,
            None,
            subject,
            queue.map(|q| (q, weight)),
        );
    } else {
        peer::write_route_unsub(out, peer, account, None, subject, queue);
    }
}

impl Reactor {
    /// Takes a route connection: accepted on the cluster listener (`dialled` None) or
    /// dialled. The acceptor sends INFO and waits for CONNECT; the dialler sends CONNECT and
    /// INFO.
    pub(crate) fn adopt_route(
        &mut self,
        stream: mio::net::TcpStream,
        peer: std::net::SocketAddr,
        dialled: Option<Dialled>,
    ) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let ping = cluster.ping_interval();
        let Some(token) = self.register_conn(stream, peer, |_| Ok(()), ping, true) else {
            return;
        };
        let cid = self.shared.next_cid();
        let limits = Limits {
            max_control_line: self.opts.max_control_line,
            // Routes carry what the sending server accepted (nats-server: no limit).
            max_payload: crate::proto::parser::NO_PAYLOAD_LIMIT,
        };
        let mut parser = PeerParser::new(PeerKind::Route, limits);
        let solicited = dialled.is_some();
        parser.set_expect_connect(!solicited);
        let mut state = RouteState::new(parser);
        state.solicited = solicited;
        state.explicit = dialled.as_ref().is_some_and(|d| d.explicit);
        state.url = dialled.map(|d| d.url);
        let now = Instant::now();
        let conn = &mut self.conns[token];
        conn.cid = cid;
        conn.route = Some(Box::new(state));
        if solicited {
            debug!("{} - Route connect msg sent", conn.label());
            let connect = self.route_connect_line(token);
            if let Some(c) = self.conns.get_mut(token) {
                c.out.extend_from_slice(&connect);
            }
        } else if cluster.settings.auth.is_some() {
            self.conns[token].auth_deadline = Some(now + cluster.settings.auth_timeout);
        }
        let info = self.route_info_line(true);
        if let Some(c) = self.conns.get_mut(token) {
            c.out.extend_from_slice(&info);
            // nats-server's first route PING comes after the first ping interval.
            c.ping_at = now + ping;
            info!("{} - Route connection created", c.label());
        }
        self.mark_dirty(token);
        self.arm_timer(token);
    }

    /// Our route INFO: `INFO {…} \r\n`, with a fresh nonce on the first one, as nats-server's
    /// `generateRouteInitialInfoJSON` makes it.
    fn route_info_line(&self, with_nonce: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.route_info(with_nonce).write_to(&mut out);
        out
    }

    fn route_info(&self, with_nonce: bool) -> ServerInfo {
        let client = self.shared.info();
        let Some(cluster) = self.shared.cluster.as_deref() else {
            return client;
        };
        let (connect_urls, ws_connect_urls) = if cluster.settings.no_advertise {
            (Vec::new(), Vec::new())
        } else {
            (
                cluster.registry.own_urls().to_vec(),
                cluster.registry.own_ws_urls().to_vec(),
            )
        };
        ServerInfo {
            server_id: client.server_id,
            server_name: client.server_name,
            version: client.version,
            proto: ROUTE_PROTO,
            go: client.go,
            host: cluster.info_host.clone(),
            port: cluster.info_port,
            headers: client.headers,
            auth_required: cluster.settings.auth.is_some(),
            max_payload: client.max_payload,
            nonce: if with_nonce {
                crate::nkey::nonce().unwrap_or_default()
            } else {
                String::new()
            },
            cluster: cluster.registry.name(),
            cluster_dynamic: cluster.registry.is_dynamic(),
            connect_urls,
            ws_connect_urls,
            lnoc: true,
            lnocu: true,
            ..ServerInfo::default()
        }
    }

    /// The CONNECT a dialling route sends (`sendRouteConnect`): credentials from its URL.
    fn route_connect_line(&self, token: usize) -> Vec<u8> {
        let Some(cluster) = self.shared.cluster.as_deref() else {
            return Vec::new();
        };
        let url = self
            .conns
            .get(token)
            .and_then(|c| c.route.as_deref())
            .and_then(|r| r.url.clone());
        let mut connect = RouteConnect::new(
            &self.shared.server_id,
            &cluster.registry.name(),
            !self.opts.no_header_support,
            false,
        );
        connect.dynamic = cluster.registry.is_dynamic();
        connect.lnocu = true;
        if let Some(u) = url {
            connect.user = u.user.unwrap_or_default();
            connect.pass = u.pass.unwrap_or_default();
        }
        let mut out = Vec::new();
        connect.write_to(&mut out);
        out
    }

    /// Parses and executes what a route sent; returns the bytes consumed.
    pub(crate) fn process_route(&mut self, token: usize, data: &[u8]) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            let Some(conn) = self.conns.get_mut(token) else {
                return pos;
            };
            if !conn.can_process() {
                break;
            }
            let Some(route) = conn.route.as_deref_mut() else {
                return pos;
            };
            match route.parser.parse(&data[pos..]) {
                Ok(PeerStatus::Complete(op, used)) => {
                    pos += used;
                    conn.last_in = Instant::now();
                    conn.last_activity = std::time::SystemTime::now();
                    self.route_op(token, op);
                    if self.congested {
                        self.stall(token);
                    }
                }
                Ok(PeerStatus::Incomplete) => break,
                Err(e) => {
                    if let Some(text) = e.err_text() {
                        conn.queue_err(text);
                    }
                    error!("{} - Route Error {e}", conn.label());
                    let reason = e.close_reason();
                    self.close(token, reason);
                    return data.len();
                }
            }
        }
        pos
    }

    fn route_op(&mut self, token: usize, op: PeerOp<'_>) {
        if log::log_enabled!(log::Level::Trace) {
            if let Some(c) = self.conns.get(token) {
                trace!("{} - <<- [{op:?}]", c.label());
            }
        }
        match op {
            PeerOp::Connect(json) => self.on_route_connect(token, json),
            PeerOp::Info(json) => self.on_route_info(token, json),
            PeerOp::Ping => {
                if let Some(c) = self.conns.get_mut(token) {
                    c.queue_pong();
                }
                self.mark_dirty(token);
            }
            PeerOp::Pong => {
                if let Some(c) = self.conns.get_mut(token) {
                    c.pings_out = 0;
                    if let Some(start) = c.rtt_start {
                        c.rtt = Some(start.elapsed().max(Duration::from_nanos(1)));
                    }
                }
            }
            PeerOp::Ok | PeerOp::Ignored { .. } => {}
            PeerOp::Err(text) => {
                // A -ERR on a route closes it. Before the peer's INFO it is usually a
                // nats-server refusing a dedicated route we cannot have (no pool): nothing
                // to worry about, and nothing to retry.
                let registered = self.route_registered(token);
                if let Some(c) = self.conns.get_mut(token) {
                    let text = String::from_utf8_lossy(text);
                    if registered {
                        error!("{} - Route Error {text}", c.label());
                    } else {
                        debug!("{} - Route Error {text}", c.label());
                        if let Some(r) = c.route.as_deref_mut() {
                            r.no_reconnect = true;
                        }
                    }
                }
                self.close(token, CloseReason::ParseError);
            }
            PeerOp::Sub(sub) => self.on_route_sub(token, &sub, true),
            PeerOp::Unsub(sub) => self.on_route_sub(token, &sub, false),
            PeerOp::Msg(m) if matches!(m.verb, MsgVerb::Pub | MsgVerb::Hpub) => {
                // nats-server takes a PUB on a route as a routed message without an
                // account, finds none, and drops it.
                if let Some(c) = self.conns.get(token) {
                    debug!(
                        "{} - Unknown account for PUB on a route, dropped",
                        c.label()
                    );
                }
            }
            PeerOp::Msg(m) => {
                let Some(account) = self.route_account(token, m.account) else {
                    return;
                };
                let queues: Vec<&[u8]> = m.queues.iter().collect();
                if let Some(c) = self.conns.get_mut(token) {
                    c.stats.in_msgs += 1;
                    c.stats.in_bytes += m.msg.data.len() as u64;
                }
                self.counters.in_msgs += 1;
                self.counters.in_bytes += m.msg.data.len() as u64;
                self.deliver_from_route(account, &m.msg, &queues);
            }
        }
    }

    fn route_registered(&self, token: usize) -> bool {
        self.conns
            .get(token)
            .and_then(|c| c.route.as_deref())
            .is_some_and(|r| r.registered)
    }

    /// The number of the account a route names (`$G` when the proto has none); None, with a
    /// debug line, for an account this server does not have.
    fn route_account(&self, token: usize, name: Option<&[u8]>) -> Option<u32> {
        let name = name.unwrap_or(crate::auth::GLOBAL_ACCOUNT.as_bytes());
        let found = self
            .auth
            .accounts()
            .iter()
            .position(|a| a.as_bytes() == name)
            .map(|i| i as u32);
        if found.is_none() {
            if let Some(c) = self.conns.get(token) {
                debug!(
                    "{} - Unknown account {:?} for routed message or interest",
                    c.label(),
                    String::from_utf8_lossy(name)
                );
            }
        }
        found
    }

    /// CONNECT from a route we accepted (`processConnect` then `processRouteConnect`):
    /// credentials, a client on the wrong port, a gateway, the cluster name.
    fn on_route_connect(&mut self, token: usize, json: &[u8]) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.auth_deadline = None;
        let doc: serde_json::Map<String, Value> = match serde_json::from_slice(json) {
            Ok(Value::Object(m)) => m,
            _ => {
                error!("{} - Route Error invalid CONNECT", conn.label());
                self.close(token, CloseReason::ProtocolViolation);
                return;
            }
        };
        let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default();
        let flag = |k: &str| doc.get(k).and_then(Value::as_bool).unwrap_or(false);
        if let Some((user, pass)) = &cluster.settings.auth {
            if text("user") != user || text("pass") != pass {
                conn.queue_err(errors::AUTH_VIOLATION);
                error!("{} - {}", conn.label(), errors::AUTH_VIOLATION);
                self.close(token, CloseReason::AuthenticationViolation);
                return;
            }
        }
        if !text("lang").is_empty() {
            conn.queue_err("attempted to connect to route port");
            error!("{} - attempted to connect to route port", conn.label());
            self.close(token, CloseReason::WrongPort);
            return;
        }
        if !text("gateway").is_empty() {
            let err = format!(
                "Rejecting connection from gateway {:?} on the Route port",
                text("gateway")
            );
            error!("{} - {err}", conn.label());
            conn.queue_err(&err);
            self.close(token, CloseReason::WrongGateway);
            return;
        }
        let theirs = text("cluster");
        if !cluster.registry.adopt_name(theirs, flag("cluster_dynamic")) {
            let err = format!(
                "Rejecting connection, cluster name {:?} does not match {:?}",
                theirs,
                cluster.registry.name()
            );
            error!("{} - {err}", conn.label());
            conn.queue_err(&err);
            self.close(token, CloseReason::ClusterNameConflict);
            return;
        }
        let headers = !self.opts.no_header_support && flag("headers");
        if let Some(r) = conn.route.as_deref_mut() {
            r.remote_id = text("name").to_string();
            r.peer.headers = headers;
            r.peer.lnoc = flag("lnoc");
            r.peer.lnocu = flag("lnocu");
            r.parser.set_headers(headers);
            r.parser.set_expect_connect(false);
            r.parser.set_unsub_origin(flag("lnocu"));
        }
        self.mark_dirty(token);
    }

    /// INFO from a route: the first registers it; later ones are gossip about another server
    /// (dial it), its lame duck mode, or updates we do not act on.
    fn on_route_info(&mut self, token: usize, json: &[u8]) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(json) else {
            if let Some(c) = self.conns.get(token) {
                error!("{} - Route Error invalid INFO", c.label());
            }
            self.close(token, CloseReason::ProtocolViolation);
            return;
        };
        let text = |d: &serde_json::Map<String, Value>, k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let list = |d: &serde_json::Map<String, Value>, k: &str| -> Vec<String> {
            d.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let id = text(&doc, "server_id");
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        let Some(route) = conn.route.as_deref() else {
            return;
        };
        let (registered, remote_id, solicited) =
            (route.registered, route.remote_id.clone(), route.solicited);
        let (label, peer_ip, cid) = (conn.label().to_string(), conn.peer.ip(), conn.cid);
        if registered {
            if id != remote_id {
                self.implicit_route(&doc);
            } else if doc.get("ldm").and_then(Value::as_bool) == Some(true) {
                if let Some((urls, ws)) = cluster.registry.remote_lame_duck(&id) {
                    if !cluster.settings.no_advertise {
                        self.change_client_urls(&urls, &ws, -1);
                    }
                }
            }
            return;
        }
        // Route to ourselves: close quietly and never again.
        if id == self.shared.server_id {
            self.update_route(token, |r| {
                r.remote_id = id.clone();
                r.no_reconnect = true;
            });
            self.close(token, CloseReason::DuplicateRoute);
            return;
        }
        let theirs = text(&doc, "cluster");
        let dynamic = doc.get("cluster_dynamic").and_then(Value::as_bool) == Some(true);
        if !theirs.is_empty() && !cluster.registry.adopt_name(&theirs, dynamic) {
            self.close(token, CloseReason::ClusterNameConflict);
            return;
        }
        let name = text(&doc, "server_name");
        if !solicited && name == self.shared.info().server_name {
            error!("{label} - Remote server has a duplicate name: {name:?}");
            self.close(token, CloseReason::DuplicateServerName);
            return;
        }
        let account = text(&doc, "route_account");
        if !account.is_empty() {
            // natrium has no route pool: one connection carries every account.
            let err = format!(
                "Not possible to have a dedicated route for account {account:?} between those servers"
            );
            error!("{label} - {err}");
            self.update_route(token, |r| r.no_reconnect = true);
            if let Some(c) = self.conns.get_mut(token) {
                c.queue_err(&err);
            }
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        let port = doc.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
        if text(&doc, "ip").is_empty() {
            let ip = crate::server::join_host_port(&peer_ip.to_string(), port);
            doc.insert("ip".into(), Value::String(format!("nats-route://{ip}/")));
        }
        let dialled = self
            .conns
            .get(token)
            .and_then(|c| c.route.as_deref())
            .and_then(|r| r.url.clone());
        let url = match dialled {
            Some(u) => u,
            None => match RouteUrl::parse(&text(&doc, "ip")) {
                Ok(u) => u,
                Err(e) => {
                    error!("{label} - Error parsing URL from INFO: {e}");
                    self.close(token, CloseReason::ParseError);
                    return;
                }
            },
        };
        let headers = !self.opts.no_header_support
            && doc.get("headers").and_then(Value::as_bool) == Some(true);
        let explicit = self
            .conns
            .get(token)
            .and_then(|c| c.route.as_deref())
            .is_some_and(|r| r.explicit)
            || cluster.is_explicit(&url);
        let connect_urls = list(&doc, "connect_urls");
        let ws_connect_urls = list(&doc, "ws_connect_urls");
        let flag = |k: &str| doc.get(k).and_then(Value::as_bool) == Some(true);
        let (lnoc, lnocu) = (flag("lnoc"), flag("lnocu"));
        self.update_route(token, |r| {
            r.remote_id = id.clone();
            r.remote_name = name.clone();
            r.peer.headers = headers;
            r.peer.lnoc = lnoc;
            r.peer.lnocu = lnocu;
            r.parser.set_headers(headers);
            r.parser.set_unsub_origin(lnocu);
            r.parser.set_expect_connect(false);
        });
        let remote = Remote {
            reactor: self.id,
            token,
            cid,
            name,
            url: url.redacted(),
            dial_url: Some(url.clone()),
            solicited,
            explicit,
            retry: false,
            connect_urls: connect_urls.clone(),
            ws_connect_urls: ws_connect_urls.clone(),
            lame_duck: false,
        };
        match cluster.registry.register(&id, remote) {
            Registration::Duplicate => {
                debug!("{label} - Detected duplicate remote route {id:?}");
                self.close(token, CloseReason::DuplicateRoute);
            }
            Registration::Added { others } => {
                debug!("{label} - Registering remote route {id:?}");
                self.update_route(token, |r| {
                    r.registered = true;
                    r.url = Some(url);
                });
                self.routes.push(token);
                self.send_interest_to_route(token);
                // Gossip: the other servers dial the newcomer
                // (`forwardNewRouteInfoToKnownServers`).
                doc.remove("nonce");
                let mut line = b"INFO ".to_vec();
                line.extend_from_slice(Value::Object(doc).to_string().as_bytes());
                line.extend_from_slice(b"\r\n");
                let line = std::sync::Arc::new(line);
                for r in others {
                    if r == self.id {
                        self.forward_route_info(&line, &id);
                    } else if let Some(h) = self.all.get(r) {
                        h.send_control(Control::ForwardRouteInfo(line.clone(), id.clone()));
                    }
                }
                if !cluster.settings.no_advertise {
                    self.change_client_urls(&connect_urls, &ws_connect_urls, 1);
                }
            }
        }
    }

    fn update_route(&mut self, token: usize, f: impl FnOnce(&mut RouteState)) {
        if let Some(r) = self
            .conns
            .get_mut(token)
            .and_then(|c| c.route.as_deref_mut())
        {
            f(r);
        }
    }

    /// Closes this reactor's routes that were dialled at one of `urls`, for good (a reload
    /// removed them from the configured routes).
    pub(crate) fn close_routes_to(&mut self, urls: &[RouteUrl]) {
        for token in self.routes.clone() {
            let hit = self
                .conns
                .get(token)
                .and_then(|c| c.route.as_deref())
                .and_then(|r| r.url.as_ref())
                .is_some_and(|u| urls.iter().any(|x| x.same_address(u)));
            if hit {
                self.update_route(token, |r| r.no_reconnect = true);
                self.close(token, CloseReason::RouteRemoved);
            }
        }
    }

    /// Writes a newcomer's INFO to this reactor's registered routes other than the
    /// newcomer's own.
    pub(crate) fn forward_route_info(&mut self, line: &[u8], newcomer: &str) {
        for token in self.routes.clone() {
            let Some(c) = self.conns.get_mut(token) else {
                continue;
            };
            if c.route
                .as_deref()
                .is_some_and(|r| r.registered && r.remote_id != newcomer)
            {
                c.out.extend_from_slice(line);
                self.mark_dirty(token);
            }
        }
    }

    /// Gossip about another server (`processImplicitRoute`): dial it, unless it is us, is
    /// connected already, or is a configured route (dialled anyway).
    fn implicit_route(&mut self, doc: &serde_json::Map<String, Value>) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let id = doc
            .get("server_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if id == self.shared.server_id || cluster.registry.is_connected(id) {
            return;
        }
        let Some(ip) = doc.get("ip").and_then(Value::as_str) else {
            return;
        };
        let Ok(url) = RouteUrl::parse(ip) else {
            return;
        };
        if cluster.is_explicit(&url) {
            return;
        }
        cluster.dial(url, false, Duration::ZERO, true);
    }

    /// Adds (+1) or removes (-1) a remote's client URLs; when the lists change, every client
    /// that understands async INFO gets one (nats-server's `sendAsyncInfoToClients`).
    fn change_client_urls(&mut self, urls: &[String], ws_urls: &[String], delta: i32) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let Some(change) = cluster.registry.change_urls(urls, ws_urls, delta) else {
            return;
        };
        self.shared.update_info(|i| {
            i.connect_urls = change.connect_urls.clone();
            i.ws_connect_urls = change.ws_connect_urls.clone();
        });
        for h in &self.all {
            h.send_control(Control::ClientUrlsChanged {
                ws: change.ws_changed,
            });
        }
    }

    /// Sends this server's whole client interest to a route that just registered
    /// (`sendSubsToRoute`).
    fn send_interest_to_route(&mut self, token: usize) {
        let keys: Vec<(InterestKey, u32)> = self
            .server_interest
            .iter()
            .map(|(k, n)| {
                (
                    k.clone(),
                    crate::reactor::interest::contribution(k.2.is_some(), n),
                )
            })
            .collect();
        let names: Vec<String> = self.auth.accounts().to_vec();
        let cluster = self.shared.cluster.clone();
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        for (key, weight) in keys {
            if !cluster.as_ref().is_some_and(|cl| cl.can_import(&key.1)) {
                continue;
            }
            let Some(account) = names.get(key.0 as usize) else {
                continue;
            };
            let Some(route) = c.route.as_deref() else {
                return;
            };
            write_interest(&mut c.out, &route.peer, account.as_bytes(), &key, weight);
        }
        debug!("{} - Sent local subscriptions to route", c.label());
        self.mark_dirty(token);
    }

    /// `RS+`/`LS+` (add) and `RS-`/`LS-` from a route: its interest, in the index as
    /// `Target::Route` and announced to the other reactors.
    fn on_route_sub(&mut self, token: usize, sub: &PeerSub<'_>, add: bool) {
        let Some(account) = self.route_account(token, sub.account) else {
            return;
        };
        if add && !crate::subject::is_valid_pattern(sub.subject) {
            if let Some(c) = self.conns.get_mut(token) {
                c.queue_err("Invalid Subscription");
            }
            self.mark_dirty(token);
            return;
        }
        if add
            && !self
                .shared
                .cluster
                .as_ref()
                .is_some_and(|c| c.can_export(sub.subject))
        {
            if let Some(c) = self.conns.get(token) {
                debug!(
                    "{} - Can not export {:?}, ignoring remote subscription request",
                    c.label(),
                    String::from_utf8_lossy(sub.subject)
                );
            }
            return;
        }
        let key: InterestKey = (account, sub.subject.into(), sub.queue.map(Into::into));
        let new = if !add {
            0
        } else if sub.queue.is_some() {
            sub.weight.max(1) as u32
        } else {
            1
        };
        let Some(route) = self
            .conns
            .get_mut(token)
            .and_then(|c| c.route.as_deref_mut())
        else {
            return;
        };
        let old = route.subs.get(&key).copied().unwrap_or(0);
        if old == new {
            return;
        }
        if new == 0 {
            route.subs.remove(&key);
        } else {
            route.subs.insert(key.clone(), new);
        }
        let sublist = self.sublist_mut(account);
        if old > 0 {
            sublist.remove(
                &key.1,
                key.2.as_deref(),
                Target::Route {
                    conn: token,
                    weight: old,
                },
            );
        }
        if new > 0
            && sublist
                .insert(
                    &key.1,
                    key.2.as_deref(),
                    Target::Route {
                        conn: token,
                        weight: new,
                    },
                )
                .is_err()
        {
            return;
        }
        self.note_route_interest(&key, old, new);
        // Make the change visible to publishes on other reactors at once.
        if !self.pending_interest.is_empty() {
            self.send_batches();
        }
    }

    /// A route is closing: withdraw its interest, unregister it, withdraw its client URLs,
    /// and dial it again if it is ours to dial (`removeRoute`, `reconnect`).
    pub(crate) fn route_closed(&mut self, token: usize, reason: CloseReason) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let label = conn.label().to_string();
        let cid = conn.cid;
        let Some(route) = conn.route.as_deref_mut() else {
            return;
        };
        let subs = std::mem::take(&mut route.subs);
        let route = RouteState {
            parser: route.parser.clone(),
            url: route.url.clone(),
            remote_id: route.remote_id.clone(),
            remote_name: route.remote_name.clone(),
            subs: Default::default(),
            ..*route
        };
        if route.remote_name.is_empty() {
            info!("{label} - Router connection closed: {reason}");
        } else {
            info!(
                "{label} - Router connection closed: {reason} - Remote: {}",
                route.remote_name
            );
        }
        for (key, weight) in subs {
            self.sublist_mut(key.0).remove(
                &key.1,
                key.2.as_deref(),
                Target::Route {
                    conn: token,
                    weight,
                },
            );
            self.note_route_interest(&key, weight, 0);
        }
        self.routes.retain(|&t| t != token);
        let shutting_down = self.stopping;
        let mut redial: Option<(RouteUrl, bool)> = None;
        if route.registered {
            if let Some(remote) = cluster
                .registry
                .unregister(&route.remote_id, self.id, token, cid)
            {
                if !cluster.settings.no_advertise && !remote.lame_duck {
                    self.change_client_urls(&remote.connect_urls, &remote.ws_connect_urls, -1);
                }
                if (remote.solicited || remote.retry) && !route.no_reconnect {
                    if let Some(url) = remote.dial_url {
                        redial = Some((url, remote.explicit));
                    }
                }
            }
        } else if route.solicited && !route.no_reconnect {
            let known = !route.remote_id.is_empty()
                && (route.remote_id == self.shared.server_id
                    || cluster.registry.is_connected(&route.remote_id));
            if !known {
                if let Some(url) = route.url.clone() {
                    redial = Some((url, route.explicit));
                }
            }
        }
        if shutting_down {
            return;
        }
        if let Some((url, explicit)) = redial {
            // nats-server's `reConnectToRoute`: a random 0-100 ms, plus 1 s for explicit
            // routes, so two servers that each dropped the other's connection do not
            // collide again.
            let jitter = Duration::from_millis(fastrand::u64(0..100));
            let delay = if explicit {
                ROUTE_RECONNECT + jitter
            } else {
                jitter
            };
            debug!(
                "Attempting reconnect for solicited route {:?}",
                url.redacted()
            );
            cluster.dial(url, explicit, delay, false);
        }
    }

    /// The cluster's client URLs changed: every client that understands async INFO and has
    /// had its first PONG gets the INFO again (WebSocket clients only when the WebSocket
    /// URLs changed), as nats-server's `sendAsyncInfoToClients` does.
    pub(crate) fn send_client_urls(&mut self, ws_changed: bool) {
        let tokens: Vec<usize> = self.conns.iter().map(|(t, _)| t).collect();
        for token in tokens {
            let Some(c) = self.conns.get_mut(token) else {
                continue;
            };
            let eligible = c.route.is_none()
                && c.is_open()
                && c.opts.protocol >= 1
                && c.first_pong_sent
                && !c.transport.ws_handshaking()
                && (ws_changed || !c.transport.is_websocket());
            if !eligible {
                continue;
            }
            let info = self.shared.info_for_conn(c);
            info.write_to(&mut c.out);
            self.mark_dirty(token);
        }
    }

    /// Lame duck: tell the routes (`sendLDMToRoutes`), once.
    pub(crate) fn routes_lame_duck(&mut self) {
        let mut info = self.route_info(false);
        info.ldm = true;
        let mut line = Vec::new();
        info.write_to(&mut line);
        for token in self.routes.clone() {
            if let Some(c) = self.conns.get_mut(token) {
                c.out.extend_from_slice(&line);
                self.mark_dirty(token);
            }
        }
    }
}
