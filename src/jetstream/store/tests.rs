//! Tests of the file store: behaviour on a real directory (restart), damage (flipped bits,
//! torn tails), and crash consistency on the simulated disk at thousands of random crash
//! points in both durability modes (issue 18, acceptance 3).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::{Config, FileStore};
use super::fs::sim::SimFs;
use super::fs::{Fs, StdFs};
use super::mem::MemStore;
use super::{file_store_size, mem_store_size, StoreError, StoredMsg, StreamStore};

fn small() -> Config {
    Config { block_size: 2048 }
}

fn open(fs: &Arc<dyn Fs>, dir: &Path, cfg: Config) -> (FileStore, Vec<String>) {
    match FileStore::open(fs.clone(), dir, cfg) {
        Ok(s) => s,
        Err(e) => panic!("recovery failed: {e}"),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "natrium-store-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn stores_reads_deletes_and_restarts_on_a_real_directory() {
    let dir = TempDir::new("basic");
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    let (mut st, notes) = open(&fs, &dir.0, small());
    assert!(notes.is_empty());
    assert_eq!((st.state().first_seq, st.state().last_seq), (0, 0));
    for i in 1..=100u64 {
        let subject = format!("orders.{}", i % 3);
        let hdr: &[u8] = if i % 10 == 0 {
            b"NATS/1.0\r\nA: b\r\n\r\n"
        } else {
            b""
        };
        let seq = st
            .store(
                subject.as_bytes(),
                hdr,
                format!("m{i}").as_bytes(),
                i as i64 * 1000,
            )
            .unwrap();
        assert_eq!(seq, i);
    }
    st.flush().unwrap();
    assert!(st.segment_paths().len() > 1, "small blocks roll over");
    let s = st.state();
    assert_eq!(
        (s.msgs, s.first_seq, s.last_seq, s.first_ts, s.last_ts),
        (100, 1, 100, 1000, 100_000)
    );
    assert_eq!(s.num_subjects, 3);
    let want_bytes: u64 = (1..=100u64)
        .map(|i| {
            let hdr = if i % 10 == 0 { 18 } else { 0 };
            file_store_size(8, hdr, format!("m{i}").len())
        })
        .sum();
    assert_eq!(s.bytes, want_bytes);
    assert_eq!(st.load(42).unwrap().unwrap().payload, b"m42");
    assert_eq!(st.last_for_subject(b"orders.1").unwrap().unwrap().seq, 100);
    assert_eq!(st.first_for_subject(b"orders.2").unwrap().unwrap().seq, 2);

    assert!(st.remove(1, false).unwrap());
    assert!(st.remove(50, true).unwrap());
    assert!(!st.remove(50, false).unwrap());
    assert!(!st.remove(1000, false).unwrap());
    let s = st.state();
    assert_eq!((s.msgs, s.first_seq, s.num_deleted), (98, 2, 1));
    assert_eq!(s.first_ts, 2000);
    assert_eq!(st.first_for_subject(b"orders.1").unwrap().unwrap().seq, 4);
    st.sync().unwrap();
    drop(st);

    let (mut st, notes) = open(&fs, &dir.0, small());
    assert!(notes.is_empty(), "{notes:?}");
    let s = st.state();
    assert_eq!(
        (s.msgs, s.first_seq, s.last_seq, s.num_deleted, s.last_ts),
        (98, 2, 100, 1, 100_000)
    );
    assert_eq!(st.load(50).unwrap(), None);
    assert_eq!(st.load(99).unwrap().unwrap().subject, b"orders.0");
    // The erased payload is not on disk any more.
    let all: Vec<u8> = st
        .segment_paths()
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!all.windows(3).any(|w| w == b"m50"));
    assert!(all.windows(3).any(|w| w == b"m51"));

    // Purge keeps last_seq, also across a restart; head segments are removed.
    assert_eq!(st.purge().unwrap(), 98);
    let s = st.state();
    assert_eq!(
        (s.msgs, s.bytes, s.first_seq, s.last_seq, s.first_ts),
        (0, 0, 101, 100, 0)
    );
    assert_eq!(st.segment_paths().len(), 1);
    st.sync().unwrap();
    drop(st);
    let (mut st, _) = open(&fs, &dir.0, small());
    let s = st.state();
    assert_eq!(
        (s.msgs, s.first_seq, s.last_seq, s.last_ts),
        (0, 101, 100, 100_000)
    );
    assert_eq!(st.store(b"x", b"", b"after", 7).unwrap(), 101);

    // Compact below a sequence.
    for i in 0..10 {
        st.store(b"y", b"", &[i], 8).unwrap();
    }
    assert_eq!(st.compact(105).unwrap(), 4);
    assert_eq!(st.state().first_seq, 105);
    st.sync().unwrap();
    drop(st);
    let (st, _) = open(&fs, &dir.0, small());
    assert_eq!(
        (st.state().msgs, st.state().first_seq, st.state().last_seq),
        (7, 105, 111)
    );
}

