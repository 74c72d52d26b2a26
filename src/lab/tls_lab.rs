//! TLS and HTTP cases of the demo lab (issue 3 §8), also used by the TLS probe's unit tests and
//! the integration tests (a few servers here serve only them: [`serve_tls`],
//! [`serve_smtp_starttls`], [`serve_tls_records`] for hand-made flights).
//!
//! Every case is a real server on 127.0.0.1 with a kernel-chosen port, reached by a URL whose
//! name (`expired.lab.test`, …) the lab DNS server resolves to 127.0.0.1, so SNI, the hostname
//! check and the `Host` header work as on a real network. Certificates are made with rcgen at
//! start, relative to the `now` passed in, by a private lab CA (root + intermediate); the scan
//! trusts the root through `--ca-file` ([`TlsLab::ca_pem`]), so each case shows exactly its own
//! problem and nothing else (a clean case shows none).
//!
//! What rustls/ring cannot serve comes from a raw responder: a TLS 1.0-only server that answers
//! a ClientHello with a recorded-style ServerHello + Certificate + ServerHelloDone and never
//! completes a handshake. Its leaf carries a 1024-bit RSA public key (ring cannot generate or
//! sign with RSA keys, so the key is a random 1024-bit modulus nobody holds the private key of;
//! the lab CA's signature over it is real). That is enough for every fact the probe reads from
//! a legacy server: versions, suites, forward secrecy and the plaintext chain.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use time::{Duration as TimeDuration, OffsetDateTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The lab's DNS zone; every case name lives under it.
pub const LAB_ZONE: &str = "lab.test";
/// How long a lab server keeps one client: a scanner never needs more.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Request head bytes a lab HTTP server reads before answering anyway.
const REQUEST_HEAD_CAP: usize = 8 * 1024;
/// A ClientHello record is at most this long (one record: 2^14 + header).
const CLIENT_HELLO_CAP: usize = (1 << 14) + 5;

/// Added to every lab leaf's `not_after` (see `leaf_params`).
const NOT_AFTER_SLACK: TimeDuration = TimeDuration::hours(1);

/// The security headers every lab HTTPS answer carries unless its case is about them.
pub const GOOD_HEADERS: &[(&str, &str)] = &[
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'",
    ),
];

// ---------------------------------------------------------------- certificates

/// A certificate authority of the lab.
pub struct LabCa {
    pub der: CertificateDer<'static>,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, as a server presents them.
pub struct LabCert {
    /// Leaf first, then the intermediate when issued by the lab CA.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The lab's private PKI: a root (trusted via `--ca-file`) and an intermediate that issues the
/// leaves. Validity is relative to `now`, so nothing ages.
pub struct LabPki {
    pub root: LabCa,
    pub intermediate: LabCa,
    pub now: OffsetDateTime,
}

fn ca_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name
        .push(DnType::OrganizationName, "posture lab");
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = now - TimeDuration::days(365);
    p.not_after = now + TimeDuration::days(3650);
    Ok(p)
}

fn leaf_params(
    names: &[&str],
    now: OffsetDateTime,
    from_days: i64,
    to_days: i64,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("lab"));
    p.not_before = now + TimeDuration::days(from_days);
    // An hour of slack: the scan's "now" comes a moment after the lab's, and a certificate
    // made to expire "in 10 days" should read `days_left = 10`, not 9.
    p.not_after = now + TimeDuration::days(to_days) + NOT_AFTER_SLACK;
    Ok(p)
}

fn to_io(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("lab certificate: {e}"))
}

impl LabPki {
    /// A root and an intermediate valid from a year ago for ten years.
    pub fn new(now: OffsetDateTime) -> io::Result<LabPki> {
        LabPki::with_intermediate_days(now, 3650)
    }

