//! What a configuration reload (SIGHUP, `--signal reload`) may change, as nats-server's
//! `reload.go` `diffOptions` decides it.
//!
//! [`diff`] compares the running options with freshly loaded ones and either lists the
//! changes to apply (each with nats-server's `Reloaded: <name> = <value>` notice) or refuses
//! the whole reload with nats-server's `config reload not supported for <Field>: old=…,
//! new=…` (Go field names, Go value formatting), leaving the old configuration in force.
//!
//! natrium reloads a few options nats-server refuses (`max_pending`, `max_subscriptions`,
//! `lame_duck_duration`, `lame_duck_grace_period`, `logfile_size_limit`, `logfile_max_num`,
//! `max_closed_clients`) because it reads them on use; docs/compat.md lists them.

use std::time::Duration;

use super::cluster::{
    self, ClusterOptions, NormalizedCompression, RoutePermissions, RouteUrl, DEFAULT_SYSTEM_ACCOUNT,
};
use super::file::go_duration;
use super::security::GLOBAL_ACCOUNT;
use super::{Options, WriteTimeoutPolicy};

/// One applied change: the notice nats-server logs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change(pub String);

/// Compares `old` (running) with `new` (just loaded, flags re-applied). A random port
/// (`-1`) in `new` keeps the running port, as in nats-server. Returns the changes, in the
/// order nats-server reports them, or the refusal.
pub fn diff(old: &Options, new: &mut Options) -> Result<Vec<Change>, String> {
    if new.port == 0 {
        new.port = old.port;
    }
    // The cluster's random port too (nats-server: "check against -1").
    if let Some(c) = new.cluster.as_mut().filter(|c| c.port == Some(0)) {
        c.port = old.cluster.as_ref().and_then(|o| o.port);
    }
    if let Some(l) = new.leafnodes.as_mut().filter(|l| l.port == Some(0)) {
        l.port = old.leafnodes.as_ref().and_then(|o| o.port);
    }
    if let Some(m) = new.mqtt.as_mut().filter(|m| m.port == Some(0)) {
        m.port = old.mqtt.as_ref().and_then(|o| o.port);
    }
    if new.http_port == Some(0) && old.http_port.is_some() {
        new.http_port = old.http_port;
    }
    if new.https_port == Some(0) && old.https_port.is_some() {
        new.https_port = old.https_port;
    }
    let mut changes = Vec::new();
    // A macro, not a closure: the cluster notices are pushed between the others.
    macro_rules! note {
        ($name:expr, $value:expr $(,)?) => {
            changes.push(Change(format!("Reloaded: {} = {}", $name, $value)))
        };
    }

    // In nats-server's `Options` field order, so the first refusal is the one it reports.
    refuse("ServerName", &old.server_name, &new.server_name)?;
    refuse("Host", &old.host, &new.host)?;
    refuse("Port", &old.port, &new.port)?;
    // nats-server can turn JetStream on and off and change its limits at reload; natrium
    // takes JetStream's settings at start-up only (docs/compat.md).
    let js_dir_changed = old.jetstream.enabled && old.store_dir != new.store_dir;
    if old.jetstream != new.jetstream || js_dir_changed {
        return Err(
            "config reload not supported for JetStream: natrium applies JetStream settings at start-up"
                .to_string(),
        );
    }
    if old.trace != new.trace {
        note!("trace", new.trace.to_string());
    }
    if old.debug != new.debug {
        note!("debug", new.debug.to_string());
    }
    refuse(
        "NoHeaderSupport",
        &old.no_header_support,
        &new.no_header_support,
    )?;
    if old.logtime != new.logtime {
        note!("logtime", new.logtime.to_string());
    }
    if old.logtime_utc != new.logtime_utc {
        note!("logtime_utc", new.logtime_utc.to_string());
    }
    if old.log_json != new.log_json {
        note!(
            "log_format",
            if new.log_json { "json" } else { "text" }.to_string(),
        );
    }
    if old.max_connections != new.max_connections {
        note!("max_connections", new.max_connections.to_string());
    }
    if old.max_subscriptions != new.max_subscriptions {
        note!("max_subscriptions", new.max_subscriptions.to_string());
    }
    if old.no_auth_user != new.no_auth_user {
        // nats-server allows only dropping a no_auth_user whose user is gone too.
        let user_gone = !new.has_user(&old.no_auth_user);
        if old.no_auth_user.is_empty() || !new.no_auth_user.is_empty() || !user_gone {
            return Err(not_supported(
                "NoAuthUser",
                &old.no_auth_user,
                &new.no_auth_user,
            ));
        }
    }
    // Users, passwords, tokens, nkeys and permissions reload; the server re-checks the
    // connected clients (see `Server::reload`).
    let (a, b) = (
        old.authorization.clone().unwrap_or_default(),
        new.authorization.clone().unwrap_or_default(),
    );
    let mut auth_notes = Vec::new();
    for (changed, what) in [
        (a.user != b.user, "username"),
        (a.password != b.password, "password"),
        (a.token != b.token, "token"),
        (
            a.users != b.users || a.default_permissions != b.default_permissions,
            "users",
        ),
        (a.nkeys != b.nkeys, "nkey users"),
    ] {
        if changed {
            auth_notes.push(Change(format!("Reloaded: authorization {what}")));
        }
    }
    if old.accounts != new.accounts {
        auth_notes.push(Change("Reloaded: accounts".to_string()));
    }
    if old.auth_timeout != new.auth_timeout {
        let secs = new.effective_auth_timeout().as_secs_f64();
        note!("authorization timeout", secs.to_string());
    }
    if old.ping_interval != new.ping_interval {
        note!("ping_interval", go_duration(new.ping_interval));
    }
    if old.ping_max != new.ping_max {
        note!("ping_max", new.ping_max.to_string());
    }
    refuse("HTTPHost", &old.http_host, &new.http_host)?;
    refuse(
        "HTTPPort",
        &port_text(old.http_port),
        &port_text(new.http_port),
    )?;
    refuse("HTTPBasePath", &old.http_base_path, &new.http_base_path)?;
    refuse(
        "HTTPSPort",
        &port_text(old.https_port),
        &port_text(new.https_port),
    )?;
    if old.max_control_line != new.max_control_line {
        note!("max_control_line", new.max_control_line.to_string());
    }
    if old.max_payload != new.max_payload {
        note!("max_payload", new.max_payload.to_string());
    }
    if old.max_pending != new.max_pending {
        note!("max_pending", new.max_pending.to_string());
    }
    let cluster = cluster_changes(old, new)?;
    if cluster
        .iter()
        .any(|c| !matches!(c, ClusterChange::Routes { .. }))
    {
        changes.push(Change("Reloaded: cluster".to_string()));
    }
    if leaf_changes(old, new)? {
        changes.push(Change("Reloaded: leafnodes".to_string()));
    }
    changes.extend(mqtt_changes(old, new)?);
    if old.pid_file != new.pid_file {
        note!("pid_file", path_text(&new.pid_file));
    }
    if old.ports_file_dir != new.ports_file_dir {
        note!("ports_file_dir", path_text(&new.ports_file_dir));
    }
    if old.log_file != new.log_file {
        note!("log_file", path_text(&new.log_file));
    }
    if old.log_size_limit != new.log_size_limit {
        note!("logfile_size_limit", new.log_size_limit.to_string());
    }
    if old.log_max_files != new.log_max_files {
        note!("logfile_max_num", new.log_max_files.to_string());
    }
    refuse("Syslog", &old.syslog, &new.syslog)?;
    refuse("RemoteSyslog", &old.remote_syslog, &new.remote_syslog)?;
    if cluster
        .iter()
        .any(|c| matches!(c, ClusterChange::Routes { .. }))
    {
        changes.push(Change("Reloaded: cluster routes".to_string()));
    }
    if old.tls != new.tls {
        return Err("config reload not supported for TLSConfig".to_string());
    }
    refuse("AllowNonTLS", &old.allow_non_tls, &new.allow_non_tls)?;
    if old.write_deadline != new.write_deadline {
        note!("write_deadline", go_duration(new.write_deadline));
    }
    refuse("WriteTimeout", &old.write_timeout, &new.write_timeout)?;
    if old.max_traced_msg_len != new.max_traced_msg_len {
        note!("max_traced_msg_len", new.max_traced_msg_len.to_string());
    }
    if old.max_closed_clients != new.max_closed_clients {
        note!("max_closed_clients", new.max_closed_clients.to_string());
    }
    if old.lame_duck_duration != new.lame_duck_duration {
        note!("lame_duck_duration", go_duration(new.lame_duck_duration));
    }
    if old.lame_duck_grace_period != new.lame_duck_grace_period {
        note!(
            "lame_duck_grace_period",
            go_duration(new.lame_duck_grace_period),
        );
    }
    refuse(
        "Reactors",
        &reactors_text(old.reactors),
        &reactors_text(new.reactors),
    )?;
    if old.client_advertise != new.client_advertise {
        // nats-server reports it first, and its notice really says "Reload:".
        changes.insert(
            0,
            Change(format!(
                "Reload: client_advertise = {}",
                new.client_advertise
            )),
        );
    }
    changes.extend(auth_notes);
    Ok(changes)
}

