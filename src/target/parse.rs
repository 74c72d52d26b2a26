//! Parsing one target string into a [`TargetSpec`]. Pure; never panics on hostile input.
//!
//! Accepted forms (the README lists them with examples):
//! hostname · IPv4 · IPv6 · CIDR (v4, or v6 with a prefix of at least /112) · `host:port` ·
//! `[v6]:port` · `[v6]` · URL `scheme://host[:port][/path]` (the scheme selects the probe,
//! whatever the port).

use super::{Host, Origin, Scheme, TargetMeta, TargetSpec};
use crate::engine::limits::MIN_IPV6_PREFIX;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use thiserror::Error;

/// Longest target string accepted: a URL with a long path is still well below this.
const MAX_TARGET_LEN: usize = 2_048;

/// A target that cannot be scanned, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid target `{input}`: {reason}")]
pub struct TargetError {
    /// The input, with control characters escaped so the message itself is safe to print.
    pub input: String,
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> TargetError {
    let shown: String = input
        .chars()
        .take(120)
        .flat_map(char::escape_debug)
        .collect();
    TargetError {
        input: shown,
        reason: reason.into(),
    }
}

/// Parses `input` (surrounding whitespace ignored) declared at `origin`.
pub fn parse_target(
    input: &str,
    origin: Origin,
    meta: Arc<TargetMeta>,
) -> Result<TargetSpec, TargetError> {
    let raw = input.trim();
    if raw.is_empty() {
        return Err(err(input, "empty target"));
    }
    if raw.len() > MAX_TARGET_LEN {
        return Err(err(input, format!("longer than {MAX_TARGET_LEN} bytes")));
    }
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(
            input,
            format!("contains the character {:?}", c.escape_debug().to_string()),
        ));
    }
    let (host, port, scheme) = if let Some((scheme, rest)) = raw.split_once("://") {
        parse_url(raw, scheme, rest)?
    } else {
        let (host, port) = parse_host_port(raw, raw)?;
        (host, port, None)
    };
    Ok(TargetSpec {
        raw: raw.to_string(),
        host,
        port,
        scheme,
        origin,
        meta,
        ports: None,
    })
}

fn parse_url(
    raw: &str,
    scheme: &str,
    rest: &str,
) -> Result<(Host, Option<u16>, Option<Scheme>), TargetError> {
    let scheme = Scheme::parse(scheme).ok_or_else(|| {
        let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.as_str()).collect();
        err(
            raw,
            format!(
                "unknown URL scheme `{scheme}` (known: {})",
                known.join(", ")
            ),
        )
    })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(err(raw, "credentials in URLs are not accepted"));
    }
    if authority.is_empty() {
        return Err(err(raw, "URL has no host"));
    }
    let (host, port) = parse_host_port(raw, authority)?;
    if matches!(host, Host::Cidr(_)) {
        return Err(err(raw, "a URL names one host, not a network"));
    }
    let port = match port.or(scheme.default_port()) {
        Some(p) => p,
        None => {
            return Err(err(
                raw,
                format!("a {scheme}:// URL needs an explicit port"),
            ))
        }
    };
    Ok((host, Some(port), Some(scheme)))
}

/// Splits `s` into host and optional port and parses the host.
fn parse_host_port(raw: &str, s: &str) -> Result<(Host, Option<u16>), TargetError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| err(raw, "`[` without a closing `]`"))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| err(raw, format!("`{inside}` is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            p => Some(parse_port(
                raw,
                p.strip_prefix(':')
                    .ok_or_else(|| err(raw, "expected `:port` after `]`"))?,
            )?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    if s.contains('/') {
        return Ok((parse_cidr(raw, s)?, None));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), None));
    }
    match s.matches(':').count() {
        0 => Ok((Host::Name(parse_name(raw, s)?), None)),
        1 => {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            let port = parse_port(raw, p)?;
            let host = match h.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(parse_name(raw, h)?),
            };
            Ok((host, Some(port)))
        }
        _ => Err(err(
            raw,
            "not an IPv6 address; write an IPv6 address with a port as `[addr]:port`",
        )),
    }
}

fn parse_port(raw: &str, p: &str) -> Result<u16, TargetError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
        return Err(err(raw, format!("`{p}` is not a port number")));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(err(raw, format!("port `{p}` is outside 1-65535"))),
        Ok(n) => Ok(n),
    }
}

fn parse_cidr(raw: &str, s: &str) -> Result<Host, TargetError> {
    let net: IpNet = s
        .parse()
        .map_err(|_| err(raw, "not a CIDR network (expected e.g. 10.0.0.0/24)"))?;
    if let IpNet::V6(v6) = net {
        if v6.prefix_len() < MIN_IPV6_PREFIX {
            return Err(err(
                raw,
                format!(
                    "IPv6 prefixes shorter than /{MIN_IPV6_PREFIX} cannot be swept (/{} has 2^{} addresses)",
                    v6.prefix_len(),
                    128 - v6.prefix_len()
                ),
            ));
        }
    }
    // `10.0.0.5/24` means the network 10.0.0.0/24, as in nmap.
    let net = net.trunc();
    Ok(match net.prefix_len() == net.max_prefix_len() {
        true => Host::Ip(net.addr()),
        false => Host::Cidr(net),
    })
}

