//! Deliveries to an MQTT connection: a NATS message as a PUBLISH (QoS, topic, MQTT 5
//! properties from headers and reply subjects), packet identifiers, and the client's
//! receive maximum.

use super::*;

impl Reactor {
    /// Writes one delivery on subscription `sid` as a PUBLISH. Returns whether it was
    /// queued.
    pub(in crate::reactor) fn mqtt_deliver(
        &mut self,
        publisher: usize,
        token: usize,
        sid: &[u8],
        msg: &Message<'_>,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return false;
        };
        if sid == session::REQUESTS_SID && m.store_answered(msg.subject, &mut conn.out) {
            // JetStream stored a record of the MQTT state: what waited for it goes out.
            if msg.data.windows(8).any(|w| w == b"\"error\"") {
                let label = conn.label().to_string();
                error!(
                    "{label} - MQTT state not stored: {}",
                    String::from_utf8_lossy(msg.data)
                );
            }
            self.mark_dirty(token);
            return true;
        }
        let (headers, body) = split_headers(msg);
        let (pub_qos, retained, user) = read_headers(headers);
        let v5 = m.is_v5();
        let request;
        let mut as_published = false;
        let (topic_owned, sub_qos, sub_id, correlation) = if sid == session::REQUESTS_SID {
            request = m.take_request(msg.subject);
            match &request {
                Some((t, c)) => (t.clone(), 0, None, c.as_deref()),
                None => return false,
            }
        } else {
            let Some(meta) = m.subs.get(sid) else {
                return false;
            };
            if (meta.opts.no_local && publisher == token)
                || topic::skip_for_reserved(meta.reserved, msg.subject)
            {
                return false;
            }
            as_published = meta.opts.retain_as_published;
            (
                topic::subject_to_topic(msg.subject),
                meta.opts.qos,
                meta.id,
                None,
            )
        };
        let response_topic =
            (v5 && !msg.reply.is_empty()).then(|| topic::subject_to_topic(msg.reply));
        let out = Outgoing {
            topic: &topic_owned,
            payload: body,
            qos: pub_qos.min(sub_qos),
            retain: as_published && retained,
            user_properties: if v5 { user } else { Vec::new() },
            response_topic: response_topic.as_deref(),
            correlation,
            sub_id,
        };
        if !self.mqtt_queue_publish(token, &out) {
            return false;
        }
        if let Some(conn) = self.conns.get_mut(token) {
            conn.stats.out_msgs += 1;
            conn.stats.out_bytes += body.len() as u64;
        }
        self.counters.out_msgs += 1;
        self.counters.out_bytes += body.len() as u64;
        self.queued_output(publisher, token);
        true
    }

    /// Encodes a PUBLISH into the connection's output: QoS > 0 gets a packet identifier and
    /// is kept until acknowledged, or waits while the client's receive maximum is reached.
    pub(super) fn mqtt_queue_publish(&mut self, token: usize, o: &Outgoing<'_>) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return false;
        };
        let Some(mut encoded) = encode_publish(m.level, o) else {
            return false;
        };
        if m.max_packet > 0 && encoded.len() > m.max_packet as usize {
            // MQTT 5: never send a client more than it said it takes.
            return false;
        }
        if o.qos == 0 {
            m.emit(&mut conn.out, &encoded);
            self.mark_dirty(token);
            return true;
        }
        if !m.may_send_qos() {
            m.waiting.push_back((encoded, o.qos));
            return true;
        }
        let Some(pid) = m.next_packet_id() else {
            return false;
        };
        set_packet_id(&mut encoded, pid);
        m.emit(&mut conn.out, &encoded);
        m.inflight.insert(
            pid,
            Inflight {
                packet: encoded,
                qos: o.qos,
                released: false,
            },
        );
        self.mark_dirty(token);
        true
    }

    /// Sends deliveries that waited for the receive maximum, as far as it allows now.
    pub(super) fn mqtt_send_waiting(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(m) = conn.mqtt.as_mut() else {
            return;
        };
        let mut sent = false;
        while m.may_send_qos() {
            let Some((mut encoded, qos)) = m.waiting.pop_front() else {
                break;
            };
            let Some(pid) = m.next_packet_id() else {
                m.waiting.push_front((encoded, qos));
                break;
            };
            set_packet_id(&mut encoded, pid);
            m.emit(&mut conn.out, &encoded);
            m.inflight.insert(
                pid,
                Inflight {
                    packet: encoded,
                    qos,
                    released: false,
                },
            );
            sent = true;
        }
        if sent {
            self.mark_dirty(token);
        }
    }
}

