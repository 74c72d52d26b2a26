//! TLS stacks other than rustls and OpenSSL-in-nginx, and the certificate shapes of the real
//! world, judged by posture's TLS rules: GnuTLS (`gnutls-serv`) with a modern, Debian's default,
//! a legacy, a NULL-cipher, a TLS 1.3-only, a static-RSA and a DHE-only priority string;
//! stunnel4 wrapping a plain backend with `sslVersionMin`/`sslVersionMax`/`ciphers` variations;
//! and nginx serving certificates made by the openssl CLI at test time, relative to now
//! (`openssl ca` with explicit start and end dates): wildcards, an iPAddress-only SAN, ECDSA
//! P-384, Ed25519, RSA 4096 and 1024 leaves, SHA-1 leaves and intermediates, an expired
//! intermediate, chains out of order or with extra certificates, a Let's Encrypt-style
//! cross-signed root, a CN-only certificate, expiring and not-yet-valid leaves, an IDN name.
//!
//! Every server runs in the foreground as a child of the test on free loopback ports, its
//! configuration and certificates written into a temp dir; names resolve through the lab DNS
//! server (`--resolver`), never the system's. Each test asserts what is true (what an
//! independent client, `gnutls-cli` or `openssl s_client`, gets from the server, RFC 5280 path
//! validation, RFC 6125/9525 name matching as browsers do it, the CA/Browser Forum's
//! requirements), not what posture happens to say. Needs gnutls-bin, stunnel4 and nginx.

use crate::support::free_port;
use crate::support::servers::{binary, Server};
use crate::support::tls::{ids_by_endpoint, incomplete, raw_server, scan, subjects, Env};
use crate::support::tls_shared::openssl;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- processes

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

/// Runs a client to completion with stdin closed, killed after 5 s.
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    let until = Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// What `gnutls-cli` with `priority` negotiates with 127.0.0.1:`port` (its `- Description:`
/// line, e.g. `(TLS1.0-X.509)-(RSA)-(ARCFOUR-128)-(SHA1)`), or `None` when the handshake fails.
fn gnutls_cli(port: u16, priority: &str) -> Option<String> {
    let mut cmd = Command::new(binary(&["/usr/bin/gnutls-cli"], "gnutls-bin"));
    cmd.args([
        "--insecure",
        "--priority",
        priority,
        "-p",
        &port.to_string(),
    ])
    .arg("127.0.0.1");
    let out = run_bounded(cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("- Description: "))
        .map(str::to_string)
}

/// What `openssl s_client ARGS` negotiates with 127.0.0.1:`port` (`TLSv1 ECDHE-RSA-AES256-SHA`),
/// or `None` when the handshake fails.
fn s_client(port: u16, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-brief",
        "-connect",
        &format!("127.0.0.1:{port}"),
    ])
    .args(args);
    let out = run_bounded(cmd);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Some(format!(
        "{} {}",
        field("Protocol version:")?,
        field("Ciphersuite:")?
    ))
}

// ---------------------------------------------------------------- certificates

#[derive(Clone, Copy)]
enum Key {
    Rsa(u32),
    P256,
    P384,
    Ed25519,
}

/// `basicConstraints` and key identifiers of a CA certificate.
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
";

/// A private PKI made with the openssl CLI in `dir`: keys, CSRs and certificates signed by
/// `openssl ca` with explicit dates (days relative to now), so expired, expiring and
/// not-yet-valid certificates are real signatures over real dates.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let pki = dir.join("pki");
        std::fs::create_dir_all(pki.join("newcerts")).unwrap();
        std::fs::write(pki.join("index.txt"), "").unwrap();
        std::fs::write(pki.join("serial"), "1000\n").unwrap();
        std::fs::write(
            pki.join("ca.cnf"),
            "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = newcerts\n\
             serial = serial\npolicy = any\nunique_subject = no\ncopy_extensions = none\n\
             default_md = sha256\n[any]\ncommonName = optional\norganizationName = optional\n",
        )
        .unwrap();
        Pki { dir: pki }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    /// A new private key `NAME.key`.
    fn key(&self, name: &str, key: Key) {
        let out = format!("{name}.key");
        let bits;
        let args: Vec<&str> = match key {
            Key::Rsa(n) => {
                bits = format!("rsa_keygen_bits:{n}");
                vec!["-algorithm", "RSA", "-pkeyopt", &bits]
            }
            Key::P256 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Key::P384 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            Key::Ed25519 => vec!["-algorithm", "ED25519"],
        };
        openssl(
            &self.dir,
            &[&["genpkey"], &args[..], &["-out", &out]].concat(),
        );
    }

    /// Certificate `NAME.pem` for the key `KEY.key` with `subject` and the extensions `ext`,
    /// valid from now + `from` to now + `to` days, signed with `md` by `issuer` (`None`:
    /// self-signed).
    #[allow(clippy::too_many_arguments)]
    fn cert(
        &self,
        name: &str,
        key: &str,
        subject: &str,
        issuer: Option<&str>,
        ext: &str,
        (from, to): (f64, f64),
        md: &str,
    ) {
        let csr = format!("{name}.csr");
        let key_file = format!("{key}.key");
        openssl(
            &self.dir,
            &[
                "req", "-new", "-key", &key_file, "-subj", subject, "-out", &csr,
            ],
        );
        let ext_file = format!("{name}.ext");
        std::fs::write(self.dir.join(&ext_file), ext).unwrap();
        let (start, end) = (asn1_time(from), asn1_time(to));
        let out = format!("{name}.pem");
        let mut args = vec![
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-notext",
            "-preserveDN",
            "-in",
            &csr,
            "-out",
            &out,
            "-startdate",
            &start,
            "-enddate",
            &end,
            "-md",
            md,
            "-extfile",
            &ext_file,
        ];
        let (issuer_pem, issuer_key);
        match issuer {
            Some(i) => {
                issuer_pem = format!("{i}.pem");
                issuer_key = format!("{i}.key");
                args.extend(["-cert", &issuer_pem, "-keyfile", &issuer_key]);
            }
            None => args.extend(["-selfsign", "-keyfile", &key_file]),
        }
        openssl(&self.dir, &args);
    }

    /// A self-signed root CA `NAME` (its own key), valid from 1000 days ago for 10 years.
    fn root(&self, name: &str, cn: &str, key: Key, md: &str) {
        self.key(name, key);
        let subject = format!("/O=posture tls stacks/CN={cn}");
        self.cert(name, name, &subject, None, CA_EXT, (-1000.0, 2650.0), md);
    }

    /// An intermediate CA `NAME` (its own key) issued by `issuer`.
    fn intermediate(
        &self,
        name: &str,
        cn: &str,
        issuer: &str,
        key: Key,
        days: (f64, f64),
        md: &str,
    ) {
        self.key(name, key);
        let subject = format!("/O=posture tls stacks/CN={cn}");
        let ext = format!("{CA_EXT}authorityKeyIdentifier=keyid:always\n");
        self.cert(name, name, &subject, Some(issuer), &ext, days, md);
    }

    /// A server certificate `NAME` for the key `KEY.key`, subject `/CN=cn`, with the
    /// subjectAltName `san` (`None`: no SAN extension at all).
    #[allow(clippy::too_many_arguments)]
    fn leaf(
        &self,
        name: &str,
        key: &str,
        cn: &str,
        san: Option<&str>,
        issuer: &str,
        days: (f64, f64),
        md: &str,
    ) {
        let mut ext = String::from(
            "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
        );
        if let Some(san) = san {
            ext.push_str(&format!("subjectAltName={san}\n"));
        }
        self.cert(
            name,
            key,
            &format!("/CN={cn}"),
            Some(issuer),
            &ext,
            days,
            md,
        );
    }

    /// `FILE` = the concatenation of `parts` (`NAME.pem` each), the order a server sends.
    fn bundle(&self, file: &str, parts: &[&str]) -> String {
        let text: String = parts
            .iter()
            .map(|p| self.read(&format!("{p}.pem")))
            .collect();
        std::fs::write(self.dir.join(file), text).unwrap();
        self.path(file)
    }
}

