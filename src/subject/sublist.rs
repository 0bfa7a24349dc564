//! The subject index ("sublist"): which subscriptions does a published
//! subject reach? Behaviour follows nats-server's `Sublist`
//! (`server/sublist.go`); the code is our own.
//!
//! This module owns the index and its match cache. What an entry *is* (a
//! subscription id, a client handle) is up to the caller: an entry is a
//! `(subject, queue, value)` triple with `value: T`.
//!
//! Structure and invariants:
//! - A trie with one node per token. Each node keys its literal children by
//!   token bytes and keeps the `*` and `>` children apart, so matching a
//!   token is one hash lookup plus two pointer checks.
//! - A node holds the entries whose subject ends there: plain values, and
//!   queue groups by name. A triple is stored at most once; inserting it again
//!   changes nothing.
//! - Every node that holds no entry and has no child is pruned as soon as a
//!   remove makes it so; an empty index is a bare root. No queue group is
//!   ever empty.
//! - The match cache maps a subject (as given to `match_subject`) to the
//!   shared result last computed for it. **Cache rule:** an insert adds the
//!   new entry to every cached result whose subject the inserted pattern
//!   matches, and a remove evicts every cached result whose subject the
//!   removed pattern matches; nothing else is touched (`remove_batch`, like
//!   nats `RemoveBatch`, drops the whole cache instead). Results are never
//!   mutated once handed out (copy-on-write through `Arc::make_mut`), so a
//!   caller's `Arc` is a stable snapshot and a cached one is never stale.
//! - The cache holds at most `CACHE_MAX` (1024) subjects: a miss that would
//!   exceed it sweeps the cache down to `CACHE_SWEEP` (256), keeping the
//!   subject just added. nats does the same sweep on a goroutine.
//! - Nothing recurses on subject depth (traversals use explicit stacks, and
//!   the trie dismantles itself iteratively on drop), so arbitrarily long
//!   subjects cannot overflow the stack, and no input bytes can panic.
//!
//! Deliberate differences from nats: re-inserting a stored triple is a no-op
//! (nats would bump its counters and add a duplicate to cached results), and
//! remote queue weights (`qw`) are not modelled: a caller wanting weighted
//! members inserts distinct values.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{is_literal, is_matchable, is_valid_pattern, matches, tokens, FWC, PWC, TSEP};

/// nats `slCacheMax`: the most subjects the match cache holds.
pub const CACHE_MAX: usize = 1024;
/// nats `slCacheSweep`: what an overfull cache is swept down to.
pub const CACHE_SWEEP: usize = 256;
/// Member lists longer than this get a hash index, so that insert and remove
/// on a node with many subscribers (fan-out subjects) stay O(1).
const MEMBER_INDEX_AT: usize = 32;
/// A match result with more queue groups than this finds groups by name
/// through a hash index instead of a linear scan.
const QUEUE_INDEX_AT: usize = 16;

/// The subject cannot be subscribed to: it has an empty token, or a token
/// after `>`. The server answers `-ERR 'Invalid Subject'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSubject;

impl fmt::Display for InvalidSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid subject")
    }
}

impl std::error::Error for InvalidSubject {}

/// Everything a subject reaches. A value appears in `plain` once per
/// matching pattern it was subscribed with (as in nats); queue groups are
/// merged by name across all matching patterns, one group per name. The
/// order of values and groups is unspecified.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult<T> {
    pub plain: Vec<T>,
    pub queues: Vec<QueueGroup<T>>,
}

/// The members of one queue group that a subject reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueGroup<T> {
    pub name: Box<[u8]>,
    pub members: Vec<T>,
}

impl<T> MatchResult<T> {
    /// No plain subscriber and no queue group.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// The queue group called `name`, if the subject reaches it.
    pub fn queue(&self, name: &[u8]) -> Option<&QueueGroup<T>> {
        self.queues.iter().find(|g| &*g.name == name)
    }
}

impl<T> Default for MatchResult<T> {
    fn default() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// The numbers `/subsz` reports, computed as nats `Sublist.Stats()` does.
///
/// `cache_hits`, `total_fanout` and `cache_count` are the inputs nats keeps
/// unexported so that [`SublistStats::add`] can aggregate accounts; they are
/// not part of the JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SublistStats {
    pub num_subs: u64,
    pub num_cache: u64,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    /// Cache hits over matches; note that `has_interest` hits count as hits
    /// but not as matches, exactly as in nats.
    pub cache_hit_rate: f64,
    /// Largest cached result, counting plain values plus queue *groups*.
    pub max_fanout: u64,
    /// Mean of the same over all cached results (empty ones included).
    pub avg_fanout: f64,
    pub cache_hits: u64,
    pub total_fanout: u64,
    pub cache_count: u64,
}

impl SublistStats {
    /// nats `SublistStats.add`: fold another sublist's stats into these, as
    /// `/subsz` does over accounts.
    pub fn add(&mut self, other: &SublistStats) {
        self.num_subs += other.num_subs;
        self.num_cache += other.num_cache;
        self.num_inserts += other.num_inserts;
        self.num_removes += other.num_removes;
        self.num_matches += other.num_matches;
        self.cache_hits += other.cache_hits;
        self.max_fanout = self.max_fanout.max(other.max_fanout);
        self.total_fanout += other.total_fanout;
        self.cache_count += other.cache_count;
        if self.total_fanout > 0 {
            self.avg_fanout = self.total_fanout as f64 / self.cache_count as f64;
        }
        if self.num_matches > 0 {
            self.cache_hit_rate = self.cache_hits as f64 / self.num_matches as f64;
        }
    }
}

/// A set of values kept as a plain list, because matching copies the list
/// into results wholesale. Large lists also get an index so membership
/// tests do not scan.
struct Members<T> {
    list: Vec<T>,
    index: Option<FxHashMap<T, usize>>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members {
            list: Vec::new(),
            index: None,
        }
    }
}

impl<T: Copy + Eq + Hash> Members<T> {
    fn as_slice(&self) -> &[T] {
        &self.list
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds `v`; false if it was already there.
    fn insert(&mut self, v: T) -> bool {
        match &mut self.index {
            Some(index) => {
                if index.contains_key(&v) {
                    return false;
                }
                index.insert(v, self.list.len());
            }
            None => {
                if self.list.contains(&v) {
                    return false;
                }
            }
        }
        self.list.push(v);
        if self.index.is_none() && self.list.len() > MEMBER_INDEX_AT {
            self.index = Some(self.list.iter().enumerate().map(|(i, &v)| (v, i)).collect());
        }
        true
    }

    /// Removes `v`; false if it was not there.
    fn remove(&mut self, v: T) -> bool {
        let pos = match &mut self.index {
            Some(index) => index.remove(&v),
            None => self.list.iter().position(|x| *x == v),
        };
        let Some(pos) = pos else {
            return false;
        };
        self.list.swap_remove(pos);
        if let Some(index) = &mut self.index {
            if self.list.len() < MEMBER_INDEX_AT / 2 {
                // Hysteresis: a list hovering at the threshold must not
                // rebuild its index on every insert.
                self.index = None;
            } else if let Some(&moved) = self.list.get(pos) {
                index.insert(moved, pos);
            }
        }
        true
    }
}

/// One trie node: the level below it and the entries ending at it.
struct Node<T> {
    literal: FxHashMap<Box<[u8]>, Node<T>>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
    plain: Members<T>,
    queues: FxHashMap<Box<[u8]>, Members<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: FxHashMap::default(),
            pwc: None,
            fwc: None,
            plain: Members::default(),
            queues: FxHashMap::default(),
        }
    }
}

impl<T> Node<T> {
    fn has_entries(&self) -> bool {
        !self.plain.list.is_empty() || !self.queues.is_empty()
    }

    fn num_children(&self) -> usize {
        self.literal.len() + usize::from(self.pwc.is_some()) + usize::from(self.fwc.is_some())
    }

