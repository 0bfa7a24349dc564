//! Maps a parsed configuration file ([`conf::Map`]) onto [`Options`], with nats-server's keys,
//! aliases, checks and error texts (`opts.go` `processConfigFileLine`).
//!
//! Every problem is collected and reported together, each naming `file:line:col`:
//! - **errors** stop the server (and make `-t` fail): an unknown key (`unknown field "x"`, as
//!   nats-server says it), a value of the wrong type, an out-of-range value, and security
//!   settings natrium cannot enforce yet (see below);
//! - **warnings** are nats-server's own (a bare integer where a duration is expected: "should
//!   be converted to a duration"); the server starts, `-t` fails, as with nats-server;
//! - **ignored** keys are those nats-server knows but natrium does not implement yet
//!   (`gateway`, `server_tags`, `ocsp`, …): they are accepted so that configurations
//!   written for nats-server start, and named in one start-up warning and by `-t`.
//!
//! Failing closed: a security setting natrium cannot enforce (operator (JWT) mode,
//! `auth_callout`) is refused, never ignored: an operator who configured security must never
//! get an open server by accident. Parts of an account that only connect it to others
//! (imports, exports) are ignored: without them the account is only more isolated.
//!
//! A top-level key that is only there to be used as a `$variable` is accepted, as in nats.

use std::path::Path;
use std::time::Duration;

use super::conf::{self, ConfError, Map, Pos, Spanned, Value};
use super::security;
use super::{Options, WriteTimeoutPolicy};

/// A key nats-server knows that natrium accepts but does not act on yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub key: String,
    pub pos: Pos,
    /// What natrium lacks, e.g. "clustering".
    pub feature: &'static str,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: \"{}\" ({})", self.pos, self.key, self.feature)
    }
}

/// What a configuration file said besides the options it set.
#[derive(Debug, Default)]
pub struct Report {
    /// nats-server's warnings (`file:line:col: invalid use of field …`).
    pub warnings: Vec<ConfError>,
    /// Keys accepted and ignored.
    pub ignored: Vec<Ignored>,
}

impl Report {
    /// The one start-up warning naming every ignored key, if any.
    pub fn ignored_summary(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let list: Vec<String> = self.ignored.iter().map(Ignored::to_string).collect();
        Some(format!(
            "Ignoring configuration that natrium does not implement yet: {}",
            list.join(", ")
        ))
    }
}

/// Reads `path` and applies it to `opts` (which holds the defaults).
pub fn load(path: &Path, opts: &mut Options) -> Result<Report, Vec<ConfError>> {
    let map = conf::parse_file(path)?;
    opts.config_file = Some(path.to_path_buf());
    apply(&map, opts)
}

/// Applies a parsed configuration to `opts`. All errors are returned together (preceded by
/// the warnings, as nats-server prints them); `opts` may be partly updated on error.
pub fn apply(map: &Map, opts: &mut Options) -> Result<Report, Vec<ConfError>> {
    let mut r = Reader::default();
    for (i, (key, value)) in map.iter().enumerate() {
        // A key repeated later is overridden (nats keeps only the last one).
        if map.iter().skip(i + 1).any(|(k, _)| k.value == key.value) {
            continue;
        }
        r.top_level(opts, key, value, map.is_used_variable(i));
    }
    r.check_accounts_against_authorization(opts);
    if r.errors.is_empty() {
        Ok(Report {
            warnings: r.warnings,
            ignored: r.ignored,
        })
    } else {
        // As nats-server reports them: warnings first, then errors.
        let mut all = r.warnings;
        all.extend(r.errors);
        Err(all)
    }
}

/// nats-server keys natrium accepts but ignores, with the feature they belong to. Aliases
/// are listed as nats-server spells them.
const NOT_IMPLEMENTED: &[(&[&str], &str)] = &[
    (&["gateway"], "gateways (superclusters)"),
    (&["default_js_domain"], "JetStream"),
    (&["server_tags"], "server tags"),
    (&["server_metadata"], "server metadata"),
    (&["resolver_tls"], "operator mode"),
    (&["resolver_pinned_accounts"], "operator mode"),
    (&["default_sentinel"], "operator mode"),
    (
        &["disable_sublist_cache", "no_sublist_cache"],
        "this tuning knob",
    ),
    (&["prof_port"], "profiling"),
    (&["prof_block_rate"], "profiling"),
    (&["proxy_protocol"], "the PROXY protocol"),
    (&["proxies"], "trusted proxies"),
    (
        &["max_sub_tokens", "max_subscription_tokens"],
        "subject token limits",
    ),
    (&["ocsp"], "OCSP stapling"),
    (&["ocsp_cache"], "OCSP stapling"),
    (&["connect_error_reports"], "route error reports"),
    (&["reconnect_error_reports"], "route error reports"),
    (&["feature_flags"], "feature flags"),
    (&["no_fast_producer_stall"], "this tuning knob"),
];

fn not_implemented(key: &str) -> Option<&'static str> {
    NOT_IMPLEMENTED
        .iter()
        .find(|(names, _)| names.contains(&key))
        .map(|(_, feature)| *feature)
}

