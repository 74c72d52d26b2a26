//! The DNS phase of a scan: which names get which checks (issue 4), run with bounded
//! parallelism, each name under its own deadline, judged by the rules as soon as it is done.
//!
//! - **Zone checks** on every `[[domain]]` of posture.toml (forced: the user said it is a
//!   zone) and on name targets that turn out to be a zone apex (they own an SOA).
//! - **Name checks** (dangling CNAME) on every name target, on the names an allowed AXFR
//!   revealed (`dns.axfr.names`) and on the names of `--subdomains FILE`. A name target with a
//!   port or a URL still gets them: the name is what the DNS checks are about.
//!
//! Ordinary lookups go to `plan.resolver`, else to the first `nameserver` of
//! `/etc/resolv.conf` (read here because the DNS probe talks to one server itself rather than
//! through the system's stub). Queries that must reach a zone's own servers use `plan.ns_port`.
//!
//! A name whose facts are not complete (timeouts, SERVFAIL, malformed answers) is listed as
//! incomplete; the rules still run on it because every built-in condition first tests the
//! `checked` flag of the section it judges.

use super::endpoint::Assessed;
use super::plan::{repo_relative, ScanPlan};
use crate::config::DomainSpec;
use crate::fact::dns::DnsFacts;
use crate::fact::{DnsSubject, SubjectFacts, TargetFacts};
use crate::finding::{Location, Subject};
use crate::outcome::IncompleteEndpoint;
use crate::probe::dns::{self, normalize_name, DnsProbeConfig};
use crate::rule::RuleSet;
use crate::target::{Host, Origin, TargetMeta};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Names assessed at once. Zone checks send a few dozen queries each, several at a time, to
/// the resolver and the zone's nameservers: 16 names keep a resolver busy without looking
/// like a flood, and bound the sockets the phase holds next to the port sweep.
pub const DNS_PARALLEL_NAMES: usize = 16;

/// Names read from `--subdomains FILE`: a large enumeration list fits, a mistake does not.
pub const MAX_SUBDOMAINS: usize = 100_000;

/// Largest /etc/resolv.conf read: real ones are a few hundred bytes.
const RESOLV_CONF_MAX_BYTES: u64 = 64 * 1024;

/// Time past the probe's own deadline before a name is abandoned: the probe clips every
/// query to its deadline, so this only catches a probe that failed to.
const DEADLINE_SLACK: Duration = Duration::from_millis(500);

/// How often a running phase looks at the cancellation flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Longest reason kept in an incomplete entry (a zone may collect many error lines).
const REASON_MAX_CHARS: usize = 1024;

/// Which checks a name gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Zone checks (and the name checks of the apex), whether or not it owns an SOA.
    Zone,
    /// Zone checks when the name is a zone apex, name checks always.
    Auto,
    /// Name checks only.
    Name,
}

/// Where a name came from; decides its location and whether its subject is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSource {
    /// `[[domain]]` or a name target.
    Declared,
    /// Revealed by an allowed zone transfer of this zone.
    Axfr { zone: String },
    /// `--subdomains FILE`.
    Listed,
}

/// One name to assess.
#[derive(Debug, Clone)]
pub struct NameWork {
    /// Normalised: lowercase, no trailing dot.
    pub name: String,
    pub kind: CheckKind,
    pub source: NameSource,
    pub meta: Arc<TargetMeta>,
    /// The posture.toml line that declared it, when it came from there.
    pub anchor: Option<Location>,
}

