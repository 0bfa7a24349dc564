//! Message delivery: match once, write into each local subscriber's buffer, pick one member
//! per queue group across all reactors, and route one copy to each peer reactor with
//! interest.
//!
//! Queue groups: the index merges members by group name across matching subjects. Local
//! members weigh 1 and a peer's entry weighs its announced member count, so a uniformly
//! random draw over the weights picks each member in the whole server with equal chance.
//! If the drawn local member cannot take the message (echo off for its own publisher, or
//! at its auto-unsubscribe limit) the next one in order is tried, as nats-server does.

use log::info;

use super::{Reactor, Target};
use crate::proto::errors::CloseReason;
use crate::proto::{self, Message};

/// Connection token used as "publisher" for messages that came from a peer reactor: it
/// matches no local connection, so echo suppression never applies.
const FROM_PEER: usize = usize::MAX;

/// Most reactors a routing mask can address.
pub const MAX_REACTORS: usize = 64;

impl Reactor {
    /// Delivers a message published by connection `publisher`. Returns whether anyone
    /// (local or a peer reactor) was given the message.
    pub(super) fn deliver(&mut self, publisher: usize, msg: &Message<'_>) -> bool {
        let result = self.sublist.match_subject(msg.subject);
        if result.plain.is_empty() && result.queues.is_empty() {
            return false;
        }
        let mut delivered = false;
        let mut plain_peers: u64 = 0;
        let mut queue_picks: Vec<(usize, &[u8])> = Vec::new();
        for target in &result.plain {
            match *target {
                Target::Local(key) => delivered |= self.deliver_local(publisher, key, msg),
                Target::Remote { reactor, .. } => plain_peers |= 1 << reactor,
            }
        }
        for group in &result.queues {
            match self.pick_member(publisher, &group.members) {
                Some(Target::Local(key)) => delivered |= self.deliver_local(publisher, key, msg),
                Some(Target::Remote { reactor, .. }) => queue_picks.push((reactor as usize, &group.name)),
                None => {}
            }
        }
        if plain_peers != 0 || !queue_picks.is_empty() {
            delivered = true;
            self.route(msg, plain_peers, &queue_picks);
        }
        if !self.auto_unsub.is_empty() {
            self.apply_auto_unsubs();
        }
        delivered
    }

    fn route(&mut self, msg: &Message<'_>, plain_peers: u64, queue_picks: &[(usize, &[u8])]) {
        let mut peers = plain_peers;
        for (r, _) in queue_picks {
            peers |= 1 << r;
        }
        let mut queues: Vec<&[u8]> = Vec::new();
        while peers != 0 {
            let r = peers.trailing_zeros() as usize;
            peers &= peers - 1;
            queues.clear();
            queues.extend(queue_picks.iter().filter(|(p, _)| *p == r).map(|(_, q)| *q));
            self.route_to(r, msg, plain_peers & (1 << r) != 0, &queues);
        }
    }

    /// Draws one member of a queue group by weight, then walks on from there to the first
    /// member that can take the message.
    fn pick_member(&self, publisher: usize, members: &[Target]) -> Option<Target> {
        let weight = |t: &Target| match *t {
            Target::Local(_) => 1u64,
            Target::Remote { weight, .. } => weight as u64,
        };
        let total: u64 = members.iter().map(weight).sum();
        if total == 0 {
            return None;
        }
        let mut draw = fastrand::u64(0..total);
        let mut start = 0;
        for (i, m) in members.iter().enumerate() {
            let w = weight(m);
            if draw < w {
                start = i;
                break;
            }
            draw -= w;
        }
        (0..members.len())
            .map(|i| members[(start + i) % members.len()])
            .find(|t| match *t {
                Target::Local(key) => self.can_take(publisher, key),
                Target::Remote { .. } => true,
            })
    }

    fn can_take(&self, publisher: usize, key: usize) -> bool {
        let Some(sub) = self.subs.get(key) else { return false };
        if sub.max > 0 && sub.delivered >= sub.max {
            return false;
        }
        match self.conns.get(sub.conn) {
            Some(c) => c.is_open() && !(sub.conn == publisher && !c.opts.echo),
            None => false,
        }
    }

    /// Writes one delivery into a local subscriber's buffer.
    fn deliver_local(&mut self, publisher: usize, key: usize, msg: &Message<'_>) -> bool {
        let max_pending = self.opts.max_pending;
        let Some(sub) = self.subs.get_mut(key) else { return false };
        let token = sub.conn;
        let Some(conn) = self.conns.get_mut(token) else { return false };
        if conn.closing.is_some() || (token == publisher && !conn.opts.echo) {
            return false;
        }
        if sub.max > 0 {
            if sub.delivered >= sub.max {
                return false;
            }
            if sub.delivered + 1 == sub.max {
                self.auto_unsub.push(key);
            }
        }
        sub.delivered += 1;
        let before = conn.out.len();
        proto::write_msg(&mut conn.out, msg, &sub.sid, conn.headers);
        let body = if msg.header_len > 0 && !conn.headers {
            msg.data.len().saturating_sub(msg.header_len)
        } else {
            msg.data.len()
        } as u64;
        conn.stats.out_msgs += 1;
        conn.stats.out_bytes += body;
        self.counters.out_msgs += 1;
        self.counters.out_bytes += body;
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(token);
        }
        if max_pending > 0 && conn.pending() as i64 > max_pending {
            // nats-server drops the frame that overflowed and closes without -ERR.
            conn.out.truncate(before);
            info!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                conn.label(),
                max_pending
            );
            self.counters.slow_consumers += 1;
            self.close(token, CloseReason::SlowConsumerPendingBytes);
        }
        true
    }

    /// Delivers a batch of messages routed here by a peer reactor.
    pub(super) fn deliver_routed(&mut self, buf: &[u8]) {
        for routed in super::inbox::Decoder::new(buf) {
            self.counters.routed_in += 1;
            let result = self.sublist.match_subject(routed.msg.subject);
            if routed.plain {
                for target in &result.plain {
                    if let Target::Local(key) = *target {
                        self.deliver_local(FROM_PEER, key, &routed.msg);
                    }
                }
            }
            for name in &routed.queues {
                let Some(group) = result.queues.iter().find(|g| &*g.name == *name) else { continue };
                let locals: Vec<Target> =
                    group.members.iter().copied().filter(|t| matches!(t, Target::Local(_))).collect();
                if let Some(Target::Local(key)) = self.pick_member(FROM_PEER, &locals) {
                    self.deliver_local(FROM_PEER, key, &routed.msg);
                }
            }
            if !self.auto_unsub.is_empty() {
                self.apply_auto_unsubs();
            }
        }
    }
}
