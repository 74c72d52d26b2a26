//! posture against PowerDNS Authoritative (bind backend, its own DNSSEC), and through dnsmasq and
//! the PowerDNS Recursor in front of it, all on loopback, set up the way Debian admins run them:
//!
//! * **PowerDNS Authoritative** (`pdns_server --daemon=no --guardian=no`, `launch=bind` with a
//!   `bind-dnssec-db`), listening on 127.0.0.1:P and 127.1.0.1:P (the zone's two nameservers,
//!   in two /24s). It serves `test`, `lab.test` (whose `_dmarc` is the organisational policy)
//!   and `reports.test`, plus:
//!   - `mail.lab.test`, signed by PowerDNS itself (`pdnsutil secure-zone`: one ECDSA CSK,
//!     RRSIGs made on the fly that expire two weeks after the start of the current week),
//!     closed to transfers (`allow-axfr-ips=` empty), and holding one name per mail-DNS edge case
//!     (SPF RFC 7208, DMARC RFC 7489, CAA RFC 8659, MX RFC 2181/7505), scanned as `[[domain]]`
//!     names inside the zone; an `ALIAS` record (`expand-alias=yes`, `resolver=` itself);
//!   - `open.lab.test`, unsigned, transfers allowed by the zone's `ALLOW-AXFR-FROM` metadata,
//!     with a dangling alias only a transfer reveals;
//!   - `presigned.lab.test`, signed by `dnssec-signzone` with 3-day signatures and served
//!     `PRESIGNED`.
//! * **dnsmasq** (`--no-daemon --no-resolv --no-hosts --server=/test/127.0.0.1#P`) and the
//!   **PowerDNS Recursor** (`forward-zones` for every lab zone, a negative trust anchor for the
//!   private `test` TLD, root hints that point nowhere reachable) as `--resolver`.
//!
//! What PowerDNS answers differently from BIND and NSD is checked independently of posture
//! (`dig @127.0.0.1 -p P …` shows the same): a refused transfer is NOTAUTH (BIND says REFUSED),
//! a name outside its zones is REFUSED without AA, the question's case is echoed, an ALIAS is
//! answered as an address (and its NODATA carries no SOA). Debian: `apt-get install pdns-server
//! pdns-backend-bind pdns-backend-sqlite3 pdns-recursor dnsmasq-base bind9-utils`.

use crate::support::dns_wire::{auth_serial, port_free, tcp, udp};
use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{scan, subjects};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run a helper program (pdnsutil, dnssec-keygen, dnssec-signzone) in `dir`; its stdout.
fn run_tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
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

/// The RRSIG records (type 46, left undecoded by hickory without its dnssec feature) of the
/// answer section: their RDATA.
fn rrsigs(m: &Message) -> Vec<Vec<u8>> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::Unknown { code, rdata } if u16::from(*code) == 46 => {
                Some(rdata.anything.clone())
            }
            _ => None,
        })
        .collect()
}

/// RRSIG RDATA (RFC 4034 §3.1): the 32-bit signature expiration at offset 8.
fn rrsig_expiration(rdata: &[u8]) -> i64 {
    i64::from(u32::from_be_bytes([
        rdata[8], rdata[9], rdata[10], rdata[11],
    ]))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// The lab.

fn soa_ns(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.
$TTL 300
@ IN SOA ns1.lab.test. hostmaster.lab.test. {serial} 3600 600 86400 300
@ IN NS ns1.lab.test.
@ IN NS ns2.lab.test.
"
    )
}

const TEST_ZONE: &str = "lab IN NS ns1.lab.test.
lab IN NS ns2.lab.test.
reports IN NS ns1.lab.test.
reports IN NS ns2.lab.test.
";

const LAB_ZONE: &str = "ns1 IN A 127.0.0.1
ns2 IN A 127.1.0.1
_dmarc IN TXT \"v=DMARC1; p=reject\"
mail IN NS ns1
mail IN NS ns2
open IN NS ns1
open IN NS ns2
presigned IN NS ns1
presigned IN NS ns2
";

/// `<domain>._report._dmarc.reports.test`: reports.test accepts dmarc-ext-ok's reports only.
const REPORTS_ZONE: &str = "dmarc-ext-ok.mail.lab.test._report._dmarc IN TXT \"v=DMARC1\"\n";

