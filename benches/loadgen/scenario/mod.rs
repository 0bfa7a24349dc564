//! The scenarios and what each one reports.
//!
//! Every scenario is bounded twice: by a count (messages, requests, connections) and by
//! `--time`; hitting the time bound is not an error, it shortens the run and the rates are
//! computed over what was done. Each [`Outcome`] carries the generator's own CPU time next
//! to the wall time, and the server's CPU time when its pid is known, so a reader can see
//! whether the generator or the server was the bottleneck.

pub mod conns;
pub mod crowd;
pub mod flow;
pub mod jsconsume;
pub mod jspub;
pub mod kvget;
pub mod mqtt;
pub mod reqrep;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::procfs::CpuSample;
use crate::progress::Progress;

/// Where and how long to run.
///
/// One server: `addr` only. Across servers (a cluster, a hub and its leaf), publishers and
/// requesters connect to `addr` while subscribers, queue members and responders connect to
/// `sub_addrs` in turn (member `i` to `sub_addrs[i % len]`), and the server CPU is the sum
/// over `pid` and `more_pids`.
pub struct Ctx {
    pub addr: SocketAddr,
    /// Where subscribers and responders connect; empty: `addr`.
    pub sub_addrs: Vec<SocketAddr>,
    /// The server's pid, for its CPU time and RSS.
    pub pid: Option<u32>,
    /// The other servers' pids (their CPU counts as the server's).
    pub more_pids: Vec<u32>,
    /// Upper bound on one scenario's load phase.
    pub time: Duration,
    pub progress: Progress,
}

impl Ctx {
    /// One server at `addr`.
    pub fn single(addr: SocketAddr, pid: Option<u32>, time: Duration) -> Ctx {
        Ctx {
            addr,
            sub_addrs: Vec::new(),
            pid,
            more_pids: Vec::new(),
            time,
            progress: Progress::new(),
        }
    }

    /// Where subscriber (queue member, responder) `i` connects.
    pub fn sub_addr(&self, i: usize) -> SocketAddr {
        if self.sub_addrs.is_empty() {
            self.addr
        } else {
            self.sub_addrs[i % self.sub_addrs.len()]
        }
    }

    /// Every server process whose CPU time is measured.
    pub fn server_pids(&self) -> Vec<u32> {
        self.pid.iter().chain(&self.more_pids).copied().collect()
    }
}

/// One scenario as configured.
#[derive(Clone, Debug)]
pub enum Spec {
    Flow(flow::FlowSpec),
    Crowd(crowd::CrowdSpec),
    ReqRep(reqrep::ReqRepSpec),
    Conn(conns::ConnSpec),
    Idle(conns::IdleSpec),
    MqttPubSub(mqtt::MqttPubSpec),
    MqttIdle(mqtt::idle::MqttIdleSpec),
}

impl Spec {
    pub fn run(&self, ctx: &mut Ctx) -> Outcome {
        let out = match self {
            Spec::Flow(s) => flow::run(s, ctx),
            Spec::Crowd(s) => crowd::run(s, ctx),
            Spec::ReqRep(s) => reqrep::run(s, ctx),
            Spec::Conn(s) => conns::run_conn(s, ctx),
            Spec::Idle(s) => conns::run_idle(s, ctx),
            Spec::MqttPubSub(s) => mqtt::run(s, ctx),
            Spec::MqttIdle(s) => mqtt::idle::run(s, ctx),
        };
        ctx.progress.clear();
        out.unwrap_or_else(|e| Outcome::failed(self.name(), self.scenario(), e))
    }

    /// The stable key of this scenario in JSON and in the comparison.
    pub fn name(&self) -> String {
        match self {
            Spec::Flow(s) => s.name(),
            Spec::Crowd(s) => s.name(),
            Spec::ReqRep(s) => format!("reqrep_{}", s.size),
            Spec::Conn(s) => format!("conn_t{}", s.threads),
            Spec::Idle(_) => "idle".into(),
            Spec::MqttPubSub(s) => s.name(),
            Spec::MqttIdle(_) => "mqtt_idle".into(),
        }
    }

    pub fn scenario(&self) -> &'static str {
        match self {
            Spec::Flow(s) => s.kind.as_str(),
            Spec::Crowd(s) => s.scenario(),
            Spec::ReqRep(_) => "reqrep",
            Spec::Conn(_) => "conn",
            Spec::Idle(_) => "idle",
            Spec::MqttPubSub(_) => "mqtt-pubsub",
            Spec::MqttIdle(_) => "mqtt-idle",
        }
    }
}

/// Request/reply latency percentiles, in microseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// Idle-connection memory.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Idle {
    pub conns_requested: u64,
    pub conns_open: u64,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub bytes_per_conn: Option<f64>,
    /// How fast the connections were opened (handshake included).
    pub open_per_sec: f64,
}

