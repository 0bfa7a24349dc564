//! The byte stream under a connection: plain TCP, or TLS driven by rustls on the same
//! non-blocking socket, inside the reactor.
//!
//! The reactor reads and writes *plaintext* through [`Transport`]; for TLS the records are
//! produced and consumed here. Following rustls' mio example (`tlsserver-mio`): reads pull
//! TLS records from the socket until plaintext is available or the socket would block;
//! writes push plaintext into rustls (whose buffer is bounded, so unsent plaintext stays in
//! the connection's own buffer and keeps counting towards `max_pending`) and then write out
//! as many records as the socket takes. `wants_write` reports records still buffered in
//! rustls — during a handshake rustls produces them on its own — so the reactor keeps
//! WRITABLE registered until they are out.
//!
//! Before the TLS handshake starts, nats-server sends INFO in plaintext (clients read it,
//! see `tls_required`, then start TLS). That INFO goes out through [`Transport::write_raw`].
//!
//! A WebSocket connection adds a layer above that ([`WsSession`]): reads decode frames into
//! NATS bytes, writes frame the connection's NATS bytes; the socket below is plain TCP or TLS
//! (wss) as for any client.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

use crate::websocket::session::{RawIo, WsSession};

/// Plaintext rustls may hold before `write` reports the socket as full.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

pub enum ReadOutcome {
    Data(usize),
    WouldBlock,
    Eof,
    Error(io::Error),
}

/// A client socket, with a TLS session once one has started.
pub struct Transport {
    tcp: TcpStream,
    tls: Option<Box<TlsSession>>,
    ws: Option<Box<WsSession>>,
}

/// The socket below the WebSocket layer: TCP, or TLS over it.
struct Lower<'a> {
    tcp: &'a mut TcpStream,
    tls: Option<&'a mut TlsSession>,
}

impl RawIo for Lower<'_> {
    fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        match self.tls.as_deref_mut() {
            None => read_socket(self.tcp, buf),
            Some(t) => t.read(self.tcp, buf),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.tls.as_deref_mut() {
            None => write_socket(self.tcp, data),
            Some(t) => t.write(self.tcp, data),
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        match self.tls.as_deref_mut() {
            None => Ok(true),
            Some(t) => t.flush_records(self.tcp),
        }
    }
}

pub struct TlsSession {
    /// The server side for clients and accepted leaf connections; the client side for
    /// connections we dial (to a hub, to a route).
    conn: Connection,
    /// rustls reported a fatal error; its alert is flushed, then the socket closes.
    failed: bool,
}

impl Transport {
    pub fn plain(tcp: TcpStream) -> Transport {
        Transport {
            tcp,
            tls: None,
            ws: None,
        }
    }

    /// Adds the WebSocket layer; it passes bytes through until the upgrade is done.
    pub fn start_websocket(&mut self, max_payload: usize) {
        self.ws = Some(Box::new(WsSession::new(max_payload)));
    }

    pub fn is_websocket(&self) -> bool {
        self.ws.is_some()
    }

    /// A WebSocket connection still reading its HTTP upgrade request.
    pub fn ws_handshaking(&self) -> bool {
        self.ws.as_ref().is_some_and(|w| !w.is_open())
    }

    pub fn ws(&self) -> Option<&WsSession> {
        self.ws.as_deref()
    }

    pub fn ws_mut(&mut self) -> Option<&mut WsSession> {
        self.ws.as_deref_mut()
    }

    fn lower(&mut self) -> (Lower<'_>, Option<&mut WsSession>) {
        (
            Lower {
                tcp: &mut self.tcp,
                tls: self.tls.as_deref_mut(),
            },
            self.ws.as_deref_mut(),
        )
    }

    /// Reads from below the WebSocket layer (the upgrade request).
    pub fn read_below_ws(&mut self, buf: &mut [u8]) -> ReadOutcome {
        self.lower().0.read(buf)
    }

    /// Starts a server-side TLS session on this socket; from now on reads and writes are
    /// TLS records.
    pub fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> Result<(), rustls::Error> {
        self.start_session(ServerConnection::new(config)?.into());
        Ok(())
    }

