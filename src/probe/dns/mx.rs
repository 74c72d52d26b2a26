//! MX (RFC 5321 §5.1, RFC 2181 §10.3, RFC 7505 null MX).

use super::client::{addresses, display_name, rcode_name, DnsClient, QueryError};
use crate::fact::dns::{MxFacts, MxHost};
use hickory_proto::rr::{RData, RecordType};

/// Exchanges checked per domain: real domains have 1–5; the rest are the same service.
pub const MX_MAX_HOSTS: usize = 16;

/// Judge a list of (preference, exchange) pairs with their resolution. Pure.
pub fn facts_from_hosts(hosts: Vec<MxHost>) -> MxFacts {
    let null_count = hosts
        .iter()
        .filter(|h| h.exchange == "." || h.exchange.is_empty())
        .count();
    let mut f = MxFacts {
        checked: true,
        null_mx: hosts.len() == 1 && null_count == 1,
        accepts_mail: hosts.len() > null_count,
        ..MxFacts::default()
    };
    if null_count > 0 && hosts.len() > 1 {
        f.problems
            .push("null MX mixed with other MX records (RFC 7505 §3)".into());
    }
    if f.null_mx && hosts[0].preference != 0 {
        f.problems
            .push("null MX with a preference other than 0 (RFC 7505 §3)".into());
    }
    for h in &hosts {
        if h.exchange == "." || h.exchange.is_empty() {
            continue;
        }
        if h.is_cname {
            f.problems.push(format!(
                "MX {} is an alias (CNAME); RFC 2181 §10.3 forbids it",
                h.exchange
            ));
        }
        if !h.resolvable {
            f.problems
                .push(format!("MX {} has no A or AAAA record", h.exchange));
        }
    }
    f.invalid = !f.problems.is_empty();
    f.records = hosts;
    f
}

/// Look up the MX RRset of `domain` and resolve each exchange.
pub async fn probe_mx(client: &DnsClient, domain: &str) -> Result<MxFacts, String> {
    let resp = client
        .lookup(domain, RecordType::MX)
        .await
        .map_err(|e| format!("MX {domain}: {e}"))?;
    if !resp.is_definitive() {
        return Err(format!("MX {domain}: {}", rcode_name(resp.rcode)));
    }
    let mut mx: Vec<(u16, String)> = resp
        .records(RecordType::MX)
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some((m.preference, display_name(&m.exchange))),
            _ => None,
        })
        .collect();
    mx.sort();
    mx.truncate(MX_MAX_HOSTS);
    let mut hosts = Vec::new();
    for (preference, exchange) in mx {
        let mut host = MxHost {
            preference: i64::from(preference),
            exchange: exchange.clone(),
            ..MxHost::default()
        };
        if exchange != "." {
            let mut answered = 0;
            for rtype in [RecordType::A, RecordType::AAAA] {
                match client.lookup(&exchange, rtype).await {
                    Ok(r) if r.is_definitive() => {
                        answered += 1;
                        let target = super::client::fqdn(&exchange)
                            .map_err(|e: QueryError| e.to_string())?;
                        host.is_cname |= r.answers.iter().any(|rec| {
                            rec.record_type() == RecordType::CNAME
                                && rec.name.eq_ignore_root(&target)
                        });
                        host.addresses
                            .extend(addresses(&r).iter().map(|a| a.to_string()));
                    }
                    Ok(r) => return Err(format!("{exchange} {rtype}: {}", rcode_name(r.rcode))),
                    Err(e) => return Err(format!("{exchange} {rtype}: {e}")),
                }
            }
            host.resolvable = answered == 2 && !host.addresses.is_empty();
        }
        hosts.push(host);
    }
    Ok(facts_from_hosts(hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(p: i64, e: &str, cname: bool, ok: bool) -> MxHost {
        MxHost {
            preference: p,
            exchange: e.into(),
            is_cname: cname,
            resolvable: ok,
            addresses: vec![],
        }
    }

    #[test]
    fn null_mx() {
        let f = facts_from_hosts(vec![host(0, ".", false, false)]);
        assert!(f.null_mx && !f.accepts_mail && !f.invalid);
        let f = facts_from_hosts(vec![
            host(0, ".", false, false),
            host(10, "mx.example.com", false, true),
        ]);
        assert!(!f.null_mx && f.invalid);
        let f = facts_from_hosts(vec![host(10, ".", false, false)]);
        assert!(f.invalid);
    }

    #[test]
    fn cname_and_unresolvable() {
        let f = facts_from_hosts(vec![host(10, "a.example.com", true, true)]);
        assert!(f.invalid && f.accepts_mail);
        let f = facts_from_hosts(vec![host(10, "a.example.com", false, false)]);
        assert!(f.invalid);
        let f = facts_from_hosts(vec![host(10, "a.example.com", false, true)]);
        assert!(!f.invalid);
        let f = facts_from_hosts(vec![]);
        assert!(!f.invalid && !f.accepts_mail && !f.null_mx);
    }
}
