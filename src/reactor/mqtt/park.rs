//! Persistent sessions while their client is away: the connection's NATS subscriptions stay
//! in the subject index, pointed at a parked session instead of a connection, and the QoS > 0
//! messages they catch queue up (encoded as PUBLISH packets, within `max_pending` bytes)
//! until the client comes back. QoS 0 messages are not kept for an absent client, as
//! nats-server does not keep them.
//!
//! A subscription's `conn` is then `PARKED | slot` (a value no connection token reaches).
//! When the client reconnects on the same reactor its subscriptions are handed to the new
//! connection as they are; on another reactor the new connection subscribes its filters
//! anew and this reactor drops the parked ones and sends what they caught over.

use super::*;

/// Marks a subscription's `conn` as a parked session's slot.
pub(in crate::reactor) const PARKED: usize = 1 << 62;

/// Deliveries a parked session caught: encoded PUBLISH packets and their QoS.
pub(in crate::reactor) type Caught = Vec<(Vec<u8>, u8)>;

/// A persistent session whose client is away.
pub(in crate::reactor) struct Parked {
    account: u32,
    client_id: String,
    level: u8,
    /// The subscriptions: sid, key in the reactor's subscription slab, and what MQTT asked.
    subs: Vec<(Box<[u8]>, usize, SubMeta)>,
    /// Encoded PUBLISH packets (packet identifier to be filled in) and their QoS.
    queue: VecDeque<(Vec<u8>, u8)>,
    bytes: usize,
    dropped: u64,
    expires: Option<Instant>,
}

