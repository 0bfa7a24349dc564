//! JetStream consumers against nats-server: the same steps, in the same order, to both
//! servers, and the same answers byte for byte once times, ack timestamps, random names and
//! ids are masked. Each step's answers are recorded whole: the `MSG`/`HMSG` line without its
//! sid and sizes (so a pulled message shows its subject and `$JS.ACK.…` reply) and the bytes.
//!
//! The step runner ([`run`]) speaks raw protocol on one connection. Every step publishes
//! with its own reply subject `_R.<n>` on its own subscription, so an answer is kept with
//! its step however late it comes (a `408` at the end of an `expires`, a `409 Consumer
//! Deleted`). A step waits for its first answer (2 s at most), then for a short quiet spell.
//! Step subjects with a meaning to the runner:
//!
//! | subject | what the runner does |
//! |---|---|
//! | `!<subject>` | publishes without a reply subject, waits for quiet |
//! | `~<subject>` | publishes with its reply, does not wait for an answer (a pull that waits) |
//! | `@ack:<n>:<k>` | publishes the body to the reply subject of the k-th (from 1) message with a reply recorded by step n (a `$JS.ACK.…` or `$JS.FC.…`), with this step's reply |
//! | `@ackq:<n>:<k>` | the same without a reply subject |
//! | `@sub:<sid>:<subject>` / `@unsub:<sid>` | subscribes / unsubscribes (sid < 100) |
//! | `@take:<sid>:<count>` | waits (3 s at most) for `count` more messages on that subscription and records them |
//! | `@wait:<n>:<count>` | waits (3 s at most) until step n has `count` answers (they show under step n) |
//! | `@sleep:<ms>` | reads for that long |
//!
//! A negative step number counts back from the current step (`@ack:-1:2`: the previous
//! step's second message with a reply).
//!
//! `<nameK>` in a subject or body stands for the K-th random (ephemeral) consumer name seen
//! in an answer; the answers show `<nameK>` in its place.
//!
//! Normalization: RFC 3339 times → `<time>` (as the stream corpus does); the timestamp
//! token of `$JS.ACK.<s>.<c>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` → `<ts>`; the random
//! last token of `$JS.FC.<s>.<c>.<x>` → `<fc>`; an advisory's `"id":"…"` → `"id":"<id>"`;
//! random 8-character consumer names → `<nameK>`; CR and LF shown as `\r` and `\n`; payloads
//! over 16 KiB as `<N bytes>`.
//!
//! `NATRIUM_CORPUS_DUMP=<dir>` writes each side's whole transcript to
//! `<dir>/<test>.{nats-server,natrium}.txt`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{Proc, TempDir};
use crate::jetstream::{normalize, start, Step};

/// How long a step's answers may keep coming after the first one.
const QUIET: Duration = Duration::from_millis(40);
/// How long a step that expects no answer waits for stray ones.
const QUIET_NO_ANSWER: Duration = Duration::from_millis(100);
/// The longest wait for anything.
const PATIENCE: Duration = Duration::from_secs(3);

/// A message as it came: the parts of its `MSG`/`HMSG` line, and its bytes.
struct Msg {
    kind: String,
    subject: String,
    sid: u32,
    reply: Option<String>,
    /// Header bytes at the start of `bytes` (0 for `MSG`).
    hdr_len: usize,
    bytes: Vec<u8>,
}

/// A raw client connection that only hands out whole messages.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `-ERR` lines the server sent.
    errors: Vec<String>,
}

impl Conn {
    fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).ok();
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            errors: Vec::new(),
        };
        conn.send(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nPING\r\n",
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let line = conn.line(deadline).expect("PONG after CONNECT");
            if line == "PONG" {
                break;
            }
        }
        conn
    }

    fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("write");
    }

    /// Reads more bytes, until `deadline`; false when nothing came.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream.set_read_timeout(Some(left)).ok();
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                // Closed: nothing more will come; do not spin until the deadline.
                std::thread::sleep(left.min(Duration::from_millis(50)));
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// One protocol line, or None at the deadline.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.drain(..pos + 2);
                return Some(line);
            }
            if !self.fill(deadline) && Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// The next whole message before `deadline` (PINGs answered, other lines skipped).
    fn next(&mut self, deadline: Instant) -> Option<Msg> {
        loop {
            // A whole message or line buffered?
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                let parts: Vec<&str> = line.split(' ').collect();
                let kind = parts[0];
                if kind == "MSG" || kind == "HMSG" {
                    let size: usize = parts[parts.len() - 1].parse().expect("message size");
                    if self.buf.len() >= pos + 2 + size + 2 {
                        let bytes = self.buf[pos + 2..pos + 2 + size].to_vec();
                        self.buf.drain(..pos + 2 + size + 2);
                        let with_reply = parts.len() == if kind == "MSG" { 5 } else { 6 };
                        return Some(Msg {
                            kind: kind.to_string(),
                            subject: parts[1].to_string(),
                            sid: parts[2].parse().expect("sid"),
                            // nats-server writes an empty reply token (two spaces) in
                            // its consumer-reset answers; clients read that as no reply,
                            // and so does this runner.
                            reply: with_reply
                                .then(|| parts[3].to_string())
                                .filter(|r| !r.is_empty()),
                            hdr_len: if kind == "HMSG" {
                                parts[parts.len() - 2].parse().expect("header size")
                            } else {
                                0
                            },
                            bytes,
                        });
                    }
                } else {
                    self.buf.drain(..pos + 2);
                    if line == "PING" {
                        self.send(b"PONG\r\n");
                    } else if line.starts_with("-ERR") {
                        self.errors.push(line);
                    }
                    continue;
                }
            }
            if !self.fill(deadline) && Instant::now() >= deadline {
                return None;
            }
        }
    }
}

/// A recorded message: its reply subject as sent (for acks) and its normalized text.
struct Got {
    reply: Option<String>,
    text: String,
}

