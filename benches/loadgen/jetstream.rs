//! `compare`'s JetStream group (issue 18, acceptance 5): which servers are compared, how
//! each run gets a fresh server with a fresh store directory and one file stream, the
//! rounds' alternation, and the report rows.
//!
//! ```text
//!  js_pub_16, js_pub_1024   one publisher, `--js-window` (256) publishes in flight, every
//!                           one acknowledged ([`crate::scenario::jspub`]), on
//!                           natrium · nats-server · natrium sync always · nats-server sync always
//!  js_rss                   natrium · nats-server: fill one stream with 1,000,000 × 16 B
//!                           (acknowledged), close the clients, let RSS settle, read VmRSS
//! ```
//!
//! Every (item, server) pair starts its own process with its own store directory under the
//! output directory (`<out>/jetstream/`), removed when the process has been stopped (by its
//! pid, through [`ServerProc`]), so no run inherits another's files, page cache of its own
//! segments aside, or memory. The servers get a config file with only a `jetstream {}`
//! block (`store_dir`, and `sync_interval: always` for the "sync always" systems) and the
//! usual `-a 127.0.0.1 -p -1`; everything else is their default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::cli::{Group, Opts};
use crate::compare::{
    row, targets_table, values, MetricRow, Results, Run, IDLE_SETTLE, NATRIUM, NATS,
};
use crate::procfs;
use crate::progress::Progress;
use crate::scenario::jspub::{self, Api, JsPubSpec};
use crate::scenario::Outcome;
use crate::topology::ServerProc;

/// natrium with `sync_interval: always`: every ack waits for `fdatasync`.
pub const NATRIUM_ALWAYS: &str = "natrium (sync_interval: always)";
/// nats-server with `sync_interval: always`.
pub const NATS_ALWAYS: &str = "nats-server (sync_interval: always)";

/// The stream every run creates, its subjects, and the subject published on.
const STREAM: &str = "BENCH";
const STREAM_SUBJECTS: &str = "jsbench.>";
const SUBJECT: &str = "jsbench.msgs";
/// Upper bound on filling the RSS item's stream; a fill cut short fails the item, since
/// RSS of a smaller stream is a different figure.
const FILL_TIME: Duration = Duration::from_secs(180);
const FILL_TIME_QUICK: Duration = Duration::from_secs(60);
/// After the fill: wait at least this long, then until VmRSS moves less than 1 % in
/// [`SETTLE_STEP`], for at most [`SETTLE_MAX`] more.
const SETTLE_MIN: Duration = Duration::from_secs(2);
const SETTLE_STEP: Duration = Duration::from_millis(500);
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// How the group is set up, for the report.
pub const SETUP: &str = "Every (scenario, server) pair runs on a fresh process with a fresh \
store directory (removed afterwards) and one file stream (`{\"name\":\"BENCH\",\"subjects\":[\"jsbench.>\"],\
\"storage\":\"file\"}`); the config file has only `jetstream { store_dir }`, plus \
`sync_interval: always` where the row says so. One publisher connection publishes with a reply \
subject per message under one wildcard inbox subscription and keeps at most the ack window \
outstanding; every ack must name the stream and carry the next sequence, and the stream's \
`state.messages` must match afterwards. Rates are acknowledged msgs/s from the first publish \
to the last ack. The RSS row fills a stream the same way, closes the clients, waits until \
VmRSS is stable (≥ 2 s, then < 1 % change in 0.5 s) and reads it. Server order alternates \
between rounds.";

/// A server configuration under test.
struct SystemDef {
    label: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    always: bool,
}

/// A publishing run, or a fill followed by the RSS reading.
struct Item {
    key: &'static str,
    spec: JsPubSpec,
    rss: bool,
    /// Indexes into `Env::systems`.
    systems: Vec<usize>,
}

/// Everything the JetStream group needs, fixed for the whole run.
pub struct Env {
    systems: Vec<SystemDef>,
    items: Vec<Item>,
    dir: PathBuf,
    rounds: usize,
    enabled: bool,
    window: u64,
    rss_msgs: u64,
}

