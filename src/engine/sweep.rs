//! The TCP connect sweep: every (address, port) of a scan answered open, closed or filtered,
//! as fast as the kernel allows.
//!
//! # Shape
//!
//! The work is one flat index space, Σ |addrs| × |ports| over the [`SweepGroup`]s, cut into
//! one contiguous slice per worker ([`plan`]). Each worker is a plain OS thread
//! (`std::thread::scope`) running its own `mio` event loop over non-blocking sockets:
//!
//! * a fixed window of connects in flight, held in preallocated slots (a `Vec<Option<Slot>>`
//!   plus a free list) — no allocation per connect;
//! * no timer per connect: slots carry a deadline and a periodic sweep (every
//!   [`sweep_tick`]) reports the expired ones as filtered;
//! * a connect that succeeds gets `SO_LINGER 0` before close, so it ends in a reset and
//!   leaves no `TIME_WAIT` behind (65,535 ports would otherwise exhaust ephemeral ports);
//! * only open ports pay for the self-connect check (`local_addr == peer_addr`: on loopback a
//!   connect to a free ephemeral port can connect to itself — nothing listens there, so the
//!   port is closed).
//!
//! This mirrors a raw C epoll loop (`scripts/bench/connect_loop.c`), which is the yardstick.
//!
//! # Local resource errors
//!
//! `EMFILE`/`ENFILE`/`ENOBUFS` on socket creation and `EADDRNOTAVAIL` on connect say nothing
//! about the target. The worker halves its window, pauses (bounded exponential backoff) and
//! retries the same item; after [`pressure::MAX_ITEM_RETRIES`] the item is reported as
//! [`SweepVerdict::LocalError`] — never closed, never filtered ([`pressure`]).
//!
//! # Politeness
//!
//! `host_concurrency` caps connects in flight per address across all workers (slices are
//! snapped to address boundaries and walked port-major, so consecutive connects hit different
//! hosts); `rate` caps connects per second across all workers (governor).
//!
//! The core never prints: every verdict goes to the caller's callback.

mod gate;
mod plan;
mod pressure;
mod worker;

use crate::engine::limits::{Limits, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use pressure::{BACKOFF_BASE, BACKOFF_MAX, GROW_AFTER_SUCCESSES, MAX_ITEM_RETRIES};

/// Connects in flight per worker when every target is a loopback address. Loopback has no
/// wire: a connect is answered within microseconds, so a deeper window only adds sockets the
/// kernel must walk and cache misses. Measured on 2 cores (all 65,535 ports of 127.0.0.1,
/// medians of interleaved runs against the C loop): 8–64 per worker within noise of the C loop,
/// 256 per worker 1.2×, 1,024 per worker 1.5× slower. 32 sits in the middle of the flat part.
/// Real networks use the configured window (256 by default): there in-flight depth is what
/// hides the round-trip time.
pub const LOOPBACK_WINDOW_PER_WORKER: usize = 32;
/// The timeout sweep runs every `timeout / SWEEP_TICK_DIVISOR`: a filtered verdict arrives at
/// most 1/8 of the timeout late, and a sweep only walks one worker's slots (≤ its window).
pub const SWEEP_TICK_DIVISOR: u32 = 8;
/// Lower bound of the sweep tick: below 1 ms the sweep would run more often than useful.
pub const SWEEP_TICK_MIN: Duration = Duration::from_millis(1);
/// Upper bound of the sweep tick; also how long a worker waits at most before it notices
/// cancellation.
pub const SWEEP_TICK_MAX: Duration = Duration::from_millis(50);
/// A worker is only worth its thread with this many items; tiny sweeps run on fewer workers.
pub const MIN_ITEMS_PER_WORKER: u128 = 256;
/// Upper bound on workers whatever is asked: beyond this the connect path is kernel-bound and
/// more threads only contend.
pub const MAX_WORKERS: usize = 64;

/// The timeout sweep interval for a connect timeout (see [`SWEEP_TICK_DIVISOR`]).
pub fn sweep_tick(timeout: Duration) -> Duration {
    (timeout / SWEEP_TICK_DIVISOR).clamp(SWEEP_TICK_MIN, SWEEP_TICK_MAX)
}

/// Addresses of one group: a lazy contiguous range or an explicit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSet {
    /// `count` consecutive addresses from `first` (IPv4 or IPv6), computed on demand and never
    /// materialised. Addresses past the end of the family's space are not part of the set.
    Range { first: IpAddr, count: u64 },
    /// An explicit list (resolved names, scattered addresses), in scan order.
    List(Arc<[IpAddr]>),
}

