//! Typed security options read from the configuration file: the `authorization {}` block
//! (users, passwords, tokens, nkeys, permissions) and the client `tls {}` block, parsed with
//! nats-server's keys, aliases and error texts (`opts.go` `parseAuthorization`,
//! `parseUsers`, `parseUserPermissions`, `parseTLS`).
//!
//! The authorization types are [`crate::auth::options`]' (one set, shared with the command
//! line and the engine that enforces them, [`crate::auth`]).

use std::time::Duration;

use super::conf::{self, Map, Spanned, Value};
use super::file::{lower, Reader};
use crate::auth::CONNECTION_TYPES;

/// The authorization option types are the engine's own (`crate::auth::options`): this
/// module only fills them in from the file.
pub use crate::auth::options::{
    Account, Authorization, NkeyUser, Permissions, ResponsePermission, SubjectPermission, User,
    DEFAULT_ALLOW_RESPONSE_EXPIRATION, DEFAULT_ALLOW_RESPONSE_MAX_MSGS, GLOBAL_ACCOUNT,
};
/// nats-server's default `tls { handshake_first: auto }` fallback delay.
pub const DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY: Duration = Duration::from_millis(50);

/// `tls { handshake_first }`: off, on, or on with a fallback to the INFO-first protocol.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HandshakeFirst {
    #[default]
    Off,
    On,
    /// `auto` or a duration: wait this long for a TLS ClientHello, else send INFO.
    Auto(Duration),
}

/// The client `tls {}` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    pub cert_file: String,
    pub key_file: String,
    pub ca_file: String,
    /// `certs [ {cert_file, key_file} ]`: several certificates (SNI).
    pub certs: Vec<(String, String)>,
    pub verify: bool,
    pub verify_and_map: bool,
    pub verify_cert_and_check_known_urls: bool,
    pub insecure: bool,
    /// Handshake timeout; nats-server's default is 2 s (a float of seconds in the file).
    pub timeout: Option<Duration>,
    pub handshake_first: HandshakeFirst,
    /// "1.2" or "1.3".
    pub min_version: String,
    pub cipher_suites: Vec<String>,
    pub curve_preferences: Vec<String>,
    pub allow_insecure_cipher_suites: bool,
    pub pinned_certs: Vec<String>,
    pub connection_rate_limit: i64,
    /// Keys natrium has no counterpart for (OCSP peer checks, the Windows certificate store).
    pub unsupported: Vec<String>,
}

impl TlsConfig {
    /// Whether anything at all is set (an empty `tls {}` configures nothing).
    pub fn is_configured(&self) -> bool {
        *self != TlsConfig::default()
    }
}

