//! JSON as nats-server's Go encoder writes it and its decoder reads it: `<`, `>` and `&`
//! escaped, times in RFC 3339 with the fraction's trailing zeros trimmed (zero time
//! `0001-01-01T00:00:00Z`), durations in nanoseconds, and decode errors in Go's words.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes as Go's `encoding/json` does (HTML-safe escaping).
pub fn to_go_json<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let raw = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    // These bytes only ever occur inside strings, where the escapes mean the same.
    let mut out = Vec::with_capacity(raw.len() + 16);
    for &b in &raw {
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            _ => out.push(b),
        }
    }
    out
}

/// A point in time, nanoseconds since the Unix epoch; 0 is Go's zero time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i64);

impl Time {
    pub fn now() -> Time {
        Time(now_nanos())
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Go's `time.RFC3339Nano` in UTC.
pub fn rfc3339(ns: i64) -> String {
    if ns == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, frac) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if frac > 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 time (any offset) into nanoseconds; Go's zero time is 0.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if s == "0001-01-01T00:00:00Z" {
        return Some(0);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    t.timestamp_nanos_opt()
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s)
            .map(Time)
            .ok_or_else(|| serde::de::Error::custom(format!("parsing time {s:?} as RFC 3339")))
    }
}

/// A request body decode error as nats-server words it after `invalid JSON: `.
pub fn decode_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde appends the position; Go's messages carry none of that form.
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("json: unknown field {name:?}");
    }
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        return format!("json: cannot unmarshal {rest}");
    }
    text
}

/// An enum value that does not decode: nats-server's `can not unmarshal "\"x\""`.
pub fn bad_enum<E: serde::de::Error>(raw: &str) -> E {
    E::custom(format!("can not unmarshal {:?}", format!("{raw:?}")))
}

/// Go's decoder leaves a field at its zero value when the JSON says `null`.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(rfc3339(0), "0001-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_796_190_321_722_671_230),
            "2026-12-02T05:45:21.72267123Z"
        );
        assert_eq!(rfc3339(1_796_190_321_000_000_000), "2026-12-02T05:45:21Z");
        assert_eq!(
            parse_rfc3339("2026-12-02T05:45:21.72267123Z"),
            Some(1_796_190_321_722_671_230)
        );
    }

    #[test]
    fn html_characters_are_escaped() {
        let v = serde_json::json!({"subjects": ["foo.>"], "a": "x&y<z"});
        assert_eq!(
            to_go_json(&v),
            br#"{"a":"x\u0026y\u003cz","subjects":["foo.\u003e"]}"#.to_vec()
        );
    }

    #[test]
    fn decode_errors_in_go_words() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct R {
            a: Option<u32>,
        }
        let e = serde_json::from_str::<R>(r#"{"bogus":1}"#).unwrap_err();
        assert_eq!(decode_error(&e), "json: unknown field \"bogus\"");
    }
}
