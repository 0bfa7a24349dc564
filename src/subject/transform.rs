//! Subject transforms for a stream's `subject_transform` and `republish`: a source
//! pattern (`*`, trailing `>`) mapped onto a destination whose tokens are literals, `$N`
//! or `{{wildcard(N)}}` (the N-th `*` of the source) and a trailing `>` (what the source's
//! `>` matched), as nats-server's `NewSubjectTransform` reads them. Its other mapping
//! functions (`partition`, `split`, …) are not supported yet and are refused.

use crate::subject;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Wildcard(usize),
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    source: Vec<String>,
    dest: Vec<Part>,
}

/// The `N` of a `$N` or `{{wildcard(N)}}` token.
fn reference(tok: &str) -> Option<Result<usize, String>> {
    if let Some(n) = tok.strip_prefix('$') {
        return Some(
            n.parse()
                .map_err(|_| format!("invalid mapping token {tok:?}")),
        );
    }
    let inner = tok.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let args = match inner.strip_prefix("wildcard") {
        Some(rest) => rest.trim(),
        None => return Some(Err(format!("mapping function {inner:?} is not supported"))),
    };
    let n = args
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'))
        .map(str::trim)
        .and_then(|a| a.parse().ok());
    Some(n.ok_or_else(|| format!("invalid mapping token {tok:?}")))
}

impl Transform {
    /// A transform from `source` (empty: `>`) to `dest`, or why it is not one.
    pub fn new(source: &str, dest: &str) -> Result<Transform, String> {
        let source = if source.is_empty() { ">" } else { source };
        if !subject::is_valid_subject(source.as_bytes()) {
            return Err(format!("invalid source subject {source:?}"));
        }
        let source: Vec<String> = source.split('.').map(String::from).collect();
        let wildcards = source.iter().filter(|t| *t == "*").count();
        let source_rest = source.last().is_some_and(|t| t == ">");
        if dest.is_empty() {
            return Err("empty destination".into());
        }
        let tokens: Vec<&str> = dest.split('.').collect();
        let mut parts = Vec::with_capacity(tokens.len());
        for (i, tok) in tokens.iter().enumerate() {
            let part = match *tok {
                "" => return Err(format!("invalid destination subject {dest:?}")),
                "*" => return Err("destination can not contain \"*\"".into()),
                ">" if i + 1 == tokens.len() && source_rest => Part::Rest,
                ">" => return Err("destination \">\" needs a source ending in \">\"".into()),
                t => match reference(t) {
                    Some(Ok(n)) if n >= 1 && n <= wildcards => Part::Wildcard(n),
                    Some(Ok(n)) => {
                        return Err(format!(
                            "invalid mapping destination: wildcard index out of range in {t}: [{n}]"
                        ))
                    }
                    Some(Err(e)) => return Err(e),
                    None => Part::Literal(t.to_string()),
                },
            };
            parts.push(part);
        }
        Ok(Transform {
            source,
            dest: parts,
        })
    }

    /// The destination for `subject`, when the source matches it.
    pub fn apply(&self, subject: &str) -> Option<String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut stars = Vec::new();
        let mut rest: &[&str] = &[];
        for (i, pat) in self.source.iter().enumerate() {
            match pat.as_str() {
                ">" => {
                    rest = tokens.get(i..).filter(|r| !r.is_empty())?;
                    break;
                }
                "*" => stars.push(*tokens.get(i)?),
                lit => {
                    if tokens.get(i) != Some(&lit) {
                        return None;
                    }
                }
            }
            if i + 1 == self.source.len() && tokens.len() != self.source.len() {
                return None;
            }
        }
        let mut out: Vec<&str> = Vec::new();
        for part in &self.dest {
            match part {
                Part::Literal(l) => out.push(l),
                Part::Wildcard(n) => out.push(stars.get(n - 1)?),
                Part::Rest => out.extend_from_slice(rest),
            }
        }
        Some(out.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_rest() {
        let t = Transform::new("a.*.*", "b.$2.{{wildcard(1)}}").unwrap();
        assert_eq!(t.apply("a.x.y").as_deref(), Some("b.y.x"));
        assert_eq!(t.apply("a.x"), None);
        assert_eq!(t.apply("a.x.y.z"), None);
        let t = Transform::new("", "rp.>").unwrap();
        assert_eq!(t.apply("k.v").as_deref(), Some("rp.k.v"));
        let t = Transform::new("in.>", "out.{{ wildcard( 1 ) }}.>").err();
        assert!(t.is_some(), "no * in the source");
        assert!(Transform::new("a.*", "b.{{partition(3,1)}}").is_err());
        assert!(Transform::new("a.*", "b.*").is_err());
        let t = Transform::new("a.*", "fixed").unwrap();
        assert_eq!(t.apply("a.q").as_deref(), Some("fixed"));
    }
}
