//! Server options: nats-server's defaults, filled from the command line (`cli`) and the nats
//! configuration file (`conf` reads the format, `file` maps its keys onto [`Options`]).
//!
//! Flags override the file, as in nats-server. The options a running server uses are shared
//! as an `Arc<Options>` snapshot; a reload builds a new snapshot.

pub mod cli;
pub mod cluster;
pub mod conf;
pub mod file;
pub mod jetstream;
pub mod leafnode;
pub mod mqtt;
pub mod reload;
pub mod resolver;
pub mod security;
pub mod sharing;
pub mod websocket;

use std::path::PathBuf;
use std::time::Duration;

/// nats-server defaults (`server/const.go`).
pub const DEFAULT_PORT: u16 = 4222;
pub const DEFAULT_HOST: &str = "0.0.0.0";
pub const MAX_CONTROL_LINE: usize = 4096;
pub const MAX_PAYLOAD: i64 = 1024 * 1024;
pub const MAX_PAYLOAD_WARN: i64 = 8 * 1024 * 1024;
pub const MAX_PENDING: i64 = 64 * 1024 * 1024;
pub const MAX_CONNECTIONS: i64 = 64 * 1024;
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);
pub const PING_INTERVAL: Duration = Duration::from_secs(120);
pub const PING_MAX: u32 = 2;
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
pub const LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
pub const LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
pub const MAX_CLOSED_CLIENTS: usize = 10_000;
/// The nats-server release whose client-visible behaviour natrium matches; clients gate
/// features on the INFO `version`, so this is what INFO carries.
pub const NATS_COMPAT_VERSION: &str = "2.15.1";
/// natrium's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// More reactors than this buys nothing on the machines natrium targets and costs memory.
pub const MAX_DEFAULT_REACTORS: usize = 8;

/// Half the available cores, at least 1, at most [`MAX_DEFAULT_REACTORS`].
pub fn default_reactors() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cores / 2).clamp(1, MAX_DEFAULT_REACTORS)
}

/// Where a client port listens: a host and a port (0 = any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

/// Everything the server can be told. Field names follow nats-server's `Options` where one
/// exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub config_file: Option<PathBuf>,
    pub server_name: String,
    pub host: String,
    /// -1 in flags or the file means a random port; stored here as 0.
    pub port: u16,
    pub client_advertise: String,

    pub http_host: String,
    /// 0 = monitoring off. `-1` in flags/file = random port, stored as `Some(0)`.
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub http_base_path: String,

    pub max_payload: i64,
    pub max_pending: i64,
    pub max_connections: i64,
    pub max_control_line: usize,
    pub max_subscriptions: i64,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    pub auth_timeout: Option<Duration>,
    pub no_header_support: bool,
    pub max_closed_clients: usize,

    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub logtime_utc: bool,
    pub log_file: Option<PathBuf>,
    pub log_size_limit: u64,
    pub log_max_files: usize,
    pub log_json: bool,
    pub syslog: bool,
    pub remote_syslog: String,
    pub pid_file: Option<PathBuf>,
    pub ports_file_dir: Option<PathBuf>,
    /// Longest traced message payload shown (`MSG_PAYLOAD: ["abc..."]`); 0 or less shows it
    /// all, as in nats-server.
    pub max_traced_msg_len: i64,
    /// `-sd`/`store_dir` (also `jetstream { store_dir }`): JetStream's storage directory;
    /// streams live under its `jetstream/` folder, as nats-server keeps them.
    pub store_dir: Option<PathBuf>,
    /// `-js` and the `jetstream` key.
    pub jetstream: jetstream::JetStreamOptions,

    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,

    /// `authorization {}` and `--user`/`--pass`/`--auth`.
    pub authorization: Option<security::Authorization>,
    /// The `accounts {}` block: accounts and the users bound to them.
    pub accounts: Vec<security::Account>,
    /// `operator`: the trusted operators' JWTs (operator mode).
    pub operators: Vec<String>,
    /// `resolver`: where operator mode finds account JWTs.
    pub resolver: resolver::ResolverOptions,
    /// `resolver_preload`: account public key → account JWT.
    pub resolver_preload: Vec<(String, String)>,
    /// `system_account`: the system account's name (empty: `$SYS`).
    pub system_account: String,
    /// `no_system_account`: no system account at all.
    pub no_system_account: bool,
    /// The top-level `mappings {}`: the global account's subject mappings.
    pub mappings: Vec<crate::accounts::Mapping>,
    /// The client `tls {}` block and the `--tls…` flags.
    pub tls: Option<security::TlsConfig>,
    pub allow_non_tls: bool,
    pub no_auth_user: String,
    pub write_timeout: WriteTimeoutPolicy,

    /// The `websocket {}` block; the listener runs when it has a port.
    pub websocket: Option<crate::websocket::WebsocketOptions>,

    /// The `cluster {}` block and the cluster flags (`--cluster`, `--routes`, …); `None`
    /// when neither configures anything.
    pub cluster: Option<cluster::ClusterOptions>,

    /// The `leafnodes {}` block; `None` when it configures nothing.
    pub leafnodes: Option<leafnode::LeafOptions>,

    /// The `mqtt {}` block; `None` without one. The listener runs when it has a port.
    pub mqtt: Option<mqtt::MqttOptions>,

    /// natrium's own: event-loop threads; None = number of cores, capped.
    pub reactors: Option<usize>,
}

