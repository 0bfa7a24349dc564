//! Message-flow scenarios: `pub` (publishers only), `pubsub` (1 → 1), `fanout` (1 → N) and
//! `queue` (1 → a queue group of N).
//!
//! ```text
//!  subscribers: connect ─ SUB ─ PING/PONG ──► reader threads (count, check sequence)
//!  warm-up:     publisher sends HPUB (headers) every 2 ms until every subscriber saw one
//!  measured:    publisher threads write PUB frames in 256 KiB batches ─ PING/PONG
//!               main thread: progress, stop on completion, stall or time bound
//! ```
//!
//! Why the warm-up: a SUB acknowledged by PONG on the subscriber's connection proves only
//! that *that* connection's reactor (or nats-server route) knows it; a server that spreads
//! interest asynchronously (natrium's reactors, nats-server clusters) may not yet route from
//! the publisher's side. Warm-up messages carry headers, so the readers tell them from the
//! measured `MSG`s by frame type alone, at any payload size.
//!
//! Publishers connect to `Ctx::addr`, subscriber `i` to `Ctx::sub_addr(i)`: the same server,
//! or another node of a cluster, or a leaf node of the publisher's hub. Queue members also
//! subscribe (plainly, after their queue subscription) to `<subject>.warm`, where warm-ups
//! are published too: servers prefer a queue member connected to themselves (nats-server
//! does, across routes), so a remote member may never see a warm-up on the queue subject;
//! its plain subscription, sent after the queue one on the same connection and so carried
//! in order behind it, proves the queue interest has arrived.
//!
//! Every measured payload starts with the publisher's sequence number (little-endian u64,
//! when the payload has 8 bytes): plain subscribers check that it increases by one (no loss,
//! duplicate or reordering), queue members set a bit per sequence in a shared bitmap so a
//! message delivered twice anywhere in the group is caught. The publisher may run at most
//! `window` bytes ahead of the slowest subscriber, so a run measures sustained throughput
//! rather than how much the socket buffers absorb, and no subscriber becomes a slow consumer.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::frames::{Msg, Sink};
use crate::procfs::{self, CpuSample};
use crate::scenario::{size_label, Ctx, Outcome};

/// Bytes of PUB frames written per `write` call.
const BATCH_BYTES: usize = 256 * 1024;
/// Read buffer per subscriber.
const READ_BUFFER: usize = 1024 * 1024;
/// A subscriber that sees nothing new for this long after the publishers finished stops.
const STALL: Duration = Duration::from_secs(2);
/// How long the warm-up may take before the scenario fails.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pub,
    PubSub,
    Fanout,
    Queue,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pub => "pub",
            Kind::PubSub => "pubsub",
            Kind::Fanout => "fanout",
            Kind::Queue => "queue",
        }
    }
}

#[derive(Clone, Debug)]
pub struct FlowSpec {
    pub kind: Kind,
    /// Messages published in total (split across publishers).
    pub msgs: u64,
    pub size: usize,
    pub pubs: usize,
    /// Subscribers (fanout) or queue members (queue); 1 for pubsub, 0 for pub.
    pub subs: usize,
    /// Bytes the publishers may be ahead of the slowest subscriber; 0 = unlimited.
    pub window: u64,
    pub subject: String,
}

impl FlowSpec {
    pub fn name(&self) -> String {
        match self.kind {
            Kind::Pub if self.pubs > 1 => format!("pub{}_{}", self.pubs, self.size),
            Kind::Pub => format!("pub_{}", self.size),
            Kind::PubSub => format!("pubsub_{}", self.size),
            Kind::Fanout => format!("fanout{}_{}", self.subs, self.size),
            Kind::Queue => format!("queue{}_{}", self.subs, self.size),
        }
    }

    pub fn label(&self) -> String {
        let size = size_label(self.size);
        match self.kind {
            Kind::Pub if self.pubs > 1 => format!("pub-only x{} {size}", self.pubs),
            Kind::Pub => format!("pub-only {size}"),
            Kind::PubSub => format!("pub→sub {size}"),
            Kind::Fanout => format!("fan-out 1→{} {size}", self.subs),
            Kind::Queue => format!("queue group of {} {size}", self.subs),
        }
    }

