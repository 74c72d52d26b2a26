//! End-to-end tests of the DNS probe against real servers on loopback: the in-process lab
//! server with the fixture zones of `fixtures/dns/`, hostile raw responders, and NSD.
//!
//! The built-in rules of `rules/dns.toml` are evaluated here with the `cel` crate directly (the
//! rule engine lives elsewhere), so every rule is proven to fire on its fixture and on no clean
//! zone, with the real facts.

use super::client::{fqdn, txt_strings, DnsClient, QueryFlags, AXFR_MAX_RECORDS};
use super::*;
use crate::fact::dns::DnsSubject;
use crate::fact::TargetFacts;
use crate::lab::dns_fixtures::{
    fixture_zones, garbage_reply, read_tcp_message, serve_raw_dns, write_tcp_message, FixtureDns,
    RawDnsServer,
};
use crate::lab::dns_server::{start_dns_server, DnsServerOptions};
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

const TEST_ZONE: &str = include_str!("../../../fixtures/dns/test.zone");
const RULES: &str = include_str!("../../../rules/dns.toml");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn zone_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/dns"))
}

/// The fixture world of the tests ([`crate::lab::dns_fixtures`], shared with the integration
/// tests), started on the test's runtime.
struct Lab(FixtureDns);

impl Lab {
    async fn start() -> Lab {
        Lab(FixtureDns::start(&zone_dir()).await.unwrap())
    }

    fn cfg(&self) -> DnsProbeConfig {
        let mut c = DnsProbeConfig::new(
            self.0.resolver,
            &Limits::default(),
            OffsetDateTime::now_utc(),
        );
        c.ns_port = self.0.ns_port;
        c.timeout = Duration::from_millis(800);
        c.deadline = Duration::from_secs(10);
        c.https_port = self.0.https_port;
        c.extra_roots = vec![self.0.ca.der.clone()];
        c
    }
}

/// All checks of `name` in a fresh fixture world; they must complete.
async fn probe_complete(name: &str) -> DnsFacts {
    let lab = Lab::start().await;
    let f = probe(name, &lab.cfg()).await;
    assert!(f.complete, "{:?}", f.errors);
    f
}

#[derive(serde::Deserialize)]
struct RuleFile {
    rule: Vec<RuleDef>,
}

#[derive(serde::Deserialize)]
struct RuleDef {
    id: String,
    subject: String,
    severity: String,
    when: String,
    message: String,
    #[serde(default)]
    remediation: String,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    tags: Vec<String>,
}

fn rules() -> Vec<RuleDef> {
    toml::from_str::<RuleFile>(RULES).unwrap().rule
}

fn context_for<'a>(s: &DnsSubject, params: &toml::Table) -> cel::Context<'a, 'a> {
    let mut ctx = cel::Context::default();
    ctx.add_variable("dns", &s.dns).unwrap();
    ctx.add_variable("target", &s.target).unwrap();
    ctx.add_variable("endpoint", &s.endpoint).unwrap();
    ctx.add_variable("params", params).unwrap();
    ctx
}

