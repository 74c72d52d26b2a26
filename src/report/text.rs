//! Terminal output: open ports, findings by severity, incomplete endpoints, one summary line.
//!
//! Everything a server sent (banners, and messages that quote it) is hostile: an ANSI escape in
//! a banner could recolour or rewrite the user's terminal, a U+202E could make `evil.exe` read
//! as `exe.live`, a newline could forge a line of output. So every such string goes through
//! [`escape_visible`], which turns them into visible escapes (`\x1b`, `\u{202e}`, `\n`) and
//! bounds the length. Colour is off unless the caller (who knows whether the stream is a TTY)
//! asks for it, and colour codes are only ever wrapped around our own text.

use crate::fact::{PortState, SubjectFacts};
use crate::finding::Severity;
use crate::outcome::ScanOutcome;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Banners are shown to about one terminal line.
pub const BANNER_DISPLAY_CHARS: usize = 60;
/// Finding messages and incomplete reasons: long enough for a sentence with an endpoint and a
/// quoted value, short enough that a hostile banner cannot flood the screen.
pub const MESSAGE_DISPLAY_CHARS: usize = 240;
/// Column widths stop growing here so one long name does not push everything off screen.
const MAX_COLUMN_WIDTH: usize = 48;

/// How to render the text report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colours for severities. Only when the output is a terminal; the caller decides.
    pub color: bool,
}

/// Renders the terminal report. Ends with a newline.
pub fn render_text(outcome: &ScanOutcome, opts: &TextOptions) -> String {
    let mut out = String::new();
    render_ports(&mut out, outcome);
    render_findings(&mut out, outcome, opts);
    render_changes(&mut out, outcome);
    render_incomplete(&mut out, outcome);
    out.push_str(&summary_line(outcome, opts));
    out.push('\n');
    out
}

/// The one-line summary:
/// `posture: 3 critical, 2 high, 0 medium, 1 low, 0 info · 12 open ports on 5 hosts · 1 incomplete · 2.31 s`.
pub fn summary_line(outcome: &ScanOutcome, opts: &TextOptions) -> String {
    // Suppressed findings are listed apart and never counted with the live ones.
    let counts = super::summary::active_counts(outcome);
    let severities: Vec<String> = Severity::ALL
        .iter()
        .map(|s| {
            let n = counts.get(s).copied().unwrap_or(0);
            let text = format!("{n} {s}");
            if n > 0 {
                paint(opts, *s, &text)
            } else {
                text
            }
        })
        .collect();
    let (ports, hosts) = open_port_counts(outcome);
    let mut line = format!(
        "posture: {} · {} open {} on {} {}",
        severities.join(", "),
        ports,
        plural(ports, "port", "ports"),
        hosts,
        plural(hosts, "host", "hosts"),
    );
    if let Some(c) = super::summary::change_counts(outcome) {
        let _ = write!(line, " · {} new, {} fixed", c.new, c.fixed);
    }
    let suppressed = outcome
        .findings
        .iter()
        .filter(|f| f.suppressed.is_some())
        .count();
    if suppressed > 0 {
        let _ = write!(line, " · {suppressed} suppressed");
    }
    if !outcome.incomplete.is_empty() {
        let _ = write!(line, " · {} incomplete", outcome.incomplete.len());
    }
    if outcome.scan.interrupted {
        line.push_str(" · interrupted");
    }
    if let Some(shard) = &outcome.scan.shard {
        let _ = write!(line, " · shard {shard}");
    }
    let _ = write!(line, " · {:.2} s", outcome.scan.duration_ms as f64 / 1000.0);
    line
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Open ports and the distinct addresses they are on, from the port subjects.
fn open_port_counts(outcome: &ScanOutcome) -> (usize, usize) {
    let open: Vec<_> = open_ports(outcome);
    let hosts: BTreeSet<&str> = open.iter().map(|p| p.0.as_str()).collect();
    (open.len(), hosts.len())
}

/// `(address, port, service, banner)` of every open port, ordered by address then port.
fn open_ports(outcome: &ScanOutcome) -> Vec<(String, u16, &str, &str)> {
    let mut v: Vec<(String, u16, &str, &str)> = outcome
        .subjects
        .iter()
        .filter_map(|s| match s {
            SubjectFacts::Port(p) if p.port.state == PortState::Open => Some((
                p.target.ip.clone().unwrap_or_else(|| p.target.host.clone()),
                p.port.number,
                p.port.service.as_str(),
                p.port.banner.as_str(),
            )),
            _ => None,
        })
        .collect();
    v.sort_by(|a, b| {
        let ka = a.0.parse::<IpAddr>().ok();
        let kb = b.0.parse::<IpAddr>().ok();
        // Addresses numerically (v4 before v6), names after them alphabetically.
        (ka.is_none(), ka, &a.0, a.1).cmp(&(kb.is_none(), kb, &b.0, b.1))
    });
    v
}

fn render_ports(out: &mut String, outcome: &ScanOutcome) {
    let ports = open_ports(outcome);
    if ports.is_empty() {
        return;
    }
    let rows: Vec<(String, String, String)> = ports
        .iter()
        .map(|(addr, port, service, banner)| {
            (
                escape_visible(&crate::target::display_host_port(addr, *port), usize::MAX),
                escape_visible(service, MAX_COLUMN_WIDTH),
                escape_printable(banner.trim_end(), BANNER_DISPLAY_CHARS),
            )
        })
        .collect();
    let w0 = column_width(rows.iter().map(|r| &r.0));
    let w1 = column_width(rows.iter().map(|r| &r.1));
    for (endpoint, service, banner) in rows {
        let line = format!("{endpoint:<w0$}  {service:<w1$}  {banner}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
}

fn column_width<'a>(cells: impl Iterator<Item = &'a String>) -> usize {
    cells
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_COLUMN_WIDTH)
}

/// Active findings by severity, then the suppressed ones with their justification.
fn render_findings(out: &mut String, outcome: &ScanOutcome, opts: &TextOptions) {
    for severity in Severity::ALL {
        let group: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| f.severity == severity && f.suppressed.is_none())
            .map(|f| (f, f.message.as_str()))
            .collect();
        let header = format!("{} ({})", severity.as_str().to_uppercase(), group.len());
        render_group(out, &paint(opts, severity, &header), &group);
    }
    let suppressed: Vec<_> = outcome
        .findings
        .iter()
        .filter_map(|f| Some((f, f.suppressed.as_ref()?.reason.as_str())))
        .collect();
    render_group(
        out,
        &format!("SUPPRESSED ({})", suppressed.len()),
        &suppressed,
    );
}

