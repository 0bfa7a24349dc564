//! Server identity: nats-server identifies itself with an nkey server public key (56
//! characters starting with `N`), and clients authenticating with nkeys sign the INFO nonce.

use data_encoding::{BASE64, BASE64URL_NOPAD};
use ring::rand::{SecureRandom, SystemRandom};

/// nats-server's nonce: 11 random bytes (`nonceRawLen`), base64url without padding, which
/// is 15 characters (`nonceLen`).
const NONCE_RAW_LEN: usize = 11;

/// A fresh server id: the public key of a new nkey server key pair.
pub fn server_id() -> String {
    nkeys::KeyPair::new_server().public_key()
}

/// A fresh INFO nonce from the operating system's random source. `None` only if that
/// source fails, in which case the caller refuses the connection (fail closed).
pub fn nonce() -> Option<String> {
    let mut raw = [0u8; NONCE_RAW_LEN];
    SystemRandom::new().fill(&mut raw).ok()?;
    Some(BASE64URL_NOPAD.encode(&raw))
}

/// A fresh NUID as nats-server makes them: 22 characters of base62 (used for generated
/// cluster names). Drawn from the operating system's random source, else from fastrand.
pub fn nuid() -> String {
    let mut raw = [0u8; 22];
    if SystemRandom::new().fill(&mut raw).is_err() {
        raw.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    raw.iter()
        .map(|b| char::from(DIGITS[usize::from(*b) % DIGITS.len()]))
        .collect()
}

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// nats-server's `getHash`: 8 base-62 characters of the SHA-256 of `name` (consumer names,
/// MQTT session subjects).
pub fn short_hash(name: &str) -> String {
    let sum = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    sum.as_ref()
        .iter()
        .take(8)
        .map(|b| char::from(DIGITS[usize::from(*b) % DIGITS.len()]))
        .collect()
}

/// Whether `key` is a valid public user nkey (`U…`, checksum included).
pub fn is_user_public_key(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Whether `key` is a valid public account nkey (`A…`, checksum included).
pub fn is_account_public_key(key: &str) -> bool {
    key.starts_with('A') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Checks a client's `sig` (base64url, or standard base64 as nats-server also accepts) over
/// `nonce` against the public `key`. Returns why not, for the debug log.
pub fn verify_signature(key: &str, nonce: &[u8], sig: &str) -> Result<(), &'static str> {
    if sig.is_empty() {
        return Err("Signature missing");
    }
    let sig = BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .or_else(|_| BASE64.decode(sig.as_bytes()))
        .map_err(|_| "Signature not valid base64")?;
    let pk = nkeys::KeyPair::from_public_key(key).map_err(|_| "User nkey not valid")?;
    pk.verify(nonce, &sig).map_err(|_| "Signature not verified")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_shape() {
        let n = nonce().unwrap();
        assert_eq!(n.len(), 15);
        assert!(n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(n, nonce().unwrap());
    }

    #[test]
    fn signatures() {
        let user = nkeys::KeyPair::new_user();
        let pk = user.public_key();
        assert!(is_user_public_key(&pk));
        assert!(!is_user_public_key(
            &nkeys::KeyPair::new_server().public_key()
        ));
        let nonce = nonce().unwrap();
        let sig = user.sign(nonce.as_bytes()).unwrap();
        assert_eq!(
            verify_signature(&pk, nonce.as_bytes(), &BASE64URL_NOPAD.encode(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_signature(&pk, nonce.as_bytes(), &BASE64.encode(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_signature(&pk, b"other nonce", &BASE64URL_NOPAD.encode(&sig)),
            Err("Signature not verified")
        );
        assert_eq!(
            verify_signature(&pk, nonce.as_bytes(), ""),
            Err("Signature missing")
        );
        assert_eq!(
            verify_signature(&pk, nonce.as_bytes(), "%%%"),
            Err("Signature not valid base64")
        );
        let other = nkeys::KeyPair::new_user();
        let sig = other.sign(nonce.as_bytes()).unwrap();
        assert!(verify_signature(&pk, nonce.as_bytes(), &BASE64URL_NOPAD.encode(&sig)).is_err());
    }

    #[test]
    fn server_id_shape() {
        let id = super::server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    }
}
