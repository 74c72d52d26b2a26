//! Facts of the `dns` subject: one zone (zone checks) or one name (name checks).
//!
//! Every section carries `checked`: true only when the probe got a definitive answer for it
//! (an answer or NXDOMAIN/NODATA, not a timeout or SERVFAIL). Rules test `checked` first, so an
//! unreachable resolver makes the subject incomplete instead of producing "missing" findings.
//! Numbers are `i64` (CEL's `int`) so rules compare them with plain integer literals, and
//! nothing is optional: absent values are empty strings, empty lists or zero, which keeps the
//! CEL conditions short. Judgements that need several facts at once (`permissive`,
//! `too_many_lookups`, `weak`, `same_network`, …) are computed here as booleans, with the
//! underlying facts next to them for custom rules.

use super::TargetFacts;
use serde::{Deserialize, Serialize};

/// All facts of one `dns` subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsSubject {
    /// The DNS name (zone apex or record name), without the trailing dot.
    pub endpoint: String,
    pub target: TargetFacts,
    pub dns: DnsFacts,
}

impl DnsSubject {
    pub fn new(target: TargetFacts, dns: DnsFacts) -> DnsSubject {
        DnsSubject {
            endpoint: dns.name.clone(),
            target,
            dns,
        }
    }

    /// Tells several findings of one rule apart: the record name.
    pub fn item_key(&self) -> Option<String> {
        Some(self.dns.name.clone())
    }

    /// A fully populated example (every list non-empty), for rule field checking.
    pub fn sample() -> DnsSubject {
        sample()
    }
}

/// `dns.*`: what the DNS probe observed about one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsFacts {
    /// The name examined, lowercase, without the trailing dot.
    pub name: String,
    /// The name has an SOA record of its own: zone checks ran on it.
    pub is_zone_apex: bool,
    /// The zone the name belongs to (itself when it is an apex), when it could be learnt.
    pub zone: String,
    /// Every section that was attempted got a definitive answer.
    pub complete: bool,
    /// Why a section is incomplete (timeouts, SERVFAIL, malformed answers), one line each.
    pub errors: Vec<String>,
    pub spf: SpfFacts,
    pub dmarc: DmarcFacts,
    pub mx: MxFacts,
    pub mta_sts: MtaStsFacts,
    pub tls_rpt: TlsRptFacts,
    pub caa: CaaFacts,
    pub dnssec: DnssecFacts,
    pub ns: NsFacts,
    pub soa: SoaFacts,
    pub axfr: AxfrFacts,
    pub recursion: RecursionFacts,
    pub cname: CnameFacts,
    pub wildcard: WildcardFacts,
}

/// One SPF term (RFC 7208 §4.6.1): a mechanism with its qualifier, or a modifier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpfTerm {
    /// `+`, `-`, `~` or `?` for mechanisms (explicit or the default `+`); empty for modifiers.
    pub qualifier: String,
    /// Mechanism or modifier name, lowercase: `all`, `include`, `a`, `mx`, `ptr`, `ip4`, `ip6`,
    /// `exists`, `redirect`, `exp`, or an unknown modifier's name.
    pub kind: String,
    /// The argument (domain-spec, network, …), empty when none.
    pub value: String,
    /// True for modifiers (`name=value`).
    pub modifier: bool,
}

/// `dns.spf`: the SPF policy of the zone (RFC 7208).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpfFacts {
    pub checked: bool,
    /// Exactly one `v=spf1` TXT record exists.
    pub present: bool,
    /// How many `v=spf1` TXT records exist (more than one is a permanent error).
    pub records_found: i64,
    /// The record (the first when there are several), capped.
    pub record: String,
    pub terms: Vec<SpfTerm>,
    /// The qualified `all` in effect: `-all`, `~all`, `+all`, `?all`; inherited through
    /// `redirect`; `?all` when neither exists (RFC 7208 §4.7: the default result is neutral);
    /// empty when a `redirect` target has no usable SPF record (RFC 7208 §6.1: permerror).
    pub all: String,
    /// `all` is `+all` or `?all`: any host may send as the domain.
    pub permissive: bool,
    /// A `ptr` mechanism appears in the record or a record it includes (RFC 7208 §5.5: MUST NOT).
    pub ptr: bool,
    /// DNS-querying terms (include, a, mx, ptr, exists, redirect), counted recursively.
    pub lookups: i64,
    /// Lookups that returned NXDOMAIN or no records (RFC 7208 §4.6.4 allows two).
    pub void_lookups: i64,
    /// `lookups > 10` or `void_lookups > 2`.
    pub too_many_lookups: bool,
    /// Syntax errors, several records, `ptr`, or an include/redirect without a valid record.
    pub invalid: bool,
    /// What is wrong, one line each (also for included records).
    pub errors: Vec<String>,
    /// Domains whose SPF record was read while counting (includes and redirects).
    pub included: Vec<String>,
}

