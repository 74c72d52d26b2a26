//! Every limit the scanner enforces, as a named constant with the reason for its value.
//!
//! `Limits` carries the values in force for one scan (defaults here, overridable by CLI flags
//! and posture.toml `[limits]`, with the same names as in the JSON report's `scan.limits`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Connect and read timeout. 1.5 s is nmap's "normal" timing upper bound for a connect answer
/// on a healthy network; slow links can raise it with `--timeout-ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_500;
/// A probe (banner read, TLS handshake, HTTP exchange) gets this many connect timeouts in total,
/// so a server that drips one byte per timeout cannot hold a probe forever.
pub const PROBE_DEADLINE_FACTOR: u64 = 3;
/// Everything done to one endpoint (all probes together).
pub const DEFAULT_ENDPOINT_TIMEOUT_MS: u64 = 20_000;
/// Connections in flight. On loopback few in flight is fastest; on real networks 256 keeps a
/// /24 × top100 sweep well under a second per host without tripping rate limits.
pub const DEFAULT_CONCURRENCY: usize = 256;
/// File descriptors kept free for the resolver, report files, TLS/HTTP probes and stdio.
pub const FD_RESERVE: u64 = 64;
/// Bytes of banner kept: enough for an SSH version line, an SMTP greeting with its EHLO
/// continuation, or a HTTP status line and the first headers.
pub const BANNER_MAX_BYTES: usize = 4 * 1024;
/// How long to wait for a service that speaks first before nudging it.
pub const BANNER_WAIT_MS: u64 = 500;
/// HTTP response head (status line + headers) kept.
pub const HTTP_HEAD_MAX_BYTES: usize = 64 * 1024;
/// HTTP headers kept per response.
pub const HTTP_MAX_HEADERS: usize = 100;
/// HTTP body bytes read (we only look at the start of a body).
pub const HTTP_BODY_MAX_BYTES: usize = 64 * 1024;
/// Redirects followed, same host only.
pub const HTTP_MAX_REDIRECTS: usize = 5;
/// Certificates of a presented chain kept; real chains have 2–4.
pub const CHAIN_MAX_CERTS: usize = 10;
/// Records kept per DNS RRset.
pub const DNS_MAX_RECORDS: usize = 256;
/// TXT data kept per record.
pub const DNS_TXT_MAX_BYTES: usize = 4 * 1024;
/// CNAME chain depth followed.
pub const CNAME_MAX_DEPTH: usize = 8;
/// Addresses scanned per resolved name (round-robin pools beyond that are the same service).
pub const IPS_PER_NAME: usize = 16;
/// Addresses per scan without `--max-hosts`: a /16. Larger scopes are usually a typo.
pub const MAX_HOSTS: u64 = 65_536;
/// Shortest IPv6 prefix accepted: a /112 is 65,536 addresses; shorter cannot be swept.
pub const MIN_IPV6_PREFIX: u8 = 112;
/// Characters of one evidence field shown in reports.
pub const EVIDENCE_MAX_CHARS: usize = 1_024;

/// The limits in force for one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub timeout_ms: u64,
    pub probe_deadline_ms: u64,
    pub endpoint_timeout_ms: u64,
    pub concurrency: usize,
    pub host_concurrency: usize,
    pub rate: u64,
    pub banner_bytes: usize,
    pub banner_wait_ms: u64,
    pub http_head_bytes: usize,
    pub http_headers: usize,
    pub http_body_bytes: usize,
    pub http_redirects: usize,
    pub chain_certs: usize,
    pub dns_records: usize,
    pub dns_txt_bytes: usize,
    pub cname_depth: usize,
    pub ips_per_name: usize,
    pub max_hosts: u64,
    pub evidence_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            probe_deadline_ms: DEFAULT_TIMEOUT_MS * PROBE_DEADLINE_FACTOR,
            endpoint_timeout_ms: DEFAULT_ENDPOINT_TIMEOUT_MS,
            concurrency: DEFAULT_CONCURRENCY,
            host_concurrency: 0,
            rate: 0,
            banner_bytes: BANNER_MAX_BYTES,
            banner_wait_ms: BANNER_WAIT_MS,
            http_head_bytes: HTTP_HEAD_MAX_BYTES,
            http_headers: HTTP_MAX_HEADERS,
            http_body_bytes: HTTP_BODY_MAX_BYTES,
            http_redirects: HTTP_MAX_REDIRECTS,
            chain_certs: CHAIN_MAX_CERTS,
            dns_records: DNS_MAX_RECORDS,
            dns_txt_bytes: DNS_TXT_MAX_BYTES,
            cname_depth: CNAME_MAX_DEPTH,
            ips_per_name: IPS_PER_NAME,
            max_hosts: MAX_HOSTS,
            evidence_chars: EVIDENCE_MAX_CHARS,
        }
    }
}

impl Limits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn probe_deadline(&self) -> Duration {
        Duration::from_millis(self.probe_deadline_ms)
    }
    pub fn endpoint_timeout(&self) -> Duration {
        Duration::from_millis(self.endpoint_timeout_ms)
    }
    pub fn banner_wait(&self) -> Duration {
        Duration::from_millis(self.banner_wait_ms)
    }

    /// The limits by name, as the JSON report's `scan.limits` shows them.
    pub fn by_name(&self) -> BTreeMap<String, u64> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().map(|n| (k, n)))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}
