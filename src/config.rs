//! posture.toml: the inventory a scheduled scan runs from (ARCHITECTURE.md §4a).
//!
//! Read once, validated at the edge: unknown keys are errors, every value keeps its position,
//! and every problem found after parsing is reported at once as `file:line:col: message`.

use crate::engine::limits::Limits;
use crate::engine::ports::PortSpec;
use crate::finding::{Finding, Severity};
use crate::target::parse::{parse_name, parse_target};
use crate::target::{Origin, TargetMeta, TargetSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// Largest posture.toml read: an inventory of tens of thousands of targets fits easily.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    scan: RawScan,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    domain: Vec<Spanned<RawDomain>>,
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    suppress: Vec<Spanned<RawSuppress>>,
    #[serde(default)]
    limits: Option<Spanned<Limits>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    ports: Option<Spanned<String>>,
    checks: Option<Vec<Spanned<String>>>,
    concurrency: Option<Spanned<usize>>,
    host_concurrency: Option<usize>,
    rate: Option<u64>,
    timeout_ms: Option<Spanned<u64>>,
    endpoint_timeout_ms: Option<Spanned<u64>>,
    max_hosts: Option<Spanned<u64>>,
    resolver: Option<Spanned<String>>,
    ns_port: Option<u16>,
    fail_on: Option<Spanned<String>>,
    allow_incomplete: Option<bool>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    sarif_category: Option<String>,
    #[serde(default)]
    tls_ports: Option<Spanned<String>>,
    ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    host: Spanned<String>,
    ports: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    name: Spanned<String>,
    #[serde(default)]
    tags: Vec<String>,
    owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    severity: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Table>>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuppress {
    rule: Spanned<String>,
    target: Spanned<String>,
    reason: Spanned<String>,
    expires: Option<Spanned<toml::value::Datetime>>,
}

/// A value from posture.toml with the place it was written (`file:line:col`).
#[derive(Debug, Clone, PartialEq)]
pub struct Placed<T> {
    pub value: T,
    pub at: String,
}

/// A zone to run the DNS checks on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    pub name: String,
    pub origin: Origin,
    pub meta: Arc<TargetMeta>,
}

/// Scan settings from `[scan]`; `None` where the file is silent (CLI flags and defaults fill).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanSettings {
    pub ports: Option<PortSpec>,
    pub checks: Option<Vec<String>>,
    pub concurrency: Option<usize>,
    pub host_concurrency: Option<usize>,
    pub rate: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub endpoint_timeout_ms: Option<u64>,
    pub max_hosts: Option<u64>,
    pub resolver: Option<std::net::SocketAddr>,
    pub ns_port: Option<u16>,
    pub fail_on: Option<String>,
    pub allow_incomplete: Option<bool>,
    pub exclude: Vec<String>,
    pub sarif_category: Option<String>,
    pub tls_ports: Option<PortSpec>,
    pub ca_file: Option<PathBuf>,
}

/// `[rules]`: extra packs and overrides, each with where it was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulesSection {
    /// Resolved relative to the directory of posture.toml.
    pub paths: Vec<PathBuf>,
    pub disable: Vec<Placed<String>>,
    pub severity: Vec<Placed<(String, Severity)>>,
    pub params: Vec<Placed<(String, serde_json::Value)>>,
    pub tags: Vec<String>,
}

/// What a suppression matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuppressTarget {
    /// Exact host (name or address), any port.
    Host(String),
    /// Exact host and port.
    HostPort(String, u16),
    /// Any address inside a network.
    Net(ipnet::IpNet),
    /// `*.example.com`: any name below (not the apex).
    Glob(String),
}

/// An accepted risk: findings of `rule` on `target` are reported as suppressed, never gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    pub rule: String,
    pub target: SuppressTarget,
    pub target_text: String,
    pub reason: String,
    /// `YYYY-MM-DD`; from that day on the suppression no longer applies.
    pub expires: Option<time::Date>,
    pub at: String,
}

