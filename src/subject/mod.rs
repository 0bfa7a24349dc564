//! Subject syntax: validation, wildcard matching and the relations between
//! patterns, exactly as nats-server defines them (`server/sublist.go`).
//!
//! This module owns the rules for what a subject *is*; [`sublist`] owns the
//! index that routes a published subject to its subscribers.
//!
//! Conventions every function here follows:
//! - A subject is raw bytes split on `.` into tokens. No UTF-8 is assumed, and
//!   no input can make any function panic.
//! - A token is a wildcard only when it is exactly `*` (any one token) or
//!   exactly `>` (one or more trailing tokens). Tokens such as `foo*`, `*bar`,
//!   `>>` or `*-` are ordinary literals.
//! - Validation differs by use, as in nats: `is_valid_subject` is what the
//!   protocol parser checks for SUB/PUB, `is_valid_literal_subject` is the
//!   pedantic publish check, and the sublist's own insert check is looser
//!   still (see [`sublist::Sublist::insert`]).
//! - A subject being matched is always read literally: a `*` or `>` token in
//!   it is just a token, and a pattern's `*` or `>` may match it. A subject
//!   with an empty token matches nothing.

pub mod sublist;
pub mod transform;

/// Token separator.
const TSEP: u8 = b'.';
/// Partial wildcard token.
const PWC: &[u8] = b"*";
/// Full wildcard token.
const FWC: &[u8] = b">";

/// The tokens of `s`. An empty `s` yields one empty token, as Go's
/// `strings.Split` does, which is what makes the empty subject invalid
/// wherever nats checks for empty tokens.
#[inline]
pub(crate) fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    s.split(|&b| b == TSEP)
}

/// The whitespace nats rejects in subjects (Go `"\t\n\f\r "`; no `\v`).
#[inline]
fn is_subject_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// nats `IsValidSubject`: non-empty, no empty token, no whitespace inside a
/// token, and a `>` token only in last position.
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut after_fwc = false;
    for t in tokens(s) {
        if t.is_empty() || after_fwc || t.iter().any(|&b| is_subject_whitespace(b)) {
            return false;
        }
        after_fwc = t == FWC;
    }
    true
}

/// nats `IsValidLiteralSubject`, the check a pedantic client's publish gets:
/// no empty token and no wildcard token. It deliberately does not look for
/// whitespace, as nats does not.
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    tokens(s).all(|t| !t.is_empty() && t != PWC && t != FWC)
}

/// nats `subjectIsLiteral`: no token is exactly `*` or `>`. Validity is not
/// checked (the empty subject is "literal").
pub fn is_literal(s: &[u8]) -> bool {
    tokens(s).all(|t| t != PWC && t != FWC)
}

/// The sublist's insert rule (nats `Insert`): no empty token and nothing
/// after a `>` token. Whitespace is the protocol layer's business.
pub(crate) fn is_valid_pattern(s: &[u8]) -> bool {
    let mut after_fwc = false;
    for t in tokens(s) {
        if t.is_empty() || after_fwc {
            return false;
        }
        after_fwc = t == FWC;
    }
    true
}

/// Whether `s` can match anything at all: nats `match` gives the empty
/// result for an empty subject or one with an empty token, before looking at
/// the index or the cache.
#[inline]
pub(crate) fn is_matchable(s: &[u8]) -> bool {
    // Starting "after a separator" makes a leading '.' and the empty subject
    // fail through the same test as "..".
    let mut after_sep = true;
    for &b in s {
        if b == TSEP {
            if after_sep {
                return false;
            }
            after_sep = true;
        } else {
            after_sep = false;
        }
    }
    !after_sep
}

