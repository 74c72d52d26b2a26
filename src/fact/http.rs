//! Facts of the `http` subject: one HTTP exchange (plus the same-host redirects it led to) with
//! one endpoint, plain or over TLS.
//!
//! The probe records what the server said; helper facts (`server_version_disclosed`,
//! `missing_headers`, `hsts_max_age`, …) are computed by pure functions in
//! `probe::http::analyze` so rule conditions stay one-liners.
//!
//! Which response a fact describes:
//! * `status`, `headers`, `server`, `powered_by`: the first response (the answer at `url`).
//! * `final_*`, `csp`, `frame_ancestors`, `x_frame_options`, `x_content_type_options`,
//!   `missing_headers`: the last response of the followed chain — the page a browser renders.
//! * `hsts`: the first `Strict-Transport-Security` header received over HTTPS anywhere in the
//!   chain (RFC 6797 §8.1: a UA honours it on any secure response, and ignores it on plain HTTP).
//!
//! `http.headers` is a map with free-form keys: rules may read any lowercase header name below
//! it (`http.headers["x-request-id"]`), so it belongs in `SubjectFacts::dynamic_map_paths`.

use super::TargetFacts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `http.*`: what one HTTP probe of one endpoint observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpFacts {
    /// `http` or `https`: how the first request was sent.
    pub scheme: String,
    /// The first request's URL (`https://shop.example.com/`, `http://192.0.2.10:8080/`).
    pub url: String,
    /// Status of the first response; 0 when no response head was received.
    pub status: u16,
    /// Headers of the first response: lowercase names, repeated fields joined with ", ".
    /// At most `http_headers` names are kept (see `headers_truncated`).
    pub headers: BTreeMap<String, String>,
    /// `Server` header of the first response that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `X-Powered-By` header of the first response that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powered_by: Option<String>,
    /// Every redirect response received, in order (followed or not).
    pub redirects: Vec<Redirect>,
    /// URL of the last response received (equals `url` without redirects).
    pub final_url: String,
    /// Status of the last response received; 0 when none.
    pub final_status: u16,
    /// The chain starting at a plain-HTTP URL reaches an `https://` URL of the same host
    /// (any port), either by a followed hop or as its last (unfollowed) Location.
    pub redirects_to_https: bool,
    /// The chain ends with a redirect to an `https://` URL of another host (recorded, not
    /// followed): the browser leaves plain HTTP, but for a different name.
    pub redirects_to_https_other_host: bool,
    /// The first valid `Strict-Transport-Security` header seen over HTTPS (RFC 6797).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<Hsts>,
    /// Effective HSTS max-age in seconds: 0 when no valid header was seen over HTTPS.
    pub hsts_max_age: u64,
    /// Why a `Strict-Transport-Security` header seen over HTTPS was ignored (RFC 6797 §6.1:
    /// no max-age, repeated directive, bad value); absent when none was or it was valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts_error: Option<String>,
    /// Enforced `Content-Security-Policy` of the final response (Report-Only does not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csp: Option<String>,
    /// The CSP carries a `frame-ancestors` directive (clickjacking protection).
    pub frame_ancestors: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_frame_options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_content_type_options: Option<String>,
    /// Security headers the final response lacks, by header name:
    /// `content-security-policy`, `x-content-type-options` (missing or not `nosniff`),
    /// `x-frame-options` (neither a valid X-Frame-Options nor CSP frame-ancestors).
    pub missing_headers: Vec<String>,
    /// A `Server`, `X-Powered-By`, `X-AspNet-Version` or `X-AspNetMvc-Version` value of any
    /// response carries a version number.
    pub server_version_disclosed: bool,
    /// The disclosing values, as `header: token` (`server: nginx/1.18.0`).
    pub version_disclosures: Vec<String>,
    /// Body bytes of the final response read (capped at `http_body_bytes`).
    pub body_bytes: u64,
    /// Why the exchange (or a later hop) failed; absent when every request completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A response head was longer than `http_head_bytes`; the complete lines before the cap
    /// were kept and the body was not read.
    pub head_truncated: bool,
    /// A response had more header fields than `http_headers`; the first were kept.
    pub headers_truncated: bool,
    /// The final body was longer than `http_body_bytes`.
    pub body_truncated: bool,
    /// The chain had more same-host redirects than `http_redirects`.
    pub redirects_truncated: bool,
}