/// Collects errors, warnings and ignored keys while reading values.
#[derive(Default)]
pub(crate) struct Reader {
    pub(crate) errors: Vec<ConfError>,
    pub(crate) warnings: Vec<ConfError>,
    pub(crate) ignored: Vec<Ignored>,
    /// Where the first users list inside `accounts` is, for the checks against
    /// `authorization` once the whole file is read.
    account_users_pos: Option<Pos>,
}

impl Reader {
    pub(crate) fn error(&mut self, pos: &Pos, msg: impl Into<String>) {
        self.errors.push(ConfError::option(pos.clone(), msg));
    }

    /// nats-server's `unknownConfigFieldErr`.
    pub(crate) fn unknown(&mut self, key: &Spanned<String>) {
        self.error(&key.pos, format!("unknown field {:?}", key.value));
    }

    fn type_error(&mut self, key: &Spanned<String>, v: &Spanned<Value>, want: &str) {
        self.error(
            &key.pos,
            format!(
                "{:?} expects {want}, got {} {}",
                key.value,
                article(v.value.type_name()),
                v.value.type_name()
            ),
        );
    }

    pub(crate) fn int(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<i64> {
        match v.value {
            Value::Int(i) => Some(i),
            _ => {
                self.type_error(key, v, "an integer");
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<bool> {
        match v.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(key, v, "a boolean");
                None
            }
        }
    }

    pub(crate) fn string(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<String> {
        match &v.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.type_error(key, v, "a string");
                None
            }
        }
    }

    pub(crate) fn map<'v>(
        &mut self,
        key: &Spanned<String>,
        v: &'v Spanned<Value>,
    ) -> Option<&'v Map> {
        match &v.value {
            Value::Map(m) => Some(m),
            _ => {
                self.type_error(key, v, "a map");
                None
            }
        }
    }

    /// nats-server's `parseDuration`: a Go duration string, or (deprecated) an integer
    /// number of seconds with a warning.
    pub(crate) fn duration(
        &mut self,
        key: &Spanned<String>,
        v: &Spanned<Value>,
    ) -> Option<Duration> {
        let field = key.value.to_lowercase();
        match &v.value {
            Value::String(s) => match conf::parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(&key.pos, format!("error parsing {field}: {e}"));
                    None
                }
            },
            Value::Int(secs) => {
                self.warnings.push(ConfError::option(
                    key.pos.clone(),
                    format!(
                        "invalid use of field {field:?}: {field} should be converted to a duration"
                    ),
                ));
                match u64::try_from(*secs) {
                    Ok(s) => Some(Duration::from_secs(s)),
                    Err(_) => {
                        self.error(
                            &key.pos,
                            format!("error parsing {field}: negative duration"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.type_error(key, v, "a duration");
                None
            }
        }
    }

    /// A duration that must be a string (lame_duck_*).
    fn duration_string(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<Duration> {
        let field = key.value.to_lowercase();
        let s = self.string(key, v)?;
        match conf::parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&key.pos, format!("error parsing {field}: {e}"));
                None
            }
        }
    }

    fn non_negative(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<u64> {
        let n = self.int(key, v)?;
        match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(&key.pos, format!("{} can not be negative", key.value));
                None
            }
        }
    }

    /// nats-server's `> 1<<31-1` check for max_payload and max_control_line.
    fn int32(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<i64> {
        let n = self.int(key, v)?;
        if n > i32::MAX as i64 {
            self.error(&key.pos, format!("{} value is too big", key.value));
            return None;
        }
        Some(n)
    }

    pub(crate) fn port(&mut self, key: &Spanned<String>, v: &Spanned<Value>) -> Option<i64> {
        let p = self.int(key, v)?;
        if p > u16::MAX as i64 {
            self.error(&key.pos, format!("invalid port {p}: the largest is 65535"));
            return None;
        }
        Some(p)
    }

    pub(crate) fn ignore(&mut self, key: &Spanned<String>, feature: &'static str) {
        self.ignored.push(Ignored {
            key: key.value.clone(),
            pos: key.pos.clone(),
            feature,
        });
    }

    /// nats-server's checks between `accounts` users and the `authorization` block: no single
    /// user or token beside them, and user names and nkeys unique across both.
    fn check_accounts_against_authorization(&mut self, o: &Options) {
        let (Some(pos), Some(a)) = (self.account_users_pos.clone(), o.authorization.as_ref())
        else {
            return;
        };
        if !a.user.is_empty() {
            self.error(&pos, "Can not have a single user/pass and accounts");
        }
        if !a.token.is_empty() {
            self.error(&pos, "Can not have a token and accounts");
        }
        for acc in &o.accounts {
            for n in &acc.nkeys {
                if a.nkeys.iter().any(|x| x.nkey == n.nkey) {
                    self.error(&pos, format!("Duplicate nkey {:?} detected", n.nkey));
                }
            }
            for u in &acc.users {
                if a.users.iter().any(|x| x.username == u.username) {
                    self.error(&pos, format!("Duplicate user {:?} detected", u.username));
                }
            }
        }
    }

    fn top_level(
        &mut self,
        o: &mut Options,
        key: &Spanned<String>,
        v: &Spanned<Value>,
        used_variable: bool,
    ) {
        let k = key.value.to_lowercase();
        match k.as_str() {
            "listen" => {
                if let Some((host, port)) = self.listen(key, v) {
                    if let Some(h) = host {
                        // An empty host (":4222") means all interfaces, as in nats-server.
                        o.host = if h.is_empty() {
                            super::DEFAULT_HOST.to_string()
                        } else {
                            h
                        };
                    }
                    o.port = super::cli::port_value(port);
                }
            }
            "client_advertise" => set(&mut o.client_advertise, self.string(key, v)),
            "port" => {
                if let Some(p) = self.port(key, v) {
                    o.port = super::cli::port_value(p);
                }
            }
            "server_name" => {
                if let Some(name) = self.string(key, v) {
                    if name.contains(' ') {
                        self.error(&key.pos, "server name cannot contain spaces");
                    } else {
                        o.server_name = name;
                    }
                }
            }
            "host" | "net" => set(&mut o.host, self.string(key, v)),
            "debug" => set(&mut o.debug, self.boolean(key, v)),
            "trace" | "trace_verbose" | "trace_headers" => set(&mut o.trace, self.boolean(key, v)),
            "logtime" => set(&mut o.logtime, self.boolean(key, v)),
            "logtime_utc" => set(&mut o.logtime_utc, self.boolean(key, v)),
            "log_format" => {
                // natrium's own: nats-server has no JSON log format (its issue #1240).
                if let Some(f) = self.string(key, v) {
                    match f.to_ascii_lowercase().as_str() {
                        "json" => o.log_json = true,
                        "text" => o.log_json = false,
                        _ => self.error(&key.pos, "log_format must be 'text' or 'json'"),
                    }
                }
            }
            "http" | "https" => {
                if let Some((host, port)) = self.listen(key, v) {
                    if let Some(h) = host {
                        o.http_host = h;
                    }
                    let port = super::cli::optional_port(port);
                    if k == "http" {
                        o.http_port = port;
                    } else {
                        o.https_port = port;
                    }
                }
            }
            "http_port" | "monitor_port" => {
                if let Some(p) = self.port(key, v) {
                    o.http_port = super::cli::optional_port(p);
                }
            }
            "https_port" => {
                if let Some(p) = self.port(key, v) {
                    o.https_port = super::cli::optional_port(p);
                }
            }
            "http_base_path" => set(&mut o.http_base_path, self.string(key, v)),
            "logfile" | "log_file" => {
                if let Some(f) = self.string(key, v) {
                    o.log_file = (!f.is_empty()).then(|| f.into());
                }
            }
            "logfile_size_limit" | "log_size_limit" => {
                set(&mut o.log_size_limit, self.non_negative(key, v))
            }
            "logfile_max_num" | "log_max_num" => {
                if let Some(n) = self.non_negative(key, v) {
                    o.log_max_files = usize::try_from(n).unwrap_or(usize::MAX);
                }
            }
            "syslog" => set(&mut o.syslog, self.boolean(key, v)),
            "remote_syslog" => set(&mut o.remote_syslog, self.string(key, v)),
            "pidfile" | "pid_file" => {
                if let Some(f) = self.string(key, v) {
                    o.pid_file = (!f.is_empty()).then(|| f.into());
                }
            }
            "ports_file_dir" => {
                if let Some(f) = self.string(key, v) {
                    o.ports_file_dir = (!f.is_empty()).then(|| f.into());
                }
            }
            // Only a directory: it enables nothing, as in nats-server without `jetstream`.
            "store_dir" | "storedir" => {
                if let Some(f) = self.string(key, v) {
                    o.store_dir = (!f.is_empty()).then(|| f.into());
                }
            }
            "max_traced_msg_len" => set(&mut o.max_traced_msg_len, self.int(key, v)),
            "max_control_line" => {
                if let Some(n) = self.int32(key, v) {
                    // nats-server: 0 or less means the default.
                    o.max_control_line = if n <= 0 {
                        super::MAX_CONTROL_LINE
                    } else {
                        n as usize
                    };
                }
            }
            "max_payload" => {
                if let Some(n) = self.int32(key, v) {
                    o.max_payload = if n == 0 { super::MAX_PAYLOAD } else { n };
                }
            }
            "max_pending" => {
                if let Some(n) = self.int(key, v) {
                    o.max_pending = if n == 0 { super::MAX_PENDING } else { n };
                }
            }
            "max_connections" | "max_conn" => {
                // nats-server: 0 in the file means no client may connect.
                if let Some(n) = self.int(key, v) {
                    o.max_connections = if n == 0 { -1 } else { n };
                }
            }
            "max_subscriptions" | "max_subs" => set(&mut o.max_subscriptions, self.int(key, v)),
            "ping_interval" => set(&mut o.ping_interval, self.duration(key, v)),
            "ping_max" => {
                if let Some(n) = self.int(key, v) {
                    o.ping_max = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
                }
            }
            "write_deadline" => set(&mut o.write_deadline, self.duration(key, v)),
            "write_timeout" => {
                if let Some(s) = self.string(key, v) {
                    match s.as_str() {
                        "default" => o.write_timeout = WriteTimeoutPolicy::Default,
                        "close" => o.write_timeout = WriteTimeoutPolicy::Close,
                        "retry" => o.write_timeout = WriteTimeoutPolicy::Retry,
                        _ => self.error(
                            &key.pos,
                            "write_timeout must be 'default', 'close' or 'retry'",
                        ),
                    }
                }
            }
            "lame_duck_duration" => {
                if let Some(d) = self.duration_string(key, v) {
                    if d < Duration::from_secs(30) {
                        self.error(
                            &key.pos,
                            format!(
                                "invalid lame_duck_duration of {}, minimum is 30 seconds",
                                go_duration(d)
                            ),
                        );
                    } else {
                        o.lame_duck_duration = d;
                    }
                }
            }
            "lame_duck_grace_period" => {
                // Negative durations do not parse here; nats-server's text for them is
                // "invalid lame_duck_grace_period, needs to be positive".
                if let Some(s) = self.string(key, v) {
                    if s.trim_start().starts_with('-') {
                        self.error(
                            &key.pos,
                            "invalid lame_duck_grace_period, needs to be positive",
                        );
                    } else if let Some(d) = self.duration_string(key, v) {
                        o.lame_duck_grace_period = d;
                    }
                }
            }
            "no_auth_user" => set(&mut o.no_auth_user, self.string(key, v)),
            "system_account" | "system" => set(&mut o.system_account, self.string(key, v)),
            "no_system_account" | "no_system" | "no_sys_acc" => {
                set(&mut o.no_system_account, self.boolean(key, v))
            }
            "no_header_support" => set(&mut o.no_header_support, self.boolean(key, v)),
            "max_closed_clients" => {
                if let Some(n) = self.int(key, v) {
                    o.max_closed_clients = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
                }
            }
            "allow_non_tls" => set(&mut o.allow_non_tls, self.boolean(key, v)),
            "reactors" => {
                // natrium's own: event-loop threads.
                if let Some(n) = self.int(key, v) {
                    if !(1..=256).contains(&n) {
                        self.error(&key.pos, "reactors must be between 1 and 256");
                    } else {
                        o.reactors = Some(n as usize);
                    }
                }
            }
            "authorization" => {
                if let Some(auth) = security::parse_authorization(self, key, v) {
                    if auth.timeout.is_some() {
                        o.auth_timeout = auth.timeout;
                    }
                    o.authorization = auth.is_configured().then_some(auth);
                }
            }
            "jetstream" => {
                if let Some(js) = super::jetstream::parse_jetstream(self, key, v, &mut o.store_dir)
                {
                    o.jetstream = js;
                }
            }
            "cluster" => {
                if let Some(c) = super::cluster::parse_cluster(self, key, v) {
                    o.cluster = c.is_configured().then_some(c);
                }
            }
            "leafnodes" | "leaf" => {
                if let Some(l) = super::leafnode::parse_leafnodes(self, key, v) {
                    o.leafnodes = l.is_configured().then_some(l);
                }
            }
            "websocket" | "ws" => match super::websocket::parse_websocket(v) {
                Ok(ws) => o.websocket = Some(ws),
                Err(errors) => {
                    for e in errors {
                        // The message already names the inner key's position.
                        self.error(&key.pos, e);
                    }
                }
            },
            "mqtt" => {
                if let Some(m) = super::mqtt::parse_mqtt(self, key, v) {
                    o.mqtt = Some(m);
                }
            }
            "tls" => {
                if let Some(tls) = security::parse_tls(self, key, v) {
                    o.tls = tls.is_configured().then_some(tls);
                }
            }
            "operator" | "operators" | "roots" | "root" | "root_operators" | "root_operator" => {
                let tokens: Vec<&str> = match &v.value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|e| match &e.value {
                            Value::String(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for t in tokens.into_iter().filter(|t| !t.is_empty()) {
                    match crate::accounts::jwt::read_token(t) {
                        Ok(jwt) => o.operators.push(jwt),
                        Err(e) => self.error(&key.pos, format!("error parsing operator JWT: {e}")),
                    }
                }
            }
            "trusted" | "trusted_keys" => {
                // Raw trusted keys: every client must present a JWT those keys signed.
                let configured = match &v.value {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                };
                if configured {
                    self.error(
                        &key.pos,
                        format!(
                            "{} (JWT authentication by trusted keys) is not supported by natrium \
                             yet: refusing to start a server that would not check client JWTs",
                            key.value
                        ),
                    );
                }
            }
            "resolver" | "account_resolver" | "accounts_resolver" => {
                if let Some(r) = super::resolver::parse_resolver(self, key, v) {
                    o.resolver = r;
                }
            }
            "resolver_preload" => {
                if let Some(m) = self.map(key, v) {
                    for (k, jv) in m.iter() {
                        if let Value::String(jwt) = &jv.value {
                            o.resolver_preload.push((k.value.clone(), jwt.clone()));
                        }
                    }
                }
            }
            "mappings" | "maps" => o.mappings = super::sharing::parse_mappings(self, v),
            "accounts" => {
                let (accounts, users_pos) = security::parse_accounts(self, key, v);
                if self.errors.is_empty() {
                    super::sharing::check_accounts(self, key, &accounts);
                }
                o.accounts = accounts;
                self.account_users_pos = users_pos;
            }
            _ => {
                if let Some(feature) = not_implemented(&k) {
                    self.ignore(key, feature);
                } else if !used_variable {
                    self.unknown(key);
                }
            }
        }
    }

    /// nats-server's `parseListen`: a port, or `"host:port"` (Go `net.SplitHostPort`).
    pub(crate) fn listen(
        &mut self,
        key: &Spanned<String>,
        v: &Spanned<Value>,
    ) -> Option<(Option<String>, i64)> {
        match &v.value {
            Value::Int(p) => Some((None, *p)),
            Value::String(s) => {
                let Some((host, port)) = split_host_port(s) else {
                    self.error(&key.pos, format!("could not parse address string {s:?}"));
                    return None;
                };
                let Ok(port) = port.parse::<i64>() else {
                    self.error(&key.pos, format!("could not parse port {port:?}"));
                    return None;
                };
                if port > u16::MAX as i64 {
                    self.error(
                        &key.pos,
                        format!("invalid port {port}: the largest is 65535"),
                    );
                    return None;
                }
                Some((Some(host.to_string()), port))
            }
            other => {
                self.error(
                    &key.pos,
                    format!("expected port or host:port, got {}", other.type_name()),
                );
                None
            }
        }
    }
}

/// A configuration key as nats-server matches it (`strings.ToLower`).
pub(crate) fn lower(key: &Spanned<String>) -> String {
    key.value.to_lowercase()
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Go's `net.SplitHostPort`: `host:port`, `[v6]:port`; the port part may be empty or `-1`.
pub fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        // An IPv6 address without brackets is ambiguous; Go refuses it.
        return None;
    }
    Some((host, port))
}

/// Go's `time.Duration.String()`: `1m0s`, `1.5s`, `300ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", trim_fraction(nanos, div));
    }
    let total_secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let secs = trim_fraction(s * 1_000_000_000 + frac, 1_000_000_000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{secs}s"));
    out
}

