//! The typed authorization options: nats-server's `authorization {}` block, its users and
//! permissions, as the command line and the configuration file fill them in. These are plain
//! data; [`super::Auth`] compiles them into what connections are checked against.
//!
//! Shapes follow nats-server's `User`, `NkeyUser`, `Permissions`, `SubjectPermission` and
//! `ResponsePermission` (auth.go), including the difference between an absent allow list
//! (`None`: everything not denied) and an empty one (`Some(vec![])`: nothing).

use std::time::Duration;

/// nats-server's defaults for `allow_responses: true` (`const.go`).
pub const DEFAULT_ALLOW_RESPONSE_MAX_MSGS: i64 = 1;
pub const DEFAULT_ALLOW_RESPONSE_EXPIRATION: Duration = Duration::from_secs(2 * 60);

/// The account of clients not bound to a configured one: nats-server's global account.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// An account of the `accounts {}` block: its own subject space, and the users bound to it
/// (each with `account` set to its name). nats-server's `Account` as `parseAccounts` fills
/// it from a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub name: String,
    pub users: Vec<User>,
    pub nkeys: Vec<NkeyUser>,
    /// The account's `jetstream` key enables JetStream for it.
    pub jetstream: bool,
    pub jetstream_limits: crate::config::jetstream::AccountLimits,
    pub exports: Vec<crate::accounts::Export>,
    pub imports: Vec<crate::accounts::Import>,
    pub mappings: Vec<crate::accounts::Mapping>,
}

/// `publish` or `subscribe` permissions: subjects allowed and denied. Subscribe entries may
/// take the queue form `"subject queue"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectPermission {
    /// `None`: no allow list (everything not denied is allowed).
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
}

/// `allow_responses`: a temporary right to publish to the reply subject of each request
/// received, `max_msgs` times within `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePermission {
    /// 0 = the default (1); negative = unlimited.
    pub max_msgs: i64,
    /// `Some(ZERO)` = the default (2 minutes); `None` = never expires (a negative
    /// duration in the file).
    pub expires: Option<Duration>,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
            expires: Some(DEFAULT_ALLOW_RESPONSE_EXPIRATION),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    pub response: Option<ResponsePermission>,
}

/// A user/password user (the password may be a bcrypt hash, or empty for a user that only
/// a client certificate selects).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub username: String,
    pub password: String,
    pub permissions: Option<Permissions>,
    /// `STANDARD`, `WEBSOCKET`, …; empty = any.
    pub allowed_connection_types: Vec<String>,
    pub proxy_required: bool,
    /// The account the user is bound to; `None` = the global account `$G`.
    pub account: Option<String>,
}

/// An nkey user: the public user key (`U…`, 56 characters).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NkeyUser {
    pub nkey: String,
    pub permissions: Option<Permissions>,
    pub allowed_connection_types: Vec<String>,
    pub proxy_required: bool,
    pub account: Option<String>,
}

/// The `authorization {}` block, plus what `--user`, `--pass` and `--auth` set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    /// Single user (`user`/`password`, `--user`/`--pass`).
    pub user: String,
    pub password: String,
    /// `token`, `--auth`.
    pub token: String,
    /// The auth timeout (`timeout` in the block).
    pub timeout: Option<Duration>,
    pub users: Vec<User>,
    pub nkeys: Vec<NkeyUser>,
    /// Applied to users without permissions of their own.
    pub default_permissions: Option<Permissions>,
    /// `auth_callout` needs accounts: refused at start-up, kept so it is never ignored.
    pub auth_callout: bool,
    pub proxy_required: bool,
}

impl Authorization {
    /// Whether the block asks for any authentication or authorization at all.
    pub fn is_configured(&self) -> bool {
        !self.user.is_empty()
            || !self.password.is_empty()
            || !self.token.is_empty()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
            || self.default_permissions.is_some()
            || self.auth_callout
            || self.proxy_required
    }

    /// Gives users without permissions of their own the default ones (nats-server's
    /// `applyDefaultPermissions`, done when the block is read).
    pub fn apply_default_permissions(&mut self) {
        let Some(p) = &self.default_permissions else {
            return;
        };
        for u in &mut self.users {
            if u.permissions.is_none() {
                u.permissions = Some(p.clone());
            }
        }
        for n in &mut self.nkeys {
            if n.permissions.is_none() {
                n.permissions = Some(p.clone());
            }
        }
    }
}
