//! Real database servers, set up the way Debian sets them up: PostgreSQL (`initdb` with
//! Debian's default authentication, peer locally and scram-sha-256 over TCP, the postmaster
//! running as the `postgres` user) and MariaDB (`mariadb-install-db` with its default grant
//! tables, `mariadbd` switching to the `mysql` user). posture must name each one from what it
//! says on the wire — MariaDB's handshake, PostgreSQL's refusal of our startup packet — on a
//! port that does not name it as well as on 5432 and 3306, and flag it as an exposed database.
//! The conventional ports are used inside a private network namespace (`unshare --net`, as the
//! benchmarks do), so nothing on the host can hold them.
//!
//! Needs root (the servers run as their system users, `unshare` needs CAP_SYS_ADMIN) and the
//! Debian packages `postgresql` and `mariadb-server` (plus `iproute2` for `ip`, `util-linux`
//! for `unshare`).

use crate::support::free_port;
use crate::support::servers::binary;
use crate::support::tls::{incomplete, scan, subjects};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process, stopped on drop: first the server's own clean shutdown signal (so
/// PostgreSQL releases its shared memory and both remove their pid files), then SIGKILL.
struct Server {
    child: Child,
    stop: libc::c_int,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let (Ok(None), Ok(pid)) = (self.child.try_wait(), i32::try_from(self.child.id())) {
            // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, self.stop) };
            let until = Instant::now() + Duration::from_secs(10);
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

/// A PostgreSQL server program (`initdb`, `postgres`) of the newest installed major version:
/// Debian keeps them in /usr/lib/postgresql/<major>/bin, off the PATH.
fn pg_binary(name: &str) -> String {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin").join(name);
            bin.exists().then_some((major, bin))
        })
        .collect();
    majors.sort();
    match majors.pop() {
        Some((_, bin)) => bin.display().to_string(),
        None => binary(&[&format!("/usr/local/bin/{name}")], "postgresql"),
    }
}

/// uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no `{name}` user: is its server package installed?"))
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

/// Waits (bounded) until the server has logged `ready` and accepts connections on `port`.
fn wait_ready(server: &mut Server, port: u16, log: &Path, ready: &str, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        if logged.contains(ready)
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{what} exited early ({status}):\n{logged}");
        }
        assert!(
            Instant::now() < until,
            "{what} is not ready on {port}:\n{logged}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory under `dir` owned by `user`, for a server that runs as that user.
fn owned_dir(dir: &Path, name: &str, user: (u32, u32)) -> PathBuf {
    // The temp dir itself is root's and 0700: the system users must be able to pass through.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sub = dir.join(name);
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::chown(&sub, Some(user.0), Some(user.1)).unwrap();
    sub
}

/// `initdb` and `postgres -D … -p PORT -k … -c listen_addresses=127.0.0.1`, as `postgres`.
fn start_postgres(dir: &Path, port: u16) -> Server {
    let (initdb, postgres) = (pg_binary("initdb"), pg_binary("postgres"));
    let user = system_user("postgres");
    let home = owned_dir(dir, "pg", user);
    let data = home.join("data");
    run_ok(
        Command::new(&initdb)
            .uid(user.0)
            .gid(user.1)
            .current_dir(&home)
            .arg("-D")
            .arg(&data)
            // Debian's pg_hba.conf: peer on the socket, passwords (SCRAM) over TCP.
            .args(["--auth-local=peer", "--auth-host=scram-sha-256"])
            .args(["--username=postgres", "--encoding=UTF8", "--locale=C"])
            .arg("--no-sync"),
        "initdb",
    );
    let log_path = dir.join("postgres.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Server {
        child: Command::new(&postgres)
            .uid(user.0)
            .gid(user.1)
            .current_dir(&home)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&home)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres"),
        // Fast shutdown: roll back, close sessions, release shared memory.
        stop: libc::SIGINT,
    };
    wait_ready(
        &mut server,
        port,
        &log_path,
        "database system is ready to accept connections",
        "postgres",
    );
    server
}

