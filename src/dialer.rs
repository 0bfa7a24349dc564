//! The dialler: one thread that connects to other servers — routes to their cluster ports,
//! leaf connections to their hubs' leaf ports — and hands each connected socket to a
//! reactor, which runs the handshake without blocking.
//!
//! Timings are nats-server's. Routes (`connectToRoute`, `reConnectToRoute`): an explicit
//! route (from the configuration or `--routes`) is tried every second until it connects
//! (doubling up to 30 s with `connect_backoff`); an implicit one (learned by gossip) once
//! plus `connect_retries` more times. Leaf remotes (`connectToRemoteLeafNode`): the remote's
//! URLs in turn, forever, `reconnect` plus a random part of it apart. A dial times out after
//! a second; the first failure, and every 3,600th after it, is logged as an error and the
//! rest at debug level (after a disconnect every failure). Addresses that are this server's
//! own cluster listener are never dialled as routes (a route list may name the server
//! itself).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use log::{debug, error};

use crate::reactor::{Control, Handle};
use crate::route::url::RouteUrl;

/// nats-server's `DEFAULT_ROUTE_CONNECT`: between attempts.
pub const ROUTE_CONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_ROUTE_CONNECT_MAX`: the longest back-off.
pub const ROUTE_CONNECT_MAX: Duration = Duration::from_secs(30);
/// nats-server's `DEFAULT_ROUTE_RECONNECT`: before re-dialling a dropped explicit route.
pub const ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_ROUTE_DIAL`.
pub const ROUTE_DIAL: Duration = Duration::from_secs(1);
/// nats-server's `DEFAULT_CONNECT_ERROR_REPORTS`.
const CONNECT_ERROR_REPORTS: u32 = 3600;

/// What a connection is dialled for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A route; `explicit`: configured (retried for ever) rather than learned by gossip.
    Route { explicit: bool },
    /// Leaf remote number `remote` (`leafnodes { remotes }`), whose URLs are tried in turn,
    /// `reconnect` apart.
    Leaf { remote: usize, reconnect: Duration },
}

/// A connection to dial.
#[derive(Debug, Clone)]
pub struct Dial {
    pub url: RouteUrl,
    pub purpose: Purpose,
    /// Wait this long before the first attempt.
    pub delay: Duration,
    /// The first connection to this URL since start: failures are then reported every
    /// 3,600th attempt, after a disconnect every time (nats-server's
    /// `shouldReportConnectErr`).
    pub first_connect: bool,
}

/// What a reactor is told about the socket it gets.
#[derive(Debug, Clone)]
pub struct Dialled {
    pub url: RouteUrl,
    pub purpose: Purpose,
}

pub enum Request {
    Dial(Dial),
    /// Stop dialling (shutdown).
    Stop,
}

struct Pending {
    dial: Dial,
    attempts: u32,
    delay: Duration,
}

