//! CONNECT JSON decoding (`ClientOptions::apply_connect`) on arbitrary bytes.
//!
//! Oracles, from the Go `encoding/json` into `ClientOpts` rules natrium follows:
//! - never panics;
//! - it succeeds exactly when the input is JSON `null`, or an object in which every known key
//!   (matched case-insensitively) holding a non-null value has the field's type (bool, int
//!   that fits in i64, string);
//! - on success, a field whose key is absent (or null) keeps its default, so `verbose`,
//!   `pedantic` and `echo` stay true, and a field named by exactly one key gets that value
//!   (with several case variants of one key the winner is not checked here);
//! - applying the same CONNECT again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium::proto::info::ClientOptions;
use serde_json::Value;

const BOOLS: [&str; 7] = [
    "verbose",
    "pedantic",
    "echo",
    "tls_required",
    "headers",
    "no_responders",
    "new_account",
];
const STRINGS: [&str; 10] = [
    "name",
    "lang",
    "version",
    "user",
    "pass",
    "auth_token",
    "nkey",
    "sig",
    "jwt",
    "account",
];

fn bool_field(o: &ClientOptions, name: &str) -> bool {
    match name {
        "verbose" => o.verbose,
        "pedantic" => o.pedantic,
        "echo" => o.echo,
        "tls_required" => o.tls_required,
        "headers" => o.headers,
        "no_responders" => o.no_responders,
        _ => o.new_account,
    }
}

fn string_field<'o>(o: &'o ClientOptions, name: &str) -> &'o str {
    match name {
        "name" => &o.name,
        "lang" => &o.lang,
        "version" => &o.version,
        "user" => &o.user,
        "pass" => &o.pass,
        "auth_token" => &o.auth_token,
        "nkey" => &o.nkey,
        "sig" => &o.sig,
        "jwt" => &o.jwt,
        _ => &o.account,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut opts = ClientOptions::default();
    let result = opts.apply_connect(data);

    let doc: Option<Value> = serde_json::from_slice(data).ok();
    let map = match &doc {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    // The non-null values given for a field, whatever the case of the key.
    let given = |field: &str| -> Vec<&Value> {
        map.map(|m| {
            m.iter()
                .filter(|(k, v)| k.eq_ignore_ascii_case(field) && !v.is_null())
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default()
    };
    let well_typed = BOOLS
        .iter()
        .all(|f| given(f).iter().all(|v| v.is_boolean()))
        && STRINGS
            .iter()
            .all(|f| given(f).iter().all(|v| v.is_string()))
        && given("protocol").iter().all(|v| v.is_i64());
    let should_accept = matches!(doc, Some(Value::Null)) || (map.is_some() && well_typed);
    assert_eq!(result.is_ok(), should_accept, "accepted: {result:?}");
    if result.is_err() {
        return;
    }

    let defaults = ClientOptions::default();
    assert!(defaults.verbose && defaults.pedantic && defaults.echo);
    for field in BOOLS {
        match given(field)[..] {
            [] => assert_eq!(
                bool_field(&opts, field),
                bool_field(&defaults, field),
                "{field} changed although absent"
            ),
            [v] => assert_eq!(Some(bool_field(&opts, field)), v.as_bool(), "{field}"),
            _ => {}
        }
    }
    for field in STRINGS {
        match given(field)[..] {
            [] => assert_eq!(
                string_field(&opts, field),
                "",
                "{field} set although absent"
            ),
            [v] => assert_eq!(Some(string_field(&opts, field)), v.as_str(), "{field}"),
            _ => {}
        }
    }
    match given("protocol")[..] {
        [] => assert_eq!(opts.protocol, 0, "protocol set although absent"),
        [v] => assert_eq!(Some(opts.protocol), v.as_i64(), "protocol"),
        _ => {}
    }

    let mut again = opts.clone();
    assert!(again.apply_connect(data).is_ok(), "second apply failed");
    assert_eq!(
        again, opts,
        "applying the same CONNECT twice is not idempotent"
    );
});
