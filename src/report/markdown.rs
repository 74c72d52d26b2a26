//! The Markdown summary: for `$GITHUB_STEP_SUMMARY`, merge-request comments and chat.
//!
//! Short by design (GitHub caps a step summary at 1 MiB and people read the first screen):
//! the gate verdict, the grade, counts, what changed since the baseline, the worst findings,
//! suppressions and incomplete endpoints; the HTML and JSON reports have everything.
//!
//! Server-derived text is hostile Markdown: a banner could carry `[click](https://evil)`, an
//! `<img>` tag, a `|` that breaks the table or backticks that open a code span. Every cell goes
//! through [`escape_cell`], which backslash-escapes Markdown punctuation, turns `<`, `>` and
//! `&` into entities, and makes control and bidi characters visible.

use super::atomic::write_atomic_with;
use super::exit::FailOn;
use super::summary;
use super::text::visible_control;
use super::ReportError;
use crate::finding::{Finding, Severity};
use crate::outcome::{BaselineState, ScanOutcome};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// Rows of the top-findings table.
pub const MAX_TOP_FINDINGS: usize = 25;
/// Rows of the other tables (new, fixed, suppressed, incomplete).
pub const MAX_LIST_ROWS: usize = 50;
/// Characters of one table cell.
pub const CELL_MAX_CHARS: usize = 200;

/// How to render the Markdown summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkdownOptions {
    pub fail_on: FailOn,
}

/// Escapes `s` for a Markdown table cell (GitHub-flavoured and CommonMark), capped at `max`
/// characters of input.
pub fn escape_cell(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // Emphasis, code spans, links and images, table cells, strikethrough, GitHub math
            // (`$`) and @-mentions (which notify people from a merge-request comment).
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '!' | '#' | '~' | '$' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c => match visible_control(c) {
                // The visible form starts with a backslash, escaped too.
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

fn cell(s: &str) -> String {
    escape_cell(s, CELL_MAX_CHARS)
}

/// A code span for identifiers (rule ids, scan names) made only of `[A-Za-z0-9._/-]`, which
/// cannot end a code span or form markup; anything else is escaped as text instead.
fn code(id: &str) -> String {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        format!("`{id}`")
    } else {
        cell(id)
    }
}

fn status_of(outcome: &ScanOutcome, f: &Finding) -> &'static str {
    if f.suppressed.is_some() {
        return "suppressed";
    }
    match outcome.baseline_state(f) {
        Some(BaselineState::New) => "**new**",
        Some(BaselineState::Updated) => "updated",
        Some(BaselineState::Unchanged) => "unchanged",
        Some(BaselineState::Absent) => "fixed",
        None => "open",
    }
}

