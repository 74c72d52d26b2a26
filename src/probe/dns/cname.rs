//! Dangling CNAME detection (subdomain takeover precondition).
//!
//! Following a dangling alias through a resolver yields NXDOMAIN or REFUSED for the *original*
//! name, which cannot be told apart from a name that does not exist. So we ask for the CNAME
//! record itself, then for each target in turn (type CNAME again, up to the depth limit): an
//! NXDOMAIN at a target means the chain ends nowhere. SERVFAIL, timeouts, loops and chains
//! deeper than the limit leave the status `unknown` and the subject incomplete.

use super::client::{display_name, fqdn, rcode_name, DnsClient};
use crate::fact::dns::CnameFacts;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

/// The direct CNAME target of `name` from a type-CNAME answer, if the name is an alias.
async fn cname_of(
    client: &DnsClient,
    name: &str,
) -> Result<(ResponseCode, Option<String>), String> {
    let resp = client
        .lookup(name, RecordType::CNAME)
        .await
        .map_err(|e| format!("CNAME {name}: {e}"))?;
    if !resp.is_definitive() {
        return Err(format!("CNAME {name}: {}", rcode_name(resp.rcode)));
    }
    let owner = fqdn(name).map_err(|e| e.to_string())?;
    let target = resp.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if r.name.eq_ignore_root(&owner) => Some(display_name(&c.0)),
        _ => None,
    });
    Ok((resp.rcode, target))
}

/// Examine `name`'s alias chain. `Err` carries the reason the status is unknown.
pub async fn probe_cname(
    client: &DnsClient,
    name: &str,
    max_depth: usize,
) -> (CnameFacts, Option<String>) {
    let mut f = CnameFacts {
        status: "unknown".into(),
        ..CnameFacts::default()
    };
    let first = match cname_of(client, name).await {
        Ok((_, None)) => {
            f.checked = true;
            f.status = "none".into();
            return (f, None);
        }
        Ok((_, Some(t))) => t,
        Err(e) => return (f, Some(e)),
    };
    f.present = true;
    f.target = first.clone();
    let mut current = first;
    loop {
        if f.chain.contains(&current) || current == name {
            f.chain.push(current.clone());
            return (f, Some(format!("CNAME loop at {current}")));
        }
        f.chain.push(current.clone());
        match cname_of(client, &current).await {
            Ok((ResponseCode::NXDomain, _)) => {
                f.checked = true;
                f.status = "dangling".into();
                f.dangling = true;
                return (f, None);
            }
            Ok((_, Some(next))) => {
                if f.chain.len() >= max_depth {
                    return (f, Some(format!("CNAME chain longer than {max_depth}")));
                }
                current = next;
            }
            Ok((_, None)) => break,
            Err(e) => return (f, Some(e)),
        }
    }
    // The chain ends at an existing name: does it have an address?
    let mut has_address = false;
    for rtype in [RecordType::A, RecordType::AAAA] {
        match client.lookup(&current, rtype).await {
            Ok(r) if r.is_definitive() => has_address |= r.records(rtype).next().is_some(),
            Ok(r) => {
                return (
                    f,
                    Some(format!("{rtype} {current}: {}", rcode_name(r.rcode))),
                )
            }
            Err(e) => return (f, Some(format!("{rtype} {current}: {e}"))),
        }
        if has_address {
            break;
        }
    }
    f.checked = true;
    f.status = if has_address { "resolves" } else { "nodata" }.into();
    (f, None)
}