/// One cluster setting a reload changes, for the route runtime to act on (nats-server's
/// `clusterOption` and `routesOption`). [`diff`] logs `Reloaded: cluster` for any of them
/// but [`ClusterChange::Routes`], which is `Reloaded: cluster routes`. The new values are
/// also in the new options.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterChange {
    /// The new name. Empty (the name removed) means "dynamic": nats-server keeps the name
    /// the cluster runs with.
    Name(String),
    /// The new `advertise`: the route INFO changes.
    Advertise(String),
    /// The new `no_advertise`: the `connect_urls` sent to peers and clients change.
    NoAdvertise(bool),
    /// `authorization { user, password, timeout }` changed (new routes use it; nats-server
    /// also updates the route INFO's `auth_required`).
    Authorization,
    /// The `tls {}` block changed (new routes use it; `tls_required` in the route INFO).
    Tls,
    /// The new `permissions`: nats-server re-sends or withdraws interest on every route.
    Permissions(Option<RoutePermissions>),
    /// The new compression: routes whose mode must be renegotiated are closed, the others
    /// switch level.
    Compression(NormalizedCompression),
    /// The new `pool_size` (accounts move to other pool slots).
    PoolSize(i64),
    /// Accounts that gained or lost a dedicated route (the system account included).
    PinnedAccounts {
        added: Vec<String>,
        removed: Vec<String>,
    },
    ConnectRetries(i64),
    ConnectBackoff(bool),
    PingInterval(Option<Duration>),
    PingMax(i64),
    WriteDeadline(Option<Duration>),
    WriteTimeout(WriteTimeoutPolicy),
    /// Routes to dial and routes to drop (dropped ones are not re-dialled).
    Routes {
        add: Vec<RouteUrl>,
        remove: Vec<RouteUrl>,
    },
}

