//! Per-message TTLs (`allow_msg_ttl` and the `Nats-TTL` header, ADR-43): parsing the header
//! as nats-server does, and the expiry times of a stream's messages. Subject delete markers
//! (`subject_delete_marker_ttl`) are written by the stream when an expiry takes a subject's
//! last message.

use std::collections::{BTreeSet, HashSet};

/// Seconds a `Nats-TTL` value asks for, -1 for `never`, `None` for an invalid value.
/// nats-server's `parseMessageTTL`: a Go duration of at least a second, `never`, or a whole
/// number of seconds.
pub fn parse(value: &str) -> Option<i64> {
    if value.eq_ignore_ascii_case("never") {
        return Some(-1);
    }
    if let Ok(ns) = crate::config::conf::parse_duration_nanos(value) {
        return (ns >= 1_000_000_000).then_some(ns / 1_000_000_000);
    }
    value.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// A TTL of `secs` seconds as nats-server writes it in a marker's `Nats-TTL`
/// (`time.Duration.String()`: `1s`, `1m0s`).
pub fn header_value(secs: i64) -> String {
    crate::config::file::go_duration(std::time::Duration::from_secs(secs.max(0) as u64))
}

/// When each message with a TTL expires, and which never do (exempt from `max_age`).
#[derive(Debug, Default)]
pub struct Expiries {
    by_time: BTreeSet<(i64, u64)>,
    never: HashSet<u64>,
}

impl Expiries {
    /// Notes message `seq`, stored at `ts`, with a TTL of `secs` (-1: never; 0: none).
    pub fn track(&mut self, seq: u64, ts: i64, secs: i64) {
        match secs {
            s if s < 0 => {
                self.never.insert(seq);
            }
            0 => {}
            s => {
                self.by_time
                    .insert((ts.saturating_add(s.saturating_mul(1_000_000_000)), seq));
            }
        }
    }

    /// The messages whose TTL has passed at `now`, forgotten here.
    pub fn due(&mut self, now: i64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(&(at, seq)) = self.by_time.first() {
            if at > now {
                break;
            }
            self.by_time.pop_first();
            out.push(seq);
        }
        out
    }

    pub fn never_expires(&self, seq: u64) -> bool {
        self.never.contains(&seq)
    }

    pub fn forget(&mut self, seq: u64) {
        self.never.remove(&seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_nats_server_reads_them() {
        assert_eq!(parse("never"), Some(-1));
        assert_eq!(parse("1s"), Some(1));
        assert_eq!(parse("1h"), Some(3600));
        assert_eq!(parse("60"), Some(60));
        assert_eq!(parse("500ms"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("-5"), None);
        assert_eq!(header_value(1), "1s");
        assert_eq!(header_value(60), "1m0s");
    }

    #[test]
    fn due_in_time_order() {
        let mut e = Expiries::default();
        e.track(1, 0, 5);
        e.track(2, 0, 1);
        e.track(3, 0, -1);
        assert_eq!(e.due(1_000_000_000), vec![2]);
        assert_eq!(e.due(10_000_000_000), vec![1]);
        assert!(e.never_expires(3));
    }
}
