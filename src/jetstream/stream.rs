//! One stream: its configuration, its store, and what nats-server does with a message
//! published to it (the `Nats-Expected-*`, `Nats-Msg-Id` and `Nats-Rollup` headers, the
//! limits and discard policy, `max_age`), plus purge, get and the stream's directory.
//!
//! On disk a stream is `<store_dir>/jetstream/<account>/streams/<name>/`: `meta.inf` (the
//! configuration and creation time, replaced atomically: written to a temporary file,
//! synced, renamed, and the directory synced) and the file store's `msgs/`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::{Discard, Retention, Storage, StreamConfig};
use super::errors::ApiError;
use super::headers;
use super::json::{self, Time};
use super::store::file::{self as file_store, FileStore};
use super::store::fs::{Fs, StdFs};
use super::store::mem::MemStore;
use super::store::{StoreError, StoredMsg, StreamStore};
use super::ttl::{self, Expiries};
use crate::subject;
use crate::subject::transform::Transform;

const META: &str = "meta.inf";

/// What `meta.inf` holds.
#[derive(Serialize, Deserialize)]
struct Meta {
    created: Time,
    config: StreamConfig,
}

/// The outcome of a publish to a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Ingest {
    Stored(u64),
    /// A `Nats-Msg-Id` seen within the duplicate window: the original's sequence.
    Duplicate(u64),
    Refused(ApiError),
}

pub struct Stream {
    pub cfg: StreamConfig,
    pub created: i64,
    pub store: Box<dyn StreamStore + Send>,
    /// None for a memory stream.
    dir: Option<PathBuf>,
    /// `Nats-Msg-Id` → sequence, and the ids in arrival order with their times.
    dedupe: HashMap<String, u64>,
    dedupe_order: VecDeque<(i64, String)>,
    last_msg_id: String,
    /// Messages with a `Nats-TTL`.
    expiries: Expiries,
    /// `subject_transform` and `republish` (with `headers_only`).
    input: Option<Transform>,
    republish: Option<(Transform, bool)>,
    /// Republished messages (subject, headers, payload) for the service to send.
    pub republished: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// Stored since the last flush.
    pub unflushed: bool,
    /// Flushed since the last sync.
    pub unsynced: bool,
    /// How many consumers it has (an interest stream keeps messages only for them).
    pub consumer_count: usize,
}

fn io_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn open_store(
    fs: Arc<dyn Fs>,
    cfg: &StreamConfig,
    dir: Option<&Path>,
) -> Result<(Box<dyn StreamStore + Send>, Vec<String>), String> {
    match (cfg.storage, dir) {
        (Storage::File, Some(dir)) => {
            let (store, notes) = FileStore::open(fs, dir, file_store::Config::default())
                .map_err(|e| e.to_string())?;
            Ok((Box::new(store), notes))
        }
        _ => Ok((Box::new(MemStore::new()), Vec::new())),
    }
}

impl Stream {
    /// A new stream; a file stream's directory is created and its `meta.inf` written.
    pub fn create(dir: Option<PathBuf>, cfg: StreamConfig) -> Result<Stream, String> {
        Stream::create_on(Arc::new(StdFs), dir, cfg)
    }

