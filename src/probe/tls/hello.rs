//! Raw TLS: hand-built ClientHello bytes, and a pure parser of the server's first flight
//! (ServerHello, Certificate, or an alert), for what rustls will not negotiate: SSLv3, TLS 1.0
//! and 1.1, weak cipher classes, and the certificate chain of legacy-only servers (in
//! TLS ≤ 1.2 the Certificate message is plaintext).
//!
//! Nothing here does I/O. The socket loop in `legacy.rs` appends bytes to a buffer and calls
//! [`parse_server_flight`] after every read until it returns a reply, an error, or the byte
//! cap is reached.

use std::sync::OnceLock;
use thiserror::Error;
use tls_parser::{
    parse_tls_message_alert, parse_tls_message_handshake, TlsCipherAu, TlsCipherEnc, TlsCipherKx,
    TlsCipherMac, TlsCipherSuite, TlsMessage, TlsMessageHandshake, CIPHERS,
};

/// Largest handshake message we reassemble. rustls refuses handshake messages over 64 KiB; a
/// real chain is 2–8 KiB. A larger Certificate message is recorded as an error, not read.
pub const MAX_HANDSHAKE_MESSAGE_BYTES: usize = 0xffff;
/// Largest TLS record: 2^14 plaintext + 2048 expansion (RFC 5246 §6.2.3).
pub const MAX_RECORD_BYTES: usize = (1 << 14) + 2048;
/// Bytes read from a server for one raw probe: one maximal Certificate message plus the
/// ServerHello and record headers around it.
pub const MAX_FLIGHT_BYTES: usize = MAX_HANDSHAKE_MESSAGE_BYTES + MAX_RECORD_BYTES;
/// Cipher suites offered in one ClientHello. Some servers (and middleboxes) reject hellos with
/// more than 128 suites; real clients send 20–60.
pub const MAX_OFFERED_SUITES: usize = 128;

/// The TLS 1.3 cipher suites (RFC 8446 §B.4).
pub const TLS13_SUITES: [u16; 5] = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

/// `random` of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A protocol version a raw probe can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    pub const ALL: [Version; 5] = [
        Version::Ssl3,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ];

    pub fn wire(self) -> u16 {
        match self {
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }

    pub fn from_wire(v: u16) -> Option<Version> {
        Version::ALL.into_iter().find(|x| x.wire() == v)
    }

    /// The fact spelling (`tls.versions`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Ssl3 => "sslv3",
            Version::Tls10 => "tls1.0",
            Version::Tls11 => "tls1.1",
            Version::Tls12 => "tls1.2",
            Version::Tls13 => "tls1.3",
        }
    }
}

/// A weak cipher class (`tls.weak_ciphers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WeakClass {
    /// No encryption at all.
    Null,
    /// 40/56-bit "export" suites (FREAK, Logjam).
    Export,
    /// Unauthenticated key exchange (DH_anon, ECDH_anon): trivially man-in-the-middled.
    Anon,
    /// RC4 (RFC 7465 prohibits it).
    Rc4,
    /// Single DES (56-bit key).
    Des,
    /// Triple DES: 64-bit block, Sweet32.
    TripleDes,
}

impl WeakClass {
    pub const ALL: [WeakClass; 6] = [
        WeakClass::Null,
        WeakClass::Export,
        WeakClass::Anon,
        WeakClass::Rc4,
        WeakClass::Des,
        WeakClass::TripleDes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WeakClass::Null => "null",
            WeakClass::Export => "export",
            WeakClass::Anon => "anon",
            WeakClass::Rc4 => "rc4",
            WeakClass::Des => "des",
            WeakClass::TripleDes => "3des",
        }
    }
}

/// IANA name of a cipher suite, or `0xHHHH` for unregistered codepoints.
pub fn suite_name(id: u16) -> String {
    match TlsCipherSuite::from_id(id) {
        Some(s) => s.name.to_string(),
        None => format!("0x{id:04X}"),
    }
}

