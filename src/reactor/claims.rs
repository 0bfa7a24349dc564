//! The resolver's `$SYS` requests on reactor 0, as nats-server subscribes them in operator
//! mode: account JWT updates (`$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE`, the old
//! `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`, and with the full resolver `$SYS.REQ.CLAIMS.UPDATE`),
//! and with the full resolver `…CLAIMS.LOOKUP`, `$SYS.REQ.CLAIMS.LIST`, `.DELETE` and `.PACK`.
//! [`crate::accounts::resolver`] decides; this module subscribes, replies, and when the
//! stored accounts changed rebuilds authentication and hands it to every reactor, which
//! re-checks the connected clients of the changed accounts (a revoked user is closed with
//! `User Authentication Revoked`).

use std::sync::Arc;

use log::{debug, error, warn};

use super::system::SysRequest;
use super::{Control, Reactor};
use crate::accounts::events::{ClaimsError, ClaimsResponse, ClaimsStatus};
use crate::accounts::resolver::{Checks, ClaimsReply};
use crate::proto::Message;

/// What a claims request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimsRequest {
    /// `…ACCOUNT.<key>.CLAIMS.UPDATE` (either form).
    UpdateAccount,
    /// `$SYS.REQ.CLAIMS.UPDATE`.
    Update,
    Lookup,
    List,
    Delete,
    Pack,
}

impl Reactor {
    /// Subscribes the resolver's requests in the system account (reactor 0 only).
    pub(super) fn install_claims(&mut self, sys: u32) {
        let Some(resolver) = self.auth.resolver().cloned() else {
            return;
        };
        let mut subjects: Vec<(&str, Option<&[u8]>, ClaimsRequest)> = vec![
            (
                "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE",
                None,
                ClaimsRequest::UpdateAccount,
            ),
            (
                "$SYS.ACCOUNT.*.CLAIMS.UPDATE",
                None,
                ClaimsRequest::UpdateAccount,
            ),
        ];
        if resolver.is_full() {
            subjects.extend([
                ("$SYS.REQ.CLAIMS.UPDATE", None, ClaimsRequest::Update),
                (
                    "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP",
                    None,
                    ClaimsRequest::Lookup,
                ),
                ("$SYS.REQ.CLAIMS.LIST", None, ClaimsRequest::List),
                ("$SYS.REQ.CLAIMS.DELETE", None, ClaimsRequest::Delete),
                (
                    "$SYS.REQ.CLAIMS.PACK",
                    Some(b"responder".as_slice()),
                    ClaimsRequest::Pack,
                ),
            ]);
        }
        for (subject, queue, kind) in subjects {
            self.subscribe_system(sys, subject, queue, SysRequest::Claims(kind));
        }
    }

    /// Answers a claims request; applies what changed.
    pub(super) fn answer_claims(&mut self, kind: ClaimsRequest, msg: &Message<'_>) -> bool {
        // Its own handle: the answer below publishes through `self`.
        let auth = self.auth.clone();
        let (Some(resolver), Some(trust)) = (auth.resolver(), auth.trust()) else {
            return false;
        };
        let checks = Checks {
            operator_keys: &trust.operator_keys,
            system_account: auth.system_account().map(|id| auth.account_name(id)),
        };
        let body = msg.data.get(msg.header_len..).unwrap_or_default();
        let reply = msg.reply.to_vec();
        let subject = String::from_utf8_lossy(msg.subject);
        let outcome = match kind {
            ClaimsRequest::UpdateAccount => {
                let Some(key) = account_in(&subject) else {
                    debug!("jwt update skipped due to bad subject {subject:?}");
                    return true;
                };
                resolver.update(Some(key), body, &checks)
            }
            ClaimsRequest::Update => resolver.update(None, body, &checks),
            ClaimsRequest::Delete => resolver.delete_request(body, &checks),
            ClaimsRequest::Lookup => {
                if let Some(key) = account_in(&subject).filter(|_| !reply.is_empty()) {
                    // No JWT: an empty answer tells the asker this server has none.
                    let jwt = resolver.lookup(key).unwrap_or_default();
                    self.publish_system(&reply, b"", jwt.as_bytes());
                }
                return true;
            }
            ClaimsRequest::List => {
                if !reply.is_empty() {
                    let answer = crate::accounts::events::ApiResponse {
                        server: self.server_info(),
                        data: resolver.list(),
                    };
                    if let Ok(json) = serde_json::to_vec(&answer) {
                        self.publish_system(&reply, b"", &json);
                    }
                }
                return true;
            }
            ClaimsRequest::Pack => {
                if !reply.is_empty() {
                    for line in resolver.pack(body) {
                        self.publish_system(&reply, b"", line.as_bytes());
                    }
                    self.publish_system(&reply, b"", b"");
                }
                return true;
            }
        };
        self.report_claims(&reply, &outcome);
        if outcome.changed {
            let accounts = match kind {
                ClaimsRequest::Delete => Vec::new(),
                _ => vec![outcome.account.clone()],
            };
            self.claims_changed(&accounts);
        }
        true
    }

    /// Logs a claims outcome and answers it (nats-server's `respondToUpdate`).
    fn report_claims(&mut self, reply: &[u8], r: &ClaimsReply) {
        let (data, error) = match &r.outcome {
            Ok(message) => {
                if r.account.is_empty() {
                    debug!("{message}");
                } else {
                    debug!("{message} - {}", r.account);
                }
                let status = ClaimsStatus {
                    account: r.account.clone(),
                    code: 200,
                    message: message.clone(),
                };
                (Some(status), None)
            }
            Err(description) => {
                if r.account.is_empty() {
                    error!("{description}");
                } else {
                    error!("{} - {description}", r.account);
                }
                let e = ClaimsError {
                    account: r.account.clone(),
                    code: 500,
                    description: description.clone(),
                };
                (None, Some(e))
            }
        };
        if reply.is_empty() {
            return;
        }
        let answer = ClaimsResponse {
            server: self.server_info(),
            data,
            error,
        };
        if let Ok(json) = serde_json::to_vec(&answer) {
            self.publish_system(reply, b"", &json);
        }
    }

    /// The resolver's accounts changed: authentication is rebuilt from them and given to
    /// every reactor; the clients of `accounts` (of every account, when empty) are
    /// re-checked.
    fn claims_changed(&mut self, accounts: &[String]) {
        let built = match self.auth.rebuild(&self.opts) {
            Ok(b) => b,
            Err(e) => {
                error!("account update not applied: {e}");
                return;
            }
        };
        for w in &built.warnings {
            warn!("{w}");
        }
        let auth = Arc::new(built.auth);
        self.shared.set_auth(auth.clone());
        let ids: Vec<u32> = if accounts.is_empty() {
            (0..auth.accounts().len() as u32).collect()
        } else {
            accounts.iter().filter_map(|a| auth.account_id(a)).collect()
        };
        let ids = Arc::new(ids);
        for (i, handle) in self.all.iter().enumerate() {
            if i != self.id {
                handle.send_control(Control::Claims(auth.clone(), ids.clone()));
            }
        }
        self.reload_auth(auth, Some(&ids));
    }
}

/// The account key of `$SYS.REQ.ACCOUNT.<key>.CLAIMS.<op>` or the old
/// `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`.
fn account_in(subject: &str) -> Option<&str> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        ["$SYS", "REQ", "ACCOUNT", key, "CLAIMS", _] | ["$SYS", "ACCOUNT", key, "CLAIMS", _] => {
            Some(key)
        }
        _ => None,
    }
}
