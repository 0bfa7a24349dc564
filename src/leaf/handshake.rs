//! The leaf handshake, as nats-server runs it (`createLeafNode`, `processLeafnodeInfo`,
//! `processLeafNodeConnect`, `leafNodeFinishConnectProcess`).
//!
//! Accepted (we are the hub): INFO at once (with `client_id`, a nonce, `info_on_connect` and
//! `leafnode_urls`, which a nats-server leaf requires), then CONNECT must come first; it is
//! checked (a client on the wrong port, our own cluster name, the credentials, which bind
//! the connection to an account) and answered with the INFO that has `connect_info` and
//! `remote_account`, then `LS+` for the account's interest.
//!
//! Dialled (the peer is our hub): wait for the hub's INFO (`first_info_timeout`), refuse a
//! port that is not a leaf port (no `client_id` or `leafnode_urls`), send CONNECT (signing
//! the nonce with the remote's nkey or `.creds` seed), wait for the `connect_info` INFO if
//! promised, then `LS+` for our local interest and a PING.

use std::time::Instant;

use log::{debug, error, info};

use super::{LeafState, Role, CONNECT_INFO_TIMEOUT};
use crate::auth::secret::{self, Check};
use crate::auth::{ConnType, Presented, Verdict, GLOBAL_ACCOUNT};
use crate::dialer::{Dialled, Purpose};
use crate::proto::errors::CloseReason;
use crate::proto::info::{ClientOptions, LeafConnect, ServerInfo};
use crate::proto::parser::Limits;
use crate::proto::peer::{PeerKind, PeerParser};
use crate::reactor::{Control, Reactor, TlsPhase};
use crate::route::url::RouteUrl;
use crate::websocket::client::Answer;

impl Reactor {
    /// Takes a leaf connection: accepted on the leaf listener (`dialled` None: we are the
    /// hub) or dialled to a remote's hub.
    pub(crate) fn adopt_leaf(
        &mut self,
        stream: mio::net::TcpStream,
        peer: std::net::SocketAddr,
        dialled: Option<Dialled>,
    ) {
        if self.shared.leafnodes.is_none() {
            return;
        }
        let ping = self.opts.ping_interval;
        let Some(token) = self.register_conn(stream, peer, |_| Ok(()), ping, true) else {
            return;
        };
        self.start_leaf(token, dialled);
    }