impl Env {
    pub fn new(opts: &Opts, natrium: &Path, nats: &Path, dir: &Path) -> Env {
        let q = opts.quick;
        let def = |label, bin: &Path, args: &[String], always| SystemDef {
            label,
            bin: bin.to_path_buf(),
            args: args.to_vec(),
            always,
        };
        let systems = vec![
            def(NATRIUM, natrium, &opts.natrium_args, false),
            def(NATS, nats, &opts.nats_args, false),
            def(NATRIUM_ALWAYS, natrium, &opts.natrium_args, true),
            def(NATS_ALWAYS, nats, &opts.nats_args, true),
        ];
        let window = opts.js_window.max(1);
        let spec = |name: &str, msgs, size, time| JsPubSpec {
            name: name.to_string(),
            msgs,
            size,
            window,
            subject: SUBJECT.to_string(),
            stream: STREAM.to_string(),
            time,
        };
        let rss_msgs = if q { 100_000 } else { 1_000_000 };
        let items = vec![
            Item {
                key: "js_pub_16",
                spec: spec(
                    "js_pub_16",
                    if q { 20_000 } else { 1_000_000 },
                    16,
                    opts.time(),
                ),
                rss: false,
                systems: vec![0, 1, 2, 3],
            },
            Item {
                key: "js_pub_1024",
                spec: spec(
                    "js_pub_1024",
                    if q { 5_000 } else { 300_000 },
                    1024,
                    opts.time(),
                ),
                rss: false,
                systems: vec![0, 1, 2, 3],
            },
            Item {
                key: "js_fill_16",
                spec: spec(
                    "js_fill_16",
                    rss_msgs,
                    16,
                    if q { FILL_TIME_QUICK } else { FILL_TIME },
                ),
                rss: true,
                systems: vec![0, 1],
            },
        ];
        Env {
            systems,
            items,
            dir: dir.to_path_buf(),
            rounds: opts.rounds.unwrap_or(if q { 1 } else { 3 }).max(1),
            enabled: opts.runs(Group::JetStream),
            window,
            rss_msgs,
        }
    }
}

/// A server with JetStream on its own store directory; stopped (by pid) and its directory
/// removed when dropped.
struct JsServer {
    proc: Option<ServerProc>,
    dir: PathBuf,
}

impl JsServer {
    fn start(def: &SystemDef, dir: PathBuf) -> Result<JsServer, String> {
        // A leftover of an interrupted run of ours; nothing else writes here.
        let _ = std::fs::remove_dir_all(&dir);
        let store = dir.join("store");
        std::fs::create_dir_all(&store).map_err(|e| format!("{}: {e}", store.display()))?;
        // Dropped from here on, so a failed start removes the directory too.
        let mut server = JsServer { proc: None, dir };
        let store = std::path::absolute(&store).map_err(|e| format!("{}: {e}", store.display()))?;
        let conf = format!(
            "jetstream {{\n  store_dir: \"{}\"\n{}}}\n",
            store.display(),
            if def.always {
                "  sync_interval: always\n"
            } else {
                ""
            }
        );
        let path = server.dir.join("server.conf");
        std::fs::write(&path, conf).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut args = vec!["-c".to_string(), path.to_string_lossy().into_owned()];
        args.extend(def.args.iter().cloned());
        server.proc = Some(ServerProc::start(&def.bin, &args)?);
        Ok(server)
    }
}

