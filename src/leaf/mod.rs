//! Leaf nodes: natrium at the edge of a NATS system (dialling a hub, `leafnodes { remotes }`)
//! and as a hub for other servers' leaf connections (`leafnodes { listen }`), speaking
//! nats-server 2.15's leaf protocol.
//!
//! What lives where, as for routes ([`crate::route`]):
//! - A leaf connection is one more kind of connection on a reactor ([`LeafState`] on its
//!   `Conn`), with the peer parser in its leaf mode; its `LS+` interest goes into the
//!   reactor's subject index as `Target::Leaf` and is announced to the other reactors with
//!   the origin `Leaf` (a leaf node of ours) or `Hub` (our hub), whose forwarding rules are
//!   in `reactor::interest`.
//! - A connection is bound to one account at each end; no account token is on the wire.
//! - What a leaf connection is told: a leaf node of ours gets all the interest of its
//!   account (clients, routes, other leafs, our hub) but its own; our hub gets only what is
//!   local (clients and our leaf nodes), as routes do. `$LDS.<nuid>`, one per account, goes
//!   to every leaf connection: getting our own back means a loop.
//! - Dialling runs on the server's dialler thread ([`crate::dialer`]).

pub mod conn;
mod handshake;
mod ops;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustc_hash::FxHashMap;

pub use conn::{LeafState, Role};

use crate::auth::GLOBAL_ACCOUNT;
use crate::config::{leafnode, Options};
use crate::dialer::{self, Dial, DialerHandle, Purpose};
use crate::route::url::RouteUrl;

/// nats-server's `DEFAULT_LEAF_NODE_RECONNECT`.
pub const RECONNECT: Duration = Duration::from_secs(1);
/// How long a remote waits after the hub reported a loop (nats-server's
/// `leafNodeReconnectAfterPermViolation` / loop delay).
pub const LOOP_DELAY: Duration = Duration::from_secs(30);
/// nats-server's `DEFAULT_LEAFNODE_INFO_WAIT`: a dialled connection gets the hub's INFO in
/// this time, and the `connect_info` INFO in 2 s.
pub const FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(1);
pub const CONNECT_INFO_TIMEOUT: Duration = Duration::from_secs(2);
/// The default leaf port of remote URLs without one.
pub const DEFAULT_PORT: u16 = 7422;

/// A user a leaf connection may log in as, and the account it binds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafUser {
    pub user: String,
    pub password: String,
    pub account: String,
}

/// One `remotes` entry.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// nats-server's `name()`: what identifies the remote across a reload.
    pub name: String,
    /// `disabled`: configured, not dialled (a reload may turn it on).
    pub disabled: bool,
    pub urls: Vec<RouteUrl>,
    /// The local account bound to this remote.
    pub account: String,
    /// A `.creds` file, read at each connect as nats-server reads it: its user JWT goes in
    /// CONNECT, its seed signs the hub's nonce.
    pub credentials: Option<std::path::PathBuf>,
    /// An nkey seed (`nkey`/`seed`): its public key and a signature of the nonce.
    pub seed: Option<String>,
    pub first_info_timeout: Duration,
    /// Subjects we do not send to the hub (publish deny).
    pub deny_exports: Vec<String>,
    /// Subjects we do not take from the hub (no interest sent for them; `deny_pub`).
    pub deny_imports: Vec<String>,
    /// The user and password of the first configured URL that has them, sent when the URL
    /// dialled has none (a URL the hub told us about).
    pub fallback_user: Option<(String, Option<String>)>,
    /// Don't dial the leaf URLs the hub tells about (`ignore_discovered_servers`).
    pub ignore_discovered: bool,
    /// `ws://` or `wss://` URLs (a remote's URLs share the scheme): the leaf protocol runs
    /// inside WebSocket frames, after an HTTP upgrade to the hub's `/leafnode` path.
    pub websocket: bool,
    /// `wss://`: TLS before the upgrade, with or without a `tls {}` block.
    pub tls_scheme: bool,
    /// `ws_no_masking`: ask the hub to take our frames unmasked.
    pub ws_no_masking: bool,
    /// The remote's `tls {}` block: TLS to the hub even if its INFO does not ask for it.
    pub tls: Option<crate::tls::DialTls>,
    /// The first host name among the configured URLs: the name the hub's certificate is
    /// checked for when we dial an IP address (nats-server's `tlsName`).
    pub tls_name: Option<String>,
}

