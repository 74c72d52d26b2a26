//! Banner grab: what a TCP service says first, or answers to one harmless nudge.
//!
//! [`probe_banner`] connects, waits [`Limits::banner_wait`] for a greeting (ssh, smtp, ftp, pop3,
//! imap, mysql, vnc and telnet speak first), and if the service stays silent sends one nudge
//! chosen by the port ([`Nudge::for_port`], in the spirit of nmap-service-probes) and reads the
//! answer. A service on a port the table does not name that hangs up on the default nudge
//! without a word is asked again, on new connections, the way memcached, PostgreSQL and MQTT
//! clients start, until one answers or hangs up differently ([`Nudge::after_silent_close`]). On ports whose service speaks first the "nudge" is to keep listening: a late SMTP
//! greeting is common and talking first is punished by pregreet checks. Everything is bounded: bytes by `banner_bytes`, each wait by its timeout, the whole
//! probe by [`Limits::probe_deadline`]. What happened is recorded as data in [`BannerOutcome`],
//! never as a panic or an `Err`; the connection is closed when the probe returns.
//!
//! Nudges are requests a normal client sends first and that change nothing on the server: an
//! HTTP `GET /`, a redis `PING`, a TLS ClientHello we never finish, protocol negotiations
//! (RDP, SMB2, MQTT with a broker-assigned client id), an LDAP rootDSE read, a MongoDB
//! `isMaster`, a PostgreSQL startup packet with protocol 0.0 that every server rejects before
//! authentication. Everything else gets nmap's GetRequest, `GET / HTTP/1.0`.
//! The bytes are built here as pure functions and checked by tests against the specs.

use super::conventions::{DIRECT_TLS_PORTS, HTTP_PORTS};
use super::service::{contains_ci, is_tls_service, port_service};
use crate::engine::limits::Limits;
use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// After the first bytes of an answer arrive, keep reading while more follow within this
/// gap. A greeting or response head is sent in one go and its segments arrive back to back,
/// so a short gap ends the read without waiting the full banner wait on every service.
pub const DRAIN_IDLE: Duration = Duration::from_millis(150);
/// Bytes read per `read` call (the banner cap bounds the total).
const READ_CHUNK: usize = 1024;

/// Error texts recorded in [`BannerOutcome::error`] (stable: facts and tests use them).
pub const ERR_NO_DATA: &str = "no data";
pub const ERR_CONNECT_REFUSED: &str = "connect refused";
pub const ERR_CONNECT_TIMEOUT: &str = "connect timed out";
pub const ERR_CLOSED: &str = "closed without data";
pub const ERR_RESET: &str = "connection reset";
pub const ERR_DEADLINE: &str = "deadline reached";
pub const ERR_WRITE_TIMEOUT: &str = "write timed out";
/// Prefix of errors caused by this machine (EMFILE, EADDRNOTAVAIL…), never by the target.
pub const ERR_LOCAL_PREFIX: &str = "local resource error: ";

/// The request id of our MongoDB `isMaster` (ASCII "post"); a reply names it in `responseTo`.
pub const MONGODB_REQUEST_ID: u32 = 0x7473_6f70;

/// What a banner grab observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BannerOutcome {
    /// What the service sent, unprompted or in answer to the nudge (at most `banner_bytes`).
    pub bytes: Vec<u8>,
    /// Whether a nudge was sent (the service said nothing within the banner wait, and its port
    /// is not one whose service speaks first: those are only given more time).
    pub nudged: bool,
    /// What went wrong, if anything: one of the `ERR_*` texts, or a read/write/connect failure.
    /// Bytes read before an error are kept.
    pub error: Option<String>,
}

impl BannerOutcome {
    /// True when the failure was this machine's (out of file descriptors or local ports):
    /// says nothing about the target and must not be reported as a closed port.
    pub fn is_local_error(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with(ERR_LOCAL_PREFIX))
    }

    /// True when the service closed (or reset) the connection before saying anything and before
    /// we sent anything: no TLS, HTTP or other client-first exchange can happen on it.
    pub fn closed_before_request(&self) -> bool {
        self.bytes.is_empty()
            && !self.nudged
            && self
                .error
                .as_deref()
                .is_some_and(|e| e == ERR_CLOSED || e == ERR_RESET)
    }

    /// True when no TCP connection was made (refused, timed out, unreachable, local error).
    pub fn connect_failed(&self) -> bool {
        self.error.as_deref().is_some_and(|e| {
            e == ERR_CONNECT_REFUSED
                || e == ERR_CONNECT_TIMEOUT
                || e.starts_with("connect failed")
                || e.starts_with(ERR_LOCAL_PREFIX)
        })
    }
}

/// What an open connection shows before we say anything, looked at without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyState {
    /// The service already sent bytes: it speaks first (a TLS server never does).
    Data,
    /// The service already closed (`reset`: reset) the connection.
    Closed { reset: bool },
    /// Nothing yet (what every client-first service, TLS included, looks like).
    Quiet,
}

impl EarlyState {
    /// The banner grab's outcome when the connection was already closed: nothing to read.
    pub fn closed_outcome(self) -> Option<BannerOutcome> {
        match self {
            EarlyState::Closed { reset } => Some(BannerOutcome {
                bytes: Vec::new(),
                nudged: false,
                error: Some(if reset { ERR_RESET } else { ERR_CLOSED }.to_string()),
            }),
            _ => None,
        }
    }
}

/// Peeks at a connection handed over by the port sweep: one non-blocking `recv(MSG_PEEK)`,
/// whatever the socket's mode; consumes nothing.
pub fn early_state(stream: &std::net::TcpStream) -> EarlyState {
    let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let sock = socket2::SockRef::from(stream);
    match sock.recv_with_flags(&mut one, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
        Ok(0) => EarlyState::Closed { reset: false },
        Ok(_) => EarlyState::Data,
        Err(e) => match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => EarlyState::Quiet,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                EarlyState::Closed { reset: true }
            }
            _ => EarlyState::Quiet,
        },
    }
}

