//! The route dialler: one thread that connects to other servers' cluster ports and hands
//! each connected socket to a reactor, which runs the handshake without blocking.
//!
//! Timings are nats-server's (`connectToRoute`, `reConnectToRoute`): an explicit route (from
//! the configuration or `--routes`) is tried every second until it connects (doubling up to
//! 30 s with `connect_backoff`); an implicit one (learned by gossip) once plus
//! `connect_retries` more times; a dial times out after a second; the first failure, and
//! every 3,600th after it, is logged as an error and the rest at debug level. Addresses that
//! are this server's own cluster listener are never dialled (a route list may name the
//! server itself).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use log::{debug, error};

use super::url::RouteUrl;
use crate::reactor::{Control, Handle};

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

/// A route to dial.
#[derive(Debug, Clone)]
pub struct Dial {
    pub url: RouteUrl,
    /// Configured (retried for ever) rather than learned by gossip.
    pub explicit: bool,
    /// Wait this long before the first attempt.
    pub delay: Duration,
    /// The first connection to this URL since start (errors are reported more sparingly
    /// after a reconnect… in nats-server the other way round: see `report`).
    pub first_connect: bool,
}

/// What a reactor is told about the socket it gets.
#[derive(Debug, Clone)]
pub struct Dialled {
    pub url: RouteUrl,
    pub explicit: bool,
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

/// Settings the dialler needs, copied from the options.
#[derive(Debug, Clone)]
pub struct DialSettings {
    pub connect_retries: u32,
    pub connect_backoff: bool,
    /// This server's own cluster listener addresses, never dialled.
    pub own: Vec<SocketAddr>,
}

/// Runs the dialler until `Request::Stop` or every sender is gone.
pub fn run(
    rx: Receiver<Request>,
    reactors: Vec<Handle>,
    settings: DialSettings,
    cluster: &super::Cluster,
) {
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
            // nats-server's `routeStillValid`: a reload may have removed it.
            if p.dial.explicit && !cluster.is_explicit(&p.dial.url) {
                debug!(
                    "Not attempting to connect to explicit route {:?}, no longer part of configured routes",
                    p.dial.url.redacted()
                );
                continue;
            }
            match attempt(&p.dial.url, &settings.own) {
                Attempt::Connected(stream, peer) => {
                    let n = reactors.len().max(1);
                    let target = &reactors[next_reactor % n];
                    next_reactor = next_reactor.wrapping_add(1);
                    let _ = stream.set_nonblocking(true);
                    let dialled = Dialled {
                        url: p.dial.url.clone(),
                        explicit: p.dial.explicit,
                    };
                    let stream = mio::net::TcpStream::from_std(stream);
                    target.send_control(Control::AdoptRoute(stream, peer, Some(dialled)));
                }
                Attempt::Own => {
                    debug!("Detected route to self, ignoring {}", p.dial.url.redacted());
                }
                Attempt::Failed(err) => {
                    p.attempts += 1;
                    let text = format!(
                        "Error trying to connect to route (attempt {}): {err}",
                        p.attempts
                    );
                    if report(p.dial.first_connect, p.attempts) {
                        error!("{text}");
                    } else {
                        debug!("{text}");
                    }
                    if !p.dial.explicit && p.attempts > settings.connect_retries {
                        continue;
                    }
                    let wait = p.delay;
                    if settings.connect_backoff {
                        p.delay = (p.delay * 2).min(ROUTE_CONNECT_MAX);
                    }
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

fn attempt(url: &RouteUrl, own: &[SocketAddr]) -> Attempt {
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
    debug!("Trying to connect to route on {} ({addr})", url.host_port());
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
        assert!(matches!(attempt(&url, &[addr]), Attempt::Own));
        assert!(matches!(attempt(&url, &[]), Attempt::Connected(..)));
    }
}
