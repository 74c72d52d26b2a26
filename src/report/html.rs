//! The HTML risk report: one self-contained file an auditor can read top to bottom, and print.
//!
//! Why it is built this way:
//!
//! * **Every interpolation is auto-escaped** by askama (the template is `.html`). The only
//!   `|safe` in the template is the report's own script, a compile-time constant; a unit test
//!   pins that. Server-derived strings (banners, certificate names, headers, TXT records) can
//!   therefore never become markup or script, in text, attributes or the inline SVG.
//! * **Control and bidi characters are made visible** (`\x1b`, `\u{202e}`) before escaping, so
//!   a U+202E in a certificate subject cannot reverse what the auditor reads, and every shown
//!   string is capped ([`EVIDENCE_MAX_CHARS`]).
//! * **A Content-Security-Policy meta tag** allows nothing but inline styles and the one script
//!   whose SHA-256 it names (computed here from the script's bytes), so even a missed escape
//!   could not run script, and the page cannot make any network request. It works offline and
//!   from `file://`.
//! * **Links** are only ever `http(s)` rule references, never server data.
//! * **Nothing reads the clock**: a report rebuilt from JSON (`posture report`) is identical.

use super::atomic::write_atomic_with;
use super::exit::FailOn;
use super::summary::{self, GRADE_RULES};
use super::text::visible_control;
use super::ReportError;
use crate::engine::limits::EVIDENCE_MAX_CHARS;
use crate::fact::dns::DnsFacts;
use crate::fact::SubjectFacts;
use crate::finding::{Finding, Severity};
use crate::outcome::{BaselineState, ScanOutcome};
use askama::Template;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// The report's own script (filters, sort, search, detail toggles). Static: never built from
/// scan data, which is why it alone may be inserted unescaped.
pub const REPORT_SCRIPT: &str = include_str!("templates/report.js");

/// Findings shown on the page; beyond this the least severe are left out (the JSON has all).
pub const MAX_HTML_FINDINGS: usize = 10_000;
/// Certificates drawn on the timeline (the inventory lists all).
pub const MAX_TIMELINE_CERTS: usize = 40;
/// Columns and rows of the exposure matrix.
pub const MAX_MATRIX_PORTS: usize = 60;
pub const MAX_MATRIX_HOSTS: usize = 500;
/// Top risks listed in the summary.
pub const TOP_RISKS: usize = 10;
/// Short strings (names, endpoints, titles) are capped at this many characters.
const NAME_MAX_CHARS: usize = 256;
/// Banner characters in an exposure cell's tooltip.
const BANNER_TITLE_CHARS: usize = 120;
/// Items of long lists (targets, SANs) shown inline.
const LIST_MAX: usize = 50;

/// How to render the HTML report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HtmlOptions {
    /// The `--fail-on` threshold, shown as the CI gate's verdict.
    pub fail_on: FailOn,
}

/// Renders the report page.
pub fn render_html(outcome: &ScanOutcome, opts: &HtmlOptions) -> String {
    let page = build_page(outcome, opts);
    // Rendering plain strings and numbers into a String cannot fail; if askama ever reports
    // an error, say so in a page that is still valid (and still escaped).
    page.render().unwrap_or_else(|e| {
        format!(
            "<!DOCTYPE html><meta charset=\"utf-8\"><title>posture report</title><p>{}",
            askama::filters::escape(&e.to_string(), askama::filters::Html)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )
    })
}

/// Writes the HTML report to `path` atomically; `-` is stdout.
pub fn write_html(
    path: &Path,
    outcome: &ScanOutcome,
    opts: &HtmlOptions,
) -> Result<(), ReportError> {
    let html = render_html(outcome, opts);
    write_atomic_with(path, |w| w.write_all(html.as_bytes())).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The Content-Security-Policy of the page: nothing but inline styles and the script whose
/// hash is given. `base-uri` and `form-action` are not covered by `default-src`, so they are
/// closed explicitly.
pub fn content_security_policy(script: &str) -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
        base64(&Sha256::digest(script.as_bytes()))
    )
}

/// Standard base64 with padding (RFC 4648 §4), for the CSP hash source.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `s` as shown on the page: control and bidi/invisible characters as visible escapes, at most
/// `max` characters (then `…`). HTML escaping is askama's job, after this.
pub fn shown(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match visible_control(c) {
            Some(v) => out.push_str(&v),
            None => out.push(c),
        }
    }
    out
}

fn name(s: &str) -> String {
    shown(s, NAME_MAX_CHARS)
}

fn long(s: &str) -> String {
    shown(s, EVIDENCE_MAX_CHARS)
}

/// Only absolute http(s) URLs become links; anything else (a `javascript:` URL in a user's
/// rule pack) is shown as text or not at all.
fn safe_link(uri: &str) -> Option<String> {
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !uri
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '<' | '>'));
    ok.then(|| uri.to_string())
}

/// 0 for critical … 4 for info: the sort key and the severity filter's threshold.
fn rank(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(4)
}

