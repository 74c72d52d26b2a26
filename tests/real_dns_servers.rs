//! posture against real authoritative DNS servers other than NSD, set up the way Debian admins
//! run them, all on loopback:
//!
//! * **BIND 9** primary (`named`, 127.0.0.1:P, `recursion no`): the `test` parent and zones
//!   signed with `dnssec-signzone` (RRSIGs expiring in 3 days, in 30 days with NSEC3 and RSA keys
//!   big enough to truncate a 1232-byte DNSKEY answer, and already expired), zones signed by
//!   BIND itself (`dnssec-policy default` and a policy whose DNSKEY signatures live 4 days),
//!   an unsigned zone with BIND's default `allow-transfer` (9.18: `any`), transfers restricted
//!   to a TSIG key elsewhere, and the secondary of Knot's zone (default `allow-transfer` again).
//! * **Knot DNS** (`knotd`, 127.1.0.1:P, another /24): TSIG-authenticated secondary of BIND's
//!   zones (NOTIFY from BIND), primary of a stale copy of one (older serial, open transfers), of
//!   a zone BIND does not serve (so BIND, holding the parent, answers with a referral: lame) and
//!   of `knot.lab.test`, signed by Knot (`dnssec-signing: on`). It also serves the lab's root
//!   zone and `example.com`, so recursion never leaves loopback.
//! * **BIND 9** resolver (`named`, 127.0.0.1:R, `recursion yes; allow-recursion { any; }`): root
//!   hints pointing at Knot, a stub zone for `test` at the primary, and primary itself for
//!   `open.lab.test` (an authoritative server that is an open resolver).
//!
//! posture's conclusions must match what the servers answer (`dig @127.0.0.1 -p P …` says the
//! same), and must not depend on whether posture asks through the BIND resolver or the BIND
//! primary directly. Debian: `apt-get install bind9 bind9-utils knot`.

use crate::support::dns_wire::{auth_serial, port_free, tcp, udp};
use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{scan, subjects};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run a helper program (dnssec-keygen, dnssec-signzone, tsig-keygen) in `dir`; its stdout.
fn run_tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install bind9-utils)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// A minimal DNS client for the independent checks (what `dig` would show).

// ---------------------------------------------------------------------------------------------
// The lab.

/// Zones whose primary is BIND and whose secondary is Knot.
const BIND_ZONES: [&str; 6] = [
    "signed3.lab.test",
    "signed30.lab.test",
    "expired.lab.test",
    "policy.lab.test",
    "split.lab.test",
    "plain.lab.test",
];

/// Every zone both nameservers of `lab.test` are asked about in the main scans.
const SCANNED: [&str; 9] = [
    "signed3.lab.test",
    "signed30.lab.test",
    "expired.lab.test",
    "policy.lab.test",
    "split.lab.test",
    "plain.lab.test",
    "stale.lab.test",
    "knot.lab.test",
    "knotonly.lab.test",
];

const MAIL_CLEAN: &str = "@ IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject\"
@ IN CAA 0 issue \"letsencrypt.org\"
@ IN MX 0 .
";

fn zone_text(zone: &str, serial: u32, body: &str) -> String {
    format!(
        "$ORIGIN {zone}.
$TTL 300
@ IN SOA ns1.lab.test. hostmaster.lab.test. {serial} 3600 600 86400 300
@ IN NS ns1.lab.test.
@ IN NS ns2.lab.test.
{body}"
    )
}

struct Lab {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// Port of every nameserver address (BIND primary, Knot).
    ns_port: u16,
    /// Port of the BIND resolver (and of `open.lab.test`'s nameserver).
    resolver_port: u16,
    _servers: Vec<Server>,
}