/// The top-level `authorization {}` block: [`read_authorization`] plus the checks
/// nats-server's `processConfigFileLine` makes on it (user/pass with a token, a single user
/// beside a users array, duplicate users).
pub(crate) fn parse_authorization(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<Authorization> {
    let m = r.map(key, v)?;
    let auth = read_authorization(r, key, v)?;
    if (!auth.user.is_empty() || !auth.password.is_empty()) && !auth.token.is_empty() {
        r.error(&key.pos, "Cannot have a user/pass and token");
    }
    if m.get("users").is_some() {
        if !auth.user.is_empty() {
            r.error(
                &key.pos,
                "Can not have a single user/pass and a users array",
            );
        }
        if !auth.token.is_empty() {
            r.error(&key.pos, "Can not have a token and a users array");
        }
    }
    let mut seen = std::collections::HashSet::new();
    for name in auth
        .users
        .iter()
        .map(|u| &u.username)
        .chain(auth.nkeys.iter().map(|n| &n.nkey))
    {
        if !seen.insert(name.clone()) {
            r.error(&key.pos, format!("Duplicate user {name:?} detected"));
        }
    }
    Some(auth)
}

/// nats-server's `parseAuthorization`: the keys of an `authorization {}` block, as the
/// top-level block and `cluster { authorization {} }` share them. Users without permissions
/// of their own get the block's default ones.
pub(crate) fn read_authorization(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<Authorization> {
    let m = r.map(key, v)?;
    let mut auth = Authorization::default();
    for (i, (k, mv)) in m.iter().enumerate() {
        match lower(k).as_str() {
            "user" | "username" => set(&mut auth.user, r.string(k, mv)),
            "pass" | "password" => set(&mut auth.password, r.string(k, mv)),
            "token" => set(&mut auth.token, r.string(k, mv)),
            "timeout" => {
                auth.timeout = timeout_seconds(r, k, mv, "authorization");
                if let Some(t) = auth.timeout {
                    if t > Duration::from_secs(60) {
                        r.warnings.push(conf::ConfError::option(
                            k.pos.clone(),
                            format!(
                                "invalid use of field {:?}: timeout of {} ({:.6} seconds) is \
                                 high, consider keeping it under 60 seconds. possibly caused by \
                                 unquoted duration; use '1m' instead of 1m, for example",
                                k.value,
                                as_written(&mv.value),
                                t.as_secs_f64()
                            ),
                        ));
                    }
                }
            }
            "users" => {
                if let Some((users, nkeys)) = parse_users(r, k, mv) {
                    auth.users = users;
                    auth.nkeys = nkeys;
                }
            }
            "default_permission" | "default_permissions" | "permissions" => {
                auth.default_permissions = parse_permissions(r, k, mv);
            }
            "auth_callout" | "auth_hook" => {
                auth.auth_callout = true;
            }
            "proxy_required" => set(&mut auth.proxy_required, r.boolean(k, mv)),
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    // Users without permissions of their own get the default ones.
    if let Some(p) = &auth.default_permissions {
        for u in &mut auth.users {
            if u.permissions.is_none() {
                u.permissions = Some(p.clone());
            }
        }
        for n in &mut auth.nkeys {
            if n.permissions.is_none() {
                n.permissions = Some(p.clone());
            }
        }
    }
    Some(auth)
}

/// nats-server's `parseAccounts`: an array of account names, or a map of accounts with their
/// users, exports, imports and mappings. Keys natrium does not implement (limits, message
/// tracing) are accepted and reported as ignored.
/// Returns the accounts and where the first users list is (for the checks against the
/// `authorization` block, which may come later in the file).
pub(crate) fn parse_accounts(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> (Vec<Account>, Option<conf::Pos>) {
    let mut accounts: Vec<Account> = Vec::new();
    let mut users_pos = None;
    match &v.value {
        Value::Array(names) => {
            for n in names {
                let Value::String(name) = &n.value else {
                    r.error(&n.pos, "Expected account name to be a string");
                    continue;
                };
                if name == GLOBAL_ACCOUNT {
                    r.error(&n.pos, format!("{name:?} is a Reserved Account"));
                } else if accounts.iter().any(|a| &a.name == name) {
                    r.error(&n.pos, format!("Duplicate Account Entry: {name}"));
                } else {
                    accounts.push(Account {
                        name: name.clone(),
                        ..Account::default()
                    });
                }
            }
        }
        Value::Map(m) => {
            // User names and nkeys are unique across accounts.
            let mut seen = std::collections::HashSet::new();
            for (i, (name, av)) in m.iter().enumerate() {
                if m.is_used_variable(i) {
                    continue;
                }
                let Value::Map(am) = &av.value else {
                    r.error(&av.pos, "Expected map entries for accounts");
                    continue;
                };
                if name.value == GLOBAL_ACCOUNT {
                    r.error(&av.pos, format!("{:?} is a Reserved Account", name.value));
                    continue;
                }
                let mut acc = Account {
                    name: name.value.clone(),
                    ..Account::default()
                };
                let mut default_perms = None;
                let mut this_users_pos = None;
                for (j, (k, mv)) in am.iter().enumerate() {
                    match lower(k).as_str() {
                        "users" => {
                            this_users_pos = Some(k.pos.clone());
                            if let Some((users, nkeys)) = parse_users(r, k, mv) {
                                acc.users = users;
                                acc.nkeys = nkeys;
                            }
                        }
                        "default_permissions" => default_perms = parse_permissions(r, k, mv),
                        "nkey" => {
                            let ok = matches!(&mv.value, Value::String(s)
                                if s.starts_with('A')
                                    && nkeys::KeyPair::from_public_key(s).is_ok());
                            if !ok {
                                r.error(
                                    &k.pos,
                                    format!(
                                        "Not a valid public nkey for an account: {}",
                                        value_text(&mv.value)
                                    ),
                                );
                            }
                        }
                        "imports" => acc.imports = super::sharing::parse_imports(r, mv),
                        "exports" => acc.exports = super::sharing::parse_exports(r, mv),
                        "mappings" | "maps" => acc.mappings = super::sharing::parse_mappings(r, mv),
                        "limits" => r.ignore(k, "account limits"),
                        "jetstream" => {
                            (acc.jetstream, acc.jetstream_limits) =
                                super::jetstream::account_jetstream(r, k, mv)
                        }
                        "msg_trace" => r.ignore(k, "message tracing"),
                        _ => {
                            if !am.is_used_variable(j) {
                                r.unknown(k);
                            }
                        }
                    }
                }
                if let Some(p) = &default_perms {
                    for u in &mut acc.users {
                        u.permissions.get_or_insert_with(|| p.clone());
                    }
                    for n in &mut acc.nkeys {
                        n.permissions.get_or_insert_with(|| p.clone());
                    }
                }
                let pos = this_users_pos.unwrap_or_else(|| av.pos.clone());
                for n in &mut acc.nkeys {
                    if !seen.insert(n.nkey.clone()) {
                        r.error(&pos, format!("Duplicate nkey {:?} detected", n.nkey));
                    }
                    n.account = Some(acc.name.clone());
                }
                for u in &mut acc.users {
                    if !seen.insert(u.username.clone()) {
                        r.error(&pos, format!("Duplicate user {:?} detected", u.username));
                    }
                    u.account = Some(acc.name.clone());
                }
                if users_pos.is_none() && !(acc.users.is_empty() && acc.nkeys.is_empty()) {
                    users_pos = Some(pos);
                }
                accounts.push(acc);
            }
        }
        other => r.error(
            &key.pos,
            format!(
                "Expected an array or map of accounts, got {}",
                other.type_name()
            ),
        ),
    }
    (accounts, users_pos)
}

/// A number or string as Go's `%v` prints it (nats-server quotes the timeout as written).
pub(crate) fn as_written(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        other => other.type_name().to_string(),
    }
}

/// A value as Go's `%q` would show a string (other types by their type name).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.type_name().to_string(),
    }
}

/// A timeout given as seconds (int or float) or as a duration string.
pub(crate) fn timeout_seconds(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    block: &str,
) -> Option<Duration> {
    let secs = match &v.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => match conf::parse_duration(s) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => {
                r.error(
                    &k.pos,
                    format!("error parsing {block} config, 'timeout' {e}"),
                );
                return None;
            }
        },
        _ => {
            r.error(
                &k.pos,
                format!("error parsing {block} config, 'timeout' wrong type"),
            );
            return None;
        }
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => Some(d),
        Err(_) => {
            r.error(
                &k.pos,
                format!(
                    "error parsing {block} config, 'timeout' must be a positive number of seconds"
                ),
            );
            None
        }
    }
}