/// The names of `plan` and their checks, in a stable order: `[[domain]]` entries, name
/// targets, `--subdomains`. A name appears once; the first declaration wins, and a
/// `[[domain]]` always gets zone checks. Names that are not DNS names are dropped (the plan
/// validated them already).
pub fn plan_names(plan: &ScanPlan) -> Vec<NameWork> {
    let mut out: Vec<NameWork> = Vec::new();
    let mut seen = HashSet::new();
    for d in &plan.domains {
        push_domain(&mut out, &mut seen, d);
    }
    // With `--shard K/N`, each name's DNS checks run in the one shard that owns the name
    // (`[[domain]]` entries are already filtered by the CLI).
    let owned = |name: &str| plan.shard.is_none_or(|s| s.owns_name(name));
    for t in &plan.targets {
        let Host::Name(n) = &t.host else { continue };
        let Some(name) = normalize_name(n) else {
            continue;
        };
        if !owned(&name) {
            continue;
        }
        if seen.insert(name.clone()) {
            out.push(NameWork {
                name,
                kind: CheckKind::Auto,
                source: NameSource::Declared,
                meta: t.meta.clone(),
                anchor: anchor(&t.origin),
            });
        }
    }
    for s in &plan.subdomains {
        let Some(name) = normalize_name(s) else {
            continue;
        };
        if !owned(&name) {
            continue;
        }
        if seen.insert(name.clone()) {
            out.push(NameWork {
                name,
                kind: CheckKind::Name,
                source: NameSource::Listed,
                meta: Arc::new(TargetMeta::default()),
                anchor: None,
            });
        }
    }
    out
}

fn push_domain(out: &mut Vec<NameWork>, seen: &mut HashSet<String>, d: &DomainSpec) {
    let Some(name) = normalize_name(&d.name) else {
        return;
    };
    if seen.insert(name.clone()) {
        out.push(NameWork {
            name,
            kind: CheckKind::Zone,
            source: NameSource::Declared,
            meta: d.meta.clone(),
            anchor: anchor(&d.origin),
        });
    }
}

/// The posture.toml location of an inventory entry; `None` for command-line and file targets
/// (their findings get the synthetic `targets/dns/<zone>/<name>` path).
fn anchor(origin: &Origin) -> Option<Location> {
    match origin {
        Origin::Config { path, line } => Some(Location {
            uri: repo_relative(path),
            line: Some(*line),
        }),
        Origin::Cli | Origin::File { .. } => None,
    }
}

/// Validates the lines of a `--subdomains` file: (line, text) → names, or every bad line.
pub fn parse_subdomain_lines(
    shown: &str,
    lines: &[(u32, String)],
) -> Result<Vec<String>, Vec<String>> {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    if lines.len() > MAX_SUBDOMAINS {
        errors.push(format!(
            "{shown}: {} names, more than the limit of {MAX_SUBDOMAINS}",
            lines.len()
        ));
        return Err(errors);
    }
    for (line, text) in lines {
        match normalize_name(text) {
            Some(n) if text.contains('.') => names.push(n),
            _ => errors.push(format!(
                "{shown}:{line}: `{}` is not a fully qualified DNS name",
                text.chars().take(64).collect::<String>()
            )),
        }
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(errors)
    }
}

/// The first usable `nameserver` of a resolv.conf text. Pure.
///
/// Comments start with `#` or `;`. Scoped IPv6 addresses (`fe80::1%eth0`) are skipped: a
/// plain socket address cannot carry the scope, so they would not be reachable.
pub fn parse_resolv_conf(text: &str) -> Option<IpAddr> {
    text.lines().find_map(|line| {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
            _ => None,
        }
    })
}

/// The system's resolver: the first nameserver of /etc/resolv.conf, port 53.
fn system_resolver() -> Result<SocketAddr, String> {
    use std::io::Read;
    let path = Path::new("/etc/resolv.conf");
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(RESOLV_CONF_MAX_BYTES).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {}: {e}; pass --resolver", path.display()))?;
    parse_resolv_conf(&text)
        .map(|ip| SocketAddr::new(ip, 53))
        .ok_or_else(|| format!("{} names no nameserver; pass --resolver", path.display()))
}

/// What one name produced, and the names it revealed.
struct Done {
    assessed: Assessed,
    learnt: Vec<NameWork>,
}

