//! Message delivery: match once, write into each local subscriber's buffer, pick one member
//! per queue group across all reactors, and route one copy to each peer reactor with
//! interest.
//!
//! Queue groups: the index merges members by group name across matching subjects. Local
//! members weigh 1 and a peer's entry weighs its announced member count, so a uniformly
//! random draw over the weights picks each member in the whole server with equal chance.
//! If the drawn local member cannot take the message (echo off for its own publisher, or
//! at its auto-unsubscribe limit) the next one in order is tried, as nats-server does.

use std::sync::Arc;

use log::info;

use super::inbox::Deliver;
use super::interest::{Origin, Reach};
use super::{Reactor, Target};
use crate::subject::sublist::MatchResult;

/// The previous publish's match, kept for the next publish to the same subject.
pub(super) struct LastMatch {
    account: u32,
    subject: Vec<u8>,
    /// The index generation the result was computed at.
    generation: u64,
    result: Arc<MatchResult<Target>>,
}
use crate::proto::errors::CloseReason;
use crate::proto::{self, Message};

/// Connection token used as "publisher" for messages that came from a peer reactor: it
/// matches no local connection, so echo suppression never applies.
const FROM_PEER: usize = usize::MAX;

/// A subscriber's buffer is written out mid-turn once it holds this much, which keeps
/// per-connection memory and latency bounded while a large read is being processed.
const EARLY_FLUSH: usize = 256 * 1024;

/// A subscriber whose socket took bytes this recently counts as draining: producers are
/// slowed for it instead of it being cut off as a slow consumer.
const STALL_ALIVE: std::time::Duration = std::time::Duration::from_millis(25);

/// Most reactors a routing mask can address.
pub const MAX_REACTORS: usize = 64;

impl Reactor {
    /// Delivers a message published by connection `publisher` in `account`. Returns
    /// whether anyone (local or a peer reactor) was given the message.
    pub(super) fn deliver(&mut self, publisher: usize, account: u32, msg: &Message<'_>) -> bool {
        self.sync_interest();
        let (subject_buf, result) = self.lookup(account, msg.subject);
        let delivered = self.deliver_to(publisher, account, msg, &result);
        self.last_match = Some(LastMatch {
            account,
            subject: subject_buf,
            generation: self.matched_generation,
            result,
        });
        delivered
    }

    /// Matches a subject, reusing the previous publish's result when the subject and the
    /// index are unchanged — the common case of a publisher streaming to one subject — which
    /// saves the cache's hash lookup and the result's reference-count traffic.
    fn lookup(&mut self, account: u32, subject: &[u8]) -> (Vec<u8>, Arc<MatchResult<Target>>) {
        let last = self.last_match.take();
        let sublist = self.sublist_mut(account);
        let generation = sublist.generation();
        let result = match last {
            Some(last)
                if last.account == account
                    && last.generation == generation
                    && last.subject == subject =>
            {
                sublist.count_repeat_match();
                (last.subject, last.result)
            }
            last => {
                let mut buf = last.map(|l| l.subject).unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(subject);
                (buf, sublist.match_subject(subject))
            }
        };
        self.matched_generation = generation;
        result
    }

    fn deliver_to(
        &mut self,
        publisher: usize,
        account: u32,
        msg: &Message<'_>,
        result: &MatchResult<Target>,
    ) -> bool {
        let reach = Reach::from(Origin::Client);
        self.fan_out(
            publisher,
            account,
            msg,
            msg,
            result,
            reach,
            Groups::All(reach),
        )
    }

