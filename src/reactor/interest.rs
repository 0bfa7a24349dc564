//! Interest: who wants which subjects, counted the way it is announced, and the one set of
//! rules for where a message may go.
//!
//! Three sources of interest meet in a reactor's subject index (`Target`):
//! - its own clients' subscriptions (`Target::Local`), counted per key in `local_interest`;
//! - its own route connections' `RS+` (`Target::Route`), counted in `route_interest`;
//! - what its peer reactors announced of theirs (`Target::Remote`, tagged with the
//!   [`Origin`] of that interest), kept in `remote_interest`.
//!
//! Announcing follows nats-server's route rules everywhere: a plain subject is announced when
//! it is gained and when it is lost (weight 1/0); a queue group's total weight is announced on
//! every change, and 0 withdraws it. Reactors announce their client and their route interest
//! to each other separately, because the two may go to different places.
//!
//! Forwarding rules (nats-server's one hop): a client's message may go to local clients,
//! other reactors' clients and routes; a message that came from a route goes only to this
//! server's clients, never to another route. A route is told the server's *client*
//! interest only (`server_interest`: this reactor's clients plus every peer's clients), never
//! what other routes asked for.

use rustc_hash::FxHashMap;

use super::inbox::InterestChange;
use super::{Reactor, Target};

/// Whose interest an entry is, or where a message came from (nats-server's connection
/// kinds, as far as forwarding cares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Client,
    Route,
    /// A leaf node of ours: a connection we accepted on the leaf port (we are its hub).
    Leaf,
    /// Our hub: a leaf connection we dialled (we are its leaf).
    Hub,
}

impl Origin {
    pub const ALL: u8 = 0b1111;

    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Where a message from a connection of this kind may go, as nats-server forwards:
    /// a client's anywhere; a route's to clients and to our leaf nodes (one hop between
    /// routes); a leaf node's anywhere but back where it came from; our hub's to clients and
    /// our leaf nodes, never to routes (every server of a leaf cluster has its own hub
    /// connection).
    pub fn may_reach(self) -> u8 {
        match self {
            Origin::Client | Origin::Leaf => Origin::ALL,
            Origin::Route | Origin::Hub => Origin::Client.bit() | Origin::Leaf.bit(),
        }
    }

    pub fn from_u8(b: u8) -> Origin {
        match b {
            0 => Origin::Client,
            1 => Origin::Route,
            2 => Origin::Leaf,
            _ => Origin::Hub,
        }
    }
}

/// An account number, a subject and optional queue group, as interest is counted and
/// announced.
pub type InterestKey = (u32, Box<[u8]>, Option<Box<[u8]>>);

pub fn interest_key(account: u32, subject: &[u8], queue: Option<&[u8]>) -> InterestKey {
    (account, subject.into(), queue.map(Into::into))
}

/// The weight to announce when a count goes from `old` to `new`, if the change is announced:
/// plain subjects only when gained or lost, queue groups on every change.
pub fn announcement(queued: bool, old: u32, new: u32) -> Option<u32> {
    if queued {
        (old != new).then_some(new)
    } else {
        ((old == 0) != (new == 0)).then_some((new > 0) as u32)
    }
}

/// What one source adds to an aggregate: a plain subject counts as one source whatever its
/// own count, a queue group with all its weight.
pub fn contribution(queued: bool, count: u32) -> u32 {
    if queued {
        count
    } else {
        (count > 0) as u32
    }
}

/// Counts per interest key; a key whose count reaches 0 is removed.
#[derive(Debug, Default)]
pub struct Counts(FxHashMap<InterestKey, u32>);

impl Counts {
    /// Moves `key`'s count by `delta`; returns the count before and after.
    pub fn add(&mut self, key: &InterestKey, delta: i64) -> (u32, u32) {
        let old = self.0.get(key).copied().unwrap_or(0);
        let new = (old as i64 + delta).clamp(0, u32::MAX as i64) as u32;
        if new == 0 {
            self.0.remove(key);
        } else if new != old {
            self.0.insert(key.clone(), new);
        }
        (old, new)
    }

