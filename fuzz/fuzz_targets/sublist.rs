//! The subject index against a naive model: a list of `(pattern, queue, value)` entries and
//! a token-by-token matcher written here from the NATS rules (not `subject::matches`, which
//! the sublist itself uses for its cache; that one is checked against the model too).
//!
//! Every script runs on two sublists at once, match cache on and off, and after every op
//! both must agree with the model: insert/remove results, match results (plain values as a
//! multiset, queue groups by name with their members as multisets, no empty or duplicate
//! group), `has_interest`, `count`, `for_each`. A result handed out earlier must never change
//! afterwards (cached results are copy-on-write). At the end everything is removed and the
//! trie must be empty (no node left: pruning works) and match nothing.
//!
//! Input: a script of ops, one op byte each followed by its operands. Op byte `b`:
//! `b & 7` is the op (0, 1 insert; 2 remove; 3 match; 4 has_interest; 5 `remove_batch` of
//! every entry with value v, as when a connection closes; 6 match raw bytes; 7 insert or
//! remove a raw-bytes pattern), `(b >> 3) & 3` the value v, `b >> 5` the queue (0-3 none,
//! 4-7 one of [`QUEUES`]). A subject is a length byte n (1 + n % 5 tokens) then one byte per
//! token, indexing [`TOKENS`]; a raw subject is a length byte (n % 16) then n bytes.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use natrium::subject::matches;
use natrium::subject::sublist::{MatchResult, Sublist, CACHE_MAX};

/// Small alphabets so that patterns and subjects collide often: wildcards, tokens that only
/// look like wildcards, an empty token (invalid), blanks and non-UTF-8 (the sublist takes
/// them; the protocol layer rejects them).
const TOKENS: [&[u8]; 16] = [
    b"a", b"b", b"c", b"a", b"b", b"*", b"*", b">", b">", b"", b"foo", b"a*", b"*a", b">>", b"a b",
    b"\xff",
];
const QUEUES: [&[u8]; 4] = [b"q1", b"q2", b"", b"q.x"];

struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn subject(&mut self) -> Option<Vec<u8>> {
        let n = 1 + usize::from(self.byte()? % 5);
        let mut s = Vec::new();
        for i in 0..n {
            if i > 0 {
                s.push(b'.');
            }
            s.extend_from_slice(TOKENS[usize::from(self.byte()? % 16)]);
        }
        Some(s)
    }

    fn raw(&mut self) -> Option<Vec<u8>> {
        let n = usize::from(self.byte()? % 16).min(self.data.len());
        let (s, rest) = self.data.split_at(n);
        self.data = rest;
        Some(s.to_vec())
    }
}

type Entry = (Vec<u8>, Option<Vec<u8>>, u8);

/// The NATS insert rule, from scratch: no empty token, `>` only last.
fn valid_pattern(p: &[u8]) -> bool {
    let toks: Vec<&[u8]> = p.split(|&b| b == b'.').collect();
    toks.iter().all(|t| !t.is_empty())
        && toks
            .iter()
            .position(|t| *t == b">")
            .is_none_or(|i| i == toks.len() - 1)
}

/// The NATS match rule, from scratch: `*` one token, `>` one or more trailing tokens, a
/// subject with an empty token matches nothing, a subject's own `*`/`>` are literal.
fn naive_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let p: Vec<&[u8]> = pattern.split(|&b| b == b'.').collect();
    let s: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
    if !valid_pattern(pattern) || s.iter().any(|t| t.is_empty()) {
        return false;
    }
    for (i, pt) in p.iter().enumerate() {
        if *pt == b">" {
            return s.len() > i;
        }
        match s.get(i) {
            Some(st) if *pt == b"*" || pt == st => {}
            _ => return false,
        }
    }
    s.len() == p.len()
}

/// A match result in canonical form: sorted plain values and, per queue name, sorted members.
type Canon = (Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>);

fn canon(r: &MatchResult<u8>) -> Canon {
    let mut plain = r.plain.clone();
    plain.sort_unstable();
    let mut queues = BTreeMap::new();
    for g in &r.queues {
        assert!(!g.members.is_empty(), "empty queue group in a result");
        let mut m = g.members.clone();
        m.sort_unstable();
        assert!(
            queues.insert(g.name.to_vec(), m).is_none(),
            "queue group listed twice"
        );
    }
    (plain, queues)
}

