//! A consumer's configuration as nats-server reads it from a create request, fills in its
//! defaults and checks it, and as it writes it back: the field order, the `omitempty`
//! fields, the `_nats.*` metadata and the update rules of nats-server 2.15.
//!
//! A create goes through three stages, in nats-server's order, and [`check_create`] runs
//! them all:
//!
//! 1. the subject form ([`check_request`], `jsConsumerCreateRequest`): stream name, durable
//!    and name against the subject, the filter tail, replicas. These come before the stream
//!    lookup, so a runtime that wants the stream-missing error (10059) in its place runs
//!    [`check_request`] first;
//! 2. the defaults and the checks (`setConsumerConfigDefaults`, `checkConsumerCfg`);
//! 3. what `addConsumerWithAssignment` checks against the stream's other consumers (the
//!    work-queue rules) and the name it gives the consumer.
//!
//! What the runtime keeps to itself: the `action` (create / update / create-or-update),
//! the stream lookup (10059), the consumer limits (10026), whether a push consumer's
//! deliver subject is bound (10013, see [`check_update_bound`]).
//!
//! Times (`opt_start_time`, `pause_until`) are kept as text in the form Go writes them
//! back: RFC 3339 with the fraction's trailing zeros trimmed and the *offset the client
//! sent* (`2030-01-01T02:00:00.5+02:00`); nats-server does not convert them to UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `JsAckWaitDefault`: the ack wait of `explicit` and `all` consumers (30s).
pub const DEFAULT_ACK_WAIT: i64 = 30_000_000_000;
/// `JsDeleteWaitTimeDefault`: how long an ephemeral may be inactive (5s).
pub const DEFAULT_INACTIVE_THRESHOLD: i64 = 5_000_000_000;
/// `JsDefaultMaxAckPending`: for consumers that ack and set no limit.
pub const DEFAULT_MAX_ACK_PENDING: i64 = 1000;
/// `JsDefaultPinnedTTL`: a pinned client's grace period (2m).
pub const DEFAULT_PINNED_TTL: i64 = 120_000_000_000;
/// `JSWaitQueueDefaultMax`: queued pull requests.
pub const DEFAULT_MAX_WAITING: i64 = 512;
/// `sourceHealthHB`: the heartbeat a `flow_control` ack policy requires (1s).
pub const FLOW_CONTROL_HEARTBEAT: i64 = 1_000_000_000;

const LEVEL_KEY: &str = "_nats.level";
const REQ_LEVEL_KEY: &str = "_nats.req.level";
const VERSION_KEY: &str = "_nats.ver";

/// A consumer enum as nats-server decodes it: the exact lower-case JSON text (unlike the
/// stream enums, no case folding), anything else, `null` included, refused with the raw
/// JSON in the message. The stream config's `go_enum!` folds case, so it is not reused.
macro_rules! consumer_enum {
    (
        $(#[$doc:meta])*
        $name:ident: $default:ident = $dtext:literal $(, $variant:ident = $text:literal)*;
        also $($alias:literal => $avariant:ident),*;
        refuse $refuse:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            #[default]
            $default,
            $($variant),*
        }

        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self {
                    $name::$default => $dtext,
                    $($name::$variant => $text),*
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let raw = serde_json::Value::deserialize(d)?;
                match raw.as_str() {
                    Some($dtext) => Ok($name::$default),
                    $(Some($text) => Ok($name::$variant),)*
                    $(Some($alias) => Ok($name::$avariant),)*
                    _ => {
                        let refuse: fn(&str) -> String = $refuse;
                        Err(serde::de::Error::custom(refuse(&raw.to_string())))
                    }
                }
            }
        }
    };
}

/// Go's `fmt.Errorf("can not unmarshal %q", data)` over the raw JSON.
fn can_not_unmarshal(raw: &str) -> String {
    format!(
        "can not unmarshal {}",
        crate::proto::errors::go_quote(raw.as_bytes())
    )
}

consumer_enum!(
    /// Where a consumer starts (`deliver_policy`); `"undefined"` reads as `all`.
    DeliverPolicy: All = "all", Last = "last", New = "new",
        ByStartSequence = "by_start_sequence", ByStartTime = "by_start_time",
        LastPerSubject = "last_per_subject";
    also "undefined" => All;
    refuse can_not_unmarshal
);
consumer_enum!(
    /// How deliveries are acknowledged (`ack_policy`); absent is `none`, Go's zero value.
    AckPolicy: None = "none", All = "all", Explicit = "explicit", FlowControl = "flow_control";
    also;
    refuse can_not_unmarshal
);
consumer_enum!(
    /// How fast stored messages are replayed (`replay_policy`).
    ReplayPolicy: Instant = "instant", Original = "original";
    also;
    refuse can_not_unmarshal
);
consumer_enum!(
    /// How waiting pull requests are chosen (`priority_policy`, ADR-42).
    PriorityPolicy: None = "none", Overflow = "overflow", PinnedClient = "pinned_client",
        Prioritized = "prioritized";
    also;
    refuse |raw| format!("unknown priority policy: {raw}")
);

