//! Frees large buffers off the reactor threads.
//!
//! Giving a buffer of many megabytes back to the system (a slow consumer cut off with
//! `max_pending` queued, 64 MiB by default, or a subscriber that caught up after a burst)
//! unmaps every page of it: about 4 ms for 64 MiB on a small machine, during which the
//! reactor's other connections would wait. A background thread, started the first time a
//! buffer that large is released, does it instead.

use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

/// Buffers smaller than this are freed in place: handing them over costs more than it saves.
const FREE_OFF_THREAD: usize = 1 << 20;

static RECLAIMER: OnceLock<Option<Sender<Vec<u8>>>> = OnceLock::new();

/// Drops `buf`: on the reclaimer thread when it is large, else here.
pub fn release(buf: Vec<u8>) {
    if buf.capacity() < FREE_OFF_THREAD {
        return;
    }
    let reclaimer = RECLAIMER.get_or_init(|| {
        let (tx, rx) = channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("reclaim".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = reclaimer {
        // Should the thread be gone, the buffer comes back in the error and drops here.
        let _ = tx.send(buf);
    }
}
