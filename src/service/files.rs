//! The pid file and the ports file (nats-server `server.go` `logPid`, `logPorts`).
//!
//! The ports file is `<ports_file_dir>/<basename of argv[0]>_<pid>.ports`, JSON such as
//! `{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}`. Like
//! nats-server, a listener bound to an unspecified address (`0.0.0.0`, `::`) is listed once
//! per address of every interface, in interface order (loopback first), and empty lists are
//! left out. Test launchers (nats.js) poll for this file to learn the ports.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The URLs the server can be reached at, as nats-server's `Ports`.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Ports {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nats: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitoring: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub websocket: Vec<String>,
}

/// `scheme://host:port` for every address a listener bound to `addr` is reachable at.
pub fn listener_urls(scheme: &str, addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![format!("{scheme}://{}", join_host_port(addr.ip(), port))];
    }
    let mut ifaces = if_addrs::get_if_addrs().unwrap_or_default();
    // Go's net.Interfaces() lists by interface index, each interface's addresses together.
    ifaces.sort_by_key(|i| i.index.unwrap_or(u32::MAX));
    let urls: Vec<String> = ifaces
        .iter()
        .map(|i| format!("{scheme}://{}", join_host_port(i.ip(), port)))
        .collect();
    if urls.is_empty() {
        vec![format!("{scheme}://{}", join_host_port(addr.ip(), port))]
    } else {
        urls
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
pub fn join_host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// `<dir>/<basename of argv[0]>_<pid>.ports`.
pub fn ports_file_path(dir: &Path) -> PathBuf {
    let exe = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "natrium".to_string());
    dir.join(format!("{exe}_{}.ports", std::process::id()))
}

/// Writes the ports file (atomically: a temporary file renamed into place, so a launcher
/// polling for it never reads half of it).
pub fn write_ports_file(dir: &Path, ports: &Ports) -> Result<PathBuf, String> {
    let path = ports_file_path(dir);
    let data =
        serde_json::to_vec(ports).map_err(|e| format!("Error marshaling ports file: {e}"))?;
    let tmp = path.with_extension("ports.tmp");
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("Error writing ports file ({}): {e}", path.display())
        })?;
    Ok(path)
}

/// Writes the pid as text, as nats-server does.
pub fn write_pid_file(path: &Path) -> Result<(), String> {
    std::fs::write(path, std::process::id().to_string())
        .map_err(|e| format!("Could not write pidfile: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_specific_and_unspecified_addresses() {
        let a: SocketAddr = "127.0.0.1:4222".parse().unwrap();
        assert_eq!(listener_urls("nats", a), ["nats://127.0.0.1:4222"]);
        let a: SocketAddr = "[::1]:4222".parse().unwrap();
        assert_eq!(listener_urls("nats", a), ["nats://[::1]:4222"]);
        let a: SocketAddr = "0.0.0.0:4222".parse().unwrap();
        let urls = listener_urls("nats", a);
        assert!(
            urls.contains(&"nats://127.0.0.1:4222".to_string()),
            "{urls:?}"
        );
    }

    #[test]
    fn json_shape_leaves_out_empty_lists() {
        let p = Ports {
            nats: vec!["nats://127.0.0.1:1".into()],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"nats":["nats://127.0.0.1:1"]}"#
        );
    }
}