impl Suppression {
    /// True when this suppression covers `f` (ignoring expiry).
    pub fn covers(&self, f: &Finding) -> bool {
        if self.rule != "*" && self.rule != f.rule_id {
            return false;
        }
        match &self.target {
            SuppressTarget::Host(h) => {
                f.host.eq_ignore_ascii_case(h) || f.ip.as_deref() == Some(h.as_str())
            }
            SuppressTarget::HostPort(h, p) => {
                f.port == Some(*p)
                    && (f.host.eq_ignore_ascii_case(h) || f.ip.as_deref() == Some(h.as_str()))
            }
            SuppressTarget::Net(net) => [Some(f.host.as_str()), f.ip.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|s| s.parse::<IpAddr>().ok())
                .any(|ip| net.contains(&ip)),
            SuppressTarget::Glob(suffix) => {
                let h = f.host.to_ascii_lowercase();
                h.len() > suffix.len() + 1
                    && h.ends_with(suffix.as_str())
                    && h.as_bytes()[h.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// True when the suppression has expired on `today`.
    pub fn expired(&self, today: time::Date) -> bool {
        self.expires.is_some_and(|d| today >= d)
    }
}

/// A validated posture.toml.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: PathBuf,
    pub scan: ScanSettings,
    pub targets: Vec<TargetSpec>,
    pub domains: Vec<DomainSpec>,
    pub rules: RulesSection,
    pub suppressions: Vec<Suppression>,
    pub limits: Option<Limits>,
}

/// Every problem found in a posture.toml, each with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based (line, column) of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[col_start..])
        .chars()
        .count()
        + 1;
    (line as u32, col as u32)
}

/// At most this many structural problems (unknown keys, wrong types, missing keys) are
/// collected from one file.
const MAX_STRUCTURE_ERRORS: usize = 32;

/// Deserialises posture.toml, reporting every structural problem at once. serde stops at the
/// first one, so each problem found is blanked out of a copy of the text (spaces, newlines
/// kept: every later position stays true) and the copy is read again. A TOML syntax error is
/// reported alone: what follows it cannot be read reliably.
fn parse_structure(
    src: &str,
    shown: &str,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
) -> Result<RawConfig, ConfigErrors> {
    let describe = |e: &toml::de::Error| {
        let pos = e.span().map(at).unwrap_or_else(|| shown.to_string());
        format!("{pos}: {}", e.message().trim())
    };
    if let Err(e) = toml::de::DeTable::parse(src) {
        return Err(ConfigErrors(vec![describe(&e)]));
    }
    let mut text = src.to_string();
    // (offset, message): reported in file order, not in the order serde met them.
    let mut found: Vec<(usize, String)> = Vec::new();
    // Keys whose line was blanked: a "missing field" for one of them is our doing.
    let mut blanked_keys: Vec<String> = Vec::new();
    for _ in 0..MAX_STRUCTURE_ERRORS * 2 {
        if found.len() >= MAX_STRUCTURE_ERRORS {
            break;
        }
        let e = match toml::from_str::<RawConfig>(&text) {
            Ok(raw) if found.is_empty() => return Ok(raw),
            Ok(_) => break,
            Err(e) => e,
        };
        let message = describe(&e);
        let repeated = found.iter().any(|(_, m)| *m == message);
        let Some(span) = e.span().filter(|_| !repeated) else {
            if !repeated {
                found.push((usize::MAX, message));
            }
            break;
        };
        let missing = e
            .message()
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_string);
        let start = text[..span.start.min(text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let end = span.end.min(text.len());
        let mut end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        match &missing {
            // A whole table: blank it up to the next header, or its body would be read as
            // part of the table before it.
            Some(field) => {
                end = text[end..].find("\n[").map_or(text.len(), |i| end + i);
                if !blanked_keys.contains(field) {
                    found.push((span.start, message));
                }
            }
            None => {
                found.push((span.start, message));
                if let Some((key, _)) = text[start..end].split_once('=') {
                    blanked_keys.push(key.trim().trim_matches('"').to_string());
                }
            }
        }
        // Byte for byte, so every later offset stays where it was.
        let blanked: String = text[start..end]
            .chars()
            .map(|c| match c {
                '\n' => "\n".to_string(),
                c => " ".repeat(c.len_utf8()),
            })
            .collect();
        text.replace_range(start..end, &blanked);
        if toml::de::DeTable::parse(&text).is_err() {
            // Blanking broke the syntax (a value spread over lines): stop here.
            break;
        }
    }
    found.sort_by_key(|(offset, _)| *offset);
    Err(ConfigErrors(found.into_iter().map(|(_, m)| m).collect()))
}

/// Where `key` is set in the table that starts at `table` (its first `key =` at the start of
/// a line before the next `[header]`), else the table itself: serde gives spans for tables,
/// not for their plain fields.
fn key_span(src: &str, table: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
    let body = src.get(table.start..).unwrap_or("");
    let mut offset = 0;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if i > 0 && trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                let start = table.start + offset + (line.len() - trimmed.len());
                return start..start + key.len();
            }
        }
        offset += line.len();
    }
    table
}

