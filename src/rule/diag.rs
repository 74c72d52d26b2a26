//! Rule-file diagnostics: every problem with a `path:line:col`, rendered like rustc.
//!
//! Loading never stops at the first problem: each check pushes a [`RuleError`] and carries on,
//! and [`RuleErrors`] renders them all, in file order. Positions are 1-based; columns count
//! characters (not bytes), as editors do.
//!
//! TOML strings are decoded before the CEL parser sees them (escapes, line-ending backslashes,
//! the newline after `"""`), so a CEL position is an offset into the *decoded* string.
//! [`StrMap`] maps it back to a byte of the file by re-reading the raw string token.

use std::fmt;
use std::ops::Range;

/// One problem in a rule file or a rule override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file path (or pack name) the problem is in, or the origin of an override
    /// (`posture.toml:12:1`, `--rule`).
    pub origin: String,
    /// 1-based line and column in `origin`, when it is a file we read.
    pub pos: Option<(u32, u32)>,
    pub message: String,
    /// The source line and the caret under the offending text.
    pub snippet: Option<Snippet>,
    /// Extra lines (`note: first defined at …`).
    pub notes: Vec<String>,
    /// (source index, byte offset): keeps the report in file order.
    pub(crate) order: (usize, usize),
}

/// The line of source a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub line_text: String,
    /// 1-based column of the caret start (characters).
    pub col: u32,
    /// Caret length in characters (at least 1).
    pub len: u32,
}

