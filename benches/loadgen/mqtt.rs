//! `compare`'s MQTT group: which brokers are compared, how each run gets a fresh broker
//! with its MQTT listener on a free loopback port, the rounds' alternation, and the report
//! rows (natrium against nats-server, with mosquitto's figures beside them).
//!
//! ```text
//!  mqtt_idle      10,000 connections (--idle-conns), each subscribed to one topic:
//!                 RSS per connection ([`crate::scenario::mqtt::idle`])
//!  mqtt_q0_16     one publisher -> one subscriber on bench/t, QoS 0, 16 B
//!  mqtt_q0_1024   the same, 1 KiB
//!  mqtt_q1_16     QoS 1 publishes and subscription, --inflight (256) PUBLISH awaiting
//!                 their PUBACK, the subscriber acking each ([`crate::scenario::mqtt`])
//! ```
//!
//! Brokers, each run alone on a fresh process, one after the other (never two at once):
//! natrium with `server_name` and `mqtt { host, port }`; nats-server with the same plus the
//! `jetstream { store_dir }` its MQTT needs (a directory under `<out>/mqtt/`, removed
//! afterwards); and, when `/usr/sbin/mosquitto` exists, mosquitto with `listener PORT
//! 127.0.0.1` and `allow_anonymous true` (plus `max_connections -1` for the idle run). In
//! each round every broker gets one process for the idle run and another for the three
//! message runs; the order of the brokers is reversed every other round. A broker is ready
//! when an MQTT CONNECT on its port gets CONNACK.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::cli::{Group, Opts};
use crate::compare::{cell, median, row, spread, MetricRow, Results, Run, NATRIUM, NATS};
use crate::procfs;
use crate::progress::Progress;
use crate::report::{num, Table};
use crate::scenario::mqtt::idle::MqttIdleSpec;
use crate::scenario::mqtt::{wire, MqttPubSpec, TOPIC};
use crate::scenario::{Ctx, Outcome, Spec};
use crate::topology::{free_port, ServerProc};

pub const MOSQUITTO: &str = "mosquitto";
/// Debian's mosquitto broker, compared when installed.
const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";
/// How long a broker may take to accept its first MQTT connection.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The idle run's bound on opening the connections (nats-server stores a session per
/// connection, which takes a while for 10,000).
const IDLE_TIME: Duration = Duration::from_secs(120);

/// The targets (issue: MQTT listener): natrium/nats-server ≥ 2× delivered msgs/s, ≤ 0.2×
/// RSS per idle connection.
const RATE_TARGET: f64 = 2.0;
const RSS_TARGET: f64 = 0.2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Natrium,
    Nats,
    Mosquitto,
}

struct BrokerDef {
    label: &'static str,
    kind: Kind,
    bin: PathBuf,
    args: Vec<String>,
}

/// Everything the MQTT group needs, fixed for the whole run.
pub struct Env {
    brokers: Vec<BrokerDef>,
    pubsub: Vec<MqttPubSpec>,
    idle: MqttIdleSpec,
    dir: PathBuf,
    rounds: usize,
    enabled: bool,
    time: Duration,
    inflight: u64,
    notes: Vec<String>,
}

impl Env {
    pub fn new(opts: &Opts, natrium: &Path, nats: &Path, dir: &Path) -> Env {
        let q = opts.quick;
        let enabled = opts.runs(Group::Mqtt);
        let mut notes = Vec::new();
        let mut brokers = vec![
            BrokerDef {
                label: NATRIUM,
                kind: Kind::Natrium,
                bin: natrium.to_path_buf(),
                args: opts.natrium_args.clone(),
            },
            BrokerDef {
                label: NATS,
                kind: Kind::Nats,
                bin: nats.to_path_buf(),
                args: opts.nats_args.clone(),
            },
        ];
        if Path::new(MOSQUITTO_BIN).exists() {
            brokers.push(BrokerDef {
                label: MOSQUITTO,
                kind: Kind::Mosquitto,
                bin: PathBuf::from(MOSQUITTO_BIN),
                args: Vec::new(),
            });
        } else if enabled {
            notes.push(format!("{MOSQUITTO_BIN} not found: no mosquitto figures"));
        }
        let mut conns = opts.idle_conns.unwrap_or(if q { 1_000 } else { 10_000 });
        if enabled {
            // The brokers inherit this limit: each holds a descriptor per connection too.
            let limit = procfs::raise_nofile(conns + 1024);
            if limit < conns + 1024 {
                let fewer = limit.saturating_sub(1024);
                notes.push(format!(
                    "open-file limit is {limit}: {fewer} idle MQTT connections instead of {conns}"
                ));
                conns = fewer;
            }
        }
        let spec = |qos, size, msgs: u64| MqttPubSpec {
            qos,
            msgs: if q { msgs / 40 } else { msgs },
            size,
            inflight: opts.inflight,
            window: opts.window,
            topic: TOPIC.to_string(),
        };
        Env {
            brokers,
            pubsub: vec![
                spec(0, 16, 4_000_000),
                spec(0, 1024, 1_000_000),
                spec(1, 16, 1_000_000),
            ],
            idle: MqttIdleSpec {
                conns,
                threads: 4,
                prefix: format!("{TOPIC}/idle"),
            },
            dir: dir.to_path_buf(),
            rounds: opts.rounds.unwrap_or(if q { 1 } else { 3 }).max(1),
            enabled,
            time: opts.time(),
            inflight: opts.inflight,
            notes,
        }
    }
}

