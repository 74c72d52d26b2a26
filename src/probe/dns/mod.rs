//! The DNS probe: zone checks (mail policies, CAA, DNSSEC, delegation, zone transfer,
//! recursion, wildcards) and name checks (dangling CNAME), recorded as [`DnsFacts`].
//!
//! Which checks run (issue 4): zone checks on `[[domain]]` entries and on names that are a zone
//! apex (they have an SOA of their own, see [`is_zone_apex`]); name checks on every name.
//! [`probe`] decides by apex, [`probe_zone`] and [`probe_name`] force one kind.
//!
//! Ordinary lookups go to [`DnsProbeConfig::resolver`]; queries that must reach the zone's own
//! nameservers go to their addresses on [`DnsProbeConfig::ns_port`]. The system resolver is
//! never consulted. Every query is clipped to one total deadline; a section whose queries
//! failed is left `checked = false` and its reason lands in `errors`, so rules never judge it.

pub mod axfr;
pub mod caa;
pub mod client;
pub mod cname;
pub mod delegation;
pub mod dmarc;
pub mod dnssec;
pub mod mta_sts;
pub mod mx;
pub mod spf;
pub mod wildcard;

use crate::engine::limits::Limits;
use crate::fact::dns::{DmarcFacts, DmarcReportAuth, DnsFacts, SpfFacts};
use client::{display_name, fqdn, rcode_name, txt_strings, DnsClient, DnsResponse, QueryError};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

/// Out-of-zone name asked to test for open recursion: IANA's reserved example domain always
/// exists, so a recursive server answers it with data.
pub const DEFAULT_RECURSION_PROBE_NAME: &str = "example.com";

/// Everything the DNS probe needs besides the name.
#[derive(Debug, Clone)]
pub struct DnsProbeConfig {
    /// Where ordinary lookups go (`--resolver IP:PORT`).
    pub resolver: SocketAddr,
    /// Port of nameserver-direct queries (`--ns-port`, 53 by default).
    pub ns_port: u16,
    /// Per-query timeout.
    pub timeout: Duration,
    /// Everything for one name, together.
    pub deadline: Duration,
    pub max_records: usize,
    pub txt_max_bytes: usize,
    pub cname_depth: usize,
    pub ips_per_name: usize,
    /// Injected time for signature expiry.
    pub now: OffsetDateTime,
    /// Port of the MTA-STS policy host (443 outside tests and the demo).
    pub https_port: u16,
    /// Roots trusted for the MTA-STS policy fetch besides the Mozilla set.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The name asked to test recursion (must be outside the scanned zones).
    pub recursion_probe_name: String,
}

impl DnsProbeConfig {
    /// Defaults from the scan's limits: per-query timeout = the connect timeout, total deadline
    /// = the per-endpoint deadline.
    pub fn new(resolver: SocketAddr, limits: &Limits, now: OffsetDateTime) -> DnsProbeConfig {
        DnsProbeConfig {
            resolver,
            ns_port: 53,
            timeout: limits.timeout(),
            deadline: limits.endpoint_timeout(),
            max_records: limits.dns_records,
            txt_max_bytes: limits.dns_txt_bytes,
            cname_depth: limits.cname_depth,
            ips_per_name: limits.ips_per_name,
            now,
            https_port: 443,
            extra_roots: Vec::new(),
            recursion_probe_name: DEFAULT_RECURSION_PROBE_NAME.into(),
        }
    }

    fn client(&self) -> DnsClient {
        DnsClient {
            resolver: self.resolver,
            ns_port: self.ns_port,
            timeout: self.timeout,
            deadline: Instant::now() + self.deadline,
            max_records: self.max_records,
            txt_max_bytes: self.txt_max_bytes,
        }
    }
}

/// Lowercase, no trailing dot; `None` when not a DNS name.
pub fn normalize_name(name: &str) -> Option<String> {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    (!n.is_empty() && fqdn(&n).is_ok()).then_some(n)
}

