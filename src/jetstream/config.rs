//! A stream's configuration as nats-server reads it from a request, fills in its defaults
//! and checks it (`checkStreamCfg`), and as it writes it back: the field order, the
//! `omitempty` fields and the `_nats.*` metadata of nats-server 2.15.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::errors::ApiError;
use crate::subject;

/// nats-server's `StreamDefaultDuplicatesWindow` (2 minutes), in nanoseconds.
pub const DEFAULT_DUPLICATE_WINDOW: i64 = 120_000_000_000;
const MAX_NAME_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 4096;
const MAX_METADATA_LEN: usize = 128 * 1024;
const MAX_REPLICAS: i64 = 5;
const MIN_WINDOW: i64 = 100_000_000;

/// A Go string enum: its default (Go's zero value) first.
macro_rules! go_enum {
    ($name:ident: $default:ident = $dtext:literal $(, $variant:ident = $text:literal)*) => {
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
                let raw = String::deserialize(d)?;
                match raw.to_lowercase().as_str() {
                    $dtext => Ok($name::$default),
                    $($text => Ok($name::$variant),)*
                    _ => Err(super::json::bad_enum(&raw)),
                }
            }
        }
    };
}

go_enum!(Retention: Limits = "limits", Interest = "interest", WorkQueue = "workqueue");
go_enum!(Discard: Old = "old", New = "new");
go_enum!(Storage: File = "file", Memory = "memory");
go_enum!(Compression: NoCompression = "none", S2 = "s2");
go_enum!(PersistMode: DefaultPersist = "default", Async = "async");

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}
fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}
fn is_default_persist(p: &PersistMode) -> bool {
    *p == PersistMode::DefaultPersist
}

/// `consumer_limits`: defaults and caps for the stream's consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerLimits {
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub inactive_threshold: i64,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_ack_pending: i64,
}

/// `subject_transform`: incoming subjects rewritten before they are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTransform {
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub src: String,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub dest: String,
}

/// `republish`: stored messages published again on a transformed subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RePublish {
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub src: String,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub dest: String,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub headers_only: bool,
}

/// nats-server's `StreamConfig`, in its field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subjects: Vec<String>,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub retention: Retention,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub max_consumers: i64,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub max_msgs: i64,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub max_bytes: i64,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub max_age: i64,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub max_msgs_per_subject: i64,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub max_msg_size: i64,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub discard: Discard,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub storage: Storage,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub num_replicas: i64,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub no_ack: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub duplicate_window: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<serde_json::Value>>,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub compression: Compression,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_u64"
    )]
    pub first_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republish: Option<RePublish>,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub allow_direct: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub mirror_direct: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub discard_new_per_subject: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub sealed: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub deny_delete: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub deny_purge: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub allow_rollup_hdrs: bool,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub consumer_limits: ConsumerLimits,
    #[serde(default, deserialize_with = "super::json::nullable")]
    pub allow_msg_ttl: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_zero_i64"
    )]
    pub subject_delete_marker_ttl: i64,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub allow_msg_counter: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub allow_atomic: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub allow_msg_schedules: bool,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_default_persist"
    )]
    pub persist_mode: PersistMode,
    #[serde(
        default,
        deserialize_with = "super::json::nullable",
        skip_serializing_if = "is_false"
    )]
    pub allow_batched: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Request only (`StreamConfigRequest`): refuse to fix values silently.
    #[serde(default, deserialize_with = "super::json::nullable", skip_serializing)]
    pub pedantic: bool,
}

/// nats-server's `isValidAssetName`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['.', '*', '>', ' ', '\t', '\r', '\n', '\\', '/'])
}

fn invalid(why: impl Into<String>) -> ApiError {
    ApiError::stream_invalid_config(why)
}

fn pedantic(why: &str) -> ApiError {
    ApiError {
        code: 400,
        err_code: 10157,
        description: format!("pedantic mode: {why}"),
    }
}

