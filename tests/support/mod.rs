//! Helpers shared by the integration tests: the binary, loopback listeners, report readers.
#![allow(dead_code)]

pub mod browser;
pub mod dns;
pub mod dns_wire;
pub mod netns;
pub mod servers;
pub mod tls;
pub mod tls_shared;

use assert_cmd::Command;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

/// Overrides where [`posture`] finds the binary: set by a test that hides the build directory
/// (a private /tmp inside `unshare --mount`, when the checkout lives below /tmp).
pub const BIN_ENV: &str = "POSTURE_TEST_BIN";

/// The `posture` binary with a clean environment for logging.
pub fn posture() -> Command {
    let mut c = match std::env::var_os(BIN_ENV) {
        Some(bin) => Command::new(bin),
        None => Command::cargo_bin("posture").expect("binary built"),
    };
    c.env_remove("POSTURE_LOG");
    c.timeout(std::time::Duration::from_secs(120));
    c
}

/// Runs `posture ARGS` in `cwd`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = posture().current_dir(cwd).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines `posture scan --list-targets ARGS` prints in `cwd` (asserting it succeeds).
pub fn list_targets(args: &[&str], cwd: &Path) -> Vec<String> {
    let mut all = vec!["scan", "--list-targets"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all, cwd);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| l.trim_end().to_string()).collect()
}

/// `n` TCP listeners on 127.0.0.1 with kernel-chosen ports, kept open while the value lives.
/// The kernel completes handshakes from the backlog, so they read as open without accepting.
pub fn listeners(n: usize) -> Vec<TcpListener> {
    (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind loopback"))
        .collect()
}

pub fn ports_of(ls: &[TcpListener]) -> Vec<u16> {
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A port on 127.0.0.1 that nothing listens on (bound, read, released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A port on 127.0.0.1 for a third-party server to listen on: free for TCP when chosen, and
/// never handed out twice in this test process (the kernel may give a just-released port
/// again, and two servers of one test, or of two concurrent tests, must not get the same one).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = closed_port();
        if given.insert(port) {
            return port;
        }
    }
    panic!("no fresh loopback port in 1000 tries");
}

/// A UDP port on loopback where nothing answers: a resolver that never replies.
pub fn silent_resolver() -> (std::net::UdpSocket, SocketAddr) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Open port numbers in a JSON report.
pub fn open_ports(report: &Value) -> Vec<u16> {
    let mut v: Vec<u16> = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["subject"] == "port")
        .map(|s| s["port"]["number"].as_u64().unwrap() as u16)
        .collect();
    v.sort_unstable();
    v
}

/// Rule ids of the findings in a JSON report.
pub fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap().to_string())
        .collect()
}

/// Validates `doc` against the official SARIF 2.1.0 schema; panics with every error.
pub fn assert_valid_sarif(doc: &Value) {
    let schema: Value = serde_json::from_str(include_str!(
        "../../fixtures/schemas/sarif-schema-2.1.0.json"
    ))
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid:\n{}", errors.join("\n"));
}

/// A fake risky service (redis-like: answers PING with +PONG, says nothing first).
pub fn start_lab(
    kind: posture::lab::services::Kind,
) -> (tokio::runtime::Runtime, posture::lab::services::LabService) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let svc = rt
        .block_on(posture::lab::services::start(
            kind,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    (rt, svc)
}
