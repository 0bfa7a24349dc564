//! The system account on a reactor: the connect and disconnect events of its clients
//! (`$SYS.ACCOUNT.<acc>.CONNECT`/`DISCONNECT`), and on reactor 0 the answers to server
//! pings (`$SYS.REQ.SERVER.PING[.STATSZ|.IDZ]`, `$SYS.REQ.SERVER.<id>.STATSZ|IDZ`), whose
//! subscriptions are announced to the peers and routes so that a ping anywhere in a cluster
//! reaches every server once. JSON shapes are in [`crate::accounts::events`].

use std::cmp::Reverse;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::sharing::Hook;
use super::{Reactor, Target};
use crate::accounts::events::{
    ApiResponse, ClientInfo, ConnectEvent, DataStats, DisconnectEvent, PermissionsJson, ServerId,
    ServerInfo, Statsz, StatszMsg, UserInfo, CONNECT_EVENT, DISCONNECT_EVENT, FEATURE_FLAGS,
};
use crate::monitor::format::rfc3339;
use crate::proto::errors::CloseReason;
use crate::proto::Message;

/// The timer entry of the periodic `$SYS.SERVER.<id>.STATSZ` (reactor 0): not a connection.
pub(crate) const STATSZ_TIMER: usize = usize::MAX - 8;
/// nats-server sends its first statsz after 250 ms and doubles the wait up to 10 s.
const STATSZ_FIRST: Duration = Duration::from_millis(250);
const STATSZ_EVERY: Duration = Duration::from_secs(10);

const USER_INFO: &str = "$SYS.REQ.USER.INFO";

/// What a server request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SysRequest {
    Statsz,
    Idz,
    Varz,
    Healthz,
    /// `$SYS.REQ.USER.INFO`, in every account, answered where it is asked.
    UserInfo,
    /// An account resolver request (reactor 0).
    Claims(super::claims::ClaimsRequest),
}

impl Reactor {
    /// The system account's number, when there is one.
    fn system_account(&self) -> Option<u32> {
        self.auth.system_account()
    }

    /// nats-server's `ClientInfo` of connection `token`: the account and RTT, and when
    /// `detailed` who it is and where.
    pub(crate) fn client_info(&self, token: usize, detailed: bool) -> Option<ClientInfo> {
        let c = self.conns.get(token)?;
        let acc = self.auth.account_name(c.account).to_string();
        let mut info = ClientInfo {
            rtt: c.rtt.map_or(0, |d| d.as_nanos() as u64),
            ..ClientInfo::default()
        };
        if detailed {
            info.start = Some(rfc3339(c.started));
            info.host = c.peer.ip().to_string();
            info.id = c.cid;
            info.user = c.user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
            info.name = c.opts.name.clone();
            info.lang = c.opts.lang.clone();
            info.ver = c.opts.version.clone();
            info.server = self.server_name();
            info.cluster = self.cluster_name();
            info.name_tag = acc.clone();
            info.kind = "Client";
            info.client_type = if c.transport.is_websocket() {
                "websocket"
            } else {
                "nats"
            };
        }
        info.acc = acc;
        Some(info)
    }

    fn server_name(&self) -> String {
        if self.opts.server_name.is_empty() {
            self.shared.server_id.clone()
        } else {
            self.opts.server_name.clone()
        }
    }

    fn cluster_name(&self) -> String {
        self.shared
            .cluster
            .as_ref()
            .map(|c| c.registry.name())
            .unwrap_or_default()
    }

    /// This server as events and replies name it, with the next sequence number.
    pub(super) fn server_info(&self) -> ServerInfo {
        let info = self.shared.info();
        ServerInfo {
            name: self.server_name(),
            host: info.host.clone(),
            id: self.shared.server_id.clone(),
            cluster: self.cluster_name(),
            domain: String::new(),
            ver: crate::config::NATS_COMPAT_VERSION.to_string(),
            feature_flags: FEATURE_FLAGS.iter().map(|f| (*f, false)).collect(),
            jetstream: self.shared.jetstream.is_some(),
            flags: u64::from(self.shared.jetstream.is_some()),
            seq: self.shared.sys_seq.fetch_add(1, Ordering::Relaxed) + 1,
            time: rfc3339(SystemTime::now()),
        }
    }

    /// Publishes `json` on `subject` in the system account, if anyone listens.
    pub(super) fn publish_system(&mut self, subject: &[u8], reply: &[u8], json: &[u8]) {
        let Some(sys) = self.system_account() else {
            return;
        };
        let size = json.len().to_string();
        let msg = Message {
            subject,
            reply,
            header_len: 0,
            header_text: b"",
            size_text: size.as_bytes(),
            data: json,
        };
        self.deliver(super::internal::INTERNAL_PUBLISHER, sys, &msg);
    }

