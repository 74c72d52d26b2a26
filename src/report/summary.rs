//! What the human-facing reports (HTML, Markdown, text) summarise, computed once here so every
//! format tells the same story: the posture grade, counts of findings that count (not
//! suppressed), the top risks, the certificate inventory and the exposure matrix.
//!
//! Pure functions of the [`ScanOutcome`]: nothing here reads the clock, so a report rebuilt
//! from a saved JSON file (`posture report`) says exactly what the original did.

use crate::fact::tls::CertFacts;
use crate::fact::{PortState, SubjectFacts};
use crate::finding::{Finding, Severity};
use crate::outcome::{BaselineState, ScanOutcome};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// The posture grade, A (best) to F, with the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    pub letter: &'static str,
    /// Why this grade, in one sentence.
    pub reason: String,
    /// The scan was incomplete: unassessed endpoints could hide worse.
    pub provisional: bool,
}

/// How the grade is computed, shown next to it so nobody has to guess.
pub const GRADE_RULES: [(&str, &str); 5] = [
    ("A", "no finding above low"),
    ("B", "medium findings, nothing high or critical"),
    ("C", "one or two high findings, no critical"),
    ("D", "three or more high findings, no critical"),
    ("F", "at least one critical finding"),
];

/// Grades the scan by its active (not suppressed) findings; see [`GRADE_RULES`].
pub fn grade(outcome: &ScanOutcome) -> Grade {
    let c = active_counts(outcome);
    let n = |s| c.get(&s).copied().unwrap_or(0);
    let (letter, reason) = if n(Severity::Critical) > 0 {
        (
            "F",
            format!("{} critical finding(s)", n(Severity::Critical)),
        )
    } else if n(Severity::High) >= 3 {
        ("D", format!("{} high findings", n(Severity::High)))
    } else if n(Severity::High) > 0 {
        ("C", format!("{} high finding(s)", n(Severity::High)))
    } else if n(Severity::Medium) > 0 {
        (
            "B",
            format!("{} medium finding(s), nothing worse", n(Severity::Medium)),
        )
    } else {
        ("A", "no finding above low".to_string())
    };
    Grade {
        letter,
        reason,
        provisional: !outcome.is_complete(),
    }
}

/// Counts per severity of findings that are not suppressed; every severity present.
pub fn active_counts(outcome: &ScanOutcome) -> BTreeMap<Severity, usize> {
    let mut counts: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for f in outcome.findings.iter().filter(|f| f.suppressed.is_none()) {
        *counts.entry(f.severity).or_default() += 1;
    }
    counts
}

/// Counts per severity of active findings that are new since the baseline (zero without one).
pub fn new_counts(outcome: &ScanOutcome) -> BTreeMap<Severity, usize> {
    let mut counts: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    if outcome.baseline.is_none() {
        return counts;
    }
    for f in outcome
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none() && outcome.baseline_state(f) == Some(BaselineState::New))
    {
        *counts.entry(f.severity).or_default() += 1;
    }
    counts
}

/// The numbers of the baseline comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub fixed: usize,
}

/// The baseline comparison in numbers, `None` without a baseline.
pub fn change_counts(outcome: &ScanOutcome) -> Option<ChangeCounts> {
    let b = outcome.baseline.as_ref()?;
    Some(ChangeCounts {
        new: b.count(&outcome.findings, BaselineState::New),
        updated: b.count(&outcome.findings, BaselineState::Updated),
        unchanged: b.count(&outcome.findings, BaselineState::Unchanged),
        fixed: b.fixed.len(),
    })
}

/// One rule's findings, summarised: a "top risk".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk<'a> {
    pub rule_id: &'a str,
    pub title: &'a str,
    pub severity: Severity,
    pub endpoints: usize,
    pub new: usize,
    /// The findings' remediation; empty when it differs between them (it is rendered per
    /// endpoint, and the first one would mislead for the others).
    pub remediation: &'a str,
    /// A few affected endpoints, in report order.
    pub examples: Vec<&'a str>,
}

/// Endpoints listed per risk.
pub const RISK_EXAMPLES: usize = 5;

