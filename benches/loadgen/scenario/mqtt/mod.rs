//! MQTT scenarios, spoken as MQTT 3.1.1 (what nats-server, natrium and mosquitto all
//! accept) over plain TCP, anonymous, with clean sessions and no keep-alive:
//!
//! - `mqtt-pubsub` (this module): one publisher connection and one subscriber connection
//!   on one topic, QoS 0 or 1. The rate is messages/s delivered to the subscriber.
//! - `mqtt-idle` ([`idle`]): memory per idle, subscribed MQTT connection.
//!
//! [`wire`] owns the packets, encoded by hand so that the generator shares no code with the
//! server under test.
//!
//! ```text
//!  subscriber: CONNECT/CONNACK ─ SUBSCRIBE/SUBACK (QoS q) ──► reader thread: count, check
//!              sequence, size, topic, QoS; QoS 1: PUBACK every PUBLISH (one write per read)
//!  warm-up:    publisher sends PUBLISH (QoS q, payload of size + 1, each one's PUBACK
//!              awaited at QoS 1) every 2 ms until the subscriber saw one, then PINGREQ/PINGRESP
//!  measured:   QoS 0: batches of PUBLISH (up to 256 KiB per write), at most `window` bytes
//!              ahead of the subscriber; then PINGREQ/PINGRESP
//!              QoS 1: the same, and at most `inflight` PUBLISH without their PUBACK; a
//!              second thread reads the publisher's PUBACKs (they must come in order)
//! ```
//!
//! Why the warm-up: a SUBACK proves only that the subscriber's side of the broker knows the
//! subscription; a broker that spreads interest asynchronously (natrium's reactors) may not
//! route the publisher's messages yet. Warm-up payloads are one byte longer than measured
//! ones, which is how the subscriber tells them apart. Measured payloads of 8 bytes or more
//! start with the sequence number (little-endian u64), so the subscriber sees loss,
//! duplicates and reordering.

pub mod idle;
pub mod wire;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::procfs::{self, CpuSample};
use crate::scenario::{size_label, Ctx, Outcome};
use wire::{Client, PUBACK, PUBLISH};

/// Bytes of PUBLISH packets written per `write` call, at most.
const BATCH_BYTES: usize = 256 * 1024;
/// The subscriber's read buffer.
const READ_BUFFER: usize = 1024 * 1024;
/// Once the publisher is done, a run with no new delivery or PUBACK for this long stops.
const STALL: Duration = Duration::from_secs(2);
/// How long the warm-up may take before the scenario fails.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default topic.
pub const TOPIC: &str = "bench/t";
/// The default PUBLISH packets in flight at QoS 1.
pub const INFLIGHT: u64 = 256;

#[derive(Clone, Debug)]
pub struct MqttPubSpec {
    /// 0 or 1, for publishing and for the subscription.
    pub qos: u8,
    pub msgs: u64,
    pub size: usize,
    /// QoS 1: PUBLISH packets awaiting their PUBACK, at most.
    pub inflight: u64,
    /// Bytes the publisher may be ahead of the subscriber; 0 = unlimited.
    pub window: u64,
    pub topic: String,
}

impl MqttPubSpec {
    pub fn name(&self) -> String {
        format!("mqtt_q{}_{}", self.qos, self.size)
    }

    pub fn label(&self) -> String {
        format!("MQTT QoS {} pub→sub {}", self.qos, size_label(self.size))
    }

    fn checks_sequence(&self) -> bool {
        self.size >= 8
    }
}

/// What the threads share.
struct Shared {
    stop: AtomicBool,
    /// PUBLISH packets written so far.
    sent: AtomicU64,
    /// The final count once the publisher is done; `u64::MAX` before.
    sent_final: AtomicU64,
    pub_done: AtomicBool,
    /// Measured messages the subscriber received.
    delivered: AtomicU64,
    /// Warm-up messages the subscriber received.
    warm: AtomicU64,
    /// PUBACKs the publisher received (QoS 1).
    acked: AtomicU64,
}

