//! The docs/ recipes: they parse, have what their platform requires, and every `posture` flag
//! they use exists (checked against the binary's own `--help`).

use crate::support::*;
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
}

fn read(rel: &str) -> String {
    let p = docs().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("docs/{rel}: {e}"))
}

/// Every `posture <sub> …` command in `text` (shell line continuations joined), as
/// (subcommand, flags used).
fn posture_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("posture ") {
            let after = &rest[i + "posture ".len()..];
            let sub: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            if ["scan", "report", "diff"].contains(&sub.as_str()) {
                let flags = after
                    .split(|c: char| {
                        c.is_whitespace() || c == '\'' || c == '"' || c == '(' || c == ')'
                    })
                    .filter(|t| t.starts_with("--") && t.len() > 2)
                    .map(|t| t.split('=').next().unwrap().to_string())
                    .collect();
                out.push((sub, flags));
            }
            rest = after;
        }
    }
    out
}

fn help_of(sub: &str) -> String {
    let out = posture().args([sub, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_flags_exist(rel: &str, text: &str) {
    let cmds = posture_commands(text);
    assert!(!cmds.is_empty(), "docs/{rel} runs no posture command");
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    for (sub, flags) in cmds {
        let help = helps.entry(sub.clone()).or_insert_with(|| help_of(&sub));
        for f in flags {
            assert!(
                help.contains(&format!("{f} "))
                    || help.contains(&format!("{f}\n"))
                    || help.contains(&format!("{f} <")),
                "docs/{rel}: `posture {sub} {f}` is not a flag of posture {sub}"
            );
        }
    }
}

#[test]
fn github_actions_workflow() {
    let rel = "github-actions.yml";
    let w = yaml(rel);
    // YAML 1.1 parsers read `on` as a boolean; serde_norway (YAML 1.2) keeps the string.
    let on = w.get("on").expect("`on:`");
    assert!(on["schedule"][0]["cron"].as_str().is_some());
    assert_eq!(w["permissions"]["security-events"], "write");
    let steps = w["jobs"]["scan"]["steps"].as_sequence().expect("steps");
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))
        })
        .expect("upload-sarif step");
    assert!(
        upload["with"]["category"].as_str().is_some(),
        "upload-sarif needs a category"
    );
    assert_eq!(upload["with"]["sarif_file"], "posture.sarif");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs
        .iter()
        .any(|r| r.contains("posture scan") && r.contains("--sarif posture.sarif")));
    assert!(
        runs.iter().any(|r| r.contains("exit 1")),
        "a gate by exit code"
    );
    assert_flags_exist(rel, &runs.join("\n"));
}

#[test]
fn gitlab_ci_job() {
    let rel = "gitlab-ci.yml";
    let y = yaml(rel);
    let job = &y["posture"];
    let script: Vec<&str> = job["script"]
        .as_sequence()
        .expect("script")
        .iter()
        .map(|l| l.as_str().expect("script lines are strings"))
        .collect();
    assert!(script.iter().any(|l| l.contains("posture scan")));
    assert!(
        script.iter().any(|l| l.starts_with("exit ")),
        "a gate by exit code"
    );
    assert_eq!(job["artifacts"]["reports"]["junit"], "posture-junit.xml");
    assert_eq!(job["artifacts"]["when"], "always");
    assert_flags_exist(rel, &script.join("\n"));
}

#[test]
fn kubernetes_cronjob() {
    let rel = "kubernetes-cronjob.yaml";
    let k = yaml(rel);
    assert_eq!(k["apiVersion"], "batch/v1");
    assert_eq!(k["kind"], "CronJob");
    assert!(k["spec"]["schedule"].as_str().is_some());
    let pod = &k["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap() > 0);
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(!c["resources"][kind][r].is_null(), "resources.{kind}.{r}");
        }
    }
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // Every mount has a volume.
    let volumes: Vec<&str> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        assert!(volumes.contains(&m["name"].as_str().unwrap()), "{m:?}");
    }
    let script = c["args"][0].as_str().expect("script");
    assert_flags_exist(rel, script);
}

