//! The `jetstream` key of the configuration file (nats-server's `parseJetStream`): `true`,
//! `false`, `"enabled"`, `"disabled"`, or a block of server-wide JetStream settings, and the
//! `jetstream` key of an account (`parseJetStreamForAccount`), which enables JetStream for
//! that account.

use std::time::Duration;

use super::conf::{Spanned, Value};
use super::file::Reader;

/// nats-server's default `sync_interval`.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(120);

/// Server-wide JetStream settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamOptions {
    pub enabled: bool,
    /// `max_memory_store`; `None`: nats-server's default (75% of the system memory).
    pub max_memory: Option<i64>,
    /// `max_file_store`; `None`: 75% of the free disk space.
    pub max_store: Option<i64>,
    /// How often what was written is synced to disk; ignored with `sync_always`.
    pub sync_interval: Duration,
    /// `sync_interval: always`: every write is synced before it is acknowledged.
    pub sync_always: bool,
    pub domain: String,
    /// Unknown fields in API requests are errors.
    pub strict: bool,
    /// `max_buffered_msgs` and `max_buffered_size`: how much published to streams may
    /// wait for the JetStream thread before publishers get 429 (0: nats-server's default).
    pub max_buffered_msgs: i64,
    pub max_buffered_size: i64,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            enabled: false,
            max_memory: None,
            max_store: None,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            sync_always: false,
            domain: String::new(),
            strict: true,
            max_buffered_msgs: 0,
            max_buffered_size: 0,
        }
    }
}

/// A value that switches JetStream on or off (`true`, `"enabled"` …), as nats-server reads
/// it; `None` when it is not one.
fn switch(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_lowercase().as_str() {
            "enabled" | "enable" | "true" => Some(true),
            "disabled" | "disable" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A size as nats-server's `getStorageSize` reads it: an integer (the lexer has applied a
/// `64MB` suffix already) or a string with a suffix.
fn size(r: &mut Reader, key: &Spanned<String>, v: &Spanned<Value>) -> Option<i64> {
    match &v.value {
        Value::Int(n) => Some(*n),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, suffix) = s.split_at(digits);
            let mult: i64 = match suffix.trim().to_ascii_uppercase().as_str() {
                "" => 1,
                "K" | "KB" => 1 << 10,
                "M" | "MB" => 1 << 20,
                "G" | "GB" => 1 << 30,
                "T" | "TB" => 1 << 40,
                _ => 0,
            };
            match num.parse::<i64>() {
                Ok(n) if mult > 0 => Some(n.saturating_mul(mult)),
                _ => {
                    r.error(&key.pos, format!("error parsing {}: {s:?}", key.value));
                    None
                }
            }
        }
        _ => {
            r.error(
                &key.pos,
                format!("error parsing {}: unsupported type", key.value),
            );
            None
        }
    }
}

