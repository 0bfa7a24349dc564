//! `/accountz` and `/accstatz`. They describe nats-server's global account `$G` alone
//! (and name the system account).

use std::time::SystemTime;

use serde::Serialize;

use super::connz::GLOBAL_ACCOUNT;
use super::format;
use super::subsz::Stats;
use crate::server::Shared;

#[derive(Debug, Serialize)]
pub struct Accountz {
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

#[derive(Debug, Serialize)]
pub struct AccountInfo {
    pub account_name: String,
    pub update_time: String,
    pub expired: bool,
    pub complete: bool,
    pub jetstream_enabled: bool,
    pub leafnode_connections: u64,
    pub client_connections: i64,
    pub subscriptions: u64,
    pub name_tag: String,
    pub sublist_stats: Stats,
}

/// The account list (no `acc`).
pub fn list(shared: &Shared) -> Accountz {
    Accountz {
        server_id: shared.server_id.clone(),
        now: format::rfc3339(SystemTime::now()),
        system_account: system_account(shared),
        accounts: Some(vec![GLOBAL_ACCOUNT.to_string()]),
        account_detail: None,
    }
}

/// The system account's name, when there is one.
pub fn system_account(shared: &Shared) -> String {
    let auth = shared.auth();
    auth.system_account()
        .map(|id| auth.account_name(id).to_string())
        .unwrap_or_default()
}

/// Whether `acc` names an account natrium has.
pub fn exists(acc: &str) -> bool {
    acc == GLOBAL_ACCOUNT
}

/// nats-server's error for an unknown account.
pub fn unknown(acc: &str) -> String {
    format!("Account {acc} does not exist")
}

/// The detail of the global account; `stats` are the summed index statistics.
pub fn detail(shared: &Shared, stats: Stats) -> Accountz {
    Accountz {
        server_id: shared.server_id.clone(),
        now: format::rfc3339(SystemTime::now()),
        system_account: system_account(shared),
        accounts: None,
        account_detail: Some(AccountInfo {
            account_name: GLOBAL_ACCOUNT.to_string(),
            update_time: format::rfc3339(shared.started),
            expired: false,
            complete: true,
            jetstream_enabled: false,
            leafnode_connections: 0,
            client_connections: shared.client_count().max(0),
            subscriptions: stats.num_subscriptions,
            name_tag: GLOBAL_ACCOUNT.to_string(),
            sublist_stats: stats,
        }),
    }
}

#[derive(Debug, Serialize)]
pub struct AccountStatz {
    pub server_id: String,
    pub now: String,
    pub account_statz: Vec<AccountStat>,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct MsgBytes {
    pub msgs: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct DataStats {
    pub msgs: u64,
    pub bytes: u64,
    pub gateways: MsgBytes,
    pub routes: MsgBytes,
    pub leafs: MsgBytes,
}

#[derive(Debug, Serialize)]
pub struct AccountStat {
    pub acc: String,
    pub name: String,
    pub conns: i64,
    pub leafnodes: u64,
    pub total_conns: i64,
    pub num_subscriptions: u64,
    pub sent: DataStats,
    pub received: DataStats,
    pub slow_consumers: u64,
}

/// `/accstatz`: accounts with connections, or all with `unused`.
pub fn statz(shared: &Shared, unused: bool) -> AccountStatz {
    let conns = shared.client_count().max(0);
    let mut out = AccountStatz {
        server_id: shared.server_id.clone(),
        now: format::rfc3339(SystemTime::now()),
        account_statz: Vec::new(),
    };
    if conns > 0 || unused {
        out.account_statz.push(AccountStat {
            acc: GLOBAL_ACCOUNT.to_string(),
            name: GLOBAL_ACCOUNT.to_string(),
            conns,
            leafnodes: 0,
            total_conns: conns,
            num_subscriptions: shared.total(|s| &s.subscriptions),
            sent: DataStats {
                msgs: shared.total(|s| &s.out_msgs),
                bytes: shared.total(|s| &s.out_bytes),
                ..Default::default()
            },
            received: DataStats {
                msgs: shared.total(|s| &s.in_msgs),
                bytes: shared.total(|s| &s.in_bytes),
                ..Default::default()
            },
            slow_consumers: shared.total(|s| &s.slow_consumers),
        });
    }
    out
}