    fn is_dead(&self) -> bool {
        !self.has_entries() && self.num_children() == 0
    }

    /// The child for a *pattern* token, where `*` and `>` are wildcards.
    fn child(&self, tok: &[u8]) -> Option<&Node<T>> {
        match tok {
            PWC => self.pwc.as_deref(),
            FWC => self.fwc.as_deref(),
            _ => self.literal.get(tok),
        }
    }

    fn child_mut(&mut self, tok: &[u8]) -> Option<&mut Node<T>> {
        match tok {
            PWC => self.pwc.as_deref_mut(),
            FWC => self.fwc.as_deref_mut(),
            _ => self.literal.get_mut(tok),
        }
    }

    fn child_or_insert(&mut self, tok: &[u8]) -> &mut Node<T> {
        match tok {
            PWC => self.pwc.get_or_insert_with(Box::default),
            FWC => self.fwc.get_or_insert_with(Box::default),
            _ => self.literal.entry(Box::from(tok)).or_default(),
        }
    }

    fn remove_child(&mut self, tok: &[u8]) {
        match tok {
            PWC => self.pwc = None,
            FWC => self.fwc = None,
            _ => {
                self.literal.remove(tok);
                if self.literal.is_empty() {
                    // Give back the table a burst of subjects grew.
                    self.literal = FxHashMap::default();
                }
            }
        }
    }

    /// Moves all children onto `out`, leaving this node childless.
    fn detach_children(&mut self, out: &mut Vec<Node<T>>) {
        out.extend(std::mem::take(&mut self.literal).into_values());
        if let Some(n) = self.pwc.take() {
            out.push(*n);
        }
        if let Some(n) = self.fwc.take() {
            out.push(*n);
        }
    }
}

impl<T> Drop for Node<T> {
    fn drop(&mut self) {
        // The default drop would recurse once per trie level; a subject with
        // enough tokens would then overflow the stack.
        if self.num_children() == 0 {
            return;
        }
        let mut stack = Vec::new();
        self.detach_children(&mut stack);
        while let Some(mut node) = stack.pop() {
            node.detach_children(&mut stack);
        }
    }
}

/// The first token of `s` and the rest after its separator (`None` when
/// this is the last token).
#[inline]
fn split_first_token(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == TSEP) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Builds a match result; borrows queue names from the trie while working.
struct Collector<'a, T> {
    plain: Vec<T>,
    queues: Vec<QueueGroup<T>>,
    names: Vec<&'a [u8]>,
    index: Option<FxHashMap<&'a [u8], usize>>,
}

impl<'a, T: Copy + Eq + Hash> Collector<'a, T> {
    fn new() -> Self {
        Collector {
            plain: Vec::new(),
            queues: Vec::new(),
            names: Vec::new(),
            index: None,
        }
    }

    fn slot(&self, name: &[u8]) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.names.iter().position(|n| *n == name),
        }
    }

    fn add(&mut self, node: &'a Node<T>) {
        self.plain.extend_from_slice(node.plain.as_slice());
        if node.queues.is_empty() {
            return;
        }
        // Names are unique within a node, so only groups from earlier nodes
        // can need merging; with none, skip the search entirely.
        let merge = !self.queues.is_empty();
        for (name, members) in &node.queues {
            let existing = if merge { self.slot(name) } else { None };
            match existing.and_then(|i| self.queues.get_mut(i)) {
                Some(group) => group.members.extend_from_slice(members.as_slice()),
                None => {
                    if let Some(index) = &mut self.index {
                        index.insert(name, self.queues.len());
                    }
                    self.names.push(name);
                    self.queues.push(QueueGroup {
                        name: name.clone(),
                        members: members.as_slice().to_vec(),
                    });
                }
            }
        }
        if self.index.is_none() && self.names.len() > QUEUE_INDEX_AT {
            self.index = Some(
                self.names
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (n, i))
                    .collect(),
            );
        }
    }
}

/// Adds one entry to a (copied-on-write) cached result.
fn add_to_result<T: Clone>(result: &mut MatchResult<T>, queue: Option<&[u8]>, value: T) {
    match queue {
        None => result.plain.push(value),
        Some(q) => match result.queues.iter_mut().find(|g| &*g.name == q) {
            Some(group) => group.members.push(value),
            None => result.queues.push(QueueGroup {
                name: Box::from(q),
                members: vec![value],
            }),
        },
    }
}

type Cache<T> = FxHashMap<Box<[u8]>, Arc<MatchResult<T>>>;

/// The subject index. See the module docs for its invariants.
pub struct Sublist<T> {
    root: Node<T>,
    cache: Option<Cache<T>>,
    /// Shared by every empty answer, so misses on dead subjects allocate no
    /// result (nats `emptyResult`).
    empty: Arc<MatchResult<T>>,
    count: usize,
    inserts: u64,
    removes: u64,
    matches: u64,
    cache_hits: u64,
    generation: u64,
}

