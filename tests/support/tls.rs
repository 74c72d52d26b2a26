//! TLS fixture servers for the integration tests: the lab's rustls/raw servers (rcgen
//! certificates made relative to now), a lab DNS server for their names, `openssl s_server`
//! for what rustls/ring cannot serve (TLS 1.0/1.1, NULL/anon suites, RSA-1024, SHA-1), and
//! hostile servers (silent, garbage, oversized chain).
//!
//! Servers run on a small tokio runtime owned by the test (the [`Env`]); the `posture` binary
//! scans them from its own process.

use posture::lab::dns_server::{start_dns_server, DnsServerHandle, DnsServerOptions};
use posture::lab::tls_lab::LabServer;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

// ---------------------------------------------------------------- openssl s_server

/// `openssl s_server`, killed on drop.
pub struct OpenSsl {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the openssl CLI in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `openssl s_server` with `args` on a free loopback port and waits until it accepts.
pub fn s_server(dir: &Path, args: &[&str]) -> OpenSsl {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new("openssl")
        .arg("s_server")
        .args(["-accept", &addr.to_string(), "-naccept", "1000"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI must be installed for these tests");
    let server = OpenSsl { child, addr };
    for _ in 0..250 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("openssl s_server {args:?} did not start listening on {addr}");
}

/// An EC P-256 self-signed certificate for `cn` (cert.pem, key.pem in `dir`).
pub fn openssl_self_signed(dir: &Path, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "300",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
        ],
    );
}

/// A CA (RSA 2048, SHA-256, ca.pem/ca.key) and a leaf for `cn` with an RSA key of `bits`
/// signed with `digest` (leaf.pem/leaf.key), valid `days` days, in `dir`.
pub fn openssl_ca_and_leaf(dir: &Path, cn: &str, bits: u32, digest: &str, days: u32) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-sha256",
            "-subj",
            "/CN=posture test legacy CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{cn}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            &days.to_string(),
            &format!("-{digest}"),
            "-extfile",
            "ext.cnf",
        ],
    );
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

/// A TLS 1.2 ServerHello (ECDHE-RSA-AES128-GCM) followed by a 100 KiB Certificate message: a
/// certificate message rustls refuses (over 64 KiB), in 16 KiB records.
pub fn oversized_chain_flight() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&0xc02fu16.to_be_bytes());
    body.push(0);
    let mut msg = vec![2, 0, 0, body.len() as u8];
    msg.extend_from_slice(&body);
    let cert = vec![0x30u8; 1000];
    let mut list = Vec::new();
    for _ in 0..100 {
        list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(&cert);
    }
    msg.push(11);
    msg.extend_from_slice(&((list.len() + 3) as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&(list.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&list);
    let mut out = Vec::new();
    for part in msg.chunks(16 * 1024) {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// An SMTP server on the env's runtime that offers STARTTLS (when `offer`) and upgrades into
/// rustls with `cert`; greets like Postfix, so the banner identifies SMTP on any port.
pub fn smtp_server(env: &mut Env, cert: posture::lab::tls_lab::LabCert, offer: bool) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = env.rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let task = env.rt.spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), smtp_session(s, acceptor, offer))
                        .await;
            });
        }
    });
    env.extra.push(Box::new(AbortOnDrop(task)));
    addr
}

async fn smtp_session(
    mut s: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    offer: bool,
) -> Option<()> {
    async fn line(s: &mut TcpStream) -> Option<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while out.len() < 512 {
            if s.read(&mut b).await.ok()? == 0 {
                return None;
            }
            out.push(b[0]);
            if b[0] == b'\n' {
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
        }
        None
    }
    s.write_all(b"220 mail.lab.test ESMTP Postfix (Debian/GNU)\r\n")
        .await
        .ok()?;
    loop {
        let l = line(&mut s).await?;
        let cmd = l.trim().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            let caps: &[u8] = if offer {
                b"250-mail.lab.test\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            } else {
                b"250-mail.lab.test\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
            };
            s.write_all(caps).await.ok()?;
        } else if cmd == "STARTTLS" && offer {
            s.write_all(b"220 2.0.0 Ready to start TLS\r\n")
                .await
                .ok()?;
            let mut tls = acceptor.accept(s).await.ok()?;
            return tls.shutdown().await.ok();
        } else if cmd == "QUIT" {
            s.write_all(b"221 2.0.0 Bye\r\n").await.ok()?;
            return Some(());
        } else {
            s.write_all(b"502 5.5.2 Error: command not recognized\r\n")
                .await
                .ok()?;
        }
    }
}