/// Whether `name` owns an SOA (is a zone apex), and the zone it belongs to.
pub async fn is_zone_apex(client: &DnsClient, name: &str) -> Result<(bool, String), String> {
    let resp = client
        .lookup(name, RecordType::SOA)
        .await
        .map_err(|e| format!("SOA {name}: {e}"))?;
    apex_from(client, name, &resp).await
}

/// [`is_zone_apex`] from the answer to `name`'s SOA question.
async fn apex_from(
    client: &DnsClient,
    name: &str,
    resp: &DnsResponse,
) -> Result<(bool, String), String> {
    if !resp.is_definitive() {
        return Err(format!("SOA {name}: {}", rcode_name(resp.rcode)));
    }
    let owner = fqdn(name).map_err(|e| e.to_string())?;
    let apex = resp
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && r.name.eq_ignore_root(&owner));
    if apex {
        return Ok((true, name.to_string()));
    }
    let alias = resp
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME && r.name.eq_ignore_root(&owner));
    if alias {
        // The resolver followed the alias: its SOA is the target's zone. An alias is never an
        // apex; its own zone is the parent's.
        let parent = match name.split_once('.') {
            Some((_, p)) if !p.is_empty() => p,
            _ => return Ok((false, String::new())),
        };
        return Box::pin(is_zone_apex(client, parent))
            .await
            .map(|(_, zone)| (false, zone));
    }
    // NODATA/NXDOMAIN answers carry the zone's SOA in the authority section.
    let zone = resp
        .authorities
        .iter()
        .chain(resp.answers.iter())
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| display_name(&r.name))
        .unwrap_or_default();
    Ok((false, zone))
}

/// Run zone checks when `name` is a zone apex, and name checks always. One deadline covers
/// everything.
pub async fn probe(name: &str, cfg: &DnsProbeConfig) -> DnsFacts {
    let Some(n) = normalize_name(name) else {
        return invalid_name(name);
    };
    let client = cfg.client();
    match is_zone_apex(&client, &n).await {
        Ok((true, _)) => zone_checks(&client, &n, cfg).await,
        Ok((false, zone)) => {
            let mut f = name_checks(&client, &n, cfg).await;
            f.zone = zone;
            f
        }
        Err(e) => {
            let mut f = name_checks(&client, &n, cfg).await;
            f.errors.insert(0, e);
            f.complete = false;
            f
        }
    }
}

fn invalid_name(name: &str) -> DnsFacts {
    DnsFacts {
        name: name.chars().take(255).collect(),
        errors: vec![format!(
            "`{}` is not a DNS name",
            name.chars().take(64).collect::<String>()
        )],
        ..DnsFacts::default()
    }
}

/// Name checks: the CNAME chain and whether its end exists.
pub async fn probe_name(name: &str, cfg: &DnsProbeConfig) -> DnsFacts {
    let Some(n) = normalize_name(name) else {
        return invalid_name(name);
    };
    name_checks(&cfg.client(), &n, cfg).await
}

async fn name_checks(client: &DnsClient, n: &str, cfg: &DnsProbeConfig) -> DnsFacts {
    let mut f = DnsFacts {
        name: n.to_string(),
        ..DnsFacts::default()
    };
    let (cname, err) = cname::probe_cname(client, n, cfg.cname_depth).await;
    f.cname = cname;
    f.errors.extend(err);
    f.complete = f.errors.is_empty();
    f
}

/// Zone checks on `zone` (run even when it turns out not to be an apex: the user said so).
/// A name that does not exist gets no zone checks: every "missing" rule would fire on it.
pub async fn probe_zone(zone: &str, cfg: &DnsProbeConfig) -> DnsFacts {
    let Some(z) = normalize_name(zone) else {
        return invalid_name(zone);
    };
    zone_checks(&cfg.client(), &z, cfg).await
}