impl Lab {
    fn logs(dir: &Path) -> String {
        ["a/out", "k/out", "r/out"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn start() -> Lab {
        let named = binary(&["/usr/sbin/named", "/usr/local/sbin/named"], "bind9");
        let knotd = binary(&["/usr/sbin/knotd", "/usr/local/sbin/knotd"], "knot");
        let keygen = binary(
            &["/usr/bin/dnssec-keygen", "/usr/sbin/dnssec-keygen"],
            "bind9-utils",
        );
        let signzone = binary(
            &["/usr/bin/dnssec-signzone", "/usr/sbin/dnssec-signzone"],
            "bind9-utils",
        );
        let tsig_keygen = binary(&["/usr/sbin/tsig-keygen", "/usr/bin/tsig-keygen"], "bind9");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        for sub in ["a", "k", "r"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        let (a, k, r) = (dir.join("a"), dir.join("k"), dir.join("r"));
        let ns_port = (0..50)
            .map(|_| free_port())
            .find(|&p| port_free("127.0.0.1", p) && port_free("127.1.0.1", p))
            .expect("a port free on 127.0.0.1 and 127.1.0.1");
        let resolver_port = (0..50)
            .map(|_| free_port())
            .find(|&p| p != ns_port && port_free("127.0.0.1", p))
            .expect("a free port for the resolver");
        let p = ns_port;

        // --- zone files
        let mut test_zone = String::from(
            "$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@ IN NS ns.test.
ns IN A 127.0.0.1
a.root IN A 127.1.0.1
ns1.lab IN A 127.0.0.1
ns2.lab IN A 127.1.0.1
open.lab IN NS ns.open.lab
ns.open.lab IN A 127.0.0.1
",
        );
        for z in SCANNED.iter().chain(["drift.lab.test"].iter()) {
            let label = z.trim_end_matches(".test");
            test_zone.push_str(&format!("{label} IN NS ns1.lab\n{label} IN NS ns2.lab\n"));
        }
        std::fs::write(a.join("test.zone"), test_zone).unwrap();
        for (z, serial) in [
            ("signed3.lab.test", 2024060101),
            ("signed30.lab.test", 2024060102),
            ("expired.lab.test", 2024060103),
            ("split.lab.test", 2024060105),
        ] {
            std::fs::write(
                a.join(format!("{z}.zone")),
                zone_text(z, serial, MAIL_CLEAN),
            )
            .unwrap();
        }
        // Nine TXT records at the apex (SPF and eight verification tokens) make the RRset
        // larger than 1232 bytes: BIND sets TC over UDP and posture asks again over TCP.
        let mut policy = zone_text("policy.lab.test", 2024060104, MAIL_CLEAN);
        for i in 0..8 {
            policy.push_str(&format!(
                "@ IN TXT \"site-verification-{i}={}\"\n",
                format!("{i:x}").repeat(180)
            ));
        }
        std::fs::write(a.join("policy.lab.test.zone"), policy).unwrap();
        std::fs::write(
            a.join("plain.lab.test.zone"),
            zone_text(
                "plain.lab.test",
                2024060106,
                "@ IN TXT \"v=spf1 +all\"
_dmarc IN TXT \"v=DMARC1; p=none\"
@ IN MX 10 mail
mail IN A 127.0.0.1
shop IN CNAME gone.nowhere.test.
www IN CNAME mail
",
            ),
        )
        .unwrap();
        std::fs::write(
            a.join("stale.lab.test.zone"),
            zone_text("stale.lab.test", 5, MAIL_CLEAN),
        )
        .unwrap();
        std::fs::write(
            k.join("stale.lab.test.zone"),
            zone_text("stale.lab.test", 4, MAIL_CLEAN),
        )
        .unwrap();
        std::fs::write(
            k.join("knot.lab.test.zone"),
            zone_text(
                "knot.lab.test",
                7,
                "@ IN TXT \"v=spf1 -all\"
_dmarc IN TXT \"v=DMARC1; p=quarantine; pct=50\"
@ IN CAA 0 issue \"letsencrypt.org\"
@ IN MX 0 .
",
            ),
        )
        .unwrap();
        std::fs::write(
            k.join("knotonly.lab.test.zone"),
            zone_text("knotonly.lab.test", 11, MAIL_CLEAN),
        )
        .unwrap();
        std::fs::write(
            k.join("root.zone"),
            "$TTL 300
. IN SOA a.root.test. hostmaster.test. 1 3600 600 86400 300
. IN NS a.root.test.
test. IN NS ns.test.
ns.test. IN A 127.0.0.1
a.root.test. IN A 127.1.0.1
example.com. IN NS ns.example.com.
ns.example.com. IN A 127.1.0.1
",
        )
        .unwrap();
        std::fs::write(
            k.join("example.com.zone"),
            "$ORIGIN example.com.
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
ns IN A 127.1.0.1
@ IN A 192.0.2.1
",
        )
        .unwrap();
        std::fs::write(
            r.join("open.lab.test.zone"),
            "$ORIGIN open.lab.test.
$TTL 300
@ IN SOA ns hostmaster 3 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.1
@ IN TXT \"v=spf1 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject\"
@ IN CAA 0 issue \";\"
@ IN MX 0 .
",
        )
        .unwrap();
        std::fs::write(
            r.join("root.hint"),
            ". 3600000 IN NS a.root.test.\na.root.test. 3600000 IN A 127.1.0.1\n",
        )
        .unwrap();

        // --- signing with dnssec-signzone (timestamps relative to now; an hour short of the
        // round figure so whole days left do not depend on how long start-up takes).
        let sign_as = |zone: &str, file: &str, keys: &[&[&str]], extra: &[&str]| {
            for k in keys {
                let mut args: Vec<&str> = vec!["-q", "-K", "."];
                args.extend_from_slice(k);
                args.push(zone);
                run_tool(&a, &keygen, &args);
            }
            let input = format!("{file}.zone");
            let output = format!("{file}.signed");
            let mut args: Vec<&str> = vec!["-q", "-S", "-K", ".", "-o", zone, "-f", &output];
            args.extend_from_slice(extra);
            args.push(&input);
            run_tool(&a, &signzone, &args);
        };
        let sign = |zone: &str, keys: &[&[&str]], extra: &[&str]| sign_as(zone, zone, keys, extra);
        let ecdsa_ksk: &[&str] = &["-a", "ECDSAP256SHA256", "-f", "KSK"];
        let ecdsa_zsk: &[&str] = &["-a", "ECDSAP256SHA256"];
        sign(
            "signed3.lab.test",
            &[ecdsa_ksk, ecdsa_zsk],
            &["-e", "now+255600"],
        );
        sign(
            "signed30.lab.test",
            &[
                &["-a", "RSASHA256", "-b", "3072", "-f", "KSK"],
                &["-a", "RSASHA256", "-b", "2048"],
            ],
            &["-3", "-", "-e", "now+2588400"],
        );
        // Expired a day and a half ago (-P: the post-signing verification refuses it).
        sign(
            "expired.lab.test",
            &[ecdsa_zsk],
            &["-z", "-P", "-s", "now-864000", "-e", "now-129600"],
        );

        // drift.lab.test: the primary (BIND) serves serial 2 re-signed for 30 days; Knot still
        // serves serial 1, signed with the same keys and expiring in 3 days: a secondary whose
        // transfers stopped (or a signer whose output stopped reaching it).
        std::fs::write(
            a.join("drift-old.zone"),
            zone_text("drift.lab.test", 2024060201, MAIL_CLEAN),
        )
        .unwrap();
        std::fs::write(
            a.join("drift.lab.test.zone"),
            zone_text("drift.lab.test", 2024060202, MAIL_CLEAN),
        )
        .unwrap();
        sign_as(
            "drift.lab.test",
            "drift-old",
            &[ecdsa_ksk, ecdsa_zsk],
            &["-e", "now+255600"],
        );
        sign("drift.lab.test", &[], &["-e", "now+2588400"]);
        std::fs::copy(a.join("drift-old.signed"), k.join("drift.lab.test.zone")).unwrap();

        let tsig = run_tool(&a, &tsig_keygen, &["-a", "hmac-sha256", "xfr"]);
        let secret = tsig
            .split('"')
            .nth(3)
            .expect("tsig-keygen prints the secret")
            .to_string();
        let d = dir.display();

        // --- BIND primary. `notify explicit` + `also-notify`: Knot hears of every new serial
        // (inline signing bumps it) at once (`notify-delay 0`).
        std::fs::write(
            a.join("named.conf"),
            format!(
                "{tsig}
dnssec-policy \"split\" {{
  keys {{ csk lifetime unlimited algorithm ecdsap256sha256; }};
  signatures-validity 20d;
  signatures-validity-dnskey 4d;
  signatures-refresh 1d;
}};
options {{
  directory \"{d}/a\";
  pid-file \"{d}/a/named.pid\";
  session-keyfile \"{d}/a/session.key\";
  managed-keys-directory \"{d}/a\";
  port {p};
  listen-on port {p} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify explicit;
  notify-delay 0;
  also-notify {{ 127.1.0.1 port {p}; }};
}};
controls {{ }};
zone \"test\" {{ type primary; file \"test.zone\"; notify no; }};
zone \"signed3.lab.test\" {{ type primary; file \"signed3.lab.test.signed\"; allow-transfer {{ key xfr; }}; }};
zone \"signed30.lab.test\" {{ type primary; file \"signed30.lab.test.signed\"; allow-transfer {{ key xfr; }}; }};
zone \"expired.lab.test\" {{ type primary; file \"expired.lab.test.signed\"; allow-transfer {{ key xfr; }}; }};
zone \"policy.lab.test\" {{ type primary; file \"policy.lab.test.zone\"; dnssec-policy default; inline-signing yes; key-directory \"{d}/a\"; allow-transfer {{ key xfr; }}; }};
zone \"split.lab.test\" {{ type primary; file \"split.lab.test.zone\"; dnssec-policy \"split\"; inline-signing yes; key-directory \"{d}/a\"; allow-transfer {{ key xfr; }}; }};
zone \"plain.lab.test\" {{ type primary; file \"plain.lab.test.zone\"; }};
zone \"stale.lab.test\" {{ type primary; file \"stale.lab.test.zone\"; allow-transfer {{ any; }}; notify no; }};
zone \"drift.lab.test\" {{ type primary; file \"drift.lab.test.signed\"; allow-transfer {{ key xfr; }}; notify no; }};
zone \"knot.lab.test\" {{ type secondary; file \"knot.lab.test.bk\"; primaries {{ 127.1.0.1 port {p} key xfr; }}; notify no; min-retry-time 1; max-retry-time 2; }};
"
            ),
        )
        .unwrap();

        // --- Knot: secondaries over TSIG, its own zones, the lab's root.
        let mut knot_zones = String::from(
            "  - domain: .
    file: root.zone
  - domain: example.com
  - domain: stale.lab.test
    acl: anyone
  - domain: knotonly.lab.test
  - domain: drift.lab.test
  - domain: knot.lab.test
    dnssec-signing: on
    acl: xfr
    notify: bind
",
        );
        for z in BIND_ZONES {
            knot_zones.push_str(&format!("  - domain: {z}\n    template: secondary\n"));
        }
        std::fs::write(
            k.join("knot.conf"),
            format!(
                "server:
    rundir: \"{d}/k\"
    pidfile: \"{d}/k/knot.pid\"
    listen: 127.1.0.1@{p}
database:
    storage: \"{d}/k\"
log:
  - target: stderr
    any: info
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: {secret}
remote:
  - id: bind
    address: 127.0.0.1@{p}
    key: xfr
acl:
  - id: xfr
    key: xfr
    action: transfer
  - id: notify
    address: 127.0.0.1
    action: notify
  - id: anyone
    address: [0.0.0.0/0, ::/0]
    action: transfer
template:
  - id: default
    storage: \"{d}/k\"
    file: \"%s.zone\"
  - id: secondary
    storage: \"{d}/k\"
    file: \"%s.zone\"
    master: bind
    acl: notify
zone:
{knot_zones}"
            ),
        )
        .unwrap();

        // --- BIND resolver. `port P`: the port it sends its own queries to (root hints, stub).
        let rp = resolver_port;
        std::fs::write(
            r.join("named.conf"),
            format!(
                "options {{
  directory \"{d}/r\";
  pid-file \"{d}/r/named.pid\";
  session-keyfile \"{d}/r/session.key\";
  managed-keys-directory \"{d}/r\";
  port {p};
  listen-on port {rp} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion yes;
  allow-recursion {{ any; }};
  allow-query-cache {{ any; }};
  dnssec-validation no;
  notify no;
}};
controls {{ }};
zone \".\" {{ type hint; file \"root.hint\"; }};
zone \"test\" {{ type stub; file \"test.stub\"; primaries {{ 127.0.0.1 port {p}; }}; }};
zone \"open.lab.test\" {{ type primary; file \"open.lab.test.zone\"; }};
"
            ),
        )
        .unwrap();

