//! `/routez`: the route connections, in nats-server's JSON (`Routez`, `RouteInfo` in
//! `monitor.go`), copied out of the reactors that hold them.

use std::time::SystemTime;

use serde::Serialize;

use super::format;
use super::snapshot::{ReactorSnap, SubsMode};
use crate::server::Shared;

#[derive(Debug, Serialize)]
pub struct Routez {
    pub server_id: String,
    pub server_name: String,
    pub now: String,
    pub num_routes: usize,
    pub routes: Vec<RouteInfo>,
}

#[derive(Debug, Serialize)]
pub struct SubDetail {
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub qgroup: String,
    pub sid: String,
    pub msgs: u64,
    pub cid: u64,
}

#[derive(Debug, Serialize)]
pub struct RouteInfo {
    pub rid: u64,
    pub remote_id: String,
    pub remote_name: String,
    pub did_solicit: bool,
    pub is_configured: bool,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_size: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
    /// natrium has no route compression: what nats-server shows for a peer without it.
    pub compression: String,
}

pub fn build(shared: &Shared, mode: SubsMode, snaps: &[ReactorSnap]) -> Routez {
    let now = SystemTime::now();
    let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let mut routes: Vec<RouteInfo> = snaps
        .iter()
        .flat_map(|s| s.routes.iter())
        .map(|r| {
            let (list, detail) = match mode {
                SubsMode::None => (Vec::new(), Vec::new()),
                SubsMode::List => (
                    r.subs.iter().map(|(s, _, _)| s.clone()).collect(),
                    Vec::new(),
                ),
                SubsMode::Detail => (
                    Vec::new(),
                    r.subs
                        .iter()
                        .map(|(s, q, _)| SubDetail {
                            subject: s.clone(),
                            qgroup: q.clone().unwrap_or_default(),
                            sid: match q {
                                Some(q) => format!("{s} {q}"),
                                None => s.clone(),
                            },
                            msgs: 0,
                            cid: r.rid,
                        })
                        .collect(),
                ),
            };
            RouteInfo {
                rid: r.rid,
                remote_id: r.remote_id.clone(),
                remote_name: r.remote_name.clone(),
                did_solicit: r.did_solicit,
                is_configured: r.is_configured,
                ip: r.ip.to_string(),
                port: r.port,
                start: format::rfc3339(r.start),
                last_activity: format::rfc3339(r.last_activity),
                rtt: format::rtt(r.rtt),
                uptime: format::uptime(since(r.start)),
                idle: format::uptime(since(r.last_activity)),
                pending_size: r.pending,
                in_msgs: r.in_msgs,
                out_msgs: r.out_msgs,
                in_bytes: r.in_bytes,
                out_bytes: r.out_bytes,
                subscriptions: r.num_subs,
                subscriptions_list: list,
                subscriptions_list_detail: detail,
                compression: "not supported".into(),
            }
        })
        .collect();
    routes.sort_by_key(|r| r.rid);
    Routez {
        server_id: shared.server_id.clone(),
        server_name: shared.info().server_name,
        now: format::rfc3339(now),
        num_routes: routes.len(),
        routes,
    }
}
