//! Leaf node configuration: the `leafnodes {}` block (alias `leaf`), its `authorization {}`
//! and its `remotes`, with nats-server's keys, aliases, defaults, error texts and start-up
//! checks (`opts.go` `parseLeafNodes`, `parseLeafAuthorization`, `parseLeafUsers`,
//! `parseRemoteLeafNodes`, `setBaselineOptions`; `leafnode.go` `validateLeafNode`), and the
//! `.creds` file a remote logs in with.
//!
//! This module owns [`LeafOptions`] and opens no socket; the leaf runtime
//! ([`crate::leaf`]) turns it into its settings and refuses there what it cannot do yet
//! (TLS, WebSocket remotes, `hub`, proxies), so that the whole block is still read and
//! checked as nats-server reads it.

use std::path::PathBuf;
use std::time::Duration;

use super::cluster::{
    go_type, parse_compression, parse_server_url, Compression, CompressionMode, RouteUrl,
};
use super::conf::{ConfError, Spanned, Value};
use super::file::{lower, Reader};
use super::security::{self, TlsConfig, TlsContext};
use super::{Options, WriteTimeoutPolicy, DEFAULT_HOST};

/// nats-server's `DEFAULT_LEAFNODE_PORT`: the port of a remote URL that names none.
pub const DEFAULT_LEAFNODE_PORT: u16 = 7422;
/// nats-server's `DEFAULT_LEAF_NODE_RECONNECT`.
pub const DEFAULT_LEAF_NODE_RECONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_LEAFNODE_INFO_WAIT`: how long a dialled connection waits for the
/// hub's INFO.
pub const DEFAULT_LEAFNODE_INFO_WAIT: Duration = Duration::from_secs(1);
/// The global account, which a leaf connection binds to when nothing else is said.
const GLOBAL_ACCOUNT: &str = "$G";
/// The account nats-server creates as the system account when none is configured.
pub const SYSTEM_ACCOUNT: &str = "$SYS";

/// The `leafnodes {}` block (nats-server's `LeafNodeOpts`). `Options.leafnodes` is `None`
/// when the block configures nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeafOptions {
    /// `host`/`net`, or the host of `listen`. `0.0.0.0` once a port is set.
    pub host: String,
    /// `port`, or the port of `listen`. `None` (also `0`) = no leaf listener; `Some(0)` = a
    /// random port (`-1`).
    pub port: Option<u16>,
    /// `authorization { user, password }`: the one login a leaf node must present.
    pub username: String,
    pub password: String,
    /// `authorization { nkey }`: the one user nkey a leaf node must sign with.
    pub nkey: String,
    /// `authorization { account }`: the account the single user binds to (`$G` if empty).
    pub account: String,
    /// `authorization { timeout }`; `None` = 2 s (the TLS timeout + 1 s with TLS).
    pub auth_timeout: Option<Duration>,
    /// `authorization { users }`: logins with the account each binds to.
    pub users: Vec<LeafUserOptions>,
    /// `authorization { proxy_required }`.
    pub proxy_required: bool,
    /// `remotes`: the hubs this server dials.
    pub remotes: Vec<RemoteLeafOptions>,
    /// `reconnect`/`reconnect_delay`/`reconnect_interval`; `None` = 1 s.
    pub reconnect: Option<Duration>,
    /// `dial_timeout`; `None` = 1 s.
    pub dial_timeout: Option<Duration>,
    /// `tls {}` of the leaf listener.
    pub tls: Option<TlsConfig>,
    /// `advertise`/`leafnode_advertise`: `host[:port]` in INFO instead of the listener's.
    pub advertise: String,
    /// `no_advertise`: don't gossip this server's leaf URL to the cluster.
    pub no_advertise: bool,
    /// `min_version`/`minimum_version`: the oldest leaf node server version accepted.
    pub min_version: String,
    /// `compression`; `s2_auto` by default once a listener is configured.
    pub compression: Compression,
    /// `isolate_leafnode_interest`/`isolate`: send leaf nodes no interest of other leafs.
    pub isolate: bool,
    /// `write_deadline`; `None` = the top-level one.
    pub write_deadline: Option<Duration>,
    pub write_timeout: WriteTimeoutPolicy,
}

/// One `authorization { users [...] }` entry of the leaf block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafUserOptions {
    pub username: String,
    pub password: String,
    /// The account the login binds to (`$G` if empty).
    pub account: String,
    pub proxy_required: bool,
}

/// One `remotes` entry (nats-server's `RemoteLeafOpts`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteLeafOptions {
    /// `url`/`urls`; a URL without a port gets 7422.
    pub urls: Vec<RouteUrl>,
    /// `no_randomize`/`dont_randomize`: try the URLs in order.
    pub no_randomize: bool,
    /// `account`/`local`: the local account bound to this remote (`$G` once resolved).
    pub account: String,
    /// `credentials`/`creds`: a `.creds` file (user JWT and seed).
    pub credentials: Option<PathBuf>,
    /// `nkey`/`seed`: a user seed that signs the hub's nonce.
    pub nkey: String,
    pub tls: Option<TlsConfig>,
    /// `hub`: this side dials but acts as the hub.
    pub hub: bool,
    /// `deny_imports`/`deny_import`: subjects not taken from the hub.
    pub deny_imports: Vec<String>,
    /// `deny_exports`/`deny_export`: subjects not sent to the hub.
    pub deny_exports: Vec<String>,
    pub ws_compression: bool,
    pub ws_no_masking: bool,
    /// `isolate_leafnode_interest`/`isolate`.
    pub isolate: bool,
    pub request_isolation: bool,
    pub compression: Compression,
    /// `first_info_timeout`; 1 s once resolved.
    pub first_info_timeout: Option<Duration>,
    pub dial_timeout: Option<Duration>,
    /// `disabled`: configured but not dialled.
    pub disabled: bool,
    /// `proxy { url, username, password, timeout }`: an HTTP CONNECT tunnel.
    pub proxy: Option<LeafProxy>,
    pub ignore_discovered_servers: bool,
    /// `jetstream_cluster_migrate`/`js_cluster_migrate` (a boolean or a map).
    pub jetstream_cluster_migrate: bool,
}

/// `remotes [{ proxy {} }]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafProxy {
    pub url: String,
    pub username: String,
    pub password: String,
    pub timeout: Option<Duration>,
}

