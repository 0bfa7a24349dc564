//! The account JWTs of operator mode and the `$SYS` requests that read and change them, as
//! nats-server's resolvers answer them (`accounts.go` `DirAccResolver`, `accountClaimUpdate`;
//! `dirstore.go`):
//!
//! - `resolver: MEMORY`: the preloaded accounts; `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE`
//!   replaces the JWT of a loaded account in memory (and skips unknown ones);
//! - `resolver { type: full, dir }`: one file per account, `<dir>/<key>.jwt`, read at start;
//!   updates (`$SYS.REQ.CLAIMS.UPDATE` and the per-account forms) add or replace files,
//!   `LOOKUP`, `LIST`, `DELETE` and `PACK` answer from the directory.
//!
//! A file is replaced with [`crate::durable::write_atomically`], so a crash leaves the old
//! JWT or the new one, never a torn one; a file that does not decode is skipped with a
//! warning, never a reason to refuse to start.
//!
//! This module decides; the reactor (`reactor::system`) subscribes, replies and, when an
//! answer says the accounts changed, rebuilds authentication from [`Resolver::snapshot`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::jwt::{self, Claims};
use crate::config::resolver::{DeleteMode, ResolverOptions};

const JWT_EXT: &str = ".jwt";

/// Where the account JWTs live.
#[derive(Debug)]
enum Store {
    Memory,
    Dir {
        dir: PathBuf,
        delete: DeleteMode,
        /// At most this many accounts (0: no limit).
        limit: i64,
    },
}

/// The account JWTs of operator mode, by account public key.
#[derive(Debug)]
pub struct Resolver {
    store: Store,
    jwts: Mutex<BTreeMap<String, String>>,
}

/// The outcome of a claims request, as nats-server's `respondToUpdate` reports it: the
/// account (empty: none named), and the message or the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsReply {
    pub account: String,
    pub outcome: Result<String, String>,
    /// Whether the stored accounts changed (authentication must be rebuilt).
    pub changed: bool,
}

impl ClaimsReply {
    fn ok(account: &str, message: &str, changed: bool) -> ClaimsReply {
        ClaimsReply {
            account: account.to_string(),
            outcome: Ok(message.to_string()),
            changed,
        }
    }

    fn err(account: &str, message: &str, why: impl std::fmt::Display) -> ClaimsReply {
        ClaimsReply {
            account: account.to_string(),
            outcome: Err(format!("{message} - {why}")),
            changed: false,
        }
    }
}

/// What a claims request is checked against: the operators' keys and the system account.
pub struct Checks<'a> {
    pub operator_keys: &'a [String],
    pub system_account: Option<&'a str>,
}

/// nats-server's `DecodeAccountClaims`: a valid token of an account.
fn decode_account(token: &str) -> Result<Claims, String> {
    let c = jwt::decode(token)?;
    if c.kind != "account" {
        return Err("not account claim".to_string());
    }
    Ok(c)
}

/// nats-server's `claimValidate`: the blocking validation errors (an expired claim).
fn validate(c: &Claims) -> Result<(), String> {
    if c.exp > 0 && jwt::now_secs() > c.exp {
        return Err("validation errors: [claim is expired]".to_string());
    }
    Ok(())
}

impl Resolver {
    /// Opens the resolver `opts` names and stores the preloaded accounts in it (where the
    /// store does not hold a newer JWT). Files that cannot be read are reported in
    /// `warnings` and skipped; a directory that cannot be made is a start-up error.
    pub fn open(
        opts: &ResolverOptions,
        preload: &[(String, String)],
        warnings: &mut Vec<String>,
    ) -> Result<Resolver, String> {
        let store = match opts {
            ResolverOptions::Memory => Store::Memory,
            ResolverOptions::Full {
                dir, delete, limit, ..
            } => {
                fs::create_dir_all(dir)
                    .map_err(|e| format!("resolver dir {}: {e}", dir.display()))?;
                Store::Dir {
                    dir: dir.clone(),
                    delete: *delete,
                    limit: *limit,
                }
            }
        };
        let mut jwts = BTreeMap::new();
        if let Store::Dir { dir, .. } = &store {
            read_dir(dir, &mut jwts, warnings)?;
        }
        let r = Resolver {
            store,
            jwts: Mutex::new(jwts),
        };
        for (key, token) in preload {
            if let Err(e) = r.save_if_newer(key, token) {
                warnings.push(format!("resolver_preload {key}: {e}"));
            }
        }
        Ok(r)
    }

    /// Whether this is the nats-based (directory) resolver.
    pub fn is_full(&self) -> bool {
        matches!(self.store, Store::Dir { .. })
    }

