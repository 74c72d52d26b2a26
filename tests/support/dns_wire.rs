//! Raw DNS exchanges with the real DNS servers of the tests (NSD, BIND, Knot, PowerDNS, …),
//! to check what a server really answers before judging what posture concluded from it.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// Whether `port` is free for UDP and TCP on `ip`.
pub fn port_free(ip: &str, port: u16) -> bool {
    UdpSocket::bind((ip, port)).is_ok() && TcpListener::bind((ip, port)).is_ok()
}

fn query_bytes(id: u16, name: &str, rtype: RecordType, rd: bool, dnssec_ok: bool) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).unwrap(),
        rtype,
    ));
    if rtype != RecordType::AXFR {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(dnssec_ok);
        m.set_edns(edns);
    }
    m.to_vec().unwrap()
}

/// One UDP question, one bounded wait.
pub fn udp(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    rd: bool,
    dnssec_ok: bool,
) -> Option<Message> {
    static NEXT: AtomicU16 = AtomicU16::new(0x3c3c);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.send_to(&query_bytes(id, name, rtype, rd, dnssec_ok), server)
        .ok()?;
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        let (n, _) = s.recv_from(&mut buf).ok()?;
        let m = Message::from_vec(&buf[..n]).ok()?;
        if m.metadata.id == id {
            return Some(m);
        }
    }
    None
}

/// One TCP question; the first answer message (for AXFR: its first message).
pub fn tcp(server: SocketAddr, name: &str, rtype: RecordType, rd: bool) -> Option<Message> {
    let mut s = TcpStream::connect_timeout(&server, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let q = query_bytes(0x2d7, name, rtype, rd, false);
    let mut framed = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Message::from_vec(&buf).ok()
}

/// The SOA serial a server answers authoritatively for `zone` (RD clear), if it does.
pub fn auth_serial(server: SocketAddr, zone: &str) -> Option<u32> {
    let m = udp(server, zone, RecordType::SOA, false, false)?;
    if !m.metadata.authoritative || m.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}
