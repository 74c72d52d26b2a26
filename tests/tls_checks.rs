//! TLS checks end to end (issue 3): the real binary scans real loopback servers by URL and
//! by name (resolved by an in-process lab DNS server), and each case reports exactly its
//! tls.*/http.* rules. Servers: the demo lab's rustls and raw legacy servers (rcgen
//! certificates relative to now), `openssl s_server` for what rustls cannot serve, and hostile
//! servers. Every built-in tls.* rule has a positive case here and is absent on the others.

use crate::support::tls::*;
use crate::support::*;
use posture::lab::tls_lab::{http_response, serve_https, start_tls_lab, LabPki, GOOD_HEADERS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Asserts the exact tls.*/http.* rule ids reported for each `(endpoint, ids)`.
fn assert_cases(report: &Value, cases: &[(String, &[&str])]) {
    let by_ep = ids_by_endpoint(report);
    for (ep, want) in cases {
        let got = by_ep.get(ep).cloned().unwrap_or_default();
        assert_eq!(got, set(want), "{ep}");
    }
}

fn tls_subject<'a>(report: &'a Value, endpoint: &str) -> &'a Value {
    subjects(report, "tls")
        .into_iter()
        .find(|s| s["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no tls subject for {endpoint}: {report:#}"))
}

/// Every demo-lab case reports exactly its own rules (positive tests for expired, expiring,
/// self-signed, hostname-mismatch, weak-key, legacy protocol, weak cipher, no forward secrecy,
/// no TLS 1.3, HSTS, version disclosure, missing redirect), the clean case none; the scan is
/// complete, its SARIF validates, and the JSON has the certificate inventory.
#[test]
fn lab_cases_report_exactly_their_rules() {
    let mut env = Env::new();
    let lab = env
        .rt
        .block_on(start_tls_lab(time::OffsetDateTime::now_utc()))
        .unwrap();
    let resolver = env.dns_zone(&lab.zone_text()).to_string();
    let ca = env.write("lab-ca.pem", &lab.ca_pem);
    let sarif = env.dir.path().join("lab.sarif");
    let mut args = vec![
        "--resolver",
        &resolver,
        "--ca-file",
        ca.to_str().unwrap(),
        "--timeout-ms",
        "1000",
        "--sarif",
        sarif.to_str().unwrap(),
    ];
    args.extend(lab.targets.iter().map(String::as_str));
    let (code, report) = scan(env.dir.path(), &args);
    let cases: Vec<(String, &[&str])> = lab
        .cases
        .iter()
        .map(|c| (format!("{}:{}", c.host, c.addr.port()), &c.expect[..]))
        .collect();
    assert_cases(&report, &cases);
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
    assert_eq!(code, 1, "critical and high findings");
    assert_valid_sarif(&read_json(&sarif));

    // Facts as reported: the legacy server's chain came from the plaintext Certificate.
    let legacy = lab.cases.iter().find(|c| c.name == "legacy").unwrap();
    let t = tls_subject(&report, &format!("{}:{}", legacy.host, legacy.addr.port()));
    assert_eq!(t["tls"]["versions"], serde_json::json!(["tls1.0"]));
    assert_eq!(t["tls"]["chain_source"], "raw");
    assert_eq!(t["cert"]["key_bits"], 1024);
    // The expiring leaf reads 10 days left, and it is the chain's earliest (position 0).
    let expiring = lab.cases.iter().find(|c| c.name == "expiring").unwrap();
    let t = tls_subject(
        &report,
        &format!("{}:{}", expiring.host, expiring.addr.port()),
    );
    assert_eq!(t["cert"]["days_left"], 10);
    assert_eq!(t["chain_earliest"]["position"], 0);
    // No HTTP subject for the legacy server (rustls cannot talk to it; TLS facts say why).
    let http_eps: Vec<&str> = subjects(&report, "http")
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(http_eps.len(), lab.cases.len() - 1, "{http_eps:?}");

    // The inventory: one entry per distinct certificate, earliest expiry first.
    let inv = report["certificates"].as_array().unwrap();
    let days: Vec<i64> = inv
        .iter()
        .map(|c| c["days_left"].as_i64().unwrap())
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    assert_eq!(days[0], -10, "the expired leaf comes first");
    let inter = inv
        .iter()
        .find(|c| c["roles"] == serde_json::json!(["intermediate"]))
        .expect("the lab intermediate");
    // Presented by every rustls case and the legacy server (all but self-signed and plain).
    assert_eq!(
        inter["presented_by"].as_array().unwrap().len(),
        lab.cases.len() - 2
    );
    drop(lab);
}

