//! Publish and subscribe permissions, as nats-server enforces them (client.go
//! `setPermissions`, `canSubscribe`, `pubAllowedFullCheck`, `checkDenySub`,
//! `responseAllowed`, `pruneReplyPerms`).
//!
//! Two layers:
//! - [`PermSet`]: a user's permissions compiled once per configuration and shared (`Arc`) by
//!   every connection of that user. Immutable; matching is a scan of the (short) pattern
//!   lists with the sublist's own match rule.
//! - [`ConnPerms`]: what one connection keeps on top of it — the publish decision cache, the
//!   delivery-time deny filter and its cache, and the reply subjects `allow_responses` has
//!   opened. Owned by the connection, so the reactor consults it without locks.
//!
//! Rules, as nats-server has them:
//! - No allow list means everything not denied is allowed; deny overrides allow. An empty
//!   publish allow list allows nothing (it is what `allow_responses` installs), whereas an
//!   empty subscribe allow list is no list at all.
//! - Subscribe entries may be `"subject queue"`: `allow = ["foo v1"]` lets a client
//!   queue-subscribe to `foo` in group `v1` only, and not plain-subscribe to it.
//! - A deny does not stop a wider wildcard subscription (`SUB >` with `deny: secret`); such
//!   subscriptions load a filter that drops denied subjects at delivery.
//! - `allow_responses` lets a connection publish to the reply subject of each request it was
//!   delivered, `max` times within `expires`.
//!
//! Caches are bounded as nats-server bounds them: 128 publish decisions and 256 deny
//! decisions, pruned 32 at a time; the reply table is swept every 4096 additions or second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::options::{
    Permissions, DEFAULT_ALLOW_RESPONSE_EXPIRATION, DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
};
use crate::subject;

/// nats-server's `maxPermCacheSize`.
const MAX_PUB_CACHE: usize = 128;
/// nats-server's `maxDenyPermCacheSize`.
const MAX_DENY_CACHE: usize = 256;
/// nats-server's `pruneSize`.
const PRUNE_SIZE: usize = 32;
/// nats-server's `replyPermLimit` and `replyPruneTime`.
const REPLY_PRUNE_COUNT: usize = 4096;
const REPLY_PRUNE_TIME: Duration = Duration::from_secs(1);
/// The queue group nats-server reserves for its own use; clients may not join it.
pub const SYS_GROUP: &[u8] = b"_sys_";

/// A subject pattern with a queue group name.
type QueueEntry = (Box<[u8]>, Box<[u8]>);

/// A list of subject patterns, some with a queue group (subscribe lists only).
#[derive(Debug, Default, Clone)]
pub struct SubjectList {
    plain: Vec<Box<[u8]>>,
    queued: Vec<QueueEntry>,
}

impl SubjectList {
    fn push(&mut self, subject: &[u8], queue: Option<&[u8]>) {
        match queue {
            None => self.plain.push(subject.into()),
            Some(q) => self.queued.push((subject.into(), q.into())),
        }
    }

    /// A plain entry matches `subject` (nats: the match has psubs).
    fn plain_match(&self, subject: &[u8]) -> bool {
        self.plain.iter().any(|p| subject::matches(p, subject))
    }

    /// The queue entries matching `subject` (nats: the match's qsubs), as queue names.
    fn queue_matches<'a>(&'a self, subject: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.queued
            .iter()
            .filter(move |(p, _)| subject::matches(p, subject))
            .map(|(_, q)| &**q)
    }

    pub fn len(&self) -> usize {
        self.plain.len() + self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in the configuration's notation (`"subject"` or `"subject queue"`).
    pub fn entries(&self) -> Vec<String> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.plain
            .iter()
            .map(|p| s(p))
            .chain(
                self.queued
                    .iter()
                    .map(|(p, q)| format!("{} {}", s(p), s(q))),
            )
            .collect()
    }
}

