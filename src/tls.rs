//! TLS settings (nats-server's `tls {}` blocks and `--tls…` flags) and the rustls
//! configurations built from them: the server side for the client, leaf and WebSocket
//! listeners, the client side for the connections this server dials.
//!
//! rustls with the `ring` provider: it builds with a C compiler alone and keeps the binary
//! small. Cipher suites are named as IANA/Go names (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`,
//! `TLS_AES_128_GCM_SHA256`); a name rustls does not implement is a start-up error that lists
//! what it does implement, since silently weakening an operator's choice is not acceptable.
//! As in Go (and so nats-server), `cipher_suites` chooses among the TLS 1.2 suites; TLS 1.3
//! always offers all of its suites.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring as provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SupportedCipherSuite,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// nats-server's default TLS handshake timeout.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);

pub use crate::config::security::{HandshakeFirst, TlsConfig};

/// The handshake timeout: configured, else nats-server's 2 s.
pub fn timeout(cfg: &TlsConfig) -> Duration {
    cfg.timeout.unwrap_or(TLS_TIMEOUT)
}

/// Client certificates are required (`verify` or `verify_and_map`).
pub fn requires_client_cert(cfg: &TlsConfig) -> bool {
    cfg.verify || cfg.verify_and_map
}

/// Settings nats-server has that natrium's TLS does not implement: refused at start-up, so
/// an operator never gets weaker TLS than configured.
fn unsupported(cfg: &TlsConfig, side: Side) -> Vec<String> {
    let mut out = cfg.unsupported.clone();
    if !cfg.certs.is_empty() {
        out.push("certs (several certificates)".into());
    }
    if !cfg.pinned_certs.is_empty() {
        out.push("pinned_certs".into());
    }
    if cfg.verify_cert_and_check_known_urls {
        out.push("verify_cert_and_check_known_urls".into());
    }
    if cfg.connection_rate_limit > 0 {
        out.push("connection_rate_limit".into());
    }
    if cfg.insecure && side == Side::Server {
        out.push("insecure".into());
    }
    out
}

/// Which end of the handshake a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
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

/// The IANA (and Go) name of a suite; rustls spells the TLS 1.3 ones `TLS13_…`.
fn suite_name(s: &SupportedCipherSuite) -> String {
    let name = s.suite().as_str().unwrap_or("unknown");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    }
}

fn is_tls13(s: &SupportedCipherSuite) -> bool {
    matches!(s, SupportedCipherSuite::Tls13(_))
}

/// Cipher suite names rustls (ring) implements.
pub fn supported_cipher_suites() -> Vec<String> {
    provider::ALL_CIPHER_SUITES.iter().map(suite_name).collect()
}

/// The rustls provider (cipher suites, key-exchange groups) and protocol versions `opts`
/// asks for; shared by both sides of a connection.
fn crypto_for(
    opts: &TlsConfig,
) -> Result<
    (
        rustls::crypto::CryptoProvider,
        Vec<&'static rustls::SupportedProtocolVersion>,
    ),
    String,
