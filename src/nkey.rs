//! Server identity: nats-server identifies itself with an nkey server public key (56
//! characters starting with `N`), and clients authenticating with nkeys sign the INFO nonce.

/// A fresh server id: the public key of a new nkey server key pair.
pub fn server_id() -> String {
    nkeys::KeyPair::new_server().public_key()
}

#[cfg(test)]
mod tests {
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
