//! Snapshots of reactor state for `/connz` and `/subsz`.
//!
//! The monitor never touches a reactor's data directly: it sends each reactor a
//! `Control::Inspect` closure, which runs on the reactor thread between two turns of its
//! loop, copies what the request asks for into plain owned data ([`ReactorSnap`]), sends it
//! back over a channel and wakes the monitor's poll. A closure only copies (no sorting, no
//! JSON): the cost to a reactor is one pass over its connections or subscriptions.
//! Filters that cut the copy down (a single `cid`, a `user`, a `test` subject) are applied
//! inside the closure.

use std::net::IpAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::raw_auth_user;
use crate::reactor::{Control, Handle, Reactor};
use crate::server::SubInfo;
use crate::subject::sublist::SublistStats;

/// Which subscriptions to copy with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubsMode {
    #[default]
    None,
    /// Subjects only (`subs=1`).
    List,
    /// Full details (`subs=detail`).
    Detail,
}

/// Which connections to copy.
#[derive(Debug, Clone, Default)]
pub struct ConnFilter {
    pub cid: Option<u64>,
    pub user: Option<String>,
    /// Only connections bound to this account.
    pub acc: Option<String>,
    pub subs: SubsMode,
}

/// Which subscriptions to copy (`/subsz?subs=1`).
#[derive(Debug, Clone, Default)]
pub struct SubFilter {
    /// Only subscriptions a message published on this literal subject would reach.
    pub test: Option<String>,
}

/// What a snapshot request asks every reactor for.
#[derive(Debug, Clone, Default)]
pub struct SnapRequest {
    pub conns: Option<ConnFilter>,
    /// Route connections, with their subscriptions as asked (`/routez`).
    pub routes: Option<SubsMode>,
    /// Leaf connections with their interest (`/leafz`).
    pub leafs: bool,
    pub subs: Option<SubFilter>,
    pub sublist: bool,
}

/// One open connection.
#[derive(Debug, Clone)]
pub struct ConnSnap {
    pub cid: u64,
    pub ip: IpAddr,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub rtt: Option<Duration>,
    pub pending: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub stalls: u64,
    pub num_subs: usize,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    /// The name of the account it is bound to.
    pub account: String,
    pub subs: Vec<SubInfo>,
    /// A WebSocket client (`/connz` `type` "websocket").
    pub websocket: bool,
    /// An MQTT client's client ID (`/connz` `type` "mqtt", `mqtt_client`).
    pub mqtt_client: Option<String>,
}

/// One registered route connection (`/routez`).
#[derive(Debug, Clone)]
pub struct RouteSnap {
    pub rid: u64,
    pub remote_id: String,
    pub remote_name: String,
    pub did_solicit: bool,
    pub is_configured: bool,
    pub ip: IpAddr,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub rtt: Option<Duration>,
    pub pending: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub num_subs: usize,
    /// `subject` or `subject queue` of each interest, when asked for.
    pub subs: Vec<(String, Option<String>, u32)>,
}

/// One registered leaf connection (`/leafz`).
#[derive(Debug, Clone)]
pub struct LeafSnap {
    pub cid: u64,
    pub remote_name: String,
    /// We dialled it: this server is the spoke.
    pub is_spoke: bool,
    pub account: String,
    pub ip: IpAddr,
    pub port: u16,
    pub rtt: Option<Duration>,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// The subjects of the interest it announced.
    pub subs: Vec<String>,
}

/// One subscription with its connection id.
#[derive(Debug, Clone)]
pub struct SubSnap {
    pub cid: u64,
    pub sub: SubInfo,
}

/// What one reactor sent back.
#[derive(Debug, Default)]
pub struct ReactorSnap {
    pub reactor: usize,
    pub conns: Vec<ConnSnap>,
    pub routes: Vec<RouteSnap>,
    pub leafs: Vec<LeafSnap>,
    pub subs: Vec<SubSnap>,
    pub sublist: SublistStats,
    /// Client subscriptions this reactor holds (its index also holds peers' interest).
    pub local_subs: usize,
    /// Open connections, before any filter (when connections were asked for).
    pub open: usize,
}

