//! The route handshake, as nats-server runs it (`createRoute`, `processRouteConnect`,
//! `processRouteInfo`, `addRoute`): the accepting side sends INFO at once and expects
//! CONNECT first; the dialling side sends CONNECT and its INFO. A route counts as connected
//! only when the peer's INFO has arrived (a nats-server that dials sends CONNECT at once but
//! may never send INFO, e.g. for a dedicated `$SYS` route it then refuses); then it is
//! registered, gets every interest of this server's clients as `RS+`, its INFO is forwarded
//! to the other routes (gossip: they dial it), and its client URLs go to our clients.

use std::time::Instant;

use log::{debug, error, info};
use serde_json::Value;

use super::registry::{Registration, Remote};
use super::url::RouteUrl;
use super::RouteState;
use crate::dialer::{Dialled, Purpose};
use crate::proto::errors::{self, CloseReason};
use crate::proto::info::{RouteConnect, ServerInfo};
use crate::proto::parser::Limits;
use crate::proto::peer::{PeerKind, PeerParser};
use crate::reactor::{Control, Reactor};

/// nats-server's route protocol version in INFO (`MsgTraceProto`).
const ROUTE_PROTO: i32 = 3;

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
        state.explicit = dialled
            .as_ref()
            .is_some_and(|d| d.purpose == Purpose::Route { explicit: true });
        state.url = dialled.map(|d| d.url);
        let now = Instant::now();
        let url = state.url.clone();
        let conn = &mut self.conns[token];
        conn.cid = cid;
        conn.route = Some(Box::new(state));
        // TLS first, both ways (`createRoute`); CONNECT and INFO wait for it.
        if let Some(tls) = &cluster.settings.tls {
            let started = match &url {
                Some(url) => {
                    match crate::tls::server_name(&url.host, cluster.settings.tls_name.as_deref()) {
                        Ok(name) => self.start_client_tls(token, &tls.client, name),
                        Err(e) => {
                            error!(
                                "{} - TLS route handshake error: {e}",
                                self.conns[token].label()
                            );
                            self.close(token, CloseReason::TlsHandshakeError);
                            false
                        }
                    }
                }
                None => {
                    self.start_immediate_server_tls(token, tls.server.clone(), tls.client.timeout)
                }
            };
            if !started {
                return;
            }
        }
        let conn = &mut self.conns[token];
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

    pub(super) fn route_info(&self, with_nonce: bool) -> ServerInfo {
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
            tls_required: cluster.settings.tls.is_some(),
            tls_verify: cluster.settings.tls.is_some(),
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
            leafnode_urls: self
                .shared
                .leafnodes
                .as_deref()
                .filter(|l| !l.settings.no_advertise)
                .map(|l| l.urls.clone())
                .unwrap_or_default(),
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
            cluster.settings.tls.is_some(),
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

    /// CONNECT from a route we accepted (`processConnect` then `processRouteConnect`):
    /// credentials, a client on the wrong port, a gateway, the cluster name.
    pub(super) fn on_route_connect(&mut self, token: usize, json: &[u8]) {
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
    pub(super) fn on_route_info(&mut self, token: usize, json: &[u8]) {
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
        let leafnode_urls = list(&doc, "leafnode_urls");
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
            leafnode_urls: leafnode_urls.clone(),
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
                self.change_leafnode_urls(&leafnode_urls);
            }
        }
    }
}