    /// Delivers a message to the targets of `result` that `plain` and `groups` allow: local
    /// subscribers directly, this reactor's routes and leaf connections with one message
    /// each, and each peer reactor with interest once, told what to do with it. Returns
    /// whether anyone was given the message. Local subscribers are given `shown`, which
    /// differs from `msg` only for a JetStream delivery (see [`split_js_deliver`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fan_out(
        &mut self,
        publisher: usize,
        account: u32,
        msg: &Message<'_>,
        shown: &Message<'_>,
        result: &MatchResult<Target>,
        plain: Reach,
        groups: Groups<'_>,
    ) -> bool {
        if result.plain.is_empty() && result.queues.is_empty() {
            return false;
        }
        let mut delivered = false;
        // Per origin, the peer reactors with plain interest of that origin.
        let mut peers_by_origin = [0u64; 4];
        let mut peer_queues: Vec<(usize, &[u8], Origin)> = Vec::new();
        // This reactor's routes and leaf connections that get the message, with the queue
        // groups each serves.
        let mut conns: Vec<(usize, Vec<&[u8]>)> = Vec::new();
        for target in &result.plain {
            if !plain.allows(target) {
                continue;
            }
            match *target {
                Target::Local(key) => delivered |= self.deliver_local(publisher, key, shown),
                Target::Internal(id) => delivered |= self.deliver_internal(id, account, msg),
                Target::Import(id) => delivered |= self.deliver_import(publisher, id, msg),
                Target::Remote {
                    reactor, origin, ..
                } => peers_by_origin[origin as usize] |= 1 << reactor,
                Target::Route { conn, .. } | Target::Leaf { conn, .. } => {
                    if conn != publisher {
                        conn_entry(&mut conns, conn);
                    }
                }
            }
        }
        for group in &result.queues {
            let reach = match groups {
                Groups::All(reach) => reach,
                Groups::Named(named) => match named.iter().find(|(n, _)| **n == *group.name) {
                    Some((_, reach)) => *reach,
                    None => continue,
                },
            };
            match self.pick_member(publisher, &group.members, msg.subject, reach) {
                Some(Target::Local(key)) => delivered |= self.deliver_local(publisher, key, shown),
                Some(Target::Internal(id)) => delivered |= self.deliver_internal(id, account, msg),
                Some(Target::Import(id)) => delivered |= self.deliver_import(publisher, id, msg),
                Some(Target::Remote {
                    reactor, origin, ..
                }) => peer_queues.push((reactor as usize, &group.name, origin)),
                Some(Target::Route { conn, .. }) | Some(Target::Leaf { conn, .. }) => {
                    conn_entry(&mut conns, conn);
                    if let Some((_, qs)) = conns.iter_mut().find(|(c, _)| *c == conn) {
                        qs.push(&group.name);
                    }
                }
                None => {}
            }
        }
        for (conn, queues) in &conns {
            delivered |= self.send_to_peer_conn(publisher, *conn, account, msg, queues);
        }
        if peers_by_origin.iter().any(|&m| m != 0) || !peer_queues.is_empty() {
            delivered = true;
            self.forward(account, msg, &peers_by_origin, &peer_queues);
        }
        if !self.auto_unsub.is_empty() {
            self.apply_auto_unsubs();
        }
        delivered
    }

    /// Sends each peer reactor with interest one copy of the message and its instructions.
    fn forward(
        &mut self,
        account: u32,
        msg: &Message<'_>,
        peers_by_origin: &[u64; 4],
        peer_queues: &[(usize, &[u8], Origin)],
    ) {
        let mut peers = peers_by_origin.iter().fold(0, |a, m| a | m);
        for (r, _, _) in peer_queues {
            peers |= 1 << r;
        }
        let mut queues: Vec<(&[u8], Origin)> = Vec::new();
        while peers != 0 {
            let r = peers.trailing_zeros() as usize;
            peers &= peers - 1;
            queues.clear();
            queues.extend(
                peer_queues
                    .iter()
                    .filter(|(p, _, _)| *p == r)
                    .map(|(_, q, o)| (*q, *o)),
            );
            let plain = (0..4u8)
                .filter(|&o| peers_by_origin[o as usize] & (1 << r) != 0)
                .fold(0u8, |bits, o| bits | Origin::from_u8(o).bit());
            let to = Deliver {
                plain,
                queues: &queues,
            };
            self.forward_to_peer(r, account, msg, &to);
        }
    }

    /// Picks the member of a queue group that gets a message: a client (here, on another
    /// reactor or behind a route) when one can take it, a leaf connection's member only
    /// when none can, as nats-server prefers them.
    fn pick_member(
        &self,
        publisher: usize,
        members: &[Target],
        subject: &[u8],
        reach: Reach,
    ) -> Option<Target> {
        let behind_leaf = |t: &Target| match *t {
            Target::Leaf { .. } => true,
            Target::Remote { origin, .. } => matches!(origin, Origin::Leaf | Origin::Hub),
            Target::Local(_) | Target::Internal(_) | Target::Import(_) | Target::Route { .. } => {
                false
            }
        };
        self.draw_member(publisher, members, subject, reach, |t| !behind_leaf(t))
            .or_else(|| self.draw_member(publisher, members, subject, reach, behind_leaf))
    }

    /// Draws one member that `reach` and `eligible` allow, by weight, then walks on from
    /// there to the first such member that can take the message.
    fn draw_member(
        &self,
        publisher: usize,
        members: &[Target],
        subject: &[u8],
        reach: Reach,
        eligible: impl Fn(&Target) -> bool,
    ) -> Option<Target> {
        let allowed = |t: &Target| reach.allows(t) && eligible(t);
        let weight = |t: &Target| match *t {
            _ if !allowed(t) => 0,
            Target::Local(_) | Target::Internal(_) | Target::Import(_) => 1u64,
            Target::Remote { weight, .. }
            | Target::Route { weight, .. }
            | Target::Leaf { weight, .. } => weight as u64,
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
            .find(|t| {
                allowed(t)
                    && match *t {
                        Target::Local(key) => self.can_take(publisher, key, subject),
                        Target::Leaf { conn, .. } => conn != publisher,
                        Target::Remote { .. }
                        | Target::Route { .. }
                        | Target::Internal(_)
                        | Target::Import(_) => true,
                    }
            })
    }

    fn can_take(&self, publisher: usize, key: usize, subject: &[u8]) -> bool {
        let Some(sub) = self.subs.get(key) else {
            return false;
        };
        if sub.max > 0 && sub.delivered >= sub.max {
            return false;
        }
        match self.conns.get(sub.conn) {
            Some(c) => {
                c.is_open()
                    && (sub.conn != publisher || c.opts.echo)
                    && !c
                        .perms
                        .as_deref()
                        .is_some_and(|p| p.would_deny(subject, sub.queue.as_deref()))
            }
            None => false,
        }
    }

    /// Writes one delivery into a local subscriber's buffer.
    pub(super) fn deliver_local(
        &mut self,
        publisher: usize,
        key: usize,
        msg: &Message<'_>,
    ) -> bool {
        let Some(sub) = self.subs.get_mut(key) else {
            return false;
        };
        let shown_subject;
        let shown_msg;
        let msg = match &sub.shown {
            // A stream import's shadow: not for requests of a service import, and shown
            // with the import's subject.
            Some(_) if self.sharing.in_service => return false,
            Some(im) => {
                shown_subject = im.shown(msg.subject);
                shown_msg = Message {
                    subject: &shown_subject,
                    ..*msg
                };
                &shown_msg
            }
            None => msg,
        };
        let token = sub.conn;
        if token & super::mqtt::park::PARKED != 0 {
            return self.mqtt_deliver_parked(token & !super::mqtt::park::PARKED, key, msg);
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if conn.closing.is_some() || (token == publisher && !conn.opts.echo) {
            return false;
        }
        // A subscription wider than a deny entry of its connection (nats `checkDenySub`).
        if let Some(p) = conn.perms.as_deref_mut() {
            if p.delivery_denied(msg.subject, sub.queue.as_deref()) {
                return false;
            }
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
        if conn.mqtt.is_some() {
            let sid = sub.sid.clone();
            return self.mqtt_deliver(publisher, token, &sid, msg);
        }
        let line_start = conn.out.len();
        proto::write_msg(&mut conn.out, msg, &sub.sid, conn.headers);
        if log::log_enabled!(log::Level::Trace) {
            // nats-server traces the MSG/HMSG line it queued, without its CRLF.
            let queued = &conn.out[line_start..];
            let line = memchr::memchr(b'\r', queued).map_or(queued, |end| &queued[..end]);
            log::trace!("{} - ->> [{}]", conn.label(), String::from_utf8_lossy(line));
            // And the body the subscriber gets (headers stripped when it has none).
            let body = &queued[line.len()..];
            let body = body.strip_prefix(b"\r\n").unwrap_or(body);
            let body = body.strip_suffix(b"\r\n").unwrap_or(body);
            if let Some(p) = proto::traced_payload(body, self.opts.max_traced_msg_len) {
                log::trace!("{} - ->> {p}", conn.label());
            }
        }
        if !msg.reply.is_empty() {
            if let Some(p) = conn.perms.as_deref_mut() {
                if p.tracks_replies() {
                    // allow_responses: the subscriber may now answer this request.
                    p.track_reply(msg.reply);
                }
            }
        }
        let body = if msg.header_len > 0 && !conn.headers {
            msg.data.len().saturating_sub(msg.header_len)
        } else {
            msg.data.len()
        } as u64;
        conn.stats.out_msgs += 1;
        conn.stats.out_bytes += body;
        self.counters.out_msgs += 1;
        self.counters.out_bytes += body;
        self.queued_output(publisher, token);
        true
    }

    /// After output was appended to connection `token` on behalf of `publisher`: mark it for
    /// the end-of-turn flush, write it out early when it holds a lot, and apply the
    /// slow-consumer rules. Clients and routes alike.
    pub(crate) fn queued_output(&mut self, publisher: usize, token: usize) {
        let max_pending = self.opts.max_pending;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(token);
        }
        let threshold = if max_pending > 0 {
            EARLY_FLUSH.min(max_pending as usize / 2)
        } else {
            EARLY_FLUSH
        };
        if conn.pending() > threshold.max(conn.relieve_at) {
            // Write out what the socket takes now. A socket that takes nothing is tried
            // again only after another `threshold` bytes, not on every message.
            if let Err(e) = conn.write_pending() {
                self.write_failed(token, &e);
                return;
            }
            conn.relieve_at = conn.pending() + threshold;
        }
        if max_pending > 0 {
            self.check_pending(publisher, token, max_pending);
        }
    }

    /// nats-server's slow-consumer rules for a subscriber's pending bytes: past 3/4 of
    /// `max_pending` a subscriber that is still draining slows the producers down; past
    /// `max_pending` it is closed. A publisher that is itself the subscriber so far behind
    /// stops being read until it has drained (nats-server stalls its read loop the same
    /// way): that costs nobody else anything, whether or not its socket is taking data.
    fn check_pending(&mut self, publisher: usize, token: usize, max_pending: i64) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let pending = conn.pending() as i64;
        if pending > max_pending / 4 * 3 && pending <= max_pending {
            if token == publisher {
                if !conn.waits_for_own_drain {
                    conn.waits_for_own_drain = true;
                    conn.stats.stalls += 1;
                    self.counters.stalls += 1;
                }
            } else if conn.last_progress.elapsed() < STALL_ALIVE {
                conn.stats.stalls += 1;
                self.counters.stalls += 1;
                self.congested = true;
            }
        }
        if pending > max_pending {
            info!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                conn.label(),
                max_pending
            );
            self.counters.slow_consumers += 1;
            if conn.route.is_some() {
                self.counters.slow_routes += 1;
            } else if conn.leaf.is_some() {
                self.counters.slow_leafs += 1;
            }
            // nats-server closes without -ERR and without flushing what is queued.
            self.close(token, CloseReason::SlowConsumerPendingBytes);
        }
    }

    /// Delivers messages forwarded by a peer reactor, starting at `offset` of the batch
    /// buffer, as the peer instructed. When a local subscriber becomes congested the rest is
    /// kept for the next turn, so order is kept and buffers stay bounded.
    pub(super) fn deliver_forwarded(&mut self, msgs: Vec<u8>, offset: usize) {
        let Some(rest) = msgs.get(offset..) else {
            return;
        };
        let mut decoder = super::inbox::Decoder::new(rest);
        let mut named: Vec<(&[u8], Reach)> = Vec::new();
        while let Some(fwd) = decoder.next() {
            self.counters.routed_in += 1;
            let result = self.sublist_mut(fwd.account).match_subject(fwd.msg.subject);
            let plain = Reach::here(fwd.plain);
            named.clear();
            named.extend(
                fwd.queues
                    .iter()
                    .map(|(q, origin)| (*q, Reach::here(origin.bit()))),
            );
            let shown = shown_locally(&fwd.msg);
            self.fan_out(
                FROM_PEER,
                fwd.account,
                &fwd.msg,
                &shown,
                &result,
                plain,
                Groups::Named(&named),
            );
            if self.congested && !decoder.is_empty() {
                let consumed = offset + (rest.len() - decoder.remaining());
                self.inbound_rest = Some((msgs, consumed));
                return;
            }
        }
    }

    /// Delivers a message that arrived on a route: to this server's clients only (one hop),
    /// and to one client member of each queue group the route named.
    pub(crate) fn deliver_from_route(
        &mut self,
        account: u32,
        msg: &Message<'_>,
        queues: &[&[u8]],
    ) -> bool {
        self.deliver_from_peer(FROM_PEER, Origin::Route, account, msg, queues)
    }

    /// Delivers a message that arrived on route or leaf connection `from`, whose kind is
    /// `origin`: where that kind may go (`Origin::may_reach`), never back to `from`, and to
    /// one member of each queue group it named (none if it named none: the sender picked).
    pub(crate) fn deliver_from_peer(
        &mut self,
        from: usize,
        origin: Origin,
        account: u32,
        msg: &Message<'_>,
        queues: &[&[u8]],
    ) -> bool {
        self.sync_interest();
        let (subject_buf, result) = self.lookup(account, msg.subject);
        let reach = Reach::from(origin);
        let named: Vec<(&[u8], Reach)> = queues.iter().map(|q| (*q, reach)).collect();
        let shown = shown_locally(msg);
        let delivered = self.fan_out(
            from,
            account,
            msg,
            &shown,
            &result,
            reach,
            Groups::Named(&named),
        );
        self.last_match = Some(LastMatch {
            account,
            subject: subject_buf,
            generation: self.matched_generation,
            result,
        });
        delivered
    }
}

