//! The command line: clap arguments → validated [`ScanPlan`] → run → reports → exit code.
//!
//! This module and `report/` are the only places that print or write files.

use crate::config::{Config, ConfigErrors};
use crate::engine::fdlimit::{cap_concurrency, raise_fd_limit};
use crate::engine::plan::{prepare, Checks, ScanPlan};
use crate::engine::ports::PortSpec;
use crate::engine::run::{execute, Progress};
use crate::engine::shard::Shard;
use crate::finding::Severity;
use crate::outcome::ScanOutcome;
use crate::report::{self, FailOn};
use crate::rule::{At, RuleOverrides, RuleSet, RuleSources};
use crate::target::expand::Excludes;
use crate::target::parse::parse_target;
use crate::target::{Origin, TargetMeta};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The probe families `--checks` accepts.
pub const CHECK_FAMILIES: [&str; 4] = ["ports", "tls", "http", "dns"];

/// Exit codes (ARCHITECTURE.md §6): short names for the ones `report::exit` defines.
pub mod exit {
    pub use crate::report::exit::{
        EXIT_FINDINGS as FINDINGS, EXIT_INCOMPLETE as INCOMPLETE, EXIT_INTERRUPTED as INTERRUPTED,
        EXIT_OK as OK, EXIT_USAGE as USAGE,
    };
}

/// Largest targets file read: millions of lines are fine, gigabytes are a mistake.
const MAX_TARGETS_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "posture",
    about = "Security posture scanner: open ports, TLS, DNS and HTTP checks judged by TOML/CEL policy",
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version and the identity (SHA-256) of each built-in rule pack.
    #[arg(short = 'V', long, global = true)]
    pub version: bool,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan targets and report findings.
    Scan(Box<ScanArgs>),
    /// Start a lab of deliberately misconfigured services on loopback and scan it.
    Demo(DemoArgs),
    /// List, validate and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Re-render reports (HTML, SARIF, Markdown, JUnit, JSON) from a saved JSON result.
    Report(Box<ReportArgs>),
    /// Compare two results (JSON or SARIF): new, updated, unchanged and fixed findings.
    Diff(DiffArgs),
    /// Combine the JSON results of `scan --shard K/N` workers into one set of reports.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// JSON results of `posture scan --shard K/N` (or `--shards N`), e.g. results/shard-*.json.
    #[arg(required = true, value_name = "SHARD.json")]
    pub shards: Vec<PathBuf>,
    /// Write SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the merged JSON result to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this severity: critical|high|medium|low|info|none.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: String,
    /// Exit 0 instead of 3 when some endpoints (or whole shards) are missing.
    #[arg(long)]
    pub allow_incomplete: bool,
    #[command(flatten)]
    pub reports: ReportFileArgs,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules (built-in, posture.toml's and --rules) and whether each runs.
    List(RulesArgs),
    /// Check rule files or directories; exit 0 when valid, 2 with every problem otherwise.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        args: RulesArgs,
    },
    /// Show a rule, the facts it reads and an example evaluation.
    Explain {
        id: String,
        #[command(flatten)]
        args: RulesArgs,
    },
}