/// nats-server's `queueMatches`: does the client's `queue` match one of the matched
/// entries' queue names? A queue name with wildcards is a pattern over queue names.
fn queue_matches<'a>(queue: &[u8], mut names: impl Iterator<Item = &'a [u8]>) -> Option<bool> {
    let mut any = false;
    let found = names.any(|name| {
        any = true;
        name == queue || (!subject::is_literal(name) && subject::is_subset_match(queue, name))
    });
    any.then_some(found)
}

/// nats-server's `splitSubjectQueue`: `"subject"` or `"subject queue"`, both valid.
pub fn split_subject_queue(entry: &str) -> Result<(&str, Option<&str>), String> {
    let mut parts = entry.split_whitespace();
    let invalid = || format!("invalid subject-queue {entry:?}");
    let subject = parts.next().ok_or_else(invalid)?;
    let queue = parts.next();
    if parts.next().is_some()
        || !subject::is_valid_subject(subject.as_bytes())
        || queue.is_some_and(|q| !subject::is_valid_subject(q.as_bytes()))
    {
        return Err(invalid());
    }
    Ok((subject, queue))
}

/// `allow_responses` with nats-server's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Responses {
    /// Replies allowed per request; `None` = unlimited.
    pub max: Option<u64>,
    /// `None` = never expires.
    pub ttl: Option<Duration>,
}

/// A user's compiled permissions.
#[derive(Debug, Default)]
pub struct PermSet {
    pub pub_allow: Option<SubjectList>,
    pub pub_deny: Option<SubjectList>,
    pub sub_allow: Option<SubjectList>,
    pub sub_deny: Option<SubjectList>,
    pub responses: Option<Responses>,
}

impl PermSet {
    /// Compiles permissions; entries that are not valid subjects are skipped and reported
    /// (nats-server logs them per connection and carries on). `allow_responses` switches a
    /// missing publish allow list to an empty one, as nats-server's
    /// `validateResponsePermissions` does.
    pub fn compile(p: &Permissions) -> (PermSet, Vec<String>) {
        let mut errors = Vec::new();
        let mut set = PermSet::default();
        let responses = p.response.as_ref().map(|r| Responses {
            max: match r.max_msgs {
                0 => Some(DEFAULT_ALLOW_RESPONSE_MAX_MSGS as u64),
                n if n < 0 => None,
                n => Some(n as u64),
            },
            ttl: match r.expires {
                Some(d) if d.is_zero() => Some(DEFAULT_ALLOW_RESPONSE_EXPIRATION),
                other => other,
            },
        });
        let publish_allow = match p.publish.as_ref().and_then(|s| s.allow.as_ref()) {
            Some(list) => Some(list.as_slice()),
            None if responses.is_some() => Some(&[][..]),
            None => None,
        };
        if let Some(list) = publish_allow {
            let mut l = SubjectList::default();
            for s in list {
                if subject::is_valid_subject(s.as_bytes()) {
                    l.push(s.as_bytes(), None);
                } else {
                    errors.push(format!("invalid publish subject {s:?}"));
                }
            }
            set.pub_allow = Some(l);
        }
        if let Some(deny) = p.publish.as_ref().map(|s| &s.deny) {
            if !deny.is_empty() {
                let mut l = SubjectList::default();
                for s in deny {
                    if subject::is_valid_subject(s.as_bytes()) {
                        l.push(s.as_bytes(), None);
                        continue;
                    }
                    match split_subject_queue(s) {
                        Ok((subj, _)) => {
                            // A queue means nothing for publishing; keep the subject's scope.
                            errors.push(format!(
                                "queue qualifier is not valid for publish deny subject {s:?}"
                            ));
                            l.push(subj.as_bytes(), None);
                        }
                        Err(_) => errors.push(format!("invalid publish deny subject {s:?}")),
                    }
                }
                set.pub_deny = Some(l);
            }
        }
        if let Some(sub) = &p.subscribe {
            let compile = |list: &[String], errors: &mut Vec<String>| {
                let mut l = SubjectList::default();
                for s in list {
                    match split_subject_queue(s) {
                        Ok((subj, q)) => l.push(subj.as_bytes(), q.map(str::as_bytes)),
                        Err(e) => errors.push(e),
                    }
                }
                l
            };
            if let Some(allow) = sub.allow.as_deref().filter(|a| !a.is_empty()) {
                set.sub_allow = Some(compile(allow, &mut errors));
            }
            if !sub.deny.is_empty() {
                set.sub_deny = Some(compile(&sub.deny, &mut errors));
            }
        }
        set.responses = responses;
        (set, errors)
    }

