//! Rules: TOML rule packs whose conditions are CEL expressions over one subject's facts.
//!
//! * [`load`] reads packs (built-in ones embedded with `include_str!`, user files and
//!   directories), validates everything with `path:line:col` positions — unknown keys, types,
//!   duplicate ids, CEL syntax, and every fact path against the subject's fact schema
//!   ([`schema`]) — applies [`RuleOverrides`], and compiles each expression once.
//! * [`eval`] judges one subject's facts: pure, cheap (it runs once per open port), and an
//!   absent fact is "no match", never an error.
//! * [`explain`] renders `rules list` and `rules explain` for the CLI to print.
//!
//! Built-in rule ids are stable forever: they are SARIF `ruleId`s and part of fingerprints.

mod diag;
mod eval;
mod explain;
mod load;
mod schema;
mod template;

pub use diag::{RuleError, RuleErrors, Snippet};
pub use eval::{evaluate, evaluate_with};
pub use explain::{explain, render_list};

use crate::finding::{Severity, Subject};
use crate::outcome::{PackInfo, RuleInfo};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The built-in packs, embedded in the binary: `(file name, contents)`. Add a pack by adding a
/// line here; everything else (loading, `--version`, pack identities) follows.
const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("ports.toml", include_str!("../../rules/ports.toml")),
    ("tls.toml", include_str!("../../rules/tls.toml")),
    ("http.toml", include_str!("../../rules/http.toml")),
    ("dns.toml", include_str!("../../rules/dns.toml")),
];

/// The built-in rule packs: `(file name, contents)`, for `posture --version` and loading.
pub fn builtin_packs() -> &'static [(&'static str, &'static str)] {
    BUILTIN_PACKS
}

/// A value with the place it was configured, so a problem with it can point there.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    /// Where the value came from: `posture.toml:12:1`, `--rule`, … (`None`: unknown).
    pub origin: Option<String>,
}

impl<T> At<T> {
    pub fn new(value: T) -> At<T> {
        At {
            value,
            origin: None,
        }
    }

    pub fn with_origin(value: T, origin: impl Into<String>) -> At<T> {
        At {
            value,
            origin: Some(origin.into()),
        }
    }

    pub(crate) fn origin_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.origin.as_deref().unwrap_or(default)
    }
}

impl<T> From<T> for At<T> {
    fn from(value: T) -> At<T> {
        At::new(value)
    }
}

/// Where rules come from.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSources {
    /// Load the built-in packs (on unless the user turned them off).
    pub builtin: bool,
    /// User rule files, or directories (every `*.toml` directly inside, in name order).
    pub paths: Vec<At<PathBuf>>,
    /// Leave out a built-in pack when `paths` hold an identical copy of it, which is loaded
    /// in its place (`rules validate` on the `rules/` directory of a checkout).
    pub replace_identical: bool,
}

impl Default for RuleSources {
    fn default() -> Self {
        RuleSources {
            builtin: true,
            paths: Vec::new(),
            replace_identical: false,
        }
    }
}

/// Per-scan changes to the loaded rules, from posture.toml `[rules]` and the command line.
/// Every id named here must exist, or loading fails with the override's origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleOverrides {
    /// Rules turned off (posture.toml `disable`).
    pub disable: Vec<At<String>>,
    /// Severity per rule id.
    pub severity: BTreeMap<String, At<Severity>>,
    /// Parameters per rule id, merged over the rule's `params` table-wise: nested tables are
    /// merged key by key, any other value replaces the rule's. Top-level keys must exist in
    /// the rule's params, with the same kind of value.
    pub params: BTreeMap<String, At<serde_json::Value>>,
    /// `--rule`: run only these rules. Naming a rule here runs it even when it is disabled
    /// (by `enabled = false` or `disable`): the command line is the most specific ask.
    pub only: Vec<At<String>>,
    /// `--skip-rule`: never run these.
    pub skip: Vec<At<String>>,
    /// `--tag`: keep only rules carrying at least one of these tags.
    pub tags: Vec<At<String>>,
}

