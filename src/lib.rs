//! natrium: a NATS server that official NATS clients use unchanged and that runs where
//! nats-server runs, with its flags, configuration file and monitoring endpoints.
//!
//! Layout: [`config`] (options, command line, configuration file), [`server`] (start-up,
//! shared state, shutdown), [`reactor`] (the event loops that own connections), [`proto`]
//! (the wire protocol), [`subject`] (subject rules and the subject index), [`logging`].

pub mod config;
pub mod logging;
pub mod nkey;
pub mod proto;
pub mod reactor;
pub mod server;
pub mod subject;
pub mod tls;
pub mod transport;
