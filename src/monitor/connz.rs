//! `/connz`: open connections (from reactor snapshots) and closed ones (from the shared
//! ring), filtered, sorted and paged exactly as nats-server's `Server.Connz` does, including
//! its quirks: `total` counts connections before the `user` filter, a `cid` sets `limit` to
//! 1, only `cid`/`start` sort ascending (and `uptime`, which nats-server does not reverse),
//! and `stop`/`reason` are only valid with `state=closed`.

use super::format::is_zero;
use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::format;
use super::query::Query;
use super::snapshot::{ConnFilter, ConnSnap, ReactorSnap, SubsMode};
use crate::server::{ClosedClient, SubInfo};

/// nats-server's `DefaultConnListSize`.
pub const DEFAULT_LIMIT: i64 = 1024;
/// The global account's name.
pub const GLOBAL_ACCOUNT: &str = "$G";

#[derive(Debug, Serialize)]
pub struct Connz {
    pub server_id: String,
    pub now: String,
    pub num_connections: usize,
    pub total: usize,
    pub offset: i64,
    pub limit: i64,
    /// `null` only in nats-server's answer for an unknown account.
    pub connections: Option<Vec<ConnInfo>>,
}

/// A subscription in `subscriptions_list_detail` (nats-server's `SubDetail`).
#[derive(Debug, Clone, Serialize)]
pub struct SubDetail {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_tag: String,
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub qgroup: String,
    pub sid: String,
    pub msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub cid: u64,
}

impl SubDetail {
    /// `with_account` adds the account fields, as nats-server does in `/subsz` and for
    /// closed connections (but not for open ones).
    pub fn new(s: &SubInfo, cid: u64, with_account: bool) -> SubDetail {
        let acc = if with_account { GLOBAL_ACCOUNT } else { "" };
        SubDetail {
            account: acc.to_string(),
            account_tag: acc.to_string(),
            subject: s.subject.clone(),
            qgroup: s.queue.clone().unwrap_or_default(),
            sid: s.sid.clone(),
            msgs: s.msgs,
            max: s.max,
            cid,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnInfo {
    pub cid: u64,
    pub kind: &'static str,
    #[serde(rename = "type")]
    pub conn_type: &'static str,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_bytes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub stalls: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorized_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
    /// The account's name tag, with `auth` (open connections only, as nats-server).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
    /// An MQTT client's client ID.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mqtt_client: String,
    #[serde(skip)]
    key: SortKey,
}

/// Raw values for sorting (the JSON holds them as strings).
#[derive(Debug, Clone, Copy)]
struct SortKey {
    start: SystemTime,
    last: SystemTime,
    stop: Option<SystemTime>,
    rtt: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Cid,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "" | "cid" | "start" => Sort::Cid,
            "subs" => Sort::Subs,
            "pending" => Sort::Pending,
            "msgs_to" => Sort::MsgsTo,
            "msgs_from" => Sort::MsgsFrom,
            "bytes_to" => Sort::BytesTo,
            "bytes_from" => Sort::BytesFrom,
            "last" => Sort::Last,
            "idle" => Sort::Idle,
            "uptime" => Sort::Uptime,
            "stop" => Sort::Stop,
            "reason" => Sort::Reason,
            "rtt" => Sort::Rtt,
            _ => return None,
        })
    }
}

/// The decoded query of a `/connz` request.
#[derive(Debug, Clone)]
pub struct Params {
    pub sort: Sort,
    pub auth: bool,
    pub subs: SubsMode,
    pub offset: i64,
    pub limit: i64,
    pub cid: u64,
    pub state: State,
    pub user: String,
    pub acc: String,
    /// Only the MQTT client with this client ID (`mqtt_client`).
    pub mqtt_client: String,
    /// The accounts the server knows (set by the caller; `acc` must name one of them).
    pub known_accounts: Vec<String>,
}

