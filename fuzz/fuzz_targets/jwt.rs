//! NATS JWT decoding (`accounts::jwt::decode`) on arbitrary text, and on tokens made from
//! arbitrary claims signed by a real key.
//!
//! Oracles:
//! - never panics, on anything;
//! - what decodes has a valid issuer key and decodes again to the same claims;
//! - a token signed by a real account key over claims that are a JSON object naming that
//!   key as `iss` decodes (v2 form), and one byte changed in its claims no longer does.
#![no_main]

use data_encoding::BASE64URL_NOPAD;
use libfuzzer_sys::fuzz_target;
use natrium::accounts::jwt;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = jwt::decode(&text) {
        assert!(nkeys::KeyPair::from_public_key(&c.iss).is_ok(), "issuer");
        let again = jwt::decode(&text).expect("decodes twice");
        assert_eq!((again.sub, again.kind), (c.sub, c.kind));
    }

    // Arbitrary claims, signed for real.
    let Ok(serde_json::Value::Object(mut claims)) = serde_json::from_slice(data) else {
        return;
    };
    let key = nkeys::KeyPair::new_account();
    claims.insert("iss".into(), key.public_key().into());
    let body = serde_json::Value::Object(claims).to_string();
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let payload = BASE64URL_NOPAD.encode(body.as_bytes());
    let signed = format!("{header}.{payload}");
    let Ok(sig) = key.sign(signed.as_bytes()) else {
        return;
    };
    let token = format!("{signed}.{}", BASE64URL_NOPAD.encode(&sig));
    if token.len() > 60_000 {
        return;
    }
    let c = jwt::decode(&token).expect("a genuinely signed token decodes");
    assert_eq!(c.iss, key.public_key());
    let mut bytes = body.into_bytes();
    if let Some(b) = bytes.first_mut() {
        *b ^= 1;
    }
    let tampered = format!(
        "{header}.{}.{}",
        BASE64URL_NOPAD.encode(&bytes),
        BASE64URL_NOPAD.encode(&sig)
    );
    assert!(jwt::decode(&tampered).is_err(), "a changed claim still verified");
});
