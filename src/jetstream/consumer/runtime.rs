//! A consumer's moving parts, as nats-server's `consumer` keeps them: where it is in its
//! stream (`delivered`, `ack_floor`), what was delivered and not acknowledged yet (with its
//! ack deadline and delivery count), what is due for redelivery, the waiting pull requests,
//! and for push consumers the interest in the deliver subject, heartbeats and flow control.
//! It reads its stream and writes messages into a [`Sink`]; the service decides when.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::config::{AckPolicy, ConsumerConfig, DeliverPolicy};
use super::pull::PullRequest;
use crate::jetstream::store::StoredMsg;
use crate::jetstream::stream::Stream;
use crate::subject;

/// nats-server's flow-control window: starts at 2 MiB, doubles on each answer up to 32 MiB.
const FC_START: u64 = 2 << 20;
const FC_MAX: u64 = 32 << 20;
/// Messages a push consumer sends per round before others get their turn.
const PUSH_BURST: usize = 4096;

/// A consumer and a stream sequence (`delivered`, `ack_floor`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeqPair {
    pub consumer_seq: u64,
    pub stream_seq: u64,
    /// When it last moved (ns since the epoch; 0: never).
    #[serde(default)]
    pub last_active: i64,
}

/// A delivered message waiting for its ack.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Pending {
    /// The consumer sequence of its last delivery.
    pub dseq: u64,
    /// When it was last delivered (ns).
    pub ts: i64,
    /// When it is redelivered without an ack (ns).
    #[serde(skip)]
    pub deadline: i64,
}

/// A message to send.
pub struct Out {
    /// Where it goes.
    pub subject: Vec<u8>,
    /// The stored subject a delivered message shows (empty: `subject`).
    pub shown_as: Vec<u8>,
    pub reply: Vec<u8>,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Where a consumer's messages go.
pub type Sink = Vec<Out>;

/// What survives a restart of a durable consumer (`o.dat`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedState {
    pub delivered: SeqPair,
    pub ack_floor: SeqPair,
    /// Stream sequence → pending.
    pub pending: Vec<(u64, Pending)>,
    /// Stream sequence → deliveries so far, for messages delivered more than once.
    pub redelivered: Vec<(u64, u64)>,
    /// Stream sequences of a `last_per_subject` start not delivered yet.
    #[serde(default)]
    pub skip: Vec<u64>,
    pub next: u64,
}

/// An acknowledgement kind (the body of a message to an ack subject).
#[derive(Debug, Clone, PartialEq)]
pub enum AckKind {
    Ack,
    Nak(Option<i64>),
    Progress,
    Next(Vec<u8>),
    Term(String),
}

impl AckKind {
    /// nats-server's `processAck` body forms; anything else is an ack.
    pub fn parse(body: &[u8]) -> AckKind {
        let text = String::from_utf8_lossy(body);
        let t = text.trim_start();
        if let Some(rest) = t.strip_prefix("-NAK") {
            return AckKind::Nak(nak_delay(rest.trim()));
        }
        if t.starts_with("+WPI") {
            return AckKind::Progress;
        }
        if let Some(rest) = t.strip_prefix("+NXT") {
            return AckKind::Next(rest.trim().as_bytes().to_vec());
        }
        if let Some(rest) = t.strip_prefix("+TERM") {
            return AckKind::Term(rest.trim().to_string());
        }
        AckKind::Ack
    }
}

/// `-NAK {"delay":ns}` or `-NAK 5s`; a value that does not read is a plain NAK.
fn nak_delay(rest: &str) -> Option<i64> {
    if rest.is_empty() {
        return None;
    }
    if rest.starts_with('{') {
        #[derive(Deserialize)]
        struct Opts {
            #[serde(default)]
            delay: i64,
        }
        return serde_json::from_str::<Opts>(rest)
            .ok()
            .map(|o| o.delay)
            .filter(|d| *d > 0);
    }
    crate::config::conf::parse_duration_nanos(rest)
        .ok()
        .filter(|d| *d > 0)
}

