//! A route (or leaf remote) URL as the dialler uses it: the host and port to dial and the credentials to send
//! in CONNECT, from a URL parsed as nats-server parses route URLs
//! ([`crate::config::cluster::parse_route_url`]), whether configured or gossiped in INFO `ip`.

use crate::config::cluster::{parse_route_url, RouteUrl as ConfiguredUrl};

/// Where a route is dialled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteUrl {
    pub scheme: String,
    pub user: Option<String>,
    pub pass: Option<String>,
    /// Without brackets for IPv6.
    pub host: String,
    /// `None` when the URL has none: every dial then fails, as nats-server's does.
    pub port: Option<u16>,
    /// The path (and query) as written: a WebSocket leaf remote's upgrade path.
    pub path: String,
}

impl From<&ConfiguredUrl> for RouteUrl {
    fn from(u: &ConfiguredUrl) -> RouteUrl {
        RouteUrl {
            scheme: u.scheme.clone(),
            user: u.username.clone(),
            pass: u.password.clone(),
            host: u.host.clone(),
            port: u.port,
            path: u.path.clone(),
        }
    }
}

impl RouteUrl {
    /// Parses a URL such as INFO `ip` (`nats-route://127.0.0.1:6222/`).
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        parse_route_url(s).map(|u| RouteUrl::from(&u))
    }

    /// `host:port` with IPv6 hosts in brackets (just the host without a port).
    pub fn host_port(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The URL without its password (Go's `URL.Redacted`).
    pub fn redacted(&self) -> String {
        let user = match (&self.user, &self.pass) {
            (Some(u), Some(_)) => format!("{u}:xxxxx@"),
            (Some(u), None) => format!("{u}@"),
            _ => String::new(),
        };
        format!("{}://{user}{}", self.scheme, self.host_port())
    }

    /// The same server: scheme and credentials aside.
    pub fn same_address(&self, other: &RouteUrl) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.port == other.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = RouteUrl::parse("nats-route://ruser:T0pS3cr3t@127.0.0.1:6223/").unwrap();
        assert_eq!(
            (
                u.scheme.as_str(),
                u.user.as_deref(),
                u.pass.as_deref(),
                u.host.as_str(),
                u.port
            ),
            (
                "nats-route",
                Some("ruser"),
                Some("T0pS3cr3t"),
                "127.0.0.1",
                Some(6223)
            )
        );
        assert_eq!(u.redacted(), "nats-route://ruser:xxxxx@127.0.0.1:6223");
        let u = RouteUrl::parse("nats://[::1]:5222").unwrap();
        assert_eq!(
            (u.host.as_str(), u.host_port().as_str()),
            ("::1", "[::1]:5222")
        );
        assert_eq!(RouteUrl::parse("nats://h").unwrap().port, None);
    }
}
