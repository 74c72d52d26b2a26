//! Deliberately misconfigured plain-TCP services for the demo lab and the tests.
//!
//! Each service answers like the real server it imitates (greeting bytes, answers to a probe),
//! so the real engine identifies it from the wire, not from a port number. They listen on
//! loopback only, on ports the kernel picks, and stop when their [`LabService`] is dropped.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a lab service keeps a client connection: a scanner never needs more.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Bytes a lab service reads from one client before it hangs up.
const CLIENT_READ_CAP: usize = 4096;

/// The behaviour of one fake service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenSSH greeting.
    Ssh,
    /// vsFTPd greeting (speaks first).
    Ftp,
    /// Telnet option negotiation, then a login prompt.
    Telnet,
    /// Postfix ESMTP greeting.
    Smtp,
    /// Redis without authentication: answers commands (speaks second).
    Redis,
    /// MariaDB handshake packet (protocol 10).
    Mysql,
    /// VNC RFB greeting.
    Vnc,
    /// memcached text protocol: answers `ERROR` to anything it does not know.
    Memcached,
    /// A plain HTTP server with a version-disclosing Server header.
    Http,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ssh => "ssh",
            Kind::Ftp => "ftp",
            Kind::Telnet => "telnet",
            Kind::Smtp => "smtp",
            Kind::Redis => "redis",
            Kind::Mysql => "mysql",
            Kind::Vnc => "vnc",
            Kind::Memcached => "memcached",
            Kind::Http => "http",
        }
    }

    /// Bytes sent on connect, before the client says anything.
    fn greeting(self) -> Vec<u8> {
        match self {
            Kind::Ssh => b"SSH-2.0-OpenSSH_7.4\r\n".to_vec(),
            Kind::Ftp => b"220 (vsFTPd 3.0.3)\r\n".to_vec(),
            Kind::Telnet => {
                // IAC DO TERMINAL-TYPE, IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD, then a prompt.
                let mut v = vec![0xff, 0xfd, 0x18, 0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03];
                v.extend_from_slice(b"\r\nlab-router login: ");
                v
            }
            Kind::Smtp => b"220 mail.lab.test ESMTP Postfix (Debian/GNU)\r\n".to_vec(),
            Kind::Mysql => mysql_handshake("5.5.5-10.11.6-MariaDB-0+deb12u1"),
            Kind::Vnc => b"RFB 003.008\n".to_vec(),
            Kind::Redis | Kind::Memcached | Kind::Http => Vec::new(),
        }
    }

    /// The answer to one line the client sent (None: say nothing).
    fn answer(self, line: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(line);
        let cmd = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match self {
            Kind::Redis => Some(match cmd.as_str() {
                "" => return None,
                "PING" => b"+PONG\r\n".to_vec(),
                // Like Redis: the arity is checked first (our HTTP nudge has two arguments).
                "GET" if text.split_whitespace().count() != 2 => {
                    b"-ERR wrong number of arguments for 'get' command\r\n".to_vec()
                }
                "GET" => b"$-1\r\n".to_vec(),
                "INFO" => b"$38\r\n# Server\r\nredis_version:7.0.15\r\nrole:master\r\n".to_vec(),
                _ => format!(
                    "-ERR unknown command '{}', with args beginning with: \r\n",
                    cmd.to_ascii_lowercase()
                )
                .into_bytes(),
            }),
            Kind::Memcached => match cmd.as_str() {
                "" => None,
                "VERSION" => Some(b"VERSION 1.6.21\r\n".to_vec()),
                _ => Some(b"ERROR\r\n".to_vec()),
            },
            Kind::Http => {
                if text.starts_with("GET ") || text.starts_with("HEAD ") {
                    Some(
                        b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.41 (Ubuntu)\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec(),
                    )
                } else {
                    None
                }
            }
            Kind::Smtp if !cmd.is_empty() => {
                Some(b"502 5.5.2 Error: command not recognized\r\n".to_vec())
            }
            Kind::Ftp if !cmd.is_empty() => {
                Some(b"530 Please login with USER and PASS.\r\n".to_vec())
            }
            _ => None,
        }
    }
}

/// A MariaDB/MySQL protocol-10 initial handshake packet.
fn mysql_handshake(version: &str) -> Vec<u8> {
    let mut p = vec![10u8];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&42u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"abcdefgh\0"); // auth-plugin-data part 1 + filler
    p.extend_from_slice(&0xf7feu16.to_le_bytes()); // capabilities (lower)
    p.push(0x2d); // charset utf8mb4
    p.extend_from_slice(&2u16.to_le_bytes()); // status
    p.extend_from_slice(&0x81ffu16.to_le_bytes()); // capabilities (upper)
    p.push(21); // auth data length
    p.extend_from_slice(&[0u8; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"mysql_native_password\0");
    let len = p.len() as u32;
    let mut out = len.to_le_bytes()[..3].to_vec();
    out.push(0); // sequence id
    out.extend(p);
    out
}

/// A running fake service; stops when dropped.
pub struct LabService {
    pub kind: Kind,
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LabService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `kind` on `bind` (use port 0 for a kernel-chosen port).
pub async fn start(kind: Kind, bind: SocketAddr) -> std::io::Result<LabService> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLIENT_DEADLINE, serve(kind, stream)).await;
            });
        }
    });
    Ok(LabService { kind, addr, task })
}

async fn serve(kind: Kind, mut stream: TcpStream) -> std::io::Result<()> {
    let greeting = kind.greeting();
    if !greeting.is_empty() {
        stream.write_all(&greeting).await?;
    }
    let mut buf = vec![0u8; 1024];
    let mut pending = Vec::new();
    let mut total = 0usize;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        total += n;
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let trimmed = line.trim_ascii();
            if let Some(answer) = kind.answer(trimmed) {
                stream.write_all(&answer).await?;
                if kind == Kind::Http {
                    return stream.shutdown().await;
                }
            }
        }
        if total > CLIENT_READ_CAP {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn services_answer_like_the_real_thing() {
        let redis = start(Kind::Redis, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(redis.addr).await.unwrap();
        s.write_all(b"PING\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"+PONG\r\n");

        let mysql = start(Kind::Mysql, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(mysql.addr).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 5);
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], 0]) as usize;
        assert_eq!(buf[3], 0, "sequence id 0");
        assert_eq!(buf[4], 10, "protocol version 10");
        assert!(len > 40);
    }
}
