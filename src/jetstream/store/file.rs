//! The file store of one stream: segment files `msgs/<n>.blk`, each a run of records
//! ([`super::record`]), the last one taking appends; an index in memory (per message: its
//! segment offset, length and subject) rebuilt by reading the segments at start-up.
//!
//! - **Writes** go to a buffer of the active segment; [`FileStore::flush`] writes it to the
//!   file, [`FileStore::sync`] also syncs every segment written since the last sync (and the
//!   directory when segments were created). A segment rolls over at `block_size`.
//! - **Deletes** append a tombstone (a secure erase also overwrites the record in place,
//!   keeping its length, so a crash in the middle leaves a record the scan steps over);
//!   purges append a marker "every sequence below N is gone", which also keeps `last_seq`
//!   across restarts once the messages themselves are gone. A head segment with no message
//!   left is removed (after a sync, so the tombstones that emptied it are durable first);
//!   a tombstone only ever refers to its own or an earlier segment, so removing from the
//!   head never brings a deleted message back.
//! - **Recovery** reads every segment in order. A record that does not decode ends that
//!   segment's good part: the file is truncated there and a note is returned for the log,
//!   unless it is one whose length is intact and a good record (or the end) follows it,
//!   which is stepped over. Corrupt bytes are never served and never stop the start-up;
//!   what they held is lost, and said so.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fs::{Fs, FsFile};
use super::record::{self, Decoded, Kind};
use super::{file_store_size, State, StoreError, StoredMsg, StreamStore};

/// nats-server's default block size.
pub const DEFAULT_BLOCK_SIZE: u64 = 8 * 1024 * 1024;

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Config {
    /// A segment takes appends until it is this large.
    pub block_size: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }
}

/// Where a message's record is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    offset: u32,
    len: u32,
    subject: u32,
}

/// In `Loc::len`: the message has headers (records are far below 2 GiB).
const HAS_HEADERS: u32 = 1 << 31;

impl Loc {
    const GONE: Loc = Loc {
        offset: ABSENT,
        len: 0,
        subject: 0,
    };

    fn new(offset: usize, len: usize, headers: bool, subject: u32) -> Loc {
        Loc {
            offset: offset as u32,
            len: len as u32 | if headers { HAS_HEADERS } else { 0 },
            subject,
        }
    }

    fn present(&self) -> bool {
        self.offset != ABSENT
    }

    fn record_len(&self) -> usize {
        (self.len & !HAS_HEADERS) as usize
    }

    /// nats-server's size of the message: the record's subject, headers and payload, plus
    /// its formula's 30 (and 4 with headers).
    fn size(&self) -> u64 {
        let parts = self.record_len() - record::OVERHEAD;
        let hdr = if self.len & HAS_HEADERS != 0 { 4 } else { 0 };
        (parts + 30 + hdr) as u64
    }
}

struct Segment {
    id: u64,
    path: PathBuf,
    file: Box<dyn FsFile>,
    /// The sequence of `locs[0]`.
    first_seq: u64,
    locs: Vec<Loc>,
    /// Bytes in the file (the active segment's buffer comes after them).
    written: u64,
    live: u64,
}

impl Segment {
    fn loc(&self, seq: u64) -> Option<Loc> {
        let i = seq.checked_sub(self.first_seq)?;
        self.locs.get(i as usize).copied().filter(Loc::present)
    }

    fn end_seq(&self) -> u64 {
        self.first_seq + self.locs.len() as u64
    }
}

#[derive(Debug, Clone)]
struct Subject {
    name: Box<[u8]>,
    msgs: u64,
    /// 0: not known (found when asked, from `first_from` on).
    first: u64,
    /// No message of the subject is below this: where a search for `first` starts.
    first_from: u64,
    last: u64,
}

/// One stream's messages on disk.
pub struct FileStore {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    cfg: Config,
    segments: Vec<Segment>,
    /// Records of the active segment not written yet.
    pending: Vec<u8>,
    /// Segments written since the last sync, by id.
    unsynced: BTreeSet<u64>,
    /// Segment files created or removed since the last sync.
    dir_dirty: bool,
    subjects: Vec<Subject>,
    subject_ids: HashMap<Box<[u8]>, u32>,
    state: State,
}