/// Runs the dialler until `Request::Stop` or every sender is gone. `cluster` gives the
/// route settings (retries, back-off, the explicit routes still configured, our own
/// listener addresses), `leafnodes` the URLs of each leaf remote.
pub fn run(
    rx: Receiver<Request>,
    reactors: Vec<Handle>,
    cluster: Option<std::sync::Arc<crate::route::Cluster>>,
    leafnodes: Option<std::sync::Arc<crate::leaf::LeafNodes>>,
) {
    let own = cluster
        .as_ref()
        .map(|c| crate::route::cluster::own_addresses(c.addr))
        .unwrap_or_default();
    let mut queue: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut pending: std::collections::HashMap<u64, Pending> = Default::default();
    let mut next_id = 0u64;
    let mut next_reactor = 0usize;
    loop {
        let timeout = queue
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match rx.recv_timeout(timeout) {
            Ok(Request::Dial(dial)) => {
                next_id += 1;
                queue.push(Reverse((Instant::now() + dial.delay, next_id)));
                pending.insert(
                    next_id,
                    Pending {
                        dial,
                        attempts: 0,
                        delay: ROUTE_CONNECT,
                    },
                );
                continue;
            }
            Ok(Request::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        while let Some(Reverse((at, id))) = queue.peek().copied() {
            if at > Instant::now() {
                break;
            }
            queue.pop();
            let Some(mut p) = pending.remove(&id) else {
                continue;
            };
            let route = match &p.dial.purpose {
                Purpose::Route { explicit } => Some(*explicit),
                Purpose::Leaf { .. } => None,
            };
            // nats-server's `routeStillValid`: a reload may have removed it.
            if route == Some(true) && !cluster.as_ref().is_some_and(|c| c.is_explicit(&p.dial.url))
            {
                debug!(
                    "Not attempting to connect to explicit route {:?}, no longer part of configured routes",
                    p.dial.url.redacted()
                );
                continue;
            }
            // A reload may have removed or disabled the leaf remote meanwhile.
            if let Purpose::Leaf { remote, .. } = p.dial.purpose {
                if !leafnodes.as_ref().is_some_and(|l| l.is_active(remote)) {
                    continue;
                }
            }
            let own: &[SocketAddr] = if route.is_some() { &own } else { &[] };
            match attempt(&p.dial, own) {
                Attempt::Connected(stream, peer) => {
                    let n = reactors.len().max(1);
                    let target = &reactors[next_reactor % n];
                    next_reactor = next_reactor.wrapping_add(1);
                    let _ = stream.set_nonblocking(true);
                    let dialled = Dialled {
                        url: p.dial.url.clone(),
                        purpose: p.dial.purpose.clone(),
                    };
                    let stream = mio::net::TcpStream::from_std(stream);
                    target.send_control(match route {
                        Some(_) => Control::AdoptRoute(stream, peer, Some(dialled)),
                        None => Control::AdoptLeaf(stream, peer, dialled),
                    });
                }
                Attempt::Own => {
                    debug!("Detected route to self, ignoring {}", p.dial.url.redacted());
                }
                Attempt::Failed(err) => {
                    p.attempts += 1;
                    let text = match route {
                        Some(_) => format!(
                            "Error trying to connect to route (attempt {}): {err}",
                            p.attempts
                        ),
                        None => format!(
                            "Error trying to connect as leafnode to remote server {:?} (attempt {}): {err}",
                            p.dial.url.host_port(),
                            p.attempts
                        ),
                    };
                    if report(p.dial.first_connect, p.attempts) {
                        error!("{text}");
                    } else {
                        debug!("{text}");
                    }
                    let wait = match &p.dial.purpose {
                        Purpose::Route { explicit } => {
                            let settings = cluster.as_ref().map(|c| &c.settings);
                            let retries = settings.map_or(0, |s| s.connect_retries);
                            if !explicit && p.attempts > retries {
                                continue;
                            }
                            let wait = p.delay;
                            if settings.is_some_and(|s| s.connect_backoff) {
                                p.delay = (p.delay * 2).min(ROUTE_CONNECT_MAX);
                            }
                            wait
                        }
                        Purpose::Leaf { remote, reconnect } => {
                            // The next URL of the remote, after `reconnect` and a random
                            // part of it (`connectToRemoteLeafNode`).
                            if let Some(url) = leafnodes.as_ref().and_then(|l| l.next_url(*remote))
                            {
                                p.dial.url = url;
                            }
                            let jitter = fastrand::u64(..reconnect.as_millis().max(1) as u64);
                            *reconnect + Duration::from_millis(jitter)
                        }
                    };
                    queue.push(Reverse((Instant::now() + wait, id)));
                    pending.insert(id, p);
                }
            }
        }
    }
}

/// nats-server's `shouldReportConnectErr` with its default report intervals.
fn report(first_connect: bool, attempts: u32) -> bool {
    let every = if first_connect {
        CONNECT_ERROR_REPORTS
    } else {
        1
    };
    attempts == 1 || attempts % every == 0
}

enum Attempt {
    Connected(TcpStream, SocketAddr),
    /// Every address of the URL is this server's own listener.
    Own,
    Failed(String),
}

fn attempt(dial: &Dial, own: &[SocketAddr]) -> Attempt {
    let url = &dial.url;
    let Some(port) = url.port else {
        return Attempt::Failed(format!("dial tcp {}: missing port in address", url.host));
    };
    let addrs: Vec<SocketAddr> = match (url.host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Attempt::Failed(format!("dial tcp {}: {e}", url.host_port())),
    };
    let candidates: Vec<SocketAddr> = addrs.into_iter().filter(|a| !own.contains(a)).collect();
    // nats-server picks one of the host's addresses at random.
    let Some(addr) = candidates.get(fastrand::usize(..candidates.len().max(1))) else {
        return Attempt::Own;
    };
    match dial.purpose {
        Purpose::Route { .. } => {
            debug!("Trying to connect to route on {} ({addr})", url.host_port())
        }
        Purpose::Leaf { .. } => debug!(
            "Trying to connect as leafnode to remote server on {:?} ({addr})",
            url.host_port()
        ),
    }
    match TcpStream::connect_timeout(addr, ROUTE_DIAL) {
        Ok(s) => {
            let _ = s.set_nodelay(true);
            Attempt::Connected(s, *addr)
        }
        Err(e) => Attempt::Failed(format!("dial tcp {addr}: {}", go_dial_error(&e))),
    }
}

/// The end of Go's dial error text for the common failures.
fn go_dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".into(),
        _ => format!("connect: {e}"),
    }
}

/// The channel reactors and the server use to ask for dials.
pub type DialerHandle = Sender<Request>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_like_nats_server() {
        assert!(report(true, 1));
        assert!(!report(true, 2));
        assert!(report(true, 3600));
        assert!(report(false, 2));
    }

    #[test]
    fn own_listener_is_not_dialled() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let url = RouteUrl::parse(&format!("nats://127.0.0.1:{}", addr.port())).unwrap();
        assert_eq!(url.port, Some(addr.port()));
        let dial = Dial {
            url,
            purpose: Purpose::Route { explicit: true },
            delay: Duration::ZERO,
            first_connect: true,
        };
        assert!(matches!(attempt(&dial, &[addr]), Attempt::Own));
        assert!(matches!(attempt(&dial, &[]), Attempt::Connected(..)));
    }
}