async fn zone_checks(client: &DnsClient, z: &str, cfg: &DnsProbeConfig) -> DnsFacts {
    let z = z.to_string();
    let mut f = DnsFacts {
        name: z.clone(),
        ..DnsFacts::default()
    };
    let mut errors: Vec<String> = Vec::new();
    let soa = client.lookup(&z, RecordType::SOA).await;
    if soa
        .as_ref()
        .is_ok_and(|r| r.rcode == ResponseCode::NXDomain)
    {
        f.errors.push(format!("{z} does not exist (NXDOMAIN)"));
        return f;
    }
    if let Some(why) = soa
        .as_ref()
        .map_or_else(no_zone_behind_error, no_zone_behind)
    {
        f.errors.push(format!("SOA {z}: {why}"));
        return f;
    }
    let apex = match soa {
        Ok(resp) => apex_from(client, &z, &resp).await,
        Err(e) => Err(format!("SOA {z}: {e}")),
    };
    match apex {
        Ok((apex, owner)) => {
            f.is_zone_apex = apex;
            f.zone = owner;
        }
        Err(e) => errors.push(e),
    }
    let fetch = mta_sts::FetchConfig {
        https_port: cfg.https_port,
        extra_roots: cfg.extra_roots.clone(),
        timeout: cfg.timeout * 2,
    };
    // Nameservers, SOA serials, zone transfer, recursion and DNSSEC belong to a zone, not to a
    // name inside it: for a name that is not an apex they are the enclosing zone's (a name in a
    // signed zone is signed; asking for DNSKEY or NS at the name itself would report "unsigned"
    // and "0 nameservers").
    let zone_of = if f.is_zone_apex || f.zone.is_empty() {
        z.clone()
    } else {
        f.zone.clone()
    };
    let (spf_r, dmarc_r, mx_r, sts_r, rpt_r, caa_r, wc_r, deleg, cname_r) = tokio::join!(
        probe_spf(client, &z),
        probe_dmarc(client, &z),
        mx::probe_mx(client, &z),
        mta_sts::probe_mta_sts(client, &z, &fetch),
        mta_sts::probe_tls_rpt(client, &z),
        caa::probe_caa(client, &z),
        wildcard::probe_wildcard(client, &z),
        delegation::probe_delegation(
            client,
            &zone_of,
            &cfg.recursion_probe_name,
            cfg.ips_per_name
        ),
        cname::probe_cname(client, &z, cfg.cname_depth),
    );
    match spf_r {
        Ok((s, inc)) => {
            f.spf = s;
            errors.extend(inc);
        }
        Err(e) => errors.push(e),
    }
    match dmarc_r {
        Ok((d, inc)) => {
            f.dmarc = d;
            errors.extend(inc);
        }
        Err(e) => errors.push(e),
    }
    macro_rules! take {
        ($res:expr, $field:ident) => {
            match $res {
                Ok(v) => f.$field = v,
                Err(e) => errors.push(e),
            }
        };
    }
    take!(mx_r, mx);
    take!(sts_r, mta_sts);
    take!(rpt_r, tls_rpt);
    take!(caa_r, caa);
    take!(wc_r, wildcard);
    f.cname = cname_r.0;
    errors.extend(cname_r.1);
    let d = deleg;
    errors.extend(d.errors.iter().cloned());
    // DNSSEC: ask every authoritative server directly (resolvers may strip RRSIGs, and they
    // ask any nameserver, so a secondary serving stale signatures or an unsigned copy breaks
    // the zone for some), concurrently; fall back to the resolver with RD when no nameserver
    // answered. A server whose answer failed is an error, not "unsigned".
    let (servers, rd) = if d.authoritative_servers.is_empty() {
        let resolver = delegation::AuthoritativeServer {
            name: "resolver".into(),
            addr: cfg.resolver,
        };
        (vec![resolver], true)
    } else {
        (d.authoritative_servers, false)
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in servers.iter().enumerate() {
        let (client, zone, addr, now) = (client.clone(), zone_of.clone(), s.addr, cfg.now);
        set.spawn(async move { (i, dnssec::probe_dnssec(&client, &zone, addr, rd, now).await) });
    }
    let mut answers = Vec::new();
    while let Some(res) = set.join_next().await {
        match res {
            Ok(answer) => answers.push(answer),
            Err(e) => errors.push(format!("DNSSEC {zone_of}: {e}")),
        }
    }
    answers.sort_by_key(|(i, _)| *i);
    let mut per_server = Vec::new();
    for (i, answer) in answers {
        let s = &servers[i];
        let address = if rd {
            s.addr.to_string()
        } else {
            s.addr.ip().to_string()
        };
        match answer {
            Ok(facts) => per_server.push((s.name.clone(), address, facts)),
            Err(e) if rd => errors.push(e),
            Err(e) => errors.push(format!("{} ({address}): {e}", s.name)),
        }
    }
    f.dnssec = dnssec::merge(per_server);
    f.ns = d.ns;
    f.soa = d.soa;
    f.axfr = d.axfr;
    f.recursion = d.recursion;
    f.complete = errors.is_empty();
    f.errors = errors;
    f
}

/// Why the answer to a zone's own SOA question shows there is no zone to check, when it does:
/// every other zone question would come back just as empty, and reading those as "no SPF, no
/// DMARC, no CAA, no nameservers" reports a zone nobody could reach. An existing zone answers
/// with its SOA; a name inside a zone gets its zone's SOA in the authority section of the
/// empty answer (RFC 2308 §3, which resolvers pass on). An answer with neither is what Unbound
/// returns when the delegation is lame (the nameservers it was sent to do not serve the zone).
fn no_zone_behind(resp: &DnsResponse) -> Option<String> {
    let soa_or_alias = resp
        .answers
        .iter()
        .chain(resp.authorities.iter())
        .any(|r| matches!(r.record_type(), RecordType::SOA | RecordType::CNAME));
    (resp.rcode == ResponseCode::NoError && !soa_or_alias).then(|| {
        "the resolver answered NOERROR without an SOA record (neither the zone's nor, in the \
         authority section, that of a zone holding the name), which is how resolvers answer when \
         the zone's nameservers did not answer for it (a lame delegation); no zone check can be \
         drawn"
            .to_string()
    })
}

/// [`no_zone_behind`] for a failed SOA question: a referral (the resolver refused to recurse,
/// or is an authoritative server for a parent zone) leaves every zone question unanswered.
fn no_zone_behind_error(e: &QueryError) -> Option<String> {
    matches!(e, QueryError::Referral(_)).then(|| e.to_string())
}

/// The DNS as SPF counting sees it, through the resolver.
struct ResolverSpfSource<'a> {
    client: &'a DnsClient,
}

