//! Operator (JWT) mode with the memory resolver, compared with nats-server: an operator, an
//! account and users made in the test (v2 claims signed with the nkeys crate), clients that
//! log in with a user JWT and the nonce signed by their seed, a user JWT with permissions,
//! a forged one, an expired one, a bearer token, and a user whose JWT expires while it is
//! connected (`-ERR 'User Authentication Expired'`), and the subscription and payload limits
//! of user JWTs; also the account connection limit, `disallow_bearer`, connection types and
//! source networks.

use std::net::SocketAddr;
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use nkeys::KeyPair;
use serde_json::{json, Value};

use crate::harness::{nats_server_bin, Natrium, NatsServer, Raw, TempDir};

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A v2 JWT of `claims` signed by `signer`.
pub(crate) fn encode(signer: &KeyPair, mut claims: Value) -> String {
    claims["iss"] = json!(signer.public_key());
    claims["iat"] = json!(now());
    claims["jti"] = json!(format!("JTI{}", fastrand::u64(..)));
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{body}");
    let sig = signer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", BASE64URL_NOPAD.encode(&sig))
}

pub(crate) fn user_jwt(
    account: &KeyPair,
    user: &KeyPair,
    extra: Value,
    exp: Option<i64>,
) -> String {
    // No limits, as `nsc` writes them (nats-server reads absent limits as zero).
    let mut nats = json!({"type": "user", "version": 2, "pub": {}, "sub": {},
                          "subs": -1, "data": -1, "payload": -1});
    if let (Value::Object(n), Value::Object(e)) = (&mut nats, extra) {
        n.extend(e);
    }
    let mut c = json!({"sub": user.public_key(), "name": "u", "nats": nats});
    if let Some(exp) = exp {
        c["exp"] = json!(exp);
    }
    encode(account, c)
}

/// Connects with `jwt`, signing the nonce with `signer` (none: a bearer token), and sends
/// CONNECT, `ops` and a PING.
pub(crate) fn login(addr: SocketAddr, jwt: &str, signer: Option<&KeyPair>, ops: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    let info: Value =
        serde_json::from_str(raw.info.trim_start_matches("INFO ").trim()).expect("INFO");
    let nonce = info["nonce"]
        .as_str()
        .expect("a nonce in operator mode")
        .to_string();
    let sig = signer
        .map(|k| BASE64URL_NOPAD.encode(&k.sign(nonce.as_bytes()).expect("sign")))
        .unwrap_or_default();
    raw.send_str(&format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\"}}\r\n{ops}PING\r\n"
    ));
    raw
}

