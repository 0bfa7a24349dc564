//! Frees large buffers: a drained outbound buffer once its connection has been idle a
//! moment, and very large ones off the reactor threads.
//!
//! A subscriber of large messages fills a buffer of hundreds of KiB every turn. Freeing it
//! as soon as it drains, only to grow it again (realloc copies, then page faults on fresh
//! pages) on the next turn, cost a quarter of the server's CPU in a 16 KiB fan-out; so a
//! drained buffer past [`KEEP_OUT_CAPACITY`] stays with its connection until the socket has
//! taken nothing for [`KEEP_BIG_OUT_FOR`], and an idle server holds none.
//!
//! Giving a buffer of many megabytes back to the system (a slow consumer cut off with
//! `max_pending` queued, 64 MiB by default, or a subscriber that caught up after a burst)
//! unmaps every page of it: about 4 ms for 64 MiB on a small machine, during which the
//! reactor's other connections would wait. A background thread, started the first time a
//! buffer that large is released, does it instead.

use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::conn::KEEP_OUT_CAPACITY;
use super::Reactor;

/// How long a connection's socket must have taken nothing before its large drained
/// outbound buffer is freed.
const KEEP_BIG_OUT_FOR: Duration = Duration::from_millis(200);

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

impl Reactor {
    /// Connection `token` drained an outbound buffer past [`KEEP_OUT_CAPACITY`]: it keeps
    /// it, listed to be freed once idle.
    pub(super) fn keep_big_out(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if !conn.big_out_listed {
            conn.big_out_listed = true;
            self.big_out.push(token);
        }
        if self.big_out_sweep.is_none() {
            self.big_out_sweep = Some(Instant::now() + KEEP_BIG_OUT_FOR);
        }
    }

    /// Frees the large drained buffers of connections idle for [`KEEP_BIG_OUT_FOR`]; the
    /// others are looked at again after as long. A token whose connection closed (or was
    /// replaced by a new one) just leaves the list.
    pub(super) fn sweep_big_out(&mut self) {
        let now = Instant::now();
        if self.big_out_sweep.is_none_or(|at| now < at) {
            return;
        }
        let conns = &mut self.conns;
        self.big_out.retain(|&token| {
            let Some(conn) = conns.get_mut(token) else {
                return false;
            };
            if conn.out.capacity() <= KEEP_OUT_CAPACITY {
                conn.big_out_listed = false;
                return false;
            }
            if !conn.out.is_empty() || now - conn.last_progress < KEEP_BIG_OUT_FOR {
                return true;
            }
            conn.big_out_listed = false;
            release(std::mem::take(&mut conn.out));
            false
        });
        self.big_out_sweep = (!self.big_out.is_empty()).then(|| now + KEEP_BIG_OUT_FOR);
    }
}
