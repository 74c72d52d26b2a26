//! Field checking: every fact path a CEL expression reads must exist for its subject.
//!
//! A dry run on a sample misses short-circuited branches (`false && port.nope` never reads
//! `port.nope`), so we walk the parsed expression instead and check every `Select` chain
//! rooted at a variable, `has(…)` tests and the operands of index expressions against a
//! [`Schema`] derived from [`SubjectFacts::sample`]: objects have known keys, arrays the schema
//! of their first element, and the paths of [`SubjectFacts::dynamic_map_paths`] accept any key.
//! `params` is checked against the rule's own parameters (after overrides).

use crate::fact::SubjectFacts;
use crate::finding::Subject;
use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::{BTreeMap, BTreeSet};

/// The shape of a fact value, as far as field checking cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Schema {
    /// Free-form: any key or value below is accepted (dynamic maps).
    Any,
    /// A leaf value; the name of its kind is used in messages.
    Scalar(&'static str),
    Object(BTreeMap<String, Schema>),
    /// Elements share the schema of the sample's first element (`Any` when it is empty).
    List(Box<Schema>),
}

impl Schema {
    /// The schema of a JSON value found at `path` (dotted, from a top-level variable).
    pub fn from_json(v: &serde_json::Value, path: &str, dynamic: &[&str]) -> Schema {
        if dynamic.contains(&path) {
            return Schema::Any;
        }
        match v {
            serde_json::Value::Null => Schema::Scalar("null"),
            serde_json::Value::Bool(_) => Schema::Scalar("bool"),
            serde_json::Value::Number(_) => Schema::Scalar("number"),
            serde_json::Value::String(_) => Schema::Scalar("string"),
            serde_json::Value::Array(items) => Schema::List(Box::new(match items.first() {
                Some(first) => Schema::from_json(first, path, dynamic),
                None => Schema::Any,
            })),
            serde_json::Value::Object(map) => Schema::Object(
                map.iter()
                    .map(|(k, v)| {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        (k.clone(), Schema::from_json(v, &child, dynamic))
                    })
                    .collect(),
            ),
        }
    }

    /// The kind of value a path of this schema holds, when it is certain. `null` in the
    /// sample says nothing about the real value's kind.
    fn value_kind(&self) -> Option<&'static str> {
        match self {
            Schema::Any | Schema::Scalar("null") => None,
            Schema::Scalar(k) => Some(k),
            Schema::Object(_) => Some("map"),
            Schema::List(_) => Some("list"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Schema::Any => "value",
            Schema::Scalar(k) => k,
            Schema::Object(_) => "object",
            Schema::List(_) => "list",
        }
    }
}

/// The variables a rule of one subject can read, with their schemas.
#[derive(Debug, Clone)]
pub(crate) struct VarSchema {
    pub subject: Subject,
    /// `None`: the subject has no sample facts in this build, fact paths go unchecked.
    pub facts: Option<BTreeMap<String, Schema>>,
    pub params: Schema,
}

impl VarSchema {
    pub fn new(subject: Subject, params: &serde_json::Value) -> VarSchema {
        let facts = SubjectFacts::sample(subject).map(|s| {
            let dynamic = SubjectFacts::dynamic_map_paths(subject);
            s.variables()
                .iter()
                .map(|(k, v)| (k.clone(), Schema::from_json(v, k, dynamic)))
                .collect()
        });
        VarSchema {
            subject,
            facts,
            // Null: the params table itself was invalid (already reported); don't cascade.
            params: if params.is_null() {
                Schema::Any
            } else {
                Schema::from_json(params, "params", &[])
            },
        }
    }
}

/// CEL identifiers that name types or namespaces, not variables (`type(x) == string`).
const TYPE_IDENTS: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "duration",
    "int",
    "list",
    "map",
    "null_type",
    "optional",
    "string",
    // The strings extension's namespace (`strings.quote(x)`).
    "strings",
    "timestamp",
    "type",
    "uint",
];

/// A problem found in an expression: the node it is about and the message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldProblem {
    pub expr_id: u64,
    /// The text to point at (the unknown name), searched from the node's position.
    pub focus: String,
    pub message: String,
}

