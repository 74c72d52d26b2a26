//! Pure URL handling for the HTTP probe: the URLs it requests and the `Location` headers it
//! resolves (RFC 3986 §5 reference resolution, with the WHATWG URL Standard's browser habits
//! where servers rely on them: backslashes as slashes, tabs/newlines dropped, any number of
//! slashes after `http:`).
//!
//! Only `http` and `https` URLs are modelled; anything else is reported as an opaque target
//! the probe records but never follows.

use std::fmt;
use std::net::IpAddr;
use thiserror::Error;

/// An absolute `http`/`https` URL without fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub https: bool,
    /// Lowercase DNS name without trailing dot, or IP address text (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`, safe to put in a request line.
    pub target: String,
}

impl HttpUrl {
    /// `/` on `host:port`; `host` is a name or an IP address text.
    pub fn root(https: bool, host: &str, port: u16) -> HttpUrl {
        HttpUrl {
            https,
            host: normalize_host(host),
            port,
            target: "/".into(),
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host[:port]` as sent in the `Host` header: brackets around IPv6, the port only when it
    /// is not the scheme's default (RFC 9110 §7.2).
    pub fn authority(&self) -> String {
        let host = match self.ip() {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Same host (any port, either scheme): the probe follows redirects only between these.
    pub fn same_host(&self, other: &HttpUrl) -> bool {
        self.host == other.host
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme(), self.authority(), self.target)
    }
}

/// Where a `Location` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Http(HttpUrl),
    /// Another scheme (`ftp:`, `javascript:`…): recorded, never followed.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LocationError {
    #[error("empty Location")]
    Empty,
    #[error("Location has no host")]
    NoHost,
    #[error("Location has an invalid host {0:?}")]
    BadHost(String),
    #[error("Location has an invalid port {0:?}")]
    BadPort(String),
}

fn normalize_host(host: &str) -> String {
    let host = host.trim_end_matches('.');
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

/// Resolve a `Location` header value against the URL of the request that got it.
pub fn resolve_location(base: &HttpUrl, location: &str) -> Result<Location, LocationError> {
    // WHATWG: strip leading/trailing C0 control or space, remove tab and newlines inside.
    let cleaned: String = location
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|&c| c != '\t' && c != '\n' && c != '\r')
        .collect();
    if cleaned.is_empty() {
        return Err(LocationError::Empty);
    }
    let without_fragment = cleaned.split('#').next().unwrap_or_default();
    if let Some((scheme, rest)) = split_scheme(without_fragment) {
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Ok(Location::Other(cleaned)),
        };
        // Special schemes: any run of slashes (or backslashes) starts the authority.
        let rest = rest.trim_start_matches(['/', '\\']);
        return parse_authority_and_path(https, rest).map(Location::Http);
    }
    let reference = without_fragment.replace('\\', "/");
    if let Some(rest) = reference.strip_prefix("//") {
        return parse_authority_and_path(base.https, rest).map(Location::Http);
    }
    let target = if reference.is_empty() {
        base.target.clone()
    } else if reference.starts_with('/') {
        reference
    } else if reference.starts_with('?') {
        let path = base.target.split('?').next().unwrap_or("/");
        format!("{path}{reference}")
    } else {
        let path = base.target.split('?').next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{reference}")
    };
    Ok(Location::Http(HttpUrl {
        target: normalize_target(&target),
        ..base.clone()
    }))
}

/// `scheme:rest` when `s` starts with an RFC 3986 scheme.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_ok && rest_ok).then(|| (scheme, &s[colon + 1..]))
}

fn parse_authority_and_path(https: bool, s: &str) -> Result<HttpUrl, LocationError> {
    let s = s.replace('\\', "/");
    let end = s.find(['/', '?']).unwrap_or(s.len());
    let (authority, target) = s.split_at(end);
    // Userinfo is never sent; drop it.
    let hostport = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or_else(|| LocationError::BadHost(hostport.into()))?;
        let port = v6[close + 1..].strip_prefix(':');
        (&hostport[..close + 2], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(LocationError::NoHost);
    }
    let bad_char = |c: char| c.is_ascii_control() || " <>\"{}|^`%".contains(c);
    if host.contains(bad_char) {
        return Err(LocationError::BadHost(host.into()));
    }
    let host = normalize_host(host);
    if host.starts_with('[') || host.contains(['[', ']']) {
        return Err(LocationError::BadHost(host));
    }
    let port = match port {
        None | Some("") => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| LocationError::BadPort(p.into()))?,
    };
    let target = if target.is_empty() || target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_string()
    };
    Ok(HttpUrl {
        https,
        host,
        port,
        target: normalize_target(&target),
    })
}

