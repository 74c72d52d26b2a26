//! `posture diff OLD NEW`: what changed between two saved results (JSON or SARIF, mixed as you
//! like), by finding fingerprint, the same comparison `--baseline` makes during a scan.

use super::baseline::{compare, Baseline};
use super::exit::FailOn;
use super::text::escape_visible;
use crate::finding::{Finding, Severity};
use crate::outcome::BaselineState;
use serde::Serialize;
use std::fmt::Write as _;

/// Characters of a message in the text listing.
const MESSAGE_CHARS: usize = 160;

/// The difference between two results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The older result (the baseline).
    pub baseline: String,
    /// The newer result.
    pub current: String,
    pub summary: DiffSummary,
    /// In NEW, not in OLD.
    pub new: Vec<Finding>,
    /// In both, with another severity.
    pub updated: Vec<UpdatedFinding>,
    /// In both, same severity.
    pub unchanged: Vec<Finding>,
    /// In OLD, not in NEW.
    pub fixed: Vec<Finding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub fixed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdatedFinding {
    pub previous_severity: Severity,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Compares two results.
pub fn diff(old: &Baseline, new: &Baseline) -> Diff {
    let cmp = compare(old, &new.findings);
    let mut d = Diff {
        baseline: old.source.clone(),
        current: new.source.clone(),
        summary: DiffSummary {
            new: 0,
            updated: 0,
            unchanged: 0,
            fixed: cmp.fixed.len(),
        },
        new: vec![],
        updated: vec![],
        unchanged: vec![],
        fixed: cmp.fixed.clone(),
    };
    for f in &new.findings {
        let change = cmp.states.get(&f.fingerprint);
        match change.map_or(BaselineState::New, |c| c.state) {
            BaselineState::New | BaselineState::Absent => d.new.push(f.clone()),
            BaselineState::Unchanged => d.unchanged.push(f.clone()),
            BaselineState::Updated => d.updated.push(UpdatedFinding {
                previous_severity: change
                    .and_then(|c| c.previous_severity)
                    .unwrap_or(f.severity),
                finding: f.clone(),
            }),
        }
    }
    d.summary.new = d.new.len();
    d.summary.updated = d.updated.len();
    d.summary.unchanged = d.unchanged.len();
    d
}

impl Diff {
    /// Exit code of `posture diff`: 1 with `--fail-on-new` when a new finding (not suppressed)
    /// is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on_new: bool, fail_on: FailOn) -> u8 {
        let FailOn::Severity(t) = fail_on else {
            return super::exit::EXIT_OK;
        };
        if fail_on_new
            && self
                .new
                .iter()
                .any(|f| f.suppressed.is_none() && f.severity >= t)
        {
            super::exit::EXIT_FINDINGS
        } else {
            super::exit::EXIT_OK
        }
    }
}

fn line(out: &mut String, mark: &str, f: &Finding, extra: &str) {
    let _ = writeln!(
        out,
        "  {mark} {:<8} {}  {}  {}{extra}",
        f.severity.as_str(),
        escape_visible(&f.rule_id, 64),
        escape_visible(&f.endpoint, 64),
        escape_visible(&f.message, MESSAGE_CHARS)
    );
}

/// The text form: a summary line, then new, updated and fixed findings (unchanged ones are
/// only counted). Server text is escaped for the terminal.
pub fn render_diff_text(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "posture diff: {} new, {} updated, {} unchanged, {} fixed ({} → {})",
        d.summary.new,
        d.summary.updated,
        d.summary.unchanged,
        d.summary.fixed,
        escape_visible(&d.baseline, 200),
        escape_visible(&d.current, 200)
    );
    if !d.new.is_empty() {
        let _ = writeln!(out, "\nNEW ({})", d.new.len());
        for f in &d.new {
            line(&mut out, "+", f, "");
        }
    }
    if !d.updated.is_empty() {
        let _ = writeln!(out, "\nUPDATED ({})", d.updated.len());
        for u in &d.updated {
            line(
                &mut out,
                "~",
                &u.finding,
                &format!(" (was {})", u.previous_severity),
            );
        }
    }
    if !d.fixed.is_empty() {
        let _ = writeln!(out, "\nFIXED ({})", d.fixed.len());
        for f in &d.fixed {
            line(&mut out, "-", f, "");
        }
    }
    out
}

/// The JSON form (pretty, final newline).
pub fn render_diff_json(d: &Diff) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn results() -> (Baseline, Baseline) {
        let now = testdata::sample().findings;
        let mut before = now.clone();
        before[1].severity = Severity::Medium;
        before.remove(2);
        let mut gone = now[3].clone();
        gone.rule_id = "port.gone".into();
        gone.fingerprint = "gone".into();
        before.push(gone);
        (
            Baseline {
                source: "old.json".into(),
                started_at: None,
                findings: before,
            },
            Baseline {
                source: "new.sarif".into(),
                started_at: None,
                findings: now,
            },
        )
    }

    #[test]
    fn diff_splits_into_four_lists() {
        let (old, new) = results();
        let d = diff(&old, &new);
        assert_eq!(
            d.summary,
            DiffSummary {
                new: 1,
                updated: 1,
                unchanged: 2,
                fixed: 1
            }
        );
        assert_eq!(d.new[0].rule_id, "http.headers.missing");
        assert_eq!(d.updated[0].previous_severity, Severity::Medium);
        assert_eq!(d.fixed[0].rule_id, "port.gone");
        let text = render_diff_text(&d);
        assert!(
            text.starts_with(
                "posture diff: 1 new, 1 updated, 2 unchanged, 1 fixed (old.json → new.sarif)\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nNEW (1)\n  + medium   http.headers.missing  shop.example.com:80"));
        assert!(text.contains("(was medium)"));
        assert!(text.contains("\nFIXED (1)\n  - info     port.gone"));
        let v: serde_json::Value = serde_json::from_str(&render_diff_json(&d)).unwrap();
        assert_eq!(v["summary"]["fixed"], 1);
        assert_eq!(v["updated"][0]["previous_severity"], "medium");
        assert_eq!(v["updated"][0]["rule_id"], "tls.cert.expiring");
        assert_eq!(v["baseline"], "old.json");
    }

    #[test]
    fn exit_code_only_with_fail_on_new() {
        let (old, new) = results();
        let d = diff(&old, &new);
        let info = FailOn::Severity(Severity::Info);
        assert_eq!(d.exit_code(false, info), 0);
        assert_eq!(d.exit_code(true, info), 1);
        assert_eq!(
            d.exit_code(true, FailOn::Severity(Severity::High)),
            0,
            "the new one is medium"
        );
        assert_eq!(d.exit_code(true, FailOn::None), 0);
        let same = diff(&new, &new);
        assert_eq!(same.exit_code(true, info), 0);
        assert_eq!(same.summary.unchanged, 4);
    }
}