/// The `max` worst risks: active findings grouped by rule, worst severity first, then most
/// endpoints affected, then rule id.
pub fn top_risks(outcome: &ScanOutcome, max: usize) -> Vec<Risk<'_>> {
    let mut by_rule: BTreeMap<&str, Risk<'_>> = BTreeMap::new();
    for f in outcome.findings.iter().filter(|f| f.suppressed.is_none()) {
        let r = by_rule.entry(f.rule_id.as_str()).or_insert_with(|| Risk {
            rule_id: &f.rule_id,
            title: &f.title,
            severity: f.severity,
            endpoints: 0,
            new: 0,
            remediation: &f.remediation,
            examples: vec![],
        });
        r.severity = r.severity.max(f.severity);
        r.endpoints += 1;
        if r.remediation != f.remediation {
            r.remediation = "";
        }
        if outcome.baseline_state(f) == Some(BaselineState::New) {
            r.new += 1;
        }
        if r.examples.len() < RISK_EXAMPLES && !r.examples.contains(&f.endpoint.as_str()) {
            r.examples.push(&f.endpoint);
        }
    }
    let mut v: Vec<Risk<'_>> = by_rule.into_values().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.endpoints.cmp(&a.endpoints))
            .then(a.rule_id.cmp(b.rule_id))
    });
    v.truncate(max);
    v
}

/// One certificate seen during the scan, with every endpoint that presented it.
#[derive(Debug, Clone, PartialEq)]
pub struct CertEntry<'a> {
    pub cert: &'a CertFacts,
    pub endpoints: Vec<&'a str>,
}

/// Every distinct certificate presented by a TLS endpoint (leaf and chain), soonest expiry
/// first, endpoints in the order the scan lists them (the walk is the JSON inventory's:
/// [`crate::engine::inventory::distinct_certificates`]).
pub fn certificates(outcome: &ScanOutcome) -> Vec<CertEntry<'_>> {
    let mut out: Vec<CertEntry<'_>> =
        crate::engine::inventory::distinct_certificates(&outcome.subjects)
            .into_iter()
            .map(|p| {
                let mut endpoints: Vec<&str> = Vec::new();
                for (t, _) in &p.by {
                    if !endpoints.contains(&t.endpoint.as_str()) {
                        endpoints.push(&t.endpoint);
                    }
                }
                CertEntry {
                    cert: p.cert,
                    endpoints,
                }
            })
            .collect();
    out.sort_by(|a, b| {
        a.cert
            .days_left
            .cmp(&b.cert.days_left)
            .then(a.cert.position.cmp(&b.cert.position))
            .then(a.cert.subject.cmp(&b.cert.subject))
    });
    out
}

/// One open port in the exposure matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureCell<'a> {
    pub service: &'a str,
    /// What the service said first (server-derived: escape before display).
    pub banner: &'a str,
    /// The worst active finding on this host and port.
    pub worst: Option<Severity>,
}

/// Hosts × open ports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exposure<'a> {
    /// Every open port number seen, ascending.
    pub ports: Vec<u16>,
    /// (address, one cell per entry of `ports`).
    pub rows: Vec<(String, Vec<Option<ExposureCell<'a>>>)>,
}

/// The open ports of every scanned address, from the port subjects, with the worst active
/// finding on each (findings match on address or host name, and port).
pub fn exposure(outcome: &ScanOutcome) -> Exposure<'_> {
    let mut worst: HashMap<(&str, u16), Severity> = HashMap::new();
    for f in outcome.findings.iter().filter(|f| f.suppressed.is_none()) {
        let Some(port) = f.port else { continue };
        for h in f.ip.iter().chain(std::iter::once(&f.host)) {
            let w = worst.entry((h.as_str(), port)).or_insert(f.severity);
            *w = (*w).max(f.severity);
        }
    }
    let mut hosts: BTreeMap<(bool, Option<IpAddr>, String), BTreeMap<u16, ExposureCell<'_>>> =
        BTreeMap::new();
    let mut ports = BTreeSet::new();
    for s in &outcome.subjects {
        let SubjectFacts::Port(p) = s else { continue };
        if p.port.state != PortState::Open {
            continue;
        }
        let addr = p.target.ip.clone().unwrap_or_else(|| p.target.host.clone());
        let ip = addr.parse::<IpAddr>().ok();
        let n = p.port.number;
        ports.insert(n);
        let w = [Some(addr.as_str()), Some(p.target.host.as_str())]
            .into_iter()
            .flatten()
            .filter_map(|h| worst.get(&(h, n)).copied())
            .max();
        hosts
            .entry((ip.is_none(), ip, addr.clone()))
            .or_default()
            .insert(
                n,
                ExposureCell {
                    service: &p.port.service,
                    banner: &p.port.banner,
                    worst: w,
                },
            );
    }
    let ports: Vec<u16> = ports.into_iter().collect();
    let rows = hosts
        .into_iter()
        .map(|((_, _, addr), cells)| {
            let row = ports.iter().map(|p| cells.get(p).cloned()).collect();
            (addr, row)
        })
        .collect();
    Exposure { ports, rows }
}

