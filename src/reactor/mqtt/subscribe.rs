//! SUBSCRIBE and UNSUBSCRIBE: a filter as one or two NATS subscriptions (shared ones as
//! queue groups), the retained messages a new subscription gets, and the subscription that
//! takes the responses to MQTT 5 requests.

use super::*;

impl Reactor {
    pub(super) fn mqtt_subscribe(&mut self, token: usize, s: Subscribe<'_>) {
        let v5 = self.mqtt_level(token) == LEVEL_5;
        let mut codes = Vec::with_capacity(s.filters.len());
        let id = s.props.subscription_identifiers.first().copied();
        let mut granted = Vec::new();
        for (filter, opts) in &s.filters {
            // MQTT 5 retain handling 1: retained messages only for a new subscription.
            let existed = self
                .conns
                .get(token)
                .and_then(|c| c.mqtt.as_ref())
                .is_some_and(|m| !m.sids_of(filter.as_bytes()).is_empty());
            let code = self.mqtt_subscribe_one(token, filter.as_bytes(), *opts, id);
            codes.push(code);
            if code < 0x80 && !(existed && opts.retain_handling == 1) {
                granted.push((filter.as_bytes().to_vec(), code, *opts, id));
            }
        }
        if !v5 {
            for c in codes.iter_mut() {
                if *c >= 0x80 {
                    *c = 0x80;
                }
            }
        }
        // The SUBACK of a persistent session goes out once the session is stored.
        self.mqtt_save_session(token, false);
        self.mqtt_send(
            token,
            &Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                props: Properties::default(),
                codes,
            }),
        );
        for (filter, qos, opts, id) in granted {
            self.mqtt_send_retained(token, &filter, qos, opts, id);
        }
    }

    /// Subscribes one filter; returns the SUBACK code (the granted QoS, or a failure).
    pub(super) fn mqtt_subscribe_one(
        &mut self,
        token: usize,
        full_filter: &[u8],
        mut opts: packet::SubOptions,
        id: Option<u32>,
    ) -> u8 {
        let rt = self.shared.mqtt.clone();
        let v5 = self.mqtt_level(token) == LEVEL_5;
        let (group, filter) = match topic::parse_shared(full_filter) {
            Ok(Some(sf)) if v5 => (Some(sf.group.to_vec()), sf.filter.to_vec()),
            Ok(_) => (None, full_filter.to_vec()),
            Err(e) => {
                self.mqtt_log(token, &format!("invalid filter: {e}"));
                return reason::TOPIC_FILTER_INVALID;
            }
        };
        let subjects = match topic::filter_to_subjects(&filter) {
            Ok(s) => s,
            Err(e) => {
                self.mqtt_log(token, &format!("invalid filter: {e}"));
                return reason::TOPIC_FILTER_INVALID;
            }
        };
        if opts.qos == 2 && rt.as_ref().is_some_and(|rt| rt.downgrade_qos2_subscribe) {
            opts.qos = 1;
        }
        opts.qos = opts.qos.min(2);
        let mut made: Vec<Box<[u8]>> = Vec::new();
        for (i, subject) in subjects.iter().enumerate() {
            let sid = session::sid_for(full_filter, i > 0);
            self.on_sub(token, subject, group.as_deref(), &sid);
            let Some(conn) = self.conns.get_mut(token) else {
                return reason::UNSPECIFIED;
            };
            if !conn.subs.contains_key(&sid) {
                // Refused (permissions, limits): undo the part already made.
                for sid in made {
                    self.mqtt_unsub_sid(token, &sid);
                }
                return reason::NOT_AUTHORIZED;
            }
            if let Some(m) = conn.mqtt.as_mut() {
                m.subs.insert(
                    sid.clone(),
                    SubMeta {
                        filter: filter.clone().into(),
                        group: group.clone().map(Into::into),
                        opts,
                        id,
                        reserved: topic::is_reserved_subscription(subject),
                    },
                );
            }
            made.push(sid);
        }
        opts.qos
    }

    /// Sends the retained messages matching a new subscription (not for shared ones, and
    /// as MQTT 5 retain handling asks).
    pub(super) fn mqtt_send_retained(
        &mut self,
        token: usize,
        full_filter: &[u8],
        granted: u8,
        opts: packet::SubOptions,
        id: Option<u32>,
    ) {
        let Some(rt) = self.shared.mqtt.clone() else {
            return;
        };
        if opts.retain_handling == 2 || matches!(topic::parse_shared(full_filter), Ok(Some(_))) {
            return;
        }
        let Ok(subjects) = topic::filter_to_subjects(full_filter) else {
            return;
        };
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        let account = conn.account;
        let reserved = subjects
            .first()
            .is_some_and(|s| topic::is_reserved_subscription(s));
        for (subject, msg) in rt.state.retained_matching(account, &subjects) {
            if topic::skip_for_reserved(reserved, &subject) {
                continue;
            }
            let denied = self.conns.get_mut(token).is_none_or(|c| {
                c.perms
                    .as_deref_mut()
                    .is_some_and(|p| p.delivery_denied(&subject, None))
            });
            if denied {
                continue;
            }
            let out = Outgoing {
                topic: &msg.topic,
                payload: &msg.payload,
                qos: msg.qos.min(granted),
                retain: true,
                user_properties: msg
                    .user_properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                response_topic: None,
                correlation: None,
                sub_id: id,
            };
            self.mqtt_queue_publish(token, &out);
        }
    }

    pub(super) fn mqtt_unsubscribe(&mut self, token: usize, u: Unsubscribe<'_>) {
        let mut codes = Vec::with_capacity(u.filters.len());
        for filter in &u.filters {
            let sids = self
                .conns
                .get(token)
                .and_then(|c| c.mqtt.as_ref())
                .map(|m| m.sids_of(filter.as_bytes()))
                .unwrap_or_default();
            codes.push(if sids.is_empty() {
                reason::NO_SUBSCRIPTION_EXISTED
            } else {
                reason::SUCCESS
            });
            for sid in sids {
                self.mqtt_unsub_sid(token, &sid);
            }
        }
        self.mqtt_save_session(token, false);
        self.mqtt_send(
            token,
            &Packet::UnsubAck(SubAck {
                packet_id: u.packet_id,
                props: Properties::default(),
                codes,
            }),
        );
    }

    pub(super) fn mqtt_unsub_sid(&mut self, token: usize, sid: &[u8]) {
        self.on_unsub(token, sid, 0);
        if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
            m.subs.remove(sid);
        }
    }

    /// The subscription that takes the responses to this connection's MQTT 5 requests.
    pub(super) fn mqtt_ensure_request_sub(&mut self, token: usize) {
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        if conn.subs.contains_key(session::REQUESTS_SID) {
            return;
        }
        let Some(prefix) = conn.mqtt.as_ref().and_then(|m| m.reply_prefix.clone()) else {
            return;
        };
        let mut subject = prefix;
        subject.push(b'*');
        self.on_sub(token, &subject, None, session::REQUESTS_SID);
    }
}
