//! The DNS client: one query to one server, over UDP with TCP fallback, and AXFR over TCP.
//!
//! Built on hickory-proto's sans-I/O [`Message`] codec with our own sockets rather than
//! hickory-net's client, because the checks need what a general client hides or enforces
//! differently: the raw AA/RA/TC bits of each answer (lame delegation, open recursion), a hard
//! byte and record cap on a zone transfer that stops after the first records, a per-query
//! timeout clipped to one total deadline for the whole probe, and answers from servers that
//! are not the configured resolver (each nameserver address on `ns_port`). The system resolver
//! is never used: every query names its server.
//!
//! Pure parts ([`build_query`], [`parse_response`], the extractors) do no I/O and are
//! unit-tested with hostile bytes; the socket code is the thin rest.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// EDNS UDP payload we advertise: the DNS Flag Day 2020 value, safe from fragmentation.
pub const EDNS_PAYLOAD: u16 = 1232;
/// Largest datagram we accept: anything bigger than 64 KiB is not DNS.
const UDP_RECV_MAX: usize = 65_535;
/// UDP attempts per query (the first datagram or its answer may be lost).
pub const UDP_TRIES: u32 = 2;
/// Stray datagrams (wrong id or source) ignored per attempt before giving up: bounds a
/// flood of spoofed answers.
const UDP_MAX_STRAYS: usize = 64;
/// Bytes read from one zone transfer: the fact needs the first records only; 256 KiB is a few
/// thousand records, enough to learn names for the dangling-CNAME checks.
pub const AXFR_MAX_BYTES: usize = 256 * 1024;
/// Records kept from one zone transfer.
pub const AXFR_MAX_RECORDS: usize = 2_000;
/// Messages read from one zone transfer (each up to 64 KiB).
pub const AXFR_MAX_MESSAGES: usize = 64;

/// Why a query got no usable answer. Never a finding: the section becomes incomplete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("timeout")]
    Timeout,
    #[error("probe deadline exceeded")]
    Deadline,
    #[error("connection refused")]
    Refused,
    /// A local resource or routing problem (no route, address not available, too many open
    /// files): says nothing about the server.
    #[error("local network error: {0}")]
    Local(String),
    #[error("network error: {0}")]
    Io(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("bad name `{0}`")]
    BadName(String),
    /// The resolver sent a referral (NS records for `{0}`, no answer, no SOA) instead of an
    /// answer: it does not recurse for this name, so the answer is unknown, not empty.
    #[error("the server referred the question to `{0}` instead of answering it (it does not recurse, or does not serve the name)")]
    Referral(String),
}

impl QueryError {
    fn from_io(e: &io::Error) -> QueryError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => QueryError::Refused,
            io::ErrorKind::TimedOut => QueryError::Timeout,
            io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::AddrInUse => QueryError::Local(e.to_string()),
            _ if e.raw_os_error() == Some(24) => QueryError::Local(e.to_string()), // EMFILE
            _ => QueryError::Io(e.to_string()),
        }
    }
}

/// What a query asks besides the question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryFlags {
    /// Recursion desired (set for the resolver, clear for authoritative servers).
    pub rd: bool,
    /// DNSSEC OK: ask for RRSIGs (RFC 3225).
    pub dnssec_ok: bool,
}

/// One answer, reduced to what the checks read.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsResponse {
    pub rcode: ResponseCode,
    /// Authoritative answer.
    pub aa: bool,
    /// Recursion available.
    pub ra: bool,
    /// Came truncated over TCP too (UDP truncation is retried over TCP).
    pub tc: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    /// Records beyond the per-section cap were dropped.
    pub capped: bool,
}

impl DnsResponse {
    /// Answer records of `rtype` (any owner: a resolver puts the CNAME chain first).
    pub fn records(&self, rtype: RecordType) -> impl Iterator<Item = &Record> {
        self.answers
            .iter()
            .filter(move |r| r.record_type() == rtype)
    }

    /// NXDOMAIN, or NOERROR without an answer of `rtype`: a "void" answer.
    pub fn is_void(&self, rtype: RecordType) -> bool {
        self.rcode == ResponseCode::NXDomain
            || (self.rcode == ResponseCode::NoError && self.records(rtype).next().is_none())
    }

