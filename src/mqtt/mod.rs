//! MQTT: the listener's protocol for devices (3.1.1 as nats-server speaks it, and 5.0).
//!
//! - [`packet`]: the pure packet decoder and encoder (no I/O; a fuzz target).
//! - [`topic`]: MQTT topics and filters ↔ NATS subjects, exactly as nats-server maps them.
//! - [`session`]: one connection's protocol state; [`shared`]: the session registry and
//!   retained messages all reactors share; [`persist`]: how they are kept in JetStream.
//!
//! An MQTT connection is one more kind of connection on a reactor (`reactor::mqtt`).

pub mod packet;
pub mod persist;
pub mod session;
pub mod shared;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

/// What MQTT connections need from the server: the listener's settings and the state
/// connections share.
pub struct MqttRuntime {
    pub state: shared::MqttShared,
    /// The `mqtt { tls {} }` configuration: TLS from the first byte.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub tls_timeout: Duration,
    /// `mqtt { authorization { timeout } }`; None: the server's auth timeout.
    pub auth_timeout: Option<Duration>,
    pub reject_qos2_publish: bool,
    pub downgrade_qos2_subscribe: bool,
    /// With JetStream on: the server name, which the records in the MQTT streams carry as
    /// their origin; retained messages and persistent sessions (of the global account)
    /// are then kept in JetStream. None: they live only while the server runs.
    pub persist: Option<String>,
    /// The host and port as configured and bound, for the log line and `/varz`.
    pub host: String,
    pub port: u16,
}

impl MqttRuntime {
    /// How long a new connection has for its CONNECT.
    pub fn auth_timeout(&self, opts: &crate::config::Options) -> Duration {
        self.auth_timeout
            .unwrap_or_else(|| opts.effective_auth_timeout())
    }
}
