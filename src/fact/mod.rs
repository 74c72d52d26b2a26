//! Typed facts per subject: the contract rules are written against.
//!
//! Probes record facts; they never judge. Each subject's facts serialise to a JSON object whose
//! top-level keys are the CEL variables a rule of that subject can read (`endpoint`, `target`,
//! and the subject's own: `port` for port rules). [`SubjectFacts::sample`] returns a fully
//! populated example of each subject: the rule loader derives the fact schema from it, so a
//! field added here is automatically known to rule validation.

pub mod dns;
pub mod http;
pub mod port;
pub mod tls;

pub use dns::DnsSubject;
pub use http::HttpSubject;
pub use port::{PortFacts, PortState, PortSubject};
pub use tls::TlsSubject;

use crate::finding::Subject;
use serde::{Deserialize, Serialize};

/// What every subject knows about the target it came from (`target.*` in rules).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetFacts {
    /// The name or address the user gave (for CIDR members: the address).
    pub host: String,
    /// The address scanned (absent for DNS subjects of names that did not resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The facts of one subject, ready for rule evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "subject", rename_all = "lowercase")]
pub enum SubjectFacts {
    Port(PortSubject),
    Http(Box<HttpSubject>),
    Tls(Box<TlsSubject>),
    Dns(Box<DnsSubject>),
}

impl SubjectFacts {
    pub fn subject(&self) -> Subject {
        match self {
            SubjectFacts::Port(_) => Subject::Port,
            SubjectFacts::Http(_) => Subject::Http,
            SubjectFacts::Tls(_) => Subject::Tls,
            SubjectFacts::Dns(_) => Subject::Dns,
        }
    }

    pub fn endpoint(&self) -> &str {
        match self {
            SubjectFacts::Port(p) => &p.endpoint,
            SubjectFacts::Http(h) => &h.endpoint,
            SubjectFacts::Tls(t) => &t.endpoint,
            SubjectFacts::Dns(d) => &d.endpoint,
        }
    }

    pub fn target(&self) -> &TargetFacts {
        match self {
            SubjectFacts::Port(p) => &p.target,
            SubjectFacts::Http(h) => &h.target,
            SubjectFacts::Tls(t) => &t.target,
            SubjectFacts::Dns(d) => &d.target,
        }
    }

    /// The key that tells several findings of one rule on one endpoint apart (certificate
    /// SHA-256, DNS record name); `None` when a rule fires at most once per subject.
    pub fn item_key(&self) -> Option<String> {
        match self {
            SubjectFacts::Port(_) | SubjectFacts::Http(_) => None,
            SubjectFacts::Tls(t) => t.item_key(),
            SubjectFacts::Dns(d) => d.item_key(),
        }
    }

    /// The CEL variables of this subject: the top-level keys of its JSON form
    /// (`endpoint`, `target`, `port`, …), without the `subject` tag.
    pub fn variables(&self) -> serde_json::Map<String, serde_json::Value> {
        let value = match self {
            SubjectFacts::Port(p) => serde_json::to_value(p),
            SubjectFacts::Http(h) => serde_json::to_value(h),
            SubjectFacts::Tls(t) => serde_json::to_value(t),
            SubjectFacts::Dns(d) => serde_json::to_value(d),
        };
        match value {
            Ok(serde_json::Value::Object(map)) => map,
            // The fact structs are plain data and always serialise to an object.
            _ => serde_json::Map::new(),
        }
    }

    /// Field paths (dotted, from a top-level variable) whose value is a map with free-form keys,
    /// such as HTTP headers: rules may read any key below them.
    pub fn dynamic_map_paths(subject: Subject) -> &'static [&'static str] {
        match subject {
            Subject::Http => &["http.headers"],
            Subject::Port | Subject::Tls | Subject::Dns => &[],
        }
    }

    /// A fully populated example of `subject`: every optional fact present, every list non-empty.
    /// Rule validation derives the fact schema from it, and `rules explain` shows it.
    pub fn sample(subject: Subject) -> Option<SubjectFacts> {
        let target = TargetFacts {
            host: "shop.example.com".into(),
            ip: Some("192.0.2.10".into()),
            port: Some(23),
            tags: vec!["dmz".into()],
            owner: Some("web-team".into()),
        };
        match subject {
            Subject::Port => Some(SubjectFacts::Port(PortSubject {
                endpoint: "shop.example.com:23".into(),
                target,
                port: PortFacts {
                    number: 23,
                    state: PortState::Open,
                    open: true,
                    service: "telnet".into(),
                    service_source: "banner".into(),
                    banner: "\u{fffd}\u{fffd}login: ".into(),
                },
            })),
            Subject::Http => Some(SubjectFacts::Http(Box::new(http::sample()))),
            Subject::Tls => Some(SubjectFacts::Tls(Box::new(tls::sample()))),
            Subject::Dns => Some(SubjectFacts::Dns(Box::new(dns::sample()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variables_are_top_level_keys() {
        let s = SubjectFacts::sample(Subject::Port).unwrap();
        let vars = s.variables();
        let keys: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert_eq!(keys, ["endpoint", "port", "target"]);
        assert_eq!(vars["port"]["state"], "open");
    }
}