impl LeafOptions {
    /// Whether anything at all is set (an empty `leafnodes {}` configures nothing).
    pub fn is_configured(&self) -> bool {
        *self != LeafOptions::default()
    }

    /// nats-server's `setBaselineOptions` for leaf nodes: with a listener, the host
    /// defaults to `0.0.0.0` and compression to `s2_auto`; remote URLs get port 7422, and
    /// remotes `s2_auto` and a 1 s first-INFO wait; the reconnect delay is 1 s. Running it
    /// twice changes nothing.
    pub fn resolve_defaults(&mut self) {
        if self.port.is_some() {
            if self.host.is_empty() {
                self.host = DEFAULT_HOST.to_string();
            }
            if self.compression.mode.is_empty() {
                self.compression.mode = CompressionMode::S2Auto.as_str().to_string();
            }
        }
        for r in &mut self.remotes {
            for u in &mut r.urls {
                if u.port.is_none() && !u.host.is_empty() {
                    u.port = Some(DEFAULT_LEAFNODE_PORT);
                    u.host_port = join(&u.host, DEFAULT_LEAFNODE_PORT);
                }
            }
            if r.compression.mode.is_empty() {
                r.compression.mode = CompressionMode::S2Auto.as_str().to_string();
            }
            if r.first_info_timeout.is_none_or(|d| d.is_zero()) {
                r.first_info_timeout = Some(DEFAULT_LEAFNODE_INFO_WAIT);
            }
            if r.account.is_empty() {
                r.account = GLOBAL_ACCOUNT.to_string();
            }
        }
        if self.reconnect.is_none_or(|d| d.is_zero()) {
            self.reconnect = Some(DEFAULT_LEAF_NODE_RECONNECT);
        }
    }

    /// nats-server's `validateLeafNode` (local configuration mode): the users, each
    /// remote's deny lists and uniqueness, the accounts named, compression and
    /// `min_version`. `accounts` are the configured account names.
    pub fn validate(&self, accounts: &[String]) -> Result<(), String> {
        check_users(self)?;
        let mut names: Vec<String> = Vec::new();
        for r in &self.remotes {
            for (list, what) in [
                (&r.deny_imports, "deny_imports"),
                (&r.deny_exports, "deny_exports"),
            ] {
                if let Some(bad) = list
                    .iter()
                    .find(|s| !crate::subject::is_valid_subject(s.as_bytes()))
                {
                    return Err(format!(
                        "invalid {what} for remote {}: subject {bad:?} is not a valid subject",
                        r.safe_name()
                    ));
                }
            }
            let name = r.name();
            if names.contains(&name) {
                return Err(format!("duplicate remote {}", r.safe_name()));
            }
            names.push(name);
        }
        let exists = |name: &str| {
            name.is_empty()
                || name == GLOBAL_ACCOUNT
                || name == SYSTEM_ACCOUNT
                || accounts.iter().any(|a| a == name)
        };
        let missing = |name: &str, what: &str| {
            format!("cannot find local account {name:?} specified in leafnode {what}")
        };
        if !exists(&self.account) {
            return Err(missing(&self.account, "authorization"));
        }
        if let Some(u) = self.users.iter().find(|u| !exists(&u.account)) {
            return Err(missing(&u.account, "authorization"));
        }
        if let Some(r) = self.remotes.iter().find(|r| !exists(&r.account)) {
            return Err(missing(&r.account, "remote"));
        }
        if !self.compression.mode.is_empty() {
            self.compression.normalized_with(CompressionMode::S2Auto)?;
        }
        for r in &self.remotes {
            if let Some(p) = &r.proxy {
                check_proxy(p)?;
            }
            if let Some(first) = r.urls.first() {
                if r.urls.iter().any(|u| is_ws(u) != is_ws(first)) {
                    let urls: Vec<String> = r.urls.iter().map(redacted).collect();
                    return Err(format!(
                        "remote leaf node configuration cannot have a mix of websocket and \
                         non-websocket urls: {}",
                        go_quoted(&urls)
                    ));
                }
            }
            if !r.compression.mode.is_empty() {
                r.compression.normalized_with(CompressionMode::S2Auto)?;
            }
        }
        if self.port.is_some() && !self.min_version.is_empty() {
            check_min_version(&self.min_version)?;
        }
        Ok(())
    }

