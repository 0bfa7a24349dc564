//! Many-client scenarios (issue 22): many-to-many, fan-in, wide fan-out and request/reply
//! with many requesters against a queue group of responders.
//!
//! ```text
//!  connect:  every connection: INFO ─ CONNECT ─ PING/PONG ─ SUB ─ PING/PONG (blocking)
//!  workers:  W threads, each polling (mio) its share of the connections, non-blocking
//!  warm-up:  publishers send HPUB (headers, their index in the payload) every 2 ms until
//!            each subscriber heard from every publisher it will hear from;
//!            requesters make a few round trips each
//!  measured: publishers write PUB batches as their socket takes them, at most `window`
//!            bytes ahead of the slowest of their subscribers; subscribers count
//! ```
//!
//! One thread per connection (as [`super::flow`] does) would put 128 threads on two cores
//! and measure the scheduler; a few polling workers keep the generator's cost per message
//! close to the single-stream scenarios', whatever the number of clients.
//!
//! Every measured payload starts with the publisher's sequence number (u64 LE) and its index
//! (u16 LE), so every subscriber checks each publisher's stream for loss, duplicates and
//! reordering on its own. Shapes:
//!
//! * `m2m`: publisher `i` → subject `<subject>.<i>` → subscriber `i` (`pubs` pairs);
//! * `fanin`: `pubs` publishers → one subject → one subscriber;
//! * `fanout`: one publisher → `subs` subscribers of one subject;
//! * `reqrep`: `pubs` requesters, each with one request in flight, → a queue group of
//!   `subs` responders; latency percentiles over every request.

mod peer;

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::client::Conn;
use crate::hist::Histogram;
use crate::procfs::CpuSample;
use crate::scenario::{size_label, Ctx, Latency, Outcome};
use peer::{worker, Peer, PubState, ReqState, Role, SubState};

/// Read buffer per connection.
const READ_BUFFER: usize = 256 * 1024;
/// Payload bytes the readers look at: a warm-up's 12 header bytes and the publisher index.
const HEAD: usize = 24;
const WARMUP_TIMEOUT: Duration = Duration::from_secs(10);
/// After the publishers finished, how long deliveries may stop before the run ends.
const STALL: Duration = Duration::from_secs(2);

pub(super) const WARM: u8 = 0;
pub(super) const MEASURE: u8 = 1;
pub(super) const STOP: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    ManyToMany,
    FanIn,
    FanOut,
    ReqRep,
}

#[derive(Clone, Debug)]
pub struct CrowdSpec {
    pub shape: Shape,
    /// Publishers (requesters for `reqrep`).
    pub pubs: usize,
    /// Subscribers (responders for `reqrep`).
    pub subs: usize,
    pub size: usize,
    /// Messages (requests) in total, split across publishers (requesters).
    pub msgs: u64,
    /// Bytes each publisher may be ahead of the slowest of its subscribers.
    pub window: u64,
    pub subject: String,
    /// Polling threads of the generator.
    pub workers: usize,
}

impl CrowdSpec {
    pub fn name(&self) -> String {
        match self.shape {
            Shape::ManyToMany => format!("m2m{}_{}", self.pubs, self.size),
            Shape::FanIn => format!("fanin{}_{}", self.pubs, self.size),
            Shape::FanOut => format!("fanout{}_{}", self.subs, self.size),
            Shape::ReqRep => format!("reqrep{}x{}_{}", self.pubs, self.subs, self.size),
        }
    }

