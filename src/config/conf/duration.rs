//! Go's `time.ParseDuration`, for the option keys that take durations.

use std::time::Duration;

/// Parses a duration with Go's `time.ParseDuration` syntax: a sign, then one or more
/// decimal numbers with a unit each (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), e.g.
/// "300ms", "1.5h", "2h45m"; "0" needs no unit. Negative durations are refused here
/// (use [`parse_duration_nanos`] to get them).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let ns = parse_duration_nanos(s)?;
    u64::try_from(ns)
        .map(Duration::from_nanos)
        .map_err(|_| format!("time: negative duration \"{s}\" is not allowed here"))
}

/// Go's `time.ParseDuration` exactly: signed nanoseconds, the same range (±292 years) and
/// the same error texts.
pub fn parse_duration_nanos(orig: &str) -> Result<i64, String> {
    const MAX: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while let Some(&first) = s.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part.
        let mut v: u64 = 0;
        let int_len = s.iter().take_while(|b| b.is_ascii_digit()).count();
        for &b in &s[..int_len] {
            if v > MAX / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(b - b'0');
            if v > MAX {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        // The fraction: digits past what fits are ignored, as in Go's leadingFraction.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut frac_len = 0;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            frac_len = s.iter().take_while(|b| b.is_ascii_digit()).count();
            let mut overflow = false;
            for &b in &s[..frac_len] {
                if overflow {
                    continue;
                }
                if frac > (MAX - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(b - b'0');
                if y > MAX {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .iter()
            .take_while(|&&b| !(b == b'.' || b.is_ascii_digit()))
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{orig}\""));
        }
        let unit_bytes = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match unit_bytes {
            b"ns" => 1,
            b"us" => 1_000,
            u if u == "µs".as_bytes() || u == "μs".as_bytes() => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{}\" in duration \"{orig}\"",
                    String::from_utf8_lossy(unit_bytes)
                ))
            }
        };
        if v > MAX / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // Go uses float64 here, to be nanosecond-exact for fractions of hours.
            v = v.saturating_add((frac as f64 * (unit as f64 / scale)) as u64);
            if v > MAX {
                return Err(invalid());
            }
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > MAX {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63, whose negation is exactly i64::MIN.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}