    /// Whether publishing is restricted at all.
    pub fn checks_publish(&self) -> bool {
        self.pub_allow.is_some() || self.pub_deny.is_some()
    }

    /// The static publish decision (allow, then deny), without reply permissions.
    pub fn publish_allowed(&self, subject: &[u8]) -> bool {
        let mut allowed = true;
        if let Some(allow) = &self.pub_allow {
            allowed = allow.plain_match(subject);
        }
        if allowed {
            if let Some(deny) = &self.pub_deny {
                allowed = !deny.plain_match(subject);
            }
        }
        allowed
    }

    /// nats-server's `canSubscribeInternal`.
    pub fn subscribe_allowed(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let mut allowed = true;
        if let Some(allow) = &self.sub_allow {
            allowed = allow.plain_match(subject);
            if let Some(q) = queue {
                if let Some(ok) = queue_matches(q, allow.queue_matches(subject)) {
                    allowed = ok;
                }
            }
        }
        if allowed {
            if let Some(deny) = &self.sub_deny {
                allowed = !deny.plain_match(subject);
                if allowed {
                    if let Some(q) = queue {
                        if let Some(hit) = queue_matches(q, deny.queue_matches(subject)) {
                            allowed = !hit;
                        }
                    }
                }
            }
        }
        allowed
    }

    /// nats-server's `checkDenySub` without its cache: is delivery of `subject` to a
    /// subscription (in `queue`) denied?
    fn delivery_denied(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(deny) = &self.sub_deny else {
            return false;
        };
        if deny.plain_match(subject) {
            return true;
        }
        match queue {
            Some(q) => queue_matches(q, deny.queue_matches(subject)).unwrap_or(false),
            None => false,
        }
    }

    /// Could a subscription on `subject` receive a message a deny entry names? (nats:
    /// `loadMsgDenyFilterIfNeeded`, which loads the filter for wildcard or queue
    /// subscriptions that collide with a deny entry.)
    fn needs_delivery_filter(&self, subject: &[u8], has_queue: bool) -> bool {
        let Some(deny) = &self.sub_deny else {
            return false;
        };
        if !has_queue && subject::is_literal(subject) {
            return false;
        }
        deny.plain
            .iter()
            .map(|p| &**p)
            .chain(deny.queued.iter().map(|(p, _)| &**p))
            .any(|p| subject::subjects_collide(p, subject))
    }
}

/// A reply subject `allow_responses` opened.
#[derive(Debug, Clone, Copy)]
struct Reply {
    since: Instant,
    sent: u64,
}

/// One connection's permission state. See the module docs.
#[derive(Debug)]
pub struct ConnPerms {
    set: Arc<PermSet>,
    pub_cache: FxHashMap<Box<[u8]>, bool>,
    /// Delivery-time deny filter, loaded by the first subscription that needs it.
    deny_filter: bool,
    /// Keyed by [`deny_key`] of (subject, queue).
    deny_cache: FxHashMap<Box<[u8]>, bool>,
    /// Scratch space for building cache keys without allocating.
    key_buf: Vec<u8>,
    replies: FxHashMap<Box<[u8]>, Reply>,
    replies_since_prune: usize,
    last_prune: Instant,
}

impl ConnPerms {
    pub fn new(set: Arc<PermSet>) -> ConnPerms {
        ConnPerms {
            set,
            pub_cache: FxHashMap::default(),
            deny_filter: false,
            deny_cache: FxHashMap::default(),
            key_buf: Vec::new(),
            replies: FxHashMap::default(),
            replies_since_prune: 0,
            last_prune: Instant::now(),
        }
    }

    pub fn set(&self) -> &Arc<PermSet> {
        &self.set
    }

