//! Operator (JWT) mode: trusted operators (`operator`), the account JWTs they signed (as
//! the resolver holds them, [`crate::accounts::resolver`]), and a client's
//! user JWT checked at CONNECT — signed by its account (or one of the account's signing
//! keys, naming the account in `issuer_account`), not expired, and the server's nonce
//! signed with the user's key (`sig`), not revoked, a bearer token only where the account
//! allows them, of an allowed connection type and from an allowed source network — as
//! nats-server's `processClientOrLeafAuthentication` checks them. The user's permissions come
//! from its JWT (`pub`/`sub`).

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use serde_json::Value;

use super::scoped;
use super::{Permissions, Presented, ResponsePermission, SubjectPermission, UserEntry, Verdict};
use crate::accounts::jwt::{self, Claims};
use crate::accounts::jwt_shares::{self, JwtShares};

/// An account of operator mode: its public key (its name) and who may sign its users.
#[derive(Debug, Clone)]
pub struct JwtAccount {
    pub id: u32,
    /// The account key and its signing keys.
    signers: Vec<String>,
    /// Its `limits.subs`, `limits.payload` and `limits.conn` (unlimited where the JWT gives
    /// none).
    limits: JwtLimits,
    /// `revocations`: user key (or `*`) → users issued at or before it are revoked.
    revocations: FxHashMap<String, i64>,
    /// The account JWT's expiry (0: none).
    expires: i64,
    /// `limits.disallow_bearer`: bearer-token user JWTs are refused.
    disallow_bearer: bool,
    /// The account JWT's `name` and `tags` (what scoped-key templates fill in).
    name: String,
    tags: Vec<String>,
    /// Scoped signing keys: key → the user template it imposes.
    scopes: FxHashMap<String, Value>,
    /// `default_permissions`: what a user JWT without permissions gets.
    default_permissions: Option<Permissions>,
    /// Its exports, imports and mappings.
    pub shares: JwtShares,
}