/// Where the `rules` subcommands take their rules from.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub sources: RuleSourceArgs,
    /// posture.toml whose `[rules]` apply: its rule paths, and its disable, severity, params
    /// and tags overrides (checked too)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RuleSourceArgs {
    /// Extra rule file or directory of *.toml (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rule packs.
    #[arg(long)]
    pub no_builtin_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Jsonl,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Targets: host, IPv4, IPv6, CIDR, host:port, [v6]:port, or URL (https://host:8443/).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read targets from FILE (one per line, `#` comments), `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// Inventory and settings (posture.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Never scan this address or CIDR (repeatable).
    #[arg(long, value_name = "ADDR|CIDR")]
    pub exclude: Vec<String>,
    /// Read exclusions from FILE (one per line, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Option<PathBuf>,
    /// Ports: list and ranges (22,80,8000-8100), top100, top1000 or all. Default top100.
    #[arg(short, long, value_name = "SPEC")]
    pub ports: Option<String>,
    /// Probe families to run, comma-separated: ports,tls,http,dns. Default all.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub checks: Vec<String>,
    /// Extra ports on which TLS is attempted.
    #[arg(long, value_name = "SPEC")]
    pub tls_ports: Option<String>,
    /// Allow scopes larger than 65,536 addresses, up to N.
    #[arg(long, value_name = "N")]
    pub max_hosts: Option<u64>,
    /// Print the expanded endpoints and exit (a dry run: nothing is sent except DNS lookups).
    #[arg(long)]
    pub list_targets: bool,
    /// Send every DNS lookup to this server (IP:PORT) instead of the system resolver.
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Port for queries sent straight to a zone's nameservers (default 53).
    #[arg(long, value_name = "N")]
    pub ns_port: Option<u16>,
    /// Names that get the DNS name checks (dangling CNAME), one per line, `#` comments.
    #[arg(long, value_name = "FILE")]
    pub subdomains: Option<PathBuf>,
    /// Port of MTA-STS policy hosts (default 443; for the tests and the demo lab).
    #[arg(long, value_name = "N", hide = true)]
    pub mta_sts_port: Option<u16>,
    /// Extra trust anchors (PEM) for TLS verification, e.g. an internal CA.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Connections in flight (default 256; capped at the open-file limit − 64).
    #[arg(short, long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Connections in flight per address (default: no per-host cap).
    #[arg(long, value_name = "N")]
    pub host_concurrency: Option<usize>,
    /// New connections per second (default: unlimited).
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,
    /// Connect and read timeout in ms (default 1500; a probe gets 3× that).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Deadline for everything done to one endpoint, in ms (default 20000).
    #[arg(long, value_name = "MS")]
    pub endpoint_timeout_ms: Option<u64>,
    #[command(flatten)]
    pub rule_sources: RuleSourceArgs,
    /// Only this rule (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub only_rules: Vec<String>,
    /// Never this rule (repeatable).
    #[arg(long = "skip-rule", value_name = "ID")]
    pub skip_rules: Vec<String>,
    /// Only rules carrying this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Write SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// SARIF run.automationDetails.id (GitHub's upload-sarif `category`).
    #[arg(long, value_name = "ID")]
    pub sarif_category: Option<String>,
    /// Write the full JSON result (findings, facts, metadata) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this severity: critical|high|medium|low|info|none.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Exit 0 instead of 3 when some endpoints could not be assessed.
    #[arg(long)]
    pub allow_incomplete: bool,
    #[command(flatten)]
    pub reports: ReportFileArgs,
    /// Scan only shard K of N (1-based): every endpoint and domain belongs to exactly one
    /// shard; combine the shards' --json results with `posture merge`.
    #[arg(long, value_name = "K/N", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Scan one of N shards, K from POSTURE_SHARD_INDEX or Kubernetes' JOB_COMPLETION_INDEX
    /// (0-based: K = index + 1).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
}

/// The human and CI report files, and the baseline they compare with (`scan` and `report`).
#[derive(Debug, Clone, Default, Args)]
pub struct ReportFileArgs {
    /// Write the self-contained HTML risk report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML to FILE (one test case per finding; failures at or above --fail-on).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// A previous result (JSON or SARIF): mark findings new / unchanged / updated / fixed.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 only for findings new since --baseline (at or above --fail-on).
    #[arg(long, requires = "baseline")]
    pub fail_on_new: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A JSON result written by `posture scan --json`.
    #[arg(value_name = "RESULTS.json")]
    pub input: PathBuf,
    /// Write SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the JSON result (with the baseline comparison, if any) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The threshold shown as the CI gate (HTML, Markdown) and failing in JUnit; default high.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    #[command(flatten)]
    pub reports: ReportFileArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The older result (JSON or SARIF).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The newer result (JSON or SARIF).
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Exit 1 when NEW has a finding that OLD did not, at or above --fail-on.
    #[arg(long)]
    pub fail_on_new: bool,
    /// The severity that counts for --fail-on-new (default info: any new finding).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Directory for the reports.
    #[arg(long, value_name = "DIR", default_value = "posture-report")]
    pub out: PathBuf,
}

/// A failure that maps to exit code 2, with the message to print.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ConfigErrors> for UsageError {
    fn from(e: ConfigErrors) -> Self {
        UsageError(e.to_string())
    }
}

/// Entry point: parses argv, runs, returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.quiet, cli.verbose);
    if cli.version {
        print_stdout(&version_text());
        return exit::OK;
    }
    let Some(command) = cli.command else {
        eprintln!(
            "posture: a subcommand is required (scan, merge, report, diff, demo, rules); see `posture --help`"
        );
        return exit::USAGE;
    };
    match command {
        Command::Scan(args) => run_scan_command(&args, cli.quiet),
        Command::Demo(args) => crate::lab::run_demo(&args, cli.quiet),
        Command::Rules(cmd) => run_rules_command(cmd),
        Command::Report(args) => run_report_command(&args),
        Command::Diff(args) => run_diff_command(&args),
        Command::Merge(args) => run_merge_command(&args, cli.quiet),
    }
}