/// Connects to `addr`, reads its banner or its answer to the nudge for `port_hint`, closes.
pub async fn probe_banner(addr: SocketAddr, port_hint: u16, limits: &Limits) -> BannerOutcome {
    probe_banner_from(addr, None, port_hint, limits).await
}

/// [`probe_banner`] on a connection that is already open (the port sweep's, handed over), or
/// on a new one when `connected` is `None` or cannot be adopted by the runtime.
pub async fn probe_banner_from(
    addr: SocketAddr,
    connected: Option<std::net::TcpStream>,
    port_hint: u16,
    limits: &Limits,
) -> BannerOutcome {
    let deadline = Instant::now() + limits.probe_deadline();
    let adopted = connected.and_then(|s| {
        s.set_nonblocking(true).ok()?;
        TcpStream::from_std(s).ok()
    });
    let nudge = Nudge::for_port(port_hint);
    let out = match adopted {
        Some(stream) => read_banner(stream, nudge, true, limits, deadline).await,
        None => connect_and_read(addr, nudge, true, limits, deadline).await,
    };
    if stayed_silent(&out) && nudge == Nudge::Http && Instant::now() < deadline {
        // Silent even to `GET /`, on a port we cannot name: RDP and SMB servers wait for
        // their own negotiation and say nothing to anything else, and moving RDP off 3389 is
        // the usual way of "hiding" it. Both questions at once, each on a new connection
        // (nmap -sV sends them too); the first answer wins.
        if let Some([a, b]) = Nudge::after_silence(port_hint) {
            let (a, b) = tokio::join!(
                connect_and_read(addr, a, false, limits, deadline),
                connect_and_read(addr, b, false, limits, deadline),
            );
            if let Some(answer) = [a, b].into_iter().find(|o| !o.bytes.is_empty()) {
                return answer;
            }
        }
        return out;
    }
    if !hung_up_silently(&out) {
        return out;
    }
    // A service on a port we cannot name hung up on `GET /` without a word (FIN, or RST when
    // it left our bytes unread). Strict binary and line protocols do that: PostgreSQL reads
    // "GET " as a 1.2 GB startup packet length, memcached drops a malformed `get`, mosquitto
    // a packet of reserved type 4. Ask again, each time on a new connection, the way their
    // clients start, while each question is dropped the same way. The service already showed
    // it does not speak first: the question goes out at once.
    for &next in Nudge::after_silent_close(port_hint) {
        if Instant::now() >= deadline {
            break;
        }
        let again = connect_and_read(addr, next, false, limits, deadline).await;
        if !again.bytes.is_empty() {
            return again;
        }
        if !hung_up_silently(&again) {
            break;
        }
    }
    out
}

/// Nudged, then nothing within the wait, the connection still open.
fn stayed_silent(out: &BannerOutcome) -> bool {
    out.nudged && out.bytes.is_empty() && out.error.as_deref() == Some(ERR_NO_DATA)
}

/// Nudged, then closed (or reset) without a byte.
fn hung_up_silently(out: &BannerOutcome) -> bool {
    out.nudged
        && out.bytes.is_empty()
        && matches!(out.error.as_deref(), Some(ERR_CLOSED | ERR_RESET))
}

async fn connect_and_read(
    addr: SocketAddr,
    nudge: Nudge,
    listen_first: bool,
    limits: &Limits,
    deadline: Instant,
) -> BannerOutcome {
    let mut out = BannerOutcome::default();
    let connect_wait = limits.timeout().min(limits.probe_deadline());
    let stream = match timeout(connect_wait, TcpStream::connect(addr)).await {
        Err(_) => {
            out.error = Some(ERR_CONNECT_TIMEOUT.to_string());
            return out;
        }
        Ok(Err(e)) => {
            out.error = Some(describe_connect_error(&e));
            return out;
        }
        Ok(Ok(stream)) => stream,
    };
    read_banner(stream, nudge, listen_first, limits, deadline).await
}

/// Reads what the service says first (when `listen_first`), nudges it if it says nothing,
/// closes.
async fn read_banner(
    mut stream: TcpStream,
    nudge: Nudge,
    listen_first: bool,
    limits: &Limits,
    deadline: Instant,
) -> BannerOutcome {
    let mut out = BannerOutcome::default();
    let cap = limits.banner_bytes;

    if listen_first {
        let first = read_answer(
            &mut stream,
            &mut out.bytes,
            cap,
            limits.banner_wait(),
            deadline,
        )
        .await;
        if !out.bytes.is_empty() || !matches!(first, ReadEnd::Quiet) {
            out.error = first.error(!out.bytes.is_empty());
            return out;
        }
    }

    let request = nudge.bytes();
    if !request.is_empty() {
        out.nudged = true;
        let until = (Instant::now() + limits.timeout()).min(deadline);
        match timeout_at(until, stream.write_all(&request)).await {
            Err(_) if until >= deadline => {
                out.error = Some(ERR_DEADLINE.to_string());
                return out;
            }
            Err(_) => {
                out.error = Some(ERR_WRITE_TIMEOUT.to_string());
                return out;
            }
            Ok(Err(e)) => {
                out.error = Some(describe_io_error("write failed", &e));
                return out;
            }
            Ok(Ok(())) => {}
        }
    }
    let second = read_answer(&mut stream, &mut out.bytes, cap, limits.timeout(), deadline).await;
    out.error = second.error(!out.bytes.is_empty());
    if out.error.is_none() && is_redis_arity_error(&out.bytes) {
        // Redis parsed the HTTP nudge as a `GET` command and refused its arguments, which it
        // checks before authentication: that says nothing about access. One `PING` does
        // (`+PONG`, or `-NOAUTH` from a server that wants a password); its reply is appended.
        let until = (Instant::now() + limits.timeout()).min(deadline);
        if let Ok(Ok(())) = timeout_at(until, stream.write_all(REDIS_PING)).await {
            let third =
                read_answer(&mut stream, &mut out.bytes, cap, limits.timeout(), deadline).await;
            out.error = third.error(true);
        }
    }
    out
}

/// The follow-up that tells an open Redis from one that requires a password.
const REDIS_PING: &[u8] = b"PING\r\n";