impl<T> fmt::Debug for Sublist<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sublist")
            .field("count", &self.count)
            .field("cache", &self.cache.as_ref().map(|c| c.len()))
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl<T: Copy + Eq + Hash + fmt::Debug> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Eq + Hash + fmt::Debug> Sublist<T> {
    /// An empty index with the match cache on (nats `NewSublistWithCache`).
    pub fn new() -> Self {
        Self::with_cache(true)
    }

    /// An empty index without the match cache (nats `NewSublistNoCache`).
    pub fn without_cache() -> Self {
        Self::with_cache(false)
    }

    /// nats `NewSublist(enableCache)`, for the `no_sublist_cache` option.
    pub fn with_cache(enabled: bool) -> Self {
        Sublist {
            root: Node::default(),
            cache: enabled.then(FxHashMap::default),
            empty: Arc::new(MatchResult::default()),
            count: 0,
            inserts: 0,
            removes: 0,
            matches: 0,
            cache_hits: 0,
            generation: 0,
        }
    }

    pub fn cache_enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Subjects in the match cache (nats `CacheCount`).
    pub fn cache_count(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Bumped by every change to the entries (nats `genid`), so a caller
    /// keeping its own per-connection result cache knows when to drop it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Entries stored.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Stores `value` under `subject` (a pattern: `*` and `>` tokens are
    /// wildcards), in queue group `queue` if given. Like nats `Insert`, this
    /// rejects only empty tokens and tokens after `>`; stricter subject rules
    /// are the protocol layer's. Storing a triple that is already stored
    /// changes nothing.
    pub fn insert(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), InvalidSubject> {
        if !is_valid_pattern(subject) {
            return Err(InvalidSubject);
        }
        let mut node = &mut self.root;
        for tok in tokens(subject) {
            node = node.child_or_insert(tok);
        }
        let added = match queue {
            None => node.plain.insert(value),
            Some(q) => match node.queues.get_mut(q) {
                Some(members) => members.insert(value),
                None => {
                    let mut members = Members::default();
                    members.insert(value);
                    node.queues.insert(Box::from(q), members);
                    true
                }
            },
        };
        if !added {
            return Ok(());
        }
        self.count += 1;
        self.inserts += 1;
        self.generation += 1;
        self.add_to_cache(subject, queue, value);
        Ok(())
    }

    fn add_to_cache(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) {
        let Some(cache) = &mut self.cache else {
            return;
        };
        if is_literal(subject) {
            // A literal pattern matches only the identical subject.
            if let Some(result) = cache.get_mut(subject) {
                add_to_result(Arc::make_mut(result), queue, value);
            }
            return;
        }
        for (key, result) in cache.iter_mut() {
            if matches(subject, key) {
                add_to_result(Arc::make_mut(result), queue, value);
            }
        }
    }

    /// Removes the triple; false if it was not stored (or the subject is
    /// not insertable). Nodes left empty are pruned.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) -> bool {
        if !self.remove_entry(subject, queue, value) {
            return false;
        }
        self.generation += 1;
        self.remove_from_cache(subject);
        true
    }

    /// nats `RemoveBatch`, used when a connection goes away: removes each
    /// triple, then, if the batch was not empty, drops the whole match cache
    /// rather than invalidating entry by entry. Returns how many were stored.
    pub fn remove_batch<'s, I>(&mut self, entries: I) -> usize
    where
        I: IntoIterator<Item = (&'s [u8], Option<&'s [u8]>, T)>,
    {
        let mut seen_any = false;
        let mut removed = 0;
        for (subject, queue, value) in entries {
            seen_any = true;
            if self.remove_entry(subject, queue, value) {
                removed += 1;
            }
        }
        if seen_any {
            self.generation += 1;
            if let Some(cache) = &mut self.cache {
                cache.clear();
            }
        }
        removed
    }

    /// Removes the triple from the trie and prunes, updating the counters
    /// but not the cache.
    fn remove_entry(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) -> bool {
        if !is_valid_pattern(subject) {
            return false;
        }
        let mut node = &mut self.root;
        for tok in tokens(subject) {
            match node.child_mut(tok) {
                Some(child) => node = child,
                None => return false,
            }
        }
        let removed = match queue {
            None => node.plain.remove(value),
            Some(q) => match node.queues.get_mut(q) {
                Some(members) => {
                    let removed = members.remove(value);
                    if members.is_empty() {
                        node.queues.remove(q);
                    }
                    removed
                }
                None => false,
            },
        };
        if !removed {
            return false;
        }
        let dead = node.is_dead();
        if dead {
            self.prune(subject);
        }
        self.count -= 1;
        self.removes += 1;
        true
    }

    /// Cuts off the dead tail of `subject`'s path, whose last node has just
    /// become dead: everything below the deepest ancestor that still holds
    /// entries or branches elsewhere.
    fn prune(&mut self, subject: &[u8]) {
        let mut cut = 0;
        let mut node = &self.root;
        for (depth, tok) in tokens(subject).enumerate() {
            if depth > 0 && (node.has_entries() || node.num_children() > 1) {
                cut = depth;
            }
            match node.child(tok) {
                Some(child) => node = child,
                None => return,
            }
        }
        let mut node = &mut self.root;
        let mut toks = tokens(subject);
        for tok in toks.by_ref().take(cut) {
            match node.child_mut(tok) {
                Some(child) => node = child,
                None => return,
            }
        }
        if let Some(tok) = toks.next() {
            node.remove_child(tok);
        }
    }

    fn remove_from_cache(&mut self, subject: &[u8]) {
        let Some(cache) = &mut self.cache else {
            return;
        };
        if is_literal(subject) {
            cache.remove(subject);
        } else {
            cache.retain(|key, _| !matches(subject, key));
        }
    }

    /// Everything `subject` reaches. The subject is read literally (a `*`
    /// token in it is matched by wildcard patterns only); one with an empty
    /// token reaches nothing. With the cache on, a repeat is one hash lookup.
    /// Counts a match the caller answered from a result it kept (unchanged generation), so
    /// the statistics still count every match and hit.
    pub fn count_repeat_match(&mut self) {
        self.matches += 1;
        self.cache_hits += 1;
    }

    pub fn match_subject(&mut self, subject: &[u8]) -> Arc<MatchResult<T>> {
        self.matches += 1;
        if let Some(result) = self.cache.as_ref().and_then(|c| c.get(subject)) {
            self.cache_hits += 1;
            return Arc::clone(result);
        }
        // nats returns before touching the cache here, so invalid subjects
        // are never cached.
        if !is_matchable(subject) {
            return Arc::clone(&self.empty);
        }
        let mut collector = Collector::new();
        self.visit(subject, |node| {
            collector.add(node);
            true
        });
        let result = if collector.plain.is_empty() && collector.queues.is_empty() {
            Arc::clone(&self.empty)
        } else {
            Arc::new(MatchResult {
                plain: collector.plain,
                queues: collector.queues,
            })
        };
        if let Some(cache) = &mut self.cache {
            cache.insert(Box::from(subject), Arc::clone(&result));
            if cache.len() > CACHE_MAX {
                sweep(cache, subject);
            }
        }
        result
    }

    /// Whether `subject` reaches anything. Like nats `HasInterest` it reads a
    /// cached result if there is one (counting a cache hit but not a match)
    /// and otherwise walks the trie without caching.
    pub fn has_interest(&mut self, subject: &[u8]) -> bool {
        if let Some(result) = self.cache.as_ref().and_then(|c| c.get(subject)) {
            self.cache_hits += 1;
            return !result.is_empty();
        }
        if !is_matchable(subject) {
            return false;
        }
        let mut found = false;
        self.visit(subject, |node| {
            found = node.has_entries();
            !found
        });
        found
    }

    /// Calls `f` on every node whose entries `subject` reaches, until `f`
    /// returns false. `subject` must be matchable.
    fn visit<'a>(&'a self, subject: &'a [u8], mut f: impl FnMut(&'a Node<T>) -> bool) {
        // Each `*` child is a branch point; branches wait on an explicit
        // stack instead of the call stack.
        let mut pending: Vec<(&'a Node<T>, &'a [u8])> = Vec::new();
        let (mut node, mut rest) = (&self.root, subject);
        loop {
            loop {
                let (tok, tail) = split_first_token(rest);
                if let Some(fwc) = node.fwc.as_deref() {
                    if !f(fwc) {
                        return;
                    }
                }
                if let Some(pwc) = node.pwc.as_deref() {
                    match tail {
                        None => {
                            if !f(pwc) {
                                return;
                            }
                        }
                        Some(tail) => pending.push((pwc, tail)),
                    }
                }
                // Subject tokens only ever look up literal children: a `*`
                // in a published subject is not a wildcard.
                let Some(child) = node.literal.get(tok) else {
                    break;
                };
                match tail {
                    None => {
                        if !f(child) {
                            return;
                        }
                        break;
                    }
                    Some(tail) => (node, rest) = (child, tail),
                }
            }
            match pending.pop() {
                Some(next) => (node, rest) = next,
                None => return,
            }
        }
    }

    /// The `/subsz` numbers, as nats `Stats()` computes them: fan-out is
    /// taken over the cached results only.
    pub fn stats(&self) -> SublistStats {
        let (mut total, mut max, mut len) = (0u64, 0u64, 0u64);
        if let Some(cache) = &self.cache {
            for result in cache.values() {
                let fanout = (result.plain.len() + result.queues.len()) as u64;
                total += fanout;
                max = max.max(fanout);
                len += 1;
            }
        }
        SublistStats {
            num_subs: self.count as u64,
            num_cache: self.cache_count() as u64,
            num_inserts: self.inserts,
            num_removes: self.removes,
            num_matches: self.matches,
            cache_hit_rate: if self.matches > 0 {
                self.cache_hits as f64 / self.matches as f64
            } else {
                0.0
            },
            max_fanout: max,
            avg_fanout: if total > 0 {
                total as f64 / len as f64
            } else {
                0.0
            },
            cache_hits: self.cache_hits,
            total_fanout: total,
            cache_count: len,
        }
    }

    /// Calls `f(subject, queue, value)` for every stored entry, in no
    /// particular order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>, &T)) {
        // The subject is rebuilt in one buffer: each stacked node remembers
        // how long its parent's subject was.
        let mut subject: Vec<u8> = Vec::new();
        let mut stack: Vec<(&Node<T>, usize, &[u8])> = Vec::new();
        push_children(&self.root, 0, &mut stack);
        while let Some((node, parent_len, tok)) = stack.pop() {
            subject.truncate(parent_len);
            if parent_len > 0 {
                subject.push(TSEP);
            }
            subject.extend_from_slice(tok);
            for v in node.plain.as_slice() {
                f(&subject, None, v);
            }
            for (q, members) in &node.queues {
                for v in members.as_slice() {
                    f(&subject, Some(q), v);
                }
            }
            push_children(node, subject.len(), &mut stack);
        }
    }

    /// Trie nodes below the root; 0 when the index is empty (pruning works).
    pub fn node_count(&self) -> usize {
        let mut n = 0;
        let mut stack: Vec<&Node<T>> = vec![&self.root];
        while let Some(node) = stack.pop() {
            n += node.num_children();
            stack.extend(node.literal.values());
            stack.extend(node.pwc.as_deref());
            stack.extend(node.fwc.as_deref());
        }
        n
    }
}

