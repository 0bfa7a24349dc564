//! Integration tests: the real `natrium` binary driven by real NATS clients (async-nats, the
//! `nats` npm package, nats-py) and by raw sockets for byte-exact protocol checks.
//! Every test starts its own server on a random loopback port and stops it when done.

mod harness;

mod cli;
mod clients;
mod core;
mod reactors;
mod tls;
mod transcripts;