> {
    let mut crypto = provider::default_provider();
    if !opts.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in &opts.cipher_suites {
            let suite = provider::ALL_CIPHER_SUITES
                .iter()
                .find(|s| {
                    suite_name(s).eq_ignore_ascii_case(name)
                        || s.suite()
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .ok_or_else(|| {
                    format!(
                        "unsupported cipher suite {name:?}; natrium (rustls) supports: {}",
                        supported_cipher_suites().join(", ")
                    )
                })?;
            chosen.push(*suite);
        }
        // Go ignores the list for TLS 1.3, which keeps all of its suites.
        chosen.retain(|s: &SupportedCipherSuite| !is_tls13(s));
        chosen.extend(
            provider::ALL_CIPHER_SUITES
                .iter()
                .filter(|s| is_tls13(s))
                .copied(),
        );
        crypto.cipher_suites = chosen;
    }
    if !opts.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &opts.curve_preferences {
            let wanted = match name.as_str() {
                "X25519" => "X25519",
                "CurveP256" | "P256" | "secp256r1" => "secp256r1",
                "CurveP384" | "P384" | "secp384r1" => "secp384r1",
                other => {
                    return Err(format!(
                        "unsupported curve preference {other:?}; natrium supports X25519, CurveP256, CurveP384"
                    ))
                }
            };
            if let Some(g) = crypto
                .kx_groups
                .iter()
                .find(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(wanted))
            {
                groups.push(*g);
            }
        }
        crypto.kx_groups = groups;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match opts.min_version.as_str() {
        "1.3" => vec![&rustls::version::TLS13],
        "" | "1.2" => vec![&rustls::version::TLS12, &rustls::version::TLS13],
        other => {
            return Err(format!(
                "unsupported TLS min_version {other:?}; natrium supports \"1.2\" and \"1.3\""
            ))
        }
    };
    Ok((crypto, versions))
}

/// Builds the rustls server configuration; errors are start-up errors.
pub fn server_config(opts: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let missing = unsupported(opts, Side::Server);
    if !missing.is_empty() {
        return Err(format!(
            "tls: not supported by natrium yet: {}",
            missing.join(", ")
        ));
    }
    if opts.cert_file.is_empty() {
        return Err("missing 'cert_file' in TLS configuration".into());
    }
    if opts.key_file.is_empty() {
        return Err("missing 'key_file' in TLS configuration".into());
    }
    let certs = load_certs(Path::new(&opts.cert_file))?;
    let key = load_key(Path::new(&opts.key_file))?;

    let (crypto, versions) = crypto_for(opts)?;
    let builder = ServerConfig::builder_with_provider(Arc::new(crypto))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if requires_client_cert(opts) {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(opts)?),
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

/// TLS on a listener other than the client port's (the leaf port): the rustls
/// configuration and how the handshake runs.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    pub config: Arc<ServerConfig>,
    pub timeout: Duration,
    pub handshake_first: HandshakeFirst,
    /// Peers must present a certificate our `ca_file` signed (INFO `tls_verify`).
    pub verify: bool,
}

impl ListenerTls {
    pub fn from_config(cfg: &TlsConfig) -> Result<ListenerTls, String> {
        Ok(ListenerTls {
            config: server_config(cfg)?,
            timeout: timeout(cfg),
            handshake_first: cfg.handshake_first.clone(),
            verify: requires_client_cert(cfg),
        })
    }
}

/// TLS on connections this server dials (leaf remotes, routes).
#[derive(Debug, Clone)]
pub struct DialTls {
    pub config: Arc<ClientConfig>,
    pub timeout: Duration,
    /// TLS right after the TCP connect, before the peer's INFO.
    pub handshake_first: bool,
}

impl DialTls {
    pub fn from_config(cfg: &TlsConfig) -> Result<DialTls, String> {
        Ok(DialTls {
            config: client_config(cfg)?,
            timeout: timeout(cfg),
            handshake_first: cfg.handshake_first != HandshakeFirst::Off,
        })
    }
}

/// Builds the rustls configuration for connections this server dials (leaf remotes,
/// routes): Go's `tls.Config` as nats-server fills it from a `tls {}` block. The hub's
/// certificate is checked against `ca_file`, else the system's roots; `cert_file` and
/// `key_file` are the certificate we present; `insecure` checks nothing but the handshake's
/// signatures (nats-server warns about it, so do we).
pub fn client_config(opts: &TlsConfig) -> Result<Arc<ClientConfig>, String> {
    let missing = unsupported(opts, Side::Client);
    if !missing.is_empty() {
        return Err(format!(
            "tls: not supported by natrium yet: {}",
            missing.join(", ")
        ));
    }
    let (crypto, versions) = crypto_for(opts)?;
    let crypto = Arc::new(crypto);
    let builder = ClientConfig::builder_with_provider(crypto.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(crypto)))
    } else {
        builder.with_root_certificates(roots(opts)?)
    };
    let config = match (opts.cert_file.is_empty(), opts.key_file.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let certs = load_certs(Path::new(&opts.cert_file))?;
            let key = load_key(Path::new(&opts.key_file))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("TLS certificate/key: {e}"))?
        }
        (false, true) => return Err("missing 'key_file' in TLS configuration".into()),
        (true, false) => return Err("missing 'cert_file' in TLS configuration".into()),
    };
    Ok(Arc::new(config))
}

