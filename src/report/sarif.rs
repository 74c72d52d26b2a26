//! SARIF 2.1.0 for GitHub code scanning.
//!
//! Plain serde structs rather than a full SARIF model: we emit only what we mean, with
//! `skip_serializing_if` so the file stays minimal, and the schema test decides validity.
//! GitHub rejects a *whole* upload for one bad result, so the rules it enforces are built in:
//!
//! * every result has exactly one `physicalLocation` whose `artifactLocation.uri` is a relative
//!   path without scheme and without a colon in any segment (`host:port` would parse as a URI
//!   scheme), plus a `region.startLine` (GitHub's GH1003 check requires one);
//! * the real endpoint is the first sentence of `message.text` and is in `result.properties`;
//! * `partialFingerprints` carries our own stable fingerprint, so alerts survive re-scans;
//! * levels: critical/high → `error`, medium → `warning`, low/info → `note`; rules carry
//!   `security-severity` (critical 9.5, high 8.0, medium 5.5, low 3.0; none for info) and the
//!   `security` tag, which is what makes GitHub show them as security alerts;
//! * at most [`MAX_RESULTS`] results per run and [`MAX_RULE_TAGS`] tags per rule (GitHub's limits).
//!
//! Message strings are markdown-ish in SARIF (`[text](n)` is an embedded link), so any
//! server-derived text in a message escapes `[`, `]` and `\`, and control / bidi characters are
//! made visible.

use super::atomic::write_atomic_with;
use super::text::visible_control;
use super::ReportError;
use crate::engine::limits::EVIDENCE_MAX_CHARS;
use crate::finding::{Finding, Severity};
use crate::outcome::{BaselineState, PackInfo, RuleInfo, ScanOutcome, ScanStats, Scope};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::io::Write;
use std::path::Path;

/// The schema URI GitHub documents for uploads.
pub const SARIF_SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";
/// The project's home page (placeholder until the project has its final address).
pub const INFORMATION_URI: &str = "https://github.com/posture-scanner/posture";
/// The `partialFingerprints` key. Versioned: a new fingerprint scheme gets a new key, so GitHub
/// does not match old alerts against incompatible values.
pub const FINGERPRINT_KEY: &str = "postureFingerprint/v1";
/// Locations are relative to the repository root, which GitHub resolves itself.
pub const SRCROOT: &str = "%SRCROOT%";
/// GitHub rejects a run with more results than this.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub rejects more than 20 tags per rule and displays 10.
pub const MAX_RULE_TAGS: usize = 10;
/// A message quotes server text (a banner, a header); the evidence property has the details.
pub const MESSAGE_MAX_CHARS: usize = 2 * EVIDENCE_MAX_CHARS;

