//! Authentication and authorization, as nats-server does them for client connections
//! (auth.go `configureAuthorization`, `processClientOrLeafAuthentication`; client.go
//! `RegisterUser`, `setPermissions`).
//!
//! ```text
//!  Options ──Auth::from_options──► Auth (Arc, shared by the reactors; rebuilt on reload)
//!                          │ users / nkeys by name ─► UserEntry { perms: Arc<PermSet> }
//!  CONNECT ──authenticate─►│ Verdict: Allowed(user) │ Denied(why) │ NeedsBcrypt(job)
//!                          ▼
//!  Conn { user, perms: ConnPerms (per-connection caches), nonce }
//! ```
//!
//! Mechanisms, checked in nats-server's order: nkeys (signature over the INFO nonce), the
//! users list (or, with TLS `verify_and_map`, the user named by the client certificate),
//! then the single token, then the single user/password. `no_auth_user` binds clients that
//! present no credentials to that user. Passwords and tokens are plaintext (compared in
//! constant time) or bcrypt hashes (verified off the reactor, see [`secret`]).
//!
//! Every user belongs to an account: the global account `$G`, or one of the `accounts {}`
//! block. An account is a separate subject space; [`Auth::accounts`] numbers them (`$G` is
//! 0) and a number, once given, keeps its account across reloads, so that reactors can
//! index their per-account subject indexes by it.
//!
//! Secrets never reach the logs: failures are logged with the user name or nkey only, a
//! token as `[REDACTED]`, as nats-server does.

pub mod certmap;
pub mod operator;
pub mod options;
pub mod permissions;
pub mod scoped;
pub mod secret;

use std::sync::Arc;

use log::debug;
use rustc_hash::FxHashMap;

pub use options::{
    Account, Authorization, NkeyUser, Permissions, ResponsePermission, SubjectPermission, User,
    GLOBAL_ACCOUNT,
};
use permissions::PermSet;
use secret::{BcryptCache, Check};

use crate::accounts::resolver::Resolver;
use crate::accounts::{AccountShares, Mapping, Sharing};
use crate::config::Options;
use crate::proto::info::ClientOptions;

/// nats-server's warning for plaintext passwords in the configuration.
pub const PLAINTEXT_WARNING: &str = "Plaintext passwords detected, use nkeys or bcrypt";

/// The kind of client connection, for users' `allowed_connection_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    Standard,
    Websocket,
    Leafnode,
    Mqtt,
    /// MQTT over WebSocket (`/mqtt`).
    MqttWs,
}

impl ConnType {
    pub fn name(self) -> &'static str {
        match self {
            ConnType::Standard => "STANDARD",
            ConnType::Websocket => "WEBSOCKET",
            ConnType::Leafnode => "LEAFNODE",
            ConnType::Mqtt => "MQTT",
            ConnType::MqttWs => "MQTT_WS",
        }
    }
}

/// The connection types nats-server knows.
pub(crate) const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// A configured user (password user or nkey user), compiled.
#[derive(Debug)]
pub struct UserEntry {
    /// The user name, or the public nkey for nkey users.
    pub name: String,
    pub is_nkey: bool,
    password: String,
    pub account: String,
    /// The account's number in [`Auth::accounts`].
    pub account_id: u32,
    pub perms: Option<Arc<PermSet>>,
    /// The permissions as configured (what `$SYS.REQ.USER.INFO` reports).
    pub permissions: Option<Permissions>,
    /// A user JWT's expiry (seconds since the epoch); 0: none.
    pub expires: i64,
    /// A user JWT's limits, with its account's applied.
    pub jwt_limits: Option<operator::JwtLimits>,
    allowed_types: Vec<String>,
    pub proxy_required: bool,
}

impl UserEntry {
    fn allows(&self, t: ConnType) -> bool {
        self.allowed_types.is_empty() || self.allowed_types.iter().any(|a| a == t.name())
    }
}

/// The outcome of checking a client's credentials.
#[derive(Debug)]
pub enum Verdict {
    /// Authenticated; `None` when no user is involved (no auth required, the token, or the
    /// single user/password), which carries no permissions.
    Allowed(Option<Arc<UserEntry>>),
    /// Refused; the reason is for the debug log (it never holds a secret).
    Denied(&'static str),
    /// Everything but a bcrypt comparison passed; run [`secret::verify_bcrypt`] off the
    /// reactor, then allow `user` if it matches.
    NeedsBcrypt {
        hash: String,
        presented: String,
        user: Option<Arc<UserEntry>>,
    },
}

/// What a connection presents beyond its CONNECT: the nonce it was sent and its client
/// certificate (for `verify_and_map`).
pub struct Presented<'a> {
    pub nonce: &'a str,
    pub cert: Option<&'a certmap::CertNames>,
    pub conn_type: ConnType,
    /// The client's address, for a user JWT's `src` networks.
    pub peer: Option<std::net::IpAddr>,
}