/// The 1-based line of the `[[header]]` that opens the table whose body starts at `offset`.
fn header_line(src: &str, offset: usize, header: &str) -> u32 {
    let offset = offset.min(src.len());
    // toml's span of an array-of-tables element may start at its own header: include it.
    let end = (offset + header.len()).min(src.len());
    let upto = src.get(..end).unwrap_or(&src[..offset]);
    match upto.rfind(header) {
        Some(p) => line_col(src, p).0,
        None => line_col(src, offset).0,
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|e| ConfigErrors(vec![format!("{shown}: cannot read: {e}")]))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigErrors(vec![format!(
                "{shown}: larger than {MAX_CONFIG_BYTES} bytes"
            )]));
        }
        let src = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("{shown}: cannot read: {e}")]))?;
        Config::parse(&src, path)
    }

    /// Validates the text of a posture.toml (`path` is used for messages and relative paths).
    pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let shown = path.display().to_string();
        let at = |span: std::ops::Range<usize>| {
            let (l, c) = line_col(src, span.start);
            format!("{shown}:{l}:{c}")
        };
        let raw = parse_structure(src, &shown, &at)?;
        let mut errors = Vec::new();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

        let parse_ports = |s: &Option<Spanned<String>>, errors: &mut Vec<String>| {
            s.as_ref().and_then(|p| match PortSpec::parse(p.get_ref()) {
                Ok(spec) => Some(spec),
                Err(e) => {
                    errors.push(format!("{}: {e}", at(p.span())));
                    None
                }
            })
        };

        let s = &raw.scan;
        let mut scan = ScanSettings {
            ports: parse_ports(&s.ports, &mut errors),
            tls_ports: parse_ports(&s.tls_ports, &mut errors),
            checks: s
                .checks
                .as_ref()
                .map(|c| c.iter().map(|x| x.get_ref().clone()).collect()),
            concurrency: s.concurrency.as_ref().map(|v| *v.get_ref()),
            host_concurrency: s.host_concurrency,
            rate: s.rate,
            timeout_ms: s.timeout_ms.as_ref().map(|v| *v.get_ref()),
            endpoint_timeout_ms: s.endpoint_timeout_ms.as_ref().map(|v| *v.get_ref()),
            max_hosts: s.max_hosts.as_ref().map(|v| *v.get_ref()),
            ns_port: s.ns_port,
            allow_incomplete: s.allow_incomplete,
            sarif_category: s.sarif_category.clone(),
            ca_file: s.ca_file.as_ref().map(|p| base.join(p)),
            ..ScanSettings::default()
        };
        // Zero would mean "no time" or "nothing at once": a scan that cannot run.
        for (key, value) in [
            (
                "concurrency",
                s.concurrency
                    .as_ref()
                    .map(|v| (*v.get_ref() as u64, v.span())),
            ),
            (
                "timeout_ms",
                s.timeout_ms.as_ref().map(|v| (*v.get_ref(), v.span())),
            ),
            (
                "endpoint_timeout_ms",
                s.endpoint_timeout_ms
                    .as_ref()
                    .map(|v| (*v.get_ref(), v.span())),
            ),
            (
                "max_hosts",
                s.max_hosts.as_ref().map(|v| (*v.get_ref(), v.span())),
            ),
        ] {
            if let Some((0, span)) = value {
                errors.push(format!("{}: [scan] {key} must be greater than 0", at(span)));
            }
        }
        if let Some(limits) = &raw.limits {
            let l = limits.get_ref();
            for (key, value) in [
                ("timeout_ms", l.timeout_ms),
                ("probe_deadline_ms", l.probe_deadline_ms),
                ("endpoint_timeout_ms", l.endpoint_timeout_ms),
                ("concurrency", l.concurrency as u64),
                ("max_hosts", l.max_hosts),
            ] {
                if value == 0 {
                    let span = key_span(src, limits.span(), key);
                    errors.push(format!(
                        "{}: [limits] {key} must be greater than 0",
                        at(span)
                    ));
                }
            }
        }
        if let Some(checks) = &s.checks {
            for c in checks {
                if !crate::cli::CHECK_FAMILIES.contains(&c.get_ref().as_str()) {
                    errors.push(format!(
                        "{}: unknown check family `{}` (expected one of: {})",
                        at(c.span()),
                        c.get_ref(),
                        crate::cli::CHECK_FAMILIES.join(", ")
                    ));
                }
            }
        }
        if let Some(r) = &s.resolver {
            match r.get_ref().parse() {
                Ok(a) => scan.resolver = Some(a),
                Err(_) => errors.push(format!(
                    "{}: resolver must be IP:PORT (e.g. 127.0.0.1:53 or [::1]:53)",
                    at(r.span())
                )),
            }
        }
        if let Some(f) = &s.fail_on {
            match f.get_ref().parse::<crate::report::FailOn>() {
                Ok(_) => scan.fail_on = Some(f.get_ref().clone()),
                Err(e) => errors.push(format!("{}: {e}", at(f.span()))),
            }
        }
        for e in &s.exclude {
            let mut probe = crate::target::expand::Excludes::default();
            match probe.add(e.get_ref()) {
                Ok(()) => scan.exclude.push(e.get_ref().clone()),
                Err(err) => errors.push(format!("{}: {err}", at(e.span()))),
            }
        }

        let mut targets = Vec::new();
        for t in &raw.target {
            let line = header_line(src, t.span().start, "[[target]]");
            let t = t.get_ref();
            let meta = Arc::new(TargetMeta {
                tags: t.tags.clone(),
                owner: t.owner.clone(),
            });
            let origin = Origin::Config {
                path: shown.clone(),
                line,
            };
            match parse_target(t.host.get_ref(), origin, meta) {
                Ok(mut spec) => {
                    spec.ports = parse_ports(&t.ports, &mut errors).map(|p| p.ports());
                    targets.push(spec);
                }
                Err(e) => errors.push(format!("{}: {e}", at(t.host.span()))),
            }
        }

        let mut domains = Vec::new();
        for d in &raw.domain {
            let line = header_line(src, d.span().start, "[[domain]]");
            let d = d.get_ref();
            match parse_name(d.name.get_ref(), d.name.get_ref()) {
                Ok(name) => domains.push(DomainSpec {
                    name,
                    origin: Origin::Config {
                        path: shown.clone(),
                        line,
                    },
                    meta: Arc::new(TargetMeta {
                        tags: d.tags.clone(),
                        owner: d.owner.clone(),
                    }),
                }),
                Err(e) => errors.push(format!("{}: {e}", at(d.name.span()))),
            }
        }

        let mut rules = RulesSection {
            paths: raw
                .rules
                .paths
                .iter()
                .map(|p| base.join(p.get_ref()))
                .collect(),
            tags: raw.rules.tags.clone(),
            ..RulesSection::default()
        };
        for (p, path) in raw.rules.paths.iter().zip(&rules.paths) {
            if !path.exists() {
                errors.push(format!(
                    "{}: rule path `{}` does not exist",
                    at(p.span()),
                    path.display()
                ));
            }
        }
        for d in &raw.rules.disable {
            rules.disable.push(Placed {
                value: d.get_ref().clone(),
                at: at(d.span()),
            });
        }
        for (id, sev) in &raw.rules.severity {
            match sev.get_ref().parse::<Severity>() {
                Ok(s) => rules.severity.push(Placed {
                    value: (id.clone(), s),
                    at: at(sev.span()),
                }),
                Err(e) => errors.push(format!("{}: {e}", at(sev.span()))),
            }
        }
        for (id, table) in &raw.rules.params {
            match serde_json::to_value(table.get_ref()) {
                Ok(v) => rules.params.push(Placed {
                    value: (id.clone(), v),
                    at: at(table.span()),
                }),
                Err(e) => errors.push(format!("{}: {e}", at(table.span()))),
            }
        }

        let mut suppressions = Vec::new();
        for sp in &raw.suppress {
            let here = at(sp.span());
            let s = sp.get_ref();
            if s.reason.get_ref().trim().is_empty() {
                errors.push(format!(
                    "{}: a suppression needs a reason (the audit trail of an accepted risk)",
                    at(s.reason.span())
                ));
            }
            let target = match parse_suppress_target(s.target.get_ref()) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("{}: {e}", at(s.target.span())));
                    continue;
                }
            };
            let expires = match &s.expires {
                None => None,
                Some(d) => match (d.get_ref().date, d.get_ref().time) {
                    (Some(date), None) => time::Month::try_from(date.month)
                        .ok()
                        .and_then(|m| {
                            time::Date::from_calendar_date(i32::from(date.year), m, date.day).ok()
                        })
                        .or_else(|| {
                            errors.push(format!("{}: not a valid date", at(d.span())));
                            None
                        }),
                    _ => {
                        errors.push(format!(
                            "{}: expires must be a plain date such as 2027-03-01",
                            at(d.span())
                        ));
                        None
                    }
                },
            };
            suppressions.push(Suppression {
                rule: s.rule.get_ref().clone(),
                target,
                target_text: s.target.get_ref().clone(),
                reason: s.reason.get_ref().clone(),
                expires,
                at: here,
            });
        }

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            path: path.to_path_buf(),
            scan,
            targets,
            domains,
            rules,
            suppressions,
            limits: raw.limits.map(Spanned::into_inner),
        })
    }
}