impl JwtAccount {
    fn from_claims(id: u32, acc: &Claims, shares: JwtShares) -> JwtAccount {
        let mut signers = vec![acc.sub.clone()];
        signers.extend(acc.signing_keys());
        let scopes = acc
            .nats
            .get("signing_keys")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(|k| k.get("kind").and_then(Value::as_str) == Some("user_scope"))
            .filter_map(|k| {
                let key = k.get("key")?.as_str()?;
                Some((
                    key.to_string(),
                    k.get("template").cloned().unwrap_or_default(),
                ))
            })
            .collect();
        let revocations = acc
            .nats
            .get("revocations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let limits = acc.nats.get("limits");
        JwtAccount {
            id,
            signers,
            // As the jwt library decodes them: absent limits are none in v1, zero in v2.
            limits: limits_in(limits, if is_v2(acc) { 0 } else { -1 }),
            revocations,
            expires: acc.exp,
            disallow_bearer: limits
                .and_then(|l| l.get("disallow_bearer"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            name: acc.name.clone(),
            tags: tags_of(&acc.nats),
            scopes,
            default_permissions: acc.nats.get("default_permissions").and_then(permissions_in),
            shares,
        }
    }

    /// nats-server's `isRevoked`: a user JWT of `user` issued at `issued_at` is revoked.
    fn revoked(&self, user: &str, issued_at: i64) -> bool {
        [user, "*"]
            .iter()
            .any(|k| self.revocations.get(*k).is_some_and(|t| *t >= issued_at))
    }
}

/// Why a user JWT is refused when its account revoked it (also the `-ERR` a connected
/// client gets when an account update revokes it).
pub const USER_REVOKED: &str = "User Authentication Revoked";
/// Why a user JWT is refused when its account is gone or expired (the `-ERR` a connected
/// client gets then).
pub const ACCOUNT_EXPIRED: &str = "Account Authentication Expired";

/// Subscriptions and payload a connection may have, and connections its account may have,
/// nats's way: -1 is no limit, 0 none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtLimits {
    pub subs: i64,
    pub payload: i64,
    /// The account's `limits.conn`.
    pub account_conns: i64,
}

/// nats-server's `minLimit`: `limit` applies unless it is -1, if tighter than `value`.
pub fn min_limit(value: i64, limit: i64) -> i64 {
    if limit != -1 && (value == -1 || value > limit) {
        limit
    } else {
        value
    }
}

/// `subs` and `payload` of a limits object; `missing` for absent ones (v1 tokens read
/// absent limits as none, v2 as zero, as the jwt library decodes them).
fn limits_in(v: Option<&serde_json::Value>, missing: i64) -> JwtLimits {
    let get = |k: &str| {
        v.and_then(|l| l.get(k))
            .and_then(|n| n.as_i64())
            .unwrap_or(missing)
    };
    JwtLimits {
        subs: get("subs"),
        payload: get("payload"),
        account_conns: get("conn"),
    }
}

/// nats-server's `convertAllowedConnectionTypes` of a user JWT: the known types of
/// `allowed_connection_types`, and whether it named any.
fn allowed_types(c: &Claims) -> (Vec<String>, bool) {
    let Some(list) = c
        .nats
        .get("allowed_connection_types")
        .and_then(|l| l.as_array())
        .filter(|l| !l.is_empty())
    else {
        return (Vec::new(), false);
    };
    let known = list
        .iter()
        .filter_map(|t| t.as_str())
        .map(str::to_ascii_uppercase)
        .filter(|t| super::CONNECTION_TYPES.contains(&t.as_str()))
        .collect();
    (known, true)
}

/// nats-server's `validateSrc`: the client's address is in one of the JWT's `src`
/// networks (a list, or one comma-separated string), or it names none. A network that
/// does not parse refuses the user.
fn source_allowed(c: &Claims, peer: Option<IpAddr>) -> bool {
    let networks: Vec<String> = match c.nats.get("src") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|n| n.as_str())
            .map(|n| n.trim().to_string())
            .collect(),
        Some(serde_json::Value::String(s)) => s
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    if networks.is_empty() {
        return true;
    }
    let Some(peer) = peer else {
        return false;
    };
    for net in &networks {
        match network_contains(net, peer.to_canonical()) {
            Some(true) => return true,
            Some(false) => {}
            None => return false,
        }
    }
    false
}

/// Whether CIDR network `net` (`a.b.c.d/n`, `x::/n`) holds `ip`; `None` if it does not parse.
fn network_contains(net: &str, ip: IpAddr) -> Option<bool> {
    let (addr, bits) = net.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let (net_bits, ip_bits, width) = match (addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        (IpAddr::V4(_), _) if bits <= 32 => return Some(false),
        (IpAddr::V6(_), _) if bits <= 128 => return Some(false),
        _ => return None,
    };
    if bits > width {
        return None;
    }
    let mask = if bits == 0 {
        0
    } else {
        (u128::MAX << (width - bits)) & (u128::MAX >> (128 - width))
    };
    Some(net_bits & mask == ip_bits & mask)
}

/// Whether a token is a v2 one (`nats.version` 2).
fn is_v2(c: &Claims) -> bool {
    c.nats.get("version").and_then(|v| v.as_i64()).unwrap_or(1) >= 2
}

/// The trusted operators and their accounts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    accounts: FxHashMap<String, JwtAccount>,
    /// The system account an operator names (`system_account` in its claims).
    pub system_account: Option<String>,
    /// The operators' keys and signing keys: who may sign an account.
    pub operator_keys: Vec<String>,
}

