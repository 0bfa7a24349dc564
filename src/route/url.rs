//! Route URLs: `nats-route://[user:pass@]host:port`, `nats://…` or any scheme, as
//! nats-server's `url.Parse` takes them for routes.

/// A parsed route URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteUrl {
    pub scheme: String,
    pub user: Option<String>,
    pub pass: Option<String>,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
}

impl RouteUrl {
    /// Parses `scheme://[user[:pass]@]host[:port][/]`; the port defaults to 6222 (nats-server's
    /// `DEFAULT_ROUTE_PORT`).
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("parse {s:?}: missing protocol scheme"))?;
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, pass) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(format!("parse {s:?}: missing host"));
        }
        Ok(RouteUrl {
            scheme: scheme.to_string(),
            user,
            pass,
            host,
            port,
        })
    }

    /// `host:port` with IPv6 hosts in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
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

fn split_host_port(hp: &str) -> Result<(String, u16), String> {
    let default = 6222;
    if let Some(rest) = hp.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("invalid address {hp:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("invalid port {p:?}"))?,
            None => default,
        };
        return Ok((host.to_string(), port));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse().map_err(|_| format!("invalid port {p:?}"))?,
        )),
        None => Ok((hp.to_string(), default)),
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
                6223
            )
        );
        assert_eq!(u.redacted(), "nats-route://ruser:xxxxx@127.0.0.1:6223");
        let u = RouteUrl::parse("nats://[::1]:5222").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.host_port().as_str()),
            ("::1", 5222, "[::1]:5222")
        );
        assert_eq!(RouteUrl::parse("nats://h").unwrap().port, 6222);
        assert!(RouteUrl::parse("127.0.0.1:6222").is_err());
    }
}