    /// Whether anything in the system account listens on `subject`.
    fn system_listens(&mut self, subject: &[u8]) -> bool {
        let Some(sys) = self.system_account() else {
            return false;
        };
        self.sync_interest();
        let r = self.sublist_mut(sys).match_subject(subject);
        !(r.plain.is_empty() && r.queues.is_empty())
    }

    /// A client as events describe it (the server is named beside it).
    fn event_client(&self, token: usize) -> Option<ClientInfo> {
        let mut client = self.client_info(token, true)?;
        client.server.clear();
        client.cluster.clear();
        Some(client)
    }

    /// A client finished CONNECT: its connect event.
    pub(super) fn connect_event(&mut self, token: usize) {
        let Some(acc) = self.conns.get(token).map(|c| c.account) else {
            return;
        };
        if self.system_account().is_none() {
            return;
        }
        let subject = format!("$SYS.ACCOUNT.{}.CONNECT", self.auth.account_name(acc));
        if let Some(c) = self.conns.get_mut(token) {
            c.announced = true;
        }
        if !self.system_listens(subject.as_bytes()) {
            return;
        }
        let Some(mut client) = self.event_client(token) else {
            return;
        };
        // nats-server sends it before the RTT is known.
        client.rtt = 0;
        let event = ConnectEvent {
            kind: CONNECT_EVENT,
            id: crate::nkey::nuid(),
            timestamp: rfc3339(SystemTime::now()),
            server: self.server_info(),
            client,
        };
        if let Ok(json) = serde_json::to_vec(&event) {
            self.publish_system(subject.as_bytes(), b"", &json);
        }
    }

    /// A client that had its connect event is closing: its disconnect event.
    pub(super) fn disconnect_event(&mut self, token: usize, reason: CloseReason) {
        let Some(c) = self.conns.get(token).filter(|c| c.announced) else {
            return;
        };
        let (acc, stats) = (c.account, c.stats);
        let subject = format!("$SYS.ACCOUNT.{}.DISCONNECT", self.auth.account_name(acc));
        if !self.system_listens(subject.as_bytes()) {
            return;
        }
        let Some(mut client) = self.event_client(token) else {
            return;
        };
        let now = rfc3339(SystemTime::now());
        client.stop = Some(now.clone());
        let event = DisconnectEvent {
            kind: DISCONNECT_EVENT,
            id: crate::nkey::nuid(),
            timestamp: now,
            server: self.server_info(),
            client,
            sent: DataStats {
                msgs: stats.in_msgs,
                bytes: stats.in_bytes,
            },
            received: DataStats {
                msgs: stats.out_msgs,
                bytes: stats.out_bytes,
            },
            reason: reason.as_str().to_string(),
        };
        if let Ok(json) = serde_json::to_vec(&event) {
            self.publish_system(subject.as_bytes(), b"", &json);
        }
    }

    /// Reactor 0 answers the server pings of the system account; every reactor answers
    /// `$SYS.REQ.USER.INFO`.
    pub(super) fn install_system(&mut self) {
        let Some(sys) = self.system_account() else {
            return;
        };
        self.install_user_info(0);
        if self.id != 0 {
            return;
        }
        let id = self.shared.server_id.clone();
        let mut subjects = vec![("$SYS.REQ.SERVER.PING".to_string(), SysRequest::Statsz)];
        for (name, kind) in [
            ("STATSZ", SysRequest::Statsz),
            ("IDZ", SysRequest::Idz),
            ("VARZ", SysRequest::Varz),
            ("HEALTHZ", SysRequest::Healthz),
        ] {
            subjects.push((format!("$SYS.REQ.SERVER.PING.{name}"), kind));
            subjects.push((format!("$SYS.REQ.SERVER.{id}.{name}"), kind));
        }
        self.sharing.statsz_wait = STATSZ_FIRST;
        self.timers
            .push(Reverse((Instant::now() + STATSZ_FIRST, STATSZ_TIMER, 0)));
        for (subject, kind) in subjects {
            self.subscribe_system(sys, &subject, None, kind);
        }
        self.install_claims(sys);
    }

    /// Answers `kind` requests on `subject` (in `queue`) in the system account `sys`.
    pub(super) fn subscribe_system(
        &mut self,
        sys: u32,
        subject: &str,
        queue: Option<&[u8]>,
        kind: SysRequest,
    ) {
        let hook = self.sharing.hooks.len() as u32;
        self.sharing.hooks.push(Hook::System(kind));
        if self
            .sublist_mut(sys)
            .insert(subject.as_bytes(), queue, Target::Import(hook))
            .is_ok()
        {
            self.note_interest(sys, subject.as_bytes(), queue, 1);
        }
    }