    fn jwts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.jwts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every stored account: (public key, JWT).
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.jwts()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The stored JWT of `key`.
    pub fn lookup(&self, key: &str) -> Option<String> {
        self.jwts().get(key).cloned()
    }

    /// The stored accounts' keys (`$SYS.REQ.CLAIMS.LIST`).
    pub fn list(&self) -> Vec<String> {
        self.jwts().keys().cloned().collect()
    }

    /// nats-server's store hash: the XOR of the SHA-256 of every stored JWT.
    pub fn hash(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for token in self.jwts().values() {
            let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            for (o, b) in out.iter_mut().zip(d.as_ref()) {
                *o ^= b;
            }
        }
        out
    }

    /// The answer to a `$SYS.REQ.CLAIMS.PACK` with the asker's hash: nothing when the
    /// stores agree, else one `key|jwt` line per message.
    pub fn pack(&self, their_hash: &[u8]) -> Vec<String> {
        if their_hash == self.hash() {
            return Vec::new();
        }
        self.jwts()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}|{v}"))
            .collect()
    }

    /// Stores `token` as account `key`'s JWT, unless the stored one is the same token or
    /// was issued later (nats-server's `saveIfNewer`, used for preloads).
    fn save_if_newer(&self, key: &str, token: &str) -> Result<bool, String> {
        let new = jwt::decode(token)?;
        if let Some(existing) = self.lookup(key).and_then(|t| jwt::decode(&t).ok()) {
            if existing.jti == new.jti || existing.iat > new.iat {
                return Ok(false);
            }
            if new.sub != key {
                return Err("jwt subject nkey and provided nkey do not match".to_string());
            }
        }
        self.save(key, token)
    }

    /// Stores `token` as account `key`'s JWT; false when it was already stored.
    fn save(&self, key: &str, token: &str) -> Result<bool, String> {
        if token.is_empty() {
            return Err("invalid JWT".to_string());
        }
        if !crate::nkey::is_account_public_key(key) {
            return Err("invalid public key".to_string());
        }
        let mut jwts = self.jwts();
        if jwts.get(key).is_some_and(|t| t == token) {
            return Ok(false);
        }
        if let Store::Dir { dir, limit, .. } = &self.store {
            if *limit > 0 && !jwts.contains_key(key) && jwts.len() as i64 >= *limit {
                return Err("jwt store is full".to_string());
            }
            crate::durable::write_atomically(
                &dir.join(format!("{key}{JWT_EXT}")),
                token.as_bytes(),
            )?;
        }
        jwts.insert(key.to_string(), token.to_string());
        Ok(true)
    }

    /// Removes account `key`'s JWT as the delete mode says.
    fn delete(&self, key: &str) -> Result<(), String> {
        let Store::Dir { dir, delete, .. } = &self.store else {
            return Err("store is not set up to for delete".to_string());
        };
        let path = dir.join(format!("{key}{JWT_EXT}"));
        let done = match delete {
            DeleteMode::Refuse => return Err("store is not set up to for delete".to_string()),
            DeleteMode::Rename => fs::rename(&path, dir.join(format!("{key}{JWT_EXT}.deleted"))),
            DeleteMode::Remove => fs::remove_file(&path),
        };
        match done {
            // Best effort: the answer reports the deletion either way.
            Ok(()) => {
                let _ = crate::durable::sync_dir(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.to_string()),
        }
        self.jwts().remove(key);
        Ok(())
    }

    /// An account JWT pushed on `subject`: `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE` (or the
    /// old `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`), or `$SYS.REQ.CLAIMS.UPDATE` (no key).
    pub fn update(&self, subject_key: Option<&str>, body: &[u8], checks: &Checks) -> ClaimsReply {
        let token = String::from_utf8_lossy(body);
        let token = token.trim();
        if !self.is_full() {
            return self.update_memory(subject_key.unwrap_or_default(), token, checks);
        }
        let claims = match decode_account(token) {
            Ok(c) => c,
            Err(e) => return ClaimsReply::err("n/a", "jwt update resulted in error", e),
        };
        let key = claims.sub.as_str();
        if let Err(e) = validate(&claims) {
            return ClaimsReply::err(key, "jwt validation failed", e);
        }
        if let Some(want) = subject_key.filter(|k| *k != key) {
            return ClaimsReply::err(
                want,
                "jwt update resulted in error",
                "subject does not match jwt content",
            );
        }
        // nats-server stores a JWT of an untrusted issuer and fails later, when it loads
        // it; natrium refuses it here, so the directory only ever holds usable accounts.
        if !checks.operator_keys.contains(&claims.iss) {
            return ClaimsReply::err(key, "jwt update resulted in error", "not trusted");
        }
        match self.save(key, token) {
            Ok(changed) => ClaimsReply::ok(key, "jwt updated", changed),
            Err(e) => ClaimsReply::err(key, "jwt update resulted in error", e),
        }
    }

    /// The memory resolver's update (nats-server's `accountClaimUpdate`).
    fn update_memory(&self, key: &str, token: &str, checks: &Checks) -> ClaimsReply {
        if token.is_empty() {
            return ClaimsReply::err(key, "jwt update error", "request body is empty");
        }
        let claims = match decode_account(token) {
            Ok(c) => c,
            Err(e) => return ClaimsReply::err(key, "jwt update resulted in error", e),
        };
        if claims.sub != key {
            return ClaimsReply::err(
                key,
                "jwt update resulted in error",
                "subject does not match jwt content",
            );
        }
        if self.lookup(key).is_none() {
            return ClaimsReply::ok(key, "jwt update skipped", false);
        }
        if !checks.operator_keys.contains(&claims.iss) {
            return ClaimsReply::err(key, "jwt update resulted in error", "not trusted");
        }
        if let Err(e) = validate(&claims) {
            return ClaimsReply::err(key, "jwt update resulted in error", e);
        }
        match self.save(key, token) {
            Ok(changed) => ClaimsReply::ok(key, "jwt updated", changed),
            Err(e) => ClaimsReply::err(key, "jwt update resulted in error", e),
        }
    }

    /// `$SYS.REQ.CLAIMS.DELETE`: a generic JWT self-signed by an operator key, listing the
    /// accounts to delete in `nats.accounts` (nats-server's `handleDeleteRequest`).
    pub fn delete_request(&self, body: &[u8], checks: &Checks) -> ClaimsReply {
        let token = String::from_utf8_lossy(body);
        let mut subject = String::new();
        let accounts: Result<Vec<String>, String> = (|| {
            let c = jwt::decode(token.trim())?;
            subject = c.sub.clone();
            let deletes = matches!(
                self.store,
                Store::Dir {
                    delete: DeleteMode::Rename | DeleteMode::Remove,
                    ..
                }
            );
            if !deletes {
                return Err("delete must be enabled in server config".to_string());
            }
            if c.sub != c.iss {
                return Err("not self signed".to_string());
            }
            if !checks.operator_keys.contains(&c.iss) {
                return Err("not trusted".to_string());
            }
            let list = c
                .nats
                .get("accounts")
                .and_then(|a| a.as_array())
                .ok_or("malformed request")?;
            let mut keys = Vec::with_capacity(list.len());
            for entry in list {
                let key = entry
                    .as_str()
                    .filter(|k| crate::nkey::is_account_public_key(k))
                    .ok_or("malformed request")?;
                if checks.system_account == Some(key) {
                    return Err("not allowed to delete system account".to_string());
                }
                keys.push(key.to_string());
            }
            Ok(keys)
        })();
        let accounts = match accounts {
            Ok(a) => a,
            Err(e) => {
                return ClaimsReply::err(
                    "",
                    &format!("delete accounts request by {subject} failed"),
                    e,
                )
            }
        };
        let mut errors = Vec::new();
        for key in &accounts {
            if let Err(e) = self.delete(key) {
                errors.push(e);
            }
        }
        let passed = accounts.len() - errors.len();
        let mut reply = if errors.is_empty() {
            ClaimsReply::ok("", &format!("deleted {passed} accounts"), false)
        } else {
            ClaimsReply::err(
                "",
                &format!("deleted {passed} accounts, failed for {}", errors.len()),
                errors.join("\n"),
            )
        };
        reply.changed = passed > 0;
        reply
    }
}

/// Reads every `<key>.jwt` of `dir` into `jwts`.
fn read_dir(
    dir: &Path,
    jwts: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("resolver dir {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(key) = name.to_str().and_then(|n| n.strip_suffix(JWT_EXT)) else {
            continue;
        };
        if !crate::nkey::is_account_public_key(key) {
            continue;
        }
        let path = entry.path();
        match fs::read_to_string(&path) {
            Ok(token) if jwt::decode(token.trim()).is_ok_and(|c| c.sub == key) => {
                jwts.insert(key.to_string(), token.trim().to_string());
            }
            Ok(_) => warnings.push(format!(
                "resolver: skipping {}: not a valid JWT of account {key}",
                path.display()
            )),
            Err(e) => warnings.push(format!("resolver: skipping {}: {e}", path.display())),
        }
    }
    Ok(())
}
