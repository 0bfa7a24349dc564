//! The command line, parsed the way nats-server's Go `flag` package parses it.
//!
//! Go flags accept `-name` and `--name` alike, `-name=value` and `-name value`, multi-letter
//! short names such as `-DV`, `-sl` and `-js`, and stop at the first argument that is not a
//! flag. argh (on the design card) cannot express that grammar, so this is a small table-driven
//! parser instead. Flags are recorded in order and applied on top of the configuration file,
//! so the command line wins, as in nats-server.

use std::path::PathBuf;
use std::time::Duration;

use super::cluster::{self, ClusterListen, ClusterOptions, RouteUrl};
use super::Options;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the server with these flags applied over the defaults and the config file.
    Run(Flags),
    /// `-t`: load and check the configuration, then exit.
    CheckConfig(Flags),
    Help,
    HelpTls,
    Version,
    /// `-sl/--signal <cmd>[=<pid|pidfile>]`.
    Signal {
        command: String,
        target: Option<String>,
    },
    /// `natrium bench …`: the load generator; the rest of the arguments are its own.
    Bench(Vec<String>),
}

/// One flag as given, kept so it can be applied after the config file.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Port(i64),
    Host(String),
    ServerName(String),
    ClientAdvertise(String),
    Debug(bool),
    Trace(bool),
    LogTime(bool),
    LogTimeUtc(bool),
    LogFile(PathBuf),
    LogSizeLimit(u64),
    LogFormatJson(bool),
    Syslog(bool),
    RemoteSyslog(String),
    PidFile(PathBuf),
    PortsFileDir(PathBuf),
    StoreDir(PathBuf),
    JetStream(bool),
    MaxTracedMsgLen(i64),
    HttpPort(i64),
    HttpsPort(i64),
    MaxPayload(i64),
    MaxPending(i64),
    MaxConnections(i64),
    MaxControlLine(i64),
    MaxSubscriptions(i64),
    PingInterval(Duration),
    PingMax(u32),
    WriteDeadline(Duration),
    Reactors(usize),
    Tls,
    TlsVerify,
    TlsCert(PathBuf),
    TlsKey(PathBuf),
    TlsCaCert(PathBuf),
    User(String),
    Pass(String),
    Auth(String),
    /// natrium's own `--websocket_*` flags (nats-server has only the config block).
    Websocket(WsSetting),
    /// `--routes`, `--cluster`, `--cluster_name`, … (nats-server's cluster flags).
    Cluster(ClusterSetting),
}

/// One cluster flag.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterSetting {
    /// `--routes url,url`: replaces the file's routes; empty clears them.
    Routes(Vec<RouteUrl>),
    /// `--cluster`/`--cluster_listen url`: the listen address and credentials; `None` (an
    /// empty value) turns the route listener off.
    Listen(Option<ClusterListen>),
    Name(String),
    Advertise(String),
    NoAdvertise(bool),
    ConnectRetries(i64),
}

impl ClusterSetting {
    fn apply(&self, c: &mut ClusterOptions) {
        match self {
            ClusterSetting::Routes(r) => c.routes = r.clone(),
            // nats-server's `overrideCluster`.
            ClusterSetting::Listen(None) => c.port = None,
            ClusterSetting::Listen(Some(l)) => {
                c.host = l.host.clone();
                c.port = Some(l.port);
                c.username = l.username.clone();
                c.password = l.password.clone();
            }
            ClusterSetting::Name(n) => c.name = n.clone(),
            ClusterSetting::Advertise(a) => c.advertise = a.clone(),
            ClusterSetting::NoAdvertise(b) => c.no_advertise = *b,
            ClusterSetting::ConnectRetries(n) => c.connect_retries = *n,
        }
    }
}

/// One `--websocket_*` flag.
#[derive(Debug, Clone, PartialEq)]
pub enum WsSetting {
    Port(i64),
    Host(String),
    NoTls(bool),
    TlsCert(PathBuf),
    TlsKey(PathBuf),
    SameOrigin(bool),
    AllowedOrigins(Vec<String>),
    Compression(bool),
    HandshakeTimeout(Duration),
}