/// What one scenario run measured. Rates are over `wall_secs`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Outcome {
    /// Stable key, e.g. `pubsub_16`, `fanout4_16`, `reqrep_128`, `conn_t1`, `idle`,
    /// `mqtt_q1_16`, `mqtt_idle`.
    pub name: String,
    /// `pub`, `pubsub`, `fanout`, `queue`, `reqrep`, `conn`, `idle`, `mqtt-pubsub`,
    /// `mqtt-idle`, ….
    pub scenario: String,
    /// Payload size in bytes (0 where it does not apply).
    pub size: usize,
    pub publishers: usize,
    pub subscribers: usize,
    /// Messages published (requests sent, connections attempted).
    pub sent: u64,
    /// Messages delivered to all subscribers together (replies, connections completed).
    pub received: u64,
    /// What `received` should be if nothing was lost.
    pub expected: u64,
    pub wall_secs: f64,
    /// The headline rate: published msgs/s for `pub`, deliveries/s for the others,
    /// requests/s for `reqrep`, connections/s for `conn`.
    pub rate: f64,
    /// Payload throughput in MB/s (10^6 bytes) of what `rate` counts.
    pub mb_per_sec: f64,
    pub latency: Option<Latency>,
    pub idle: Option<Idle>,
    /// The generator's CPU time during the measured phase (all its threads).
    pub gen_cpu_secs: f64,
    /// `gen_cpu_secs` as a percentage of one core over the wall time.
    pub gen_cpu_pct: f64,
    /// The busiest generator thread's CPU as a percentage of the wall time: near 100 means
    /// that thread (usually the publisher) could have been the limit.
    pub gen_busiest_thread_pct: f64,
    pub server_cpu_secs: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    /// Server CPU time per delivered (or, for `pub`, published) message, in ns.
    pub server_cpu_ns_per_msg: Option<f64>,
    /// CPU the rest of the machine used meanwhile (all busy CPU minus generator and
    /// server), % of one core: on a shared machine, the interference in this run.
    pub other_cpu_pct: Option<f64>,
    /// Deliveries per subscriber (queue member), in the order of `Ctx::sub_addr`: how a
    /// queue group's messages were spread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_subscriber: Vec<u64>,
    /// Anything that went wrong: loss, duplicates, reordering, `-ERR`, time bound hit.
    pub errors: Vec<String>,
    /// Notes that are not errors (e.g. the time bound shortened the run).
    pub notes: Vec<String>,
    pub ok: bool,
}

impl Outcome {
    /// The run's errors (when it failed) and notes as the comparison's problem lines:
    /// `round R: WHO: NAME: errors` and `round R: WHO: NAME: note: …` (`round` from 0).
    pub fn problem_lines(&self, round: usize, who: &str) -> Vec<String> {
        let r = round + 1;
        let mut lines = Vec::new();
        if !self.ok {
            lines.push(format!(
                "round {r}: {who}: {}: {}",
                self.name,
                self.errors.join("; ")
            ));
        }
        for n in &self.notes {
            lines.push(format!("round {r}: {who}: {}: note: {n}", self.name));
        }
        lines
    }

    pub fn failed(name: String, scenario: &str, error: String) -> Outcome {
        Outcome {
            name,
            scenario: scenario.into(),
            errors: vec![error],
            ok: false,
            ..Default::default()
        }
    }

    /// Fills the CPU fields from a sample taken (on this thread) at the start of the
    /// measured phase and the CPU each worker thread measured for itself.
    pub fn set_cpu(&mut self, sample: &CpuSample, workers: &[Duration], per_msg: u64) {
        let used = sample.since(workers.iter().sum());
        let busiest_thread = workers
            .iter()
            .copied()
            .chain([used.coordinator])
            .max()
            .unwrap_or_default();
        let wall = self.wall_secs.max(1e-9);
        self.gen_cpu_secs = used.generator.as_secs_f64();
        self.gen_cpu_pct = self.gen_cpu_secs * 100.0 / wall;
        self.gen_busiest_thread_pct = busiest_thread.as_secs_f64() * 100.0 / wall;
        if let Some(m) = used.machine {
            let rest =
                m.as_secs_f64() - self.gen_cpu_secs - used.server.map_or(0.0, |s| s.as_secs_f64());
            self.other_cpu_pct = Some(rest.max(0.0) * 100.0 / wall);
        }
        if let Some(s) = used.server {
            let s = s.as_secs_f64();
            self.server_cpu_secs = Some(s);
            self.server_cpu_pct = Some(s * 100.0 / wall);
            if per_msg > 0 {
                self.server_cpu_ns_per_msg = Some(s * 1e9 / per_msg as f64);
            }
        }
    }
}

/// Sizes: `16`, `128`, `1k`/`1K`/`1KiB` (1024), `16KiB`, `1m`/`1MiB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix("kb"))
        .or_else(|| lower.strip_suffix('k'))
    {
        (n, 1024)
    } else if let Some(n) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix("mb"))
        .or_else(|| lower.strip_suffix('m'))
    {
        (n, 1024 * 1024)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), 1)
    };
    num.trim()
        .replace('_', "")
        .parse::<usize>()
        .map(|n| n * mult)
        .map_err(|_| format!("not a size: {s:?}"))
}

/// A human label for a payload size.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16"), Ok(16));
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("128b"), Ok(128));
        assert!(parse_size("x").is_err());
        assert_eq!(size_label(16384), "16 KiB");
        assert_eq!(size_label(16), "16 B");
    }
}
