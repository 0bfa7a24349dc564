//! Running natrium as a service, the way nats-server runs: the pid file and the ports file
//! ([`files`]), `--signal` to a running server ([`signal`]), and systemd's `Type=notify`
//! readiness and watchdog protocol ([`notify`]), and the idle footprint ([`footprint`]).

pub mod files;
pub mod footprint;
pub mod notify;
pub mod signal;
