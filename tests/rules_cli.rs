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

#[test]
fn rules_that_could_never_fire_are_refused_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corp.toml"),
        r#"[[rule]]
id = "corp.typo"
title = "Typo in a function"
severity = "high"
subject = "port"
when = "port.open && port.banner.lowerAsci().contains('ssh')"
message = "{{ endpoint }}"

[[rule]]
id = "corp.not-a-condition"
title = "Not a condition"
severity = "high"
subject = "port"
when = "port.number"
message = "{{ endpoint }}"
"#,
    )
    .unwrap();
    let (code, _, err) = run(&["rules", "validate", "corp.toml"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("corp.toml:6:34: unknown function `lowerAsci`"),
        "{err}"
    );
    assert!(
        err.contains("corp.toml:14:9: a condition must be true or false, but this is a number"),
        "{err}"
    );
    assert!(err.contains("2 problems in rule files"), "{err}");
}

#[test]
fn validating_the_shipped_packs_and_edited_copies() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let (code, out, err) = run(
        &["rules", "validate", shipped.to_str().unwrap()],
        std::path::Path::new("."),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ports.toml (2 rules)"), "{out}");

    // An edited copy clashes with the embedded pack, and says how to check it alone.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(shipped.join("ports.toml")).unwrap();
    std::fs::write(
        dir.path().join("ports.toml"),
        text.replace(
            "title = \"Risky service exposed\"",
            "title = \"Risky service\"",
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["rules", "validate", "ports.toml"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("duplicate rule id `port.risky-service`")
            && err.contains("--no-builtin-rules"),
        "{err}"
    );
    let (code, out, err) = run(
        &["rules", "validate", "--no-builtin-rules", "ports.toml"],
        dir.path(),
    );
    assert_eq!((code, out.trim()), (0, "ok: ports.toml (2 rules)"), "{err}");
}

#[test]
fn rules_commands_read_posture_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corp.toml"),
        "[[rule]]\nid = \"corp.ssh\"\ntitle = \"SSH exposed\"\nseverity = \"low\"\nsubject = \"port\"\nwhen = \"port.service == 'ssh'\"\nmessage = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("posture.toml"),
        "[rules]\npaths = [\"corp.toml\"]\ndisable = [\"tls.protocol.no-tls13\"]\nseverity = { \"corp.ssh\" = \"high\" }\n",
    )
    .unwrap();
    let (code, out, err) = run(&["rules", "list", "--config", "posture.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"))
            .to_string()
    };
    assert!(line("corp.ssh ").contains(" high "), "{out}");
    assert!(
        line("tls.protocol.no-tls13").contains("(disabled)"),
        "{out}"
    );
    let (code, out, _) = run(
        &["rules", "explain", "corp.ssh", "--config", "posture.toml"],
        dir.path(),
    );
    assert_eq!(code, 0);
    assert!(out.contains("corp.ssh"), "{out}");

    // A bad override is a problem of the config, found by `rules validate` too.
    std::fs::write(
        dir.path().join("posture.toml"),
        "[rules]\ndisable = [\"tls.protocol.no-tls14\"]\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &["rules", "validate", "corp.toml", "--config", "posture.toml"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("posture.toml:2:12: `disable` names unknown rule id `tls.protocol.no-tls14`"),
        "{err}"
    );
}

/// A user rule whose types clash with the facts (valid CEL, so it loads) judges nothing; the
/// scan says so instead of passing quietly: the report lists it and the exit code is 3.
#[test]
fn a_rule_that_cannot_be_decided_makes_the_scan_incomplete() {
    let (_rt, ssh) = start_lab(Kind::Ssh);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("corp.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"corp.ssh-port\"\ntitle = \"SSH port\"\nseverity = \"high\"\nsubject = \"port\"\nwhen = \"port.service == 'ssh' && port.number.startsWith('22')\"\nmessage = \"x\"\n",
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let t = format!("127.0.0.1:{}", ssh.addr.port());
    posture()
        .args(["scan", "-q", &t, "--no-builtin-rules", "--rules"])
        .arg(&rules)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(3);
    let r = read_json(&json);
    let rule_problems: Vec<&str> = r["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["stage"] == "rule")
        .filter_map(|i| i["reason"].as_str())
        .collect();
    assert_eq!(rule_problems.len(), 1, "{rule_problems:?}");
    assert!(
        rule_problems[0].contains("corp.ssh-port") && rule_problems[0].contains(&t),
        "{}",
        rule_problems[0]
    );
    posture()
        .args([
            "scan",
            "-q",
            &t,
            "--no-builtin-rules",
            "--allow-incomplete",
            "--rules",
        ])
        .arg(&rules)
        .assert()
        .code(0);
}
