//! Clustering (routes) configuration: the `cluster {}` block, the values of the cluster
//! flags (`--cluster`, `--routes`, …), nats-server's defaults for them and its start-up
//! checks (`opts.go` `parseCluster`, `parseURLs`, `parseCompression`, `overrideCluster`,
//! `RoutesFromStr`, `setBaselineOptions`; `server.go` `validateCluster`).
//!
//! This module owns [`ClusterOptions`] and everything needed to fill it in and check it; it
//! opens no socket. The route runtime reads the options from here; the reload rules for
//! them are in [`super::reload`], the `/varz` `cluster` object in `monitor::varz`.
//!
//! Route URLs are read the way Go's `net/url` reads them (scheme, userinfo, host, port, and
//! its error texts, which `--cluster` prints as they are), so that a URL nats-server accepts
//! is accepted here and one it refuses is refused with the same words.

use std::time::Duration;

use super::conf::{self, ConfError, Map, Spanned, Value};
use super::file::{go_duration, lower, Reader};
use super::security::{self, SubjectPermission, TlsConfig, TlsContext};
use super::{Options, WriteTimeoutPolicy, DEFAULT_HOST};

/// nats-server's `DEFAULT_ROUTE_POOL_SIZE`.
pub const DEFAULT_ROUTE_POOL_SIZE: i64 = 3;
/// Routes never PING less often than this (nats-server's `routeMaxPingInterval`): S2 auto
/// compression picks its level from the RTT the PINGs measure.
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The system account nats-server creates when none is configured, and pins a route to.
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";
/// nats-server's `defaultCompressionS2AutoRTTThresholds`: up to 10 ms uncompressed, up to
/// 50 ms fast, up to 100 ms better, above that best.
pub const DEFAULT_S2_AUTO_RTT_THRESHOLDS: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
];
/// nats-server's `DEFAULT_ROUTE_CONNECT`: the delay between dials of an explicit route.
pub const DEFAULT_ROUTE_CONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_ROUTE_CONNECT_MAX`: the longest delay with `connect_backoff`.
pub const DEFAULT_ROUTE_CONNECT_MAX: Duration = Duration::from_secs(30);
/// nats-server's `DEFAULT_ROUTE_RECONNECT`: the delay before re-dialling a lost route.
pub const DEFAULT_ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_ROUTE_DIAL`: the dial timeout.
pub const DEFAULT_ROUTE_DIAL: Duration = Duration::from_secs(1);

/// The `cluster {}` block and the cluster flags (nats-server's `ClusterOpts` plus
/// `Options.Routes`). `Options.cluster` is `None` when neither configures anything.
///
/// Values are kept as configured; [`ClusterOptions::resolve_defaults`] (run by
/// [`super::cli::Flags::apply`], as nats-server's `setBaselineOptions` runs after the flags)
/// fills in the defaults that depend on a listener being configured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterOptions {
    /// `name`, `--cluster_name`: the cluster name, without spaces. Empty (the default) =
    /// dynamic: the runtime generates one, and adopts a peer's.
    pub name: String,
    /// `host`/`net`, or the host of `listen`/`--cluster`: where the route listener binds.
    /// Empty until a port is set; then `0.0.0.0` by default.
    pub host: String,
    /// `port`, or the port of `listen`/`--cluster`. `None` (the default, also `0`) = no route
    /// listener; `Some(0)` = a random port (`-1` in the file and flags).
    pub port: Option<u16>,
    /// `advertise`/`cluster_advertise`, `--cluster_advertise`: `host[:port]` put in route
    /// INFO instead of the listen address. Default: none.
    pub advertise: String,
    /// `no_advertise`, `--no_advertise`: don't tell clients about the other servers, and
    /// send no `connect_urls` to peers. Default `false`.
    pub no_advertise: bool,
    /// `routes`, `--routes`: the servers to dial (explicit routes, re-dialled forever).
    /// Default: none.
    pub routes: Vec<RouteUrl>,
    /// `connect_retries`, `--connect_retries`: extra dial attempts for implicit (gossiped)
    /// routes. Default `0` (one attempt).
    pub connect_retries: i64,
    /// `connect_backoff`: double the delay between dials of a route, 1 s up to 30 s.
    /// Default `false` (every second).
    pub connect_backoff: bool,
    /// `authorization { user }`, or the user of `--cluster nats://user:pass@…`: what a
    /// peer must send in its route CONNECT, and what we send. Default: none.
    pub username: String,
    /// `authorization { password }`, or the password of `--cluster`. Default: none.
    pub password: String,
    /// `authorization { timeout }` (seconds). `None` (the default) = 2 s, or the TLS
    /// timeout plus 1 s with TLS: see [`ClusterOptions::effective_auth_timeout`].
    pub auth_timeout: Option<Duration>,
    /// `tls {}`: the client block's keys, with `verify_cert_and_check_known_urls` allowed.
    /// nats-server always verifies peers both ways on routes. Default: none (plain TCP).
    pub tls: Option<TlsConfig>,
    /// `permissions { import, export }` (or the deprecated form in `authorization`).
    /// Default: none (everything both ways).
    pub permissions: Option<RoutePermissions>,
    /// `pool_size`: connections per peer for the unpinned accounts. `0` = not set (3 once a
    /// listener is configured, [`DEFAULT_ROUTE_POOL_SIZE`]); `-1` (any negative) disables
    /// pooling: one connection per peer, as before nats-server 2.10.
    pub pool_size: i64,
    /// `accounts`: accounts with a dedicated route each, as configured. The system account
    /// is added to these when pooling is on: see [`ClusterOptions::pinned_accounts`].
    /// Default: none.
    pub accounts: Vec<String>,
    /// `compression`: S2 compression of route traffic. Default: `accept` once a listener is
    /// configured (don't start compression, follow a peer that does).
    pub compression: Compression,
    /// `ping_interval`: `None` (the default) = the top-level `ping_interval`; either way
    /// capped at 30 s ([`ClusterOptions::effective_ping_interval`]).
    pub ping_interval: Option<Duration>,
    /// `ping_max`: unanswered PINGs before a route is stale. `0` (the default, or negative)
    /// = the top-level `ping_max`.
    pub ping_max: i64,
    /// `write_deadline`: `None` (the default) = the top-level `write_deadline`.
    pub write_deadline: Option<Duration>,
    /// `write_timeout`: what a write past the deadline does. `default` (the default) means
    /// `retry` on routes in nats-server.
    pub write_timeout: WriteTimeoutPolicy,
}

/// One entry of `routes`/`--routes`, read as Go's `url.Parse` reads it. Any scheme is
/// accepted (`nats://`, `nats-route://`, `tls://`…): nats-server dials `host:port` whatever
/// the scheme says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteUrl {
    /// As written, surrounding whitespace removed.
    pub url: String,
    /// Lower-cased, e.g. `nats-route`. Empty when none was given.
    pub scheme: String,
    /// The userinfo's user: sent in the route CONNECT to that server.
    pub username: Option<String>,
    /// The userinfo's password (`None` without one, `Some("")` for `user:@`).
    pub password: Option<String>,
    /// Go's `url.Host`: host and port as written (`[v6]:port`); what `/varz` lists.
    pub host_port: String,
    /// The host without brackets or port.
    pub host: String,
    /// The port; `None` when the URL has none (nats-server then fails each dial with
    /// "missing port in address").
    pub port: Option<u16>,
    /// The path and query, kept only so that two URLs compare as Go compares them.
    pub path: String,
}

impl RouteUrl {
    /// nats-server's `urlsAreEqual`: the same parsed URL (the scheme's case and surrounding
    /// blanks do not count).
    pub fn same_route(&self, other: &RouteUrl) -> bool {
        (
            &self.scheme,
            &self.username,
            &self.password,
            &self.host_port,
            &self.path,
        ) == (
            &other.scheme,
            &other.username,
            &other.password,
            &other.host_port,
            &other.path,
        )
    }

    /// `host:port` to dial (what Go's `url.Host` holds).
    pub fn dial_address(&self) -> &str {
        &self.host_port
    }
}

/// `permissions { import, export }` of the cluster block: which interest crosses routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutePermissions {
    /// Subjects we ask peers for (we send RS+ only for these). `publish` is an alias.
    pub import: Option<SubjectPermission>,
    /// Subjects peers may ask us for (their RS+ is accepted only for these). `subscribe` is
    /// an alias.
    pub export: Option<SubjectPermission>,
}

