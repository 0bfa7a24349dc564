//! An account's `exports`, `imports` and `mappings` (and the top-level `mappings` of the
//! global account), read as nats-server's `parseAccountExports`, `parseAccountImports` and
//! `parseAccountMappings` read them. Whether an import names a defined account and an
//! export that allows it is checked once every account is read ([`crate::accounts`]).

use super::conf::{Map, Spanned, Value};
use super::file::{lower, Reader};
use crate::accounts::{Export, Import, MapDest, Mapping, ResponseType};

/// Go's `%T` of a configuration value, as nats-server's messages print it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::DateTime(_) => "time.Time",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

/// The entries of an `exports` or `imports` array (`what`: "Exports" or "Imports"), each a
/// map read by `entry` at its position.
fn parse_entries<T>(
    r: &mut Reader,
    v: &Spanned<Value>,
    what: &str,
    mut entry: impl FnMut(&mut Reader, &Map, &super::conf::Pos) -> Option<T>,
) -> Vec<T> {
    let Value::Array(items) = &v.value else {
        r.error(
            &v.pos,
            format!("{what} should be an array, got {}", go_type(&v.value)),
        );
        return Vec::new();
    };
    let item = what.trim_end_matches('s');
    let mut out = Vec::new();
    for it in items {
        let Value::Map(m) = &it.value else {
            r.error(
                &it.pos,
                format!(
                    "{item} Items should be a map with type entry, got {}",
                    go_type(&it.value)
                ),
            );
            continue;
        };
        if let Some(e) = entry(r, m, &it.pos) {
            out.push(e);
        }
    }
    out
}

/// `exports: [ {stream: …} | {service: …, response_type, response_threshold, accounts} ]`.
pub(crate) fn parse_exports(r: &mut Reader, v: &Spanned<Value>) -> Vec<Export> {
    parse_entries(r, v, "Exports", |r, m, _| parse_export(r, m))
}

fn parse_export(r: &mut Reader, m: &Map) -> Option<Export> {
    let mut e = Export::default();
    let (mut stream, mut service) = (false, false);
    let mut response_at = None;
    let mut threshold_at = None;
    for (i, (k, v)) in m.iter().enumerate() {
        match lower(k).as_str() {
            "stream" | "service" => {
                let is_service = lower(k) == "service";
                let Value::String(s) = &v.value else {
                    let what = if is_service { "service" } else { "stream" };
                    r.error(
                        &k.pos,
                        format!(
                            "Expected {what} name to be string, got {}",
                            go_type(&v.value)
                        ),
                    );
                    return None;
                };
                if (is_service && stream) || (!is_service && service) {
                    let (this, other) = if is_service {
                        ("service", "stream")
                    } else {
                        ("stream", "service")
                    };
                    r.error(
                        &k.pos,
                        format!("Detected {this} {s:?} but already saw a {other}"),
                    );
                    return None;
                }
                stream |= !is_service;
                service |= is_service;
                e.subject = s.clone();
                e.service = is_service;
            }
            "response" | "response_type" => {
                if response_at.is_some() {
                    r.error(&k.pos, "Duplicate response type definition");
                    return None;
                }
                response_at = Some(k.pos.clone());
                let Value::String(s) = &v.value else {
                    r.error(
                        &k.pos,
                        format!(
                            "Expected response type to be string, got {}",
                            go_type(&v.value)
                        ),
                    );
                    return None;
                };
                e.response = match s.to_ascii_lowercase().as_str() {
                    "single" | "singleton" => ResponseType::Singleton,
                    "stream" => ResponseType::Stream,
                    "chunk" | "chunked" => ResponseType::Chunked,
                    _ => {
                        r.error(&k.pos, format!("Unknown response type: {s:?}"));
                        return None;
                    }
                };
            }
            "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                if threshold_at.is_some() {
                    r.error(&k.pos, "Duplicate response threshold detected");
                    return None;
                }
                threshold_at = Some(k.pos.clone());
                let Value::String(s) = &v.value else {
                    r.error(
                        &k.pos,
                        format!(
                            "Expected response threshold to be a parseable time duration, got {}",
                            go_type(&v.value)
                        ),
                    );
                    return None;
                };
                match super::conf::parse_duration(s) {
                    Ok(d) => e.threshold = Some(d),
                    Err(_) => {
                        r.error(
                            &k.pos,
                            format!(
                            "Expected response threshold to be a parseable time duration, got {s:?}"
                        ),
                        );
                        return None;
                    }
                }
            }
            "accounts" => {
                if let Value::Array(names) = &v.value {
                    for n in names {
                        if let Value::String(s) = &n.value {
                            e.accounts.push(s.clone());
                        }
                    }
                }
            }
            "latency" => r.ignore(k, "service latency tracking"),
            "account_token_position" | "allow_trace" => {}
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    if !e.service {
        if let Some(pos) = response_at.or(threshold_at) {
            r.error(&pos, "Detected response directive on non-service");
            return None;
        }
    }
    (stream || service).then_some(e)
}

/// `imports: [ {stream: {account, subject}, prefix|to} | {service: {account, subject}, to,
/// share} ]`.
pub(crate) fn parse_imports(r: &mut Reader, v: &Spanned<Value>) -> Vec<Import> {
    parse_entries(r, v, "Imports", parse_import)
}