    pub fn scenario(&self) -> &'static str {
        match self.shape {
            Shape::ManyToMany => "m2m",
            Shape::FanIn => "fanin",
            Shape::FanOut => "fanout",
            Shape::ReqRep => "reqrep",
        }
    }

    pub fn label(&self) -> String {
        let size = size_label(self.size);
        match self.shape {
            Shape::ManyToMany => format!("{0} publishers → {0} subscribers {size}", self.pubs),
            Shape::FanIn => format!("fan-in {}→1 {size}", self.pubs),
            Shape::FanOut => format!("fan-out 1→{} {size}", self.subs),
            Shape::ReqRep => format!(
                "req/rep {} requesters → queue group of {} {size}",
                self.pubs, self.subs
            ),
        }
    }

    /// Publisher and subscriber counts as the shape fixes them.
    fn counts(&self) -> (usize, usize) {
        match self.shape {
            Shape::ManyToMany => (self.pubs, self.pubs),
            Shape::FanIn => (self.pubs, 1),
            Shape::FanOut => (1, self.subs),
            Shape::ReqRep => (self.pubs, self.subs),
        }
    }

    fn pub_subject(&self, i: usize) -> String {
        match self.shape {
            Shape::ManyToMany => format!("{}.{i}", self.subject),
            _ => self.subject.clone(),
        }
    }

    /// The subscribers that publisher `p` reaches.
    fn dests(&self, p: usize, nsubs: usize) -> Vec<usize> {
        match self.shape {
            Shape::ManyToMany => vec![p],
            Shape::FanIn => vec![0],
            Shape::FanOut => (0..nsubs).collect(),
            Shape::ReqRep => Vec::new(),
        }
    }

    /// How many publishers subscriber `s` hears from.
    fn sources(&self, npubs: usize) -> u64 {
        match self.shape {
            Shape::FanIn => npubs as u64,
            _ => 1,
        }
    }
}

/// What every worker and the coordinator share.
struct Shared {
    phase: AtomicU8,
    npubs: usize,
    /// `[sub * npubs + pub]`: measured deliveries from that publisher to that subscriber.
    got: Vec<AtomicU64>,
    /// Per subscriber: distinct publishers whose warm-up it received.
    warmed: Vec<AtomicU64>,
    /// Per publisher: measured messages sent (requests completed for requesters).
    sent: Vec<AtomicU64>,
    /// Publishers (requesters) that finished their share or hit the time bound.
    pubs_done: AtomicUsize,
    /// Requesters through their warm-up round trips.
    ready: AtomicUsize,
    /// The measured phase's time bound.
    time: Duration,
}

impl Shared {
    fn got(&self, sub: usize, p: usize) -> u64 {
        self.got[sub * self.npubs + p].load(Relaxed)
    }

    fn delivered(&self) -> u64 {
        self.got.iter().map(|g| g.load(Relaxed)).sum()
    }

    fn sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Relaxed)).sum()
    }
}

fn make_peer(conn: Conn, role: Role) -> Result<Peer, String> {
    let (stream, frames) = conn.into_plain()?;
    stream
        .set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    Ok(Peer {
        stream: TcpStream::from_std(stream),
        frames,
        role,
        out: Vec::new(),
        out_at: 0,
        readable: true,
        writable: true,
        error: None,
    })
}

/// Opens and subscribes every connection: subscribers (responders) first, on
/// `Ctx::sub_addr`, then publishers (requesters) on `Ctx::addr`.
fn connect(spec: &CrowdSpec, ctx: &Ctx, npubs: usize, nsubs: usize) -> Result<Vec<Peer>, String> {
    let mut subs = Vec::with_capacity(nsubs);
    let payload = vec![b'r'; spec.size];
    for i in 0..nsubs {
        let mut c = Conn::open(ctx.sub_addr(i), READ_BUFFER, HEAD)?;
        let role = if spec.shape == Shape::ReqRep {
            c.subscribe(&spec.subject, Some("bench_rq"), 1)?;
            Role::Responder {
                payload: payload.clone(),
                answered: 0,
            }
        } else {
            c.subscribe(&spec.pub_subject(i), None, 1)?;
            Role::Sub(Box::new(SubState {
                idx: i,
                npubs,
                size: spec.size,
                counts: vec![0; npubs],
                next_seq: vec![0; npubs],
                warmed: vec![false; npubs],
                ..Default::default()
            }))
        };
        subs.push(make_peer(c, role)?);
    }
    let per_pub = spec.msgs / npubs as u64;
    let extra = spec.msgs % npubs as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let run = format!("{:x}{nanos:x}", std::process::id());
    let mut pubs = Vec::with_capacity(npubs);
    for i in 0..npubs {
        let share = per_pub + u64::from((i as u64) < extra);
        let mut c = Conn::open(ctx.addr, READ_BUFFER, HEAD)?;
        let role = if spec.shape == Shape::ReqRep {
            let inbox = format!("_INBOX.crowd{run}.{i}");
            c.subscribe(&format!("{inbox}.*"), None, 1)?;
            Role::Requester(Box::new(ReqState {
                idx: i,
                share,
                subject: spec.subject.clone(),
                inbox,
                payload: payload.clone(),
                next_n: 0,
                outstanding: None,
                retry_at: None,
                warm_done: 0,
                ready: false,
                done: 0,
                lost: 0,
                hist: Histogram::new(),
                deadline: None,
                finished_at: None,
            }))
        } else {
            // The window bounds what is in flight in total, whatever the publisher count,
            // so that no subscriber's backlog on the server grows with it.
            let window = spec.window / npubs as u64;
            let dests = spec.dests(i, nsubs);
            Role::Pub(Box::new(PubState::new(
                i,
                share,
                spec,
                dests,
                window.max(1),
            )))
        };
        pubs.push(make_peer(c, role)?);
    }
    // Interleave so that every worker gets publishers and subscribers alike.
    let mut all = Vec::with_capacity(npubs + nsubs);
    let (mut s, mut p) = (subs.into_iter(), pubs.into_iter());
    loop {
        match (s.next(), p.next()) {
            (None, None) => break,
            (a, b) => all.extend(a.into_iter().chain(b)),
        }
    }
    Ok(all)
}

