//! Ctrl-C: scheduling stops, every requested report is written marked incomplete, exit 130.

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Sends SIGINT to `child` and asserts it exits 130 within `limit`.
fn interrupt_and_wait(child: &mut std::process::Child, limit: Duration) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            start.elapsed() < limit,
            "posture did not stop within {limit:?} after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(130));
}

#[test]
fn sigint_writes_incomplete_reports_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let sarif = dir.path().join("r.sarif");
    // A scope far too large to finish in the test's time: 127.0.0.0/14 × 1000 ports.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("posture"))
        .args([
            "scan",
            "-q",
            "--max-hosts",
            "300000",
            "--ports",
            "top1000",
            "127.0.0.0/14",
            "--json",
        ])
        .arg(&json)
        .arg("--sarif")
        .arg(&sarif)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    interrupt_and_wait(&mut child, Duration::from_secs(20));
    let r = read_json(&json);
    assert_eq!(r["scan"]["interrupted"], true);
    assert!(r["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["stage"] == "interrupted"));
    let s = read_json(&sarif);
    assert_valid_sarif(&s);
    assert_eq!(s["runs"][0]["invocations"][0]["executionSuccessful"], false);
}

/// Ctrl-C during an endpoint that would take long (a server that accepts and never answers a
/// TLS handshake, with long timeouts): the scan stops at once instead of waiting for the
/// endpoint's deadline, and lists that endpoint as interrupted.
#[test]
fn sigint_stops_endpoints_in_flight() {
    let ls = listeners(1);
    let port = ports_of(&ls)[0];
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("posture"))
        .args([
            "scan",
            "-q",
            "--timeout-ms",
            "30000",
            "--endpoint-timeout-ms",
            "90000",
        ])
        .arg(format!("https://127.0.0.1:{port}/"))
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the endpoint should still be in flight"
    );
    interrupt_and_wait(&mut child, Duration::from_secs(5));
    let r = read_json(&json);
    let interrupted: Vec<&str> = r["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["stage"] == "interrupted")
        .filter_map(|i| i["endpoint"].as_str())
        .collect();
    assert!(
        interrupted.contains(&format!("127.0.0.1:{port}").as_str()),
        "{interrupted:?}"
    );
}