/// The ids of the built-in rules whose condition holds for `facts`.
fn fired(facts: &DnsFacts) -> BTreeSet<String> {
    let subject = DnsSubject::new(
        TargetFacts {
            host: facts.name.clone(),
            ..TargetFacts::default()
        },
        facts.clone(),
    );
    let mut out = BTreeSet::new();
    for r in rules() {
        let ctx = context_for(&subject, &r.params);
        let program = cel::Program::compile(&r.when).unwrap();
        match program.execute(&ctx) {
            Ok(cel::Value::Bool(true)) => {
                out.insert(r.id.clone());
            }
            Ok(cel::Value::Bool(false)) => {}
            other => panic!("{}: `{}` gave {other:?}", r.id, r.when),
        }
    }
    out
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rule_file_is_complete_and_well_formed() {
    let rules = rules();
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dns.spf.missing",
            "dns.spf.permissive",
            "dns.spf.too-many-lookups",
            "dns.spf.invalid",
            "dns.dmarc.missing",
            "dns.dmarc.weak",
            "dns.dmarc.unauthorized-report",
            "dns.mx.invalid",
            "dns.mta-sts.missing",
            "dns.tls-rpt.missing",
            "dns.caa.missing",
            "dns.dnssec.missing",
            "dns.dnssec.expiring",
            "dns.ns.single",
            "dns.ns.same-network",
            "dns.ns.lame",
            "dns.soa.serial-mismatch",
            "dns.axfr.open",
            "dns.recursion.open",
            "dns.cname.dangling",
            "dns.wildcard.present",
        ]
    );
    let sample = crate::fact::dns::sample();
    for r in &rules {
        assert_eq!(r.subject, "dns");
        assert!(r.tags.iter().any(|t| t == "security"), "{}", r.id);
        assert!(["critical", "high", "medium", "low", "info"].contains(&r.severity.as_str()));
        // Every condition and every placeholder runs on the fully populated sample: each field
        // path exists in the facts.
        let ctx = context_for(&sample, &r.params);
        let v = cel::Program::compile(&r.when).unwrap().execute(&ctx);
        assert!(matches!(v, Ok(cel::Value::Bool(_))), "{}: {v:?}", r.id);
        for text in [&r.message, &r.remediation] {
            for part in text.split("{{").skip(1) {
                let expr = part.split("}}").next().unwrap();
                let v = cel::Program::compile(expr)
                    .unwrap_or_else(|e| panic!("{}: {expr}: {e}", r.id))
                    .execute(&ctx);
                assert!(v.is_ok(), "{}: `{expr}`: {v:?}", r.id);
            }
        }
    }
    assert_eq!(
        rules
            .iter()
            .find(|r| r.id == "dns.axfr.open")
            .unwrap()
            .severity,
        "critical"
    );
    assert_eq!(
        rules
            .iter()
            .find(|r| r.id == "dns.cname.dangling")
            .unwrap()
            .severity,
        "high"
    );
    assert_eq!(
        rules
            .iter()
            .find(|r| r.id == "dns.mta-sts.missing")
            .unwrap()
            .severity,
        "low"
    );
    assert_eq!(
        rules
            .iter()
            .find(|r| r.id == "dns.tls-rpt.missing")
            .unwrap()
            .severity,
        "info"
    );
}

#[test]
fn user_rule_on_tags_is_expressible() {
    let mut s = crate::fact::dns::sample();
    let when = "\"mail\" in target.tags && dns.dmarc.p != \"reject\"";
    let program = cel::Program::compile(when).unwrap();
    let ctx = context_for(&s, &toml::Table::new());
    assert_eq!(program.execute(&ctx), Ok(cel::Value::Bool(true)));
    s.dns.dmarc.p = "reject".into();
    let ctx = context_for(&s, &toml::Table::new());
    assert_eq!(program.execute(&ctx), Ok(cel::Value::Bool(false)));
}

#[test]
fn fixture_zones_load() {
    for (origin, text) in fixture_zones(&zone_dir()).unwrap() {
        crate::lab::dns_server::check_zone(&origin, &text).unwrap();
    }
}

#[tokio::test]
async fn clean_zone_fires_no_rule() {
    let f = probe_complete("clean.test").await;
    assert!(f.is_zone_apex);
    assert_eq!(fired(&f), set(&[]), "{f:#?}");
    // The facts behind the silence.
    assert_eq!(f.spf.all, "-all");
    assert_eq!(f.spf.lookups, 1);
    assert_eq!(f.dmarc.p, "reject");
    assert_eq!(f.dmarc.reports.len(), 2);
    assert!(f
        .dmarc
        .reports
        .iter()
        .any(|r| r.external && r.authorized && r.domain == "reports.partner.test"));
    assert_eq!(f.mx.records[0].exchange, "mail.clean.test");
    assert!(f.mx.records[0].resolvable && !f.mx.records[0].is_cname);
    assert!(f.mta_sts.valid, "{:?}", f.mta_sts);
    assert_eq!(f.mta_sts.mode, "enforce");
    assert!(f.tls_rpt.present);
    assert_eq!(f.caa.found_at, "clean.test");
    assert_eq!(f.caa.issue, ["letsencrypt.org"]);
    assert!(f.dnssec.present && f.dnssec.dnskey_count == 1);
    assert!(
        (29..=30).contains(&f.dnssec.min_days_left),
        "{:?}",
        f.dnssec
    );
    assert_eq!(f.ns.names, ["ns1.clean.test", "ns2.clean.test"]);
    assert!(f
        .ns
        .servers
        .iter()
        .all(|s| s.authoritative && !s.lame && s.serial == 2024010101));
    assert_eq!(f.soa.serials.len(), 2);
    assert_eq!(f.axfr.attempts.len(), 2);
    assert!(
        f.axfr
            .attempts
            .iter()
            .all(|a| !a.allowed && a.result == "REFUSED"),
        "{:?}",
        f.axfr
    );
    assert!(f.recursion.tests.iter().all(|t| !t.open));
    assert!(f.wildcard.checked && !f.wildcard.present);
}

