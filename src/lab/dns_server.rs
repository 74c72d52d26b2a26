//! An in-process authoritative DNS server for the demo lab and the tests.
//!
//! hickory-server carries the transport (UDP and TCP on one port); the answers come from a
//! small authority written here over zone files parsed by hickory-proto's zone parser, because
//! the lab needs what hickory's own stores cannot do without their DNSSEC features: serving
//! pre-made DNSKEY/RRSIG records (returned with the DO bit, RFC 4035 §3.1.1), per-zone AXFR
//! policy, and an "open resolver" mode that answers names outside its zones with RA set.
//!
//! Zone file extensions, for DNSSEC records only (hickory's parser refuses them): a `DNSKEY` or
//! `RRSIG` line must be on one line with an explicit owner; RRSIG times may be
//! `YYYYMMDDHHmmSS`, seconds since the epoch, or `now+7d` / `now-2h` (relative to server start,
//! so fixtures never age).
//!
//! Deliberate misconfigurations are made by how servers are started: a nameserver that does not
//! load the zone is lame (REFUSED), two nameservers with different zone texts disagree on the
//! serial, `axfr_zones` opens transfers, `open_recursion` makes an open resolver.

use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;
use time::OffsetDateTime;

/// TCP idle timeout of the lab server.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// CNAME hops the lab server follows inside its own zones.
const LAB_CNAME_DEPTH: usize = 8;
/// The address an open-recursion lab server "resolves" every outside name to.
pub const OPEN_RESOLVER_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

/// How a lab server behaves besides serving its zones.
#[derive(Debug, Clone, Default)]
pub struct DnsServerOptions {
    /// Zones (names, no trailing dot) whose AXFR is allowed to anyone.
    pub axfr_zones: Vec<String>,
    /// Answer names outside its zones with RA set and a made-up address, like an open resolver.
    pub open_recursion: bool,
}

/// A running lab server. Dropping it stops it.
pub struct DnsServerHandle {
    pub addr: SocketAddr,
    server: Server<LabAuthority>,
}

impl DnsServerHandle {
    /// Stop serving and wait for the server tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

impl Drop for DnsServerHandle {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}

/// Why a zone could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("zone {zone}: {message}")]
    Parse { zone: String, message: String },
}

impl From<ZoneError> for io::Error {
    fn from(e: ZoneError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }
}

/// One loaded zone: records by lowercase owner name.
#[derive(Debug, Clone)]
struct Zone {
    origin: Name,
    records: BTreeMap<Name, Vec<Record>>,
}

impl Zone {
    fn soa(&self) -> Vec<Record> {
        self.rrset(&self.origin, RecordType::SOA)
    }

    fn rrset(&self, name: &Name, t: RecordType) -> Vec<Record> {
        self.records
            .get(&name.to_lowercase())
            .map(|v| v.iter().filter(|r| r.record_type() == t).cloned().collect())
            .unwrap_or_default()
    }

    /// RRSIGs at `name` covering `t`.
    fn sigs(&self, name: &Name, t: RecordType) -> Vec<Record> {
        self.rrset(name, RecordType::RRSIG)
            .into_iter()
            .filter(|r| match &r.data {
                RData::Unknown { rdata, .. } => {
                    rdata.anything.len() >= 2
                        && u16::from_be_bytes([rdata.anything[0], rdata.anything[1]])
                            == u16::from(t)
                }
                _ => false,
            })
            .collect()
    }

    /// True when `name` owns records or is an empty non-terminal.
    fn exists(&self, name: &Name) -> bool {
        let n = name.to_lowercase();
        self.records.contains_key(&n) || self.records.keys().any(|k| n.zone_of(k) && k != &n)
    }
}