    pub fn get(&self, key: &InterestKey) -> u32 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&InterestKey, u32)> {
        self.0.iter().map(|(k, v)| (k, *v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which targets of a match a delivery may reach: by origin, among this reactor's targets
/// (`here`) and other reactors' (`there`), as [`Origin::bit`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub here: u8,
    pub there: u8,
}

impl Reach {
    pub const NONE: Reach = Reach { here: 0, there: 0 };

    /// Where a message from a connection of `origin` may go.
    pub fn from(origin: Origin) -> Reach {
        let allowed = origin.may_reach();
        Reach {
            here: allowed,
            there: allowed,
        }
    }

    /// Only this reactor's targets of these origins.
    pub fn here(origins: u8) -> Reach {
        Reach {
            here: origins,
            there: 0,
        }
    }

    pub fn allows(&self, t: &Target) -> bool {
        match *t {
            Target::Remote { origin, .. } => self.there & origin.bit() != 0,
            _ => self.here & t.origin().bit() != 0,
        }
    }
}

impl Reactor {
    /// Whether this server takes part in a cluster, so that routes must be told its clients'
    /// interest (kept even while no route is up, to replay it when one connects).
    pub(crate) fn clustered(&self) -> bool {
        self.clustered
    }

    /// Records a change of this reactor's client interest: for the peers (first/last plain
    /// subscriber on a subject, or a queue group's member count) and, clustered, for the
    /// routes.
    pub(crate) fn note_interest(
        &mut self,
        account: u32,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i32,
    ) {
        let peers = self.has_peers();
        let clustered = self.clustered();
        if !peers && !clustered {
            return;
        }
        let key = interest_key(account, subject, queue);
        let queued = queue.is_some();
        let (old, new) = self.local_interest.add(&key, delta.signum() as i64);
        let Some(weight) = announcement(queued, old, new) else {
            return;
        };
        if clustered {
            let delta = contribution(queued, new) as i64 - contribution(queued, old) as i64;
            self.server_interest_changed(&key, delta);
            self.refresh_leafs(&key);
        }
        if peers {
            self.pending_interest.push(InterestChange {
                account,
                subject: key.1,
                queue: key.2,
                weight,
                origin: Origin::Client,
            });
        }
    }

    /// Records a route's interest changing from `old` to `new` weight (0 = none) on a key:
    /// peers are told this reactor's route interest as a whole.
    pub(crate) fn note_route_interest(&mut self, key: &InterestKey, old: u32, new: u32) {
        self.note_peer_conn_interest(Origin::Route, key, old, new);
    }

    /// Records a leaf connection's interest changing from `old` to `new` weight.
    pub(crate) fn note_leaf_interest(
        &mut self,
        role: crate::leaf::Role,
        key: &InterestKey,
        old: u32,
        new: u32,
    ) {
        let origin = match role {
            crate::leaf::Role::Leaf => Origin::Leaf,
            crate::leaf::Role::Hub => Origin::Hub,
        };
        self.note_peer_conn_interest(origin, key, old, new);
    }

    /// A route's or leaf connection's interest moved from `old` to `new` on `key`: this
    /// reactor's aggregate of that origin, its peers, and (for our leaf nodes, whose
    /// interest is local to this server) the routes and hubs.
    fn note_peer_conn_interest(&mut self, origin: Origin, key: &InterestKey, old: u32, new: u32) {
        let queued = key.2.is_some();
        let delta = contribution(queued, new) as i64 - contribution(queued, old) as i64;
        if delta == 0 {
            return;
        }
        let counts = match origin {
            Origin::Route => &mut self.route_interest,
            Origin::Leaf => &mut self.leaf_interest,
            Origin::Hub | Origin::Client => &mut self.hub_interest,
        };
        let (before, after) = counts.add(key, delta);
        if origin == Origin::Leaf {
            let d = contribution(queued, after) as i64 - contribution(queued, before) as i64;
            self.server_interest_changed(key, d);
        }
        self.refresh_leafs(key);
        if !self.has_peers() {
            return;
        }
        if let Some(weight) = announcement(queued, before, after) {
            self.pending_interest.push(InterestChange {
                account: key.0,
                subject: key.1.clone(),
                queue: key.2.clone(),
                weight,
                origin,
            });
        }
    }

    /// Applies a peer reactor's announcement to the index (and, for client interest of a
    /// clustered server, to what the routes are told).
    pub(super) fn apply_remote_interest(&mut self, from: u16, change: InterestChange) {
        let origin = change.origin;
        let key = (from, origin, (change.account, change.subject, change.queue));
        let old = self.remote_interest.get(&key).copied().unwrap_or(0);
        if old == change.weight {
            return;
        }
        let (subject, queue) = (&key.2 .1, key.2 .2.as_deref());
        let sublist = self.sublist_mut(change.account);
        if old > 0 {
            sublist.remove(
                subject,
                queue,
                Target::Remote {
                    reactor: from,
                    origin,
                    weight: old,
                },
            );
        }
        let mut new = change.weight;
        if new > 0
            && sublist
                .insert(
                    subject,
                    queue,
                    Target::Remote {
                        reactor: from,
                        origin,
                        weight: new,
                    },
                )
                .is_err()
        {
            new = 0;
        }
        if new > 0 {
            self.remote_interest.insert(key.clone(), new);
        } else {
            self.remote_interest.remove(&key);
        }
        if self.clustered() && new != old {
            if matches!(origin, Origin::Client | Origin::Leaf) {
                let queued = key.2 .2.is_some();
                let delta = contribution(queued, new) as i64 - contribution(queued, old) as i64;
                self.server_interest_changed(&key.2, delta);
            }
            self.refresh_leafs(&key.2);
        }
    }

    /// The server's local interest in `key` (its clients' and its leaf nodes') moved by
    /// `delta`: announce the change on this reactor's routes (hub connections, told the same,
    /// are brought up to date by `refresh_leafs`).
    fn server_interest_changed(&mut self, key: &InterestKey, delta: i64) {
        if delta == 0 {
            return;
        }
        let (old, new) = self.server_interest.add(key, delta);
        if let Some(weight) = announcement(key.2.is_some(), old, new) {
            self.announce_to_routes(key, weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_follow_route_rules() {
        // Plain: gained and lost only.
        assert_eq!(announcement(false, 0, 1), Some(1));
        assert_eq!(announcement(false, 1, 2), None);
        assert_eq!(announcement(false, 2, 1), None);
        assert_eq!(announcement(false, 1, 0), Some(0));
        // Queue: every change, with the new total.
        assert_eq!(announcement(true, 0, 1), Some(1));
        assert_eq!(announcement(true, 1, 3), Some(3));
        assert_eq!(announcement(true, 3, 0), Some(0));
        assert_eq!(announcement(true, 2, 2), None);
    }

    #[test]
    fn counts_drop_keys_at_zero() {
        let mut c = Counts::default();
        let k = interest_key(0, b"foo", None);
        assert_eq!(c.add(&k, 1), (0, 1));
        assert_eq!(c.add(&k, 2), (1, 3));
        assert_eq!(c.add(&k, -5), (3, 0));
        assert!(c.is_empty());
        assert_eq!(c.get(&k), 0);
    }
}
