//! The `resolver` key of operator mode, read as nats-server's `opts.go` reads it: `MEMORY`
//! (accounts from `resolver_preload` only) or the nats-based `{ type: full, dir, … }`
//! resolver that keeps every account JWT in a directory and takes updates over `$SYS`.
//! The URL and cache resolvers are refused at start, naming what is missing, rather than
//! started with accounts that could never be found.

use std::path::PathBuf;
use std::time::Duration;

use super::conf::{self, Spanned, Value};
use super::file::Reader;

/// nats-server's `DEFAULT_ACCOUNT_FETCH_TIMEOUT`.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_millis(1900);
/// The full resolver's default sync `interval` (`NewDirAccResolver`).
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// What happens to an account JWT a delete request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeleteMode {
    /// `allow_delete` off: delete requests are refused.
    #[default]
    Refuse,
    /// Renamed to `<key>.jwt.deleted`.
    Rename,
    /// `hard_delete`: removed.
    Remove,
}

/// The account resolver of operator mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResolverOptions {
    /// `resolver: MEMORY`: the preloaded accounts; updates change loaded ones in memory.
    #[default]
    Memory,
    /// `resolver { type: full, dir, … }`.
    Full {
        dir: PathBuf,
        delete: DeleteMode,
        /// 0: no limit.
        limit: i64,
        interval: Duration,
        timeout: Duration,
    },
}

