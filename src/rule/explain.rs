//! `posture rules list` and `posture rules explain`: text the CLI prints.
//!
//! `explain` runs the rule on its subject's sample facts, so an author sees the variables a
//! rule can read and what the rule makes of a fully populated example.

use super::eval::judge;
use super::{Rule, RuleSet};
use crate::fact::SubjectFacts;
use crate::finding::Location;
use std::fmt::Write;

/// An aligned table of every loaded rule: id, severity, subject, title, pack.
pub fn render_list(rules: &RuleSet) -> String {
    let header = ["ID", "SEVERITY", "SUBJECT", "TITLE", "PACK"];
    let rows: Vec<[String; 5]> = rules
        .all()
        .iter()
        .map(|r| {
            let title = if r.active {
                r.title.clone()
            } else {
                format!("{} (disabled)", r.title)
            };
            [
                r.id.clone(),
                r.severity.to_string(),
                r.subject.to_string(),
                title,
                r.pack.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == cells.len() - 1 {
                s.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let active = rules.active_len();
    let _ = writeln!(
        out,
        "{} rules ({active} active) from {} pack{}",
        rules.all().len(),
        rules.packs().len(),
        if rules.packs().len() == 1 { "" } else { "s" }
    );
    out
}

/// Everything about one rule, and what it makes of its subject's sample facts.
pub fn explain(rules: &RuleSet, id: &str) -> Option<String> {
    let rule = rules.get(id)?;
    Some(explain_rule(rules, rule))
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn explain_rule(rules: &RuleSet, rule: &Rule) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", rule.id, rule.title);
    let _ = writeln!(out, "  pack:        {}", rule.pack);
    let _ = writeln!(out, "  severity:    {}", rule.severity);
    let _ = writeln!(out, "  subject:     {}", rule.subject);
    let state = match (rule.active, rule.enabled) {
        (true, _) => "active",
        (false, true) => "inactive in this configuration",
        (false, false) => "disabled (enabled = false)",
    };
    let _ = writeln!(out, "  status:      {state}");
    let _ = writeln!(out, "  tags:        {}", rule.tags.join(", "));
    if let Some(u) = &rule.help_uri {
        let _ = writeln!(out, "  help:        {u}");
    }
    let _ = writeln!(out, "  when:\n{}", indent(rule.when.trim()));
    let _ = writeln!(out, "  message:\n{}", indent(rule.message.trim()));
    if !rule.remediation.is_empty() {
        let _ = writeln!(out, "  remediation:\n{}", indent(rule.remediation.trim()));
    }
    if rule.params.as_object().is_some_and(|m| !m.is_empty()) {
        let pretty = serde_json::to_string_pretty(&rule.params).unwrap_or_default();
        let _ = writeln!(out, "  params:\n{}", indent(&pretty));
    }
    let _ = writeln!(out, "  reads:       {}", rule.reads().join(", "));

    let Some(sample) = SubjectFacts::sample(rule.subject) else {
        let _ = writeln!(
            out,
            "\nexample: subject `{}` has no sample facts in this build",
            rule.subject
        );
        return out;
    };
    let vars = sample.variables();
    let pretty = serde_json::to_string_pretty(&vars).unwrap_or_default();
    let _ = writeln!(
        out,
        "\nexample: the sample `{}` facts\n{}",
        rule.subject,
        indent(&pretty)
    );
    let resolver = super::eval::FactResolver::new(&sample);
    let root = super::eval::fact_context(rules.env(), &resolver);
    let location = Location {
        uri: "sample".into(),
        line: None,
    };
    match judge(rule, &root, &resolver, &|| location.clone()) {
        Some(f) => {
            let _ = writeln!(out, "  result: MATCH ({})", f.severity);
            let _ = writeln!(out, "  message: {}", f.message);
            if !f.remediation.is_empty() {
                let _ = writeln!(out, "  remediation: {}", f.remediation);
            }
            for (k, v) in &f.evidence {
                let _ = writeln!(out, "  evidence {k} = {v}");
            }
        }
        None => {
            let _ = writeln!(out, "  result: no match");
        }
    }
    out
}
