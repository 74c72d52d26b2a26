//! IPv6, the way a demanding nmap user scans dual-stack hosts: real servers listening on the
//! IPv6 loopback `[::1]` (and some on 127.0.0.1 as well), scanned as `[::1]:port`, as
//! `https://[::1]:port/`, as a `::1/128` sweep and by name; names served by a real NSD that
//! publishes AAAA-only and dual-stack (A + AAAA) names, reached over IPv6 itself.
//!
//! The servers, configured the way Debian admins run them, in the foreground as children of
//! the test, on free ports, with their configuration and certificates (a private root and a
//! leaf made by the openssl CLI relative to now, passed with `--ca-file`) in a temp dir:
//! nginx (HTTPS with HSTS and a plain-HTTP redirect on `[::1]` only, and a careless HTTPS site
//! listening on both 127.0.0.1 and `[::1]`), Redis (`--bind ::1`, no password), OpenSSH
//! (`ListenAddress [::1]:P`) and NSD (authoritative for `test` and `lab.test`, whose
//! nameserver has only an AAAA record).
//!
//! Nothing is sent outside `::1` and 127.0.0.1: prefixes wider than `::1/128` are only ever
//! expanded with `--list-targets` (a dry run), and the only name outside loopback (`fd00::1`
//! of `wide.lab.test`) is listed, never scanned.
//!
//! Each test asserts what is true (RFC 3986 §3.2.2 brackets an IPv6 literal in a URI
//! authority and so in `endpoint`, RFC 5952 §4 gives the canonical text form, RFC 6066 §3
//! sends no IP literal as SNI, RFC 6797 §8.1 ignores HSTS on an IP-literal host), not what
//! posture happens to say. Needs the Debian packages nginx, redis-server, openssh-server
//! (plus openssh-client for ssh-keygen), nsd and openssl.