/// The step runner's state.
struct Runner {
    conn: Conn,
    /// Messages by sid: step n's answers under `STEP_SID + n`, subscriptions under theirs.
    logs: HashMap<u32, Vec<Got>>,
    /// How far each subscription's messages were taken.
    marks: HashMap<u32, usize>,
    /// Random consumer names in the order they were seen.
    names: Vec<String>,
}

/// Step n answers on sid `STEP_SID + n`.
const STEP_SID: u32 = 1000;

impl Runner {
    fn count(&self, sid: u32) -> usize {
        self.logs.get(&sid).map_or(0, Vec::len)
    }

    fn replies(&self, sid: u32) -> usize {
        self.logs
            .get(&sid)
            .map_or(0, |l| l.iter().filter(|g| g.reply.is_some()).count())
    }

    /// Reads and records one message before `deadline`; false when none came.
    fn pump(&mut self, deadline: Instant) -> bool {
        let Some(msg) = self.conn.next(deadline) else {
            return false;
        };
        self.discover_names(&msg.bytes);
        let got = Got {
            reply: msg.reply.clone(),
            text: self.render(&msg),
        };
        self.logs.entry(msg.sid).or_default().push(got);
        true
    }

    /// Reads until nothing came for `quiet` (5 s at most).
    fn pump_quiet(&mut self, quiet: Duration) {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && self.pump(Instant::now() + quiet) {}
    }

    /// Reads until `done` holds or `within` passed.
    fn pump_until(&mut self, within: Duration, done: impl Fn(&Runner) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) && self.pump(deadline) {}
    }

    fn pump_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            self.pump(deadline);
        }
    }

    /// Remembers random consumer names: 8 base-62 characters as a `"name"` member.
    fn discover_names(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let key = "\"name\":\"";
        let mut from = 0;
        while let Some(at) = text[from..].find(key) {
            let start = from + at + key.len();
            from = start;
            let before = text[..from - key.len()].chars().last();
            if !matches!(before, Some('{') | Some(',')) {
                continue;
            }
            let rest = &text[start..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if name.len() == 8 && rest[8..].starts_with('"') && !self.names.contains(&name) {
                self.names.push(name);
            }
        }
    }

    /// `<nameK>` placeholders replaced by the names they stand for.
    fn resolve(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (i, name) in self.names.iter().enumerate() {
            out = out.replace(&format!("<name{}>", i + 1), name);
        }
        out
    }

    fn render(&self, msg: &Msg) -> String {
        let mut head = format!("{} {}", msg.kind, msg.subject);
        if let Some(reply) = &msg.reply {
            head.push(' ');
            head.push_str(reply);
        }
        let (hdrs, payload) = msg.bytes.split_at(msg.hdr_len);
        let mut text = String::from_utf8_lossy(hdrs).into_owned();
        if payload.len() > 16384 {
            text.push_str(&format!("<{} bytes>", payload.len()));
        } else {
            text.push_str(&String::from_utf8_lossy(payload));
        }
        self.mask(&format!("{head} {text}"))
    }

    /// Masks what differs between runs (see the module documentation).
    fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (i, name) in self.names.iter().enumerate() {
            out = out.replace(name.as_str(), &format!("<name{}>", i + 1));
        }
        let out = mask_subject_token(&out, "$JS.ACK.", 9, 7, "<ts>");
        let out = mask_subject_token(&out, "$JS.FC.", 5, 4, "<fc>");
        let out = mask_ids(&out);
        normalize(&out).replace('\r', "\\r").replace('\n', "\\n")
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, hdrs: &str, body: &str) {
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        if hdrs.is_empty() {
            let cmd = format!("PUB {subject}{reply} {}\r\n{body}\r\n", body.len());
            self.conn.send(cmd.as_bytes());
        } else {
            let block = format!("NATS/1.0\r\n{}\r\n\r\n", hdrs.replace('|', "\r\n"));
            let cmd = format!(
                "HPUB {subject}{reply} {} {}\r\n{block}{body}\r\n",
                block.len(),
                block.len() + body.len()
            );
            self.conn.send(cmd.as_bytes());
        }
    }
}

