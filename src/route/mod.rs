//! Clustering: routes between servers, speaking nats-server 2.15's route protocol so that
//! natrium and nats-server nodes form one cluster.
//!
//! What lives where:
//! - A route is one more kind of connection on a reactor ([`RouteState`] hangs off its
//!   `Conn`): the same buffers, flushing, timers, TLS and close path as a client; its own
//!   parser and operations (`ops`). Its `RS+` interest goes into the reactor's subject index
//!   as `Target::Route` entries and is announced to the other reactors like client interest
//!   (`reactor::interest`), so a publish anywhere in the server reaches it with no lock on
//!   the message path.
//! - What the whole server must agree on — which remote servers are connected (duplicate
//!   and self detection), their client URLs (the clients' `connect_urls`), the cluster name —
//!   is in the [`registry`], behind a mutex taken only on handshakes and closes.
//! - Dialling (explicit routes from the configuration, implicit ones learned by gossip) runs
//!   on the server's dialler thread ([`crate::dialer`]), which hands connected sockets to a
//!   reactor.

pub mod conn;
mod forward;
mod gossip;
mod handshake;
mod ops;

pub use conn::RouteState;
pub mod cluster;
pub mod registry;
pub mod url;

pub use cluster::{Cluster, Settings};