impl DeliverPolicy {
    /// The words nats-server's start-position errors use.
    pub(super) fn words(&self) -> &'static str {
        match self {
            DeliverPolicy::All => "all",
            DeliverPolicy::Last => "last",
            DeliverPolicy::New => "new",
            DeliverPolicy::ByStartSequence => "by start sequence",
            DeliverPolicy::ByStartTime => "by start time",
            DeliverPolicy::LastPerSubject => "last per subject",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}
fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}
fn is_no_priority(p: &PriorityPolicy) -> bool {
    *p == PriorityPolicy::None
}

/// nats-server's `ConsumerConfig`, in its field order. Durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub durable_name: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_u64"
    )]
    pub opt_start_seq: u64,
    /// Go's RFC 3339 text of the time, offset kept (see the module docs).
    #[serde(
        default,
        deserialize_with = "opt_start_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_start_time: Option<String>,
    #[serde(default)]
    pub ack_policy: AckPolicy,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub ack_wait: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_deliver: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backoff: Vec<i64>,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub filter_subject: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub filter_subjects: Vec<String>,
    #[serde(default)]
    pub replay_policy: ReplayPolicy,
    /// Bits per second.
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_u64"
    )]
    pub rate_limit_bps: u64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub sample_freq: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_waiting: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_ack_pending: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub flow_control: bool,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub headers_only: bool,
    /// Pull: the largest batch a request may ask for.
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_batch: i64,
    /// Pull: the longest `expires` a request may ask for.
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_expires: i64,
    /// Pull: the largest `max_bytes` a request may ask for.
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_bytes: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub deliver_subject: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub deliver_group: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub idle_heartbeat: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub inactive_threshold: i64,
    /// 0 (echoed as such) inherits the stream's.
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    pub num_replicas: i64,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub mem_storage: bool,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub direct: bool,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub sourcing: bool,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Go's RFC 3339 text of the time, offset kept (see the module docs).
    #[serde(
        default,
        deserialize_with = "pause_until",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause_until: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub priority_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "is_no_priority")]
    pub priority_policy: PriorityPolicy,
    /// How long a pinned client keeps its pin without pulling (`PinnedTTL`).
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub priority_timeout: i64,
}

/// nats-server's `CreateConsumerRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    pub stream_name: String,
    /// Absent or `null`: the empty configuration.
    #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
    pub config: ConsumerConfig,
    /// `""` (create or update), `"create"` or `"update"`; anything else does not decode
    /// (`unknown consumer action: "x"`, as nats-server).
    #[serde(default, deserialize_with = "action")]
    pub action: String,
    #[serde(
        default,
        deserialize_with = "crate::jetstream::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub pedantic: bool,
}

/// Which subject the create request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateForm {
    /// `$JS.API.CONSUMER.CREATE.<stream>`
    Legacy,
    /// `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<durable>`
    Durable(String),
    /// `$JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter...>]`
    Named {
        name: String,
        filter: Option<String>,
    },
}

fn action<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = serde_json::Value::deserialize(d)?;
    match raw.as_str() {
        Some(a @ ("" | "create" | "update")) => Ok(a.to_string()),
        _ => Err(serde::de::Error::custom(format!(
            "unknown consumer action: {raw}"
        ))),
    }
}

fn opt_start_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    go_time(d, "opt_start_time")
}

fn pause_until<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    go_time(d, "pause_until")
}