    /// The zone a NOERROR response without an answer of `rtype` refers the question to, when it
    /// is a referral rather than "no such data": NS records in the authority section and no SOA
    /// (RFC 2308 §2.2, which is how resolvers tell the two apart). A recursive resolver never
    /// answers a recursive query with a referral; an authoritative-only server (or a resolver
    /// that refuses to recurse for this client) does, and reading that as NODATA invented
    /// missing SPF, DMARC and CAA records and an empty NS set.
    pub fn referral(&self, rtype: RecordType) -> Option<String> {
        if self.rcode != ResponseCode::NoError || self.records(rtype).next().is_some() {
            return None;
        }
        let has = |t: RecordType| self.authorities.iter().any(|r| r.record_type() == t);
        if has(RecordType::SOA) {
            return None;
        }
        self.authorities
            .iter()
            .find(|r| r.record_type() == RecordType::NS)
            .map(|r| r.name.to_string().trim_end_matches('.').to_string())
    }

    /// Definitive: NOERROR or NXDOMAIN. Anything else leaves the question open.
    pub fn is_definitive(&self) -> bool {
        matches!(self.rcode, ResponseCode::NoError | ResponseCode::NXDomain)
    }
}

/// Short upper-case name of a response code, as dig prints it.
pub fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// A fully-qualified name from a lowercase dotted name (trailing dot optional).
pub fn fqdn(name: &str) -> Result<Name, QueryError> {
    let n = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&n).map_err(|_| QueryError::BadName(name.chars().take(255).collect()))
}

/// A name as the facts show it: lowercase, no trailing dot.
pub fn display_name(name: &Name) -> String {
    let s = name.to_ascii().to_ascii_lowercase();
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => s,
    }
}

/// A random 64-bit value from the standard library's per-process random keys (no extra
/// dependency): query ids and wildcard probe labels need unpredictability, not crypto.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

/// Encode one query. Pure.
pub fn build_query(
    id: u16,
    name: &Name,
    rtype: RecordType,
    flags: QueryFlags,
) -> Result<Vec<u8>, QueryError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = flags.rd;
    m.add_query(Query::query(name.clone(), rtype));
    if rtype != RecordType::AXFR {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_dnssec_ok(flags.dnssec_ok);
        m.set_edns(edns);
    }
    m.to_vec()
        .map_err(|e| QueryError::Malformed(format!("encoding query: {e}")))
}

