//! The cluster as the running server holds it: the settings routes run with, the cluster
//! listener's address, the [`Registry`] and the dialler's channel. One per server, shared by
//! every reactor (`Shared::cluster`).

use std::net::SocketAddr;
use std::time::Duration;

use log::{info, warn};

use super::registry::Registry;
use super::url::RouteUrl;
use crate::dialer::{self, Dial, DialerHandle, Purpose};

/// The route settings, resolved from the options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Empty: generate one (a dynamic cluster name).
    pub name: String,
    pub host: String,
    /// 0: any free port.
    pub port: u16,
    /// `host:port` to put in route INFO instead of the listener's.
    pub advertise: String,
    /// Keep client URLs out of route INFO and peers' URLs out of client INFO.
    pub no_advertise: bool,
    /// Explicit routes, dialled until they connect.
    pub routes: Vec<RouteUrl>,
    /// `tls {}`: every route runs TLS from its first byte.
    pub tls: Option<crate::tls::RouteTls>,
    /// The first host name among the explicit routes: the name a peer's certificate is
    /// checked for when we dial an IP address (nats-server's `routeTLSName`).
    pub tls_name: Option<String>,
    pub connect_retries: u32,
    pub connect_backoff: bool,
    /// `cluster { authorization { user, password } }`: what a connecting route must send.
    pub auth: Option<(String, String)>,
    pub auth_timeout: Duration,
    /// The cluster's, else the server's, at most 30 s.
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    /// `permissions { import, export }`, as nats-server maps them onto a route: import is
    /// the publish permission (what we ask peers for), export the subscribe one (what peers
    /// may ask us for). `None`: everything both ways.
    pub permissions: Option<std::sync::Arc<crate::auth::permissions::PermSet>>,
}

impl Settings {
    /// The settings routes run with, from the cluster options (`None` when no cluster
    /// listener is configured). What natrium's route TLS lacks is refused, not ignored.
    pub fn from_options(opts: &crate::config::Options) -> Result<Option<Settings>, String> {
        let Some(c) = opts.cluster.as_ref() else {
            return Ok(None);
        };
        let Some(port) = c.port else {
            return Ok(None);
        };
        let tls = match &c.tls {
            Some(t) if t.verify_and_map => {
                return Err(
                    "cluster { tls { verify_and_map } } is not supported by natrium yet".into(),
                )
            }
            Some(t) => Some(
                crate::tls::RouteTls::from_config(t).map_err(|e| format!("cluster tls: {e}"))?,
            ),
            None => None,
        };
        let routes: Vec<RouteUrl> = c.routes.iter().map(RouteUrl::from).collect();
        Ok(Some(Settings {
            name: c.name.clone(),
            host: if c.host.is_empty() {
                crate::config::DEFAULT_HOST.to_string()
            } else {
                c.host.clone()
            },
            port,
            advertise: c.advertise.clone(),
            no_advertise: c.no_advertise,
            tls_name: crate::tls::first_host_name(routes.iter().map(|u| u.host.as_str())),
            routes,
            tls,
            connect_retries: u32::try_from(c.connect_retries.max(0)).unwrap_or(u32::MAX),
            connect_backoff: c.connect_backoff,
            auth: (!c.username.is_empty()).then(|| (c.username.clone(), c.password.clone())),
            auth_timeout: c.effective_auth_timeout(),
            ping_interval: c.effective_ping_interval(opts.ping_interval),
            ping_max: if c.ping_max > 0 {
                u32::try_from(c.ping_max).unwrap_or(u32::MAX)
            } else {
                opts.ping_max
            },
            write_deadline: c.write_deadline.unwrap_or(opts.write_deadline),
            permissions: c.permissions.as_ref().map(|p| {
                let (set, _) = crate::auth::permissions::PermSet::compile(
                    &crate::auth::options::Permissions {
                        publish: p.import.clone(),
                        subscribe: p.export.clone(),
                        response: None,
                    },
                );
                std::sync::Arc::new(set)
            }),
        }))
    }
}

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    pub settings: Settings,
    /// Where the cluster listener is bound.
    pub addr: SocketAddr,
    /// INFO `host`/`port` of route INFO (the advertise address, else the listener's).
    pub info_host: String,
    pub info_port: u16,
    pub registry: Registry,
    dialer: DialerHandle,
    /// The explicit routes now configured (a reload may change them).
    explicit: std::sync::RwLock<Vec<RouteUrl>>,
}

impl Cluster {
    pub fn new(
        settings: Settings,
        addr: SocketAddr,
        registry: Registry,
        dialer: DialerHandle,
    ) -> Cluster {
        let (info_host, info_port) = match split_advertise(&settings.advertise) {
            Some((h, p)) => (h, p.unwrap_or(addr.port())),
            None => (settings.host.clone(), addr.port()),
        };
        Cluster {
            explicit: std::sync::RwLock::new(settings.routes.clone()),
            settings,
            addr,
            info_host,
            info_port,
            registry,
            dialer,
        }
    }

    /// Asks the dialler to dial `url`.
    pub fn dial(&self, url: RouteUrl, explicit: bool, delay: Duration, first_connect: bool) {
        let _ = self.dialer.send(dialer::Request::Dial(Dial {
            url,
            purpose: Purpose::Route { explicit },
            delay,
            first_connect,
        }));
    }

