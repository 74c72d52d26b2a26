//! Exit codes (ARCHITECTURE.md §6), each case driven through the real binary.

use crate::support::*;
use posture::lab::services::Kind;

#[test]
fn clean_scan_exits_0() {
    let ls = listeners(1);
    posture()
        .args(["scan", "-q", &format!("127.0.0.1:{}", ports_of(&ls)[0])])
        .assert()
        .code(0);
}

#[test]
fn finding_at_threshold_exits_1_and_none_reports_only() {
    // Telnet: one high finding (port.risky-service), nothing critical.
    let (_rt, telnet) = start_lab(Kind::Telnet);
    let t = format!("127.0.0.1:{}", telnet.addr.port());
    posture().args(["scan", "-q", &t]).assert().code(1);
    posture()
        .args(["scan", "-q", "--fail-on", "critical", &t])
        .assert()
        .code(0);
    posture()
        .args(["scan", "-q", "--fail-on", "none", &t])
        .assert()
        .code(0);
    posture()
        .args(["scan", "-q", "--fail-on", "medium", &t])
        .assert()
        .code(1);
    // Redis without a password is critical (port.redis.unauthenticated).
    let (_rt2, redis) = start_lab(Kind::Redis);
    let r = format!("127.0.0.1:{}", redis.addr.port());
    posture()
        .args(["scan", "-q", "--fail-on", "critical", &r])
        .assert()
        .code(1);
}

#[test]
fn unresolvable_name_is_incomplete_exit_3_unless_allowed() {
    let (_sock, resolver) = silent_resolver();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args([
            "scan",
            "-q",
            "--timeout-ms",
            "200",
            "--resolver",
            &resolver.to_string(),
            "gone.invalid:80",
            "--json",
        ])
        .arg(&json)
        .assert()
        .code(3);
    let r = read_json(&json);
    // The DNS checks of the name are incomplete too; the port phase's entry is the one here.
    let inc = r["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["stage"] == "resolve")
        .expect("a resolve entry");
    assert_eq!(inc["endpoint"], "gone.invalid:80");
    posture()
        .args([
            "scan",
            "-q",
            "--timeout-ms",
            "200",
            "--allow-incomplete",
            "--resolver",
            &resolver.to_string(),
            "gone.invalid:80",
        ])
        .assert()
        .code(0);
}

#[test]
fn usage_errors_exit_2() {
    posture()
        .args(["scan", "-q", "not a host"])
        .assert()
        .code(2);
    posture()
        .args(["scan", "-q", "--ports", "0-10", "127.0.0.1"])
        .assert()
        .code(2);
    posture()
        .args(["scan", "-q", "--fail-on", "severe", "127.0.0.1"])
        .assert()
        .code(2);
    posture().args(["scan", "-q"]).assert().code(2);
    posture().args(["frobnicate"]).assert().code(2);
}

#[test]
fn unwritable_report_exits_2_before_the_scan() {
    let ls = listeners(1);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let target = format!("127.0.0.1:{}", ports_of(&ls)[0]);
    let out = posture()
        .args(["scan", "-q", &target])
        .arg("--sarif")
        .arg(dir.path().join("missing-dir/r.sarif"))
        .arg("--json")
        .arg(&json)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("--sarif") && err.contains("missing-dir"),
        "{err}"
    );
    // Refused before anything was scanned: no half set of reports.
    assert!(!json.exists());
    // Two reports in one file: the second would replace the first.
    let out = posture()
        .args(["scan", "-q", &target, "--json"])
        .arg(&json)
        .arg("--html")
        .arg(&json)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("also given to --json"), "{err}");

    // A report that fails when written (after the scan) still lets the others be written.
    posture()
        .args(["scan", "-q", "--fail-on", "none", &target, "--json"])
        .arg(&json)
        .assert()
        .code(0);
    let html = dir.path().join("r.html");
    posture()
        .arg("report")
        .arg(&json)
        .arg("--sarif")
        .arg(dir.path().join("missing-dir/r.sarif"))
        .arg("--html")
        .arg(&html)
        .assert()
        .code(2);
    assert!(html.exists());
}

#[test]
fn host_cap_requires_max_hosts() {
    let out = posture()
        .args([
            "scan",
            "-q",
            "--list-targets",
            "--ports",
            "80",
            "127.0.0.0/15",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("131072") && err.contains("--max-hosts"),
        "{err}"
    );
    // With the cap raised, the dry run lists without sending anything.
    posture()
        .args([
            "scan",
            "-q",
            "--list-targets",
            "--ports",
            "80",
            "--max-hosts",
            "200000",
            "127.0.0.0/15",
        ])
        .assert()
        .code(0);
}