impl RemoteSettings {
    /// The name with passwords hidden, for logs.
    pub fn safe_name(&self) -> String {
        let urls: Vec<String> = self.urls.iter().map(RouteUrl::redacted).collect();
        format!("urls={urls:?}, account={:?}", self.account)
    }

    /// A `remotes` entry as it runs, or why natrium cannot run it.
    pub fn from_options(r: &leafnode::RemoteLeafOptions) -> Result<RemoteSettings, String> {
        let refuse = |what: &str| Err(format!("{what} is not supported by natrium yet"));
        let name = r.safe_name();
        if r.hub {
            return refuse(&format!("hub: true on leafnode remote {name}"));
        }
        if r.proxy.as_ref().is_some_and(|p| !p.url.is_empty()) {
            return refuse(&format!("a proxy on leafnode remote {name}"));
        }
        if r.account == leafnode::SYSTEM_ACCOUNT {
            return refuse(&format!("the system account on leafnode remote {name}"));
        }
        let tls = match &r.tls {
            Some(t) => Some(
                crate::tls::DialTls::from_config(t)
                    .map_err(|e| format!("leafnode remote {name}: {e}"))?,
            ),
            None => None,
        };
        let mut urls: Vec<RouteUrl> = r.urls.iter().map(RouteUrl::from).collect();
        if !r.no_randomize {
            fastrand::shuffle(&mut urls);
        }
        Ok(RemoteSettings {
            name: r.name(),
            disabled: r.disabled,
            urls,
            account: r.account.clone(),
            credentials: r.credentials.clone(),
            seed: (!r.nkey.is_empty()).then(|| r.nkey.clone()),
            first_info_timeout: r.first_info_timeout.unwrap_or(FIRST_INFO_TIMEOUT),
            deny_exports: r.deny_exports.clone(),
            deny_imports: r.deny_imports.clone(),
            fallback_user: r
                .urls
                .iter()
                .find_map(|u| u.username.clone().map(|n| (n, u.password.clone()))),
            ignore_discovered: r.ignore_discovered_servers,
            websocket: r.urls.first().is_some_and(leafnode::is_ws),
            // `wss://` is TLS even without a `tls {}` block (nats-server sets `TLS`).
            tls_scheme: r.urls.iter().any(|u| u.scheme == "wss"),
            ws_no_masking: r.ws_no_masking,
            tls,
            tls_name: crate::tls::first_host_name(r.urls.iter().map(|u| u.host.as_str())),
        })
    }
}