/// One name per edge case; the apex is clean (SPF -all, DMARC reject, CAA, null MX).
const MAIL_ZONE: &str = r#"@ IN TXT "v=spf1 -all"
_dmarc IN TXT "v=DMARC1; p=reject"
@ IN CAA 0 issue "letsencrypt.org"
@ IN MX 0 .
; hosts the SPF mechanisms and MX records point at, and included/redirected policies
mxhost IN A 127.0.0.1
h1 IN A 192.0.2.1
h2 IN A 192.0.2.2
h3 IN A 192.0.2.3
h4 IN A 192.0.2.4
h5 IN A 192.0.2.5
h6 IN A 192.0.2.6
h7 IN A 192.0.2.7
h8 IN A 192.0.2.8
h9 IN A 192.0.2.9
h10 IN A 192.0.2.10
nospf IN TXT "hello world"
_inc IN TXT "v=spf1 ip4:192.0.2.1 -all"
_r1 IN TXT "v=spf1 redirect=_r2.mail.lab.test"
_r2 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_d1 IN TXT "v=spf1 include:_d3.mail.lab.test -all"
_d2 IN TXT "v=spf1 include:_d3.mail.lab.test -all"
_d3 IN TXT "v=spf1 ip4:192.0.2.1 -all"
; SPF (RFC 7208)
redirect IN TXT "v=spf1 redirect=_r1.mail.lab.test"
redirect-nospf IN TXT "v=spf1 redirect=nospf.mail.lab.test"
include-nospf IN TXT "v=spf1 include:nospf.mail.lab.test -all"
include-nx IN TXT "v=spf1 include:nx.mail.lab.test -all"
void2 IN TXT "v=spf1 a:gone1.mail.lab.test mx:gone2.mail.lab.test -all"
void3 IN TXT "v=spf1 a:gone1.mail.lab.test a:gone2.mail.lab.test mx:gone3.mail.lab.test -all"
void-nospf IN TXT "v=spf1 a:gone1.mail.lab.test a:gone2.mail.lab.test include:nospf.mail.lab.test -all"
ten IN TXT "v=spf1 a:h1.mail.lab.test a:h2.mail.lab.test a:h3.mail.lab.test a:h4.mail.lab.test a:h5.mail.lab.test a:h6.mail.lab.test a:h7.mail.lab.test a:h8.mail.lab.test a:h9.mail.lab.test include:_inc.mail.lab.test -all"
eleven IN TXT "v=spf1 a:h1.mail.lab.test a:h2.mail.lab.test a:h3.mail.lab.test a:h4.mail.lab.test a:h5.mail.lab.test a:h6.mail.lab.test a:h7.mail.lab.test a:h8.mail.lab.test a:h9.mail.lab.test a:h10.mail.lab.test include:_inc.mail.lab.test -all"
exists IN TXT "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all"
two IN TXT "v=spf1 -all"
two IN TXT "v=spf1 ip4:192.0.2.1 -all"
split IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:198.51" ".100.0/24 -all"
case IN TXT "V=SPF1 IP4:192.0.2.1 -ALL"
neutral IN TXT "v=spf1 ?all"
soft IN TXT "v=spf1 ~all"
pass IN TXT "v=spf1 +all"
diamond IN TXT "v=spf1 include:_d1.mail.lab.test include:_d2.mail.lab.test -all"
; DMARC (RFC 7489)
dmarc-two IN TXT "v=spf1 -all"
_dmarc.dmarc-two IN TXT "v=DMARC1; p=reject"
_dmarc.dmarc-two IN TXT "v=DMARC1; p=none"
dmarc-pct IN TXT "v=spf1 -all"
_dmarc.dmarc-pct IN TXT "v=DMARC1; p=quarantine; pct=10"
dmarc-sp IN TXT "v=spf1 -all"
_dmarc.dmarc-sp IN TXT "v=DMARC1; p=reject; sp=none"
dmarc-syntax IN TXT "v=spf1 -all"
_dmarc.dmarc-syntax IN TXT "v=DMARC1; p=rejct"
dmarc-bad-sp IN TXT "v=spf1 -all"
_dmarc.dmarc-bad-sp IN TXT "v=DMARC1; p=reject; sp=bogus"
dmarc-bad-sp-rua IN TXT "v=spf1 -all"
_dmarc.dmarc-bad-sp-rua IN TXT "v=DMARC1; p=reject; sp=bogus; rua=mailto:agg@mail.lab.test"
Dmarc-Upper IN TXT "v=spf1 -all"
_DMARC.Dmarc-Upper IN TXT "v=DMARC1; P=Quarantine; SP=Reject; PCT=100"
dmarc-ext-ok IN TXT "v=spf1 -all"
_dmarc.dmarc-ext-ok IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reports.test"
dmarc-ext-no IN TXT "v=spf1 -all"
_dmarc.dmarc-ext-no IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reports.test"
; CAA (RFC 8659)
critical IN TXT "v=spf1 -all"
critical IN CAA 128 tbs "unknown"
critical IN CAA 0 issue "letsencrypt.org"
nowild IN TXT "v=spf1 -all"
nowild IN CAA 0 issue "letsencrypt.org"
nowild IN CAA 0 issuewild ";"
caa-up IN CAA 0 issue "ca.example"
deep.caa-up IN TXT "v=spf1 -all"
alias IN CNAME target
target IN TXT "v=spf1 -all"
target IN CAA 0 issue "pki.example"
; MX (RFC 2181 10.3, RFC 7505) and PowerDNS ALIAS
mx-cname IN TXT "v=spf1 -all"
mx-cname IN MX 10 mxcname
mxcname IN CNAME mxhost
mx-nullmix IN TXT "v=spf1 -all"
mx-nullmix IN MX 0 .
mx-nullmix IN MX 10 mxhost
mx-alias IN TXT "v=spf1 -all"
mx-alias IN MX 10 mxalias
mxalias IN ALIAS mxhost.mail.lab.test.
"#;

const OPEN_ZONE: &str = "@ IN TXT \"v=spf1 mx -all\"
_dmarc IN TXT \"v=DMARC1; p=none\"
@ IN MX 10 mx
mx IN A 127.0.0.1
shop IN CNAME gone.nowhere.test.
";

const CLEAN_MAIL: &str = "@ IN TXT \"v=spf1 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject\"
@ IN CAA 0 issue \"letsencrypt.org\"
@ IN MX 0 .
";

/// Every lab zone a resolver must forward to PowerDNS (the Recursor treats a forwarder as the
/// zone's server and follows the NS records it learns, so each zone is forwarded by name).
const FORWARDED: [&str; 6] = [
    "test",
    "lab.test",
    "reports.test",
    "mail.lab.test",
    "open.lab.test",
    "presigned.lab.test",
];

struct Lab {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// PowerDNS on 127.0.0.1 and 127.1.0.1 (ns1 and ns2).
    ns_port: u16,
    /// dnsmasq and the PowerDNS Recursor on 127.0.0.1, when started.
    dnsmasq_port: u16,
    recursor_port: u16,
    /// A Recursor that forwards only `test` (the naive setup), when started.
    naive_port: u16,
    _servers: Vec<Server>,
}

#[derive(Clone, Copy, PartialEq)]
enum Resolvers {
    None,
    All,
}

