//! The modern handshake: what a current client (rustls, ring provider) negotiates, and the
//! presented chain.
//!
//! The certificate verifier never aborts: it records the chain and the OCSP staple, and checks
//! the handshake signature (ServerKeyExchange / CertificateVerify) without enforcing it —
//! enforcing would abort RSA-1024 servers, whose facts we want. Trust is decided afterwards,
//! from the recorded chain, by `verify::assess_chain`.

use super::hello::Version;
use super::starttls::{self, StartTls};
use super::verify::HANDSHAKE_ALGS;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// ALPN offered on direct TLS (not after STARTTLS: mail servers have no use for it, and a server
/// configured with ALPN may refuse a client whose protocols it does not know).
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What the modern handshake observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModernOutcome {
    /// The presented chain (DER, leaf first, capped), even when the handshake then failed.
    pub chain: Vec<Vec<u8>>,
    pub version: Option<Version>,
    pub cipher: Option<u16>,
    pub alpn: Option<String>,
    pub ocsp_stapled: Option<bool>,
    pub signature_error: Option<String>,
    /// Why the handshake failed (`None` on success).
    pub error: Option<String>,
    /// The STARTTLS preamble was answered but refused (not offered, or the command refused).
    pub starttls_refused: bool,
    /// The first (at most 8) bytes the server sent in answer to the ClientHello (after any
    /// STARTTLS preamble); empty when it sent none. A TLS record starts with a content type
    /// (20–24).
    pub head: Vec<u8>,
    /// The server closed or reset the connection after the ClientHello without sending a
    /// single byte: what a non-TLS service does, and also how some legacy-only or
    /// version-intolerant stacks refuse a modern hello.
    pub closed_silently: bool,
}

/// Bytes of the server's answer kept in [`ModernOutcome::head`].
const HEAD_BYTES: usize = 8;

/// A stream that keeps the first bytes the server sends, so that a failed handshake still
/// tells whether (and what) the server answered.
struct Watched<S> {
    inner: S,
    head: Arc<Mutex<Vec<u8>>>,
}

