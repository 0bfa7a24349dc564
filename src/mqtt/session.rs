//! The protocol state of one MQTT connection, owned by its reactor beside the `Conn`: who
//! the client is (client ID, level, clean flag, will), its subscriptions by NATS sid, the
//! packet identifiers in flight both ways, and the MQTT 5 limits the client announced.
//!
//! Nothing here does I/O; the reactor (`reactor::mqtt`) drives it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::packet::SubOptions;
use super::shared::StoredSession;

/// Topic aliases a client may set (MQTT 5 `Topic Alias Maximum` in our CONNACK): enough
/// for a device's handful of topics, small enough that aliases cannot pin much memory.
pub const TOPIC_ALIAS_MAX: u16 = 64;

/// Reply subjects remembered for MQTT 5 requests whose responses have not arrived (the
/// oldest is forgotten past this).
pub const MAX_OPEN_REQUESTS: usize = 1024;

/// A will message, held from CONNECT until the connection ends.
#[derive(Debug, Clone, Default)]
pub struct Will {
    pub topic: Vec<u8>,
    pub subject: Vec<u8>,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 user properties, carried as NATS headers.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5 will delay (seconds); natrium publishes the will at once (see docs/mqtt.md).
    pub delay: u32,
}

/// One MQTT subscription as one NATS subscription (a `foo/#` filter has two: `foo.>` and
/// `foo`, as nats-server subscribes them).
#[derive(Debug, Clone)]
pub struct SubMeta {
    /// The filter as the client sent it (without a `$share/group/` prefix).
    pub filter: Box<[u8]>,
    /// The shared-subscription group (MQTT 5 `$share/{group}/…`), a NATS queue group.
    pub group: Option<Box<[u8]>>,
    pub opts: SubOptions,
    /// MQTT 5 subscription identifier, echoed on deliveries.
    pub id: Option<u32>,
    /// A filter starting with a wildcard (`#`, `+/…`): it does not get `$` topics
    /// (MQTT-4.7.2-1, as nats-server applies it).
    pub reserved: bool,
}

/// A QoS 1 or 2 delivery the client has not completed.
#[derive(Debug, Clone)]
pub struct Inflight {
    /// The encoded PUBLISH, resent with DUP set on a resumed session.
    pub packet: Vec<u8>,
    pub qos: u8,
    /// QoS 2: PUBREC came and PUBREL went out; waiting for PUBCOMP.
    pub released: bool,
}

/// A QoS 2 message received and acknowledged with PUBREC, delivered on PUBREL (nats-server
/// holds it in `$MQTT_qos2in` until then).
#[derive(Debug, Clone)]
pub struct HeldPublish {
    pub subject: Vec<u8>,
    pub reply: Vec<u8>,
    pub data: Vec<u8>,
    pub header_len: usize,
}

/// An MQTT 5 request waiting for its response.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// The NATS reply subject we made up for it.
    pub reply: Vec<u8>,
    /// Where the response goes, and with what correlation data.
    pub response_topic: Vec<u8>,
    pub correlation: Option<Vec<u8>>,
}

/// The connection that takes a client ID over from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Successor {
    /// On the same reactor: it resumes the session right after the old one closed.
    Here,
    /// On another reactor, which is sent the session.
    There {
        reactor: usize,
        token: usize,
        cid: u64,
    },
}

