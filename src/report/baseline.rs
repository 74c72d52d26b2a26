//! Baselines: what changed since a previous scan, by finding fingerprint.
//!
//! A baseline is a previous result, as posture JSON (`--json`) or SARIF (`--sarif`): the nightly
//! job keeps last night's file and passes it to tonight's scan. Findings are matched by their
//! fingerprint (rule, host, port, item key; no dates), which is what SARIF `partialFingerprints`
//! carries, so both formats give the same answer:
//!
//! * `new`: the fingerprint is not in the baseline;
//! * `unchanged`: it is, with the same severity;
//! * `updated`: it is, with another severity (a rule or `[rules] severity` change);
//! * `absent`: in the baseline, not found now (fixed, or no longer scanned).
//!
//! SARIF results the baseline itself marked `absent` are not part of that scan and are skipped,
//! so a chain of nightly SARIF files does not resurrect old findings.

use super::sarif::FINGERPRINT_KEY;
use super::ReportError;
use crate::finding::{Finding, Location, Severity, Subject, SuppressionInfo};
use crate::outcome::{BaselineChange, BaselineComparison, BaselineState, ScanOutcome};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Largest baseline file read: a SARIF file of GitHub's 25,000-result cap with evidence is
/// tens of MiB; a gigabyte is a mistake.
pub const MAX_BASELINE_BYTES: u64 = 512 * 1024 * 1024;

/// The findings of a previous scan, from its JSON or SARIF file.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The file as given, for reports.
    pub source: String,
    /// When that scan started, when the file says.
    pub started_at: Option<String>,
    pub findings: Vec<Finding>,
}

