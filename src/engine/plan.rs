//! The validated scan plan: everything the engine needs, nothing raw.
//!
//! CLI flags and posture.toml are merged and validated into a [`ScanPlan`] by `cli`; the engine
//! never sees a raw string. [`prepare`] then resolves names, applies exclusions and the host
//! cap, and yields the [`Prepared`] work list (lazy: CIDRs stay address blocks).

use crate::config::{DomainSpec, Suppression};
use crate::engine::limits::Limits;
use crate::engine::shard::Shard;
use crate::rule::RuleSet;
use crate::target::expand::{count_hosts, AddrBlock, Excludes};
use crate::target::resolve::{build_resolver, resolve_all, Resolved};
use crate::target::{display_host_port, Host, Origin, TargetSpec};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Which probe families run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    pub ports: bool,
    pub tls: bool,
    pub http: bool,
    pub dns: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            ports: true,
            tls: true,
            http: true,
            dns: true,
        }
    }
}

impl Checks {
    pub fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.ports, "ports"),
            (self.tls, "tls"),
            (self.http, "http"),
            (self.dns, "dns"),
        ] {
            if on {
                v.push(name.to_string());
            }
        }
        v
    }
}

/// Everything one scan needs, validated.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub targets: Vec<TargetSpec>,
    pub domains: Vec<DomainSpec>,
    pub excludes: Excludes,
    /// Ports scanned on targets without an explicit port.
    pub ports: Arc<[u16]>,
    /// `--ports` as written (for the report's scope).
    pub ports_text: String,
    /// True when `--ports` was given on the command line: it then applies to every target,
    /// `host:port` and inventory targets with their own `ports` included (see
    /// [`ScanPlan::ports_for`]).
    pub ports_explicit: bool,
    /// Extra ports on which TLS is attempted (`--tls-ports`).
    pub tls_ports: Arc<[u16]>,
    pub checks: Checks,
    pub limits: Limits,
    pub resolver: Option<SocketAddr>,
    /// Port for queries sent straight to a zone's nameservers (tests, the demo lab).
    pub ns_port: u16,
    /// Extra trust anchors for TLS (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Trust store (Mozilla roots + `--ca-file`) and the scan's "now", loaded once.
    pub tls: Arc<crate::engine::endpoint::TlsScanContext>,
    pub rules: Arc<RuleSet>,
    pub suppressions: Vec<Suppression>,
    pub automation_id: String,
    pub config_file: Option<String>,
    /// `config_file` as SARIF locations show it ([`repo_relative`]), worked out once: it
    /// reads the working directory, and every finding on an inventory target needs it.
    pub config_uri: Option<String>,
    /// Names that get the name checks (`--subdomains FILE`), validated.
    pub subdomains: Vec<String>,
    /// Port of the MTA-STS policy host (443; the tests and the demo lab move it).
    pub mta_sts_port: u16,
    /// `--shard K/N`: this run scans only the endpoints (and domains) shard K owns
    /// ([`crate::engine::shard`]). `domains` is already filtered by the CLI.
    pub shard: Option<Shard>,
}

/// A group of endpoints sharing one address block and one port list.
#[derive(Debug, Clone)]
pub struct WorkGroup {
    /// Index into `ScanPlan::targets`.
    pub target: usize,
    /// For names: the name (all addresses share it). For IPs and CIDRs: `None` (each
    /// address is its own host).
    pub name: Option<Arc<str>>,
    pub addrs: AddrList,
    pub ports: Arc<[u16]>,
    /// For IP and CIDR groups of a sharded plan: the shard whose `(address, port)` items the
    /// sweep keeps (the rest are skipped without a connect). Name groups are sharded by
    /// `(name, port)` in [`prepare`] already, so this is `None` for them.
    pub shard: Option<Shard>,
}

/// The addresses of a group: a lazy block (IP, CIDR) or a short resolved list (name).
#[derive(Debug, Clone)]
pub enum AddrList {
    Block(AddrBlock),
    List(Arc<[IpAddr]>),
}