/// The top-level `jetstream` key. The block's `store_dir` is returned beside the options,
/// as nats-server keeps one store directory for the flag, the top-level key and the block.
pub(crate) fn parse_jetstream(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
    store_dir: &mut Option<std::path::PathBuf>,
) -> Option<JetStreamOptions> {
    if let Some(on) = switch(&v.value) {
        return Some(JetStreamOptions {
            enabled: on,
            ..JetStreamOptions::default()
        });
    }
    let Value::Map(m) = &v.value else {
        r.error(
            &key.pos,
            format!(
                "Expected map, bool or string to define JetStream, got {}",
                super::cluster::go_type(&v.value)
            ),
        );
        return None;
    };
    let mut o = JetStreamOptions {
        enabled: true,
        ..JetStreamOptions::default()
    };
    for (i, (k, mv)) in m.iter().enumerate() {
        match k.value.to_lowercase().as_str() {
            "store" | "store_dir" | "storedir" => {
                if let Some(d) = r.string(k, mv) {
                    *store_dir = (!d.is_empty()).then(|| d.into());
                }
            }
            "max_memory_store" | "max_mem_store" | "max_mem" => o.max_memory = size(r, k, mv),
            "max_file_store" | "max_file" => o.max_store = size(r, k, mv),
            "sync_interval" | "sync" => match &mv.value {
                Value::String(s) if s.eq_ignore_ascii_case("always") => {
                    o.sync_always = true;
                    o.sync_interval = Duration::from_secs(120);
                }
                _ => {
                    if let Some(d) = r.duration(k, mv) {
                        o.sync_interval = d;
                    }
                }
            },
            "domain" => {
                if let Some(d) = r.string(k, mv) {
                    o.domain = d;
                }
            }
            "strict" => {
                if let Some(b) = r.boolean(k, mv) {
                    o.strict = b;
                }
            }
            "enabled" | "enable" => {
                if let Some(b) = r.boolean(k, mv) {
                    o.enabled = b;
                }
            }
            "key" | "ek" | "encryption_key" | "prev_key" | "prev_ek" | "cipher" => {
                r.ignore(k, "JetStream encryption")
            }
            "max_buffered_msgs" => {
                if let Some(n) = r.int(k, mv) {
                    o.max_buffered_msgs = n;
                }
            }
            "max_buffered_size" => {
                if let Some(n) = size(r, k, mv) {
                    o.max_buffered_size = n;
                }
            }
            "limits"
            | "request_queue_limit"
            | "info_queue_limit"
            | "max_outstanding_catchup"
            | "unique_tag"
            | "tpm"
            | "extension_hint"
            | "max_concurrent_io"
            | "meta_compact"
            | "meta_compact_size"
            | "meta_compact_sync" => r.ignore(k, "this JetStream tuning knob"),
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    Some(o)
}

/// An account's JetStream limits (nats-server's `JetStreamAccountLimits`); -1 is
/// unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub max_memory: i64,
    pub max_store: i64,
    pub max_streams: i64,
    pub max_consumers: i64,
    pub max_ack_pending: i64,
    pub memory_max_stream_bytes: i64,
    pub store_max_stream_bytes: i64,
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            max_memory: -1,
            max_store: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            store_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

/// An account's `jetstream` key (nats-server's `parseJetStreamForAccount`): whether it
/// enables JetStream for the account, and the limits of its block.
pub(crate) fn account_jetstream(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> (bool, AccountLimits) {
    let mut limits = AccountLimits::default();
    if let Some(on) = switch(&v.value) {
        return (on, limits);
    }
    let Value::Map(m) = &v.value else {
        r.error(
            &key.pos,
            format!(
                "Expected map, bool or string to define JetStream, got {}",
                super::cluster::go_type(&v.value)
            ),
        );
        return (false, limits);
    };
    for (i, (k, mv)) in m.iter().enumerate() {
        let slot = match k.value.to_lowercase().as_str() {
            "max_memory" | "max_mem" | "mem" | "memory" => &mut limits.max_memory,
            "max_store" | "max_file" | "max_disk" | "store" | "disk" => &mut limits.max_store,
            "max_streams" | "streams" => &mut limits.max_streams,
            "max_consumers" | "consumers" => &mut limits.max_consumers,
            "max_ack_pending" => &mut limits.max_ack_pending,
            "mem_max_stream_bytes" | "memory_max_stream_bytes" => {
                &mut limits.memory_max_stream_bytes
            }
            "disk_max_stream_bytes" | "store_max_stream_bytes" => {
                &mut limits.store_max_stream_bytes
            }
            "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                if let Some(b) = r.boolean(k, mv) {
                    limits.max_bytes_required = b;
                }
                continue;
            }
            "cluster_traffic" => {
                r.ignore(k, "JetStream cluster traffic");
                continue;
            }
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
                continue;
            }
        };
        if let Some(n) = size(r, k, mv) {
            *slot = n;
        }
    }
    (true, limits)
}
