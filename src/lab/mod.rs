//! The built-in demo lab (`posture demo`): deliberately misconfigured services on loopback,
//! scanned by the real engine with the real rules, reported in ./posture-report/.
//!
//! Nothing here is simulated on the scanner's side: the lab only provides servers; the scan is
//! exactly what `posture scan` does against them.

pub mod dns_fixtures;
pub mod dns_lab;
pub mod dns_server;
pub mod services;
pub mod tls_lab;

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
    match run_lab_scan(args, quiet).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("posture demo: {e}");
            exit::USAGE
        }
    }
}

/// The inventory the demo scans, written as a real posture.toml next to the reports: every
/// lab service as a `[[target]]`, every lab zone as a `[[domain]]`. SARIF results point at
/// its lines, exactly as they would for a user's inventory.
fn demo_inventory(lab: &Lab, tls: &tls_lab::TlsLab, dns: &dns_lab::DnsLab) -> String {
    let mut t = String::from(
        "# Written by `posture demo`: the inventory of the lab it scans (loopback only).\n\
         [scan]\n",
    );
    t.push_str(&format!("resolver = \"{}\"\n", dns.resolver));
    t.push_str(&format!("ns_port = {}\n", dns.ns_port));
    t.push_str("ca_file = \"lab-ca.pem\"\ntimeout_ms = 1000\nfail_on = \"none\"\n");
    t.push_str("allow_incomplete = true\nsarif_category = \"posture/demo/\"\n");
    for s in &lab.services {
        t.push_str(&format!(
            "\n[[target]]   # {}\nhost = \"127.0.0.1:{}\"\ntags = [\"lab\", \"exposure\"]\nowner = \"infra-team\"\n",
            s.kind.name(),
            s.addr.port()
        ));
    }
    for c in &tls.cases {
        t.push_str(&format!(
            "\n[[target]]   # {}\nhost = \"{}\"\ntags = [\"lab\", \"web\"]\nowner = \"web-team\"\n",
            c.description.replace('\n', " "),
            c.url
        ));
    }
    for d in &dns.domains {
        let tags = if d.starts_with("shop.") {
            "[\"lab\", \"mail\"]"
        } else {
            "[\"lab\"]"
        };
        t.push_str(&format!(
            "\n[[domain]]\nname = \"{d}\"\ntags = {tags}\nowner = \"dns-team\"\n"
        ));
    }
    t
}

async fn run_lab_scan(args: &DemoArgs, quiet: bool) -> Result<u8, String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let lab = Lab::start()
        .await
        .map_err(|e| format!("cannot start the lab services on 127.0.0.1: {e}"))?;
    let tls = tls_lab::start_tls_lab(time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| format!("cannot start the TLS lab on 127.0.0.1: {e}"))?;
    let dns = dns_lab::start_dns_lab(&tls.names)
        .await
        .map_err(|e| format!("cannot start the lab DNS servers on 127.0.77.x: {e}"))?;
    let ca_file = args.out.join("lab-ca.pem");
    crate::report::atomic::write_atomic(&ca_file, tls.ca_pem.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", ca_file.display()))?;
    let config = args.out.join("posture.toml");
    crate::report::atomic::write_atomic(&config, demo_inventory(&lab, &tls, &dns).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    if !quiet {
        eprintln!("posture demo: a lab of deliberately misconfigured services on loopback:");
        for s in &lab.services {
            eprintln!("  {:<18} 127.0.0.1:{}", s.kind.name(), s.addr.port());
        }
        for c in &tls.cases {
            eprintln!("  {:<18} {:<44} {}", c.name, c.url, c.description);
        }
        for d in &dns.domains {
            eprintln!(
                "  {:<18} {:<44} served by the lab DNS at {}",
                "zone", d, dns.resolver
            );
        }
        eprintln!("  inventory: {}", config.display());
        eprintln!();
    }
    let sarif = args.out.join("posture.sarif");
    let json = args.out.join("posture.json");
    let scan = ScanArgs {
        targets: vec![],
        targets_file: None,
        config: Some(config.clone()),
        exclude: vec![],
        exclude_file: None,
        ports: None,
        checks: vec![],
        tls_ports: None,
        max_hosts: None,
        list_targets: false,
        resolver: None,
        ns_port: None,
        subdomains: None,
        mta_sts_port: None,
        ca_file: None,
        concurrency: None,
        host_concurrency: None,
        rate: None,
        timeout_ms: None,
        endpoint_timeout_ms: None,
        rule_sources: crate::cli::RuleSourceArgs {
            rules: vec![],
            no_builtin_rules: false,
        },
        only_rules: vec![],
        skip_rules: vec![],
        tags: vec![],
        sarif: Some(sarif.clone()),
        sarif_category: None,
        json: Some(json.clone()),
        format: Format::Text,
        fail_on: None,
        allow_incomplete: false,
        reports: crate::cli::ReportFileArgs {
            html: Some(args.out.join("posture.html")),
            markdown: Some(args.out.join("posture.md")),
            ..Default::default()
        },
        shard: None,
        shards: None,
    };
    let (plan, outputs) = build_plan(&scan).map_err(|e| e.to_string())?;
    let code = crate::cli::scan_and_report(plan, outputs, quiet).await;
    drop(lab);
    drop(tls);
    drop(dns);
    if code == exit::USAGE {
        return Ok(code);
    }
    if !quiet {
        eprintln!();
        eprintln!("posture demo: reports written to {}/", args.out.display());
        eprintln!("  {}", args.out.join("posture.html").display());
        eprintln!("  {}", args.out.join("posture.md").display());
        eprintln!("  {}", sarif.display());
        eprintln!("  {}", json.display());
    }
    Ok(exit::OK)
}
