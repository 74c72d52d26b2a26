//! Delegation: the zone's NS set, each nameserver asked directly (authority, SOA serial,
//! recursion, zone transfer), and the network diversity of their addresses.
//!
//! Direct queries go to every NS address on `ns_port` with RD clear, concurrently (one task per
//! address, all under the probe's deadline), so one dead nameserver costs one timeout, not one
//! per check.

use super::axfr;
use super::client::{addresses, display_name, fqdn, rcode_name, DnsClient, QueryFlags};
use crate::fact::dns::{
    AxfrAttempt, AxfrFacts, NsFacts, NsServer, RecursionFacts, RecursionTest, SoaFacts, SoaSerial,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use tokio::task::JoinSet;

/// NS names examined per zone: real zones have 2–8; more is the same service.
pub const NS_MAX_NAMES: usize = 16;
/// Nameserver addresses queried directly per zone, in total.
pub const NS_MAX_ADDRESSES: usize = 32;

/// True when every address is in one IPv4 /24 and every IPv6 address in one /48 (no network
/// diversity: RFC 2182 §3.1 asks for topologically separate nameservers). Pure.
pub fn same_network(addrs: &[IpAddr]) -> bool {
    if addrs.is_empty() {
        return false;
    }
    let v4: BTreeSet<[u8; 3]> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v) => {
                let o = v.octets();
                Some([o[0], o[1], o[2]])
            }
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: BTreeSet<[u16; 3]> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(v) => {
                let s = v.segments();
                Some([s[0], s[1], s[2]])
            }
            IpAddr::V4(_) => None,
        })
        .collect();
    v4.len() <= 1 && v6.len() <= 1
}

/// Direct observations of one nameserver address.
#[derive(Debug, Clone, Default)]
struct AddrReport {
    ns: String,
    ip: Option<IpAddr>,
    responded: bool,
    authoritative: bool,
    serial: Option<u32>,
    soa_error: Option<String>,
    /// The query failed for a local reason (no IPv6 route here, EMFILE): not the server's fault.
    local_failure: bool,
    recursion: RecursionTest,
    axfr: AxfrAttempt,
    axfr_names: Vec<String>,
}

async fn examine(
    client: DnsClient,
    zone: String,
    ns: String,
    ip: IpAddr,
    recursion_name: String,
) -> AddrReport {
    let server = client.ns_addr(ip);
    let mut r = AddrReport {
        ns: ns.clone(),
        ip: Some(ip),
        ..AddrReport::default()
    };
    let Ok(zname) = fqdn(&zone) else { return r };
    match client
        .query(server, &zname, RecordType::SOA, QueryFlags::default())
        .await
    {
        Ok(resp) => {
            r.responded = true;
            let soa = resp.answers.iter().find_map(|rec| match &rec.data {
                RData::SOA(s) if rec.name.eq_ignore_root(&zname) => Some(s.serial),
                _ => None,
            });
            r.authoritative = resp.aa && resp.rcode == ResponseCode::NoError && soa.is_some();
            if r.authoritative {
                r.serial = soa;
            } else {
                r.soa_error = Some(format!(
                    "{} (aa={})",
                    rcode_name(resp.rcode),
                    if resp.aa { 1 } else { 0 }
                ));
            }
        }
        Err(e) => {
            r.local_failure = matches!(e, super::client::QueryError::Local(_));
            r.soa_error = Some(e.to_string());
        }
    }
    r.recursion = RecursionTest {
        server: ns.clone(),
        address: ip.to_string(),
        ..RecursionTest::default()
    };
    if r.responded {
        match fqdn(&recursion_name) {
            Ok(probe) => match client
                .query(
                    server,
                    &probe,
                    RecordType::A,
                    QueryFlags {
                        rd: true,
                        dnssec_ok: false,
                    },
                )
                .await
            {
                Ok(resp) => {
                    let answered = (resp.rcode == ResponseCode::NoError
                        && !resp.answers.is_empty())
                        || resp.rcode == ResponseCode::NXDomain;
                    r.recursion.open = resp.ra && !resp.aa && answered;
                    r.recursion.result = format!(
                        "{} ra={} aa={} answers={}",
                        rcode_name(resp.rcode),
                        u8::from(resp.ra),
                        u8::from(resp.aa),
                        resp.answers.len()
                    );
                }
                Err(e) => r.recursion.result = e.to_string(),
            },
            Err(e) => r.recursion.result = e.to_string(),
        }
        let (attempt, names) = axfr::attempt(&client, &ns, server, &zone).await;
        r.axfr = attempt;
        r.axfr_names = names;
    }
    r
}