/// `compression` as configured: a mode string (`true` → `s2_fast`, `false` → `off`) and,
/// for `s2_auto`, the RTT thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compression {
    /// As written; empty = not set (`accept` once a listener is configured). Checked by
    /// [`Compression::normalized`] at start-up, as nats-server checks it in `NewServer`.
    pub mode: String,
    /// `rtt_thresholds` (aliases `thresholds`, `rtts`, `rtt`), for `s2_auto`.
    pub rtt_thresholds: Vec<Duration>,
}

/// nats-server's compression modes, as they appear in INFO and `/routez`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionMode {
    NotSupported,
    Off,
    Accept,
    S2Uncompressed,
    S2Fast,
    S2Better,
    S2Best,
    S2Auto,
}

impl CompressionMode {
    /// The string nats-server uses (INFO `compression`, `/routez`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionMode::NotSupported => "not supported",
            CompressionMode::Off => "off",
            CompressionMode::Accept => "accept",
            CompressionMode::S2Uncompressed => "s2_uncompressed",
            CompressionMode::S2Fast => "s2_fast",
            CompressionMode::S2Better => "s2_better",
            CompressionMode::S2Best => "s2_best",
            CompressionMode::S2Auto => "s2_auto",
        }
    }
}

impl std::fmt::Display for CompressionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked compression setting: the mode, and for `s2_auto` the thresholds in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedCompression {
    pub mode: CompressionMode,
    /// Empty unless the mode is `s2_auto`; then at most 4, a `0` slot skipping that level.
    pub rtt_thresholds: Vec<Duration>,
}

impl Compression {
    /// nats-server's `validateAndNormalizeCompressionOption` for routes (`on` means
    /// `s2_fast`), with its error texts. An unset mode is `accept`.
    pub fn normalized(&self) -> Result<NormalizedCompression, String> {
        self.normalized_with(CompressionMode::S2Fast)
    }

    /// [`Compression::normalized`] with `on` meaning `on` (leaf nodes: `s2_auto`).
    pub fn normalized_with(&self, on: CompressionMode) -> Result<NormalizedCompression, String> {
        let lower = self.mode.to_lowercase();
        let lower = match lower.as_str() {
            "on" | "enabled" | "true" => on.as_str().to_string(),
            _ => lower,
        };
        let plain = |mode| {
            Ok(NormalizedCompression {
                mode,
                rtt_thresholds: Vec::new(),
            })
        };
        match lower.as_str() {
            "" | "accept" => plain(CompressionMode::Accept),
            "not supported" | "not_supported" => plain(CompressionMode::NotSupported),
            "disabled" | "off" | "false" => plain(CompressionMode::Off),
            "fast" | "s2_fast" => plain(CompressionMode::S2Fast),
            "better" | "s2_better" => plain(CompressionMode::S2Better),
            "best" | "s2_best" => plain(CompressionMode::S2Best),
            "auto" | "s2_auto" => Ok(NormalizedCompression {
                mode: CompressionMode::S2Auto,
                rtt_thresholds: self.auto_thresholds()?,
            }),
            // `s2_uncompressed` is a level s2_auto picks, not a mode one may configure:
            // nats-server 2.15.1 refuses it too.
            _ => Err(format!("unsupported compression mode {:?}", self.mode)),
        }
    }

    fn auto_thresholds(&self) -> Result<Vec<Duration>, String> {
        if self.rtt_thresholds.is_empty() {
            return Ok(DEFAULT_S2_AUTO_RTT_THRESHOLDS.to_vec());
        }
        let mut rtts: Vec<Duration> = Vec::new();
        for &n in &self.rtt_thresholds {
            // A 0 anywhere skips that level; the others must not go down.
            if n != Duration::ZERO && rtts.iter().any(|&v| n < v) {
                return Err(format!(
                    "RTT threshold values {} should be in ascending order",
                    go_durations(&self.rtt_thresholds)
                ));
            }
            rtts.push(n);
        }
        while rtts.last() == Some(&Duration::ZERO) {
            rtts.pop();
        }
        if rtts.len() > 4 {
            return Err(format!(
                "compression mode {:?} should have no more than 4 RTT thresholds: {}",
                self.mode,
                go_durations(&self.rtt_thresholds)
            ));
        }
        if rtts.is_empty() {
            return Err(format!(
                "compression mode {:?} requires at least one RTT threshold",
                self.mode
            ));
        }
        Ok(rtts)
    }
}

/// A Go `[]time.Duration` as `%v` prints it: `[50ms 10ms]`.
fn go_durations(d: &[Duration]) -> String {
    let items: Vec<String> = d.iter().map(|d| go_duration(*d)).collect();
    format!("[{}]", items.join(" "))
}

/// A Go `[]string` as `%q` prints it: `["A" "B"]`.
fn go_quoted_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

impl ClusterOptions {
    /// Whether anything at all is set (an empty `cluster {}` configures nothing).
    pub fn is_configured(&self) -> bool {
        *self != ClusterOptions::default()
    }

    /// nats-server's `setBaselineOptions` for the cluster: once a listener is configured,
    /// the host defaults to `0.0.0.0`, `pool_size` to 3 and `compression` to `accept`.
    /// Running it twice changes nothing.
    pub fn resolve_defaults(&mut self) {
        if self.port.is_none() {
            return;
        }
        if self.host.is_empty() {
            self.host = DEFAULT_HOST.to_string();
        }
        if self.pool_size == 0 {
            self.pool_size = DEFAULT_ROUTE_POOL_SIZE;
        }
        if self.compression.mode.is_empty() {
            self.compression.mode = CompressionMode::Accept.as_str().to_string();
        }
    }

    /// The accounts with dedicated routes: `accounts`, plus the system account when pooling
    /// is on (`pool_size > 0`) and it is not listed already, as nats-server pins it.
    /// `system_account` is the configured system account, `None` with `no_system_account`.
    /// natrium has no system account yet, so [`Options::cluster_pinned_accounts`] passes
    /// [`DEFAULT_SYSTEM_ACCOUNT`], the name nats-server uses when none is configured.
    pub fn pinned_accounts(&self, system_account: Option<&str>) -> Vec<String> {
        let mut out = self.accounts.clone();
        if self.pool_size > 0 {
            if let Some(sys) = system_account.filter(|s| !s.is_empty()) {
                if !out.iter().any(|a| a == sys) {
                    out.push(sys.to_string());
                }
            }
        }
        out
    }

    /// The TLS handshake timeout for routes: the block's, else 2 s.
    pub fn tls_timeout(&self) -> Duration {
        self.tls
            .as_ref()
            .map_or(crate::tls::TLS_TIMEOUT, crate::tls::timeout)
    }

    /// nats-server's route auth timeout: the configured one, else 2 s, or the TLS timeout
    /// plus one second with TLS.
    pub fn effective_auth_timeout(&self) -> Duration {
        match (self.auth_timeout.filter(|t| !t.is_zero()), &self.tls) {
            (Some(t), _) => t,
            (None, Some(_)) => self.tls_timeout() + Duration::from_secs(1),
            (None, None) => super::AUTH_TIMEOUT,
        }
    }

    /// The PING interval on routes: the cluster's, else the top-level one (`server`), at
    /// most [`ROUTE_MAX_PING_INTERVAL`].
    pub fn effective_ping_interval(&self, server: Duration) -> Duration {
        self.ping_interval
            .filter(|d| !d.is_zero())
            .unwrap_or(server)
            .min(ROUTE_MAX_PING_INTERVAL)
    }