/// One redirect response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
    /// The `Location` header as sent.
    pub location: String,
    /// `location` resolved against the request URL (empty when it could not be resolved).
    pub url: String,
    /// The probe followed it (same host, http/https, within the hop limit).
    pub followed: bool,
}

/// A parsed `Strict-Transport-Security` header (RFC 6797 §6.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hsts {
    pub max_age: u64,
    pub include_subdomains: bool,
    /// The `preload` token of the hstspreload.org list (not in RFC 6797, widely sent).
    pub preload: bool,
    /// The header value as received.
    pub raw: String,
}

/// All facts of one `http` subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSubject {
    pub endpoint: String,
    pub target: TargetFacts,
    pub http: HttpFacts,
}

/// A fully populated `http` subject: every optional fact present, every list non-empty.
/// Rule validation derives the `http` fact schema from it.
pub fn sample() -> HttpSubject {
    let headers: BTreeMap<String, String> = [
        ("server", "nginx/1.18.0 (Ubuntu)"),
        ("x-powered-by", "PHP/7.4.3"),
        ("location", "https://shop.example.com/"),
        ("content-type", "text/html"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    HttpSubject {
        endpoint: "shop.example.com:80".into(),
        target: TargetFacts {
            host: "shop.example.com".into(),
            ip: Some("192.0.2.10".into()),
            port: Some(80),
            tags: vec!["dmz".into()],
            owner: Some("web-team".into()),
        },
        http: HttpFacts {
            scheme: "http".into(),
            url: "http://shop.example.com/".into(),
            status: 301,
            headers,
            server: Some("nginx/1.18.0 (Ubuntu)".into()),
            powered_by: Some("PHP/7.4.3".into()),
            redirects: vec![Redirect {
                status: 301,
                location: "https://shop.example.com/".into(),
                url: "https://shop.example.com/".into(),
                followed: true,
            }],
            final_url: "https://shop.example.com/".into(),
            final_status: 200,
            redirects_to_https: true,
            redirects_to_https_other_host: false,
            hsts: Some(Hsts {
                max_age: 31_536_000,
                include_subdomains: true,
                preload: false,
                raw: "max-age=31536000; includeSubDomains".into(),
            }),
            hsts_max_age: 31_536_000,
            hsts_error: Some("max-age directive missing".into()),
            csp: Some("default-src 'self'; frame-ancestors 'none'".into()),
            frame_ancestors: true,
            x_frame_options: Some("DENY".into()),
            x_content_type_options: Some("nosniff".into()),
            missing_headers: vec!["x-content-type-options".into()],
            server_version_disclosed: true,
            version_disclosures: vec![
                "server: nginx/1.18.0".into(),
                "x-powered-by: PHP/7.4.3".into(),
            ],
            body_bytes: 612,
            error: Some("https://shop.example.com/: timed out reading the body".into()),
            head_truncated: false,
            headers_truncated: false,
            body_truncated: false,
            redirects_truncated: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every optional field of the sample is present, so the schema derived from it is complete.
    #[test]
    fn sample_serialises_every_field() {
        let v = serde_json::to_value(sample()).unwrap();
        let http = v["http"].as_object().unwrap();
        let empty = serde_json::to_value(HttpFacts::default()).unwrap();
        let empty_keys = empty.as_object().unwrap().len();
        // 8 optional fields are skipped when absent; the sample has all of them.
        assert_eq!(http.len(), empty_keys + 8);
        for key in [
            "server",
            "powered_by",
            "hsts",
            "hsts_error",
            "csp",
            "x_frame_options",
            "x_content_type_options",
            "error",
        ] {
            assert!(http.contains_key(key), "{key}");
        }
        assert!(!http["redirects"].as_array().unwrap().is_empty());
        assert!(!http["headers"].as_object().unwrap().is_empty());
        assert_eq!(v["http"]["hsts"]["max_age"], 31_536_000);
    }
}
