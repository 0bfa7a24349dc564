//! The parser's frame: the cursor over the text, the state shared with the parses of
//! includes and environment values, the contexts an entry or a value stands in, and the
//! structure of the format (top level and top-level braces, entries and keys, what may end a
//! value, arrays and maps), with the error helpers. The values themselves are read in
//! `strings.rs` and `numbers.rs`, includes in `includes.rs`, `$variables` in `variables.rs`:
//! all are methods of the one [`Parser`].

use std::path::PathBuf;
use std::sync::Arc;

use super::variables::EXPANSION_BUDGET;
use super::{ConfError, ErrorKind, Map, Pos, Spanned, Value, MAX_DEPTH};

/// State shared by a parse and the parses of its includes and environment values.
pub(super) struct Shared<'e> {
    pub(super) env: &'e dyn Fn(&str) -> Option<String>,
    /// Canonical paths of the files being parsed, outermost first (include cycles).
    pub(super) includes: Vec<PathBuf>,
    /// Environment variables being expanded, outermost first (reference cycles).
    pub(super) env_refs: Vec<String>,
    /// What `$variable` copies may still cost.
    pub(super) budget: usize,
}

impl<'e> Shared<'e> {
    pub(super) fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Shared {
            env,
            includes: Vec::new(),
            env_refs: Vec::new(),
            budget: EXPANSION_BUDGET,
        }
    }
}

/// A position in the text being parsed.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'a> {
    src: &'a str,
    pub(super) off: usize,
    pub(super) line: u32,
    pub(super) col: u32,
}

impl<'a> Cursor<'a> {
    pub(super) fn rest(&self) -> &'a str {
        self.src.get(self.off..).unwrap_or("")
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.off += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }
}

/// Marks a syntax error that stops the parse; the error itself is in `Parser::errors`.
pub(super) struct Fatal;
pub(super) type PResult<T> = Result<T, Fatal>;

/// Where an entry stands: the rules for what ends its value differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The file's top level: a `}` after a value is ignored (lexTopValueEnd).
    Top,
    /// Inside top-level braces (JSON-style files): a `}` closes them.
    Block,
    /// Inside a `{ }` map value.
    Map,
}

/// Where a value stands: the whitespace allowed before it differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum VCtx {
    /// After a top-level or block key: spaces and tabs only, a newline is an error.
    Top,
    /// After a map key: any whitespace.
    Map,
    /// In an array (whitespace and comments already skipped).
    Array,
}

impl Ctx {
    fn value_ctx(self) -> VCtx {
        match self {
            Ctx::Top | Ctx::Block => VCtx::Top,
            Ctx::Map => VCtx::Map,
        }
    }
}

pub(super) struct Parser<'a, 's, 'e> {
    pub(super) cur: Cursor<'a>,
    pub(super) file: Arc<str>,
    /// Directory includes are resolved against.
    pub(super) base_dir: PathBuf,
    /// Current nesting (maps, arrays, braces, plus the includes/env parses around us).
    pub(super) depth: usize,
    /// The maps being built, outermost first: the scopes `$variables` are looked up in.
    pub(super) scopes: Vec<Map>,
    pub(super) errors: Vec<ConfError>,
    pub(super) shared: &'s mut Shared<'e>,
}

impl<'a, 's, 'e> Parser<'a, 's, 'e> {
    pub(super) fn new(
        src: &'a str,
        file: Arc<str>,
        base_dir: PathBuf,
        depth: usize,
        shared: &'s mut Shared<'e>,
    ) -> Self {
        Parser {
            cur: Cursor {
                src,
                off: 0,
                line: 1,
                col: 1,
            },
            file,
            base_dir,
            depth,
            scopes: Vec::new(),
            errors: Vec::new(),
            shared,
        }
    }