    /// May this connection publish to `subject`? (nats `pubAllowedFullCheck` with the
    /// full check: a static denial may still be lifted by an open reply permission.)
    pub fn publish_allowed(&mut self, subject: &[u8]) -> bool {
        if !self.set.checks_publish() {
            return true;
        }
        if let Some(&allowed) = self.pub_cache.get(subject) {
            return allowed;
        }
        let allowed = self.set.publish_allowed(subject);
        if !allowed && self.set.responses.is_some() {
            // Not cached: the answer changes as replies are used and expire.
            return self.response_allowed(subject);
        }
        if self.pub_cache.len() >= MAX_PUB_CACHE {
            prune(&mut self.pub_cache);
        }
        self.pub_cache.insert(subject.into(), allowed);
        allowed
    }

    /// nats-server's `responseAllowed`: uses up one reply on an open reply subject.
    fn response_allowed(&mut self, subject: &[u8]) -> bool {
        let Some(resp) = self.set.responses else {
            return false;
        };
        let Some(r) = self.replies.get_mut(subject) else {
            return false;
        };
        r.sent += 1;
        let over = resp.max.is_some_and(|m| r.sent > m);
        let expired = resp.ttl.is_some_and(|t| r.since.elapsed() > t);
        if over || expired {
            self.replies.remove(subject);
            return false;
        }
        true
    }

    /// Whether deliveries of requests open reply permissions on this connection.
    #[inline]
    pub fn tracks_replies(&self) -> bool {
        self.set.responses.is_some()
    }

    /// A request with reply subject `reply` was delivered: open the reply unless the
    /// connection may publish there anyway (nats: at the end of `deliverMsg`).
    pub fn track_reply(&mut self, reply: &[u8]) {
        let Some(resp) = self.set.responses else {
            return;
        };
        let statically = if let Some(&a) = self.pub_cache.get(reply) {
            a
        } else {
            self.set.publish_allowed(reply)
        };
        if statically {
            return;
        }
        self.replies.insert(
            reply.into(),
            Reply {
                since: Instant::now(),
                sent: 0,
            },
        );
        self.replies_since_prune += 1;
        if self.replies_since_prune > REPLY_PRUNE_COUNT
            || self.last_prune.elapsed() > REPLY_PRUNE_TIME
        {
            let now = Instant::now();
            self.replies.retain(|_, r| {
                !(resp.max.is_some_and(|m| r.sent >= m)
                    || resp.ttl.is_some_and(|t| now.duration_since(r.since) > t))
            });
            self.replies_since_prune = 0;
            self.last_prune = now;
        }
    }

    /// Open reply permissions (for tests and monitoring).
    pub fn open_replies(&self) -> usize {
        self.replies.len()
    }

    /// May this connection subscribe to `subject` (in `queue`)? Loads the delivery filter
    /// when the subscription is wider than a deny entry (nats `canSubscribe`).
    pub fn subscribe_allowed(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.set.subscribe_allowed(subject, queue) {
            return false;
        }
        if !self.deny_filter && self.set.needs_delivery_filter(subject, queue.is_some()) {
            self.deny_filter = true;
        }
        true
    }

    /// Forgets the delivery filter; subscriptions re-checked after a reload load it again.
    pub fn reset_delivery_filter(&mut self) {
        self.deny_filter = false;
        self.deny_cache.clear();
    }

    /// Must a message on `subject` not be delivered to a subscription (in `queue`)? Only
    /// does work once a subscription has loaded the filter.
    #[inline]
    pub fn delivery_denied(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.deny_filter {
            return false;
        }
        self.delivery_denied_slow(subject, queue)
    }

    /// [`ConnPerms::delivery_denied`] without touching the cache (for choosing a queue
    /// member, which must not deliver yet).
    pub fn would_deny(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.deny_filter && self.set.delivery_denied(subject, queue)
    }

    fn delivery_denied_slow(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        deny_key(&mut self.key_buf, subject, queue);
        if let Some(&denied) = self.deny_cache.get(self.key_buf.as_slice()) {
            return denied;
        }
        let denied = self.set.delivery_denied(subject, queue);
        if self.deny_cache.len() >= MAX_DENY_CACHE {
            prune(&mut self.deny_cache);
        }
        self.deny_cache
            .insert(self.key_buf.as_slice().into(), denied);
        denied
    }
}

