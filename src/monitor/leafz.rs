//! `/leafz`: the leaf connections, in nats-server's JSON (`Leafz`, `LeafInfo` in
//! `monitor.go`), copied out of the reactors that hold them; `?subs=1` lists their
//! interest, `?acc=` keeps one account's.

use std::time::SystemTime;

use serde::Serialize;

use super::format;
use super::snapshot::ReactorSnap;
use crate::server::Shared;

#[derive(Debug, Serialize)]
pub struct Leafz {
    pub server_id: String,
    pub now: String,
    pub leafnodes: usize,
    pub leafs: Vec<LeafInfo>,
}

#[derive(Debug, Serialize)]
pub struct LeafInfo {
    pub id: u64,
    pub name: String,
    pub is_spoke: bool,
    pub account: String,
    pub ip: String,
    pub port: u16,
    pub rtt: String,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list: Option<Vec<String>>,
    /// natrium does not compress leaf connections: what nats-server shows for a peer
    /// without compression.
    pub compression: String,
}

pub fn build(shared: &Shared, subs: bool, account: &str, snaps: &[ReactorSnap]) -> Leafz {
    let mut leafs: Vec<LeafInfo> = snaps
        .iter()
        .flat_map(|s| s.leafs.iter())
        .filter(|l| account.is_empty() || l.account == account)
        .map(|l| LeafInfo {
            id: l.cid,
            name: l.remote_name.clone(),
            is_spoke: l.is_spoke,
            account: l.account.clone(),
            ip: l.ip.to_string(),
            port: l.port,
            rtt: format::rtt(l.rtt),
            in_msgs: l.in_msgs,
            out_msgs: l.out_msgs,
            in_bytes: l.in_bytes,
            out_bytes: l.out_bytes,
            subscriptions: l.subs.len(),
            subscriptions_list: subs.then(|| l.subs.clone()),
            compression: "not supported".into(),
        })
        .collect();
    leafs.sort_by_key(|l| l.id);
    Leafz {
        server_id: shared.server_id.clone(),
        now: format::rfc3339(SystemTime::now()),
        leafnodes: leafs.len(),
        leafs,
    }
}
