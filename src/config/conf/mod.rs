//! Reader for the nats configuration-file format, as nats-server's `conf/lex.go` and
//! `conf/parse.go` accept it.
//!
//! This module owns turning config text into a tree of [`Value`]s that remember where they
//! were written ([`Pos`]), resolving `$variables` and `include` directives, and Go-compatible
//! duration parsing ([`parse_duration`]) for the option keys that take durations. It knows
//! nothing about option names: mapping keys onto server options is someone else's job.
//!
//! # Grammar
//! ```text
//! document := item*              ; the whole file may be wrapped in { } (JSON files)
//! item     := '{' item* '}' | comment | entry
//! entry    := key ws* (sep)? value end | 'include' blank+ path end
//! sep      := '=' | ':'          ; or nothing: `port 4222`, `authorization { … }`
//! key      := bare-key | "…" | '…'   ; a bare key runs to whitespace, '=' or ':'
//! value    := map | array | "dq string" | 'raw string' | ( block ) | number | size
//!           | datetime | bool | $variable | bare string
//! map      := '{' (entry)* '}'   ; entries end at ',', ';', newline or the '}'
//! array    := '[' (value (',' | newline))* ']'
//! end      := ',' | ';' | newline | comment | EOF (| '}' closing the enclosing braces)
//! comment  := '#' … | '//' …     ; to the end of the line, where a key or an end may stand
//! ```
//! Values, as nats lexes them:
//! - A *bare string* runs to a newline, space, tab, `,`, `;`, `]` or `}` (so `#`, `:`, `=`
//!   and `{` may appear inside: `nats://a:b@host:4222`). A `'` also ends it (and is
//!   dropped). Backslash escapes work inside bare strings as inside `"…"`.
//!   `true/false/yes/no/on/off` (any case) are booleans; a leading `$` makes a variable.
//! - `"…"` may span lines; escapes `\t \n \r \" \\ \xXX` (and `\uXXXX`, see below).
//!   `'…'` is raw. `(` starts a block string that ends at a `)` alone on its own line.
//! - Numbers: `123`, `-5`, `1.5`, with a size suffix `1k` (×1000), `1kb`/`1ki`/`1kib`
//!   (×1024), likewise m, g, t, p, e, any case. `127.0.0.1:4222` and `1.2.3` (two dots)
//!   are strings; `3xyz`, `1Ghz`, `1_000` are strings. `2016-05-04T18:53:41Z` is a datetime.
//! - `$NAME` resolves through the enclosing maps, innermost first (only keys written before
//!   the reference), then the environment, whose value is parsed as a config value. A value
//!   like `$2a$11$…` (bcrypt) is a literal string.
//! - `include path` parses another file (relative to the including file's directory) on
//!   its own and merges its keys into the current map.
//!
//! Duplicate keys are kept in order; [`Map::get`] returns the last (nats: later wins).
//!
//! # Deliberate differences from nats-server
//! Checked against the nats-server 2.15.1 release (`nats-server -t` prints a digest of the
//! parsed map). Where its sources in `/work/ref/conf` differ, this follows the release: a
//! digit right after a size suffix makes a string (`1k5`), where the sources fail.
//!
//! Read differently although nats accepts them:
//! - In an array, a plain number directly followed by `]` is a number: `[1, 2]` holds two
//!   Ints (nats folds the `]` into the string "2]" and then, as a rule, fails on the
//!   unclosed array). Elsewhere `4]` is the string "4]", as in nats.
//! - A leading UTF-8 byte-order mark is skipped (nats makes it part of the first key); bytes
//!   that are not UTF-8 are read as U+FFFD (so a Latin-1 comment is harmless).
//!
//! Errors here although nats accepts them (each a sign of a broken file):
//! - `\x` escapes that do not form UTF-8; a lone `/` after a value or before a map key
//!   (nats skips or drops it); a lone quote at the very end of the file.
//! - `{ key = }` and `{ key }` (nats then assigns the enclosing map to `key`); unknown size
//!   suffixes such as `1kbb` (nats drops the key) and size overflow such as `16EB` (nats
//!   wraps around).
//! - Includes of anything but a regular file of at most [`MAX_FILE_SIZE`] bytes.
//!
//! Accepted here although nats rejects them:
//! - `\uXXXX` escapes (JSON generators emit them); `$2b$`/`$2x$`/`$2y$` bcrypt hashes like
//!   `$2a$`; a value starting with `/` in an array (`[/a, /b]`); a value starting with a
//!   non-ASCII digit is a string (nats tries a number and fails).
//! - Top-level braces are fully transparent (`{ {a=1} b=2 }`), and a file may end inside
//!   them with or without a newline after the last value (nats: only with one).
//! - A block string's closing `)` may be followed by `\r\n` as well as `\n` or EOF.
//!
//! Errors instead of crashes or hangs: include cycles, nesting deeper than [`MAX_DEPTH`],
//! NUL bytes (nats reads NUL as end of input) and `$variable` expansions that would
//! multiply beyond a fixed memory budget.
//!
//! # Errors
//! Each [`ConfError`] has an [`ErrorKind`] and is shown the way nats-server shows that kind
//! (`conf/parse.go`, `server/errors.go`): `Parse error on line N: '…'` for what nats' lexer
//! refuses, reported on the line where its lexer stands then (the end of the text for what
//! is not closed, the next line after a newline it read); the parser's messages with their
//! own context (`variable reference for 'X' on line 3 can not be found`, `error parsing
//! include file 'a.conf', open …: no such file or directory`, `config is invalid (f:5:25)`);
//! `file:line:col: msg` for natrium's own checks and for option errors. [`report`] joins
//! them as nats-server prints them. Unlike nats, parsing goes on after an error that does not
//! break the syntax (an undefined variable, a missing include), so all of those are reported.

