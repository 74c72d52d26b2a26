//! Service identification from the first bytes of a TCP conversation (pure, no I/O).
//!
//! [`guess_service`] names the service on a port from what [`super::banner::probe_banner`]
//! read: the greeting of a service that speaks first (ssh, smtp, ftp, …), or the answer to the
//! nudge it sent (http, redis, postgresql, …). When the bytes say nothing it recognises, the
//! port's conventional service from nmap's table is used, and `unknown` when there is none.
//!
//! # Vocabulary
//!
//! Rules match on `port.service`, so the names are ours, short and stable, not nmap's (nmap
//! says `ms-wbt-server`, `microsoft-ds`, `memcache`; we say `rdp`, `smb`, `memcached`). These
//! names are produced by banner recognition and by the port table alike, and rules can rely on
//! them ([`SERVICE_VOCABULARY`]):
//!
//! `amqp`, `couchdb`, `dns`, `docker`, `elasticsearch`, `etcd`, `ftp`, `ftps`, `http`,
//! `https`, `imap`, `imaps`, `irc`, `kerberos`, `ldap`, `ldaps`, `memcached`, `mongodb`,
//! `mqtt`, `mqtts`, `msrpc`, `mssql`, `mysql`, `netbios`, `nfs`, `oracle`, `pop3`, `pop3s`,
//! `postgresql`, `rdp`, `redis`, `rexec`, `rlogin`, `rpcbind`, `rsh`, `rsync`, `rtsp`, `sip`,
//! `sips`, `smb`, `smtp`, `smtps`, `snmp`, `ssh`, `telnet`, `tftp`, `tls`, `vnc`, `winrm`,
//! `winrm-https`, `x11`, and `unknown`.
//!
//! `tls` means "speaks TLS, application protocol not known from the port"; a TLS answer on a
//! port whose service is a TLS one (443, 993, …) is reported as that service (`https`,
//! `imaps`). Ports outside the vocabulary fall back to nmap's name, lowercased (`pptp`,
//! `sun-answerbook`): informative, but not a stable rule vocabulary.
//!
//! # Sources
//!
//! The second element of the result says how the name was decided: `banner` when a service
//! identified itself in a greeting it sent unasked, `probe` when it is an answer to our nudge
//! (HTTP, redis, postgresql, TLS, …: protocols that only answer), `port` for the port table
//! (also for `unknown`, after the table had nothing).

use crate::engine::top_ports::port_service_name;

/// Identified from a greeting the service sent unasked.
pub const SOURCE_BANNER: &str = "banner";
/// Identified from the answer to our nudge.
pub const SOURCE_PROBE: &str = "probe";
/// Taken from the well-known port table (or `unknown`).
pub const SOURCE_PORT: &str = "port";
/// The service name when nothing identifies one.
pub const UNKNOWN: &str = "unknown";

/// Every canonical service name (see the module docs), sorted.
pub const SERVICE_VOCABULARY: &[&str] = &[
    "amqp",
    "couchdb",
    "dns",
    "docker",
    "elasticsearch",
    "etcd",
    "ftp",
    "ftps",
    "http",
    "https",
    "imap",
    "imaps",
    "irc",
    "kerberos",
    "ldap",
    "ldaps",
    "memcached",
    "mongodb",
    "mqtt",
    "mqtts",
    "msrpc",
    "mssql",
    "mysql",
    "netbios",
    "nfs",
    "oracle",
    "pop3",
    "pop3s",
    "postgresql",
    "rdp",
    "redis",
    "rexec",
    "rlogin",
    "rpcbind",
    "rsh",
    "rsync",
    "rtsp",
    "sip",
    "sips",
    "smb",
    "smtp",
    "smtps",
    "snmp",
    "ssh",
    "telnet",
    "tftp",
    "tls",
    "unknown",
    "vnc",
    "winrm",
    "winrm-https",
    "x11",
    "zookeeper",
];

/// Services that are TLS from the first byte: a TLS answer on their port confirms them.
const TLS_SERVICES: &[&str] = &[
    "https",
    "imaps",
    "pop3s",
    "smtps",
    "ldaps",
    "sips",
    "mqtts",
    "ftps",
    "winrm-https",
];

/// True for services that are TLS from the first byte (`https`, `imaps`, …).
pub fn is_tls_service(name: &str) -> bool {
    TLS_SERVICES.contains(&name)
}

/// Only this many leading bytes are searched for keywords: greetings identify themselves in
/// the first line or headers, and it keeps matching cost fixed whatever the banner cap is.
const SCAN_BYTES: usize = 2048;

/// Names the service on `port` from the bytes it sent (see the module docs).
pub fn guess_service(port: u16, banner: &[u8]) -> (String, &'static str) {
    let (name, source) = identify(port, banner)
        .unwrap_or_else(|| (port_service(port).unwrap_or(UNKNOWN), SOURCE_PORT));
    (name.to_string(), source)
}

