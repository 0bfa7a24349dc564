//! PUBLISH from an MQTT client and the acknowledgements of both directions: topic aliases,
//! the NATS message a PUBLISH becomes (nats-server's `Nmqtt-Pub` header), retained messages,
//! QoS 1 PUBACK, QoS 2 held until PUBREL, and PUBACK/PUBREC/PUBCOMP for our deliveries.

use super::*;

impl Reactor {
    pub(super) fn mqtt_publish(&mut self, token: usize, p: Publish<'_>) {
        let rt = self.shared.mqtt.clone();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        let v5 = m.is_v5();
        if p.qos == 2 && rt.as_ref().is_some_and(|rt| rt.reject_qos2_publish) {
            let label = conn.label().to_string();
            error!("{label} - QoS2 PUBLISH rejected, closing connection");
            self.mqtt_disconnect(token, reason::QOS_NOT_SUPPORTED);
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        // MQTT 5 topic aliases.
        let mut topic_bytes: Vec<u8> = p.topic.as_bytes().to_vec();
        if let Some(alias) = p.props.topic_alias {
            if !v5 || alias == 0 || alias > session::TOPIC_ALIAS_MAX {
                self.mqtt_disconnect(token, reason::TOPIC_ALIAS_INVALID);
                self.close(token, CloseReason::ProtocolViolation);
                return;
            }
            if topic_bytes.is_empty() {
                match m.aliases.get(&alias) {
                    Some(t) => topic_bytes = t.clone(),
                    None => {
                        self.mqtt_violation(token, "unknown topic alias");
                        return;
                    }
                }
            } else {
                m.aliases.insert(alias, topic_bytes.clone());
            }
        }
        if v5
            && p.props.payload_format_indicator == Some(1)
            && std::str::from_utf8(p.payload).is_err()
        {
            self.mqtt_disconnect(token, reason::PAYLOAD_FORMAT_INVALID);
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        let subject = match topic::topic_to_subject(&topic_bytes) {
            Ok(s) => s,
            Err(e) => {
                if let Some(conn) = self.conns.get(token) {
                    error!("{} - {e}", conn.label());
                }
                self.mqtt_disconnect(token, reason::TOPIC_NAME_INVALID);
                self.close(token, CloseReason::ProtocolViolation);
                return;
            }
        };
        // MQTT 5 request: the response topic becomes a reply subject of ours, remembered
        // with the correlation data.
        let reply = match (v5, p.props.response_topic) {
            (true, Some(rt_topic)) => self
                .conns
                .get_mut(token)
                .and_then(|c| c.mqtt.as_mut())
                .and_then(|m| m.open_request(rt_topic.as_bytes(), p.props.correlation_data))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if !reply.is_empty() {
            self.mqtt_ensure_request_sub(token);
        }
        let user = if v5 {
            p.props.user_properties.as_slice()
        } else {
            &[]
        };
        // The retain flag rides along for MQTT 5 "retain as published" only from MQTT 5
        // publishers: a 3.1.1 publish stays byte for byte what nats-server makes of it.
        let (data, header_len) = nats_message(p.qos, v5 && p.retain, user, p.payload);
        if p.retain {
            let allowed = self.conns.get_mut(token).is_some_and(|conn| {
                conn.perms
                    .as_deref_mut()
                    .is_none_or(|perms| perms.publish_allowed(&subject))
            });
            if allowed {
                let retained = Retained {
                    topic: topic_bytes.clone(),
                    payload: p.payload.to_vec(),
                    qos: p.qos,
                    user_properties: owned_pairs(user),
                    expires: p
                        .props
                        .message_expiry_interval
                        .map(|s| Instant::now() + Duration::from_secs(u64::from(s))),
                };
                self.mqtt_retain(token, &subject, retained);
            }
        }
        match (p.qos, p.packet_id) {
            (2, Some(pid)) => {
                let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
                    return;
                };
                // A resent QoS 2 PUBLISH (same identifier, not yet released) is not
                // delivered twice.
                m.held.entry(pid).or_insert(HeldPublish {
                    subject,
                    reply,
                    data,
                    header_len,
                });
                self.mqtt_send(token, &ack(Packet::PubRec, pid, 0));
            }
            (1, Some(pid)) if !v5 => {
                // nats-server acknowledges before the onward delivery (which its QoS 1
                // subscribers get from JetStream); a 3.1.1 client sees the same order.
                self.mqtt_send(token, &ack(Packet::PubAck, pid, reason::SUCCESS));
                self.mqtt_deliver_published(token, &subject, &reply, &data, header_len);
            }
            (qos, pid) => {
                let delivered =
                    self.mqtt_deliver_published(token, &subject, &reply, &data, header_len);
                if let (1, Some(pid)) = (qos, pid) {
                    // MQTT 5 tells the publisher when nobody was listening.
                    let code = if delivered {
                        reason::SUCCESS
                    } else {
                        reason::NO_MATCHING_SUBSCRIBERS
                    };
                    self.mqtt_send(token, &ack(Packet::PubAck, pid, code));
                }
            }
        }
    }

    /// Keeps (an empty payload: removes) the retained message of `subject`, in memory and,
    /// with JetStream, in `$MQTT_rmsgs`.
    pub(super) fn mqtt_retain(&mut self, token: usize, subject: &[u8], msg: Retained) {
        let Some(rt) = self.shared.mqtt.clone() else {
            return;
        };
        let Some(account) = self.conns.get(token).map(|c| c.account) else {
            return;
        };
        if let Some(origin) = self.mqtt_persists(token) {
            let kept = (!msg.payload.is_empty()).then_some(&msg);
            let (record, data, header_len) =
                persist::retained_record(subject, &msg.topic, kept, &origin);
            self.mqtt_store(token, &record, &data, header_len);
        }
        rt.state.retain(account, subject, msg);
    }

    /// Publishes a message from an MQTT client as a NATS message; whether anyone got it.
    pub(super) fn mqtt_deliver_published(
        &mut self,
        token: usize,
        subject: &[u8],
        reply: &[u8],
        data: &[u8],
        header_len: usize,
    ) -> bool {
        let mut texts = SizeTexts::default();
        let msg = texts.message(subject, reply, data, header_len);
        self.on_pub(token, &msg)
    }

    pub(super) fn mqtt_pubrel(&mut self, token: usize, a: Ack<'_>) {
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        let held = m.held.remove(&a.packet_id);
        let code = if held.is_some() {
            reason::SUCCESS
        } else {
            reason::PACKET_ID_NOT_FOUND
        };
        if let Some(h) = held {
            self.mqtt_deliver_published(token, &h.subject, &h.reply, &h.data, h.header_len);
        }
        self.mqtt_send(token, &ack(Packet::PubComp, a.packet_id, code));
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) for one of our deliveries: it is done, and a
    /// delivery held back for the receive maximum may go.
    pub(super) fn mqtt_acked(&mut self, token: usize, pid: u16, puback: bool) {
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        let matches = m
            .inflight
            .get(&pid)
            .is_some_and(|f| (f.qos == 1) == puback && (puback || f.released));
        if matches {
            m.inflight.remove(&pid);
        }
        self.mqtt_send_waiting(token);
    }

    pub(super) fn mqtt_pubrec(&mut self, token: usize, a: Ack<'_>) {
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        let code = match m.inflight.get_mut(&a.packet_id) {
            Some(f) if f.qos == 2 => {
                // A PUBREC with an error code ends the exchange (MQTT 5).
                if a.code >= 0x80 {
                    m.inflight.remove(&a.packet_id);
                    self.mqtt_send_waiting(token);
                    return;
                }
                f.released = true;
                f.packet.clear();
                reason::SUCCESS
            }
            _ => reason::PACKET_ID_NOT_FOUND,
        };
        self.mqtt_send(token, &ack(Packet::PubRel, a.packet_id, code));
    }
}

/// The NATS message an MQTT PUBLISH becomes: nats-server's header with the QoS (and MQTT 5
/// user properties as more headers), then the payload. Returns it and its header length.
pub(super) fn nats_message(
    qos: u8,
    retain: bool,
    user: &[(&str, &str)],
    payload: &[u8],
) -> (Vec<u8>, usize) {
    let mut data = Vec::with_capacity(payload.len() + 32);
    data.extend_from_slice(b"NATS/1.0\r\n");
    data.extend_from_slice(PUB_HEADER.as_bytes());
    data.push(b':');
    data.push(b'0' + qos.min(2));
    if retain {
        // nats-server's flags nibble after the QoS (retain | QoS << 1, one hex digit, as it
        // writes for staged QoS 2 messages and reads back where present).
        data.push(b"0123456789abcdef"[usize::from(0x01 | qos.min(2) << 1)]);
    }
    data.extend_from_slice(b"\r\n");
    for (k, v) in user {
        // A header line cannot hold CR, LF or a colon in its name.
        if k.is_empty() || k.bytes().any(|b| matches!(b, b':' | b'\r' | b'\n' | b' ')) {
            continue;
        }
        if v.bytes().any(|b| matches!(b, b'\r' | b'\n')) {
            continue;
        }
        data.extend_from_slice(k.as_bytes());
        data.extend_from_slice(b": ");
        data.extend_from_slice(v.as_bytes());
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b"\r\n");
    let header_len = data.len();
    data.extend_from_slice(payload);
    (data, header_len)
}

#[cfg(test)]
mod tests {
    use super::super::deliver::read_headers;
    use super::*;

    #[test]
    fn published_messages_carry_the_qos_header_as_nats_server_writes_it() {
        let (data, hl) = nats_message(1, false, &[], b"hi");
        assert_eq!(data, b"NATS/1.0\r\nNmqtt-Pub:1\r\n\r\nhi");
        assert_eq!(hl, data.len() - 2);
        let (qos, retain, user) = read_headers(&data[..hl]);
        assert_eq!((qos, retain, user.len()), (1, false, 0));
        let (data, hl) = nats_message(2, true, &[], b"");
        assert_eq!(&data[..hl], b"NATS/1.0\r\nNmqtt-Pub:25\r\n\r\n");
        assert!(read_headers(&data[..hl]).1);
        let (data, hl) = nats_message(0, false, &[("k", "v"), ("bad:key", "x")], b"");
        let (qos, _, user) = read_headers(&data[..hl]);
        assert_eq!((qos, user), (0, vec![("k", "v")]));
    }
}
