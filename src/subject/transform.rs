//! Subject transforms, as nats-server's `subjectTransform` (`server/subject_transform.go`)
//! defines them: account subject mappings (`mappings {}`), stream and service import
//! subjects, and a JetStream stream's `subject_transform` and `republish`.
//!
//! A transform maps the subjects a source pattern matches (`*`, a trailing `>`; an empty
//! source is `>`) onto a destination whose tokens are literals, `$N`, a trailing `>` (what
//! the source's `>` matched) or one mapping function each (N: the N-th `*` of the source):
//! `{{wildcard(N)}}`, `{{partition(n[,N…])}}`, `{{split(N,delim)}}`,
//! `{{splitFromLeft(N,at)}}`, `{{splitFromRight(N,at)}}`, `{{sliceFromLeft(N,size)}}`,
//! `{{sliceFromRight(N,size)}}`, `{{left(N,len)}}`, `{{right(N,len)}}` and `{{random(n)}}`.
//!
//! This module owns reading a destination exactly as nats does (the leniency of its
//! regexes included), the errors with nats' texts, applying a transform, the reverse a
//! stream import needs, nats' `ValidateMapping` and the `$N` tokenize helpers of imports.
//! Where nats would index past the tokens it was given and panic, the piece stays empty.

use crate::subject;

const SEP: u8 = b'.';

/// nats `ErrBadSubject`.
const BAD_SUBJECT: &str = "invalid subject";
// The `ErrMappingDestination…` texts, after "invalid mapping destination: ".
const E_TRANSFORM: &str = "invalid transform";
const E_ALL_WILDCARDS: &str = "not using all of the token wildcard(s)";
const E_UNKNOWN: &str = "unknown function";
const E_RANGE: &str = "wildcard index out of range";
const E_FEW_ARGS: &str = "not enough arguments passed to the function";
const E_BAD_ARG: &str = "function argument is invalid or in the wrong format";
const E_MANY_ARGS: &str = "too many arguments passed to the function";
const E_IMPORT: &str = "the only mapping function allowed for import transforms is {{Wildcard()}}";

/// nats `mappingDestinationErr.Error()`.
fn mapping_err(token: &str, what: &str) -> String {
    if token.is_empty() {
        format!("invalid mapping destination: {what}")
    } else {
        format!("invalid mapping destination: {what} in {token}")
    }
}

/// What Go's regexp `\s` matches.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// The token-cutting functions: one source token, one int argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    SplitFromLeft,
    SplitFromRight,
    SliceFromLeft,
    SliceFromRight,
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Wildcard,
    Partition,
    Cut(Cut),
    Split,
    Random,
}

/// The functions in the order nats' `indexPlaceHolders` tries them. In a name an upper
/// case letter also matches its lower case one, as nats' `[sS]plit[fF]rom[lL]eft`
/// does; the other letters are lower case only (`WILDCARD` is unknown).
const FUNCS: [(&str, Func); 10] = [
    ("Wildcard", Func::Wildcard),
    ("Partition", Func::Partition),
    ("SplitFromLeft", Func::Cut(Cut::SplitFromLeft)),
    ("SplitFromRight", Func::Cut(Cut::SplitFromRight)),
    ("SliceFromLeft", Func::Cut(Cut::SliceFromLeft)),
    ("SliceFromRight", Func::Cut(Cut::SliceFromRight)),
    ("Right", Func::Cut(Cut::Right)),
    ("Left", Func::Cut(Cut::Left)),
    ("Split", Func::Split),
    ("Random", Func::Random),
];

/// What nats' `{{\s*Name\s*\((.*)\)\s*}}` captures in `token`: searched anywhere in it
/// (not anchored), leftmost match, the greedy `.*` never crossing a newline.
fn capture<'a>(token: &'a str, name: &str) -> Option<&'a str> {
    let b = token.as_bytes();
    'start: for start in 0..b.len() {
        if !b[start..].starts_with(b"{{") {
            continue;
        }
        let mut i = skip_space(b, start + 2);
        for c in name.bytes() {
            let ok = b.get(i).is_some_and(|&x| {
                x == c || (c.is_ascii_uppercase() && x == c.to_ascii_lowercase())
            });
            if !ok {
                continue 'start;
            }
            i += 1;
        }
        i = skip_space(b, i);
        if b.get(i) != Some(&b'(') {
            continue;
        }
        let open = i + 1;
        let end = b[open..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| open + p);
        for close in (open..end).rev() {
            if b[close] == b')' && b[skip_space(b, close + 1)..].starts_with(b"}}") {
                return token.get(open..close);
            }
        }
    }
    None
}

/// The arguments in a capture, split as nats' `,\s*` regex splits them.
fn split_args(capture: &str) -> Vec<&str> {
    capture
        .split(',')
        .enumerate()
        .map(|(i, a)| match i {
            0 => a,
            _ => a.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8)),
        })
        .collect()
}

/// Go's `strconv.Atoi(strings.Trim(s, " "))`.
fn atoi(s: &str) -> Option<i64> {
    s.trim_matches(' ').parse().ok()
}

/// A count argument of `partition` or `random`: at most `MaxInt32`, then converted to
/// `int32` as Go converts (so a very negative one wraps).
fn int32_arg(s: &str) -> Option<i32> {
    atoi(s)
        .filter(|&n| n <= i64::from(i32::MAX))
        .map(|n| n as i32)
}

