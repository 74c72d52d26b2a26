//! The exit code of a scan, computed from its outcome and `--fail-on` (ARCHITECTURE §6).
//!
//! CI pipelines branch on this number, so it is a pure function of the outcome with the whole
//! table unit-tested. Usage, config and report-writing errors (exit 2) never reach here: they are
//! decided by the CLI before or after the scan.

use crate::finding::Severity;
use crate::outcome::ScanOutcome;
use std::fmt;
use std::str::FromStr;

/// Complete, nothing at or above the threshold (or `--fail-on none`).
pub const EXIT_OK: u8 = 0;
/// A finding at or above the threshold.
pub const EXIT_FINDINGS: u8 = 1;
/// Usage, config, rule-file or report-writing error. Decided by the CLI, listed here so every
/// code lives in one place.
pub const EXIT_USAGE: u8 = 2;
/// Some endpoints could not be assessed and nothing at or above the threshold was found.
pub const EXIT_INCOMPLETE: u8 = 3;
/// Ctrl-C: the reports hold what was done before it. 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// `--fail-on`: the severity at or above which findings fail the run, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Severity(Severity),
    /// Report only: exit 0 whatever was found or missed (interruption still exits 130).
    None,
}

impl Default for FailOn {
    /// `high`, as documented for `--fail-on`.
    fn default() -> Self {
        FailOn::Severity(Severity::High)
    }
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(FailOn::None),
            other => other.parse::<Severity>().map(FailOn::Severity).map_err(|_| {
                format!(
                    "unknown --fail-on value `{other}` (expected critical, high, medium, low, info or none)"
                )
            }),
        }
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailOn::Severity(s) => f.write_str(s.as_str()),
            FailOn::None => f.write_str("none"),
        }
    }
}

/// The exit code for a finished (or interrupted) scan.
///
/// Order matters: interruption wins over everything (the user asked to stop, the reports say
/// what was done); then findings at or above the threshold, because a known problem is worth
/// more than an unknown one; then incompleteness, unless `allow_incomplete`.
pub fn exit_code(outcome: &ScanOutcome, fail_on: FailOn, allow_incomplete: bool) -> u8 {
    exit_code_gated(outcome, fail_on, allow_incomplete, false)
}