impl AddrList {
    pub fn len(&self) -> u64 {
        match self {
            AddrList::Block(b) => b.count,
            AddrList::List(l) => l.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn nth(&self, i: u64) -> Option<IpAddr> {
        match self {
            AddrList::Block(b) => b.nth(i),
            AddrList::List(l) => usize::try_from(i).ok().and_then(|i| l.get(i).copied()),
        }
    }
}

/// The work list after resolution: groups to sweep and names that could not be resolved.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub groups: Vec<WorkGroup>,
    /// (name as given, reason) for names that did not resolve, or whose addresses were cut to
    /// `ips_per_name` (stage `resolve` of the incomplete list).
    pub unresolved: Vec<(String, String)>,
    /// Addresses that will be scanned (exclusions subtracted).
    pub hosts: u64,
    /// Endpoints (address × port) that will be swept. With a shard, IP and CIDR groups count
    /// their expected share (total / N, rounded up): the exact count is only known by hashing
    /// every item, which is the sweep's job.
    pub endpoints: u64,
}

/// Why a plan cannot be scanned (exit 2: nothing was scanned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the scope has {hosts} addresses, more than the limit of {max}; pass --max-hosts {hosts} if that is intended")]
    TooManyHosts { hosts: u64, max: u64 },
    #[error("{0}")]
    Resolver(String),
}

impl ScanPlan {
    /// The ports a target scans. `--ports` on the command line is the most deliberate ask and
    /// wins; then the target's own `ports` (posture.toml); then `[scan] ports`, else top100.
    /// A target that names its port (`host:port`, a URL) scans exactly that port, plus
    /// `--ports` from the command line or its own `ports` when given: a default list is not
    /// added to it.
    pub fn ports_for(&self, t: &TargetSpec) -> Arc<[u16]> {
        let listed = if self.ports_explicit {
            Some(&self.ports)
        } else {
            t.ports.as_ref()
        };
        match (t.port, listed) {
            (Some(p), Some(list)) => {
                let mut v: Vec<u16> = list.to_vec();
                if !v.contains(&p) {
                    v.push(p);
                }
                v.into()
            }
            (Some(p), None) => Arc::from([p]),
            (None, Some(list)) => list.clone(),
            (None, None) => self.ports.clone(),
        }
    }

    /// The URL scheme that applies to `port` of target `t`: a URL's scheme names the probe for
    /// its own port only, not for the extra ports `--ports` adds.
    pub fn scheme_for(&self, target: usize, port: u16) -> Option<crate::target::Scheme> {
        let t = &self.targets[target];
        match (t.scheme, t.port) {
            (Some(s), Some(p)) if p == port => Some(s),
            _ => None,
        }
    }

    /// The SARIF location of findings on target `t` for `subject`.
    pub fn location_for(
        &self,
        t: &TargetSpec,
        subject: crate::finding::Subject,
        host: &str,
        port_or_name: &str,
    ) -> crate::finding::Location {
        match &t.origin {
            Origin::Config { path, line } => crate::finding::Location {
                uri: match (&self.config_file, &self.config_uri) {
                    (Some(file), Some(uri)) if file == path => uri.clone(),
                    _ => repo_relative(path),
                },
                line: Some(*line),
            },
            Origin::Cli | Origin::File { .. } => {
                crate::finding::Location::synthetic(subject, host, port_or_name)
            }
        }
    }
}

/// A repo-relative form of `path` for SARIF: relative paths as given (`./` stripped),
/// absolute paths relative to the current directory when inside it, else the file name.
pub fn repo_relative(path: &str) -> String {
    let p = std::path::Path::new(path);
    let rel = if p.is_absolute() {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.to_path_buf()))
            .unwrap_or_else(|| p.file_name().map(PathBuf::from).unwrap_or_default())
    } else {
        p.to_path_buf()
    };
    let s: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => {
                Some(crate::finding::path_segment(&s.to_string_lossy()))
            }
            _ => None,
        })
        .collect();
    if s.is_empty() {
        "posture.toml".into()
    } else {
        s.join("/")
    }
}

/// The ports target `t` scans in this run, or `None` when the run's shard owns nothing of
/// it. Names are sharded here by `(name, port)`; a name without ports belongs to the shard
/// that owns its name. IP and CIDR targets are kept whole: the sweep filters them per
/// `(address, port)`.
fn ports_in_shard(plan: &ScanPlan, t: &TargetSpec) -> Option<Arc<[u16]>> {
    let ports = if plan.checks.ports || t.port.is_some() {
        plan.ports_for(t)
    } else {
        Arc::from([])
    };
    match (&t.host, plan.shard) {
        (Host::Name(n), Some(shard)) if ports.is_empty() => shard.owns_name(n).then_some(ports),
        (Host::Name(n), Some(shard)) => {
            let kept: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|p| shard.owns_name_port(n, *p))
                .collect();
            (!kept.is_empty()).then(|| kept.into())
        }
        _ => Some(ports),
    }
}

