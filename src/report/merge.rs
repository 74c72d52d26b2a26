//! `posture merge`: the JSON results of `posture scan --shard K/N` workers, combined into one
//! [`ScanOutcome`] that every report format renders as if one machine had scanned it all.
//!
//! Shards own disjoint endpoints ([`crate::engine::shard`]), so combining is mostly union:
//! findings deduplicated by fingerprint, subjects by endpoint, incomplete endpoints by value,
//! rules and rule packs by identity, counters summed. The one thing a union cannot show is what
//! is *absent*: a worker that never wrote its file. So coverage is checked against `1..=N`, and
//! every gap is made loud the only way that reaches every format and the exit code — as an
//! incomplete endpoint `shard K/N` (stage `shard`): a missing shard, a shard given twice,
//! a shard of another count `N`, or a shard whose scope differs (results of different scans).
//! Nothing is dropped silently: a file that cannot be read or parsed is an error naming it
//! (exit 2), never skipped.

use super::json::read_json;
use super::ReportError;
use crate::engine::shard::{Shard, ShardError};
use crate::fact::SubjectFacts;
use crate::finding::{sort_findings, Subject};
use crate::outcome::{IncompleteEndpoint, PackInfo, ScanOutcome, ScanStats, Scope};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The stage of the incomplete entries that describe shard coverage problems.
pub const SHARD_STAGE: &str = "shard";
/// The reason of a shard with no result among the files given.
pub const MISSING: &str = "missing";

/// One shard's JSON result and where it came from (errors and notes name the file).
#[derive(Debug, Clone)]
pub struct ShardFile {
    pub path: PathBuf,
    pub outcome: ScanOutcome,
}

/// Why shard files cannot be merged at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("no shard results given")]
    Empty,
    #[error(
        "`{}` is not a shard result (its scan.shard is absent): merge combines the JSON reports \
         of `posture scan --shard K/N` (or --shards N); an unsharded report can only be given alone",
        path.display()
    )]
    NotSharded { path: PathBuf },
    #[error("`{}`: scan.shard `{value}` is not a shard: {source}", path.display())]
    BadShard {
        path: PathBuf,
        value: String,
        #[source]
        source: ShardError,
    },
}

/// Reads every file as a posture JSON report. The first unreadable or corrupt one is an
/// error naming it.
pub fn read_shards(paths: &[PathBuf]) -> Result<Vec<ShardFile>, MergeError> {
    paths
        .iter()
        .map(|p| {
            Ok(ShardFile {
                path: p.clone(),
                outcome: read_json(p)?,
            })
        })
        .collect()
}

/// Combines shard results into one outcome (see the module docs). A single unsharded result
/// is returned unchanged; an unsharded result among several is an error.
pub fn merge_shards(files: Vec<ShardFile>) -> Result<ScanOutcome, MergeError> {
    if files.is_empty() {
        return Err(MergeError::Empty);
    }
    let mut parsed: Vec<(Shard, ShardFile)> = Vec::with_capacity(files.len());
    let single = files.len() == 1;
    for f in files {
        match f.outcome.scan.shard.clone() {
            None if single => return Ok(f.outcome),
            None => return Err(MergeError::NotSharded { path: f.path }),
            Some(value) => match value.parse::<Shard>() {
                Ok(s) => parsed.push((s, f)),
                Err(source) => {
                    return Err(MergeError::BadShard {
                        path: f.path,
                        value,
                        source,
                    })
                }
            },
        }
    }
    // Deterministic whatever order the shell's glob gave.
    parsed.sort_by(|(a, fa), (b, fb)| (a.n(), a.k(), &fa.path).cmp(&(b.n(), b.k(), &fb.path)));

    let mut notes = coverage_problems(&parsed);
    let merged = combine(&parsed, &mut notes);
    Ok(merged)
}

