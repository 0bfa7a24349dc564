//! Authentication inside the reactor: checking a connection's credentials at CONNECT (or
//! binding it to the `no_auth_user`), bcrypt verdicts coming back from the worker pool, and
//! re-checking connected clients when a reload changes users, credentials or permissions
//! (nats-server's `reloadAuthorization` and `processSubsOnConfigReload`).

use std::sync::Arc;

use log::{debug, error, info};

use super::conn::PendingAuth;
use super::{Control, Reactor};
use crate::auth::certmap::CertNames;
use crate::auth::operator::{self, min_limit};
use crate::auth::permissions::ConnPerms;
use crate::auth::secret::{Job, POOL};
use crate::auth::{self, Auth, ConnType, Presented, UserEntry, Verdict, GLOBAL_ACCOUNT};
use crate::proto::errors::{self, CloseReason};

/// A client's connection type for users' `allowed_connection_types`.
fn conn_type(c: &super::conn::Conn) -> ConnType {
    if c.mqtt.is_some() && c.transport.is_websocket() {
        ConnType::MqttWs
    } else if c.mqtt.is_some() {
        ConnType::Mqtt
    } else if c.transport.is_websocket() {
        ConnType::Websocket
    } else {
        ConnType::Standard
    }
}

/// Where a credentials check ended.
pub(super) enum AuthStep {
    /// Authenticated; the connection carries its user and permissions.
    Done,
    /// Refused: `Authorization Violation` was sent and the connection is closing.
    Failed,
    /// A bcrypt verification runs off the reactor; reading waits for its verdict.
    Pending,
}

impl Reactor {
    /// Checks the credentials of connection `token` (its CONNECT options, nonce and client
    /// certificate) against the current configuration. `reload` marks a re-check of a
    /// connected client.
    pub(super) fn check_credentials(&mut self, token: usize, reload: bool) -> AuthStep {
        let auth = self.auth.clone();
        let handle = self.all[self.id].clone();
        let Some(conn) = self.conns.get_mut(token) else {
            return AuthStep::Failed;
        };
        let cert = if auth.maps_certificates() {
            conn.transport
                .peer_certificates()
                .and_then(|chain| chain.first().and_then(|c| CertNames::from_der(c)))
        } else {
            None
        };
        let nonce = conn.nonce.clone();
        let presented = Presented {
            nonce: nonce.as_deref().unwrap_or_default(),
            cert: cert.as_ref(),
            conn_type: conn_type(conn),
            peer: Some(conn.peer.ip()),
        };
        let mqtt_block = self
            .opts
            .mqtt
            .as_ref()
            .filter(|m| conn.mqtt.is_some() && m.auth_override());
        let verdict = match mqtt_block {
            Some(block) => auth.authenticate_mqtt(&mut conn.opts, &presented, block),
            None => auth.authenticate(&mut conn.opts, &presented),
        };
        match verdict {
            Verdict::Allowed(user) => {
                // nats-server's `registerWithAccount`: a JWT account's `limits.conn` counts
                // its clients on this whole server.
                if let Some(u) = user.as_ref().filter(|u| !reload && u.jwt_limits.is_some()) {
                    let limit = u.jwt_limits.map_or(-1, |l| l.account_conns);
                    if !self.shared.join_account(u.account_id, limit) {
                        error!("{} - {}", conn.label(), errors::MAX_ACCOUNT_CONNECTIONS);
                        conn.queue_err(errors::MAX_ACCOUNT_CONNECTIONS);
                        self.close(token, CloseReason::MaxAccountConnectionsExceeded);
                        return AuthStep::Failed;
                    }
                    conn.counted_in_account = Some(u.account_id);
                }
                self.register_user(token, user);
                AuthStep::Done
            }
            Verdict::Denied(why) => {
                debug!("{} - {why}", conn.label());
                // An account update that revoked a connected user, or removed its account,
                // says so (nats-server's `updateAccountClaimsWithRefresh`, `removeCb`).
                let reason = match why {
                    operator::USER_REVOKED => Some(CloseReason::Revocation),
                    operator::ACCOUNT_EXPIRED => Some(CloseReason::AuthenticationExpired),
                    _ => None,
                };
                match reason.filter(|_| reload) {
                    Some(reason) => {
                        conn.queue_err(why);
                        self.close(token, reason);
                    }
                    None => self.auth_violation(token),
                }
                AuthStep::Failed
            }
            Verdict::NeedsBcrypt {
                hash,
                presented,
                user,
            } => {
                conn.auth_pending = Some(PendingAuth { user, reload });
                let cid = conn.cid;
                POOL.submit(Job {
                    hash,
                    password: presented,
                    cache: auth.bcrypt_cache.clone(),
                    done: Box::new(move |ok| {
                        handle.send_control(Control::AuthVerdict { token, cid, ok });
                    }),
                });
                AuthStep::Pending
            }
        }
    }

