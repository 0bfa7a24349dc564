//! `compare`'s JetStream group (issue 18, acceptance 5; issue 19, acceptance 4): which
//! servers are compared, how each run gets a fresh server with a fresh store directory and
//! one file stream, the rounds' alternation, and the report rows.
//!
//! ```text
//!  js_pub_16, js_pub_1024   one publisher, `--js-window` (256) publishes in flight, every
//!                           one acknowledged ([`crate::scenario::jspub`]), on
//!                           natrium · nats-server · natrium sync always · nats-server sync always
//!  js_rss                   natrium · nats-server: fill one stream with 1,000,000 × 16 B
//!                           (acknowledged), close the clients, let RSS settle, read VmRSS
//!  js_fetch_16, _1024       natrium · nats-server: fill N msgs (with acks, not measured), a
//!                           durable pull consumer with explicit acks, then pull requests of
//!                           256 with 2 in flight, every message acked, until all N arrived
//!                           ([`crate::scenario::jsconsume`]); the consumer's ack floor must
//!                           reach N
//!  js_push_16, _1024        the same fill, then a push consumer to an inbox (ack none;
//!  js_push_ack_16           explicit acks, acking each), measured from its create request
//!  kv_put_16, kv_put_1024   a KV-shaped stream (KV_b); publishes to $KV.b.k<i % 1000> as
//!                           js_pub does, `--js-window` in flight
//!  kv_get                   one put per key of KV_b, then sequential direct gets of
//!                           $KV.b.k<i % 1000>: latency ([`crate::scenario::kvget`])
//!  idle_consumers           1,000 durable pull consumers on an empty stream: RSS before
//!                           and 2 s after creating them, then server CPU over 5 s idle
//! ```
//!
//! Every (item, server) pair starts its own process with its own store directory under the
//! output directory (`<out>/jetstream/`), removed when the process has been stopped (by its
//! pid, through [`ServerProc`]), so no run inherits another's files, page cache of its own
//! segments aside, or memory. The servers get a config file with only a `jetstream {}`
//! block (`store_dir`, and `sync_interval: always` for the "sync always" systems) and the
//! usual `-a 127.0.0.1 -p -1`; everything else is their default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::cli::{Group, Opts};
use crate::compare::{
    row, targets_table, values, MetricRow, Results, Run, IDLE_SETTLE, NATRIUM, NATS,
};
use crate::procfs;
use crate::progress::Progress;
use crate::scenario::jsconsume::{self, ConsumeSpec, Mode};
use crate::scenario::jspub::{self, Api, JsPubSpec};
use crate::scenario::kvget::{self, KvGetSpec};
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
/// The KV items' bucket: its stream and the subject prefix of its keys.
const KV_STREAM: &str = "KV_b";
const KV_PREFIX: &str = "$KV.b";
/// Keys the KV items put and get.
const KV_KEYS: u64 = 1000;
/// Value size of the `kv_get` bucket.
const KV_GET_SIZE: usize = 16;
/// The fetch items' pull requests: messages per request, requests outstanding.
const FETCH_BATCH: u64 = 256;
const FETCH_IN_FLIGHT: u64 = 2;
/// `idle_consumers`: consumers created (nats-server 2.15.1's default cap per stream is
/// 1,000), the wait after creating them, and the idle phase whose CPU is measured.
const IDLE_CONSUMERS: u64 = 1000;
const IDLE_WAIT: Duration = Duration::from_secs(2);
const IDLE_CPU: Duration = Duration::from_secs(5);
const IDLE_CPU_QUICK: Duration = Duration::from_secs(2);
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