/// The certificates a peer's certificate must chain to: `ca_file`, else the system's roots
/// (Go's default when a `tls.Config` has no pool).
fn roots(opts: &TlsConfig) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if opts.ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(
                "TLS: no 'ca_file' and no system root certificates to verify peers with".into(),
            );
        }
        return Ok(roots);
    }
    let ca_file = Path::new(&opts.ca_file);
    for cert in load_certs(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| format!("invalid CA certificate in {}: {e}", ca_file.display()))?;
    }
    Ok(roots)
}

/// TLS between routes (`cluster { tls }`): both sides start it right after the TCP connect,
/// and, as nats-server forces it, each verifies the other's certificate against the same
/// `ca_file`; a server presents its one certificate on both sides.
#[derive(Debug, Clone)]
pub struct RouteTls {
    pub server: Arc<ServerConfig>,
    pub client: DialTls,
}

impl RouteTls {
    pub fn from_config(cfg: &TlsConfig) -> Result<RouteTls, String> {
        let verified = TlsConfig {
            verify: true,
            ..cfg.clone()
        };
        Ok(RouteTls {
            server: server_config(&verified)?,
            client: DialTls::from_config(cfg)?,
        })
    }
}

/// The first of `hosts` that is a name, not an IP address: what a peer dialled by IP is
/// checked for (nats-server's `tlsName`, `routeTLSName`).
pub fn first_host_name<'a>(mut hosts: impl Iterator<Item = &'a str>) -> Option<String> {
    hosts
        .find(|h| {
            h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
        })
        .map(str::to_string)
}

/// The name a dialled server's certificate must carry: `host` (a DNS name or an IP
/// address), or `saved` (a host name the remote's URLs gave, nats-server's `tlsName`) when
/// `host` is an IP address.
pub fn server_name(host: &str, saved: Option<&str>) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = match (host.parse::<std::net::IpAddr>(), saved) {
        (Ok(_), Some(saved)) => saved,
        _ => host,
    };
    ServerName::try_from(name.to_string())
        .map_err(|e| format!("invalid TLS server name {name:?}: {e}"))
}

/// `insecure: true`: the peer's certificate is not checked (Go's `InsecureSkipVerify`);
/// the handshake's signatures still are, so the session keys are the peer's.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The `--help_tls` text: nats-server's, with the cipher suites rustls implements.
pub fn help_text() -> String {
    let mut s = String::from(
        "
TLS configuration is specified in the tls section of a configuration file:

e.g.

    tls {
        cert_file:      \"./certs/server-cert.pem\"
        key_file:       \"./certs/server-key.pem\"
        ca_file:        \"./certs/ca.pem\"
        verify:         true
        verify_and_map: true

        cipher_suites: [
            \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\",
            \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"
        ]
    }

Available cipher suites include:
",
    );
    for name in supported_cipher_suites() {
        s.push_str("    ");
        s.push_str(&name);
        s.push('\n');
    }
    s.push_str(
        "
Other keys: timeout (seconds), handshake_first (true, false, \"auto\" or a duration),
min_version (\"1.2\" or \"1.3\"). On the command line: --tls, --tlscert, --tlskey,
--tlsverify, --tlscacert.

natrium uses rustls: TLS 1.2 and 1.3 with the suites above; curve preferences, OCSP and
the Windows certificate store are not available.
",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dialled_ip_is_checked_for_the_saved_host_name() {
        let name = |h, saved| server_name(h, saved).map(|n| n.to_str().into_owned());
        assert_eq!(name("hub.example.net", None).unwrap(), "hub.example.net");
        assert_eq!(
            name("10.0.0.7", Some("hub.example.net")).unwrap(),
            "hub.example.net"
        );
        assert_eq!(name("10.0.0.7", None).unwrap(), "10.0.0.7");
        assert_eq!(name("[::1]", None).unwrap(), "::1");
        // A host name is checked as itself even when another one was saved.
        assert_eq!(
            name("hub2.example.net", Some("hub1")).unwrap(),
            "hub2.example.net"
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let only_cert = TlsConfig {
            cert_file: "x.pem".into(),
            ..TlsConfig::default()
        };
        let e = client_config(&only_cert).unwrap_err();
        assert!(e.contains("missing 'key_file'"), "{e}");
    }
}