fn parse_import(r: &mut Reader, m: &Map, at: &super::conf::Pos) -> Option<Import> {
    let mut im = Import::default();
    let (mut stream, mut service) = (false, false);
    for (i, (k, v)) in m.iter().enumerate() {
        match lower(k).as_str() {
            "stream" | "service" => {
                let is_service = lower(k) == "service";
                if (is_service && stream) || (!is_service && service) {
                    let (this, other) = if is_service {
                        ("service", "stream")
                    } else {
                        ("stream", "service")
                    };
                    r.error(&k.pos, format!("Detected {this} but already saw a {other}"));
                    return None;
                }
                let Value::Map(am) = &v.value else {
                    let what = if is_service { "Service" } else { "Stream" };
                    r.error(
                        &k.pos,
                        format!(
                            "{what} entry should be an account map, got {}",
                            go_type(&v.value)
                        ),
                    );
                    return None;
                };
                let mut account = None;
                let mut subject = None;
                for (ak, av) in am.iter() {
                    if let Value::String(s) = &av.value {
                        match lower(ak).as_str() {
                            "account" => account = Some(s.clone()),
                            "subject" => subject = Some(s.clone()),
                            _ => {}
                        }
                    }
                }
                let (Some(account), Some(subject)) = (account, subject) else {
                    r.error(&k.pos, "Expect an account name and a subject");
                    return None;
                };
                stream |= !is_service;
                service |= is_service;
                im.service = is_service;
                im.account = account;
                im.subject = subject;
            }
            "prefix" => {
                if let Value::String(s) = &v.value {
                    im.prefix = s.clone();
                }
            }
            "to" => {
                if let Value::String(s) = &v.value {
                    im.to = s.clone();
                }
            }
            "share" => {
                if let Value::Bool(b) = v.value {
                    im.share = b;
                }
            }
            "allow_trace" => {}
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    if stream && !im.prefix.is_empty() && !im.to.is_empty() {
        r.error(
            at,
            "Stream import can not have a 'prefix' and a 'to' property",
        );
        return None;
    }
    (stream || service).then_some(im)
}

/// nats-server's checks of imports against the exports of the accounts just read (reported
/// at the `accounts` key, as nats-server reports them).
pub(crate) fn check_accounts(
    r: &mut Reader,
    key: &Spanned<String>,
    accounts: &[crate::auth::options::Account],
) {
    let shares: Vec<crate::accounts::AccountShares<'_>> = accounts
        .iter()
        .map(|a| crate::accounts::AccountShares {
            name: &a.name,
            exports: &a.exports,
            imports: &a.imports,
            mappings: &[],
            lenient: false,
        })
        .collect();
    let number = |name: &str| {
        accounts
            .iter()
            .position(|a| a.name == name)
            .map(|i| i as u32 + 1)
    };
    if let Err(errors) = crate::accounts::Sharing::build(&shares, number, "") {
        for e in errors {
            r.error(&key.pos, e);
        }
    }
}

/// `mappings { src: dest | {destination, weight, cluster} | [ … ] }`.
pub(crate) fn parse_mappings(r: &mut Reader, v: &Spanned<Value>) -> Vec<Mapping> {
    let Value::Map(m) = &v.value else {
        r.error(
            &v.pos,
            format!(
                "Expected a map of subject mappings, got {}",
                go_type(&v.value)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, (k, mv)) in m.iter().enumerate() {
        if m.is_used_variable(i) {
            continue;
        }
        if !crate::subject::is_valid_subject(k.value.as_bytes()) {
            r.error(
                &k.pos,
                format!("Subject {:?} is not a valid subject", k.value),
            );
            continue;
        }
        let dests = match &mv.value {
            Value::String(s) => vec![MapDest {
                subject: s.clone(),
                weight: 100,
                cluster: String::new(),
            }],
            Value::Array(items) => {
                let mut dests = Vec::new();
                for item in items {
                    if let Some(d) = map_dest(r, item) {
                        dests.push(d);
                    }
                }
                dests
            }
            Value::Map(_) => map_dest(r, mv).into_iter().collect(),
            other => {
                r.error(
                    &mv.pos,
                    format!("Unknown type {} for mapping destination", go_type(other)),
                );
                continue;
            }
        };
        let mapping = Mapping {
            subject: k.value.clone(),
            dests,
        };
        if let Err(e) = crate::accounts::check_mapping(&mapping) {
            r.error(&mv.pos, e);
            continue;
        }
        out.push(mapping);
    }
    out
}

fn map_dest(r: &mut Reader, v: &Spanned<Value>) -> Option<MapDest> {
    let Value::Map(m) = &v.value else {
        r.error(&v.pos, "Expected an entry for the mapping destination");
        return None;
    };
    let mut d = MapDest::default();
    let mut weighted = false;
    for (k, dv) in m.iter() {
        match lower(k).as_str() {
            "dest" | "destination" => {
                if let Value::String(s) = &dv.value {
                    d.subject = s.clone();
                }
            }
            "weight" => {
                let w = match &dv.value {
                    Value::String(s) => {
                        let s = s.strip_suffix('%').unwrap_or(s);
                        match s.parse::<i64>() {
                            Ok(w) => w,
                            Err(_) => {
                                r.error(
                                    &k.pos,
                                    format!("Invalid weight {s:?} for mapping destination"),
                                );
                                return None;
                            }
                        }
                    }
                    Value::Int(w) => *w,
                    other => {
                        r.error(
                            &k.pos,
                            format!("Unknown entry type for weight of {}\n", go_type(other)),
                        );
                        return None;
                    }
                };
                if !(0..=100).contains(&w) {
                    r.error(
                        &k.pos,
                        format!("Invalid weight {w} for mapping destination"),
                    );
                    return None;
                }
                d.weight = w as u8;
                weighted = true;
            }
            "cluster" => {
                if let Value::String(s) = &dv.value {
                    d.cluster = s.clone();
                }
            }
            _ => {
                r.error(
                    &k.pos,
                    format!("Unknown field {:?} for mapping destination", k.value),
                );
                return None;
            }
        }
    }
    if !weighted {
        r.error(
            &v.pos,
            format!("Missing weight for mapping destination {:?}", d.subject),
        );
        return None;
    }
    Some(d)
}
