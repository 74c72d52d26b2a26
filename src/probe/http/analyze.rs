//! Pure interpretation of security-relevant response headers: HSTS (RFC 6797), CSP
//! `frame-ancestors` (CSP Level 3), X-Frame-Options (RFC 7034), X-Content-Type-Options (Fetch
//! Standard) and version numbers in product tokens (RFC 9110 §10.2.4 `Server`).
//!
//! These compute helper facts so rule conditions stay simple; each follows what browsers do
//! with the header, since that is what decides whether the header protects anyone.

use crate::fact::http::Hsts;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HstsError {
    #[error("max-age directive missing")]
    NoMaxAge,
    #[error("directive {0:?} appears more than once")]
    Repeated(String),
    #[error("max-age value {0:?} is not a number of seconds")]
    BadMaxAge(String),
    #[error("malformed directive {0:?}")]
    Malformed(String),
}

/// Parse a `Strict-Transport-Security` value (RFC 6797 §6.1). A UA ignores a header with no
/// `max-age`, a repeated directive, or a malformed value, so those are errors here; unknown
/// directives are ignored, as §6.1 requires.
pub fn parse_hsts(value: &str) -> Result<Hsts, HstsError> {
    let mut max_age = None;
    let mut include_subdomains = false;
    let mut preload = false;
    let mut seen: Vec<String> = Vec::new();
    for directive in value.split(';') {
        let directive = directive.trim_matches([' ', '\t']);
        if directive.is_empty() {
            continue;
        }
        let (name, val) = match directive.split_once('=') {
            Some((n, v)) => (
                n.trim_matches([' ', '\t']),
                Some(v.trim_matches([' ', '\t'])),
            ),
            None => (directive, None),
        };
        if name.is_empty() || name.contains([' ', '\t', '"']) {
            return Err(HstsError::Malformed(directive.into()));
        }
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(HstsError::Repeated(name));
        }
        seen.push(name.clone());
        match name.as_str() {
            "max-age" => {
                let raw = val.unwrap_or_default();
                let digits = raw
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(raw);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HstsError::BadMaxAge(raw.into()));
                }
                // delta-seconds beyond 2^63 are "infinite" for every purpose; saturate.
                let secs = digits
                    .parse::<u64>()
                    .unwrap_or(u64::MAX)
                    .min(i64::MAX as u64);
                max_age = Some(secs);
            }
            "includesubdomains" => include_subdomains = true,
            "preload" => preload = true,
            _ => {}
        }
    }
    Ok(Hsts {
        max_age: max_age.ok_or(HstsError::NoMaxAge)?,
        include_subdomains,
        preload,
        raw: value.into(),
    })
}

/// The enforced CSP (possibly several policies, comma-joined from repeated headers) has a
/// `frame-ancestors` directive. Directive names are case-insensitive (CSP3 §2.2.1).
pub fn csp_has_frame_ancestors(csp: &str) -> bool {
    csp_directives(csp).any(|d| d == "frame-ancestors")
}

/// The CSP has at least one directive (an empty header enforces nothing).
pub fn csp_is_effective(csp: &str) -> bool {
    csp_directives(csp).next().is_some()
}

fn csp_directives(csp: &str) -> impl Iterator<Item = String> + '_ {
    csp.split(',')
        .flat_map(|policy| policy.split(';'))
        .filter_map(|d| d.split_ascii_whitespace().next())
        .map(str::to_ascii_lowercase)
}

/// X-Frame-Options protects only as `DENY` or `SAMEORIGIN` (RFC 7034; browsers dropped
/// `ALLOW-FROM`). Repeated values that disagree are ignored by browsers, as is any other value.
pub fn x_frame_options_valid(value: &str) -> bool {
    let mut values = value.split(',').map(|v| v.trim().to_ascii_uppercase());
    let Some(first) = values.next() else {
        return false;
    };
    (first == "DENY" || first == "SAMEORIGIN") && values.all(|v| v == first)
}

/// X-Content-Type-Options is honoured when its first value is `nosniff` (Fetch Standard
/// "determine nosniff").
pub fn nosniff(value: &str) -> bool {
    value
        .split(',')
        .next()
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"))
}