use crate::support::servers::{binary, Server};
use crate::support::tls::{ids_by_endpoint, scan, subjects};
use crate::support::{assert_valid_sarif, free_port, read_json, run};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A port from the shared picker that is also free on `[::1]` for TCP and UDP (the picker
/// checks 127.0.0.1 only); at most 50 picks.
fn free_port6() -> u16 {
    for _ in 0..50 {
        let p = free_port();
        let free = TcpListener::bind((Ipv6Addr::LOCALHOST, p)).is_ok()
            && UdpSocket::bind((Ipv6Addr::LOCALHOST, p)).is_ok()
            && UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if free {
            return p;
        }
    }
    panic!("no port free on both 127.0.0.1 and [::1] in 50 picks");
}

/// Runs a setup command to completion, panicking with its output when it fails.
fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `cmd` with its output in `dir/NAME.out`, then waits (bounded: 10 s in all) until
/// every address accepts TCP connections; panics with that output when it exits or never
/// listens.
fn start(cmd: &mut Command, name: &str, dir: &Path, listening: &[SocketAddr]) -> Server {
    let out = dir.join(format!("{name}.out"));
    let log = std::fs::File::create(&out).unwrap();
    let mut server = Server(
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    );
    let said = || std::fs::read_to_string(&out).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(10);
    for addr in listening {
        while TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.0.try_wait() {
                panic!("{name} exited early: {status}\n{}", said());
            }
            assert!(
                Instant::now() < until,
                "{name} is not listening on {addr}\n{}",
                said()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    server
}

// ---------------------------------------------------------------- certificates

/// A private root (`ca.pem`, the `--ca-file`) and an RSA-2048 leaf (`leaf.pem`, `leaf.key`)
/// for v6.lab.test, dual.lab.test and split.lab.test, valid 200 days from now.
fn pki(dir: &Path) {
    let openssl = |args: &str, what: &str| {
        let args: Vec<&str> = args.split_whitespace().collect();
        run_ok(Command::new("openssl").args(args).current_dir(dir), what);
    };
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 400 \
         -subj /CN=IPv6-Test-Root -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign",
        "openssl req (root)",
    );
    openssl(
        "req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=v6.lab.test",
        "openssl req (leaf)",
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:v6.lab.test,DNS:dual.lab.test,DNS:split.lab.test\n\
         basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem \
         -days 200 -extfile leaf.ext",
        "openssl x509 (leaf)",
    );
}

// ---------------------------------------------------------------- NSD

/// The zones NSD serves: `test` delegating `lab.test` to a nameserver that has only an AAAA
/// record (the glue is `::1`), and `lab.test` with a careful mail policy (SPF `-all`, DMARC
/// `p=reject`, CAA, null MX) and the names the tests scan.
fn zones() -> Vec<(&'static str, String)> {
    let test = "$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@ IN NS ns.test.
ns IN AAAA ::1
lab IN NS ns.lab.test.
ns.lab IN AAAA ::1
";
    let mut lab = String::from(
        "$ORIGIN lab.test.
$TTL 300
@ IN SOA ns hostmaster 2024060101 3600 600 86400 300
@ IN NS ns
ns IN AAAA ::1
@ IN TXT \"v=spf1 -all\"
_dmarc IN TXT \"v=DMARC1; p=reject\"
@ IN CAA 0 issue \"letsencrypt.org\"
@ IN MX 0 .
v6 IN AAAA ::1
dual IN A 127.0.0.1
dual IN AAAA ::1
split IN A 127.0.0.1
split IN AAAA ::1
wide IN AAAA ::1
wide IN AAAA fd00::1
",
    );
    // 17 A records and one AAAA: more than the 16 addresses posture scans of a name.
    for i in 1..=17 {
        lab.push_str(&format!("many IN A 127.0.0.{i}\n"));
    }
    lab.push_str("many IN AAAA ::1\n");
    vec![("test", test.to_string()), ("lab.test", lab)]
}

/// A DNS question for `name` (class IN, RD clear, no EDNS).
fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// True when `server` answers an SOA question for `zone` with NOERROR and AA within 100 ms.
fn soa_authoritative(server: SocketAddr, id: u16, zone: &str) -> bool {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => "127.0.0.1:0".parse().unwrap(),
        SocketAddr::V6(_) => "[::1]:0".parse().unwrap(),
    };
    let Ok(s) = UdpSocket::bind(local) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    if s.send_to(&dns_query(id, zone, 6), server).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    match s.recv_from(&mut buf) {
        Ok((n, _)) => {
            n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x84 == 0x84 && buf[3] & 0x0f == 0
        }
        Err(_) => false,
    }
}

/// NSD (`nsd -d`) on `port` of each of `addrs`, serving [`zones`]; ready when every zone's
/// SOA comes back authoritatively on every address (at most 50 rounds of 100 ms).
fn start_nsd(dir: &Path, addrs: &[IpAddr], port: u16) -> Server {
    let nsd = binary(&["/usr/sbin/nsd", "/usr/local/sbin/nsd"], "nsd");
    let home = dir.join("nsd");
    std::fs::create_dir_all(&home).unwrap();
    let d = home.display();
    let mut conf = String::from("server:\n");
    for a in addrs {
        conf.push_str(&format!("  ip-address: {a}\n"));
    }
    conf.push_str(&format!(
        "  port: {port}
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
  verbosity: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
"
    ));
    let zones = zones();
    for (name, text) in &zones {
        std::fs::write(home.join(format!("{name}.zone")), text).unwrap();
        conf.push_str(&format!("zone:\n  name: {name}\n  zonefile: {name}.zone\n"));
    }
    std::fs::write(home.join("nsd.conf"), conf).unwrap();
    let out = home.join("nsd.out");
    let mut server = Server(
        Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(home.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nsd"),
    );
    let said = || {
        ["nsd.out", "nsd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(home.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    };
    for attempt in 0..50u16 {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("nsd exited early: {status}\n{}", said());
        }
        let ready = addrs.iter().all(|&a| {
            zones
                .iter()
                .all(|(z, _)| soa_authoritative(SocketAddr::new(a, port), attempt, z))
        });
        if ready {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nsd does not answer on port {port}:\n{}", said());
}

// ---------------------------------------------------------------- nginx, Redis, OpenSSH

/// The part of an nginx configuration every instance here shares: one process, every path in
/// `dir`, no version in `Server`.
fn nginx_conf(dir: &Path, servers: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; server_tokens off;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  ssl_certificate {d}/leaf.pem; ssl_certificate_key {d}/leaf.key;
  ssl_protocols TLSv1.2 TLSv1.3;
{servers}
}}
"
    )
}

/// Every security header a site should send, HSTS for a year included.
const GOOD_HEADERS: &str =
    "add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Content-Security-Policy \"default-src 'self'\" always;";

fn start_nginx(dir: &Path, servers: &str, listening: &[SocketAddr]) -> Server {
    let nginx = binary(&["/usr/sbin/nginx", "/usr/local/sbin/nginx"], "nginx");
    std::fs::write(dir.join("nginx.conf"), nginx_conf(dir, servers)).unwrap();
    start(
        Command::new(nginx)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log")),
        "nginx",
        dir,
        listening,
    )
}

/// `redis-server --bind ::1` without a password (`protected-mode no`, as admins do when they
/// bind it to an address of their choosing).
fn start_redis(dir: &Path, port: u16) -> Server {
    let redis = binary(
        &["/usr/bin/redis-server", "/usr/local/bin/redis-server"],
        "redis-server",
    );
    start(
        Command::new(redis)
            .args(["--bind", "::1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(dir),
        "redis",
        dir,
        &[SocketAddr::new(V6, port)],
    )
}

/// `sshd -D -e -f CONF` with `ListenAddress [::1]:PORT` and its own ed25519 host key.
fn start_sshd(dir: &Path, port: u16) -> Server {
    let sshd = binary(&["/usr/sbin/sshd"], "openssh-server");
    let key = dir.join("ssh_host_ed25519");
    run_ok(
        Command::new(binary(&["/usr/bin/ssh-keygen"], "openssh-client"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
        "ssh-keygen",
    );
    // The privilege separation directory sshd insists on (Debian's unit creates it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let conf = dir.join("sshd_config");
    std::fs::write(
        &conf,
        format!(
            "HostKey {}\nPidFile none\nUsePAM no\nListenAddress [::1]:{port}\n",
            key.display()
        ),
    )
    .unwrap();
    start(
        Command::new(sshd).args(["-D", "-e", "-f"]).arg(&conf),
        "sshd",
        dir,
        &[SocketAddr::new(V6, port)],
    )
}

// ---------------------------------------------------------------- report helpers

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// `(endpoint, ip, rule id)` of every finding.
fn findings(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["endpoint"].as_str().unwrap().to_string(),
                f["ip"].as_str().unwrap_or("").to_string(),
                f["rule_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn triples(want: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    want.iter()
        .map(|(e, i, r)| (e.to_string(), i.to_string(), r.to_string()))
        .collect()
}

/// The subjects of `kind` for `endpoint` at address `ip`.
fn subjects_at<'a>(report: &'a Value, kind: &str, endpoint: &str, ip: &str) -> Vec<&'a Value> {
    subjects(report, kind)
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint && s["target"]["ip"] == ip)
        .collect()
}

/// `(endpoint, service)` of every open port subject, deduplicated.
fn services(report: &Value) -> BTreeSet<(String, String)> {
    subjects(report, "port")
        .into_iter()
        .map(|s| {
            (
                s["endpoint"].as_str().unwrap().to_string(),
                s["port"]["service"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------- the tests

/// nginx, Redis and OpenSSH on `[::1]` scanned by address (a `::1/128` sweep of their ports,
/// `[::1]:P` and `https://[::1]:P/`) and by name (`v6.lab.test`, AAAA ::1 only, and
/// `dual.lab.test`, A 127.0.0.1 + AAAA ::1), with names resolved by NSD over IPv6.
#[test]
fn nginx_redis_and_openssh_on_v6_loopback_by_address_and_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pki(dir);
    let (https, redirect, dual) = (free_port6(), free_port6(), free_port6());
    let (redis, ssh, dns) = (free_port6(), free_port6(), free_port6());
    // HTTPS done right on [::1] only; its plain-HTTP sibling redirects to it; and a careless
    // HTTPS site (no HSTS, no security headers) on both loopbacks.
    let servers = format!(
        "  server {{
    listen [::1]:{https} ssl; server_name v6.lab.test;
    {GOOD_HEADERS}
    location / {{ return 200 \"ok\\n\"; }}
  }}
  server {{
    listen [::1]:{redirect}; server_name v6.lab.test;
    return 301 https://$host:{https}$request_uri;
  }}
  server {{
    listen 127.0.0.1:{dual} ssl; listen [::1]:{dual} ssl; server_name dual.lab.test;
    location / {{ return 200 \"dual\\n\"; }}
  }}"
    );
    let _nsd = start_nsd(dir, &[V6], dns);
    let _nginx = start_nginx(
        dir,
        &servers,
        &[
            SocketAddr::new(V6, https),
            SocketAddr::new(V6, redirect),
            SocketAddr::new(V4, dual),
            SocketAddr::new(V6, dual),
        ],
    );
    let _redis = start_redis(dir, redis);
    let _sshd = start_sshd(dir, ssh);
    let ca = path_arg(&dir.join("ca.pem"));
    let resolver = format!("[::1]:{dns}");

    // ---- by address: one sweep of ::1/128 over the five ports, plus URL forms.
    let ports = format!("{ssh},{redis},{https},{redirect},{dual}");
    let (sarif, md, html) = (dir.join("a.sarif"), dir.join("a.md"), dir.join("a.html"));
    let t_https = format!("https://[::1]:{https}/");
    let t_redirect = format!("http://[::1]:{redirect}/");
    let (code, report) = scan(
        dir,
        &[
            "::1/128",
            &t_https,
            &t_redirect,
            "--ports",
            &ports,
            "--ca-file",
            &ca,
            "--fail-on",
            "none",
            "--sarif",
            &path_arg(&sarif),
            "--markdown",
            &path_arg(&md),
            "--html",
            &path_arg(&html),
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    // The five ports of ::1, plus the two URL declarations, which ask for their scheme's
    // probe and so are kept next to the sweep (README, Targets).
    assert_eq!(report["scan"]["stats"]["open"], 7, "{:#}", report["scan"]);
    assert_eq!(report["scan"]["stats"]["closed"], 0, "{:#}", report["scan"]);
    let ep = |p: u16| format!("[::1]:{p}");
    assert_eq!(
        services(&report),
        [
            (ep(ssh), "ssh"),
            (ep(redis), "redis"),
            (ep(https), "https"),
            (ep(redirect), "http"),
            (ep(dual), "https"),
        ]
        .into_iter()
        .map(|(e, s)| (e, s.to_string()))
        .collect(),
        "{report:#}"
    );
    for s in subjects(&report, "port") {
        // RFC 5952 text in target.ip, RFC 3986 brackets in the endpoint.
        assert_eq!(s["target"]["ip"], "::1", "{s}");
        assert_eq!(s["target"]["host"], "::1", "{s}");
        assert_eq!(
            s["endpoint"],
            ep(s["target"]["port"].as_u64().unwrap() as u16)
        );
    }
    let banner = subjects_at(&report, "port", &ep(ssh), "::1")[0]["port"]["banner"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(banner.starts_with("SSH-2.0-OpenSSH_"), "{banner}");
    // Unauthenticated Redis (critical), the careless site's headers; HSTS is not judged on an
    // IP-literal host (RFC 6797 §8.1), the redirect is one, and OpenSSH has no rule.
    let r_ep = ep(redis);
    let d_ep = ep(dual);
    assert_eq!(
        findings(&report),
        triples(&[
            (&r_ep, "::1", "port.redis.unauthenticated"),
            (&r_ep, "::1", "port.risky-service"),
            (&d_ep, "::1", "http.headers.missing"),
        ]),
        "{report:#}"
    );
    // No SNI and no hostname check for an address (RFC 6066 §3); the private root is trusted.
    for t in subjects_at(&report, "tls", &ep(https), "::1") {
        assert_eq!(t["tls"]["hostname_checked"], false, "{t}");
        assert!(t["tls"]["sni"].is_null(), "{t}");
        assert_eq!(t["tls"]["trusted"], true, "{t}");
        assert_eq!(t["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{t}");
    }
    let http = subjects_at(&report, "http", &ep(redirect), "::1");
    assert!(!http.is_empty(), "{report:#}");
    for h in http {
        assert_eq!(h["http"]["redirects_to_https"], true, "{h}");
        assert_eq!(
            h["http"]["final_url"],
            format!("https://[::1]:{https}/"),
            "{h}"
        );
    }

    // SARIF: valid, the endpoint bracketed, the address in canonical form.
    let doc = read_json(&sarif);
    assert_valid_sarif(&doc);
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{doc:#}");
    for r in results {
        let props = &r["properties"];
        assert_eq!(props["ip"], "::1", "{r:#}");
        let e = props["endpoint"].as_str().unwrap();
        assert!(e == r_ep || e == d_ep, "{r:#}");
        // SARIF §3.11.5: literal brackets in message text are escaped.
        assert!(
            r["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("\\[::1\\]:{}", props["port"])),
            "{r:#}"
        );
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            !uri.contains(':') && !uri.contains('['),
            "a relative URI's first segment cannot hold ':' (RFC 3986 §4.2): {uri}"
        );
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains(&format!("| \\[::1\\]:{redis} |")), "{md}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains(&format!("data-endpoint=\"[::1]:{redis}\"")),
        "the HTML report names [::1]:{redis}"
    );

    // ---- by name, over the IPv6 resolver.
    let t_v6 = format!("https://v6.lab.test:{https}/");
    let t_v6_redirect = format!("http://v6.lab.test:{redirect}/");
    let t_dual = format!("https://dual.lab.test:{dual}/");
    let t_v6_redis = format!("v6.lab.test:{redis}");
    let t_v6_ssh = format!("ssh://v6.lab.test:{ssh}");
    let (code, report) = scan(
        dir,
        &[
            &t_v6,
            &t_v6_redirect,
            &t_dual,
            &t_v6_redis,
            &t_v6_ssh,
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--checks",
            "ports,tls,http",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    let n = |host: &str, p: u16| format!("{host}:{p}");
    // The AAAA-only name: a clean HTTPS site (SNI, hostname and HSTS checked by name over
    // IPv6), its redirect, Redis and OpenSSH, all at ::1.
    let by_ep = ids_by_endpoint(&report);
    assert_eq!(by_ep.get(&n("v6.lab.test", https)), None, "{by_ep:#?}");
    assert_eq!(by_ep.get(&n("v6.lab.test", redirect)), None, "{by_ep:#?}");
    let tls = subjects_at(&report, "tls", &n("v6.lab.test", https), "::1");
    assert_eq!(tls.len(), 1, "{report:#}");
    assert_eq!(tls[0]["tls"]["sni"], "v6.lab.test", "{}", tls[0]);
    assert_eq!(tls[0]["tls"]["hostname_checked"], true, "{}", tls[0]);
    assert_eq!(tls[0]["tls"]["hostname_matches"], true, "{}", tls[0]);
    let http = subjects_at(&report, "http", &n("v6.lab.test", https), "::1");
    assert_eq!(http.len(), 1, "{report:#}");
    assert_eq!(http[0]["http"]["hsts"]["max_age"], 31536000, "{}", http[0]);
    let http = subjects_at(&report, "http", &n("v6.lab.test", redirect), "::1");
    assert_eq!(http.len(), 1, "{report:#}");
    assert_eq!(
        http[0]["http"]["final_url"],
        format!("https://v6.lab.test:{https}/"),
        "{}",
        http[0]
    );
    assert_eq!(
        services(&report)
            .into_iter()
            .filter(|(e, _)| e.starts_with("v6."))
            .collect::<BTreeSet<_>>(),
        [
            (n("v6.lab.test", https), "https"),
            (n("v6.lab.test", redirect), "http"),
            (n("v6.lab.test", redis), "redis"),
            (n("v6.lab.test", ssh), "ssh"),
        ]
        .into_iter()
        .map(|(e, s)| (e, s.to_string()))
        .collect(),
        "{report:#}"
    );
    // The dual-stack name: each address is an endpoint with its own facts, both with SNI and
    // the hostname check; no finding about the name anywhere else.
    for ip in ["127.0.0.1", "::1"] {
        let tls = subjects_at(&report, "tls", &n("dual.lab.test", dual), ip);
        assert_eq!(tls.len(), 1, "{ip}: {report:#}");
        assert_eq!(tls[0]["tls"]["sni"], "dual.lab.test", "{}", tls[0]);
        assert_eq!(tls[0]["tls"]["hostname_matches"], true, "{}", tls[0]);
        let http = subjects_at(&report, "http", &n("dual.lab.test", dual), ip);
        assert_eq!(http.len(), 1, "{ip}: {report:#}");
        assert!(http[0]["http"]["hsts"].is_null(), "{}", http[0]);
    }
    // Neither address sends HSTS or a security header (which address each finding names is
    // `dual_stack_name_gets_findings_per_address`'s subject).
    assert_eq!(
        by_ep.get(&n("dual.lab.test", dual)),
        Some(&set(&["http.headers.missing", "http.hsts.missing"])),
        "{by_ep:#?}"
    );
    let v6_findings: BTreeSet<(String, String, String)> = findings(&report)
        .into_iter()
        .filter(|(e, _, _)| e.starts_with("v6."))
        .collect();
    let nr = n("v6.lab.test", redis);
    assert_eq!(
        v6_findings,
        triples(&[
            (&nr, "::1", "port.redis.unauthenticated"),
            (&nr, "::1", "port.risky-service"),
        ]),
        "{report:#}"
    );
}

/// The IPv6 target forms, as `--list-targets` (a dry run: only DNS questions, to NSD on
/// loopback) expands them: brackets and RFC 5952 canonical text, CIDRs, exclusions, the
/// refusal of prefixes shorter than /112, and names with AAAA records.
#[test]
fn v6_target_forms_expand_to_exactly_their_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dns = free_port6();
    let _nsd = start_nsd(dir, &[V4, V6], dns);
    let list = |args: &[&str]| -> (Vec<String>, String) {
        let mut all = vec!["scan", "--list-targets"];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all, dir);
        assert_eq!(code, 0, "{args:?}: {err}");
        (out.lines().map(str::to_string).collect(), err)
    };
    let lines = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };

    // `[v6]:port` and `::1` with --ports; any spelling of ::1 prints as `[::1]` (RFC 5952).
    assert_eq!(list(&["[::1]:8443"]).0, lines(&["[::1]:8443"]));
    assert_eq!(
        list(&["[0:0:0:0:0:0:0:1]:8443", "--ports", "22"]).0,
        lines(&["[::1]:22", "[::1]:8443"])
    );
    assert_eq!(
        list(&["::1", "--ports", "22,80"]).0,
        lines(&["[::1]:22", "[::1]:80"])
    );
    assert_eq!(
        list(&["https://[0000::0001]:8443/"]).0,
        lines(&["[::1]:8443\t\thttps"])
    );
    // ::1/128 is ::1 alone.
    assert_eq!(
        list(&["::1/128", "--ports", "6379"]).0,
        lines(&["[::1]:6379"])
    );
    // A /120 holds 256 addresses (network address included), canonical and bracketed; the
    // exclusion of ::1 removes exactly one. Listed only: ::2 … ::ff are not loopback.
    let (all, err) = list(&["::/120", "--ports", "22"]);
    assert_eq!(all.len(), 256, "{err}");
    assert_eq!(all[..3], lines(&["[::]:22", "[::1]:22", "[::2]:22"]));
    assert_eq!(all[255], "[::ff]:22");
    assert!(err.contains("256 endpoints"), "{err}");
    let (rest, _) = list(&["::/120", "--ports", "22", "--exclude", "::1"]);
    assert_eq!(rest.len(), 255);
    assert!(!rest.contains(&"[::1]:22".to_string()));
    assert_eq!(
        list(&["::1", "--ports", "22", "--exclude", "::1"]).0,
        lines(&[])
    );
    assert_eq!(
        list(&["::1", "--ports", "22", "--exclude", "::/120"]).0,
        lines(&[])
    );
    // Prefixes shorter than /112 are refused, naming the target.
    let (code, out, err) = run(&["scan", "--list-targets", "::1/111", "--ports", "22"], dir);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("`::1/111`") && err.contains("shorter than /112"),
        "{err}"
    );

    // Names: every address, IPv4 first; the URL scheme after the name.
    let resolver = format!("[::1]:{dns}");
    let p = |a: &str| -> Vec<String> {
        let mut v = vec!["--resolver".to_string(), resolver.clone()];
        v.extend(a.split(' ').map(String::from));
        v
    };
    let names = p("v6.lab.test dual.lab.test https://dual.lab.test:8443/ --ports 22");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        list(&names).0,
        lines(&[
            "[::1]:22\tv6.lab.test",
            "127.0.0.1:22\tdual.lab.test",
            "[::1]:22\tdual.lab.test",
            "127.0.0.1:8443\tdual.lab.test\thttps",
            "[::1]:8443\tdual.lab.test\thttps",
        ])
    );
    // The resolver over IPv4 gives the same AAAA answers.
    let v4 = format!("127.0.0.1:{dns}");
    assert_eq!(
        list(&["--resolver", &v4, "dual.lab.test", "--ports", "22"]).0,
        lines(&["127.0.0.1:22\tdual.lab.test", "[::1]:22\tdual.lab.test"])
    );
    // A name's exclusion applies per address.
    assert_eq!(
        list(&[
            "--resolver",
            &resolver,
            "dual.lab.test",
            "--ports",
            "22",
            "--exclude",
            "::1"
        ])
        .0,
        lines(&["127.0.0.1:22\tdual.lab.test"])
    );
    // A name with one AAAA outside loopback: listed, and only listed.
    assert_eq!(
        list(&["--resolver", &resolver, "wide.lab.test", "--ports", "22"]).0,
        lines(&["[::1]:22\twide.lab.test", "[fd00::1]:22\twide.lab.test"])
    );
    // 18 addresses: at most 16 are scanned, both families kept, and the cut is said.
    let (many, _) = list(&["--resolver", &resolver, "many.lab.test", "--ports", "22"]);
    assert_eq!(
        many[0],
        "# many.lab.test: the name has 18 addresses; 16 scanned (limits.ips_per_name)"
    );
    let endpoints: Vec<&String> = many.iter().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(endpoints.len(), 16, "{many:?}");
    assert!(
        endpoints.iter().any(|l| l.starts_with("[::1]:22")),
        "{many:?}"
    );
}

/// DNS over IPv6: NSD listening on `[::1]` only is the `--resolver`, and `lab.test`'s only
/// nameserver has only an AAAA record (::1), so the checks that ask the zone's own servers
/// (authority, SOA serial, zone transfer, recursion, DNSSEC) go to `[::1]:--ns-port`.
#[test]
fn dns_checks_over_v6_reach_an_aaaa_only_nameserver() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dns = free_port6();
    let _nsd = start_nsd(dir, &[V6], dns);
    std::fs::write(
        dir.join("posture.toml"),
        "[[domain]]\nname = \"lab.test\"\n",
    )
    .unwrap();
    let resolver = format!("[::1]:{dns}");
    let (code, report) = scan(
        dir,
        &[
            "--config",
            &path_arg(&dir.join("posture.toml")),
            "--checks",
            "dns",
            "--resolver",
            &resolver,
            "--ns-port",
            &dns.to_string(),
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["incomplete"], json!([]), "{report:#}");
    // One nameserver (RFC 1034 §4.1 asks for two, RFC 2182 §3.1 for separate networks), no
    // DNSSEC; SPF, DMARC, CAA and the null MX are as they should be.
    let by_ep = {
        let mut m = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
        for f in report["findings"].as_array().unwrap() {
            m.entry(f["endpoint"].as_str().unwrap().to_string())
                .or_default()
                .insert(f["rule_id"].as_str().unwrap().to_string());
        }
        m
    };
    assert_eq!(
        by_ep,
        [(
            "lab.test".to_string(),
            set(&["dns.dnssec.missing", "dns.ns.same-network", "dns.ns.single"])
        )]
        .into_iter()
        .collect(),
        "{report:#}"
    );
    let zone = &subjects(&report, "dns")[0]["dns"];
    assert_eq!(zone["complete"], true, "{zone:#}");
    assert_eq!(zone["errors"], json!([]), "{zone:#}");
    assert_eq!(
        zone["ns"]["servers"],
        json!([{
            "name": "ns.lab.test", "addresses": ["::1"], "responded": true,
            "authoritative": true, "lame": false, "serial": 2024060101
        }]),
        "{zone:#}"
    );
    assert_eq!(
        zone["soa"]["serials"],
        json!([{"server": "ns.lab.test", "address": "::1", "serial": 2024060101}]),
        "{zone:#}"
    );
    assert_eq!(
        zone["axfr"]["attempts"],
        json!([{
            "server": "ns.lab.test", "address": "::1", "allowed": false,
            "records_seen": 0, "result": "REFUSED"
        }]),
        "{zone:#}"
    );
    let tests = zone["recursion"]["tests"].as_array().unwrap();
    assert!(!tests.is_empty(), "{zone:#}");
    for t in tests {
        assert_eq!(t["address"], "::1", "{t}");
        assert_eq!(t["open"], false, "{t}");
        assert_eq!(t["result"], "REFUSED ra=0 aa=0 answers=0", "{t}");
    }
    assert_eq!(zone["spf"]["record"], "v=spf1 -all", "{zone:#}");
    assert_eq!(zone["dmarc"]["p"], "reject", "{zone:#}");
    assert_eq!(zone["caa"]["found_at"], "lab.test", "{zone:#}");
    assert_eq!(zone["mx"]["null_mx"], true, "{zone:#}");
}

/// A dual-stack name whose two addresses are different servers (nginx server blocks per
/// listen address, as when the IPv6 listener was added later and never hardened): 127.0.0.1
/// sends HSTS and every header but CSP, `[::1]` sends none. Each address is an endpoint, so
/// each gets its own findings: `http.headers.missing` on 127.0.0.1 (CSP) and on ::1 (all
/// three), `http.hsts.missing` on ::1.
#[test]
fn dual_stack_name_gets_findings_per_address() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pki(dir);
    let (port, dns) = (free_port6(), free_port6());
    let servers = format!(
        "  server {{
    listen 127.0.0.1:{port} ssl; server_name split.lab.test;
    add_header Strict-Transport-Security \"max-age=31536000\" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    location / {{ return 200 \"v4\\n\"; }}
  }}
  server {{
    listen [::1]:{port} ssl; server_name split.lab.test;
    location / {{ return 200 \"v6\\n\"; }}
  }}"
    );
    let _nsd = start_nsd(dir, &[V4, V6], dns);
    let _nginx = start_nginx(
        dir,
        &servers,
        &[SocketAddr::new(V4, port), SocketAddr::new(V6, port)],
    );
    let resolver = format!("127.0.0.1:{dns}");
    let target = format!("https://split.lab.test:{port}/");
    let (code, report) = scan(
        dir,
        &[
            &target,
            "--resolver",
            &resolver,
            "--ca-file",
            &path_arg(&dir.join("ca.pem")),
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    // The facts are right, per address.
    let ep = format!("split.lab.test:{port}");
    let missing =
        |ip: &str| subjects_at(&report, "http", &ep, ip)[0]["http"]["missing_headers"].clone();
    assert_eq!(missing("127.0.0.1"), json!(["content-security-policy"]));
    assert_eq!(
        missing("::1"),
        json!([
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy"
        ])
    );
    // The findings must be too.
    assert_eq!(
        findings(&report),
        triples(&[
            (&ep, "127.0.0.1", "http.headers.missing"),
            (&ep, "::1", "http.headers.missing"),
            (&ep, "::1", "http.hsts.missing"),
        ]),
        "{report:#}"
    );
    let v6_headers = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "http.headers.missing" && f["ip"] == "::1")
        .unwrap();
    assert!(
        v6_headers["message"]
            .as_str()
            .unwrap()
            .contains("x-content-type-options, x-frame-options, content-security-policy"),
        "{v6_headers}"
    );
    // Each address is listed, but a finding is tracked by name, port and rule (its
    // fingerprint): the same problem on both addresses of the name is one problem to track,
    // and a name whose addresses rotate (a CDN) keeps its fingerprints from scan to scan.
    let fps: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fps.len(), 2, "{report:#}");
}

/// `many.lab.test` has 17 A records and one AAAA (::1). posture scans at most 16 addresses of
/// a name (`[limits] ips_per_name`), IPv4 first: the IPv6 address is cut, and so is the whole
/// IPv6 face of the host. Whatever the cap, the report must not claim to have covered the
/// name: the address it did not scan is an incomplete part of the target.
#[test]
fn a_name_cut_to_sixteen_addresses_is_reported_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dns = free_port6();
    let _nsd = start_nsd(dir, &[V4, V6], dns);
    // A closed port: every connect (127.0.0.1-16, and ::1 when scanned) is refused at once.
    let closed = free_port6().to_string();
    let resolver = format!("[::1]:{dns}");
    let (code, report) = scan(
        dir,
        &[
            "many.lab.test",
            "--ports",
            &closed,
            "--checks",
            "ports",
            "--resolver",
            &resolver,
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let scanned = report["scan"]["stats"]["ports_scanned"].as_u64().unwrap();
    let noted = report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["endpoint"] == "many.lab.test");
    assert!(
        scanned == 18 || noted,
        "18 addresses, {scanned} scanned, and the report does not say so: {report:#}"
    );
}
