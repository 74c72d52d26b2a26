//! SARIF: schema-valid, GitHub-acceptable locations, fingerprints, zero-result files.

use crate::support::*;
use posture::lab::services::Kind;

fn scan_to_sarif(extra: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("r.sarif");
    let json = dir.path().join("r.json");
    posture()
        .args(["scan", "--fail-on", "none", "-q"])
        .args(extra)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0);
    (read_json(&sarif), read_json(&json))
}

#[test]
fn risky_port_finding_is_valid_sarif_with_a_synthetic_location() {
    let (_rt, telnet) = start_lab(Kind::Telnet);
    let port = telnet.addr.port();
    let target = format!("127.0.0.1:{port}");
    let (sarif, json) = scan_to_sarif(&[&target, "--sarif-category", "nightly/dmz"]);
    assert_valid_sarif(&sarif);
    let run = &sarif["runs"][0];
    assert_eq!(run["automationDetails"]["id"], "nightly/dmz");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    let r = &results[0];
    assert_eq!(r["ruleId"], "port.risky-service");
    assert_eq!(r["level"], "error");
    let locs = r["locations"].as_array().unwrap();
    assert_eq!(locs.len(), 1);
    let uri = locs[0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert_eq!(uri, format!("targets/port/127.0.0.1/{port}"));
    assert!(
        r["message"]["text"].as_str().unwrap().starts_with(&target),
        "{r}"
    );
    let fp = r["partialFingerprints"].as_object().unwrap();
    let json_fp = json["findings"][0]["fingerprint"].as_str().unwrap();
    assert!(
        fp.values().any(|v| v == json_fp),
        "SARIF and JSON share the fingerprint"
    );
    // Rule metadata GitHub shows.
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|x| x["id"] == "port.risky-service")
        .unwrap();
    assert_eq!(rule["properties"]["security-severity"], "8.0");
    assert!(rule["help"]["markdown"].as_str().unwrap().len() > 20);
    assert!(rule["properties"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "security"));
}

#[test]
fn zero_results_still_give_a_valid_file() {
    let ls = listeners(1);
    let target = format!("127.0.0.1:{}", ports_of(&ls)[0]);
    let (sarif, _) = scan_to_sarif(&[&target]);
    assert_valid_sarif(&sarif);
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn inventory_targets_point_at_their_posture_toml_line() {
    let (_rt, ftp) = start_lab(Kind::Ftp);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("posture.toml");
    std::fs::write(
        &cfg,
        format!(
            "[scan]\nports = \"{}\"\n\n# the lab\n[[target]]\nhost = \"127.0.0.1\"\ntags = [\"lab\"]\nowner = \"ops\"\n",
            ftp.addr.port()
        ),
    )
    .unwrap();
    let sarif = dir.path().join("r.sarif");
    posture()
        .current_dir(dir.path())
        .args([
            "scan",
            "--config",
            "posture.toml",
            "--fail-on",
            "none",
            "-q",
            "--sarif",
        ])
        .arg(&sarif)
        .assert()
        .code(0);
    let doc = read_json(&sarif);
    assert_valid_sarif(&doc);
    let r = &doc["runs"][0]["results"][0];
    let pl = &r["locations"][0]["physicalLocation"];
    assert_eq!(pl["artifactLocation"]["uri"], "posture.toml");
    assert_eq!(pl["region"]["startLine"], 5);
    assert_eq!(r["properties"]["owner"], "ops");
}

#[test]
fn ipv6_locations_have_no_colon() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        return;
    };
    let _ = l;
    let (_rt, redis) = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let svc = rt
            .block_on(posture::lab::services::start(
                Kind::Redis,
                "[::1]:0".parse().unwrap(),
            ))
            .unwrap();
        (rt, svc)
    };
    let target = format!("[::1]:{}", redis.addr.port());
    let (sarif, _) = scan_to_sarif(&[&target]);
    assert_valid_sarif(&sarif);
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        ["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(uri, format!("targets/port/__1/{}", redis.addr.port()));
}
