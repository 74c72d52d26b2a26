//! Findings: the judgements rules make about facts, with a stable fingerprint.
//!
//! A finding's fingerprint is a fixed hash (SHA-256, never std's randomised hasher) of the rule
//! id, host, port and the per-item key (certificate SHA-256, DNS record name) where a rule can
//! fire several times on one endpoint. It contains no dates, so the same problem keeps the same
//! fingerprint across scans: baselines, SARIF `partialFingerprints` and diffs depend on that.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity `{other}` (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// Which family of facts a rule is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    Port,
    Tls,
    Http,
    Dns,
}

impl Subject {
    pub const ALL: [Subject; 4] = [Subject::Port, Subject::Tls, Subject::Http, Subject::Dns];

    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Port => "port",
            Subject::Tls => "tls",
            Subject::Http => "http",
            Subject::Dns => "dns",
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "port" => Ok(Subject::Port),
            "tls" => Ok(Subject::Tls),
            "http" => Ok(Subject::Http),
            "dns" => Ok(Subject::Dns),
            other => Err(format!(
                "unknown subject `{other}` (expected port, tls, http or dns)"
            )),
        }
    }
}

/// Where a finding points in SARIF: the posture.toml line that declared the target, or a stable
/// synthetic repo-relative path `targets/<subject>/<host>/<port>` (no scheme, no colon) for
/// targets given on the command line. The synthetic path is permanent: changing it reopens every
/// alert in GitHub code scanning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Repo-relative path, `/`-separated, without a colon in any segment.
    pub uri: String,
    /// 1-based line in `uri` when the target comes from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Location {
    /// The synthetic location of a command-line target: `targets/<subject>/<host>/<port>`.
    /// IPv6 colons become `_`; any other character that is not safe in a path segment too.
    pub fn synthetic(subject: Subject, host: &str, port_or_name: &str) -> Location {
        Location {
            uri: format!(
                "targets/{}/{}/{}",
                subject.as_str(),
                path_segment(host),
                path_segment(port_or_name)
            ),
            line: None,
        }
    }
}

/// Makes `s` a safe single path segment: ASCII alphanumerics and `.-_` kept, everything else `_`.
pub fn path_segment(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" => "_".to_string(),
        "." | ".." => cleaned.replace('.', "_"),
        _ => cleaned,
    }
}

/// One judgement: a rule matched the facts of one subject on one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub subject: Subject,
    /// Display string: `host:port`, `[v6]:port`, or the DNS name.
    pub endpoint: String,
    /// The name or address the user gave (or the address for CIDR members).
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Distinguishes several findings of one rule on one endpoint (certificate SHA-256, record name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_key: Option<String>,
    pub message: String,
    #[serde(default)]
    pub remediation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    /// The rule's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The target's tags and owner from the inventory.
    #[serde(default)]
    pub target_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The facts the rule's condition read, by field path, rendered as text (capped).
    #[serde(default)]
    pub evidence: BTreeMap<String, String>,
    pub location: Location,
    pub fingerprint: String,
    /// Set when an unexpired `[[suppress]]` of posture.toml covers this finding: it is still
    /// reported (SARIF `suppressions`), but never gates the exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<SuppressionInfo>,
}

/// Why a finding is suppressed: the accepted risk as posture.toml records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionInfo {
    pub reason: String,
    /// `YYYY-MM-DD`, when the acceptance ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `posture.toml:LINE:COL` of the `[[suppress]]` entry.
    pub declared_at: String,
}

/// The stable fingerprint: hex SHA-256 of `rule_id \0 host \0 port \0 item_key`.
pub fn fingerprint(rule_id: &str, host: &str, port: Option<u16>, item_key: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(host.to_ascii_lowercase().as_bytes());
    h.update([0]);
    if let Some(p) = port {
        h.update(p.to_string().as_bytes());
    }
    h.update([0]);
    if let Some(k) = item_key {
        h.update(k.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Deterministic report order: severity (worst first), then rule id, endpoint, item key, and
/// address (the addresses of one name).
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.host.cmp(&b.host))
            .then_with(|| a.port.cmp(&b.port))
            .then_with(|| a.endpoint.cmp(&b.endpoint))
            .then_with(|| a.item_key.cmp(&b.item_key))
            .then_with(|| a.ip.cmp(&b.ip))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_worst_last() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = fingerprint("port.risky-service", "10.0.0.5", Some(23), None);
        assert_eq!(
            a,
            fingerprint("port.risky-service", "10.0.0.5", Some(23), None)
        );
        assert_ne!(
            a,
            fingerprint("port.risky-service", "10.0.0.5", Some(21), None)
        );
        assert_ne!(
            a,
            fingerprint("port.risky-service", "10.0.0.5", Some(23), Some("x"))
        );
        // A pinned value: changing the fingerprint scheme reopens every alert downstream.
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn synthetic_locations_have_no_colon_or_scheme() {
        let l = Location::synthetic(Subject::Port, "2001:db8::1", "3389");
        assert_eq!(l.uri, "targets/port/2001_db8__1/3389");
        let l = Location::synthetic(Subject::Tls, "api.example.com", "443");
        assert_eq!(l.uri, "targets/tls/api.example.com/443");
        assert_eq!(path_segment(".."), "__");
        assert_eq!(path_segment("a/b:c"), "a_b_c");
    }
}