impl AddrSet {
    /// Number of addresses.
    pub fn len(&self) -> u64 {
        match self {
            AddrSet::Range { first, count } => {
                let room: u128 = match first {
                    IpAddr::V4(a) => (1u128 << 32) - u128::from(u32::from(*a)),
                    IpAddr::V6(a) => u128::MAX - u128::from(*a) + 1,
                };
                u64::try_from(room).map_or(*count, |room| room.min(*count))
            }
            AddrSet::List(list) => list.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Address `i`, or `None` past the end.
    pub fn get(&self, i: u64) -> Option<IpAddr> {
        if i >= self.len() {
            return None;
        }
        Some(match self {
            AddrSet::Range {
                first: IpAddr::V4(a),
                ..
            } => IpAddr::V4(Ipv4Addr::from(u32::from(*a) + i as u32)),
            AddrSet::Range {
                first: IpAddr::V6(a),
                ..
            } => IpAddr::V6(Ipv6Addr::from(u128::from(*a) + u128::from(i))),
            AddrSet::List(list) => list[i as usize],
        })
    }

    /// Every address is a loopback address (127.0.0.0/8 or ::1).
    pub fn is_loopback(&self) -> bool {
        match self {
            AddrSet::Range { first, .. } => {
                let n = self.len();
                n == 0 || (first.is_loopback() && self.get(n - 1).is_some_and(|a| a.is_loopback()))
            }
            AddrSet::List(list) => list.iter().all(IpAddr::is_loopback),
        }
    }
}

/// One target's addresses × ports. `group` is the caller's index (its target), echoed in
/// every [`SweepResult`].
#[derive(Debug, Clone)]
pub struct SweepGroup {
    pub addrs: AddrSet,
    pub ports: Arc<[u16]>,
    pub group: usize,
    /// Keep only the `(address, port)` items this shard owns (`--shard K/N` on IP and CIDR
    /// targets); the others are skipped without a connect and without a verdict. The index
    /// space and its split stay those of the whole group, so every worker's slice thins out
    /// evenly and the hash costs a few nanoseconds per item against a connect's microseconds.
    pub shard: Option<crate::engine::shard::Shard>,
}

/// Addresses never connected to (`--exclude`): the target layer's sorted, merged ranges.
pub use crate::target::expand::Excludes;

/// How to sweep.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// Connects in flight in total, shared out between workers (capped per worker at
    /// `loopback_window` when every target is loopback).
    pub window: usize,
    /// Cap on connects in flight per worker when every address is loopback (see
    /// [`LOOPBACK_WINDOW_PER_WORKER`]); 0 = no cap.
    pub loopback_window: usize,
    /// Event loops (threads); 0 = one per available core.
    pub workers: usize,
    /// No answer within this is filtered.
    pub timeout: Duration,
    /// Connects in flight per address, across workers; 0 = unlimited.
    pub host_concurrency: usize,
    /// Connects per second across all workers; `None` = unlimited.
    pub rate: Option<NonZeroU32>,
    /// Addresses never connected to.
    pub excludes: Arc<Excludes>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            window: DEFAULT_CONCURRENCY,
            loopback_window: LOOPBACK_WINDOW_PER_WORKER,
            workers: 0,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            host_concurrency: 0,
            rate: None,
            excludes: Arc::new(Excludes::default()),
        }
    }
}

impl SweepConfig {
    /// The sweep settings of a scan's [`Limits`] (`concurrency`, `timeout_ms`,
    /// `host_concurrency`, `rate` with 0 = unlimited).
    pub fn from_limits(limits: &Limits, excludes: Arc<Excludes>) -> SweepConfig {
        SweepConfig {
            window: limits.concurrency.max(1),
            loopback_window: LOOPBACK_WINDOW_PER_WORKER,
            workers: 0,
            timeout: limits.timeout(),
            host_concurrency: limits.host_concurrency,
            rate: NonZeroU32::new(u32::try_from(limits.rate).unwrap_or(u32::MAX)),
            excludes,
        }
    }
}

/// The answer for one (address, port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepVerdict {
    /// The three-way handshake completed (with someone other than ourselves).
    Open,
    /// Connection refused or reset; also a self-connect (nothing listens there).
    Closed,
    /// No answer within the timeout, or an unreachable / prohibited answer.
    Filtered,
    /// Our side could not try (out of descriptors or ports after every retry, or an error that
    /// retrying cannot fix). Never a statement about the target: the endpoint is incomplete.
    LocalError(String),
}

/// One verdict, delivered to the callback as soon as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepResult {
    /// The caller's [`SweepGroup::group`].
    pub group: usize,
    pub addr: IpAddr,
    pub port: u16,
    pub verdict: SweepVerdict,
}

