//! The HTTP probe: `GET /` on one endpoint (plain or TLS), own redirect handling, typed facts.
//!
//! # Why a small HTTP/1.1 client instead of reqwest
//!
//! The probe must end every hostile exchange as facts within fixed bounds. reqwest (through
//! hyper) cannot give the bounds we promise: the response head cap is hyper's internal
//! `max_buf_size` (~408 KiB), which reqwest does not expose, so `http_head_bytes` could not be
//! enforced; a head with more fields than `http1_max_headers` fails as a whole, losing the
//! status and `Server` facts we want to keep (the first 100 fields plus a truncation flag);
//! and the body and head are only available after hyper has accepted them. A hand-written
//! HTTP/1.1 exchange over tokio (+ tokio-rustls) is small because we only ever send one
//! `GET` with `Connection: close`, and it gives exact bounds on every byte, a pure head
//! parser tested with byte fixtures (`head`), and no resolver anywhere in the code path: we
//! connect to the scanned address and send the user's name as SNI and `Host`.
//!
//! Redirects are followed by hand: same host only (any port, either scheme), at most
//! `http_redirects` hops; a redirect elsewhere is recorded, not followed. One deadline covers
//! the whole chain, and every connect, handshake, write and read also has the per-step
//! timeout, so a server that drips bytes cannot hold the probe past the deadline.

pub mod analyze;
pub mod head;
pub mod url;

use crate::engine::limits::Limits;
use crate::fact::http::{HttpFacts, Redirect};
use head::{BodyCounter, Framing, ResponseHead};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::{HttpUrl, Location};

/// Sent with every request: browser-shaped so servers answer as they would to a visitor (some
/// WAFs refuse bare tool names), and naming posture so operators can identify the scan.
pub const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; posture/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8 * 1024;

/// Interim (1xx) responses skipped before the final one; a server streaming `100 Continue`
/// forever is hostile, not slow.
const MAX_INTERIM_RESPONSES: usize = 8;

/// Status codes whose `Location` a browser follows (RFC 9110 §15.4).
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// The limits one HTTP probe runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbeConfig {
    /// Per step: connect, TLS handshake, write, each read.
    pub timeout: Duration,
    /// The whole probe, redirects included.
    pub deadline: Duration,
    /// Response head (status line + fields) kept per response.
    pub head_bytes: usize,
    /// Header fields kept per response.
    pub max_headers: usize,
    /// Body bytes read of each response.
    pub body_bytes: usize,
    /// Same-host redirects followed.
    pub max_redirects: usize,
}

impl HttpProbeConfig {
    pub fn from_limits(limits: &Limits) -> HttpProbeConfig {
        HttpProbeConfig {
            timeout: limits.timeout(),
            deadline: limits.probe_deadline(),
            head_bytes: limits.http_head_bytes,
            max_headers: limits.http_headers,
            body_bytes: limits.http_body_bytes,
            max_redirects: limits.http_redirects,
        }
    }
}

impl Default for HttpProbeConfig {
    fn default() -> Self {
        HttpProbeConfig::from_limits(&Limits::default())
    }
}