    /// The auth timeout of leaf connections: the configured one, else 2 s (the TLS
    /// timeout plus one second with TLS), as nats-server's `getDefaultAuthTimeout`.
    pub fn effective_auth_timeout(&self) -> Duration {
        match (self.auth_timeout.filter(|t| !t.is_zero()), &self.tls) {
            (Some(t), _) => t,
            (None, Some(tls)) => crate::tls::timeout(tls) + Duration::from_secs(1),
            (None, None) => super::AUTH_TIMEOUT,
        }
    }

    /// The TLS timeout nats-server reports for the leaf listener (`/varz leaf.tls_timeout`):
    /// set once a listener is configured.
    pub fn tls_timeout(&self) -> Duration {
        self.tls
            .as_ref()
            .map_or(crate::tls::TLS_TIMEOUT, crate::tls::timeout)
    }
}

impl RemoteLeafOptions {
    /// nats-server's `RemoteLeafOpts.name()`: what makes two remotes the same.
    pub fn name(&self) -> String {
        self.name_with(url_text, false)
    }

    /// The name with passwords and seeds hidden, for logs and errors (`safeName`).
    pub fn safe_name(&self) -> String {
        self.name_with(redacted, true)
    }

    fn name_with(&self, show: impl Fn(&RouteUrl) -> String, redact: bool) -> String {
        let account = if self.account.is_empty() {
            GLOBAL_ACCOUNT
        } else {
            &self.account
        };
        let optional = match (&self.credentials, self.nkey.is_empty()) {
            (Some(c), _) => format!(", credentials={:?}", c.display().to_string()),
            (None, false) if redact => ", nkey=\"[REDACTED]\"".to_string(),
            (None, false) => format!(", nkey={:?}", self.nkey),
            (None, true) => String::new(),
        };
        let urls: Vec<String> = self.urls.iter().map(show).collect();
        format!("urls={}, account={account:?}{optional}", go_quoted(&urls))
    }
}

/// A URL as Go's `URL.String` writes it after nats-server filled in the default port.
pub fn url_text(u: &RouteUrl) -> String {
    url_with(u, false)
}

/// [`url_text`] with the password shown as `xxxxx`, as Go's `URL.Redacted` writes it.
pub fn redacted(u: &RouteUrl) -> String {
    url_with(u, true)
}

fn url_with(u: &RouteUrl, redact: bool) -> String {
    let scheme = if u.scheme.is_empty() {
        String::new()
    } else {
        format!("{}://", u.scheme)
    };
    let userinfo = match (&u.username, &u.password) {
        (Some(user), Some(_)) if redact => format!("{user}:xxxxx@"),
        (Some(user), Some(pass)) => format!("{user}:{pass}@"),
        (Some(user), None) => format!("{user}@"),
        _ => String::new(),
    };
    format!("{scheme}{userinfo}{}{}", u.host_port, u.path)
}