#[tokio::test]
async fn dmarc_falls_back_to_the_organisational_domain() {
    let lab = Lab::start().await;
    let f = probe_zone("dept.clean.test", &lab.cfg()).await;
    assert!(f.complete, "{:?}", f.errors);
    assert!(f.dmarc.present && f.dmarc.org_domain_used);
    assert_eq!(f.dmarc.org_domain, "clean.test");
    assert_eq!(f.dmarc.record_name, "_dmarc.clean.test");
    assert!(f.mx.null_mx && !f.mx.accepts_mail && !f.mx.invalid);
    assert_eq!(f.caa.found_at, "clean.test", "CAA climbs the tree");
    // Null MX: no MTA-STS/TLS-RPT required; the child zone is unsigned.
    assert_eq!(fired(&f), set(&["dns.dnssec.missing"]));
}

/// A name inside a zone, checked as a domain: its nameservers, transfer, recursion and
/// DNSSEC are its zone's (clean.test: two nameservers, signed), not "0 nameservers, unsigned".
#[tokio::test]
async fn a_name_inside_a_zone_is_judged_with_its_zones_delegation() {
    let lab = Lab::start().await;
    let f = probe_zone("web.clean.test", &lab.cfg()).await;
    assert!(f.complete, "{:?}", f.errors);
    assert!(!f.is_zone_apex && f.zone == "clean.test", "{f:#?}");
    assert_eq!(f.ns.names, ["ns1.clean.test", "ns2.clean.test"]);
    assert!(f.dnssec.present, "{:?}", f.dnssec);
    assert_eq!(f.soa.serials.len(), 2);
    assert!(f.dmarc.present && f.dmarc.org_domain_used);
    assert_eq!(f.caa.found_at, "clean.test");
    // The one true finding: a name with an address and no SPF record of its own.
    assert_eq!(fired(&f), set(&["dns.spf.missing"]), "{f:#?}");
}

#[tokio::test]
async fn bad_zone_fires_its_rules() {
    let f = probe_complete("bad.test").await;
    assert_eq!(
        fired(&f),
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
        ]),
        "{f:#?}"
    );
    assert_eq!(f.spf.all, "+all");
    assert!(f.spf.ptr);
    assert_eq!((f.dmarc.p.as_str(), f.dmarc.pct), ("none", 50));
    assert!(f
        .mx
        .records
        .iter()
        .any(|m| m.exchange == "alias.bad.test" && m.is_cname && m.resolvable));
    assert!(f
        .mx
        .records
        .iter()
        .any(|m| m.exchange == "mx.nowhere.test" && !m.resolvable));
    let axfr = &f.axfr.attempts[0];
    assert!(axfr.allowed && axfr.records_seen > 5, "{axfr:?}");
    assert!(f.axfr.names.contains(&"shop.bad.test".to_string()));
    assert!(f.recursion.tests[0].open);
    assert_eq!(f.recursion.probe_name, "example.com");
    assert!(f.wildcard.answers[0].contains("192.0.2.1"));
    assert!(!f.dnssec.dnskey_present && !f.dnssec.soa_signed);
}

