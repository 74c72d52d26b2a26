//! Targets: what the user asked to scan, parsed once at the edge and expanded lazily.
//!
//! * [`parse`] turns one target string (hostname, IPv4, IPv6, CIDR, `host:port`, `[v6]:port`,
//!   URL) into a [`TargetSpec`]; it is pure and never panics on hostile input.
//! * [`expand`] turns specs into address ranges without materialising CIDRs, enforces the
//!   host cap and exclusions.
//! * [`resolve`] looks names up through hickory-resolver.

pub mod expand;
pub mod parse;
pub mod resolve;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// A URL scheme: it selects the probe for the endpoint whatever the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
    Smtp,
    Smtps,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Ftp,
    Ftps,
    Ldap,
    Ldaps,
    Ssh,
    Tcp,
    Tls,
    Dns,
}

impl Scheme {
    pub const ALL: [Scheme; 16] = [
        Scheme::Http,
        Scheme::Https,
        Scheme::Smtp,
        Scheme::Smtps,
        Scheme::Imap,
        Scheme::Imaps,
        Scheme::Pop3,
        Scheme::Pop3s,
        Scheme::Ftp,
        Scheme::Ftps,
        Scheme::Ldap,
        Scheme::Ldaps,
        Scheme::Ssh,
        Scheme::Tcp,
        Scheme::Tls,
        Scheme::Dns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Smtp => "smtp",
            Scheme::Smtps => "smtps",
            Scheme::Imap => "imap",
            Scheme::Imaps => "imaps",
            Scheme::Pop3 => "pop3",
            Scheme::Pop3s => "pop3s",
            Scheme::Ftp => "ftp",
            Scheme::Ftps => "ftps",
            Scheme::Ldap => "ldap",
            Scheme::Ldaps => "ldaps",
            Scheme::Ssh => "ssh",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
            Scheme::Dns => "dns",
        }
    }

    pub fn parse(s: &str) -> Option<Scheme> {
        Scheme::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> Option<u16> {
        Some(match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Smtp => 25,
            Scheme::Smtps => 465,
            Scheme::Imap => 143,
            Scheme::Imaps => 993,
            Scheme::Pop3 => 110,
            Scheme::Pop3s => 995,
            Scheme::Ftp => 21,
            Scheme::Ftps => 990,
            Scheme::Ldap => 389,
            Scheme::Ldaps => 636,
            Scheme::Ssh => 22,
            Scheme::Dns => 53,
            Scheme::Tcp | Scheme::Tls => return None,
        })
    }

    /// The service name a URL of this scheme implies (the `port.service` fact), in the
    /// scanner's vocabulary: implicit-TLS schemes keep their own names (`ftps` is not the
    /// plaintext `ftp` the risky-service rule flags).
    pub fn service(self) -> &'static str {
        match self {
            Scheme::Tcp => "unknown",
            Scheme::Tls => "tls",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host part of a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lowercase, without a trailing dot.
    Name(String),
    Ip(IpAddr),
    /// A network; expanded lazily, every address included (network and broadcast too, as nmap).
    Cidr(ipnet::IpNet),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Cidr(net) => write!(f, "{net}"),
        }
    }
}

/// Where a target was declared: SARIF locations and error messages point there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// A positional argument.
    Cli,
    /// `--targets-file` (path, 1-based line).
    File { path: String, line: u32 },
    /// A `[[target]]` or `[[domain]]` table of posture.toml (path, 1-based line of the table).
    Config { path: String, line: u32 },
}

/// Inventory data attached to a target and carried to every endpoint it expands to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TargetMeta {
    pub tags: Vec<String>,
    pub owner: Option<String>,
}

/// One parsed target, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The text as the user wrote it (for messages and the report's scope).
    pub raw: String,
    pub host: Host,
    /// An explicit port (`host:port`, or a URL's port or its scheme's default).
    pub port: Option<u16>,
    pub scheme: Option<Scheme>,
    pub origin: Origin,
    pub meta: Arc<TargetMeta>,
    /// Per-target port list from the inventory (`ports = "80,443"`), overriding `--ports`.
    pub ports: Option<Arc<[u16]>>,
}

/// One address × port to assess, with everything needed to describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name the user gave, or the address (also for CIDR members).
    pub host: Arc<str>,
    pub ip: IpAddr,
    pub port: u16,
    pub scheme: Option<Scheme>,
    /// Index of the [`TargetSpec`] this endpoint came from.
    pub target: usize,
}

impl Endpoint {
    /// True when the user gave a name (SNI and Host header use it).
    pub fn is_named(&self) -> bool {
        self.host.parse::<IpAddr>().is_err()
    }

    /// `host:port`, with IPv6 literals bracketed: `[2001:db8::1]:443`.
    pub fn display(&self) -> String {
        display_host_port(&self.host, self.port)
    }
}

/// `host:port`, bracketing IPv6 literals.
pub fn display_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
