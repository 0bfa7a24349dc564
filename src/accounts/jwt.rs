//! NATS JWTs (nats-io/jwt v1 and v2): decoding, the ed25519 signature of the issuer, and the
//! claims operator mode reads. A token is `base64url(header).base64url(claims).base64url(sig)`
//! with header `{"typ":"JWT","alg":"ed25519-nkey"}` (v2) or `{"typ":"jwt","alg":"ed25519"}`
//! (v1); the signature, by the nkey named in `iss`, is over the first two parts (v2) or the
//! claims part alone (v1). v1 keeps the
//! claim type at the top level (`"type":"user"`), v2 inside `nats`; both keep the
//! type-specific fields (`pub`, `sub`, `signing_keys`, `issuer_account`, …) in `nats`.
//! Everything here comes from the network or a file: nothing panics on it.

use data_encoding::BASE64URL_NOPAD;
use serde_json::Value;

/// The largest token accepted (nats-server's claims are far smaller; a bound against abuse).
const MAX_TOKEN: usize = 64 * 1024;

/// The claims of a verified token.
#[derive(Debug, Clone)]
pub struct Claims {
    /// `operator`, `account` or `user`.
    pub kind: String,
    pub iss: String,
    pub sub: String,
    pub name: String,
    /// Expiry, seconds since the epoch; 0: none.
    pub exp: i64,
    /// Not before, seconds since the epoch; 0: none.
    pub nbf: i64,
    /// Issued at, seconds since the epoch (what revocations compare).
    pub iat: i64,
    /// The token's unique ID.
    pub jti: String,
    /// The type-specific part (`nats`).
    pub nats: Value,
}

impl Claims {
    /// `nats.issuer_account` (v2) or the top-level `issuer_account` (v1): the account a
    /// signing key signed for.
    pub fn issuer_account(&self) -> Option<&str> {
        self.nats
            .get("issuer_account")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `nats.signing_keys`: plain keys, or (v2 scoped keys) objects with a `key`.
    pub fn signing_keys(&self) -> Vec<String> {
        let Some(keys) = self.nats.get("signing_keys").and_then(Value::as_array) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| {
                k.as_str()
                    .or_else(|| k.get("key").and_then(Value::as_str))
                    .map(String::from)
            })
            .collect()
    }

    /// The `allow`/`deny` lists of `nats.pub` or `nats.sub`, if either is given.
    pub fn permission(&self, which: &str) -> Option<(Option<Vec<String>>, Vec<String>)> {
        permission_in(&self.nats, which)
    }

    /// Expired, or not valid yet, at `now` (seconds since the epoch).
    pub fn expired_at(&self, now: i64) -> bool {
        (self.exp > 0 && now >= self.exp) || (self.nbf > 0 && now < self.nbf)
    }
}

/// The `allow`/`deny` lists of `v.pub` or `v.sub` (a user's claims, an account's
/// `default_permissions`, a scoped key's template), if either is given.
pub fn permission_in(v: &Value, which: &str) -> Option<(Option<Vec<String>>, Vec<String>)> {
    let p = v.get(which)?;
    let list = |k: &str| -> Option<Vec<String>> {
        p.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
    };
    let allow = list("allow").filter(|a| !a.is_empty());
    let deny = list("deny").unwrap_or_default();
    if allow.is_none() && deny.is_empty() {
        return None;
    }
    Some((allow, deny))
}

/// Seconds since the epoch now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    // Some issuers pad; nats-server's decoder accepts both.
    BASE64URL_NOPAD
        .decode(part.trim_end_matches('=').as_bytes())
        .map_err(|_| "invalid base64 in token".to_string())
}