/// nats-server's `decodeSubs`: `detail` (any case) or a boolean.
pub fn decode_subs(q: &Query) -> Result<SubsMode, String> {
    if q.get("subs").eq_ignore_ascii_case("detail") {
        return Ok(SubsMode::Detail);
    }
    Ok(if q.bool("subs")? {
        SubsMode::List
    } else {
        SubsMode::None
    })
}

impl Params {
    /// Decodes and validates in nats-server's order; the error is the 400 body.
    pub fn parse(q: &Query) -> Result<Params, String> {
        let sort_s = q.get("sort");
        let auth = q.bool("auth")?;
        let subs = decode_subs(q)?;
        let offset = q.int("offset")?;
        let limit = q.int("limit")?;
        let cid = q.uint64("cid")?;
        let state_s = q.get("state");
        let state = match state_s.to_ascii_lowercase().as_str() {
            "" | "open" => State::Open,
            "closed" => State::Closed,
            "any" | "all" => State::Any,
            _ => return Err(format!("Error decoding state for {state_s}")),
        };
        let sort =
            Sort::parse(sort_s).ok_or_else(|| format!("invalid sorting option: {sort_s}"))?;
        if sort == Sort::Stop && state != State::Closed {
            return Err("sort by stop only valid on closed connections".into());
        }
        if sort == Sort::Reason && state != State::Closed {
            return Err("sort by reason only valid on closed connections".into());
        }
        let mut limit = if limit <= 0 { DEFAULT_LIMIT } else { limit };
        if cid > 0 {
            limit = 1;
        }
        Ok(Params {
            sort,
            auth,
            subs,
            offset: offset.max(0),
            limit,
            cid,
            state,
            user: q.get("user").to_string(),
            mqtt_client: q.get("mqtt_client").to_string(),
            acc: q.get("acc").to_string(),
            known_accounts: vec![GLOBAL_ACCOUNT.to_string()],
        })
    }

    /// What to ask the reactors for (nothing when only closed connections are wanted).
    pub fn filter(&self) -> Option<ConnFilter> {
        if self.state == State::Closed || self.unknown_account() {
            return None;
        }
        Some(ConnFilter {
            cid: (self.cid > 0).then_some(self.cid),
            user: (!self.user.is_empty()).then(|| self.user.clone()),
            acc: (!self.acc.is_empty()).then(|| self.acc.clone()),
            subs: self.subs,
        })
    }

    fn unknown_account(&self) -> bool {
        !self.acc.is_empty() && !self.known_accounts.contains(&self.acc)
    }
}

/// `/connz` `type`: what the client speaks and over what (nats-server's `clientTypeStringMap`).
fn conn_type(websocket: bool, mqtt: bool) -> &'static str {
    match (mqtt, websocket) {
        (true, _) => "mqtt",
        (false, true) => "websocket",
        (false, false) => "nats",
    }
}

fn open_info(c: &ConnSnap, now: SystemTime, p: &Params) -> ConnInfo {
    let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let (list, detail) = subs_lists(&c.subs, c.cid, p.subs, false);
    ConnInfo {
        cid: c.cid,
        kind: "Client",
        conn_type: conn_type(c.websocket, c.mqtt_client.is_some()),
        mqtt_client: c.mqtt_client.clone().unwrap_or_default(),
        ip: c.ip.to_string(),
        port: c.port,
        start: format::rfc3339(c.start),
        last_activity: format::rfc3339(c.last_activity),
        stop: None,
        reason: String::new(),
        rtt: format::rtt(c.rtt),
        uptime: format::uptime(since(c.start)),
        idle: format::uptime(since(c.last_activity)),
        pending_bytes: c.pending,
        in_msgs: c.in_msgs,
        out_msgs: c.out_msgs,
        in_bytes: c.in_bytes,
        out_bytes: c.out_bytes,
        stalls: c.stalls,
        subscriptions: c.num_subs,
        name: c.name.clone(),
        lang: c.lang.clone(),
        version: c.version.clone(),
        authorized_user: if p.auth {
            c.user.clone()
        } else {
            String::new()
        },
        // nats-server names the account only when it is not the global one.
        account: if p.auth && c.account != GLOBAL_ACCOUNT {
            c.account.clone()
        } else {
            String::new()
        },
        subscriptions_list: list,
        subscriptions_list_detail: detail,
        name_tag: if p.auth {
            c.account.clone()
        } else {
            String::new()
        },
        key: SortKey {
            start: c.start,
            last: c.last_activity,
            stop: None,
            rtt: c.rtt.unwrap_or_default(),
        },
    }
}

