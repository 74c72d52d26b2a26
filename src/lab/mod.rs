//! The built-in demo lab (`posture demo`): deliberately misconfigured services on loopback,
//! scanned by the real engine with the real rules, reported in ./posture-report/.
//!
//! Nothing here is simulated on the scanner's side: the lab only provides servers; the scan is
//! exactly what `posture scan` does against them.

pub mod dns_server;
pub mod services;

use crate::cli::{build_plan, exit, DemoArgs, Format, ScanArgs};
use services::{start, Kind, LabService};
use std::net::SocketAddr;

/// The services the lab runs, in the order the demo lists them.
pub const LAB_SERVICES: [Kind; 9] = [
    Kind::Ssh,
    Kind::Ftp,
    Kind::Telnet,
    Kind::Smtp,
    Kind::Redis,
    Kind::Mysql,
    Kind::Vnc,
    Kind::Memcached,
    Kind::Http,
];

/// A running lab: every service stops when this is dropped.
pub struct Lab {
    pub services: Vec<LabService>,
}

impl Lab {
    /// Starts every lab service on 127.0.0.1 with kernel-chosen ports.
    pub async fn start() -> std::io::Result<Lab> {
        let bind: SocketAddr = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
        let mut services = Vec::new();
        for kind in LAB_SERVICES {
            services.push(start(kind, bind).await?);
        }
        Ok(Lab { services })
    }

    /// The lab's ports as a `--ports` list.
    pub fn ports(&self) -> String {
        self.services
            .iter()
            .map(|s| s.addr.port().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `posture demo`: start the lab, scan it, write the reports, print where they are.
pub fn run_demo(args: &DemoArgs, quiet: bool) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture demo: cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    runtime.block_on(demo(args, quiet))
}

async fn demo(args: &DemoArgs, quiet: bool) -> u8 {
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("posture demo: cannot create {}: {e}", args.out.display());
        return exit::USAGE;
    }
    let lab = match Lab::start().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("posture demo: cannot start the lab on 127.0.0.1: {e}");
            return exit::USAGE;
        }
    };
    if !quiet {
        eprintln!("posture demo: lab of deliberately misconfigured services on loopback:");
        for s in &lab.services {
            eprintln!("  {:<10} {}", s.kind.name(), s.addr);
        }
        eprintln!();
    }
    let sarif = args.out.join("posture.sarif");
    let json = args.out.join("posture.json");
    let scan = ScanArgs {
        targets: vec!["127.0.0.1".into()],
        targets_file: None,
        config: None,
        exclude: vec![],
        exclude_file: None,
        ports: Some(lab.ports()),
        checks: vec![],
        tls_ports: None,
        max_hosts: None,
        list_targets: false,
        resolver: None,
        ns_port: None,
        ca_file: None,
        concurrency: None,
        host_concurrency: None,
        rate: None,
        timeout_ms: Some(1000),
        endpoint_timeout_ms: None,
        rule_sources: crate::cli::RuleSourceArgs {
            rules: vec![],
            no_builtin_rules: false,
        },
        only_rules: vec![],
        skip_rules: vec![],
        tags: vec![],
        sarif: Some(sarif.clone()),
        sarif_category: Some("posture/demo/".into()),
        json: Some(json.clone()),
        format: Format::Text,
        fail_on: Some("none".into()),
        allow_incomplete: true,
        shard: None,
        shards: None,
    };
    let (plan, outputs) = match build_plan(&scan) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let code = crate::cli::scan_and_report(plan, outputs, quiet).await;
    drop(lab);
    if code == exit::USAGE {
        return code;
    }
    if !quiet {
        eprintln!();
        eprintln!("posture demo: reports written to {}/", args.out.display());
        eprintln!("  {}", sarif.display());
        eprintln!("  {}", json.display());
    }
    exit::OK
}