/// The worst active severity among `findings`.
pub fn worst_active<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Option<Severity> {
    findings
        .into_iter()
        .filter(|f| f.suppressed.is_none())
        .map(|f| f.severity)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::SuppressionInfo;
    use crate::report::testdata;

    #[test]
    fn grade_follows_the_published_rules() {
        let mut o = testdata::sample();
        let g = grade(&o);
        assert_eq!(g.letter, "F");
        assert!(g.provisional, "sample has an incomplete endpoint");
        o.incomplete.clear();
        // Suppressing the critical finding leaves one high → C.
        o.findings[0].suppressed = Some(SuppressionInfo {
            reason: "accepted".into(),
            expires: None,
            declared_at: "posture.toml:1:1".into(),
        });
        let g = grade(&o);
        assert_eq!((g.letter, g.provisional), ("C", false));
        let high = o.findings[1].clone();
        o.findings.push(high.clone());
        o.findings.push(high);
        assert_eq!(grade(&o).letter, "D");
        o.findings.retain(|f| f.severity < Severity::High);
        assert_eq!(grade(&o).letter, "B");
        o.findings.retain(|f| f.severity < Severity::Medium);
        assert_eq!(grade(&o).letter, "A");
        assert_eq!(grade(&testdata::empty()).letter, "A");
        let letters: Vec<&str> = GRADE_RULES.iter().map(|r| r.0).collect();
        assert_eq!(letters, ["A", "B", "C", "D", "F"]);
    }

    #[test]
    fn top_risks_group_by_rule_worst_first() {
        let mut o = testdata::sample();
        let mut again = o.findings[2].clone();
        again.endpoint = "other:80".into();
        o.findings.push(again);
        let risks = top_risks(&o, 3);
        assert_eq!(risks.len(), 3);
        assert_eq!(risks[0].rule_id, "port.risky-service");
        assert_eq!(risks[2].rule_id, "http.headers.missing");
        assert_eq!(risks[2].endpoints, 2);
        assert_eq!(risks[2].examples, ["shop.example.com:80", "other:80"]);
        assert_eq!(risks[2].remediation, "Close it.");
        o.findings.last_mut().unwrap().remediation = "Other advice.".into();
        assert_eq!(
            top_risks(&o, 3)[2].remediation,
            "",
            "differs between endpoints"
        );
    }

    #[test]
    fn exposure_matrix_marks_worst_finding_per_port() {
        let o = testdata::sample();
        let e = exposure(&o);
        assert_eq!(e.ports, [23, 443, 3389]);
        let hosts: Vec<&str> = e.rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(hosts, ["10.0.0.5", "192.0.2.10", "2001:db8::1"]);
        let telnet = e.rows[1].1[0].as_ref().unwrap();
        assert_eq!(telnet.service, "telnet");
        assert_eq!(telnet.worst, Some(Severity::Critical));
        assert!(e.rows[1].1[1].is_none());
        assert_eq!(e.rows[0].1[2].as_ref().unwrap().worst, Some(Severity::Info));
    }

    #[test]
    fn certificates_are_deduplicated_and_soonest_first() {
        let mut o = testdata::empty();
        let t = crate::fact::tls::sample();
        let mut t2 = t.clone();
        t2.endpoint = "other.example.com:443".into();
        o.subjects = vec![
            SubjectFacts::Tls(Box::new(t)),
            SubjectFacts::Tls(Box::new(t2)),
        ];
        let certs = certificates(&o);
        assert_eq!(certs.len(), 2, "leaf and intermediate, each once");
        assert_eq!(certs[0].cert.position, 1, "intermediate expires first");
        assert_eq!(
            certs[1].endpoints,
            ["shop.example.com:443", "other.example.com:443"]
        );
    }
}
