//! TLS settings for the client port (nats-server's `tls {}` block and `--tls…` flags) and
//! the rustls server configuration built from them.
//!
//! rustls with the `ring` provider: it builds with a C compiler alone and keeps the binary
//! small. Cipher suites are named as IANA/Go names (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`,
//! `TLS_AES_128_GCM_SHA256`); a name rustls does not implement is a start-up error that lists
//! what it does implement, since silently weakening an operator's choice is not acceptable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::ring as provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// nats-server's default TLS handshake timeout.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);
/// nats-server's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY` for `handshake_first: auto`.
pub const HANDSHAKE_FIRST_FALLBACK: Duration = Duration::from_millis(50);

/// When the TLS handshake happens relative to INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeFirst {
    /// INFO in plaintext first, then the client upgrades (what clients expect by default).
    #[default]
    Off,
    /// TLS before INFO.
    On,
    /// TLS first if the client starts it within the delay, else INFO first.
    Auto(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// The `tls {}` block.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// Require client certificates and map their subject to a user.
    pub verify_and_map: bool,
    pub timeout: Option<Duration>,
    pub handshake_first: HandshakeFirst,
    pub min_version: Option<TlsVersion>,
    pub cipher_suites: Vec<String>,
}

impl TlsOptions {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(TLS_TIMEOUT)
    }

    /// Client certificates are required.
    pub fn requires_client_cert(&self) -> bool {
        self.verify || self.verify_and_map
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("error loading certificate file {}: {e}", path.display()))?
        .collect();
    let certs =
        certs.map_err(|e| format!("error parsing certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", path.display()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("error loading key file {}: {e}", path.display()))
}

fn suite_name(s: &SupportedCipherSuite) -> &'static str {
    s.suite().as_str().unwrap_or("unknown")
}

/// Cipher suite names rustls (ring) implements.
pub fn supported_cipher_suites() -> Vec<&'static str> {
    provider::ALL_CIPHER_SUITES.iter().map(suite_name).collect()
}

/// Builds the rustls server configuration; errors are start-up errors.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, String> {
    let cert_file = opts
        .cert_file
        .as_deref()
        .ok_or("missing 'cert_file' in TLS configuration")?;
    let key_file = opts
        .key_file
        .as_deref()
        .ok_or("missing 'key_file' in TLS configuration")?;
    let certs = load_certs(cert_file)?;
    let key = load_key(key_file)?;

    let mut crypto = provider::default_provider();
    if !opts.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in &opts.cipher_suites {
            let suite = provider::ALL_CIPHER_SUITES
                .iter()
                .find(|s| suite_name(s).eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "unsupported cipher suite {name:?}; natrium (rustls) supports: {}",
                        supported_cipher_suites().join(", ")
                    )
                })?;
            chosen.push(*suite);
        }
        crypto.cipher_suites = chosen;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match opts.min_version {
        Some(TlsVersion::V1_3) => vec![&rustls::version::TLS13],
        _ => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::new(crypto))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if opts.requires_client_cert() {
        let ca_file = opts
            .ca_file
            .as_deref()
            .ok_or("TLS verify requires 'ca_file'")?;
        let mut roots = RootCertStore::empty();
        for cert in load_certs(ca_file)? {
            roots
                .add(cert)
                .map_err(|e| format!("invalid CA certificate in {}: {e}", ca_file.display()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(provider::default_provider()),
        )
        .build()
        .map_err(|e| format!("TLS client verification: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    Ok(Arc::new(config))
}