/// Authorisation of an external DMARC report destination (RFC 7489 §7.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DmarcReportAuth {
    /// The report URI as published (`mailto:…`).
    pub uri: String,
    /// The domain of the report address.
    pub domain: String,
    /// The address is outside the policy domain's organisational domain.
    pub external: bool,
    /// `<policy-domain>._report._dmarc.<report-domain>` publishes `v=DMARC1` (true when
    /// `external` is false: no authorisation is needed).
    pub authorized: bool,
    /// The authorisation lookup got a definitive answer.
    pub checked: bool,
}

/// `dns.dmarc`: the DMARC policy (RFC 7489).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DmarcFacts {
    pub checked: bool,
    /// A valid DMARC record applies (at the name or its organisational domain).
    pub present: bool,
    pub record: String,
    /// Where the record was found (`_dmarc.<domain>`), empty when none.
    pub record_name: String,
    /// The organisational domain of the name (see `probe::dns::dmarc::organizational_domain`).
    pub org_domain: String,
    /// The record came from the organisational domain, not the name itself.
    pub org_domain_used: bool,
    /// Tag values; empty when the tag is absent (`sp` absent means "same as p").
    pub p: String,
    pub sp: String,
    /// `pct` (default 100).
    pub pct: i64,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    /// `r` or `s` (default `r`).
    pub adkim: String,
    pub aspf: String,
    /// The policy applied to this domain does not enforce: `pct` < 100, or `none` as the
    /// policy in effect (`p`; for a subdomain using its organisational domain's record, `sp`
    /// if present else `p`), or `sp=none` in a record published at the organisational domain
    /// (RFC 7489 §6.3: `sp` is ignored in records below it).
    pub weak: bool,
    pub reports: Vec<DmarcReportAuth>,
    /// An external report destination has not authorised the domain.
    pub unauthorized_report: bool,
    pub errors: Vec<String>,
}

/// One MX record and what its exchange resolves to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MxHost {
    pub preference: i64,
    pub exchange: String,
    /// The exchange is an alias (RFC 2181 §10.3: MX must not point to a CNAME).
    pub is_cname: bool,
    /// The exchange has an A or AAAA record.
    pub resolvable: bool,
    pub addresses: Vec<String>,
}

/// `dns.mx`: mail exchangers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MxFacts {
    pub checked: bool,
    pub records: Vec<MxHost>,
    /// The domain publishes a null MX (RFC 7505: `0 .`): it accepts no mail.
    pub null_mx: bool,
    /// The domain receives mail: MX records other than a null MX.
    pub accepts_mail: bool,
    /// An MX points to a CNAME, does not resolve, or a null MX is mixed with other MX.
    pub invalid: bool,
    pub problems: Vec<String>,
}

/// `dns.mta_sts`: MTA Strict Transport Security (RFC 8461).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MtaStsFacts {
    pub checked: bool,
    /// A `v=STSv1` TXT record exists at `_mta-sts.<domain>`.
    pub record_present: bool,
    pub record: String,
    pub id: String,
    pub policy_url: String,
    /// The policy was fetched over HTTPS with a valid certificate and parsed.
    pub policy_fetched: bool,
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    pub max_age: i64,
    pub mx: Vec<String>,
    /// Record and policy present and valid, mode not `none`.
    pub valid: bool,
    pub errors: Vec<String>,
}

/// `dns.tls_rpt`: SMTP TLS reporting (RFC 8460).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsRptFacts {
    pub checked: bool,
    pub present: bool,
    pub record: String,
    pub rua: Vec<String>,
    pub errors: Vec<String>,
}

