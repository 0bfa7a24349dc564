//! The MQTT state kept in JetStream, laid out as nats-server lays it out, so that it
//! survives a restart: retained messages in `$MQTT_rmsgs` (the last one of each NATS subject
//! as `$MQTT.rmsgs.<subject>`, the topic and PUBLISH flags in headers) and persistent sessions
//! in `$MQTT_sess` (`$MQTT.sess.<hash of the client ID>`, nats-server's JSON).
//!
//! Both streams keep one message per subject, so each write replaces what was there. They
//! are written through the ordinary publish path (JetStream stores what reaches their
//! subjects) and read back once, at start-up. Pure functions only: the records and their
//! decoding.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::packet::SubOptions;
use super::shared::{Retained, StoredSession};

pub const RETAINED_STREAM: &str = "$MQTT_rmsgs";
pub const SESSIONS_STREAM: &str = "$MQTT_sess";
pub const RETAINED_PREFIX: &str = "$MQTT.rmsgs.";
pub const SESSIONS_PREFIX: &str = "$MQTT.sess.";

const TOPIC: &str = "Nmqtt-RTopic";
const FLAGS: &str = "Nmqtt-RFlags";
const ORIGIN: &str = "Nmqtt-ROrigin";
/// natrium's addition: when an MQTT 5 message expiry ends the retained message (Unix
/// seconds). nats-server ignores headers it does not know.
const EXPIRES: &str = "Nmqtt-RExpires";
/// nats-server's delete marker before the flags of a retained-message removal.
const DELETED: char = '-';