        let spawn = |program: &str, args: &[&str], out: &str| {
            let log = std::fs::File::create(dir.join(out)).unwrap();
            Server(
                Command::new(program)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .unwrap_or_else(|e| panic!("start {program}: {e}")),
            )
        };
        let conf = |sub: &str, file: &str| dir.join(sub).join(file).display().to_string();
        let mut servers = vec![
            spawn(&named, &["-g", "-c", &conf("a", "named.conf")], "a/out"),
            spawn(&knotd, &["-c", &conf("k", "knot.conf")], "k/out"),
            spawn(&named, &["-g", "-c", &conf("r", "named.conf")], "r/out"),
        ];

        // Ready when BIND and Knot serve every lab zone with the same serial (Knot has
        // transferred BIND's signed zones, BIND Knot's), and the resolver resolves through both:
        // at most 300 tries of ~100 ms (a loaded machine starts Knot after BIND's first
        // transfer attempt; BIND retries every 1-2 s, `min-retry-time` above).
        let bind: SocketAddr = ([127, 0, 0, 1], p).into();
        let knot: SocketAddr = ([127, 1, 0, 1], p).into();
        let res: SocketAddr = ([127, 0, 0, 1], rp).into();
        let mut ready = false;
        let mut last = String::new();
        for _ in 0..300 {
            for s in servers.iter_mut() {
                if let Ok(Some(status)) = s.0.try_wait() {
                    panic!("a server exited early: {status}\n{}", Lab::logs(&dir));
                }
            }
            let mut state = Vec::new();
            let mut ok = true;
            for z in BIND_ZONES.iter().chain(["knot.lab.test"].iter()) {
                let (sa, sk) = (auth_serial(bind, z), auth_serial(knot, z));
                ok &= sa.is_some() && sa == sk;
                state.push(format!("{z}: {sa:?}/{sk:?}"));
            }
            ok &= auth_serial(bind, "drift.lab.test") == Some(2024060202)
                && auth_serial(knot, "drift.lab.test") == Some(2024060201);
            ok &= auth_serial(knot, "knotonly.lab.test").is_some()
                && auth_serial(bind, "stale.lab.test").is_some()
                && auth_serial(knot, "stale.lab.test").is_some();
            let via = udp(res, "example.com", RecordType::A, true, false);
            ok &= via.is_some_and(|m| m.answers.len() == 1);
            let via = udp(res, "signed3.lab.test", RecordType::SOA, true, false);
            ok &= via.is_some_and(|m| m.answers.len() == 1 && m.metadata.recursion_available);
            last = state.join(", ");
            if ok {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            ready,
            "lab not ready (serials bind/knot: {last}):\n{}",
            Lab::logs(&dir)
        );
        Lab {
            _tmp: tmp,
            dir,
            ns_port,
            resolver_port,
            _servers: servers,
        }
    }