/// `dns.caa`: Certification Authority Authorization (RFC 8659).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaaFacts {
    pub checked: bool,
    /// A CAA RRset applies to the name (found at it or an ancestor).
    pub present: bool,
    /// The name where the relevant RRset was found (climbing the tree).
    pub found_at: String,
    /// Records in presentation form: `0 issue "letsencrypt.org"`.
    pub records: Vec<String>,
    /// Issuer domains of `issue` properties (empty string for `;`, which forbids issuance).
    pub issue: Vec<String>,
    pub issuewild: Vec<String>,
    pub iodef: Vec<String>,
}

/// One RRSIG seen at the apex, as one nameserver address serves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RrsigFacts {
    /// The NS name that served it (`resolver` when no nameserver answered and the resolver was
    /// asked instead).
    pub server: String,
    /// Its address (the resolver's `IP:port` in that case).
    pub address: String,
    /// The type covered: `SOA`, `DNSKEY`.
    pub covers: String,
    pub algorithm: i64,
    pub key_tag: i64,
    pub signer: String,
    /// Signature expiration (RFC 3339).
    pub expires: String,
    /// Whole days until expiration (negative when expired).
    pub days_left: i64,
}

/// `dns.dnssec`: whether the zone is signed, and how long its signatures last.
///
/// Asked of every authoritative nameserver address (a resolver may ask any of them, so one
/// serving an unsigned or stale copy fails validation for everyone who reaches it): the
/// booleans hold only when they hold on every address that answered, the RRSIGs are all of
/// theirs, and `min_days_left` is the earliest expiry anywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnssecFacts {
    pub checked: bool,
    /// The apex publishes DNSKEY records (on every nameserver that answered).
    pub dnskey_present: bool,
    /// DNSKEY records at the apex (the fewest any nameserver served).
    pub dnskey_count: i64,
    /// The SOA answer carried an RRSIG when asked with the DO bit (on every nameserver).
    pub soa_signed: bool,
    /// DNSKEY present and answers signed, on every nameserver that answered.
    pub present: bool,
    /// Nameservers (`name (address)`) that served the zone without DNSKEY or without a signed
    /// SOA.
    pub unsigned_servers: Vec<String>,
    pub rrsigs: Vec<RrsigFacts>,
    /// The smallest `days_left` among the RRSIGs on SOA and DNSKEY (0 when none).
    pub min_days_left: i64,
}

/// One nameserver of the zone, queried directly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NsServer {
    pub name: String,
    pub addresses: Vec<String>,
    /// At least one address answered the SOA query.
    pub responded: bool,
    /// An address answered the SOA query with the AA bit and the zone's SOA.
    pub authoritative: bool,
    /// Does not answer authoritatively (answered without authority, or did not answer while
    /// other nameservers did; an NS name without addresses is lame too).
    pub lame: bool,
    /// The SOA serial it serves (0 when not authoritative).
    pub serial: i64,
}

/// `dns.ns`: delegation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NsFacts {
    pub checked: bool,
    pub names: Vec<String>,
    pub count: i64,
    pub servers: Vec<NsServer>,
    /// Fewer than two NS records (RFC 1034 §4.1 asks for at least two).
    pub single: bool,
    /// Every NS address is in one IPv4 /24 and one IPv6 /48: one outage takes all down.
    pub same_network: bool,
    pub lame: bool,
    pub lame_servers: Vec<String>,
}

/// One SOA serial as served by one nameserver address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoaSerial {
    pub server: String,
    pub address: String,
    pub serial: i64,
}

/// `dns.soa`: SOA consistency across nameservers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoaFacts {
    pub checked: bool,
    /// The serial seen through the resolver.
    pub serial: i64,
    pub mname: String,
    pub rname: String,
    pub serials: Vec<SoaSerial>,
    /// Authoritative nameservers serve different serials.
    pub serial_mismatch: bool,
}

/// The result of one zone transfer attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AxfrAttempt {
    pub server: String,
    pub address: String,
    /// The server started a transfer (NOERROR, first record the zone's SOA).
    pub allowed: bool,
    /// Records received before we stopped reading (we stop after the first messages).
    pub records_seen: i64,
    /// The response code, or the transport error.
    pub result: String,
}

/// `dns.axfr`: zone transfer (AXFR) exposure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AxfrFacts {
    pub checked: bool,
    /// A transfer from any nameserver succeeded.
    pub open: bool,
    pub attempts: Vec<AxfrAttempt>,
    /// Names learnt from allowed transfers (for name checks), capped.
    pub names: Vec<String>,
}

