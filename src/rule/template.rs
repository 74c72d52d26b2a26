//! `{{ expr }}` message templates: text with CEL placeholders over the subject's facts.
//!
//! Placeholders are compiled once at load time and field-checked like `when`. At render time
//! an expression that fails (an absent fact, a missing map key) renders as the empty string:
//! a message must never turn an absent fact into an error. Each rendered placeholder is capped
//! at [`EVIDENCE_MAX_CHARS`] because its text may come from the server (banners, headers).

use crate::engine::limits::EVIDENCE_MAX_CHARS;
use std::ops::Range;

/// One piece of a template, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    /// A placeholder: the CEL source and its byte range inside the template string.
    Expr {
        source: String,
        at: Range<usize>,
    },
}

/// A template that could not be split into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    /// Byte range inside the template string.
    pub at: Range<usize>,
    pub message: String,
}

/// Splits `s` into text and placeholders. Reports every malformed placeholder.
pub(crate) fn parse_template(s: &str) -> Result<Vec<Piece>, Vec<TemplateError>> {
    let mut pieces = Vec::new();
    let mut errors = Vec::new();
    let mut rest = 0;
    while let Some(open) = s[rest..].find("{{").map(|i| rest + i) {
        if open > rest {
            pieces.push(Piece::Text(s[rest..open].to_string()));
        }
        let inner_start = open + 2;
        let Some(close) = s[inner_start..].find("}}").map(|i| inner_start + i) else {
            errors.push(TemplateError {
                at: open..open + 2,
                message: "unclosed `{{` placeholder (expected `}}`)".into(),
            });
            rest = s.len();
            break;
        };
        let raw = &s[inner_start..close];
        let lead = raw.len() - raw.trim_start().len();
        let source = raw.trim();
        if source.is_empty() {
            errors.push(TemplateError {
                at: open..close + 2,
                message: "empty `{{ }}` placeholder".into(),
            });
        } else {
            let start = inner_start + lead;
            pieces.push(Piece::Expr {
                source: source.to_string(),
                at: start..start + source.len(),
            });
        }
        rest = close + 2;
    }
    if rest < s.len() {
        pieces.push(Piece::Text(s[rest..].to_string()));
    }
    if errors.is_empty() {
        Ok(pieces)
    } else {
        Err(errors)
    }
}

/// Caps `s` at `max` characters, marking the cut with `…`.
pub(crate) fn cap_chars(s: String, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match s.char_indices().nth(max) {
        None => s,
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max - 1)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            let mut out = s[..keep].to_string();
            out.push('…');
            out
        }
    }
}

/// Renders a CEL value as text: strings raw, numbers plain, lists joined with `, `.
pub(crate) fn render_value(v: &cel::Value) -> String {
    use cel::Value;
    match v {
        Value::String(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::List(items) => items
            .iter()
            .map(render_value)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Map(m) => {
            let mut entries: Vec<(String, String)> = m
                .map
                .iter()
                .map(|(k, v)| (render_value(&cel::Value::from(k)), render_value(v)))
                .collect();
            entries.sort();
            entries
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::Timestamp(t) => t.to_rfc3339(),
        Value::Duration(d) => format!("{}s", d.num_seconds()),
        other => format!("{other:?}"),
    }
}

/// Renders a JSON fact value as text, by the same rules as [`render_value`].
/// A typed fact as evidence text: what [`render_json`] makes of the same fact's JSON form.
pub(crate) fn render_leaf(leaf: crate::fact::Leaf<'_>) -> String {
    use crate::fact::Leaf;
    match leaf {
        Leaf::Str(s) => s.to_string(),
        Leaf::Int(i) => i.to_string(),
        Leaf::Bool(b) => b.to_string(),
        Leaf::Strs(items) => items.join(", "),
    }
}

pub(crate) fn render_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                serde_json::Value::Object(_) => i.to_string(),
                _ => render_json(i),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Object(_) => v.to_string(),
    }
}

/// Caps a rendered placeholder or evidence value.
pub(crate) fn cap_evidence(s: String) -> String {
    cap_chars(s, EVIDENCE_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_placeholders_with_positions() {
        let s = "{{ port.service }} is exposed on {{endpoint}}.";
        let pieces = parse_template(s).unwrap();
        assert_eq!(pieces.len(), 4);
        match &pieces[0] {
            Piece::Expr { source, at } => {
                assert_eq!(source, "port.service");
                assert_eq!(&s[at.clone()], "port.service");
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(pieces[1], Piece::Text(" is exposed on ".into()));
        assert_eq!(pieces[3], Piece::Text(".".into()));
    }

    #[test]
    fn malformed_placeholders_are_all_reported() {
        let errs = parse_template("a {{ }} b {{ x").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].at, 2..7);
        assert_eq!(errs[1].at, 10..12);
    }

    #[test]
    fn caps_count_characters() {
        assert_eq!(cap_chars("abcdef".into(), 4), "abc…");
        assert_eq!(cap_chars("abcd".into(), 4), "abcd");
        assert_eq!(cap_chars("ééééé".into(), 3).chars().count(), 3);
    }

    #[test]
    fn values_render_plainly() {
        assert_eq!(render_value(&cel::Value::Int(3)), "3");
        assert_eq!(render_value(&cel::Value::Float(30.0)), "30");
        let l = cel::Value::List(std::sync::Arc::new(vec![
            cel::Value::from("a"),
            cel::Value::Int(1),
        ]));
        assert_eq!(render_value(&l), "a, 1");
        assert_eq!(render_json(&serde_json::json!(["x", 2])), "x, 2");
    }
}
