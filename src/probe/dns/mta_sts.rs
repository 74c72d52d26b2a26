//! MTA-STS (RFC 8461) and SMTP TLS reporting (RFC 8460).
//!
//! The `_mta-sts` TXT record only announces a policy; the policy itself is a text file fetched
//! over HTTPS from `https://mta-sts.<domain>/.well-known/mta-sts.txt` with a valid certificate
//! and no redirects (RFC 8461 §3.3). The fetch connects to the address our resolver gives for
//! `mta-sts.<domain>` (never the system resolver), with one deadline for connect, handshake and
//! read, and at most [`POLICY_MAX_BYTES`] read.

use super::client::{addresses, rcode_name, txt_strings, DnsClient};
use crate::fact::dns::{MtaStsFacts, TlsRptFacts};
use hickory_proto::rr::RecordType;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// RFC 8461 §3.3: senders may cap the policy at 64 KiB; we read that plus the response head.
pub const POLICY_MAX_BYTES: usize = 64 * 1024 + 8 * 1024;
/// RFC 8461 §3.2: max_age is at most 31557600 (one year).
pub const STS_MAX_AGE: i64 = 31_557_600;

/// The `id` of a `v=STSv1` record (RFC 8461 §3.1). Pure.
pub fn parse_sts_record(txt: &str) -> Result<String, String> {
    let mut fields = txt.split(';').map(|f| f.trim_matches([' ', '\t']));
    if fields.next() != Some("v=STSv1") {
        return Err("record does not start with `v=STSv1`".into());
    }
    let mut id = None;
    for f in fields.filter(|f| !f.is_empty()) {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!("field `{}` is not key=value", clip(f)));
        };
        if k == "id" {
            if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("id `{}` is not 1-32 letters or digits", clip(v)));
            }
            id = Some(v.to_string());
        }
    }
    id.ok_or_else(|| "no `id` field".into())
}

/// True for TXT strings that claim to be MTA-STS records (for counting duplicates).
pub fn is_sts(txt: &str) -> bool {
    txt.starts_with("v=STSv1")
}

/// A parsed MTA-STS policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StsPolicy {
    pub mode: String,
    pub max_age: i64,
    pub mx: Vec<String>,
}

/// Parse a policy file (RFC 8461 §3.2): `key: value` lines, CRLF or LF. Pure.
pub fn parse_sts_policy(body: &str) -> Result<StsPolicy, String> {
    let mut p = StsPolicy::default();
    let mut version = None;
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!("line `{}` is not key: value", clip(line)));
        };
        let v = v.trim();
        match k.trim() {
            "version" => version = Some(v.to_string()),
            "mode" => p.mode = v.to_string(),
            "max_age" => {
                p.max_age = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=STS_MAX_AGE).contains(n))
                    .ok_or_else(|| format!("max_age `{}` is not 0-{STS_MAX_AGE}", clip(v)))?
            }
            "mx" => p.mx.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("policy has no `version: STSv1`".into());
    }
    if !matches!(p.mode.as_str(), "enforce" | "testing" | "none") {
        return Err(format!(
            "mode `{}` is not enforce, testing or none",
            clip(&p.mode)
        ));
    }
    if p.mx.is_empty() && p.mode != "none" {
        return Err("policy lists no `mx`".into());
    }
    Ok(p)
}

/// The rua list of a `v=TLSRPTv1` record (RFC 8460 §3). Pure.
pub fn parse_tlsrpt(txt: &str) -> Result<Vec<String>, String> {
    let mut fields = txt.split(';').map(|f| f.trim_matches([' ', '\t']));
    if fields.next() != Some("v=TLSRPTv1") {
        return Err("record does not start with `v=TLSRPTv1`".into());
    }
    for f in fields {
        if let Some(v) = f.strip_prefix("rua=") {
            let uris: Vec<String> = v.split(',').map(|u| u.trim().to_string()).collect();
            if uris
                .iter()
                .all(|u| u.starts_with("mailto:") || u.starts_with("https:"))
            {
                return Ok(uris);
            }
            return Err("rua must be mailto: or https: URIs".into());
        }
    }
    Err("no `rua` field".into())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A parsed HTTP/1.1 response: status, headers (lowercase names), de-chunked body.
pub type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// Split an HTTP/1.1 response into status, headers and body (de-chunked). Pure.
pub fn parse_http_response(bytes: &[u8]) -> Result<HttpResponse, String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP response head")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("bad status line `{}`", clip(status_line)))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw = &bytes[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Ok((status, headers, body))
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size {
            return Err("chunk cut short".into());
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).ok_or("chunk cut short")?;
    }
}

/// How the policy is fetched.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// 443 outside tests.
    pub https_port: u16,
    /// Roots trusted besides the Mozilla set (tests and the demo lab).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub timeout: Duration,
}

