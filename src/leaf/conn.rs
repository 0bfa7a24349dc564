//! The leaf side of a connection: which end we are, the account it is bound to, how far the
//! handshake got, the interest the peer announced and what we told it.

use rustc_hash::FxHashMap;

use crate::proto::peer::PeerParser;
use crate::route::url::RouteUrl;

/// Which end of the leaf connection this server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We accepted it on the leaf port: the peer is a leaf node of ours, we are its hub.
    Leaf,
    /// We dialled it (a `remotes` entry): the peer is our hub.
    Hub,
}

/// A subject and optional queue group in the connection's account.
pub type LeafKey = (Box<[u8]>, Option<Box<[u8]>>);

/// What a reactor keeps for a connection that is a leaf connection.
#[derive(Debug)]
pub struct LeafState {
    pub parser: PeerParser,
    pub role: Role,
    /// The `remotes` entry it was dialled for (role `Hub`).
    pub remote: Option<usize>,
    pub url: Option<RouteUrl>,
    /// The account number it is bound to on this server.
    pub account: u32,
    /// The handshake is done: interest and messages flow.
    pub registered: bool,
    /// Role `Hub`: our CONNECT went out and the hub promised an INFO with `connect_info`.
    pub awaiting_connect_info: bool,
    /// Role `Hub`: the first INFO has arrived and our CONNECT went out.
    pub connect_sent: bool,
    pub remote_id: String,
    pub remote_name: String,
    /// The peer's cluster name (its server name when standalone): the origin of its
    /// interest and messages.
    pub remote_cluster: String,
    /// The peer takes `HMSG`.
    pub headers: bool,
    /// The nonce: ours on an accepted connection, the hub's on a dialled one.
    pub nonce: String,
    /// The peer's interest: weight per key (1 for a plain subject).
    pub subs: FxHashMap<LeafKey, u32>,
    /// The interest we announced to the peer: weight per key.
    pub sent: FxHashMap<LeafKey, u32>,
    /// Subjects whose messages do not cross to the peer: our remote's `deny_exports` when we
    /// dialled it, the leaf's `deny_pub` (its `deny_imports`) when it dialled us.
    pub deny_out: Vec<String>,
    /// Dial again only after this long (set by a loop-detected error), instead of the
    /// remote's reconnect delay.
    pub reconnect_after: Option<std::time::Duration>,
    /// An accepted CONNECT whose bcrypt password is being checked off the reactor, and the
    /// account it binds to if it matches.
    pub pending_connect: Option<Box<(crate::proto::info::LeafConnect, bool, String)>>,
}

impl LeafState {
    pub fn new(parser: PeerParser, role: Role) -> LeafState {
        LeafState {
            parser,
            role,
            remote: None,
            url: None,
            account: 0,
            registered: false,
            awaiting_connect_info: false,
            connect_sent: false,
            remote_id: String::new(),
            remote_name: String::new(),
            remote_cluster: String::new(),
            headers: false,
            nonce: String::new(),
            subs: FxHashMap::default(),
            sent: FxHashMap::default(),
            deny_out: Vec::new(),
            reconnect_after: None,
            pending_connect: None,
        }
    }
}