/// nats-server's `parseUsers`.
fn parse_users(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<(Vec<User>, Vec<NkeyUser>)> {
    let Value::Array(items) = &v.value else {
        r.error(
            &key.pos,
            format!(
                "Expected users field to be an array, got {}",
                v.value.type_name()
            ),
        );
        return None;
    };
    let mut users = Vec::new();
    let mut nkeys = Vec::new();
    for item in items {
        let Value::Map(um) = &item.value else {
            r.error(
                &item.pos,
                format!(
                    "Expected user entry to be a map/struct, got {}",
                    item.value.type_name()
                ),
            );
            continue;
        };
        let mut user = User::default();
        let mut nkey = NkeyUser::default();
        let mut perms = None;
        for (i, (k, mv)) in um.iter().enumerate() {
            match lower(k).as_str() {
                "nkey" => set(&mut nkey.nkey, r.string(k, mv)),
                "user" | "username" => set(&mut user.username, r.string(k, mv)),
                "pass" | "password" => set(&mut user.password, r.string(k, mv)),
                "permission" | "permissions" | "authorization" => {
                    perms = parse_permissions(r, k, mv);
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    if let Some(types) = string_list(r, k, mv) {
                        for t in &types {
                            if !CONNECTION_TYPES.contains(&t.to_ascii_uppercase().as_str()) {
                                r.error(&k.pos, format!("invalid connection types [{t:?}]"));
                            }
                        }
                        user.allowed_connection_types = types.clone();
                        nkey.allowed_connection_types = types;
                    }
                }
                "proxy_required" => {
                    if let Some(b) = r.boolean(k, mv) {
                        user.proxy_required = b;
                        nkey.proxy_required = b;
                    }
                }
                _ => {
                    if !um.is_used_variable(i) {
                        r.unknown(k);
                    }
                }
            }
        }
        if nkey.nkey.is_empty() && user.username.is_empty() {
            r.error(&item.pos, "User entry requires a user");
            continue;
        }
        if !nkey.nkey.is_empty() {
            if !is_public_user_key(&nkey.nkey) {
                r.error(&item.pos, "Not a valid public nkey for a user");
                continue;
            }
            if !user.username.is_empty() || !user.password.is_empty() {
                r.error(&item.pos, "Nkey users do not take usernames or passwords");
                continue;
            }
            nkey.permissions = perms;
            nkeys.push(nkey);
        } else {
            user.permissions = perms;
            users.push(user);
        }
    }
    Some((users, nkeys))
}

pub(crate) fn is_public_user_key(k: &str) -> bool {
    k.starts_with('U') && nkeys::KeyPair::from_public_key(k).is_ok()
}

/// nats-server's `parseUserPermissions`.
pub(crate) fn parse_permissions(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<Permissions> {
    let Value::Map(pm) = &v.value else {
        r.error(
            &key.pos,
            format!(
                "Expected permissions to be a map/struct, got {}",
                v.value.type_name()
            ),
        );
        return None;
    };
    let mut p = Permissions::default();
    for (i, (k, mv)) in pm.iter().enumerate() {
        match lower(k).as_str() {
            "pub" | "publish" | "import" => p.publish = subject_permission(r, k, mv, false),
            "sub" | "subscribe" | "export" => p.subscribe = subject_permission(r, k, mv, true),
            "publish_allow_responses" | "allow_responses" => {
                let rp = match &mv.value {
                    Value::Bool(true) => Some(ResponsePermission::default()),
                    Value::Bool(false) => None,
                    Value::Map(m) => allow_responses(r, m),
                    _ => {
                        r.error(
                            &k.pos,
                            "error parsing response permissions, expected a boolean or a map",
                        );
                        None
                    }
                };
                if rp.is_some() {
                    // The blanket publish allow is turned off (nats-server).
                    let publish = p.publish.get_or_insert_with(SubjectPermission::default);
                    if publish.allow.is_none() {
                        publish.allow = Some(Vec::new());
                    }
                }
                p.response = rp;
            }
            _ => {
                if !pm.is_used_variable(i) {
                    r.error(
                        &k.pos,
                        format!("Unknown field {:?} parsing permissions", k.value),
                    );
                }
            }
        }
    }
    Some(p)
}

fn allow_responses(r: &mut Reader, m: &Map) -> Option<ResponsePermission> {
    let mut rp = ResponsePermission::default();
    for (i, (k, v)) in m.iter().enumerate() {
        match lower(k).as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => {
                if let Some(n) = r.int(k, v) {
                    if n != 0 {
                        rp.max_msgs = n;
                    }
                }
            }
            // Negative means never (nats-server), zero keeps the default.
            "expires" | "expiration" | "ttl" => match &v.value {
                Value::String(s) => match conf::parse_duration_nanos(s) {
                    Ok(ns) if ns < 0 => rp.expires = None,
                    Ok(ns) if ns > 0 => rp.expires = Some(Duration::from_nanos(ns as u64)),
                    Ok(_) => {}
                    Err(e) => {
                        r.error(&k.pos, format!("error parsing expires: {e}"));
                        return None;
                    }
                },
                _ => {
                    r.error(&k.pos, "error parsing expires, not a duration string");
                    return None;
                }
            },
            _ => {
                if !m.is_used_variable(i) {
                    r.error(
                        &k.pos,
                        format!("Unknown field {:?} parsing permissions", k.value),
                    );
                }
            }
        }
    }
    Some(rp)
}

/// `publish = "a.>"`, `publish = [..]` (old style: an allow list) or `{allow, deny}`.
fn subject_permission(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
    allow_queue: bool,
) -> Option<SubjectPermission> {
    match &v.value {
        Value::Map(m) => {
            if m.is_empty() {
                return None;
            }
            let mut p = SubjectPermission::default();
            for (i, (k, sv)) in m.iter().enumerate() {
                match lower(k).as_str() {
                    "allow" => p.allow = perm_subjects(r, k, sv, allow_queue),
                    "deny" => p.deny = perm_subjects(r, k, sv, allow_queue).unwrap_or_default(),
                    _ => {
                        if !m.is_used_variable(i) {
                            r.error(
                                &k.pos,
                                format!(
                                    "Unknown field name {:?} parsing subject permissions, only \
                                     'allow' or 'deny' are permitted",
                                    k.value
                                ),
                            );
                        }
                    }
                }
            }
            Some(p)
        }
        _ => perm_subjects(r, key, v, allow_queue).map(|allow| SubjectPermission {
            allow: Some(allow),
            deny: Vec::new(),
        }),
    }
}

/// nats-server's `parsePermSubjects` and `checkPermSubjectArray`.
pub(crate) fn perm_subjects(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
    allow_queue: bool,
) -> Option<Vec<String>> {
    let subjects = match &v.value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                match &it.value {
                    Value::String(s) => out.push(s.clone()),
                    _ => {
                        r.error(
                            &it.pos,
                            "Subject in permissions array cannot be cast to string",
                        );
                        return None;
                    }
                }
            }
            out
        }
        other => {
            r.error(
                &key.pos,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    other.type_name()
                ),
            );
            return None;
        }
    };
    for s in &subjects {
        if crate::subject::is_valid_subject(s.as_bytes()) {
            continue;
        }
        let parts: Vec<&str> = s.split_whitespace().collect();
        let msg = if !allow_queue || parts.len() != 2 {
            format!("subject {s:?} is not a valid subject")
        } else if !crate::subject::is_valid_subject(parts[0].as_bytes()) {
            format!("subject {:?} is not a valid subject", parts[0])
        } else if !crate::subject::is_valid_subject(parts[1].as_bytes()) {
            format!("queue {:?} is not a valid queue", parts[1])
        } else {
            continue;
        };
        r.error(&key.pos, msg);
        return None;
    }
    Some(subjects)
}