/// Runs the DNS checks of `plan` (nothing when `checks.dns` is off). Bounded: at most
/// [`DNS_PARALLEL_NAMES`] names at once, each within `limits.endpoint_timeout`; when `cancel`
/// is set, no new name starts and running ones are abandoned.
pub async fn assess_domains(plan: &ScanPlan, cancel: &AtomicBool) -> Assessed {
    let mut out = Assessed {
        subjects: Vec::new(),
        findings: Vec::new(),
        incomplete: Vec::new(),
    };
    let mut queue: VecDeque<NameWork> = if plan.checks.dns {
        plan_names(plan).into()
    } else {
        VecDeque::new()
    };
    if queue.is_empty() {
        return out;
    }
    let resolver = match plan.resolver.map(Ok).unwrap_or_else(system_resolver) {
        Ok(r) => r,
        Err(reason) => {
            out.incomplete
                .extend(queue.iter().map(|w| IncompleteEndpoint {
                    endpoint: w.name.clone(),
                    stage: "dns".into(),
                    reason: reason.clone(),
                }));
            return out;
        }
    };
    let cfg = probe_config(plan, resolver);
    let mut seen: HashSet<String> = queue.iter().map(|w| w.name.clone()).collect();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        if cancel.load(Ordering::Relaxed) {
            tasks.abort_all();
            break;
        }
        while tasks.len() < DNS_PARALLEL_NAMES {
            let Some(work) = queue.pop_front() else { break };
            let name = work.name.clone();
            let cfg = cfg.clone();
            let rules = plan.rules.clone();
            let handle = tasks.spawn(async move { assess_name(work, cfg, rules).await });
            running.insert(handle.id(), name);
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            done = tasks.join_next_with_id() => match done {
                Some(Ok((id, d))) => {
                    running.remove(&id);
                    for w in d.learnt {
                        if seen.insert(w.name.clone()) {
                            queue.push_back(w);
                        }
                    }
                    out.subjects.extend(d.assessed.subjects);
                    out.findings.extend(d.assessed.findings);
                    out.incomplete.extend(d.assessed.incomplete);
                }
                Some(Err(e)) => {
                    if let Some(name) = running.remove(&e.id()) {
                        out.incomplete.push(IncompleteEndpoint {
                            endpoint: name,
                            stage: "dns".into(),
                            reason: format!("the DNS check task failed: {e}"),
                        });
                    }
                }
                None => {}
            },
            _ = tokio::time::sleep(CANCEL_POLL) => {}
        }
    }
    out
}

/// The probe configuration of this scan: its "now" and `--ca-file` roots are the ones the TLS
/// probes use (loaded once, by the CLI).
fn probe_config(plan: &ScanPlan, resolver: SocketAddr) -> DnsProbeConfig {
    let mut cfg = DnsProbeConfig::new(resolver, &plan.limits, plan.tls.now);
    cfg.ns_port = plan.ns_port;
    cfg.https_port = plan.mta_sts_port;
    cfg.extra_roots = plan.tls.extra_roots.clone();
    cfg
}

/// Probes one name within its deadline and judges it.
async fn assess_name(work: NameWork, cfg: DnsProbeConfig, rules: Arc<RuleSet>) -> Done {
    let limit = cfg.deadline + DEADLINE_SLACK;
    let probe = async {
        match work.kind {
            CheckKind::Zone => dns::probe_zone(&work.name, &cfg).await,
            CheckKind::Auto => dns::probe(&work.name, &cfg).await,
            CheckKind::Name => dns::probe_name(&work.name, &cfg).await,
        }
    };
    match tokio::time::timeout(limit, probe).await {
        Ok(facts) => judge(work, facts, &rules),
        Err(_) => Done {
            assessed: Assessed {
                subjects: Vec::new(),
                findings: Vec::new(),
                incomplete: vec![IncompleteEndpoint {
                    endpoint: work.name,
                    stage: "dns".into(),
                    reason: format!(
                        "the DNS checks did not finish within {} ms",
                        limit.as_millis()
                    ),
                }],
            },
            learnt: Vec::new(),
        },
    }
}