    /// Makes connection `token` a leaf connection and starts its handshake: one accepted on
    /// the leaf listener or, upgraded, on the WebSocket listener (`dialled` None), or one
    /// dialled to a remote's hub.
    pub(crate) fn start_leaf(&mut self, token: usize, dialled: Option<Dialled>) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let ping = self.opts.ping_interval;
        let limits = Limits {
            max_control_line: self.opts.max_control_line,
            max_payload: self.opts.max_payload,
        };
        let parser = PeerParser::new(PeerKind::Leaf, limits);
        let cid = self.shared.next_cid();
        let now = Instant::now();
        let role = if dialled.is_some() {
            Role::Hub
        } else {
            Role::Leaf
        };
        let mut state = LeafState::new(parser, role);
        match &dialled {
            Some(d) => {
                if let Purpose::Leaf { remote, .. } = d.purpose {
                    state.remote = Some(remote);
                    state.deny_out = self
                        .shared
                        .leafnodes
                        .as_ref()
                        .and_then(|l| l.remote(remote))
                        .map(|r| r.deny_exports.clone())
                        .unwrap_or_default();
                }
                state.url = Some(d.url.clone());
            }
            None => {
                state.parser.set_expect_connect(true);
                // A nats-server leaf that compresses sends its INFO before its CONNECT.
                state.parser.set_info_before_connect(true);
                state.nonce = crate::nkey::nonce().unwrap_or_default();
            }
        }
        let first_info = state
            .remote
            .and_then(|r| leafs.remote(r))
            .map_or(super::FIRST_INFO_TIMEOUT, |r| r.first_info_timeout);
        let nonce = state.nonce.clone();
        let conn = &mut self.conns[token];
        conn.cid = cid;
        conn.leaf = Some(Box::new(state));
        conn.ping_at = now + ping;
        match role {
            Role::Hub => {
                debug!(
                    "{} - Leafnode connection created, waiting for the hub's INFO",
                    conn.label()
                );
                conn.peer_deadline = Some(now + first_info);
            }
            Role::Leaf => {
                conn.auth_deadline = Some(now + leafs.settings.auth_timeout);
                let websocket = conn.transport.is_websocket();
                let mut line = Vec::new();
                self.leaf_info(cid, &nonce, false, "").write_to(&mut line);
                match &leafs.listener_tls() {
                    // A WebSocket leaf had its TLS (wss) before the upgrade.
                    Some(tls) if !websocket => {
                        let (config, timeout) = (tls.config.clone(), tls.timeout);
                        if !self.start_server_tls(
                            token,
                            config,
                            timeout,
                            &tls.handshake_first,
                            false,
                            line,
                        ) {
                            return;
                        }
                    }
                    _ => {
                        if let Some(c) = self.conns.get_mut(token) {
                            c.out.extend_from_slice(&line);
                        }
                    }
                }
            }
        }
        if role == Role::Hub {
            let remote = dialled.as_ref().and_then(|d| match d.purpose {
                Purpose::Leaf { remote, .. } => leafs.remote(remote),
                Purpose::Route { .. } => None,
            });
            if let (Some(r), Some(d)) = (remote, &dialled) {
                if r.websocket {
                    if !self.start_hub_websocket(token, &r, &d.url) {
                        return;
                    }
                } else if r.tls.as_ref().is_some_and(|t| t.handshake_first)
                    && !self.start_hub_tls(token, &r, &d.url)
                {
                    // `handshake_first` on the remote: TLS before the hub's INFO.
                    return;
                }
            }
        }
        self.mark_dirty(token);
        self.arm_timer(token);
    }

    /// The INFO of our leaf listener (`generateLeafNodeInfoJSON`); `connect_info` for the
    /// answer to a CONNECT, with the account the connection is bound to.
    pub(crate) fn leaf_info(
        &self,
        cid: u64,
        nonce: &str,
        connect_info: bool,
        account: &str,
    ) -> ServerInfo {
        let client = self.shared.info();
        let Some(leafs) = self.shared.leafnodes.as_deref() else {
            return client;
        };
        let (host, port) = match (&leafs.settings.listen, leafs.addr) {
            (Some((h, _)), Some(a)) => (h.clone(), a.port()),
            _ => (client.host.clone(), 0),
        };
        let tls = leafs.listener_tls();
        ServerInfo {
            server_id: client.server_id,
            server_name: client.server_name,
            version: client.version,
            proto: 3,
            tls_required: tls.is_some(),
            tls_verify: tls.is_some_and(|t| t.verify),
            go: client.go,
            host,
            port,
            headers: client.headers,
            auth_required: true,
            max_payload: client.max_payload,
            client_id: cid,
            nonce: nonce.to_string(),
            cluster: self.leaf_cluster_name().unwrap_or_default(),
            connect_info,
            remote_account: account.to_string(),
            api_lvl: client.api_lvl,
            info_on_connect: true,
            leafnode_urls: self.leafnode_urls(leafs),
            // nats-server's leaf INFO has the WebSocket URLs too (`leafNodeInfo.WSConnectURLs`).
            ws_connect_urls: client.ws_connect_urls.clone(),
            ..ServerInfo::default()
        }
    }

    /// INFO `leafnode_urls`: ours, then those of the servers in our cluster.
    fn leafnode_urls(&self, leafs: &super::LeafNodes) -> Vec<String> {
        let mut urls = leafs.urls.clone();
        if let Some(c) = &self.shared.cluster {
            for u in c.registry.peer_leafnode_urls() {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
        urls
    }

    /// The name leaf connections know this server's cluster by: the cluster name, else the
    /// server name when it dials remotes (nats-server's `leafNoCluster`), else none.
    fn leaf_cluster_name(&self) -> Option<String> {
        match (&self.shared.cluster, &self.shared.leafnodes) {
            (Some(c), _) => Some(c.registry.name()),
            (None, Some(l)) if l.has_remotes() => Some(self.shared.info().server_name),
            _ => None,
        }
    }

    /// CONNECT on a connection we accepted.
    pub(super) fn on_leaf_connect(&mut self, token: usize, json: &[u8]) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.auth_deadline = None;
        let has_lang = serde_json::from_slice::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("lang").cloned())
            .is_some_and(|l| l.as_str().is_some_and(|s| !s.is_empty()));
        let connect = match LeafConnect::from_json(json) {
            Ok(c) => c,
            Err(e) => {
                error!("{} - {e}", conn.label());
                self.close(token, CloseReason::ProtocolViolation);
                return;
            }
        };
        let nonce = conn
            .leaf
            .as_deref()
            .map(|l| l.nonce.clone())
            .unwrap_or_default();
        // Who it claims to be, for the log line of a refusal.
        conn.opts.user = connect.user.clone();
        conn.opts.nkey = connect.nkey.clone();
        conn.opts.auth_token = connect.auth_token.clone();
        let peer = conn.peer.ip();
        // The credentials bind the connection to an account (`isLeafNodeAuthorized`).
        let account = match self.leaf_account(&leafs.settings, &connect, &nonce, peer) {
            LeafLogin::Account(a) => a,
            LeafLogin::Denied => {
                self.leaf_auth_violation(token);
                return;
            }
            LeafLogin::Bcrypt {
                hash,
                presented,
                account,
            } => {
                // Checked off the reactor, as for clients; reading waits for the verdict.
                let handle = self.all[self.id].clone();
                let cache = self.auth.bcrypt_cache.clone();
                let Some(conn) = self.conns.get_mut(token) else {
                    return;
                };
                let cid = conn.cid;
                conn.auth_pending = Some(crate::reactor::PendingAuth {
                    user: None,
                    reload: false,
                });
                if let Some(l) = conn.leaf.as_deref_mut() {
                    l.pending_connect = Some(Box::new((connect, has_lang, account)));
                }
                crate::auth::secret::POOL.submit(crate::auth::secret::Job {
                    hash,
                    password: presented,
                    cache,
                    done: Box::new(move |ok| {
                        handle.send_control(Control::AuthVerdict { token, cid, ok });
                    }),
                });
                return;
            }
        };
        self.leaf_connect_authorized(token, connect, has_lang, account);
    }

    /// The bcrypt verdict on an accepted leaf's CONNECT.
    pub(crate) fn leaf_bcrypt_verdict(&mut self, token: usize, ok: bool) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.auth_pending = None;
        let Some(pending) = conn
            .leaf
            .as_deref_mut()
            .and_then(|l| l.pending_connect.take())
        else {
            return;
        };
        if !ok {
            self.leaf_auth_violation(token);
            return;
        }
        let (connect, has_lang, account) = *pending;
        self.leaf_connect_authorized(token, connect, has_lang, account);
    }

    /// Refused credentials: nats-server's `authViolation` (its log line names the user).
    fn leaf_auth_violation(&mut self, token: usize) {
        self.auth_violation(token);
    }

    /// The rest of an accepted CONNECT once its credentials passed (`processLeafNodeConnect`).
    fn leaf_connect_authorized(
        &mut self,
        token: usize,
        connect: LeafConnect,
        has_lang: bool,
        account: String,
    ) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let ours = self.leaf_cluster_name();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if has_lang {
            conn.queue_err("attempted to connect to leaf node port");
            error!("{} - attempted to connect to leaf node port", conn.label());
            self.close(token, CloseReason::WrongPort);
            return;
        }
        if connect.cluster.contains(' ') {
            conn.queue_err("Cluster name cannot contain spaces or new lines");
            self.close(token, CloseReason::ProtocolViolation);
            return;
        }
        if !connect.cluster.is_empty() && Some(&connect.cluster) == ours.as_ref() {
            conn.queue_err("remote leafnode has same cluster name");
            error!("{} - remote leafnode has same cluster name", conn.label());
            self.close(token, CloseReason::ClusterNamesIdentical);
            return;
        }
        if !connect.gateway.is_empty() {
            let text = format!(
                "Rejecting connection from gateway {:?} on the leafnode port",
                connect.gateway
            );
            error!("{} - {text}", conn.label());
            conn.queue_err(&text);
            self.close(token, CloseReason::WrongGateway);
            return;
        }
        let too_old = crate::config::leafnode::parse_version(&leafs.settings.min_version)
            .is_some_and(|min| {
                crate::config::leafnode::parse_version(&connect.version).is_none_or(|v| v < min)
            });
        if too_old {
            // An INFO first, so that a nats-server leaf takes the refusal and waits before
            // it dials again.
            let cid = conn.cid;
            let info = self.leaf_info(cid, "", true, &account);
            let Some(conn) = self.conns.get_mut(token) else {
                return;
            };
            info.write_to(&mut conn.out);
            let text = format!(
                "connection rejected since minimum version required is {:?}",
                leafs.settings.min_version
            );
            error!("{} - {text}", conn.label());
            conn.queue_err(&text);
            self.close(token, CloseReason::MinimumVersionRequired);
            return;
        }
        let Some(account_id) = self
            .auth
            .accounts()
            .iter()
            .position(|a| *a == account)
            .map(|i| i as u32)
        else {
            error!(
                "{} - Unknown account {account:?} for leafnode",
                conn.label()
            );
            self.close(token, CloseReason::MissingAccount);
            return;
        };
        let headers = !self.opts.no_header_support && connect.headers;
        let cid = conn.cid;
        if let Some(l) = conn.leaf.as_deref_mut() {
            l.parser.set_expect_connect(false);
            l.parser.set_headers(headers);
            l.headers = headers;
            l.account = account_id;
            l.remote_id = connect.server_id.clone();
            l.remote_name = connect.name.clone();
            l.deny_out = connect.deny_pub.clone();
            l.remote_cluster = if connect.cluster.is_empty() {
                connect.name.clone()
            } else {
                connect.cluster.clone()
            };
        }
        let info = self.leaf_info(cid, "", true, &account);
        if let Some(c) = self.conns.get_mut(token) {
            info.write_to(&mut c.out);
            info!(
                "{} - Leafnode connection created for account: {account} {}",
                c.label(),
                connect.name
            );
        }
        self.register_leaf(token);
    }

    /// The account a leaf CONNECT logs into, or None when its credentials do not pass: the
    /// leaf `authorization` users when configured, else the server's client authentication.
    fn leaf_account(
        &self,
        settings: &super::Settings,
        connect: &LeafConnect,
        nonce: &str,
        peer: std::net::IpAddr,
    ) -> LeafLogin {
        if !settings.nkey.is_empty() {
            let signed = connect.nkey == settings.nkey
                && crate::nkey::verify_signature(&connect.nkey, nonce.as_bytes(), &connect.sig)
                    .is_ok();
            return match signed {
                true => LeafLogin::Account(settings.nkey_account.clone()),
                false => LeafLogin::Denied,
            };
        }
        if !settings.users.is_empty() {
            let Some(user) = settings.users.iter().find(|u| u.user == connect.user) else {
                return LeafLogin::Denied;
            };
            let account = if user.account.is_empty() {
                GLOBAL_ACCOUNT.to_string()
            } else {
                user.account.clone()
            };
            return match secret::compare(&user.password, &connect.pass, &self.auth.bcrypt_cache) {
                Check::Match => LeafLogin::Account(account),
                Check::Mismatch => LeafLogin::Denied,
                Check::NeedsBcrypt => LeafLogin::Bcrypt {
                    hash: user.password.clone(),
                    presented: connect.pass.clone(),
                    account,
                },
            };
        }
        let mut opts = ClientOptions {
            user: connect.user.clone(),
            pass: connect.pass.clone(),
            auth_token: connect.auth_token.clone(),
            nkey: connect.nkey.clone(),
            sig: connect.sig.clone(),
            jwt: connect.jwt.clone(),
            ..ClientOptions::default()
        };
        let presented = Presented {
            nonce,
            cert: None,
            conn_type: ConnType::Leafnode,
            peer: Some(peer),
        };
        let account_of = |user: Option<&std::sync::Arc<crate::auth::UserEntry>>| {
            user.map_or(GLOBAL_ACCOUNT.to_string(), |u| u.account.clone())
        };
        match self.auth.authenticate(&mut opts, &presented) {
            Verdict::Allowed(user) => LeafLogin::Account(account_of(user.as_ref())),
            Verdict::NeedsBcrypt {
                hash,
                presented,
                user,
            } => LeafLogin::Bcrypt {
                hash,
                presented,
                account: account_of(user.as_ref()),
            },
            Verdict::Denied(_) => LeafLogin::Denied,
        }
    }

    /// INFO from the hub, on a connection we dialled: the first one starts our CONNECT, the
    /// one with `connect_info` finishes the handshake.
    pub(super) fn on_leaf_info(&mut self, token: usize, json: &[u8]) {
        let Some(leafs) = self.shared.leafnodes.clone() else {
            return;
        };
        let info = match ServerInfo::from_json(json) {
            Ok(i) => i,
            Err(e) => {
                if let Some(c) = self.conns.get(token) {
                    error!("{} - {e}", c.label());
                }
                self.close(token, CloseReason::ProtocolViolation);
                return;
            }
        };
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(leaf) = conn.leaf.as_deref_mut() else {
            return;
        };
        if leaf.role != Role::Hub {
            return;
        }
        if let Some(remote) = leaf.remote {
            leafs.learn_urls(remote, &info.leafnode_urls, &info.ws_connect_urls);
        }
        if leaf.registered {
            return;
        }
        if leaf.connect_sent {
            if info.connect_info {
                leaf.awaiting_connect_info = false;
                conn.peer_deadline = None;
                self.register_leaf(token);
            }
            return;
        }
        let remote = leaf.remote.and_then(|r| leafs.remote(r));
        let Some(remote) = remote else {
            self.close(token, CloseReason::ProtocolViolation);
            return;
        };
        // TLS when the remote has a `tls {}` block or the hub asks for it
        // (`leafClientHandshakeIfNeeded`), before the wrong-port check, as nats-server.
        let url = leaf.url.clone();
        // A WebSocket link did its TLS (wss) before the upgrade.
        if conn.tls_phase == TlsPhase::None
            && !conn.transport.is_websocket()
            && (remote.tls.is_some() || info.tls_required)
        {
            if let Some(url) = &url {
                if !self.start_hub_tls(token, &remote, url) {
                    return;
                }
            }
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(leaf) = conn.leaf.as_deref_mut() else {
            return;
        };
        if info.client_id == 0 || info.leafnode_urls.is_empty() {
            error!("{} - attempted to connect to wrong port", conn.label());
            self.close(token, CloseReason::WrongPort);
            return;
        }
        let Some(account_id) = self
            .auth
            .accounts()
            .iter()
            .position(|a| *a == remote.account)
            .map(|i| i as u32)
        else {
            error!(
                "{} - Unknown local account {:?} for leafnode remote",
                conn.label(),
                remote.account
            );
            self.close(token, CloseReason::MissingAccount);
            return;
        };
        let headers = !self.opts.no_header_support && info.headers;
        leaf.account = account_id;
        leaf.headers = headers;
        leaf.parser.set_headers(headers);
        leaf.remote_id = info.server_id.clone();
        leaf.remote_name = info.server_name.clone();
        leaf.remote_cluster = if info.cluster.is_empty() {
            info.server_name.clone()
        } else {
            info.cluster.clone()
        };
        leaf.nonce = info.nonce.clone();
        leaf.connect_sent = true;
        leaf.awaiting_connect_info = info.info_on_connect;
        let mut connect = LeafConnect {
            version: crate::config::NATS_COMPAT_VERSION.to_string(),
            server_id: self.shared.server_id.clone(),
            name: self.shared.info().server_name,
            cluster: self.leaf_cluster_name().unwrap_or_default(),
            headers: !self.opts.no_header_support,
            remote_account: remote.account.clone(),
            compress_mode: "not supported".into(),
            deny_pub: remote.deny_imports.clone(),
            // 3 would tell the hub we take part in message tracing (MsgTraceProto).
            protocol: 1,
            ..LeafConnect::default()
        };
        if let Some(path) = &remote.credentials {
            // Read at each connect, as nats-server reads it, so that new credentials
            // are used without a restart.
            match crate::config::leafnode::read_creds(path) {
                Ok((jwt, seed)) => {
                    connect.jwt = jwt;
                    connect.sig = sign_nonce(&seed, &info.nonce).unwrap_or_default();
                }
                Err(e) => {
                    error!("{e}");
                    self.close(token, CloseReason::AuthenticationViolation);
                    return;
                }
            }
        } else if let Some(seed) = &remote.seed {
            if let Ok(kp) = nkeys::KeyPair::from_seed(seed) {
                connect.nkey = kp.public_key();
                connect.sig = sign_nonce(seed, &info.nonce).unwrap_or_default();
            }
        }
        // The URL's user and password go too (nats-server sends them beside a JWT, for
        // auth callouts); a user without a password is also the token.
        let userinfo = url
            .as_ref()
            .and_then(|u| u.user.clone().map(|n| (n, u.pass.clone())))
            .or_else(|| remote.fallback_user.clone());
        if let Some((user, pass)) = userinfo {
            match pass {
                Some(p) => connect.pass = p,
                None => connect.auth_token = user.clone(),
            }
            connect.user = user;
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        connect.write_to(&mut conn.out);
        info!(
            "{} - Leafnode connection created for account: {} {}",
            conn.label(),
            remote.account,
            info.server_name
        );
        if info.info_on_connect {
            conn.peer_deadline = Some(Instant::now() + CONNECT_INFO_TIMEOUT);
            self.arm_timer(token);
            self.mark_dirty(token);
        } else {
            conn.peer_deadline = None;
            self.register_leaf(token);
        }
    }
}

impl Reactor {
    /// A WebSocket remote: TLS first for `wss://` or a `tls {}` block, then the upgrade
    /// request to the hub's `/leafnode` path; the hub's INFO comes in frames after its 101
    /// (`leafNodeSolicitWSConnection`), all within `first_info_timeout`.
    fn start_hub_websocket(
        &mut self,
        token: usize,
        remote: &super::RemoteSettings,
        url: &RouteUrl,
    ) -> bool {
        let max_payload = self.opts.max_payload.max(0) as usize;
        let tls = if remote.tls.is_some() || remote.tls_scheme {
            let tls = match &remote.tls {
                Some(t) => Ok(t.clone()),
                None => crate::tls::DialTls::from_config(&crate::tls::TlsConfig::default()),
            };
            match tls.and_then(|t| {
                crate::tls::server_name(&url.host, remote.tls_name.as_deref()).map(|n| (t, n))
            }) {
                Ok(t) => Some(t),
                Err(e) => {
                    if let Some(c) = self.conns.get(token) {
                        error!("{} - Error soliciting websocket connection: {e}", c.label());
                    }
                    self.close(token, CloseReason::TlsHandshakeError);
                    return false;
                }
            }
        } else {
            None
        };
        let (request, key) = crate::websocket::client::leaf_request(
            &url.host_port(),
            &url.path,
            remote.ws_no_masking,
        );
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        if let Some((tls, name)) = tls {
            if let Err(e) = conn.transport.start_tls_client(tls.config.clone(), name) {
                error!(
                    "{} - Error soliciting websocket connection: {e}",
                    conn.label()
                );
                self.close(token, CloseReason::TlsHandshakeError);
                return false;
            }
        }
        conn.transport.start_websocket(max_payload);
        if let Some(ws) = conn.transport.ws_mut() {
            ws.queue_raw(&request);
            ws.request_key = key;
        }
        conn.ws_deadline = conn.peer_deadline;
        self.mark_dirty(token);
        true
    }

    /// The hub's answer to our upgrade request, in the bytes read so far: Some(true) once
    /// upgraded, Some(false) when the connection was closed, None to wait for more.
    pub(crate) fn hub_websocket_answer(&mut self, token: usize) -> Option<bool> {
        let conn = self.conns.get_mut(token)?;
        let ws = conn.transport.ws_mut()?;
        match crate::websocket::client::check_answer(&ws.request, &ws.request_key) {
            Answer::Partial => None,
            Answer::Upgraded {
                consumed,
                no_masking,
            } => {
                let rest = ws.request.split_off(consumed.min(ws.request.len()));
                ws.open_dialled(no_masking, &rest);
                conn.ws_deadline = None;
                debug!(
                    "{} - Leafnode compression=false masking={}",
                    conn.label(),
                    !no_masking
                );
                Some(true)
            }
            Answer::Failed(e) => {
                error!(
                    "{} - Error soliciting websocket connection: {e}",
                    conn.label()
                );
                self.close(token, CloseReason::ReadError);
                Some(false)
            }
        }
    }

    /// Starts TLS to our hub at `url` for `remote`: its `tls {}` block, or Go's defaults
    /// (the system's roots) when only the hub asked for TLS.
    fn start_hub_tls(
        &mut self,
        token: usize,
        remote: &super::RemoteSettings,
        url: &RouteUrl,
    ) -> bool {
        let tls = match &remote.tls {
            Some(t) => Ok(t.clone()),
            None => crate::tls::DialTls::from_config(&crate::tls::TlsConfig::default()),
        };
        let name = crate::tls::server_name(&url.host, remote.tls_name.as_deref());
        match (tls, name) {
            (Ok(tls), Ok(name)) => self.start_client_tls(token, &tls, name),
            (Err(e), _) | (_, Err(e)) => {
                if let Some(c) = self.conns.get(token) {
                    error!("{} - TLS leafnode handshake error: {e}", c.label());
                }
                self.close(token, CloseReason::TlsHandshakeError);
                false
            }
        }
    }
}

/// Where an accepted leaf's credentials lead.
enum LeafLogin {
    Account(String),
    Denied,
    /// Everything passed but a bcrypt comparison, which runs off the reactor.
    Bcrypt {
        hash: String,
        presented: String,
        account: String,
    },
}

/// An ed25519 signature of the nonce with an nkey seed, base64url without padding, as the
/// CONNECT `sig` of an nkey or JWT login.
fn sign_nonce(seed: &str, nonce: &str) -> Option<String> {
    let kp = nkeys::KeyPair::from_seed(seed).ok()?;
    let sig = kp.sign(nonce.as_bytes()).ok()?;
    Some(data_encoding::BASE64URL_NOPAD.encode(&sig))
}