/// Probe `addr` over HTTP (`tls == false`) or HTTPS: `GET /` with `host` (the name the user
/// gave, or the IP text) as `Host` and, over TLS, as SNI (none for an IP). Never fails: every
/// failure is recorded in `HttpFacts::error`, with whatever was observed before it.
pub async fn probe_http(
    addr: SocketAddr,
    host: &str,
    tls: bool,
    cfg: &HttpProbeConfig,
) -> HttpFacts {
    let deadline = Instant::now() + cfg.deadline;
    let first = HttpUrl::root(tls, host, addr.port());
    if !first.host.bytes().all(|b| b.is_ascii_graphic()) || first.host.is_empty() {
        return HttpFacts {
            scheme: first.scheme().into(),
            url: first.to_string(),
            final_url: first.to_string(),
            error: Some(format!("invalid host {host:?}")),
            ..HttpFacts::default()
        };
    }
    let mut hops: Vec<Hop> = Vec::new();
    let mut url = first.clone();
    let mut redirects_truncated = false;
    loop {
        let exchange = fetch(addr.ip(), &url, cfg, deadline).await;
        let mut hop = Hop {
            url: url.clone(),
            exchange,
            redirect: None,
            next: None,
        };
        let mut follow = None;
        if let Some((status, location)) = hop.exchange.head.as_ref().and_then(redirect_of) {
            let (resolved, next) = match url::resolve_location(&url, &location) {
                Ok(Location::Http(u)) => (u.to_string(), Some(u)),
                Ok(Location::Other(s)) => (s, None),
                Err(_) => (String::new(), None),
            };
            let followed_so_far = hops.len();
            let followable = next.as_ref().is_some_and(|n| n.same_host(&first));
            let followed = followable && followed_so_far < cfg.max_redirects;
            redirects_truncated = followable && !followed;
            if followed {
                follow = next.clone();
            }
            hop.redirect = Some(Redirect {
                status,
                location,
                url: resolved,
                followed,
            });
            hop.next = next;
        }
        hops.push(hop);
        match follow {
            Some(next) => url = next,
            None => break,
        }
    }
    facts_from_hops(&first, &hops, redirects_truncated)
}

/// One request of the chain and what came of it.
#[derive(Debug, Clone)]
struct Hop {
    url: HttpUrl,
    exchange: Exchange,
    redirect: Option<Redirect>,
    /// Where the redirect points, when it is an http(s) URL (followed or not).
    next: Option<HttpUrl>,
}

/// What one request observed.
#[derive(Debug, Clone, Default)]
struct Exchange {
    head: Option<ResponseHead>,
    head_truncated: bool,
    body_bytes: u64,
    body_truncated: bool,
    error: Option<String>,
}

impl Exchange {
    fn failed(error: String) -> Exchange {
        Exchange {
            error: Some(error),
            ..Exchange::default()
        }
    }
}

/// `(status, Location)` when `head` is a redirect a browser would follow.
fn redirect_of(head: &ResponseHead) -> Option<(u16, String)> {
    if !REDIRECT_STATUSES.contains(&head.status) {
        return None;
    }
    head.first("location").map(|l| (head.status, l.to_string()))
}