/// `mariadb-install-db` and `mariadbd` on `port` of 127.0.0.1, as the `mysql` user.
fn start_mariadb(dir: &Path, port: u16) -> Server {
    let install = binary(
        &["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"],
        "mariadb-server",
    );
    let mariadbd = binary(
        &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"],
        "mariadb-server",
    );
    let user = system_user("mysql");
    let home = owned_dir(dir, "mariadb", user);
    let data = home.join("data");
    // Its own temporary directory: bootstrap temp tables in a /tmp shared with a concurrent
    // install (the other test, or a second run) collided ("Unknown table tmp_proxies_priv").
    let tmp = home.clone();
    // --no-defaults: none of /etc/mysql applies (its socket and pid paths belong to the
    // system service). --skip-name-resolve: the root@hostname account is not created, which
    // would need a DNS lookup of this host's name.
    run_ok(
        Command::new(&install)
            .current_dir(&home)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(["--user=mysql", "--skip-test-db", "--skip-name-resolve"]),
        "mariadb-install-db",
    );
    let log_path = dir.join("mariadb.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Server {
        child: Command::new(&mariadbd)
            .current_dir(&home)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", home.join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", home.join("mariadb.pid").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(["--user=mysql", "--bind-address=127.0.0.1"])
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mariadbd"),
        stop: libc::SIGTERM,
    };
    wait_ready(
        &mut server,
        port,
        &log_path,
        "ready for connections",
        "mariadbd",
    );
    server
}

/// MariaDB's version as `mariadbd --version` states it (`10.11.19-MariaDB-0+deb12u1`).
fn mariadb_version() -> String {
    let mariadbd = binary(
        &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"],
        "mariadb-server",
    );
    let out = Command::new(mariadbd).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .skip_while(|w| *w != "Ver")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {text:?}"))
        .to_string()
}

/// `posture scan TARGETS --json … --fail-on none --allow-incomplete -q`, timed.
fn scan_timed(dir: &Path, targets: &[String]) -> Value {
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--fail-on", "none", "--allow-incomplete"]);
    let started = Instant::now();
    let (code, report) = scan(dir, &args);
    let took = started.elapsed();
    eprintln!("posture scan {targets:?}: {took:?}");
    assert_eq!(code, 0, "{report:#}");
    // Every endpoint assessed, and quickly: both servers answer at once.
    assert_eq!(incomplete(&report), [], "{report:#}");
    assert!(took < Duration::from_secs(5), "the scan took {took:?}");
    report
}

/// The port subject of `port` in a report.
fn port_facts(report: &Value, port: u16) -> Value {
    subjects(report, "port")
        .into_iter()
        .find(|s| s["port"]["number"] == port)
        .unwrap_or_else(|| panic!("no port subject for {port}: {report:#}"))["port"]
        .clone()
}

/// Every finding as `(rule_id, port)`.
fn findings(report: &Value) -> BTreeSet<(String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The `port.risky-service` finding on `port`.
fn risky(report: &Value, port: u16) -> Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "port.risky-service" && f["port"] == port)
        .unwrap_or_else(|| panic!("no port.risky-service on {port}: {report:#}"))
        .clone()
}

/// A fact string is safe to print: no control characters but tab and newlines, no bidi
/// controls (the raw bytes are there as `\u{NN}` / `\xNN` escapes instead).
fn assert_printable(banner: &str) {
    let unsafe_char = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{feff}')
    };
    assert!(!banner.chars().any(unsafe_char), "{banner:?}");
}

/// MariaDB speaks first: a protocol-10 handshake whose server version is MySQL's `5.5.5-`
/// compatibility prefix and the real version, then the connection id, the scramble and the
/// default authentication plugin. posture keeps all of it, escaped.
fn assert_mariadb(report: &Value, port: u16) {
    let facts = port_facts(report, port);
    assert_eq!(facts["service"], "mysql", "{facts}");
    assert_eq!(facts["service_source"], "banner", "{facts}");
    let banner = facts["banner"].as_str().unwrap();
    assert_printable(banner);
    // Packet header: a one-byte length (printable or escaped), two zero length bytes and
    // sequence 0; then protocol version 10 (`\n`) and the NUL-terminated server version.
    let (length, rest) = banner
        .split_once("\\u{0}\\u{0}\\u{0}\n5.5.5-")
        .unwrap_or_else(|| panic!("no v10 handshake: {banner:?}"));
    assert!(
        length.chars().count() == 1 || length.starts_with('\\'),
        "{banner:?}"
    );
    let version = format!("{}\\u{{0}}", mariadb_version());
    assert!(rest.starts_with(&version), "{version:?} in {banner:?}");
    assert!(
        banner.ends_with("mysql_native_password\\u{0}"),
        "{banner:?}"
    );
    let f = risky(report, port);
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(
        f["message"],
        format!(
            "MySQL/MariaDB is exposed on 127.0.0.1:{port} (port {port}/tcp, service `mysql` \
             identified by banner)."
        ),
        "{f}"
    );
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .starts_with("Database servers should not face untrusted networks. Set `bind-address`"),
        "{f}"
    );
}