/// What a walk learnt about an expression: every problem, and every fact path it reads.
#[derive(Debug, Default)]
pub(crate) struct FieldReport {
    pub problems: Vec<FieldProblem>,
    /// Fact paths read (dotted, from a top-level fact variable), maximal ones only.
    pub reads: BTreeSet<String>,
    /// The kind of value the whole expression yields, when the walk can tell (`bool`,
    /// `string`, `number`, `list`, …): a `when` that is surely not `bool` can never fire.
    pub kind: Option<&'static str>,
    /// Every named function the expression calls (operators aside), to be checked against
    /// the CEL environment.
    pub calls: Vec<CallSite>,
}

/// A call of a named function: `size(x)`, `x.startsWith(y)`, `optional.of(x)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallSite {
    pub expr_id: u64,
    /// The name as written, qualified when called on a namespace (`optional.of`).
    pub name: String,
    /// A call of the same function, with no arguments, that resolves the name as this call
    /// does: evaluating it fails with "undeclared reference" exactly when the function does
    /// not exist (a wrong argument list fails differently).
    pub probe: String,
}

/// Checks every field path of `expr` against `vars`.
pub(crate) fn check_fields(expr: &IdedExpr, vars: &VarSchema) -> FieldReport {
    let mut w = Walker {
        vars,
        scopes: Vec::new(),
        report: FieldReport::default(),
    };
    w.report.kind = w.walk(expr).kind;
    let reads = std::mem::take(&mut w.report.reads);
    // Keep only maximal paths: `port` is implied by `port.open`.
    w.report.reads = reads
        .iter()
        .filter(|p| {
            let prefix = format!("{p}.");
            !reads.iter().any(|q| q.starts_with(&prefix))
        })
        .cloned()
        .collect();
    w.report
}

/// What the walker knows about a sub-expression's value.
#[derive(Clone)]
struct Shape<'s> {
    schema: Option<&'s Schema>,
    /// The dotted path when the expression is a path rooted at a variable.
    path: Option<String>,
    /// True when that root is a fact variable (its paths are evidence).
    fact: bool,
    /// The kind of value, when known (see [`FieldReport::kind`]).
    kind: Option<&'static str>,
}

impl<'s> Shape<'s> {
    fn unchecked() -> Shape<'s> {
        Shape {
            schema: None,
            path: None,
            fact: false,
            kind: None,
        }
    }

    fn of_kind(kind: Option<&'static str>) -> Shape<'s> {
        Shape {
            kind,
            ..Shape::unchecked()
        }
    }
}

struct Walker<'s> {
    vars: &'s VarSchema,
    /// Comprehension variables in scope, innermost last. `None`: accepted unchecked.
    scopes: Vec<(String, Option<&'s Schema>)>,
    report: FieldReport,
}

impl<'s> Walker<'s> {
    fn problem(&mut self, expr_id: u64, focus: &str, message: String) {
        self.report.problems.push(FieldProblem {
            expr_id,
            focus: focus.to_string(),
            message,
        });
    }

