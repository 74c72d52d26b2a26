//! Real web servers and TLS terminators other than nginx (which `real_servers` covers), run
//! the way Debian admins run them: Apache httpd 2.4 (a hardened instance with name-based
//! vhosts and a careless one), HAProxy terminating TLS in front of a backend and passing TLS
//! through by SNI, Caddy with its own certificates, and lighttpd with `mod_openssl`. Every
//! server runs in the foreground as a child of the test, on free loopback ports, with a
//! configuration and certificates (a private root and intermediate, made relative to now)
//! written into a temp dir; names resolve through the lab DNS server, never the system's.
//!
//! Each test asserts what is true of the server (from what it sends, and the RFCs), not what
//! posture happens to say. `scripts/test` installs apache2, haproxy, caddy, lighttpd and
//! lighttpd-mod-openssl when missing.

use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{ids_by_endpoint, incomplete, scan, subjects, Env};
use posture::lab::tls_lab::LabPki;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `cmd` with its output in `dir/NAME.out`, then waits (bounded) until every port
/// accepts connections; panics with that output when the server exits or never listens.
fn start(mut cmd: Command, name: &str, dir: &Path, ports: &[u16]) -> Server {
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
    for &p in ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], p));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.0.try_wait() {
                panic!("{name} exited early: {status}\n{}", said());
            }
            assert!(
                Instant::now() < until,
                "{name} is not listening on {p}\n{}",
                said()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    server
}

// ---------------------------------------------------------------- certificates

/// PEM armour for DER bytes.
fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A private PKI on disk: `root.pem` (the `--ca-file`), `int.pem` (the intermediate), and one
/// RSA-2048 server key `server.key` (made by the openssl CLI: ring cannot make RSA keys;
/// static-RSA suites need an RSA certificate) that every leaf certifies.
struct Pki {
    lab: LabPki,
    key: rcgen::KeyPair,
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let out = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
            .args(["rsa_keygen_bits:2048", "-out", "server.key"])
            .current_dir(dir)
            .output()
            .expect("the openssl CLI must be installed for these tests");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
        let lab = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
        std::fs::write(dir.join("root.pem"), &lab.root.pem).unwrap();
        std::fs::write(dir.join("int.pem"), &lab.intermediate.pem).unwrap();
        Pki {
            lab,
            key: rcgen::KeyPair::from_pem(&key).unwrap(),
            dir: dir.to_path_buf(),
        }
    }

    /// A leaf for `name` valid from `now + from` to `now + to` days, issued by the
    /// intermediate: `NAME.pem` (the leaf alone) and `NAME.full.pem` (leaf + intermediate).
    fn leaf(&self, name: &str, from: i64, to: i64) {
        let cert = self
            .lab
            .leaf_with_key(&[name], &self.key, from, to)
            .unwrap();
        let leaf = pem("CERTIFICATE", &cert.chain[0]);
        std::fs::write(self.dir.join(format!("{name}.pem")), &leaf).unwrap();
        let full = format!("{leaf}{}", self.lab.intermediate.pem);
        std::fs::write(self.dir.join(format!("{name}.full.pem")), full).unwrap();
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn ca(&self) -> String {
        self.path("root.pem")
    }
}

// ---------------------------------------------------------------- report helpers

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The subject of `kind` for `endpoint` (`host:port`).
fn subject(report: &Value, kind: &str, endpoint: &str) -> Value {
    subjects(report, kind)
        .into_iter()
        .find(|s| s["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no {kind} subject for {endpoint}: {report:#}"))
        .clone()
}

/// Asserts the tls.*/http.* findings of every endpoint in `want` (absent: none at all).
fn assert_findings(report: &Value, want: &[(String, BTreeSet<String>)]) {
    let got = ids_by_endpoint(report);
    for (ep, ids) in want {
        let empty = BTreeSet::new();
        assert_eq!(
            got.get(ep).unwrap_or(&empty),
            ids,
            "findings of {ep}; all: {got:#?}"
        );
    }
}

