//! CAA (RFC 8659): the relevant RRset is found by climbing from the name towards the root.

use super::client::{rcode_name, DnsClient};
use crate::fact::dns::CaaFacts;
use hickory_proto::rr::rdata::CAA;
use hickory_proto::rr::{RData, RecordType};

/// The names to ask, in order (RFC 8659 §3): the name, then each parent up to the TLD.
/// Pure.
pub fn climb_names(name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    (0..labels.len()).map(|i| labels[i..].join(".")).collect()
}

/// The issuer domain of an `issue`/`issuewild` value: the part before `;`, trimmed (empty for
/// `";"`, which forbids issuance). Pure.
pub fn issuer_domain(value: &[u8]) -> String {
    let v = String::from_utf8_lossy(value);
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Facts from the relevant CAA RRset found at `found_at`. Pure.
pub fn facts_from_records(found_at: &str, records: &[CAA]) -> CaaFacts {
    let mut f = CaaFacts {
        checked: true,
        present: !records.is_empty(),
        found_at: if records.is_empty() {
            String::new()
        } else {
            found_at.to_string()
        },
        ..CaaFacts::default()
    };
    for c in records {
        f.records.push(c.to_string().chars().take(512).collect());
        match c.tag.to_ascii_lowercase().as_str() {
            "issue" => f.issue.push(issuer_domain(&c.value)),
            "issuewild" => f.issuewild.push(issuer_domain(&c.value)),
            "iodef" => f.iodef.push(
                String::from_utf8_lossy(&c.value)
                    .chars()
                    .take(512)
                    .collect(),
            ),
            _ => {}
        }
    }
    f
}

/// Climb from `name` and return the facts of the first non-empty CAA RRset.
pub async fn probe_caa(client: &DnsClient, name: &str) -> Result<CaaFacts, String> {
    for n in climb_names(name) {
        let resp = client
            .lookup(&n, RecordType::CAA)
            .await
            .map_err(|e| format!("CAA {n}: {e}"))?;
        if !resp.is_definitive() {
            return Err(format!("CAA {n}: {}", rcode_name(resp.rcode)));
        }
        // An alias at the name: the resolver followed it; the target's RRset applies
        // (RFC 8659 §3 relies on the resolver's CNAME processing).
        let caa: Vec<CAA> = resp
            .records(RecordType::CAA)
            .filter_map(|r| match &r.data {
                RData::CAA(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        if !caa.is_empty() {
            return Ok(facts_from_records(&n, &caa));
        }
    }
    Ok(facts_from_records("", &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbs_to_the_tld() {
        assert_eq!(
            climb_names("a.b.Example.com."),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert!(climb_names("").is_empty());
    }

    #[test]
    fn issuer_values() {
        assert_eq!(
            issuer_domain(b"letsencrypt.org; accounturi=x"),
            "letsencrypt.org"
        );
        assert_eq!(issuer_domain(b";"), "");
    }

    #[test]
    fn facts() {
        let recs = vec![
            CAA::new_issue(false, Some("letsencrypt.org".parse().unwrap()), vec![]),
            CAA::new_issuewild(false, None, vec![]),
        ];
        let f = facts_from_records("example.com", &recs);
        assert!(f.present);
        assert_eq!(f.issue, ["letsencrypt.org"]);
        assert_eq!(f.issuewild, [""]);
        assert_eq!(f.records.len(), 2);
        assert!(!facts_from_records("x", &[]).present);
    }
}
