//! The memory store of one stream (`storage: memory`): the same operations and state rules
//! as the file store, with nats-server's memory byte accounting, and nothing to make safe.

use std::collections::{BTreeMap, HashMap};

use super::{mem_store_size, State, StoreError, StoredMsg, StreamStore};

#[derive(Debug, Default, Clone)]
struct Subject {
    msgs: u64,
    last: u64,
}

/// One stream's messages in memory.
#[derive(Debug, Default)]
pub struct MemStore {
    msgs: BTreeMap<u64, StoredMsg>,
    subjects: HashMap<Vec<u8>, Subject>,
    state: State,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn forget(&mut self, seq: u64) -> bool {
        let Some(m) = self.msgs.remove(&seq) else {
            return false;
        };
        self.state.msgs -= 1;
        self.state.bytes -= mem_store_size(m.subject.len(), m.headers.len(), m.payload.len());
        if let Some(s) = self.subjects.get_mut(&m.subject) {
            s.msgs -= 1;
            if s.msgs == 0 {
                self.subjects.remove(&m.subject);
            }
        }
        true
    }

    fn settle_first(&mut self) {
        match self.msgs.first_key_value() {
            Some((seq, m)) => {
                self.state.first_seq = *seq;
                self.state.first_ts = m.ts;
            }
            None => {
                self.state.first_seq = self.state.last_seq + 1;
                self.state.first_ts = 0;
            }
        }
    }
}

impl StreamStore for MemStore {
    fn store(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError> {
        let seq = self.state.last_seq + 1;
        let m = StoredMsg {
            seq,
            ts,
            subject: subject.to_vec(),
            headers: headers.to_vec(),
            payload: payload.to_vec(),
        };
        self.state.bytes += mem_store_size(subject.len(), headers.len(), payload.len());
        self.state.msgs += 1;
        if self.state.msgs == 1 {
            self.state.first_seq = seq;
            self.state.first_ts = ts;
        }
        self.state.last_seq = seq;
        self.state.last_ts = ts;
        let s = self.subjects.entry(subject.to_vec()).or_default();
        s.msgs += 1;
        s.last = seq;
        self.msgs.insert(seq, m);
        Ok(seq)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(&mut self, seq: u64) -> Result<Option<StoredMsg>, StoreError> {
        Ok(self.msgs.get(&seq).cloned())
    }

    fn last_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        let last = self.subjects.get(subject).map(|s| s.last);
        Ok(last.and_then(|l| self.msgs.get(&l).cloned()))
    }

    fn first_for_subject(&mut self, subject: &[u8]) -> Result<Option<StoredMsg>, StoreError> {
        if !self.subjects.contains_key(subject) {
            return Ok(None);
        }
        Ok(self.msgs.values().find(|m| m.subject == subject).cloned())
    }

    fn remove(&mut self, seq: u64, _erase: bool) -> Result<bool, StoreError> {
        if !self.forget(seq) {
            return Ok(false);
        }
        if seq == self.state.first_seq || self.state.msgs == 0 {
            self.settle_first();
        }
        Ok(true)
    }

    fn compact(&mut self, seq: u64) -> Result<u64, StoreError> {
        let below: Vec<u64> = self.msgs.range(..seq).map(|(s, _)| *s).collect();
        for s in &below {
            self.forget(*s);
        }
        if seq > self.state.last_seq + 1 {
            self.state.last_seq = seq - 1;
        }
        self.settle_first();
        Ok(below.len() as u64)
    }

    fn subjects(&self) -> Vec<(Vec<u8>, u64)> {
        self.subjects
            .iter()
            .map(|(k, v)| (k.clone(), v.msgs))
            .collect()
    }

    fn subject_msgs(&self, subject: &[u8]) -> u64 {
        self.subjects.get(subject).map_or(0, |s| s.msgs)
    }

    fn state(&self) -> State {
        let mut st = self.state;
        st.num_subjects = self.subjects.len() as u64;
        st.num_deleted = if st.msgs == 0 {
            0
        } else {
            (st.last_seq - st.first_seq + 1) - st.msgs
        };
        st
    }
}