impl WsSetting {
    fn apply(&self, ws: &mut crate::websocket::WebsocketOptions) {
        match self {
            WsSetting::Port(p) => {
                ws.port = match *p {
                    0 => None,
                    p => Some(port_value(p)),
                }
            }
            WsSetting::Host(h) => ws.host = h.clone(),
            WsSetting::NoTls(b) => ws.no_tls = *b,
            WsSetting::TlsCert(p) => {
                ws.tls.get_or_insert_with(Default::default).cert_file =
                    p.to_string_lossy().into_owned()
            }
            WsSetting::TlsKey(p) => {
                ws.tls.get_or_insert_with(Default::default).key_file =
                    p.to_string_lossy().into_owned()
            }
            WsSetting::SameOrigin(b) => ws.same_origin = *b,
            WsSetting::AllowedOrigins(o) => ws.allowed_origins = o.clone(),
            WsSetting::Compression(b) => ws.compression = *b,
            WsSetting::HandshakeTimeout(d) => ws.handshake_timeout = Some(*d),
        }
    }
}

/// The parsed command line: the config file to read and the settings to apply over it.
#[derive(Debug, Default)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    pub settings: Vec<Setting>,
}

impl Flags {
    /// [`Flags::check`], then [`Flags::apply`]: what the server does with its command line.
    pub fn apply_checked(&self, opts: &mut Options) -> Result<(), String> {
        self.check(opts)?;
        self.apply(opts);
        Ok(())
    }

    /// The checks nats-server makes on its flags against the file's values (`opts`, before
    /// [`Flags::apply`]): `--routes` needs a cluster listener, from `--cluster` or the file.
    pub fn check(&self, opts: &Options) -> Result<(), String> {
        let mut routes = false;
        let mut listen: Option<bool> = None;
        for s in &self.settings {
            match s {
                Setting::Cluster(ClusterSetting::Routes(r)) => routes = !r.is_empty(),
                Setting::Cluster(ClusterSetting::Listen(l)) => listen = Some(l.is_some()),
                _ => {}
            }
        }
        let file = opts.cluster.as_ref();
        let file_host = file.is_some_and(|c| !c.host.is_empty());
        let file_port = file.is_some_and(|c| c.port.is_some());
        let has_listener = match listen {
            Some(true) => true,
            // `--cluster ""` clears the port, and leaves the host.
            Some(false) => file_host,
            None => file_host || file_port,
        };
        if routes && !has_listener {
            return Err("solicited routes require cluster capabilities, e.g. --cluster".into());
        }
        Ok(())
    }

    /// Applies the command-line settings over `opts` (which already holds the file's values),
    /// then fills in the defaults that depend on both (nats-server's `setBaselineOptions`).
    pub fn apply(&self, opts: &mut Options) {
        for s in &self.settings {
            match s {
                Setting::Port(p) => opts.port = port_value(*p),
                Setting::Host(h) => opts.host = h.clone(),
                Setting::ServerName(n) => opts.server_name = n.clone(),
                Setting::ClientAdvertise(a) => opts.client_advertise = a.clone(),
                Setting::Debug(b) => opts.debug = *b,
                Setting::Trace(b) => opts.trace = *b,
                Setting::LogTime(b) => opts.logtime = *b,
                Setting::LogTimeUtc(b) => opts.logtime_utc = *b,
                Setting::LogFile(f) => opts.log_file = Some(f.clone()),
                Setting::LogSizeLimit(n) => opts.log_size_limit = *n,
                Setting::LogFormatJson(b) => opts.log_json = *b,
                Setting::Syslog(b) => opts.syslog = *b,
                Setting::RemoteSyslog(a) => opts.remote_syslog = a.clone(),
                Setting::PidFile(f) => opts.pid_file = Some(f.clone()),
                Setting::PortsFileDir(d) => opts.ports_file_dir = Some(d.clone()),
                Setting::StoreDir(d) => opts.store_dir = Some(d.clone()),
                Setting::JetStream(on) => opts.jetstream.enabled = *on,
                Setting::MaxTracedMsgLen(n) => opts.max_traced_msg_len = *n,
                Setting::HttpPort(p) => opts.http_port = optional_port(*p),
                Setting::HttpsPort(p) => opts.https_port = optional_port(*p),
                Setting::MaxPayload(n) => opts.max_payload = *n,
                Setting::MaxPending(n) => opts.max_pending = *n,
                Setting::MaxConnections(n) => opts.max_connections = *n,
                Setting::MaxControlLine(n) => opts.max_control_line = (*n).max(1) as usize,
                Setting::MaxSubscriptions(n) => opts.max_subscriptions = *n,
                Setting::PingInterval(d) => opts.ping_interval = *d,
                Setting::PingMax(n) => opts.ping_max = *n,
                Setting::WriteDeadline(d) => opts.write_deadline = *d,
                Setting::Reactors(n) => opts.reactors = Some(*n),
                Setting::Tls => {
                    opts.tls.get_or_insert_with(Default::default);
                }
                Setting::TlsVerify => opts.tls.get_or_insert_with(Default::default).verify = true,
                Setting::TlsCert(p) => {
                    opts.tls.get_or_insert_with(Default::default).cert_file =
                        p.to_string_lossy().into_owned()
                }
                Setting::TlsKey(p) => {
                    opts.tls.get_or_insert_with(Default::default).key_file =
                        p.to_string_lossy().into_owned()
                }
                Setting::TlsCaCert(p) => {
                    opts.tls.get_or_insert_with(Default::default).ca_file =
                        p.to_string_lossy().into_owned()
                }
                Setting::Websocket(w) => {
                    w.apply(opts.websocket.get_or_insert_with(Default::default))
                }
                Setting::User(u) => {
                    opts.authorization.get_or_insert_with(Default::default).user = u.clone()
                }
                Setting::Pass(p) => {
                    opts.authorization
                        .get_or_insert_with(Default::default)
                        .password = p.clone()
                }
                Setting::Auth(t) => {
                    opts.authorization
                        .get_or_insert_with(Default::default)
                        .token = t.clone()
                }
                Setting::Cluster(c) => c.apply(opts.cluster.get_or_insert_with(Default::default)),
            }
        }
        if opts.cluster.as_ref().is_some_and(|c| !c.is_configured()) {
            opts.cluster = None;
        }
        if let Some(c) = &mut opts.cluster {
            c.resolve_defaults();
        }
        if let Some(l) = &mut opts.leafnodes {
            l.resolve_defaults();
        }
    }
}

