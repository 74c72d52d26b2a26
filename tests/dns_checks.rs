//! DNS checks end to end through `posture scan`: `[[domain]]` entries, name targets and
//! `--subdomains` against the fixture zones on loopback (see `support::dns`), every built-in
//! `dns.*` rule positive at least once and negative on the clean zone, SARIF locations, a user
//! rule on tags, and hostile resolvers making the scan incomplete instead of producing findings.

use crate::support::dns::world;
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// What one scan produced.
struct Scan {
    code: i32,
    json: Value,
    sarif: Value,
}

impl Scan {
    /// (rule id, endpoint) of every finding.
    fn fired(&self) -> BTreeSet<(String, String)> {
        self.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule_id"].as_str().unwrap().to_string(),
                    f["endpoint"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn fired_on(&self, endpoint: &str) -> BTreeSet<String> {
        self.fired()
            .into_iter()
            .filter(|(_, e)| e == endpoint)
            .map(|(r, _)| r)
            .collect()
    }

    fn dns_subject(&self, name: &str) -> Option<&Value> {
        self.json["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subject"] == "dns" && s["endpoint"] == name)
    }

    fn incomplete(&self) -> Vec<(String, String)> {
        self.json["incomplete"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["endpoint"].as_str().unwrap().to_string(),
                    i["stage"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// (uri, line) of the SARIF result of `rule` on `endpoint`.
    fn sarif_location(&self, rule: &str, endpoint: &str) -> (String, Option<u64>) {
        let results = self.sarif["runs"][0]["results"].as_array().unwrap();
        let r = results
            .iter()
            .find(|r| {
                r["ruleId"] == rule && r["message"]["text"].as_str().unwrap().starts_with(endpoint)
            })
            .unwrap_or_else(|| panic!("no SARIF result {rule} on {endpoint}"));
        let loc = &r["locations"][0]["physicalLocation"];
        (
            loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
            loc["region"]["startLine"].as_u64(),
        )
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Runs `posture scan` in `dir` (posture.toml there when `config` is given) against the DNS
/// world, with `extra` arguments.
fn scan_in(dir: &Path, config: Option<&str>, extra: &[&str]) -> Scan {
    let w = world();
    let mut cmd = posture();
    cmd.current_dir(dir)
        .args(["scan", "-q", "--json", "r.json", "--sarif", "r.sarif"])
        .args(w.flags());
    if let Some(text) = config {
        std::fs::write(dir.join("posture.toml"), text).unwrap();
        cmd.args(["--config", "posture.toml"]);
    }
    let out = cmd.args(extra).output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code != 2,
        "usage error: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sarif = read_json(&dir.join("r.sarif"));
    assert_valid_sarif(&sarif);
    Scan {
        code,
        json: read_json(&dir.join("r.json")),
        sarif,
    }
}

fn scan(config: Option<&str>, extra: &[&str]) -> Scan {
    let dir = tempfile::tempdir().unwrap();
    scan_in(dir.path(), config, extra)
}

/// The 1-based line of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn clean_zone_and_resolving_alias_fire_nothing() {
    let s = scan(
        Some("[[domain]]\nname = \"clean.test\"\n"),
        &["www.clean.test"],
    );
    assert_eq!(s.fired(), BTreeSet::new(), "{:#}", s.json["findings"]);
    assert_eq!(s.incomplete(), [], "{:#}", s.json["incomplete"]);
    assert_eq!(s.code, 0);
    let zone = s.dns_subject("clean.test").expect("zone subject");
    assert_eq!(zone["dns"]["is_zone_apex"], true);
    assert_eq!(zone["dns"]["complete"], true);
    assert_eq!(zone["dns"]["mta_sts"]["valid"], true, "policy fetched");
    assert_eq!(zone["dns"]["dmarc"]["p"], "reject");
    // A name target below the zone: name checks only.
    let www = s.dns_subject("www.clean.test").expect("name subject");
    assert_eq!(www["dns"]["is_zone_apex"], false);
    assert_eq!(www["dns"]["cname"]["status"], "resolves");
    assert_eq!(www["dns"]["spf"]["checked"], false);
}

#[test]
fn misconfigured_zone_fires_its_rules_and_axfr_names_get_name_checks() {
    let config = "# inventory\n[[domain]]\nname = \"bad.test\"\nowner = \"dns-team\"\n";
    let s = scan(Some(config), &[]);
    assert_eq!(
        s.fired_on("bad.test"),
        set(&[
            "dns.spf.permissive",
            "dns.spf.invalid",
            "dns.dmarc.weak",
            "dns.dmarc.unauthorized-report",
            "dns.mx.invalid",
            "dns.mta-sts.missing",
            "dns.tls-rpt.missing",
            "dns.caa.missing",
            "dns.dnssec.missing",
            "dns.ns.single",
            "dns.ns.same-network",
            "dns.axfr.open",
            "dns.recursion.open",
            "dns.wildcard.present",
        ])
    );
    // shop.bad.test was learnt from the open transfer: the only other finding.
    let others: BTreeSet<(String, String)> = s
        .fired()
        .into_iter()
        .filter(|(_, e)| e != "bad.test")
        .collect();
    assert_eq!(
        others,
        [(
            "dns.cname.dangling".to_string(),
            "shop.bad.test".to_string()
        )]
        .into()
    );
    assert_eq!(s.code, 1, "critical and high findings");
    assert_eq!(s.incomplete(), []);
    // A [[domain]] finding points at its table in posture.toml; a learnt name at the
    // synthetic path of its zone.
    assert_eq!(
        s.sarif_location("dns.axfr.open", "bad.test"),
        ("posture.toml".into(), Some(line_of(config, "[[domain]]")))
    );
    assert_eq!(
        s.sarif_location("dns.cname.dangling", "shop.bad.test").0,
        "targets/dns/bad.test/shop.bad.test"
    );
    let weak = s.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "dns.dmarc.weak")
        .unwrap();
    assert_eq!(
        weak["message"],
        "bad.test DMARC policy is p=none pct=50: failing mail is (partly) delivered anyway."
    );
    let shop = s.dns_subject("shop.bad.test").unwrap();
    assert_eq!(shop["dns"]["cname"]["target"], "gone.nowhere.test");
    assert_eq!(shop["target"]["owner"], "dns-team", "owner inherited");
    // Names of the transfer that are not aliases are not kept as subjects.
    assert!(s.dns_subject("mail.bad.test").is_none());
}

#[test]
fn delegation_and_signature_rules_each_on_their_own_line() {
    let config = "[[domain]]\nname = \"lame.test\"\n\n[[domain]]\nname = \"plain.test\"\n\n[[domain]]\nname = \"dept.clean.test\"\n";
    let s = scan(Some(config), &[]);
    assert_eq!(
        s.fired_on("lame.test"),
        set(&[
            "dns.spf.too-many-lookups",
            "dns.dmarc.missing",
            "dns.dnssec.expiring",
            "dns.ns.lame",
            "dns.soa.serial-mismatch",
        ])
    );
    assert_eq!(
        s.fired_on("plain.test"),
        set(&["dns.spf.missing", "dns.dnssec.missing"])
    );
    // DMARC from the organisational domain, null MX, CAA inherited: only unsigned.
    assert_eq!(s.fired_on("dept.clean.test"), set(&["dns.dnssec.missing"]));
    assert_eq!(s.code, 1);
    assert_eq!(
        s.sarif_location("dns.ns.lame", "lame.test"),
        ("posture.toml".into(), Some(1))
    );
    assert_eq!(
        s.sarif_location("dns.spf.missing", "plain.test"),
        ("posture.toml".into(), Some(4))
    );
    assert_eq!(
        s.sarif_location("dns.dnssec.missing", "dept.clean.test"),
        ("posture.toml".into(), Some(7))
    );
}

#[test]
fn every_builtin_dns_rule_fires_somewhere() {
    // The union of the zones above, in one scan: every rule positive, clean.test negative.
    let config = "[[domain]]\nname = \"clean.test\"\n[[domain]]\nname = \"bad.test\"\n[[domain]]\nname = \"lame.test\"\n[[domain]]\nname = \"plain.test\"\n";
    let s = scan(Some(config), &[]);
    let fired: BTreeSet<String> = s.fired().into_iter().map(|(r, _)| r).collect();
    let out = posture().args(["rules", "list"]).output().unwrap();
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with("dns."))
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), 21, "{listed:?}");
    assert_eq!(fired, listed);
    assert_eq!(s.fired_on("clean.test"), BTreeSet::new());
}

#[test]
fn name_target_that_is_a_zone_apex_gets_zone_checks() {
    let s = scan(None, &["bad.test", "alias.bad.test", "--fail-on", "none"]);
    assert_eq!(s.code, 0);
    assert!(s.fired_on("bad.test").contains("dns.axfr.open"));
    assert_eq!(
        s.sarif_location("dns.axfr.open", "bad.test").0,
        "targets/dns/bad.test/bad.test"
    );
    // A name below the apex gets the name checks only (its CNAME resolves: nothing to say).
    assert_eq!(s.fired_on("alias.bad.test"), BTreeSet::new());
    let alias = s.dns_subject("alias.bad.test").unwrap();
    assert_eq!(alias["dns"]["cname"]["status"], "resolves");
    assert_eq!(alias["dns"]["axfr"]["checked"], false);
    // The apex has no address of its own: the port phase says so, the DNS phase does not.
    assert_eq!(
        s.incomplete(),
        [("bad.test".to_string(), "resolve".to_string())]
    );
    // With the DNS checks only, there is nothing to sweep on it and so nothing to resolve.
    let s = scan(None, &["bad.test", "--checks", "dns"]);
    assert_eq!(s.incomplete(), []);
    assert_eq!(s.code, 1);
    assert!(s.fired_on("bad.test").contains("dns.axfr.open"));
}

#[test]
fn subdomains_file_drives_the_dangling_cname_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subs.txt"),
        "# enumerated\nshop.bad.test\nwww.clean.test\nweb.clean.test\nmissing.clean.test\n",
    )
    .unwrap();
    let s = scan_in(dir.path(), None, &["--subdomains", "subs.txt"]);
    assert_eq!(
        s.fired(),
        [(
            "dns.cname.dangling".to_string(),
            "shop.bad.test".to_string()
        )]
        .into()
    );
    assert_eq!(s.code, 1);
    assert_eq!(
        s.sarif_location("dns.cname.dangling", "shop.bad.test").0,
        "targets/dns/bad.test/shop.bad.test"
    );
    // No zone checks on listed names.
    let shop = s.dns_subject("shop.bad.test").unwrap();
    assert_eq!(shop["dns"]["spf"]["checked"], false);
    // Aliases are kept as subjects; names that are not aliases are not.
    assert!(s.dns_subject("www.clean.test").is_some());
    assert!(s.dns_subject("web.clean.test").is_none());
    assert!(s.dns_subject("missing.clean.test").is_none());
    assert_eq!(s.incomplete(), []);
}