//!
//! # Layout
//! This file has the public types and the entry points; the reading is done by one
//! `Parser` whose methods are spread by concept, as nats' `conf/` separates its lexer
//! and parser: `parser.rs` (the cursor, entries, keys, value ends, arrays, maps),
//! `strings.rs`, `numbers.rs` (numbers, sizes, datetimes), `includes.rs`, `variables.rs`;
//! `duration.rs` is Go's duration syntax; `tests.rs` the unit tests.

mod duration;
mod includes;
mod numbers;
mod parser;
mod strings;
#[cfg(test)]
mod tests;
mod variables;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub use duration::{parse_duration, parse_duration_nanos};
use includes::read_config;
use parser::{Parser, Shared};
use std::sync::Arc;

/// Deepest nesting of maps, arrays, top-level braces, includes and environment expansions
/// accepted: deeper input is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 256;
/// Longest chain of files including one another.
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// Largest config file, or included file, that is read.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Where something was written: file name (as given), 1-based line and column (in chars).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A value with the position of its first character (for strings, the opening quote).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    /// Integers, with size suffixes already applied (`1MB` = 1048576).
    Int(i64),
    Float(f64),
    String(String),
    /// A Zulu datetime literal (`2006-01-02T15:04:05Z`) as written; it has been validated.
    DateTime(String),
    Array(Vec<Spanned<Value>>),
    Map(Map),
}

impl Value {
    /// The kind of value, for error messages ("expected an integer, got a string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Spanned<Value>]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A map's entries in the order written; duplicates are kept (see [`Map::get`]).
///
/// The map also remembers which of its entries were referenced as `$variables` (nats'
/// `token.IsUsedVariable`): nats-server accepts an unknown key whose only purpose is to be
/// such a variable (`PERMS = {…}` used as `permissions: $PERMS`). Equality ignores that.
#[derive(Debug, Clone, Default)]
pub struct Map {
    pub entries: Vec<(Spanned<String>, Spanned<Value>)>,
    /// Indices into `entries` of the entries that a `$variable` referenced.
    used: Vec<usize>,
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.entries == other.entries
    }
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    /// The value of `key`, compared case-insensitively as nats-server's option handling
    /// does; when a key is repeated the last one wins, as in nats.
    pub fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// Like [`Map::get`] but also gives the key as written, with its position.
    pub fn get_entry(&self, key: &str) -> Option<&(Spanned<String>, Spanned<Value>)> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| eq_ignore_case(&k.value, key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Spanned<String>, Spanned<Value>)> {
        self.entries.iter()
    }

    /// Whether entry `index` (of [`Map::iter`]) was referenced as a `$variable`.
    pub fn is_used_variable(&self, index: usize) -> bool {
        self.used.contains(&index)
    }