/// The tokens of an ack subject: delivery count, stream seq, consumer seq (v1: 9 tokens,
/// v2: 11 or more).
pub fn ack_tokens(subject: &[u8]) -> Option<(u64, u64, u64)> {
    let text = std::str::from_utf8(subject).ok()?;
    let t: Vec<&str> = text.split('.').collect();
    let base = match t.len() {
        9 => 4,
        n if n >= 11 => 6,
        _ => return None,
    };
    let n = |i: usize| t.get(base + i).and_then(|s| s.parse::<u64>().ok());
    Some((n(0)?, n(1)?, n(2)?))
}

pub struct Consumer {
    pub name: String,
    pub stream_name: String,
    pub account: u32,
    pub stream: u32,
    pub cfg: ConsumerConfig,
    pub created: i64,
    pub delivered: SeqPair,
    pub ack_floor: SeqPair,
    /// The next stream sequence to look at for new messages.
    next: u64,
    /// `last_per_subject`: the sequences still to deliver before `next`.
    skip: VecDeque<u64>,
    pub pending: BTreeMap<u64, Pending>,
    /// No pending message's ack deadline is earlier than this (ns; `i64::MAX`: none), so
    /// an idle consumer is not scanned.
    earliest_deadline: i64,
    /// Deliveries of messages delivered more than once.
    deliveries: HashMap<u64, u64>,
    redeliver: BTreeSet<u64>,
    pub waiting: VecDeque<PullRequest>,
    /// Push: someone listens on the deliver subject.
    pub listening: bool,
    /// When something last went to the deliver subject (a heartbeat counts).
    last_push: i64,
    /// Push flow control: bytes sent since the last answered request, the window, and the
    /// unanswered request's subject.
    fc_outstanding: u64,
    fc_window: u64,
    pub fc_pending: Option<String>,
    /// Messages matching the filters after `next` (with the skip list), when known.
    num_pending: Option<u64>,
    /// When the consumer was last used (a pull request, interest, an ack), for
    /// `inactive_threshold`.
    pub last_used: i64,
    pub paused_until: i64,
    /// Its state changed since it was last saved.
    pub dirty: bool,
    /// Events for the advisories the service sends.
    pub events: Vec<Event>,
    /// A push consumer's create request, answered once reactor 0 has said whether its
    /// deliver subject has interest (the answer shows `push_bound`).
    pub awaiting_interest: Option<crate::jetstream::service::InMsg>,
    /// The last look for a message stopped at `max_ack_pending`.
    blocked: bool,
}

/// What a consumer's advisories report.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message ran out of deliveries.
    MaxDeliveries { stream_seq: u64, deliveries: u64 },
    Nak {
        consumer_seq: u64,
        stream_seq: u64,
        deliveries: u64,
    },
    Terminated {
        consumer_seq: u64,
        stream_seq: u64,
        deliveries: u64,
        reason: String,
    },
}

impl Consumer {
    /// A new consumer at its starting position.
    pub fn new(
        name: String,
        account: u32,
        stream_id: u32,
        stream: &mut Stream,
        cfg: ConsumerConfig,
        now: i64,
    ) -> Consumer {
        let mut c = Consumer::fresh(name, account, stream_id, stream, cfg, now, now);
        c.select_start(stream);
        c
    }