/// The weak classes a suite belongs to (a suite can be in several: `DH_anon_EXPORT_WITH_RC4_40`).
pub fn suite_classes(id: u16) -> Vec<WeakClass> {
    let Some(s) = TlsCipherSuite::from_id(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if s.enc == TlsCipherEnc::Null && id != 0x0000 {
        out.push(WeakClass::Null);
    }
    if s.name.contains("_EXPORT") {
        out.push(WeakClass::Export);
    }
    if s.name.contains("_anon_") {
        out.push(WeakClass::Anon);
    }
    match s.enc {
        TlsCipherEnc::Rc4 => out.push(WeakClass::Rc4),
        TlsCipherEnc::Des => out.push(WeakClass::Des),
        TlsCipherEnc::TripleDes => out.push(WeakClass::TripleDes),
        _ => {}
    }
    out
}

/// Ephemeral, authenticated key exchange (ECDHE, DHE) or any TLS 1.3 suite.
pub fn is_forward_secret(id: u16) -> bool {
    if TLS13_SUITES.contains(&id) {
        return true;
    }
    TlsCipherSuite::from_id(id).is_some_and(|s| {
        matches!(s.kx, TlsCipherKx::Ecdhe | TlsCipherKx::Dhe) && !s.name.contains("_anon_")
    })
}

/// The suites a raw probe may offer: every IANA suite a certificate-based TLS ≤ 1.2 server
/// could select, without PSK/SRP/Kerberos (they need out-of-band setup), national ciphers and
/// signalling values; ordered strongest first so a server with client preference does not pick
/// an anon suite and omit its certificate.
fn candidate_suites() -> &'static [&'static TlsCipherSuite] {
    static LIST: OnceLock<Vec<&'static TlsCipherSuite>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut v: Vec<&'static TlsCipherSuite> = CIPHERS
            .values()
            .filter(|s| {
                let n = s.name;
                s.id.0 != 0x0000
                    && !TLS13_SUITES.contains(&s.id.0)
                    && !matches!(
                        s.kx,
                        TlsCipherKx::Psk
                            | TlsCipherKx::Krb5
                            | TlsCipherKx::Srp
                            | TlsCipherKx::Eccpwd
                            | TlsCipherKx::Tls13
                            | TlsCipherKx::Null
                    )
                    && !matches!(
                        s.enc,
                        TlsCipherEnc::Sm4 | TlsCipherEnc::Aegis | TlsCipherEnc::Aria
                    )
                    && !n.contains("PSK")
                    && !n.contains("SCSV")
                    && !n.contains("GOST")
                    && !n.contains("KRB5")
                    && !n.contains("SRP")
            })
            .collect();
        v.sort_by_key(|s| (strength_rank(s), s.id.0));
        v
    })
}

fn strength_rank(s: &TlsCipherSuite) -> u8 {
    let classes = suite_classes(s.id.0);
    if classes.contains(&WeakClass::Anon) || classes.contains(&WeakClass::Null) {
        return 9;
    }
    if classes.contains(&WeakClass::Export) {
        return 8;
    }
    if !classes.is_empty() {
        return 6;
    }
    match (s.kx, s.mac) {
        (TlsCipherKx::Ecdhe, TlsCipherMac::Aead) => 0,
        (TlsCipherKx::Dhe, TlsCipherMac::Aead) => 1,
        (TlsCipherKx::Ecdhe, _) => 2,
        (TlsCipherKx::Dhe, _) => 3,
        (TlsCipherKx::Rsa, _) => 4,
        _ => 5,
    }
}

/// Suites defined before TLS 1.2 (HMAC-MD5/SHA-1, no AEAD, no SHA-256 PRF): offering a 1.2-only
/// suite in a TLS 1.0 hello makes some servers abort instead of answering.
fn usable_before_tls12(s: &TlsCipherSuite) -> bool {
    matches!(
        s.mac,
        TlsCipherMac::HmacMd5 | TlsCipherMac::HmacSha1 | TlsCipherMac::Null
    ) && !matches!(s.au, TlsCipherAu::Tls13)
}

/// The suites offered when probing whether `version` is accepted: a broad list, so only the
/// version decides, capped at [`MAX_OFFERED_SUITES`].
pub fn version_probe_suites(version: Version) -> Vec<u16> {
    if version == Version::Tls13 {
        return TLS13_SUITES.to_vec();
    }
    let strong_first = candidate_suites()
        .iter()
        .filter(|s| version == Version::Tls12 || usable_before_tls12(s))
        // Static DH/ECDH and the rarer block ciphers last: nobody deploys them alone.
        .filter(|s| {
            !matches!(s.kx, TlsCipherKx::Dh | TlsCipherKx::Ecdh) || s.name.contains("_anon_")
        });
    strong_first
        .map(|s| s.id.0)
        .take(MAX_OFFERED_SUITES)
        .collect()
}

/// The suites of the given weak classes (a suite in any of them), capped.
pub fn class_suites(classes: &[WeakClass]) -> Vec<u16> {
    candidate_suites()
        .iter()
        .map(|s| s.id.0)
        .filter(|id| suite_classes(*id).iter().any(|c| classes.contains(c)))
        .take(MAX_OFFERED_SUITES)
        .collect()
}