/// Replaces token `index` of subjects starting with `prefix` that have `tokens` tokens.
fn mask_subject_token(text: &str, prefix: &str, tokens: usize, index: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\\')
            .unwrap_or(tail.len());
        let subject = &tail[..end];
        let mut parts: Vec<&str> = subject.split('.').collect();
        if parts.len() == tokens {
            parts[index] = with;
        }
        out.push_str(&parts.join("."));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `"id":"<nuid>"` → `"id":"<id>"`.
fn mask_ids(text: &str) -> String {
    let key = "\"id\":\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        let tail = &rest[at + key.len()..];
        let end = tail.find('"').unwrap_or(tail.len());
        out.push_str(if end == 0 { "" } else { "<id>" });
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A `<kind>:<a>:<b>` runner step's numbers; a negative `a` counts back from step `n`.
fn two(spec: &str, n: usize) -> (u32, usize) {
    let mut it = spec.splitn(2, ':');
    let a: i64 = it.next().and_then(|v| v.parse().ok()).expect("a number");
    let b = it.next().and_then(|v| v.parse().ok()).expect("a number");
    let a = if a < 0 { n as i64 + a } else { a };
    (u32::try_from(a).expect("a step before this one"), b)
}

/// Runs `steps` on one connection; one entry per step (its answers), plus one for what
/// subscriptions received and no step took.
fn run(srv: &Proc, steps: &[Step]) -> Vec<String> {
    let mut r = Runner {
        conn: Conn::connect(srv.addr()),
        logs: HashMap::new(),
        marks: HashMap::new(),
        names: Vec::new(),
    };
    // Lines a step records besides its own answers.
    let mut extra: Vec<Vec<String>> = Vec::new();
    let mut subs: Vec<u32> = Vec::new();
    for (n, (subject, hdrs, body)) in steps.iter().enumerate() {
        let sid = STEP_SID + n as u32;
        let mut lines = Vec::new();
        let subject = r.resolve(subject);
        let body = r.resolve(body);
        if let Some(spec) = subject.strip_prefix("@sub:") {
            let (s, subj) = spec.split_once(':').expect("@sub:<sid>:<subject>");
            r.conn.send(format!("SUB {subj} {s}\r\n").as_bytes());
            subs.push(s.parse().expect("sid"));
            r.pump_quiet(QUIET);
        } else if let Some(s) = subject.strip_prefix("@unsub:") {
            r.conn.send(format!("UNSUB {s}\r\n").as_bytes());
            r.pump_quiet(QUIET);
        } else if let Some(ms) = subject.strip_prefix("@sleep:") {
            r.pump_for(Duration::from_millis(ms.parse().expect("ms")));
        } else if let Some(spec) = subject.strip_prefix("@take:") {
            let (s, count) = two(spec, n);
            let mark = r.marks.get(&s).copied().unwrap_or(0);
            r.pump_until(PATIENCE, |r| r.count(s) >= mark + count);
            let upto = r.count(s).min(mark + count);
            if let Some(log) = r.logs.get(&s) {
                for g in &log[mark..upto] {
                    lines.push(g.text.clone());
                }
            }
            if upto < mark + count {
                lines.push(format!("<only {} of {count}>", upto - mark));
            }
            // What was taken is also step n's, for @ack.
            let taken: Vec<Got> = r.logs.get(&s).map_or(Vec::new(), |log| {
                log[mark..upto]
                    .iter()
                    .map(|g| Got {
                        reply: g.reply.clone(),
                        text: String::new(),
                    })
                    .collect()
            });
            r.logs.entry(sid).or_default().extend(taken);
            r.marks.insert(s, upto);
        } else if let Some(spec) = subject.strip_prefix("@wait:") {
            let (step, count) = two(spec, n);
            let s = STEP_SID + step;
            r.pump_until(PATIENCE, |r| r.count(s) >= count);
            lines.push(format!("<step {step} has {} answers>", r.count(s)));
        } else if let Some((quiet, spec)) = subject
            .strip_prefix("@ack:")
            .map(|s| (false, s))
            .or_else(|| subject.strip_prefix("@ackq:").map(|s| (true, s)))
        {
            let (step, k) = two(spec, n);
            let s = STEP_SID + step;
            r.pump_until(PATIENCE, |r| r.replies(s) >= k);
            let to = r
                .logs
                .get(&s)
                .and_then(|l| l.iter().filter_map(|g| g.reply.clone()).nth(k - 1));
            match to {
                Some(to) => {
                    let reply = format!("_R.{n}");
                    if quiet {
                        r.publish(&to, None, hdrs, &body);
                        r.pump_quiet(QUIET_NO_ANSWER);
                    } else {
                        r.conn.send(format!("SUB {reply} {sid}\r\n").as_bytes());
                        r.publish(&to, Some(&reply), hdrs, &body);
                        r.pump_until(Duration::from_secs(2), |r| r.count(sid) > 0);
                        r.pump_quiet(QUIET);
                    }
                }
                None => lines.push(format!("<step {step} has no message {k} with a reply>")),
            }
        } else if let Some(subj) = subject.strip_prefix('!') {
            r.publish(subj, None, hdrs, &body);
            r.pump_quiet(QUIET_NO_ANSWER);
        } else {
            let (subj, wait) = match subject.strip_prefix('~') {
                Some(s) => (s, false),
                None => (subject.as_str(), true),
            };
            let reply = format!("_R.{n}");
            r.conn.send(format!("SUB {reply} {sid}\r\n").as_bytes());
            r.publish(subj, Some(&reply), hdrs, &body);
            if wait {
                r.pump_until(Duration::from_secs(2), |r| r.count(sid) > 0);
            }
            r.pump_quiet(QUIET);
        }
        extra.push(lines);
    }
    // Late answers (every step's are kept with it) and anything else.
    r.pump_quiet(Duration::from_millis(300));
    let mut out = Vec::new();
    for (n, (subject, hdrs, body)) in steps.iter().enumerate() {
        let sid = STEP_SID + n as u32;
        let mut lines: Vec<String> = if subject.starts_with("@take:") {
            Vec::new()
        } else {
            r.logs
                .get(&sid)
                .map_or(Vec::new(), |l| l.iter().map(|g| g.text.clone()).collect())
        };
        lines.append(&mut extra[n]);
        let answer = if lines.is_empty() {
            "<none>".to_string()
        } else {
            lines.join("\n       ")
        };
        let shown = if body.len() > 300 {
            format!("<{} bytes>", body.len())
        } else {
            body.to_string()
        };
        out.push(format!("{n:3} {subject} {hdrs} {shown}\n    => {answer}"));
    }
    let mut left = Vec::new();
    for s in subs {
        let mark = r.marks.get(&s).copied().unwrap_or(0);
        if let Some(log) = r.logs.get(&s) {
            left.extend(
                log[mark.min(log.len())..]
                    .iter()
                    .map(|g| format!("sid {s}: {}", g.text)),
            );
        }
    }
    left.extend(r.conn.errors.iter().cloned());
    out.push(format!("untaken: {left:?}"));
    out
}

/// Runs `steps` on nats-server (None without it), then on natrium, and fails with every
/// step whose answers differ.
fn differential(test: &str, steps: &[Step]) {
    let go = |real: bool| -> Option<Vec<String>> {
        let dir = TempDir::new(test);
        let srv = start(dir.path(), real)?;
        Some(run(&srv, steps))
    };
    let Some(theirs) = go(true) else {
        return;
    };
    dump(test, "nats-server", &theirs);
    let ours = go(false).expect("natrium");
    dump(test, "natrium", &ours);
    let diffs: Vec<String> = theirs
        .iter()
        .zip(&ours)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("nats-server: {t}\nnatrium:     {o}\n"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{} of {} steps differ:\n{}",
        diffs.len(),
        theirs.len(),
        diffs.join("\n")
    );
}

/// Writes a transcript to `$NATRIUM_CORPUS_DUMP/<test>.<side>.txt` when that is set.
fn dump(test: &str, side: &str, lines: &[String]) {
    if let Some(dir) = std::env::var_os("NATRIUM_CORPUS_DUMP") {
        let path = std::path::Path::new(&dir).join(format!("{test}.{side}.txt"));
        std::fs::write(path, lines.join("\n") + "\n").expect("write the transcript");
    }
}

const CORPUS: &[Step] = &[
    (
        "$JS.API.STREAM.CREATE.C",
        "",
        r#"{"name":"C","subjects":["c.>"]}"#,
    ),
    ("c.a", "", "one"),
    ("c.b", "X-K: v", "two"),
    ("c.a", "", "three"),
    ("c.c", "", "four"),
    ("c.b", "", "five"),
    (
        "$JS.API.STREAM.CREATE.E",
        "",
        r#"{"name":"E","subjects":["e.*"]}"#,
    ),
    ("e.a", "", "x"),
    ("e.b", "", "y"),
    // Stream not found, consumer not found.
    (
        "$JS.API.CONSUMER.CREATE.NOPE.D",
        "",
        r#"{"stream_name":"NOPE","config":{"durable_name":"D"}}"#,
    ),
    ("$JS.API.CONSUMER.INFO.NOPE.D", "", ""),
    ("$JS.API.CONSUMER.NAMES.NOPE", "", ""),
    ("$JS.API.CONSUMER.LIST.NOPE", "", ""),
    ("$JS.API.CONSUMER.DELETE.NOPE.D", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.NOPE.D", "", ""),
    ("$JS.API.CONSUMER.INFO.C.NOPE", "", ""),
    ("$JS.API.CONSUMER.DELETE.C.NOPE", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.C.NOPE", "", ""),
    ("$JS.API.CONSUMER.NAMES.C", "", ""),
    ("$JS.API.CONSUMER.LIST.C", "", ""),
    // Legacy ephemeral form, on E (random names; E is never listed).
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"inactive_threshold":60000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{}}"#,
    ),
    ("$JS.API.CONSUMER.CREATE.E", "", r#"{"stream_name":"E"}"#),
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"deliver_subject":"dlv.e","ack_policy":"explicit","inactive_threshold":60000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"name":"eph","ack_policy":"explicit","inactive_threshold":60000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"durable_name":"DUR"}}"#,
    ),
    ("$JS.API.CONSUMER.INFO.E.<name1>", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.E.<name1>", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.E.eph",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("@ack:-1:2", "", "+ACK"),
    ("$JS.API.CONSUMER.INFO.E.eph", "", ""),
    ("$JS.API.CONSUMER.DELETE.E.<name1>", "", ""),
    ("$JS.API.CONSUMER.INFO.E.<name1>", "", ""),
    // DURABLE.CREATE.<s>.<c>.
    (
        "$JS.API.CONSUMER.DURABLE.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.DURABLE.CREATE.C.D2",
        "",
        r#"{"stream_name":"C","config":{"ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.DURABLE.CREATE.C.D2",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"X2"}}"#,
    ),
    (
        "$JS.API.CONSUMER.DURABLE.CREATE.C.PD",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PD","deliver_subject":"dlv.pd"}}"#,
    ),
    // CREATE.<s>.<c>.
    (
        "$JS.API.CONSUMER.CREATE.C.P1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P1","ack_policy":"explicit","description":"first"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P2",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"other"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P2",
        "",
        r#"{"stream_name":"C","config":{"name":"other","inactive_threshold":60000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P2",
        "",
        r#"{"stream_name":"C","config":{"name":"P2","durable_name":"P2","ack_policy":"all","inactive_threshold":60000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"X","config":{"durable_name":"P3"}}"#,
    ),
    ("$JS.API.CONSUMER.CREATE.C.P3", "", ""),
    ("$JS.API.CONSUMER.CREATE.C.P3", "", "{nope"),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P3","bogus":1}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P3","ack_policy":"bogus"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P3"},"action":"bogus"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "Nats-Required-Api-Level: 6",
        r#"{"stream_name":"C","config":{"durable_name":"P3"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P3","num_replicas":3}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.a\\b",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"a\\b"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P3",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P3","name":"P4"}}"#,
    ),
    // CREATE.<s>.<c>.<filter>.
    (
        "$JS.API.CONSUMER.CREATE.C.F1.c.a",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F1","filter_subject":"c.a","ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F2.c.*",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F2","filter_subject":"c.*"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F3.c.>",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F3","filter_subject":"c.>"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F4.c.a",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F4","filter_subject":"c.b"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F4.c.a",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F4"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F4.c.a",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F4","filter_subjects":["c.a","c.b"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.F4",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"F4","filter_subjects":["c.a","c.c"],"ack_policy":"explicit"}}"#,
    ),
    // Actions.
    (
        "$JS.API.CONSUMER.CREATE.C.P1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P1","ack_policy":"explicit","description":"first"},"action":"create"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P1","ack_policy":"explicit","description":"changed"},"action":"create"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P5",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P5"},"action":"update"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P1","ack_policy":"explicit","description":"changed"},"action":"update"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.P1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"P1","ack_policy":"explicit","description":"again","ack_wait":5000000000,"max_deliver":5,"filter_subject":"c.b","max_ack_pending":10,"metadata":{"k":"v"}},"action":""}"#,
    ),
    // Validation.
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_policy":"by_start_sequence"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","opt_start_seq":3}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_policy":"by_start_time"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_policy":"new","opt_start_time":"2020-01-01T00:00:00Z"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_policy":"last_per_subject"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","ack_policy":"explicit","ack_wait":-1}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","ack_policy":"explicit","backoff":[1000000000,2000000000],"max_deliver":1}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","filter_subject":"c.a","filter_subjects":["c.b"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","filter_subjects":["c.*","c.a"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","filter_subjects":["c.a",""]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","rate_limit_bps":1000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.v","max_waiting":10}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.v","max_ack_pending":10}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","flow_control":true}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.v","flow_control":true}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","idle_heartbeat":1000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.v","idle_heartbeat":50000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.*"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv..v"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"c.loop"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","max_waiting":-1}}"#,
    ),
    ("$JS.API.CONSUMER.DELETE.C.V", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","max_batch":-1}}"#,
    ),
    ("$JS.API.CONSUMER.DELETE.C.V", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","max_expires":1}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","sample_freq":"abc"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","num_replicas":-1}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","priority_groups":["A"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","priority_policy":"overflow"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","priority_policy":"overflow","priority_groups":["bad group!"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_subject":"dlv.v","priority_policy":"overflow","priority_groups":["A"]}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","ack_policy":"flow_control"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","inactive_threshold":-1}}"#,
    ),
    ("$JS.API.CONSUMER.DELETE.C.V", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","deliver_policy":"bogus"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.V",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"V","ack_policy":"none","max_ack_pending":5}}"#,
    ),
    ("$JS.API.CONSUMER.DELETE.C.V", "", ""),
    // Update rules, on D1 (pull, explicit) and PD (push, none).
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit","deliver_policy":"last"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"all"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit","replay_policy":"original"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit","deliver_subject":"dlv.d1"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit","max_waiting":10}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.D1",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"D1","ack_policy":"explicit","opt_start_seq":2,"deliver_policy":"by_start_sequence"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.PD",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PD"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.PD",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PD","deliver_subject":"dlv.pd","idle_heartbeat":1000000000}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.PD",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PD","deliver_subject":"dlv.pd2","headers_only":true}}"#,
    ),
    // Names, list, paging, delete.
    ("$JS.API.CONSUMER.NAMES.C", "", ""),
    ("$JS.API.CONSUMER.NAMES.C", "", r#"{"offset":2}"#),
    ("$JS.API.CONSUMER.NAMES.C", "", r#"{"offset":100}"#),
    ("$JS.API.CONSUMER.NAMES.C", "", r#"{"subject":"c.a"}"#),
    ("$JS.API.CONSUMER.LIST.C", "", r#"{"offset":5}"#),
    ("$JS.API.CONSUMER.LIST.C", "", "junk"),
    ("$JS.API.CONSUMER.DELETE.C.F3", "", ""),
    ("$JS.API.CONSUMER.DELETE.C.F3", "", ""),
    ("$JS.API.CONSUMER.INFO.C.F3", "", ""),
    ("$JS.API.STREAM.INFO.C", "", ""),
    // Pulls on D1 (explicit, all five messages).
    ("$JS.API.CONSUMER.MSG.NEXT.C.D1", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.C.D1", "", "2"),
    ("$JS.API.CONSUMER.INFO.C.D1", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.D1", "", r#"{"no_wait":true}"#),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "",
        r#"{"batch":2,"expires":200000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "",
        r#"{"batch":3,"no_wait":true,"expires":200000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "",
        r#"{"expires":600000000,"idle_heartbeat":500000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "",
        r#"{"idle_heartbeat":500000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.D1",
        "Nats-Required-Api-Level: 6",
        r#"{"no_wait":true}"#,
    ),
    ("$JS.API.CONSUMER.INFO.C.D1", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.C.PD", "", ""),
    // A pull that waits gets what is published next.
    (
        "~$JS.API.CONSUMER.MSG.NEXT.C.F1",
        "",
        r#"{"batch":3,"expires":1000000000}"#,
    ),
    ("$JS.API.CONSUMER.INFO.C.F1", "", ""),
    ("c.a", "", "six"),
    ("@wait:-3:1", "", ""),
    // Acks: none (P2: nobody listens on its ack subjects), all (AA), explicit (AK).
    ("$JS.API.CONSUMER.MSG.NEXT.C.P2", "", "3"),
    ("@ack:-1:2", "", "+ACK"),
    ("$JS.API.CONSUMER.INFO.C.P2", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.AA",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"AA","ack_policy":"all"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.AA", "", r#"{"batch":3}"#),
    ("@ack:-1:2", "", "+ACK"),
    ("$JS.API.CONSUMER.INFO.C.AA", "", ""),
    ("@ack:-3:1", "", "+ACK"),
    ("@ack:-4:3", "", ""),
    ("$JS.API.CONSUMER.INFO.C.AA", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.AK",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"AK","ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.AK",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("@ack:-1:1", "", "+ACK"),
    ("@ack:-2:1", "", "+ACK"),
    ("@ackq:-3:2", "", "-NAK"),
    ("@ack:-4:3", "", "+TERM"),
    ("@ack:-5:4", "", "+WPI"),
    ("$JS.API.CONSUMER.INFO.C.AK", "", ""),
    ("@ack:-7:5", "", "+NXT"),
    ("$JS.API.CONSUMER.INFO.C.AK", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.AK",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("@ackq:-1:1", "", "+ACK"),
    ("@ack:-4:1", "", "+TERM not wanted"),
    ("@ack:-12:4", "", "+ACK"),
    ("@ack:-13:1", "", "-NAK"),
    ("$JS.API.CONSUMER.INFO.C.AK", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.AK",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("@ack:-16:5", "", "+ACK"),
    ("$JS.API.CONSUMER.INFO.C.AK", "", ""),
    // Pull bodies: junk, batch 0, no reply.
    (
        "$JS.API.CONSUMER.CREATE.C.PL",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PL","ack_policy":"explicit"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.PL", "", "junk"),
    ("$JS.API.CONSUMER.MSG.NEXT.C.PL", "", r#"{"batch":0}"#),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.PL",
        "",
        r#"{"batch":-3,"bogus":true}"#,
    ),
    ("!$JS.API.CONSUMER.MSG.NEXT.C.PL", "", r#"{"batch":2}"#),
    ("$JS.API.CONSUMER.INFO.C.PL", "", ""),
    // max_bytes in a pull.
    (
        "$JS.API.CONSUMER.CREATE.C.MB",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"MB","ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MB",
        "",
        r#"{"batch":5,"max_bytes":10}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MB",
        "",
        r#"{"batch":1,"max_bytes":10000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MB",
        "",
        r#"{"batch":5,"max_bytes":120}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MB",
        "",
        r#"{"batch":5,"max_bytes":1000,"no_wait":true}"#,
    ),
    ("$JS.API.CONSUMER.INFO.C.MB", "", ""),
    // Consumer request limits.
    (
        "$JS.API.CONSUMER.CREATE.C.LIM",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"LIM","ack_policy":"explicit","max_batch":2,"max_expires":1000000000,"max_bytes":20}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.LIM", "", r#"{"batch":3}"#),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.LIM",
        "",
        r#"{"batch":1,"expires":2000000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.LIM",
        "",
        r#"{"batch":1,"max_bytes":30}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.LIM",
        "",
        r#"{"batch":2,"no_wait":true}"#,
    ),
    // max_ack_pending reached.
    (
        "$JS.API.CONSUMER.CREATE.C.MAP",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"MAP","ack_policy":"explicit","max_ack_pending":2}}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MAP",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MAP",
        "",
        r#"{"batch":5,"expires":200000000}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MAP",
        "",
        r#"{"batch":1,"no_wait":true}"#,
    ),
    ("$JS.API.CONSUMER.INFO.C.MAP", "", ""),
    // Waiting requests: max_waiting, requests pending, consumer deleted, heartbeats.
    (
        "$JS.API.CONSUMER.CREATE.C.MW",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"MW","ack_policy":"explicit","filter_subject":"c.none","max_waiting":1}}"#,
    ),
    (
        "~$JS.API.CONSUMER.MSG.NEXT.C.MW",
        "",
        r#"{"batch":2,"expires":400000000}"#,
    ),
    ("$JS.API.CONSUMER.INFO.C.MW", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.MW",
        "",
        r#"{"batch":1,"expires":400000000}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.MW", "", r#"{"no_wait":true}"#),
    ("@wait:-4:1", "", ""),
    ("$JS.API.CONSUMER.INFO.C.MW", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.DEL",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DEL","ack_policy":"explicit","filter_subject":"c.none"}}"#,
    ),
    (
        "~$JS.API.CONSUMER.MSG.NEXT.C.DEL",
        "",
        r#"{"batch":2,"expires":2000000000}"#,
    ),
    ("~$JS.API.CONSUMER.MSG.NEXT.C.DEL", "", r#"{"batch":1}"#),
    ("$JS.API.CONSUMER.INFO.C.DEL", "", ""),
    ("$JS.API.CONSUMER.DELETE.C.DEL", "", ""),
    ("@wait:-4:1", "", ""),
    ("@wait:-4:1", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.C.HBP",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"HBP","ack_policy":"explicit","filter_subject":"c.none"}}"#,
    ),
    (
        "~$JS.API.CONSUMER.MSG.NEXT.C.HBP",
        "",
        r#"{"batch":1,"expires":1200000000,"idle_heartbeat":500000000}"#,
    ),
    ("@wait:-1:3", "", ""),
    // Deliver policies, headers_only.
    (
        "$JS.API.CONSUMER.CREATE.C.DL",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DL","ack_policy":"explicit","deliver_policy":"last"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.DN",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DN","ack_policy":"explicit","deliver_policy":"new"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.DS",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DS","ack_policy":"explicit","deliver_policy":"by_start_sequence","opt_start_seq":4}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.DP",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DP","ack_policy":"explicit","deliver_policy":"last_per_subject","filter_subject":"c.*"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.DT",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"DT","ack_policy":"explicit","deliver_policy":"by_start_time","opt_start_time":"2001-01-01T00:00:00Z"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.HO",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"HO","ack_policy":"explicit","headers_only":true,"filter_subject":"c.b"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.ZZ",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"ZZ","filter_subject":"zz"}}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DL",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DN",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DS",
        "",
        r#"{"batch":2,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DP",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DT",
        "",
        r#"{"batch":1,"no_wait":true}"#,
    ),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.HO",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    ("c.d", "", "seven"),
    ("$JS.API.CONSUMER.INFO.C.DN", "", ""),
    ("$JS.API.CONSUMER.INFO.C.DP", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.C.DN",
        "",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    // Names in the legacy form.
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"name":"a.b"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.E",
        "",
        r#"{"stream_name":"E","config":{"name":"x1","durable_name":"x2"}}"#,
    ),
    (
        "$JS.API.CONSUMER.DURABLE.CREATE.C.x",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"a.b"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.C.a.b",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"a"}}"#,
    ),
    ("$JS.API.CONSUMER.FOO.C", "", ""),
    // Work-queue and max_consumers rules.
    (
        "$JS.API.STREAM.CREATE.WQ",
        "",
        r#"{"name":"WQ","subjects":["wq.*"],"retention":"workqueue"}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W1",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W1"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W1",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W1","ack_policy":"explicit","deliver_policy":"last"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W1",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W1","ack_policy":"explicit","filter_subject":"wq.a"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W2",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W2","ack_policy":"explicit","filter_subject":"wq.*"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W2",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W2","ack_policy":"explicit"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.WQ.W2",
        "",
        r#"{"stream_name":"WQ","config":{"durable_name":"W2","ack_policy":"explicit","filter_subject":"wq.b"}}"#,
    ),
    ("wq.a", "", "job"),
    ("$JS.API.CONSUMER.MSG.NEXT.WQ.W1", "", ""),
    ("@ack:-1:1", "", "+ACK"),
    ("$JS.API.STREAM.INFO.WQ", "", ""),
    (
        "$JS.API.STREAM.CREATE.MC",
        "",
        r#"{"name":"MC","subjects":["mc"],"max_consumers":1}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.MC.M1",
        "",
        r#"{"stream_name":"MC","config":{"durable_name":"M1"}}"#,
    ),
    (
        "$JS.API.CONSUMER.CREATE.MC.M2",
        "",
        r#"{"stream_name":"MC","config":{"durable_name":"M2"}}"#,
    ),
    // Reset: to a sequence, back past the ack floor, refused for deliver new, none there.
    (
        "$JS.API.CONSUMER.CREATE.C.RS",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"RS","ack_policy":"explicit"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.C.RS", "", r#"{"batch":3}"#),
    ("@ack:-1:1", "", "+ACK"),
    ("$JS.API.CONSUMER.RESET.C.RS", "", r#"{"seq":5}"#),
    ("$JS.API.CONSUMER.MSG.NEXT.C.RS", "", r#"{"batch":1}"#),
    ("$JS.API.CONSUMER.RESET.C.RS", "", ""),
    ("$JS.API.CONSUMER.INFO.C.RS", "", ""),
    ("$JS.API.CONSUMER.RESET.C.RS", "", "{bad"),
    (
        "$JS.API.CONSUMER.CREATE.C.RN",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"RN","deliver_policy":"new"}}"#,
    ),
    ("$JS.API.CONSUMER.RESET.C.RN", "", r#"{"seq":2}"#),
    ("$JS.API.CONSUMER.RESET.C.NOPE", "", r#"{"seq":2}"#),
    // Unpin: the request's checks in nats-server's order, then the group.
    (
        "$JS.API.CONSUMER.CREATE.C.PG",
        "",
        r#"{"stream_name":"C","config":{"durable_name":"PG","ack_policy":"explicit","priority_groups":["A"],"priority_policy":"pinned_client"}}"#,
    ),
    ("$JS.API.CONSUMER.UNPIN.C.PG", "", ""),
    ("$JS.API.CONSUMER.UNPIN.C.PG", "", "{bad"),
    ("$JS.API.CONSUMER.UNPIN.C.PG", "", "{}"),
    (
        "$JS.API.CONSUMER.UNPIN.C.PG",
        "",
        r#"{"group":"no spaces"}"#,
    ),
    ("$JS.API.CONSUMER.UNPIN.NOPE.PG", "", r#"{"group":"A"}"#),
    ("$JS.API.CONSUMER.UNPIN.C.NOPE", "", r#"{"group":"A"}"#),
    ("$JS.API.CONSUMER.UNPIN.C.PG", "", r#"{"group":"B"}"#),
    ("$JS.API.CONSUMER.UNPIN.C.D1", "", r#"{"group":"A"}"#),
    ("$JS.API.CONSUMER.UNPIN.C.PG", "", r#"{"group":"A"}"#),
    // Pause (resume: nothing timed), the account, a stream deleted with its consumers.
    ("$JS.API.CONSUMER.PAUSE.C.D1", "", ""),
    ("$JS.API.CONSUMER.PAUSE.C.NOPE", "", ""),
    ("$JS.API.CONSUMER.NAMES.C", "", ""),
    ("$JS.API.STREAM.INFO.C", "", ""),
    ("$JS.API.STREAM.DELETE.E", "", ""),
    ("$JS.API.CONSUMER.INFO.E.eph", "", ""),
    ("$JS.API.INFO", "", ""),
];

/// Redelivery after `ack_wait`, `-NAK` with a delay (JSON and Go duration), `+TERM` with a
/// reason, `max_deliver` exhaustion (the message leaves pending, the ack floor moves, a
/// MAX_DELIVERIES advisory), and `backoff` (500 ms, then 1 s, then the last value again).
const REDELIVERY: &[Step] = &[
    (
        "$JS.API.STREAM.CREATE.R",
        "",
        r#"{"name":"R","subjects":["r.*"]}"#,
    ),
    (
        "@sub:2:$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>",
        "",
        "",
    ),
    ("@sub:3:$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.>", "", ""),
    (
        "@sub:4:$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>",
        "",
        "",
    ),
    ("r.a", "", "one"),
    ("r.b", "", "two"),
    ("r.c", "", "three"),
    (
        "$JS.API.CONSUMER.CREATE.R.W",
        "",
        r#"{"stream_name":"R","config":{"durable_name":"W","ack_policy":"explicit","ack_wait":1000000000,"max_deliver":2,"filter_subject":"r.a"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.R.W", "", r#"{"batch":1}"#),
    ("@sleep:1300", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.R.W", "", r#"{"batch":1}"#),
    ("$JS.API.CONSUMER.INFO.R.W", "", ""),
    // Waits through the second ack_wait: nothing more to deliver, ever.
    (
        "~$JS.API.CONSUMER.MSG.NEXT.R.W",
        "",
        r#"{"batch":1,"expires":2000000000}"#,
    ),
    ("@take:2:1", "", ""),
    ("$JS.API.CONSUMER.INFO.R.W", "", ""),
    ("@wait:-3:1", "", ""),
    ("$JS.API.CONSUMER.INFO.R.W", "", ""),
    ("r.a", "", "again"),
    ("$JS.API.CONSUMER.MSG.NEXT.R.W", "", r#"{"batch":1}"#),
    ("@ack:-1:1", "", "+ACK"),
    ("$JS.API.CONSUMER.INFO.R.W", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.R.N",
        "",
        r#"{"stream_name":"R","config":{"durable_name":"N","ack_policy":"explicit","filter_subject":"r.b"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.R.N", "", r#"{"batch":1}"#),
    ("@ack:-1:1", "", r#"-NAK {"delay":500000000}"#),
    ("@take:3:1", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.R.N", "", r#"{"no_wait":true}"#),
    ("$JS.API.CONSUMER.INFO.R.N", "", ""),
    ("@sleep:700", "", ""),
    ("$JS.API.CONSUMER.MSG.NEXT.R.N", "", r#"{"no_wait":true}"#),
    ("@ack:-1:1", "", "-NAK 300ms"),
    ("@take:3:1", "", ""),
    (
        "$JS.API.CONSUMER.MSG.NEXT.R.N",
        "",
        r#"{"batch":1,"expires":1000000000}"#,
    ),
    ("@ack:-1:1", "", "+TERM gone for good"),
    ("@take:4:1", "", ""),
    ("$JS.API.CONSUMER.INFO.R.N", "", ""),
    (
        "$JS.API.CONSUMER.CREATE.R.B",
        "",
        r#"{"stream_name":"R","config":{"durable_name":"B","ack_policy":"explicit","backoff":[500000000,1000000000],"max_deliver":3,"filter_subject":"r.c"}}"#,
    ),
    ("$JS.API.CONSUMER.MSG.NEXT.R.B", "", r#"{"batch":1}"#),
    (
        "~$JS.API.CONSUMER.MSG.NEXT.R.B",
        "",
        r#"{"batch":1,"expires":800000000}"#,
    ),
    ("@wait:-1:1", "", ""),
    (
        "~$JS.API.CONSUMER.MSG.NEXT.R.B",
        "",
        r#"{"batch":1,"expires":1500000000}"#,
    ),
    ("@wait:-1:1", "", ""),
    ("$JS.API.CONSUMER.INFO.R.B", "", ""),
    // The third delivery times out (the last backoff again, 1 s) while a pull waits.
    (
        "~$JS.API.CONSUMER.MSG.NEXT.R.B",
        "",
        r#"{"batch":1,"expires":1500000000}"#,
    ),
    ("@take:2:1", "", ""),
    ("$JS.API.CONSUMER.INFO.R.B", "", ""),
    ("@wait:-3:1", "", ""),
];

/// Push consumers: delivery to a subscribed deliver subject and acks; idle heartbeats;
/// delivery that waits for a subscriber; flow control (a stall, then the reply).
fn push_steps() -> Vec<Step> {
    let mut steps: Vec<Step> = vec![
        (
            "$JS.API.STREAM.CREATE.P",
            "",
            r#"{"name":"P","subjects":["p.*"]}"#,
        ),
        ("p.a", "", "one"),
        ("p.b", "X-H: 1", "two"),
        ("@sub:2:dlv.pu", "", ""),
        (
            "$JS.API.CONSUMER.CREATE.P.PU",
            "",
            r#"{"stream_name":"P","config":{"durable_name":"PU","deliver_subject":"dlv.pu","ack_policy":"explicit"}}"#,
        ),
        ("@take:2:2", "", ""),
        ("$JS.API.CONSUMER.INFO.P.PU", "", ""),
        ("@ack:-2:1", "", "+ACK"),
        ("p.c", "", "three"),
        ("@take:2:1", "", ""),
        ("$JS.API.CONSUMER.INFO.P.PU", "", ""),
        ("$JS.API.CONSUMER.MSG.NEXT.P.PU", "", ""),
        // Idle heartbeats, after the last delivery.
        ("@sub:3:dlv.hb", "", ""),
        (
            "$JS.API.CONSUMER.CREATE.P.HB",
            "",
            r#"{"stream_name":"P","config":{"durable_name":"HB","deliver_subject":"dlv.hb","deliver_policy":"last","idle_heartbeat":500000000}}"#,
        ),
        ("@take:3:2", "", ""),
        ("@unsub:3", "", ""),
        ("$JS.API.CONSUMER.INFO.P.HB", "", ""),
        // Nobody on the deliver subject yet: delivery waits for one.
        (
            "$JS.API.CONSUMER.CREATE.P.LATE",
            "",
            r#"{"stream_name":"P","config":{"durable_name":"LATE","deliver_subject":"dlv.late","ack_policy":"explicit"}}"#,
        ),
        ("@sleep:300", "", ""),
        ("$JS.API.CONSUMER.INFO.P.LATE", "", ""),
        ("@sub:4:dlv.late", "", ""),
        ("@take:4:3", "", ""),
        ("$JS.API.CONSUMER.INFO.P.LATE", "", ""),
        // Flow control.
        (
            "$JS.API.STREAM.CREATE.BIG",
            "",
            r#"{"name":"BIG","subjects":["big"],"storage":"memory"}"#,
        ),
    ];
    let big: &'static str = Box::leak("x".repeat(60_000).into_boxed_str());
    steps.extend(std::iter::repeat_n(("big", "", big), 40));
    steps.extend([
        ("@sub:5:dlv.fc", "", ""),
        (
            "$JS.API.CONSUMER.CREATE.BIG.FC",
            "",
            r#"{"stream_name":"BIG","config":{"durable_name":"FC","deliver_subject":"dlv.fc","flow_control":true,"idle_heartbeat":500000000}}"#,
        ),
        // 18 messages, the flow control request, 17 more, and a stall.
        ("@take:5:36", "", ""),
        ("@take:5:1", "", ""),
        ("$JS.API.CONSUMER.INFO.BIG.FC", "", ""),
        // The answer to the request (its 19th message with a reply) lets the rest go.
        ("@ackq:-3:19", "", ""),
        ("@take:5:6", "", ""),
        ("@unsub:5", "", ""),
        ("$JS.API.CONSUMER.INFO.BIG.FC", "", ""),
    ]);
    steps
}

/// The consumer API corpus: every step gets nats-server's answers.
#[test]
fn consumer_api_answers_as_nats_server() {
    differential("consumer-corpus", CORPUS);
}

/// Redelivery, NAK delays, max_deliver and backoff as nats-server times them.
#[test]
fn consumer_redelivery_as_nats_server() {
    differential("consumer-redelivery", REDELIVERY);
}

/// Push consumers as nats-server delivers to them.
#[test]
fn push_consumer_as_nats_server() {
    differential("consumer-push", &push_steps());
}
