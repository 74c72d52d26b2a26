//! posture the way people run it: `--resolver` pointing at a real recursive resolver (Unbound)
//! that resolves the scanned zones from a real authoritative server (NSD). Everything posture
//! concludes must match what the two really answer (`dig @127.0.0.1 -p PORT …` tells the same).
//! `unbound` and `nsd` must be installed (Debian: `apt-get install unbound nsd`).

use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{scan, subjects};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether UDP `port` is free on 127.0.0.2 too (Unbound's second listener shares NSD's port).
fn udp_free(ip: &str, port: u16) -> bool {
    UdpSocket::bind((ip, port)).is_ok() && TcpListener::bind((ip, port)).is_ok()
}

const QTYPE_SOA: u16 = 6;
const QTYPE_TXT: u16 = 16;

/// A DNS query, RD as given, no EDNS.
fn dns_query(id: u16, name: &str, qtype: u16, rd: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[u8::from(rd), 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// The header of a DNS answer, as dig prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DnsHeader {
    rcode: u8,
    aa: bool,
    tc: bool,
    ra: bool,
    answers: u16,
    authorities: u16,
}

fn dns_header(id: u16, b: &[u8]) -> Option<DnsHeader> {
    if b.len() < 12 || b[..2] != id.to_be_bytes() || b[2] & 0x80 == 0 {
        return None;
    }
    Some(DnsHeader {
        rcode: b[3] & 0x0f,
        aa: b[2] & 0x04 != 0,
        tc: b[2] & 0x02 != 0,
        ra: b[3] & 0x80 != 0,
        answers: u16::from_be_bytes([b[6], b[7]]),
        authorities: u16::from_be_bytes([b[8], b[9]]),
    })
}

/// One UDP question (`edns`: advertise 1232 bytes, as posture does), one bounded wait.
fn udp_ask(
    ip: &str,
    port: u16,
    id: u16,
    name: &str,
    qtype: u16,
    rd: bool,
    edns: bool,
) -> Option<DnsHeader> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut q = dns_query(id, name, qtype, rd);
    if edns {
        q[11] = 1; // ARCOUNT
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    s.send_to(&q, (ip, port)).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    dns_header(id, &buf[..n])
}

/// The dns.* rule ids per endpoint of a report.
fn dns_ids_by_endpoint(report: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        let id = f["rule_id"].as_str().unwrap();
        if id.starts_with("dns.") {
            let ep = f["endpoint"].as_str().unwrap().to_string();
            m.entry(ep).or_default().insert(id.to_string());
        }
    }
    m
}