/// How the consumer and KV items (issue 19) are set up, for the report.
pub const SETUP_19: &str = "Consumers and KV (issue 19), natrium and nats-server with their \
default sync: the fetch and push rows first fill the stream with N messages as above (not \
measured), then read it through one durable consumer. Fetch: `ack_policy: explicit`, pull \
requests `{\"batch\":256,\"expires\":5000000000}` on `$JS.API.CONSUMER.MSG.NEXT`, 2 in flight, \
every message acknowledged (an empty publish to its `$JS.ACK` reply, batched per read). Push: \
the consumer is created (`deliver_subject` = an inbox the reading connection subscribed, \
`ack_policy: none`, or `explicit` with every message acked) and timed from its create request. \
Rates are first deliveries/s until all N arrived; deliveries must come in stream order without \
redeliveries, and consumer info must then show all N delivered (and `num_ack_pending` 0, \
`ack_floor.stream_seq` N). KV: the stream `{\"name\":\"KV_b\",\"subjects\":[\"$KV.b.>\"],\
\"max_msgs_per_subject\":1,\"allow_rollup_hdrs\":true,\"deny_delete\":true,\"allow_direct\":true,\
\"discard\":\"new\",\"storage\":\"file\"}`; puts go to `$KV.b.k<i mod 1000>` as the publish rows \
do (ack window, acks checked; afterwards the stream must hold one message per key); gets are \
`$JS.API.DIRECT.GET.KV_b.$KV.b.<key>` with an empty body, one at a time, over 1,000 keys of \
16 B, each reply checked (no status, `Nats-Subject`, value size). Idle consumers: 1,000 durable \
pull consumers (explicit acks) are created one by one on the empty stream; RSS is read before \
(1 s after the stream was created) and 2 s after the last one, then the server's CPU over 5 s \
with no client activity.";

/// A server configuration under test.
struct SystemDef {
    label: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    always: bool,
}

/// What an item measures.
enum Kind {
    /// Publishing (`js_pub_*` on the stream, `kv_put_*` on the bucket).
    Pub(JsPubSpec),
    /// A fill followed by the RSS reading.
    Rss(JsPubSpec),
    /// A fill, a durable pull consumer, then fetching.
    Fetch { fill: JsPubSpec, spec: ConsumeSpec },
    /// A fill, then a push consumer timed from its create request.
    Push { fill: JsPubSpec, spec: ConsumeSpec },
    /// One put per key, then sequential direct gets.
    KvGet { fill: JsPubSpec, spec: KvGetSpec },
    /// Durable pull consumers on an empty stream; RSS, then CPU while idle.
    IdleConsumers { consumers: u64, idle: Duration },
}

impl Kind {
    fn scenario(&self) -> &'static str {
        match self {
            Kind::Pub(_) | Kind::Rss(_) => "jspub",
            Kind::Fetch { .. } | Kind::Push { .. } => "jsconsume",
            Kind::KvGet { .. } => "kvget",
            Kind::IdleConsumers { .. } => "jsidle",
        }
    }
}