/// The canonical service conventionally on a TCP port (`3389` → `rdp`), from nmap's table
/// mapped to our vocabulary; nmap's own name for ports outside it.
pub fn port_service(port: u16) -> Option<&'static str> {
    // Ports nmap names after something else that is rarely what listens there today.
    let by_port = match port {
        9200 => Some("elasticsearch"),
        2375 | 2376 => Some("docker"),
        8883 => Some("mqtts"),
        5986 => Some("winrm-https"),
        11211 => Some("memcached"),
        2379 => Some("etcd"),
        // nmap says `eforward`; ZooKeeper's client port is what listens there today.
        2181 => Some("zookeeper"),
        _ => None,
    };
    by_port.or_else(|| port_service_name(port).map(canonical_service))
}

/// Maps one of nmap's service names (lowercased) to our vocabulary; other names pass through.
pub fn canonical_service(nmap_name: &'static str) -> &'static str {
    match nmap_name {
        "http-alt" | "http-proxy" | "www-http" => "http",
        "https-alt" | "sun-sr-https" => "https",
        "ms-wbt-server" => "rdp",
        "microsoft-ds" => "smb",
        "netbios-ssn" => "netbios",
        "mongod" | "mongodb" => "mongodb",
        "memcache" | "memcached" => "memcached",
        "postgres" | "postgresql" => "postgresql",
        "domain" => "dns",
        "ldapssl" => "ldaps",
        "submission" => "smtp",
        "ms-sql-s" => "mssql",
        "oracle" | "oracle-tns" => "oracle",
        "secure-mqtt" => "mqtts",
        "sip-tls" => "sips",
        "wsman" => "winrm",
        "wsmans" => "winrm-https",
        "etcd-client" => "etcd",
        "kerberos-sec" => "kerberos",
        "login" => "rlogin",
        "shell" => "rsh",
        "exec" => "rexec",
        "ftps-data" | "ftps" => "ftps",
        "sunrpc" | "rpcbind" => "rpcbind",
        name if name.starts_with("x11") => "x11",
        name if name.starts_with("vnc") => "vnc",
        name => name,
    }
}

/// True when the bytes start like a TLS record a server sends first: a handshake (0x16) or an
/// alert (0x15), major version 3, minor 0–4 (SSL 3.0 … TLS 1.3 legacy version), and a record
/// length within the protocol's maximum (2^14 + 2048) when the header is complete.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    match bytes {
        [0x15 | 0x16, 0x03, minor, rest @ ..] if *minor <= 0x04 => match rest {
            [hi, lo, ..] => {
                let len = u16::from_be_bytes([*hi, *lo]);
                len > 0 && usize::from(len) <= (1 << 14) + 2048
            }
            _ => true,
        },
        _ => false,
    }
}

/// The banner as a string for facts: valid UTF-8 is kept as is, bytes that are not UTF-8 are
/// written `\xNN`, and control or bidi-formatting characters other than `\t`, `\n`, `\r` are
/// written `\u{NN}` — so the string is faithful to what was read, yet cannot carry terminal
/// escapes or reorder text. A `\` the server sent is written `\\`, so the encoding is
/// reversible: the exact bytes can be recovered from the evidence (binary answers such as an SMB
/// server GUID hold 0x5c as often as any byte). Reports escape it again for their format.
pub fn printable_banner(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_unsafe_char(c) {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn is_unsafe_char(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c,
            '\u{200e}' | '\u{200f}'             // LRM, RLM
            | '\u{202a}'..='\u{202e}'           // embeddings and overrides
            | '\u{2066}'..='\u{2069}'           // isolates
            | '\u{061c}'                        // Arabic letter mark
            | '\u{feff}'                        // BOM / zero-width no-break space
        )
}

/// The recognisers, most specific first. `None` when the bytes identify nothing.
fn identify(port: u16, bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.is_empty() {
        return None;
    }
    let head = &bytes[..bytes.len().min(SCAN_BYTES)];
    if looks_like_tls(head) {
        let name = port_service(port)
            .filter(|s| TLS_SERVICES.contains(s))
            .unwrap_or("tls");
        return Some((name, SOURCE_PROBE));
    }
    if head.starts_with(b"SSH-") {
        return Some(("ssh", SOURCE_BANNER));
    }
    if head.starts_with(b"HTTP/") {
        return Some((http_flavour(head), SOURCE_PROBE));
    }
    if head.starts_with(b"RTSP/1.") {
        return Some(("rtsp", SOURCE_PROBE));
    }
    if head.starts_with(b"SIP/2.0 ") {
        return Some(("sip", SOURCE_PROBE));
    }
    if head.starts_with(b"RFB ") && head.get(4..8) == Some(b"003.".as_slice()) {
        return Some(("vnc", SOURCE_BANNER));
    }
    if head.starts_with(b"AMQP") && head.len() >= 8 {
        return Some(("amqp", SOURCE_PROBE));
    }
    if head.starts_with(b"@RSYNCD:") {
        return Some(("rsync", SOURCE_BANNER));
    }
    if head.starts_with(b"* OK") || head.starts_with(b"* PREAUTH") || head.starts_with(b"* BYE") {
        return Some(("imap", SOURCE_BANNER));
    }
    if head.starts_with(b"+OK") {
        return Some(("pop3", SOURCE_BANNER));
    }
    // ZooKeeper's answer to the `srvr` four-letter word, or its refusal when `srvr` is not
    // whitelisted (3.5+).
    if head.starts_with(b"Zookeeper version: ")
        || contains(
            head,
            b" is not executed because it is not in the whitelist.",
        )
    {
        return Some(("zookeeper", SOURCE_PROBE));
    }
    if let Some(found) = redis_reply(port, head) {
        return Some(found);
    }
    if head.starts_with(b"ERROR\r\n")
        || head.starts_with(b"CLIENT_ERROR ")
        || head.starts_with(b"SERVER_ERROR ")
    {
        return Some(("memcached", SOURCE_PROBE));
    }
    if let Some(name) = reply_code_greeting(port, head) {
        return Some((name, SOURCE_BANNER));
    }
    if is_mysql_greeting(head) {
        return Some(("mysql", SOURCE_BANNER));
    }
    if is_postgres_reply(port, head) {
        return Some(("postgresql", SOURCE_PROBE));
    }
    if is_telnet_negotiation(head) {
        return Some(("telnet", SOURCE_BANNER));
    }
    binary_reply(port, head).map(|name| (name, SOURCE_PROBE))
}

/// HTTP servers that are really something else: the response to `GET /` gives them away.
fn http_flavour(head: &[u8]) -> &'static str {
    if contains_ci(head, b"x-elastic-product:") || contains(head, b"\"cluster_name\"") {
        "elasticsearch"
    } else if contains_ci(head, b"\napi-version:")
        || contains_ci(head, b"\nserver: docker/")
        || contains_ci(head, b"\ndocker-experimental:")
    {
        "docker"
    } else if contains(head, b"\"couchdb\"") {
        "couchdb"
    } else if contains(head, b"{\"etcdserver\":\"")
        || (contains_ci(
            head,
            b"\naccess-control-allow-headers: accept, content-type, authorization",
        ) && contains_ci(
            head,
            b"\naccess-control-allow-methods: POST, GET, OPTIONS, PUT, DELETE",
        ))
    {
        // etcd's API answers `GET /` with a 404 carrying its own CORS headers (etcd 3.4/3.5).
        "etcd"
    } else if contains(head, b"plain HTTP request was sent to HTTPS port")
        || contains(head, b"speaking plain HTTP to an SSL-enabled server")
        || contains(head, b"Client sent an HTTP request to an HTTPS server")
    {
        // nginx, Apache and Go answer plaintext on a TLS port with a 400 that says so.
        "https"
    } else {
        // Plaintext HTTP is `http` on any port, 443 included.
        "http"
    }
}