    /// The periodic statsz, to whoever listens (nats-server's `heartbeatStatsz`).
    pub(super) fn publish_statsz(&mut self, now: Instant) {
        let subject = format!("$SYS.SERVER.{}.STATSZ", self.shared.server_id);
        if self.system_listens(subject.as_bytes()) {
            let msg = StatszMsg {
                server: self.server_info(),
                statsz: self.statsz(),
            };
            if let Ok(json) = serde_json::to_vec(&msg) {
                self.publish_system(subject.as_bytes(), b"", &json);
            }
        }
        let wait = self.sharing.statsz_wait;
        self.sharing.statsz_wait = (wait * 2).min(STATSZ_EVERY);
        self.timers.push(Reverse((now + wait, STATSZ_TIMER, 0)));
    }

    /// Every account from number `first` on may ask `$SYS.REQ.USER.INFO` who it is, on
    /// every reactor (nats-server imports it into each account; the answer is local).
    pub(super) fn install_user_info(&mut self, first: u32) {
        if self.system_account().is_none() {
            return;
        }
        for account in first..self.auth.accounts().len() as u32 {
            let hook = self.sharing.hooks.len() as u32;
            self.sharing.hooks.push(Hook::System(SysRequest::UserInfo));
            let _ =
                self.sublist_mut(account)
                    .insert(USER_INFO.as_bytes(), None, Target::Import(hook));
        }
    }

    /// The answer to `$SYS.REQ.USER.INFO` from `publisher`, in its account.
    fn answer_user_info(&mut self, publisher: usize, msg: &Message<'_>) -> bool {
        let Some(c) = self.conns.get(publisher) else {
            return false;
        };
        let account = self.auth.account_name(c.account).to_string();
        let data = UserInfo {
            user: c.user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
            account_name: account.clone(),
            account,
            permissions: c
                .user
                .as_ref()
                .and_then(|u| u.permissions.as_ref())
                .map(PermissionsJson::from_config),
        };
        let acc = c.account;
        let answer = ApiResponse {
            server: self.server_info(),
            data,
        };
        let Ok(json) = serde_json::to_vec(&answer) else {
            return false;
        };
        let size = json.len().to_string();
        let reply = Message {
            subject: msg.reply,
            reply: b"",
            header_len: 0,
            header_text: b"",
            size_text: size.as_bytes(),
            data: &json,
        };
        self.deliver(super::internal::INTERNAL_PUBLISHER, acc, &reply);
        true
    }

    /// Answers a server request on its reply subject.
    pub(super) fn answer_system(
        &mut self,
        publisher: usize,
        kind: SysRequest,
        msg: &Message<'_>,
    ) -> bool {
        // An account update applies whether or not anyone waits for the answer.
        if let SysRequest::Claims(request) = kind {
            return self.answer_claims(request, msg);
        }
        if msg.reply.is_empty() {
            return true;
        }
        if kind == SysRequest::UserInfo {
            return self.answer_user_info(publisher, msg);
        }
        let json = match kind {
            SysRequest::Idz => serde_json::to_vec(&ServerId {
                name: self.server_name(),
                host: self.shared.info().host.clone(),
                id: self.shared.server_id.clone(),
            }),
            SysRequest::Statsz => serde_json::to_vec(&StatszMsg {
                server: self.server_info(),
                statsz: self.statsz(),
            }),
            SysRequest::Varz => serde_json::to_vec(&ApiResponse {
                server: self.server_info(),
                data: crate::monitor::varz::build(&self.shared, &Default::default(), 0.0),
            }),
            SysRequest::UserInfo | SysRequest::Claims(_) => return false,
            SysRequest::Healthz => {
                let query = crate::monitor::query::Query::parse("");
                match crate::monitor::healthz::check(&self.shared, &query) {
                    Ok((code, mut health)) => {
                        health.status_code = code;
                        serde_json::to_vec(&ApiResponse {
                            server: self.server_info(),
                            data: health,
                        })
                    }
                    Err(_) => return true,
                }
            }
        };
        let reply = msg.reply.to_vec();
        if let Ok(json) = json {
            self.publish_system(&reply, b"", &json);
        }
        true
    }

    /// nats-server's `ServerStats`, from the figures `/varz` has.
    fn statsz(&self) -> Statsz {
        let v = crate::monitor::varz::build(&self.shared, &Default::default(), 0.0);
        let sent = DataStats {
            msgs: v.out_msgs,
            bytes: v.out_bytes,
        };
        let received = DataStats {
            msgs: v.in_msgs,
            bytes: v.in_bytes,
        };
        Statsz {
            start: v.start,
            mem: v.mem,
            cores: v.cores,
            cpu: v.cpu,
            connections: v.connections,
            total_connections: v.total_connections,
            active_accounts: self.auth.accounts().len() as u64,
            subscriptions: v.subscriptions,
            sent,
            sent_to_clients: sent,
            received,
            received_from_clients: received,
            slow_consumers: v.slow_consumers,
            routes: Vec::new(),
            active_servers: 1 + v.routes,
            gomaxprocs: v.gomaxprocs,
        }
    }
}