fn days_text(days: i64) -> String {
    match days {
        d if d < -1 => format!("expired {} days ago", -d),
        -1 => "expired 1 day ago".into(),
        0 => "expires today".into(),
        1 => "1 day left".into(),
        d => format!("{d} days left"),
    }
}

#[derive(Template)]
#[template(path = "report.html", config = "src/report/askama.toml")]
struct ReportPage {
    csp: String,
    script: &'static str,
    title: String,
    tool_version: String,
    meta: MetaView,
    complete: bool,
    interrupted: bool,
    grade_letter: &'static str,
    grade_reason: String,
    grade_provisional: bool,
    grade_rules: &'static [(&'static str, &'static str)],
    counts: Vec<CountView>,
    total_active: usize,
    fail_on_text: String,
    gate_failed: bool,
    gate_count: usize,
    open_ports: usize,
    open_hosts: usize,
    stats_hosts: u64,
    stats_ports: u64,
    certs_expired: usize,
    certs_30: usize,
    has_changes: bool,
    changes: Option<ChangesView>,
    new_findings: Vec<FindingView>,
    updated_findings: Vec<FindingView>,
    fixed: Vec<FindingView>,
    risks: Vec<RiskView>,
    timeline: Timeline,
    certs: Vec<CertView>,
    exposure: ExposureView,
    dns: Vec<DnsView>,
    findings: Vec<FindingView>,
    findings_omitted: usize,
    filter_rules: Vec<String>,
    filter_hosts: Vec<String>,
    filter_tags: Vec<String>,
    suppressed: Vec<SuppressedView>,
    incomplete: Vec<IncompleteView>,
    packs: Vec<(String, String, usize)>,
    rules: Vec<RuleView>,
}

struct MetaView {
    automation_id: String,
    started_at: String,
    finished_at: String,
    duration: String,
    shard: Option<String>,
    targets: Vec<String>,
    more_targets: usize,
    domains: Vec<String>,
    excludes: Vec<String>,
    ports: String,
    checks: String,
    config_file: Option<String>,
    stats: String,
    limits: Vec<(String, u64)>,
}

struct CountView {
    severity: &'static str,
    active: usize,
    new: usize,
}

struct ChangesView {
    source: String,
    started_at: Option<String>,
    new: usize,
    updated: usize,
    unchanged: usize,
    fixed: usize,
}

struct RiskView {
    severity: &'static str,
    rule_id: String,
    title: String,
    endpoints: usize,
    new: usize,
    examples: Vec<String>,
    more: usize,
    remediation: String,
}

struct FindingView {
    rank: usize,
    severity: &'static str,
    rule_id: String,
    title: String,
    endpoint: String,
    host: String,
    message: String,
    remediation: String,
    evidence: Vec<(String, String)>,
    status: &'static str,
    status_label: &'static str,
    /// Space-separated, for the tag filter.
    tags: String,
    tag_list: Vec<String>,
    owner: Option<String>,
    location: String,
    fingerprint: String,
    help_uri: Option<String>,
    suppressed: Option<SuppressionView>,
    previous_severity: Option<&'static str>,
}

struct SuppressionView {
    reason: String,
    expires: String,
    declared_at: String,
}

struct SuppressedView {
    severity: &'static str,
    rule_id: String,
    endpoint: String,
    reason: String,
    expires: String,
    declared_at: String,
}

struct IncompleteView {
    endpoint: String,
    stage: String,
    reason: String,
}

struct RuleView {
    id: String,
    title: String,
    severity: &'static str,
    subject: &'static str,
    when: String,
    pack: String,
}

struct CertView {
    status: &'static str,
    days: String,
    not_after: String,
    subject: String,
    role: &'static str,
    flags: Vec<&'static str>,
    issuer: String,
    sans: Vec<String>,
    more_sans: usize,
    key: String,
    signature: String,
    endpoints: Vec<String>,
    sha256: String,
    sha256_short: String,
}

struct Timeline {
    width: u32,
    height: u32,
    top: u32,
    bottom: u32,
    label_x: u32,
    label_y: u32,
    bar_h: u32,
    x_today: String,
    x_window: String,
    ticks: Vec<Tick>,
    rows: Vec<TimelineRow>,
    more: usize,
}

struct Tick {
    x: String,
    label: &'static str,
}

struct TimelineRow {
    y: u32,
    text_y: u32,
    x: String,
    w: String,
    text_x: String,
    class: &'static str,
    label: String,
    days: String,
    title: String,
}

struct ExposureView {
    ports: Vec<u16>,
    hosts: Vec<ExposureRowView>,
    more_ports: usize,
    more_hosts: usize,
}

struct ExposureRowView {
    address: String,
    cells: Vec<Option<CellView>>,
}

struct CellView {
    service: String,
    class: &'static str,
    title: String,
}

struct DnsView {
    name: String,
    note: String,
    findings: usize,
    worst: &'static str,
    checks: Vec<DnsCheck>,
}

struct DnsCheck {
    check: &'static str,
    status: &'static str,
    word: &'static str,
    detail: String,
}