/// The compiled authorization configuration.
pub struct Auth {
    required: bool,
    nonce: bool,
    users: Vec<Arc<UserEntry>>,
    user_index: FxHashMap<String, usize>,
    nkeys: FxHashMap<String, Arc<UserEntry>>,
    username: String,
    password: String,
    token: String,
    no_auth_user: String,
    tls_map: bool,
    proxy_required: bool,
    /// Verified bcrypt pairs; shared with the rebuilt `Auth` after a reload.
    pub bcrypt_cache: Arc<BcryptCache>,
    /// Account names by number; `$G` is 0. Only ever grows (see the module doc).
    accounts: Vec<String>,
    /// What accounts import from one another, and their mappings.
    pub sharing: Arc<Sharing>,
    /// The system account's number, unless `no_system_account`.
    system: Option<u32>,
    /// Operator mode: the trusted operators' accounts (clients log in with a user JWT).
    trust: Option<operator::Trust>,
    /// Operator mode: where the account JWTs are kept; shared with rebuilt `Auth`s.
    resolver: Option<Arc<Resolver>>,
    /// The configuration this was built from, to tell whether a reload changes it.
    source: (
        Option<Authorization>,
        Vec<Account>,
        String,
        bool,
        Vec<Mapping>,
    ),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .field("users", &self.users.len())
            .field("nkeys", &self.nkeys.len())
            .field("no_auth_user", &self.no_auth_user)
            .finish_non_exhaustive()
    }
}

/// The result of building [`Auth`]: it, and what to warn about at start-up.
pub struct Built {
    pub auth: Auth,
    pub warnings: Vec<String>,
}

fn compile_perms(
    who: &str,
    p: Option<&Permissions>,
    warnings: &mut Vec<String>,
) -> Result<Option<Arc<PermSet>>, String> {
    let Some(p) = p else { return Ok(None) };
    let (set, errors) = PermSet::compile(p);
    if let Some(e) = errors.first() {
        // nats-server refuses these at start-up (`validatePermissionSubjects`).
        return Err(format!("invalid permissions for {who}: {e}"));
    }
    warnings.extend(errors);
    Ok(Some(Arc::new(set)))
}

fn connection_types(list: &[String]) -> Result<Vec<String>, String> {
    list.iter()
        .map(|t| {
            let up = t.to_ascii_uppercase();
            if CONNECTION_TYPES.contains(&up.as_str()) {
                Ok(up)
            } else {
                Err(format!("unknown connection type {t:?}"))
            }
        })
        .collect()
}

/// The system account a configuration asks for: `system_account` or `$SYS`, none with
/// `no_system_account`.
fn system_account(opts: &Options) -> Option<&str> {
    if opts.no_system_account {
        None
    } else if opts.system_account.is_empty() {
        Some(crate::config::cluster::DEFAULT_SYSTEM_ACCOUNT)
    } else {
        Some(&opts.system_account)
    }
}

/// Operator mode's configuration: the operators' JWTs, the preloaded accounts' (key, JWT)
/// and the resolver that holds the accounts.
type OperatorMode<'a> = (&'a [String], &'a [(String, String)], Arc<Resolver>);

/// Operator mode's operators, preloaded accounts and resolver, when configured: `resolver`
/// when there is one already (a rebuild), else it is opened.
fn operator_mode<'o>(
    opts: &'o Options,
    resolver: Option<&Arc<Resolver>>,
    warnings: &mut Vec<String>,
) -> Result<Option<OperatorMode<'o>>, String> {
    if opts.operators.is_empty() {
        return Ok(None);
    }
    let resolver = match resolver {
        Some(r) => r.clone(),
        None => Arc::new(Resolver::open(
            &opts.resolver,
            &opts.resolver_preload,
            warnings,
        )?),
    };
    Ok(Some((&opts.operators, &opts.resolver_preload, resolver)))
}

/// The cluster name a configuration gives this server (for cluster-scoped mappings).
fn cluster_name(opts: &Options) -> &str {
    opts.cluster.as_ref().map_or("", |c| c.name.as_str())
}

/// The number of account `name` (`None` or empty = `$G`) in `accounts`.
fn account_of(a: &Option<String>, accounts: &[String]) -> Result<(String, u32), String> {
    let name = match a.as_deref() {
        None | Some("") => GLOBAL_ACCOUNT,
        Some(n) => n,
    };
    match accounts.iter().position(|x| x == name) {
        Some(i) => Ok((name.to_string(), i as u32)),
        None => Err(format!("user account {name:?} is not defined")),
    }
}

impl Auth {
    /// Compiles the options' authorization settings; errors are start-up errors.
    pub fn from_options(opts: &Options) -> Result<Built, String> {
        let mut warnings = Vec::new();
        let operator = operator_mode(opts, None, &mut warnings)?;
        let mut built = Self::build(
            opts.authorization.as_ref(),
            &opts.accounts,
            &opts.no_auth_user,
            opts.tls.as_ref().is_some_and(|t| t.verify_and_map),
            Arc::new(BcryptCache::new()),
            &[],
            (
                &opts.mappings,
                cluster_name(opts),
                system_account(opts),
                operator,
            ),
        )?;
        warnings.append(&mut built.warnings);
        built.warnings = warnings;
        Ok(built)
    }