/// Certificate cases the lab does not show: not yet valid, missing intermediate, intermediate
/// expiring (leaf vs chain expiry in the JSON), missing security headers; a chain with the
/// root presented and an IP target of a mismatched certificate are clean.
#[test]
fn certificate_shapes_and_leaf_versus_chain_expiry() {
    let mut env = Env::new();
    let now = time::OffsetDateTime::now_utc();
    let pki = LabPki::new(now).unwrap();
    let short = LabPki::with_intermediate_days(now, 12).unwrap();
    let good = http_response(200, "OK", GOOD_HEADERS);
    let hsts_only = http_response(200, "OK", &GOOD_HEADERS[..1]);
    let serve = |env: &mut Env, cert, resp: &Vec<u8>| {
        let s = env.rt.block_on(serve_https(cert, resp.clone())).unwrap();
        env.keep(s).port()
    };
    let notyet = serve(
        &mut env,
        pki.leaf(&["notyet.lab.test"], 5, 100).unwrap(),
        &good,
    );
    let mut leaf_only = pki.leaf(&["nointer.lab.test"], -1, 100).unwrap();
    leaf_only.chain.truncate(1);
    let nointer = serve(&mut env, leaf_only, &good);
    let interexp = serve(
        &mut env,
        short.leaf(&["interexp.lab.test"], -1, 200).unwrap(),
        &good,
    );
    let noheaders = serve(
        &mut env,
        pki.leaf(&["noheaders.lab.test"], -1, 100).unwrap(),
        &hsts_only,
    );
    let mut with_root = pki.leaf(&["withroot.lab.test"], -1, 100).unwrap();
    with_root.chain.push(pki.root.der.clone());
    let withroot = serve(&mut env, with_root, &good);
    let ip = serve(
        &mut env,
        pki.leaf(&["other.lab.test"], -1, 100).unwrap(),
        &good,
    );
    let resolver = env
        .dns(&["notyet", "nointer", "interexp", "noheaders", "withroot"])
        .to_string();
    let ca = env.write("ca.pem", &format!("{}{}", pki.root.pem, short.root.pem));
    let t = |name: &str, port: u16| format!("https://{name}.lab.test:{port}/");
    let ip_url = format!("https://127.0.0.1:{ip}/");
    let (code, report) = scan(
        env.dir.path(),
        &[
            "--resolver",
            &resolver,
            "--ca-file",
            ca.to_str().unwrap(),
            "--timeout-ms",
            "1000",
            &t("notyet", notyet),
            &t("nointer", nointer),
            &t("interexp", interexp),
            &t("noheaders", noheaders),
            &t("withroot", withroot),
            &ip_url,
        ],
    );
    let ep = |name: &str, port: u16| format!("{name}.lab.test:{port}");
    assert_cases(
        &report,
        &[
            (ep("notyet", notyet), &["tls.cert.not-yet-valid"]),
            (ep("nointer", nointer), &["tls.cert.incomplete-chain"]),
            (ep("interexp", interexp), &["tls.chain.expiring"]),
            (ep("noheaders", noheaders), &["http.headers.missing"]),
            (ep("withroot", withroot), &[]),
            (format!("127.0.0.1:{ip}"), &[]),
        ],
    );
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
    assert_eq!(code, 1);

    // Leaf vs chain expiry, unambiguous: the leaf has 200 days, the intermediate (position 1)
    // expires first and is named as such.
    let s = tls_subject(&report, &ep("interexp", interexp));
    assert_eq!(s["cert"]["days_left"], 200);
    assert_eq!(s["cert"]["position"], 0);
    assert_eq!(s["chain_earliest"]["position"], 1);
    assert_eq!(s["chain_earliest"]["days_left"], 12);
    assert_eq!(s["chain_earliest"]["is_ca"], true);
    assert_eq!(s["chain"].as_array().unwrap().len(), 2);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "tls.chain.expiring")
        .unwrap();
    assert!(
        f["message"].as_str().unwrap().contains("intermediate"),
        "{f:#}"
    );
    // The inventory lists that intermediate first, as an intermediate.
    let first = &report["certificates"][0];
    assert_eq!(first["days_left"], 12);
    assert_eq!(first["roles"], serde_json::json!(["intermediate"]));
    assert_eq!(first["presented_by"][0]["position"], 1);
    // The root presented at position 2 is listed as a root.
    let root = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["roles"] == serde_json::json!(["root"]))
        .expect("the presented root");
    assert_eq!(
        root["presented_by"][0]["endpoint"],
        ep("withroot", withroot)
    );
    // The IP target: no SNI, no hostname check.
    let s = tls_subject(&report, &format!("127.0.0.1:{ip}"));
    assert!(s["tls"].get("sni").is_none());
    assert_eq!(s["tls"]["hostname_checked"], false);
}