    /// A bcrypt verdict for connection `token` (if it is still the same connection).
    pub(super) fn auth_verdict(&mut self, token: usize, cid: u64, ok: bool) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.cid != cid || conn.closing.is_some() {
            return;
        }
        if conn.leaf.is_some() {
            self.leaf_bcrypt_verdict(token, ok);
            if !self.pending_reads.contains(&token) {
                self.pending_reads.push(token);
            }
            return;
        }
        let Some(pending) = conn.auth_pending.take() else {
            return;
        };
        if !ok {
            debug!("{} - password mismatch", conn.label());
            self.auth_violation(token);
            return;
        }
        self.register_user(token, pending.user);
        if pending.reload {
            self.recheck_subscriptions(token);
        } else {
            self.finish_connect(token);
        }
        // Operations that arrived behind the CONNECT wait in `inbuf`.
        if !self.pending_reads.contains(&token) {
            self.pending_reads.push(token);
        }
    }

    /// Binds a connection whose first operation is not CONNECT to the `no_auth_user`, as
    /// nats-server's parser does. Returns false when there is none (the caller then answers
    /// `Authorization Violation`).
    pub(super) fn authenticate_no_auth_user(&mut self, token: usize) -> bool {
        let auth = self.auth.clone();
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if auth.no_auth_user_for(conn_type(conn)).is_none() {
            return false;
        }
        conn.auth_deadline = None;
        conn.connected = true;
        let nonce = conn.nonce.clone();
        let presented = Presented {
            nonce: nonce.as_deref().unwrap_or_default(),
            cert: None,
            conn_type: conn_type(conn),
            peer: Some(conn.peer.ip()),
        };
        match auth.authenticate(&mut conn.opts, &presented) {
            Verdict::Allowed(user) => {
                conn.parser.set_expect_connect(false);
                self.register_user(token, user);
                true
            }
            // A bcrypt password for the no_auth_user is compared with itself by
            // nats-server, which never matches.
            Verdict::Denied(_) | Verdict::NeedsBcrypt { .. } => false,
        }
    }

    /// Gives a connection its user and a fresh permission state (nats `RegisterUser`).
    fn register_user(&mut self, token: usize, user: Option<Arc<UserEntry>>) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.perms = user
            .as_ref()
            .and_then(|u| u.perms.clone())
            .map(|set| Box::new(ConnPerms::new(set)));
        let account = user.as_ref().map_or(GLOBAL_ACCOUNT, |u| &u.account);
        conn.auth_label = auth::auth_user_label(&conn.opts).map(|l| format!("{account}/{l}"));
        // A re-check after a reload keeps the account (a client whose user moved to
        // another account is closed instead), so its subscriptions stay where they are.
        conn.account = user.as_ref().map_or(0, |u| u.account_id);
        // A user JWT that expires closes the connection then (nats-server).
        conn.auth_expires = user.as_ref().filter(|u| u.expires > 0).map(|u| {
            let left = u.expires.saturating_sub(crate::accounts::jwt::now_secs());
            std::time::Instant::now() + std::time::Duration::from_secs(left.max(0) as u64)
        });
        // nats-server's `applyAccountLimits`: the JWT's limits, tightened by the server's.
        conn.jwt_limits = user.as_ref().and_then(|u| u.jwt_limits).map(|l| {
            let server = |n: i64| if n <= 0 { -1 } else { n };
            crate::auth::operator::JwtLimits {
                subs: min_limit(l.subs, server(self.opts.max_subscriptions)),
                payload: min_limit(l.payload, server(self.opts.max_payload)),
                account_conns: l.account_conns,
            }
        });
        if let Some(l) = conn.jwt_limits {
            conn.parser.set_limits(crate::proto::parser::Limits {
                max_control_line: self.opts.max_control_line,
                max_payload: l.payload,
            });
        }
        conn.user = user;
        conn.parser.set_expect_connect(false);
    }

    /// nats-server's `authViolation`: logs who failed (never the secret), sends
    /// `Authorization Violation` and closes.
    pub(crate) fn auth_violation(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if auth::raw_auth_user(&conn.opts).is_empty() {
            error!("{} - authentication error", conn.label());
        } else {
            error!(
                "{} - authentication error - {}",
                conn.label(),
                auth::auth_user_text(&conn.opts)
            );
        }
        if conn.mqtt.is_some() {
            self.mqtt_auth_failed(token);
            return;
        }
        conn.queue_err(errors::AUTH_VIOLATION);
        self.close(token, CloseReason::AuthenticationViolation);
    }

    /// A reload changed users, credentials or permissions: new connections use `auth`, and
    /// each connected client (of `only` these accounts, when given) is re-checked
    /// (nats-server's `reloadAuthorization`).
    pub(super) fn reload_auth(&mut self, auth: Arc<Auth>, only: Option<&[u32]>) {
        let before = self.auth.sharing.clone();
        let known_accounts = self.auth.accounts().len() as u32;
        self.auth = auth.clone();
        if !Arc::ptr_eq(&before, &auth.sharing) {
            self.reinstall_sharing(&before);
        }
        self.install_user_info(known_accounts);
        if auth.required() {
            // Clients that have not sent CONNECT yet must now authenticate with it, in time.
            let deadline = std::time::Instant::now() + self.opts.effective_auth_timeout();
            let waiting: Vec<usize> = self
                .conns
                .iter_mut()
                .filter(|(_, c)| c.is_open() && !c.connected && !c.is_peer())
                .map(|(t, c)| {
                    c.parser.set_expect_connect(true);
                    c.auth_deadline.get_or_insert(deadline);
                    t
                })
                .collect();
            for t in waiting {
                self.arm_timer(t);
            }
        }
        let tokens: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_open() && c.connected && c.auth_pending.is_none())
            .filter(|(_, c)| only.is_none_or(|accounts| accounts.contains(&c.account)))
            .map(|(t, _)| t)
            .collect();
        for token in tokens {
            let Some(conn) = self.conns.get_mut(token) else {
                continue;
            };
            let account = conn.user.as_ref().map_or(GLOBAL_ACCOUNT, |u| &u.account);
            if auth.client_moved(&conn.opts, account) {
                // Its user is gone: closed without an error, so that it reconnects and
                // authenticates afresh.
                debug!(
                    "{} - {} no longer configured; closing",
                    conn.label(),
                    auth::auth_user_text(&conn.opts)
                );
                self.close(token, CloseReason::ClientClosed);
                continue;
            }
            if let AuthStep::Done = self.check_credentials(token, true) {
                self.recheck_subscriptions(token);
            }
        }
    }

    /// Removes the subscriptions the connection's (new) permissions forbid, telling the
    /// client with nats-server's `(sid "…")` variant of the violation.
    fn recheck_subscriptions(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(perms) = conn.perms.as_deref_mut() else {
            return;
        };
        perms.reset_delivery_filter();
        let mut removed = Vec::new();
        for (sid, &key) in &conn.subs {
            let Some(sub) = self.subs.get(key) else {
                continue;
            };
            if !perms.subscribe_allowed(&sub.subject, sub.queue.as_deref()) {
                removed.push((sid.clone(), key));
            }
        }
        if removed.is_empty() {
            return;
        }
        let seq = self.interest_seq + 1;
        let who = auth::auth_user_text(&conn.opts);
        for (sid, key) in removed {
            let Some(conn) = self.conns.get_mut(token) else {
                return;
            };
            conn.subs.remove(&sid);
            conn.needs_interest_seq = seq;
            if let Some(sub) = self.subs.get(key) {
                let q = errors::go_quote;
                conn.queue_err(&errors::subscription_violation(
                    &sub.subject,
                    sub.queue.as_deref(),
                    Some(&sid),
                ));
                match sub.queue.as_deref() {
                    Some(queue) => info!(
                        "Removed sub {} using queue {} (sid {}) for {who} - not authorized",
                        q(&sub.subject),
                        q(queue),
                        q(&sid)
                    ),
                    None => info!(
                        "Removed sub {} (sid {}) for {who} - not authorized",
                        q(&sub.subject),
                        q(&sid)
                    ),
                }
            }
            self.remove_sub(key);
        }
        self.mark_dirty(token);
    }
}
