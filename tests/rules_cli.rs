//! Rule files through the CLI: custom rules fire, broken files exit 2 naming file:line:col.

use crate::support::*;
use posture::lab::services::Kind;

#[test]
fn broken_rule_file_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corp.toml");
    std::fs::write(
        &path,
        "[[rule]]\nid = \"corp.ssh\"\ntitle = \"SSH\"\nseverity = \"high\"\nsubject = \"port\"\nwhen = \"port.nmber == 22\"\nmessage = \"x\"\n",
    )
    .unwrap();
    let out = posture()
        .args(["rules", "validate"])
        .arg(&path)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains(&format!("{}:6:", path.display())), "{err}");
    assert!(err.contains("nmber"), "{err}");
    // The same file given to a scan stops it before anything is sent.
    let ls = listeners(1);
    posture()
        .args([
            "scan",
            "-q",
            &format!("127.0.0.1:{}", ports_of(&ls)[0]),
            "--rules",
        ])
        .arg(&path)
        .assert()
        .code(2);
}

#[test]
fn custom_rule_fires_with_its_own_message() {
    let (_rt, ssh) = start_lab(Kind::Ssh);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("corp.toml");
    std::fs::write(
        &rules,
        r#"[[rule]]
id = "corp.old-openssh"
title = "Outdated OpenSSH"
severity = "medium"
subject = "port"
when = "port.service == 'ssh' && port.banner.contains('OpenSSH_7.')"
message = "{{ endpoint }} runs {{ port.banner }}"
remediation = "Upgrade OpenSSH to a supported release."
tags = ["security", "patching"]
"#,
    )
    .unwrap();
    posture()
        .args(["rules", "validate"])
        .arg(&rules)
        .assert()
        .code(0);
    let json = dir.path().join("r.json");
    let t = format!("127.0.0.1:{}", ssh.addr.port());
    posture()
        .args(["scan", "-q", &t, "--rules"])
        .arg(&rules)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0); // medium < default threshold high
    let r = read_json(&json);
    assert_eq!(finding_ids(&r), ["corp.old-openssh"]);
    let msg = r["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("{t} runs SSH-2.0-OpenSSH_7.4")),
        "{msg}"
    );
    // --skip-rule removes it; --rule keeps only it.
    posture()
        .args([
            "scan",
            "-q",
            &t,
            "--fail-on",
            "low",
            "--skip-rule",
            "corp.old-openssh",
            "--rules",
        ])
        .arg(&rules)
        .assert()
        .code(0);
    posture()
        .args([
            "scan",
            "-q",
            &t,
            "--fail-on",
            "low",
            "--rule",
            "corp.old-openssh",
            "--rules",
        ])
        .arg(&rules)
        .assert()
        .code(1);
}

#[test]
fn rules_list_and_explain() {
    let out = posture().args(["rules", "list"]).assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("port.risky-service"), "{text}");
    let out = posture()
        .args(["rules", "explain", "port.risky-service"])
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("port.number") || text.contains("port.service"),
        "{text}"
    );
    posture()
        .args(["rules", "explain", "no.such.rule"])
        .assert()
        .code(2);
}
