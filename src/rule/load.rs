//! Loading rule packs: TOML with spans → validated, overridden, compiled [`Rule`]s.
//!
//! We walk `toml::de::DeTable` (every key and value spanned) by hand instead of deriving
//! `Deserialize`: serde stops at the first problem, and a rule author deserves every problem in
//! every file at once, each with its `path:line:col`. Stages, each collecting problems:
//! read sources → parse each pack → check duplicate ids across packs → apply overrides →
//! compile `when` and the `{{ … }}` placeholders, then field-check them against the schema.

use super::diag::{RuleError, RuleErrors, SourceFile, StrMap};
use super::eval::{Compiled, Piece as CompiledPiece};
use super::schema::{check_fields, FieldProblem, VarSchema};
use super::template::{parse_template, Piece};
use super::{At, Rule, RuleOverrides, RuleSet, RuleSources, BUILTIN_PACKS};
use crate::finding::{Severity, Subject};
use crate::outcome::PackInfo;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Rule files are policy text, not data: anything larger is a mistake (a wrong path), and
/// reading it whole must stay cheap.
pub const RULE_FILE_MAX_BYTES: u64 = 1024 * 1024;

/// Directories are read one level deep; this many files at most, so a wrong path (`/`) fails
/// fast instead of reading a tree.
pub const RULE_DIR_MAX_FILES: usize = 1024;

/// Every key a `[[rule]]` table may have.
const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "subject",
    "when",
    "message",
    "remediation",
    "help_uri",
    "params",
    "tags",
    "enabled",
];
const REQUIRED_KEYS: &[&str] = &["id", "title", "severity", "subject", "when", "message"];

/// One pack's text, read.
pub(crate) struct PackText {
    pub name: String,
    pub text: String,
    pub builtin: bool,
}

/// The CEL environment every rule is compiled and run with: the standard library plus the
/// strings extension (`lowerAscii`, `split`, `join`, …). One per rule set.
pub(crate) fn cel_env() -> cel::Env {
    let mut env = cel::Env::stdlib();
    // The strings extension only declares functions; it cannot conflict with the stdlib.
    if let Err(e) = env.add_extension(cel::extensions::strings) {
        tracing::warn!("CEL strings extension not available: {e}");
    }
    env
}

pub(crate) fn load(
    sources: &RuleSources,
    overrides: &RuleOverrides,
) -> Result<RuleSet, RuleErrors> {
    let mut errors = RuleErrors::default();
    let mut user = Vec::new();
    for path in &sources.paths {
        read_path(path, &mut user, &mut errors);
    }
    let mut packs = Vec::new();
    if sources.builtin {
        for (name, text) in BUILTIN_PACKS {
            if sources.replace_identical && user.iter().any(|p| p.text == *text) {
                tracing::warn!(
                    "a file identical to the built-in pack {name} is loaded in its place (a \
                     scan loads the built-in packs too: do not also give it to --rules)"
                );
                continue;
            }
            packs.push(PackText {
                name: format!("builtin:{name}"),
                text: (*text).to_string(),
                builtin: true,
            });
        }
    }
    packs.extend(user);
    build(packs, errors, overrides)
}

/// Reads a user path: a file, or every `*.toml` directly inside a directory, in name order.
fn read_path(path: &At<PathBuf>, packs: &mut Vec<PackText>, errors: &mut RuleErrors) {
    let shown = path.value.display().to_string();
    let origin = path.origin_or(&shown).to_string();
    let meta = match std::fs::metadata(&path.value) {
        Ok(m) => m,
        Err(e) => {
            errors.push(RuleError::at_origin(
                origin,
                format!("cannot read rule path `{shown}`: {e}"),
            ));
            return;
        }
    };
    if !meta.is_dir() {
        read_file(&path.value, &origin, packs, errors);
        return;
    }
    let entries = match std::fs::read_dir(&path.value) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(RuleError::at_origin(
                origin,
                format!("cannot read rule directory `{shown}`: {e}"),
            ));
            return;
        }
    };
    let mut files = Vec::new();
    for entry in entries.take(RULE_DIR_MAX_FILES + 1) {
        match entry {
            Ok(e) => {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    files.push(p);
                }
            }
            Err(e) => errors.push(RuleError::at_origin(
                origin.clone(),
                format!("cannot list rule directory `{shown}`: {e}"),
            )),
        }
    }
    if files.len() > RULE_DIR_MAX_FILES {
        errors.push(RuleError::at_origin(
            origin,
            format!("rule directory `{shown}` has more than {RULE_DIR_MAX_FILES} files"),
        ));
        return;
    }
    files.sort();
    for f in files {
        read_file(&f, &origin, packs, errors);
    }
}

fn read_file(path: &Path, origin: &str, packs: &mut Vec<PackText>, errors: &mut RuleErrors) {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| {
        f.take(RULE_FILE_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    });
    if let Err(e) = read {
        errors.push(RuleError::at_origin(
            origin,
            format!("cannot read rule file `{shown}`: {e}"),
        ));
        return;
    }
    if bytes.len() as u64 > RULE_FILE_MAX_BYTES {
        errors.push(RuleError::at_origin(
            origin,
            format!("rule file `{shown}` is larger than {RULE_FILE_MAX_BYTES} bytes"),
        ));
        return;
    }
    match String::from_utf8(bytes) {
        Ok(text) => packs.push(PackText {
            name: shown,
            text,
            builtin: false,
        }),
        Err(_) => errors.push(RuleError::at_origin(
            origin,
            format!("rule file `{shown}` is not UTF-8"),
        )),
    }
}

/// A string value with the span of its TOML token (quotes included).
#[derive(Debug, Clone)]
struct StrField {
    text: String,
    span: Range<usize>,
}

/// A rule table that passed every per-file check.
#[derive(Debug, Clone)]
struct RawRule {
    pack: usize,
    /// Empty when the id was invalid (already reported).
    id: String,
    title: String,
    severity: Severity,
    subject: Subject,
    when: StrField,
    message: StrField,
    remediation: Option<StrField>,
    help_uri: Option<String>,
    tags: Vec<String>,
    params: serde_json::Value,
    enabled: bool,
    /// False when some other key of the rule had a problem (already reported).
    complete: bool,
}

/// One `[[rule]]` table: its id and span when the id is valid, and the rule when its
/// expressions can be compiled.
type ParsedRule = (Option<(String, Range<usize>)>, Option<RawRule>);

/// Where each id was first seen: (pack index, span), for duplicates and overrides.
type IdIndex = BTreeMap<String, (usize, Range<usize>)>;