/// Rules over one name's facts; the names its zone transfer revealed.
fn judge(work: NameWork, facts: DnsFacts, rules: &RuleSet) -> Done {
    let zone = location_zone(&work, &facts);
    let location = work
        .anchor
        .clone()
        .unwrap_or_else(|| Location::synthetic(Subject::Dns, &zone, &work.name));
    let learnt = if work.kind == CheckKind::Name {
        Vec::new()
    } else {
        learnt_names(&work, &facts)
    };
    let mut incomplete = Vec::new();
    if !facts.complete {
        let mut reason = if facts.errors.is_empty() {
            "the DNS checks did not complete".to_string()
        } else {
            facts.errors.join("; ")
        };
        if reason.chars().count() > REASON_MAX_CHARS {
            reason = reason.chars().take(REASON_MAX_CHARS).collect::<String>() + "…";
        }
        incomplete.push(IncompleteEndpoint {
            endpoint: work.name.clone(),
            stage: "dns".into(),
            reason,
        });
    }
    let informative = facts.cname.present || !facts.complete;
    let target = TargetFacts {
        host: work.name.clone(),
        ip: None,
        port: None,
        tags: work.meta.tags.clone(),
        owner: work.meta.owner.clone(),
    };
    let subject = SubjectFacts::Dns(Box::new(DnsSubject::new(target, facts)));
    let findings = crate::rule::evaluate(rules, &subject, &location);
    // Names nobody declared (AXFR, --subdomains) keep their facts only when they say
    // something: thousands of "not an alias" subjects would bury the report.
    let keep = work.source == NameSource::Declared || informative || !findings.is_empty();
    Done {
        assessed: Assessed {
            subjects: if keep { vec![subject] } else { Vec::new() },
            findings,
            incomplete,
        },
        learnt,
    }
}

/// The `<zone>` of the synthetic location `targets/dns/<zone>/<name>`: the zone transferred
/// for AXFR names, the zone the probe learnt, else the organisational domain, so the path
/// does not depend on an answer that may time out.
fn location_zone(work: &NameWork, facts: &DnsFacts) -> String {
    match &work.source {
        NameSource::Axfr { zone } => zone.clone(),
        _ if work.kind == CheckKind::Zone => work.name.clone(),
        _ if !facts.zone.is_empty() => facts.zone.clone(),
        _ => dns::dmarc::organizational_domain(&work.name),
    }
}