/// The minimum API level a configuration needs (`_nats.req.level`).
fn required_level(cfg: &StreamConfig) -> u32 {
    if cfg.allow_batched {
        4
    } else if cfg.allow_msg_counter
        || cfg.allow_atomic
        || cfg.allow_msg_schedules
        || cfg.persist_mode == PersistMode::Async
    {
        2
    } else if cfg.allow_msg_ttl || cfg.subject_delete_marker_ttl > 0 {
        1
    } else {
        0
    }
}

impl StreamConfig {
    /// The metadata as stored: the user's keys and `_nats.req.level`.
    pub fn set_required_level(&mut self) {
        let level = required_level(self);
        let m = self.metadata.get_or_insert_with(BTreeMap::new);
        m.retain(|k, _| !k.starts_with("_nats."));
        m.insert("_nats.req.level".into(), level.to_string());
    }

    /// The configuration as responses show it: the stored one plus `_nats.level` and
    /// `_nats.ver`.
    pub fn for_response(&self) -> StreamConfig {
        let mut c = self.clone();
        let m = c.metadata.get_or_insert_with(BTreeMap::new);
        m.insert(
            "_nats.level".into(),
            crate::proto::info::JS_API_LEVEL.to_string(),
        );
        m.entry("_nats.req.level".into())
            .or_insert_with(|| "0".into());
        m.insert(
            "_nats.ver".into(),
            crate::config::NATS_COMPAT_VERSION.to_string(),
        );
        c
    }

    /// Two configurations are the same stream when they differ in the server's
    /// metadata keys at most.
    pub fn same_as(&self, other: &StreamConfig) -> bool {
        let user = |c: &StreamConfig| {
            let mut c = c.clone();
            c.pedantic = false;
            if let Some(m) = &mut c.metadata {
                m.retain(|k, _| !k.starts_with("_nats."));
                if m.is_empty() {
                    c.metadata = None;
                }
            }
            c
        };
        user(self) == user(other)
    }
}