impl Settings {
    /// The settings the options ask for, `None` without a `leafnodes {}` block, or the
    /// reason natrium cannot run them: what it does not implement yet is refused, not
    /// ignored (docs/leafnodes.md), so that no link runs less protected or less connected
    /// than configured.
    pub fn from_options(opts: &Options) -> Result<Option<Settings>, String> {
        let Some(l) = &opts.leafnodes else {
            return Ok(None);
        };
        let refuse = |what: &str| Err(format!("{what} is not supported by natrium yet"));
        let tls = match &l.tls {
            Some(t) if t.verify_and_map => return refuse("leafnodes { tls { verify_and_map } }"),
            Some(t) => Some(
                crate::tls::ListenerTls::from_config(t)
                    .map_err(|e| format!("leafnode tls: {e}"))?,
            ),
            None => None,
        };
        if l.proxy_required || l.users.iter().any(|u| u.proxy_required) {
            return refuse("leafnodes { authorization { proxy_required } }");
        }
        let remotes = l
            .remotes
            .iter()
            .map(RemoteSettings::from_options)
            .collect::<Result<Vec<_>, _>>()?;
        let account = |a: &str| {
            if a.is_empty() {
                GLOBAL_ACCOUNT.to_string()
            } else {
                a.to_string()
            }
        };
        let mut users: Vec<LeafUser> = l
            .users
            .iter()
            .map(|u| LeafUser {
                user: u.username.clone(),
                password: u.password.clone(),
                account: account(&u.account),
            })
            .collect();
        if !l.username.is_empty() {
            users.push(LeafUser {
                user: l.username.clone(),
                password: l.password.clone(),
                account: account(&l.account),
            });
        }
        Ok(Some(Settings {
            listen: l.port.map(|p| (l.host.clone(), p)),
            tls,
            advertise: l.advertise.clone(),
            no_advertise: l.no_advertise,
            users,
            nkey: l.nkey.clone(),
            nkey_account: account(&l.account),
            min_version: l.min_version.clone(),
            auth_timeout: l.effective_auth_timeout(),
            reconnect: l.reconnect.unwrap_or(RECONNECT),
            remotes,
        }))
    }
}

/// The leaf settings, resolved from the options.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The leaf listener: host and port (0 = random); `None`: no listener.
    pub listen: Option<(String, u16)>,
    /// `leafnodes { tls }`: leaf connections we accept run TLS (moves into the runtime,
    /// [`LeafNodes::listener_tls`]).
    pub tls: Option<crate::tls::ListenerTls>,
    /// `host[:port]` for INFO instead of the listener's.
    pub advertise: String,
    pub no_advertise: bool,
    /// `authorization { user, password, account }` (a single user) or `users`.
    pub users: Vec<LeafUser>,
    /// `authorization { nkey }`: the user nkey a leaf node must sign our nonce with.
    pub nkey: String,
    /// The account the single nkey user binds to.
    pub nkey_account: String,
    /// `min_version`: leaf nodes of older servers are refused.
    pub min_version: String,
    pub auth_timeout: Duration,
    pub reconnect: Duration,
    /// Moves into the runtime ([`LeafNodes::remote`]).
    pub remotes: Vec<RemoteSettings>,
}

/// The URLs of one remote in the order they are tried.
#[derive(Debug)]
struct Rotation {
    urls: Vec<RouteUrl>,
    current: Option<RouteUrl>,
}

/// The running leaf-node side of the server.
#[derive(Debug)]
pub struct LeafNodes {
    pub settings: Settings,
    /// Where the leaf listener is bound.
    pub addr: Option<SocketAddr>,
    /// The URLs leaf connections may (re)connect to (INFO `leafnode_urls`).
    pub urls: Vec<String>,
    /// This server's `$LDS.<nuid>` per account number (loop detection).
    lds: Mutex<FxHashMap<u32, String>>,
    /// Leaf connections registered now, on every reactor (`/varz` `leafnodes`).
    pub connected: std::sync::atomic::AtomicUsize,
    /// Per remote: the URLs to try in turn and the one tried last.
    rotation: Mutex<Vec<Rotation>>,
    /// The remotes, by a number that stays theirs for the server's life (a reload leaves a
    /// removed one's slot empty and adds new ones at the end); the settings'
    /// `remotes` move here.
    remotes: RwLock<Vec<Option<Arc<RemoteSettings>>>>,
    /// The leaf listener's TLS (the settings' `tls` moves here): a reload replaces it for
    /// the connections that come next.
    listener_tls: RwLock<Option<crate::tls::ListenerTls>>,
    dialer: DialerHandle,
}

/// What a reload of `leafnodes {}` asks the reactors and the dialler to do.
#[derive(Debug, Default)]
pub struct ReloadEffects {
    /// Remotes whose connection must close (removed or disabled).
    pub close: Vec<usize>,
    /// Remotes to dial (added or enabled).
    pub dial: Vec<usize>,
}