/// The forward-secret (ECDHE/DHE, authenticated) TLS ≤ 1.2 suites, capped.
pub fn forward_secret_suites() -> Vec<u16> {
    candidate_suites()
        .iter()
        .map(|s| s.id.0)
        .filter(|id| is_forward_secret(*id))
        .take(MAX_OFFERED_SUITES)
        .collect()
}

/// What to put in one raw ClientHello.
#[derive(Debug, Clone)]
pub struct ClientHello<'a> {
    pub version: Version,
    pub suites: &'a [u16],
    /// Server name indication (hostnames only; never an IP literal, RFC 6066 §3).
    pub sni: Option<&'a str>,
    pub random: [u8; 32],
    /// x25519 public key for the TLS 1.3 key_share (any 32 bytes will do: we never finish).
    pub key_share: [u8; 32],
}

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_PADDING: u16 = 21;
const EXT_EXTENDED_MASTER_SECRET: u16 = 23;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_PSK_MODES: u16 = 45;
const EXT_KEY_SHARE: u16 = 51;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV: the SSLv3 way to say "secure renegotiation" (RFC 5746),
/// since SSLv3 hellos carry no extensions.
const SCSV_RENEGOTIATION: u16 = 0x00ff;

/// x25519, secp256r1, secp384r1, secp521r1, ffdhe2048, ffdhe3072.
const GROUPS: [u16; 6] = [0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101];
/// ECDSA P-256/384/521, Ed25519, RSA-PSS (rsae) SHA-256/384/512, RSA PKCS#1 SHA-256/384/512,
/// and the SHA-1 schemes legacy servers still sign with.
const SIGNATURE_SCHEMES: [u16; 12] = [
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203,
];

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

fn put_ext(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    put_u16(out, ty);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

/// Build a complete ClientHello record.
///
/// Record version: 0x0300 for SSLv3, else 0x0301 (what OpenSSL and browsers send: old servers
/// reject a higher record version). client_version: the offered version, or 0x0303 plus
/// `supported_versions` = [TLS 1.3] for TLS 1.3 (RFC 8446 §4.1.2).
pub fn build_client_hello(h: &ClientHello<'_>) -> Vec<u8> {
    let legacy_version = match h.version {
        Version::Tls13 => 0x0303,
        v => v.wire(),
    };
    let mut body = Vec::with_capacity(512);
    put_u16(&mut body, legacy_version);
    body.extend_from_slice(&h.random);
    body.push(0); // session_id: empty
    let mut suites: Vec<u16> = h.suites.iter().copied().take(MAX_OFFERED_SUITES).collect();
    if h.version == Version::Ssl3 {
        suites.push(SCSV_RENEGOTIATION);
    }
    put_u16(&mut body, (suites.len() * 2) as u16);
    for s in &suites {
        put_u16(&mut body, *s);
    }
    body.extend_from_slice(&[1, 0]); // compression: null only

    if h.version != Version::Ssl3 {
        let mut ext = Vec::with_capacity(256);
        if let Some(name) = h.sni.filter(|n| !n.is_empty() && n.len() < 256) {
            let mut d = Vec::new();
            put_u16(&mut d, (name.len() + 3) as u16);
            d.push(0); // host_name
            put_u16(&mut d, name.len() as u16);
            d.extend_from_slice(name.as_bytes());
            put_ext(&mut ext, EXT_SERVER_NAME, &d);
        }
        let mut groups = Vec::new();
        put_u16(&mut groups, (GROUPS.len() * 2) as u16);
        GROUPS.iter().for_each(|g| put_u16(&mut groups, *g));
        put_ext(&mut ext, EXT_SUPPORTED_GROUPS, &groups);
        put_ext(&mut ext, EXT_EC_POINT_FORMATS, &[1, 0]);
        if h.version >= Version::Tls12 {
            let mut sig = Vec::new();
            put_u16(&mut sig, (SIGNATURE_SCHEMES.len() * 2) as u16);
            SIGNATURE_SCHEMES.iter().for_each(|s| put_u16(&mut sig, *s));
            put_ext(&mut ext, EXT_SIGNATURE_ALGORITHMS, &sig);
        }
        put_ext(&mut ext, EXT_EXTENDED_MASTER_SECRET, &[]);
        put_ext(&mut ext, EXT_RENEGOTIATION_INFO, &[0]);
        if h.version == Version::Tls13 {
            put_ext(&mut ext, EXT_SUPPORTED_VERSIONS, &[2, 0x03, 0x04]);
            put_ext(&mut ext, EXT_PSK_MODES, &[1, 1]); // psk_dhe_ke
            let mut ks = Vec::new();
            put_u16(&mut ks, 36);
            put_u16(&mut ks, 0x001d);
            put_u16(&mut ks, 32);
            ks.extend_from_slice(&h.key_share);
            put_ext(&mut ext, EXT_KEY_SHARE, &ks);
        }
        // Hellos of 256–511 bytes hang some F5 load balancers; pad them to 512 (RFC 7685).
        let hello_len = 4 + body.len() + 2 + ext.len();
        if (256..512).contains(&hello_len) {
            let pad = (512 - hello_len).saturating_sub(4).max(1);
            put_ext(&mut ext, EXT_PADDING, &vec![0; pad]);
        }
        put_u16(&mut body, ext.len() as u16);
        body.extend_from_slice(&ext);
    }

    let mut hs = Vec::with_capacity(body.len() + 4);
    hs.push(1); // client_hello
    put_u24(&mut hs, body.len());
    hs.extend_from_slice(&body);

    let mut rec = Vec::with_capacity(hs.len() + 5);
    rec.push(22);
    put_u16(
        &mut rec,
        if h.version == Version::Ssl3 {
            0x0300
        } else {
            0x0301
        },
    );
    put_u16(&mut rec, hs.len() as u16);
    rec.extend_from_slice(&hs);
    rec
}

/// What the server's ServerHello said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHelloInfo {
    /// The selected version (from `supported_versions` when present, RFC 8446 §4.2.1).
    pub version: Version,
    pub cipher: u16,
    /// A TLS 1.3 HelloRetryRequest (the server accepted 1.3 but wants another key share).
    pub hello_retry: bool,
}