    /// Like [`Auth::from_options`], keeping the verified-password cache of `self` (a reload).
    pub fn rebuild(&self, opts: &Options) -> Result<Built, String> {
        let mut warnings = Vec::new();
        let operator = operator_mode(opts, self.resolver.as_ref(), &mut warnings)?;
        let mut built = Self::build(
            opts.authorization.as_ref(),
            &opts.accounts,
            &opts.no_auth_user,
            opts.tls.as_ref().is_some_and(|t| t.verify_and_map),
            self.bcrypt_cache.clone(),
            &self.accounts,
            (
                &opts.mappings,
                cluster_name(opts),
                system_account(opts),
                operator,
            ),
        )?;
        warnings.append(&mut built.warnings);
        built.warnings = warnings;
        Ok(built)
    }

    /// Whether `opts` configures authentication differently from what `self` was built
    /// from (a reload then re-checks connected clients).
    pub fn differs(&self, opts: &Options) -> bool {
        self.source
            != (
                opts.authorization.clone(),
                opts.accounts.clone(),
                opts.no_auth_user.clone(),
                opts.tls.as_ref().is_some_and(|t| t.verify_and_map),
                opts.mappings.clone(),
            )
    }

    fn build(
        authz: Option<&Authorization>,
        account_opts: &[Account],
        no_auth_user: &str,
        tls_map: bool,
        cache: Arc<BcryptCache>,
        prev_accounts: &[String],
        (global_mappings, cluster, system, operator): (
            &[Mapping],
            &str,
            Option<&str>,
            Option<OperatorMode<'_>>,
        ),
    ) -> Result<Built, String> {
        let mut warnings = Vec::new();
        let empty = Authorization::default();
        let a = authz.unwrap_or(&empty);
        if a.auth_callout {
            return Err("auth_callout is not supported by natrium yet".to_string());
        }
        let mut accounts = if prev_accounts.is_empty() {
            vec![GLOBAL_ACCOUNT.to_string()]
        } else {
            prev_accounts.to_vec()
        };
        for acc in account_opts {
            if !accounts.contains(&acc.name) {
                accounts.push(acc.name.clone());
            }
        }
        let resolver = operator.as_ref().map(|(_, _, r)| r.clone());
        let trust = match &operator {
            Some((operators, preload, resolver)) => Some(operator::Trust::build(
                operators,
                preload,
                &resolver.snapshot(),
                &mut warnings,
                |key| match accounts.iter().position(|a| a == key) {
                    Some(i) => i as u32,
                    None => {
                        accounts.push(key.to_string());
                        accounts.len() as u32 - 1
                    }
                },
            )?),
            None => None,
        };
        // The operator may name the system account.
        let system = match (&trust, system) {
            (Some(t), Some(crate::config::cluster::DEFAULT_SYSTEM_ACCOUNT)) => {
                t.system_account.as_deref().or(system)
            }
            (_, s) => s,
        };
        // nats-server creates the system account unless told not to.
        let system = match system {
            Some(name) => {
                if !accounts.iter().any(|a| a == name) {
                    if name != crate::config::cluster::DEFAULT_SYSTEM_ACCOUNT {
                        return Err(format!("system account {name:?} not found"));
                    }
                    accounts.push(name.to_string());
                }
                accounts.iter().position(|a| a == name).map(|i| i as u32)
            }
            None => None,
        };
        // Users of the `authorization` block get its default permissions; account users
        // already have their account's (applied when the file was read).
        let all_users = a
            .users
            .iter()
            .map(|u| (u, a.default_permissions.as_ref()))
            .chain(
                account_opts
                    .iter()
                    .flat_map(|acc| acc.users.iter().map(|u| (u, None))),
            );
        let all_nkeys = a
            .nkeys
            .iter()
            .map(|n| (n, a.default_permissions.as_ref()))
            .chain(
                account_opts
                    .iter()
                    .flat_map(|acc| acc.nkeys.iter().map(|n| (n, None))),
            );
        let mut users = Vec::with_capacity(a.users.len());
        let mut user_index = FxHashMap::default();
        for (u, default_perms) in all_users {
            let (account, account_id) = account_of(&u.account, &accounts)?;
            let entry = UserEntry {
                name: u.username.clone(),
                is_nkey: false,
                password: u.password.clone(),
                account,
                account_id,
                perms: compile_perms(
                    &format!("user {:?}", u.username),
                    u.permissions.as_ref().or(default_perms),
                    &mut warnings,
                )?,
                permissions: u.permissions.as_ref().or(default_perms).cloned(),
                expires: 0,
                jwt_limits: None,
                allowed_types: connection_types(&u.allowed_connection_types)?,
                proxy_required: u.proxy_required,
            };
            user_index.insert(u.username.clone(), users.len());
            users.push(Arc::new(entry));
        }
        let mut nkeys = FxHashMap::default();
        for (n, default_perms) in all_nkeys {
            if !crate::nkey::is_user_public_key(&n.nkey) {
                return Err(format!("Not a valid public nkey for a user: {:?}", n.nkey));
            }
            let (account, account_id) = account_of(&n.account, &accounts)?;
            let entry = UserEntry {
                name: n.nkey.clone(),
                is_nkey: true,
                password: String::new(),
                account,
                account_id,
                perms: compile_perms(
                    &format!("nkey {:?}", n.nkey),
                    n.permissions.as_ref().or(default_perms),
                    &mut warnings,
                )?,
                permissions: n.permissions.as_ref().or(default_perms).cloned(),
                expires: 0,
                jwt_limits: None,
                allowed_types: connection_types(&n.allowed_connection_types)?,
                proxy_required: n.proxy_required,
            };
            nkeys.insert(n.nkey.clone(), Arc::new(entry));
        }
        // nats-server's validateNoAuthUser.
        if !no_auth_user.is_empty() {
            if users.is_empty() && nkeys.is_empty() {
                return Err(format!(
                    "no_auth_user: {no_auth_user:?} present, but users/nkeys are not defined"
                ));
            }
            if !user_index.contains_key(no_auth_user) && !nkeys.contains_key(no_auth_user) {
                return Err(format!(
                    "no_auth_user: {no_auth_user:?} not present as user or nkey in \
                     authorization block or account configuration"
                ));
            }
        }
        // nats-server's checkAuthforWarnings: users without a password are certificate
        // identities when verify_and_map is on.
        let plaintext = (!a.password.is_empty() && !secret::is_bcrypt(&a.password))
            || users
                .iter()
                .any(|u| !(secret::is_bcrypt(&u.password) || u.password.is_empty() && tls_map));
        if plaintext {
            warnings.push(PLAINTEXT_WARNING.to_string());
        }
        let required = !users.is_empty()
            || !nkeys.is_empty()
            || !a.user.is_empty()
            || !a.token.is_empty()
            || trust.is_some();
        let global = AccountShares {
            name: GLOBAL_ACCOUNT,
            exports: &[],
            imports: &[],
            mappings: global_mappings,
            lenient: false,
        };
        let jwt_shares = trust.iter().flat_map(|t| t.shares());
        let shares: Vec<AccountShares<'_>> = std::iter::once(global)
            .chain(account_opts.iter().map(|acc| AccountShares {
                name: &acc.name,
                exports: &acc.exports,
                imports: &acc.imports,
                mappings: &acc.mappings,
                lenient: false,
            }))
            .chain(jwt_shares.map(|(key, s)| AccountShares {
                name: key,
                exports: &s.exports,
                imports: &s.imports,
                mappings: &s.mappings,
                lenient: true,
            }))
            .collect();
        let number = |name: &str| accounts.iter().position(|a| a == name).map(|i| i as u32);
        let sharing = Sharing::build(&shares, number, cluster).map_err(|e| e.join("; "))?;
        Ok(Built {
            auth: Auth {
                required,
                nonce: !nkeys.is_empty() || trust.is_some(),
                users,
                user_index,
                nkeys,
                username: a.user.clone(),
                password: a.password.clone(),
                token: a.token.clone(),
                no_auth_user: no_auth_user.to_string(),
                tls_map,
                proxy_required: a.proxy_required,
                bcrypt_cache: cache,
                accounts,
                sharing: Arc::new(sharing),
                system,
                trust,
                resolver,
                source: (
                    authz.cloned(),
                    account_opts.to_vec(),
                    no_auth_user.to_string(),
                    tls_map,
                    global_mappings.to_vec(),
                ),
            },
            warnings,
        })
    }

