//! Reports: the only place that renders a [`crate::outcome::ScanOutcome`] for people and tools.
//!
//! The scanner core never prints; it hands a `ScanOutcome` to the writers here (SARIF for
//! GitHub code scanning, JSON / JSON Lines for machines, text for terminals), and the exit code
//! is computed from the same outcome in [`exit`]. Files are written atomically ([`atomic`]) so a
//! killed scan never leaves a truncated report behind. Server-derived strings (banners, header
//! values, certificate names) are hostile input: every format escapes them for its own medium.

pub mod atomic;
pub mod baseline;
pub mod diff;
pub mod exit;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod sarif;
pub mod summary;
pub mod text;

pub use exit::{exit_code, exit_code_gated, FailOn};

use std::io;
use std::path::PathBuf;

/// A report could not be written or read. The CLI turns this into exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read report `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is not a posture JSON report (line {line}, column {column}): {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "`{}` has schema_version {found}, this posture reads {supported}.x",
        path.display()
    )]
    SchemaVersion {
        path: PathBuf,
        found: String,
        supported: String,
    },
    #[error("`{}` is not a usable baseline (posture JSON or SARIF): {message}", path.display())]
    Baseline { path: PathBuf, message: String },
}

impl ReportError {
    /// True when the write failed because the reader of stdout went away (`| head`): the CLI
    /// treats that as success, like ripgrep does.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            ReportError::Write { source, .. } | ReportError::Read { source, .. } => {
                source.kind() == io::ErrorKind::BrokenPipe
            }
            ReportError::Parse { .. }
            | ReportError::SchemaVersion { .. }
            | ReportError::Baseline { .. } => false,
        }
    }
}

/// Shared fixtures for the tests of every report format: a hand-built outcome with findings of
/// several subjects and severities, IPv6, a config-file location, and hostile server strings.
#[cfg(test)]
pub(crate) mod testdata {
    use crate::fact::{PortFacts, PortState, PortSubject, SubjectFacts, TargetFacts};
    use crate::finding::{fingerprint, Finding, Location, Severity, Subject};
    use crate::outcome::{
        IncompleteEndpoint, PackInfo, RuleInfo, ScanMeta, ScanOutcome, ScanStats, Scope, ToolInfo,
        SCHEMA_VERSION,
    };
    use std::collections::BTreeMap;

    /// Every nasty thing a server can put in a string we display.
    pub const HOSTILE: &str =
        "[x](1) \\ <script>alert(1)</script> \"><img src=x onerror=alert(1)> =HYPERLINK(\"a\") \u{1b}[31mred\u{1b}[0m \u{202e}evil\r\nnext";