pub fn run(spec: &CrowdSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    let (npubs, nsubs) = spec.counts();
    if npubs == 0 || nsubs == 0 || npubs > u16::MAX as usize {
        return Err("crowd scenarios need 1..65535 publishers and at least one subscriber".into());
    }
    if spec.shape != Shape::ReqRep && spec.size < 10 {
        return Err(
            "crowd scenarios carry a sequence number and a publisher index: --size ≥ 10".into(),
        );
    }
    let workers = spec.workers.max(1);
    let shared = Shared {
        phase: AtomicU8::new(WARM),
        npubs,
        got: (0..npubs * nsubs).map(|_| AtomicU64::new(0)).collect(),
        warmed: (0..nsubs).map(|_| AtomicU64::new(0)).collect(),
        sent: (0..npubs).map(|_| AtomicU64::new(0)).collect(),
        pubs_done: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        time: ctx.time,
    };
    let mut buckets: Vec<Vec<Peer>> = (0..workers).map(|_| Vec::new()).collect();
    for (k, peer) in connect(spec, ctx, npubs, nsubs)?.into_iter().enumerate() {
        buckets[k % workers].push(peer);
    }
    let label = spec.label();
    let reqrep = spec.shape == Shape::ReqRep;
    let dests: Vec<u64> = (0..npubs)
        .map(|p| spec.dests(p, nsubs).len() as u64)
        .collect();
    let expected = || -> u64 {
        if reqrep {
            return shared.sent();
        }
        (0..npubs)
            .map(|p| shared.sent[p].load(Relaxed) * dests[p])
            .sum()
    };

    std::thread::scope(|s| -> Result<Outcome, String> {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|peers| {
                let shared = &shared;
                s.spawn(move || worker(peers, shared))
            })
            .collect();
        let stop_with = |e: String| -> Result<Outcome, String> {
            shared.phase.store(STOP, Relaxed);
            Err(e)
        };
        let warm_start = Instant::now();
        loop {
            let warm = if reqrep {
                shared.ready.load(Relaxed) == npubs
            } else {
                shared
                    .warmed
                    .iter()
                    .all(|w| w.load(Relaxed) >= spec.sources(npubs))
            };
            if warm {
                break;
            }
            if warm_start.elapsed() > WARMUP_TIMEOUT || handles.iter().any(|h| h.is_finished()) {
                return stop_with(format!(
                    "the warm-up did not complete within {} s",
                    WARMUP_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let sample = CpuSample::now(&ctx.server_pids());
        let start = Instant::now();
        shared.phase.store(MEASURE, Relaxed);
        let total = spec.msgs
            * if reqrep {
                1
            } else {
                dests.iter().max().copied().unwrap_or(1)
            };
        let mut last_seen = (0u64, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let delivered = if reqrep {
                shared.sent()
            } else {
                shared.delivered()
            };
            ctx.progress.update(&label, delivered, total);
            let pubs_done = shared.pubs_done.load(Relaxed) == npubs;
            if pubs_done && (reqrep || delivered >= expected()) {
                break;
            }
            if delivered != last_seen.0 {
                last_seen = (delivered, Instant::now());
            }
            let stalled = pubs_done && last_seen.1.elapsed() > STALL;
            let overdue = start.elapsed() > ctx.time + STALL + Duration::from_secs(5);
            if stalled || overdue || handles.iter().any(|h| h.is_finished()) {
                break;
            }
        }
        shared.phase.store(STOP, Relaxed);
        let mut peers = Vec::new();
        let mut cpus = Vec::new();
        for h in handles {
            let (p, cpu) = h
                .join()
                .map_err(|_| "worker thread panicked".to_string())??;
            peers.extend(p);
            cpus.push(cpu);
        }
        Ok(outcome(
            spec,
            &shared,
            peers,
            &cpus,
            sample,
            start,
            expected(),
        ))
    })
}

fn outcome(
    spec: &CrowdSpec,
    shared: &Shared,
    peers: Vec<Peer>,
    cpus: &[Duration],
    sample: CpuSample,
    start: Instant,
    expected: u64,
) -> Outcome {
    let (npubs, nsubs) = spec.counts();
    let mut out = Outcome {
        name: spec.name(),
        scenario: spec.scenario().into(),
        size: spec.size,
        publishers: npubs,
        subscribers: nsubs,
        sent: shared.sent(),
        expected,
        ..Default::default()
    };
    let mut end = start;
    let mut hist = Histogram::new();
    let mut sub_results = Vec::new();
    for peer in &peers {
        let who = match &peer.role {
            Role::Pub(p) => {
                if p.time_bound {
                    out.notes.push(format!(
                        "time bound ({} s) hit: publisher {} sent {} of {}",
                        shared.time.as_secs_f64(),
                        p.idx,
                        p.sent,
                        p.share
                    ));
                }
                format!("publisher {}", p.idx)
            }
            Role::Sub(s) => {
                end = end.max(s.last_rx.unwrap_or(start));
                out.received += s.total;
                sub_results.push((s.idx, s.total));
                for (what, n) in [
                    ("messages out of sequence", s.out_of_order),
                    ("messages of the wrong size", s.wrong_size),
                    ("messages without a known publisher", s.foreign),
                ] {
                    if n > 0 {
                        out.errors.push(format!("subscriber {}: {n} {what}", s.idx));
                    }
                }
                format!("subscriber {}", s.idx)
            }
            Role::Requester(r) => {
                end = end.max(r.finished_at.unwrap_or_else(Instant::now));
                out.received += r.done;
                hist.merge(&r.hist);
                if r.lost > 0 {
                    out.errors
                        .push(format!("requester {}: {} replies lost", r.idx, r.lost));
                }
                format!("requester {}", r.idx)
            }
            Role::Responder { answered, .. } => {
                sub_results.push((sub_results.len(), *answered));
                "responder".to_string()
            }
        };
        if let Some(e) = &peer.error {
            out.errors.push(format!("{who}: {e}"));
        }
    }
    sub_results.sort();
    out.per_subscriber = sub_results.into_iter().map(|(_, n)| n).collect();
    out.wall_secs = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
    out.rate = out.received as f64 / out.wall_secs;
    out.mb_per_sec = out.rate * spec.size as f64 / 1e6;
    out.set_cpu(&sample, cpus, out.received);
    if spec.shape == Shape::ReqRep {
        let us = |ns: u64| ns as f64 / 1000.0;
        out.latency = Some(Latency {
            p50_us: us(hist.percentile(50.0)),
            p99_us: us(hist.percentile(99.0)),
            p999_us: us(hist.percentile(99.9)),
            min_us: us(hist.min()),
            max_us: us(hist.max()),
            mean_us: hist.mean() / 1000.0,
        });
    } else if out.received != expected {
        out.errors.push(format!(
            "{} deliveries of {expected} expected ({} {})",
            out.received,
            out.received.abs_diff(expected),
            if out.received < expected {
                "lost"
            } else {
                "extra"
            }
        ));
    }
    out.ok = out.errors.is_empty();
    out
}
