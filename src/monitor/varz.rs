//! `/varz`: server identity, configuration and counters, with nats-server's field names,
//! order, types and omit-when-empty rules (`monitor.go` `Varz`). Built from the shared
//! options and the per-reactor atomics only: it never waits on a reactor, so it answers
//! from the moment the monitor is up.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;

use super::format::is_zero;
use super::format::{self, go_float};
use super::procstat;
use crate::config::{WriteTimeoutPolicy, NATS_COMPAT_VERSION, VERSION};
use crate::server::Shared;

/// nats-server's default TLS timeout (seconds): what `/varz` reports without a `tls {}`
/// block, as nats-server does.
pub const TLS_TIMEOUT_SECS: f64 = 2.0;

/// A sub-object whose fields are all omitted when the feature is off (`cluster`, `gateway`,
/// `leaf`, `mqtt`, `websocket`, `jetstream` on a server without them).
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Disabled {}

/// `/varz` `mqtt` (nats-server's `MQTTOptsVarz`): all omitted without an MQTT listener.
#[derive(Debug, Serialize, Default, Clone)]
pub struct MqttVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_auth_user: String,
    #[serde(skip_serializing_if = "is_zero", serialize_with = "go_float")]
    pub auth_timeout: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_map: bool,
    #[serde(skip_serializing_if = "is_zero", serialize_with = "go_float")]
    pub tls_timeout: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub js_domain: String,
    /// Nanoseconds, as Go's `time.Duration` marshals.
    #[serde(skip_serializing_if = "is_zero")]
    pub ack_wait: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_ack_pending: u16,
}

impl MqttVarz {
    fn new(opts: &crate::config::Options, shared: &Shared) -> MqttVarz {
        let (Some(m), Some(rt)) = (opts.mqtt.as_ref(), shared.mqtt.as_ref()) else {
            return MqttVarz::default();
        };
        MqttVarz {
            host: m.host.clone(),
            port: rt.port,
            no_auth_user: m.no_auth_user.clone(),
            auth_timeout: m.auth_timeout.map_or(0.0, |d| d.as_secs_f64()),
            tls_map: m.tls.as_ref().is_some_and(|t| t.verify_and_map),
            tls_timeout: m
                .tls
                .as_ref()
                .map_or(0.0, |t| crate::tls::timeout(t).as_secs_f64()),
            js_domain: m.js_domain.clone(),
            ack_wait: m.ack_wait.as_nanos() as i64,
            max_ack_pending: m.max_ack_pending,
        }
    }
}

fn empty_when_off<S: serde::Serializer>(
    v: &Option<super::jsz::VarzJetStream>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(js) => js.serialize(s),
        None => Disabled {}.serialize(s),
    }
}

/// Counts per connection kind (`slow_consumer_stats`, `stale_connection_stats`).
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct PerKind {
    pub clients: u64,
    pub routes: u64,
    pub gateways: u64,
    pub leafs: u64,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct DiskIoWaitStats {
    pub waiters: i64,
    pub waits: u64,
    pub wait_time: u64,
    pub max_wait_time: u64,
}

/// `/varz` `cluster`: nats-server's `ClusterOptsVarz`, every field omitted when empty, so
/// a server without clustering shows `{}`. The TLS certificate's `tls_cert_not_after` is
/// not reported (natrium's top-level `/varz` has no certificate dates either).
#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// The bound route port; -1 for a random one not bound yet.
    #[serde(skip_serializing_if = "is_zero")]
    pub cluster_port: i32,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero")]
    pub auth_timeout: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero")]
    pub tls_timeout: f64,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub pool_size: i64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub write_deadline: i64,
    /// `close` or `retry`; omitted for `default`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub write_timeout: String,
}

/// The `leaf` object of `/varz` (nats-server's `LeafNodeOptsVarz`): the listener's host,
/// port and timeouts (with a listener), and the remotes. Its `write_deadline` and
/// `write_timeout` are the cluster block's, as nats-server 2.15 fills them in.
#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct LeafVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: i32,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero")]
    pub auth_timeout: f64,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero")]
    pub tls_timeout: f64,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<RemoteLeafVarz>,
    #[serde(skip_serializing_if = "is_zero")]
    pub write_deadline: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub write_timeout: String,
}

#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct RemoteLeafVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<DenyRules>,
}

#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct DenyRules {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
}