pub(crate) fn build(
    packs: Vec<PackText>,
    mut errors: RuleErrors,
    overrides: &RuleOverrides,
) -> Result<RuleSet, RuleErrors> {
    let files: Vec<SourceFile<'_>> = packs
        .iter()
        .enumerate()
        .map(|(i, p)| SourceFile::new(p.name.clone(), &p.text, i))
        .collect();

    // 1. Parse every pack; ids seen (valid rule or not) feed duplicate and override checks.
    let mut raws = Vec::new();
    let mut ids: IdIndex = BTreeMap::new();
    let mut counts = vec![0usize; packs.len()];
    for (i, pack) in packs.iter().enumerate() {
        for (id, raw) in parse_pack(&files[i], pack.builtin, &mut errors) {
            counts[i] += 1;
            if let Some(raw) = raw {
                raws.push(raw);
            }
            let Some((id, span)) = id else {
                continue;
            };
            match ids.get(&id) {
                Some((first_pack, first_span)) => {
                    let (l, c) = files[*first_pack].line_col(first_span.start);
                    errors.push(
                        files[i]
                            .error(span.clone(), format!("duplicate rule id `{id}`"))
                            .with_note(format!(
                                "`{id}` is first defined at {}:{l}:{c}{}",
                                files[*first_pack].name,
                                if packs[*first_pack].builtin {
                                    " (built-in ids are taken; to check an edited copy of a \
                                     built-in pack, add --no-builtin-rules)"
                                } else {
                                    ""
                                }
                            )),
                    );
                }
                None => {
                    ids.insert(id, (i, span));
                }
            }
        }
    }

    // 2. Overrides, then 3. compile.
    let env = Arc::new(cel_env());
    let functions = FunctionCheck::new(env.clone());
    let plan = apply_overrides(&mut raws, &ids, overrides, &mut errors);
    // Built-in packs' text, shared by their deferred rules (one copy per pack, not per rule).
    let texts: Vec<Option<Arc<str>>> = packs
        .iter()
        .map(|p| p.builtin.then(|| Arc::from(p.text.as_str())))
        .collect();
    let mut rules = Vec::new();
    for (raw, active) in raws.into_iter().zip(plan) {
        let severity = overrides
            .severity
            .get(&raw.id)
            .map(|s| s.value)
            .unwrap_or(raw.severity);
        // A built-in rule whose params nobody overrides was checked by the tests as shipped:
        // it is compiled when first used, so a scan pays only for the rules it runs.
        let defer = texts[raw.pack]
            .clone()
            .filter(|_| !overrides.params.contains_key(&raw.id))
            .map(|text| (env.clone(), text));
        if let Some(rule) = compile_rule(
            raw,
            severity,
            active,
            defer,
            &packs,
            &files,
            &functions,
            &mut errors,
        ) {
            rules.push(rule);
        }
    }

    if !errors.is_empty() {
        errors.sort();
        return Err(errors);
    }
    let pack_infos = packs
        .iter()
        .zip(counts)
        .map(|(p, n)| PackInfo {
            name: p.name.clone(),
            sha256: hex::encode(Sha256::digest(p.text.as_bytes())),
            rules: n,
        })
        .collect();
    Ok(RuleSet {
        rules,
        packs: pack_infos,
        env,
    })
}

/// Parses one pack. Returns every `[[rule]]` table: its id (when valid) for duplicate and
/// override checks, and the rule when its expressions can be compiled.
fn parse_pack(file: &SourceFile<'_>, builtin: bool, errors: &mut RuleErrors) -> Vec<ParsedRule> {
    let doc = match DeTable::parse(file.text) {
        Ok(doc) => doc,
        Err(_) => {
            let (_, errs) = DeTable::parse_recoverable(file.text);
            for e in errs {
                let span = e.span().unwrap_or(0..0);
                errors.push(file.error(span, format!("TOML syntax: {}", e.message().trim())));
            }
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = doc.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        if key.get_ref() != "rule" {
            errors.push(file.error(
                key.span(),
                format!(
                    "unknown top-level key `{}`: a rule file holds only `[[rule]]` tables",
                    key.get_ref()
                ),
            ));
            continue;
        }
        let DeValue::Array(items) = value.get_ref() else {
            errors.push(file.error(
                value.span(),
                format!(
                    "`rule` must be an array of tables (`[[rule]]`), found {}",
                    value.get_ref().type_str()
                ),
            ));
            continue;
        };
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => {
                    out.push(parse_rule(file, builtin, item.span(), t, errors));
                }
                other => errors.push(file.error(
                    item.span(),
                    format!("each `rule` must be a table, found {}", other.type_str()),
                )),
            }
        }
    }
    out
}

fn type_error(file: &SourceFile<'_>, key: &str, want: &str, v: &Spanned<DeValue<'_>>) -> RuleError {
    file.error(
        v.span(),
        format!("`{key}` must be {want}, found {}", v.get_ref().type_str()),
    )
}

