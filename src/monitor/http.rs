//! A small HTTP/1.1 server on its own thread and its own `mio::Poll`.
//!
//! ```text
//!   accept ─► read (bounded) ─► httparse ─► Handler::handle ─┬─► Respond ─► write ─► keep-alive
//!                                                           └─► Gather: Inspect every reactor
//!   reactor k runs the closure, sends its ReactorSnap, wakes us ─► all in (or 2 s) ─► write
//! ```
//!
//! Nothing here blocks: sockets are non-blocking, and a request that needs reactor data
//! parks its connection until the snapshots arrive over a channel (a `mio::Waker` wakes
//! this poll), so a slow or stuck reactor delays only the requests that asked it, and only
//! up to [`GATHER_TIMEOUT`]. Every connection is bounded: a request head larger than
//! [`MAX_REQUEST`] gets 431, a head not complete within [`HEADER_TIMEOUT`] of its first
//! byte (slowloris) or a response not taken within [`WRITE_TIMEOUT`] closes the
//! connection, idle keep-alive connections close after [`IDLE_TIMEOUT`], and at most
//! [`MAX_CONNS`] are open at once (more are accepted and closed at once). Each connection
//! has at most one request in flight, so at most `MAX_CONNS` snapshot requests are ever
//! queued on a reactor.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::format;
use super::query::{unescape, Query};
use super::snapshot::{self, ReactorSnap, SnapRequest};
use crate::reactor::Handle;

const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX);

/// The largest request head accepted.
pub const MAX_REQUEST: usize = 16 * 1024;
/// A request head must be complete this long after its first byte (nats-server's
/// `ReadHeaderTimeout`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle keep-alive connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A response must be taken by the client within this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for reactor snapshots before answering with what it has.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// Open monitoring connections at most.
pub const MAX_CONNS: usize = 256;
const MAX_HEADERS: usize = 64;

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The decoded path.
    pub path: String,
    pub query: Query,
}

impl Request {
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A 200 JSON response with the CORS header nats-server sends.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        let mut r = Response::new(status, JSON, body);
        r.headers.push(("Access-Control-Allow-Origin", "*".into()));
        r
    }

    /// A plain-text error, as nats-server's handlers write them (`w.Write` of the message).
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, TEXT, body)
    }

    /// Go's `http.NotFound`.
    pub fn not_found() -> Response {
        let mut r = Response::text(404, "404 page not found\n");
        r.headers.push(("X-Content-Type-Options", "nosniff".into()));
        r
    }

    /// The bytes on the wire. `head` leaves the body out (HEAD requests).
    pub fn encode(&self, head: bool, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 256);
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type
        );
        for (k, v) in &self.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        let _ = write!(
            out,
            "Date: {}\r\nContent-Length: {}\r\n",
            format::http_date(SystemTime::now()),
            self.body.len()
        );
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The outcome of parsing the start of a connection's input.
#[derive(Debug)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    Done {
        req: Request,
        /// Bytes of the head.
        consumed: usize,
        keep_alive: bool,
        /// The request carries a body (ignored; the connection closes after the response).
        has_body: bool,
    },
    /// Malformed: answer with this status and close.
    Bad(u16),
}

/// Parses one request head from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut headers);
    let consumed = match r.parse(buf) {
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_REQUEST {
                Parsed::Bad(431)
            } else {
                Parsed::Partial
            };
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad(431),
        Err(httparse::Error::Version) => return Parsed::Bad(505),
        Err(_) => return Parsed::Bad(400),
    };
    if consumed > MAX_REQUEST {
        return Parsed::Bad(431);
    }
    let (Some(method), Some(target), Some(version)) = (r.method, r.path, r.version) else {
        return Parsed::Bad(400);
    };
    let mut keep_alive = version == 1;
    let mut has_body = false;
    for h in r.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            has_body |= value.trim() != "0";
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
    }
    // Absolute form (`GET http://host/varz`) is allowed by HTTP/1.1.
    let target = match target.find("://") {
        Some(i) => match target[i + 3..].find('/') {
            Some(j) => &target[i + 3 + j..],
            None => "/",
        },
        None => target,
    };
    if !target.starts_with('/') {
        return Parsed::Bad(400);
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let Some(path) = unescape(raw_path, false) else {
        return Parsed::Bad(400);
    };
    Parsed::Done {
        req: Request {
            method: method.to_string(),
            path,
            query: Query::parse(raw_query),
        },
        consumed,
        keep_alive,
        has_body,
    }
}

/// Turns the rest of a snapshot request into a response once every reactor has answered.
pub type Finish = Box<dyn FnOnce(Vec<ReactorSnap>) -> Response + Send>;

/// What a handler decides for a request.
pub enum Action {
    Respond(Response),
    /// Ask the reactors, then finish.
    Gather(SnapRequest, Finish),
}

