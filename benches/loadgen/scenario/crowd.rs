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

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::client::Conn;
use crate::frames::{Frames, Msg, Sink};
use crate::hist::Histogram;
use crate::procfs::{self, CpuSample};
use crate::scenario::{size_label, Ctx, Latency, Outcome};

/// Bytes of PUB frames prepared per batch, per publisher.
const BATCH_BYTES: usize = 64 * 1024;
/// Read buffer per connection.
const READ_BUFFER: usize = 256 * 1024;
/// Payload bytes the readers look at: a warm-up's 12 header bytes and the publisher index.
const HEAD: usize = 24;
/// The header block of warm-up messages.
const WARM_HEADERS: &[u8] = b"NATS/1.0\r\n\r\n";
const WARMUP_TIMEOUT: Duration = Duration::from_secs(10);
/// After the publishers finished, how long deliveries may stop before the run ends.
const STALL: Duration = Duration::from_secs(2);
/// Round trips each requester makes before measuring.
const WARM_ROUNDS: u64 = 20;
/// A request without a reply for this long is sent again (counted as lost when measured).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Reads per connection per loop turn, so that one busy socket does not starve the rest.
const READS_PER_TURN: usize = 4;

const WARM: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

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

struct PubState {
    idx: usize,
    share: u64,
    sent: u64,
    dests: Vec<usize>,
    window_msgs: u64,
    frame_len: usize,
    seq_at: usize,
    per_batch: usize,
    batch: Vec<u8>,
    /// Bytes of `batch` that are ready to go, and how many of them went.
    batch_len: usize,
    batch_at: usize,
    warm_frame: Vec<u8>,
    last_warm: Option<Instant>,
    deadline: Option<Instant>,
    time_bound: bool,
    done: bool,
}

#[derive(Default)]
struct SubState {
    idx: usize,
    npubs: usize,
    size: usize,
    counts: Vec<u64>,
    next_seq: Vec<u64>,
    warmed: Vec<bool>,
    warmed_count: u64,
    /// `warmed_count` as last stored in [`Shared::warmed`].
    warmed_shown: u64,
    touched: Vec<usize>,
    total: u64,
    out_of_order: u64,
    wrong_size: u64,
    foreign: u64,
    last_rx: Option<Instant>,
}

struct ReqState {
    idx: usize,
    share: u64,
    subject: String,
    inbox: String,
    payload: Vec<u8>,
    next_n: u64,
    /// The request in flight: its number, when it went, whether it is measured.
    outstanding: Option<(u64, Instant, bool)>,
    retry_at: Option<Instant>,
    warm_done: u64,
    ready: bool,
    done: u64,
    lost: u64,
    hist: Histogram,
    deadline: Option<Instant>,
    finished_at: Option<Instant>,
}

enum Role {
    Pub(Box<PubState>),
    Sub(Box<SubState>),
    Requester(Box<ReqState>),
    Responder { payload: Vec<u8>, answered: u64 },
}

struct Peer {
    stream: TcpStream,
    frames: Frames,
    role: Role,
    /// Control output (PONGs, warm-ups, requests, replies) and how much of it went.
    out: Vec<u8>,
    out_at: usize,
    readable: bool,
    writable: bool,
    error: Option<String>,
}

/// What a connection's reader reports, by role.
struct RoleSink<'a> {
    role: &'a mut Role,
    out: &'a mut Vec<u8>,
    err: Option<String>,
}

