//! Port scanning end to end: exactly the open ports, banners, services, host:port and URLs.

use crate::support::*;
use posture::lab::services::Kind;

#[test]
fn finds_exactly_the_open_ports_in_a_list() {
    let ls = listeners(5);
    let mut ports = ports_of(&ls);
    // Five distinct closed ports: the OS may hand out the same free port twice.
    let mut closed: Vec<u16> = Vec::new();
    for _ in 0..100 {
        let p = closed_port();
        if !ports.contains(&p) && !closed.contains(&p) {
            closed.push(p);
        }
        if closed.len() == 5 {
            break;
        }
    }
    let spec: Vec<String> = ports.iter().chain(&closed).map(u16::to_string).collect();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args([
            "scan",
            "127.0.0.1",
            "--ports",
            &spec.join(","),
            "--fail-on",
            "none",
            "-q",
        ])
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0);
    let report = read_json(&json);
    ports.sort_unstable();
    assert_eq!(open_ports(&report), ports);
    let stats = &report["scan"]["stats"];
    assert_eq!(stats["open"], 5);
    assert_eq!(stats["closed"].as_u64().unwrap(), closed.len() as u64);
    assert_eq!(report["schema_version"], "1.0");
    drop(ls);
}

#[test]
fn all_ports_of_loopback_finds_exactly_the_listeners() {
    let ls = listeners(8);
    let mut ports = ports_of(&ls);
    ports.sort_unstable();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args([
            "scan",
            "127.0.0.1",
            "--ports",
            "all",
            "--fail-on",
            "none",
            "-q",
        ])
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0);
    let report = read_json(&json);
    // Other processes may listen on loopback too (e.g. the test harness of a parallel test):
    // every one of ours must be there, and nothing reported open may be a closed port.
    let open = open_ports(&report);
    for p in &ports {
        assert!(open.contains(p), "port {p} missing from {open:?}");
    }
    assert_eq!(report["scan"]["stats"]["ports_scanned"], 65535);
    drop(ls);
}

#[test]
fn banner_identifies_the_service_whatever_the_port() {
    let (_rt, redis) = start_lab(Kind::Redis);
    let (_rt2, ssh) = start_lab(Kind::Ssh);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args(["scan", "--fail-on", "none", "-q", "--json"])
        .arg(&json)
        .arg(format!("127.0.0.1:{}", redis.addr.port()))
        .arg(format!("127.0.0.1:{}", ssh.addr.port()))
        .assert()
        .code(0);
    let report = read_json(&json);
    let subjects = report["subjects"].as_array().unwrap();
    let by_port = |p: u16| {
        subjects
            .iter()
            .find(|s| s["port"]["number"] == p)
            .unwrap_or_else(|| panic!("port {p} not in {subjects:?}"))
    };
    let r = by_port(redis.addr.port());
    assert_eq!(r["port"]["service"], "redis", "{r}");
    assert_eq!(r["endpoint"], format!("127.0.0.1:{}", redis.addr.port()));
    let s = by_port(ssh.addr.port());
    assert_eq!(s["port"]["service"], "ssh");
    assert!(s["port"]["banner"]
        .as_str()
        .unwrap()
        .starts_with("SSH-2.0-OpenSSH_7.4"));
    // The risky redis is a finding; ssh is not.
    let findings = report["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["rule_id"] == "port.risky-service" && f["port"] == redis.addr.port()));
    assert!(!findings.iter().any(|f| f["port"] == ssh.addr.port()));
}

#[test]
fn url_scheme_selects_the_service() {
    let ls = listeners(1);
    let port = ports_of(&ls)[0];
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args([
            "scan",
            "--fail-on",
            "none",
            "-q",
            "--checks",
            "ports",
            "--json",
        ])
        .arg(&json)
        .arg(format!("ftp://127.0.0.1:{port}"))
        .assert()
        .code(0);
    let report = read_json(&json);
    let s = &report["subjects"][0];
    assert_eq!(s["port"]["service"], "ftp");
    assert_eq!(s["port"]["service_source"], "scheme");
    drop(ls);
}

#[test]
fn ipv6_loopback_endpoints_are_bracketed() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        // No IPv6 loopback on this machine: nothing to scan, nothing to prove.
        return;
    };
    let port = l.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    posture()
        .args(["scan", "--fail-on", "none", "-q", "--json"])
        .arg(&json)
        .arg(format!("[::1]:{port}"))
        .assert()
        .code(0);
    let report = read_json(&json);
    assert_eq!(report["subjects"][0]["endpoint"], format!("[::1]:{port}"));
}