/// nats-server treats any negative port as "pick a random one".
pub fn port_value(p: i64) -> u16 {
    if p < 0 {
        0
    } else {
        u16::try_from(p).unwrap_or(u16::MAX)
    }
}

/// A monitoring port: 0 means off, negative means random.
pub fn optional_port(p: i64) -> Option<u16> {
    match p {
        0 => None,
        p if p < 0 => Some(0),
        p => Some(u16::try_from(p).unwrap_or(u16::MAX)),
    }
}

/// A command-line error: the message and whether to print the usage after it.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
}

/// Flags nats-server has that by themselves ask for a feature natrium does not implement
/// yet: refused with a clear message rather than silently ignored. (A store directory alone
/// does not enable JetStream, so `-sd` is accepted.)
const NOT_YET: &[(&str, Kind, &str)] = &[];

fn kind_of(name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match name {
        "h" | "help" | "help_tls" | "v" | "version" | "t" | "tls" | "tlsverify" => Bool,
        "D" | "debug" | "V" | "trace" | "VV" | "DV" | "DVV" | "T" | "logtime" | "logtime_utc"
        | "s" | "syslog" => Bool,
        "p" | "port" | "a" | "addr" | "net" | "n" | "name" | "server_name" | "client_advertise"
        | "P" | "pid" | "ports_file_dir" | "m" | "http_port" | "ms" | "https_port" | "c"
        | "config" | "sl" | "signal" | "l" | "log" | "log_size_limit" | "log_format" | "r"
        | "remote_syslog" | "max_payload" | "max_pending" | "max_connections" | "max_conn"
        | "max_control_line" | "max_subscriptions" | "max_subs" | "ping_interval" | "ping_max"
        | "write_deadline" | "reactors" | "tlscert" | "tlskey" | "tlscacert" | "user" | "pass"
        | "auth" | "sd" | "store_dir" | "max_traced_msg_len" | "profile" => Value,
        "js" | "jetstream" => Bool,
        "no_advertise" => Bool,
        "routes" | "cluster" | "cluster_listen" | "cluster_name" | "cluster_advertise"
        | "connect_retries" => Value,
        "websocket_no_tls" | "websocket_same_origin" | "websocket_compression" => Bool,
        "websocket_port"
        | "websocket_host"
        | "websocket_tlscert"
        | "websocket_tlskey"
        | "websocket_allowed_origins"
        | "websocket_handshake_timeout" => Value,
        _ => {
            return NOT_YET
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, k, _)| *k)
        }
    })
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    if args.first().map(String::as_str) == Some("bench") {
        return Ok(Command::Bench(args[1..].to_vec()));
    }
    let mut flags = Flags::default();
    let mut check_config = false;
    let mut signal: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // First non-flag argument: Go's flag package stops here; nats-server then
            // accepts the words `version` and `help`.
            return match arg.to_ascii_lowercase().as_str() {
                "version" => Ok(Command::Version),
                "help" => Ok(Command::Help),
                _ => Err(CliError(format!("unrecognized command: {arg:?}"))),
            };
        };
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(CliError(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let kind = kind_of(name)
            .ok_or_else(|| CliError(format!("flag provided but not defined: -{name}")))?;
        let value = match kind {
            Kind::Bool => match inline.as_deref() {
                None => "true".to_string(),
                Some(v) => v.to_string(),
            },
            Kind::Value => match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| CliError(format!("flag needs an argument: -{name}")))?;
                    i += 1;
                    v.clone()
                }
            },
        };
        if let Some((_, _, feature)) = NOT_YET.iter().find(|(n, _, _)| *n == name) {
            return Err(CliError(format!(
                "flag -{name} needs {feature}, which natrium does not support yet"
            )));
        }
        let b = || parse_bool(name, &value);
        let int = || parse_int(name, &value);
        let s = &mut flags.settings;
        match name {
            "h" | "help" => {
                if b()? {
                    return Ok(Command::Help);
                }
            }
            "help_tls" => {
                if b()? {
                    return Ok(Command::HelpTls);
                }
            }
            "v" | "version" => {
                if b()? {
                    return Ok(Command::Version);
                }
            }
            "t" => check_config = b()?,
            "D" | "debug" => s.push(Setting::Debug(b()?)),
            "V" | "trace" | "VV" => s.push(Setting::Trace(b()?)),
            "DV" | "DVV" => {
                let on = b()?;
                s.push(Setting::Debug(on));
                s.push(Setting::Trace(on));
            }
            "T" | "logtime" => s.push(Setting::LogTime(b()?)),
            "logtime_utc" => s.push(Setting::LogTimeUtc(b()?)),
            "s" | "syslog" => s.push(Setting::Syslog(b()?)),
            "r" | "remote_syslog" => s.push(Setting::RemoteSyslog(value.clone())),
            "p" | "port" => s.push(Setting::Port(int()?)),
            "a" | "addr" | "net" => s.push(Setting::Host(value.clone())),
            "n" | "name" | "server_name" => s.push(Setting::ServerName(value.clone())),
            "client_advertise" => s.push(Setting::ClientAdvertise(value.clone())),
            "P" | "pid" => s.push(Setting::PidFile(PathBuf::from(&value))),
            "ports_file_dir" => s.push(Setting::PortsFileDir(PathBuf::from(&value))),
            "sd" | "store_dir" => s.push(Setting::StoreDir(PathBuf::from(&value))),
            "js" | "jetstream" => s.push(Setting::JetStream(b()?)),
            "max_traced_msg_len" => s.push(Setting::MaxTracedMsgLen(int()?)),
            // nats-server serves Go's pprof on this port; natrium is not a Go program and has
            // no such endpoint, so only 0 (nats-server's default: off) means the same thing.
            "profile" => {
                if int()? != 0 {
                    return Err(CliError(format!(
                        "flag -{name} {value}: natrium has no profiling endpoint (nats-server's \
                         is Go's pprof); only 0 (off) is accepted. Profile natrium with a \
                         native profiler such as perf"
                    )));
                }
            }
            "m" | "http_port" => s.push(Setting::HttpPort(int()?)),
            "ms" | "https_port" => s.push(Setting::HttpsPort(int()?)),
            "c" | "config" => flags.config_file = Some(PathBuf::from(&value)),
            "sl" | "signal" => signal = Some(value.clone()),
            "l" | "log" => s.push(Setting::LogFile(PathBuf::from(&value))),
            "log_size_limit" => s.push(Setting::LogSizeLimit(non_negative(name, int()?)?)),
            "log_format" => match value.as_str() {
                "json" => s.push(Setting::LogFormatJson(true)),
                "text" => s.push(Setting::LogFormatJson(false)),
                _ => return Err(invalid(name, &value, "expected text or json")),
            },
            "max_payload" => s.push(Setting::MaxPayload(int()?)),
            "max_pending" => s.push(Setting::MaxPending(int()?)),
            "max_connections" | "max_conn" => s.push(Setting::MaxConnections(int()?)),
            "max_control_line" => s.push(Setting::MaxControlLine(int()?)),
            "max_subscriptions" | "max_subs" => s.push(Setting::MaxSubscriptions(int()?)),
            "ping_interval" => s.push(Setting::PingInterval(parse_duration(name, &value)?)),
            "ping_max" => s.push(Setting::PingMax(
                u32::try_from(non_negative(name, int()?)?).unwrap_or(u32::MAX),
            )),
            "write_deadline" => s.push(Setting::WriteDeadline(parse_duration(name, &value)?)),
            "tls" => {
                if b()? {
                    s.push(Setting::Tls);
                }
            }
            "tlsverify" => {
                if b()? {
                    s.push(Setting::TlsVerify);
                }
            }
            "tlscert" => s.push(Setting::TlsCert(PathBuf::from(&value))),
            "tlskey" => s.push(Setting::TlsKey(PathBuf::from(&value))),
            "tlscacert" => s.push(Setting::TlsCaCert(PathBuf::from(&value))),
            "user" => s.push(Setting::User(value.clone())),
            "pass" => s.push(Setting::Pass(value.clone())),
            "auth" => s.push(Setting::Auth(value.clone())),
            "websocket_port" => s.push(Setting::Websocket(WsSetting::Port(int()?))),
            "websocket_host" => s.push(Setting::Websocket(WsSetting::Host(value.clone()))),
            "websocket_no_tls" => s.push(Setting::Websocket(WsSetting::NoTls(b()?))),
            "websocket_tlscert" => s.push(Setting::Websocket(WsSetting::TlsCert(PathBuf::from(
                &value,
            )))),
            "websocket_tlskey" => {
                s.push(Setting::Websocket(WsSetting::TlsKey(PathBuf::from(&value))))
            }
            "websocket_same_origin" => s.push(Setting::Websocket(WsSetting::SameOrigin(b()?))),
            "websocket_allowed_origins" => s.push(Setting::Websocket(WsSetting::AllowedOrigins(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(String::from)
                    .collect(),
            ))),
            "websocket_compression" => s.push(Setting::Websocket(WsSetting::Compression(b()?))),
            "websocket_handshake_timeout" => s.push(Setting::Websocket(
                WsSetting::HandshakeTimeout(parse_duration(name, &value)?),
            )),
            "routes" => s.push(Setting::Cluster(ClusterSetting::Routes(
                if value.is_empty() {
                    Vec::new()
                } else {
                    cluster::routes_from_str(&value).map_err(CliError)?
                },
            ))),
            "cluster" | "cluster_listen" => s.push(Setting::Cluster(ClusterSetting::Listen(
                cluster::parse_cluster_listen(&value).map_err(CliError)?,
            ))),
            "cluster_name" => s.push(Setting::Cluster(ClusterSetting::Name(value.clone()))),
            "cluster_advertise" => {
                s.push(Setting::Cluster(ClusterSetting::Advertise(value.clone())))
            }
            "no_advertise" => s.push(Setting::Cluster(ClusterSetting::NoAdvertise(b()?))),
            "connect_retries" => s.push(Setting::Cluster(ClusterSetting::ConnectRetries(int()?))),
            "reactors" => {
                let n = non_negative(name, int()?)?;
                if n == 0 || n > 256 {
                    return Err(invalid(name, &value, "expected 1 to 256"));
                }
                s.push(Setting::Reactors(n as usize));
            }
            _ => return Err(CliError(format!("flag provided but not defined: -{name}"))),
        }
    }
    if let Some(sig) = signal {
        let (command, target) = match sig.split_once('=') {
            Some((c, t)) => (c.to_string(), Some(t.to_string())),
            None => (sig, None),
        };
        return Ok(Command::Signal { command, target });
    }
    if check_config {
        return Ok(Command::CheckConfig(flags));
    }
    Ok(Command::Run(flags))
}