    fn bind(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.ns_port).into()
    }

    fn knot(&self) -> SocketAddr {
        ([127, 1, 0, 1], self.ns_port).into()
    }

    /// posture over `domains` (+ the plain zone's aliases as subdomains) with `--resolver
    /// 127.0.0.1:resolver` and `--ns-port ns_port`.
    fn scan(&self, domains: &[&str], resolver: u16, ns_port: u16) -> Value {
        let tag = format!("{resolver}-{ns_port}-{}", domains.len());
        let config = self.dir.join(format!("posture-{tag}.toml"));
        std::fs::write(
            &config,
            domains
                .iter()
                .map(|z| format!("[[domain]]\nname = \"{z}\"\n\n"))
                .collect::<String>(),
        )
        .unwrap();
        let subdomains = self.dir.join("subdomains.txt");
        std::fs::write(&subdomains, "shop.plain.lab.test\nwww.plain.lab.test\n").unwrap();
        let start = Instant::now();
        let (code, report) = scan(
            &self.dir,
            &[
                "--config",
                &config.display().to_string(),
                "--checks",
                "dns",
                "--resolver",
                &format!("127.0.0.1:{resolver}"),
                "--ns-port",
                &ns_port.to_string(),
                "--subdomains",
                &subdomains.display().to_string(),
                "--fail-on",
                "none",
                "--allow-incomplete",
            ],
        );
        let took = start.elapsed();
        assert_eq!(code, 0, "{report:#}\n{}", Lab::logs(&self.dir));
        assert!(took < Duration::from_secs(15), "the scan took {took:?}");
        report
    }
}