/// Does the subject `subject` match the pattern `pattern`?
///
/// `subject` is read literally (see the module docs) and must have no empty
/// token; `pattern` follows the insert rule (a `>` not in last position, or
/// an empty token, makes it match nothing). `*` matches exactly one token and
/// `>` one or more trailing tokens. This is the sublist's own notion of a
/// match, so it serves both permission checks and as the test oracle.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    if !is_matchable(subject) {
        return false;
    }
    let mut pt = tokens(pattern);
    let mut st = tokens(subject);
    loop {
        match (pt.next(), st.next()) {
            (None, None) => return true,
            (Some(FWC), Some(_)) => return pt.next().is_none(),
            (Some(PWC), Some(_)) => {}
            (Some(p), Some(s)) => {
                if p != s {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Whether any token is a `*` wildcard, and whether any is a `>` (nats
/// `analyzeTokens`: position does not matter).
fn wildcard_kinds(toks: &[&[u8]]) -> (bool, bool) {
    toks.iter()
        .fold((false, false), |(p, f), t| (p || *t == PWC, f || *t == FWC))
}

/// nats `tokensCanMatch`. Like nats it looks only at the first byte for
/// wildcards, so `*x` counts as one here; kept for exact agreement.
fn tokens_can_match(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), b.first()) {
        (Some(&x), Some(&y)) => x == b'*' || y == b'*' || x == b'>' || y == b'>' || a == b,
        _ => false,
    }
}

/// nats `SubjectsCollide`: could some literal subject be matched by both
/// `a` and `b`?
pub fn subjects_collide(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let ta: Vec<&[u8]> = tokens(a).collect();
    let tb: Vec<&[u8]> = tokens(b).collect();
    let (pwc_a, fwc_a) = wildcard_kinds(&ta);
    let (pwc_b, fwc_b) = wildcard_kinds(&tb);
    let lit_a = !(pwc_a || fwc_a);
    let lit_b = !(pwc_b || fwc_b);
    match (lit_a, lit_b) {
        // Two distinct literals never collide (equal ones returned above).
        (true, true) => return false,
        (true, false) => return is_subset_tokens(&ta, &tb),
        (false, true) => return is_subset_tokens(&tb, &ta),
        (false, false) => {}
    }
    // Both have wildcards. Without a '>' a pattern has a fixed length, so the
    // shorter side must carry the '>' for different lengths to meet.
    if ta.len() < tb.len() && !fwc_a || tb.len() < ta.len() && !fwc_b {
        return false;
    }
    ta.iter()
        .zip(tb.iter())
        .all(|(x, y)| tokens_can_match(x, y))
}

/// nats `subjectIsSubsetMatch(subject, test)`: is every subject matched by
/// `subject` also matched by `pattern`? Both may contain wildcards.
pub fn is_subset_match(subject: &[u8], pattern: &[u8]) -> bool {
    let st: Vec<&[u8]> = tokens(subject).collect();
    let pt: Vec<&[u8]> = tokens(pattern).collect();
    is_subset_tokens(&st, &pt)
}

/// nats `isSubsetMatchTokenized`, check for check, so that edge cases agree.
fn is_subset_tokens(toks: &[&[u8]], test: &[&[u8]]) -> bool {
    for (i, &t2) in test.iter().enumerate() {
        let Some(&t1) = toks.get(i) else {
            return false;
        };
        if t2.is_empty() {
            return false;
        }
        if t2 == FWC {
            return true;
        }
        if t1.is_empty() || t1 == FWC {
            return false;
        }
        if t1 == PWC {
            if t2 != PWC {
                return false;
            }
            continue;
        }
        // nats tests only the first byte here, so a pattern token like "*x"
        // accepts any literal token. Kept for exact agreement.
        if t2.first() != Some(&b'*') && t1 != t2 {
            return false;
        }
    }
    toks.len() == test.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> &[u8] {
        s.as_bytes()
    }

    // nats TestSublistValidLiteralSubjects (sublist_test.go:609).
    #[test]
    fn valid_literal_subjects() {
        let cases: &[(&str, bool)] = &[
            ("foo", true),
            (".foo", false),
            ("foo.", false),
            ("foo..bar", false),
            ("foo.bar.*", false),
            ("foo.bar.>", false),
            ("*", false),
            (">", false),
            ("foo*", true),
            ("foo**", true),
            ("foo.**", true),
            ("foo*bar", true),
            ("foo.*bar", true),
            ("foo*.bar", true),
            ("*bar", true),
            ("foo>", true),
            ("foo>>", true),
            ("foo.>>", true),
            ("foo>bar", true),
            ("foo.>bar", true),
            ("foo>.bar", true),
            (">bar", true),
            // Beyond the nats table: the empty subject is one empty token,
            // and whitespace is not this check's concern.
            ("", false),
            ("foo bar", true),
        ];
        for (s, want) in cases {
            assert_eq!(is_valid_literal_subject(b(s)), *want, "{s:?}");
        }
    }

    // nats TestSublistValidSubjects (sublist_test.go:636).
    #[test]
    fn valid_subjects() {
        let cases: &[(&str, bool)] = &[
            (".", false),
            (".foo", false),
            ("foo.", false),
            ("foo..bar", false),
            (">.bar", false),
            ("foo.>.bar", false),
            ("foo", true),
            ("foo.bar.*", true),
            ("foo.bar.>", true),
            ("*", true),
            (">", true),
            ("foo*", true),
            ("foo**", true),
            ("foo.**", true),
            ("foo*bar", true),
            ("foo.*bar", true),
            ("foo*.bar", true),
            ("*bar", true),
            ("foo>", true),
            ("foo.>>", true),
            ("foo>bar", true),
            ("foo.>bar", true),
            ("foo>.bar", true),
            (">bar", true),
            // Whitespace rules from isValidSubject (sublist.go:1226-1243).
            ("", false),
            ("foo bar", false),
            ("foo.\tbar", false),
            ("foo.\n", false),
            ("\r", false),
            ("a.\x0c", false),
            (" ", false),
            ("foo.\x0bbar", true), // \v is not in nats' set
            ("foo.bar\x00", true), // NUL is only rejected by the rune check
        ];
        for (s, want) in cases {
            assert_eq!(is_valid_subject(b(s)), *want, "{s:?}");
        }
        // Non-UTF-8 bytes are fine.
        assert!(is_valid_subject(&[0xff, b'.', 0xfe, 0x80]));
    }

    // nats TestSubjectIsLiteral (sublist_test.go:697).
    #[test]
    fn literal_subjects() {
        let cases: &[(&str, bool)] = &[
            ("foo", true),
            ("foo.bar", true),
            ("foo*.bar", true),
            ("*", false),
            (">", false),
            ("foo.*", false),
            ("foo.>", false),
            ("foo.*.>", false),
            ("foo.*.bar", false),
            ("foo.bar.>", false),
            ("", true),
            ("foo.>>", true),
        ];
        for (s, want) in cases {
            assert_eq!(is_literal(b(s)), *want, "{s:?}");
        }
    }

    // nats TestSublistMatchLiterals (sublist_test.go:668): matchLiteral(literal, pattern).
    #[test]
    fn match_literals() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "bar", false),
            ("foo", "*", true),
            ("foo", ">", true),
            ("foo.bar", ">", true),
            ("foo.bar", "foo.>", true),
            ("foo.bar", "bar.>", false),
            ("stats.test.22", "stats.>", true),
            ("stats.test.22", "stats.*.*", true),
            ("foo.bar", "foo", false),
            ("stats.test.foos", "stats.test.foos", true),
            ("stats.test.foos", "stats.test.foo", false),
            ("stats.test", "stats.test.*", false),
            ("stats.test.foos", "stats.*", false),
            ("stats.test.foos", "stats.*.*.foos", false),
            ("*bar", "*bar", true),
            ("foo*", "foo*", true),
            ("foo*bar", "foo*bar", true),
            ("foo.***.bar", "foo.***.bar", true),
            (">bar", ">bar", true),
            ("foo>", "foo>", true),
            ("foo>bar", "foo>bar", true),
            ("foo.>>>.bar", "foo.>>>.bar", true),
            // Subjects are read literally, so a wildcard token in one is
            // matched by a wildcard pattern but not by a literal.
            ("foo.*", "foo.*", true),
            ("foo.*", "foo.>", true),
            ("foo.>", "foo.bar", false),
            ("foo", "foo.>", false),
            // Nothing matches a subject with an empty token.
            ("", ">", false),
            ("foo.", "foo.>", false),
            ("foo..bar", "foo.*.bar", false),
            (".foo", ">", false),
            // A '>' that is not last makes the pattern match nothing.
            ("foo.bar", ">.bar", false),
        ];
        for (lit, pat, want) in cases {
            assert_eq!(matches(b(pat), b(lit)), *want, "{pat:?} vs {lit:?}");
        }
    }

    #[test]
    fn matchable() {
        for s in ["", ".", "..", ".a", "a.", "a..b", "a.b."] {
            assert!(!is_matchable(b(s)), "{s:?}");
        }
        for s in ["a", "a.b", "*", ">", "a.*.>", " ", "a. .b"] {
            assert!(is_matchable(b(s)), "{s:?}");
        }
    }

    // nats TestIsSubsetMatch (sublist_test.go:1123).
    #[test]
    fn subset_match() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo.bar", "foo.bar", true),
            ("foo.*", ">", true),
            ("foo.*", "*.*", true),
            ("foo.*", "foo.*", true),
            ("foo.*", "foo.bar", false),
            ("foo.>", ">", true),
            ("foo.>", "*.>", true),
            ("foo.>", "foo.>", true),
            ("foo.>", "foo.bar", false),
            ("foo..bar", "foo.*", false),
            ("foo.*", "foo..bar", false),
            // Benchmark_SubjectFilterMatchers cases (sublist_test.go:2425).
            ("foo.baz.12345", "foo.baz.*", true),
            ("foo.baz.12345", "foo.*.>", true),
            (
                "foo.alpha.beta.gamma.delta.epsilon.zeta.12345",
                "foo.alpha.beta.gamma.delta.epsilon.zeta.*",
                true,
            ),
            (
                "foo.alpha.beta.gamma.delta.epsilon.zeta.12345",
                "foo.*.*.*.*.*.*.99999",
                false,
            ),
            // Length and wildcard edges of isSubsetMatchTokenized.
            ("foo", "foo.>", false),
            ("foo.bar", "foo", false),
            ("*", "foo", false),
            (">", "*", false),
            (">", ">", true),
            // nats quirk: only the first byte of the pattern token is tested.
            ("foo.bar", "foo.*x", true),
        ];
        for (subject, pattern, want) in cases {
            assert_eq!(
                is_subset_match(b(subject), b(pattern)),
                *want,
                "{subject:?} within {pattern:?}"
            );
        }
    }

    // nats TestSublistSubjectCollide (sublist_test.go:1572), the deny cases of
    // TestClientSubscribeDenyWildcardOverlapBlocksDelivery (client_test.go:1059)
    // and the FuzzSubjectsCollide corpus (subject_fuzz_test.go:21).
    #[test]
    fn collide() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo.*", "foo.*.bar.>", false),
            ("foo.*.bar.>", "foo.*", false),
            ("foo.*", "foo.foo", true),
            ("foo.*", "*.foo", true),
            ("foo.bar.>", "*.bar.foo", true),
            ("*.secret", "foo.*", true),
            ("foo.*.bar", "foo.baz.*", true),
            ("*.*.bar", "foo.*.*", true),
            ("a.>", "*.b", true),
            ("", "", true),
            ("a", "a", true),
            ("a.b.c", "a.b.c", true),
            ("$JS.b.c", "$JS.b.c", true),
            ("a.b.c", "a.*.c", true),
            ("a.b.*", "a.*.c", true),
            ("aaa.bbb.ccc", "aaa.bbb.ccc", true),
            ("aaa.*.ccc", "*.bbb.ccc", true),
            ("*", "*", true),
            ("**", "*", true),
            ("", ">", true),
            (">", ">", true),
            (">>", ">", true),
            ("a", ">", true),
            ("a.b.c", ">", true),
            ("a.b.c.>", "a.b.>", true),
            ("a.b.c.d.*", "a.b.c.*.e", true),
            ("a.*.*.d.>", "a.bbb.ccc.*.e", true),
            ("a", "", false),
            ("a.b", "b.a", false),
            ("a.bbbbb.*.d", "a.b.>", false),
            ("a.b", "a.b.c", false),
            ("a.b.c", "a.b", false),
            ("a.b", "", false),
            ("a.*.*.d.e.>", "a.bbb.ccc.*.e", false),
            // More shapes.
            ("*", "a.>", false),
            ("*.*", ">", true),
            ("a.>", "a", false),
            ("a.*", "b.>", false),
        ];
        for (x, y, want) in cases {
            assert_eq!(subjects_collide(b(x), b(y)), *want, "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn no_panic_on_odd_bytes() {
        let inputs: &[&[u8]] = &[
            b"",
            b".",
            b"..",
            b">",
            b"*",
            b">.>",
            b"\xff.\x00",
            b"*.",
            b".>",
        ];
        for &x in inputs {
            let _ = is_valid_subject(x);
            let _ = is_valid_literal_subject(x);
            let _ = is_literal(x);
            let _ = is_valid_pattern(x);
            for &y in inputs {
                let _ = matches(x, y);
                let _ = subjects_collide(x, y);
                let _ = is_subset_match(x, y);
            }
        }
    }

    fn pattern_strategy(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(alphabet), 1..=4).prop_map(|toks| toks.join("."))
    }

    fn valid_pattern(p: &str) -> bool {
        is_valid_pattern(p.as_bytes())
    }

    proptest! {
        // For a literal subject, "pattern matches it" and "it is a subset of
        // the pattern" are the same question, answered by separate code.
        #[test]
        fn matches_agrees_with_subset(
            pattern in pattern_strategy(&["a", "b", "*", ">"]),
            subject in pattern_strategy(&["a", "b", "c"]),
        ) {
            prop_assume!(valid_pattern(&pattern));
            prop_assert_eq!(
                matches(pattern.as_bytes(), subject.as_bytes()),
                is_subset_match(subject.as_bytes(), pattern.as_bytes())
            );
        }

        // SubjectsCollide is exact on valid patterns: it agrees with a brute
        // force search for a common literal subject. Patterns have at most
        // four tokens, so a witness never needs more than five, and "z"
        // stands for any token neither pattern names.
        #[test]
        fn collide_is_exact(
            x in pattern_strategy(&["a", "b", "*", ">"]),
            y in pattern_strategy(&["a", "b", "*", ">"]),
        ) {
            prop_assume!(valid_pattern(&x) && valid_pattern(&y));
            let mut witness = false;
            let alphabet = ["a", "b", "z"];
            'outer: for len in 1..=5u32 {
                for n in 0..3usize.pow(len) {
                    let mut k = n;
                    let toks: Vec<&str> = (0..len).map(|_| { let t = alphabet[k % 3]; k /= 3; t }).collect();
                    let s = toks.join(".");
                    if matches(x.as_bytes(), s.as_bytes()) && matches(y.as_bytes(), s.as_bytes()) {
                        witness = true;
                        break 'outer;
                    }
                }
            }
            prop_assert_eq!(subjects_collide(x.as_bytes(), y.as_bytes()), witness, "{} vs {}", x, y);
            prop_assert_eq!(subjects_collide(y.as_bytes(), x.as_bytes()), witness);
        }

        #[test]
        fn validators_never_panic(s in prop::collection::vec(prop::sample::select(&b"ab.*> \t\xff"[..]), 0..12)) {
            let _ = is_valid_subject(&s);
            let _ = is_valid_literal_subject(&s);
            let _ = is_literal(&s);
            let _ = matches(&s, &s);
            let _ = subjects_collide(&s, b"a.>");
            let _ = is_subset_match(&s, b"*.>");
            // A subject valid for SUB is always insertable.
            if is_valid_subject(&s) {
                prop_assert!(is_valid_pattern(&s));
            }
        }
    }
}