    fn subscribers(&self) -> usize {
        match self.kind {
            Kind::Pub => 0,
            Kind::PubSub => 1,
            Kind::Fanout | Kind::Queue => self.subs.max(1),
        }
    }

    /// Sequence checks need 8 payload bytes and one publisher.
    fn checks_sequence(&self) -> bool {
        self.size >= 8 && self.pubs == 1
    }
}

/// Per-subscriber counters the publisher and the main thread read.
#[derive(Default)]
struct SubState {
    received: AtomicU64,
    warm: AtomicU64,
}

struct Shared {
    stop: AtomicBool,
    /// Messages published so far, all publishers.
    sent: AtomicU64,
    /// The final published count once every publisher finished; `u64::MAX` before.
    sent_final: AtomicU64,
    pubs_done: AtomicUsize,
    /// Deliveries to the whole queue group.
    queue_total: AtomicU64,
    subs: Vec<SubState>,
    /// One bit per sequence number, for queue groups.
    bitmap: Vec<AtomicU64>,
    queue: bool,
}

impl Shared {
    /// Deliveries that the slowest subscriber (or the queue group) has seen.
    fn progress(&self) -> u64 {
        if self.queue {
            self.queue_total.load(Relaxed)
        } else {
            self.subs
                .iter()
                .map(|s| s.received.load(Relaxed))
                .min()
                .unwrap_or(u64::MAX)
        }
    }

    fn delivered(&self) -> u64 {
        self.subs.iter().map(|s| s.received.load(Relaxed)).sum()
    }
}

/// What a subscriber's reader sees.
struct SubSink<'a> {
    count: u64,
    /// The payload size every measured message must have.
    size: usize,
    wrong_size: u64,
    warm: u64,
    pings: u64,
    check: bool,
    next_seq: u64,
    out_of_order: u64,
    dups: u64,
    bitmap: Option<&'a [AtomicU64]>,
    err: Option<String>,
}

impl Sink for SubSink<'_> {
    fn msg(&mut self, m: &Msg<'_>) {
        if m.headers {
            self.warm += 1;
            return;
        }
        self.count += 1;
        if m.size != self.size {
            self.wrong_size += 1;
        }
        if !self.check || m.head.len() < 8 {
            return;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&m.head[..8]);
        let seq = u64::from_le_bytes(b);
        match self.bitmap {
            Some(bm) => {
                let bit = 1u64 << (seq % 64);
                match bm.get((seq / 64) as usize) {
                    Some(w) if w.fetch_or(bit, Relaxed) & bit == 0 => {}
                    _ => self.dups += 1,
                }
            }
            None => {
                if seq != self.next_seq {
                    self.out_of_order += 1;
                }
                self.next_seq = seq.wrapping_add(1);
            }
        }
    }
    fn ping(&mut self) {
        self.pings += 1;
    }
    fn err(&mut self, text: &[u8]) {
        self.err
            .get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
    }
}

#[derive(Default)]
struct SubResult {
    received: u64,
    out_of_order: u64,
    dups: u64,
    wrong_size: u64,
    last_rx: Option<Instant>,
    cpu: Duration,
    error: Option<String>,
}

