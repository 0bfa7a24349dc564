//! CONNECT and the end of an MQTT connection: the client ID, keep-alive and will, the
//! credentials through the server's authentication, taking a client ID over from another
//! connection, resuming a persistent session, and on close the will and the session kept.

use super::publish::nats_message;
use super::*;
use crate::mqtt::session::Successor;

impl Reactor {
    pub(super) fn mqtt_connect(&mut self, token: usize, c: Connect<'_>) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        if m.level != 0 {
            self.mqtt_violation(token, "second CONNECT packet");
            return;
        }
        m.level = c.level;
        let v5 = c.level == LEVEL_5;
        // Session expiry (MQTT 5): a clean start with no expiry is a clean session.
        let expiry = c.props.session_expiry_interval.unwrap_or(0);
        m.clean = if v5 {
            c.clean_start && expiry == 0
        } else {
            c.clean_start
        };
        let mut assigned = None;
        let mut client_id = c.client_id.to_string();
        if client_id.is_empty() {
            if !c.clean_start && !v5 {
                error!(
                    "{} - unable to connect: client ID cannot be empty when clean session flag is set to false",
                    conn.label()
                );
                self.mqtt_refuse(
                    token,
                    connack::IDENTIFIER_REJECTED,
                    reason::CLIENT_ID_NOT_VALID,
                );
                return;
            }
            client_id = crate::nkey::nuid();
            assigned = Some(client_id.clone());
        }
        if !valid_client_id(&client_id) {
            error!(
                "{} - unable to connect: invalid character in client ID {client_id:?}",
                conn.label()
            );
            self.mqtt_refuse(
                token,
                connack::IDENTIFIER_REJECTED,
                reason::CLIENT_ID_NOT_VALID,
            );
            return;
        }
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        m.client_id = client_id;
        m.assigned_id = assigned;
        m.session_expiry = expiry;
        m.read_deadline =
            (c.keep_alive > 0).then(|| Duration::from_millis(u64::from(c.keep_alive) * 1500));
        if v5 {
            m.receive_max = c.props.receive_maximum.unwrap_or(u16::MAX);
            m.max_packet = c.props.maximum_packet_size.unwrap_or(0);
            m.problem_info = c.props.request_problem_information != Some(0);
        }
        if let Some(w) = &c.will {
            if w.qos == 2
                && self
                    .shared
                    .mqtt
                    .as_ref()
                    .is_some_and(|rt| rt.reject_qos2_publish)
            {
                if let Some(conn) = self.conns.get(token) {
                    error!(
                        "{} - unable to connect: server does not accept QoS2 for Will messages",
                        conn.label()
                    );
                }
                self.mqtt_refuse(token, 0x10, reason::QOS_NOT_SUPPORTED);
                return;
            }
            let subject = match topic::topic_to_subject(w.topic.as_bytes()) {
                Ok(s) if !w.topic.is_empty() => s,
                Ok(_) => {
                    self.mqtt_violation(token, "empty Will topic not allowed");
                    return;
                }
                Err(e) => {
                    self.mqtt_violation(token, &e.to_string());
                    return;
                }
            };
            let will = Will {
                topic: w.topic.as_bytes().to_vec(),
                subject,
                payload: w.payload.to_vec(),
                qos: w.qos,
                retain: w.retain,
                user_properties: owned_pairs(&w.props.user_properties),
                delay: w.props.will_delay_interval.unwrap_or(0),
            };
            if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
                m.will = Some(will);
            }
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        // nats-server: the user name and password are the CONNECT's, the password doubles
        // as a token.
        conn.opts.user = c.username.unwrap_or_default().to_string();
        let pass = c
            .password
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        conn.opts.auth_token = pass.clone();
        conn.opts.pass = pass;
        conn.opts.name = conn
            .mqtt
            .as_ref()
            .map(|m| m.client_id.clone())
            .unwrap_or_default();
        conn.opts.lang = "mqtt".into();
        conn.opts.echo = true;
        conn.auth_deadline = None;
        conn.connected = true;
        match self.check_credentials(token, false) {
            crate::reactor::authn::AuthStep::Done => self.finish_mqtt_connect(token),
            crate::reactor::authn::AuthStep::Failed | crate::reactor::authn::AuthStep::Pending => {}
        }
    }

    /// CONNACK with a refusal, then close.
    pub(super) fn mqtt_refuse(&mut self, token: usize, code_311: u8, code_5: u8) {
        let code = if self.mqtt_level(token) == LEVEL_5 {
            code_5
        } else {
            code_311
        };
        self.mqtt_send(token, &connack_packet(false, code));
        let reason = if code_311 == connack::NOT_AUTHORIZED {
            CloseReason::AuthenticationViolation
        } else {
            CloseReason::ProtocolViolation
        };
        self.close(token, reason);
    }

    /// An authentication failure on an MQTT connection: CONNACK "not authorized" (3.1.1,
    /// as nats-server answers) or "bad user name or password" (5), then close.
    pub(in crate::reactor) fn mqtt_auth_failed(&mut self, token: usize) {
        let had_user = self
            .conns
            .get(token)
            .is_some_and(|c| !c.opts.user.is_empty() || !c.opts.pass.is_empty());
        let code5 = if had_user {
            reason::BAD_USER_OR_PASSWORD
        } else {
            reason::NOT_AUTHORIZED
        };
        self.mqtt_refuse(token, connack::NOT_AUTHORIZED, code5);
    }

    /// CONNECT once authenticated: take the client ID over, resume or start the session,
    /// CONNACK, then the resumed subscriptions and unacknowledged deliveries.
    pub(in crate::reactor) fn finish_mqtt_connect(&mut self, token: usize) {
        let Some(rt) = self.shared.mqtt.clone() else {
            return;
        };
        let reactor = self.id;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let account = conn.account;
        let cid = conn.cid;
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        let holder = Holder {
            reactor,
            token,
            cid,
        };
        let client_id = m.client_id.clone();
        let clean = m.clean;
        m.reply_prefix = Some(format!("_MQTT_RR.{}.", crate::nkey::nuid()).into_bytes());
        let mut claim = rt.state.claim(account, &client_id, holder, clean);
        if let Some(old) = claim.replaced {
            if let Some(conn) = self.conns.get(token) {
                warn!(
                    "{} - Replacing old client since both have the same client ID {client_id:?}",
                    conn.label()
                );
            }
            if old.reactor == reactor {
                // Closed here and now, so its session is stored before this one resumes.
                self.mqtt_take_over(old.token, old.cid, Successor::Here);
                claim = rt.state.claim(account, &client_id, holder, clean);
            } else if let Some(h) = self.all.get(old.reactor) {
                // Closed there; its session comes back through our channel, and CONNACK
                // (with "session present") waits for it.
                h.send_control(crate::reactor::Control::MqttTakeOver {
                    token: old.token,
                    cid: old.cid,
                    successor: (reactor, token, cid),
                });
                if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
                    m.awaiting_session = true;
                }
                return;
            }
        }
        self.mqtt_accept_session(token, claim.resumed, claim.discarded);
    }

    /// The session of the connection this one took over from another reactor arrived.
    pub(in crate::reactor) fn mqtt_session_arrived(
        &mut self,
        token: usize,
        cid: u64,
        session: Option<(u32, String, StoredSession)>,
    ) {
        let live = self.conns.get(token).is_some_and(|c| c.cid == cid);
        let Some(m) = self
            .conns
            .get_mut(token)
            .filter(|_| live)
            .and_then(|c| c.mqtt.as_mut())
        else {
            // Gone meanwhile: what the old connection parked must not stay.
            if let Some((account, client_id, on)) =
                session.and_then(|(a, c, s)| Some((a, c, s.parked_on?)))
            {
                self.mqtt_drop_parked(on, account, &client_id);
            }
            return;
        };
        let session = session.map(|(_, _, s)| s);
        if !m.awaiting_session {
            return;
        }
        m.awaiting_session = false;
        let (resumed, discarded) = match session {
            Some(s) if !m.clean => (Some(s), None),
            other => (None, other),
        };
        self.mqtt_accept_session(token, resumed, discarded);
        // Packets that came behind the CONNECT wait in `inbuf`.
        if !self.pending_reads.contains(&token) {
            self.pending_reads.push(token);
        }
    }

    /// CONNACK and the rest of CONNECT once the session is known: `resumed` is the
    /// persistent session taken up, `discarded` one a clean session replaces.
    fn mqtt_accept_session(
        &mut self,
        token: usize,
        resumed: Option<StoredSession>,
        discarded: Option<StoredSession>,
    ) {
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        let account = conn.account;
        let Some(m) = conn.mqtt.as_ref() else {
            return;
        };
        let (client_id, clean, v5) = (m.client_id.clone(), m.clean, m.is_v5());
        if let Some(parked_on) = discarded.as_ref().and_then(|s| s.parked_on) {
            self.mqtt_drop_parked(parked_on, account, &client_id);
        }
        let discarded = discarded.is_some();
        let session_present = resumed.is_some();
        let mut props = Properties::default();
        if v5 {
            let assigned = self
                .conns
                .get(token)
                .and_then(|c| c.mqtt.as_ref())
                .and_then(|m| m.assigned_id.clone());
            props.topic_alias_maximum = Some(session::TOPIC_ALIAS_MAX);
            props.retain_available = Some(1);
            props.wildcard_subscription_available = Some(1);
            props.subscription_identifier_available = Some(1);
            props.shared_subscription_available = Some(1);
            props.maximum_packet_size = Some(self.mqtt_max_packet() as u32);
            let assigned_ref = assigned.as_deref();
            props.assigned_client_identifier = assigned_ref;
            let p = Packet::ConnAck(ConnAck {
                session_present,
                code: 0,
                props,
            });
            self.mqtt_send(token, &p);
        } else {
            self.mqtt_send(token, &connack_packet(session_present, 0));
        }
        if let Some(conn) = self.conns.get_mut(token) {
            debug!("{} - Client connected", conn.label());
            let deadline = conn
                .mqtt
                .as_ref()
                .and_then(|m| m.read_deadline)
                .unwrap_or(NO_DEADLINE);
            conn.ping_at = Instant::now() + deadline;
        }
        self.arm_timer(token);
        self.connect_event(token);
        if let Some(s) = resumed {
            self.mqtt_resume(token, s);
        }
        // A persistent session is written at once (not at close, which a crash skips); a
        // clean one replacing a persistent one removes its record.
        self.mqtt_save_session(token, clean && discarded);
    }

    /// Closes a connection whose client ID another connection took; its will is dropped.
    pub(in crate::reactor) fn mqtt_take_over(&mut self, token: usize, cid: u64, by: Successor) {
        let live = self
            .conns
            .get(token)
            .is_some_and(|c| c.cid == cid && c.closing.is_none() && c.mqtt.is_some());
        if !live {
            // Already gone: the successor must not wait for a session from here.
            if let Successor::There {
                reactor,
                token,
                cid,
            } = by
            {
                self.mqtt_send_session(reactor, token, cid, None);
            }
            return;
        }
        if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
            m.will = None;
            m.taken_over = Some(by);
        }
        self.mqtt_disconnect(token, reason::SESSION_TAKEN_OVER);
        self.close(token, CloseReason::DuplicateClientId);
    }

    pub(super) fn mqtt_resume(&mut self, token: usize, s: StoredSession) {
        let (account, cid, client_id) = match self.conns.get(token) {
            Some(c) => (
                c.account,
                c.cid,
                c.mqtt
                    .as_ref()
                    .map(|m| m.client_id.clone())
                    .unwrap_or_default(),
            ),
            None => return,
        };
        let here = if s.parked_on == Some(self.id) {
            self.mqtt_unpark(token, account, &client_id)
        } else {
            None
        };
        if here.is_none() {
            for (filter, opts, id) in &s.filters {
                self.mqtt_subscribe_one(token, filter, *opts, *id);
            }
        }
        if let Some(on) = s.parked_on.filter(|&r| r != self.id) {
            // Parked on another reactor: it drops its subscriptions and sends what they
            // caught here.
            if let Some(h) = self.all.get(on) {
                h.send_control(crate::reactor::Control::MqttUnpark {
                    account,
                    client_id,
                    to: Some((self.id, token, cid)),
                });
            }
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        for (pid, (mut packet, qos, released)) in s.inflight {
            if released {
                // Only the PUBREL is resent for a released QoS 2 delivery.
                packet::encode(
                    &Packet::PubRel(Ack {
                        packet_id: pid,
                        code: 0,
                        props: Properties::default(),
                    }),
                    m.level,
                    &mut conn.out,
                );
            } else {
                if let Some(b) = packet.first_mut() {
                    *b |= 0x08; // DUP
                }
                conn.out.extend_from_slice(&packet);
            }
            m.inflight.insert(
                pid,
                Inflight {
                    packet,
                    qos,
                    released,
                },
            );
        }
        self.mark_dirty(token);
        if let Some((level, queue)) = here {
            self.mqtt_take_queued(token, level, queue);
        }
    }

    /// Called as an MQTT connection starts closing: publishes its will unless it
    /// disconnected cleanly or was replaced, and stores or drops its session.
    pub(in crate::reactor) fn mqtt_closing(&mut self, token: usize) {
        let Some(rt) = self.shared.mqtt.clone() else {
            return;
        };
        let reactor = self.id;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let (account, cid) = (conn.account, conn.cid);
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        if m.level == 0 || m.client_id.is_empty() || !conn.connected {
            return;
        }
        let will = m.will.take();
        let will_v5 = m.is_v5();
        let keep = (!m.clean).then(|| m.to_stored());
        let successor = m.taken_over;
        let client_id = m.client_id.clone();
        if let Some(w) = will {
            let (data, header_len) = nats_message(
                w.qos,
                will_v5 && w.retain,
                &w.user_properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
                &w.payload,
            );
            if w.retain {
                let retained = Retained {
                    topic: w.topic.clone(),
                    payload: w.payload.clone(),
                    qos: w.qos,
                    user_properties: w.user_properties.clone(),
                    expires: None,
                };
                self.mqtt_retain(token, &w.subject, retained);
            }
            self.mqtt_deliver_published(token, &w.subject, b"", &data, header_len);
        }
        // A persistent session's subscriptions stay, catching what comes meanwhile.
        let keep = keep.map(|mut s| {
            if self.mqtt_park(token) {
                s.parked_on = Some(reactor);
            }
            s
        });
        let parked = keep.as_ref().is_some_and(|s| s.parked_on.is_some());
        let holder = Holder {
            reactor,
            token,
            cid,
        };
        match successor {
            // The connection replacing this one, here, resumes the session at once.
            Some(Successor::Here) => rt.state.hand_over(account, &client_id, keep),
            Some(Successor::There {
                reactor,
                token,
                cid,
            }) => {
                let session = keep.map(|s| (account, client_id.clone(), s));
                self.mqtt_send_session(reactor, token, cid, session)
            }
            None => {
                if !rt.state.release(account, &client_id, holder, keep) && parked {
                    // Taken over meanwhile: the new connection has the session.
                    self.mqtt_release_parked(account, &client_id, None);
                }
            }
        }
    }
}

impl Reactor {
    /// Sends a taken-over connection's session to its successor on another reactor.
    fn mqtt_send_session(
        &mut self,
        reactor: usize,
        token: usize,
        cid: u64,
        session: Option<(u32, String, StoredSession)>,
    ) {
        if let Some(h) = self.all.get(reactor) {
            h.send_control(crate::reactor::Control::MqttSession {
                token,
                cid,
                session,
            });
        }
    }
}

/// nats-server's `isValidName` for client IDs: none of space, tab, CR, LF, FF, `.`, `*`, `>`.
pub(super) fn valid_client_id(id: &str) -> bool {
    !id.contains([' ', '\t', '\r', '\n', '\x0c', '.', '*', '>'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_nats_names() {
        assert!(valid_client_id("sensor-1_a"));
        assert!(!valid_client_id("a.b"));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id("a>"));
        assert!(
            !valid_client_id("a\x0cb"),
            "form feed, as nats-server's isValidName"
        );
    }
}
