//! Per-connection deadlines: keepalive PINGs and stale connections, the auth timeout, TLS
//! and WebSocket handshake timeouts, the write deadline and the close drain. One binary heap
//! per reactor; entries are not removed when a deadline moves, a stale one just re-arms.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use log::{debug, error, info, trace};

use super::conn::TlsPhase;
use super::Reactor;
use crate::proto::errors::{self, CloseReason};

impl Reactor {
    // ----- timers ----------------------------------------------------------------------

    pub(crate) fn arm_timer(&mut self, token: usize) {
        if let Some(c) = self.conns.get(token) {
            self.timers.push(Reverse((c.next_deadline(), token, c.cid)));
        }
    }

    pub(super) fn fire_timers(&mut self) {
        let now = Instant::now();
        self.mqtt_sweep_parked(now);
        // Take every due entry first and re-arm afterwards, so a deadline that is still due
        // after its handler ran can never keep this loop spinning.
        let mut due = Vec::new();
        while let Some(Reverse((at, token, cid))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((at, token, cid));
        }
        for (at, token, cid) in due {
            if token == super::system::STATSZ_TIMER {
                self.publish_statsz(now);
                continue;
            }
            let Some(conn) = self.conns.get(token) else {
                continue;
            };
            if conn.cid != cid {
                continue;
            }
            // Entries are not removed when a deadline moves; a stale one just re-arms.
            if conn.next_deadline() > now {
                if conn.next_deadline() != at {
                    self.arm_timer(token);
                }
                continue;
            }
            self.on_deadline(token, now);
            if let Some(c) = self.conns.get(token) {
                let next = c.next_deadline().max(now + Duration::from_millis(1));
                self.timers.push(Reverse((next, token, c.cid)));
            }
        }
    }