impl LeafNodes {
    /// The leaf listener (bound here, so that its port can be reported) and the runtime.
    pub fn bind(
        settings: Settings,
        dialer: DialerHandle,
    ) -> Result<(LeafNodes, Option<std::net::TcpListener>), String> {
        let (listener, addr) = match &settings.listen {
            Some((host, port)) => {
                let fail =
                    |e: String| format!("Error listening on leafnode port: {host}:{port}, {e}");
                let a = crate::server::resolve(host, *port).map_err(fail)?;
                let (l, bound) = crate::server::listen_tcp(a).map_err(|e| fail(e.to_string()))?;
                (Some(l), Some(bound))
            }
            None => (None, None),
        };
        let urls = match (&settings.listen, addr) {
            (Some((host, _)), Some(a)) => {
                crate::server::connect_urls(&settings.advertise, host, a.port())
            }
            _ => Vec::new(),
        };
        let mut settings = settings;
        let remotes = std::mem::take(&mut settings.remotes);
        let listener_tls = settings.tls.take();
        let rotation = remotes
            .iter()
            .map(|r| Rotation {
                urls: r.urls.clone(),
                current: None,
            })
            .collect();
        Ok((
            LeafNodes {
                settings,
                addr,
                urls,
                lds: Mutex::new(FxHashMap::default()),
                connected: std::sync::atomic::AtomicUsize::new(0),
                rotation: Mutex::new(rotation),
                remotes: RwLock::new(remotes.into_iter().map(|r| Some(Arc::new(r))).collect()),
                listener_tls: RwLock::new(listener_tls),
                dialer,
            },
            listener,
        ))
    }

    /// Remote `index`, while it is configured.
    pub fn remote(&self, index: usize) -> Option<Arc<RemoteSettings>> {
        let all = self.remotes.read().unwrap_or_else(|e| e.into_inner());
        all.get(index).cloned().flatten()
    }

    /// Remote `index` is configured and not disabled: it is dialled.
    pub fn is_active(&self, index: usize) -> bool {
        self.remote(index).is_some_and(|r| !r.disabled)
    }

    /// Any remote configured (nats-server's `leafNoCluster` test).
    pub fn has_remotes(&self) -> bool {
        let all = self.remotes.read().unwrap_or_else(|e| e.into_inner());
        all.iter().any(Option::is_some)
    }