/// A destination token's mapping function, its source wildcard numbers as written.
enum Placeholder {
    Wildcard(i64),
    Partition(i32, Vec<i64>),
    Cut(Cut, i64, i32),
    Split(i64, String),
    Random(i32),
}

/// nats `indexPlaceHolders`: the function in `token`, `None` for a literal.
fn placeholder(token: &str) -> Result<Option<Placeholder>, String> {
    let b = token.as_bytes();
    if b.len() < 2 {
        return Ok(None);
    }
    if let Some(n) = token.strip_prefix('$') {
        // A `$` token that is not `$<number>` is a literal: other things use them.
        return Ok(n.parse().ok().map(Placeholder::Wildcard));
    }
    if !(b.len() > 4 && token.starts_with("{{") && token.ends_with("}}")) {
        return Ok(None);
    }
    let err = |what| Err(mapping_err(token, what));
    let Some((func, args)) = FUNCS
        .iter()
        .find_map(|&(name, f)| capture(token, name).map(|c| (f, split_args(c))))
    else {
        return err(E_UNKNOWN);
    };
    let ph = match (func, args.as_slice()) {
        (Func::Wildcard, [""]) => return err(E_FEW_ARGS),
        (Func::Wildcard, [i]) => match atoi(i) {
            Some(i) => Placeholder::Wildcard(i),
            None => return err(E_BAD_ARG),
        },
        (Func::Wildcard, _) => return err(E_MANY_ARGS),
        (Func::Partition, [n, idx @ ..]) => {
            let n = int32_arg(n);
            let idx: Option<Vec<i64>> = idx.iter().map(|i| atoi(i)).collect();
            match (n, idx) {
                (Some(n), Some(idx)) => Placeholder::Partition(n, idx),
                _ => return err(E_BAD_ARG),
            }
        }
        (Func::Cut(c), [i, n]) => match (atoi(i), n.trim_matches(' ').parse().ok()) {
            (Some(i), Some(n)) => Placeholder::Cut(c, i, n),
            _ => return err(E_BAD_ARG),
        },
        (Func::Split, [i, delim]) => match atoi(i) {
            Some(i) if !delim.contains([' ', '.']) => Placeholder::Split(i, delim.to_string()),
            _ => return err(E_BAD_ARG),
        },
        (Func::Cut(_) | Func::Split, [] | [_]) => return err(E_FEW_ARGS),
        (Func::Cut(_) | Func::Split, _) => return err(E_MANY_ARGS),
        // nats says "not enough" for any count but one.
        (Func::Random, [n]) => match int32_arg(n) {
            Some(n) => Placeholder::Random(n),
            None => return err(E_BAD_ARG),
        },
        (Func::Random | Func::Partition, _) => return err(E_FEW_ARGS),
    };
    Ok(Some(ph))
}

/// A destination token, its source references resolved to source token positions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A trailing `>`: the source's `>` tokens.
    Rest,
    Wildcard(usize),
    /// Buckets and the tokens hashed (none: the whole subject).
    Partition(i32, Vec<usize>),
    Cut(Cut, usize, i32),
    Split(usize, String),
    Random(i32),
}

/// nats `subjectInfo`: the tokens, the `*` count and a trailing `>`, or not a subject
/// (an empty token, or one after `>`; whitespace is not looked for).
fn subject_info(s: &str) -> Option<(Vec<&str>, usize, bool)> {
    let toks: Vec<&str> = s.split('.').collect();
    let (mut pwcs, mut fwc) = (0, false);
    for t in &toks {
        if t.is_empty() || fwc {
            return None;
        }
        match *t {
            ">" => fwc = true,
            "*" => pwcs += 1,
            _ => {}
        }
    }
    Some((toks, pwcs, fwc))
}

/// A subject transform (nats `subjectTransform`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    src: String,
    dest: String,
    /// The number of source tokens.
    src_tokens: usize,
    /// Empty only for an empty destination.
    parts: Vec<Part>,
}

impl Transform {
    /// nats `NewSubjectTransform`: a transform from `source` (empty: `>`) to `dest`, or
    /// nats' error text. An empty `dest` is where nats gives no transform and no error:
    /// the transform maps nothing ([`Transform::is_empty`]).
    pub fn new(source: &str, dest: &str) -> Result<Transform, String> {
        Self::build(source, dest, false)
    }

    /// nats `NewSubjectTransformStrict`, for imports, which must be reversible: when the
    /// source has wildcards, only `$N`/`{{wildcard(N)}}` and every `*` of it used.
    pub fn new_strict(source: &str, dest: &str) -> Result<Transform, String> {
        Self::build(source, dest, true)
    }