/// One nameserver address that answered authoritatively with the zone's SOA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoritativeServer {
    /// The NS name.
    pub name: String,
    pub addr: SocketAddr,
}

/// Everything learnt from the delegation of one zone.
#[derive(Debug, Clone, Default)]
pub struct Delegation {
    pub ns: NsFacts,
    pub soa: SoaFacts,
    pub recursion: RecursionFacts,
    pub axfr: AxfrFacts,
    /// Every address that answered authoritatively, in NS name then address order (for DNSSEC
    /// queries: resolvers ask any of them, so each one's signatures matter). At most
    /// [`NS_MAX_ADDRESSES`].
    pub authoritative_servers: Vec<AuthoritativeServer>,
    pub errors: Vec<String>,
}

/// Examine the delegation of `zone`.
pub async fn probe_delegation(
    client: &DnsClient,
    zone: &str,
    recursion_name: &str,
    ips_per_name: usize,
) -> Delegation {
    let mut d = Delegation::default();
    d.recursion.probe_name = recursion_name.to_string();
    // SOA through the resolver: the reference serial and names.
    match client.lookup(zone, RecordType::SOA).await {
        Ok(resp) if resp.is_definitive() => {
            if let Some(s) = resp.records(RecordType::SOA).find_map(|r| match &r.data {
                RData::SOA(s) => Some(s.clone()),
                _ => None,
            }) {
                d.soa.serial = i64::from(s.serial);
                d.soa.mname = display_name(&s.mname);
                d.soa.rname = display_name(&s.rname);
            }
        }
        Ok(resp) => d
            .errors
            .push(format!("SOA {zone}: {}", rcode_name(resp.rcode))),
        Err(e) => d.errors.push(format!("SOA {zone}: {e}")),
    }
    let names: Vec<String> = match client.lookup(zone, RecordType::NS).await {
        Ok(resp) if resp.is_definitive() => {
            let mut n: Vec<String> = resp
                .records(RecordType::NS)
                .filter_map(|r| match &r.data {
                    RData::NS(ns) => Some(display_name(&ns.0)),
                    _ => None,
                })
                .collect();
            n.sort();
            n.dedup();
            n.truncate(NS_MAX_NAMES);
            n
        }
        Ok(resp) => {
            d.errors
                .push(format!("NS {zone}: {}", rcode_name(resp.rcode)));
            return d;
        }
        Err(e) => {
            d.errors.push(format!("NS {zone}: {e}"));
            return d;
        }
    };
    if names.is_empty() {
        // NODATA for NS: the name is inside a zone, not its apex (a zone always publishes its
        // NS set, and a resolver could not have reached it otherwise). Nameserver checks belong
        // to the enclosing zone; "served by 0 nameservers" would be false.
        return d;
    }
    d.ns.checked = true;
    d.ns.names = names.clone();
    d.ns.count = names.len() as i64;
    d.ns.single = names.len() < 2;

    // Addresses of each NS name, through the resolver.
    let mut servers: Vec<NsServer> = Vec::new();
    let mut total = 0usize;
    for n in &names {
        let mut s = NsServer {
            name: n.clone(),
            ..NsServer::default()
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            match client.lookup(n, rtype).await {
                Ok(resp) => {
                    for a in addresses(&resp) {
                        if s.addresses.len() < ips_per_name
                            && total < NS_MAX_ADDRESSES
                            && !s.addresses.contains(&a.to_string())
                        {
                            s.addresses.push(a.to_string());
                            total += 1;
                        }
                    }
                }
                Err(e) => d.errors.push(format!("{rtype} {n}: {e}")),
            }
        }
        servers.push(s);
    }
    let all_ips: Vec<IpAddr> = servers
        .iter()
        .flat_map(|s| s.addresses.iter().filter_map(|a| a.parse().ok()))
        .collect();
    d.ns.same_network = same_network(&all_ips);

    // Every address, directly and concurrently.
    let mut set = JoinSet::new();
    for s in &servers {
        for a in &s.addresses {
            if let Ok(ip) = a.parse::<IpAddr>() {
                set.spawn(examine(
                    client.clone(),
                    zone.to_string(),
                    s.name.clone(),
                    ip,
                    recursion_name.to_string(),
                ));
            }
        }
    }
    let mut reports: Vec<AddrReport> = Vec::new();
    while let Some(res) = set.join_next().await {
        if let Ok(r) = res {
            reports.push(r);
        }
    }
    reports.sort_by(|a, b| (a.ns.as_str(), a.ip).cmp(&(b.ns.as_str(), b.ip)));

    let any_responded = reports.iter().any(|r| r.responded);
    let mut serials = BTreeSet::new();
    let mut names_learnt = BTreeSet::new();
    for s in &mut servers {
        let mine: Vec<&AddrReport> = reports.iter().filter(|r| r.ns == s.name).collect();
        s.responded = mine.iter().any(|r| r.responded);
        s.authoritative = mine.iter().any(|r| r.authoritative);
        s.serial = mine
            .iter()
            .find_map(|r| r.serial)
            .map(i64::from)
            .unwrap_or(0);
        // Lame: answered without authority, or silent (or address-less) while others answer.
        // Addresses we could not even try from here (local errors) prove nothing.
        let untried = !mine.is_empty() && mine.iter().all(|r| r.local_failure);
        s.lame = !s.authoritative && (s.responded || (any_responded && !untried));
        if s.lame {
            d.ns.lame_servers.push(s.name.clone());
        }
        for r in mine {
            let ip = r.ip.map(|i| i.to_string()).unwrap_or_default();
            if let Some(serial) = r.serial {
                serials.insert(serial);
                d.soa.serials.push(SoaSerial {
                    server: s.name.clone(),
                    address: ip.clone(),
                    serial: i64::from(serial),
                });
                // An address shared by two NS names is one server: asked once.
                let addr = r.ip.map(|i| client.ns_addr(i));
                if let Some(addr) =
                    addr.filter(|a| !d.authoritative_servers.iter().any(|known| known.addr == *a))
                {
                    d.authoritative_servers.push(AuthoritativeServer {
                        name: s.name.clone(),
                        addr,
                    });
                }
            }
            if r.responded {
                d.recursion.tests.push(r.recursion.clone());
                d.axfr.attempts.push(r.axfr.clone());
                names_learnt.extend(r.axfr_names.iter().cloned());
            } else if let Some(e) = &r.soa_error {
                // Reported but not an incompleteness: lameness covers it when others answer.
                if !any_responded || r.local_failure {
                    d.errors.push(format!("{} ({ip}): {e}", s.name));
                }
            }
        }
    }
    d.ns.lame = !d.ns.lame_servers.is_empty();
    d.ns.servers = servers;
    d.soa.checked = !d.soa.serials.is_empty();
    d.soa.serial_mismatch = serials.len() > 1;
    d.recursion.checked = !d.recursion.tests.is_empty();
    d.recursion.open = d.recursion.tests.iter().any(|t| t.open);
    d.axfr.checked = !d.axfr.attempts.is_empty();
    d.axfr.open = d.axfr.attempts.iter().any(|a| a.allowed);
    d.axfr.names = names_learnt
        .into_iter()
        .take(axfr::AXFR_MAX_NAMES)
        .collect();
    if !any_responded && !names.is_empty() {
        d.errors.push(format!("no nameserver of {zone} answered"));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn network_diversity() {
        assert!(same_network(&ips(&["192.0.2.1", "192.0.2.200"])));
        assert!(!same_network(&ips(&["192.0.2.1", "198.51.100.1"])));
        assert!(same_network(&ips(&["2001:db8:1::1", "2001:db8:1:ff::1"])));
        assert!(!same_network(&ips(&["2001:db8:1::1", "2001:db8:2::1"])));
        assert!(same_network(&ips(&["192.0.2.1", "2001:db8:1::1"])));
        assert!(!same_network(&ips(&[
            "192.0.2.1",
            "192.0.2.2",
            "2001:db8:1::1",
            "2001:db9::1"
        ])));
        assert!(!same_network(&[]));
    }
}