fn logs(dir: &Path, files: &[&str]) -> String {
    files
        .iter()
        .map(|f| {
            format!(
                "--- {f}\n{}",
                std::fs::read_to_string(dir.join(f)).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// NSD (authoritative, 127.0.0.1:A) serves the `test` parent with the delegations and the zones
/// `good.lab.test`, `bad.lab.test` (as in `nsd_zones_fire_exactly_their_dns_rules`),
/// `other.lab.test` (target of `www.good.lab.test`, an alias that leaves its zone) and
/// `open.lab.test`. Unbound (recursive, iterator only, 127.0.0.1:B) resolves everything under
/// `test` from NSD: Unbound follows delegations on port 53 only, so each delegation of the
/// `test` zone is mirrored by a stub-zone naming the same server on its test port. Two
/// delegations are lame:
///
/// * `far.lab.test` is delegated to NSD, which does not serve it (it answers with the referral
///   from `test`);
/// * `lame.lab.test` is delegated to 127.0.0.2:A, a second Unbound listener: a resolver that
///   refuses non-recursive questions (REFUSED), so Unbound answers SERVFAIL.
///
/// `open.lab.test`'s nameserver is that same listener: asked directly (`--ns-port A`) it is not
/// authoritative (lame) and answers the recursive question for `example.com` from elsewhere (an
/// open resolver). Unbound has `example.com` as an upstream-only auth-zone, so recursion for it
/// needs no internet, and a stub for `.` at NSD (which refuses it) keeps every other question
/// on loopback.
#[test]
fn unbound_in_front_of_nsd_fires_exactly_their_dns_rules() {
    let nsd = binary(&["/usr/sbin/nsd", "/usr/local/sbin/nsd"], "nsd");
    let unbound = binary(&["/usr/sbin/unbound", "/usr/local/sbin/unbound"], "unbound");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = dir.display();
    // NSD's port must also be free on 127.0.0.2 (the open resolver's listener).
    let port_a = (0..50)
        .map(|_| free_port())
        .find(|&p| udp_free("127.0.0.1", p) && udp_free("127.0.0.2", p))
        .expect("a port free on 127.0.0.1 and 127.0.0.2");
    let port_b = (0..50)
        .map(|_| free_port())
        .find(|&p| p != port_a && udp_free("127.0.0.1", p))
        .expect("a free port for unbound");

    std::fs::write(
        dir.join("test.zone"),
        "$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@ IN NS ns.test.
ns IN A 127.0.0.1
good.lab IN NS ns1.good.lab.test.
good.lab IN NS ns2.good.lab.test.
ns1.good.lab IN A 127.0.0.1
ns2.good.lab IN A 127.0.0.1
bad.lab IN NS ns1.bad.lab.test.
ns1.bad.lab IN A 127.0.0.1
other.lab IN NS ns.other.lab.test.
ns.other.lab IN A 127.0.0.1
open.lab IN NS ns.open.lab.test.
ns.open.lab IN A 127.0.0.2
far.lab IN NS ns.far.lab.test.
ns.far.lab IN A 127.0.0.1
lame.lab IN NS ns.lame.lab.test.
ns.lame.lab IN A 127.0.0.2
",
    )
    .unwrap();
    // Eight verification tokens make the apex TXT RRset larger than 1232 bytes: Unbound answers
    // posture's UDP question with TC set, and posture asks again over TCP.
    let mut good = String::from(
        "$ORIGIN good.lab.test.
$TTL 300
@ IN SOA ns1 hostmaster 2024010101 3600 600 86400 300
@ IN NS ns1
@ IN NS ns2
ns1 IN A 127.0.0.1
ns2 IN A 127.0.0.1
@ IN TXT \"v=spf1 include:_spf.good.lab.test \" \"-all\"
_spf IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@good.lab.test\"
@ IN CAA 0 issue \"letsencrypt.org\"
@ IN CAA 0 iodef \"mailto:security@good.lab.test\"
@ IN MX 0 .
www IN CNAME web.other.lab.test.
",
    );
    for i in 0..8 {
        good.push_str(&format!(
            "@ IN TXT \"site-verification-{i}={}\"\n",
            format!("{i:x}").repeat(180)
        ));
    }
    std::fs::write(dir.join("good.lab.test.zone"), good).unwrap();
    std::fs::write(
        dir.join("bad.lab.test.zone"),
        "$ORIGIN bad.lab.test.
$TTL 300
@ IN SOA ns1 hostmaster 7 3600 600 86400 300
@ IN NS ns1
ns1 IN A 127.0.0.1
@ IN TXT \"v=spf1 +all\"
_dmarc IN TXT \"v=DMARC1; p=none; rua=mailto:reports@elsewhere.test\"
@ IN MX 10 mx
mx IN CNAME host
host IN A 127.0.0.1
* IN A 127.0.0.1
shop IN CNAME gone.nowhere.test.
",
    )
    .unwrap();
    std::fs::write(
        dir.join("other.lab.test.zone"),
        "$ORIGIN other.lab.test.
$TTL 300
@ IN SOA ns hostmaster 5 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.1
web IN A 127.0.0.1
",
    )
    .unwrap();
    // Kept mail-clean so the delegation findings stand alone.
    std::fs::write(
        dir.join("open.lab.test.zone"),
        "$ORIGIN open.lab.test.
$TTL 300
@ IN SOA ns hostmaster 3 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.2
@ IN TXT \"v=spf1 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject\"
@ IN CAA 0 issue \";\"
@ IN MX 0 .
",
    )
    .unwrap();
    std::fs::write(
        dir.join("example.com.zone"),
        "$ORIGIN example.com.
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
ns IN A 192.0.2.53
@ IN A 192.0.2.1
",
    )
    .unwrap();
    // As in real_servers.rs: every file in our dir, no privilege drop, no chroot, no database,
    // response rate limiting off.
    std::fs::write(
        dir.join("nsd.conf"),
        format!(
            "server:
  ip-address: 127.0.0.1
  port: {port_a}
  do-ip6: no
  username: \"\"
  chroot: \"\"
  zonesdir: \"{d}\"
  database: \"\"
  pidfile: \"{d}/nsd.pid\"
  xfrdfile: \"{d}/xfrd.state\"
  xfrdir: \"{d}\"
  zonelistfile: \"{d}/zone.list\"
  logfile: \"{d}/nsd.log\"
  server-count: 1
  verbosity: 2
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: test
  zonefile: test.zone
zone:
  name: good.lab.test
  zonefile: good.lab.test.zone
zone:
  name: bad.lab.test
  zonefile: bad.lab.test.zone
  provide-xfr: 127.0.0.0/8 NOKEY
zone:
  name: other.lab.test
  zonefile: other.lab.test.zone
zone:
  name: open.lab.test
  zonefile: open.lab.test.zone
"
        ),
    )
    .unwrap();
    // `local-zone: "test." nodefault`: Unbound answers the RFC 6761 special-use names (test,
    // invalid, …) itself with NXDOMAIN unless told otherwise. `access-control: allow` refuses
    // non-recursive questions: the 127.0.0.2 listener is a resolver, not an authority.
    let mut stubs = String::new();
    for (zone, ip) in [
        (".", "127.0.0.1"),
        ("test", "127.0.0.1"),
        ("good.lab.test", "127.0.0.1"),
        ("bad.lab.test", "127.0.0.1"),
        ("other.lab.test", "127.0.0.1"),
        ("open.lab.test", "127.0.0.1"),
        ("far.lab.test", "127.0.0.1"),
        ("lame.lab.test", "127.0.0.2"),
    ] {
        stubs.push_str(&format!(
            "stub-zone:\n  name: \"{zone}\"\n  stub-addr: {ip}@{port_a}\n"
        ));
    }
    std::fs::write(
        dir.join("unbound.conf"),
        format!(
            "server:
  interface: 127.0.0.1@{port_b}
  interface: 127.0.0.2@{port_a}
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: \"\"
  chroot: \"\"
  directory: \"{d}\"
  pidfile: \"{d}/unbound.pid\"
  logfile: \"{d}/unbound.log\"
  use-syslog: no
  verbosity: 1
  do-not-query-localhost: no
  module-config: \"iterator\"
  local-zone: \"test.\" nodefault
remote-control:
  control-enable: no
{stubs}auth-zone:
  name: \"example.com\"
  zonefile: \"{d}/example.com.zone\"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
"
        ),
    )
    .unwrap();

    let mut nsd_server = Server(
        Command::new(&nsd)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("nsd.conf"))
            .stdout(std::fs::File::create(dir.join("nsd.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("nsd.err")).unwrap())
            .spawn()
            .expect("start nsd"),
    );
    let mut unbound_server = Server(
        Command::new(&unbound)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("unbound.conf"))
            .stdout(std::fs::File::create(dir.join("unbound.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("unbound.err")).unwrap())
            .spawn()
            .expect("start unbound"),
    );
    let all_logs = || {
        logs(
            dir,
            &[
                "nsd.out",
                "nsd.err",
                "nsd.log",
                "unbound.out",
                "unbound.err",
                "unbound.log",
            ],
        )
    };
    // Ready when NSD answers every zone's SOA authoritatively and Unbound resolves one:
    // at most 50 tries of ~100 ms.
    let zones = [
        "test",
        "good.lab.test",
        "bad.lab.test",
        "other.lab.test",
        "open.lab.test",
    ];
    let mut ready = false;
    for attempt in 0..50u16 {
        for s in [&mut nsd_server, &mut unbound_server] {
            if let Ok(Some(status)) = s.0.try_wait() {
                panic!("a server exited early: {status}\n{}", all_logs());
            }
        }
        ready = zones.iter().all(|z| {
            udp_ask("127.0.0.1", port_a, attempt, z, QTYPE_SOA, false, false)
                .is_some_and(|h| h.rcode == 0 && h.aa)
        }) && udp_ask(
            "127.0.0.1",
            port_b,
            attempt,
            "good.lab.test",
            QTYPE_SOA,
            true,
            false,
        )
        .is_some_and(|h| h.rcode == 0 && h.ra && h.answers == 1);
        if ready {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ready,
        "nsd on {port_a} / unbound on {port_b} not ready:\n{}",
        all_logs()
    );

    // What the servers say, independently of posture (dig @127.0.0.1 -p B …).
    let ask_b = |id, name, qtype| {
        udp_ask("127.0.0.1", port_b, id, name, qtype, true, true)
            .unwrap_or_else(|| panic!("unbound did not answer {name}:\n{}", all_logs()))
    };
    // The big TXT RRset does not fit posture's 1232-byte EDNS buffer through Unbound either.
    let txt = ask_b(0x7e57, "good.lab.test", QTYPE_TXT);
    assert!(txt.tc && txt.rcode == 0 && txt.ra, "{txt:?}");
    // lame.lab.test: its server refuses; Unbound says SERVFAIL.
    let lame = ask_b(0x1a3e, "lame.lab.test", QTYPE_SOA);
    assert_eq!(lame.rcode, 2, "{lame:?}\n{}", all_logs());
    // far.lab.test: NSD refers Unbound to the zone it was asked about. Unbound's scrubber drops
    // that NS RRset (a referral to the delegation point itself) and what is left is an empty
    // NOERROR: no answer, no SOA, no NS (RFC 2308 §2.2.1's NODATA "type 3"), not SERVFAIL.
    let far = ask_b(0xfa5, "far.lab.test", QTYPE_SOA);
    eprintln!("unbound on far.lab.test SOA: {far:?}");
    // open.lab.test's nameserver (127.0.0.2:A): a resolver, not an authority.
    let direct = udp_ask(
        "127.0.0.2",
        port_a,
        0x0be,
        "open.lab.test",
        QTYPE_SOA,
        false,
        false,
    )
    .expect("the 127.0.0.2 listener answers");
    assert_eq!((direct.rcode, direct.aa), (5, false), "{direct:?}");
    let rec = udp_ask("127.0.0.2", port_a, 0x0bf, "example.com", 1, true, false)
        .expect("the 127.0.0.2 listener answers");
    assert_eq!(
        (rec.rcode, rec.ra, rec.aa, rec.answers),
        (0, true, false, 1),
        "{rec:?}"
    );

    std::fs::write(
        dir.join("posture.toml"),
        ["good", "bad", "open", "far", "lame"]
            .iter()
            .map(|z| format!("[[domain]]\nname = \"{z}.lab.test\"\n\n"))
            .collect::<String>(),
    )
    .unwrap();
    std::fs::write(dir.join("subdomains.txt"), "www.good.lab.test\n").unwrap();
    let config = dir.join("posture.toml").display().to_string();
    let subdomains = dir.join("subdomains.txt").display().to_string();
    let resolver = format!("127.0.0.1:{port_b}");
    let ns_port = port_a.to_string();
    let start = Instant::now();
    let (code, report) = scan(
        dir,
        &[
            "--config",
            &config,
            "--checks",
            "dns",
            "--resolver",
            &resolver,
            "--ns-port",
            &ns_port,
            "--subdomains",
            &subdomains,
            "--fail-on",
            "none",
            "--allow-incomplete",
        ],
    );
    let took = start.elapsed();
    eprintln!("posture scan through unbound took {took:?}");
    assert_eq!(code, 0, "{report:#}");
    assert!(took < Duration::from_secs(15), "the scan took {took:?}");

    let dns = subjects(&report, "dns");
    let zone = |name: &str| -> &serde_json::Value {
        dns.iter()
            .find(|s| s["endpoint"] == name)
            .map(|s| &s["dns"])
            .unwrap_or_else(|| panic!("no DNS subject for {name}: {report:#}"))
    };
    for z in ["good.lab.test", "bad.lab.test", "open.lab.test"] {
        assert_eq!(zone(z)["complete"], true, "{:#}", zone(z));
        assert_eq!(zone(z)["errors"], serde_json::json!([]), "{:#}", zone(z));
        assert_eq!(zone(z)["is_zone_apex"], true, "{:#}", zone(z));
    }

    let set = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| s.to_string()).collect() };
    let mut want = BTreeMap::new();
    // Unsigned (RFC 4033), and both nameservers are 127.0.0.1: one /24 (RFC 2182 §3.1).
    want.insert(
        "good.lab.test".to_string(),
        set(&["dns.dnssec.missing", "dns.ns.same-network"]),
    );
    // Exactly as with NSD alone: the resolver changes the path, not the zone.
    want.insert(
        "bad.lab.test".to_string(),
        set(&[
            "dns.spf.permissive",
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
            "dns.wildcard.present",
        ]),
    );
    want.insert(
        "shop.bad.lab.test".to_string(),
        set(&["dns.cname.dangling"]),
    );
    // One nameserver, one network, unsigned; that nameserver is a resolver: not authoritative
    // for the zone (REFUSED to a non-recursive SOA question, RFC 1034 §4.2.2: lame) and it
    // recursed for example.com (RA set, not AA, an answer): open.
    want.insert(
        "open.lab.test".to_string(),
        set(&[
            "dns.ns.single",
            "dns.ns.same-network",
            "dns.ns.lame",
            "dns.recursion.open",
            "dns.dnssec.missing",
        ]),
    );
    let got = dns_ids_by_endpoint(&report);
    let without_lame: BTreeMap<_, _> = got
        .iter()
        .filter(|(k, _)| k.as_str() != "far.lab.test")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(without_lame, want, "{report:#}");

    // The facts behind the verdicts are what NSD serves through Unbound.
    let good = zone("good.lab.test");
    assert_eq!(
        good["spf"]["record"], "v=spf1 include:_spf.good.lab.test -all",
        "the SPF record after the TCP retry: {good:#}"
    );
    assert_eq!(good["spf"]["lookups"], 1, "{good:#}");
    assert_eq!(good["dmarc"]["p"], "reject", "{good:#}");
    assert_eq!(good["mx"]["null_mx"], true, "{good:#}");
    assert_eq!(good["caa"]["found_at"], "good.lab.test", "{good:#}");
    assert_eq!(
        good["ns"]["names"],
        serde_json::json!(["ns1.good.lab.test", "ns2.good.lab.test"]),
        "{good:#}"
    );
    for s in good["ns"]["servers"].as_array().unwrap() {
        assert_eq!(s["authoritative"], true, "{s}");
        assert_eq!(s["serial"], 2024010101, "{s}");
    }
    // NSD, asked directly, does not recurse: REFUSED without RA.
    let tests = good["recursion"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2, "{good:#}");
    for t in tests {
        assert_eq!(t["open"], false, "{t}");
        assert_eq!(t["result"], "REFUSED ra=0 aa=0 answers=0", "{t}");
    }
    assert_eq!(good["wildcard"]["present"], false, "{good:#}");

    let bad = zone("bad.lab.test");
    assert_eq!(bad["axfr"]["attempts"][0]["allowed"], true, "{bad:#}");
    assert_eq!(
        bad["mx"]["problems"],
        serde_json::json!(["MX mx.bad.lab.test is an alias (CNAME); RFC 2181 §10.3 forbids it"]),
        "{bad:#}"
    );
    assert_eq!(
        bad["wildcard"]["answers"],
        serde_json::json!(["A 127.0.0.1"])
    );
    let shop = zone("shop.bad.lab.test");
    assert_eq!(shop["cname"]["target"], "gone.nowhere.test", "{shop:#}");
    assert_eq!(shop["cname"]["status"], "dangling", "{shop:#}");
    assert_eq!(zone("mx.bad.lab.test")["cname"]["status"], "resolves");

    // An alias that leaves its zone: Unbound follows it into other.lab.test.
    let www = zone("www.good.lab.test");
    assert_eq!(www["complete"], true, "{www:#}");
    assert_eq!(www["cname"]["target"], "web.other.lab.test", "{www:#}");
    assert_eq!(
        www["cname"]["chain"],
        serde_json::json!(["web.other.lab.test"]),
        "{www:#}"
    );
    assert_eq!(www["cname"]["status"], "resolves", "{www:#}");

    let open = zone("open.lab.test");
    let tests = open["recursion"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "{open:#}");
    assert_eq!(tests[0]["address"], "127.0.0.2", "{open:#}");
    assert_eq!(tests[0]["open"], true, "{open:#}");
    assert_eq!(
        tests[0]["result"], "NOERROR ra=1 aa=0 answers=1",
        "{open:#}"
    );
    assert_eq!(
        open["ns"]["lame_servers"],
        serde_json::json!(["ns.open.lab.test"]),
        "{open:#}"
    );
    assert_eq!(open["axfr"]["open"], false, "{open:#}");

    // lame.lab.test: SERVFAIL from Unbound. Incomplete with the reason, nothing drawn from it.
    let lame = zone("lame.lab.test");
    assert_eq!(lame["complete"], false, "{lame:#}");
    let reasons = lame["errors"].to_string();
    assert!(reasons.contains("SERVFAIL"), "{lame:#}");
    assert!(!got.contains_key("lame.lab.test"), "{report:#}");

    // far.lab.test: delegated to NSD, which does not serve it. posture cannot know the zone
    // (there is no SOA anywhere in Unbound's answer: no authoritative server produced it,
    // RFC 2308 §3 makes an authority include its SOA in a negative answer), so it must be
    // incomplete with the reason and draw no SPF/DMARC/CAA/NS/DNSSEC/wildcard finding from it.
    let incomplete: BTreeSet<String> = report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|i| assert_eq!(i["stage"], "dns", "{i}"))
        .map(|i| i["endpoint"].as_str().unwrap().to_string())
        .collect();
    let far = zone("far.lab.test");
    assert!(
        far["complete"] == false && !got.contains_key("far.lab.test"),
        "posture drew findings from an empty NOERROR (no SOA, no NS) that Unbound gives for \
         a lame delegation: {:?}\n{far:#}",
        got.get("far.lab.test")
    );
    assert_eq!(
        incomplete,
        set(&["far.lab.test", "lame.lab.test"]),
        "{report:#}"
    );
}