/// The server's answer to one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerReply {
    Hello {
        hello: ServerHelloInfo,
        /// DER certificates of a plaintext (TLS ≤ 1.2) Certificate message, when asked for.
        certificates: Vec<Vec<u8>>,
        /// Why the certificates could not be read although asked for (anon suite, cap, EOF).
        certificate_error: Option<String>,
    },
    Alert {
        level: u8,
        description: u8,
    },
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum HelloError {
    #[error("not TLS: {0}")]
    NotTls(String),
    #[error("unexpected record type {0} before ServerHello")]
    UnexpectedRecord(u8),
    #[error("unexpected handshake message {0} before ServerHello")]
    UnexpectedMessage(u8),
    #[error("record of {0} bytes exceeds the TLS maximum")]
    RecordTooLong(usize),
    #[error("handshake message of {0} bytes exceeds the limit")]
    MessageTooLong(usize),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("server selected unknown version 0x{0:04x}")]
    UnknownVersion(u16),
    #[error("connection closed after {0} bytes, before a complete ServerHello")]
    Truncated(usize),
    #[error("connection closed without an answer")]
    Empty,
}

/// Parse the server's first flight from the bytes received so far.
///
/// * `Ok(Some(reply))`: a ServerHello (with the Certificate message when `want_certificate`
///   and the version is ≤ 1.2) or an alert.
/// * `Ok(None)`: more bytes are needed (only when `at_end` is false).
/// * `Err`: the bytes are not a TLS server flight, or ended too early (`at_end`: EOF, or the
///   byte cap was reached).
pub fn parse_server_flight(
    buf: &[u8],
    want_certificate: bool,
    at_end: bool,
    max_certs: usize,
) -> Result<Option<ServerReply>, HelloError> {
    let mut pos = 0;
    let mut handshake: Vec<u8> = Vec::new();
    let mut hs_pos = 0;
    let mut hello: Option<ServerHelloInfo> = None;

    let done_with = |hello: ServerHelloInfo, certs: Vec<Vec<u8>>, err: Option<String>| {
        Ok(Some(ServerReply::Hello {
            hello,
            certificates: certs,
            certificate_error: err,
        }))
    };

    while buf.len() - pos >= 5 {
        let content_type = buf[pos];
        let major = buf[pos + 1];
        let len = u16::from_be_bytes([buf[pos + 3], buf[pos + 4]]) as usize;
        if !(20..=24).contains(&content_type) || major != 3 {
            return match hello {
                Some(h) => done_with(
                    h,
                    Vec::new(),
                    Some("non-TLS bytes after ServerHello".into()),
                ),
                None => Err(not_tls(&buf[pos..])),
            };
        }
        if len > MAX_RECORD_BYTES {
            return Err(HelloError::RecordTooLong(len));
        }
        if buf.len() - pos - 5 < len {
            break; // partial record: wait for more
        }
        let payload = &buf[pos + 5..pos + 5 + len];
        pos += 5 + len;
        match content_type {
            21 => {
                if let Some(h) = hello {
                    return done_with(h, Vec::new(), Some("alert after ServerHello".into()));
                }
                return match parse_tls_message_alert(payload) {
                    Ok((_, TlsMessage::Alert(a))) => Ok(Some(ServerReply::Alert {
                        level: a.severity.0,
                        description: a.code.0,
                    })),
                    _ => Err(HelloError::Malformed("alert")),
                };
            }
            22 => handshake.extend_from_slice(payload),
            other => {
                return match hello {
                    // TLS 1.3 compatibility CCS, or encrypted records: the plaintext part is over.
                    Some(h) => done_with(h, Vec::new(), Some("no plaintext Certificate".into())),
                    None => Err(HelloError::UnexpectedRecord(other)),
                };
            }
        }
        // Take every complete handshake message reassembled so far.
        while handshake.len() - hs_pos >= 4 {
            let ty = handshake[hs_pos];
            let mlen = u32::from_be_bytes([
                0,
                handshake[hs_pos + 1],
                handshake[hs_pos + 2],
                handshake[hs_pos + 3],
            ]) as usize;
            if mlen > MAX_HANDSHAKE_MESSAGE_BYTES {
                return match hello {
                    Some(h) => done_with(
                        h,
                        Vec::new(),
                        Some(format!(
                            "handshake message {ty} of {mlen} bytes exceeds {MAX_HANDSHAKE_MESSAGE_BYTES}"
                        )),
                    ),
                    None => Err(HelloError::MessageTooLong(mlen)),
                };
            }
            if handshake.len() - hs_pos - 4 < mlen {
                break;
            }
            let msg = &handshake[hs_pos..hs_pos + 4 + mlen];
            hs_pos += 4 + mlen;
            match hello.clone() {
                None => match ty {
                    0 => continue, // HelloRequest: ignored by clients mid-handshake
                    2 => {
                        let h = parse_server_hello(msg)?;
                        if !want_certificate || h.version == Version::Tls13 || h.hello_retry {
                            return done_with(h, Vec::new(), None);
                        }
                        hello = Some(h);
                    }
                    other => return Err(HelloError::UnexpectedMessage(other)),
                },
                Some(h) => match ty {
                    11 => {
                        return match parse_tls_message_handshake(msg) {
                            Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) => {
                                let certs = c
                                    .cert_chain
                                    .iter()
                                    .take(max_certs)
                                    .map(|c| c.data.to_vec())
                                    .collect();
                                done_with(h, certs, None)
                            }
                            _ => done_with(h, Vec::new(), Some("malformed Certificate".into())),
                        };
                    }
                    // ServerKeyExchange, CertificateRequest, ServerHelloDone before any
                    // Certificate: an anonymous suite, no certificate will come.
                    12..=14 => {
                        return done_with(h, Vec::new(), Some("no Certificate message".into()))
                    }
                    _ => continue,
                },
            }
        }
    }

    if !at_end {
        return Ok(None);
    }
    match hello {
        Some(h) => done_with(
            h,
            Vec::new(),
            Some("flight ended before the Certificate message".into()),
        ),
        None if buf.is_empty() => Err(HelloError::Empty),
        None if buf.len() >= 5 && !(20..=24).contains(&buf[0]) => Err(not_tls(buf)),
        None => Err(HelloError::Truncated(buf.len())),
    }
}