/// The state of one MQTT connection.
#[derive(Debug, Default)]
pub struct MqttConn {
    /// Protocol level: 0 until CONNECT, then 4 (3.1.1) or 5.
    pub level: u8,
    pub client_id: String,
    /// The client ID we made up for a client that sent none (MQTT 5 tells it).
    pub assigned_id: Option<String>,
    /// MQTT 5 session expiry interval (seconds; `u32::MAX`: never).
    pub session_expiry: u32,
    /// The client asked for a clean session (3.1.1 clean session, 5 clean start with a zero
    /// session expiry).
    pub clean: bool,
    /// No packet for this long closes the connection (1.5 × the keep-alive); None: never.
    pub read_deadline: Option<Duration>,
    pub will: Option<Will>,
    /// Subscriptions by NATS sid.
    pub subs: FxHashMap<Box<[u8]>, SubMeta>,
    last_pid: u16,
    /// Server → client QoS > 0 deliveries by packet identifier.
    pub inflight: BTreeMap<u16, Inflight>,
    /// Deliveries held back while `inflight` is at the client's receive maximum (MQTT 5):
    /// encoded PUBLISH packets whose packet identifier is filled in when sent.
    pub waiting: VecDeque<(Vec<u8>, u8)>,
    /// Client → server QoS 2 messages waiting for PUBREL.
    pub held: FxHashMap<u16, HeldPublish>,
    /// MQTT 5 topic aliases the client set.
    pub aliases: FxHashMap<u16, Vec<u8>>,
    /// MQTT 5: QoS > 0 deliveries the client takes at once (receive maximum; 65,535 if
    /// not given).
    pub receive_max: u16,
    /// MQTT 5: the largest packet the client accepts (0: no limit).
    pub max_packet: u32,
    /// MQTT 5: the client wants reason strings and user properties on errors.
    pub problem_info: bool,
    /// MQTT 5 requests waiting for their response: the NATS reply subject we made up, and
    /// the response topic and correlation data to show the response with.
    pub requests: VecDeque<OpenRequest>,
    /// The reply-subject prefix of this connection's requests (`_MQTT_RR.<id>.`), once one
    /// was made.
    pub reply_prefix: Option<Vec<u8>>,
    pub next_request: u64,
    /// Output held back until JetStream has stored what it acknowledges: a marker with the
    /// reply subject of the store's answer (`Some`), and packets queued behind it in order
    /// (nothing acknowledged before it is kept; later packets do not overtake it).
    pub behind_store: VecDeque<(Option<Vec<u8>>, Vec<u8>)>,
    pub next_store: u64,
    /// Another connection took the client ID over, and where it is.
    pub taken_over: Option<Successor>,
    /// This connection took the client ID over from a connection on another reactor and
    /// waits for that one's session before its CONNACK (reading is paused meanwhile).
    pub awaiting_session: bool,
    /// DISCONNECT was received (the will is dropped unless MQTT 5 asked to keep it).
    pub disconnected: bool,
}

impl MqttConn {
    pub fn new() -> MqttConn {
        MqttConn {
            receive_max: u16::MAX,
            problem_info: true,
            ..MqttConn::default()
        }
    }

    pub fn is_v5(&self) -> bool {
        self.level == super::packet::LEVEL_5
    }

    /// The next free packet identifier for a delivery (1..=65535, skipping those in flight);
    /// None when all are in flight.
    pub fn next_packet_id(&mut self) -> Option<u16> {
        if self.inflight.len() >= u16::MAX as usize {
            return None;
        }
        loop {
            self.last_pid = self.last_pid.wrapping_add(1);
            if self.last_pid == 0 {
                continue;
            }
            if !self.inflight.contains_key(&self.last_pid) {
                return Some(self.last_pid);
            }
        }
    }

    /// What a persistent session keeps of this connection: its filters (as sent) and
    /// unacknowledged deliveries, and when an MQTT 5 session expires.
    pub fn to_stored(&self) -> StoredSession {
        StoredSession {
            filters: self
                .subs
                .iter()
                .filter(|(sid, _)| !sid.ends_with(EXTRA_SID_SUFFIX) && sid.as_ref() != REQUESTS_SID)
                .map(|(sid, meta)| (sid.to_vec(), meta.opts, meta.id))
                .collect(),
            inflight: self
                .inflight
                .iter()
                .map(|(pid, f)| (*pid, (f.packet.clone(), f.qos, f.released)))
                .collect(),
            expires: self.session_expires(),
            parked_on: None,
        }
    }

    /// When this session ends once its client is gone (MQTT 5 session expiry; None: kept
    /// while the server runs).
    pub fn session_expires(&self) -> Option<Instant> {
        (self.is_v5() && self.session_expiry != u32::MAX)
            .then(|| Instant::now() + Duration::from_secs(u64::from(self.session_expiry)))
    }