/// The recursion test of one nameserver address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecursionTest {
    pub server: String,
    pub address: String,
    /// RA set and a non-authoritative answer (or NXDOMAIN) for a name outside its zones.
    pub open: bool,
    pub result: String,
}

/// `dns.recursion`: authoritative servers that also resolve for anyone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecursionFacts {
    pub checked: bool,
    pub open: bool,
    /// The out-of-zone name asked.
    pub probe_name: String,
    pub tests: Vec<RecursionTest>,
}

/// `dns.cname`: the name's alias and whether its target exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CnameFacts {
    pub checked: bool,
    /// The name is a CNAME.
    pub present: bool,
    /// Its direct target.
    pub target: String,
    /// Every alias followed, in order (capped at the CNAME depth limit).
    pub chain: Vec<String>,
    /// `none` (no CNAME), `resolves`, `dangling` (the end of the chain is NXDOMAIN),
    /// `nodata` (exists but has no address), `unknown` (SERVFAIL, timeout, loop, too deep).
    pub status: String,
    pub dangling: bool,
}

/// `dns.wildcard`: a wildcard record answers for any name below the zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WildcardFacts {
    pub checked: bool,
    pub present: bool,
    /// The random name asked.
    pub probe_name: String,
    /// What it answered (`A 192.0.2.1`, `CNAME x.example.`, …).
    pub answers: Vec<String>,
}

