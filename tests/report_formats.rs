//! Markdown, JUnit and text reports of real scans: structure, and insta snapshots with the
//! volatile parts (ports, times, hashes) redacted.

use crate::support::*;
use posture::lab::services::{Kind, LabService};
use posture::outcome::ScanOutcome;
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::path::Path;

/// One `<testcase>` of a JUnit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub suite: String,
    pub classname: String,
    pub name: String,
    /// `pass`, `failure`, `skipped` or `error`.
    pub outcome: String,
}

/// Parses `xml` strictly (balanced, known entities, valid attribute values, only XML 1.0
/// characters), checks every suite's and the root's counts against its test cases, and returns
/// the cases.
pub fn assert_junit_well_formed(xml: &str) -> Vec<Case> {
    for c in xml.chars() {
        assert!(
            matches!(c, '\t' | '\n' | '\r')
                || !(c.is_control() || c == '\u{fffe}' || c == '\u{ffff}'),
            "character {c:?} is not allowed in XML 1.0"
        );
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut suite = String::new();
    let mut suite_attrs: BTreeMap<String, String> = BTreeMap::new();
    let mut suite_cases: Vec<Case> = Vec::new();
    let mut root_attrs: BTreeMap<String, String> = BTreeMap::new();
    let attrs = |e: &quick_xml::events::BytesStart<'_>| -> BTreeMap<String, String> {
        e.attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                assert!(
                    !a.value.contains(&b'<'),
                    "`<` in an attribute value (XML 1.0 §3.1)"
                );
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value()
                        .expect("attribute value unescapes")
                        .into_owned(),
                )
            })
            .collect()
    };
    let count =
        |cs: &[Case], what: &str| cs.iter().filter(|c| c.outcome == what).count().to_string();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("JUnit is not well-formed XML: {e}\n{xml}"));
        match ev {
            Event::Eof => break,
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let (e, nests) = match ev {
                    Event::Start(e) => (e, true),
                    Event::Empty(e) => (e, false),
                    _ => unreachable!(),
                };
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let a = attrs(&e);
                match name.as_str() {
                    "testsuites" => root_attrs = a.clone(),
                    "testsuite" => {
                        suite = a["name"].clone();
                        suite_attrs = a.clone();
                        suite_cases.clear();
                    }
                    "testcase" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testsuite"));
                        suite_cases.push(Case {
                            suite: suite.clone(),
                            classname: a["classname"].clone(),
                            name: a["name"].clone(),
                            outcome: "pass".into(),
                        });
                    }
                    "failure" | "skipped" | "error" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testcase"));
                        let c = suite_cases.last_mut().expect("inside a testcase");
                        assert_eq!(c.outcome, "pass", "one outcome per testcase");
                        c.outcome = name.clone();
                    }
                    "system-out" => {}
                    other => panic!("unexpected element <{other}>"),
                }
                // Empty elements (`<x/>`) do not nest.
                if nests {
                    stack.push(name);
                }
            }
            Event::End(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
                if name == "testsuite" {
                    assert_eq!(
                        suite_attrs["tests"],
                        suite_cases.len().to_string(),
                        "{suite}"
                    );
                    for what in ["failure", "skipped", "error"] {
                        let key = if what == "failure" {
                            "failures"
                        } else if what == "error" {
                            "errors"
                        } else {
                            "skipped"
                        };
                        assert_eq!(suite_attrs[key], count(&suite_cases, what), "{suite} {key}");
                    }
                    cases.append(&mut suite_cases);
                }
            }
            Event::GeneralRef(r) => {
                let bytes: &[u8] = &r;
                let name = String::from_utf8(bytes.to_vec()).unwrap();
                assert!(
                    r.is_char_ref() || ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str()),
                    "unknown entity &{name};"
                );
            }
            Event::Text(_) | Event::Decl(_) => {}
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert!(stack.is_empty());
    assert_eq!(root_attrs["tests"], cases.len().to_string());
    for (key, what) in [
        ("failures", "failure"),
        ("errors", "error"),
        ("skipped", "skipped"),
    ] {
        assert_eq!(root_attrs[key], count(&cases, what), "root {key}");
    }
    cases
}

/// Scans `services` on 127.0.0.1 and returns the JSON result.
fn scan(services: &[&LabService], dir: &Path, stem: &str, extra: &[&str]) -> ScanOutcome {
    let ports: Vec<String> = services.iter().map(|s| s.addr.port().to_string()).collect();
    let json = dir.join(format!("{stem}.json"));
    posture()
        .args([
            "scan",
            "127.0.0.1",
            "--fail-on",
            "none",
            "-q",
            "--timeout-ms",
            "800",
        ])
        .arg("--ports")
        .arg(ports.join(","))
        .arg("--json")
        .arg(&json)
        .args(extra)
        .assert()
        .code(0);
    posture::report::json::read_json(&json).unwrap()
}