/// PostgreSQL waits for the client; posture's startup packet asks for protocol 0.0, which the
/// postmaster refuses before any authentication with a v3 ErrorResponse.
fn assert_postgres(report: &Value, port: u16) {
    let facts = port_facts(report, port);
    assert_eq!(facts["service"], "postgresql", "{facts}");
    assert_eq!(facts["service_source"], "probe", "{facts}");
    let banner = facts["banner"].as_str().unwrap();
    assert_printable(banner);
    assert!(banner.starts_with("E\\u{0}\\u{0}\\u{0}"), "{banner:?}");
    assert!(banner.contains("SFATAL\\u{0}"), "{banner:?}");
    assert!(
        banner.contains("Munsupported frontend protocol 0.0: server supports 3.0 to 3.0\\u{0}"),
        "{banner:?}"
    );
    let f = risky(report, port);
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(
        f["message"],
        format!(
            "PostgreSQL is exposed on 127.0.0.1:{port} (port {port}/tcp, service `postgresql` \
             identified by probe)."
        ),
        "{f}"
    );
    assert!(
        f["remediation"].as_str().unwrap().starts_with(
            "Database servers should not face untrusted networks. Set `listen_addresses`"
        ),
        "{f}"
    );
}

/// `port.risky-service` names `mysql`/`mariadb` in `params.services`: a database identified
/// from its own handshake is exposed whatever its port, and nothing else applies to it.
#[test]
fn mariadb_on_a_high_port_is_identified_by_its_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _mariadb = start_mariadb(dir.path(), port);
    let report = scan_timed(dir.path(), &[format!("127.0.0.1:{port}")]);
    assert_mariadb(&report, port);
    let want = BTreeSet::from([("port.risky-service".to_string(), u64::from(port))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// The same for PostgreSQL: `postgresql` is in `params.services`, so PostgreSQL identified by
/// its answer must fire on any port.
#[test]
fn postgresql_on_a_high_port_is_identified_by_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _postgres = start_postgres(dir.path(), port);
    let report = scan_timed(dir.path(), &[format!("127.0.0.1:{port}")]);
    assert_postgres(&report, port);
    let want = BTreeSet::from([("port.risky-service".to_string(), u64::from(port))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// Both servers on their own ports, scanned together: each is named by what it said (not by
/// the port table, which would give the same names with source `port`) and each is flagged.
/// Runs [`conventional_ports_inside_a_private_network`] in a copy of this test binary inside
/// `unshare --net`, where 5432 and 3306 are free whatever runs on the host.
#[test]
fn databases_on_their_conventional_ports_are_identified_and_flagged() {
    crate::support::netns::in_private_network(
        "real_databases::databases_on_their_conventional_ports_are_identified_and_flagged",
        &["--net"],
        conventional_ports_inside_a_private_network,
    );
}

/// The body of [`databases_on_their_conventional_ports_are_identified_and_flagged`], run inside the private network.
fn conventional_ports_inside_a_private_network() {
    let dir = tempfile::tempdir().unwrap();
    let _postgres = start_postgres(dir.path(), 5432);
    let _mariadb = start_mariadb(dir.path(), 3306);
    let report = scan_timed(
        dir.path(),
        &["127.0.0.1:5432".to_string(), "127.0.0.1:3306".to_string()],
    );
    assert_postgres(&report, 5432);
    assert_mariadb(&report, 3306);
    let want = BTreeSet::from([
        ("port.risky-service".to_string(), 3306),
        ("port.risky-service".to_string(), 5432),
    ]);
    assert_eq!(findings(&report), want, "{report:#}");
}