/// A `*time.Time` field: `null` is none, a string is parsed as Go's `time.Parse(RFC3339)`
/// and kept in Go's `RFC3339Nano` form.
fn go_time<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<String>, D::Error> {
    let raw = serde_json::Value::deserialize(d)?;
    let kind = match &raw {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(s) => {
            return parse_time(s).map(Some).map_err(serde::de::Error::custom)
        }
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    Err(serde::de::Error::custom(format!(
        "json: cannot unmarshal {kind} into Go struct field CreateConsumerRequest.config.{field} of type time.Time"
    )))
}

/// Go's `time.Parse(time.RFC3339, s)` (which also takes a fraction of a second), giving
/// the time as Go's `RFC3339Nano` writes it back in the same offset, or Go's error text.
pub fn parse_time(s: &str) -> Result<String, String> {
    const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";
    let quote = |t: &str| crate::proto::errors::go_quote(t.as_bytes());
    let bad = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(s),
            quote(LAYOUT),
            quote(rest),
            quote(elem)
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", quote(s));
    let b = s.as_bytes();
    let mut at = 0usize;
    let digits = |at: usize, n: usize| -> Option<u32> {
        let part = b.get(at..at + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0')))
    };
    let rest = |at: usize| s.get(at..).unwrap_or_default();
    let literal = |at: &mut usize, lit: u8| -> Result<(), String> {
        if b.get(*at) == Some(&lit) {
            *at += 1;
            Ok(())
        } else {
            Err(bad(rest(*at), &char::from(lit).to_string()))
        }
    };

    let year = digits(at, 4).ok_or_else(|| bad(rest(at), "2006"))?;
    at += 4;
    literal(&mut at, b'-')?;
    let month = digits(at, 2).ok_or_else(|| bad(rest(at), "01"))?;
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    at += 2;
    literal(&mut at, b'-')?;
    let day = digits(at, 2).ok_or_else(|| bad(rest(at), "02"))?;
    at += 2;
    literal(&mut at, b'T')?;
    // Go's hour element takes one digit or two.
    let hour_len = if digits(at, 2).is_some() { 2 } else { 1 };
    let hour = digits(at, hour_len).ok_or_else(|| bad(rest(at), "15"))?;
    if hour >= 24 {
        return Err(range("hour"));
    }
    at += hour_len;
    literal(&mut at, b':')?;
    let minute = digits(at, 2).ok_or_else(|| bad(rest(at), "04"))?;
    if minute >= 60 {
        return Err(range("minute"));
    }
    at += 2;
    literal(&mut at, b':')?;
    let second = digits(at, 2).ok_or_else(|| bad(rest(at), "05"))?;
    if second >= 60 {
        return Err(range("second"));
    }
    at += 2;
    let mut nanos = 0u32;
    if matches!(b.get(at), Some(b'.' | b',')) && b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        let start = at + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        // Beyond nanoseconds the digits are dropped, as Go does.
        let kept = &b[start..end.min(start + 9)];
        nanos = kept.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'))
            * 10u32.pow(9 - kept.len() as u32);
        at = end;
    }
    let offset_minutes: i32 = match b.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) if b.get(at + 3) == Some(&b':') => {
            let (Some(h), Some(m)) = (digits(at + 1, 2), digits(at + 4, 2)) else {
                return Err(bad(rest(at), "Z07:00"));
            };
            at += 6;
            let minutes = (h * 60 + m) as i32;
            if sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return Err(bad(rest(at), "Z07:00")),
    };
    if at < b.len() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            quote(s),
            quote(rest(at))
        ));
    }
    if day < 1 || day > days_in(month, year) {
        return Err(range("day"));
    }
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    if offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    Ok(out)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Nanoseconds since the Unix epoch of a time as [`parse_time`] keeps it (Go's zero time,
/// and anything outside what an `i64` holds, is 0).
pub fn time_nanos(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

/// The minimum API level a configuration needs (`setStaticConsumerMetadata`).
fn required_level(cfg: &ConsumerConfig) -> u32 {
    if cfg.ack_policy == AckPolicy::FlowControl {
        4
    } else if cfg
        .pause_until
        .as_deref()
        .is_some_and(|t| t != "0001-01-01T00:00:00Z")
        || cfg.priority_policy != PriorityPolicy::None
        || cfg.priority_timeout != 0
        || !cfg.priority_groups.is_empty()
    {
        1
    } else {
        0
    }
}

impl ConsumerConfig {
    /// A pull consumer: no deliver subject.
    pub fn is_pull(&self) -> bool {
        self.deliver_subject.is_empty()
    }

    pub fn is_durable(&self) -> bool {
        !self.durable_name.is_empty()
    }

    /// The subject filters (`gatherSubjectFilters`); empty means every subject.
    pub fn filters(&self) -> Vec<&str> {
        let mut f: Vec<&str> = self.filter_subjects.iter().map(String::as_str).collect();
        if !self.filter_subject.is_empty() {
            f.push(&self.filter_subject);
        }
        f
    }

    /// The name nats-server files the consumer under: the durable name, else the name.
    pub(super) fn key(&self) -> &str {
        if self.is_durable() {
            &self.durable_name
        } else {
            &self.name
        }
    }

    /// The metadata as stored (`setStaticConsumerMetadata`): the response-only keys
    /// dropped, `_nats.req.level` set to what the configuration needs.
    pub fn set_required_level(&mut self) {
        self.metadata.remove(VERSION_KEY);
        self.metadata.remove(LEVEL_KEY);
        let level = required_level(self);
        self.metadata
            .insert(REQ_LEVEL_KEY.to_string(), level.to_string());
    }

    /// The configuration as responses show it: the stored one plus `_nats.level` and
    /// `_nats.ver` (`setDynamicConsumerMetadata`).
    pub fn for_response(&self) -> ConsumerConfig {
        let mut c = self.clone();
        c.metadata.insert(
            LEVEL_KEY.to_string(),
            crate::proto::info::JS_API_LEVEL.to_string(),
        );
        c.metadata.insert(
            VERSION_KEY.to_string(),
            crate::config::NATS_COMPAT_VERSION.to_string(),
        );
        c
    }

    /// Two configurations are the same consumer when they differ at most in the
    /// server's metadata keys (`_nats.level`, `_nats.req.level`, `_nats.ver`).
    pub fn same_as(&self, other: &ConsumerConfig) -> bool {
        let user = |c: &ConsumerConfig| {
            let mut c = c.clone();
            for k in [LEVEL_KEY, REQ_LEVEL_KEY, VERSION_KEY] {
                c.metadata.remove(k);
            }
            c
        };
        user(self) == user(other)
    }
}

pub use super::checks::{
    check_create, check_request, check_update, check_update_bound, invalid_group_name,
    is_valid_group_name, same_for_create,
};

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