    /// nats-server's `validateCluster`, plus the check it makes when the route listener
    /// starts (the advertise address must parse). `system_account` as for
    /// [`ClusterOptions::pinned_accounts`].
    pub fn validate(&self, system_account: Option<&str>) -> Result<(), String> {
        if self.name.contains(' ') {
            return Err("cluster name cannot contain spaces".into());
        }
        if let Some(p) = &self.permissions {
            check_route_permission_subjects(p)?;
        }
        if !self.compression.mode.is_empty() {
            self.compression.normalized()?;
        }
        if let Some(tls) = &self.tls {
            for c in &tls.pinned_certs {
                let c = c.to_lowercase();
                if c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "cluster: error parsing 'pinned_certs' key {c} does not look like lower \
                         case hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
                    ));
                }
            }
        }
        let pinned = self.pinned_accounts(system_account);
        if !pinned.is_empty() {
            if self.pool_size < 0 {
                return Err("pool_size cannot be negative if pinned accounts are specified".into());
            }
            for (i, a) in pinned.iter().enumerate() {
                if pinned[..i].contains(a) {
                    return Err(format!(
                        "found duplicate account name {a:?} in pinned accounts list {}",
                        go_quoted_list(&pinned)
                    ));
                }
            }
        }
        // nats-server checks this when the route listener starts, and stops.
        if let Some(port) = self.port {
            if !self.advertise.is_empty() {
                if let Err(e) = parse_host_port(&self.advertise, port) {
                    return Err(format!(
                        "Error setting route INFO with Cluster.Advertise value of {}, err={e}",
                        self.advertise
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Options {
    /// [`ClusterOptions::pinned_accounts`] with the system account nats-server would use:
    /// natrium has none yet (`system_account`, `no_system_account` are ignored keys), so
    /// this is `$SYS`, nats-server's default.
    pub fn cluster_pinned_accounts(&self) -> Vec<String> {
        self.cluster
            .as_ref()
            .map(|c| c.pinned_accounts(Some(DEFAULT_SYSTEM_ACCOUNT)))
            .unwrap_or_default()
    }
}

/// nats-server's `checkClusterPermissionSubjects`: plain subjects only (no queue groups).
pub fn check_route_permission_subjects(p: &RoutePermissions) -> Result<(), String> {
    for (what, perm) in [("import", &p.import), ("export", &p.export)] {
        let Some(perm) = perm else { continue };
        let lists = [
            ("allow", perm.allow.as_deref().unwrap_or(&[])),
            ("deny", &perm.deny[..]),
        ];
        for (kind, subjects) in lists {
            if let Some(s) = subjects
                .iter()
                .find(|s| !crate::subject::is_valid_subject(s.as_bytes()))
            {
                return Err(format!(
                    "cluster {what} {kind}: subject {s:?} is not a valid subject"
                ));
            }
        }
    }
    Ok(())
}

/// nats-server's `parseHostPort`: `host:port`, or a bare host that takes `default_port`;
/// a port of 0 or -1 is `default_port` too.
pub fn parse_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = match split_host_port(s) {
        Ok(hp) => hp,
        Err(e) if e.ends_with("missing port in address") => {
            split_host_port(&format!("{s}:{default_port}"))?
        }
        Err(e) => return Err(e),
    };
    let port_text = port.trim();
    let port: i64 = port_text
        .parse()
        .map_err(|_| format!("strconv.Atoi: parsing {port_text:?}: invalid syntax"))?;
    let port = match port {
        0 | -1 => default_port,
        p => u16::try_from(p)
            .map_err(|_| format!("strconv.Atoi: parsing {port_text:?}: value out of range"))?,
    };
    Ok((host.trim().to_string(), port))
}

/// Go's `net.SplitHostPort`, with its errors (`address X: missing port in address`, `too
/// many colons in address`, …).
pub fn split_host_port(hostport: &str) -> Result<(String, String), String> {
    let err = |why: &str| {
        if hostport.is_empty() {
            why.to_string()
        } else {
            format!("address {hostport}: {why}")
        }
    };
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    let Some(colon) = hostport.rfind(':') else {
        return Err(err(MISSING_PORT));
    };
    let (host, open_from, close_from);
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(err("missing ']' in address"));
        };
        if end + 1 == hostport.len() {
            return Err(err(MISSING_PORT));
        }
        if end + 1 != colon {
            if hostport.as_bytes()[end + 1] == b':' {
                return Err(err(TOO_MANY_COLONS));
            }
            return Err(err(MISSING_PORT));
        }
        host = &hostport[1..end];
        (open_from, close_from) = (1, end + 1);
    } else {
        host = &hostport[..colon];
        if host.contains(':') {
            return Err(err(TOO_MANY_COLONS));
        }
        (open_from, close_from) = (0, 0);
    }
    if hostport[open_from..].contains('[') {
        return Err(err("unexpected '[' in address"));
    }
    if hostport[close_from..].contains(']') {
        return Err(err("unexpected ']' in address"));
    }
    Ok((host.to_string(), hostport[colon + 1..].to_string()))
}

/// What Go's `url.Parse` makes of a URL, as far as routes need it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct GoUrl {
    scheme: String,
    username: Option<String>,
    password: Option<String>,
    /// `url.Host`: unescaped, brackets kept.
    host: String,
    /// Path (and `?query`), or the opaque part of `scheme:opaque`.
    path: String,
}

/// Go's `url.Parse`, with its error texts (`parse "…": invalid port ":x" after host`).
fn parse_go_url(raw: &str) -> Result<GoUrl, String> {
    let wrap = |e: String| format!("parse {raw:?}: {e}");
    let (without_fragment, _fragment) = raw.split_once('#').unwrap_or((raw, ""));
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(wrap("net/url: invalid control character in URL".into()));
    }
    let mut u = GoUrl::default();
    let (scheme, mut rest) = go_scheme(without_fragment).map_err(wrap)?;
    u.scheme = scheme.to_lowercase();
    let mut query = "";
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        query = q;
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            // `scheme:opaque`: no host.
            u.path = rest.to_string();
            return Ok(u);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err(wrap(
                "first path segment in URL cannot contain colon".into(),
            ));
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        parse_authority(authority, &mut u).map_err(wrap)?;
        rest = path;
    }
    unescape(rest, Mode::Path).map_err(wrap)?;
    u.path = if query.is_empty() {
        rest.to_string()
    } else {
        format!("{rest}?{query}")
    };
    Ok(u)
}

/// Go's `getScheme`.
fn go_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority`: `[userinfo@]host`.
fn parse_authority(authority: &str, u: &mut GoUrl) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    u.host = parse_host(host)?;
    let Some(userinfo) = userinfo else {
        return Ok(());
    };
    let valid = userinfo
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    match userinfo.split_once(':') {
        None => u.username = Some(unescape(userinfo, Mode::UserInfo)?),
        Some((user, pass)) => {
            u.username = Some(unescape(user, Mode::UserInfo)?);
            u.password = Some(unescape(pass, Mode::UserInfo)?);
        }
    }
    Ok(())
}

/// Go's `parseHost`: checks the port part and the host's characters.
fn parse_host(host: &str) -> Result<String, String> {
    let port_part = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        &host[i + 1..]
    } else {
        match host.rfind(':') {
            Some(i) => &host[i..],
            None => "",
        }
    };
    let valid_port = port_part.is_empty()
        || port_part
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !valid_port {
        return Err(format!("invalid port {port_part:?} after host"));
    }
    unescape(host, Mode::Host)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Path,
    UserInfo,
}

/// Go's `unescape`: `%XX` escapes, and in a host only the characters a host may hold.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let escape = || s.get(i..(i + 3).min(s.len())).unwrap_or("").to_string();
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) else {
                    return Err(format!("invalid URL escape {:?}", escape()));
                };
                // In a host, only `%25` (an escaped `%`, in IPv6 zones) and escapes of
                // non-ASCII bytes may appear (Go).
                if mode == Mode::Host && h < 8 && &b[i..i + 3] != b"%25" {
                    return Err(format!("invalid URL escape {:?}", escape()));
                }
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            c => {
                if mode == Mode::Host && c < 0x80 && !host_char(c) {
                    return Err(format!(
                        "invalid character {:?} in host name",
                        (c as char).to_string()
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The ASCII characters Go's `shouldEscape` leaves alone in a host.
fn host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// A route URL as `routes`/`--routes` take it. The error is nats-server's config-file text.
pub fn parse_route_url(raw: &str) -> Result<RouteUrl, String> {
    parse_server_url(raw, "route")
}

/// A URL of a server to dial, as nats-server's `parseURL(u, typ)` reads it (`typ` is
/// `route` or `leafnode`, for the error text).
pub fn parse_server_url(raw: &str, typ: &str) -> Result<RouteUrl, String> {
    let trimmed = raw.trim();
    let refuse = || format!("error parsing {typ} url [{trimmed:?}]");
    let u = parse_go_url(trimmed).map_err(|_| refuse())?;
    let (host, port) = if let Some(inner) = u.host.strip_prefix('[') {
        let end = inner.rfind(']').unwrap_or(inner.len());
        (&inner[..end], inner.get(end + 1..).unwrap_or(""))
    } else {
        match u.host.rfind(':') {
            Some(i) => (&u.host[..i], &u.host[i..]),
            None => (&u.host[..], ""),
        }
    };
    let port = match port.strip_prefix(':').filter(|p| !p.is_empty()) {
        None => None,
        // Go accepts any digits and then fails every dial; a port that cannot exist is
        // refused here instead (docs/compat.md).
        Some(p) => Some(p.parse::<u16>().map_err(|_| refuse())?),
    };
    Ok(RouteUrl {
        url: trimmed.to_string(),
        scheme: u.scheme.clone(),
        username: u.username.clone(),
        password: u.password.clone(),
        host_port: u.host.clone(),
        host: host.to_string(),
        port,
        path: u.path,
    })
}

/// `--routes url,url`: nats-server's `RoutesFromStr` (entries trimmed, empty ones kept as
/// routes without a host, as it keeps them). An entry Go cannot parse crashes nats-server
/// 2.15.1 when it dials; natrium refuses it with the config file's error text.
pub fn routes_from_str(s: &str) -> Result<Vec<RouteUrl>, String> {
    s.split(',').map(parse_route_url).collect()
}

/// `--cluster`/`--cluster_listen nats://[user:pass@]host:port`: where to listen and the
/// credentials peers must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterListen {
    pub host: String,
    /// 0 = a random port (`:-1`).
    pub port: u16,
    /// From the URL's userinfo; both empty without one (which clears the file's).
    pub username: String,
    pub password: String,
}

