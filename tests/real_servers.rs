//! Real third-party servers, configured here the way people run them: nginx (an HTTPS site with
//! a private CA, a plain-HTTP redirect, a careless plain site, and two legacy TLS sites on
//! Debian's OpenSSL), Redis with and without a password, Postfix with STARTTLS (Debian's
//! defaults and hardened), and NSD serving a well-kept and a careless zone. Everything posture
//! concludes about them must match what they are, not what our own fixture servers happen to
//! do. `scripts/test` installs nginx, redis-server, postfix and nsd when missing (Postfix needs
//! root: its daemons change to the `postfix` user).

use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{ids_by_endpoint, openssl_ca_and_leaf, scan, subjects, Env};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits (bounded) until every port accepts connections.
fn wait_listening(ports: &[u16], what: &str, server: &mut Server) {
    let until = Instant::now() + Duration::from_secs(10);
    for &p in ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], p));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.0.try_wait() {
                panic!("{what} exited early: {status}");
            }
            assert!(Instant::now() < until, "{what} is not listening on {p}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The port subject of `port` in a report.
fn port_subject(report: &serde_json::Value, port: u16) -> serde_json::Value {
    subjects(report, "port")
        .into_iter()
        .find(|s| s["port"]["number"] == port)
        .unwrap_or_else(|| panic!("no port subject for {port}"))
        .clone()
}

#[test]
fn nginx_and_redis_are_judged_as_they_are() {
    let mut env = Env::new();
    let resolver = env.dns(&["web"]).to_string();
    let dir = env.dir.path().to_path_buf();
    openssl_ca_and_leaf(&dir, "web.lab.test", 2048, "sha256", 200);
    let (https, redirect, careless) = (free_port(), free_port(), free_port());
    let (legacy, tls10) = (free_port(), free_port());
    let (redis, redis_auth) = (free_port(), free_port());
    let d = dir.display();
    // master_process off: one process, so nothing changes user and every path stays ours.
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; server_tokens off;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{
    listen 127.0.0.1:{https} ssl; server_name web.lab.test;
    ssl_certificate {d}/leaf.pem; ssl_certificate_key {d}/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Content-Security-Policy \"default-src 'self'\" always;
    location / {{ return 200 \"ok\\n\"; }}
  }}
  server {{
    listen 127.0.0.1:{redirect}; server_name web.lab.test;
    return 301 https://$host:{https}$request_uri;
  }}
  server {{
    listen 127.0.0.1:{careless}; server_tokens on;
    location / {{ return 200 \"hello\\n\"; }}
  }}
  server {{
    listen 127.0.0.1:{legacy} ssl;
    ssl_certificate {d}/leaf.pem; ssl_certificate_key {d}/leaf.key;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers \"ALL:@SECLEVEL=0\";
    location / {{ return 200 \"old\\n\"; }}
  }}
  server {{
    listen 127.0.0.1:{tls10} ssl;
    ssl_certificate {d}/leaf.pem; ssl_certificate_key {d}/leaf.key;
    ssl_protocols TLSv1; ssl_ciphers \"AES128-SHA:@SECLEVEL=0\";
    location / {{ return 200 \"older\\n\"; }}
  }}
}}
"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx_bin = binary(&["/usr/sbin/nginx", "/usr/local/sbin/nginx"], "nginx");
    let mut nginx = Server(
        Command::new(nginx_bin)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    let redis_bin = binary(
        &["/usr/bin/redis-server", "/usr/local/bin/redis-server"],
        "redis-server",
    );
    let mut redis_server = Server(
        Command::new(&redis_bin)
            .args(["--bind", "127.0.0.1", "--port", &redis.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    // The same server with a password, as it should be run.
    let mut redis_locked = Server(
        Command::new(&redis_bin)
            .args(["--bind", "127.0.0.1", "--port", &redis_auth.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                "s3cret-test",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_listening(
        &[https, redirect, careless, legacy, tls10],
        "nginx",
        &mut nginx,
    );
    wait_listening(&[redis], "redis-server", &mut redis_server);
    wait_listening(&[redis_auth], "redis-server", &mut redis_locked);

    let ca = dir.join("ca.pem").display().to_string();
    let t_https = format!("https://web.lab.test:{https}/");
    let t_redirect = format!("http://web.lab.test:{redirect}/");
    let t_careless = format!("http://web.lab.test:{careless}/");
    // Legacy sites, by address (no name: no hostname check, and HSTS is not judged there).
    let t_legacy = format!("https://127.0.0.1:{legacy}/");
    let t_tls10 = format!("https://127.0.0.1:{tls10}/");
    let t_redis = format!("127.0.0.1:{redis}");
    let t_redis_auth = format!("127.0.0.1:{redis_auth}");
    let (code, report) = scan(
        &dir,
        &[
            &t_https,
            &t_redirect,
            &t_careless,
            &t_legacy,
            &t_tls10,
            &t_redis,
            &t_redis_auth,
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    // The TLS 1.0-only site serves HTTP to legacy clients, but no handshake posture's HTTP
    // client (TLS 1.2+) can complete reaches it: its HTTP is unknown, and said so.
    assert_eq!(
        report["incomplete"],
        serde_json::json!([{
            "endpoint": format!("127.0.0.1:{tls10}"),
            "stage": "http",
            "reason": "not probed: no TLS handshake the HTTP client can complete \
                       (received fatal alert: ProtocolVersion)",
        }]),
        "{report:#}"
    );

    // The HTTPS site is configured well: no TLS or HTTP finding at all.
    let by_ep = ids_by_endpoint(&report);
    let ep = |p: u16| format!("web.lab.test:{p}");
    assert_eq!(by_ep.get(&ep(https)), None, "{by_ep:?}");
    let tls: Vec<&serde_json::Value> = subjects(&report, "tls")
        .into_iter()
        .filter(|s| s["endpoint"] == ep(https))
        .collect();
    assert_eq!(tls.len(), 1, "{tls:?}");
    let t = &tls[0]["tls"];
    assert_eq!(
        t["versions"],
        serde_json::json!(["tls1.2", "tls1.3"]),
        "{t}"
    );
    assert_eq!(t["trusted"], true, "{t}");
    assert_eq!(t["hostname_matches"], true, "{t}");
    assert_eq!(t["weak_ciphers"], serde_json::json!([]), "{t}");
    assert_eq!(t["forward_secrecy"], true, "{t}");
    assert_eq!(tls[0]["cert"]["subject"], "CN=web.lab.test", "{}", tls[0]);

    // The plain-HTTP redirect is what it should be.
    assert_eq!(by_ep.get(&ep(redirect)), None, "{by_ep:?}");
    // The careless site: plain HTTP, no redirect, version in Server, no security headers.
    let want: BTreeSet<String> = [
        "http.headers.missing",
        "http.redirect.missing",
        "http.server.version-disclosure",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(by_ep.get(&ep(careless)), Some(&want), "{by_ep:?}");
    let disclosure = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "http.server.version-disclosure")
        .unwrap();
    assert!(
        disclosure["message"]
            .as_str()
            .unwrap()
            .contains("server: nginx/"),
        "{disclosure}"
    );

    // nginx with TLS 1.0–1.2 and every suite OpenSSL has (anonymous ones included), and nginx
    // with TLS 1.0 and RSA key exchange only (it refuses the modern hello with an alert).
    let set = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| s.to_string()).collect() };
    let ip_ep = |p: u16| format!("127.0.0.1:{p}");
    assert_eq!(
        by_ep.get(&ip_ep(legacy)),
        Some(&set(&[
            "http.headers.missing",
            "tls.cipher.weak",
            "tls.protocol.legacy",
            "tls.protocol.no-tls13",
        ])),
        "{by_ep:?}"
    );
    assert_eq!(
        by_ep.get(&ip_ep(tls10)),
        Some(&set(&[
            "tls.cipher.no-forward-secrecy",
            "tls.protocol.legacy",
            "tls.protocol.no-tls13",
        ])),
        "{by_ep:?}"
    );
    let tls_of = |p: u16| {
        subjects(&report, "tls")
            .into_iter()
            .find(|s| s["endpoint"] == ip_ep(p))
            .unwrap_or_else(|| panic!("no TLS subject for {p}"))
            .clone()
    };
    let old = tls_of(legacy);
    assert_eq!(
        old["tls"]["versions"],
        serde_json::json!(["tls1.0", "tls1.1", "tls1.2"]),
        "{old}"
    );
    assert_eq!(
        old["tls"]["weak_ciphers"],
        serde_json::json!(["anon"]),
        "{old}"
    );
    let older = tls_of(tls10);
    assert_eq!(
        older["tls"]["versions"],
        serde_json::json!(["tls1.0"]),
        "{older}"
    );
    assert_eq!(older["tls"]["forward_secrecy"], false, "{older}");
    assert_eq!(older["tls"]["trusted"], true, "{older}");

    // Redis without a password, on a port that does not name it: the generic HTTP nudge gets
    // Redis's own error reply, which identifies it; a follow-up PING is answered.
    let port = port_subject(&report, redis);
    assert_eq!(port["port"]["service"], "redis", "{port}");
    let banner = port["port"]["banner"].as_str().unwrap();
    assert!(
        banner.starts_with("-ERR wrong number of arguments for 'get' command"),
        "{port}"
    );
    assert!(banner.contains("+PONG"), "the follow-up PING: {port}");
    let ports_with = |rule: &str| -> Vec<u64> {
        let mut v: Vec<u64> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"] == rule)
            .map(|f| f["port"].as_u64().unwrap())
            .collect();
        v.sort_unstable();
        v
    };
    // Both are exposed Redis servers; only the one without a password answers commands.
    let mut both = vec![u64::from(redis), u64::from(redis_auth)];
    both.sort_unstable();
    assert_eq!(ports_with("port.risky-service"), both);
    assert_eq!(ports_with("port.redis.unauthenticated"), [u64::from(redis)]);
    let locked = port_subject(&report, redis_auth);
    assert_eq!(locked["port"]["service"], "redis", "{locked}");
    // Redis checks a command's arguments before authentication: the nudge's arity error says
    // nothing, the follow-up PING is refused.
    let banner = locked["port"]["banner"].as_str().unwrap();
    assert!(
        banner.starts_with("-ERR wrong number of arguments"),
        "{locked}"
    );
    assert!(banner.contains("-NOAUTH"), "{locked}");
    assert!(!banner.contains("+PONG"), "{locked}");
}

/// A Postfix instance of our own (`postfix -c DIR start-fg`), stopped on drop: the master
/// runs as a child of the `postfix` script, so killing that child alone would leave it.
struct Postfix {
    dir: std::path::PathBuf,
    fg: Server,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.dir)
            .arg("abort")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.fg.0.kill();
    }
}

/// Real Postfix with STARTTLS, as Debian ships it (opportunistic TLS: every protocol OpenSSL
/// allows, anonymous suites enabled for opportunistic clients) and hardened (TLS 1.2+, no
/// anonymous suites). posture must find the STARTTLS upgrade by the greeting alone and report
/// exactly what that server accepts.
#[test]
fn postfix_starttls_is_judged_as_it_is() {
    let postfix = binary(&["/usr/sbin/postfix"], "postfix");
    let mut env = Env::new();
    let resolver = env.dns(&["mail"]).to_string();
    let dir = env.dir.path().to_path_buf();
    // Postfix's daemons run as the `postfix` user and must reach the queue below this dir.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    openssl_ca_and_leaf(&dir, "mail.lab.test", 2048, "sha256", 200);
    let (default, hardened) = (free_port(), free_port());
    let d = dir.display();
    std::fs::create_dir_all(dir.join("queue")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let chown = Command::new("chown")
        .arg("postfix")
        .arg(dir.join("data"))
        .status()
        .unwrap();
    assert!(chown.success(), "the postfix user is missing");
    std::fs::write(
        dir.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.lab.test
mydestination =
smtpd_banner = $myhostname ESMTP
smtpd_peername_lookup = no
maillog_file = /dev/stdout
smtpd_tls_cert_file = {d}/leaf.pem
smtpd_tls_key_file = {d}/leaf.key
smtpd_tls_security_level = may
"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("master.cf"),
        format!(
            "127.0.0.1:{default} inet n - n - - smtpd
127.0.0.1:{hardened} inet n - n - - smtpd -o smtpd_tls_protocols=>=TLSv1.2 -o smtpd_tls_exclude_ciphers=aNULL
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
tlsmgr unix - - n 1000? 1 tlsmgr
postlog unix-dgram n - n - 1 postlogd
"
        ),
    )
    .unwrap();
    let fg = Server(
        Command::new(&postfix)
            .arg("-c")
            .arg(&dir)
            .arg("start-fg")
            .stdout(std::fs::File::create(dir.join("maillog")).unwrap())
            .stderr(std::fs::File::create(dir.join("start.log")).unwrap())
            .spawn()
            .expect("start postfix"),
    );
    let mut pf = Postfix {
        dir: dir.clone(),
        fg,
    };
    if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_listening(&[default, hardened], "postfix", &mut pf.fg)
    })) {
        let log = std::fs::read_to_string(dir.join("start.log")).unwrap_or_default();
        let maillog = std::fs::read_to_string(dir.join("maillog")).unwrap_or_default();
        panic!("{e:?}\npostfix start-fg:\n{log}\nmaillog:\n{maillog}");
    }

    let ca = dir.join("ca.pem").display().to_string();
    // Plain host:port targets: STARTTLS must come from the greeting, not from a scheme.
    let t_default = format!("mail.lab.test:{default}");
    let t_hardened = format!("mail.lab.test:{hardened}");
    let (code, report) = scan(
        &dir,
        &[
            &t_default,
            &t_hardened,
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["incomplete"], serde_json::json!([]), "{report:#}");
    for port in subjects(&report, "port") {
        assert_eq!(port["port"]["service"], "smtp", "{port:#}");
        assert_eq!(port["port"]["service_source"], "banner", "{port:#}");
    }
    let tls = subjects(&report, "tls");
    assert_eq!(tls.len(), 2, "{report:#}");
    for t in &tls {
        assert_eq!(t["tls"]["starttls"], "smtp", "{t:#}");
    }
    let by_ep = ids_by_endpoint(&report);
    let ids = |ep: &str| -> BTreeSet<String> { by_ep.get(ep).cloned().unwrap_or_default() };
    // Debian's defaults: TLS 1.0 and 1.1 accepted, anonymous suites offered (both true:
    // `openssl s_client -starttls smtp -tls1` and `-cipher aNULL@SECLEVEL=0` get in).
    assert_eq!(
        ids(&t_default),
        BTreeSet::from([
            "tls.protocol.legacy".to_string(),
            "tls.cipher.weak".to_string()
        ]),
        "{by_ep:?}"
    );
    // Hardened: trusted (private CA), right name, modern protocols: nothing to report.
    assert_eq!(ids(&t_hardened), BTreeSet::new(), "{by_ep:?}");
    let versions = |ep: &str| {
        tls.iter()
            .find(|t| t["endpoint"] == ep)
            .map(|t| t["tls"]["versions"].clone())
            .unwrap()
    };
    assert_eq!(
        versions(&t_default),
        serde_json::json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"])
    );
    assert_eq!(
        versions(&t_hardened),
        serde_json::json!(["tls1.2", "tls1.3"])
    );
}

// ---------------------------------------------------------------- NSD

const QTYPE_SOA: u16 = 6;
const QTYPE_TXT: u16 = 16;
const QTYPE_AXFR: u16 = 252;

/// A DNS query (RD clear, no EDNS: what a plain `dig +norecurse` or a secondary sends).
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

/// The header of a DNS answer, as dig prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DnsHeader {
    rcode: u8,
    aa: bool,
    tc: bool,
    answers: u16,
}

fn dns_header(id: u16, b: &[u8]) -> Option<DnsHeader> {
    if b.len() < 12 || b[..2] != id.to_be_bytes() || b[2] & 0x80 == 0 {
        return None;
    }
    Some(DnsHeader {
        rcode: b[3] & 0x0f,
        aa: b[2] & 0x04 != 0,
        tc: b[2] & 0x02 != 0,
        answers: u16::from_be_bytes([b[6], b[7]]),
    })
}

/// One UDP question to 127.0.0.1:`port`, one short wait: `None` when nothing (valid) came back.
fn udp_ask(port: u16, id: u16, name: &str, qtype: u16) -> Option<DnsHeader> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
    s.send_to(&dns_query(id, name, qtype), ("127.0.0.1", port))
        .ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    dns_header(id, &buf[..n])
}

/// The header of the first message NSD sends back to a question over TCP (an AXFR's first
/// message), read within two seconds.
fn tcp_first_answer(port: u16, name: &str, qtype: u16) -> DnsHeader {
    let id = 0x5eed;
    let q = dns_query(id, name, qtype);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut framed = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len)
        .unwrap_or_else(|e| panic!("NSD sent nothing back to {name} type {qtype}: {e}"));
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg).unwrap();
    dns_header(id, &msg).unwrap_or_else(|| panic!("not an answer to our question: {msg:?}"))
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

/// NSD, a real authoritative server, serving two zones of our own: `good.lab.test` (what a
/// careful domain owner publishes: SPF `-all` through an include, DMARC `p=reject`, CAA, null
/// MX, two nameservers, no zone transfer) and `bad.lab.test` (SPF `+all`, DMARC `p=none` with
/// reports to a domain that never agreed to receive them, no CAA, an MX that is an alias, a
/// wildcard, one nameserver, AXFR for anyone on loopback, and an alias to a name that does not
/// exist). posture must fire exactly the rules the RFCs call for, no more, and finish both.
///
/// NSD is the `--resolver` too (nothing else runs; no query leaves 127.0.0.1). An
/// authoritative-only server answers REFUSED for names outside its zones, which posture rightly
/// reports as incomplete, so NSD also serves the parent `test` zone with the delegations, as
/// the TLD would for a recursive resolver: the CAA climb (RFC 8659 §3) reaches `lab.test` and
/// `test`, the DMARC report authorisation (RFC 7489 §7.1) is asked under `elsewhere.test`, and
/// the dangling alias points under `nowhere.test`.
#[test]
fn nsd_zones_fire_exactly_their_dns_rules() {
    let nsd = binary(&["/usr/sbin/nsd", "/usr/local/sbin/nsd"], "nsd");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = dir.display();
    let port = free_port();
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
far.lab IN NS ns.far.lab.test.
ns.far.lab IN A 127.0.0.1
",
    )
    .unwrap();
    // Eight verification tokens next to the SPF record make the apex TXT RRset larger than
    // posture's EDNS buffer (1232 bytes): NSD answers UDP with TC set and posture must ask again
    // over TCP. The SPF record is two strings, joined without a space (RFC 7208 §3.3).
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
www IN A 127.0.0.1
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
    // As in scripts/bench-dns.sh: every file in our dir, no privilege drop (we run as root and
    // the temp dir is ours), no chroot, no database, response rate limiting off (every query
    // comes from 127.0.0.1; the limiter would make answers depend on timing).
    std::fs::write(
        dir.join("nsd.conf"),
        format!(
            "server:
  ip-address: 127.0.0.1
  port: {port}
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
"
        ),
    )
    .unwrap();
    // Killing the foreground process is enough: NSD's main and server children exit when the
    // process that started them goes away.
    let mut server = Server(
        Command::new(&nsd)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("nsd.conf"))
            .stdout(std::fs::File::create(dir.join("nsd.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("nsd.err")).unwrap())
            .spawn()
            .expect("start nsd"),
    );
    let nsd_log = || {
        ["nsd.out", "nsd.err", "nsd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Ready when every zone's SOA comes back authoritatively: at most 50 tries of 100 ms.
    let zones = ["test", "good.lab.test", "bad.lab.test"];
    let mut ready = false;
    for attempt in 0..50u16 {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("nsd exited early: {status}\n{}", nsd_log());
        }
        ready = zones
            .iter()
            .all(|z| udp_ask(port, attempt, z, QTYPE_SOA).is_some_and(|h| h.rcode == 0 && h.aa));
        if ready {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "nsd does not answer on {port}:\n{}", nsd_log());

    // What NSD itself says, independently of posture (dig @127.0.0.1 -p PORT axfr …): the
    // transfer of good.lab.test is refused with REFUSED (not dropped, not NOTAUTH), bad.lab.test
    // is transferred; the apex TXT RRset of good.lab.test does not fit in 1232 bytes.
    let refused = tcp_first_answer(port, "good.lab.test", QTYPE_AXFR);
    assert_eq!(
        (refused.rcode, refused.aa, refused.answers),
        (5, false, 0),
        "{refused:?}\n{}",
        nsd_log()
    );
    let open = tcp_first_answer(port, "bad.lab.test", QTYPE_AXFR);
    assert_eq!((open.rcode, open.aa), (0, true), "{open:?}");
    assert!(open.answers >= 10, "{open:?}");
    // NSD logs the refusal (verbosity 2) before it answers; allow the write a moment to land.
    let logged = (0..20).any(|_| {
        let found = nsd_log().contains("axfr for good.lab.test. from 127.0.0.1 refused");
        if !found {
            std::thread::sleep(Duration::from_millis(50));
        }
        found
    });
    assert!(logged, "{}", nsd_log());
    let mut big = [0u8; 4096];
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // The same question posture asks: TXT with an EDNS OPT advertising 1232 bytes.
    let mut q = dns_query(0x7e57, "good.lab.test", QTYPE_TXT);
    q[11] = 1; // ARCOUNT
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    s.send_to(&q, ("127.0.0.1", port)).unwrap();
    let (n, _) = s.recv_from(&mut big).unwrap();
    let txt = dns_header(0x7e57, &big[..n]).unwrap();
    assert!(txt.tc && txt.rcode == 0, "{txt:?}");

    std::fs::write(
        dir.join("posture.toml"),
        "[[domain]]\nname = \"good.lab.test\"\n\n[[domain]]\nname = \"bad.lab.test\"\n\n\
         [[domain]]\nname = \"far.lab.test\"\n",
    )
    .unwrap();
    let config = dir.join("posture.toml").display().to_string();
    let server_addr = format!("127.0.0.1:{port}");
    let port_arg = port.to_string();
    let start = Instant::now();
    let (code, report) = scan(
        dir,
        &[
            "--config",
            &config,
            "--checks",
            "dns",
            "--resolver",
            &server_addr,
            "--ns-port",
            &port_arg,
            "--fail-on",
            "none",
            "--allow-incomplete",
        ],
    );
    let took = start.elapsed();
    assert_eq!(code, 0, "{report:#}");
    assert!(took < Duration::from_secs(10), "the scan took {took:?}");

    // Complete but for far.lab.test: delegated in `test` to a server that does not serve it,
    // so NSD (which does not recurse) answers every question about it with a referral. A
    // referral is no answer: the zone is incomplete, not a zone without SPF, DMARC, CAA and
    // nameservers (RFC 2308 §2.2 tells a referral from NODATA).
    let incomplete = report["incomplete"].as_array().unwrap();
    assert!(!incomplete.is_empty(), "{report:#}");
    for i in incomplete {
        assert_eq!(i["stage"], "dns", "{i}");
        assert_eq!(i["endpoint"], "far.lab.test", "{i}\n{}", nsd_log());
        let reason = i["reason"].as_str().unwrap_or("");
        assert!(
            reason.contains("referred the question to `far.lab.test`"),
            "{i}"
        );
    }
    let dns = subjects(&report, "dns");
    let zone = |name: &str| -> &serde_json::Value {
        dns.iter()
            .find(|s| s["endpoint"] == name)
            .map(|s| &s["dns"])
            .unwrap_or_else(|| panic!("no DNS subject for {name}: {report:#}"))
    };
    assert_eq!(zone("far.lab.test")["complete"], false, "{report:#}");
    for z in ["good.lab.test", "bad.lab.test"] {
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
    want.insert(
        "bad.lab.test".to_string(),
        set(&[
            // `+all` authorises every host (RFC 7208 §5.1).
            "dns.spf.permissive",
            // p=none (RFC 7489 §6.3), reports to elsewhere.test without
            // bad.lab.test._report._dmarc.elsewhere.test (NXDOMAIN, RFC 7489 §7.1).
            "dns.dmarc.weak",
            "dns.dmarc.unauthorized-report",
            // The MX target is a CNAME (RFC 2181 §10.3); it accepts mail without MTA-STS
            // (RFC 8461) or TLS-RPT (RFC 8460).
            "dns.mx.invalid",
            "dns.mta-sts.missing",
            "dns.tls-rpt.missing",
            // No CAA at bad.lab.test, lab.test or test (RFC 8659 §3).
            "dns.caa.missing",
            "dns.dnssec.missing",
            // One nameserver (RFC 1034 §4.1 asks for two), so one network.
            "dns.ns.single",
            "dns.ns.same-network",
            // provide-xfr 127.0.0.0/8: our AXFR got the zone.
            "dns.axfr.open",
            // `*.bad.lab.test` answers the random probe label (RFC 4592).
            "dns.wildcard.present",
        ]),
    );
    // Learnt from the open transfer: an alias whose target gets NXDOMAIN from the `test` zone.
    want.insert(
        "shop.bad.lab.test".to_string(),
        set(&["dns.cname.dangling"]),
    );
    assert_eq!(dns_ids_by_endpoint(&report), want, "{report:#}");

    // The facts behind the verdicts are what NSD serves.
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
    let attempts = good["axfr"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{good:#}");
    for a in attempts {
        assert_eq!(a["allowed"], false, "{a}");
        assert_eq!(a["result"], "REFUSED", "{a}");
    }
    // NSD does not recurse: REFUSED without RA for a name outside its zones.
    for t in good["recursion"]["tests"].as_array().unwrap() {
        assert_eq!(t["open"], false, "{t}");
        assert_eq!(t["result"], "REFUSED ra=0 aa=0 answers=0", "{t}");
    }
    assert_eq!(good["wildcard"]["present"], false, "{good:#}");

    let bad = zone("bad.lab.test");
    let attempts = bad["axfr"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{bad:#}");
    assert_eq!(attempts[0]["allowed"], true, "{bad:#}");
    assert_eq!(attempts[0]["result"], "NOERROR", "{bad:#}");
    // Every record but the closing SOA: SOA NS TXT MX * _dmarc host mx ns1 shop.
    assert_eq!(attempts[0]["records_seen"], 10, "{bad:#}");
    assert_eq!(
        bad["axfr"]["names"],
        serde_json::json!([
            "_dmarc.bad.lab.test",
            "bad.lab.test",
            "host.bad.lab.test",
            "mx.bad.lab.test",
            "ns1.bad.lab.test",
            "shop.bad.lab.test"
        ]),
        "{bad:#}"
    );
    assert_eq!(
        bad["mx"]["problems"],
        serde_json::json!(["MX mx.bad.lab.test is an alias (CNAME); RFC 2181 §10.3 forbids it"]),
        "{bad:#}"
    );
    assert_eq!(bad["dmarc"]["reports"][0]["domain"], "elsewhere.test");
    assert_eq!(
        bad["wildcard"]["answers"],
        serde_json::json!(["A 127.0.0.1"])
    );
    let shop = zone("shop.bad.lab.test");
    assert_eq!(shop["cname"]["target"], "gone.nowhere.test", "{shop:#}");
    assert_eq!(shop["cname"]["status"], "dangling", "{shop:#}");
    // The alias behind the MX resolves: kept as a subject (it is an alias), nothing to say.
    assert_eq!(zone("mx.bad.lab.test")["cname"]["status"], "resolves");
}