fn parse_rule(
    file: &SourceFile<'_>,
    builtin: bool,
    header: Range<usize>,
    t: &DeTable<'_>,
    errors: &mut RuleErrors,
) -> ParsedRule {
    let before = errors.len();
    let mut fields: BTreeMap<&str, &Spanned<DeValue<'_>>> = BTreeMap::new();
    let mut entries: Vec<_> = t.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let name: &str = k.get_ref();
        match RULE_KEYS.iter().find(|known| **known == name) {
            Some(known) => {
                fields.insert(known, v);
            }
            None => {
                let mut msg = format!(
                    "unknown key `{name}` in rule; expected one of: {}",
                    RULE_KEYS.join(", ")
                );
                if let Some(s) = suggest(name, RULE_KEYS) {
                    msg = format!("unknown key `{name}` in rule (did you mean `{s}`?)");
                }
                errors.push(file.error(k.span(), msg));
            }
        }
    }
    for req in REQUIRED_KEYS {
        if !fields.contains_key(req) {
            errors.push(file.error(
                header.clone(),
                format!("rule is missing required key `{req}`"),
            ));
        }
    }

    let string = |key: &str, errors: &mut RuleErrors| -> Option<StrField> {
        let v = fields.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(StrField {
                text: s.to_string(),
                span: v.span(),
            }),
            _ => {
                errors.push(type_error(file, key, "a string", v));
                None
            }
        }
    };

    let id = string("id", errors).and_then(|id| {
        let ok = if builtin {
            is_builtin_id(&id.text)
        } else {
            is_user_id(&id.text)
        };
        if ok {
            Some(id)
        } else {
            let want = if builtin {
                "dotted lowercase `<area>.<name>[.<problem>]` (letters, digits, `-`)"
            } else {
                "made of `a-z`, `0-9`, `.`, `_` and `-`"
            };
            errors.push(file.error(
                id.span.clone(),
                format!("invalid rule id `{}`: ids are {want}", id.text),
            ));
            None
        }
    });
    let nonempty = |f: Option<StrField>, key: &str, errors: &mut RuleErrors| {
        let f = f?;
        if f.text.trim().is_empty() {
            errors.push(file.error(f.span.clone(), format!("`{key}` must not be empty")));
            None
        } else {
            Some(f)
        }
    };
    let title = nonempty(string("title", errors), "title", errors);
    let severity = string("severity", errors).and_then(|s| match s.text.parse::<Severity>() {
        Ok(v) => Some(v),
        Err(msg) => {
            errors.push(file.error(s.span, msg));
            None
        }
    });
    let subject = string("subject", errors).and_then(|s| match s.text.parse::<Subject>() {
        Ok(v) => Some(v),
        Err(msg) => {
            errors.push(file.error(s.span, msg));
            None
        }
    });
    let when = nonempty(string("when", errors), "when", errors);
    let message = nonempty(string("message", errors), "message", errors);
    let remediation = string("remediation", errors);
    let help_uri = string("help_uri", errors).and_then(|u| {
        if (u.text.starts_with("https://") || u.text.starts_with("http://"))
            && !u.text.contains(char::is_whitespace)
        {
            Some(u.text)
        } else {
            errors.push(file.error(
                u.span,
                "`help_uri` must be an absolute http(s) URL without spaces",
            ));
            None
        }
    });
    let tags = match fields.get("tags") {
        None => Vec::new(),
        Some(v) => match v.get_ref() {
            DeValue::Array(items) => {
                let mut tags = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) if !s.trim().is_empty() => tags.push(s.to_string()),
                        DeValue::String(_) => {
                            errors.push(file.error(item.span(), "a tag must not be empty"))
                        }
                        _ => errors.push(type_error(file, "tags", "an array of strings", item)),
                    }
                }
                tags
            }
            _ => {
                errors.push(type_error(file, "tags", "an array of strings", v));
                Vec::new()
            }
        },
    };
    let params = match fields.get("params") {
        None => serde_json::Value::Object(Default::default()),
        Some(v) => match v.get_ref() {
            DeValue::Table(_) => match to_json(v) {
                Ok(j) => j,
                Err((span, msg)) => {
                    errors.push(file.error(span, msg));
                    serde_json::Value::Null
                }
            },
            _ => {
                errors.push(type_error(file, "params", "a table", v));
                serde_json::Value::Null
            }
        },
    };
    let enabled = match fields.get("enabled") {
        None => true,
        Some(v) => match v.get_ref() {
            DeValue::Boolean(b) => *b,
            _ => {
                errors.push(type_error(file, "enabled", "a boolean", v));
                true
            }
        },
    };

    // Expressions are compiled and checked even when another key of the rule is wrong, so
    // every problem shows up in one run; such a rule never reaches a RuleSet (loading fails).
    let complete = errors.len() == before && id.is_some() && title.is_some() && severity.is_some();
    let raw = match (subject, when, message) {
        (Some(subject), Some(when), Some(message)) => Some(RawRule {
            pack: file.index,
            id: id.as_ref().map(|i| i.text.clone()).unwrap_or_default(),
            title: title.map(|t| t.text).unwrap_or_default(),
            severity: severity.unwrap_or(Severity::Info),
            subject,
            when,
            message,
            remediation,
            help_uri,
            tags,
            params,
            enabled,
            complete,
        }),
        _ => None,
    };
    (id.map(|i| (i.text, i.span)), raw)
}

/// Built-in ids: `<area>.<name>[.<problem>]`, each part lowercase letters/digits with inner `-`.
pub(crate) fn is_builtin_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('-')
                && !p.ends_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// User ids: any non-empty `[a-z0-9._-]+`.
pub(crate) fn is_user_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// The closest known key, if it is close enough to be a typo.
fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A TOML value as JSON (the form params take in facts, overrides and CEL).
fn to_json(v: &Spanned<DeValue<'_>>) -> Result<serde_json::Value, (Range<usize>, String)> {
    use serde_json::Value as J;
    Ok(match v.get_ref() {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => J::from(n),
            Err(_) => return Err((v.span(), "integer out of range".into())),
        },
        DeValue::Float(f) => match f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => J::Number(n),
            None => return Err((v.span(), "params cannot hold inf or nan".into())),
        },
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(items) => J::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        DeValue::Table(t) => {
            let mut map = serde_json::Map::new();
            for (k, v) in t.iter() {
                map.insert(k.get_ref().to_string(), to_json(v)?);
            }
            J::Object(map)
        }
    })
}