/// One titled table of `rule  endpoint  text` rows; nothing when there are no rows.
fn render_group(out: &mut String, header: &str, rows: &[(&crate::finding::Finding, &str)]) {
    if rows.is_empty() {
        return;
    }
    out.push_str(header);
    out.push('\n');
    let rows: Vec<(String, String, String)> = rows
        .iter()
        .map(|(f, text)| {
            (
                escape_visible(&f.rule_id, MAX_COLUMN_WIDTH),
                escape_visible(&f.endpoint, MAX_COLUMN_WIDTH),
                escape_visible(text, MESSAGE_DISPLAY_CHARS),
            )
        })
        .collect();
    let w0 = column_width(rows.iter().map(|r| &r.0));
    let w1 = column_width(rows.iter().map(|r| &r.1));
    for (rule, endpoint, message) in rows {
        let _ = writeln!(out, "  {rule:<w0$}  {endpoint:<w1$}  {message}");
    }
    out.push('\n');
}

/// With a baseline: what is new and what was fixed since it (unchanged findings are only
/// counted in the summary line).
fn render_changes(out: &mut String, outcome: &ScanOutcome) {
    use crate::outcome::BaselineState;
    let Some(b) = &outcome.baseline else { return };
    let new = super::baseline::findings_in_state(outcome, BaselineState::New);
    let updated = super::baseline::findings_in_state(outcome, BaselineState::Updated);
    let _ = writeln!(
        out,
        "SINCE BASELINE {}: {} new, {} updated, {} fixed",
        escape_visible(&b.source, MESSAGE_DISPLAY_CHARS),
        new.len(),
        updated.len(),
        b.fixed.len()
    );
    let rows = new
        .iter()
        .map(|f| ("+", *f, String::new()))
        .chain(updated.iter().map(|f| {
            let was = outcome
                .previous_severity(f)
                .map(|s| format!(" (was {s})"))
                .unwrap_or_default();
            ("~", *f, was)
        }))
        .chain(b.fixed.iter().map(|f| ("-", f, String::new())));
    for (mark, f, extra) in rows {
        let _ = writeln!(
            out,
            "  {mark} {:<8} {}  {}{extra}",
            f.severity.as_str(),
            escape_visible(&f.rule_id, MAX_COLUMN_WIDTH),
            escape_visible(&f.endpoint, MAX_COLUMN_WIDTH),
        );
    }
    out.push('\n');
}

fn render_incomplete(out: &mut String, outcome: &ScanOutcome) {
    if outcome.incomplete.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "INCOMPLETE ({}): could not be fully assessed",
        outcome.incomplete.len()
    );
    for i in &outcome.incomplete {
        let _ = writeln!(
            out,
            "  {}  {}: {}",
            escape_visible(&i.endpoint, MAX_COLUMN_WIDTH),
            escape_visible(&i.stage, MAX_COLUMN_WIDTH),
            escape_visible(&i.reason, MESSAGE_DISPLAY_CHARS)
        );
    }
    out.push('\n');
}