#[test]
fn a_flipped_bit_loses_that_record_only_and_a_torn_tail_is_cut() {
    let sim = SimFs::new();
    let fs: Arc<dyn Fs> = Arc::new(sim.clone());
    let dir = Path::new("/s");
    let (mut st, _) = open(
        &fs,
        dir,
        Config {
            block_size: 1 << 20,
        },
    );
    for i in 1..=10u8 {
        st.store(b"a", b"", &[i; 20], i as i64).unwrap();
    }
    st.sync().unwrap();
    let seg = st.segment_paths()[0].clone();
    drop(st);
    // A bit in the payload of the fifth record (each is 31 + 1 + 20 bytes).
    sim.flip(&seg, 4 * 52 + 40, 3);
    let (mut st, notes) = open(
        &fs,
        dir,
        Config {
            block_size: 1 << 20,
        },
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("corrupt record at offset 208"),
        "{notes:?}"
    );
    assert_eq!(st.load(5).unwrap(), None);
    assert_eq!(st.state().msgs, 9);
    assert_eq!(st.load(10).unwrap().unwrap().payload, vec![10; 20]);
    drop(st);

    // A bit in a length field: nothing after it can be trusted; the segment is cut there.
    sim.flip(&seg, 7 * 52 + 3, 6);
    let (st, notes) = open(
        &fs,
        dir,
        Config {
            block_size: 1 << 20,
        },
    );
    assert!(notes.iter().any(|n| n.contains("truncated")), "{notes:?}");
    assert_eq!((st.state().msgs, st.state().last_seq), (6, 7));
    assert_eq!(sim.len(&seg), Some(7 * 52));
}