fn closed_info(c: &ClosedClient, p: &Params) -> ConnInfo {
    let since = |t: SystemTime| c.stopped.duration_since(t).unwrap_or_default();
    let (list, detail) = subs_lists(&c.subscriptions, c.cid, p.subs, true);
    ConnInfo {
        cid: c.cid,
        kind: "Client",
        conn_type: conn_type(c.websocket, c.mqtt_client.is_some()),
        mqtt_client: c.mqtt_client.clone().unwrap_or_default(),
        ip: c.peer.ip().to_canonical().to_string(),
        port: c.peer.port(),
        start: format::rfc3339(c.started),
        last_activity: format::rfc3339(c.last_activity),
        stop: Some(format::rfc3339(c.stopped)),
        reason: c.reason.as_str().to_string(),
        rtt: format::rtt(c.rtt),
        uptime: format::uptime(since(c.started)),
        idle: format::uptime(since(c.last_activity)),
        pending_bytes: c.pending,
        in_msgs: c.stats.in_msgs,
        out_msgs: c.stats.out_msgs,
        in_bytes: c.stats.in_bytes,
        out_bytes: c.stats.out_bytes,
        stalls: c.stats.stalls,
        subscriptions: c.num_subs,
        name: c.name.clone(),
        lang: c.lang.clone(),
        version: c.version.clone(),
        authorized_user: if p.auth {
            c.user.clone()
        } else {
            String::new()
        },
        account: if p.auth {
            c.account.clone()
        } else {
            String::new()
        },
        subscriptions_list: list,
        subscriptions_list_detail: detail,
        name_tag: String::new(),
        key: SortKey {
            start: c.started,
            last: c.last_activity,
            stop: Some(c.stopped),
            rtt: c.rtt.unwrap_or_default(),
        },
    }
}

fn subs_lists(
    subs: &[SubInfo],
    cid: u64,
    mode: SubsMode,
    with_account: bool,
) -> (Vec<String>, Vec<SubDetail>) {
    match mode {
        SubsMode::None => (Vec::new(), Vec::new()),
        SubsMode::List => (subs.iter().map(|s| s.subject.clone()).collect(), Vec::new()),
        SubsMode::Detail => (
            Vec::new(),
            subs.iter()
                .map(|s| SubDetail::new(s, cid, with_account))
                .collect(),
        ),
    }
}