fn string_list(r: &mut Reader, key: &Spanned<String>, v: &Spanned<Value>) -> Option<Vec<String>> {
    match &v.value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                match &it.value {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        r.error(
                            &it.pos,
                            format!(
                                "{:?}: expected a string, got {}",
                                key.value,
                                other.type_name()
                            ),
                        );
                        return None;
                    }
                }
            }
            Some(out)
        }
        other => {
            r.error(
                &key.pos,
                format!(
                    "{:?}: expected a string or an array of strings, got {}",
                    key.value,
                    other.type_name()
                ),
            );
            None
        }
    }
}

fn tls_bool(r: &mut Reader, k: &Spanned<String>, v: &Spanned<Value>, name: &str) -> Option<bool> {
    match v.value {
        Value::Bool(b) => Some(b),
        _ => {
            r.error(
                &k.pos,
                format!("error parsing tls config, expected '{name}' to be a boolean"),
            );
            None
        }
    }
}

fn tls_file(r: &mut Reader, k: &Spanned<String>, v: &Spanned<Value>, name: &str) -> Option<String> {
    match &v.value {
        Value::String(s) => Some(s.clone()),
        _ => {
            r.error(
                &k.pos,
                format!("error parsing tls config, expected '{name}' to be filename"),
            );
            None
        }
    }
}