/// A fully populated `dns` subject: every list non-empty, every section checked.
pub fn sample() -> DnsSubject {
    let ns = |name: &str, ip: &str, serial: i64| NsServer {
        name: name.into(),
        addresses: vec![ip.into()],
        responded: true,
        authoritative: true,
        lame: false,
        serial,
    };
    let dns = DnsFacts {
        name: "example.com".into(),
        is_zone_apex: true,
        zone: "example.com".into(),
        complete: true,
        errors: vec!["ns2.example.net (192.0.2.54): timeout".into()],
        spf: SpfFacts {
            checked: true,
            present: true,
            records_found: 1,
            record: "v=spf1 include:_spf.example.net ptr ~all".into(),
            terms: vec![SpfTerm {
                qualifier: "+".into(),
                kind: "include".into(),
                value: "_spf.example.net".into(),
                modifier: false,
            }],
            all: "~all".into(),
            permissive: false,
            ptr: true,
            lookups: 3,
            void_lookups: 0,
            too_many_lookups: false,
            invalid: true,
            errors: vec!["`ptr` mechanism used (RFC 7208 §5.5)".into()],
            included: vec!["_spf.example.net".into()],
        },
        dmarc: DmarcFacts {
            checked: true,
            present: true,
            record: "v=DMARC1; p=none; rua=mailto:d@reports.example.net".into(),
            record_name: "_dmarc.example.com".into(),
            org_domain: "example.com".into(),
            org_domain_used: false,
            p: "none".into(),
            sp: "none".into(),
            pct: 100,
            rua: vec!["mailto:d@reports.example.net".into()],
            ruf: vec!["mailto:f@example.com".into()],
            adkim: "r".into(),
            aspf: "r".into(),
            weak: true,
            reports: vec![DmarcReportAuth {
                uri: "mailto:d@reports.example.net".into(),
                domain: "reports.example.net".into(),
                external: true,
                authorized: false,
                checked: true,
            }],
            unauthorized_report: true,
            errors: vec!["unknown tag `foo`".into()],
        },
        mx: MxFacts {
            checked: true,
            records: vec![MxHost {
                preference: 10,
                exchange: "mail.example.com".into(),
                is_cname: false,
                resolvable: true,
                addresses: vec!["192.0.2.25".into()],
            }],
            null_mx: false,
            accepts_mail: true,
            invalid: false,
            problems: vec!["mx.example.com is a CNAME".into()],
        },
        mta_sts: MtaStsFacts {
            checked: true,
            record_present: true,
            record: "v=STSv1; id=20240101".into(),
            id: "20240101".into(),
            policy_url: "https://mta-sts.example.com/.well-known/mta-sts.txt".into(),
            policy_fetched: true,
            mode: "enforce".into(),
            max_age: 604_800,
            mx: vec!["mail.example.com".into()],
            valid: true,
            errors: vec!["policy: unknown key `foo`".into()],
        },
        tls_rpt: TlsRptFacts {
            checked: true,
            present: true,
            record: "v=TLSRPTv1; rua=mailto:tls@example.com".into(),
            rua: vec!["mailto:tls@example.com".into()],
            errors: vec!["unknown field".into()],
        },
        caa: CaaFacts {
            checked: true,
            present: true,
            found_at: "example.com".into(),
            records: vec!["0 issue \"letsencrypt.org\"".into()],
            issue: vec!["letsencrypt.org".into()],
            issuewild: vec![String::new()],
            iodef: vec!["mailto:security@example.com".into()],
        },
        dnssec: DnssecFacts {
            checked: true,
            dnskey_present: true,
            dnskey_count: 2,
            soa_signed: true,
            present: true,
            unsigned_servers: vec!["ns2.example.net (198.51.100.53)".into()],
            rrsigs: vec![RrsigFacts {
                server: "ns1.example.com".into(),
                address: "192.0.2.53".into(),
                covers: "SOA".into(),
                algorithm: 13,
                key_tag: 12345,
                signer: "example.com".into(),
                expires: "2030-01-01T00:00:00Z".into(),
                days_left: 12,
            }],
            min_days_left: 12,
        },
        ns: NsFacts {
            checked: true,
            names: vec!["ns1.example.com".into(), "ns2.example.net".into()],
            count: 2,
            servers: vec![
                ns("ns1.example.com", "192.0.2.53", 2024010101),
                ns("ns2.example.net", "198.51.100.53", 2024010101),
            ],
            single: false,
            same_network: false,
            lame: false,
            lame_servers: vec!["ns3.example.org".into()],
        },
        soa: SoaFacts {
            checked: true,
            serial: 2024010101,
            mname: "ns1.example.com".into(),
            rname: "hostmaster.example.com".into(),
            serials: vec![SoaSerial {
                server: "ns1.example.com".into(),
                address: "192.0.2.53".into(),
                serial: 2024010101,
            }],
            serial_mismatch: false,
        },
        axfr: AxfrFacts {
            checked: true,
            open: false,
            attempts: vec![AxfrAttempt {
                server: "ns1.example.com".into(),
                address: "192.0.2.53".into(),
                allowed: false,
                records_seen: 0,
                result: "REFUSED".into(),
            }],
            names: vec!["www.example.com".into()],
        },
        recursion: RecursionFacts {
            checked: true,
            open: false,
            probe_name: "example.org".into(),
            tests: vec![RecursionTest {
                server: "ns1.example.com".into(),
                address: "192.0.2.53".into(),
                open: false,
                result: "REFUSED".into(),
            }],
        },
        cname: CnameFacts {
            checked: true,
            present: true,
            target: "shop.example.net".into(),
            chain: vec!["shop.example.net".into()],
            status: "resolves".into(),
            dangling: false,
        },
        wildcard: WildcardFacts {
            checked: true,
            present: false,
            probe_name: "posture-wc-0123456789abcdef.example.com".into(),
            answers: vec!["A 192.0.2.1".into()],
        },
    };
    DnsSubject {
        endpoint: "example.com".into(),
        target: TargetFacts {
            host: "example.com".into(),
            ip: None,
            port: None,
            tags: vec!["mail".into()],
            owner: Some("mail-team".into()),
        },
        dns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_no_empty_lists(path: &str, v: &serde_json::Value) {
        match v {
            serde_json::Value::Array(a) => {
                assert!(!a.is_empty(), "empty list at {path}");
                for (i, x) in a.iter().enumerate() {
                    assert_no_empty_lists(&format!("{path}[{i}]"), x);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    assert_no_empty_lists(&format!("{path}.{k}"), x);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn sample_is_fully_populated() {
        let s = sample();
        let v = serde_json::to_value(&s).unwrap();
        assert_no_empty_lists("", &v);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["dns", "endpoint", "target"]);
        assert_eq!(v["dns"]["dmarc"]["p"], "none");
        assert_eq!(v["target"]["tags"][0], "mail");
        assert_eq!(s.item_key().as_deref(), Some("example.com"));
    }

    #[test]
    fn facts_round_trip_through_json() {
        let s = sample();
        let json = serde_json::to_string(&s).unwrap();
        let back: DnsSubject = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
