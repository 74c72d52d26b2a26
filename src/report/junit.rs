//! JUnit XML, for CI systems without SARIF support (GitLab's test report, Jenkins, Azure).
//!
//! The mapping, chosen so a CI dashboard reads like the scan:
//!
//! * one `<testsuite>` per rule, named by its id;
//! * one `<testcase>` per finding (rule × endpoint), `classname` `posture.<rule id>` and the
//!   endpoint as `name`: a `<failure>` when it is at or above `--fail-on`, a passing case with
//!   the finding in `<system-out>` when below, `<skipped>` when suppressed (accepted risk);
//! * a rule with no finding gets one passing testcase `no findings`, so the dashboard shows
//!   what was checked and passed;
//! * a `posture.incomplete` suite with one `<error>` per endpoint that could not be assessed.
//!
//! Everything server-derived is XML-escaped, and characters XML 1.0 cannot carry (most
//! controls) are written as visible escapes, so the file always parses.

use super::atomic::write_atomic_with;
use super::exit::FailOn;
use super::text::visible_control;
use super::ReportError;
use crate::engine::limits::EVIDENCE_MAX_CHARS;
use crate::finding::Finding;
use crate::outcome::ScanOutcome;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// How to render JUnit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JunitOptions {
    pub fail_on: FailOn,
}

/// Escapes `s` for XML text or a double-quoted attribute: the five predefined entities, and
/// control / bidi characters as visible escapes (XML 1.0 forbids most controls outright).
/// `keep_newlines` keeps `\n` in element text; attributes never keep them (parsers normalise
/// them to spaces). Capped at `max` characters.
pub fn escape_xml(s: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if keep_newlines => out.push('\n'),
            '\u{fffe}' | '\u{ffff}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => match visible_control(c) {
                Some(v) => out.push_str(&v),
                None => out.push(c),
            },
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape_xml(s, EVIDENCE_MAX_CHARS, false)
}

fn text(s: &str) -> String {
    escape_xml(s, EVIDENCE_MAX_CHARS, false)
}

/// The finding as the body of a failure / system-out: message, evidence, remediation, where.
fn details(f: &Finding) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", text(&f.message));
    for (k, v) in &f.evidence {
        let _ = writeln!(s, "evidence {}: {}", text(k), text(v));
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(s, "remediation: {}", text(&f.remediation));
    }
    let _ = writeln!(
        s,
        "location: {}{}",
        text(&f.location.uri),
        f.location.line.map(|l| format!(":{l}")).unwrap_or_default()
    );
    let _ = write!(s, "fingerprint: {}", text(&f.fingerprint));
    s
}

#[derive(Default)]
struct Suite {
    cases: Vec<String>,
    failures: usize,
    errors: usize,
    skipped: usize,
}