/// Redis's (and Valkey's, KeyDB's) arity error for our `GET / HTTP/1.0` nudge.
fn is_redis_arity_error(bytes: &[u8]) -> bool {
    bytes.starts_with(b"-ERR") && bytes.len() < 256 && contains_ci(bytes, b"'get' command")
}

/// How one read phase ended.
#[derive(Debug)]
enum ReadEnd {
    /// The byte cap was reached.
    Full,
    /// The peer closed its side.
    Eof,
    /// No (more) bytes within the wait.
    Quiet,
    /// The probe deadline passed.
    Deadline,
    Failed(io::Error),
}

impl ReadEnd {
    /// The error to record, given whether any bytes were read.
    fn error(self, got_bytes: bool) -> Option<String> {
        match self {
            ReadEnd::Full => None,
            ReadEnd::Eof | ReadEnd::Quiet if got_bytes => None,
            ReadEnd::Eof => Some(ERR_CLOSED.to_string()),
            ReadEnd::Quiet => Some(ERR_NO_DATA.to_string()),
            ReadEnd::Deadline => Some(ERR_DEADLINE.to_string()),
            ReadEnd::Failed(e) => Some(describe_io_error("read failed", &e)),
        }
    }
}

/// Reads into `buf` until `cap` bytes, EOF, an error, the deadline, or silence: `first_wait`
/// for the first byte of this phase, then [`DRAIN_IDLE`] between chunks.
async fn read_answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    cap: usize,
    first_wait: Duration,
    deadline: Instant,
) -> ReadEnd {
    let start_len = buf.len();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let room = cap.saturating_sub(buf.len()).min(READ_CHUNK);
        if room == 0 {
            return ReadEnd::Full;
        }
        let now = Instant::now();
        if now >= deadline {
            return ReadEnd::Deadline;
        }
        let wait = if buf.len() == start_len {
            first_wait
        } else {
            DRAIN_IDLE.min(first_wait)
        };
        let until = (now + wait).min(deadline);
        match timeout_at(until, stream.read(&mut chunk[..room])).await {
            Err(_) if until >= deadline => return ReadEnd::Deadline,
            Err(_) => return ReadEnd::Quiet,
            Ok(Ok(0)) => return ReadEnd::Eof,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return ReadEnd::Failed(e),
        }
    }
}

fn describe_connect_error(e: &io::Error) -> String {
    if is_local_resource_error(e) {
        return format!("{ERR_LOCAL_PREFIX}{e}");
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ERR_CONNECT_REFUSED.to_string(),
        io::ErrorKind::TimedOut => ERR_CONNECT_TIMEOUT.to_string(),
        _ => format!("connect failed: {e}"),
    }
}

fn describe_io_error(what: &str, e: &io::Error) -> String {
    if is_local_resource_error(e) {
        return format!("{ERR_LOCAL_PREFIX}{e}");
    }
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ERR_RESET.to_string(),
        _ => format!("{what}: {e}"),
    }
}

/// Errors that mean this machine ran out of something (file descriptors, ephemeral ports,
/// buffers), per the architecture's rule that they are never facts about the target.
fn is_local_resource_error(e: &io::Error) -> bool {
    // Linux/BSD errno values: ENFILE 23, EMFILE 24; ENOBUFS is 105 on Linux, 55 on BSD/macOS.
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    let enobufs = if cfg!(target_os = "linux") { 105 } else { 55 };
    matches!(
        e.kind(),
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(code) if cfg!(unix) && (code == ENFILE || code == EMFILE || code == enobufs))
}

/// The single request sent to a service that did not speak first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// Send nothing, listen longer: the port's service speaks first (ssh, smtp, ftp, pop3,
    /// imap, mysql, vnc, telnet) and may greet late (SMTP servers often look up the client's
    /// name first). Talking before the greeting gets clients rejected by SMTP pregreet checks
    /// (postscreen) and blocklisted, so we wait instead.
    Listen,
    /// nmap's GenericLines: two empty lines. Line-based services answer with an error.
    GenericLines,
    /// `GET / HTTP/1.0`: HTTP servers, and the APIs behind them (elasticsearch, docker).
    Http,
    /// A TLS 1.2 ClientHello: any TLS server answers with a ServerHello or an alert.
    TlsHello,
    /// Redis inline `PING`.
    Redis,
    /// PostgreSQL startup packet asking for protocol 0.0, refused with an ErrorResponse.
    Postgres,
    /// MongoDB OP_MSG `isMaster` on `admin` (allowed before authentication).
    MongoDb,
    /// X.224 Connection Request with an RDP negotiation request (TLS | CredSSP).
    Rdp,
    /// SMB2 NEGOTIATE (dialects 2.0.2–3.0.2) in a NetBIOS session message.
    Smb2,
    /// NetBIOS session request to `*SMBSERVER` (port 139 needs it before SMB).
    NetbiosSession,
    /// LDAP anonymous search of the root DSE, attributes none.
    Ldap,
    /// MQTT 3.1.1 CONNECT, clean session, empty client id (the broker assigns one, so no
    /// existing client is disconnected).
    Mqtt,
    /// `OPTIONS * RTSP/1.0`.
    Rtsp,
    /// SIP `OPTIONS` with `Max-Forwards: 0` (the server answers itself, forwards nothing).
    Sip,
    /// X11 connection setup, little-endian, protocol 11.0, no authorisation.
    X11,
    /// ZooKeeper's `srvr` four-letter word: version and mode, read-only, whitelisted by default.
    ZooKeeper,
}

impl Nudge {
    /// The nudge for a port, from its conventional service.
    pub fn for_port(port: u16) -> Nudge {
        Nudge::for_named_port(port).unwrap_or(Nudge::Http)
    }