/// Parse a zone text, with the DNSSEC extension lines described in the module docs.
fn load_zone(origin: &str, text: &str, now: OffsetDateTime) -> Result<Zone, ZoneError> {
    let err = |message: String| ZoneError::Parse {
        zone: origin.to_string(),
        message,
    };
    let origin_name = Name::from_ascii(format!("{}.", origin.trim_end_matches('.')))
        .map_err(|e| err(e.to_string()))?;
    let mut plain = String::new();
    let mut extra: Vec<Record> = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line
            .split(';')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ty_pos = tokens.iter().position(|t| *t == "RRSIG" || *t == "DNSKEY");
        match ty_pos {
            Some(p) if p >= 1 && !line.starts_with([' ', '\t']) => {
                extra.push(
                    parse_dnssec_line(&tokens, p, &origin_name, now)
                        .map_err(|m| err(format!("`{line}`: {m}")))?,
                );
                plain.push('\n');
            }
            _ => {
                plain.push_str(line);
                plain.push('\n');
            }
        }
    }
    let (_, sets) = Parser::new(plain, None, Some(origin_name.clone()))
        .parse()
        .map_err(|e| err(e.to_string()))?;
    let mut records: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
    for set in sets.values() {
        for r in set.records_without_rrsigs() {
            records
                .entry(r.name.to_lowercase())
                .or_default()
                .push(r.clone());
        }
    }
    for r in extra {
        records.entry(r.name.to_lowercase()).or_default().push(r);
    }
    let zone = Zone {
        origin: origin_name.to_lowercase(),
        records,
    };
    if zone.soa().is_empty() {
        return Err(err("no SOA at the apex".into()));
    }
    Ok(zone)
}

fn parse_dnssec_line(
    tokens: &[&str],
    ty: usize,
    origin: &Name,
    now: OffsetDateTime,
) -> Result<Record, String> {
    let owner = match tokens[0] {
        "@" => origin.clone(),
        n if n.ends_with('.') => Name::from_ascii(n).map_err(|e| e.to_string())?,
        n => Name::from_ascii(n)
            .map_err(|e| e.to_string())?
            .append_domain(origin)
            .map_err(|e| e.to_string())?,
    };
    let ttl = tokens[1..ty]
        .iter()
        .find_map(|t| t.parse::<u32>().ok())
        .unwrap_or(3600);
    let f = &tokens[ty + 1..];
    let (code, rdata) = if tokens[ty] == "DNSKEY" {
        if f.len() < 4 {
            return Err("DNSKEY needs flags protocol algorithm key".into());
        }
        let mut b = Vec::new();
        b.extend_from_slice(
            &f[0]
                .parse::<u16>()
                .map_err(|e| e.to_string())?
                .to_be_bytes(),
        );
        b.push(f[1].parse::<u8>().map_err(|e| e.to_string())?);
        b.push(f[2].parse::<u8>().map_err(|e| e.to_string())?);
        b.extend(base64_decode(&f[3..].concat())?);
        (48u16, b)
    } else {
        if f.len() < 9 {
            return Err("RRSIG needs 9 fields".into());
        }
        let covered: RecordType = f[0].parse().map_err(|_| format!("unknown type {}", f[0]))?;
        let mut b = Vec::new();
        b.extend_from_slice(&u16::from(covered).to_be_bytes());
        b.push(f[1].parse::<u8>().map_err(|e| e.to_string())?);
        b.push(f[2].parse::<u8>().map_err(|e| e.to_string())?);
        b.extend_from_slice(
            &f[3]
                .parse::<u32>()
                .map_err(|e| e.to_string())?
                .to_be_bytes(),
        );
        b.extend_from_slice(&sig_time(f[4], now)?.to_be_bytes());
        b.extend_from_slice(&sig_time(f[5], now)?.to_be_bytes());
        b.extend_from_slice(
            &f[6]
                .parse::<u16>()
                .map_err(|e| e.to_string())?
                .to_be_bytes(),
        );
        let signer = Name::from_ascii(f[7]).map_err(|e| e.to_string())?;
        for label in signer.iter() {
            b.push(label.len() as u8);
            b.extend_from_slice(&label.to_ascii_lowercase());
        }
        b.push(0);
        b.extend(base64_decode(&f[8..].concat())?);
        (46u16, b)
    };
    let mut r = Record::from_rdata(
        owner,
        ttl,
        RData::Unknown {
            code: RecordType::from(code),
            rdata: NULL::with(rdata),
        },
    );
    r.dns_class = DNSClass::IN;
    Ok(r)
}