/// Missing security headers, by header name, given the final response's values.
pub fn missing_headers(
    csp: Option<&str>,
    x_frame_options: Option<&str>,
    x_content_type_options: Option<&str>,
) -> Vec<String> {
    let mut missing = Vec::new();
    if !x_content_type_options.is_some_and(nosniff) {
        missing.push("x-content-type-options".to_string());
    }
    let framing_protected = csp.is_some_and(csp_has_frame_ancestors)
        || x_frame_options.is_some_and(x_frame_options_valid);
    if !framing_protected {
        missing.push("x-frame-options".to_string());
    }
    if !csp.is_some_and(csp_is_effective) {
        missing.push("content-security-policy".to_string());
    }
    missing
}

/// The whitespace-delimited tokens of a `Server`-like value that carry a version number:
/// `product/1`, `product/1.2.3`, `(Ruby/2.6)`, `Jetty(9.4.z-SNAPSHOT)`, `v2.1`, a bare `1.2`.
/// A digit run glued to letters (`dcb/7F84`, `11g`) is not a version.
pub fn version_tokens(value: &str) -> Vec<String> {
    value
        .split_ascii_whitespace()
        .filter(|token| has_version(token))
        .map(|t| t.chars().take(VERSION_TOKEN_MAX_CHARS).collect())
        .collect()
}

/// Characters of one disclosing token kept as evidence.
const VERSION_TOKEN_MAX_CHARS: usize = 64;

