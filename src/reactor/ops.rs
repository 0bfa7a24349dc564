//! What a reactor does with each client operation: CONNECT, PUB/HPUB, SUB, UNSUB, PING,
//! PONG, -ERR, INFO — with nats-server's replies, error texts and close rules.

use std::time::{Duration, Instant};

use log::{debug, error, trace};

use super::authn::AuthStep;
use super::{Reactor, Sub, Target};
use crate::auth::permissions::SYS_GROUP;
use crate::proto::errors::{self, CloseReason};
use crate::proto::parser::{Op, ParseError};
use crate::proto::{self, Message};
use crate::subject;

/// nats-server's first client PING comes at most this soon after CONNECT, to measure RTT.
const FIRST_CLIENT_PING: Duration = Duration::from_secs(2);

impl Reactor {
    /// Executes one operation. Returns true when it counts as client activity for the
    /// keepalive (messages, subscriptions, PING).
    pub(super) fn execute(&mut self, token: usize, op: Op<'_>) -> bool {
        if log::log_enabled!(log::Level::Trace) {
            self.trace_op(token, &op);
        }
        match op {
            Op::Connect(json) => {
                self.on_connect(token, json);
                false
            }
            Op::Info(json) => {
                // A client's INFO is decoded and ignored; undecodable JSON closes it.
                if serde_json::from_slice::<serde_json::Value>(json).is_err() {
                    self.protocol_violation(token, "invalid INFO");
                }
                false
            }
            Op::Pub {
                subject,
                reply,
                size_text,
                payload,
            } => {
                let msg = Message {
                    subject,
                    reply: reply.unwrap_or_default(),
                    header_len: 0,
                    header_text: b"",
                    size_text,
                    data: payload,
                };
                self.on_pub(token, &msg);
                true
            }
            Op::Hpub {
                subject,
                reply,
                header_text,
                size_text,
                header_len,
                message,
            } => {
                let msg = Message {
                    subject,
                    reply: reply.unwrap_or_default(),
                    header_len,
                    header_text,
                    size_text,
                    data: message,
                };
                self.on_pub(token, &msg);
                true
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                self.on_sub(token, subject, queue, sid);
                true
            }
            Op::Unsub { sid, max } => {
                self.on_unsub(token, sid, max);
                true
            }
            Op::Ping => {
                self.on_ping(token);
                true
            }
            Op::Pong => {
                if let Some(c) = self.conns.get_mut(token) {
                    c.pings_out = 0;
                    if let Some(start) = c.rtt_start {
                        c.rtt = Some(start.elapsed().max(Duration::from_nanos(1)));
                    }
                }
                false
            }
            Op::Ok => false,
            Op::Err(text) => {
                if let Some(c) = self.conns.get(token) {
                    error!(
                        "{} - Client Error {}",
                        c.label(),
                        String::from_utf8_lossy(text)
                    );
                }
                self.close(token, CloseReason::ParseError);
                false
            }
            Op::Nop => false,
        }
    }

    fn trace_op(&self, token: usize, op: &Op<'_>) {
        let Some(c) = self.conns.get(token) else {
            return;
        };
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let line = match op {
            Op::Connect(j) => format!("CONNECT {}", redact_connect(&s(j))),
            Op::Info(j) => format!("INFO {}", s(j)),
            Op::Pub {
                subject,
                reply,
                size_text,
                payload,
            } => {
                trace!(
                    "{} - <<- [PUB {}{} {}]",
                    c.label(),
                    s(subject),
                    reply.map(|r| format!(" {}", s(r))).unwrap_or_default(),
                    s(size_text)
                );
                if let Some(p) = proto::traced_payload(payload, self.opts.max_traced_msg_len) {
                    trace!("{} - <<- {p}", c.label());
                }
                return;
            }
            Op::Hpub {
                subject,
                reply,
                header_text,
                size_text,
                message,
                ..
            } => {
                trace!(
                    "{} - <<- [HPUB {}{} {} {}]",
                    c.label(),
                    s(subject),
                    reply.map(|r| format!(" {}", s(r))).unwrap_or_default(),
                    s(header_text),
                    s(size_text)
                );
                if let Some(p) = proto::traced_payload(message, self.opts.max_traced_msg_len) {
                    trace!("{} - <<- {p}", c.label());
                }
                return;
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                format!(
                    "SUB {}{} {}",
                    s(subject),
                    queue.map(|q| format!(" {}", s(q))).unwrap_or_default(),
                    s(sid)
                )
            }
            Op::Unsub { sid, max } if *max >= 0 => format!("UNSUB {} {max}", s(sid)),
            Op::Unsub { sid, .. } => format!("UNSUB {}", s(sid)),
            Op::Ping => "PING".into(),
            Op::Pong => "PONG".into(),
            Op::Ok => "OK".into(),
            Op::Err(t) => format!("-ERR {}", s(t)),
            Op::Nop => return,
        };
        trace!("{} - <<- [{line}]", c.label());
    }