/// An RRSIG time field: `YYYYMMDDHHmmSS`, epoch seconds, or `now±N{d,h,m,s}`.
fn sig_time(s: &str, now: OffsetDateTime) -> Result<u32, String> {
    if let Some(rel) = s.strip_prefix("now") {
        if rel.is_empty() {
            return Ok(now.unix_timestamp() as u32);
        }
        let (sign, rest) = rel.split_at(1);
        let unit = rest.chars().last().ok_or("bad relative time")?;
        let n: i64 = rest[..rest.len() - 1]
            .parse()
            .map_err(|_| format!("bad relative time {s}"))?;
        let secs = n * match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("bad unit in {s}")),
        };
        let t = if sign == "-" {
            now.unix_timestamp() - secs
        } else {
            now.unix_timestamp() + secs
        };
        return Ok(t as u32);
    }
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        let n = |a: usize, b: usize| s[a..b].parse::<u32>().unwrap_or(0);
        let date = time::Date::from_calendar_date(
            n(0, 4) as i32,
            time::Month::try_from(n(4, 6) as u8).map_err(|e| e.to_string())?,
            n(6, 8) as u8,
        )
        .map_err(|e| e.to_string())?;
        let t = time::Time::from_hms(n(8, 10) as u8, n(10, 12) as u8, n(12, 14) as u8)
            .map_err(|e| e.to_string())?;
        return Ok(date.with_time(t).assume_utc().unix_timestamp() as u32);
    }
    s.parse::<u32>().map_err(|_| format!("bad time {s}"))
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 character {:?}", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if out.is_empty() {
        return Err("empty base64".into());
    }
    Ok(out)
}

/// The answer to one question, before encoding.
#[derive(Debug, Default)]
struct Answer {
    rcode: ResponseCode,
    aa: bool,
    ra: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
}

#[derive(Debug)]
struct LabAuthority {
    zones: Vec<Zone>,
    opts: DnsServerOptions,
}

impl LabAuthority {
    fn zone_for(&self, name: &Name) -> Option<&Zone> {
        let n = name.to_lowercase();
        self.zones
            .iter()
            .filter(|z| z.origin.zone_of(&n))
            .max_by_key(|z| z.origin.num_labels())
    }