/// What a non-TLS answer is, from its first bytes (`HTTP/…`, an SSLv2 hello, hex).
pub(crate) fn not_tls(bytes: &[u8]) -> HelloError {
    let head = &bytes[..bytes.len().min(8)];
    if head.starts_with(b"HTTP/") {
        return HelloError::NotTls("the server answered HTTP".into());
    }
    if head.first().is_some_and(|b| b & 0x80 != 0) && bytes.get(2) == Some(&4) {
        return HelloError::NotTls("SSLv2 ServerHello".into());
    }
    HelloError::NotTls(format!("first bytes {}", hex::encode(head)))
}

/// Parse one complete ServerHello handshake message (header included).
fn parse_server_hello(msg: &[u8]) -> Result<ServerHelloInfo, HelloError> {
    let sh = match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => sh,
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHelloV13Draft18(_)))) => {
            return Err(HelloError::UnknownVersion(0x7f12))
        }
        _ => {
            // tls-parser knows 0x0300..=0x0303 only: name an unknown version precisely.
            return match msg.get(4..6) {
                Some(v) if !(0x0300..=0x0303).contains(&u16::from_be_bytes([v[0], v[1]])) => {
                    Err(HelloError::UnknownVersion(u16::from_be_bytes([v[0], v[1]])))
                }
                _ => Err(HelloError::Malformed("ServerHello")),
            };
        }
    };
    let mut wire = sh.version.0;
    if let Some(ext) = sh.ext {
        if let Some(v) = selected_version(ext)? {
            wire = v;
        }
    }
    let version = Version::from_wire(wire).ok_or(HelloError::UnknownVersion(wire))?;
    Ok(ServerHelloInfo {
        version,
        cipher: sh.cipher.0,
        hello_retry: sh.random == HRR_RANDOM,
    })
}