/// Counts of one sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Items that reached a verdict (open + closed + filtered + local_failures).
    pub attempts: u64,
    pub open: u64,
    pub closed: u64,
    pub filtered: u64,
    /// Connects retried after a local resource error.
    pub local_retries: u64,
    /// Items reported as [`SweepVerdict::LocalError`].
    pub local_failures: u64,
    /// Distinct (group, address) pairs skipped because excluded.
    pub excluded_hosts: u64,
    /// Highest number of connects seen in flight to one address (tracked only with
    /// `host_concurrency > 0`).
    pub peak_host_in_flight: usize,
    /// Worker threads used and connects in flight allowed per worker.
    pub workers: usize,
    pub window_per_worker: usize,
    /// The sweep stopped early because `cancel` was set.
    pub cancelled: bool,
    pub elapsed: Duration,
}

impl SweepStats {
    fn absorb(&mut self, o: &SweepStats) {
        self.attempts += o.attempts;
        self.open += o.open;
        self.closed += o.closed;
        self.filtered += o.filtered;
        self.local_retries += o.local_retries;
        self.local_failures += o.local_failures;
        self.excluded_hosts += o.excluded_hosts;
        self.cancelled |= o.cancelled;
    }
}

/// Sweep every (address, port) of `groups`, calling `on_result` (from worker threads) for every
/// verdict. Stops issuing connects once `cancel` is set, closes what is in flight and returns
/// (`stats.cancelled`). Returns when every item has a verdict.
pub fn sweep(
    groups: &[SweepGroup],
    cfg: &SweepConfig,
    cancel: &AtomicBool,
    on_result: &(dyn Fn(SweepResult) + Sync),
) -> SweepStats {
    sweep_with_handoff(groups, cfg, cancel, on_result, None)
}

/// Called with open ports and their connected sockets, instead of `on_result`, in batches
/// (one hand-over, one wake-up of the receiver, per batch): a worker hands over what it found
/// once it holds 64 open ports, the oldest has waited 2 ms, or nothing else is in flight.
pub type OnOpen<'a> = &'a (dyn Fn(Vec<(SweepResult, std::net::TcpStream)>) + Sync);

/// [`sweep`], but open ports are handed over with their connected socket (`on_open`), so the
/// banner probe reads from the connection the sweep made instead of connecting again: one
/// connect (and one accept on the server) less per open port. The socket is non-blocking and
/// set to close with a reset.
pub fn sweep_with_handoff(
    groups: &[SweepGroup],
    cfg: &SweepConfig,
    cancel: &AtomicBool,
    on_result: &(dyn Fn(SweepResult) + Sync),
    on_open: Option<OnOpen<'_>>,
) -> SweepStats {
    let started = Instant::now();
    let port_major = cfg.host_concurrency > 0;
    let plan = plan::Plan::new(groups, port_major);
    let total = plan.total();

    let asked = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let by_size = usize::try_from(total.div_ceil(MIN_ITEMS_PER_WORKER)).unwrap_or(usize::MAX);
    let workers = asked.min(by_size).clamp(1, MAX_WORKERS);

    let window = cfg.window.max(1);
    let loopback = groups.iter().all(|g| g.addrs.is_loopback());
    let per_worker = |w: usize| {
        let share = (window / workers + usize::from(w < window % workers)).max(1);
        if loopback && cfg.loopback_window > 0 {
            share.min(cfg.loopback_window)
        } else {
            share
        }
    };

    let gate = gate::HostGate::new(cfg.host_concurrency);
    let limiter = cfg.rate.map(worker::RateLimit::new);
    let shared = worker::Shared {
        groups,
        plan: &plan,
        timeout: cfg.timeout,
        tick: sweep_tick(cfg.timeout),
        excludes: &cfg.excludes,
        gate: &gate,
        limiter: limiter.as_ref(),
        cancel,
        on_result,
        on_open,
    };

    let slices = plan.split(workers);
    let mut stats = SweepStats {
        // Port-major slices snap to address boundaries: one host leaves the others empty.
        workers: slices.iter().filter(|r| r.start < r.end).count(),
        window_per_worker: per_worker(0),
        ..SweepStats::default()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = slices
            .into_iter()
            .enumerate()
            .filter(|(_, r)| r.start < r.end)
            .map(|(w, slice)| {
                let shared = &shared;
                let window = per_worker(w);
                scope.spawn(move || worker::run(shared, slice, window))
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(s) => stats.absorb(&s),
                // A worker panic is a bug; re-raise it rather than return partial counts.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
    });
    stats.peak_host_in_flight = gate.peak();
    stats.elapsed = started.elapsed();
    stats
}

#[cfg(test)]
mod tests;