fn model_match(model: &[Entry], subject: &[u8]) -> Canon {
    let mut plain = Vec::new();
    let mut queues: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (p, q, v) in model {
        let hit = naive_matches(p, subject);
        assert_eq!(
            matches(p, subject),
            hit,
            "subject::matches({p:?}, {subject:?})"
        );
        if hit {
            match q {
                None => plain.push(*v),
                Some(q) => queues.entry(q.clone()).or_default().push(*v),
            }
        }
    }
    plain.sort_unstable();
    queues.values_mut().for_each(|m| m.sort_unstable());
    (plain, queues)
}

fn contents(s: &Sublist<u8>) -> Vec<Entry> {
    let mut all = Vec::new();
    s.for_each(|p, q, v| all.push((p.to_vec(), q.map(<[u8]>::to_vec), *v)));
    all.sort();
    all
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script { data };
    let mut lists = [Sublist::<u8>::with_cache(true), Sublist::with_cache(false)];
    let mut model: Vec<Entry> = Vec::new();
    // The last results handed out, with what they held then: they must never change.
    let mut held: Vec<(Arc<MatchResult<u8>>, Canon)> = Vec::new();
    let mut matched: Vec<Vec<u8>> = Vec::new();

    while let Some(b) = script.byte() {
        let value = (b >> 3) & 3;
        let queue = (b >> 5 >= 4).then(|| QUEUES[usize::from((b >> 5) & 3)].to_vec());
        let op = b & 7;
        let (kind, subject) = match op {
            6 => (op, script.raw()),
            7 => (if b & 8 == 0 { 0 } else { 2 }, script.raw()),
            5 => (op, Some(Vec::new())),
            _ => (op, script.subject()),
        };
        let Some(subject) = subject else { break };
        let q = queue.as_deref();
        match kind {
            0 | 1 => {
                let valid = valid_pattern(&subject);
                let entry = (subject.clone(), queue.clone(), value);
                if valid && !model.contains(&entry) {
                    model.push(entry);
                }
                for s in &mut lists {
                    assert_eq!(s.insert(&subject, q, value).is_ok(), valid, "insert");
                }
            }
            2 => {
                let entry = (subject.clone(), queue.clone(), value);
                let pos = model.iter().position(|e| *e == entry);
                if let Some(i) = pos {
                    model.swap_remove(i);
                }
                for s in &mut lists {
                    assert_eq!(s.remove(&subject, q, value), pos.is_some(), "remove");
                }
            }
            3 | 6 => {
                let want = model_match(&model, &subject);
                for s in &mut lists {
                    let got = s.match_subject(&subject);
                    assert_eq!(canon(&got), want, "match {subject:?}");
                    if held.len() == 16 {
                        held.remove(0);
                    }
                    held.push((got, want.clone()));
                }
                matched.push(subject);
            }
            4 => {
                let want = model.iter().any(|(p, _, _)| naive_matches(p, &subject));
                for s in &mut lists {
                    assert_eq!(s.has_interest(&subject), want, "has_interest {subject:?}");
                }
            }
            _ => {
                // A connection with value `value` goes away: all its entries at once.
                let gone: Vec<Entry> = model.iter().filter(|e| e.2 == value).cloned().collect();
                model.retain(|e| e.2 != value);
                for s in &mut lists {
                    let batch = gone.iter().map(|(p, q, v)| (&p[..], q.as_deref(), *v));
                    assert_eq!(s.remove_batch(batch), gone.len(), "remove_batch");
                }
            }
        }
        let mut want = model.clone();
        want.sort();
        for s in &lists {
            assert_eq!(s.count(), model.len(), "count");
            assert!(s.cache_count() <= CACHE_MAX, "cache over its bound");
        }
        // for_each walks the whole trie: check it every few ops, and at the end.
        if model.len() % 4 == 0 {
            for s in &lists {
                assert_eq!(contents(s), want, "for_each");
            }
        }
        for (arc, was) in &held {
            assert_eq!(&canon(arc), was, "a handed-out result changed");
        }
    }

    let mut want = model.clone();
    want.sort();
    for s in &mut lists {
        assert_eq!(contents(s), want, "for_each");
        for (p, q, v) in &model {
            assert!(s.remove(p, q.as_deref(), *v), "final remove");
        }
        assert!(s.is_empty(), "entries left");
        assert_eq!(s.node_count(), 0, "trie not pruned to the root");
        for subject in &matched {
            assert!(s.match_subject(subject).is_empty(), "stale match");
            assert!(!s.has_interest(subject), "stale interest");
        }
    }
});
