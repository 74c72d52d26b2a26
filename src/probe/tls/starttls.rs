//! STARTTLS: upgrade a plaintext SMTP, IMAP, POP3 or FTP connection to the point where the
//! next byte the server expects is a ClientHello.
//!
//! Reply parsing is pure ([`parse_reply`]); the I/O reads bounded chunks until a complete reply
//! is in the buffer. Servers must not send anything between their "go ahead" and our
//! ClientHello (RFC 3207 §4, the STARTTLS command-injection class of bugs): bytes after the
//! final reply line are discarded, never fed to TLS.

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes of one plaintext reply kept: an EHLO answer with 20 extensions is about 400 bytes;
/// 4 KiB is the banner limit elsewhere too.
pub const MAX_REPLY_BYTES: usize = 4 * 1024;
/// Untagged IMAP lines skipped before the tagged answer.
const MAX_REPLY_LINES: usize = 64;

/// The plaintext protocol to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartTls {
    Smtp,
    Imap,
    Pop3,
    Ftp,
}

impl StartTls {
    pub fn as_str(self) -> &'static str {
        match self {
            StartTls::Smtp => "smtp",
            StartTls::Imap => "imap",
            StartTls::Pop3 => "pop3",
            StartTls::Ftp => "ftp",
        }
    }

    /// The STARTTLS protocol of a well-known plaintext port (25/587 SMTP, 143 IMAP, 110 POP3,
    /// 21 FTP).
    pub fn for_port(port: u16) -> Option<StartTls> {
        match port {
            25 | 587 => Some(StartTls::Smtp),
            143 => Some(StartTls::Imap),
            110 => Some(StartTls::Pop3),
            21 => Some(StartTls::Ftp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StartTlsError {
    #[error("{proto}: timeout waiting for the server")]
    Timeout { proto: &'static str },
    #[error("{proto}: connection closed by the server")]
    Closed { proto: &'static str },
    #[error("{proto}: I/O error: {msg}")]
    Io { proto: &'static str, msg: String },
    #[error("{proto}: reply longer than {MAX_REPLY_BYTES} bytes")]
    TooLong { proto: &'static str },
    #[error("{proto}: {what} refused: {reply}")]
    Refused {
        proto: &'static str,
        what: &'static str,
        reply: String,
    },
    #[error("{proto}: server does not offer STARTTLS")]
    NotOffered { proto: &'static str },
}

impl StartTlsError {
    /// The server answered but will not upgrade (STARTTLS not offered, or a command of the
    /// preamble refused): the endpoint has no TLS to assess, which is not a scan failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StartTlsError::NotOffered { .. } | StartTlsError::Refused { .. }
        )
    }
}

/// One complete reply: its status and lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// SMTP/FTP: the 3-digit code; IMAP: 1 for OK, 0 otherwise; POP3: 1 for +OK, 0 otherwise.
    pub code: u16,
    pub lines: Vec<String>,
}

/// How a protocol's reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// SMTP/FTP multi-line: `ddd-text` continues, `ddd text` (or `ddd`) ends.
    Coded,
    /// POP3: one line, `+OK` or `-ERR`.
    Pop3,
    /// IMAP greeting: one untagged line `* OK`/`* PREAUTH`/`* BYE`.
    ImapGreeting,
    /// IMAP command answer: untagged lines until `<tag> OK|NO|BAD`.
    ImapTagged(&'static str),
}

/// Parse a complete reply from the start of `buf`: `Some((reply, bytes used))`, or `None` if
/// the reply is not complete yet.
pub fn parse_reply(buf: &[u8], kind: ReplyKind) -> Option<(Reply, usize)> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while let Some(nl) = buf[pos..].iter().position(|b| *b == b'\n') {
        let raw = &buf[pos..pos + nl];
        pos += nl + 1;
        let line = String::from_utf8_lossy(raw)
            .trim_end_matches('\r')
            .to_string();
        let done = match kind {
            ReplyKind::Coded => {
                let b = line.as_bytes();
                let coded = b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit);
                let code = if coded {
                    line[..3].parse::<u16>().unwrap_or(0)
                } else {
                    0
                };
                let last = !coded || b.get(3) != Some(&b'-');
                if last {
                    lines.push(line);
                    return Some((Reply { code, lines }, pos));
                }
                false
            }
            ReplyKind::Pop3 => {
                let code = u16::from(line.starts_with("+OK"));
                lines.push(line);
                return Some((Reply { code, lines }, pos));
            }
            ReplyKind::ImapGreeting => {
                let u = line.to_ascii_uppercase();
                let code = u16::from(u.starts_with("* OK") || u.starts_with("* PREAUTH"));
                lines.push(line);
                return Some((Reply { code, lines }, pos));
            }
            ReplyKind::ImapTagged(tag) => {
                let prefix = format!("{tag} ");
                if line.starts_with(&prefix) {
                    let status = line[prefix.len()..].to_ascii_uppercase();
                    let code = u16::from(status.starts_with("OK"));
                    lines.push(line);
                    return Some((Reply { code, lines }, pos));
                }
                false
            }
        };
        if !done {
            lines.push(line);
            if lines.len() > MAX_REPLY_LINES {
                return Some((Reply { code: 0, lines }, pos));
            }
        }
    }
    None
}

/// Whether an SMTP EHLO reply advertises STARTTLS (RFC 3207: an EHLO keyword line).
pub fn ehlo_offers_starttls(reply: &Reply) -> bool {
    reply
        .lines
        .iter()
        .skip(1)
        .chain(reply.lines.first())
        .any(|l| {
            l.get(4..)
                .and_then(|k| k.split_whitespace().next())
                .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
        })
}

/// Run the STARTTLS preamble of `proto` on a fresh connection, before `deadline`.
pub async fn upgrade(
    stream: &mut TcpStream,
    proto: StartTls,
    deadline: Instant,
) -> Result<(), StartTlsError> {
    let p = proto.as_str();
    match proto {
        StartTls::Smtp => {
            expect(stream, ReplyKind::Coded, p, "greeting", deadline, |r| {
                r.code == 220
            })
            .await?;
            // EHLO with our address literal (RFC 5321 §4.1.4 allows it when we have no name).
            let local = stream
                .local_addr()
                .map(|a| match a.ip() {
                    std::net::IpAddr::V4(v4) => format!("[{v4}]"),
                    std::net::IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
                })
                .unwrap_or_else(|_| "[127.0.0.1]".into());
            send(stream, format!("EHLO {local}\r\n").as_bytes(), p, deadline).await?;
            let ehlo = expect(stream, ReplyKind::Coded, p, "EHLO", deadline, |r| {
                r.code == 250
            })
            .await?;
            if !ehlo_offers_starttls(&ehlo) {
                return Err(StartTlsError::NotOffered { proto: p });
            }
            send(stream, b"STARTTLS\r\n", p, deadline).await?;
            expect(stream, ReplyKind::Coded, p, "STARTTLS", deadline, |r| {
                r.code == 220
            })
            .await?;
        }
        StartTls::Imap => {
            expect(
                stream,
                ReplyKind::ImapGreeting,
                p,
                "greeting",
                deadline,
                |r| r.code == 1,
            )
            .await?;
            send(stream, b"a001 STARTTLS\r\n", p, deadline).await?;
            expect(
                stream,
                ReplyKind::ImapTagged("a001"),
                p,
                "STARTTLS",
                deadline,
                |r| r.code == 1,
            )
            .await?;
        }
        StartTls::Pop3 => {
            expect(stream, ReplyKind::Pop3, p, "greeting", deadline, |r| {
                r.code == 1
            })
            .await?;
            send(stream, b"STLS\r\n", p, deadline).await?;
            expect(stream, ReplyKind::Pop3, p, "STLS", deadline, |r| {
                r.code == 1
            })
            .await?;
        }
        StartTls::Ftp => {
            expect(stream, ReplyKind::Coded, p, "greeting", deadline, |r| {
                r.code == 220
            })
            .await?;
            send(stream, b"AUTH TLS\r\n", p, deadline).await?;
            expect(stream, ReplyKind::Coded, p, "AUTH TLS", deadline, |r| {
                r.code == 234
            })
            .await?;
        }
    }
    Ok(())
}

async fn send(
    stream: &mut TcpStream,
    bytes: &[u8],
    proto: &'static str,
    deadline: Instant,
) -> Result<(), StartTlsError> {
    match tokio::time::timeout_at(deadline, stream.write_all(bytes)).await {
        Err(_) => Err(StartTlsError::Timeout { proto }),
        Ok(Err(e)) => Err(StartTlsError::Io {
            proto,
            msg: e.to_string(),
        }),
        Ok(Ok(())) => Ok(()),
    }
}

/// Read one complete reply (bounded) and check it.
async fn expect(
    stream: &mut TcpStream,
    kind: ReplyKind,
    proto: &'static str,
    what: &'static str,
    deadline: Instant,
    ok: impl Fn(&Reply) -> bool,
) -> Result<Reply, StartTlsError> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((reply, _used)) = parse_reply(&buf, kind) {
            if !ok(&reply) {
                let text = reply.lines.last().cloned().unwrap_or_default();
                return Err(StartTlsError::Refused {
                    proto,
                    what,
                    reply: text.chars().take(200).collect(),
                });
            }
            return Ok(reply);
        }
        if buf.len() >= MAX_REPLY_BYTES {
            return Err(StartTlsError::TooLong { proto });
        }
        let room = (MAX_REPLY_BYTES - buf.len()).min(chunk.len());
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room])).await {
            Err(_) => return Err(StartTlsError::Timeout { proto }),
            Ok(Err(e)) => {
                return Err(StartTlsError::Io {
                    proto,
                    msg: e.to_string(),
                })
            }
            Ok(Ok(0)) => return Err(StartTlsError::Closed { proto }),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::net::TcpListener;

    #[test]
    fn coded_multiline_replies() {
        let buf = b"250-mail.test Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 HELP\r\nextra";
        let (r, used) = parse_reply(buf, ReplyKind::Coded).unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines.len(), 4);
        assert_eq!(&buf[used..], b"extra");
        assert!(ehlo_offers_starttls(&r));
        let (r, _) = parse_reply(b"250-mail.test\r\n250 8BITMIME\r\n", ReplyKind::Coded).unwrap();
        assert!(!ehlo_offers_starttls(&r));
        // Incomplete: continuation line without its end.
        assert_eq!(parse_reply(b"220-hello\r\n", ReplyKind::Coded), None);
        assert_eq!(parse_reply(b"220 hel", ReplyKind::Coded), None);
        // Bare code, LF only.
        assert_eq!(parse_reply(b"234\n", ReplyKind::Coded).unwrap().0.code, 234);
        // Garbage ends a reply with code 0 instead of waiting forever.
        assert_eq!(
            parse_reply(b"hello\r\n", ReplyKind::Coded).unwrap().0.code,
            0
        );
    }

    #[test]
    fn imap_and_pop3_replies() {
        assert_eq!(
            parse_reply(
                b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
                ReplyKind::ImapGreeting
            )
            .unwrap()
            .0
            .code,
            1
        );
        assert_eq!(
            parse_reply(b"* BYE\r\n", ReplyKind::ImapGreeting)
                .unwrap()
                .0
                .code,
            0
        );
        let buf = b"* CAPABILITY IMAP4rev1\r\na001 OK Begin TLS negotiation now\r\n";
        let (r, _) = parse_reply(buf, ReplyKind::ImapTagged("a001")).unwrap();
        assert_eq!((r.code, r.lines.len()), (1, 2));
        assert_eq!(
            parse_reply(b"a001 BAD no\r\n", ReplyKind::ImapTagged("a001"))
                .unwrap()
                .0
                .code,
            0
        );
        assert_eq!(parse_reply(b"* x\r\n", ReplyKind::ImapTagged("a001")), None);
        assert_eq!(
            parse_reply(b"+OK POP3 ready\r\n", ReplyKind::Pop3)
                .unwrap()
                .0
                .code,
            1
        );
        assert_eq!(
            parse_reply(b"-ERR no\r\n", ReplyKind::Pop3).unwrap().0.code,
            0
        );
    }

    #[test]
    fn endless_untagged_lines_are_cut() {
        let buf = "* x\r\n".repeat(MAX_REPLY_LINES + 5);
        let (r, _) = parse_reply(buf.as_bytes(), ReplyKind::ImapTagged("a001")).unwrap();
        assert_eq!(r.code, 0);
    }

    /// A scripted plaintext server: for each expected client line, the reply to send.
    async fn scripted(
        greeting: &'static str,
        script: Vec<(&'static str, &'static str)>,
    ) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(greeting.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            for (expect_prefix, reply) in script {
                loop {
                    if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=nl).collect();
                        assert!(String::from_utf8_lossy(&line).starts_with(expect_prefix));
                        break;
                    }
                    let mut c = [0u8; 256];
                    let n = s.read(&mut c).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&c[..n]);
                }
                s.write_all(reply.as_bytes()).await.unwrap();
            }
            // Hold the connection briefly so the client sees the last reply.
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        addr
    }

    async fn run(addr: std::net::SocketAddr, proto: StartTls) -> Result<(), StartTlsError> {
        let mut s = TcpStream::connect(addr).await.unwrap();
        upgrade(&mut s, proto, Instant::now() + Duration::from_secs(2)).await
    }

    #[tokio::test]
    async fn each_protocol_upgrades() {
        let smtp = scripted(
            "220-mail.test ESMTP\r\n220 ready\r\n",
            vec![
                (
                    "EHLO [127.0.0.1]",
                    "250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                ),
                ("STARTTLS", "220 2.0.0 Ready to start TLS\r\n"),
            ],
        )
        .await;
        assert_eq!(run(smtp, StartTls::Smtp).await, Ok(()));
        let imap = scripted(
            "* OK IMAP ready\r\n",
            vec![("a001 STARTTLS", "a001 OK Begin TLS\r\n")],
        )
        .await;
        assert_eq!(run(imap, StartTls::Imap).await, Ok(()));
        let pop = scripted("+OK POP3\r\n", vec![("STLS", "+OK Begin TLS\r\n")]).await;
        assert_eq!(run(pop, StartTls::Pop3).await, Ok(()));
        let ftp = scripted("220 FTP\r\n", vec![("AUTH TLS", "234 AUTH TLS OK.\r\n")]).await;
        assert_eq!(run(ftp, StartTls::Ftp).await, Ok(()));
    }

    #[tokio::test]
    async fn refusals_and_silence_are_errors() {
        let smtp = scripted(
            "220 mail\r\n",
            vec![("EHLO", "250-mail\r\n250 SIZE 10\r\n")],
        )
        .await;
        assert_eq!(
            run(smtp, StartTls::Smtp).await,
            Err(StartTlsError::NotOffered { proto: "smtp" })
        );
        let ftp = scripted("220 FTP\r\n", vec![("AUTH TLS", "530 no TLS here\r\n")]).await;
        assert!(matches!(
            run(ftp, StartTls::Ftp).await,
            Err(StartTlsError::Refused {
                what: "AUTH TLS",
                ..
            })
        ));
        let busy = scripted("554 go away\r\n", vec![]).await;
        assert!(matches!(
            run(busy, StartTls::Smtp).await,
            Err(StartTlsError::Refused {
                what: "greeting",
                ..
            })
        ));

        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
        let mut s = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let r = upgrade(
            &mut s,
            StartTls::Pop3,
            Instant::now() + Duration::from_millis(200),
        )
        .await;
        assert_eq!(r, Err(StartTlsError::Timeout { proto: "pop3" }));
        assert!(started.elapsed() < Duration::from_secs(1));
        hold.abort();
    }

    proptest::proptest! {
        #[test]
        fn reply_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            for kind in [ReplyKind::Coded, ReplyKind::Pop3, ReplyKind::ImapGreeting, ReplyKind::ImapTagged("a001")] {
                if let Some((_, used)) = parse_reply(&bytes, kind) {
                    proptest::prop_assert!(used <= bytes.len());
                }
            }
        }
    }

    #[test]
    fn ports() {
        assert_eq!(StartTls::for_port(587), Some(StartTls::Smtp));
        assert_eq!(StartTls::for_port(443), None);
    }
}