/// `n / div` with the fraction's trailing zeros removed.
fn trim_fraction(n: u128, div: u128) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::security::{HandshakeFirst, SubjectPermission};
    use std::path::PathBuf;

    fn corpus(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/conf")
            .join(name)
    }

    /// Loads a corpus file over the defaults; the options as far as they got, and the outcome.
    fn load_corpus(name: &str) -> (Options, Result<Report, Vec<ConfError>>) {
        let mut o = Options::default();
        let r = load(&corpus(name), &mut o);
        (o, r)
    }

    fn load_text(text: &str) -> (Options, Result<Report, Vec<ConfError>>) {
        let mut o = Options::default();
        let r = conf::parse_str(text, "t.conf").and_then(|m| apply(&m, &mut o));
        (o, r)
    }

    /// `line:col: message` for each error (file name left out).
    fn errs(r: Result<Report, Vec<ConfError>>) -> Vec<String> {
        r.expect_err("expected errors")
            .iter()
            .map(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.msg))
            .collect()
    }

    #[test]
    fn documented_options() {
        let (o, r) = load_corpus("options/documented.conf");
        let r = r.unwrap();
        assert!(r.warnings.is_empty() && r.ignored.is_empty(), "{r:?}");
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
        assert_eq!(o.server_name, "edge-1");
        assert_eq!(o.client_advertise, "nats.example.net:4333");
        assert_eq!(
            (o.http_host.as_str(), o.http_port),
            ("127.0.0.1", Some(8333))
        );
        assert_eq!(o.http_base_path, "/nats");
        assert_eq!(o.max_payload, 2 * 1024 * 1024);
        assert_eq!(o.max_pending, 32 * 1024 * 1024);
        assert_eq!(o.max_connections, 1000);
        assert_eq!(o.max_control_line, 2048);
        assert_eq!(o.max_subscriptions, 100);
        assert_eq!(o.ping_interval, Duration::from_secs(30));
        assert_eq!(o.ping_max, 3);
        assert_eq!(o.write_deadline, Duration::from_secs(5));
        assert_eq!(o.write_timeout, WriteTimeoutPolicy::Close);
        assert_eq!(o.max_closed_clients, 500);
        assert!(o.debug && !o.trace && o.logtime && o.logtime_utc && o.log_json);
        assert_eq!(
            o.log_file.as_deref(),
            Some(Path::new("/var/log/natrium/natrium.log"))
        );
        assert_eq!((o.log_size_limit, o.log_max_files), (10 * 1024 * 1024, 5));
        assert_eq!(
            o.pid_file.as_deref(),
            Some(Path::new("/var/run/natrium.pid"))
        );
        assert_eq!(o.ports_file_dir.as_deref(), Some(Path::new("/var/run")));
        assert_eq!(o.lame_duck_duration, Duration::from_secs(60));
        assert_eq!(o.lame_duck_grace_period, Duration::from_secs(5));
        assert_eq!(o.reactors, Some(1));
        assert_eq!(o.config_file, Some(corpus("options/documented.conf")));
    }

    #[test]
    fn aliases_and_case() {
        let (o, r) = load_corpus("options/aliases.conf");
        r.unwrap();
        assert_eq!(o.host, "10.0.0.1");
        // Keys are case-insensitive; PORT comes later and wins.
        assert_eq!(o.port, 4445);
        assert_eq!((o.http_port, o.https_port), (Some(8444), Some(8555)));
        assert_eq!((o.max_connections, o.max_subscriptions), (10, 7));
        assert_eq!(o.log_file.as_deref(), Some(Path::new("/tmp/a.log")));
        assert_eq!((o.log_size_limit, o.log_max_files), (1024, 2));
        assert_eq!(o.pid_file.as_deref(), Some(Path::new("/tmp/a.pid")));
        assert!(o.trace);
    }

    #[test]
    fn all_errors_are_reported_with_positions() {
        let (_, r) = load_corpus("options/errors.conf");
        let e = errs(r);
        // The duration warning comes first, as nats-server prints it; the texts are
        // nats-server's except for type mismatches (see docs/compat.md).
        assert_eq!(
            e,
            [
                "3:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
                "1:1: \"port\" expects an integer, got a string",
                "2:1: unknown field \"bogus_key\"",
                "4:1: max_payload value is too big",
                "5:1: invalid lame_duck_duration of 10s, minimum is 30 seconds",
                "6:1: server name cannot contain spaces",
                "7:1: could not parse address string \"localhost\"",
                "8:1: write_timeout must be 'default', 'close' or 'retry'",
                "9:1: log_format must be 'text' or 'json'",
                "10:1: \"debug\" expects a boolean, got a string",
            ]
        );
    }

    #[test]
    fn random_ports_and_listen_forms() {
        let (o, r) = load_text("port: -1\nhttp: \"127.0.0.1:-1\"");
        r.unwrap();
        assert_eq!(
            (o.port, o.http_host.as_str(), o.http_port),
            (0, "127.0.0.1", Some(0))
        );
        let (o, _) = load_text("listen: \"[::1]:-1\"");
        assert_eq!((o.host.as_str(), o.port), ("::1", 0));
        let (o, _) = load_text("listen: \":4999\"");
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4999));
        let (o, _) = load_text("listen: 4998\nhttp: 8222\nhttps: 8443");
        assert_eq!(
            (o.port, o.http_port, o.https_port),
            (4998, Some(8222), Some(8443))
        );
        assert_eq!(
            errs(load_text("port: 70000").1),
            ["1:1: invalid port 70000: the largest is 65535"]
        );
    }

    #[test]
    fn nats_value_rules() {
        // max_connections: 0 in the file means nobody may connect.
        let (o, _) = load_text("max_connections: 0");
        assert_eq!(o.max_connections, -1);
        // 0 means the default for these.
        let (o, _) = load_text("max_payload: 0\nmax_pending: 0\nmax_control_line: 0");
        assert_eq!(
            (o.max_payload, o.max_pending, o.max_control_line),
            (
                crate::config::MAX_PAYLOAD,
                crate::config::MAX_PENDING,
                crate::config::MAX_CONTROL_LINE
            )
        );
        // Bare integers are seconds, with nats-server's warning.
        let (o, r) = load_text("ping_interval: 30\nwrite_deadline: 2");
        let r = r.unwrap();
        assert_eq!(
            (o.ping_interval, o.write_deadline),
            (Duration::from_secs(30), Duration::from_secs(2))
        );
        assert_eq!(r.warnings.len(), 2);
        assert_eq!(
            errs(load_text("ping_interval: \"2 minutes\"").1),
            ["1:1: error parsing ping_interval: time: unknown unit \" minutes\" in duration \"2 minutes\""]
        );
        assert_eq!(
            errs(load_text("lame_duck_grace_period: \"-1s\"").1),
            ["1:1: invalid lame_duck_grace_period, needs to be positive"]
        );
        // no_auth_user must name a configured user (nats-server's validateOptions).
        let (o, r) = load_text("no_auth_user: bob");
        r.unwrap();
        assert_eq!(
            o.validate().unwrap_err(),
            "no_auth_user: \"bob\" not present as user or nkey in authorization block or \
             account configuration"
        );
        // A key repeated: the last one counts, and only it is checked.
        let (o, r) = load_text("port: \"x\"\nport: 5");
        r.unwrap();
        assert_eq!(o.port, 5);
    }

    #[test]
    fn variables_only_keys_are_accepted() {
        let (o, r) = load_text("LIMIT = 2048\nmax_payload: $LIMIT\nUNUSED = 1");
        assert_eq!(o.max_payload, 2048);
        assert_eq!(errs(r), ["3:1: unknown field \"UNUSED\""]);
    }

    #[test]
    fn launcher_configs_start_with_ignored_keys() {
        for (name, ignored) in [
            ("launchers/natsjs_v2.conf", &[][..]),
            ("launchers/natsjs_v3.conf", &["server_tags"][..]),
            ("launchers/natspy_core.conf", &[][..]),
            ("launchers/jetstream.json", &[][..]),
            ("launchers/port.json", &[][..]),
            ("launchers/js_domain.conf", &[][..]),
            ("launchers/cluster.conf", &[][..]),
        ] {
            let (_, r) = load_corpus(name);
            let r = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let keys: Vec<&str> = r.ignored.iter().map(|i| i.key.as_str()).collect();
            assert_eq!(keys, ignored, "{name}");
        }
        let (o, _) = load_corpus("launchers/natsjs_v3.conf");
        assert_eq!(
            (o.host.as_str(), o.port, o.http_port),
            ("127.0.0.1", 0, Some(0))
        );
        assert!(o.trace);
        assert_eq!(o.ports_file_dir.as_deref(), Some(Path::new("/tmp")));
        let (o, _) = load_corpus("launchers/js_domain.conf");
        assert!(o.jetstream.enabled);
        assert_eq!(o.jetstream.domain, "hub");
        assert_eq!(o.jetstream.max_store, Some(1 << 30));
        assert_eq!(o.jetstream.max_memory, Some(64 << 20));
        assert_eq!(
            o.store_dir.as_deref(),
            Some(Path::new("/tmp/js-domain-test"))
        );
        assert!(load_corpus("launchers/jetstream.json").0.jetstream.enabled);
        let (o, _) = load_corpus("launchers/natspy_core.conf");
        assert_eq!(o.ping_interval, Duration::from_millis(100));
        assert_eq!(o.max_payload, 64 * 1024 * 1024);
        let (o, _) = load_corpus("launchers/port.json");
        assert_eq!(o.port, 4567);
        let e = load_corpus("launchers/invalid.json").1.unwrap_err();
        assert_eq!((e[0].pos.line, e[0].pos.col), (1, 13));
    }

    #[test]
    fn security_settings_are_parsed_for_the_engine() {
        let (o, r) = load_corpus("launchers/token.conf");
        assert!(r.is_ok(), "{:?}", errs(r));
        let auth = o.authorization.unwrap();
        assert_eq!(auth.token, "s3cr3t");
        assert_eq!(auth.timeout, Some(Duration::from_secs(2)));

        let (o, r) = load_corpus("launchers/permission_vars.conf");
        assert!(r.is_ok(), "{:?}", errs(r));
        let auth = o.authorization.unwrap();
        assert_eq!(auth.users.len(), 2);
        assert_eq!(auth.users[0].username, "derek");
        let p = auth.users[0].permissions.as_ref().unwrap();
        assert_eq!(
            p.publish,
            Some(SubjectPermission {
                allow: Some(vec!["foo.>".into()]),
                deny: vec!["foo.bar".into()]
            })
        );
        assert_eq!(
            p.subscribe.as_ref().unwrap().allow.as_deref(),
            Some(&["_INBOX.>".to_string(), "q.* workers".to_string()][..])
        );
        assert!(auth.users[1].password.starts_with("$2a$11$"));
        assert_eq!(auth.nkeys.len(), 1);
        let rp = auth.nkeys[0]
            .permissions
            .as_ref()
            .unwrap()
            .response
            .clone()
            .unwrap();
        assert_eq!((rp.max_msgs, rp.expires), (3, Some(Duration::from_secs(5))));

        let (o, r) = load_corpus("launchers/tls.conf");
        assert!(r.is_ok(), "the tls block is served: {r:?}");
        let tls = o.tls.unwrap();
        assert_eq!(tls.cert_file, "./certs/server-cert.pem");
        assert!(tls.verify);
        assert_eq!(tls.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            tls.handshake_first,
            HandshakeFirst::Auto(
                crate::config::security::DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY
            )
        );
        assert_eq!(tls.min_version, "1.3");
        assert!(o.allow_non_tls);

        // Users inside accounts are bound to them; `jetstream: enabled` enables it there.
        let (o, r) = load_corpus("launchers/accounts.conf");
        let r = r.unwrap();
        assert_eq!(o.accounts.len(), 1);
        assert_eq!(o.accounts[0].name, "JS");
        assert_eq!(o.accounts[0].users[0].username, "js");
        assert_eq!(o.accounts[0].users[0].account.as_deref(), Some("JS"));
        assert!(r.ignored.is_empty());
        assert!(o.accounts[0].jetstream);
        o.validate().unwrap();

        // Operator mode is read; its JWTs are checked when the server builds its trust
        // (this one's signature is not one).
        let (o, r) = load_corpus("launchers/operator.conf");
        assert!(r.is_ok(), "{:?}", errs(r));
        assert_eq!((o.operators.len(), o.resolver_preload.len()), (1, 1));
        let e = crate::auth::Auth::from_options(&o)
            .err()
            .expect("a forged operator JWT");
        assert!(e.starts_with("operator JWT: "), "{e}");

        // A timeout alone sets the auth timeout and asks for no authentication.
        let (o, r) = load_text("authorization { timeout: 0.5 }");
        r.unwrap();
        assert_eq!(o.auth_timeout, Some(Duration::from_millis(500)));
        assert!(o.authorization.is_none());
        // Empty blocks configure nothing and are accepted.
        let (o, r) = load_text("authorization {}\ntls {}\naccounts { A {} }");
        let r = r.unwrap();
        assert!(o.authorization.is_none() && o.tls.is_none());
        assert!(r.ignored.is_empty());
        assert_eq!(o.accounts.len(), 1);
    }

    #[test]
    fn accounts_block_as_nats_server_reads_it() {
        // The array form names accounts without users.
        let (o, r) = load_text("accounts: [A, B]");
        r.unwrap();
        let names: Vec<&str> = o.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        // Account default permissions apply to its users without their own; exports are
        // read, nothing is ignored.
        let (o, r) = load_text(
            "accounts {\n  A {\n    default_permissions { publish: \"a.>\" }\n    \
             users [ {user: u, password: p}, {nkey: UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L} ]\n    \
             exports [ {stream: \"x.>\"} ]\n    jetstream: enabled\n  }\n}\nno_auth_user: u",
        );
        let r = r.unwrap();
        let a = &o.accounts[0];
        let allow = |p: &Option<crate::auth::Permissions>| {
            p.as_ref()
                .and_then(|p| p.publish.as_ref())
                .and_then(|p| p.allow.clone())
        };
        assert_eq!(
            allow(&a.users[0].permissions),
            Some(vec!["a.>".to_string()])
        );
        assert_eq!(
            allow(&a.nkeys[0].permissions),
            Some(vec!["a.>".to_string()])
        );
        assert_eq!(a.nkeys[0].account.as_deref(), Some("A"));
        assert!(r.ignored.is_empty(), "{:?}", r.ignored);
        assert_eq!(a.exports[0].subject, "x.>");
        assert!(a.jetstream);
        o.validate().unwrap();
        // nats-server's errors.
        assert_eq!(
            errs(load_text("accounts: [A, A, \"$G\"]").1),
            [
                "1:15: Duplicate Account Entry: A",
                "1:18: \"$G\" is a Reserved Account"
            ]
        );
        assert_eq!(
            errs(load_text("accounts { A { users [ {user: x} ] }\nB { users [ {user: x} ] } }").1),
            ["2:5: Duplicate user \"x\" detected"]
        );
        assert_eq!(
            errs(load_text("accounts { A { bogus: 1 } }").1),
            ["1:16: unknown field \"bogus\""]
        );
    }

    #[test]
    fn security_block_errors_use_nats_texts() {
        let text = "authorization {\n  user: a\n  token: b\n  bogus: 1\n  users [ {nkey: UBAD} ]\n}\n\
                    tls {\n  verify: 1\n  handshake_first: sometimes\n  min_version: \"1.0\"\n  foo: 1\n}";
        let e = errs(load_text(text).1);
        assert_eq!(
            e,
            [
                "4:3: unknown field \"bogus\"",
                "5:11: Not a valid public nkey for a user",
                "1:1: Cannot have a user/pass and token",
                "1:1: Can not have a single user/pass and a users array",
                "1:1: Can not have a token and a users array",
                "8:3: error parsing tls config, expected 'verify' to be a boolean",
                "9:3: field \"handshake_first\"'s value \"sometimes\" is invalid",
                "10:3: error parsing tls config: unsupported TLS version: TLS 1.0",
                "11:3: error parsing tls config, unknown field \"foo\"",
            ]
        );
        let e = errs(load_text("authorization { permissions { publish: \"a..b\", nope: 1 } }").1);
        assert_eq!(
            e,
            [
                "1:31: subject \"a..b\" is not a valid subject",
                "1:48: Unknown field \"nope\" parsing permissions",
            ]
        );
    }

    #[test]
    fn ignored_summary_names_each_key() {
        let (_, r) = load_text("gateway { name: x }\nserver_tags: [a]");
        let s = r.unwrap().ignored_summary().unwrap();
        assert_eq!(
            s,
            "Ignoring configuration that natrium does not implement yet: t.conf:1:1: \"gateway\" \
             (gateways (superclusters)), t.conf:2:1: \"server_tags\" (server tags)"
        );
    }

    #[test]
    fn go_duration_strings() {
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_micros(2), "2µs"),
            (Duration::from_secs(3600), "1h0m0s"),
        ] {
            assert_eq!(go_duration(d), s);
        }
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("127.0.0.1:-1"), Some(("127.0.0.1", "-1")));
        assert_eq!(split_host_port("[::1]:4222"), Some(("::1", "4222")));
        assert_eq!(split_host_port(":4222"), Some(("", "4222")));
        assert_eq!(split_host_port("::1:4222"), None);
        assert_eq!(split_host_port("localhost"), None);
    }
}