/// Every endpoint the sweep of `prepared` tries, lazily, in group order: addresses × ports
/// with exclusions and the shard filter applied (what `--list-targets` prints).
pub fn endpoints<'a>(
    plan: &'a ScanPlan,
    prepared: &'a Prepared,
) -> impl Iterator<Item = (&'a WorkGroup, IpAddr, u16)> + 'a {
    prepared.groups.iter().flat_map(move |g| {
        (0..g.addrs.len())
            .map_while(move |i| g.addrs.nth(i))
            .filter(move |ip| !plan.excludes.contains(*ip))
            .flat_map(move |ip| {
                g.ports
                    .iter()
                    .filter(move |p| g.shard.is_none_or(|s| s.owns_addr_port(ip, **p)))
                    .map(move |p| (g, ip, *p))
            })
    })
}

/// Resolves names, builds the work groups and enforces the host cap.
pub async fn prepare(plan: &ScanPlan) -> Result<Prepared, PlanError> {
    // Names another shard owns entirely are neither resolved nor reported.
    let in_shard: Vec<Option<Arc<[u16]>>> = plan
        .targets
        .iter()
        .map(|t| ports_in_shard(plan, t))
        .collect();
    let names: Vec<String> = plan
        .targets
        .iter()
        .zip(&in_shard)
        .filter_map(|(t, ports)| match (&t.host, ports) {
            (Host::Name(n), Some(_)) => Some(n.clone()),
            _ => None,
        })
        .collect();
    let mut resolved = if names.is_empty() {
        Vec::new()
    } else {
        let resolver =
            build_resolver(plan.resolver, plan.limits.timeout()).map_err(PlanError::Resolver)?;
        resolve_all(&resolver, &names, plan.limits.ips_per_name).await
    }
    .into_iter();

    let mut groups = Vec::new();
    let mut unresolved = Vec::new();
    for (i, (t, ports)) in plan.targets.iter().zip(in_shard).enumerate() {
        let Some(ports) = ports else { continue };
        let (name, addrs) = match &t.host {
            Host::Ip(ip) => (None, AddrList::Block(AddrBlock::single(*ip))),
            Host::Cidr(net) => (None, AddrList::Block(AddrBlock::of_net(*net))),
            Host::Name(n) => match resolved.next() {
                Some(Ok(Resolved { ips, total })) => {
                    if total > ips.len() {
                        // The cap is a safety limit, not a verdict: say what was left out.
                        let shown = match t.port {
                            Some(p) => display_host_port(n, p),
                            None => n.clone(),
                        };
                        unresolved.push((
                            shown,
                            format!(
                                "the name has {total} addresses; {} scanned \
                                 (limits.ips_per_name)",
                                ips.len()
                            ),
                        ));
                    }
                    let kept: Vec<IpAddr> = ips
                        .into_iter()
                        .filter(|ip| !plan.excludes.contains(*ip))
                        .collect();
                    (
                        Some(Arc::<str>::from(n.as_str())),
                        AddrList::List(kept.into()),
                    )
                }
                // Nothing would be swept on it (e.g. `--checks dns`): the DNS phase reports
                // on the name itself.
                Some(Err(_)) if ports.is_empty() => continue,
                Some(Err(reason)) => {
                    let shown = match t.port {
                        Some(p) => display_host_port(n, p),
                        None => n.clone(),
                    };
                    unresolved.push((shown, reason));
                    continue;
                }
                None => {
                    unresolved.push((n.clone(), "lookup task failed".into()));
                    continue;
                }
            },
        };
        let shard = match addrs {
            AddrList::Block(_) => plan.shard,
            AddrList::List(_) => None,
        };
        groups.push(WorkGroup {
            target: i,
            name,
            addrs,
            ports,
            shard,
        });
    }

    super::overlap::drop_repeats(plan, &mut groups);

    let hosts = count_hosts(
        groups.iter().filter_map(|g| match &g.addrs {
            AddrList::Block(b) => Some(b),
            AddrList::List(_) => None,
        }),
        &plan.excludes,
    ) + groups
        .iter()
        .filter_map(|g| match &g.addrs {
            AddrList::List(l) => Some(l.len() as u64),
            AddrList::Block(_) => None,
        })
        .sum::<u64>();
    if hosts > plan.limits.max_hosts {
        return Err(PlanError::TooManyHosts {
            hosts,
            max: plan.limits.max_hosts,
        });
    }
    let endpoints = groups
        .iter()
        .map(|g| {
            let n = match &g.addrs {
                AddrList::Block(b) => b.count.saturating_sub(plan.excludes.excluded_in(b)),
                AddrList::List(l) => l.len() as u64,
            };
            let all = n.saturating_mul(g.ports.len() as u64);
            match g.shard {
                Some(s) => all.div_ceil(u64::from(s.n())),
                None => all,
            }
        })
        .fold(0u64, u64::saturating_add);
    Ok(Prepared {
        groups,
        unresolved,
        hosts,
        endpoints,
    })
}