    /// The next questions, in order, for a service on a port we cannot name that closed on
    /// the first (`GET /`) without a word: two bare newlines (memcached answers `ERROR`; a
    /// PostgreSQL drops them at once as an absurd length), ZooKeeper's `srvr`, the PostgreSQL
    /// startup packet, an MQTT CONNECT. MySQL/MariaDB speak first; Redis and HTTP servers answer `GET`. None on
    /// ports whose service we know.
    pub fn after_silent_close(port: u16) -> &'static [Nudge] {
        if Nudge::for_named_port(port).is_some() {
            return &[];
        }
        // srvr before the PostgreSQL packet: ZooKeeper reads that packet's length (8) and
        // waits for the rest, while PostgreSQL drops `srvr` at once as an absurd length.
        &[
            Nudge::GenericLines,
            Nudge::ZooKeeper,
            Nudge::Postgres,
            Nudge::Mqtt,
        ]
    }

    /// The questions, asked together, for a service on a port we cannot name that said
    /// nothing to `GET /` and kept the connection open: an RDP negotiation and an SMB2
    /// NEGOTIATE (both servers wait for exactly that). None on ports whose service we know.
    pub fn after_silence(port: u16) -> Option<[Nudge; 2]> {
        Nudge::for_named_port(port)
            .is_none()
            .then_some([Nudge::Rdp, Nudge::Smb2])
    }

    /// The nudge for a port whose service the port table names; `None` for the others.
    fn for_named_port(port: u16) -> Option<Nudge> {
        if HTTP_PORTS.contains(&port) {
            return Some(Nudge::Http);
        }
        if DIRECT_TLS_PORTS.contains(&port) {
            return Some(Nudge::TlsHello);
        }
        let nudge = match port_service(port) {
            Some("http" | "elasticsearch" | "docker" | "couchdb") => Nudge::Http,
            Some(name) if is_tls_service(name) => Nudge::TlsHello,
            Some("redis") => Nudge::Redis,
            Some("postgresql") => Nudge::Postgres,
            Some("mongodb") => Nudge::MongoDb,
            Some("rdp") => Nudge::Rdp,
            Some("smb") => Nudge::Smb2,
            Some("netbios") => Nudge::NetbiosSession,
            Some("ldap") => Nudge::Ldap,
            Some("mqtt") => Nudge::Mqtt,
            Some("rtsp") => Nudge::Rtsp,
            Some("sip") => Nudge::Sip,
            Some("x11") => Nudge::X11,
            Some("zookeeper") => Nudge::ZooKeeper,
            Some(
                "ssh" | "smtp" | "ftp" | "pop3" | "imap" | "mysql" | "vnc" | "telnet" | "rsync",
            ) => Nudge::Listen,
            // memcached answers `ERROR` to an empty line, and hangs up on our GET.
            Some("memcached") => Nudge::GenericLines,
            // Everything else: nmap's GetRequest (the caller's default). HTTP servers answer it
            // properly, and so do most line protocols (redis `-ERR`, memcached `ERROR`,
            // SMTP/FTP-style `500`), where two bare newlines are silently ignored (redis skips
            // empty lines).
            _ => return None,
        };
        Some(nudge)
    }

    /// The bytes sent.
    pub fn bytes(self) -> Cow<'static, [u8]> {
        match self {
            Nudge::Listen => Cow::Borrowed(b""),
            Nudge::GenericLines => Cow::Borrowed(b"\r\n\r\n"),
            Nudge::Http => Cow::Borrowed(b"GET / HTTP/1.0\r\n\r\n"),
            Nudge::TlsHello => Cow::Owned(tls_client_hello()),
            Nudge::Redis => Cow::Borrowed(b"PING\r\n"),
            // Length 8, protocol 0.0 (major 0 < 3: "unsupported frontend protocol").
            Nudge::Postgres => Cow::Borrowed(&[0, 0, 0, 8, 0, 0, 0, 0]),
            Nudge::MongoDb => Cow::Owned(mongodb_is_master()),
            Nudge::Rdp => Cow::Borrowed(&[
                0x03, 0x00, 0x00, 0x13, // TPKT: version 3, length 19
                0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224 CR, LI 14
                0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // RDP_NEG_REQ: TLS | CredSSP
            ]),
            Nudge::Smb2 => Cow::Owned(smb2_negotiate()),
            Nudge::NetbiosSession => Cow::Owned(netbios_session_request()),
            Nudge::Ldap => Cow::Borrowed(LDAP_ROOT_DSE_SEARCH),
            Nudge::Mqtt => Cow::Borrowed(&[
                0x10, 0x0c, // CONNECT, remaining length 12
                0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // protocol name, level 4 (3.1.1)
                0x02, 0x00, 0x3c, // flags: clean session; keep-alive 60 s
                0x00, 0x00, // client id: empty
            ]),
            Nudge::Rtsp => Cow::Borrowed(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
            Nudge::Sip => Cow::Borrowed(SIP_OPTIONS),
            Nudge::X11 => Cow::Borrowed(&[b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Nudge::ZooKeeper => Cow::Borrowed(b"srvr"),
        }
    }
}

/// LDAPMessage { id 1, SearchRequest { base "", scope base, deref never, size 0, time 0,
/// typesOnly false, filter (objectClass=*), attributes {} } } (RFC 4511 §4.5.1).
const LDAP_ROOT_DSE_SEARCH: &[u8] = &[
    0x30, 0x25, 0x02, 0x01, 0x01, 0x63, 0x20, 0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02,
    0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00, 0x87, 0x0b, b'o', b'b', b'j', b'e', b'c', b't',
    b'C', b'l', b'a', b's', b's', 0x30, 0x00,
];

const SIP_OPTIONS: &[u8] = b"OPTIONS sip:posture.invalid SIP/2.0\r\n\
Via: SIP/2.0/TCP posture.invalid;branch=z9hG4bKposture\r\n\
Max-Forwards: 0\r\n\
From: <sip:posture@posture.invalid>;tag=posture\r\n\
To: <sip:posture.invalid>\r\n\
Call-ID: posture-probe@posture.invalid\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// A TLS 1.2 ClientHello (RFC 5246 §7.4.1.2) offering the ECDHE AEAD suites every current
/// server has plus CBC/RSA fallbacks for old ones, with the extensions servers require
/// (groups, point formats, signature algorithms, EMS, secure renegotiation). No SNI: we only
/// know an address here. The handshake is never finished; the answer only shows that TLS is
/// spoken (a full TLS probe is `probe::tls`'s job).
fn tls_client_hello() -> Vec<u8> {
    const SUITES: &[u16] = &[
        0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c,
        0x009d, 0x002f, 0x0035, 0x000a,
    ];
    const GROUPS: &[u16] = &[0x001d, 0x0017, 0x0018, 0x0019];
    const SIG_ALGS: &[u16] = &[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807, 0x0201, 0x0203,
    ];
    let u16s = |v: &[u16]| -> Vec<u8> { v.iter().flat_map(|x| x.to_be_bytes()).collect() };
    let with_len16 = |body: &[u8]| -> Vec<u8> {
        let mut v = (body.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    };
    let extension = |kind: u16, body: &[u8]| -> Vec<u8> {
        let mut v = kind.to_be_bytes().to_vec();
        v.extend(with_len16(body));
        v
    };

    let mut extensions = Vec::new();
    extensions.extend(extension(0x000a, &with_len16(&u16s(GROUPS))));
    extensions.extend(extension(0x000b, &[0x01, 0x00]));
    extensions.extend(extension(0x000d, &with_len16(&u16s(SIG_ALGS))));
    extensions.extend(extension(0x0017, &[]));
    extensions.extend(extension(0xff01, &[0x00]));

    let mut hello = vec![0x03, 0x03];
    // client_random: fixed; the handshake is abandoned before any key is derived.
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5a));
    hello.push(0); // session_id: empty
    hello.extend(with_len16(&u16s(SUITES)));
    hello.extend([0x01, 0x00]); // compression: null
    hello.extend(with_len16(&extensions));

    let mut handshake = vec![0x01];
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(with_len16(&handshake));
    record
}

