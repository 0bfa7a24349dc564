//! Stream storage: the file store (append-only segment files with a checksum per record,
//! recovered by a scan that truncates a torn or corrupt tail and never serves a bad record)
//! and what every store shares: stored messages, stream state, nats-server's byte
//! accounting.
//!
//! The store does no I/O of its own accord and has no threads: the caller stores messages,
//! then makes them safe with [`file::FileStore::flush`] (written to the file, which survives
//! `kill -9`: nats-server's default before it acks) or [`file::FileStore::sync`] (also
//! `fdatasync`ed, which survives power loss: `sync_interval: always`), and acks after it.
//! One sync for every message that arrived meanwhile is the group commit.

pub mod file;
pub mod fs;
pub mod mem;
pub mod record;
#[cfg(test)]
mod tests;

/// A message read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    pub seq: u64,
    /// Nanoseconds since the Unix epoch.
    pub ts: i64,
    pub subject: Vec<u8>,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A stream's state as `STREAM.INFO` reports it (nats-server's `StreamState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub msgs: u64,
    /// By nats-server's formula ([`file_store_size`]).
    pub bytes: u64,
    /// 0 for a stream that never had a message; `last_seq + 1` once all are gone.
    pub first_seq: u64,
    /// 0 when there is no message.
    pub first_ts: i64,
    pub last_seq: u64,
    pub last_ts: i64,
    /// Sequences between first and last that are gone.
    pub num_deleted: u64,
    pub num_subjects: u64,
}

/// What a message counts for in a file stream's `bytes` (nats-server's `fileStoreMsgSize`):
/// 22 + subject + payload + 8, and 4 + headers more when it has headers.
pub fn file_store_size(subject: usize, headers: usize, payload: usize) -> u64 {
    let hdr = if headers > 0 { 4 + headers } else { 0 };
    (22 + subject + hdr + payload + 8) as u64
}

/// What a message counts for in a memory stream's `bytes` (nats-server's `memStoreMsgSize`):
/// subject + headers + payload + 16.
pub fn mem_store_size(subject: usize, headers: usize, payload: usize) -> u64 {
    (subject + headers + payload + 16) as u64
}

/// What the stream layer needs of a store, file or memory (nats-server's `StreamStore`).
pub trait StreamStore {
    /// Stores a message at the next sequence; returns it.
    fn store(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError>;
    /// Makes what was stored survive `kill -9` (written to the file).
    fn flush(&mut self) -> Result<(), StoreError>;
    /// Makes what was stored survive power loss (synced).
    fn sync(&mut self) -> Result<(), StoreError>;
    fn load(&mut self, seq: u64) -> Result<Option<StoredMsg>, StoreError>;
    /// The last message on a literal subject.
    fn last_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError>;
    /// The first message on a literal subject.
    fn first_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError>;
    /// Removes a message (`erase`: overwrite what is kept of it); false when absent.
    fn remove(&mut self, seq: u64, erase: bool) -> Result<bool, StoreError>;
    /// Removes every message below `seq`; returns how many.
    fn compact(&mut self, seq: u64) -> Result<u64, StoreError>;
    /// Removes every message; `last_seq` stays, `first_seq` becomes `last_seq + 1`.
    fn purge(&mut self) -> Result<u64, StoreError> {
        let below = self.state().last_seq + 1;
        self.compact(below)
    }
    fn state(&self) -> State;
    /// Subjects with messages, and how many each has.
    fn subjects(&self) -> Vec<(Vec<u8>, u64)>;
    /// How many messages a literal subject has.
    fn subject_msgs(&self, subject: &[u8]) -> u64;
}

/// A store operation that failed.
#[derive(Debug)]
pub enum StoreError {
    Io(std::io::Error),
    /// A record that should be there does not decode: it is not served.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "{e}"),
            StoreError::Corrupt(why) => write!(f, "corrupt record: {why}"),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError::Io(e)
    }
}

#[cfg(test)]
mod accounting_tests {
    use super::*;

    #[test]
    fn byte_accounting_is_nats_servers() {
        // Three 1-byte messages on "limits" are 111 bytes (nats.py test_account_limits).
        assert_eq!(3 * file_store_size(6, 0, 1), 111);
        assert_eq!(file_store_size(3, 12, 5), 22 + 3 + 4 + 12 + 5 + 8);
    }
}
