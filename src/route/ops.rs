//! What a reactor does on an established route connection: parse and dispatch what the peer
//! sends, its interest (`RS+`, `RS-`, `LS+`, `LS-`), its messages (`RMSG`, `HMSG`, `LMSG`),
//! sending it this server's interest, and the close (withdraw, unregister, dial again). The
//! handshake is in `handshake`, gossip and client URLs in `gossip`.

use std::time::Duration;

use log::{debug, error, info};

use super::url::RouteUrl;
use super::RouteState;
use crate::dialer::ROUTE_RECONNECT;
use crate::proto::errors::CloseReason;
use crate::proto::peer::{self, MsgVerb, PeerOp, PeerSub, RoutePeer};
use crate::reactor::interest::InterestKey;
use crate::reactor::{Reactor, Target};

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
    pub(crate) fn route_op(&mut self, token: usize, op: PeerOp<'_>) {
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

    pub(super) fn route_registered(&self, token: usize) -> bool {
        self.conns
            .get(token)
            .and_then(|c| c.route.as_deref())
            .is_some_and(|r| r.registered)
    }

    /// The number of the account a route names (`$G` when the proto has none); None, with a
    /// debug line, for an account this server does not have.
    pub(super) fn route_account(&self, token: usize, name: Option<&[u8]>) -> Option<u32> {
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

    pub(super) fn update_route(&mut self, token: usize, f: impl FnOnce(&mut RouteState)) {
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

    /// Sends this server's whole client interest to a route that just registered
    /// (`sendSubsToRoute`).
    pub(super) fn send_interest_to_route(&mut self, token: usize) {
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
                if !shutting_down {
                    self.change_leafnode_urls(&remote.leafnode_urls);
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
}