/// The dns.* rule ids per endpoint of a report.
fn dns_ids_by_endpoint(report: &Value) -> BTreeMap<String, BTreeSet<String>> {
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

fn zone<'a>(report: &'a Value, name: &str) -> &'a Value {
    subjects(report, "dns")
        .into_iter()
        .find(|s| s["endpoint"] == name)
        .map(|s| &s["dns"])
        .unwrap_or_else(|| panic!("no DNS subject for {name}: {report:#}"))
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// What each zone really is, as rule ids (`--ns-port` = the nameservers' port).
fn expected_findings() -> BTreeMap<String, BTreeSet<String>> {
    let mut want = BTreeMap::new();
    // RRSIGs on SOA and DNSKEY expire in under 3 days (window 7).
    want.insert(
        "signed3.lab.test".to_string(),
        set(&["dns.dnssec.expiring"]),
    );
    // Already expired: the signatures are no longer valid at all.
    want.insert(
        "expired.lab.test".to_string(),
        set(&["dns.dnssec.expiring"]),
    );
    // BIND's own policy with 4-day DNSKEY signatures (the SOA's live 20 days).
    want.insert("split.lab.test".to_string(), set(&["dns.dnssec.expiring"]));
    // Unsigned, BIND 9.18's default allow-transfer { any; }, and the mail policies of a zone
    // that accepts mail without any protection.
    want.insert(
        "plain.lab.test".to_string(),
        set(&[
            "dns.axfr.open",
            "dns.caa.missing",
            "dns.dmarc.weak",
            "dns.dnssec.missing",
            "dns.mta-sts.missing",
            "dns.spf.permissive",
            "dns.tls-rpt.missing",
        ]),
    );
    want.insert(
        "shop.plain.lab.test".to_string(),
        set(&["dns.cname.dangling"]),
    );
    // Two primaries serving different serials (5 and 4), both open to transfers.
    want.insert(
        "stale.lab.test".to_string(),
        set(&[
            "dns.axfr.open",
            "dns.dnssec.missing",
            "dns.soa.serial-mismatch",
        ]),
    );
    // Knot signs it; BIND, its secondary, keeps the default allow-transfer { any; }.
    want.insert(
        "knot.lab.test".to_string(),
        set(&["dns.axfr.open", "dns.dmarc.weak"]),
    );
    // BIND (ns1) does not serve it: it answers with the referral from `test` (aa=0).
    want.insert(
        "knotonly.lab.test".to_string(),
        set(&["dns.dnssec.missing", "dns.ns.lame"]),
    );
    // signed30.lab.test and policy.lab.test: nothing.
    want
}

