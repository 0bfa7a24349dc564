//! Progress on a terminal: one self-overwriting line on stderr, and only when stderr is a
//! TTY, so piped output and `--json` stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    last: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Shows `label: done/total`, at most ten times a second.
    pub fn update(&mut self, label: &str, done: u64, total: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let pct = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K{label}: {done}/{total} ({pct:.0}%)"
        );
    }

    /// A one-off status line (for the comparison's steps).
    pub fn note(&mut self, text: &str) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[K{text}");
        }
    }

    /// Clears the line.
    pub fn clear(&mut self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