#[derive(Default)]
struct SubResult {
    received: u64,
    gaps: u64,
    dups: u64,
    wrong_size: u64,
    wrong_topic: u64,
    wrong_qos: u64,
    /// Deliveries with the DUP flag (the broker sent them again).
    redelivered: u64,
    unexpected: u64,
    last_rx: Option<Instant>,
    cpu: Duration,
    error: Option<String>,
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The subscriber's reader: counts and checks every PUBLISH, and answers QoS 1 ones with
/// PUBACK (all of one read's in one write).
fn subscriber(mut c: Client, spec: &MqttPubSpec, shared: &Shared) -> SubResult {
    let cpu0 = procfs::thread_cpu();
    let mut res = SubResult::default();
    if let Err(e) = c.stream.set_read_timeout(Some(Duration::from_millis(50))) {
        res.error = Some(e.to_string());
        return res;
    }
    let check = spec.checks_sequence();
    let mut next_seq = 0u64;
    let mut warm = 0u64;
    let mut acks: Vec<u8> = Vec::with_capacity(64 * 1024);
    'read: loop {
        match c.rx.read_from(&mut c.stream) {
            Ok(0) => {
                res.error = Some("the broker closed the subscriber's connection".into());
                break;
            }
            Ok(_) => {
                let before = res.received;
                loop {
                    let p = match c.rx.next() {
                        Ok(Some(p)) => p,
                        Ok(None) => break,
                        Err(e) => {
                            res.error = Some(e);
                            break 'read;
                        }
                    };
                    if p.kind != PUBLISH {
                        res.unexpected += 1;
                        continue;
                    }
                    let m = match p.publish() {
                        Ok(m) => m,
                        Err(e) => {
                            res.error = Some(e);
                            break 'read;
                        }
                    };
                    if let (1, Some(id)) = (m.qos, m.id) {
                        acks.extend_from_slice(&wire::puback(id));
                    }
                    if m.payload.len() == spec.size + 1 {
                        warm += 1;
                        continue;
                    }
                    res.received += 1;
                    res.redelivered += u64::from(m.dup);
                    if m.payload.len() != spec.size {
                        res.wrong_size += 1;
                    }
                    if m.topic != spec.topic.as_bytes() {
                        res.wrong_topic += 1;
                    }
                    if m.qos != spec.qos {
                        res.wrong_qos += 1;
                    }
                    if check && m.payload.len() >= 8 {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&m.payload[..8]);
                        let seq = u64::from_le_bytes(b);
                        if seq < next_seq {
                            res.dups += 1;
                        } else {
                            if seq > next_seq {
                                res.gaps += 1;
                            }
                            next_seq = seq + 1;
                        }
                    }
                }
                if !acks.is_empty() {
                    if let Err(e) = c.stream.write_all(&acks) {
                        res.error = Some(format!("send PUBACK: {e}"));
                        break;
                    }
                    acks.clear();
                }
                if res.received > before {
                    res.last_rx = Some(Instant::now());
                    shared.delivered.store(res.received, Relaxed);
                }
                shared.warm.store(warm, Relaxed);
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                res.error = Some(format!("read: {e}"));
                break;
            }
        }
        if res.received >= shared.sent_final.load(Relaxed) || shared.stop.load(Relaxed) {
            break;
        }
    }
    res.cpu = procfs::thread_cpu().saturating_sub(cpu0);
    res
}

#[derive(Default)]
struct AckResult {
    acked: u64,
    out_of_order: u64,
    unexpected: u64,
    cpu: Duration,
    error: Option<String>,
}

/// The packet identifier of measured message `seq`.
fn packet_id(seq: u64) -> u16 {
    (seq % 65_535) as u16 + 1
}