fn invalid(name: &str, value: &str, why: &str) -> CliError {
    CliError(format!("invalid value {value:?} for flag -{name}: {why}"))
}

/// Go's `strconv.ParseBool`, with the `flag` package's text for a bad boolean.
fn parse_bool(name: &str, v: &str) -> Result<bool, CliError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(CliError(format!(
            "invalid boolean value {v:?} for -{name}: parse error"
        ))),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, CliError> {
    v.parse::<i64>()
        .map_err(|_| invalid(name, v, "parse error"))
}

fn non_negative(name: &str, n: i64) -> Result<u64, CliError> {
    u64::try_from(n).map_err(|_| invalid(name, &n.to_string(), "must not be negative"))
}

/// Durations on the command line: Go syntax (`30s`, `2m`), or bare seconds.
fn parse_duration(name: &str, v: &str) -> Result<Duration, CliError> {
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    super::conf::parse_duration(v).map_err(|e| invalid(name, v, &e))
}

/// The `--help` text: nats-server's usage, with natrium's additions marked.
pub const USAGE: &str = "\
Usage: natrium [options]
       natrium bench [bench options]   (load generator; `natrium bench --help`)

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for a random port)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to natrium process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1), a PID prefix ending in '*' (e.g. 12*)
                                     or the path to a PID file (e.g. /var/run/natrium.pid); without it, the
                                     single running natrium is signalled
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).
        --reactors <n>               Event-loop threads (default: half the cores, at least 1, at most 8) [natrium]