/// Checks a DNS name (RFC 1123 labels; underscores allowed for service names such as
/// `_dmarc`), returns it lowercase without a trailing dot.
pub fn parse_name(raw: &str, s: &str) -> Result<String, TargetError> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err(err(raw, "empty host name"));
    }
    if !name.is_ascii() {
        return Err(err(
            raw,
            "non-ASCII host name: give the IDNA (punycode, xn--…) form",
        ));
    }
    if name.len() > 253 {
        return Err(err(raw, "host name longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(err(raw, "empty label in host name (`..`)"));
        }
        if label.len() > 63 {
            return Err(err(raw, "a host name label is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(err(raw, format!("`{c}` is not allowed in a host name")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err(raw, "a host name label cannot start or end with `-`"));
        }
    }
    // All-numeric dotted names that did not parse as an address are malformed addresses.
    if name
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(err(raw, "not a valid IPv4 address"));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<TargetSpec, TargetError> {
        parse_target(s, Origin::Cli, Arc::default())
    }

    #[test]
    fn accepts_every_documented_form() {
        let t = p("Shop.Example.COM.").unwrap();
        assert_eq!(t.host, Host::Name("shop.example.com".into()));
        assert_eq!((t.port, t.scheme), (None, None));

        assert_eq!(
            p("10.0.0.5").unwrap().host,
            Host::Ip("10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            p("2001:db8::1").unwrap().host,
            Host::Ip("2001:db8::1".parse().unwrap())
        );
        let t = p("10.0.0.5/24").unwrap();
        assert_eq!(t.host, Host::Cidr("10.0.0.0/24".parse().unwrap()));
        assert_eq!(
            p("10.0.0.5/32").unwrap().host,
            Host::Ip("10.0.0.5".parse().unwrap())
        );
        let t = p("host.example:8443").unwrap();
        assert_eq!(
            (t.host, t.port),
            (Host::Name("host.example".into()), Some(8443))
        );
        let t = p("[::1]:2525").unwrap();
        assert_eq!(
            (t.host, t.port),
            (Host::Ip("::1".parse().unwrap()), Some(2525))
        );
        assert_eq!(p("[::1]").unwrap().port, None);
        let t = p("https://api.example.com:8443/health?x=1").unwrap();
        assert_eq!(t.host, Host::Name("api.example.com".into()));
        assert_eq!((t.port, t.scheme), (Some(8443), Some(Scheme::Https)));
        let t = p("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((t.port, t.scheme), (Some(2525), Some(Scheme::Smtp)));
        let t = p("HTTPS://[::1]/").unwrap();
        assert_eq!((t.port, t.scheme), (Some(443), Some(Scheme::Https)));
        assert!(p("fd00::/112").is_ok());
        assert!(p("_dmarc.example.com").is_ok());
    }

    #[test]
    fn rejects_malformed_targets_with_a_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("exa mple.com", "character"),
            ("host:0", "outside 1-65535"),
            ("host:65536", "outside 1-65535"),
            ("host:http", "not a port number"),
            ("host:", "not a port number"),
            ("10.0.0.300", "not a valid IPv4"),
            ("1.2.3", "not a valid IPv4"),
            ("10.0.0.0/33", "not a CIDR"),
            ("2001:db8::/64", "shorter than /112"),
            ("gopher://host", "unknown URL scheme"),
            ("tcp://host", "explicit port"),
            ("https://user:pw@host/", "credentials"),
            ("https:///x", "no host"),
            ("[::1", "closing"),
            ("[zz]:80", "not an IPv6"),
            ("[::1]80", "expected `:port`"),
            ("a..b", "empty label"),
            ("-a.example", "start or end"),
            ("bücher.example", "non-ASCII"),
            ("a<script>", "not allowed"),
            ("1:2:3", "IPv6"),
        ] {
            let e = p(input).expect_err(input);
            assert!(
                e.to_string().contains(needle),
                "{input:?}: {e} does not mention {needle:?}"
            );
        }
        let long = "a".repeat(64);
        assert!(p(&format!("{long}.example")).is_err());
        assert!(p(&"x".repeat(3000))
            .unwrap_err()
            .to_string()
            .contains("longer"));
    }

    #[test]
    fn error_messages_escape_hostile_input() {
        let e = p("evil\u{1b}[31m\u{202e}").unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains('\u{1b}'), "{shown}");
        assert!(!shown.contains('\u{202e}'), "{shown}");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = p(&s);
        }

        #[test]
        fn never_panics_on_target_shaped_input(s in "[a-z0-9\\[\\]:/.%@-]{0,40}") {
            let _ = p(&s);
        }
    }
}
