//! The connections of a many-client scenario and the worker threads that poll them: each
//! connection plays one role (publisher, subscriber, requester, responder), reads and
//! parses what the server sends, and writes its warm-ups, batches, requests and replies as
//! its socket takes them.

use std::io::{ErrorKind, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{CrowdSpec, Shared, MEASURE, STOP, WARM};
use crate::frames::{Frames, Msg, Sink};
use crate::hist::Histogram;
use crate::procfs;

/// Bytes of PUB frames prepared per batch, per publisher.
const BATCH_BYTES: usize = 64 * 1024;
/// The header block of warm-up messages.
const WARM_HEADERS: &[u8] = b"NATS/1.0\r\n\r\n";
/// Round trips each requester makes before measuring.
const WARM_ROUNDS: u64 = 20;
/// A request without a reply for this long is sent again (counted as lost when measured).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Reads per connection per loop turn, so that one busy socket does not starve the rest.
const READS_PER_TURN: usize = 4;

pub(super) struct PubState {
    pub(super) idx: usize,
    pub(super) share: u64,
    pub(super) sent: u64,
    pub(super) dests: Vec<usize>,
    pub(super) window_msgs: u64,
    pub(super) frame_len: usize,
    pub(super) seq_at: usize,
    pub(super) per_batch: usize,
    pub(super) batch: Vec<u8>,
    /// Bytes of `batch` that are ready to go, and how many of them went.
    pub(super) batch_len: usize,
    pub(super) batch_at: usize,
    pub(super) warm_frame: Vec<u8>,
    pub(super) last_warm: Option<Instant>,
    pub(super) deadline: Option<Instant>,
    pub(super) time_bound: bool,
    pub(super) done: bool,
}

#[derive(Default)]
pub(super) struct SubState {
    pub(super) idx: usize,
    pub(super) npubs: usize,
    pub(super) size: usize,
    pub(super) counts: Vec<u64>,
    pub(super) next_seq: Vec<u64>,
    pub(super) warmed: Vec<bool>,
    pub(super) warmed_count: u64,
    /// `warmed_count` as last stored in [`Shared::warmed`].
    pub(super) warmed_shown: u64,
    pub(super) touched: Vec<usize>,
    pub(super) total: u64,
    pub(super) out_of_order: u64,
    pub(super) wrong_size: u64,
    pub(super) foreign: u64,
    pub(super) last_rx: Option<Instant>,
}

pub(super) struct ReqState {
    pub(super) idx: usize,
    pub(super) share: u64,
    pub(super) subject: String,
    pub(super) inbox: String,
    pub(super) payload: Vec<u8>,
    pub(super) next_n: u64,
    /// The request in flight: its number, when it went, whether it is measured.
    pub(super) outstanding: Option<(u64, Instant, bool)>,
    pub(super) retry_at: Option<Instant>,
    pub(super) warm_done: u64,
    pub(super) ready: bool,
    pub(super) done: u64,
    pub(super) lost: u64,
    pub(super) hist: Histogram,
    pub(super) deadline: Option<Instant>,
    pub(super) finished_at: Option<Instant>,
}

pub(super) enum Role {
    Pub(Box<PubState>),
    Sub(Box<SubState>),
    Requester(Box<ReqState>),
    Responder { payload: Vec<u8>, answered: u64 },
}

pub(super) struct Peer {
    pub(super) stream: TcpStream,
    pub(super) frames: Frames,
    pub(super) role: Role,
    /// Control output (PONGs, warm-ups, requests, replies) and how much of it went.
    pub(super) out: Vec<u8>,
    pub(super) out_at: usize,
    pub(super) readable: bool,
    pub(super) writable: bool,
    pub(super) error: Option<String>,
}

/// What a connection's reader reports, by role.
pub(super) struct RoleSink<'a> {
    pub(super) role: &'a mut Role,
    pub(super) out: &'a mut Vec<u8>,
    pub(super) err: Option<String>,
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

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<usize> {
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
    pub(super) fn new(
        idx: usize,
        share: u64,
        spec: &CrowdSpec,
        dests: Vec<usize>,
        window: u64,
    ) -> PubState {
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
pub(super) fn worker(
    mut peers: Vec<Peer>,
    shared: &Shared,
) -> Result<(Vec<Peer>, Duration), String> {
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