    /// An `Auth` that requires nothing.
    pub fn open() -> Auth {
        match Self::build(
            None,
            &[],
            "",
            false,
            Arc::new(BcryptCache::new()),
            &[],
            (&[], "", None, None),
        ) {
            Ok(b) => b.auth,
            // Building from nothing cannot fail; keep the signature panic free anyway.
            Err(_) => Auth {
                required: false,
                nonce: false,
                users: Vec::new(),
                user_index: FxHashMap::default(),
                nkeys: FxHashMap::default(),
                username: String::new(),
                password: String::new(),
                token: String::new(),
                no_auth_user: String::new(),
                tls_map: false,
                proxy_required: false,
                bcrypt_cache: Arc::new(BcryptCache::new()),
                accounts: vec![GLOBAL_ACCOUNT.to_string()],
                sharing: Arc::new(Sharing::default()),
                system: None,
                trust: None,
                resolver: None,
                source: (None, Vec::new(), String::new(), false, Vec::new()),
            },
        }
    }

    /// Account names by number (`$G` is 0): every account a configuration of this server
    /// has had, in the order they first appeared.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Operator mode's resolver.
    pub fn resolver(&self) -> Option<&Arc<Resolver>> {
        self.resolver.as_ref()
    }

    /// Operator mode's trusted operators and accounts.
    pub fn trust(&self) -> Option<&operator::Trust> {
        self.trust.as_ref()
    }

