//! Evaluation: one subject's facts judged by the active rules of its subject. Pure.
//!
//! Programs are compiled at load time; here we only bind variables and run them. The facts
//! are converted to CEL values once per call and shared by every rule through a child scope
//! that adds the rule's `params`. Any execution error — most often an absent fact
//! (`NoSuchKey`) — means "no match": facts we could not observe are not findings.

use super::template::{cap_evidence, render_json, render_leaf, render_value};
use super::{Rule, RuleSet};
use crate::fact::{Leaf, LeafLookup, SubjectFacts};
use crate::finding::{fingerprint, Finding, Location};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A rule's compiled programs.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub when: cel::Program,
    pub message: Vec<Piece>,
    pub remediation: Vec<Piece>,
    /// `params`, converted once at load into CEL's runtime representation and lent to every
    /// evaluation through [`ParamsResolver`]: binding it as a variable would deep-copy it per
    /// rule and endpoint (the built-in ports rule's advice table made that a third of the
    /// scan's CPU in a dense sweep).
    pub params: Box<dyn Val>,
    /// Fact paths the condition reads (its evidence), sorted.
    pub reads: Vec<String>,
}

impl Compiled {
    /// `params` in CEL's runtime form, owning its strings (it outlives the rule file's JSON).
    pub(crate) fn params_val(params: &serde_json::Value) -> Box<dyn Val> {
        to_val(params, &|s: &str| CelString::from(s.to_string()))
    }
}

/// Lends a rule's precompiled `params` to an evaluation without copying it.
struct ParamsResolver<'a>(&'a dyn Val);

impl VariableResolver for ParamsResolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        (variable == "params").then_some(CowVal::Borrowed(self.0))
    }
}

/// Evaluations of one rule that could not be decided for a reason other than an absent fact:
/// a user rule that compares a string with a number, calls a function on the wrong type, or
/// yields something other than true/false for these facts. Such a rule silently judges
/// nothing, so the scan reports it (see [`RuleSet::troubles`]).
#[derive(Debug, Default)]
pub(crate) struct Trouble {
    count: AtomicU64,
    /// The first one: endpoint and error.
    first: OnceLock<String>,
}

impl Trouble {
    fn record(&self, endpoint: &str, what: impl FnOnce() -> String) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            let _ = self.first.set(format!("{endpoint}: {}", what()));
        }
    }

    /// (evaluations that failed, the first failure).
    pub(crate) fn get(&self) -> Option<(u64, &str)> {
        match self.count.load(Ordering::Relaxed) {
            0 => None,
            n => Some((n, self.first.get().map_or("", String::as_str))),
        }
    }
}

/// A compiled template piece.
#[derive(Debug)]
pub(crate) enum Piece {
    Text(String),
    Expr(cel::Program),
}

/// Judges `facts` with every active rule of their subject, in rule order.
pub fn evaluate(rules: &RuleSet, facts: &SubjectFacts, location: &Location) -> Vec<Finding> {
    evaluate_with(rules, facts, &|| location.clone())
}

/// [`evaluate`] with the findings' location made only when a rule fires: most subjects of a
/// scan (every open port) have no finding, and formatting a location for each was a tenth of
/// a port's evaluation.
pub fn evaluate_with(
    rules: &RuleSet,
    facts: &SubjectFacts,
    location: &dyn Fn() -> Location,
) -> Vec<Finding> {
    let subject = facts.subject();
    if !rules.needs(subject) {
        return Vec::new();
    }
    let resolver = FactResolver::new(facts);
    let root = fact_context(rules.env(), &resolver);
    rules
        .rules_for(subject)
        .filter_map(|rule| judge(rule, &root, &resolver, location))
        .collect()
}

/// Lends a subject's facts to CEL by the name CEL asks for.
///
/// CEL resolves a qualified name such as `port.open` by asking for the longest name first
/// (`port.open`, then `port` with `open` left to select), as cel-go does. Answering the whole
/// path converts just that one fact, straight from the typed facts where
/// [`SubjectFacts::leaf`] knows it. Binding the variables instead meant building the
/// subject's JSON form and converting all of it into CEL maps for every open port: in a dense
/// scan that cost more than running the rules (measured: 3.6 → 1.2 µs per port subject).
/// A path that is not there answers nothing, so CEL falls back to the shorter name and reports
/// the missing field as it always does (`NoSuchKey`: no match). Whole objects (`has(port.x)`,
/// `target` as a map) and the facts of other subjects come from the JSON form, built once on
/// first need.
pub(crate) struct FactResolver<'a> {
    facts: &'a SubjectFacts,
    json: OnceLock<serde_json::Map<String, serde_json::Value>>,
}