/// The whole SARIF log: one run.
#[derive(Debug, Clone, Serialize)]
pub struct SarifLog {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automation_details: Option<AutomationDetails>,
    pub invocations: Vec<Invocation>,
    pub results: Vec<SarifResult>,
    pub properties: RunProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub driver: ToolComponent,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolComponent {
    pub name: String,
    pub version: String,
    pub semantic_version: String,
    pub information_uri: &'static str,
    pub rules: Vec<ReportingDescriptor>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportingDescriptor {
    pub id: String,
    pub name: String,
    pub short_description: MultiformatMessage,
    pub full_description: MultiformatMessage,
    pub help: MultiformatMessage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    pub default_configuration: ReportingConfiguration,
    pub properties: RuleProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct MultiformatMessage {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportingConfiguration {
    pub level: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleProperties {
    pub tags: Vec<String>,
    pub precision: &'static str,
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    pub security_severity: Option<&'static str>,
    #[serde(rename = "problem.severity")]
    pub problem_severity: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutomationDetails {
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    pub execution_successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_execution_notifications: Vec<Notification>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub level: &'static str,
    pub message: Message,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub rule_index: usize,
    pub level: &'static str,
    pub message: Message,
    pub locations: Vec<ResultLocation>,
    pub partial_fingerprints: BTreeMap<&'static str, String>,
    /// With `--baseline`: `new`, `unchanged`, `updated` or `absent` (SARIF §3.27.24).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_state: Option<&'static str>,
    /// `pass` for `absent` results: the check no longer fails there. Absent otherwise (`fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Present when posture.toml accepted the risk (`[[suppress]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressions: Vec<SarifSuppression>,
    pub properties: ResultProperties,
}

/// SARIF §3.35: an accepted risk, declared outside the scanned artifact (posture.toml).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifSuppression {
    pub kind: &'static str,
    pub status: &'static str,
    pub justification: String,
    pub properties: SuppressionProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuppressionProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub declared_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultLocation {
    pub physical_location: PhysicalLocation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
    pub region: Region,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    pub uri: String,
    pub uri_base_id: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: u32,
}

/// What GitHub does not display but people triaging need: the real endpoint and the facts.
#[derive(Debug, Clone, Serialize)]
pub struct ResultProperties {
    pub endpoint: String,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub subject: &'static str,
    pub severity: &'static str,
    pub tags: Vec<String>,
    pub target_tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub evidence: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remediation: String,
    /// The baseline's severity of an `updated` result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<&'static str>,
}

/// Scan metadata, so a SARIF file alone says what was scanned and whether it was complete.
#[derive(Debug, Clone, Serialize)]
pub struct RunProperties {
    pub complete: bool,
    pub interrupted: bool,
    pub duration_ms: u64,
    pub scope: Scope,
    pub stats: ScanStats,
    pub incomplete_endpoints: usize,
    pub packs: Vec<PackInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Findings left out because of [`MAX_RESULTS`] (the least severe ones).
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted_results: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// SARIF level of a severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score: it maps ≥9.0 critical, ≥7.0 high, ≥4.0 medium, >0 low.
pub fn security_severity(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Critical => Some("9.5"),
        Severity::High => Some("8.0"),
        Severity::Medium => Some("5.5"),
        Severity::Low => Some("3.0"),
        Severity::Info => None,
    }
}

/// `problem.severity` as CodeQL uses it.
fn problem_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "recommendation",
    }
}

/// Builds the SARIF log of `outcome`.
pub fn to_sarif(outcome: &ScanOutcome) -> SarifLog {
    let mut rules = Vec::with_capacity(outcome.rules.len());
    let mut index: HashMap<&str, usize> = HashMap::new();
    for r in &outcome.rules {
        if !index.contains_key(r.id.as_str()) {
            index.insert(&r.id, rules.len());
            rules.push(descriptor(r));
        }
    }
    // A finding always comes from an active rule; if one does not (a hand-edited JSON report,
    // or a fixed finding of a rule no longer active), describe its rule from the finding rather
    // than emit a dangling ruleIndex.
    let fixed: &[Finding] = outcome
        .baseline
        .as_ref()
        .map(|b| b.fixed.as_slice())
        .unwrap_or_default();
    for f in outcome.findings.iter().chain(fixed) {
        if !index.contains_key(f.rule_id.as_str()) {
            index.insert(&f.rule_id, rules.len());
            rules.push(descriptor(&rule_from_finding(f)));
        }
    }

    // Findings are in severity order (worst first), so truncation drops the least severe;
    // current results come before the absent ones of a baseline.
    let kept = outcome.findings.len().min(MAX_RESULTS);
    let kept_fixed = fixed.len().min(MAX_RESULTS - kept);
    let omitted = outcome.findings.len() + fixed.len() - kept - kept_fixed;
    let mut results: Vec<SarifResult> = outcome.findings[..kept]
        .iter()
        .map(|f| {
            let mut r = result(f, index[f.rule_id.as_str()]);
            r.baseline_state = outcome.baseline_state(f).map(|s| s.as_str());
            r.properties.previous_severity = outcome.previous_severity(f).map(|s| s.as_str());
            r
        })
        .collect();
    // SARIF wants results that disappeared since the baseline listed as `absent`. They are
    // `kind: pass` with level `none`: the check passes there now, so a consumer that ignores
    // baselineState still does not show them as open problems.
    results.extend(fixed[..kept_fixed].iter().map(|f| {
        let mut r = result(f, index[f.rule_id.as_str()]);
        r.baseline_state = Some(BaselineState::Absent.as_str());
        r.kind = Some("pass");
        r.level = "none";
        r
    }));

    let mut notifications: Vec<Notification> = outcome
        .incomplete
        .iter()
        .map(|i| Notification {
            level: "warning",
            message: Message {
                text: escape_message(
                    &format!("{}: {}: {}", i.endpoint, i.stage, i.reason),
                    MESSAGE_MAX_CHARS,
                ),
            },
        })
        .collect();
    if outcome.scan.interrupted {
        notifications.push(Notification {
            level: "error",
            message: Message {
                text: "The scan was interrupted; results cover only what was assessed before it \
                       stopped."
                    .into(),
            },
        });
    }
    if omitted > 0 {
        notifications.push(Notification {
            level: "warning",
            message: Message {
                text: format!(
                    "{omitted} least severe findings were left out: GitHub accepts at most \
                     {MAX_RESULTS} results per run. The JSON report has them all."
                ),
            },
        });
    }

    let version = outcome.tool.version.clone();
    let run = Run {
        tool: Tool {
            driver: ToolComponent {
                name: "posture".into(),
                semantic_version: version.clone(),
                version,
                information_uri: INFORMATION_URI,
                rules,
            },
        },
        automation_details: (!outcome.scan.automation_id.is_empty()).then(|| AutomationDetails {
            id: outcome.scan.automation_id.clone(),
        }),
        invocations: vec![Invocation {
            execution_successful: outcome.is_complete(),
            start_time_utc: utc_timestamp(&outcome.scan.started_at),
            end_time_utc: utc_timestamp(&outcome.scan.finished_at),
            tool_execution_notifications: notifications,
        }],
        results,
        properties: RunProperties {
            complete: outcome.is_complete(),
            interrupted: outcome.scan.interrupted,
            duration_ms: outcome.scan.duration_ms,
            scope: outcome.scan.scope.clone(),
            stats: outcome.scan.stats.clone(),
            incomplete_endpoints: outcome.incomplete.len(),
            packs: outcome.tool.packs.clone(),
            config_file: outcome.scan.config_file.clone(),
            shard: outcome.scan.shard.clone(),
            omitted_results: omitted,
        },
    };
    SarifLog {
        schema: SARIF_SCHEMA_URI,
        version: SARIF_VERSION,
        runs: vec![run],
    }
}

/// [`to_sarif`] as a JSON value.
pub fn to_sarif_value(outcome: &ScanOutcome) -> serde_json::Value {
    // Plain structs of strings, numbers and string-keyed maps always serialise.
    serde_json::to_value(to_sarif(outcome)).unwrap_or(serde_json::Value::Null)
}

/// Writes the SARIF log of `outcome` to `path` atomically (pretty, final newline); `-` is stdout.
pub fn write_sarif(path: &Path, outcome: &ScanOutcome) -> Result<(), ReportError> {
    let log = to_sarif(outcome);
    write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &log).map_err(io::Error::from)?;
        w.write_all(b"\n")
    })
    .map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn descriptor(r: &RuleInfo) -> ReportingDescriptor {
    let mut tags = vec!["security".to_string(), r.subject.as_str().to_string()];
    for t in &r.tags {
        if tags.len() >= MAX_RULE_TAGS {
            break;
        }
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let title = r.title.trim_end_matches('.');
    let full = if r.when.trim().is_empty() {
        format!("{title}: reported for {} subjects.", r.subject)
    } else {
        format!(
            "{title}: reported for each {} subject where the condition `{}` holds.",
            r.subject,
            r.when.trim()
        )
    };
    ReportingDescriptor {
        id: r.id.clone(),
        name: camel_case(&r.id),
        short_description: MultiformatMessage {
            text: r.title.clone(),
            markdown: None,
        },
        full_description: MultiformatMessage {
            text: full,
            markdown: None,
        },
        help: MultiformatMessage {
            text: help_text(r),
            markdown: Some(help_markdown(r)),
        },
        help_uri: r.help_uri.clone(),
        default_configuration: ReportingConfiguration {
            level: level(r.severity),
        },
        properties: RuleProperties {
            tags,
            precision: "high",
            security_severity: security_severity(r.severity),
            problem_severity: problem_severity(r.severity),
        },
    }
}

fn help_text(r: &RuleInfo) -> String {
    let mut s = String::new();
    if !r.remediation.trim().is_empty() {
        s.push_str(r.remediation.trim());
        s.push_str("\n\n");
    }
    if !r.when.trim().is_empty() {
        s.push_str(&format!(
            "How this is decided: reported for each {} subject where this CEL condition holds:\n{}\n\n",
            r.subject,
            r.when.trim()
        ));
    }
    s.push_str(&format!("Severity: {}. Rule pack: {}.", r.severity, r.pack));
    if let Some(uri) = &r.help_uri {
        s.push_str(&format!("\nMore information: {uri}"));
    }
    s
}

fn help_markdown(r: &RuleInfo) -> String {
    let mut s = String::new();
    if !r.remediation.trim().is_empty() {
        s.push_str(r.remediation.trim());
        s.push_str("\n\n");
    }
    let when = r.when.trim();
    if !when.is_empty() {
        // A fence longer than any backtick run in the condition cannot be closed by it.
        let fence = "`".repeat(longest_backtick_run(when).max(2) + 1);
        s.push_str(&format!(
            "**How this is decided:** reported for each `{}` subject where this CEL condition holds:\n\n{fence}cel\n{when}\n{fence}\n\n",
            r.subject
        ));
    }
    s.push_str(&format!(
        "Severity: **{}**. Rule pack: `{}`.",
        r.severity,
        r.pack.replace('`', "'")
    ));
    if let Some(uri) = &r.help_uri {
        s.push_str(&format!("\n\n[More information]({uri})"));
    }
    s
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A rule description for a finding whose rule is not in `outcome.rules`.
fn rule_from_finding(f: &Finding) -> RuleInfo {
    RuleInfo {
        id: f.rule_id.clone(),
        title: f.title.clone(),
        severity: f.severity,
        subject: f.subject,
        when: String::new(),
        message: String::new(),
        remediation: f.remediation.clone(),
        help_uri: f.help_uri.clone(),
        tags: f.tags.clone(),
        pack: "unknown".into(),
    }
}

/// `port.risky-service` → `PortRiskyService`: the rule's `name`, which SARIF wants as an
/// identifier-like string.
pub fn camel_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn result(f: &Finding, rule_index: usize) -> SarifResult {
    let uri = artifact_uri(&f.location.uri);
    SarifResult {
        rule_id: f.rule_id.clone(),
        rule_index,
        level: level(f.severity),
        message: Message {
            text: escape_message(&message_text(f), MESSAGE_MAX_CHARS),
        },
        locations: vec![ResultLocation {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri,
                    uri_base_id: SRCROOT,
                },
                region: Region {
                    start_line: f.location.line.unwrap_or(1).max(1),
                },
            },
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, f.fingerprint.clone())]),
        baseline_state: None,
        kind: None,
        suppressions: f
            .suppressed
            .iter()
            .map(|s| SarifSuppression {
                kind: "external",
                status: "accepted",
                justification: s.reason.clone(),
                properties: SuppressionProperties {
                    expires: s.expires.clone(),
                    declared_at: s.declared_at.clone(),
                },
            })
            .collect(),
        properties: ResultProperties {
            endpoint: f.endpoint.clone(),
            host: f.host.clone(),
            ip: f.ip.clone(),
            port: f.port,
            subject: f.subject.as_str(),
            severity: f.severity.as_str(),
            tags: f.tags.clone(),
            target_tags: f.target_tags.clone(),
            owner: f.owner.clone(),
            evidence: f
                .evidence
                .iter()
                .map(|(k, v)| (k.clone(), cap_chars(v, EVIDENCE_MAX_CHARS)))
                .collect(),
            remediation: f.remediation.clone(),
            previous_severity: None,
        },
    }
}

/// The message with the endpoint as its first sentence (unless the rule already put it first).
fn message_text(f: &Finding) -> String {
    let msg = f.message.trim();
    if f.endpoint.is_empty() || msg.starts_with(&f.endpoint) {
        msg.to_string()
    } else if msg.is_empty() {
        format!("{}: {}", f.endpoint, f.title)
    } else {
        format!("{}: {msg}", f.endpoint)
    }
}

/// Escapes text for a SARIF message string: `\`, `[` and `]` get a backslash (so server text
/// cannot form an embedded link `[text](n)`), control and bidi characters become visible
/// escapes, and the result is capped at `max_chars` (plus `…`).
pub fn escape_message(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len());
    for (n, c) in s.chars().enumerate() {
        if n >= max_chars {
            out.push('…');
            break;
        }
        match c {
            '\\' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => match visible_control(c) {
                // The visible form starts with a backslash, itself escaped here.
                Some(v) => {
                    out.push('\\');
                    out.push_str(&v);
                }
                None => out.push(c),
            },
        }
    }
    out
}

