//! `compare`'s cluster and leaf-node groups (issues 16 and 17): which systems of several
//! servers are compared, which scenarios run on them with the publisher on which node, how
//! each round starts them afresh and alternates their order, and the report rows.
//!
//! ```text
//!  cluster  natrium A ◄route► natrium B          vs  nats-server A ◄route► nats-server B
//!           route_pubsub_16, route_pubsub_16384: publisher on A, subscriber on B
//!  mixed    natrium A ◄► nats-server B, nats-server A ◄► natrium B (route_mixed_16),
//!           each beside the nats-server pair's route_pubsub_16
//!  3 nodes  A, B, C: route_queue3_16, publisher on A, one queue member on each node
//!  leaf     nats-server hub ◄leaf─ natrium leaf   vs  nats-server hub ◄leaf─ nats-server leaf
//!           leaf_pubsub_16, leaf_pubsub_16384 (publisher on the hub, subscriber on the leaf),
//!           leaf_reqrep_128 (requester on the hub, responder on the leaf), leaf_idle_rss
//!  leaf-natrium-hub
//!           natrium hub ◄leaf─ natrium leaf       vs  natrium hub ◄leaf─ nats-server leaf
//!           the same scenarios ([`leaf_items`]), so the leaf is again the only difference
//!           but the hub is not nats-server; its natrium hub + natrium leaf figures are also
//!           compared with the nats-server hub + leaf of the group above (nhub_leaf_* rows)
//!  aarch64  nats-server hub ◄leaf─ qemu-aarch64 natrium (static aarch64 build), not default
//! ```
//!
//! The scenarios are the single-server ones ([`crate::scenario`]) given a context whose
//! subscribers connect to another node ([`System::ctx`]); their checks (no loss,
//! duplicate or reordering; exactly once in a queue group) and warm-up (subscribers ready
//! only once a header-carrying message published on the publisher's node reached them)
//! are the same. Server CPU is the sum over every node of the system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::cli::{Group, Opts};
use crate::compare::{median, row, values, MetricRow, Results, Run, IDLE_SETTLE, NATRIUM, NATS};
use crate::procfs;
use crate::progress::Progress;
use crate::report::rate_unit;
use crate::scenario::flow::{FlowSpec, Kind};
use crate::scenario::reqrep::ReqRepSpec;
use crate::scenario::{Outcome, Spec};
use crate::topology::{Node, Shape, System};

/// natrium on node A, nats-server on node B.
pub const MIXED_NS: &str = "natrium A + nats-server B";
/// nats-server on node A, natrium on node B.
pub const MIXED_SN: &str = "nats-server A + natrium B";
/// natrium as both hub and leaf.
pub const NHUB: &str = "natrium hub + natrium leaf";
/// A natrium hub with a nats-server leaf: the baseline for a natrium leaf behind a natrium hub.
pub const NHUB_SLEAF: &str = "natrium hub + nats-server leaf";
/// The aarch64 static build under qemu-user, as a leaf.
pub const QEMU: &str = "natrium aarch64 (qemu-user)";

/// How the systems are set up, for the report.
pub const SETUP: &str = "Each round starts every system afresh: clusters of 2 (or 3) nodes \
joined by routes (`cluster { listen, routes }`, node *i* routing to nodes before it), or a \
hub (`leafnodes { listen }`) with one leaf (`leafnodes { remotes [ { url } ] }`); \
links are up per `/routez` and `/leafz` before a scenario runs, and subscribers count as ready \
only once a warm-up message published on the publisher's node reached them. \"natrium\" is \
the natrium pair or trio, or the natrium leaf; \"nats-server\" the nats-server pair, trio or \
leaf; mixed pairs are compared with the nats-server pair. Which hub each leaf row uses: rows \
without a prefix (and the aarch64 rows) put both leaves behind a **nats-server hub**; rows \
starting \"natrium hub:\" put both leaves (natrium, nats-server) behind a **natrium hub**; \
\"natrium hub → natrium leaf\" and \"req/rep natrium hub ↔ natrium leaf\" compare natrium hub + \
natrium leaf with nats-server hub + nats-server leaf. Server CPU is the sum over every process \
of the system (both nodes; hub and leaf), per delivered message.";