Limits: [natrium; nats-server sets these only in the config file]
        --max_payload <bytes>        Maximum message payload (default: 1048576)
        --max_pending <bytes>        Maximum bytes buffered for a slow consumer (default: 67108864)
        --max_connections <n>        Maximum client connections (default: 65536)
        --max_control_line <bytes>   Maximum protocol control line (default: 4096)
        --max_subscriptions <n>      Maximum subscriptions per connection (default: 0, unlimited)
        --ping_interval <duration>   Interval between server PINGs (default: 2m)
        --ping_max <n>               Unanswered PINGs before a connection is stale (default: 2)
        --write_deadline <duration>  Time a write may block before the client is a slow consumer (default: 10s)

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local time
    -s, --syslog                     Log to syslog
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (same as -V in natrium)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (same as -DV in natrium)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)
        --log_format <text|json>     Log line format (default: text) [natrium]

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

WebSocket Options: [natrium; nats-server sets these only in the config file's websocket {} block]
        --websocket_port <port>      Listen for WebSocket clients on this port (-1 for a random port)
        --websocket_host <host>      Bind the WebSocket listener to host (default: 0.0.0.0)
        --websocket_tlscert <file>   Certificate for wss://
        --websocket_tlskey <file>    Private key for wss://
        --websocket_no_tls           Allow ws:// without TLS (required when no certificate is given)
        --websocket_same_origin      Require the Origin header to match the request's host
        --websocket_allowed_origins <list>
                                     Comma-separated origins allowed (e.g. https://app.example.com)
        --websocket_compression      Offer permessage-deflate
        --websocket_handshake_timeout <duration>
                                     Time for the TLS handshake and the upgrade (default: 10s)

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port: only 0 (off); natrium has no Go pprof

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help

Signals (or --signal):
    SIGHUP  reload     Reload the configuration file (flags still override it)
    SIGUSR1 reopen     Reopen the log file (after logrotate moved it)
    SIGUSR2 ldm        Lame duck mode: stop accepting, tell clients, close them, exit
    SIGTERM term       Graceful stop (ignored during lame duck mode)
    SIGINT  quit       Graceful stop
    SIGKILL stop       Kill

Environment:
    NOTIFY_SOCKET      systemd Type=notify: READY=1 once listening, STOPPING=1 on shutdown
    WATCHDOG_USEC      systemd WatchdogSec=: WATCHDOG=1 every half of it (WATCHDOG_PID must match if set)

The configuration file uses nats-server's format and keys; docs/configuration.md lists them.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> Options {
        match parse(&args(s)).unwrap() {
            Command::Run(f) => {
                let mut o = Options::default();
                f.apply(&mut o);
                o
            }
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn go_flag_forms() {
        let o = run("-p 4333 --addr 127.0.0.1 -n srv");
        assert_eq!(
            (o.port, o.host.as_str(), o.server_name.as_str()),
            (4333, "127.0.0.1", "srv")
        );
        let o = run("--port=-1 -a=::1");
        assert_eq!((o.port, o.host.as_str()), (0, "::1"));
        let o = run("-DV");
        assert!(o.debug && o.trace);
        let o = run("-D -V=false -T=false");
        assert!(o.debug && !o.trace && !o.logtime);
        let o = run("-m 8222 --max_payload 2048 --reactors 1 --ping_interval 5s");
        assert_eq!(o.http_port, Some(8222));
        assert_eq!(o.max_payload, 2048);
        assert_eq!(o.reactors, Some(1));
        assert_eq!(o.ping_interval, Duration::from_secs(5));
        let o = run("-m -1");
        assert_eq!(o.http_port, Some(0));
    }

    #[test]
    fn websocket_flags() {
        let o = run("--websocket_port -1 --websocket_no_tls --websocket_allowed_origins http://a.example,https://b.example:8443 --websocket_handshake_timeout 2s --websocket_compression");
        let ws = o.websocket.expect("websocket options");
        assert_eq!(ws.port, Some(0));
        assert!(ws.no_tls && ws.compression);
        assert_eq!(
            ws.allowed_origins,
            vec!["http://a.example", "https://b.example:8443"]
        );
        assert_eq!(ws.handshake_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn commands() {
        assert!(matches!(parse(&args("-h")), Ok(Command::Help)));
        assert!(matches!(parse(&args("--version")), Ok(Command::Version)));
        assert!(matches!(parse(&args("version")), Ok(Command::Version)));
        assert!(matches!(
            parse(&args("-t -c x.conf")),
            Ok(Command::CheckConfig(_))
        ));
        assert!(matches!(
            parse(&args("bench --help")),
            Ok(Command::Bench(_))
        ));
        match parse(&args("-sl reload=/tmp/x.pid")) {
            Ok(Command::Signal { command, target }) => {
                assert_eq!(command, "reload");
                assert_eq!(target.as_deref(), Some("/tmp/x.pid"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&args("-x")).unwrap_err().0,
            "flag provided but not defined: -x"
        );
        assert_eq!(
            parse(&args("-p")).unwrap_err().0,
            "flag needs an argument: -p"
        );
        assert!(parse(&args("-p abc"))
            .unwrap_err()
            .0
            .contains("invalid value \"abc\""));
        assert_eq!(
            parse(&args("foo")).unwrap_err().0,
            "unrecognized command: \"foo\""
        );
        assert!(run("-js").jetstream.enabled);
        assert!(run("--jetstream").jetstream.enabled);
        assert!(!run("-js=false").jetstream.enabled);
    }

    fn cluster_of(s: &str) -> crate::config::cluster::ClusterOptions {
        run(s).cluster.expect("a cluster")
    }

    #[test]
    fn cluster_flags_in_every_form() {
        for form in [
            "--cluster nats://127.0.0.1:-1",
            "-cluster nats://127.0.0.1:-1",
            "--cluster=nats://127.0.0.1:-1",
            "-cluster_listen=nats://127.0.0.1:-1",
            "--cluster_listen nats://127.0.0.1:-1",
        ] {
            let c = cluster_of(form);
            assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", Some(0)), "{form}");
            // nats-server's baseline once a listener is set.
            assert_eq!((c.pool_size, c.compression.mode.as_str()), (3, "accept"));
        }
        let c = cluster_of(
            "-cluster nats://ruser:rpass@0.0.0.0:6222 -cluster_name abc              -cluster_advertise c.example:6222 -no_advertise -connect_retries 4              -routes nats://127.0.0.1:6223,nats://127.0.0.1:6224",
        );
        assert_eq!((c.host.as_str(), c.port), ("0.0.0.0", Some(6222)));
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("ruser", "rpass")
        );
        assert_eq!(c.name, "abc");
        assert_eq!(c.advertise, "c.example:6222");
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 4);
        let hosts: Vec<&str> = c.routes.iter().map(|r| r.host_port.as_str()).collect();
        assert_eq!(hosts, ["127.0.0.1:6223", "127.0.0.1:6224"]);
        assert!(!cluster_of("--cluster nats://h:1 --no_advertise=false").no_advertise);
        assert_eq!(
            cluster_of("--connect_retries=-5 --cluster nats://h:1").connect_retries,
            -5
        );
        // A name alone configures a cluster without a listener (nats-server then puts the
        // name in INFO); nothing is filled in.
        let c = cluster_of("--cluster_name solo");
        assert_eq!((c.port, c.pool_size), (None, 0));
        // A flag that sets nothing configures nothing.
        assert!(run("--no_advertise=false").cluster.is_none());
        assert!(run("-p 1").cluster.is_none());
    }

    #[test]
    fn cluster_flags_override_the_file() {
        let file = |text: &str| {
            let mut o = Options::default();
            let m = crate::config::conf::parse_str(text, "t.conf").expect("conf");
            crate::config::file::apply(&m, &mut o).expect("valid");
            o
        };
        let flags = |s: &str| match parse(&args(s)) {
            Ok(Command::Run(f)) => f,
            other => panic!("{other:?}"),
        };
        let base = "cluster {\n name: file\n listen: \"10.0.0.1:6222\"\n                     authorization { user: fu, password: fp }\n routes [ nats://a:1 ]\n}";
        // --cluster replaces the address and the credentials: none in the URL clears them.
        let mut o = file(base);
        flags("--cluster nats://127.0.0.1:7222")
            .apply_checked(&mut o)
            .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", Some(7222)));
        assert!(c.username.is_empty() && c.password.is_empty());
        assert_eq!((c.name.as_str(), c.routes.len()), ("file", 1));
        // --routes replaces the file's routes; an empty value clears them.
        let mut o = file(base);
        flags("--routes nats://b:2,nats://c:3")
            .apply_checked(&mut o)
            .unwrap();
        assert_eq!(o.cluster.unwrap().routes.len(), 2);
        let mut o = file(base);
        flags("--routes=").apply_checked(&mut o).unwrap();
        assert!(o.cluster.unwrap().routes.is_empty());
        // --cluster "" turns the listener off.
        let mut o = file(base);
        flags("--cluster=").apply_checked(&mut o).unwrap();
        assert_eq!(o.cluster.unwrap().port, None);

        // --routes needs a listener: from --cluster, or from the file.
        let err = "solicited routes require cluster capabilities, e.g. --cluster";
        let mut o = Options::default();
        assert_eq!(
            flags("--routes nats://a:1").apply_checked(&mut o),
            Err(err.into())
        );
        let mut o = Options::default();
        flags("--routes nats://a:1 --cluster nats://127.0.0.1:-1")
            .apply_checked(&mut o)
            .unwrap();
        let mut o = file(base);
        flags("--routes nats://b:2").apply_checked(&mut o).unwrap();
        let mut o = file("cluster { port: 6222 }");
        assert_eq!(
            flags("--routes nats://a:1 --cluster=").apply_checked(&mut o),
            Err(err.into())
        );
        // A host alone counts, as in nats-server.
        let mut o = file("cluster { host: 127.0.0.1 }");
        flags("--routes nats://a:1").apply_checked(&mut o).unwrap();
        let mut o = Options::default();
        flags("--routes=").apply_checked(&mut o).unwrap();
    }

    #[test]
    fn cluster_flag_errors_use_nats_texts() {
        let err = |s: &str| parse(&args(s)).unwrap_err().0;
        assert_eq!(
            err("--cluster nats://u@127.0.0.1:-1"),
            "expected cluster password to be set"
        );
        assert_eq!(
            err("-cluster 127.0.0.1:6222"),
            "parse \"127.0.0.1:6222\": first path segment in URL cannot contain colon"
        );
        assert_eq!(
            err("--routes nats://a%zz:1"),
            "error parsing route url [\"nats://a%zz:1\"]"
        );
        assert_eq!(
            err("--connect_retries x"),
            "invalid value \"x\" for flag -connect_retries: parse error"
        );
        assert_eq!(
            err("--no_advertise=maybe"),
            "invalid boolean value \"maybe\" for -no_advertise: parse error"
        );
        assert_eq!(
            err("--cluster_name"),
            "flag needs an argument: -cluster_name"
        );
        // Valid at parse time, refused at start-up as nats-server refuses it.
        let Ok(Command::Run(f)) = parse(&["--cluster_name".to_string(), "a b".to_string()]) else {
            panic!("a run");
        };
        let mut o = Options::default();
        f.apply(&mut o);
        assert_eq!(
            o.validate(),
            Err("cluster name cannot contain spaces".to_string())
        );
    }

    /// A store directory alone enables nothing (nats-server starts normally with it), and
    /// `--profile 0` is nats-server's default; a profiling port is refused.
    #[test]
    fn store_dir_trace_length_and_profile() {
        let o = run("-sd /tmp/js --max_traced_msg_len 10 --profile 0");
        assert_eq!(o.store_dir, Some(PathBuf::from("/tmp/js")));
        assert_eq!(o.max_traced_msg_len, 10);
        assert_eq!(run("--store_dir=/x").store_dir, Some(PathBuf::from("/x")));
        let e = parse(&args("--profile 6060")).unwrap_err().0;
        assert!(e.contains("no profiling endpoint"), "{e}");
        assert!(parse(&args("--profile x")).is_err());
    }

    #[test]
    fn auth_flags() {
        let o = run("--user derek --pass s3cr3t");
        let a = o.authorization.unwrap();
        assert_eq!((a.user.as_str(), a.password.as_str()), ("derek", "s3cr3t"));
        let o = run("--auth=T0K3N");
        assert_eq!(o.authorization.unwrap().token, "T0K3N");
    }
}