/// Reads the value of `resolver` (or its aliases) into `Some`, or records nats-server's
/// error (or natrium's refusal) and gives `None`.
pub(crate) fn parse_resolver(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<ResolverOptions> {
    let m = match &v.value {
        Value::String(s) => {
            let upper = s.trim().to_ascii_uppercase();
            if upper.starts_with("MEM") {
                return Some(ResolverOptions::Memory);
            }
            if upper.starts_with("URL") {
                r.error(
                    &key.pos,
                    format!(
                        "{}: the URL resolver is not supported by natrium yet; use MEMORY or \
                         {{ type: full, dir: ... }}",
                        key.value
                    ),
                );
                return None;
            }
            r.error(&key.pos, BAD_RESOLVER.to_string());
            return None;
        }
        Value::Map(m) => m,
        other => {
            r.error(
                &key.pos,
                format!(
                    "error parsing operator resolver, wrong type {}",
                    other.type_name()
                ),
            );
            return None;
        }
    };
    let text = |r: &mut Reader, name: &str| -> Option<String> {
        let (k, v) = m.get_entry(name)?;
        r.string(k, v)
    };
    let flag = |r: &mut Reader, name: &str| -> Option<bool> {
        let (k, v) = m.get_entry(name)?;
        r.boolean(k, v)
    };
    let dir = text(r, "dir").unwrap_or_default();
    let kind = text(r, "type").unwrap_or_default().to_ascii_uppercase();
    let allow_delete = flag(r, "allow_delete").unwrap_or(false);
    let hard_delete = flag(r, "hard_delete");
    let limit = m
        .get_entry("limit")
        .and_then(|(k, v)| r.int(k, v))
        .unwrap_or(0);
    let mut go_duration = |name: &str| -> Result<Option<Duration>, ()> {
        let Some((k, v)) = m.get_entry(name) else {
            return Ok(None);
        };
        let s = r.string(k, v).ok_or(())?;
        conf::parse_duration(&s).map(Some).map_err(|e| {
            r.error(&key.pos, e);
        })
    };
    let (Ok(ttl), Ok(interval), Ok(timeout)) = (
        go_duration("ttl"),
        go_duration("interval"),
        go_duration("timeout"),
    ) else {
        return None;
    };
    let check_dir = |r: &mut Reader| {
        if dir.is_empty() {
            r.error(
                &key.pos,
                "dir has no value and needs to point to a directory".to_string(),
            );
        } else if std::fs::metadata(&dir).is_ok_and(|md| !md.is_dir()) {
            r.error(
                &key.pos,
                "dir needs to point to an accessible directory".to_string(),
            );
        }
    };
    match kind.as_str() {
        "FULL" => {
            check_dir(r);
            if ttl.is_some_and(|t| !t.is_zero()) {
                r.error(&key.pos, "FULL does not accept ttl".to_string());
            }
            if hard_delete.is_some() && !allow_delete {
                r.error(
                    &key.pos,
                    "hard_delete has no effect without delete".to_string(),
                );
            }
            if timeout.is_some_and(|t| t.is_zero()) {
                r.error(&key.pos, "Fetch timeout 0s is too smal".to_string());
            }
            let delete = match (allow_delete, hard_delete.unwrap_or(false)) {
                (false, _) => DeleteMode::Refuse,
                (true, false) => DeleteMode::Rename,
                (true, true) => DeleteMode::Remove,
            };
            Some(ResolverOptions::Full {
                dir: PathBuf::from(dir),
                delete,
                limit,
                interval: interval
                    .filter(|i| !i.is_zero())
                    .unwrap_or(DEFAULT_SYNC_INTERVAL),
                timeout: timeout.unwrap_or(DEFAULT_FETCH_TIMEOUT),
            })
        }
        "CACHE" => {
            r.error(
                &key.pos,
                format!(
                    "{}: the CACHE resolver is not supported by natrium yet (it fetches \
                     accounts from other servers); use type: full",
                    key.value
                ),
            );
            None
        }
        "MEM" | "MEMORY" => Some(ResolverOptions::Memory),
        _ => {
            r.error(&key.pos, BAD_RESOLVER.to_string());
            None
        }
    }
}

/// nats-server's text (with its double space) for a resolver it cannot read.
const BAD_RESOLVER: &str = "error parsing account resolver, should be MEM or  \
                            URL(\"url\") or a map containing dir and type state=[FULL|CACHE])";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;

    fn resolver(text: &str) -> Result<ResolverOptions, Vec<String>> {
        let map = conf::parse_str(text, "t.conf").map_err(|e| vec![format!("{e:?}")])?;
        let mut o = Options::default();
        super::super::file::apply(&map, &mut o)
            .map(|_| o.resolver)
            .map_err(|errs| errs.into_iter().map(|e| e.msg).collect())
    }

    #[test]
    fn the_resolver_nsc_writes_is_read() {
        let dir = std::env::temp_dir().join(format!("natrium-resolver-{}", std::process::id()));
        let text = format!(
            "resolver {{\n type: full\n dir: '{}'\n allow_delete: true\n interval: \"2m\"\n \
             timeout: \"1.9s\"\n limit: 1000\n}}\n",
            dir.display()
        );
        assert_eq!(
            resolver(&text),
            Ok(ResolverOptions::Full {
                dir: dir.clone(),
                delete: DeleteMode::Rename,
                limit: 1000,
                interval: Duration::from_secs(120),
                timeout: Duration::from_millis(1900),
            })
        );
        let hard = format!(
            "resolver: {{ type: full, dir: '{}', allow_delete: true, hard_delete: true }}",
            dir.display()
        );
        match resolver(&hard) {
            Ok(ResolverOptions::Full {
                delete, interval, ..
            }) => {
                assert_eq!(delete, DeleteMode::Remove);
                assert_eq!(interval, DEFAULT_SYNC_INTERVAL);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(resolver("resolver: MEMORY"), Ok(ResolverOptions::Memory));
    }

    #[test]
    fn what_nats_server_refuses_is_refused_with_its_text() {
        let dir = std::env::temp_dir().display().to_string();
        for (text, want) in [
            (
                "resolver: { type: full }".to_string(),
                "dir has no value and needs to point to a directory",
            ),
            (
                format!("resolver: {{ type: full, dir: '{dir}', ttl: \"1m\" }}"),
                "FULL does not accept ttl",
            ),
            (
                format!("resolver: {{ type: full, dir: '{dir}', hard_delete: true }}"),
                "hard_delete has no effect without delete",
            ),
            ("resolver: LDAP".to_string(), BAD_RESOLVER),
        ] {
            let errs = resolver(&text).expect_err(&text);
            assert!(errs.iter().any(|e| e == want), "{text}: {errs:?}");
        }
        for text in [
            "resolver: URL(\"http://localhost:9090/jwt/v1/accounts/\")".to_string(),
            format!("resolver: {{ type: cache, dir: '{dir}' }}"),
        ] {
            let errs = resolver(&text).expect_err(&text);
            assert!(
                errs.iter()
                    .any(|e| e.contains("not supported by natrium yet")),
                "{text}: {errs:?}"
            );
        }
    }
}