    /// Like [`LabPki::new`], with an intermediate that expires `now + intermediate_to_days`.
    pub fn with_intermediate_days(
        now: OffsetDateTime,
        intermediate_to_days: i64,
    ) -> io::Result<LabPki> {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let root_key = KeyPair::generate().map_err(to_io)?;
        let root_params = ca_params("posture lab root CA", now).map_err(to_io)?;
        let root_cert = root_params.self_signed(&root_key).map_err(to_io)?;
        let root_issuer = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate().map_err(to_io)?;
        let mut inter_params = ca_params("posture lab intermediate CA", now).map_err(to_io)?;
        inter_params.not_after = now + TimeDuration::days(intermediate_to_days) + NOT_AFTER_SLACK;
        let inter_cert = inter_params
            .signed_by(&inter_key, &root_issuer)
            .map_err(to_io)?;
        Ok(LabPki {
            root: LabCa {
                der: root_cert.der().clone(),
                pem: root_cert.pem(),
                issuer: root_issuer,
            },
            intermediate: LabCa {
                der: inter_cert.der().clone(),
                pem: inter_cert.pem(),
                issuer: Issuer::new(inter_params, inter_key),
            },
            now,
        })
    }

    /// A leaf for `names` valid from `now + from_days` to `now + to_days`, issued by the
    /// intermediate; the chain is leaf + intermediate (the root is the trust anchor).
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64) -> io::Result<LabCert> {
        let key = KeyPair::generate().map_err(to_io)?;
        self.leaf_with_key(names, &key, from_days, to_days)
    }

    /// Like [`LabPki::leaf`], for a key made elsewhere (an RSA key from the openssl CLI: ring
    /// cannot generate one).
    pub fn leaf_with_key(
        &self,
        names: &[&str],
        key: &KeyPair,
        from_days: i64,
        to_days: i64,
    ) -> io::Result<LabCert> {
        let cert = leaf_params(names, self.now, from_days, to_days)
            .and_then(|p| p.signed_by(key, &self.intermediate.issuer))
            .map_err(to_io)?;
        Ok(LabCert {
            chain: vec![cert.der().clone(), self.intermediate.der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// A self-signed leaf for `names` (no CA involved).
    pub fn self_signed(&self, names: &[&str], from_days: i64, to_days: i64) -> io::Result<LabCert> {
        let key = KeyPair::generate().map_err(to_io)?;
        let cert = leaf_params(names, self.now, from_days, to_days)
            .and_then(|p| p.self_signed(&key))
            .map_err(to_io)?;
        Ok(LabCert {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// A leaf whose public key is a 1024-bit RSA key, issued by the intermediate (see the
    /// module docs: only for the raw responder, which never uses the key). Chain: leaf +
    /// intermediate, DER.
    pub fn rsa1024_leaf(&self, names: &[&str], to_days: i64) -> io::Result<Vec<Vec<u8>>> {
        let key = Rsa1024PublicKey::random();
        let cert = leaf_params(names, self.now, -1, to_days)
            .and_then(|p| p.signed_by(&key, &self.intermediate.issuer))
            .map_err(to_io)?;
        Ok(vec![
            cert.der().as_ref().to_vec(),
            self.intermediate.der.as_ref().to_vec(),
        ])
    }
}

/// An RSA public key with a random 1024-bit modulus (top bit set, odd) and exponent 65537.
struct Rsa1024PublicKey {
    /// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    der: Vec<u8>,
}

impl Rsa1024PublicKey {
    fn random() -> Rsa1024PublicKey {
        use ring::rand::SecureRandom;
        let mut modulus = [0u8; 128];
        // A failing system RNG leaves a fixed pattern: still a 1024-bit modulus.
        if ring::rand::SystemRandom::new().fill(&mut modulus).is_err() {
            modulus = [0x5a; 128];
        }
        modulus[0] |= 0x80;
        modulus[127] |= 1;
        // INTEGER 00 || modulus (the leading zero keeps it positive), INTEGER 65537.
        let mut body = vec![0x02, 0x81, 129, 0x00];
        body.extend_from_slice(&modulus);
        body.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        Rsa1024PublicKey { der }
    }
}

impl PublicKeyData for Rsa1024PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.der
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        // Only its key OIDs (rsaEncryption, NULL) are written into the certificate.
        &rcgen::PKCS_RSA_SHA256
    }
}

// ---------------------------------------------------------------- servers

/// A running lab server; stops when dropped.
pub struct LabServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LabServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts on `listener` forever, serving each client with `serve` under the client deadline.
fn spawn_accept_loop<F, Fut>(listener: TcpListener, serve: F) -> io::Result<LabServer>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let fut = serve(stream);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLIENT_DEADLINE, fut).await;
            });
        }
    });
    Ok(LabServer { addr, task })
}