/// nats-server's `overrideCluster`: `Ok(None)` for an empty value (clustering off), the
/// listen address and credentials otherwise, or Go's error text.
pub fn parse_cluster_listen(s: &str) -> Result<Option<ClusterListen>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    // Go's url.Parse refuses port -1, so nats-server parses ":0" and restores -1 after.
    let (text, random) = match s.strip_suffix(":-1") {
        Some(head) => (format!("{head}:0"), true),
        None => (s.to_string(), false),
    };
    let u = parse_go_url(&text)?;
    let (host, port) = split_host_port(&u.host)?;
    let port: u16 = if random {
        0
    } else if port.is_empty() {
        // fmt.Sscan on nothing.
        return Err("EOF".into());
    } else {
        port.parse().map_err(|_| {
            format!(
                "Error listening on router port: {port} - listen tcp: address {port}: invalid port"
            )
        })?
    };
    let (username, password) = match (u.username, u.password) {
        (Some(_), None) => return Err("expected cluster password to be set".into()),
        (Some(user), Some(pass)) => (user, pass),
        _ => (String::new(), String::new()),
    };
    Ok(Some(ClusterListen {
        host,
        port,
        username,
        password,
    }))
}

/// Go's `%T` for a config value, as nats-server's messages name types.
pub(crate) fn go_type(v: &Value) -> &'static str {
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

/// Reads a `cluster {}` block (nats-server's `parseCluster`): errors and warnings go to
/// `r` with nats-server's texts and the positions it gives them. Defaults are not filled
/// in here (see [`ClusterOptions::resolve_defaults`]).
pub(crate) fn parse_cluster(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<ClusterOptions> {
    let Value::Map(m) = &v.value else {
        r.error(
            &key.pos,
            format!("Expected map to define cluster, got {}", go_type(&v.value)),
        );
        return None;
    };
    let mut c = ClusterOptions::default();
    // Top-level `permissions` win over the deprecated ones in `authorization`, whatever
    // the order (nats-server's intent; its map order is random).
    let mut top_level_permissions = false;
    let mut auth_permissions = None;
    for (i, (k, mv)) in m.iter().enumerate() {
        // A repeated key: only the last one counts (and is checked), as at the top level.
        if m.iter().skip(i + 1).any(|(k2, _)| k2.value == k.value) {
            continue;
        }
        match lower(k).as_str() {
            "name" => {
                if let Some(name) = r.string(k, mv) {
                    if name.contains(' ') {
                        r.error(&k.pos, "cluster name cannot contain spaces");
                    } else {
                        c.name = name;
                    }
                }
            }
            "listen" => {
                if let Some((host, port)) = r.listen(k, mv) {
                    c.host = host.unwrap_or_default();
                    c.port = port_option(port);
                }
            }
            "port" => {
                if let Some(p) = r.port(k, mv) {
                    c.port = port_option(p);
                }
            }
            "host" | "net" => {
                if let Some(h) = r.string(k, mv) {
                    c.host = h;
                }
            }
            "authorization" => {
                if let Some(perms) = cluster_authorization(r, k, mv, &mut c) {
                    auth_permissions = Some(perms);
                }
            }
            "routes" => {
                if let Some(routes) = route_list(r, k, mv) {
                    c.routes = routes;
                }
            }
            "tls" => {
                if let Some(tls) = security::parse_tls_in(r, k, mv, TlsContext::Route) {
                    c.tls = tls.is_configured().then_some(tls);
                }
            }
            "cluster_advertise" | "advertise" => {
                if let Some(a) = r.string(k, mv) {
                    c.advertise = a;
                }
            }
            "no_advertise" => {
                if let Some(b) = r.boolean(k, mv) {
                    c.no_advertise = b;
                }
            }
            "connect_retries" => {
                if let Some(n) = r.int(k, mv) {
                    c.connect_retries = n;
                }
            }
            "connect_backoff" => {
                if let Some(b) = r.boolean(k, mv) {
                    c.connect_backoff = b;
                }
            }
            "permissions" => {
                top_level_permissions = true;
                if let Some(p) = route_permissions(r, k, mv) {
                    c.permissions = Some(p);
                }
            }
            "pool_size" => {
                if let Some(n) = r.int(k, mv) {
                    c.pool_size = n;
                }
            }
            "accounts" => {
                if let Some(a) = string_array(r, k, mv, "accounts") {
                    c.accounts = a;
                }
            }
            "compression" => {
                if let Err(e) =
                    parse_compression(k, mv, &mut c.compression, CompressionMode::S2Fast)
                {
                    r.errors.push(e);
                }
            }
            "ping_interval" => {
                if let Some(d) = r.duration(k, mv) {
                    if d > ROUTE_MAX_PING_INTERVAL {
                        r.warnings.push(ConfError {
                            kind: conf::ErrorKind::Option,
                            pos: k.pos.clone(),
                            msg: format!(
                                "Cluster 'ping_interval' will reset to {} which is the max for \
                                 routes",
                                go_duration(ROUTE_MAX_PING_INTERVAL)
                            ),
                        });
                    }
                    c.ping_interval = Some(d);
                }
            }
            "ping_max" => {
                if let Some(n) = r.int(k, mv) {
                    c.ping_max = n;
                }
            }
            "write_deadline" => {
                if let Some(d) = r.duration(k, mv) {
                    c.write_deadline = Some(d);
                }
            }
            "write_timeout" => {
                if let Some(s) = r.string(k, mv) {
                    match s.as_str() {
                        "default" => c.write_timeout = WriteTimeoutPolicy::Default,
                        "close" => c.write_timeout = WriteTimeoutPolicy::Close,
                        "retry" => c.write_timeout = WriteTimeoutPolicy::Retry,
                        _ => r.error(
                            &k.pos,
                            "write_timeout must be 'default', 'close' or 'retry'",
                        ),
                    }
                }
            }
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    if !top_level_permissions {
        if let Some(p) = auth_permissions {
            c.permissions = Some(p);
        }
    }
    Some(c)
}

fn port_option(p: i64) -> Option<u16> {
    match p {
        0 => None,
        p => Some(super::cli::port_value(p)),
    }
}

/// `cluster { authorization {} }`: one user and password, and a timeout. Returns the
/// deprecated `permissions` inside it, if any and valid.
fn cluster_authorization(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    c: &mut ClusterOptions,
) -> Option<RoutePermissions> {
    let auth = security::read_authorization(r, k, v)?;
    let has_users =
        matches!(&v.value, Value::Map(m) if m.iter().any(|(uk, _)| lower(uk) == "users"));
    let refusal = if has_users {
        Some("Cluster authorization does not allow multiple users")
    } else if !auth.token.is_empty() {
        Some("Cluster authorization does not support tokens")
    } else if auth.auth_callout {
        Some("Cluster authorization does not support callouts")
    } else {
        None
    };
    if let Some(msg) = refusal {
        r.error(&k.pos, msg);
        return None;
    }
    c.username = auth.user;
    c.password = auth.password;
    c.auth_timeout = auth.timeout;
    let p = auth.default_permissions?;
    let perms = RoutePermissions {
        import: p.publish,
        export: p.subscribe,
    };
    if let Err(e) = check_route_permission_subjects(&perms) {
        r.error(&k.pos, e);
        return None;
    }
    r.warnings.push(ConfError {
        kind: conf::ErrorKind::Option,
        pos: k.pos.clone(),
        msg: format!(
            "invalid use of field {:?}: setting \"permissions\" within cluster authorization \
             block is deprecated",
            k.value
        ),
    });
    Some(perms)
}

/// `permissions { import, export }` (`publish`/`subscribe` are aliases; dynamic responses
/// are refused).
fn route_permissions(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<RoutePermissions> {
    let before = r.errors.len();
    let p = security::parse_permissions(r, k, v)?;
    if r.errors.len() > before {
        return None;
    }
    if p.response.is_some() {
        r.error(
            &k.pos,
            "Cluster permissions do not support dynamic responses",
        );
        return None;
    }
    let perms = RoutePermissions {
        import: p.publish,
        export: p.subscribe,
    };
    if let Err(e) = check_route_permission_subjects(&perms) {
        r.error(&k.pos, e);
        return None;
    }
    Some(perms)
}

/// `routes [ url, … ]`: nats-server's `parseURLs` (a repeated entry is a warning and is
/// dropped; a URL that does not parse is an error at its position).
fn route_list(r: &mut Reader, k: &Spanned<String>, v: &Spanned<Value>) -> Option<Vec<RouteUrl>> {
    let Value::Array(items) = &v.value else {
        r.error(
            &k.pos,
            format!(
                "{:?} expects an array, got {} {}",
                k.value,
                if v.value.type_name().starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                },
                v.value.type_name()
            ),
        );
        return None;
    };
    let before = r.errors.len();
    let mut seen: Vec<&str> = Vec::new();
    let mut routes = Vec::with_capacity(items.len());
    for it in items {
        let Value::String(s) = &it.value else {
            r.error(
                &it.pos,
                format!(
                    "\"routes\" entries must be strings, got {}",
                    it.value.type_name()
                ),
            );
            continue;
        };
        if seen.contains(&s.as_str()) {
            r.warnings.push(ConfError {
                kind: conf::ErrorKind::Option,
                pos: it.pos.clone(),
                msg: format!("invalid use of field {s:?}: Duplicate route entry detected"),
            });
            continue;
        }
        seen.push(s);
        match parse_route_url(s) {
            Ok(u) => routes.push(u),
            Err(e) => r.error(&it.pos, e),
        }
    }
    (r.errors.len() == before).then_some(routes)
}

/// nats-server's `parseStringArray`: a string or an array of strings.
fn string_array(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    field: &str,
) -> Option<Vec<String>> {
    match &v.value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                match &it.value {
                    Value::String(s) => out.push(s.clone()),
                    other => r.error(
                        &it.pos,
                        format!(
                            "error parsing {field}: unsupported type in array {}",
                            go_type(other)
                        ),
                    ),
                }
            }
            Some(out)
        }
        other => {
            r.error(
                &k.pos,
                format!("error parsing {field}: unsupported type {}", go_type(other)),
            );
            None
        }
    }
}