/// Renders the summary. Ends with a newline.
pub fn render_markdown(outcome: &ScanOutcome, opts: &MarkdownOptions) -> String {
    let mut out = String::new();
    let active: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .collect();
    let gate = match opts.fail_on {
        FailOn::None => None,
        FailOn::Severity(t) => Some((t, active.iter().filter(|f| f.severity >= t).count())),
    };
    let _ = write!(out, "## posture: ");
    match gate {
        Some((t, n)) if n > 0 => {
            let _ = writeln!(out, "❌ {n} finding(s) at or above {t}");
        }
        Some((t, _)) => {
            let _ = writeln!(out, "✅ nothing at or above {t}");
        }
        None => {
            let _ = writeln!(out, "report only (`--fail-on none`)");
        }
    }
    out.push('\n');

    let grade = summary::grade(outcome);
    let _ = writeln!(
        out,
        "**Posture grade {}**: {}{}. Scan {} of {}, {:.2} s.",
        grade.letter,
        cell(&grade.reason),
        if grade.provisional {
            " (provisional: incomplete scan)"
        } else {
            ""
        },
        code(&outcome.scan.automation_id),
        cell(&outcome.scan.started_at),
        outcome.scan.duration_ms as f64 / 1000.0
    );
    out.push('\n');
    if !outcome.is_complete() {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> Incomplete: {} endpoint(s) could not be fully assessed{}.\n",
            outcome.incomplete.len(),
            if outcome.scan.interrupted {
                " and the scan was interrupted"
            } else {
                ""
            }
        );
    }

    // Counts.
    let counts = summary::active_counts(outcome);
    let new = summary::new_counts(outcome);
    let with_new = outcome.baseline.is_some();
    out.push_str(if with_new {
        "| Severity | Open | New |\n|---|---:|---:|\n"
    } else {
        "| Severity | Open |\n|---|---:|\n"
    });
    for s in Severity::ALL {
        let n = counts.get(&s).copied().unwrap_or(0);
        if with_new {
            let _ = writeln!(out, "| {s} | {n} | {} |", new.get(&s).copied().unwrap_or(0));
        } else {
            let _ = writeln!(out, "| {s} | {n} |");
        }
    }
    let suppressed = outcome.findings.len() - active.len();
    if suppressed > 0 {
        let _ = writeln!(
            out,
            "\n{suppressed} suppressed finding(s) (accepted risk) are not counted."
        );
    }
    out.push('\n');

    // Changes since the baseline.
    if let (Some(c), Some(b)) = (summary::change_counts(outcome), &outcome.baseline) {
        let _ = writeln!(
            out,
            "### Since the baseline\n\nCompared with {}{}: **{} new**, {} updated, {} unchanged, **{} fixed**.\n",
            cell(&b.source),
            b.started_at
                .as_deref()
                .map(|s| format!(" (scan of {})", cell(s)))
                .unwrap_or_default(),
            c.new,
            c.updated,
            c.unchanged,
            c.fixed
        );
        let fixed = super::baseline::findings_in_state(outcome, BaselineState::Absent);
        if !fixed.is_empty() {
            out.push_str("<details><summary>Fixed since the baseline</summary>\n\n");
            out.push_str("| Severity | Rule | Endpoint |\n|---|---|---|\n");
            for f in fixed.iter().take(MAX_LIST_ROWS) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.severity,
                    code(&f.rule_id),
                    cell(&f.endpoint)
                );
            }
            more(&mut out, fixed.len(), MAX_LIST_ROWS);
            out.push_str("\n</details>\n\n");
        }
    }

    // Top findings.
    if active.is_empty() {
        out.push_str("No open findings.\n\n");
    } else {
        let _ = writeln!(out, "### Top findings\n");
        out.push_str("| Severity | Rule | Endpoint | Finding | Status |\n|---|---|---|---|---|\n");
        // New ones first within a severity: they are what a reviewer acts on.
        let mut top = active.clone();
        top.sort_by_key(|f| {
            (
                std::cmp::Reverse(f.severity),
                outcome.baseline_state(f) != Some(BaselineState::New),
            )
        });
        for f in top.iter().take(MAX_TOP_FINDINGS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.severity,
                code(&f.rule_id),
                cell(&f.endpoint),
                cell(&f.message),
                status_of(outcome, f)
            );
        }
        more(&mut out, active.len(), MAX_TOP_FINDINGS);
        out.push('\n');
    }

    // Suppressed.
    let supp: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.suppressed.is_some())
        .collect();
    if !supp.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Suppressed ({})</summary>\n",
            supp.len()
        );
        out.push_str("| Rule | Endpoint | Justification | Expires |\n|---|---|---|---|\n");
        for f in supp.iter().take(MAX_LIST_ROWS) {
            if let Some(s) = &f.suppressed {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code(&f.rule_id),
                    cell(&f.endpoint),
                    cell(&s.reason),
                    s.expires
                        .as_deref()
                        .map(cell)
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        more(&mut out, supp.len(), MAX_LIST_ROWS);
        out.push_str("\n</details>\n\n");
    }

    // Incomplete.
    if !outcome.incomplete.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Incomplete endpoints ({})</summary>\n",
            outcome.incomplete.len()
        );
        out.push_str("| Endpoint | Stage | Reason |\n|---|---|---|\n");
        for i in outcome.incomplete.iter().take(MAX_LIST_ROWS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&i.endpoint),
                cell(&i.stage),
                cell(&i.reason)
            );
        }
        more(&mut out, outcome.incomplete.len(), MAX_LIST_ROWS);
        out.push_str("\n</details>\n\n");
    }

    let s = &outcome.scan.stats;
    let _ = writeln!(
        out,
        "<sub>posture {} · {} address(es), {} port(s) probed, {} open · rule packs: {}</sub>",
        cell(&outcome.tool.version),
        s.hosts,
        s.ports_scanned,
        s.open,
        outcome
            .tool
            .packs
            .iter()
            .map(|p| format!(
                "{} {}",
                cell(&p.name),
                cell(&p.sha256.chars().take(12).collect::<String>())
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

fn more(out: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = writeln!(out, "\n_{} more in the full report._", total - shown);
    }
}

/// Writes the Markdown summary to `path` atomically; `-` is stdout.
pub fn write_markdown(
    path: &Path,
    outcome: &ScanOutcome,
    opts: &MarkdownOptions,
) -> Result<(), ReportError> {
    let md = render_markdown(outcome, opts);
    write_atomic_with(path, |w| w.write_all(md.as_bytes())).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn cells_cannot_form_markup() {
        let e = escape_cell(testdata::HOSTILE, 1000);
        assert!(!e.contains('<') && !e.contains('>'), "{e}");
        assert!(e.contains("\\[x\\]\\(1\\)"), "{e}");
        assert!(e.contains("&lt;script&gt;"), "{e}");
        assert!(e.contains("=HYPERLINK\\(\"a\"\\)"), "{e}");
        assert!(e.contains("\\\\u{202e}evil"), "{e}");
        assert!(e.contains("\\\\x1b\\[31mred"), "{e}");
        assert!(!e
            .chars()
            .any(|c| c.is_control() || crate::report::text::is_deceptive(c)));
        // Every `|`, backtick, `[` and `]` is escaped (preceded by an odd number of `\`).
        let s = escape_cell("a|b`c[d]e\\|f", 100);
        assert_eq!(s, "a\\|b\\`c\\[d\\]e\\\\\\|f");
        assert_eq!(escape_cell("abcdef", 3), "abc…");
        assert_eq!(code("port.risky-service"), "`port.risky-service`");
        assert_eq!(code("a`b"), "a\\`b");
    }

    #[test]
    fn summary_has_gate_counts_top_and_incomplete() {
        let md = render_markdown(&testdata::sample(), &MarkdownOptions::default());
        assert!(
            md.starts_with("## posture: ❌ 2 finding(s) at or above high\n"),
            "{md}"
        );
        assert!(md.contains("**Posture grade F**"));
        assert!(md.contains("| critical | 1 |"));
        assert!(md.contains("### Top findings"));
        assert!(md.contains("Incomplete endpoints (1)"));
        // Table rows have exactly as many unescaped pipes as the header.
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let mut pipes = 0;
            let mut escaped = false;
            for c in line.chars() {
                if c == '|' && !escaped {
                    pipes += 1;
                }
                escaped = c == '\\' && !escaped;
            }
            assert!(
                pipes == 3 || pipes == 4 || pipes == 5 || pipes == 6,
                "{line}"
            );
        }
        let passed = render_markdown(
            &testdata::empty(),
            &MarkdownOptions {
                fail_on: FailOn::Severity(Severity::Critical),
            },
        );
        assert!(passed.starts_with("## posture: ✅ nothing at or above critical"));
        assert!(passed.contains("No open findings."));
    }
}