fn build_page(outcome: &ScanOutcome, opts: &HtmlOptions) -> ReportPage {
    let grade = summary::grade(outcome);
    let active = summary::active_counts(outcome);
    let new = summary::new_counts(outcome);
    let changes = summary::change_counts(outcome);
    let certs = summary::certificates(outcome);
    let exposure = summary::exposure(outcome);
    let (gate_failed, gate_count) = match opts.fail_on {
        FailOn::None => (false, 0),
        FailOn::Severity(t) => {
            let n = outcome
                .findings
                .iter()
                .filter(|f| f.suppressed.is_none() && f.severity >= t)
                .count();
            (n > 0, n)
        }
    };
    let open_hosts = exposure.rows.len();
    let open_ports = exposure
        .rows
        .iter()
        .map(|r| r.1.iter().filter(|c| c.is_some()).count())
        .sum();

    let shown_findings = outcome.findings.len().min(MAX_HTML_FINDINGS);
    let findings: Vec<FindingView> = outcome.findings[..shown_findings]
        .iter()
        .map(|f| finding_view(outcome, f))
        .collect();
    let mut rules_set = BTreeSet::new();
    let mut hosts_set = BTreeSet::new();
    let mut tags_set = BTreeSet::new();
    for f in &findings {
        rules_set.insert(f.rule_id.clone());
        hosts_set.insert(f.host.clone());
        tags_set.extend(f.tag_list.iter().cloned());
    }

    let view_of_state = |state| {
        super::baseline::findings_in_state(outcome, state)
            .into_iter()
            .map(|f| finding_view(outcome, f))
            .collect::<Vec<_>>()
    };
    let (new_findings, updated_findings, fixed) = if outcome.baseline.is_some() {
        (
            view_of_state(BaselineState::New),
            view_of_state(BaselineState::Updated),
            view_of_state(BaselineState::Absent),
        )
    } else {
        (vec![], vec![], vec![])
    };

    let risks = summary::top_risks(outcome, TOP_RISKS)
        .into_iter()
        .map(|r| RiskView {
            severity: r.severity.as_str(),
            rule_id: name(r.rule_id),
            title: name(r.title),
            endpoints: r.endpoints,
            new: r.new,
            more: r.endpoints.saturating_sub(r.examples.len()),
            examples: r.examples.iter().map(|e| name(e)).collect(),
            remediation: long(r.remediation),
        })
        .collect();

    let scan = &outcome.scan;
    let s = &scan.stats;
    let meta = MetaView {
        automation_id: name(&scan.automation_id),
        started_at: name(&scan.started_at),
        finished_at: name(&scan.finished_at),
        duration: format!("{:.2} s", scan.duration_ms as f64 / 1000.0),
        shard: scan.shard.as_deref().map(name),
        targets: scan.scope.targets.iter().take(LIST_MAX).map(|t| name(t)).collect(),
        more_targets: scan.scope.targets.len().saturating_sub(LIST_MAX),
        domains: scan.scope.domains.iter().take(LIST_MAX).map(|t| name(t)).collect(),
        excludes: scan.scope.excludes.iter().take(LIST_MAX).map(|t| name(t)).collect(),
        ports: name(&scan.scope.ports),
        checks: name(&scan.scope.checks.join(", ")),
        config_file: scan.config_file.as_deref().map(name),
        stats: format!(
            "{} address(es), {} port(s) probed: {} open, {} closed, {} filtered; {} subject(s) judged; {} local retries",
            s.hosts, s.ports_scanned, s.open, s.closed, s.filtered, s.subjects, s.local_retries
        ),
        limits: scan.limits.iter().map(|(k, v)| (name(k), *v)).collect(),
    };

    ReportPage {
        csp: content_security_policy(REPORT_SCRIPT),
        script: REPORT_SCRIPT,
        title: format!("posture risk report: {}", name(&scan.automation_id)),
        tool_version: name(&outcome.tool.version),
        meta,
        complete: outcome.is_complete(),
        interrupted: scan.interrupted,
        grade_letter: grade.letter,
        grade_reason: grade.reason,
        grade_provisional: grade.provisional,
        grade_rules: &GRADE_RULES,
        counts: Severity::ALL
            .iter()
            .map(|sev| CountView {
                severity: sev.as_str(),
                active: active.get(sev).copied().unwrap_or(0),
                new: new.get(sev).copied().unwrap_or(0),
            })
            .collect(),
        total_active: active.values().sum(),
        fail_on_text: opts.fail_on.to_string(),
        gate_failed,
        gate_count,
        open_ports,
        open_hosts,
        stats_hosts: s.hosts,
        stats_ports: s.ports_scanned,
        certs_expired: certs.iter().filter(|c| c.cert.days_left < 0).count(),
        certs_30: certs
            .iter()
            .filter(|c| (0..30).contains(&c.cert.days_left))
            .count(),
        has_changes: changes.is_some(),
        changes: changes.and_then(|c| {
            let b = outcome.baseline.as_ref()?;
            Some(ChangesView {
                source: name(&b.source),
                started_at: b.started_at.as_deref().map(name),
                new: c.new,
                updated: c.updated,
                unchanged: c.unchanged,
                fixed: c.fixed,
            })
        }),
        new_findings,
        updated_findings,
        fixed,
        risks,
        timeline: timeline(&certs),
        certs: certs.iter().map(cert_view).collect(),
        exposure: exposure_view(&exposure),
        dns: dns_views(outcome),
        findings_omitted: outcome.findings.len() - shown_findings,
        findings,
        filter_rules: rules_set.into_iter().collect(),
        filter_hosts: hosts_set.into_iter().collect(),
        filter_tags: tags_set.into_iter().collect(),
        suppressed: outcome
            .findings
            .iter()
            .filter_map(|f| {
                let s = f.suppressed.as_ref()?;
                Some(SuppressedView {
                    severity: f.severity.as_str(),
                    rule_id: name(&f.rule_id),
                    endpoint: name(&f.endpoint),
                    reason: long(&s.reason),
                    expires: s
                        .expires
                        .as_deref()
                        .map(name)
                        .unwrap_or_else(|| "never".into()),
                    declared_at: name(&s.declared_at),
                })
            })
            .collect(),
        incomplete: outcome
            .incomplete
            .iter()
            .map(|i| IncompleteView {
                endpoint: name(&i.endpoint),
                stage: name(&i.stage),
                reason: long(&i.reason),
            })
            .collect(),
        packs: outcome
            .tool
            .packs
            .iter()
            .map(|p| (name(&p.name), name(&p.sha256), p.rules))
            .collect(),
        rules: outcome
            .rules
            .iter()
            .map(|r| RuleView {
                id: name(&r.id),
                title: name(&r.title),
                severity: r.severity.as_str(),
                subject: r.subject.as_str(),
                when: long(&r.when),
                pack: name(&r.pack),
            })
            .collect(),
    }
}