/// Which queue groups of a match a delivery serves.
#[derive(Debug, Clone, Copy)]
pub(super) enum Groups<'g> {
    /// Every group, its member chosen within this reach.
    All(Reach),
    /// Only these groups (a route's or a peer reactor's list), each with its own reach.
    Named(&'g [(&'g [u8], Reach)]),
}

/// A JetStream consumer delivers on its deliver subject but shows the stored subject.
/// Past this reactor (peer reactors, routes, leaf nodes) the stored subject rides at the
/// end of the `$JS.ACK.` reply after an `@`, as nats-server sends it
/// (`jsAckDeliverIdx`): the reply, and where the stored subject starts, when it does.
pub(crate) fn split_js_deliver(reply: &[u8]) -> Option<(&[u8], &[u8])> {
    if !reply.starts_with(b"$JS.ACK.") {
        return None;
    }
    let mut dots = 0;
    for (i, &b) in reply.iter().enumerate() {
        match b {
            b'.' => dots += 1,
            b'@' if dots >= 8 && i + 1 < reply.len() => {
                return Some((&reply[..i], &reply[i + 1..]))
            }
            b'@' if dots >= 8 => return None,
            _ => {}
        }
    }
    None
}

/// The reply a JetStream delivery carries past this reactor: `reply@subject` (see
/// [`split_js_deliver`]); an empty reply stays empty, as nats-server leaves it.
pub(crate) fn join_js_deliver(reply: &[u8], subject: &[u8]) -> Vec<u8> {
    if reply.is_empty() || split_js_deliver(reply).is_some() {
        return reply.to_vec();
    }
    let mut joined = Vec::with_capacity(reply.len() + 1 + subject.len());
    joined.extend_from_slice(reply);
    joined.push(b'@');
    joined.extend_from_slice(subject);
    joined
}