/// nats-server's `checkStreamCfg` for a single server: the defaults filled in, or the
/// first problem. `max_stream_bytes` is the account's limit (`None`: unlimited).
pub fn check(config: &StreamConfig) -> Result<StreamConfig, ApiError> {
    if !is_valid_name(&config.name) {
        return Err(invalid(
            "stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if config.name.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "stream name is too long, maximum allowed is {MAX_NAME_LEN}"
        )));
    }
    if config.description.len() > MAX_DESCRIPTION_LEN {
        return Err(invalid(format!(
            "stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"
        )));
    }
    let meta_len: usize = config
        .metadata
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if meta_len > MAX_METADATA_LEN {
        return Err(invalid(format!(
            "stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes"
        )));
    }
    let strict = config.pedantic;
    let mut cfg = config.clone();
    if cfg.num_replicas == 0 {
        cfg.num_replicas = 1;
    }
    if cfg.num_replicas > MAX_REPLICAS {
        return Err(invalid(format!("maximum replicas is {MAX_REPLICAS}")));
    }
    if cfg.num_replicas < 0 {
        return Err(ApiError::replicas_negative());
    }
    for (value, what) in [
        (&mut cfg.max_msgs, "max_msgs"),
        (&mut cfg.max_msgs_per_subject, "max_msgs_per_subject"),
        (&mut cfg.max_bytes, "max_bytes"),
        (&mut cfg.max_msg_size, "max_msg_size"),
        (&mut cfg.max_consumers, "max_consumers"),
    ] {
        if *value == 0 || *value < -1 {
            if strict && *value < -1 {
                return Err(pedantic(&format!("{what} must be set to -1")));
            }
            *value = -1;
        }
    }
    if cfg.max_msg_size > i32::MAX as i64 {
        return Err(ApiError::invalid_json(
            "json: cannot unmarshal number into Go struct field StreamConfigRequest.max_msg_size of type int32",
        ));
    }
    if cfg.max_age < 0 {
        return Err(invalid("max age can not be negative"));
    }
    if cfg.max_age != 0 && cfg.max_age < MIN_WINDOW {
        return Err(invalid("max age needs to be >= 100ms"));
    }
    if cfg.duplicate_window == 0 && cfg.mirror.is_none() && cfg.sources.is_none() {
        if cfg.max_age != 0 && cfg.max_age < DEFAULT_DUPLICATE_WINDOW {
            if strict {
                return Err(pedantic("duplicate window cannot be bigger than max age"));
            }
            cfg.duplicate_window = cfg.max_age;
        } else {
            cfg.duplicate_window = DEFAULT_DUPLICATE_WINDOW;
        }
    }
    if cfg.duplicate_window < 0 {
        return Err(invalid("duplicates window can not be negative"));
    }
    if cfg.max_age != 0 && cfg.duplicate_window > cfg.max_age {
        return Err(invalid("duplicates window can not be larger then max age"));
    }
    if cfg.duplicate_window > 0 && cfg.duplicate_window < MIN_WINDOW {
        return Err(invalid("duplicates window needs to be >= 100ms"));
    }
    if cfg.deny_purge && cfg.allow_rollup_hdrs {
        return Err(invalid("roll-ups require the purge permission"));
    }
    if cfg.allow_msg_counter {
        if cfg.discard == Discard::New {
            return Err(invalid("counter stream cannot use discard new"));
        }
        if cfg.allow_msg_ttl {
            return Err(invalid("counter stream cannot use message TTLs"));
        }
        if cfg.allow_msg_schedules {
            return Err(invalid("counter stream cannot use message schedules"));
        }
        if cfg.retention != Retention::Limits {
            return Err(invalid("counter stream can only use limits retention"));
        }
    }
    if cfg.discard_new_per_subject {
        if cfg.discard != Discard::New {
            return Err(invalid(
                "discard new per subject requires discard new policy to be set",
            ));
        }
        if cfg.max_msgs_per_subject <= 0 {
            return Err(invalid(
                "discard new per subject requires max msgs per subject > 0",
            ));
        }
    }
    if cfg.subject_delete_marker_ttl > 0 {
        if cfg.subject_delete_marker_ttl < 1_000_000_000 {
            return Err(invalid(
                "subject delete marker TTL must be at least 1 second",
            ));
        }
        if !cfg.allow_msg_ttl {
            if strict {
                return Err(invalid(
                    "subject delete marker cannot be set if message TTLs are disabled",
                ));
            }
            cfg.allow_msg_ttl = true;
        }
        if !cfg.allow_rollup_hdrs {
            if strict {
                return Err(invalid(
                    "subject delete marker cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    } else if cfg.subject_delete_marker_ttl < 0 {
        return Err(invalid("subject delete marker TTL must not be negative"));
    }
    if cfg.allow_msg_schedules {
        if cfg.discard == Discard::New {
            return Err(invalid("message scheduling cannot use discard new"));
        }
        if !cfg.allow_rollup_hdrs {
            if strict {
                return Err(invalid(
                    "message scheduling cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    }
    if cfg.persist_mode == PersistMode::Async {
        if cfg.storage != Storage::File {
            return Err(invalid(
                "async persist mode is only supported on file storage",
            ));
        }
        if cfg.num_replicas > 1 {
            return Err(invalid(
                "async persist mode is not supported on replicated streams",
            ));
        }
        if cfg.allow_atomic {
            return Err(invalid(
                "async persist mode is not supported with atomic batch publish",
            ));
        }
    }
    if cfg.mirror.is_some() && !cfg.subjects.is_empty() {
        return Err(ApiError::mirror_with_subjects());
    }
    if cfg.subjects.is_empty() {
        if cfg.mirror.is_none() && cfg.sources.is_none() {
            cfg.subjects.push(cfg.name.clone());
        }
    } else {
        check_subjects(&cfg)?;
    }
    if cfg.subjects.is_empty() && cfg.sources.is_none() && cfg.mirror.is_none() {
        return Err(invalid(
            "stream needs at least one configured subject or be a source/mirror",
        ));
    }
    if let Some(t) = &cfg.subject_transform {
        if !t.src.is_empty() && !subject::is_valid_subject(t.src.as_bytes()) {
            return Err(ApiError::transform_source(&format!(
                "invalid subject {}",
                t.src
            )));
        }
        if let Err(e) = crate::subject::transform::validate_mapping(&t.src, &t.dest) {
            return Err(ApiError::transform_destination(&e));
        }
    }
    if let Some(rp) = cfg.republish.as_mut() {
        if rp.src.is_empty() {
            if strict {
                return Err(pedantic("republish source can not be empty"));
            }
            rp.src = ">".into();
        }
        // A `>` to `>` republish aligned with a transform of the only stream subject
        // republishes under the transformed subject.
        if let Some(t) = &cfg.subject_transform {
            if rp.dest == ">"
                && rp.src == ">"
                && cfg.subjects.len() == 1
                && t.src == cfg.subjects[0]
            {
                if strict {
                    return Err(pedantic("implicit republish based on subject transform"));
                }
                rp.src = t.dest.clone();
                rp.dest = t.dest.clone();
            }
        }
        let cycle = cfg
            .subjects
            .iter()
            .any(|s| subject::subjects_collide(rp.dest.as_bytes(), s.as_bytes()));
        if cycle {
            return Err(invalid(
                "stream configuration for republish destination forms a cycle",
            ));
        }
        if crate::subject::transform::Transform::new(&rp.src, &rp.dest).is_err() {
            return Err(invalid(format!(
                "stream configuration for republish with transform from '{}' to '{}' not valid",
                rp.src, rp.dest
            )));
        }
    }
    if cfg
        .placement
        .as_ref()
        .is_some_and(|p| p.as_object().is_some_and(|o| o.is_empty()))
    {
        cfg.placement = None;
    }
    Ok(cfg)
}

fn check_subjects(cfg: &StreamConfig) -> Result<(), ApiError> {
    for (i, subj) in cfg.subjects.iter().enumerate() {
        let s = subj.as_bytes();
        if !subject::is_valid_subject(s) {
            return Err(invalid("invalid subject"));
        }
        if cfg.subjects[..i].contains(subj) {
            return Err(invalid("duplicate subjects detected"));
        }
        if subj == ">" {
            if !cfg.no_ack {
                return Err(invalid("capturing all subjects requires no-ack to be true"));
            }
            if cfg.num_replicas != 1 {
                return Err(invalid("capturing all subjects requires replicas of 1"));
            }
        }
        if !cfg.no_ack {
            for ns in ["$JS.>", "$JSC.>", "$NRG.>"] {
                if subject::subjects_collide(s, ns.as_bytes())
                    && !subject::is_subset_match(s, b"$JS.EVENT.>")
                {
                    return Err(invalid(
                        "subjects that overlap with jetstream api require no-ack to be true",
                    ));
                }
            }
            if subject::subjects_collide(s, b"$SYS.>")
                && !subject::is_subset_match(s, b"$SYS.ACCOUNT.>")
            {
                return Err(invalid(
                    "subjects that overlap with system api require no-ack to be true",
                ));
            }
        }
        for later in &cfg.subjects[i + 1..] {
            if subject::subjects_collide(later.as_bytes(), s) {
                return Err(invalid(format!("subject {subj:?} overlaps with {later:?}")));
            }
        }
    }
    Ok(())
}

/// What natrium does not do yet, refused at create rather than accepted and ignored
/// (`allow_atomic` and `allow_msg_schedules` are accepted: the publishes that would use
/// them are refused one by one).
pub fn unsupported(cfg: &StreamConfig) -> Option<&'static str> {
    if cfg.mirror.is_some() {
        Some("mirrors")
    } else if cfg.sources.is_some() {
        Some("sources")
    } else if cfg.allow_msg_counter {
        Some("message counters")
    } else if cfg.allow_batched {
        Some("batch publish")
    } else {
        None
    }
}

/// nats-server's update rules (`checkStreamUpdate`) for a single server.
pub fn check_update(old: &StreamConfig, new: &StreamConfig) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::stream_update(why));
    if new.storage != old.storage {
        return refuse("stream configuration update can not change storage type");
    }
    if (new.retention == Retention::WorkQueue) != (old.retention == Retention::WorkQueue) {
        return refuse(
            "stream configuration update can not change retention policy to/from workqueue",
        );
    }
    if old.sealed && !new.sealed {
        return refuse("stream configuration update can not unseal a sealed stream");
    }
    if old.deny_delete && !new.deny_delete {
        return refuse("stream configuration update can not cancel deny message deletes");
    }
    if old.deny_purge && !new.deny_purge {
        return refuse("stream configuration update can not cancel deny purge");
    }
    if old.allow_msg_ttl && !new.allow_msg_ttl {
        return refuse("message TTL status can not be disabled");
    }
    if old.allow_msg_counter != new.allow_msg_counter {
        return refuse("stream configuration update can not change message counter setting");
    }
    if old.persist_mode != new.persist_mode {
        return refuse("stream configuration update can not change persist mode");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> StreamConfig {
        serde_json::from_str(json).expect("config")
    }

    #[test]
    fn defaults_as_nats_server_fills_them() {
        let mut cfg = check(&parse(r#"{"name":"S1"}"#)).expect("valid");
        cfg.set_required_level();
        let out = String::from_utf8(super::super::json::to_go_json(&cfg.for_response())).unwrap();
        assert_eq!(
            out,
            format!(
                "{{\"name\":\"S1\",\"subjects\":[\"S1\"],\"retention\":\"limits\",\"max_consumers\":-1,\"max_msgs\":-1,\"max_bytes\":-1,\"max_age\":0,\"max_msgs_per_subject\":-1,\"max_msg_size\":-1,\"discard\":\"old\",\"storage\":\"file\",\"num_replicas\":1,\"duplicate_window\":120000000000,\"compression\":\"none\",\"allow_direct\":false,\"mirror_direct\":false,\"sealed\":false,\"deny_delete\":false,\"deny_purge\":false,\"allow_rollup_hdrs\":false,\"consumer_limits\":{{}},\"allow_msg_ttl\":false,\"metadata\":{{\"_nats.level\":\"5\",\"_nats.req.level\":\"0\",\"_nats.ver\":\"{}\"}}}}",
                crate::config::NATS_COMPAT_VERSION
            )
        );
    }

    #[test]
    fn refusals_in_nats_servers_words() {
        let err = |j: &str| check(&parse(j)).unwrap_err().description;
        assert_eq!(
            err(r#"{"name":"a.b"}"#),
            "stream name is required and can not contain '.', '*', '>', '\\', '/'"
        );
        assert_eq!(
            err(r#"{"name":"X","subjects":["x1.a","x1.*"]}"#),
            "subject \"x1.a\" overlaps with \"x1.*\""
        );
        assert_eq!(
            err(r#"{"name":"X","subjects":[">"]}"#),
            "capturing all subjects requires no-ack to be true"
        );
        assert_eq!(
            err(r#"{"name":"X","max_age":1000}"#),
            "max age needs to be >= 100ms"
        );
        let short = check(&parse(r#"{"name":"X","max_age":1000000000}"#)).unwrap();
        assert_eq!(short.duplicate_window, 1_000_000_000);
        let e = serde_json::from_str::<StreamConfig>(r#"{"name":"X","retention":"bogus"}"#)
            .unwrap_err();
        assert_eq!(
            super::super::json::decode_error(&e),
            "can not unmarshal \"\\\"bogus\\\"\""
        );
    }
}
