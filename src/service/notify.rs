//! systemd's notify protocol without libsystemd: a datagram such as `READY=1` sent to the
//! unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
//! `@`), and `WATCHDOG=1` keep-alives every half of `$WATCHDOG_USEC` when the service has
//! `WatchdogSec=` (and `$WATCHDOG_PID`, when set, is this process).
//!
//! Everything here is best effort: without `$NOTIFY_SOCKET` (not under systemd, or
//! `Type=simple`) each call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A connection to the service manager, if there is one.
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
}

enum Target {
    Path(std::path::PathBuf),
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; `None` when unset or unusable.
    pub fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_string_lossy().into_owned();
        let target = if let Some(abs) = name.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            {
                Target::Abstract(abs.as_bytes().to_vec())
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = abs;
                return None;
            }
        } else if name.starts_with('/') {
            Target::Path(name.into())
        } else {
            return None;
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notifier { socket, target })
    }

    /// Sends one state string, e.g. `READY=1` or `STOPPING=1`.
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        match &self.target {
            Target::Path(p) => self.socket.send_to(state.as_bytes(), p).map(|_| ()),
            #[cfg(target_os = "linux")]
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.socket
                    .send_to_addr(state.as_bytes(), &addr)
                    .map(|_| ())
            }
        }
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it applies to this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// Starts the keep-alive thread when the watchdog is enabled. It stops when `alive` returns
/// false (the server is shutting down).
pub fn spawn_watchdog(alive: impl Fn() -> bool + Send + 'static) {
    let Some(every) = watchdog_interval() else {
        return;
    };
    let Some(n) = Notifier::from_env() else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            while alive() {
                let _ = n.notify("WATCHDOG=1");
                std::thread::sleep(every);
            }
        });
}