impl Trust {
    /// Reads the operators, checks the preloaded accounts (errors are start-up errors) and
    /// takes the accounts the resolver holds (`stored`; one that is not a usable account of
    /// a trusted operator is skipped with a warning). `number` gives each account (by its
    /// public key) its number.
    pub fn build(
        operators: &[String],
        preload: &[(String, String)],
        stored: &[(String, String)],
        warnings: &mut Vec<String>,
        mut number: impl FnMut(&str) -> u32,
    ) -> Result<Trust, String> {
        let mut trust = Trust::default();
        for token in operators {
            let op = jwt::decode(token).map_err(|e| format!("operator JWT: {e}"))?;
            if op.kind != "operator" {
                return Err(format!("operator JWT: not an operator but {:?}", op.kind));
            }
            if let Some(sys) = op.nats.get("system_account").and_then(|v| v.as_str()) {
                trust.system_account.get_or_insert_with(|| sys.to_string());
            }
            trust.operator_keys.push(op.sub.clone());
            trust.operator_keys.extend(op.signing_keys());
        }
        for (key, token) in preload {
            trust
                .account_claims(key, token)
                .map_err(|e| format!("resolver_preload {key}: {e}"))?;
        }
        let mut valid = Vec::with_capacity(stored.len());
        for (key, token) in stored {
            match trust.account_claims(key, token) {
                Ok(acc) => valid.push(acc),
                Err(e) => warnings.push(format!("account {key}: {e}; not loaded")),
            }
        }
        let signers_of = |key: &str| {
            valid.iter().find(|a| a.sub == key).map(|a| {
                let mut keys = vec![a.sub.clone()];
                keys.extend(a.signing_keys());
                keys
            })
        };
        for acc in &valid {
            match jwt_shares::read(acc, signers_of) {
                Ok(shares) => {
                    let account = JwtAccount::from_claims(number(&acc.sub), acc, shares);
                    trust.accounts.insert(acc.sub.clone(), account);
                }
                Err(e) => warnings.push(format!("account {}: {e}; not loaded", acc.sub)),
            }
        }
        Ok(trust)
    }

    /// Every account's exports, imports and mappings, by account key.
    pub fn shares(&self) -> impl Iterator<Item = (&str, &JwtShares)> {
        self.accounts.iter().map(|(k, a)| (k.as_str(), &a.shares))
    }

    /// The claims of `token` if it is account `key`'s JWT, signed by a trusted operator.
    fn account_claims(&self, key: &str, token: &str) -> Result<Claims, String> {
        let acc = jwt::decode(token)?;
        if acc.kind != "account" || acc.sub != *key {
            return Err(format!("not the account JWT of {key}"));
        }
        if !self.operator_keys.contains(&acc.iss) {
            return Err(format!("issuer {} is not a trusted operator", acc.iss));
        }
        Ok(acc)
    }