impl<'a> FactResolver<'a> {
    pub(crate) fn new(facts: &'a SubjectFacts) -> FactResolver<'a> {
        FactResolver {
            facts,
            json: OnceLock::new(),
        }
    }

    fn json(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.json.get_or_init(|| self.facts.variables())
    }

    /// The fact at `path` rendered as evidence text; `None` when absent.
    fn evidence(&self, path: &str) -> Option<String> {
        match self.facts.leaf(path) {
            LeafLookup::Found(leaf) => Some(render_leaf(leaf)),
            LeafLookup::Absent => None,
            LeafLookup::Unknown => lookup(self.json(), path).map(render_json),
        }
    }
}

impl VariableResolver for FactResolver<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        match self.facts.leaf(name) {
            LeafLookup::Found(leaf) => Some(CowVal::Owned(leaf_to_val(leaf))),
            LeafLookup::Absent => None,
            LeafLookup::Unknown => lookup(self.json(), name).map(|v| CowVal::Owned(json_to_val(v))),
        }
    }
}

/// A typed fact as a CEL value borrowing its strings (numbers are `int`, as in [`to_val`]).
fn leaf_to_val(leaf: Leaf<'_>) -> Box<dyn Val + '_> {
    match leaf {
        Leaf::Str(s) => Box::new(CelString::from(s)),
        Leaf::Int(i) => Box::new(CelInt::from(i)),
        Leaf::Bool(b) => Box::new(CelBool::from(b)),
        Leaf::Strs(items) => Box::new(CelList::from(
            items
                .iter()
                .map(|s| Box::new(CelString::from(s.as_str())) as Box<dyn Val>)
                .collect::<Vec<_>>(),
        )),
    }
}

/// The root CEL context of one subject: its facts through `resolver`.
pub(crate) fn fact_context<'a>(
    env: &Arc<cel::Env>,
    resolver: &'a FactResolver<'a>,
) -> Context<'a, 'a> {
    let mut ctx = Context::with_env(Arc::clone(env));
    ctx.set_variable_resolver(resolver);
    ctx
}

/// JSON facts as CEL runtime values borrowing the facts' strings: this runs once per subject,
/// thousands of times in a dense scan, so no intermediate `cel::Value` tree and no copies.
pub(crate) fn json_to_val(v: &serde_json::Value) -> Box<dyn Val + '_> {
    to_val(v, &|s| CelString::from(s))
}