/// One random workload, a crash, recovery, and the checks. `always`: every batch is synced
/// before it is acknowledged (`sync_interval: always`); otherwise flushed, with a sync now
/// and then (the default mode's timer).
fn crash_once(rng: &mut fastrand::Rng, always: bool) {
    let sim = SimFs::new();
    let fs: Arc<dyn Fs> = Arc::new(sim.clone());
    let dir = Path::new("/stream");
    let cfg = || Config {
        block_size: 512 + rng_block(),
    };
    let (mut st, _) = open(&fs, dir, cfg());
    // Everything ever stored, by sequence (no sequence is used twice before the crash).
    let mut ever: BTreeMap<u64, StoredMsg> = BTreeMap::new();
    // What an acknowledgement promised (always mode): present, or removed.
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut acked_gone: BTreeSet<u64> = BTreeSet::new();
    let mut batch_stored = Vec::new();
    let mut batch_gone = Vec::new();
    let steps = rng.usize(1..250);
    for step in 0..steps {
        match rng.u8(..100) {
            0..=69 => {
                let subject = format!("s.{}", rng.u8(..5));
                let headers: Vec<u8> = if rng.u8(..4) == 0 {
                    b"NATS/1.0\r\nK: v\r\n\r\n".to_vec()
                } else {
                    Vec::new()
                };
                let payload: Vec<u8> = (0..rng.usize(..200)).map(|_| rng.u8(..)).collect();
                let ts = step as i64 + 1;
                let seq = st
                    .store(subject.as_bytes(), &headers, &payload, ts)
                    .unwrap();
                ever.insert(
                    seq,
                    StoredMsg {
                        seq,
                        ts,
                        subject: subject.into_bytes(),
                        headers,
                        payload,
                    },
                );
                batch_stored.push(seq);
            }
            70..=89 => {
                let last = st.state().last_seq;
                if last > 0 {
                    let seq = rng.u64(1..=last);
                    if st.remove(seq, rng.bool()).unwrap() {
                        batch_gone.push(seq);
                    }
                }
            }
            90..=92 => {
                let first = st.state().first_seq;
                st.purge().unwrap();
                batch_gone.extend(first..=st.state().last_seq);
            }
            93..=95 => {
                let s = st.state();
                if s.last_seq > 0 {
                    let to = rng.u64(s.first_seq.max(1)..=s.last_seq + 1);
                    st.compact(to).unwrap();
                    batch_gone.extend(s.first_seq..to);
                }
            }
            _ => {
                // End of a batch: make it safe, then acknowledge it.
                if always {
                    st.sync().unwrap();
                    acked.extend(batch_stored.drain(..));
                    for g in batch_gone.drain(..) {
                        acked.remove(&g);
                        acked_gone.insert(g);
                    }
                } else {
                    st.flush().unwrap();
                    if rng.u8(..5) == 0 {
                        st.sync().unwrap();
                    }
                    batch_stored.clear();
                    batch_gone.clear();
                }
            }
        }
    }
    let crashed = sim.crash(rng);
    let fs2: Arc<dyn Fs> = Arc::new(crashed.clone());
    let (mut rec, _notes) = open(&fs2, dir, cfg());
    let state = rec.state();
    // Nothing corrupt is served, and what is there is what was stored under that sequence.
    let mut count = 0;
    let mut bytes = 0;
    for seq in state.first_seq.max(1)..=state.last_seq {
        match rec.load(seq) {
            Ok(Some(m)) => {
                assert_eq!(
                    Some(&m),
                    ever.get(&seq),
                    "sequence {seq} recovered with other content"
                );
                count += 1;
                bytes += file_store_size(m.subject.len(), m.headers.len(), m.payload.len());
            }
            Ok(None) => {}
            Err(e) => panic!("sequence {seq}: {e}"),
        }
    }
    assert_eq!(
        (state.msgs, state.bytes),
        (count, bytes),
        "state agrees with the messages"
    );
    if always {
        // A removal not acknowledged yet may have reached the disk (a purge syncs before it
        // removes segment files): those acknowledged messages may be gone.
        for seq in acked.iter().filter(|s| !batch_gone.contains(s)) {
            assert!(
                rec.load(*seq).unwrap().is_some(),
                "acknowledged sequence {seq} lost (state {state:?})"
            );
        }
        for seq in &acked_gone {
            assert!(
                rec.load(*seq).unwrap().is_none(),
                "acknowledged removal of {seq} undone"
            );
        }
        if let Some(max) = acked.iter().max() {
            assert!(
                state.last_seq >= *max,
                "last_seq went back below the acknowledged {max}: {state:?}, notes {_notes:?}"
            );
        }
    }
    // Recovery leaves a store that works and recovers the same way again.
    let seq = rec.store(b"after", b"", b"crash", 1).unwrap();
    assert_eq!(seq, state.last_seq + 1);
    rec.sync().unwrap();
    let before = rec.state();
    drop(rec);
    let (again, notes) = open(&fs2, dir, cfg());
    assert!(
        notes.is_empty(),
        "a second recovery found more to repair: {notes:?}"
    );
    assert_eq!(again.state(), before);
}

