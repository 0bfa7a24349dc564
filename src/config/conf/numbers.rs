//! Values that start with a digit or `-`: integers with size suffixes (`1k`, `1MiB`),
//! floats, address-like strings (`127.0.0.1:4222`) and Zulu datetimes (lex.go
//! lexNumberOrDateOrStringOrIP and the states after it; parse.go itemInteger, itemFloat,
//! itemDatetime).

use super::parser::{show_opt, PResult, Parser};
use super::{Pos, Spanned, Value};

impl<'a, 's, 'e> Parser<'a, 's, 'e> {
    /// A value starting with a digit or '-' (lexNumberOrDateOrStringOrIP, lexNegNumber,
    /// lexConvenientNumber, lexFloat, lexIPAddr, lexDateAfterYear).
    pub(super) fn parse_number(
        &mut self,
        pos: Pos,
        neg: bool,
        in_array: bool,
    ) -> PResult<Option<Spanned<Value>>> {
        let start = self.cur.off;
        if neg {
            self.cur.bump();
            match self.cur.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some('.') => {
                    let at = self.pos();
                    return Err(self.fatal(at, "Floats must start with a digit, not '.'."));
                }
                other => {
                    let at = self.pos();
                    return Err(
                        self.fatal(at, format!("Expected a digit but got {}.", show_opt(other)))
                    );
                }
            }
        }
        let digits_start = self.cur.off;
        while self.cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.cur.bump();
        }
        let ndigits = self.cur.off - digits_start;
        match self.cur.peek() {
            Some('-') if !neg => {
                if ndigits != 4 {
                    return Err(self.fatal(pos, "All ISO8601 dates must be in full Zulu form."));
                }
                return self.parse_datetime(pos, start);
            }
            Some('.') => {
                self.cur.bump();
                match self.cur.peek() {
                    Some(c) if c.is_ascii_digit() => {}
                    other => {
                        let at = self.pos();
                        return Err(self.fatal(
                            at,
                            format!(
                                "Floats must have a digit after the '.', but got {} instead.",
                                show_opt(other)
                            ),
                        ));
                    }
                }
                while self.cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.cur.bump();
                }
                if self.cur.peek() == Some('.') {
                    // A second dot: an address such as 127.0.0.1:4222, kept as a string.
                    while self
                        .cur
                        .peek()
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
                    {
                        self.cur.bump();
                    }
                    let text = self.slice(start, self.cur.off).to_string();
                    return Ok(Some(Spanned {
                        value: Value::String(text),
                        pos,
                    }));
                }
                let text = self.slice(start, self.cur.off);
                return Ok(self.float_value(text, pos));
            }
            Some(c) if is_size_suffix(c) => {
                self.cur.bump();
                while matches!(self.cur.peek(), Some('b' | 'B' | 'i' | 'I')) {
                    self.cur.bump();
                }
                // nats-server 2.15.1 (lexConvenientNumber): anything but a plain terminator
                // makes it a string after all: `1Ghz`, `2Pie`, `1k5`, and `1k]` (then "1k").
                if !ends_number(self.cur.peek()) {
                    return self.parse_bare_from(pos, start);
                }
            }
            next => {
                // A negative number stops at anything (the value's end judges it); a
                // positive one followed by other text is a string (`3xyz`, `12:30`).
                // In an array a ']' ends the number (nats would make "2]" of `[1, 2]` and
                // then miss the array's end).
                let array_end = in_array && next == Some(']');
                if !neg && !ends_number(next) && !array_end {
                    // nats consumes that character before switching to a string, so a
                    // quote or backslash there is kept as written (`4'x`, `5\x41`).
                    self.cur.bump();
                    return self.parse_bare_from(pos, start);
                }
            }
        }
        let text = self.slice(start, self.cur.off);
        Ok(self.int_value(text, pos))
    }

    /// The rest of `YYYY-MM-DDTHH:MM:SSZ` after the year; the cursor is on the first '-'.
    fn parse_datetime(&mut self, pos: Pos, start: usize) -> PResult<Option<Spanned<Value>>> {
        for want in "-00-00T00:00:00Z".chars() {
            let at = self.pos();
            let got = self.cur.peek();
            if want == '0' {
                if !got.is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.fatal(
                        at,
                        format!(
                            "Expected digit in ISO8601 datetime, but found {} instead.",
                            show_opt(got)
                        ),
                    ));
                }
            } else if got != Some(want) {
                return Err(self.fatal(
                    at,
                    format!(
                        "Expected '{want}' in ISO8601 datetime, but found {} instead.",
                        show_opt(got)
                    ),
                ));
            }
            self.cur.bump();
        }
        let text = self.slice(start, self.cur.off).to_string();
        if !valid_zulu(&text) {
            self.parse_error(
                pos,
                format!("expected Zulu formatted DateTime, but got '{text}'"),
            );
            return Ok(None);
        }
        Ok(Some(Spanned {
            value: Value::DateTime(text),
            pos,
        }))
    }

    /// An integer with an optional size suffix (parse.go itemInteger).
    fn int_value(&mut self, text: &str, pos: Pos) -> Option<Spanned<Value>> {
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(text.len());
        let (digits, suffix) = text.split_at(split);
        let Ok(n) = digits.parse::<i64>() else {
            // The lexer only lets an optional '-' and digits through, so this is overflow.
            self.parse_error(pos, format!("integer '{text}' is out of the range"));
            return None;
        };
        let Some(mult) = size_multiplier(suffix) else {
            self.error(
                pos,
                format!(
                    "invalid size suffix '{suffix}' in '{text}': expected k, m, g, t, p or e \
                     (powers of 1000), or kb/ki/kib, mb/mi/mib, … (powers of 1024)"
                ),
            );
            return None;
        };
        match n.checked_mul(mult) {
            Some(v) => Some(Spanned {
                value: Value::Int(v),
                pos,
            }),
            None => {
                self.parse_error(pos, format!("integer '{text}' is out of the range"));
                None
            }
        }
    }

    fn float_value(&mut self, text: &str, pos: Pos) -> Option<Spanned<Value>> {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Some(Spanned {
                value: Value::Float(f),
                pos,
            }),
            _ => {
                self.parse_error(pos, format!("float '{text}' is out of the range"));
                None
            }
        }
    }
}