#[tokio::test]
async fn lame_zone_fires_its_rules() {
    let f = probe_complete("lame.test").await;
    assert_eq!(
        fired(&f),
        set(&[
            "dns.spf.too-many-lookups",
            "dns.dmarc.missing",
            "dns.dnssec.expiring",
            "dns.ns.lame",
            "dns.soa.serial-mismatch",
        ]),
        "{f:#?}"
    );
    assert_eq!(f.spf.lookups, 12);
    assert_eq!(f.ns.lame_servers, ["ns3.lame.test"]);
    let mut serials: Vec<i64> = f.soa.serials.iter().map(|s| s.serial).collect();
    serials.sort();
    assert_eq!(serials, [2024010101, 2024010102]);
    // now+3d at server start, seen a moment later: 2 or 3 whole days left.
    assert!((2..=3).contains(&f.dnssec.min_days_left), "{:?}", f.dnssec);
    assert!(f.caa.present && f.caa.issue == [""]);
}

#[tokio::test]
async fn name_checks() {
    let lab = Lab::start().await;
    let cfg = lab.cfg();
    let f = probe("shop.bad.test", &cfg).await;
    assert!(f.complete && !f.is_zone_apex, "{:?}", f.errors);
    assert_eq!(f.zone, "bad.test");
    assert_eq!(
        (f.cname.status.as_str(), f.cname.target.as_str()),
        ("dangling", "gone.nowhere.test")
    );
    assert_eq!(fired(&f), set(&["dns.cname.dangling"]));
    let f = probe("www.clean.test", &cfg).await;
    assert_eq!(
        (f.cname.status.as_str(), f.cname.chain.len()),
        ("resolves", 1)
    );
    assert_eq!(fired(&f), set(&[]));
    let f = probe("alias.bad.test", &cfg).await;
    assert_eq!(f.cname.status, "resolves");
    let f = probe("web.clean.test", &cfg).await;
    assert_eq!(f.cname.status, "none");
    assert_eq!(fired(&f), set(&[]));
    // Zone checks on a name that does not exist: nothing to judge, said so.
    let f = probe_zone("missing.clean.test", &cfg).await;
    assert!(
        !f.complete && f.errors[0].contains("NXDOMAIN"),
        "{:?}",
        f.errors
    );
    assert_eq!(fired(&f), set(&[]));
    let f = probe_name("not a name!", &cfg).await;
    assert!(!f.complete && !f.cname.checked);
}

// ---------------------------------------------------------------------------------------
// Hostile responders.