    /// Writes `bytes` to the connection's output, or behind a store still waited for.
    pub fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.behind_store.is_empty() {
            out.extend_from_slice(bytes);
        } else {
            self.behind_store.push_back((None, bytes.to_vec()));
        }
    }

    /// What is written from now on waits for the store answering on `reply`.
    pub fn wait_for_store(&mut self, reply: Vec<u8>) {
        self.behind_store.push_back((Some(reply), Vec::new()));
    }

    /// The store answered on `reply`: releases what waited for it (and for nothing
    /// earlier) into `out`. Returns whether `reply` was one of ours.
    pub fn store_answered(&mut self, reply: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(marker) = self
            .behind_store
            .iter_mut()
            .find(|(r, _)| r.as_deref() == Some(reply))
        else {
            return false;
        };
        marker.0 = None;
        while self.behind_store.front().is_some_and(|(r, _)| r.is_none()) {
            if let Some((_, bytes)) = self.behind_store.pop_front() {
                out.extend_from_slice(&bytes);
            }
        }
        true
    }

    /// Whether another QoS > 0 delivery may go out now (the client's receive maximum).
    pub fn may_send_qos(&self) -> bool {
        self.inflight.len() < self.receive_max.max(1) as usize
    }

    /// The sids of the NATS subscriptions a filter (as sent, `$share/…` included) made.
    pub fn sids_of(&self, full_filter: &[u8]) -> Vec<Box<[u8]>> {
        [sid_for(full_filter, false), sid_for(full_filter, true)]
            .into_iter()
            .filter(|s| self.subs.contains_key(s))
            .collect()
    }

    /// Remembers a request's response topic and correlation data under a fresh reply
    /// subject, which it returns.
    pub fn open_request(
        &mut self,
        response_topic: &[u8],
        correlation: Option<&[u8]>,
    ) -> Option<Vec<u8>> {
        let prefix = self.reply_prefix.clone()?;
        self.next_request += 1;
        let mut reply = prefix;
        reply.extend_from_slice(self.next_request.to_string().as_bytes());
        if self.requests.len() >= MAX_OPEN_REQUESTS {
            self.requests.pop_front();
        }
        self.requests.push_back(OpenRequest {
            reply: reply.clone(),
            response_topic: response_topic.to_vec(),
            correlation: correlation.map(<[u8]>::to_vec),
        });
        Some(reply)
    }

    /// The response topic and correlation data for a response arriving on `subject`.
    pub fn take_request(&mut self, subject: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        let at = self.requests.iter().position(|r| r.reply == subject)?;
        self.requests
            .remove(at)
            .map(|r| (r.response_topic, r.correlation))
    }
}

/// What the sid of a `…/#` filter's second subscription ends with (nats-server's).
const EXTRA_SID_SUFFIX: &[u8] = b" fwc";

/// The sid of a filter's NATS subscription; `extra` is the second one of a `…/#` filter.
pub fn sid_for(full_filter: &[u8], extra: bool) -> Box<[u8]> {
    let mut sid = full_filter.to_vec();
    if extra {
        sid.extend_from_slice(EXTRA_SID_SUFFIX);
    }
    sid.into()
}

/// The sid of the subscription that takes responses to this connection's MQTT 5 requests.
pub const REQUESTS_SID: &[u8] = b"$MQTT_RR";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_zero_and_those_in_flight() {
        let mut s = MqttConn::new();
        s.last_pid = u16::MAX - 1;
        assert_eq!(s.next_packet_id(), Some(u16::MAX));
        s.inflight.insert(
            1,
            Inflight {
                packet: Vec::new(),
                qos: 1,
                released: false,
            },
        );
        assert_eq!(s.next_packet_id(), Some(2));
    }

    #[test]
    fn requests_are_bounded_and_taken_once() {
        let mut s = MqttConn::new();
        assert_eq!(s.open_request(b"r", None), None, "no prefix yet");
        s.reply_prefix = Some(b"_MQTT_RR.x.".to_vec());
        let first = s.open_request(b"resp/a", Some(b"c1")).unwrap();
        assert_eq!(first, b"_MQTT_RR.x.1");
        for _ in 0..MAX_OPEN_REQUESTS {
            s.open_request(b"resp/b", None);
        }
        assert_eq!(s.requests.len(), MAX_OPEN_REQUESTS);
        assert_eq!(s.take_request(&first), None, "the oldest was forgotten");
        let last = s.requests.back().unwrap().reply.clone();
        assert_eq!(s.take_request(&last), Some((b"resp/b".to_vec(), None)));
        assert_eq!(s.take_request(&last), None);
    }
}
