//! `$variable` references: a bcrypt hash as a literal, else the enclosing maps innermost
//! first, else the environment, whose value is parsed as a config value of its own; and the
//! bounds on what the copies may cost (memory and nesting).

use std::path::PathBuf;
use std::sync::Arc;

use super::parser::Parser;
use super::{ConfError, Pos, Spanned, Value, MAX_DEPTH};

/// Approximate bytes that `$variable` copies may add in all, so that a small input
/// referencing variables that reference variables cannot exhaust memory.
pub(super) const EXPANSION_BUDGET: usize = 64 * 1024 * 1024;
/// Rough heap cost of one value node, used against [`EXPANSION_BUDGET`].
const NODE_COST: usize = std::mem::size_of::<Spanned<Value>>();

impl<'a, 's, 'e> Parser<'a, 's, 'e> {
    fn expansion_error(&mut self, e: Excess, name: &str, pos: &Pos) {
        let msg = match e {
            Excess::TooBig => format!(
                "variable reference for '{name}' expands the config beyond {EXPANSION_BUDGET} bytes"
            ),
            Excess::TooDeep => format!(
                "variable reference for '{name}' nests values deeper than {MAX_DEPTH} levels"
            ),
        };
        self.error(pos.clone(), msg);
    }

    /// `$name` (parse.go lookupVariable): a bcrypt hash, else the enclosing maps innermost
    /// first, else the environment. The copy takes the reference's position.
    pub(super) fn resolve_variable(&mut self, name: &str, pos: &Pos) -> Option<Spanned<Value>> {
        // bcrypt hashes ($2a$10$…) are common unquoted passwords.
        if ["2a$", "2b$", "2x$", "2y$"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            return Some(Spanned {
                value: Value::String(format!("${name}")),
                pos: pos.clone(),
            });
        }
        let copy = {
            let hit = self.scopes.iter_mut().rev().find_map(|m| {
                let i = m.entries.iter().rposition(|(k, _)| k.value == name)?;
                m.mark_used(i);
                m.entries.get(i).map(|(_, v)| v)
            });
            hit.map(|v| {
                let max_depth = MAX_DEPTH.saturating_sub(self.depth);
                measure(&v.value, self.shared.budget, max_depth).map(|cost| (cost, v.clone()))
            })
        };
        match copy {
            Some(Ok((cost, mut v))) => {
                self.shared.budget -= cost;
                v.pos = pos.clone();
                return Some(v);
            }
            Some(Err(e)) => {
                self.expansion_error(e, name, pos);
                return None;
            }
            None => {}
        }
        // nats' parser names the line of the reference in these.
        let line = pos.line;
        if self.shared.env_refs.iter().any(|r| r == name) {
            self.parse_error(
                pos.clone(),
                format!(
                    "variable reference for '{name}' on line {line} could not be parsed: \
                     variable reference cycle for '{name}'"
                ),
            );
            return None;
        }
        let Some(raw) = (self.shared.env)(name) else {
            self.parse_error(
                pos.clone(),
                format!("variable reference for '{name}' on line {line} can not be found"),
            );
            return None;
        };
        if self.depth >= MAX_DEPTH {
            self.error(
                pos.clone(),
                format!("variable reference for '{name}' nests deeper than {MAX_DEPTH} levels"),
            );
            return None;
        }
        // nats parses `pk=<value>` as a config of its own: `4MB` becomes an Int, a quoted
        // value a string, `{…}` a map; only the environment is visible to it.
        let text = format!("pk={raw}");
        self.shared.env_refs.push(name.to_string());
        let file: Arc<str> = Arc::from(format!("${name}"));
        let (map, errors) =
            Parser::new(&text, file, PathBuf::from("."), self.depth + 1, self.shared).run();
        self.shared.env_refs.pop();
        if !errors.is_empty() {
            let detail: Vec<String> = errors.iter().map(ConfError::to_string).collect();
            self.parse_error(
                pos.clone(),
                format!(
                    "variable reference for '{name}' on line {line} could not be parsed: {}",
                    detail.join("; ")
                ),
            );
            return None;
        }
        match map.entries.into_iter().rev().find(|(k, _)| k.value == "pk") {
            Some((_, mut v)) => {
                // Environment values referencing each other could also multiply.
                let max_depth = MAX_DEPTH.saturating_sub(self.depth);
                match measure(&v.value, self.shared.budget, max_depth) {
                    Ok(cost) => self.shared.budget -= cost,
                    Err(e) => {
                        self.expansion_error(e, name, pos);
                        return None;
                    }
                }
                repoint(&mut v, pos);
                Some(v)
            }
            None => {
                self.parse_error(
                    pos.clone(),
                    format!("variable reference for '{name}' on line {line} could not be parsed"),
                );
                None
            }
        }
    }
}

/// Points a value from the environment, and everything in it, at the reference.
fn repoint(v: &mut Spanned<Value>, pos: &Pos) {
    v.pos = pos.clone();
    match &mut v.value {
        Value::Array(items) => items.iter_mut().for_each(|x| repoint(x, pos)),
        Value::Map(m) => {
            for (k, x) in &mut m.entries {
                k.pos = pos.clone();
                repoint(x, pos);
            }
        }
        _ => {}
    }
}

/// Why a `$variable` copy is refused.
enum Excess {
    /// Copies would pass [`EXPANSION_BUDGET`].
    TooBig,
    /// The copy would nest deeper than [`MAX_DEPTH`] where it lands (copies of copies
    /// could otherwise build trees deep enough to overflow the stack when cloned or dropped).
    TooDeep,
}

/// The approximate memory of a value, checked against the budget `limit` and the nesting
/// `max_depth` allowed where it goes; the walk stops as soon as either is passed.
fn measure(v: &Value, limit: usize, max_depth: usize) -> Result<usize, Excess> {
    let mut total = 0usize;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        total = total.saturating_add(NODE_COST);
        match v {
            Value::String(s) | Value::DateTime(s) => total = total.saturating_add(s.len()),
            Value::Array(items) => {
                if depth >= max_depth {
                    return Err(Excess::TooDeep);
                }
                stack.extend(items.iter().map(|x| (&x.value, depth + 1)));
            }
            Value::Map(m) => {
                if depth >= max_depth {
                    return Err(Excess::TooDeep);
                }
                for (k, x) in &m.entries {
                    total = total.saturating_add(k.value.len());
                    stack.push((&x.value, depth + 1));
                }
            }
            _ => {}
        }
        if total > limit {
            return Err(Excess::TooBig);
        }
    }
    Ok(total)
}