/// Renders the JUnit XML document.
pub fn render_junit(outcome: &ScanOutcome, opts: &JunitOptions) -> String {
    // Suites in rule order: active rules first (as listed), then rules only findings know.
    let mut order: Vec<&str> = outcome.rules.iter().map(|r| r.id.as_str()).collect();
    let mut suites: BTreeMap<&str, Suite> = BTreeMap::new();
    for f in &outcome.findings {
        if !order.contains(&f.rule_id.as_str()) {
            order.push(&f.rule_id);
        }
        let suite = suites.entry(&f.rule_id).or_default();
        let name = match &f.item_key {
            Some(k) if !k.is_empty() => format!("{} [{}]", f.endpoint, k),
            _ => f.endpoint.clone(),
        };
        let mut case = format!(
            "    <testcase classname=\"posture.{}\" name=\"{}\" file=\"{}\"",
            attr(&f.rule_id),
            attr(&name),
            attr(&f.location.uri)
        );
        if let Some(l) = f.location.line {
            let _ = write!(case, " line=\"{l}\"");
        }
        case.push_str(" time=\"0\">\n");
        let fails = match opts.fail_on {
            FailOn::None => false,
            FailOn::Severity(t) => f.severity >= t,
        };
        if let Some(s) = &f.suppressed {
            suite.skipped += 1;
            let _ = writeln!(
                case,
                "      <skipped message=\"suppressed: {}{}\"/>",
                attr(&s.reason),
                s.expires
                    .as_deref()
                    .map(|e| format!(" (until {})", attr(e)))
                    .unwrap_or_default()
            );
        } else if fails {
            suite.failures += 1;
            let _ = writeln!(
                case,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                attr(&format!("{}: {}", f.severity, f.title)),
                f.severity,
                details(f)
            );
        } else {
            let _ = writeln!(
                case,
                "      <system-out>{} (below --fail-on {}): {}</system-out>",
                f.severity,
                opts.fail_on,
                details(f)
            );
        }
        case.push_str("    </testcase>\n");
        suite.cases.push(case);
    }
    for id in &order {
        let suite = suites.entry(id).or_default();
        if suite.cases.is_empty() {
            suite.cases.push(format!(
                "    <testcase classname=\"posture.{}\" name=\"no findings\" time=\"0\"/>\n",
                attr(id)
            ));
        }
    }

    let mut incomplete = Suite::default();
    for i in &outcome.incomplete {
        incomplete.errors += 1;
        incomplete.cases.push(format!(
            "    <testcase classname=\"posture.incomplete\" name=\"{}\" time=\"0\">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n",
            attr(&i.endpoint),
            attr(&i.reason),
            attr(&i.stage),
            text(&format!("{} could not be fully assessed ({}): {}", i.endpoint, i.stage, i.reason))
        ));
    }

    let seconds = outcome.scan.duration_ms as f64 / 1000.0;
    let all: Vec<(&str, &Suite)> = order
        .iter()
        .filter_map(|id| suites.get(id).map(|s| (*id, s)))
        .chain((!incomplete.cases.is_empty()).then_some(("posture.incomplete", &incomplete)))
        .collect();
    let total = |f: fn(&Suite) -> usize| all.iter().map(|(_, s)| f(s)).sum::<usize>();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"posture {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        attr(&outcome.scan.automation_id),
        total(|s| s.cases.len()),
        total(|s| s.failures),
        total(|s| s.errors),
        total(|s| s.skipped),
    );
    for (name, s) in all {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\" timestamp=\"{}\">",
            attr(name),
            s.cases.len(),
            s.failures,
            s.errors,
            s.skipped,
            attr(outcome.scan.started_at.trim_end_matches('Z'))
        );
        for c in &s.cases {
            out.push_str(c);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes the JUnit XML to `path` atomically; `-` is stdout.
pub fn write_junit(
    path: &Path,
    outcome: &ScanOutcome,
    opts: &JunitOptions,
) -> Result<(), ReportError> {
    let xml = render_junit(outcome, opts);
    write_atomic_with(path, |w| w.write_all(xml.as_bytes())).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Severity, SuppressionInfo};
    use crate::report::testdata;

    #[test]
    fn escapes_xml_and_controls() {
        assert_eq!(
            escape_xml("<a href='x'>&\"</a>", 100, false),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            escape_xml("a\u{1b}[1m\u{0}\u{202e}", 100, false),
            "a\\x1b[1m\\x00\\u{202e}"
        );
        assert_eq!(escape_xml("l1\nl2", 100, false), "l1\\nl2");
        assert_eq!(escape_xml("l1\nl2", 100, true), "l1\nl2");
        assert_eq!(escape_xml("\u{fffe}", 100, false), "\\u{fffe}");
        assert_eq!(escape_xml("abcdef", 2, false), "ab…");
    }

    #[test]
    fn structure_follows_the_mapping() {
        let mut o = testdata::sample();
        o.findings[2].suppressed = Some(SuppressionInfo {
            reason: "accepted <risk>".into(),
            expires: Some("2027-03-01".into()),
            declared_at: "posture.toml:3:1".into(),
        });
        o.rules.push(testdata::rule(
            "dns.spf.missing",
            Severity::High,
            crate::finding::Subject::Dns,
        ));
        let xml = render_junit(&o, &JunitOptions::default());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
        // 4 findings + 1 passing rule + 1 incomplete = 6 cases; critical and high fail at `high`.
        assert!(
            xml.contains("tests=\"6\" failures=\"2\" errors=\"1\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"posture.dns.spf.missing\" name=\"no findings\"")
        );
        assert!(xml.contains(
            "<skipped message=\"suppressed: accepted &lt;risk&gt; (until 2027-03-01)\"/>"
        ));
        assert!(xml.contains("<testsuite name=\"posture.incomplete\""));
        assert!(xml.contains("name=\"[2001:db8::1]:443\""));
        assert!(xml.contains("file=\"infra/posture.toml\" line=\"12\""));
        assert!(xml.contains("<system-out>info (below --fail-on high)"));
        assert!(!xml.contains("<script>") && !xml.contains('\u{1b}') && !xml.contains('\u{202e}'));
        // --fail-on none: nothing fails.
        let none = render_junit(
            &o,
            &JunitOptions {
                fail_on: FailOn::None,
            },
        );
        assert!(none.contains("failures=\"0\" errors=\"1\""));
    }
}
