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
pub use eval::evaluate;
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
    ("http.toml", include_str!("../../rules/http.toml")),
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

    pub fn at(value: T, origin: impl Into<String>) -> At<T> {
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
}

impl Default for RuleSources {
    fn default() -> Self {
        RuleSources {
            builtin: true,
            paths: Vec::new(),
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
    /// Fact paths the condition reads (its evidence), sorted.
    pub reads: Vec<String>,
    pub(crate) compiled: eval::Compiled,
}

impl Rule {
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

    pub(crate) fn env(&self) -> &Arc<cel::Env> {
        &self.env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_explain() {
        let rs = match RuleSet::builtin() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        println!("{}", render_list(&rs));
        println!("{}", explain(&rs, "port.risky-service").unwrap());
    }
}
