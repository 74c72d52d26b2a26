//! Version identity, targets files, exclusions and the dry run.

use crate::support::*;

#[test]
fn version_prints_rule_pack_identity() {
    let out = posture().arg("--version").assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.starts_with(&format!("posture {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("builtin:ports.toml"))
        .expect(&text);
    let sha = line.rsplit("sha256:").next().unwrap();
    assert_eq!(sha.len(), 64, "{line}");
}

#[test]
fn targets_file_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("targets.txt");
    std::fs::write(&f, "# lab\n127.0.0.1\n\n127.0.0.2:99999\n").unwrap();
    let out = posture()
        .args(["scan", "-q", "--targets-file"])
        .arg(&f)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains(&format!("{}:4", f.display())), "{err}");
    assert!(err.contains("127.0.0.2:99999"), "{err}");
}

#[test]
fn list_targets_expands_lazily_with_exclusions_and_stdin() {
    let out = posture()
        .args([
            "scan",
            "--list-targets",
            "--ports",
            "22,80",
            "--exclude",
            "127.0.0.2",
            "--targets-file",
            "-",
        ])
        .write_stdin("127.0.0.0/30 # four addresses\nhttps://127.0.0.9:8443/\n")
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "127.0.0.0:22",
            "127.0.0.0:80",
            "127.0.0.1:22",
            "127.0.0.1:80",
            "127.0.0.3:22",
            "127.0.0.3:80",
            "127.0.0.9:22",
            "127.0.0.9:80",
            "127.0.0.9:8443\t\thttps",
        ]
    );
}

#[test]
fn ipv6_prefixes_shorter_than_112_are_refused() {
    let out = posture()
        .args(["scan", "--list-targets", "fd00::/64"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("/112"), "{err}");
}

#[test]
fn list_targets_shows_the_subdomains_that_get_name_checks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subs.txt"),
        "# enumerated names\nwww.example.test\nOld.Example.Test.\n",
    )
    .unwrap();
    let out = posture()
        .current_dir(dir.path())
        .args(["scan", "--list-targets", "--subdomains", "subs.txt"])
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        ["www.example.test\tsubdomain", "old.example.test\tsubdomain"]
    );
    // Without the DNS checks they get none, so they are not listed.
    let out = posture()
        .current_dir(dir.path())
        .args([
            "scan",
            "--list-targets",
            "--subdomains",
            "subs.txt",
            "--checks",
            "ports",
        ])
        .assert();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!text.contains("subdomain"), "{text}");
}

#[test]
fn a_suppression_of_an_unknown_rule_is_a_usage_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("posture.toml"),
        "[[target]]\nhost = \"127.0.0.1\"\n\n[[suppress]]\nrule = \"port.risky-servce\"\ntarget = \"127.0.0.1\"\nreason = \"typo in the id\"\n",
    )
    .unwrap();
    let out = posture()
        .current_dir(dir.path())
        .args(["scan", "--config", "posture.toml", "--list-targets"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("posture.toml:4"), "{err}");
    assert!(err.contains("unknown rule id `port.risky-servce`"), "{err}");
}

/// Which ports each target scans: `--ports` on the command line wins, then a target's own
/// `ports`, then `[scan] ports`; a target naming its port keeps exactly it unless a list was
/// given for it.
#[test]
fn port_precedence_between_flags_inventory_and_explicit_ports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("posture.toml"),
        r#"[scan]
ports = "22,80"

[[target]]
host = "127.0.0.1"

[[target]]
host = "127.0.0.2"
ports = "443"

[[target]]
host = "127.0.0.3:8443"

[[target]]
host = "127.0.0.4:8443"
ports = "9000"
"#,
    )
    .unwrap();
    let listed = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--config", "posture.toml"];
        args.extend_from_slice(extra);
        let mut v = list_targets(&args, dir.path());
        v.sort();
        v
    };
    assert_eq!(
        listed(&[]),
        [
            "127.0.0.1:22",
            "127.0.0.1:80",
            "127.0.0.2:443",
            "127.0.0.3:8443",
            "127.0.0.4:8443",
            "127.0.0.4:9000"
        ]
    );
    assert_eq!(
        listed(&["--ports", "25"]),
        [
            "127.0.0.1:25",
            "127.0.0.2:25",
            "127.0.0.3:25",
            "127.0.0.3:8443",
            "127.0.0.4:25",
            "127.0.0.4:8443"
        ]
    );
}

/// A host given twice, or an address inside a listed range, is connected to once and counted
/// once; the same endpoint under another URL scheme, with other inventory data (owner, tags)
/// or from posture.toml is a different ask and stays.
#[test]
fn overlapping_targets_are_swept_once() {
    let here = std::env::current_dir().unwrap();
    let listed = |args: &[&str]| list_targets(args, &here);
    assert_eq!(
        listed(&["127.0.0.1", "127.0.0.1", "--ports", "22"]),
        ["127.0.0.1:22"]
    );
    assert_eq!(
        listed(&["127.0.0.0/31", "127.0.0.1", "127.0.0.1:24", "--ports", "22"]),
        ["127.0.0.0:22", "127.0.0.1:22", "127.0.0.1:24"]
    );
    assert_eq!(
        listed(&["127.0.0.1:22", "https://127.0.0.1:22/"]),
        ["127.0.0.1:22", "127.0.0.1:22\t\thttps"]
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("posture.toml");
    std::fs::write(
        &config,
        "[[target]]\nhost = \"127.0.0.1\"\nowner = \"alice\"\n\n[[target]]\nhost = \"127.0.0.1\"\nowner = \"alice\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // The two identical inventory entries are one; the command-line one (no owner) is not.
    assert_eq!(
        listed(&["--config", config, "--ports", "22"]),
        ["127.0.0.1:22"]
    );
    assert_eq!(
        listed(&["127.0.0.1", "--config", config, "--ports", "22"]),
        ["127.0.0.1:22", "127.0.0.1:22"]
    );

    // The statistics of a real scan count the endpoint once.
    let ls = listeners(1);
    let port = ports_of(&ls)[0];
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let target = format!("127.0.0.1:{port}");
    posture()
        .args([
            "scan",
            "-q",
            "--fail-on",
            "none",
            &target,
            &target,
            "--json",
        ])
        .arg(&json)
        .assert()
        .code(0);
    let report = read_json(&json);
    let stats = &report["scan"]["stats"];
    assert_eq!(
        (stats["ports_scanned"].as_u64(), stats["open"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(open_ports(&report), [port]);
}
