//! Real network services other than web servers and databases, set up the way Debian admins
//! run them: OpenSSH, vsftpd (plain FTP, AUTH TLS, implicit FTPS), Dovecot (IMAP and POP3 with
//! STARTTLS, IMAPS and POP3S), memcached, Mosquitto (anonymous and with a password file),
//! OpenLDAP's slapd and GNU inetutils' telnetd under inetd. posture must name each one from what
//! it says on the wire, fire `port.risky-service` exactly where its rule says (FTP, telnet,
//! memcached) and nowhere else, and report the TLS reached through STARTTLS as the server
//! really offers it.
//!
//! Every server runs in the foreground as a child of the test, on loopback, with its
//! configuration and certificates (a private CA and a leaf, passed to posture with
//! `--ca-file`, so a well-configured TLS service has no TLS finding) written into a temp dir.
//! The conventional ports (22, 21, 990, 143, 993, 110, 995, 11211, 1883, 389, 23, 443) are
//! used inside a private network namespace (`unshare --net`), as `real_databases` does.
//!
//! Needs root and the Debian packages `openssh-server`, `vsftpd`, `dovecot-imapd`,
//! `dovecot-pop3d`, `memcached`, `mosquitto`, `slapd`, `inetutils-inetd`, `inetutils-telnetd`
//! (plus `openssl`, `iproute2`, `util-linux`).