    /// The number of account `name`, if it has one.
    pub fn account_id(&self, name: &str) -> Option<u32> {
        self.accounts
            .iter()
            .position(|a| a == name)
            .map(|i| i as u32)
    }

    /// The system account's number, unless there is none.
    pub fn system_account(&self) -> Option<u32> {
        self.system
    }

    /// The name of account number `id`.
    pub fn account_name(&self, id: u32) -> &str {
        self.accounts
            .get(id as usize)
            .map_or(GLOBAL_ACCOUNT, String::as_str)
    }

    /// Clients must authenticate: they must send CONNECT first, within the auth timeout.
    pub fn required(&self) -> bool {
        self.required
    }

    /// What INFO says: nats-server clears `auth_required` when a `no_auth_user` lets
    /// clients in without credentials.
    pub fn info_auth_required(&self) -> bool {
        self.required && self.no_auth_user.is_empty()
    }

    /// INFO carries a nonce (nkeys are configured).
    pub fn wants_nonce(&self) -> bool {
        self.nonce
    }

    /// Whether verify_and_map selects users from client certificates.
    pub fn maps_certificates(&self) -> bool {
        self.tls_map && !self.users.is_empty()
    }

    fn user(&self, name: &str) -> Option<&Arc<UserEntry>> {
        self.user_index.get(name).and_then(|&i| self.users.get(i))
    }

    /// The `no_auth_user` a client that skips CONNECT is bound to (nats-server's parser
    /// allows other operations first only then), if it may connect this way.
    pub fn no_auth_user_for(&self, t: ConnType) -> Option<&Arc<UserEntry>> {
        if self.no_auth_user.is_empty() {
            return None;
        }
        self.user(&self.no_auth_user)
            .filter(|u| !u.proxy_required && u.allows(t))
    }

    /// An MQTT client when the `mqtt {}` block has its own `authorization {}` or
    /// `no_auth_user` (nats-server's `mqttConfigAuth`): the block's single user/password or
    /// token (the CONNECT password), else the block's `no_auth_user` for a client with no
    /// credentials, else the server's users as for any client.
    pub fn authenticate_mqtt(
        &self,
        opts: &mut ClientOptions,
        p: &Presented<'_>,
        block: &crate::config::mqtt::MqttOptions,
    ) -> Verdict {
        let (configured, presented) = if !block.username.is_empty() {
            if block.username != opts.user {
                return Verdict::Denied("user mismatch");
            }
            (&block.password, &opts.pass)
        } else if !block.token.is_empty() {
            (&block.token, &opts.auth_token)
        } else {
            let no_creds = opts.user.is_empty() && opts.pass.is_empty();
            if no_creds && !block.no_auth_user.is_empty() {
                return match self.user(&block.no_auth_user) {
                    Some(u) => {
                        opts.user = u.name.clone();
                        Verdict::Allowed(Some(u.clone()))
                    }
                    None => Verdict::Denied("no_auth_user not found"),
                };
            }
            return self.authenticate(opts, p);
        };
        match secret::compare(configured, presented, &self.bcrypt_cache) {
            Check::Match => Verdict::Allowed(None),
            Check::Mismatch => Verdict::Denied("credentials mismatch"),
            Check::NeedsBcrypt => Verdict::NeedsBcrypt {
                hash: configured.clone(),
                presented: presented.clone(),
                user: None,
            },
        }
    }

