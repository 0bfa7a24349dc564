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

use crate::jetstream::config::{Retention, StreamConfig};
use crate::jetstream::errors::ApiError;
use crate::subject;

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
const MIN_HEARTBEAT: i64 = 100_000_000;
const MIN_MAX_EXPIRES: i64 = 1_000_000;
const MAX_NAME_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 4096;
const MAX_METADATA_LEN: usize = 128 * 1024;
const MAX_GROUP_NAME_LEN: usize = 16;

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
    fn words(&self) -> &'static str {
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

fn e(code: u16, err_code: u16, description: impl Into<String>) -> ApiError {
    ApiError {
        code,
        err_code,
        description: description.into(),
    }
}

/// `JSStreamInvalidConfigF` (nats-server uses it for some consumer checks too).
fn invalid_config(why: &str) -> ApiError {
    e(500, 10052, why)
}

/// `JSConsumerCreateErrF`: an update refused, in nats-server's words.
fn update_refused(why: &str) -> ApiError {
    e(500, 10012, why)
}

fn pedantic(why: &str) -> ApiError {
    e(400, 10157, format!("pedantic mode: {why}"))
}

fn max_deliver_backoff() -> ApiError {
    e(
        400,
        10116,
        "max deliver is required to be > length of backoff values",
    )
}

fn max_ack_pending_excess(limit: i64) -> ApiError {
    e(
        400,
        10121,
        format!("consumer max ack pending exceeds system limit of {limit}"),
    )
}

/// nats-server's `isValidAssetName`.
fn is_valid_asset_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([' ', '\t', '\r', '\n', '\x0c', '.', '*', '>', '\\', '/'])
}

/// nats-server's `validGroupName`: `^[a-zA-Z0-9/_=-]{1,16}$`.
fn is_valid_group_name(name: &str) -> bool {
    (1..=MAX_GROUP_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'=' | b'-'))
}

/// Go's `strconv.Atoi`, with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let quoted = crate::proto::errors::go_quote(s.as_bytes());
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {quoted}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {quoted}: value out of range"))
}

