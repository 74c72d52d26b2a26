//! Raw probes: one connection per question, a hand-built ClientHello, the first flight parsed
//! by [`hello::parse_server_flight`]. Each probe has its own connect timeout, total deadline and
//! byte cap, and stops reading as soon as the answer is known, so a healthy server never makes
//! a probe wait for a timeout.

use super::hello::{
    self, build_client_hello, class_suites, forward_secret_suites, parse_server_flight,
    suite_classes, version_probe_suites, ClientHello, HelloError, ServerReply, Version, WeakClass,
    MAX_FLIGHT_BYTES,
};
use super::starttls::{self, StartTls};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Read buffer per `read` call: one maximal record.
const READ_CHUNK_BYTES: usize = 16 * 1024 + 5;

/// Where and how to send raw ClientHellos.
#[derive(Debug, Clone)]
pub struct RawTarget<'a> {
    pub addr: SocketAddr,
    pub sni: Option<&'a str>,
    pub starttls: Option<StartTls>,
    /// Connect timeout and per-read timeout.
    pub timeout: Duration,
    /// Total time for one probe (connect, STARTTLS, hello, answer).
    pub deadline: Duration,
    pub chain_certs: usize,
}

/// The answer to one raw ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawOutcome {
    Reply(ServerReply),
    /// Closed or reset without a TLS answer: how some stacks (Schannel, middleboxes) refuse a
    /// version or cipher list instead of sending an alert. Counts as "not supported".
    Refused(String),
    /// Inconclusive: timeout, connection failure, STARTTLS failure, non-TLS bytes.
    Failed(String),
}

/// Send `hello` on a fresh connection and read the server's first flight.
pub async fn raw_exchange(t: &RawTarget<'_>, hello: &[u8], want_certificate: bool) -> RawOutcome {
    let deadline = Instant::now() + t.deadline;
    let connect_by = deadline.min(Instant::now() + t.timeout);
    let mut stream = match tokio::time::timeout_at(connect_by, TcpStream::connect(t.addr)).await {
        Err(_) => {
            return RawOutcome::Failed(format!(
                "connect timeout after {} ms",
                t.timeout.as_millis()
            ))
        }
        Ok(Err(e)) => return RawOutcome::Failed(format!("connect: {e}")),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    if let Some(proto) = t.starttls {
        if let Err(e) = starttls::upgrade(&mut stream, proto, deadline).await {
            return RawOutcome::Failed(e.to_string());
        }
    }
    match tokio::time::timeout_at(deadline, stream.write_all(hello)).await {
        Err(_) => return RawOutcome::Failed("timeout sending ClientHello".into()),
        Ok(Err(e)) if is_refusal(&e) => return RawOutcome::Refused(format!("connection {e}")),
        Ok(Err(e)) => return RawOutcome::Failed(format!("send: {e}")),
        Ok(Ok(())) => {}
    }

    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let room = (MAX_FLIGHT_BYTES - buf.len()).min(chunk.len());
        let read_by = deadline.min(Instant::now() + t.timeout);
        let read = tokio::time::timeout_at(read_by, stream.read(&mut chunk[..room])).await;
        let at_end = match read {
            Err(_) => {
                if buf.is_empty() {
                    return RawOutcome::Failed(format!(
                        "no answer within {} ms",
                        t.timeout.min(t.deadline).as_millis()
                    ));
                }
                true
            }
            Ok(Ok(0)) => true,
            Ok(Err(e)) if is_refusal(&e) => {
                if buf.is_empty() {
                    return RawOutcome::Refused(format!("connection {e}"));
                }
                true
            }
            Ok(Err(e)) => return RawOutcome::Failed(format!("read: {e}")),
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                buf.len() >= MAX_FLIGHT_BYTES
            }
        };
        match parse_server_flight(&buf, want_certificate, at_end, t.chain_certs) {
            Ok(Some(reply)) => return RawOutcome::Reply(reply),
            Ok(None) => continue,
            Err(HelloError::Empty) => {
                return RawOutcome::Refused("connection closed without an answer".into())
            }
            Err(e) => return RawOutcome::Failed(e.to_string()),
        }
    }
}

fn is_refusal(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

fn random32() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    // SystemRandom reads getrandom(2); if it ever fails, a fixed value is still a valid hello
    // (we never complete the handshake, so no secret depends on it).
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

fn hello_bytes(version: Version, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    build_client_hello(&ClientHello {
        version,
        suites,
        sni,
        random: random32(),
        key_share: random32(),
    })
}

/// Does the server accept `version`? (Want the Certificate message for TLS ≤ 1.2: the chain of
/// servers rustls cannot talk to.)
pub async fn probe_version(t: &RawTarget<'_>, version: Version) -> RawOutcome {
    let suites = version_probe_suites(version);
    let hello = hello_bytes(version, &suites, t.sni);
    raw_exchange(t, &hello, version != Version::Tls13).await
}

/// A TLS 1.2 ClientHello with the broad suite list, answer only (no certificate wanted).
pub async fn probe_hello(t: &RawTarget<'_>) -> RawOutcome {
    let hello = hello_bytes(Version::Tls12, &version_probe_suites(Version::Tls12), t.sni);
    raw_exchange(t, &hello, false).await
}

/// Does the server accept any forward-secret TLS ≤ 1.2 suite?
pub async fn probe_forward_secrecy(t: &RawTarget<'_>) -> RawOutcome {
    let hello = hello_bytes(Version::Tls12, &forward_secret_suites(), t.sni);
    raw_exchange(t, &hello, false).await
}

/// The weak cipher classes a server accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeakScan {
    pub accepted: Vec<WeakClass>,
    /// Every ServerHello seen (version, suite): evidence for the version facts too.
    pub hellos: Vec<(Version, u16)>,
    /// The scan ended with a refusal of every remaining class (so the others are known absent).
    pub concluded: bool,
    pub error: Option<String>,
}

/// Offer every weak suite; when the server picks one, note its classes and offer the
/// remaining classes again, until it refuses (clean servers: one connection).
pub async fn probe_weak_classes(t: &RawTarget<'_>) -> WeakScan {
    let mut scan = WeakScan::default();
    let mut remaining: Vec<WeakClass> = WeakClass::ALL.to_vec();
    for _ in 0..WeakClass::ALL.len() {
        let suites = class_suites(&remaining);
        if suites.is_empty() {
            scan.concluded = true;
            break;
        }
        let hello = hello_bytes(Version::Tls12, &suites, t.sni);
        match raw_exchange(t, &hello, false).await {
            RawOutcome::Reply(ServerReply::Hello { hello, .. }) => {
                scan.hellos.push((hello.version, hello.cipher));
                let classes = suite_classes(hello.cipher);
                let new: Vec<WeakClass> = classes
                    .iter()
                    .copied()
                    .filter(|c| remaining.contains(c))
                    .collect();
                if new.is_empty() {
                    scan.error = Some(format!(
                        "server selected {} which was not offered",
                        hello::suite_name(hello.cipher)
                    ));
                    break;
                }
                for c in new {
                    scan.accepted.push(c);
                    remaining.retain(|r| *r != c);
                }
            }
            RawOutcome::Reply(ServerReply::Alert { .. }) | RawOutcome::Refused(_) => {
                scan.concluded = true;
                break;
            }
            RawOutcome::Failed(e) => {
                scan.error = Some(e);
                break;
            }
        }
    }
    if remaining.is_empty() {
        scan.concluded = true;
    }
    scan.accepted.sort();
    scan
}