/// The outcome with everything that differs between runs replaced by fixed values: lab ports
/// (kernel-chosen) by `port_names`, times, durations, versions and hashes.
fn redact(o: &ScanOutcome, port_names: &[(u16, &str)]) -> ScanOutcome {
    let mut o = o.clone();
    o.scan.started_at = "2026-01-01T02:30:00Z".into();
    o.scan.finished_at = "2026-01-01T02:30:02Z".into();
    o.scan.duration_ms = 2000;
    o.tool.version = "<version>".into();
    for p in &mut o.tool.packs {
        p.sha256 = "<sha256>".into();
    }
    if let Some(b) = &mut o.baseline {
        b.source = "<baseline>".into();
        b.started_at = Some("2025-12-31T02:30:00Z".into());
    }
    let mut text = serde_json::to_string(&o).unwrap();
    for (port, name) in port_names {
        text = text.replace(&port.to_string(), name);
    }
    let mut o: ScanOutcome = serde_json::from_str(&text).unwrap();
    // Report order depended on the real port numbers.
    posture::finding::sort_findings(&mut o.findings);
    o
}

#[test]
fn junit_of_a_real_scan_has_failures_passes_and_no_finding_cases() {
    let (_a, telnet) = start_lab(Kind::Telnet);
    let (_b, ssh) = start_lab(Kind::Ssh);
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("junit.xml");
    scan(
        &[&telnet, &ssh],
        dir.path(),
        "r",
        &["--junit", xml_path.to_str().unwrap()],
    );
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let cases = assert_junit_well_formed(&xml);
    let failing: Vec<&Case> = cases.iter().filter(|c| c.outcome == "failure").collect();
    // --fail-on none: the scan reports, nothing fails.
    assert!(failing.is_empty(), "{failing:?}");
    // Rerender with the default threshold (high): the telnet finding fails.
    let xml2 = dir.path().join("junit2.xml");
    posture()
        .arg("report")
        .arg(dir.path().join("r.json"))
        .arg("--junit")
        .arg(&xml2)
        .assert()
        .code(0);
    let cases = assert_junit_well_formed(&std::fs::read_to_string(&xml2).unwrap());
    let telnet_ep = format!("127.0.0.1:{}", telnet.addr.port());
    let fail = cases
        .iter()
        .find(|c| c.outcome == "failure")
        .expect("a failing case");
    assert_eq!(fail.classname, "posture.port.risky-service");
    assert_eq!(fail.name, telnet_ep);
    // Every active rule without a finding is a passing case.
    let passing = cases.iter().filter(|c| c.name == "no findings").count();
    assert!(passing >= 5, "{cases:?}");
    assert!(cases.iter().all(|c| c.outcome != "error"));
}

#[test]
fn junit_checker_catches_broken_files() {
    let ok = "<?xml version=\"1.0\"?><testsuites tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\"><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\"><testcase classname=\"c\" name=\"n\"/></testsuite></testsuites>";
    assert_eq!(assert_junit_well_formed(ok).len(), 1);
    for bad in [
        ok.replace("name=\"n\"", "name=\"<\""),
        ok.replace("</testsuite></testsuites>", "</testsuites>"),
        ok.replace("tests=\"1\" failures", "tests=\"2\" failures"),
        ok.replace("name=\"n\"", "name=\"\u{1b}\""),
    ] {
        assert!(
            std::panic::catch_unwind(|| assert_junit_well_formed(&bad)).is_err(),
            "accepted: {bad}"
        );
    }
}

#[test]
fn markdown_and_text_snapshots_with_a_baseline() {
    let (_a, telnet) = start_lab(Kind::Telnet);
    let (_b, ftp) = start_lab(Kind::Ftp);
    let (_c, vnc) = start_lab(Kind::Vnc);
    let names = [
        (telnet.addr.port(), "2323"),
        (ftp.addr.port(), "2121"),
        (vnc.addr.port(), "5900"),
    ];
    let dir = tempfile::tempdir().unwrap();
    // Yesterday: telnet and FTP. Today: telnet and VNC; FTP was closed.
    scan(&[&telnet, &ftp], dir.path(), "yesterday", &[]);
    let baseline = dir.path().join("yesterday.json");
    let today = scan(
        &[&telnet, &vnc],
        dir.path(),
        "today",
        &["--baseline", baseline.to_str().unwrap()],
    );
    let b = today
        .baseline
        .as_ref()
        .expect("baseline comparison recorded");
    assert_eq!(b.fixed.len(), 1, "the FTP finding is fixed");
    let today = redact(&today, &names);
    let redacted = dir.path().join("redacted.json");
    posture::report::json::write_json(&redacted, &today).unwrap();
    let md_path = dir.path().join("summary.md");
    posture()
        .arg("report")
        .arg(&redacted)
        .arg("--markdown")
        .arg(&md_path)
        .assert()
        .code(0);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("**1 new**, 0 updated, 1 unchanged, **1 fixed**"),
        "{md}"
    );
    insta::assert_snapshot!("markdown_with_baseline", md);
    let text = posture::report::text::render_text(&today, &Default::default());
    insta::assert_snapshot!("text_with_baseline", text);
}