    fn answer(
        &self,
        qname: &Name,
        qtype: RecordType,
        dnssec_ok: bool,
        rd: bool,
        protocol: Protocol,
    ) -> Answer {
        let Some(zone) = self.zone_for(qname) else {
            if self.opts.open_recursion && rd {
                let mut a = Answer {
                    ra: true,
                    ..Answer::default()
                };
                if qtype == RecordType::A {
                    a.answers.push(Record::from_rdata(
                        qname.clone(),
                        300,
                        RData::A(OPEN_RESOLVER_ANSWER.into()),
                    ));
                }
                return a;
            }
            return Answer {
                rcode: ResponseCode::Refused,
                ..Answer::default()
            };
        };
        let mut a = Answer {
            aa: true,
            ra: false,
            ..Answer::default()
        };
        if qtype == RecordType::AXFR {
            let allowed = protocol == Protocol::Tcp
                && qname.to_lowercase() == zone.origin
                && self.opts.axfr_zones.iter().any(|z| {
                    Name::from_ascii(format!("{}.", z.trim_end_matches('.')))
                        .is_ok_and(|n| n.to_lowercase() == zone.origin)
                });
            if !allowed {
                return Answer {
                    rcode: ResponseCode::Refused,
                    ..Answer::default()
                };
            }
            let soa = zone.soa();
            a.answers.extend(soa.iter().cloned());
            for recs in zone.records.values() {
                a.answers.extend(
                    recs.iter()
                        .filter(|r| r.record_type() != RecordType::SOA)
                        .cloned(),
                );
            }
            a.answers.extend(soa);
            return a;
        }
        let mut current = qname.clone();
        for _ in 0..LAB_CNAME_DEPTH {
            let z = match self.zone_for(&current) {
                Some(z) => z,
                None => return a,
            };
            let mut owner_records = z.records.get(&current.to_lowercase()).cloned();
            if owner_records.is_none() && !z.exists(&current) {
                // RFC 4592: a wildcard at the closest encloser synthesises the name.
                let mut encloser = current.base_name();
                while z.origin.zone_of(&encloser) && !z.exists(&encloser) {
                    encloser = encloser.base_name();
                }
                if let Ok(wild) = encloser.prepend_label("*") {
                    owner_records = z.records.get(&wild.to_lowercase()).map(|v| {
                        v.iter()
                            .map(|r| {
                                let mut r = r.clone();
                                r.name = current.clone();
                                r
                            })
                            .collect()
                    });
                }
            }
            let Some(records) = owner_records else {
                if a.answers.is_empty() {
                    a.rcode = ResponseCode::NXDomain;
                }
                a.authorities = z.soa();
                return a;
            };
            let cname: Vec<Record> = records
                .iter()
                .filter(|r| r.record_type() == RecordType::CNAME)
                .cloned()
                .collect();
            if !cname.is_empty() && qtype != RecordType::CNAME {
                let target = match &cname[0].data {
                    RData::CNAME(c) => c.0.clone(),
                    _ => return a,
                };
                a.answers.extend(cname);
                current = target;
                continue;
            }
            let matching: Vec<Record> = records
                .iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .cloned()
                .collect();
            if matching.is_empty() {
                a.authorities = z.soa();
            } else {
                a.answers.extend(matching);
                if dnssec_ok {
                    a.answers.extend(z.sigs(&current, qtype));
                }
            }
            return a;
        }
        a
    }
}

impl RequestHandler for LabAuthority {
    // Written out as `#[async_trait]` expands it (the crate does not depend on async-trait).
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        mut response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: 'async_trait + ResponseHandler,
        T: 'async_trait + Time,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let mut meta = Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
            meta.recursion_desired = request.metadata.recursion_desired;
            let request_edns = request.edns.as_ref();
            let dnssec_ok = request_edns.is_some_and(|e| e.flags().dnssec_ok);
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns.set_dnssec_ok(dnssec_ok);
            let answer = match request.request_info() {
                Ok(info) if request.metadata.op_code == OpCode::Query => {
                    let qname: Name = info.query.name().into();
                    self.answer(
                        &qname,
                        info.query.query_type(),
                        dnssec_ok,
                        request.metadata.recursion_desired,
                        request.protocol(),
                    )
                }
                Ok(_) => Answer {
                    rcode: ResponseCode::NotImp,
                    ..Answer::default()
                },
                Err(_) => Answer {
                    rcode: ResponseCode::FormErr,
                    ..Answer::default()
                },
            };
            meta.response_code = answer.rcode;
            meta.authoritative = answer.aa;
            meta.recursion_available = answer.ra;
            let builder =
                MessageResponseBuilder::new(&request.queries, request_edns.map(|_| &edns));
            let response = builder.build(
                meta,
                answer.answers.iter(),
                answer.authorities.iter(),
                std::iter::empty(),
                std::iter::empty(),
            );
            match response_handle.send_response(response).await {
                Ok(info) => info,
                Err(_) => {
                    let mut m =
                        Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
                    m.response_code = ResponseCode::ServFail;
                    ResponseInfo::from(hickory_proto::op::Header {
                        metadata: m,
                        counts: Default::default(),
                    })
                }
            }
        })
    }
}

