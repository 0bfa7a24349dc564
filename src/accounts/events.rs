//! The JSON shapes of the system account (`$SYS`) as nats-server's `events.go` writes
//! them: the `ServerInfo` and `ClientInfo` every event and reply carries, connect and
//! disconnect events, and the server-ping answers. Field order and omissions follow the Go
//! structs' tags (`omitempty`), so that tools reading either server see the same documents.

use serde::Serialize;

/// The prefix of every system subject.
pub const SYS_PREFIX: &str = "$SYS.";

/// nats-server's `ClientInfo` (the fields natrium has).
#[derive(Serialize, Default, Debug, Clone)]
pub struct ClientInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub acc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ver: String,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub rtt: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub client_type: &'static str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// nats-server's `ServerInfo`: who sends an event or a reply.
#[derive(Serialize, Debug, Clone)]
pub struct ServerInfo {
    pub name: String,
    pub host: String,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    pub ver: String,
    /// JetStream feature flags, by name (all off: natrium has none of these yet).
    pub feature_flags: std::collections::BTreeMap<&'static str, bool>,
    pub jetstream: bool,
    pub flags: u64,
    pub seq: u64,
    pub time: String,
}

/// The feature flags nats-server 2.15 names in `ServerInfo`.
pub const FEATURE_FLAGS: [&str; 4] = [
    "js_ack_fc_v2",
    "js_api_reply_v2",
    "js_raft_delete_range",
    "js_snapshot_sources",
];

/// `{msgs, bytes}`.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub struct DataStats {
    pub msgs: u64,
    pub bytes: u64,
}

/// `io.nats.server.advisory.v1.client_connect`.
#[derive(Serialize, Debug)]
pub struct ConnectEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub timestamp: String,
    pub server: ServerInfo,
    pub client: ClientInfo,
}

pub const CONNECT_EVENT: &str = "io.nats.server.advisory.v1.client_connect";
pub const DISCONNECT_EVENT: &str = "io.nats.server.advisory.v1.client_disconnect";

/// `io.nats.server.advisory.v1.client_disconnect`.
#[derive(Serialize, Debug)]
pub struct DisconnectEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub timestamp: String,
    pub server: ServerInfo,
    pub client: ClientInfo,
    /// What the client sent (its published messages).
    pub sent: DataStats,
    /// What it was given.
    pub received: DataStats,
    pub reason: String,
}

/// A route in `statsz`.
#[derive(Serialize, Debug)]
pub struct RouteStat {
    pub rid: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub sent: DataStats,
    pub received: DataStats,
    pub pending: u64,
}

/// nats-server's `ServerStats`.
#[derive(Serialize, Debug)]
pub struct Statsz {
    pub start: String,
    pub mem: u64,
    pub cores: usize,
    #[serde(serialize_with = "crate::monitor::format::go_float")]
    pub cpu: f64,
    pub connections: i64,
    pub total_connections: u64,
    pub active_accounts: u64,
    pub subscriptions: u64,
    pub sent: DataStats,
    pub sent_to_clients: DataStats,
    pub received: DataStats,
    pub received_from_clients: DataStats,
    pub slow_consumers: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteStat>,
    pub active_servers: u64,
    pub gomaxprocs: usize,
}

/// The answer to `$SYS.REQ.SERVER.PING` (`ServerStatsMsg`).
#[derive(Serialize, Debug)]
pub struct StatszMsg {
    pub server: ServerInfo,
    pub statsz: Statsz,
}

/// nats-server's `ServerAPIResponse`: the answer to a `…PING.<X>` request other than
/// STATSZ and IDZ.
#[derive(Serialize, Debug)]
pub struct ApiResponse<T: Serialize> {
    pub server: ServerInfo,
    pub data: T,
}

/// nats-server's `ServerAPIClaimUpdateResponse`: the answer to a claims update or delete.
#[derive(Serialize, Debug)]
pub struct ClaimsResponse {
    pub server: ServerInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<ClaimsStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ClaimsError>,
}

/// `ClaimUpdateStatus`.
#[derive(Serialize, Debug)]
pub struct ClaimsStatus {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    pub code: u16,
    pub message: String,
}

/// `ClaimUpdateError`.
#[derive(Serialize, Debug)]
pub struct ClaimsError {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    pub code: u16,
    pub description: String,
}

/// The answer to `…PING.IDZ` (`ServerID`).
#[derive(Serialize, Debug)]
pub struct ServerId {
    pub name: String,
    pub host: String,
    pub id: String,
}

/// The answer to `$SYS.REQ.USER.INFO` (nats-server's `UserInfo`).
#[derive(Serialize, Debug)]
pub struct UserInfo {
    pub user: String,
    pub account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsJson>,
}

/// nats-server's `Permissions` as JSON.
#[derive(Serialize, Debug)]
pub struct PermissionsJson {
    pub publish: Option<SubjectPermissionJson>,
    pub subscribe: Option<SubjectPermissionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<ResponsesJson>,
}

#[derive(Serialize, Debug)]
pub struct SubjectPermissionJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct ResponsesJson {
    pub max: i64,
    /// Nanoseconds.
    pub ttl: i64,
}

impl PermissionsJson {
    pub fn from_config(p: &crate::auth::Permissions) -> PermissionsJson {
        let subject = |s: &crate::auth::SubjectPermission| SubjectPermissionJson {
            allow: s.allow.clone().unwrap_or_default(),
            deny: s.deny.clone(),
        };
        PermissionsJson {
            publish: p.publish.as_ref().map(subject),
            subscribe: p.subscribe.as_ref().map(subject),
            // With nats-server's defaults filled in, as it holds them.
            responses: p.response.as_ref().map(|r| ResponsesJson {
                max: match r.max_msgs {
                    0 => crate::auth::options::DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
                    n => n,
                },
                ttl: match r.expires {
                    Some(d) if d.is_zero() => {
                        crate::auth::options::DEFAULT_ALLOW_RESPONSE_EXPIRATION.as_nanos() as i64
                    }
                    Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
                    None => -1,
                },
            }),
        }
    }
}
