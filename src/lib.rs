//! natrium: a NATS server that official NATS clients use unchanged and that runs where
//! nats-server runs, with its flags, configuration file and monitoring endpoints.
//!
//! Layout: [`auth`] (authentication and permissions), [`config`] (options, command line, configuration file), [`server`] (start-up,
//! shared state, shutdown), [`reactor`] (the event loops that own connections), [`proto`]
//! (the wire protocol), [`subject`] (subject rules and the subject index), [`logging`],
//! [`websocket`] (the WebSocket listener's upgrade and framing), [`route`] (clustering),
//! [`leaf`] (leaf nodes), [`jetstream`] (persistence: so far the stream store).

pub mod accounts;
pub mod auth;
pub mod config;
pub mod dialer;
pub mod durable;
pub mod jetstream;
pub mod leaf;
pub mod logging;
pub mod monitor;
pub mod mqtt;
pub mod nkey;
pub mod proto;
pub mod reactor;
pub mod route;
pub mod server;
pub mod service;
pub mod subject;
pub mod tls;
pub mod transport;
pub mod websocket;