async fn bind_loopback() -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// An HTTP/1.1 response with `status`, `headers` and a short HTML body.
pub fn http_response(status: u16, reason: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let body = "<!doctype html><title>posture lab</title><p>posture lab</p>\n";
    let mut r = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!(
        "Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    r.into_bytes()
}

/// An HTTP/1.1 response with `status`, a `text/plain` `body` (an MTA-STS policy, a robots.txt).
pub fn http_text_response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads a request head (bounded) and writes `response`.
async fn answer_http<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, response: &[u8]) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < REQUEST_HEAD_CAP {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = s.write_all(response).await;
    let _ = s.shutdown().await;
}

/// A plain HTTP server answering every request with `response`.
pub async fn serve_http(response: Vec<u8>) -> io::Result<LabServer> {
    let response = Arc::new(response);
    spawn_accept_loop(bind_loopback().await?, move |stream| {
        let response = response.clone();
        async move { answer_http(stream, &response).await }
    })
}

/// A rustls acceptor speaking TLS 1.2 and 1.3, presenting `cert`, offering `alpn`.
fn tls_acceptor(cert: LabCert, alpn: &[&[u8]]) -> io::Result<tokio_rustls::TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .map_err(io::Error::other)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A TLS 1.2/1.3 server (rustls, no ALPN) presenting `cert`: every client gets the handshake,
/// then a close_notify. (Not in the demo: for the probe's tests.)
pub async fn serve_tls(cert: LabCert) -> io::Result<LabServer> {
    let acceptor = tls_acceptor(cert, &[])?;
    spawn_accept_loop(bind_loopback().await?, move |stream| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let _ = tls.shutdown().await;
            }
        }
    })
}

/// A TLS 1.2/1.3 server (rustls, ALPN `http/1.1`) presenting `cert`, answering every HTTP
/// request with `response`.
pub async fn serve_https(cert: LabCert, response: Vec<u8>) -> io::Result<LabServer> {
    let acceptor = tls_acceptor(cert, &[b"http/1.1"])?;
    let response = Arc::new(response);
    spawn_accept_loop(bind_loopback().await?, move |stream| {
        let (acceptor, response) = (acceptor.clone(), response.clone());
        async move {
            if let Ok(tls) = acceptor.accept(stream).await {
                answer_http(tls, &response).await;
            }
        }
    })
}

/// An SMTP server that greets like Postfix (so its banner reads as SMTP on any port), offers
/// STARTTLS when `offer`, and upgrades into rustls presenting `cert`. (Not in the demo: for the
/// tests.)
pub async fn serve_smtp_starttls(cert: LabCert, offer: bool) -> io::Result<LabServer> {
    let acceptor = tls_acceptor(cert, &[])?;
    spawn_accept_loop(bind_loopback().await?, move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let _ = smtp_session(stream, acceptor, offer).await;
        }
    })
}

async fn smtp_session(
    mut s: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    offer: bool,
) -> Option<()> {
    async fn line(s: &mut TcpStream) -> Option<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while out.len() < 512 {
            if s.read(&mut b).await.ok()? == 0 {
                return None;
            }
            out.push(b[0]);
            if b[0] == b'\n' {
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
        }
        None
    }
    s.write_all(b"220 mail.lab.test ESMTP Postfix (Debian/GNU)\r\n")
        .await
        .ok()?;
    loop {
        let l = line(&mut s).await?;
        let cmd = l.trim().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            let caps: &[u8] = if offer {
                b"250-mail.lab.test\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            } else {
                b"250-mail.lab.test\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
            };
            s.write_all(caps).await.ok()?;
        } else if cmd == "STARTTLS" && offer {
            s.write_all(b"220 2.0.0 Ready to start TLS\r\n")
                .await
                .ok()?;
            let mut tls = acceptor.accept(s).await.ok()?;
            return tls.shutdown().await.ok();
        } else if cmd == "QUIT" {
            s.write_all(b"221 2.0.0 Bye\r\n").await.ok()?;
            return Some(());
        } else {
            s.write_all(b"502 5.5.2 Error: command not recognized\r\n")
                .await
                .ok()?;
        }
    }
}

/// Suites the legacy responder accepts, in its order of preference: RSA key exchange only
/// (no forward secrecy), AES-CBC first, 3DES last.
pub const LEGACY_SUITES: [u16; 3] = [0x002f, 0x0035, 0x000a];
/// The only version the legacy responder speaks: TLS 1.0.
pub const LEGACY_VERSION: u16 = 0x0301;

