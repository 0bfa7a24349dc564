//! JetStream (issues 18 and 19): streams, and later consumers, Key-Value and Object Store.
//!
//! One thread ([`service`]) owns every stream and its store ([`store`]: natrium's own
//! file store, and the memory store). It is reached like a subscriber: reactor 0 holds
//! its internal subscriptions (`$JS.API.…` and every stream's subjects) in the subject
//! index and hands it what matches; it answers by publishing through reactor 0. No
//! reactor ever waits on its disk.
//!
//! - [`api`]: the `$JS.API` requests, pub acks and direct gets, with nats-server's JSON;
//! - [`config`]: stream configuration defaults and checks;
//! - [`stream`]: one stream (publish checks, limits, purge, its directory);
//! - [`json`], [`errors`], [`headers`]: Go's JSON, nats-server's errors, header blocks.
//!
//! Built so far: streams (limits retention) on one server. Consumers, KV and Object Store
//! (issue 19) come next; until then consumer requests are refused.

pub mod api;
pub mod config;
pub mod consumer;
pub mod direct;
pub mod errors;
pub mod headers;
pub mod json;
pub mod service;
pub mod store;
pub mod stream;
pub mod ttl;

use std::path::PathBuf;

pub use service::{
    ingest_size, InMsg, Inbound, IngestQueue, InternalSub, OutMsg, Outlet, SharedStats, Stats,
};

use crate::config::Options;

/// The store root nats-server uses: `<store_dir>/jetstream`, the store directory being
/// `$TMPDIR/nats` when none is set.
pub fn store_root(opts: &Options) -> (PathBuf, bool) {
    match &opts.store_dir {
        Some(d) => (d.join("jetstream"), false),
        None => (std::env::temp_dir().join("nats").join("jetstream"), true),
    }
}

/// 75% of the system's memory, as nats-server defaults `max_memory_store`.
fn default_max_memory() -> i64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(256 << 20);
    total / 4 * 3
}

/// 75% of the free space where the store lives (1 TiB when it cannot be read).
fn default_max_store(root: &std::path::Path) -> i64 {
    let mut probe = root.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    match rustix::fs::statvfs(&probe) {
        Ok(st) => (st.f_bavail as i64).saturating_mul(st.f_frsize as i64) / 4 * 3,
        Err(_) => 1 << 40,
    }
}

/// The service settings from the options (the store directory is created).
pub fn settings(opts: &Options, server_name: &str) -> Result<service::Settings, String> {
    let (root, _) = store_root(opts);
    std::fs::create_dir_all(&root).map_err(|e| {
        // Go's MkdirAll names the first directory it could not make.
        let first_missing = root
            .ancestors()
            .take_while(|p| !p.exists())
            .last()
            .unwrap_or(&root);
        format!(
            "Can't start JetStream: could not create storage directory - mkdir {}: {}",
            first_missing.display(),
            go_errno(&e)
        )
    })?;
    let js = &opts.jetstream;
    let s = service::Settings {
        max_memory: js.max_memory.unwrap_or_else(default_max_memory),
        max_store: js.max_store.unwrap_or_else(|| default_max_store(&root)),
        root,
        sync_always: js.sync_always,
        sync_interval: js.sync_interval,
        strict: js.strict,
        domain: js.domain.clone(),
        server_name: server_name.to_string(),
    };
    Ok(s)
}

/// Logs what nats-server logs when JetStream starts.
pub fn log_start(s: &service::Settings, opts: &Options) {
    let (_, temporary) = store_root(opts);
    log::info!("Starting JetStream");
    if temporary {
        log::warn!("Temporary storage directory used, data could be lost on system reboot");
    }
    log::info!("----------------------------------------------------------------");
    log::info!("  Strict:          {}", s.strict);
    log::info!("  Max Memory:      {}", human_bytes(s.max_memory));
    log::info!("  Max Storage:     {}", human_bytes(s.max_store));
    log::info!("  Store Directory: \"{}\"", s.root.display());
    if !s.domain.is_empty() {
        log::info!("  Domain:          {}", s.domain);
    }
    log::info!("  API Level:       {}", crate::proto::info::JS_API_LEVEL);
    log::info!("----------------------------------------------------------------");
}

/// An OS error as Go writes it: "no such file or directory".
fn go_errno(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// nats-server's `friendlyBytes`.
fn human_bytes(n: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", units[i])
    }
}