/// Reads a baseline file: posture JSON or SARIF, told apart by content.
pub fn read_baseline(path: &Path) -> Result<Baseline, ReportError> {
    let read_err = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_BASELINE_BYTES {
        return Err(ReportError::Baseline {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_BASELINE_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    parse_baseline(path, &bytes)
}

/// Parses baseline bytes; `path` names the source in errors and in reports.
pub fn parse_baseline(path: &Path, bytes: &[u8]) -> Result<Baseline, ReportError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let source = path.display().to_string();
    if value.get("runs").is_some() {
        let (findings, started_at) =
            findings_from_sarif(&value).map_err(|message| ReportError::Baseline {
                path: path.to_path_buf(),
                message,
            })?;
        return Ok(Baseline {
            source,
            started_at,
            findings,
        });
    }
    let outcome = super::json::parse_json(path, bytes)?;
    Ok(Baseline {
        source,
        started_at: Some(outcome.scan.started_at),
        findings: outcome.findings,
    })
}

/// The findings of a posture SARIF log (every run), rebuilt from results: rule, fingerprint,
/// severity and the endpoint properties posture writes. Results without our fingerprint are
/// refused: matching them by anything else would make every finding "new".
pub fn findings_from_sarif(log: &Value) -> Result<(Vec<Finding>, Option<String>), String> {
    let runs = log["runs"]
        .as_array()
        .ok_or_else(|| "`runs` is not an array".to_string())?;
    let mut findings = Vec::new();
    let mut started_at = None;
    for (ri, run) in runs.iter().enumerate() {
        if started_at.is_none() {
            started_at = run["invocations"][0]["startTimeUtc"]
                .as_str()
                .map(str::to_string);
        }
        // Rule titles, for the findings' titles.
        let mut titles: HashMap<&str, &str> = HashMap::new();
        if let Some(rules) = run["tool"]["driver"]["rules"].as_array() {
            for r in rules {
                if let (Some(id), Some(t)) =
                    (r["id"].as_str(), r["shortDescription"]["text"].as_str())
                {
                    titles.insert(id, t);
                }
            }
        }
        let results = match run.get("results") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(format!("runs[{ri}].results is not an array")),
        };
        for (i, r) in results.iter().enumerate() {
            if r["baselineState"].as_str() == Some("absent") {
                continue;
            }
            let at = || format!("runs[{ri}].results[{i}]");
            let rule_id = r["ruleId"]
                .as_str()
                .ok_or_else(|| format!("{}: no ruleId", at()))?;
            let fingerprint = r["partialFingerprints"][FINGERPRINT_KEY]
                .as_str()
                .ok_or_else(|| {
                    format!(
                        "{}: no partialFingerprints.\"{FINGERPRINT_KEY}\" (not a posture SARIF file?)",
                        at()
                    )
                })?;
            let p = &r["properties"];
            let severity = p["severity"]
                .as_str()
                .and_then(|s| s.parse::<Severity>().ok())
                .or_else(|| severity_of_level(r["level"].as_str()))
                .unwrap_or(Severity::Info);
            let subject = p["subject"]
                .as_str()
                .and_then(|s| s.parse::<Subject>().ok())
                .unwrap_or(Subject::Port);
            let loc = &r["locations"][0]["physicalLocation"];
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let evidence: BTreeMap<String, String> = p["evidence"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let suppressed = r["suppressions"]
                .as_array()
                .and_then(|s| s.first())
                .map(|s| SuppressionInfo {
                    reason: s["justification"].as_str().unwrap_or_default().to_string(),
                    expires: s["properties"]["expires"].as_str().map(str::to_string),
                    declared_at: s["properties"]["declared_at"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                });
            findings.push(Finding {
                rule_id: rule_id.to_string(),
                title: titles.get(rule_id).copied().unwrap_or(rule_id).to_string(),
                severity,
                subject,
                endpoint: p["endpoint"].as_str().unwrap_or_default().to_string(),
                host: p["host"].as_str().unwrap_or_default().to_string(),
                ip: p["ip"].as_str().map(str::to_string),
                port: p["port"].as_u64().and_then(|n| u16::try_from(n).ok()),
                item_key: None,
                message: r["message"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                remediation: p["remediation"].as_str().unwrap_or_default().to_string(),
                help_uri: None,
                tags: strings(&p["tags"]),
                target_tags: strings(&p["target_tags"]),
                owner: p["owner"].as_str().map(str::to_string),
                evidence,
                location: Location {
                    uri: loc["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    line: loc["region"]["startLine"]
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok()),
                },
                fingerprint: fingerprint.to_string(),
                suppressed,
            });
        }
    }
    Ok((findings, started_at))
}

/// The most likely severity of a SARIF level, for results written without our properties.
fn severity_of_level(level: Option<&str>) -> Option<Severity> {
    match level? {
        "error" => Some(Severity::High),
        "warning" => Some(Severity::Medium),
        "note" => Some(Severity::Low),
        _ => None,
    }
}

/// Compares `current` findings with the baseline's, by fingerprint.
pub fn compare(baseline: &Baseline, current: &[Finding]) -> BaselineComparison {
    let mut before: HashMap<&str, Severity> = HashMap::new();
    for f in &baseline.findings {
        before.entry(f.fingerprint.as_str()).or_insert(f.severity);
    }
    let mut states = BTreeMap::new();
    for f in current {
        let change = match before.get(f.fingerprint.as_str()) {
            None => BaselineChange {
                state: BaselineState::New,
                previous_severity: None,
            },
            Some(prev) if *prev == f.severity => BaselineChange {
                state: BaselineState::Unchanged,
                previous_severity: None,
            },
            Some(prev) => BaselineChange {
                state: BaselineState::Updated,
                previous_severity: Some(*prev),
            },
        };
        states.entry(f.fingerprint.clone()).or_insert(change);
    }
    let mut seen = std::collections::HashSet::new();
    let fixed = baseline
        .findings
        .iter()
        .filter(|f| !states.contains_key(&f.fingerprint) && seen.insert(f.fingerprint.as_str()))
        .cloned()
        .collect();
    BaselineComparison {
        source: baseline.source.clone(),
        started_at: baseline.started_at.clone(),
        states,
        fixed,
    }
}

/// Records the comparison with `baseline` in `outcome` (replacing any earlier one).
pub fn apply_baseline(outcome: &mut ScanOutcome, baseline: &Baseline) {
    outcome.baseline = Some(compare(baseline, &outcome.findings));
}

/// Findings of `outcome` in `state` (all of them for `New` when there is no baseline: with
/// nothing to compare against, everything is new).
pub fn findings_in_state(outcome: &ScanOutcome, state: BaselineState) -> Vec<&Finding> {
    if state == BaselineState::Absent {
        return outcome
            .baseline
            .as_ref()
            .map(|b| b.fixed.iter().collect())
            .unwrap_or_default();
    }
    outcome
        .findings
        .iter()
        .filter(|f| outcome.baseline_state(f).unwrap_or(BaselineState::New) == state)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn baseline_of(findings: Vec<Finding>) -> Baseline {
        Baseline {
            source: "prev.json".into(),
            started_at: Some("2025-01-01T03:04:05Z".into()),
            findings,
        }
    }

    /// The four states: one finding each of unchanged, updated, new, and one absent.
    fn changed() -> (Baseline, ScanOutcome) {
        let now = testdata::sample();
        let mut before = now.findings.clone();
        // [0] critical stays → unchanged; [1] high was medium → updated;
        // [2] medium was not there → new; [3] info stays; an extra one disappears → absent.
        before[1].severity = Severity::Medium;
        before.remove(2);
        let mut gone = now.findings[3].clone();
        gone.rule_id = "port.gone".into();
        gone.fingerprint = crate::finding::fingerprint("port.gone", "10.0.0.5", Some(21), None);
        before.push(gone);
        (baseline_of(before), now)
    }

    #[test]
    fn compare_sets_new_unchanged_updated_and_absent() {
        let (base, mut now) = changed();
        apply_baseline(&mut now, &base);
        let states: Vec<_> = now
            .findings
            .iter()
            .map(|f| now.baseline_state(f).unwrap())
            .collect();
        assert_eq!(
            states,
            [
                BaselineState::Unchanged,
                BaselineState::Updated,
                BaselineState::New,
                BaselineState::Unchanged
            ]
        );
        assert_eq!(
            now.previous_severity(&now.findings[1]),
            Some(Severity::Medium)
        );
        assert_eq!(now.previous_severity(&now.findings[0]), None);
        let b = now.baseline.as_ref().unwrap();
        assert_eq!(b.fixed.len(), 1);
        assert_eq!(b.fixed[0].rule_id, "port.gone");
        assert_eq!(b.count(&now.findings, BaselineState::New), 1);
        assert_eq!(b.count(&now.findings, BaselineState::Unchanged), 2);
        assert_eq!(b.count(&now.findings, BaselineState::Updated), 1);
        assert_eq!(b.count(&now.findings, BaselineState::Absent), 1);
        assert_eq!(findings_in_state(&now, BaselineState::New).len(), 1);
        assert_eq!(findings_in_state(&now, BaselineState::Absent).len(), 1);
    }

    #[test]
    fn no_baseline_means_no_state_and_everything_new_for_gating() {
        let now = testdata::sample();
        assert_eq!(now.baseline_state(&now.findings[0]), None);
        assert_eq!(findings_in_state(&now, BaselineState::New).len(), 4);
        assert!(findings_in_state(&now, BaselineState::Absent).is_empty());
    }

    #[test]
    fn identical_scans_have_nothing_new_or_fixed() {
        let mut now = testdata::sample();
        let base = baseline_of(now.findings.clone());
        apply_baseline(&mut now, &base);
        let b = now.baseline.as_ref().unwrap();
        assert!(b.fixed.is_empty());
        assert_eq!(b.count(&now.findings, BaselineState::New), 0);
        assert_eq!(b.count(&now.findings, BaselineState::Unchanged), 4);
    }

    #[test]
    fn json_and_sarif_baselines_give_the_same_answer() {
        let (base, now) = changed();
        let mut prev = testdata::sample();
        prev.findings = base.findings.clone();
        // One result of the previous SARIF was itself absent: it must not count.
        let json_bytes = serde_json::to_vec(&prev).unwrap();
        let from_json = parse_baseline(Path::new("prev.json"), &json_bytes).unwrap();
        let mut sarif = crate::report::sarif::to_sarif_value(&prev);
        let mut ghost = sarif["runs"][0]["results"][0].clone();
        ghost["baselineState"] = "absent".into();
        ghost["partialFingerprints"][FINGERPRINT_KEY] = "f".repeat(64).into();
        sarif["runs"][0]["results"]
            .as_array_mut()
            .unwrap()
            .push(ghost);
        let sarif_bytes = serde_json::to_vec(&sarif).unwrap();
        let from_sarif = parse_baseline(Path::new("prev.sarif"), &sarif_bytes).unwrap();
        assert_eq!(from_sarif.findings.len(), prev.findings.len());
        assert_eq!(
            from_json.started_at.as_deref(),
            Some("2025-01-02T03:04:05Z")
        );
        assert_eq!(
            from_sarif.started_at.as_deref(),
            Some("2025-01-02T03:04:05Z")
        );
        let a = compare(&from_json, &now.findings);
        let b = compare(&from_sarif, &now.findings);
        assert_eq!(a.states, b.states);
        let fp = |v: &[Finding]| v.iter().map(|f| f.fingerprint.clone()).collect::<Vec<_>>();
        assert_eq!(fp(&a.fixed), fp(&b.fixed));
        // The SARIF reconstruction keeps what reports show.
        let f = &from_sarif.findings[0];
        assert_eq!(f.rule_id, "port.risky-service");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.endpoint, "shop.example.com:23");
        assert_eq!(f.port, Some(23));
        assert_eq!(f.title, "Title of port.risky-service");
        assert_eq!(f.location.line, Some(12));
    }

    #[test]
    fn foreign_or_broken_files_are_refused_with_the_path() {
        let sarif = serde_json::json!({
            "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "other"}},
                      "results": [{"ruleId": "x", "message": {"text": "m"}}]}]
        });
        let err = parse_baseline(
            Path::new("other.sarif"),
            &serde_json::to_vec(&sarif).unwrap(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("other.sarif") && msg.contains("postureFingerprint/v1"),
            "{msg}"
        );
        let err = parse_baseline(Path::new("junk.json"), b"{nope").unwrap_err();
        assert!(matches!(err, ReportError::Parse { .. }), "{err}");
        let err = read_baseline(Path::new("/nonexistent/prev.json")).unwrap_err();
        assert!(matches!(err, ReportError::Read { .. }), "{err}");
    }
}
