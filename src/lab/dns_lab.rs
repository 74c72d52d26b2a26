//! The demo lab's DNS (issue 4 §3): misconfigured zones served by the in-process
//! authoritative server ([`super::dns_server`]) on 127.0.77.x / 127.0.78.x / 127.0.79.x, one
//! shared port, so `posture demo` shows DNS findings and the lab's host names resolve.
//!
//! The zones, between them, make every built-in `dns.*` rule fire once:
//!
//! | zone | nameservers | what is wrong |
//! | --- | --- | --- |
//! | `lab.test` | one, 127.0.77.2 (AXFR open, open recursion) | SPF `ptr ?all`, no DMARC, MX to an alias, no MTA-STS/TLS-RPT/CAA/DNSSEC, wildcard, `old.lab.test` dangling (found through the open AXFR) |
//! | `shop.test` | 127.0.77.3, 127.0.78.3 (serials differ), 127.0.79.3 (lame) | SPF needs 12 lookups, DMARC `p=none` reporting to a domain that did not agree, MTA-STS policy host down, DNSSEC signatures end in 3 days |
//! | `legacy.test` | one, 127.0.77.2 | no SPF, no DMARC, no CAA, unsigned |
//!
//! Every address in the zones is on loopback (the wildcard too), so scanning what the lab
//! publishes never leaves the machine. The resolver (127.0.77.1) answers for all zones, and
//! also carries the `test.` TLD so names under no lab zone get NXDOMAIN, as on the Internet.

use super::dns_server::{
    start_dns_servers_on_one_port, DnsServerHandle, DnsServerOptions, DnsServerSpec,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The zones the demo scans (zone checks).
pub const LAB_DOMAINS: [&str; 3] = ["lab.test", "shop.test", "legacy.test"];

/// The resolver every lookup of the demo goes to.
pub const LAB_RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 77, 1);
const LAB_NS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 77, 2);
const SHOP_NS1_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 77, 3);
const SHOP_NS2_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 78, 3);
const SHOP_NS3_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 79, 3);

/// Attempts at finding one port free on every lab address.
const BIND_ATTEMPTS: usize = 16;

const SHOP_SERIAL_NS1: &str = "2024060101";
const SHOP_SERIAL_NS2: &str = "2024060102";

/// The running lab DNS. Dropping it stops every server.
pub struct DnsLab {
    /// Pass as `--resolver`.
    pub resolver: SocketAddr,
    /// Pass as `--ns-port`: every lab nameserver listens on it.
    pub ns_port: u16,
    /// The zones to scan (as `[[domain]]` entries or as name targets: they are zone apexes).
    pub domains: Vec<String>,
    _servers: Vec<DnsServerHandle>,
}

const TEST_TLD: &str = "$ORIGIN test.\n$TTL 300\n\
@ IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 86400 300\n\
@ IN NS ns1.lab.test.\n";

const LAB: &str = r#"$ORIGIN lab.test.
$TTL 300
@        IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 86400 300
@        IN NS  ns1.lab.test.
ns1      IN A   127.0.77.2
; Nothing listens here: naming the zone as a scan target sweeps nothing.
@        IN A   127.0.77.80
@        IN TXT "v=spf1 a mx ptr ?all"
@        IN MX  10 mx.lab.test.
mx       IN CNAME mail.lab.test.
mail     IN A   127.0.77.25
*        IN A   127.0.77.99
intranet IN A   127.0.77.10
old      IN CNAME app-deleted.cloud.test.
"#;

const LEGACY: &str = r#"$ORIGIN legacy.test.
$TTL 300
@        IN SOA ns1.lab.test. hostmaster.legacy.test. 1 3600 600 86400 300
@        IN NS  ns1.lab.test.
@        IN A   127.0.77.82
www      IN A   127.0.77.82
"#;

const CLOUD: &str = r#"$ORIGIN cloud.test.
$TTL 300
@        IN SOA ns1.lab.test. hostmaster.cloud.test. 1 3600 600 86400 300
@        IN NS  ns1.lab.test.
reports  IN MX  10 mail.lab.test.
"#;