/// A mosquitto process we started; killed (by its pid, through `Child`) when dropped.
struct ChildProc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl ChildProc {
    fn start(bin: &Path, args: &[String]) -> Result<ChildProc, String> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log2 = log.clone();
            // Drains the log for the process's whole life, so it never blocks on it.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut l) = log2.lock() {
                        if l.len() > 2000 {
                            l.drain(..1000);
                        }
                        l.push(line);
                    }
                }
            });
        }
        Ok(ChildProc { child, log })
    }

    fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|l| l[l.len().saturating_sub(10)..].join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Proc {
    Nats(ServerProc),
    Mosquitto(ChildProc),
}

/// A broker with its MQTT listener at `mqtt`; stopped and its directory removed when
/// dropped.
struct Broker {
    proc: Option<Proc>,
    mqtt: SocketAddr,
    dir: PathBuf,
}

impl Broker {
    fn start(def: &BrokerDef, dir: PathBuf, idle: bool) -> Result<Broker, String> {
        // A leftover of an interrupted run of ours; nothing else writes here.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port()?;
        let mut broker = Broker {
            proc: None,
            mqtt: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let conf_path = broker.dir.join("broker.conf");
        let conf = match def.kind {
            Kind::Mosquitto => format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\n{}",
                if idle { "max_connections -1\n" } else { "" }
            ),
            Kind::Natrium | Kind::Nats => {
                let mut c = format!(
                    "server_name: \"bench-mqtt\"\nmqtt {{\n  host: \"127.0.0.1\"\n  port: {port}\n}}\n"
                );
                if def.kind == Kind::Nats {
                    let store = broker.dir.join("store");
                    std::fs::create_dir_all(&store)
                        .map_err(|e| format!("{}: {e}", store.display()))?;
                    let store = std::path::absolute(&store)
                        .map_err(|e| format!("{}: {e}", store.display()))?;
                    c.push_str(&format!(
                        "jetstream {{\n  store_dir: \"{}\"\n}}\n",
                        store.display()
                    ));
                }
                c
            }
        };
        std::fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
        let conf_arg = conf_path.to_string_lossy().into_owned();
        let mut args = vec!["-c".to_string(), conf_arg];
        args.extend(def.args.iter().cloned());
        broker.proc = Some(match def.kind {
            Kind::Mosquitto => Proc::Mosquitto(ChildProc::start(&def.bin, &args)?),
            Kind::Natrium | Kind::Nats => Proc::Nats(ServerProc::start(&def.bin, &args)?),
        });
        if let Err(e) = wire::wait_ready(broker.mqtt, READY_TIMEOUT) {
            return Err(format!("{e}; log tail:\n{}", broker.log_tail()));
        }
        Ok(broker)
    }

    fn pid(&self) -> Option<u32> {
        match self.proc.as_ref()? {
            Proc::Nats(p) => Some(p.pid()),
            Proc::Mosquitto(p) => Some(p.child.id()),
        }
    }

