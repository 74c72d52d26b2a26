//! Loopback tests of the HTTP probe against small in-process servers (plain and tokio-rustls
//! with an rcgen certificate made at test time), and of `rules/http.toml` evaluated with CEL
//! over the facts those probes produce.

use super::*;
use crate::fact::http::HttpSubject;
use crate::fact::TargetFacts;
use std::sync::Mutex;
use std::time::Instant as StdInstant;
use tokio::net::TcpListener;

/// Small timeouts so hostile cases finish fast; the deadline still allows a 6-hop chain.
fn cfg() -> HttpProbeConfig {
    HttpProbeConfig {
        timeout: Duration::from_millis(400),
        deadline: Duration::from_millis(2_000),
        head_bytes: 64 * 1024,
        max_headers: 100,
        body_bytes: 64 * 1024,
        max_redirects: 5,
    }
}

#[derive(Debug, Clone)]
struct Seen {
    sni: Option<String>,
    request: String,
}

/// What a test server does after reading the request head.
enum Reply {
    /// Write these bytes, then close.
    Bytes(Vec<u8>),
    /// Write these bytes, then keep the connection open (ignoring `Connection: close`).
    BytesKeepOpen(Vec<u8>),
    /// Never answer.
    Silent,
    /// Write the head, then body bytes until the client goes away.
    Endless(Vec<u8>),
    /// Write one byte every 50 ms.
    Drip(Vec<u8>),
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Connections a test server accepts before it stops listening.
const SERVER_MAX_CONNECTIONS: usize = 16;
/// Request head bytes a test server reads.
const SERVER_MAX_REQUEST: usize = 16 * 1024;

async fn start<F>(tls: Option<Arc<rustls::ServerConfig>>, respond: F) -> Server
where
    F: Fn(&str) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let respond = Arc::new(respond);
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        for _ in 0..SERVER_MAX_CONNECTIONS {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen_by_server.clone();
            let respond = respond.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(tcp, None, &*respond, &seen).await,
                    Some(config) => {
                        let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                            rustls::server::Acceptor::default(),
                            tcp,
                        );
                        let Ok(start) = acceptor.await else { return };
                        let sni = start.client_hello().server_name().map(str::to_string);
                        let Ok(stream) = start.into_stream(config).await else {
                            return;
                        };
                        serve(stream, sni, &*respond, &seen).await
                    }
                }
            });
        }
    });
    Server { addr, seen }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    sni: Option<String>,
    respond: &(dyn Fn(&str) -> Reply + Send + Sync),
    seen: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while head::find_head_end(&buf).is_none() && buf.len() < SERVER_MAX_REQUEST {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let request = String::from_utf8_lossy(&buf).into_owned();
    seen.lock().unwrap().push(Seen {
        sni,
        request: request.clone(),
    });
    match respond(&request) {
        Reply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::BytesKeepOpen(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        Reply::Silent => tokio::time::sleep(Duration::from_secs(10)).await,
        Reply::Endless(head) => {
            let _ = stream.write_all(&head).await;
            let block = vec![b'a'; 4096];
            for _ in 0..100_000 {
                if stream.write_all(&block).await.is_err() {
                    break;
                }
            }
        }
        Reply::Drip(bytes) => {
            for b in bytes {
                if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A complete response with Content-Length.
fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.into_bytes()
}

fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Bytes(response(status, headers, body))
}

/// The headers of a well-configured HTTPS site.
const GOOD_HEADERS: [(&str, &str); 5] = [
    ("Server", "nginx"),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Type", "text/html"),
];

fn tls_server_config(names: &[&str]) -> Arc<rustls::ServerConfig> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    rule: Vec<RuleDef>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    title: String,
    severity: String,
    subject: String,
    when: String,
    #[serde(default)]
    params: toml::Table,
    message: String,
    remediation: String,
    help_uri: String,
    tags: Vec<String>,
}

fn pack() -> Pack {
    toml::from_str(include_str!("../../../rules/http.toml")).unwrap()
}

/// Evaluate one rule over a subject the way ARCHITECTURE.md §4 says: the subject's top-level
/// keys plus `params` as CEL variables; an evaluation error (absent fact) means no match.
fn matches(rule: &RuleDef, subject: &HttpSubject) -> Result<bool, String> {
    let vars = serde_json::to_value(subject).unwrap();
    let mut ctx = cel::Context::default();
    for (name, value) in vars.as_object().unwrap() {
        ctx.add_variable_from_value(name.clone(), cel::to_value(value).unwrap());
    }
    let params = serde_json::to_value(&rule.params).unwrap();
    ctx.add_variable_from_value("params", cel::to_value(&params).unwrap());
    let program = cel::Program::compile(&rule.when).map_err(|e| format!("{}: {e}", rule.id))?;
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("{}: not a bool: {other:?}", rule.id)),
        Err(e) => Err(format!("{}: {e}", rule.id)),
    }
}

