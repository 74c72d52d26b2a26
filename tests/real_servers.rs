//! Real third-party servers, configured here the way people run them: nginx (an HTTPS site with
//! a private CA, a plain-HTTP redirect, a careless plain site, and two legacy TLS sites on
//! Debian's OpenSSL), Redis with and without a password, and Postfix with STARTTLS (Debian's
//! defaults and hardened). Everything posture concludes about them must match what they are,
//! not what our own fixture servers happen to do. `scripts/test` installs nginx, redis-server
//! and postfix when missing (Postfix needs root: its daemons change to the `postfix` user).

use crate::support::tls::{ids_by_endpoint, openssl_ca_and_leaf, scan, subjects, Env};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(candidates: &[&str], package: &str) -> String {
    for c in candidates {
        if Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!("{package} is not installed: `apt-get install {package}` (scripts/test does)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    assert_eq!(report["incomplete"], serde_json::json!([]), "{report:#}");

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