/// JSON as CEL runtime values; `string` makes CEL strings (borrowed or owned). Integers become
/// `int` (CEL list membership and equality do not mix `int` and `uint` in every
/// implementation, and rule authors write `int` literals); only values above `i64::MAX` stay
/// `uint`.
fn to_val<'i, 'o, S>(v: &'i serde_json::Value, string: &S) -> Box<dyn Val + 'o>
where
    S: Fn(&'i str) -> CelString<'o>,
{
    match v {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        serde_json::Value::String(s) => Box::new(string(s)),
        serde_json::Value::Array(items) => Box::new(CelList::from(
            items.iter().map(|i| to_val(i, string)).collect::<Vec<_>>(),
        )),
        serde_json::Value::Object(map) => Box::new(CelMap::from(
            map.iter()
                .map(|(k, v)| (CelMapKey::String(string(k)), to_val(v, string)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// Runs one rule; a finding when its condition is exactly `true`.
pub(crate) fn judge<'v>(
    rule: &Rule,
    root: &Context<'_, 'v>,
    resolver: &FactResolver<'_>,
    location: &dyn Fn() -> Location,
) -> Option<Finding> {
    let facts = resolver.facts;
    // None only for a built-in rule that failed to compile on first use (logged; the tests
    // compile every built-in rule).
    let compiled = rule.compiled()?;
    let params = ParamsResolver(compiled.params.as_ref());
    let mut scope = root.new_inner_scope();
    scope.set_variable_resolver(&params);
    match compiled.when.execute(&scope) {
        Ok(Value::Bool(true)) => {}
        Ok(Value::Bool(false)) => return None,
        Ok(other) => {
            tracing::debug!(rule = %rule.id, endpoint = facts.endpoint(), "condition is not a bool: {other:?}");
            rule.trouble.record(facts.endpoint(), || {
                format!("the condition gave {other:?}, not true or false")
            });
            return None;
        }
        // An absent fact means "no match": that is the rule language's contract. A subject
        // leaves out a whole variable it could not observe (a TLS endpoint that sent no
        // certificate has no `cert`), which CEL calls an undeclared reference; unknown names
        // never get this far (loading refuses them).
        Err(ExecutionError::NoSuchKey(_) | ExecutionError::UndeclaredReference(_)) => return None,
        Err(e) => {
            tracing::debug!(rule = %rule.id, endpoint = facts.endpoint(), "condition not decidable, no match: {e}");
            rule.trouble.record(facts.endpoint(), || e.to_string());
            return None;
        }
    }
    let target = facts.target();
    let item_key = facts.item_key();
    let evidence: BTreeMap<String, String> = compiled
        .reads
        .iter()
        .filter_map(|path| Some((path.clone(), cap_evidence(resolver.evidence(path)?))))
        .collect();
    Some(Finding {
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        subject: rule.subject,
        endpoint: facts.endpoint().to_string(),
        host: target.host.clone(),
        ip: target.ip.clone(),
        port: target.port,
        fingerprint: fingerprint(&rule.id, &target.host, target.port, item_key.as_deref()),
        item_key,
        message: render(&compiled.message, &scope),
        remediation: render(&compiled.remediation, &scope),
        help_uri: rule.help_uri.clone(),
        tags: rule.tags.clone(),
        target_tags: target.tags.clone(),
        owner: target.owner.clone(),
        evidence,
        location: location(),
        suppressed: None,
    })
}

/// Renders a template; a placeholder that cannot be evaluated renders as nothing.
fn render(pieces: &[Piece], scope: &Context<'_, '_>) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(program) => match program.execute(scope) {
                Ok(v) => out.push_str(&cap_evidence(render_value(&v))),
                Err(e) => tracing::debug!("placeholder renders empty: {e}"),
            },
        }
    }
    out
}

/// The fact at a dotted path, if present.
fn lookup<'a>(
    vars: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'a serde_json::Value> {
    let mut parts = path.split('.');
    let mut cur = vars.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::limits::EVIDENCE_MAX_CHARS;
    use crate::fact::{PortFacts, PortState, PortSubject, TargetFacts};
    use crate::finding::Subject;
    use crate::rule::load::tests::load_strs;
    use crate::rule::RuleOverrides;

    /// Facts of one open (or closed) port, as the TCP probe records them.
    pub(crate) fn port(number: u16, service: &str, source: &str, open: bool) -> SubjectFacts {
        port_with_banner(number, service, source, open, "")
    }

    fn port_with_banner(
        number: u16,
        service: &str,
        source: &str,
        open: bool,
        banner: &str,
    ) -> SubjectFacts {
        SubjectFacts::Port(PortSubject {
            endpoint: format!("10.0.0.5:{number}"),
            target: TargetFacts {
                host: "10.0.0.5".into(),
                ip: Some("10.0.0.5".into()),
                port: Some(number),
                tags: vec!["dmz".into()],
                owner: None,
            },
            port: PortFacts {
                number,
                state: if open {
                    PortState::Open
                } else {
                    PortState::Closed
                },
                open,
                service: service.into(),
                service_source: source.into(),
                banner: banner.into(),
            },
        })
    }

    fn rule(when: &str, message: &str) -> RuleSet {
        let text = format!(
            "[[rule]]\nid = \"t.r\"\ntitle = \"T\"\nseverity = \"medium\"\nsubject = \"port\"\n\
             when = '''{when}'''\nmessage = '''{message}'''\nremediation = \"fix {{{{ port.number }}}}\"\n\
             params = {{ ports = [23] }}\ntags = [\"security\"]\n"
        );
        load_strs(&[("t.toml", &text)], &RuleOverrides::default()).unwrap()
    }

    fn loc() -> Location {
        Location::synthetic(Subject::Port, "10.0.0.5", "23")
    }

    #[test]
    fn a_true_condition_is_a_finding_with_every_field() {
        let rs = rule(
            "port.open && port.number in params.ports",
            "{{ port.service }} on {{ endpoint }} tags={{ target.tags }}",
        );
        let f = evaluate(&rs, &port(23, "telnet", "banner", true), &loc());
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.rule_id, "t.r");
        assert_eq!(f.severity, crate::finding::Severity::Medium);
        assert_eq!(f.message, "telnet on 10.0.0.5:23 tags=dmz");
        assert_eq!(f.remediation, "fix 23");
        assert_eq!(
            (f.host.as_str(), f.port, f.ip.as_deref()),
            ("10.0.0.5", Some(23), Some("10.0.0.5"))
        );
        assert_eq!(f.target_tags, ["dmz"]);
        assert_eq!(f.tags, ["security"]);
        assert_eq!(f.location, loc());
        assert_eq!(
            f.fingerprint,
            fingerprint("t.r", "10.0.0.5", Some(23), None)
        );
        assert_eq!(
            f.evidence,
            BTreeMap::from([
                ("port.number".to_string(), "23".to_string()),
                ("port.open".to_string(), "true".to_string()),
            ])
        );
    }

    #[test]
    fn false_non_bool_and_other_subjects_are_no_match() {
        let rs = rule("port.open && port.number in params.ports", "m");
        assert!(evaluate(&rs, &port(22, "ssh", "banner", true), &loc()).is_empty());
        assert!(evaluate(&rs, &port(23, "telnet", "port", false), &loc()).is_empty());
        // Not boolean for these facts (load rejects only what is surely not boolean).
        let rs = rule("port.open ? port.number : port.open", "m");
        assert!(evaluate(&rs, &port(23, "telnet", "banner", true), &loc()).is_empty());
    }

    #[test]
    fn undecidable_conditions_are_recorded_absent_facts_are_not() {
        // Valid CEL whose types only clash with the facts: `startsWith` on a number.
        let rs = rule("port.open && port.number.startsWith('2')", "m");
        let facts = port(23, "telnet", "banner", true);
        assert!(evaluate(&rs, &facts, &loc()).is_empty());
        assert!(evaluate(&rs, &facts, &loc()).is_empty());
        let troubles = rs.troubles();
        assert_eq!(troubles.len(), 1, "{troubles:?}");
        let (id, n, first) = &troubles[0];
        assert_eq!((id.as_str(), *n), ("t.r", 2));
        assert!(first.starts_with(facts.endpoint()), "{first}");
        assert!(first.contains("startsWith"), "{first}");
        // A closed port short-circuits: nothing undecidable happened.
        let rs = rule("port.open && port.number.startsWith('2')", "m");
        evaluate(&rs, &port(23, "telnet", "banner", false), &loc());
        assert!(rs.troubles().is_empty());
        // An absent fact is "no match" by contract, not trouble.
        let rs = rule("target.owner == 'web'", "m");
        evaluate(&rs, &facts, &loc());
        assert!(rs.troubles().is_empty());
    }

    #[test]
    fn an_absent_fact_is_no_match_never_an_error() {
        // `target.owner` is absent (None is not serialised): NoSuchKey → no match.
        let rs = rule("target.owner == 'web'", "m");
        assert!(evaluate(&rs, &port(23, "telnet", "banner", true), &loc()).is_empty());
        let rs = rule("!has(target.owner)", "m");
        assert_eq!(
            evaluate(&rs, &port(23, "telnet", "banner", true), &loc()).len(),
            1
        );
    }

    /// Facts reach CEL by whole path where they can and as whole objects where the expression
    /// needs one (`has()`, a map or list value, a key that is not a field): both give the
    /// same answers.
    #[test]
    fn facts_read_by_path_and_as_whole_objects_agree() {
        let facts = port_with_banner(23, "telnet", "banner", true, "login: ");
        for (when, expected) in [
            ("'dmz' in target.tags && port.number == 23", true),
            (
                "has(port.banner) && has(target.ip) && !has(target.owner)",
                true,
            ),
            (
                "port['number'] == port.number && target['host'] == target.host",
                true,
            ),
            ("size(port) == 6 && size(target.tags) == 1", true),
            (
                "port.state == 'open' && target.port == 23 && endpoint.endsWith(':23')",
                true,
            ),
            (
                "[port, target].size() == 2 && port.banner.startsWith('login')",
                true,
            ),
            ("target.owner == 'web'", false),
            ("port.number == 22", false),
        ] {
            let rs = rule(
                when,
                "{{ target.tags }} {{ port.banner }} {{ target.owner }}",
            );
            let f = evaluate(&rs, &facts, &loc());
            assert_eq!(f.len(), usize::from(expected), "{when}");
            assert!(rs.troubles().is_empty(), "{when}: {:?}", rs.troubles());
            if expected {
                assert_eq!(f[0].message, "dmz login:  ", "{when}");
            }
        }
    }

    #[test]
    fn a_missing_fact_renders_empty_in_templates() {
        let rs = rule(
            "port.open",
            "owner=[{{ target.owner }}] n={{ port.number }}",
        );
        let f = evaluate(&rs, &port(23, "telnet", "banner", true), &loc());
        assert_eq!(f[0].message, "owner=[] n=23");
    }

    #[test]
    fn evidence_and_placeholders_are_capped() {
        let rs = rule("port.banner.size() > 0", "{{ port.banner }}");
        let banner = "x".repeat(5 * EVIDENCE_MAX_CHARS);
        let facts = port_with_banner(23, "telnet", "banner", true, &banner);
        let f = evaluate(&rs, &facts, &loc());
        assert_eq!(
            f[0].evidence["port.banner"].chars().count(),
            EVIDENCE_MAX_CHARS
        );
        assert!(f[0].evidence["port.banner"].ends_with('…'));
        assert_eq!(f[0].message.chars().count(), EVIDENCE_MAX_CHARS);
    }

    #[test]
    fn json_numbers_become_cel_ints() {
        let cel = |j: serde_json::Value| Value::try_from(json_to_val(&j).as_ref()).unwrap();
        assert_eq!(cel(serde_json::json!(23)), Value::Int(23));
        assert_eq!(cel(serde_json::json!(u64::MAX)), Value::UInt(u64::MAX));
        assert_eq!(cel(serde_json::json!(1.5)), Value::Float(1.5));
    }
}