fn finding_view(outcome: &ScanOutcome, f: &Finding) -> FindingView {
    let state = outcome.baseline_state(f);
    let (status, status_label) = if f.suppressed.is_some() {
        ("suppressed", "suppressed")
    } else {
        match state {
            Some(BaselineState::New) => ("new", "new"),
            Some(BaselineState::Updated) => ("updated", "updated"),
            Some(BaselineState::Unchanged) => ("unchanged", "unchanged"),
            Some(BaselineState::Absent) => ("fixed", "fixed"),
            None => ("open", "open"),
        }
    };
    let tag_list: Vec<String> = f
        .tags
        .iter()
        .chain(&f.target_tags)
        .map(|t| name(t).replace(char::is_whitespace, "_"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    FindingView {
        rank: rank(f.severity),
        severity: f.severity.as_str(),
        rule_id: name(&f.rule_id),
        title: name(&f.title),
        endpoint: name(&f.endpoint),
        host: name(&f.host),
        message: long(&f.message),
        remediation: long(&f.remediation),
        evidence: f.evidence.iter().map(|(k, v)| (name(k), long(v))).collect(),
        status,
        status_label,
        tags: tag_list.join(" "),
        tag_list,
        owner: f.owner.as_deref().map(name),
        location: match f.location.line {
            Some(l) => format!("{}:{l}", name(&f.location.uri)),
            None => name(&f.location.uri),
        },
        fingerprint: name(&f.fingerprint),
        help_uri: f.help_uri.as_deref().and_then(safe_link).map(|u| name(&u)),
        suppressed: f.suppressed.as_ref().map(|s| SuppressionView {
            reason: long(&s.reason),
            expires: s
                .expires
                .as_deref()
                .map(|e| format!("expires {}", name(e)))
                .unwrap_or_else(|| "no expiry".into()),
            declared_at: name(&s.declared_at),
        }),
        previous_severity: outcome.previous_severity(f).map(Severity::as_str),
    }
}

/// The readable part of a distinguished name: its CN, else the whole name.
fn common_name(dn: &str) -> &str {
    dn.split(',')
        .map(str::trim)
        .find_map(|rdn| rdn.strip_prefix("CN=").or_else(|| rdn.strip_prefix("cn=")))
        .filter(|cn| !cn.is_empty())
        .unwrap_or(dn)
}

fn expiry_class(days: i64) -> &'static str {
    match days {
        d if d < 0 => "expired",
        d if d < 30 => "urgent",
        d if d < 90 => "soon",
        _ => "ok",
    }
}

fn cert_view(e: &summary::CertEntry<'_>) -> CertView {
    let c = e.cert;
    let mut flags = Vec::new();
    if c.expired {
        flags.push("expired");
    }
    if c.not_yet_valid {
        flags.push("not yet valid");
    }
    if c.self_signed {
        flags.push("self-signed");
    }
    if c.weak_signature {
        flags.push("weak signature");
    }
    let sha = name(&c.sha256);
    CertView {
        status: match expiry_class(c.days_left) {
            "expired" => "bad",
            "urgent" | "soon" => "warn",
            _ => "ok",
        },
        days: days_text(c.days_left),
        not_after: name(&c.not_after),
        subject: name(&c.subject),
        // The same role names as the JSON report's certificate inventory.
        role: crate::engine::inventory::role_of(c),
        flags,
        issuer: name(&c.issuer),
        sans: c.sans.iter().take(LIST_MAX).map(|s| name(s)).collect(),
        more_sans: c.sans.len().saturating_sub(LIST_MAX),
        key: format!("{} {}", name(&c.key_type), c.key_bits),
        signature: name(&c.signature_algorithm),
        endpoints: e.endpoints.iter().take(LIST_MAX).map(|s| name(s)).collect(),
        sha256_short: sha.chars().take(16).collect::<String>() + "…",
        sha256: sha,
    }
}

// Timeline geometry (SVG user units). Days outside [TIMELINE_MIN_DAYS, TIMELINE_MAX_DAYS] are
// drawn at the edge, with the true number in the label.
const TIMELINE_WIDTH: u32 = 1000;
const TIMELINE_LABEL_W: u32 = 300;
const TIMELINE_RIGHT_PAD: u32 = 110;
const TIMELINE_ROW_H: u32 = 22;
const TIMELINE_TOP: u32 = 26;
const TIMELINE_MIN_DAYS: i64 = -60;
const TIMELINE_MAX_DAYS: i64 = 400;

fn day_x(days: i64) -> f64 {
    let d = days.clamp(TIMELINE_MIN_DAYS, TIMELINE_MAX_DAYS);
    let span = (TIMELINE_MAX_DAYS - TIMELINE_MIN_DAYS) as f64;
    let chart = f64::from(TIMELINE_WIDTH - TIMELINE_LABEL_W - TIMELINE_RIGHT_PAD);
    f64::from(TIMELINE_LABEL_W) + 10.0 + (d - TIMELINE_MIN_DAYS) as f64 / span * chart
}

fn num(x: f64) -> String {
    format!("{x:.1}")
}

fn timeline(certs: &[summary::CertEntry<'_>]) -> Timeline {
    let drawn = &certs[..certs.len().min(MAX_TIMELINE_CERTS)];
    let bottom = TIMELINE_TOP + drawn.len() as u32 * TIMELINE_ROW_H + 4;
    let today = day_x(0);
    let rows = drawn
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let c = e.cert;
            let end = day_x(c.days_left);
            let (x, w) = if end >= today {
                (today, end - today)
            } else {
                (end, today - end)
            };
            let y = TIMELINE_TOP + i as u32 * TIMELINE_ROW_H + 4;
            let role = if c.position == 0 { "" } else { " (chain)" };
            let label = format!("{}{role}", common_name(&c.subject));
            TimelineRow {
                y,
                text_y: y + 11,
                x: num(x),
                w: num(w.max(2.0)),
                text_x: num(x + w.max(2.0) + 6.0),
                class: expiry_class(c.days_left),
                label: shown(&label, 44),
                days: days_text(c.days_left),
                title: name(&format!(
                    "{}: {} ({})",
                    c.subject,
                    days_text(c.days_left),
                    c.not_after
                )),
            }
        })
        .collect();
    let ticks = [
        (-60, "60 d ago"),
        (0, "scan"),
        (90, "90 d"),
        (180, "180 d"),
        (365, "1 year"),
    ]
    .into_iter()
    .map(|(d, label)| Tick {
        x: num(day_x(d)),
        label,
    })
    .collect();
    Timeline {
        width: TIMELINE_WIDTH,
        height: bottom + 6,
        top: TIMELINE_TOP,
        bottom,
        label_x: TIMELINE_LABEL_W,
        label_y: TIMELINE_TOP - 10,
        bar_h: TIMELINE_ROW_H - 8,
        x_today: num(today),
        x_window: num(day_x(30)),
        ticks,
        rows,
        more: certs.len() - drawn.len(),
    }
}

