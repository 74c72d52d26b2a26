//! The run loop: sweep → probe open ports → facts → rules → one [`ScanOutcome`].
//!
//! The TCP sweep runs on its own OS threads (one event loop per core, see [`super::sweep`]);
//! each open port is handed through a bounded channel to the tokio side, where a task per
//! endpoint (at most `concurrency` at once) reads the banner, records facts and evaluates the
//! rules as soon as the endpoint is done. Only findings and the facts reports display are
//! kept, so memory is bounded by the concurrency and the number of open ports, not by the
//! size of the scope.

use super::endpoint::{assess_unbounded, bounded, display_with_ip, Assessed};
use super::plan::{AddrList, Prepared, ScanPlan, WorkGroup};
use super::sweep::{self, AddrSet, SweepConfig, SweepGroup, SweepResult, SweepVerdict};
use crate::fact::SubjectFacts;
use crate::finding::{sort_findings, Finding};
use crate::outcome::{IncompleteEndpoint, ScanMeta, ScanOutcome, ScanStats, Scope, ToolInfo};
use crate::target::Endpoint;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// How often the run loop looks at the Ctrl-C flag.
const INTERRUPT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Open ports queued between the sweep threads and the probe tasks. When the probes fall
/// behind, the sweep blocks instead of buffering without bound.
const OPEN_PORT_QUEUE: usize = 1024;

/// Progress counters the CLI may display (the core never prints).
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub open: AtomicU64,
}

/// Runs the scan described by `plan` over the prepared work list.
///
/// The loop runs as a runtime task, not on the caller's `block_on` thread: it is woken for
/// every batch of open ports and every finished endpoint, and waking a worker of the runtime
/// is far cheaper than unparking a thread outside it.
pub async fn execute(
    plan: Arc<ScanPlan>,
    prepared: Prepared,
    cancel: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> ScanOutcome {
    let task = tokio::spawn(execute_here(plan, prepared, cancel, progress));
    match task.await {
        Ok(outcome) => outcome,
        // Only a panic (the task is never aborted) gets here: re-raise it rather than
        // report a scan that did not happen.
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the scan task ended early: {e}"),
        },
    }
}