/// `now + days` as openssl's `YYMMDDHHMMSSZ`.
fn asn1_time(days: f64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds((days * 86400.0) as i64);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

// ---------------------------------------------------------------- nginx

/// One nginx process (`master_process off`) serving each `(port, chain file, key file,
/// extra directives)` on its own TLS port (TLS 1.2 and 1.3, nginx's default suites).
fn start_nginx(dir: &Path, sites: &[(u16, String, String, &str)]) -> Server {
    let d = dir.display();
    let mut conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off; server_tokens off;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  ssl_protocols TLSv1.2 TLSv1.3;
"
    );
    for (port, chain, key, extra) in sites {
        conf.push_str(&format!(
            "  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {chain}; \
             ssl_certificate_key {key}; {extra} location / {{ return 200 \"ok\\n\"; }} }}\n"
        ));
    }
    conf.push_str("}\n");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(binary(&["/usr/sbin/nginx"], "nginx"));
    cmd.arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("nginx-error.log"));
    let ports: Vec<u16> = sites.iter().map(|s| s.0).collect();
    start(cmd, "nginx", dir, &ports)
}

// ---------------------------------------------------------------- report helpers

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The TLS subject of `endpoint` (`host:port`).
fn tls_of(report: &Value, endpoint: &str) -> Value {
    subjects(report, "tls")
        .into_iter()
        .find(|s| s["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no tls subject for {endpoint}: {report:#}"))
        .clone()
}

/// Asserts the tls.* findings of every endpoint in `want` (absent: none at all), all
/// mismatches at once.
fn assert_findings(report: &Value, want: &[(String, BTreeSet<String>)]) {
    let got = ids_by_endpoint(report);
    let empty = BTreeSet::new();
    let wrong: BTreeMap<&String, (&BTreeSet<String>, &BTreeSet<String>)> = want
        .iter()
        .filter(|(ep, ids)| got.get(ep).unwrap_or(&empty) != ids)
        .map(|(ep, ids)| (ep, (got.get(ep).unwrap_or(&empty), ids)))
        .collect();
    assert!(wrong.is_empty(), "(got, want) per endpoint: {wrong:#?}");
}

fn versions(t: &Value) -> Value {
    t["tls"]["versions"].clone()
}

// ---------------------------------------------------------------- GnuTLS

