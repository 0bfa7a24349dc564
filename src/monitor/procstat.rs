//! The process's resident memory and CPU use, as nats-server's `pse` package reports them on
//! Linux: RSS in bytes, and CPU as a percentage of one core over the last sampling window
//! (about a second), with one decimal. Other systems report 0 for both.

use std::time::Instant;

/// Clock ticks per second for `/proc/<pid>/stat` times (nats-server assumes 100 as well).
const TICKS: f64 = 100.0;

/// Samples CPU time once a second; `cpu()` returns the last window's percentage.
pub struct ProcStat {
    last: Option<(Instant, u64)>,
    pcpu: f64,
}

impl Default for ProcStat {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcStat {
    pub fn new() -> ProcStat {
        ProcStat {
            last: cpu_ticks().map(|t| (Instant::now(), t)),
            pcpu: 0.0,
        }
    }

    /// Takes a new sample; call about once a second.
    pub fn sample(&mut self) {
        let Some(ticks) = cpu_ticks() else { return };
        let now = Instant::now();
        if let Some((at, before)) = self.last {
            let secs = now.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                let used = ticks.saturating_sub(before) as f64 / TICKS;
                self.pcpu = (used / secs * 1000.0).round() / 10.0;
            }
        }
        self.last = Some((now, ticks));
    }

    pub fn cpu(&self) -> f64 {
        self.pcpu
    }
}

/// User plus system CPU ticks of this process.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 14 is utime and 15 stime; `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in bytes.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes() > 0);
            assert!(cpu_ticks().is_some());
        }
        let mut p = ProcStat::new();
        p.sample();
        assert!(p.cpu() >= 0.0);
    }
}