fn subject(http: &HttpFacts) -> HttpSubject {
    HttpSubject {
        endpoint: "shop.test:443".into(),
        target: TargetFacts {
            host: "shop.test".into(),
            ip: Some("127.0.0.1".into()),
            port: Some(443),
            tags: vec![],
            owner: None,
        },
        http: http.clone(),
    }
}

/// The ids of the rules that fire on these facts.
fn fired(http: &HttpFacts) -> Vec<String> {
    let subject = subject(http);
    pack()
        .rule
        .iter()
        .filter(|r| matches(r, &subject).unwrap_or(false))
        .map(|r| r.id.clone())
        .collect()
}

#[test]
fn rule_pack_is_complete_and_evaluates_on_the_sample() {
    let pack = pack();
    let ids: Vec<&str> = pack.rule.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "http.hsts.missing",
            "http.redirect.missing",
            "http.server.version-disclosure",
            "http.headers.missing"
        ]
    );
    let severities: Vec<&str> = pack.rule.iter().map(|r| r.severity.as_str()).collect();
    assert_eq!(severities, ["medium", "medium", "low", "low"]);
    let sample = crate::fact::http::sample();
    for rule in &pack.rule {
        assert_eq!(rule.subject, "http");
        assert!(rule.tags.iter().any(|t| t == "security"), "{}", rule.id);
        assert!(rule.help_uri.starts_with("https://"), "{}", rule.id);
        assert!(!rule.title.is_empty() && !rule.message.is_empty());
        assert!(rule.remediation.len() > 100, "{}", rule.id);
        // Every condition evaluates to a bool on the fully populated sample.
        matches(rule, &sample).unwrap();
    }
}

#[test]
fn rules_on_constructed_facts() {
    // No response at all: nothing to judge.
    let none = HttpFacts {
        scheme: "https".into(),
        error: Some("connect: refused".into()),
        ..HttpFacts::default()
    };
    assert!(fired(&none).is_empty());
    // Plain HTTP page, no redirect, no headers.
    let plain = HttpFacts {
        scheme: "http".into(),
        status: 200,
        final_status: 200,
        missing_headers: vec!["content-security-policy".into()],
        ..HttpFacts::default()
    };
    assert_eq!(
        fired(&plain),
        ["http.redirect.missing", "http.headers.missing"]
    );
}

#[tokio::test]
async fn plain_redirect_to_https_same_host_sends_sni_and_host() {
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        reply("200 OK", &GOOD_HEADERS, "<html>shop</html>")
    })
    .await;
    let https_port = https.addr.port();
    let plain = start(None, move |_| {
        let location = format!("https://Shop.Test:{https_port}/");
        reply("301 Moved Permanently", &[("Location", &location)], "")
    })
    .await;

    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.error, None);
    assert_eq!(f.scheme, "http");
    assert_eq!(f.url, format!("http://shop.test:{}/", plain.addr.port()));
    assert_eq!(f.status, 301);
    assert_eq!(f.redirects.len(), 1);
    assert!(f.redirects[0].followed);
    assert_eq!(
        f.redirects[0].url,
        format!("https://shop.test:{https_port}/")
    );
    assert!(f.redirects_to_https);
    assert_eq!(f.final_url, format!("https://shop.test:{https_port}/"));
    assert_eq!(f.final_status, 200);
    assert_eq!(f.body_bytes, 17);
    // HSTS received over HTTPS in the chain counts.
    assert_eq!(f.hsts_max_age, 31_536_000);

    let plain_seen = plain.seen();
    assert_eq!(plain_seen.len(), 1);
    let req = &plain_seen[0].request;
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains(&format!("\r\nHost: shop.test:{}\r\n", plain.addr.port())),
        "{req}"
    );
    assert!(req.contains("\r\nUser-Agent: Mozilla/5.0 (compatible; posture/"));
    let tls_seen = https.seen();
    assert_eq!(tls_seen.len(), 1);
    assert_eq!(tls_seen[0].sni.as_deref(), Some("shop.test"));
    assert!(tls_seen[0]
        .request
        .contains(&format!("\r\nHost: shop.test:{https_port}\r\n")));
    // Redirects to HTTPS; header judgement is left to the HTTPS endpoint.
    assert!(fired(&f).is_empty(), "{:?}", fired(&f));
}

