//! What a reactor does on an established leaf connection: parse and dispatch what the peer
//! sends, its interest (`LS+`, `LS-`) and messages (`LMSG`, `HMSG`), the interest we tell it
//! (kept in step with the interest tables), messages to it, and the close (withdraw; dial a
//! hub again).

use std::time::{Duration, Instant};

use log::{debug, error, info};

use super::conn::LeafKey;
use super::{js_denied, Role, LOOP_DELAY};
use crate::proto::errors::{self, CloseReason};
use crate::proto::peer::{self, PeerOp, PeerSub};
use crate::proto::Message;
use crate::reactor::interest::{contribution, InterestKey, Origin};
use crate::reactor::{Reactor, Target};

impl Reactor {
    pub(crate) fn leaf_op(&mut self, token: usize, op: PeerOp<'_>) {
        let registered = self.leaf_of(token).is_some_and(|l| l.registered);
        match op {
            PeerOp::Connect(json) => self.on_leaf_connect(token, json),
            PeerOp::Info(json) => self.on_leaf_info(token, json),
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
                // nats-server logs a leaf's -ERR and leaves the closing to the sender; a loop
                // report delays our next attempt.
                let text = String::from_utf8_lossy(text).into_owned();
                if let Some(c) = self.conns.get_mut(token) {
                    error!("{} - Leafnode Error {text}", c.label());
                    if text.contains("Loop detected") || text.contains("same cluster name") {
                        if let Some(l) = c.leaf.as_deref_mut() {
                            l.reconnect_after = Some(LOOP_DELAY);
                        }
                    }
                }
            }
            PeerOp::Sub(sub) if registered => self.on_leaf_sub(token, &sub, true),
            PeerOp::Unsub(sub) if registered => self.on_leaf_sub(token, &sub, false),
            PeerOp::Msg(m) if registered => {
                let queues: Vec<&[u8]> = m.queues.iter().collect();
                self.deliver_from_leaf(token, &m.msg, &queues);
            }
            PeerOp::Sub(_) | PeerOp::Unsub(_) | PeerOp::Msg(_) => {
                // Before the handshake is done (nats-server: Authorization Violation).
                if let Some(c) = self.conns.get_mut(token) {
                    c.queue_err(crate::proto::errors::AUTH_VIOLATION);
                }
                self.close(token, CloseReason::AuthenticationViolation);
            }
        }
    }

    pub(crate) fn leaf_of(&self, token: usize) -> Option<&super::LeafState> {
        self.conns.get(token).and_then(|c| c.leaf.as_deref())
    }

    fn update_leaf(&mut self, token: usize, f: impl FnOnce(&mut super::LeafState)) {
        if let Some(l) = self
            .conns
            .get_mut(token)
            .and_then(|c| c.leaf.as_deref_mut())
        {
            f(l);
        }
    }

    /// The handshake is done: the connection takes part, is told the interest of its
    /// account and our loop-detection subject; a dialled one also PINGs (as nats-server's
    /// `leafNodeFinishConnectProcess`).
    pub(super) fn register_leaf(&mut self, token: usize) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let Some((account, role)) = self.leaf_of(token).map(|l| (l.account, l.role)) else {
            return;
        };
        self.update_leaf(token, |l| l.registered = true);
        self.leafs.push(token);
        leafs
            .connected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let lds = leafs.lds(account);
        if let Some(c) = self.conns.get_mut(token) {
            peer::write_leaf_sub(&mut c.out, lds.as_bytes(), None);
        }
        for key in self.interest_keys(account) {
            self.refresh_leaf(token, &key);
        }
        if role == Role::Hub {
            if let Some(c) = self.conns.get_mut(token) {
                c.out.extend_from_slice(crate::proto::PING);
                c.pings_out += 1;
                c.rtt_start = Some(Instant::now());
            }
        }
        self.mark_dirty(token);
    }

    /// A reload removed or disabled `remotes`: their connections on this reactor close (and
    /// are not dialled again, the remotes being gone or disabled).
    pub(crate) fn close_leaf_remotes(&mut self, remotes: &[usize]) {
        let tokens: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.leaf
                    .as_deref()
                    .and_then(|l| l.remote)
                    .is_some_and(|r| remotes.contains(&r))
            })
            .map(|(t, _)| t)
            .collect();
        for token in tokens {
            self.close(token, CloseReason::ClientClosed);
        }
    }

    /// The leaf INFO again, with no connection's id or nonce (nats-server's
    /// `leafNodeInfoJSON`), to the leaf connections of this reactor we are the hub of.
    pub(crate) fn send_leafnode_urls(&mut self) {
        let mut line = Vec::new();
        self.leaf_info(0, "", false, "").write_to(&mut line);
        for token in self.leafs.clone() {
            if self.leaf_of(token).is_some_and(|l| l.role == Role::Leaf) {
                if let Some(c) = self.conns.get_mut(token) {
                    c.out.extend_from_slice(&line);
                }
                self.mark_dirty(token);
            }
        }
    }

    /// Every interest key of `account` any table of this reactor holds.
    fn interest_keys(&self, account: u32) -> Vec<InterestKey> {
        let mut keys: Vec<InterestKey> = Vec::new();
        let mut add = |k: &InterestKey| {
            if k.0 == account && !keys.contains(k) {
                keys.push(k.clone());
            }
        };
        for (k, _) in self.local_interest.iter() {
            add(k);
        }
        for (k, _) in self.route_interest.iter() {
            add(k);
        }
        for (k, _) in self.leaf_interest.iter() {
            add(k);
        }
        for (k, _) in self.hub_interest.iter() {
            add(k);
        }
        for (k, _) in self.remote_interest.iter() {
            add(&k.2);
        }
        keys
    }

    /// What leaf connection `token` should be told of `key`, and whether it may be told at
    /// all. Our hub is told local interest only (clients and our leaf nodes, as a route
    /// is); a leaf node of ours everything but its own.
    fn leaf_view(&self, token: usize, key: &InterestKey) -> u32 {
        let Some(leaf) = self.leaf_of(token) else {
            return 0;
        };
        if key.0 != leaf.account || js_denied(&key.1) {
            return 0;
        }
        let queued = key.2.is_some();
        match leaf.role {
            Role::Hub => {
                let denied = self
                    .shared
                    .leafnodes
                    .as_ref()
                    .and_then(|l| leaf.remote.and_then(|r| l.remote(r)))
                    .is_some_and(|r| {
                        r.deny_imports
                            .iter()
                            .any(|d| crate::subject::matches(d.as_bytes(), &key.1))
                    });
                if denied {
                    return 0;
                }
                contribution(queued, self.server_interest.get(key))
            }
            Role::Leaf => {
                let own_key: LeafKey = (key.1.clone(), key.2.clone());
                let own = leaf.subs.get(&own_key).copied().unwrap_or(0);
                // Plain subjects count sources (a connection, a reactor's clients); queue
                // groups their weights.
                let mut total = contribution(queued, self.local_interest.get(key))
                    + self.route_interest.get(key)
                    + self.leaf_interest.get(key)
                    + self.hub_interest.get(key);
                for origin in [Origin::Client, Origin::Route, Origin::Leaf, Origin::Hub] {
                    for r in 0..self.all.len() {
                        total += self
                            .remote_interest
                            .get(&(r as u16, origin, key.clone()))
                            .copied()
                            .unwrap_or(0);
                    }
                }
                let rest = total.saturating_sub(contribution(queued, own));
                contribution(queued, rest)
            }
        }
    }

    /// Sends leaf connection `token` the change of `key`, if what it should be told
    /// differs from what it was told.
    fn refresh_leaf(&mut self, token: usize, key: &InterestKey) {
        let want = self.leaf_view(token, key);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(leaf) = conn.leaf.as_deref_mut().filter(|l| l.registered) else {
            return;
        };
        let lk: LeafKey = (key.1.clone(), key.2.clone());
        let had = leaf.sent.get(&lk).copied().unwrap_or(0);
        if had == want {
            return;
        }
        if want == 0 {
            leaf.sent.remove(&lk);
            peer::write_leaf_unsub(&mut conn.out, &key.1, key.2.as_deref());
        } else {
            leaf.sent.insert(lk, want);
            let queue = key
                .2
                .as_deref()
                .map(|q| (q, i32::try_from(want).unwrap_or(i32::MAX)));
            peer::write_leaf_sub(&mut conn.out, &key.1, queue);
        }
        self.mark_dirty(token);
    }

    /// The interest tables changed for `key`: bring every leaf connection of this reactor
    /// up to date.
    pub(crate) fn refresh_leafs(&mut self, key: &InterestKey) {
        if self.leafs.is_empty() {
            return;
        }
        for token in self.leafs.clone() {
            self.refresh_leaf(token, key);
        }
    }

    /// A literal subject in the `deny_pub` of the leaf's CONNECT; the loop-detection and
    /// gateway reply prefixes are exempt, as in nats-server.
    fn leaf_denied_itself(&self, token: usize, subject: &[u8]) -> bool {
        const EXEMPT: [&[u8]; 3] = [b"$LDS.", b"$GR.", b"_GR_."];
        if EXEMPT.iter().any(|p| subject.starts_with(p)) || !crate::subject::is_literal(subject) {
            return false;
        }
        self.leaf_of(token).is_some_and(|l| {
            l.deny_out
                .iter()
                .any(|d| crate::subject::matches(d.as_bytes(), subject))
        })
    }

    /// `LS+` (add) and `LS-` from a leaf connection.
    fn on_leaf_sub(&mut self, token: usize, sub: &PeerSub<'_>, add: bool) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let Some((account, role)) = self.leaf_of(token).map(|l| (l.account, l.role)) else {
            return;
        };
        if add && sub.subject == leafs.lds(account).as_bytes() {
            let name = self.auth.account_name(account).to_string();
            let err = format!(
                "Loop detected for leafnode account={name:?}. Delaying attempt to reconnect for 30s"
            );
            if let Some(c) = self.conns.get_mut(token) {
                error!("{} - {err}", c.label());
                c.queue_err(&err);
                // We dialled it: our next attempt waits too.
                if let Some(l) = c.leaf.as_deref_mut().filter(|l| l.role == Role::Hub) {
                    l.reconnect_after = Some(LOOP_DELAY);
                }
            }
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        if js_denied(sub.subject) {
            return;
        }
        if add && role == Role::Leaf && self.leaf_denied_itself(token, sub.subject) {
            // nats-server's leafSubPermViolation: the leaf asked for what it told us
            // (deny_pub) it must not get.
            let err = errors::subscription_violation(sub.subject, None, None);
            if let Some(c) = self.conns.get_mut(token) {
                error!(
                    "{} - Subscription Violation on {} - Check other side configuration",
                    c.label(),
                    errors::go_quote(sub.subject)
                );
                c.queue_err(&err);
            }
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        if add && !crate::subject::is_valid_pattern(sub.subject) {
            if let Some(c) = self.conns.get(token) {
                debug!("{} - Invalid leafnode subscription subject", c.label());
            }
            return;
        }
        let lk: LeafKey = (sub.subject.into(), sub.queue.map(Into::into));
        let new = if !add {
            0
        } else if sub.queue.is_some() {
            sub.weight.max(1) as u32
        } else {
            1
        };
        let Some(leaf) = self
            .conns
            .get_mut(token)
            .and_then(|c| c.leaf.as_deref_mut())
        else {
            return;
        };
        let old = leaf.subs.get(&lk).copied().unwrap_or(0);
        if old == new {
            return;
        }
        if new == 0 {
            leaf.subs.remove(&lk);
        } else {
            leaf.subs.insert(lk.clone(), new);
        }
        let hub = role == Role::Hub;
        let sublist = self.sublist_mut(account);
        if old > 0 {
            sublist.remove(
                &lk.0,
                lk.1.as_deref(),
                Target::Leaf {
                    conn: token,
                    weight: old,
                    hub,
                },
            );
        }
        if new > 0
            && sublist
                .insert(
                    &lk.0,
                    lk.1.as_deref(),
                    Target::Leaf {
                        conn: token,
                        weight: new,
                        hub,
                    },
                )
                .is_err()
        {
            return;
        }
        let key: InterestKey = (account, lk.0, lk.1);
        self.note_leaf_interest(role, &key, old, new);
        if !self.pending_interest.is_empty() {
            self.send_batches();
        }
    }

    /// A message from a leaf connection: where its origin may go, but not back to it.
    fn deliver_from_leaf(&mut self, token: usize, msg: &Message<'_>, queues: &[&[u8]]) {
        let Some((account, role)) = self.leaf_of(token).map(|l| (l.account, l.role)) else {
            return;
        };
        if js_denied(msg.subject) {
            return;
        }
        if let Some(c) = self.conns.get_mut(token) {
            c.stats.in_msgs += 1;
            c.stats.in_bytes += msg.data.len() as u64;
        }
        self.counters.in_msgs += 1;
        self.counters.in_bytes += msg.data.len() as u64;
        let origin = match role {
            Role::Leaf => Origin::Leaf,
            Role::Hub => Origin::Hub,
        };
        // Mappings apply where a message enters from a client or a leaf (nats-server).
        let mut subject = Vec::new();
        let msg = self.mapped(account, msg, &mut subject);
        self.deliver_from_peer(token, origin, account, &msg, queues);
    }

    /// Writes `msg` to leaf connection `conn` (`LMSG`, or `HMSG` with headers), naming the
    /// queue groups it must serve. Returns whether it was written.
    pub(crate) fn send_to_leaf(
        &mut self,
        publisher: usize,
        conn: usize,
        msg: &Message<'_>,
        queues: &[&[u8]],
    ) -> bool {
        if js_denied(msg.subject) {
            return false;
        }
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        let Some(leaf) = c.leaf.as_deref().filter(|l| l.registered) else {
            return false;
        };
        if c.closing.is_some() {
            return false;
        }
        let denied = |d: &String| crate::subject::matches(d.as_bytes(), msg.subject);
        if leaf.deny_out.iter().any(denied) {
            return false;
        }
        peer::write_leaf_msg(&mut c.out, leaf.headers, msg, queues.iter().copied());
        c.stats.out_msgs += 1;
        c.stats.out_bytes += msg.data.len() as u64;
        self.counters.out_msgs += 1;
        self.counters.out_bytes += msg.data.len() as u64;
        self.queued_output(publisher, conn);
        true
    }

    /// A leaf connection is closing: withdraw its interest and, if we dialled it, dial the
    /// hub again after the remote's reconnect delay (30 s after a loop report).
    pub(crate) fn leaf_closed(&mut self, token: usize, reason: CloseReason) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let label = conn.label().to_string();
        let Some(leaf) = conn.leaf.as_deref_mut() else {
            return;
        };
        let subs = std::mem::take(&mut leaf.subs);
        let (account, role, registered) = (leaf.account, leaf.role, leaf.registered);
        let (remote, reconnect_after) = (leaf.remote, leaf.reconnect_after);
        leaf.registered = false;
        if leaf.remote_name.is_empty() {
            info!("{label} - Leafnode connection closed: {reason}");
        } else {
            info!(
                "{label} - Leafnode connection closed: {reason} - Remote: {}",
                leaf.remote_name
            );
        }
        let hub = role == Role::Hub;
        for ((subject, queue), weight) in subs {
            self.sublist_mut(account).remove(
                &subject,
                queue.as_deref(),
                Target::Leaf {
                    conn: token,
                    weight,
                    hub,
                },
            );
            let key: InterestKey = (account, subject, queue);
            self.note_leaf_interest(role, &key, weight, 0);
        }
        if registered {
            self.leafs.retain(|&t| t != token);
            leafs
                .connected
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let (Role::Hub, Some(remote), false) = (role, remote, self.stopping) {
            let base = reconnect_after.unwrap_or(leafs.settings.reconnect);
            let jitter = fastrand::u64(..leafs.settings.reconnect.as_millis().max(1) as u64);
            leafs.dial_remote(remote, base + Duration::from_millis(jitter), false);
        }
    }
}
