//! Comparing secrets: plaintext passwords and tokens in constant time, bcrypt hashes with a
//! cache of verified pairs and a small worker pool, so a bcrypt check (tens of milliseconds)
//! never runs on a reactor thread.
//!
//! Why off the reactor: a reactor serves thousands of connections; a 50–100 ms bcrypt
//! verification on it would stall all of them, and a client reconnect storm after a restart
//! (when no cache can help) would stall them for seconds. nats-server spends the same CPU but
//! in the connecting client's own goroutine. natrium parks the connecting client (its input
//! stays buffered) and hands the check to [`BcryptPool`]; the verdict comes back to the
//! reactor as a control message.
//!
//! Why a cache as well: a configuration reload re-checks every connected client (as
//! nats-server does), and clients reconnect with the same credentials. A successful
//! verification is remembered as an HMAC-SHA256, under a key drawn at start-up, of the hash
//! and the presented password — never the password itself — so repeating it costs a
//! microsecond. Failures are not cached. The cache is bounded and cleared when full.

use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use ring::hmac;
use ring::rand::SystemRandom;

/// Most remembered verifications before the cache is cleared.
const CACHE_MAX: usize = 4096;
/// Checks waiting for a worker before new ones are refused (fail closed).
const QUEUE_MAX: usize = 1024;
/// Worker threads; bcrypt is CPU bound, and the reactors need the cores too.
const MAX_WORKERS: usize = 2;

/// nats-server's `isBcrypt`: `^\$2[abxy]\$\d{2}\$`.
pub fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// Compares two secrets in time that depends only on their lengths (as Go's
/// `subtle.ConstantTimeCompare`, which nats-server uses).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// How a presented secret compares with a configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Match,
    Mismatch,
    /// The configured secret is a bcrypt hash not verified before with this password.
    NeedsBcrypt,
}

/// Verified (hash, password) pairs, kept as keyed digests.
pub struct BcryptCache {
    /// `None` when the system gave no randomness: then nothing is cached.
    key: Option<hmac::Key>,
    seen: Mutex<HashSet<[u8; 32]>>,
}

impl BcryptCache {
    pub fn new() -> BcryptCache {
        BcryptCache {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).ok(),
            seen: Mutex::new(HashSet::new()),
        }
    }

    fn digest(&self, hash: &str, password: &str) -> Option<[u8; 32]> {
        let mut ctx = hmac::Context::with_key(self.key.as_ref()?);
        ctx.update(hash.as_bytes());
        ctx.update(&[0]);
        ctx.update(password.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Some(out)
    }

    pub fn contains(&self, hash: &str, password: &str) -> bool {
        let Some(d) = self.digest(hash, password) else {
            return false;
        };
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&d)
    }

    pub fn insert(&self, hash: &str, password: &str) {
        let Some(d) = self.digest(hash, password) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= CACHE_MAX {
            seen.clear();
        }
        seen.insert(d);
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for BcryptCache {
    fn default() -> Self {
        Self::new()
    }
}

/// nats-server's `comparePasswords`, without running bcrypt: a plaintext secret is compared
/// at once; a bcrypt hash is answered from the cache or left to [`verify_bcrypt`].
pub fn compare(configured: &str, presented: &str, cache: &BcryptCache) -> Check {
    if is_bcrypt(configured) {
        if cache.contains(configured, presented) {
            Check::Match
        } else {
            Check::NeedsBcrypt
        }
    } else if constant_time_eq(configured.as_bytes(), presented.as_bytes()) {
        Check::Match
    } else {
        Check::Mismatch
    }
}

/// Runs bcrypt (slow) and remembers a success.
pub fn verify_bcrypt(hash: &str, password: &str, cache: &BcryptCache) -> bool {
    let ok = bcrypt::verify(password, hash).unwrap_or(false);
    if ok {
        cache.insert(hash, password);
    }
    ok
}

/// A bcrypt check to run off the reactor; `done` gets the verdict on a worker thread.
pub struct Job {
    pub hash: String,
    pub password: String,
    pub cache: Arc<BcryptCache>,
    pub done: Box<dyn FnOnce(bool) + Send>,
}

/// A lazily started pool of bcrypt workers shared by all reactors.
pub struct BcryptPool {
    tx: OnceLock<Option<SyncSender<Job>>>,
}

impl BcryptPool {
    pub const fn new() -> BcryptPool {
        BcryptPool {
            tx: OnceLock::new(),
        }
    }

    fn start() -> Option<SyncSender<Job>> {
        let (tx, rx) = sync_channel::<Job>(QUEUE_MAX);
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, MAX_WORKERS);
        let mut started = 0;
        for i in 0..n {
            let rx = rx.clone();
            if std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || worker(&rx))
                .is_ok()
            {
                started += 1;
            }
        }
        (started > 0).then_some(tx)
    }

    /// Queues a check. When the pool cannot take it (not started, or too many waiting),
    /// the job is answered `false` at once: fail closed.
    pub fn submit(&self, job: Job) {
        let tx = self.tx.get_or_init(Self::start);
        let job = match tx {
            Some(tx) => match tx.try_send(job) {
                Ok(()) => return,
                Err(TrySendError::Full(j)) | Err(TrySendError::Disconnected(j)) => j,
            },
            None => job,
        };
        log::warn!("bcrypt verification queue is full; refusing the connection");
        (job.done)(false);
    }
}

impl Default for BcryptPool {
    fn default() -> Self {
        Self::new()
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        let ok = verify_bcrypt(&job.hash, &job.password, &job.cache);
        (job.done)(ok);
    }
}

/// The process-wide pool.
pub static POOL: BcryptPool = BcryptPool::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt(
            "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS"
        ));
        assert!(is_bcrypt("$2b$10$x"));
        assert!(is_bcrypt("$2y$04$"));
        assert!(!is_bcrypt("$2c$10$x"));
        assert!(!is_bcrypt("$2a$1x$"));
        assert!(!is_bcrypt("$2a$10"));
        assert!(!is_bcrypt("password"));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn compare_and_cache() {
        let cache = BcryptCache::new();
        assert_eq!(compare("pw", "pw", &cache), Check::Match);
        assert_eq!(compare("pw", "px", &cache), Check::Mismatch);
        let hash = bcrypt::hash("s3cr3t", 4).unwrap();
        assert_eq!(compare(&hash, "s3cr3t", &cache), Check::NeedsBcrypt);
        assert!(!verify_bcrypt(&hash, "wrong", &cache));
        assert_eq!(compare(&hash, "wrong", &cache), Check::NeedsBcrypt);
        assert!(verify_bcrypt(&hash, "s3cr3t", &cache));
        assert_eq!(compare(&hash, "s3cr3t", &cache), Check::Match);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn pool_answers() {
        let cache = Arc::new(BcryptCache::new());
        let hash = bcrypt::hash("pw", 4).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for pw in ["pw", "nope"] {
            let tx = tx.clone();
            POOL.submit(Job {
                hash: hash.clone(),
                password: pw.to_string(),
                cache: cache.clone(),
                done: Box::new(move |ok| {
                    let _ = tx.send((pw, ok));
                }),
            });
        }
        let mut got: Vec<_> = (0..2)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, vec![("nope", false), ("pw", true)]);
    }
}