/// [`exit_code`], or with `new_only` (`--fail-on-new`) the same table where only findings that
/// are new since the baseline can fail the run: the CI gate that accepts known debt but no
/// regression. Without a baseline every finding is new. Incompleteness and interruption count
/// as in [`exit_code`]: an endpoint not assessed could hide a new problem.
pub fn exit_code_gated(
    outcome: &ScanOutcome,
    fail_on: FailOn,
    allow_incomplete: bool,
    new_only: bool,
) -> u8 {
    if outcome.scan.interrupted {
        return EXIT_INTERRUPTED;
    }
    let threshold = match fail_on {
        FailOn::None => return EXIT_OK,
        FailOn::Severity(s) => s,
    };
    let gates = |f: &&crate::finding::Finding| {
        !new_only
            || outcome
                .baseline_state(f)
                .is_none_or(|s| s == crate::outcome::BaselineState::New)
    };
    if outcome
        .findings
        .iter()
        .filter(gates)
        .any(|f| f.severity >= threshold && f.suppressed.is_none())
    {
        EXIT_FINDINGS
    } else if !outcome.incomplete.is_empty() && !allow_incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Location, Subject};
    use crate::outcome::IncompleteEndpoint;
    use crate::report::testdata;

    fn outcome(worst: Option<Severity>, incomplete: bool, interrupted: bool) -> ScanOutcome {
        let mut o = testdata::empty();
        if let Some(s) = worst {
            o.findings.push(testdata::finding(
                "port.x",
                s,
                Subject::Port,
                "h",
                "192.0.2.1",
                1,
                "h:1",
                "m",
                Location::synthetic(Subject::Port, "h", "1"),
            ));
            // A lower finding alongside must not change anything.
            o.findings.push(testdata::finding(
                "port.y",
                Severity::Info,
                Subject::Port,
                "h",
                "192.0.2.1",
                2,
                "h:2",
                "m",
                Location::synthetic(Subject::Port, "h", "2"),
            ));
        }
        if incomplete {
            o.incomplete.push(IncompleteEndpoint {
                endpoint: "h:3".into(),
                stage: "connect".into(),
                reason: "timeout".into(),
            });
        }
        o.scan.interrupted = interrupted;
        o
    }

    #[test]
    fn parses_fail_on() {
        assert_eq!("none".parse(), Ok(FailOn::None));
        assert_eq!("critical".parse(), Ok(FailOn::Severity(Severity::Critical)));
        assert_eq!("info".parse(), Ok(FailOn::Severity(Severity::Info)));
        assert!("High".parse::<FailOn>().is_err());
        assert!("".parse::<FailOn>().is_err());
        assert_eq!(FailOn::default(), FailOn::Severity(Severity::High));
        for s in ["critical", "high", "medium", "low", "info", "none"] {
            assert_eq!(s.parse::<FailOn>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn full_exit_code_table() {
        use Severity::*;
        let high = FailOn::Severity(High);
        /// (worst finding, incomplete, interrupted, fail_on, allow_incomplete, expected code)
        type Row = (Option<Severity>, bool, bool, FailOn, bool, u8);
        let table: &[Row] = &[
            (None, false, false, high, false, 0),
            (Some(Medium), false, false, high, false, 0),
            (Some(High), false, false, high, false, 1),
            (Some(Critical), false, false, high, false, 1),
            (Some(Info), false, false, FailOn::Severity(Info), false, 1),
            (Some(Low), false, false, FailOn::Severity(Medium), false, 0),
            (
                Some(Medium),
                false,
                false,
                FailOn::Severity(Medium),
                false,
                1,
            ),
            (
                Some(High),
                false,
                false,
                FailOn::Severity(Critical),
                false,
                0,
            ),
            // incomplete, nothing at/above → 3, or 0 with allow_incomplete
            (None, true, false, high, false, 3),
            (Some(Low), true, false, high, false, 3),
            (None, true, false, high, true, 0),
            (Some(Low), true, false, high, true, 0),
            // incomplete but a finding at/above → 1 either way
            (Some(Critical), true, false, high, false, 1),
            (Some(Critical), true, false, high, true, 1),
            // interrupted → 130 always
            (None, false, true, high, false, 130),
            (Some(Critical), true, true, high, false, 130),
            (Some(Critical), true, true, high, true, 130),
            (None, false, true, FailOn::None, true, 130),
            // --fail-on none → 0 whatever was found or missed
            (Some(Critical), false, false, FailOn::None, false, 0),
            (Some(Critical), true, false, FailOn::None, false, 0),
            (None, true, false, FailOn::None, false, 0),
        ];
        for (i, &(worst, incomplete, interrupted, fail_on, allow, want)) in table.iter().enumerate()
        {
            let o = outcome(worst, incomplete, interrupted);
            assert_eq!(
                exit_code(&o, fail_on, allow),
                want,
                "row {i}: worst={worst:?} incomplete={incomplete} interrupted={interrupted} \
                 fail_on={fail_on} allow_incomplete={allow}"
            );
            // Without a baseline every finding is new: --fail-on-new changes nothing.
            assert_eq!(exit_code_gated(&o, fail_on, allow, true), want, "row {i}");
        }
    }

    #[test]
    fn fail_on_new_gates_only_on_new_findings() {
        use crate::report::baseline::{apply_baseline, Baseline};
        let high = FailOn::Severity(Severity::High);
        let mut o = testdata::sample();
        // The critical and high findings were already there; the medium one is new.
        let known = Baseline {
            source: "prev.json".into(),
            started_at: None,
            findings: o.findings[..2].to_vec(),
        };
        apply_baseline(&mut o, &known);
        o.incomplete.clear();
        assert_eq!(exit_code(&o, high, false), EXIT_FINDINGS);
        assert_eq!(exit_code_gated(&o, high, false, true), EXIT_OK);
        // The medium one is new: it gates at medium.
        assert_eq!(
            exit_code_gated(&o, FailOn::Severity(Severity::Medium), false, true),
            EXIT_FINDINGS
        );
        // A new critical finding gates, unless suppressed.
        let empty = Baseline {
            findings: vec![],
            ..known
        };
        apply_baseline(&mut o, &empty);
        assert_eq!(exit_code_gated(&o, high, false, true), EXIT_FINDINGS);
        for f in &mut o.findings {
            f.suppressed = Some(crate::finding::SuppressionInfo {
                reason: "accepted".into(),
                expires: None,
                declared_at: "posture.toml:3:1".into(),
            });
        }
        assert_eq!(exit_code_gated(&o, high, false, true), EXIT_OK);
        // Incomplete still counts.
        o.incomplete.push(IncompleteEndpoint {
            endpoint: "h:3".into(),
            stage: "connect".into(),
            reason: "timeout".into(),
        });
        assert_eq!(exit_code_gated(&o, high, false, true), EXIT_INCOMPLETE);
    }
}
