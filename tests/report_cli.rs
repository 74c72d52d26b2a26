//! `posture report`, `--baseline` / `--fail-on-new` and `posture diff`, end to end.

use crate::support::*;
use posture::lab::services::{Kind, LabService};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn ports(services: &[&LabService]) -> String {
    services
        .iter()
        .map(|s| s.addr.port().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `posture scan 127.0.0.1 --ports … -q` plus `extra`; returns the exit code.
fn scan(services: &[&LabService], extra: &[&str]) -> i32 {
    posture()
        .args(["scan", "127.0.0.1", "-q", "--timeout-ms", "800", "--ports"])
        .arg(ports(services))
        .args(extra)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn report_rerenders_every_format_from_saved_json() {
    let (_a, telnet) = start_lab(Kind::Telnet);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = p(d, "scan.json");
    let sarif = p(d, "scan.sarif");
    assert_eq!(
        scan(
            &[&telnet],
            &[
                "--fail-on",
                "none",
                "--json",
                s(&json),
                "--sarif",
                s(&sarif)
            ]
        ),
        0
    );
    let again = p(d, "again.json");
    let out = posture()
        .arg("report")
        .arg(&json)
        .args(["--json", s(&again), "--sarif", s(&p(d, "r.sarif"))])
        .args(["--html", s(&p(d, "r.html")), "--markdown", s(&p(d, "r.md"))])
        .args(["--junit", s(&p(d, "r.xml"))])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // JSON round-trips exactly; SARIF is the same document the scan wrote.
    assert_eq!(read_json(&again), read_json(&json));
    assert_eq!(read_json(&p(d, "r.sarif")), read_json(&sarif));
    assert_valid_sarif(&read_json(&p(d, "r.sarif")));
    let html = std::fs::read_to_string(p(d, "r.html")).unwrap();
    assert!(html.contains("port.risky-service"));
    let md = std::fs::read_to_string(p(d, "r.md")).unwrap();
    assert!(
        md.starts_with("## posture: ❌ 1 finding(s) at or above high"),
        "{md}"
    );
    crate::report_formats::assert_junit_well_formed(
        &std::fs::read_to_string(p(d, "r.xml")).unwrap(),
    );
}

#[test]
fn report_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = p(d, "missing.json");
    let out = posture()
        .arg("report")
        .arg(&missing)
        .args(["--html", s(&p(d, "x.html"))])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    std::fs::write(p(d, "bad.json"), "{\"schema_version\": \"1.0\"").unwrap();
    posture()
        .arg("report")
        .arg(p(d, "bad.json"))
        .args(["--html", s(&p(d, "x.html"))])
        .assert()
        .code(2);
    // Nothing to write.
    let (_a, telnet) = start_lab(Kind::Telnet);
    let json = p(d, "ok.json");
    scan(&[&telnet], &["--fail-on", "none", "--json", s(&json)]);
    posture().arg("report").arg(&json).assert().code(2);
    // A report that cannot be written exits 2.
    posture()
        .arg("report")
        .arg(&json)
        .args(["--html", s(&p(d, "no/such/dir/x.html"))])
        .assert()
        .code(2);
    // --fail-on-new needs --baseline.
    posture()
        .args(["scan", "127.0.0.1", "--fail-on-new"])
        .assert()
        .code(2);
    // A baseline that is not one is refused before scanning.
    std::fs::write(p(d, "other.sarif"), r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","message":{"text":"m"}}]}]}"#).unwrap();
    let out = posture()
        .args(["scan", "127.0.0.1", "--ports", "1", "--baseline"])
        .arg(p(d, "other.sarif"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("postureFingerprint/v1"));
}

#[test]
fn baseline_marks_new_unchanged_and_absent_and_fail_on_new_gates_only_new() {
    let (_a, telnet) = start_lab(Kind::Telnet);
    let (_b, ftp) = start_lab(Kind::Ftp);
    let (_c, vnc) = start_lab(Kind::Vnc);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Yesterday: telnet + FTP (both high). Both as JSON and as SARIF.
    let y_json = p(d, "y.json");
    let y_sarif = p(d, "y.sarif");
    assert_eq!(
        scan(
            &[&telnet, &ftp],
            &[
                "--fail-on",
                "none",
                "--json",
                s(&y_json),
                "--sarif",
                s(&y_sarif)
            ]
        ),
        0
    );

    // Today: the same. With --fail-on-new nothing is new: exit 0 although high findings exist.
    assert_eq!(
        scan(
            &[&telnet, &ftp],
            &["--baseline", s(&y_json), "--fail-on-new"]
        ),
        0
    );
    assert_eq!(
        scan(
            &[&telnet, &ftp],
            &["--baseline", s(&y_sarif), "--fail-on-new"]
        ),
        0
    );
    // Without --fail-on-new the old findings gate as usual.
    assert_eq!(scan(&[&telnet, &ftp], &["--baseline", s(&y_json)]), 1);

    // Today: telnet + VNC. VNC is new (high) → exit 1 with --fail-on-new; FTP is absent.
    let t_sarif = p(d, "t.sarif");
    let t_json = p(d, "t.json");
    let md = p(d, "t.md");
    let code = scan(
        &[&telnet, &vnc],
        &[
            "--baseline",
            s(&y_sarif),
            "--fail-on-new",
            "--sarif",
            s(&t_sarif),
            "--json",
            s(&t_json),
            "--markdown",
            s(&md),
            "--html",
            s(&p(d, "t.html")),
        ],
    );
    assert_eq!(code, 1);
    // Only a critical new finding would fail at --fail-on critical.
    assert_eq!(
        scan(
            &[&telnet, &vnc],
            &[
                "--baseline",
                s(&y_sarif),
                "--fail-on-new",
                "--fail-on",
                "critical"
            ]
        ),
        0
    );

    let sarif = read_json(&t_sarif);
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let state_of = |port: u16| -> Vec<&str> {
        results
            .iter()
            .filter(|r| r["properties"]["port"] == port)
            .map(|r| r["baselineState"].as_str().unwrap())
            .collect()
    };
    assert_eq!(state_of(telnet.addr.port()), ["unchanged"]);
    assert_eq!(state_of(vnc.addr.port()), ["new"]);
    assert_eq!(state_of(ftp.addr.port()), ["absent"]);
    let absent = results
        .iter()
        .find(|r| r["baselineState"] == "absent")
        .unwrap();
    assert_eq!(absent["kind"], "pass");
    assert_eq!(absent["level"], "none");

    // The JSON records the comparison; the Markdown and HTML show it.
    let json = read_json(&t_json);
    assert_eq!(json["baseline"]["fixed"].as_array().unwrap().len(), 1);
    assert_eq!(json["baseline"]["source"], s(&y_sarif));
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("**1 new**, 0 updated, 1 unchanged, **1 fixed**"),
        "{md}"
    );
    let html = std::fs::read_to_string(p(d, "t.html")).unwrap();
    assert!(html.contains("<section id=\"changes\">"));
    assert!(html.contains(&format!("127.0.0.1:{}", ftp.addr.port())));

    // The text summary says it too.
    let out = posture()
        .args([
            "scan",
            "127.0.0.1",
            "--timeout-ms",
            "800",
            "--fail-on",
            "none",
            "--ports",
        ])
        .arg(ports(&[&telnet, &vnc]))
        .args(["--baseline", s(&y_json)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "SINCE BASELINE {}: 1 new, 0 updated, 1 fixed",
            s(&y_json)
        )),
        "{text}"
    );
    assert!(text.contains(" · 1 new, 1 fixed · "), "{text}");

    // posture diff of the two, in both formats and with mixed inputs.
    let out = posture()
        .arg("diff")
        .arg(&y_json)
        .arg(&t_sarif)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("posture diff: 1 new, 0 updated, 1 unchanged, 1 fixed"),
        "{text}"
    );
    assert!(text.contains("\nNEW (1)\n  + high"), "{text}");
    assert!(text.contains("\nFIXED (1)\n  - high"), "{text}");
    let out = posture()
        .args(["diff", "--format", "json"])
        .arg(&y_sarif)
        .arg(&t_json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["new"], 1);
    assert_eq!(v["summary"]["fixed"], 1);
    assert_eq!(v["summary"]["unchanged"], 1);
    assert_eq!(v["new"][0]["port"], vnc.addr.port());
    assert_eq!(v["fixed"][0]["port"], ftp.addr.port());
    posture()
        .args(["diff", "--fail-on-new"])
        .arg(&y_json)
        .arg(&t_json)
        .assert()
        .code(1);
    posture()
        .args(["diff", "--fail-on-new", "--fail-on", "critical"])
        .arg(&y_json)
        .arg(&t_json)
        .assert()
        .code(0);
    posture()
        .args(["diff", "--fail-on-new"])
        .arg(&t_json)
        .arg(&t_sarif)
        .assert()
        .code(0);
    posture()
        .arg("diff")
        .arg(&y_json)
        .arg(p(d, "nope.json"))
        .assert()
        .code(2);
}