/// shop.test with its SOA serial (the two nameservers disagree).
fn shop(serial: &str) -> String {
    format!(
        r#"$ORIGIN shop.test.
$TTL 300
@        IN SOA ns1.shop.test. hostmaster.shop.test. {serial} 3600 600 86400 300
@        IN NS  ns1.shop.test.
@        IN NS  ns2.shop.test.
@        IN NS  ns3.shop.test.
ns1      IN A   {SHOP_NS1_IP}
ns2      IN A   {SHOP_NS2_IP}
ns3      IN A   {SHOP_NS3_IP}
@        IN A   127.0.77.81
@        IN MX  10 mail.shop.test.
mail     IN A   127.0.77.26
@        IN TXT "v=spf1 include:s1.shop.test include:s2.shop.test include:s3.shop.test include:s4.shop.test -all"
s1       IN TXT "v=spf1 a:h.shop.test mx:h.shop.test -all"
s2       IN TXT "v=spf1 a:h.shop.test mx:h.shop.test -all"
s3       IN TXT "v=spf1 a:h.shop.test mx:h.shop.test -all"
s4       IN TXT "v=spf1 a:h.shop.test mx:h.shop.test -all"
h        IN A   127.0.77.27
h        IN MX  10 h.shop.test.
_dmarc   IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@reports.cloud.test"
_mta-sts IN TXT "v=STSv1; id=2024060101"
mta-sts  IN A   127.0.77.99
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@shop.test"
@        IN CAA 0 issue "letsencrypt.org"
@ 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
@ 300 IN RRSIG SOA 13 2 300 now+3d now-1d 2371 shop.test. oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAf==
@ 300 IN RRSIG DNSKEY 13 2 300 now+20d now-1d 2371 shop.test. oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAf==
"#
    )
}

/// Zone (origin, text) pairs with `extra` address records added: each name goes into the most
/// specific lab zone containing it, or into a new zone at its parent. Names that are not DNS
/// names are skipped. Pure.
pub fn lab_zones(extra: &[(String, IpAddr)], shop_serial: &str) -> Vec<(String, String)> {
    let mut zones: Vec<(String, String)> = vec![
        ("test".into(), TEST_TLD.into()),
        ("lab.test".into(), LAB.into()),
        ("shop.test".into(), shop(shop_serial)),
        ("legacy.test".into(), LEGACY.into()),
        ("cloud.test".into(), CLOUD.into()),
    ];
    for (name, ip) in extra {
        let Some(name) = crate::probe::dns::normalize_name(name) else {
            continue;
        };
        let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
        let record = format!("{name}. 300 IN {rtype} {ip}\n");
        let home = zones
            .iter()
            .enumerate()
            .filter(|(_, (z, _))| name == *z || name.ends_with(&format!(".{z}")))
            .max_by_key(|(_, (z, _))| z.len())
            .map(|(i, _)| i);
        match home {
            Some(i) => zones[i].1.push_str(&record),
            None => {
                let apex = match name.split_once('.') {
                    Some((_, parent)) if parent.contains('.') => parent.to_string(),
                    _ => name.clone(),
                };
                zones.push((
                    apex.clone(),
                    format!(
                        "$ORIGIN {apex}.\n$TTL 300\n@ IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 86400 300\n@ IN NS ns1.lab.test.\n{record}"
                    ),
                ));
            }
        }
    }
    zones
}

