//! The result of one scan: everything every report format needs, and nothing more.
//!
//! The JSON report is this structure serialised (with `schema_version`), so `posture report`
//! can rebuild any other format from a saved JSON file. Keep it that way: a report must never
//! need something that is not in here.

use crate::fact::SubjectFacts;
use crate::finding::{Finding, Severity, Subject};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON document. Bump the major part on any incompatible change.
pub const SCHEMA_VERSION: &str = "1.0";

/// One scan, complete or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanOutcome {
    pub schema_version: String,
    pub tool: ToolInfo,
    pub scan: ScanMeta,
    /// Every rule that was active, with its metadata (SARIF `tool.driver.rules`).
    pub rules: Vec<RuleInfo>,
    /// Every finding, in [`crate::finding::sort_findings`] order.
    pub findings: Vec<Finding>,
    /// Facts of every evaluated subject (open ports, TLS/HTTP/DNS subjects). Closed and
    /// filtered ports are only counted, in `scan.stats`.
    pub subjects: Vec<SubjectFacts>,
    /// Endpoints that could not be fully assessed, with the reason.
    pub incomplete: Vec<IncompleteEndpoint>,
    /// Every distinct certificate seen on a TLS endpoint, with the endpoints that presented it,
    /// earliest expiry first: the input of an expiry calendar (issue 3 §7).
    #[serde(default)]
    pub certificates: Vec<CertInventoryEntry>,
    /// The comparison with a previous scan (`--baseline`): what is new, changed and fixed.
    /// Absent when no baseline was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineComparison>,
}

impl ScanOutcome {
    /// True when every endpoint was assessed and the scan was not interrupted.
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty() && !self.scan.interrupted
    }

    /// The worst severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// How `finding` compares with the baseline: `None` without a baseline.
    pub fn baseline_state(&self, finding: &Finding) -> Option<BaselineState> {
        let b = self.baseline.as_ref()?;
        Some(
            b.states
                .get(&finding.fingerprint)
                .map(|c| c.state)
                // A finding added to the outcome after the comparison is new by definition.
                .unwrap_or(BaselineState::New),
        )
    }

    /// The severity `finding` had in the baseline when it changed (`updated`).
    pub fn previous_severity(&self, finding: &Finding) -> Option<Severity> {
        self.baseline
            .as_ref()?
            .states
            .get(&finding.fingerprint)?
            .previous_severity
    }
}

/// SARIF `result.baselineState`: how a finding compares with the same fingerprint in the
/// baseline scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    /// Not in the baseline.
    New,
    /// In the baseline with the same severity.
    Unchanged,
    /// In the baseline with another severity (a rule or `[rules] severity` change).
    Updated,
    /// In the baseline, not found now: fixed, or no longer in scope.
    Absent,
}

impl BaselineState {
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineState::New => "new",
            BaselineState::Unchanged => "unchanged",
            BaselineState::Updated => "updated",
            BaselineState::Absent => "absent",
        }
    }
}

/// The comparison of this scan with a previous one, by finding fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline file as given (`--baseline`).
    pub source: String,
    /// When the baseline scan started, when its file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The state of every current finding, by fingerprint: new, unchanged or updated.
    pub states: BTreeMap<String, BaselineChange>,
    /// Findings of the baseline this scan did not report (SARIF `absent`): fixed, or no longer
    /// scanned. In the baseline's order.
    #[serde(default)]
    pub fixed: Vec<Finding>,
}

impl BaselineComparison {
    /// How many current findings are in `state` (counted per finding, not per fingerprint).
    pub fn count(&self, findings: &[Finding], state: BaselineState) -> usize {
        if state == BaselineState::Absent {
            return self.fixed.len();
        }
        findings
            .iter()
            .filter(|f| {
                self.states
                    .get(&f.fingerprint)
                    .map_or(BaselineState::New, |c| c.state)
                    == state
            })
            .count()
    }
}

/// One current finding's state against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineChange {
    pub state: BaselineState,
    /// The baseline's severity, for `updated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
}

/// The binary and the rule packs it carried: the identity of the judgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub packs: Vec<PackInfo>,
}

/// A rule pack (built-in or user file) identified by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInfo {
    /// `builtin:ports.toml` or the path the user gave.
    pub name: String,
    pub sha256: String,
    pub rules: usize,
}

/// What was scanned, how, and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanMeta {
    /// `run.automationDetails.id` in SARIF (`--sarif-category`).
    pub automation_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// The targets as given (positional, file, inventory), excludes, ports and checks.
    pub scope: Scope,
    /// Every limit in force, by the names used in posture.toml's `[limits]`.
    pub limits: BTreeMap<String, u64>,
    pub stats: ScanStats,
    /// Ctrl-C stopped the scan: the reports hold what was done before it.
    pub interrupted: bool,
    /// The posture.toml used, if any (SARIF locations point into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// `K/N` when this result is one shard of a larger scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scope {
    pub targets: Vec<String>,
    pub excludes: Vec<String>,
    pub ports: String,
    pub checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanStats {
    /// Addresses scanned (after exclusion).
    pub hosts: u64,
    /// Connect attempts that reached a verdict.
    pub ports_scanned: u64,
    pub open: u64,
    pub closed: u64,
    pub filtered: u64,
    /// Subjects (open ports, TLS endpoints, …) whose facts were judged by rules.
    pub subjects: u64,
    /// Connect attempts retried after a local resource error (EMFILE, EADDRNOTAVAIL).
    pub local_retries: u64,
}

/// Rule metadata as reports need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub subject: Subject,
    /// The CEL condition, shown to auditors as "how this is decided".
    pub when: String,
    /// The message template.
    pub message: String,
    /// The remediation template (may contain `{{ … }}` placeholders).
    #[serde(default)]
    pub remediation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The pack the rule comes from (`builtin:ports.toml` or a file path).
    pub pack: String,
}

/// An endpoint (or name) that could not be fully assessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteEndpoint {
    /// `host:port`, `[v6]:port`, or the name.
    pub endpoint: String,
    /// Which step failed: `resolve`, `connect`, `banner`, `tls`, `http`, `dns`, `deadline`,
    /// `interrupted`, `local`.
    pub stage: String,
    pub reason: String,
}

/// One certificate of the inventory (identified by its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInventoryEntry {
    /// Lowercase hex SHA-256 of the DER encoding.
    pub sha256: String,
    /// RFC 4514 distinguished names.
    pub subject: String,
    pub issuer: String,
    #[serde(default)]
    pub sans: Vec<String>,
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// floor((not_after − now) / 1 day) at scan time; negative once expired.
    pub days_left: i64,
    pub expired: bool,
    pub key_type: String,
    pub key_bits: u32,
    pub signature_algorithm: String,
    pub self_signed: bool,
    pub is_ca: bool,
    /// The roles it was presented in, among `leaf`, `intermediate`, `root` (sorted, distinct).
    pub roles: Vec<String>,
    /// Every endpoint that presented it, and where in its chain.
    pub presented_by: Vec<CertPresentation>,
}

/// One endpoint presenting a certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CertPresentation {
    /// `host:port` as in the endpoint's subjects.
    pub endpoint: String,
    /// The address scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// 0 for the leaf, 1 for the first certificate after it, … in presented order.
    pub position: u32,
    /// `leaf` (position 0), `root` (a later self-signed certificate) or `intermediate`.
    pub role: String,
}