thread_local! {
    static BLOCK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn rng_block() -> u64 {
    BLOCK.with(|b| b.get())
}

fn crash_points(always: bool, seed: u64, points: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..points {
        BLOCK.with(|b| b.set(rng.u64(..4096)));
        let case_seed = rng.u64(..);
        let result = std::panic::catch_unwind(|| {
            let mut case = fastrand::Rng::with_seed(case_seed);
            crash_once(&mut case, always);
        });
        if let Err(e) = result {
            std::panic::resume_unwind(Box::new(format!(
                "crash point {i} (case seed {case_seed}, block {}): {:?}",
                rng_block(),
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or(e.downcast_ref::<&str>().copied())
            )));
        }
    }
}

#[test]
fn every_acknowledged_message_survives_power_loss_with_sync_always() {
    crash_points(true, 0x5eed_0001, 1000);
}

#[test]
fn power_loss_in_the_default_mode_never_serves_corrupt_records() {
    crash_points(false, 0x5eed_0002, 1000);
}

/// The memory store and the file store agree on every message and every state field but
/// `bytes` (their formulas differ), through random stores, removals, purges and compactions.
#[test]
fn memory_and_file_stores_agree() {
    let fs: Arc<dyn Fs> = Arc::new(SimFs::new());
    let (mut file, _) = open(&fs, Path::new("/agree"), small());
    let mut mem = MemStore::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut mem_bytes = 0u64;
    let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
    for step in 0..3000 {
        let before = mem.state();
        let both: [&mut dyn StreamStore; 2] = [&mut file, &mut mem];
        match rng.u8(..100) {
            0..=64 => {
                let subject = format!("k.{}", rng.u8(..8));
                let payload: Vec<u8> = (0..rng.usize(..64)).map(|_| rng.u8(..)).collect();
                let hdr: &[u8] = if rng.bool() { b"NATS/1.0\r\n\r\n" } else { b"" };
                let seqs: Vec<u64> = both
                    .into_iter()
                    .map(|s| s.store(subject.as_bytes(), hdr, &payload, step).unwrap())
                    .collect();
                assert_eq!(seqs[0], seqs[1]);
                let size = mem_store_size(subject.len(), hdr.len(), payload.len());
                mem_bytes += size;
                sizes.insert(seqs[0], size);
            }
            65..=94 => {
                let last = before.last_seq.max(1);
                let seq = rng.u64(1..=last);
                let erase = rng.bool();
                let got: Vec<bool> = both
                    .into_iter()
                    .map(|s| s.remove(seq, erase).unwrap())
                    .collect();
                assert_eq!(got[0], got[1], "remove {seq}");
                if got[0] {
                    mem_bytes -= sizes.remove(&seq).unwrap_or(0);
                }
            }
            95..=97 => {
                let to = rng.u64(before.first_seq.max(1)..=before.last_seq + 2);
                let got: Vec<u64> = both.into_iter().map(|s| s.compact(to).unwrap()).collect();
                assert_eq!(got[0], got[1], "compact {to}");
                let gone: Vec<u64> = sizes.range(..to).map(|(s, _)| *s).collect();
                for s in gone {
                    mem_bytes -= sizes.remove(&s).unwrap_or(0);
                }
            }
            _ => {
                let got: Vec<u64> = both.into_iter().map(|s| s.purge().unwrap()).collect();
                assert_eq!(got[0], got[1], "purge");
                sizes.clear();
                mem_bytes = 0;
            }
        }
        let (f, m) = (file.state(), mem.state());
        assert_eq!(m.bytes, mem_bytes, "step {step}");
        assert_eq!(
            (
                f.msgs,
                f.first_seq,
                f.first_ts,
                f.last_seq,
                f.last_ts,
                f.num_deleted,
                f.num_subjects
            ),
            (
                m.msgs,
                m.first_seq,
                m.first_ts,
                m.last_seq,
                m.last_ts,
                m.num_deleted,
                m.num_subjects
            ),
            "step {step}"
        );
        if step % 100 == 0 {
            for seq in m.first_seq.max(1)..=m.last_seq {
                assert_eq!(file.load(seq).unwrap(), mem.load(seq).unwrap(), "seq {seq}");
            }
            for k in 0..8 {
                let subject = format!("k.{k}");
                for (a, b) in [
                    (
                        file.last_for_subject(subject.as_bytes()),
                        mem.last_for_subject(subject.as_bytes()),
                    ),
                    (
                        file.first_for_subject(subject.as_bytes()),
                        mem.first_for_subject(subject.as_bytes()),
                    ),
                ] {
                    let (a, b): (Result<_, StoreError>, Result<_, StoreError>) = (a, b);
                    assert_eq!(a.unwrap(), b.unwrap(), "{subject} at step {step}");
                }
            }
        }
    }
}
