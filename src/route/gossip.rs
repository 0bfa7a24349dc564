//! Gossip and the cluster's client URLs: a newcomer's INFO forwarded to the other routes,
//! a forwarded INFO turned into a dial (the old members dial the newcomer), the client
//! `connect_urls` and the leaf connections' `leafnode_urls` kept as servers come and go,
//! and lame duck mode told to routes and clients.

use std::time::Duration;

use serde_json::Value;

use super::url::RouteUrl;
use crate::reactor::{Control, Reactor};

impl Reactor {
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
    pub(super) fn implicit_route(&mut self, doc: &serde_json::Map<String, Value>) {
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
    pub(super) fn change_client_urls(&mut self, urls: &[String], ws_urls: &[String], delta: i32) {
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

    /// A route with leaf URLs came or went: when this server is a hub, its leaf
    /// connections get the leaf INFO again with the cluster's `leafnode_urls` as they are
    /// now (nats-server's `addLeafNodeURL`/`removeLeafNodeURL` and `sendAsyncLeafNodeInfo`),
    /// so that they can fail over to any server of the cluster.
    pub(super) fn change_leafnode_urls(&mut self, remote_urls: &[String]) {
        let hub = self
            .shared
            .leafnodes
            .as_ref()
            .is_some_and(|l| l.addr.is_some());
        if remote_urls.is_empty() || !hub {
            return;
        }
        for h in &self.all {
            h.send_control(Control::LeafUrlsChanged);
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
            let eligible = !c.is_peer()
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