    fn alive(&mut self) -> bool {
        match self.proc.as_mut() {
            Some(Proc::Nats(p)) => p.alive(),
            Some(Proc::Mosquitto(p)) => matches!(p.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn log_tail(&self) -> String {
        match self.proc.as_ref() {
            Some(Proc::Nats(p)) => p.log_tail(),
            Some(Proc::Mosquitto(p)) => p.log_tail(),
            None => String::new(),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Stop the process before its files go.
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `specs` on one fresh broker, one after the other; a broker that exits is reported
/// and replaced for the specs left.
fn run_on(
    def: &BrokerDef,
    dir: &Path,
    idle: bool,
    specs: &[(Spec, Duration)],
) -> Vec<Result<Outcome, String>> {
    let mut out = Vec::new();
    let mut broker: Option<Broker> = None;
    for (spec, time) in specs {
        let b = match broker.take() {
            Some(b) => b,
            None => match Broker::start(def, dir.to_path_buf(), idle) {
                Ok(b) => b,
                Err(e) => {
                    out.push(Err(format!("{}: {e}", spec.name())));
                    continue;
                }
            },
        };
        let mut b = b;
        let mut ctx = Ctx::single(b.mqtt, b.pid(), *time);
        let mut o = spec.run(&mut ctx);
        if !b.alive() {
            o.ok = false;
            o.errors
                .push(format!("the broker exited; log tail:\n{}", b.log_tail()));
            out.push(Ok(o));
            continue;
        }
        if !o.ok {
            let tail = b.log_tail();
            let warnings: Vec<&str> = tail
                .lines()
                .filter(|l| {
                    l.contains("[WRN]")
                        || l.contains("[ERR]")
                        || l.contains("WARN")
                        || l.contains("ERROR")
                        || l.contains("Error")
                })
                .collect();
            if !warnings.is_empty() {
                o.errors
                    .push(format!("broker log: {}", warnings.join(" | ")));
            }
        }
        out.push(Ok(o));
        broker = Some(b);
    }
    out
}

/// One round of the MQTT group.
pub fn run_round(
    env: &Env,
    round: usize,
    results: &mut Results,
    round_runs: &mut BTreeMap<&'static str, Run>,
    problems: &mut Vec<String>,
    progress: &mut Progress,
) {
    if !env.enabled {
        return;
    }
    let mut order: Vec<&BrokerDef> = env.brokers.iter().collect();
    if round % 2 == 1 {
        order.reverse();
    }
    let idle = vec![(Spec::MqttIdle(env.idle.clone()), env.time.max(IDLE_TIME))];
    let load: Vec<(Spec, Duration)> = env
        .pubsub
        .iter()
        .map(|s| (Spec::MqttPubSub(s.clone()), env.time))
        .collect();
    for def in order {
        for (phase, specs, is_idle) in [("idle", &idle, true), ("load", &load, false)] {
            progress.note(&format!(
                "round {}/{} · {} · mqtt {phase}",
                round + 1,
                env.rounds,
                def.label
            ));
            let dir = env
                .dir
                .join(format!("r{}-{}-{phase}", round + 1, def.label));
            for r in run_on(def, &dir, is_idle, specs) {
                let outcome = match r {
                    Ok(o) => o,
                    Err(e) => {
                        problems.push(format!("round {}: {}: {e}", round + 1, def.label));
                        continue;
                    }
                };
                problems.extend(outcome.problem_lines(round, def.label));
                results
                    .entry((def.label, outcome.name.clone()))
                    .or_default()
                    .push(outcome.clone());
                round_runs
                    .entry(def.label)
                    .or_insert_with(|| Run::new(round + 1, def.label))
                    .outcomes
                    .push(outcome);
            }
        }
    }
    let _ = std::fs::remove_dir(&env.dir);
}

/// A target row with mosquitto's figures beside natrium's and nats-server's.
#[derive(Serialize)]
pub struct MqttRow {
    #[serde(flatten)]
    pub row: MetricRow,
    pub mosquitto: Vec<f64>,
    pub mosquitto_median: Option<f64>,
    /// natrium / mosquitto.
    pub natrium_vs_mosquitto: Option<f64>,
}

/// The group's target rows, its every-scenario rows and its notes, when it ran.
pub fn rows(env: &Env, results: &Results) -> (Vec<MqttRow>, Vec<MetricRow>, Vec<String>) {
    let (mut targets, mut scen, mut notes) = (Vec::new(), Vec::new(), env.notes.clone());
    if !env.enabled {
        return (targets, scen, notes);
    }
    let get = crate::compare::values;
    let rate = |o: &Outcome| Some(o.rate);
    let cpu = |o: &Outcome| o.server_cpu_ns_per_msg;
    let per_conn = |o: &Outcome| o.idle.as_ref().and_then(|i| i.bytes_per_conn);
    let mqtt_row = |key: String,
                    label: String,
                    unit: &str,
                    name: &str,
                    f: fn(&Outcome) -> Option<f64>,
                    target: Option<(&'static str, f64)>| {
        let mut r = row(
            &key,
            &label,
            unit,
            get(results, NATRIUM, name, f),
            get(results, NATS, name, f),
            target,
        );
        r.src = Some([(NATRIUM, name.to_string()), (NATS, name.to_string())]);
        let mosquitto = get(results, MOSQUITTO, name, f);
        let mosquitto_median = median(&mosquitto);
        let natrium_vs_mosquitto = match (r.natrium_median, mosquitto_median) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        MqttRow {
            row: r,
            mosquitto,
            mosquitto_median,
            natrium_vs_mosquitto,
        }
    };
    for s in &env.pubsub {
        let name = s.name();
        let label = if s.qos == 1 {
            format!("{}, {} in flight", s.label(), env.inflight)
        } else {
            s.label()
        };
        targets.push(mqtt_row(
            format!("{name}_rate"),
            label,
            "msgs/s",
            &name,
            rate,
            Some((">=", RATE_TARGET)),
        ));
    }
    let n = num(env.idle.conns as f64);
    targets.push(mqtt_row(
        "mqtt_idle_bytes_per_conn".into(),
        format!("MQTT RSS per idle subscribed connection ({n} conns)"),
        "bytes",
        "mqtt_idle",
        per_conn,
        Some(("<=", RSS_TARGET)),
    ));
    for s in &env.pubsub {
        let name = s.name();
        targets.push(mqtt_row(
            format!("{name}_cpu"),
            format!("{}: server CPU per delivered msg", s.label()),
            "ns",
            &name,
            cpu,
            None,
        ));
    }
    targets.push(mqtt_row(
        "mqtt_idle_open_rate".into(),
        format!("opening the {n} MQTT connections (CONNECT + SUBSCRIBE, 4 threads)"),
        "conns/s",
        "mqtt_idle",
        rate,
        None,
    ));
    for s in &env.pubsub {
        let name = s.name();
        let mut r = row(
            &format!("{name}_rate"),
            &format!("{name}: rate"),
            "msgs/s",
            get(results, NATRIUM, &name, rate),
            get(results, NATS, &name, rate),
            Some((">=", 1.0)),
        );
        r.src = Some([(NATRIUM, name.clone()), (NATS, name.clone())]);
        scen.push(r);
    }
    let mut r = row(
        "mqtt_idle_rate",
        "mqtt_idle: connections opened/s",
        "conns/s",
        get(results, NATRIUM, "mqtt_idle", rate),
        get(results, NATS, "mqtt_idle", rate),
        None,
    );
    r.src = Some([(NATRIUM, "mqtt_idle".into()), (NATS, "mqtt_idle".into())]);
    scen.push(r);
    for def in &env.brokers {
        let before = |o: &Outcome| {
            o.idle
                .as_ref()
                .and_then(|i| i.rss_before_kib.map(|v| v as f64))
        };
        let after = |o: &Outcome| {
            o.idle
                .as_ref()
                .and_then(|i| i.rss_after_kib.map(|v| v as f64))
        };
        let b = median(&get(results, def.label, "mqtt_idle", before));
        let a = median(&get(results, def.label, "mqtt_idle", after));
        if let (Some(b), Some(a)) = (b, a) {
            notes.push(format!(
                "mqtt_idle, {}: RSS {b:.0} KiB before, {a:.0} KiB with the {n} connections (medians)",
                def.label
            ));
        }
        let cpu_pct = |o: &Outcome| o.server_cpu_pct;
        let per: Vec<String> = env
            .pubsub
            .iter()
            .map(|s| {
                let v = median(&get(results, def.label, &s.name(), cpu_pct));
                format!("{} {}", s.name(), v.map_or("n/a".into(), num))
            })
            .collect();
        notes.push(format!(
            "{}: broker CPU, % of one core (medians): {}",
            def.label,
            per.join(", ")
        ));
    }
    (targets, scen, notes)
}

/// The report's MQTT section.
pub fn section(rows: &[MqttRow], notes: &[String]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n### MQTT (3.1.1)\n\n{}\n\n",
        "Each broker runs alone on a fresh process with its MQTT listener on a free loopback \
         port: natrium with `mqtt { host, port }`, nats-server with the same plus \
         `server_name` and `jetstream { store_dir }` (its MQTT needs them), mosquitto (when \
         installed) with `listener PORT 127.0.0.1` and `allow_anonymous true` (`max_connections \
         -1` for the idle run). One publisher and one subscriber connection on `bench/t`, clean \
         sessions, keep-alive 0; rates are msgs/s delivered to the subscriber, every message \
         checked (sequence, size, topic, QoS). Idle: every connection has its own client id and \
         one QoS 0 subscription, RSS read 1.5 s after the last SUBACK minus RSS after one \
         earlier connection. ratio = natrium / nats-server; the last column natrium / mosquitto."
    );
    let mut t = Table::new(&[
        "metric",
        "unit",
        "natrium",
        "nats-server",
        "ratio",
        "target",
        "met",
        "mosquitto",
        "natrium / mosquitto",
    ]);
    for m in rows {
        let r = &m.row;
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
                .map(crate::compare::Target::cell)
                .unwrap_or_default(),
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None if r.target.is_some() => "n/a".into(),
                None => String::new(),
            },
            format!("{}{}", cell(m.mosquitto_median), spread(&m.mosquitto)),
            m.natrium_vs_mosquitto
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "n/a".into()),
        ]);
    }
    s.push_str(&t.render());
    if !notes.is_empty() {
        s.push('\n');
        for n in notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}
