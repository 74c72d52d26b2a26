//! DNSSEC presence and signature lifetime at the zone apex (RFC 4033–4035).
//!
//! We do not validate signatures: the checks are "is the zone signed at all" (DNSKEY at the
//! apex and RRSIGs on the answers when asked with the DO bit) and "when do the signatures on
//! SOA and DNSKEY expire". hickory-proto is built without its DNSSEC feature, so RRSIG and
//! DNSKEY arrive as opaque RDATA; [`parse_rrsig`] reads the RRSIG wire format (RFC 4034 §3.1).

use super::client::{display_name, fqdn, rcode_name, DnsClient, QueryError, QueryFlags};
use crate::fact::dns::{DnssecFacts, RrsigFacts};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::SocketAddr;
use time::OffsetDateTime;

/// A parsed RRSIG (the fields the checks read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrsig {
    pub type_covered: u16,
    pub algorithm: u8,
    pub labels: u8,
    pub original_ttl: u32,
    /// Serial-number time (RFC 4034 §3.1.5): seconds since the epoch modulo 2^32.
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    pub signer: String,
}

/// Read RRSIG RDATA. Pure; the signer name is uncompressed (RFC 4034 §3.1.7).
pub fn parse_rrsig(rdata: &[u8]) -> Result<Rrsig, String> {
    if rdata.len() < 18 {
        return Err(format!("RRSIG RDATA of {} bytes is too short", rdata.len()));
    }
    let u16_at = |i: usize| u16::from_be_bytes([rdata[i], rdata[i + 1]]);
    let u32_at =
        |i: usize| u32::from_be_bytes([rdata[i], rdata[i + 1], rdata[i + 2], rdata[i + 3]]);
    let mut labels = Vec::new();
    let mut i = 18;
    loop {
        let len = usize::from(*rdata.get(i).ok_or("RRSIG signer name cut short")?);
        if len == 0 {
            break;
        }
        if len > 63 {
            return Err("RRSIG signer name is compressed or malformed".into());
        }
        let label = rdata
            .get(i + 1..i + 1 + len)
            .ok_or("RRSIG signer name cut short")?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += 1 + len;
        if i > 18 + 255 {
            return Err("RRSIG signer name too long".into());
        }
    }
    Ok(Rrsig {
        type_covered: u16_at(0),
        algorithm: rdata[2],
        labels: rdata[3],
        original_ttl: u32_at(4),
        expiration: u32_at(8),
        inception: u32_at(12),
        key_tag: u16_at(16),
        signer: if labels.is_empty() {
            ".".into()
        } else {
            labels.join(".")
        },
    })
}

/// The instant a serial-number timestamp denotes: the one closest to `now` (RFC 4034 §3.1.5
/// uses RFC 1982 arithmetic, so timestamps wrap every 136 years). Pure.
pub fn serial_time(serial: u32, now: OffsetDateTime) -> OffsetDateTime {
    let now_secs = now.unix_timestamp();
    let delta = serial.wrapping_sub(now_secs as u32) as i32;
    OffsetDateTime::from_unix_timestamp(now_secs + i64::from(delta)).unwrap_or(now)
}

/// Whole days from `now` to `t` (floor; negative when past). Pure.
pub fn days_left(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t.unix_timestamp() - now.unix_timestamp()).div_euclid(86_400)
}

/// Opaque RDATA of a record of `code` (RRSIG 46, DNSKEY 48) from an answer.
fn opaque(r: &Record, code: u16) -> Option<&[u8]> {
    if u16::from(r.record_type()) != code {
        return None;
    }
    match &r.data {
        RData::Unknown { rdata, .. } => Some(&rdata.anything),
        _ => None,
    }
}

const RRSIG: u16 = 46;
const DNSKEY: u16 = 48;

/// RRSIG facts for the signatures covering `covers` in `records`. Pure.
pub fn rrsig_facts(records: &[Record], covers: RecordType, now: OffsetDateTime) -> Vec<RrsigFacts> {
    records
        .iter()
        .filter_map(|r| opaque(r, RRSIG))
        .filter_map(|d| parse_rrsig(d).ok())
        .filter(|s| s.type_covered == u16::from(covers))
        .map(|s| {
            let exp = serial_time(s.expiration, now);
            RrsigFacts {
                server: String::new(),
                address: String::new(),
                covers: covers.to_string(),
                algorithm: i64::from(s.algorithm),
                key_tag: i64::from(s.key_tag),
                signer: s.signer,
                expires: exp
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                days_left: days_left(exp, now),
            }
        })
        .collect()
}