    pub fn rule(id: &str, severity: Severity, subject: Subject) -> RuleInfo {
        RuleInfo {
            id: id.into(),
            title: format!("Title of {id}"),
            severity,
            subject,
            when: "port.open && port.service == \"telnet\"".into(),
            message: "{{ port.service }} is exposed on {{ endpoint }}.".into(),
            remediation: "Close the port or firewall it.".into(),
            help_uri: Some("https://posture.example/rules/x".into()),
            tags: vec!["network".into()],
            pack: "builtin:ports.toml".into(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn finding(
        rule_id: &str,
        severity: Severity,
        subject: Subject,
        host: &str,
        ip: &str,
        port: u16,
        endpoint: &str,
        message: &str,
        location: Location,
    ) -> Finding {
        let mut evidence = BTreeMap::new();
        evidence.insert("port.banner".to_string(), HOSTILE.to_string());
        Finding {
            rule_id: rule_id.into(),
            title: format!("Title of {rule_id}"),
            severity,
            subject,
            endpoint: endpoint.into(),
            host: host.into(),
            ip: Some(ip.into()),
            port: Some(port),
            item_key: None,
            message: message.into(),
            remediation: "Close it.".into(),
            help_uri: None,
            tags: vec!["network".into()],
            target_tags: vec!["dmz".into()],
            owner: Some("web-team".into()),
            evidence,
            fingerprint: fingerprint(rule_id, host, Some(port), None),
            location,
            suppressed: None,
        }
    }

    pub fn port_subject(
        host: &str,
        ip: &str,
        port: u16,
        service: &str,
        banner: &str,
    ) -> SubjectFacts {
        let endpoint = crate::target::display_host_port(host, port);
        SubjectFacts::Port(PortSubject {
            endpoint,
            target: TargetFacts {
                host: host.into(),
                ip: Some(ip.into()),
                port: Some(port),
                tags: vec![],
                owner: None,
            },
            port: PortFacts {
                number: port,
                state: PortState::Open,
                open: true,
                service: service.into(),
                service_source: "banner".into(),
                banner: banner.into(),
            },
        })
    }

    /// An empty, complete outcome.
    pub fn empty() -> ScanOutcome {
        ScanOutcome {
            schema_version: SCHEMA_VERSION.into(),
            tool: ToolInfo {
                name: "posture".into(),
                version: "0.1.0".into(),
                packs: vec![PackInfo {
                    name: "builtin:ports.toml".into(),
                    sha256: "ab".repeat(32),
                    rules: 3,
                }],
            },
            scan: ScanMeta {
                automation_id: "posture/nightly/".into(),
                started_at: "2025-01-02T03:04:05Z".into(),
                finished_at: "2025-01-02T03:04:07.310Z".into(),
                duration_ms: 2310,
                scope: Scope {
                    targets: vec!["shop.example.com".into(), "2001:db8::1".into()],
                    excludes: vec![],
                    ports: "top100".into(),
                    checks: vec!["port".into()],
                    domains: vec![],
                },
                limits: BTreeMap::from([("banner_bytes".to_string(), 4096)]),
                stats: ScanStats {
                    hosts: 5,
                    ports_scanned: 500,
                    open: 3,
                    closed: 400,
                    filtered: 97,
                    subjects: 3,
                    local_retries: 0,
                },
                interrupted: false,
                config_file: Some("infra/posture.toml".into()),
                shard: None,
            },
            rules: vec![],
            findings: vec![],
            subjects: vec![],
            incomplete: vec![],
            certificates: vec![],
            baseline: None,
        }
    }

    /// A populated outcome: four rules, four findings, three open ports, one incomplete endpoint.
    pub fn sample() -> ScanOutcome {
        let mut o = empty();
        o.rules = vec![
            rule("port.risky-service", Severity::Critical, Subject::Port),
            rule("tls.cert.expiring", Severity::High, Subject::Tls),
            rule("http.headers.missing", Severity::Medium, Subject::Http),
            rule("port.open.info", Severity::Info, Subject::Port),
        ];
        o.findings = vec![
            finding(
                "port.risky-service",
                Severity::Critical,
                Subject::Port,
                "shop.example.com",
                "192.0.2.10",
                23,
                "shop.example.com:23",
                &format!("telnet is exposed: {HOSTILE}"),
                Location {
                    uri: "infra/posture.toml".into(),
                    line: Some(12),
                },
            ),
            finding(
                "tls.cert.expiring",
                Severity::High,
                Subject::Tls,
                "2001:db8::1",
                "2001:db8::1",
                443,
                "[2001:db8::1]:443",
                "[2001:db8::1]:443 certificate expires in 3 days.",
                Location::synthetic(Subject::Tls, "2001:db8::1", "443"),
            ),
            finding(
                "http.headers.missing",
                Severity::Medium,
                Subject::Http,
                "shop.example.com",
                "192.0.2.10",
                80,
                "shop.example.com:80",
                "Strict-Transport-Security is missing.",
                Location::synthetic(Subject::Http, "shop.example.com", "80"),
            ),
            finding(
                "port.open.info",
                Severity::Info,
                Subject::Port,
                "10.0.0.5",
                "10.0.0.5",
                3389,
                "10.0.0.5:3389",
                "Port 3389 is open.",
                Location::synthetic(Subject::Port, "10.0.0.5", "3389"),
            ),
        ];
        o.subjects = vec![
            port_subject("shop.example.com", "192.0.2.10", 23, "telnet", HOSTILE),
            port_subject("2001:db8::1", "2001:db8::1", 443, "https", ""),
            port_subject("10.0.0.5", "10.0.0.5", 3389, "rdp", "\u{3}\0\0\u{13}"),
        ];
        o.incomplete = vec![IncompleteEndpoint {
            endpoint: "[2001:db8::2]:443".into(),
            stage: "tls".into(),
            reason: "handshake timed out after 4500 ms [x](1)".into(),
        }];
        o
    }
}
