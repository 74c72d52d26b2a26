//! Real infrastructure services that `port.risky-service` names, run the way Debian admins run
//! them: etcd (plain HTTP API, no TLS, no auth), Apache ZooKeeper (standalone), Squid (an open
//! and a restricted forward proxy) and Redis 7 in its protected-mode, ACL and rename-command
//! variants. posture must name each one from what it says on the wire, fire
//! `port.risky-service` where the service is one of the rule's, and fire
//! `port.redis.unauthenticated` exactly when Redis runs commands for a client that has not
//! authenticated.
//!
//! Every server runs in the foreground as a child of the test, on loopback, with its
//! configuration written into a temp dir. The conventional ports (2379, 2181, 6379) are used
//! inside a private network namespace (`unshare --net`), as `real_services` does.
//!
//! Needs root and the Debian packages `etcd-server`, `zookeeper` (with a Java runtime),
//! `squid`, `redis-server` (plus `iproute2`, `util-linux`).

use crate::support::free_port;
use crate::support::servers::binary;
use crate::support::tls::{incomplete, scan, subjects};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LOCAL2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LOCAL3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

const RISKY: &str = "port.risky-service";
const REDIS_OPEN: &str = "port.redis.unauthenticated";
const ETCD_NAME: &str = "etcd key-value store";
const ZOOKEEPER_NAME: &str = "Apache ZooKeeper";
const REDIS_NAME: &str = "Redis";

/// A server process, stopped on drop: SIGTERM (etcd, ZooKeeper, Squid with
/// `shutdown_lifetime 0` and Redis all exit promptly on it), then SIGKILL.
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