fn push_children<'a, T>(
    node: &'a Node<T>,
    len: usize,
    stack: &mut Vec<(&'a Node<T>, usize, &'a [u8])>,
) {
    for (tok, child) in &node.literal {
        stack.push((child, len, tok));
    }
    if let Some(child) = node.pwc.as_deref() {
        stack.push((child, len, PWC));
    }
    if let Some(child) = node.fwc.as_deref() {
        stack.push((child, len, FWC));
    }
}

/// Shrinks an overfull cache to `CACHE_SWEEP` entries. Which ones go is
/// arbitrary, as with nats' random map order, except that the subject just
/// matched stays: it is the one most likely to be asked for again.
fn sweep<T>(cache: &mut Cache<T>, keep: &[u8]) {
    let mut excess = cache.len().saturating_sub(CACHE_SWEEP);
    cache.retain(|key, _| {
        if excess == 0 || &**key == keep {
            return true;
        }
        excess -= 1;
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Sl = Sublist<u32>;

    /// A result in comparable form: sorted plain values, and each queue
    /// group's sorted members by name. Also checks result invariants.
    fn norm(r: &MatchResult<u32>) -> (Vec<u32>, BTreeMap<Vec<u8>, Vec<u32>>) {
        let mut plain = r.plain.clone();
        plain.sort_unstable();
        let mut queues = BTreeMap::new();
        for g in &r.queues {
            assert!(!g.members.is_empty(), "empty queue group in result");
            let mut m = g.members.clone();
            m.sort_unstable();
            assert!(
                queues.insert(g.name.to_vec(), m).is_none(),
                "queue group {:?} listed twice",
                g.name
            );
        }
        (plain, queues)
    }

    fn plain_of(sl: &mut Sl, subject: &str) -> Vec<u32> {
        norm(&sl.match_subject(subject.as_bytes())).0
    }

    fn both() -> [Sl; 2] {
        [Sublist::new(), Sublist::without_cache()]
    }

    fn ins(sl: &mut Sl, subject: &str, v: u32) {
        sl.insert(subject.as_bytes(), None, v)
            .expect("valid subject");
    }

    fn qins(sl: &mut Sl, subject: &str, q: &str, v: u32) {
        sl.insert(subject.as_bytes(), Some(q.as_bytes()), v)
            .expect("valid subject");
    }

    // nats testSublistInsertCount, testSublistSimple*, testSublistPartialWildcard*,
    // testSublistFullWildcard (sublist_test.go:154-254).
    #[test]
    fn simple_and_wildcard_matches() {
        for mut s in both() {
            ins(&mut s, "foo", 1);
            ins(&mut s, "bar", 2);
            ins(&mut s, "foo.bar", 3);
            assert_eq!(s.count(), 3);
            assert_eq!(plain_of(&mut s, "foo"), vec![1]);
            assert_eq!(plain_of(&mut s, "foo.bar"), vec![3]);

            let mut s = Sl::with_cache(s.cache_enabled());
            ins(&mut s, "foo.bar.baz", 1);
            assert_eq!(plain_of(&mut s, "foo.bar.baz"), vec![1]);

            let mut s = Sl::with_cache(s.cache_enabled());
            ins(&mut s, "a.b.c", 1);
            ins(&mut s, "a.*.c", 2);
            ins(&mut s, "a.b.*", 3);
            ins(&mut s, "a.>", 4);
            ins(&mut s, "a.*", 5);
            ins(&mut s, "*.*.*.*", 6);
            ins(&mut s, ">", 7);
            assert_eq!(plain_of(&mut s, "a.b.c"), vec![1, 2, 3, 4, 7]);
            assert_eq!(plain_of(&mut s, "a.b"), vec![4, 5, 7]);
            assert_eq!(plain_of(&mut s, "a"), vec![7]);
            assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![4, 6, 7]);
            // A wildcard token in a published subject is read literally.
            assert_eq!(plain_of(&mut s, "a.>"), vec![4, 5, 7]);
            assert_eq!(plain_of(&mut s, "a.*.c"), vec![2, 4, 7]);
        }
    }

    // nats testSublistRemove / testSublistRemoveWildcard (sublist_test.go:264, 287).
    #[test]
    fn remove_plain_and_wildcards() {
        for mut s in both() {
            ins(&mut s, "a.b.c.d", 1);
            assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![1]);
            assert!(!s.remove(b"a.b.c", None, 1));
            assert_eq!(s.count(), 1);
            assert!(s.remove(b"a.b.c.d", None, 1));
            assert!(!s.remove(b"a.b.c.d", None, 1));
            assert_eq!(s.count(), 0);
            assert_eq!(plain_of(&mut s, "a.b.c.d"), Vec::<u32>::new());

            ins(&mut s, "a.b.c.d", 1);
            ins(&mut s, "a.b.*.d", 2);
            ins(&mut s, "a.b.>", 3);
            assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![1, 2, 3]);
            assert!(s.remove(b"a.b.c.d", None, 1));
            assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![2, 3]);
            assert!(s.remove(b"a.b.>", None, 3));
            assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![2]);
            assert!(s.remove(b"a.b.*.d", None, 2));
            assert_eq!(s.count(), 0);
            assert_eq!(plain_of(&mut s, "a.b.c.d"), Vec::<u32>::new());
            assert_eq!(s.node_count(), 0);
        }
    }

    // nats testSublistRemoveCleanup / ...Wildcards (sublist_test.go:316, 335).
    #[test]
    fn remove_prunes_the_trie() {
        for mut s in both() {
            assert_eq!(s.node_count(), 0);
            ins(&mut s, "a.b.c.d.e.f", 1);
            assert_eq!(s.node_count(), 6);
            assert!(s.remove(b"a.b.c.d.e.f", None, 1));
            assert_eq!(s.node_count(), 0);

            ins(&mut s, "a.b.*.d.e.>", 1);
            assert_eq!(s.node_count(), 6);
            assert!(s.remove(b"a.b.*.d.e.>", None, 1));
            assert_eq!(s.node_count(), 0);

            // Pruning stops at a node that still holds entries or branches.
            ins(&mut s, "a.b", 1);
            ins(&mut s, "a.b.c.d", 2);
            ins(&mut s, "a.x.y", 3);
            assert_eq!(s.node_count(), 6);
            assert!(s.remove(b"a.b.c.d", None, 2));
            assert_eq!(s.node_count(), 4);
            assert!(s.remove(b"a.b", None, 1));
            assert_eq!(s.node_count(), 3);
            assert!(s.remove(b"a.x.y", None, 3));
            assert_eq!(s.node_count(), 0);

            // Queue entries keep their node alive until the last one goes.
            qins(&mut s, "q.x", "g", 1);
            qins(&mut s, "q.x", "g", 2);
            assert!(!s.remove(b"q.x", None, 1));
            assert!(!s.remove(b"q.x", Some(b"h"), 1));
            assert!(s.remove(b"q.x", Some(b"g"), 1));
            assert_eq!(s.node_count(), 2);
            assert!(s.remove(b"q.x", Some(b"g"), 2));
            assert_eq!(s.node_count(), 0);
        }
    }

    // nats testSublistRemoveWithLargeSubs (sublist_test.go:354).
    #[test]
    fn remove_with_large_member_lists() {
        for mut s in both() {
            for v in 0..512 {
                ins(&mut s, "foo", v);
            }
            let r = s.match_subject(b"foo");
            assert_eq!(r.plain.len(), 512);
            let (mid, first, last) = (r.plain[256], r.plain[0], r.plain[511]);
            assert!(s.remove(b"foo", None, mid));
            assert!(s.remove(b"foo", None, first));
            assert!(s.remove(b"foo", None, last));
            assert!(!s.remove(b"foo", None, last));
            let mut want: Vec<u32> = (0..512)
                .filter(|v| ![mid, first, last].contains(v))
                .collect();
            want.sort_unstable();
            assert_eq!(plain_of(&mut s, "foo"), want);
            // Shrink below the index threshold and back, checking as we go.
            for v in want.iter().copied().filter(|v| v % 7 != 0) {
                assert!(s.remove(b"foo", None, v));
            }
            let rest: Vec<u32> = want.iter().copied().filter(|v| v % 7 == 0).collect();
            assert_eq!(plain_of(&mut s, "foo"), rest);
            for v in 1000..1100 {
                ins(&mut s, "foo", v);
                ins(&mut s, "foo", v); // duplicate: no-op
            }
            assert_eq!(s.count(), rest.len() + 100);
            assert_eq!(s.match_subject(b"foo").plain.len(), rest.len() + 100);
        }
    }

    // nats testSublistInvalidSubjectsInsert / testSublistBadSubjectOnRemove
    // (sublist_test.go:420, 754).
    #[test]
    fn invalid_subjects() {
        for mut s in both() {
            for bad in [
                ".foo",
                "foo.",
                "foo..bar",
                "foo.bar..baz",
                "foo.>.bar",
                "",
                ".",
                ">.>",
                ">.a",
            ] {
                assert_eq!(
                    s.insert(bad.as_bytes(), None, 1),
                    Err(InvalidSubject),
                    "{bad:?}"
                );
                assert_eq!(
                    s.insert(bad.as_bytes(), Some(b"q"), 1),
                    Err(InvalidSubject),
                    "{bad:?}"
                );
                assert!(!s.remove(bad.as_bytes(), None, 1));
            }
            assert_eq!(s.count(), 0);
            assert_eq!(s.node_count(), 0);
            assert_eq!(s.stats().num_inserts, 0);
            // Insert does not check whitespace; that is the parser's job.
            assert!(s.insert(b"foo bar", None, 1).is_ok());
            assert!(s.insert(b"\xff.\x00", None, 1).is_ok());
            assert_eq!(plain_of(&mut s, "foo bar"), vec![1]);
        }
    }

    // nats TestSublistCache (sublist_test.go:447).
    #[test]
    fn cache_add_remove_and_bound() {
        let mut s = Sl::new();
        ins(&mut s, "a.b.c.d", 1);
        assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![1]);
        ins(&mut s, "a.b.*.d", 2);
        ins(&mut s, "a.b.>", 3);
        assert_eq!(s.count(), 3);
        assert_eq!(plain_of(&mut s, "a.b.c.d"), vec![1, 2, 3]);
        assert!(s.remove(b"a.b.c.d", None, 1));
        assert!(s.remove(b"a.b.>", None, 3));
        assert!(s.remove(b"a.b.*.d", None, 2));
        assert_eq!(s.count(), 0);
        assert_eq!(s.cache_count(), 0);
        assert_eq!(plain_of(&mut s, "a.b.c.d"), Vec::<u32>::new());

        for i in 0..2 * CACHE_MAX {
            s.match_subject(format!("foo-{i}\n").as_bytes());
            assert!(s.cache_count() <= CACHE_MAX);
        }
        // The sweep leaves CACHE_SWEEP subjects, then misses refill it.
        assert_eq!(
            s.cache_count(),
            CACHE_SWEEP + (2 * CACHE_MAX - CACHE_MAX - 1) - (CACHE_MAX - CACHE_SWEEP)
        );

        let mut s = Sl::new();
        ins(&mut s, "foo.*", 1);
        ins(&mut s, "foo.bar", 2);
        assert_eq!(plain_of(&mut s, "foo.baz"), vec![1]);
        assert_eq!(plain_of(&mut s, "foo.bar"), vec![1, 2]);
        ins(&mut s, "foo.>", 3);
        assert_eq!(plain_of(&mut s, "foo.bar"), vec![1, 2, 3]);
        assert_eq!(plain_of(&mut s, "foo.baz"), vec![1, 3]);
    }

    #[test]
    fn sweep_keeps_latest_and_stays_correct() {
        let mut s = Sl::new();
        ins(&mut s, "s.*", 1);
        ins(&mut s, "s.7", 2);
        for i in 0..=CACHE_MAX {
            let subj = format!("s.{i}");
            let want = if i == 7 { vec![1, 2] } else { vec![1] };
            assert_eq!(plain_of(&mut s, &subj), want);
        }
        assert_eq!(s.cache_count(), CACHE_SWEEP);
        let hits = s.stats().cache_hits;
        s.match_subject(format!("s.{CACHE_MAX}").as_bytes());
        assert_eq!(
            s.stats().cache_hits,
            hits + 1,
            "the subject that caused the sweep stays cached"
        );
        // Whatever was evicted recomputes correctly, before and after changes.
        ins(&mut s, "s.>", 3);
        for i in 0..=CACHE_MAX {
            let want = if i == 7 { vec![1, 2, 3] } else { vec![1, 3] };
            assert_eq!(plain_of(&mut s, &format!("s.{i}")), want);
        }
    }

    #[test]
    fn cache_invalidation_on_insert_and_remove() {
        let mut s = Sl::new();
        ins(&mut s, "foo.bar", 1);
        let before = s.match_subject(b"foo.bar");
        let other = s.match_subject(b"zzz.bar");
        assert!(other.is_empty());
        assert_eq!(s.cache_count(), 2);

        // Literal insert updates only its own subject.
        ins(&mut s, "foo.bar", 2);
        qins(&mut s, "foo.bar", "q", 3);
        assert_eq!(norm(&before).0, vec![1], "handed-out results are snapshots");
        let (plain, queues) = norm(&s.match_subject(b"foo.bar"));
        assert_eq!(plain, vec![1, 2]);
        assert_eq!(queues.get(&b"q"[..]), Some(&vec![3]));
        assert!(s.match_subject(b"zzz.bar").is_empty());

        // Wildcard insert updates exactly the cached subjects it matches.
        qins(&mut s, "*.bar", "q", 4);
        ins(&mut s, "*.bar", 5);
        let (plain, queues) = norm(&s.match_subject(b"foo.bar"));
        assert_eq!(plain, vec![1, 2, 5]);
        assert_eq!(queues.get(&b"q"[..]), Some(&vec![3, 4]));
        let (plain, queues) = norm(&s.match_subject(b"zzz.bar"));
        assert_eq!(plain, vec![5]);
        assert_eq!(queues.get(&b"q"[..]), Some(&vec![4]));
        assert_eq!(s.cache_count(), 2);

        // The shared empty result is never modified in place.
        let empty = s.match_subject(b"nothing.here");
        assert!(empty.is_empty());
        ins(&mut s, "nothing.>", 6);
        assert!(empty.is_empty());
        assert_eq!(plain_of(&mut s, "nothing.here"), vec![6]);
        assert!(s.match_subject(b"still.nothing").is_empty());

        // A wildcard remove evicts just the cached subjects it matches.
        s.match_subject(b"foo.baz");
        assert_eq!(s.cache_count(), 5);
        assert!(s.remove(b"*.bar", None, 5));
        assert_eq!(s.cache_count(), 3, "foo.bar and zzz.bar evicted");
        assert_eq!(plain_of(&mut s, "foo.bar"), vec![1, 2]);
        assert_eq!(plain_of(&mut s, "zzz.bar"), Vec::<u32>::new());
        // A literal remove evicts its own subject only.
        assert!(s.remove(b"foo.bar", None, 1));
        assert_eq!(plain_of(&mut s, "foo.bar"), vec![2]);
        assert!(s.remove(b"foo.bar", Some(b"q"), 3));
        assert_eq!(
            norm(&s.match_subject(b"foo.bar")).1.get(&b"q"[..]),
            Some(&vec![4])
        );
        // Failed removes and duplicate inserts leave the cache alone.
        let n = s.cache_count();
        assert!(!s.remove(b"*.bar", None, 99));
        ins(&mut s, "foo.bar", 2);
        assert_eq!(s.cache_count(), n);
        assert_eq!(plain_of(&mut s, "foo.bar"), vec![2]);
    }

    // nats testSublistBasicQueueResults (sublist_test.go:510).
    #[test]
    fn queue_results() {
        for mut s in both() {
            let q = |r: &MatchResult<u32>, name: &str| norm(r).1.get(name.as_bytes()).cloned();
            qins(&mut s, "foo", "bar", 1);
            let r = s.match_subject(b"foo");
            assert!(r.plain.is_empty());
            assert_eq!(r.queues.len(), 1);
            assert_eq!(q(&r, "bar"), Some(vec![1]));

            qins(&mut s, "foo", "baz", 2);
            let r = s.match_subject(b"foo");
            assert_eq!(r.queues.len(), 2);
            assert_eq!(q(&r, "baz"), Some(vec![2]));

            ins(&mut s, "foo", 0);
            qins(&mut s, "foo", "bar", 3);
            qins(&mut s, "foo", "baz", 4);
            let r = s.match_subject(b"foo");
            assert_eq!(r.plain, vec![0]);
            assert_eq!(q(&r, "bar"), Some(vec![1, 3]));
            assert_eq!(q(&r, "baz"), Some(vec![2, 4]));
            assert_eq!(r.queue(b"baz").map(|g| g.members.len()), Some(2));

            assert!(s.remove(b"foo", None, 0));
            assert!(s.remove(b"foo", Some(b"bar"), 1));
            let r = s.match_subject(b"foo");
            assert!(r.plain.is_empty());
            assert_eq!(q(&r, "bar"), Some(vec![3]));
            assert_eq!(q(&r, "baz"), Some(vec![2, 4]));

            assert!(s.remove(b"foo", Some(b"bar"), 3));
            let r = s.match_subject(b"foo");
            assert_eq!(r.queues.len(), 1);
            assert_eq!(q(&r, "baz"), Some(vec![2, 4]));

            assert!(s.remove(b"foo", Some(b"baz"), 2));
            assert!(s.remove(b"foo", Some(b"baz"), 4));
            assert!(s.match_subject(b"foo").is_empty());
            assert_eq!(s.node_count(), 0);
        }
    }

    // addNodeToResults/findQSlot (sublist.go:719-769): one group per name
    // across matching nodes; plain values once per matching node.
    #[test]
    fn queue_groups_merge_by_name_across_patterns() {
        for mut s in both() {
            qins(&mut s, "foo.*", "q1", 1);
            qins(&mut s, "foo.bar", "q1", 2);
            qins(&mut s, ">", "q1", 1);
            qins(&mut s, ">", "q2", 3);
            ins(&mut s, "foo.bar", 7);
            ins(&mut s, "foo.>", 7);
            ins(&mut s, "*.bar", 8);
            let (plain, queues) = norm(&s.match_subject(b"foo.bar"));
            assert_eq!(plain, vec![7, 7, 8]);
            assert_eq!(queues.len(), 2);
            assert_eq!(queues[&b"q1"[..]], vec![1, 1, 2]);
            assert_eq!(queues[&b"q2"[..]], vec![3]);
            assert!(s.has_interest(b"foo.bar"));
        }
    }

    #[test]
    fn many_queue_groups_use_the_index() {
        for mut s in both() {
            for g in 0..40u32 {
                let name = format!("g{g}");
                qins(&mut s, "a.b", &name, g);
                qins(&mut s, "a.*", &name, 100 + g);
                qins(&mut s, ">", &name, 200 + g);
            }
            for _ in 0..2 {
                let (_, queues) = norm(&s.match_subject(b"a.b"));
                assert_eq!(queues.len(), 40);
                for g in 0..40u32 {
                    assert_eq!(
                        queues[format!("g{g}").as_bytes()],
                        vec![g, 100 + g, 200 + g]
                    );
                }
            }
        }
    }

    // nats testSublistTwoTokenPubMatchSingleTokenSub (sublist_test.go:781),
    // testSublistInsert/RemoveWithWildcardsAsLiterals (sublist_test.go:799, 821).
    #[test]
    fn wildcard_characters_inside_tokens_are_literal() {
        for mut s in both() {
            ins(&mut s, "foo", 1);
            assert_eq!(plain_of(&mut s, "foo"), vec![1]);
            assert!(s.match_subject(b"foo.bar").is_empty());

            let mut s = Sl::with_cache(s.cache_enabled());
            for (i, subject) in ["foo.*-", "foo.>-"].into_iter().enumerate() {
                ins(&mut s, subject, i as u32);
                assert!(s.match_subject(b"foo.bar").is_empty());
                assert_eq!(plain_of(&mut s, subject), vec![i as u32]);
                assert!(!s.remove(b"foo.bar", None, i as u32));
                assert_eq!(s.count(), 1);
                assert!(s.remove(subject.as_bytes(), None, i as u32));
                assert_eq!(s.count(), 0);
            }
        }
    }

    // nats TestSublistSharedEmptyResult (sublist_test.go:1073).
    #[test]
    fn shared_empty_result() {
        for mut s in both() {
            let r1 = s.match_subject(b"foo");
            let r2 = s.match_subject(b"bar");
            let r3 = s.match_subject(b"foo..bar");
            assert!(r1.is_empty());
            assert!(Arc::ptr_eq(&r1, &r2));
            assert!(Arc::ptr_eq(&r1, &r3));
        }
    }

    // nats TestSublistMatchWithEmptyTokens (sublist_test.go:1546).
    #[test]
    fn empty_tokens_match_nothing() {
        for mut s in both() {
            ins(&mut s, ">", 1);
            qins(&mut s, ">", "queue", 2);
            for subject in [
                "",
                ".",
                ".foo",
                "..foo",
                "foo..",
                "foo.",
                "foo..bar",
                "foo...bar",
            ] {
                assert!(
                    s.match_subject(subject.as_bytes()).is_empty(),
                    "{subject:?}"
                );
                assert!(!s.has_interest(subject.as_bytes()), "{subject:?}");
            }
            // Counted as matches but never cached.
            assert_eq!(s.stats().num_matches, 8);
            assert_eq!(s.cache_count(), 0);
        }
    }

    // nats TestSublistNoCacheStats (sublist_test.go:1088).
    #[test]
    fn no_cache_stats() {
        let mut s = Sl::without_cache();
        for (i, subject) in ["foo", "bar", "baz", "foo.bar.baz"].into_iter().enumerate() {
            ins(&mut s, subject, i as u32);
        }
        s.match_subject(b"a.b.c");
        s.match_subject(b"bar");
        let st = s.stats();
        assert_eq!(st.num_cache, 0);
        assert_eq!(st.num_subs, 4);
        assert_eq!(st.num_inserts, 4);
        assert_eq!(st.num_matches, 2);
        assert_eq!(st.cache_hit_rate, 0.0);
        assert_eq!(st.max_fanout, 0);
        assert_eq!(st.avg_fanout, 0.0);
    }

    // nats TestSublistAddCacheHitRate (sublist_test.go:1580).
    #[test]
    fn cache_hit_rate_and_add() {
        let mut s1 = Sl::new();
        ins(&mut s1, "foo", 1);
        for _ in 0..4 {
            s1.match_subject(b"foo");
        }
        let st1 = s1.stats();
        assert_eq!(st1.cache_hit_rate, 0.75);

        let mut s2 = Sl::new();
        ins(&mut s2, "bar", 1);
        for _ in 0..4 {
            s2.match_subject(b"bar");
        }
        let st2 = s2.stats();
        assert_eq!(st2.cache_hit_rate, 0.75);

        let mut total = SublistStats::default();
        total.add(&st1);
        total.add(&st2);
        assert_eq!(total.cache_hit_rate, 0.75);
        assert_eq!(total.num_subs, 2);
        assert_eq!(total.num_matches, 8);
        assert_eq!(total.num_cache, 2);
        assert_eq!(total.avg_fanout, 1.0);
    }

    // Stats() fan-out over cached results (sublist.go:1089-1130).
    #[test]
    fn stats_fanout() {
        let mut s = Sl::new();
        ins(&mut s, "foo", 1);
        ins(&mut s, "foo", 2);
        ins(&mut s, ">", 3);
        qins(&mut s, "foo", "q", 4);
        qins(&mut s, "*", "q", 5);
        qins(&mut s, "foo", "r", 6);
        s.match_subject(b"foo"); // 3 plain + 2 groups
        s.match_subject(b"bar"); // 1 plain + 1 group
        s.match_subject(b"a.b"); // 1 plain
        s.match_subject(b"x..y"); // not cached
        let st = s.stats();
        assert_eq!(st.num_cache, 3);
        assert_eq!(st.max_fanout, 5);
        assert_eq!(st.total_fanout, 8);
        assert_eq!(st.cache_count, 3);
        assert!((st.avg_fanout - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(st.num_subs, 6);
        assert_eq!(st.num_matches, 4);
        assert_eq!(st.cache_hit_rate, 0.0);
        assert!(s.remove(b"foo", None, 1));
        let st = s.stats();
        assert_eq!(st.num_removes, 1);
        assert_eq!(st.num_cache, 2);
    }

    // nats TestSublistHasInterest (sublist_test.go:1633), including its
    // cache-hit accounting.
    #[test]
    fn has_interest() {
        let mut s = Sl::new();
        ins(&mut s, "foo", 1);
        assert!(s.has_interest(b"foo"));
        assert!(!s.has_interest(b"bar"));
        assert_eq!(s.stats().cache_hits, 0);
        s.match_subject(b"foo");
        assert_eq!(s.stats().cache_hits, 0);
        for i in 1..=5 {
            assert!(s.has_interest(b"foo"));
            assert_eq!(s.stats().cache_hits, i);
        }
        let hits = s.stats().cache_hits;
        s.match_subject(b"bar");
        assert!(!s.has_interest(b"bar"));
        assert_eq!(
            s.stats().cache_hits,
            hits + 1,
            "negative results are cached too"
        );
        // Hits from has_interest count, its calls do not: the rate can pass 1.
        assert_eq!(s.stats().num_matches, 2);
        assert!(s.stats().cache_hit_rate > 1.0);
        assert!(s.remove(b"foo", None, 1));
        assert!(!s.has_interest(b"foo"));

        let check = |s: &mut Sl, pattern: &str, queue: Option<&str>, yes: &[&str], no: &[&str]| {
            s.insert(pattern.as_bytes(), queue.map(str::as_bytes), 9)
                .unwrap();
            for subject in yes {
                assert!(s.has_interest(subject.as_bytes()), "{pattern} {subject}");
            }
            for subject in no {
                assert!(!s.has_interest(subject.as_bytes()), "{pattern} {subject}");
            }
            assert!(s.remove(pattern.as_bytes(), queue.map(str::as_bytes), 9));
            for subject in yes.iter().chain(no) {
                assert!(
                    !s.has_interest(subject.as_bytes()),
                    "{pattern} {subject} after remove"
                );
            }
        };
        for queue in [None, Some("bar")] {
            check(
                &mut s,
                "foo.*",
                queue,
                &["foo.bar"],
                &["foo", "foo.bar.baz"],
            );
            check(
                &mut s,
                "foo.>",
                queue,
                &["foo.bar", "foo.bar.baz"],
                &["foo"],
            );
            check(&mut s, "*.>", queue, &["foo.bar", "foo.baz"], &["foo"]);
            check(&mut s, "*.bar", queue, &["foo.bar"], &["foo", "foo.baz"]);
            check(&mut s, "*", queue, &["foo"], &["foo.bar"]);
            check(&mut s, "foo", queue, &["foo"], &["foo.bar"]);
        }

        // Two queue groups on one subject.
        qins(&mut s, "foo", "bar", 1);
        qins(&mut s, "foo", "baz", 2);
        assert!(s.has_interest(b"foo"));
        assert!(s.remove(b"foo", Some(b"bar"), 1));
        assert!(s.has_interest(b"foo"));
        assert!(!s.has_interest(b"foo.bar"));
        assert!(s.remove(b"foo", Some(b"baz"), 2));
        assert!(!s.has_interest(b"foo"));

        // TestSublistHasInterestOverlapping (sublist_test.go:1802).
        let mut s = Sl::new();
        ins(&mut s, "stream.A.child", 1);
        ins(&mut s, "stream.*", 2);
        assert!(s.has_interest(b"stream.A.child"));
        assert!(s.has_interest(b"stream.A"));
        assert!(!s.has_interest(b"stream"));
    }

    #[test]
    fn duplicates_and_generation() {
        let mut s = Sl::new();
        assert_eq!(s.generation(), 0);
        ins(&mut s, "foo", 1);
        s.match_subject(b"foo");
        let g = s.generation();
        ins(&mut s, "foo", 1);
        assert_eq!(s.generation(), g, "duplicate insert changes nothing");
        assert_eq!(s.count(), 1);
        assert_eq!(s.stats().num_inserts, 1);
        assert_eq!(s.match_subject(b"foo").plain, vec![1]);
        // Same value in a queue group is a different entry.
        qins(&mut s, "foo", "q", 1);
        assert_eq!(s.count(), 2);
        assert!(s.generation() > g);
        let g = s.generation();
        assert!(!s.remove(b"bar", None, 1));
        assert_eq!(s.generation(), g);
        assert!(s.remove(b"foo", None, 1));
        assert!(s.generation() > g);
    }

    type BatchItem = (&'static [u8], Option<&'static [u8]>, u32);

    // nats RemoveBatch (sublist.go:933-963).
    #[test]
    fn remove_batch() {
        for mut s in both() {
            ins(&mut s, "foo", 1);
            ins(&mut s, "bar", 2);
            ins(&mut s, "baz", 3);
            qins(&mut s, "q.*", "g", 4);
            s.match_subject(b"foo");
            s.match_subject(b"zzz");
            let none: [BatchItem; 0] = [];
            assert_eq!(s.remove_batch(none), 0);
            assert_eq!(s.cache_count(), if s.cache_enabled() { 2 } else { 0 });
            let batch: [BatchItem; 4] = [
                (b"not.inserted", None, 9),
                (b"foo", None, 1),
                (b"baz", None, 3),
                (b"q.*", Some(b"g"), 4),
            ];
            assert_eq!(s.remove_batch(batch), 3);
            assert_eq!(s.cache_count(), 0, "a batch drops the whole cache");
            assert_eq!(s.count(), 1);
            assert_eq!(s.stats().num_removes, 3);
            assert_eq!(plain_of(&mut s, "bar"), vec![2]);
            assert!(s.match_subject(b"foo").is_empty());
            assert!(s.match_subject(b"q.x").is_empty());
            assert_eq!(s.node_count(), 1);
        }
    }

    #[test]
    fn for_each_lists_every_entry() {
        let mut s = Sl::new();
        let entries: &[(&str, Option<&str>, u32)] = &[
            ("foo", None, 1),
            ("foo", Some("q"), 2),
            ("foo.bar", None, 3),
            ("foo.*", None, 4),
            ("foo.*", Some("r"), 5),
            (">", None, 6),
            ("*.>", None, 7),
            ("a.b.c.d", None, 8),
            ("a.b.c.d", None, 9),
        ];
        for (subject, q, v) in entries {
            s.insert(subject.as_bytes(), q.map(str::as_bytes), *v)
                .unwrap();
        }
        let mut seen = Vec::new();
        s.for_each(|subject, q, v| {
            seen.push((
                String::from_utf8(subject.to_vec()).unwrap(),
                q.map(|q| String::from_utf8(q.to_vec()).unwrap()),
                *v,
            ));
        });
        seen.sort();
        let mut want: Vec<_> = entries
            .iter()
            .map(|(s, q, v)| (s.to_string(), q.map(str::to_string), *v))
            .collect();
        want.sort();
        assert_eq!(seen, want);
    }

    #[test]
    fn ten_thousand_distinct_subjects() {
        for mut s in both() {
            let subject = |i: u32| format!("svc.{}.{}.evt{}", i % 7, i % 100, i);
            for i in 0..10_000 {
                ins(&mut s, &subject(i), i);
            }
            ins(&mut s, "svc.3.>", 100_000);
            qins(&mut s, "svc.*.42.*", "workers", 100_001);
            assert_eq!(s.count(), 10_002);
            for i in 0..10_000 {
                let (plain, queues) = norm(&s.match_subject(subject(i).as_bytes()));
                let mut want = vec![i];
                if i % 7 == 3 {
                    want.push(100_000);
                }
                assert_eq!(plain, want);
                assert_eq!(queues.len(), usize::from(i % 100 == 42));
            }
            for i in 0..10_000 {
                assert!(s.remove(subject(i).as_bytes(), None, i));
            }
            assert!(s.remove(b"svc.3.>", None, 100_000));
            assert!(s.remove(b"svc.*.42.*", Some(b"workers"), 100_001));
            assert_eq!(s.count(), 0);
            assert!(s.is_empty());
            assert_eq!(s.node_count(), 0);
            for i in (0..10_000).step_by(97) {
                assert!(s.match_subject(subject(i).as_bytes()).is_empty());
            }
            let st = s.stats();
            assert_eq!(st.num_inserts, 10_002);
            assert_eq!(st.num_removes, 10_002);
            assert!(st.num_cache <= CACHE_MAX as u64);
        }
    }

    // Nothing recurses per token, so even absurdly deep subjects are safe on
    // a test thread's small stack, including dropping the trie.
    #[test]
    fn very_deep_subjects() {
        let depth = 100_000;
        let lit = vec!["a"; depth].join(".");
        let pwc = vec!["*"; depth].join(".");
        let fwc = format!("{}.>", vec!["a"; depth / 2].join("."));
        for mut s in both() {
            ins(&mut s, &lit, 1);
            ins(&mut s, &pwc, 2);
            ins(&mut s, &fwc, 3);
            assert_eq!(plain_of(&mut s, &lit), vec![1, 2, 3]);
            assert!(s.has_interest(lit.as_bytes()));
            let mut n = 0;
            s.for_each(|_, _, _| n += 1);
            assert_eq!(n, 3);
            assert!(s.remove(lit.as_bytes(), None, 1));
            assert_eq!(plain_of(&mut s, &lit), vec![2, 3]);
            assert!(s.remove(pwc.as_bytes(), None, 2));
            // Dropped with one deep chain still in place.
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, Option<&'static str>, u32),
        Remove(String, Option<&'static str>, u32),
        Match(String),
    }

    fn subject_strategy(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(alphabet), 1..=4).prop_map(|t| t.join("."))
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let pattern = prop_oneof![
            20 => subject_strategy(&["a", "b", "c", "*", ">"]),
            1 => subject_strategy(&["a", "*", ">", ""]),
        ];
        let queue = prop_oneof![3 => Just(None), 1 => Just(Some("q1")), 1 => Just(Some("q2"))];
        let value = 0u32..4;
        prop_oneof![
            4 => (pattern.clone(), queue.clone(), value.clone()).prop_map(|(s, q, v)| Op::Insert(s, q, v)),
            2 => (pattern, queue, value).prop_map(|(s, q, v)| Op::Remove(s, q, v)),
            6 => prop_oneof![
                10 => subject_strategy(&["a", "b", "c"]),
                2 => subject_strategy(&["a", "b", "*", ">"]),
                1 => subject_strategy(&["a", ""]),
            ]
            .prop_map(Op::Match),
        ]
    }

    type Entry = (String, Option<&'static str>, u32);

    fn oracle_match(entries: &[Entry], subject: &str) -> (Vec<u32>, BTreeMap<Vec<u8>, Vec<u32>>) {
        let mut plain = Vec::new();
        let mut queues: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
        for (pattern, q, v) in entries {
            if super::super::matches(pattern.as_bytes(), subject.as_bytes()) {
                match q {
                    None => plain.push(*v),
                    Some(q) => queues.entry(q.as_bytes().to_vec()).or_default().push(*v),
                }
            }
        }
        plain.sort_unstable();
        for m in queues.values_mut() {
            m.sort_unstable();
        }
        (plain, queues)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn agrees_with_naive_oracle(ops in prop::collection::vec(op_strategy(), 1..80)) {
            let mut lists = both();
            let mut entries: Vec<Entry> = Vec::new();
            for op in &ops {
                match op {
                    Op::Insert(s, q, v) => {
                        let valid = is_valid_pattern(s.as_bytes());
                        for sl in &mut lists {
                            let r = sl.insert(s.as_bytes(), q.map(str::as_bytes), *v);
                            prop_assert_eq!(r.is_ok(), valid, "insert {:?}", s);
                        }
                        let e = (s.clone(), *q, *v);
                        if valid && !entries.contains(&e) {
                            entries.push(e);
                        }
                    }
                    Op::Remove(s, q, v) => {
                        let e = (s.clone(), *q, *v);
                        let pos = entries.iter().position(|x| *x == e);
                        for sl in &mut lists {
                            prop_assert_eq!(sl.remove(s.as_bytes(), q.map(str::as_bytes), *v), pos.is_some());
                        }
                        if let Some(pos) = pos {
                            entries.swap_remove(pos);
                        }
                    }
                    Op::Match(s) => {
                        let want = oracle_match(&entries, s);
                        let any = !want.0.is_empty() || !want.1.is_empty();
                        for sl in &mut lists {
                            prop_assert_eq!(sl.has_interest(s.as_bytes()), any, "interest {:?}", s);
                            prop_assert_eq!(&norm(&sl.match_subject(s.as_bytes())), &want, "match {:?}", s);
                            prop_assert_eq!(sl.has_interest(s.as_bytes()), any, "interest {:?}", s);
                        }
                    }
                }
                for sl in &lists {
                    prop_assert_eq!(sl.count(), entries.len());
                }
            }
            // Every cached result is still exact, and removing everything
            // leaves a bare root.
            for sl in &mut lists {
                let mut cached = Vec::new();
                if let Some(cache) = &sl.cache {
                    cached.extend(cache.keys().map(|k| String::from_utf8(k.to_vec()).unwrap()));
                }
                for subject in cached {
                    prop_assert_eq!(&norm(&sl.match_subject(subject.as_bytes())), &oracle_match(&entries, &subject));
                }
                let mut listed = Vec::new();
                sl.for_each(|s, q, v| listed.push((s.to_vec(), q.map(<[u8]>::to_vec), *v)));
                prop_assert_eq!(listed.len(), entries.len());
                for (s, q, v) in &entries {
                    prop_assert!(sl.remove(s.as_bytes(), q.map(str::as_bytes), *v));
                }
                prop_assert_eq!(sl.count(), 0);
                prop_assert_eq!(sl.node_count(), 0);
            }
        }
    }
}
