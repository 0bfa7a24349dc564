//! The process logger: nats-server's line format on stderr or in a file, with size-based
//! rotation, reopen on SIGUSR1, and an optional JSON format.
//!
//! A line reads `[pid] 2026/11/26 14:38:12.521010 [INF] message` (nats-server's
//! `logger/log.go`); without `logtime` the timestamp is left out. Levels map to nats-server's
//! labels: error → `ERR`, warn → `WRN`, info → `INF`, debug → `DBG`, trace → `TRC`, and
//! [`fatal`] writes `FTL` and exits. The logger is installed once as the `log` facade's
//! backend; `configure` may be called again on reload to change levels or the file.
//!
//! env_logger (on the design card) is not used: its formatter cannot rotate or reopen a file
//! and nats-server's format is a dozen lines here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// How the logger writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    pub debug: bool,
    pub trace: bool,
    pub time: bool,
    pub utc: bool,
    pub json: bool,
    pub file: Option<PathBuf>,
    /// Rotate the file when it grows past this many bytes (0 = never).
    pub size_limit: u64,
    /// Keep at most this many files including the current one (0 = keep all).
    pub max_files: usize,
}

enum Sink {
    Stderr,
    File {
        file: File,
        path: PathBuf,
        written: u64,
    },
}

struct State {
    config: LogConfig,
    sink: Sink,
}

struct Logger {
    pid: u32,
    state: Mutex<State>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        state: Mutex::new(State {
            config: LogConfig {
                time: true,
                ..Default::default()
            },
            sink: Sink::Stderr,
        }),
    })
}

/// Installs the logger (first call) and applies `config`. Fails only when the log file
/// cannot be opened; the previous configuration then stays.
pub fn configure(config: &LogConfig) -> Result<(), String> {
    let l = logger();
    // Installing twice is harmless: later calls only reconfigure.
    let _ = log::set_logger(l);
    let sink = match &config.file {
        Some(path) => open_file(path)?,
        None => Sink::Stderr,
    };
    let mut st = l.state.lock().unwrap_or_else(|e| e.into_inner());
    st.config = config.clone();
    st.sink = sink;
    log::set_max_level(if config.trace {
        LevelFilter::Trace
    } else if config.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
    Ok(())
}

/// Reopens the log file (SIGUSR1), so an external logrotate can move it away first.
pub fn reopen() -> Result<(), String> {
    let l = logger();
    let mut st = l.state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = st.config.file.clone() {
        st.sink = open_file(&path)?;
    }
    Ok(())
}

fn open_file(path: &Path) -> Result<Sink, String> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("error opening log file {}: {e}", path.display()))?;
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Sink::File {
        file,
        path: path.to_path_buf(),
        written,
    })
}

/// Logs a fatal error as `[FTL]` and exits with status 1, as nats-server's `Fatalf` does.
pub fn fatal(msg: &str) -> ! {
    logger().write_line("FTL", msg);
    std::process::exit(1);
}

fn label(level: Level) -> &'static str {
    match level {
        Level::Error => "ERR",
        Level::Warn => "WRN",
        Level::Info => "INF",
        Level::Debug => "DBG",
        Level::Trace => "TRC",
    }
}

impl Logger {
    fn write_line(&self, label: &str, msg: &str) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let line = format_line(self.pid, &st.config, label, msg);
        let State { config, sink } = &mut *st;
        match sink {
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::File {
                file,
                path,
                written,
            } => {
                if file.write_all(line.as_bytes()).is_ok() {
                    *written += line.len() as u64;
                }
                if config.size_limit > 0 && *written > config.size_limit {
                    let path = path.clone();
                    if let Some(rotated) = rotate(&path, config) {
                        *sink = rotated.0;
                        let note = format!("Rotated log, backup saved as {:?}", rotated.1);
                        let line = format_line(self.pid, config, "INF", &note);
                        if let Sink::File { file, written, .. } = sink {
                            if file.write_all(line.as_bytes()).is_ok() {
                                *written = line.len() as u64;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Renames the full log aside with a timestamp suffix (nats-server's naming), opens a fresh
/// one, and purges the oldest backups beyond `max_files`.
fn rotate(path: &Path, config: &LogConfig) -> Option<(Sink, String)> {
    let now = chrono::Local::now();
    let backup = format!("{}.{}", path.display(), now.format("%Y.%m.%d.%H.%M.%S.%9f"));
    std::fs::rename(path, &backup).ok()?;
    let sink = open_file(path).ok()?;
    if config.max_files > 0 {
        purge_backups(path, config.max_files - 1);
    }
    Some((sink, backup))
}

fn purge_backups(path: &Path, keep: usize) {
    let (Some(dir), Some(base)) = (path.parent(), path.file_name().and_then(|b| b.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{base}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        })
        .collect();
    // The timestamp suffix sorts chronologically.
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for name in backups.into_iter().take(excess) {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

fn format_line(pid: u32, config: &LogConfig, label: &str, msg: &str) -> String {
    if config.json {
        let level = match label {
            "FTL" => "fatal",
            "ERR" => "error",
            "WRN" => "warn",
            "INF" => "info",
            "DBG" => "debug",
            _ => "trace",
        };
        let time = if config.utc {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        } else {
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        };
        let doc = serde_json::json!({"time": time, "level": level, "pid": pid, "msg": msg});
        return format!("{doc}\n");
    }
    if config.time {
        let stamp = if config.utc {
            chrono::Utc::now()
                .format("%Y/%m/%d %H:%M:%S%.6f")
                .to_string()
        } else {
            chrono::Local::now()
                .format("%Y/%m/%d %H:%M:%S%.6f")
                .to_string()
        };
        format!("[{pid}] {stamp} [{label}] {msg}\n")
    } else {
        format!("[{pid}] [{label}] {msg}\n")
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        self.write_line(label(record.level()), &record.args().to_string());
    }

    fn flush(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Sink::File { file, .. } = &mut st.sink {
            let _ = file.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_line_shapes() {
        let cfg = LogConfig {
            time: false,
            ..Default::default()
        };
        assert_eq!(format_line(42, &cfg, "INF", "hello"), "[42] [INF] hello\n");
        let cfg = LogConfig {
            time: true,
            utc: true,
            ..Default::default()
        };
        let line = format_line(42, &cfg, "WRN", "x");
        // [42] 2026/11/26 14:38:12.521010 [WRN] x
        let parts: Vec<&str> = line.trim_end().split(' ').collect();
        assert_eq!(parts[0], "[42]");
        assert_eq!(parts[1].len(), 10);
        assert_eq!(parts[2].len(), 15);
        assert_eq!(parts[3], "[WRN]");
    }

    #[test]
    fn json_line() {
        let cfg = LogConfig {
            json: true,
            utc: true,
            ..Default::default()
        };
        let line = format_line(7, &cfg, "ERR", "boom \"quoted\"");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["msg"], "boom \"quoted\"");
    }
}
