//! The JSON report (the [`ScanOutcome`] itself) and its JSON Lines stream form.
//!
//! The JSON document is the source every other format can be rebuilt from (`posture report`),
//! so writing and reading are both here and round-trip exactly. JSON Lines is for log pipelines
//! and the collector's `.partial` file: one self-describing object per line, `type` first, so a
//! consumer can filter with `jq 'select(.type=="finding")'` without loading the whole scan.

use super::atomic::write_atomic_with;
use super::ReportError;
use crate::outcome::{ScanOutcome, SCHEMA_VERSION};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// Writes `outcome` as pretty JSON (with a final newline) to `path`, atomically; `-` is stdout.
pub fn write_json(path: &Path, outcome: &ScanOutcome) -> Result<(), ReportError> {
    write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, outcome).map_err(io::Error::from)?;
        w.write_all(b"\n")
    })
    .map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `outcome` as JSON Lines to `path`, atomically; `-` is stdout.
pub fn write_jsonl_file(path: &Path, outcome: &ScanOutcome) -> Result<(), ReportError> {
    write_atomic_with(path, |w| write_jsonl(w, outcome)).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a JSON report written by [`write_json`]. Errors name the file, and the line and
/// column for malformed content; a report of another major schema version is refused rather
/// than misread.
pub fn read_json(path: &Path) -> Result<ScanOutcome, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_json(path, &bytes)
}

/// Parses report bytes; `path` only names the source in errors.
pub fn parse_json(path: &Path, bytes: &[u8]) -> Result<ScanOutcome, ReportError> {
    let parse_err = |e: serde_json::Error| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // Check the version before the shape: a future format should say "newer version", not
    // "missing field".
    #[derive(serde::Deserialize)]
    struct Versioned {
        schema_version: Option<String>,
    }
    let v: Versioned = serde_json::from_slice(bytes).map_err(parse_err)?;
    if let Some(found) = v.schema_version {
        if major(&found) != major(SCHEMA_VERSION) {
            return Err(ReportError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                supported: major(SCHEMA_VERSION).to_string(),
            });
        }
    }
    serde_json::from_slice(bytes).map_err(parse_err)
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// One JSON Lines record: `{"type": …, <fields of the item>}`.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

/// The scan header line: everything but the per-item lists.
#[derive(Serialize)]
struct Header<'a> {
    schema_version: &'a str,
    tool: &'a crate::outcome::ToolInfo,
    scan: &'a crate::outcome::ScanMeta,
    complete: bool,
    rules: &'a [crate::outcome::RuleInfo],
}

/// Streams `outcome` as JSON Lines: a `scan` header (schema version, tool, scan metadata,
/// rules), then one `finding` line per finding, one `subject` line per subject and one
/// `incomplete` line per endpoint that could not be assessed.
pub fn write_jsonl<W: Write>(w: &mut W, outcome: &ScanOutcome) -> io::Result<()> {
    let header = Header {
        schema_version: &outcome.schema_version,
        tool: &outcome.tool,
        scan: &outcome.scan,
        complete: outcome.is_complete(),
        rules: &outcome.rules,
    };
    write_line(w, "scan", &header)?;
    for f in &outcome.findings {
        write_line(w, "finding", f)?;
    }
    for s in &outcome.subjects {
        write_line(w, "subject", s)?;
    }
    for i in &outcome.incomplete {
        write_line(w, "incomplete", i)?;
    }
    Ok(())
}

fn write_line<W: Write, T: Serialize>(w: &mut W, kind: &'static str, item: &T) -> io::Result<()> {
    // serde_json never emits a raw newline inside a compact value (strings escape it), so one
    // value is exactly one line.
    serde_json::to_writer(&mut *w, &Line { kind, item }).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use serde_json::Value;

    #[test]
    fn json_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.json");
        let outcome = testdata::sample();
        write_json(&path, &outcome).unwrap();
        let back = read_json(&path).unwrap();
        // ScanOutcome has no PartialEq; compare the serialised forms, which are the contract.
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&outcome).unwrap()
        );
        assert_eq!(back.findings, outcome.findings);
        assert_eq!(back.subjects, outcome.subjects);
        assert_eq!(back.incomplete, outcome.incomplete);
        assert_eq!(back.rules, outcome.rules);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": \"1.0\""));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn read_errors_name_the_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{\n  \"schema_version\": \"1.0\",\n  \"tool\": 7\n}").unwrap();
        let err = read_json(&path).unwrap_err();
        match &err {
            ReportError::Parse { line, .. } => assert_eq!(*line, 3),
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("broken.json"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");

        let missing = dir.path().join("nope.json");
        let msg = read_json(&missing).unwrap_err().to_string();
        assert!(msg.contains("nope.json"), "{msg}");

        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            read_json(&path),
            Err(ReportError::Parse { line: 1, .. })
        ));
    }

    #[test]
    fn other_major_schema_version_is_refused() {
        let mut v = serde_json::to_value(testdata::sample()).unwrap();
        v["schema_version"] = "2.0".into();
        let bytes = serde_json::to_vec(&v).unwrap();
        let err = parse_json(Path::new("future.json"), &bytes).unwrap_err();
        assert!(matches!(err, ReportError::SchemaVersion { .. }), "{err}");
        assert!(err.to_string().contains("2.0"));
        v["schema_version"] = "1.7".into();
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(parse_json(Path::new("minor.json"), &bytes).is_ok());
    }

    #[test]
    fn write_into_missing_directory_fails_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/scan.json");
        let err = write_json(&path, &testdata::sample()).unwrap_err();
        assert!(matches!(err, ReportError::Write { .. }));
        assert!(!err.is_broken_pipe());
        assert!(err.to_string().contains("missing/scan.json"), "{err}");
    }

    #[test]
    fn jsonl_has_typed_lines_in_order() {
        let outcome = testdata::sample();
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &outcome).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines.len(),
            1 + outcome.findings.len() + outcome.subjects.len() + outcome.incomplete.len()
        );
        // `type` is the first key of every line.
        for l in text.lines() {
            assert!(l.starts_with("{\"type\":\""), "{l}");
        }
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "scan",
                "finding",
                "finding",
                "finding",
                "finding",
                "subject",
                "subject",
                "subject",
                "incomplete"
            ]
        );
        assert_eq!(lines[0]["schema_version"], "1.0");
        assert_eq!(lines[0]["complete"], false);
        assert_eq!(lines[0]["scan"]["automation_id"], "posture/nightly/");
        assert_eq!(lines[0]["rules"].as_array().unwrap().len(), 4);
        assert_eq!(lines[1]["rule_id"], "port.risky-service");
        assert_eq!(lines[1]["fingerprint"], outcome.findings[0].fingerprint);
        assert_eq!(lines[5]["subject"], "port");
        assert_eq!(lines[5]["port"]["number"], 23);
        assert_eq!(lines[8]["stage"], "tls");
        // A finding line is the finding plus `type`: it deserialises back unchanged.
        let mut f = lines[1].clone();
        f.as_object_mut().unwrap().remove("type");
        let back: crate::finding::Finding = serde_json::from_value(f).unwrap();
        assert_eq!(back, outcome.findings[0]);
    }

    #[test]
    fn jsonl_file_of_empty_scan_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.jsonl");
        write_jsonl_file(&path, &testdata::empty()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["type"], "scan");
        assert_eq!(v["complete"], true);
    }
}