/// Connects with `jwt`, signing the nonce with `signer` (none: a bearer token), then runs
/// `ops`; returns what came back up to the PONG (or everything, if it closed).
pub(crate) fn session(addr: SocketAddr, jwt: &str, signer: Option<&KeyPair>, ops: &str) -> String {
    let mut raw = login(addr, jwt, signer, ops);
    let out = raw.drain_for(Duration::from_millis(400));
    out.lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

/// Account limits as `nsc` writes them: none. (A v2 account JWT without limits allows
/// nothing: nats-server reads them as zero.)
pub(crate) fn unlimited() -> Value {
    json!({"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
           "data": -1, "payload": -1, "wildcards": true})
}

/// A configuration in `dir` trusting a new operator that signed `account` (with `limits`),
/// preloaded in the memory resolver.
fn trusting_conf(dir: &TempDir, account: &KeyPair, limits: Value) -> std::path::PathBuf {
    let operator = KeyPair::new_operator();
    let nats = json!({"type": "account", "version": 2, "limits": limits});
    let account_jwt = encode(
        &operator,
        json!({"sub": account.public_key(), "name": "A", "nats": nats}),
    );
    let operator_jwt = encode(
        &operator,
        json!({"sub": operator.public_key(), "name": "O", "nats": {"type": "operator", "version": 2}}),
    );
    dir.write(
        "op.conf",
        &format!(
            "listen: 127.0.0.1:-1\noperator: {operator_jwt}\nresolver: MEMORY\n\
             resolver_preload: {{ {}: \"{account_jwt}\" }}\n",
            account.public_key()
        ),
    )
}

#[test]
fn operator_mode_logins_like_nats_server() {
    let account = KeyPair::new_account();
    let dir = TempDir::new("operator");
    let conf = trusting_conf(
        &dir,
        &account,
        json!({"subs": -1, "conn": -1, "imports": -1, "exports": -1,
               "data": -1, "payload": -1, "wildcards": true}),
    );
    let conf = conf.to_str().expect("utf-8 path");
    let good = KeyPair::new_user();
    let good_jwt = user_jwt(&account, &good, json!({}), None);
    let limited = KeyPair::new_user();
    let limited_jwt = user_jwt(
        &account,
        &limited,
        json!({"pub": {"allow": ["ok.>"]}, "sub": {"deny": ["secret"]}}),
        None,
    );
    let expired = KeyPair::new_user();
    let expired_jwt = user_jwt(&account, &expired, json!({}), Some(now() - 10));
    let bearer = KeyPair::new_user();
    let bearer_jwt = user_jwt(&account, &bearer, json!({"bearer_token": true}), None);
    let small = KeyPair::new_user();
    // One subscription, payloads up to 4 bytes.
    let small_jwt = encode(
        &account,
        json!({"sub": small.public_key(), "name": "small",
               "nats": {"type": "user", "version": 2, "pub": {}, "sub": {},
                        "subs": 1, "data": -1, "payload": 4}}),
    );
    let unlimited_v2 = KeyPair::new_user();
    let no_limits_jwt = encode(
        &account,
        json!({"sub": unlimited_v2.public_key(), "name": "nolimits",
               "nats": {"type": "user", "version": 2}}),
    );
    let stranger = KeyPair::new_account();
    let forged_jwt = user_jwt(&stranger, &good, json!({}), None);

    let run = |addr: SocketAddr| -> Vec<String> {
        vec![
            session(addr, &good_jwt, Some(&good), "SUB x 1\r\nPUB x 2\r\nhi\r\n"),
            session(
                addr,
                &limited_jwt,
                Some(&limited),
                "SUB ok.1 1\r\nPUB ok.1 1\r\na\r\nPUB no 1\r\nb\r\nSUB secret 2\r\n",
            ),
            session(addr, &good_jwt, Some(&limited), ""),
            session(addr, &expired_jwt, Some(&expired), ""),
            session(addr, &bearer_jwt, None, ""),
            session(addr, &good_jwt, None, ""),
            session(addr, &forged_jwt, Some(&good), ""),
            session(
                addr,
                &small_jwt,
                Some(&small),
                "SUB a 1\r\nSUB b 2\r\nPUB a 4\r\nfour\r\nPUB a 5\r\nfive!\r\n",
            ),
            session(addr, &no_limits_jwt, Some(&unlimited_v2), "SUB a 1\r\n"),
        ]
    };
    let mine = Natrium::start(&["-c", conf]);
    let got = run(mine.addr());
    assert_eq!(got[0], "MSG x 1 2|hi|PONG", "a user of the account");
    assert!(got[1].contains("MSG ok.1 1 1"), "{}", got[1]);
    assert!(
        got[1].contains("Permissions Violation for Publish to \"no\""),
        "{}",
        got[1]
    );
    for (i, what) in [
        (2, "the nonce signed by another key"),
        (3, "an expired JWT"),
        (5, "no signature"),
        (6, "a JWT of an untrusted account"),
    ] {
        assert_eq!(got[i], "-ERR 'Authorization Violation'", "{what}");
    }
    assert_eq!(got[4], "PONG", "a bearer token needs no signature");
    assert!(
        got[7].contains("maximum subscriptions exceeded"),
        "{}",
        got[7]
    );
    assert!(got[7].contains("MSG a 1 4|four"), "{}", got[7]);
    assert!(got[7].contains("Maximum Payload Violation"), "{}", got[7]);
    assert!(
        got[8].contains("maximum subscriptions exceeded"),
        "v2 without limits: {}",
        got[8]
    );
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", conf]).expect("nats-server");
        let mut want = run(theirs.addr());
        // nats-server also reports, after the PONG, a subscription it makes itself on
        // behalf of a client allowed none; natrium makes none.
        if let Some(w) = want.get_mut(8) {
            if let Some(cut) = w.strip_suffix("|-ERR 'maximum subscriptions exceeded'") {
                *w = cut.to_string();
            }
        }
        assert_eq!(got, want, "natrium vs nats-server");
    }
}

