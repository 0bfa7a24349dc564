//! Strings: unquoted (where booleans and `$variable` references are recognised),
//! double-quoted with escapes, single-quoted and `( … )` blocks (lex.go lexString,
//! lexDubQuotedString, lexStringEscape, lexStringBinary, lexQuotedString, lexBlock).

use super::parser::{show, PResult, Parser};
use super::{Pos, Spanned, Value};

impl<'a, 's, 'e> Parser<'a, 's, 'e> {
    /// An unquoted value (lexString): a string, a boolean or a `$variable`.
    pub(super) fn parse_bare(&mut self, pos: Pos) -> PResult<Option<Spanned<Value>>> {
        self.parse_bare_from(pos, self.cur.off)
    }

    /// An unquoted value whose text from `start` up to the cursor is taken as written.
    pub(super) fn parse_bare_from(
        &mut self,
        pos: Pos,
        start: usize,
    ) -> PResult<Option<Spanned<Value>>> {
        let mut out = self.slice(start, self.cur.off).as_bytes().to_vec();
        let mut escaped = false;
        let mut quote_ended = false;
        loop {
            match self.cur.peek() {
                None | Some('\n' | '\r' | ';' | ',' | ']' | '}' | ' ' | '\t') => break,
                Some('\\') => {
                    let epos = self.pos();
                    self.cur.bump();
                    self.parse_escape(&epos, &mut out)?;
                    escaped = true;
                }
                // lexString: a stray single quote ends the string and is dropped.
                Some('\'') => {
                    self.cur.bump();
                    quote_ended = true;
                    break;
                }
                Some(c) => {
                    self.cur.bump();
                    push_char(&mut out, c);
                }
            }
        }
        let Some(text) = self.utf8(out, &pos) else {
            return Ok(None);
        };
        // nats only recognises booleans and variables in strings written plainly.
        if !escaped && !quote_ended {
            let b = match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Some(true),
                "false" | "no" | "off" => Some(false),
                _ => None,
            };
            if let Some(b) = b {
                return Ok(Some(Spanned {
                    value: Value::Bool(b),
                    pos,
                }));
            }
            if let Some(name) = text.strip_prefix('$') {
                return Ok(self.resolve_variable(name, &pos));
            }
        }
        Ok(Some(Spanned {
            value: Value::String(text),
            pos,
        }))
    }

    /// Bytes from a string with escapes; `\x` escapes could have made them invalid UTF-8.
    fn utf8(&mut self, bytes: Vec<u8>, pos: &Pos) -> Option<String> {
        match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                self.error(
                    pos.clone(),
                    "string is not valid UTF-8 (check its \\x escapes)",
                );
                None
            }
        }
    }

    /// The escape after a backslash (at `epos`), appended to `out` (lexStringEscape).
    fn parse_escape(&mut self, epos: &Pos, out: &mut Vec<u8>) -> PResult<()> {
        let simple = match self.cur.peek() {
            Some('t') => Some(b'\t'),
            Some('n') => Some(b'\n'),
            Some('r') => Some(b'\r'),
            Some('"') => Some(b'"'),
            Some('\\') => Some(b'\\'),
            _ => None,
        };
        if let Some(b) = simple {
            self.cur.bump();
            out.push(b);
            return Ok(());
        }
        let cpos = self.pos();
        match self.cur.bump() {
            Some('x') => {
                let v = self.hex_digits(epos, 2, "\\x")?;
                // Two hex digits always fit a byte.
                out.push(u8::try_from(v).unwrap_or(0));
                Ok(())
            }
            Some('u') => {
                let hi = self.hex_digits(epos, 4, "\\u")?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // A UTF-16 surrogate pair, as JSON writes characters beyond the BMP.
                    if self.cur.rest().starts_with("\\u") {
                        self.cur.bump();
                        self.cur.bump();
                        let lo = self.hex_digits(epos, 4, "\\u")?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(
                                self.fatal(epos.clone(), "unpaired surrogate in \\u escape")
                            );
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        return Err(self.fatal(epos.clone(), "unpaired surrogate in \\u escape"));
                    }
                } else {
                    hi
                };
                match char::from_u32(code) {
                    Some(c) => {
                        push_char(out, c);
                        Ok(())
                    }
                    None => Err(self.fatal(epos.clone(), "unpaired surrogate in \\u escape")),
                }
            }
            Some(c) => Err(self.fatal(
                self.after(&cpos, Some(c)),
                format!(
                    "Invalid escape character {}. Only the following escape characters are \
                     allowed: \\xXX, \\uXXXX, \\t, \\n, \\r, \\\", \\\\.",
                    show(c)
                ),
            )),
            None => Err(self.fatal(epos.clone(), "Unexpected EOF after '\\'")),
        }
    }

    /// `n` hex digits of an escape (lexStringBinary), consumed only when all are valid.
    fn hex_digits(&mut self, epos: &Pos, n: usize, what: &str) -> PResult<u32> {
        let digits: Vec<Option<char>> = {
            let mut it = self.cur.rest().chars();
            (0..n).map(|_| it.next()).collect()
        };
        if let Some(i) = digits
            .iter()
            .position(|c| matches!(c, None | Some('\n' | '\r')))
        {
            // Reported where nats' lexer stops: after the newline, or at the end.
            let mut at = self.cur;
            for _ in 0..i {
                at.bump();
            }
            let pos = self.after(&self.pos_of(&at), digits[i]);
            return Err(self.fatal(
                pos,
                format!(
                    "Expected {} hexadecimal digits after '{what}', but hit end of line",
                    if n == 2 { "two" } else { "four" }
                ),
            ));
        }
        let mut v = 0u32;
        for c in digits.iter().flatten() {
            match c.to_digit(16) {
                Some(d) => v = v * 16 + d,
                None => {
                    let got: String = digits.iter().flatten().collect();
                    return Err(self.fatal(
                        epos.clone(),
                        format!(
                            "Expected {} hexadecimal digits after '{what}', but got '{got}'",
                            if n == 2 { "two" } else { "four" }
                        ),
                    ));
                }
            }
        }
        for _ in 0..n {
            self.cur.bump();
        }
        Ok(v)
    }

    /// `"…"`, with escapes, possibly over several lines (lexDubQuotedString).
    pub(super) fn parse_dq_string(&mut self, open: &Pos) -> PResult<Option<String>> {
        self.cur.bump();
        let mut out = Vec::new();
        loop {
            match self.cur.peek() {
                None => return Err(self.fatal_at_eof("Unexpected EOF.")),
                Some('"') => {
                    self.cur.bump();
                    return Ok(self.utf8(out, open));
                }
                Some('\\') => {
                    let epos = self.pos();
                    self.cur.bump();
                    self.parse_escape(&epos, &mut out)?;
                }
                Some(c) => {
                    self.cur.bump();
                    push_char(&mut out, c);
                }
            }
        }
    }

    /// `'…'`, raw (lexQuotedString).
    pub(super) fn parse_sq_string(&mut self) -> PResult<String> {
        self.cur.bump();
        let start = self.cur.off;
        loop {
            match self.cur.peek() {
                None => return Err(self.fatal_at_eof("Unexpected EOF.")),
                Some('\'') => {
                    let s = self.slice(start, self.cur.off).to_string();
                    self.cur.bump();
                    return Ok(s);
                }
                Some(_) => {
                    self.cur.bump();
                }
            }
        }
    }

    /// `( … )` block string (lexBlock): everything up to a `)` alone at the start of a
    /// line, raw; the text keeps the newline after `(` and the one before `)`.
    pub(super) fn parse_block_string(&mut self) -> PResult<String> {
        self.cur.bump();
        let start = self.cur.off;
        let mut prev = '(';
        loop {
            let here = self.cur.off;
            match self.cur.bump() {
                None => return Err(self.fatal_at_eof("Unexpected EOF processing block.")),
                Some(')')
                    if prev == '\n' && matches!(self.cur.peek(), None | Some('\n' | '\r')) =>
                {
                    return Ok(self.slice(start, here).to_string());
                }
                Some(c) => prev = c,
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}