/// A legacy-only TLS server (see the module docs): TLS 1.0 with RSA key exchange, presenting
/// `chain` (DER, leaf first) in the plaintext Certificate message.
pub async fn serve_legacy_tls(chain: Vec<Vec<u8>>) -> io::Result<LabServer> {
    serve_tls_records(move |record| legacy_answer(record, &chain)).await
}

/// A raw responder: reads each client's first TLS record (its ClientHello), writes
/// `answer(record)` and closes. The legacy server, and hand-made flights in the tests.
pub async fn serve_tls_records(
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> io::Result<LabServer> {
    let answer = Arc::new(answer);
    spawn_accept_loop(bind_loopback().await?, move |mut stream| {
        let answer = answer.clone();
        async move {
            let Some(record) = read_record(&mut stream).await else {
                return;
            };
            let _ = stream.write_all(&answer(&record)).await;
            let _ = stream.shutdown().await;
        }
    })
}

/// Reads one TLS record (bounded).
async fn read_record(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() >= 5 {
            let want = 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]));
            if buf.len() >= want {
                buf.truncate(want);
                return Some(buf);
            }
        }
        if buf.len() > CLIENT_HELLO_CAP {
            return None;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The legacy responder's answer to one ClientHello record (pure): ServerHello (TLS 1.0,
/// the first suite of [`LEGACY_SUITES`] offered) + Certificate + ServerHelloDone, or a
/// handshake_failure alert when the client offers neither TLS 1.0 nor one of those suites.
pub fn legacy_answer(record: &[u8], chain: &[Vec<u8>]) -> Vec<u8> {
    use tls_parser::{parse_tls_plaintext, TlsMessage, TlsMessageHandshake};
    const ALERT_HANDSHAKE_FAILURE: [u8; 7] = [21, 3, 1, 0, 2, 2, 40];
    let offer = match parse_tls_plaintext(record) {
        Ok((_, rec)) => match rec.msg.first() {
            Some(TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch))) => Some((
                ch.version.0,
                ch.ciphers.iter().map(|c| c.0).collect::<Vec<u16>>(),
            )),
            _ => None,
        },
        Err(_) => None,
    };
    let Some((version, offered)) = offer else {
        return ALERT_HANDSHAKE_FAILURE.to_vec();
    };
    let Some(suite) = LEGACY_SUITES.iter().find(|s| offered.contains(s)) else {
        return ALERT_HANDSHAKE_FAILURE.to_vec();
    };
    if version < LEGACY_VERSION {
        return ALERT_HANDSHAKE_FAILURE.to_vec();
    }
    // ServerHello: version, random, empty session id, suite, null compression.
    let mut hello = LEGACY_VERSION.to_be_bytes().to_vec();
    hello.extend_from_slice(&[0x4c; 32]);
    hello.push(0);
    hello.extend_from_slice(&suite.to_be_bytes());
    hello.push(0);
    let mut certs = Vec::new();
    for der in chain {
        certs.extend_from_slice(&u24(der.len()));
        certs.extend_from_slice(der);
    }
    let mut cert_body = u24(certs.len()).to_vec();
    cert_body.extend(certs);

    let mut handshake = Vec::new();
    for (kind, body) in [(2u8, hello), (11, cert_body), (14, Vec::new())] {
        handshake.push(kind);
        handshake.extend_from_slice(&u24(body.len()));
        handshake.extend(body);
    }
    let mut out = Vec::new();
    for part in handshake.chunks(1 << 14) {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn u24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

// ---------------------------------------------------------------- the lab

/// One case of the lab: a server, the URL to scan it by, and the findings it must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsLabCase {
    /// Short name (`expired`, `legacy`, …).
    pub name: &'static str,
    /// What is wrong with it, for the demo's listing.
    pub description: &'static str,
    /// The DNS name under [`LAB_ZONE`].
    pub host: String,
    pub addr: SocketAddr,
    /// The scan target (`https://expired.lab.test:PORT/`).
    pub url: String,
    /// Exactly the tls.* and http.* rule ids the scan of `url` must report.
    pub expect: Vec<&'static str>,
}