/// Starts the lab DNS: the resolver and every lab nameserver on one port, and A/AAAA records
/// for `extra_names` (the lab's other hosts) so they resolve through it.
pub async fn start_dns_lab(extra_names: &[(String, IpAddr)]) -> io::Result<DnsLab> {
    let zones_ns1 = lab_zones(extra_names, SHOP_SERIAL_NS1);
    let zones_ns2 = lab_zones(extra_names, SHOP_SERIAL_NS2);
    let pick = |zs: &[(String, String)], names: &[&str]| -> Vec<(String, String)> {
        zs.iter()
            .filter(|(z, _)| names.contains(&z.as_str()))
            .cloned()
            .collect()
    };
    let lab_opts = DnsServerOptions {
        axfr_zones: vec!["lab.test".into()],
        open_recursion: true,
    };
    let plan: Vec<DnsServerSpec> = vec![
        (
            LAB_RESOLVER_IP.into(),
            zones_ns1.clone(),
            DnsServerOptions::default(),
        ),
        (
            LAB_NS_IP.into(),
            pick(&zones_ns1, &["lab.test", "legacy.test"]),
            lab_opts,
        ),
        (
            SHOP_NS1_IP.into(),
            pick(&zones_ns1, &["shop.test"]),
            DnsServerOptions::default(),
        ),
        (
            SHOP_NS2_IP.into(),
            pick(&zones_ns2, &["shop.test"]),
            DnsServerOptions::default(),
        ),
        // Lame for shop.test: it answers, but not for that zone.
        (
            SHOP_NS3_IP.into(),
            pick(&zones_ns1, &["cloud.test"]),
            DnsServerOptions::default(),
        ),
    ];
    let servers = start_dns_servers_on_one_port(&plan, BIND_ATTEMPTS).await?;
    let port = servers[0].addr.port();
    Ok(DnsLab {
        resolver: SocketAddr::new(LAB_RESOLVER_IP.into(), port),
        ns_port: port,
        domains: LAB_DOMAINS.iter().map(|d| d.to_string()).collect(),
        _servers: servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::Limits;
    use crate::fact::{DnsSubject, SubjectFacts, TargetFacts};
    use crate::finding::{Location, Subject};
    use crate::probe::dns::{probe_name, probe_zone, resolve, DnsProbeConfig};
    use crate::rule::{RuleSet, RuleSources};
    use std::collections::BTreeSet;
    use std::time::Duration;

    #[test]
    fn zones_load_and_extra_names_find_a_home() {
        let extra = vec![
            ("tls.lab.test".to_string(), "127.0.0.1".parse().unwrap()),
            ("api.shop.test".to_string(), "::1".parse().unwrap()),
            ("web.demo.example".to_string(), "127.0.0.5".parse().unwrap()),
            ("not a name".to_string(), "127.0.0.6".parse().unwrap()),
        ];
        let zones = lab_zones(&extra, "1");
        for (origin, text) in &zones {
            crate::lab::dns_server::check_zone(origin, text)
                .unwrap_or_else(|e| panic!("{origin}: {e}"));
        }
        let text = |z: &str| zones.iter().find(|(o, _)| o == z).unwrap().1.clone();
        assert!(text("lab.test").contains("tls.lab.test. 300 IN A 127.0.0.1"));
        assert!(text("shop.test").contains("api.shop.test. 300 IN AAAA ::1"));
        assert!(text("demo.example").contains("web.demo.example. 300 IN A 127.0.0.5"));
        assert_eq!(zones.len(), 6, "one new zone; the bad name skipped");
    }

    #[test]
    fn every_published_address_is_loopback() {
        for (_, text) in lab_zones(&[], "1") {
            for line in text.lines() {
                let w: Vec<&str> = line.split_whitespace().collect();
                if let Some(i) = w.iter().position(|x| *x == "A") {
                    let ip: Ipv4Addr = w[i + 1].parse().unwrap();
                    assert!(ip.is_loopback(), "{line}");
                }
            }
        }
    }

    /// The demo's zones, scanned as the demo scans them, make every built-in DNS rule fire.
    #[tokio::test]
    async fn the_lab_shows_every_dns_rule() {
        let extra = vec![("tls.lab.test".to_string(), "127.0.0.1".parse().unwrap())];
        let lab = start_dns_lab(&extra).await.unwrap();
        let mut cfg = DnsProbeConfig::new(
            lab.resolver,
            &Limits::default(),
            time::OffsetDateTime::now_utc(),
        );
        cfg.ns_port = lab.ns_port;
        cfg.timeout = Duration::from_millis(800);
        cfg.deadline = Duration::from_secs(10);
        // The MTA-STS policy host of shop.test is down: nothing listens on this port.
        cfg.https_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rules = RuleSet::load(
            &RuleSources {
                builtin: true,
                paths: vec![],
                replace_identical: false,
            },
            &Default::default(),
        )
        .unwrap();
        let judge = |f: crate::fact::dns::DnsFacts| -> BTreeSet<String> {
            let s = SubjectFacts::Dns(Box::new(DnsSubject::new(
                TargetFacts {
                    host: f.name.clone(),
                    ..TargetFacts::default()
                },
                f,
            )));
            let loc = Location::synthetic(Subject::Dns, "lab", "lab");
            crate::rule::evaluate(&rules, &s, &loc)
                .into_iter()
                .map(|f| f.rule_id)
                .collect()
        };
        let mut fired = BTreeSet::new();
        for d in &lab.domains {
            let f = probe_zone(d, &cfg).await;
            assert!(f.complete, "{d}: {:?}", f.errors);
            if d == "lab.test" {
                assert!(f.axfr.names.contains(&"old.lab.test".to_string()));
            }
            fired.extend(judge(f));
        }
        let f = probe_name("old.lab.test", &cfg).await;
        fired.extend(judge(f));
        let all: BTreeSet<String> = rules
            .rules_for(Subject::Dns)
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(all.len(), 21);
        assert_eq!(fired, all, "missing: {:?}", all.difference(&fired));
        // The lab's other hosts resolve through it.
        let ips = resolve("tls.lab.test", &cfg).await.unwrap();
        assert_eq!(ips, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    }
}