impl Lab {
    fn logs(dir: &Path) -> String {
        ["pdns/out", "dnsmasq.out", "rec/out", "naive/out"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn start(resolvers: Resolvers) -> Lab {
        let pdns = binary(&["/usr/sbin/pdns_server"], "pdns-server");
        let pdnsutil = binary(&["/usr/bin/pdnsutil"], "pdns-server");
        let keygen = binary(
            &["/usr/bin/dnssec-keygen", "/usr/sbin/dnssec-keygen"],
            "bind9-utils",
        );
        let signzone = binary(
            &["/usr/bin/dnssec-signzone", "/usr/sbin/dnssec-signzone"],
            "bind9-utils",
        );
        assert!(
            Path::new("/usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so").exists()
                || Path::new("/usr/lib/aarch64-linux-gnu/pdns/libbindbackend.so").exists(),
            "apt-get install pdns-backend-bind"
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let p_dir = dir.join("pdns");
        std::fs::create_dir(&p_dir).unwrap();
        let ns_port = (0..50)
            .map(|_| free_port())
            .find(|&p| port_free("127.0.0.1", p) && port_free("127.1.0.1", p))
            .expect("a port free on 127.0.0.1 and 127.1.0.1");
        let p = ns_port;

        // --- zones
        let write = |name: &str, text: String| std::fs::write(p_dir.join(name), text).unwrap();
        write("test.zone", soa_ns("test", 1) + TEST_ZONE);
        write("lab.test.zone", soa_ns("lab.test", 1) + LAB_ZONE);
        write(
            "reports.test.zone",
            soa_ns("reports.test", 1) + REPORTS_ZONE,
        );
        write(
            "mail.lab.test.zone",
            soa_ns("mail.lab.test", 2024070101) + MAIL_ZONE,
        );
        let mut mail = std::fs::read_to_string(p_dir.join("mail.lab.test.zone")).unwrap();
        // Nine TXT records (SPF and eight verification tokens): 1791 bytes, more than any UDP
        // answer may carry here, so every server sets TC and posture asks again over TCP.
        for i in 0..8 {
            mail.push_str(&format!(
                "big IN TXT \"site-verification-{i}={}\"\n",
                format!("{i}").repeat(180)
            ));
        }
        mail.push_str("big IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n");
        write("mail.lab.test.zone", mail);
        write("open.lab.test.zone", soa_ns("open.lab.test", 7) + OPEN_ZONE);
        write(
            "presigned.lab.test.zone",
            soa_ns("presigned.lab.test", 2024070201) + CLEAN_MAIL,
        );
        // Presigned: KSK + ZSK, signatures expiring an hour short of 3 days from now.
        for k in [
            &["-a", "ECDSAP256SHA256", "-f", "KSK"][..],
            &["-a", "ECDSAP256SHA256"][..],
        ] {
            let mut args: Vec<&str> = vec!["-q", "-K", "."];
            args.extend_from_slice(k);
            args.push("presigned.lab.test");
            run_tool(&p_dir, &keygen, &args);
        }
        run_tool(
            &p_dir,
            &signzone,
            &[
                "-q",
                "-S",
                "-K",
                ".",
                "-o",
                "presigned.lab.test",
                "-f",
                "presigned.lab.test.signed",
                "-e",
                "now+255600",
                "presigned.lab.test.zone",
            ],
        );

        let d = p_dir.display();
        let named_conf: String = [
            ("test", "test.zone"),
            ("lab.test", "lab.test.zone"),
            ("reports.test", "reports.test.zone"),
            ("mail.lab.test", "mail.lab.test.zone"),
            ("open.lab.test", "open.lab.test.zone"),
            ("presigned.lab.test", "presigned.lab.test.signed"),
        ]
        .iter()
        .map(|(z, f)| format!("zone \"{z}\" {{ type master; file \"{d}/{f}\"; }};\n"))
        .collect();
        std::fs::write(p_dir.join("named.conf"), named_conf).unwrap();
        // Debian's pdns.conf (`launch=bind` via pdns.d/bind.conf) plus: no transfers unless a
        // zone's metadata allows them, ALIAS expanded through PowerDNS itself, no security poll.
        std::fs::write(
            p_dir.join("pdns.conf"),
            format!(
                "launch=bind
bind-config={d}/named.conf
bind-dnssec-db={d}/dnssec.db
local-address=127.0.0.1,127.1.0.1
local-port={p}
socket-dir={d}
daemon=no
guardian=no
disable-syslog=yes
security-poll-suffix=
allow-axfr-ips=
expand-alias=yes
resolver=127.0.0.1:{p}
"
            ),
        )
        .unwrap();
        let cfg = format!("--config-dir={d}");
        let dbfile = format!("{d}/dnssec.db");
        run_tool(&p_dir, &pdnsutil, &[&cfg, "create-bind-db", &dbfile]);
        run_tool(&p_dir, &pdnsutil, &[&cfg, "secure-zone", "mail.lab.test"]);
        run_tool(
            &p_dir,
            &pdnsutil,
            &[&cfg, "set-presigned", "presigned.lab.test"],
        );
        run_tool(
            &p_dir,
            &pdnsutil,
            &[
                &cfg,
                "set-meta",
                "open.lab.test",
                "ALLOW-AXFR-FROM",
                "127.0.0.0/8",
            ],
        );

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
        let mut servers = vec![spawn(&pdns, &[&cfg], "pdns/out")];

        let (mut dnsmasq_port, mut recursor_port, mut naive_port) = (0, 0, 0);
        if resolvers == Resolvers::All {
            let dnsmasq = binary(&["/usr/sbin/dnsmasq"], "dnsmasq-base");
            let recursor = binary(&["/usr/sbin/pdns_recursor"], "pdns-recursor");
            let mut ports = (0..60)
                .map(|_| free_port())
                .filter(|&q| q != p && port_free("127.0.0.1", q));
            dnsmasq_port = ports.next().expect("a free port");
            recursor_port = ports.find(|&q| q != dnsmasq_port).expect("a free port");
            naive_port = ports
                .find(|&q| q != dnsmasq_port && q != recursor_port)
                .expect("a free port");
            servers.push(spawn(
                &dnsmasq,
                &[
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    &format!("--port={dnsmasq_port}"),
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    &format!("--server=/test/127.0.0.1#{p}"),
                    &format!("--pid-file={}/dnsmasq.pid", dir.display()),
                ],
                "dnsmasq.out",
            ));
            for (sub, port, zones) in [
                ("rec", recursor_port, &FORWARDED[..]),
                ("naive", naive_port, &FORWARDED[..1]),
            ] {
                let r_dir = dir.join(sub);
                std::fs::create_dir(&r_dir).unwrap();
                // Root hints that lead nowhere: 127/8 is in the default `dont-query`, so the
                // Recursor never sends a packet for anything it does not forward.
                std::fs::write(
                    r_dir.join("root.hints"),
                    ". 3600000 IN NS a.root.test.\na.root.test. 3600000 IN A 127.0.0.99\n",
                )
                .unwrap();
                // `test` is a private TLD: no DS chain from the root, so validation would fail.
                std::fs::write(
                    r_dir.join("recursor.lua"),
                    "addNTA(\"test\", \"private lab TLD\")\n",
                )
                .unwrap();
                let forward: Vec<String> =
                    zones.iter().map(|z| format!("{z}=127.0.0.1:{p}")).collect();
                let rd = r_dir.display();
                servers.push(spawn(
                    &recursor,
                    &[
                        "--daemon=no",
                        &format!("--config-dir={rd}"),
                        &format!("--socket-dir={rd}"),
                        "--local-address=127.0.0.1",
                        &format!("--local-port={port}"),
                        &format!("--forward-zones={}", forward.join(",")),
                        &format!("--hint-file={rd}/root.hints"),
                        &format!("--lua-config-file={rd}/recursor.lua"),
                        "--security-poll-suffix=",
                        "--threads=1",
                        "--disable-syslog",
                    ],
                    &format!("{sub}/out"),
                ));
            }
        }

        // Ready when PowerDNS serves every zone on both addresses and each resolver answers
        // for the signed zone: at most 100 tries of ~100 ms.
        let ns1: SocketAddr = ([127, 0, 0, 1], p).into();
        let ns2: SocketAddr = ([127, 1, 0, 1], p).into();
        let mut ready = false;
        for _ in 0..100 {
            for s in servers.iter_mut() {
                if let Ok(Some(status)) = s.0.try_wait() {
                    panic!("a server exited early: {status}\n{}", Lab::logs(&dir));
                }
            }
            let mut ok = FORWARDED
                .iter()
                .all(|z| auth_serial(ns1, z).is_some() && auth_serial(ns2, z).is_some());
            for port in [dnsmasq_port, recursor_port, naive_port] {
                if port != 0 {
                    let r: SocketAddr = ([127, 0, 0, 1], port).into();
                    ok &= udp(r, "mail.lab.test", RecordType::SOA, true, false)
                        .is_some_and(|m| m.answers.len() == 1);
                }
            }
            if ok {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ready, "lab not ready:\n{}", Lab::logs(&dir));
        Lab {
            _tmp: tmp,
            dir,
            ns_port,
            dnsmasq_port,
            recursor_port,
            naive_port,
            _servers: servers,
        }
    }

    fn ns1(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.ns_port).into()
    }

    fn at(&self, port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    /// posture over `domains` with `--resolver 127.0.0.1:resolver` and `--ns-port` PowerDNS's.
    fn scan(&self, domains: &[String], resolver: u16) -> Value {
        let config = self
            .dir
            .join(format!("posture-{resolver}-{}.toml", domains.len()));
        std::fs::write(
            &config,
            domains
                .iter()
                .map(|z| format!("[[domain]]\nname = \"{z}\"\n\n"))
                .collect::<String>(),
        )
        .unwrap();
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
                &self.ns_port.to_string(),
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
    ids.iter().map(|s| format!("dns.{s}")).collect()
}

/// `label.mail.lab.test` for each label.
fn mail_names(labels: &[&str]) -> Vec<String> {
    labels
        .iter()
        .map(|l| format!("{l}.mail.lab.test"))
        .collect()
}

/// The zones scanned as zones.
const ZONES: [&str; 3] = ["mail.lab.test", "open.lab.test", "presigned.lab.test"];

/// Every edge case posture judges right, with the rule ids that are true of it. A name inside
/// the signed, closed `mail.lab.test` inherits its nameservers, transfers and DNSSEC, its CAA
/// (unless it has its own) and the organisational DMARC policy of `lab.test` (p=reject).
fn mail_cases() -> Vec<(&'static str, BTreeSet<String>)> {
    let mx_broken = set(&["mx.invalid", "mta-sts.missing", "tls-rpt.missing"]);
    vec![
        // SPF: a redirect chain ending in -all (RFC 7208 §6.1: the target's result applies).
        ("redirect", set(&[])),
        // include: of a name whose TXT holds no SPF record, or that does not exist: permerror
        // (RFC 7208 §5.2).
        ("include-nospf", set(&["spf.invalid"])),
        ("include-nx", set(&["spf.invalid"])),
        // Void lookups (NXDOMAIN / empty answers): two are allowed, a third is permerror
        // (RFC 7208 §4.6.4).
        ("void2", set(&[])),
        ("void3", set(&["spf.too-many-lookups"])),
        // Exactly 10 DNS-querying terms is allowed; 11 is permerror (§4.6.4).
        ("ten", set(&[])),
        ("eleven", set(&["spf.too-many-lookups"])),
        // exists: with macros (%{ir}, %{l1r+-}, %{d}) is one lookup, valid (§5.7, §7).
        ("exists", set(&[])),
        // Two v=spf1 records: permerror (§4.5).
        ("two", set(&["spf.invalid"])),
        // One record in two strings, concatenated without a space (§3.3).
        ("split", set(&[])),
        // Version and mechanisms are case-insensitive (§4.5, §4.6.1).
        ("case", set(&[])),
        // ?all (neutral) and +all let any host pass or go unjudged; ~all does not.
        ("neutral", set(&["spf.permissive"])),
        ("soft", set(&[])),
        ("pass", set(&["spf.permissive"])),
        // The SPF record among nine TXT records too big for UDP (TC, then TCP).
        ("big", set(&[])),
        // DMARC: two records, none applies (RFC 7489 §6.6.3), and no fallback to lab.test.
        ("dmarc-two", set(&["dmarc.missing"])),
        // quarantine for 10% of failing mail.
        ("dmarc-pct", set(&["dmarc.weak"])),
        // No valid p and no rua: no DMARC processing (§6.6.3).
        ("dmarc-syntax", set(&["dmarc.missing"])),
        // Tag names and values in upper case (the §6.4 ABNF literals are case-insensitive),
        // served under a mixed-case owner name.
        ("dmarc-upper", set(&[])),
        // rua outside the organisational domain, authorised (§7.1) or not.
        ("dmarc-ext-ok", set(&[])),
        ("dmarc-ext-no", set(&["dmarc.unauthorized-report"])),
        // CAA: an unknown critical property, issuewild ";", the RRset found at a parent, and
        // the RRset of an alias target (RFC 8659 §3, §4.1, §4.3).
        ("critical", set(&[])),
        ("nowild", set(&[])),
        ("deep.caa-up", set(&[])),
        ("alias", set(&[])),
        // MX at an alias (RFC 2181 §10.3), null MX mixed with another (RFC 7505 §3): broken,
        // and mail is accepted (the real MX) without MTA-STS or TLS-RPT.
        ("mx-cname", mx_broken.clone()),
        ("mx-nullmix", mx_broken),
        // MX at a PowerDNS ALIAS: answered with the target's address, no CNAME: valid.
        ("mx-alias", set(&["mta-sts.missing", "tls-rpt.missing"])),
    ]
}

/// Edge cases with a test of their own below (each was a posture bug, RFC 7208/7489): the
/// resolver comparison only requires the same verdicts for them.
const OWN_TEST_CASES: [&str; 6] = [
    "diamond",
    "redirect-nospf",
    "void-nospf",
    "dmarc-sp",
    "dmarc-bad-sp",
    "dmarc-bad-sp-rua",
];

fn expected_zone_findings() -> BTreeMap<String, BTreeSet<String>> {
    let mut want = BTreeMap::new();
    // mail.lab.test (signed by PowerDNS, closed to transfers, clean mail policies): nothing.
    // open.lab.test: unsigned, open to transfers, p=none, no CAA anywhere up to `test`, and it
    // accepts mail without MTA-STS or TLS-RPT.
    want.insert(
        "open.lab.test".to_string(),
        set(&[
            "axfr.open",
            "caa.missing",
            "dmarc.weak",
            "dnssec.missing",
            "mta-sts.missing",
            "tls-rpt.missing",
        ]),
    );
    // Learnt from the transfer: an alias to a name that does not exist.
    want.insert("shop.open.lab.test".to_string(), set(&["cname.dangling"]));
    // dnssec-signzone signatures with under 3 days left, served as they are.
    want.insert("presigned.lab.test".to_string(), set(&["dnssec.expiring"]));
    want
}

fn expected_findings() -> BTreeMap<String, BTreeSet<String>> {
    let mut want = expected_zone_findings();
    for (label, ids) in mail_cases() {
        if !ids.is_empty() {
            want.insert(format!("{label}.mail.lab.test"), ids);
        }
    }
    want
}

fn good_domains() -> Vec<String> {
    let labels: Vec<&str> = mail_cases().iter().map(|(l, _)| *l).collect();
    let mut d: Vec<String> = ZONES.iter().map(|z| z.to_string()).collect();
    d.extend(mail_names(&labels));
    d
}

#[test]
fn powerdns_zones_and_mail_edge_cases_fire_exactly_their_dns_rules() {
    let lab = Lab::start(Resolvers::None);
    let ns1 = lab.ns1();

    // What PowerDNS says, independently of posture.
    // A transfer it does not allow: NOTAUTH (BIND answers REFUSED); the open zone: SOA first.
    let closed = tcp(ns1, "mail.lab.test", RecordType::AXFR, false).expect("AXFR answer");
    assert_eq!(closed.metadata.response_code, ResponseCode::NotAuth);
    let open = tcp(ns1, "open.lab.test", RecordType::AXFR, false).expect("AXFR answer");
    assert_eq!(open.metadata.response_code, ResponseCode::NoError);
    assert_eq!(open.answers[0].record_type(), RecordType::SOA);
    // No recursion, and a name outside its zones is REFUSED without AA or RA.
    for name in ["example.com", "nothing.invalid"] {
        let m = udp(ns1, name, RecordType::A, true, false).unwrap();
        assert_eq!(
            (
                m.metadata.response_code,
                m.metadata.authoritative,
                m.metadata.recursion_available
            ),
            (ResponseCode::Refused, false, false),
            "{name}"
        );
    }
    // The question's case is echoed in the answer; the mixed-case owner in the zone file
    // answers a lower-case question.
    let mixed = udp(ns1, "MaIl.LaB.TeSt", RecordType::TXT, false, false).unwrap();
    assert!(mixed.metadata.authoritative);
    assert_eq!(mixed.answers[0].name.to_ascii(), "MaIl.LaB.TeSt.");
    let upper = udp(
        ns1,
        "_dmarc.dmarc-upper.mail.lab.test",
        RecordType::TXT,
        false,
        false,
    )
    .unwrap();
    assert_eq!(upper.answers.len(), 1, "{upper:?}");
    // 1791 bytes of TXT: TC and an empty answer over UDP, the whole RRset over TCP.
    let big = udp(ns1, "big.mail.lab.test", RecordType::TXT, false, false).unwrap();
    assert!(big.metadata.truncation && big.answers.is_empty(), "{big:?}");
    let big = tcp(ns1, "big.mail.lab.test", RecordType::TXT, false).unwrap();
    assert_eq!(big.answers.len(), 9);
    // ALIAS: an address (from PowerDNS's own answer for the target), no CNAME; its NODATA
    // carries no SOA.
    let alias = udp(ns1, "mxalias.mail.lab.test", RecordType::A, false, false).unwrap();
    let kinds: Vec<RecordType> = alias.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(kinds, [RecordType::A], "{alias:?}");
    let v6 = udp(ns1, "mxalias.mail.lab.test", RecordType::AAAA, false, false).unwrap();
    assert_eq!(v6.metadata.response_code, ResponseCode::NoError);
    assert!(v6.answers.is_empty() && v6.authorities.is_empty(), "{v6:?}");
    // Live signing: RRSIGs expire two weeks after the start of the current week (Thursday
    // 00:00 UTC, as weeks count from the epoch).
    let now = unix_now();
    let soa = udp(ns1, "mail.lab.test", RecordType::SOA, false, true).unwrap();
    let sigs = rrsigs(&soa);
    assert_eq!(sigs.len(), 1, "{soa:?}");
    let pdns_expiry = rrsig_expiration(&sigs[0]);
    let week_start = now - now.rem_euclid(7 * 86_400);
    assert!(
        [week_start, unix_now() - unix_now().rem_euclid(7 * 86_400)]
            .iter()
            .any(|w| pdns_expiry == w + 14 * 86_400),
        "{pdns_expiry} vs week start {week_start}"
    );

    let report = lab.scan(&good_domains(), lab.ns_port);
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    for z in good_domains() {
        let f = zone(&report, &z);
        assert_eq!(f["complete"], true, "{z}: {f:#}");
        assert_eq!(f["errors"], json!([]), "{z}: {f:#}");
        assert_eq!(f["is_zone_apex"], ZONES.contains(&z.as_str()), "{z}");
    }
    assert_eq!(
        dns_ids_by_endpoint(&report),
        expected_findings(),
        "{report:#}"
    );

    // The zones: two nameservers (one PowerDNS on two /24s), the same serial, NOTAUTH for a
    // refused transfer, REFUSED for recursion.
    for z in ZONES {
        let f = zone(&report, z);
        assert_eq!(f["ns"]["names"], json!(["ns1.lab.test", "ns2.lab.test"]));
        assert_eq!(
            (&f["ns"]["same_network"], &f["ns"]["lame"]),
            (&json!(false), &json!(false)),
            "{z}"
        );
        let serials: BTreeSet<i64> = f["soa"]["serials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["serial"].as_i64().unwrap())
            .collect();
        assert_eq!(serials.len(), 1, "{z}: {f:#}");
        let rec: Vec<&str> = f["recursion"]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["result"].as_str().unwrap())
            .collect();
        assert_eq!(rec, ["REFUSED ra=0 aa=0 answers=0"; 2], "{z}");
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
        let want = if z == "open.lab.test" {
            ("NOERROR", true)
        } else {
            ("NOTAUTH", false)
        };
        assert_eq!(axfr, [want; 2], "{z}");
    }
    let open = zone(&report, "open.lab.test");
    assert_eq!(
        open["axfr"]["names"],
        json!([
            "_dmarc.open.lab.test",
            "mx.open.lab.test",
            "open.lab.test",
            "shop.open.lab.test"
        ])
    );
    assert_eq!(open["caa"]["present"], false);
    let shop = zone(&report, "shop.open.lab.test");
    assert_eq!(shop["cname"]["target"], "gone.nowhere.test", "{shop:#}");

    // DNSSEC: PowerDNS's CSK (algorithm 13) on both addresses, expiring as it signs.
    let mail = zone(&report, "mail.lab.test")["dnssec"].clone();
    assert_eq!(
        (
            &mail["present"],
            &mail["dnskey_count"],
            &mail["unsigned_servers"]
        ),
        (&json!(true), &json!(1), &json!([])),
        "{mail:#}"
    );
    let sigs = mail["rrsigs"].as_array().unwrap();
    let seen: BTreeSet<(String, String)> = sigs
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_string(),
                s["covers"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 4, "SOA and DNSKEY from each address: {mail:#}");
    let days = (pdns_expiry - now).div_euclid(86_400);
    assert!((7..=14).contains(&days), "{days}");
    for s in sigs {
        assert_eq!(
            (&s["algorithm"], &s["signer"]),
            (&json!(13), &json!("mail.lab.test"))
        );
        assert!(
            (s["days_left"].as_i64().unwrap() - days).abs() <= 1,
            "{s} vs {days}"
        );
    }
    let pre = zone(&report, "presigned.lab.test")["dnssec"].clone();
    assert_eq!(
        (&pre["present"], &pre["dnskey_count"], &pre["min_days_left"]),
        (&json!(true), &json!(2), &json!(2)),
        "{pre:#}"
    );
    // Names inside the signed zone are signed (their zone's DNSSEC).
    assert_eq!(
        zone(&report, "two.mail.lab.test")["dnssec"]["present"],
        true
    );
    assert_eq!(zone(&report, "two.mail.lab.test")["zone"], "mail.lab.test");

    // SPF facts.
    let spf = |label: &str| zone(&report, &format!("{label}.mail.lab.test"))["spf"].clone();
    for (label, lookups, void, all) in [
        ("redirect", 2, 0, "-all"),
        ("include-nx", 1, 1, "-all"),
        ("void2", 2, 2, "-all"),
        ("void3", 3, 3, "-all"),
        ("ten", 10, 0, "-all"),
        ("eleven", 11, 0, "-all"),
        ("exists", 1, 0, "-all"),
        ("split", 0, 0, "-all"),
        ("case", 0, 0, "-all"),
        ("neutral", 0, 0, "?all"),
        ("soft", 0, 0, "~all"),
        ("pass", 0, 0, "+all"),
        ("big", 0, 0, "-all"),
    ] {
        let s = spf(label);
        assert_eq!(
            (&s["lookups"], &s["void_lookups"], &s["all"]),
            (&json!(lookups), &json!(void), &json!(all)),
            "{label}: {s:#}"
        );
    }
    assert_eq!(
        spf("split")["record"],
        "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"
    );
    assert_eq!(spf("big")["record"], "v=spf1 ip4:192.0.2.0/24 -all");
    assert_eq!(
        (&spf("two")["records_found"], &spf("two")["present"]),
        (&json!(2), &json!(false))
    );
    assert_eq!(
        spf("redirect")["included"],
        json!(["_r1.mail.lab.test", "_r2.mail.lab.test"])
    );

    // DMARC facts.
    let dmarc = |label: &str| zone(&report, &format!("{label}.mail.lab.test"))["dmarc"].clone();
    let d = dmarc("dmarc-pct");
    assert_eq!((&d["p"], &d["pct"]), (&json!("quarantine"), &json!(10)));
    let d = dmarc("dmarc-upper");
    assert_eq!(
        (&d["p"], &d["sp"], &d["pct"], &d["record_name"]),
        (
            &json!("quarantine"),
            &json!("reject"),
            &json!(100),
            &json!("_dmarc.dmarc-upper.mail.lab.test")
        )
    );
    for label in ["dmarc-two", "dmarc-syntax"] {
        let d = dmarc(label);
        assert_eq!(
            (&d["present"], &d["org_domain_used"]),
            (&json!(false), &json!(false)),
            "{label}: no fallback to lab.test: {d:#}"
        );
    }
    let d = dmarc("redirect");
    assert_eq!(
        (&d["present"], &d["org_domain_used"], &d["record_name"]),
        (&json!(true), &json!(true), &json!("_dmarc.lab.test"))
    );
    for (label, authorized) in [("dmarc-ext-ok", true), ("dmarc-ext-no", false)] {
        assert_eq!(
            dmarc(label)["reports"],
            json!([{
                "uri": "mailto:agg@reports.test",
                "domain": "reports.test",
                "external": true,
                "authorized": authorized,
                "checked": true,
            }]),
            "{label}"
        );
    }

    // CAA facts.
    let caa = |label: &str| zone(&report, &format!("{label}.mail.lab.test"))["caa"].clone();
    for (label, found_at, issue, issuewild) in [
        (
            "critical",
            "critical.mail.lab.test",
            json!(["letsencrypt.org"]),
            json!([]),
        ),
        (
            "nowild",
            "nowild.mail.lab.test",
            json!(["letsencrypt.org"]),
            json!([""]),
        ),
        (
            "deep.caa-up",
            "caa-up.mail.lab.test",
            json!(["ca.example"]),
            json!([]),
        ),
        (
            "alias",
            "alias.mail.lab.test",
            json!(["pki.example"]),
            json!([]),
        ),
        (
            "two",
            "mail.lab.test",
            json!(["letsencrypt.org"]),
            json!([]),
        ),
    ] {
        let c = caa(label);
        assert_eq!(
            (&c["present"], &c["found_at"], &c["issue"], &c["issuewild"]),
            (&json!(true), &json!(found_at), &issue, &issuewild),
            "{label}: {c:#}"
        );
    }
    let records: BTreeSet<String> = caa("critical")["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        records,
        BTreeSet::from([
            "0 issue \"letsencrypt.org\"".to_string(),
            "128 tbs \"unknown\"".to_string()
        ])
    );

    // MX facts.
    let mx = |label: &str| zone(&report, &format!("{label}.mail.lab.test"))["mx"].clone();
    let m = mx("mx-cname");
    assert_eq!(m["records"][0]["exchange"], "mxcname.mail.lab.test");
    assert_eq!(
        (&m["records"][0]["is_cname"], &m["accepts_mail"]),
        (&json!(true), &json!(true))
    );
    let m = mx("mx-nullmix");
    assert_eq!(
        (&m["null_mx"], &m["accepts_mail"], &m["problems"]),
        (
            &json!(false),
            &json!(true),
            &json!(["null MX mixed with other MX records (RFC 7505 §3)"])
        )
    );
    let m = mx("mx-alias");
    assert_eq!(
        m["records"],
        json!([{
            "preference": 10,
            "exchange": "mxalias.mail.lab.test",
            "is_cname": false,
            "resolvable": true,
            "addresses": ["127.0.0.1"],
        }])
    );
    assert_eq!(zone(&report, "mail.lab.test")["mx"]["null_mx"], true);
}

/// Facts that must not depend on the resolver: the random wildcard probe name, the order a
/// server happens to give the records of one RRset (RFC 2181 §5: an RRset is unordered), and
/// whole days left (the same `expires` instant may round differently a second later) aside.
fn normalized(v: &Value) -> Value {
    let mut v = v.clone();
    v["wildcard"]["probe_name"] = Value::Null;
    v["dnssec"]["min_days_left"] = Value::Null;
    if let Some(sigs) = v["dnssec"]["rrsigs"].as_array_mut() {
        for s in sigs.iter_mut() {
            s["days_left"] = Value::Null;
        }
        sigs.sort_by_key(|s| s.to_string());
    }
    if let Some(r) = v["caa"]["records"].as_array_mut() {
        r.sort_by_key(|s| s.to_string());
    }
    // With several records, which one the facts show is the first the server sent.
    if v["spf"]["records_found"].as_i64().unwrap_or(0) > 1 {
        v["spf"]["record"] = Value::Null;
        v["spf"]["terms"] = Value::Null;
    }
    if v["dmarc"]["errors"].to_string().contains("DMARC records") {
        v["dmarc"]["record"] = Value::Null;
    }
    v
}

/// dnsmasq and the PowerDNS Recursor in front of PowerDNS: the same findings and facts as
/// PowerDNS asked directly, for every zone and edge case (right or wrong), and what each
/// resolver does with TC and DNSSEC records, checked independently.
#[test]
fn dnsmasq_and_pdns_recursor_give_the_same_verdicts_as_powerdns() {
    let lab = Lab::start(Resolvers::All);
    let (dnsmasq, recursor) = (lab.at(lab.dnsmasq_port), lab.at(lab.recursor_port));

    // dnsmasq passes PowerDNS's TC on to the client and forwards the TCP retry over TCP.
    let big = udp(dnsmasq, "big.mail.lab.test", RecordType::TXT, true, false).unwrap();
    assert!(big.metadata.truncation && big.answers.is_empty(), "{big:?}");
    let big = tcp(dnsmasq, "big.mail.lab.test", RecordType::TXT, true).unwrap();
    assert_eq!(big.answers.len(), 9);
    // The Recursor truncates at its own limit and answers the whole RRset over TCP.
    let big = udp(recursor, "big.mail.lab.test", RecordType::TXT, true, false).unwrap();
    assert!(big.metadata.truncation, "{big:?}");
    let big = tcp(recursor, "big.mail.lab.test", RecordType::TXT, true).unwrap();
    assert_eq!(big.answers.len(), 9);
    // DNSSEC records: dnsmasq 2.90 without --dnssec forwards the DO bit and hands PowerDNS's
    // RRSIG back to a client that set it (none to one that did not); so does the Recursor.
    for r in [dnsmasq, recursor] {
        let with = udp(r, "mail.lab.test", RecordType::SOA, true, true).unwrap();
        assert_eq!(rrsigs(&with).len(), 1, "{with:?}");
        let without = udp(r, "mail.lab.test", RecordType::SOA, true, false).unwrap();
        assert!(rrsigs(&without).is_empty(), "{without:?}");
    }
    // dnsmasq passes PowerDNS's AA bit through; the Recursor answers as a resolver (AA=0).
    let m = udp(dnsmasq, "mail.lab.test", RecordType::SOA, true, false).unwrap();
    assert!(m.metadata.authoritative && m.metadata.recursion_available);
    let m = udp(recursor, "mail.lab.test", RecordType::SOA, true, false).unwrap();
    assert!(!m.metadata.authoritative && m.metadata.recursion_available);
    // Names nobody forwards: dnsmasq has no server for them (REFUSED), the Recursor cannot
    // reach a root (SERVFAIL). Nothing leaves loopback.
    let m = udp(dnsmasq, "example.com", RecordType::A, true, false).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = udp(recursor, "example.com", RecordType::A, true, false).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);

    let mut domains = good_domains();
    domains.extend(mail_names(&OWN_TEST_CASES));
    let direct = lab.scan(&domains, lab.ns_port);
    let mut want = expected_findings();
    let ids = dns_ids_by_endpoint(&direct);
    for (ep, got) in &ids {
        if OWN_TEST_CASES
            .iter()
            .any(|b| ep == &format!("{b}.mail.lab.test"))
        {
            want.insert(ep.clone(), got.clone());
        }
    }
    assert_eq!(ids, want, "{direct:#}");
    for (name, port) in [
        ("dnsmasq", lab.dnsmasq_port),
        ("recursor", lab.recursor_port),
    ] {
        let via = lab.scan(&domains, port);
        assert_eq!(via["incomplete"], json!([]), "{name}: {via:#}");
        assert_eq!(dns_ids_by_endpoint(&via), ids, "{name}: {via:#}");
        for d in domains
            .iter()
            .chain(["shop.open.lab.test".to_string()].iter())
        {
            assert_eq!(
                normalized(zone(&via, d)),
                normalized(zone(&direct, d)),
                "{name}: {d}"
            );
        }
    }
}

/// A Recursor that forwards only `test` treats PowerDNS as the server of `test` and follows
/// the NS records it learns for the zones below: once it has seen `mail.lab.test NS` it asks
/// ns1/ns2 on port 53, which `dont-query` forbids (and where nothing listens), and answers
/// SERVFAIL. posture must then say "incomplete", never draw a finding from the failures.
#[test]
fn recursor_that_cannot_reach_the_delegated_servers_leaves_zones_incomplete_not_wrong() {
    let lab = Lab::start(Resolvers::All);
    let naive = lab.at(lab.naive_port);
    let ns = udp(naive, "mail.lab.test", RecordType::NS, true, false).unwrap();
    assert_eq!(ns.answers.len(), 2, "{ns:?}");
    let m = udp(naive, "two.mail.lab.test", RecordType::TXT, true, false).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m:?}");

    let mut domains = good_domains();
    domains.extend(mail_names(&OWN_TEST_CASES));
    let direct = lab.scan(&domains, lab.ns_port);
    let via = lab.scan(&domains, lab.naive_port);
    let truth = dns_ids_by_endpoint(&direct);
    let got = dns_ids_by_endpoint(&via);
    let incomplete: BTreeSet<String> = via["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["endpoint"].as_str().unwrap().to_string())
        .collect();
    assert!(incomplete.contains("two.mail.lab.test"), "{incomplete:?}");
    for d in &domains {
        let (t, g) = (
            truth.get(d).cloned().unwrap_or_default(),
            got.get(d).cloned().unwrap_or_default(),
        );
        if incomplete.contains(d) {
            assert!(g.is_subset(&t), "{d}: {g:?} is not among {t:?}");
            assert_eq!(zone(&via, d)["complete"], false, "{d}");
        } else {
            assert_eq!(g, t, "{d}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edge cases that were posture bugs, one test each.

fn scan_cases(lab: &Lab, labels: &[&str]) -> Value {
    let report = lab.scan(&mail_names(labels), lab.ns_port);
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    report
}

/// `diamond` includes `_d1` and `_d2`, which both include `_d3`: the same record reached twice
/// is no loop (RFC 7208 §5.2 evaluates each include on its own; only the lookup limit bounds
/// repetition). Evaluation costs 4 lookups (d1, d2, d3 twice) and passes or fails normally.
#[test]
fn spf_include_reached_twice_is_not_a_loop() {
    let lab = Lab::start(Resolvers::None);
    let report = scan_cases(&lab, &["diamond"]);
    let s = zone(&report, "diamond.mail.lab.test")["spf"].clone();
    assert_eq!(
        (&s["invalid"], &s["errors"], &s["lookups"]),
        (&json!(false), &json!([]), &json!(4)),
        "{s:#}"
    );
    assert!(dns_ids_by_endpoint(&report).is_empty(), "{report:#}");
}

/// `v=spf1 redirect=nospf.mail.lab.test` where the target's TXT holds no SPF record: the
/// result is permerror (RFC 7208 §6.1), not the neutral default of a record without `all`
/// (§4.7 applies only when no redirect is present). The record is invalid; it does not end in
/// `?all`, and "any host may send mail" is not what receivers conclude from a permerror.
#[test]
fn spf_redirect_to_a_name_without_spf_is_invalid_not_permissive() {
    let lab = Lab::start(Resolvers::None);
    let report = scan_cases(&lab, &["redirect-nospf"]);
    let want = BTreeMap::from([(
        "redirect-nospf.mail.lab.test".to_string(),
        set(&["spf.invalid"]),
    )]);
    assert_eq!(dns_ids_by_endpoint(&report), want, "{report:#}");
    let s = zone(&report, "redirect-nospf.mail.lab.test")["spf"].clone();
    assert_eq!(s["permissive"], false, "{s:#}");
}

/// A void lookup is a query answered NXDOMAIN or NOERROR with no answer (RFC 7208 §4.6.4).
/// `nospf.mail.lab.test` has a TXT record ("hello world"): including it is permerror (no SPF
/// record, §5.2) but not a void lookup. `void-nospf` makes exactly two void lookups (gone1,
/// gone2) and then the permerror: invalid, within the void limit.
#[test]
fn spf_include_of_txt_without_spf_is_not_a_void_lookup() {
    let lab = Lab::start(Resolvers::None);
    // PowerDNS answers the TXT question with data.
    let m = udp(
        lab.ns1(),
        "nospf.mail.lab.test",
        RecordType::TXT,
        false,
        false,
    )
    .unwrap();
    assert_eq!(
        (m.metadata.response_code, m.answers.len()),
        (ResponseCode::NoError, 1)
    );
    let report = scan_cases(&lab, &["void-nospf", "include-nospf"]);
    let want = BTreeMap::from([
        (
            "void-nospf.mail.lab.test".to_string(),
            set(&["spf.invalid"]),
        ),
        (
            "include-nospf.mail.lab.test".to_string(),
            set(&["spf.invalid"]),
        ),
    ]);
    assert_eq!(dns_ids_by_endpoint(&report), want, "{report:#}");
    for (label, void) in [("void-nospf", 2), ("include-nospf", 0)] {
        let s = zone(&report, &format!("{label}.mail.lab.test"))["spf"].clone();
        assert_eq!(
            (&s["void_lookups"], &s["too_many_lookups"]),
            (&json!(void), &json!(false)),
            "{label}: {s:#}"
        );
    }
}

/// RFC 7489 §6.6.3: a record with an `sp` tag that is not valid is treated like one without a
/// valid `p`: with a valid `rua`, as `p=none`; without one, no DMARC processing at all.
#[test]
fn dmarc_with_an_invalid_sp_tag_does_not_enforce() {
    let lab = Lab::start(Resolvers::None);
    let report = scan_cases(&lab, &["dmarc-bad-sp", "dmarc-bad-sp-rua"]);
    let want = BTreeMap::from([
        (
            "dmarc-bad-sp.mail.lab.test".to_string(),
            set(&["dmarc.missing"]),
        ),
        (
            "dmarc-bad-sp-rua.mail.lab.test".to_string(),
            set(&["dmarc.weak"]),
        ),
    ]);
    assert_eq!(dns_ids_by_endpoint(&report), want, "{report:#}");
    let d = zone(&report, "dmarc-bad-sp-rua.mail.lab.test")["dmarc"].clone();
    assert_eq!(d["p"], "none", "{d:#}");
}

/// RFC 7489 §6.3: "sp" applies to subdomains of the organisational domain only and "will be
/// ignored for DMARC records published on subdomains of Organizational Domains".
/// `_dmarc.dmarc-sp.mail.lab.test` (org domain `lab.test`) says `p=reject; sp=none`: mail from
/// dmarc-sp.mail.lab.test is rejected, and mail from its subdomains gets lab.test's policy
/// (reject). Nothing is delivered because of that `sp=none`.
#[test]
fn dmarc_sp_below_the_organisational_domain_is_ignored() {
    let lab = Lab::start(Resolvers::None);
    let report = scan_cases(&lab, &["dmarc-sp"]);
    assert!(dns_ids_by_endpoint(&report).is_empty(), "{report:#}");
    let d = zone(&report, "dmarc-sp.mail.lab.test")["dmarc"].clone();
    assert_eq!((&d["p"], &d["weak"]), (&json!("reject"), &json!(false)));
}