/// Builds the answer from the reactors' snapshots and the closed ring.
pub fn build(
    server_id: &str,
    p: &Params,
    snaps: &[ReactorSnap],
    closed: Vec<ClosedClient>,
) -> Connz {
    let now = SystemTime::now();
    let mut connz = Connz {
        server_id: server_id.to_string(),
        now: format::rfc3339(now),
        num_connections: 0,
        total: 0,
        offset: p.offset,
        limit: p.limit,
        connections: None,
    };
    if p.unknown_account() {
        // nats-server returns before filling anything else in.
        connz.server_id = String::new();
        return connz;
    }
    let open_total: usize = snaps.iter().map(|s| s.open).sum();
    // Closed connections carry no account name for the global account, so an `acc=$G`
    // filter leaves none of them.
    let closed: Vec<ClosedClient> = if p.state == State::Open {
        Vec::new()
    } else {
        closed
            .into_iter()
            .filter(|c| p.acc.is_empty() || c.account == p.acc)
            .collect()
    };
    connz.total = match p.state {
        State::Open => open_total,
        State::Closed => closed.len(),
        State::Any => open_total + closed.len(),
    };
    let mut list: Vec<ConnInfo> = Vec::new();
    let mut found_open = false;
    if p.state != State::Closed {
        for c in snaps.iter().flat_map(|s| s.conns.iter()) {
            if !p.mqtt_client.is_empty() && c.mqtt_client.as_deref() != Some(&p.mqtt_client) {
                continue;
            }
            found_open = true;
            list.push(open_info(c, now, p));
        }
    }
    // A `cid` found open is not looked for among the closed.
    if !(p.cid > 0 && found_open) {
        for c in &closed {
            if p.cid > 0 && c.cid != p.cid {
                continue;
            }
            if !p.user.is_empty() && c.user != p.user {
                continue;
            }
            if !p.mqtt_client.is_empty() && c.mqtt_client.as_deref() != Some(&p.mqtt_client) {
                continue;
            }
            list.push(closed_info(c, p));
            if p.cid > 0 {
                break;
            }
        }
    }
    sort(&mut list, p.sort, now);
    let n = list.len();
    let lo = (p.offset.max(0) as usize).min(n);
    let hi = lo + (p.limit.max(0) as usize).min(n - lo);
    let page: Vec<ConnInfo> = list.drain(lo..hi).collect();
    connz.num_connections = page.len();
    connz.connections = Some(page);
    connz
}

fn sort(list: &mut [ConnInfo], by: Sort, now: SystemTime) {
    list.sort_by_key(|c| c.cid);
    let uptime = |c: &ConnInfo| {
        c.key
            .stop
            .unwrap_or(now)
            .duration_since(c.key.start)
            .unwrap_or_default()
    };
    match by {
        Sort::Cid => {}
        Sort::Subs => list.sort_by_key(|c| Reverse(c.subscriptions)),
        Sort::Pending => list.sort_by_key(|c| Reverse(c.pending_bytes)),
        Sort::MsgsTo => list.sort_by_key(|c| Reverse(c.out_msgs)),
        Sort::MsgsFrom => list.sort_by_key(|c| Reverse(c.in_msgs)),
        Sort::BytesTo => list.sort_by_key(|c| Reverse(c.out_bytes)),
        Sort::BytesFrom => list.sort_by_key(|c| Reverse(c.in_bytes)),
        Sort::Last => list.sort_by_key(|c| Reverse(c.key.last)),
        // Longest idle first: the oldest last activity.
        Sort::Idle => list.sort_by_key(|c| c.key.last),
        Sort::Uptime => list.sort_by_key(uptime),
        Sort::Stop => list.sort_by_key(|c| Reverse(c.key.stop)),
        Sort::Reason => list.sort_by(|a, b| a.reason.cmp(&b.reason)),
        Sort::Rtt => list.sort_by_key(|c| Reverse(c.key.rtt)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_like_nats() {
        let p = Params::parse(&Query::parse("")).unwrap();
        assert_eq!(
            (p.sort, p.limit, p.offset, p.state),
            (Sort::Cid, 1024, 0, State::Open)
        );
        let p = Params::parse(&Query::parse("cid=7&limit=50&offset=-3")).unwrap();
        assert_eq!((p.limit, p.offset), (1, 0));
        assert_eq!(
            Params::parse(&Query::parse("sort=foo")).unwrap_err(),
            "invalid sorting option: foo"
        );
        assert_eq!(
            Params::parse(&Query::parse("sort=stop")).unwrap_err(),
            "sort by stop only valid on closed connections"
        );
        assert!(Params::parse(&Query::parse("sort=reason&state=closed")).is_ok());
        assert_eq!(
            Params::parse(&Query::parse("state=zzz")).unwrap_err(),
            "Error decoding state for zzz"
        );
        assert_eq!(
            Params::parse(&Query::parse("subs=DETAIL")).unwrap().subs,
            SubsMode::Detail
        );
    }
}