/// Build the facts from the hops (pure).
fn facts_from_hops(first: &HttpUrl, hops: &[Hop], redirects_truncated: bool) -> HttpFacts {
    let mut f = HttpFacts {
        scheme: first.scheme().into(),
        url: first.to_string(),
        final_url: first.to_string(),
        redirects_truncated,
        ..HttpFacts::default()
    };
    let responses: Vec<(&Hop, &ResponseHead)> = hops
        .iter()
        .filter_map(|h| h.exchange.head.as_ref().map(|head| (h, head)))
        .collect();
    if let Some(head) = hops.first().and_then(|h| h.exchange.head.as_ref()) {
        f.status = head.status;
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &head.fields {
            headers
                .entry(name.clone())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        f.headers = headers;
    }
    f.server = responses.iter().find_map(|(_, h)| h.joined("server"));
    f.powered_by = responses.iter().find_map(|(_, h)| h.joined("x-powered-by"));
    f.redirects = hops.iter().filter_map(|h| h.redirect.clone()).collect();
    if let Some((hop, head)) = responses.last() {
        f.final_url = hop.url.to_string();
        f.final_status = head.status;
        f.body_bytes = hop.exchange.body_bytes;
        f.body_truncated = hop.exchange.body_truncated;
        f.csp = head.joined("content-security-policy");
        f.x_frame_options = head.joined("x-frame-options");
        f.x_content_type_options = head.joined("x-content-type-options");
        f.frame_ancestors = f
            .csp
            .as_deref()
            .is_some_and(analyze::csp_has_frame_ancestors);
        f.missing_headers = analyze::missing_headers(
            f.csp.as_deref(),
            f.x_frame_options.as_deref(),
            f.x_content_type_options.as_deref(),
        );
    }
    let https_targets = hops
        .iter()
        .filter_map(|h| h.next.as_ref())
        .filter(|n| n.https);
    if !first.https {
        f.redirects_to_https = https_targets.clone().any(|n| n.same_host(first));
    }
    f.redirects_to_https_other_host = hops
        .last()
        .and_then(|h| h.next.as_ref())
        .is_some_and(|n| n.https && !n.same_host(first));
    // RFC 6797 §8.1: only the first STS field of a response over secure transport counts;
    // on plain HTTP it is ignored (§8.1, §7.2).
    for (hop, head) in responses.iter().filter(|(h, _)| h.url.https) {
        if let Some(value) = head.first("strict-transport-security") {
            match analyze::parse_hsts(value) {
                Ok(hsts) => {
                    f.hsts = Some(hsts);
                    break;
                }
                Err(e) => {
                    f.hsts_error
                        .get_or_insert_with(|| format!("{}: {e}", hop.url));
                }
            }
        }
    }
    if f.hsts.is_some() {
        f.hsts_error = None;
    }
    f.hsts_max_age = f.hsts.as_ref().map_or(0, |h| h.max_age);
    for (_, head) in &responses {
        for name in [
            "server",
            "x-powered-by",
            "x-aspnet-version",
            "x-aspnetmvc-version",
        ] {
            for (_, value) in head.fields.iter().filter(|(n, _)| n == name) {
                for token in analyze::version_tokens(value) {
                    let item = format!("{name}: {token}");
                    if !f.version_disclosures.contains(&item) {
                        f.version_disclosures.push(item);
                    }
                }
            }
        }
    }
    f.server_version_disclosed = !f.version_disclosures.is_empty();
    f.head_truncated = hops.iter().any(|h| h.exchange.head_truncated);
    f.headers_truncated = responses.iter().any(|(_, h)| h.fields_dropped > 0);
    f.error = hops.iter().enumerate().find_map(|(i, h)| {
        h.exchange.error.as_ref().map(|e| {
            if i == 0 {
                e.clone()
            } else {
                format!("{}: {e}", h.url)
            }
        })
    });
    f
}

/// Run one step of I/O under the per-step timeout and the probe deadline.
async fn step<F: Future>(
    deadline: Instant,
    timeout: Duration,
    what: &str,
    fut: F,
) -> Result<F::Output, String> {
    let now = Instant::now();
    if now >= deadline {
        return Err(format!("{what}: probe deadline reached"));
    }
    let per_step = now + timeout;
    let until = per_step.min(deadline);
    tokio::time::timeout_at(until, fut).await.map_err(|_| {
        if until == deadline {
            format!("{what}: probe deadline reached")
        } else {
            format!("{what}: timed out after {} ms", timeout.as_millis())
        }
    })
}

/// One request on a fresh connection to `ip` at `url`'s port.
async fn fetch(ip: IpAddr, url: &HttpUrl, cfg: &HttpProbeConfig, deadline: Instant) -> Exchange {
    let addr = SocketAddr::new(ip, url.port);
    let tcp = match step(deadline, cfg.timeout, "connect", TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Exchange::failed(format!("connect: {e}")),
        Err(e) => return Exchange::failed(e),
    };
    let request = request_bytes(url);
    if !url.https {
        return exchange(tcp, &request, cfg, deadline).await;
    }
    let config = match tls_config() {
        Ok(c) => c,
        Err(e) => return Exchange::failed(e.clone()),
    };
    // For an IP there is no SNI (RFC 6066 §3 forbids literal addresses); rustls sends none.
    let server_name = match url.ip() {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => match ServerName::try_from(url.host.clone()) {
            Ok(name) => name,
            Err(e) => return Exchange::failed(format!("TLS server name {:?}: {e}", url.host)),
        },
    };
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    match step(
        deadline,
        cfg.timeout,
        "TLS handshake",
        connector.connect(server_name, tcp),
    )
    .await
    {
        Ok(Ok(stream)) => exchange(stream, &request, cfg, deadline).await,
        Ok(Err(e)) => Exchange::failed(format!("TLS handshake: {e}")),
        Err(e) => Exchange::failed(e),
    }
}

fn request_bytes(url: &HttpUrl) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.target,
        url.authority()
    )
    .into_bytes()
}