    /// nats-server's `canImport`: whether we ask peers for `subject` (send them `RS+`).
    pub fn can_import(&self, subject: &[u8]) -> bool {
        self.settings
            .permissions
            .as_ref()
            .is_none_or(|p| p.publish_allowed(subject))
    }

    /// nats-server's `canExport`: whether a peer may ask us for `subject`.
    pub fn can_export(&self, subject: &[u8]) -> bool {
        self.settings
            .permissions
            .as_ref()
            .is_none_or(|p| p.subscribe_allowed(subject, None))
    }

    /// Whether `url` names one of the configured (explicit) routes.
    pub fn is_explicit(&self, url: &RouteUrl) -> bool {
        self.explicit
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|r| r.same_address(url))
    }

    /// A reload changed the configured routes: dial the new ones; the ones removed are no
    /// longer dialled, and the caller closes their connections (nats-server's reload of
    /// `routes`). Returns the removed ones.
    pub fn set_explicit(&self, routes: Vec<RouteUrl>) -> Vec<RouteUrl> {
        let mut current = self.explicit.write().unwrap_or_else(|e| e.into_inner());
        let added: Vec<RouteUrl> = routes
            .iter()
            .filter(|r| !current.iter().any(|c| c.same_address(r)))
            .cloned()
            .collect();
        let removed: Vec<RouteUrl> = current
            .iter()
            .filter(|c| !routes.iter().any(|r| r.same_address(c)))
            .cloned()
            .collect();
        *current = routes;
        drop(current);
        for url in added {
            self.dial(url, true, Duration::ZERO, true);
        }
        removed
    }

    /// The ping interval a route uses (resolved in [`Settings::from_options`]).
    pub fn ping_interval(&self) -> Duration {
        self.settings.ping_interval
    }
}

/// A cluster whose listener is bound and whose routes are not dialled yet.
pub struct Bound {
    pub cluster: std::sync::Arc<Cluster>,
    pub listener: std::net::TcpListener,
}

/// Binds the cluster listener and sets the cluster up. `own_urls`/`own_ws_urls` are this
/// server's client URLs (what peers' clients get in `connect_urls`); `dialer` reaches the
/// server's dialler.
pub fn bind(
    mut settings: Settings,
    own_urls: Vec<String>,
    own_ws_urls: Vec<String>,
    dialer: DialerHandle,
) -> Result<Bound, String> {
    let fail = |e: String| {
        format!(
            "Error listening on router port: {}:{}, {e}",
            settings.host, settings.port
        )
    };
    let addr = crate::server::resolve(&settings.host, settings.port).map_err(fail)?;
    let (listener, bound) = crate::server::listen_tcp(addr).map_err(|e| fail(e.to_string()))?;
    let dynamic = settings.name.is_empty();
    if dynamic {
        settings.name = crate::nkey::nuid();
    }
    let registry = Registry::new(settings.name.clone(), dynamic, own_urls, own_ws_urls);
    Ok(Bound {
        cluster: std::sync::Arc::new(Cluster::new(settings, bound, registry, dialer)),
        listener,
    })
}

impl Bound {
    /// Says where the cluster listens and dials the explicit routes (the dialler runs).
    pub fn start(self) {
        let cluster = self.cluster;
        info!("Cluster name is {}", cluster.registry.name());
        if cluster.registry.is_dynamic() {
            warn!("Cluster name was dynamically generated, consider setting one");
        }
        info!(
            "Listening for route connections on {}",
            crate::server::join_host_port(&cluster.settings.host, cluster.addr.port())
        );
        for url in &cluster.settings.routes {
            cluster.dial(url.clone(), true, Duration::ZERO, true);
        }
    }
}

/// The addresses this server's cluster listener answers on: the bound one, and for a
/// wildcard listener every local address with its port (nats-server's `routesToSelf`).
pub(crate) fn own_addresses(bound: SocketAddr) -> Vec<SocketAddr> {
    let mut own = vec![bound];
    if bound.ip().is_unspecified() {
        own.push(SocketAddr::new(
            std::net::Ipv4Addr::LOCALHOST.into(),
            bound.port(),
        ));
        own.push(SocketAddr::new(
            std::net::Ipv6Addr::LOCALHOST.into(),
            bound.port(),
        ));
        if let Ok(ifs) = if_addrs::get_if_addrs() {
            own.extend(ifs.iter().map(|i| SocketAddr::new(i.ip(), bound.port())));
        }
    }
    own
}

/// `host[:port]` of an advertise setting.
fn split_advertise(a: &str) -> Option<(String, Option<u16>)> {
    let a = a.trim();
    if a.is_empty() {
        return None;
    }
    let a = a.split_once("://").map_or(a, |(_, rest)| rest);
    if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        return Some((
            h.to_string(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        ));
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok())),
        _ => Some((a.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertise_forms() {
        assert_eq!(split_advertise(""), None);
        assert_eq!(
            split_advertise("10.0.0.1:7244"),
            Some(("10.0.0.1".into(), Some(7244)))
        );
        assert_eq!(split_advertise("host"), Some(("host".into(), None)));
        assert_eq!(split_advertise("[::1]:5"), Some(("::1".into(), Some(5))));
    }
}