    /// Parses the whole text into its top-level map, collecting every error found.
    pub(super) fn run(mut self) -> (Map, Vec<ConfError>) {
        // Editors on Windows add a byte-order mark; nats would make it part of the first key.
        if self.cur.rest().starts_with('\u{feff}') {
            self.cur.off += '\u{feff}'.len_utf8();
        }
        // nats lexes NUL as end of input and then fails ("Unexpected EOF"); refuse it upfront.
        if let Some(i) = self.cur.rest().find('\0') {
            let mut at = self.cur;
            let end = self.cur.off + i;
            while at.off < end && at.bump().is_some() {}
            let pos = self.pos_of(&at);
            self.push_error(pos, ErrorKind::Syntax, "unexpected NUL character");
            return (Map::default(), self.errors);
        }
        self.scopes.push(Map::default());
        // A fatal error has already been recorded; what was parsed so far is dropped anyway.
        let _ = self.parse_items(None);
        let map = self.scopes.pop().unwrap_or_default();
        (map, self.errors)
    }

    pub(super) fn pos(&self) -> Pos {
        self.pos_of(&self.cur)
    }

    pub(super) fn pos_of(&self, at: &Cursor<'_>) -> Pos {
        Pos {
            file: self.file.clone(),
            line: at.line,
            col: at.col,
        }
    }