    pub(super) fn on_deadline(&mut self, token: usize, now: Instant) {
        let opts = self.opts.clone();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.closing.is_some() {
            if conn.drain_deadline.is_some_and(|d| d <= now) {
                // Give up on the last bytes; finish_closes drops it this turn.
                conn.drain_deadline = None;
                conn.out_pos = conn.out.len();
            }
            return;
        }
        if conn.ws_deadline.is_some_and(|d| d <= now) {
            conn.ws_deadline = None;
            if conn.transport.ws_handshaking() {
                // Go's http server (nats-server's ReadTimeout) closes without a response.
                debug!("{} - websocket handshake timeout", conn.peer);
                self.close(token, CloseReason::ReadError);
                return;
            }
        }
        if conn.tls_deadline.is_some_and(|d| d <= now) {
            conn.tls_deadline = None;
            if conn.tls_phase == TlsPhase::AwaitFirstBytes {
                // handshake_first auto: the peer did not start TLS; INFO first, then it
                // upgrades.
                let Some(accepted) = self.conns.get(token) else {
                    return;
                };
                let line = self.first_info(accepted);
                let Some((config, timeout)) = self.listener_tls(accepted) else {
                    return;
                };
                let Some(conn) = self.conns.get_mut(token) else {
                    return;
                };
                if conn.transport.write_raw(&line).unwrap_or(0) < line.len()
                    || conn.transport.start_tls(config).is_err()
                {
                    self.close(token, CloseReason::WriteError);
                    return;
                }
                conn.tls_phase = TlsPhase::Upgrading;
                conn.tls_deadline = Some(now + timeout);
                return;
            }
            if conn.tls_phase == TlsPhase::Immediate {
                error!(
                    "{} - TLS {} handshake error: timeout",
                    conn.label(),
                    conn.kind_name()
                );
                self.close(token, CloseReason::TlsHandshakeError);
                return;
            }
            if matches!(
                conn.tls_phase,
                TlsPhase::Upgrading | TlsPhase::First | TlsPhase::Sniff
            ) {
                debug!("{} - TLS handshake timeout", conn.label());
                // Plaintext: the peer may be a client that never started TLS.
                let mut line = Vec::new();
                errors::write_err(&mut line, errors::TLS_REQUIRED);
                let _ = conn.transport.write_raw(&line);
                self.close(token, CloseReason::TlsHandshakeError);
                return;
            }
        }
        if conn.auth_deadline.is_some_and(|d| d <= now) {
            conn.auth_deadline = None;
            conn.queue_err(errors::AUTH_TIMEOUT);
            debug!("{} - {}", conn.label(), errors::AUTH_TIMEOUT);
            self.close(token, CloseReason::AuthenticationTimeout);
            return;
        }
        if conn.auth_expires.is_some_and(|d| d <= now) {
            conn.auth_expires = None;
            conn.queue_err(errors::AUTH_EXPIRED);
            debug!("{} - {}", conn.label(), errors::AUTH_EXPIRED);
            self.close(token, CloseReason::AuthenticationExpired);
            return;
        }
        if conn.peer_deadline.is_some_and(|d| d <= now) {
            conn.peer_deadline = None;
            let awaiting_connect_info = conn
                .leaf
                .as_deref()
                .is_some_and(|l| l.awaiting_connect_info);
            if awaiting_connect_info {
                // The hub promised an INFO with `connect_info` and sent none in 2 s.
                conn.queue_err("Stale Leaf Node Connection - Closing");
                debug!("{} - Stale Leaf Node Connection - Closing", conn.label());
                self.close(token, CloseReason::StaleConnection);
            } else {
                // No INFO from the hub in `first_info_timeout` (nats-server's read
                // deadline): not a NATS leaf port, or too slow.
                info!(
                    "{} - Error reading from leafnode: read: i/o timeout",
                    conn.label()
                );
                self.close(token, CloseReason::ReadError);
            }
            return;
        }
        if conn.write_deadline_at.is_some_and(|d| d <= now) {
            conn.write_deadline_at = None;
            if conn.is_peer() {
                // nats-server's default for routes and leaf connections is `write_timeout:
                // retry`: a peer that is slow to take data is kept (max_pending still
                // bounds it).
                debug!(
                    "{} - Write deadline exceeded on a route or leaf connection, retrying",
                    conn.label()
                );
                return;
            }
            info!(
                "{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded with {} chunks of {} total bytes.",
                conn.label(),
                opts.write_deadline,
                1,
                conn.pending()
            );
            self.counters.slow_consumers += 1;
            self.close(token, CloseReason::SlowConsumerWriteDeadline);
            return;
        }
        if conn.ping_at <= now {
            if conn.mqtt.is_some() {
                self.mqtt_keep_alive_expired(token);
                return;
            }
            self.ping_timer(token, now);
        }
    }

    /// nats-server's `processPingTimer`: skip the PING when the client was recently active
    /// and an RTT is known; close as stale after `ping_max` unanswered PINGs.
    pub(super) fn ping_timer(&mut self, token: usize, now: Instant) {
        let opts = self.opts.clone();
        let ping_interval = self.ping_interval_for(token);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.ping_at = now + ping_interval;
        let need_rtt = conn.rtt.is_none()
            || conn
                .rtt_start
                .is_none_or(|s| now.duration_since(s) > Duration::from_secs(3600));
        if now.duration_since(conn.last_in) < ping_interval && !need_rtt {
            debug!(
                "{} - Delaying PING due to remote client data or ping",
                conn.label()
            );
            return;
        }
        let ping_max = match (&conn.route, &self.shared.cluster) {
            (Some(_), Some(cluster)) => cluster.settings.ping_max,
            _ => opts.ping_max,
        };
        if conn.pings_out + 1 > ping_max {
            debug!("{} - Stale Client Connection - Closing", conn.label());
            conn.queue_err(errors::STALE_CONNECTION);
            self.close(token, CloseReason::StaleConnection);
            return;
        }
        conn.pings_out += 1;
        conn.rtt_start = Some(now);
        conn.out.extend_from_slice(crate::proto::PING);
        if log::log_enabled!(log::Level::Trace) {
            trace!("{} - ->> [PING]", conn.label());
        }
        self.mark_dirty(token);
    }
}