/// `$JS.API.STREAM.CREATE` bodies of the two streams, as nats-server configures them.
pub fn stream_configs() -> [(&'static str, String); 2] {
    let cfg = |name: &str, prefix: &str| {
        serde_json::json!({
            "name": name,
            "subjects": [format!("{prefix}>")],
            "storage": "file",
            "retention": "limits",
            "max_msgs_per_subject": 1,
            "num_replicas": 1,
        })
        .to_string()
    };
    [
        (RETAINED_STREAM, cfg(RETAINED_STREAM, RETAINED_PREFIX)),
        (SESSIONS_STREAM, cfg(SESSIONS_STREAM, SESSIONS_PREFIX)),
    ]
}

/// The record of a retained message (`None`: its removal) on NATS subject `subject`:
/// (stream subject, headers and payload, header length).
pub fn retained_record(
    subject: &[u8],
    topic: &[u8],
    msg: Option<&Retained>,
    origin: &str,
) -> (Vec<u8>, Vec<u8>, usize) {
    let mut stream_subject = RETAINED_PREFIX.as_bytes().to_vec();
    stream_subject.extend_from_slice(subject);
    let mut data = b"NATS/1.0\r\n".to_vec();
    let line = |data: &mut Vec<u8>, k: &str, v: &[u8]| {
        data.extend_from_slice(k.as_bytes());
        data.push(b':');
        data.extend_from_slice(v);
        data.extend_from_slice(b"\r\n");
    };
    line(&mut data, TOPIC, topic);
    // The PUBLISH flags nibble: retain, and the QoS in bits 1-2.
    let flags = 0x01 | (msg.map_or(0, |m| m.qos.min(2)) << 1);
    let flags = match msg {
        Some(_) => format!("{flags:x}"),
        None => format!("{DELETED}{flags:x}"),
    };
    line(&mut data, FLAGS, flags.as_bytes());
    if !origin.is_empty() {
        line(&mut data, ORIGIN, origin.as_bytes());
    }
    if let Some(at) = msg.and_then(|m| m.expires) {
        let left = at.saturating_duration_since(Instant::now());
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(left)
            .as_secs();
        line(&mut data, EXPIRES, unix.to_string().as_bytes());
    }
    data.extend_from_slice(b"\r\n");
    let header_len = data.len();
    if let Some(m) = msg {
        data.extend_from_slice(&m.payload);
    }
    (stream_subject, data, header_len)
}

/// A stored retained-message record read back: its NATS subject, and the message (`None`
/// for a removal, or an expired message).
pub fn read_retained(
    stream_subject: &[u8],
    headers: &[u8],
    payload: &[u8],
) -> Option<(Vec<u8>, Option<Retained>)> {
    let subject = stream_subject
        .strip_prefix(RETAINED_PREFIX.as_bytes())?
        .to_vec();
    let text = std::str::from_utf8(headers).ok()?;
    let (mut topic, mut flags, mut expires) = (None, None, None);
    for l in text.split("\r\n").skip(1) {
        match l.split_once(':') {
            Some((TOPIC, v)) => topic = Some(v.to_string()),
            Some((FLAGS, v)) => flags = Some(v.trim().to_string()),
            Some((EXPIRES, v)) => expires = v.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    let (topic, flags) = (topic?, flags?);
    if flags.starts_with(DELETED) || payload.is_empty() {
        return Some((subject, None));
    }
    let qos = (u8::from_str_radix(&flags, 16).ok()? >> 1) & 0x03;
    let expires = match expires {
        None => None,
        Some(unix) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            if unix <= now {
                return Some((subject, None));
            }
            Some(Instant::now() + Duration::from_secs(unix - now))
        }
    };
    Some((
        subject,
        Some(Retained {
            topic: topic.into_bytes(),
            payload: payload.to_vec(),
            qos: qos.min(2),
            user_properties: Vec::new(),
            expires,
        }),
    ))
}

/// nats-server's `mqttPersistedSession`, as far as natrium keeps it (the subscriptions;
/// nats-server adds the JetStream consumers it made for them).
#[derive(Debug, Serialize, Deserialize, Default)]
struct PersistedSession {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    origin: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    clean: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    subs: BTreeMap<String, u8>,
}

/// The stream subject of a client ID's session.
pub fn session_subject(client_id: &str) -> Vec<u8> {
    format!("{SESSIONS_PREFIX}{}", crate::nkey::short_hash(client_id)).into_bytes()
}

/// The record of a persistent session (`None`: the session is gone; an empty payload).
pub fn session_record(client_id: &str, origin: &str, session: Option<&StoredSession>) -> Vec<u8> {
    let Some(s) = session else {
        return Vec::new();
    };
    let ps = PersistedSession {
        origin: origin.to_string(),
        id: client_id.to_string(),
        clean: false,
        subs: s
            .filters
            .iter()
            .map(|(f, o, _)| (String::from_utf8_lossy(f).into_owned(), o.qos))
            .collect(),
    };
    serde_json::to_vec(&ps).unwrap_or_default()
}

/// A stored session record read back: the client ID and its session (None when it was
/// removed, or was a clean one).
pub fn read_session(payload: &[u8]) -> Option<(String, StoredSession)> {
    let ps: PersistedSession = serde_json::from_slice(payload).ok()?;
    if ps.id.is_empty() || ps.clean {
        return None;
    }
    let filters = ps
        .subs
        .into_iter()
        .map(|(f, qos)| {
            let opts = SubOptions {
                qos: qos.min(2),
                no_local: false,
                retain_as_published: false,
                retain_handling: 0,
            };
            (f.into_bytes(), opts, None)
        })
        .collect();
    Some((
        ps.id,
        StoredSession {
            filters,
            ..StoredSession::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_records_are_nats_servers_and_read_back() {
        let m = Retained {
            topic: b"a/b".to_vec(),
            payload: b"21".to_vec(),
            qos: 1,
            user_properties: Vec::new(),
            expires: None,
        };
        let (subj, data, hl) = retained_record(b"a.b", b"a/b", Some(&m), "S1");
        assert_eq!(subj, b"$MQTT.rmsgs.a.b");
        assert_eq!(
            &data[..hl],
            b"NATS/1.0\r\nNmqtt-RTopic:a/b\r\nNmqtt-RFlags:3\r\nNmqtt-ROrigin:S1\r\n\r\n"
        );
        let (s, back) = read_retained(&subj, &data[..hl], &data[hl..]).unwrap();
        assert_eq!(s, b"a.b");
        let back = back.unwrap();
        assert_eq!(
            (back.topic, back.payload, back.qos),
            (m.topic, m.payload, 1)
        );
        let (subj, data, hl) = retained_record(b"a.b", b"a/b", None, "S1");
        assert_eq!(
            read_retained(&subj, &data[..hl], &data[hl..])
                .unwrap()
                .1
                .map(|r| r.qos),
            None
        );
        // Garbage is skipped, never a panic.
        assert!(read_retained(b"other", b"", b"").is_none());
        assert!(read_retained(b"$MQTT.rmsgs.x", b"\xff", b"p").is_none());
    }

    #[test]
    fn an_expired_retained_message_is_not_restored() {
        let m = Retained {
            topic: b"t".to_vec(),
            payload: b"x".to_vec(),
            qos: 0,
            user_properties: Vec::new(),
            expires: Some(Instant::now() + Duration::from_secs(3600)),
        };
        let (subj, data, hl) = retained_record(b"t", b"t", Some(&m), "");
        assert!(read_retained(&subj, &data[..hl], &data[hl..])
            .unwrap()
            .1
            .is_some());
        let stale = b"NATS/1.0\r\nNmqtt-RTopic:t\r\nNmqtt-RFlags:1\r\nNmqtt-RExpires:1\r\n\r\n";
        assert!(read_retained(&subj, stale, b"x").unwrap().1.is_none());
    }

    #[test]
    fn sessions_round_trip_as_nats_server_json() {
        let s = StoredSession {
            filters: vec![(
                b"a/#".to_vec(),
                SubOptions {
                    qos: 1,
                    ..SubOptions::default()
                },
                None,
            )],
            ..StoredSession::default()
        };
        let rec = session_record("dev", "S1", Some(&s));
        assert_eq!(rec, br#"{"origin":"S1","id":"dev","subs":{"a/#":1}}"#);
        let (id, back) = read_session(&rec).unwrap();
        assert_eq!(
            (
                id.as_str(),
                back.filters[0].0.as_slice(),
                back.filters[0].1.qos
            ),
            ("dev", &b"a/#"[..], 1)
        );
        assert!(read_session(&session_record("dev", "S1", None)).is_none());
        assert!(read_session(b"{\"id\":\"x\",\"clean\":true}").is_none());
        assert!(read_session(b"not json").is_none());
        assert_eq!(session_subject("dev").len(), SESSIONS_PREFIX.len() + 8);
    }
}