fn init_tracing(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("POSTURE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("posture={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// `posture --version`: the binary and the identity of every built-in rule pack.
pub fn version_text() -> String {
    use sha2::{Digest, Sha256};
    let mut s = format!("posture {}\n", env!("CARGO_PKG_VERSION"));
    for (name, text) in crate::rule::builtin_packs() {
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        s.push_str(&format!("rules builtin:{name} sha256:{sha}\n"));
    }
    s
}

/// Writes to stdout; a closed pipe (`posture … | head`) is not an error.
fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}

fn run_rules_command(cmd: RulesCommand) -> u8 {
    let result = match cmd {
        RulesCommand::List(args) => {
            load_rules(&args, false).map(|rules| crate::rule::render_list(&rules))
        }
        RulesCommand::Validate { paths, mut args } => {
            args.sources.rules.extend(paths);
            // A file identical to a built-in pack (the `rules/` of a checkout) is checked in
            // its place instead of clashing with it.
            load_rules(&args, true)
                .and_then(|rules| {
                    // Built-in rules compile on first use; validation compiles them all.
                    let broken = rules.compile_all();
                    if !broken.is_empty() {
                        return Err(UsageError(format!(
                            "error: built-in rules that do not compile (their errors are above): {}",
                            broken.join(", ")
                        )));
                    }
                    Ok(rules)
                })
                .map(|rules| {
                    let user = rules
                        .packs()
                        .iter()
                        .filter(|p| !p.name.starts_with("builtin:"))
                        .map(|p| format!("{} ({} rules)", p.name, p.rules))
                        .collect::<Vec<_>>();
                    format!("ok: {}\n", user.join(", "))
                })
        }
        RulesCommand::Explain { id, args } => load_rules(&args, false).and_then(|rules| {
            crate::rule::explain(&rules, &id).ok_or_else(|| {
                UsageError(format!(
                    "posture: no rule `{id}` (see `posture rules list`)"
                ))
            })
        }),
    };
    match result {
        Ok(text) => {
            print_stdout(&text);
            exit::OK
        }
        Err(e) => {
            eprintln!("{e}");
            exit::USAGE
        }
    }
}

/// The rule files and overrides of posture.toml (`[rules]`: paths, disable, severity,
/// params, tags) followed by those of the command line (`--rules`, `--no-builtin-rules`).
/// Scans and the `rules` subcommands read them the same way.
fn config_rule_inputs(
    config: Option<&Config>,
    src: &RuleSourceArgs,
) -> (RuleSources, RuleOverrides) {
    let mut overrides = RuleOverrides::default();
    let mut paths: Vec<At<PathBuf>> = Vec::new();
    if let Some(c) = config {
        let shown = c.path.display().to_string();
        paths.extend(
            c.rules
                .paths
                .iter()
                .map(|p| At::with_origin(p.clone(), shown.clone())),
        );
        for d in &c.rules.disable {
            overrides
                .disable
                .push(At::with_origin(d.value.clone(), d.at.clone()));
        }
        for s in &c.rules.severity {
            overrides
                .severity
                .insert(s.value.0.clone(), At::with_origin(s.value.1, s.at.clone()));
        }
        for p in &c.rules.params {
            overrides.params.insert(
                p.value.0.clone(),
                At::with_origin(p.value.1.clone(), p.at.clone()),
            );
        }
        overrides.tags.extend(
            c.rules
                .tags
                .iter()
                .map(|t| At::with_origin(t.clone(), format!("{shown} [rules] tags"))),
        );
    }
    paths.extend(
        src.rules
            .iter()
            .map(|p| At::with_origin(p.clone(), "--rules")),
    );
    let sources = RuleSources {
        builtin: !src.no_builtin_rules,
        paths,
        replace_identical: false,
    };
    (sources, overrides)
}

/// Loads the rules a `rules` subcommand shows: built-in packs, posture.toml's `[rules]` and
/// `--rules`, with posture.toml's overrides applied (see [`RuleSources::replace_identical`]).
fn load_rules(args: &RulesArgs, replace_identical: bool) -> Result<RuleSet, UsageError> {
    let config = match &args.config {
        Some(p) => Some(Config::load(p)?),
        None => None,
    };
    let (mut sources, overrides) = config_rule_inputs(config.as_ref(), &args.sources);
    sources.replace_identical = replace_identical;
    RuleSet::load(&sources, &overrides).map_err(|e| UsageError(e.to_string()))
}

/// Reads a list file (targets or exclusions): one item per line, `#` comments, blank lines
/// ignored. Returns (line number, item).
fn read_list_file(path: &Path) -> Result<Vec<(u32, String)>, UsageError> {
    let shown = path.display().to_string();
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| UsageError(format!("{shown}: cannot read: {e}")))?;
        if f.metadata().map(|m| m.len()).unwrap_or(0) > MAX_TARGETS_FILE_BYTES {
            return Err(UsageError(format!(
                "{shown}: larger than {MAX_TARGETS_FILE_BYTES} bytes"
            )));
        }
        Box::new(std::io::BufReader::new(f))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| UsageError(format!("{shown}:{}: cannot read: {e}", i + 1)))?;
        let item = line.split('#').next().unwrap_or("").trim();
        if !item.is_empty() {
            out.push((i as u32 + 1, item.to_string()));
        }
    }
    Ok(out)
}

