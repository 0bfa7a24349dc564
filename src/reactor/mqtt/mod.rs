//! MQTT connections in the reactor: adopting a socket from the MQTT listener, running the
//! packets the decoder yields (CONNECT through the server's authentication, PUBLISH into the
//! subject index, SUBSCRIBE as NATS subscriptions), writing deliveries as PUBLISH packets,
//! and the will and session when the connection ends.
//!
//! An MQTT connection is a `Conn` with `mqtt` set: buffers, flushing, slow consumers, TLS
//! and closing are the client machinery. It never gets NATS protocol text: `-ERR`, `+OK`
//! and `PONG` are not queued for it (see `Conn::queue_err`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, error, trace, warn};
use mio::net::TcpStream;

use super::Reactor;
use crate::mqtt::packet::{
    self, Ack, ConnAck, Connect, DecodeError, Packet, Properties, Publish, SubAck, Subscribe,
    Unsubscribe, LEVEL_311, LEVEL_5,
};
use crate::mqtt::persist;
use crate::mqtt::session::{self, HeldPublish, Inflight, MqttConn, SubMeta, Will};
use crate::mqtt::shared::{Holder, Retained, StoredSession};
use crate::mqtt::topic;
use crate::proto::errors::CloseReason;
use crate::proto::Message;
use deliver::{encode_publish, read_headers, split_headers};

/// MQTT 5 reason codes natrium sends.
mod reason {
    pub const SUCCESS: u8 = 0x00;
    pub const NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
    pub const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
    pub const UNSPECIFIED: u8 = 0x80;
    pub const PROTOCOL_ERROR: u8 = 0x82;
    pub const CLIENT_ID_NOT_VALID: u8 = 0x85;
    pub const BAD_USER_OR_PASSWORD: u8 = 0x86;
    pub const NOT_AUTHORIZED: u8 = 0x87;
    pub const SESSION_TAKEN_OVER: u8 = 0x8E;
    pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    pub const PACKET_ID_NOT_FOUND: u8 = 0x92;
    pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
    pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
    pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    pub const DISCONNECT_WITH_WILL: u8 = 0x04;

    /// The Reason String natrium sends with a server DISCONNECT.
    pub fn text(code: u8) -> &'static str {
        match code {
            PROTOCOL_ERROR => "protocol error",
            SESSION_TAKEN_OVER => "session taken over",
            TOPIC_NAME_INVALID => "topic name invalid",
            KEEP_ALIVE_TIMEOUT => "keep alive timeout",
            TOPIC_ALIAS_INVALID => "topic alias invalid",
            QOS_NOT_SUPPORTED => "QoS not supported",
            PAYLOAD_FORMAT_INVALID => "payload format invalid",
            0x81 => "malformed packet",
            0x95 => "packet too large",
            _ => "unspecified error",
        }
    }
}

/// 3.1.1 CONNACK return codes.
mod connack {
    pub const UNACCEPTABLE_PROTOCOL: u8 = 0x01;
    pub const IDENTIFIER_REJECTED: u8 = 0x02;
    pub const NOT_AUTHORIZED: u8 = 0x05;
}

/// The header nats-server puts on every message an MQTT client publishes, with its QoS.
const PUB_HEADER: &str = "Nmqtt-Pub";

/// A keep-alive of 0 means none: such a connection is never timed out.
const NO_DEADLINE: Duration = Duration::from_secs(100 * 365 * 86_400);

/// One PUBLISH to send, before it has a packet identifier.
struct Outgoing<'a> {
    topic: &'a [u8],
    payload: &'a [u8],
    qos: u8,
    retain: bool,
    user_properties: Vec<(&'a str, &'a str)>,
    response_topic: Option<&'a [u8]>,
    correlation: Option<&'a [u8]>,
    sub_id: Option<u32>,
}

mod connect;
mod deliver;
pub(super) mod park;
mod publish;
mod subscribe;

impl Reactor {
    /// The origin to write into MQTT state records when this connection's state is kept in
    /// JetStream (JetStream on, the global account); None otherwise.
    pub(super) fn mqtt_persists(&self, token: usize) -> Option<String> {
        let rt = self.shared.mqtt.as_ref()?;
        let conn = self.conns.get(token)?;
        (conn.account == 0).then(|| rt.persist.clone()).flatten()
    }