/// The shard count most files carry (ties: the larger), which coverage is checked against.
fn expected_count(parsed: &[(Shard, ShardFile)]) -> u32 {
    let mut by_n: BTreeMap<u32, usize> = BTreeMap::new();
    for (s, _) in parsed {
        *by_n.entry(s.n()).or_default() += 1;
    }
    by_n.iter()
        .max_by_key(|(n, count)| (**count, **n))
        .map_or(1, |(n, _)| *n)
}

fn shard_note(endpoint: String, reason: String) -> IncompleteEndpoint {
    IncompleteEndpoint {
        endpoint,
        stage: SHARD_STAGE.into(),
        reason,
    }
}

/// What every shard of one scan shares: the scope (but its domains, which are split between
/// shards) and the rule packs that judged it.
type Identity<'a> = (
    &'a [String],
    &'a [String],
    &'a str,
    &'a [String],
    Vec<(&'a str, &'a str)>,
);

fn identity(o: &ScanOutcome) -> Identity<'_> {
    let s: &Scope = &o.scan.scope;
    let mut packs: Vec<(&str, &str)> = o
        .tool
        .packs
        .iter()
        .map(|p| (p.name.as_str(), p.sha256.as_str()))
        .collect();
    packs.sort_unstable();
    (&s.targets, &s.excludes, &s.ports, &s.checks, packs)
}

/// Every way the files fail to be exactly the shards `1..=N` of one scan.
fn coverage_problems(parsed: &[(Shard, ShardFile)]) -> Vec<IncompleteEndpoint> {
    let n = expected_count(parsed);
    let mut notes = Vec::new();
    let mut by_shard: BTreeMap<Shard, Vec<&Path>> = BTreeMap::new();
    for (s, f) in parsed {
        by_shard.entry(*s).or_default().push(&f.path);
    }
    for k in 1..=n {
        if let Ok(s) = Shard::new(k, n) {
            if !by_shard.contains_key(&s) {
                notes.push(shard_note(format!("shard {s}"), MISSING.into()));
            }
        }
    }
    for (s, paths) in &by_shard {
        if paths.len() > 1 {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            notes.push(shard_note(
                format!("shard {s}"),
                format!(
                    "duplicate: given {} times ({}); results of different runs may disagree",
                    paths.len(),
                    shown.join(", ")
                ),
            ));
        }
        if s.n() != n {
            notes.push(shard_note(
                format!("shard {s}"),
                format!(
                    "mixed shard counts: {} is shard {} of {}, the other results are of {n}; \
                     its endpoints overlap theirs and coverage cannot be established",
                    paths
                        .first()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    s.k(),
                    s.n()
                ),
            ));
        }
    }
    // The reference scope: the first result of the expected count.
    if let Some((rs, rf)) = parsed.iter().find(|(s, _)| s.n() == n) {
        let reference = identity(&rf.outcome);
        for (s, f) in parsed {
            if identity(&f.outcome) != reference {
                notes.push(shard_note(
                    format!("shard {s}"),
                    format!(
                        "scope differs from shard {rs} ({}): {} is a result of a different scan \
                         (targets, excludes, ports, checks or rule packs)",
                        rf.path.display(),
                        f.path.display()
                    ),
                ));
            }
        }
    }
    notes
}

/// The union of `lists`, first occurrence wins, order kept.
fn union<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for l in lists {
        for item in l {
            if seen.insert(item.as_str()) {
                out.push(item.clone());
            }
        }
    }
    out
}

/// RFC 3339 timestamps compare as instants; unparsable ones as text (they still sort).
fn instant(s: &str) -> (Option<time::OffsetDateTime>, &str) {
    (
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok(),
        s,
    )
}

fn subject_key(s: &SubjectFacts) -> (Subject, Option<String>, String, Option<String>) {
    (
        s.subject(),
        s.target().ip.clone(),
        s.endpoint().to_string(),
        s.item_key(),
    )
}