    fn walk(&mut self, e: &IdedExpr) -> Shape<'s> {
        let mut shape = self.walk_node(e);
        if shape.kind.is_none() {
            shape.kind = shape.schema.and_then(Schema::value_kind);
        }
        shape
    }

    fn walk_node(&mut self, e: &IdedExpr) -> Shape<'s> {
        match &e.expr {
            Expr::Ident(name) => self.ident(e.id, name),
            Expr::Select(sel) => {
                let base = self.walk(&sel.operand);
                let field = self.field(e.id, base, &sel.field);
                if sel.test {
                    // `has(a.b)`: whether the field is there, not its value.
                    Shape::of_kind(Some("bool"))
                } else {
                    field
                }
            }
            Expr::Call(call) => {
                let is_index = call.target.is_none()
                    && call.args.len() == 2
                    && (call.func_name == operators::INDEX
                        || call.func_name == operators::OPT_INDEX);
                let is_opt_select = call.target.is_none()
                    && call.args.len() == 2
                    && call.func_name == operators::OPT_SELECT;
                if is_opt_select {
                    let base = self.walk(&call.args[0]);
                    return match &call.args[1].expr {
                        Expr::Literal(LiteralValue::String(s)) => self.field(e.id, base, s.inner()),
                        _ => Shape::unchecked(),
                    };
                }
                if is_index {
                    let base = self.walk(&call.args[0]);
                    self.walk(&call.args[1]);
                    return self.index(e.id, base, &call.args[1]);
                }
                if call
                    .func_name
                    .starts_with(|c: char| c.is_ascii_alphabetic())
                {
                    let site = self.call_site(e.id, &call.func_name, call.target.as_deref());
                    self.report.calls.push(site);
                }
                if let Some(t) = &call.target {
                    self.walk(t);
                }
                let args: Vec<Option<&'static str>> =
                    call.args.iter().map(|a| self.walk(a).kind).collect();
                Shape::of_kind(call_kind(&call.func_name, call.target.is_some(), &args))
            }
            Expr::Comprehension(c) => {
                let range = self.walk(&c.iter_range);
                let init = self.walk(&c.accu_init);
                let (first, second) = element_schemas(range.schema, c.iter_var2.is_some());
                let depth = self.scopes.len();
                match &c.iter_var2 {
                    Some(v2) => {
                        self.scopes.push((c.iter_var.clone(), first));
                        self.scopes.push((v2.clone(), second));
                    }
                    None => self.scopes.push((c.iter_var.clone(), first)),
                }
                self.scopes.push((c.accu_var.clone(), None));
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                let result = self.walk(&c.result);
                self.scopes.truncate(depth);
                // `all`/`exists` return their accumulator (a bool), `map`/`filter` theirs
                // (a list); `exists_one` compares its count.
                match &c.result.expr {
                    Expr::Ident(n) if *n == c.accu_var => Shape::of_kind(init.kind),
                    _ => Shape::of_kind(result.kind),
                }
            }
            Expr::List(l) => {
                for x in &l.elements {
                    self.walk(x);
                }
                Shape::of_kind(Some("list"))
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.walk(&me.key);
                        self.walk(&me.value);
                    }
                }
                Shape::of_kind(Some("map"))
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    match &entry.expr {
                        EntryExpr::StructField(f) => {
                            self.walk(&f.value);
                        }
                        EntryExpr::MapEntry(me) => {
                            self.walk(&me.key);
                            self.walk(&me.value);
                        }
                    }
                }
                Shape::unchecked()
            }
            Expr::Literal(l) => Shape::of_kind(Some(literal_kind(l))),
            Expr::Unspecified => Shape::unchecked(),
        }
    }

    /// The call site of `name` (called on `target`, if any) and its probe.
    fn call_site(&self, expr_id: u64, name: &str, target: Option<&IdedExpr>) -> CallSite {
        // A namespace (`optional.of`) rather than a value: a type name no scope rebinds.
        let namespace = match target.map(|t| &t.expr) {
            Some(Expr::Ident(ns))
                if TYPE_IDENTS.contains(&ns.as_str())
                    && !self.scopes.iter().any(|(n, _)| n == ns) =>
            {
                Some(ns.as_str())
            }
            _ => None,
        };
        let (name, probe) = match (target, namespace) {
            (None, _) => (name.to_string(), format!("{name}()")),
            (Some(_), Some(ns)) => (format!("{ns}.{name}"), format!("{ns}.{name}()")),
            (Some(_), None) => (name.to_string(), format!("null.{name}()")),
        };
        CallSite {
            expr_id,
            name,
            probe,
        }
    }

    fn ident(&mut self, id: u64, name: &str) -> Shape<'s> {
        if let Some((_, schema)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Shape {
                schema: *schema,
                path: None,
                fact: false,
                kind: None,
            };
        }
        if name == "params" {
            return Shape {
                schema: Some(&self.vars.params),
                path: Some("params".into()),
                fact: false,
                kind: None,
            };
        }
        match &self.vars.facts {
            None => Shape::unchecked(),
            Some(facts) => {
                if let Some(schema) = facts.get(name) {
                    self.report.reads.insert(name.to_string());
                    Shape {
                        schema: Some(schema),
                        path: Some(name.to_string()),
                        fact: true,
                        kind: None,
                    }
                } else {
                    if !name.starts_with('@') && !TYPE_IDENTS.contains(&name) {
                        let mut available: Vec<&str> = facts.keys().map(String::as_str).collect();
                        available.push("params");
                        available.sort_unstable();
                        self.problem(
                            id,
                            name,
                            format!(
                                "unknown variable `{name}`; rules of subject `{}` can read: {}",
                                self.vars.subject,
                                available.join(", ")
                            ),
                        );
                    }
                    Shape::unchecked()
                }
            }
        }
    }

    fn field(&mut self, id: u64, base: Shape<'s>, field: &str) -> Shape<'s> {
        let path = base.path.as_ref().map(|p| format!("{p}.{field}"));
        let Some(schema) = base.schema else {
            return Shape::unchecked();
        };
        match schema {
            Schema::Any => Shape {
                schema: Some(schema),
                path: self.record(path, base.fact),
                fact: base.fact,
                kind: None,
            },
            Schema::Object(keys) => match keys.get(field) {
                Some(child) => Shape {
                    schema: Some(child),
                    path: self.record(path, base.fact),
                    fact: base.fact,
                    kind: None,
                },
                None => {
                    let shown = path.unwrap_or_else(|| field.to_string());
                    let parent = base.path.as_deref().unwrap_or("this value");
                    let known: Vec<&str> = keys.keys().map(String::as_str).collect();
                    let msg = if known.is_empty() {
                        format!("unknown field `{shown}`: `{parent}` has no fields")
                    } else {
                        format!(
                            "unknown field `{shown}`; `{parent}` has: {}",
                            known.join(", ")
                        )
                    };
                    let msg = if base.path.as_deref() == Some("params") {
                        format!("{msg} (declare it in the rule's `params`)")
                    } else {
                        msg
                    };
                    self.problem(id, field, msg);
                    Shape::unchecked()
                }
            },
            Schema::Scalar(_) | Schema::List(_) => {
                let parent = base.path.as_deref().unwrap_or("this value");
                self.problem(
                    id,
                    field,
                    format!(
                        "`{parent}` is a {} and has no field `{field}`",
                        schema.kind()
                    ),
                );
                Shape::unchecked()
            }
        }
    }

    fn index(&mut self, id: u64, base: Shape<'s>, key: &IdedExpr) -> Shape<'s> {
        let Some(schema) = base.schema else {
            return Shape::unchecked();
        };
        match schema {
            Schema::Any => Shape {
                schema: Some(schema),
                path: None,
                fact: false,
                kind: None,
            },
            Schema::List(elem) => Shape {
                schema: Some(elem),
                path: None,
                fact: false,
                kind: None,
            },
            Schema::Object(keys) => match &key.expr {
                Expr::Literal(LiteralValue::String(s)) => self.field(id, base, s.inner()),
                _ => Shape {
                    schema: uniform(keys),
                    path: None,
                    fact: false,
                    kind: None,
                },
            },
            Schema::Scalar(_) => Shape::unchecked(),
        }
    }

    /// Records a fact path as read; returns it for the next step of the chain.
    fn record(&mut self, path: Option<String>, fact: bool) -> Option<String> {
        if fact {
            if let Some(p) = &path {
                self.report.reads.insert(p.clone());
            }
        }
        path
    }
}

/// The kind of a literal.
fn literal_kind(l: &LiteralValue) -> &'static str {
    match l {
        LiteralValue::Boolean(_) => "bool",
        LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_) => "number",
        LiteralValue::String(_) => "string",
        LiteralValue::Bytes(_) => "bytes",
        LiteralValue::Null => "null",
    }
}