/// `ws://` and `wss://` URLs make a WebSocket leaf connection.
pub fn is_ws(u: &RouteUrl) -> bool {
    matches!(u.scheme.as_str(), "ws" | "wss")
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A Go `[]string` as `%q` prints it.
fn go_quoted(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", q.join(" "))
}

/// nats-server's `validateLeafNodeAuthOptions`.
fn check_users(o: &LeafOptions) -> Result<(), String> {
    if o.users.is_empty() {
        return Ok(());
    }
    if !o.username.is_empty() {
        return Err("can not have a single user/pass and a users array".into());
    }
    if !o.nkey.is_empty() {
        return Err("can not have a single nkey and a users array".into());
    }
    for (i, u) in o.users.iter().enumerate() {
        if o.users[..i].iter().any(|p| p.username == u.username) {
            return Err(format!(
                "duplicate user {:?} detected in leafnode authorization",
                u.username
            ));
        }
    }
    Ok(())
}

/// nats-server's `validateLeafNodeProxyOptions`.
fn check_proxy(p: &LeafProxy) -> Result<(), String> {
    if p.url.is_empty() {
        return Ok(());
    }
    let scheme_ok = p.url.starts_with("http://") || p.url.starts_with("https://");
    if !scheme_ok {
        return Err(format!(
            "proxy URL scheme must be http or https, got: {}",
            p.url.split("://").next().unwrap_or("")
        ));
    }
    if p.username.is_empty() != p.password.is_empty() {
        return Err("proxy username and password must both be specified or both be empty".into());
    }
    Ok(())
}

/// nats-server's `checkLeafMinVersionConfig`: a `major.minor.patch` version, at least 2.8.0.
pub fn check_min_version(v: &str) -> Result<(), String> {
    match parse_version(v) {
        Some(ver) if ver >= (2, 8, 0) => Ok(()),
        Some(_) => Err("the minimum version should be at least 2.8.0".into()),
        None => Err(format!(
            "invalid leafnode's minimum version: invalid semver {v:?}"
        )),
    }
}

/// `major.minor.patch`, with an optional `v` and anything after `-` or `+` ignored.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.strip_prefix('v').unwrap_or(v);
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// Reads a `leafnodes {}` block (nats-server's `parseLeafNodes`). Defaults are filled in by
/// [`LeafOptions::resolve_defaults`].
pub(crate) fn parse_leafnodes(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<LeafOptions> {
    let Value::Map(m) = &v.value else {
        r.error(
            &key.pos,
            format!(
                "Expected map to define a leafnode, got {}",
                go_type(&v.value)
            ),
        );
        return None;
    };
    let mut o = LeafOptions::default();
    for (i, (k, mv)) in m.iter().enumerate() {
        if m.iter().skip(i + 1).any(|(k2, _)| k2.value == k.value) {
            continue;
        }
        match lower(k).as_str() {
            "listen" => {
                if let Some((host, port)) = r.listen(k, mv) {
                    o.host = host.unwrap_or_default();
                    o.port = port_option(port);
                }
            }
            "port" => {
                if let Some(p) = r.port(k, mv) {
                    o.port = port_option(p);
                }
            }
            "host" | "net" => set(&mut o.host, r.string(k, mv)),
            "authorization" => leaf_authorization(r, k, mv, &mut o),
            "remotes" => {
                if let Some(remotes) = parse_remotes(r, k, mv) {
                    o.remotes = remotes;
                }
            }
            "reconnect" | "reconnect_delay" | "reconnect_interval" => {
                o.reconnect = r.duration(k, mv);
            }
            "dial_timeout" => o.dial_timeout = r.duration(k, mv),
            "tls" => {
                if let Some(tls) = security::parse_tls_in(r, k, mv, TlsContext::Client) {
                    o.tls = tls.is_configured().then_some(tls);
                }
            }
            "leafnode_advertise" | "advertise" => set(&mut o.advertise, r.string(k, mv)),
            "no_advertise" => set(&mut o.no_advertise, r.boolean(k, mv)),
            "min_version" | "minimum_version" => {
                if let Some(s) = r.string(k, mv) {
                    match check_min_version(&s) {
                        Ok(()) => o.min_version = s,
                        Err(e) => r.error(&k.pos, e),
                    }
                }
            }
            "compression" => {
                if let Err(e) =
                    parse_compression(k, mv, &mut o.compression, CompressionMode::S2Auto)
                {
                    r.errors.push(e);
                }
            }
            "isolate_leafnode_interest" | "isolate" => set(&mut o.isolate, r.boolean(k, mv)),
            "write_deadline" => o.write_deadline = r.duration(k, mv),
            "write_timeout" => {
                if let Some(p) = write_timeout(r, k, mv) {
                    o.write_timeout = p;
                }
            }
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    Some(o)
}

fn port_option(p: i64) -> Option<u16> {
    match p {
        0 => None,
        p => Some(super::cli::port_value(p)),
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn write_timeout(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<WriteTimeoutPolicy> {
    match r.string(k, v)?.as_str() {
        "default" => Some(WriteTimeoutPolicy::Default),
        "close" => Some(WriteTimeoutPolicy::Close),
        "retry" => Some(WriteTimeoutPolicy::Retry),
        _ => {
            r.error(
                &k.pos,
                "write_timeout must be 'default', 'close' or 'retry'",
            );
            None
        }
    }
}

/// `leafnodes { authorization {} }` (nats-server's `parseLeafAuthorization`), then
/// `validateLeafNodeAuthOptions`.
fn leaf_authorization(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    o: &mut LeafOptions,
) {
    let Some(m) = r.map(k, v) else {
        return;
    };
    for (i, (ak, av)) in m.iter().enumerate() {
        match lower(ak).as_str() {
            "user" | "username" => set(&mut o.username, r.string(ak, av)),
            "pass" | "password" => set(&mut o.password, r.string(ak, av)),
            "nkey" => {
                if let Some(nk) = r.string(ak, av) {
                    if !security::is_public_user_key(&nk) {
                        r.error(
                            &ak.pos,
                            "Not a valid public nkey for leafnode authorization",
                        );
                    }
                    o.nkey = nk;
                }
            }
            "timeout" => {
                let t = security::timeout_seconds(r, ak, av, "leafnode authorization");
                if let Some(d) = t.filter(|d| *d > Duration::from_secs(60)) {
                    r.warnings.push(ConfError::option(
                        ak.pos.clone(),
                        format!(
                            "invalid use of field {:?}: timeout of {} ({:.6} seconds) is high, \
                             consider keeping it under 60 seconds. possibly caused by unquoted \
                             duration; use '1m' instead of 1m, for example",
                            ak.value,
                            security::as_written(&av.value),
                            d.as_secs_f64()
                        ),
                    ));
                }
                if t.is_some() {
                    o.auth_timeout = t;
                }
            }
            "users" => {
                if let Some(users) = leaf_users(r, ak, av) {
                    o.users = users;
                }
            }
            "account" => set(&mut o.account, r.string(ak, av)),
            "proxy_required" => set(&mut o.proxy_required, r.boolean(ak, av)),
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(ak);
                }
            }
        }
    }
    if let Err(e) = check_users(o) {
        r.error(&k.pos, e);
    }
}

/// nats-server's `parseLeafUsers`: user, password, account, proxy_required.
fn leaf_users(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<Vec<LeafUserOptions>> {
    let Value::Array(items) = &v.value else {
        r.error(
            &k.pos,
            format!(
                "Expected users field to be an array, got {}",
                v.value.type_name()
            ),
        );
        return None;
    };
    let mut users = Vec::with_capacity(items.len());
    for it in items {
        let Value::Map(um) = &it.value else {
            r.error(
                &it.pos,
                format!(
                    "Expected user entry to be a map/struct, got {}",
                    it.value.type_name()
                ),
            );
            continue;
        };
        let mut u = LeafUserOptions::default();
        for (i, (uk, uv)) in um.iter().enumerate() {
            match lower(uk).as_str() {
                "user" | "username" => set(&mut u.username, r.string(uk, uv)),
                "pass" | "password" => set(&mut u.password, r.string(uk, uv)),
                "account" => set(&mut u.account, r.string(uk, uv)),
                "proxy_required" => set(&mut u.proxy_required, r.boolean(uk, uv)),
                _ => {
                    if !um.is_used_variable(i) {
                        r.unknown(uk);
                    }
                }
            }
        }
        users.push(u);
    }
    Some(users)
}

/// nats-server's `parseRemoteLeafNodes`.
fn parse_remotes(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<Vec<RemoteLeafOptions>> {
    let Value::Array(items) = &v.value else {
        r.error(
            &k.pos,
            format!(
                "Expected remotes field to be an array, got {}",
                go_type(&v.value)
            ),
        );
        return None;
    };
    let mut remotes: Vec<RemoteLeafOptions> = Vec::with_capacity(items.len());
    for it in items {
        let Value::Map(rm) = &it.value else {
            r.error(
                &it.pos,
                format!(
                    "Expected remote leafnode entry to be a map/struct, got {}",
                    it.value.type_name()
                ),
            );
            continue;
        };
        let mut remote = RemoteLeafOptions::default();
        let mut last = &it.pos;
        for (i, (rk, rv)) in rm.iter().enumerate() {
            last = &rk.pos;
            remote_key(r, rk, rv, &mut remote, rm.is_used_variable(i));
        }
        if let Some(p) = &remote.proxy {
            if let Err(e) = check_proxy(p) {
                r.error(last, e);
                continue;
            }
        }
        if remotes.iter().any(|o| o.name() == remote.name()) {
            r.error(last, format!("duplicate remote {}", remote.safe_name()));
            continue;
        }
        remotes.push(remote);
    }
    Some(remotes)
}

fn remote_key(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    remote: &mut RemoteLeafOptions,
    used_variable: bool,
) {
    match lower(k).as_str() {
        "no_randomize" | "dont_randomize" => set(&mut remote.no_randomize, r.boolean(k, v)),
        "url" | "urls" => match &v.value {
            Value::String(s) => match parse_server_url(s, "leafnode") {
                Ok(u) => remote.urls.push(u),
                Err(e) => r.error(&k.pos, e),
            },
            Value::Array(items) => {
                let mut seen: Vec<&str> = Vec::new();
                let mut urls = Vec::with_capacity(items.len());
                for it in items {
                    let Value::String(s) = &it.value else {
                        r.error(
                            &it.pos,
                            format!(
                                "Expected remote leafnode url to be a string, got {}",
                                it.value.type_name()
                            ),
                        );
                        continue;
                    };
                    if seen.contains(&s.as_str()) {
                        r.warnings.push(ConfError::option(
                            it.pos.clone(),
                            format!(
                                "invalid use of field {s:?}: Duplicate leafnode entry detected"
                            ),
                        ));
                        continue;
                    }
                    seen.push(s);
                    match parse_server_url(s, "leafnode") {
                        Ok(u) => urls.push(u),
                        Err(e) => r.error(&it.pos, e),
                    }
                }
                remote.urls = urls;
            }
            other => r.error(
                &k.pos,
                format!(
                    "Expected remote leafnode url to be an array or string, got {}",
                    other.type_name()
                ),
            ),
        },
        "account" | "local" => set(&mut remote.account, r.string(k, v)),
        "creds" | "credentials" => {
            if let Some(p) = r.string(k, v) {
                if !remote.nkey.is_empty() {
                    r.error(
                        &k.pos,
                        "Remote leafnode can not have both creds and nkey defined",
                    );
                } else {
                    remote.credentials = Some(expand_home(&p));
                }
            }
        }
        "nkey" | "seed" => {
            if let Some(seed) = r.string(k, v) {
                let user_seed = seed.starts_with("SU") && nkeys::KeyPair::from_seed(&seed).is_ok();
                if !user_seed {
                    r.error(
                        &k.pos,
                        format!("Remote leafnode nkey is not a valid seed: {seed:?}"),
                    );
                } else if remote.credentials.is_some() {
                    r.error(
                        &k.pos,
                        "Remote leafnode can not have both creds and nkey defined",
                    );
                } else {
                    remote.nkey = seed;
                }
            }
        }
        "tls" => {
            if let Some(tls) = security::parse_tls_in(r, k, v, TlsContext::Client) {
                // Even an empty block: nats-server then dials the hub with TLS.
                remote.tls = Some(tls);
            }
        }
        "hub" => set(&mut remote.hub, r.boolean(k, v)),
        "deny_imports" | "deny_import" => {
            if let Some(s) = security::perm_subjects(r, k, v, false) {
                remote.deny_imports = s;
            }
        }
        "deny_exports" | "deny_export" => {
            if let Some(s) = security::perm_subjects(r, k, v, false) {
                remote.deny_exports = s;
            }
        }
        "ws_compress" | "ws_compression" | "websocket_compress" | "websocket_compression" => {
            set(&mut remote.ws_compression, r.boolean(k, v))
        }
        "ws_no_masking" | "websocket_no_masking" => set(&mut remote.ws_no_masking, r.boolean(k, v)),
        "jetstream_cluster_migrate" | "js_cluster_migrate" => match &v.value {
            Value::Bool(b) => remote.jetstream_cluster_migrate = *b,
            Value::Map(m) => {
                remote.jetstream_cluster_migrate = true;
                if let Some((dk, dv)) = m.iter().find(|(dk, _)| dk.value == "leader_migrate_delay")
                {
                    r.duration(dk, dv);
                }
            }
            other => r.error(
                &k.pos,
                format!(
                    "Expected boolean or map for jetstream_cluster_migrate, got {}",
                    go_type(other)
                ),
            ),
        },
        "isolate_leafnode_interest" | "isolate" => set(&mut remote.isolate, r.boolean(k, v)),
        "request_isolation" => set(&mut remote.request_isolation, r.boolean(k, v)),
        "compression" => {
            if let Err(e) =
                parse_compression(k, v, &mut remote.compression, CompressionMode::S2Auto)
            {
                r.errors.push(e);
            }
        }
        "first_info_timeout" => remote.first_info_timeout = r.duration(k, v),
        "dial_timeout" => remote.dial_timeout = r.duration(k, v),
        "disabled" => set(&mut remote.disabled, r.boolean(k, v)),
        "proxy" => {
            let Value::Map(pm) = &v.value else {
                r.error(
                    &k.pos,
                    format!("Expected proxy to be a map, got {}", go_type(&v.value)),
                );
                return;
            };
            let mut p = LeafProxy::default();
            for (i, (pk, pv)) in pm.iter().enumerate() {
                match lower(pk).as_str() {
                    "url" => set(&mut p.url, r.string(pk, pv)),
                    "username" => set(&mut p.username, r.string(pk, pv)),
                    "password" => set(&mut p.password, r.string(pk, pv)),
                    "timeout" => p.timeout = r.duration(pk, pv),
                    _ => {
                        if !pm.is_used_variable(i) {
                            r.unknown(pk);
                        }
                    }
                }
            }
            remote.proxy = Some(p);
        }
        "ignore_discovered_servers" => set(&mut remote.ignore_discovered_servers, r.boolean(k, v)),
        _ => {
            if !used_variable {
                r.unknown(k);
            }
        }
    }
}

/// nats-server's `expandPath`: a leading `~` is the home directory.
fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix('~'), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            let mut out = PathBuf::from(home);
            out.push(rest.trim_start_matches('/'));
            out
        }
        _ => PathBuf::from(p),
    }
}

/// A `.creds` file's user JWT and seed, found as nats-server finds them (the first two
/// blocks between `---…---` lines). The error is nats-server's log text.
pub fn read_creds(path: &std::path::Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error reading LeafNode Remote Credentials file {:?}: {e}",
            path.display().to_string()
        )
    })?;
    let blocks = creds_blocks(&text);
    let malformed = |what: &str| {
        format!(
            "LeafNode Remote Credentials file {:?} {what}",
            path.display().to_string()
        )
    };
    let [jwt, seed, ..] = blocks.as_slice() else {
        return Err(malformed("malformed"));
    };
    if nkeys::KeyPair::from_seed(seed).is_err() {
        return Err(malformed("has malformed seed"));
    }
    if jwt.split('.').count() != 3 {
        return Err(malformed("has malformed user jwt"));
    }
    Ok((jwt.to_string(), seed.to_string()))
}

/// The one-line items framed by `---…---` lines (nats-server's `credsRe`): a line with at
/// least three dashes on each side, the item (`[\w\-.=]+`), another such line.
fn creds_blocks(text: &str) -> Vec<&str> {
    let frame = |l: &str| {
        let l = l.trim_end_matches('\r');
        l.len() >= 6 && l.starts_with("---") && l.ends_with("---")
    };
    let item = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.=".contains(&b))
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < lines.len() {
        if frame(lines[i]) && item(lines[i + 1]) && frame(lines[i + 2]) {
            out.push(lines[i + 1]);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

impl Options {
    /// The account names configured, as [`LeafOptions::validate`] checks them.
    pub fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{conf, file};

    fn load(text: &str) -> Result<Options, Vec<String>> {
        let map = conf::parse_str(text, "t.conf")
            .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let mut o = Options::default();
        match file::apply(&map, &mut o) {
            Ok(_) => Ok(o),
            Err(e) => Err(e.iter().map(|e| e.msg.clone()).collect()),
        }
    }

    fn leaf(text: &str) -> LeafOptions {
        let mut l = load(text).expect("loads").leafnodes.expect("leafnodes");
        l.resolve_defaults();
        l
    }

    #[test]
    fn listener_and_authorization_keys() {
        let l = leaf(
            r#"leafnodes {
                listen: "127.0.0.1:7422"
                advertise: "leaf.example.com:7422"
                no_advertise: true
                authorization { user: a, password: b, account: ACC, timeout: 3 }
                reconnect: "5s"
                isolate: true
                compression: off
            }
            accounts { ACC {} }"#,
        );
        assert_eq!(l.host, "127.0.0.1");
        assert_eq!(l.port, Some(7422));
        assert_eq!(l.advertise, "leaf.example.com:7422");
        assert!(l.no_advertise);
        assert_eq!((l.username.as_str(), l.password.as_str()), ("a", "b"));
        assert_eq!(l.account, "ACC");
        assert_eq!(l.auth_timeout, Some(Duration::from_secs(3)));
        assert_eq!(l.reconnect, Some(Duration::from_secs(5)));
        assert!(l.isolate);
        assert_eq!(l.compression.mode, "off");
    }

    #[test]
    fn defaults_as_nats_server_sets_them() {
        let l = leaf("leaf { port: -1, remotes [ { url: \"nats://h1\" } ] }");
        assert_eq!(l.host, "0.0.0.0");
        assert_eq!(l.port, Some(0));
        assert_eq!(l.compression.mode, "s2_auto");
        assert_eq!(l.reconnect, Some(DEFAULT_LEAF_NODE_RECONNECT));
        let r = &l.remotes[0];
        assert_eq!(r.urls[0].host_port, "h1:7422");
        assert_eq!(r.urls[0].port, Some(7422));
        assert_eq!(r.account, "$G");
        assert_eq!(r.first_info_timeout, Some(Duration::from_secs(1)));
        assert_eq!(r.compression.mode, "s2_auto");
        let none = load("leafnodes {}").expect("loads");
        assert_eq!(none.leafnodes, None);
    }

    #[test]
    fn remote_keys_and_aliases() {
        let l = leaf(
            r#"leafnodes { remotes [
                { urls: ["nats://u:p@h1:1", "nats://h2:2"], local: ACC, dont_randomize: true,
                  deny_import: "a.>", deny_exports: ["b", "c.*"], first_info_timeout: "3s",
                  seed: "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU" }
                { url: "nats://h3", credentials: "/tmp/x.creds", disabled: true,
                  compression: true, js_cluster_migrate: { leader_migrate_delay: "2s" } }
            ] }
            accounts { ACC {} }"#,
        );
        let a = &l.remotes[0];
        assert_eq!(a.urls.len(), 2);
        assert_eq!(a.urls[0].username.as_deref(), Some("u"));
        assert_eq!(a.account, "ACC");
        assert!(a.no_randomize);
        assert_eq!(a.deny_imports, vec!["a.>"]);
        assert_eq!(a.deny_exports, vec!["b", "c.*"]);
        assert_eq!(a.first_info_timeout, Some(Duration::from_secs(3)));
        assert!(a.nkey.starts_with("SU"));
        let b = &l.remotes[1];
        assert_eq!(b.credentials, Some(PathBuf::from("/tmp/x.creds")));
        assert!(b.disabled);
        assert_eq!(b.compression.mode, "s2_auto");
        assert!(b.jetstream_cluster_migrate);
    }

    #[test]
    fn errors_use_nats_server_texts() {
        let cases: &[(&str, &str)] = &[
            (
                "leafnodes: 1",
                "Expected map to define a leafnode, got int64",
            ),
            (
                "leafnodes { remotes: 1 }",
                "Expected remotes field to be an array, got int64",
            ),
            (
                "leafnodes { remotes: [1] }",
                "Expected remote leafnode entry to be a map/struct",
            ),
            ("leafnodes { bogus: 1 }", "unknown field \"bogus\""),
            (
                "leafnodes { remotes: [{bogus: 1}] }",
                "unknown field \"bogus\"",
            ),
            (
                "leafnodes { remotes: [{url: 1}] }",
                "Expected remote leafnode url to be an array or string",
            ),
            (
                "leafnodes { remotes: [{url: \"nats://h\", seed: \"nope\"}] }",
                "Remote leafnode nkey is not a valid seed: \"nope\"",
            ),
            (
                "leafnodes { authorization { nkey: \"nope\" } }",
                "Not a valid public nkey for leafnode authorization",
            ),
            (
                "leafnodes { authorization { user: a, users: [{user: b}] } }",
                "can not have a single user/pass and a users array",
            ),
            (
                "leafnodes { authorization { users: [{user: b}, {user: b}] } }",
                "duplicate user \"b\" detected in leafnode authorization",
            ),
            (
                "leafnodes { min_version: \"2.7.0\" }",
                "the minimum version should be at least 2.8.0",
            ),
            (
                "leafnodes { remotes: [{url: \"nats://h\"}, {url: \"nats://h\"}] }",
                "duplicate remote urls=[\"nats://h\"], account=\"$G\"",
            ),
            (
                "leafnodes { remotes: [{url: \"nats://h\", proxy: {url: \"ftp://p\"}}] }",
                "proxy URL scheme must be http or https, got: ftp",
            ),
        ];
        for (text, want) in cases {
            let errs = load(text).expect_err(text);
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{text}: {errs:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn validation_as_nats_server_starts() {
        let check = |text: &str| {
            let o = load(text).expect("loads");
            let mut l = o.leafnodes.clone().expect("leafnodes");
            l.resolve_defaults();
            l.validate(&o.account_names())
        };
        assert_eq!(
            check("leafnodes { remotes: [{url: \"nats://h\", account: NOPE}] }"),
            Err("cannot find local account \"NOPE\" specified in leafnode remote".into())
        );
        assert_eq!(
            check("leafnodes { authorization { user: a, account: NOPE } }"),
            Err("cannot find local account \"NOPE\" specified in leafnode authorization".into())
        );
        assert!(check("leafnodes { remotes: [{url: \"nats://h\", account: \"$SYS\"}] }").is_ok());
        let mixed = check("leafnodes { remotes: [{urls: [\"nats://h\", \"ws://u:p@h\"]}] }");
        assert_eq!(
            mixed,
            Err(
                "remote leaf node configuration cannot have a mix of websocket and \
                 non-websocket urls: [\"nats://h:7422\" \"ws://u:xxxxx@h:7422\"]"
                    .into()
            )
        );
        assert_eq!(
            check("leafnodes { port: -1, compression: bogus }"),
            Err("unsupported compression mode \"bogus\"".into())
        );
    }

    #[test]
    fn creds_file_items() {
        let text = "-----BEGIN NATS USER JWT-----\neyJ0.eyJ1.c2ln\n------END NATS USER JWT------\n\n\
                    ************************* IMPORTANT *************************\n\
                    -----BEGIN USER NKEY SEED-----\nSUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU\n\
                    ------END USER NKEY SEED------\n";
        assert_eq!(
            creds_blocks(text),
            vec![
                "eyJ0.eyJ1.c2ln",
                "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
            ]
        );
        let dir = std::env::temp_dir().join(format!("natrium-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good.creds");
        std::fs::write(&good, text).expect("write");
        let (jwt, seed) = read_creds(&good).expect("reads");
        assert_eq!(jwt, "eyJ0.eyJ1.c2ln");
        assert!(seed.starts_with("SU"));
        let bad = dir.join("bad.creds");
        std::fs::write(&bad, "nothing here").expect("write");
        assert!(read_creds(&bad)
            .expect_err("malformed")
            .ends_with("malformed"));
        assert!(read_creds(&dir.join("missing"))
            .expect_err("missing")
            .starts_with("Error reading LeafNode Remote Credentials file"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.10.3"), Some((2, 10, 3)));
        assert_eq!(parse_version("v2.8.0-beta"), Some((2, 8, 0)));
        assert_eq!(parse_version("2.8"), None);
        assert!(check_min_version("2.8.0").is_ok());
        assert!(check_min_version("x").is_err());
    }
}
