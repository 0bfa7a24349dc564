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

/// Go's `encoding/json` syntax error for a body that is not JSON, as nats-server reports
/// it (`<Go's text> at offset N`; a body cut short is Go's `unexpected EOF`). `None` when
/// the body is well-formed JSON.
pub fn go_syntax_error(body: &[u8]) -> Option<String> {
    let mut p = GoScan { b: body, i: 0 };
    p.ws();
    let res = p.value().map(|_| p.ws());
    match res {
        Ok(()) => None,
        Err(None) => Some("unexpected EOF".into()),
        Err(Some((c, context))) => Some(format!(
            "invalid character {} {context} at offset {}",
            go_quote_char(c),
            p.i + 1
        )),
    }
}

/// What Go's `json.Unmarshal` says of a body serde refused (the handlers that use it rather
/// than the API's decoder): syntax errors without an offset, and a short or empty body is
/// `unexpected end of JSON input`.
pub fn go_unmarshal_error(body: &[u8], e: &serde_json::Error) -> String {
    if body.trim_ascii().is_empty() {
        return "unexpected end of JSON input".into();
    }
    match go_syntax_error(body) {
        Some(t) if t == "unexpected EOF" => "unexpected end of JSON input".into(),
        Some(t) => match t.rfind(" at offset ") {
            Some(i) => t[..i].to_string(),
            None => t,
        },
        None => decode_error(e),
    }
}

/// Go's `quoteChar`.
fn go_quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        c => format!("'\\x{c:02x}'"),
    }
}

/// A syntax error: the offending byte and Go's context words; `None`: end of input.
type ScanError = Option<(u8, String)>;

struct GoScan<'a> {
    b: &'a [u8],
    i: usize,
}

impl GoScan<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Result<u8, ScanError> {
        self.b.get(self.i).copied().ok_or(None)
    }

    fn value(&mut self) -> Result<(), ScanError> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true", "in literal true (expecting '"),
            b'f' => self.literal(b"false", "in literal false (expecting '"),
            b'n' => self.literal(b"null", "in literal null (expecting '"),
            c => Err(Some((c, "looking for beginning of value".into()))),
        }
    }

    fn object(&mut self) -> Result<(), ScanError> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            match self.peek()? {
                b'"' => self.string()?,
                c => {
                    return Err(Some((
                        c,
                        "looking for beginning of object key string".into(),
                    )))
                }
            }
            self.ws();
            match self.peek()? {
                b':' => self.i += 1,
                c => return Err(Some((c, "after object key".into()))),
            }
            self.ws();
            self.value()?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                c => return Err(Some((c, "after object key:value pair".into()))),
            }
        }
    }

    fn array(&mut self) -> Result<(), ScanError> {
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.value()?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Ok(());
                }
                c => return Err(Some((c, "after array element".into()))),
            }
        }
    }

    fn string(&mut self) -> Result<(), ScanError> {
        self.i += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            self.i += 1;
                            for _ in 0..4 {
                                let c = self.peek()?;
                                if !c.is_ascii_hexdigit() {
                                    return Err(Some((
                                        c,
                                        "in \\u hexadecimal character escape".into(),
                                    )));
                                }
                                self.i += 1;
                            }
                        }
                        c => return Err(Some((c, "in string escape code".into()))),
                    }
                }
                c if c < 0x20 => return Err(Some((c, "in string literal".into()))),
                _ => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> Result<(), ScanError> {
        if self.peek()? == b'-' {
            self.i += 1;
            match self.peek()? {
                b'0'..=b'9' => {}
                c => return Err(Some((c, "in numeric literal".into()))),
            }
        }
        let digits = |s: &mut Self| {
            while s.i < s.b.len() && s.b[s.i].is_ascii_digit() {
                s.i += 1;
            }
        };
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            digits(self);
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            match self.peek()? {
                b'0'..=b'9' => digits(self),
                c => return Err(Some((c, "after decimal point in numeric literal".into()))),
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.peek()? {
                b'0'..=b'9' => digits(self),
                c => return Err(Some((c, "in exponent of numeric literal".into()))),
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8], context: &'static str) -> Result<(), ScanError> {
        for want in word {
            let c = self.peek()?;
            if c != *want {
                return Err(Some((c, format!("{context}{}')", *want as char))));
            }
            self.i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod go_syntax_tests {
    use super::go_syntax_error;

    #[test]
    fn syntax_errors_read_as_go_words_them() {
        assert_eq!(
            go_syntax_error(b"{nope").as_deref(),
            Some("invalid character 'n' looking for beginning of object key string at offset 2")
        );
        assert_eq!(
            go_syntax_error(br#"{"a":1"#).as_deref(),
            Some("unexpected EOF")
        );
        assert_eq!(
            go_syntax_error(br#"{"a" 1}"#).as_deref(),
            Some("invalid character '1' after object key at offset 6")
        );
        assert_eq!(
            go_syntax_error(b"junk").as_deref(),
            Some("invalid character 'j' looking for beginning of value at offset 1")
        );
        assert_eq!(
            go_syntax_error(b"nul!").as_deref(),
            Some("invalid character '!' in literal null (expecting 'l') at offset 4")
        );
        assert_eq!(go_syntax_error(br#"{"a":[1,2],"b":null}"#), None);
    }
}
