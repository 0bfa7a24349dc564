//! Pull requests (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`) as nats-server's
//! `nextReqFromMsg` reads them: an empty body is one message, a bare integer a batch, a JSON
//! object the full request; and the checks that answer a request with a status at once.

use serde::Deserialize;

use super::config::ConsumerConfig;

/// A waiting pull request.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub reply: Vec<u8>,
    /// Messages still wanted.
    pub batch: u64,
    /// Bytes still allowed (0: no limit).
    pub max_bytes: u64,
    /// The request's `expires` (ns; 0: none) and when that is.
    pub expires: i64,
    pub expires_at: i64,
    pub no_wait: bool,
    pub heartbeat: i64,
    /// When the requester last heard from us (a message or a heartbeat).
    pub last_sent: i64,
    pub delivered: u64,
}

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    batch: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    max_bytes: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    expires: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    no_wait: bool,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    idle_heartbeat: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    group: String,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    min_pending: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    min_ack_pending: i64,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    id: String,
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    priority: i64,
}

/// Reads a request; `Err` is the status header block to answer with instead.
pub fn parse(
    body: &[u8],
    reply: &[u8],
    cfg: &ConsumerConfig,
    now: i64,
) -> Result<PullRequest, String> {
    let bad = |why: &str| format!("NATS/1.0 400 Bad Request - {why}\r\n\r\n");
    let text = String::from_utf8_lossy(body);
    let req = text.trim();
    let mut b = Body {
        batch: 1,
        ..Body::default()
    };
    let mut priority = false;
    if req.starts_with('{') {
        b = serde_json::from_str::<Body>(req).map_err(|e| bad(&go_json_error(&e)))?;
        if b.idle_heartbeat > 0 && b.idle_heartbeat.saturating_mul(2) > b.expires {
            return Err(bad("heartbeat value too large"));
        }
        priority = true;
    } else if let Ok(n) = req.parse::<i64>() {
        b.batch = n;
    }
    let status = |code: u16, text: String| format!("NATS/1.0 {code} {text}\r\n\r\n");
    if cfg.max_batch > 0 && b.batch > cfg.max_batch {
        return Err(status(
            409,
            format!("Exceeded MaxRequestBatch of {}", cfg.max_batch),
        ));
    }
    if b.expires > 0 && cfg.max_expires > 0 && b.expires > cfg.max_expires {
        return Err(status(
            409,
            format!(
                "Exceeded MaxRequestExpires of {}",
                crate::monitor::format::go_duration(std::time::Duration::from_nanos(
                    cfg.max_expires as u64
                ))
            ),
        ));
    }
    if b.max_bytes > 0 && cfg.max_bytes > 0 && b.max_bytes > cfg.max_bytes {
        return Err(status(
            409,
            format!("Exceeded MaxRequestMaxBytes of {}", cfg.max_bytes),
        ));
    }
    if priority {
        use super::config::PriorityPolicy;
        let policy = cfg.priority_policy;
        if (b.min_pending != 0 || b.min_ack_pending != 0) && policy != PriorityPolicy::Overflow {
            return Err(bad("Not a Overflow Priority consumer"));
        }
        if !b.id.is_empty() && policy != PriorityPolicy::PinnedClient {
            return Err(bad("Not a Pinned Client Priority consumer"));
        }
        if !(0..=9).contains(&b.priority) {
            return Err(bad("Priority must be between 0 and 9"));
        }
        if policy != PriorityPolicy::None {
            if b.group.is_empty() {
                return Err(bad("Priority Group missing"));
            }
            if !cfg.priority_groups.contains(&b.group) {
                return Err(bad("Invalid Priority Group"));
            }
        }
    }
    Ok(PullRequest {
        reply: reply.to_vec(),
        batch: b.batch.max(1) as u64,
        max_bytes: b.max_bytes.max(0) as u64,
        expires: b.expires.max(0),
        expires_at: if b.expires > 0 { now + b.expires } else { 0 },
        no_wait: b.no_wait,
        heartbeat: b.idle_heartbeat.max(0),
        last_sent: now,
        delivered: 0,
    })
}

/// Go's `json.Unmarshal` error for the usual cases (serde's text otherwise).
fn go_json_error(e: &serde_json::Error) -> String {
    crate::jetstream::json::decode_error(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_as_nats_server_reads_them() {
        let cfg = ConsumerConfig::default();
        let r = parse(b"", b"_R", &cfg, 0).unwrap();
        let n = parse(
            br#"{"batch":2,"expires":null,"max_bytes":null}"#,
            b"_R",
            &cfg,
            0,
        )
        .unwrap();
        assert_eq!(
            (n.batch, n.expires, n.max_bytes),
            (2, 0, 0),
            "null reads as zero"
        );
        assert_eq!((r.batch, r.expires, r.no_wait), (1, 0, false));
        assert_eq!(parse(b" 3 ", b"_R", &cfg, 0).unwrap().batch, 3);
        assert_eq!(parse(b"junk", b"_R", &cfg, 0).unwrap().batch, 1);
        let r = parse(br#"{"batch":0,"no_wait":true}"#, b"_R", &cfg, 0).unwrap();
        assert_eq!((r.batch, r.no_wait), (1, true));
        assert_eq!(
            parse(br#"{"idle_heartbeat":1000}"#, b"_R", &cfg, 0).unwrap_err(),
            "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n"
        );
        let cfg = ConsumerConfig {
            max_batch: 2,
            ..ConsumerConfig::default()
        };
        assert_eq!(
            parse(br#"{"batch":3}"#, b"_R", &cfg, 0).unwrap_err(),
            "NATS/1.0 409 Exceeded MaxRequestBatch of 2\r\n\r\n"
        );
    }
}
