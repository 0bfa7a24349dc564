//! What MQTT connections on different reactors share: the session registry (which
//! connection holds a client ID, and the subscriptions and unacknowledged deliveries of a
//! persistent session while its client is away) and the retained messages.
//!
//! Both sit behind a mutex: they are touched on CONNECT, on close, on SUBSCRIBE and on a
//! retained PUBLISH, never on the ordinary message path.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::packet::SubOptions;

/// Where a client ID is connected now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub reactor: usize,
    pub token: usize,
    pub cid: u64,
}

/// A persistent session (clean session off) while it is kept.
#[derive(Debug, Clone, Default)]
pub struct StoredSession {
    /// Filters as the client sent them, with their options and MQTT 5 identifier.
    pub filters: Vec<(Vec<u8>, SubOptions, Option<u32>)>,
    /// QoS > 0 deliveries not completed: packet identifier → (encoded PUBLISH, QoS,
    /// PUBREL already sent).
    pub inflight: BTreeMap<u16, (Vec<u8>, u8, bool)>,
    /// MQTT 5 session expiry: the session is dropped when its client has been away this
    /// long (None: kept while the server runs).
    pub expires: Option<Instant>,
    /// The reactor holding the session's subscriptions while its client is away, with the
    /// QoS > 0 messages they caught (`reactor::mqtt::park`).
    pub parked_on: Option<usize>,
}

/// A session entry: its holder while connected, its stored state while away.
#[derive(Debug, Default)]
struct Entry {
    holder: Option<Holder>,
    stored: Option<StoredSession>,
}

/// A retained message (the last retained PUBLISH of a topic).
#[derive(Debug, Clone)]
pub struct Retained {
    pub topic: Vec<u8>,
    pub payload: Vec<u8>,
    pub qos: u8,
    /// MQTT 5 user properties of the PUBLISH.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5 message expiry: not sent to new subscribers after this.
    pub expires: Option<Instant>,
}

/// The server-wide MQTT state.
#[derive(Debug, Default)]
pub struct MqttShared {
    /// By account number and client ID.
    sessions: Mutex<FxHashMap<(u32, String), Entry>>,
    /// By account number and NATS subject.
    retained: Mutex<FxHashMap<u32, BTreeMap<Vec<u8>, Retained>>>,
    /// When stored sessions are next looked over for expiry (at most once a second, so a
    /// wave of disconnects does not walk them all each time).
    next_sweep: Mutex<Option<Instant>>,
}

/// What CONNECT found for a client ID.
#[derive(Debug, Default)]
pub struct Claim {
    /// The connection that held the client ID until now (to be closed).
    pub replaced: Option<Holder>,
    /// The session to resume (persistent sessions only).
    pub resumed: Option<StoredSession>,
    /// A stored session that is not resumed (a clean session replaced it, or it expired):
    /// what it parked must go.
    pub discarded: Option<StoredSession>,
}

impl MqttShared {
    /// Binds `client_id` to `holder`. A clean session discards what was stored; otherwise
    /// the stored session (if any) is handed back to be resumed.
    pub fn claim(&self, account: u32, client_id: &str, holder: Holder, clean: bool) -> Claim {
        let mut sessions = lock(&self.sessions);
        let entry = sessions
            .entry((account, client_id.to_string()))
            .or_default();
        let replaced = entry.holder.replace(holder);
        let stored = entry.stored.take();
        let now = Instant::now();
        let (resumed, discarded) = match stored {
            Some(s) if !clean && s.expires.is_none_or(|t| t > now) => (Some(s), None),
            other => (None, other),
        };
        Claim {
            replaced,
            resumed,
            discarded,
        }
    }

    /// The connection `holder` ended. Its session is kept when `keep` is given (a
    /// persistent session), dropped otherwise. A holder that was replaced meanwhile changes
    /// nothing (the new connection owns the session): returns false then.
    pub fn release(
        &self,
        account: u32,
        client_id: &str,
        holder: Holder,
        keep: Option<StoredSession>,
    ) -> bool {
        let mut sessions = lock(&self.sessions);
        let key = (account, client_id.to_string());
        let Some(entry) = sessions.get_mut(&key) else {
            return false;
        };
        if entry.holder != Some(holder) {
            return false;
        }
        entry.holder = None;
        match keep {
            Some(s) => entry.stored = Some(s),
            None => {
                sessions.remove(&key);
            }
        }
        // Expired sessions of clients that never came back.
        let now = Instant::now();
        let mut next = lock(&self.next_sweep);
        if next.is_some_and(|t| t > now) {
            return true;
        }
        *next = Some(now + Duration::from_secs(1));
        sessions.retain(|_, e| {
            e.holder.is_some()
                || e.stored
                    .as_ref()
                    .is_some_and(|s| s.expires.is_none_or(|t| t > now))
        });
        true
    }