/// A chain that ends in a presented root nobody trusts (no --ca-file) is untrusted, and not
/// self-signed; without the CA file, leaf + intermediate of a private CA reads incomplete.
#[test]
fn untrusted_root_without_the_ca_file() {
    let mut env = Env::new();
    let pki = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
    let mut cert = pki.leaf(&["private.lab.test"], -1, 100).unwrap();
    cert.chain.push(pki.root.der.clone());
    let good = http_response(200, "OK", GOOD_HEADERS);
    let s = env.rt.block_on(serve_https(cert, good)).unwrap();
    let port = env.keep(s).port();
    let resolver = env.dns(&["private"]).to_string();
    let (_, report) = scan(
        env.dir.path(),
        &[
            "--resolver",
            &resolver,
            "--checks",
            "tls",
            &format!("https://private.lab.test:{port}/"),
        ],
    );
    assert_cases(
        &report,
        &[(format!("private.lab.test:{port}"), &["tls.cert.untrusted"])],
    );
    let s = tls_subject(&report, &format!("private.lab.test:{port}"));
    assert_eq!(s["tls"]["trust_error"], "untrusted root");
}

/// What rustls cannot serve, from a real `openssl s_server`: TLS 1.1 only, NULL and anonymous
/// suites, an RSA-1024 leaf signed with SHA-1; and a clean OpenSSL server with defaults.
#[test]
fn openssl_servers() {
    let mut env = Env::new();
    let d = env.dir.path().to_path_buf();
    let sub = |n: &str| {
        let p = d.join(n);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let (legacy_dir, weak_dir, old_dir, clean_dir) =
        (sub("legacy"), sub("weak"), sub("old"), sub("clean"));
    openssl_self_signed(&legacy_dir, "tls11.lab.test");
    openssl_self_signed(&weak_dir, "weak.lab.test");
    openssl_ca_and_leaf(&old_dir, "old.lab.test", 1024, "sha1", 200);
    openssl_ca_and_leaf(&clean_dir, "good.lab.test", 2048, "sha256", 200);
    let tls11 = s_server_self_signed(&legacy_dir, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let weak = s_server_self_signed(&weak_dir, &["-cipher", "ALL:eNULL:@SECLEVEL=0"]);
    let old = s_server_ca_and_leaf(&old_dir, &["-cipher", "DEFAULT:@SECLEVEL=0"]);
    let clean = s_server_ca_and_leaf(&clean_dir, &[]);
    let ca = format!(
        "{}{}",
        std::fs::read_to_string(old_dir.join("ca.pem")).unwrap(),
        std::fs::read_to_string(clean_dir.join("ca.pem")).unwrap()
    );
    let ca = env.write("openssl-ca.pem", &ca);
    let resolver = env.dns(&["tls11", "weak", "old", "good"]).to_string();
    let url = |name: &str, s: &OpenSsl| format!("tls://{name}.lab.test:{}", s.addr.port());
    let (_, report) = scan(
        env.dir.path(),
        &[
            "--resolver",
            &resolver,
            "--ca-file",
            ca.to_str().unwrap(),
            "--checks",
            "tls",
            "--timeout-ms",
            "1000",
            &url("tls11", &tls11),
            &url("weak", &weak),
            &url("old", &old),
            &url("good", &clean),
        ],
    );
    let ep = |name: &str, s: &OpenSsl| format!("{name}.lab.test:{}", s.addr.port());
    let by_ep = ids_by_endpoint(&report);
    assert_cases(
        &report,
        &[
            (
                ep("tls11", &tls11),
                &[
                    "tls.cert.self-signed",
                    "tls.protocol.legacy",
                    "tls.protocol.no-tls13",
                ],
            ),
            (
                ep("old", &old),
                &[
                    "tls.cert.weak-key",
                    "tls.cert.weak-signature",
                    "tls.protocol.legacy",
                ],
            ),
            (ep("good", &clean), &[]),
        ],
    );
    let weak_ids = by_ep.get(&ep("weak", &weak)).cloned().unwrap_or_default();
    assert!(weak_ids.contains("tls.cipher.weak"), "{weak_ids:?}");
    let s = tls_subject(&report, &ep("weak", &weak));
    assert_eq!(s["tls"]["weak_null"], true);
    assert_eq!(s["tls"]["weak_anon"], true);
    let s = tls_subject(&report, &ep("tls11", &tls11));
    assert_eq!(s["tls"]["versions"], serde_json::json!(["tls1.1"]));
    let s = tls_subject(&report, &ep("old", &old));
    assert_eq!(s["cert"]["signature_algorithm"], "sha1WithRSAEncryption");
    assert_eq!(
        s["tls"]["trusted"], true,
        "weak key and hash do not make it untrusted"
    );
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
}

/// Hostile TLS endpoints (silent, garbage, a certificate message over 64 KiB) are recorded as
/// incomplete (stage `tls`) within the deadline, never a panic: exit 3, or 0 with
/// --allow-incomplete.
#[test]
fn hostile_tls_endpoints_are_incomplete_not_fatal() {
    let mut env = Env::new();
    let silent = raw_server(&mut env, |_| None);
    let garbage = raw_server(&mut env, |_| {
        Some(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    let oversized = raw_server(&mut env, |_| Some(oversized_chain_flight()));
    let targets: Vec<String> = [silent, garbage, oversized]
        .iter()
        .map(|a| format!("https://{a}/"))
        .collect();
    let started = Instant::now();
    let mut args = vec!["--timeout-ms", "300"];
    args.extend(targets.iter().map(String::as_str));
    let (code, report) = scan(env.dir.path(), &args);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 3, "{:#}", report["incomplete"]);
    let inc = incomplete(&report);
    for a in [silent, garbage, oversized] {
        assert!(
            inc.contains(&("tls".to_string(), a.to_string())),
            "{a}: {inc:?}"
        );
    }
    let reasons: Vec<&str> = report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no certificate could be read")),
        "{reasons:?}"
    );
    // The oversized chain still yields TLS facts: TLS 1.2 accepted, the refusal recorded.
    let s = tls_subject(&report, &oversized.to_string());
    assert_eq!(s["tls"]["tls1_2"], true);
    assert!(s["tls"]["handshake_error"]
        .as_str()
        .unwrap()
        .contains("TooLarge"));
    let mut allow = args.clone();
    allow.push("--allow-incomplete");
    let (code, _) = scan(env.dir.path(), &allow);
    assert_eq!(code, 0);
}

/// STARTTLS: by scheme (`smtp://`) and by greeting on a port sweep of an odd port; a server
/// that does not offer STARTTLS has no TLS subject and is not incomplete.
#[test]
fn smtp_starttls_by_scheme_and_by_greeting() {
    let mut env = Env::new();
    let pki = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
    let offering = smtp_server(
        &mut env,
        pki.leaf(&["mail.lab.test"], -1, 20).unwrap(),
        true,
    );
    let plain = smtp_server(
        &mut env,
        pki.leaf(&["mail.lab.test"], -1, 20).unwrap(),
        false,
    );
    let resolver = env.dns(&["mail"]).to_string();
    let ca = env.write("ca.pem", &pki.root.pem);
    let (code, report) = scan(
        env.dir.path(),
        &[
            "--resolver",
            &resolver,
            "--ca-file",
            ca.to_str().unwrap(),
            "--timeout-ms",
            "1000",
            "--fail-on",
            "critical",
            &format!("smtp://mail.lab.test:{}", offering.port()),
            "mail.lab.test",
            "--ports",
            &format!("{},{}", offering.port(), plain.port()),
        ],
    );
    assert_eq!(code, 0, "{:#}", report["incomplete"]);
    let ep = format!("mail.lab.test:{}", offering.port());
    // Found both ways; one subject per endpoint (the run loop deduplicates), expiring in 20 days.
    let tls: Vec<&Value> = subjects(&report, "tls");
    assert!(!tls.is_empty());
    assert!(tls.iter().all(|s| s["endpoint"] == ep), "{tls:#?}");
    assert_eq!(tls[0]["tls"]["starttls"], "smtp");
    assert_eq!(tls[0]["cert"]["days_left"], 20);
    assert_cases(&report, &[(ep, &["tls.cert.expiring"])]);
    assert!(subjects(&report, "http").is_empty());
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
}

/// TLS on an unconventional port without a scheme is found on the wire (a rustls server is
/// silent after a plaintext nudge, then answers a ClientHello), and `--tls-ports` makes it
/// expected; HTTP follows over TLS because ALPN selected http/1.1.
#[test]
fn tls_found_on_the_wire_and_by_tls_ports() {
    let mut env = Env::new();
    let pki = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
    let good = http_response(200, "OK", GOOD_HEADERS);
    let s = env
        .rt
        .block_on(serve_https(
            pki.leaf(&["wire.lab.test"], -1, 100).unwrap(),
            good,
        ))
        .unwrap();
    let port = env.keep(s).port();
    let ca = env.write("ca.pem", &pki.root.pem);
    for extra in [&[][..], &["--tls-ports", &port.to_string()][..]] {
        let mut args = vec![
            "--ca-file",
            ca.to_str().unwrap(),
            "--timeout-ms",
            "500",
            "127.0.0.1",
        ];
        let ports = port.to_string();
        args.extend(["--ports", &ports]);
        args.extend(extra);
        let (code, report) = scan(env.dir.path(), &args);
        assert_eq!(code, 0, "{extra:?}: {report:#}");
        let ep = format!("127.0.0.1:{port}");
        let s = tls_subject(&report, &ep);
        assert_eq!(s["tls"]["alpn"], "http/1.1");
        let http = subjects(&report, "http");
        assert_eq!(http.len(), 1, "{extra:?}");
        assert_eq!(http[0]["http"]["scheme"], "https");
        assert_eq!(tls_http_ids(&report), Vec::<String>::new());
        let port_subject = &subjects(&report, "port")[0];
        assert_eq!(port_subject["port"]["service"], "tls", "{extra:?}");
    }
}

/// OpenSSL's s_server stays silent after a plaintext nudge (it waits for a whole record): on
/// a port sweep it is found by the follow-up ClientHello.
#[test]
fn silent_tls_server_found_by_client_hello() {
    let env = Env::new();
    openssl_self_signed(env.dir.path(), "quiet.lab.test");
    let server = s_server_self_signed(env.dir.path(), &[]);
    let port = server.addr.port().to_string();
    let (code, report) = scan(
        env.dir.path(),
        &[
            "--timeout-ms",
            "500",
            "--fail-on",
            "none",
            "--checks",
            "ports,tls",
            "127.0.0.1",
            "--ports",
            &port,
        ],
    );
    assert_eq!(code, 0);
    let p = &subjects(&report, "port")[0];
    assert_eq!(p["port"]["banner"], "", "silent after the nudge");
    let s = tls_subject(&report, &format!("127.0.0.1:{port}"));
    assert_eq!(s["cert"]["self_signed"], true);
    // An IP target: self-signed is reported, the hostname is not checked.
    assert_eq!(tls_http_ids(&report), ["tls.cert.self-signed"]);
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
}