impl Reactor {
    /// Parks the subscriptions of connection `token` (closing, persistent session). Returns
    /// whether anything was parked.
    pub(super) fn mqtt_park(&mut self, token: usize) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let account = conn.account;
        let Some(m) = conn.mqtt.as_ref() else {
            return false;
        };
        let mut subs = Vec::new();
        for (sid, meta) in &m.subs {
            if let Some(key) = conn.subs.remove(sid) {
                subs.push((sid.clone(), key, meta.clone()));
            }
        }
        if subs.is_empty() {
            return false;
        }
        let expires = m.session_expires();
        let parked = Parked {
            account,
            client_id: m.client_id.clone(),
            level: m.level,
            subs,
            queue: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            expires,
        };
        let keys: Vec<usize> = parked.subs.iter().map(|(_, k, _)| *k).collect();
        let slot = self.mqtt_parked.insert(parked);
        for key in keys {
            self.point_sub(key, PARKED | slot);
        }
        true
    }

    /// Points a subscription (and its import shadows) at a connection or a parked slot.
    fn point_sub(&mut self, key: usize, to: usize) {
        let Some(sub) = self.subs.get_mut(key) else {
            return;
        };
        sub.conn = to;
        let shadows = sub.shadows.clone();
        for s in shadows {
            self.point_sub(s, to);
        }
    }

    fn mqtt_parked_slot(&self, account: u32, client_id: &str) -> Option<usize> {
        self.mqtt_parked
            .iter()
            .find(|(_, p)| p.account == account && p.client_id == client_id)
            .map(|(slot, _)| slot)
    }

    /// A delivery to a parked subscription: kept when it is QoS > 0 and fits.
    pub(in crate::reactor) fn mqtt_deliver_parked(
        &mut self,
        slot: usize,
        key: usize,
        msg: &Message<'_>,
    ) -> bool {
        let limit = self.opts.max_pending.max(0) as usize;
        let Some(sid) = self.subs.get(key).map(|s| s.sid.clone()) else {
            return false;
        };
        let Some(p) = self.mqtt_parked.get_mut(slot) else {
            return false;
        };
        let Some((_, _, meta)) = p.subs.iter().find(|(s, _, _)| *s == sid) else {
            return false;
        };
        if topic::skip_for_reserved(meta.reserved, msg.subject) {
            return false;
        }
        let (headers, body) = split_headers(msg);
        let (pub_qos, retained, user) = read_headers(headers);
        let qos = pub_qos.min(meta.opts.qos);
        if qos == 0 {
            return false;
        }
        let v5 = p.level == LEVEL_5;
        let topic = topic::subject_to_topic(msg.subject);
        let response_topic =
            (v5 && !msg.reply.is_empty()).then(|| topic::subject_to_topic(msg.reply));
        let out = Outgoing {
            topic: &topic,
            payload: body,
            qos,
            retain: retained && meta.opts.retain_as_published,
            user_properties: if v5 { user } else { Vec::new() },
            response_topic: response_topic.as_deref(),
            correlation: None,
            sub_id: meta.id,
        };
        let Some(encoded) = encode_publish(p.level, &out) else {
            return false;
        };
        if p.bytes + encoded.len() > limit {
            if p.dropped == 0 {
                warn!(
                    "MQTT session {:?} is away and has {} bytes waiting: dropping what else comes",
                    p.client_id, p.bytes
                );
            }
            p.dropped += 1;
            return false;
        }
        p.bytes += encoded.len();
        p.queue.push_back((encoded, qos));
        true
    }

    /// Hands the parked session of `client_id` to connection `token` (same reactor): its
    /// subscriptions, and returns what they caught (for [`Self::mqtt_take_queued`] once the
    /// session's own unacknowledged deliveries are back) with the level it is encoded at.
    pub(super) fn mqtt_unpark(
        &mut self,
        token: usize,
        account: u32,
        client_id: &str,
    ) -> Option<(u8, Caught)> {
        let slot = self.mqtt_parked_slot(account, client_id)?;
        let conn = self.conns.get_mut(token)?;
        let m = conn.mqtt.as_mut()?;
        let p = self.mqtt_parked.remove(slot);
        for (sid, key, meta) in &p.subs {
            conn.subs.insert(sid.clone(), *key);
            m.subs.insert(sid.clone(), meta.clone());
        }
        let keys: Vec<usize> = p.subs.iter().map(|(_, k, _)| *k).collect();
        for key in keys {
            self.point_sub(key, token);
        }
        Some((p.level, p.queue.into_iter().collect()))
    }

    /// Deliveries caught while the client was away go out as its receive maximum allows
    /// (dropped if it came back at another protocol level: they are encoded for the old one).
    pub(in crate::reactor) fn mqtt_take_queued(&mut self, token: usize, level: u8, queue: Caught) {
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        if m.level != level {
            return;
        }
        m.waiting.extend(queue);
        self.mqtt_send_waiting(token);
    }

    /// Drops the parked session of `client_id` on reactor `on` (this one, or another through
    /// its channel): a clean session replaced it, or it expired.
    pub(super) fn mqtt_drop_parked(&mut self, on: usize, account: u32, client_id: &str) {
        if on == self.id {
            self.mqtt_release_parked(account, client_id, None);
        } else if let Some(h) = self.all.get(on) {
            h.send_control(crate::reactor::Control::MqttUnpark {
                account,
                client_id: client_id.to_string(),
                to: None,
            });
        }
    }

    /// Removes a parked session's subscriptions; what they caught goes to `to` (reactor,
    /// token, cid) when given.
    pub(in crate::reactor) fn mqtt_release_parked(
        &mut self,
        account: u32,
        client_id: &str,
        to: Option<(usize, usize, u64)>,
    ) {
        let Some(slot) = self.mqtt_parked_slot(account, client_id) else {
            return;
        };
        let p = self.mqtt_parked.remove(slot);
        for (_, key, _) in &p.subs {
            self.remove_sub(*key);
        }
        let Some((reactor, token, cid)) = to else {
            return;
        };
        let queue: Caught = p.queue.into_iter().collect();
        if queue.is_empty() {
            return;
        }
        if let Some(h) = self.all.get(reactor) {
            h.send_control(crate::reactor::Control::MqttQueued {
                token,
                cid,
                level: p.level,
                queue,
            });
        }
    }

    /// Parked sessions past their MQTT 5 expiry go (looked at once a second).
    pub(in crate::reactor) fn mqtt_sweep_parked(&mut self, now: Instant) {
        if self.mqtt_parked.is_empty() || now < self.mqtt_park_sweep {
            return;
        }
        self.mqtt_park_sweep = now + Duration::from_secs(1);
        let expired: Vec<(u32, String)> = self
            .mqtt_parked
            .iter()
            .filter(|(_, p)| p.expires.is_some_and(|t| t <= now))
            .map(|(_, p)| (p.account, p.client_id.clone()))
            .collect();
        for (account, client_id) in expired {
            self.mqtt_release_parked(account, &client_id, None);
        }
    }
}