    pub(super) fn slice(&self, start: usize, end: usize) -> &'a str {
        self.cur.src.get(start..end).unwrap_or("")
    }

    fn push_error(&mut self, pos: Pos, kind: ErrorKind, msg: impl Into<String>) {
        self.errors.push(ConfError {
            pos,
            msg: msg.into(),
            kind,
        });
    }

    /// One of natrium's own checks ([`ErrorKind::ParseAt`]); parsing goes on.
    pub(super) fn error(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push_error(pos, ErrorKind::ParseAt, msg);
    }

    /// An error nats' parser also reports, in its words ([`ErrorKind::Parse`]); parsing goes on.
    pub(super) fn parse_error(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push_error(pos, ErrorKind::Parse, msg);
    }

    /// A syntax error ([`ErrorKind::Syntax`]), which stops the parse. `pos` is where nats'
    /// lexer stands when it gives up: on the offending character, after it when that is a
    /// newline ([`Parser::after`]), at the end of the text for what is not closed.
    pub(super) fn fatal(&mut self, pos: Pos, msg: impl Into<String>) -> Fatal {
        self.push_error(pos, ErrorKind::Syntax, msg);
        Fatal
    }

    /// The position just after `c` at `at`: nats' lexer reports an error about a character
    /// once it has read it, so a newline's error is on the next line.
    pub(super) fn after(&self, at: &Pos, c: Option<char>) -> Pos {
        let mut pos = at.clone();
        if c == Some('\n') {
            pos.line = pos.line.saturating_add(1);
            pos.col = 1;
        }
        pos
    }

    /// A syntax error at the end of the text (what nats' lexer reports at EOF). The cursor
    /// is moved there.
    pub(super) fn fatal_at_eof(&mut self, msg: impl Into<String>) -> Fatal {
        while self.cur.bump().is_some() {}
        let pos = self.pos();
        self.fatal(pos, msg)
    }

    /// Enters one nesting level, refusing to go deeper than [`MAX_DEPTH`].
    fn enter(&mut self, pos: &Pos) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fatal(
                pos.clone(),
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn skip_ws(&mut self) {
        while self.cur.peek().is_some_and(char::is_whitespace) {
            self.cur.bump();
        }
    }

    pub(super) fn skip_blank(&mut self) {
        while matches!(self.cur.peek(), Some(' ' | '\t')) {
            self.cur.bump();
        }
    }

    fn at_comment(&self) -> bool {
        match self.cur.peek() {
            Some('#') => true,
            Some('/') => self.cur.peek2() == Some('/'),
            _ => false,
        }
    }

    /// Skips a comment up to, not including, the end of its line.
    fn skip_comment(&mut self) {
        while !matches!(self.cur.peek(), None | Some('\n' | '\r')) {
            self.cur.bump();
        }
    }

    fn lone_slash(&mut self) -> Fatal {
        let pos = self.pos();
        self.fatal(pos, "Unexpected '/': comments start with '#' or '//'")
    }

    /// Top-level items, or the items inside top-level braces when `open` is the `{`
    /// (lexTop / lexBlockStart). Braces here only group: their keys go to the top map.
    fn parse_items(&mut self, open: Option<&Pos>) -> PResult<()> {
        loop {
            self.skip_ws();
            let pos = self.pos();
            match self.cur.peek() {
                // nats accepts a file that ends inside top-level braces.
                None => return Ok(()),
                Some(_) if self.at_comment() => self.skip_comment(),
                Some('/') => return Err(self.lone_slash()),
                Some('{') => {
                    self.cur.bump();
                    self.enter(&pos)?;
                    let r = self.parse_items(Some(&pos));
                    self.depth -= 1;
                    r?;
                }
                Some('}') if open.is_some() => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(_) => {
                    let ctx = if open.is_some() { Ctx::Block } else { Ctx::Top };
                    self.parse_entry(ctx)?;
                }
            }
        }
    }

    /// `key [sep] value end`, or an include directive. The cursor is on the key's first char.
    fn parse_entry(&mut self, ctx: Ctx) -> PResult<()> {
        let kpos = self.pos();
        let (key, bare) = self.parse_key(&kpos, ctx)?;
        // lex.go keyCheckKeyword: a bare `include` followed by whitespace is the directive.
        if bare
            && key.eq_ignore_ascii_case("include")
            && self.cur.peek().is_some_and(char::is_whitespace)
        {
            self.parse_include()?;
            return self.value_end(ctx);
        }
        let key_hit_eof = bare && self.cur.peek().is_none();
        // lexKeyEnd: any whitespace, newlines included, may separate a key from its value.
        self.skip_ws();
        match self.cur.peek() {
            None => {
                // JSON-style files may end with a stray `}`, which nats lexes as a key.
                if ctx == Ctx::Top && bare && key == "}" {
                    return Ok(());
                }
                // In a map: lexMapKey at EOF, or the empty value nats then reads.
                if ctx == Ctx::Map {
                    return Err(if key_hit_eof {
                        self.fatal_at_eof("Unexpected EOF processing map key.")
                    } else {
                        self.fatal_at_eof(map_terminator("EOF"))
                    });
                }
                // nats' parser: a key is the last item before EOF. It names the EOF item's
                // position, whose column is counted in bytes from the last newline.
                let src = self.cur.src;
                let line = src.matches('\n').count() + 1;
                let col = src.len() - src.rfind('\n').unwrap_or(0);
                let msg = format!("config is invalid ({}:{line}:{col})", self.file);
                self.parse_error(kpos, msg);
                return Err(Fatal);
            }
            Some(':' | '=') => {
                self.cur.bump();
            }
            Some(_) => {}
        }
        if let Some(value) = self.parse_value(ctx.value_ctx(), &key)? {
            if let Some(scope) = self.scopes.last_mut() {
                scope.entries.push((
                    Spanned {
                        value: key,
                        pos: kpos,
                    },
                    value,
                ));
            }
        }
        self.value_end(ctx)
    }

    /// A key: quoted (no escapes) or bare (up to whitespace, '=' or ':'). Returns whether
    /// it was bare.
    fn parse_key(&mut self, kpos: &Pos, ctx: Ctx) -> PResult<(String, bool)> {
        match self.cur.peek() {
            Some(c @ (':' | '=')) => {
                // lexKeyStart / lexMapKeyStart (the latter with a full stop).
                let dot = if ctx == Ctx::Map { "." } else { "" };
                Err(self.fatal(kpos.clone(), format!("Unexpected key separator '{c}'{dot}")))
            }
            Some(q @ ('"' | '\'')) => {
                self.cur.bump();
                let start = self.cur.off;
                loop {
                    match self.cur.peek() {
                        None => {
                            let msg = match (ctx, q) {
                                (Ctx::Map, '"') => {
                                    "Unexpected EOF processing double quoted map key."
                                }
                                (Ctx::Map, _) => "Unexpected EOF processing quoted map key.",
                                _ => "Unexpected EOF.",
                            };
                            return Err(self.fatal_at_eof(msg));
                        }
                        Some(c) if c == q => {
                            let key = self.slice(start, self.cur.off).to_string();
                            self.cur.bump();
                            return Ok((key, false));
                        }
                        Some(_) => {
                            self.cur.bump();
                        }
                    }
                }
            }
            _ => {
                let start = self.cur.off;
                while let Some(c) = self.cur.peek() {
                    if c.is_whitespace() || c == ':' || c == '=' {
                        break;
                    }
                    self.cur.bump();
                }
                Ok((self.slice(start, self.cur.off).to_string(), true))
            }
        }
    }

    /// What may follow a value (lexTopValueEnd / lexBlockValueEnd / lexMapValueEnd).
    fn value_end(&mut self, ctx: Ctx) -> PResult<()> {
        loop {
            self.skip_blank();
            let pos = self.pos();
            match self.cur.peek() {
                // A comment runs to the end of the line, which then ends the value.
                Some(_) if self.at_comment() => self.skip_comment(),
                // EOF: fine at top level and in braces, not after a map value.
                None if ctx == Ctx::Map => return Err(self.fatal_at_eof(map_terminator("EOF"))),
                None => return Ok(()),
                Some('\n' | '\r' | ';' | ',') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some('}') => {
                    // At top level nats treats a '}' after a value as a terminator.
                    if ctx == Ctx::Top {
                        self.cur.bump();
                    }
                    return Ok(());
                }
                Some(c) => {
                    let msg = match ctx {
                        Ctx::Top => format!(
                            "Expected a top-level value to end with a new line, comment or EOF, \
                             but got {} instead.",
                            show(c)
                        ),
                        Ctx::Block => format!(
                            "Expected a block-level value to end with a new line, comment or \
                             EOF, but got {} instead.",
                            show(c)
                        ),
                        Ctx::Map => map_terminator(&show(c)),
                    };
                    return Err(self.fatal(pos, msg));
                }
            }
        }
    }

    /// A value (lexValue). `Ok(None)` means an error was recorded but parsing can go on
    /// (undefined variable, bad number, …); the entry is then left out.
    fn parse_value(&mut self, vctx: VCtx, key: &str) -> PResult<Option<Spanned<Value>>> {
        match vctx {
            VCtx::Top => {
                self.skip_blank();
                if let c @ Some('\n' | '\r') = self.cur.peek() {
                    let pos = self.after(&self.pos(), c);
                    return Err(self.fatal(pos, "Expected value but found new line"));
                }
            }
            VCtx::Map => {
                self.skip_ws();
                let pos = self.pos();
                match self.cur.peek() {
                    Some(',') => {
                        return Err(self.fatal(pos, "Unexpected map value terminator \",\"."))
                    }
                    Some('}') => {
                        return Err(self.fatal(
                            pos,
                            format!("Expected a value for key '{key}' but found '}}'"),
                        ))
                    }
                    // lexValue makes an empty string of nothing; then lexMapValueEnd fails.
                    None => return Err(self.fatal_at_eof(map_terminator("EOF"))),
                    _ => {}
                }
            }
            VCtx::Array => self.skip_blank(),
        }
        let pos = self.pos();
        let value = match self.cur.peek() {
            Some('[') => Value::Array(self.parse_array(&pos)?),
            Some('{') => Value::Map(self.parse_map(&pos)?),
            Some('"') => match self.parse_dq_string(&pos)? {
                Some(s) => Value::String(s),
                None => return Ok(None),
            },
            Some('\'') => Value::String(self.parse_sq_string()?),
            Some('(') => Value::String(self.parse_block_string()?),
            Some('-') => return self.parse_number(pos, true, vctx == VCtx::Array),
            Some(c) if c.is_ascii_digit() => {
                return self.parse_number(pos, false, vctx == VCtx::Array)
            }
            Some('.') => return Err(self.fatal(pos, "Floats must start with a digit")),
            _ => return self.parse_bare(pos),
        };
        Ok(Some(Spanned { value, pos }))
    }

    /// `[ … ]` (lexArrayValue / lexArrayValueEnd). The cursor is on '['.
    fn parse_array(&mut self, open: &Pos) -> PResult<Vec<Spanned<Value>>> {
        self.cur.bump();
        self.enter(open)?;
        let r = self.parse_array_items();
        self.depth -= 1;
        r
    }

    fn parse_array_items(&mut self) -> PResult<Vec<Spanned<Value>>> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            let pos = self.pos();
            match self.cur.peek() {
                None => return Err(self.fatal_at_eof(array_terminator("EOF"))),
                Some(_) if self.at_comment() => {
                    self.skip_comment();
                    continue;
                }
                Some(',') => return Err(self.fatal(pos, "Unexpected array value terminator ','.")),
                Some(']') => {
                    self.cur.bump();
                    return Ok(items);
                }
                Some(_) => {}
            }
            if let Some(v) = self.parse_value(VCtx::Array, "")? {
                items.push(v);
            }
            loop {
                self.skip_blank();
                let pos = self.pos();
                match self.cur.peek() {
                    Some(_) if self.at_comment() => self.skip_comment(),
                    Some(',' | '\n' | '\r') => {
                        self.cur.bump();
                        break;
                    }
                    Some(']') => {
                        self.cur.bump();
                        return Ok(items);
                    }
                    None => return Err(self.fatal_at_eof(array_terminator("EOF"))),
                    Some(c) => return Err(self.fatal(pos, array_terminator(&show(c)))),
                }
            }
        }
    }

    /// `{ … }` as a value (lexMapKeyStart …). The cursor is on '{'. The map is a scope for
    /// variables while it is being built.
    fn parse_map(&mut self, open: &Pos) -> PResult<Map> {
        self.cur.bump();
        self.enter(open)?;
        self.scopes.push(Map::default());
        let r = self.parse_map_entries();
        let map = self.scopes.pop().unwrap_or_default();
        self.depth -= 1;
        r.map(|()| map)
    }

    fn parse_map_entries(&mut self) -> PResult<()> {
        loop {
            self.skip_ws();
            let pos = self.pos();
            match self.cur.peek() {
                // Where a key would start (lexMapKeyStart); the other ends of a map at EOF
                // are reported where they happen.
                None => return Err(self.fatal_at_eof("Unexpected EOF processing map.")),
                Some('}') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(_) if self.at_comment() => self.skip_comment(),
                Some('/') => return Err(self.lone_slash()),
                Some(']') => {
                    return Err(self.fatal(pos, "Unexpected array end ']' processing map."))
                }
                Some(_) => self.parse_entry(Ctx::Map)?,
            }
        }
    }
}

/// lexArrayValueEnd's complaint; `got` is a shown character or `EOF`.
fn array_terminator(got: &str) -> String {
    format!("Expected an array value terminator \",\" or an array terminator \"]\", but got {got} instead.")
}

/// lexMapValueEnd's complaint; `got` is a shown character or `EOF`.
fn map_terminator(got: &str) -> String {
    format!(
        "Expected a map value terminator \",\" or a map terminator \"}}\", but got {got} instead."
    )
}

pub(super) fn show(c: char) -> String {
    match c {
        '\n' => "'\\n'".to_string(),
        '\r' => "'\\r'".to_string(),
        '\t' => "'\\t'".to_string(),
        c if c.is_control() => format!("'{}'", c.escape_unicode()),
        c => format!("'{c}'"),
    }
}

pub(super) fn show_opt(c: Option<char>) -> String {
    c.map_or_else(|| "EOF".to_string(), show)
}