/// A loaded, validated and compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    /// The severity in force (after overrides).
    pub severity: Severity,
    pub subject: Subject,
    pub when: String,
    pub message: String,
    pub remediation: String,
    pub help_uri: Option<String>,
    pub tags: Vec<String>,
    /// The parameters in force (after overrides); always a JSON object.
    pub params: serde_json::Value,
    /// `enabled` as written in the rule file.
    pub enabled: bool,
    /// Whether this scan runs the rule (after `enabled` and every override).
    pub active: bool,
    /// `builtin:ports.toml` or the user's path.
    pub pack: String,
    pub(crate) program: load::Program,
    pub(crate) trouble: eval::Trouble,
}

impl Rule {
    /// The compiled programs. A built-in rule that no override touches is compiled on first
    /// use (see [`load::Program`]); `None` only if that fails, which the tests rule out.
    pub(crate) fn compiled(&self) -> Option<&eval::Compiled> {
        self.program.get(&self.id)
    }

    /// Fact paths the condition reads (its evidence), sorted.
    pub fn reads(&self) -> &[String] {
        self.compiled().map_or(&[], |c| &c.reads)
    }

    /// The metadata reports carry (SARIF `tool.driver.rules`).
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            id: self.id.clone(),
            title: self.title.clone(),
            severity: self.severity,
            subject: self.subject,
            when: self.when.clone(),
            message: self.message.clone(),
            remediation: self.remediation.clone(),
            help_uri: self.help_uri.clone(),
            tags: self.tags.clone(),
            pack: self.pack.clone(),
        }
    }
}

/// Every rule of a scan, compiled, in load order (built-in packs first, then user paths).
pub struct RuleSet {
    rules: Vec<Rule>,
    packs: Vec<PackInfo>,
    env: Arc<cel::Env>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules)
            .field("packs", &self.packs)
            .finish_non_exhaustive()
    }
}

impl RuleSet {
    /// Reads, validates, overrides and compiles every rule. All problems in all files (and
    /// overrides) are reported at once.
    pub fn load(sources: &RuleSources, overrides: &RuleOverrides) -> Result<RuleSet, RuleErrors> {
        load::load(sources, overrides)
    }

    /// The built-in packs alone, without overrides.
    pub fn builtin() -> Result<RuleSet, RuleErrors> {
        RuleSet::load(&RuleSources::default(), &RuleOverrides::default())
    }

    /// Every loaded pack with its SHA-256 and rule count: the identity of the judgement.
    pub fn packs(&self) -> Vec<PackInfo> {
        self.packs.clone()
    }

    /// Metadata of every active rule, in load order.
    pub fn infos(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .filter(|r| r.active)
            .map(Rule::info)
            .collect()
    }