/// nats-server's `parseTLS` for the client block.
pub(crate) fn parse_tls(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<TlsConfig> {
    parse_tls_in(r, key, v, TlsContext::Client)
}

/// Where a `tls {}` block sits: nats-server's `parseTLS(v, isClientCtx)`. The keys are the
/// same everywhere; only `verify_cert_and_check_known_urls` is refused on client listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsContext {
    /// The client port (and the listeners that serve clients).
    Client,
    /// Server-to-server links: `cluster { tls {} }`.
    Route,
}

/// nats-server's `parseTLS` for a block in `context`.
pub(crate) fn parse_tls_in(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
    context: TlsContext,
) -> Option<TlsConfig> {
    let m = r.map(key, v)?;
    let mut tc = TlsConfig::default();
    let errors_before = r.errors.len();
    for (k, mv) in m.iter() {
        let name = lower(k);
        match name.as_str() {
            "cert_file" => set(&mut tc.cert_file, tls_file(r, k, mv, "cert_file")),
            "key_file" => set(&mut tc.key_file, tls_file(r, k, mv, "key_file")),
            "ca_file" => set(&mut tc.ca_file, tls_file(r, k, mv, "ca_file")),
            "insecure" => set(&mut tc.insecure, tls_bool(r, k, mv, "insecure")),
            "verify" => set(&mut tc.verify, tls_bool(r, k, mv, "verify")),
            "verify_and_map" => {
                if let Some(b) = tls_bool(r, k, mv, "verify_and_map") {
                    tc.verify |= b;
                    tc.verify_and_map = b;
                }
            }
            "verify_cert_and_check_known_urls" => {
                if let Some(b) = tls_bool(r, k, mv, "verify_cert_and_check_known_urls") {
                    if b && context == TlsContext::Client {
                        r.error(
                            &k.pos,
                            "verify_cert_and_check_known_urls not supported in this context",
                        );
                    }
                    tc.verify_cert_and_check_known_urls = b;
                }
            }
            "allow_insecure_cipher_suites" => set(
                &mut tc.allow_insecure_cipher_suites,
                tls_bool(r, k, mv, "allow_insecure_cipher_suites"),
            ),
            "cipher_suites" | "curve_preferences" => {
                let list = match &mv.value {
                    Value::Array(a) if a.is_empty() => {
                        r.error(
                            &k.pos,
                            format!("error parsing tls config, '{name}' cannot be empty"),
                        );
                        continue;
                    }
                    _ => string_list(r, k, mv),
                };
                if let Some(list) = list {
                    if name == "cipher_suites" {
                        tc.cipher_suites = list;
                    } else {
                        tc.curve_preferences = list;
                    }
                }
            }
            "timeout" => tc.timeout = timeout_seconds(r, k, mv, "tls"),
            "connection_rate_limit" => match mv.value {
                Value::Int(n) => tc.connection_rate_limit = n,
                _ => r.error(
                    &k.pos,
                    "error parsing tls config, 'connection_rate_limit' wrong type",
                ),
            },
            "pinned_certs" => {
                if let Some(list) = string_list(r, k, mv) {
                    for e in &list {
                        if e.len() != 64 || !e.bytes().all(|b| b.is_ascii_hexdigit()) {
                            r.error(
                                &k.pos,
                                format!(
                                    "error parsing tls config, 'pinned_certs' key {} does not look \
                                     like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                                    e.to_lowercase()
                                ),
                            );
                        }
                    }
                    tc.pinned_certs = list.iter().map(|e| e.to_lowercase()).collect();
                }
            }
            "handshake_first" | "first" | "immediate" => match &mv.value {
                Value::Bool(b) => {
                    tc.handshake_first = if *b {
                        HandshakeFirst::On
                    } else {
                        HandshakeFirst::Off
                    }
                }
                Value::String(s) => match s.to_lowercase().as_str() {
                    "true" | "on" => tc.handshake_first = HandshakeFirst::On,
                    "false" | "off" => tc.handshake_first = HandshakeFirst::Off,
                    "auto" | "auto_fallback" => {
                        tc.handshake_first =
                            HandshakeFirst::Auto(DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY)
                    }
                    _ => match conf::parse_duration(s) {
                        Ok(d) => tc.handshake_first = HandshakeFirst::Auto(d),
                        Err(_) => r.error(
                            &k.pos,
                            format!("field {:?}'s value {s:?} is invalid", k.value),
                        ),
                    },
                },
                other => r.error(
                    &k.pos,
                    format!(
                        "field {:?} should be a boolean or a string, got {}",
                        k.value,
                        other.type_name()
                    ),
                ),
            },
            "certs" | "certificates" => {
                let Value::Array(items) = &mv.value else {
                    r.error(
                        &k.pos,
                        format!(
                            "error parsing certificates config: unsupported type {}",
                            mv.value.type_name()
                        ),
                    );
                    continue;
                };
                for it in items {
                    let Value::Map(pair) = &it.value else {
                        r.error(
                            &it.pos,
                            format!(
                                "error parsing certificates config: unsupported type {}",
                                it.value.type_name()
                            ),
                        );
                        continue;
                    };
                    let (mut cert, mut keyf) = (String::new(), String::new());
                    for (pk, pv) in pair.iter() {
                        let Some(file) = pv.value.as_str() else {
                            r.error(
                                &pk.pos,
                                format!(
                                    "error parsing certificates config: unsupported type {}",
                                    pv.value.type_name()
                                ),
                            );
                            continue;
                        };
                        match pk.value.as_str() {
                            "cert_file" => cert = file.to_string(),
                            "key_file" => keyf = file.to_string(),
                            other => r.error(
                                &pk.pos,
                                format!("error parsing tls certs config, unknown field {other:?}"),
                            ),
                        }
                    }
                    if cert.is_empty() || keyf.is_empty() {
                        r.error(
                            &it.pos,
                            "error parsing certificates config: both 'cert_file' and 'cert_key' \
                             options are required",
                        );
                    } else {
                        tc.certs.push((cert, keyf));
                    }
                }
            }
            "min_version" => match &mv.value {
                Value::String(s) => match s.as_str() {
                    "1.2" | "1.3" => tc.min_version = s.clone(),
                    "1.0" | "1.1" => r.error(
                        &k.pos,
                        format!("error parsing tls config: unsupported TLS version: TLS {s}"),
                    ),
                    _ => r.error(
                        &k.pos,
                        format!("error parsing tls config: unknown version: {s}"),
                    ),
                },
                other => r.error(
                    &k.pos,
                    format!(
                        "error parsing tls config: 'min_version' wrong type: {}",
                        other.type_name()
                    ),
                ),
            },
            // Known to nats-server, meaningful only with OCSP or the Windows certificate
            // store; kept by name so that the block still counts as configured.
            "ocsp_peer"
            | "cert_store"
            | "cert_match_by"
            | "cert_match"
            | "ca_certs_match"
            | "cert_match_skip_invalid" => tc.unsupported.push(k.value.clone()),
            _ => r.error(
                &k.pos,
                format!("error parsing tls config, unknown field {:?}", k.value),
            ),
        }
    }
    if !tc.certs.is_empty() && !tc.cert_file.is_empty() {
        r.error(
            &key.pos,
            "error parsing tls config, cannot combine 'cert_file' option with 'certs' option",
        );
    }
    (r.errors.len() == errors_before).then_some(tc)
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}
