//! A blocking raw-protocol NATS connection for the generator: connect, read INFO, send
//! CONNECT and a PING, and wait for the PONG — the readiness barrier nats-server's own
//! `test/bench_test.go` uses (`flushConnection`). Scenarios then use the socket directly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::frames::{Frames, Msg, Sink};

/// What every benchmark connection sends first.
pub const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"name\":\"natrium-bench\",\"lang\":\"rust\",\"version\":\"0.1.0\"}\r\nPING\r\n";

/// CONNECT with credentials (`--user`/`--pass`), when given.
static CONNECT_WITH_CREDENTIALS: OnceLock<Vec<u8>> = OnceLock::new();

/// Makes every connection log in as `user`/`pass`.
pub fn use_credentials(user: &str, pass: &str) {
    let json = serde_json::json!({
        "verbose": false, "pedantic": false, "headers": true, "no_responders": true,
        "protocol": 1, "name": "natrium-bench", "lang": "rust", "version": "0.1.0",
        "user": user, "pass": pass,
    });
    let _ = CONNECT_WITH_CREDENTIALS.set(format!("CONNECT {json}\r\nPING\r\n").into_bytes());
}

/// How long a handshake or a barrier may take before the scenario fails.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(10);

/// Turns `nats://host:port`, `host:port` or `host` into a socket address; `mqtt://host` and
/// `tcp://host` default to MQTT's port 1883.
pub fn resolve(url: &str) -> Result<SocketAddr, String> {
    let (hostport, port) = match url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        Some(rest) => (rest, 1883),
        None => (url.strip_prefix("nats://").unwrap_or(url), 4222),
    };
    let hostport = hostport.trim_end_matches('/');
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{port}")
    };
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url} resolves to no address"))
}

/// The TLS client configuration when `--tls-ca` is given: every connection then upgrades
/// to TLS after the INFO line, as NATS clients do.
static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Makes every connection use TLS, trusting the CA certificates in `ca_file`.
pub fn use_tls(ca_file: &Path) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?
    {
        let cert = cert.map_err(|e| format!("{}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Every connection pays a full handshake (certificate, key exchange), as a fleet of
    // fresh clients does: no session resumption.
    let mut config = config;
    config.resumption = rustls::client::Resumption::disabled();
    let _ = TLS.set(Arc::new(config));
    Ok(())
}

/// A plain or TLS socket.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    pub fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.tcp().set_read_timeout(d)
    }

    pub fn set_write_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.tcp().set_write_timeout(d)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf),
            // rustls' StreamOwned writes one record per call; write_all then flushes.
            Stream::Tls(t) => {
                t.write_all(buf)?;
                t.flush()
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// A connection that completed the handshake.
pub struct Conn {
    pub stream: Stream,
    pub frames: Frames,
}

/// Counts PONGs, answers nothing, remembers the first `-ERR`.
#[derive(Default)]
struct Barrier {
    pongs: u64,
    pings: u64,
    msgs: u64,
    err: Option<String>,
}

impl Sink for Barrier {
    fn msg(&mut self, _m: &Msg<'_>) {
        self.msgs += 1;
    }
    fn ping(&mut self) {
        self.pings += 1;
    }
    fn pong(&mut self) {
        self.pongs += 1;
    }
    fn err(&mut self, text: &[u8]) {
        self.err
            .get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
    }
}

impl Conn {
    /// Connects, checks the INFO line, sends CONNECT + PING and waits for the PONG.
    /// `buffer` is the read buffer size, `head` how many payload bytes sinks will see.
    pub fn open(addr: SocketAddr, buffer: usize, head: usize) -> Result<Conn, String> {
        let stream = TcpStream::connect_timeout(&addr, BARRIER_TIMEOUT)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
        let mut stream = stream;
        read_info(&mut stream)?;
        let stream = match TLS.get() {
            Some(config) => upgrade(stream, config.clone(), addr)?,
            None => Stream::Plain(stream),
        };
        let mut conn = Conn {
            stream,
            frames: Frames::new(buffer, head),
        };
        conn.stream
            .write_all(
                CONNECT_WITH_CREDENTIALS
                    .get()
                    .map_or(CONNECT, |c| c.as_slice()),
            )
            .map_err(|e| format!("send CONNECT: {e}"))?;
        conn.wait_pong(1)?;
        Ok(conn)
    }

    /// Sends a PING and waits for its PONG, discarding any messages in between (they are
    /// counted in the return value). Answers server PINGs.
    pub fn flush(&mut self) -> Result<u64, String> {
        self.stream
            .write_all(b"PING\r\n")
            .map_err(|e| format!("send PING: {e}"))?;
        self.wait_pong(1)
    }

    /// Reads until `n` PONGs arrived; returns how many messages were skipped meanwhile.
    pub fn wait_pong(&mut self, n: u64) -> Result<u64, String> {
        let deadline = Instant::now() + BARRIER_TIMEOUT;
        let mut b = Barrier::default();
        loop {
            self.frames.parse(&mut b).map_err(|e| e.to_string())?;
            for _ in 0..std::mem::take(&mut b.pings) {
                self.stream
                    .write_all(b"PONG\r\n")
                    .map_err(|e| format!("send PONG: {e}"))?;
            }
            if let Some(e) = b.err.take() {
                return Err(format!("server replied {e}"));
            }
            if b.pongs >= n {
                return Ok(b.msgs);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no PONG from the server within 10 s".into());
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.frames.read_from(&mut self.stream) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The TCP socket and the reader, for a caller that polls many connections itself.
    pub fn into_plain(self) -> Result<(TcpStream, Frames), String> {
        match self.stream {
            Stream::Plain(s) => Ok((s, self.frames)),
            Stream::Tls(_) => Err("this scenario does not support TLS".into()),
        }
    }

    /// Subscribes and waits until the server has processed the SUB.
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        sid: u64,
    ) -> Result<(), String> {
        let line = match queue {
            Some(q) => format!("SUB {subject} {q} {sid}\r\n"),
            None => format!("SUB {subject} {sid}\r\n"),
        };
        self.stream
            .write_all(line.as_bytes())
            .map_err(|e| format!("send SUB: {e}"))?;
        self.flush().map(|_| ())
    }
}

/// Reads the INFO line, and nothing more: nothing else is sent before CONNECT.
fn read_info(stream: &mut TcpStream) -> Result<(), String> {
    let mut line = Vec::with_capacity(1024);
    let mut byte = [0u8; 512];
    stream
        .set_read_timeout(Some(BARRIER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    // Read only up to the end of the INFO line, byte-exactly: nothing else is sent
    // before CONNECT, so a plain read returns exactly the line.
    loop {
        let n = stream
            .read(&mut byte)
            .map_err(|e| format!("read INFO: {e}"))?;
        if n == 0 {
            return Err("server closed the connection before INFO".into());
        }
        line.extend_from_slice(&byte[..n]);
        if line.ends_with(b"\r\n") {
            break;
        }
        if line.len() > 64 * 1024 {
            return Err("INFO line too long".into());
        }
    }
    if !line.starts_with(b"INFO ") {
        return Err(format!(
            "first line is not INFO: {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ));
    }
    Ok(())
}

/// INFO arrived in plaintext: the TLS handshake follows, completed here so that the
/// connection rate counts whole TLS handshakes.
fn upgrade(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
) -> Result<Stream, String> {
    let conn = rustls::ClientConnection::new(config, ServerName::from(addr.ip()))
        .map_err(|e| format!("TLS: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    Ok(Stream::Tls(Box::new(tls)))
}
