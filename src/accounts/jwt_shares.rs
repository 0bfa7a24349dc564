//! What an account JWT shares, read into the shapes [`super::Sharing`] compiles: its
//! `exports`, its `imports` (the activation token of an import from a `token_req` export
//! checked here, where the exporter's signing keys are known) and its `mappings`, as
//! nats-server's `updateAccountClaimsWithRefresh` reads them. What the jwt library's
//! validation calls an error makes the whole account JWT unusable, as nats-server's
//! `verifyAccountClaims` refuses it.

use std::time::Duration;

use serde_json::Value;

use super::jwt::{self, Claims};
use super::{Export, Import, MapDest, Mapping, ResponseType};
use crate::subject::{is_literal, is_subset_match, is_valid_subject};

/// The sharing configuration of one account JWT.
#[derive(Debug, Clone, Default)]
pub struct JwtShares {
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
    pub mappings: Vec<Mapping>,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A jwt `RevocationList`: key (or `*`) → issued-at bound.
fn revocations(v: &Value) -> Vec<(String, i64)> {
    v.get("revocations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, t)| Some((k.clone(), t.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the account's sharing; `signers_of` gives another account's key and signing keys
/// (None: this server does not have that account). Errors are the jwt library's.
pub fn read(
    account: &Claims,
    signers_of: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<JwtShares, String> {
    let mut shares = JwtShares::default();
    for e in list(&account.nats, "exports") {
        shares.exports.push(export(e)?);
    }
    for i in list(&account.nats, "imports") {
        shares.imports.push(import(&account.sub, i, &signers_of)?);
    }
    if let Some(m) = account.nats.get("mappings").and_then(Value::as_object) {
        for (source, dests) in m {
            let dests = dests
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|d| MapDest {
                    subject: text(d, "subject").to_string(),
                    // The jwt library reads an absent (zero) weight as 100.
                    weight: match d.get("weight").and_then(Value::as_u64).unwrap_or(0) {
                        0 => 100,
                        w => w.min(u8::MAX as u64) as u8,
                    },
                    cluster: text(d, "cluster").to_string(),
                })
                .collect();
            shares.mappings.push(Mapping {
                subject: source.clone(),
                dests,
            });
        }
    }
    Ok(shares)
}

fn export(e: &Value) -> Result<Export, String> {
    let subject = text(e, "subject").to_string();
    let service = match text(e, "type") {
        "service" => true,
        "stream" => false,
        other => return Err(format!("invalid export type: {other:?}")),
    };
    if !is_valid_subject(subject.as_bytes()) {
        return Err(format!("export subject {subject:?} is not valid"));
    }
    let response = match (service, text(e, "response_type")) {
        (true, "" | "Singleton") => ResponseType::Singleton,
        (true, "Stream") => ResponseType::Stream,
        (true, "Chunked") => ResponseType::Chunked,
        (false, "") => ResponseType::Singleton,
        (true, other) => return Err(format!("invalid response type for service: {other:?}")),
        (false, other) => return Err(format!("invalid response type for stream: {other:?}")),
    };
    let threshold = e
        .get("response_threshold")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if threshold < 0 {
        return Err("negative response threshold is invalid".into());
    }
    if threshold > 0 && !service {
        return Err("response threshold only valid for services".into());
    }
    let position = e
        .get("account_token_position")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    if position > 0 {
        let tokens: Vec<&str> = subject.split('.').collect();
        match tokens.get(position - 1) {
            _ if is_literal(subject.as_bytes()) => {
                return Err(format!(
                    "Account Token Position can only be used with wildcard subjects: {subject}"
                ))
            }
            None => {
                return Err(format!(
                    "Account Token Position {position} exceeds length of subject '{subject}'"
                ))
            }
            Some(&"*") => {}
            Some(tk) => {
                return Err(format!(
                "Account Token Position {position} matches '{tk}' but must match a * in: {subject}"
            ))
            }
        }
    }
    Ok(Export {
        subject,
        service,
        accounts: Vec::new(),
        response,
        threshold: (threshold > 0).then(|| Duration::from_nanos(threshold as u64)),
        token_req: e.get("token_req").and_then(Value::as_bool).unwrap_or(false),
        account_position: position,
        revocations: revocations(e),
    })
}

/// One import; `to` (deprecated) is a stream import's prefix and a service import's
/// exported subject, `local_subject` the subject in the importing account.
fn import(
    importer: &str,
    i: &Value,
    signers_of: &impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Import, String> {
    let subject = text(i, "subject");
    let account = text(i, "account");
    let to = text(i, "to");
    let local = text(i, "local_subject");
    let share = i.get("share").and_then(Value::as_bool).unwrap_or(false);
    let service = match text(i, "type") {
        "service" => true,
        "stream" => false,
        other => return Err(format!("invalid import type: {other:?}")),
    };
    if account.is_empty() {
        return Err("account to import from is not specified".into());
    }
    if !is_valid_subject(subject.as_bytes()) {
        return Err(format!("import subject {subject:?} is not valid"));
    }
    if !local.is_empty() && !to.is_empty() {
        return Err("Local Subject replaces To".into());
    }
    if share && !service {
        return Err(format!(
            "sharing information (for latency tracking) is only valid for services: {subject:?}"
        ));
    }
    let mut im = Import {
        service,
        account: account.to_string(),
        share,
        ..Import::default()
    };
    match (service, local.is_empty()) {
        (false, true) => {
            if !to.is_empty() && !is_literal(to.as_bytes()) {
                return Err(format!(
                    "streams cannot have wildcard to subject: {subject:?}"
                ));
            }
            im.subject = subject.to_string();
            im.prefix = to.to_string();
        }
        (false, false) => {
            im.subject = subject.to_string();
            im.to = local.to_string();
        }
        (true, false) => {
            im.subject = subject.to_string();
            im.to = local.to_string();
        }
        (true, true) if !to.is_empty() => {
            im.subject = to.to_string();
            im.to = subject.to_string();
        }
        (true, true) => im.subject = subject.to_string(),
    }
    let token = text(i, "token");
    if !token.is_empty() {
        im.activation = activation(importer, &im, token, signers_of)?;
    }
    Ok(im)
}

/// Checks the activation token of import `im` of account `importer`. A token the jwt
/// library finds inconsistent is an error; one that is well formed but expired or signed by
/// a key the exporter does not have leaves the import without activation (nats-server's
/// `checkActivation` then refuses it). Gives the token's issued-at time.
fn activation(
    importer: &str,
    im: &Import,
    token: &str,
    signers_of: &impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Option<i64>, String> {
    let subject = &im.subject;
    let act = jwt::decode(token)
        .map_err(|_| format!("import {subject:?} contains an invalid activation token"))?;
    let issuer_account = act.issuer_account().unwrap_or("");
    if act.kind != "activation" {
        return Err(format!(
            "import {subject:?} contains an invalid activation token"
        ));
    }
    if act.iss != im.account && issuer_account != im.account {
        return Err(format!(
            "activation token doesn't match account for import {subject:?}"
        ));
    }
    if act.sub != importer {
        return Err(format!(
            "activation token doesn't match account it is being included in, {subject:?}"
        ));
    }
    let kind = text(&act.nats, "kind");
    let expected = if im.service { "service" } else { "stream" };
    if kind != expected {
        return Err(format!(
            "mismatch between token import type {kind} and type of import {expected}"
        ));
    }
    let granted = text(&act.nats, "subject");
    if !is_subset_match(subject.as_bytes(), granted.as_bytes()) {
        return Err(format!(
            "activation token import subject {granted:?} doesn't match import {subject:?}"
        ));
    }
    if act.expired_at(jwt::now_secs()) {
        return Ok(None);
    }
    // Signed by a signing key: it must be one the exporter has.
    if !issuer_account.is_empty()
        && (issuer_account != im.account
            || !signers_of(&im.account).is_some_and(|keys| keys.contains(&act.iss)))
    {
        return Ok(None);
    }
    Ok(Some(act.iat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE64URL_NOPAD;
    use nkeys::KeyPair;
    use serde_json::json;

    fn encode(signer: &KeyPair, mut claims: Value) -> String {
        claims["iss"] = json!(signer.public_key());
        claims["iat"] = json!(100);
        let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
        let signed = format!("{header}.{body}");
        let sig = signer.sign(signed.as_bytes()).expect("sign");
        format!("{signed}.{}", BASE64URL_NOPAD.encode(&sig))
    }

    fn account(key: &KeyPair, imports: Value) -> Claims {
        let token = encode(
            &KeyPair::new_operator(),
            json!({"sub": key.public_key(), "nats": {"type": "account", "version": 2,
                   "imports": imports}}),
        );
        jwt::decode(&token).expect("valid")
    }

    fn activation(signer: &KeyPair, to: &str, subject: &str, extra: Value) -> String {
        let mut nats = json!({"type": "activation", "version": 2, "subject": subject,
                              "kind": "stream"});
        if let (Value::Object(n), Value::Object(e)) = (&mut nats, extra) {
            n.extend(e);
        }
        encode(signer, json!({"sub": to, "nats": nats}))
    }

    #[test]
    fn imports_read_to_and_local_subject_as_nats_server_does() {
        let (me, them) = (KeyPair::new_account(), KeyPair::new_account());
        let t = them.public_key();
        let acc = account(
            &me,
            json!([
                {"subject": "s.>", "account": t, "type": "stream", "to": "pre"},
                {"subject": "s.*", "account": t, "type": "stream", "local_subject": "l.*"},
                {"subject": "ask", "account": t, "type": "service", "to": "svc"},
                {"subject": "svc2", "account": t, "type": "service", "local_subject": "ask2"}
            ]),
        );
        let got = read(&acc, |_| None).expect("valid");
        let seen: Vec<(&str, &str, &str)> = got
            .imports
            .iter()
            .map(|i| (i.subject.as_str(), i.to.as_str(), i.prefix.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("s.>", "", "pre"),
                ("s.*", "l.*", ""),
                ("svc", "ask", ""),
                ("svc2", "ask2", "")
            ]
        );
        let bad = account(
            &me,
            json!([{"subject": "a", "account": t, "type": "stream", "share": true}]),
        );
        assert!(read(&bad, |_| None).is_err());
    }

    #[test]
    fn activation_tokens_are_checked() {
        let (me, them, signer) = (
            KeyPair::new_account(),
            KeyPair::new_account(),
            KeyPair::new_account(),
        );
        let (m, t) = (me.public_key(), them.public_key());
        let with = |token: String| {
            account(
                &me,
                json!([{"subject": "p.x", "account": t, "type": "stream", "token": token}]),
            )
        };
        let keys = |k: &str| (k == t).then(|| vec![t.clone(), signer.public_key()]);
        let ok = with(activation(&them, &m, "p.>", json!({})));
        assert_eq!(
            read(&ok, keys).expect("valid").imports[0].activation,
            Some(100)
        );
        let by_signing_key = with(activation(&signer, &m, "p.>", json!({"issuer_account": t})));
        assert_eq!(
            read(&by_signing_key, keys).expect("valid").imports[0].activation,
            Some(100)
        );
        let unknown_key = with(activation(
            &KeyPair::new_account(),
            &m,
            "p.>",
            json!({"issuer_account": t}),
        ));
        assert_eq!(
            read(&unknown_key, keys).expect("valid").imports[0].activation,
            None
        );
        for wrong in [
            activation(&them, &t, "p.>", json!({})),
            activation(&them, &m, "q.>", json!({})),
            activation(&them, &m, "p.>", json!({"kind": "service"})),
            activation(&KeyPair::new_account(), &m, "p.>", json!({})),
            "not a token".to_string(),
        ] {
            assert!(read(&with(wrong), keys).is_err());
        }
    }
}