/// The version in a ServerHello `supported_versions` extension, walking the extension block
/// with bounds checks (tls-parser rejects the whole block if any extension is odd).
fn selected_version(mut ext: &[u8]) -> Result<Option<u16>, HelloError> {
    while !ext.is_empty() {
        if ext.len() < 4 {
            return Err(HelloError::Malformed("ServerHello extensions"));
        }
        let ty = u16::from_be_bytes([ext[0], ext[1]]);
        let len = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        let data = ext
            .get(4..4 + len)
            .ok_or(HelloError::Malformed("ServerHello extensions"))?;
        if ty == EXT_SUPPORTED_VERSIONS {
            return match data {
                [a, b] => Ok(Some(u16::from_be_bytes([*a, *b]))),
                _ => Err(HelloError::Malformed("supported_versions")),
            };
        }
        ext = &ext[4 + len..];
    }
    Ok(None)
}

/// Name of an alert description (RFC 8446 §6), for messages.
pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        47 => "illegal_parameter",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tls_parser::{parse_tls_plaintext, TlsExtension};

    /// Hand-built fixtures (see fixtures/tls/README.md for how each was made).
    const SH_TLS12_RSA_AES128: &[u8] =
        include_bytes!("../../../fixtures/tls/serverhello-tls12-c02f.bin");
    const SH_SSL3_RC4: &[u8] = include_bytes!("../../../fixtures/tls/serverhello-ssl3-rc4-md5.bin");
    const SH_TLS13: &[u8] = include_bytes!("../../../fixtures/tls/serverhello-tls13.bin");
    const HRR_TLS13: &[u8] = include_bytes!("../../../fixtures/tls/helloretry-tls13.bin");
    const ALERT_70: &[u8] = include_bytes!("../../../fixtures/tls/alert-protocol-version.bin");
    const FLIGHT_TLS10_CERT: &[u8] =
        include_bytes!("../../../fixtures/tls/flight-tls10-hello-cert-done.bin");

    fn hello(version: Version, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
        build_client_hello(&ClientHello {
            version,
            suites,
            sni,
            random: [7; 32],
            key_share: [9; 32],
        })
    }

    #[test]
    fn client_hellos_parse_back_with_the_right_versions_and_extensions() {
        for v in Version::ALL {
            let suites = version_probe_suites(v);
            let bytes = hello(v, &suites, Some("shop.example.com"));
            let (rest, rec) = parse_tls_plaintext(&bytes).expect("parses");
            assert!(rest.is_empty());
            let record_version = if v == Version::Ssl3 { 0x0300 } else { 0x0301 };
            assert_eq!(rec.hdr.version.0, record_version);
            let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &rec.msg[0] else {
                panic!("not a ClientHello: {v:?}");
            };
            let expect = if v == Version::Tls13 {
                0x0303
            } else {
                v.wire()
            };
            assert_eq!(ch.version.0, expect);
            if v == Version::Ssl3 {
                assert!(ch.ext.is_none());
                assert_eq!(ch.ciphers.last().unwrap().0, SCSV_RENEGOTIATION);
                continue;
            }
            let (_, exts) = tls_parser::parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
            let has = |f: &dyn Fn(&TlsExtension) -> bool| exts.iter().any(f);
            assert!(has(
                &|e| matches!(e, TlsExtension::SNI(n) if n[0].1 == b"shop.example.com")
            ));
            assert!(has(&|e| matches!(e, TlsExtension::EllipticCurves(_))));
            assert!(has(&|e| matches!(e, TlsExtension::EcPointFormats(_))));
            assert!(has(&|e| matches!(e, TlsExtension::RenegotiationInfo(_))));
            assert_eq!(
                has(&|e| matches!(e, TlsExtension::SignatureAlgorithms(_))),
                v >= Version::Tls12
            );
            assert_eq!(
                has(&|e| matches!(e, TlsExtension::SupportedVersions(s) if s[0].0 == 0x0304)),
                v == Version::Tls13
            );
            assert_eq!(
                has(&|e| matches!(e, TlsExtension::KeyShare(_))),
                v == Version::Tls13
            );
            // Never in the 256..512 byte hole.
            let hs_len = bytes.len() - 5;
            assert!(!(256..512).contains(&hs_len), "{v:?}: {hs_len}");
        }
    }

    #[test]
    fn no_sni_for_ip_targets() {
        let bytes = hello(Version::Tls12, &[0xc02f], None);
        let (_, rec) = parse_tls_plaintext(&bytes).unwrap();
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &rec.msg[0] else {
            panic!()
        };
        let (_, exts) = tls_parser::parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
        assert!(!exts.iter().any(|e| matches!(e, TlsExtension::SNI(_))));
    }

    #[test]
    fn suite_lists_are_classified_and_capped() {
        for v in Version::ALL {
            let l = version_probe_suites(v);
            assert!(
                !l.is_empty() && l.len() <= MAX_OFFERED_SUITES,
                "{v:?} {}",
                l.len()
            );
        }
        // Strongest first: the first suite offered is ECDHE with AEAD.
        assert!(suite_name(version_probe_suites(Version::Tls12)[0]).starts_with("TLS_ECDHE_"));
        // TLS 1.0 lists carry no TLS 1.2-only suite.
        assert!(!version_probe_suites(Version::Tls10).contains(&0xc02f));
        for class in WeakClass::ALL {
            let l = class_suites(&[class]);
            assert!(!l.is_empty(), "{class:?}");
            for id in l {
                assert!(suite_classes(id).contains(&class), "{}", suite_name(id));
            }
        }
        assert!(class_suites(&[WeakClass::Rc4]).contains(&0x0005));
        assert!(class_suites(&[WeakClass::TripleDes]).contains(&0x000a));
        assert!(class_suites(&[WeakClass::Export]).contains(&0x0003));
        assert!(class_suites(&[WeakClass::Anon]).contains(&0x0034));
        assert!(class_suites(&[WeakClass::Anon]).contains(&0xc018));
        assert!(class_suites(&[WeakClass::Null]).contains(&0x0002));
        assert!(class_suites(&[WeakClass::Des]).contains(&0x0009));
        assert!(!class_suites(&WeakClass::ALL).contains(&0xc02f));
        let fs = forward_secret_suites();
        assert!(fs.contains(&0xc02f) && fs.contains(&0x009e));
        assert!(!fs.contains(&0x0034) && !fs.contains(&0x002f));
        assert!(is_forward_secret(0x1301));
        assert_eq!(suite_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0xfefe), "0xFEFE");
        assert_eq!(
            suite_classes(0x0017),
            [WeakClass::Export, WeakClass::Anon, WeakClass::Rc4]
        );
    }

    #[test]
    fn fixture_server_hello_tls12() {
        let r = parse_server_flight(SH_TLS12_RSA_AES128, false, false, 10)
            .unwrap()
            .unwrap();
        let ServerReply::Hello { hello, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(hello.version, Version::Tls12);
        assert_eq!(hello.cipher, 0xc02f);
        assert!(!hello.hello_retry);
    }

    #[test]
    fn fixture_server_hello_ssl3_rc4() {
        let r = parse_server_flight(SH_SSL3_RC4, false, false, 10)
            .unwrap()
            .unwrap();
        let ServerReply::Hello { hello, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(hello.version, Version::Ssl3);
        assert_eq!(hello.cipher, 0x0004);
    }

    #[test]
    fn fixture_server_hello_tls13_uses_supported_versions() {
        let r = parse_server_flight(SH_TLS13, true, false, 10)
            .unwrap()
            .unwrap();
        let ServerReply::Hello {
            hello,
            certificates,
            ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(hello.version, Version::Tls13);
        assert_eq!(hello.cipher, 0x1301);
        assert!(certificates.is_empty());
        let r = parse_server_flight(HRR_TLS13, true, false, 10)
            .unwrap()
            .unwrap();
        let ServerReply::Hello { hello, .. } = r else {
            panic!("{r:?}")
        };
        assert!(hello.hello_retry);
        assert_eq!(hello.version, Version::Tls13);
    }

    #[test]
    fn fixture_alert() {
        assert_eq!(
            parse_server_flight(ALERT_70, true, false, 10).unwrap(),
            Some(ServerReply::Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(alert_name(70), "protocol_version");
    }

    #[test]
    fn fixture_legacy_flight_with_certificate_in_one_read_and_split() {
        let r = parse_server_flight(FLIGHT_TLS10_CERT, true, false, 10)
            .unwrap()
            .unwrap();
        let ServerReply::Hello {
            hello,
            certificates,
            certificate_error,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(hello.version, Version::Tls10);
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates[0], b"\x30\x03\x02\x01\x01");
        assert_eq!(certificate_error, None);
        // Every split point: "need more" until the Certificate message is complete, then the
        // same answer (the trailing ServerHelloDone is not needed).
        let full = parse_server_flight(FLIGHT_TLS10_CERT, true, false, 10).unwrap();
        let mut answered = false;
        for cut in 0..FLIGHT_TLS10_CERT.len() {
            match parse_server_flight(&FLIGHT_TLS10_CERT[..cut], true, false, 10) {
                Ok(None) => assert!(!answered, "cut {cut}: need-more after an answer"),
                Ok(r) => {
                    assert_eq!(r, full, "cut {cut}");
                    answered = true;
                }
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
        assert!(answered);
        // Chain cap honoured.
        let ServerReply::Hello { certificates, .. } =
            parse_server_flight(FLIGHT_TLS10_CERT, true, false, 1)
                .unwrap()
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(certificates.len(), 1);
    }

    #[test]
    fn handshake_message_split_across_records() {
        // The ServerHello of the TLS 1.2 fixture re-framed as two records.
        let hs = &SH_TLS12_RSA_AES128[5..];
        let mut two = Vec::new();
        for part in [&hs[..10], &hs[10..]] {
            two.extend_from_slice(&[22, 3, 3]);
            two.extend_from_slice(&(part.len() as u16).to_be_bytes());
            two.extend_from_slice(part);
        }
        let r = parse_server_flight(&two, false, false, 10)
            .unwrap()
            .unwrap();
        assert!(matches!(
            r,
            ServerReply::Hello {
                hello: ServerHelloInfo { cipher: 0xc02f, .. },
                ..
            }
        ));
    }

    #[test]
    fn garbage_and_truncation() {
        assert!(matches!(
            parse_server_flight(b"HTTP/1.1 400 Bad Request\r\n", false, false, 10),
            Err(HelloError::NotTls(m)) if m.contains("HTTP")
        ));
        assert!(matches!(
            parse_server_flight(b"SSH-2.0-OpenSSH_9.6\r\n", false, true, 10),
            Err(HelloError::NotTls(_))
        ));
        assert_eq!(
            parse_server_flight(b"", false, true, 10),
            Err(HelloError::Empty)
        );
        assert_eq!(parse_server_flight(b"\x16\x03", false, false, 10), Ok(None));
        assert_eq!(
            parse_server_flight(&SH_TLS12_RSA_AES128[..20], false, true, 10),
            Err(HelloError::Truncated(20))
        );
        assert_eq!(
            parse_server_flight(b"\x16\x03\x03\xff\xff", false, false, 10),
            Err(HelloError::RecordTooLong(0xffff))
        );
        assert_eq!(
            parse_server_flight(b"\x17\x03\x03\x00\x01\x00", false, false, 10),
            Err(HelloError::UnexpectedRecord(23))
        );
        // A ServerHello followed by a Certificate message announced at 16 MiB.
        let mut big = SH_TLS12_RSA_AES128.to_vec();
        big.extend_from_slice(&[22, 3, 3, 0, 4, 11, 0xff, 0xff, 0xff]);
        let r = parse_server_flight(&big, true, false, 10).unwrap().unwrap();
        let ServerReply::Hello {
            certificate_error, ..
        } = r
        else {
            panic!()
        };
        assert!(certificate_error.unwrap().contains("exceeds"));
    }

    proptest! {
        #[test]
        fn flight_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                      want in any::<bool>(), end in any::<bool>()) {
            let _ = parse_server_flight(&bytes, want, end, 10);
        }

        #[test]
        fn flight_parser_never_panics_on_tls_shaped_input(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            ty in 20u8..=24, minor in 0u8..=4) {
            let mut rec = vec![ty, 3, minor];
            rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
            rec.extend_from_slice(&body);
            let _ = parse_server_flight(&rec, true, true, 10);
            let mut hs = vec![22, 3, minor];
            hs.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
            hs.extend_from_slice(&[2, 0, (body.len() >> 8) as u8, body.len() as u8]);
            hs.extend_from_slice(&body);
            let _ = parse_server_flight(&hs, true, true, 10);
        }
    }
}