    /// The active rules of `subject`, in load order.
    pub fn rules_for(&self, subject: Subject) -> impl Iterator<Item = &Rule> + '_ {
        self.rules
            .iter()
            .filter(move |r| r.active && r.subject == subject)
    }

    /// True when some active rule judges `subject`: the engine can skip probes no rule needs.
    pub fn needs(&self, subject: Subject) -> bool {
        self.rules_for(subject).next().is_some()
    }

    /// Every loaded rule, active or not, in load order.
    pub fn all(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Number of active rules.
    pub fn active_len(&self) -> usize {
        self.rules.iter().filter(|r| r.active).count()
    }

    /// Rules whose condition could not be decided on some subjects for a reason other than an
    /// absent fact (see [`eval::Trouble`]), in load order: (rule id, how many subjects, the
    /// first endpoint and error). Built-in rules are tested against every fact shape; for them
    /// this stays empty.
    pub fn troubles(&self) -> Vec<(String, u64, String)> {
        self.rules
            .iter()
            .filter_map(|r| {
                r.trouble
                    .get()
                    .map(|(n, first)| (r.id.clone(), n, first.to_string()))
            })
            .collect()
    }

    /// Compiles every rule not compiled yet (built-in rules are compiled on first use);
    /// returns the ids of those that fail. `rules validate` and the tests check all of them.
    pub fn compile_all(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.compiled().is_none())
            .map(|r| r.id.clone())
            .collect()
    }

    pub(crate) fn env(&self) -> &Arc<cel::Env> {
        &self.env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::SubjectFacts;
    use crate::finding::Location;
    use crate::rule::eval::tests::port;

    /// Every built-in rule id. These are SARIF `ruleId`s and part of every fingerprint:
    /// changing this list reopens alerts downstream, so it changes only on purpose.
    const BUILTIN_IDS: &[&str] = &[
        "port.risky-service",
        "port.redis.unauthenticated",
        "tls.cert.expired",
        "tls.cert.expiring",
        "tls.cert.not-yet-valid",
        "tls.cert.self-signed",
        "tls.cert.untrusted",
        "tls.cert.incomplete-chain",
        "tls.cert.hostname-mismatch",
        "tls.cert.weak-key",
        "tls.cert.weak-signature",
        "tls.chain.expired",
        "tls.chain.expiring",
        "tls.protocol.legacy",
        "tls.cipher.weak",
        "tls.cipher.no-forward-secrecy",
        "tls.protocol.no-tls13",
        "http.hsts.missing",
        "http.redirect.missing",
        "http.server.version-disclosure",
        "http.headers.missing",
        "dns.spf.missing",
        "dns.spf.permissive",
        "dns.spf.too-many-lookups",
        "dns.spf.invalid",
        "dns.dmarc.missing",
        "dns.dmarc.weak",
        "dns.dmarc.unauthorized-report",
        "dns.mx.invalid",
        "dns.mta-sts.missing",
        "dns.tls-rpt.missing",
        "dns.caa.missing",
        "dns.dnssec.missing",
        "dns.dnssec.expiring",
        "dns.ns.single",
        "dns.ns.same-network",
        "dns.ns.lame",
        "dns.soa.serial-mismatch",
        "dns.axfr.open",
        "dns.recursion.open",
        "dns.cname.dangling",
        "dns.wildcard.present",
    ];

    fn builtin() -> RuleSet {
        match RuleSet::builtin() {
            Ok(r) => r,
            Err(e) => panic!("built-in packs must load cleanly:\n{e}"),
        }
    }

    /// Built-in rules meet facts with parts missing (a TLS endpoint that sent no certificate,
    /// an anonymous-only server): that is "no match", never a rule that could not be decided.
    #[test]
    fn builtin_rules_are_decided_on_every_fact_shape() {
        let rs = builtin();
        let loc = Location::synthetic(Subject::Tls, "10.0.0.5", "443");
        let mut shapes = Vec::new();
        for subject in [Subject::Port, Subject::Http, Subject::Tls, Subject::Dns] {
            shapes.extend(SubjectFacts::sample(subject));
        }
        let mut bare = crate::fact::tls::sample();
        bare.cert = None;
        bare.chain.clear();
        bare.chain_earliest = None;
        bare.tls.weak_ciphers = vec!["anon".into()];
        shapes.push(SubjectFacts::Tls(Box::new(bare)));
        for facts in &shapes {
            evaluate(&rs, facts, &loc);
        }
        assert_eq!(rs.troubles(), Vec::<(String, u64, String)>::new());
    }

    #[test]
    fn builtin_packs_load_cleanly_and_ids_are_pinned() {
        let rs = builtin();
        let ids: Vec<&str> = rs.all().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, BUILTIN_IDS);
        // Built-in rules compile on first use: every one of them must.
        assert_eq!(rs.compile_all(), Vec::<String>::new());
        for r in rs.all() {
            assert!(load::is_builtin_id(&r.id), "{}", r.id);
            assert!(r.active && r.enabled, "{}", r.id);
            assert!(
                r.help_uri
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
                "{}",
                r.id
            );
            assert!(!r.remediation.trim().is_empty(), "{}", r.id);
            assert!(r.tags.iter().any(|t| t == "security"), "{}", r.id);
            assert!(r.pack.starts_with("builtin:"), "{}", r.pack);
        }
        let packs = rs.packs();
        assert_eq!(packs.len(), builtin_packs().len());
        assert_eq!(packs[0].name, "builtin:ports.toml");
        assert_eq!(packs[0].rules, 2);
        assert_eq!(packs[0].sha256.len(), 64);
        assert_eq!(rs.infos().len(), BUILTIN_IDS.len());
        assert!(rs.needs(Subject::Port));
    }

    fn risky(facts: &SubjectFacts) -> Vec<crate::finding::Finding> {
        let rs = builtin();
        let loc = Location::synthetic(Subject::Port, "10.0.0.5", "x");
        crate::rule::evaluate(&rs, facts, &loc)
            .into_iter()
            .filter(|f| f.rule_id == "port.risky-service")
            .collect()
    }

    #[test]
    fn risky_service_fires_on_identified_services_anywhere() {
        // A Redis found on port 7000 by its banner.
        let f = risky(&port(7000, "redis", "banner", true));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(
            f[0].message
                .starts_with("Redis is exposed on 10.0.0.5:7000"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].remediation.contains("protected-mode"),
            "{}",
            f[0].remediation
        );
        // nmap-style names resolve to their advice.
        let f = risky(&port(3389, "ms-wbt-server", "port", true));
        assert!(
            f[0].message.starts_with("Remote Desktop (RDP)"),
            "{}",
            f[0].message
        );
        assert!(f[0].remediation.contains("Network Level Authentication"));
        let f = risky(&port(2323, "telnet", "banner", true));
        assert!(f[0].remediation.contains("SSH"));
    }

    #[test]
    fn risky_service_fires_on_unidentified_well_known_ports() {
        for (number, key) in [(3306u16, "MySQL"), (27017, "MongoDB"), (445, "SMB")] {
            let f = risky(&port(number, "unknown", "banner", true));
            assert_eq!(f.len(), 1, "{number}");
            assert!(f[0].message.starts_with(key), "{}", f[0].message);
        }
        // HTTP answers on the ports of HTTP-speaking risky APIs are those APIs.
        let f = risky(&port(9200, "http", "probe", true));
        assert!(
            f[0].remediation.contains("xpack.security"),
            "{}",
            f[0].remediation
        );
        let f = risky(&port(2375, "http", "probe", true));
        assert!(f[0].remediation.contains("tlsverify"));
    }

    #[test]
    fn risky_service_is_silent_on_safe_or_closed_ports() {
        // A web server answering on 3306 is not a database.
        assert!(risky(&port(3306, "http", "probe", true)).is_empty());
        assert!(risky(&port(22, "ssh", "banner", true)).is_empty());
        assert!(risky(&port(443, "https", "port", true)).is_empty());
        assert!(risky(&port(23, "telnet", "port", false)).is_empty());
        // SSH moved to port 23 is identified by its banner: not telnet.
        assert!(risky(&port(23, "ssh", "banner", true)).is_empty());
    }

    #[test]
    fn every_risky_port_and_service_has_specific_advice() {
        let rs = builtin();
        let r = rs.get("port.risky-service").unwrap();
        let p = &r.params;
        let advice = p["advice"].as_object().unwrap();
        let names = p["names"].as_object().unwrap();
        let fallback = p["fallback"].as_str().unwrap();
        for (number, key) in p["ports"].as_object().unwrap() {
            let key = key.as_str().unwrap();
            assert!(advice.contains_key(key) && names.contains_key(key), "{key}");
            let number: u16 = number.parse().unwrap();
            let f = risky(&port(number, "unknown", "port", true));
            assert_eq!(f.len(), 1, "port {number}");
            assert_eq!(f[0].remediation, advice[key].as_str().unwrap());
            assert_ne!(f[0].remediation, fallback);
        }
        for (service, key) in p["services"].as_object().unwrap() {
            let key = key.as_str().unwrap();
            assert!(advice.contains_key(key), "{service} → {key}");
            let f = risky(&port(40000, service, "banner", true));
            assert_eq!(f.len(), 1, "{service}");
            assert_eq!(f[0].remediation, advice[key].as_str().unwrap());
        }
        // The brief's minimum coverage, by port number.
        for n in [
            21u16, 23, 111, 135, 139, 445, 512, 513, 514, 1433, 1521, 2049, 2375, 3306, 3389, 5432,
            5900, 6000, 6379, 9200, 11211, 27017,
        ] {
            assert!(p["ports"].get(n.to_string()).is_some(), "{n}");
        }
    }

    #[test]
    fn params_overrides_extend_the_builtin_rule() {
        let mut o = RuleOverrides::default();
        o.params.insert(
            "port.risky-service".into(),
            At::new(serde_json::json!({
                "ports": { "8081": "jenkins" },
                "advice": { "jenkins": "Put Jenkins behind the VPN." }
            })),
        );
        let rs = RuleSet::load(&RuleSources::default(), &o).unwrap();
        let loc = Location::synthetic(Subject::Port, "10.0.0.5", "8081");
        let f = crate::rule::evaluate(&rs, &port(8081, "unknown", "port", true), &loc);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].remediation, "Put Jenkins behind the VPN.");
        // No display name configured: the service name stands in.
        assert!(
            f[0].message.starts_with("unknown is exposed"),
            "{}",
            f[0].message
        );
    }

    /// Certificate expiry reads "in 1 day" and "within a day", never "in 1 days" / "in 0 days".
    #[test]
    fn certificate_expiry_message_counts_days_in_english() {
        let rs = builtin();
        let loc = Location::synthetic(Subject::Tls, "shop.example.com:443", "shop.example.com");
        let when = |days: i64| -> String {
            let mut s = crate::fact::tls::sample();
            if let Some(c) = s.cert.as_mut() {
                c.days_left = days;
            }
            let f = crate::rule::evaluate(&rs, &SubjectFacts::Tls(Box::new(s)), &loc);
            let m = &f
                .iter()
                .find(|f| f.rule_id == "tls.cert.expiring")
                .unwrap()
                .message;
            let (_, rest) = m.split_once(") expires ").unwrap();
            rest.split(" (").next().unwrap().to_string()
        };
        assert_eq!(when(12), "in 12 days");
        assert_eq!(when(1), "in 1 day");
        assert_eq!(when(0), "within a day");
    }

    /// An expired intermediate is an outage (critical), not "expires soon"; a weak key
    /// anywhere on the presented path is a weak key, named with its position.
    #[test]
    fn intermediates_expired_or_weak_are_named() {
        let rs = builtin();
        let loc = Location::synthetic(Subject::Tls, "shop.example.com:443", "shop.example.com");
        let fired = |s: crate::fact::tls::TlsSubject| -> Vec<(String, String)> {
            crate::rule::evaluate(&rs, &SubjectFacts::Tls(Box::new(s)), &loc)
                .into_iter()
                .filter(|f| f.rule_id.starts_with("tls.chain") || f.rule_id == "tls.cert.weak-key")
                .map(|f| (f.rule_id, f.message))
                .collect()
        };
        let mut s = crate::fact::tls::sample();
        s.chain[1].expired = true;
        s.chain[1].days_left = -3;
        let got = fired(s);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "tls.chain.expired");
        assert!(
            got[0]
                .1
                .contains("#1 (CN=Example Intermediate CA,O=Example) on 2026-03-20T00:00:00Z"),
            "{}",
            got[0].1
        );
        let mut s = crate::fact::tls::sample();
        (s.chain[1].key_type, s.chain[1].key_bits) = ("rsa".into(), 1024);
        let got = fired(s);
        let weak = got
            .iter()
            .find(|(id, _)| id == "tls.cert.weak-key")
            .unwrap();
        assert!(
            weak.1.contains(
                "intermediate #1 (CN=Example Intermediate CA,O=Example) with a 1024-bit rsa key"
            ),
            "{}",
            weak.1
        );
    }

    /// CAA restricts ordinary certificates only through `issue` (RFC 8659 §4.1): a set with
    /// only `issuewild` or `iodef` leaves every CA free, and says so.
    #[test]
    fn caa_without_issue_is_no_restriction() {
        let rs = builtin();
        let loc = Location::synthetic(Subject::Dns, "example.com", "example.com");
        let message = |issue: Vec<String>, present: bool| -> Option<String> {
            let mut s = crate::fact::dns::sample();
            s.dns.caa.checked = true;
            s.dns.caa.present = present;
            s.dns.caa.found_at = "example.com".into();
            s.dns.caa.issue = issue;
            s.dns.caa.issuewild = vec![";".into()];
            crate::rule::evaluate(&rs, &SubjectFacts::Dns(Box::new(s)), &loc)
                .into_iter()
                .find(|f| f.rule_id == "dns.caa.missing")
                .map(|f| f.message)
        };
        assert_eq!(message(vec!["letsencrypt.org".into()], true), None);
        let m = message(Vec::new(), true).unwrap();
        assert!(
            m.starts_with("example.com has CAA records (at example.com) but no `issue` property"),
            "{m}"
        );
        let m = message(Vec::new(), false).unwrap();
        assert!(m.starts_with("example.com has no CAA record"), "{m}");
    }

    /// DNSSEC messages: an expired signature reads "expired N days ago", not "expires in -N
    /// days"; a nameserver serving an unsigned copy of a signed zone is named.
    #[test]
    fn dnssec_messages_say_when_and_where() {
        use crate::fact::dns::{DnssecFacts, RrsigFacts};
        let rs = builtin();
        let loc = Location::synthetic(Subject::Dns, "example.com", "example.com");
        let message = |dnssec: DnssecFacts, id: &str| -> Option<String> {
            let mut s = crate::fact::dns::sample();
            s.dns.dnssec = dnssec;
            crate::rule::evaluate(&rs, &SubjectFacts::Dns(Box::new(s)), &loc)
                .into_iter()
                .find(|f| f.rule_id == id)
                .map(|f| f.message)
        };
        let signed = |days: i64| DnssecFacts {
            checked: true,
            dnskey_present: true,
            dnskey_count: 1,
            soa_signed: true,
            present: true,
            unsigned_servers: Vec::new(),
            rrsigs: vec![RrsigFacts {
                server: "ns1.example.com".into(),
                address: "192.0.2.53".into(),
                covers: "SOA".into(),
                days_left: days,
                ..RrsigFacts::default()
            }],
            min_days_left: days,
        };
        assert_eq!(
            message(signed(-2), "dns.dnssec.expiring").as_deref(),
            Some(
                "example.com has an RRSIG on SOA or DNSKEY that expired 2 days ago: validating \
                 resolvers treat the whole zone as bogus."
            )
        );
        assert_eq!(
            message(signed(3), "dns.dnssec.expiring").as_deref(),
            Some(
                "example.com has an RRSIG on SOA or DNSKEY that expires in 3 days: validating \
                 resolvers will then treat the whole zone as bogus."
            )
        );
        let when = |days: i64| {
            let m = message(signed(days), "dns.dnssec.expiring").unwrap();
            let (_, rest) = m.split_once("DNSKEY that ").unwrap();
            rest.split(':').next().unwrap().to_string()
        };
        assert_eq!(when(1), "expires in 1 day");
        assert_eq!(when(0), "expires within a day");
        assert_eq!(when(-1), "expired 1 day ago");
        assert_eq!(message(signed(30), "dns.dnssec.expiring"), None);
        // ns2 serves the zone unsigned, ns1 signed.
        let mut partly = signed(30);
        (partly.present, partly.dnskey_present, partly.soa_signed) = (false, false, false);
        partly.dnskey_count = 0;
        partly.unsigned_servers = vec!["ns2.example.net (198.51.100.53)".into()];
        let m = message(partly, "dns.dnssec.missing").unwrap();
        assert!(
            m.starts_with(
                "example.com is not DNSSEC-signed (DNSKEY records: 0, signed SOA: false; served \
                 unsigned by ns2.example.net (198.51.100.53)):"
            ),
            "{m}"
        );
        // Unsigned everywhere: the message is the plain one.
        let unsigned = DnssecFacts {
            checked: true,
            unsigned_servers: vec!["ns1.example.com (192.0.2.53)".into()],
            ..DnssecFacts::default()
        };
        let m = message(unsigned, "dns.dnssec.missing").unwrap();
        assert!(
            m.starts_with(
                "example.com is not DNSSEC-signed (DNSKEY records: 0, signed SOA: false):"
            ),
            "{m}"
        );
        assert_eq!(rs.troubles(), Vec::<(String, u64, String)>::new());
    }

    #[test]
    fn list_and_explain_render() {
        let rs = builtin();
        let list = render_list(&rs);
        assert!(list.starts_with("ID "), "{list}");
        assert!(
            list.lines()
                .any(|l| l.starts_with("port.risky-service ") && l.contains(" high ")),
            "{list}"
        );
        assert!(list.contains("builtin:ports.toml"));
        let text = explain(&rs, "port.risky-service").unwrap();
        assert!(
            text.contains("reads:       port.number, port.open, port.service, port.service_source"),
            "{text}"
        );
        assert!(text.contains("result: MATCH (high)"), "{text}");
        assert!(explain(&rs, "nope").is_none());
    }
}