fn combine(parsed: &[(Shard, ShardFile)], notes: &mut Vec<IncompleteEndpoint>) -> ScanOutcome {
    // `parsed` is non-empty (checked by the caller).
    let n = expected_count(parsed);
    let reference = parsed
        .iter()
        .find(|(s, _)| s.n() == n)
        .unwrap_or(&parsed[0]);
    let mut out = reference.1.outcome.clone();
    let outcomes: Vec<&ScanOutcome> = parsed.iter().map(|(_, f)| &f.outcome).collect();

    // Findings: shards are disjoint, but a duplicated shard repeats them.
    let mut seen = HashSet::new();
    out.findings = outcomes
        .iter()
        .flat_map(|o| o.findings.iter())
        .filter(|f| seen.insert((f.fingerprint.clone(), f.ip.clone())))
        .cloned()
        .collect();
    sort_findings(&mut out.findings);

    let mut seen = HashSet::new();
    out.subjects = outcomes
        .iter()
        .flat_map(|o| o.subjects.iter())
        .filter(|s| seen.insert(subject_key(s)))
        .cloned()
        .collect();
    out.subjects.sort_by(|a, b| {
        (a.subject(), a.target().ip.as_deref(), a.endpoint()).cmp(&(
            b.subject(),
            b.target().ip.as_deref(),
            b.endpoint(),
        ))
    });

    // Incomplete endpoints: a shard-wide entry (`*`: interrupted, sweep failed) names its shard.
    let mut incomplete: Vec<IncompleteEndpoint> = parsed
        .iter()
        .flat_map(|(s, f)| {
            f.outcome.incomplete.iter().map(move |i| {
                let mut i = i.clone();
                if i.endpoint == "*" {
                    i.endpoint = format!("shard {s}");
                }
                i
            })
        })
        .collect();
    incomplete.append(notes);
    let mut seen = HashSet::new();
    incomplete.retain(|i| seen.insert((i.endpoint.clone(), i.stage.clone(), i.reason.clone())));
    incomplete.sort_by(|a, b| (&a.endpoint, &a.stage).cmp(&(&b.endpoint, &b.stage)));
    out.incomplete = incomplete;

    // Rules and packs: the union (shards of one scan carry the same ones).
    let mut seen = HashSet::new();
    out.rules = outcomes
        .iter()
        .flat_map(|o| o.rules.iter())
        .filter(|r| seen.insert(r.id.clone()))
        .cloned()
        .collect();
    let mut seen = HashSet::new();
    out.tool.packs = outcomes
        .iter()
        .flat_map(|o| o.tool.packs.iter())
        .filter(|p: &&PackInfo| seen.insert((p.name.clone(), p.sha256.clone())))
        .cloned()
        .collect();

    // Scan metadata: the whole run's span, summed counters, the merged scope.
    let scan = &mut out.scan;
    if let Some(first) = outcomes
        .iter()
        .map(|o| o.scan.started_at.as_str())
        .min_by_key(|s| instant(s))
    {
        scan.started_at = first.to_string();
    }
    if let Some(last) = outcomes
        .iter()
        .map(|o| o.scan.finished_at.as_str())
        .max_by_key(|s| instant(s))
    {
        scan.finished_at = last.to_string();
    }
    scan.duration_ms = outcomes
        .iter()
        .map(|o| o.scan.duration_ms)
        .max()
        .unwrap_or(0);
    scan.interrupted = outcomes.iter().any(|o| o.scan.interrupted);
    scan.stats = sum_stats(outcomes.iter().map(|o| &o.scan.stats));
    scan.scope.targets = union(outcomes.iter().map(|o| &o.scan.scope.targets));
    scan.scope.excludes = union(outcomes.iter().map(|o| &o.scan.scope.excludes));
    scan.scope.checks = union(outcomes.iter().map(|o| &o.scan.scope.checks));
    scan.scope.domains = union(outcomes.iter().map(|o| &o.scan.scope.domains));
    scan.scope.domains.sort();
    scan.stats.subjects = out.subjects.len() as u64;
    // The merged result is the whole scan, not a shard of it.
    scan.shard = None;
    out.schema_version = crate::outcome::SCHEMA_VERSION.into();
    out
}