#[tokio::test]
async fn clean_https_site_raises_nothing() {
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        reply("200 OK", &GOOD_HEADERS, "ok")
    })
    .await;
    let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
    assert_eq!(f.error, None);
    assert_eq!(f.status, 200);
    let hsts = f.hsts.clone().unwrap();
    assert_eq!(hsts.max_age, 31_536_000);
    assert!(hsts.include_subdomains && !hsts.preload);
    assert!(f.frame_ancestors);
    assert!(f.missing_headers.is_empty());
    assert!(!f.server_version_disclosed);
    assert_eq!(f.headers["server"], "nginx");
    assert!(fired(&f).is_empty(), "{:?}", fired(&f));
}

#[tokio::test]
async fn ip_target_over_tls_sends_no_sni() {
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        reply("200 OK", &GOOD_HEADERS, "ok")
    })
    .await;
    let f = probe_http(https.addr, "127.0.0.1", true, &cfg()).await;
    assert_eq!(f.status, 200, "{:?}", f.error);
    let seen = https.seen();
    assert_eq!(seen[0].sni, None);
    assert!(seen[0]
        .request
        .contains(&format!("\r\nHost: 127.0.0.1:{}\r\n", https.addr.port())));
}

#[tokio::test]
async fn redirect_to_another_host_is_recorded_not_followed() {
    let plain = start(None, |_| {
        reply("302 Found", &[("Location", "https://www.other.test/")], "")
    })
    .await;
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert_eq!(plain.seen().len(), 1);
    assert_eq!(f.redirects.len(), 1);
    assert!(!f.redirects[0].followed);
    assert_eq!(f.redirects[0].url, "https://www.other.test/");
    assert!(!f.redirects_to_https);
    assert!(f.redirects_to_https_other_host);
    assert!(!f.redirects_truncated);
    assert_eq!(f.final_status, 302);
    // Leaving plain HTTP for HTTPS elsewhere passes the redirect rule.
    assert!(fired(&f).is_empty(), "{:?}", fired(&f));

    let plain = start(None, |_| {
        reply("302 Found", &[("Location", "http://other.test/")], "")
    })
    .await;
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert!(!f.redirects_to_https && !f.redirects_to_https_other_host);
    assert_eq!(fired(&f), ["http.redirect.missing"]);
}

#[tokio::test]
async fn redirect_loop_stops_after_the_hop_limit() {
    let plain = start(None, |_| reply("302 Found", &[("Location", "/again")], "")).await;
    let started = StdInstant::now();
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // The first request plus 5 followed hops.
    assert_eq!(plain.seen().len(), 6);
    assert_eq!(f.redirects.len(), 6);
    assert_eq!(f.redirects.iter().filter(|r| r.followed).count(), 5);
    assert!(f.redirects_truncated);
    assert_eq!(f.error, None);
    assert_eq!(f.final_status, 302);
    assert!(f.final_url.ends_with("/again"));
    assert_eq!(fired(&f), ["http.redirect.missing"]);
}

#[tokio::test]
async fn hsts_short_invalid_and_absent() {
    let cases: [(&str, Option<&str>, u64, bool); 4] = [
        ("short", Some("max-age=86400"), 86_400, true),
        ("no max-age", Some("includeSubDomains"), 0, true),
        ("absent", None, 0, true),
        (
            "exactly 180 days",
            Some("max-age=15552000"),
            15_552_000,
            false,
        ),
    ];
    for (name, sts, max_age, fires) in cases {
        let sts = sts.map(str::to_string);
        let https = start(Some(tls_server_config(&["shop.test"])), move |_| {
            let mut headers: Vec<(&str, &str)> = GOOD_HEADERS[..1].to_vec();
            headers.extend_from_slice(&GOOD_HEADERS[2..]);
            if let Some(v) = &sts {
                headers.push(("Strict-Transport-Security", v));
            }
            reply("200 OK", &headers, "ok")
        })
        .await;
        let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
        assert_eq!(f.hsts_max_age, max_age, "{name}");
        let ids = fired(&f);
        assert_eq!(
            ids.contains(&"http.hsts.missing".to_string()),
            fires,
            "{name}"
        );
        assert_eq!(ids.len(), usize::from(fires), "{name}: {ids:?}");
        if name == "no max-age" {
            assert!(f.hsts.is_none());
            assert!(f.hsts_error.as_deref().unwrap().contains("max-age"));
        }
    }
}