/// QoS 1: reads the publisher's PUBACKs; they must come in the order of the PUBLISH
/// packets (MQTT 3.1.1, 4.6).
fn ack_reader(mut c: Client, shared: &Shared) -> AckResult {
    let cpu0 = procfs::thread_cpu();
    let mut res = AckResult::default();
    if let Err(e) = c.stream.set_read_timeout(Some(Duration::from_millis(50))) {
        res.error = Some(e.to_string());
        return res;
    }
    'read: loop {
        match c.rx.read_from(&mut c.stream) {
            Ok(0) => {
                res.error = Some("the broker closed the publisher's connection".into());
                break;
            }
            Ok(_) => {
                loop {
                    let p = match c.rx.next() {
                        Ok(Some(p)) => p,
                        Ok(None) => break,
                        Err(e) => {
                            res.error = Some(e);
                            break 'read;
                        }
                    };
                    if p.kind != PUBACK {
                        res.unexpected += 1;
                        continue;
                    }
                    if p.id() != Some(packet_id(res.acked)) {
                        res.out_of_order += 1;
                    }
                    res.acked += 1;
                }
                shared.acked.store(res.acked, Relaxed);
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                res.error = Some(format!("read: {e}"));
                break;
            }
        }
        if res.acked >= shared.sent_final.load(Relaxed) || shared.stop.load(Relaxed) {
            break;
        }
    }
    res.cpu = procfs::thread_cpu().saturating_sub(cpu0);
    res
}

struct PubResult {
    sent: u64,
    cpu: Duration,
    time_bound: bool,
    error: Option<String>,
}