    /// A consumer read back from its files.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        name: String,
        account: u32,
        stream_id: u32,
        stream: &Stream,
        cfg: ConsumerConfig,
        created: i64,
        saved: SavedState,
        now: i64,
    ) -> Consumer {
        let ack_wait = cfg.ack_wait.max(0);
        let mut c = Consumer::fresh(name, account, stream_id, stream, cfg, created, now);
        c.delivered = saved.delivered;
        c.ack_floor = saved.ack_floor;
        c.next = saved.next.max(1);
        c.skip = saved.skip.into();
        // What was pending is redelivered one `ack_wait` after the restart.
        c.pending = saved
            .pending
            .into_iter()
            .map(|(s, p)| {
                (
                    s,
                    Pending {
                        deadline: now + ack_wait,
                        ..p
                    },
                )
            })
            .collect();
        c.earliest_deadline = now + ack_wait;
        c.deliveries = saved.redelivered.into_iter().collect();
        c.dirty = false;
        c
    }

    /// A consumer at the start of the stream with nothing delivered, waiting or pending.
    fn fresh(
        name: String,
        account: u32,
        stream_id: u32,
        stream: &Stream,
        cfg: ConsumerConfig,
        created: i64,
        now: i64,
    ) -> Consumer {
        Consumer {
            name,
            stream_name: stream.cfg.name.clone(),
            account,
            stream: stream_id,
            paused_until: cfg
                .pause_until
                .as_deref()
                .and_then(crate::jetstream::json::parse_rfc3339)
                .unwrap_or(0),
            cfg,
            created,
            delivered: SeqPair::default(),
            ack_floor: SeqPair::default(),
            next: 1,
            skip: VecDeque::new(),
            pending: BTreeMap::new(),
            earliest_deadline: i64::MAX,
            deliveries: HashMap::new(),
            redeliver: BTreeSet::new(),
            waiting: VecDeque::new(),
            listening: false,
            last_push: now,
            fc_outstanding: 0,
            fc_window: FC_START,
            fc_pending: None,
            num_pending: None,
            last_used: now,
            dirty: true,
            events: Vec::new(),
            awaiting_interest: None,
            blocked: false,
        }
    }

    pub fn saved_state(&self) -> SavedState {
        SavedState {
            delivered: self.delivered,
            ack_floor: self.ack_floor,
            pending: self.pending.iter().map(|(s, p)| (*s, *p)).collect(),
            redelivered: self.deliveries.iter().map(|(s, n)| (*s, *n)).collect(),
            skip: self.skip.iter().copied().collect(),
            next: self.next,
        }
    }

    fn filters(&self) -> Vec<String> {
        self.cfg.filters().into_iter().map(str::to_string).collect()
    }

    /// Its filters take messages on `subj`.
    pub fn takes(&self, subj: &[u8]) -> bool {
        let f = self.cfg.filters();
        f.is_empty() || f.iter().any(|f| subject::matches(f.as_bytes(), subj))
    }

    /// The first message at or after `seq` that the filters take.
    fn next_match(&self, stream: &mut Stream, mut seq: u64) -> Option<StoredMsg> {
        let filters = self.cfg.filters();
        let single = if filters.len() == 1 {
            filters[0].as_bytes().to_vec()
        } else {
            Vec::new()
        };
        loop {
            let m = stream.next_matching(seq, &single).ok().flatten()?;
            if self.takes(&m.subject) {
                return Some(m);
            }
            seq = m.seq + 1;
        }
    }

    /// nats-server's `selectStartingSeqNo`.
    fn select_start(&mut self, stream: &mut Stream) {
        let st = stream.store.state();
        let last = st.last_seq;
        let start = match self.cfg.deliver_policy {
            DeliverPolicy::All => st.first_seq.max(1),
            DeliverPolicy::Last => {
                let filters = self.filters();
                let l = if filters.is_empty() {
                    last
                } else {
                    filters
                        .iter()
                        .map(|f| stream.last_seq_matching(f.as_bytes()))
                        .max()
                        .unwrap_or(0)
                };
                if l == 0 {
                    last + 1
                } else {
                    l
                }
            }
            DeliverPolicy::New => last + 1,
            DeliverPolicy::ByStartSequence => self.cfg.opt_start_seq.max(1),
            DeliverPolicy::ByStartTime => {
                let ts = self
                    .cfg
                    .opt_start_time
                    .as_deref()
                    .and_then(crate::jetstream::json::parse_rfc3339)
                    .unwrap_or(0);
                stream.seq_from_time(ts)
            }
            DeliverPolicy::LastPerSubject => {
                let mut filters = self.filters();
                if filters.is_empty() {
                    filters.push(">".into());
                }
                let seqs = stream.multi_last_seqs(&filters, last).unwrap_or_default();
                self.skip = seqs.into();
                last + 1
            }
        };
        let first_match = match self.skip.front() {
            Some(&s) => s,
            None if self.cfg.filters().is_empty() => start.max(st.first_seq),
            None => self
                .next_match(stream, start)
                .map_or(last.max(start.saturating_sub(1)) + 1, |m| m.seq),
        };
        self.next = if self.skip.is_empty() {
            first_match
        } else {
            last + 1
        };
        // The floor is where the policy starts, not the first message the filters take
        // (nats-server's `sseq - 1`).
        let floor = match self.cfg.deliver_policy {
            DeliverPolicy::LastPerSubject => first_match,
            _ => start,
        }
        .saturating_sub(1);
        self.delivered.stream_seq = floor;
        self.ack_floor.stream_seq = floor;
    }

    /// nats-server's `resetStartingSeq`: delivery starts again at `seq` (0: just past the
    /// ack floor), with nothing pending; the sequence it starts at.
    pub fn reset(&mut self, stream: &mut Stream, seq: u64, now: i64) -> Result<u64, String> {
        let seq = if seq == 0 {
            self.ack_floor.stream_seq + 1
        } else {
            match self.cfg.deliver_policy {
                DeliverPolicy::All => seq,
                DeliverPolicy::ByStartSequence if seq < self.cfg.opt_start_seq => {
                    return Err("below start seq".into())
                }
                DeliverPolicy::ByStartSequence => seq,
                DeliverPolicy::ByStartTime => {
                    let ts = self
                        .cfg
                        .opt_start_time
                        .as_deref()
                        .and_then(crate::jetstream::json::parse_rfc3339)
                        .unwrap_or(0);
                    if seq < stream.seq_from_time(ts) {
                        return Err("below start time".into());
                    }
                    seq
                }
                _ => return Err("not allowed".into()),
            }
        }
        .max(1);
        self.pending.clear();
        self.deliveries.clear();
        self.redeliver.clear();
        self.skip.clear();
        self.next = seq;
        self.num_pending = None;
        self.delivered = SeqPair {
            consumer_seq: 0,
            stream_seq: seq - 1,
            last_active: 0,
        };
        self.ack_floor = self.delivered;
        self.last_used = now;
        self.dirty = true;
        Ok(seq)
    }

    /// Messages still to deliver (`num_pending`).
    pub fn num_pending(&mut self, stream: &mut Stream) -> u64 {
        if let Some(n) = self.num_pending {
            return n;
        }
        let filters = self.cfg.filters();
        let n = if filters.len() <= 1 {
            let f = filters.first().map_or(&b""[..], |f| f.as_bytes()).to_vec();
            stream.num_pending(self.next, &f)
        } else {
            let mut n = 0;
            let mut seq = self.next;
            while let Some(m) = self.next_match(stream, seq) {
                n += 1;
                seq = m.seq + 1;
            }
            n
        };
        let n = n + self.skip.len() as u64;
        self.num_pending = Some(n);
        n
    }

    /// A message was stored in the stream.
    pub fn on_stored(&mut self, subj: &[u8]) {
        if self.num_pending.is_some() && self.takes(subj) {
            if let Some(n) = &mut self.num_pending {
                *n += 1;
            }
        }
    }

    /// Messages went from the stream otherwise than by publishing (purge, delete, limits).
    pub fn on_removed(&mut self) {
        self.num_pending = None;
    }

    fn acks(&self) -> bool {
        self.cfg.ack_policy != AckPolicy::None
    }

    /// How long a delivery waits for its ack: `backoff[deliveries - 1]` (the last repeats)
    /// or `ack_wait`.
    fn ack_wait_for(&self, deliveries: u64) -> i64 {
        if !self.cfg.backoff.is_empty() {
            let i = (deliveries.saturating_sub(1) as usize).min(self.cfg.backoff.len() - 1);
            return self.cfg.backoff[i];
        }
        self.cfg.ack_wait
    }

    /// The next message to deliver and its delivery count: redeliveries first, then the
    /// skip list, then new messages (stopping at `max_ack_pending`).
    fn next_msg(&mut self, stream: &mut Stream, now: i64) -> Option<(StoredMsg, u64)> {
        self.blocked = false;
        while let Some(seq) = self.redeliver.pop_first() {
            let dc = self.deliveries.get(&seq).copied().unwrap_or(1) + 1;
            if self.cfg.max_deliver > 0 && dc as i64 > self.cfg.max_deliver {
                // Out of deliveries: no longer pending, but the ack floor stays (and it
                // still counts as redelivered), as in nats-server.
                self.events.push(Event::MaxDeliveries {
                    stream_seq: seq,
                    deliveries: dc - 1,
                });
                if self.pending.remove(&seq).is_some() {
                    self.dirty = true;
                }
                continue;
            }
            match stream.store.load(seq) {
                Ok(Some(m)) => {
                    self.deliveries.insert(seq, dc);
                    return Some((m, dc));
                }
                _ => self.drop_pending(seq, now),
            }
        }
        if self.acks()
            && self.cfg.max_ack_pending > 0
            && self.pending.len() as i64 >= self.cfg.max_ack_pending
        {
            self.blocked = true;
            return None;
        }
        while let Some(seq) = self.skip.pop_front() {
            self.dirty = true;
            if let Some(n) = &mut self.num_pending {
                *n = n.saturating_sub(1);
            }
            if let Ok(Some(m)) = stream.store.load(seq) {
                return Some((m, 1));
            }
        }
        let m = self.next_match(stream, self.next)?;
        self.next = m.seq + 1;
        if let Some(n) = &mut self.num_pending {
            *n = n.saturating_sub(1);
        }
        Some((m, 1))
    }

    /// A message left pending without an ack (gone from the stream, out of deliveries,
    /// terminated): the ack floor moves past it when it was the oldest.
    fn drop_pending(&mut self, seq: u64, now: i64) {
        self.redeliver.remove(&seq);
        self.deliveries.remove(&seq);
        if self.pending.remove(&seq).is_some() {
            self.dirty = true;
            self.advance_floor(now);
        }
    }

    /// The ack floor after acks: everything below the oldest pending message (or all that
    /// was delivered).
    fn advance_floor(&mut self, now: i64) {
        match self.pending.iter().next() {
            Some((&sseq, p)) => {
                let (s, d) = (sseq - 1, p.dseq - 1);
                if s > self.ack_floor.stream_seq || d > self.ack_floor.consumer_seq {
                    self.ack_floor.stream_seq = self.ack_floor.stream_seq.max(s);
                    self.ack_floor.consumer_seq = self.ack_floor.consumer_seq.max(d);
                    self.ack_floor.last_active = now;
                }
            }
            None => {
                self.ack_floor.stream_seq = self.delivered.stream_seq;
                self.ack_floor.consumer_seq = self.delivered.consumer_seq;
                self.ack_floor.last_active = now;
            }
        }
    }

    /// The message as it goes out (headers only, when so configured) with its ack reply
    /// subject for delivery `dc`, and its size as pull `max_bytes` counts it.
    fn prepare(&mut self, stream: &mut Stream, m: StoredMsg, dc: u64) -> (Out, u64) {
        let dseq = self.delivered.consumer_seq + 1;
        let pending = self.num_pending(stream);
        let reply = format!(
            "$JS.ACK.{}.{}.{dc}.{}.{dseq}.{}.{pending}",
            self.stream_name, self.name, m.seq, m.ts
        )
        .into_bytes();
        let (headers, payload) = if self.cfg.headers_only {
            let size = m.payload.len().to_string();
            let h = crate::jetstream::headers::set(&m.headers, "Nats-Msg-Size", &size);
            (h, Vec::new())
        } else {
            (m.headers, m.payload)
        };
        let bytes = (m.subject.len() + reply.len() + headers.len() + payload.len()) as u64;
        let out = Out {
            subject: Vec::new(),
            shown_as: m.subject,
            reply,
            headers,
            payload,
        };
        (out, bytes)
    }

    /// Records the delivery of stream message `seq` (delivery `dc`) and sends it to `to`.
    fn deliver(&mut self, seq: u64, dc: u64, mut out: Out, to: &[u8], now: i64, sink: &mut Sink) {
        self.delivered.consumer_seq += 1;
        let dseq = self.delivered.consumer_seq;
        if seq > self.delivered.stream_seq {
            self.delivered.stream_seq = seq;
        }
        self.delivered.last_active = now;
        self.dirty = true;
        if self.acks() {
            let wait = self.ack_wait_for(dc);
            self.pending.insert(
                seq,
                Pending {
                    dseq,
                    ts: now,
                    deadline: now + wait,
                },
            );
            self.earliest_deadline = self.earliest_deadline.min(now + wait);
        } else {
            self.ack_floor.consumer_seq = self.delivered.consumer_seq;
            self.ack_floor.stream_seq = self.delivered.stream_seq;
        }
        out.subject = to.to_vec();
        sink.push(out);
    }

    /// Serves the waiting pull requests from what is available; `end` marks the end of
    /// what can be delivered now (no_wait requests are answered).
    pub fn serve_pulls(&mut self, stream: &mut Stream, now: i64, sink: &mut Sink) {
        if self.paused_until > now {
            return;
        }
        while let Some(mut req) = self.waiting.pop_front() {
            let mut done = false;
            while req.batch > 0 {
                let Some((m, dc)) = self.next_msg(stream, now) else {
                    break;
                };
                let seq = m.seq;
                let (out, size) = self.prepare(stream, m.clone(), dc);
                if req.max_bytes > 0 && size > req.max_bytes {
                    // Not for this request: back where it came from.
                    self.undo_take(&m, dc);
                    sink.push(status_to(
                        &req.reply,
                        &format!(
                            "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: {}\r\nNats-Pending-Bytes: {}\r\n\r\n",
                            req.batch, req.max_bytes
                        ),
                    ));
                    done = true;
                    break;
                }
                let reply = req.reply.clone();
                self.deliver(seq, dc, out, &reply, now, sink);
                req.delivered += 1;
                req.batch -= 1;
                req.last_sent = now;
                if req.max_bytes > 0 {
                    req.max_bytes = req.max_bytes.saturating_sub(size);
                    if req.max_bytes == 0 {
                        done = true;
                        break;
                    }
                }
            }
            if done {
                continue;
            }
            if req.batch == 0 {
                if req.max_bytes > 0 {
                    sink.push(status_to(
                        &req.reply,
                        &format!(
                            "NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: 0\r\nNats-Pending-Bytes: {}\r\n\r\n",
                            req.max_bytes
                        ),
                    ));
                }
                continue;
            }
            // At the end of what there is (not merely at `max_ack_pending`), a no-wait
            // request is done.
            if req.no_wait && (req.delivered > 0 || (!self.blocked && req.expires == 0)) {
                sink.push(status_to(&req.reply, "NATS/1.0 404 No Messages\r\n\r\n"));
                continue;
            }
            // Nothing more now: it waits (and so do the ones behind it).
            self.waiting.push_front(req);
            break;
        }
    }

    /// A message taken by [`Self::next_msg`] that could not be sent goes back.
    fn undo_take(&mut self, m: &StoredMsg, dc: u64) {
        if dc > 1 {
            self.redeliver.insert(m.seq);
            if let Some(d) = self.deliveries.get_mut(&m.seq) {
                *d -= 1;
            }
        } else if m.seq + 1 == self.next {
            self.next = m.seq;
            self.num_pending = None;
        } else {
            self.skip.push_front(m.seq);
            self.num_pending = None;
        }
    }

    /// Push: sends what is available while someone listens and flow control allows.
    pub fn serve_push(&mut self, stream: &mut Stream, now: i64, sink: &mut Sink) -> bool {
        if !self.listening || self.paused_until > now {
            return false;
        }
        let to = self.cfg.deliver_subject.clone().into_bytes();
        for _ in 0..PUSH_BURST {
            if self.cfg.flow_control
                && self.fc_pending.is_some()
                && self.fc_outstanding >= self.fc_window
            {
                return false;
            }
            let Some((m, dc)) = self.next_msg(stream, now) else {
                return false;
            };
            let seq = m.seq;
            let (out, bytes) = self.prepare(stream, m, dc);
            self.deliver(seq, dc, out, &to, now, sink);
            self.last_push = now;
            if self.cfg.flow_control {
                self.fc_outstanding += bytes;
                if self.fc_pending.is_none() && self.fc_outstanding >= self.fc_window / 2 {
                    let subject = format!(
                        "$JS.FC.{}.{}.{}",
                        self.stream_name,
                        self.name,
                        crate::jetstream::api::short_id(4)
                    );
                    sink.push(Out {
                        subject: to.clone(),
                        shown_as: Vec::new(),
                        reply: subject.clone().into_bytes(),
                        headers: b"NATS/1.0 100 FlowControl Request\r\n\r\n".to_vec(),
                        payload: Vec::new(),
                    });
                    self.fc_pending = Some(subject);
                }
            }
        }
        true
    }

    /// The answer to a flow-control request arrived.
    pub fn flow_control_answered(&mut self, subject: &[u8]) {
        if self.fc_pending.as_deref().map(str::as_bytes) == Some(subject) {
            self.fc_pending = None;
            self.fc_outstanding = 0;
            self.fc_window = (self.fc_window * 2).min(FC_MAX);
        }
    }

    /// An acknowledgement of (stream seq, consumer seq, deliveries).
    pub fn ack(&mut self, kind: &AckKind, sseq: u64, dseq: u64, now: i64) {
        self.last_used = now;
        match kind {
            AckKind::Ack | AckKind::Next(_) => match self.cfg.ack_policy {
                AckPolicy::All => {
                    let upto: Vec<u64> = self.pending.range(..=sseq).map(|(s, _)| *s).collect();
                    for s in upto {
                        self.pending.remove(&s);
                        self.deliveries.remove(&s);
                        self.redeliver.remove(&s);
                    }
                    self.dirty = true;
                    self.advance_floor(now);
                    self.ack_floor.last_active = now;
                }
                AckPolicy::None => {}
                _ => {
                    if self.pending.remove(&sseq).is_some() {
                        self.deliveries.remove(&sseq);
                        self.redeliver.remove(&sseq);
                        self.dirty = true;
                        self.advance_floor(now);
                        self.ack_floor.last_active = now;
                    }
                }
            },
            AckKind::Nak(delay) => {
                if let Some(p) = self.pending.get_mut(&sseq) {
                    if p.dseq != dseq {
                        return;
                    }
                    self.events.push(Event::Nak {
                        consumer_seq: p.dseq,
                        stream_seq: sseq,
                        deliveries: self.deliveries.get(&sseq).copied().unwrap_or(1),
                    });
                    match delay {
                        Some(d) => {
                            p.deadline = now + d;
                            self.earliest_deadline = self.earliest_deadline.min(now + d);
                        }
                        None => {
                            p.deadline = i64::MAX;
                            self.redeliver.insert(sseq);
                        }
                    }
                }
            }
            AckKind::Progress => {
                let wait = self.ack_wait_for(self.deliveries.get(&sseq).copied().unwrap_or(1));
                if let Some(p) = self.pending.get_mut(&sseq) {
                    p.deadline = now + wait;
                    self.earliest_deadline = self.earliest_deadline.min(now + wait);
                    self.redeliver.remove(&sseq);
                }
            }
            AckKind::Term(reason) => {
                if let Some(p) = self.pending.get(&sseq) {
                    self.events.push(Event::Terminated {
                        consumer_seq: p.dseq,
                        stream_seq: sseq,
                        deliveries: self.deliveries.get(&sseq).copied().unwrap_or(1),
                        reason: reason.clone(),
                    });
                    self.drop_pending(sseq, now);
                    self.ack_floor.last_active = now;
                }
            }
        }
    }

    /// Moves pending messages whose ack deadline passed to the redelivery queue; the
    /// earliest deadline left.
    pub fn check_ack_deadlines(&mut self, now: i64) {
        if now < self.earliest_deadline {
            return;
        }
        let mut earliest = i64::MAX;
        for (seq, p) in self.pending.iter_mut() {
            if p.deadline <= now {
                // Due now; its next deadline is set when it is delivered again.
                p.deadline = i64::MAX;
                self.redeliver.insert(*seq);
            } else {
                earliest = earliest.min(p.deadline);
            }
        }
        self.earliest_deadline = earliest;
    }

    /// The waiting requests whose time is up get their 408; heartbeats are sent to
    /// those (and to a push consumer's deliver subject) that waited `idle_heartbeat`.
    pub fn timers(&mut self, stream: &mut Stream, now: i64, sink: &mut Sink) {
        // Caught up, nats-server's position is past the stream's end (its scan moved
        // there), which its heartbeats show.
        let caught_up =
            self.redeliver.is_empty() && self.skip.is_empty() && self.num_pending(stream) == 0;
        let last_stream = if caught_up {
            self.delivered.stream_seq.max(stream.store.state().last_seq)
        } else {
            self.delivered.stream_seq
        };
        let mut keep = VecDeque::with_capacity(self.waiting.len());
        while let Some(mut r) = self.waiting.pop_front() {
            if r.expires > 0 && now >= r.expires_at {
                sink.push(status_to(
                    &r.reply,
                    &format!(
                        "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: {}\r\nNats-Pending-Bytes: {}\r\n\r\n",
                        r.batch, r.max_bytes
                    ),
                ));
                continue;
            }
            if r.heartbeat > 0 && now - r.last_sent >= r.heartbeat {
                sink.push(self.heartbeat_to(&r.reply, last_stream));
                r.last_sent = now;
            }
            keep.push_back(r);
        }
        self.waiting = keep;
        let hb = self.cfg.idle_heartbeat;
        if !self.cfg.is_pull() && hb > 0 && self.listening && now - self.last_push >= hb {
            let to = self.cfg.deliver_subject.clone().into_bytes();
            sink.push(self.heartbeat_to(&to, last_stream));
            self.last_push = now;
        }
    }

    fn heartbeat_to(&self, to: &[u8], last_stream: u64) -> Out {
        let mut h = format!(
            "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {}\r\nNats-Last-Stream: {last_stream}\r\n",
            self.delivered.consumer_seq
        );
        if let Some(fc) = &self.fc_pending {
            h.push_str(&format!("Nats-Consumer-Stalled: {fc}\r\n"));
        }
        h.push_str("\r\n");
        Out {
            subject: to.to_vec(),
            shown_as: Vec::new(),
            reply: Vec::new(),
            headers: h.into_bytes(),
            payload: Vec::new(),
        }
    }

    /// The earliest time (ns) something is due: a request's expiry or heartbeat, an ack
    /// deadline, a push heartbeat.
    pub fn next_wake(&self) -> Option<i64> {
        let mut at: Option<i64> = None;
        let mut take = |t: i64| at = Some(at.map_or(t, |a: i64| a.min(t)));
        for r in &self.waiting {
            if r.expires > 0 {
                take(r.expires_at);
            }
            if r.heartbeat > 0 {
                take(r.last_sent + r.heartbeat);
            }
        }
        if self.earliest_deadline != i64::MAX && !self.pending.is_empty() {
            take(self.earliest_deadline);
        }
        if !self.cfg.is_pull() && self.cfg.idle_heartbeat > 0 && self.listening {
            take(self.last_push + self.cfg.idle_heartbeat);
        }
        if self.paused_until > 0 {
            take(self.paused_until);
        }
        at
    }

    /// Something is ready to go out now (redeliveries, or new messages for a waiting
    /// request or a listening push consumer).
    pub fn has_redeliveries(&self) -> bool {
        !self.redeliver.is_empty()
    }

    /// Delivered messages that were redelivered (`num_redelivered`).
    pub fn num_redelivered(&self) -> u64 {
        self.deliveries.values().filter(|d| **d > 1).count() as u64
    }

    /// Each waiting request is told the consumer is gone.
    pub fn deleted(&mut self, sink: &mut Sink) {
        for r in self.waiting.drain(..) {
            sink.push(status_to(&r.reply, "NATS/1.0 409 Consumer Deleted\r\n\r\n"));
        }
    }
}

