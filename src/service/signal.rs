//! `--signal <command>[=<pid|pidfile>]`: sends a running natrium the signal for a command,
//! as nats-server's `ProcessSignal` does.
//!
//! | command | signal  |
//! |---------|---------|
//! | stop    | SIGKILL |
//! | quit    | SIGINT  |
//! | reopen  | SIGUSR1 |
//! | reload  | SIGHUP  |
//! | ldm     | SIGUSR2 |
//! | term    | SIGTERM |
//!
//! The target is a pid, a pid file, or a pid prefix ending in `*`; without one, the single
//! running natrium is found by scanning `/proc` for processes whose executable is this one
//! (nats-server runs `pgrep`), and several are an error listing them.

use rustix::process::{kill_process, Pid, Signal};

/// The signal for a `--signal` command.
pub fn command_signal(command: &str) -> Result<Signal, String> {
    Ok(match command {
        "stop" => Signal::KILL,
        "quit" => Signal::INT,
        "reopen" => Signal::USR1,
        "reload" => Signal::HUP,
        "ldm" => Signal::USR2,
        "term" => Signal::TERM,
        _ => return Err(format!("unknown signal {command:?}")),
    })
}

/// Sends `command` to the process(es) `target` names.
pub fn process_signal(command: &str, target: Option<&str>) -> Result<(), String> {
    let signal = command_signal(command)?;
    // nats-server's maybeReadPidFile: a readable file holds the pid.
    let expr = match target {
        Some(t) => match std::fs::read_to_string(t) {
            Ok(s) => s.trim().to_string(),
            Err(_) => t.trim().to_string(),
        },
        None => String::new(),
    };
    let glob = expr.ends_with('*');
    let prefix = expr.trim_end_matches('*');
    let pids: Vec<i32> = if !prefix.is_empty() && !glob {
        // Only positive pids: kill(2) reads 0 and negative numbers as process groups (-1 is
        // every process), which nats-server does not guard against.
        match prefix.parse::<i32>() {
            Ok(pid) if pid > 0 => vec![pid],
            _ => return Err(format!("invalid pid: {prefix}")),
        }
    } else {
        if !prefix.is_empty() && prefix.parse::<u32>().is_err() {
            return Err(format!("invalid pid: {prefix}"));
        }
        let all = running_instances()?;
        let matching: Vec<i32> = all
            .into_iter()
            .filter(|p| p.to_string().starts_with(prefix))
            .collect();
        if matching.len() > 1 && !glob {
            let list: Vec<String> = matching.iter().map(|p| p.to_string()).collect();
            return Err(format!(
                "multiple natrium processes running:\n{}",
                list.join("\n")
            ));
        }
        matching
    };
    if pids.is_empty() {
        return Err("no natrium processes running".to_string());
    }
    let mut errors = String::new();
    for pid in pids {
        let res = Pid::from_raw(pid)
            .ok_or_else(|| format!("invalid pid: {pid}"))
            .and_then(|p| kill_process(p, signal).map_err(|e| e.to_string()));
        if let Err(e) = res {
            errors.push_str(&format!("\nsignal {command:?} {pid}: {e}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Other processes running the same executable as this one (by `/proc/<pid>/exe`).
fn running_instances() -> Result<Vec<i32>, String> {
    let me = std::process::id() as i32;
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|_| "unable to resolve pid, try providing one".to_string())?;
    let entries =
        std::fs::read_dir("/proc").map_err(|_| "unable to resolve pid, try providing one")?;
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_nats_signals() {
        assert_eq!(command_signal("reload").unwrap(), Signal::HUP);
        assert_eq!(command_signal("ldm").unwrap(), Signal::USR2);
        assert_eq!(command_signal("stop").unwrap(), Signal::KILL);
        assert_eq!(
            command_signal("bogus").unwrap_err(),
            "unknown signal \"bogus\""
        );
        assert_eq!(
            process_signal("reload", Some("abc")).unwrap_err(),
            "invalid pid: abc"
        );
        // Never a process group.
        for bad in ["-1", "0", "-42"] {
            assert_eq!(
                process_signal("term", Some(bad)).unwrap_err(),
                format!("invalid pid: {bad}")
            );
        }
    }
}