    /// Starts a client-side TLS session (a connection we dialled) to the server named
    /// `name`; the ClientHello goes out with the next flush.
    pub fn start_tls_client(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<(), rustls::Error> {
        self.start_session(ClientConnection::new(config, name)?.into());
        Ok(())
    }

    fn start_session(&mut self, mut conn: Connection) {
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        self.tls = Some(Box::new(TlsSession {
            conn,
            failed: false,
        }));
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// True while a TLS handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.is_handshaking())
    }

    /// TLS records waiting in rustls, or WebSocket frames, for the socket.
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.wants_write())
            || self.ws.as_ref().is_some_and(|w| w.wants_write())
    }

    /// Looks at the first byte the client sent without consuming it.
    pub fn peek_first_byte(&self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        match self.tcp.peek(&mut b) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(b[0])),
            Err(e) => Err(e),
        }
    }

    /// Reads plaintext (NATS bytes, for WebSocket) into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        match self.lower() {
            (mut io, Some(ws)) => ws.read(&mut io, buf),
            (mut io, None) => io.read(buf),
        }
    }

    /// Writes plaintext; returns how much was taken (0 means the socket is full, or the TLS
    /// handshake or WebSocket upgrade is still running).
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.lower() {
            (mut io, Some(ws)) => ws.write(&mut io, data),
            (mut io, None) => io.write(data),
        }
    }

    /// Writes buffered TLS records and WebSocket frames (and, for WebSocket, the close frame:
    /// call it only once the connection's own output is written); Ok(true) when none remain.
    pub fn flush_records(&mut self) -> io::Result<bool> {
        match self.lower() {
            (mut io, Some(ws)) => ws.flush(&mut io),
            (mut io, None) => io.flush(),
        }
    }

    /// Writes bytes straight to the socket, bypassing TLS (the plaintext INFO sent before the
    /// client upgrades).
    pub fn write_raw(&mut self, data: &[u8]) -> io::Result<usize> {
        write_socket(&mut self.tcp, data)
    }

    /// The negotiated TLS version and cipher suite, for `/connz` and logs.
    pub fn tls_details(&self) -> Option<(String, String)> {
        let t = self.tls.as_ref()?;
        let version = match t.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => "1.2".to_string(),
            rustls::ProtocolVersion::TLSv1_3 => "1.3".to_string(),
            other => format!("{other:?}"),
        };
        let suite = t
            .conn
            .negotiated_cipher_suite()?
            .suite()
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        Some((version, suite))
    }

    /// The peer's certificate chain (DER), when it presented one.
    pub fn peer_certificates(&self) -> Option<Vec<rustls_pki_types::CertificateDer<'static>>> {
        let t = self.tls.as_ref()?;
        t.conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
    }
}

fn write_socket(s: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    loop {
        match s.write(data) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn read_socket(s: &mut TcpStream, buf: &mut [u8]) -> ReadOutcome {
    loop {
        return match s.read(buf) {
            Ok(0) => ReadOutcome::Eof,
            Ok(n) => ReadOutcome::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => ReadOutcome::Error(e),
        };
    }
}

impl TlsSession {
    fn read(&mut self, tcp: &mut TcpStream, buf: &mut [u8]) -> ReadOutcome {
        if self.failed {
            return ReadOutcome::WouldBlock;
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => return ReadOutcome::Eof,
                Ok(n) => return ReadOutcome::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the TCP stream without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return ReadOutcome::Eof,
                Err(e) => return ReadOutcome::Error(e),
            }
            match self.conn.read_tls(tcp) {
                Ok(0) => return ReadOutcome::Eof,
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        // rustls queued an alert; send it before closing.
                        self.failed = true;
                        let _ = self.flush_records(tcp);
                        return ReadOutcome::Error(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    if self.conn.wants_write() {
                        // Handshake messages: push them out now; WouldBlock leaves them
                        // buffered and the reactor registers WRITABLE.
                        if let Err(e) = self.flush_records(tcp) {
                            return ReadOutcome::Error(e);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOutcome::Error(e),
            }
        }
    }

    fn write(&mut self, tcp: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
        if self.conn.is_handshaking() {
            self.flush_records(tcp)?;
            return Ok(0);
        }
        let mut n = self.conn.writer().write(data)?;
        let flushed = self.flush_records(tcp)?;
        if n == 0 && flushed {
            // rustls' buffer was full only until the flush just now.
            n = self.conn.writer().write(data)?;
            self.flush_records(tcp)?;
        }
        Ok(n)
    }

    fn flush_records(&mut self, tcp: &mut TcpStream) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(tcp) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