/// Version-disclosure evidence (`server: Apache/2.4.66`) of one endpoint's HTTP subject.
fn disclosures(report: &Value, endpoint: &str) -> Vec<String> {
    subject(report, "http", endpoint)["http"]["version_disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------- Apache httpd

/// The part of an Apache configuration every instance of ours shares: a self-contained
/// server (no Debian envvars, no /etc/apache2), its runtime files in `dir`.
fn apache_base(dir: &Path, tokens: &str, signature: &str) -> String {
    let d = dir.display();
    format!(
        "ServerRoot /usr/lib/apache2
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule ssl_module modules/mod_ssl.so
LoadModule socache_shmcb_module modules/mod_socache_shmcb.so
LoadModule headers_module modules/mod_headers.so
LoadModule rewrite_module modules/mod_rewrite.so
LoadModule alias_module modules/mod_alias.so
LoadModule mime_module modules/mod_mime.so
LoadModule dir_module modules/mod_dir.so
LoadModule http2_module modules/mod_http2.so
ServerName localhost
PidFile {d}/httpd-{tokens}.pid
ErrorLog {d}/error-{tokens}.log
LogLevel warn
Mutex file:{d} default
DefaultRuntimeDir {d}
User www-data
Group www-data
TypesConfig /dev/null
AddType text/html .html
DocumentRoot {d}/htdocs
<Directory {d}/htdocs>
  Require all granted
</Directory>
DirectoryIndex index.html
SSLSessionCache shmcb:{d}/ssl_scache-{tokens}(512000)
ServerTokens {tokens}
ServerSignature {signature}
TraceEnable off
"
    )
}

/// Runs `apache2 -X` (one process, in the foreground) on `conf`, written to `dir/NAME.conf`.
fn start_apache(dir: &Path, name: &str, conf: &str, ports: &[u16]) -> Server {
    let apache = binary(&["/usr/sbin/apache2", "/usr/sbin/httpd"], "apache2");
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(apache);
    cmd.arg("-X").arg("-f").arg(&path);
    start(cmd, name, dir, ports)
}

/// The document root Apache and lighttpd serve: readable by www-data once it drops root.
fn htdocs(dir: &Path) {
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("htdocs")).unwrap();
    std::fs::write(dir.join("htdocs/index.html"), "<p>hello</p>\n").unwrap();
}

const GOOD_HEADERS_APACHE: &str = "  Header always set X-Content-Type-Options nosniff
  Header always set X-Frame-Options DENY
  Header always set Content-Security-Policy \"default-src 'self'\"
";

/// Two Apache instances. The hardened one (`ServerTokens Prod`) serves, on one TLS port, the
/// name-based vhosts `www.lab.test` (TLS 1.2+1.3 with Mozilla's intermediate suites, full
/// chain, HSTS one year with includeSubDomains, security headers, h2) and `chain.lab.test`
/// (its certificate file lists leaf, root, intermediate: out of order, which TLS 1.3 allows,
/// RFC 8446 §4.4.2; HSTS with a quoted max-age and `preload`), a TLS 1.3-only vhost, and on a
/// plain port `www` (301 to HTTPS), `shop` (308 to https://www.lab.test: another host) and
/// `content` (serves the page). The careless one (`ServerTokens Full`, `ServerSignature On`)
/// has `SSLProtocol all` with every suite at security level 0 and a leaf-only certificate for
/// another name, a TLS 1.2 vhost with an expired certificate whose first HSTS header is
/// `max-age=0`, and plain content. posture must report exactly what each one does wrong.
#[test]
fn apache_vhosts_are_judged_as_they_are() {
    let mut env = Env::new();
    let resolver = env
        .dns(&["www", "chain", "tls13", "shop", "content", "old", "expired"])
        .to_string();
    let dir = env.dir.path().to_path_buf();
    htdocs(&dir);
    let pki = Pki::new(&dir);
    pki.leaf("www.lab.test", -1, 200);
    pki.leaf("chain.lab.test", -1, 200);
    pki.leaf("tls13.lab.test", -1, 200);
    pki.leaf("other.lab.test", -1, 200);
    pki.leaf("expired.lab.test", -100, -2);
    let disorder = format!(
        "{}{}{}",
        std::fs::read_to_string(dir.join("chain.lab.test.pem")).unwrap(),
        pki.lab.root.pem,
        pki.lab.intermediate.pem
    );
    std::fs::write(dir.join("chain.disorder.pem"), disorder).unwrap();
    let key = pki.path("server.key");
    let cert = |f: &str| pki.path(f);

    let (tls, tls13, plain) = (free_port(), free_port(), free_port());
    let (legacy, expired, careless) = (free_port(), free_port(), free_port());
    let hardened_conf = format!(
        "{base}
Listen 127.0.0.1:{tls}
Listen 127.0.0.1:{tls13}
Listen 127.0.0.1:{plain}
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
SSLHonorCipherOrder off
SSLSessionTickets off
<VirtualHost 127.0.0.1:{tls}>
  ServerName www.lab.test
  Protocols h2 http/1.1
  SSLEngine on
  SSLCertificateFile {www}
  SSLCertificateKeyFile {key}
  Header always set Strict-Transport-Security \"max-age=31536000; includeSubDomains\"
{good}</VirtualHost>
<VirtualHost 127.0.0.1:{tls}>
  ServerName chain.lab.test
  SSLEngine on
  SSLCertificateFile {disorder}
  SSLCertificateKeyFile {key}
  Header always set Strict-Transport-Security \"max-age=\\\"63072000\\\"; includeSubDomains; preload\"
{good}</VirtualHost>
<VirtualHost 127.0.0.1:{tls13}>
  ServerName tls13.lab.test
  SSLEngine on
  SSLProtocol TLSv1.3
  SSLCertificateFile {tls13_cert}
  SSLCertificateKeyFile {key}
  Header always set Strict-Transport-Security \"max-age=31536000\"
{good}</VirtualHost>
<VirtualHost 127.0.0.1:{plain}>
  ServerName www.lab.test
  Redirect permanent / https://www.lab.test:{tls}/
</VirtualHost>
<VirtualHost 127.0.0.1:{plain}>
  ServerName shop.lab.test
  RewriteEngine on
  RewriteRule ^ https://www.lab.test:{tls}/ [R=308,L]
</VirtualHost>
<VirtualHost 127.0.0.1:{plain}>
  ServerName content.lab.test
</VirtualHost>
",
        base = apache_base(&dir, "Prod", "Off"),
        www = cert("www.lab.test.full.pem"),
        disorder = cert("chain.disorder.pem"),
        tls13_cert = cert("tls13.lab.test.full.pem"),
        good = GOOD_HEADERS_APACHE,
    );
    let careless_conf = format!(
        "{base}
Listen 127.0.0.1:{legacy}
Listen 127.0.0.1:{expired}
Listen 127.0.0.1:{careless}
<VirtualHost 127.0.0.1:{legacy}>
  ServerName old.lab.test
  SSLEngine on
  SSLProtocol all
  SSLCipherSuite ALL:@SECLEVEL=0
  SSLCertificateFile {other}
  SSLCertificateKeyFile {key}
</VirtualHost>
<VirtualHost 127.0.0.1:{expired}>
  ServerName expired.lab.test
  SSLEngine on
  SSLProtocol TLSv1.2
  SSLCertificateFile {expired_cert}
  SSLCertificateKeyFile {key}
  Header always set Strict-Transport-Security \"max-age=0\"
  Header onsuccess set Strict-Transport-Security \"max-age=31536000; includeSubDomains\"
</VirtualHost>
<VirtualHost 127.0.0.1:{careless}>
  ServerName content.lab.test
</VirtualHost>
",
        base = apache_base(&dir, "Full", "On"),
        other = cert("other.lab.test.pem"),
        expired_cert = cert("expired.lab.test.full.pem"),
    );
    let _hardened = start_apache(&dir, "hardened", &hardened_conf, &[tls, tls13, plain]);
    let _careless = start_apache(
        &dir,
        "careless",
        &careless_conf,
        &[legacy, expired, careless],
    );

    let targets = [
        format!("https://www.lab.test:{tls}/"),
        format!("https://chain.lab.test:{tls}/"),
        format!("https://tls13.lab.test:{tls13}/"),
        format!("http://www.lab.test:{plain}/"),
        format!("http://shop.lab.test:{plain}/"),
        format!("http://content.lab.test:{plain}/"),
        format!("https://old.lab.test:{legacy}/"),
        format!("https://expired.lab.test:{expired}/"),
        format!("http://content.lab.test:{careless}/"),
    ];
    let ca = pki.ca();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend([
        "--resolver",
        &resolver,
        "--ca-file",
        &ca,
        "--checks",
        "ports,tls,http",
        "--fail-on",
        "none",
    ]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");

    let ep = |name: &str, port: u16| format!("{name}.lab.test:{port}");
    let content_findings = [
        "http.headers.missing",
        "http.redirect.missing",
        "http.server.version-disclosure",
    ];
    assert_findings(
        &report,
        &[
            // The hardened instance: nothing wrong anywhere but the page served on plain HTTP
            // (and `ServerTokens Prod` keeps the version to itself).
            (ep("www", tls), set(&[])),
            (ep("chain", tls), set(&[])),
            (ep("tls13", tls13), set(&[])),
            (ep("www", plain), set(&[])),
            (ep("shop", plain), set(&[])),
            (
                ep("content", plain),
                set(&["http.headers.missing", "http.redirect.missing"]),
            ),
            // The careless instance. No weak-cipher finding: mod_ssl always removes aNULL,
            // eNULL and EXPORT from SSLCipherSuite, and Debian's OpenSSL 3 has no RC4, DES or
            // 3DES; every protocol OpenSSL has is on (`all` is TLS 1.0–1.3 in 2.4.x).
            (
                ep("old", legacy),
                set(&[
                    "http.headers.missing",
                    "http.hsts.missing",
                    "http.server.version-disclosure",
                    "tls.cert.hostname-mismatch",
                    "tls.cert.incomplete-chain",
                    "tls.protocol.legacy",
                ]),
            ),
            (
                ep("expired", expired),
                set(&[
                    "http.headers.missing",
                    "http.hsts.missing",
                    "http.server.version-disclosure",
                    "tls.cert.expired",
                    "tls.protocol.no-tls13",
                ]),
            ),
            (ep("content", careless), set(&content_findings)),
        ],
    );

    // The facts behind the verdicts.
    let www = subject(&report, "tls", &ep("www", tls));
    assert_eq!(www["cert"]["subject"], "CN=www.lab.test", "{www}");
    assert_eq!(www["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{www}");
    assert_eq!(www["tls"]["alpn"], "h2", "{www}");
    assert_eq!(www["tls"]["trusted"], true, "{www}");
    assert_eq!(www["tls"]["chain_complete"], true, "{www}");
    assert_eq!(www["tls"]["forward_secrecy"], true, "{www}");
    assert_eq!(www["tls"]["weak_ciphers"], json!([]), "{www}");
    // Not stapling OCSP is no finding (the certificate names no responder).
    assert_eq!(www["tls"]["ocsp_stapled"], false, "{www}");
    // SNI picked the second vhost's certificate, sent as leaf, root, intermediate.
    let chain = subject(&report, "tls", &ep("chain", tls));
    let order: Vec<&str> = chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "CN=chain.lab.test",
            "CN=posture lab root CA, O=posture lab",
            "CN=posture lab intermediate CA, O=posture lab"
        ],
        "{chain}"
    );
    assert_eq!(chain["tls"]["trusted"], true, "{chain}");
    assert_eq!(chain["tls"]["hostname_matches"], true, "{chain}");
    let hsts = &subject(&report, "http", &ep("chain", tls))["http"];
    assert_eq!(hsts["hsts_max_age"], 63_072_000, "{hsts}");
    assert_eq!(hsts["hsts"]["preload"], true, "{hsts}");
    assert_eq!(hsts["hsts"]["include_subdomains"], true, "{hsts}");
    let only13 = subject(&report, "tls", &ep("tls13", tls13));
    assert_eq!(only13["tls"]["versions"], json!(["tls1.3"]), "{only13}");
    assert_eq!(only13["tls"]["tls1_2"], false, "{only13}");
    assert_eq!(only13["tls"]["forward_secrecy"], true, "{only13}");
    // The redirects: 301 followed to the HTTPS vhost (whose HSTS then counts), 308 to another
    // host recorded and not followed.
    let redirect = &subject(&report, "http", &ep("www", plain))["http"];
    assert_eq!(redirect["redirects_to_https"], true, "{redirect}");
    assert_eq!(redirect["redirects"][0]["status"], 301, "{redirect}");
    assert_eq!(redirect["final_status"], 200, "{redirect}");
    let shop = &subject(&report, "http", &ep("shop", plain))["http"];
    assert_eq!(shop["redirects"][0]["status"], 308, "{shop}");
    assert_eq!(
        shop["redirects"][0]["location"],
        format!("https://www.lab.test:{tls}/"),
        "{shop}"
    );
    assert_eq!(shop["redirects"][0]["followed"], false, "{shop}");
    assert_eq!(shop["redirects_to_https_other_host"], true, "{shop}");
    assert_eq!(
        subject(&report, "http", &ep("content", plain))["http"]["server"],
        "Apache"
    );

    let old = subject(&report, "tls", &ep("old", legacy));
    assert_eq!(
        old["tls"]["versions"],
        json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"]),
        "{old}"
    );
    assert_eq!(old["tls"]["weak_ciphers"], json!([]), "{old}");
    assert_eq!(old["tls"]["chain_complete"], false, "{old}");
    assert_eq!(old["cert"]["subject"], "CN=other.lab.test", "{old}");
    // RFC 6797 §8.1: only the first Strict-Transport-Security field counts; Apache sends the
    // `always` table's `max-age=0` first.
    let exp = &subject(&report, "http", &ep("expired", expired))["http"];
    assert_eq!(exp["hsts_max_age"], 0, "{exp}");
    assert_eq!(exp["hsts"]["raw"], "max-age=0", "{exp}");
    assert_eq!(
        exp["headers"]["strict-transport-security"],
        "max-age=0, max-age=31536000; includeSubDomains",
        "{exp}"
    );
    assert_eq!(
        subject(&report, "tls", &ep("expired", expired))["cert"]["expired"],
        true
    );
    // ServerTokens Full: the product and the OpenSSL version.
    for endpoint in [ep("old", legacy), ep("content", careless)] {
        let d = disclosures(&report, &endpoint);
        assert!(
            d.iter().any(|t| t.starts_with("server: Apache/2.4.")),
            "{endpoint}: {d:?}"
        );
        assert!(
            d.iter().any(|t| t.starts_with("server: OpenSSL/3.")),
            "{endpoint}: {d:?}"
        );
    }
}

/// Apache's HTTPS port scanned by address, without a scheme, on a port that is not TLS by
/// convention (the sweep of `--ports all` finds it the same way). The port is identified by
/// what it says: Apache answers posture's plaintext `GET /` nudge with `400 Bad Request ...
/// You're speaking plain HTTP to an SSL-enabled server port`, which posture itself reads as
/// `https`. It must then be assessed as the TLS server it is: TLS 1.0–1.3 accepted (a legacy
/// finding), and the page served without security headers.
#[test]
fn apache_https_found_by_address_is_assessed() {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    htdocs(&dir);
    let pki = Pki::new(&dir);
    pki.leaf("old.lab.test", -1, 200);
    let port = free_port();
    let conf = format!(
        "{base}
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
  ServerName old.lab.test
  SSLEngine on
  SSLProtocol all
  SSLCipherSuite ALL:@SECLEVEL=0
  SSLCertificateFile {cert}
  SSLCertificateKeyFile {key}
</VirtualHost>
",
        base = apache_base(&dir, "Prod", "Off"),
        cert = pki.path("old.lab.test.full.pem"),
        key = pki.path("server.key"),
    );
    let _apache = start_apache(&dir, "apache", &conf, &[port]);
    let target = format!("127.0.0.1:{port}");
    let ca = pki.ca();
    let (code, report) = scan(&dir, &[&target, "--ca-file", &ca, "--fail-on", "none"]);
    assert_eq!(code, 0, "{report:#}");
    let p = subject(&report, "port", &target);
    assert_eq!(p["port"]["service"], "https", "{p}");
    assert!(
        p["port"]["banner"]
            .as_str()
            .unwrap()
            .contains("speaking plain HTTP to an SSL-enabled server port"),
        "{p}"
    );
    let tls = subject(&report, "tls", &target);
    assert_eq!(
        tls["tls"]["versions"],
        json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"]),
        "{tls}"
    );
    assert_eq!(tls["tls"]["trusted"], true, "{tls}");
    // By address: no hostname check, and HSTS is not judged (RFC 6797 §8.1).
    assert_findings(
        &report,
        &[(
            target.clone(),
            set(&["http.headers.missing", "tls.protocol.legacy"]),
        )],
    );
}

/// Apache offering only static-RSA suites over TLS 1.2 (`SSLCipherSuite AES128-SHA256:AES256-SHA`,
/// an old hardening guide's list): browsers that still have RSA key exchange (Firefox) load
/// the page, which carries no HSTS and no security header. posture's own TLS client (rustls:
/// ECDHE only) cannot complete a handshake there, so the HTTP facts cannot be read with it;
/// the endpoint must then be reported as not assessed for HTTP, never as complete and clean.
#[test]
fn apache_static_rsa_https_is_not_silently_unassessed() {
    let mut env = Env::new();
    let resolver = env.dns(&["rsa"]).to_string();
    let dir = env.dir.path().to_path_buf();
    htdocs(&dir);
    let pki = Pki::new(&dir);
    pki.leaf("rsa.lab.test", -1, 200);
    let port = free_port();
    let conf = format!(
        "{base}
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
  ServerName rsa.lab.test
  SSLEngine on
  SSLProtocol TLSv1.2
  SSLCipherSuite AES128-SHA256:AES256-SHA
  SSLCertificateFile {cert}
  SSLCertificateKeyFile {key}
</VirtualHost>
",
        base = apache_base(&dir, "Prod", "Off"),
        cert = pki.path("rsa.lab.test.full.pem"),
        key = pki.path("server.key"),
    );
    let _apache = start_apache(&dir, "apache", &conf, &[port]);
    let target = format!("https://rsa.lab.test:{port}/");
    let ca = pki.ca();
    let (code, report) = scan(
        &dir,
        &[
            &target,
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--checks",
            "ports,tls,http",
            "--fail-on",
            "none",
            "--allow-incomplete",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let ep = format!("rsa.lab.test:{port}");
    let tls = subject(&report, "tls", &ep);
    assert_eq!(tls["tls"]["versions"], json!(["tls1.2"]), "{tls}");
    assert_eq!(tls["tls"]["forward_secrecy"], false, "{tls}");
    assert_eq!(tls["tls"]["trusted"], true, "{tls}");
    let by_ep = ids_by_endpoint(&report);
    let got = by_ep.get(&ep).cloned().unwrap_or_default();
    for id in ["tls.cipher.no-forward-secrecy", "tls.protocol.no-tls13"] {
        assert!(got.contains(id), "{id}: {got:?}");
    }
    let assessed = subjects(&report, "http")
        .iter()
        .any(|s| s["endpoint"] == ep.as_str());
    let listed = incomplete(&report)
        .iter()
        .any(|(stage, e)| stage == "http" && e.starts_with(&ep));
    assert!(
        assessed || listed,
        "HTTP of {ep} neither assessed nor listed incomplete: {report:#}"
    );
    if assessed {
        for id in ["http.hsts.missing", "http.headers.missing"] {
            assert!(got.contains(id), "{id}: {got:?}");
        }
    }
}

// ---------------------------------------------------------------- HAProxy

/// HAProxy 2.6 as a TLS terminator in front of an application (itself an HAProxy frontend
/// that answers like gunicorn, version in `Server`): a hardened frontend (Mozilla's
/// intermediate `ssl-default-bind-*`, `no-tls-tickets`, HSTS two years with `preload` and the
/// security headers set with `http-response set-header`, the backend's `Server` removed), a
/// TLS 1.3-only frontend (HSTS with a quoted max-age), a careless frontend (`ssl-min-ver
/// TLSv1.0`, `ciphers ALL:@SECLEVEL=0`, leaf-only certificate for another name, the backend's
/// header passed through), a plain frontend redirecting to HTTPS, and a TCP-mode frontend that
/// passes TLS through by SNI: `www.lab.test` to the hardened frontend, anything else (a
/// client without SNI) to the careless one. Every probe of one scan must reach the same
/// backend as the name it was given.
#[test]
fn haproxy_termination_and_passthrough_are_judged_as_they_are() {
    let haproxy = binary(&["/usr/sbin/haproxy"], "haproxy");
    let mut env = Env::new();
    let resolver = env.dns(&["www", "tls13", "legacy", "other"]).to_string();
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
    for (name, file, bundle) in [
        ("www.lab.test", "www.lab.test.full.pem", "www.bundle.pem"),
        (
            "tls13.lab.test",
            "tls13.lab.test.full.pem",
            "tls13.bundle.pem",
        ),
        ("other.lab.test", "other.lab.test.pem", "other.bundle.pem"),
    ] {
        pki.leaf(name, -1, 200);
        let certs = std::fs::read_to_string(dir.join(file)).unwrap();
        std::fs::write(dir.join(bundle), format!("{certs}{key}")).unwrap();
    }
    let (app, hard, h13, legacy) = (free_port(), free_port(), free_port(), free_port());
    let (plain, pass) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "global
  maxconn 256
  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend app
  bind 127.0.0.1:{app}
  http-request return status 200 content-type text/html hdr Server gunicorn/20.1.0 string \"<p>hello</p>\"
backend app
  server app1 127.0.0.1:{app}
frontend hard
  bind 127.0.0.1:{hard} ssl crt {d}/www.bundle.pem alpn h2,http/1.1
  http-response set-header Strict-Transport-Security \"max-age=63072000; includeSubDomains; preload\"
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header X-Frame-Options DENY
  http-response set-header Content-Security-Policy \"default-src 'self'\"
  http-response del-header Server
  default_backend app
frontend only13
  bind 127.0.0.1:{h13} ssl crt {d}/tls13.bundle.pem ssl-min-ver TLSv1.3
  http-response set-header Strict-Transport-Security \"max-age=\\\"31536000\\\"\"
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header Content-Security-Policy \"default-src 'self'; frame-ancestors 'none'\"
  http-response del-header Server
  default_backend app
frontend legacy
  bind 127.0.0.1:{legacy} ssl crt {d}/other.bundle.pem ssl-min-ver TLSv1.0 ciphers ALL:@SECLEVEL=0
  default_backend app
frontend plain
  bind 127.0.0.1:{plain}
  http-request redirect prefix https://www.lab.test:{hard} code 301
frontend pass
  mode tcp
  bind 127.0.0.1:{pass}
  tcp-request inspect-delay 2s
  tcp-request content accept if {{ req_ssl_hello_type 1 }}
  use_backend tls_hard if {{ req.ssl_sni -i www.lab.test }}
  default_backend tls_legacy
backend tls_hard
  mode tcp
  server h 127.0.0.1:{hard}
backend tls_legacy
  mode tcp
  server l 127.0.0.1:{legacy}
"
    );
    std::fs::write(dir.join("haproxy.cfg"), conf).unwrap();
    let mut cmd = Command::new(haproxy);
    cmd.arg("-f").arg(dir.join("haproxy.cfg")).arg("-db");
    let _haproxy = start(cmd, "haproxy", &dir, &[app, hard, h13, legacy, plain, pass]);

    let targets = [
        format!("https://www.lab.test:{hard}/"),
        format!("https://tls13.lab.test:{h13}/"),
        format!("https://legacy.lab.test:{legacy}/"),
        format!("http://www.lab.test:{plain}/"),
        format!("https://www.lab.test:{pass}/"),
        format!("https://127.0.0.1:{pass}/"),
    ];
    let ca = pki.ca();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend([
        "--resolver",
        &resolver,
        "--ca-file",
        &ca,
        "--checks",
        "ports,tls,http",
        "--fail-on",
        "none",
    ]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");

    let www = |p: u16| format!("www.lab.test:{p}");
    let careless = [
        "http.headers.missing",
        "http.server.version-disclosure",
        "tls.cert.incomplete-chain",
        "tls.cipher.weak",
        "tls.protocol.legacy",
    ];
    let mut legacy_named = set(&careless);
    legacy_named.extend(set(&["http.hsts.missing", "tls.cert.hostname-mismatch"]));
    assert_findings(
        &report,
        &[
            (www(hard), set(&[])),
            (format!("tls13.lab.test:{h13}"), set(&[])),
            (format!("legacy.lab.test:{legacy}"), legacy_named),
            (www(plain), set(&[])),
            (www(pass), set(&[])),
            // Without SNI the passthrough picks the careless backend (by address: no hostname
            // check, HSTS not judged).
            (format!("127.0.0.1:{pass}"), set(&careless)),
        ],
    );

    for endpoint in [www(hard), www(pass)] {
        let t = subject(&report, "tls", &endpoint);
        assert_eq!(t["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{t}");
        assert_eq!(t["tls"]["alpn"], "h2", "{t}");
        assert_eq!(t["tls"]["weak_ciphers"], json!([]), "{t}");
        assert_eq!(t["cert"]["subject"], "CN=www.lab.test", "{t}");
        let h = &subject(&report, "http", &endpoint)["http"];
        assert_eq!(h["hsts"]["max_age"], 63_072_000, "{h}");
        assert_eq!(h["hsts"]["preload"], true, "{h}");
        assert!(h.get("server").is_none(), "{h}");
    }
    let t13 = subject(&report, "tls", &format!("tls13.lab.test:{h13}"));
    assert_eq!(t13["tls"]["versions"], json!(["tls1.3"]), "{t13}");
    let h13_http = &subject(&report, "http", &format!("tls13.lab.test:{h13}"))["http"];
    assert_eq!(h13_http["hsts_max_age"], 31_536_000, "{h13_http}");
    assert_eq!(h13_http["frame_ancestors"], true, "{h13_http}");
    for endpoint in [
        format!("legacy.lab.test:{legacy}"),
        format!("127.0.0.1:{pass}"),
    ] {
        let t = subject(&report, "tls", &endpoint);
        assert_eq!(
            t["tls"]["versions"],
            json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"]),
            "{t}"
        );
        // HAProxy keeps OpenSSL's anonymous ECDH suites in `ALL` (AECDH-AES128-SHA is
        // accepted; mod_ssl would have removed it).
        assert_eq!(t["tls"]["weak_ciphers"], json!(["anon"]), "{t}");
        assert_eq!(t["cert"]["subject"], "CN=other.lab.test", "{t}");
        assert_eq!(
            disclosures(&report, &endpoint),
            ["server: gunicorn/20.1.0"],
            "{endpoint}"
        );
    }
    let redirect = &subject(&report, "http", &www(plain))["http"];
    assert_eq!(redirect["redirects"][0]["status"], 301, "{redirect}");
    assert_eq!(
        redirect["redirects"][0]["location"],
        format!("https://www.lab.test:{hard}/"),
        "{redirect}"
    );
    assert_eq!(redirect["final_status"], 200, "{redirect}");
}

// ---------------------------------------------------------------- Caddy

/// Runs `caddy run` on `caddyfile` with its data, config and storage in `dir`.
fn start_caddy(dir: &Path, caddyfile: &str, ports: &[u16]) -> Server {
    let caddy = binary(&["/usr/bin/caddy", "/usr/local/bin/caddy"], "caddy");
    std::fs::create_dir_all(dir.join("caddy")).unwrap();
    std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
    let mut cmd = Command::new(caddy);
    cmd.arg("run")
        .arg("--config")
        .arg(dir.join("Caddyfile"))
        .args(["--adapter", "caddyfile"])
        .env("HOME", dir.join("caddy"))
        .env("XDG_DATA_HOME", dir.join("caddy"))
        .env("XDG_CONFIG_HOME", dir.join("caddy"));
    start(cmd, "caddy", dir, ports)
}

/// The global options of our Caddy instances: no admin endpoint, loopback only, our ports,
/// storage (and the config autosave) in the temp dir, HTTP/1.1 and HTTP/2 (no QUIC listener), and no automatic
/// redirects (each test writes its own).
fn caddy_globals(dir: &Path, http: u16, https: u16) -> String {
    format!(
        "{{
  admin off
  default_bind 127.0.0.1
  http_port {http}
  https_port {https}
  auto_https disable_redirects
  storage file_system {d}/caddy
  servers {{
    protocols h1 h2
  }}
}}
",
        d = dir.display()
    )
}

/// Caddy 2 with certificates from our files (`tls CERT KEY`): a site with HSTS and the
/// security headers, a TLS 1.3-only site without them (Caddy sends no HSTS by default), an
/// explicit 308 redirect from plain HTTP, and a plain site serving content. Caddy's `Server:
/// Caddy` carries no version.
#[test]
fn caddy_sites_are_judged_as_they_are() {
    let mut env = Env::new();
    let resolver = env.dns(&["www", "tls13", "plain"]).to_string();
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    pki.leaf("www.lab.test", -1, 200);
    pki.leaf("tls13.lab.test", -1, 200);
    let (http, https) = (free_port(), free_port());
    let key = pki.path("server.key");
    let caddyfile = format!(
        "{globals}
https://www.lab.test:{https} {{
  tls {www} {key}
  header {{
    Strict-Transport-Security \"max-age=31536000; includeSubDomains\"
    X-Content-Type-Options nosniff
    X-Frame-Options DENY
    Content-Security-Policy \"default-src 'self'\"
  }}
  respond \"ok\"
}}
https://tls13.lab.test:{https} {{
  tls {tls13} {key} {{
    protocols tls1.3
  }}
  respond \"hello\"
}}
http://www.lab.test:{http} {{
  redir https://www.lab.test:{https}{{uri}} 308
}}
http://plain.lab.test:{http} {{
  respond \"plain\"
}}
",
        globals = caddy_globals(&dir, http, https),
        www = pki.path("www.lab.test.full.pem"),
        tls13 = pki.path("tls13.lab.test.full.pem"),
    );
    let _caddy = start_caddy(&dir, &caddyfile, &[http, https]);
    let targets = [
        format!("https://www.lab.test:{https}/"),
        format!("https://tls13.lab.test:{https}/"),
        format!("http://www.lab.test:{http}/"),
        format!("http://plain.lab.test:{http}/"),
    ];
    let ca = pki.ca();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend([
        "--resolver",
        &resolver,
        "--ca-file",
        &ca,
        "--checks",
        "ports,tls,http",
        "--fail-on",
        "none",
    ]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");
    assert_findings(
        &report,
        &[
            (format!("www.lab.test:{https}"), set(&[])),
            (
                format!("tls13.lab.test:{https}"),
                set(&["http.headers.missing", "http.hsts.missing"]),
            ),
            (format!("www.lab.test:{http}"), set(&[])),
            (
                format!("plain.lab.test:{http}"),
                set(&["http.headers.missing", "http.redirect.missing"]),
            ),
        ],
    );
    let www = subject(&report, "tls", &format!("www.lab.test:{https}"));
    assert_eq!(www["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{www}");
    assert_eq!(www["tls"]["alpn"], "h2", "{www}");
    assert_eq!(www["tls"]["trusted"], true, "{www}");
    // Caddy chooses its TLS configuration by SNI: the same port is TLS 1.3-only for this name.
    let only13 = subject(&report, "tls", &format!("tls13.lab.test:{https}"));
    assert_eq!(only13["tls"]["versions"], json!(["tls1.3"]), "{only13}");
    assert_eq!(only13["cert"]["subject"], "CN=tls13.lab.test", "{only13}");
    let redirect = &subject(&report, "http", &format!("www.lab.test:{http}"))["http"];
    assert_eq!(redirect["redirects"][0]["status"], 308, "{redirect}");
    assert_eq!(redirect["redirects_to_https"], true, "{redirect}");
    assert_eq!(redirect["final_status"], 200, "{redirect}");
    assert_eq!(redirect["server"], "Caddy", "{redirect}");
}

/// Caddy's HTTPS port scanned by address without a scheme: Go's net/http answers the
/// plaintext nudge with `400 Bad Request ... Client sent an HTTP request to an HTTPS server`,
/// which posture reads as `https`; the TLS behind it (with `default_sni`, the certificate
/// of www.lab.test for clients without SNI) must then be assessed.
#[test]
fn caddy_https_found_by_address_is_assessed() {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    pki.leaf("www.lab.test", -1, 200);
    let (http, https) = (free_port(), free_port());
    let globals = caddy_globals(&dir, http, https).replacen(
        "  admin off\n",
        "  admin off\n  default_sni www.lab.test\n",
        1,
    );
    let caddyfile = format!(
        "{globals}
https://www.lab.test:{https} {{
  tls {cert} {key}
  respond \"ok\"
}}
",
        cert = pki.path("www.lab.test.full.pem"),
        key = pki.path("server.key"),
    );
    let _caddy = start_caddy(&dir, &caddyfile, &[https]);
    let target = format!("127.0.0.1:{https}");
    let ca = pki.ca();
    let (code, report) = scan(&dir, &[&target, "--ca-file", &ca, "--fail-on", "none"]);
    assert_eq!(code, 0, "{report:#}");
    let p = subject(&report, "port", &target);
    assert_eq!(p["port"]["service"], "https", "{p}");
    let tls = subject(&report, "tls", &target);
    assert_eq!(tls["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{tls}");
    assert_eq!(tls["cert"]["subject"], "CN=www.lab.test", "{tls}");
    assert_eq!(tls["tls"]["trusted"], true, "{tls}");
}