impl spf::SpfSource for ResolverSpfSource<'_> {
    async fn txt(&self, domain: &str) -> spf::Lookup<Vec<String>> {
        match self.client.lookup(domain, RecordType::TXT).await {
            Ok(r) if r.is_void(RecordType::TXT) => spf::Lookup::Void,
            Ok(r) if r.rcode == ResponseCode::NoError => {
                spf::Lookup::Found(txt_strings(&r, self.client.txt_max_bytes))
            }
            Ok(r) => spf::Lookup::Failed(rcode_name(r.rcode)),
            Err(e) => spf::Lookup::Failed(e.to_string()),
        }
    }

    async fn exists(&self, domain: &str, kind: &str) -> spf::Lookup<()> {
        let types: &[RecordType] = match kind {
            "mx" => &[RecordType::MX],
            // `a` matches A or AAAA by the client's family: void only when both are empty.
            _ => &[RecordType::A, RecordType::AAAA],
        };
        for t in types {
            match self.client.lookup(domain, *t).await {
                Ok(r) if r.is_void(*t) => {}
                Ok(r) if r.rcode == ResponseCode::NoError => return spf::Lookup::Found(()),
                Ok(r) => return spf::Lookup::Failed(rcode_name(r.rcode)),
                Err(e) => return spf::Lookup::Failed(e.to_string()),
            }
            if kind == "exists" {
                break;
            }
        }
        spf::Lookup::Void
    }
}