#[test]
fn a_user_jwt_that_expires_closes_its_connection() {
    let account = KeyPair::new_account();
    let dir = TempDir::new("operator-exp");
    let conf = trusting_conf(&dir, &account, unlimited());
    let srv = Natrium::start(&["-c", conf.to_str().expect("utf-8 path")]);
    let user = KeyPair::new_user();
    let jwt = user_jwt(&account, &user, json!({}), Some(now() + 2));
    let mut raw = Raw::connect(srv.addr());
    let info: Value =
        serde_json::from_str(raw.info.trim_start_matches("INFO ").trim()).expect("INFO");
    let nonce = info["nonce"].as_str().expect("nonce").to_string();
    let sig = BASE64URL_NOPAD.encode(&user.sign(nonce.as_bytes()).expect("sign"));
    raw.send_str(&format!(
        "CONNECT {{\"jwt\":\"{jwt}\",\"sig\":\"{sig}\",\"verbose\":false}}\r\nPING\r\n"
    ));
    raw.expect("PONG\r\n");
    let started = std::time::Instant::now();
    let line = raw
        .read_line(Duration::from_secs(5))
        .expect("an error at expiry");
    assert_eq!(line, "-ERR 'User Authentication Expired'");
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(raw.is_closed(Duration::from_secs(2)), "closed after it");
}

#[test]
fn account_connection_limit_bearer_types_and_source_networks_like_nats_server() {
    let account = KeyPair::new_account();
    let dir = TempDir::new("operator-restrict");
    let conf = trusting_conf(
        &dir,
        &account,
        json!({"subs": -1, "conn": 2, "imports": -1, "exports": -1, "data": -1,
               "payload": -1, "wildcards": true, "disallow_bearer": true}),
    );
    let conf = conf.to_str().expect("utf-8 path");
    let users: Vec<(KeyPair, Value)> = vec![
        (KeyPair::new_user(), json!({"bearer_token": true})),
        (
            KeyPair::new_user(),
            json!({"allowed_connection_types": ["WEBSOCKET"]}),
        ),
        (
            KeyPair::new_user(),
            json!({"allowed_connection_types": ["NO_SUCH_TYPE"]}),
        ),
        (
            KeyPair::new_user(),
            json!({"allowed_connection_types": ["STANDARD", "NO_SUCH_TYPE"]}),
        ),
        (KeyPair::new_user(), json!({"src": ["10.0.0.0/8"]})),
        (
            KeyPair::new_user(),
            json!({"src": ["10.0.0.0/8", "127.0.0.0/8"]}),
        ),
        (KeyPair::new_user(), json!({"src": ["not-a-network"]})),
    ];
    let tokens: Vec<String> = users
        .iter()
        .map(|(k, extra)| user_jwt(&account, k, extra.clone(), None))
        .collect();
    let plain: Vec<(KeyPair, String)> = (0..3)
        .map(|_| {
            let k = KeyPair::new_user();
            let t = user_jwt(&account, &k, json!({}), None);
            (k, t)
        })
        .collect();
    let run = |addr: SocketAddr| -> Vec<String> {
        let mut seen: Vec<String> = users
            .iter()
            .zip(&tokens)
            .map(|((k, _), t)| session(addr, t, Some(k), ""))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        // Two clients of the account fill it; a third is refused until one leaves.
        let mut first = login(addr, &plain[0].1, Some(&plain[0].0), "");
        first.expect("PONG\r\n");
        let mut second = login(addr, &plain[1].1, Some(&plain[1].0), "");
        second.expect("PONG\r\n");
        seen.push(session(addr, &plain[2].1, Some(&plain[2].0), ""));
        drop(first);
        std::thread::sleep(Duration::from_millis(300));
        seen.push(session(addr, &plain[2].1, Some(&plain[2].0), ""));
        drop(second);
        seen
    };
    let mine = Natrium::start(&["-c", conf]);
    let got = run(mine.addr());
    let violation = "-ERR 'Authorization Violation'";
    for (i, what) in [
        (0, "a bearer token where the account disallows them"),
        (1, "a websocket-only user on the client port"),
        (2, "only unknown connection types"),
        (4, "an address outside src"),
        (6, "a src that does not parse"),
    ] {
        assert_eq!(got[i], violation, "{what}");
    }
    assert_eq!(got[3], "PONG", "a known type beside an unknown one");
    assert_eq!(got[5], "PONG", "an address in the second src network");
    assert_eq!(
        got[7], "-ERR 'maximum account active connections exceeded'",
        "a third client of an account limited to two"
    );
    assert_eq!(got[8], "PONG", "once one of the two has left");
    if nats_server_bin().is_some() {
        let theirs = NatsServer::start(&["-c", conf]).expect("nats-server");
        assert_eq!(got, run(theirs.addr()), "natrium vs nats-server");
    }
}
