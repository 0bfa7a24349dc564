//! The HTTP monitor: nats-server's monitoring endpoints, Prometheus metrics and a live
//! dashboard, on the port given by `-m`/`http_port`.
//!
//! ```text
//!   monitor thread (one mio::Poll)                      reactor k
//!   ┌──────────────────────────────┐   Control::Inspect   ┌──────────────────────┐
//!   │ http: accept, parse, respond ├─────────────────────►│ snapshot::take: copy │
//!   │ Endpoints: route + render    │◄─────────────────────┤ conns / subs / stats │
//!   └──────────────────────────────┘  mpsc + mio::Waker   └──────────────────────┘
//! ```
//!
//! Endpoints that only need counters (`/varz`, `/healthz`, `/accstatz`, `/metrics`' varz
//! part, `/reactorz`) read the per-reactor atomics and the shared state; `/connz`, `/subsz`,
//! `/accountz?acc=` and `/metrics` ask every reactor for a snapshot and answer when all have
//! replied (see [`http`] for the bounds). Reactors never wait for the monitor.
//!
//! Paths, query parameters, JSON field names and types, status codes and error texts are
//! nats-server 2.15's (`server/monitor.go`); `docs/compat.md` lists where natrium differs.

pub mod accountz;
pub mod connz;
mod dashboard;
pub mod empty;
pub mod format;
pub mod healthz;
pub mod http;
pub mod jsz;
pub mod leafz;
pub mod metrics;
pub mod procstat;
pub mod query;
pub mod routez;
pub mod snapshot;
pub mod subsz;
pub mod varz;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use log::info;
use serde::Serialize;

use crate::reactor::Handle;
use crate::server::{resolve, Shared};
use http::{Action, Handler, HttpServer, Request, Response};
use query::Query;
use snapshot::{ConnFilter, SnapRequest};