async fn execute_here(
    plan: Arc<ScanPlan>,
    prepared: Prepared,
    cancel: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> ScanOutcome {
    let started_at = time::OffsetDateTime::now_utc();
    let clock = Instant::now();
    progress.total.store(prepared.endpoints, Ordering::Relaxed);

    let incomplete: Vec<IncompleteEndpoint> = prepared
        .unresolved
        .iter()
        .map(|(name, reason)| IncompleteEndpoint {
            endpoint: name.clone(),
            stage: "resolve".into(),
            reason: reason.clone(),
        })
        .collect();

    let groups: Vec<SweepGroup> = prepared
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| SweepGroup {
            addrs: match &g.addrs {
                AddrList::Block(b) => AddrSet::Range {
                    first: b.first,
                    count: b.count,
                },
                AddrList::List(l) => AddrSet::List(l.clone()),
            },
            ports: g.ports.clone(),
            group: i,
            shard: g.shard,
        })
        .collect();

    // Open ports arrive with the sweep's connection, which the banner probe reads from.
    // Batches: a sweep worker hands over what one turn of its event loop found.
    let (tx, mut rx) =
        mpsc::channel::<Vec<(SweepResult, Option<std::net::TcpStream>)>>(OPEN_PORT_QUEUE);
    let sweep_cfg = SweepConfig::from_limits(&plan.limits, Arc::new(plan.excludes.clone()));
    // Explicit endpoints (host:port, URLs) that do not answer are reported as incomplete;
    // in a port sweep a silent port is just `filtered`.
    let explicit: Arc<Vec<bool>> = Arc::new(
        prepared
            .groups
            .iter()
            .map(|g| {
                // The whole target's ports, not the shard's share of them.
                let t = &plan.targets[g.target];
                t.port.is_some() && plan.ports_for(t).len() == 1
            })
            .collect(),
    );
    let sweep_cancel = cancel.clone();
    let sweep_progress = progress.clone();
    let sweep_explicit = explicit.clone();
    let sweeper = std::thread::Builder::new()
        .name("posture-sweep".into())
        .spawn(move || {
            let on_result = |r: SweepResult| {
                sweep_progress.done.fetch_add(1, Ordering::Relaxed);
                let forward = match r.verdict {
                    SweepVerdict::Open => {
                        sweep_progress.open.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    SweepVerdict::LocalError(_) => true,
                    SweepVerdict::Filtered => sweep_explicit[r.group],
                    SweepVerdict::Closed => false,
                };
                if forward {
                    // The receiver only goes away when the scan is over.
                    let _ = tx.blocking_send(vec![(r, None)]);
                }
            };
            let on_open = |batch: Vec<(SweepResult, std::net::TcpStream)>| {
                let n = batch.len() as u64;
                sweep_progress.done.fetch_add(n, Ordering::Relaxed);
                sweep_progress.open.fetch_add(n, Ordering::Relaxed);
                let _ = tx.blocking_send(batch.into_iter().map(|(r, s)| (r, Some(s))).collect());
            };
            sweep::sweep_with_handoff(
                &groups,
                &sweep_cfg,
                &sweep_cancel,
                &on_result,
                Some(&on_open),
            )
        });

    // The DNS checks run next to the port phase; they share nothing with it but the outcome.
    let dns_phase = tokio::spawn({
        let (plan, cancel) = (plan.clone(), cancel.clone());
        async move { super::domains::assess_domains(&plan, &cancel).await }
    });
    let mut intake = Intake {
        plan: plan.clone(),
        cancel: cancel.clone(),
        groups: &prepared.groups,
        sem: Arc::new(Semaphore::new(plan.limits.concurrency.max(1))),
        tasks: JoinSet::new(),
        in_flight: HashMap::new(),
        interrupted: false,
        seen: HashSet::new(),
        subjects: Vec::new(),
        findings: Vec::new(),
        incomplete,
    };
    // Until the sweep is over and every endpoint is assessed. Ctrl-C is noticed within a
    // tick: endpoints still being assessed are stopped and listed as interrupted instead of
    // running on to their own deadline (20 s by default).
    let mut sweeping = true;
    let mut tick = tokio::time::interval(INTERRUPT_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while sweeping || !intake.tasks.is_empty() {
        tokio::select! {
            msg = rx.recv(), if sweeping => match msg {
                Some(batch) => {
                    for (r, connected) in batch {
                        intake.take(r, connected).await;
                    }
                }
                None => sweeping = false,
            },
            Some(done) = intake.tasks.join_next_with_id(), if !intake.tasks.is_empty() => {
                intake.finished(done);
            }
            _ = tick.tick(), if !intake.interrupted => {
                if cancel.load(Ordering::Relaxed) {
                    intake.interrupt();
                }
            }
        }
    }
    match dns_phase.await {
        Ok(r) => intake.absorb(r),
        Err(e) => intake.incomplete.push(IncompleteEndpoint {
            endpoint: "*".into(),
            stage: "dns".into(),
            reason: format!("the DNS phase failed: {e}"),
        }),
    }
    let Intake {
        mut subjects,
        mut findings,
        mut incomplete,
        ..
    } = intake;
    let joined = match sweeper {
        Ok(handle) => tokio::task::spawn_blocking(move || handle.join().ok())
            .await
            .ok()
            .flatten(),
        Err(e) => {
            tracing::error!("cannot start the sweep thread: {e}");
            None
        }
    };
    let sweep_stats = match joined {
        Some(stats) => stats,
        _ => {
            incomplete.push(IncompleteEndpoint {
                endpoint: "*".into(),
                stage: "local".into(),
                reason: "the port sweep thread failed".into(),
            });
            sweep::SweepStats::default()
        }
    };
    // A rule that could not judge what it was given leaves the scan incomplete: its policy
    // was not applied there.
    for (id, n, first) in plan.rules.troubles() {
        incomplete.push(IncompleteEndpoint {
            endpoint: "*".into(),
            stage: "rule".into(),
            reason: format!(
                "rule `{id}` could not be decided on {n} subject{} (no finding from {}); \
                 first: {first}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" },
            ),
        });
    }
    let interrupted = cancel.load(Ordering::Relaxed);
    if interrupted {
        incomplete.push(IncompleteEndpoint {
            endpoint: "*".into(),
            stage: "interrupted".into(),
            reason: format!(
                "interrupted: {} of {} endpoints swept",
                sweep_stats.attempts, prepared.endpoints
            ),
        });
    }

    dedup_findings(&mut findings);
    sort_findings(&mut findings);
    subjects.sort_by(|a, b| {
        (a.subject(), a.target().ip.as_deref(), a.endpoint()).cmp(&(
            b.subject(),
            b.target().ip.as_deref(),
            b.endpoint(),
        ))
    });
    incomplete.sort_by(|a, b| (&a.endpoint, &a.stage).cmp(&(&b.endpoint, &b.stage)));

    let finished_at = time::OffsetDateTime::now_utc();
    let stats = ScanStats {
        hosts: prepared.hosts,
        ports_scanned: sweep_stats.attempts,
        open: sweep_stats.open,
        closed: sweep_stats.closed,
        filtered: sweep_stats.filtered,
        subjects: subjects.len() as u64,
        local_retries: sweep_stats.local_retries,
    };
    ScanOutcome {
        schema_version: crate::outcome::SCHEMA_VERSION.into(),
        tool: ToolInfo {
            name: "posture".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            packs: plan.rules.packs(),
        },
        scan: ScanMeta {
            automation_id: plan.automation_id.clone(),
            started_at: rfc3339(started_at),
            finished_at: rfc3339(finished_at),
            duration_ms: clock.elapsed().as_millis() as u64,
            scope: Scope {
                targets: plan.targets.iter().map(|t| t.raw.clone()).collect(),
                excludes: plan.excludes.shown.clone(),
                ports: plan.ports_text.clone(),
                checks: plan.checks.names(),
                domains: plan.domains.iter().map(|d| d.name.clone()).collect(),
            },
            limits: plan.limits.by_name(),
            stats,
            interrupted,
            config_file: plan.config_file.clone(),
            shard: plan.shard.map(|s| s.to_string()),
        },
        rules: plan.rules.infos(),
        findings,
        certificates: super::inventory::build_inventory(&subjects),
        subjects,
        incomplete,
        baseline: None,
    }
}

/// What the run loop collects: sweep results in, endpoint tasks out, facts kept.
struct Intake<'a> {
    plan: Arc<ScanPlan>,
    cancel: Arc<AtomicBool>,
    groups: &'a [WorkGroup],
    /// At most `concurrency` endpoints assessed at once.
    sem: Arc<Semaphore>,
    tasks: JoinSet<Assessed>,
    /// The endpoint (as reports show it) each spawned task assesses.
    in_flight: HashMap<tokio::task::Id, String>,
    /// Ctrl-C was seen: no endpoint is started any more.
    interrupted: bool,
    /// (host, address, port, URL scheme) already assessed: two ranges that partly overlap
    /// sweep an endpoint twice (exact repeats are dropped before the sweep, see
    /// [`super::overlap`]); the same endpoint under two schemes is two asks.
    seen: HashSet<(Arc<str>, IpAddr, u16, Option<crate::target::Scheme>)>,
    subjects: Vec<SubjectFacts>,
    findings: Vec<Finding>,
    incomplete: Vec<IncompleteEndpoint>,
}

