//! What the generator reads from `/proc`: CPU time of a process or of the calling thread
//! (`stat` utime + stime) and resident memory (`status` VmRSS), plus the open-file limit.
//! Reading `/proc` keeps the crate free of `unsafe` (it forbids it) where `getrusage` would
//! need libc.

use std::time::Duration;

/// Linux reports `stat` times in USER_HZ ticks, which is 100 on every architecture natrium
/// targets (it is fixed by the kernel ABI, independent of CONFIG_HZ).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time from a `/proc/.../stat` file.
fn stat_cpu(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After ')': state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

/// CPU time used so far by process `pid`: the sum of its live threads' `schedstat`
/// (nanosecond-precise; runs last a few seconds, so the 10 ms ticks of `stat` would be
/// coarse), or the tick-based `stat` of the whole process where `schedstat` is missing.
/// Threads that exit between two samples drop out of the sum; the servers measured here
/// keep their threads (natrium's reactors, the Go runtime's Ms) for their whole life.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let sched = (|| {
        let mut total = 0u64;
        for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let path = entry.ok()?.path().join("schedstat");
            let text = std::fs::read_to_string(path).ok()?;
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(total))
    })();
    sched.or_else(|| stat_cpu(&format!("/proc/{pid}/stat")))
}

/// CPU time used so far by the calling thread: nanosecond-precise from `schedstat` (time
/// on the CPU), falling back to the tick-based `stat`.
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .or_else(|| stat_cpu("/proc/thread-self/stat"))
        .unwrap_or_default()
}

/// Resident set size of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Raises this process's open-file soft limit to at least `want` if the hard limit allows;
/// returns the soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    match rlimit::increase_nofile_limit(want) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024),
    }
}

/// Busy CPU time of the whole machine (all CPUs, everything but idle and iowait), from the
/// first line of `/proc/stat`. On a shared machine this shows how much of the CPU went to
/// neither the generator nor the server.
pub fn machine_busy() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user]
    let busy: u64 = v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4).copied().unwrap_or(0);
    Some(Duration::from_millis(busy * 1000 / TICKS_PER_SEC))
}

/// A CPU-time sample of the generator, the server (when its pid is known; the sum of all
/// its processes for a cluster or a hub with its leaf) and the machine, taken at the start
/// of a measured phase; [`CpuSample::since`] gives the deltas.
#[derive(Clone)]
pub struct CpuSample {
    /// The calling (coordinating) thread's CPU.
    own: Duration,
    server: Option<Duration>,
    server_pids: Vec<u32>,
    machine: Option<Duration>,
}

/// The summed CPU time of `pids`; `None` if there are none or one cannot be read.
fn processes_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| process_cpu(p)).sum()
}

/// CPU used during a measured phase.
pub struct CpuUsed {
    /// All generator threads.
    pub generator: Duration,
    /// The thread that took the sample.
    pub coordinator: Duration,
    pub server: Option<Duration>,
    pub machine: Option<Duration>,
}

impl CpuSample {
    pub fn now(server_pids: &[u32]) -> CpuSample {
        CpuSample {
            own: thread_cpu(),
            server: processes_cpu(server_pids),
            server_pids: server_pids.to_vec(),
            machine: machine_busy(),
        }
    }

    /// What was used since this sample; call it on the thread that took the sample, with
    /// the CPU time the generator's worker threads measured for themselves.
    pub fn since(&self, workers: Duration) -> CpuUsed {
        let coordinator = thread_cpu().saturating_sub(self.own);
        let generator = coordinator + workers;
        let server = match (self.server, processes_cpu(&self.server_pids)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let machine = match (self.machine, machine_busy()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        CpuUsed {
            generator,
            coordinator,
            server,
            machine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_figures() {
        let t0 = thread_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > t0, "a busy thread accumulates CPU time");
        let own = process_cpu(std::process::id()).unwrap_or_default();
        assert!(own >= thread_cpu(), "the process includes this thread");
        assert!(rss_kib(std::process::id()).unwrap_or(0) > 0);
        assert!(process_cpu(u32::MAX).is_none());
        assert!(machine_busy().is_some());
    }
}