/// nats-server's `createConsumerName`: 8 base-62 characters of the SHA-256 of a NUID.
fn random_name() -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let sum = ring::digest::digest(&ring::digest::SHA256, crate::nkey::nuid().as_bytes());
    sum.as_ref()
        .iter()
        .take(8)
        .map(|b| char::from(DIGITS[usize::from(*b) % DIGITS.len()]))
        .collect()
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
    fn key(&self) -> &str {
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

/// The subject-form rules of `jsConsumerCreateRequest`, in its order, which come before
/// the stream lookup: `subject_stream` is the stream named in the subject. Gives the
/// request's configuration with `name` set as the form decides.
pub fn check_request(
    req: &CreateRequest,
    form: &CreateForm,
    subject_stream: &str,
) -> Result<ConsumerConfig, ApiError> {
    if subject_stream != req.stream_name {
        return Err(e(
            400,
            10056,
            "stream name in subject does not match request",
        ));
    }
    let mut cfg = req.config.clone();
    let consumer_name = match form {
        CreateForm::Legacy => cfg.name.clone(),
        CreateForm::Durable(name) | CreateForm::Named { name, .. } => name.clone(),
    };
    if consumer_name.contains(['\\', '/']) {
        return Err(e(
            400,
            10127,
            "Consumer name can not contain path separators",
        ));
    }
    let name_mismatch = || {
        e(
            400,
            10017,
            "consumer name in subject does not match durable name in request",
        )
    };
    let mut filter = "";
    match form {
        CreateForm::Durable(name) => {
            if cfg.durable_name.is_empty() {
                return Err(e(
                    400,
                    10018,
                    "consumer expected to be durable but a durable name was not set",
                ));
            }
            if *name != cfg.durable_name {
                return Err(name_mismatch());
            }
            cfg.name = name.clone();
        }
        CreateForm::Named { name, filter: f } => {
            if !cfg.durable_name.is_empty() && *name != cfg.durable_name {
                return Err(name_mismatch());
            }
            cfg.name = name.clone();
            filter = f.as_deref().unwrap_or_default();
        }
        CreateForm::Legacy => {
            if !cfg.durable_name.is_empty() {
                return Err(e(
                    400,
                    10020,
                    "consumer expected to be ephemeral but a durable name was set in request",
                ));
            }
        }
    }
    if !filter.is_empty() {
        if !cfg.filter_subjects.is_empty() {
            return Err(e(
                400,
                10137,
                "consumer with multiple subject filters cannot use subject based API",
            ));
        }
        if cfg.filter_subject != filter {
            return Err(e(
                400,
                10131,
                "Consumer create request did not match filtered subject from create subject",
            ));
        }
    }
    if cfg.num_replicas > 1 {
        return Err(e(
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        ));
    }
    Ok(cfg)
}

/// Everything nats-server checks and fills in for a create, in its order, giving the
/// configuration as stored (defaults filled in, `name` set, a random one for unnamed
/// ephemerals, `_nats.req.level` in the metadata; see [`ConsumerConfig::for_response`]).
///
/// `existing` are the stream's consumers. When one of them has the name this request is
/// for, the request replaces it, as nats-server's create-or-update does: its `pause_until`
/// is kept, and of the create-only rules only the work-queue overlap one applies; the
/// runtime then applies the `action` and [`check_update`]. `account_max_ack_pending` is
/// the account's limit, -1 (or 0) when unlimited.
pub fn check_create(
    req: &CreateRequest,
    form: &CreateForm,
    stream: &StreamConfig,
    existing: &[&ConsumerConfig],
    account_max_ack_pending: i64,
) -> Result<ConsumerConfig, ApiError> {
    let mut cfg = check_request(req, form, &stream.name)?;
    let key = cfg.key().to_string();
    let replaces = (!key.is_empty())
        .then(|| existing.iter().find(|c| c.key() == key))
        .flatten();
    if let Some(old) = replaces {
        // A create cannot move an existing consumer's pause (only the pause API can).
        cfg.pause_until = old.pause_until.clone();
    }
    cfg.set_required_level();
    set_defaults(&mut cfg, stream, account_max_ack_pending, req.pedantic)?;
    check_config(&cfg, stream, account_max_ack_pending)?;

    let work_queue = stream.retention == Retention::WorkQueue;
    // Direct and sourcing consumers are the server's own and do not count.
    let others: Vec<&ConsumerConfig> = existing
        .iter()
        .copied()
        .filter(|c| c.key() != key && !c.direct && !c.sourcing)
        .collect();
    let unique = |filters: &[&str]| {
        filters.iter().all(|f| {
            others.iter().all(|o| {
                let theirs = o.filters();
                !theirs.is_empty()
                    && theirs
                        .iter()
                        .all(|t| !subject::subjects_collide(f.as_bytes(), t.as_bytes()))
            })
        })
    };
    let not_unique = || {
        e(
            400,
            10100,
            "filtered consumer not unique on workqueue stream",
        )
    };
    if replaces.is_some() {
        if work_queue && !unique(&cfg.filters()) {
            return Err(not_unique());
        }
        apply_inactive_default(&mut cfg);
        return Ok(cfg);
    }

    if work_queue && !cfg.direct && !cfg.sourcing {
        if !matches!(cfg.ack_policy, AckPolicy::Explicit | AckPolicy::FlowControl) {
            return Err(e(400, 10098, "workqueue stream requires explicit ack"));
        }
        if cfg.deliver_policy != DeliverPolicy::All {
            return Err(e(
                400,
                10101,
                "consumer must be deliver all on workqueue stream",
            ));
        }
        if !others.is_empty() {
            let filters = cfg.filters();
            if filters.is_empty() {
                return Err(e(
                    400,
                    10099,
                    "multiple non-filtered consumers not allowed on workqueue stream",
                ));
            }
            if !unique(&filters) {
                return Err(not_unique());
            }
        }
    }
    if cfg.is_durable() {
        if cfg.durable_name.len() > MAX_NAME_LEN {
            return Err(e(
                400,
                10102,
                format!("consumer name is too long, maximum allowed is {MAX_NAME_LEN}"),
            ));
        }
    } else if cfg.name.is_empty() {
        cfg.name = loop {
            let name = random_name();
            if existing.iter().all(|c| c.key() != name) {
                break name;
            }
        };
    }
    if !is_valid_asset_name(cfg.key()) {
        return Err(e(400, 10103, "durable name can not contain '.', '*', '>'"));
    }
    apply_inactive_default(&mut cfg);
    Ok(cfg)
}

/// Whether a create with `action: "create"` finds the consumer it would make already
/// there (nats-server answers with it, else 10148). `checked` is what [`check_create`]
/// gave for `req`. As in nats-server, the comparison sees the request before the
/// ephemeral inactivity default (5s) is stamped on it, so an ephemeral created twice
/// without an `inactive_threshold` is "already exists" the second time; times compare
/// with their offsets.
pub fn same_for_create(
    existing: &ConsumerConfig,
    checked: &ConsumerConfig,
    req: &CreateRequest,
    stream: &StreamConfig,
) -> bool {
    let mut before = checked.clone();
    before.inactive_threshold = if req.config.inactive_threshold > 0 {
        req.config.inactive_threshold
    } else {
        stream.consumer_limits.inactive_threshold
    };
    existing.same_as(&before)
}

/// Ephemerals always have an inactivity threshold (`updateInactiveThreshold`).
fn apply_inactive_default(cfg: &mut ConsumerConfig) {
    if !cfg.is_durable() && cfg.inactive_threshold <= 0 {
        cfg.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD;
    }
}

/// nats-server's `setConsumerConfigDefaults` (no server-wide `limits` block: natrium has
/// none).
fn set_defaults(
    cfg: &mut ConsumerConfig,
    stream: &StreamConfig,
    account_max_ack_pending: i64,
    strict: bool,
) -> Result<(), ApiError> {
    if cfg.max_deliver == 0 || cfg.max_deliver < -1 {
        if strict && cfg.max_deliver < -1 {
            return Err(pedantic("max_deliver must be set to -1"));
        }
        cfg.max_deliver = -1;
    }
    if cfg.max_waiting < 0 {
        if strict {
            return Err(pedantic("max_waiting must not be negative"));
        }
        cfg.max_waiting = 0;
    }
    if cfg.max_ack_pending < -1 {
        if strict {
            return Err(pedantic("max_ack_pending must be set to -1"));
        }
        cfg.max_ack_pending = -1;
    }
    for (value, what) in [
        (&mut cfg.max_batch, "max_batch"),
        (&mut cfg.max_expires, "max_expires"),
        (&mut cfg.max_bytes, "max_bytes"),
        (&mut cfg.idle_heartbeat, "idle_heartbeat"),
        (&mut cfg.inactive_threshold, "inactive_threshold"),
        (&mut cfg.priority_timeout, "priority_timeout"),
    ] {
        if *value < 0 {
            if strict {
                return Err(pedantic(&format!("{what} must not be negative")));
            }
            *value = 0;
        }
    }
    if cfg.is_pull() && cfg.max_waiting == 0 {
        cfg.max_waiting = DEFAULT_MAX_WAITING;
    }
    if cfg.ack_wait == 0 && matches!(cfg.ack_policy, AckPolicy::Explicit | AckPolicy::All) {
        cfg.ack_wait = DEFAULT_ACK_WAIT;
    }
    if let Some(&first) = cfg.backoff.first() {
        if strict && cfg.ack_wait != first {
            return Err(pedantic("first backoff value has to equal batch AckWait"));
        }
        cfg.ack_wait = first;
    }
    let limits = &stream.consumer_limits;
    if cfg.max_ack_pending == 0 {
        if strict && limits.max_ack_pending > 0 {
            return Err(pedantic(
                "max_ack_pending must be set if it's configured in stream limits",
            ));
        }
        cfg.max_ack_pending = limits.max_ack_pending;
    }
    if cfg.inactive_threshold == 0 {
        if strict && limits.inactive_threshold > 0 {
            return Err(pedantic(
                "inactive_threshold must be set if it's configured in stream limits",
            ));
        }
        cfg.inactive_threshold = limits.inactive_threshold;
    }
    if cfg.max_ack_pending == 0 && cfg.ack_policy != AckPolicy::None {
        cfg.max_ack_pending = if account_max_ack_pending > 0 {
            DEFAULT_MAX_ACK_PENDING.min(account_max_ack_pending)
        } else {
            DEFAULT_MAX_ACK_PENDING
        };
    }
    if cfg.priority_policy == PriorityPolicy::PinnedClient && cfg.priority_timeout == 0 {
        cfg.priority_timeout = DEFAULT_PINNED_TTL;
    }
    if cfg.ack_policy == AckPolicy::FlowControl && !strict {
        cfg.flow_control = true;
        cfg.idle_heartbeat = FLOW_CONTROL_HEARTBEAT;
    }
    Ok(())
}

/// nats-server's `checkConsumerCfg`, check for check.
fn check_config(
    cfg: &ConsumerConfig,
    stream: &StreamConfig,
    account_max_ack_pending: i64,
) -> Result<(), ApiError> {
    if !cfg.name.is_empty() && !is_valid_asset_name(&cfg.name) {
        return Err(invalid_config(
            "consumer name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if cfg.is_durable() && !is_valid_asset_name(&cfg.durable_name) {
        return Err(invalid_config(
            "consumer durable name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if cfg.num_replicas > 0 && cfg.num_replicas > stream.num_replicas {
        return Err(e(
            400,
            10126,
            "consumer config replica count exceeds parent stream",
        ));
    }
    if cfg.num_replicas < 0 {
        return Err(e(400, 10133, "replicas count cannot be negative"));
    }
    if stream.retention != Retention::Limits
        && cfg.num_replicas != 0
        && cfg.num_replicas != stream.num_replicas
    {
        return Err(e(
            400,
            10134,
            "consumer config replicas must match interest retention stream's replicas",
        ));
    }
    if cfg.backoff.iter().any(|&b| b < 0) {
        return Err(e(400, 10184, "consumer backoff needs to be positive"));
    }
    if cfg.ack_wait < 0 {
        return Err(e(400, 10183, "consumer ack wait needs to be positive"));
    }
    if cfg.ack_policy == AckPolicy::FlowControl {
        if cfg.is_pull() {
            return Err(e(
                400,
                10218,
                "flow control ack policy requires a push based consumer",
            ));
        }
        if !cfg.flow_control {
            return Err(e(
                400,
                10219,
                "flow control ack policy requires flow control",
            ));
        }
        if cfg.idle_heartbeat != FLOW_CONTROL_HEARTBEAT {
            return Err(invalid_config(
                "flow control ack policy heartbeat needs to be 1s",
            ));
        }
        if cfg.max_ack_pending <= 0 {
            return Err(e(
                400,
                10220,
                "flow control ack policy requires max ack pending",
            ));
        }
        if cfg.ack_wait != 0 || !cfg.backoff.is_empty() {
            return Err(e(
                400,
                10221,
                "flow control ack policy requires unset ack wait",
            ));
        }
        if cfg.max_deliver > 0 {
            return Err(e(
                400,
                10222,
                "flow control ack policy requires unset max deliver",
            ));
        }
    }
    if !cfg.backoff.is_empty()
        && cfg.max_deliver != -1
        && cfg.backoff.len() as i64 > cfg.max_deliver
    {
        return Err(max_deliver_backoff());
    }
    if cfg.description.len() > MAX_DESCRIPTION_LEN {
        return Err(e(
            400,
            10107,
            format!("consumer description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"),
        ));
    }
    if !cfg.is_pull() {
        let ds = cfg.deliver_subject.as_bytes();
        if !subject::is_literal(ds) {
            return Err(e(400, 10079, "consumer deliver subject has wildcards"));
        }
        if !subject::is_valid_subject(ds) {
            return Err(e(400, 10112, "invalid push consumer deliver subject"));
        }
        if stream
            .subjects
            .iter()
            .any(|s| subject::is_subset_match(ds, s.as_bytes()))
        {
            return Err(e(400, 10081, "consumer deliver subject forms a cycle"));
        }
        if cfg.max_waiting != 0 {
            return Err(e(
                400,
                10080,
                "consumer in push mode can not set max waiting",
            ));
        }
        if cfg.max_ack_pending > 0 && cfg.ack_policy == AckPolicy::None {
            return Err(e(
                400,
                10082,
                "consumer requires ack policy for max ack pending",
            ));
        }
        if cfg.idle_heartbeat > 0 && cfg.idle_heartbeat < MIN_HEARTBEAT {
            return Err(e(
                400,
                10083,
                "consumer idle heartbeat needs to be >= 100ms",
            ));
        }
    } else {
        if cfg.ack_policy == AckPolicy::None && stream.retention == Retention::WorkQueue {
            return Err(e(
                400,
                10084,
                "consumer in pull mode requires explicit ack policy on workqueue stream",
            ));
        }
        if cfg.rate_limit_bps > 0 {
            return Err(e(
                400,
                10086,
                "consumer in pull mode can not have rate limit set",
            ));
        }
        if cfg.max_waiting < 0 {
            return Err(e(400, 10087, "consumer max waiting needs to be positive"));
        }
        if cfg.idle_heartbeat > 0 {
            return Err(e(
                400,
                10088,
                "consumer idle heartbeat requires a push based consumer",
            ));
        }
        if cfg.flow_control {
            return Err(e(
                400,
                10089,
                "consumer flow control requires a push based consumer",
            ));
        }
        if cfg.max_batch < 0 {
            return Err(e(400, 10114, "consumer max request batch needs to be > 0"));
        }
        if cfg.max_expires != 0 && cfg.max_expires < MIN_MAX_EXPIRES {
            return Err(e(
                400,
                10115,
                "consumer max request expires needs to be >= 1ms",
            ));
        }
    }
    if account_max_ack_pending > 0 && cfg.max_ack_pending > account_max_ack_pending {
        return Err(max_ack_pending_excess(account_max_ack_pending));
    }
    let limits = &stream.consumer_limits;
    if limits.max_ack_pending > 0 && cfg.max_ack_pending > limits.max_ack_pending {
        return Err(max_ack_pending_excess(limits.max_ack_pending));
    }
    if limits.inactive_threshold > 0 && cfg.inactive_threshold > limits.inactive_threshold {
        let limit = crate::config::file::go_duration(std::time::Duration::from_nanos(
            limits.inactive_threshold as u64,
        ));
        return Err(e(
            400,
            10153,
            format!("consumer inactive threshold exceeds system limit of {limit}"),
        ));
    }
    if cfg.direct {
        if cfg.is_pull() {
            return Err(e(
                400,
                10090,
                "consumer direct requires a push based consumer",
            ));
        }
        if cfg.is_durable() {
            return Err(e(
                400,
                10091,
                "consumer direct requires an ephemeral consumer",
            ));
        }
    }
    check_filters(cfg)?;
    check_start(cfg)?;
    if !cfg.sample_freq.is_empty() {
        let s = cfg
            .sample_freq
            .strip_suffix('%')
            .unwrap_or(&cfg.sample_freq);
        let why = match go_atoi(s) {
            Ok(n) if n >= 0 => None,
            Ok(_) => Some("<nil>".to_string()),
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            return Err(e(
                400,
                10095,
                format!("failed to parse consumer sampling configuration: {why}"),
            ));
        }
    }
    if cfg.flow_control && cfg.idle_heartbeat == 0 {
        return Err(e(
            400,
            10108,
            "consumer with flow control also needs heartbeats",
        ));
    }
    if cfg.is_durable() && !cfg.name.is_empty() && cfg.name != cfg.durable_name {
        return Err(e(
            400,
            10132,
            "Consumer Durable and Name have to be equal if both are provided",
        ));
    }
    let meta_len: usize = cfg.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if meta_len > MAX_METADATA_LEN {
        return Err(e(
            400,
            10135,
            format!(
                "consumer metadata exceeds maximum size of {}KB",
                MAX_METADATA_LEN / 1024
            ),
        ));
    }
    check_priority(cfg)?;
    let preferred = stream
        .placement
        .as_ref()
        .and_then(|p| p.get("preferred"))
        .and_then(|p| p.as_str())
        .is_some_and(|p| !p.is_empty());
    if preferred {
        return Err(invalid_config(
            "preferred server not permitted in placement",
        ));
    }
    Ok(())
}

fn check_filters(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    if !cfg.filter_subject.is_empty() && !cfg.filter_subjects.is_empty() {
        return Err(e(
            400,
            10136,
            "consumer cannot have both FilterSubject and FilterSubjects specified",
        ));
    }
    if !cfg.filter_subject.is_empty() && !subject::is_valid_subject(cfg.filter_subject.as_bytes()) {
        return Err(invalid_config("invalid subject"));
    }
    if cfg.filter_subjects.iter().any(String::is_empty) {
        return Err(e(
            400,
            10139,
            "consumer filter in FilterSubjects cannot be empty",
        ));
    }
    let filters = cfg.filters();
    for (i, f) in filters.iter().enumerate() {
        if !subject::is_valid_subject(f.as_bytes()) {
            return Err(invalid_config("invalid subject"));
        }
        let overlaps = filters
            .iter()
            .enumerate()
            .any(|(j, g)| i != j && subject::is_subset_match(f.as_bytes(), g.as_bytes()));
        if overlaps {
            return Err(e(400, 10138, "consumer subject filters cannot overlap"));
        }
    }
    Ok(())
}

/// The start position conflicts (10094).
fn check_start(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    let policy = cfg.deliver_policy;
    let also_set = |start: &str| {
        e(
            400,
            10094,
            format!(
                "consumer delivery policy is deliver {}, but optional start {start} is also set",
                policy.words()
            ),
        )
    };
    let not_set = |what: &str| {
        e(
            400,
            10094,
            format!(
                "consumer delivery policy is deliver {}, but optional {what} is not set",
                policy.words()
            ),
        )
    };
    let has_seq = cfg.opt_start_seq > 0;
    let has_time = cfg.opt_start_time.is_some();
    match policy {
        DeliverPolicy::All
        | DeliverPolicy::Last
        | DeliverPolicy::New
        | DeliverPolicy::LastPerSubject => {
            if has_seq {
                return Err(also_set("sequence"));
            }
            if has_time {
                return Err(also_set("time"));
            }
            if policy == DeliverPolicy::LastPerSubject && cfg.filters().is_empty() {
                return Err(not_set("filter subject"));
            }
        }
        DeliverPolicy::ByStartSequence => {
            if !has_seq {
                return Err(not_set("start sequence"));
            }
            if has_time {
                return Err(also_set("time"));
            }
        }
        DeliverPolicy::ByStartTime => {
            if !has_time {
                return Err(not_set("start time"));
            }
            if has_seq {
                return Err(also_set("start sequence"));
            }
        }
    }
    Ok(())
}

fn check_priority(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    if cfg.priority_policy != PriorityPolicy::None {
        if !cfg.is_pull() {
            return Err(e(
                400,
                10178,
                "priority groups can not be used with push consumers",
            ));
        }
        if cfg.priority_groups.is_empty() {
            return Err(e(
                400,
                10159,
                "Setting PriorityPolicy requires at least one PriorityGroup to be set",
            ));
        }
        for g in &cfg.priority_groups {
            if g.is_empty() {
                return Err(e(400, 10161, "Group name cannot be an empty string"));
            }
            if !is_valid_group_name(g) {
                return Err(e(
                    400,
                    10162,
                    "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
                ));
            }
        }
    } else {
        if !cfg.priority_groups.is_empty() {
            return Err(e(
                400,
                10196,
                "consumer can not have priority groups when policy is none",
            ));
        }
        if cfg.priority_timeout > 0 {
            return Err(e(
                400,
                10197,
                "PinnedTTL cannot be set when PriorityPolicy is none",
            ));
        }
    }
    Ok(())
}

/// The update rules (`checkNewConsumerConfig`): Ok when `new` (as [`check_create`] gave
/// it) may replace `old`. A push consumer may move to another deliver subject only while
/// nobody listens on the old one: use [`check_update_bound`] to say whether somebody does.
pub fn check_update(old: &ConsumerConfig, new: &ConsumerConfig) -> Result<(), ApiError> {
    check_update_bound(old, new, false)
}

/// [`check_update`] knowing whether `old`'s deliver subject has interest (`bound`), in
/// which case changing it is refused with 10013, in nats-server's order.
pub fn check_update_bound(
    old: &ConsumerConfig,
    new: &ConsumerConfig,
    bound: bool,
) -> Result<(), ApiError> {
    if old == new {
        return Ok(());
    }
    if old.deliver_policy != new.deliver_policy {
        return Err(update_refused("deliver policy can not be updated"));
    }
    if old.mem_storage != new.mem_storage {
        return Err(update_refused("storage type can not be updated"));
    }
    if old.direct != new.direct {
        return Err(update_refused("direct can not be updated"));
    }
    if old.sourcing != new.sourcing {
        return Err(update_refused("sourcing can not be updated"));
    }
    if old.opt_start_seq != new.opt_start_seq {
        return Err(update_refused("start sequence can not be updated"));
    }
    let same_start = match (&old.opt_start_time, &new.opt_start_time) {
        (None, None) => true,
        // The same instant in another offset is the same start (Go's `Time.Equal`).
        (Some(a), Some(b)) => a == b || time_nanos(a) == time_nanos(b) && time_nanos(a) != 0,
        _ => false,
    };
    if !same_start {
        return Err(update_refused("start time can not be updated"));
    }
    if old.ack_policy != new.ack_policy {
        return Err(update_refused("ack policy can not be updated"));
    }
    if old.replay_policy != new.replay_policy {
        return Err(update_refused("replay policy can not be updated"));
    }
    if old.idle_heartbeat != new.idle_heartbeat {
        return Err(update_refused("heart beats can not be updated"));
    }
    if old.flow_control != new.flow_control {
        return Err(update_refused("flow control can not be updated"));
    }
    if old.deliver_subject != new.deliver_subject {
        if old.is_pull() {
            return Err(update_refused("can not update pull consumer to push based"));
        }
        if new.is_pull() {
            return Err(update_refused("can not update push consumer to pull based"));
        }
        if bound {
            return Err(e(400, 10013, "consumer name already in use"));
        }
    }
    if old.max_waiting != new.max_waiting {
        return Err(update_refused("max waiting can not be updated"));
    }
    if !new.backoff.is_empty()
        && new.max_deliver != -1
        && new.backoff.len() as i64 > new.max_deliver
    {
        return Err(max_deliver_backoff());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::json::{decode_error, to_go_json};

    fn stream(json: &str) -> StreamConfig {
        let cfg: StreamConfig = serde_json::from_str(json).expect("stream config");
        crate::jetstream::config::check(&cfg).expect("valid stream")
    }

    fn s1() -> StreamConfig {
        stream(r#"{"name":"S","subjects":["s.>"]}"#)
    }

    fn req(json: &str) -> CreateRequest {
        serde_json::from_str(json).expect("request")
    }

    fn named(name: &str) -> CreateForm {
        CreateForm::Named {
            name: name.into(),
            filter: None,
        }
    }

    fn create(json: &str, form: &CreateForm) -> Result<ConsumerConfig, ApiError> {
        check_create(&req(json), form, &s1(), &[], -1)
    }

    fn create_on(
        stream: &StreamConfig,
        json: &str,
        form: &CreateForm,
        existing: &[&ConsumerConfig],
    ) -> Result<ConsumerConfig, ApiError> {
        check_create(&req(json), form, stream, existing, -1)
    }

    fn err(json: &str, form: &CreateForm) -> (u16, u16, String) {
        let e = create(json, form).expect_err("refused");
        (e.code, e.err_code, e.description)
    }

    fn text(cfg: &ConsumerConfig) -> String {
        String::from_utf8(to_go_json(&cfg.for_response())).expect("utf-8")
    }

    fn meta(req_level: u32) -> String {
        format!(
            "\"metadata\":{{\"_nats.level\":\"5\",\"_nats.req.level\":\"{req_level}\",\"_nats.ver\":\"{}\"}}",
            crate::config::NATS_COMPAT_VERSION
        )
    }

    fn decode_err(json: &str) -> String {
        let e = serde_json::from_str::<CreateRequest>(json).expect_err("does not decode");
        decode_error(&e)
    }

    #[test]
    fn legacy_empty_config_as_nats_server_fills_it() {
        for body in [
            r#"{"stream_name":"S"}"#,
            r#"{"stream_name":"S","config":{}}"#,
        ] {
            let cfg = create(body, &CreateForm::Legacy).expect("valid");
            assert_eq!(cfg.name.len(), 8);
            assert!(cfg.name.bytes().all(|b| b.is_ascii_alphanumeric()));
            let out = text(&cfg).replace(&cfg.name, "NAME");
            assert_eq!(
                out,
                format!(
                    "{{\"name\":\"NAME\",\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":512,\"inactive_threshold\":5000000000,\"num_replicas\":0,{}}}",
                    meta(0)
                )
            );
        }
        let a = create(r#"{"stream_name":"S"}"#, &CreateForm::Legacy).expect("valid");
        let b = create(r#"{"stream_name":"S"}"#, &CreateForm::Legacy).expect("valid");
        assert_ne!(a.name, b.name);
    }

    #[test]
    fn durable_explicit_defaults() {
        let cfg = create(
            r#"{"stream_name":"S","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
            &named("D1"),
        )
        .expect("valid");
        assert_eq!(
            text(&cfg),
            format!(
                "{{\"durable_name\":\"D1\",\"name\":\"D1\",\"deliver_policy\":\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":512,\"max_ack_pending\":1000,\"num_replicas\":0,{}}}",
                meta(0)
            )
        );
        // The legacy durable form names it too.
        let cfg = create(
            r#"{"stream_name":"S","config":{"durable_name":"D1"}}"#,
            &CreateForm::Durable("D1".into()),
        )
        .expect("valid");
        assert_eq!(cfg.name, "D1");
        assert_eq!(cfg.inactive_threshold, 0);
        assert!(cfg.is_durable() && cfg.is_pull());
    }

    #[test]
    fn kv_watcher_push_config_echoed() {
        let cfg = create(
            r#"{"stream_name":"S","config":{"deliver_policy":"last_per_subject","ack_policy":"none","ack_wait":79200000000000,"max_deliver":1,"filter_subject":"s.>","replay_policy":"instant","flow_control":true,"headers_only":true,"deliver_subject":"_INBOX.x","idle_heartbeat":5000000000,"inactive_threshold":300000000000,"num_replicas":1,"mem_storage":true}}"#,
            &CreateForm::Legacy,
        )
        .expect("valid");
        let out = text(&cfg).replace(&cfg.name, "NAME");
        assert_eq!(
            out,
            format!(
                "{{\"name\":\"NAME\",\"deliver_policy\":\"last_per_subject\",\"ack_policy\":\"none\",\"ack_wait\":79200000000000,\"max_deliver\":1,\"filter_subject\":\"s.\\u003e\",\"replay_policy\":\"instant\",\"flow_control\":true,\"headers_only\":true,\"deliver_subject\":\"_INBOX.x\",\"idle_heartbeat\":5000000000,\"inactive_threshold\":300000000000,\"num_replicas\":1,\"mem_storage\":true,{}}}",
                meta(0)
            )
        );
        assert!(!cfg.is_pull());
    }

    #[test]
    fn other_defaults() {
        // Backoff sets the ack wait; pinned gets a 2m timeout; pause needs level 1.
        let cfg = create(
            r#"{"stream_name":"S","config":{"ack_policy":"explicit","backoff":[1000000000,2000000000],"max_deliver":3,"priority_policy":"pinned_client","priority_groups":["A"],"pause_until":"2020-01-01T02:00:00.500+02:00"}}"#,
            &named("B"),
        )
        .expect("valid");
        assert_eq!(cfg.ack_wait, 1_000_000_000);
        assert_eq!(cfg.priority_timeout, DEFAULT_PINNED_TTL);
        assert_eq!(
            cfg.pause_until.as_deref(),
            Some("2020-01-01T02:00:00.5+02:00")
        );
        assert_eq!(
            cfg.metadata.get("_nats.req.level").map(String::as_str),
            Some("1")
        );
        let out = text(&cfg);
        assert!(out.ends_with(
            "\"pause_until\":\"2020-01-01T02:00:00.5+02:00\",\"priority_groups\":[\"A\"],\"priority_policy\":\"pinned_client\",\"priority_timeout\":120000000000}"
        ), "{out}");
        // Stream consumer limits are the defaults, account limits cap 1000.
        let limited = stream(
            r#"{"name":"L","subjects":["l"],"consumer_limits":{"inactive_threshold":10000000000,"max_ack_pending":50}}"#,
        );
        let cfg = check_create(
            &req(r#"{"stream_name":"L","config":{"ack_policy":"all"}}"#),
            &named("X"),
            &limited,
            &[],
            -1,
        )
        .expect("valid");
        assert_eq!(
            (cfg.max_ack_pending, cfg.inactive_threshold),
            (50, 10_000_000_000)
        );
        let cfg = create_on(
            &s1(),
            r#"{"stream_name":"S","config":{"ack_policy":"all"}}"#,
            &named("X"),
            &[],
        )
        .expect("valid");
        assert_eq!(cfg.max_ack_pending, 1000);
        let cfg = check_create(
            &req(r#"{"stream_name":"S","config":{"ack_policy":"all"}}"#),
            &named("X"),
            &s1(),
            &[],
            20,
        )
        .expect("valid");
        assert_eq!(cfg.max_ack_pending, 20);
        // Negative values are zeroed (or refused in pedantic mode).
        let cfg = create(
            r#"{"stream_name":"S","config":{"max_deliver":-7,"max_batch":-1,"max_ack_pending":-9}}"#,
            &named("N"),
        )
        .expect("valid");
        assert_eq!(
            (cfg.max_deliver, cfg.max_batch, cfg.max_ack_pending),
            (-1, 0, -1)
        );
        // The flow-control ack policy turns flow control and a 1s heartbeat on.
        let cfg = create(
            r#"{"stream_name":"S","config":{"ack_policy":"flow_control","deliver_subject":"d"}}"#,
            &named("F"),
        )
        .expect("valid");
        assert!(cfg.flow_control);
        assert_eq!(cfg.idle_heartbeat, FLOW_CONTROL_HEARTBEAT);
        assert_eq!(
            cfg.metadata.get("_nats.req.level").map(String::as_str),
            Some("4")
        );
    }

    #[test]
    fn form_rules_in_order() {
        let legacy = CreateForm::Legacy;
        assert_eq!(
            err(
                r#"{"stream_name":"X","config":{"durable_name":"x"}}"#,
                &legacy
            ),
            (
                400,
                10056,
                "stream name in subject does not match request".into()
            )
        );
        assert_eq!(
            err(r#"{"stream_name":"S","config":{"name":"a/b"}}"#, &legacy).1,
            10127
        );
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"durable_name":"x"}}"#,
                &legacy
            ),
            (
                400,
                10020,
                "consumer expected to be ephemeral but a durable name was set in request".into()
            )
        );
        let durable = CreateForm::Durable("DD".into());
        assert_eq!(err(r#"{"stream_name":"S"}"#, &durable).1, 10018);
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"durable_name":"de"}}"#,
                &durable
            ),
            (
                400,
                10017,
                "consumer name in subject does not match durable name in request".into()
            )
        );
        // The subject's name wins over the config's.
        let cfg = create(
            r#"{"stream_name":"S","config":{"durable_name":"DD","name":"zz"}}"#,
            &durable,
        )
        .expect("valid");
        assert_eq!(cfg.name, "DD");
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"durable_name":"DD"}}"#,
                &named("NN")
            )
            .1,
            10017
        );
        let filtered = CreateForm::Named {
            name: "NN".into(),
            filter: Some("s.>".into()),
        };
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"filter_subjects":["s.a"]}}"#,
                &filtered
            )
            .1,
            10137
        );
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"filter_subject":"s.a"}}"#,
                &filtered
            ),
            (
                400,
                10131,
                "Consumer create request did not match filtered subject from create subject".into()
            )
        );
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":3}}"#,
                &filtered
            ),
            (
                500,
                10074,
                "replicas > 1 not supported in non-clustered mode".into()
            )
        );
        assert_eq!(
            err(
                r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":-1}}"#,
                &filtered
            ),
            (400, 10133, "replicas count cannot be negative".into())
        );
        let cfg = create(
            r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":1}}"#,
            &filtered,
        )
        .expect("valid");
        assert_eq!((cfg.name.as_str(), cfg.num_replicas), ("NN", 1));
        // A wildcard consumer name from the subject is a configuration error.
        assert_eq!(
            err(r#"{"stream_name":"S"}"#, &named("*")),
            (
                500,
                10052,
                "consumer name can not contain '.', '*', '>', '\\', '/'".into()
            )
        );
        assert_eq!(
            err(r#"{"stream_name":"S","config":{"name":"a.b"}}"#, &legacy).1,
            10052
        );
    }

    #[test]
    fn start_position_conflicts() {
        let cases = [
            (
                r#"{"opt_start_seq":5}"#,
                "consumer delivery policy is deliver all, but optional start sequence is also set",
            ),
            (
                r#"{"opt_start_time":"0001-01-01T00:00:00Z"}"#,
                "consumer delivery policy is deliver all, but optional start time is also set",
            ),
            (
                r#"{"deliver_policy":"last","opt_start_seq":5}"#,
                "consumer delivery policy is deliver last, but optional start sequence is also set",
            ),
            (
                r#"{"deliver_policy":"new","opt_start_time":"2030-01-01T00:00:00Z"}"#,
                "consumer delivery policy is deliver new, but optional start time is also set",
            ),
            (
                r#"{"deliver_policy":"last_per_subject"}"#,
                "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
            ),
            (
                r#"{"deliver_policy":"by_start_sequence"}"#,
                "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
            ),
            (
                r#"{"deliver_policy":"by_start_sequence","opt_start_seq":1,"opt_start_time":"2030-01-01T00:00:00Z"}"#,
                "consumer delivery policy is deliver by start sequence, but optional start time is also set",
            ),
            (
                r#"{"deliver_policy":"by_start_time"}"#,
                "consumer delivery policy is deliver by start time, but optional start time is not set",
            ),
            (
                r#"{"deliver_policy":"by_start_time","opt_start_seq":1,"opt_start_time":"2030-01-01T00:00:00Z"}"#,
                "consumer delivery policy is deliver by start time, but optional start start sequence is also set",
            ),
        ];
        for (config, want) in cases {
            let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
            assert_eq!(
                err(&body, &named("C")),
                (400, 10094, want.to_string()),
                "{config}"
            );
        }
        let cfg = create(
            r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T02:00:00.500+02:00"}}"#,
            &named("T1"),
        )
        .expect("valid");
        assert_eq!(
            cfg.opt_start_time.as_deref(),
            Some("2030-01-01T02:00:00.5+02:00")
        );
        assert_eq!(
            time_nanos("2030-01-01T02:00:00.5+02:00"),
            time_nanos("2030-01-01T00:00:00.5Z")
        );
    }

    #[test]
    fn config_checks() {
        let c = |config: &str| {
            let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
            let (_, code, text) = err(&body, &named("C"));
            (code, text)
        };
        let cases: &[(&str, u16, &str)] = &[
            (r#"{"ack_wait":-1}"#, 10183, "consumer ack wait needs to be positive"),
            (r#"{"backoff":[-1]}"#, 10184, "consumer backoff needs to be positive"),
            (
                r#"{"ack_policy":"explicit","backoff":[1,2,3],"max_deliver":2}"#,
                10116,
                "max deliver is required to be > length of backoff values",
            ),
            (
                r#"{"ack_policy":"flow_control"}"#,
                10218,
                "flow control ack policy requires a push based consumer",
            ),
            (
                r#"{"deliver_subject":"d.*"}"#,
                10079,
                "consumer deliver subject has wildcards",
            ),
            (
                r#"{"deliver_subject":"d..x"}"#,
                10112,
                "invalid push consumer deliver subject",
            ),
            (
                r#"{"deliver_subject":"s.x"}"#,
                10081,
                "consumer deliver subject forms a cycle",
            ),
            (
                r#"{"deliver_subject":"d","max_waiting":5}"#,
                10080,
                "consumer in push mode can not set max waiting",
            ),
            (
                r#"{"deliver_subject":"d","max_ack_pending":5}"#,
                10082,
                "consumer requires ack policy for max ack pending",
            ),
            (
                r#"{"deliver_subject":"d","idle_heartbeat":1000}"#,
                10083,
                "consumer idle heartbeat needs to be >= 100ms",
            ),
            (
                r#"{"rate_limit_bps":5}"#,
                10086,
                "consumer in pull mode can not have rate limit set",
            ),
            (
                r#"{"idle_heartbeat":1000000000}"#,
                10088,
                "consumer idle heartbeat requires a push based consumer",
            ),
            (
                r#"{"flow_control":true}"#,
                10089,
                "consumer flow control requires a push based consumer",
            ),
            (
                r#"{"max_expires":10}"#,
                10115,
                "consumer max request expires needs to be >= 1ms",
            ),
            (
                r#"{"deliver_subject":"d","flow_control":true}"#,
                10108,
                "consumer with flow control also needs heartbeats",
            ),
            (
                r#"{"direct":true}"#,
                10090,
                "consumer direct requires a push based consumer",
            ),
            (
                r#"{"filter_subject":"a","filter_subjects":["b"]}"#,
                10136,
                "consumer cannot have both FilterSubject and FilterSubjects specified",
            ),
            (r#"{"filter_subject":"a..b"}"#, 10052, "invalid subject"),
            (
                r#"{"filter_subjects":["a",""]}"#,
                10139,
                "consumer filter in FilterSubjects cannot be empty",
            ),
            (
                r#"{"filter_subjects":["a.*","a.b"]}"#,
                10138,
                "consumer subject filters cannot overlap",
            ),
            (
                r#"{"filter_subjects":["a","a"]}"#,
                10138,
                "consumer subject filters cannot overlap",
            ),
            (
                r#"{"sample_freq":"abc"}"#,
                10095,
                "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"abc\": invalid syntax",
            ),
            (
                r#"{"sample_freq":"-5%"}"#,
                10095,
                "failed to parse consumer sampling configuration: <nil>",
            ),
            (
                r#"{"sample_freq":"%"}"#,
                10095,
                "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"\": invalid syntax",
            ),
            (
                r#"{"sample_freq":"99999999999999999999"}"#,
                10095,
                "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
            ),
            (
                r#"{"priority_policy":"overflow","deliver_subject":"d"}"#,
                10178,
                "priority groups can not be used with push consumers",
            ),
            (
                r#"{"priority_policy":"overflow"}"#,
                10159,
                "Setting PriorityPolicy requires at least one PriorityGroup to be set",
            ),
            (
                r#"{"priority_policy":"overflow","priority_groups":[""]}"#,
                10161,
                "Group name cannot be an empty string",
            ),
            (
                r#"{"priority_policy":"overflow","priority_groups":["toolongforagroupname"]}"#,
                10162,
                "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
            ),
            (
                r#"{"priority_groups":["A"]}"#,
                10196,
                "consumer can not have priority groups when policy is none",
            ),
            (
                r#"{"priority_timeout":5}"#,
                10197,
                "PinnedTTL cannot be set when PriorityPolicy is none",
            ),
        ];
        for (config, code, text) in cases {
            assert_eq!(c(config), (*code, text.to_string()), "{config}");
        }
        let long = "x".repeat(4097);
        assert_eq!(
            c(&format!(r#"{{"description":"{long}"}}"#)),
            (
                10107,
                "consumer description is too long, maximum allowed is 4096".into()
            )
        );
        let big = "x".repeat(128 * 1024);
        assert_eq!(
            c(&format!(r#"{{"metadata":{{"k":"{big}"}}}}"#)),
            (
                10135,
                "consumer metadata exceeds maximum size of 128KB".into()
            )
        );
        // Valid odd ones.
        for config in [
            r#"{"sample_freq":"+50%"}"#,
            r#"{"filter_subject":"zz"}"#,
            r#"{"priority_policy":"prioritized","priority_groups":["a-Z_0/9="]}"#,
        ] {
            let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
            assert!(create(&body, &named("C")).is_ok(), "{config}");
        }
    }

    #[test]
    fn limits_and_pedantic() {
        let limited = stream(
            r#"{"name":"L","subjects":["l"],"consumer_limits":{"inactive_threshold":60000000000,"max_ack_pending":50}}"#,
        );
        let on = |body: &str, acc: i64| {
            check_create(&req(body), &named("C"), &limited, &[], acc).expect_err("refused")
        };
        let e1 = on(
            r#"{"stream_name":"L","config":{"ack_policy":"explicit","max_ack_pending":51}}"#,
            -1,
        );
        assert_eq!(
            (e1.err_code, e1.description.as_str()),
            (10121, "consumer max ack pending exceeds system limit of 50")
        );
        let e2 = on(
            r#"{"stream_name":"L","config":{"ack_policy":"explicit","max_ack_pending":40}}"#,
            30,
        );
        assert_eq!(
            e2.description,
            "consumer max ack pending exceeds system limit of 30"
        );
        let e3 = on(
            r#"{"stream_name":"L","config":{"inactive_threshold":61000000000}}"#,
            -1,
        );
        assert_eq!(
            (e3.err_code, e3.description.as_str()),
            (
                10153,
                "consumer inactive threshold exceeds system limit of 1m0s"
            )
        );
        let e4 = on(
            r#"{"stream_name":"L","pedantic":true,"config":{"ack_policy":"explicit"}}"#,
            -1,
        );
        assert_eq!(
            (e4.code, e4.err_code, e4.description.as_str()),
            (
                400,
                10157,
                "pedantic mode: max_ack_pending must be set if it's configured in stream limits"
            )
        );
        let p = |config: &str| {
            let body = format!(r#"{{"stream_name":"S","pedantic":true,"config":{config}}}"#);
            err(&body, &named("C")).2
        };
        assert_eq!(
            p(r#"{"max_deliver":-5}"#),
            "pedantic mode: max_deliver must be set to -1"
        );
        assert_eq!(
            p(r#"{"max_expires":-5}"#),
            "pedantic mode: max_expires must not be negative"
        );
        assert_eq!(
            p(r#"{"ack_policy":"explicit","backoff":[1000000000]}"#),
            "pedantic mode: first backoff value has to equal batch AckWait"
        );
        // Pedantic flow-control ack policy gets no defaults.
        assert_eq!(
            p(r#"{"ack_policy":"flow_control","deliver_subject":"d"}"#),
            "flow control ack policy requires flow control"
        );
    }

    #[test]
    fn work_queue_rules() {
        let wq = stream(r#"{"name":"W","subjects":["w.>"],"retention":"workqueue"}"#);
        let on = |body: &str, form: &CreateForm, existing: &[&ConsumerConfig]| {
            create_on(&wq, body, form, existing)
        };
        let code = |r: Result<ConsumerConfig, ApiError>| r.expect_err("refused").err_code;
        assert_eq!(code(on(r#"{"stream_name":"W"}"#, &named("A"), &[])), 10084);
        assert_eq!(
            code(on(
                r#"{"stream_name":"W","config":{"deliver_subject":"d"}}"#,
                &named("A"),
                &[]
            )),
            10098
        );
        assert_eq!(
            code(on(
                r#"{"stream_name":"W","config":{"ack_policy":"explicit","deliver_policy":"new"}}"#,
                &named("A"),
                &[]
            )),
            10101
        );
        let a = on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
            &named("A"),
            &[],
        )
        .expect("first one");
        assert_eq!(
            code(on(
                r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
                &named("B"),
                &[&a]
            )),
            10099
        );
        // Any filter collides with an unfiltered consumer.
        let e = on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a"}}"#,
            &named("B"),
            &[&a],
        )
        .expect_err("refused");
        assert_eq!(
            (e.err_code, e.description.as_str()),
            (10100, "filtered consumer not unique on workqueue stream")
        );
        let fa = on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a.>"}}"#,
            &named("FA"),
            &[],
        )
        .expect("valid");
        assert_eq!(
            code(on(
                r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.*.b"}}"#,
                &named("FB"),
                &[&fa]
            )),
            10100
        );
        assert!(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.b"}}"#,
            &named("FB"),
            &[&fa]
        )
        .is_ok());
        // Replacing the consumer itself skips it; the create-only rules are left to the
        // update rules.
        assert!(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a.x"}}"#,
            &named("FA"),
            &[&fa]
        )
        .is_ok());
        let replaced = on(
            r#"{"stream_name":"W","config":{"ack_policy":"none","deliver_subject":"d"}}"#,
            &named("FA"),
            &[&fa],
        )
        .expect("left to check_update");
        assert_eq!(
            check_update(&fa, &replaced)
                .expect_err("refused")
                .description,
            "ack policy can not be updated"
        );
        // Interest and work-queue consumers must match the stream's replicas.
        let wq3 =
            stream(r#"{"name":"W","subjects":["w.>"],"retention":"workqueue","num_replicas":3}"#);
        let e = create_on(
            &wq3,
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","num_replicas":1}}"#,
            &named("R"),
            &[],
        )
        .expect_err("refused");
        assert_eq!(
            (e.err_code, e.description.as_str()),
            (
                10134,
                "consumer config replicas must match interest retention stream's replicas"
            )
        );
        // Direct and sourcing consumers do not count.
        let mut direct = a.clone();
        direct.name = "DIRECT".into();
        direct.direct = true;
        assert!(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
            &named("B"),
            &[&direct]
        )
        .is_ok());
    }

    #[test]
    fn replacing_keeps_pause_and_create_comparison() {
        let s = s1();
        let body = r#"{"stream_name":"S","config":{"name":"E1"},"action":"create"}"#;
        let first = create_on(&s, body, &named("E1"), &[]).expect("valid");
        let second = create_on(&s, body, &named("E1"), &[&first]).expect("valid");
        assert!(first.same_as(&second));
        // nats-server compares before stamping the ephemeral default: 10148.
        assert!(!same_for_create(&first, &second, &req(body), &s));
        let body = r#"{"stream_name":"S","config":{"name":"E2","inactive_threshold":5000000000},"action":"create"}"#;
        let first = create_on(&s, body, &named("E2"), &[]).expect("valid");
        let second = create_on(&s, body, &named("E2"), &[&first]).expect("valid");
        assert!(same_for_create(&first, &second, &req(body), &s));
        // Same instant, another offset: not the same for create, fine for update.
        let t1 = create_on(
            &s,
            r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T02:00:00.500+02:00","inactive_threshold":5000000000}}"#,
            &named("T1"),
            &[],
        )
        .expect("valid");
        let body = r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T00:00:00.500Z","inactive_threshold":5000000000}}"#;
        let t2 = create_on(&s, body, &named("T1"), &[&t1]).expect("valid");
        assert!(!same_for_create(&t1, &t2, &req(body), &s));
        assert!(check_update(&t1, &t2).is_ok());
        let body = r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T00:00:00.600Z","inactive_threshold":5000000000}}"#;
        let t3 = create_on(&s, body, &named("T1"), &[&t1]).expect("valid");
        assert_eq!(
            check_update(&t1, &t3).expect_err("refused"),
            ApiError {
                code: 500,
                err_code: 10012,
                description: "start time can not be updated".into()
            }
        );
        // A create keeps the existing pause and its required level.
        let p1 = create_on(
            &s,
            r#"{"stream_name":"S","config":{"pause_until":"2020-01-01T00:00:00Z"}}"#,
            &named("P1"),
            &[],
        )
        .expect("valid");
        let body =
            r#"{"stream_name":"S","config":{"inactive_threshold":5000000000},"action":"create"}"#;
        let p2 = create_on(&s, body, &named("P1"), &[&p1]).expect("valid");
        assert_eq!(p2.pause_until.as_deref(), Some("2020-01-01T00:00:00Z"));
        assert_eq!(
            p2.metadata.get("_nats.req.level").map(String::as_str),
            Some("1")
        );
        assert!(same_for_create(&p1, &p2, &req(body), &s));
    }

    #[test]
    fn update_rules() {
        let s = s1();
        let make = |config: &str| {
            let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
            create_on(&s, &body, &named("D"), &[]).expect("valid")
        };
        let old = make(
            r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true}"#,
        );
        let refused = |config: &str| {
            check_update(&old, &make(config))
                .expect_err("refused")
                .description
        };
        let base = r#""durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true"#;
        let with = |extra: &str| format!("{{{base},{extra}}}");
        assert_eq!(
            refused(&with(r#""deliver_policy":"new""#)),
            "deliver policy can not be updated"
        );
        assert_eq!(
            refused(&with(r#""mem_storage":true"#)),
            "storage type can not be updated"
        );
        assert_eq!(
            refused(&with(r#""replay_policy":"original""#)),
            "replay policy can not be updated"
        );
        assert_eq!(
            refused(
                r#"{"durable_name":"D","ack_policy":"all","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true}"#
            ),
            "ack policy can not be updated"
        );
        assert_eq!(
            refused(
                r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":2000000000,"flow_control":true}"#
            ),
            "heart beats can not be updated"
        );
        assert_eq!(
            refused(
                r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000}"#
            ),
            "flow control can not be updated"
        );
        assert!(check_update(&old, &make(&with(r#""description":"x""#))).is_ok());
        let pull = make(r#"{"durable_name":"D","ack_policy":"explicit"}"#);
        assert_eq!(
            check_update(&old, &pull).expect_err("refused").description,
            "heart beats can not be updated"
        );
        let push = make(r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d"}"#);
        assert_eq!(
            check_update(&pull, &push).expect_err("refused").description,
            "can not update pull consumer to push based"
        );
        assert_eq!(
            check_update(&push, &pull).expect_err("refused").description,
            "can not update push consumer to pull based"
        );
        let moved = make(r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d2"}"#);
        assert!(check_update(&push, &moved).is_ok());
        assert_eq!(
            check_update_bound(&push, &moved, true).expect_err("refused"),
            ApiError {
                code: 400,
                err_code: 10013,
                description: "consumer name already in use".into()
            }
        );
        let waiting = make(r#"{"durable_name":"D","ack_policy":"explicit","max_waiting":10}"#);
        assert_eq!(
            check_update(&pull, &waiting)
                .expect_err("refused")
                .description,
            "max waiting can not be updated"
        );
        // What may change.
        let changed = make(
            r#"{"durable_name":"D","ack_policy":"explicit","description":"d","ack_wait":5000000000,"max_deliver":5,"filter_subject":"s.a","max_ack_pending":7,"headers_only":true,"max_batch":3,"max_expires":5000000,"max_bytes":100,"inactive_threshold":9000000000,"metadata":{"k":"v"}}"#,
        );
        assert!(check_update(&pull, &changed).is_ok());
        let mut bad = pull.clone();
        bad.backoff = vec![1, 2, 3];
        bad.max_deliver = 2;
        assert_eq!(
            check_update(&pull, &bad).expect_err("refused").err_code,
            10116
        );
        assert!(check_update(&pull, &pull).is_ok());
    }

    #[test]
    fn decoding_as_go_does() {
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"ack_policy":null}}"#),
            "can not unmarshal \"null\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"ack_policy":5}}"#),
            "can not unmarshal \"5\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"ack_policy":"Explicit"}}"#),
            "can not unmarshal \"\\\"Explicit\\\"\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"priority_policy":null}}"#),
            "unknown priority policy: null"
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"priority_policy":"x"}}"#),
            "unknown priority policy: \"x\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","action":"bogus"}"#),
            "unknown consumer action: \"bogus\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","action":null}"#),
            "unknown consumer action: null"
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"bogus":1}}"#),
            "json: unknown field \"bogus\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"opt_start_time":"bogus"}}"#),
            "parsing time \"bogus\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bogus\" as \"2006\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"opt_start_time":"2030-01-01t00:00:00z"}}"#),
            "parsing time \"2030-01-01t00:00:00z\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"t00:00:00z\" as \"T\""
        );
        assert_eq!(
            decode_err(r#"{"stream_name":"S","config":{"opt_start_time":5}}"#),
            "json: cannot unmarshal number into Go struct field CreateConsumerRequest.config.opt_start_time of type time.Time"
        );
        let r = req(r#"{"stream_name":"S","config":null,"action":"update","pedantic":true}"#);
        assert_eq!(r.config, ConsumerConfig::default());
        assert_eq!(r.action, "update");
        let r = req(
            r#"{"config":{"deliver_policy":"undefined","opt_start_time":null,"metadata":null,"backoff":null,"durable_name":null}}"#,
        );
        assert_eq!(r.config, ConsumerConfig::default());
    }

    #[test]
    fn go_time_texts() {
        let ok = |s: &str| parse_time(s).expect("parses");
        assert_eq!(
            ok("2030-01-01T02:00:00.500+02:00"),
            "2030-01-01T02:00:00.5+02:00"
        );
        assert_eq!(ok("2030-01-01T00:00:00.000Z"), "2030-01-01T00:00:00Z");
        assert_eq!(ok("2030-01-01T00:00:00+00:00"), "2030-01-01T00:00:00Z");
        assert_eq!(ok("2030-01-01T00:00:00-05:30"), "2030-01-01T00:00:00-05:30");
        assert_eq!(
            ok("2030-01-01T1:02:03,1234567891Z"),
            "2030-01-01T01:02:03.123456789Z"
        );
        assert_eq!(ok("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
        assert_eq!(ok("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z");
        assert_eq!(
            parse_time("2023-02-29T00:00:00Z").expect_err("bad"),
            "parsing time \"2023-02-29T00:00:00Z\": day out of range"
        );
        assert_eq!(
            parse_time("2030-13-01T00:00:00Z").expect_err("bad"),
            "parsing time \"2030-13-01T00:00:00Z\": month out of range"
        );
        assert_eq!(
            parse_time("2030-01-01T00:00:00Zx").expect_err("bad"),
            "parsing time \"2030-01-01T00:00:00Zx\": extra text: \"x\""
        );
        assert_eq!(
            parse_time("2030-01-01T00:00:00").expect_err("bad"),
            "parsing time \"2030-01-01T00:00:00\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"Z07:00\""
        );
        assert_eq!(time_nanos("0001-01-01T00:00:00Z"), 0);
        assert_eq!(time_nanos("1970-01-01T00:00:01.5Z"), 1_500_000_000);
    }

    #[test]
    fn filters_and_kinds() {
        let mut c = ConsumerConfig::default();
        assert!(c.filters().is_empty() && c.is_pull() && !c.is_durable());
        c.filter_subject = "a".into();
        assert_eq!(c.filters(), vec!["a"]);
        c.filter_subject.clear();
        c.filter_subjects = vec!["x".into(), "y".into()];
        assert_eq!(c.filters(), vec!["x", "y"]);
        let mut with_meta = c.clone();
        with_meta.set_required_level();
        assert!(c.same_as(&with_meta.for_response()));
        with_meta.metadata.insert("user".into(), "1".into());
        assert!(!c.same_as(&with_meta));
    }
}