/// Wraps our own label in an ANSI colour when colour is on.
fn paint(opts: &TextOptions, severity: Severity, text: &str) -> String {
    if !opts.color {
        return text.to_string();
    }
    let code = match severity {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

/// Characters that are invisible or reorder text: bidi embeddings, overrides and isolates,
/// zero-width characters, line/paragraph separators, BOM and interlinear annotations. They are
/// the "Trojan Source" set; shown escaped so what you see is what the server sent.
pub fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// The visible form of a control or deceptive character, or `None` when `c` is shown as is.
/// Backslash is not handled here: each output medium escapes it its own way.
pub fn visible_control(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\r' => Some("\\r".into()),
        '\t' => Some("\\t".into()),
        c if (c as u32) < 0x80 && c.is_control() => Some(format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_deceptive(c) => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// Makes `s` safe and unambiguous on a terminal: control characters and ANSI escapes become
/// `\x1b`-style escapes, bidi and invisible characters `\u{202e}`, newlines `\n`, backslash
/// `\\`. The result has at most `max_chars` characters; when cut it ends with `…` (an escape
/// is never cut in half).
pub fn escape_visible(s: &str, max_chars: usize) -> String {
    escape_visible_with(s, max_chars, true)
}

/// Like [`escape_visible`], for text that is already printable with visible escapes (the
/// `port.banner` fact): backslashes are kept as they are, so `\xff` does not become `\\xff`;
/// any control or bidi character that is still there is escaped all the same.
pub fn escape_printable(s: &str, max_chars: usize) -> String {
    escape_visible_with(s, max_chars, false)
}

fn escape_visible_with(s: &str, max_chars: usize, escape_backslash: bool) -> String {
    let mut out = String::new();
    let mut len = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let piece = match c {
            '\\' if escape_backslash => "\\\\".to_string(),
            c => visible_control(c).unwrap_or_else(|| c.to_string()),
        };
        let piece_len = piece.chars().count();
        let room_for_ellipsis = if chars.peek().is_some() { 1 } else { 0 };
        if len + piece_len + room_for_ellipsis > max_chars {
            // Does the rest fit exactly without an ellipsis? Only when this is the last piece.
            if room_for_ellipsis == 0 && len + piece_len <= max_chars {
                out.push_str(&piece);
            } else {
                out.push('…');
            }
            return out;
        }
        out.push_str(&piece);
        len += piece_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn printable_banners_keep_their_escapes_but_not_raw_controls() {
        assert_eq!(
            escape_printable("\\xff\\xfdlogin: ", 60),
            "\\xff\\xfdlogin: "
        );
        assert_eq!(
            escape_printable("a\u{1b}[31m\u{202e}", 60),
            "a\\x1b[31m\\u{202e}"
        );
        assert_eq!(escape_visible("\\xff", 60), "\\\\xff");
    }

    #[test]
    fn escapes_controls_ansi_bidi_and_newlines() {
        assert_eq!(escape_visible("plain", 60), "plain");
        assert_eq!(escape_visible("\u{1b}[31mred", 60), "\\x1b[31mred");
        assert_eq!(escape_visible("a\u{202e}b", 60), "a\\u{202e}b");
        assert_eq!(escape_visible("l1\r\nl2\t", 60), "l1\\r\\nl2\\t");
        assert_eq!(escape_visible("nul\0del\u{7f}", 60), "nul\\x00del\\x7f");
        assert_eq!(escape_visible("c1\u{9b}", 60), "c1\\u{9b}");
        assert_eq!(
            escape_visible("zw\u{200b}bom\u{feff}", 60),
            "zw\\u{200b}bom\\u{feff}"
        );
        assert_eq!(escape_visible("back\\slash", 60), "back\\\\slash");
        // Printable non-ASCII is kept.
        assert_eq!(escape_visible("héllo ✓ 日本", 60), "héllo ✓ 日本");
    }

    #[test]
    fn truncates_with_ellipsis_without_splitting_escapes() {
        assert_eq!(escape_visible("abcdef", 6), "abcdef");
        assert_eq!(escape_visible("abcdefg", 6), "abcde…");
        // The escape `\x1b` (4 chars) does not fit after "abc" with room for "…" in 6.
        assert_eq!(escape_visible("abc\u{1b}def", 6), "abc…");
        let long = "x".repeat(500);
        let e = escape_visible(&long, BANNER_DISPLAY_CHARS);
        assert_eq!(e.chars().count(), BANNER_DISPLAY_CHARS);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn output_has_no_raw_control_or_bidi_characters() {
        let text = render_text(&testdata::sample(), &TextOptions::default());
        for c in text.chars() {
            assert!(
                c == '\n' || !(c.is_control() || is_deceptive(c)),
                "raw {c:?} in output:\n{text}"
            );
        }
        assert!(text.contains("\\x1b[31mred"));
        assert!(text.contains("\\u{202e}evil"));
        assert!(text.contains("[x](1)"));
    }

    #[test]
    fn renders_ports_findings_incomplete_and_summary() {
        let text = render_text(&testdata::sample(), &TextOptions::default());
        let lines: Vec<&str> = text.lines().collect();
        // Ports first, ordered by address: 10.0.0.5, 192.0.2.10, then IPv6.
        assert!(lines[0].starts_with("10.0.0.5:3389"), "{text}");
        assert!(lines[0].contains("rdp"));
        assert!(lines[0].contains("\\x03\\x00\\x00\\x13"));
        assert!(lines[1].starts_with("192.0.2.10:23"));
        assert!(lines[1].contains("telnet"));
        assert!(lines[2].starts_with("[2001:db8::1]:443"));
        assert!(lines[2].contains("https"));
        // Banner truncated to the display width.
        let banner = lines[1].split("telnet").nth(1).unwrap().trim();
        assert_eq!(banner.chars().count(), BANNER_DISPLAY_CHARS);
        assert!(banner.ends_with('…'));

        // Findings grouped worst first.
        let pos = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(pos("CRITICAL (1)") < pos("HIGH (1)"));
        assert!(pos("HIGH (1)") < pos("MEDIUM (1)"));
        assert!(pos("MEDIUM (1)") < pos("INFO (1)"));
        assert!(!text.contains("LOW ("));
        assert!(text.contains("port.risky-service  shop.example.com:23"));
        assert!(text.contains("INCOMPLETE (1)"));
        assert!(text.contains("[2001:db8::2]:443  tls: handshake timed out"));
        assert_eq!(
            *lines.last().unwrap(),
            "posture: 1 critical, 1 high, 1 medium, 0 low, 1 info · 3 open ports on 3 hosts · 1 incomplete · 2.31 s"
        );
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn baseline_changes_and_suppressions_are_listed() {
        use crate::report::baseline::{apply_baseline, Baseline};
        let mut o = testdata::sample();
        let mut gone = o.findings[3].clone();
        gone.rule_id = "port.gone".into();
        gone.fingerprint = "gone".into();
        let before = vec![o.findings[0].clone(), gone];
        o.findings[1].suppressed = Some(crate::finding::SuppressionInfo {
            reason: "accepted".into(),
            expires: None,
            declared_at: "posture.toml:1:1".into(),
        });
        apply_baseline(
            &mut o,
            &Baseline {
                source: "prev.sarif".into(),
                started_at: None,
                findings: before,
            },
        );
        let text = render_text(&o, &TextOptions::default());
        assert!(
            text.contains("SINCE BASELINE prev.sarif: 3 new, 0 updated, 1 fixed\n"),
            "{text}"
        );
        assert!(text.contains("  + high     tls.cert.expiring  [2001:db8::1]:443\n"));
        assert!(text.contains("  - info     port.gone  10.0.0.5:3389\n"));
        assert!(text
            .lines()
            .last()
            .unwrap()
            .contains(" · 3 new, 1 fixed · 1 suppressed · 1 incomplete · "));
        // The suppressed finding is listed apart, with its justification, and not counted.
        let f = &o.findings[1];
        assert!(
            text.contains(&format!(
                "SUPPRESSED (1)\n  {}  {}  accepted\n",
                f.rule_id, f.endpoint
            )),
            "{text}"
        );
        let live = o
            .findings
            .iter()
            .filter(|x| x.severity == f.severity && x.suppressed.is_none())
            .count();
        let counted = format!("{} ({})", f.severity.as_str().to_uppercase(), live + 1);
        assert!(!text.contains(&counted), "{counted} in {text}");
        assert!(text
            .lines()
            .last()
            .unwrap()
            .contains(&format!("{live} {}", f.severity)));
    }

    #[test]
    fn empty_scan_is_just_the_summary() {
        let mut o = testdata::empty();
        o.scan.interrupted = true;
        o.scan.duration_ms = 7;
        let text = render_text(&o, &TextOptions::default());
        assert_eq!(
            text,
            "posture: 0 critical, 0 high, 0 medium, 0 low, 0 info · 0 open ports on 0 hosts · interrupted · 0.01 s\n"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let o = testdata::sample();
        let plain = render_text(&o, &TextOptions { color: false });
        let coloured = render_text(&o, &TextOptions { color: true });
        assert!(!plain.contains('\u{1b}'));
        assert!(coloured.contains("\u{1b}[1;31mCRITICAL (1)\u{1b}[0m"));
        // Server text stays escaped even with colour on.
        assert!(coloured.contains("\\x1b[31mred"));
    }
}