/// Decode an answer to query `id` for (`name`, `rtype`), keeping at most `max_records` records
/// per section. Pure; never panics on arbitrary bytes.
pub fn parse_response(
    bytes: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
    max_records: usize,
) -> Result<DnsResponse, QueryError> {
    let m = Message::from_vec(bytes).map_err(|e| QueryError::Malformed(clip(&e.to_string())))?;
    if m.metadata.id != id {
        return Err(QueryError::Malformed(
            "answer id does not match the query".into(),
        ));
    }
    if m.metadata.message_type != MessageType::Response {
        return Err(QueryError::Malformed("not a response".into()));
    }
    if let Some(q) = m.queries.first() {
        if !q.name().eq_ignore_root(name) || q.query_type() != rtype {
            return Err(QueryError::Malformed(
                "answer is for another question".into(),
            ));
        }
    }
    let capped = m.answers.len() > max_records || m.authorities.len() > max_records;
    let mut answers = m.answers;
    answers.truncate(max_records);
    let mut authorities = m.authorities;
    authorities.truncate(max_records);
    Ok(DnsResponse {
        rcode: m.metadata.response_code,
        aa: m.metadata.authoritative,
        ra: m.metadata.recursion_available,
        tc: m.metadata.truncation,
        answers,
        authorities,
        capped,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// TXT records of an answer, each record's strings concatenated (RFC 7208 §3.3), lossily
/// decoded and cut at `max_bytes`.
pub fn txt_strings(resp: &DnsResponse, max_bytes: usize) -> Vec<String> {
    resp.records(RecordType::TXT)
        .filter_map(|r| match &r.data {
            RData::TXT(t) => {
                let mut bytes = Vec::new();
                for s in t.txt_data.iter() {
                    let room = max_bytes.saturating_sub(bytes.len());
                    bytes.extend_from_slice(&s[..s.len().min(room)]);
                }
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// Addresses in an answer.
pub fn addresses(resp: &DnsResponse) -> Vec<IpAddr> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A record in short presentation form for facts: `A 192.0.2.1`.
pub fn short_record(r: &Record) -> String {
    let s = format!("{} {}", r.record_type(), r.data);
    s.chars().take(256).collect()
}

/// Settings of one probe's client.
#[derive(Debug, Clone)]
pub struct DnsClient {
    /// Where ordinary lookups go.
    pub resolver: SocketAddr,
    /// Port of nameserver-direct queries (53 outside tests and the demo).
    pub ns_port: u16,
    /// Per-query timeout (one UDP attempt, or one TCP exchange).
    pub timeout: Duration,
    /// No query starts or continues past this instant.
    pub deadline: Instant,
    pub max_records: usize,
    pub txt_max_bytes: usize,
}

impl DnsClient {
    fn budget(&self) -> Result<Duration, QueryError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(QueryError::Deadline)
        } else {
            Ok(left.min(self.timeout))
        }
    }

    /// An ordinary lookup through the resolver (RD set). A referral is an error
    /// ([`QueryError::Referral`]): the resolver did not answer.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<DnsResponse, QueryError> {
        let response = self
            .query(
                self.resolver,
                &fqdn(name)?,
                rtype,
                QueryFlags {
                    rd: true,
                    dnssec_ok: false,
                },
            )
            .await?;
        match response.referral(rtype) {
            Some(zone) => Err(QueryError::Referral(zone)),
            None => Ok(response),
        }
    }

    /// The socket address of a nameserver address for direct queries.
    pub fn ns_addr(&self, ip: IpAddr) -> SocketAddr {
        SocketAddr::new(ip, self.ns_port)
    }

    /// One question to one server: UDP, retried once on loss, then TCP when truncated.
    pub async fn query(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        flags: QueryFlags,
    ) -> Result<DnsResponse, QueryError> {
        let mut last = QueryError::Timeout;
        for _ in 0..UDP_TRIES {
            match self.query_udp(server, name, rtype, flags).await {
                Ok(r) if r.tc => return self.query_tcp(server, name, rtype, flags).await,
                Ok(r) => return Ok(r),
                Err(e @ (QueryError::Timeout | QueryError::Io(_))) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn query_udp(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        flags: QueryFlags,
    ) -> Result<DnsResponse, QueryError> {
        let budget = self.budget()?;
        let id = random_u64() as u16;
        let msg = build_query(id, name, rtype, flags)?;
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| QueryError::from_io(&e))?;
        let exchange = async {
            sock.send_to(&msg, server)
                .await
                .map_err(|e| QueryError::from_io(&e))?;
            let mut buf = vec![0u8; UDP_RECV_MAX];
            for _ in 0..UDP_MAX_STRAYS {
                let (n, from) = sock
                    .recv_from(&mut buf)
                    .await
                    .map_err(|e| QueryError::from_io(&e))?;
                // Datagrams from elsewhere, or with another id (a late answer to an earlier
                // attempt), are strays: keep waiting. Anything else is the answer, good or bad.
                if from != server || n < 2 || buf[..2] != id.to_be_bytes() {
                    continue;
                }
                return parse_response(&buf[..n], id, name, rtype, self.max_records);
            }
            Err(QueryError::Timeout)
        };
        match tokio::time::timeout(budget, exchange).await {
            Ok(r) => r,
            Err(_) => Err(QueryError::Timeout),
        }
    }

    /// One question over TCP (RFC 7766): 2-byte length prefix, one answer.
    pub async fn query_tcp(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        flags: QueryFlags,
    ) -> Result<DnsResponse, QueryError> {
        let budget = self.budget()?;
        let id = random_u64() as u16;
        let msg = build_query(id, name, rtype, flags)?;
        let exchange = async {
            let mut s = TcpStream::connect(server)
                .await
                .map_err(|e| QueryError::from_io(&e))?;
            write_framed(&mut s, &msg).await?;
            let bytes = read_framed(&mut s).await?;
            parse_response(&bytes, id, name, rtype, self.max_records)
        };
        match tokio::time::timeout(budget, exchange).await {
            Ok(r) => r,
            Err(_) => Err(QueryError::Timeout),
        }
    }

    /// Attempt a zone transfer of `zone` from `server`, stopping after the first records.
    pub async fn axfr(&self, server: SocketAddr, zone: &str) -> AxfrOutcome {
        let name = match fqdn(zone) {
            Ok(n) => n,
            Err(e) => return AxfrOutcome::failed(e),
        };
        let budget = match self.budget() {
            Ok(b) => b,
            Err(e) => return AxfrOutcome::failed(e),
        };
        let id = random_u64() as u16;
        let msg = match build_query(id, &name, RecordType::AXFR, QueryFlags::default()) {
            Ok(m) => m,
            Err(e) => return AxfrOutcome::failed(e),
        };
        let mut out = AxfrOutcome::default();
        let transfer = async {
            let mut s = TcpStream::connect(server)
                .await
                .map_err(|e| QueryError::from_io(&e))?;
            write_framed(&mut s, &msg).await?;
            let mut bytes_read = 0usize;
            for i in 0..AXFR_MAX_MESSAGES {
                let bytes = read_framed(&mut s).await?;
                bytes_read += bytes.len() + 2;
                let resp = parse_response(&bytes, id, &name, RecordType::AXFR, AXFR_MAX_RECORDS)?;
                if i == 0 {
                    out.rcode = Some(resp.rcode);
                    if resp.rcode != ResponseCode::NoError {
                        return Ok(());
                    }
                    match resp.answers.first() {
                        Some(r)
                            if r.record_type() == RecordType::SOA
                                && r.name.eq_ignore_root(&name) =>
                        {
                            out.allowed = true;
                        }
                        _ => return Ok(()),
                    }
                }
                let mut done = false;
                for (j, r) in resp.answers.into_iter().enumerate() {
                    // The transfer ends with the zone's SOA again (RFC 5936 §2.2).
                    if (i > 0 || j > 0) && r.record_type() == RecordType::SOA {
                        done = true;
                        break;
                    }
                    if out.records.len() < AXFR_MAX_RECORDS {
                        out.records.push(r);
                    } else {
                        done = true;
                        break;
                    }
                }
                if done || bytes_read >= AXFR_MAX_BYTES {
                    out.stopped_early = !done || out.records.len() >= AXFR_MAX_RECORDS;
                    return Ok(());
                }
            }
            out.stopped_early = true;
            Ok(())
        };
        let result = tokio::time::timeout(budget, transfer).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => out.error = Some(e),
            Err(_) => out.error = Some(QueryError::Timeout),
        }
        if out.allowed && out.error.is_some() {
            // We saw the zone: a cut-off transfer is still a transfer.
            out.stopped_early = true;
            out.error = None;
        }
        out
    }
}

/// What one AXFR attempt showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AxfrOutcome {
    /// Response code of the first message, when one arrived.
    pub rcode: Option<ResponseCode>,
    /// The server began a transfer (first record the zone's SOA).
    pub allowed: bool,
    /// Records received (the leading SOA included), capped.
    pub records: Vec<Record>,
    /// We stopped reading before the closing SOA (a cap or the time limit).
    pub stopped_early: bool,
    pub error: Option<QueryError>,
}

impl AxfrOutcome {
    fn failed(e: QueryError) -> AxfrOutcome {
        AxfrOutcome {
            error: Some(e),
            ..AxfrOutcome::default()
        }
    }

    /// `NOERROR`, `REFUSED`, or the transport error, for the facts.
    pub fn result(&self) -> String {
        match (&self.error, self.rcode) {
            (Some(e), _) => e.to_string(),
            (None, Some(rc)) if rc == ResponseCode::NoError && !self.allowed => {
                "NOERROR without the zone's SOA".into()
            }
            (None, Some(rc)) => rcode_name(rc),
            (None, None) => "no answer".into(),
        }
    }
}

async fn write_framed(s: &mut TcpStream, msg: &[u8]) -> Result<(), QueryError> {
    let len =
        u16::try_from(msg.len()).map_err(|_| QueryError::Malformed("query too large".into()))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    s.write_all(&framed)
        .await
        .map_err(|e| QueryError::from_io(&e))
}

/// Read one length-prefixed message. The prefix caps it at 64 KiB; the caller's timeout caps
/// the time a dripping server can take.
async fn read_framed(s: &mut TcpStream) -> Result<Vec<u8>, QueryError> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            QueryError::Malformed("connection closed before an answer".into())
        }
        _ => QueryError::from_io(&e),
    })?;
    let len = usize::from(u16::from_be_bytes(len));
    if len < 12 {
        return Err(QueryError::Malformed(format!(
            "{len}-byte message is shorter than a header"
        )));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => QueryError::Malformed("answer cut short".into()),
        _ => QueryError::from_io(&e),
    })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, TXT};

    fn answer_for(q: &[u8], f: impl FnOnce(&mut Message)) -> Vec<u8> {
        let req = Message::from_vec(q).unwrap();
        let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
        m.add_queries(req.queries.clone());
        f(&mut m);
        m.to_vec().unwrap()
    }

    #[test]
    fn query_round_trip() {
        let name = fqdn("example.com").unwrap();
        let q = build_query(
            7,
            &name,
            RecordType::TXT,
            QueryFlags {
                rd: true,
                dnssec_ok: true,
            },
        )
        .unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert!(m.metadata.recursion_desired);
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
        let a = answer_for(&q, |m| {
            m.metadata.authoritative = true;
            m.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
            ));
        });
        let r = parse_response(&a, 7, &name, RecordType::TXT, 10).unwrap();
        assert!(r.aa && !r.ra);
        assert_eq!(txt_strings(&r, 4096), ["v=spf1 -all"]);
        assert_eq!(txt_strings(&r, 4), ["v=sp"]);
    }

    /// RFC 2308 §2.2: NS without SOA in the authority section is a referral; an SOA (or no NS)
    /// makes the same empty answer NODATA.
    #[test]
    fn referrals_are_told_apart_from_nodata() {
        use hickory_proto::rr::rdata::{CNAME, NS, SOA};
        let name = fqdn("far.example.com").unwrap();
        let zone = fqdn("example.com").unwrap();
        let q = build_query(3, &name, RecordType::TXT, QueryFlags::default()).unwrap();
        let ns = |m: &mut Message| {
            m.add_authority(Record::from_rdata(
                name.clone(),
                300,
                RData::NS(NS(fqdn("ns.far.example.com").unwrap())),
            ));
        };
        let soa = |m: &mut Message| {
            m.add_authority(Record::from_rdata(
                zone.clone(),
                300,
                RData::SOA(SOA::new(
                    fqdn("ns.example.com").unwrap(),
                    fqdn("admin.example.com").unwrap(),
                    1,
                    3600,
                    600,
                    86400,
                    300,
                )),
            ));
        };
        let parse = |a: Vec<u8>| parse_response(&a, 3, &name, RecordType::TXT, 10).unwrap();
        let referral = parse(answer_for(&q, ns));
        assert_eq!(
            referral.referral(RecordType::TXT).as_deref(),
            Some("far.example.com")
        );
        // NODATA: SOA alone, SOA with NS, or nothing at all (RFC 2308 types 1, 2 and 3).
        for nodata in [
            parse(answer_for(&q, soa)),
            parse(answer_for(&q, |m| {
                soa(m);
                ns(m);
            })),
            parse(answer_for(&q, |_| {})),
        ] {
            assert_eq!(nodata.referral(RecordType::TXT), None, "{nodata:?}");
        }
        // An answer, or NXDOMAIN, is never a referral.
        let answered = parse(answer_for(&q, |m| {
            m.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::TXT(TXT::new(vec!["x".into()])),
            ));
            ns(m);
        }));
        assert_eq!(answered.referral(RecordType::TXT), None);
        let nx = parse(answer_for(&q, |m| {
            m.metadata.response_code = ResponseCode::NXDomain;
            ns(m);
        }));
        assert_eq!(nx.referral(RecordType::TXT), None);
        // A CNAME whose target lies behind a referral: the chain was not followed.
        let chain = parse(answer_for(&q, |m| {
            m.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::CNAME(CNAME(fqdn("t.far.example.com").unwrap())),
            ));
            ns(m);
        }));
        assert_eq!(
            chain.referral(RecordType::TXT).as_deref(),
            Some("far.example.com")
        );
    }

    #[test]
    fn rejects_mismatches_and_garbage() {
        let name = fqdn("example.com").unwrap();
        let q = build_query(7, &name, RecordType::A, QueryFlags::default()).unwrap();
        let a = answer_for(&q, |_| {});
        assert!(parse_response(&a, 8, &name, RecordType::A, 10).is_err());
        assert!(parse_response(&a, 7, &name, RecordType::MX, 10).is_err());
        assert!(
            parse_response(&q, 7, &name, RecordType::A, 10).is_err(),
            "a query is not an answer"
        );
        assert!(parse_response(b"\x00\x07garbage", 7, &name, RecordType::A, 10).is_err());
        assert!(parse_response(&[], 7, &name, RecordType::A, 10).is_err());
    }

    #[test]
    fn caps_records() {
        let name = fqdn("example.com").unwrap();
        let q = build_query(1, &name, RecordType::A, QueryFlags::default()).unwrap();
        let a = answer_for(&q, |m| {
            for i in 0..20u8 {
                m.add_answer(Record::from_rdata(
                    name.clone(),
                    60,
                    RData::A(A::new(192, 0, 2, i)),
                ));
            }
        });
        let r = parse_response(&a, 1, &name, RecordType::A, 5).unwrap();
        assert_eq!(r.answers.len(), 5);
        assert!(r.capped);
        assert_eq!(addresses(&r).len(), 5);
    }

    #[test]
    fn compression_loop_is_an_error() {
        // Header (id 1, response, 1 question) + a name that is a pointer to itself.
        let mut b = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        let name = fqdn("example.com").unwrap();
        assert!(parse_response(&b, 1, &name, RecordType::A, 10).is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(
            display_name(&fqdn("WWW.Example.com").unwrap()),
            "www.example.com"
        );
        assert_eq!(display_name(&Name::root()), ".");
        assert!(fqdn("bad..name").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let name = fqdn("example.com").unwrap();
            let _ = parse_response(&bytes, 1, &name, RecordType::A, 10);
        }
    }
}