/// An unambiguous cache key for (subject, queue): the subject's length, the subject, then
/// the queue if any (subjects may hold any byte but whitespace).
fn deny_key(buf: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    buf.clear();
    buf.extend_from_slice(&(subject.len() as u32).to_le_bytes());
    buf.extend_from_slice(subject);
    if let Some(q) = queue {
        buf.push(1);
        buf.extend_from_slice(q);
    }
}

/// Drops `PRUNE_SIZE` entries (nats-server removes an arbitrary few rather than tracking
/// recency).
fn prune<K: Clone + Eq + std::hash::Hash, V>(map: &mut FxHashMap<K, V>) {
    let victims: Vec<K> = map.keys().take(PRUNE_SIZE).cloned().collect();
    for k in victims {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::options::{ResponsePermission, SubjectPermission};

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn perms(
        pub_allow: Option<&[&str]>,
        pub_deny: &[&str],
        sub_allow: Option<&[&str]>,
        sub_deny: &[&str],
    ) -> ConnPerms {
        let p = Permissions {
            publish: Some(SubjectPermission {
                allow: pub_allow.map(list),
                deny: list(pub_deny),
            }),
            subscribe: Some(SubjectPermission {
                allow: sub_allow.map(list),
                deny: list(sub_deny),
            }),
            response: None,
        };
        let (set, errors) = PermSet::compile(&p);
        assert!(errors.is_empty(), "{errors:?}");
        ConnPerms::new(Arc::new(set))
    }

    #[test]
    fn publish_allow_and_deny_with_wildcards() {
        let mut p = perms(Some(&["foo.*", "bar.>"]), &["bar.secret.>"], None, &[]);
        assert!(p.publish_allowed(b"foo.a"));
        assert!(!p.publish_allowed(b"foo.a.b"));
        assert!(p.publish_allowed(b"bar.x.y"));
        assert!(!p.publish_allowed(b"bar.secret.x"), "deny overrides allow");
        assert!(!p.publish_allowed(b"baz"));
        // Cached answers are the same.
        assert!(!p.publish_allowed(b"bar.secret.x"));
        assert!(p.publish_allowed(b"foo.a"));
        // Empty allow list: nothing.
        let mut p = perms(Some(&[]), &[], None, &[]);
        assert!(!p.publish_allowed(b"foo"));
        // Deny only.
        let mut p = perms(None, &["admin.>"], None, &[]);
        assert!(p.publish_allowed(b"foo"));
        assert!(!p.publish_allowed(b"admin.x"));
    }

    #[test]
    fn publish_cache_is_bounded() {
        let mut p = perms(Some(&["a.*"]), &[], None, &[]);
        for i in 0..10_000 {
            assert!(p.publish_allowed(format!("a.{i}").as_bytes()));
        }
        assert!(p.pub_cache.len() <= MAX_PUB_CACHE);
    }

    #[test]
    fn subscribe_plain_and_queue_forms() {
        // nats-server's own examples (client.go processSubEx).
        let mut p = perms(None, &[], Some(&["foo"]), &[]);
        assert!(p.subscribe_allowed(b"foo", None));
        assert!(p.subscribe_allowed(b"foo", Some(b"any")));
        let mut p = perms(None, &[], Some(&["foo v1"]), &[]);
        assert!(!p.subscribe_allowed(b"foo", None));
        assert!(p.subscribe_allowed(b"foo", Some(b"v1")));
        assert!(!p.subscribe_allowed(b"foo", Some(b"v2")));
        let mut p = perms(None, &[], Some(&["foo", "foo v1"]), &[]);
        assert!(p.subscribe_allowed(b"foo", None));
        assert!(p.subscribe_allowed(b"foo", Some(b"v1")));
        assert!(!p.subscribe_allowed(b"foo", Some(b"v2")));
        // Wildcard queue names are patterns over queue names.
        let mut p = perms(None, &[], Some(&["foo v1.*"]), &[]);
        assert!(p.subscribe_allowed(b"foo", Some(b"v1.a")));
        assert!(!p.subscribe_allowed(b"foo", Some(b"v2.a")));
        // Wildcard subscriptions inside an allowed wildcard.
        let mut p = perms(None, &[], Some(&["foo.>"]), &[]);
        assert!(p.subscribe_allowed(b"foo.*", None));
        assert!(p.subscribe_allowed(b"foo.>", None));
        assert!(!p.subscribe_allowed(b">", None));
        let mut p = perms(None, &[], Some(&["foo.bar"]), &[]);
        assert!(!p.subscribe_allowed(b"foo.*", None));
    }

    #[test]
    fn subscribe_deny_and_delivery_filter() {
        let mut p = perms(None, &[], None, &["secret.>", "jobs bad"]);
        assert!(!p.subscribe_allowed(b"secret.x", None));
        // A literal subscription does not load the filter.
        assert!(p.subscribe_allowed(b"public", None));
        assert!(!p.delivery_denied(b"secret.x", None));
        // A queue subscription colliding with a deny entry does.
        assert!(p.subscribe_allowed(b"jobs", None));
        assert!(!p.subscribe_allowed(b"jobs", Some(b"bad")));
        assert!(p.subscribe_allowed(b"jobs", Some(b"good")));
        assert!(p.delivery_denied(b"jobs", Some(b"bad")));
        // `>` is wider than the deny: allowed, but denied subjects are filtered out.
        assert!(p.subscribe_allowed(b">", None));
        assert!(p.delivery_denied(b"secret.x", None));
        assert!(!p.delivery_denied(b"public", None));
        assert!(p.delivery_denied(b"jobs", Some(b"bad")));
        assert!(!p.delivery_denied(b"jobs", None));
    }

    #[test]
    fn responses_once_not_twice() {
        let p = Permissions {
            publish: None,
            subscribe: None,
            response: Some(ResponsePermission::default()),
        };
        let (set, _) = PermSet::compile(&p);
        assert!(set.pub_allow.as_ref().is_some_and(|l| l.is_empty()));
        let mut p = ConnPerms::new(Arc::new(set));
        assert!(!p.publish_allowed(b"_INBOX.1"));
        p.track_reply(b"_INBOX.1");
        assert!(p.publish_allowed(b"_INBOX.1"));
        assert!(!p.publish_allowed(b"_INBOX.1"));
        assert_eq!(p.open_replies(), 0);
    }

    #[test]
    fn responses_max_and_expiry() {
        let p = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(list(&["svc.>"])),
                deny: vec![],
            }),
            subscribe: None,
            response: Some(ResponsePermission {
                max_msgs: 3,
                expires: Some(Duration::from_millis(50)),
            }),
        };
        let (set, _) = PermSet::compile(&p);
        let mut p = ConnPerms::new(Arc::new(set));
        p.track_reply(b"svc.x"); // allowed anyway: not tracked
        assert_eq!(p.open_replies(), 0);
        p.track_reply(b"r.1");
        assert!(p.publish_allowed(b"r.1"));
        assert!(p.publish_allowed(b"r.1"));
        assert!(p.publish_allowed(b"r.1"));
        assert!(!p.publish_allowed(b"r.1"));
        p.track_reply(b"r.2");
        std::thread::sleep(Duration::from_millis(80));
        assert!(!p.publish_allowed(b"r.2"));
    }

    #[test]
    fn invalid_entries_are_reported_and_skipped() {
        let p = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(list(&["ok", "bad..subject"])),
                deny: list(&["x q"]),
            }),
            subscribe: Some(SubjectPermission {
                allow: Some(list(&["a b c"])),
                deny: vec![],
            }),
            response: None,
        };
        let (set, errors) = PermSet::compile(&p);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(set.pub_allow.as_ref().map(|l| l.len()), Some(1));
        assert_eq!(
            set.pub_deny.as_ref().map(|l| l.entries()),
            Some(list(&["x"]))
        );
    }
}
