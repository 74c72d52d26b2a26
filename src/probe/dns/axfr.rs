//! Zone transfer (AXFR, RFC 5936) exposure: one attempt per nameserver address.
//!
//! The transfer itself lives in [`super::client::DnsClient::axfr`] (TCP, capped in bytes,
//! records, messages and time); this module turns its outcome into facts and collects the
//! names it revealed for the name checks.

use super::client::{display_name, DnsClient};
use crate::fact::dns::AxfrAttempt;
use hickory_proto::rr::RecordType;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Names kept from allowed transfers for the dangling-CNAME checks.
pub const AXFR_MAX_NAMES: usize = 1_000;

/// Try a transfer of `zone` from `server`; return the fact and the owner names seen.
pub async fn attempt(
    client: &DnsClient,
    ns: &str,
    server: SocketAddr,
    zone: &str,
) -> (AxfrAttempt, Vec<String>) {
    let out = client.axfr(server, zone).await;
    let names: BTreeSet<String> = out
        .records
        .iter()
        .filter(|r| r.record_type() != RecordType::SOA)
        .map(|r| display_name(&r.name))
        .filter(|n| !n.starts_with('*'))
        .take(AXFR_MAX_NAMES)
        .collect();
    let mut result = out.result();
    if out.allowed && out.stopped_early {
        result.push_str(" (stopped early)");
    }
    (
        AxfrAttempt {
            server: ns.to_string(),
            address: server.ip().to_string(),
            allowed: out.allowed,
            records_seen: out.records.len() as i64,
            result,
        },
        names.into_iter().collect(),
    )
}