/// One scenario of a group and where its clients connect.
struct Item {
    key: &'static str,
    spec: Spec,
    pub_node: usize,
    sub_nodes: Vec<usize>,
    /// Sample this node's VmRSS during the run; the peak goes to `<key>_peak_rss`.
    peak_rss_node: Option<usize>,
}

/// Systems of the same shape, run side by side, and what runs on them.
struct GroupDef {
    name: &'static str,
    shape: Shape,
    systems: Vec<(&'static str, Vec<Node>)>,
    items: Vec<Item>,
    /// Read node 1's (the leaf's) VmRSS `IDLE_SETTLE` after its link is up, under this key.
    idle_rss_key: Option<&'static str>,
    /// Why the group cannot run (e.g. no aarch64 build).
    unavailable: Option<String>,
}

/// Everything the cluster and leaf groups need, fixed for the whole run.
pub struct Env {
    groups: Vec<GroupDef>,
    dir: PathBuf,
    time: Duration,
    rounds: usize,
    cluster: bool,
    leaf: bool,
    aarch64: bool,
}

fn flow(opts: &Opts, kind: Kind, msgs: u64, size: usize, subs: usize) -> Spec {
    Spec::Flow(FlowSpec {
        kind,
        msgs,
        size,
        pubs: 1,
        subs,
        window: opts.window,
        subject: opts.subject.clone(),
    })
}

fn item(key: &'static str, spec: Spec, pub_node: usize, sub_nodes: &[usize]) -> Item {
    Item {
        key,
        spec,
        pub_node,
        sub_nodes: sub_nodes.to_vec(),
        peak_rss_node: None,
    }
}

/// The leaf scenarios, the same for every hub: the 16 B and 16 KiB hub → leaf streams
/// (the leaf's peak RSS sampled during the 16 B one) and request/reply through the leaf,
/// publisher and requester on the hub (node 0), subscriber and responder on the leaf.
fn leaf_items(opts: &Opts, msgs16: u64, msgs16k: u64) -> Vec<Item> {
    let mut stream = item(
        "leaf_pubsub_16",
        flow(opts, Kind::PubSub, msgs16, 16, 1),
        0,
        &[1],
    );
    stream.peak_rss_node = Some(1);
    vec![
        stream,
        item(
            "leaf_pubsub_16384",
            flow(opts, Kind::PubSub, msgs16k / 2, 16 * 1024, 1),
            0,
            &[1],
        ),
        item(
            "leaf_reqrep_128",
            Spec::ReqRep(ReqRepSpec {
                requests: if opts.quick { 500 } else { 10_000 },
                size: 128,
                subject: format!("{}.req", opts.subject),
            }),
            0,
            &[1],
        ),
    ]
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

impl Env {
    pub fn new(opts: &Opts, natrium: &Path, nats: &Path, dir: &Path) -> Env {
        let q = opts.quick;
        let n = Node {
            bin: natrium.to_path_buf(),
            args: opts.natrium_args.clone(),
            wrapper: None,
        };
        let s = Node {
            bin: nats.to_path_buf(),
            args: opts.nats_args.clone(),
            wrapper: None,
        };
        let msgs16 = if q { 50_000 } else { 3_000_000 };
        let msgs16k = if q { 2_000 } else { 100_000 };
        let mut groups = Vec::new();
        if opts.runs(Group::Cluster) {
            groups.push(GroupDef {
                name: "cluster",
                shape: Shape::Cluster,
                systems: vec![
                    (NATRIUM, vec![n.clone(), n.clone()]),
                    (NATS, vec![s.clone(), s.clone()]),
                ],
                items: vec![
                    item(
                        "route_pubsub_16",
                        flow(opts, Kind::PubSub, msgs16, 16, 1),
                        0,
                        &[1],
                    ),
                    item(
                        "route_pubsub_16384",
                        flow(opts, Kind::PubSub, msgs16k, 16 * 1024, 1),
                        0,
                        &[1],
                    ),
                ],
                idle_rss_key: None,
                unavailable: None,
            });
            groups.push(GroupDef {
                name: "mixed",
                shape: Shape::Cluster,
                systems: vec![
                    (MIXED_NS, vec![n.clone(), s.clone()]),
                    (MIXED_SN, vec![s.clone(), n.clone()]),
                ],
                items: vec![item(
                    "route_mixed_16",
                    flow(opts, Kind::PubSub, msgs16, 16, 1),
                    0,
                    &[1],
                )],
                idle_rss_key: None,
                unavailable: None,
            });
            groups.push(GroupDef {
                name: "cluster3",
                shape: Shape::Cluster,
                systems: vec![
                    (NATRIUM, vec![n.clone(), n.clone(), n.clone()]),
                    (NATS, vec![s.clone(), s.clone(), s.clone()]),
                ],
                items: vec![item(
                    "route_queue3_16",
                    flow(opts, Kind::Queue, msgs16, 16, 3),
                    0,
                    &[0, 1, 2],
                )],
                idle_rss_key: None,
                unavailable: None,
            });
        }
        if opts.runs(Group::Leaf) {
            groups.push(GroupDef {
                name: "leaf",
                shape: Shape::HubLeaf,
                systems: vec![
                    (NATRIUM, vec![s.clone(), n.clone()]),
                    (NATS, vec![s.clone(), s.clone()]),
                ],
                items: leaf_items(opts, msgs16, msgs16k),
                idle_rss_key: Some("leaf_idle_rss"),
                unavailable: None,
            });
            // The same leaves behind a natrium hub, so the hub is not the limit.
            groups.push(GroupDef {
                name: "leaf-natrium-hub",
                shape: Shape::HubLeaf,
                systems: vec![
                    (NHUB, vec![n.clone(), n.clone()]),
                    (NHUB_SLEAF, vec![n.clone(), s.clone()]),
                ],
                items: leaf_items(opts, msgs16, msgs16k),
                idle_rss_key: Some("leaf_idle_rss"),
                unavailable: None,
            });
        }
        if opts.runs(Group::Aarch64) {
            let bin = opts.aarch64.clone().unwrap_or_else(|| {
                PathBuf::from("target/aarch64-unknown-linux-musl/release/natrium")
            });
            let qemu = find_on_path("qemu-aarch64");
            let unavailable = if !bin.exists() {
                Some(format!(
                    "aarch64: {} not found (make cross-test-bin, or --aarch64 PATH)",
                    bin.display()
                ))
            } else if qemu.is_none() {
                Some("aarch64: qemu-aarch64 not on PATH".into())
            } else {
                None
            };
            let a = Node {
                bin,
                args: opts.natrium_args.clone(),
                wrapper: qemu,
            };
            let mut stream = item(
                "a64_leaf_pubsub_16",
                flow(
                    opts,
                    Kind::PubSub,
                    if q { 20_000 } else { 1_000_000 },
                    16,
                    1,
                ),
                0,
                &[1],
            );
            stream.peak_rss_node = Some(1);
            groups.push(GroupDef {
                name: "aarch64",
                shape: Shape::HubLeaf,
                systems: vec![(QEMU, vec![s.clone(), a]), (NATS, vec![s.clone(), s])],
                items: vec![stream],
                idle_rss_key: Some("a64_idle_rss"),
                unavailable,
            });
        }
        Env {
            groups,
            dir: dir.to_path_buf(),
            time: opts.time(),
            rounds: opts.rounds.unwrap_or(if opts.quick { 1 } else { 3 }).max(1),
            cluster: opts.runs(Group::Cluster),
            leaf: opts.runs(Group::Leaf),
            aarch64: opts.runs(Group::Aarch64),
        }
    }
}

/// Starts a system, once more on failure (a free port may have been taken meanwhile).
fn start(g: &GroupDef, nodes: &[Node], dir: &Path, tag: &str) -> Result<System, String> {
    System::start(g.shape, nodes, dir, tag).or_else(|first| {
        System::start(g.shape, nodes, dir, &format!("{tag}-retry"))
            .map_err(|e| format!("{first}\nretry: {e}"))
    })
}

/// What one item measured besides its outcome.
struct ItemExtra {
    /// Peak VmRSS (KiB) of `Item::peak_rss_node`.
    peak_rss: Option<u64>,
    /// Each node's CPU time over the whole scenario (connections and warm-up included).
    node_cpu: Vec<Option<Duration>>,
}

/// Runs `item` on `sys`, sampling a node's RSS meanwhile when asked; the outcome (named
/// after the item), the peak RSS and each node's CPU time.
fn run_item(sys: &System, item: &Item, time: Duration) -> (Outcome, ItemExtra) {
    let mut ctx = sys.ctx(item.pub_node, &item.sub_nodes, time);
    let pids: Vec<Option<u32>> = (0..sys.procs.len()).map(|i| sys.pid(i)).collect();
    let cpu0: Vec<Option<Duration>> = pids
        .iter()
        .map(|p| p.and_then(procfs::process_cpu))
        .collect();
    let rss_pid = item.peak_rss_node.and_then(|n| sys.pid(n));
    let stop = AtomicBool::new(false);
    let peak = AtomicU64::new(0);
    let mut outcome = std::thread::scope(|s| {
        if let Some(pid) = rss_pid {
            let (stop, peak) = (&stop, &peak);
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    if let Some(r) = procfs::rss_kib(pid) {
                        peak.fetch_max(r, Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        let o = item.spec.run(&mut ctx);
        stop.store(true, Relaxed);
        o
    });
    outcome.name = item.key.to_string();
    let node_cpu = pids
        .iter()
        .zip(cpu0)
        .map(|(p, c0)| Some(p.and_then(procfs::process_cpu)?.saturating_sub(c0?)))
        .collect();
    let peak = peak.load(Relaxed);
    let extra = ItemExtra {
        peak_rss: (rss_pid.is_some() && peak > 0).then_some(peak),
        node_cpu,
    };
    (outcome, extra)
}

/// One round of every cluster and leaf group.
pub fn run_round(
    env: &Env,
    round: usize,
    results: &mut Results,
    round_runs: &mut BTreeMap<&'static str, Run>,
    problems: &mut Vec<String>,
    progress: &mut Progress,
) {
    let rounds = env.rounds;
    for g in &env.groups {
        if let Some(why) = &g.unavailable {
            if round == 0 {
                problems.push(format!("{} group skipped: {why}", g.name));
            }
            continue;
        }
        let mut order: Vec<usize> = (0..g.systems.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut systems: Vec<Option<(System, Instant)>> = g.systems.iter().map(|_| None).collect();
        for &si in &order {
            let (label, nodes) = &g.systems[si];
            progress.note(&format!(
                "round {}/{rounds} · {} · starting {label}",
                round + 1,
                g.name
            ));
            let tag = format!("r{}-{}-{si}", round + 1, g.name);
            match start(g, nodes, &env.dir, &tag) {
                Ok(sys) => systems[si] = Some((sys, Instant::now())),
                Err(e) => problems.push(format!(
                    "round {}: {} group: {label} did not start: {e}",
                    round + 1,
                    g.name
                )),
            }
        }
        if let Some(key) = g.idle_rss_key {
            for &si in &order {
                let label = g.systems[si].0;
                let Some((sys, linked)) = &systems[si] else {
                    continue;
                };
                let wait = (*linked + IDLE_SETTLE).saturating_duration_since(Instant::now());
                std::thread::sleep(wait);
                if let Some(rss) = sys.pid(1).and_then(procfs::rss_kib) {
                    round_runs
                        .entry(label)
                        .or_insert_with(|| Run::new(round + 1, label))
                        .extra
                        .insert(key.to_string(), rss as f64);
                }
            }
        }
        for item in &g.items {
            for &si in &order {
                let (label, nodes) = &g.systems[si];
                let label: &'static str = label;
                let Some((sys, _)) = systems[si].as_mut() else {
                    continue;
                };
                progress.note(&format!(
                    "round {}/{rounds} · {label} · {}",
                    round + 1,
                    item.key
                ));
                let (outcome, extra) = run_item(sys, item, env.time);
                let run = round_runs
                    .entry(label)
                    .or_insert_with(|| Run::new(round + 1, label));
                if outcome.ok {
                    if let Some(p) = extra.peak_rss {
                        run.extra.insert(format!("{}_peak_rss", item.key), p as f64);
                    }
                    let per = outcome.received.max(1) as f64;
                    for (i, c) in extra.node_cpu.iter().enumerate() {
                        if let Some(c) = c {
                            run.extra.insert(
                                format!("{}_cpu_ns_node{i}", item.key),
                                c.as_secs_f64() * 1e9 / per,
                            );
                        }
                    }
                }
                if !sys.all_alive() {
                    problems.push(format!(
                        "round {}: {label}: a server exited during {}; logs:\n{}",
                        round + 1,
                        item.key,
                        sys.logs()
                    ));
                    let tag = format!("r{}-{}-{si}-restart", round + 1, g.name);
                    systems[si] = start(g, nodes, &env.dir, &tag)
                        .map(|s| (s, Instant::now()))
                        .ok();
                }
                problems.extend(outcome.problem_lines(round, label));
                results
                    .entry((label, outcome.name.clone()))
                    .or_default()
                    .push(outcome.clone());
                run.outcomes.push(outcome);
            }
        }
        // Dropping the systems stops their processes.
        drop(systems);
    }
}

/// `extra` figures of every round for one system.
fn extra_values(runs: &[Run], system: &str, key: &str) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.server == system)
        .filter_map(|r| r.extra.get(key).copied())
        .collect()
}

/// A row comparing (system, scenario) `a` with `b`.
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

fn rate(o: &Outcome) -> Option<f64> {
    Some(o.rate)
}

fn p50(o: &Outcome) -> Option<f64> {
    o.latency.as_ref().map(|l| l.p50_us)
}

fn p99(o: &Outcome) -> Option<f64> {
    o.latency.as_ref().map(|l| l.p99_us)
}

fn p999(o: &Outcome) -> Option<f64> {
    o.latency.as_ref().map(|l| l.p999_us)
}

fn cpu(o: &Outcome) -> Option<f64> {
    o.server_cpu_ns_per_msg
}

/// An every-scenario row: the headline rate of (system, scenario) `a` against `b`, in the
/// unit of `a`'s outcomes.
fn scenario_row(
    results: &Results,
    key: &str,
    label: &str,
    a: (&'static str, &str),
    b: (&'static str, &str),
) -> MetricRow {
    let unit = results
        .get(&(a.0, a.1.to_string()))
        .and_then(|v| v.first())
        .map(rate_unit)
        .unwrap_or("");
    cmp(
        results,
        &format!("{key}_rate"),
        &format!("{label}: rate"),
        unit,
        a,
        b,
        rate,
        Some((">=", 1.0)),
    )
}

/// Two leaf systems behind the same kind of hub, compared by [`leaf_rows`].
struct LeafPair {
    /// Prefix of the row keys (none for the nats-server hub's, the first ones).
    key: &'static str,
    /// Prefix and suffix of the target rows' labels; the prefix also starts the
    /// every-scenario rows' labels.
    label: (&'static str, &'static str),
    /// The system under test (natrium leaf) and the baseline (nats-server leaf).
    a: &'static str,
    b: &'static str,
}

/// Behind a nats-server hub (the `leaf` group).
const SHUB_PAIR: LeafPair = LeafPair {
    key: "",
    label: ("", ""),
    a: NATRIUM,
    b: NATS,
};

/// Behind a natrium hub (the `leaf-natrium-hub` group).
const NHUB_PAIR: LeafPair = LeafPair {
    key: "natrium_hub_",
    label: ("natrium hub: ", " (natrium leaf vs nats-server leaf)"),
    a: NHUB,
    b: NHUB_SLEAF,
};

/// The target and every-scenario rows of [`leaf_items`] and the idle RSS on one pair.
fn leaf_rows(
    p: &LeafPair,
    results: &Results,
    runs: &[Run],
    targets: &mut Vec<MetricRow>,
    scen: &mut Vec<MetricRow>,
) {
    let key = |k: &str| format!("{}{k}", p.key);
    let label = |l: &str| format!("{}{l}{}", p.label.0, p.label.1);
    let on = |k: &'static str| ((p.a, k), (p.b, k));
    let (a, b) = on("leaf_pubsub_16");
    targets.push(cmp(
        results,
        &key("leaf_pubsub_16_rate"),
        &label("hub → leaf pub→sub 16 B"),
        "msgs/s",
        a,
        b,
        rate,
        Some((">=", 2.0)),
    ));
    let (a16k, b16k) = on("leaf_pubsub_16384");
    targets.push(cmp(
        results,
        &key("leaf_pubsub_16384_rate"),
        &label("hub → leaf pub→sub 16 KiB"),
        "msgs/s",
        a16k,
        b16k,
        rate,
        None,
    ));
    let (ar, br) = on("leaf_reqrep_128");
    targets.push(cmp(
        results,
        &key("leaf_reqrep_128_p50"),
        &label("req/rep through the leaf 128 B, p50"),
        "µs",
        ar,
        br,
        p50,
        Some(("<=", 0.6)),
    ));
    targets.push(cmp(
        results,
        &key("leaf_reqrep_128_p99"),
        &label("req/rep through the leaf 128 B, p99"),
        "µs",
        ar,
        br,
        p99,
        None,
    ));
    targets.push(cmp(
        results,
        &key("leaf_pubsub_16_cpu"),
        &label("server CPU (hub + leaf) per msg, hub → leaf 16 B"),
        "ns",
        a,
        b,
        cpu,
        None,
    ));
    for (k, what, target) in [
        (
            "leaf_idle_rss",
            "idle leaf RSS (1 s after the leaf link is up)",
            Some(("<=", 0.3)),
        ),
        (
            "leaf_pubsub_16_peak_rss",
            "leaf peak RSS during hub → leaf 16 B",
            None,
        ),
    ] {
        let mut r = row(
            &key(k),
            &label(what),
            "KiB",
            extra_values(runs, p.a, k),
            extra_values(runs, p.b, k),
            target,
        );
        if (p.a, p.b) != (NATRIUM, NATS) {
            r.systems = Some([p.a.to_string(), p.b.to_string()]);
        }
        targets.push(r);
    }
    for (x, y) in [(a, b), (a16k, b16k), (ar, br)] {
        scen.push(scenario_row(
            results,
            &key(x.1),
            &format!("{}{}", p.label.0, x.1),
            x,
            y,
        ));
    }
    scen.push(cmp(
        results,
        &key("leaf_reqrep_128_p999"),
        &format!("{}leaf_reqrep_128: p99.9 latency", p.label.0),
        "µs",
        ar,
        br,
        p999,
        Some(("<=", 1.0)),
    ));
}

/// Target rows, every-scenario rows and notes for the groups that ran.
pub fn rows(
    env: &Env,
    results: &Results,
    runs: &[Run],
) -> (Vec<MetricRow>, Vec<MetricRow>, Vec<String>) {
    let nn = |k: &'static str| ((NATRIUM, k), (NATS, k));
    let mut targets = Vec::new();
    let mut scen = Vec::new();
    let mut notes = Vec::new();
    let scenario = |key: &'static str, a: (&'static str, &'static str), b, scen: &mut Vec<_>| {
        scen.push(scenario_row(results, key, key, a, b));
    };
    if env.cluster {
        let (a, b) = nn("route_pubsub_16");
        targets.push(cmp(
            results,
            "route_pubsub_16_rate",
            "route A→B pub→sub 16 B",
            "msgs/s",
            a,
            b,
            rate,
            Some((">=", 2.0)),
        ));
        let (a16k, b16k) = nn("route_pubsub_16384");
        targets.push(cmp(
            results,
            "route_pubsub_16384_rate",
            "route A→B pub→sub 16 KiB",
            "msgs/s",
            a16k,
            b16k,
            rate,
            Some((">=", 1.5)),
        ));
        targets.push(cmp(
            results,
            "route_pubsub_16_cpu",
            "server CPU (A + B) per routed msg, 16 B",
            "ns",
            a,
            b,
            cpu,
            Some(("<=", 0.5)),
        ));
        targets.push(cmp(
            results,
            "route_pubsub_16384_cpu",
            "server CPU (A + B) per routed msg, 16 KiB",
            "ns",
            a16k,
            b16k,
            cpu,
            None,
        ));
        let (aq, bq) = nn("route_queue3_16");
        targets.push(cmp(
            results,
            "route_queue3_16_rate",
            "queue group over 3 nodes (pub on A, 1 member per node), 16 B",
            "msgs/s",
            aq,
            bq,
            rate,
            None,
        ));
        targets.push(cmp(
            results,
            "route_mixed_16_rate",
            "mixed pair natrium A → nats-server B, 16 B (vs nats-server pair)",
            "msgs/s",
            (MIXED_NS, "route_mixed_16"),
            b,
            rate,
            Some((">=", 1.0)),
        ));
        targets.push(cmp(
            results,
            "route_mixed_rev_16_rate",
            "mixed pair nats-server A → natrium B, 16 B (vs nats-server pair)",
            "msgs/s",
            (MIXED_SN, "route_mixed_16"),
            b,
            rate,
            Some((">=", 1.0)),
        ));
        scenario("route_pubsub_16", a, b, &mut scen);
        scenario("route_pubsub_16384", a16k, b16k, &mut scen);
        scenario("route_mixed_16", (MIXED_NS, "route_mixed_16"), b, &mut scen);
        scenario(
            "route_mixed_rev_16",
            (MIXED_SN, "route_mixed_16"),
            b,
            &mut scen,
        );
        scenario("route_queue3_16", aq, bq, &mut scen);
        for sys in [NATRIUM, NATS] {
            let spread: Vec<String> = results
                .get(&(sys, "route_queue3_16".to_string()))
                .map(|v| {
                    v.iter()
                        .filter(|o| o.ok)
                        .map(|o| format!("{:?}", o.per_subscriber))
                        .collect()
                })
                .unwrap_or_default();
            if !spread.is_empty() {
                notes.push(format!(
                    "route_queue3_16, {sys}: deliveries per member [on A, on B, on C], per round: {}",
                    spread.join(", ")
                ));
            }
        }
    }
    if env.leaf {
        leaf_rows(&SHUB_PAIR, results, runs, &mut targets, &mut scen);
        // natrium hub + natrium leaf against nats-server hub + nats-server leaf.
        let (sa, sb) = ((NHUB, "leaf_pubsub_16"), (NATS, "leaf_pubsub_16"));
        let (ra, rb) = ((NHUB, "leaf_reqrep_128"), (NATS, "leaf_reqrep_128"));
        targets.push(cmp(
            results,
            "nhub_leaf_pubsub_16_rate",
            "natrium hub → natrium leaf 16 B (vs nats-server hub → leaf)",
            "msgs/s",
            sa,
            sb,
            rate,
            None,
        ));
        targets.push(cmp(
            results,
            "nhub_leaf_reqrep_128_p50",
            "req/rep natrium hub ↔ natrium leaf, p50 (vs nats-server hub ↔ leaf)",
            "µs",
            ra,
            rb,
            p50,
            None,
        ));
        targets.push(cmp(
            results,
            "nhub_leaf_reqrep_128_p99",
            "req/rep natrium hub ↔ natrium leaf, p99 (vs nats-server hub ↔ leaf)",
            "µs",
            ra,
            rb,
            p99,
            None,
        ));
        scen.push(scenario_row(
            results,
            "nhub_leaf_pubsub_16",
            "nhub_leaf_pubsub_16",
            sa,
            sb,
        ));
        scen.push(scenario_row(
            results,
            "nhub_leaf_reqrep_128",
            "nhub_leaf_reqrep_128",
            ra,
            rb,
        ));
        leaf_rows(&NHUB_PAIR, results, runs, &mut targets, &mut scen);
    }
    if env.aarch64 {
        let a = (QEMU, "a64_leaf_pubsub_16");
        let b = (NATS, "a64_leaf_pubsub_16");
        let mut r = row(
            "a64_idle_rss",
            "aarch64 natrium leaf under qemu-user: idle RSS (qemu process) vs nats-server leaf",
            "KiB",
            extra_values(runs, QEMU, "a64_idle_rss"),
            extra_values(runs, NATS, "a64_idle_rss"),
            None,
        );
        r.systems = Some([QEMU.to_string(), NATS.to_string()]);
        targets.push(r);
        let mut r = row(
            "a64_leaf_pubsub_16_peak_rss",
            "aarch64 natrium leaf under qemu-user: peak RSS during hub → leaf 16 B",
            "KiB",
            extra_values(runs, QEMU, "a64_leaf_pubsub_16_peak_rss"),
            extra_values(runs, NATS, "a64_leaf_pubsub_16_peak_rss"),
            None,
        );
        r.systems = Some([QEMU.to_string(), NATS.to_string()]);
        targets.push(r);
        scenario("a64_leaf_pubsub_16", a, b, &mut scen);
        if let Some(m) = median(&values(results, QEMU, "a64_leaf_pubsub_16", rate)) {
            notes.push(format!(
                "a64_leaf_pubsub_16: the aarch64 leaf runs emulated (qemu-user) on this x86 machine; its rate ({m:.0} msgs/s) measures the emulator, only its RSS is meaningful"
            ));
        }
    }
    // Where the server CPU went, node by node.
    for g in &env.groups {
        for it in &g.items {
            for (label, nodes) in &g.systems {
                let per_node: Vec<String> = (0..nodes.len())
                    .map(|i| {
                        let v = extra_values(runs, label, &format!("{}_cpu_ns_node{i}", it.key));
                        let name = match (g.shape, i) {
                            (Shape::HubLeaf, 0) => "hub".to_string(),
                            (Shape::HubLeaf, _) => "leaf".to_string(),
                            _ => ((b'A' + i as u8) as char).to_string(),
                        };
                        format!(
                            "{name} {}",
                            median(&v).map_or("n/a".into(), |m| format!("{m:.0}"))
                        )
                    })
                    .collect();
                if per_node.iter().all(|p| p.ends_with("n/a")) {
                    continue;
                }
                notes.push(format!(
                    "{}, {label}: server CPU per delivery by node, ns (whole scenario incl. connecting and warm-up, medians): {}",
                    it.key,
                    per_node.join(", ")
                ));
            }
        }
    }
    (targets, scen, notes)
}