/// Redis replies to `PING` (or errors to anything else) in RESP.
fn redis_reply(port: u16, head: &[u8]) -> Option<(&'static str, &'static str)> {
    const REDIS_ONLY: &[&[u8]] = &[
        b"+PONG",
        b"-NOAUTH",
        b"-DENIED",
        b"-WRONGPASS",
        b"-LOADING",
        b"-MISCONF",
        b"-BUSY",
        b"-MASTERDOWN",
        // Redis 6+ ACLs: the user may not run the command.
        b"-NOPERM",
    ];
    if REDIS_ONLY.iter().any(|p| head.starts_with(p)) {
        return Some(("redis", SOURCE_PROBE));
    }
    // `-ERR` is also POP3's error reply (a POP3 server refusing a client says `-ERR …`).
    if head.starts_with(b"-ERR") {
        let pop3_port = matches!(port_service(port), Some("pop3" | "pop3s"));
        return Some(if pop3_port {
            ("pop3", SOURCE_BANNER)
        } else {
            ("redis", SOURCE_PROBE)
        });
    }
    // A bulk string reply: `$<len>\r\n` (or `$-1\r\n`).
    if let Some(rest) = head.strip_prefix(b"$") {
        let digits = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'-');
        let n = digits.count();
        if n > 0 && rest.get(n..n + 2) == Some(b"\r\n".as_slice()) {
            return Some(("redis", SOURCE_PROBE));
        }
    }
    None
}

/// Line protocols that greet with a 3-digit reply code (`220 …`): SMTP and FTP, told apart by
/// the product or protocol named in the greeting, else by the port.
fn reply_code_greeting(port: u16, head: &[u8]) -> Option<&'static str> {
    let code_ok = head.len() >= 4
        && head[..3].iter().all(u8::is_ascii_digit)
        && matches!(head[3], b' ' | b'-' | b'\r' | b'\n');
    if !code_ok || !matches!(head[0], b'1'..=b'5') {
        return None;
    }
    let line = &head[..head.len().min(512)];
    // Case-sensitive "SMTP"/"FTP": hostnames in greetings (smtp.example.com) are lowercase.
    let smtp = contains(line, b"SMTP")
        || contains_ci(line, b"postfix")
        || contains_ci(line, b"exim")
        || contains_ci(line, b"sendmail")
        || contains_ci(line, b"mail service")
        || contains(line, b"Haraka");
    let ftp = contains(line, b"FTP")
        || contains_ci(line, b"vsftpd")
        || contains_ci(line, b"filezilla")
        || contains_ci(line, b"proftpd")
        || contains_ci(line, b"pure-ftpd");
    let by_port = match port_service(port) {
        Some("ftp") => Some("ftp"),
        Some("smtp" | "smtps") => Some("smtp"),
        _ => None,
    };
    match (smtp, ftp) {
        (true, false) => Some("smtp"),
        (false, true) => Some("ftp"),
        // Both or neither named: trust the port; a bare 220 elsewhere is most often SMTP.
        _ => by_port.or(if head.starts_with(b"220") {
            Some("smtp")
        } else {
            None
        }),
    }
}