/// The running TLS/HTTP lab.
pub struct TlsLab {
    /// URL targets for the scan (one per case).
    pub targets: Vec<String>,
    /// The lab root CA (PEM), for `--ca-file`.
    pub ca_pem: String,
    /// Names the lab DNS server must answer (all on 127.0.0.1).
    pub names: Vec<(String, IpAddr)>,
    pub cases: Vec<TlsLabCase>,
    servers: Vec<LabServer>,
}

impl TlsLab {
    /// The [`LAB_ZONE`] zone file with an A record for every case name.
    pub fn zone_text(&self) -> String {
        let mut z = format!(
            "$ORIGIN {LAB_ZONE}.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n"
        );
        for (name, ip) in &self.names {
            let label = name
                .strip_suffix(&format!(".{LAB_ZONE}"))
                .unwrap_or(name.as_str());
            let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
            z.push_str(&format!("{label} IN {rtype} {ip}\n"));
        }
        z
    }

    /// Servers running (one per case).
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }
}

/// Start every TLS/HTTP case on 127.0.0.1 with certificates relative to `now`.
pub async fn start_tls_lab(now: OffsetDateTime) -> io::Result<TlsLab> {
    let pki = LabPki::new(now)?;
    let name = |label: &str| format!("{label}.{LAB_ZONE}");
    let good = http_response(200, "OK", GOOD_HEADERS);
    let mut cases = Vec::new();
    let mut servers = Vec::new();
    let mut add = |case_name: &'static str,
                   description: &'static str,
                   host: String,
                   scheme: &str,
                   server: LabServer,
                   expect: Vec<&'static str>| {
        let url = format!("{scheme}://{host}:{}/", server.addr.port());
        cases.push(TlsLabCase {
            name: case_name,
            description,
            host,
            addr: server.addr,
            url,
            expect,
        });
        servers.push(server);
    };

    let h = name("clean");
    let s = serve_https(pki.leaf(&[&h], -30, 335)?, good.clone()).await?;
    add(
        "clean",
        "nothing wrong (the control case)",
        h,
        "https",
        s,
        vec![],
    );

    let h = name("expired");
    let s = serve_https(pki.leaf(&[&h], -100, -10)?, good.clone()).await?;
    add(
        "expired",
        "leaf certificate expired 10 days ago",
        h,
        "https",
        s,
        vec!["tls.cert.expired"],
    );

    let h = name("expiring");
    let s = serve_https(pki.leaf(&[&h], -80, 10)?, good.clone()).await?;
    add(
        "expiring",
        "leaf certificate expires in 10 days",
        h,
        "https",
        s,
        vec!["tls.cert.expiring"],
    );

    let h = name("selfsigned");
    let s = serve_https(pki.self_signed(&[&h], -1, 364)?, good.clone()).await?;
    add(
        "self-signed",
        "self-signed leaf certificate",
        h,
        "https",
        s,
        vec!["tls.cert.self-signed"],
    );

    let h = name("wronghost");
    let s = serve_https(pki.leaf(&[&name("other")], -1, 200)?, good.clone()).await?;
    add(
        "wrong-host",
        "certificate issued for other.lab.test",
        h,
        "https",
        s,
        vec!["tls.cert.hostname-mismatch"],
    );

    let h = name("legacy");
    let s = serve_legacy_tls(pki.rsa1024_leaf(&[&h], 200)?).await?;
    // `tls://`: the responder speaks TLS records only, no HTTP behind them.
    add(
        "legacy",
        "TLS 1.0 only, RSA key exchange and 3DES, 1024-bit RSA key",
        h,
        "tls",
        s,
        vec![
            "tls.cert.weak-key",
            "tls.cipher.no-forward-secrecy",
            "tls.cipher.weak",
            "tls.protocol.legacy",
            "tls.protocol.no-tls13",
        ],
    );

    let h = name("nohsts");
    let no_hsts: Vec<(&str, &str)> = GOOD_HEADERS[1..].to_vec();
    let s = serve_https(
        pki.leaf(&[&h], -30, 335)?,
        http_response(200, "OK", &no_hsts),
    )
    .await?;
    add(
        "no-hsts",
        "HTTPS without Strict-Transport-Security",
        h,
        "https",
        s,
        vec!["http.hsts.missing"],
    );

    let h = name("shop");
    let mut disclosing: Vec<(&str, &str)> = GOOD_HEADERS.to_vec();
    disclosing.push(("Server", "Apache/2.4.41 (Ubuntu)"));
    disclosing.push(("X-Powered-By", "PHP/7.4.3"));
    let s = serve_https(
        pki.leaf(&[&h], -30, 335)?,
        http_response(200, "OK", &disclosing),
    )
    .await?;
    add(
        "version-disclosure",
        "Server and X-Powered-By headers disclose versions",
        h,
        "https",
        s,
        vec!["http.server.version-disclosure"],
    );

    let h = name("www");
    let mut plain: Vec<(&str, &str)> = GOOD_HEADERS[1..].to_vec();
    plain.push(("Server", "nginx"));
    let s = serve_http(http_response(200, "OK", &plain)).await?;
    add(
        "no-redirect",
        "plain HTTP served without a redirect to HTTPS",
        h,
        "http",
        s,
        vec!["http.redirect.missing"],
    );

    let mut names: Vec<(String, IpAddr)> = cases
        .iter()
        .map(|c| (c.host.clone(), IpAddr::V4(Ipv4Addr::LOCALHOST)))
        .collect();
    names.sort();
    names.dedup();
    Ok(TlsLab {
        targets: cases.iter().map(|c| c.url.clone()).collect(),
        ca_pem: pki.root.pem.clone(),
        names,
        cases,
        servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tls::{probe_tls, TlsProbeConfig, TrustStore};

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn config(ca_pem: &str, now: OffsetDateTime) -> TlsProbeConfig {
        TlsProbeConfig {
            timeout: Duration::from_millis(700),
            probe_deadline: Duration::from_millis(1500),
            chain_certs: 10,
            trust: Arc::new(TrustStore::with_extra_pem(ca_pem.as_bytes()).unwrap()),
            now,
        }
    }

    #[test]
    fn rsa1024_key_is_a_1024_bit_rsa_key() {
        let pki = LabPki::new(now()).unwrap();
        let chain = pki.rsa1024_leaf(&["w.lab.test"], 30).unwrap();
        let c = crate::probe::tls::cert::parse_cert(&chain[0], 0, pki.now).unwrap();
        let facts = c.facts;
        assert_eq!((facts.key_type.as_str(), facts.key_bits), ("rsa", 1024));
        assert_eq!(facts.sans, ["w.lab.test"]);
        assert!(!facts.self_signed);
    }

    #[test]
    fn legacy_answer_refuses_what_it_does_not_speak() {
        assert_eq!(legacy_answer(b"garbage", &[])[0], 21);
        assert_eq!(legacy_answer(&[], &[])[0], 21);
    }

    #[tokio::test]
    async fn legacy_responder_reads_as_tls10_only_with_a_weak_key() {
        let now = now();
        let pki = LabPki::new(now).unwrap();
        let server = serve_legacy_tls(pki.rsa1024_leaf(&["legacy.lab.test"], 200).unwrap())
            .await
            .unwrap();
        let r = probe_tls(
            server.addr,
            Some("legacy.lab.test"),
            None,
            &config(&pki.root.pem, now),
        )
        .await;
        assert_eq!(r.tls.versions, ["tls1.0"], "{:?}", r.tls);
        assert_eq!(r.tls.weak_ciphers, ["3des"]);
        assert_eq!(r.tls.forward_secrecy, Some(false));
        assert_eq!(r.tls.chain_source.as_deref(), Some("raw"));
        assert_eq!(r.tls.trusted, Some(true), "{:?}", r.tls.trust_error);
        assert_eq!(r.tls.hostname_matches, Some(true));
        let c = r.cert.unwrap();
        assert_eq!(c.key_bits, 1024);
    }

    #[tokio::test]
    async fn lab_cases_are_distinct_servers_with_names_in_the_zone() {
        let lab = start_tls_lab(now()).await.unwrap();
        assert_eq!(lab.len(), lab.cases.len());
        assert_eq!(lab.targets.len(), lab.cases.len());
        let zone = lab.zone_text();
        for c in &lab.cases {
            let label = c.host.strip_suffix(".lab.test").unwrap();
            assert!(
                zone.contains(&format!("\n{label} IN A 127.0.0.1\n")),
                "{zone}"
            );
            assert!(c.url.contains(&c.addr.port().to_string()));
        }
        crate::lab::dns_server::check_zone(LAB_ZONE, &zone).unwrap();
        assert!(lab.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