    /// The leaf listener's TLS now.
    pub fn listener_tls(&self) -> Option<crate::tls::ListenerTls> {
        self.listener_tls
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A reload (nats-server's `leafNodeOption.Apply`): the listener's TLS and each
    /// remote's TLS are replaced for the connections that come next; a remote no longer
    /// configured, or now disabled, has its connection closed; one added, or now enabled,
    /// is dialled. Remotes are matched by their `name`.
    pub fn reload(
        &self,
        listener_tls: Option<crate::tls::ListenerTls>,
        remotes: Vec<RemoteSettings>,
    ) -> ReloadEffects {
        *self.listener_tls.write().unwrap_or_else(|e| e.into_inner()) = listener_tls;
        let mut effects = ReloadEffects::default();
        let mut all = self.remotes.write().unwrap_or_else(|e| e.into_inner());
        let mut rotation = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let mut incoming: Vec<Option<RemoteSettings>> = remotes.into_iter().map(Some).collect();
        for (i, slot) in all.iter_mut().enumerate() {
            let Some(old) = slot.clone() else {
                continue;
            };
            let found = incoming
                .iter_mut()
                .find(|n| n.as_ref().is_some_and(|n| n.name == old.name))
                .and_then(Option::take);
            match found {
                None => {
                    log::info!("Reloaded: LeafNode Remote {} removed", old.safe_name());
                    *slot = None;
                    effects.close.push(i);
                }
                Some(new) => {
                    if new.disabled != old.disabled {
                        log::info!(
                            "Reloaded: LeafNode Remote {} Disabled value is: {}",
                            old.safe_name(),
                            new.disabled
                        );
                        match new.disabled {
                            true => effects.close.push(i),
                            false => effects.dial.push(i),
                        }
                    }
                    *slot = Some(Arc::new(new));
                }
            }
        }
        for new in incoming.into_iter().flatten() {
            log::info!("Reloaded: LeafNode Remote {} added", new.safe_name());
            rotation.push(Rotation {
                urls: new.urls.clone(),
                current: None,
            });
            if !new.disabled {
                effects.dial.push(all.len());
            }
            all.push(Some(Arc::new(new)));
        }
        effects
    }

    /// This server's loop-detection subject for account `account`.
    pub fn lds(&self, account: u32) -> String {
        let mut map = self.lds.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(account)
            .or_insert_with(|| format!("$LDS.{}", crate::nkey::nuid()))
            .clone()
    }

    /// The URL to dial next for remote `index` (nats-server's `pickNextURL`: the list
    /// turns when the one tried last is at its head).
    pub fn next_url(&self, index: usize) -> Option<RouteUrl> {
        let mut all = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let r = all.get_mut(index)?;
        if r.urls.len() > 1 && r.current.as_ref() == r.urls.first() {
            r.urls.rotate_left(1);
        }
        r.current = r.urls.first().cloned();
        r.current.clone()
    }

    /// The hub told remote `index` its cluster's leaf URLs (INFO `leafnode_urls`, or
    /// `ws_connect_urls` for a WebSocket remote): they are tried first, then the configured
    /// ones (nats-server's `doUpdateLNURLs`).
    pub fn learn_urls(&self, index: usize, leafnode_urls: &[String], ws_connect_urls: &[String]) {
        let Some(remote) = self.remote(index) else {
            return;
        };
        if remote.ignore_discovered {
            return;
        }
        // A WebSocket remote learns the hub cluster's WebSocket URLs (`updateLeafNodeURLs`).
        let (scheme, learnt) = match (remote.websocket, remote.tls_scheme || remote.tls.is_some()) {
            (true, true) => ("wss", ws_connect_urls),
            (true, false) => ("ws", ws_connect_urls),
            (false, _) => ("nats-leaf", leafnode_urls),
        };
        let mut urls: Vec<RouteUrl> = learnt
            .iter()
            .filter_map(|hp| RouteUrl::parse(&format!("{scheme}://{hp}")).ok())
            .filter(|u| {
                !remote
                    .urls
                    .iter()
                    .any(|c| c.host == u.host && c.port == u.port)
            })
            .collect();
        urls.extend(remote.urls.iter().cloned());
        let mut all = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = all.get_mut(index) {
            r.urls = urls;
        }
    }

    /// Dials remote `index` after `delay`, at its next URL.
    pub fn dial_remote(&self, index: usize, delay: Duration, first_connect: bool) {
        if !self.is_active(index) {
            return;
        }
        let Some(url) = self.next_url(index) else {
            return;
        };
        let _ = self.dialer.send(dialer::Request::Dial(Dial {
            url,
            purpose: Purpose::Leaf {
                remote: index,
                reconnect: self.settings.reconnect,
            },
            delay,
            first_connect,
        }));
    }

    /// nats-server's start-up line for the leaf listener, if there is one.
    pub fn log_listening(&self) {
        if let (Some(a), Some((host, _))) = (self.addr, &self.settings.listen) {
            log::info!(
                "Listening for leafnode connections on {}",
                crate::server::join_host_port(host, a.port())
            );
        }
    }

    /// Dials every remote (start-up).
    pub fn start(&self) {
        let count = self.remotes.read().unwrap_or_else(|e| e.into_inner()).len();
        for i in 0..count {
            self.dial_remote(i, Duration::ZERO, true);
        }
    }
}

/// Subjects that never cross a leaf connection of a non-system account, in either direction
/// (nats-server's `denyAllClientJs`), unless JetStream domains allow it.
pub fn js_denied(subject: &[u8]) -> bool {
    const DENIED: [&[u8]; 3] = [b"$JS.API.>", b"$KV.>", b"$OBJ.>"];
    DENIED.iter().any(|p| crate::subject::matches(p, subject))
}