    /// [`Stream::create`] with the messages on the file layer `fs` (tests use a simulated
    /// disk; `meta.inf` is always a real file).
    pub fn create_on(
        fs: Arc<dyn Fs>,
        dir: Option<PathBuf>,
        cfg: StreamConfig,
    ) -> Result<Stream, String> {
        let created = json::now_nanos();
        let dir = if cfg.storage == Storage::File {
            dir
        } else {
            None
        };
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(io_err)?;
        }
        let (store, _) = open_store(fs, &cfg, dir.as_deref())?;
        let mut s = Stream {
            cfg,
            created,
            store,
            dir,
            dedupe: HashMap::new(),
            dedupe_order: VecDeque::new(),
            last_msg_id: String::new(),
            expiries: Expiries::default(),
            input: None,
            republish: None,
            republished: Vec::new(),
            unflushed: false,
            unsynced: false,
            consumer_count: 0,
        };
        s.write_meta()?;
        s.build_transforms();
        if s.cfg.first_seq > 1 && s.store.state().last_seq == 0 {
            s.store
                .compact(s.cfg.first_seq)
                .map_err(|e| e.to_string())?;
            s.store.sync().map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    /// A file stream found on disk. Returns it and what recovery noted for the log.
    pub fn recover(dir: &Path) -> Result<(Stream, Vec<String>), String> {
        let raw = std::fs::read(dir.join(META)).map_err(io_err)?;
        let meta: Meta = serde_json::from_slice(&raw).map_err(io_err)?;
        let (store, notes) = open_store(Arc::new(StdFs), &meta.config, Some(dir))?;
        let mut s = Stream {
            cfg: meta.config,
            created: meta.created.0,
            store,
            dir: Some(dir.to_path_buf()),
            dedupe: HashMap::new(),
            dedupe_order: VecDeque::new(),
            last_msg_id: String::new(),
            expiries: Expiries::default(),
            input: None,
            republish: None,
            republished: Vec::new(),
            unflushed: false,
            unsynced: false,
            consumer_count: 0,
        };
        s.rebuild_dedupe();
        s.rebuild_expiries();
        s.build_transforms();
        Ok((s, notes))
    }

    /// The transforms of the configuration (checked when it was accepted).
    fn build_transforms(&mut self) {
        self.input = self
            .cfg
            .subject_transform
            .as_ref()
            .and_then(|t| Transform::new(&t.src, &t.dest).ok());
        self.republish = self.cfg.republish.as_ref().and_then(|r| {
            Transform::new(&r.src, &r.dest)
                .ok()
                .map(|t| (t, r.headers_only))
        });
    }

    /// The TTLs of the stored messages, read back from their headers.
    fn rebuild_expiries(&mut self) {
        if !self.cfg.allow_msg_ttl {
            return;
        }
        let st = self.store.state();
        let mut seq = st.first_seq;
        while seq <= st.last_seq && st.msgs > 0 {
            if let Ok(Some(m)) = self.store.load(seq) {
                if let Some(secs) = headers::get_str(&m.headers, "Nats-TTL").and_then(ttl::parse) {
                    self.expiries.track(seq, m.ts, secs);
                }
            }
            seq += 1;
        }
    }

    /// The ids of the messages still inside the duplicate window, read back from the store.
    fn rebuild_dedupe(&mut self) {
        let st = self.store.state();
        if st.msgs == 0 {
            return;
        }
        let floor = json::now_nanos() - self.cfg.duplicate_window;
        let mut found = Vec::new();
        let mut seq = st.last_seq;
        while seq >= st.first_seq && seq > 0 {
            if let Ok(Some(m)) = self.store.load(seq) {
                if m.ts < floor {
                    break;
                }
                if let Some(id) = headers::get_str(&m.headers, "Nats-Msg-Id") {
                    if seq == st.last_seq {
                        self.last_msg_id = id.to_string();
                    }
                    found.push((m.ts, id.to_string(), seq));
                }
            }
            seq -= 1;
        }
        for (ts, id, seq) in found.into_iter().rev() {
            self.dedupe.insert(id.clone(), seq);
            self.dedupe_order.push_back((ts, id));
        }
    }

    fn write_meta(&self) -> Result<(), String> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let meta = Meta {
            created: Time(self.created),
            config: self.cfg.clone(),
        };
        let body = serde_json::to_vec(&meta).map_err(io_err)?;
        crate::durable::write_atomically(&dir.join(META), &body)
    }

    /// Replaces the configuration (already checked), and applies lowered limits at once.
    pub fn update(&mut self, cfg: StreamConfig) -> Result<(), String> {
        let old = std::mem::replace(&mut self.cfg, cfg);
        if let Err(e) = self.write_meta() {
            self.cfg = old;
            return Err(e);
        }
        self.build_transforms();
        if self.cfg.retention == Retention::Interest
            && old.retention != Retention::Interest
            && self.consumer_count == 0
        {
            // Nothing has interest in what is stored.
            let _ = self.store.purge();
        }
        self.enforce_limits(None);
        self.expire(json::now_nanos());
        self.unflushed = true;
        Ok(())
    }

    /// Removes the stream's directory (after it was deleted).
    pub fn remove_files(&self) -> Result<(), String> {
        match &self.dir {
            Some(d) => std::fs::remove_dir_all(d).map_err(io_err),
            None => Ok(()),
        }
    }