/// Marks every finding covered by an unexpired suppression (first match wins).
pub fn apply_suppressions(
    outcome: &mut crate::outcome::ScanOutcome,
    suppressions: &[Suppression],
    today: time::Date,
) {
    for f in &mut outcome.findings {
        if let Some(s) = suppressions
            .iter()
            .find(|s| !s.expired(today) && s.covers(f))
        {
            f.suppressed = Some(crate::finding::SuppressionInfo {
                reason: s.reason.clone(),
                expires: s.expires.map(|d| d.to_string()),
                declared_at: s.at.clone(),
            });
        }
    }
}

/// Parses a suppression target: exact host, `host:port`, CIDR or `*.suffix`.
pub fn parse_suppress_target(s: &str) -> Result<SuppressTarget, String> {
    let s = s.trim();
    if let Some(suffix) = s.strip_prefix("*.") {
        let name = parse_name(s, suffix).map_err(|e| e.to_string())?;
        return Ok(SuppressTarget::Glob(name));
    }
    let spec = parse_target(s, Origin::Cli, Arc::default()).map_err(|e| e.to_string())?;
    if spec.scheme.is_some() {
        return Err(format!(
            "a suppression target is a host, host:port, CIDR or *.domain, not a URL (`{s}`)"
        ));
    }
    Ok(match (spec.host, spec.port) {
        (crate::target::Host::Cidr(net), _) => SuppressTarget::Net(net),
        (h, Some(p)) => SuppressTarget::HostPort(h.to_string(), p),
        (h, None) => SuppressTarget::Host(h.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigErrors> {
        Config::parse(src, Path::new("posture.toml"))
    }

    #[test]
    fn every_structural_problem_is_reported_at_once_in_file_order() {
        let e = parse(
            "[scan]\nportz = \"22\"  # é\ntimeout_ms = \"fast\"\n\n[[target]]\nhost = \"h\"\nowner = 5\n\n[[target]]\nports = \"22\"\n\n[[domain]]\nname = \"example.com\"\ncolour = \"blue\"\n",
        )
        .unwrap_err();
        let at: Vec<&str> = e.0.iter().map(|m| m.split(": ").next().unwrap()).collect();
        assert_eq!(
            at,
            [
                "posture.toml:2:1",
                "posture.toml:3:14",
                "posture.toml:7:9",
                "posture.toml:9:1",
                "posture.toml:14:1"
            ],
            "{:#?}",
            e.0
        );
        assert!(e.0[0].contains("unknown field `portz`"), "{}", e.0[0]);
        assert!(e.0[3].contains("missing field `host`"), "{}", e.0[3]);
        // Blanking a wrong-typed required key does not invent a "missing field"; a table that
        // lacks a key is blanked whole, so its body is not read as part of the table above.
        let e = parse("[[target]]\nhost = 5\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{:?}", e.0);
        assert!(
            e.0[0].starts_with("posture.toml:2:8: invalid type"),
            "{:?}",
            e.0
        );
        let e = parse("[scan]\nports = \"22\"\n\n[[target]]\ntags = [\"a\"]\n").unwrap_err();
        assert_eq!(e.0, ["posture.toml:4:1: missing field `host`"]);
        // A syntax error is reported alone.
        let e = parse("[scan]\nports = \"22\n[[target]]\nowner = 5\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{:?}", e.0);
        assert!(e.0[0].starts_with("posture.toml:2:"), "{:?}", e.0);
    }

    #[test]
    fn zero_limits_are_errors_at_their_key() {
        let e = parse(
            "[scan]\ntimeout_ms = 0\nconcurrency = 4\n\n[limits]\nbanner_bytes = 10\n  endpoint_timeout_ms = 0\n\n[[target]]\nhost = \"h\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            [
                "posture.toml:2:14: [scan] timeout_ms must be greater than 0",
                "posture.toml:7:3: [limits] endpoint_timeout_ms must be greater than 0",
            ]
        );
        assert!(parse("[limits]\nconcurrency = 8\n").is_ok());
    }

    #[test]
    fn every_table_anchors_at_its_own_header() {
        let src = "[[domain]]\nname = \"a.test\"\n\n[[domain]]\nname = \"b.test\"\n\n[[target]]\nhost = \"a.example\"\n[[target]]\nhost = \"b.example\"\n";
        let c = Config::parse(src, Path::new("posture.toml")).unwrap();
        let line = |o: &Origin| match o {
            Origin::Config { line, .. } => *line,
            _ => 0,
        };
        let domains: Vec<u32> = c.domains.iter().map(|d| line(&d.origin)).collect();
        let targets: Vec<u32> = c.targets.iter().map(|t| line(&t.origin)).collect();
        assert_eq!(domains, [1, 4]);
        assert_eq!(targets, [7, 9]);
    }

    #[test]
    fn full_inventory_parses() {
        let c = parse(
            r#"
[scan]
ports = "top100"
concurrency = 128
exclude = ["10.0.0.1"]

[[target]]
host = "shop.example.com"
ports = "80,443"
tags = ["dmz", "pci"]
owner = "web-team"

[[target]]
host = "10.0.5.0/24"

[[domain]]
name = "example.com"
tags = ["mail"]

[rules]
disable = ["tls.protocol.no-tls13"]
severity = { "http.headers.missing" = "info" }
params = { "tls.cert.expiring" = { window_days = 21 } }

[[suppress]]
rule = "port.risky-service"
target = "10.0.5.0/24"
reason = "jump hosts, accepted risk CR-1234"
expires = 2027-03-01

[limits]
banner_bytes = 2048
"#,
        )
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            c.targets[0].origin,
            Origin::Config {
                path: "posture.toml".into(),
                line: 7
            }
        );
        assert_eq!(c.targets[0].ports.as_deref(), Some(&[80u16, 443][..]));
        assert_eq!(c.targets[0].meta.owner.as_deref(), Some("web-team"));
        assert_eq!(c.domains[0].name, "example.com");
        assert_eq!(c.rules.severity[0].value.1, Severity::Info);
        assert_eq!(c.rules.params[0].value.1["window_days"], 21);
        assert_eq!(
            c.suppressions[0].target,
            SuppressTarget::Net("10.0.5.0/24".parse().unwrap())
        );
        assert_eq!(c.limits.as_ref().unwrap().banner_bytes, 2048);
        assert_eq!(
            c.limits.as_ref().unwrap().timeout_ms,
            1500,
            "other limits keep defaults"
        );
    }

    #[test]
    fn unknown_keys_name_file_line_and_column() {
        let e = parse("[scan]\nportz = \"80\"\n").unwrap_err().to_string();
        assert!(e.contains("posture.toml:2:1"), "{e}");
        assert!(e.contains("portz"), "{e}");
        let e = parse("[[target]]\nhost = \"a.example\"\ntag = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("posture.toml:3:1"), "{e}");
    }

    #[test]
    fn all_semantic_problems_are_reported_at_once() {
        let e = parse(
            "[scan]\nports = \"80-\"\nfail_on = \"severe\"\n[[target]]\nhost = \"bad host\"\n[rules]\nseverity = { x = \"huge\" }\n[[suppress]]\nrule = \"x\"\ntarget = \"*.example.com\"\nreason = \"\"\n",
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 5, "{e}");
        assert!(e.0[0].starts_with("posture.toml:2:9"), "{e}");
        assert!(
            e.0.iter()
                .any(|m| m.starts_with("posture.toml:5:8") && m.contains("bad host")),
            "{e}"
        );
    }

    #[test]
    fn suppressions_match_host_port_net_and_glob() {
        let f = |host: &str, ip: Option<&str>, port: Option<u16>| Finding {
            rule_id: "r".into(),
            title: String::new(),
            severity: Severity::High,
            subject: crate::finding::Subject::Port,
            endpoint: String::new(),
            host: host.into(),
            ip: ip.map(Into::into),
            port,
            item_key: None,
            message: String::new(),
            remediation: String::new(),
            help_uri: None,
            tags: vec![],
            target_tags: vec![],
            owner: None,
            evidence: Default::default(),
            location: crate::finding::Location::synthetic(crate::finding::Subject::Port, host, "1"),
            fingerprint: String::new(),
            suppressed: None,
        };
        let sup = |t: &str| Suppression {
            rule: "r".into(),
            target: parse_suppress_target(t).unwrap(),
            target_text: t.into(),
            reason: "x".into(),
            expires: None,
            at: String::new(),
        };
        assert!(sup("a.example.com").covers(&f("A.example.com", Some("192.0.2.1"), Some(22))));
        assert!(sup("a.example.com:22").covers(&f("a.example.com", None, Some(22))));
        assert!(!sup("a.example.com:23").covers(&f("a.example.com", None, Some(22))));
        assert!(sup("192.0.2.0/24").covers(&f("a.example.com", Some("192.0.2.1"), Some(22))));
        assert!(sup("*.example.com").covers(&f("a.b.example.com", None, None)));
        assert!(!sup("*.example.com").covers(&f("example.com", None, None)));
        assert!(!sup("*.example.com").covers(&f("badexample.com", None, None)));
        let mut s = sup("a.example.com");
        s.expires = Some(time::macros::date!(2027 - 03 - 01));
        assert!(!s.expired(time::macros::date!(2027 - 02 - 28)));
        assert!(s.expired(time::macros::date!(2027 - 03 - 01)));
    }
}
