//! The route side of a connection: who the peer is, how far the handshake got, and the
//! interest it announced.

use rustc_hash::FxHashMap;

use super::url::RouteUrl;
use crate::proto::peer::{PeerParser, RoutePeer};
use crate::reactor::interest::InterestKey;

/// What a reactor keeps for a connection that is a route.
#[derive(Debug)]
pub struct RouteState {
    pub parser: PeerParser,
    /// We dialled it.
    pub solicited: bool,
    /// It is (or was dialled as) a configured route.
    pub explicit: bool,
    /// The URL it was dialled at, to dial again when it drops.
    pub url: Option<RouteUrl>,
    /// The peer's server id (CONNECT `name`, then INFO `server_id`).
    pub remote_id: String,
    /// The peer's server name (INFO `server_name`).
    pub remote_name: String,
    /// The peer's INFO has been processed and the route counts as connected.
    pub registered: bool,
    /// Never dial it again (a route to ourselves, one the peer refused for good).
    pub no_reconnect: bool,
    /// What the peer understands (headers, `LS+`/`LMSG` with origin), which decides how
    /// interest and messages are written to it.
    pub peer: RoutePeer,
    /// The peer's interest: weight per key (1 for a plain subject).
    pub subs: FxHashMap<InterestKey, u32>,
}

impl RouteState {
    pub fn new(parser: PeerParser) -> RouteState {
        RouteState {
            parser,
            solicited: false,
            explicit: false,
            url: None,
            remote_id: String::new(),
            remote_name: String::new(),
            registered: false,
            no_reconnect: false,
            peer: RoutePeer::default(),
            subs: FxHashMap::default(),
        }
    }
}