/// A UDP + TCP responder on 127.0.0.1 answering each query with `reply(query)` (the library's
/// [`serve_raw_dns`]); it stops when dropped.
async fn responder(
    reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> RawDnsServer {
    serve_raw_dns(reply).await.unwrap()
}

fn hostile_cfg(resolver: SocketAddr) -> DnsProbeConfig {
    let mut c = DnsProbeConfig::new(resolver, &Limits::default(), OffsetDateTime::now_utc());
    c.timeout = Duration::from_millis(300);
    c.deadline = Duration::from_secs(3);
    c.ns_port = 9; // nothing listens: NS-direct queries fail fast or time out
    c
}

fn client_for(resolver: SocketAddr) -> DnsClient {
    DnsClient {
        resolver,
        ns_port: 9,
        timeout: Duration::from_millis(500),
        deadline: tokio::time::Instant::now() + Duration::from_secs(3),
        max_records: 256,
        txt_max_bytes: 4096,
    }
}

/// The question and id of a query, and a response skeleton for it.
fn response_to(q: &[u8]) -> Option<Message> {
    let req = Message::from_vec(q).ok()?;
    let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    m.add_queries(req.queries.clone());
    Some(m)
}

fn assert_nothing_judged(f: &DnsFacts) {
    assert!(!f.complete);
    assert!(!f.errors.is_empty());
    assert_eq!(fired(f), set(&[]), "{f:#?}");
}

#[tokio::test]
async fn garbage_answers_are_recorded_not_judged() {
    let server = responder(garbage_reply).await;
    let addr = server.addr;
    let start = std::time::Instant::now();
    let f = probe("victim.test", &hostile_cfg(addr)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_nothing_judged(&f);
    assert!(
        f.errors.iter().any(|e| e.contains("malformed")),
        "{:?}",
        f.errors
    );
    let f = probe_zone("victim.test", &hostile_cfg(addr)).await;
    assert_nothing_judged(&f);
}

#[tokio::test]
async fn compression_loop_is_recorded() {
    let server = responder(|q| {
        let mut b = q.get(..2)?.to_vec();
        // QR|RD|RA, 1 question, 1 answer: the question copied, the answer's name a pointer
        // to itself.
        b.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        let mut i = 12;
        while *q.get(i)? != 0 {
            i += 1 + usize::from(q[i]);
        }
        b.extend_from_slice(q.get(12..i + 5)?);
        let here = b.len() as u16;
        b.extend_from_slice(&(0xc000 | here).to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        Some(b)
    })
    .await;
    let addr = server.addr;
    let c = client_for(addr);
    let r = c.lookup("loop.test", RecordType::A).await;
    assert!(matches!(r, Err(client::QueryError::Malformed(_))), "{r:?}");
    let f = probe_name("loop.test", &hostile_cfg(addr)).await;
    assert_nothing_judged(&f);
}

#[tokio::test]
async fn huge_txt_is_capped() {
    let server = responder(|q| {
        let mut m = response_to(q)?;
        let name = m.queries[0].name().clone();
        if m.queries[0].query_type() == RecordType::TXT {
            // ~60 KiB of TXT in one answer: 235 strings of 255 bytes.
            let mut strings = vec!["v=spf1 ".to_string()];
            strings.extend((0..234).map(|_| "a".repeat(255)));
            m.add_answer(Record::from_rdata(name, 60, RData::TXT(TXT::new(strings))));
        }
        m.to_vec().ok()
    })
    .await;
    let addr = server.addr;
    let c = client_for(addr);
    let r = c.lookup("huge.test", RecordType::TXT).await.unwrap();
    let txt = txt_strings(&r, c.txt_max_bytes);
    assert_eq!(txt.len(), 1);
    assert_eq!(txt[0].len(), 4096);
    assert!(txt[0].starts_with("v=spf1 "));
}

#[tokio::test]
async fn silent_server_ends_at_the_deadline() {
    let server = responder(|_| None).await;
    let addr = server.addr;
    let start = std::time::Instant::now();
    let f = probe_zone("silent.test", &hostile_cfg(addr)).await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_nothing_judged(&f);
    assert!(
        f.errors
            .iter()
            .any(|e| e.contains("timeout") || e.contains("deadline")),
        "{:?}",
        f.errors
    );
}

#[tokio::test]
async fn empty_answers_are_nodata_not_failures() {
    // NOERROR with nothing: every section is checked, and "missing" rules may fire.
    let server = responder(|q| response_to(q)?.to_vec().ok()).await;
    let addr = server.addr;
    let c = client_for(addr);
    let r = c.lookup("empty.test", RecordType::TXT).await.unwrap();
    assert!(r.is_void(RecordType::TXT) && r.is_definitive());
}

/// What Unbound answers for a lame delegation (the nameservers it was sent to do not serve the
/// zone): NOERROR, no answer, nothing in the authority section. The zone's own SOA question
/// answered that way means there is no zone to judge: no "missing SPF/DMARC/CAA/DNSSEC", no
/// single nameserver, no wildcard.
#[tokio::test]
async fn a_zone_whose_soa_comes_back_empty_is_not_judged() {
    let server = responder(|q| response_to(q)?.to_vec().ok()).await;
    let f = probe_zone("far.test", &hostile_cfg(server.addr)).await;
    assert_nothing_judged(&f);
    assert!(
        !f.spf.checked && !f.ns.checked && !f.wildcard.checked,
        "{f:#?}"
    );
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert!(
        f.errors[0].starts_with("SOA far.test: the resolver answered NOERROR without an SOA"),
        "{:?}",
        f.errors
    );
}

/// A wildcard shows as data for a name that cannot exist, or as NODATA carrying the zone's
/// SOA; an empty NOERROR without the SOA is no evidence either way.
#[tokio::test]
async fn an_empty_answer_for_the_wildcard_probe_is_no_wildcard() {
    let server = responder(|q| {
        let mut m = response_to(q)?;
        let qn = m.queries[0].name().clone();
        if m.queries[0].query_type() == RecordType::SOA {
            let soa = SOA::new(qn.clone(), qn.clone(), 1, 3600, 600, 86400, 300);
            m.add_answer(Record::from_rdata(qn, 300, RData::SOA(soa)));
        }
        m.to_vec().ok()
    })
    .await;
    let f = probe_zone("wc.test", &hostile_cfg(server.addr)).await;
    assert!(f.is_zone_apex, "{f:#?}");
    assert!(!f.wildcard.checked && !f.wildcard.present, "{f:#?}");
    assert!(
        f.errors
            .iter()
            .any(|e| e.ends_with("NOERROR without an answer or the zone's SOA; no wildcard check")),
        "{:?}",
        f.errors
    );
    assert!(!fired(&f).contains("dns.wildcard.present"), "{f:#?}");
}

/// A TCP server answering AXFR with the zone's SOA and then records forever.
async fn endless_axfr_server(drip: bool) -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let Some(q) = read_tcp_message(&mut s).await else {
                    return;
                };
                let Some(mut m) = response_to(&q) else { return };
                let zone = m.queries[0].name().clone();
                if drip {
                    // Promise 65535 bytes, deliver one byte a second.
                    let _ = s.write_all(&[0xff, 0xff]).await;
                    for _ in 0..60 {
                        if s.write_all(&[0]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    return;
                }
                let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86400, 300);
                m.add_answer(Record::from_rdata(zone.clone(), 300, RData::SOA(soa)));
                for i in 0u64.. {
                    for j in 0..100u8 {
                        let n = Name::from_ascii(format!("h{i}-{j}.{zone}")).unwrap();
                        m.add_answer(Record::from_rdata(n, 300, RData::A(A::new(192, 0, 2, j))));
                    }
                    if write_tcp_message(&mut s, &m.to_vec().unwrap())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    m.answers.clear();
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn endless_axfr_is_bounded() {
    let addr = endless_axfr_server(false).await;
    let c = client_for(addr);
    let start = std::time::Instant::now();
    let out = c.axfr(addr, "endless.test").await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(out.allowed && out.stopped_early, "{out:?}");
    assert!(out.records.len() <= AXFR_MAX_RECORDS);
    assert!(out.records.len() > 100);

    let addr = endless_axfr_server(true).await;
    let start = std::time::Instant::now();
    let out = c.axfr(addr, "drip.test").await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!out.allowed);
    assert_eq!(out.error, Some(client::QueryError::Timeout));
}

// ---------------------------------------------------------------------------------------
// A real third-party authoritative server: NSD (Debian package `nsd`).

struct Nsd {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nsd_binary() -> std::path::PathBuf {
    for p in ["/usr/sbin/nsd", "/usr/local/sbin/nsd"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("NSD is not installed: `apt-get install nsd` (the DNS interoperability test starts it)");
}

const NSD_ZONE: &str = "$ORIGIN nsd.test.\n$TTL 300\n@ IN SOA ns1.nsd.test. hostmaster.nsd.test. 42 3600 600 86400 300\n@ IN NS ns1.nsd.test.\nns1 IN A 127.0.0.9\n@ IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n_dmarc IN TXT \"v=DMARC1; p=quarantine\"\n@ IN MX 10 ns1.nsd.test.\n";
const NSD_CLOSED_ZONE: &str = "$ORIGIN closed.test.\n$TTL 300\n@ IN SOA ns1.closed.test. hostmaster.closed.test. 7 3600 600 86400 300\n@ IN NS ns1.closed.test.\n@ IN NS ns2.closed.test.\nns1 IN A 127.0.0.9\nns2 IN A 127.0.1.9\n@ IN TXT \"v=spf1 -all\"\n";

async fn start_nsd(addr: IpAddr) -> (Nsd, u16) {
    let bin = nsd_binary();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("nsd.test.zone"), NSD_ZONE).unwrap();
    std::fs::write(dir.path().join("closed.test.zone"), NSD_CLOSED_ZONE).unwrap();
    // A free port on that address for both transports.
    let port = loop {
        let u = std::net::UdpSocket::bind((addr, 0)).unwrap();
        let p = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind((addr, p)).is_ok() {
            break p;
        }
    };
    let conf = format!(
        "server:\n  ip-address: {addr}@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  do-ip6: no\n  server-count: 1\n  verbosity: 1\nremote-control:\n  control-enable: no\nzone:\n  name: nsd.test\n  zonefile: nsd.test.zone\n  provide-xfr: 0.0.0.0/0 NOKEY\nzone:\n  name: closed.test\n  zonefile: closed.test.zone\n"
    );
    let conf_path = dir.path().join("nsd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = std::process::Command::new(bin)
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting nsd");
    let nsd = Nsd { child, _dir: dir };
    // Wait until it answers (bounded).
    let c = DnsClient {
        resolver: SocketAddr::new(addr, port),
        ns_port: port,
        timeout: Duration::from_millis(200),
        deadline: tokio::time::Instant::now() + Duration::from_secs(10),
        max_records: 256,
        txt_max_bytes: 4096,
    };
    for _ in 0..50 {
        if c.query(
            SocketAddr::new(addr, port),
            &fqdn("nsd.test").unwrap(),
            RecordType::SOA,
            QueryFlags::default(),
        )
        .await
        .is_ok()
        {
            return (nsd, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(nsd._dir.path().join("nsd.log")).unwrap_or_default();
    panic!("nsd did not answer on {addr}:{port}; log:\n{log}");
}

#[tokio::test]
async fn nsd_interoperability() {
    let (nsd, port) = start_nsd(ip("127.0.0.9")).await;
    // The resolver (our lab server) knows the delegation; the checks then talk to NSD itself.
    let resolver = start_dns_server(
        (Ipv4Addr::LOCALHOST, 0).into(),
        &[
            ("test", TEST_ZONE),
            ("nsd.test", NSD_ZONE),
            ("closed.test", NSD_CLOSED_ZONE),
        ],
        DnsServerOptions::default(),
    )
    .await
    .unwrap();
    let mut cfg = DnsProbeConfig::new(resolver.addr, &Limits::default(), OffsetDateTime::now_utc());
    cfg.ns_port = port;
    cfg.timeout = Duration::from_millis(800);
    cfg.deadline = Duration::from_secs(10);

    let f = probe_zone("nsd.test", &cfg).await;
    assert!(f.complete, "{:?}", f.errors);
    let ns = &f.ns.servers[0];
    assert!(ns.authoritative && ns.serial == 42, "{ns:?}");
    assert!(f.axfr.open, "{:?}", f.axfr);
    assert!(f.axfr.attempts[0].records_seen >= 5);
    assert!(f.axfr.names.contains(&"ns1.nsd.test".to_string()));
    assert!(!f.recursion.open, "{:?}", f.recursion);
    // DNSSEC queries went to NSD directly: the zone is unsigned.
    assert!(f.dnssec.checked && !f.dnssec.present);
    assert!(fired(&f).contains("dns.axfr.open"));
    assert!(!fired(&f).contains("dns.recursion.open"));

    let f = probe_zone("closed.test", &cfg).await;
    assert!(
        !f.axfr.open && f.axfr.attempts[0].result == "REFUSED",
        "{:?}",
        f.axfr
    );
    // ns2 (127.0.1.9) runs nothing: lame, since ns1 answers.
    assert_eq!(f.ns.lame_servers, ["ns2.closed.test"]);

    // NSD as the resolver too: TXT and SPF parsing through a real server's wire format.
    cfg.resolver = SocketAddr::new(ip("127.0.0.9"), port);
    let c = cfg.client();
    let r = c.lookup("nsd.test", RecordType::TXT).await.unwrap();
    assert!(r.aa);
    assert_eq!(txt_strings(&r, 4096), ["v=spf1 ip4:192.0.2.0/24 -all"]);
    drop(nsd);
}
