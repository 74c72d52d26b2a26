//! Real third-party servers, configured here the way people run them: nginx (an HTTPS site with
//! a private CA, a plain-HTTP redirect, a careless plain site, and two legacy TLS sites on
//! Debian's OpenSSL) and Redis with and without a password.
//! Everything posture concludes about them must match what they are, not what our own fixture
//! servers happen to do. `scripts/test` installs nginx and redis-server when missing.

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
    let port = subjects(&report, "port")
        .into_iter()
        .find(|s| s["port"]["number"] == redis)
        .expect("the redis port")
        .clone();
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
    let locked = subjects(&report, "port")
        .into_iter()
        .find(|s| s["port"]["number"] == redis_auth)
        .expect("the locked redis port")
        .clone();
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