/// Remove dot segments (RFC 3986 §5.2.4) from the path and percent-encode what cannot appear
/// in a request line (spaces, controls, non-ASCII, quotes and angle brackets).
fn normalize_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut path = String::from("/");
    path.push_str(&out.join("/"));
    let mut s = encode(&path);
    if let Some(q) = query {
        s.push('?');
        s.push_str(&encode(q));
    }
    s
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b <= b' ' || b >= 0x7f || b"\"<>`{}".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HttpUrl {
        HttpUrl {
            https: false,
            host: "shop.example.com".into(),
            port: 8080,
            target: "/a/b/c?q=1".into(),
        }
    }

    fn resolved(loc: &str) -> String {
        match resolve_location(&base(), loc) {
            Ok(Location::Http(u)) => u.to_string(),
            Ok(Location::Other(s)) => format!("other:{s}"),
            Err(e) => format!("error:{e}"),
        }
    }

    #[test]
    fn resolution_table() {
        let cases = [
            ("https://shop.example.com/", "https://shop.example.com/"),
            (
                "https://Shop.Example.COM.:443/x",
                "https://shop.example.com/x",
            ),
            (
                "HTTPS://shop.example.com:8443",
                "https://shop.example.com:8443/",
            ),
            ("http://other.test/p?x#frag", "http://other.test/p?x"),
            (
                "https://user:pw@shop.example.com/",
                "https://shop.example.com/",
            ),
            ("//cdn.test/x", "http://cdn.test/x"),
            ("/login", "http://shop.example.com:8080/login"),
            ("d", "http://shop.example.com:8080/a/b/d"),
            ("../d", "http://shop.example.com:8080/a/d"),
            ("./", "http://shop.example.com:8080/a/b/"),
            ("../../../../x", "http://shop.example.com:8080/x"),
            ("?p=2", "http://shop.example.com:8080/a/b/c?p=2"),
            ("#top", "http://shop.example.com:8080/a/b/c?q=1"),
            ("/a b", "http://shop.example.com:8080/a%20b"),
            ("/caf\u{e9}", "http://shop.example.com:8080/caf%C3%A9"),
            (
                "https:\\\\shop.example.com\\x",
                "https://shop.example.com/x",
            ),
            ("https:shop.example.com", "https://shop.example.com/"),
            ("  /x\t\n ", "http://shop.example.com:8080/x"),
            ("https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443/"),
            ("https://192.0.2.1/", "https://192.0.2.1/"),
            ("https://h.test?x=1", "https://h.test/?x=1"),
            ("ftp://files.test/", "other:ftp://files.test/"),
            ("javascript:alert(1)", "other:javascript:alert(1)"),
            ("", "error:empty Location"),
            // WHATWG: extra slashes after a special scheme are skipped.
            ("https:///x", "https://x/"),
            ("https://", "error:Location has no host"),
            ("https://:443/", "error:Location has no host"),
            (
                "https://h.test:99999/",
                "error:Location has an invalid port \"99999\"",
            ),
            (
                "https://h.test:x/",
                "error:Location has an invalid port \"x\"",
            ),
            (
                "https://[::1/",
                "error:Location has an invalid host \"[::1\"",
            ),
            ("https://a b/", "error:Location has an invalid host \"a b\""),
        ];
        for (loc, want) in cases {
            assert_eq!(resolved(loc), want, "{loc:?}");
        }
    }

    #[test]
    fn authority_and_host_comparison() {
        let u = HttpUrl::root(true, "Shop.Example.com", 443);
        assert_eq!(u.to_string(), "https://shop.example.com/");
        let v6 = HttpUrl::root(false, "::1", 8080);
        assert_eq!(v6.authority(), "[::1]:8080");
        assert_eq!(v6.ip(), Some("::1".parse().unwrap()));
        let other_port = HttpUrl::root(false, "shop.example.com", 80);
        assert!(u.same_host(&other_port));
        assert!(!u.same_host(&v6));
    }

    proptest::proptest! {
        /// Arbitrary Location values never panic, and every resolved URL is a safe request
        /// target (starts with `/`, no spaces or controls) with a non-empty host.
        #[test]
        fn resolution_never_panics(loc in "\\PC{0,80}") {
            if let Ok(Location::Http(u)) = resolve_location(&base(), &loc) {
                proptest::prop_assert!(u.target.starts_with('/'));
                proptest::prop_assert!(u.target.bytes().all(|b| b.is_ascii_graphic()));
                proptest::prop_assert!(!u.host.is_empty());
            }
        }
    }
}