/// Start an authoritative server for `zones` (origin, zone text) on `bind` (UDP and TCP on the
/// same port; port 0 picks one).
pub async fn start_dns_server(
    bind: SocketAddr,
    zones: &[(&str, &str)],
    opts: DnsServerOptions,
) -> io::Result<DnsServerHandle> {
    let now = OffsetDateTime::now_utc();
    let mut loaded = Vec::new();
    for (origin, text) in zones {
        loaded.push(load_zone(origin, text, now)?);
    }
    let authority = LabAuthority {
        zones: loaded,
        opts,
    };
    // Same port for both transports: with port 0, retry until TCP gets the UDP port.
    let mut last_err = None;
    for _ in 0..16 {
        let udp = tokio::net::UdpSocket::bind(bind).await?;
        let addr = udp.local_addr()?;
        match tokio::net::TcpListener::bind(addr).await {
            Ok(tcp) => {
                let mut server = Server::new(authority);
                server.register_socket(udp);
                server.register_listener(tcp, TCP_TIMEOUT, 65_535);
                return Ok(DnsServerHandle { addr, server });
            }
            Err(e) if bind.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("could not bind UDP and TCP on one port")))
}

/// One server of a group started by [`start_dns_servers_on_one_port`]: its address, its zones
/// (origin, text) and its behaviour.
pub type DnsServerSpec = (IpAddr, Vec<(String, String)>, DnsServerOptions);

/// Starts a server for every entry of `plan`, all on one port (the kernel picks it for the
/// first), like nameservers on port 53 at different addresses. When a later address has that
/// port taken, starts over on another, up to `attempts` times; other errors end it.
pub async fn start_dns_servers_on_one_port(
    plan: &[DnsServerSpec],
    attempts: usize,
) -> io::Result<Vec<DnsServerHandle>> {
    let mut last_err = None;
    'attempt: for _ in 0..attempts {
        let mut servers: Vec<DnsServerHandle> = Vec::new();
        let mut port = 0;
        for (ip, zones, opts) in plan {
            let zones: Vec<(&str, &str)> = zones
                .iter()
                .map(|(z, t)| (z.as_str(), t.as_str()))
                .collect();
            match start_dns_server(SocketAddr::new(*ip, port), &zones, opts.clone()).await {
                Ok(h) => {
                    port = h.addr.port();
                    servers.push(h);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    last_err = Some(e);
                    continue 'attempt;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(servers);
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no port free on every lab DNS address")))
}

/// Parse-check a zone text as the lab server would load it (for fixture tests).
pub fn check_zone(origin: &str, text: &str) -> Result<usize, ZoneError> {
    load_zone(origin, text, OffsetDateTime::now_utc())
        .map(|z| z.records.values().map(Vec::len).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(sig_time("now+1d", now).unwrap(), 1_700_086_400);
        assert_eq!(sig_time("now-2h", now).unwrap(), 1_699_992_800);
        assert_eq!(sig_time("20231114221320", now).unwrap(), 1_700_000_000);
        assert_eq!(sig_time("1700000000", now).unwrap(), 1_700_000_000);
        assert!(sig_time("now+1y", now).is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert!(base64_decode("!!").is_err());
    }

    #[test]
    fn loads_zone_with_dnssec_lines() {
        let text = "$ORIGIN s.test.\n$TTL 300\n@ IN SOA ns1 host 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n@ 300 IN DNSKEY 257 3 13 AAAA\n@ 300 IN RRSIG SOA 13 2 300 now+30d now-1d 4242 s.test. AAAA\n";
        let n = check_zone("s.test", text).unwrap();
        assert_eq!(n, 5);
        assert!(check_zone("s.test", "@ IN NS ns1\n").is_err(), "no SOA");
    }
}
