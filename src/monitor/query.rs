//! Query strings read the way nats-server's handlers read them: Go's `url.Query().Get`
//! (first value wins, `+` is a space, percent escapes decoded, pairs with `;` or bad escapes
//! dropped) and `strconv` parsing whose error texts are echoed back in the 400 body.

/// The decoded `key=value` pairs of a query string, in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Percent-decodes `s` (with `+` as a space when `plus` is set). None on a bad escape.
pub fn unescape(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let mut pairs = Vec::new();
        for part in raw.split('&') {
            if part.is_empty() || part.contains(';') {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) else {
                continue;
            };
            pairs.push((k, v));
        }
        Query { pairs }
    }

    /// The first value of `key`, or "" (Go's `Values.Get`).
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// nats-server's `decodeBool`: "" is false; otherwise `strconv.ParseBool`.
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        let v = self.get(key);
        match v {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(format!(
                "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(v)
            )),
        }
    }

    /// nats-server's `decodeInt`: "" is 0; otherwise `strconv.Atoi`.
    pub fn int(&self, key: &str) -> Result<i64, String> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        parse_int(v).map_err(|why| {
            format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing {}: {why}",
                go_quote(v)
            )
        })
    }

    /// nats-server's `decodeUint64`.
    pub fn uint64(&self, key: &str) -> Result<u64, String> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        if v.bytes().all(|b| b.is_ascii_digit()) {
            v.parse::<u64>().map_err(|_| {
                format!(
                    "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: value out of range",
                    go_quote(v)
                )
            })
        } else {
            Err(format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: invalid syntax",
                go_quote(v)
            ))
        }
    }
}

/// `strconv.Atoi`: optional sign, decimal digits, 64-bit range.
fn parse_int(v: &str) -> Result<i64, &'static str> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    let v = v.strip_prefix('+').unwrap_or(v);
    v.parse::<i64>().map_err(|_| "value out of range")
}

/// Go's `strconv.Quote` for the printable ASCII that query values normally hold.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_escapes_decode() {
        let q = Query::parse("a=1&a=2&b=x%2Ey+z&c&bad=%zz&d=e;f");
        assert_eq!(q.get("a"), "1");
        assert_eq!(q.get("b"), "x.y z");
        assert_eq!(q.get("c"), "");
        assert_eq!(q.get("bad"), "");
        assert_eq!(q.get("d"), "");
        assert_eq!(q.get("missing"), "");
    }

    #[test]
    fn decode_errors_match_nats() {
        let q = Query::parse("limit=abc&subs=maybe&cid=-1&offset=99999999999999999999");
        assert_eq!(
            q.int("limit").unwrap_err(),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            q.bool("subs").unwrap_err(),
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert!(q.uint64("cid").is_err());
        assert!(q.int("offset").unwrap_err().ends_with("value out of range"));
        let q = Query::parse("a=-5&b=%2B7&c=T");
        assert_eq!(q.int("a"), Ok(-5));
        assert_eq!(q.int("b"), Ok(7));
        assert_eq!(q.bool("c"), Ok(true));
    }
}