impl LeafVarz {
    /// From the (baseline-filled) options; `port` is the bound leaf port.
    pub fn new(opts: &crate::config::Options, port: Option<u16>) -> LeafVarz {
        let Some(l) = &opts.leafnodes else {
            return LeafVarz::default();
        };
        let listening = l.port.is_some();
        let cluster = ClusterVarz::new(opts.cluster.as_ref(), "", None);
        LeafVarz {
            host: l.host.clone(),
            port: port.or(l.port).map_or(0, i32::from),
            auth_timeout: if listening {
                format::secs_f64(l.effective_auth_timeout())
            } else {
                l.auth_timeout.map_or(0.0, format::secs_f64)
            },
            tls_timeout: if listening {
                format::secs_f64(l.tls_timeout())
            } else {
                0.0
            },
            tls_required: l.tls.is_some(),
            tls_verify: l.tls.as_ref().is_some_and(crate::tls::requires_client_cert),
            remotes: l
                .remotes
                .iter()
                .map(|r| RemoteLeafVarz {
                    local_account: r.account.clone(),
                    urls: r.urls.iter().map(|u| u.host_port.clone()).collect(),
                    deny: (!r.deny_imports.is_empty() || !r.deny_exports.is_empty()).then(|| {
                        DenyRules {
                            exports: r.deny_exports.clone(),
                            imports: r.deny_imports.clone(),
                        }
                    }),
                })
                .collect(),
            write_deadline: cluster.write_deadline,
            write_timeout: cluster.write_timeout,
        }
    }
}