// ---------------------------------------------------------------- lighttpd

/// lighttpd 1.4 with `mod_openssl` as Debian ships it: `server.tag` is `lighttpd/VERSION` by
/// default (a version in every response), TLS 1.2+ by default. A TLS socket with the full
/// chain and HSTS one year, a TLS socket whose `ssl.pemfile` holds the leaf alone (the
/// intermediate is never sent), a socket that redirects to HTTPS with 308, and the main socket
/// serving the page on plain HTTP.
#[test]
fn lighttpd_sockets_are_judged_as_they_are() {
    let lighttpd = binary(&["/usr/sbin/lighttpd"], "lighttpd");
    assert!(
        Path::new("/usr/lib/lighttpd/mod_openssl.so").exists(),
        "lighttpd-mod-openssl is not installed (scripts/test installs it)"
    );
    let mut env = Env::new();
    let resolver = env.dns(&["www", "leaf"]).to_string();
    let dir = env.dir.path().to_path_buf();
    htdocs(&dir);
    let pki = Pki::new(&dir);
    pki.leaf("www.lab.test", -1, 200);
    pki.leaf("leaf.lab.test", -1, 200);
    let (plain, tls, leaf, redirect) = (free_port(), free_port(), free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "server.document-root = \"{d}/htdocs\"
server.bind = \"127.0.0.1\"
server.port = {plain}
server.pid-file = \"{d}/lighttpd.pid\"
server.errorlog = \"{d}/lighttpd.err\"
server.modules = (\"mod_openssl\", \"mod_redirect\", \"mod_setenv\")
index-file.names = (\"index.html\")
mimetype.assign = (\".html\" => \"text/html\")
$SERVER[\"socket\"] == \"127.0.0.1:{tls}\" {{
  ssl.engine = \"enable\"
  ssl.pemfile = \"{d}/www.lab.test.full.pem\"
  ssl.privkey = \"{d}/server.key\"
  setenv.add-response-header = (\"Strict-Transport-Security\" => \"max-age=31536000; includeSubDomains\")
}}
$SERVER[\"socket\"] == \"127.0.0.1:{leaf}\" {{
  ssl.engine = \"enable\"
  ssl.pemfile = \"{d}/leaf.lab.test.pem\"
  ssl.privkey = \"{d}/server.key\"
}}
$SERVER[\"socket\"] == \"127.0.0.1:{redirect}\" {{
  url.redirect = (\"\" => \"https://www.lab.test:{tls}${{url.path}}${{qsa}}\")
  url.redirect-code = 308
}}
"
    );
    std::fs::write(dir.join("lighttpd.conf"), conf).unwrap();
    let mut cmd = Command::new(lighttpd);
    cmd.arg("-D").arg("-f").arg(dir.join("lighttpd.conf"));
    let _lighttpd = start(cmd, "lighttpd", &dir, &[plain, tls, leaf, redirect]);

    let targets = [
        format!("https://www.lab.test:{tls}/"),
        format!("https://leaf.lab.test:{leaf}/"),
        format!("http://www.lab.test:{redirect}/"),
        format!("http://www.lab.test:{plain}/"),
    ];
    let ca = pki.ca();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend([
        "--resolver",
        &resolver,
        "--ca-file",
        &ca,
        "--checks",
        "ports,tls,http",
        "--fail-on",
        "none",
    ]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");
    let www = |p: u16| format!("www.lab.test:{p}");
    assert_findings(
        &report,
        &[
            (
                www(tls),
                set(&["http.headers.missing", "http.server.version-disclosure"]),
            ),
            (
                format!("leaf.lab.test:{leaf}"),
                set(&[
                    "http.headers.missing",
                    "http.hsts.missing",
                    "http.server.version-disclosure",
                    "tls.cert.incomplete-chain",
                ]),
            ),
            (www(redirect), set(&["http.server.version-disclosure"])),
            (
                www(plain),
                set(&[
                    "http.headers.missing",
                    "http.redirect.missing",
                    "http.server.version-disclosure",
                ]),
            ),
        ],
    );
    let t = subject(&report, "tls", &www(tls));
    assert_eq!(t["tls"]["versions"], json!(["tls1.2", "tls1.3"]), "{t}");
    assert_eq!(t["tls"]["trusted"], true, "{t}");
    let d = disclosures(&report, &www(plain));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("server: lighttpd/1.4."), "{d:?}");
    let r = &subject(&report, "http", &www(redirect))["http"];
    assert_eq!(r["redirects"][0]["status"], 308, "{r}");
    assert_eq!(r["redirects_to_https"], true, "{r}");
    assert_eq!(r["hsts_max_age"], 31_536_000, "{r}");
}