    /// Checks a client's user JWT and nonce signature (`p` says how and from where it
    /// connects).
    pub fn authenticate(&self, user_jwt: &str, sig: &str, p: &Presented<'_>) -> Verdict {
        let nonce = p.nonce.as_bytes();
        if user_jwt.is_empty() {
            return Verdict::Denied("no user JWT presented in operator mode");
        }
        let Ok(claims) = jwt::decode(user_jwt) else {
            return Verdict::Denied("user JWT not valid");
        };
        if claims.kind != "user" {
            return Verdict::Denied("JWT is not a user JWT");
        }
        if claims.expired_at(jwt::now_secs()) {
            return Verdict::Denied("User authentication expired");
        }
        let account_key = claims.issuer_account().unwrap_or(&claims.iss).to_string();
        let Some(account) = self.accounts.get(&account_key) else {
            return Verdict::Denied(ACCOUNT_EXPIRED);
        };
        if account.expires > 0 && jwt::now_secs() >= account.expires {
            return Verdict::Denied(ACCOUNT_EXPIRED);
        }
        if !account.signers.contains(&claims.iss) {
            return Verdict::Denied("user JWT issuer is not the account or its signing key");
        }
        let mut claims = claims;
        if let Some(template) = account.scopes.get(&claims.iss) {
            if !scoped::has_no_permissions(&claims.nats) {
                return Verdict::Denied("scoped users require no permissions or limits set");
            }
            let user_tags = tags_of(&claims.nats);
            let subjects = scoped::Subjects {
                user_name: &claims.name,
                user_key: &claims.sub,
                user_tags: &user_tags,
                account_name: &account.name,
                account_key: &account_key,
                account_tags: &account.tags,
            };
            match scoped::apply(&claims.nats, template, &subjects) {
                Ok(nats) => claims.nats = nats,
                Err(_) => return Verdict::Denied("User JWT generated invalid permissions"),
            }
        }
        // A bearer token needs no signature of the nonce.
        let bearer = claims
            .nats
            .get("bearer_token")
            .and_then(|b| b.as_bool())
            .unwrap_or(false);
        if bearer && account.disallow_bearer {
            return Verdict::Denied("Account does not allow bearer tokens");
        }
        // Types this server does not know are left out; a list of only such types allows
        // nothing rather than everything.
        let (types, named) = allowed_types(&claims);
        if named && (types.is_empty() || !types.iter().any(|t| t == p.conn_type.name())) {
            return Verdict::Denied("Connection type not allowed");
        }
        if !bearer {
            if let Err(why) = crate::nkey::verify_signature(&claims.sub, nonce, sig) {
                return Verdict::Denied(why);
            }
        }
        if account.revoked(&claims.sub, claims.iat) {
            return Verdict::Denied(USER_REVOKED);
        }
        if !source_allowed(&claims, p.peer) {
            return Verdict::Denied("Bad src Ip");
        }
        let Some(valid_until) = connect_window(&claims.nats, jwt::now_secs()) else {
            return Verdict::Denied("Outside connect times");
        };
        let permissions =
            permissions_in(&claims.nats).or_else(|| account.default_permissions.clone());
        let perms = match super::compile_perms("user JWT", permissions.as_ref(), &mut Vec::new()) {
            Ok(p) => p,
            Err(_) => return Verdict::Denied("user JWT permissions not valid"),
        };
        Verdict::Allowed(Some(Arc::new(UserEntry {
            name: claims.sub.clone(),
            is_nkey: true,
            password: String::new(),
            account: account_key,
            account_id: account.id,
            perms,
            permissions,
            expires: match (claims.exp, valid_until) {
                (0, until) | (until, 0) => until,
                (exp, until) => exp.min(until),
            },
            jwt_limits: Some({
                // A user's limits sit directly in `nats`.
                let missing = if is_v2(&claims) { 0 } else { -1 };
                let user = limits_in(Some(&claims.nats), missing);
                JwtLimits {
                    subs: min_limit(user.subs, account.limits.subs),
                    payload: min_limit(user.payload, account.limits.payload),
                    account_conns: account.limits.account_conns,
                }
            }),
            allowed_types: types,
            proxy_required: false,
        })))
    }
}