impl Server {
    fn logged(&self) -> String {
        format!(
            "{} log:\n{}",
            self.what,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

/// Starts `cmd` with stdout and stderr in `dir/<what>.log` and waits (bounded, 20 s: the JVM
/// of ZooKeeper is the slowest) until every one of `listening` accepts a connection.
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

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// A temp dir the servers' unprivileged users (`proxy` for Squid) can pass through.
fn lab_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A subdirectory anyone may write to (Squid writes its log as `proxy`).
fn sub(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// Sends `request` on a new connection and reads the answer until the server closes, the
/// 64 KiB cap or 3 s of silence: what the server really says, to check the test's premise.
fn exchange(to: SocketAddr, request: &[u8]) -> Vec<u8> {
    try_exchange(to, request).unwrap_or_else(|e| panic!("{to}: {e}"))
}

/// [`exchange`], with connection and write errors returned.
fn try_exchange(to: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(5);
    while out.len() < 65536 && Instant::now() < until {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------- the servers

/// etcd with a plain-HTTP client URL and no authentication: how `etcd-server` runs out of the
/// box (`/etc/default/etcd` sets nothing else), and how a careless cluster is exposed.
fn start_etcd(dir: &Path, name: &'static str, client: u16, peer: u16) -> Server {
    let etcd = binary(&["/usr/bin/etcd"], "etcd-server");
    let client_url = format!("http://{LOCAL}:{client}");
    let peer_url = format!("http://{LOCAL}:{peer}");
    start(
        dir,
        name,
        Command::new(etcd)
            .args(["--name", "lab", "--data-dir"])
            .arg(dir.join(format!("{name}.data")))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("lab={peer_url}")]),
        &[addr(LOCAL, client)],
    )
}

/// ZooKeeper standalone, as Debian's `zookeeperd` runs it (its zoo.cfg: no authentication,
/// the default four-letter-word whitelist, which is `srvr`), minus the AdminServer (Jetty on
/// 8080).
fn start_zookeeper(dir: &Path, port: u16) -> Server {
    let java = binary(&["/usr/bin/java"], "default-jre-headless");
    let jar = binary(&["/usr/share/java/zookeeper.jar"], "zookeeper");
    let data = sub(dir, "zookeeper.data", 0o755);
    let conf = dir.join("zoo.cfg");
    std::fs::write(
        &conf,
        format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress={LOCAL}\nadmin.enableServer=false\n",
            data.display()
        ),
    )
    .unwrap();
    let server = start(
        dir,
        "zookeeper",
        Command::new(java)
            .arg("-cp")
            .arg(format!("/etc/zookeeper/conf:{jar}"))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&conf),
        &[addr(LOCAL, port)],
    );
    // The port opens before the database is loaded ("This ZooKeeper instance is not currently
    // serving requests"): wait (bounded) until `srvr` reports a version.
    let until = Instant::now() + Duration::from_secs(15);
    while !try_exchange(addr(LOCAL, port), b"srvr")
        .is_ok_and(|a| a.starts_with(b"Zookeeper version:"))
    {
        assert!(
            Instant::now() < until,
            "ZooKeeper is not serving:\n{}",
            server.logged()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// `squid -N -f CONF` on `127.0.0.1:port`, caching nothing; `open`: `http_access allow all`
/// (an open proxy, relaying for anyone), else `http_access deny all` (Debian's default ends
/// with it; this one allows no client at all).
fn start_squid(dir: &Path, name: &'static str, port: u16, open: bool) -> Server {
    let squid = binary(&["/usr/sbin/squid"], "squid");
    let home = sub(dir, name, 0o777);
    let conf = home.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "http_port {LOCAL}:{port}\npid_filename {home}/squid.pid\n\
             cache_log {home}/cache.log\naccess_log none\ncache deny all\n\
             coredump_dir {home}\ndns_nameservers 127.0.0.1\npinger_enable off\n\
             shutdown_lifetime 0 seconds\nhttp_access {}\n",
            if open { "allow all" } else { "deny all" },
            home = home.display()
        ),
    )
    .unwrap();
    start(
        dir,
        name,
        Command::new(squid).arg("-N").arg("-f").arg(&conf),
        &[addr(LOCAL, port)],
    )
}

/// `redis-server CONF` with `conf` plus no persistence, listening on `port` of `ips`.
fn start_redis(dir: &Path, name: &'static str, ips: &[Ipv4Addr], port: u16, conf: &str) -> Server {
    let redis = binary(
        &["/usr/bin/redis-server", "/usr/local/bin/redis-server"],
        "redis-server",
    );
    let bind: Vec<String> = ips.iter().map(ToString::to_string).collect();
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(
        &path,
        format!(
            "port {port}\nbind {}\nsave \"\"\nappendonly no\ndir {}\n{conf}",
            bind.join(" "),
            dir.display()
        ),
    )
    .unwrap();
    let listening: Vec<SocketAddr> = ips.iter().map(|ip| addr(*ip, port)).collect();
    start(dir, name, Command::new(redis).arg(&path), &listening)
}

/// What `squid -v` says it is (`5.7`).
fn squid_version() -> String {
    let out = Command::new(binary(&["/usr/sbin/squid"], "squid"))
        .arg("-v")
        .output()
        .unwrap();
    let first = text(&out.stdout);
    first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Squid Cache: Version "))
        .unwrap_or_else(|| panic!("squid -v: {first}"))
        .trim()
        .to_string()
}

// ---------------------------------------------------------------- scanning and reading

fn scan_lab(dir: &Path, targets: &[String]) -> Value {
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--fail-on", "none"]);
    let started = Instant::now();
    let (code, report) = scan(dir, &args);
    let took = started.elapsed();
    eprintln!("posture scan {targets:?}: {took:?}");
    assert_eq!(code, 0, "{report:#}");
    assert!(took < Duration::from_secs(10), "the scan took {took:?}");
    assert_eq!(incomplete(&report), [], "{report:#}");
    report
}

/// The one port subject of `ip:port`.
fn port_at(report: &Value, ip: Ipv4Addr, port: u16) -> Value {
    let endpoint = format!("{ip}:{port}");
    let mut found: Vec<Value> = subjects(report, "port")
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint)
        .map(|s| s["port"].clone())
        .collect();
    assert_eq!(found.len(), 1, "{endpoint}: {report:#}");
    found.pop().unwrap()
}

/// `(service, service_source)` of a port subject.
fn named(facts: &Value) -> (&str, &str) {
    (
        facts["service"].as_str().unwrap(),
        facts["service_source"].as_str().unwrap(),
    )
}

/// Every finding as `(rule id, endpoint)`.
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

/// The rule ids fired on one endpoint.
fn ids_at(report: &Value, ip: Ipv4Addr, port: u16) -> BTreeSet<String> {
    let endpoint = format!("{ip}:{port}");
    findings(report)
        .into_iter()
        .filter(|(_, e)| *e == endpoint)
        .map(|(id, _)| id)
        .collect()
}

fn ids(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(ToString::to_string).collect()
}

/// `port.risky-service` on `ip:port` says the rule's name for the service, and the service
/// and source it was identified by.
fn assert_risky(
    report: &Value,
    ip: Ipv4Addr,
    port: u16,
    (service, source): (&str, &str),
    name: &str,
) {
    let endpoint = format!("{ip}:{port}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == RISKY && f["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no {RISKY} on {endpoint}: {report:#}"));
    assert_eq!(
        f["message"],
        format!(
            "{name} is exposed on {endpoint} (port {port}/tcp, service `{service}` identified \
             by {source})."
        ),
        "{f}"
    );
}

// ---------------------------------------------------------------- etcd

/// What etcd's client port answers to posture's `GET / HTTP/1.0`: a Go 404 with etcd's own
/// CORS headers (etcd's `corsHandler` adds them to every answer), and what `/version` says.
fn assert_etcd_answers(client: SocketAddr) {
    let root = text(&exchange(client, b"GET / HTTP/1.0\r\n\r\n"));
    assert!(root.starts_with("HTTP/1.0 404 Not Found\r\n"), "{root}");
    assert!(
        root.contains("\r\nAccess-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n")
            && root.contains(
                "\r\nAccess-Control-Allow-Headers: accept, content-type, authorization\r\n"
            ),
        "{root}"
    );
    let version = text(&exchange(client, b"GET /version HTTP/1.0\r\n\r\n"));
    assert!(
        version.starts_with("HTTP/1.0 200 OK\r\n") && version.contains("{\"etcdserver\":\"3."),
        "{version}"
    );
    // No authentication: anyone who reaches the port reads and writes keys (v3 JSON gateway).
    let body = r#"{"key":"cG9zdHVyZQ==","value":"b3Blbg=="}"#;
    let put = text(&exchange(
        client,
        format!(
            "POST /v3/kv/put HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    ));
    assert!(put.starts_with("HTTP/1.0 200 OK\r\n"), "{put}");
}

/// etcd on a high port, plain HTTP, no auth: its answer to `GET /` carries etcd's CORS headers
/// (and `/version` names it), so it is an exposed etcd, like Elasticsearch, Docker and CouchDB
/// are recognised by their answers on any port; the HTTP checks for web sites do not apply to
/// its API (posture skips them for the other HTTP-speaking APIs).
#[test]
fn etcd_on_a_high_port_is_named_etcd_and_flagged() {
    let dir = lab_dir();
    let d = dir.path();
    let (client, peer) = (free_port(), free_port());
    let _etcd = start_etcd(d, "etcd", client, peer);
    assert_etcd_answers(addr(LOCAL, client));
    let report = scan_lab(d, &[format!("{LOCAL}:{client}")]);
    let facts = port_at(&report, LOCAL, client);
    assert_eq!(named(&facts), ("etcd", "probe"), "{facts}");
    assert_eq!(ids_at(&report, LOCAL, client), ids(&[RISKY]), "{report:#}");
    assert_risky(&report, LOCAL, client, ("etcd", "probe"), ETCD_NAME);
}

/// etcd on 2379: the rule fires (the port's HTTP answer is the risky API), but the service is
/// etcd, named by its answer, and the web-site checks do not apply to it.
#[test]
fn etcd_on_its_port_is_named_etcd_and_flagged() {
    crate::support::netns::in_private_network(
        "real_infra_services::etcd_on_its_port_is_named_etcd_and_flagged",
        &["--net"],
        etcd_on_2379_inside_a_private_network,
    );
}

/// The body of [`etcd_on_its_port_is_named_etcd_and_flagged`], run inside the private network.
fn etcd_on_2379_inside_a_private_network() {
    let dir = lab_dir();
    let d = dir.path();
    let _etcd = start_etcd(d, "etcd", 2379, 2380);
    assert_etcd_answers(addr(LOCAL, 2379));
    let report = scan_lab(d, &[format!("{LOCAL}:2379")]);
    let facts = port_at(&report, LOCAL, 2379);
    assert_eq!(named(&facts), ("etcd", "probe"), "{facts}");
    assert_eq!(findings(&report).len(), 1, "{report:#}");
    assert_eq!(ids_at(&report, LOCAL, 2379), ids(&[RISKY]), "{report:#}");
    assert_risky(&report, LOCAL, 2379, ("etcd", "probe"), ETCD_NAME);
}

// ---------------------------------------------------------------- ZooKeeper

/// What ZooKeeper's client port really does: hangs up on `GET ` (it reads it as a 1.2 GB
/// packet length) without a word, and answers the four-letter word `srvr` (whitelisted by
/// default since 3.5) with its version.
fn assert_zookeeper_answers(client: SocketAddr) {
    assert_eq!(exchange(client, b"GET / HTTP/1.0\r\n\r\n"), b"");
    let srvr = text(&exchange(client, b"srvr"));
    assert!(srvr.starts_with("Zookeeper version: 3."), "{srvr}");
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
}

/// ZooKeeper on a high port: an unauthenticated coordination service holding cluster
/// configuration; `srvr` names it, and the rule names it risky.
#[test]
fn zookeeper_on_a_high_port_is_named_and_flagged() {
    let dir = lab_dir();
    let d = dir.path();
    let port = free_port();
    let _zk = start_zookeeper(d, port);
    assert_zookeeper_answers(addr(LOCAL, port));
    let report = scan_lab(d, &[format!("{LOCAL}:{port}")]);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("zookeeper", "probe"), "{facts}");
    assert_eq!(ids_at(&report, LOCAL, port), ids(&[RISKY]), "{report:#}");
    assert_risky(&report, LOCAL, port, ("zookeeper", "probe"), ZOOKEEPER_NAME);
}

/// ZooKeeper on 2181: flagged, and named `zookeeper` (nmap's table calls 2181 `eforward`,
/// which is not what listens there).
#[test]
fn zookeeper_on_its_port_is_named_and_flagged() {
    crate::support::netns::in_private_network(
        "real_infra_services::zookeeper_on_its_port_is_named_and_flagged",
        &["--net"],
        zookeeper_on_2181_inside_a_private_network,
    );
}

/// The body of [`zookeeper_on_its_port_is_named_and_flagged`], run inside the private network.
fn zookeeper_on_2181_inside_a_private_network() {
    let dir = lab_dir();
    let d = dir.path();
    let _zk = start_zookeeper(d, 2181);
    assert_zookeeper_answers(addr(LOCAL, 2181));
    let report = scan_lab(d, &[format!("{LOCAL}:2181")]);
    let facts = port_at(&report, LOCAL, 2181);
    assert_eq!(named(&facts), ("zookeeper", "probe"), "{facts}");
    assert_eq!(findings(&report).len(), 1, "{report:#}");
    assert_risky(&report, LOCAL, 2181, ("zookeeper", "probe"), ZOOKEEPER_NAME);
}

// ---------------------------------------------------------------- Squid

/// A one-page origin server on loopback for the proxy to fetch from (at most `n` requests).
fn origin(n: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind((LOCAL, 0)).unwrap();
    let a = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let h = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(15);
        let mut served = 0;
        while served < n && Instant::now() < until {
            match l.accept() {
                Ok((mut s, _)) => {
                    served += 1;
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(
                        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\norigin-secret",
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (a, h)
}

/// Squid as an open proxy (`http_access allow all`) and as a closed one: both answer
/// posture's `GET /` with the same `400 ERR_INVALID_URL` page naming `squid/5.7`, so both are
/// `http` by probe with a version disclosure. Only a proxied request (an absolute URI) tells
/// them apart: the open one relays it, the closed one answers 403. posture sends no such
/// request and has no open-proxy rule, so the two get the same findings.
#[test]
fn squid_open_and_closed_proxies_are_http_with_a_version_disclosure() {
    let dir = lab_dir();
    let d = dir.path();
    let (open, closed) = (free_port(), free_port());
    let _open = start_squid(d, "squid-open", open, true);
    let _closed = start_squid(d, "squid-closed", closed, false);
    let version = squid_version();

    // The premise: the same answer to `GET /`, a different one to a proxied request.
    let (page, h) = origin(1);
    let ask = format!("GET http://{page}/ HTTP/1.0\r\n\r\n");
    let relayed = text(&exchange(addr(LOCAL, open), ask.as_bytes()));
    assert!(
        relayed.starts_with("HTTP/1.1 200 OK\r\n") && relayed.ends_with("origin-secret"),
        "{relayed}"
    );
    let refused = text(&exchange(addr(LOCAL, closed), ask.as_bytes()));
    assert!(
        refused.starts_with("HTTP/1.1 403 Forbidden\r\n")
            && refused.contains("\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n"),
        "{refused}"
    );
    h.join().unwrap();

    let report = scan_lab(d, &[format!("{LOCAL}:{open}"), format!("{LOCAL}:{closed}")]);
    let web = [
        "http.redirect.missing",
        "http.headers.missing",
        "http.server.version-disclosure",
    ];
    for port in [open, closed] {
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), ("http", "probe"), "{facts}");
        let banner = facts["banner"].as_str().unwrap();
        assert!(
            banner.starts_with("HTTP/1.1 400 Bad Request\r\n")
                && banner.contains(&format!("\r\nServer: squid/{version}\r\n"))
                && banner.contains("\r\nX-Squid-Error: ERR_INVALID_URL 0\r\n"),
            "{facts}"
        );
        assert_eq!(ids_at(&report, LOCAL, port), ids(&web), "{report:#}");
        let http: Vec<&Value> = subjects(&report, "http")
            .into_iter()
            .filter(|s| s["endpoint"] == format!("{LOCAL}:{port}"))
            .collect();
        assert_eq!(http.len(), 1, "{report:#}");
        let http = &http[0]["http"];
        assert_eq!(http["status"], 400, "{http}");
        assert_eq!(http["server"], format!("squid/{version}"), "{http}");
        assert_eq!(
            http["version_disclosures"],
            serde_json::json!([format!("server: squid/{version}")]),
            "{http}"
        );
    }
    assert_eq!(findings(&report).len(), 2 * web.len(), "{report:#}");
}

// ---------------------------------------------------------------- Redis

/// What a client that has not authenticated can do: `ECHO`, then `DBSIZE` (a keyspace read).
fn anonymous_answers(to: SocketAddr) -> String {
    text(&exchange(to, b"ECHO posture\r\nDBSIZE\r\nQUIT\r\n"))
}

/// Redis 7 as admins configure it, on high ports, scanned together:
/// * protected mode on, no password, bound to 127.0.0.1 and 127.0.0.2: protected mode only
///   refuses clients from outside 127.0.0.0/8 and ::1 (Redis's `connIsLocal`), so from either
///   loopback address commands run without authentication (`-DENIED` cannot be seen here);
/// * ACL `user default off` and a password user: `-NOAUTH`;
/// * the default user on without a password but with no commands (`-@all`): `-NOPERM`;
/// * no password, CONFIG/FLUSHALL/DEBUG renamed away (the usual hardening): still open;
/// * a password, PING renamed away: `-ERR unknown command` to PING, locked.
///
/// `port.redis.unauthenticated` fires exactly on the servers that run commands for anyone.
#[test]
fn redis_protected_mode_acl_and_renamed_commands_are_judged_by_what_runs() {
    let dir = lab_dir();
    let d = dir.path();
    let protected = free_port();
    let acl_off = free_port();
    let acl_noperm = free_port();
    let renamed_open = free_port();
    let renamed_locked = free_port();
    let _servers = [
        start_redis(
            d,
            "redis-protected",
            &[LOCAL, LOCAL2],
            protected,
            "protected-mode yes\n",
        ),
        start_redis(
            d,
            "redis-acl-off",
            &[LOCAL],
            acl_off,
            "user default off\nuser app on >app-secret ~* &* +@all\n",
        ),
        start_redis(
            d,
            "redis-acl-noperm",
            &[LOCAL],
            acl_noperm,
            "user default on nopass ~* -@all\n",
        ),
        start_redis(
            d,
            "redis-renamed-open",
            &[LOCAL],
            renamed_open,
            "protected-mode no\nrename-command CONFIG \"\"\nrename-command FLUSHALL \"\"\n\
             rename-command DEBUG \"\"\n",
        ),
        start_redis(
            d,
            "redis-renamed-locked",
            &[LOCAL],
            renamed_locked,
            "requirepass s3cret-test\nrename-command PING \"\"\n",
        ),
    ];
    // The premise, from each server's own answers to a client that did not authenticate.
    let open_answer = "$7\r\nposture\r\n:0\r\n+OK\r\n";
    assert_eq!(anonymous_answers(addr(LOCAL, protected)), open_answer);
    assert_eq!(anonymous_answers(addr(LOCAL2, protected)), open_answer);
    assert_eq!(anonymous_answers(addr(LOCAL, renamed_open)), open_answer);
    let noauth = anonymous_answers(addr(LOCAL, acl_off));
    assert!(noauth.starts_with("-NOAUTH "), "{noauth}");
    let noperm = anonymous_answers(addr(LOCAL, acl_noperm));
    assert!(noperm.starts_with("-NOPERM "), "{noperm}");
    let locked = anonymous_answers(addr(LOCAL, renamed_locked));
    assert!(locked.starts_with("-NOAUTH "), "{locked}");

    let endpoints = [
        (LOCAL, protected),
        (LOCAL2, protected),
        (LOCAL, acl_off),
        (LOCAL, acl_noperm),
        (LOCAL, renamed_open),
        (LOCAL, renamed_locked),
    ];
    let targets: Vec<String> = endpoints.iter().map(|(i, p)| format!("{i}:{p}")).collect();
    let report = scan_lab(d, &targets);
    let arity = "-ERR wrong number of arguments for 'get' command\r\n";
    let expect = [
        (LOCAL, protected, "+PONG\r\n", true),
        (LOCAL2, protected, "+PONG\r\n", true),
        (
            LOCAL,
            acl_off,
            "-NOAUTH Authentication required.\r\n",
            false,
        ),
        (
            LOCAL,
            acl_noperm,
            "-NOPERM this user has no permissions to run the 'ping' command\r\n",
            false,
        ),
        (LOCAL, renamed_open, "+PONG\r\n", true),
        (
            LOCAL,
            renamed_locked,
            "-ERR unknown command 'PING', with args beginning with: \r\n",
            false,
        ),
    ];
    for (ip, port, ping, open) in expect {
        let facts = port_at(&report, ip, port);
        assert_eq!(named(&facts), ("redis", "probe"), "{ip}:{port}: {facts}");
        assert_eq!(facts["banner"], format!("{arity}{ping}"), "{facts}");
        let want = if open {
            ids(&[RISKY, REDIS_OPEN])
        } else {
            ids(&[RISKY])
        };
        assert_eq!(ids_at(&report, ip, port), want, "{ip}:{port}: {report:#}");
        assert_risky(&report, ip, port, ("redis", "probe"), REDIS_NAME);
    }
    assert_eq!(findings(&report).len(), 6 + 3, "{report:#}");
}

/// Redis on 6379, where posture's nudge is `PING` itself: the password-only server says
/// `-NOAUTH`, the open one (protected mode, reached from loopback) `+PONG`; both are Redis by
/// their answers and only the open one is unauthenticated.
#[test]
fn redis_on_its_port_is_judged_by_its_ping() {
    crate::support::netns::in_private_network(
        "real_infra_services::redis_on_its_port_is_judged_by_its_ping",
        &["--net"],
        redis_on_6379_inside_a_private_network,
    );
}

/// The body of [`redis_on_its_port_is_judged_by_its_ping`], run inside the private network.
fn redis_on_6379_inside_a_private_network() {
    let dir = lab_dir();
    let d = dir.path();
    let _servers = [
        start_redis(
            d,
            "redis-acl-off",
            &[LOCAL],
            6379,
            "user default off\nuser app on >app-secret ~* &* +@all\n",
        ),
        start_redis(
            d,
            "redis-protected",
            &[LOCAL3],
            6379,
            "protected-mode yes\n",
        ),
    ];
    let report = scan_lab(d, &[format!("{LOCAL}:6379"), format!("{LOCAL3}:6379")]);
    let locked = port_at(&report, LOCAL, 6379);
    assert_eq!(named(&locked), ("redis", "probe"), "{locked}");
    assert_eq!(locked["banner"], "-NOAUTH Authentication required.\r\n");
    assert_eq!(ids_at(&report, LOCAL, 6379), ids(&[RISKY]), "{report:#}");
    let open = port_at(&report, LOCAL3, 6379);
    assert_eq!(named(&open), ("redis", "probe"), "{open}");
    assert_eq!(open["banner"], "+PONG\r\n");
    assert_eq!(
        ids_at(&report, LOCAL3, 6379),
        ids(&[RISKY, REDIS_OPEN]),
        "{report:#}"
    );
    assert_risky(&report, LOCAL, 6379, ("redis", "probe"), REDIS_NAME);
    assert_risky(&report, LOCAL3, 6379, ("redis", "probe"), REDIS_NAME);
    assert_eq!(findings(&report).len(), 3, "{report:#}");
}

/// Redis on 6379 whose default user may run nothing: `PING` is answered `-NOPERM …`, a RESP
/// error only Redis sends (ACLs, Redis 6+), so the service is named by its answer, not
/// guessed from the port.
#[test]
fn redis_refusing_ping_by_acl_on_its_port_is_named_by_its_answer() {
    crate::support::netns::in_private_network(
        "real_infra_services::redis_refusing_ping_by_acl_on_its_port_is_named_by_its_answer",
        &["--net"],
        redis_noperm_on_6379_inside_a_private_network,
    );
}

/// The body of [`redis_refusing_ping_by_acl_on_its_port_is_named_by_its_answer`], run inside the private network.
fn redis_noperm_on_6379_inside_a_private_network() {
    let dir = lab_dir();
    let d = dir.path();
    let _redis = start_redis(
        d,
        "redis-acl-noperm",
        &[LOCAL],
        6379,
        "user default on nopass ~* -@all\n",
    );
    let report = scan_lab(d, &[format!("{LOCAL}:6379")]);
    let facts = port_at(&report, LOCAL, 6379);
    assert_eq!(
        facts["banner"],
        "-NOPERM this user has no permissions to run the 'ping' command\r\n"
    );
    assert_eq!(named(&facts), ("redis", "probe"), "{facts}");
    assert_eq!(ids_at(&report, LOCAL, 6379), ids(&[RISKY]), "{report:#}");
    assert_risky(&report, LOCAL, 6379, ("redis", "probe"), REDIS_NAME);
}