    /// nats-server's `processClientOrLeafAuthentication` for a client. Like nats-server it
    /// records in `opts` who the client turned out to be (the no_auth_user's name, or the
    /// user a certificate maps to), which the logs, monitoring and a later reload use.
    pub fn authenticate(&self, opts: &mut ClientOptions, p: &Presented<'_>) -> Verdict {
        if !self.required {
            return Verdict::Allowed(None);
        }
        if let Some(trust) = &self.trust {
            let verdict = trust.authenticate(&opts.jwt, &opts.sig, p);
            if let Verdict::Allowed(Some(u)) = &verdict {
                opts.nkey = u.name.clone();
            }
            return verdict;
        }
        let no_creds =
            |o: &ClientOptions| o.user.is_empty() && o.pass.is_empty() && o.auth_token.is_empty();
        let mut nkey_user = None;
        if !self.nkeys.is_empty() {
            if !self.no_auth_user.is_empty()
                && no_creds(opts)
                && opts.nkey.is_empty()
                && self.nkeys.contains_key(&self.no_auth_user)
            {
                opts.nkey = self.no_auth_user.clone();
            }
            if !opts.nkey.is_empty() {
                match self.nkeys.get(&opts.nkey) {
                    Some(u) if u.allows(p.conn_type) => nkey_user = Some(u.clone()),
                    _ => return Verdict::Denied("unknown nkey or connection type not allowed"),
                }
            }
        }
        let mut user = None;
        if !self.users.is_empty() && nkey_user.is_none() {
            if self.tls_map {
                let Some(cert) = p.cert else {
                    return Verdict::Denied("User required in cert, no peer certificates found");
                };
                let lookup = |n: &str| self.user(n).is_some_and(|u| u.allows(p.conn_type));
                let candidates = self
                    .users
                    .iter()
                    .filter(|u| u.allows(p.conn_type))
                    .map(|u| u.name.as_str());
                let Some((name, how)) = certmap::map_certificate(cert, lookup, candidates) else {
                    debug!("User in cert [{:?}], not found", cert.rdn_string());
                    return Verdict::Denied("no user matches the client certificate");
                };
                debug!("{} [{name:?}]", how.describe());
                let Some(u) = self.user(&name) else {
                    return Verdict::Denied("no user matches the client certificate");
                };
                if !opts.user.is_empty() {
                    log::warn!(
                        "User {:?} found in connect proto, but user required from cert",
                        opts.user
                    );
                }
                opts.user = u.name.clone();
                user = Some(u.clone());
            } else {
                if !self.no_auth_user.is_empty() && no_creds(opts) {
                    if let Some(u) = self.user(&self.no_auth_user) {
                        opts.user = u.name.clone();
                        opts.pass = u.password.clone();
                    }
                }
                if !opts.user.is_empty() {
                    match self.user(&opts.user) {
                        Some(u) if u.allows(p.conn_type) => user = Some(u.clone()),
                        _ => return Verdict::Denied("unknown user or connection type not allowed"),
                    }
                }
            }
        }
        if let Some(nk) = nkey_user {
            if nk.proxy_required {
                return Verdict::Denied("Proxy connection required");
            }
            if nk.name != self.no_auth_user {
                if let Err(why) =
                    crate::nkey::verify_signature(&opts.nkey, p.nonce.as_bytes(), &opts.sig)
                {
                    return Verdict::Denied(why);
                }
            }
            return Verdict::Allowed(Some(nk));
        }
        if let Some(u) = user {
            if u.proxy_required {
                return Verdict::Denied("Proxy connection required");
            }
            return match secret::compare(&u.password, &opts.pass, &self.bcrypt_cache) {
                Check::Match => Verdict::Allowed(Some(u)),
                Check::Mismatch => Verdict::Denied("password mismatch"),
                Check::NeedsBcrypt => Verdict::NeedsBcrypt {
                    hash: u.password.clone(),
                    presented: opts.pass.clone(),
                    user: Some(u),
                },
            };
        }
        if self.proxy_required {
            return Verdict::Denied("Proxy connection required");
        }
        let (configured, presented) = if !self.token.is_empty() {
            (&self.token, &opts.auth_token)
        } else if !self.username.is_empty() {
            if self.username != opts.user {
                return Verdict::Denied("user mismatch");
            }
            (&self.password, &opts.pass)
        } else {
            return Verdict::Denied("no credentials match");
        };
        match secret::compare(configured, presented, &self.bcrypt_cache) {
            Check::Match => Verdict::Allowed(None),
            Check::Mismatch => Verdict::Denied("credentials mismatch"),
            Check::NeedsBcrypt => Verdict::NeedsBcrypt {
                hash: configured.clone(),
                presented: presented.clone(),
                user: None,
            },
        }
    }

    /// nats-server's `clientHasMovedToDifferentAccount` on reload: a client that
    /// authenticated as a user or nkey whose entry is gone (or moved account) is closed.
    pub fn client_moved(&self, opts: &ClientOptions, account: &str) -> bool {
        // A user JWT names its account itself; the re-check of its claims decides.
        if !opts.jwt.is_empty() {
            return false;
        }
        let entry = if !opts.nkey.is_empty() {
            self.nkeys.get(&opts.nkey)
        } else if !opts.user.is_empty() {
            self.user(&opts.user)
        } else {
            return false;
        };
        entry.is_none_or(|u| u.account != account)
    }
}

/// The user nats-server shows for a connection (`getRawAuthUser`): the nkey, the user
/// name, or `[REDACTED]` for a token.
pub fn raw_auth_user(o: &ClientOptions) -> &str {
    if !o.nkey.is_empty() {
        &o.nkey
    } else if !o.user.is_empty() {
        &o.user
    } else if !o.auth_token.is_empty() {
        "[REDACTED]"
    } else {
        ""
    }
}