#[test]
fn bind_and_knot_zones_fire_exactly_their_dns_rules() {
    let lab = Lab::start();
    let (bind, knot) = (lab.bind(), lab.knot());

    // What the servers say, independently of posture.
    // BIND refuses a transfer it does not allow (REFUSED); Knot answers NOTAUTH.
    let refused =
        tcp(bind, "signed3.lab.test", RecordType::AXFR, false).expect("bind answers AXFR");
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    let notauth =
        tcp(knot, "signed3.lab.test", RecordType::AXFR, false).expect("knot answers AXFR");
    assert_eq!(notauth.metadata.response_code, ResponseCode::NotAuth);
    // BIND's default for a zone without allow-transfer: the zone, to anyone.
    let open = tcp(bind, "plain.lab.test", RecordType::AXFR, false).expect("bind answers AXFR");
    assert_eq!(open.metadata.response_code, ResponseCode::NoError);
    assert_eq!(open.answers[0].record_type(), RecordType::SOA);
    // The RSA-signed DNSKEY RRset with its RRSIGs does not fit 1232 bytes: TC over UDP.
    let big = udp(bind, "signed30.lab.test", RecordType::DNSKEY, false, true).unwrap();
    assert!(big.metadata.truncation, "{big:?}");
    let big = udp(bind, "policy.lab.test", RecordType::TXT, true, false).unwrap();
    assert!(big.metadata.truncation, "{big:?}");
    // BIND with `recursion no` refuses example.com; Knot serves it (the lab's "Internet").
    let no = udp(bind, "example.com", RecordType::A, true, false).unwrap();
    assert_eq!(
        (no.metadata.response_code, no.metadata.recursion_available),
        (ResponseCode::Refused, false)
    );

    let report = lab.scan(&SCANNED, lab.resolver_port, lab.ns_port);
    for z in SCANNED {
        let f = zone(&report, z);
        assert_eq!(f["complete"], true, "{z}: {f:#}");
        assert_eq!(f["errors"], json!([]), "{z}: {f:#}");
        assert_eq!(f["is_zone_apex"], true, "{z}: {f:#}");
    }
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    assert_eq!(
        dns_ids_by_endpoint(&report),
        expected_findings(),
        "{report:#}"
    );

    // DNSSEC facts: key counts, algorithms, and whole days left on the SOA and DNSKEY RRSIGs.
    let dnssec = |z: &str| zone(&report, z)["dnssec"].clone();
    let days = |z: &str, covers: &str| -> BTreeSet<i64> {
        dnssec(z)["rrsigs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["covers"] == covers)
            .map(|s| s["days_left"].as_i64().unwrap())
            .collect()
    };
    // Zones signed by dnssec-signzone an hour short of whole days: exact. Zones the servers
    // sign at start-up with N-day signatures: N-1 whole days left, or N when the scan runs within
    // the second of the signing.
    let near = |d: i64, fresh: bool| -> BTreeSet<i64> {
        if fresh {
            BTreeSet::from([d - 1, d])
        } else {
            BTreeSet::from([d])
        }
    };
    for (z, keys, alg, soa_days, key_days, fresh) in [
        // dnssec-signzone: KSK + ZSK; the DNSKEY RRset is signed by both.
        ("signed3.lab.test", 2, 13, 2, 2, false),
        ("signed30.lab.test", 2, 8, 29, 29, false),
        ("expired.lab.test", 1, 13, -2, -2, false),
        // BIND dnssec-policy default: one CSK, 14-day signatures.
        ("policy.lab.test", 1, 13, 14, 14, true),
        // BIND policy "split": 20-day signatures, 4-day ones on the DNSKEY RRset.
        ("split.lab.test", 1, 13, 20, 4, true),
        // Knot's default policy: KSK + ZSK, 14-day signatures.
        ("knot.lab.test", 2, 13, 14, 14, true),
    ] {
        let f = dnssec(z);
        assert_eq!(f["checked"], true, "{z}: {f:#}");
        assert_eq!(f["present"], true, "{z}: {f:#}");
        assert_eq!(f["soa_signed"], true, "{z}: {f:#}");
        assert_eq!(f["dnskey_count"], keys, "{z}: {f:#}");
        let (soa, key) = (days(z, "SOA"), days(z, "DNSKEY"));
        assert_eq!(soa.len(), 1, "{z}: {f:#}");
        assert!(soa.is_subset(&near(soa_days, fresh)), "{z}: {f:#}");
        assert_eq!(key.len(), 1, "{z}: {f:#}");
        assert!(key.is_subset(&near(key_days, fresh)), "{z}: {f:#}");
        let min = soa.iter().chain(key.iter()).min().copied().unwrap();
        assert_eq!(f["min_days_left"], min, "{z}: {f:#}");
        for s in f["rrsigs"].as_array().unwrap() {
            assert_eq!(s["algorithm"], alg, "{z}: {s}");
            assert_eq!(s["signer"], z, "{z}: {s}");
        }
    }
    // Who signs the DNSKEY RRset: dnssec-signzone uses every key (KSK and ZSK), Knot only the
    // KSK (not the ZSK that signs the SOA).
    let tags = |z: &str, covers: &str| -> BTreeSet<i64> {
        dnssec(z)["rrsigs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["covers"] == covers)
            .map(|s| s["key_tag"].as_i64().unwrap())
            .collect()
    };
    for z in ["signed3.lab.test", "signed30.lab.test"] {
        assert_eq!(tags(z, "DNSKEY").len(), 2, "{z}");
        assert!(tags(z, "SOA").is_subset(&tags(z, "DNSKEY")), "{z}");
    }
    assert_eq!(tags("knot.lab.test", "DNSKEY").len(), 1);
    assert!(tags("knot.lab.test", "SOA").is_disjoint(&tags("knot.lab.test", "DNSKEY")));
    for z in ["plain.lab.test", "stale.lab.test", "knotonly.lab.test"] {
        let f = dnssec(z);
        assert_eq!(
            (&f["checked"], &f["present"], &f["dnskey_count"]),
            (&json!(true), &json!(false), &json!(0)),
            "{z}: {f:#}"
        );
    }

    // Delegation: two names on two /24s; BIND refuses recursion, Knot answers example.com
    // authoritatively (it serves it): neither is an open resolver.
    for z in BIND_ZONES {
        let f = zone(&report, z);
        assert_eq!(
            f["ns"]["names"],
            json!(["ns1.lab.test", "ns2.lab.test"]),
            "{z}"
        );
        assert_eq!(f["ns"]["same_network"], false, "{z}");
        assert_eq!(f["ns"]["lame"], false, "{z}");
        let serials: Vec<i64> = f["soa"]["serials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["serial"].as_i64().unwrap())
            .collect();
        assert_eq!(serials.len(), 2, "{z}: {f:#}");
        assert_eq!(serials[0], serials[1], "{z}: {f:#}");
        assert_eq!(f["soa"]["serial"], serials[0], "{z}: {f:#}");
        let rec: Vec<&str> = f["recursion"]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["result"].as_str().unwrap())
            .collect();
        assert_eq!(
            rec,
            ["REFUSED ra=0 aa=0 answers=0", "NOERROR ra=0 aa=1 answers=1"],
            "{z}"
        );
        let axfr: Vec<(&str, bool)> = f["axfr"]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["result"].as_str().unwrap(),
                    a["allowed"].as_bool().unwrap(),
                )
            })
            .collect();
        let bind_axfr = if z == "plain.lab.test" {
            ("NOERROR", true)
        } else {
            ("REFUSED", false)
        };
        assert_eq!(axfr, [bind_axfr, ("NOTAUTH", false)], "{z}");
    }
    let stale = zone(&report, "stale.lab.test");
    assert_eq!(
        stale["soa"]["serials"],
        json!([
            {"server": "ns1.lab.test", "address": "127.0.0.1", "serial": 5},
            {"server": "ns2.lab.test", "address": "127.1.0.1", "serial": 4},
        ]),
        "{stale:#}"
    );
    let allowed: Vec<bool> = stale["axfr"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(
        allowed,
        [true, true],
        "BIND and Knot both transfer it: {stale:#}"
    );
    let knot_zone = zone(&report, "knot.lab.test");
    assert_eq!(knot_zone["axfr"]["attempts"][0]["allowed"], true);
    assert_eq!(knot_zone["axfr"]["attempts"][1]["result"], "NOTAUTH");
    assert_eq!(knot_zone["dmarc"]["p"], "quarantine");
    assert_eq!(knot_zone["dmarc"]["pct"], 50);
    let knotonly = zone(&report, "knotonly.lab.test");
    assert_eq!(
        knotonly["ns"]["lame_servers"],
        json!(["ns1.lab.test"]),
        "{knotonly:#}"
    );

    // Mail and names: the records as BIND serves them (the big TXT RRset after the TCP retry).
    let policy = zone(&report, "policy.lab.test");
    assert_eq!(policy["spf"]["record"], "v=spf1 ip4:192.0.2.0/24 -all");
    assert_eq!(policy["spf"]["records_found"], 1);
    assert_eq!(policy["mx"]["null_mx"], true);
    assert_eq!(policy["caa"]["found_at"], "policy.lab.test");
    let plain = zone(&report, "plain.lab.test");
    assert_eq!(plain["spf"]["all"], "+all", "{plain:#}");
    assert_eq!(plain["dmarc"]["p"], "none", "{plain:#}");
    assert_eq!(plain["mx"]["accepts_mail"], true, "{plain:#}");
    assert_eq!(plain["wildcard"]["present"], false, "{plain:#}");
    let shop = zone(&report, "shop.plain.lab.test");
    assert_eq!(shop["cname"]["target"], "gone.nowhere.test", "{shop:#}");
    assert_eq!(shop["cname"]["status"], "dangling", "{shop:#}");
    let www = zone(&report, "www.plain.lab.test");
    assert_eq!(www["cname"]["status"], "resolves", "{www:#}");
    assert!(!dns_ids_by_endpoint(&report).contains_key("www.plain.lab.test"));
}