/// TXT strings at `name`: `Ok(None)` for NXDOMAIN.
async fn txt_at(client: &DnsClient, name: &str) -> Result<Vec<String>, String> {
    let r = client
        .lookup(name, RecordType::TXT)
        .await
        .map_err(|e| format!("TXT {name}: {e}"))?;
    if !r.is_definitive() {
        return Err(format!("TXT {name}: {}", rcode_name(r.rcode)));
    }
    Ok(txt_strings(&r, client.txt_max_bytes))
}

async fn probe_spf(client: &DnsClient, domain: &str) -> Result<(SpfFacts, Vec<String>), String> {
    let txts = txt_at(client, domain).await?;
    let source = ResolverSpfSource { client };
    Ok(spf::evaluate(domain, &txts, &source).await)
}

/// DMARC at `_dmarc.<domain>`, else at the organisational domain (RFC 7489 §6.6.3), then the
/// authorisation of every external report destination (§7.1).
async fn probe_dmarc(
    client: &DnsClient,
    domain: &str,
) -> Result<(DmarcFacts, Vec<String>), String> {
    let org = dmarc::organizational_domain(domain);
    let mut record_domain = domain.to_string();
    let txts = txt_at(client, &format!("_dmarc.{domain}")).await?;
    let mut f = dmarc::facts_from_records(&txts, domain, domain);
    if !f.present && f.record.is_empty() && org != domain {
        let txts = txt_at(client, &format!("_dmarc.{org}")).await?;
        f = dmarc::facts_from_records(&txts, &org, domain);
        f.org_domain_used = f.present;
        record_domain = org.clone();
    }
    f.org_domain = org;
    if !f.record.is_empty() {
        f.record_name = format!("_dmarc.{record_domain}");
    }
    let mut incomplete = Vec::new();
    let uris: Vec<String> = f.rua.iter().chain(f.ruf.iter()).cloned().collect();
    let mut seen = std::collections::BTreeSet::new();
    for uri in uris {
        let Some(rd) = dmarc::report_domain(&uri) else {
            continue;
        };
        if !seen.insert(rd.clone()) {
            continue;
        }
        let external = dmarc::is_external(&record_domain, &rd);
        let mut auth = DmarcReportAuth {
            uri,
            domain: rd.clone(),
            external,
            authorized: !external,
            checked: !external,
        };
        if external {
            let q = dmarc::report_authorization_name(&record_domain, &rd);
            match txt_at(client, &q).await {
                Ok(txts) => {
                    auth.checked = true;
                    auth.authorized = txts.iter().any(|t| dmarc::is_dmarc(t));
                }
                Err(e) => incomplete.push(e),
            }
        }
        f.reports.push(auth);
    }
    f.unauthorized_report = f.reports.iter().any(|r| r.checked && !r.authorized);
    Ok((f, incomplete))
}

/// Addresses of a name through the resolver (for callers that have only a [`DnsProbeConfig`]).
pub async fn resolve(name: &str, cfg: &DnsProbeConfig) -> Result<Vec<std::net::IpAddr>, String> {
    let client = cfg.client();
    let mut out = Vec::new();
    for t in [RecordType::A, RecordType::AAAA] {
        let r = client
            .lookup(name, t)
            .await
            .map_err(|e| format!("{t} {name}: {e}"))?;
        out.extend(client::addresses(&r));
    }
    out.truncate(cfg.ips_per_name);
    Ok(out)
}

#[cfg(test)]
mod lab_tests;