    /// Handles a parser error: nats-server's reply (if any) and the close.
    pub(super) fn parse_error(&mut self, token: usize, err: ParseError, rest: &[u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let reason = match &err {
            ParseError::UnknownOp => CloseReason::ProtocolViolation,
            ParseError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ParseError::MaxPayload { .. } => CloseReason::MaxPayloadExceeded,
            ParseError::HeadersNotSupported => CloseReason::ProtocolViolation,
            ParseError::NotConnect => CloseReason::AuthenticationViolation,
            ParseError::Args(_) => CloseReason::ProtocolViolation,
        };
        if let Some(text) = err.err_text() {
            conn.queue_err(text);
        }
        match &err {
            ParseError::MaxPayload { size } => {
                error!(
                    "{} - maximum payload exceeded: {size} vs {}",
                    conn.label(),
                    self.opts.max_payload
                )
            }
            ParseError::NotConnect => {
                conn.queue_err(errors::AUTH_VIOLATION);
                error!("{} - authentication error", conn.label());
            }
            ParseError::UnknownOp => {
                let snippet: Vec<u8> = rest.iter().copied().take(32).collect();
                error!(
                    "{} - Client parser ERROR, proto='{:?}...'",
                    conn.label(),
                    String::from_utf8_lossy(&snippet)
                );
            }
            other => error!("{} - {other}", conn.label()),
        }
        self.close(token, reason);
    }

    fn protocol_violation(&mut self, token: usize, why: &str) {
        if let Some(c) = self.conns.get(token) {
            error!("{} - {why}", c.label());
        }
        self.close(token, CloseReason::ProtocolViolation);
    }

    fn on_connect(&mut self, token: usize, json: &[u8]) {
        let supports_headers = !self.opts.no_header_support;
        let ping_interval = self.ping_interval_for(token);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.auth_deadline = None;
        let now = Instant::now();
        if !conn.connected {
            // nats-server estimates the RTT from the accept and pulls the first PING in.
            let first = ping_interval.min(FIRST_CLIENT_PING);
            let jitter = Duration::from_nanos(fastrand::u64(0..=(first.as_nanos() / 5) as u64));
            conn.ping_at = now + first + jitter;
            let since_accept = conn.started.elapsed().unwrap_or_default();
            conn.rtt = Some(since_accept.max(Duration::from_nanos(1)));
        }
        if let Err(e) = conn.opts.apply_connect(json) {
            let label = conn.label().to_string();
            error!("{label} - {e}");
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        // WebSocket: credentials missing from CONNECT come from the configured cookies.
        if let Some(ws) = conn.transport.ws() {
            ws.negotiated.cookies.fill_connect(&mut conn.opts);
        }
        conn.connected = true;
        conn.headers = supports_headers && conn.opts.headers;
        // nats-server authenticates every CONNECT, before looking at the rest of it.
        match self.check_credentials(token, false) {
            AuthStep::Done => self.finish_connect(token),
            AuthStep::Failed | AuthStep::Pending => {}
        }
    }

    /// The rest of CONNECT once the client is authenticated (at once, or when a bcrypt
    /// verdict arrives): account and protocol checks, then `+OK` in verbose mode.
    pub(super) fn finish_connect(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.mqtt.is_some() {
            self.finish_mqtt_connect(token);
            return;
        }
        if !conn.opts.account.is_empty() || conn.opts.new_account {
            self.auth_violation(token);
            return;
        }
        if conn.opts.protocol < 0 || conn.opts.protocol > 1 {
            conn.queue_err(errors::BAD_CLIENT_PROTOCOL);
            self.close(token, CloseReason::BadClientProtocolVersion);
            return;
        }
        conn.parser.set_headers(conn.headers);
        if conn.opts.no_responders && !conn.headers {
            conn.queue_err(errors::NO_RESPONDERS_NEEDS_HEADERS);
            self.close(token, CloseReason::NoRespondersRequiresHeaders);
            return;
        }
        if conn.opts.verbose {
            conn.queue_ok();
        }
        self.mark_dirty(token);
        self.arm_timer(token);
        self.connect_event(token);
    }

    fn on_ping(&mut self, token: usize) {
        let min_acked = self.min_acked();
        let has_peers = self.has_peers();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        // The PONG promises that this client's subscriptions are in place server-wide, so it
        // waits until every peer reactor has applied them.
        if has_peers && conn.needs_interest_seq > min_acked {
            conn.deferred_pongs += 1;
            conn.read_paused = true;
            self.force_seq = true;
            if !self.pong_waiters.contains(&token) {
                self.pong_waiters.push(token);
            }
            return;
        }
        conn.queue_pong();
        if conn.connected && !conn.first_pong_sent {
            conn.first_pong_sent = true;
            if conn.opts.protocol >= 1 {
                // nats-server follows the first PONG with an INFO naming the bound account.
                let mut info = self.shared.info_for_conn(conn);
                info.connect_info = true;
                info.remote_account = self.auth.account_name(conn.account).to_string();
                info.write_to(&mut conn.out);
            }
        }
        self.mark_dirty(token);
    }

    /// A client's PUB or HPUB (or an MQTT PUBLISH). Returns whether anyone got it.
    pub(super) fn on_pub(&mut self, token: usize, msg: &Message<'_>) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let size = msg.data.len() as u64;
        conn.stats.in_msgs += 1;
        conn.stats.in_bytes += size;
        self.counters.in_msgs += 1;
        self.counters.in_bytes += size;
        if conn.opts.pedantic && !subject::is_valid_literal_subject(msg.subject) {
            conn.queue_err(errors::INVALID_PUBLISH_SUBJECT);
            self.mark_dirty(token);
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let denied = reserved_publish(msg.subject)
            || conn
                .perms
                .as_deref_mut()
                .is_some_and(|p| !p.publish_allowed(msg.subject));
        if denied {
            conn.queue_err(&errors::publish_violation(msg.subject));
            error!(
                "{} - Publish Violation - Subject {}",
                conn.label(),
                errors::go_quote(msg.subject)
            );
            self.mark_dirty(token);
            return false;
        }
        if !msg.reply.is_empty() && reserved_reply(msg.reply) {
            conn.queue_err(&errors::reply_violation(msg.reply));
            error!(
                "{} - Publish Violation - Reply {}",
                conn.label(),
                errors::go_quote(msg.reply)
            );
            self.mark_dirty(token);
            return false;
        }
        let account = conn.account;
        if conn.opts.verbose {
            conn.queue_ok();
            self.mark_dirty(token);
        }
        let mut subject = Vec::new();
        let msg = &self.mapped(account, msg, &mut subject);
        let delivered = self.deliver(token, account, msg);
        if !delivered && !msg.reply.is_empty() {
            self.maybe_no_responders(token, msg);
        }
        delivered
    }

    /// Sends the 503 status to a requester that asked for no-responders notices, on its own
    /// subscription that matches the reply subject (nats-server's `subForReply`).
    fn maybe_no_responders(&mut self, token: usize, msg: &Message<'_>) {
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        if !conn.opts.no_responders {
            return;
        }
        let account = conn.account;
        let result = self.sublist_mut(account).match_subject(msg.reply);
        let sid = result.plain.iter().find_map(|t| match *t {
            Target::Local(k) => self
                .subs
                .get(k)
                .filter(|s| s.conn == token)
                .map(|s| s.sid.clone()),
            _ => None,
        });
        if let Some(sid) = sid {
            if let Some(conn) = self.conns.get_mut(token) {
                proto::write_no_responders(&mut conn.out, msg.reply, &sid, msg.subject);
                self.mark_dirty(token);
            }
        }
    }

    pub(super) fn on_sub(
        &mut self,
        token: usize,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) {
        let max_subs = self.opts.max_subscriptions;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let denied = queue == Some(SYS_GROUP)
            || conn
                .perms
                .as_deref_mut()
                .is_some_and(|p| !p.subscribe_allowed(subject, queue));
        if denied {
            conn.queue_err(&errors::subscription_violation(subject, queue, None));
            let q = errors::go_quote;
            match queue {
                Some(queue) => error!(
                    "{} - Subscription Violation - Subject {}, Queue: {}, SID {}",
                    conn.label(),
                    q(subject),
                    q(queue),
                    String::from_utf8_lossy(sid)
                ),
                None => error!(
                    "{} - Subscription Violation - Subject {}, SID {}",
                    conn.label(),
                    q(subject),
                    String::from_utf8_lossy(sid)
                ),
            }
            self.mark_dirty(token);
            return;
        }
        let over = match conn.jwt_limits {
            Some(l) => l.subs != -1 && conn.subs.len() as i64 >= l.subs,
            None => max_subs > 0 && conn.subs.len() as i64 >= max_subs,
        };
        if over {
            error!("{} - {}", conn.label(), errors::MAX_SUBSCRIPTIONS);
            conn.queue_err(errors::MAX_SUBSCRIPTIONS);
            self.mark_dirty(token);
            return;
        }
        let verbose = conn.opts.verbose;
        let account = conn.account;
        // A second SUB with a known sid is accepted and changes nothing.
        if !conn.subs.contains_key(sid) {
            let key = self.subs.insert(Sub {
                conn: token,
                account,
                sid: sid.into(),
                subject: subject.into(),
                queue: queue.map(Into::into),
                max: 0,
                delivered: 0,
                shown: None,
                shadows: Vec::new(),
            });
            if self
                .sublist_mut(account)
                .insert(subject, queue, Target::Local(key))
                .is_err()
            {
                self.subs.remove(key);
                if let Some(conn) = self.conns.get_mut(token) {
                    conn.queue_err(errors::INVALID_SUBJECT);
                }
                self.mark_dirty(token);
                return;
            }
            let seq = self.interest_seq + 1;
            if let Some(conn) = self.conns.get_mut(token) {
                conn.subs.insert(sid.into(), key);
                conn.needs_interest_seq = seq;
            }
            self.note_interest(account, subject, queue, 1);
            self.add_shadows(key);
        }
        if verbose {
            if let Some(conn) = self.conns.get_mut(token) {
                conn.queue_ok();
            }
            self.mark_dirty(token);
        }
    }

    pub(super) fn on_unsub(&mut self, token: usize, sid: &[u8], max: i64) {
        let seq = self.interest_seq + 1;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let verbose = conn.opts.verbose;
        if let Some(&key) = conn.subs.get(sid) {
            let delivered = self.subs.get(key).map_or(0, |s| s.delivered);
            if max > 0 && max as u64 > delivered {
                if let Some(s) = self.subs.get_mut(key) {
                    s.max = max as u64;
                }
            } else {
                conn.subs.remove(sid);
                conn.needs_interest_seq = seq;
                self.remove_sub(key);
            }
        }
        if verbose {
            if let Some(conn) = self.conns.get_mut(token) {
                conn.queue_ok();
            }
            self.mark_dirty(token);
        }
    }

    /// Removes a subscription from the slab, the index and the interest counts. The caller
    /// has already removed it from its connection's sid map (or is closing the connection).
    pub(super) fn remove_sub(&mut self, key: usize) {
        let Some(sub) = self.subs.try_remove(key) else {
            return;
        };
        self.sublist_mut(sub.account).remove(
            &sub.subject,
            sub.queue.as_deref(),
            Target::Local(key),
        );
        self.note_interest(sub.account, &sub.subject, sub.queue.as_deref(), -1);
        for shadow in sub.shadows {
            self.remove_sub(shadow);
        }
        if log::log_enabled!(log::Level::Trace) {
            if let Some(c) = self.conns.get(sub.conn) {
                trace!(
                    "{} - <-> [DELSUB {}]",
                    c.label(),
                    String::from_utf8_lossy(&sub.sid)
                );
            }
        }
    }

    /// Removes the subscriptions that reached their delivery limit in the last delivery loop.
    pub(super) fn apply_auto_unsubs(&mut self) {
        while let Some(key) = self.auto_unsub.pop() {
            let Some(sub) = self.subs.get(key) else {
                continue;
            };
            let (conn, sid) = (sub.conn, sub.sid.clone());
            if let Some(c) = self.conns.get_mut(conn) {
                debug!(
                    "{} - Auto-unsubscribe limit of {} reached for sid '{}'",
                    c.label(),
                    sub.max,
                    String::from_utf8_lossy(&sid)
                );
                c.subs.remove(&sid);
            }
            self.remove_sub(key);
        }
    }
}

/// Subjects no client may publish to, whatever its permissions (nats-server: gateway-routed
/// replies `_GR_.…`, and the `$NRG.` raft subjects of the system account).
fn reserved_publish(subject: &[u8]) -> bool {
    (subject.len() > 5 && subject.starts_with(b"_GR_.")) || subject.starts_with(b"$NRG.")
}

/// Reply subjects no client may use (nats-server's `isReservedReply`: service-import
/// replies `_R_.`, JetStream acks `$JS.ACK.`, gateway-routed replies `_GR_.`).
fn reserved_reply(reply: &[u8]) -> bool {
    (reply.len() > 4 && reply.starts_with(b"_R_."))
        || (reply.len() > 8 && reply.starts_with(b"$JS.ACK."))
        || (reply.len() > 5 && reply.starts_with(b"_GR_."))
}

/// Hides secrets in a traced CONNECT, as nats-server's `removeSecretsFromTrace` does.
fn redact_connect(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in ["pass", "auth_token", "sig", "nkey", "proxy_sig"] {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String("[REDACTED]".into());
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => json.to_string(),
    }
}