#[test]
fn subdomains_file_with_bad_lines_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("subs.txt"), "ok.clean.test\nnot a name\n").unwrap();
    let out = posture()
        .current_dir(dir.path())
        .args(["scan", "--subdomains", "subs.txt"])
        .args(world().flags())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("subs.txt:2:"), "{err}");
}

#[test]
fn user_rule_mail_domains_must_reject() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corp.toml"),
        r#"[[rule]]
id = "corp.mail.dmarc-reject"
title = "Mail domains must reject spoofed mail"
severity = "high"
subject = "dns"
when = '"mail" in target.tags && dns.dmarc.p != "reject"'
message = "{{ endpoint }} is a mail domain with DMARC p={{ dns.dmarc.p }}."
tags = ["security", "corp"]
"#,
    )
    .unwrap();
    let config = "[rules]\npaths = [\"corp.toml\"]\n\n[[domain]]\nname = \"bad.test\"\ntags = [\"mail\"]\n\n[[domain]]\nname = \"clean.test\"\ntags = [\"mail\"]\n\n[[domain]]\nname = \"lame.test\"\n";
    let s = scan_in(
        dir.path(),
        Some(config),
        &["--rule", "corp.mail.dmarc-reject"],
    );
    // Fires on the tagged domain with p=none; not on the tagged one with p=reject, not on
    // the untagged one without DMARC, not on the names bad.test's transfer revealed.
    assert_eq!(
        s.fired(),
        [("corp.mail.dmarc-reject".to_string(), "bad.test".to_string())].into()
    );
    let f = &s.json["findings"][0];
    assert_eq!(f["message"], "bad.test is a mail domain with DMARC p=none.");
    assert_eq!(
        s.sarif_location("corp.mail.dmarc-reject", "bad.test"),
        (
            "posture.toml".into(),
            Some(line_of(config, "name = \"bad.test\"") - 1)
        )
    );
}