    /// Writes a record of the MQTT state: a publish on its stream's subject, which reaches
    /// JetStream as any publish does, whatever the connection's own permissions. What the
    /// connection writes next waits for JetStream's answer (nothing is acknowledged before
    /// it is stored), unless no stream took the record.
    pub(super) fn mqtt_store(
        &mut self,
        token: usize,
        subject: &[u8],
        data: &[u8],
        header_len: usize,
    ) {
        self.mqtt_ensure_request_sub(token);
        let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) else {
            return;
        };
        let Some(mut reply) = m.reply_prefix.clone() else {
            return;
        };
        m.next_store += 1;
        reply.push(b's');
        reply.extend_from_slice(m.next_store.to_string().as_bytes());
        let mut texts = SizeTexts::default();
        let msg = texts.message(subject, &reply, data, header_len);
        if self.deliver(token, 0, &msg) {
            if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
                m.wait_for_store(reply);
            }
        } else {
            self.mqtt_log(
                token,
                "MQTT state not kept: no JetStream stream took the record",
            );
        }
    }

    /// Keeps a persistent session's subscriptions in `$MQTT_sess` (or, `gone`, removes the
    /// record of the session the client ID had).
    pub(super) fn mqtt_save_session(&mut self, token: usize, gone: bool) {
        let Some(origin) = self.mqtt_persists(token) else {
            return;
        };
        let Some(m) = self.conns.get(token).and_then(|c| c.mqtt.as_ref()) else {
            return;
        };
        if m.clean && !gone {
            return;
        }
        let stored = (!gone).then(|| m.to_stored());
        let record = persist::session_record(&m.client_id, &origin, stored.as_ref());
        let subject = persist::session_subject(&m.client_id);
        self.mqtt_store(token, &subject, &record, 0);
    }

    /// Takes a socket accepted on the MQTT listener: TLS when configured, then it waits for
    /// CONNECT (nothing is sent first in MQTT).
    pub(in crate::reactor) fn adopt_mqtt(&mut self, stream: TcpStream, peer: SocketAddr) {
        let Some(rt) = self.shared.mqtt.clone() else {
            return;
        };
        let opts = self.opts.clone();
        let Some(token) = self.register_conn(stream, peer, |_| Ok(()), opts.ping_interval, false)
        else {
            return;
        };
        if let Some(config) = rt.tls.clone() {
            let conn = &mut self.conns[token];
            conn.tls_phase = super::TlsPhase::Immediate;
            conn.tls_deadline = Some(Instant::now() + rt.tls_timeout);
            if conn.transport.start_tls(config).is_err() {
                self.close(token, CloseReason::TlsHandshakeError);
                return;
            }
        }
        self.start_mqtt(token);
    }

    /// Makes connection `token` an MQTT client (from the MQTT listener, or a WebSocket
    /// upgraded on `/mqtt`): a cid, the count, and the wait for CONNECT.
    pub(in crate::reactor) fn start_mqtt(&mut self, token: usize) {
        let Some(rt) = self.shared.mqtt.clone() else {
            self.close(token, CloseReason::ProtocolViolation);
            return;
        };
        let opts = self.opts.clone();
        let cid = self.shared.next_cid();
        let count = self.shared.client_opened();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.cid = cid;
        conn.started = std::time::SystemTime::now();
        conn.mqtt = Some(Box::new(MqttConn::new()));
        debug!("{} - Client connection created", conn.label());
        conn.auth_deadline = Some(Instant::now() + rt.auth_timeout(&opts));
        self.arm_timer(token);
        if opts.max_connections < 0 || (opts.max_connections > 0 && count > opts.max_connections) {
            if let Some(c) = self.conns.get(token) {
                error!("{} - {}", c.label(), crate::proto::errors::MAX_CONNECTIONS);
            }
            self.close(token, CloseReason::MaxConnectionsExceeded);
        }
    }

    /// Runs the packets in `data`; returns the bytes consumed.
    pub(in crate::reactor) fn process_mqtt(&mut self, token: usize, data: &[u8]) -> usize {
        let mut pos = 0;
        let max_packet = self.mqtt_max_packet();
        let mut any = false;
        while pos < data.len() {
            let Some(conn) = self.conns.get_mut(token) else {
                return pos;
            };
            if !conn.can_process() {
                break;
            }
            let level = conn.mqtt.as_ref().map_or(0, |m| m.level);
            match packet::decode(&data[pos..], level, max_packet) {
                Ok(Some((p, used))) => {
                    pos += used;
                    any = true;
                    self.mqtt_packet(token, p);
                    if self.congested {
                        self.stall(token);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.mqtt_decode_error(token, e, &data[pos..]);
                    return data.len();
                }
            }
        }
        if any {
            if let Some(conn) = self.conns.get_mut(token) {
                let now = Instant::now();
                conn.last_in = now;
                conn.last_activity = std::time::SystemTime::now();
                if let Some(d) = conn.mqtt.as_ref().and_then(|m| m.read_deadline) {
                    conn.ping_at = now + d;
                }
            }
        }
        pos
    }

    /// The largest packet taken: the payload limit plus room for a topic and properties.
    pub(super) fn mqtt_max_packet(&self) -> usize {
        let payload = if self.opts.max_payload > 0 {
            self.opts.max_payload as usize
        } else {
            crate::config::MAX_PAYLOAD as usize
        };
        payload + 64 * 1024
    }

    pub(super) fn mqtt_decode_error(&mut self, token: usize, e: DecodeError, rest: &[u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let level = conn.mqtt.as_ref().map_or(0, |m| m.level);
        match e {
            DecodeError::UnsupportedProtocol(l) => {
                error!(
                    "{} - unable to connect: unacceptable protocol version of {l}",
                    conn.label()
                );
                // Answered in the client's own dialect where it has one.
                let (code, at) = if l == LEVEL_5 {
                    (0x84, LEVEL_5)
                } else {
                    (connack::UNACCEPTABLE_PROTOCOL, LEVEL_311)
                };
                self.mqtt_send_at(token, &connack_packet(false, code), at);
                self.close(token, CloseReason::BadClientProtocolVersion);
            }
            e => {
                let why = match &e {
                    DecodeError::TooLarge(n) => format!("packet of {n} bytes is too large"),
                    DecodeError::Malformed(w) | DecodeError::ProtocolError(w) => w.clone(),
                    DecodeError::UnsupportedProtocol(_) => String::new(),
                };
                let why =
                    if level == 0 && rest.starts_with(b"GET ") && !conn.transport.is_websocket() {
                        "websocket handshake on the MQTT port".to_string()
                    } else {
                        why
                    };
                error!("{} - {why}", conn.label());
                if level == LEVEL_5 {
                    self.mqtt_disconnect(token, e.reason_code());
                }
                self.close(token, CloseReason::ProtocolViolation);
            }
        }
    }

    pub(super) fn mqtt_packet(&mut self, token: usize, p: Packet<'_>) {
        if log::log_enabled!(log::Level::Trace) {
            if let Some(c) = self.conns.get(token) {
                trace!("{} - <<- [MQTT {}]", c.label(), packet_name(&p));
            }
        }
        match p {
            Packet::Connect(c) => self.mqtt_connect(token, c),
            Packet::Publish(p) => self.mqtt_publish(token, p),
            Packet::PubAck(a) => self.mqtt_acked(token, a.packet_id, true),
            Packet::PubRec(a) => self.mqtt_pubrec(token, a),
            Packet::PubRel(a) => self.mqtt_pubrel(token, a),
            Packet::PubComp(a) => self.mqtt_acked(token, a.packet_id, false),
            Packet::Subscribe(s) => self.mqtt_subscribe(token, s),
            Packet::Unsubscribe(u) => self.mqtt_unsubscribe(token, u),
            Packet::PingReq => self.mqtt_send(token, &Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(m) = self.conns.get_mut(token).and_then(|c| c.mqtt.as_mut()) {
                    m.disconnected = true;
                    if d.code != reason::DISCONNECT_WITH_WILL {
                        m.will = None;
                    }
                }
                self.close(token, CloseReason::ClientClosed);
            }
            other => {
                // Server-to-client packets (CONNACK, SUBACK, …) and AUTH.
                let name = packet_name(&other);
                self.mqtt_violation(token, &format!("unexpected {name} packet"));
            }
        }
    }

    /// Logs, tells an MQTT 5 client why, and closes.
    pub(super) fn mqtt_violation(&mut self, token: usize, why: &str) {
        if let Some(conn) = self.conns.get(token) {
            error!("{} - {why}", conn.label());
        }
        self.mqtt_disconnect(token, reason::PROTOCOL_ERROR);
        self.close(token, CloseReason::ProtocolViolation);
    }

    /// A server DISCONNECT (MQTT 5 only; a 3.1.1 connection is just closed).
    /// With a Reason String unless the client asked for no problem information.
    pub(super) fn mqtt_disconnect(&mut self, token: usize, code: u8) {
        let Some(m) = self.conns.get(token).and_then(|c| c.mqtt.as_ref()) else {
            return;
        };
        if m.level != LEVEL_5 {
            return;
        }
        let mut props = Properties::default();
        if m.problem_info {
            props.reason_string = Some(reason::text(code));
        }
        self.mqtt_send(
            token,
            &Packet::Disconnect(packet::Disconnect { code, props }),
        );
    }

    pub(super) fn mqtt_level(&self, token: usize) -> u8 {
        self.conns
            .get(token)
            .and_then(|c| c.mqtt.as_ref())
            .map_or(0, |m| m.level)
    }

    /// Encodes `p` into the connection's output at its protocol level.
    pub(super) fn mqtt_send(&mut self, token: usize, p: &Packet<'_>) {
        let level = self.mqtt_level(token);
        self.mqtt_send_at(token, p, level.max(LEVEL_311));
    }

    pub(super) fn mqtt_send_at(&mut self, token: usize, p: &Packet<'_>, level: u8) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if log::log_enabled!(log::Level::Trace) {
            trace!("{} - ->> [MQTT {}]", conn.label(), packet_name(p));
        }
        match conn.mqtt.as_mut().filter(|m| !m.behind_store.is_empty()) {
            Some(m) => {
                let mut bytes = Vec::new();
                packet::encode(p, level, &mut bytes);
                m.emit(&mut conn.out, &bytes);
            }
            None => packet::encode(p, level, &mut conn.out),
        }
        self.mark_dirty(token);
    }

    pub(super) fn mqtt_log(&self, token: usize, why: &str) {
        if let Some(c) = self.conns.get(token) {
            error!("{} - {why}", c.label());
        }
    }

    /// No packet within 1.5 times the keep-alive (or no CONNECT within the ping interval).
    pub(in crate::reactor) fn mqtt_keep_alive_expired(&mut self, token: usize) {
        if let Some(conn) = self.conns.get(token) {
            debug!("{} - Stale Client Connection - Closing", conn.label());
        }
        self.mqtt_disconnect(token, reason::KEEP_ALIVE_TIMEOUT);
        self.close(token, CloseReason::StaleConnection);
    }
}