    fn build(source: &str, dest: &str, strict: bool) -> Result<Transform, String> {
        let src = if source.is_empty() { ">" } else { source };
        let (stoks, pwcs, src_fwc) = subject_info(src).ok_or(BAD_SUBJECT)?;
        let mut t = Transform {
            src: src.to_string(),
            dest: dest.to_string(),
            src_tokens: stoks.len(),
            parts: Vec::new(),
        };
        if dest.is_empty() {
            return Ok(t);
        }
        let (dtoks, dest_pwcs, dest_fwc) = subject_info(dest).ok_or(BAD_SUBJECT)?;
        if dest_pwcs > 0 || src_fwc != dest_fwc {
            return Err(BAD_SUBJECT.into());
        }
        let stars: Vec<usize> = (0..stoks.len()).filter(|&i| stoks[i] == "*").collect();
        let wild = pwcs > 0 || src_fwc;
        let mut used = 0;
        for tok in dtoks {
            let Some(ph) = placeholder(tok)? else {
                t.parts.push(match tok {
                    ">" => Part::Rest,
                    _ => Part::Literal(tok.to_string()),
                });
                continue;
            };
            if !wild {
                // Without wildcards only these, and a partition hashes the subject.
                t.parts.push(match ph {
                    Placeholder::Random(n) => Part::Random(n),
                    Placeholder::Partition(n, _) => Part::Partition(n, Vec::new()),
                    _ => return Err(mapping_err(tok, E_RANGE)),
                });
                continue;
            }
            if strict && !matches!(ph, Placeholder::Wildcard(_)) {
                return Err(mapping_err(tok, E_IMPORT));
            }
            // The source position of the n-th `*`; nats only checks the upper bound and
            // reads a missing one as its map's zero value, the first source token.
            let pos = |n: i64| -> Result<usize, String> {
                if n > i64::try_from(pwcs).unwrap_or(i64::MAX) {
                    return Err(mapping_err(&format!("{tok}: [{n}]"), E_RANGE));
                }
                let at = usize::try_from(n - 1).ok().and_then(|k| stars.get(k));
                Ok(at.copied().unwrap_or(0))
            };
            t.parts.push(match ph {
                Placeholder::Random(n) => Part::Random(n),
                Placeholder::Wildcard(i) => {
                    used += 1;
                    Part::Wildcard(pos(i)?)
                }
                Placeholder::Partition(n, idx) => {
                    used += idx.len();
                    let idx = idx.into_iter().map(pos).collect::<Result<_, _>>()?;
                    Part::Partition(n, idx)
                }
                Placeholder::Cut(c, i, n) => {
                    used += 1;
                    Part::Cut(c, pos(i)?, n)
                }
                Placeholder::Split(i, delim) => {
                    used += 1;
                    Part::Split(pos(i)?, delim)
                }
            });
        }
        if wild && strict && used < pwcs {
            return Err(mapping_err(dest, E_ALL_WILDCARDS));
        }
        Ok(t)
    }

    /// The source, as nats keeps it (an empty one is `>`).
    pub fn source(&self) -> &str {
        &self.src
    }

    /// The destination, as given.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    /// An empty destination's transform, which maps nothing (nats has none at all).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// nats `Match`: the destination for `subject`, or `None` when the source does not
    /// match it or it is not a literal subject. A piece cut inside a UTF-8 character
    /// (nats cuts bytes) is replaced by U+FFFD; [`Transform::apply_bytes`] is exact.
    pub fn apply(&self, subject: &str) -> Option<String> {
        let out = self.apply_bytes(subject.as_bytes())?;
        Some(
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// [`Transform::apply`] on raw subject bytes.
    pub fn apply_bytes(&self, subject: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        if self.src == ">" && self.dest == ">" {
            return Some(subject.to_vec());
        }
        if !subject::is_valid_literal_subject(subject)
            || (self.src != ">" && !subject::is_subset_match(subject, self.src.as_bytes()))
        {
            return None;
        }
        Some(self.transform_subject(subject))
    }

    /// nats `TransformSubject`: the destination for `subject`, not checked against the
    /// source (a stream import's reverse transforms a subscription's wildcards).
    pub fn transform_subject(&self, subject: &[u8]) -> Vec<u8> {
        let tokens: Vec<&[u8]> = subject.split(|&b| b == SEP).collect();
        self.transform_tokens(&tokens)
    }

    /// nats `TransformTokenizedSubject`: the destination for a subject's tokens.
    pub fn transform_tokens(&self, tokens: &[&[u8]]) -> Vec<u8> {
        if self.parts.is_empty() {
            return self.dest.as_bytes().to_vec();
        }
        let token = |p: &usize| tokens.get(*p).copied();
        let mut out = Vec::with_capacity(self.dest.len() + 16);
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Rest => break,
                Part::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Part::Wildcard(p) => out.extend_from_slice(token(p).unwrap_or_default()),
                Part::Partition(n, ps) => {
                    let key = if ps.is_empty() {
                        tokens.join(&SEP)
                    } else {
                        ps.iter().filter_map(token).flatten().copied().collect()
                    };
                    out.extend_from_slice(partition(&key, *n).as_bytes());
                }
                Part::Cut(c, p, n) => cut(*c, token(p).unwrap_or_default(), *n, &mut out),
                Part::Split(p, d) => split(token(p).unwrap_or_default(), d.as_bytes(), &mut out),
                Part::Random(n) => out.extend_from_slice(random(*n).as_bytes()),
            }
            if i < last {
                out.push(SEP);
            }
        }
        if self.parts.last() == Some(&Part::Rest) {
            let rest = tokens
                .get(self.src_tokens.saturating_sub(1)..)
                .unwrap_or_default();
            out.extend_from_slice(&rest.join(&SEP));
        }
        out
    }