/// Decodes `token` and checks its signature by its issuer. Says why not.
pub fn decode(token: &str) -> Result<Claims, String> {
    let token = token.trim();
    if token.len() > MAX_TOKEN {
        return Err("token too large".into());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected 3 chunks".into());
    };
    let header: Value =
        serde_json::from_slice(&b64(h)?).map_err(|_| "invalid token header".to_string())?;
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case("jwt") {
        return Err(format!("not supported type {typ:?}"));
    }
    if alg != "ed25519-nkey" && alg != "ed25519" {
        return Err(format!("unexpected {alg:?} algorithm"));
    }
    let payload: Value =
        serde_json::from_slice(&b64(c)?).map_err(|_| "invalid token claims".to_string())?;
    let text = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let int = |k: &str| payload.get(k).and_then(Value::as_i64).unwrap_or(0);
    let iss = text("iss");
    let sig = b64(s)?;
    let key = nkeys::KeyPair::from_public_key(&iss).map_err(|_| "invalid issuer".to_string())?;
    // v1 (`ed25519`) signs the claims chunk alone, v2 the header and the claims.
    let (signed, failure) = if alg == "ed25519" {
        (c, "claim failed V1 signature verification")
    } else {
        (
            &token[..h.len() + 1 + c.len()],
            "claim failed V2 signature verification",
        )
    };
    key.verify(signed.as_bytes(), &sig)
        .map_err(|_| failure.to_string())?;
    let mut nats = payload.get("nats").cloned().unwrap_or(Value::Null);
    if !nats.is_object() {
        nats = Value::Object(Default::default());
    }
    let kind = nats
        .get("type")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| text("type"));
    // v1 keeps `issuer_account` at the top level.
    if let (Some(ia), Value::Object(m)) = (payload.get("issuer_account"), &mut nats) {
        m.entry("issuer_account").or_insert_with(|| ia.clone());
    }
    Ok(Claims {
        kind,
        iss,
        sub: text("sub"),
        name: text("name"),
        exp: int("exp"),
        nbf: int("nbf"),
        iat: int("iat"),
        jti: text("jti"),
        nats,
    })
}

/// The JWT in a configuration value: the token itself, or a file holding it (alone, or in
/// a `.creds`-style armour).
pub fn read_token(value: &str) -> Result<String, String> {
    if value.starts_with("eyJ") {
        return Ok(value.to_string());
    }
    let text = std::fs::read_to_string(value).map_err(|e| format!("{value}: {e}"))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("eyJ"))
        .map(String::from)
        .ok_or_else(|| format!("{value}: no JWT in the file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator and account tokens of nats.py's `resolver_preload.conf` (v1).
    const OPERATOR: &str = "eyJ0eXAiOiJqd3QiLCJhbGciOiJlZDI1NTE5In0.eyJqdGkiOiIyTVhXQ0VaRFo2S0g3NU5ZU1NaUFBTTElET1NEVzdMVVE0RVRUSjJMWEhKQlFGWTRTMkZBIiwiaWF0IjoxNTUzODQwMzM3LCJpc3MiOiJPRFdJSUU3SjdOT1M3M1dWQk5WWTdIQ1dYVTRXWFdEQlNDVjRWSUtNNVk0TFhUT1Q1U1FQT0xXTCIsIm5hbWUiOiJ0ZXN0X29wZXJhdG9yIiwic3ViIjoiT0RXSUlFN0o3Tk9TNzNXVkJOVlk3SENXWFU0V1hXREJTQ1Y0VklLTTVZNExYVE9UNVNRUE9MV0wiLCJ0eXBlIjoib3BlcmF0b3IifQ.V_v6k3aMOpyau83RaqNHW_YmZw8X0ZnJWLOas3YvQYIyXrHF0bL9inBaQw6zXzbN_ViQnNskhB7tM40qguitAg";

    #[test]
    fn v1_tokens_decode_and_verify() {
        let c = decode(OPERATOR).expect("valid");
        assert_eq!(c.kind, "operator");
        assert_eq!(c.iss, c.sub);
        assert_eq!(c.name, "test_operator");
        // A changed claim no longer verifies; a cut token is refused; no panics.
        let tampered = OPERATOR.replacen("eyJqdGki", "eyJqdGkj", 1);
        assert!(decode(&tampered).is_err());
        for n in [0, 1, 10, OPERATOR.len() / 2, OPERATOR.len() - 1] {
            assert!(decode(&OPERATOR[..n]).is_err());
        }
        assert!(decode("a.b.c.d").is_err());
        assert!(decode(&"x".repeat(MAX_TOKEN + 1)).is_err());
    }

    #[test]
    fn v2_tokens_signed_with_nkeys_decode() {
        let account = nkeys::KeyPair::new_account();
        let user = nkeys::KeyPair::new_user();
        let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let claims = serde_json::json!({
            "iss": account.public_key(), "sub": user.public_key(), "name": "u", "exp": 10,
            "nats": {"type": "user", "version": 2, "pub": {"allow": ["a.>"]}, "sub": {"deny": ["b"]}}
        });
        let body = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
        let signed = format!("{header}.{body}");
        let sig = account.sign(signed.as_bytes()).expect("sign");
        let token = format!("{signed}.{}", BASE64URL_NOPAD.encode(&sig));
        let c = decode(&token).expect("valid");
        assert_eq!(c.kind, "user");
        assert_eq!(c.sub, user.public_key());
        assert!(c.expired_at(10) && !c.expired_at(9));
        assert_eq!(
            c.permission("pub"),
            Some((Some(vec!["a.>".into()]), vec![]))
        );
        assert_eq!(c.permission("sub"), Some((None, vec!["b".into()])));
    }
}