/// `msg` as this server's clients see it when it came from a peer reactor, a route or a
/// leaf connection: a JetStream delivery with its stored subject and plain ack reply.
fn shown_locally<'m>(msg: &Message<'m>) -> Message<'m> {
    match split_js_deliver(msg.reply) {
        Some((reply, subject)) => Message {
            subject,
            reply,
            ..*msg
        },
        None => *msg,
    }
}

fn conn_entry(conns: &mut Vec<(usize, Vec<&[u8]>)>, conn: usize) {
    if !conns.iter().any(|(c, _)| *c == conn) {
        conns.push((conn, Vec::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::{join_js_deliver, split_js_deliver};

    #[test]
    fn js_deliver_subject_rides_after_the_ack_reply() {
        let ack = b"$JS.ACK.S.C.1.2.3.1700000000000000000.0";
        let joined = join_js_deliver(ack, b"orders.new");
        assert_eq!(
            split_js_deliver(&joined),
            Some((&ack[..], &b"orders.new"[..]))
        );
        assert_eq!(join_js_deliver(&joined, b"other"), joined, "joined once");
        assert_eq!(join_js_deliver(b"", b"orders.new"), b"");
        // Too few tokens before the `@`, not an ack, or nothing after it.
        assert_eq!(split_js_deliver(b"$JS.ACK.S.C@x"), None);
        assert_eq!(split_js_deliver(b"_INBOX.a.b.c.d.e.f.g.h@x"), None);
        assert_eq!(split_js_deliver(b"$JS.ACK.S.C.1.2.3.4.5.6@"), None);
    }
}