fn subscriber(mut conn: Conn, idx: usize, shared: &Shared, check: bool, size: usize) -> SubResult {
    let cpu0 = procfs::thread_cpu();
    let state = &shared.subs[idx];
    let mut sink = SubSink {
        count: 0,
        size,
        wrong_size: 0,
        warm: 0,
        pings: 0,
        check,
        next_seq: 0,
        out_of_order: 0,
        dups: 0,
        bitmap: shared.queue.then_some(&shared.bitmap[..]),
        err: None,
    };
    let mut res = SubResult::default();
    if let Err(e) = conn
        .stream
        .set_read_timeout(Some(Duration::from_millis(50)))
    {
        res.error = Some(e.to_string());
        return res;
    }
    loop {
        match conn.frames.read_from(&mut conn.stream) {
            Ok(0) => {
                res.error = Some("server closed the subscriber's connection".into());
                break;
            }
            Ok(_) => {
                let before = sink.count;
                if let Err(e) = conn.frames.parse(&mut sink) {
                    res.error = Some(e.to_string());
                    break;
                }
                let new = sink.count - before;
                if new > 0 {
                    res.last_rx = Some(Instant::now());
                    state.received.store(sink.count, Relaxed);
                    if shared.queue {
                        shared.queue_total.fetch_add(new, Relaxed);
                    }
                }
                state.warm.store(sink.warm, Relaxed);
                for _ in 0..std::mem::take(&mut sink.pings) {
                    if let Err(e) = conn.stream.write_all(b"PONG\r\n") {
                        res.error = Some(format!("send PONG: {e}"));
                    }
                }
                if let Some(e) = sink.err.take() {
                    res.error = Some(format!("server sent {e}"));
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                res.error = Some(format!("read: {e}"));
                break;
            }
        }
        let fin = shared.sent_final.load(Relaxed);
        let done = if shared.queue {
            shared.queue_total.load(Relaxed) >= fin
        } else {
            sink.count >= fin
        };
        if done || shared.stop.load(Relaxed) {
            break;
        }
    }
    res.received = sink.count;
    res.out_of_order = sink.out_of_order;
    res.dups = sink.dups;
    res.wrong_size = sink.wrong_size;
    res.cpu = procfs::thread_cpu().saturating_sub(cpu0);
    res
}

struct PubResult {
    sent: u64,
    done_at: Instant,
    cpu: Duration,
    time_bound: bool,
    error: Option<String>,
}

/// The wire bytes of one PUB frame and where its sequence number goes.
fn pub_frame(subject: &str, size: usize) -> (Vec<u8>, usize) {
    let mut f = format!("PUB {subject} {size}\r\n").into_bytes();
    let seq_at = f.len();
    f.resize(seq_at + size, b'n');
    f.extend_from_slice(b"\r\n");
    (f, seq_at)
}

#[allow(clippy::too_many_arguments)]
fn publisher(
    mut conn: Conn,
    share: u64,
    spec: &FlowSpec,
    shared: &Shared,
    window_msgs: u64,
    deadline: Instant,
) -> PubResult {
    let cpu0 = procfs::thread_cpu();
    let (frame, seq_at) = pub_frame(&spec.subject, spec.size);
    let per_batch = (BATCH_BYTES / frame.len()).max(1);
    let mut batch = Vec::with_capacity(per_batch * frame.len());
    for _ in 0..per_batch {
        batch.extend_from_slice(&frame);
    }
    let seq = spec.checks_sequence();
    let mut res = PubResult {
        sent: 0,
        done_at: Instant::now(),
        cpu: Duration::ZERO,
        time_bound: false,
        error: None,
    };
    // A blocked write must not outlive the scenario if the server stops reading.
    let _ = conn.stream.set_write_timeout(Some(
        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(10),
    ));
    'outer: while res.sent < share {
        let k = (share - res.sent).min(per_batch as u64) as usize;
        if seq {
            for i in 0..k {
                let at = i * frame.len() + seq_at;
                batch[at..at + 8].copy_from_slice(&(res.sent + i as u64).to_le_bytes());
            }
        }
        if let Err(e) = conn.stream.write_all(&batch[..k * frame.len()]) {
            res.error = Some(format!("publish: {e}"));
            break;
        }
        res.sent += k as u64;
        shared.sent.fetch_add(k as u64, Relaxed);
        loop {
            if Instant::now() >= deadline {
                res.time_bound = res.sent < share;
                break 'outer;
            }
            if shared.stop.load(Relaxed) {
                break 'outer;
            }
            if window_msgs == 0
                || shared.sent.load(Relaxed).saturating_sub(shared.progress()) <= window_msgs
            {
                break;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    if res.error.is_none() {
        if let Err(e) = conn.flush() {
            res.error = Some(format!("publisher flush: {e}"));
        }
    }
    res.done_at = Instant::now();
    res.cpu = procfs::thread_cpu().saturating_sub(cpu0);
    res
}

/// Sends header-carrying messages until every subscriber has received one (queue groups:
/// on the queue subject and on `<subject>.warm`).
fn warm_up(conn: &mut Conn, spec: &FlowSpec, shared: &Shared) -> Result<(), String> {
    let mut frame = Vec::new();
    let mut subjects = vec![spec.subject.clone()];
    if spec.kind == Kind::Queue {
        subjects.push(format!("{}.warm", spec.subject));
    }
    for subject in subjects {
        frame.extend_from_slice(
            format!("HPUB {subject} 12 {}\r\nNATS/1.0\r\n\r\n", 12 + spec.size).as_bytes(),
        );
        frame.resize(frame.len() + spec.size, b'w');
        frame.extend_from_slice(b"\r\n");
    }
    let start = Instant::now();
    while shared.subs.iter().any(|s| s.warm.load(Relaxed) == 0) {
        if start.elapsed() > WARMUP_TIMEOUT {
            return Err(format!(
                "subscribers did not receive warm-up messages within {} s",
                WARMUP_TIMEOUT.as_secs()
            ));
        }
        conn.stream
            .write_all(&frame)
            .map_err(|e| format!("warm-up publish: {e}"))?;
        std::thread::sleep(Duration::from_millis(2));
    }
    // Make sure the server has processed every warm-up before measuring starts.
    conn.flush().map(|_| ())
}

pub fn run(spec: &FlowSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    if spec.pubs == 0 {
        return Err("at least one publisher is needed".into());
    }
    if spec.size > 64 * 1024 * 1024 {
        return Err("payload too large".into());
    }
    let nsubs = spec.subscribers();
    let check = spec.checks_sequence();
    let queue = spec.kind == Kind::Queue;
    let head = if check { 8 } else { 0 };
    let mut subs = Vec::with_capacity(nsubs);
    let warm_subject = format!("{}.warm", spec.subject);
    for i in 0..nsubs {
        let mut c = Conn::open(ctx.sub_addr(i), READ_BUFFER, head)?;
        c.subscribe(&spec.subject, queue.then_some("bench_q"), 1)?;
        if queue {
            c.subscribe(&warm_subject, None, 2)?;
        }
        subs.push(c);
    }
    let mut pubs = Vec::with_capacity(spec.pubs);
    for _ in 0..spec.pubs {
        pubs.push(Conn::open(ctx.addr, 64 * 1024, 0)?);
    }
    let shared = Shared {
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        sent_final: AtomicU64::new(u64::MAX),
        pubs_done: AtomicUsize::new(0),
        queue_total: AtomicU64::new(0),
        subs: (0..nsubs).map(|_| SubState::default()).collect(),
        bitmap: if queue && check {
            (0..spec.msgs.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect()
        } else {
            Vec::new()
        },
        queue,
    };
    let frame_len = pub_frame(&spec.subject, spec.size).0.len() as u64;
    let window_msgs = if spec.window == 0 || nsubs == 0 {
        0
    } else {
        (spec.window / frame_len).max(1)
    };
    let label = spec.label();
    let expected_per_msg = if queue { 1 } else { nsubs as u64 };

    std::thread::scope(|s| -> Result<Outcome, String> {
        let sub_handles: Vec<_> = subs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let shared = &shared;
                let size = spec.size;
                s.spawn(move || subscriber(c, i, shared, check, size))
            })
            .collect();
        if nsubs > 0 {
            if let Err(e) = warm_up(&mut pubs[0], spec, &shared) {
                shared.stop.store(true, Relaxed);
                return Err(e);
            }
        }
        let sample = CpuSample::now(&ctx.server_pids());
        let start = Instant::now();
        let deadline = start + ctx.time;
        let per_pub = spec.msgs / spec.pubs as u64;
        let extra = spec.msgs % spec.pubs as u64;
        let pub_handles: Vec<_> = pubs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let share = per_pub + u64::from((i as u64) < extra);
                let shared = &shared;
                s.spawn(move || {
                    let r = publisher(c, share, spec, shared, window_msgs, deadline);
                    shared.pubs_done.fetch_add(1, Relaxed);
                    r
                })
            })
            .collect();

        // Watch: progress, completion, stalls, the time bound.
        let total = spec.msgs * expected_per_msg.max(1);
        let mut last_seen = (0u64, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let delivered = if nsubs == 0 {
                shared.sent.load(Relaxed)
            } else {
                shared.delivered()
            };
            ctx.progress.update(&label, delivered, total);
            let pubs_done = shared.pubs_done.load(Relaxed) == spec.pubs;
            if pubs_done && shared.sent_final.load(Relaxed) == u64::MAX {
                shared.sent_final.store(shared.sent.load(Relaxed), Relaxed);
            }
            let subs_done = sub_handles.iter().all(|h| h.is_finished());
            if pubs_done && subs_done {
                break;
            }
            if delivered != last_seen.0 {
                last_seen = (delivered, Instant::now());
            }
            let stalled = pubs_done && last_seen.1.elapsed() > STALL;
            if stalled || Instant::now() > deadline + STALL + Duration::from_secs(5) {
                shared.stop.store(true, Relaxed);
            }
        }
        let pub_results: Vec<PubResult> = pub_handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "publisher thread panicked".to_string())
            })
            .collect::<Result<_, _>>()?;
        let sub_results: Vec<SubResult> = sub_handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "subscriber thread panicked".to_string())
            })
            .collect::<Result<_, _>>()?;

        let sent: u64 = pub_results.iter().map(|r| r.sent).sum();
        let received: u64 = sub_results.iter().map(|r| r.received).sum();
        let end = if nsubs == 0 {
            pub_results.iter().map(|r| r.done_at).max()
        } else {
            sub_results.iter().filter_map(|r| r.last_rx).max()
        }
        .unwrap_or_else(Instant::now);
        let wall = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
        let mut out = Outcome {
            name: spec.name(),
            scenario: spec.kind.as_str().into(),
            size: spec.size,
            publishers: spec.pubs,
            subscribers: nsubs,
            sent,
            received,
            expected: sent * if nsubs == 0 { 0 } else { expected_per_msg },
            wall_secs: wall,
            ..Default::default()
        };
        out.per_subscriber = sub_results.iter().map(|r| r.received).collect();
        let counted = if nsubs == 0 { sent } else { received };
        out.rate = counted as f64 / wall;
        out.mb_per_sec = out.rate * spec.size as f64 / 1e6;
        let workers: Vec<Duration> = pub_results
            .iter()
            .map(|r| r.cpu)
            .chain(sub_results.iter().map(|r| r.cpu))
            .collect();
        out.set_cpu(&sample, &workers, counted);

        for (i, r) in pub_results.iter().enumerate() {
            if let Some(e) = &r.error {
                out.errors.push(format!("publisher {i}: {e}"));
            }
            if r.time_bound {
                out.notes.push(format!(
                    "time bound ({} s) hit: publisher {i} sent {} of its messages",
                    ctx.time.as_secs_f64(),
                    r.sent
                ));
            }
        }
        if nsubs > 0 && received != out.expected {
            out.errors.push(format!(
                "{} deliveries of {} expected ({} {})",
                received,
                out.expected,
                received.abs_diff(out.expected),
                if received < out.expected {
                    "lost"
                } else {
                    "extra"
                }
            ));
        }
        for (i, r) in sub_results.iter().enumerate() {
            if let Some(e) = &r.error {
                out.errors.push(format!("subscriber {i}: {e}"));
            }
            if r.out_of_order > 0 {
                out.errors.push(format!(
                    "subscriber {i}: {} messages out of sequence",
                    r.out_of_order
                ));
            }
            if r.wrong_size > 0 {
                out.errors.push(format!(
                    "subscriber {i}: {} messages of the wrong size",
                    r.wrong_size
                ));
            }
            if r.dups > 0 {
                out.errors
                    .push(format!("subscriber {i}: {} duplicate deliveries", r.dups));
            }
        }
        if nsubs > 0 && !check {
            out.notes
                .push("payload < 8 B or several publishers: sequence not checked".into());
        }
        out.ok = out.errors.is_empty();
        Ok(out)
    })
}
