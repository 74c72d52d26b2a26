//! TLS checks end to end (issue 3): the real binary scans real loopback servers by URL and
//! name (resolved by an in-process lab DNS server), and each case reports exactly its rules.

use crate::support::tls::*;
use crate::support::*;
use posture::lab::tls_lab::start_tls_lab;
use std::collections::BTreeSet;

/// Every demo-lab case reports exactly its own tls.*/http.* rules: a positive test for each
/// of those rules, and a negative test for every other rule on every other case (the clean
/// case reports nothing).
#[test]
fn lab_cases_report_exactly_their_rules() {
    let mut env = Env::new();
    let lab = env.rt.block_on(start_tls_lab(time::OffsetDateTime::now_utc())).unwrap();
    let resolver = env.dns_zone(&lab.zone_text());
    let ca = env.write("lab-ca.pem", &lab.ca_pem);
    let resolver = resolver.to_string();
    let mut args = vec!["--resolver", &resolver, "--ca-file", ca.to_str().unwrap(), "--timeout-ms", "1000"];
    args.extend(lab.targets.iter().map(String::as_str));
    let (code, report) = scan(env.dir.path(), &args);
    let by_ep = ids_by_endpoint(&report);
    for case in &lab.cases {
        let ep = format!("{}:{}", case.host, case.addr.port());
        let got: BTreeSet<String> = by_ep.get(&ep).cloned().unwrap_or_default();
        let want: BTreeSet<String> = case.expect.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "case {} ({ep})", case.name);
    }
    assert_eq!(incomplete(&report), Vec::<(String, String)>::new());
    assert_eq!(code, 1, "critical and high findings");
    drop(lab);
}