/// The cluster part of a reload, as nats-server's `diffOptions` and `validateClusterOpts`
/// decide it: the listen host and port cannot change (so clustering cannot be turned on or
/// off), a new `advertise` must parse, and a newly pinned account must exist already;
/// everything else is applied. `new` has had its random port replaced by [`diff`].
pub fn cluster_changes(old: &Options, new: &Options) -> Result<Vec<ClusterChange>, String> {
    let none = ClusterOptions::default();
    let o = old.cluster.as_ref().unwrap_or(&none);
    let n = new.cluster.as_ref().unwrap_or(&none);
    if o.host != n.host {
        return Err(format!(
            "config reload not supported for cluster host: old={}, new={}",
            o.host, n.host
        ));
    }
    if o.port != n.port {
        return Err(format!(
            "config reload not supported for cluster port: old={}, new={}",
            cluster_port_text(o.port),
            cluster_port_text(n.port)
        ));
    }
    if !n.advertise.is_empty() {
        if let Err(e) = cluster::parse_host_port(&n.advertise, 0) {
            return Err(format!(
                "invalid Cluster.Advertise value of {}, err={e}",
                n.advertise
            ));
        }
    }
    // Every field, so that a new one cannot be forgotten here.
    let ClusterOptions {
        name,
        host: _,
        port: _,
        advertise,
        no_advertise,
        routes,
        connect_retries,
        connect_backoff,
        username,
        password,
        auth_timeout,
        tls,
        permissions,
        pool_size,
        accounts: _,
        compression,
        ping_interval,
        ping_max,
        write_deadline,
        write_timeout,
    } = n;
    let mut out = Vec::new();
    if *name != o.name {
        out.push(ClusterChange::Name(name.clone()));
    }
    if *advertise != o.advertise {
        out.push(ClusterChange::Advertise(advertise.clone()));
    }
    if *no_advertise != o.no_advertise {
        out.push(ClusterChange::NoAdvertise(*no_advertise));
    }
    if (username, password, auth_timeout) != (&o.username, &o.password, &o.auth_timeout) {
        out.push(ClusterChange::Authorization);
    }
    if *tls != o.tls {
        out.push(ClusterChange::Tls);
    }
    if *permissions != o.permissions {
        out.push(ClusterChange::Permissions(permissions.clone()));
    }
    // Compared as checked ("fast" is "s2_fast"); `Options::validate` has refused bad ones.
    if let (Ok(nc), oc) = (compression.normalized(), o.compression.normalized()) {
        if oc.as_ref().ok() != Some(&nc) {
            out.push(ClusterChange::Compression(nc));
        }
    }
    if *pool_size != o.pool_size {
        out.push(ClusterChange::PoolSize(*pool_size));
    }
    let (old_pinned, new_pinned) = (old.cluster_pinned_accounts(), new.cluster_pinned_accounts());
    let added: Vec<String> = new_pinned
        .iter()
        .filter(|a| !old_pinned.contains(a))
        .cloned()
        .collect();
    let removed: Vec<String> = old_pinned
        .iter()
        .filter(|a| !new_pinned.contains(a))
        .cloned()
        .collect();
    // nats-server looks the account up among the running ones, before the reload's own
    // accounts exist: an account and its dedicated route take two reloads.
    for a in &added {
        let known = a == GLOBAL_ACCOUNT
            || a == DEFAULT_SYSTEM_ACCOUNT
            || old.accounts.iter().any(|acc| &acc.name == a);
        if !known {
            return Err(format!(
                "unable to add account {a:?} to the list of dedicated routes: account missing"
            ));
        }
    }
    if !added.is_empty() || !removed.is_empty() {
        out.push(ClusterChange::PinnedAccounts { added, removed });
    }
    if *connect_retries != o.connect_retries {
        out.push(ClusterChange::ConnectRetries(*connect_retries));
    }
    if *connect_backoff != o.connect_backoff {
        out.push(ClusterChange::ConnectBackoff(*connect_backoff));
    }
    if *ping_interval != o.ping_interval {
        out.push(ClusterChange::PingInterval(*ping_interval));
    }
    if *ping_max != o.ping_max {
        out.push(ClusterChange::PingMax(*ping_max));
    }
    if *write_deadline != o.write_deadline {
        out.push(ClusterChange::WriteDeadline(*write_deadline));
    }
    if *write_timeout != o.write_timeout {
        out.push(ClusterChange::WriteTimeout(*write_timeout));
    }
    // nats-server's `diffRoutes`: the order of the list does not matter.
    let add: Vec<RouteUrl> = routes
        .iter()
        .filter(|r| !o.routes.iter().any(|x| x.same_route(r)))
        .cloned()
        .collect();
    let remove: Vec<RouteUrl> = o
        .routes
        .iter()
        .filter(|r| !routes.iter().any(|x| x.same_route(r)))
        .cloned()
        .collect();
    if !add.is_empty() || !remove.is_empty() {
        out.push(ClusterChange::Routes { add, remove });
    }
    Ok(out)
}