fn exposure_view(e: &summary::Exposure<'_>) -> ExposureView {
    let ports = e.ports.len().min(MAX_MATRIX_PORTS);
    let hosts = e.rows.len().min(MAX_MATRIX_HOSTS);
    ExposureView {
        ports: e.ports[..ports].to_vec(),
        hosts: e.rows[..hosts]
            .iter()
            .map(|(addr, cells)| ExposureRowView {
                address: name(addr),
                cells: cells[..ports]
                    .iter()
                    .map(|c| {
                        c.as_ref().map(|c| CellView {
                            service: shown(c.service, 24),
                            class: c.worst.map_or("none", Severity::as_str),
                            title: {
                                let verdict = match c.worst {
                                    Some(s) => format!("worst finding {s}"),
                                    None => "no finding".into(),
                                };
                                let banner = c.banner.trim();
                                if banner.is_empty() {
                                    format!("{}: {verdict}", name(c.service))
                                } else {
                                    format!(
                                        "{}: {verdict}; banner: {}",
                                        name(c.service),
                                        shown(banner, BANNER_TITLE_CHARS)
                                    )
                                }
                            },
                        })
                    })
                    .collect(),
            })
            .collect(),
        more_ports: e.ports.len() - ports,
        more_hosts: e.rows.len() - hosts,
    }
}