/// The kind of value a call yields, when the function alone (or its operands) says so.
/// Only what is certain: an unknown function or mixed operands give `None`.
fn call_kind(name: &str, member: bool, args: &[Option<&'static str>]) -> Option<&'static str> {
    match name {
        operators::LOGICAL_AND
        | operators::LOGICAL_OR
        | operators::LOGICAL_NOT
        | operators::EQUALS
        | operators::NOT_EQUALS
        | operators::LESS
        | operators::LESS_EQUALS
        | operators::GREATER
        | operators::GREATER_EQUALS
        | operators::IN
        | operators::NOT_STRICTLY_FALSE => Some("bool"),
        operators::ADD
        | operators::SUBSTRACT
        | operators::MULTIPLY
        | operators::DIVIDE
        | operators::MODULO
        | operators::NEGATE => args.first().copied().flatten().filter(|k| *k != "bool"),
        operators::CONDITIONAL => match args {
            [_, Some(a), Some(b)] if a == b => Some(a),
            _ => None,
        },
        "size" | "int" | "uint" | "double" => Some("number"),
        "string" => Some("string"),
        "bytes" => Some("bytes"),
        "matches" => Some("bool"),
        "startsWith" | "endsWith" | "contains" if member => Some("bool"),
        "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "join"
            if member =>
        {
            Some("string")
        }
        "split" if member => Some("list"),
        "indexOf" | "lastIndexOf" if member => Some("number"),
        _ => None,
    }
}

/// The schema shared by every value of an object used as a map (`params.advice[k]`), if any.
fn uniform(keys: &BTreeMap<String, Schema>) -> Option<&Schema> {
    let mut it = keys.values();
    let first = it.next()?;
    it.all(|s| s == first).then_some(first)
}

/// The schemas a comprehension binds: (first variable, second variable).
/// Lists: the element for one variable, (index, element) for two. Maps: (key, value).
fn element_schemas(range: Option<&Schema>, two: bool) -> (Option<&Schema>, Option<&Schema>) {
    static NUMBER: Schema = Schema::Scalar("number");
    static STRING: Schema = Schema::Scalar("string");
    match range {
        Some(Schema::List(elem)) if two => (Some(&NUMBER), Some(elem)),
        Some(Schema::List(elem)) => (Some(elem), None),
        Some(Schema::Object(keys)) => (Some(&STRING), uniform(keys)),
        Some(Schema::Any) => (range, range),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(src: &str, vars: &VarSchema) -> Vec<String> {
        let p = cel::Env::stdlib().compile(src).unwrap();
        check_fields(p.expression(), vars)
            .problems
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn dynamic_paths_accept_any_key_below() {
        let sample = json!({ "headers": { "server": "x" }, "n": 1 });
        let s = Schema::from_json(&sample, "http", &["http.headers"]);
        let Schema::Object(keys) = &s else {
            panic!("{s:?}")
        };
        assert_eq!(keys["headers"], Schema::Any);
        assert_eq!(keys["n"], Schema::Scalar("number"));
    }

    #[test]
    fn params_maps_with_uniform_values_are_checked_through_indexes() {
        let vars = VarSchema::new(
            Subject::Port,
            &json!({ "svc": { "a": { "ports": [1] }, "b": { "ports": [2] } } }),
        );
        assert!(problems(
            "params.svc.exists(k, port.number in params.svc[k].ports)",
            &vars
        )
        .is_empty());
        let p = problems(
            "params.svc.exists(k, port.number in params.svc[k].portz)",
            &vars,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("unknown field `portz`"), "{p:?}");
    }

    #[test]
    fn reads_are_maximal_fact_paths_only() {
        let vars = VarSchema::new(Subject::Port, &json!({ "ports": [1] }));
        let p = cel::Env::stdlib()
            .compile(
                "port.open && has(port.banner) && port.number in params.ports && endpoint != ''",
            )
            .unwrap();
        let r = check_fields(p.expression(), &vars);
        assert!(r.problems.is_empty());
        let reads: Vec<&str> = r.reads.iter().map(String::as_str).collect();
        assert_eq!(
            reads,
            ["endpoint", "port.banner", "port.number", "port.open"]
        );
    }

    #[test]
    fn type_names_are_not_unknown_variables() {
        let vars = VarSchema::new(Subject::Port, &json!({}));
        assert!(problems("type(port.number) == int", &vars).is_empty());
    }
}