/// The same zones asked through the BIND resolver and of the BIND primary directly (an
/// authoritative server answers RD questions about its own zones authoritatively): the same
/// findings and facts, except for the zone the primary does not serve, where it answers with
/// the referral from `test` and posture says so instead of judging the zone.
#[test]
fn bind_resolver_and_bind_primary_give_the_same_verdicts() {
    let lab = Lab::start();
    let via_resolver = lab.scan(&SCANNED, lab.resolver_port, lab.ns_port);
    let direct = lab.scan(&SCANNED, lab.ns_port, lab.ns_port);

    let mut want = dns_ids_by_endpoint(&via_resolver);
    assert_eq!(want, expected_findings(), "{via_resolver:#}");
    want.remove("knotonly.lab.test");
    assert_eq!(dns_ids_by_endpoint(&direct), want, "{direct:#}");

    // The facts, zone by zone (the wildcard probe name is random; whole days left on a
    // signature may differ by one between the two scans when its lifetime is a whole number of
    // days, as BIND's default policy signs: the `expires` instants must match; everything
    // else must match).
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["wildcard"]["probe_name"] = Value::Null;
        v["dnssec"]["min_days_left"] = Value::Null;
        if let Some(sigs) = v["dnssec"]["rrsigs"].as_array_mut() {
            for sig in sigs {
                sig["days_left"] = Value::Null;
            }
        }
        v
    };
    for z in SCANNED.iter().filter(|z| **z != "knotonly.lab.test") {
        assert_eq!(
            strip(zone(&direct, z)),
            strip(zone(&via_resolver, z)),
            "{z}"
        );
    }
    for n in ["shop.plain.lab.test", "www.plain.lab.test"] {
        assert_eq!(zone(&direct, n), zone(&via_resolver, n), "{n}");
    }
    let incomplete: Vec<(&str, &str)> = direct["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["stage"].as_str().unwrap(),
                i["endpoint"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(incomplete, [("dns", "knotonly.lab.test")], "{direct:#}");
    let reason = zone(&direct, "knotonly.lab.test")["errors"].to_string();
    assert!(reason.contains("referred"), "{reason}");
}

/// `open.lab.test` is served by the BIND resolver itself (`recursion yes; allow-recursion
/// { any; }`): an authoritative answer for its own zone, and example.com resolved for anyone.
/// Scanned with `--ns-port` = the resolver's port; the same zone checks against the `recursion
/// no` primary (main scan) found it closed.
#[test]
fn bind_open_resolver_is_flagged_and_closed_servers_are_not() {
    let lab = Lab::start();
    let res: SocketAddr = ([127, 0, 0, 1], lab.resolver_port).into();
    let direct = udp(res, "example.com", RecordType::A, true, false).unwrap();
    assert_eq!(direct.metadata.response_code, ResponseCode::NoError);
    assert!(direct.metadata.recursion_available && !direct.metadata.authoritative);
    assert_eq!(direct.answers.len(), 1);
    // A name nobody serves fails on loopback: the lab's root says NXDOMAIN.
    let nx = udp(res, "nothing.invalid", RecordType::A, true, false).unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);

    let report = lab.scan(&["open.lab.test"], lab.resolver_port, lab.resolver_port);
    let mut want = BTreeMap::new();
    // One nameserver (one network), unsigned, BIND's default allow-transfer, open recursion.
    want.insert(
        "open.lab.test".to_string(),
        set(&[
            "dns.axfr.open",
            "dns.dnssec.missing",
            "dns.ns.same-network",
            "dns.ns.single",
            "dns.recursion.open",
        ]),
    );
    // The subdomains file is read in every scan: the dangling alias is there too.
    want.insert(
        "shop.plain.lab.test".to_string(),
        set(&["dns.cname.dangling"]),
    );
    assert_eq!(dns_ids_by_endpoint(&report), want, "{report:#}");
    let open = zone(&report, "open.lab.test");
    assert_eq!(open["complete"], true, "{open:#}");
    assert_eq!(open["ns"]["lame"], false, "{open:#}");
    assert_eq!(
        open["recursion"]["tests"],
        json!([{
            "server": "ns.open.lab.test",
            "address": "127.0.0.1",
            "open": true,
            "result": "NOERROR ra=1 aa=0 answers=1",
        }]),
        "{open:#}"
    );
}