/// The first letter of a size suffix (lex.go isNumberSuffix).
fn is_size_suffix(c: char) -> bool {
    matches!(
        c,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// What may directly follow a number (lexNumberOrDateOrStringOrIP's terminators).
fn ends_number(c: Option<char>) -> bool {
    matches!(c, None | Some('\n' | '\r' | '}' | ';' | ',' | ' ' | '\t'))
}

/// parse.go's suffix table.
fn size_multiplier(suffix: &str) -> Option<i64> {
    const K: i64 = 1000;
    const KI: i64 = 1024;
    Some(match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => K,
        "kb" | "ki" | "kib" => KI,
        "m" => K.pow(2),
        "mb" | "mi" | "mib" => KI.pow(2),
        "g" => K.pow(3),
        "gb" | "gi" | "gib" => KI.pow(3),
        "t" => K.pow(4),
        "tb" | "ti" | "tib" => KI.pow(4),
        "p" => K.pow(5),
        "pb" | "pi" | "pib" => KI.pow(5),
        "e" => K.pow(6),
        "eb" | "ei" | "eib" => KI.pow(6),
        _ => return None,
    })
}

/// Field ranges as Go's `time.Parse("2006-01-02T15:04:05Z", …)` checks them.
fn valid_zulu(s: &str) -> bool {
    let field = |a: usize, b: usize| s.get(a..b).and_then(|t| t.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        field(0, 4),
        field(5, 7),
        field(8, 10),
        field(11, 13),
        field(14, 16),
        field(17, 19),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && min < 60 && sec < 60
}