/// Copies what `req` asks for out of a reactor. Runs on the reactor's thread.
pub fn take(r: &Reactor, req: &SnapRequest) -> ReactorSnap {
    let mut snap = ReactorSnap {
        reactor: r.id,
        local_subs: r.subs.len(),
        ..Default::default()
    };
    if req.sublist {
        for s in &r.sublists {
            snap.sublist.add(&s.stats());
        }
    }
    if let Some(f) = &req.conns {
        for (_, c) in r.conns.iter() {
            // A WebSocket connection still in its HTTP upgrade is not a client yet; routes
            // are in `/routez`.
            if !c.is_open() || c.transport.ws_handshaking() || c.is_peer() {
                continue;
            }
            // nats-server counts only the account's clients when asked for one.
            let account = r.auth.account_name(c.account).to_string();
            if f.acc.as_deref().is_some_and(|a| a != account) {
                continue;
            }
            snap.open += 1;
            if f.cid.is_some_and(|cid| cid != c.cid) {
                continue;
            }
            let user = raw_auth_user(&c.opts).to_string();
            if f.user.as_deref().is_some_and(|u| u != user) {
                continue;
            }

            let subs = match f.subs {
                SubsMode::None => Vec::new(),
                _ => c
                    .subs
                    .values()
                    .filter_map(|&k| r.subs.get(k))
                    .map(SubInfo::from)
                    .collect(),
            };
            snap.conns.push(ConnSnap {
                cid: c.cid,
                ip: c.peer.ip().to_canonical(),
                port: c.peer.port(),
                start: c.started,
                last_activity: c.last_activity,
                rtt: c.rtt,
                pending: c.pending(),
                in_msgs: c.stats.in_msgs,
                out_msgs: c.stats.out_msgs,
                in_bytes: c.stats.in_bytes,
                out_bytes: c.stats.out_bytes,
                stalls: c.stats.stalls,
                num_subs: c.subs.len(),
                name: c.opts.name.clone(),
                lang: c.opts.lang.clone(),
                version: c.opts.version.clone(),
                user,
                account,
                subs,
                websocket: c.transport.is_websocket(),
                mqtt_client: c.mqtt.as_ref().map(|m| m.client_id.clone()),
            });
        }
    }
    if let Some(mode) = req.routes {
        for &token in &r.routes {
            let Some(c) = r.conns.get(token) else {
                continue;
            };
            let Some(route) = c.route.as_deref().filter(|rt| rt.registered) else {
                continue;
            };
            let subs = match mode {
                SubsMode::None => Vec::new(),
                _ => route
                    .subs
                    .iter()
                    .map(|(k, w)| {
                        (
                            String::from_utf8_lossy(&k.1).into_owned(),
                            k.2.as_deref()
                                .map(|q| String::from_utf8_lossy(q).into_owned()),
                            *w,
                        )
                    })
                    .collect(),
            };
            snap.routes.push(RouteSnap {
                rid: c.cid,
                remote_id: route.remote_id.clone(),
                remote_name: route.remote_name.clone(),
                did_solicit: route.solicited,
                is_configured: route.explicit,
                ip: c.peer.ip().to_canonical(),
                port: c.peer.port(),
                start: c.started,
                last_activity: c.last_activity,
                rtt: c.rtt,
                pending: c.pending(),
                in_msgs: c.stats.in_msgs,
                out_msgs: c.stats.out_msgs,
                in_bytes: c.stats.in_bytes,
                out_bytes: c.stats.out_bytes,
                num_subs: route.subs.len(),
                subs,
            });
        }
    }
    if req.leafs {
        for &token in &r.leafs {
            let Some(c) = r.conns.get(token) else {
                continue;
            };
            let Some(leaf) = c.leaf.as_deref().filter(|l| l.registered) else {
                continue;
            };
            snap.leafs.push(LeafSnap {
                cid: c.cid,
                remote_name: leaf.remote_name.clone(),
                is_spoke: leaf.role == crate::leaf::Role::Hub,
                account: r.auth.account_name(leaf.account).to_string(),
                ip: c.peer.ip().to_canonical(),
                port: c.peer.port(),
                rtt: c.rtt,
                in_msgs: c.stats.in_msgs,
                out_msgs: c.stats.out_msgs,
                in_bytes: c.stats.in_bytes,
                out_bytes: c.stats.out_bytes,
                subs: leaf
                    .subs
                    .keys()
                    .map(|(s, _)| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            });
        }
    }
    if let Some(f) = &req.subs {
        for (_, s) in r.subs.iter() {
            if let Some(t) = &f.test {
                if !crate::subject::matches(&s.subject, t.as_bytes()) {
                    continue;
                }
            }
            let Some(c) = r.conns.get(s.conn) else {
                continue;
            };
            snap.subs.push(SubSnap {
                cid: c.cid,
                sub: SubInfo::from(s),
            });
        }
    }
    snap
}

/// Asks every reactor for a snapshot tagged `id`; replies arrive on `tx`, each followed by a
/// wake of `waker`. Returns how many reactors were asked (a reactor that has stopped is not).
pub fn request(
    handles: &[Handle],
    req: &SnapRequest,
    id: u64,
    tx: &Sender<(u64, ReactorSnap)>,
    waker: &Arc<mio::Waker>,
) -> usize {
    let mut asked = 0;
    for h in handles {
        let (req, tx, waker) = (req.clone(), tx.clone(), waker.clone());
        let sent = h.send_control(Control::Inspect(Box::new(move |r: &Reactor| {
            let snap = take(r, &req);
            if tx.send((id, snap)).is_ok() {
                let _ = waker.wake();
            }
        })));
        if sent {
            asked += 1;
        }
    }
    asked
}
