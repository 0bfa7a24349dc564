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

use super::file::go_duration;
use super::Options;

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
    if new.http_port == Some(0) && old.http_port.is_some() {
        new.http_port = old.http_port;
    }
    if new.https_port == Some(0) && old.https_port.is_some() {
        new.https_port = old.https_port;
    }
    let mut changes = Vec::new();
    let mut note =
        |name: &str, value: String| changes.push(Change(format!("Reloaded: {name} = {value}")));

    // In nats-server's `Options` field order, so the first refusal is the one it reports.
    refuse("ServerName", &old.server_name, &new.server_name)?;
    refuse("Host", &old.host, &new.host)?;
    refuse("Port", &old.port, &new.port)?;
    if old.trace != new.trace {
        note("trace", new.trace.to_string());
    }
    if old.debug != new.debug {
        note("debug", new.debug.to_string());
    }
    refuse(
        "NoHeaderSupport",
        &old.no_header_support,
        &new.no_header_support,
    )?;
    if old.logtime != new.logtime {
        note("logtime", new.logtime.to_string());
    }
    if old.logtime_utc != new.logtime_utc {
        note("logtime_utc", new.logtime_utc.to_string());
    }
    if old.log_json != new.log_json {
        note(
            "log_format",
            if new.log_json { "json" } else { "text" }.to_string(),
        );
    }
    if old.max_connections != new.max_connections {
        note("max_connections", new.max_connections.to_string());
    }
    if old.max_subscriptions != new.max_subscriptions {
        note("max_subscriptions", new.max_subscriptions.to_string());
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
        note("authorization timeout", secs.to_string());
    }
    if old.ping_interval != new.ping_interval {
        note("ping_interval", go_duration(new.ping_interval));
    }
    if old.ping_max != new.ping_max {
        note("ping_max", new.ping_max.to_string());
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
        note("max_control_line", new.max_control_line.to_string());
    }
    if old.max_payload != new.max_payload {
        note("max_payload", new.max_payload.to_string());
    }
    if old.max_pending != new.max_pending {
        note("max_pending", new.max_pending.to_string());
    }
    if old.pid_file != new.pid_file {
        note("pid_file", path_text(&new.pid_file));
    }
    if old.ports_file_dir != new.ports_file_dir {
        note("ports_file_dir", path_text(&new.ports_file_dir));
    }
    if old.log_file != new.log_file {
        note("log_file", path_text(&new.log_file));
    }
    if old.log_size_limit != new.log_size_limit {
        note("logfile_size_limit", new.log_size_limit.to_string());
    }
    if old.log_max_files != new.log_max_files {
        note("logfile_max_num", new.log_max_files.to_string());
    }
    refuse("Syslog", &old.syslog, &new.syslog)?;
    refuse("RemoteSyslog", &old.remote_syslog, &new.remote_syslog)?;
    if old.tls != new.tls {
        return Err("config reload not supported for TLSConfig".to_string());
    }
    refuse("AllowNonTLS", &old.allow_non_tls, &new.allow_non_tls)?;
    if old.write_deadline != new.write_deadline {
        note("write_deadline", go_duration(new.write_deadline));
    }
    refuse("WriteTimeout", &old.write_timeout, &new.write_timeout)?;
    if old.max_traced_msg_len != new.max_traced_msg_len {
        note("max_traced_msg_len", new.max_traced_msg_len.to_string());
    }
    if old.max_closed_clients != new.max_closed_clients {
        note("max_closed_clients", new.max_closed_clients.to_string());
    }
    if old.lame_duck_duration != new.lame_duck_duration {
        note("lame_duck_duration", go_duration(new.lame_duck_duration));
    }
    if old.lame_duck_grace_period != new.lame_duck_grace_period {
        note(
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
    use std::time::Duration;

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
}
