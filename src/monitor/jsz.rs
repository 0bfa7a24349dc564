//! `/jsz` and `/varz` `jetstream` of a server with JetStream, from the figures the JetStream
//! thread publishes ([`crate::jetstream::Stats`]), in nats-server's `JSInfo` shape.

use serde::Serialize;

use super::format;
use super::query::Query;
use crate::jetstream::api::StateJson;
use crate::jetstream::json::Time;
use crate::jetstream::Stats;
use crate::server::Shared;

#[derive(Debug, Serialize)]
pub struct Api {
    pub level: i32,
    pub total: u64,
    pub errors: u64,
}

#[derive(Debug, Serialize)]
pub struct Config {
    pub max_memory: i64,
    pub max_storage: i64,
    pub store_dir: String,
    pub sync_interval: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sync_always: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

#[derive(Debug, Serialize)]
pub struct Limits {
    pub default_max_consumers: u32,
}

/// nats-server's default per-stream consumer limit (2.15.1), shown in `limits`.
const DEFAULT_MAX_CONSUMERS: u32 = 1000;

#[derive(Debug, Serialize)]
pub struct VarzStats {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub ha_assets: u64,
    pub api: Api,
}

/// `/varz` `jetstream`.
#[derive(Debug, Serialize)]
pub struct VarzJetStream {
    pub config: Config,
    pub stats: VarzStats,
    pub limits: Limits,
}

#[derive(Serialize)]
struct Cluster<'a> {
    leader: &'a str,
}

#[derive(Serialize)]
struct StreamDetail<'a> {
    name: &'a str,
    created: Time,
    cluster: Cluster<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a crate::jetstream::config::StreamConfig>,
    state: StateJson,
}

#[derive(Serialize)]
struct AccountDetail<'a> {
    name: &'a str,
    id: &'a str,
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: Api,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stream_detail: Vec<StreamDetail<'a>>,
}

#[derive(Serialize)]
struct Jsz<'a> {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: Api,
    server_id: &'a str,
    now: String,
    config: Config,
    limits: Limits,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_details: Vec<AccountDetail<'a>>,
    total: usize,
}

fn config(st: &Stats) -> Config {
    Config {
        max_memory: st.max_memory,
        max_storage: st.max_storage,
        store_dir: st.store_dir.clone(),
        sync_interval: format::nanos(st.sync_interval),
        sync_always: st.sync_always,
        domain: st.domain.clone(),
        strict: st.strict,
    }
}

fn api(st: &Stats) -> Api {
    Api {
        level: crate::proto::info::JS_API_LEVEL,
        total: st.api_total,
        errors: st.api_errors,
    }
}

pub fn varz(shared: &Shared) -> Option<VarzJetStream> {
    let st = shared
        .jetstream_stats
        .as_ref()?
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Some(VarzJetStream {
        config: config(&st),
        stats: VarzStats {
            memory: st.memory,
            storage: st.storage,
            reserved_memory: st.reserved_memory,
            reserved_storage: st.reserved_storage,
            accounts: st.accounts,
            ha_assets: 0,
            api: api(&st),
        },
        limits: Limits {
            default_max_consumers: DEFAULT_MAX_CONSUMERS,
        },
    })
}

/// `/jsz` with `accounts`, `streams`, `config`, `acc`, `offset` and `limit` as
/// nats-server reads them. `None` when JetStream is off.
pub fn jsz(shared: &Shared, q: &Query) -> Option<Result<Vec<u8>, String>> {
    let stats = shared.jetstream_stats.as_ref()?;
    let st = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Some(render(shared, &st, q))
}

fn render(shared: &Shared, st: &Stats, q: &Query) -> Result<Vec<u8>, String> {
    let streams = q.bool("streams")?;
    let with_config = q.bool("config")?;
    let accounts = q.bool("accounts")? || streams || with_config;
    for b in [
        "consumers",
        "direct-consumers",
        "leader-only",
        "raft",
        "stream-leader-only",
    ] {
        q.bool(b)?;
    }
    let offset = q.int("offset")?.max(0) as usize;
    let limit = match q.int("limit")? {
        n if n > 0 => n as usize,
        _ => 1024,
    };
    let only = q.get("acc");
    let leader = shared.info().server_name;
    let mut details = Vec::new();
    if accounts {
        for a in st
            .details
            .iter()
            .filter(|a| only.is_empty() || a.name == only)
            .skip(offset)
            .take(limit)
        {
            let stream_detail = if streams || with_config {
                a.streams
                    .iter()
                    .map(|(name, created, state, cfg)| StreamDetail {
                        name,
                        created: Time(*created),
                        cluster: Cluster { leader: &leader },
                        config: with_config.then_some(cfg),
                        state: StateJson::plain(state, state.num_subjects),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            details.push(AccountDetail {
                name: &a.name,
                id: &a.name,
                memory: a.memory,
                storage: a.storage,
                // nats-server shows its "no reservation" -1 as an unsigned number here.
                reserved_memory: u64::MAX,
                reserved_storage: u64::MAX,
                accounts: 0,
                ha_assets: 0,
                api: Api {
                    level: 0,
                    total: a.api_total,
                    errors: a.api_errors,
                },
                stream_detail,
            });
        }
    }
    let body = Jsz {
        memory: st.memory,
        storage: st.storage,
        reserved_memory: st.reserved_memory,
        reserved_storage: st.reserved_storage,
        accounts: st.accounts,
        ha_assets: 0,
        api: api(st),
        server_id: &shared.server_id,
        now: format::rfc3339(std::time::SystemTime::now()),
        config: config(st),
        limits: Limits {
            default_max_consumers: DEFAULT_MAX_CONSUMERS,
        },
        streams: st.streams,
        consumers: st.consumers,
        messages: st.messages,
        bytes: st.bytes,
        account_details: details,
        total: st.details.len(),
    };
    Ok(super::to_json(&body, true))
}
