//! Endpoints of features natrium does not have yet — gateways, JetStream — in the shapes nats-server gives them when the feature is off, so tools that
//! poll them (nats-top, the exporter, health checks) keep working.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::connz::decode_subs;
use super::format;
use super::query::Query;
use crate::server::Shared;

fn now() -> String {
    format::rfc3339(SystemTime::now())
}

#[derive(Debug, Serialize)]
pub struct Gatewayz {
    pub server_id: String,
    pub now: String,
    pub outbound_gateways: BTreeMap<String, ()>,
    pub inbound_gateways: BTreeMap<String, ()>,
}

pub fn gatewayz(shared: &Shared, q: &Query) -> Result<Gatewayz, String> {
    decode_subs(q)?;
    q.bool("accs")?;
    Ok(Gatewayz {
        server_id: shared.server_id.clone(),
        now: now(),
        outbound_gateways: BTreeMap::new(),
        inbound_gateways: BTreeMap::new(),
    })
}

#[derive(Debug, Serialize, Default)]
pub struct JsApi {
    pub level: u64,
    pub total: u64,
    pub errors: u64,
}

#[derive(Debug, Serialize, Default)]
pub struct JsConfig {
    pub max_memory: i64,
    pub max_storage: i64,
}

/// nats-server's `JSInfo` with JetStream disabled.
#[derive(Debug, Serialize)]
pub struct Jsz {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub ha_assets: u64,
    pub api: JsApi,
    pub server_id: String,
    pub now: String,
    pub disabled: bool,
    pub config: JsConfig,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    pub total: u64,
}

pub fn jsz(shared: &Shared, q: &Query) -> Result<Jsz, String> {
    for b in [
        "accounts",
        "streams",
        "consumers",
        "direct-consumers",
        "config",
    ] {
        q.bool(b)?;
    }
    q.int("offset")?;
    q.int("limit")?;
    for b in ["leader-only", "raft", "stream-leader-only"] {
        q.bool(b)?;
    }
    Ok(Jsz {
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        accounts: 0,
        ha_assets: 0,
        api: JsApi::default(),
        server_id: shared.server_id.clone(),
        now: now(),
        disabled: true,
        config: JsConfig::default(),
        streams: 0,
        consumers: 0,
        messages: 0,
        bytes: 0,
        total: 0,
    })
}
