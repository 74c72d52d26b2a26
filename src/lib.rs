//! posture: a security posture scanner.
//!
//! The data flow (see `docs/` and the README) is:
//! targets → probes → typed facts → rules (CEL over facts) → findings → reports → exit code.
//!
//! * [`target`] parses and expands what the user asked to scan, lazily.
//! * [`engine`] drives probes with bounded concurrency and collects a [`outcome::ScanOutcome`].
//! * [`probe`] observes servers and records typed [`fact`]s; probes never judge.
//! * [`rule`] loads TOML rule packs and evaluates their CEL conditions over facts.
//! * [`report`] is the only place that renders output (SARIF, JSON, text).
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod engine;
pub mod fact;
pub mod finding;
pub mod lab;
pub mod outcome;
pub mod probe;
pub mod report;
pub mod rule;
pub mod target;