/// The size fields of a NATS message built from MQTT, formatted without allocating.
#[derive(Default)]
pub(super) struct SizeTexts {
    header: [u8; 20],
    size: [u8; 20],
}

impl SizeTexts {
    /// A message of `data` whose first `header_len` bytes are its headers (none: 0).
    pub(super) fn message<'a>(
        &'a mut self,
        subject: &'a [u8],
        reply: &'a [u8],
        data: &'a [u8],
        header_len: usize,
    ) -> Message<'a> {
        let header_text = if header_len > 0 {
            crate::proto::fmt_usize(&mut self.header, header_len)
        } else {
            b""
        };
        Message {
            subject,
            reply,
            header_len,
            header_text,
            size_text: crate::proto::fmt_usize(&mut self.size, data.len()),
            data,
        }
    }
}

fn connack_packet(session_present: bool, code: u8) -> Packet<'static> {
    Packet::ConnAck(ConnAck {
        session_present,
        code,
        props: Properties::default(),
    })
}

pub(super) fn ack<'a>(kind: fn(Ack<'a>) -> Packet<'a>, packet_id: u16, code: u8) -> Packet<'a> {
    kind(Ack {
        packet_id,
        code,
        props: Properties::default(),
    })
}

pub(super) fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn packet_name(p: &Packet<'_>) -> &'static str {
    match p {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect(_) => "DISCONNECT",
        Packet::Auth(_) => "AUTH",
    }
}
