//! `include` directives: the path after the keyword, reading the file (bounded in size, with
//! Go's error texts, which nats-server prints), joining its path as nats does, parsing it on
//! its own and merging its keys; include cycles and nesting limits.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::parser::{PResult, Parser};
use super::{ConfError, ErrorKind, Pos, MAX_DEPTH, MAX_FILE_SIZE, MAX_INCLUDE_DEPTH};

/// Reads a whole config file, bounded in size. Non-UTF-8 bytes become U+FFFD, so a
/// Latin-1 comment does not make a config that nats accepts unreadable. Failures read as
/// Go's `os.ReadFile` errors (`open a.conf: no such file or directory`), which nats-server
/// prints.
pub(super) fn read_config(path: &Path, regular_only: bool) -> Result<String, String> {
    let shown = path.display();
    let file = fs::File::open(path).map_err(|e| format!("open {shown}: {}", go_io_error(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("stat {shown}: {}", go_io_error(&e)))?;
    if meta.is_dir() {
        return Err(format!("read {shown}: is a directory"));
    }
    // A fifo or device (/dev/stdin, /dev/zero) could block or never end.
    if regular_only && !meta.is_file() {
        return Err(format!("'{shown}' is not a regular file"));
    }
    let mut buf = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("read {shown}: {}", go_io_error(&e)))?;
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("'{shown}' is larger than {MAX_FILE_SIZE} bytes"));
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// An I/O error as Go words it: the C library's text in lower case (`no such file or
/// directory`), without Rust's ` (os error 2)`.
fn go_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => &text[..i],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// nats joins an include onto the including file's directory with Go's `filepath.Join`,
/// which keeps even an absolute include path under that directory; so do we.
fn join_include(base: &Path, include: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    for comp in Path::new(include).components() {
        match comp {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            other => path.push(other.as_os_str()),
        }
    }
    path
}

impl<'a, 's, 'e> Parser<'a, 's, 'e> {
    /// The path after `include` (lexIncludeStart / lexInclude), then the include itself.
    pub(super) fn parse_include(&mut self) -> PResult<()> {
        self.skip_blank();
        let pos = self.pos();
        let path = match self.cur.peek() {
            Some(q @ ('\'' | '"')) => {
                self.cur.bump();
                let start = self.cur.off;
                loop {
                    match self.cur.peek() {
                        None => {
                            let msg = if q == '"' {
                                "Unexpected EOF in double quoted include"
                            } else {
                                "Unexpected EOF in quoted include"
                            };
                            return Err(self.fatal_at_eof(msg));
                        }
                        Some(c) if c == q => break,
                        Some(_) => {
                            self.cur.bump();
                        }
                    }
                }
                let path = self.slice(start, self.cur.off);
                self.cur.bump();
                path
            }
            Some('[') => {
                return Err(self.fatal(pos, "Expected include value but found start of an array"))
            }
            Some('{') => {
                return Err(self.fatal(pos, "Expected include value but found start of a map"))
            }
            Some('(') => {
                return Err(self.fatal(pos, "Expected include value but found start of a block"))
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                return Err(self.fatal(pos, "Expected include value but found start of a number"))
            }
            Some('\\') => {
                return Err(self.fatal(pos, "Expected include value but found escape sequence"))
            }
            c @ Some('\n' | '\r') => {
                let pos = self.after(&pos, c);
                return Err(self.fatal(pos, "Expected include value but found new line"));
            }
            None => return Err(self.fatal(pos, "Expected include value but found EOF")),
            Some(_) => {
                // lexIncludeString: up to a newline, blank, ';' or '}'; a `'` ends it too.
                let start = self.cur.off;
                while !matches!(
                    self.cur.peek(),
                    None | Some('\n' | '\r' | ';' | '}' | ' ' | '\t' | '\'')
                ) {
                    self.cur.bump();
                }
                let path = self.slice(start, self.cur.off);
                if self.cur.peek() == Some('\'') {
                    self.cur.bump();
                }
                path
            }
        };
        self.include_file(&pos, path);
        Ok(())
    }

    /// Parses an included file on its own (its variables cannot see ours, as in nats) and
    /// merges its keys into the current map. Failures are recorded, parsing goes on.
    fn include_file(&mut self, pos: &Pos, path: &str) {
        if path.is_empty() {
            self.error(pos.clone(), "Expected include value but found nothing");
            return;
        }
        let full = join_include(&self.base_dir, path);
        if self.shared.includes.len() > MAX_INCLUDE_DEPTH || self.depth >= MAX_DEPTH {
            self.parse_error(
                pos.clone(),
                format!(
                    "error parsing include file '{path}', includes are nested more than \
                     {MAX_INCLUDE_DEPTH} deep"
                ),
            );
            return;
        }
        let canon = fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
        if let Some(i) = self.shared.includes.iter().position(|p| *p == canon) {
            let chain: Vec<String> = self.shared.includes[i..]
                .iter()
                .chain(std::iter::once(&canon))
                .map(|p| p.display().to_string())
                .collect();
            self.parse_error(
                pos.clone(),
                format!(
                    "error parsing include file '{path}', include cycle: {}",
                    chain.join(" -> ")
                ),
            );
            return;
        }
        let text = match read_config(&full, true) {
            Ok(text) => text,
            Err(e) => {
                self.parse_error(
                    pos.clone(),
                    format!("error parsing include file '{path}', {e}"),
                );
                return;
            }
        };
        let file: Arc<str> = Arc::from(full.display().to_string());
        let base = full.parent().map(Path::to_path_buf).unwrap_or_default();
        self.shared.includes.push(canon);
        let (map, errors) = Parser::new(&text, file, base, self.depth + 1, self.shared).run();
        self.shared.includes.pop();
        // nats-server's words around each error of the included file, as it shows them;
        // the position stays the one inside that file.
        for e in errors {
            self.errors.push(ConfError {
                msg: format!("error parsing include file '{path}', {e}"),
                pos: e.pos,
                kind: ErrorKind::Parse,
            });
        }
        if let Some(scope) = self.scopes.last_mut() {
            let base = scope.entries.len();
            scope.used.extend(map.used.iter().map(|i| i + base));
            scope.entries.extend(map.entries);
        }
    }
}