/// Names an allowed transfer of this zone revealed, for name checks. They inherit the
/// owner of the zone but not its tags: tags describe the declared entry ("mail"), and a
/// host name inside the zone is not that.
fn learnt_names(work: &NameWork, facts: &DnsFacts) -> Vec<NameWork> {
    if !facts.axfr.open {
        return Vec::new();
    }
    let zone = if facts.zone.is_empty() {
        work.name.clone()
    } else {
        facts.zone.clone()
    };
    let suffix = format!(".{zone}");
    let meta = Arc::new(TargetMeta {
        tags: Vec::new(),
        owner: work.meta.owner.clone(),
    });
    facts
        .axfr
        .names
        .iter()
        .filter_map(|n| normalize_name(n))
        .filter(|n| n.ends_with(&suffix) && !n.starts_with('*'))
        .map(|name| NameWork {
            name,
            kind: CheckKind::Name,
            source: NameSource::Axfr { zone: zone.clone() },
            meta: meta.clone(),
            anchor: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::Limits;
    use crate::engine::plan::Checks;
    use crate::target::parse::parse_target;

    #[test]
    fn resolv_conf_first_usable_nameserver() {
        let text = "# generated\nsearch corp.example\n; nameserver 10.9.9.9\noptions ndots:2\nnameserver fe80::1%eth0\nnameserver   192.0.2.53  # primary\nnameserver 192.0.2.54\n";
        assert_eq!(parse_resolv_conf(text), Some("192.0.2.53".parse().unwrap()));
        assert_eq!(
            parse_resolv_conf("nameserver 2001:db8::53\n"),
            Some("2001:db8::53".parse().unwrap())
        );
        assert_eq!(parse_resolv_conf(""), None);
        assert_eq!(parse_resolv_conf("nameserver\nnameserver bogus\n"), None);
        assert_eq!(parse_resolv_conf("nameservers 192.0.2.1\n"), None);
    }

    #[test]
    fn subdomain_lines_are_validated_all_at_once() {
        let ok = parse_subdomain_lines(
            "subs.txt",
            &[
                (1, "WWW.Example.com.".into()),
                (3, "api.example.com".into()),
            ],
        )
        .unwrap();
        assert_eq!(ok, ["www.example.com", "api.example.com"]);
        let err = parse_subdomain_lines(
            "subs.txt",
            &[
                (1, "ok.example.com".into()),
                (2, "not a name".into()),
                (4, "localhost".into()),
            ],
        )
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].starts_with("subs.txt:2: "), "{err:?}");
        assert!(err[1].starts_with("subs.txt:4: "), "{err:?}");
        let many: Vec<(u32, String)> = (0..=MAX_SUBDOMAINS as u32)
            .map(|i| (i + 1, format!("h{i}.example.com")))
            .collect();
        assert!(parse_subdomain_lines("big", &many).is_err());
    }

    fn plan_with(targets: &[&str], domains: &[(&str, Origin)], subs: &[&str]) -> ScanPlan {
        let rules = RuleSet::load(
            &crate::rule::RuleSources {
                builtin: true,
                paths: vec![],
                replace_identical: false,
            },
            &Default::default(),
        )
        .unwrap();
        ScanPlan {
            targets: targets
                .iter()
                .map(|t| parse_target(t, Origin::Cli, Arc::new(TargetMeta::default())).unwrap())
                .collect(),
            domains: domains
                .iter()
                .map(|(n, o)| DomainSpec {
                    name: n.to_string(),
                    origin: o.clone(),
                    meta: Arc::new(TargetMeta {
                        tags: vec!["mail".into()],
                        owner: Some("mail-team".into()),
                    }),
                })
                .collect(),
            excludes: Default::default(),
            ports: Arc::from([]),
            ports_text: String::new(),
            ports_explicit: false,
            tls_ports: Arc::from([]),
            checks: Checks::default(),
            limits: Limits::default(),
            resolver: None,
            ns_port: 53,
            mta_sts_port: 443,
            ca_file: None,
            tls: Arc::new(
                crate::engine::endpoint::TlsScanContext::load(
                    None,
                    time::OffsetDateTime::now_utc(),
                )
                .unwrap(),
            ),
            rules: Arc::new(rules),
            suppressions: vec![],
            automation_id: String::new(),
            config_file: None,
            config_uri: None,
            subdomains: subs.iter().map(|s| s.to_string()).collect(),
            shard: None,
        }
    }

    #[test]
    fn which_names_get_which_checks() {
        let cfg = Origin::Config {
            path: "posture.toml".into(),
            line: 7,
        };
        let plan = plan_with(
            &[
                "Example.com",
                "https://shop.example.com:8443/",
                "192.0.2.1",
                "10.0.0.0/30",
                "shop.example.com:443",
            ],
            &[("example.com", cfg)],
            &["old.example.com", "shop.example.com"],
        );
        let works = plan_names(&plan);
        let names: Vec<(&str, CheckKind)> =
            works.iter().map(|w| (w.name.as_str(), w.kind)).collect();
        assert_eq!(
            names,
            [
                ("example.com", CheckKind::Zone),
                ("shop.example.com", CheckKind::Auto),
                ("old.example.com", CheckKind::Name),
            ]
        );
        assert_eq!(
            works[0].anchor,
            Some(Location {
                uri: "posture.toml".into(),
                line: Some(7)
            })
        );
        assert_eq!(works[0].meta.tags, ["mail"]);
        assert_eq!(works[1].anchor, None);
        assert_eq!(works[2].source, NameSource::Listed);
    }

    fn work(name: &str, kind: CheckKind, source: NameSource) -> NameWork {
        NameWork {
            name: name.into(),
            kind,
            source,
            meta: Arc::new(TargetMeta {
                tags: vec!["mail".into()],
                owner: Some("dns-team".into()),
            }),
            anchor: None,
        }
    }

    #[test]
    fn axfr_names_inherit_the_owner_not_the_tags() {
        let mut f = DnsFacts {
            name: "example.com".into(),
            zone: "example.com".into(),
            ..DnsFacts::default()
        };
        f.axfr.open = true;
        f.axfr.names = vec![
            "www.example.com".into(),
            "*.example.com".into(),
            "example.com".into(),
            "elsewhere.example.net".into(),
            "Old.Example.com.".into(),
        ];
        let w = work("example.com", CheckKind::Zone, NameSource::Declared);
        let learnt = learnt_names(&w, &f);
        let names: Vec<&str> = learnt.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["www.example.com", "old.example.com"]);
        assert!(learnt.iter().all(|w| w.kind == CheckKind::Name
            && w.meta.tags.is_empty()
            && w.meta.owner.as_deref() == Some("dns-team")
            && w.source
                == NameSource::Axfr {
                    zone: "example.com".into()
                }));
        f.axfr.open = false;
        assert!(
            learnt_names(&w, &f).is_empty(),
            "refused transfers reveal nothing"
        );
    }

    #[test]
    fn synthetic_locations_do_not_depend_on_flaky_answers() {
        let f = DnsFacts::default();
        let zone = |w: &NameWork, f: &DnsFacts| location_zone(w, f);
        assert_eq!(
            zone(
                &work("a.b.example.com", CheckKind::Name, NameSource::Listed),
                &f
            ),
            "example.com"
        );
        assert_eq!(
            zone(
                &work(
                    "a.dept.example.com",
                    CheckKind::Name,
                    NameSource::Axfr {
                        zone: "dept.example.com".into()
                    }
                ),
                &f
            ),
            "dept.example.com"
        );
        assert_eq!(
            zone(
                &work("dept.example.com", CheckKind::Zone, NameSource::Declared),
                &f
            ),
            "dept.example.com"
        );
        let learnt = DnsFacts {
            zone: "dept.example.com".into(),
            ..DnsFacts::default()
        };
        assert_eq!(
            zone(
                &work(
                    "www.dept.example.com",
                    CheckKind::Auto,
                    NameSource::Declared
                ),
                &learnt
            ),
            "dept.example.com"
        );
    }

    #[test]
    fn incomplete_names_are_listed_and_undeclared_quiet_names_dropped() {
        let rules = plan_with(&[], &[], &[]).rules;
        let quiet = DnsFacts {
            name: "www.example.com".into(),
            complete: true,
            ..DnsFacts::default()
        };
        let d = judge(
            work("www.example.com", CheckKind::Name, NameSource::Listed),
            quiet.clone(),
            &rules,
        );
        assert!(d.assessed.subjects.is_empty() && d.assessed.incomplete.is_empty());
        let d = judge(
            work("www.example.com", CheckKind::Auto, NameSource::Declared),
            quiet,
            &rules,
        );
        assert_eq!(d.assessed.subjects.len(), 1);
        let broken = DnsFacts {
            name: "x.example.com".into(),
            complete: false,
            errors: vec!["CNAME x.example.com: timeout".into(); 200],
            ..DnsFacts::default()
        };
        let d = judge(
            work("x.example.com", CheckKind::Name, NameSource::Listed),
            broken,
            &rules,
        );
        let inc = &d.assessed.incomplete[0];
        assert_eq!(
            (inc.endpoint.as_str(), inc.stage.as_str()),
            ("x.example.com", "dns")
        );
        assert!(inc.reason.chars().count() <= REASON_MAX_CHARS + 1);
        assert!(
            d.assessed.findings.is_empty(),
            "nothing checked, nothing judged"
        );
        assert_eq!(d.assessed.subjects.len(), 1);
    }

    #[tokio::test]
    async fn dns_off_or_no_names_does_nothing() {
        let mut plan = plan_with(&["192.0.2.1"], &[], &[]);
        let cancel = AtomicBool::new(false);
        let r = assess_domains(&plan, &cancel).await;
        assert!(r.subjects.is_empty() && r.incomplete.is_empty());
        plan.subdomains = vec!["www.example.com".into()];
        plan.checks.dns = false;
        let r = assess_domains(&plan, &cancel).await;
        assert!(r.subjects.is_empty() && r.incomplete.is_empty());
    }

    #[tokio::test]
    async fn cancel_stops_the_phase() {
        // A resolver that never answers: without the cancel every name would run to its
        // 30 s deadline.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut plan = plan_with(&[], &[], &[]);
        plan.subdomains = (0..40).map(|i| format!("h{i}.example.com")).collect();
        plan.resolver = Some(silent.local_addr().unwrap());
        plan.limits.endpoint_timeout_ms = 30_000;
        let cancel = Arc::new(AtomicBool::new(false));
        let setter = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            setter.store(true, Ordering::Relaxed);
        });
        let start = std::time::Instant::now();
        let r = assess_domains(&plan, &cancel).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(r.findings.is_empty() && r.subjects.is_empty());
    }
}