/// A cluster port in a refusal: 0 without a listener, -1 for a random port not bound yet.
fn cluster_port_text(p: Option<u16>) -> String {
    match p {
        None => "0".into(),
        Some(0) => "-1".into(),
        Some(p) => p.to_string(),
    }
}

/// The leaf part of a reload, as nats-server's `getLeafNodeOptionsChanges` allows it: the
/// listener's `tls` and `compression`, remotes added or removed (matched by their name),
/// and of a remote its `tls`, `disabled` and `compression`. Anything else changed is
/// refused, naming the field as nats-server names it. Returns whether anything changed
/// (the server then applies it).
fn leaf_changes(old: &Options, new: &Options) -> Result<bool, String> {
    let none = super::leafnode::LeafOptions::default();
    let o = old.leafnodes.as_ref().unwrap_or(&none);
    let n = new.leafnodes.as_ref().unwrap_or(&none);
    if o == n {
        return Ok(false);
    }
    if old.leafnodes.is_none() != new.leafnodes.is_none() {
        return Err(leaf_field_error(o, n, "Port"));
    }
    let strip = |l: &super::leafnode::LeafOptions| super::leafnode::LeafOptions {
        tls: None,
        compression: Default::default(),
        remotes: Vec::new(),
        ..l.clone()
    };
    if strip(o) != strip(n) {
        return Err(leaf_field_error(o, n, "Remotes"));
    }
    let strip_remote =
        |r: &super::leafnode::RemoteLeafOptions| super::leafnode::RemoteLeafOptions {
            tls: None,
            disabled: false,
            compression: Default::default(),
            ..r.clone()
        };
    for r in &n.remotes {
        if let Some(before) = o.remotes.iter().find(|b| b.name() == r.name()) {
            if strip_remote(before) != strip_remote(r) {
                return Err(format!(
                    "config reload not supported for LeafNode: remote {}: a field other than tls, disabled or compression changed",
                    r.safe_name()
                ));
            }
        }
    }
    Ok(true)
}