/// MySQL/MariaDB speak first: a packet (3-byte little-endian length, sequence 0) holding either
/// a v10 handshake (0x0a, a NUL-terminated printable server version) or an error (0xff, 2-byte
/// code, message) such as "Host … is not allowed to connect".
fn is_mysql_greeting(head: &[u8]) -> bool {
    let [l0, l1, l2, 0, body @ ..] = head else {
        return false;
    };
    let len = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
    if !(3..=0xffff).contains(&len) {
        return false;
    }
    match body {
        [0x0a, version @ ..] => {
            let Some(nul) = version.iter().take(64).position(|&b| b == 0) else {
                return false;
            };
            nul > 0
                && version[..nul].first().is_some_and(u8::is_ascii_digit)
                && version[..nul].iter().all(|b| b.is_ascii_graphic())
        }
        [0xff, _, _, message @ ..] => {
            let message = &message[..message.len().min(len)];
            contains(message, b"MySQL")
                || contains(message, b"MariaDB")
                || contains(message, b"is not allowed to connect")
                || contains(message, b"Too many connections")
                || contains(message, b"is blocked because of many connection errors")
        }
        _ => false,
    }
}

/// PostgreSQL answers our startup packet (protocol 0.0) with an ErrorResponse: `E`, a 4-byte
/// big-endian length, then fields starting with a severity (`SFATAL` / `SERROR`); servers from
/// before protocol 3 answer `E` and a plain `FATAL:` message. A lone `N`/`S` (an answer to an
/// SSLRequest) is accepted on PostgreSQL's port only.
fn is_postgres_reply(port: u16, head: &[u8]) -> bool {
    match head {
        [b'E', a, b, c, d, fields @ ..] => {
            let len = u32::from_be_bytes([*a, *b, *c, *d]);
            let v3 = (8..=0x10000).contains(&len)
                && (fields.starts_with(b"SFATAL") || fields.starts_with(b"SERROR"));
            v3 || head[1..].starts_with(b"FATAL:") || head[1..].starts_with(b"ERROR:")
        }
        [b'N' | b'S'] => port_service(port) == Some("postgresql"),
        _ => false,
    }
}

/// Telnet servers open with option negotiation: IAC (0xff) then WILL/WONT/DO/DONT (0xfb–0xfe).
fn is_telnet_negotiation(head: &[u8]) -> bool {
    matches!(head, [0xff, 0xfb..=0xfe, ..])
}

/// Binary protocols that only answer: RDP, SMB/NetBIOS, LDAP, MQTT, MongoDB, X11.
fn binary_reply(port: u16, head: &[u8]) -> Option<&'static str> {
    // TPKT (RFC 1006): version 3, reserved 0, 16-bit length; X.224 Connection Confirm (0xd0).
    if let [0x03, 0x00, hi, lo, li, code, ..] = head {
        let len = u16::from_be_bytes([*hi, *lo]);
        if len >= 7 && *li >= 2 && code & 0xf0 == 0xd0 {
            return Some("rdp");
        }
    }
    // NetBIOS session service (RFC 1002): a session message carrying SMB1/SMB2, or a
    // positive (0x82) / negative (0x83) answer to a session request.
    match head {
        [0x00, _, _, _, 0xff | 0xfe, b'S', b'M', b'B', ..] => return Some("smb"),
        [0x82, 0x00, 0x00, 0x00] | [0x83, 0x00, 0x00, 0x01, _] => return Some("netbios"),
        _ => {}
    }
    if is_ldap_reply(head) {
        return Some("ldap");
    }
    // MQTT CONNACK: type 2, remaining length 2 (v3.1.1) or more (v5), ack flags 0/1.
    if let [0x20, rem, flags, ..] = head {
        if (2..=127).contains(rem) && *flags <= 1 && head.len() == usize::from(*rem) + 2 {
            return Some("mqtt");
        }
    }
    if is_mongodb_reply(head) {
        return Some("mongodb");
    }
    // X11 connection setup reply: status 0 (failed) or 1 (success), protocol major 11 at 2..4
    // in our little-endian byte order; status 2 (authenticate) carries no version.
    match head {
        [0 | 1, _, 11, 0, ..] if head.len() >= 8 => return Some("x11"),
        [2, ..] if port_service(port) == Some("x11") && head.len() >= 8 => return Some("x11"),
        _ => {}
    }
    None
}

/// An LDAPMessage (BER SEQUENCE) answering message id 1 with a BindResponse (0x61),
/// SearchResultEntry (0x64), SearchResultDone (0x65) or ExtendedResponse (0x78, e.g. a notice
/// of disconnection, which uses message id 0).
fn is_ldap_reply(head: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = head else {
        return false;
    };
    // Short or long form length; skip the length octets.
    let rest = match *first {
        0..=0x7f => rest,
        0x81..=0x84 => match rest.get(usize::from(first & 0x7f)..) {
            Some(r) => r,
            None => return false,
        },
        _ => return false,
    };
    matches!(
        rest,
        [0x02, 0x01, 0x00 | 0x01, 0x61 | 0x64 | 0x65 | 0x78, ..]
    )
}