    /// The session of a connection that another one on the same reactor is taking over:
    /// stored for it (whoever holds the client ID now), so that its claim resumes it.
    pub fn hand_over(&self, account: u32, client_id: &str, keep: Option<StoredSession>) {
        if let Some(e) = lock(&self.sessions).get_mut(&(account, client_id.to_string())) {
            e.stored = keep;
        }
    }

    /// A persistent session read back at start-up, with no connection yet.
    pub fn restore_session(&self, account: u32, client_id: &str, s: StoredSession) {
        lock(&self.sessions).insert(
            (account, client_id.to_string()),
            Entry {
                holder: None,
                stored: Some(s),
            },
        );
    }

    /// Sessions known (connected or stored), for monitoring.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Stores (or, with an empty payload, removes) the retained message of `subject`.
    pub fn retain(&self, account: u32, subject: &[u8], msg: Retained) {
        let mut retained = lock(&self.retained);
        let by_subject = retained.entry(account).or_default();
        if msg.payload.is_empty() {
            by_subject.remove(subject);
        } else {
            by_subject.insert(subject.to_vec(), msg);
        }
    }

    /// The retained messages whose subject matches one of `patterns`, by subject, skipping
    /// expired ones.
    pub fn retained_matching(
        &self,
        account: u32,
        patterns: &[Vec<u8>],
    ) -> Vec<(Vec<u8>, Retained)> {
        let mut retained = lock(&self.retained);
        let Some(by_subject) = retained.get_mut(&account) else {
            return Vec::new();
        };
        let now = Instant::now();
        by_subject.retain(|_, m| m.expires.is_none_or(|t| t > now));
        by_subject
            .iter()
            .filter(|(subject, _)| patterns.iter().any(|p| crate::subject::matches(p, subject)))
            .map(|(s, m)| (s.clone(), m.clone()))
            .collect()
    }

    /// Retained messages held, for monitoring.
    pub fn retained_count(&self) -> usize {
        lock(&self.retained).values().map(BTreeMap::len).sum()
    }
}

/// A poisoned lock only means another thread panicked while holding it; the maps stay
/// usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(token: usize) -> Holder {
        Holder {
            reactor: 0,
            token,
            cid: token as u64,
        }
    }

    #[test]
    fn a_persistent_session_is_resumed_and_a_clean_one_discarded() {
        let s = MqttShared::default();
        assert!(s.claim(0, "dev", holder(1), false).resumed.is_none());
        let kept = StoredSession {
            filters: vec![(b"a/b".to_vec(), SubOptions::default(), None)],
            ..StoredSession::default()
        };
        s.release(0, "dev", holder(1), Some(kept));
        let c = s.claim(0, "dev", holder(2), false);
        assert_eq!(c.replaced, None);
        assert_eq!(c.resumed.unwrap().filters.len(), 1);
        s.release(0, "dev", holder(2), Some(StoredSession::default()));
        assert!(s.claim(0, "dev", holder(3), true).resumed.is_none());
    }

    #[test]
    fn a_second_connection_replaces_the_first_which_then_changes_nothing() {
        let s = MqttShared::default();
        s.claim(0, "dev", holder(1), false);
        let c = s.claim(0, "dev", holder(2), false);
        assert_eq!(c.replaced, Some(holder(1)));
        s.release(0, "dev", holder(1), None);
        assert_eq!(s.session_count(), 1, "the new holder keeps the entry");
        // Accounts are separate.
        assert!(s.claim(1, "dev", holder(3), false).replaced.is_none());
    }

    #[test]
    fn retained_messages_by_pattern_and_removal() {
        let s = MqttShared::default();
        let msg = |p: &[u8]| Retained {
            topic: b"t".to_vec(),
            payload: p.to_vec(),
            qos: 1,
            user_properties: Vec::new(),
            expires: None,
        };
        s.retain(0, b"a.b", msg(b"1"));
        s.retain(0, b"a.c", msg(b"2"));
        assert_eq!(s.retained_matching(0, &[b"a.*".to_vec()]).len(), 2);
        assert_eq!(s.retained_matching(0, &[b"a.b".to_vec()]).len(), 1);
        assert_eq!(s.retained_matching(1, &[b">".to_vec()]).len(), 0);
        s.retain(0, b"a.b", msg(b""));
        assert_eq!(s.retained_count(), 1);
    }
}