fn tls_config(extra: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, String> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra {
        roots
            .add(c.clone())
            .map_err(|e| format!("extra root: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Fetch `https://<host>/.well-known/mta-sts.txt` from `addr`. One deadline for everything.
pub async fn fetch_policy(
    host: &str,
    addr: SocketAddr,
    cfg: &FetchConfig,
) -> Result<String, String> {
    let config = tls_config(&cfg.extra_roots)?;
    let server_name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let fetch = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let req = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: posture\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match tls.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => n,
                // Servers that close without close_notify: keep what arrived.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            };
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > POLICY_MAX_BYTES {
                return Err(format!("policy larger than {POLICY_MAX_BYTES} bytes"));
            }
        }
        Ok::<Vec<u8>, String>(buf)
    };
    let bytes = tokio::time::timeout(cfg.timeout, fetch)
        .await
        .map_err(|_| "policy fetch timed out".to_string())??;
    let (status, headers, body) = parse_http_response(&bytes)?;
    if status != 200 {
        // RFC 8461 §3.3: redirects must not be followed.
        return Err(format!("policy fetch answered HTTP {status}"));
    }
    let ctype = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if !ctype.starts_with("text/plain") {
        return Err(format!(
            "policy Content-Type is `{}`, not text/plain",
            clip(&ctype)
        ));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `_mta-sts.<domain>` TXT and, when present, the policy.
pub async fn probe_mta_sts(
    client: &DnsClient,
    domain: &str,
    fetch: &FetchConfig,
) -> Result<MtaStsFacts, String> {
    let qname = format!("_mta-sts.{domain}");
    let resp = client
        .lookup(&qname, RecordType::TXT)
        .await
        .map_err(|e| format!("TXT {qname}: {e}"))?;
    if !resp.is_definitive() {
        return Err(format!("TXT {qname}: {}", rcode_name(resp.rcode)));
    }
    let mut f = MtaStsFacts {
        checked: true,
        ..MtaStsFacts::default()
    };
    let recs: Vec<String> = txt_strings(&resp, client.txt_max_bytes)
        .into_iter()
        .filter(|t| is_sts(t))
        .collect();
    match recs.as_slice() {
        [] => return Ok(f),
        [one] => {
            f.record = one.clone();
            match parse_sts_record(one) {
                Ok(id) => {
                    f.record_present = true;
                    f.id = id;
                }
                Err(e) => {
                    f.errors.push(e);
                    return Ok(f);
                }
            }
        }
        several => {
            f.record = several[0].clone();
            f.errors.push(format!(
                "{} MTA-STS records (RFC 8461 §3.1: none applies)",
                several.len()
            ));
            return Ok(f);
        }
    }
    let host = format!("mta-sts.{domain}");
    f.policy_url = format!("https://{host}/.well-known/mta-sts.txt");
    let mut addrs = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        if let Ok(r) = client.lookup(&host, rtype).await {
            addrs.extend(addresses(&r));
        }
    }
    let Some(ip) = addrs.first() else {
        f.errors.push(format!("{host} has no address"));
        return Ok(f);
    };
    match fetch_policy(&host, SocketAddr::new(*ip, fetch.https_port), fetch).await {
        Ok(body) => match parse_sts_policy(&body) {
            Ok(p) => {
                f.policy_fetched = true;
                f.mode = p.mode;
                f.max_age = p.max_age;
                f.mx = p.mx;
                f.valid = f.mode != "none";
                if !f.valid {
                    f.errors.push("policy mode is `none`".into());
                }
            }
            Err(e) => f.errors.push(format!("policy: {e}")),
        },
        Err(e) => f.errors.push(e),
    }
    Ok(f)
}

/// `_smtp._tls.<domain>` TXT (RFC 8460).
pub async fn probe_tls_rpt(client: &DnsClient, domain: &str) -> Result<TlsRptFacts, String> {
    let qname = format!("_smtp._tls.{domain}");
    let resp = client
        .lookup(&qname, RecordType::TXT)
        .await
        .map_err(|e| format!("TXT {qname}: {e}"))?;
    if !resp.is_definitive() {
        return Err(format!("TXT {qname}: {}", rcode_name(resp.rcode)));
    }
    let mut f = TlsRptFacts {
        checked: true,
        ..TlsRptFacts::default()
    };
    let recs: Vec<String> = txt_strings(&resp, client.txt_max_bytes)
        .into_iter()
        .filter(|t| t.starts_with("v=TLSRPTv1"))
        .collect();
    match recs.as_slice() {
        [] => {}
        [one] => {
            f.record = one.clone();
            match parse_tlsrpt(one) {
                Ok(rua) => {
                    f.present = true;
                    f.rua = rua;
                }
                Err(e) => f.errors.push(e),
            }
        }
        several => {
            f.record = several[0].clone();
            f.errors.push(format!("{} TLS-RPT records", several.len()));
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_record() {
        assert_eq!(
            parse_sts_record("v=STSv1; id=20240101T000000;").unwrap(),
            "20240101T000000"
        );
        assert_eq!(parse_sts_record("v=STSv1;id=abc").unwrap(), "abc");
        assert!(parse_sts_record("v=STSv1;").is_err());
        assert!(parse_sts_record("v=STSv1; id=bad-id").is_err());
        assert!(parse_sts_record("v=STSv2; id=1").is_err());
    }

    #[test]
    fn sts_policy() {
        let p = parse_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n").unwrap();
        assert_eq!(p.mode, "enforce");
        assert_eq!(p.mx, ["mail.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 604_800);
        assert!(parse_sts_policy("mode: enforce\nmx: a.example\nmax_age: 1").is_err());
        assert!(parse_sts_policy("version: STSv1\nmode: bogus\nmx: a\nmax_age: 1").is_err());
        assert!(parse_sts_policy("version: STSv1\nmode: enforce\nmax_age: 1").is_err());
        assert!(
            parse_sts_policy("version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999").is_err()
        );
        assert!(parse_sts_policy("version: STSv1\nmode: none\nmax_age: 1").is_ok());
    }

    #[test]
    fn tlsrpt() {
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=mailto:a@example.com").unwrap(),
            ["mailto:a@example.com"]
        );
        assert!(parse_tlsrpt("v=TLSRPTv1;").is_err());
        assert!(parse_tlsrpt("v=TLSRPTv1; rua=ftp://x").is_err());
    }

    #[test]
    fn http_responses() {
        let (s, h, b) =
            parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
                .unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"hello"[..]));
        assert_eq!(h[0].0, "content-type");
        let (_, _, b) = parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n").unwrap();
        assert_eq!(b, b"hello!");
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_http_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_http_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        .is_err());
    }
}