/// Ask `server` (an authoritative address, or the resolver with RD) for the apex DNSKEY and
/// SOA with the DO bit.
pub async fn probe_dnssec(
    client: &DnsClient,
    zone: &str,
    server: SocketAddr,
    rd: bool,
    now: OffsetDateTime,
) -> Result<DnssecFacts, String> {
    let name: Name = fqdn(zone).map_err(|e: QueryError| e.to_string())?;
    let flags = QueryFlags {
        rd,
        dnssec_ok: true,
    };
    let dnskey_type = RecordType::from(DNSKEY);
    let keys = client
        .query(server, &name, dnskey_type, flags)
        .await
        .map_err(|e| format!("DNSKEY {zone}: {e}"))?;
    if !keys.is_definitive() {
        return Err(format!("DNSKEY {zone}: {}", rcode_name(keys.rcode)));
    }
    // A referral (the server does not answer for the zone) says nothing about its keys.
    if let Some(to) = keys.referral(dnskey_type) {
        return Err(format!("DNSKEY {zone}: {}", QueryError::Referral(to)));
    }
    let soa = client
        .query(server, &name, RecordType::SOA, flags)
        .await
        .map_err(|e| format!("SOA {zone}: {e}"))?;
    if !soa.is_definitive() {
        return Err(format!("SOA {zone}: {}", rcode_name(soa.rcode)));
    }
    if let Some(to) = soa.referral(RecordType::SOA) {
        return Err(format!("SOA {zone}: {}", QueryError::Referral(to)));
    }
    let dnskey_count = keys
        .answers
        .iter()
        .filter(|r| opaque(r, DNSKEY).is_some() && display_name(&r.name) == zone)
        .count() as i64;
    let mut rrsigs = rrsig_facts(&soa.answers, RecordType::SOA, now);
    rrsigs.extend(rrsig_facts(&keys.answers, dnskey_type, now));
    let soa_signed = rrsigs.iter().any(|s| s.covers == "SOA");
    Ok(DnssecFacts {
        checked: true,
        dnskey_present: dnskey_count > 0,
        dnskey_count,
        soa_signed,
        present: dnskey_count > 0 && soa_signed,
        unsigned_servers: Vec::new(),
        min_days_left: rrsigs.iter().map(|s| s.days_left).min().unwrap_or(0),
        rrsigs,
    })
}

