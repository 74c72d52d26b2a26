//! The DNS world of the integration tests: the fixture zones of `fixtures/dns/` served by the
//! in-process authoritative server on loopback, as `src/probe/dns/lab_tests.rs` serves them,
//! plus the HTTPS host of clean.test's MTA-STS policy and hostile resolvers.
//!
//! | address | serves |
//! | --- | --- |
//! | 127.0.0.1:R (resolver) | every fixture zone |
//! | 127.0.0.2, 127.0.1.2 :P | clean.test, dept.clean.test, plain.test |
//! | 127.0.0.3:P | bad.test (AXFR allowed, open recursion) |
//! | 127.0.0.4:P, 127.0.1.4:P | lame.test with serials …01 and …02 |
//! | 127.0.2.4:P | nowhere.test only: lame for lame.test |
//!
//! One world serves every test of the binary (started once, on its own runtime thread).

use posture::lab::dns_server::{start_dns_server, DnsServerHandle, DnsServerOptions};
use posture::lab::tls_lab::{http_text_response, serve_https, LabPki, LabServer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEST_ZONE: &str = include_str!("../../fixtures/dns/test.zone");
const CLEAN: &str = include_str!("../../fixtures/dns/clean.test.zone");
const DEPT: &str = include_str!("../../fixtures/dns/dept.clean.test.zone");
const PLAIN: &str = include_str!("../../fixtures/dns/plain.test.zone");
const BAD: &str = include_str!("../../fixtures/dns/bad.test.zone");
const LAME: &str = include_str!("../../fixtures/dns/lame.test.zone");
const PARTNER: &str = include_str!("../../fixtures/dns/partner.test.zone");
const OTHER: &str = include_str!("../../fixtures/dns/other.test.zone");
const NOWHERE: &str = include_str!("../../fixtures/dns/nowhere.test.zone");
const POLICY: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mail.clean.test\r\nmax_age: 604800\r\n";

/// The running world; lives for the whole test binary.
pub struct DnsWorld {
    pub resolver: SocketAddr,
    pub ns_port: u16,
    /// Port of the MTA-STS policy host (`--mta-sts-port`).
    pub https_port: u16,
    /// The CA of the policy host's certificate (`--ca-file`).
    pub ca_file: PathBuf,
    /// A resolver that answers every query with garbage.
    pub garbage_resolver: SocketAddr,
    runtime: tokio::runtime::Runtime,
    _servers: Vec<DnsServerHandle>,
    _policy: LabServer,
    _dir: tempfile::TempDir,
}

impl DnsWorld {
    /// The flags that point a scan at this world.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--resolver".into(),
            self.resolver.to_string(),
            "--ns-port".into(),
            self.ns_port.to_string(),
            "--mta-sts-port".into(),
            self.https_port.to_string(),
            "--ca-file".into(),
            self.ca_file.display().to_string(),
            "--timeout-ms".into(),
            "800".into(),
        ]
    }

    /// Runs `f` on the world's runtime (to start more servers).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

/// The shared world, started on first use.
pub fn world() -> &'static DnsWorld {
    static WORLD: OnceLock<DnsWorld> = OnceLock::new();
    WORLD.get_or_init(start_world)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn start_world() -> DnsWorld {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let (servers, resolver, ns_port, policy, garbage_resolver) = runtime.block_on(async {
        let lame_v2 = LAME.replace("2024010101", "2024010102");
        let all: Vec<(&str, &str)> = vec![
            ("test", TEST_ZONE),
            ("clean.test", CLEAN),
            ("dept.clean.test", DEPT),
            ("plain.test", PLAIN),
            ("bad.test", BAD),
            ("lame.test", LAME),
            ("partner.test", PARTNER),
            ("other.test", OTHER),
            ("nowhere.test", NOWHERE),
        ];
        let resolver = start_dns_server(
            (Ipv4Addr::LOCALHOST, 0).into(),
            &all,
            DnsServerOptions::default(),
        )
        .await
        .unwrap();
        let clean: Vec<(&str, &str)> = vec![
            ("clean.test", CLEAN),
            ("dept.clean.test", DEPT),
            ("plain.test", PLAIN),
        ];
        let bad = DnsServerOptions {
            axfr_zones: vec!["bad.test".into()],
            open_recursion: true,
        };
        type Ns<'a> = (&'a str, Vec<(&'a str, &'a str)>, DnsServerOptions);
        let rest: Vec<Ns> = vec![
            ("127.0.1.2", clean.clone(), DnsServerOptions::default()),
            ("127.0.0.3", vec![("bad.test", BAD)], bad),
            (
                "127.0.0.4",
                vec![("lame.test", LAME)],
                DnsServerOptions::default(),
            ),
            (
                "127.0.1.4",
                vec![("lame.test", lame_v2.as_str())],
                DnsServerOptions::default(),
            ),
            (
                "127.0.2.4",
                vec![("nowhere.test", NOWHERE)],
                DnsServerOptions::default(),
            ),
        ];
        // Every nameserver on one port, on different loopback addresses, like port 53.
        'attempt: for _ in 0..16 {
            let first = start_dns_server((ip("127.0.0.2"), 0).into(), &clean, Default::default())
                .await
                .unwrap();
            let port = first.addr.port();
            let mut ns = vec![first];
            for (addr, zones, opts) in rest.clone() {
                match start_dns_server((ip(addr), port).into(), &zones, opts).await {
                    Ok(h) => ns.push(h),
                    Err(_) => continue 'attempt,
                }
            }
            let resolver_addr = resolver.addr;
            ns.push(resolver);
            let policy = start_policy_server(&ca_file).await;
            let garbage = start_garbage_resolver().await;
            return (ns, resolver_addr, port, policy, garbage);
        }
        panic!("could not bind the DNS world's nameservers on one port");
    });
    DnsWorld {
        resolver,
        ns_port,
        https_port: policy.addr.port(),
        ca_file,
        garbage_resolver,
        runtime,
        _servers: servers,
        _policy: policy,
        _dir: dir,
    }
}

/// An HTTPS server for `mta-sts.clean.test` (127.0.0.1) presenting a certificate of a fresh
/// lab PKI, whose root is written to `ca_file`.
async fn start_policy_server(ca_file: &std::path::Path) -> LabServer {
    let pki = LabPki::new(time::OffsetDateTime::now_utc()).unwrap();
    std::fs::write(ca_file, &pki.root.pem).unwrap();
    let cert = pki.leaf(&["mta-sts.clean.test"], -1, 90).unwrap();
    serve_https(cert, http_text_response(200, "OK", POLICY))
        .await
        .unwrap()
}

/// A resolver (UDP and TCP on one port) that answers every query with the query's id and
/// then bytes that are not a DNS message.
async fn start_garbage_resolver() -> SocketAddr {
    let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = udp.local_addr().unwrap();
    let garbage = |q: &[u8]| -> Vec<u8> {
        let mut g = q.get(..2).unwrap_or(&[0, 0]).to_vec();
        g.extend_from_slice(b"\x81\x80\xff\xff\xff\xff garbage \x00\xc0");
        g
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&garbage(&buf[..n]), from).await;
        }
    });
    if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let out = garbage(&q);
                    let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&out);
                    let _ = s.write_all(&framed).await;
                });
            }
        });
    }
    addr
}
