//! Wildcard detection: ask for a random label under the zone. A name that cannot exist
//! answering NOERROR (with data, or NODATA with the zone's SOA: a wildcard of another type)
//! means a wildcard (RFC 4592) or a server that synthesises answers for everything; both make
//! every subdomain "exist". An empty NOERROR without the SOA proves nothing.

use super::client::{random_u64, rcode_name, short_record, DnsClient};
use crate::fact::dns::WildcardFacts;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// The random probe label, `posture-wc-<16 hex>`: 27 characters, never a real name.
pub fn probe_label(random: u64) -> String {
    format!("posture-wc-{random:016x}")
}

pub async fn probe_wildcard(client: &DnsClient, zone: &str) -> Result<WildcardFacts, String> {
    let name = format!("{}.{zone}", probe_label(random_u64()));
    let resp = client
        .lookup(&name, RecordType::A)
        .await
        .map_err(|e| format!("A {name}: {e}"))?;
    if !resp.is_definitive() {
        return Err(format!("A {name}: {}", rcode_name(resp.rcode)));
    }
    let soa = resp
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    if resp.rcode == ResponseCode::NoError && resp.answers.is_empty() && !soa {
        // NODATA comes with the zone's SOA (RFC 2308 §3): an answer with neither data nor SOA
        // is a resolver that got nothing from the zone, not a wildcard.
        return Err(format!(
            "A {name}: NOERROR without an answer or the zone's SOA; no wildcard check"
        ));
    }
    Ok(WildcardFacts {
        checked: true,
        present: resp.rcode == ResponseCode::NoError,
        answers: resp.answers.iter().take(16).map(short_record).collect(),
        probe_name: name,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_shape() {
        let l = super::probe_label(0xabc);
        assert_eq!(l, "posture-wc-0000000000000abc");
        assert!(l.len() <= 63);
    }
}