    fn mark_used(&mut self, index: usize) {
        if !self.used.contains(&index) {
            self.used.push(index);
        }
    }
}

/// Unicode case-insensitive comparison without allocating (Go's `strings.ToLower` on both).
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// One problem found in a config, at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfError {
    pub pos: Pos,
    pub msg: String,
    /// Which stage found it; decides how it is shown.
    pub kind: ErrorKind,
}

/// Where a config error comes from. nats-server words each stage differently (`conf/parse.go`,
/// `server/errors.go`), and natrium shows each the same way ([`ConfError`]'s `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not in the format (what nats' lexer refuses, and the few things natrium
    /// refuses besides): `Parse error on line N: 'msg'`, nats' `itemError`.
    Syntax,
    /// A value the lexer accepted but the parser cannot use, worded as nats' parser words it
    /// with its own context (`variable reference for 'X' on line 3 can not be found`, `error
    /// parsing include file 'a.conf', …`, `integer '…' is out of the range`): the message alone.
    Parse,
    /// natrium's own checks while parsing, which nats-server does not make (`1kbb`, `\x`
    /// escapes that are not UTF-8, expansion limits): `file:line:col: msg`.
    ParseAt,
    /// Found while mapping keys onto options (`unknown field "foo"`): `file:line:col: msg`,
    /// nats-server's `configErr`.
    Option,
}

impl ConfError {
    /// An error about the option written at `pos` ([`ErrorKind::Option`]).
    pub fn option(pos: Pos, msg: impl Into<String>) -> ConfError {
        ConfError {
            pos,
            msg: msg.into(),
            kind: ErrorKind::Option,
        }
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Syntax => write!(f, "Parse error on line {}: '{}'", self.pos.line, self.msg),
            ErrorKind::Parse => f.write_str(&self.msg),
            ErrorKind::ParseAt | ErrorKind::Option => write!(f, "{}: {}", self.pos, self.msg),
        }
    }
}

/// The errors of a config as nats-server prints them after `nats-server: `: one per line; the
/// option errors (and warnings) of its `processConfigErr` each end with a newline, which
/// leaves an empty line after them, where a parse error is a single line.
pub fn report(errors: &[ConfError]) -> String {
    let lines: Vec<String> = errors.iter().map(ConfError::to_string).collect();
    let mut text = lines.join("\n");
    if errors.iter().any(|e| e.kind == ErrorKind::Option) {
        text.push('\n');
    }
    text
}

impl std::error::Error for ConfError {}

/// Parses config text. `file_name` is only used in positions; `include`s are resolved
/// relative to the current directory. Variables fall back to the process environment.
pub fn parse_str(text: &str, file_name: &str) -> Result<Map, Vec<ConfError>> {
    parse_str_with_env(text, file_name, &process_env)
}

/// [`parse_str`] with the environment supplied by `env` (for tests and embedding).
pub fn parse_str_with_env(
    text: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, Vec<ConfError>> {
    let mut shared = Shared::new(env);
    let parser = Parser::new(
        text,
        Arc::from(file_name),
        PathBuf::from("."),
        0,
        &mut shared,
    );
    finish(parser.run())
}

/// Reads and parses a config file; `include`s are relative to that file's directory.
pub fn parse_file(path: &Path) -> Result<Map, Vec<ConfError>> {
    parse_file_with_env(path, &process_env)
}

/// [`parse_file`] with the environment supplied by `env`.
pub fn parse_file_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, Vec<ConfError>> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    // The top file may be a pipe (`-c <(…)`), so only includes must be regular files.
    let text = read_config(path, false).map_err(|e| {
        vec![ConfError {
            pos: Pos {
                file: file.clone(),
                line: 1,
                col: 1,
            },
            msg: e,
            kind: ErrorKind::Parse,
        }]
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut shared = Shared::new(env);
    shared
        .includes
        .push(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    finish(Parser::new(&text, file, base, 0, &mut shared).run())
}

fn finish((map, errors): (Map, Vec<ConfError>)) -> Result<Map, Vec<ConfError>> {
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

fn process_env(name: &str) -> Option<String> {
    // std may panic on such names; no environment variable can have them anyway.
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}
