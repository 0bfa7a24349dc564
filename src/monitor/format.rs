//! Values written the way nats-server's Go encoder writes them: times as RFC 3339 with
//! trailing zeros trimmed (`time.Time.MarshalJSON`), `rtt` as `time.Duration.String()`
//! ("382µs", "1.5s", "1m2s"), `uptime`/`idle` as nats-server's `myUptime` ("1d2h3m4s"),
//! durations in config fields as integer nanoseconds, and whole floats without a fraction
//! (Go writes `2`, not `2.0`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// `time.Time` as Go's JSON encoder writes it (UTC): `2026-11-26T15:06:45.26262976Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    let mut s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = dt.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The HTTP `Date` header value: `Thu, 26 Nov 2026 15:06:45 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// nats-server's `myUptime`: whole seconds, with minutes, hours, days and years as needed.
pub fn uptime(d: Duration) -> String {
    let tsecs = d.as_secs();
    let tmins = tsecs / 60;
    let thrs = tmins / 60;
    let tdays = thrs / 24;
    let tyrs = tdays / 365;
    if tyrs > 0 {
        format!(
            "{tyrs}y{}d{}h{}m{}s",
            tdays % 365,
            thrs % 24,
            tmins % 60,
            tsecs % 60
        )
    } else if tdays > 0 {
        format!("{tdays}d{}h{}m{}s", thrs % 24, tmins % 60, tsecs % 60)
    } else if thrs > 0 {
        format!("{thrs}h{}m{}s", tmins % 60, tsecs % 60)
    } else if tmins > 0 {
        format!("{tmins}m{}s", tsecs % 60)
    } else {
        format!("{tsecs}s")
    }
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point) left out.
fn frac(v: u128, prec: u32) -> String {
    let p = 10u128.pow(prec);
    let (int, rest) = (v / p, v % p);
    if rest == 0 {
        return int.to_string();
    }
    let digits = format!("{rest:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: Duration) -> String {
    let u = d.as_nanos();
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000 {
        return format!("{u}ns");
    }
    if u < 1_000_000 {
        return format!("{}µs", frac(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{}ms", frac(u, 6));
    }
    let secs_total = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let secs = frac((secs_total % 60) * 1_000_000_000 + sub, 9);
    let mins = secs_total / 60;
    if mins == 0 {
        return format!("{secs}s");
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{}m{secs}s", mins % 60);
    }
    format!("{hours}h{}m{secs}s", mins % 60)
}

/// The RTT nats-server shows (`client.getRTT`): microsecond precision below a millisecond.
pub fn rtt(rtt: Option<Duration>) -> String {
    match rtt {
        None => "0s".to_string(),
        Some(d) => {
            let d = if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
                Duration::from_micros(d.as_micros() as u64)
            } else {
                d
            };
            go_duration(d)
        }
    }
}

/// Nanoseconds, as Go encodes a `time.Duration`.
pub fn nanos(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// Seconds as a float (nats-server's `auth_timeout`, `tls_timeout`).
pub fn secs_f64(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Milliseconds since the Unix epoch (the dashboard and metrics use plain numbers).
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// For `skip_serializing_if`: Go's `omitempty` on a number.
pub fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Serializes an `f64` the way Go does for whole numbers: `2`, not `2.0`.
pub fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_i64(0)
    }
}

/// `host:port` as Go's `net.JoinHostPort` writes it (brackets around IPv6 hosts).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_micros(382), "382µs"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_millis(1), "1ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(2_000_001), "33m20.001s"),
            (Duration::from_nanos(2_000_000_001), "2.000000001s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_secs(100 * 3600), "100h0m0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn rtt_truncates_to_micros_below_a_millisecond() {
        assert_eq!(rtt(Some(Duration::from_nanos(382_456))), "382µs");
        assert_eq!(rtt(Some(Duration::from_nanos(1_382_456))), "1.382456ms");
        assert_eq!(rtt(None), "0s");
    }

    #[test]
    fn uptime_like_nats() {
        assert_eq!(uptime(Duration::from_millis(1_900)), "1s");
        assert_eq!(uptime(Duration::from_secs(62)), "1m2s");
        assert_eq!(uptime(Duration::from_secs(3 * 3600 + 5)), "3h0m5s");
        assert_eq!(uptime(Duration::from_secs(86_400 + 1)), "1d0h0m1s");
        assert_eq!(uptime(Duration::from_secs(366 * 86_400)), "1y1d0h0m0s");
    }

    #[test]
    fn times_trim_trailing_zeros() {
        let t = UNIX_EPOCH + Duration::new(1_795_705_605, 262_629_760);
        assert_eq!(rfc3339(t), "2026-11-26T15:06:45.26262976Z");
        let t = UNIX_EPOCH + Duration::new(1_795_705_605, 0);
        assert_eq!(rfc3339(t), "2026-11-26T15:06:45Z");
        assert_eq!(http_date(t), "Thu, 26 Nov 2026 15:06:45 GMT");
    }

    #[test]
    fn floats_like_go() {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        go_float(&2.0, &mut ser).unwrap();
        assert_eq!(out, b"2");
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        go_float(&0.625, &mut ser).unwrap();
        assert_eq!(out, b"0.625");
    }
}