/// A status message (headers only) to `to`.
pub fn status_to(to: &[u8], header: &str) -> Out {
    Out {
        subject: to.to_vec(),
        shown_as: Vec::new(),
        reply: Vec::new(),
        headers: header.as_bytes().to_vec(),
        payload: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_bodies_read_as_nats_server_reads_them() {
        assert_eq!(AckKind::parse(b""), AckKind::Ack);
        assert_eq!(AckKind::parse(b"+ACK"), AckKind::Ack);
        assert_eq!(AckKind::parse(b"-NAK"), AckKind::Nak(None));
        assert_eq!(
            AckKind::parse(br#"-NAK {"delay":500000000}"#),
            AckKind::Nak(Some(500_000_000))
        );
        assert_eq!(
            AckKind::parse(b"-NAK 300ms"),
            AckKind::Nak(Some(300_000_000))
        );
        assert_eq!(AckKind::parse(b"-NAK junk"), AckKind::Nak(None));
        assert_eq!(
            AckKind::parse(b"+TERM gone for good"),
            AckKind::Term("gone for good".into())
        );
        assert_eq!(AckKind::parse(b"+WPI"), AckKind::Progress);
        assert_eq!(
            AckKind::parse(br#"+NXT {"batch":2}"#),
            AckKind::Next(br#"{"batch":2}"#.to_vec())
        );
        assert_eq!(ack_tokens(b"$JS.ACK.S.C.2.5.7.123.0"), Some((2, 5, 7)));
        assert_eq!(ack_tokens(b"$JS.ACK.D.H.S.C.2.5.7.123.0"), Some((2, 5, 7)));
        assert_eq!(ack_tokens(b"$JS.ACK.S.C.2.5"), None);
    }
}