impl Drop for JsServer {
    fn drop(&mut self) {
        // Stop the process before its files go.
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes of the files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// VmRSS once it has settled after a fill (see [`SETTLE_MIN`]); and how long that took.
fn settled_rss(pid: u32) -> (Option<u64>, Duration) {
    let t0 = Instant::now();
    std::thread::sleep(SETTLE_MIN);
    let mut last = procfs::rss_kib(pid);
    while t0.elapsed() < SETTLE_MIN + SETTLE_MAX {
        std::thread::sleep(SETTLE_STEP);
        let now = procfs::rss_kib(pid);
        match (last, now) {
            (Some(a), Some(b)) if a.abs_diff(b) * 100 <= a => return (now, t0.elapsed()),
            _ => last = now,
        }
    }
    (last, t0.elapsed())
}

/// Runs one item on a fresh server: the outcome and the extra figures (KiB, bytes).
fn run_item(def: &SystemDef, item: &Item, dir: PathBuf) -> (Outcome, BTreeMap<String, f64>) {
    let mut extra = BTreeMap::new();
    let fail = |e: String| Outcome::failed(item.key.to_string(), "jspub", e);
    let mut server = match JsServer::start(def, dir) {
        Ok(s) => s,
        Err(e) => return (fail(e), extra),
    };
    let Some(proc) = server.proc.as_mut() else {
        return (fail("no server process".into()), extra);
    };
    let (addr, pid) = (proc.addr, proc.pid());
    let mut api = match Api::open(addr).and_then(|mut a| {
        a.create_stream(STREAM, STREAM_SUBJECTS)?;
        Ok(a)
    }) {
        Ok(a) => a,
        Err(e) => return (fail(e), extra),
    };
    let mut outcome = if item.rss {
        std::thread::sleep(IDLE_SETTLE);
        if let Some(r) = procfs::rss_kib(pid) {
            extra.insert("js_rss_empty".into(), r as f64);
        }
        let stop = AtomicBool::new(false);
        let peak = AtomicU64::new(0);
        let o = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    if let Some(r) = procfs::rss_kib(pid) {
                        peak.fetch_max(r, Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let o = jspub::run(&item.spec, addr, &[pid], &mut api);
            stop.store(true, Relaxed);
            o
        });
        if let Ok((_, bytes)) = api.stream_state(STREAM) {
            extra.insert("js_stream_bytes".into(), bytes as f64);
        }
        // Only the server and its stream are left.
        drop(api);
        let (rss, took) = settled_rss(pid);
        if o.ok {
            if let Some(r) = rss {
                extra.insert("js_rss_full".into(), r as f64);
            }
            extra.insert("js_rss_peak".into(), peak.load(Relaxed) as f64);
            extra.insert("js_rss_settle_ms".into(), took.as_secs_f64() * 1e3);
            extra.insert(
                "js_disk_bytes".into(),
                disk_bytes(&server.dir.join("store")) as f64,
            );
        }
        o
    } else {
        jspub::run(&item.spec, addr, &[pid], &mut api)
    };
    if !proc_alive(&mut server) {
        let tail = server
            .proc
            .as_ref()
            .map(ServerProc::log_tail)
            .unwrap_or_default();
        outcome.ok = false;
        outcome
            .errors
            .push(format!("the server exited; log tail:\n{tail}"));
    }
    (outcome, extra)
}

fn proc_alive(s: &mut JsServer) -> bool {
    s.proc.as_mut().is_some_and(ServerProc::alive)
}

/// One round of the JetStream group.
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
    for item in &env.items {
        let mut order = item.systems.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for si in order {
            let def = &env.systems[si];
            progress.note(&format!(
                "round {}/{} · {} · {}",
                round + 1,
                env.rounds,
                def.label,
                item.key
            ));
            let dir = env.dir.join(format!("r{}-{}-{si}", round + 1, item.key));
            let (outcome, extra) = run_item(def, item, dir);
            let run = round_runs
                .entry(def.label)
                .or_insert_with(|| Run::new(round + 1, def.label));
            run.extra.extend(extra);
            if !outcome.ok {
                problems.push(format!(
                    "round {}: {}: {}: {}",
                    round + 1,
                    def.label,
                    outcome.name,
                    outcome.errors.join("; ")
                ));
            }
            for n in &outcome.notes {
                problems.push(format!(
                    "round {}: {}: {}: note: {n}",
                    round + 1,
                    def.label,
                    outcome.name
                ));
            }
            results
                .entry((def.label, outcome.name.clone()))
                .or_default()
                .push(outcome.clone());
            run.outcomes.push(outcome);
        }
    }
    let _ = std::fs::remove_dir(&env.dir);
}

fn rate(o: &Outcome) -> Option<f64> {
    Some(o.rate)
}

fn cpu(o: &Outcome) -> Option<f64> {
    o.server_cpu_ns_per_msg
}

/// A row comparing (system, scenario) `a` with `b` by `f`.
#[allow(clippy::too_many_arguments)]
fn cmp(
    results: &Results,
    key: &str,
    label: &str,
    unit: &str,
    a: (&'static str, &str),
    b: (&'static str, &str),
    f: fn(&Outcome) -> Option<f64>,
    target: Option<(&'static str, f64)>,
) -> MetricRow {
    let mut r = row(
        key,
        label,
        unit,
        values(results, a.0, a.1, f),
        values(results, b.0, b.1, f),
        target,
    );
    r.src = Some([(a.0, a.1.to_string()), (b.0, b.1.to_string())]);
    if (a.0, b.0) != (NATRIUM, NATS) {
        r.systems = Some([a.0.to_string(), b.0.to_string()]);
    }
    r
}

/// `extra` figures of every round for one system.
fn extra_values(runs: &[Run], system: &str, key: &str) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.server == system)
        .filter_map(|r| r.extra.get(key).copied())
        .collect()
}

/// Target rows, every-scenario rows and notes, when the group ran.
pub fn rows(
    env: &Env,
    results: &Results,
    runs: &[Run],
) -> (Vec<MetricRow>, Vec<MetricRow>, Vec<String>) {
    let (mut targets, mut scen, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    if !env.enabled {
        return (targets, scen, notes);
    }
    let w = env.window;
    for (name, size) in [("js_pub_16", "16 B"), ("js_pub_1024", "1 KiB")] {
        targets.push(cmp(
            results,
            &format!("{name}_rate"),
            &format!("JetStream publish with acks, {size}, file, default sync, {w} in flight"),
            "msgs/s",
            (NATRIUM, name),
            (NATS, name),
            rate,
            Some((">=", 2.0)),
        ));
    }
    for (name, size) in [("js_pub_16", "16 B"), ("js_pub_1024", "1 KiB")] {
        targets.push(cmp(
            results,
            &format!("{name}_always_rate"),
            &format!("natrium sync_interval: always vs nats-server default, {size}"),
            "msgs/s",
            (NATRIUM_ALWAYS, name),
            (NATS, name),
            rate,
            Some((">=", 1.0)),
        ));
    }
    let m = crate::report::num(env.rss_msgs as f64);
    let kib_row = |key: &str, label: String, target| {
        row(
            key,
            &label,
            "KiB",
            extra_values(runs, NATRIUM, key),
            extra_values(runs, NATS, key),
            target,
        )
    };
    targets.push(kib_row(
        "js_rss_full",
        format!("RSS holding one file stream of {m} × 16 B msgs (settled)"),
        Some(("<=", 0.5)),
    ));
    targets.push(kib_row(
        "js_rss_empty",
        "RSS with the stream created, empty".into(),
        None,
    ));
    targets.push(kib_row(
        "js_rss_peak",
        format!("peak RSS while publishing the {m} msgs"),
        None,
    ));
    targets.push(row(
        "js_disk_bytes",
        &format!("store directory on disk, {m} × 16 B msgs"),
        "bytes",
        extra_values(runs, NATRIUM, "js_disk_bytes"),
        extra_values(runs, NATS, "js_disk_bytes"),
        None,
    ));
    for (name, size) in [("js_pub_16", "16 B"), ("js_pub_1024", "1 KiB")] {
        targets.push(cmp(
            results,
            &format!("{name}_cpu"),
            &format!("server CPU per acknowledged msg, {size}, default sync"),
            "ns",
            (NATRIUM, name),
            (NATS, name),
            cpu,
            None,
        ));
    }
    for (name, size) in [("js_pub_16", "16 B"), ("js_pub_1024", "1 KiB")] {
        targets.push(cmp(
            results,
            &format!("{name}_both_always_rate"),
            &format!("both with sync_interval: always, {size}"),
            "msgs/s",
            (NATRIUM_ALWAYS, name),
            (NATS_ALWAYS, name),
            rate,
            None,
        ));
    }
    targets.push(cmp(
        results,
        "js_fill_16_rate",
        &format!("filling the RSS stream: {m} × 16 B with acks"),
        "msgs/s",
        (NATRIUM, "js_fill_16"),
        (NATS, "js_fill_16"),
        rate,
        None,
    ));
    let every = [
        ("js_pub_16", "js_pub_16", NATRIUM, NATS),
        ("js_pub_1024", "js_pub_1024", NATRIUM, NATS),
        ("js_pub_16_always", "js_pub_16", NATRIUM_ALWAYS, NATS),
        ("js_pub_1024_always", "js_pub_1024", NATRIUM_ALWAYS, NATS),
        (
            "js_pub_16_both_always",
            "js_pub_16",
            NATRIUM_ALWAYS,
            NATS_ALWAYS,
        ),
        ("js_fill_16", "js_fill_16", NATRIUM, NATS),
    ];
    for (key, name, a, b) in every {
        scen.push(cmp(
            results,
            &format!("{key}_rate"),
            &format!("{key}: rate"),
            "msgs/s",
            (a, name),
            (b, name),
            rate,
            Some((">=", 1.0)),
        ));
    }
    for sys in [NATRIUM, NATS, NATRIUM_ALWAYS, NATS_ALWAYS] {
        let per: Vec<String> = ["js_pub_16", "js_pub_1024"]
            .iter()
            .map(|n| {
                let v = values(results, sys, n, cpu);
                format!(
                    "{n} {}",
                    crate::compare::median(&v).map_or("n/a".into(), |x| format!("{x:.0}"))
                )
            })
            .collect();
        notes.push(format!(
            "{sys}: server CPU per acknowledged msg, ns (medians): {}",
            per.join(", ")
        ));
    }
    for sys in [NATRIUM, NATS] {
        let settle = extra_values(runs, sys, "js_rss_settle_ms");
        let bytes = extra_values(runs, sys, "js_stream_bytes");
        if let (Some(s), Some(b)) = (
            crate::compare::median(&settle),
            crate::compare::median(&bytes),
        ) {
            notes.push(format!(
                "js_fill_16, {sys}: RSS read {:.1} s after the last ack (median); the stream's state.bytes {b:.0}",
                s / 1e3
            ));
        }
    }
    (targets, scen, notes)
}

/// The report's JetStream section.
pub fn section(targets: &[MetricRow], notes: &[String]) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let mut s = format!("\n### JetStream (issue 18)\n\n{SETUP}\n\n");
    s.push_str(&targets_table(targets));
    if !notes.is_empty() {
        s.push('\n');
        for n in notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}
