//! The HTML report in a real browser: hostile server strings stay text, the report's own
//! script runs (so its CSP hash is right), and nothing else can.
//!
//! A real scan of loopback servers (one of which answers with a hostile banner) gives the
//! JSON result; hostile certificate fields, TXT records, headers, messages and suppression
//! reasons are then put into it through the library types, and `posture report` renders it,
//! which is the auditor's path.

use crate::support::browser::{dump_dom, elements, screenshot, Element};
use crate::support::*;
use posture::fact::SubjectFacts;
use posture::finding::{Subject, SuppressionInfo};
use posture::lab::services::Kind;
use posture::outcome::{IncompleteEndpoint, ScanOutcome};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Everything a server can put in a string we display.
const PAYLOADS: [&str; 8] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "</title><iframe src=javascript:alert(1)></iframe>",
    "=HYPERLINK(\"http://x.invalid\",\"y\")",
    "[x](1)",
    "\u{1b}[31mred\u{1b}[0m",
    "\u{202e}fdp.exe",
];

fn hostile() -> String {
    PAYLOADS.join(" ")
}

/// A TCP server on loopback that sends `banner` to every connection, for the scan's banner
/// grab. Stops when the test process ends; accepts at most `MAX_ACCEPTS` connections.
fn banner_server(banner: String) -> u16 {
    const MAX_ACCEPTS: usize = 64;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(MAX_ACCEPTS).flatten() {
            let mut s = s;
            let _ = s.write_all(banner.as_bytes());
            let _ = s.flush();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    port
}

/// Scans a telnet lab service and the hostile banner server, then makes every displayed field
/// hostile. Returns the outcome (and keeps the lab alive while it runs).
fn hostile_outcome(dir: &Path) -> ScanOutcome {
    let (_rt, telnet) = start_lab(Kind::Telnet);
    let evil = banner_server(format!("{}\r\n", hostile()));
    let json = dir.join("scan.json");
    posture()
        .args([
            "scan",
            "127.0.0.1",
            "--fail-on",
            "none",
            "-q",
            "--timeout-ms",
            "800",
        ])
        .arg("--ports")
        .arg(format!("{},{evil}", telnet.addr.port()))
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0);
    let mut o = posture::report::json::read_json(&json).unwrap();
    let h = hostile();
    // The real scan saw the hostile banner.
    assert!(
        o.subjects
            .iter()
            .any(|s| matches!(s, SubjectFacts::Port(p) if p.port.banner.contains("<script>"))),
        "the banner server was not seen: {:?}",
        o.subjects
    );
    assert!(!o.findings.is_empty(), "telnet must give a finding");

    // Certificate fields.
    let mut tls = posture::fact::tls::sample();
    tls.endpoint = format!("{h}:443");
    for c in tls.cert.iter_mut().chain(tls.chain.iter_mut()) {
        c.subject = format!("CN={h},O={h}");
        c.issuer = format!("CN={h}");
        c.sans = vec![h.clone(), "ok.example".into()];
        c.signature_algorithm = h.clone();
        c.key_type = h.clone();
    }
    o.subjects.push(SubjectFacts::Tls(Box::new(tls)));
    // TXT-like records.
    let mut dns = posture::fact::dns::sample();
    dns.endpoint = h.clone();
    dns.dns.spf.record = format!("v=spf1 {h} -all");
    dns.dns.spf.permissive = true;
    dns.dns.dmarc.record = format!("v=DMARC1; p=none; {h}");
    dns.dns.caa.records = vec![h.clone()];
    dns.dns.mx.problems = vec![h.clone()];
    dns.dns.ns.names = vec![h.clone()];
    dns.dns.zone = h.clone();
    dns.dns.complete = false;
    dns.dns.errors = vec![h.clone()];
    o.subjects.push(SubjectFacts::Dns(Box::new(dns)));

    // Findings: messages, titles, evidence (headers, banners), remediation, links, tags.
    let base = o.findings[0].clone();
    let mut f = base.clone();
    f.rule_id = "http.server.banner".into();
    f.subject = Subject::Http;
    f.endpoint = format!("{h}:80");
    f.host = h.clone();
    f.title = h.clone();
    f.message = format!("Server header: {h}");
    f.remediation = h.clone();
    f.help_uri = Some("javascript:alert(1)".into());
    f.tags = vec![h.clone()];
    f.target_tags = vec![h.clone()];
    f.owner = Some(h.clone());
    f.evidence = BTreeMap::from([
        ("http.headers.server".to_string(), h.clone()),
        ("http.headers.x-powered-by".to_string(), h.clone()),
        (h.clone(), h.clone()),
    ]);
    f.fingerprint = "f".repeat(64);
    o.findings.push(f.clone());
    let mut dnsf = f.clone();
    dnsf.rule_id = "dns.spf.permissive".into();
    dnsf.subject = Subject::Dns;
    dnsf.endpoint = h.clone();
    dnsf.fingerprint = "e".repeat(64);
    o.findings.push(dnsf);
    let mut sup = base;
    sup.fingerprint = "d".repeat(64);
    sup.suppressed = Some(SuppressionInfo {
        reason: h.clone(),
        expires: Some(h.clone()),
        declared_at: h.clone(),
    });
    o.findings.push(sup);
    o.incomplete.push(IncompleteEndpoint {
        endpoint: h.clone(),
        stage: h.clone(),
        reason: h.clone(),
    });
    o.scan.scope.targets.push(h.clone());
    o.scan.automation_id = h.clone();
    if let Some(r) = o.rules.first_mut() {
        r.title = h.clone();
        r.when = h.clone();
    }
    o
}