/// The running monitor.
pub struct Monitor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Monitor {
    /// Binds the monitoring port and starts its thread. Logs nats-server's
    /// `Starting http monitor on HOST:PORT`.
    pub fn start(shared: Arc<Shared>, handles: Vec<Handle>) -> Result<Monitor, String> {
        let opts = shared.options();
        let host = varz::http_host(&opts.http_host, &opts.host);
        let port = opts.http_port.unwrap_or(0);
        let hp = format::join_host_port(&host, port);
        let addr = resolve(&host, port)
            .map_err(|e| format!("can't listen to the monitor port: listen tcp {hp}: {e}"))?;
        let (std_listener, addr) = crate::server::listen_tcp(addr)
            .map_err(|e| format!("can't listen to the monitor port: listen tcp {hp}: {e}"))?;
        let listener = mio::net::TcpListener::from_std(std_listener);
        let poll = mio::Poll::new().map_err(|e| e.to_string())?;
        let waker =
            Arc::new(mio::Waker::new(poll.registry(), http::WAKER).map_err(|e| e.to_string())?);
        let stop = Arc::new(AtomicBool::new(false));
        let endpoints = Endpoints::new(shared);
        let server = HttpServer::new(
            poll,
            listener,
            waker.clone(),
            stop.clone(),
            handles,
            endpoints,
        )
        .map_err(|e| e.to_string())?;
        info!(
            "Starting http monitor on {}",
            format::join_host_port(&host, addr.port())
        );
        let thread = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || server.run())
            .map_err(|e| e.to_string())?;
        Ok(Monitor {
            addr,
            stop,
            waker,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The bound address (the real port when `-m -1` asked for a random one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread and closes the port.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our own paths, besides nats-server's.
pub const METRICS_PATH: &str = "/metrics";
pub const REACTORZ_PATH: &str = "/reactorz";

/// nats-server's `normalizeBasePath`: leading slash, cleaned, "/" when empty.
pub fn normalize_base_path(p: &str) -> String {
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The endpoints, run on the monitor thread.
pub struct Endpoints {
    shared: Arc<Shared>,
    req_stats: BTreeMap<String, u64>,
    proc: procstat::ProcStat,
}

/// Serializes like Go's `json.MarshalIndent(v, "", "  ")` (or `json.Marshal`).
fn to_json<T: Serialize>(v: &T, pretty: bool) -> Vec<u8> {
    let r = if pretty {
        serde_json::to_vec_pretty(v)
    } else {
        serde_json::to_vec(v)
    };
    r.unwrap_or_else(|_| b"{}".to_vec())
}

/// A JSON answer; with a valid `callback=` name, JSONP (see docs/compat.md).
fn respond_json(status: u16, body: Vec<u8>, q: &Query) -> Response {
    let cb = q.get("callback");
    if is_js_name(cb) {
        let mut out = Vec::with_capacity(body.len() + cb.len() + 2);
        out.extend_from_slice(cb.as_bytes());
        out.push(b'(');
        out.extend_from_slice(&body);
        out.push(b')');
        let mut r = Response::new(status, "application/javascript", out);
        r.headers.push(("Access-Control-Allow-Origin", "*".into()));
        return r;
    }
    Response::json(status, body)
}

/// A JavaScript name (dotted path) safe to echo back as a JSONP callback.
fn is_js_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

fn json_ok<T: Serialize>(v: &T, q: &Query) -> Action {
    Action::Respond(respond_json(200, to_json(v, true), q))
}

fn bad_request(msg: String) -> Action {
    Action::Respond(Response::text(400, msg))
}

impl Endpoints {
    pub fn new(shared: Arc<Shared>) -> Endpoints {
        Endpoints {
            shared,
            req_stats: BTreeMap::new(),
            proc: procstat::ProcStat::new(),
        }
    }

    fn count(&mut self, path: &str) {
        *self.req_stats.entry(path.to_string()).or_insert(0) += 1;
    }

    fn varz_doc(&self) -> varz::Varz {
        varz::build(&self.shared, &self.req_stats, self.proc.cpu())
    }

    /// Maps a request path (with the base path) to the endpoint's own path.
    fn endpoint<'a>(&self, path: &'a str) -> Option<&'a str> {
        let base = normalize_base_path(&self.shared.options().http_base_path);
        if path == base {
            return Some("/");
        }
        let rest = if base == "/" {
            path
        } else {
            path.strip_prefix(base.as_str())?
        };
        (rest.starts_with('/') && rest != "/").then_some(rest)
    }

    fn route(&mut self, req: &Request) -> Action {
        let Some(ep) = self.endpoint(&req.path) else {
            return Action::Respond(Response::not_found());
        };
        let q = &req.query;
        match ep {
            "/" => {
                self.count("/");
                Action::Respond(dashboard::page())
            }
            "/varz" => {
                self.count("/varz");
                json_ok(&self.varz_doc(), q)
            }
            "/connz" => self.connz(q),
            "/subsz" | "/subscriptionsz" => self.subsz(q),
            "/routez" => self.routez(q),
            "/gatewayz" => {
                self.count("/gatewayz");
                match empty::gatewayz(&self.shared, q) {
                    Ok(v) => json_ok(&v, q),
                    Err(e) => bad_request(e),
                }
            }
            "/leafz" => self.leafz(q),
            "/jsz" => {
                self.count("/jsz");
                match jsz::jsz(&self.shared, q) {
                    Some(Ok(body)) => Action::Respond(respond_json(200, body, q)),
                    Some(Err(e)) => bad_request(e),
                    None => match empty::jsz(&self.shared, q) {
                        Ok(v) => json_ok(&v, q),
                        Err(e) => bad_request(e),
                    },
                }
            }
            "/accountz" => self.accountz(q),
            "/accstatz" => {
                self.count("/accstatz");
                match q.bool("unused") {
                    Ok(unused) => json_ok(&accountz::statz(&self.shared, unused), q),
                    Err(e) => bad_request(e),
                }
            }
            "/healthz" => {
                self.count("/healthz");
                match healthz::check(&self.shared, q) {
                    Ok((code, hs)) => Action::Respond(respond_json(code, to_json(&hs, false), q)),
                    Err(e) => bad_request(e),
                }
            }
            METRICS_PATH => self.metrics(),
            REACTORZ_PATH => {
                self.count(REACTORZ_PATH);
                json_ok(&reactorz(&self.shared), q)
            }
            _ => Action::Respond(Response::not_found()),
        }
    }

    fn connz(&mut self, q: &Query) -> Action {
        // nats-server counts the request after decoding its options.
        let p = match connz::Params::parse(q) {
            Ok(p) => p,
            Err(e) => {
                if !e.starts_with("Error decoding") {
                    self.count("/connz");
                }
                return bad_request(e);
            }
        };
        self.count("/connz");
        let mut p = p;
        p.known_accounts = self.shared.auth().accounts().to_vec();
        let filter = p.filter();
        let shared = self.shared.clone();
        let q = q.clone();
        let finish = move |snaps: Vec<snapshot::ReactorSnap>| {
            let closed = if p.state == connz::State::Open {
                Vec::new()
            } else {
                shared.closed_clients()
            };
            let c = connz::build(&shared.server_id, &p, &snaps, closed);
            respond_json(200, to_json(&c, true), &q)
        };
        match filter {
            Some(f) => Action::Gather(
                SnapRequest {
                    conns: Some(f),
                    ..Default::default()
                },
                Box::new(finish),
            ),
            None => Action::Respond(finish(Vec::new())),
        }
    }

    fn routez(&mut self, q: &Query) -> Action {
        self.count("/routez");
        let mode = match connz::decode_subs(q) {
            Ok(m) => m,
            Err(e) => return bad_request(e),
        };
        let shared = self.shared.clone();
        let q = q.clone();
        Action::Gather(
            SnapRequest {
                routes: Some(mode),
                ..Default::default()
            },
            Box::new(move |snaps| {
                respond_json(
                    200,
                    to_json(&routez::build(&shared, mode, &snaps), true),
                    &q,
                )
            }),
        )
    }

    fn leafz(&mut self, q: &Query) -> Action {
        self.count("/leafz");
        let subs = match q.bool("subs") {
            Ok(s) => s,
            Err(e) => return bad_request(e),
        };
        let account = q.get("acc").to_string();
        let shared = self.shared.clone();
        let q = q.clone();
        Action::Gather(
            SnapRequest {
                leafs: true,
                ..Default::default()
            },
            Box::new(move |snaps| {
                respond_json(
                    200,
                    to_json(&leafz::build(&shared, subs, &account, &snaps), true),
                    &q,
                )
            }),
        )
    }

    fn subsz(&mut self, q: &Query) -> Action {
        // nats-server counts `/subsz` (under that name, for the alias too) before decoding.
        self.count("/subsz");
        let p = match subsz::Params::parse(q) {
            Ok(p) => p,
            Err(e) => return bad_request(e),
        };
        let id = self.shared.server_id.clone();
        let q = q.clone();
        let req = SnapRequest {
            subs: p.filter(),
            sublist: true,
            ..Default::default()
        };
        Action::Gather(
            req,
            Box::new(move |snaps| {
                respond_json(200, to_json(&subsz::build(&id, &p, &snaps), true), &q)
            }),
        )
    }

    fn accountz(&mut self, q: &Query) -> Action {
        self.count("/accountz");
        let acc = q.get("acc");
        if acc.is_empty() {
            return json_ok(&accountz::list(&self.shared), q);
        }
        if !accountz::exists(acc) {
            return bad_request(accountz::unknown(acc));
        }
        let shared = self.shared.clone();
        let q = q.clone();
        Action::Gather(
            SnapRequest {
                sublist: true,
                ..Default::default()
            },
            Box::new(move |snaps| {
                let d = accountz::detail(&shared, subsz::stats(&snaps));
                respond_json(200, to_json(&d, true), &q)
            }),
        )
    }

    fn metrics(&mut self) -> Action {
        self.count(METRICS_PATH);
        let varz = serde_json::to_value(self.varz_doc()).unwrap_or_default();
        let shared = self.shared.clone();
        let healthy = !(shared.lame_duck.load(Ordering::Acquire)
            || shared.shutting_down.load(Ordering::Acquire));
        Action::Gather(
            SnapRequest {
                conns: Some(ConnFilter::default()),
                sublist: true,
                ..Default::default()
            },
            Box::new(move |snaps| {
                let text = metrics::render(&shared, &varz, &snaps, healthy);
                Response::new(200, metrics::CONTENT_TYPE, text)
            }),
        )
    }
}

impl Handler for Endpoints {
    fn handle(&mut self, req: &Request) -> Action {
        self.route(req)
    }

    fn tick(&mut self) {
        self.proc.sample();
    }
}

/// `/reactorz` (natrium's own): the per-reactor counters the dashboard charts.
#[derive(Debug, Serialize)]
pub struct Reactorz {
    pub server_id: String,
    pub now: String,
    pub reactors: Vec<ReactorInfo>,
}

#[derive(Debug, Serialize)]
pub struct ReactorInfo {
    pub id: usize,
    pub polls: u64,
    pub events: u64,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub routed_in: u64,
    pub routed_out: u64,
    pub slow_consumers: u64,
    pub connections: u64,
    pub subscriptions: u64,
}

pub fn reactorz(shared: &Shared) -> Reactorz {
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Reactorz {
        server_id: shared.server_id.clone(),
        now: format::rfc3339(SystemTime::now()),
        reactors: shared
            .stats
            .iter()
            .enumerate()
            .map(|(id, s)| ReactorInfo {
                id,
                polls: l(&s.polls),
                events: l(&s.events),
                in_msgs: l(&s.in_msgs),
                in_bytes: l(&s.in_bytes),
                out_msgs: l(&s.out_msgs),
                out_bytes: l(&s.out_bytes),
                routed_in: l(&s.routed_in),
                routed_out: l(&s.routed_out),
                slow_consumers: l(&s.slow_consumers),
                connections: l(&s.connections),
                subscriptions: l(&s.subscriptions),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_like_nats() {
        assert_eq!(normalize_base_path(""), "/");
        assert_eq!(normalize_base_path("nats"), "/nats");
        assert_eq!(normalize_base_path("/nats/"), "/nats");
        assert_eq!(normalize_base_path("/a//b/./c/../"), "/a/b");
    }

    #[test]
    fn jsonp_names() {
        assert!(is_js_name("cb"));
        assert!(is_js_name("jQuery_123.cb$"));
        assert!(!is_js_name(""));
        assert!(!is_js_name("alert(1)"));
        assert!(!is_js_name("a..b"));
        assert!(!is_js_name("1abc"));
    }
}
