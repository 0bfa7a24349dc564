//! The nats configuration-file reader (`config::conf`) on arbitrary text.
//!
//! It must never panic, overflow the stack or hang, whatever the nesting, `$variable`
//! expansions or `include`s (bounding those is the reader's job). Oracles: every value, key
//! and error carries a 1-based position; an error result holds at least one error; every
//! string value (and the input itself, when short) goes through `parse_duration_nanos`, and
//! `parse_duration` agrees with it (accepts exactly the non-negative results, same nanos).
//!
//! Includes: the first run writes a few fixtures into [`SCRATCH`] (`a.conf`, a self-include,
//! a two-file cycle, a nested directory, a broken file), which the seeds and the dictionary
//! include by absolute path, so real include chains are exercised. (Moving into that
//! directory instead would break libFuzzer's relative corpus paths.) Other include paths
//! resolve against the current directory and mostly fail to open, which is fine. Variables
//! resolve through a fixed fake environment (including self-referencing and doubling
//! variables) instead of the real one, so runs are reproducible.
#![no_main]

use std::path::Path;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use natrium::config::conf::{
    parse_duration, parse_duration_nanos, parse_str_with_env, Map, Pos, Spanned, Value,
};

const FIXTURES: [(&str, &str); 7] = [
    (
        "a.conf",
        "port: 4222\nauthorization { user: a, password: \"b\", timeout: 2s }\n",
    ),
    ("self.conf", "include self.conf\n"),
    ("b.conf", "x = 1k\ninclude a.conf\ny = $x\n"),
    ("loop1.conf", "include loop2.conf\n"),
    ("loop2.conf", "include 'loop1.conf'\n"),
    ("sub/d.conf", "include ../a.conf\nz: [1, 2, {w: 3}]\n"),
    ("bad.conf", "a { b: [ 1, 2\n"),
];

fn fake_env(name: &str) -> Option<String> {
    let v = match name {
        "NATS_FUZZ_INT" => "4222",
        "NATS_FUZZ_STR" => "hello world",
        "NATS_FUZZ_MAP" => "{ a: 1, b: [x, y] }",
        "NATS_FUZZ_SELF" => "$NATS_FUZZ_SELF",
        "NATS_FUZZ_TWICE" => "[$NATS_FUZZ_TWICE, $NATS_FUZZ_TWICE]",
        "NATS_FUZZ_BAD" => "{ a: [",
        _ => return None,
    };
    Some(v.to_owned())
}

/// Where the include fixtures live; the seeds and `conf.dict` spell this path out.
const SCRATCH: &str = "/tmp/natrium-fuzz-conf";

fn write_fixtures() {
    for (name, text) in FIXTURES {
        let path = Path::new(SCRATCH).join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch dir");
        }
        std::fs::write(&path, text).expect("fixture");
    }
}

fn check_pos(p: &Pos) {
    assert!(p.line >= 1 && p.col >= 1, "position {p}");
}

fn check_duration(s: &str) {
    let nanos = parse_duration_nanos(s);
    match (&nanos, parse_duration(s)) {
        (Ok(n), Ok(d)) => assert_eq!(u128::try_from(*n).ok(), Some(d.as_nanos()), "{s:?}"),
        (Ok(n), Err(_)) => assert!(*n < 0, "{s:?} rejected with {n} ns"),
        (Err(_), Ok(d)) => panic!("{s:?}: parse_duration gave {d:?}, nanos an error"),
        (Err(_), Err(_)) => {}
    }
}

fn walk_value(v: &Spanned<Value>) {
    check_pos(&v.pos);
    match &v.value {
        Value::String(s) => check_duration(s),
        Value::Array(items) => items.iter().for_each(walk_value),
        Value::Map(m) => walk_map(m),
        _ => {}
    }
}

fn walk_map(m: &Map) {
    for (k, v) in m.iter() {
        check_pos(&k.pos);
        walk_value(v);
    }
}

static SETUP: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    SETUP.call_once(write_fixtures);
    let text = String::from_utf8_lossy(data);
    if text.len() <= 64 {
        check_duration(&text);
    }
    match parse_str_with_env(&text, "fuzz.conf", &fake_env) {
        Ok(map) => walk_map(&map),
        Err(errors) => {
            assert!(!errors.is_empty(), "Err with no errors");
            errors.iter().for_each(|e| check_pos(&e.pos));
        }
    }
});
