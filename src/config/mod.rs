//! Server options: nats-server's defaults, filled from the command line (`cli`) and the nats
//! configuration file (`conf` reads the format, `file` maps its keys onto [`Options`]).
//!
//! Flags override the file, as in nats-server. The options a running server uses are shared
//! as an `Arc<Options>` snapshot; a reload builds a new snapshot.

pub mod cli;
pub mod conf;

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

/// Where a client port listens: a host and a port (0 = any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

/// Everything the server can be told. Field names follow nats-server's `Options` where one
/// exists.
#[derive(Debug, Clone)]
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

    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,

    /// TLS on the client port (`tls {}`, `--tls…`).
    pub tls: Option<crate::tls::TlsOptions>,
    /// Accept plaintext clients on a TLS port (the first byte tells them apart).
    pub allow_non_tls: bool,

    /// natrium's own: event-loop threads; None = number of cores, capped.
    pub reactors: Option<usize>,
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
            lame_duck_duration: LAME_DUCK_DURATION,
            lame_duck_grace_period: LAME_DUCK_GRACE_PERIOD,
            tls: None,
            allow_non_tls: false,
            reactors: None,
        }
    }
}

impl Options {
    /// The number of reactor threads to run.
    pub fn reactor_count(&self) -> usize {
        match self.reactors {
            Some(n) if n > 0 => n,
            _ => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(MAX_DEFAULT_REACTORS),
        }
    }

    /// The auth timeout nats-server applies: the configured one, else 2 s, or the TLS
    /// timeout plus one second when TLS is on (`opts.go`).
    pub fn effective_auth_timeout(&self) -> Duration {
        match (self.auth_timeout, &self.tls) {
            (Some(t), _) => t,
            (None, Some(tls)) => tls.timeout() + Duration::from_secs(1),
            (None, None) => AUTH_TIMEOUT,
        }
    }

    /// Clients must authenticate (CONNECT first, within the auth timeout). Authentication
    /// arrives with the security work; nothing requires it yet.
    pub fn auth_required(&self) -> bool {
        false
    }

    /// Checks made after flags and file are merged; each is a fatal start-up error in
    /// nats-server too.
    pub fn validate(&self) -> Result<(), String> {
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
        Ok(())
    }
}