/// A MongoDB wire message answering ours: header `messageLength`, `requestID`, `responseTo`,
/// `opCode` (all little-endian i32) with responseTo = our request id and opCode OP_MSG (2013) or
/// OP_REPLY (1).
fn is_mongodb_reply(head: &[u8]) -> bool {
    let Some(header) = head.get(..16) else {
        return false;
    };
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (len, response_to, op) = (word(0), word(8), word(12));
    (16..=48_000_000).contains(&len)
        && response_to == super::banner::MONGODB_REQUEST_ID
        && (op == 2013 || op == 1)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `needle` anywhere in `haystack`, ASCII case-insensitively.
pub(crate) fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn guess(port: u16, bytes: &[u8]) -> (String, &'static str) {
        guess_service(port, bytes)
    }

    fn assert_guess(port: u16, bytes: &[u8], service: &str, source: &str) {
        let (s, src) = guess(port, bytes);
        assert_eq!(
            (s.as_str(), src),
            (service, source),
            "port {port}, bytes {:?}",
            printable_banner(&bytes[..bytes.len().min(80)])
        );
    }

    // --- Real servers, captured on loopback (fixtures/banners/README.md says how). ---

    #[test]
    fn real_openssh() {
        let b = include_bytes!("../../fixtures/banners/ssh-openssh.bin");
        assert_guess(22, b, "ssh", "banner");
        assert_guess(2222, b, "ssh", "banner");
        assert_guess(40000, b, "ssh", "banner");
    }

    #[test]
    fn real_redis() {
        let pong = include_bytes!("../../fixtures/banners/redis-ping.bin");
        let noauth = include_bytes!("../../fixtures/banners/redis-noauth.bin");
        assert_guess(6379, pong, "redis", "probe");
        assert_guess(7000, pong, "redis", "probe");
        assert_guess(6379, noauth, "redis", "probe");
        assert_guess(16379, noauth, "redis", "probe");
    }

    #[test]
    fn real_postfix() {
        let b = include_bytes!("../../fixtures/banners/smtp-postfix.bin");
        assert_guess(25, b, "smtp", "banner");
        assert_guess(2525, b, "smtp", "banner");
        assert_guess(21, b, "smtp", "banner");
    }

    #[test]
    fn real_vsftpd() {
        let b = include_bytes!("../../fixtures/banners/ftp-vsftpd.bin");
        assert_guess(21, b, "ftp", "banner");
        assert_guess(2121, b, "ftp", "banner");
        assert_guess(25, b, "ftp", "banner");
        let oops = include_bytes!("../../fixtures/banners/ftp-vsftpd-oops.bin");
        assert_guess(4021, oops, "ftp", "banner");
    }

    #[test]
    fn real_mariadb() {
        let b = include_bytes!("../../fixtures/banners/mysql-mariadb.bin");
        assert_guess(3306, b, "mysql", "banner");
        assert_guess(13306, b, "mysql", "banner");
    }

    #[test]
    fn real_postgresql() {
        let b = include_bytes!("../../fixtures/banners/postgresql-startup0.bin");
        assert_guess(5432, b, "postgresql", "probe");
        assert_guess(15432, b, "postgresql", "probe");
        assert_guess(5432, b"N", "postgresql", "probe");
        assert_guess(61999, b"N", "unknown", "port");
    }

    #[test]
    fn real_memcached() {
        let b = include_bytes!("../../fixtures/banners/memcached-generic.bin");
        assert_guess(11211, b, "memcached", "probe");
        assert_guess(31211, b, "memcached", "probe");
    }

    #[test]
    fn real_nginx() {
        let b = include_bytes!("../../fixtures/banners/http-nginx.bin");
        assert_guess(80, b, "http", "probe");
        assert_guess(8080, b, "http", "probe");
        assert_guess(443, b, "http", "probe");
        let tls_port = include_bytes!("../../fixtures/banners/https-nginx-plain-http.bin");
        assert_guess(443, tls_port, "https", "probe");
        assert_guess(40443, tls_port, "https", "probe");
    }

    #[test]
    fn real_tls_answers() {
        for (name, b) in [
            (
                "nginx",
                include_bytes!("../../fixtures/banners/tls-nginx-hello.bin").as_slice(),
            ),
            (
                "openssl",
                include_bytes!("../../fixtures/banners/tls-openssl-hello.bin").as_slice(),
            ),
        ] {
            assert!(looks_like_tls(b), "{name}");
            assert_guess(443, b, "https", "probe");
            assert_guess(993, b, "imaps", "probe");
            assert_guess(8443, b, "https", "probe");
            assert_guess(40000, b, "tls", "probe");
            assert_guess(22, b, "tls", "probe");
        }
    }

    #[test]
    fn real_tls_alert_and_plaintext_answer_to_a_hello() {
        let alert = include_bytes!("../../fixtures/banners/tls13only-openssl-alert.bin");
        assert_eq!(alert.as_slice(), [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 70]);
        assert_guess(443, alert, "https", "probe");
        assert_guess(636, alert, "ldaps", "probe");
        assert_guess(12345, alert, "tls", "probe");
        let plain = include_bytes!("../../fixtures/banners/http-nginx-tlshello.bin");
        assert_guess(443, plain, "http", "probe");
    }

    // --- Hand-built from the protocol specifications (no server installed here). ---

    #[test]
    fn mail_greetings() {
        assert_guess(110, b"+OK Dovecot (Debian) ready.\r\n", "pop3", "banner");
        assert_guess(
            143,
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE] Dovecot ready.\r\n",
            "imap",
            "banner",
        );
        assert_guess(
            110,
            b"-ERR [SYS/TEMP] too many connections\r\n",
            "pop3",
            "banner",
        );
        assert_guess(
            25,
            b"220-mx.example.org ESMTP Exim 4.96 Mon, 1 Jan 2024\r\n220 x\r\n",
            "smtp",
            "banner",
        );
        assert_guess(
            25,
            b"220 smtp.example.com Microsoft ESMTP MAIL Service ready\r\n",
            "smtp",
            "banner",
        );
        assert_guess(
            587,
            b"554 smtp.example.com ESMTP not accepting messages\r\n",
            "smtp",
            "banner",
        );
        assert_guess(2525, b"220 mx.example.com ready\r\n", "smtp", "banner");
    }

    #[test]
    fn ftp_greetings() {
        assert_guess(
            21,
            b"220 ProFTPD Server (Debian) [::ffff:10.0.0.1]\r\n",
            "ftp",
            "banner",
        );
        assert_guess(
            21,
            b"220-FileZilla Server 1.7.0\r\n220 Please visit\r\n",
            "ftp",
            "banner",
        );
        assert_guess(
            21,
            b"220---------- Welcome to Pure-FTPd [privsep] ----------\r\n",
            "ftp",
            "banner",
        );
        assert_guess(21, b"220 Welcome\r\n", "ftp", "banner");
        // A hostname saying "smtp" in lowercase does not make an FTP server SMTP.
        assert_guess(
            21,
            b"220 smtp.example.com FTP server ready\r\n",
            "ftp",
            "banner",
        );
        assert_guess(21, b"421 Too many connections\r\n", "ftp", "banner");
    }

    #[test]
    fn mysql_error_packet_first() {
        let msg = b"Host '10.1.2.3' is not allowed to connect to this MySQL server";
        let mut packet = vec![(msg.len() + 3) as u8, 0, 0, 0, 0xff, 0x6a, 0x04];
        packet.extend_from_slice(msg);
        assert_guess(3306, &packet, "mysql", "banner");
        // MySQL 8 handshake (protocol 10, version "8.0.36").
        let mut hs = vec![0x4a, 0, 0, 0, 0x0a];
        hs.extend_from_slice(b"8.0.36\0");
        hs.extend_from_slice(&[0x0d, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
        assert_guess(33060, &hs, "mysql", "banner");
        assert!(!is_mysql_greeting(b"\x05\x00\x00\x00\x0a\x00"));
    }

    #[test]
    fn other_greetings() {
        assert_guess(5900, b"RFB 003.008\n", "vnc", "banner");
        assert_guess(5901, b"RFB 003.003\n", "vnc", "banner");
        assert_guess(
            23,
            &[0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20, 0xff, 0xfd, 0x23],
            "telnet",
            "banner",
        );
        assert_guess(2323, &[0xff, 0xfb, 0x01], "telnet", "banner");
        assert_guess(
            873,
            b"@RSYNCD: 31.0 sha512 sha256 sha1 md5 md4\n",
            "rsync",
            "banner",
        );
    }

    #[test]
    fn etcd_zookeeper_and_redis_acl_answers() {
        // etcd 3.4.23's answer to `GET / HTTP/1.0`.
        let etcd = b"HTTP/1.0 404 Not Found\r\nAccess-Control-Allow-Headers: accept, content-type, authorization\r\nAccess-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\n404 page not found\n";
        assert_guess(2379, etcd, "etcd", "probe");
        assert_guess(12379, etcd, "etcd", "probe");
        assert_guess(
            8080,
            b"HTTP/1.1 200 OK\r\n\r\n{\"etcdserver\":\"3.5.9\",\"etcdcluster\":\"3.5.0\"}",
            "etcd",
            "probe",
        );
        // ZooKeeper 3.8's `srvr` answer, and its refusal when the word is not whitelisted.
        assert_guess(2181, b"Zookeeper version: 3.8.0-debian, built on 2023-01-01\nLatency min/avg/max: 0/0.0/0\nMode: standalone\n", "zookeeper", "probe");
        assert_guess(
            12181,
            b"srvr is not executed because it is not in the whitelist.\n",
            "zookeeper",
            "probe",
        );
        assert_guess(2181, b"", "zookeeper", "port");
        assert_guess(
            6379,
            b"-NOPERM this user has no permissions to run the 'ping' command\r\n",
            "redis",
            "probe",
        );
    }

    #[test]
    fn http_flavours() {
        let es = b"HTTP/1.0 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\n\r\n{\n  \"name\" : \"node-1\",\n  \"cluster_name\" : \"docker-cluster\",";
        assert_guess(9200, es, "elasticsearch", "probe");
        assert_guess(80, es, "elasticsearch", "probe");
        let es6 = b"HTTP/1.0 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{\n  \"name\" : \"a\",\n  \"cluster_name\" : \"elasticsearch\",";
        assert_guess(9201, es6, "elasticsearch", "probe");
        let docker = b"HTTP/1.0 404 Not Found\r\nApi-Version: 1.45\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/26.1.5 (linux)\r\n\r\n{\"message\":\"page not found\"}\n";
        assert_guess(2375, docker, "docker", "probe");
        assert_guess(80, b"HTTP/1.1 400 Bad Request\r\n\r\n", "http", "probe");
        let apache = b"HTTP/1.1 400 Bad Request\r\nServer: Apache\r\n\r\n<p>Your browser sent a request that this server could not understand.<br />\nReason: You're speaking plain HTTP to an SSL-enabled server port.<br />";
        assert_guess(8443, apache, "https", "probe");
        let couch = b"HTTP/1.0 200 OK\r\nServer: CouchDB/3.3.3 (Erlang OTP/24)\r\n\r\n{\"couchdb\":\"Welcome\",\"version\":\"3.3.3\"}";
        assert_guess(5984, couch, "couchdb", "probe");
        assert_guess(
            554,
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
            "rtsp",
            "probe",
        );
        assert_guess(
            5060,
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP nm\r\n\r\n",
            "sip",
            "probe",
        );
    }

    #[test]
    fn redis_replies() {
        assert_guess(
            6379,
            b"-DENIED Redis is running in protected mode because protected mode is enabled\r\n",
            "redis",
            "probe",
        );
        assert_guess(
            6379,
            b"-ERR unknown command 'GET', with args beginning with: '/'\r\n",
            "redis",
            "probe",
        );
        assert_guess(6379, b"$-1\r\n", "redis", "probe");
        assert_guess(6379, b"$4\r\nPONG\r\n", "redis", "probe");
        assert_guess(
            6379,
            b"-WRONGPASS invalid username-password pair\r\n",
            "redis",
            "probe",
        );
        assert!(!matches!(identify(6379, b"$abc"), Some(("redis", _))));
    }

    #[test]
    fn binary_protocols() {
        // RDP: X.224 Connection Confirm carrying RDP_NEG_RSP (selected protocol: CredSSP).
        let rdp = [
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08,
            0x00, 0x02, 0x00, 0x00, 0x00,
        ];
        assert_guess(3389, &rdp, "rdp", "probe");
        assert_guess(13389, &rdp, "rdp", "probe");
        // SMB2 NEGOTIATE response in a NetBIOS session message (MS-SMB2 2.2.4), truncated.
        let mut smb2 = vec![0x00, 0x00, 0x00, 0xf8, 0xfe, b'S', b'M', b'B', 0x40, 0x00];
        smb2.extend_from_slice(&[0; 20]);
        assert_guess(445, &smb2, "smb", "probe");
        let smb1 = [0x00, 0x00, 0x00, 0x55, 0xff, b'S', b'M', b'B', 0x72, 0x00];
        assert_guess(445, &smb1, "smb", "probe");
        assert_guess(139, &[0x82, 0x00, 0x00, 0x00], "netbios", "probe");
        assert_guess(139, &[0x83, 0x00, 0x00, 0x01, 0x82], "netbios", "probe");
        // LDAP: SearchResultDone for message 1, success (RFC 4511).
        let ldap_done = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert_guess(389, &ldap_done, "ldap", "probe");
        // A rootDSE SearchResultEntry with a long-form length.
        let mut entry = vec![0x30, 0x81, 0x90, 0x02, 0x01, 0x01, 0x64, 0x81, 0x8a];
        entry.extend_from_slice(&[0x04, 0x00]);
        assert_guess(3268, &entry, "ldap", "probe");
        // MQTT 3.1.1 CONNACK: accepted / not authorised.
        assert_guess(1883, &[0x20, 0x02, 0x00, 0x00], "mqtt", "probe");
        assert_guess(1884, &[0x20, 0x02, 0x00, 0x05], "mqtt", "probe");
        // AMQP: RabbitMQ answers a bad protocol header with its own and closes.
        assert_guess(5672, b"AMQP\x00\x00\x09\x01", "amqp", "probe");
        // X11: connection refused by access control ("No protocol specified").
        let x11 = [0x00, 0x16, 0x0b, 0x00, 0x00, 0x00, 0x06, 0x00, b'N', b'o'];
        assert_guess(6000, &x11, "x11", "probe");
    }

    #[test]
    fn mongodb_reply_to_our_request() {
        let id = super::super::banner::MONGODB_REQUEST_ID.to_le_bytes();
        let mut reply = vec![0x30, 0x01, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00];
        reply.extend_from_slice(&id);
        reply.extend_from_slice(&2013u32.to_le_bytes());
        reply.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert_guess(27017, &reply, "mongodb", "probe");
        let mut other = reply.clone();
        other[8] ^= 0xff;
        assert_ne!(guess(40000, &other).0, "mongodb");
    }

    #[test]
    fn falls_back_to_the_port_table() {
        assert_guess(3389, b"", "rdp", "port");
        assert_guess(445, b"", "smb", "port");
        assert_guess(139, b"", "netbios", "port");
        assert_guess(11211, b"", "memcached", "port");
        assert_guess(27017, b"", "mongodb", "port");
        assert_guess(9200, b"", "elasticsearch", "port");
        assert_guess(2375, b"", "docker", "port");
        assert_guess(5900, b"", "vnc", "port");
        assert_guess(6000, b"", "x11", "port");
        assert_guess(443, b"", "https", "port");
        assert_guess(993, b"", "imaps", "port");
        assert_guess(995, b"", "pop3s", "port");
        assert_guess(636, b"", "ldaps", "port");
        assert_guess(5432, b"", "postgresql", "port");
        assert_guess(3306, b"", "mysql", "port");
        assert_guess(6379, b"", "redis", "port");
        assert_guess(8080, b"", "http", "port");
        assert_guess(8443, b"", "https", "port");
        assert_guess(53, b"", "dns", "port");
        assert_guess(1433, b"", "mssql", "port");
        assert_guess(587, b"", "smtp", "port");
        assert_guess(23, b"", "telnet", "port");
        assert_guess(61999, b"", "unknown", "port");
        // Garbage that identifies nothing also falls back.
        assert_guess(22, b"\x00\x01garbage", "ssh", "port");
        assert_guess(61999, b"hello", "unknown", "port");
    }

    #[test]
    fn vocabulary_is_sorted_and_covers_every_recogniser_and_mapping() {
        assert!(SERVICE_VOCABULARY.windows(2).all(|w| w[0] < w[1]));
        for name in TLS_SERVICES {
            assert!(SERVICE_VOCABULARY.contains(name), "{name}");
        }
        // Every port-table name that we map is in the vocabulary.
        for port in 1..=u16::MAX {
            if let (Some(nmap), Some(ours)) = (port_service_name(port), port_service(port)) {
                if ours != nmap {
                    assert!(
                        SERVICE_VOCABULARY.contains(&ours),
                        "{port}: {nmap} -> {ours}"
                    );
                }
            }
        }
    }

    #[test]
    fn tls_record_headers() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x03, 0x00, 0x7a]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x03]));
        assert!(!looks_like_tls(&[0x16, 0x03, 0x03, 0x00, 0x00]));
        assert!(!looks_like_tls(&[0x16, 0x03, 0x03, 0xff, 0xff]));
        assert!(!looks_like_tls(&[0x17, 0x03, 0x03, 0x00, 0x10]));
        assert!(!looks_like_tls(&[0x16, 0x02, 0x00]));
        assert!(!looks_like_tls(&[0x16, 0x03, 0x09]));
        assert!(!looks_like_tls(b"HTTP/1.1"));
        assert!(!looks_like_tls(&[]));
    }

    #[test]
    fn printable_banner_is_faithful_and_safe() {
        assert_eq!(
            printable_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"),
            "SSH-2.0-OpenSSH_9.2p1\r\n"
        );
        assert_eq!(printable_banner(b"a\tb"), "a\tb");
        assert_eq!(printable_banner(b"\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable_banner(&[0xff, 0xfd, 0x18]), "\\xff\\xfd\\u{18}");
        assert_eq!(printable_banner(b"\x00"), "\\u{0}");
        assert_eq!(printable_banner("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(printable_banner("a\u{202e}b".as_bytes()), "a\\u{202e}b");
        // A backslash is escaped too: `\x41` sent literally is not the byte 0x41.
        assert_eq!(printable_banner(b"C:\\x41"), "C:\\\\x41");
        assert_eq!(printable_banner("\u{85}".as_bytes()), "\\u{85}");
        assert_eq!(printable_banner(b""), "");
        // A UTF-8 sequence cut by the byte cap.
        assert_eq!(printable_banner(&[b'x', 0xc3]), "x\\xc3");
    }

    proptest! {
        #[test]
        fn never_panics(port in any::<u16>(), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (name, source) = guess_service(port, &bytes);
            prop_assert!(!name.is_empty());
            prop_assert!([SOURCE_BANNER, SOURCE_PROBE, SOURCE_PORT].contains(&source));
            let text = printable_banner(&bytes);
            prop_assert!(!text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')));
        }

        #[test]
        fn prefixed_bytes_never_panic(
            prefix in proptest::sample::select(vec![
                b"SSH-".to_vec(), b"HTTP/1.1 ".to_vec(), b"220 ".to_vec(), vec![0x16, 0x03, 0x03],
                vec![0x03, 0x00], vec![0x30, 0x84], vec![0x20], b"E".to_vec(), b"$".to_vec(),
                vec![0x00, 0x00, 0x00], vec![0x0a, 0x00, 0x00, 0x00, 0x0a],
            ]),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            port in any::<u16>(),
        ) {
            let mut bytes = prefix;
            bytes.extend_from_slice(&tail);
            let _ = guess_service(port, &bytes);
        }
    }
}