/// A read that treats a TLS peer closing without close_notify as the end of the stream:
/// many servers do that after `Connection: close`, and the body was delimited anyway.
async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> std::io::Result<usize> {
    match stream.read(buf).await {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

/// Send the request and read the response head and (capped) body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    cfg: &HttpProbeConfig,
    deadline: Instant,
) -> Exchange {
    let mut ex = Exchange::default();
    let send = async {
        stream.write_all(request).await?;
        stream.flush().await
    };
    match step(deadline, cfg.timeout, "sending the request", send).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Exchange::failed(format!("sending the request: {e}")),
        Err(e) => return Exchange::failed(e),
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut interim = 0;
    let (response, rest) = loop {
        if let Some(end) = head::find_head_end(&buf) {
            match head::parse_head(&buf[..end], cfg.max_headers) {
                Ok(h) if h.is_interim() => {
                    interim += 1;
                    if interim > MAX_INTERIM_RESPONSES {
                        ex.error = Some(format!(
                            "more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
                        ));
                        return ex;
                    }
                    buf.drain(..end);
                    continue;
                }
                Ok(h) => break (h, buf.split_off(end)),
                Err(e) => {
                    ex.error = Some(e.to_string());
                    return ex;
                }
            }
        }
        if let Err(e) = head::could_be_http(&buf) {
            ex.error = Some(e.to_string());
            return ex;
        }
        if buf.len() >= cfg.head_bytes {
            // Keep what fits: the status line and the complete field lines before the cap.
            match head::parse_head(head::complete_lines(&buf), cfg.max_headers) {
                Ok(h) => {
                    ex.head = Some(h);
                    ex.head_truncated = true;
                    ex.error = Some(format!(
                        "response head longer than {} bytes; body not read",
                        cfg.head_bytes
                    ));
                }
                Err(e) => ex.error = Some(e.to_string()),
            }
            return ex;
        }
        let room = (cfg.head_bytes - buf.len()).min(READ_CHUNK);
        let read = step(
            deadline,
            cfg.timeout,
            "reading the response head",
            read_some(&mut stream, &mut chunk[..room]),
        )
        .await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                ex.error = Some(format!("reading the response head: {e}"));
                return ex;
            }
            Err(e) => {
                ex.error = Some(e);
                return ex;
            }
        };
        if n == 0 {
            if buf.is_empty() {
                ex.error = Some("connection closed without a response".into());
            } else {
                // A head cut by the close: keep the complete lines if they are HTTP.
                ex.head = head::parse_head(head::complete_lines(&buf), cfg.max_headers).ok();
                ex.error = Some("connection closed inside the response head".into());
            }
            return ex;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut body = BodyCounter::new(Framing::of(&response), cfg.body_bytes);
    ex.head = Some(response);
    let mut result = body.feed(&rest);
    while result.is_ok() && !body.done() {
        let read = step(
            deadline,
            cfg.timeout,
            "reading the body",
            read_some(&mut stream, &mut chunk),
        )
        .await;
        match read {
            Ok(Ok(0)) => {
                if !body.eof_is_clean() {
                    ex.error = Some("connection closed before the body was complete".into());
                }
                break;
            }
            Ok(Ok(n)) => result = body.feed(&chunk[..n]),
            Ok(Err(e)) => {
                ex.error = Some(format!("reading the body: {e}"));
                break;
            }
            Err(e) => {
                ex.error = Some(e);
                break;
            }
        }
    }
    if let Err(e) = result {
        ex.error = Some(format!("body: {e}"));
    }
    ex.body_bytes = body.bytes();
    ex.body_truncated = body.truncated();
    ex
}

/// The client configuration: ring, TLS 1.2/1.3, ALPN `http/1.1`, and a verifier that accepts
/// every certificate. This probe judges HTTP, not TLS — the TLS probe records certificate and
/// handshake verdicts — and a browser user clicking through a warning sees these headers too.
fn tls_config() -> &'static Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        // Other parts of the program may have installed it already; either way ring is in use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let schemes = provider
            .signature_verification_algorithms
            .supported_schemes();
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { schemes }))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    })
}

/// Accepts every certificate and handshake signature (see [`tls_config`]).
#[derive(Debug)]
struct AcceptAnyCertificate {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests;