/// `tags` of a JWT's `nats`.
fn tags_of(nats: &Value) -> Vec<String> {
    nats.get("tags")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// nats-server's `buildPermissionsFromJwt`: `pub`, `sub` and `resp` (of a user JWT, or an
/// account's `default_permissions`) as configuration permissions.
fn permissions_in(v: &Value) -> Option<Permissions> {
    let subject = |which: &str| {
        jwt::permission_in(v, which).map(|(allow, deny)| SubjectPermission { allow, deny })
    };
    let (mut publish, subscribe) = (subject("pub"), subject("sub"));
    let response = v.get("resp").filter(|r| r.is_object()).map(|r| {
        let max = r.get("max").and_then(Value::as_i64).unwrap_or(0);
        let ttl = r.get("ttl").and_then(Value::as_i64).unwrap_or(0);
        ResponsePermission {
            max_msgs: if max == 0 { 1 } else { max },
            expires: match ttl {
                t if t < 0 => None,
                t => Some(std::time::Duration::from_nanos(t as u64)),
            },
        }
    });
    if response.is_some() {
        // As nats-server's validateResponsePermissions: publishing is then allowed only
        // where `pub` allows it.
        let p = publish.get_or_insert_with(SubjectPermission::default);
        p.allow.get_or_insert_with(Vec::new);
    }
    if publish.is_none() && subscribe.is_none() && response.is_none() {
        return None;
    }
    Some(Permissions {
        publish,
        subscribe,
        response,
    })
}

/// nats-server's `validateTimes`: with `times` windows (`HH:MM:SS` in local time, or UTC
/// with `times_location` "UTC"), the unix second the current window ends (None: outside
/// every window); 0 without windows.
fn connect_window(nats: &Value, now: i64) -> Option<i64> {
    use chrono::{Local, NaiveTime, TimeZone, Utc};
    let Some(windows) = nats
        .get("times")
        .and_then(Value::as_array)
        .filter(|w| !w.is_empty())
    else {
        return Some(0);
    };
    let location = nats
        .get("times_location")
        .and_then(Value::as_str)
        .unwrap_or("");
    let since_midnight = match location {
        "" | "Local" => Local.timestamp_opt(now, 0).single()?.time(),
        "UTC" | "Etc/UTC" => Utc.timestamp_opt(now, 0).single()?.time(),
        // No time zone database here: another named location is not honoured.
        _ => return None,
    };
    let day_second = |t: NaiveTime| {
        use chrono::Timelike;
        t.num_seconds_from_midnight() as i64
    };
    let current = day_second(since_midnight);
    let mut best: Option<i64> = None;
    for w in windows {
        let parse = |k: &str| {
            w.get(k)
                .and_then(Value::as_str)
                .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M:%S").ok())
                .map(day_second)
        };
        let (Some(start), Some(end)) = (parse("start"), parse("end")) else {
            return None;
        };
        // As validateTimeRangeAt: strictly inside, and a range may cross midnight.
        let left = if (start < current || start > end) && current < end {
            Some(end - current)
        } else if start > end && start < current {
            Some(end + 86_400 - current)
        } else {
            None
        };
        if let Some(left) = left {
            best = Some(best.map_or(left, |b| b.max(left)));
        }
    }
    best.map(|left| now + left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-01-01 12:00:00 UTC.
    const NOON: i64 = 1_767_268_800;

    fn window(start: &str, end: &str) -> Value {
        json!({"times": [{"start": start, "end": end}], "times_location": "UTC"})
    }

    #[test]
    fn connect_windows_as_nats_server_reads_them() {
        assert_eq!(connect_window(&json!({}), NOON), Some(0), "no windows");
        assert_eq!(
            connect_window(&window("11:00:00", "13:00:00"), NOON),
            Some(NOON + 3600)
        );
        assert_eq!(connect_window(&window("13:00:00", "14:00:00"), NOON), None);
        // Crossing midnight, before it and after it.
        assert_eq!(
            connect_window(&window("11:00:00", "01:00:00"), NOON),
            Some(NOON + 13 * 3600)
        );
        assert_eq!(
            connect_window(&window("22:00:00", "13:00:00"), NOON),
            Some(NOON + 3600)
        );
        assert_eq!(connect_window(&window("22:00:00", "06:00:00"), NOON), None);
        // The window that lasts longest wins.
        let two = json!({"times": [{"start": "11:00:00", "end": "12:30:00"},
                                   {"start": "10:00:00", "end": "15:00:00"}],
                         "times_location": "UTC"});
        assert_eq!(connect_window(&two, NOON), Some(NOON + 3 * 3600));
        let named = json!({"times": [{"start": "00:00:00", "end": "23:59:59"}],
                           "times_location": "Europe/Berlin"});
        assert_eq!(connect_window(&named, NOON), None, "no zone database");
        assert_eq!(connect_window(&window("25:00:00", "13:00:00"), NOON), None);
    }

    #[test]
    fn jwt_response_permissions_limit_publishing() {
        let p = permissions_in(&json!({"resp": {"max": 0, "ttl": -1}})).expect("some");
        let r = p.response.expect("resp");
        assert_eq!((r.max_msgs, r.expires), (1, None));
        assert_eq!(p.publish.and_then(|p| p.allow), Some(Vec::new()));
        assert!(permissions_in(&json!({"pub": {}, "sub": {}})).is_none());
    }
}