/// The same outcome with every payload replaced by plain text of the same role.
fn benign(o: &ScanOutcome) -> ScanOutcome {
    let mut text = serde_json::to_string(o).unwrap();
    for p in PAYLOADS {
        let escaped = serde_json::to_string(p).unwrap();
        text = text.replace(&escaped[1..escaped.len() - 1], "plain");
    }
    serde_json::from_str(&text).unwrap()
}

fn render(o: &ScanOutcome, dir: &Path, stem: &str) -> std::path::PathBuf {
    let json = dir.join(format!("{stem}.json"));
    posture::report::json::write_json(&json, o).unwrap();
    let html = dir.join(format!("{stem}.html"));
    posture()
        .args(["report"])
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .assert()
        .code(0);
    html
}

/// Tag names and attribute names, counted: the shape of the page without its text.
fn shape(els: &[Element]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in els {
        *m.entry(e.name.clone()).or_default() += 1;
        for (a, _) in &e.attrs {
            *m.entry(format!("{}[{a}]", e.name)).or_default() += 1;
        }
    }
    m
}

#[test]
fn hostile_strings_stay_inert_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let o = hostile_outcome(dir.path());
    let hostile_html = render(&o, dir.path(), "hostile");
    let benign_html = render(&benign(&o), dir.path(), "benign");

    let source = std::fs::read_to_string(&hostile_html).unwrap();
    assert!(
        source.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the payload must be in the page (escaped), or this test proves nothing"
    );

    let dom = dump_dom(&hostile_html);
    let els = elements(&dom);

    // The report's own script ran (its CSP hash is right): it marks <html> and counts rows.
    let html_el = els.iter().find(|e| e.name == "html").unwrap();
    assert_eq!(
        html_el.attr("class"),
        Some("js"),
        "report script did not run"
    );
    assert!(
        dom.contains(&format!("{n} of {n} findings shown", n = o.findings.len())),
        "filter script did not run"
    );

    // Exactly one script, ours, inline; no element that loads or runs anything else.
    let scripts: Vec<&Element> = els.iter().filter(|e| e.name == "script").collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert!(scripts[0].attrs.is_empty());
    for banned in [
        "img", "iframe", "object", "embed", "frame", "link", "base", "form", "video", "audio",
        "source",
    ] {
        assert!(
            !els.iter().any(|e| e.name == banned),
            "injected <{banned}> element"
        );
    }
    assert_eq!(
        els.iter().filter(|e| e.name == "svg").count(),
        1,
        "only the timeline"
    );
    for e in &els {
        for (a, v) in &e.attrs {
            assert!(!a.starts_with("on"), "event handler {a} on <{}>", e.name);
            assert!(
                !v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("javascript:"),
                "javascript: URL in {a} of <{}>",
                e.name
            );
        }
        if e.name == "a" {
            let href = e.attr("href").unwrap_or("");
            assert!(
                href.starts_with('#') || href.starts_with("https://"),
                "{href}"
            );
        }
    }
    // Exactly one CSP, first in <head>, naming a script hash and no other source.
    let metas: Vec<&Element> = els
        .iter()
        .filter(|e| e.name == "meta" && e.attr("http-equiv") == Some("Content-Security-Policy"))
        .collect();
    assert_eq!(metas.len(), 1);
    let csp = metas[0].attr("content").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );

    // The page has the same element and attribute structure as the benign rendering: the
    // payloads added no element and no attribute anywhere.
    let benign_els = elements(&dump_dom(&benign_html));
    assert_eq!(shape(&els), shape(&benign_els));

    // Bidi and ANSI were made visible, not passed through.
    assert!(!dom.contains('\u{202e}') && !dom.contains('\u{1b}'));
    assert!(dom.contains("\\u{202e}fdp.exe") && dom.contains("\\x1b[31mred"));

    // The screenshot works and is a real picture of the page.
    let png = dir.path().join("hostile.png");
    screenshot(&hostile_html, &png, 1280, 2000);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 20_000, "suspiciously small screenshot");
    // To look at it: POSTURE_KEEP_SCREENSHOT=/tmp/hostile.png keeps the PNG and the page.
    if let Ok(keep) = std::env::var("POSTURE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, &keep).unwrap();
        std::fs::copy(&hostile_html, format!("{keep}.html")).unwrap();
    }

    // The other formats of the same hostile result stay inert too.
    let json = dir.path().join("hostile.json");
    let md = dir.path().join("hostile.md");
    let xml = dir.path().join("hostile.xml");
    let sarif = dir.path().join("hostile.sarif");
    posture()
        .arg("report")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .arg("--junit")
        .arg(&xml)
        .arg("--sarif")
        .arg(&sarif)
        .assert()
        .code(0);
    let md = std::fs::read_to_string(md).unwrap();
    assert!(!md.contains("<script") && !md.contains("<img") && !md.contains("[x](1)"));
    assert!(!md.contains('\u{202e}') && !md.contains('\u{1b}'));
    let xml = std::fs::read_to_string(xml).unwrap();
    crate::report_formats::assert_junit_well_formed(&xml);
    assert!(!xml.contains("<script") && !xml.contains("<img"));
    assert_valid_sarif(&read_json(&sarif));
}