/// nats-server's `write_timeout`: what happens to a connection whose write passes the
/// deadline. For clients `default` is `close`, which is what natrium does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteTimeoutPolicy {
    #[default]
    Default,
    Close,
    Retry,
}

impl std::fmt::Display for WriteTimeoutPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteTimeoutPolicy::Default => "default",
            WriteTimeoutPolicy::Close => "close",
            WriteTimeoutPolicy::Retry => "retry",
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_file: None,
            server_name: String::new(),
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            client_advertise: String::new(),
            http_host: String::new(),
            http_port: None,
            https_port: None,
            http_base_path: String::new(),
            max_payload: MAX_PAYLOAD,
            max_pending: MAX_PENDING,
            max_connections: MAX_CONNECTIONS,
            max_control_line: MAX_CONTROL_LINE,
            max_subscriptions: 0,
            ping_interval: PING_INTERVAL,
            ping_max: PING_MAX,
            write_deadline: WRITE_DEADLINE,
            auth_timeout: None,
            no_header_support: false,
            max_closed_clients: MAX_CLOSED_CLIENTS,
            debug: false,
            trace: false,
            logtime: true,
            logtime_utc: false,
            log_file: None,
            log_size_limit: 0,
            log_max_files: 0,
            log_json: false,
            syslog: false,
            remote_syslog: String::new(),
            pid_file: None,
            ports_file_dir: None,
            max_traced_msg_len: 0,
            store_dir: None,
            jetstream: jetstream::JetStreamOptions::default(),
            lame_duck_duration: LAME_DUCK_DURATION,
            lame_duck_grace_period: LAME_DUCK_GRACE_PERIOD,
            authorization: None,
            accounts: Vec::new(),
            mappings: Vec::new(),
            system_account: String::new(),
            operators: Vec::new(),
            resolver: resolver::ResolverOptions::Memory,
            resolver_preload: Vec::new(),
            no_system_account: false,
            tls: None,
            allow_non_tls: false,
            no_auth_user: String::new(),
            write_timeout: WriteTimeoutPolicy::Default,
            websocket: None,
            cluster: None,
            leafnodes: None,
            mqtt: None,
            reactors: None,
        }
    }
}

impl Options {
    /// The number of reactor threads to run: as configured, else half the cores (at least
    /// one, at most [`MAX_DEFAULT_REACTORS`]). Measured on 2 cores with the clients on the
    /// same machine (docs/benchmarks.md), one reactor beats two: the kernel's TCP work and
    /// the clients need the other core, and every cross-reactor hop costs a copy and a
    /// wake-up. Half the cores keeps that headroom on bigger machines.
    pub fn reactor_count(&self) -> usize {
        match self.reactors {
            Some(n) if n > 0 => n,
            _ => default_reactors(),
        }
    }

    /// The auth timeout nats-server applies: the configured one (`authorization {
    /// timeout }`), else 2 s, or the TLS timeout plus one second when TLS is on (`opts.go`).
    pub fn effective_auth_timeout(&self) -> Duration {
        let configured = self
            .auth_timeout
            .or_else(|| self.authorization.as_ref().and_then(|a| a.timeout))
            .filter(|t| !t.is_zero());
        match (configured, &self.tls) {
            (Some(t), _) => t,
            (None, Some(tls)) => crate::tls::timeout(tls) + Duration::from_secs(1),
            (None, None) => AUTH_TIMEOUT,
        }
    }

    /// Whether `name` is a configured user or nkey, in `authorization` or in an account.
    pub fn has_user(&self, name: &str) -> bool {
        let in_authorization = self.authorization.as_ref().is_some_and(|a| {
            a.users.iter().any(|u| u.username == name) || a.nkeys.iter().any(|n| n.nkey == name)
        });
        in_authorization
            || self.accounts.iter().any(|a| {
                a.users.iter().any(|u| u.username == name) || a.nkeys.iter().any(|n| n.nkey == name)
            })
    }

    /// Checks made after flags and file are merged; each is a fatal start-up error in
    /// nats-server too.
    pub fn validate(&self) -> Result<(), String> {
        if self.syslog || !self.remote_syslog.is_empty() {
            return Err(
                "syslog logging is not supported by natrium yet: log to stderr (the \
                        journal under systemd) or to a file (-l, logfile)"
                    .to_string(),
            );
        }
        if !self.no_auth_user.is_empty() && !self.has_user(&self.no_auth_user) {
            return Err(format!(
                "no_auth_user: \"{}\" not present as user or nkey in authorization block or \
                 account configuration",
                self.no_auth_user
            ));
        }
        if self.max_payload > self.max_pending && self.max_pending > 0 {
            return Err(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        if self.max_payload > i32::MAX as i64 {
            return Err(format!(
                "max_payload ({}) cannot be higher than {}",
                self.max_payload,
                i32::MAX
            ));
        }
        // nats-server checks the cluster before the WebSocket block (`validateOptions`).
        if let Some(c) = &self.cluster {
            c.validate(Some(cluster::DEFAULT_SYSTEM_ACCOUNT))?;
        }
        // Then MQTT (`validateMQTTOptions`), then WebSocket.
        if let Some(m) = &self.mqtt {
            m.validate(self)?;
        }
        if let Some(ws) = &self.websocket {
            ws.validate()?;
        }
        if let Some(l) = &self.leafnodes {
            l.validate(&self.account_names())?;
        }
        Ok(())
    }
}