impl Intake<'_> {
    fn absorb(&mut self, r: Assessed) {
        self.subjects.extend(r.subjects);
        self.findings.extend(r.findings);
        self.incomplete.extend(r.incomplete);
    }

    /// A spawned assessment ended: its result, or why there is none.
    fn finished(&mut self, done: Result<(tokio::task::Id, Assessed), tokio::task::JoinError>) {
        let (id, reason) = match done {
            Ok((id, r)) => {
                self.in_flight.remove(&id);
                self.absorb(r);
                return;
            }
            Err(e) if e.is_cancelled() => (e.id(), INTERRUPTED_REASON.to_string()),
            // A bug, not a fact about the target; the endpoint is listed rather than lost.
            Err(e) => (e.id(), format!("the assessment failed: {e}")),
        };
        if let Some(endpoint) = self.in_flight.remove(&id) {
            let stage = if self.interrupted {
                "interrupted"
            } else {
                "internal"
            };
            self.incomplete.push(IncompleteEndpoint {
                endpoint,
                stage: stage.into(),
                reason,
            });
        }
    }

    /// Ctrl-C: stop every assessment in flight (each is then listed as interrupted).
    fn interrupt(&mut self) {
        self.interrupted = true;
        self.tasks.abort_all();
    }

    /// One sweep result: an open port is assessed, a silent explicit endpoint or a local
    /// failure is recorded as incomplete.
    async fn take(&mut self, r: SweepResult, connected: Option<std::net::TcpStream>) {
        let plan = &self.plan;
        let g = &self.groups[r.group];
        let host: Arc<str> = match &g.name {
            Some(n) => n.clone(),
            None => Arc::from(r.addr.to_string()),
        };
        let ep = Endpoint {
            host: host.clone(),
            ip: r.addr,
            port: r.port,
            scheme: plan.scheme_for(g.target, r.port),
            target: g.target,
        };
        let (stage, reason) = match r.verdict {
            SweepVerdict::Open => {
                if self.seen.insert((host, r.addr, r.port, ep.scheme)) {
                    self.assess(ep, connected).await;
                }
                return;
            }
            SweepVerdict::Closed => return,
            SweepVerdict::Filtered => (
                "connect",
                format!("no answer within {} ms (filtered)", plan.limits.timeout_ms),
            ),
            SweepVerdict::LocalError(e) => (
                "local",
                format!("local resource error, not a finding about the target: {e}"),
            ),
        };
        self.incomplete.push(IncompleteEndpoint {
            endpoint: display_with_ip(&ep),
            stage: stage.into(),
            reason,
        });
    }

    /// Assesses one open endpoint. In a dense scan most need no waiting (the service already
    /// hung up, or the banner is in): those are judged right here, and only the endpoints that
    /// wait on the network become tasks. The task's first poll registers its real waker with
    /// whatever this poll started.
    async fn assess(&mut self, ep: Endpoint, connected: Option<std::net::TcpStream>) {
        if self.interrupted {
            self.not_started(&ep);
            return;
        }
        // At the concurrency limit this waits for a running assessment to end, which can take
        // up to the endpoint deadline: Ctrl-C is looked at meanwhile.
        let permit = match self.sem.clone().try_acquire_owned() {
            Ok(p) => Ok(p),
            Err(_) => loop {
                tokio::select! {
                    biased;
                    p = self.sem.clone().acquire_owned() => break p,
                    _ = tokio::time::sleep(INTERRUPT_CHECK) => {
                        if self.cancel.load(Ordering::Relaxed) {
                            self.interrupt();
                            self.not_started(&ep);
                            return;
                        }
                    }
                }
            },
        };
        let plan = self.plan.clone();
        // The endpoint deadline runs from now, and is armed only if the assessment has to wait.
        let deadline = tokio::time::Instant::now() + plan.limits.endpoint_timeout();
        let ep = Arc::new(ep);
        let mut work: std::pin::Pin<Box<dyn Future<Output = Assessed> + Send>> = Box::pin({
            let (plan, ep) = (plan.clone(), ep.clone());
            async move { assess_unbounded(&plan, &ep, connected).await }
        });
        match work.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => self.absorb(r),
            Poll::Pending => {
                let shown = display_with_ip(&ep);
                let task = self.tasks.spawn(async move {
                    let _permit = permit;
                    bounded(&plan, &ep, deadline, work).await
                });
                self.in_flight.insert(task.id(), shown);
            }
        }
    }

    /// Ctrl-C came before `ep` was started: it is listed as interrupted.
    fn not_started(&mut self, ep: &Endpoint) {
        self.incomplete.push(IncompleteEndpoint {
            endpoint: display_with_ip(ep),
            stage: "interrupted".into(),
            reason: INTERRUPTED_REASON.into(),
        });
    }
}

/// Why an endpoint in flight at Ctrl-C has no result.
const INTERRUPTED_REASON: &str = "interrupted (Ctrl-C) before the endpoint was fully assessed";

/// RFC 3339 UTC with second precision, as SARIF and the JSON report carry it.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Keeps the first finding of each fingerprint and address (overlapping targets scan an
/// endpoint twice). The fingerprint names the host as the user gave it, so a name's addresses
/// share one; each address is still its own observation (a dual-stack name whose IPv6 server
/// lacks the headers its IPv4 server sends), and dropping all but whichever finished first
/// lost findings and made reports differ from run to run.
fn dedup_findings(findings: &mut Vec<Finding>) {
    let mut seen = HashSet::new();
    findings.retain(|f| seen.insert((f.fingerprint.clone(), f.ip.clone())));
}