/// `gnutls-serv --http` (GnuTLS 3.7, Debian 12) with seven priority strings, every instance
/// presenting the same leaf + intermediate for `gnutls.lab.test`. What each one accepts is
/// first established with `gnutls-cli` and `openssl s_client` (the truth), then posture must
/// report exactly that:
/// * a modern string (TLS 1.2/1.3, ECDHE AEAD only): clean;
/// * plain `NORMAL`, Debian's default: TLS 1.0 and 1.1 are still in it (a legacy finding), and
///   nothing weak;
/// * the legacy string `NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+3DES-CBC:+ARCFOUR-128:+RSA:
///   +ANON-ECDH:+ANON-DH`: legacy versions, RC4, 3DES and anonymous suites;
/// * with `+NULL` too: GnuTLS then disables TLS 1.3 (NULL suites cannot exist there);
/// * TLS 1.3 only: clean;
/// * static RSA only, TLS 1.2: no forward secrecy and no TLS 1.3;
/// * DHE-RSA only, TLS 1.2 (no ECDHE, which posture's rustls client needs): forward secret,
///   only "no TLS 1.3".
#[test]
fn gnutls_priorities_are_judged_as_they_are() {
    let mut env = Env::new();
    let resolver = env.dns(&["gnutls"]).to_string();
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    pki.root("root", "GnuTLS test root", Key::Rsa(2048), "sha256");
    pki.intermediate(
        "int",
        "GnuTLS test intermediate",
        "root",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    pki.key("gnutls", Key::Rsa(2048));
    let san = "DNS:gnutls.lab.test";
    pki.leaf(
        "gnutls",
        "gnutls",
        "gnutls.lab.test",
        Some(san),
        "int",
        (-1.0, 200.0),
        "sha256",
    );
    let chain = pki.bundle("gnutls.full.pem", &["gnutls", "int"]);

    let priorities: [(&str, &str); 7] = [
        (
            "modern",
            "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-AES-256-CBC:-AES-128-CBC",
        ),
        ("normal", "NORMAL"),
        (
            "legacy",
            "NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+3DES-CBC:+ARCFOUR-128:+RSA:+ANON-ECDH:+ANON-DH",
        ),
        (
            "null",
            "NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+3DES-CBC:+ARCFOUR-128:+NULL:+RSA:+ANON-ECDH:+ANON-DH",
        ),
        ("tls13", "NORMAL:-VERS-ALL:+VERS-TLS1.3"),
        (
            "rsa",
            "NONE:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:+RSA:+AEAD:+COMP-NULL:+SIGN-ALL",
        ),
        ("dhe", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-ECDHE-RSA:-ECDHE-ECDSA:-RSA"),
    ];
    let gnutls_serv = binary(&["/usr/bin/gnutls-serv"], "gnutls-bin");
    let mut port = BTreeMap::new();
    let mut servers = Vec::new();
    for (name, priority) in priorities {
        let p = free_port();
        let mut cmd = Command::new(&gnutls_serv);
        cmd.args(["--http", "--disable-client-cert", "--port", &p.to_string()])
            .args([
                "--x509certfile",
                &chain,
                "--x509keyfile",
                &pki.path("gnutls.key"),
            ])
            .args(["--priority", priority]);
        servers.push(start(cmd, &format!("gnutls-{name}"), &dir, &[p]));
        port.insert(name, p);
    }

    // The truth, from GnuTLS's and OpenSSL's own clients.
    let only =
        |v: &str, rest: &str| format!("NONE:+VERS-{v}:{rest}:+COMP-NULL:+SIGN-ALL:+GROUP-ALL");
    let tls10_rsa = only("TLS1.0", "+AES-128-CBC:+RSA:+SHA1");
    let tls11_rsa = only("TLS1.1", "+AES-128-CBC:+RSA:+SHA1");
    let rc4 = only("TLS1.2", "+ARCFOUR-128:+RSA:+SHA1");
    let des3 = only("TLS1.2", "+3DES-CBC:+RSA:+SHA1");
    let anon = only("TLS1.2", "+AES-128-CBC:+ANON-ECDH:+ANON-DH:+SHA1");
    let null = only("TLS1.2", "+NULL:+RSA:+SHA1:+MD5");
    let tls13 = only("TLS1.3", "+AES-128-GCM:+AES-256-GCM:+AEAD");
    let ecdhe12 = only("TLS1.2", "+AES-128-GCM:+ECDHE-RSA:+AEAD");
    let dhe12 = only("TLS1.2", "+AES-128-GCM:+DHE-RSA:+AEAD");
    let accepts = |name: &str, prio: &str| gnutls_cli(port[name], prio).is_some();
    let truth: Vec<(&str, [bool; 9])> =
        ["modern", "normal", "legacy", "null", "tls13", "rsa", "dhe"]
            .iter()
            .map(|n| {
                (
                    *n,
                    [
                        accepts(n, &tls10_rsa),
                        accepts(n, &tls11_rsa),
                        accepts(n, &rc4),
                        accepts(n, &des3),
                        accepts(n, &anon),
                        accepts(n, &null),
                        accepts(n, &tls13),
                        accepts(n, &ecdhe12),
                        accepts(n, &dhe12),
                    ],
                )
            })
            .collect();
    //                        1.0    1.1    rc4    3des   anon   null   1.3    ecdhe  dhe
    let want_truth: Vec<(&str, [bool; 9])> = vec![
        (
            "modern",
            [false, false, false, false, false, false, true, true, false],
        ),
        (
            "normal",
            [true, true, false, false, false, false, true, true, true],
        ),
        (
            "legacy",
            [true, true, true, true, true, false, true, true, true],
        ),
        (
            "null",
            [true, true, true, true, true, true, false, true, true],
        ),
        (
            "tls13",
            [false, false, false, false, false, false, true, false, false],
        ),
        (
            "rsa",
            [
                false, false, false, false, false, false, false, false, false,
            ],
        ),
        (
            "dhe",
            [false, false, false, false, false, false, false, false, true],
        ),
    ];
    assert_eq!(truth, want_truth, "what gnutls-cli negotiates");
    // OpenSSL's client agrees on the protocol versions (TLS 1.0 needs security level 0 there).
    assert_eq!(
        s_client(port["normal"], &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        Some("TLSv1 ECDHE-RSA-AES256-SHA".into())
    );
    assert_eq!(
        s_client(
            port["modern"],
            &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]
        ),
        None
    );
    assert_eq!(
        s_client(port["rsa"], &["-tls1_2"]),
        Some("TLSv1.2 AES256-GCM-SHA384".into())
    );

    let ca = pki.path("root.pem");
    let targets: Vec<String> = port
        .values()
        .map(|p| format!("tls://gnutls.lab.test:{p}"))
        .collect();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--resolver", &resolver, "--ca-file", &ca]);
    args.extend(["--checks", "ports,tls", "--fail-on", "none"]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");
    let ep = |name: &str| format!("gnutls.lab.test:{}", port[name]);
    let legacy = "tls.protocol.legacy";
    let weak = "tls.cipher.weak";
    let no13 = "tls.protocol.no-tls13";
    assert_findings(
        &report,
        &[
            (ep("modern"), set(&[])),
            (ep("normal"), set(&[legacy])),
            (ep("legacy"), set(&[legacy, weak])),
            (ep("null"), set(&[legacy, weak, no13])),
            (ep("tls13"), set(&[])),
            (ep("rsa"), set(&["tls.cipher.no-forward-secrecy", no13])),
            (ep("dhe"), set(&[no13])),
        ],
    );
    let t = |name: &str| tls_of(&report, &ep(name));
    assert_eq!(versions(&t("modern")), json!(["tls1.2", "tls1.3"]));
    assert_eq!(
        versions(&t("normal")),
        json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"])
    );
    assert_eq!(
        t("legacy")["tls"]["weak_ciphers"],
        json!(["anon", "rc4", "3des"])
    );
    assert_eq!(
        t("null")["tls"]["weak_ciphers"],
        json!(["null", "anon", "rc4", "3des"])
    );
    assert_eq!(versions(&t("null")), json!(["tls1.0", "tls1.1", "tls1.2"]));
    assert_eq!(versions(&t("tls13")), json!(["tls1.3"]));
    assert_eq!(t("rsa")["tls"]["forward_secrecy"], false);
    assert_eq!(t("dhe")["tls"]["forward_secrecy"], true);
    for name in port.keys() {
        let s = t(name);
        assert_eq!(s["tls"]["trusted"], true, "{name}: {s}");
        assert_eq!(s["tls"]["chain_complete"], true, "{name}: {s}");
        assert_eq!(s["tls"]["hostname_matches"], true, "{name}: {s}");
        assert_eq!(s["chain"].as_array().unwrap().len(), 2, "{name}: {s}");
    }
    drop(servers);
}

// ---------------------------------------------------------------- stunnel

/// stunnel4 (5.68, OpenSSL 3) in the foreground wrapping a plain HTTP backend, one process
/// with six services as admins write them: Debian's defaults (no version or cipher option:
/// OpenSSL's TLS 1.2+), `sslVersionMin = TLSv1` with `securityLevel = 0` (what it takes to
/// let TLS 1.0 clients in under OpenSSL 3), an old guide's static-RSA list capped at TLS 1.2,
/// `ciphers = ALL:eNULL:@SECLEVEL=0` (NULL and anonymous suites), TLS 1.3 only, and one
/// ECDHE suite capped at TLS 1.2. `openssl s_client` establishes what each accepts.
#[test]
fn stunnel_versions_and_ciphers_are_judged_as_they_are() {
    let mut env = Env::new();
    let resolver = env.dns(&["tunnel"]).to_string();
    let backend = raw_server(&mut env, |_| {
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n".to_vec())
    });
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    pki.root("root", "stunnel test root", Key::Rsa(2048), "sha256");
    pki.intermediate(
        "int",
        "stunnel test intermediate",
        "root",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    pki.key("tunnel", Key::Rsa(2048));
    let san = "DNS:tunnel.lab.test";
    pki.leaf(
        "tunnel",
        "tunnel",
        "tunnel.lab.test",
        Some(san),
        "int",
        (-1.0, 200.0),
        "sha256",
    );
    let chain = pki.bundle("tunnel.full.pem", &["tunnel", "int"]);

    let services: [(&str, &str); 6] = [
        ("default", ""),
        (
            "legacy",
            "sslVersionMin = TLSv1\nsecurityLevel = 0\nciphers = HIGH:!aNULL",
        ),
        (
            "rsa",
            "sslVersionMax = TLSv1.2\nciphers = AES128-SHA:AES256-GCM-SHA384",
        ),
        (
            "null",
            "sslVersionMin = TLSv1\nsecurityLevel = 0\nciphers = ALL:eNULL:@SECLEVEL=0",
        ),
        ("tls13", "sslVersionMin = TLSv1.3"),
        (
            "tls12",
            "sslVersionMax = TLSv1.2\nciphers = ECDHE-RSA-AES128-GCM-SHA256",
        ),
    ];
    let mut conf = format!(
        "foreground = yes\npid =\ndebug = 5\noutput = {}\ncert = {chain}\nkey = {}\n",
        dir.join("stunnel.log").display(),
        pki.path("tunnel.key")
    );
    let mut port = BTreeMap::new();
    for (name, options) in services {
        let p = free_port();
        conf.push_str(&format!(
            "[{name}]\naccept = 127.0.0.1:{p}\nconnect = {backend}\n{options}\n"
        ));
        port.insert(name, p);
    }
    let conf_path = dir.join("stunnel.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(binary(
        &["/usr/bin/stunnel4", "/usr/bin/stunnel"],
        "stunnel4",
    ));
    cmd.arg(&conf_path);
    let ports: Vec<u16> = port.values().copied().collect();
    let _stunnel = start(cmd, "stunnel", &dir, &ports);

    // The truth, from OpenSSL's client (at security level 0, so that it offers everything).
    let lvl0 = "ALL:eNULL:@SECLEVEL=0";
    let probe = |name: &str, args: &[&str]| s_client(port[name], args);
    assert_eq!(probe("default", &["-tls1", "-cipher", lvl0]), None);
    assert_eq!(probe("default", &["-tls1_1", "-cipher", lvl0]), None);
    assert_eq!(
        probe("legacy", &["-tls1", "-cipher", lvl0]),
        Some("TLSv1 ECDHE-RSA-AES256-SHA".into())
    );
    assert_eq!(
        probe("legacy", &["-tls1_2", "-cipher", "aNULL:eNULL:@SECLEVEL=0"]),
        None
    );
    assert_eq!(
        probe("null", &["-tls1_2", "-cipher", "eNULL:@SECLEVEL=0"]),
        Some("TLSv1.2 ECDHE-RSA-NULL-SHA".into())
    );
    assert_eq!(
        probe("null", &["-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"]),
        Some("TLSv1.2 ADH-AES256-GCM-SHA384".into())
    );
    assert_eq!(probe("rsa", &["-tls1_3"]), None);
    assert_eq!(
        probe("rsa", &["-tls1_2", "-cipher", "ECDHE:DHE"]),
        None,
        "no forward-secret suite"
    );
    assert_eq!(probe("tls13", &["-tls1_2"]), None);
    assert_eq!(probe("tls12", &["-tls1_3"]), None);
    assert_eq!(
        probe("default", &["-tls1_3"]),
        Some("TLSv1.3 TLS_AES_256_GCM_SHA384".into())
    );

    let ca = pki.path("root.pem");
    let targets: Vec<String> = port
        .values()
        .map(|p| format!("tls://tunnel.lab.test:{p}"))
        .collect();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--resolver", &resolver, "--ca-file", &ca]);
    args.extend(["--checks", "ports,tls", "--fail-on", "none"]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");
    let ep = |name: &str| format!("tunnel.lab.test:{}", port[name]);
    let no13 = "tls.protocol.no-tls13";
    assert_findings(
        &report,
        &[
            (ep("default"), set(&[])),
            (ep("legacy"), set(&["tls.protocol.legacy"])),
            (ep("rsa"), set(&["tls.cipher.no-forward-secrecy", no13])),
            (ep("null"), set(&["tls.protocol.legacy", "tls.cipher.weak"])),
            (ep("tls13"), set(&[])),
            (ep("tls12"), set(&[no13])),
        ],
    );
    let t = |name: &str| tls_of(&report, &ep(name));
    assert_eq!(versions(&t("default")), json!(["tls1.2", "tls1.3"]));
    assert_eq!(
        versions(&t("legacy")),
        json!(["tls1.0", "tls1.1", "tls1.2", "tls1.3"])
    );
    assert_eq!(t("null")["tls"]["weak_ciphers"], json!(["null", "anon"]));
    assert_eq!(versions(&t("rsa")), json!(["tls1.2"]));
    assert_eq!(t("rsa")["tls"]["forward_secrecy"], false);
    assert_eq!(versions(&t("tls13")), json!(["tls1.3"]));
    assert_eq!(versions(&t("tls12")), json!(["tls1.2"]));
    for name in port.keys() {
        let s = t(name);
        assert_eq!(s["tls"]["trusted"], true, "{name}: {s}");
        assert_eq!(s["tls"]["hostname_matches"], true, "{name}: {s}");
    }
}

// ---------------------------------------------------------------- certificate shapes

/// The lab zone with `label → 127.0.0.1` for each label and for the apex `lab.test` itself.
fn zone(labels: &[&str]) -> String {
    let mut z = String::from(
        "$ORIGIN lab.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n\
         @ IN NS ns1\nns1 IN A 127.0.0.1\n@ IN A 127.0.0.1\n",
    );
    for l in labels {
        z.push_str(&format!("{l} IN A 127.0.0.1\n"));
    }
    z
}

/// What OpenSSL's verifier says of the chain 127.0.0.1:`port` presents, trusting `ca` only
/// (`Verification: OK` or the error): the independent verdict a standard client reaches.
fn openssl_verdict(port: u16, ca: &str, name: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-brief",
        "-connect",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["-CAfile", ca, "-cipher", "DEFAULT:@SECLEVEL=0"]);
    if let Some(n) = name {
        cmd.args(["-servername", n, "-verify_hostname", n]);
    }
    let out = run_bounded(cmd);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Verification error: ")
                .or_else(|| l.strip_prefix("Verification: "))
        })
        .unwrap_or_else(|| panic!("no verification line from s_client: {text}"))
        .to_string()
}

/// nginx serving real-world certificate shapes, one per port, every certificate made by
/// `openssl ca` at test time relative to now. The truth per RFC 5280 (path validation, with
/// OpenSSL's verifier as the independent check), RFC 6125 §6.4.3 (a wildcard matches exactly
/// one left-most label, never the parent) and the CA/B Forum Baseline Requirements:
/// * `*.lab.test` matches `www.lab.test`, not `a.b.lab.test` nor `lab.test`;
/// * an iPAddress-only SAN (127.0.0.1) is clean by address (posture checks no name there) and
///   a mismatch for a DNS name, which an iPAddress SAN never matches;
/// * ECDSA P-384, Ed25519 and RSA 4096 leaves are clean (and reported with their key facts);
/// * an RSA-1024 leaf is a weak key; a SHA-1-signed leaf and a leaf under a SHA-1-signed
///   intermediate are weak signatures, but a SHA-1 *self-signature* on a presented trust
///   anchor is not (RFC 8446 §4.4.2.2: a root's self-signature is never checked; OpenSSL at
///   its default security level loads that chain without complaint);
/// * an expired intermediate under a valid leaf (OpenSSL: "certificate has expired") is
///   the intermediate-expiry finding, with the intermediate named as the chain's earliest;
/// * a chain sent as leaf, upper intermediate, lower intermediate (out of order, RFC 8446
///   §4.4.2 lets clients cope) and a chain with an extra unrelated self-signed certificate
///   are complete, trusted and clean;
/// * a leaf with 10 days left is expiring (window 30 days), one valid from the day after
///   tomorrow is not yet valid;
/// * an IDN name (`xn--bcher-kva.lab.test`, bücher) matches its A-label SAN.
///
/// The JSON inventory lists each certificate once, earliest expiry first, with its role and
/// every endpoint that presented it.
#[test]
fn certificate_shapes_are_judged_by_rfc_5280_and_6125() {
    let mut env = Env::new();
    let labels = [
        "www",
        "a.b",
        "ipname",
        "p384",
        "ed",
        "big",
        "small",
        "sha1",
        "sha1int",
        "expint",
        "order",
        "soon",
        "future",
        "xn--bcher-kva",
        "sha1root",
        "extra",
    ];
    let resolver = env.dns_zone(&zone(&labels)).to_string();
    let dir = env.dir.path().to_path_buf();
    let pki = Pki::new(&dir);
    let ok = (-1.0, 200.0);
    pki.root("root", "Shapes Root", Key::Rsa(2048), "sha256");
    pki.root("sha1root_ca", "Shapes SHA-1 Root", Key::Rsa(2048), "sha1");
    pki.root("other", "Unrelated Root", Key::P256, "sha256");
    pki.intermediate(
        "int",
        "Shapes Intermediate",
        "root",
        Key::Rsa(2048),
        (-10.0, 1000.0),
        "sha256",
    );
    pki.intermediate(
        "sha1int_ca",
        "Shapes SHA-1 Intermediate",
        "root",
        Key::Rsa(2048),
        (-10.0, 1000.0),
        "sha1",
    );
    pki.intermediate(
        "expint_ca",
        "Shapes Expired Intermediate",
        "root",
        Key::P256,
        (-400.0, -5.0),
        "sha256",
    );
    pki.intermediate(
        "upper",
        "Shapes Upper Intermediate",
        "root",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    pki.intermediate(
        "lower",
        "Shapes Lower Intermediate",
        "upper",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    pki.intermediate(
        "s1rint",
        "Shapes Intermediate under SHA-1 Root",
        "sha1root_ca",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );

    pki.key("ec", Key::P256);
    pki.key("p384", Key::P384);
    pki.key("ed", Key::Ed25519);
    pki.key("big", Key::Rsa(4096));
    pki.key("small", Key::Rsa(1024));
    // Leaves: a SAN with the CN's name, except the iPAddress-only one.
    let leaf = |site: &str, key: &str, cn: &str, issuer: &str, days: (f64, f64), md: &str| {
        let san = format!("DNS:{cn}");
        pki.leaf(site, key, cn, Some(&san), issuer, days, md);
    };
    let ip_san = Some("IP:127.0.0.1");
    pki.leaf(
        "ip",
        "ec",
        "ip-only test server",
        ip_san,
        "int",
        ok,
        "sha256",
    );
    leaf("wild", "ec", "*.lab.test", "int", ok, "sha256");
    leaf("p384", "p384", "p384.lab.test", "int", ok, "sha384");
    leaf("ed", "ed", "ed.lab.test", "int", ok, "sha256");
    leaf("big", "big", "big.lab.test", "int", ok, "sha256");
    leaf("small", "small", "small.lab.test", "int", ok, "sha256");
    leaf("sha1", "ec", "sha1.lab.test", "int", ok, "sha1");
    leaf(
        "sha1int",
        "ec",
        "sha1int.lab.test",
        "sha1int_ca",
        ok,
        "sha256",
    );
    leaf(
        "expint",
        "ec",
        "expint.lab.test",
        "expint_ca",
        (-200.0, 100.0),
        "sha256",
    );
    leaf("order", "ec", "order.lab.test", "lower", ok, "sha256");
    leaf(
        "soon",
        "ec",
        "soon.lab.test",
        "int",
        (-80.0, 10.05),
        "sha256",
    );
    leaf(
        "future",
        "ec",
        "future.lab.test",
        "int",
        (2.0, 200.0),
        "sha256",
    );
    leaf("idn", "ec", "xn--bcher-kva.lab.test", "int", ok, "sha256");
    leaf(
        "sha1root",
        "ec",
        "sha1root.lab.test",
        "s1rint",
        ok,
        "sha256",
    );
    leaf("extra", "ec", "extra.lab.test", "int", ok, "sha256");

    // What each port sends: (site, chain, key, nginx directives).
    let weak_ok = "ssl_ciphers DEFAULT:@SECLEVEL=0;";
    let served: [(&str, &[&str], &str, &str); 15] = [
        ("wild", &["wild", "int"], "ec", ""),
        ("ip", &["ip", "int"], "ec", ""),
        ("p384", &["p384", "int"], "p384", ""),
        ("ed", &["ed", "int"], "ed", ""),
        ("big", &["big", "int"], "big", ""),
        ("small", &["small", "int"], "small", weak_ok),
        ("sha1", &["sha1", "int"], "ec", weak_ok),
        ("sha1int", &["sha1int", "sha1int_ca"], "ec", weak_ok),
        ("expint", &["expint", "expint_ca"], "ec", ""),
        ("order", &["order", "upper", "lower"], "ec", ""),
        ("soon", &["soon", "int"], "ec", ""),
        ("future", &["future", "int"], "ec", ""),
        ("idn", &["idn", "int"], "ec", ""),
        ("sha1root", &["sha1root", "s1rint", "sha1root_ca"], "ec", ""),
        ("extra", &["extra", "int", "other"], "ec", ""),
    ];
    let mut port = BTreeMap::new();
    let mut sites = Vec::new();
    for (site, chain, key, extra) in served {
        let p = free_port();
        port.insert(site, p);
        let file = pki.bundle(&format!("{site}.chain.pem"), chain);
        sites.push((p, file, pki.path(&format!("{key}.key")), extra));
    }
    let _nginx = start_nginx(&dir, &sites);
    let ca_text = format!("{}{}", pki.read("root.pem"), pki.read("sha1root_ca.pem"));
    std::fs::write(dir.join("anchors.pem"), ca_text).unwrap();
    let ca = dir.join("anchors.pem").display().to_string();

    // The independent verdicts (OpenSSL's verifier, at security level 0 so that only validity,
    // path and name count).
    let verdict = |site: &str, name: &str| openssl_verdict(port[site], &ca, Some(name));
    assert_eq!(verdict("wild", "www.lab.test"), "OK");
    assert_eq!(verdict("wild", "a.b.lab.test"), "hostname mismatch");
    assert_eq!(verdict("wild", "lab.test"), "hostname mismatch");
    assert_eq!(openssl_verdict(port["ip"], &ca, None), "OK");
    assert_eq!(verdict("ip", "ipname.lab.test"), "hostname mismatch");
    assert_eq!(
        verdict("expint", "expint.lab.test"),
        "certificate has expired"
    );
    assert_eq!(verdict("order", "order.lab.test"), "OK");
    assert_eq!(verdict("extra", "extra.lab.test"), "OK");
    assert_eq!(verdict("sha1root", "sha1root.lab.test"), "OK");
    assert_eq!(
        verdict("future", "future.lab.test"),
        "certificate is not yet valid"
    );
    assert_eq!(verdict("idn", "xn--bcher-kva.lab.test"), "OK");

    let mut targets: Vec<String> = Vec::new();
    let mut want: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut case = |host: &str, site: &str, ids: &[&str]| {
        targets.push(format!("tls://{host}:{}", port[site]));
        want.push((format!("{host}:{}", port[site]), set(ids)));
    };
    let mismatch = "tls.cert.hostname-mismatch";
    case("www.lab.test", "wild", &[]);
    case("a.b.lab.test", "wild", &[mismatch]);
    case("lab.test", "wild", &[mismatch]);
    case("127.0.0.1", "ip", &[]);
    case("ipname.lab.test", "ip", &[mismatch]);
    case("p384.lab.test", "p384", &[]);
    case("ed.lab.test", "ed", &[]);
    case("big.lab.test", "big", &[]);
    case("small.lab.test", "small", &["tls.cert.weak-key"]);
    case("sha1.lab.test", "sha1", &["tls.cert.weak-signature"]);
    case("sha1int.lab.test", "sha1int", &["tls.cert.weak-signature"]);
    case("expint.lab.test", "expint", &["tls.chain.expired"]);
    case("order.lab.test", "order", &[]);
    case("soon.lab.test", "soon", &["tls.cert.expiring"]);
    case("future.lab.test", "future", &["tls.cert.not-yet-valid"]);
    case("xn--bcher-kva.lab.test", "idn", &[]);
    case("sha1root.lab.test", "sha1root", &[]);
    case("extra.lab.test", "extra", &[]);
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--resolver", &resolver, "--ca-file", &ca]);
    args.extend(["--checks", "ports,tls", "--fail-on", "none"]);
    let (code, report) = scan(&dir, &args);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(incomplete(&report), vec![], "{report:#}");
    assert_findings(&report, &want);

    // The facts behind the verdicts.
    let t = |host: &str, site: &str| tls_of(&report, &format!("{host}:{}", port[site]));
    let key = |s: &Value| (s["cert"]["key_type"].clone(), s["cert"]["key_bits"].clone());
    assert_eq!(key(&t("p384.lab.test", "p384")), (json!("ec"), json!(384)));
    assert_eq!(key(&t("ed.lab.test", "ed")).0, json!("ed25519"));
    assert_eq!(key(&t("big.lab.test", "big")), (json!("rsa"), json!(4096)));
    assert_eq!(
        key(&t("small.lab.test", "small")),
        (json!("rsa"), json!(1024))
    );
    let ip = t("127.0.0.1", "ip");
    assert_eq!(ip["tls"]["hostname_checked"], false, "{ip}");
    assert_eq!(ip["tls"]["trusted"], true, "{ip}");
    let sha1int = t("sha1int.lab.test", "sha1int");
    assert_eq!(sha1int["chain"][0]["weak_signature"], false, "{sha1int}");
    assert_eq!(sha1int["chain"][1]["weak_signature"], true, "{sha1int}");
    let exp = t("expint.lab.test", "expint");
    assert_eq!(exp["cert"]["expired"], false, "{exp}");
    assert_eq!(exp["chain_earliest"]["position"], 1, "{exp}");
    assert_eq!(exp["chain_earliest"]["expired"], true, "{exp}");
    assert_eq!(exp["chain_earliest"]["days_left"], -6, "{exp}");
    let order = t("order.lab.test", "order");
    assert_eq!(order["tls"]["chain_complete"], true, "{order}");
    assert_eq!(order["tls"]["trusted"], true, "{order}");
    assert_eq!(order["chain"].as_array().unwrap().len(), 3, "{order}");
    assert_eq!(t("soon.lab.test", "soon")["cert"]["days_left"], 10);
    let sha1root = t("sha1root.lab.test", "sha1root");
    assert_eq!(sha1root["chain"][2]["self_signed"], true, "{sha1root}");
    assert_eq!(sha1root["chain"][2]["weak_signature"], false, "{sha1root}");

    // The inventory: one entry per certificate, earliest expiry first; the expired
    // intermediate leads, and the shared intermediate lists every endpoint that sent it.
    let inv = report["certificates"].as_array().unwrap();
    let days: Vec<i64> = inv
        .iter()
        .map(|c| c["days_left"].as_i64().unwrap())
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    assert_eq!(
        inv[0]["subject"],
        "O=posture tls stacks, CN=Shapes Expired Intermediate"
    );
    assert_eq!(inv[0]["roles"], json!(["intermediate"]));
    let shared = inv
        .iter()
        .find(|c| c["subject"] == "O=posture tls stacks, CN=Shapes Intermediate")
        .expect("the shared intermediate");
    let by: BTreeSet<String> = shared["presented_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["endpoint"].as_str().unwrap().to_string())
        .collect();
    // 14 endpoints: the wildcard's three names, the IP certificate's two targets, 9 more.
    assert_eq!(by.len(), 14, "{by:?}");
    let roots: Vec<&Value> = inv
        .iter()
        .filter(|c| c["roles"] == json!(["root"]))
        .collect();
    assert_eq!(
        roots.len(),
        2,
        "the SHA-1 root and the unrelated one: {roots:?}"
    );
}

/// A root, an intermediate and nginx for one of the small shape tests below: returns the
/// env, the resolver, the PKI and the `--ca-file`.
fn small_pki(labels: &[&str]) -> (Env, String, Pki, String) {
    let mut env = Env::new();
    let resolver = env.dns_zone(&zone(labels)).to_string();
    let pki = Pki::new(env.dir.path());
    pki.root("root", "Shapes Root", Key::Rsa(2048), "sha256");
    pki.intermediate(
        "int",
        "Shapes Intermediate",
        "root",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    let ca = pki.path("root.pem");
    (env, resolver, pki, ca)
}

/// A certificate whose only name is its subject CN (`/CN=cn.lab.test`, no subjectAltName),
/// scanned as that name. No browser accepts it: Chrome since 58 and Firefox since 48 match
/// names only against the subjectAltName, the CA/B Forum Baseline Requirements (§7.1.2.7.12)
/// make the SAN mandatory and the CN a copy of one of its entries, and RFC 9525 §6.3 (which
/// obsoletes RFC 6125) forbids the CN fallback outright ("a client MUST NOT seek a match for
/// a reference identifier of CN-ID"). OpenSSL's `-verify_hostname` agrees only because it
/// still implements RFC 6125's optional fallback; what users meet is the browsers' refusal.
/// The same leaf with a SAN for the name is clean.
#[test]
fn cn_only_certificate_is_a_hostname_mismatch() {
    let (env, resolver, pki, ca) = small_pki(&["cn", "san"]);
    let dir = env.dir.path().to_path_buf();
    pki.key("ec", Key::P256);
    pki.leaf(
        "cn",
        "ec",
        "cn.lab.test",
        None,
        "int",
        (-1.0, 200.0),
        "sha256",
    );
    let san = Some("DNS:san.lab.test");
    pki.leaf(
        "san",
        "ec",
        "san.lab.test",
        san,
        "int",
        (-1.0, 200.0),
        "sha256",
    );
    let (cn, with_san) = (free_port(), free_port());
    let key = pki.path("ec.key");
    let sites = [
        (
            cn,
            pki.bundle("cn.chain.pem", &["cn", "int"]),
            key.clone(),
            "",
        ),
        (
            with_san,
            pki.bundle("san.chain.pem", &["san", "int"]),
            key,
            "",
        ),
    ];
    let _nginx = start_nginx(&dir, &sites);
    let (code, report) = scan(
        &dir,
        &[
            &format!("tls://cn.lab.test:{cn}"),
            &format!("tls://san.lab.test:{with_san}"),
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--checks",
            "ports,tls",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let s = tls_of(&report, &format!("cn.lab.test:{cn}"));
    assert_eq!(s["cert"]["sans"], json!([]), "{s}");
    assert_eq!(s["tls"]["trusted"], true, "{s}");
    assert_eq!(s["tls"]["hostname_matches"], false, "{s}");
    assert_findings(
        &report,
        &[
            (
                format!("cn.lab.test:{cn}"),
                set(&["tls.cert.hostname-mismatch"]),
            ),
            (format!("san.lab.test:{with_san}"), set(&[])),
        ],
    );
}

/// Two complete chains with one more certificate than the path needs, both fine for every
/// client (OpenSSL's verifier says OK for each, trusting only our root):
/// * the Let's Encrypt shape of 2021–2024: leaf, intermediate, then the new root
///   cross-signed by an old root that is no longer trusted (ISRG Root X1 signed by DST Root
///   CA X3); clients stop at the new root, which they trust, and never need the old one;
/// * leaf, intermediate, and a stray leaf of another CA (a certificate file concatenated by
///   hand with an old certificate in it); clients ignore certificates off the path.
///
/// Neither chain is incomplete: the path from the leaf reaches a trust anchor with the
/// certificates presented (RFC 8446 §4.4.2: "certificates that are not needed ... may be
/// ignored by the client"). Both must be clean.
#[test]
fn cross_signed_root_and_stray_certificate_leave_the_chain_complete() {
    let (env, resolver, pki, ca) = small_pki(&["cross", "stray"]);
    let dir = env.dir.path().to_path_buf();
    // The old root, not trusted any more, cross-signs the new root ("root") for old clients.
    pki.root("oldroot", "Old Root", Key::Rsa(2048), "sha256");
    let cross_ext = format!("{CA_EXT}authorityKeyIdentifier=keyid:always\n");
    let subject = "/O=posture tls stacks/CN=Shapes Root";
    let days = (-500.0, 800.0);
    pki.cert(
        "cross",
        "root",
        subject,
        Some("oldroot"),
        &cross_ext,
        days,
        "sha256",
    );
    // Another CA's leaf, off the path.
    pki.intermediate(
        "otherint",
        "Unrelated Intermediate",
        "oldroot",
        Key::P256,
        (-10.0, 1000.0),
        "sha256",
    );
    pki.key("ec", Key::P256);
    let ok = (-1.0, 200.0);
    pki.leaf(
        "old",
        "ec",
        "old.example.test",
        Some("DNS:old.example.test"),
        "otherint",
        ok,
        "sha256",
    );
    pki.leaf(
        "cross_leaf",
        "ec",
        "cross.lab.test",
        Some("DNS:cross.lab.test"),
        "int",
        ok,
        "sha256",
    );
    pki.leaf(
        "stray_leaf",
        "ec",
        "stray.lab.test",
        Some("DNS:stray.lab.test"),
        "int",
        ok,
        "sha256",
    );
    let (cross, stray) = (free_port(), free_port());
    let key = pki.path("ec.key");
    let sites = [
        (
            cross,
            pki.bundle("cross.chain.pem", &["cross_leaf", "int", "cross"]),
            key.clone(),
            "",
        ),
        (
            stray,
            pki.bundle("stray.chain.pem", &["stray_leaf", "int", "old"]),
            key,
            "",
        ),
    ];
    let _nginx = start_nginx(&dir, &sites);
    assert_eq!(openssl_verdict(cross, &ca, Some("cross.lab.test")), "OK");
    assert_eq!(openssl_verdict(stray, &ca, Some("stray.lab.test")), "OK");

    let (code, report) = scan(
        &dir,
        &[
            &format!("tls://cross.lab.test:{cross}"),
            &format!("tls://stray.lab.test:{stray}"),
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--checks",
            "ports,tls",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    for ep in [
        format!("stray.lab.test:{stray}"),
        format!("cross.lab.test:{cross}"),
    ] {
        let s = tls_of(&report, &ep);
        assert_eq!(s["chain"].as_array().unwrap().len(), 3, "{s}");
        assert_eq!(s["tls"]["trusted"], true, "{s}");
        assert_eq!(s["tls"]["chain_complete"], true, "{s}");
    }
    assert_findings(
        &report,
        &[
            (format!("cross.lab.test:{cross}"), set(&[])),
            (format!("stray.lab.test:{stray}"), set(&[])),
        ],
    );
}

/// A 2048-bit leaf issued by an RSA-1024 intermediate (served at OpenSSL security level 0,
/// as a legacy site must). The chain is as weak as its weakest key: whoever factors the
/// intermediate's 1024-bit modulus signs certificates for any name under the same root. The
/// CA/B Forum Baseline Requirements (§6.1.5) require 2048-bit RSA for every CA and subscriber
/// certificate, NIST SP 800-131A disallows 1024-bit RSA signatures, and posture's own
/// weak-signature rule already looks at every certificate of the chain. The weak-key finding
/// is expected; the same chain with a 2048-bit intermediate is clean.
#[test]
fn weak_intermediate_key_is_a_weak_key() {
    let (env, resolver, pki, ca) = small_pki(&["weakint", "goodint"]);
    let dir = env.dir.path().to_path_buf();
    pki.intermediate(
        "int1024",
        "Shapes 1024-bit Intermediate",
        "root",
        Key::Rsa(1024),
        (-10.0, 1000.0),
        "sha256",
    );
    pki.key("leafkey", Key::Rsa(2048));
    let ok = (-1.0, 200.0);
    let weak_san = Some("DNS:weakint.lab.test");
    pki.leaf(
        "weakint",
        "leafkey",
        "weakint.lab.test",
        weak_san,
        "int1024",
        ok,
        "sha256",
    );
    let good_san = Some("DNS:goodint.lab.test");
    pki.leaf(
        "goodint",
        "leafkey",
        "goodint.lab.test",
        good_san,
        "int",
        ok,
        "sha256",
    );
    let (weak, good) = (free_port(), free_port());
    let key = pki.path("leafkey.key");
    let sites = [
        (
            weak,
            pki.bundle("weak.chain.pem", &["weakint", "int1024"]),
            key.clone(),
            "ssl_ciphers DEFAULT:@SECLEVEL=0;",
        ),
        (
            good,
            pki.bundle("good.chain.pem", &["goodint", "int"]),
            key,
            "",
        ),
    ];
    let _nginx = start_nginx(&dir, &sites);
    assert_eq!(openssl_verdict(weak, &ca, Some("weakint.lab.test")), "OK");

    let (code, report) = scan(
        &dir,
        &[
            &format!("tls://weakint.lab.test:{weak}"),
            &format!("tls://goodint.lab.test:{good}"),
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--checks",
            "ports,tls",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let s = tls_of(&report, &format!("weakint.lab.test:{weak}"));
    assert_eq!(s["chain"][1]["key_type"], "rsa", "{s}");
    assert_eq!(s["chain"][1]["key_bits"], 1024, "{s}");
    assert_eq!(s["tls"]["trusted"], true, "{s}");
    assert_findings(
        &report,
        &[
            (
                format!("weakint.lab.test:{weak}"),
                set(&["tls.cert.weak-key"]),
            ),
            (format!("goodint.lab.test:{good}"), set(&[])),
        ],
    );
}