/// The zone's DNSSEC facts from what each nameserver address served (`(NS name, address,
/// facts)`, in order): signed only when every one of them is, every RRSIG tagged with where it
/// came from, the earliest expiry anywhere. A resolver may ask any of them, so one serving an
/// unsigned copy or stale signatures breaks validation for everyone who reaches it. Pure.
pub fn merge(per_server: Vec<(String, String, DnssecFacts)>) -> DnssecFacts {
    let mut m = DnssecFacts {
        checked: !per_server.is_empty(),
        dnskey_present: true,
        dnskey_count: i64::MAX,
        soa_signed: true,
        ..DnssecFacts::default()
    };
    for (server, address, f) in per_server {
        m.dnskey_present &= f.dnskey_present;
        m.dnskey_count = m.dnskey_count.min(f.dnskey_count);
        m.soa_signed &= f.soa_signed;
        if !f.present {
            m.unsigned_servers.push(format!("{server} ({address})"));
        }
        m.rrsigs.extend(f.rrsigs.into_iter().map(|s| RrsigFacts {
            server: server.clone(),
            address: address.clone(),
            ..s
        }));
    }
    if !m.checked {
        return DnssecFacts::default();
    }
    m.present = m.unsigned_servers.is_empty();
    m.min_days_left = m.rrsigs.iter().map(|s| s.days_left).min().unwrap_or(0);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrsig_bytes(covered: u16, exp: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&covered.to_be_bytes());
        b.extend_from_slice(&[13, 2]);
        b.extend_from_slice(&3600u32.to_be_bytes());
        b.extend_from_slice(&exp.to_be_bytes());
        b.extend_from_slice(&exp.wrapping_sub(86_400 * 30).to_be_bytes());
        b.extend_from_slice(&4242u16.to_be_bytes());
        b.extend_from_slice(b"\x07example\x03com\x00");
        b.extend_from_slice(&[0xaa; 64]);
        b
    }

    #[test]
    fn parses_rrsig() {
        let s = parse_rrsig(&rrsig_bytes(6, 1_900_000_000)).unwrap();
        assert_eq!(
            (s.type_covered, s.algorithm, s.labels, s.key_tag),
            (6, 13, 2, 4242)
        );
        assert_eq!(s.signer, "example.com");
        assert_eq!(s.expiration, 1_900_000_000);
    }

    #[test]
    fn rejects_bad_rrsig() {
        assert!(parse_rrsig(&[0; 10]).is_err());
        let mut b = rrsig_bytes(6, 1);
        b.truncate(22);
        assert!(parse_rrsig(&b).is_err());
        let mut b = rrsig_bytes(6, 1)[..18].to_vec();
        b.extend_from_slice(&[0xc0, 0x0c]);
        assert!(parse_rrsig(&b).is_err());
    }

    #[test]
    fn serial_arithmetic() {
        let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let t = serial_time(1_900_000_000 + 3 * 86_400 + 5, now);
        assert_eq!(days_left(t, now), 3);
        let t = serial_time(1_900_000_000 - 10, now);
        assert_eq!(days_left(t, now), -1);
        // After 2106 the 32-bit value wraps; the closest instant is still found.
        let later = OffsetDateTime::from_unix_timestamp(4_294_967_000).unwrap();
        let wrapped = serial_time(1_000, later);
        assert_eq!(wrapped.unix_timestamp(), 4_294_968_296);
    }

    fn facts(keys: i64, soa_days: Option<i64>) -> DnssecFacts {
        let rrsigs: Vec<RrsigFacts> = soa_days
            .map(|d| RrsigFacts {
                covers: "SOA".into(),
                days_left: d,
                ..RrsigFacts::default()
            })
            .into_iter()
            .collect();
        DnssecFacts {
            checked: true,
            dnskey_present: keys > 0,
            dnskey_count: keys,
            soa_signed: !rrsigs.is_empty(),
            present: keys > 0 && !rrsigs.is_empty(),
            unsigned_servers: Vec::new(),
            min_days_left: soa_days.unwrap_or(0),
            rrsigs,
        }
    }

    fn at(name: &str, addr: &str, f: DnssecFacts) -> (String, String, DnssecFacts) {
        (name.into(), addr.into(), f)
    }

    #[test]
    fn merge_takes_the_earliest_expiry_on_any_server() {
        // The primary re-signed for 29 days; a lagging secondary still serves 2-day signatures.
        let m = merge(vec![
            at("ns1.example", "192.0.2.1", facts(2, Some(29))),
            at("ns2.example", "198.51.100.1", facts(2, Some(2))),
        ]);
        assert!(m.checked && m.present && m.dnskey_present && m.soa_signed);
        assert_eq!((m.dnskey_count, m.min_days_left), (2, 2));
        let tagged: Vec<(&str, &str, i64)> = m
            .rrsigs
            .iter()
            .map(|s| (s.server.as_str(), s.address.as_str(), s.days_left))
            .collect();
        assert_eq!(
            tagged,
            [
                ("ns1.example", "192.0.2.1", 29),
                ("ns2.example", "198.51.100.1", 2)
            ]
        );
        assert!(m.unsigned_servers.is_empty());
        // The order of the servers does not change the verdict.
        let swapped = merge(vec![
            at("ns2.example", "198.51.100.1", facts(2, Some(2))),
            at("ns1.example", "192.0.2.1", facts(2, Some(29))),
        ]);
        assert_eq!((swapped.min_days_left, swapped.present), (2, true));
    }

    #[test]
    fn merge_names_a_server_serving_an_unsigned_copy() {
        let m = merge(vec![
            at("ns1.example", "192.0.2.1", facts(1, Some(20))),
            at("ns2.example", "198.51.100.1", facts(0, None)),
        ]);
        assert!(m.checked && !m.present && !m.dnskey_present && !m.soa_signed);
        assert_eq!(m.dnskey_count, 0);
        assert_eq!(m.unsigned_servers, ["ns2.example (198.51.100.1)"]);
        assert_eq!((m.rrsigs.len(), m.min_days_left), (1, 20));
        // Unsigned everywhere: every server is listed, no RRSIG.
        let m = merge(vec![
            at("ns1.example", "192.0.2.1", facts(0, None)),
            at("ns2.example", "198.51.100.1", facts(0, None)),
        ]);
        assert!(m.checked && !m.present);
        assert_eq!(m.unsigned_servers.len(), 2);
        assert_eq!((m.rrsigs.len(), m.min_days_left), (0, 0));
        // Nobody answered: nothing checked (the errors say why).
        assert_eq!(merge(Vec::new()), DnssecFacts::default());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse_rrsig(&bytes);
        }
    }
}