/// A systemd unit file as sections of (key, value), continuation lines joined.
fn unit(rel: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let text = read(rel).replace("\\\n", " ");
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_string());
            sections.entry(name.to_string()).or_default();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("docs/{rel}:{}: not `Key=value`: {line}", n + 1));
        let section = current
            .as_ref()
            .unwrap_or_else(|| panic!("docs/{rel}:{}: key outside a section", n + 1));
        assert!(
            k.chars().all(|c| c.is_ascii_alphanumeric()),
            "docs/{rel}:{}: bad key {k}",
            n + 1
        );
        sections
            .get_mut(section)
            .unwrap()
            .push((k.to_string(), v.to_string()));
    }
    sections
}

fn get<'a>(u: &'a BTreeMap<String, Vec<(String, String)>>, section: &str, key: &str) -> &'a str {
    u.get(section)
        .and_then(|s| s.iter().find(|(k, _)| k == key))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("[{section}] {key}= missing"))
}

#[test]
fn systemd_service_and_timer() {
    let svc = unit("systemd/posture-scan.service");
    assert!(!get(&svc, "Unit", "Description").is_empty());
    assert_eq!(get(&svc, "Service", "Type"), "oneshot");
    let exec = get(&svc, "Service", "ExecStart");
    assert!(
        exec.starts_with('/'),
        "ExecStart needs an absolute path: {exec}"
    );
    assert!(
        exec.contains("--baseline previous/posture.json"),
        "baseline from the previous run"
    );
    assert!(get(&svc, "Service", "ExecStartPre")
        .contains("cp current/posture.json previous/posture.json"));
    assert!(!get(&svc, "Service", "User").is_empty(), "not as root");
    assert_eq!(get(&svc, "Service", "NoNewPrivileges"), "yes");
    assert_flags_exist("systemd/posture-scan.service", exec);

    let timer = unit("systemd/posture-scan.timer");
    assert!(!get(&timer, "Timer", "OnCalendar").is_empty());
    assert_eq!(get(&timer, "Timer", "Persistent"), "true");
    assert_eq!(get(&timer, "Install", "WantedBy"), "timers.target");
    let target = get(&timer, "Timer", "Unit");
    assert!(docs().join("systemd").join(target).is_file(), "{target}");
    // If systemd-analyze is installed, let systemd itself check the units too.
    if let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .arg(docs().join("systemd/posture-scan.timer"))
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("Unknown key") && !err.contains("Unknown section"),
            "{err}"
        );
    }
}

#[test]
fn docs_index_links_every_recipe() {
    let index = read("README.md");
    for rel in [
        "github-actions.yml",
        "gitlab-ci.yml",
        "systemd/posture-scan.service",
        "systemd/posture-scan.timer",
        "kubernetes-cronjob.yaml",
    ] {
        assert!(
            index.contains(&format!("]({rel})")),
            "docs/README.md does not link {rel}"
        );
        assert!(docs().join(rel).is_file());
    }
    // Every relative link of the index resolves.
    for (i, _) in index.match_indices("](") {
        let target: String = index[i + 2..].chars().take_while(|c| *c != ')').collect();
        if !target.contains("://") && !target.starts_with('#') {
            assert!(docs().join(&target).exists(), "broken link {target}");
        }
    }
    assert_flags_exist("README.md", &index.replace('`', " "));
}

#[test]
fn flag_extraction_finds_flags_and_catches_typos() {
    let cmds = posture_commands("run: posture scan --config p.toml \\\n  --sarif x --fail-on=high\nposture diff a b --format json");
    assert_eq!(cmds[0].0, "scan");
    assert_eq!(cmds[0].1, ["--config", "--sarif", "--fail-on"]);
    assert_eq!(cmds[1], ("diff".to_string(), vec!["--format".to_string()]));
    assert!(
        std::panic::catch_unwind(|| assert_flags_exist("x", "posture scan --no-such-flag"))
            .is_err()
    );
}