fn dns_views(outcome: &ScanOutcome) -> Vec<DnsView> {
    outcome
        .subjects
        .iter()
        .filter_map(|s| match s {
            SubjectFacts::Dns(d) => Some(d),
            _ => None,
        })
        .map(|d| {
            let related: Vec<&Finding> = outcome
                .findings
                .iter()
                .filter(|f| f.subject == crate::finding::Subject::Dns && f.endpoint == d.endpoint)
                .collect();
            let worst = summary::worst_active(related.iter().copied());
            let mut note = String::new();
            if !d.dns.zone.is_empty() && d.dns.zone != d.dns.name {
                note = format!("In zone {}.", name(&d.dns.zone));
            }
            if !d.dns.complete {
                note.push_str(&format!(
                    " Some checks got no definitive answer: {}",
                    long(&d.dns.errors.join("; "))
                ));
            }
            DnsView {
                name: name(&d.endpoint),
                note: note.trim().to_string(),
                findings: related.iter().filter(|f| f.suppressed.is_none()).count(),
                worst: worst.map_or("none", Severity::as_str),
                checks: dns_checks(&d.dns),
            }
        })
        .collect()
}

fn check(check: &'static str, status: &'static str, detail: String) -> DnsCheck {
    let word = match status {
        "ok" => "ok",
        "warn" => "weak",
        "bad" => "problem",
        _ => "n/a",
    };
    DnsCheck {
        check,
        status,
        word,
        detail,
    }
}

fn not_checked(what: &'static str) -> DnsCheck {
    check(what, "na", "no definitive answer".into())
}