/// Counters add up; `hosts` is the scope's address count, which every shard reports whole
/// (each shard touches every address of an IP/CIDR target, on its own ports), so it is the
/// largest, not the sum.
fn sum_stats<'a>(stats: impl Iterator<Item = &'a ScanStats>) -> ScanStats {
    let mut t = ScanStats::default();
    for s in stats {
        t.hosts = t.hosts.max(s.hosts);
        t.ports_scanned += s.ports_scanned;
        t.open += s.open;
        t.closed += s.closed;
        t.filtered += s.filtered;
        t.subjects += s.subjects;
        t.local_retries += s.local_retries;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Location, Severity};
    use crate::report::testdata::{empty, finding, port_subject, sample};

    fn shard_of(k: u32, n: u32, base: &ScanOutcome) -> ShardFile {
        let mut o = base.clone();
        o.scan.shard = Some(format!("{k}/{n}"));
        o.findings.clear();
        o.subjects.clear();
        o.incomplete.clear();
        ShardFile {
            path: PathBuf::from(format!("shard-{}.json", k - 1)),
            outcome: o,
        }
    }

    fn port_finding(host: &str, port: u16) -> crate::finding::Finding {
        finding(
            "port.risky-service",
            Severity::Critical,
            Subject::Port,
            host,
            host,
            port,
            &format!("{host}:{port}"),
            "exposed",
            Location::synthetic(Subject::Port, host, &port.to_string()),
        )
    }

    /// Four shards with distinct findings; shard 2 repeats one of shard 1 (a name resolving
    /// to addresses of several targets yields one fingerprint).
    fn four() -> Vec<ShardFile> {
        let base = sample();
        (1..=4)
            .map(|k| {
                let mut f = shard_of(k, 4, &base);
                let host = format!("10.0.0.{k}");
                f.outcome.findings.push(port_finding(&host, 23));
                f.outcome
                    .subjects
                    .push(port_subject(&host, &host, 23, "telnet", ""));
                if k == 2 {
                    f.outcome.findings.push(port_finding("10.0.0.1", 23));
                }
                f.outcome.scan.stats = ScanStats {
                    hosts: 4,
                    ports_scanned: 100 + u64::from(k),
                    open: 1,
                    closed: 99,
                    filtered: u64::from(k),
                    subjects: 1,
                    local_retries: 0,
                };
                f.outcome.scan.duration_ms = 1000 * u64::from(k);
                f.outcome.scan.started_at = format!("2025-01-02T03:0{k}:00Z");
                f.outcome.scan.finished_at = format!("2025-01-02T04:0{}:00Z", 5 - k);
                f.outcome.scan.scope.domains = vec![format!("d{k}.example")];
                f
            })
            .collect()
    }

    #[test]
    fn complete_shards_merge_into_one_complete_outcome() {
        let mut files = four();
        files.reverse(); // glob order does not matter
        let m = merge_shards(files).unwrap();
        assert!(m.is_complete(), "{:?}", m.incomplete);
        assert_eq!(m.scan.shard, None);
        assert_eq!(m.findings.len(), 4, "deduplicated by fingerprint");
        let fps: HashSet<&str> = m.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps.len(), 4);
        assert_eq!(m.subjects.len(), 4);
        assert_eq!(m.scan.stats.ports_scanned, 101 + 102 + 103 + 104);
        assert_eq!(m.scan.stats.filtered, 10);
        assert_eq!(m.scan.stats.hosts, 4);
        assert_eq!(m.scan.stats.subjects, 4);
        assert_eq!(m.scan.duration_ms, 4000);
        assert_eq!(m.scan.started_at, "2025-01-02T03:01:00Z");
        assert_eq!(m.scan.finished_at, "2025-01-02T04:04:00Z");
        assert_eq!(
            m.scan.scope.domains,
            vec!["d1.example", "d2.example", "d3.example", "d4.example"]
        );
        assert_eq!(m.rules.len(), sample().rules.len());
        assert_eq!(m.tool.packs.len(), 1);
    }

    #[test]
    fn a_missing_shard_is_an_incomplete_endpoint() {
        let mut files = four();
        files.remove(2);
        let m = merge_shards(files).unwrap();
        assert!(!m.is_complete());
        assert_eq!(
            m.incomplete,
            vec![IncompleteEndpoint {
                endpoint: "shard 3/4".into(),
                stage: "shard".into(),
                reason: "missing".into(),
            }]
        );
        assert_eq!(m.findings.len(), 3);
    }

    #[test]
    fn duplicates_mixed_counts_and_foreign_scopes_are_flagged() {
        let mut files = four();
        let mut dup = files[0].clone();
        dup.path = PathBuf::from("again/shard-0.json");
        files.push(dup);
        let mut other = shard_of(2, 3, &sample());
        other.path = PathBuf::from("old.json");
        files.push(other);
        files[1].outcome.scan.scope.targets.push("10.9.9.9".into());
        files[3].outcome.tool.packs[0].sha256 = "cd".repeat(32);
        let m = merge_shards(files).unwrap();
        let shown: Vec<(String, String)> = m
            .incomplete
            .iter()
            .map(|i| (i.endpoint.clone(), i.reason.clone()))
            .collect();
        assert!(shown
            .iter()
            .any(|(e, r)| e == "shard 1/4" && r.starts_with("duplicate: given 2 times")));
        assert!(shown
            .iter()
            .any(|(e, r)| e == "shard 2/3" && r.starts_with("mixed shard counts")));
        assert!(shown
            .iter()
            .any(|(e, r)| e == "shard 2/4" && r.starts_with("scope differs")));
        assert!(shown
            .iter()
            .any(|(e, r)| e == "shard 4/4" && r.starts_with("scope differs")));
        assert!(m.incomplete.iter().all(|i| i.stage == "shard"));
        // No shard of 4 is missing: nothing else.
        assert_eq!(m.incomplete.len(), 4, "{shown:?}");
        assert_eq!(m.tool.packs.len(), 2, "both pack versions are listed");
        assert!(m.scan.scope.targets.contains(&"10.9.9.9".to_string()));
    }

    #[test]
    fn unsharded_results_only_alone() {
        let alone = ShardFile {
            path: "full.json".into(),
            outcome: sample(),
        };
        let m = merge_shards(vec![alone.clone()]).unwrap();
        assert_eq!(m.findings.len(), sample().findings.len());
        assert_eq!(m.incomplete, sample().incomplete);
        let err = merge_shards(vec![four().remove(0), alone]).unwrap_err();
        assert!(
            matches!(err, MergeError::NotSharded { ref path } if path == Path::new("full.json"))
        );
        assert!(err.to_string().contains("full.json"));
        assert!(matches!(merge_shards(vec![]), Err(MergeError::Empty)));
    }

    #[test]
    fn a_bad_shard_value_names_the_file() {
        let mut f = shard_of(1, 4, &empty());
        f.outcome.scan.shard = Some("5/4".into());
        f.path = "bad.json".into();
        let err = merge_shards(vec![f]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.json") && msg.contains("5/4"), "{msg}");
    }

    #[test]
    fn shard_wide_incomplete_entries_name_their_shard() {
        let mut files = four();
        files[1].outcome.scan.interrupted = true;
        files[1].outcome.incomplete.push(IncompleteEndpoint {
            endpoint: "*".into(),
            stage: "interrupted".into(),
            reason: "interrupted: 3 of 9 endpoints swept".into(),
        });
        let m = merge_shards(files).unwrap();
        assert!(m.scan.interrupted);
        assert_eq!(m.incomplete.len(), 1);
        assert_eq!(m.incomplete[0].endpoint, "shard 2/4");
    }

    #[test]
    fn unreadable_and_corrupt_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = read_shards(std::slice::from_ref(&missing)).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");
        let corrupt = dir.path().join("corrupt.json");
        std::fs::write(&corrupt, b"{\"schema_version\":\"1.0\",\"tool\":").unwrap();
        let err = read_shards(&[corrupt]).unwrap_err();
        assert!(err.to_string().contains("corrupt.json"), "{err}");
    }
}