    /// The stream's directory (file streams).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn is_file(&self) -> bool {
        self.dir.is_some()
    }

    /// Stores a published message, as nats-server's `processJetStreamMsg` checks it.
    pub fn ingest(&mut self, subject: &[u8], hdrs: &[u8], payload: &[u8], now: i64) -> Ingest {
        let transformed = self
            .input
            .as_ref()
            .and_then(|t| std::str::from_utf8(subject).ok().and_then(|s| t.apply(s)));
        let subject = transformed.as_deref().map_or(subject, str::as_bytes);
        match self.check_publish(subject, hdrs, payload, now) {
            Ok(Some(dup)) => return Ingest::Duplicate(dup),
            Ok(None) => {}
            Err(e) => return Ingest::Refused(e),
        }
        // A TTL below the subject delete marker TTL is raised to it, header and all.
        let mut ttl_secs = headers::get_str(hdrs, "Nats-TTL")
            .and_then(ttl::parse)
            .unwrap_or(0);
        let sdm_secs = self.cfg.subject_delete_marker_ttl / 1_000_000_000;
        let raised;
        // (Not with one message per subject: there is never an older one to mark.)
        let hdrs = if ttl_secs > 0 && ttl_secs < sdm_secs && self.cfg.max_msgs_per_subject != 1 {
            ttl_secs = sdm_secs;
            raised = headers::set(hdrs, "Nats-TTL", &sdm_secs.to_string());
            &raised[..]
        } else {
            hdrs
        };
        let last_on_subject = match &self.republish {
            Some(_) => self
                .store
                .last_for_subject(subject)
                .ok()
                .flatten()
                .map_or(0, |m| m.seq),
            None => 0,
        };
        let seq = match self.store.store(subject, hdrs, payload, now) {
            Ok(seq) => seq,
            Err(e) => return Ingest::Refused(ApiError::store_failed(e.to_string())),
        };
        self.unflushed = true;
        self.expiries.track(seq, now, ttl_secs);
        self.queue_republish(subject, hdrs, payload, seq, now, last_on_subject);
        let msg_id = headers::get_str(hdrs, "Nats-Msg-Id").unwrap_or_default();
        if !msg_id.is_empty() {
            self.dedupe.insert(msg_id.to_string(), seq);
            self.dedupe_order.push_back((now, msg_id.to_string()));
        }
        self.last_msg_id = msg_id.to_string();
        match headers::get(hdrs, "Nats-Rollup") {
            // nats-server purges with the subject as the filter (a wildcard subject takes
            // every subject it matches), keeping the new message.
            Some(b"sub") => {
                let _ = self.purge(&String::from_utf8_lossy(subject), 0, 1);
            }
            Some(b"all") => {
                let _ = self.store.compact(seq);
            }
            _ => {}
        }
        self.enforce_limits(Some(subject));
        if self.cfg.retention == Retention::Interest && self.consumer_count == 0 {
            // No consumer is interested: acknowledged, not kept.
            let _ = self.store.compact(seq + 1);
        }
        Ingest::Stored(seq)
    }

    /// Republishes a stored message on its transformed subject with nats-server's headers
    /// (`Nats-Msg-Size` and no payload with `headers_only`).
    fn queue_republish(
        &mut self,
        subject: &[u8],
        hdrs: &[u8],
        payload: &[u8],
        seq: u64,
        ts: i64,
        last_on_subject: u64,
    ) {
        let Some((t, headers_only)) = &self.republish else {
            return;
        };
        let subject = String::from_utf8_lossy(subject).into_owned();
        let Some(to) = t.apply(&subject) else {
            return;
        };
        if !crate::subject::is_valid_literal_subject(to.as_bytes()) {
            return;
        }
        let (seq, ts, last) = (
            seq.to_string(),
            json::rfc3339(ts),
            last_on_subject.to_string(),
        );
        let size = payload.len().to_string();
        let mut pairs = vec![
            ("Nats-Stream", self.cfg.name.as_str()),
            ("Nats-Subject", subject.as_str()),
            ("Nats-Sequence", seq.as_str()),
            ("Nats-Time-Stamp", ts.as_str()),
            ("Nats-Last-Sequence", last.as_str()),
        ];
        if *headers_only {
            pairs.push(("Nats-Msg-Size", size.as_str()));
        }
        let out_headers = headers::extend(hdrs, &pairs);
        let out_payload = if *headers_only {
            Vec::new()
        } else {
            payload.to_vec()
        };
        self.republished.push((to, out_headers, out_payload));
    }

    /// The checks before a message is stored; `Ok(Some(seq))` for a duplicate.
    fn check_publish(
        &mut self,
        subject: &[u8],
        hdrs: &[u8],
        payload: &[u8],
        now: i64,
    ) -> Result<Option<u64>, ApiError> {
        if self.cfg.sealed {
            return Err(ApiError::sealed());
        }
        if !hdrs.is_empty() {
            if let Some(want) = headers::get_str(hdrs, "Nats-Expected-Stream") {
                if want != self.cfg.name {
                    return Err(ApiError::expected_stream());
                }
            }
            if headers::get(hdrs, "Nats-TTL").is_some() && !self.cfg.allow_msg_ttl {
                return Err(ApiError::ttl_disabled());
            }
            // Batches and schedules: refused as nats-server refuses them where they are off,
            // and where they are on too, since natrium does not apply them yet.
            if headers::get(hdrs, "Nats-Batch-Id").is_some() {
                return Err(if self.cfg.allow_atomic {
                    ApiError::stream_create("natrium does not support batch publish yet")
                } else {
                    ApiError::atomic_publish_disabled()
                });
            }
            if headers::get(hdrs, "Nats-Schedule").is_some() {
                return Err(if self.cfg.allow_msg_schedules {
                    ApiError::stream_create("natrium does not support message schedules yet")
                } else {
                    ApiError::schedules_disabled()
                });
            }
            let subj_seq = headers::get_str(hdrs, "Nats-Expected-Last-Subject-Sequence");
            let subj_override =
                headers::get_str(hdrs, "Nats-Expected-Last-Subject-Sequence-Subject");
            if let Some(want) = subj_seq {
                let on: &[u8] = match subj_override {
                    Some(s) if !s.is_empty() => s.as_bytes(),
                    _ => subject,
                };
                let last = self.last_seq_matching(on);
                if want.parse::<u64>().ok() != Some(last) {
                    return Err(ApiError::wrong_last_sequence(last));
                }
            } else if subj_override.is_some() {
                return Err(ApiError::missing_subject_sequence());
            }
            if let Some(want) = headers::get_str(hdrs, "Nats-Expected-Last-Sequence") {
                let last = self.store.state().last_seq;
                if want.parse::<u64>().ok() != Some(last) {
                    return Err(ApiError::wrong_last_sequence(last));
                }
            }
            self.forget_old_ids(now);
            if let Some(id) = headers::get_str(hdrs, "Nats-Msg-Id") {
                if let Some(&seq) = self.dedupe.get(id) {
                    return Ok(Some(seq));
                }
            }
            if let Some(want) = headers::get_str(hdrs, "Nats-Expected-Last-Msg-Id") {
                if want != self.last_msg_id {
                    return Err(ApiError::wrong_last_msg_id(&self.last_msg_id));
                }
            }
            if let Some(v) = headers::get_str(hdrs, "Nats-Rollup") {
                if !self.cfg.allow_rollup_hdrs || self.cfg.deny_purge {
                    return Err(ApiError::rollup_not_permitted());
                }
                if v != "sub" && v != "all" {
                    return Err(ApiError::rollup_invalid(v));
                }
            }
        }
        if self.cfg.max_msg_size >= 0 && (hdrs.len() + payload.len()) as i64 > self.cfg.max_msg_size
        {
            return Err(ApiError::message_too_large());
        }
        if hdrs.len() > u16::MAX as usize {
            return Err(ApiError::header_too_large());
        }
        if let Some(v) = headers::get_str(hdrs, "Nats-TTL") {
            if ttl::parse(v).is_none() {
                return Err(ApiError::ttl_invalid());
            }
        }
        if self.cfg.discard == Discard::New {
            let st = self.store.state();
            if self.cfg.max_msgs > 0 && st.msgs as i64 >= self.cfg.max_msgs {
                return Err(ApiError::store_failed("maximum messages exceeded"));
            }
            if self.cfg.max_bytes > 0 {
                let size = self.record_size(subject, hdrs, payload);
                if (st.bytes + size) as i64 > self.cfg.max_bytes {
                    return Err(ApiError::store_failed("maximum bytes exceeded"));
                }
            }
            if self.cfg.discard_new_per_subject
                && self.cfg.max_msgs_per_subject > 0
                && self.store.subject_msgs(subject) as i64 >= self.cfg.max_msgs_per_subject
            {
                return Err(ApiError::store_failed(
                    "maximum messages per subject exceeded",
                ));
            }
        }
        Ok(None)
    }

    fn record_size(&self, subject: &[u8], hdrs: &[u8], payload: &[u8]) -> u64 {
        if self.is_file() {
            super::store::file_store_size(subject.len(), hdrs.len(), payload.len())
        } else {
            super::store::mem_store_size(subject.len(), hdrs.len(), payload.len())
        }
    }

    fn forget_old_ids(&mut self, now: i64) {
        let floor = now - self.cfg.duplicate_window;
        while let Some((ts, _)) = self.dedupe_order.front() {
            if *ts >= floor {
                break;
            }
            if let Some((_, id)) = self.dedupe_order.pop_front() {
                self.dedupe.remove(&id);
            }
        }
    }

    /// The newest sequence on subjects matching `filter` (0 when none).
    pub fn last_seq_matching(&mut self, filter: &[u8]) -> u64 {
        self.last_matching(filter)
            .ok()
            .flatten()
            .map_or(0, |m| m.seq)
    }

    /// The newest message on subjects matching `filter` (a literal or a wildcard).
    pub fn last_matching(&mut self, filter: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        if subject::is_literal(filter) {
            return self.store.last_for_subject(filter);
        }
        let mut best: Option<StoredMsg> = None;
        for (subj, _) in self.store.subjects() {
            if subject::matches(filter, &subj) {
                if let Some(m) = self.store.last_for_subject(&subj)? {
                    if best.as_ref().is_none_or(|b| m.seq > b.seq) {
                        best = Some(m);
                    }
                }
            }
        }
        Ok(best)
    }

    /// The first message at or after `seq` on a subject matching `filter` (any when empty).
    pub fn next_matching(
        &mut self,
        seq: u64,
        filter: &[u8],
    ) -> Result<Option<StoredMsg>, StoreError> {
        let st = self.store.state();
        let mut s = seq.max(st.first_seq);
        while s <= st.last_seq && st.msgs > 0 {
            if let Some(m) = self.store.load(s)? {
                if filter.is_empty() || subject::matches(filter, &m.subject) {
                    return Ok(Some(m));
                }
            }
            s += 1;
        }
        Ok(None)
    }

    /// Applies `max_msgs`, `max_bytes` and `max_msgs_per_subject` by dropping the oldest
    /// messages (discard old; with discard new the publish was refused before).
    fn enforce_limits(&mut self, subject: Option<&[u8]>) {
        let per = self.cfg.max_msgs_per_subject;
        if per > 0 {
            let subjects: Vec<Vec<u8>> = match subject {
                Some(s) => vec![s.to_vec()],
                None => self.store.subjects().into_iter().map(|(s, _)| s).collect(),
            };
            for s in subjects {
                while self.store.subject_msgs(&s) as i64 > per {
                    match self.store.first_for_subject(&s) {
                        Ok(Some(m)) if matches!(self.store.remove(m.seq, false), Ok(true)) => {}
                        _ => break,
                    }
                }
            }
        }
        loop {
            let st = self.store.state();
            let over_msgs = self.cfg.max_msgs > 0 && st.msgs as i64 > self.cfg.max_msgs;
            let over_bytes = self.cfg.max_bytes > 0 && st.bytes as i64 > self.cfg.max_bytes;
            if !(over_msgs || over_bytes) || st.msgs == 0 {
                break;
            }
            if !matches!(self.store.remove(st.first_seq, false), Ok(true)) {
                break;
            }
        }
    }

    /// Removes messages older than `max_age` (but those whose TTL is `never`) and those
    /// whose TTL has passed; returns whether any went. With subject delete markers, a
    /// subject's last message is replaced by a marker (nats-server's `MaxAge` marker, a
    /// roll-up of the subject with the marker TTL) instead.
    pub fn expire(&mut self, now: i64) -> bool {
        let mut victims = self.expiries.due(now);
        if self.cfg.max_age > 0 {
            let floor = now - self.cfg.max_age;
            let st = self.store.state();
            let mut seq = st.first_seq;
            while seq <= st.last_seq && st.msgs > 0 {
                match self.store.load(seq) {
                    Ok(Some(m)) if m.ts >= floor => break,
                    Ok(Some(_)) if !self.expiries.never_expires(seq) => victims.push(seq),
                    _ => {}
                }
                seq += 1;
            }
        }
        if victims.is_empty() {
            return false;
        }
        victims.sort_unstable();
        victims.dedup();
        let sdm_secs = self.cfg.subject_delete_marker_ttl / 1_000_000_000;
        for seq in victims {
            let Ok(Some(m)) = self.store.load(seq) else {
                continue;
            };
            let marker = headers::get(&m.headers, "Nats-Marker-Reason").is_some();
            if sdm_secs > 0 && !marker && self.store.subject_msgs(&m.subject) == 1 {
                let hdrs = headers::block(
                    "",
                    &[
                        ("Nats-Marker-Reason", "MaxAge"),
                        ("Nats-TTL", &ttl::header_value(sdm_secs)),
                        ("Nats-Rollup", "sub"),
                    ],
                );
                if !matches!(self.ingest(&m.subject, &hdrs, b"", now), Ingest::Stored(_)) {
                    let _ = self.store.remove(seq, false);
                }
            } else {
                let _ = self.store.remove(seq, false);
            }
            self.expiries.forget(seq);
        }
        self.unflushed = true;
        true
    }

    /// `STREAM.PURGE`: everything (below `seq`, or all but the last `keep`), of the
    /// subjects matching `filter` when given. Returns how many went.
    pub fn purge(&mut self, filter: &str, seq: u64, keep: u64) -> Result<u64, StoreError> {
        self.unflushed = true;
        let st = self.store.state();
        if filter.is_empty() || filter == ">" {
            if seq > 0 {
                return self.store.compact(seq);
            }
            if keep > 0 {
                if keep >= st.msgs {
                    return Ok(0);
                }
                // The sequence of the keep-th newest message.
                let mut left = keep;
                let mut s = st.last_seq;
                while s >= st.first_seq {
                    if self.store.load(s)?.is_some() {
                        left -= 1;
                        if left == 0 {
                            break;
                        }
                    }
                    s -= 1;
                }
                return self.store.compact(s);
            }
            return self.store.purge();
        }
        let f = filter.as_bytes();
        let mut matching = Vec::new();
        let mut s = st.first_seq;
        while s <= st.last_seq && st.msgs > 0 {
            if let Some(m) = self.store.load(s)? {
                if subject::matches(f, &m.subject) {
                    matching.push(s);
                }
            }
            s += 1;
        }
        let mut doomed: Vec<u64> = matching
            .iter()
            .copied()
            .filter(|&s| seq == 0 || s < seq)
            .collect();
        if keep > 0 {
            let n = matching.len().saturating_sub(keep as usize);
            doomed.truncate(n);
        }
        let mut purged = 0;
        for s in doomed {
            if self.store.remove(s, false)? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// The first sequence stored at or after `ts` (`last_seq + 1` when none is).
    pub fn seq_from_time(&mut self, ts: i64) -> u64 {
        let st = self.store.state();
        let mut seq = st.first_seq;
        while seq <= st.last_seq && st.msgs > 0 {
            if let Ok(Some(m)) = self.store.load(seq) {
                if m.ts >= ts {
                    return seq;
                }
            }
            seq += 1;
        }
        st.last_seq + 1
    }

    /// Messages at or after `seq` on subjects matching `filter` (all when empty).
    pub fn num_pending(&mut self, seq: u64, filter: &[u8]) -> u64 {
        let st = self.store.state();
        let mut n = 0;
        let mut s = seq.max(st.first_seq);
        while s <= st.last_seq && st.msgs > 0 {
            if let Ok(Some(m)) = self.store.load(s) {
                if filter.is_empty() || subject::matches(filter, &m.subject) {
                    n += 1;
                }
            }
            s += 1;
        }
        n
    }

    /// For each subject matching any of `filters`, its last sequence at or below `up_to`;
    /// in sequence order.
    pub fn multi_last_seqs(
        &mut self,
        filters: &[String],
        up_to: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let st = self.store.state();
        let mut last: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut s = st.first_seq;
        while s <= st.last_seq.min(up_to) && st.msgs > 0 {
            if let Some(m) = self.store.load(s)? {
                if filters
                    .iter()
                    .any(|f| subject::matches(f.as_bytes(), &m.subject))
                {
                    last.insert(m.subject, s);
                }
            }
            s += 1;
        }
        let mut seqs: Vec<u64> = last.into_values().collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The sequences between first and last that are gone (`deleted_details`).
    pub fn deleted(&mut self) -> Vec<u64> {
        let st = self.store.state();
        let mut gone = Vec::new();
        if st.msgs == 0 {
            return gone;
        }
        for seq in st.first_seq..=st.last_seq {
            if gone.len() as u64 >= st.num_deleted {
                break;
            }
            if !matches!(self.store.load(seq), Ok(Some(_))) {
                gone.push(seq);
            }
        }
        gone
    }

    /// Makes what was stored survive `kill -9`, and power loss when `sync` is set.
    pub fn make_safe(&mut self, sync: bool) -> Result<(), StoreError> {
        if self.unflushed {
            self.store.flush()?;
            self.unflushed = false;
            self.unsynced = true;
        }
        if sync && self.unsynced {
            self.store.sync()?;
            self.unsynced = false;
        }
        Ok(())
    }
}