impl ClusterVarz {
    /// Built from the options as nats-server builds it from its (baseline-filled) options:
    /// the timeouts appear with a listener or when configured. `name` is the running
    /// cluster name (`info_cluster`, which a dynamic cluster generates) or the configured
    /// one; `port` is the bound port (see `Shared::cluster_port`).
    pub fn new(
        c: Option<&crate::config::cluster::ClusterOptions>,
        info_cluster: &str,
        port: Option<u16>,
    ) -> ClusterVarz {
        let Some(c) = c else {
            return ClusterVarz::default();
        };
        let listening = c.port.is_some();
        let auth_timeout = if listening {
            Some(c.effective_auth_timeout())
        } else {
            c.auth_timeout
        };
        let tls_timeout = if listening {
            Some(c.tls_timeout())
        } else {
            c.tls.as_ref().and_then(|t| t.timeout)
        };
        ClusterVarz {
            name: if info_cluster.is_empty() {
                c.name.clone()
            } else {
                info_cluster.to_string()
            },
            addr: c.host.clone(),
            cluster_port: match port {
                None => 0,
                Some(0) => -1,
                Some(p) => i32::from(p),
            },
            auth_timeout: auth_timeout.map_or(0.0, format::secs_f64),
            urls: c.routes.iter().map(|r| r.host_port.clone()).collect(),
            tls_timeout: tls_timeout.map_or(0.0, format::secs_f64),
            tls_required: c.tls.is_some(),
            tls_verify: c.tls.is_some(),
            pool_size: c.pool_size,
            write_deadline: c.write_deadline.map_or(0, format::nanos),
            write_timeout: match c.write_timeout {
                WriteTimeoutPolicy::Default => String::new(),
                other => other.to_string(),
            },
        }
    }
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[derive(Debug, Serialize)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    /// natrium's own version (`version` is the nats-server release it matches).
    pub natrium_version: String,
    pub proto: i32,
    pub go: String,
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// The URLs clients get in INFO `connect_urls` (in a cluster).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    pub max_connections: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_subscriptions: i64,
    /// Nanoseconds, as Go encodes a `time.Duration`.
    pub ping_interval: i64,
    pub ping_max: u32,
    pub http_host: String,
    pub http_port: i32,
    pub http_base_path: String,
    pub https_port: i32,
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    pub max_control_line: usize,
    pub max_payload: i64,
    pub max_pending: i64,
    pub cluster: ClusterVarz,
    pub gateway: Disabled,
    pub leaf: LeafVarz,
    pub mqtt: MqttVarz,
    pub websocket: Disabled,
    /// `{}` when JetStream is off.
    #[serde(serialize_with = "empty_when_off")]
    pub jetstream: Option<super::jsz::VarzJetStream>,
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
    pub write_deadline: i64,
    pub start: String,
    pub now: String,
    pub uptime: String,
    pub mem: u64,
    pub cores: usize,
    pub gomaxprocs: usize,
    #[serde(serialize_with = "go_float")]
    pub cpu: f64,
    pub connections: i64,
    pub total_connections: u64,
    pub routes: u64,
    pub remotes: u64,
    pub leafnodes: u64,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub in_client_msgs: u64,
    pub in_client_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub out_client_msgs: u64,
    pub out_client_bytes: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
    pub stalled_clients: u64,
    pub subscriptions: u64,
    pub http_req_stats: BTreeMap<String, u64>,
    pub config_load_time: String,
    pub config_digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    pub slow_consumer_stats: PerKind,
    pub stale_connection_stats: PerKind,
    pub disk_io_wait_stats: DiskIoWaitStats,
}

/// A port option as nats-server shows it: 0 when off, -1 for "random" (`Some(0)` here).
fn port_opt(p: Option<u16>) -> i32 {
    match p {
        None => 0,
        Some(0) => -1,
        Some(p) => p as i32,
    }
}

/// The number of CPUs the process may use (Go's `runtime.NumCPU`).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Builds `/varz` now. `cpu` is the last sampled CPU percentage.
pub fn build(shared: &Shared, req_stats: &BTreeMap<String, u64>, cpu: f64) -> Varz {
    let opts = shared.options();
    let info = shared.info();
    let now = SystemTime::now();
    let in_msgs = shared.total(|s| &s.in_msgs);
    let in_bytes = shared.total(|s| &s.in_bytes);
    let out_msgs = shared.total(|s| &s.out_msgs);
    let out_bytes = shared.total(|s| &s.out_bytes);
    let slow = shared.total(|s| &s.slow_consumers);
    let stalls = shared.total(|s| &s.stalls);
    let stale = shared.stale_connections.load(Ordering::Relaxed);
    let cores = cores();
    // One connection per remote server (natrium has no route pool).
    let remotes = shared
        .cluster
        .as_ref()
        .map_or(0, |c| c.registry.remotes().len());
    Varz {
        server_id: info.server_id.clone(),
        server_name: info.server_name.clone(),
        version: NATS_COMPAT_VERSION.to_string(),
        natrium_version: VERSION.to_string(),
        proto: info.proto,
        go: info.go.clone(),
        host: info.host.clone(),
        port: info.port,
        auth_required: info.auth_required,
        tls_required: info.tls_required,
        tls_verify: info.tls_verify,
        connect_urls: info.connect_urls.clone(),
        ws_connect_urls: info.ws_connect_urls.clone(),
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions.max(0),
        ping_interval: format::nanos(opts.ping_interval),
        ping_max: opts.ping_max,
        http_host: http_host(&opts.http_host, &opts.host),
        http_port: port_opt(opts.http_port),
        http_base_path: opts.http_base_path.clone(),
        https_port: port_opt(opts.https_port),
        auth_timeout: format::secs_f64(opts.effective_auth_timeout()),
        max_control_line: opts.max_control_line,
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        cluster: ClusterVarz::new(opts.cluster.as_ref(), &info.cluster, shared.cluster_port()),
        gateway: Disabled {},
        leaf: LeafVarz::new(
            &opts,
            shared
                .leafnodes
                .as_ref()
                .and_then(|l| l.addr)
                .map(|a| a.port()),
        ),
        mqtt: MqttVarz::new(&opts, shared),
        websocket: Disabled {},
        jetstream: super::jsz::varz(shared),
        tls_timeout: opts
            .tls
            .as_ref()
            .map_or(TLS_TIMEOUT_SECS, |t| crate::tls::timeout(t).as_secs_f64()),
        write_deadline: format::nanos(opts.write_deadline),
        start: format::rfc3339(shared.started),
        now: format::rfc3339(now),
        uptime: format::uptime(shared.started_at.elapsed()),
        mem: procstat::rss_bytes(),
        cores,
        gomaxprocs: cores,
        cpu,
        connections: shared.client_count().max(0),
        total_connections: shared.total_connections.load(Ordering::Relaxed),
        routes: remotes as u64,
        remotes: remotes as u64,
        leafnodes: shared
            .leafnodes
            .as_ref()
            .map_or(0, |l| l.connected.load(Ordering::Relaxed) as u64),
        in_msgs,
        in_bytes,
        in_client_msgs: in_msgs,
        in_client_bytes: in_bytes,
        out_msgs,
        out_bytes,
        out_client_msgs: out_msgs,
        out_client_bytes: out_bytes,
        slow_consumers: slow,
        stale_connections: stale,
        stalled_clients: stalls,
        subscriptions: shared.total(|s| &s.subscriptions),
        http_req_stats: req_stats.clone(),
        config_load_time: format::rfc3339(shared.config_time()),
        config_digest: String::new(),
        system_account: super::accountz::system_account(shared),
        slow_consumer_stats: PerKind {
            clients: slow
                .saturating_sub(shared.total(|s| &s.slow_routes))
                .saturating_sub(shared.total(|s| &s.slow_leafs)),
            routes: shared.total(|s| &s.slow_routes),
            leafs: shared.total(|s| &s.slow_leafs),
            ..Default::default()
        },
        stale_connection_stats: PerKind {
            clients: stale,
            ..Default::default()
        },
        disk_io_wait_stats: DiskIoWaitStats::default(),
    }
}

/// nats-server's `http_host`: the client host when none is set.
pub fn http_host(http_host: &str, host: &str) -> String {
    if http_host.is_empty() {
        host.to_string()
    } else {
        http_host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cluster::{parse_route_url, ClusterOptions};
    use std::time::Duration;

    fn json(c: Option<&ClusterOptions>, info: &str, port: Option<u16>) -> String {
        serde_json::to_string(&ClusterVarz::new(c, info, port)).unwrap()
    }

    /// The shapes nats-server 2.15.1 showed for the same settings (its `cluster_port` is
    /// the bound port, and a dynamic cluster shows its generated name).
    #[test]
    fn cluster_object_as_nats_server_shows_it() {
        assert_eq!(json(None, "", None), "{}");
        let mut c = ClusterOptions {
            name: "C1".into(),
            host: "127.0.0.1".into(),
            port: Some(0),
            auth_timeout: Some(Duration::from_secs(3)),
            routes: vec![
                parse_route_url("nats://ruser:rpass@127.0.0.1:15222").unwrap(),
                parse_route_url("nats-route://127.0.0.1:15223").unwrap(),
            ],
            pool_size: 5,
            write_deadline: Some(Duration::from_secs(3)),
            write_timeout: WriteTimeoutPolicy::Retry,
            ..ClusterOptions::default()
        };
        assert_eq!(
            json(Some(&c), "", Some(39035)),
            "{\"name\":\"C1\",\"addr\":\"127.0.0.1\",\"cluster_port\":39035,\"auth_timeout\":3,\
             \"urls\":[\"127.0.0.1:15222\",\"127.0.0.1:15223\"],\"tls_timeout\":2,\"pool_size\":5,\
             \"write_deadline\":3000000000,\"write_timeout\":\"retry\"}"
        );
        // Not bound yet: -1, as the random port was configured.
        assert!(json(Some(&c), "", Some(0)).contains("\"cluster_port\":-1"));
        // The running name wins over the configured one.
        assert!(json(Some(&c), "dyn", Some(1)).starts_with("{\"name\":\"dyn\""));
        c.tls = Some(crate::config::security::TlsConfig {
            cert_file: "c.pem".into(),
            timeout: Some(Duration::from_millis(1500)),
            ..Default::default()
        });
        c.auth_timeout = None;
        c.routes.clear();
        c.write_timeout = WriteTimeoutPolicy::Default;
        c.write_deadline = None;
        assert_eq!(
            json(Some(&c), "", Some(1)),
            "{\"name\":\"C1\",\"addr\":\"127.0.0.1\",\"cluster_port\":1,\"auth_timeout\":2.5,\
             \"tls_timeout\":1.5,\"tls_required\":true,\"tls_verify\":true,\"pool_size\":5}"
        );
        // Without a listener: only what is configured.
        let named = ClusterOptions {
            name: "C9".into(),
            ..ClusterOptions::default()
        };
        assert_eq!(json(Some(&named), "", None), "{\"name\":\"C9\"}");
        let routes_only = ClusterOptions {
            routes: vec![parse_route_url("nats://127.0.0.1:15299").unwrap()],
            ..ClusterOptions::default()
        };
        assert_eq!(
            json(Some(&routes_only), "", None),
            "{\"urls\":[\"127.0.0.1:15299\"]}"
        );
        let no_pool = ClusterOptions {
            port: Some(0),
            pool_size: -1,
            host: "0.0.0.0".into(),
            ..ClusterOptions::default()
        };
        assert_eq!(
            json(Some(&no_pool), "", Some(41801)),
            "{\"addr\":\"0.0.0.0\",\"cluster_port\":41801,\"auth_timeout\":2,\"tls_timeout\":2,\
             \"pool_size\":-1}"
        );
    }
}