#[tokio::test]
async fn hsts_on_plain_http_is_ignored() {
    let plain = start(None, |_| reply("200 OK", &GOOD_HEADERS, "ok")).await;
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.status, 200);
    assert!(f.headers.contains_key("strict-transport-security"));
    assert_eq!(f.hsts, None);
    assert_eq!(f.hsts_max_age, 0);
    assert_eq!(fired(&f), ["http.redirect.missing"]);
}

#[tokio::test]
async fn version_disclosure() {
    /// (extra response headers, expected disclosures)
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );
    let cases: [Case; 4] = [
        (
            &[("Server", "nginx/1.18.0"), ("X-Powered-By", "PHP/7.4.3")],
            &["server: nginx/1.18.0", "x-powered-by: PHP/7.4.3"],
        ),
        (
            &[("Server", "Apache/2.4.41 (Ubuntu)")],
            &["server: Apache/2.4.41"],
        ),
        (&[("Server", "nginx"), ("X-Powered-By", "Express")], &[]),
        (
            &[("X-AspNet-Version", "4.0.30319")],
            &["x-aspnet-version: 4.0.30319"],
        ),
    ];
    for (headers, want) in cases {
        let mut all: Vec<(&'static str, &'static str)> = GOOD_HEADERS[1..].to_vec();
        all.extend(headers.iter().copied());
        let https = start(Some(tls_server_config(&["shop.test"])), move |_| {
            reply("200 OK", &all, "ok")
        })
        .await;
        let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
        assert_eq!(f.version_disclosures, want, "{headers:?}");
        let ids = fired(&f);
        let expected: &[&str] = if want.is_empty() {
            &[]
        } else {
            &["http.server.version-disclosure"]
        };
        assert_eq!(ids, expected, "{headers:?}");
    }
}

#[tokio::test]
async fn missing_security_headers() {
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        reply(
            "200 OK",
            &[
                ("Strict-Transport-Security", "max-age=31536000"),
                ("X-Frame-Options", "ALLOW-FROM https://a.test"),
                ("Content-Security-Policy-Report-Only", "default-src 'self'"),
            ],
            "ok",
        )
    })
    .await;
    let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
    assert_eq!(
        f.missing_headers,
        [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy"
        ]
    );
    assert_eq!(
        f.x_frame_options.as_deref(),
        Some("ALLOW-FROM https://a.test")
    );
    assert_eq!(fired(&f), ["http.headers.missing"]);

    // X-Frame-Options alone covers framing; CSP without frame-ancestors is still a CSP.
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        reply(
            "200 OK",
            &[
                ("Strict-Transport-Security", "max-age=31536000"),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("Content-Security-Policy", "default-src 'self'"),
                ("X-Content-Type-Options", "nosniff"),
            ],
            "ok",
        )
    })
    .await;
    let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
    assert!(f.missing_headers.is_empty());
    assert!(!f.frame_ancestors);
    assert!(fired(&f).is_empty());
}