#[test]
fn demo_style_report_filters_and_prints_cleanly() {
    // A plain scan rendered straight by `scan --html`, then opened: every section is there and
    // the print stylesheet expands every detail row.
    let (_rt, telnet) = start_lab(Kind::Telnet);
    let (_rt2, ftp) = start_lab(Kind::Ftp);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    posture()
        .args([
            "scan",
            "127.0.0.1",
            "--fail-on",
            "high",
            "-q",
            "--timeout-ms",
            "800",
        ])
        .arg("--ports")
        .arg(format!("{},{}", telnet.addr.port(), ftp.addr.port()))
        .arg("--html")
        .arg(&html)
        .assert()
        .code(1);
    let page = std::fs::read_to_string(&html).unwrap();
    for id in [
        "summary",
        "risks",
        "certificates",
        "exposure",
        "dns",
        "findings",
        "suppressed",
        "metadata",
    ] {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert!(page.contains("@media print"));
    assert!(page.contains("tbody.f tr.detail { display: table-row !important; }"));
    assert!(page.contains("<strong class=\"st st-bad\">fails</strong>"));
    let dom = dump_dom(&html);
    assert!(
        dom.contains("2 of 2 findings shown"),
        "filter script did not run"
    );
    let rows = elements(&dom)
        .into_iter()
        .filter(|e| e.name == "tbody" && e.attr("class") == Some("f"))
        .count();
    assert_eq!(rows, 2);
}
