//! TLS fixture servers for the integration tests: the lab's rustls/raw servers (rcgen
//! certificates made relative to now), a lab DNS server for their names, `openssl s_server`
//! for what rustls/ring cannot serve (TLS 1.0/1.1, NULL/anon suites, RSA-1024, SHA-1; from
//! [`super::tls_shared`], which the TLS probe's unit tests share), and hostile servers (silent,
//! garbage, oversized chain).
//!
//! Servers run on a small tokio runtime owned by the test (the [`Env`]); the `posture` binary
//! scans them from its own process.

pub use super::tls_shared::{
    openssl_ca_and_leaf, openssl_self_signed, oversized_chain_flight, s_server_ca_and_leaf,
    s_server_self_signed, OpenSsl,
};
use posture::lab::dns_server::{start_dns_server, DnsServerHandle, DnsServerOptions};
use posture::lab::tls_lab::{serve_smtp_starttls, LabCert, LabServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A runtime for fixture servers, a lab DNS server for `*.lab.test`, and a temp directory.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    dns: Option<DnsServerHandle>,
    pub servers: Vec<LabServer>,
    pub extra: Vec<Box<dyn std::any::Any + Send>>,
}

impl Env {
    pub fn new() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Env {
            rt,
            dir: tempfile::tempdir().unwrap(),
            dns: None,
            servers: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Serve `lab.test` with A records `label → 127.0.0.1`; returns the resolver address.
    pub fn dns(&mut self, labels: &[&str]) -> SocketAddr {
        let mut zone = String::from(
            "$ORIGIN lab.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n",
        );
        for l in labels {
            zone.push_str(&format!("{l} IN A 127.0.0.1\n"));
        }
        self.dns_zone(&zone)
    }

    /// Serve `lab.test` from `zone`; returns the resolver address.
    pub fn dns_zone(&mut self, zone: &str) -> SocketAddr {
        let handle = self
            .rt
            .block_on(start_dns_server(
                "127.0.0.1:0".parse().unwrap(),
                &[("lab.test", zone)],
                DnsServerOptions::default(),
            ))
            .unwrap();
        let addr = handle.addr;
        self.dns = Some(handle);
        addr
    }

    /// Write `pem` to a file in the temp dir (for `--ca-file`).
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn keep(&mut self, server: LabServer) -> SocketAddr {
        let a = server.addr;
        self.servers.push(server);
        a
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        self.servers.clear();
        self.dns.take();
    }
}

// ---------------------------------------------------------------- scanning

/// Runs `posture scan -q --json <tmp> args…`; returns the exit code and the JSON report.
pub fn scan(dir: &Path, args: &[&str]) -> (i32, Value) {
    let json = dir.join(format!(
        "scan-{}.json",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let out = super::posture()
        .args(["scan", "-q", "--json"])
        .arg(&json)
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        json.exists(),
        "no JSON report (exit {code}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, super::read_json(&json))
}

/// The tls.* and http.* rule ids per endpoint (`host:port`) of a report.
pub fn ids_by_endpoint(report: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        let id = f["rule_id"].as_str().unwrap();
        if id.starts_with("tls.") || id.starts_with("http.") {
            let ep = f["endpoint"].as_str().unwrap().to_string();
            m.entry(ep).or_default().insert(id.to_string());
        }
    }
    m
}

/// The tls.* and http.* rule ids of a report (all endpoints), sorted.
pub fn tls_http_ids(report: &Value) -> Vec<String> {
    let set: BTreeSet<String> = ids_by_endpoint(report).into_values().flatten().collect();
    set.into_iter().collect()
}

/// The subjects of `kind` (`tls`, `http`, `port`) in a report.
pub fn subjects<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["subject"] == kind)
        .collect()
}

/// `(stage, endpoint)` of every incomplete entry.
pub fn incomplete(report: &Value) -> Vec<(String, String)> {
    report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["stage"].as_str().unwrap().to_string(),
                i["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- hostile and STARTTLS servers

/// A raw server on the env's runtime: answers each connection's first bytes with
/// `respond(first bytes)` (`None`: say nothing and hold the connection), then closes.
pub fn raw_server(
    env: &mut Env,
    respond: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> SocketAddr {
    let respond = std::sync::Arc::new(respond);
    let listener = env.rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let task = env.rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let n = match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                match respond(&buf[..n]) {
                    Some(bytes) => {
                        let _ = s.write_all(&bytes).await;
                        let _ = s.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            });
        }
    });
    env.extra.push(Box::new(AbortOnDrop(task)));
    addr
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An SMTP server on the env's runtime that offers STARTTLS (when `offer`) and upgrades into
/// rustls with `cert`; greets like Postfix, so the banner identifies SMTP on any port.
pub fn smtp_server(env: &mut Env, cert: LabCert, offer: bool) -> SocketAddr {
    let server = env.rt.block_on(serve_smtp_starttls(cert, offer)).unwrap();
    env.keep(server)
}