#[tokio::test]
async fn chunked_body_on_a_server_that_keeps_the_connection_open() {
    let plain = start(None, |_| {
        Reply::BytesKeepOpen(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    let started = StdInstant::now();
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    // Framing ends the read, not the 400 ms read timeout (which would also set `error`).
    assert!(started.elapsed() < Duration::from_millis(1_000));
    assert_eq!(f.error, None);
    assert_eq!(f.status, 200);
    assert_eq!(f.body_bytes, 11);
    assert!(!f.body_truncated);
}

#[tokio::test]
async fn hostile_silent_server_times_out() {
    let silent = start(None, |_| Reply::Silent).await;
    let started = StdInstant::now();
    let f = probe_http(silent.addr, "shop.test", false, &cfg()).await;
    // The server would hold the connection for 10 s.
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert_eq!(f.status, 0);
    assert!(
        f.error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        f.error
    );
    assert!(fired(&f).is_empty());
}

#[tokio::test]
async fn hostile_silent_tls_server_times_out() {
    // Accepts TCP, never answers the ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let held = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(held);
    });
    let started = StdInstant::now();
    let f = probe_http(addr, "shop.test", true, &cfg()).await;
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert!(f.error.as_deref().unwrap().starts_with("TLS handshake"));
}

#[tokio::test]
async fn hostile_garbage_is_not_http() {
    let garbage = start(None, |_| {
        Reply::Bytes(b"SSH-2.0-OpenSSH_8.9\r\n\x00\xff\xfe".to_vec())
    })
    .await;
    let f = probe_http(garbage.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.status, 0);
    assert!(
        f.error.as_deref().unwrap().contains("not HTTP"),
        "{:?}",
        f.error
    );
    assert!(fired(&f).is_empty());
}

#[tokio::test]
async fn hostile_endless_body_is_capped() {
    let endless = start(None, |_| {
        Reply::Endless(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec())
    })
    .await;
    let cfg = HttpProbeConfig {
        body_bytes: 10_000,
        ..cfg()
    };
    let started = StdInstant::now();
    let f = probe_http(endless.addr, "shop.test", false, &cfg).await;
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert_eq!(f.status, 200);
    assert_eq!(f.body_bytes, 10_000);
    assert!(f.body_truncated);
    assert_eq!(f.error, None);
}

#[tokio::test]
async fn hostile_huge_header_count_keeps_the_first() {
    let many = start(None, |_| {
        let mut head = b"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\n".to_vec();
        for i in 0..10_000 {
            head.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\nbody");
        Reply::Bytes(head)
    })
    .await;
    let f = probe_http(many.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.headers.len(), 100);
    assert_eq!(f.server.as_deref(), Some("nginx/1.18.0"));
    assert!(f.headers_truncated);
    assert!(f.head_truncated);
    assert!(f.error.as_deref().unwrap().contains("longer than 65536"));

    // Under the byte cap but over the count cap: the body is still read.
    let some = start(None, |_| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..300 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 4\r\n\r\nbody");
        Reply::Bytes(head)
    })
    .await;
    let f = probe_http(some.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.headers.len(), 100);
    assert!(f.headers_truncated && !f.head_truncated);
    assert_eq!(f.error, None);
}

#[tokio::test]
async fn hostile_drip_hits_the_deadline() {
    let drip = start(None, |_| {
        Reply::Drip(
            b"HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".to_vec(),
        )
    })
    .await;
    let cfg = HttpProbeConfig {
        deadline: Duration::from_millis(500),
        ..cfg()
    };
    let started = StdInstant::now();
    let f = probe_http(drip.addr, "shop.test", false, &cfg).await;
    // Dripping the whole head would take 3 s; the 500 ms deadline ends it.
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert!(
        f.error
            .as_deref()
            .unwrap()
            .contains("probe deadline reached"),
        "{:?}",
        f.error
    );
}

#[tokio::test]
async fn refused_connection_is_an_error_fact() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let f = probe_http(addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.status, 0);
    assert!(f.error.as_deref().unwrap().starts_with("connect:"));
    assert!(fired(&f).is_empty());
}

/// Replays of heads captured from real nginx and Python servers (fixtures/http/README.md).
#[tokio::test]
async fn replayed_real_servers() {
    let hardened = include_bytes!("../../../fixtures/http/nginx-1.22.1-https-hardened-200.bin");
    let https = start(Some(tls_server_config(&["shop.test"])), |_| {
        Reply::Bytes(hardened.to_vec())
    })
    .await;
    let https_port = https.addr.port().to_string();
    let redirect = include_bytes!("../../../fixtures/http/nginx-1.22.1-redirect-301.bin");
    // Point the captured Location at the replaying HTTPS server.
    let redirect = String::from_utf8_lossy(redirect).replace("18443", &https_port);
    let plain = start(None, move |_| Reply::Bytes(redirect.clone().into_bytes())).await;
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.error, None);
    assert!(f.redirects_to_https);
    assert_eq!(f.final_status, 200);
    assert_eq!(f.hsts.as_ref().map(|h| h.preload), Some(true));
    assert_eq!(f.version_disclosures, ["server: nginx/1.22.1"]);
    assert_eq!(fired(&f), ["http.server.version-disclosure"]);

    let f = probe_http(https.addr, "shop.test", true, &cfg()).await;
    assert!(fired(&f).is_empty(), "{:?}", fired(&f));

    let python = include_bytes!("../../../fixtures/http/python-3.11-http.server-200.bin");
    let plain = start(None, |_| Reply::Bytes(python.to_vec())).await;
    let f = probe_http(plain.addr, "shop.test", false, &cfg()).await;
    assert_eq!(f.body_bytes, 3);
    assert_eq!(
        f.version_disclosures,
        ["server: SimpleHTTP/0.6", "server: Python/3.11.7"]
    );
    assert_eq!(
        fired(&f),
        [
            "http.redirect.missing",
            "http.server.version-disclosure",
            "http.headers.missing"
        ]
    );
}