/// nats-server's `getAuthUser`, for log lines: `User "alice"`, `Nkey "U…"`,
/// `Token "[REDACTED]"`.
pub fn auth_user_text(o: &ClientOptions) -> String {
    if !o.nkey.is_empty() {
        format!("Nkey {:?}", o.nkey)
    } else if !o.user.is_empty() {
        format!("User {:?}", o.user)
    } else if !o.auth_token.is_empty() {
        "Token \"[REDACTED]\"".to_string()
    } else {
        "User \"N/A\"".to_string()
    }
}

/// nats-server's `getAuthUserLabel` (`user:alice`, `nkey:U…`, `token`), shown with the
/// account in a connection's log prefix.
pub fn auth_user_label(o: &ClientOptions) -> Option<String> {
    if !o.nkey.is_empty() {
        Some(format!("nkey:{}", o.nkey))
    } else if !o.user.is_empty() {
        Some(format!("user:{}", o.user))
    } else if !o.auth_token.is_empty() {
        Some("token".to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts_with(a: Authorization, no_auth: &str) -> Options {
        Options {
            authorization: Some(a),
            no_auth_user: no_auth.to_string(),
            ..Default::default()
        }
    }

    fn connect(json: &str) -> ClientOptions {
        let mut o = ClientOptions::default();
        o.apply_connect(json.as_bytes()).unwrap();
        o
    }

    fn plain() -> Presented<'static> {
        Presented {
            nonce: "",
            cert: None,
            conn_type: ConnType::Standard,
            peer: None,
        }
    }

    fn allowed(v: &Verdict) -> bool {
        matches!(v, Verdict::Allowed(_))
    }

    #[test]
    fn open_server() {
        let a = Auth::open();
        assert!(!a.required() && !a.info_auth_required() && !a.wants_nonce());
        assert!(allowed(&a.authenticate(&mut connect("{}"), &plain())));
    }

    #[test]
    fn single_user_and_token() {
        let b = Auth::from_options(&opts_with(
            Authorization {
                user: "derek".into(),
                password: "s3cr3t".into(),
                ..Default::default()
            },
            "",
        ))
        .unwrap();
        assert_eq!(b.warnings, vec![PLAINTEXT_WARNING.to_string()]);
        let a = b.auth;
        assert!(a.required() && a.info_auth_required());
        assert!(allowed(&a.authenticate(
            &mut connect(r#"{"user":"derek","pass":"s3cr3t"}"#),
            &plain()
        )));
        assert!(!allowed(&a.authenticate(
            &mut connect(r#"{"user":"derek","pass":"nope"}"#),
            &plain()
        )));
        assert!(!allowed(&a.authenticate(
            &mut connect(r#"{"user":"other","pass":"s3cr3t"}"#),
            &plain()
        )));
        assert!(!allowed(&a.authenticate(&mut connect("{}"), &plain())));

        let a = Auth::from_options(&opts_with(
            Authorization {
                token: "T0K3N".into(),
                ..Default::default()
            },
            "",
        ))
        .unwrap()
        .auth;
        assert!(allowed(&a.authenticate(
            &mut connect(r#"{"auth_token":"T0K3N"}"#),
            &plain()
        )));
        assert!(!allowed(&a.authenticate(
            &mut connect(r#"{"auth_token":"T0K3"}"#),
            &plain()
        )));
    }

    #[test]
    fn users_and_no_auth_user() {
        let users = vec![
            User {
                username: "alice".into(),
                password: "pa".into(),
                ..Default::default()
            },
            User {
                username: "guest".into(),
                password: "pg".into(),
                ..Default::default()
            },
        ];
        let a = Auth::from_options(&opts_with(
            Authorization {
                users: users.clone(),
                ..Default::default()
            },
            "guest",
        ))
        .unwrap()
        .auth;
        assert!(a.required() && !a.info_auth_required());
        let mut o = connect("{}");
        match a.authenticate(&mut o, &plain()) {
            Verdict::Allowed(Some(u)) => assert_eq!(u.name, "guest"),
            other => panic!("{other:?}"),
        }
        assert_eq!(o.user, "guest");
        assert!(allowed(&a.authenticate(
            &mut connect(r#"{"user":"alice","pass":"pa"}"#),
            &plain()
        )));
        // Credentials that fail do not fall back to the no_auth_user.
        assert!(!allowed(&a.authenticate(
            &mut connect(r#"{"user":"alice","pass":"x"}"#),
            &plain()
        )));
        assert!(!allowed(&a.authenticate(
            &mut connect(r#"{"user":"carol","pass":"x"}"#),
            &plain()
        )));
        assert!(a.client_moved(&connect(r#"{"user":"carol"}"#), GLOBAL_ACCOUNT));
        assert!(!a.client_moved(&connect(r#"{"user":"alice"}"#), GLOBAL_ACCOUNT));
        assert!(!a.client_moved(&connect(r#"{"auth_token":"x"}"#), GLOBAL_ACCOUNT));

        // A no_auth_user that is not a user is a start-up error.
        let err = Auth::from_options(&opts_with(
            Authorization {
                users,
                ..Default::default()
            },
            "nobody",
        ))
        .err()
        .unwrap();
        assert!(err.contains("not present as user or nkey"), "{err}");
    }

    #[test]
    fn nkeys() {
        let kp = nkeys::KeyPair::new_user();
        let a = Auth::from_options(&opts_with(
            Authorization {
                nkeys: vec![NkeyUser {
                    nkey: kp.public_key(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            "",
        ))
        .unwrap()
        .auth;
        assert!(a.wants_nonce());
        let nonce = crate::nkey::nonce().unwrap();
        let sig = data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap());
        let p = Presented {
            nonce: &nonce,
            cert: None,
            conn_type: ConnType::Standard,
            peer: None,
        };
        let json = format!(r#"{{"nkey":"{}","sig":"{sig}"}}"#, kp.public_key());
        assert!(allowed(&a.authenticate(&mut connect(&json), &p)));
        let json = format!(r#"{{"nkey":"{}"}}"#, kp.public_key());
        assert!(matches!(
            a.authenticate(&mut connect(&json), &p),
            Verdict::Denied("Signature missing")
        ));
        let other = nkeys::KeyPair::new_user().public_key();
        let json = format!(r#"{{"nkey":"{other}","sig":"{sig}"}}"#);
        assert!(!allowed(&a.authenticate(&mut connect(&json), &p)));
    }

    #[test]
    fn bcrypt_defers_then_caches() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let b = Auth::from_options(&opts_with(
            Authorization {
                users: vec![User {
                    username: "u".into(),
                    password: hash.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            "",
        ))
        .unwrap();
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        let a = b.auth;
        let mut o = connect(r#"{"user":"u","pass":"pw"}"#);
        match a.authenticate(&mut o, &plain()) {
            Verdict::NeedsBcrypt {
                hash: h, presented, ..
            } => {
                assert_eq!(h, hash);
                assert!(secret::verify_bcrypt(&h, &presented, &a.bcrypt_cache));
            }
            other => panic!("{other:?}"),
        }
        assert!(allowed(&a.authenticate(&mut o, &plain())));
    }

    #[test]
    fn default_permissions_apply_to_users_without_their_own() {
        let own = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["own".into()]),
                deny: vec![],
            }),
            ..Default::default()
        };
        let default = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["public.>".into()]),
                deny: vec![],
            }),
            ..Default::default()
        };
        let a = Auth::from_options(&opts_with(
            Authorization {
                users: vec![
                    User {
                        username: "a".into(),
                        password: "p".into(),
                        permissions: Some(own),
                        ..Default::default()
                    },
                    User {
                        username: "b".into(),
                        password: "p".into(),
                        ..Default::default()
                    },
                ],
                default_permissions: Some(default),
                ..Default::default()
            },
            "",
        ))
        .unwrap()
        .auth;
        let entries = |name: &str| {
            a.user(name)
                .and_then(|u| u.perms.as_ref())
                .and_then(|p| p.pub_allow.as_ref())
                .map(|l| l.entries())
        };
        assert_eq!(entries("a"), Some(vec!["own".to_string()]));
        assert_eq!(entries("b"), Some(vec!["public.>".to_string()]));
    }

    #[test]
    fn account_numbers_are_stable_across_reloads() {
        let acc = |name: &str, user: &str| Account {
            name: name.into(),
            users: vec![User {
                username: user.into(),
                password: "p".into(),
                account: Some(name.into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut opts = Options {
            accounts: vec![acc("A", "a"), acc("B", "b")],
            ..Default::default()
        };
        let first = Auth::from_options(&opts).unwrap().auth;
        assert!(first.required());
        // The system account comes after the configured ones.
        assert_eq!(first.accounts(), ["$G", "A", "B", "$SYS"]);
        let b = first.user("b").unwrap();
        assert_eq!((b.account.as_str(), b.account_id), ("B", 2));
        // A reload that drops A and adds C keeps B's number and gives C a new one.
        opts.accounts = vec![acc("C", "c"), acc("B", "b")];
        assert!(first.differs(&opts));
        let second = first.rebuild(&opts).unwrap().auth;
        assert_eq!(second.accounts(), ["$G", "A", "B", "$SYS", "C"]);
        assert_eq!(second.user("b").unwrap().account_id, 2);
        assert_eq!(second.user("c").unwrap().account_id, 4);
        assert!(second.user("a").is_none());
        assert_eq!(second.account_name(4), "C");
    }

    #[test]
    fn unsupported_configuration_fails_closed() {
        let a = Authorization {
            auth_callout: true,
            ..Default::default()
        };
        assert!(Auth::from_options(&opts_with(a, "")).is_err());
        let a = Authorization {
            users: vec![User {
                username: "u".into(),
                account: Some("A".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(Auth::from_options(&opts_with(a, "")).is_err());
        let a = Authorization {
            nkeys: vec![NkeyUser {
                nkey: "Unot-a-key".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(Auth::from_options(&opts_with(a, "")).is_err());
    }
}