fn cap_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// True when `uri` is what GitHub accepts as a result location: a relative path, no scheme,
/// no colon anywhere, no empty, `.` or `..` segment, no backslash, whitespace or control.
pub fn is_safe_artifact_uri(uri: &str) -> bool {
    !uri.is_empty()
        && !uri.contains(':')
        && !uri.starts_with('/')
        && uri
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && uri
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'?' && b != b'#')
}

/// Turns a `Location::uri` (a repo-relative path) into a safe SARIF artifact URI.
///
/// Synthetic locations (`targets/tls/api.example.com/443`) pass through unchanged. Paths from
/// a config file are made relative (leading `/`, `./` and empty segments dropped, `\` treated
/// as `/`, `..` neutralised), colons replaced by `_`, and any other byte that may not appear in
/// a URI path percent-encoded (so `my dir/posture.toml` → `my%20dir/posture.toml`, which GitHub
/// decodes back to the file).
pub fn artifact_uri(path: &str) -> String {
    let segments: Vec<String> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| {
            if s == ".." {
                "__".to_string()
            } else {
                percent_encode_segment(&s.replace(':', "_"))
            }
        })
        .collect();
    let uri = if segments.is_empty() {
        "_".to_string()
    } else {
        segments.join("/")
    };
    debug_assert!(is_safe_artifact_uri(&uri), "unsafe SARIF uri {uri:?}");
    uri
}

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An RFC 3339 timestamp as SARIF wants it (UTC, `Z`); `None` when it does not parse, since an
/// invalid date-time would make the whole file invalid.
fn utc_timestamp(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Location;
    use crate::report::testdata;
    use serde_json::Value;

    /// Validates against the official SARIF 2.1.0 schema, collecting every error.
    fn assert_schema_valid(doc: &Value) {
        let schema_text = include_str!("../../fixtures/schemas/sarif-schema-2.1.0.json");
        let schema: Value = serde_json::from_str(schema_text).unwrap();
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "SARIF invalid:\n{}\n{}",
            errors.join("\n"),
            serde_json::to_string_pretty(doc).unwrap()
        );
    }

    fn results(doc: &Value) -> &Vec<Value> {
        doc["runs"][0]["results"].as_array().unwrap()
    }

    #[test]
    fn sample_validates_against_schema() {
        let doc = to_sarif_value(&testdata::sample());
        assert_schema_valid(&doc);
        assert_eq!(doc["$schema"], SARIF_SCHEMA_URI);
        assert_eq!(doc["version"], "2.1.0");
        assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn schema_validation_catches_a_broken_file() {
        // The validator must be able to fail, or the test above proves nothing.
        let mut doc = to_sarif_value(&testdata::sample());
        doc["runs"][0]["results"][0]["level"] = "fatal".into();
        doc["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday".into();
        let schema: Value = serde_json::from_str(include_str!(
            "../../fixtures/schemas/sarif-schema-2.1.0.json"
        ))
        .unwrap();
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        assert!(validator.iter_errors(&doc).count() >= 2);
    }

    #[test]
    fn zero_findings_is_valid_with_empty_results() {
        let doc = to_sarif_value(&testdata::empty());
        assert_schema_valid(&doc);
        assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
        assert_eq!(
            doc["runs"][0]["tool"]["driver"]["rules"],
            serde_json::json!([])
        );
        assert_eq!(
            doc["runs"][0]["invocations"][0]["executionSuccessful"],
            true
        );
        assert_eq!(doc["runs"][0]["properties"]["complete"], true);
        assert!(doc["runs"][0]["invocations"][0]
            .get("toolExecutionNotifications")
            .is_none());
    }

    #[test]
    fn every_result_has_one_safe_location_with_region() {
        let doc = to_sarif_value(&testdata::sample());
        let rs = results(&doc);
        assert_eq!(rs.len(), 4);
        for r in rs {
            let locs = r["locations"].as_array().unwrap();
            assert_eq!(locs.len(), 1, "{r}");
            let art = &locs[0]["physicalLocation"]["artifactLocation"];
            let uri = art["uri"].as_str().unwrap();
            assert!(!uri.contains(':'), "{uri}");
            assert!(!uri.contains("://"), "{uri}");
            assert!(is_safe_artifact_uri(uri), "{uri}");
            assert_eq!(art["uriBaseId"], SRCROOT);
            assert!(
                locs[0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap()
                    >= 1
            );
        }
        // The config-file location keeps its line; synthetic ones point at line 1.
        let first = &rs[0]["locations"][0]["physicalLocation"];
        assert_eq!(first["artifactLocation"]["uri"], "infra/posture.toml");
        assert_eq!(first["region"]["startLine"], 12);
        let v6 = &rs[1]["locations"][0]["physicalLocation"];
        assert_eq!(v6["artifactLocation"]["uri"], "targets/tls/2001_db8__1/443");
        assert_eq!(v6["region"]["startLine"], 1);
    }

    #[test]
    fn levels_and_security_severity() {
        let doc = to_sarif_value(&testdata::sample());
        let rs = results(&doc);
        let levels: Vec<&str> = rs.iter().map(|r| r["level"].as_str().unwrap()).collect();
        assert_eq!(levels, ["error", "error", "warning", "note"]);

        let rules = doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        let sev: Vec<Option<&str>> = rules
            .iter()
            .map(|r| r["properties"]["security-severity"].as_str())
            .collect();
        assert_eq!(sev, [Some("9.5"), Some("8.0"), Some("5.5"), None]);
        for r in rules {
            let tags: Vec<&str> = r["properties"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert!(tags.contains(&"security"), "{r}");
            assert_eq!(r["properties"]["precision"], "high");
            for key in ["shortDescription", "fullDescription"] {
                assert!(!r[key]["text"].as_str().unwrap().is_empty());
            }
            assert!(!r["help"]["text"].as_str().unwrap().is_empty());
            assert!(!r["help"]["markdown"].as_str().unwrap().is_empty());
        }
        assert_eq!(rules[0]["name"], "PortRiskyService");
        assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
        assert_eq!(rules[0]["properties"]["problem.severity"], "error");
        assert_eq!(rules[2]["properties"]["problem.severity"], "warning");
        assert_eq!(rules[3]["properties"]["problem.severity"], "recommendation");
        assert_eq!(rules[3]["defaultConfiguration"]["level"], "note");
        assert_eq!(rules[0]["helpUri"], "https://posture.example/rules/x");
        let md = rules[0]["help"]["markdown"].as_str().unwrap();
        assert!(
            md.contains("```cel\nport.open && port.service == \"telnet\"\n```"),
            "{md}"
        );
        assert!(md.starts_with("Close the port or firewall it."));
        assert!(rules[0]["fullDescription"]["text"]
            .as_str()
            .unwrap()
            .contains("port.open && port.service"));

        // ruleIndex points at the rule with the same id.
        for r in rs {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
        }
        // Result level follows the finding's severity (a config override may differ from the rule).
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(security_severity(Severity::Low), Some("3.0"));
    }

    #[test]
    fn messages_name_the_endpoint_first_and_escape_server_text() {
        let doc = to_sarif_value(&testdata::sample());
        let rs = results(&doc);
        let m0 = rs[0]["message"]["text"].as_str().unwrap();
        assert!(
            m0.starts_with("shop.example.com:23: telnet is exposed"),
            "{m0}"
        );
        assert!(m0.contains("\\[x\\](1)"), "{m0}");
        assert!(!m0.contains("[x]"), "{m0}");
        assert!(m0.contains(" \\\\ "), "{m0}");
        assert!(m0.contains("\\\\x1b\\[31mred"), "{m0}");
        assert!(m0.contains("\\\\u{202e}evil"), "{m0}");
        assert!(m0.contains("\\\\r\\\\nnext"), "{m0}");
        assert!(!m0
            .chars()
            .any(|c| c.is_control() || super::super::text::is_deceptive(c)));
        // An unescaped `[` or `]` never appears.
        let mut prev_backslashes = 0;
        for c in m0.chars() {
            if c == '[' || c == ']' {
                assert_eq!(prev_backslashes % 2, 1, "unescaped bracket in {m0}");
            }
            prev_backslashes = if c == '\\' { prev_backslashes + 1 } else { 0 };
        }
        // Message that already starts with the endpoint is not doubled (but is escaped).
        let m1 = rs[1]["message"]["text"].as_str().unwrap();
        assert_eq!(m1, "\\[2001:db8::1\\]:443 certificate expires in 3 days.");
        let m2 = rs[2]["message"]["text"].as_str().unwrap();
        assert_eq!(
            m2,
            "shop.example.com:80: Strict-Transport-Security is missing."
        );
    }

    #[test]
    fn results_carry_fingerprint_and_properties() {
        let outcome = testdata::sample();
        let doc = to_sarif_value(&outcome);
        let r = &results(&doc)[0];
        assert_eq!(
            r["partialFingerprints"][FINGERPRINT_KEY],
            outcome.findings[0].fingerprint
        );
        let p = &r["properties"];
        assert_eq!(p["endpoint"], "shop.example.com:23");
        assert_eq!(p["host"], "shop.example.com");
        assert_eq!(p["ip"], "192.0.2.10");
        assert_eq!(p["port"], 23);
        assert_eq!(p["subject"], "port");
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["target_tags"], serde_json::json!(["dmz"]));
        assert_eq!(p["owner"], "web-team");
        assert_eq!(p["remediation"], "Close it.");
        // Evidence is data, not markdown: kept verbatim.
        assert_eq!(p["evidence"]["port.banner"], testdata::HOSTILE);
    }

    #[test]
    fn run_metadata_and_incomplete_notifications() {
        let doc = to_sarif_value(&testdata::sample());
        let run = &doc["runs"][0];
        assert_eq!(run["automationDetails"]["id"], "posture/nightly/");
        let inv = &run["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false);
        assert_eq!(inv["startTimeUtc"], "2025-01-02T03:04:05Z");
        assert_eq!(inv["endTimeUtc"], "2025-01-02T03:04:07.31Z");
        let notes = inv["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["level"], "warning");
        assert_eq!(
            notes[0]["message"]["text"],
            "\\[2001:db8::2\\]:443: tls: handshake timed out after 4500 ms \\[x\\](1)"
        );
        assert_eq!(run["properties"]["complete"], false);
        assert_eq!(run["properties"]["stats"]["open"], 3);
        assert_eq!(run["properties"]["scope"]["ports"], "top100");
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "posture");
        assert_eq!(driver["semanticVersion"], "0.1.0");
        assert_eq!(driver["informationUri"], INFORMATION_URI);
    }

    #[test]
    fn interrupted_and_odd_inputs_stay_valid() {
        let mut o = testdata::sample();
        o.scan.interrupted = true;
        o.scan.started_at = "not a date".into();
        o.scan.finished_at = "2025-01-02T04:04:05+01:00".into();
        o.scan.automation_id = String::new();
        // A finding whose rule is not listed, with a hostile location and line 0.
        let mut f = o.findings[3].clone();
        f.rule_id = "user.custom".into();
        f.location = Location {
            uri: "/abs/../C:\\dir with space/posture.toml".into(),
            line: Some(0),
        };
        f.message = String::new();
        o.findings.push(f);
        let doc = to_sarif_value(&o);
        assert_schema_valid(&doc);
        let run = &doc["runs"][0];
        assert!(run.get("automationDetails").is_none());
        let inv = &run["invocations"][0];
        assert!(inv.get("startTimeUtc").is_none());
        assert_eq!(inv["endTimeUtc"], "2025-01-02T03:04:05Z");
        assert_eq!(
            inv["toolExecutionNotifications"].as_array().unwrap().len(),
            2
        );
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 5);
        assert_eq!(rules[4]["id"], "user.custom");
        let last = results(&doc).last().unwrap();
        assert_eq!(last["ruleIndex"], 4);
        let loc = &last["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "abs/__/C_/dir%20with%20space/posture.toml"
        );
        assert_eq!(loc["region"]["startLine"], 1);
        assert_eq!(
            last["message"]["text"],
            "10.0.0.5:3389: Title of port.open.info"
        );
    }

    #[test]
    fn artifact_uris_are_sanitised() {
        assert_eq!(
            artifact_uri("targets/port/10.0.0.5/3389"),
            "targets/port/10.0.0.5/3389"
        );
        assert_eq!(artifact_uri("./posture.toml"), "posture.toml");
        assert_eq!(artifact_uri("https://evil/x"), "https_/evil/x");
        assert_eq!(artifact_uri("host:443"), "host_443");
        assert_eq!(artifact_uri(""), "_");
        assert_eq!(artifact_uri("a/b?c#d%"), "a/b%3Fc%23d%25");
        assert_eq!(artifact_uri("é"), "%C3%A9");
        for bad in ["", "a:b", "/abs", "a//b", "a/../b", "a b", "a\\b", "./a"] {
            assert!(!is_safe_artifact_uri(bad), "{bad}");
        }
    }

    #[test]
    fn caps_results_and_tags_at_github_limits() {
        let mut o = testdata::sample();
        let base = o.findings[3].clone();
        o.findings = (0..MAX_RESULTS + 3).map(|_| base.clone()).collect();
        o.rules[3].tags = (0..30).map(|i| format!("t{i}")).collect();
        let log = to_sarif(&o);
        assert_eq!(log.runs[0].results.len(), MAX_RESULTS);
        assert_eq!(log.runs[0].properties.omitted_results, 3);
        let tags = &log.runs[0].tool.driver.rules[3].properties.tags;
        assert_eq!(tags.len(), MAX_RULE_TAGS);
        assert_eq!(tags[0], "security");
    }

    #[test]
    fn names_and_escaping_helpers() {
        assert_eq!(camel_case("port.risky-service"), "PortRiskyService");
        assert_eq!(camel_case("tls.cert.expired"), "TlsCertExpired");
        assert_eq!(camel_case("a__b..c"), "ABC");
        assert_eq!(escape_message("a[b]c\\d", 100), "a\\[b\\]c\\\\d");
        assert_eq!(escape_message("abcdef", 3), "abc…");
        assert_eq!(cap_chars("héllo", 2), "hé…");
        assert_eq!(longest_backtick_run("a ``` b `"), 3);
    }

    #[test]
    fn baseline_states_suppressions_and_absent_results_validate() {
        use crate::report::baseline::{apply_baseline, Baseline};
        let mut o = testdata::sample();
        let mut before = o.findings.clone();
        before[1].severity = Severity::Medium; // → updated
        before.remove(2); // → new
        let mut gone = o.findings[3].clone();
        gone.rule_id = "port.retired-rule".into(); // a rule no longer active
        gone.fingerprint = "9".repeat(64);
        before.push(gone);
        o.findings[0].suppressed = Some(crate::finding::SuppressionInfo {
            reason: "jump host, accepted risk CR-1234 [x](1)".into(),
            expires: Some("2027-03-01".into()),
            declared_at: "posture.toml:20:1".into(),
        });
        apply_baseline(
            &mut o,
            &Baseline {
                source: "prev.sarif".into(),
                started_at: None,
                findings: before,
            },
        );
        let doc = to_sarif_value(&o);
        assert_schema_valid(&doc);
        let rs = results(&doc);
        let states: Vec<&str> = rs
            .iter()
            .map(|r| r["baselineState"].as_str().unwrap())
            .collect();
        assert_eq!(
            states,
            ["unchanged", "updated", "new", "unchanged", "absent"]
        );
        assert_eq!(rs[1]["properties"]["previous_severity"], "medium");
        let absent = &rs[4];
        assert_eq!(absent["kind"], "pass");
        assert_eq!(absent["level"], "none");
        assert_eq!(absent["ruleId"], "port.retired-rule");
        assert_eq!(
            absent["partialFingerprints"][FINGERPRINT_KEY],
            "9".repeat(64)
        );
        let rules = doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        let i = absent["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], "port.retired-rule");
        // Current results never carry `kind` (the default `fail`).
        assert!(rs[..4].iter().all(|r| r.get("kind").is_none()));
        let sup = &rs[0]["suppressions"][0];
        assert_eq!(sup["kind"], "external");
        assert_eq!(sup["status"], "accepted");
        assert_eq!(
            sup["justification"],
            "jump host, accepted risk CR-1234 [x](1)"
        );
        assert_eq!(sup["properties"]["expires"], "2027-03-01");
        // Without a baseline no result has a state.
        let plain = to_sarif_value(&testdata::sample());
        assert!(results(&plain)
            .iter()
            .all(|r| r.get("baselineState").is_none()));
    }

    #[test]
    fn write_sarif_file_and_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posture.sarif");
        write_sarif(&path, &testdata::sample()).unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_schema_valid(&doc);
        let err = write_sarif(&dir.path().join("nope/x.sarif"), &testdata::sample()).unwrap_err();
        assert!(matches!(err, ReportError::Write { .. }), "{err}");
    }
}