fn head_of(head: &Mutex<Vec<u8>>) -> Vec<u8> {
    head.lock().map(|h| h.clone()).unwrap_or_default()
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got = &buf.filled()[before..];
        if !got.is_empty() {
            if let Ok(mut head) = self.head.lock() {
                let room = HEAD_BYTES.saturating_sub(head.len()).min(got.len());
                head.extend_from_slice(&got[..room]);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Debug, Default)]
struct Recorded {
    chain: Vec<Vec<u8>>,
    ocsp_stapled: Option<bool>,
    signature_error: Option<String>,
}

/// Records instead of judging (module docs).
#[derive(Debug)]
struct RecordingVerifier {
    chain_certs: usize,
    record: Mutex<Recorded>,
}

impl RecordingVerifier {
    fn note_signature(
        &self,
        verdict: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Err(e) = verdict {
            if let Ok(mut r) = self.record.lock() {
                r.signature_error.get_or_insert_with(|| e.to_string());
            }
        }
        Ok(HandshakeSignatureValid::assertion())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut r) = self.record.lock() {
            r.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .take(self.chain_certs)
                .map(|c| c.as_ref().to_vec())
                .collect();
            r.ocsp_stapled = Some(!ocsp_response.is_empty());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_signature(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &HANDSHAKE_ALGS,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_signature(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &HANDSHAKE_ALGS,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        HANDSHAKE_ALGS.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Handshake with rustls (TLS 1.3 and 1.2) on a fresh connection, bounded by `timeout` for the
/// connect and `deadline` for everything.
pub async fn probe_modern(
    addr: SocketAddr,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    timeout: Duration,
    deadline: Duration,
    chain_certs: usize,
) -> ModernOutcome {
    probe_modern_on(addr, None, sni, starttls, timeout, deadline, chain_certs).await
}

/// [`probe_modern`] on `connected` (an open connection to `addr` nothing was sent on yet, e.g.
/// the port sweep's) when given, else on a new connection.
pub async fn probe_modern_on(
    addr: SocketAddr,
    connected: Option<std::net::TcpStream>,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    timeout: Duration,
    deadline: Duration,
    chain_certs: usize,
) -> ModernOutcome {
    let verifier = Arc::new(RecordingVerifier {
        chain_certs,
        record: Mutex::new(Recorded::default()),
    });
    let attempt = handshake(
        addr,
        connected,
        sni,
        starttls,
        timeout,
        deadline,
        verifier.clone(),
    );
    let mut out = match attempt.await {
        Ok(o) => o,
        Err(e) => ModernOutcome {
            error: Some(e),
            ..Default::default()
        },
    };
    if let Ok(mut r) = verifier.record.lock() {
        out.chain = std::mem::take(&mut r.chain);
        out.ocsp_stapled = r.ocsp_stapled;
        out.signature_error = r.signature_error.take();
    }
    out
}

async fn handshake(
    addr: SocketAddr,
    connected: Option<std::net::TcpStream>,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    timeout: Duration,
    deadline: Duration,
    verifier: Arc<RecordingVerifier>,
) -> Result<ModernOutcome, String> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("client configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    if starttls.is_none() {
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    }
    // Each probe is a first contact: no tickets, no session IDs carried between probes.
    config.resumption = Resumption::disabled();
    // An IP address as server name makes rustls send no SNI (RFC 6066 forbids IP literals).
    let server_name = match sni.and_then(|s| ServerName::try_from(s.to_string()).ok()) {
        Some(name) => name,
        None => ServerName::IpAddress(addr.ip().into()),
    };

    let deadline_at = Instant::now() + deadline;
    let connect_by = deadline_at.min(Instant::now() + timeout);
    let adopted = connected.and_then(|s| {
        s.set_nonblocking(true).ok()?;
        TcpStream::from_std(s).ok()
    });
    let mut stream = match adopted {
        Some(s) => s,
        None => match tokio::time::timeout_at(connect_by, TcpStream::connect(addr)).await {
            Err(_) => return Err(format!("connect timeout after {} ms", timeout.as_millis())),
            Ok(Err(e)) => return Err(format!("connect: {e}")),
            Ok(Ok(s)) => s,
        },
    };
    let _ = stream.set_nodelay(true);
    if let Some(proto) = starttls {
        if let Err(e) = starttls::upgrade(&mut stream, proto, deadline_at).await {
            return Ok(ModernOutcome {
                error: Some(e.to_string()),
                starttls_refused: e.is_refusal(),
                ..Default::default()
            });
        }
    }
    let connector = TlsConnector::from(Arc::new(config));
    let head = Arc::new(Mutex::new(Vec::new()));
    let watched = Watched {
        inner: stream,
        head: head.clone(),
    };
    let tls =
        match tokio::time::timeout_at(deadline_at, connector.connect(server_name, watched)).await {
            Err(_) => {
                return Ok(ModernOutcome {
                    error: Some(format!(
                        "handshake timeout after {} ms",
                        deadline.as_millis()
                    )),
                    head: head_of(&head),
                    ..Default::default()
                })
            }
            Ok(Err(e)) => {
                let head = head_of(&head);
                return Ok(ModernOutcome {
                    error: Some(handshake_error(&e)),
                    closed_silently: head.is_empty()
                        && matches!(
                            e.kind(),
                            ErrorKind::UnexpectedEof
                                | ErrorKind::ConnectionReset
                                | ErrorKind::ConnectionAborted
                                | ErrorKind::BrokenPipe
                        ),
                    head,
                    ..Default::default()
                });
            }
            Ok(Ok(tls)) => tls,
        };
    let (_, conn) = tls.get_ref();
    Ok(ModernOutcome {
        head: head_of(&head),
        version: conn.protocol_version().and_then(|v| match v {
            ProtocolVersion::TLSv1_3 => Some(Version::Tls13),
            ProtocolVersion::TLSv1_2 => Some(Version::Tls12),
            _ => None,
        }),
        cipher: conn.negotiated_cipher_suite().map(|s| u16::from(s.suite())),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        ..Default::default()
    })
}

/// tokio-rustls wraps the rustls error in an io::Error; show the rustls message.
fn handshake_error(e: &std::io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}
