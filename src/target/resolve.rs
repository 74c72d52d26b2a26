//! Name resolution through hickory-resolver.
//!
//! With `--resolver IP:PORT` every lookup goes to that server only (tests and the demo always
//! pass one, so they never touch the system's resolver). Without it the system configuration
//! (`/etc/resolv.conf`) is used. posture never does reverse lookups.

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Names resolved at once: lookups are cheap but a resolver should not see a burst of
/// thousands of queries from one client.
const RESOLVE_PARALLELISM: usize = 32;

/// Builds the resolver: `server` if given, else the system configuration.
pub fn build_resolver(
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TokioResolver, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 2;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.cache_size = 1024;
    let builder = match server {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            // The hosts file is the system's too: with an explicit resolver, only it answers.
            opts.use_hosts_file = ResolveHosts::Never;
            opts.ndots = 0;
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?,
    };
    let mut builder = builder;
    let o = builder.options_mut();
    o.timeout = opts.timeout;
    o.attempts = opts.attempts;
    o.ip_strategy = opts.ip_strategy;
    o.cache_size = opts.cache_size;
    if server.is_some() {
        o.use_hosts_file = opts.use_hosts_file;
        o.ndots = opts.ndots;
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the resolver: {e}"))
}

/// A name's addresses: the ones kept (at most the cap) and how many the name has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub ips: Vec<IpAddr>,
    /// Distinct addresses of the name; more than `ips.len()` when the cap cut some.
    pub total: usize,
}

/// Resolves `name` to at most `max` addresses (A and AAAA), deduplicated, the two families
/// interleaved from IPv4 (RFC 8305 §4 interleaves so that a cap never drops one family
/// whole: a dual-stack host keeps its IPv6 face).
pub async fn resolve_name(
    resolver: &TokioResolver,
    name: &str,
    max: usize,
) -> Result<Resolved, String> {
    // A fully-qualified name: no search-domain guessing.
    let fqdn = format!("{name}.");
    match resolver.lookup_ip(fqdn.as_str()).await {
        Ok(lookup) => {
            let mut seen = BTreeSet::new();
            let mut v4: Vec<IpAddr> = Vec::new();
            let mut v6: Vec<IpAddr> = Vec::new();
            for ip in lookup.iter() {
                if seen.insert(ip) {
                    if ip.is_ipv4() {
                        v4.push(ip)
                    } else {
                        v6.push(ip)
                    }
                }
            }
            let total = v4.len() + v6.len();
            let ips = interleave(v4, v6, max);
            if ips.is_empty() {
                Err("the name has no A or AAAA records".into())
            } else {
                Ok(Resolved { ips, total })
            }
        }
        Err(e) if e.is_nx_domain() => Err("the name does not exist (NXDOMAIN)".into()),
        Err(e) if e.is_no_records_found() => Err("the name has no A or AAAA records".into()),
        Err(e) => Err(format!("lookup failed: {e}")),
    }
}

/// IPv4 and IPv6 addresses alternately, starting with IPv4, at most `max`.
fn interleave(v4: Vec<IpAddr>, v6: Vec<IpAddr>, max: usize) -> Vec<IpAddr> {
    let (mut a, mut b) = (v4.into_iter(), v6.into_iter());
    let mut out = Vec::new();
    while out.len() < max {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => out.extend(x.into_iter().chain(y).take(max - out.len())),
        }
    }
    out
}

/// Resolves many names with bounded parallelism; results in input order.
pub async fn resolve_all(
    resolver: &TokioResolver,
    names: &[String],
    max_per_name: usize,
) -> Vec<Result<Resolved, String>> {
    use tokio::task::JoinSet;
    let mut out: Vec<Option<Result<Resolved, String>>> = vec![None; names.len()];
    let mut set = JoinSet::new();
    let mut next = 0usize;
    while next < names.len() || !set.is_empty() {
        while next < names.len() && set.len() < RESOLVE_PARALLELISM {
            let r = resolver.clone();
            let n = names[next].clone();
            let i = next;
            set.spawn(async move { (i, resolve_name(&r, &n, max_per_name).await) });
            next += 1;
        }
        if let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, res)) => out[i] = Some(res),
                Err(e) => tracing::warn!("resolver task failed: {e}"),
            }
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err("lookup task failed".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn families_interleave_under_the_cap() {
        use std::net::IpAddr;
        let v4: Vec<IpAddr> = (1..=17)
            .map(|i| format!("127.0.0.{i}").parse().unwrap())
            .collect();
        let v6: Vec<IpAddr> = vec!["::1".parse().unwrap()];
        let got = super::interleave(v4.clone(), v6.clone(), 16);
        assert_eq!(got.len(), 16);
        assert_eq!(&got[..3], &[v4[0], v6[0], v4[1]]);
        assert_eq!(
            super::interleave(v4.clone(), Vec::new(), 3),
            v4[..3].to_vec()
        );
        assert_eq!(super::interleave(Vec::new(), v6.clone(), 3), v6);
    }
}