/// A PUBLISH at protocol level `level`, its packet identifier (QoS > 0) still to be filled
/// in; None when the topic cannot be an MQTT topic (not UTF-8).
pub(super) fn encode_publish(level: u8, o: &Outgoing<'_>) -> Option<Vec<u8>> {
    let topic = std::str::from_utf8(o.topic).ok()?;
    let mut props = Properties::default();
    if level == LEVEL_5 {
        props.user_properties = o.user_properties.clone();
        props.response_topic = o.response_topic.and_then(|t| std::str::from_utf8(t).ok());
        props.correlation_data = o.correlation;
        if let Some(id) = o.sub_id {
            props.subscription_identifiers = vec![id];
        }
    }
    let p = Packet::Publish(Publish {
        dup: false,
        qos: o.qos,
        retain: o.retain,
        topic,
        packet_id: (o.qos > 0).then_some(0xFFFF),
        props,
        payload: o.payload,
    });
    let mut encoded = Vec::new();
    packet::encode(&p, level, &mut encoded);
    Some(encoded)
}

pub(super) fn split_headers<'m>(msg: &Message<'m>) -> (&'m [u8], &'m [u8]) {
    if msg.header_len > 0 && msg.header_len <= msg.data.len() {
        msg.data.split_at(msg.header_len)
    } else {
        (&[], msg.data)
    }
}

/// The QoS and retain flag an MQTT publisher gave (`Nmqtt-Pub`; 0 and false for NATS
/// publishers), and the other headers, which an MQTT 5 subscriber gets as user properties.
pub(super) fn read_headers(headers: &[u8]) -> (u8, bool, Vec<(&str, &str)>) {
    let (mut qos, mut retain) = (0, false);
    let mut user = Vec::new();
    let Ok(text) = std::str::from_utf8(headers) else {
        return (qos, retain, user);
    };
    for line in text.split("\r\n").skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim_start();
        if k == PUB_HEADER {
            let mut b = v.bytes();
            qos = b.next().map_or(0, |b| b.wrapping_sub(b'0')).min(2);
            retain = b
                .next()
                .and_then(|f| char::from(f).to_digit(16))
                .is_some_and(|f| f & 0x01 != 0);
        } else if !k.starts_with("Nmqtt-") {
            user.push((k, v));
        }
    }
    (qos, retain, user)
}

/// Writes the packet identifier of an encoded QoS > 0 PUBLISH (it follows the topic).
pub(super) fn set_packet_id(packet: &mut [u8], pid: u16) {
    let mut at = 1;
    while packet.get(at).is_some_and(|b| b & 0x80 != 0) {
        at += 1;
    }
    at += 1;
    let Some(len) = packet.get(at..at + 2) else {
        return;
    };
    let topic_len = u16::from_be_bytes([len[0], len[1]]) as usize;
    let pos = at + 2 + topic_len;
    if let Some(dst) = packet.get_mut(pos..pos + 2) {
        dst.copy_from_slice(&pid.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_id_is_written_after_the_topic() {
        // PUBLISH qos1, remaining length 7: topic "a/b" (2+3), pid 0xFFFF, payload "x".
        let mut p = vec![0x32, 8, 0, 3, b'a', b'/', b'b', 0xFF, 0xFF, b'x'];
        set_packet_id(&mut p, 0x0102);
        assert_eq!(&p[7..9], &[1, 2]);
    }
}
