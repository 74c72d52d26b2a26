//! The DNS world of the integration tests: the fixture world of the library
//! ([`posture::lab::dns_fixtures`]: the zones of `fixtures/dns/` on loopback nameservers and
//! the HTTPS host of clean.test's MTA-STS policy), which the DNS probe's unit tests start too,
//! plus a hostile resolver.
//!
//! One world serves every test of the binary (started once, on its own runtime thread).

use posture::lab::dns_fixtures::{garbage_reply, serve_raw_dns, FixtureDns, RawDnsServer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    _fixture: FixtureDns,
    _garbage: RawDnsServer,
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

fn start_world() -> DnsWorld {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let zone_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dns");
    let fixture = runtime.block_on(FixtureDns::start(&zone_dir)).unwrap();
    let garbage = runtime.block_on(serve_raw_dns(garbage_reply)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &fixture.ca.pem).unwrap();
    DnsWorld {
        resolver: fixture.resolver,
        ns_port: fixture.ns_port,
        https_port: fixture.https_port,
        ca_file,
        garbage_resolver: garbage.addr,
        runtime,
        _fixture: fixture,
        _garbage: garbage,
        _dir: dir,
    }
}