/// The MQTT part of a reload, as nats-server's `diffOptions` decides it: `ack_wait`,
/// `max_ack_pending`, `stream_replicas`, `consumer_memory_storage` and
/// `consumer_inactive_threshold` reload (for new subscriptions and sessions); anything else
/// changed is refused, naming the first field that differs in nats-server's `MQTTOpts`
/// order. When anything changed, nats-server logs all six reloadable values
/// (`consumer_replicas` is always 0: it is not read).
///
/// nats-server also reloads the `tls {}` certificates (not its `timeout`, `verify_and_map`
/// or `pinned_certs`); natrium refuses any TLS change, as for the client port.
fn mqtt_changes(old: &Options, new: &Options) -> Result<Vec<Change>, String> {
    let none = super::mqtt::MqttOptions::default();
    let o = old.mqtt.as_ref().unwrap_or(&none);
    let n = new.mqtt.as_ref().unwrap_or(&none);
    if o == n {
        return Ok(Vec::new());
    }
    let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let secret = || "[REDACTED]".to_string();
    // (field, changed, old, new); secrets are compared, never shown.
    let fields: [(&str, bool, String, String); 12] = [
        ("Host", o.host != n.host, o.host.clone(), n.host.clone()),
        (
            "Port",
            o.port != n.port,
            port_text(o.port),
            port_text(n.port),
        ),
        (
            "NoAuthUser",
            o.no_auth_user != n.no_auth_user,
            o.no_auth_user.clone(),
            n.no_auth_user.clone(),
        ),
        (
            "Username",
            o.username != n.username,
            o.username.clone(),
            n.username.clone(),
        ),
        ("Password", o.password != n.password, secret(), secret()),
        ("Token", o.token != n.token, secret(), secret()),
        (
            "JsDomain",
            o.js_domain != n.js_domain,
            o.js_domain.clone(),
            n.js_domain.clone(),
        ),
        (
            "AuthTimeout",
            o.auth_timeout != n.auth_timeout,
            show(&o.auth_timeout),
            show(&n.auth_timeout),
        ),
        (
            "TLSConfig",
            o.tls != n.tls,
            tls_text(&o.tls),
            tls_text(&n.tls),
        ),
        (
            "JSAPITimeout",
            o.js_api_timeout != n.js_api_timeout,
            go_duration(o.js_api_timeout),
            go_duration(n.js_api_timeout),
        ),
        (
            "rejectQoS2Pub",
            o.reject_qos2_publish != n.reject_qos2_publish,
            o.reject_qos2_publish.to_string(),
            n.reject_qos2_publish.to_string(),
        ),
        (
            "downgradeQoS2Sub",
            o.downgrade_qos2_subscribe != n.downgrade_qos2_subscribe,
            o.downgrade_qos2_subscribe.to_string(),
            n.downgrade_qos2_subscribe.to_string(),
        ),
    ];
    // Turning the listener on or off is a port change, whatever else came with it.
    let first = if o.port.is_some() != n.port.is_some() {
        fields.iter().find(|(f, _, _, _)| *f == "Port")
    } else {
        fields.iter().find(|(_, changed, _, _)| *changed)
    };
    if let Some((field, _, a, b)) = first {
        return Err(format!(
            "config reload not supported for MQTT: field {field:?}: old={a}, new={b}"
        ));
    }
    let threshold = n.consumer_inactive_threshold.unwrap_or_default();
    Ok(vec![
        Change(format!(
            "Reloaded: MQTT ack_wait = {}",
            go_duration(n.ack_wait)
        )),
        Change(format!(
            "Reloaded: MQTT max_ack_pending = {}",
            n.max_ack_pending
        )),
        Change(format!(
            "Reloaded: MQTT stream_replicas = {}",
            n.stream_replicas
        )),
        Change("Reloaded: MQTT consumer_replicas = 0".to_string()),
        Change(format!(
            "Reloaded: MQTT consumer_memory_storage = {}",
            n.consumer_memory_storage
        )),
        Change(format!(
            "Reloaded: MQTT consumer_inactive_threshold = {}",
            go_duration(threshold)
        )),
    ])
}

/// nats-server's refusal for a changed field of `leafnodes {}`: the first one of its
/// order that differs (`fallback` when none of those does).
fn leaf_field_error(
    o: &super::leafnode::LeafOptions,
    n: &super::leafnode::LeafOptions,
    fallback: &str,
) -> String {
    let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let fields: [(&str, String, String); 12] = [
        ("Host", o.host.clone(), n.host.clone()),
        ("Port", port_text(o.port), port_text(n.port)),
        ("Username", o.username.clone(), n.username.clone()),
        ("Password", "[REDACTED]".into(), "[REDACTED]".into()),
        ("Nkey", o.nkey.clone(), n.nkey.clone()),
        ("Account", o.account.clone(), n.account.clone()),
        ("AuthTimeout", show(&o.auth_timeout), show(&n.auth_timeout)),
        ("Advertise", o.advertise.clone(), n.advertise.clone()),
        (
            "NoAdvertise",
            o.no_advertise.to_string(),
            n.no_advertise.to_string(),
        ),
        ("ReconnectInterval", show(&o.reconnect), show(&n.reconnect)),
        ("MinVersion", o.min_version.clone(), n.min_version.clone()),
        ("Remotes", show(&o.remotes.len()), show(&n.remotes.len())),
    ];
    let field = if o.users != n.users {
        "Users"
    } else if o.password != n.password {
        "Password"
    } else {
        fields
            .iter()
            .find(|(f, a, b)| a != b && *f != "Remotes")
            .map_or(fallback, |(f, _, _)| f)
    };
    let (a, b) = fields
        .iter()
        .find(|(f, _, _)| *f == field)
        .map_or((String::new(), String::new()), |(_, a, b)| {
            (a.clone(), b.clone())
        });
    format!("config reload not supported for LeafNode: field {field:?}: old={a}, new={b}")
}

fn refuse<T: PartialEq + std::fmt::Display + ?Sized>(
    field: &str,
    old: &T,
    new: &T,
) -> Result<(), String> {
    if old == new {
        Ok(())
    } else {
        Err(not_supported(field, old, new))
    }
}

fn not_supported<T: std::fmt::Display + ?Sized>(field: &str, old: &T, new: &T) -> String {
    format!("config reload not supported for {field}: old={old}, new={new}")
}