/// nats-server's `parseCompression`: `true` is `on` (`s2_fast` for routes, `s2_auto` for
/// leaf nodes), `false` is `off`, a string is kept as written (checked at start-up), a map
/// has `mode` and `rtt_thresholds`.
pub(crate) fn parse_compression(
    k: &Spanned<String>,
    v: &Spanned<Value>,
    c: &mut Compression,
    on: CompressionMode,
) -> Result<(), ConfError> {
    let err = |pos: &conf::Pos, msg: String| ConfError {
        kind: conf::ErrorKind::Option,
        pos: pos.clone(),
        msg,
    };
    match &v.value {
        Value::String(s) => c.mode = s.clone(),
        Value::Bool(true) => c.mode = on.as_str().into(),
        Value::Bool(false) => c.mode = CompressionMode::Off.as_str().into(),
        Value::Map(m) => compression_map(m, c)?,
        other => {
            return Err(err(
                &k.pos,
                format!(
                    "field {:?} should be a boolean or a structure, got {}",
                    k.value,
                    go_type(other)
                ),
            ))
        }
    }
    Ok(())
}

fn compression_map(m: &Map, c: &mut Compression) -> Result<(), ConfError> {
    let err = |pos: &conf::Pos, msg: String| ConfError {
        kind: conf::ErrorKind::Option,
        pos: pos.clone(),
        msg,
    };
    for (i, (mk, mv)) in m.iter().enumerate() {
        match lower(mk).as_str() {
            "mode" => match &mv.value {
                Value::String(s) => c.mode = s.clone(),
                other => {
                    return Err(err(
                        &mk.pos,
                        format!("\"mode\" expects a string, got {}", other.type_name()),
                    ))
                }
            },
            "rtt_thresholds" | "thresholds" | "rtts" | "rtt" => {
                let Value::Array(items) = &mv.value else {
                    return Err(err(
                        &mk.pos,
                        format!(
                            "{:?} expects an array of durations, got {}",
                            mk.value,
                            mv.value.type_name()
                        ),
                    ));
                };
                for it in items {
                    let Value::String(s) = &it.value else {
                        return Err(err(
                            &mk.pos,
                            format!(
                                "{:?} expects duration strings, got {}",
                                mk.value,
                                it.value.type_name()
                            ),
                        ));
                    };
                    // Negative thresholds are taken as 0 at start-up, as nats-server does.
                    let ns = conf::parse_duration_nanos(s).map_err(|e| err(&mk.pos, e))?;
                    c.rtt_thresholds
                        .push(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)));
                }
            }
            _ => {
                if !m.is_used_variable(i) {
                    return Err(err(&mk.pos, format!("unknown field {:?}", mk.value)));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::{self, Report};

    fn load(text: &str) -> (Options, Result<Report, Vec<ConfError>>) {
        let mut o = Options::default();
        let r = conf::parse_str(text, "t.conf").and_then(|m| file::apply(&m, &mut o));
        (o, r)
    }

    /// The cluster options a valid text sets (warnings allowed), defaults not filled in.
    fn cluster(text: &str) -> ClusterOptions {
        let (o, r) = load(text);
        if let Err(e) = r {
            panic!("{text}: {e:?}");
        }
        o.cluster.expect("a cluster")
    }

    fn lines(e: &[ConfError]) -> Vec<String> {
        e.iter()
            .map(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.msg))
            .collect()
    }

    /// Warnings and errors, `line:col: message`, as `-t` prints them.
    fn problems(text: &str) -> Vec<String> {
        match load(text).1 {
            Ok(r) => lines(&r.warnings),
            Err(e) => lines(&e),
        }
    }

    fn perm(allow: &[&str], deny: &[&str]) -> SubjectPermission {
        SubjectPermission {
            allow: (!allow.is_empty()).then(|| allow.iter().map(|s| s.to_string()).collect()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_key_as_nats_server_reads_it() {
        let c = cluster(
            "cluster {\n\
             name: C1\n\
             listen: \"127.0.0.1:6222\"\n\
             advertise: \"c1.example:16222\"\n\
             no_advertise: true\n\
             routes [ nats://u:p@10.0.0.2:6222, nats-route://10.0.0.3:6222 ]\n\
             connect_retries: 5\n\
             connect_backoff: true\n\
             authorization { user: ruser, password: rpass, timeout: 3 }\n\
             tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, timeout: 1.5, verify_cert_and_check_known_urls: true }\n\
             permissions { import: \"a.>\", export: { allow: [\"b.>\"], deny: \"b.x\" } }\n\
             pool_size: 5\n\
             accounts: [A, B]\n\
             compression: s2_best\n\
             ping_interval: \"20s\"\n\
             ping_max: 4\n\
             write_deadline: \"3s\"\n\
             write_timeout: close\n\
             }\n\
             accounts { A {}, B {} }",
        );
        assert_eq!(c.name, "C1");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", Some(6222)));
        assert_eq!(c.advertise, "c1.example:16222");
        assert!(c.no_advertise && c.connect_backoff);
        assert_eq!(c.connect_retries, 5);
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].username.as_deref(), Some("u"));
        assert_eq!(c.routes[0].password.as_deref(), Some("p"));
        assert_eq!(c.routes[1].scheme, "nats-route");
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("ruser", "rpass")
        );
        assert_eq!(c.auth_timeout, Some(Duration::from_secs(3)));
        let tls = c.tls.as_ref().expect("tls");
        assert_eq!(tls.cert_file, "c.pem");
        assert_eq!(tls.timeout, Some(Duration::from_millis(1500)));
        assert!(tls.verify_cert_and_check_known_urls);
        assert_eq!(
            c.permissions,
            Some(RoutePermissions {
                import: Some(perm(&["a.>"], &[])),
                export: Some(perm(&["b.>"], &["b.x"])),
            })
        );
        assert_eq!(c.pool_size, 5);
        assert_eq!(c.accounts, ["A", "B"]);
        assert_eq!(c.compression.mode, "s2_best");
        assert_eq!(c.ping_interval, Some(Duration::from_secs(20)));
        assert_eq!(c.ping_max, 4);
        assert_eq!(c.write_deadline, Some(Duration::from_secs(3)));
        assert_eq!(c.write_timeout, WriteTimeoutPolicy::Close);
    }

    #[test]
    fn aliases_and_case() {
        let c = cluster(
            "CLUSTER {\n NAME: x\n Host: 10.0.0.1\n PORT: -1\n cluster_advertise: a:1\n \
             Permissions { publish: \"p.>\", subscribe: \"s.>\" }\n Pool_Size: -1\n}",
        );
        assert_eq!((c.name.as_str(), c.host.as_str()), ("x", "10.0.0.1"));
        assert_eq!(c.port, Some(0), "-1 is a random port");
        assert_eq!(c.advertise, "a:1");
        let p = c.permissions.expect("permissions");
        assert_eq!(p.import, Some(perm(&["p.>"], &[])));
        assert_eq!(p.export, Some(perm(&["s.>"], &[])));
        assert_eq!(c.pool_size, -1);
        assert_eq!(cluster("cluster { net: h }").host, "h");
        // `listen` as a bare port leaves the host to its default.
        let c = cluster("cluster { listen: 6222 }");
        assert_eq!((c.host.as_str(), c.port), ("", Some(6222)));
        // Port 0 is no listener.
        assert_eq!(cluster("cluster { port: 0, name: n }").port, None);
        // The authorization block's `username`/`pass` aliases.
        let c = cluster("cluster { authorization { username: a, pass: b } }");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b"));
        // A string `accounts` is one account.
        assert_eq!(cluster("cluster { accounts: A }").accounts, ["A"]);
        // The last of a repeated key counts, and only it is checked.
        assert_eq!(cluster("cluster { name: \"a b\"\n name: ok }").name, "ok");
    }

    #[test]
    fn empty_block_and_defaults() {
        let (o, r) = load("cluster {}");
        r.unwrap();
        assert!(o.cluster.is_none(), "an empty block configures nothing");
        let d = ClusterOptions::default();
        assert!(d.name.is_empty() && d.host.is_empty() && d.port.is_none());
        assert_eq!((d.pool_size, d.connect_retries, d.ping_max), (0, 0, 0));
        assert!(!d.no_advertise && !d.connect_backoff && d.routes.is_empty());
        assert_eq!(d.write_timeout, WriteTimeoutPolicy::Default);

        // Without a listener nothing is filled in.
        let mut c = cluster("cluster { name: x }");
        c.resolve_defaults();
        assert_eq!((c.host.as_str(), c.pool_size), ("", 0));
        assert!(c.compression.mode.is_empty());
        // With one: 0.0.0.0, pool size 3, compression accept; twice is the same.
        let mut c = cluster("cluster { port: -1 }");
        c.resolve_defaults();
        let once = c.clone();
        c.resolve_defaults();
        assert_eq!(c, once);
        assert_eq!((c.host.as_str(), c.pool_size), ("0.0.0.0", 3));
        assert_eq!(c.compression.mode, "accept");
        // Configured values stay.
        let mut c = cluster("cluster { port: 1, host: h, pool_size: -1, compression: off }");
        c.resolve_defaults();
        assert_eq!((c.host.as_str(), c.pool_size), ("h", -1));
        assert_eq!(c.compression.mode, "off");
    }

    #[test]
    fn timeouts_and_ping_interval() {
        let mut c = ClusterOptions::default();
        assert_eq!(c.effective_auth_timeout(), Duration::from_secs(2));
        assert_eq!(c.tls_timeout(), Duration::from_secs(2));
        c.tls = Some(TlsConfig {
            cert_file: "c".into(),
            timeout: Some(Duration::from_millis(1500)),
            ..TlsConfig::default()
        });
        assert_eq!(c.effective_auth_timeout(), Duration::from_millis(2500));
        c.auth_timeout = Some(Duration::from_secs(7));
        assert_eq!(c.effective_auth_timeout(), Duration::from_secs(7));

        let server = Duration::from_secs(120);
        assert_eq!(c.effective_ping_interval(server), ROUTE_MAX_PING_INTERVAL);
        c.ping_interval = Some(Duration::from_secs(5));
        assert_eq!(c.effective_ping_interval(server), Duration::from_secs(5));
        c.ping_interval = Some(Duration::from_secs(60));
        assert_eq!(c.effective_ping_interval(server), ROUTE_MAX_PING_INTERVAL);
        // Over 30 s: nats-server's warning, and the value kept as configured.
        let text = "cluster {\n  port: -1\n  ping_interval: \"1m\"\n}";
        assert_eq!(
            problems(text),
            ["3:3: Cluster 'ping_interval' will reset to 30s which is the max for routes"]
        );
        assert_eq!(cluster(text).ping_interval, Some(Duration::from_secs(60)));
        assert_eq!(
            problems("cluster {\n  ping_interval: 5\n}"),
            ["2:3: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"]
        );
    }

    #[test]
    fn compression_forms() {
        let mode = |t: &str| cluster(t).compression;
        assert_eq!(mode("cluster { compression: true }").mode, "s2_fast");
        assert_eq!(mode("cluster { compression: false }").mode, "off");
        assert_eq!(mode("cluster { compression: \"Fast\" }").mode, "Fast");
        for alias in ["rtt_thresholds", "thresholds", "rtts", "rtt"] {
            let c = mode(&format!(
                "cluster {{ compression: {{ mode: s2_auto, {alias}: [\"5ms\", \"0ms\", \"40ms\"] }} }}"
            ));
            assert_eq!(c.mode, "s2_auto");
            assert_eq!(
                c.rtt_thresholds,
                [
                    Duration::from_millis(5),
                    Duration::ZERO,
                    Duration::from_millis(40)
                ]
            );
        }
        let norm = |m: &str| {
            Compression {
                mode: m.into(),
                rtt_thresholds: Vec::new(),
            }
            .normalized()
            .map(|n| n.mode)
        };
        for (given, want) in [
            ("", CompressionMode::Accept),
            ("accept", CompressionMode::Accept),
            ("on", CompressionMode::S2Fast),
            ("enabled", CompressionMode::S2Fast),
            ("true", CompressionMode::S2Fast),
            ("fast", CompressionMode::S2Fast),
            ("S2_Better", CompressionMode::S2Better),
            ("best", CompressionMode::S2Best),
            ("off", CompressionMode::Off),
            ("disabled", CompressionMode::Off),
            ("false", CompressionMode::Off),
            ("not supported", CompressionMode::NotSupported),
            ("not_supported", CompressionMode::NotSupported),
            ("auto", CompressionMode::S2Auto),
        ] {
            assert_eq!(norm(given), Ok(want), "{given}");
        }
        // nats-server 2.15.1 refuses these too (checked by running it).
        assert_eq!(
            norm("s2_uncompressed"),
            Err("unsupported compression mode \"s2_uncompressed\"".into())
        );
        assert_eq!(
            norm("bogus"),
            Err("unsupported compression mode \"bogus\"".into())
        );
        let auto = |ms: &[u64]| {
            Compression {
                mode: "s2_auto".into(),
                rtt_thresholds: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
            }
            .normalized()
        };
        assert_eq!(
            auto(&[]).map(|n| n.rtt_thresholds),
            Ok(DEFAULT_S2_AUTO_RTT_THRESHOLDS.to_vec())
        );
        // Zeros skip a level; trailing ones are dropped.
        assert_eq!(
            auto(&[0, 10, 0, 0]).map(|n| n.rtt_thresholds),
            Ok(vec![Duration::ZERO, Duration::from_millis(10)])
        );
        assert_eq!(
            auto(&[50, 10]),
            Err("RTT threshold values [50ms 10ms] should be in ascending order".into())
        );
        assert_eq!(
            auto(&[1, 2, 3, 4, 5]),
            Err("compression mode \"s2_auto\" should have no more than 4 RTT thresholds: [1ms 2ms 3ms 4ms 5ms]".into())
        );
        assert_eq!(
            auto(&[0]),
            Err("compression mode \"s2_auto\" requires at least one RTT threshold".into())
        );
        assert_eq!(
            problems("cluster {\n  compression: 5\n}"),
            ["2:3: field \"compression\" should be a boolean or a structure, got int64"]
        );
        assert_eq!(
            problems("cluster {\n  compression: {\n    mode: s2_auto\n    rtt: [\"x\"]\n  }\n}"),
            ["4:5: time: invalid duration \"x\""]
        );
        assert_eq!(
            problems("cluster {\n  compression: {\n    foo: 1\n  }\n}"),
            ["3:5: unknown field \"foo\""]
        );
    }

    #[test]
    fn route_urls() {
        let r = parse_route_url(" nats://ruser:T0p%21@127.0.0.1:6222 ").unwrap();
        assert_eq!(r.url, "nats://ruser:T0p%21@127.0.0.1:6222");
        assert_eq!(r.scheme, "nats");
        assert_eq!(r.username.as_deref(), Some("ruser"));
        assert_eq!(r.password.as_deref(), Some("T0p!"));
        assert_eq!(
            (r.host_port.as_str(), r.host.as_str()),
            ("127.0.0.1:6222", "127.0.0.1")
        );
        assert_eq!(r.port, Some(6222));
        let r = parse_route_url("NATS-ROUTE://[::1]:4248").unwrap();
        assert_eq!(r.scheme, "nats-route");
        assert_eq!(
            (r.host_port.as_str(), r.host.as_str(), r.port),
            ("[::1]:4248", "::1", Some(4248))
        );
        let r = parse_route_url("tls://u@h").unwrap();
        assert_eq!(
            (r.username.as_deref(), r.password.as_deref()),
            (Some("u"), None)
        );
        assert_eq!((r.host.as_str(), r.port), ("h", None));
        assert_eq!(
            parse_route_url("nats://u:@h:1")
                .unwrap()
                .password
                .as_deref(),
            Some("")
        );
        // No scheme: Go reads a path and no host.
        let r = parse_route_url("x").unwrap();
        assert!(r.host_port.is_empty() && r.port.is_none());
        // Go's notion of equality: the scheme's case does not count, a path does.
        let a = parse_route_url("nats://h:1").unwrap();
        assert!(a.same_route(&parse_route_url("NATS://h:1").unwrap()));
        assert!(!a.same_route(&parse_route_url("nats://h:1/").unwrap()));
        assert!(!a.same_route(&parse_route_url("nats://u:p@h:1").unwrap()));
        for bad in [
            "nats://a b:1",
            "://x",
            "nats://h:abc",
            "nats://[::1",
            "nats://h%zz:1",
            "nats://h:99999",
            "nats://u^@h:1",
        ] {
            assert_eq!(
                parse_route_url(bad),
                Err(format!("error parsing route url [{bad:?}]")),
                "{bad}"
            );
        }
        // --routes: trimmed entries, empty ones kept (nats-server keeps them too).
        let r = routes_from_str("nats://a:1, nats://b:2,,").unwrap();
        let hosts: Vec<&str> = r.iter().map(|r| r.host_port.as_str()).collect();
        assert_eq!(hosts, ["a:1", "b:2", "", ""]);
        assert!(routes_from_str("nats://a:1,nats://a b:1").is_err());
    }

    #[test]
    fn routes_in_the_file() {
        let text = "cluster {\n  routes [\n    nats://a:1\n    nats://b:2\n    nats://a:1\n  ]\n}";
        assert_eq!(
            problems(text),
            ["5:5: invalid use of field \"nats://a:1\": Duplicate route entry detected"]
        );
        assert_eq!(
            cluster(text).routes.len(),
            2,
            "the repeated entry is dropped"
        );
        assert_eq!(
            problems("cluster {\n  routes [\n    nats://a:1\n    \"nats://a b:1\"\n  ]\n}"),
            ["4:5: error parsing route url [\"nats://a b:1\"]"]
        );
        assert_eq!(
            problems("cluster {\n  routes: \"nats://a:1\"\n}"),
            ["2:3: \"routes\" expects an array, got a string"]
        );
    }

    #[test]
    fn cluster_listen_flag() {
        let l = parse_cluster_listen("nats://ruser:rpass@127.0.0.1:-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            l,
            ClusterListen {
                host: "127.0.0.1".into(),
                port: 0,
                username: "ruser".into(),
                password: "rpass".into(),
            }
        );
        let l = parse_cluster_listen("nats-route://[::1]:6222")
            .unwrap()
            .unwrap();
        assert_eq!((l.host.as_str(), l.port), ("::1", 6222));
        assert!(l.username.is_empty() && l.password.is_empty());
        assert_eq!(
            parse_cluster_listen("nats://:-1").unwrap().unwrap().host,
            ""
        );
        assert_eq!(parse_cluster_listen("").unwrap(), None);
        assert_eq!(
            parse_cluster_listen("nats://u:@h:1")
                .unwrap()
                .unwrap()
                .password,
            ""
        );
        // nats-server 2.15.1's texts, each checked by running it.
        for (arg, err) in [
            (
                "nats://u@127.0.0.1:-1",
                "expected cluster password to be set",
            ),
            (
                "127.0.0.1:6222",
                "parse \"127.0.0.1:6222\": first path segment in URL cannot contain colon",
            ),
            (
                "nats://127.0.0.1",
                "address 127.0.0.1: missing port in address",
            ),
            (
                "nats://127.0.0.1:abc",
                "parse \"nats://127.0.0.1:abc\": invalid port \":abc\" after host",
            ),
            ("localhost:-1", "missing port in address"),
            (":-1", "parse \":0\": missing protocol scheme"),
            ("nats://127.0.0.1:", "EOF"),
            (
                "nats://127.0.0.1:-1/path",
                "parse \"nats://127.0.0.1:-1/path\": invalid port \":-1\" after host",
            ),
            (
                "nats://a%zz:-1",
                "parse \"nats://a%zz:0\": invalid URL escape \"%zz\"",
            ),
            (
                "nats://a b:-1",
                "parse \"nats://a b:0\": invalid character \" \" in host name",
            ),
            (
                "nats://[::1:-1",
                "parse \"nats://[::1:0\": missing ']' in host",
            ),
            (
                "nats://%41:-1",
                "parse \"nats://%41:0\": invalid URL escape \"%41\"",
            ),
            (
                "nats://127.0.0.1:99999",
                "Error listening on router port: 99999 - listen tcp: address 99999: invalid port",
            ),
        ] {
            assert_eq!(parse_cluster_listen(arg), Err(err.to_string()), "{arg}");
        }
    }

    /// Whatever a flag or file holds, the URL readers answer without panicking (they slice
    /// by byte positions of ASCII delimiters, next to multi-byte characters).
    #[test]
    fn url_readers_never_panic() {
        let alphabet: Vec<char> = "nats:/@[]%:-1a9 ?#é€\u{7f}\t.,zZ".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let len = rng.usize(0..24);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            let _ = parse_route_url(&s);
            let _ = parse_cluster_listen(&s);
            let _ = routes_from_str(&s);
            let _ = parse_host_port(&s, 1);
        }
    }

    #[test]
    fn go_host_port() {
        assert_eq!(split_host_port("h:1"), Ok(("h".into(), "1".into())));
        assert_eq!(split_host_port("[::1]:1"), Ok(("::1".into(), "1".into())));
        assert_eq!(split_host_port(":"), Ok(("".into(), "".into())));
        for (s, e) in [
            ("h", "address h: missing port in address"),
            ("", "missing port in address"),
            ("a:b:c", "address a:b:c: too many colons in address"),
            ("[::1", "address [::1: missing ']' in address"),
            ("[::1]", "address [::1]: missing port in address"),
            ("[::1]x:1", "address [::1]x:1: missing port in address"),
            ("[a]:1]:2", "address [a]:1]:2: too many colons in address"),
            ("a[b:1", "address a[b:1: unexpected '[' in address"),
            ("a]b:1", "address a]b:1: unexpected ']' in address"),
        ] {
            assert_eq!(split_host_port(s), Err(e.to_string()), "{s}");
        }
        assert_eq!(parse_host_port("h:5", 9), Ok(("h".into(), 5)));
        assert_eq!(parse_host_port("h", 9), Ok(("h".into(), 9)));
        assert_eq!(parse_host_port("h:-1", 9), Ok(("h".into(), 9)));
        assert_eq!(
            parse_host_port("x:y:z", 0),
            Err("address x:y:z: too many colons in address".into())
        );
        assert_eq!(
            parse_host_port("h:x", 0),
            Err("strconv.Atoi: parsing \"x\": invalid syntax".into())
        );
    }

    #[test]
    fn permissions() {
        // The deprecated form inside authorization: a warning, and used unless the block
        // has its own.
        let text = "cluster {\n  authorization {\n    user: a\n    password: b\n    \
                    permissions { import: \"x.>\" }\n  }\n}";
        assert_eq!(
            problems(text),
            [
                "2:3: invalid use of field \"authorization\": setting \"permissions\" within \
              cluster authorization block is deprecated"
            ]
        );
        assert_eq!(
            cluster(text).permissions.unwrap().import,
            Some(perm(&["x.>"], &[]))
        );
        let c = cluster(
            "cluster {\n  permissions { export: \"e\" }\n  authorization { permissions { import: \"x\" } }\n}",
        );
        assert_eq!(
            c.permissions,
            Some(RoutePermissions {
                import: None,
                export: Some(perm(&["e"], &[]))
            })
        );
        assert_eq!(
            problems("cluster {\n  permissions { import: \"a\", allow_responses: true }\n}"),
            ["2:3: Cluster permissions do not support dynamic responses"]
        );
        // Queue groups are not allowed (client export permissions may name them).
        assert_eq!(
            problems("cluster {\n  permissions { export: \"a q\" }\n}"),
            ["2:3: cluster export allow: subject \"a q\" is not a valid subject"]
        );
        assert_eq!(
            problems("cluster {\n  authorization { permissions { export: { deny: \"a q\" } } }\n}"),
            ["2:3: cluster export deny: subject \"a q\" is not a valid subject"]
        );
        assert_eq!(
            problems("cluster {\n  permissions { import: \"a..b\" }\n}"),
            // nats-server names no position for this one.
            ["2:17: subject \"a..b\" is not a valid subject"]
        );
    }

    #[test]
    fn authorization_errors_use_nats_texts() {
        for (inner, want) in [
            (
                "users [ {user: a, password: b} ]",
                "Cluster authorization does not allow multiple users",
            ),
            ("users: []", "Cluster authorization does not allow multiple users"),
            ("token: abc", "Cluster authorization does not support tokens"),
            // nats-server reports the token rule, not "Cannot have a user/pass and token".
            ("user: a, token: b", "Cluster authorization does not support tokens"),
            (
                "auth_callout { issuer: ABHITT35JA7EHSCKJ7HEGHBPM2XKXYXVSP2TA2FE2MYQVHFCN37HOMGQ, auth_users: [x] }",
                "Cluster authorization does not support callouts",
            ),
        ] {
            assert_eq!(
                problems(&format!("cluster {{\n  authorization {{ {inner} }}\n}}")),
                [format!("2:3: {want}")],
                "{inner}"
            );
        }
        assert_eq!(
            problems("cluster {\n  authorization {\n    user: a\n    timeout: 100\n  }\n}"),
            ["4:5: invalid use of field \"timeout\": timeout of 100 (100.000000 seconds) is high, \
              consider keeping it under 60 seconds. possibly caused by unquoted duration; use \
              '1m' instead of 1m, for example"]
        );
    }

    #[test]
    fn other_errors_use_nats_texts() {
        assert_eq!(
            problems("cluster: 5"),
            ["1:1: Expected map to define cluster, got int64"]
        );
        let text = "cluster {\n  name: \"a b\"\n  bogus: 1\n  write_timeout: x\n  \
                    listen: localhost\n  accounts: 5\n  write_deadline: \"x\"\n  \
                    tls { pinned_certs: [\"abc\"], foo: 1 }\n}";
        assert_eq!(
            problems(text),
            [
                "2:3: cluster name cannot contain spaces",
                "3:3: unknown field \"bogus\"",
                "4:3: write_timeout must be 'default', 'close' or 'retry'",
                "5:3: could not parse address string \"localhost\"",
                "6:3: error parsing accounts: unsupported type int64",
                "7:3: error parsing write_deadline: time: invalid duration \"x\"",
                "8:9: error parsing tls config, 'pinned_certs' key abc does not look like \
                 hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                "8:32: error parsing tls config, unknown field \"foo\"",
            ]
        );
        assert_eq!(
            problems("cluster {\n  accounts: [A, 5]\n}"),
            ["2:17: error parsing accounts: unsupported type in array int64"]
        );
        // Routes are server links: this check of the client block does not apply.
        assert!(problems("cluster { tls { verify_cert_and_check_known_urls: true } }").is_empty());
        // natrium's type texts (nats-server prints Go's interface conversion panic).
        assert_eq!(
            problems("cluster {\n  pool_size: \"a\"\n  no_advertise: 1\n}"),
            [
                "2:3: \"pool_size\" expects an integer, got a string",
                "3:3: \"no_advertise\" expects a boolean, got an integer",
            ]
        );
    }

    #[test]
    fn validation_as_nats_server_starts() {
        let check = |text: &str| {
            let mut o = Options::default();
            let m = conf::parse_str(text, "t.conf").expect("conf");
            file::apply(&m, &mut o).expect("valid file");
            crate::config::cli::Flags::default().apply(&mut o);
            o.validate()
        };
        assert_eq!(
            check("cluster { port: -1, accounts: [A] }\naccounts { A {} }"),
            Ok(())
        );
        // An account that does not exist is no start-up error in nats-server 2.15.1.
        assert_eq!(check("cluster { port: -1, accounts: [B] }"), Ok(()));
        assert_eq!(
            check("cluster { port: -1, pool_size: -1, accounts: [A] }"),
            Err("pool_size cannot be negative if pinned accounts are specified".into())
        );
        assert_eq!(
            check("cluster { port: -1, accounts: [A, A] }"),
            Err(
                "found duplicate account name \"A\" in pinned accounts list [\"A\" \"A\" \"$SYS\"]"
                    .into()
            )
        );
        assert_eq!(
            check("cluster { port: -1, compression: bogus }"),
            Err("unsupported compression mode \"bogus\"".into())
        );
        assert_eq!(
            check("cluster { port: -1, advertise: \"x:y:z\" }"),
            Err(
                "Error setting route INFO with Cluster.Advertise value of x:y:z, \
                 err=address x:y:z: too many colons in address"
                    .into()
            )
        );
        // Without a listener the advertise address is not used, nor checked.
        assert_eq!(check("cluster { advertise: \"x:y:z\" }"), Ok(()));
        let named = ClusterOptions {
            name: "a b".into(),
            ..ClusterOptions::default()
        };
        assert_eq!(
            named.validate(None),
            Err("cluster name cannot contain spaces".into())
        );
    }

    #[test]
    fn system_account_is_pinned_with_pooling() {
        let mut c = ClusterOptions {
            port: Some(0),
            accounts: vec!["A".into()],
            ..ClusterOptions::default()
        };
        c.resolve_defaults();
        assert_eq!(c.pinned_accounts(Some("$SYS")), ["A", "$SYS"]);
        assert_eq!(c.pinned_accounts(Some("SYS2")), ["A", "SYS2"]);
        assert_eq!(c.pinned_accounts(None), ["A"], "no_system_account");
        c.accounts.push("$SYS".into());
        assert_eq!(
            c.pinned_accounts(Some("$SYS")),
            ["A", "$SYS"],
            "listed once"
        );
        c.pool_size = -1;
        c.accounts.clear();
        assert!(
            c.pinned_accounts(Some("$SYS")).is_empty(),
            "no pooling, no pinning"
        );
        let o = Options {
            cluster: Some(ClusterOptions {
                pool_size: 3,
                ..ClusterOptions::default()
            }),
            ..Options::default()
        };
        assert_eq!(o.cluster_pinned_accounts(), ["$SYS"]);
        assert!(Options::default().cluster_pinned_accounts().is_empty());
    }
}