/// MongoDB OP_MSG (opcode 2013) with one body section `{ isMaster: 1, $db: "admin" }`.
fn mongodb_is_master() -> Vec<u8> {
    let mut doc = Vec::new();
    doc.push(0x10); // int32
    doc.extend(b"isMaster\0");
    doc.extend(1i32.to_le_bytes());
    doc.push(0x02); // string
    doc.extend(b"$db\0");
    doc.extend(6i32.to_le_bytes());
    doc.extend(b"admin\0");
    doc.push(0x00);
    let mut bson = ((doc.len() + 4) as i32).to_le_bytes().to_vec();
    bson.extend(doc);

    let body_len = 4 + 1 + bson.len(); // flagBits, section kind, document
    let mut msg = ((16 + body_len) as i32).to_le_bytes().to_vec();
    msg.extend(MONGODB_REQUEST_ID.to_le_bytes());
    msg.extend(0i32.to_le_bytes()); // responseTo
    msg.extend(2013i32.to_le_bytes()); // OP_MSG
    msg.extend(0u32.to_le_bytes()); // flagBits
    msg.push(0); // section kind 0: body
    msg.extend(bson);
    msg
}

/// SMB2 NEGOTIATE request (MS-SMB2 §2.2.3) behind a 4-byte NetBIOS session header.
fn smb2_negotiate() -> Vec<u8> {
    const DIALECTS: &[u16] = &[0x0202, 0x0210, 0x0300, 0x0302];
    let mut smb = Vec::with_capacity(64 + 36 + 2 * DIALECTS.len());
    smb.extend(b"\xfeSMB");
    smb.extend(64u16.to_le_bytes()); // StructureSize
    smb.extend(0u16.to_le_bytes()); // CreditCharge
    smb.extend(0u32.to_le_bytes()); // Status
    smb.extend(0u16.to_le_bytes()); // Command: NEGOTIATE
    smb.extend(1u16.to_le_bytes()); // CreditRequest
    smb.extend(0u32.to_le_bytes()); // Flags
    smb.extend(0u32.to_le_bytes()); // NextCommand
    smb.extend(0u64.to_le_bytes()); // MessageId
    smb.extend(0u32.to_le_bytes()); // Reserved (ProcessId)
    smb.extend(0u32.to_le_bytes()); // TreeId
    smb.extend(0u64.to_le_bytes()); // SessionId
    smb.extend([0u8; 16]); // Signature
    smb.extend(36u16.to_le_bytes()); // StructureSize
    smb.extend((DIALECTS.len() as u16).to_le_bytes());
    smb.extend(1u16.to_le_bytes()); // SecurityMode: signing enabled
    smb.extend(0u16.to_le_bytes()); // Reserved
    smb.extend(0u32.to_le_bytes()); // Capabilities
    smb.extend(*b"posture-scanner!"); // ClientGuid
    smb.extend(0u64.to_le_bytes()); // ClientStartTime (no 3.1.1 contexts)
    for d in DIALECTS {
        smb.extend(d.to_le_bytes());
    }
    let mut out = vec![0x00];
    out.extend(&(smb.len() as u32).to_be_bytes()[1..]);
    out.extend(smb);
    out
}

/// NetBIOS session request (RFC 1002 §4.3.2) from `POSTURE` to `*SMBSERVER`.
fn netbios_session_request() -> Vec<u8> {
    let called = netbios_name(b"*SMBSERVER", 0x20);
    let calling = netbios_name(b"POSTURE", 0x00);
    let mut out = vec![0x81, 0x00];
    out.extend(((called.len() + calling.len()) as u16).to_be_bytes());
    out.extend(called);
    out.extend(calling);
    out
}