/// One measured run per server.
struct Item {
    key: &'static str,
    kind: Kind,
    /// On the KV bucket's stream rather than the plain one.
    kv: bool,
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
    /// `idle_consumers`' consumers.
    consumers: u64,
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
            keys: 0,
            time,
        };
        let kv_spec = |name: &str, msgs, size, time| JsPubSpec {
            subject: KV_PREFIX.to_string(),
            stream: KV_STREAM.to_string(),
            keys: KV_KEYS,
            ..spec(name, msgs, size, time)
        };
        let fill_time = if q { FILL_TIME_QUICK } else { FILL_TIME };
        // A fill that leaves exactly `msgs` in the stream: its warm-up publish is one.
        let fill = |name: &str, msgs: u64, size| spec(name, msgs - 1, size, fill_time);
        let consume = |name: &str, size, mode| ConsumeSpec {
            name: name.to_string(),
            size,
            stream: STREAM.to_string(),
            subject: SUBJECT.to_string(),
            consumer: "C".to_string(),
            mode,
            time: opts.time(),
        };
        let fetch = Mode::Fetch {
            batch: FETCH_BATCH,
            in_flight: FETCH_IN_FLIGHT,
        };
        let rss_msgs = if q { 100_000 } else { 1_000_000 };
        let (consume_16, consume_1024) = if q {
            (50_000, 20_000)
        } else {
            (500_000, 200_000)
        };
        let (put_16, put_1024) = if q {
            (20_000, 5_000)
        } else {
            (1_000_000, 300_000)
        };
        let both = vec![0, 1];
        let items = vec![
            Item {
                key: "js_pub_16",
                kind: Kind::Pub(spec(
                    "js_pub_16",
                    if q { 20_000 } else { 1_000_000 },
                    16,
                    opts.time(),
                )),
                kv: false,
                systems: vec![0, 1, 2, 3],
            },
            Item {
                key: "js_pub_1024",
                kind: Kind::Pub(spec(
                    "js_pub_1024",
                    if q { 5_000 } else { 300_000 },
                    1024,
                    opts.time(),
                )),
                kv: false,
                systems: vec![0, 1, 2, 3],
            },
            Item {
                key: "js_fill_16",
                kind: Kind::Rss(spec("js_fill_16", rss_msgs, 16, fill_time)),
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "js_fetch_16",
                kind: Kind::Fetch {
                    fill: fill("js_fetch_16_fill", consume_16, 16),
                    spec: consume("js_fetch_16", 16, fetch),
                },
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "js_fetch_1024",
                kind: Kind::Fetch {
                    fill: fill("js_fetch_1024_fill", consume_1024, 1024),
                    spec: consume("js_fetch_1024", 1024, fetch),
                },
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "js_push_16",
                kind: Kind::Push {
                    fill: fill("js_push_16_fill", consume_16, 16),
                    spec: consume("js_push_16", 16, Mode::Push { ack: false }),
                },
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "js_push_1024",
                kind: Kind::Push {
                    fill: fill("js_push_1024_fill", consume_1024, 1024),
                    spec: consume("js_push_1024", 1024, Mode::Push { ack: false }),
                },
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "js_push_ack_16",
                kind: Kind::Push {
                    fill: fill("js_push_ack_16_fill", consume_16, 16),
                    spec: consume("js_push_ack_16", 16, Mode::Push { ack: true }),
                },
                kv: false,
                systems: both.clone(),
            },
            Item {
                key: "kv_put_16",
                kind: Kind::Pub(kv_spec("kv_put_16", put_16, 16, opts.time())),
                kv: true,
                systems: both.clone(),
            },
            Item {
                key: "kv_put_1024",
                kind: Kind::Pub(kv_spec("kv_put_1024", put_1024, 1024, opts.time())),
                kv: true,
                systems: both.clone(),
            },
            Item {
                key: "kv_get",
                kind: Kind::KvGet {
                    fill: kv_spec("kv_get_fill", KV_KEYS, KV_GET_SIZE, fill_time),
                    spec: KvGetSpec {
                        name: "kv_get".into(),
                        gets: if q { 5_000 } else { 50_000 },
                        keys: KV_KEYS,
                        size: KV_GET_SIZE,
                        stream: KV_STREAM.into(),
                        prefix: KV_PREFIX.into(),
                        time: opts.time(),
                    },
                },
                kv: true,
                systems: both.clone(),
            },
            Item {
                key: "idle_consumers",
                kind: Kind::IdleConsumers {
                    consumers: IDLE_CONSUMERS,
                    idle: if q { IDLE_CPU_QUICK } else { IDLE_CPU },
                },
                kv: false,
                systems: both,
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
            consumers: IDLE_CONSUMERS,
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

/// The KV bucket's stream configuration.
fn kv_config() -> serde_json::Value {
    serde_json::json!({
        "name": KV_STREAM,
        "subjects": [format!("{KV_PREFIX}.>")],
        "max_msgs_per_subject": 1,
        "allow_rollup_hdrs": true,
        "deny_delete": true,
        "allow_direct": true,
        "discard": "new",
        "storage": "file",
    })
}

/// Fills the stream with `fill` (acknowledged, not measured); returns how many messages it
/// holds.
fn fill_stream(fill: &JsPubSpec, addr: SocketAddr, api: &mut Api) -> Result<u64, String> {
    let o = jspub::run(fill, addr, &[], api);
    if !o.ok {
        return Err(format!("filling the stream: {}", o.errors.join("; ")));
    }
    if !o.notes.is_empty() {
        return Err(format!("filling the stream: {}", o.notes.join("; ")));
    }
    Ok(api.stream_state(&fill.stream)?.messages)
}

/// Runs one item on a fresh server: the outcome and the extra figures (KiB, bytes).
fn run_item(def: &SystemDef, item: &Item, dir: PathBuf) -> (Outcome, BTreeMap<String, f64>) {
    let mut extra = BTreeMap::new();
    let fail = |e: String| Outcome::failed(item.key.to_string(), item.kind.scenario(), e);
    let mut server = match JsServer::start(def, dir) {
        Ok(s) => s,
        Err(e) => return (fail(e), extra),
    };
    let Some(proc) = server.proc.as_mut() else {
        return (fail("no server process".into()), extra);
    };
    let (addr, pid) = (proc.addr, proc.pid());
    let mut api = match Api::open(addr).and_then(|mut a| {
        if item.kv {
            a.create_stream_config(KV_STREAM, kv_config())?;
        } else {
            a.create_stream(STREAM, STREAM_SUBJECTS)?;
        }
        Ok(a)
    }) {
        Ok(a) => a,
        Err(e) => return (fail(e), extra),
    };
    let mut outcome = match &item.kind {
        Kind::Pub(spec) => jspub::run(spec, addr, &[pid], &mut api),
        Kind::Rss(spec) => {
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
                let o = jspub::run(spec, addr, &[pid], &mut api);
                stop.store(true, Relaxed);
                o
            });
            if let Ok(st) = api.stream_state(STREAM) {
                extra.insert("js_stream_bytes".into(), st.bytes as f64);
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
        }
        Kind::Fetch { fill, spec } => fill_stream(fill, addr, &mut api)
            .and_then(|n| {
                let config = serde_json::json!({
                    "durable_name": spec.consumer,
                    "ack_policy": "explicit",
                });
                jsconsume::create_consumer(&mut api, &spec.stream, config)?;
                Ok(n)
            })
            .map_or_else(fail, |n| jsconsume::run(spec, n, addr, &[pid], &mut api)),
        Kind::Push { fill, spec } => fill_stream(fill, addr, &mut api)
            .map_or_else(fail, |n| jsconsume::run(spec, n, addr, &[pid], &mut api)),
        Kind::KvGet { fill, spec } => {
            fill_stream(fill, addr, &mut api).map_or_else(fail, |_| kvget::run(spec, addr, &[pid]))
        }
        Kind::IdleConsumers { consumers, idle } => {
            idle_consumers(item.key, *consumers, *idle, pid, &mut api, &mut extra)
                .unwrap_or_else(fail)
        }
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
    } else if !outcome.ok {
        // Why the server gave up on a client (a slow consumer, say), if it logged it.
        let tail = server
            .proc
            .as_ref()
            .map(ServerProc::log_tail)
            .unwrap_or_default();
        let warnings: Vec<&str> = tail
            .lines()
            .filter(|l| {
                l.contains("[WRN]")
                    || l.contains("[ERR]")
                    || l.contains("WARN")
                    || l.contains("ERROR")
            })
            .collect();
        if !warnings.is_empty() {
            outcome
                .errors
                .push(format!("server log: {}", warnings.join(" | ")));
        }
    }
    (outcome, extra)
}

/// `idle_consumers`: RSS with the empty stream, `consumers` durable pull consumers created
/// one by one, RSS [`IDLE_WAIT`] later, then the server's CPU over `idle`. The outcome's
/// rate is consumers created per second; the figures go to `extra`.
fn idle_consumers(
    key: &str,
    consumers: u64,
    idle: Duration,
    pid: u32,
    api: &mut Api,
    extra: &mut BTreeMap<String, f64>,
) -> Result<Outcome, String> {
    std::thread::sleep(IDLE_SETTLE);
    let before = procfs::rss_kib(pid);
    let sample = procfs::CpuSample::now(&[pid]);
    let t0 = Instant::now();
    for i in 0..consumers {
        let config = serde_json::json!({
            "durable_name": format!("idle{i}"),
            "ack_policy": "explicit",
        });
        jsconsume::create_consumer(api, STREAM, config)
            .map_err(|e| format!("consumer {} of {consumers}: {e}", i + 1))?;
    }
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let mut out = Outcome {
        name: key.to_string(),
        scenario: "jsidle".into(),
        sent: consumers,
        received: consumers,
        expected: consumers,
        wall_secs: wall,
        rate: consumers as f64 / wall,
        ..Default::default()
    };
    out.set_cpu(&sample, &[], consumers);
    let info = api.request(&format!("$JS.API.STREAM.INFO.{STREAM}"), "")?;
    let count = info["state"]["consumer_count"].as_u64();
    if count != Some(consumers) {
        out.errors.push(format!(
            "stream info state.consumer_count is {count:?}, expected {consumers}"
        ));
    }
    std::thread::sleep(IDLE_WAIT);
    let after = procfs::rss_kib(pid);
    let cpu0 = procfs::process_cpu(pid);
    let t1 = Instant::now();
    std::thread::sleep(idle);
    let cpu1 = procfs::process_cpu(pid);
    let secs = t1.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let used = b.saturating_sub(a).as_secs_f64();
        extra.insert("js_idle_cpu_pct".into(), used * 100.0 / secs);
    }
    if let (Some(a), Some(b)) = (before, after) {
        extra.insert("js_consumers_rss_before".into(), a as f64);
        extra.insert("js_consumers_rss_after".into(), b as f64);
        extra.insert(
            "js_consumer_rss_kib".into(),
            (b as f64 - a as f64) / consumers.max(1) as f64,
        );
    }
    out.ok = out.errors.is_empty();
    Ok(out)
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
            problems.extend(outcome.problem_lines(round, def.label));
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
    rows_19(env, results, runs, &mut targets, &mut notes);
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
        ("js_fetch_16", "js_fetch_16", NATRIUM, NATS),
        ("js_fetch_1024", "js_fetch_1024", NATRIUM, NATS),
        ("js_push_16", "js_push_16", NATRIUM, NATS),
        ("js_push_1024", "js_push_1024", NATRIUM, NATS),
        ("js_push_ack_16", "js_push_ack_16", NATRIUM, NATS),
        ("kv_put_16", "kv_put_16", NATRIUM, NATS),
        ("kv_put_1024", "kv_put_1024", NATRIUM, NATS),
        ("kv_get", "kv_get", NATRIUM, NATS),
        ("idle_consumers", "idle_consumers", NATRIUM, NATS),
    ];
    for (key, name, a, b) in every {
        scen.push(cmp(
            results,
            &format!("{key}_rate"),
            &format!("{key}: rate"),
            match key {
                "kv_get" => "gets/s",
                "idle_consumers" => "creates/s",
                _ => "msgs/s",
            },
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

fn p50(o: &Outcome) -> Option<f64> {
    o.latency.as_ref().map(|l| l.p50_us)
}

fn p99(o: &Outcome) -> Option<f64> {
    o.latency.as_ref().map(|l| l.p99_us)
}

/// Issue 19's rows: consumers, KV, idle consumers.
fn rows_19(
    env: &Env,
    results: &Results,
    runs: &[Run],
    targets: &mut Vec<MetricRow>,
    notes: &mut Vec<String>,
) {
    let pair = |name: &str| ((NATRIUM, name.to_string()), (NATS, name.to_string()));
    let one = |key: &str, label: String, unit: &str, name: &str, f, target| {
        let ((a, an), (b, bn)) = pair(name);
        cmp(results, key, &label, unit, (a, &an), (b, &bn), f, target)
    };
    let w = env.window;
    for (size, label) in [("16", "16 B"), ("1024", "1 KiB")] {
        targets.push(one(
            &format!("js_fetch_{size}_rate"),
            format!("fetch: pull consumer, batch {FETCH_BATCH}, {FETCH_IN_FLIGHT} requests in flight, explicit acks, {label}"),
            "msgs/s",
            &format!("js_fetch_{size}"),
            rate,
            Some((">=", 2.0)),
        ));
    }
    for (size, label) in [("16", "16 B"), ("1024", "1 KiB")] {
        targets.push(one(
            &format!("js_push_{size}_rate"),
            format!("push consumer to an inbox, ack none, {label}"),
            "msgs/s",
            &format!("js_push_{size}"),
            rate,
            Some((">=", 2.0)),
        ));
    }
    for (size, label) in [("16", "16 B"), ("1024", "1 KiB")] {
        targets.push(one(
            &format!("kv_put_{size}_rate"),
            format!("KV put over {KV_KEYS} keys with acks, {label}, {w} in flight"),
            "msgs/s",
            &format!("kv_put_{size}"),
            rate,
            Some((">=", 2.0)),
        ));
    }
    targets.push(one(
        "kv_get_p50",
        format!("KV get (direct get, one at a time, {KV_GET_SIZE} B values): p50 latency"),
        "µs",
        "kv_get",
        p50,
        Some(("<=", 0.6)),
    ));
    targets.push(one(
        "kv_get_p99",
        "KV get: p99 latency".into(),
        "µs",
        "kv_get",
        p99,
        None,
    ));
    targets.push(one(
        "kv_get_rate",
        "KV get: gets/s".into(),
        "gets/s",
        "kv_get",
        rate,
        None,
    ));
    targets.push(one(
        "js_push_ack_16_rate",
        "push consumer, explicit acks (each acked), 16 B".into(),
        "msgs/s",
        "js_push_ack_16",
        rate,
        None,
    ));
    for name in ["js_fetch_16", "js_push_16", "kv_put_16"] {
        targets.push(one(
            &format!("{name}_cpu"),
            format!("server CPU per msg, {name}"),
            "ns",
            name,
            cpu,
            None,
        ));
    }
    let c = crate::report::num(env.consumers as f64);
    let extra_row = |key: &str, label: String, unit: &str| {
        row(
            key,
            &label,
            unit,
            extra_values(runs, NATRIUM, key),
            extra_values(runs, NATS, key),
            None,
        )
    };
    targets.push(extra_row(
        "js_idle_cpu_pct",
        format!("server CPU while idle with {c} durable pull consumers"),
        "% of a core",
    ));
    targets.push(extra_row(
        "js_consumer_rss_kib",
        format!("RSS per durable pull consumer ({c} created)"),
        "KiB",
    ));
    targets.push(one(
        "idle_consumers_rate",
        format!("creating the {c} consumers, one request at a time"),
        "creates/s",
        "idle_consumers",
        rate,
        None,
    ));
    for sys in [NATRIUM, NATS] {
        let b = crate::compare::median(&extra_values(runs, sys, "js_consumers_rss_before"));
        let a = crate::compare::median(&extra_values(runs, sys, "js_consumers_rss_after"));
        if let (Some(b), Some(a)) = (b, a) {
            notes.push(format!(
                "idle_consumers, {sys}: RSS {b:.0} KiB with the empty stream, {a:.0} KiB with the {c} consumers (medians)"
            ));
        }
    }
}

/// The report's JetStream section.
pub fn section(targets: &[MetricRow], notes: &[String]) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let mut s = format!("\n### JetStream (issues 18 and 19)\n\n{SETUP}\n\n{SETUP_19}\n\n");
    s.push_str(&targets_table(targets));
    if !notes.is_empty() {
        s.push('\n');
        for n in notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}