/// Checks every override names a known rule, merges params into `raws`, and decides which
/// rules run. Returns `active` per raw rule.
fn apply_overrides(
    raws: &mut [RawRule],
    ids: &IdIndex,
    o: &RuleOverrides,
    errors: &mut RuleErrors,
) -> Vec<bool> {
    let unknown = |what: &str, id: &str, origin: &str| {
        RuleError::at_origin(origin, format!("{what} names unknown rule id `{id}`"))
    };
    for d in &o.disable {
        if !ids.contains_key(&d.value) {
            errors.push(unknown("`disable`", &d.value, d.origin_or("rules.disable")));
        }
    }
    for r in &o.only {
        if !ids.contains_key(&r.value) {
            errors.push(unknown("`--rule`", &r.value, r.origin_or("--rule")));
        }
    }
    for r in &o.skip {
        if !ids.contains_key(&r.value) {
            errors.push(unknown(
                "`--skip-rule`",
                &r.value,
                r.origin_or("--skip-rule"),
            ));
        }
    }
    for (id, s) in &o.severity {
        if !ids.contains_key(id) {
            errors.push(unknown(
                "severity override",
                id,
                s.origin_or("rules.severity"),
            ));
        }
    }
    for (id, p) in &o.params {
        if !ids.contains_key(id) {
            errors.push(unknown("params override", id, p.origin_or("rules.params")));
        }
    }
    let all_tags: BTreeSet<&str> = raws
        .iter()
        .flat_map(|r| r.tags.iter().map(String::as_str))
        .collect();
    for t in &o.tags {
        if !all_tags.contains(t.value.as_str()) {
            errors.push(RuleError::at_origin(
                t.origin_or("--tag"),
                format!(
                    "no rule has the tag `{}` (tags in use: {})",
                    t.value,
                    all_tags.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }

    for raw in raws.iter_mut() {
        if let Some(p) = o.params.get(&raw.id) {
            let origin = p.origin_or("rules.params");
            match merge_params(&mut raw.params, &p.value) {
                Ok(()) => {}
                Err(msg) => errors.push(RuleError::at_origin(
                    origin,
                    format!("params override for `{}`: {msg}", raw.id),
                )),
            }
        }
    }

    raws.iter()
        .map(|r| {
            let named = |list: &[At<String>]| list.iter().any(|x| x.value == r.id);
            if named(&o.skip) {
                return false;
            }
            if !o.only.is_empty() {
                return named(&o.only);
            }
            if !r.enabled || named(&o.disable) {
                return false;
            }
            o.tags.is_empty() || o.tags.iter().any(|t| r.tags.contains(&t.value))
        })
        .collect()
}

/// Merges `over` into the rule's `params`: top-level keys must exist with the same kind of
/// value; nested tables merge key by key (new keys allowed); anything else replaces.
fn merge_params(params: &mut serde_json::Value, over: &serde_json::Value) -> Result<(), String> {
    let serde_json::Value::Object(over) = over else {
        return Err("must be a table".into());
    };
    let serde_json::Value::Object(base) = params else {
        return Err("the rule's params are not a table".into());
    };
    let mut problems = Vec::new();
    for (k, v) in over {
        match base.get_mut(k) {
            None => {
                let known: Vec<&str> = base.keys().map(String::as_str).collect();
                problems.push(if known.is_empty() {
                    format!("the rule has no params (`{k}` given)")
                } else {
                    format!("the rule has no param `{k}` (params: {})", known.join(", "))
                });
            }
            Some(cur) if json_kind(cur) != json_kind(v) => problems.push(format!(
                "param `{k}` must be {}, found {}",
                json_kind(cur),
                json_kind(v)
            )),
            Some(cur) => deep_merge(cur, v),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn deep_merge(cur: &mut serde_json::Value, over: &serde_json::Value) {
    match (cur, over) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (cur, over) => *cur = over.clone(),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a table",
    }
}

/// Byte offset of a CEL parser position (1-based line, 1-based character column) in `src`.
fn cel_pos_offset(src: &str, pos: (isize, isize)) -> usize {
    let (line, col) = pos;
    if line < 1 {
        return 0;
    }
    let mut start = 0;
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            let skip = (col.max(1) - 1) as usize;
            return start
                + l.char_indices()
                    .nth(skip)
                    .map(|(b, _)| b)
                    .unwrap_or(l.len());
        }
        start += l.len();
    }
    src.len()
}

/// How the condition is named in messages (and told apart from placeholders).
const WHEN: &str = "`when`";

/// Whether the functions an expression calls exist in the CEL environment. The environment
/// does not list its functions, so each name is asked by evaluating a call of it without
/// arguments ([`super::schema::CallSite::probe`]): only a function that does not exist fails with
/// "undeclared reference" to its own name. Answers are kept per load.
pub(crate) struct FunctionCheck {
    env: Arc<cel::Env>,
    known: std::sync::Mutex<BTreeMap<String, bool>>,
}

impl FunctionCheck {
    pub(crate) fn new(env: Arc<cel::Env>) -> FunctionCheck {
        FunctionCheck {
            env,
            known: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn exists(&self, probe: &str, name: &str) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = known.get(probe) {
            return *k;
        }
        let exists = match self.env.compile(probe) {
            // A probe that does not parse says nothing: let the real expression's own
            // diagnostics speak.
            Err(_) => true,
            Ok(program) => {
                let ctx = cel::Context::with_env(self.env.clone());
                match program.execute(&ctx) {
                    Err(cel::ExecutionError::UndeclaredReference(n)) => {
                        let short = name.rsplit('.').next().unwrap_or(name);
                        n.as_str() != name
                            && n.as_str() != short
                            && !name.starts_with(&format!("{n}."))
                    }
                    _ => true,
                }
            }
        };
        known.insert(probe.to_string(), exists);
        exists
    }
}

/// Compiles one CEL expression found at `at` inside the decoded string `field`, reporting
/// syntax and field problems at their file positions.
#[allow(clippy::too_many_arguments)]
fn compile_expr(
    source: &str,
    at: usize,
    what: &str,
    map: &StrMap,
    file: &SourceFile<'_>,
    functions: &FunctionCheck,
    vars: &VarSchema,
    errors: &mut RuleErrors,
) -> Option<(cel::Program, BTreeSet<String>)> {
    let program = match functions.env.compile(source) {
        Ok(p) => p,
        Err(pe) => {
            for e in &pe.errors {
                let off = at + cel_pos_offset(source, e.pos);
                let span = map.file_span(off..off + 1);
                let msg = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
                errors.push(file.error(span, format!("CEL syntax error in {what}: {msg}")));
            }
            return None;
        }
    };
    let mut report = check_fields(program.expression(), vars);
    for call in &report.calls {
        if !functions.exists(&call.probe, &call.name) {
            let focus = call.name.rsplit('.').next().unwrap_or(&call.name);
            report.problems.push(FieldProblem {
                expr_id: call.expr_id,
                focus: focus.to_string(),
                message: format!(
                    "unknown function `{}`: not in CEL's standard library or its strings \
                     extension",
                    call.name
                ),
            });
        }
    }
    let mut problems = report.problems.len();
    if what == WHEN {
        if let Some(kind) = report.kind.filter(|k| *k != "bool") {
            // About the whole expression, so the whole expression is underlined.
            let span = map.file_span(at..at + source.len().max(1));
            errors.push(file.error(
                span,
                format!(
                    "a condition must be true or false, but this is a {kind}: compare it \
                     (for example `… == …` or `… in params.…`) (in {what})"
                ),
            ));
            problems += 1;
        }
    }
    for FieldProblem {
        expr_id,
        focus,
        message,
    } in &report.problems
    {
        let span = problem_span(&program, source, *expr_id, focus);
        let span = map.file_span(at + span.start..at + span.end);
        errors.push(file.error(span, format!("{message} (in {what})")));
    }
    if problems == 0 {
        Some((program, report.reads))
    } else {
        None
    }
}

/// Where in `source` a field problem points: the field name after a `.`, or the node.
fn problem_span(program: &cel::Program, source: &str, id: u64, focus: &str) -> Range<usize> {
    let Some((start, stop)) = program.source_info().offset_for(id) else {
        return 0..source.len().max(1);
    };
    let (start, stop) = (start as usize, (stop as usize + 1).min(source.len()));
    // A call's position is its `(`: the function's name is just before it.
    if !focus.is_empty() && source.get(start..).is_some_and(|s| s.starts_with('(')) {
        if let Some(i) = source.get(..start).and_then(|s| s.rfind(focus)) {
            return i..i + focus.len();
        }
    }
    if !focus.is_empty() {
        if let Some(i) = source.get(start..).and_then(|s| s.find(focus)) {
            return start + i..start + i + focus.len();
        }
    }
    start..stop.max(start + 1)
}

fn compile_template(
    field: &StrField,
    what: &str,
    file: &SourceFile<'_>,
    functions: &FunctionCheck,
    vars: &VarSchema,
    errors: &mut RuleErrors,
) -> Option<Vec<CompiledPiece>> {
    let map = StrMap::new(file.text, field.span.clone(), &field.text);
    let pieces = match parse_template(&field.text) {
        Ok(p) => p,
        Err(errs) => {
            for e in errs {
                errors.push(file.error(map.file_span(e.at), format!("{} (in {what})", e.message)));
            }
            return None;
        }
    };
    let mut out = Vec::new();
    let mut ok = true;
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push(CompiledPiece::Text(t)),
            Piece::Expr { source, at } => {
                match compile_expr(&source, at.start, what, &map, file, functions, vars, errors) {
                    Some((p, _)) => out.push(CompiledPiece::Expr(p)),
                    None => ok = false,
                }
            }
        }
    }
    ok.then_some(out)
}

/// A rule's compiled programs, or what it takes to compile them on first use.
pub(crate) struct Program {
    ready: OnceLock<Option<Compiled>>,
    deferred: Option<Box<Deferred>>,
}

/// A built-in rule as parsed, with its pack (name and text, shared by the pack's rules) and
/// the environment, for [`Program::get`].
struct Deferred {
    raw: RawRule,
    pack_name: String,
    text: Arc<str>,
    env: Arc<cel::Env>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("compiled", &self.ready.get().map(Option::is_some))
            .field("deferred", &self.deferred.is_some())
            .finish()
    }
}

impl Program {
    fn ready(compiled: Compiled) -> Program {
        Program {
            ready: OnceLock::from(Some(compiled)),
            deferred: None,
        }
    }

    /// The compiled programs, compiling a deferred rule the first time (once, whatever the
    /// number of threads asking). A failure is logged and the rule judges nothing.
    pub(crate) fn get(&self, id: &str) -> Option<&Compiled> {
        self.ready
            .get_or_init(|| {
                let d = self.deferred.as_ref()?;
                let file = SourceFile::new(d.pack_name.clone(), &d.text, 0);
                let functions = FunctionCheck::new(d.env.clone());
                let mut errors = RuleErrors::default();
                let compiled = compile_parts(&d.raw, &file, &functions, &mut errors);
                if !errors.is_empty() {
                    tracing::error!("built-in rule {id} does not compile:\n{errors}");
                }
                compiled.filter(|_| errors.is_empty())
            })
            .as_ref()
    }
}

/// Compiles a rule's condition and templates, reporting problems at their file positions.
fn compile_parts(
    raw: &RawRule,
    file: &SourceFile<'_>,
    functions: &FunctionCheck,
    errors: &mut RuleErrors,
) -> Option<Compiled> {
    let vars = VarSchema::new(raw.subject, &raw.params);
    let when_map = StrMap::new(file.text, raw.when.span.clone(), &raw.when.text);
    let when = compile_expr(
        &raw.when.text,
        0,
        WHEN,
        &when_map,
        file,
        functions,
        &vars,
        errors,
    );
    let message = compile_template(&raw.message, "`message`", file, functions, &vars, errors);
    let remediation = match &raw.remediation {
        Some(r) => compile_template(r, "`remediation`", file, functions, &vars, errors),
        None => Some(Vec::new()),
    };
    let ((when, reads), message, remediation) = (when?, message?, remediation?);
    Some(Compiled {
        when,
        message,
        remediation,
        params: Compiled::params_val(&raw.params),
        reads: reads.into_iter().collect(),
    })
}

/// The rule of `raw`: compiled now, or on first use when `defer` gives the environment and
/// the pack's text.
#[allow(clippy::too_many_arguments)]
fn compile_rule(
    raw: RawRule,
    severity: Severity,
    active: bool,
    defer: Option<(Arc<cel::Env>, Arc<str>)>,
    packs: &[PackText],
    files: &[SourceFile<'_>],
    functions: &FunctionCheck,
    errors: &mut RuleErrors,
) -> Option<Rule> {
    let program = match defer {
        Some((env, text)) if raw.complete => Program {
            ready: OnceLock::new(),
            deferred: Some(Box::new(Deferred {
                raw: raw.clone(),
                pack_name: packs[raw.pack].name.clone(),
                text,
                env,
            })),
        },
        _ => {
            let compiled = compile_parts(&raw, &files[raw.pack], functions, errors);
            if !raw.complete {
                return None;
            }
            Program::ready(compiled?)
        }
    };
    Some(Rule {
        id: raw.id,
        title: raw.title,
        severity,
        subject: raw.subject,
        when: raw.when.text,
        message: raw.message.text,
        remediation: raw.remediation.map(|r| r.text).unwrap_or_default(),
        help_uri: raw.help_uri,
        tags: raw.tags,
        trouble: Default::default(),
        program,
        params: raw.params,
        enabled: raw.enabled,
        active,
        pack: packs[raw.pack].name.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Loads user packs from strings (no built-ins).
    pub(crate) fn load_strs(
        packs: &[(&str, &str)],
        overrides: &RuleOverrides,
    ) -> Result<RuleSet, RuleErrors> {
        let packs = packs
            .iter()
            .map(|(name, text)| PackText {
                name: name.to_string(),
                text: text.to_string(),
                builtin: false,
            })
            .collect();
        build(packs, RuleErrors::default(), overrides)
    }

    fn errs(packs: &[(&str, &str)]) -> Vec<String> {
        match load_strs(packs, &RuleOverrides::default()) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.summaries(),
        }
    }

    /// The problems of `packs`, none when they load.
    fn problems(packs: &[(&str, &str)]) -> Vec<String> {
        load_strs(packs, &RuleOverrides::default())
            .err()
            .map(|e| e.summaries())
            .unwrap_or_default()
    }

    const GOOD: &str = r#"
[[rule]]
id = "corp.telnet"
title = "Telnet open"
severity = "high"
subject = "port"
when = "port.open && port.number in params.ports"
message = "{{ port.service }} on {{ endpoint }}"
params = { ports = [23] }
tags = ["security"]
"#;

    #[test]
    fn a_good_file_loads() {
        let rs = load_strs(&[("a.toml", GOOD)], &RuleOverrides::default()).unwrap();
        let r = rs.get("corp.telnet").unwrap();
        assert!(r.active && r.enabled);
        assert_eq!(r.reads(), ["port.number", "port.open"]);
        assert_eq!(rs.packs()[0].rules, 1);
        assert_eq!(
            rs.packs()[0].sha256,
            hex::encode(Sha256::digest(GOOD.as_bytes()))
        );
    }

    #[test]
    fn unknown_key_points_at_the_key() {
        let text = GOOD.replace("tags = ", "whne = \"x\"\ntags = ");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:10:1: unknown key `whne` in rule (did you mean `when`?)"]
        );
        let text = GOOD.replace("tags = ", "colour = 1\ntags = ");
        let e = errs(&[("a.toml", &text)]);
        assert!(
            e[0].starts_with(
                "a.toml:10:1: unknown key `colour` in rule; expected one of: id, title"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_top_level_key_and_wrong_shapes() {
        let e = errs(&[("a.toml", "version = 2\nrule = 3\n")]);
        assert_eq!(
            e,
            [
                "a.toml:1:1: unknown top-level key `version`: a rule file holds only `[[rule]]` tables",
                "a.toml:2:8: `rule` must be an array of tables (`[[rule]]`), found integer",
            ]
        );
    }

    #[test]
    fn missing_required_key_points_at_the_header() {
        let text = GOOD.replace("title = \"Telnet open\"\n", "");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:2:1: rule is missing required key `title`"]
        );
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let text = GOOD
            .replace("title = \"Telnet open\"", "title = 7")
            .replace(
                "tags = [\"security\"]",
                "tags = \"security\"\nenabled = \"yes\"",
            );
        assert_eq!(
            errs(&[("a.toml", &text)]),
            [
                "a.toml:4:9: `title` must be a string, found integer",
                "a.toml:10:8: `tags` must be an array of strings, found string",
                "a.toml:11:11: `enabled` must be a boolean, found string",
            ]
        );
    }

    #[test]
    fn bad_severity_subject_and_id() {
        let text = GOOD
            .replace("\"high\"", "\"severe\"")
            .replace("\"port\"", "\"smtp\"")
            .replace("corp.telnet", "Corp Telnet");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            [
                "a.toml:3:6: invalid rule id `Corp Telnet`: ids are made of `a-z`, `0-9`, `.`, `_` and `-`",
                "a.toml:5:12: unknown severity `severe` (expected critical, high, medium, low or info)",
                "a.toml:6:11: unknown subject `smtp` (expected port, tls, http or dns)",
            ]
        );
    }

    #[test]
    fn duplicate_ids_across_files_name_both_places() {
        let e = load_strs(
            &[("a.toml", GOOD), ("b.toml", GOOD)],
            &RuleOverrides::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.summaries(),
            ["b.toml:3:6: duplicate rule id `corp.telnet`"]
        );
        assert_eq!(
            e.errors[0].notes,
            ["`corp.telnet` is first defined at a.toml:3:6"]
        );
    }

    #[test]
    fn cel_syntax_errors_map_into_the_file() {
        let text = GOOD.replace(
            "\"port.open && port.number in params.ports\"",
            "\"port.open && \"",
        );
        let e = errs(&[("a.toml", &text)]);
        assert_eq!(e.len(), 1);
        // At the end of the expression: `when = "` is 8 columns, `port.open && ` 13 more.
        assert!(
            e[0].starts_with("a.toml:7:22: CEL syntax error in `when`: mismatched input '<EOF>'"),
            "{e:?}"
        );

        // In a multi-line literal string, on its second line.
        let text = GOOD.replace(
            "\"port.open && port.number in params.ports\"",
            "'''\nport.open &&\n  port.number +* 2 > 1'''",
        );
        let e = errs(&[("a.toml", &text)]);
        assert!(
            e[0].starts_with("a.toml:9:16: CEL syntax error in `when`: extraneous input '*'"),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_field_paths_and_variables_are_errors_with_positions() {
        let text = GOOD.replace("port.number in params.ports", "port.nmber in params.ports");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:7:27: unknown field `port.nmber`; `port` has: banner, number, open, service, service_source, state (in `when`)"]
        );
        let text = GOOD.replace("port.open && ", "prot.open && ");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:7:9: unknown variable `prot`; rules of subject `port` can read: endpoint, params, port, target (in `when`)"]
        );
        let text = GOOD.replace("params.ports\"", "params.portz\"");
        let e = errs(&[("a.toml", &text)]);
        assert_eq!(
            e,
            ["a.toml:7:44: unknown field `params.portz`; `params` has: ports (declare it in the rule's `params`) (in `when`)"]
        );
    }

    /// GOOD with its condition replaced.
    fn with_when(when: &str) -> String {
        GOOD.replace(
            "\"port.open && port.number in params.ports\"",
            &format!("{when:?}"),
        )
    }

    #[test]
    fn unknown_functions_are_errors_at_their_name() {
        // In a branch a dry run would skip, as a method, as a global, in a placeholder.
        let text = with_when("false && port.banner.lowerAsci() == 'x'");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:7:30: unknown function `lowerAsci`: not in CEL's standard library or its strings extension (in `when`)"]
        );
        let text = with_when("port.open && undefinedfn(port.number)");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:7:22: unknown function `undefinedfn`: not in CEL's standard library or its strings extension (in `when`)"]
        );
        let text = with_when("optional.off(1).hasValue()");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:7:18: unknown function `optional.off`: not in CEL's standard library or its strings extension (in `when`)"]
        );
        let text = GOOD.replace("{{ port.service }}", "{{ port.service.capitalize() }}");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:8:28: unknown function `capitalize`: not in CEL's standard library or its strings extension (in `message`)"]
        );
    }

    #[test]
    fn known_functions_macros_and_wrong_arguments_are_not_reported_as_unknown() {
        // A wrong argument list is a different mistake (found at evaluation): the name exists.
        for when in [
            "size(port.banner) > 0 && port.banner.size() > 0",
            "port.banner.lowerAscii().startsWith('ssh') || port.banner.upperAscii().endsWith('X')",
            "port.service.matches('^s') && matches(port.service, 's') && port.banner.contains('a')",
            "string(port.number) in ['22'] && int('1') == 1 && uint(1) == 1u && double(1) > 0.5",
            "port.banner.split(' ').exists(w, w.trim() == 'x') && ['a'].join(',') == 'a'",
            "port.banner.replace('a', 'b').substring(0).indexOf('c') >= port.banner.lastIndexOf('d')",
            "optional.of(1).hasValue() && optional.none().orValue(2) == 2",
            "[1, 2].map(x, x * 2).filter(x, x > 2).size() == 1 && [1].all(x, x > 0)",
            "[1].exists_one(x, x == 1) && has(port.banner) && type(port.number) == int",
            "size(1, 2, 3) == 0",
        ] {
            let text = with_when(when);
            assert_eq!(problems(&[("a.toml", &text)]), Vec::<String>::new(), "{when}");
        }
    }

    #[test]
    fn a_condition_that_is_surely_not_boolean_is_an_error() {
        let msg = |kind: &str| {
            format!("a condition must be true or false, but this is a {kind}: compare it (for example `… == …` or `… in params.…`) (in `when`)")
        };
        for (when, kind) in [
            ("port.number", "number"),
            ("port.banner", "string"),
            ("target.tags", "list"),
            ("target", "map"),
            ("'yes'", "string"),
            ("port.banner.lowerAscii()", "string"),
            ("size(port.banner)", "number"),
            ("port.number + 1", "number"),
            ("port.open ? 'yes' : 'no'", "string"),
            ("[1].map(x, x)", "list"),
            ("params.ports", "list"),
        ] {
            let text = with_when(when);
            assert_eq!(
                errs(&[("a.toml", &text)]),
                [format!("a.toml:7:9: {}", msg(kind))],
                "{when}"
            );
        }
        // Boolean, or not known before the facts are in: accepted.
        for when in [
            "has(port.banner)",
            "port.open ? has(port.banner) : has(target.owner)",
            "strings.quote(port.banner) != ''",
            "port.open",
            "true",
            "!port.open",
            "port.open ? port.number > 1 : false",
            "[1].exists(x, x == 1)",
            "params.ports[0] == 23",
            "port.open ? port.number : port.open",
        ] {
            let text = with_when(when);
            assert_eq!(
                problems(&[("a.toml", &text)]),
                Vec::<String>::new(),
                "{when}"
            );
        }
    }

    #[test]
    fn short_circuited_branches_are_checked_too() {
        let text = GOOD.replace(
            "\"port.open && port.number in params.ports\"",
            "\"false && port.nope\"",
        );
        let e = errs(&[("a.toml", &text)]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("a.toml:7:23: unknown field `port.nope`"),
            "{e:?}"
        );
    }

    #[test]
    fn has_index_and_scalar_fields_are_checked() {
        let e = errs(&[("a.toml", &GOOD.replace("port.open &&", "has(port.opne) &&"))]);
        assert!(
            e[0].starts_with("a.toml:7:18: unknown field `port.opne`"),
            "{e:?}"
        );
        let e = errs(&[(
            "a.toml",
            &GOOD.replace("port.open &&", "port['nmber'] == 1 &&"),
        )]);
        assert!(e[0].contains("unknown field `port.nmber`"), "{e:?}");
        let e = errs(&[(
            "a.toml",
            &GOOD.replace("port.open &&", "port.number.low == 1 &&"),
        )]);
        assert!(
            e[0].contains("`port.number` is a number and has no field `low`"),
            "{e:?}"
        );
        // Index operands are checked; the index itself may be any expression.
        let e = errs(&[(
            "a.toml",
            &GOOD.replace("port.open &&", "target.tagz[port.number] == 'x' &&"),
        )]);
        assert!(e[0].contains("unknown field `target.tagz`"), "{e:?}");
    }

    #[test]
    fn comprehension_variables_take_the_element_schema() {
        let ok = GOOD
            .replace(
                "\"port.open && port.number in params.ports\"",
                "\"params.items.exists(i, i.n == port.number) && target.tags.all(t, t != 'x')\"",
            )
            .replace("{ ports = [23] }", "{ items = [{ n = 23 }] }");
        load_strs(&[("a.toml", &ok)], &RuleOverrides::default()).unwrap();
        let bad = ok.replace("i.n ==", "i.m ==");
        let e = errs(&[("a.toml", &bad)]);
        assert!(
            e[0].contains("unknown field `m`; `this value` has: n"),
            "{e:?}"
        );
    }

    #[test]
    fn placeholders_are_compiled_and_checked_with_positions() {
        let text = GOOD.replace("{{ port.service }}", "{{ port.servce }}");
        assert_eq!(
            errs(&[("a.toml", &text)]),
            ["a.toml:8:20: unknown field `port.servce`; `port` has: banner, number, open, service, service_source, state (in `message`)"]
        );
        let text = GOOD.replace("{{ endpoint }}", "{{ endpoint");
        let e = errs(&[("a.toml", &text)]);
        assert_eq!(
            e,
            ["a.toml:8:34: unclosed `{{` placeholder (expected `}}`) (in `message`)"]
        );
    }

    #[test]
    fn subjects_without_samples_are_accepted_unchecked() {
        let text = GOOD
            .replace("\"port\"", "\"tls\"")
            .replace(
                "port.open && port.number in params.ports",
                "cert.days_left < 30",
            )
            .replace("{{ port.service }}", "{{ cert.subject }}");
        if SubjectFactsProbe::has_sample(Subject::Tls) {
            // Another branch added TLS facts: then the paths must be real. Nothing to assert.
            return;
        }
        load_strs(&[("a.toml", &text)], &RuleOverrides::default()).unwrap();
    }

    struct SubjectFactsProbe;
    impl SubjectFactsProbe {
        fn has_sample(s: Subject) -> bool {
            crate::fact::SubjectFacts::sample(s).is_some()
        }
    }

    #[test]
    fn every_problem_in_every_file_at_once() {
        let a = GOOD
            .replace("title = \"Telnet open\"\n", "")
            .replace("\"high\"", "\"hgh\"");
        let b = GOOD
            .replace("corp.telnet", "corp.telnet2")
            .replace("port.number", "port.nmber")
            .replace("{{ endpoint }}", "{{ endpont }}");
        let e =
            load_strs(&[("a.toml", &a), ("b.toml", &b)], &RuleOverrides::default()).unwrap_err();
        let s = e.summaries();
        assert_eq!(s.len(), 4, "{e}");
        assert!(s[0].starts_with("a.toml:2:1: rule is missing required key `title`"));
        assert!(s[1].starts_with("a.toml:4:12: unknown severity `hgh`"));
        assert!(s[2].starts_with("b.toml:7:27: unknown field `port.nmber`"));
        assert!(s[3].starts_with("b.toml:8:37: unknown variable `endpont`"));
        let rendered = e.to_string();
        assert!(
            rendered.contains("7 | when = \"port.open && port.nmber in params.ports\""),
            "{rendered}"
        );
        assert!(rendered.ends_with("4 problems in rule files"), "{rendered}");
    }

    #[test]
    fn toml_syntax_errors_are_positioned() {
        let e = errs(&[("a.toml", "[[rule]]\nid = \n")]);
        assert!(e[0].starts_with("a.toml:2:"), "{e:?}");
    }

    fn overrides() -> RuleOverrides {
        RuleOverrides::default()
    }

    const TWO: &str = r#"
[[rule]]
id = "a.one"
title = "One"
severity = "low"
subject = "port"
when = "port.open"
message = "m"
tags = ["x"]

[[rule]]
id = "a.two"
title = "Two"
severity = "low"
subject = "port"
when = "port.open && port.number in params.ports"
message = "m"
params = { ports = [1], advice = { a = "A" } }
tags = ["y"]
enabled = false
"#;

    fn active(rs: &RuleSet) -> Vec<&str> {
        rs.all()
            .iter()
            .filter(|r| r.active)
            .map(|r| r.id.as_str())
            .collect()
    }

    #[test]
    fn overrides_select_and_change_rules() {
        let rs = load_strs(&[("t.toml", TWO)], &overrides()).unwrap();
        assert_eq!(active(&rs), ["a.one"]);
        assert_eq!(rs.infos().len(), 1);

        let mut o = overrides();
        o.disable.push(At::new("a.one".into()));
        let rs = load_strs(&[("t.toml", TWO)], &o).unwrap();
        assert!(active(&rs).is_empty());

        let mut o = overrides();
        o.only.push(At::new("a.two".into()));
        let rs = load_strs(&[("t.toml", TWO)], &o).unwrap();
        assert_eq!(
            active(&rs),
            ["a.two"],
            "--rule runs a rule disabled in its file"
        );

        let mut o = overrides();
        o.only.push(At::new("a.two".into()));
        o.skip.push(At::new("a.two".into()));
        assert!(active(&load_strs(&[("t.toml", TWO)], &o).unwrap()).is_empty());

        let mut o = overrides();
        o.tags.push(At::new("y".into()));
        assert!(active(&load_strs(&[("t.toml", TWO)], &o).unwrap()).is_empty());
        o.tags.push(At::new("x".into()));
        assert_eq!(
            active(&load_strs(&[("t.toml", TWO)], &o).unwrap()),
            ["a.one"]
        );

        let mut o = overrides();
        o.severity
            .insert("a.one".into(), At::new(Severity::Critical));
        let rs = load_strs(&[("t.toml", TWO)], &o).unwrap();
        assert_eq!(rs.get("a.one").unwrap().severity, Severity::Critical);
    }

    #[test]
    fn params_overrides_merge_table_wise() {
        let mut o = overrides();
        o.params.insert(
            "a.two".into(),
            At::new(serde_json::json!({ "ports": [2, 3], "advice": { "b": "B" } })),
        );
        let rs = load_strs(&[("t.toml", TWO)], &o).unwrap();
        assert_eq!(
            rs.get("a.two").unwrap().params,
            serde_json::json!({ "ports": [2, 3], "advice": { "a": "A", "b": "B" } })
        );

        let mut o = overrides();
        o.params.insert(
            "a.two".into(),
            At::with_origin(
                serde_json::json!({ "port": [2], "advice": 3 }),
                "posture.toml:9:1",
            ),
        );
        let e = load_strs(&[("t.toml", TWO)], &o).unwrap_err();
        assert_eq!(
            e.summaries(),
            ["posture.toml:9:1: params override for `a.two`: param `advice` must be a table, found a number; the rule has no param `port` (params: advice, ports)"]
        );
    }

    #[test]
    fn overrides_naming_unknown_rules_are_errors_with_their_origin() {
        let mut o = overrides();
        o.disable
            .push(At::with_origin("a.three".into(), "posture.toml:4:12"));
        o.only.push(At::new("nope".into()));
        o.skip.push(At::with_origin("nope2".into(), "--skip-rule"));
        o.severity.insert(
            "zz".into(),
            At::with_origin(Severity::Info, "posture.toml:6:1"),
        );
        o.params.insert("yy".into(), At::new(serde_json::json!({})));
        o.tags.push(At::new("nothing".into()));
        let e = load_strs(&[("t.toml", TWO)], &o).unwrap_err();
        assert_eq!(
            e.summaries(),
            [
                "posture.toml:4:12: `disable` names unknown rule id `a.three`",
                "--rule: `--rule` names unknown rule id `nope`",
                "--skip-rule: `--skip-rule` names unknown rule id `nope2`",
                "posture.toml:6:1: severity override names unknown rule id `zz`",
                "rules.params: params override names unknown rule id `yy`",
                "--tag: no rule has the tag `nothing` (tags in use: x, y)",
            ]
        );
    }

    #[test]
    fn user_paths_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("a.toml"), TWO).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not rules").unwrap();
        let sources = RuleSources {
            builtin: false,
            paths: vec![At::new(dir.path().to_path_buf())],
            replace_identical: false,
        };
        let rs = RuleSet::load(&sources, &overrides()).unwrap();
        let names: Vec<String> = rs.packs().into_iter().map(|p| p.name).collect();
        assert_eq!(names.len(), 2);
        assert!(
            names[0].ends_with("a.toml") && names[1].ends_with("b.toml"),
            "{names:?}"
        );
        assert_eq!(rs.all().len(), 3);

        let missing = dir.path().join("nope.toml");
        let sources = RuleSources {
            builtin: true,
            paths: vec![At::with_origin(missing.clone(), "posture.toml:3:10")],
            replace_identical: false,
        };
        let e = RuleSet::load(&sources, &overrides()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e.summaries()[0].starts_with(&format!(
            "posture.toml:3:10: cannot read rule path `{}`",
            missing.display()
        )));
    }

    #[test]
    fn problems_in_other_keys_do_not_hide_expression_problems() {
        let a = GOOD
            .replace("title = \"Telnet open\"\n", "")
            .replace("port.number", "port.nmber")
            .replace("{{ endpoint }}", "{{ endpont }}");
        let e = load_strs(
            &[("a.toml", &a), ("b.toml", "[[rule]\nx=")],
            &RuleOverrides::default(),
        )
        .unwrap_err();
        let s = e.summaries();
        assert_eq!(s.len(), 4, "{e}");
        assert!(s[0].starts_with("a.toml:2:1: rule is missing required key `title`"));
        assert!(s[1].starts_with("a.toml:6:27: unknown field `port.nmber`"));
        assert!(s[2].starts_with("a.toml:7:37: unknown variable `endpont`"));
        assert!(s[3].starts_with("b.toml:1:8: TOML syntax: "), "{s:?}");
        let text = e.to_string();
        assert!(
            text.contains("6 | when = \"port.open && port.nmber in params.ports\"\n  |                           ^^^^^\n"),
            "{text}"
        );
    }

    #[test]
    fn strings_extension_is_available() {
        let text = GOOD.replace("port.open &&", "port.service.upperAscii() == 'TELNET' &&");
        load_strs(&[("a.toml", &text)], &RuleOverrides::default()).unwrap();
    }

    #[test]
    fn id_syntax() {
        assert!(is_builtin_id("port.risky-service"));
        assert!(is_builtin_id("tls.cert.expired"));
        assert!(!is_builtin_id("port"));
        assert!(!is_builtin_id("Port.x"));
        assert!(!is_builtin_id("port..x"));
        assert!(!is_builtin_id("port.x_y"));
        assert!(is_user_id("corp_1.x-y"));
        assert!(!is_user_id("corp x"));
        assert!(!is_user_id(""));
    }
}