#[test]
fn hostile_resolver_makes_the_scan_incomplete_not_a_finding() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("posture.toml"),
        "[[domain]]\nname = \"victim.test\"\n",
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let start = std::time::Instant::now();
    let out = posture()
        .current_dir(dir.path())
        .args(["scan", "-q", "--config", "posture.toml", "--json", "r.json"])
        .args(["--resolver", &w.garbage_resolver.to_string()])
        .args(["--ns-port", "9", "--timeout-ms", "300"])
        .args(["--endpoint-timeout-ms", "3000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    let report = read_json(&json);
    assert_eq!(report["findings"], serde_json::json!([]));
    let inc = report["incomplete"].as_array().unwrap();
    assert!(
        inc.iter()
            .any(|i| i["endpoint"] == "victim.test" && i["stage"] == "dns"),
        "{inc:?}"
    );
}

#[test]
fn silent_resolver_ends_at_the_deadline_as_incomplete() {
    let (_sock, silent) = silent_resolver();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subs.txt"),
        "a.victim.test\nb.victim.test\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let out = posture()
        .current_dir(dir.path())
        .args(["scan", "-q", "--subdomains", "subs.txt", "--json", "r.json"])
        .args(["--resolver", &silent.to_string(), "--timeout-ms", "200"])
        .args(["--endpoint-timeout-ms", "1500"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(15));
    let report = read_json(&dir.path().join("r.json"));
    assert_eq!(report["findings"], serde_json::json!([]));
    let names: BTreeSet<&str> = report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["stage"] == "dns")
        .map(|i| i["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.victim.test", "b.victim.test"].into());
}

#[test]
fn dns_checks_off_means_no_dns_subjects() {
    let s = scan(
        Some("[[domain]]\nname = \"bad.test\"\n"),
        &["--checks", "ports"],
    );
    assert_eq!(s.code, 0);
    assert_eq!(s.fired(), BTreeSet::new());
    assert!(s.dns_subject("bad.test").is_none());
}