/// What the CLI does with the outcome, besides the plan.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub sarif: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub format: Format,
    pub fail_on: FailOn,
    pub allow_incomplete: bool,
    pub list_targets: bool,
    pub html: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Read and validated before the scan, so a bad file costs no scan.
    pub baseline: Option<report::baseline::Baseline>,
    pub fail_on_new: bool,
}

/// Merges flags, posture.toml and defaults into a validated plan. Every problem → exit 2.
pub fn build_plan(args: &ScanArgs) -> Result<(ScanPlan, Outputs), UsageError> {
    let config = match &args.config {
        Some(p) => Some(Config::load(p)?),
        None => None,
    };
    let cfg_scan = config.as_ref().map(|c| c.scan.clone()).unwrap_or_default();
    let mut errors: Vec<String> = Vec::new();

    // Targets: positional, file, inventory.
    let mut targets = Vec::new();
    for t in &args.targets {
        match parse_target(t, Origin::Cli, Arc::new(TargetMeta::default())) {
            Ok(spec) => targets.push(spec),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Some(path) = &args.targets_file {
        let shown = if path == Path::new("-") {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        for (line, item) in read_list_file(path)? {
            let origin = Origin::File {
                path: shown.clone(),
                line,
            };
            match parse_target(&item, origin, Arc::new(TargetMeta::default())) {
                Ok(spec) => targets.push(spec),
                Err(e) => errors.push(format!("{shown}:{line}: {e}")),
            }
        }
    }
    if let Some(c) = &config {
        targets.extend(c.targets.iter().cloned());
    }

    // Exclusions.
    let mut excludes = Excludes::default();
    for e in cfg_scan.exclude.iter().chain(&args.exclude) {
        if let Err(err) = excludes.add(e) {
            errors.push(format!("--exclude: {err}"));
        }
    }
    if let Some(path) = &args.exclude_file {
        for (line, item) in read_list_file(path)? {
            if let Err(err) = excludes.add(&item) {
                errors.push(format!("{}:{line}: {err}", path.display()));
            }
        }
    }

    // Ports.
    let (ports_spec, ports_explicit) = match (&args.ports, &cfg_scan.ports) {
        (Some(p), _) => match PortSpec::parse(p) {
            Ok(s) => (Some(s), true),
            Err(e) => {
                errors.push(format!("--ports: {e}"));
                (None, true)
            }
        },
        // posture.toml's default list: targets that name their port keep just that port.
        (None, Some(s)) => (Some(s.clone()), false),
        (None, None) => (PortSpec::parse("top100").ok(), false),
    };
    let ports_text = args
        .ports
        .clone()
        .or_else(|| cfg_scan.ports.as_ref().map(|p| p.to_string()))
        .unwrap_or_else(|| "top100".into());
    let tls_ports = match (&args.tls_ports, &cfg_scan.tls_ports) {
        (Some(p), _) => match PortSpec::parse(p) {
            Ok(s) => s.ports(),
            Err(e) => {
                errors.push(format!("--tls-ports: {e}"));
                Arc::from([])
            }
        },
        (None, Some(s)) => s.ports(),
        (None, None) => Arc::from([]),
    };

    // Checks.
    let check_names: Vec<String> = if !args.checks.is_empty() {
        args.checks.clone()
    } else {
        cfg_scan.checks.clone().unwrap_or_default()
    };
    let checks = if check_names.is_empty() {
        Checks::default()
    } else {
        let mut c = Checks {
            ports: false,
            tls: false,
            http: false,
            dns: false,
        };
        for name in &check_names {
            match name.trim() {
                "ports" => c.ports = true,
                "tls" => c.tls = true,
                "http" => c.http = true,
                "dns" => c.dns = true,
                other => errors.push(format!(
                    "--checks: unknown check family `{other}` (expected {})",
                    CHECK_FAMILIES.join(", ")
                )),
            }
        }
        c
    };

    // Limits: defaults < posture.toml [limits] < [scan] < flags.
    let mut limits = config
        .as_ref()
        .and_then(|c| c.limits.clone())
        .unwrap_or_default();
    let timeout_ms = args.timeout_ms.or(cfg_scan.timeout_ms);
    if let Some(t) = timeout_ms {
        limits.timeout_ms = t;
        limits.probe_deadline_ms = t * crate::engine::limits::PROBE_DEADLINE_FACTOR;
    }
    if let Some(t) = args.endpoint_timeout_ms.or(cfg_scan.endpoint_timeout_ms) {
        limits.endpoint_timeout_ms = t;
    }
    if let Some(c) = args.concurrency.or(cfg_scan.concurrency) {
        limits.concurrency = c;
    }
    if let Some(c) = args.host_concurrency.or(cfg_scan.host_concurrency) {
        limits.host_concurrency = c;
    }
    if let Some(r) = args.rate.or(cfg_scan.rate) {
        limits.rate = r;
    }
    if let Some(m) = args.max_hosts.or(cfg_scan.max_hosts) {
        limits.max_hosts = m;
    }
    for (name, v) in [
        ("--timeout-ms", limits.timeout_ms),
        ("--endpoint-timeout-ms", limits.endpoint_timeout_ms),
        ("--concurrency", limits.concurrency as u64),
    ] {
        if v == 0 {
            errors.push(format!("{name} must be greater than 0"));
        }
    }
    let fd_limit = raise_fd_limit();
    let capped = cap_concurrency(limits.concurrency, fd_limit);
    if capped < limits.concurrency {
        tracing::warn!(
            "--concurrency {} exceeds the open-file limit {fd_limit} − 64; using {capped}",
            limits.concurrency
        );
        limits.concurrency = capped;
    }

    // Rules.
    let (sources, mut overrides) = config_rule_inputs(config.as_ref(), &args.rule_sources);
    overrides.only.extend(
        args.only_rules
            .iter()
            .map(|r| At::with_origin(r.clone(), "--rule")),
    );
    overrides.skip.extend(
        args.skip_rules
            .iter()
            .map(|r| At::with_origin(r.clone(), "--skip-rule")),
    );
    overrides.tags.extend(
        args.tags
            .iter()
            .map(|t| At::with_origin(t.clone(), "--tag")),
    );
    let rules = match RuleSet::load(&sources, &overrides).map_err(|e| UsageError(e.to_string())) {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(e.0);
            None
        }
    };

    let fail_on_text = args
        .fail_on
        .clone()
        .or(cfg_scan.fail_on.clone())
        .unwrap_or_else(|| "high".into());
    let fail_on = match fail_on_text.parse::<FailOn>() {
        Ok(f) => f,
        Err(e) => {
            errors.push(format!("--fail-on: {e}"));
            FailOn::Severity(Severity::High)
        }
    };

    let baseline = match &args.reports.baseline {
        Some(p) => match report::baseline::read_baseline(p) {
            Ok(b) => Some(b),
            Err(e) => {
                errors.push(format!("--baseline: {e}"));
                None
            }
        },
        None => None,
    };

    let mut domains = config
        .as_ref()
        .map(|c| c.domains.clone())
        .unwrap_or_default();
    let subdomains = match &args.subdomains {
        Some(path) => {
            let shown = path.display().to_string();
            crate::engine::domains::parse_subdomain_lines(&shown, &read_list_file(path)?)
                .unwrap_or_else(|e| {
                    errors.extend(e);
                    Vec::new()
                })
        }
        None => Vec::new(),
    };
    let shard = match (args.shard, args.shards) {
        (Some(s), _) => Some(s),
        (None, Some(n)) => match Shard::from_env(n, |var| std::env::var(var).ok()) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
        (None, None) => None,
    };
    if !args.list_targets {
        check_report_paths(args, &mut errors);
    }
    if targets.is_empty() && domains.is_empty() && subdomains.is_empty() && errors.is_empty() {
        errors.push(
            "no targets: give them as arguments, with --targets-file, or in --config posture.toml"
                .into(),
        );
    }
    if !errors.is_empty() {
        return Err(UsageError(
            errors
                .iter()
                .map(|e| match e.starts_with("error") {
                    true => e.clone(),
                    false => format!("error: {e}"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    let rules = rules.ok_or_else(|| UsageError("rules failed to load".into()))?;
    // A suppression of a rule that does not exist (a typo) would silently suppress nothing.
    let unknown: Vec<String> = config
        .iter()
        .flat_map(|c| &c.suppressions)
        .filter(|s| rules.get(&s.rule).is_none())
        .map(|s| {
            format!(
                "error: {}: suppression names unknown rule id `{}`",
                s.at, s.rule
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(UsageError(unknown.join("\n")));
    }
    let ca_file = args.ca_file.clone().or(cfg_scan.ca_file.clone());
    // The loader's error names the file; say which setting gave it.
    let ca_origin = if args.ca_file.is_some() {
        "--ca-file"
    } else {
        "[scan] ca_file"
    };
    let tls = crate::engine::endpoint::TlsScanContext::load(
        ca_file.as_deref(),
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| UsageError(format!("error: {ca_origin} {e}")))?;
    // Each domain (and its DNS checks) belongs to one shard; endpoints are sharded in `prepare`.
    if let Some(s) = shard {
        domains.retain(|d| s.owns_name(&d.name));
    }
    let plan = ScanPlan {
        targets,
        domains,
        excludes,
        ports: ports_spec
            .map(|s| s.ports())
            .unwrap_or_else(|| Arc::from([])),
        ports_text,
        ports_explicit,
        tls_ports,
        checks,
        limits,
        resolver: args.resolver.or(cfg_scan.resolver),
        ns_port: args.ns_port.or(cfg_scan.ns_port).unwrap_or(53),
        ca_file,
        tls: Arc::new(tls),
        rules: Arc::new(rules),
        suppressions: config
            .as_ref()
            .map(|c| c.suppressions.clone())
            .unwrap_or_default(),
        automation_id: args
            .sarif_category
            .clone()
            .or(cfg_scan.sarif_category.clone())
            .unwrap_or_else(|| "posture/scan/".into()),
        config_file: args.config.as_ref().map(|p| p.display().to_string()),
        config_uri: args
            .config
            .as_ref()
            .map(|p| crate::engine::plan::repo_relative(&p.display().to_string())),
        subdomains,
        mta_sts_port: args.mta_sts_port.unwrap_or(443),
        shard,
    };
    let outputs = Outputs {
        sarif: args.sarif.clone(),
        json: args.json.clone(),
        format: args.format,
        fail_on,
        allow_incomplete: args.allow_incomplete || cfg_scan.allow_incomplete.unwrap_or(false),
        list_targets: args.list_targets,
        html: args.reports.html.clone(),
        markdown: args.reports.markdown.clone(),
        junit: args.reports.junit.clone(),
        baseline,
        fail_on_new: args.reports.fail_on_new,
    };
    Ok((plan, outputs))
}

fn run_scan_command(args: &ScanArgs, quiet: bool) -> u8 {
    let (plan, outputs) = match build_plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture: cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    runtime.block_on(scan_and_report(plan, outputs, quiet))
}

/// A report that cannot be written is found before the scan, not after it: each path is
/// checked the way it will be written, and two reports may not share a file (the second
/// would replace the first).
fn check_report_paths(args: &ScanArgs, errors: &mut Vec<String>) {
    let paths = [
        ("--sarif", &args.sarif),
        ("--json", &args.json),
        ("--html", &args.reports.html),
        ("--markdown", &args.reports.markdown),
        ("--junit", &args.reports.junit),
    ];
    // Compared as the file they name (`./a.json` is `a.json`), as far as it can be resolved.
    let same_file = |p: &Path| -> PathBuf {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match (parent.canonicalize(), p.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => p.to_path_buf(),
        }
    };
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for (flag, path) in paths {
        let Some(path) = path.as_deref() else {
            continue;
        };
        let file = if report::atomic::is_stdout(path) {
            path.to_path_buf()
        } else {
            same_file(path)
        };
        if let Some((other, _)) = seen.iter().find(|(_, p)| *p == file) {
            errors.push(format!(
                "{flag} {}: also given to {other}; each report needs its own file",
                path.display()
            ));
            continue;
        }
        seen.push((flag, file));
        if let Err(e) = report::atomic::check_writable(path) {
            errors.push(format!("{flag} {}: {e}", path.display()));
        }
    }
}

/// Prepares, runs and reports one scan; returns the exit code.
pub async fn scan_and_report(plan: ScanPlan, outputs: Outputs, quiet: bool) -> u8 {
    let prepared = match prepare(&plan).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if outputs.list_targets {
        return list_targets(&plan, &prepared);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let sig_cancel = cancel.clone();
    let signal = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            sig_cancel.store(true, Ordering::SeqCst);
        }
    });
    let bar =
        (!quiet && std::io::stderr().is_terminal()).then(|| spawn_progress_bar(progress.clone()));
    let plan = Arc::new(plan);
    let mut outcome = execute(plan.clone(), prepared, cancel.clone(), progress).await;
    signal.abort();
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
    apply_suppressions(&plan, &mut outcome);
    let code = write_outputs(&outcome, &outputs, quiet);
    dispose(outcome);
    code
}

/// Frees a scan's results off the caller's path. The process usually exits right after, and
/// freeing thousands of subjects and findings one allocation at a time took 2 ms of every dense
/// scan (measured) that the user waited for. A thread that cannot be started drops its closure,
/// and the results with it, right here.
fn dispose(outcome: ScanOutcome) {
    let _ = std::thread::Builder::new()
        .name("posture-free".into())
        .spawn(move || drop(outcome));
}

/// `posture merge`: reads every shard result (an unreadable or corrupt one exits 2 naming
/// it), combines them, writes the reports and returns the exit code of the merged outcome.
fn run_merge_command(args: &MergeArgs, quiet: bool) -> u8 {
    let fail_on = match args.fail_on.parse::<FailOn>() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --fail-on: {e}");
            return exit::USAGE;
        }
    };
    let merged = report::merge::read_shards(&args.shards).and_then(report::merge::merge_shards);
    let outcome = match merged {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let baseline = match &args.reports.baseline {
        Some(p) => match report::baseline::read_baseline(p) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: --baseline: {e}");
                return exit::USAGE;
            }
        },
        None => None,
    };
    for i in &outcome.incomplete {
        if i.stage == report::merge::SHARD_STAGE {
            // Also in every report; said here too because a missing shard is a missing scan.
            eprintln!("warning: {}: {}", i.endpoint, i.reason);
        }
    }
    let outputs = Outputs {
        sarif: args.sarif.clone(),
        json: args.json.clone(),
        format: args.format,
        fail_on,
        allow_incomplete: args.allow_incomplete,
        list_targets: false,
        html: args.reports.html.clone(),
        markdown: args.reports.markdown.clone(),
        junit: args.reports.junit.clone(),
        baseline,
        fail_on_new: args.reports.fail_on_new,
    };
    write_outputs(&outcome, &outputs, quiet)
}

/// Marks findings covered by an unexpired suppression; warns about expired ones.
fn apply_suppressions(plan: &ScanPlan, outcome: &mut ScanOutcome) {
    let today = time::OffsetDateTime::now_utc().date();
    for s in &plan.suppressions {
        if s.expired(today) {
            tracing::warn!(
                "{}: suppression of {} on {} expired; its findings count again",
                s.at,
                s.rule,
                s.target_text
            );
        }
    }
    crate::config::apply_suppressions(outcome, &plan.suppressions, today);
}

/// Writes every requested report, then prints to stdout; returns the exit code.
pub fn write_outputs(outcome: &ScanOutcome, outputs: &Outputs, quiet: bool) -> u8 {
    let compared;
    let outcome = match &outputs.baseline {
        Some(b) => {
            let mut o = outcome.clone();
            report::baseline::apply_baseline(&mut o, b);
            compared = o;
            &compared
        }
        None => outcome,
    };
    let mut write_failed = !write_report_files(
        outcome,
        &ReportFiles {
            html: outputs.html.as_deref(),
            markdown: outputs.markdown.as_deref(),
            junit: outputs.junit.as_deref(),
            fail_on: outputs.fail_on,
        },
    );
    if let Some(p) = &outputs.sarif {
        if let Err(e) = report::sarif::write_sarif(p, outcome) {
            eprintln!("error: SARIF: {e}");
            write_failed = true;
        }
    }
    if let Some(p) = &outputs.json {
        if let Err(e) = report::json::write_json(p, outcome) {
            eprintln!("error: JSON: {e}");
            write_failed = true;
        }
    }
    match outputs.format {
        Format::Text => {
            if !quiet {
                print_stdout(&report::text::render_text(outcome, &Default::default()));
            }
        }
        Format::Json => match serde_json::to_string_pretty(outcome) {
            Ok(s) => print_stdout(&(s + "\n")),
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Jsonl => {
            let mut buf = Vec::new();
            if report::json::write_jsonl(&mut buf, outcome).is_ok() {
                print_stdout(&String::from_utf8_lossy(&buf));
            }
        }
    }
    if write_failed {
        return exit::USAGE;
    }
    report::exit_code_gated(
        outcome,
        outputs.fail_on,
        outputs.allow_incomplete,
        outputs.fail_on_new,
    )
}

/// The HTML, Markdown and JUnit files to write, and the threshold they show.
struct ReportFiles<'a> {
    html: Option<&'a Path>,
    markdown: Option<&'a Path>,
    junit: Option<&'a Path>,
    fail_on: FailOn,
}

/// Writes the HTML, Markdown and JUnit reports that were asked for; false when one failed
/// (each failure is printed).
fn write_report_files(outcome: &ScanOutcome, files: &ReportFiles<'_>) -> bool {
    let mut ok = true;
    let mut check = |what: &str, r: Result<(), report::ReportError>| {
        if let Err(e) = r {
            eprintln!("error: {what}: {e}");
            ok = false;
        }
    };
    if let Some(p) = files.html {
        let opts = report::html::HtmlOptions {
            fail_on: files.fail_on,
        };
        check("HTML", report::html::write_html(p, outcome, &opts));
    }
    if let Some(p) = files.markdown {
        let opts = report::markdown::MarkdownOptions {
            fail_on: files.fail_on,
        };
        check(
            "Markdown",
            report::markdown::write_markdown(p, outcome, &opts),
        );
    }
    if let Some(p) = files.junit {
        let opts = report::junit::JunitOptions {
            fail_on: files.fail_on,
        };
        check("JUnit", report::junit::write_junit(p, outcome, &opts));
    }
    ok
}

/// `posture report RESULTS.json …`: re-renders reports from a saved JSON result. Exit 0 when
/// every file was written, 2 otherwise.
fn run_report_command(args: &ReportArgs) -> u8 {
    let fail_on = match args.fail_on.as_deref().unwrap_or("high").parse::<FailOn>() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --fail-on: {e}");
            return exit::USAGE;
        }
    };
    let mut outcome = match report::json::read_json(&args.input) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if let Some(p) = &args.reports.baseline {
        match report::baseline::read_baseline(p) {
            Ok(b) => report::baseline::apply_baseline(&mut outcome, &b),
            Err(e) => {
                eprintln!("error: --baseline: {e}");
                return exit::USAGE;
            }
        }
    }
    let r = &args.reports;
    if r.html.is_none()
        && r.markdown.is_none()
        && r.junit.is_none()
        && args.sarif.is_none()
        && args.json.is_none()
    {
        eprintln!("error: nothing to write: give --html, --sarif, --markdown, --junit or --json");
        return exit::USAGE;
    }
    let mut ok = write_report_files(
        &outcome,
        &ReportFiles {
            html: r.html.as_deref(),
            markdown: r.markdown.as_deref(),
            junit: r.junit.as_deref(),
            fail_on,
        },
    );
    if let Some(p) = &args.sarif {
        if let Err(e) = report::sarif::write_sarif(p, &outcome) {
            eprintln!("error: SARIF: {e}");
            ok = false;
        }
    }
    if let Some(p) = &args.json {
        if let Err(e) = report::json::write_json(p, &outcome) {
            eprintln!("error: JSON: {e}");
            ok = false;
        }
    }
    if ok {
        exit::OK
    } else {
        exit::USAGE
    }
}

/// `posture diff OLD NEW`: prints new / updated / unchanged / fixed findings. Exit 0, or 1 with
/// `--fail-on-new` when a new finding is at or above `--fail-on` (default info); 2 on errors.
fn run_diff_command(args: &DiffArgs) -> u8 {
    let fail_on = match args.fail_on.as_deref().unwrap_or("info").parse::<FailOn>() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --fail-on: {e}");
            return exit::USAGE;
        }
    };
    let (old, new) = match (
        report::baseline::read_baseline(&args.old),
        report::baseline::read_baseline(&args.new),
    ) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let d = report::diff::diff(&old, &new);
    print_stdout(&match args.format {
        DiffFormat::Text => report::diff::render_diff_text(&d),
        DiffFormat::Json => report::diff::render_diff_json(&d),
    });
    d.exit_code(args.fail_on_new, fail_on)
}

fn list_targets(plan: &ScanPlan, prepared: &crate::engine::plan::Prepared) -> u8 {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (name, reason) in &prepared.unresolved {
        if writeln!(out, "# {name}: {reason}").is_err() {
            return exit::OK;
        }
    }
    let mut listed: u64 = 0;
    for (g, ip, port) in crate::engine::plan::endpoints(plan, prepared) {
        let ep = crate::target::display_host_port(&ip.to_string(), port);
        let line = match (&g.name, plan.scheme_for(g.target, port)) {
            (Some(n), Some(s)) => format!("{ep}\t{n}\t{s}"),
            (Some(n), None) => format!("{ep}\t{n}"),
            (None, Some(s)) => format!("{ep}\t\t{s}"),
            (None, None) => ep,
        };
        if writeln!(out, "{line}").is_err() {
            return exit::OK;
        }
        listed += 1;
    }
    for d in &plan.domains {
        if writeln!(out, "{}\tdomain", d.name).is_err() {
            return exit::OK;
        }
    }
    // The names of `--subdomains FILE` that get name checks (this shard's share of them).
    if plan.checks.dns {
        for w in crate::engine::domains::plan_names(plan) {
            if w.source == crate::engine::domains::NameSource::Listed
                && writeln!(out, "{}\tsubdomain", w.name).is_err()
            {
                return exit::OK;
            }
        }
    }
    let _ = out.flush();
    drop(out);
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    eprintln!(
        "{} on {}{}{}",
        plural(listed, "endpoint", "endpoints"),
        plural(prepared.hosts, "host", "hosts"),
        plan.shard
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default(),
        if prepared.unresolved.is_empty() {
            String::new()
        } else {
            format!(", {} names not fully resolved", prepared.unresolved.len())
        }
    );
    exit::OK
}

fn spawn_progress_bar(
    progress: Arc<Progress>,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} endpoints · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tick.tick().await;
            b.set_length(progress.total.load(Ordering::Relaxed));
            b.set_position(progress.done.load(Ordering::Relaxed));
            b.set_message(format!("{} open", progress.open.load(Ordering::Relaxed)));
        }
    });
    (bar, task)
}
