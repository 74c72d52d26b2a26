//! The DNS world of the tests (not of `posture demo`): the fixture zones of `fixtures/dns/`
//! served by the in-process server ([`super::dns_server`]) on loopback, plus the HTTPS host of
//! clean.test's MTA-STS policy; and hostile DNS servers ([`serve_raw_dns`]). The DNS probe's
//! unit tests (`src/probe/dns/lab_tests.rs`) and the integration tests (`tests/support/dns.rs`)
//! both use them.
//!
//! | address | serves |
//! | --- | --- |
//! | 127.0.0.1:R (resolver) | every fixture zone |
//! | 127.0.0.2, 127.0.1.2 :P | clean.test, dept.clean.test, plain.test |
//! | 127.0.0.3:P | bad.test (AXFR allowed, open recursion) |
//! | 127.0.0.4:P, 127.0.1.4:P | lame.test with serials …01 and …02 |
//! | 127.0.2.4:P | nowhere.test only: lame for lame.test |
//! | 127.0.0.1:H (HTTPS) | the MTA-STS policy of clean.test, certificate of a fresh lab PKI |
//!
//! The zone files are test data, not part of the package: [`FixtureDns::start`] reads them from
//! the directory it is given (the source tree's `fixtures/dns/`).

use super::dns_server::{
    start_dns_server, start_dns_servers_on_one_port, DnsServerHandle, DnsServerOptions,
    DnsServerSpec,
};
use super::tls_lab::{http_text_response, serve_https, LabCa, LabPki, LabServer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The fixture zones (origins); each is the file `<origin>.zone`.
pub const FIXTURE_ZONES: [&str; 9] = [
    "test",
    "clean.test",
    "dept.clean.test",
    "plain.test",
    "bad.test",
    "lame.test",
    "partner.test",
    "other.test",
    "nowhere.test",
];

/// The serial of lame.test at 127.0.0.4; the copy at 127.0.1.4 has the next one.
const LAME_SERIAL: &str = "2024010101";
const LAME_SERIAL_NEXT: &str = "2024010102";
/// Attempts at finding one port free on every nameserver address.
const BIND_ATTEMPTS: usize = 16;
const POLICY_HOST: &str = "mta-sts.clean.test";
const POLICY: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mail.clean.test\r\nmax_age: 604800\r\n";

/// Every fixture zone as (origin, text), read from `dir`.
pub fn fixture_zones(dir: &Path) -> io::Result<Vec<(String, String)>> {
    FIXTURE_ZONES
        .iter()
        .map(|origin| {
            let path = dir.join(format!("{origin}.zone"));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            Ok((origin.to_string(), text))
        })
        .collect()
}

/// The running world: every server stops when this is dropped.
pub struct FixtureDns {
    /// Answers for every fixture zone (`--resolver`).
    pub resolver: SocketAddr,
    /// The port of every nameserver (`--ns-port`).
    pub ns_port: u16,
    /// The port of the MTA-STS policy host (`--mta-sts-port`).
    pub https_port: u16,
    /// The root that issued the policy host's certificate (to trust: `--ca-file`).
    pub ca: LabCa,
    _servers: Vec<DnsServerHandle>,
    _policy: LabServer,
}

impl FixtureDns {
    /// Starts the world with the zones of `zone_dir` (see the module docs).
    pub async fn start(zone_dir: &Path) -> io::Result<FixtureDns> {
        let zones = fixture_zones(zone_dir)?;
        let pick = |origins: &[&str]| -> Vec<(String, String)> {
            zones
                .iter()
                .filter(|(z, _)| origins.contains(&z.as_str()))
                .cloned()
                .collect()
        };
        let all: Vec<(&str, &str)> = zones
            .iter()
            .map(|(z, t)| (z.as_str(), t.as_str()))
            .collect();
        let resolver = start_dns_server(
            (Ipv4Addr::LOCALHOST, 0).into(),
            &all,
            DnsServerOptions::default(),
        )
        .await?;
        let clean = pick(&["clean.test", "dept.clean.test", "plain.test"]);
        let lame = pick(&["lame.test"]);
        let lame_next: Vec<(String, String)> = lame
            .iter()
            .map(|(z, t)| (z.clone(), t.replace(LAME_SERIAL, LAME_SERIAL_NEXT)))
            .collect();
        let open = DnsServerOptions {
            axfr_zones: vec!["bad.test".into()],
            open_recursion: true,
        };
        let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        let plan: Vec<DnsServerSpec> = vec![
            (ip(127, 0, 0, 2), clean.clone(), DnsServerOptions::default()),
            (ip(127, 0, 1, 2), clean, DnsServerOptions::default()),
            (ip(127, 0, 0, 3), pick(&["bad.test"]), open),
            (ip(127, 0, 0, 4), lame, DnsServerOptions::default()),
            (ip(127, 0, 1, 4), lame_next, DnsServerOptions::default()),
            (
                ip(127, 0, 2, 4),
                pick(&["nowhere.test"]),
                DnsServerOptions::default(),
            ),
        ];
        let mut servers = start_dns_servers_on_one_port(&plan, BIND_ATTEMPTS).await?;
        let ns_port = servers[0].addr.port();
        let resolver_addr = resolver.addr;
        servers.push(resolver);
        let pki = LabPki::new(OffsetDateTime::now_utc())?;
        let policy = serve_https(
            pki.leaf(&[POLICY_HOST], -1, 90)?,
            http_text_response(200, "OK", POLICY),
        )
        .await?;
        Ok(FixtureDns {
            resolver: resolver_addr,
            ns_port,
            https_port: policy.addr.port(),
            ca: pki.root,
            _servers: servers,
            _policy: policy,
        })
    }
}

// ---------------------------------------------------------------- hostile servers

/// A hostile DNS server of the tests; stops when dropped (a TCP connection it holds ends by
/// itself).
pub struct RawDnsServer {
    pub addr: SocketAddr,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for RawDnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A UDP + TCP responder on 127.0.0.1 (one port) answering each query with `reply(query)`,
/// or not at all for `None`. A TCP connection is held open afterwards, so a silent server is
/// ended by the client's timeout.
pub async fn serve_raw_dns(
    reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> io::Result<RawDnsServer> {
    let reply = Arc::new(reply);
    // The UDP port the kernel picks may be a TCP port in use (a connection of a concurrent
    // test): pick again, a bounded number of times.
    let mut attempt = 0;
    let (udp, addr, tcp) = loop {
        attempt += 1;
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, addr, tcp),
            Err(e) if attempt >= BIND_ATTEMPTS => return Err(e),
            Err(_) => continue,
        }
    };
    let r = reply.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Some(out) = r(&buf[..n]) {
                let _ = udp.send_to(&out, from).await;
            }
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let r = reply.clone();
            tokio::spawn(async move {
                let Some(q) = read_tcp_message(&mut s).await else {
                    return;
                };
                if let Some(out) = r(&q) {
                    let _ = write_tcp_message(&mut s, &out).await;
                }
                tokio::time::sleep(RAW_HOLD).await;
            });
        }
    });
    Ok(RawDnsServer {
        addr,
        tasks: [udp_task, tcp_task],
    })
}

/// How long [`serve_raw_dns`] holds a TCP connection after its answer.
const RAW_HOLD: Duration = Duration::from_secs(30);

/// A reply that is not DNS: the query's id, then garbage (`None` for a query under 2 bytes).
pub fn garbage_reply(query: &[u8]) -> Option<Vec<u8>> {
    let mut g = query.get(..2)?.to_vec();
    g.extend_from_slice(b"\x81\x80\xff\xff\xff\xff garbage \x00\xc0");
    Some(g)
}

/// Reads one DNS message framed for TCP (2-byte length first).
pub async fn read_tcp_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.ok()?;
    let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut m).await.ok()?;
    Some(m)
}

/// Writes `m` framed for TCP (2-byte length first).
pub async fn write_tcp_message(s: &mut TcpStream, m: &[u8]) -> io::Result<()> {
    let mut framed = (m.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(m);
    s.write_all(&framed).await
}