impl Sink for RoleSink<'_> {
    fn msg(&mut self, m: &Msg<'_>) {
        match &mut *self.role {
            Role::Sub(s) => s.on_msg(m),
            Role::Requester(r) => r.on_msg(m),
            Role::Responder { payload, answered } => {
                if let Some(reply) = m.reply {
                    *answered += 1;
                    self.out.extend_from_slice(b"PUB ");
                    self.out.extend_from_slice(reply);
                    self.out
                        .extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
                    self.out.extend_from_slice(payload);
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            Role::Pub(_) => {}
        }
    }
    fn ping(&mut self) {
        self.out.extend_from_slice(b"PONG\r\n");
    }
    fn err(&mut self, text: &[u8]) {
        self.err
            .get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
    }
    fn wants_subject(&self) -> bool {
        matches!(self.role, Role::Requester(_) | Role::Responder { .. })
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    let v = b.get(at..at + 2)?;
    Some(u16::from_le_bytes([v[0], v[1]]) as usize)
}

impl SubState {
    fn on_msg(&mut self, m: &Msg<'_>) {
        if m.headers {
            if let Some(p) = u16_at(m.head, WARM_HEADERS.len()) {
                if let Some(w) = self.warmed.get_mut(p) {
                    if !*w {
                        *w = true;
                        self.warmed_count += 1;
                    }
                }
            }
            return;
        }
        self.total += 1;
        if m.size != self.size {
            self.wrong_size += 1;
        }
        let (Some(seq), Some(p)) = (m.head.get(..8), u16_at(m.head, 8)) else {
            self.foreign += 1;
            return;
        };
        if p >= self.npubs {
            self.foreign += 1;
            return;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(seq);
        let seq = u64::from_le_bytes(b);
        if seq != self.next_seq[p] {
            self.out_of_order += 1;
        }
        self.next_seq[p] = seq.wrapping_add(1);
        if !self.touched.contains(&p) {
            self.touched.push(p);
        }
        self.counts[p] += 1;
    }
}

impl ReqState {
    fn on_msg(&mut self, m: &Msg<'_>) {
        let Some((n, sent_at, measured)) = self.outstanding else {
            return;
        };
        if m.headers {
            // A status (503 no responders): the responders' interest has not arrived yet.
            self.outstanding = None;
            self.retry_at = Some(Instant::now() + Duration::from_millis(2));
            return;
        }
        let number = m
            .subject
            .rsplit(|&b| b == b'.')
            .next()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<u64>().ok());
        if number != Some(n) {
            return;
        }
        self.outstanding = None;
        if measured {
            self.hist.record(sent_at.elapsed().as_nanos() as u64);
            self.done += 1;
        } else {
            self.warm_done += 1;
        }
    }

    fn request(&mut self, out: &mut Vec<u8>, measured: bool) {
        let n = self.next_n;
        self.next_n += 1;
        out.extend_from_slice(
            format!(
                "PUB {} {}.{n} {}\r\n",
                self.subject,
                self.inbox,
                self.payload.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(b"\r\n");
        self.outstanding = Some((n, Instant::now(), measured));
    }
}

impl PubState {
    /// Publisher `idx` of `spec`, sending `share` messages at most `window` bytes ahead of
    /// the slowest of `dests` (0: unlimited).
    fn new(idx: usize, share: u64, spec: &CrowdSpec, dests: Vec<usize>, window: u64) -> PubState {
        let subject = spec.pub_subject(idx);
        let mut frame = format!("PUB {subject} {}\r\n", spec.size).into_bytes();
        let seq_at = frame.len();
        frame.resize(seq_at + spec.size, b'n');
        frame[seq_at + 8..seq_at + 10].copy_from_slice(&(idx as u16).to_le_bytes());
        frame.extend_from_slice(b"\r\n");
        let per_batch = (BATCH_BYTES / frame.len()).max(1);
        let mut batch = Vec::with_capacity(per_batch * frame.len());
        for _ in 0..per_batch {
            batch.extend_from_slice(&frame);
        }
        let mut warm_frame = format!(
            "HPUB {subject} {} {}\r\n",
            WARM_HEADERS.len(),
            WARM_HEADERS.len() + spec.size
        )
        .into_bytes();
        warm_frame.extend_from_slice(WARM_HEADERS);
        let body = warm_frame.len();
        warm_frame.resize(body + spec.size, b'w');
        warm_frame[body..body + 2].copy_from_slice(&(idx as u16).to_le_bytes());
        warm_frame.extend_from_slice(b"\r\n");
        PubState {
            idx,
            share,
            sent: 0,
            dests,
            window_msgs: if window == 0 {
                u64::MAX
            } else {
                (window / frame.len() as u64).max(1)
            },
            frame_len: frame.len(),
            seq_at,
            per_batch,
            batch,
            batch_len: 0,
            batch_at: 0,
            warm_frame,
            last_warm: None,
            deadline: None,
            time_bound: false,
            done: share == 0,
        }
    }

    /// Fills the next batch with as many messages as the share and the window allow;
    /// false if none may go now.
    fn refill(&mut self, shared: &Shared) -> bool {
        let slowest = self
            .dests
            .iter()
            .map(|&s| shared.got(s, self.idx))
            .min()
            .unwrap_or(self.sent);
        let allowed = (slowest + self.window_msgs).saturating_sub(self.sent);
        let k = (self.share - self.sent)
            .min(allowed)
            .min(self.per_batch as u64) as usize;
        if k == 0 {
            return false;
        }
        for i in 0..k {
            let at = i * self.frame_len + self.seq_at;
            self.batch[at..at + 8].copy_from_slice(&(self.sent + i as u64).to_le_bytes());
        }
        self.sent += k as u64;
        self.batch_len = k * self.frame_len;
        self.batch_at = 0;
        true
    }
}

impl Peer {
    /// Writes pending control output; false when the socket took less than all of it.
    fn flush_out(&mut self) -> bool {
        while self.out_at < self.out.len() {
            match self.stream.write(&self.out[self.out_at..]) {
                Ok(0) => {
                    self.error = Some("server closed the connection".into());
                    return false;
                }
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.writable = false;
                    return false;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(format!("write: {e}"));
                    return false;
                }
            }
        }
        self.out.clear();
        self.out_at = 0;
        true
    }

    fn read(&mut self) {
        for _ in 0..READS_PER_TURN {
            match self.frames.read_from(&mut self.stream) {
                Ok(0) => {
                    self.error = Some("server closed the connection".into());
                    return;
                }
                Ok(_) => {
                    let before = match &self.role {
                        Role::Sub(s) => s.total,
                        _ => 0,
                    };
                    let mut sink = RoleSink {
                        role: &mut self.role,
                        out: &mut self.out,
                        err: None,
                    };
                    if let Err(e) = self.frames.parse(&mut sink) {
                        self.error = Some(e.to_string());
                        return;
                    }
                    if let Some(e) = sink.err {
                        self.error = Some(format!("server sent {e}"));
                        return;
                    }
                    if let Role::Sub(s) = &mut self.role {
                        if s.total != before {
                            s.last_rx = Some(Instant::now());
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(format!("read: {e}"));
                    return;
                }
            }
        }
    }

    /// Publishes measured batches while the socket and the window allow.
    fn publish(&mut self, shared: &Shared) {
        let Role::Pub(p) = &mut self.role else {
            return;
        };
        while self.writable && self.error.is_none() {
            if p.batch_at == p.batch_len {
                if p.done {
                    return;
                }
                if p.deadline.is_some_and(|d| Instant::now() >= d) {
                    p.time_bound = true;
                    p.done = true;
                    shared.pubs_done.fetch_add(1, Relaxed);
                    return;
                }
                if !p.refill(shared) {
                    return;
                }
            }
            match self.stream.write(&p.batch[p.batch_at..p.batch_len]) {
                Ok(0) => self.error = Some("server closed the connection".into()),
                Ok(n) => {
                    p.batch_at += n;
                    if p.batch_at == p.batch_len {
                        shared.sent[p.idx].store(p.sent, Relaxed);
                        if p.sent == p.share {
                            p.done = true;
                            shared.pubs_done.fetch_add(1, Relaxed);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.error = Some(format!("publish: {e}")),
            }
        }
    }

    /// One loop turn's work besides reading: progress for the coordinator, warm-ups,
    /// requests, output, publishing.
    fn turn(&mut self, shared: &Shared, phase: u8) {
        let now = Instant::now();
        match &mut self.role {
            Role::Pub(p) => {
                if phase == WARM {
                    if p.last_warm
                        .is_none_or(|t| now - t >= Duration::from_millis(2))
                    {
                        p.last_warm = Some(now);
                        self.out.extend_from_slice(&p.warm_frame);
                    }
                } else if phase == MEASURE && p.deadline.is_none() {
                    p.deadline = Some(now + shared.time);
                }
            }
            Role::Sub(s) => {
                for &p in &s.touched {
                    shared.got[s.idx * s.npubs + p].store(s.counts[p], Relaxed);
                }
                s.touched.clear();
                if s.warmed_count != s.warmed_shown {
                    s.warmed_shown = s.warmed_count;
                    shared.warmed[s.idx].store(s.warmed_count, Relaxed);
                }
            }
            Role::Requester(r) => r.turn(shared, phase, now, &mut self.out),
            Role::Responder { .. } => {}
        }
        let mid_batch = matches!(&self.role, Role::Pub(p) if p.batch_at < p.batch_len);
        if self.writable && !self.out.is_empty() && !mid_batch {
            self.flush_out();
        }
        if phase == MEASURE {
            self.publish(shared);
        }
    }

    /// Whether the next turn can make progress without waiting for the poller.
    fn has_work(&self, phase: u8) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.readable {
            return true;
        }
        match &self.role {
            Role::Pub(p) => phase == MEASURE && self.writable && !p.done,
            _ => self.writable && self.out_at < self.out.len(),
        }
    }
}

impl ReqState {
    fn turn(&mut self, shared: &Shared, phase: u8, now: Instant, out: &mut Vec<u8>) {
        shared.sent[self.idx].store(self.done, Relaxed);
        if self
            .outstanding
            .is_some_and(|(_, at, _)| now - at > REPLY_TIMEOUT)
        {
            if let Some((_, _, true)) = self.outstanding {
                self.lost += 1;
            }
            self.outstanding = None;
        }
        if phase == WARM && !self.ready && self.warm_done >= WARM_ROUNDS {
            self.ready = true;
            shared.ready.fetch_add(1, Relaxed);
        }
        if phase == MEASURE && self.deadline.is_none() {
            self.deadline = Some(now + shared.time);
        }
        let waiting = self.retry_at.is_some_and(|t| now < t);
        if self.outstanding.is_some() || waiting || self.finished_at.is_some() {
            return;
        }
        self.retry_at = None;
        match phase {
            WARM if !self.ready => self.request(out, false),
            MEASURE => {
                let over = self.deadline.is_some_and(|d| now >= d);
                if self.done + self.lost >= self.share || over {
                    self.finished_at = Some(now);
                    shared.pubs_done.fetch_add(1, Relaxed);
                } else {
                    self.request(out, true);
                }
            }
            _ => {}
        }
    }
}

/// A worker thread: polls its connections until the coordinator says stop. Returns them
/// with the CPU this thread used in the measured phase.
fn worker(mut peers: Vec<Peer>, shared: &Shared) -> Result<(Vec<Peer>, Duration), String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    for (i, p) in peers.iter_mut().enumerate() {
        poll.registry()
            .register(
                &mut p.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("register: {e}"))?;
    }
    let mut events = Events::with_capacity(256);
    let mut measured_from = None;
    loop {
        let phase = shared.phase.load(Relaxed);
        if phase == STOP {
            break;
        }
        if phase == MEASURE && measured_from.is_none() {
            measured_from = Some(procfs::thread_cpu());
        }
        let busy = peers.iter().any(|p| p.has_work(phase));
        let timeout = if busy {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
        for ev in events.iter() {
            if let Some(p) = peers.get_mut(ev.token().0) {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    p.readable = true;
                }
                if ev.is_writable() {
                    p.writable = true;
                }
            }
        }
        for p in &mut peers {
            if p.error.is_some() {
                continue;
            }
            if p.readable {
                p.read();
            }
            p.turn(shared, phase);
        }
    }
    let cpu = measured_from.map_or(Duration::ZERO, |c| procfs::thread_cpu().saturating_sub(c));
    Ok((peers, cpu))
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