use crate::support::free_port;
use crate::support::servers::binary;
use crate::support::tls::{incomplete, openssl_ca_and_leaf, scan, subjects};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// A second loopback address, for a second instance of a service on the same port.
const LOCAL2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A server process, stopped on drop: SIGTERM (every server here shuts down cleanly on it,
/// Dovecot's master and inetd taking their children along), then SIGKILL.
struct Server {
    child: Child,
    what: &'static str,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let (Ok(None), Ok(pid)) = (self.child.try_wait(), i32::try_from(self.child.id())) {
            // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Starts `cmd` with stdout and stderr in `dir/<what>.log` and waits (bounded) until every
/// one of `listening` accepts a connection.
fn start(dir: &Path, what: &'static str, cmd: &mut Command, listening: &[SocketAddr]) -> Server {
    let log = dir.join(format!("{what}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut server = Server { child, what, log };
    let until = Instant::now() + Duration::from_secs(20);
    for addr in listening {
        while TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{what} exited early ({status}):\n{}", server.logged());
            }
            assert!(
                Instant::now() < until,
                "{what} is not listening on {addr}:\n{}",
                server.logged()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    server
}

impl Server {
    fn logged(&self) -> String {
        format!(
            "{} log:\n{}",
            self.what,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// A temp dir the servers' unprivileged users (dovenull, mosquitto, ftp, nobody) can pass
/// through, with a private CA (`ca.pem`) and a leaf for `mail.lab.test` (`leaf.pem`,
/// `leaf.key`, RSA 2048, valid 200 days) in it.
fn lab_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    openssl_ca_and_leaf(dir.path(), "mail.lab.test", 2048, "sha256", 200);
    dir
}

fn sub(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

// ---------------------------------------------------------------- the servers

/// `sshd -D -e -f CONF` listening on `listen` (`ip:port` each), with its own ed25519 host key,
/// configured the careless way (root and password logins allowed): posture has no rule about
/// either, so this must not change its verdict.
fn start_sshd(dir: &Path, listen: &[SocketAddr]) -> Server {
    let sshd = binary(&["/usr/sbin/sshd"], "openssh-server");
    let home = sub(dir, "ssh");
    let key = home.join("host_ed25519");
    run_ok(
        Command::new(binary(&["/usr/bin/ssh-keygen"], "openssh-client"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
        "ssh-keygen",
    );
    // The privilege separation directory sshd insists on (Debian's unit creates it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let mut conf = format!(
        "HostKey {}\nPidFile none\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication yes\n",
        key.display()
    );
    for a in listen {
        conf.push_str(&format!("ListenAddress {a}\n"));
    }
    let conf_path = home.join("sshd_config");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        "sshd",
        Command::new(sshd).args(["-D", "-e", "-f"]).arg(&conf_path),
        listen,
    )
}

/// What OpenSSH calls itself (`OpenSSH_9.2`), from `sshd -V`.
fn openssh_version() -> String {
    let out = Command::new(binary(&["/usr/sbin/sshd"], "openssh-server"))
        .arg("-V")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.split([',', ' '])
        .next()
        .filter(|v| v.starts_with("OpenSSH_"))
        .unwrap_or_else(|| panic!("no version in {text:?}"))
        .to_string()
}

#[derive(Clone, Copy, PartialEq)]
enum Ftp {
    /// Debian's vsftpd with anonymous login on and `ssl_enable=YES` (AUTH TLS offered).
    AnonymousWithAuthTls,
    /// Anonymous off, local users on, no TLS at all (Debian's shipped defaults).
    LocalUsersNoTls,
    /// `implicit_ssl=YES`: TLS from the first byte (FTPS, port 990 by convention).
    Implicit,
}

/// `vsftpd CONF` (standalone, `background=NO`) on `ip:port`.
fn start_vsftpd(dir: &Path, name: &'static str, ip: Ipv4Addr, port: u16, mode: Ftp) -> Server {
    let vsftpd = binary(&["/usr/sbin/vsftpd"], "vsftpd");
    let home = sub(dir, name);
    let anon = sub(&home, "anon");
    let empty = sub(&home, "empty");
    let d = dir.display();
    let mut conf = format!(
        "listen=YES\nlisten_address={ip}\nlisten_port={port}\nbackground=NO\n\
         local_enable=YES\nsecure_chroot_dir={}\nanon_root={}\npam_service_name=vsftpd\n\
         xferlog_enable=NO\nvsftpd_log_file={}/vsftpd.log\n\
         rsa_cert_file={d}/leaf.pem\nrsa_private_key_file={d}/leaf.key\n",
        empty.display(),
        anon.display(),
        home.display(),
    );
    conf.push_str(match mode {
        Ftp::AnonymousWithAuthTls => "anonymous_enable=YES\nssl_enable=YES\n",
        Ftp::LocalUsersNoTls => "anonymous_enable=NO\nssl_enable=NO\n",
        Ftp::Implicit => "anonymous_enable=NO\nssl_enable=YES\nimplicit_ssl=YES\n",
    });
    let conf_path = home.join("vsftpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        name,
        Command::new(vsftpd).arg(&conf_path),
        &[addr(ip, port)],
    )
}

/// Ports of one Dovecot instance.
#[derive(Clone, Copy)]
struct MailPorts {
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
}

impl MailPorts {
    fn free() -> MailPorts {
        MailPorts {
            imap: free_port(),
            imaps: free_port(),
            pop3: free_port(),
            pop3s: free_port(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mail {
    /// Dovecot 2.3's TLS defaults (`ssl = yes`, minimum TLS 1.2).
    Default,
    /// `ssl_min_protocol = TLSv1` and `ssl_cipher_list = ALL:@SECLEVEL=0`: old clients first.
    Careless,
    /// `ssl = no`: plaintext IMAP and POP3 only (no IMAPS/POP3S listeners).
    NoTls,
}

/// `dovecot -F -c CONF`: IMAP and POP3 (and IMAPS, POP3S unless `NoTls`) on 127.0.0.1, a
/// static passdb/userdb, everything of its own below `dir/name`.
fn start_dovecot(dir: &Path, name: &'static str, ports: MailPorts, mode: Mail) -> Server {
    let dovecot = binary(&["/usr/sbin/dovecot"], "dovecot-core");
    let home = sub(dir, name);
    let h = home.display();
    let d = dir.display();
    let tls = match mode {
        Mail::Default => format!("ssl = yes\nssl_cert = <{d}/leaf.pem\nssl_key = <{d}/leaf.key\n"),
        Mail::Careless => format!(
            "ssl = yes\nssl_cert = <{d}/leaf.pem\nssl_key = <{d}/leaf.key\n\
             ssl_min_protocol = TLSv1\nssl_cipher_list = ALL:@SECLEVEL=0\n"
        ),
        Mail::NoTls => "ssl = no\n".to_string(),
    };
    let implicit = |listener: &str, port: u16| {
        if mode == Mail::NoTls {
            String::new()
        } else {
            format!("  inet_listener {listener} {{\n    port = {port}\n    ssl = yes\n  }}\n")
        }
    };
    let conf = format!(
        "base_dir = {h}/run\nstate_dir = {h}/state\ninstance_name = posture-{name}\n\
         log_path = /dev/stderr\nprotocols = imap pop3\nlisten = 127.0.0.1\n{tls}\
         mail_location = maildir:{h}/mail/%u\n\
         passdb {{\n  driver = static\n  args = password=secret\n}}\n\
         userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={h}/home/%u\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    port = {}\n  }}\n{}}}\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = {}\n  }}\n{}}}\n",
        ports.imap,
        implicit("imaps", ports.imaps),
        ports.pop3,
        implicit("pop3s", ports.pop3s),
    );
    let conf_path = home.join("dovecot.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut listening = vec![addr(LOCAL, ports.imap), addr(LOCAL, ports.pop3)];
    if mode != Mail::NoTls {
        listening.extend([addr(LOCAL, ports.imaps), addr(LOCAL, ports.pop3s)]);
    }
    start(
        dir,
        name,
        Command::new(dovecot).arg("-F").arg("-c").arg(&conf_path),
        &listening,
    )
}

/// `memcached -l IP -p PORT -U 0 -u nobody`, as Debian's /etc/memcached.conf runs it.
fn start_memcached(dir: &Path, ip: Ipv4Addr, port: u16) -> Server {
    let memcached = binary(&["/usr/bin/memcached"], "memcached");
    start(
        dir,
        "memcached",
        Command::new(memcached)
            .args(["-l", &ip.to_string(), "-p", &port.to_string()])
            .args(["-U", "0", "-u", "nobody"]),
        &[addr(ip, port)],
    )
}

/// `mosquitto -c CONF` on `ip:port`: anonymous clients allowed, or refused with a password
/// file holding one user.
fn start_mosquitto(
    dir: &Path,
    name: &'static str,
    ip: Ipv4Addr,
    port: u16,
    anonymous: bool,
) -> Server {
    let mosquitto = binary(&["/usr/sbin/mosquitto"], "mosquitto");
    let home = sub(dir, name);
    let mut conf = format!("listener {port} {ip}\npersistence false\nlog_dest stderr\n");
    if anonymous {
        conf.push_str("allow_anonymous true\n");
    } else {
        let passwords = home.join("passwd");
        run_ok(
            Command::new(binary(&["/usr/bin/mosquitto_passwd"], "mosquitto"))
                .args(["-c", "-b"])
                .arg(&passwords)
                .args(["alice", "s3cret"]),
            "mosquitto_passwd",
        );
        // Read by the broker after it has dropped to the `mosquitto` user.
        std::fs::set_permissions(&passwords, std::fs::Permissions::from_mode(0o644)).unwrap();
        conf.push_str(&format!(
            "allow_anonymous false\npassword_file {}\n",
            passwords.display()
        ));
    }
    let conf_path = home.join("mosquitto.conf");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        name,
        Command::new(mosquitto).arg("-c").arg(&conf_path),
        &[addr(ip, port)],
    )
}

/// `slapd -d 0 -h ldap://IP:PORT/ -f slapd.conf`: one MDB database `dc=lab,dc=test` and
/// OpenLDAP's default access (anyone may read, the root DSE included).
fn start_slapd(dir: &Path, ip: Ipv4Addr, port: u16) -> Server {
    let slapd = binary(&["/usr/sbin/slapd"], "slapd");
    let home = sub(dir, "ldap");
    let db = sub(&home, "db");
    let h = home.display();
    let conf = format!(
        "include /etc/ldap/schema/core.schema\npidfile {h}/slapd.pid\nargsfile {h}/slapd.args\n\
         modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
         database mdb\nmaxsize 10485760\nsuffix \"dc=lab,dc=test\"\n\
         rootdn \"cn=admin,dc=lab,dc=test\"\nrootpw secret\ndirectory {}\n",
        db.display()
    );
    let conf_path = home.join("slapd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        "slapd",
        Command::new(slapd)
            .args(["-d", "0", "-h", &format!("ldap://{ip}:{port}/"), "-f"])
            .arg(&conf_path),
        &[addr(ip, port)],
    )
}

/// GNU inetutils' telnetd, started per connection by `inetutils-inetd -d` (foreground) on
/// `ip:port`.
fn start_telnetd(dir: &Path, ip: Ipv4Addr, port: u16) -> Server {
    let inetd = binary(&["/usr/sbin/inetutils-inetd"], "inetutils-inetd");
    let telnetd = binary(&["/usr/sbin/telnetd"], "inetutils-telnetd");
    let home = sub(dir, "inetd");
    let conf_path = home.join("inetd.conf");
    std::fs::write(
        &conf_path,
        format!("{ip}:{port} stream tcp nowait root {telnetd} telnetd\n"),
    )
    .unwrap();
    start(
        dir,
        "inetd",
        Command::new(inetd)
            .arg("-d")
            .arg(format!("--pidfile={}", home.join("inetd.pid").display()))
            .arg(&conf_path),
        &[addr(ip, port)],
    )
}

// ---------------------------------------------------------------- the report

/// `posture scan TARGETS --ca-file DIR/ca.pem --json … --fail-on none --allow-incomplete -q`.
fn scan_lab(dir: &Path, targets: &[String]) -> Value {
    let ca = dir.join("ca.pem").display().to_string();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--ca-file", &ca, "--fail-on", "none", "--allow-incomplete"]);
    let started = Instant::now();
    let (code, report) = scan(dir, &args);
    let took = started.elapsed();
    eprintln!("posture scan {targets:?}: {took:?}");
    assert_eq!(code, 0, "{report:#}");
    assert!(took < Duration::from_secs(10), "the scan took {took:?}");
    report
}

fn no_incomplete(report: &Value) {
    assert_eq!(incomplete(report), [], "{report:#}");
}

/// The port subjects of `ip:port` (two when a URL and a bare target name the same port).
fn ports_at(report: &Value, ip: Ipv4Addr, port: u16) -> Vec<Value> {
    let endpoint = format!("{ip}:{port}");
    subjects(report, "port")
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint)
        .map(|s| s["port"].clone())
        .collect()
}

/// The one port subject of `ip:port`.
fn port_at(report: &Value, ip: Ipv4Addr, port: u16) -> Value {
    let mut found = ports_at(report, ip, port);
    assert_eq!(found.len(), 1, "{ip}:{port}: {report:#}");
    found.pop().unwrap()
}

/// `(service, service_source)` of a port subject.
fn named(facts: &Value) -> (&str, &str) {
    (
        facts["service"].as_str().unwrap(),
        facts["service_source"].as_str().unwrap(),
    )
}

/// The TLS subjects of `ip:port`.
fn tls_at(report: &Value, ip: Ipv4Addr, port: u16) -> Vec<Value> {
    let endpoint = format!("{ip}:{port}");
    subjects(report, "tls")
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint)
        .cloned()
        .collect()
}

/// The one TLS subject of `ip:port`.
fn one_tls(report: &Value, ip: Ipv4Addr, port: u16) -> Value {
    let mut found = tls_at(report, ip, port);
    assert_eq!(found.len(), 1, "TLS on {ip}:{port}: {report:#}");
    found.pop().unwrap()
}

/// Every finding as `(rule_id, endpoint)`.
fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, String)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(r, e)| (r.to_string(), e.clone()))
        .collect()
}

/// The `port.risky-service` finding on `endpoint`.
fn risky(report: &Value, endpoint: &str) -> Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "port.risky-service" && f["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no port.risky-service on {endpoint}: {report:#}"))
        .clone()
}

/// `port.risky-service` on `ip:port`, for `service` identified by `source`, with the rule's
/// name for it and the start of its advice.
fn assert_risky(
    report: &Value,
    ip: Ipv4Addr,
    port: u16,
    (service, source): (&str, &str),
    name: &str,
    advice: &str,
) {
    let f = risky(report, &format!("{ip}:{port}"));
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(
        f["message"],
        format!(
            "{name} is exposed on {ip}:{port} (port {port}/tcp, service `{service}` identified \
             by {source})."
        ),
        "{f}"
    );
    assert!(
        f["remediation"].as_str().unwrap().starts_with(advice),
        "{f}"
    );
    assert_eq!(f["evidence"]["port.service"], service, "{f}");
    assert_eq!(f["evidence"]["port.service_source"], source, "{f}");
}

const FTP_NAME: &str = "FTP (plaintext file transfer)";
const FTP_ADVICE: &str = "FTP sends passwords and files in clear text.";
const TELNET_NAME: &str = "Telnet (plaintext remote shell)";
const TELNET_ADVICE: &str = "Telnet sends credentials and the whole session in clear text.";
const MEMCACHED_NAME: &str = "Memcached";
const MEMCACHED_ADVICE: &str = "Memcached has no authentication;";

/// A TLS subject as the lab's servers present it: the private CA's leaf (trusted with
/// `--ca-file`, RSA 2048, 200 days), the versions the server accepts, no weak cipher class,
/// forward secrecy; `starttls` is the upgrade it was reached by (`null` for implicit TLS).
fn assert_tls(t: &Value, starttls: Value, versions: &[&str]) {
    assert_eq!(t["tls"]["starttls"], starttls, "{t:#}");
    assert_eq!(t["tls"]["versions"], serde_json::json!(versions), "{t:#}");
    assert_eq!(t["tls"]["weak_ciphers"], serde_json::json!([]), "{t:#}");
    assert_eq!(t["tls"]["forward_secrecy"], true, "{t:#}");
    assert_eq!(t["tls"]["trusted"], true, "{t:#}");
    assert_eq!(t["tls"]["hostname_checked"], false, "{t:#}");
    assert_eq!(t["cert"]["subject"], "CN=mail.lab.test", "{t:#}");
    assert_eq!(t["cert"]["key_bits"], 2048, "{t:#}");
}

const MODERN: &[&str] = &["tls1.2", "tls1.3"];
const EVERY_TLS: &[&str] = &["tls1.0", "tls1.1", "tls1.2", "tls1.3"];

/// vsftpd's greeting, `220 (vsFTPd 3.0.3)`.
fn assert_vsftpd_greeting(facts: &Value) {
    let banner = facts["banner"].as_str().unwrap();
    assert!(
        banner.starts_with("220 (vsFTPd 3.") && banner.ends_with(")\r\n"),
        "{banner:?}"
    );
}

/// Dovecot's IMAP greeting: one untagged OK carrying the pre-login capabilities (`STARTTLS`
/// exactly when TLS is configured), then `Dovecot (Debian) ready.`.
fn assert_dovecot_imap_greeting(facts: &Value, starttls: bool) {
    let banner = facts["banner"].as_str().unwrap();
    assert!(
        banner.starts_with("* OK [CAPABILITY IMAP4rev1 ")
            && banner.ends_with("] Dovecot (Debian) ready.\r\n"),
        "{banner:?}"
    );
    assert_eq!(banner.contains(" STARTTLS "), starttls, "{banner:?}");
}

const DOVECOT_POP3_GREETING: &str = "+OK Dovecot (Debian) ready.\r\n";

// ---------------------------------------------------------------- tests on high ports

/// OpenSSH greets with its version line (RFC 4253 §4.2) before the client says anything: it is
/// `ssh` by its banner on any port, and nothing posture checks applies to it (no rule reads
/// sshd's login settings, which it never reveals before authentication anyway). An `ssh://` URL
/// names the service by its scheme and reads the same banner.
#[test]
fn openssh_is_named_by_its_banner() {
    let dir = lab_dir();
    let port = free_port();
    let _sshd = start_sshd(dir.path(), &[addr(LOCAL, port)]);
    let report = scan_lab(
        dir.path(),
        &[format!("{LOCAL}:{port}"), format!("ssh://{LOCAL}:{port}")],
    );
    no_incomplete(&report);
    let mut sources = BTreeSet::new();
    for facts in ports_at(&report, LOCAL, port) {
        let (service, source) = named(&facts);
        assert_eq!(service, "ssh", "{facts}");
        sources.insert(source.to_string());
        let banner = facts["banner"].as_str().unwrap();
        let version = format!("SSH-2.0-{}", openssh_version());
        assert!(banner.starts_with(&version), "{version:?} in {banner:?}");
        assert!(
            banner.ends_with("\r\n") && banner.lines().count() == 1,
            "{banner:?}"
        );
    }
    assert_eq!(
        sources,
        BTreeSet::from(["banner".to_string(), "scheme".to_string()])
    );
    assert_eq!(tls_at(&report, LOCAL, port), Vec::<Value>::new());
    assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
}

/// vsftpd as Debian runs it, twice: anonymous login on with `AUTH TLS` offered, and local users
/// only without TLS. Both are FTP by their `220 (vsFTPd …)` greeting on a port that names
/// nothing, both fire `port.risky-service` (FTP is in its `services`). The first is assessed
/// through `AUTH TLS` (RFC 4217): TLS 1.2 and 1.3 only (OpenSSL 3's defaults, vsftpd's cipher
/// list `ECDHE-RSA-AES256-GCM-SHA384`: `openssl s_client -starttls ftp -tls1_1` is refused), so
/// with the CA given there is no TLS finding. The second answers `AUTH TLS` with `530`: no TLS
/// to assess, and that is not an incomplete scan.
#[test]
fn vsftpd_is_flagged_and_its_auth_tls_assessed() {
    let dir = lab_dir();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _tls = start_vsftpd(
        dir.path(),
        "vsftpd-tls",
        LOCAL,
        tls_port,
        Ftp::AnonymousWithAuthTls,
    );
    let _plain = start_vsftpd(
        dir.path(),
        "vsftpd-plain",
        LOCAL,
        plain_port,
        Ftp::LocalUsersNoTls,
    );
    let report = scan_lab(
        dir.path(),
        &[
            format!("{LOCAL}:{tls_port}"),
            format!("{LOCAL}:{plain_port}"),
        ],
    );
    no_incomplete(&report);
    for port in [tls_port, plain_port] {
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), ("ftp", "banner"), "{facts}");
        assert_vsftpd_greeting(&facts);
        assert_risky(
            &report,
            LOCAL,
            port,
            ("ftp", "banner"),
            FTP_NAME,
            FTP_ADVICE,
        );
    }
    assert_tls(&one_tls(&report, LOCAL, tls_port), "ftp".into(), MODERN);
    assert_eq!(tls_at(&report, LOCAL, plain_port), Vec::<Value>::new());
    let want = set(&[
        ("port.risky-service", format!("{LOCAL}:{tls_port}")),
        ("port.risky-service", format!("{LOCAL}:{plain_port}")),
    ]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// Dovecot three ways, on ports that name nothing: its greetings (`* OK [CAPABILITY …]`,
/// `+OK Dovecot`) name IMAP and POP3, so STARTTLS / STLS is used on the bare `IP:PORT` targets;
/// `imaps://` and `pop3s://` reach the implicit-TLS listeners.
/// * Dovecot's defaults (TLS 1.2 minimum): four TLS subjects, TLS 1.2 and 1.3, no finding.
/// * `ssl_min_protocol = TLSv1`: TLS 1.0 and 1.1 are accepted through STARTTLS as well as on
///   the implicit ports (`openssl s_client -starttls imap -tls1` gets in), so
///   `tls.protocol.legacy` fires on all four, and only that.
/// * `ssl = no`: no STARTTLS in the capabilities, the upgrade is refused (`BAD`/`-ERR`): no
///   TLS subject, nothing incomplete, no finding (no rule is about cleartext IMAP/POP3).
#[test]
fn dovecot_starttls_and_implicit_tls_are_assessed() {
    let dir = lab_dir();
    let (good, old, plain) = (MailPorts::free(), MailPorts::free(), MailPorts::free());
    let _good = start_dovecot(dir.path(), "dovecot-default", good, Mail::Default);
    let _old = start_dovecot(dir.path(), "dovecot-careless", old, Mail::Careless);
    let _plain = start_dovecot(dir.path(), "dovecot-plain", plain, Mail::NoTls);
    let mut targets = Vec::new();
    for p in [good, old] {
        targets.extend([
            format!("{LOCAL}:{}", p.imap),
            format!("{LOCAL}:{}", p.pop3),
            format!("imaps://{LOCAL}:{}", p.imaps),
            format!("pop3s://{LOCAL}:{}", p.pop3s),
        ]);
    }
    targets.extend([
        format!("{LOCAL}:{}", plain.imap),
        format!("{LOCAL}:{}", plain.pop3),
    ]);
    let report = scan_lab(dir.path(), &targets);
    no_incomplete(&report);
    for (p, tls) in [(good, true), (old, true), (plain, false)] {
        let imap = port_at(&report, LOCAL, p.imap);
        assert_eq!(named(&imap), ("imap", "banner"), "{imap}");
        assert_dovecot_imap_greeting(&imap, tls);
        let pop3 = port_at(&report, LOCAL, p.pop3);
        assert_eq!(named(&pop3), ("pop3", "banner"), "{pop3}");
        assert_eq!(pop3["banner"], DOVECOT_POP3_GREETING, "{pop3}");
    }
    for (p, versions) in [(good, MODERN), (old, EVERY_TLS)] {
        assert_tls(&one_tls(&report, LOCAL, p.imap), "imap".into(), versions);
        assert_tls(&one_tls(&report, LOCAL, p.pop3), "pop3".into(), versions);
        assert_tls(&one_tls(&report, LOCAL, p.imaps), Value::Null, versions);
        assert_tls(&one_tls(&report, LOCAL, p.pop3s), Value::Null, versions);
    }
    for port in [plain.imap, plain.pop3] {
        assert_eq!(tls_at(&report, LOCAL, port), Vec::<Value>::new());
    }
    let legacy = [old.imap, old.pop3, old.imaps, old.pop3s]
        .map(|port| ("tls.protocol.legacy", format!("{LOCAL}:{port}")));
    assert_eq!(findings(&report), set(&legacy), "{report:#}");
}

/// GNU telnetd under inetd opens with option negotiation (IAC WILL/DO …, RFC 854) before the
/// client says anything: telnet by its banner on any port, and `port.risky-service` fires.
#[test]
fn telnetd_on_a_high_port_is_flagged() {
    let dir = lab_dir();
    let port = free_port();
    let _inetd = start_telnetd(dir.path(), LOCAL, port);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("telnet", "banner"), "{facts}");
    assert!(
        facts["banner"].as_str().unwrap().starts_with("\\xff\\xfb"),
        "{facts}"
    );
    assert_risky(
        &report,
        LOCAL,
        port,
        ("telnet", "banner"),
        TELNET_NAME,
        TELNET_ADVICE,
    );
    let want = set(&[("port.risky-service", format!("{LOCAL}:{port}"))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// memcached away from 11211 (a second instance, a container's mapped port). It is in
/// `port.risky-service`'s `services`, so — like Redis on port 7000 — identified by what it
/// answers it must fire on any port. But memcached ≥ 1.5 hangs up without a word on a line
/// that looks like an HTTP request (an SSRF defence): `GET / HTTP/1.0\r\n` gets a FIN, while
/// `\r\n` gets `ERROR\r\n`. posture's follow-up after a silent close is only the PostgreSQL
/// startup packet, which memcached answers with silence (it waits for a newline), so the
/// service stays `unknown` and nothing fires.
#[test]
fn memcached_on_a_high_port_is_identified_and_flagged() {
    let dir = lab_dir();
    let port = free_port();
    let _memcached = start_memcached(dir.path(), LOCAL, port);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("memcached", "probe"), "{facts}");
    assert!(
        facts["banner"].as_str().unwrap().starts_with("ERROR\r\n"),
        "{facts}"
    );
    assert_risky(
        &report,
        LOCAL,
        port,
        ("memcached", "probe"),
        MEMCACHED_NAME,
        MEMCACHED_ADVICE,
    );
    let want = set(&[("port.risky-service", format!("{LOCAL}:{port}"))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// Implicit FTPS (vsftpd `implicit_ssl=YES`) and IMAPS/POP3S (Dovecot) named by their URL
/// scheme: `ftps://` is FTP over TLS from the first byte, not "FTP (plaintext file
/// transfer)". posture names the service of `ftps://`, `imaps://` and `pop3s://` targets
/// `ftp`, `imap` and `pop3` (`Scheme::service`), where the port table names 990, 993 and 995
/// `ftps`, `imaps` and `pop3s` — so `port.risky-service` (which lists `ftp`, not `ftps`) calls
/// an FTPS server plaintext FTP.
#[test]
fn implicit_tls_schemes_name_the_tls_service() {
    let dir = lab_dir();
    let ftps = free_port();
    let mail = MailPorts::free();
    let _ftps = start_vsftpd(dir.path(), "vsftpd-implicit", LOCAL, ftps, Ftp::Implicit);
    let _dovecot = start_dovecot(dir.path(), "dovecot", mail, Mail::Default);
    let report = scan_lab(
        dir.path(),
        &[
            format!("ftps://{LOCAL}:{ftps}"),
            format!("imaps://{LOCAL}:{}", mail.imaps),
            format!("pop3s://{LOCAL}:{}", mail.pop3s),
        ],
    );
    no_incomplete(&report);
    for (port, service) in [(ftps, "ftps"), (mail.imaps, "imaps"), (mail.pop3s, "pop3s")] {
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), (service, "scheme"), "{facts}");
        assert_tls(&one_tls(&report, LOCAL, port), Value::Null, MODERN);
    }
    assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
}

/// Implicit FTPS on a port that names nothing, scanned as a bare `IP:PORT`: it waits for a
/// ClientHello like any TLS server, and answers one (`openssl s_client -connect` gets TLS 1.3).
/// README: TLS is probed "on any open port that answers a ClientHello". But the banner nudge
/// (`GET / HTTP/1.0`) reaches OpenSSL inside vsftpd first, which fails the handshake and makes
/// vsftpd say `500 OOPS: error:0A00009C:SSL routines::http request` in plaintext before it
/// closes. That reply identifies nothing, and posture asks a ClientHello only of ports that
/// stayed silent, so the port is `unknown` with no TLS subject.
#[test]
fn implicit_ftps_on_a_high_port_is_found_speaking_tls() {
    let dir = lab_dir();
    let port = free_port();
    let _ftps = start_vsftpd(dir.path(), "vsftpd-implicit", LOCAL, port, Ftp::Implicit);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    assert_tls(&one_tls(&report, LOCAL, port), Value::Null, MODERN);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("tls", "probe"), "{facts}");
    assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
}

/// IMAPS and POP3S on ports that name nothing, as bare `IP:PORT`: Dovecot (OpenSSL) closes
/// without a byte on the `GET` nudge and on the PostgreSQL follow-up, and then answers the
/// ClientHello, so posture rightly assesses TLS — but the port subject, judged before that
/// ClientHello, still says `unknown` (source `port`), where the service vocabulary has `tls`
/// for "speaks TLS, application protocol not known from the port" (and a rustls server, which
/// answers the `GET` with an alert, does get `tls`).
#[test]
fn implicit_tls_found_by_client_hello_names_the_port_tls() {
    let dir = lab_dir();
    let mail = MailPorts::free();
    let _dovecot = start_dovecot(dir.path(), "dovecot", mail, Mail::Default);
    let report = scan_lab(
        dir.path(),
        &[
            format!("{LOCAL}:{}", mail.imaps),
            format!("{LOCAL}:{}", mail.pop3s),
        ],
    );
    no_incomplete(&report);
    for port in [mail.imaps, mail.pop3s] {
        assert_tls(&one_tls(&report, LOCAL, port), Value::Null, MODERN);
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), ("tls", "probe"), "{facts}");
    }
    assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
}

// ---------------------------------------------------------------- conventional ports

/// Every server on its own port, scanned together: each named by what it said, the risky
/// ones (FTP, telnet, memcached) flagged and nothing else, TLS assessed where it is spoken
/// (STARTTLS on 21, 143 and 110; implicit on 990, 993 and 995), and SSH on 443 taken for SSH,
/// not for a broken TLS server. Runs [`conventional_ports_inside_a_private_network`] in a
/// copy of this test binary inside `unshare --net`.
#[test]
fn services_on_their_conventional_ports_are_identified_and_judged() {
    crate::support::netns::in_private_network(
        "real_services::services_on_their_conventional_ports_are_identified_and_judged",
        &["--net"],
        conventional_ports_inside_a_private_network,
    );
}

/// The body of [`services_on_their_conventional_ports_are_identified_and_judged`], run inside the private network.
fn conventional_ports_inside_a_private_network() {
    let dir = lab_dir();
    let d = dir.path();
    let mail = MailPorts {
        imap: 143,
        imaps: 993,
        pop3: 110,
        pop3s: 995,
    };
    let _servers = [
        start_sshd(d, &[addr(LOCAL, 22), addr(LOCAL2, 443)]),
        start_vsftpd(d, "vsftpd-tls", LOCAL, 21, Ftp::AnonymousWithAuthTls),
        start_vsftpd(d, "vsftpd-implicit", LOCAL, 990, Ftp::Implicit),
        start_dovecot(d, "dovecot", mail, Mail::Default),
        start_memcached(d, LOCAL, 11211),
        start_mosquitto(d, "mosquitto-anonymous", LOCAL, 1883, true),
        start_mosquitto(d, "mosquitto-passwords", LOCAL2, 1883, false),
        start_slapd(d, LOCAL, 389),
        start_telnetd(d, LOCAL, 23),
    ];
    let endpoints = [
        (LOCAL, 22),
        (LOCAL2, 443),
        (LOCAL, 21),
        (LOCAL, 990),
        (LOCAL, 143),
        (LOCAL, 993),
        (LOCAL, 110),
        (LOCAL, 995),
        (LOCAL, 11211),
        (LOCAL, 1883),
        (LOCAL2, 1883),
        (LOCAL, 389),
        (LOCAL, 23),
    ];
    let targets: Vec<String> = endpoints.iter().map(|(i, p)| format!("{i}:{p}")).collect();
    let report = scan_lab(d, &targets);
    no_incomplete(&report);

    let service = |i: Ipv4Addr, p: u16| port_at(&report, i, p);
    let expect = [
        (LOCAL, 22, "ssh", "banner"),
        (LOCAL2, 443, "ssh", "banner"),
        (LOCAL, 21, "ftp", "banner"),
        (LOCAL, 990, "ftps", "probe"),
        (LOCAL, 143, "imap", "banner"),
        (LOCAL, 993, "imaps", "probe"),
        (LOCAL, 110, "pop3", "banner"),
        (LOCAL, 995, "pop3s", "probe"),
        (LOCAL, 11211, "memcached", "probe"),
        (LOCAL, 1883, "mqtt", "probe"),
        (LOCAL2, 1883, "mqtt", "probe"),
        (LOCAL, 389, "ldap", "probe"),
        (LOCAL, 23, "telnet", "banner"),
    ];
    for (i, p, name, source) in expect {
        let facts = service(i, p);
        assert_eq!(named(&facts), (name, source), "{i}:{p}: {facts}");
    }

    // What each said, as recorded.
    let banner = |i: Ipv4Addr, p: u16| service(i, p)["banner"].as_str().unwrap().to_string();
    let ssh = format!("SSH-2.0-{}", openssh_version());
    assert!(banner(LOCAL, 22).starts_with(&ssh), "{}", banner(LOCAL, 22));
    assert!(
        banner(LOCAL2, 443).starts_with(&ssh),
        "{}",
        banner(LOCAL2, 443)
    );
    assert_vsftpd_greeting(&service(LOCAL, 21));
    assert_dovecot_imap_greeting(&service(LOCAL, 143), true);
    assert_eq!(banner(LOCAL, 110), DOVECOT_POP3_GREETING);
    // memcached answers each of the two empty lines of the nudge.
    assert_eq!(banner(LOCAL, 11211), "ERROR\r\nERROR\r\n");
    // MQTT 3.1.1 CONNACK (0x20, remaining length 2, no session): return code 0 (accepted) for
    // the anonymous broker, 5 (not authorised) for the one with a password file.
    assert_eq!(banner(LOCAL, 1883), " \\u{2}\\u{0}\\u{0}");
    assert_eq!(banner(LOCAL2, 1883), " \\u{2}\\u{0}\\u{5}");
    // slapd returns the root DSE (message 1, SearchResultEntry for "") and SearchResultDone.
    let dse = banner(LOCAL, 389);
    assert!(dse.starts_with('0'), "{dse:?}");
    assert!(dse.contains("\\u{2}\\u{1}\\u{1}d"), "{dse:?}");
    assert!(dse.contains("OpenLDAProotDSE"), "{dse:?}");
    assert!(
        dse.ends_with("\\u{2}\\u{1}\\u{1}e\\u{7}\n\\u{1}\\u{0}\\u{4}\\u{0}\\u{4}\\u{0}"),
        "{dse:?}"
    );
    assert!(banner(LOCAL, 23).starts_with("\\xff\\xfb"));
    // SSH on 443 is SSH: no TLS subject, nothing incomplete (checked above), no HTTP.
    assert_eq!(tls_at(&report, LOCAL2, 443), Vec::<Value>::new());
    assert_eq!(subjects(&report, "http"), Vec::<&Value>::new());

    // TLS where it is spoken, and only there.
    assert_tls(&one_tls(&report, LOCAL, 21), "ftp".into(), MODERN);
    assert_tls(&one_tls(&report, LOCAL, 143), "imap".into(), MODERN);
    assert_tls(&one_tls(&report, LOCAL, 110), "pop3".into(), MODERN);
    for port in [990, 993, 995] {
        assert_tls(&one_tls(&report, LOCAL, port), Value::Null, MODERN);
    }
    assert_eq!(subjects(&report, "tls").len(), 6, "{report:#}");

    assert_risky(&report, LOCAL, 21, ("ftp", "banner"), FTP_NAME, FTP_ADVICE);
    assert_risky(
        &report,
        LOCAL,
        23,
        ("telnet", "banner"),
        TELNET_NAME,
        TELNET_ADVICE,
    );
    assert_risky(
        &report,
        LOCAL,
        11211,
        ("memcached", "probe"),
        MEMCACHED_NAME,
        MEMCACHED_ADVICE,
    );
    let want = set(&[
        ("port.risky-service", format!("{LOCAL}:21")),
        ("port.risky-service", format!("{LOCAL}:23")),
        ("port.risky-service", format!("{LOCAL}:11211")),
    ]);
    assert_eq!(findings(&report), want, "{report:#}");
}
