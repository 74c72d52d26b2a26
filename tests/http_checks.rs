//! HTTP checks end to end (issue 3 §6): plain and HTTPS endpoints by URL and by port sweep,
//! redirects, HSTS, version disclosure and security headers, each case with exactly its rules.

use crate::support::tls::*;
use posture::lab::tls_lab::{http_response, serve_http, serve_https, LabPki, GOOD_HEADERS};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn http_cases_report_exactly_their_rules() {
    let mut env = Env::new();
    let pki = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
    let https = |env: &mut Env, name: &str, headers: &[(&str, &str)]| {
        let cert = pki.leaf(&[name], -1, 100).unwrap();
        let s = env
            .rt
            .block_on(serve_https(cert, http_response(200, "OK", headers)))
            .unwrap();
        env.keep(s).port()
    };
    let http = |env: &mut Env, resp: Vec<u8>| {
        let s = env.rt.block_on(serve_http(resp)).unwrap();
        env.keep(s).port()
    };
    // A plain port redirecting to HTTPS on another port of the same host: clean.
    let secure = https(&mut env, "redirect.lab.test", GOOD_HEADERS);
    let redirect = http(
        &mut env,
        http_response(
            301,
            "Moved Permanently",
            &[("Location", &format!("https://redirect.lab.test:{secure}/"))],
        ),
    );
    // HSTS below 180 days counts as missing.
    let short_hsts: Vec<(&str, &str)> =
        std::iter::once(("Strict-Transport-Security", "max-age=86400"))
            .chain(GOOD_HEADERS[1..].iter().copied())
            .collect();
    let shorthsts = https(&mut env, "shorthsts.lab.test", &short_hsts);
    // A redirect that discloses the PHP version.
    let powered = http(
        &mut env,
        http_response(
            301,
            "Moved Permanently",
            &[
                ("Location", &format!("https://redirect.lab.test:{secure}/")),
                ("X-Powered-By", "PHP/7.4.3"),
            ],
        ),
    );
    // Plain HTTP content without any security header.
    let bare = http(&mut env, http_response(200, "OK", &[("Server", "nginx")]));
    let resolver = env
        .dns(&["redirect", "shorthsts", "powered", "bare"])
        .to_string();
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
            &format!("http://redirect.lab.test:{redirect}/"),
            &format!("https://shorthsts.lab.test:{shorthsts}/"),
            // The same server by address: browsers ignore HSTS on IP hosts (RFC 6797 §8.1), so
            // the short max-age is no finding there.
            &format!("https://127.0.0.1:{shorthsts}/"),
            &format!("http://powered.lab.test:{powered}/"),
            &format!("http://bare.lab.test:{bare}/"),
            // No scheme: found by the banner (an HTTP answer to the nudge).
            &format!("127.0.0.1:{bare}"),
        ],
    );
    let got = ids_by_endpoint(&report);
    let want: BTreeMap<String, BTreeSet<String>> = [
        (
            format!("shorthsts.lab.test:{shorthsts}"),
            vec!["http.hsts.missing"],
        ),
        (
            format!("powered.lab.test:{powered}"),
            vec!["http.server.version-disclosure"],
        ),
        (
            format!("bare.lab.test:{bare}"),
            vec!["http.headers.missing", "http.redirect.missing"],
        ),
        (
            format!("127.0.0.1:{bare}"),
            vec!["http.headers.missing", "http.redirect.missing"],
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
    assert_eq!(code, 0, "medium and low findings only");

    let by_ip = subjects(&report, "http")
        .into_iter()
        .find(|s| s["endpoint"] == format!("127.0.0.1:{shorthsts}"))
        .expect("the HTTPS endpoint reached by address was probed");
    assert_eq!(by_ip["http"]["hsts_max_age"], 86400, "{by_ip}");

    // The redirect was followed to the HTTPS port of the same host.
    let r = subjects(&report, "http")
        .into_iter()
        .find(|s| s["endpoint"] == format!("redirect.lab.test:{redirect}"))
        .unwrap();
    assert_eq!(r["http"]["redirects_to_https"], true);
    assert_eq!(r["http"]["final_status"], 200);
    assert_eq!(r["http"]["hsts_max_age"], 31536000);
    let p = subjects(&report, "port")
        .into_iter()
        .find(|s| s["endpoint"] == format!("127.0.0.1:{bare}"))
        .unwrap();
    assert_eq!(p["port"]["service"], "http");
}