impl RuleError {
    /// A problem that has no file position (e.g. an override given on the command line).
    pub fn at_origin(origin: impl Into<String>, message: impl Into<String>) -> RuleError {
        RuleError {
            origin: origin.into(),
            pos: None,
            message: message.into(),
            snippet: None,
            notes: Vec::new(),
            order: (usize::MAX, 0),
        }
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> RuleError {
        self.notes.push(note.into());
        self
    }

    /// `path:line:col` (or the bare origin when there is no position).
    pub fn location(&self) -> String {
        match self.pos {
            Some((l, c)) => format!("{}:{l}:{c}", self.origin),
            None => self.origin.clone(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let (Some(snip), Some((line, _))) = (&self.snippet, self.pos) {
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            write!(f, "\n{pad} |\n{line} | {}", snip.line_text)?;
            let before: String = snip
                .line_text
                .chars()
                .take(snip.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{pad} | {before}{}",
                "^".repeat(snip.len.max(1) as usize)
            )?;
        }
        for note in &self.notes {
            write!(f, "\n  = note: {note}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading rules. Rendered one after another, then a count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleErrors {
    pub errors: Vec<RuleError>,
}

impl RuleErrors {
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The first line of each error (`path:line:col: message`), for tests and terse output.
    pub fn summaries(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|e| format!("{}: {}", e.location(), e.message))
            .collect()
    }

    pub(crate) fn push(&mut self, e: RuleError) {
        self.errors.push(e);
    }

    /// File order: by source, then position; origin-only problems (overrides) last, in the
    /// order they were found.
    pub(crate) fn sort(&mut self) {
        self.errors.sort_by_key(|e| e.order);
    }
}

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}\n")?;
        }
        let n = self.errors.len();
        write!(
            f,
            "{n} problem{} in rule files",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for RuleErrors {}

/// A source file being loaded: its name, text, and where each line starts.
#[derive(Debug)]
pub(crate) struct SourceFile<'a> {
    pub name: String,
    pub text: &'a str,
    pub index: usize,
    line_starts: Vec<usize>,
}

impl<'a> SourceFile<'a> {
    pub fn new(name: String, text: &'a str, index: usize) -> SourceFile<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name,
            text,
            index,
            line_starts,
        }
    }

    /// 1-based (line, column in characters) of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let col = self.text[self.line_starts[line]..offset].chars().count() + 1;
        (to_u32(line + 1), to_u32(col))
    }

    fn line_text(&self, line0: usize) -> &str {
        let start = self.line_starts[line0];
        let end = self
            .line_starts
            .get(line0 + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }

    /// An error pointing at `span` (the caret covers the span's part on its first line).
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> RuleError {
        let (line, col) = self.line_col(span.start);
        let text = self.line_text(line as usize - 1);
        let end = floor_char_boundary(self.text, span.end.min(self.text.len()));
        let start = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let on_line = self.text[start..end.max(start)]
            .split('\n')
            .next()
            .unwrap_or("")
            .chars()
            .count();
        RuleError {
            origin: self.name.clone(),
            pos: Some((line, col)),
            message: message.into(),
            snippet: Some(Snippet {
                line_text: text.to_string(),
                col,
                len: to_u32(on_line.max(1)),
            }),
            notes: Vec::new(),
            order: (self.index, span.start),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Maps byte offsets in a decoded TOML string back to byte offsets in the file.
#[derive(Debug, Clone)]
pub(crate) struct StrMap {
    /// (decoded byte offset, file byte offset) for each decoded character, then the end.
    points: Vec<(usize, usize)>,
}

impl StrMap {
    /// Re-reads the raw string token at `span` of `file` and checks that it decodes to
    /// `decoded`. When it does not (a form we do not model), every offset maps to the start
    /// of the token: still the right line, and never a wrong column in a different place.
    pub fn new(file: &str, span: Range<usize>, decoded: &str) -> StrMap {
        let raw = file.get(span.clone()).unwrap_or("");
        match decode_toml_string(raw) {
            Some((text, mut points)) if text == decoded => {
                for p in &mut points {
                    p.1 += span.start;
                }
                StrMap { points }
            }
            _ => StrMap {
                points: vec![(0, span.start)],
            },
        }
    }

    /// The file offset of decoded byte `offset`.
    pub fn file_offset(&self, offset: usize) -> usize {
        match self.points.binary_search_by_key(&offset, |p| p.0) {
            Ok(i) => self.points[i].1,
            Err(0) => self.points[0].1,
            Err(i) => self.points[i - 1].1,
        }
    }

    /// A file span for the decoded range.
    pub fn file_span(&self, r: Range<usize>) -> Range<usize> {
        let start = self.file_offset(r.start);
        let end = self.file_offset(r.end).max(start);
        start..end
    }
}

/// Decodes a raw TOML string token (with its quotes), returning the text and, for every
/// decoded character, (decoded offset, raw offset), plus a final (len, raw end) point.
fn decode_toml_string(raw: &str) -> Option<(String, Vec<(usize, usize)>)> {
    let (quote, multi) = if raw.starts_with("\"\"\"") {
        ('"', true)
    } else if raw.starts_with("'''") {
        ('\'', true)
    } else if raw.starts_with('"') {
        ('"', false)
    } else if raw.starts_with('\'') {
        ('\'', false)
    } else {
        return None;
    };
    let q = if multi { 3 } else { 1 };
    if raw.len() < 2 * q {
        return None;
    }
    let mut start = q;
    let end = raw.len() - q;
    if multi {
        if raw[start..].starts_with("\r\n") {
            start += 2;
        } else if raw[start..].starts_with('\n') {
            start += 1;
        }
    }
    let body = raw.get(start..end.max(start))?;
    let mut out = String::new();
    let mut points = Vec::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = start + i;
        if quote == '\'' || c != '\\' {
            points.push((out.len(), at));
            out.push(c);
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            '"' => '"',
            '\\' => '\\',
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut hex = String::new();
                for _ in 0..n {
                    hex.push(chars.next()?.1);
                }
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            w if multi && w.is_whitespace() => {
                // Line-ending backslash: skip all whitespace and newlines that follow.
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_whitespace() {
                        chars.next();
                    } else {
                        break;
                    }
                }
                continue;
            }
            _ => return None,
        };
        points.push((out.len(), at));
        out.push(decoded);
    }
    points.push((out.len(), end));
    Some((out, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("a.toml".into(), "ab\nçd = 1\n", 0);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // `d` is after a two-byte character: column 2.
        assert_eq!(f.line_col(5), (2, 2));
    }

    #[test]
    fn rendering_has_location_source_line_and_caret() {
        let f = SourceFile::new("r.toml".into(), "[[rule]]\nwhne = 1\n", 0);
        let e = f.error(9..13, "unknown key `whne`");
        let s = e.to_string();
        assert!(s.starts_with("r.toml:2:1: unknown key `whne`"), "{s}");
        assert!(s.contains("2 | whne = 1"), "{s}");
        assert!(s.contains("  | ^^^^"), "{s}");
    }

    #[test]
    fn string_map_follows_escapes_and_multiline_strings() {
        let file = r#"when = "a \"b\" c""#;
        let span = 7..file.len();
        let m = StrMap::new(file, span, "a \"b\" c");
        // decoded `c` is at 6; in the file it is at 7 + 9.
        assert_eq!(&file[m.file_offset(6)..m.file_offset(6) + 1], "c");

        let file = "when = \"\"\"\nport.open &&\n  port.nope\"\"\"";
        let start = 7;
        let decoded = "port.open &&\n  port.nope";
        let m = StrMap::new(file, start..file.len(), decoded);
        let at = decoded.find("nope").unwrap();
        assert_eq!(&file[m.file_offset(at)..m.file_offset(at) + 4], "nope");

        let file = "x = '''\nliteral \\n here'''";
        let m = StrMap::new(file, 4..file.len(), "literal \\n here");
        assert_eq!(&file[m.file_offset(8)..m.file_offset(8) + 2], "\\n");
    }

    #[test]
    fn unknown_string_forms_map_to_the_token_start() {
        let m = StrMap::new("x = 12", 4..6, "something else");
        assert_eq!(m.file_offset(5), 4);
    }
}