/// The application behind the server: the monitoring endpoints.
pub trait Handler {
    fn handle(&mut self, req: &Request) -> Action;
    /// Called about once a second.
    fn tick(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Waiting,
    Writing,
}

struct Conn {
    stream: TcpStream,
    /// Distinguishes this connection from a later one with the same token.
    serial: u64,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    state: State,
    /// When the current state times out.
    deadline: Instant,
    /// Close once the current response is written.
    close_after: bool,
    /// The peer shut down its sending side.
    eof: bool,
}

struct Gather {
    token: usize,
    serial: u64,
    want: usize,
    got: Vec<ReactorSnap>,
    deadline: Instant,
    finish: Finish,
    head: bool,
}

/// The server loop's state.
pub struct HttpServer<H: Handler> {
    poll: Poll,
    listener: TcpListener,
    waker: Arc<mio::Waker>,
    stop: Arc<AtomicBool>,
    handles: Vec<Handle>,
    handler: H,
    conns: Slab<Conn>,
    gathers: HashMap<u64, Gather>,
    tx: Sender<(u64, ReactorSnap)>,
    rx: Receiver<(u64, ReactorSnap)>,
    next_id: u64,
    next_tick: Instant,
    /// Connections to read again after finishing a response.
    resume: Vec<usize>,
}

impl<H: Handler> HttpServer<H> {
    /// Registers `listener` with `poll`; `waker` must belong to `poll` with token [`WAKER`].
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        waker: Arc<mio::Waker>,
        stop: Arc<AtomicBool>,
        handles: Vec<Handle>,
        handler: H,
    ) -> io::Result<HttpServer<H>> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let (tx, rx) = channel();
        Ok(HttpServer {
            poll,
            listener,
            waker,
            stop,
            handles,
            handler,
            conns: Slab::new(),
            gathers: HashMap::new(),
            tx,
            rx,
            next_id: 1,
            next_tick: Instant::now(),
            resume: Vec::new(),
        })
    }

    /// Serves until the stop flag is set (and the waker woken).
    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        while !self.stop.load(Ordering::Acquire) {
            let timeout = self.timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!("monitoring: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.on_readable(t);
                        }
                        if event.is_writable() {
                            self.flush(t);
                        }
                    }
                }
            }
            for t in std::mem::take(&mut self.resume) {
                self.on_readable(t);
            }
            self.collect_snapshots();
            self.expire();
            if Instant::now() >= self.next_tick {
                self.handler.tick();
                self.next_tick = Instant::now() + Duration::from_secs(1);
            }
        }
        debug!("monitoring stopped");
    }

    fn timeout(&self) -> Duration {
        if !self.resume.is_empty() {
            return Duration::ZERO;
        }
        let mut at = self.next_tick;
        for (_, c) in self.conns.iter() {
            at = at.min(c.deadline);
        }
        for g in self.gathers.values() {
            at = at.min(g.deadline);
        }
        at.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.conns.len() >= MAX_CONNS {
                        // Full: close at once rather than queue in the backlog.
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let entry = self.conns.vacant_entry();
                    let token = entry.key();
                    if self
                        .poll
                        .registry()
                        .register(
                            &mut stream,
                            Token(token),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    self.next_id += 1;
                    entry.insert(Conn {
                        stream,
                        serial: self.next_id,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        out_pos: 0,
                        state: State::Reading,
                        deadline: Instant::now() + IDLE_TIMEOUT,
                        close_after: false,
                        eof: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: try again on the next event.
                    debug!("monitoring: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(mut c) = self.conns.try_remove(token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Reads what the socket has (bounded), then serves any complete request.
    fn on_readable(&mut self, token: usize) {
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        let mut chunk = [0u8; 4096];
        // Read at most a little past the limit, so an oversized head is detected.
        while c.inbuf.len() <= MAX_REQUEST {
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => {
                    if c.state == State::Reading && c.inbuf.is_empty() {
                        c.deadline = Instant::now() + HEADER_TIMEOUT;
                    }
                    c.inbuf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token);
                    return;
                }
            }
        }
        self.advance(token);
    }

    /// Serves the next request in the buffer, if the connection is ready for one.
    fn advance(&mut self, token: usize) {
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        if c.state != State::Reading {
            return;
        }
        match parse(&c.inbuf) {
            Parsed::Partial => {
                if c.eof {
                    self.close(token);
                }
            }
            Parsed::Bad(status) => {
                let msg = format!("{status} {}", reason(status));
                c.close_after = true;
                c.inbuf.clear();
                self.respond(token, &Response::text(status, msg), false);
            }
            Parsed::Done {
                req,
                consumed,
                keep_alive,
                has_body,
            } => {
                c.inbuf.drain(..consumed);
                c.close_after = !keep_alive || has_body || c.eof;
                let head = req.is_head();
                match self.handler.handle(&req) {
                    Action::Respond(resp) => self.respond(token, &resp, head),
                    Action::Gather(snap_req, finish) => self.gather(token, snap_req, finish, head),
                }
            }
        }
    }

    fn gather(&mut self, token: usize, req: SnapRequest, finish: Finish, head: bool) {
        self.next_id += 1;
        let id = self.next_id;
        let want = snapshot::request(&self.handles, &req, id, &self.tx, &self.waker);
        if want == 0 {
            let resp = finish(Vec::new());
            self.respond(token, &resp, head);
            return;
        }
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        c.state = State::Waiting;
        // The gather's own deadline answers first; this only backs it up.
        c.deadline = Instant::now() + GATHER_TIMEOUT + WRITE_TIMEOUT;
        self.gathers.insert(
            id,
            Gather {
                token,
                serial: c.serial,
                want,
                got: Vec::with_capacity(want),
                deadline: Instant::now() + GATHER_TIMEOUT,
                finish,
                head,
            },
        );
    }

    fn collect_snapshots(&mut self) {
        while let Ok((id, snap)) = self.rx.try_recv() {
            let done = match self.gathers.get_mut(&id) {
                Some(g) => {
                    g.got.push(snap);
                    g.got.len() >= g.want
                }
                None => false,
            };
            if done {
                if let Some(g) = self.gathers.remove(&id) {
                    self.complete(g);
                }
            }
        }
    }

    fn complete(&mut self, g: Gather) {
        let alive = self
            .conns
            .get(g.token)
            .is_some_and(|c| c.serial == g.serial && c.state == State::Waiting);
        if !alive {
            return;
        }
        let mut got = g.got;
        got.sort_by_key(|s| s.reactor);
        let resp = (g.finish)(got);
        self.respond(g.token, &resp, g.head);
    }

    fn respond(&mut self, token: usize, resp: &Response, head: bool) {
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        c.out = resp.encode(head, !c.close_after);
        c.out_pos = 0;
        c.state = State::Writing;
        c.deadline = Instant::now() + WRITE_TIMEOUT;
        self.flush(token);
    }

    fn flush(&mut self, token: usize) {
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        if c.state != State::Writing {
            return;
        }
        while c.out_pos < c.out.len() {
            match c.stream.write(&c.out[c.out_pos..]) {
                Ok(0) => {
                    self.close(token);
                    return;
                }
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token);
                    return;
                }
            }
        }
        if c.close_after {
            let _ = c.stream.flush();
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            self.close(token);
            return;
        }
        c.out = Vec::new();
        c.out_pos = 0;
        c.state = State::Reading;
        c.deadline = Instant::now()
            + if c.inbuf.is_empty() {
                IDLE_TIMEOUT
            } else {
                HEADER_TIMEOUT
            };
        // Bytes that arrived meanwhile were left in the socket or the buffer (edge-triggered
        // readiness will not repeat): look at both on the next turn of the loop.
        self.resume.push(token);
    }

    /// Answers gathers that waited too long and drops connections past their deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self
            .gathers
            .iter()
            .filter(|(_, g)| g.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            if let Some(g) = self.gathers.remove(&id) {
                warn!(
                    "monitoring: {} of {} reactors did not answer within {:?}; answering with partial data",
                    g.want - g.got.len(),
                    g.want,
                    GATHER_TIMEOUT
                );
                self.complete(g);
            }
        }
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(t, _)| t)
            .collect();
        for t in expired {
            self.close(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Request, usize, bool, bool) {
        match parse(buf) {
            Parsed::Done {
                req,
                consumed,
                keep_alive,
                has_body,
            } => (req, consumed, keep_alive, has_body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_requests() {
        let (req, n, ka, body) =
            done(b"GET /connz?limit=2&sort=cid HTTP/1.1\r\nHost: x\r\n\r\nrest");
        assert_eq!(req.path, "/connz");
        assert_eq!(req.query.get("limit"), "2");
        assert_eq!(n, 49);
        assert!(ka && !body);
        let (_, _, ka, _) = done(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!ka);
        let (_, _, ka, _) = done(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!ka);
        let (req, _, _, body) =
            done(b"POST http://h:1/varz%2Fx HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(req.path, "/varz/x");
        assert!(body);
    }

    #[test]
    fn rejects_garbage_and_oversize() {
        assert!(matches!(parse(b"GET /"), Parsed::Partial));
        assert!(matches!(
            parse(b"\x00\x01\x02 garbage\r\n\r\n"),
            Parsed::Bad(400)
        ));
        assert!(matches!(
            parse(b"GET varz HTTP/1.1\r\n\r\n"),
            Parsed::Bad(400)
        ));
        let mut big = b"GET /varz HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST + 10, b'a');
        assert!(matches!(parse(&big), Parsed::Bad(431)));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&many), Parsed::Bad(431)));
    }

    #[test]
    fn encodes_responses() {
        let r = Response::json(200, b"{}".to_vec());
        let s = String::from_utf8(r.encode(false, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"));
        assert!(s.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(s.contains("Content-Length: 2\r\nConnection: close\r\n\r\n{}"));
        let s = String::from_utf8(r.encode(true, true)).unwrap();
        assert!(s.ends_with("Content-Length: 2\r\n\r\n"));
    }
}
