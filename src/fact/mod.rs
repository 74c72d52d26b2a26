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

/// One scalar fact (or list of strings) read by its dotted path straight from the typed facts.
///
/// Rules read a few facts of every open port; building the subject's whole JSON form for that
/// cost about as much as running the rules (see `rule::eval::FactResolver`). This is the same
/// value the JSON form holds at that path, which stays the contract: a test compares the two
/// for every leaf of every sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Leaf<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Strs(&'a [String]),
}

/// What the typed fast path knows about a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LeafLookup<'a> {
    Found(Leaf<'a>),
    /// A leaf of the schema that this subject does not have (an optional fact left out).
    Absent,
    /// Not a leaf the fast path serves: read the JSON form.
    Unknown,
}

impl TargetFacts {
    fn leaf(&self, field: &str) -> LeafLookup<'_> {
        fn opt_str(v: &Option<String>) -> LeafLookup<'_> {
            match v {
                Some(s) => LeafLookup::Found(Leaf::Str(s)),
                None => LeafLookup::Absent,
            }
        }
        match field {
            "host" => LeafLookup::Found(Leaf::Str(&self.host)),
            "ip" => opt_str(&self.ip),
            "port" => match self.port {
                Some(p) => LeafLookup::Found(Leaf::Int(i64::from(p))),
                None => LeafLookup::Absent,
            },
            "tags" => LeafLookup::Found(Leaf::Strs(&self.tags)),
            "owner" => opt_str(&self.owner),
            _ => LeafLookup::Unknown,
        }
    }
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

    /// The fact at the dotted `path` (`port.open`, `target.host`, `endpoint`) from the typed
    /// facts, where the fast path knows it; see [`Leaf`].
    pub fn leaf(&self, path: &str) -> LeafLookup<'_> {
        if path == "endpoint" {
            return LeafLookup::Found(Leaf::Str(self.endpoint()));
        }
        let Some((var, field)) = path.split_once('.') else {
            return LeafLookup::Unknown;
        };
        match (self, var) {
            (_, "target") => self.target().leaf(field),
            (SubjectFacts::Port(p), "port") => p.port.leaf(field),
            _ => LeafLookup::Unknown,
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

    /// Every leaf path of a JSON object, dotted (`port.open`), with its value.
    fn leaves(
        prefix: &str,
        map: &serde_json::Map<String, serde_json::Value>,
        out: &mut Vec<(String, serde_json::Value)>,
    ) {
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                serde_json::Value::Object(m) => leaves(&path, m, out),
                _ => out.push((path, v.clone())),
            }
        }
    }

    fn leaf_json(leaf: Leaf<'_>) -> serde_json::Value {
        match leaf {
            Leaf::Str(s) => s.into(),
            Leaf::Int(i) => i.into(),
            Leaf::Bool(b) => b.into(),
            Leaf::Strs(items) => items.into(),
        }
    }

    /// The typed fast path serves exactly what the JSON form (the contract) holds: the same
    /// value at every leaf it knows, `Absent` exactly where the JSON form leaves a fact out.
    #[test]
    fn typed_leaves_agree_with_the_json_form() {
        let mut checked = 0;
        for subject in [Subject::Port, Subject::Http, Subject::Tls, Subject::Dns] {
            let full = SubjectFacts::sample(subject).unwrap();
            // The same subject with every optional target fact left out.
            let mut bare = full.clone();
            let t = match &mut bare {
                SubjectFacts::Port(p) => &mut p.target,
                SubjectFacts::Http(h) => &mut h.target,
                SubjectFacts::Tls(t) => &mut t.target,
                SubjectFacts::Dns(d) => &mut d.target,
            };
            (t.ip, t.port, t.owner, t.tags) = (None, None, None, Vec::new());
            for facts in [&full, &bare] {
                let vars = facts.variables();
                let mut all = Vec::new();
                leaves("", &vars, &mut all);
                for (path, json) in &all {
                    match facts.leaf(path) {
                        LeafLookup::Found(leaf) => {
                            assert_eq!(&leaf_json(leaf), json, "{subject} {path}");
                            checked += 1;
                        }
                        LeafLookup::Absent => panic!("{subject} {path}: absent but in the JSON"),
                        LeafLookup::Unknown => {}
                    }
                }
                for path in ["target.ip", "target.port", "target.owner"] {
                    let in_json = all.iter().any(|(p, _)| p == path);
                    let typed = facts.leaf(path);
                    assert_eq!(
                        matches!(typed, LeafLookup::Found(_)),
                        in_json,
                        "{subject} {path}: {typed:?}"
                    );
                }
                // Not leaves: whole objects and unknown names go to the JSON form.
                for path in ["port", "target", "target.nope", "port.nope", "nope.x"] {
                    assert_eq!(facts.leaf(path), LeafLookup::Unknown, "{path}");
                }
            }
        }
        // Every port fact and every target fact of all four subjects, twice over.
        assert!(checked >= 2 * (6 + 4 * 3) + 4, "{checked}");
    }
}