/// First-level encoding (RFC 1001 §14.1): the name padded to 15 bytes with spaces plus a
/// suffix byte, each nibble written as 'A' + nibble; then a length byte (32) in front and the
/// empty scope (0) behind.
fn netbios_name(name: &[u8], suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    for (slot, b) in raw.iter_mut().zip(name.iter().take(15)) {
        *slot = *b;
    }
    raw[15] = suffix;
    let mut out = vec![32];
    for b in raw {
        out.push(b'A' + (b >> 4));
        out.push(b'A' + (b & 0x0f));
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::service::{guess_service, looks_like_tls};
    use std::sync::Arc;

    #[test]
    fn redis_arity_error_is_recognised_for_the_ping_follow_up() {
        assert!(is_redis_arity_error(
            b"-ERR wrong number of arguments for 'get' command\r\n"
        ));
        assert!(is_redis_arity_error(
            b"-ERR wrong number of arguments for 'GET' command\r\n"
        ));
        assert!(!is_redis_arity_error(b"-ERR unknown command\r\n"));
        assert!(!is_redis_arity_error(
            b"-NOAUTH Authentication required.\r\n"
        ));
        assert!(!is_redis_arity_error(b"+PONG\r\n"));
        assert!(!is_redis_arity_error(b"HTTP/1.1 400 'get' command\r\n"));
    }
    use tokio::net::TcpListener;

    fn test_limits() -> Limits {
        Limits {
            timeout_ms: 300,
            probe_deadline_ms: 900,
            banner_wait_ms: 150,
            banner_bytes: 4096,
            ..Limits::default()
        }
    }

    /// A listener on 127.0.0.1:0 whose single connection is handled by `serve`.
    async fn server<F, Fut>(serve: F) -> SocketAddr
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok(Ok((stream, _))) = timeout(Duration::from_secs(10), listener.accept()).await {
                // Bounded: the test's connection is gone long before this.
                let _ = timeout(Duration::from_secs(10), serve(stream)).await;
            }
        });
        addr
    }

    /// Waits until the client closes (or 10 s), discarding what it sends.
    async fn hold(mut stream: TcpStream) {
        let mut buf = [0u8; 256];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    }

    #[tokio::test]
    async fn speak_first_server_is_read_without_nudge() {
        let addr = server(|mut s| async move {
            s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await.unwrap();
            hold(s).await;
        })
        .await;
        let out = probe_banner(addr, 22, &test_limits()).await;
        assert_eq!(out.bytes, b"SSH-2.0-OpenSSH_9.6\r\n");
        assert!(!out.nudged);
        assert_eq!(out.error, None);
        assert_eq!(guess_service(22, &out.bytes), ("ssh".into(), "banner"));
    }

    #[tokio::test]
    async fn greeting_in_several_segments_is_read_whole() {
        let addr = server(|mut s| async move {
            s.write_all(b"220-mail.example ESMTP\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            s.write_all(b"220 ready\r\n").await.unwrap();
            hold(s).await;
        })
        .await;
        let out = probe_banner(addr, 25, &test_limits()).await;
        assert_eq!(out.bytes, b"220-mail.example ESMTP\r\n220 ready\r\n");
        assert_eq!(out.error, None);
    }

    #[tokio::test]
    async fn late_greeting_on_a_speak_first_port_is_waited_for_not_nudged() {
        let addr = server(|mut s| async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // A client that talked first would have sent bytes by now: pregreet.
            let mut probe = [0u8; 16];
            let pregreet = matches!(
                timeout(Duration::from_millis(1), s.read(&mut probe)).await,
                Ok(Ok(n)) if n > 0
            );
            let greeting: &[u8] = if pregreet {
                b"554 PREGREET\r\n"
            } else {
                b"220 mx ESMTP\r\n"
            };
            s.write_all(greeting).await.unwrap();
            hold(s).await;
        })
        .await;
        let out = probe_banner(addr, 25, &test_limits()).await;
        assert_eq!(out.bytes, b"220 mx ESMTP\r\n");
        assert!(!out.nudged);
        assert_eq!(out.error, None);
    }

    /// Answers only when it receives exactly the nudge expected for the port.
    async fn speak_second(port: u16, expected: &'static [u8], answer: &'static [u8]) {
        let addr = server(move |mut s| async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while got.len() < expected.len() {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if got == expected {
                s.write_all(answer).await.unwrap();
            }
            hold(s).await;
        })
        .await;
        let out = probe_banner(addr, port, &test_limits()).await;
        assert!(out.nudged, "port {port}");
        assert_eq!(out.bytes, answer, "port {port}");
        assert_eq!(out.error, None, "port {port}");
    }

    #[tokio::test]
    async fn speak_second_servers_answer_the_nudge_for_their_port() {
        speak_second(6379, b"PING\r\n", b"+PONG\r\n").await;
        speak_second(80, b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n").await;
        speak_second(11211, b"\r\n\r\n", b"ERROR\r\nERROR\r\n").await;
        speak_second(
            40000,
            b"GET / HTTP/1.0\r\n\r\n",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        )
        .await;
    }

    #[tokio::test]
    async fn silent_server_returns_within_the_deadline() {
        let addr = server(hold).await;
        let limits = test_limits();
        let start = std::time::Instant::now();
        let out = probe_banner(addr, 40000, &limits).await;
        let took = start.elapsed();
        assert!(out.bytes.is_empty());
        assert!(out.nudged);
        assert_eq!(out.error.as_deref(), Some(ERR_NO_DATA));
        // banner wait + read timeout, well inside the deadline.
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(
            took < limits.probe_deadline() + Duration::from_millis(200),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn fast_endless_server_is_capped_at_banner_bytes() {
        let addr = server(|mut s| async move {
            let block = [b'A'; 512];
            while s.write_all(&block).await.is_ok() {}
        })
        .await;
        let limits = Limits {
            banner_bytes: 1000,
            ..test_limits()
        };
        let start = std::time::Instant::now();
        let out = probe_banner(addr, 40000, &limits).await;
        assert_eq!(out.bytes.len(), 1000);
        assert!(!out.nudged);
        assert_eq!(out.error, None);
        assert!(start.elapsed() < limits.probe_deadline());
    }

    #[tokio::test]
    async fn slow_drip_is_cut_at_the_deadline() {
        let addr = server(|mut s| async move {
            for _ in 0..1000 {
                if s.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
        .await;
        let limits = test_limits();
        let start = std::time::Instant::now();
        let out = probe_banner(addr, 40000, &limits).await;
        let took = start.elapsed();
        assert!(
            !out.bytes.is_empty() && out.bytes.len() < 100,
            "{}",
            out.bytes.len()
        );
        assert!(out.bytes.iter().all(|&b| b == b'x'));
        assert_eq!(out.error.as_deref(), Some(ERR_DEADLINE));
        assert!(
            took < limits.probe_deadline() + Duration::from_millis(200),
            "{took:?}"
        );
        assert!(
            took >= limits.probe_deadline() - Duration::from_millis(50),
            "{took:?}"
        );
    }

    /// A listener that serves up to `max` connections like PostgreSQL: it reads the 4-byte
    /// length of a startup packet, drops a client whose length is absurd (`GET ` is 1.2 GB)
    /// without a word, and refuses protocol 0.0 with a FATAL ErrorResponse (as recorded from
    /// PostgreSQL 15). `answers` false: it drops every client. Returns the connection count.
    async fn postgres_like(
        max: usize,
        answers: bool,
    ) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for _ in 0..max {
                let Ok(Ok((mut s, _))) = timeout(Duration::from_secs(10), listener.accept()).await
                else {
                    return;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                // PostgreSQL reads into its 8 KB buffer: all we sent, so it hangs up with FIN.
                let mut head = [0u8; 64];
                match timeout(Duration::from_secs(5), s.read(&mut head)).await {
                    Ok(Ok(n)) if n >= 8 => {}
                    _ => continue,
                }
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                if answers && len == 8 {
                    let fields: &[u8] = b"SFATAL\0VFATAL\0C0A000\0Munsupported frontend \
                        protocol 0.0: server supports 3.0 to 3.0\0\0";
                    let mut reply = vec![b'E'];
                    reply.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                    reply.extend_from_slice(fields);
                    let _ = s.write_all(&reply).await;
                }
            }
        });
        (addr, count)
    }

    #[tokio::test]
    async fn silent_close_on_an_unnamed_port_is_asked_the_postgresql_way() {
        use std::sync::atomic::Ordering;
        let (addr, count) = postgres_like(5, true).await;
        let out = probe_banner(addr, 40000, &test_limits()).await;
        assert!(out.bytes.starts_with(b"E\0\0\0"), "{out:?}");
        assert!(out.nudged && out.error.is_none(), "{out:?}");
        let (name, source) = super::super::service::guess_service(40000, &out.bytes);
        assert_eq!((name.as_str(), source), ("postgresql", "probe"));
        // GET, the newlines and `srvr` (dropped as absurd lengths), then the startup packet.
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_service_that_drops_every_question_costs_five_connections() {
        use std::sync::atomic::Ordering;
        let (addr, count) = postgres_like(7, false).await;
        let out = probe_banner(addr, 40000, &test_limits()).await;
        assert!(out.bytes.is_empty() && out.nudged, "{out:?}");
        assert_eq!(out.error.as_deref(), Some(ERR_CLOSED));
        // GET, newlines, srvr, PostgreSQL startup, MQTT CONNECT: then it is given up.
        assert_eq!(count.load(Ordering::SeqCst), 5);
    }

    /// xrdp on a high port: silent to `GET /` (it waits for a whole TPKT), answers the RDP
    /// negotiation with a Connection Confirm (bytes recorded from xrdp 0.9.21).
    #[tokio::test]
    async fn rdp_silent_to_get_on_an_unnamed_port_answers_its_own_question() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok(Ok((mut s, _))) = timeout(Duration::from_secs(10), listener.accept()).await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    if let Ok(Ok(n)) = timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                        if n >= 11 && buf[0] == 0x03 && buf[5] == 0xe0 {
                            let cc = [
                                0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
                                0x02, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00,
                            ];
                            let _ = s.write_all(&cc).await;
                        }
                    }
                    hold(s).await;
                });
            }
        });
        let out = probe_banner(addr, 40000, &test_limits()).await;
        let (name, source) = super::super::service::guess_service(40000, &out.bytes);
        assert_eq!((name.as_str(), source), ("rdp", "probe"), "{out:?}");
    }

    #[tokio::test]
    async fn a_silent_close_on_a_named_port_is_not_asked_again() {
        use std::sync::atomic::Ordering;
        let (addr, count) = postgres_like(3, true).await;
        // The port hint names HTTP: a silent close after `GET /` is the whole answer.
        let out = probe_banner(addr, 8080, &test_limits()).await;
        assert!(out.bytes.is_empty() && out.nudged, "{out:?}");
        assert_eq!(out.error.as_deref(), Some(ERR_CLOSED));
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn resetting_server_is_recorded() {
        let addr = server(|s| async move {
            s.set_zero_linger().unwrap();
            drop(s);
        })
        .await;
        let out = probe_banner(addr, 40000, &test_limits()).await;
        assert!(out.bytes.is_empty());
        assert_eq!(out.error.as_deref(), Some(ERR_RESET));
        assert!(!out.connect_failed());
    }

    #[tokio::test]
    async fn server_closing_without_data_is_recorded() {
        let addr = server(|s| async move { drop(s) }).await;
        let out = probe_banner(addr, 40000, &test_limits()).await;
        assert!(out.bytes.is_empty());
        assert!(!out.nudged);
        assert_eq!(out.error.as_deref(), Some(ERR_CLOSED));
    }

    #[tokio::test]
    async fn closing_after_the_greeting_is_not_an_error() {
        let addr = server(|mut s| async move {
            s.write_all(b"500 OOPS: vsftpd: refusing to run\r\n")
                .await
                .unwrap();
        })
        .await;
        let out = probe_banner(addr, 21, &test_limits()).await;
        assert_eq!(out.bytes, b"500 OOPS: vsftpd: refusing to run\r\n");
        assert_eq!(out.error, None);
    }

    #[tokio::test]
    async fn refused_port_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let out = probe_banner(addr, addr.port(), &test_limits()).await;
        assert_eq!(out.error.as_deref(), Some(ERR_CONNECT_REFUSED));
        assert!(out.connect_failed());
        assert!(!out.is_local_error());
        assert!(!out.nudged);
    }

    #[tokio::test]
    async fn tls_server_answers_the_client_hello() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()),
        );
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let addr = server(move |s| async move {
            let _ = acceptor.accept(s).await;
        })
        .await;
        let out = probe_banner(addr, 443, &test_limits()).await;
        assert!(out.nudged);
        assert!(
            looks_like_tls(&out.bytes),
            "{:02x?}",
            &out.bytes[..out.bytes.len().min(16)]
        );
        // A ServerHello, not an alert: the hello is acceptable to a modern stack.
        assert_eq!(
            out.bytes[0],
            0x16,
            "{:02x?}",
            &out.bytes[..out.bytes.len().min(16)]
        );
        assert_eq!(guess_service(443, &out.bytes), ("https".into(), "probe"));
    }

    #[test]
    fn nudges_follow_the_port() {
        assert_eq!(Nudge::for_port(80), Nudge::Http);
        assert_eq!(Nudge::for_port(8080), Nudge::Http);
        assert_eq!(Nudge::for_port(9200), Nudge::Http);
        assert_eq!(Nudge::for_port(2375), Nudge::Http);
        assert_eq!(Nudge::for_port(443), Nudge::TlsHello);
        assert_eq!(Nudge::for_port(8443), Nudge::TlsHello);
        assert_eq!(Nudge::for_port(993), Nudge::TlsHello);
        assert_eq!(Nudge::for_port(2376), Nudge::TlsHello);
        assert_eq!(Nudge::for_port(6379), Nudge::Redis);
        assert_eq!(Nudge::for_port(5432), Nudge::Postgres);
        assert_eq!(Nudge::for_port(27017), Nudge::MongoDb);
        assert_eq!(Nudge::for_port(3389), Nudge::Rdp);
        assert_eq!(Nudge::for_port(445), Nudge::Smb2);
        assert_eq!(Nudge::for_port(139), Nudge::NetbiosSession);
        assert_eq!(Nudge::for_port(389), Nudge::Ldap);
        assert_eq!(Nudge::for_port(1883), Nudge::Mqtt);
        assert_eq!(Nudge::for_port(554), Nudge::Rtsp);
        assert_eq!(Nudge::for_port(5060), Nudge::Sip);
        assert_eq!(Nudge::for_port(6000), Nudge::X11);
        assert_eq!(Nudge::for_port(11211), Nudge::GenericLines);
        assert_eq!(Nudge::for_port(22), Nudge::Listen);
        assert_eq!(Nudge::for_port(25), Nudge::Listen);
        assert_eq!(Nudge::for_port(587), Nudge::Listen);
        assert_eq!(Nudge::for_port(3306), Nudge::Listen);
        assert_eq!(Nudge::for_port(61999), Nudge::Http);
    }

    #[test]
    fn client_hello_is_well_formed() {
        let hello = tls_client_hello();
        let (rest, record) = tls_parser::parse_tls_plaintext(&hello).unwrap();
        assert!(rest.is_empty());
        let [tls_parser::TlsMessage::Handshake(tls_parser::TlsMessageHandshake::ClientHello(ch))] =
            record.msg.as_slice()
        else {
            panic!("not a ClientHello: {:?}", record.msg);
        };
        assert_eq!(ch.version, tls_parser::TlsVersion::Tls12);
        assert_eq!(ch.ciphers.len(), 15);
        let (rest, exts) = tls_parser::parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
        assert!(rest.is_empty());
        assert_eq!(exts.len(), 5);
    }

    /// The committed copy is what fixtures/banners/capture.py sends; a change to the hello
    /// must be deliberate and re-capture the TLS fixtures.
    #[test]
    fn client_hello_matches_the_committed_copy() {
        assert_eq!(
            tls_client_hello(),
            include_bytes!("../../fixtures/banners/nudge-tls-client-hello.bin")
        );
    }

    #[test]
    fn binary_nudges_have_consistent_lengths() {
        // TPKT length = total length.
        let rdp = Nudge::Rdp.bytes();
        assert_eq!(usize::from(u16::from_be_bytes([rdp[2], rdp[3]])), rdp.len());
        assert_eq!(usize::from(rdp[4]) + 5, rdp.len());
        // BER: outer SEQUENCE and SearchRequest lengths.
        let ldap = Nudge::Ldap.bytes();
        assert_eq!(usize::from(ldap[1]) + 2, ldap.len());
        assert_eq!(usize::from(ldap[6]) + 7, ldap.len());
        // MQTT remaining length.
        let mqtt = Nudge::Mqtt.bytes();
        assert_eq!(usize::from(mqtt[1]) + 2, mqtt.len());
        // MongoDB messageLength and BSON document length.
        let mongo = Nudge::MongoDb.bytes();
        assert_eq!(
            u32::from_le_bytes([mongo[0], mongo[1], mongo[2], mongo[3]]) as usize,
            mongo.len()
        );
        assert_eq!(
            u32::from_le_bytes([mongo[21], mongo[22], mongo[23], mongo[24]]) as usize,
            mongo.len() - 21
        );
        assert_eq!(mongo.len(), 55);
        // SMB2: NetBIOS length, 64-byte header, 36-byte request + 4 dialects.
        let smb = Nudge::Smb2.bytes();
        assert_eq!(
            u32::from_be_bytes([0, smb[1], smb[2], smb[3]]) as usize,
            smb.len() - 4
        );
        assert_eq!(smb.len(), 4 + 64 + 36 + 8);
        assert_eq!(&smb[4..8], b"\xfeSMB");
        // NetBIOS session request: two 34-byte encoded names.
        let nb = Nudge::NetbiosSession.bytes();
        assert_eq!(nb.len(), 4 + 68);
        assert_eq!(&nb[5..9], b"CKFD"); // '*' = 0x2a -> 'C','K'; 'S' = 0x53 -> 'F','D'
                                        // X11 setup request: 12 bytes, protocol 11.
        assert_eq!(Nudge::X11.bytes().len(), 12);
        // Every nudge is short enough to go in one segment.
        assert!(Nudge::Listen.bytes().is_empty());
        for n in [
            Nudge::GenericLines,
            Nudge::Http,
            Nudge::TlsHello,
            Nudge::Redis,
            Nudge::Postgres,
            Nudge::MongoDb,
            Nudge::Rdp,
            Nudge::Smb2,
            Nudge::NetbiosSession,
            Nudge::Ldap,
            Nudge::Mqtt,
            Nudge::Rtsp,
            Nudge::Sip,
            Nudge::X11,
        ] {
            assert!(n.bytes().len() <= 536, "{n:?}");
        }
    }
}
