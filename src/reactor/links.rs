//! Reading a connection to another server (a route or a leaf connection): the one parse
//! loop both share, with nats-server's trace of each protocol line; what an operation does
//! is the route's ([`crate::route`]) or the leaf connection's ([`crate::leaf`]).

use std::time::Instant;

use log::{error, trace};

use super::Reactor;
use crate::proto::peer::{PeerParser, PeerStatus};

impl Reactor {
    /// Parses and executes what a route or leaf connection sent; returns the bytes
    /// consumed. Stops early when the connection closes or pauses.
    pub(super) fn process_link(&mut self, token: usize, data: &[u8]) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            let Some(conn) = self.conns.get_mut(token) else {
                return pos;
            };
            if !conn.can_process() {
                break;
            }
            let is_route = conn.route.is_some();
            let parser: &mut PeerParser =
                match (conn.route.as_deref_mut(), conn.leaf.as_deref_mut()) {
                    (Some(r), _) => &mut r.parser,
                    (None, Some(l)) => &mut l.parser,
                    (None, None) => return pos,
                };
            match parser.parse(&data[pos..]) {
                Ok(PeerStatus::Complete(op, used)) => {
                    if log::log_enabled!(log::Level::Trace) {
                        let raw = &data[pos..pos + used];
                        let line = memchr::memchr(b'\r', raw).map_or(raw, |end| &raw[..end]);
                        trace!("{} - <<- [{}]", conn.label(), String::from_utf8_lossy(line));
                    }
                    pos += used;
                    conn.last_in = Instant::now();
                    conn.last_activity = std::time::SystemTime::now();
                    if is_route {
                        self.route_op(token, op);
                    } else {
                        self.leaf_op(token, op);
                    }
                    if self.congested {
                        self.stall(token);
                    }
                }
                Ok(PeerStatus::Incomplete) => break,
                Err(e) => {
                    if let Some(text) = e.err_text() {
                        conn.queue_err(text);
                    }
                    let kind = if is_route { "Route" } else { "Leafnode" };
                    error!("{} - {kind} Error {e}", conn.label());
                    let reason = e.close_reason();
                    self.close(token, reason);
                    return data.len();
                }
            }
        }
        pos
    }
}
