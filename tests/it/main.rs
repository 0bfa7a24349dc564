//! Integration tests: the real `natrium` binary driven by real NATS clients (async-nats, the
//! `nats` npm package, nats-py) and by raw sockets for byte-exact protocol checks.
//! Every test starts its own server on a random loopback port and stops it when done.

mod harness;

mod accounts;
mod auth;
mod bench;
mod cli;
mod clients;
mod cluster;
mod config;
mod core;
mod cross;
mod hostile;
mod jetstream;
mod jetstream_clients;
mod jetstream_consumers;
mod jwt_sharing;
mod leaf;
mod leaf_cluster;
mod leaf_reload;
mod leaf_tls;
mod leaf_ws;
mod monitor;
mod mqtt;
mod operator;
mod overload;
mod permissions;
mod reactors;
mod reload_auth;
mod resolver;
mod sharing;
mod soak;
mod system;
mod tls;
mod transcripts;
mod websocket;