    /// nats `reverse()`: the transform back from the destination to the source, meant for
    /// strict transforms. `None` where nats gets none (`nil`): an empty destination, or a
    /// reverse that is no strict transform (a wildcard used twice, say). As in nats, the
    /// source's `*`s take the destination's references in the order they are written, so
    /// only orders that are their own inverse come back right (`$2.$1`, not `$2.$3.$1`;
    /// imports tokenize in order, so theirs do).
    pub fn reverse(&self) -> Option<Transform> {
        if self.is_empty() {
            return None;
        }
        let (nsrc, refs) = transform_untokenize(&self.dest);
        let mut refs = refs.into_iter();
        let mut ndest = Vec::with_capacity(self.src_tokens);
        for t in self.src.split('.') {
            ndest.push(match t {
                "*" => refs.next()?,
                _ => t.to_string(),
            });
        }
        Transform::new_strict(&nsrc, &ndest.join(".")).ok()
    }
}

/// Go's `hash/fnv` 32-bit FNV-1a.
fn fnv1a(key: &[u8]) -> u32 {
    key.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// nats `getHashPartition`: the bucket count converted to `uint32` as Go converts it.
fn partition(key: &[u8], buckets: i32) -> String {
    match buckets {
        0 => "0".into(),
        n => (fnv1a(key) % n as u32).to_string(),
    }
}

/// nats `getRandomPartition`: a non-negative `int31` modulo the ceiling (Go's `%` takes
/// the dividend's sign, so a negative ceiling acts as its absolute value).
fn random(ceiling: i32) -> String {
    match ceiling {
        0 => "0".into(),
        n => (fastrand::i64(0..1 << 31) % i64::from(n)).to_string(),
    }
}

/// The cutting functions on one source token; a size or position not strictly between 0
/// and the token's length (in bytes) leaves it whole.
fn cut(kind: Cut, t: &[u8], n: i32, out: &mut Vec<u8>) {
    let len = t.len();
    let Some(n) = usize::try_from(n).ok().filter(|&n| n > 0 && n < len) else {
        out.extend_from_slice(t);
        return;
    };
    let pieces: Vec<&[u8]> = match kind {
        Cut::SplitFromLeft => vec![&t[..n], &t[n..]],
        Cut::SplitFromRight => vec![&t[..len - n], &t[len - n..]],
        Cut::SliceFromLeft => t.chunks(n).collect(),
        Cut::SliceFromRight => {
            let head = len % n;
            let first = (head > 0).then(|| &t[..head]);
            first.into_iter().chain(t[head..].chunks(n)).collect()
        }
        Cut::Left => vec![&t[..n]],
        Cut::Right => vec![&t[len - n..]],
    };
    out.extend_from_slice(&pieces.join(&SEP));
}

/// nats' `split`: the pieces of `t` around `delim`, empty ones dropped the way nats drops
/// them (which can leave a leading or trailing separator, as in nats: `--a` gives `.a`).
fn split(t: &[u8], delim: &[u8], out: &mut Vec<u8>) {
    let pieces = go_split(t, delim);
    for (j, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(piece);
        let next = pieces.get(j + 1).is_some_and(|p| !p.is_empty());
        if next && !(j == 0 && piece.is_empty()) {
            out.push(SEP);
        }
    }
}

/// Go's `strings.Split`; an empty separator splits after each UTF-8 sequence (and each
/// byte that is none).
fn go_split<'a>(s: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    if sep.is_empty() {
        let mut at = 0;
        for chunk in s.utf8_chunks() {
            let sizes = chunk.valid().chars().map(char::len_utf8);
            for size in sizes.chain(chunk.invalid().iter().map(|_| 1)) {
                out.push(&s[at..at + size]);
                at += size;
            }
        }
        return out;
    }
    let (mut start, mut i) = (0, 0);
    while let Some(w) = s.get(i..i + sep.len()) {
        if w == sep {
            out.push(&s[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// nats `transformTokenize`: each `*` of `subject` becomes `$1`, `$2`, … in order.
pub fn transform_tokenize(subject: &str) -> String {
    let mut n = 0;
    let toks: Vec<String> = subject
        .split('.')
        .map(|t| match t {
            "*" => {
                n += 1;
                format!("${n}")
            }
            _ => t.to_string(),
        })
        .collect();
    toks.join(".")
}

/// nats `transformUntokenize`: `subject` with each wildcard reference (`$1`…`$9…`, or a
/// `{{wildcard(x)}}` with one non-empty argument) made `*`, and those references in order.
pub fn transform_untokenize(subject: &str) -> (String, Vec<String>) {
    let mut refs = Vec::new();
    let mut toks = Vec::new();
    for t in subject.split('.') {
        let b = t.as_bytes();
        let dollar = b.len() > 1 && b[0] == b'$' && (b'1'..=b'9').contains(&b[1]);
        let wildcard = capture(t, "Wildcard").is_some_and(|c| !c.is_empty() && !c.contains(','));
        if dollar || wildcard {
            refs.push(t.to_string());
            toks.push("*");
        } else {
            toks.push(t);
        }
    }
    (toks.join("."), refs)
}

/// nats `ValidateMapping`, the check of account mappings and a stream's
/// `subject_transform`: stricter than [`Transform::new`] about the destination (no
/// whitespace outside a function); an empty one is valid.
pub fn validate_mapping(source: &str, dest: &str) -> Result<(), String> {
    if dest.is_empty() {
        return Ok(());
    }
    let mut fwc = false;
    for t in dest.split('.') {
        if t.is_empty() || fwc {
            return Err(mapping_err(t, E_TRANSFORM));
        }
        if t.len() > 4 && t.starts_with("{{") && t.ends_with("}}") {
            // nats-server 2.15.1 knows all the functions here (the mirrored source's
            // list lacks `left` and `right`; the released server takes them).
            if FUNCS.iter().any(|&(name, _)| capture(t, name).is_some()) {
                continue;
            }
            return Err(mapping_err(t, E_UNKNOWN));
        }
        if t == ">" {
            fwc = true;
        } else if t.bytes().any(is_space) {
            return Err(mapping_err("", E_TRANSFORM));
        }
    }
    Transform::new(source, dest).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str, dest: &str, strict: bool) -> Transform {
        let t = Transform::build(src, dest, strict);
        t.unwrap_or_else(|e| panic!("{src:?} -> {dest:?} (strict {strict}): {e}"))
    }

    fn err(src: &str, dest: &str, strict: bool) -> String {
        let e = Transform::build(src, dest, strict).expect_err(dest);
        let mapping = e.starts_with("invalid mapping destination: ");
        assert!(mapping || e == BAD_SUBJECT, "{src:?} -> {dest:?}: {e}");
        e
    }

    fn matched(src: &str, dest: &str, subject: &str) -> String {
        let t = ok(src, dest, false);
        t.apply(subject)
            .unwrap_or_else(|| panic!("{src} -> {dest}: no match for {subject}"))
    }

    #[test]
    fn wildcards_and_rest() {
        let t = Transform::new("a.*.*", "b.$2.{{wildcard(1)}}").unwrap();
        assert_eq!(t.apply("a.x.y").as_deref(), Some("b.y.x"));
        assert_eq!(t.apply("a.x"), None);
        assert_eq!(t.apply("a.x.y.z"), None);
        assert_eq!(t.apply("a.*.y"), None, "not a literal subject");
        let t = Transform::new("", "rp.>").unwrap();
        assert_eq!(t.apply("k.v").as_deref(), Some("rp.k.v"));
        assert_eq!((t.source(), t.dest()), (">", "rp.>"));
        let t = Transform::new("in.>", "out.{{ wildcard( 1 ) }}.>").err();
        assert!(t.is_some(), "no * in the source");
        assert!(Transform::new("a.*", "b.{{partition(3,1)}}").is_ok());
        assert!(Transform::new_strict("a.*", "b.{{partition(3,1)}}").is_err());
        assert!(Transform::new("a.*", "b.*").is_err());
        let t = Transform::new("a.*", "fixed").unwrap();
        assert_eq!(t.apply("a.q").as_deref(), Some("fixed"));
        let t = Transform::new(">", ">").unwrap();
        assert_eq!(
            t.apply("a..b").as_deref(),
            Some("a..b"),
            "nats' no-op shortcut"
        );
    }

    // nats TestPlaceHolderIndex.
    #[test]
    fn placeholders() {
        let ph = |t| placeholder(t).unwrap().unwrap();
        assert!(matches!(ph("$1"), Placeholder::Wildcard(1)));
        assert!(
            matches!(ph("{{partition(10,1,2,3)}}"), Placeholder::Partition(10, ref i) if i == &[1, 2, 3])
        );
        assert!(
            matches!(ph("{{ Partition (10,1,2,3) }}"), Placeholder::Partition(10, ref i) if i == &[1, 2, 3])
        );
        assert!(matches!(ph("{{wildcard(2)}}"), Placeholder::Wildcard(2)));
        assert!(matches!(
            ph("{{SplitFromLeft(2,1)}}"),
            Placeholder::Cut(Cut::SplitFromLeft, 2, 1)
        ));
        assert!(matches!(
            ph("{{SplitFromRight(3,2)}}"),
            Placeholder::Cut(Cut::SplitFromRight, 3, 2)
        ));
        assert!(matches!(
            ph("{{SliceFromLeft(2,2)}}"),
            Placeholder::Cut(Cut::SliceFromLeft, 2, 2)
        ));
        assert!(matches!(
            ph("{{Left(3,2)}}"),
            Placeholder::Cut(Cut::Left, 3, 2)
        ));
        assert!(matches!(
            ph("{{Right(3,2)}}"),
            Placeholder::Cut(Cut::Right, 3, 2)
        ));
        assert!(matches!(ph("{{split(1, -)}}"), Placeholder::Split(1, ref d) if d == "-"));
        // Literals: `$` not followed by a number, and tokens not wrapped in `{{ }}`.
        for lit in [
            "$",
            "$foo",
            "$1x",
            "{{}}",
            "{{wildcard(1)}}x",
            "x{{wildcard(1)}}",
        ] {
            assert!(placeholder(lit).unwrap().is_none(), "{lit}");
        }
        // Only the first letter of each word may be upper case, as nats' regexes allow.
        assert!(placeholder("{{WILDCARD(1)}}").is_err());
        assert!(placeholder("{{slicefromleft(1,2)}}").is_ok());
    }

    // nats TestSubjectTransformHelpers.
    #[test]
    fn tokenize_helpers_and_reverse() {
        assert_eq!(transform_untokenize("bar"), ("bar".into(), vec![]));
        let (s, refs) = transform_untokenize("foo.$2.$1");
        assert_eq!(
            (s.as_str(), refs),
            ("foo.*.*", vec!["$2".into(), "$1".into()])
        );
        let (s, refs) = transform_untokenize("foo.{{wildcard(2)}}.{{wildcard(1)}}");
        let want: Vec<String> = vec!["{{wildcard(2)}}".into(), "{{wildcard(1)}}".into()];
        assert_eq!((s.as_str(), refs), ("foo.*.*", want));
        assert_eq!(transform_tokenize("foo.*.bar.*.>"), "foo.$1.bar.$2.>");

        let t = ok("foo.*.*", "bar.$2.{{Wildcard(1)}}", true);
        let there = t.apply("foo.b.a").unwrap();
        assert_eq!(there, "bar.a.b");
        let back = t.reverse().unwrap();
        assert_eq!(back.apply(&there).as_deref(), Some("foo.b.a"));
        assert_eq!(
            (back.source(), back.dest()),
            ("bar.*.*", "foo.$2.{{Wildcard(1)}}")
        );
        // A stream import's reverse works on subscription subjects, wildcards and all.
        let t = ok("foo.*.>", "bar.$1.>", true).reverse().unwrap();
        assert_eq!(t.transform_subject(b"bar.*.>"), b"foo.*.>");
        // nats' reverse hands the references out in written order (not inverted).
        let t = ok("a.*.*.*", "b.$2.$3.$1", true);
        assert_eq!(t.apply("a.x.y.z").as_deref(), Some("b.y.z.x"));
        let back = t.reverse().unwrap();
        assert_eq!(back.apply("b.y.z.x").as_deref(), Some("a.z.x.y"));
        assert!(ok("foo.*", "bar.$1.$1", true).reverse().is_none());
        assert!(ok("foo", "", false).reverse().is_none());
        assert!(ok("foo", "bar", true).reverse().is_some());
    }

    // nats TestSubjectTransforms, the errors.
    #[test]
    fn refused() {
        err("foo..", "bar", false);
        err("foo.*", "bar.*", false);
        err("foo.*", "bar.$2", false);
        err("foo.*", "bar.$1.>", false);
        err("foo.>", "bar.baz", false);
        err("foo.*.*", "bar.$2", true);
        err("foo.*", "foo.$foo", true);
        err("foo.*", "bar.{{Partition(2,1)}}", true);
        err("foo.*", "foo.{{wildcard(2)}}", false);
        err("foo.*", "foo.{{unimplemented(1)}}", false);
        err("foo.*", "foo.{{partition()}}", false);
        err("foo.*", "foo.{{random()}}", false);
        err("foo.*", "foo.{{wildcard(foo)}}", false);
        err("foo.*", "foo.{{wildcard()}}", false);
        err("foo.*", "foo.{{wildcard(1,2)}}", false);
        err("foo.*", "foo.{{ wildcard5) }}", false);
        err("foo.*", "foo.{{splitLeft(2,2}}", false);
        err("foo", "bla.{{wildcard(1)}}", false);
        err("foo.*", "foo.{{partition(2147483648)}}", false);
        err("foo.*", "foo.{{random(2147483648)}}", false);
    }

    #[test]
    fn error_texts() {
        let cases = [
            ("foo.*", "x.{{wildcard(3)}}", false, "wildcard index out of range in {{wildcard(3)}}: [3]"),
            ("foo.*", "x.$2", false, "wildcard index out of range in $2: [2]"),
            ("foo", "x.$1", false, "wildcard index out of range in $1"),
            ("foo", "{{split(1,-)}}", false, "wildcard index out of range in {{split(1,-)}}"),
            ("foo.*.*", "bar.$2", true, "not using all of the token wildcard(s) in bar.$2"),
            ("foo.*", "{{Partition(2,1)}}", true, "the only mapping function allowed for import transforms is {{Wildcard()}} in {{Partition(2,1)}}"),
            ("foo.*", "{{unimplemented(1)}}", false, "unknown function in {{unimplemented(1)}}"),
            ("foo.*", "{{ wildcard5) }}", false, "unknown function in {{ wildcard5) }}"),
            ("foo.*", "{{wildcard()}}", false, "not enough arguments passed to the function in {{wildcard()}}"),
            ("foo.*", "{{wildcard( )}}", false, "function argument is invalid or in the wrong format in {{wildcard( )}}"),
            ("foo.*", "{{wildcard(1,2)}}", false, "too many arguments passed to the function in {{wildcard(1,2)}}"),
            ("foo.*", "{{partition()}}", false, "function argument is invalid or in the wrong format in {{partition()}}"),
            ("foo.*", "{{partition(3,a)}}", false, "function argument is invalid or in the wrong format in {{partition(3,a)}}"),
            ("foo.*", "{{random(1,2)}}", false, "not enough arguments passed to the function in {{random(1,2)}}"),
            ("foo.*", "{{left(1)}}", false, "not enough arguments passed to the function in {{left(1)}}"),
            ("foo.*", "{{left(1,2,3)}}", false, "too many arguments passed to the function in {{left(1,2,3)}}"),
            ("foo.*", "{{left(1,2147483648)}}", false, "function argument is invalid or in the wrong format in {{left(1,2147483648)}}"),
            ("foo.*", "{{split(1,a b)}}", false, "function argument is invalid or in the wrong format in {{split(1,a b)}}"),
            // nats' jetstream_test: the wildcard regex is not anchored and `.*` is greedy.
            ("events.*", "events.{{wildcard(1)}}{{split(3,1)}}", false, "too many arguments passed to the function in {{wildcard(1)}}{{split(3,1)}}"),
            ("events.*", "events.{{split(3,1)}}", false, "wildcard index out of range in {{split(3,1)}}: [3]"),
        ];
        for (src, dest, strict, want) in cases {
            let got = err(src, dest, strict);
            assert_eq!(
                got,
                format!("invalid mapping destination: {want}"),
                "{dest}"
            );
        }
        assert_eq!(err("foo..", "bar", false), "invalid subject");
        assert_eq!(err("foo.*", "bar.$1.>", false), "invalid subject");
        assert_eq!(err("foo.*", "bar.*", false), "invalid subject");
        assert_eq!(err("foo.>", "bar.>.x", false), "invalid subject");
    }

    // nats TestSubjectTransforms, the accepted ones.
    #[test]
    fn accepted() {
        ok("foo.*", "bar.{{Wildcard(1)}}", true);
        ok("foo.*.*", "bar.$2", false);
        ok("foo.*.*", "bar.{{wildcard(1)}}", false);
        ok("foo.*.*", "bar.{{partition(1)}}", false);
        ok("foo.*.*", "bar.{{random(5)}}", false);
        ok("foo", "bar", false);
        ok("foo.*.bar.*.baz", "req.$2.$1", false);
        ok("baz.>", "mybaz.>", false);
        ok("*", "{{splitfromleft(1,1)}}", false);
        ok("", "prefix.>", false);
        ok("*.*", "{{partition(10,1,2)}}", false);
        ok(
            "foo.*.*",
            "foo.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(5,1,2)}}",
            false,
        );
        ok("foo.*", "foo.{{partition(2147483647)}}", false);
        ok("foo.*", "foo.{{random(2147483647)}}", false);
        ok("foo.bar", "foo.{{random(2147483647)}}", false);
        // Strict only binds sources with wildcards, and duplicates count.
        ok("foo", "{{random(3)}}", true);
        ok("foo.*", "bar.$1.$1", true);
        let t = ok("foo", "", false);
        assert!(t.is_empty());
        assert_eq!(
            t.apply("foo"),
            None,
            "nats has no transform for an empty destination"
        );
    }

    // nats TestSubjectTransforms, the matches.
    #[test]
    fn matches() {
        let cases = [
            ("", "prefix.>", "foo", "prefix.foo"),
            ("foo", "bar", "foo", "bar"),
            ("foo.*.bar.*.baz", "req.$2.$1", "foo.A.bar.B.baz", "req.B.A"),
            (
                "foo.*.bar.*.baz",
                "req.{{wildcard(2)}}.{{wildcard(1)}}",
                "foo.A.bar.B.baz",
                "req.B.A",
            ),
            ("baz.>", "my.pre.>", "baz.1.2.3", "my.pre.1.2.3"),
            ("baz.>", "foo.bar.>", "baz.1.2.3", "foo.bar.1.2.3"),
            ("*", "foo.bar.$1", "foo", "foo.bar.foo"),
            ("*", "{{splitfromleft(1,3)}}", "12345", "123.45"),
            ("*", "{{SplitFromRight(1,3)}}", "12345", "12.345"),
            ("*", "{{SliceFromLeft(1,3)}}", "1234567890", "123.456.789.0"),
            (
                "*",
                "{{SliceFromRight(1,3)}}",
                "1234567890",
                "1.234.567.890",
            ),
            ("*", "{{split(1,-)}}", "-abc-def--ghi-", "abc.def.ghi"),
            ("*", "{{split(1,-)}}", "abc-def--ghi-", "abc.def.ghi"),
            (
                "*.*",
                "{{split(2,-)}}.{{splitfromleft(1,2)}}",
                "foo.-abc-def--ghij-",
                "abc.def.ghij.fo.o",
            ),
            ("*", "{{right(1,1)}}", "1234", "4"),
            ("*", "{{right(1,3)}}", "1234", "234"),
            ("*", "{{right(1,6)}}", "1234", "1234"),
            ("*", "{{left(1,1)}}", "1234", "1"),
            ("*", "{{left(1,3)}}", "1234", "123"),
            ("*", "{{left(1,6)}}", "1234", "1234"),
            ("*", "bar.{{partition(0)}}", "baz", "bar.0"),
            ("*", "bar.{{partition(10, 0)}}", "foo", "bar.3"),
            ("*.*", "bar.{{partition(10)}}", "foo.bar", "bar.6"),
            ("*", "bar.{{partition(10)}}", "foo", "bar.3"),
            ("*", "bar.{{partition(10)}}", "baz", "bar.0"),
            ("*", "bar.{{partition(10)}}", "qux", "bar.9"),
            ("*", "bar.{{random(0)}}", "qux", "bar.0"),
            ("foo.bar", "baz.{{partition(10)}}", "foo.bar", "baz.6"),
            ("foo.baz", "qux.{{partition(10)}}", "foo.baz", "qux.4"),
            (
                "test.subject",
                "result.{{partition(5)}}",
                "test.subject",
                "result.0",
            ),
            // Beyond nats' cases, by its code: indexes below 1 read the first token,
            // partitions hash the listed tokens concatenated, a source without
            // wildcards hashes the whole subject whatever indexes are listed.
            ("a.*", "$0.$-1", "a.b", "a.a"),
            ("*.*", "{{partition(10,1,2)}}", "fo.o", "3"),
            ("foo", "{{partition(10,1,2)}}", "foo", "3"),
            ("*", "{{split(1,)}}", "ab", "a.b"),
            ("*", "{{split(1,--)}}", "a---b", "a.-b"),
            ("*", "{{split(1,-)}}", "--a", ".a"),
            ("*", "{{sliceFromRight(1,2)}}", "1234", "12.34"),
            ("*", "{{left(1,-1)}}", "1234", "1234"),
            ("*.>", "{{wildcard(1)}}.>", "a.b.c", "a.b.c"),
            ("a.>", ">", "a.b.c", "b.c"),
        ];
        for (src, dest, subject, want) in cases {
            assert_eq!(
                matched(src, dest, subject),
                want,
                "{src} -> {dest} on {subject}"
            );
        }
        for _ in 0..100 {
            let got = matched("*", "bar.{{random(6)}}", "qux");
            assert!(["bar.0", "bar.1", "bar.2", "bar.3", "bar.4", "bar.5"].contains(&got.as_str()));
            let got = matched("*", "{{random(-3)}}", "qux");
            assert!(["0", "1", "2"].contains(&got.as_str()), "{got}");
        }
    }

    // nats TestSubjectTransformDoesntPanicTransformingMissingToken, and the functions
    // nats would panic on.
    #[test]
    fn missing_tokens() {
        let t = Transform::new("foo.*", "one.two.{{wildcard(1)}}").unwrap();
        assert_eq!(t.transform_tokens(&[b"foo"]), b"one.two.");
        let t = Transform::new("foo.*", "{{left(1,2)}}.{{split(1,-)}}.{{partition(3,1)}}").unwrap();
        assert_eq!(t.transform_tokens(&[b"foo"]), b"..1");
    }

    #[test]
    fn bytes_are_cut_as_bytes() {
        let t = Transform::new("*", "{{splitFromLeft(1,1)}}").unwrap();
        assert_eq!(t.apply_bytes("é".as_bytes()), Some(vec![0xc3, b'.', 0xa9]));
        assert_eq!(t.apply("é").as_deref(), Some("\u{fffd}.\u{fffd}"));
        let t = Transform::new("*", "{{split(1,)}}").unwrap();
        assert_eq!(
            t.apply_bytes(b"\xe2\x82x\xc3\xa9"),
            Some(b"\xe2.\x82.x.\xc3\xa9".to_vec())
        );
    }

    // nats TestValidateDestinationSubject.
    #[test]
    fn validate() {
        for (src, dest) in [
            ("bar", "foo"),
            ("foo", "foo.bar"),
            ("*", "{{wildcard(1)}}"),
            ("foo.>", ">"),
            ("foo.*", "bar.{{wildcard(1)}}"),
            ("foo.>", "bar.>"),
            ("foo.*.>", "bar.{{wildcard(1)}}.>"),
            ("foo.*.bar", "bar.{{wildcard(1)}}.foo"),
            ("foo.bar.>", "foo.bar.foo.>"),
            ("*", "foo.{{wildcard(1)}}"),
            ("*", "foo.{{ wildcard(1) }}"),
            ("*", "foo.{{wildcard( 1 )}}"),
            ("*", "foo.{{partition(2,1)}}"),
            ("*.*", "foo.{{SplitFromLeft(2,1)}}"),
            ("*.*", "foo.{{SplitFromRight(2,1)}}"),
            ("foo", ""),
        ] {
            assert_eq!(validate_mapping(src, dest), Ok(()), "{src} -> {dest}");
        }
        let bad = |src, dest| validate_mapping(src, dest).unwrap_err();
        assert_eq!(
            bad("*", "foo.{{unknown(1)}}"),
            "invalid mapping destination: unknown function in {{unknown(1)}}"
        );
        assert_eq!(
            bad("foo", "foo..}"),
            "invalid mapping destination: invalid transform"
        );
        assert_eq!(
            bad("foo", "foo. bar}"),
            "invalid mapping destination: invalid transform"
        );
        assert_eq!(
            bad("foo.>", "foo.>.x"),
            "invalid mapping destination: invalid transform in x"
        );
        assert_eq!(
            bad("*", "{{LEFT(1,2)}}"),
            "invalid mapping destination: unknown function in {{LEFT(1,2)}}"
        );
        assert_eq!(
            bad("*", "x.{{wildcard(1)}} "),
            "invalid mapping destination: invalid transform"
        );
        // nats-server 2.15.1 takes `left` and `right` here, and a `{{}}` is a literal.
        assert_eq!(
            validate_mapping("*", "{{ Left ( 1 , 2 ) }}.{{right(1,2)}}.{{}}"),
            Ok(())
        );
        assert_eq!(
            bad("*", "{{wildcard(2)}}"),
            "invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]"
        );
    }
}