fn port_text(p: Option<u16>) -> String {
    p.unwrap_or(0).to_string()
}

fn tls_text(t: &Option<super::security::TlsConfig>) -> String {
    match t {
        Some(t) => format!("tls {{ cert_file: {:?} }}", t.cert_file),
        None => "none".to_string(),
    }
}

fn path_text(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn reactors_text(r: Option<usize>) -> String {
    r.map(|n| n.to_string()).unwrap_or_else(|| "auto".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_changes_are_listed() {
        let old = Options::default();
        let mut new = Options {
            max_payload: 2000,
            ping_interval: Duration::from_secs(120),
            debug: true,
            lame_duck_duration: Duration::from_secs(60),
            client_advertise: "b:1".into(),
            max_traced_msg_len: 5,
            ..Options::default()
        };
        new.ping_interval = Duration::from_secs(10);
        let changes = diff(&old, &mut new).unwrap();
        let texts: Vec<&str> = changes.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Reload: client_advertise = b:1",
                "Reloaded: debug = true",
                "Reloaded: ping_interval = 10s",
                "Reloaded: max_payload = 2000",
                "Reloaded: max_traced_msg_len = 5",
                "Reloaded: lame_duck_duration = 1m0s",
            ]
        );
    }

    #[test]
    fn jetstream_settings_are_refused() {
        let mut on = Options::default();
        on.jetstream.enabled = true;
        let text = "config reload not supported for JetStream: natrium applies JetStream settings at start-up";
        assert_eq!(
            diff(&Options::default(), &mut on.clone()).unwrap_err(),
            text
        );
        let mut moved = on.clone();
        moved.store_dir = Some("/elsewhere".into());
        assert_eq!(diff(&on, &mut moved).unwrap_err(), text);
        // Without JetStream a store directory is only a path: nothing to refuse.
        let mut dir_only = Options {
            store_dir: Some("/x".into()),
            ..Options::default()
        };
        assert!(diff(&Options::default(), &mut dir_only).is_ok());
    }

    #[test]
    fn unsupported_changes_are_refused_with_nats_text() {
        let old = Options {
            port: 40849,
            ..Options::default()
        };
        let mut new = Options {
            port: 4999,
            ..Options::default()
        };
        assert_eq!(
            diff(&old, &mut new).unwrap_err(),
            "config reload not supported for Port: old=40849, new=4999"
        );
        let mut new = Options {
            host: "127.0.0.1".into(),
            ..Options::default()
        };
        assert_eq!(
            diff(&old, &mut new).unwrap_err(),
            "config reload not supported for Host: old=0.0.0.0, new=127.0.0.1"
        );
        let mut new = Options {
            server_name: "foo".into(),
            ..old.clone()
        };
        assert_eq!(
            diff(&old, &mut new).unwrap_err(),
            "config reload not supported for ServerName: old=, new=foo"
        );
        let old = Options {
            http_port: Some(8111),
            ..Options::default()
        };
        let mut new = Options {
            http_port: Some(8112),
            ..Options::default()
        };
        assert_eq!(
            diff(&old, &mut new).unwrap_err(),
            "config reload not supported for HTTPPort: old=8111, new=8112"
        );
    }

    #[test]
    fn random_port_keeps_the_running_one() {
        let old = Options {
            port: 40849,
            ..Options::default()
        };
        let mut new = Options {
            port: 0,
            ..Options::default()
        };
        assert_eq!(diff(&old, &mut new).unwrap(), []);
        assert_eq!(new.port, 40849);
    }

    /// Options as the server builds them: file, then flags (which fill the cluster defaults).
    fn opts(text: &str) -> Options {
        let mut o = Options::default();
        let m = crate::config::conf::parse_str(text, "t.conf").expect("conf");
        crate::config::file::apply(&m, &mut o).expect("valid file");
        crate::config::cli::Flags::default().apply(&mut o);
        o
    }

    const BASE: &str =
        "cluster {\n name: C1\n listen: \"127.0.0.1:16222\"\n routes [ nats://127.0.0.1:16223 ]\n}";

    fn with(extra: &str) -> String {
        BASE.replace("\n}", &format!("\n {extra}\n}}"))
    }

    fn texts(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.0.as_str()).collect()
    }

    #[test]
    fn cluster_changes_that_reload() {
        let old = opts(BASE);
        for (extra, want) in [
            (
                "permissions { import: \"a.>\" }",
                ClusterChange::Permissions(Some(RoutePermissions {
                    import: Some(crate::config::security::SubjectPermission {
                        allow: Some(vec!["a.>".into()]),
                        deny: Vec::new(),
                    }),
                    export: None,
                })),
            ),
            (
                "compression: s2_fast",
                ClusterChange::Compression(NormalizedCompression {
                    mode: cluster::CompressionMode::S2Fast,
                    rtt_thresholds: Vec::new(),
                }),
            ),
            ("pool_size: 5", ClusterChange::PoolSize(5)),
            ("no_advertise: true", ClusterChange::NoAdvertise(true)),
            (
                "advertise: \"h1:5555\"",
                ClusterChange::Advertise("h1:5555".into()),
            ),
            ("connect_retries: 5", ClusterChange::ConnectRetries(5)),
            ("connect_backoff: true", ClusterChange::ConnectBackoff(true)),
            (
                "authorization { user: a, password: b }",
                ClusterChange::Authorization,
            ),
            (
                "tls { cert_file: c.pem, key_file: k.pem }",
                ClusterChange::Tls,
            ),
            (
                "ping_interval: \"10s\"",
                ClusterChange::PingInterval(Some(Duration::from_secs(10))),
            ),
            ("ping_max: 3", ClusterChange::PingMax(3)),
            (
                "write_deadline: \"2s\"",
                ClusterChange::WriteDeadline(Some(Duration::from_secs(2))),
            ),
            (
                "write_timeout: close",
                ClusterChange::WriteTimeout(WriteTimeoutPolicy::Close),
            ),
        ] {
            let mut new = opts(&with(extra));
            assert_eq!(cluster_changes(&old, &new), Ok(vec![want]), "{extra}");
            let changes = diff(&old, &mut new).unwrap();
            assert_eq!(texts(&changes), ["Reloaded: cluster"], "{extra}");
        }
        // nats-server applies a new name (and keeps the running one when it is removed).
        let mut new = opts(&BASE.replace("C1", "C2"));
        assert_eq!(
            cluster_changes(&old, &new),
            Ok(vec![ClusterChange::Name("C2".into())])
        );
        assert_eq!(texts(&diff(&old, &mut new).unwrap()), ["Reloaded: cluster"]);
        let new = opts(&BASE.replace(" name: C1\n", ""));
        assert_eq!(
            cluster_changes(&old, &new),
            Ok(vec![ClusterChange::Name(String::new())])
        );
        // The same mode spelled otherwise is no change.
        let a = opts(&with("compression: fast"));
        let b = opts(&with("compression: s2_fast"));
        assert_eq!(cluster_changes(&a, &b), Ok(vec![]));
        // A name alone (no listener) may come and go.
        let new = opts("cluster { name: x }");
        assert_eq!(
            cluster_changes(&Options::default(), &new),
            Ok(vec![ClusterChange::Name("x".into())])
        );
    }

    #[test]
    fn routes_are_added_and_removed() {
        let old = opts(&with(
            "routes [ nats://127.0.0.1:16223, nats://127.0.0.1:16224 ]",
        ));
        let mut new = opts(&with(
            "routes [ nats://127.0.0.1:16225, nats://127.0.0.1:16223 ]",
        ));
        let changes = cluster_changes(&old, &new).unwrap();
        let [ClusterChange::Routes { add, remove }] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(add.len(), 1);
        assert_eq!(add[0].host_port, "127.0.0.1:16225");
        assert_eq!(remove[0].host_port, "127.0.0.1:16224");
        assert_eq!(
            texts(&diff(&old, &mut new).unwrap()),
            ["Reloaded: cluster routes"]
        );
        // The order does not matter.
        let new = opts(&with(
            "routes [ nats://127.0.0.1:16224, nats://127.0.0.1:16223 ]",
        ));
        assert_eq!(cluster_changes(&old, &new), Ok(vec![]));
        // Both kinds: nats-server reports the cluster first, in its field order.
        let mut new = opts(&with("routes [ nats://127.0.0.1:16225 ]\n pool_size: 4"));
        new.max_payload = 2048;
        new.pid_file = Some("/tmp/x.pid".into());
        assert_eq!(
            texts(&diff(&old, &mut new).unwrap()),
            [
                "Reloaded: max_payload = 2048",
                "Reloaded: cluster",
                "Reloaded: pid_file = /tmp/x.pid",
                "Reloaded: cluster routes",
            ]
        );
    }

    #[test]
    fn pinned_accounts_reload() {
        let old = opts(&format!("{}\naccounts {{ A {{}} }}", with("pool_size: 3")));
        let new = opts(&format!("{}\naccounts {{ A {{}} }}", with("accounts: [A]")));
        assert_eq!(
            cluster_changes(&old, &new),
            Ok(vec![ClusterChange::PinnedAccounts {
                added: vec!["A".into()],
                removed: vec![],
            }])
        );
        // Pooling off: the system account loses its route.
        let new = opts(&with("pool_size: -1"));
        assert_eq!(
            cluster_changes(&old, &new),
            Ok(vec![
                ClusterChange::PoolSize(-1),
                ClusterChange::PinnedAccounts {
                    added: vec![],
                    removed: vec!["$SYS".into()],
                },
            ])
        );
        // nats-server looks the account up among the running ones.
        let old = opts(BASE);
        let new = opts(&format!("{}\naccounts {{ A {{}} }}", with("accounts: [A]")));
        assert_eq!(
            cluster_changes(&old, &new),
            Err(
                "unable to add account \"A\" to the list of dedicated routes: account missing"
                    .into()
            )
        );
        let new = opts(&with("accounts: [\"$G\"]"));
        assert!(cluster_changes(&old, &new).is_ok());
    }

    #[test]
    fn cluster_refusals_use_nats_texts() {
        let old = opts(BASE);
        for (new, err) in [
            (
                BASE.replace("127.0.0.1:16222", "0.0.0.0:16222"),
                "config reload not supported for cluster host: old=127.0.0.1, new=0.0.0.0",
            ),
            (
                BASE.replace("16222", "16229"),
                "config reload not supported for cluster port: old=16222, new=16229",
            ),
            (
                // Clustering cannot be turned off.
                String::new(),
                "config reload not supported for cluster host: old=127.0.0.1, new=",
            ),
            (
                with("advertise: \"x:y:z\""),
                "invalid Cluster.Advertise value of x:y:z, err=address x:y:z: too many colons in address",
            ),
        ] {
            let mut new = opts(&new);
            assert_eq!(diff(&old, &mut new), Err(err.to_string()));
        }
        // Nor on.
        let mut new = opts("cluster { port: 16242 }");
        assert_eq!(
            diff(&Options::default(), &mut new),
            Err("config reload not supported for cluster host: old=, new=0.0.0.0".into())
        );
        let old = opts("cluster { host: h, port: 1 }");
        let mut new = opts("cluster { host: h }");
        assert_eq!(
            diff(&old, &mut new),
            Err("config reload not supported for cluster port: old=1, new=0".into())
        );
    }

    #[test]
    fn random_cluster_port_keeps_the_running_one() {
        let mut old = opts(&BASE.replace("16222", "-1"));
        old.cluster.as_mut().unwrap().port = Some(40425);
        let mut new = opts(&BASE.replace("16222", "-1"));
        assert_eq!(diff(&old, &mut new), Ok(vec![]));
        assert_eq!(new.cluster.unwrap().port, Some(40425));
    }

    /// nats-server's `diffOptions` for `mqtt`: the JetStream-side settings reload (and all
    /// six are logged), the listener and logins do not.
    #[test]
    fn mqtt_changes_as_nats_server_allows_them() {
        let old = opts("mqtt { port: 1883 }");
        let mut new = opts(
            "mqtt { port: 1883, ack_wait: \"10s\", max_ack_pending: 10, stream_replicas: 3, \
             consumer_memory_storage: true, consumer_inactive_threshold: \"1h\" }",
        );
        assert_eq!(
            texts(&diff(&old, &mut new).unwrap()),
            [
                "Reloaded: MQTT ack_wait = 10s",
                "Reloaded: MQTT max_ack_pending = 10",
                "Reloaded: MQTT stream_replicas = 3",
                "Reloaded: MQTT consumer_replicas = 0",
                "Reloaded: MQTT consumer_memory_storage = true",
                "Reloaded: MQTT consumer_inactive_threshold = 1h0m0s",
            ]
        );
        assert_eq!(diff(&old, &mut old.clone()).unwrap(), []);
        // An empty block is no block.
        assert_eq!(diff(&opts("port: 4222"), &mut opts("mqtt {}")).unwrap(), []);
        for (text, err) in [
            ("mqtt { port: 1884 }", "field \"Port\": old=1883, new=1884"),
            ("port: 4222", "field \"Port\": old=1883, new=0"),
            (
                "mqtt { port: 1883, host: 127.0.0.1 }",
                "field \"Host\": old=0.0.0.0, new=127.0.0.1",
            ),
            (
                "mqtt { port: 1883, authorization { user: u, password: p } }",
                "field \"Username\": old=, new=u",
            ),
            (
                "mqtt { port: 1883, authorization { token: t } }",
                "field \"Token\": old=[REDACTED], new=[REDACTED]",
            ),
            (
                "mqtt { port: 1883, js_domain: hub }",
                "field \"JsDomain\": old=, new=hub",
            ),
            (
                "mqtt { port: 1883, tls { cert_file: c.pem, key_file: k.pem } }",
                "field \"TLSConfig\": old=none, new=tls { cert_file: \"c.pem\" }",
            ),
            (
                "mqtt { port: 1883, reject_qos2_publish: true }",
                "field \"rejectQoS2Pub\": old=false, new=true",
            ),
        ] {
            assert_eq!(
                diff(&old, &mut opts(text)).unwrap_err(),
                format!("config reload not supported for MQTT: {err}"),
                "{text}"
            );
        }
        // A random port keeps the running one.
        let running = opts("mqtt { port: 1883 }");
        let mut new = opts("mqtt { port: -1 }");
        assert_eq!(diff(&running, &mut new).unwrap(), []);
        assert_eq!(new.mqtt.unwrap().port, Some(1883));
    }
}