/// Writes the measured PUBLISH packets in batches, within the window and (QoS 1) the
/// in-flight bound; stores the final count in `sent_final`.
fn publisher(
    stream: &mut TcpStream,
    spec: &MqttPubSpec,
    shared: &Shared,
    window_msgs: u64,
    deadline: Instant,
) -> PubResult {
    let cpu0 = procfs::thread_cpu();
    let t = wire::publish(&spec.topic, spec.qos, spec.size, b'm');
    let len = t.bytes.len();
    let per_batch = (BATCH_BYTES / len).max(1) as u64;
    let mut batch = Vec::with_capacity(per_batch as usize * len);
    for _ in 0..per_batch {
        batch.extend_from_slice(&t.bytes);
    }
    let qos1 = spec.qos > 0;
    let inflight = spec.inflight.max(1);
    // Wait for room for a quarter of the tightest bound rather than writing a few
    // packets per syscall.
    let mut min_chunk = per_batch;
    if qos1 {
        min_chunk = min_chunk.min(inflight / 4);
    }
    if window_msgs > 0 {
        min_chunk = min_chunk.min(window_msgs / 4);
    }
    let min_chunk = min_chunk.max(1);
    let check = spec.checks_sequence();
    let mut res = PubResult {
        sent: 0,
        cpu: Duration::ZERO,
        time_bound: false,
        error: None,
    };
    // A blocked write must not outlive the scenario if the broker stops reading.
    let _ = stream.set_write_timeout(Some(
        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(10),
    ));
    while res.sent < spec.msgs {
        let left = spec.msgs - res.sent;
        let mut room = per_batch;
        if window_msgs > 0 {
            let ahead = res.sent.saturating_sub(shared.delivered.load(Relaxed));
            room = room.min(window_msgs.saturating_sub(ahead));
        }
        if qos1 {
            let unacked = res.sent.saturating_sub(shared.acked.load(Relaxed));
            room = room.min(inflight.saturating_sub(unacked));
        }
        if Instant::now() >= deadline {
            res.time_bound = true;
            break;
        }
        if shared.stop.load(Relaxed) {
            break;
        }
        if room < min_chunk.min(left) {
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        let k = room.min(left);
        for i in 0..k {
            let base = i as usize * len;
            let seq = res.sent + i;
            if let Some(at) = t.id_at {
                batch[base + at..base + at + 2].copy_from_slice(&packet_id(seq).to_be_bytes());
            }
            if check {
                let at = base + t.payload_at;
                batch[at..at + 8].copy_from_slice(&seq.to_le_bytes());
            }
        }
        if let Err(e) = stream.write_all(&batch[..k as usize * len]) {
            res.error = Some(format!("publish: {e}"));
            break;
        }
        res.sent += k;
        shared.sent.store(res.sent, Relaxed);
    }
    shared.sent_final.store(res.sent, Relaxed);
    res.cpu = procfs::thread_cpu().saturating_sub(cpu0);
    res
}

/// Publishes warm-up messages (payload of size + 1; at QoS 1 each one's PUBACK awaited)
/// every 2 ms until the subscriber has received one, then PINGREQ/PINGRESP.
fn warm_up(c: &mut Client, spec: &MqttPubSpec, shared: &Shared) -> Result<(), String> {
    let t = wire::publish(&spec.topic, spec.qos, spec.size + 1, b'w');
    let start = Instant::now();
    let mut id = 0u16;
    while shared.warm.load(Relaxed) == 0 {
        if start.elapsed() > WARMUP_TIMEOUT {
            return Err(format!(
                "the subscriber did not receive warm-up messages within {} s",
                WARMUP_TIMEOUT.as_secs()
            ));
        }
        let mut b = t.bytes.clone();
        if let Some(at) = t.id_at {
            id = id % 65_535 + 1;
            b[at..at + 2].copy_from_slice(&id.to_be_bytes());
        }
        c.stream
            .write_all(&b)
            .map_err(|e| format!("warm-up publish: {e}"))?;
        if t.id_at.is_some() {
            c.wait_for("warm-up PUBACK", |p| {
                Ok(p.kind == PUBACK && p.id() == Some(id))
            })?;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    c.ping(|_| {})
}

pub fn run(spec: &MqttPubSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    if spec.qos > 1 {
        return Err("--qos: 0 or 1".into());
    }
    if spec.size > 64 * 1024 * 1024 {
        return Err("payload too large".into());
    }
    if spec.qos == 1 && !(1..=65_535).contains(&spec.inflight) {
        return Err("--inflight: between 1 and 65,535".into());
    }
    let pid = std::process::id();
    let mut sub = Client::connect(
        ctx.sub_addr(0),
        &format!("natrium-bench-sub-{pid}"),
        0,
        READ_BUFFER,
    )
    .map_err(|e| format!("subscriber: {e}"))?;
    let granted = sub
        .subscribe(1, &spec.topic, spec.qos)
        .map_err(|e| format!("subscriber: {e}"))?;
    if granted != spec.qos {
        return Err(format!(
            "SUBACK granted QoS {granted}, QoS {} was asked",
            spec.qos
        ));
    }
    let mut publ = Client::connect(ctx.addr, &format!("natrium-bench-pub-{pid}"), 0, 64 * 1024)
        .map_err(|e| format!("publisher: {e}"))?;
    // QoS 1: the publisher's thread writes, another reads its PUBACKs.
    let writer = if spec.qos == 1 {
        Some(publ.stream.try_clone().map_err(|e| e.to_string())?)
    } else {
        None
    };
    let shared = Shared {
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        sent_final: AtomicU64::new(u64::MAX),
        pub_done: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        warm: AtomicU64::new(0),
        acked: AtomicU64::new(0),
    };
    let frame_len = wire::publish(&spec.topic, spec.qos, spec.size, 0)
        .bytes
        .len() as u64;
    let window_msgs = if spec.window == 0 {
        0
    } else {
        (spec.window / frame_len).max(1)
    };
    let label = spec.label();

    std::thread::scope(|s| -> Result<Outcome, String> {
        let shared = &shared;
        let sub_h = s.spawn(move || subscriber(sub, spec, shared));
        if let Err(e) = warm_up(&mut publ, spec, shared) {
            shared.stop.store(true, Relaxed);
            return Err(e);
        }
        let sample = CpuSample::now(&ctx.server_pids());
        let start = Instant::now();
        let deadline = start + ctx.time;
        let (pub_h, ack_h) = match writer {
            Some(mut w) => {
                let pub_h = s.spawn(move || {
                    let r = publisher(&mut w, spec, shared, window_msgs, deadline);
                    shared.pub_done.store(true, Relaxed);
                    r
                });
                (pub_h, Some(s.spawn(move || ack_reader(publ, shared))))
            }
            None => {
                let pub_h = s.spawn(move || {
                    let mut r = publisher(&mut publ.stream, spec, shared, window_msgs, deadline);
                    if r.error.is_none() {
                        let _ = publ.stream.set_read_timeout(None);
                        if let Err(e) = publ.ping(|_| {}) {
                            r.error = Some(format!("after publishing: {e}"));
                        }
                    }
                    shared.pub_done.store(true, Relaxed);
                    r
                });
                (pub_h, None)
            }
        };

        let mut last_seen = (0u64, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let delivered = shared.delivered.load(Relaxed);
            ctx.progress.update(&label, delivered, spec.msgs);
            let finished = sub_h.is_finished()
                && pub_h.is_finished()
                && ack_h.as_ref().is_none_or(|h| h.is_finished());
            if finished {
                break;
            }
            let seen = delivered + shared.acked.load(Relaxed);
            if seen != last_seen.0 {
                last_seen = (seen, Instant::now());
            }
            let stalled = shared.pub_done.load(Relaxed) && last_seen.1.elapsed() > STALL;
            if stalled || Instant::now() > deadline + STALL + Duration::from_secs(5) {
                shared.stop.store(true, Relaxed);
            }
        }
        let pr = pub_h
            .join()
            .map_err(|_| "publisher thread panicked".to_string())?;
        let sr = sub_h
            .join()
            .map_err(|_| "subscriber thread panicked".to_string())?;
        let ar = match ack_h {
            Some(h) => Some(
                h.join()
                    .map_err(|_| "PUBACK reader thread panicked".to_string())?,
            ),
            None => None,
        };

        let end = sr.last_rx.unwrap_or_else(Instant::now);
        let wall = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
        let mut out = Outcome {
            name: spec.name(),
            scenario: "mqtt-pubsub".into(),
            size: spec.size,
            publishers: 1,
            subscribers: 1,
            sent: pr.sent,
            received: sr.received,
            expected: pr.sent,
            wall_secs: wall,
            ..Default::default()
        };
        out.per_subscriber = vec![sr.received];
        out.rate = sr.received as f64 / wall;
        out.mb_per_sec = out.rate * spec.size as f64 / 1e6;
        let workers: Vec<Duration> = [Some(pr.cpu), Some(sr.cpu), ar.as_ref().map(|a| a.cpu)]
            .into_iter()
            .flatten()
            .collect();
        out.set_cpu(&sample, &workers, sr.received);

        if let Some(e) = &pr.error {
            out.errors.push(format!("publisher: {e}"));
        }
        if pr.time_bound {
            out.notes.push(format!(
                "time bound ({} s) hit after {} of {} messages",
                ctx.time.as_secs_f64(),
                pr.sent,
                spec.msgs
            ));
        }
        if sr.received != pr.sent {
            out.errors.push(format!(
                "{} deliveries of {} published ({} {})",
                sr.received,
                pr.sent,
                sr.received.abs_diff(pr.sent),
                if sr.received < pr.sent {
                    "lost"
                } else {
                    "extra"
                }
            ));
        }
        if let Some(e) = &sr.error {
            out.errors.push(format!("subscriber: {e}"));
        }
        for (n, what) in [
            (sr.gaps, "gaps in the sequence (messages skipped)"),
            (sr.dups, "duplicate or reordered deliveries"),
            (sr.wrong_size, "messages of the wrong size"),
            (sr.wrong_topic, "messages on another topic"),
            (sr.wrong_qos, "messages delivered at another QoS"),
            (sr.unexpected, "packets other than PUBLISH"),
        ] {
            if n > 0 {
                out.errors.push(format!("subscriber: {n} {what}"));
            }
        }
        if let Some(a) = &ar {
            if let Some(e) = &a.error {
                out.errors.push(format!("publisher's PUBACKs: {e}"));
            }
            if a.acked != pr.sent {
                out.errors.push(format!(
                    "{} PUBACKs for {} QoS 1 PUBLISH packets",
                    a.acked, pr.sent
                ));
            }
            if a.out_of_order > 0 {
                out.errors.push(format!(
                    "{} PUBACKs out of order (not the next packet identifier)",
                    a.out_of_order
                ));
            }
            if a.unexpected > 0 {
                out.errors.push(format!(
                    "publisher: {} packets other than PUBACK",
                    a.unexpected
                ));
            }
        }
        if sr.redelivered > 0 {
            out.notes.push(format!(
                "{} deliveries carried the DUP flag (sent again by the broker)",
                sr.redelivered
            ));
        }
        if !spec.checks_sequence() {
            out.notes.push("payload < 8 B: sequence not checked".into());
        }
        out.ok = out.errors.is_empty();
        Ok(out)
    })
}