fn has_version(token: &str) -> bool {
    let b = token.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // `i` starts a digit run; look at what precedes it.
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        let prev_ok = match prev {
            b'/' | b'(' | b' ' | b'-' | b'_' | b'=' => true,
            b'v' | b'V' => i < 2 || !b[i - 2].is_ascii_alphanumeric(),
            _ => i == 0,
        };
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let glued = j < b.len() && b[j].is_ascii_alphabetic();
        let dotted = j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_alphanumeric();
        let after_slash = prev == b'/';
        if prev_ok && !glued && (dotted || after_slash) {
            return true;
        }
        i = j;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_table() {
        // (value, Ok((max_age, include_subdomains, preload)) or Err)
        type Want = Result<(u64, bool, bool), HstsError>;
        let cases: Vec<(&str, Want)> = vec![
            ("max-age=31536000", Ok((31_536_000, false, false))),
            (
                "max-age=63072000; includeSubDomains; preload",
                Ok((63_072_000, true, true)),
            ),
            ("MAX-AGE=\"300\";INCLUDESUBDOMAINS", Ok((300, true, false))),
            ("  max-age = 10 ;; foo=bar; ", Ok((10, false, false))),
            ("max-age=0", Ok((0, false, false))),
            (
                "max-age=99999999999999999999999",
                Ok((i64::MAX as u64, false, false)),
            ),
            ("includeSubDomains", Err(HstsError::NoMaxAge)),
            ("", Err(HstsError::NoMaxAge)),
            (
                "max-age=1; max-age=2",
                Err(HstsError::Repeated("max-age".into())),
            ),
            (
                "max-age=1; includeSubDomains; includesubdomains",
                Err(HstsError::Repeated("includesubdomains".into())),
            ),
            ("max-age=-1", Err(HstsError::BadMaxAge("-1".into()))),
            ("max-age=1y", Err(HstsError::BadMaxAge("1y".into()))),
            ("max-age=", Err(HstsError::BadMaxAge("".into()))),
            ("max-age", Err(HstsError::BadMaxAge("".into()))),
            ("max age=5", Err(HstsError::Malformed("max age=5".into()))),
        ];
        for (value, want) in cases {
            let got = parse_hsts(value).map(|h| (h.max_age, h.include_subdomains, h.preload));
            assert_eq!(got, want, "{value:?}");
        }
        assert_eq!(parse_hsts("max-age=5").unwrap().raw, "max-age=5");
    }

    #[test]
    fn csp_table() {
        let cases = [
            ("default-src 'self'; frame-ancestors 'none'", true, true),
            ("FRAME-ANCESTORS https://a.test", true, true),
            ("default-src 'self'", false, true),
            ("default-src 'self', frame-ancestors 'self'", true, true),
            ("script-src frame-ancestors", false, true),
            ("", false, false),
            (" ; ; ", false, false),
            ("upgrade-insecure-requests", false, true),
        ];
        for (csp, fa, effective) in cases {
            assert_eq!(csp_has_frame_ancestors(csp), fa, "{csp:?}");
            assert_eq!(csp_is_effective(csp), effective, "{csp:?}");
        }
    }

    #[test]
    fn xfo_and_nosniff() {
        for (v, ok) in [
            ("DENY", true),
            ("sameorigin", true),
            (" SAMEORIGIN ", true),
            ("DENY, DENY", true),
            ("DENY, SAMEORIGIN", false),
            ("ALLOW-FROM https://a.test", false),
            ("ALLOWALL", false),
            ("", false),
        ] {
            assert_eq!(x_frame_options_valid(v), ok, "{v:?}");
        }
        for (v, ok) in [
            ("nosniff", true),
            ("NoSniff", true),
            ("nosniff, nosniff", true),
            ("sniff", false),
            ("", false),
        ] {
            assert_eq!(nosniff(v), ok, "{v:?}");
        }
    }

    #[test]
    fn missing_headers_table() {
        let all = [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
        ];
        assert_eq!(missing_headers(None, None, None), all);
        assert!(missing_headers(
            Some("default-src 'self'; frame-ancestors 'none'"),
            None,
            Some("nosniff")
        )
        .is_empty());
        assert_eq!(
            missing_headers(Some("default-src 'self'"), Some("DENY"), Some("nosniff")),
            Vec::<String>::new()
        );
        assert_eq!(
            missing_headers(Some("default-src 'self'"), None, Some("nosniff")),
            ["x-frame-options"]
        );
        assert_eq!(
            missing_headers(None, Some("DENY"), Some("sniff")),
            ["x-content-type-options", "content-security-policy"]
        );
    }

    #[test]
    fn version_table() {
        let cases: &[(&str, &[&str])] = &[
            ("nginx/1.18.0", &["nginx/1.18.0"]),
            ("nginx/1.18.0 (Ubuntu)", &["nginx/1.18.0"]),
            ("Apache/2.4.41 (Ubuntu)", &["Apache/2.4.41"]),
            ("PHP/7.4.3", &["PHP/7.4.3"]),
            ("PHP/8", &["PHP/8"]),
            ("Microsoft-IIS/10.0", &["Microsoft-IIS/10.0"]),
            ("openresty/1.19.3.1", &["openresty/1.19.3.1"]),
            (
                "Werkzeug/2.0.1 Python/3.9.5",
                &["Werkzeug/2.0.1", "Python/3.9.5"],
            ),
            (
                "WEBrick/1.4.2 (Ruby/2.6.6/2020-03-31)",
                &["WEBrick/1.4.2", "(Ruby/2.6.6/2020-03-31)"],
            ),
            ("Jetty(9.4.z-SNAPSHOT)", &["Jetty(9.4.z-SNAPSHOT)"]),
            ("MyServer v2.3", &["v2.3"]),
            ("4.0.30319", &["4.0.30319"]),
            ("nginx", &[]),
            ("Apache", &[]),
            ("cloudflare", &[]),
            ("ASP.NET", &[]),
            ("Express", &[]),
            ("AmazonS3", &[]),
            ("gws", &[]),
            ("ECS (dcb/7F84)", &[]),
            ("Oracle-Application-Server-11g", &[]),
            ("Server2", &[]),
            ("h2o", &[]),
            ("", &[]),
        ];
        for (value, want) in cases {
            assert_eq!(version_tokens(value), *want, "{value:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_never_panic(value in "\\PC{0,120}") {
            let _ = parse_hsts(&value);
            let _ = csp_has_frame_ancestors(&value);
            let _ = x_frame_options_valid(&value);
            let _ = nosniff(&value);
            for token in version_tokens(&value) {
                proptest::prop_assert!(token.chars().count() <= VERSION_TOKEN_MAX_CHARS);
            }
        }
    }
}