/// The per-domain posture, from the facts the DNS probe recorded: a status word and the
/// record or reason, per mechanism.
fn dns_checks(d: &DnsFacts) -> Vec<DnsCheck> {
    let mut v = Vec::new();
    let mail = d.mx.checked && d.mx.accepts_mail;
    v.push(if !d.spf.checked {
        not_checked("SPF")
    } else if !d.spf.present {
        check(
            "SPF",
            if mail { "bad" } else { "warn" },
            if d.spf.records_found > 1 {
                format!("{} v=spf1 records (a permanent error)", d.spf.records_found)
            } else {
                "no SPF record".into()
            },
        )
    } else if d.spf.permissive {
        check(
            "SPF",
            "bad",
            format!("{}: {}", name(&d.spf.all), long(&d.spf.record)),
        )
    } else if d.spf.invalid || d.spf.too_many_lookups {
        check(
            "SPF",
            "warn",
            format!(
                "{} ({})",
                long(&d.spf.record),
                long(&d.spf.errors.join("; "))
            ),
        )
    } else {
        check("SPF", "ok", long(&d.spf.record))
    });
    v.push(if !d.dmarc.checked {
        not_checked("DMARC")
    } else if !d.dmarc.present {
        check(
            "DMARC",
            if mail { "bad" } else { "warn" },
            "no DMARC record".into(),
        )
    } else if d.dmarc.weak || d.dmarc.unauthorized_report {
        check("DMARC", "warn", long(&d.dmarc.record))
    } else {
        check("DMARC", "ok", long(&d.dmarc.record))
    });
    v.push(if !d.mx.checked {
        not_checked("MX")
    } else if d.mx.null_mx {
        check("MX", "ok", "null MX: the domain accepts no mail".into())
    } else if d.mx.records.is_empty() {
        check("MX", "na", "no MX records".into())
    } else {
        let hosts: Vec<String> =
            d.mx.records
                .iter()
                .take(LIST_MAX)
                .map(|m| format!("{} {}", m.preference, name(&m.exchange)))
                .collect();
        let status = if d.mx.invalid || !d.mx.problems.is_empty() {
            "warn"
        } else {
            "ok"
        };
        let mut detail = hosts.join(", ");
        if !d.mx.problems.is_empty() {
            detail.push_str(&format!(" ({})", long(&d.mx.problems.join("; "))));
        }
        check("MX", status, detail)
    });
    v.push(if !d.mta_sts.checked {
        not_checked("MTA-STS")
    } else if d.mta_sts.record_present && d.mta_sts.valid {
        check("MTA-STS", "ok", format!("mode {}", name(&d.mta_sts.mode)))
    } else if d.mta_sts.record_present {
        check("MTA-STS", "warn", long(&d.mta_sts.errors.join("; ")))
    } else {
        check(
            "MTA-STS",
            if mail { "warn" } else { "na" },
            "no MTA-STS policy".into(),
        )
    });
    v.push(if !d.tls_rpt.checked {
        not_checked("TLS-RPT")
    } else if d.tls_rpt.present {
        check("TLS-RPT", "ok", long(&d.tls_rpt.record))
    } else {
        check(
            "TLS-RPT",
            if mail { "warn" } else { "na" },
            "no TLS-RPT record".into(),
        )
    });
    v.push(if !d.caa.checked {
        not_checked("CAA")
    } else if d.caa.present {
        check("CAA", "ok", long(&d.caa.records.join("; ")))
    } else {
        check("CAA", "warn", "no CAA record: any CA may issue".into())
    });
    v.push(if !d.dnssec.checked {
        not_checked("DNSSEC")
    } else if d.dnssec.present {
        check(
            "DNSSEC",
            if d.dnssec.min_days_left < 7 {
                "warn"
            } else {
                "ok"
            },
            format!(
                "signed; earliest signature expiry in {} days",
                d.dnssec.min_days_left
            ),
        )
    } else {
        check("DNSSEC", "warn", "unsigned".into())
    });
    if d.is_zone_apex {
        v.push(if !d.ns.checked {
            not_checked("Nameservers")
        } else if d.ns.lame {
            check(
                "Nameservers",
                "bad",
                format!("lame: {}", long(&d.ns.lame_servers.join(", "))),
            )
        } else if d.ns.single || d.ns.same_network {
            check(
                "Nameservers",
                "warn",
                format!(
                    "{}{}",
                    long(&d.ns.names.join(", ")),
                    if d.ns.single {
                        " (a single nameserver)"
                    } else {
                        " (all in one network)"
                    }
                ),
            )
        } else {
            check("Nameservers", "ok", long(&d.ns.names.join(", ")))
        });
        v.push(if !d.axfr.checked {
            not_checked("Zone transfer")
        } else if d.axfr.open {
            let allowed: Vec<String> = d
                .axfr
                .attempts
                .iter()
                .filter(|a| a.allowed)
                .map(|a| name(&a.server))
                .collect();
            check(
                "Zone transfer",
                "bad",
                format!("AXFR allowed by {}", allowed.join(", ")),
            )
        } else {
            check("Zone transfer", "ok", "refused by every nameserver".into())
        });
        v.push(if !d.recursion.checked {
            not_checked("Recursion")
        } else if d.recursion.open {
            check(
                "Recursion",
                "bad",
                "a nameserver answers recursive queries for anyone".into(),
            )
        } else {
            check("Recursion", "ok", "refused".into())
        });
    }
    if d.cname.checked && d.cname.present {
        v.push(if d.cname.dangling {
            check(
                "CNAME",
                "bad",
                format!(
                    "dangling: {} ({})",
                    name(&d.cname.target),
                    name(&d.cname.status)
                ),
            )
        } else {
            check("CNAME", "ok", name(&d.cname.target))
        });
    }
    if d.wildcard.checked && d.wildcard.present {
        v.push(check(
            "Wildcard",
            "warn",
            format!("answers any name: {}", long(&d.wildcard.answers.join(", "))),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::SuppressionInfo;
    use crate::report::testdata;

    fn hostile_outcome() -> ScanOutcome {
        let mut o = testdata::sample();
        let mut tls = crate::fact::tls::sample();
        if let Some(c) = tls.cert.as_mut() {
            c.subject = format!("CN={}", testdata::HOSTILE);
            c.sans = vec![testdata::HOSTILE.into()];
        }
        let mut dns = crate::fact::dns::sample();
        dns.dns.spf.record = testdata::HOSTILE.into();
        o.subjects.push(SubjectFacts::Tls(Box::new(tls)));
        o.subjects.push(SubjectFacts::Dns(Box::new(dns)));
        o.findings[2].suppressed = Some(SuppressionInfo {
            reason: testdata::HOSTILE.into(),
            expires: Some("2027-03-01".into()),
            declared_at: "posture.toml:20:1".into(),
        });
        o.findings[0].help_uri = Some("javascript:alert(1)".into());
        o.findings[1].help_uri = Some("https://posture.example/rules/tls".into());
        o
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn csp_names_the_hash_of_the_embedded_script() {
        let html = render_html(&testdata::sample(), &HtmlOptions::default());
        let csp = content_security_policy(REPORT_SCRIPT);
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(
            html.contains(&format!(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
                csp.replace('\'', "&#39;")
            )),
            "CSP meta missing"
        );
        // The script in the page is byte for byte the hashed one.
        let start = html.find("<script>").unwrap() + "<script>".len();
        let end = html[start..].find("</script>").unwrap() + start;
        assert_eq!(&html[start..end], REPORT_SCRIPT);
        assert_eq!(html.matches("<script").count(), 1);
        assert!(!REPORT_SCRIPT.to_ascii_lowercase().contains("</script"));
    }

    #[test]
    fn template_uses_safe_only_for_the_script() {
        let template = include_str!("templates/report.html");
        let safe: Vec<&str> = template
            .match_indices("|safe")
            .map(|(i, _)| &template[i.saturating_sub(9)..i])
            .collect();
        assert_eq!(
            safe,
            ["{{ script"],
            "only the static script may be unescaped"
        );
        // No inline event handler attribute (` onclick=`): CSP would block it anyway.
        for (i, _) in template.match_indices(" on") {
            let rest = &template[i + 3..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                !rest[word.len()..].starts_with('='),
                "inline handler `on{word}=` in the template"
            );
        }
        // The only absolute URL is the SVG namespace: the page references nothing external.
        assert_eq!(template.matches("://").count(), 1);
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let html = render_html(&hostile_outcome(), &HtmlOptions::default());
        assert!(!html.contains("<script>alert(1)"), "raw script payload");
        assert!(!html.contains("<img"), "raw img payload");
        assert!(!html.contains("onerror=alert(1)>"), "raw attribute payload");
        // askama writes numeric character references.
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"));
        assert!(!html.contains('\u{202e}') && !html.contains('\u{1b}'));
        assert!(html.contains("\\u{202e}evil") && html.contains("\\x1b[31mred"));
        // Not a link: the javascript: reference is dropped; the https one is kept.
        assert!(!html.contains("href=\"javascript"));
        assert!(html.contains("href=\"https://posture.example/rules/tls\""));
        // Control characters never reach the page (other than our own newlines).
        for c in html.chars() {
            assert!(c == '\n' || !c.is_control(), "raw {c:?}");
        }
    }

    #[test]
    fn page_has_every_section_and_the_facts() {
        let o = hostile_outcome();
        let html = render_html(&o, &HtmlOptions::default());
        for id in [
            "summary",
            "risks",
            "certificates",
            "exposure",
            "dns",
            "findings",
            "suppressed",
            "metadata",
        ] {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        assert!(
            !html.contains("id=\"changes\""),
            "no baseline, no changes section"
        );
        assert!(html.contains("grade-F"));
        assert!(html.contains("<svg class=\"timeline\""));
        assert!(html.contains("Example Intermediate CA (chain)"));
        assert!(html.contains("2027-03-01"), "suppression expiry");
        assert!(html.contains("posture.toml:20:1"));
        assert!(html.contains(&"ab".repeat(32)), "pack sha256");
        assert!(html.contains("handshake timed out after 4500 ms [x](1)"));
        assert!(html.contains("data-status=\"suppressed\""));
        assert!(html.contains("CI gate"));
        assert_eq!(html.matches("<tbody class=\"f\"").count(), o.findings.len());
        // DNS card from the sample zone.
        assert!(html.contains("DMARC") && html.contains("MTA-STS"));
        // Deterministic: the same outcome renders the same bytes.
        assert_eq!(html, render_html(&o, &HtmlOptions::default()));
    }

    #[test]
    fn baseline_changes_are_shown() {
        use crate::report::baseline::{apply_baseline, Baseline};
        let mut o = testdata::sample();
        let mut before = o.findings[..2].to_vec();
        before[1].severity = Severity::Medium;
        let mut gone = o.findings[3].clone();
        gone.rule_id = "port.gone".into();
        gone.fingerprint = "gone".into();
        gone.message = "FTP was open".into();
        before.push(gone);
        apply_baseline(
            &mut o,
            &Baseline {
                source: "nightly/prev.json".into(),
                started_at: Some("2025-01-01T03:04:05Z".into()),
                findings: before,
            },
        );
        let html = render_html(&o, &HtmlOptions::default());
        assert!(html.contains("<section id=\"changes\">"));
        assert!(html.contains("nightly/prev.json"));
        assert!(html.contains("FTP was open"));
        assert!(html.contains("data-status=\"new\""));
        assert!(html.contains("data-status=\"updated\""));
        assert!(html.contains("data-status=\"unchanged\""));
        assert!(
            html.contains(">2 new<") || html.contains(">2 new</span>"),
            "two new findings"
        );
        assert!(html.contains(">1 fixed<"));
    }

    #[test]
    fn empty_scan_renders_a_clean_page() {
        let html = render_html(&testdata::empty(), &HtmlOptions::default());
        assert!(html.contains("grade-A"));
        assert!(html.contains("No open findings."));
        assert!(html.contains("No TLS certificate was seen"));
        assert!(!html.contains("<svg class=\"timeline\""));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn helpers() {
        assert_eq!(shown("a\u{202e}b\nc", 100), "a\\u{202e}b\\nc");
        assert_eq!(shown("abcdef", 3), "abc…");
        assert_eq!(
            common_name("CN=shop.example.com,O=Shop"),
            "shop.example.com"
        );
        assert_eq!(common_name("O=NoCN"), "O=NoCN");
        assert_eq!(safe_link("javascript:alert(1)"), None);
        assert_eq!(safe_link("https://x.example/\"onmouseover=1"), None);
        assert_eq!(
            safe_link(" https://x.example/a "),
            Some("https://x.example/a".into())
        );
        assert_eq!(days_text(-3), "expired 3 days ago");
        assert_eq!(days_text(1), "1 day left");
        assert!(day_x(-1000) < day_x(0) && day_x(0) < day_x(5000));
        assert_eq!(day_x(5000), day_x(TIMELINE_MAX_DAYS));
    }
}