fn segment_name(id: u64) -> String {
    format!("{id}.blk")
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, recovering what the segments hold. Returns
    /// the store and what recovery had to do (truncations, skipped records) for the log.
    pub fn open(
        fs: Arc<dyn Fs>,
        dir: &Path,
        cfg: Config,
    ) -> Result<(FileStore, Vec<String>), StoreError> {
        let dir = dir.join("msgs");
        fs.create_dir_all(&dir)?;
        let mut ids: Vec<u64> = fs
            .list(&dir)?
            .iter()
            .filter_map(|n| n.strip_suffix(".blk")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut store = FileStore {
            fs,
            dir,
            cfg,
            segments: Vec::new(),
            pending: Vec::new(),
            unsynced: BTreeSet::new(),
            dir_dirty: false,
            subjects: Vec::new(),
            subject_ids: HashMap::new(),
            state: State::default(),
        };
        let mut notes = Vec::new();
        let mut floor = 0u64;
        for id in ids {
            store.recover_segment(id, &mut floor, &mut notes)?;
        }
        if store.segments.is_empty() {
            store.new_segment(1)?;
        }
        store.state.first_seq = floor.max(store.state.first_seq);
        store.settle_first();
        Ok((store, notes))
    }

    fn recover_segment(
        &mut self,
        id: u64,
        floor: &mut u64,
        notes: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let path = self.dir.join(segment_name(id));
        let data = self.fs.read(&path)?;
        let file = self.fs.open(&path)?;
        let next_seq = self.state.last_seq + 1;
        self.segments.push(Segment {
            id,
            path: path.clone(),
            file,
            first_seq: next_seq,
            locs: Vec::new(),
            written: 0,
            live: 0,
        });
        let seg = self.segments.len() - 1;
        let mut pos = 0usize;
        let mut last_msg_seq = self.state.last_seq;
        while pos < data.len() {
            let rest = &data[pos..];
            match record::decode(rest) {
                Decoded::Record(r, len) => {
                    match r.kind {
                        Kind::Msg | Kind::Erased if r.seq <= last_msg_seq => {
                            notes.push(format!(
                                "{}: record at offset {pos} repeats sequence {}; skipped",
                                path.display(),
                                r.seq
                            ));
                        }
                        Kind::Msg | Kind::Erased => {
                            last_msg_seq = r.seq;
                            let s = &mut self.segments[seg];
                            if s.locs.is_empty() {
                                s.first_seq = r.seq;
                            }
                            while s.end_seq() < r.seq {
                                s.locs.push(Loc::GONE);
                            }
                            if r.kind == Kind::Msg && r.seq >= *floor {
                                let subject = self.intern(r.subject);
                                let s = &mut self.segments[seg];
                                s.locs
                                    .push(Loc::new(pos, len, !r.headers.is_empty(), subject));
                                s.live += 1;
                                self.account_add(
                                    r.seq,
                                    subject,
                                    file_store_size(
                                        r.subject.len(),
                                        r.headers.len(),
                                        r.payload.len(),
                                    ),
                                );
                            } else {
                                self.segments[seg].locs.push(Loc::GONE);
                            }
                            self.note_last(r.seq, r.ts);
                        }
                        Kind::Filler => {}
                        Kind::Delete => {
                            self.forget(r.seq);
                            if r.seq >= self.state.last_seq {
                                self.note_last(r.seq, r.ts);
                            }
                        }
                        Kind::Purge => {
                            self.forget_below(r.seq);
                            *floor = (*floor).max(r.seq);
                            if r.seq > self.state.last_seq {
                                self.note_last(r.seq - 1, r.ts);
                            }
                        }
                    }
                    pos += len;
                }
                Decoded::Corrupt(len)
                    if pos + len == data.len()
                        || matches!(record::decode(&data[pos + len..]), Decoded::Record(..)) =>
                {
                    notes.push(format!(
                        "{}: corrupt record at offset {pos} ({len} bytes) skipped; what it held is lost",
                        path.display()
                    ));
                    // Made a valid filler in place, so that the next start-up steps over it
                    // without a word.
                    let seg_file = &mut self.segments[seg].file;
                    seg_file.write_at(pos as u64, &record::filler(len))?;
                    seg_file.sync()?;
                    pos += len;
                }
                other => {
                    let what = match other {
                        Decoded::Incomplete => "a torn record",
                        _ => "a corrupt record",
                    };
                    notes.push(format!(
                        "{}: {what} at offset {pos}; truncated from there ({} bytes dropped)",
                        path.display(),
                        data.len() - pos
                    ));
                    self.fs.truncate(&path, pos as u64)?;
                    break;
                }
            }
        }
        self.segments[seg].written = pos as u64;
        Ok(())
    }

    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(id) = self.subject_ids.get(name) {
            return *id;
        }
        let id = self.subjects.len() as u32;
        self.subjects.push(Subject {
            name: name.into(),
            msgs: 0,
            first: 0,
            first_from: 0,
            last: 0,
        });
        self.subject_ids.insert(name.into(), id);
        id
    }

    fn account_add(&mut self, seq: u64, subject: u32, size: u64) {
        let st = &mut self.state;
        st.msgs += 1;
        st.bytes += size;
        if st.msgs == 1 {
            st.first_seq = seq;
        }
        let s = &mut self.subjects[subject as usize];
        if s.msgs == 0 {
            s.first = seq;
            self.state.num_subjects += 1;
        }
        s.msgs += 1;
        s.last = seq;
    }

    fn note_last(&mut self, seq: u64, ts: i64) {
        if seq >= self.state.last_seq {
            self.state.last_seq = seq;
            if ts != 0 {
                self.state.last_ts = ts;
            }
        }
    }

    fn segment_of(&self, seq: u64) -> Option<usize> {
        let i = self.segments.partition_point(|s| s.first_seq <= seq);
        let i = i.checked_sub(1)?;
        (seq < self.segments[i].end_seq()).then_some(i)
    }

    /// Takes a message out of the index; returns its subject and size, if it was there.
    fn forget(&mut self, seq: u64) -> Option<(u32, u64)> {
        let seg = self.segment_of(seq)?;
        let s = &mut self.segments[seg];
        let i = (seq - s.first_seq) as usize;
        let loc = s.locs[i];
        if !loc.present() {
            return None;
        }
        s.locs[i] = Loc::GONE;
        s.live -= 1;
        let subject = loc.subject;
        let bytes = loc.size();
        self.state.msgs -= 1;
        self.state.bytes -= bytes;
        let sub = &mut self.subjects[subject as usize];
        sub.msgs -= 1;
        if sub.msgs == 0 {
            self.state.num_subjects -= 1;
        } else if sub.first == seq {
            // Found again when asked for ([`FileStore::first_for_subject`]), searching from
            // here on: a purge removes many firsts, and scanning for each would be quadratic,
            // and so would scanning from the stream's first message each time.
            sub.first = 0;
            sub.first_from = seq + 1;
        }
        Some((subject, bytes))
    }

    /// Takes every message below `below` out of the index.
    fn forget_below(&mut self, below: u64) {
        let mut seq = self.state.first_seq.max(1);
        while self.state.msgs > 0 && seq < below {
            match self.segment_of(seq) {
                Some(i) => {
                    let end = self.segments[i].end_seq().min(below);
                    for q in seq..end {
                        self.forget(q);
                    }
                    seq = end;
                }
                None => match self.segments.iter().find(|s| s.first_seq > seq) {
                    Some(s) => seq = s.first_seq,
                    None => break,
                },
            }
        }
    }

    fn next_of_subject(&self, subject: u32, from: u64, to: u64) -> u64 {
        let mut seq = from;
        while seq <= to {
            let Some(seg) = self.segment_of(seq) else {
                seq += 1;
                continue;
            };
            let s = &self.segments[seg];
            let start = (seq - s.first_seq) as usize;
            for (i, loc) in s.locs[start..].iter().enumerate() {
                if loc.present() && loc.subject == subject {
                    return seq + i as u64;
                }
            }
            seq = s.end_seq();
        }
        0
    }

    /// After the first message went: the next present one becomes first.
    fn settle_first(&mut self) {
        let from = self.state.first_seq;
        self.settle_first_from(from);
    }

    fn settle_first_from(&mut self, from: u64) {
        let st = self.state;
        if st.msgs == 0 {
            self.state.first_seq = if st.last_seq == 0 && st.first_seq == 0 {
                0
            } else {
                (st.last_seq + 1).max(st.first_seq)
            };
            self.state.first_ts = 0;
            return;
        }
        let mut seq = from.max(1);
        loop {
            let Some(seg) = self.segment_of(seq) else {
                // Between segments: go to the next one.
                match self.segments.iter().find(|s| s.first_seq > seq) {
                    Some(s) => {
                        seq = s.first_seq;
                        continue;
                    }
                    None => break,
                }
            };
            let s = &self.segments[seg];
            let start = (seq - s.first_seq) as usize;
            if let Some(i) = s.locs[start..].iter().position(Loc::present) {
                let first = seq + i as u64;
                self.state.first_seq = first;
                self.state.first_ts = self.load(first).ok().flatten().map_or(0, |m| m.ts);
                return;
            }
            seq = s.end_seq();
        }
    }

    fn new_segment(&mut self, id: u64) -> Result<(), StoreError> {
        let path = self.dir.join(segment_name(id));
        let file = self.fs.open(&path)?;
        self.segments.push(Segment {
            id,
            path,
            file,
            first_seq: self.state.last_seq + 1,
            locs: Vec::new(),
            written: 0,
            live: 0,
        });
        self.dir_dirty = true;
        Ok(())
    }

    fn active(&mut self) -> &mut Segment {
        // `open` always leaves one segment.
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Stores a message; returns its sequence. It is in the index at once (readable), and
    /// on disk after [`FileStore::flush`].
    pub fn store(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError> {
        let len = record::encoded_len(subject.len(), headers.len(), payload.len());
        if len > record::MAX_RECORD || subject.len() > u16::MAX as usize {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "message too large for the store",
            )));
        }
        let used = self.active().written + self.pending.len() as u64;
        if used > 0 && used + len as u64 > self.cfg.block_size {
            self.roll()?;
        }
        let seq = self.state.last_seq + 1;
        let subject_id = self.intern(subject);
        let offset = self.active().written + self.pending.len() as u64;
        record::encode(
            &mut self.pending,
            Kind::Msg,
            seq,
            ts,
            subject,
            headers,
            payload,
        );
        let a = self.active();
        if a.locs.is_empty() {
            a.first_seq = seq;
        }
        while a.end_seq() < seq {
            a.locs.push(Loc::GONE);
        }
        a.locs.push(Loc::new(
            offset as usize,
            len,
            !headers.is_empty(),
            subject_id,
        ));
        a.live += 1;
        let id = a.id;
        self.unsynced.insert(id);
        let was_empty = self.state.msgs == 0;
        self.account_add(
            seq,
            subject_id,
            file_store_size(subject.len(), headers.len(), payload.len()),
        );
        self.state.last_seq = seq;
        self.state.last_ts = ts;
        if was_empty {
            self.state.first_seq = seq;
            self.state.first_ts = ts;
        }
        Ok(seq)
    }

    /// Starts a new active segment (the old one's buffer is written first).
    fn roll(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        let id = self.active().id + 1;
        self.new_segment(id)
    }

    /// Writes the buffered records to the active segment (what survives `kill -9`).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let a = self.active();
        match a.file.append(&pending) {
            Ok(()) => {
                a.written += pending.len() as u64;
                let id = a.id;
                self.unsynced.insert(id);
                Ok(())
            }
            Err(e) => {
                // Kept for the next attempt; the caller acks nothing of it meanwhile.
                self.pending = pending;
                Err(e.into())
            }
        }
    }

    /// Writes and syncs everything so far (what survives power loss).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        let unsynced = std::mem::take(&mut self.unsynced);
        for s in &mut self.segments {
            if unsynced.contains(&s.id) {
                s.file.sync()?;
            }
        }
        if self.dir_dirty {
            self.fs.sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    fn read_record(&mut self, seq: u64, loc: Loc) -> Result<StoredMsg, StoreError> {
        let seg = self
            .segment_of(seq)
            .ok_or_else(|| StoreError::Corrupt(format!("no segment for sequence {seq}")))?;
        let is_active = seg + 1 == self.segments.len();
        let s = &mut self.segments[seg];
        let mut buf = vec![0u8; loc.record_len()];
        if is_active && loc.offset as u64 >= s.written {
            let at = (loc.offset as u64 - s.written) as usize;
            let src = self
                .pending
                .get(at..at + buf.len())
                .ok_or_else(|| StoreError::Corrupt(format!("sequence {seq} past the buffer")))?;
            buf.copy_from_slice(src);
        } else {
            s.file.read_at(loc.offset as u64, &mut buf)?;
        }
        match record::decode(&buf) {
            Decoded::Record(r, _) if r.kind == Kind::Msg && r.seq == seq => Ok(StoredMsg {
                seq,
                ts: r.ts,
                subject: r.subject.to_vec(),
                headers: r.headers.to_vec(),
                payload: r.payload.to_vec(),
            }),
            other => Err(StoreError::Corrupt(format!(
                "sequence {seq} at offset {}: {other:?}",
                loc.offset
            ))),
        }
    }

    /// The message with sequence `seq`, if the stream has it.
    pub fn load(&mut self, seq: u64) -> Result<Option<StoredMsg>, StoreError> {
        let Some(loc) = self.segment_of(seq).and_then(|i| self.segments[i].loc(seq)) else {
            return Ok(None);
        };
        self.read_record(seq, loc).map(Some)
    }

    /// The last message on `subject` (a literal subject).
    pub fn last_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        let Some(id) = self.subject_ids.get(subject).copied() else {
            return Ok(None);
        };
        let s = &self.subjects[id as usize];
        if s.msgs == 0 {
            return Ok(None);
        }
        let last = s.last;
        self.load(last)
    }

    /// The first message on `subject` (a literal subject).
    pub fn first_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        let Some(id) = self.subject_ids.get(subject).copied() else {
            return Ok(None);
        };
        let s = &self.subjects[id as usize];
        if s.msgs == 0 {
            return Ok(None);
        }
        let first = match s.first {
            0 => {
                let (from, last) = (self.state.first_seq.max(s.first_from), s.last);
                let found = self.next_of_subject(id, from, last);
                self.subjects[id as usize].first = found;
                found
            }
            f => f,
        };
        self.load(first)
    }

    /// Removes a message: a tombstone is appended; with `erase` its record is overwritten
    /// too. Returns false when the stream does not have it.
    pub fn remove(&mut self, seq: u64, erase: bool) -> Result<bool, StoreError> {
        let Some(seg) = self.segment_of(seq) else {
            return Ok(false);
        };
        let Some(loc) = self.segments[seg].loc(seq) else {
            return Ok(false);
        };
        self.forget(seq);
        let ts = if seq == self.state.last_seq {
            self.state.last_ts
        } else {
            0
        };
        record::encode(&mut self.pending, Kind::Delete, seq, ts, b"", b"", b"");
        let id = self.active().id;
        self.unsynced.insert(id);
        if erase {
            // The tombstone is made durable before the record is overwritten: a crash that
            // tears the overwrite leaves a record no scan can read, and the tombstone is then
            // what still says the sequence was used.
            self.sync()?;
            self.erase_record(seg, loc)?;
        }
        if seq == self.state.first_seq || self.state.msgs == 0 {
            self.settle_first_from(seq + 1);
        }
        self.drop_empty_head()?;
        Ok(true)
    }

    fn erase_record(&mut self, seg: usize, loc: Loc) -> Result<(), StoreError> {
        let is_active = seg + 1 == self.segments.len();
        let s = &mut self.segments[seg];
        let (start, end) = (loc.offset as usize, loc.offset as usize + loc.record_len());
        if is_active && loc.offset as u64 >= s.written {
            let base = s.written as usize;
            if let Some(rec) = self.pending.get_mut(start - base..end - base) {
                record::erase_in_place(rec);
            }
            return Ok(());
        }
        let mut buf = vec![0u8; loc.record_len()];
        s.file.read_at(loc.offset as u64, &mut buf)?;
        if record::erase_in_place(&mut buf) {
            s.file.write_at(loc.offset as u64, &buf)?;
            let id = s.id;
            self.unsynced.insert(id);
        }
        Ok(())
    }

    /// Removes every message below `seq` (nats-server's `Compact`); returns how many.
    pub fn compact(&mut self, seq: u64) -> Result<u64, StoreError> {
        let before = self.state.msgs;
        self.forget_below(seq);
        if seq > self.state.last_seq + 1 {
            // Compacting past the end moves the stream on (nats-server: last = seq - 1).
            self.state.last_seq = seq - 1;
        }
        let ts = self.state.last_ts;
        record::encode(&mut self.pending, Kind::Purge, seq, ts, b"", b"", b"");
        let id = self.active().id;
        self.unsynced.insert(id);
        if self.state.msgs == 0 {
            self.state.first_seq = self.state.last_seq + 1;
            self.state.first_ts = 0;
        } else {
            self.settle_first_from(seq);
        }
        self.drop_empty_head()?;
        Ok(before - self.state.msgs)
    }

    /// Removes head segments without messages (never the active one), after a sync so
    /// that the tombstones and markers that emptied them are durable first.
    fn drop_empty_head(&mut self) -> Result<(), StoreError> {
        if self.segments.len() < 2 || self.segments[0].live > 0 {
            return Ok(());
        }
        self.sync()?;
        while self.segments.len() > 1 && self.segments[0].live == 0 {
            let s = self.segments.remove(0);
            self.unsynced.remove(&s.id);
            self.fs.remove(&s.path)?;
            self.dir_dirty = true;
        }
        Ok(())
    }

    pub fn state(&self) -> State {
        let mut st = self.state;
        st.num_deleted = if st.msgs == 0 {
            0
        } else {
            (st.last_seq - st.first_seq + 1) - st.msgs
        };
        st
    }

    /// The segment files in use (for tests and `/jsz`-style diagnostics).
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Subjects with messages, and how many each has.
    pub fn subjects(&self) -> Vec<(Vec<u8>, u64)> {
        self.subjects
            .iter()
            .filter(|s| s.msgs > 0)
            .map(|s| (s.name.to_vec(), s.msgs))
            .collect()
    }
}

impl StreamStore for FileStore {
    fn store(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError> {
        FileStore::store(self, subject, headers, payload, ts)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        FileStore::flush(self)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        FileStore::sync(self)
    }

    fn load(&mut self, seq: u64) -> Result<Option<StoredMsg>, StoreError> {
        FileStore::load(self, seq)
    }

    fn last_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        FileStore::last_for_subject(self, subject)
    }

    fn first_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        FileStore::first_for_subject(self, subject)
    }

    fn remove(&mut self, seq: u64, erase: bool) -> Result<bool, StoreError> {
        FileStore::remove(self, seq, erase)
    }

    fn compact(&mut self, seq: u64) -> Result<u64, StoreError> {
        FileStore::compact(self, seq)
    }

    fn state(&self) -> State {
        FileStore::state(self)
    }

    fn subjects(&self) -> Vec<(Vec<u8>, u64)> {
        FileStore::subjects(self)
    }

    fn subject_msgs(&self, subject: &[u8]) -> u64 {
        self.subject_ids
            .get(subject)
            .and_then(|&i| self.subjects.get(i as usize))
            .map_or(0, |s| s.msgs)
    }
}