/// `drift.lab.test`: BIND (ns1) serves the zone re-signed for 30 days; Knot (ns2) still serves
/// the previous serial, whose RRSIGs on SOA and DNSKEY expire in under 3 days (a secondary that
/// stopped transferring: the cause the `dns.dnssec.expiring` remediation itself names). Every
/// validating resolver that asks ns2 in three days' time gets bogus answers, so the zone's
/// signatures *do* expire soon, whichever nameserver posture happens to sort first.
#[test]
fn expiring_signatures_on_a_lagging_secondary_are_found() {
    let lab = Lab::start();
    // What each nameserver serves, independently of posture.
    let expiry = |server: SocketAddr| -> u32 {
        let m = udp(server, "drift.lab.test", RecordType::SOA, false, true).unwrap();
        // RRSIG RDATA (RFC 4034 §3.1): the expiration is the 32-bit field at offset 8.
        let bytes = m
            .answers
            .iter()
            .find_map(|r| match &r.data {
                RData::Unknown { code, rdata } if u16::from(*code) == 46 => {
                    Some(rdata.anything.clone())
                }
                _ => None,
            })
            .expect("an RRSIG on the SOA");
        u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = |server| (i64::from(expiry(server)) - now as i64).div_euclid(86_400);
    assert_eq!(left(lab.bind()), 29);
    assert_eq!(left(lab.knot()), 2);

    let report = lab.scan(&["drift.lab.test"], lab.resolver_port, lab.ns_port);
    let f = zone(&report, "drift.lab.test");
    assert_eq!(f["complete"], true, "{f:#}");
    let ids = dns_ids_by_endpoint(&report);
    assert_eq!(
        ids.get("drift.lab.test"),
        Some(&set(&["dns.dnssec.expiring", "dns.soa.serial-mismatch"])),
        "{f:#}"
    );
    assert_eq!(f["dnssec"]["min_days_left"], 2, "{f:#}");
    // Each nameserver's signatures, tagged with the server that served them.
    let by_server: BTreeSet<(String, i64)> = f["dnssec"]["rrsigs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{} {}",
                    s["server"].as_str().unwrap(),
                    s["address"].as_str().unwrap()
                ),
                s["days_left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_server,
        BTreeSet::from([
            ("ns1.lab.test 127.0.0.1".to_string(), 29),
            ("ns2.lab.test 127.1.0.1".to_string(), 2),
        ]),
        "{f:#}"
    );
    assert_eq!(f["dnssec"]["present"], true, "{f:#}");
    assert_eq!(f["dnssec"]["unsigned_servers"], json!([]), "{f:#}");
}
