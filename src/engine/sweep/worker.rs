//! One worker: a `mio` event loop that owns one slice of the sweep and a fixed window of
//! non-blocking connects.
//!
//! The loop is: issue connects until the window is full → wait for readiness (bounded by the
//! next timeout sweep, backoff end or rate-limit slot) → read each ready socket's verdict →
//! sweep expired slots. Sockets are never registered for anything but writability and never
//! read: a verdict is decided by `SO_ERROR` and `getpeername`, then the socket is closed.

use super::gate::HostGate;
use super::plan::{Cursor, Plan};
use super::pressure::{self, backoff_delay, ErrorClass, Pressure, Retry};
use super::{Excludes, SweepGroup, SweepResult, SweepStats, SweepVerdict};
use crate::engine::shard::AddrHash;
use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::SockRef;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The rate limiter may let this fraction of a second's quota through at once (a 10 ms
/// burst). A burst of one would cap the rate at one connect per poll wake-up (~1 ms), far
/// below what `--rate` asks for at high rates; a full second's burst would defeat the limit.
const RATE_BURST_DIVISOR: u32 = 100;

/// Open ports are handed over in batches of up to this many, or once the oldest has waited
/// [`HANDOFF_DELAY`]. Each hand-over wakes a thread of the runtime; on loopback, where a
/// turn of the event loop finds only a few open ports, handing over every turn cost the dense
/// benchmark (256 hosts × top100) a fifth of its CPU time in wake-ups and context switches
/// (measured: 316 → 257 ms of CPU).
const HANDOFF_BATCH: usize = 64;
/// The longest an open port waits in a batch: nothing next to the connect and banner timeouts,
/// and bounded so a slow sweep never sits on its open ports.
const HANDOFF_DELAY: Duration = Duration::from_millis(2);

/// Connects-per-second cap shared by all workers.
#[derive(Debug)]
pub(crate) struct RateLimit {
    limiter: RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>,
}

impl RateLimit {
    pub fn new(rate: NonZeroU32) -> RateLimit {
        let burst = NonZeroU32::new(rate.get() / RATE_BURST_DIVISOR).unwrap_or(NonZeroU32::MIN);
        RateLimit {
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                MonotonicClock,
            ),
        }
    }

    /// Take one connect's worth of quota, or learn when the next one is available.
    fn check(&self) -> Result<(), Instant> {
        self.limiter.check().map_err(|nu| nu.earliest_possible())
    }
}

/// What every worker of one sweep shares (read-only, or internally synchronised).
pub(crate) struct Shared<'a> {
    pub groups: &'a [SweepGroup],
    pub plan: &'a Plan,
    pub timeout: Duration,
    pub tick: Duration,
    pub excludes: &'a Excludes,
    pub gate: &'a HostGate,
    pub limiter: Option<&'a RateLimit>,
    pub cancel: &'a AtomicBool,
    pub on_result: &'a (dyn Fn(SweepResult) + Sync),
    /// When set, open ports go here with their connected socket (see `sweep_with_handoff`).
    pub on_open: Option<super::OnOpen<'a>>,
}

/// One (address, port) to connect to.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// Index into `Shared::groups`.
    group: usize,
    addr: IpAddr,
    port: u16,
    /// Local resource errors so far.
    retries: u16,
}

/// A connect in flight.
struct Slot {
    stream: TcpStream,
    item: Item,
    deadline: Instant,
}

/// The worker's items in order, with excluded addresses skipped.
struct Feed<'a> {
    shared: &'a Shared<'a>,
    cursor: Cursor<'a>,
    /// The last (group, address index) looked up, with its exclusion and its shard hash state:
    /// address-major slices reuse it for every port.
    last: Option<(usize, u64, IpAddr, bool, Option<AddrHash>)>,
    excluded_hosts: u64,
    done: bool,
}

impl<'a> Feed<'a> {
    fn next(&mut self) -> Option<Item> {
        loop {
            let Some(pos) = self.cursor.next() else {
                self.done = true;
                return None;
            };
            let group = &self.shared.groups[pos.group];
            let (addr, excluded, hash) = match self.last {
                Some((g, a, addr, ex, h)) if g == pos.group && a == pos.addr => (addr, ex, h),
                _ => {
                    // The plan was built from these sets: the index is in range.
                    let addr = group.addrs.get(pos.addr)?;
                    let ex =
                        !self.shared.excludes.is_empty() && self.shared.excludes.contains(addr);
                    let h = group.shard.map(|_| AddrHash::new(addr));
                    self.last = Some((pos.group, pos.addr, addr, ex, h));
                    (addr, ex, h)
                }
            };
            if excluded {
                // Each address has exactly one port-index-0 item, in exactly one slice.
                if pos.port == 0 {
                    self.excluded_hosts += 1;
                }
                continue;
            }
            let port = group.ports[pos.port];
            if let (Some(shard), Some(hash)) = (group.shard, hash) {
                if !hash.owned_by(shard, port) {
                    // Another shard's item: no connect, no verdict, not counted.
                    continue;
                }
            }
            return Some(Item {
                group: pos.group,
                addr,
                port,
                retries: 0,
            });
        }
    }
}

/// What a ready socket says.
enum Readiness {
    /// Spurious wake-up: the connect is still in progress.
    Pending,
    Verdict(SweepVerdict),
    /// A local resource error reported after the connect: retry the item.
    Local(io::Error),
}

/// Read the outcome of a non-blocking connect that reported readiness.
fn check(stream: &TcpStream) -> Readiness {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => from_error(e),
        Ok(None) => match stream.peer_addr() {
            Ok(peer) => {
                // Close with a reset: no TIME_WAIT, no port exhaustion. Failing to set it
                // costs only a TIME_WAIT entry, so it is not an error.
                let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
                if stream.local_addr().is_ok_and(|local| local == peer) {
                    // TCP simultaneous open with ourselves: a free ephemeral port on loopback.
                    // Nothing listens there.
                    Readiness::Verdict(SweepVerdict::Closed)
                } else {
                    Readiness::Verdict(SweepVerdict::Open)
                }
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotConnected
                    || e.raw_os_error() == Some(libc::EINPROGRESS) =>
            {
                Readiness::Pending
            }
            Err(e) => from_error(e),
        },
    }
}

fn from_error(e: io::Error) -> Readiness {
    match pressure::classify(&e) {
        ErrorClass::Closed => Readiness::Verdict(SweepVerdict::Closed),
        ErrorClass::Filtered => Readiness::Verdict(SweepVerdict::Filtered),
        ErrorClass::Local => Readiness::Local(e),
        ErrorClass::Fatal => Readiness::Verdict(SweepVerdict::LocalError(e.to_string())),
    }
}

/// The event loop's mutable state.
struct Worker<'a> {
    shared: &'a Shared<'a>,
    stats: SweepStats,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    in_flight: usize,
    /// Items to retry after a local error, before anything new.
    retry: VecDeque<Item>,
    /// An item that could not be issued yet (host cap or rate limit), issued first.
    held: Option<Item>,
    pressure: Pressure,
}

impl Worker<'_> {
    fn count(&mut self, verdict: SweepVerdict) {
        let s = &mut self.stats;
        s.attempts += 1;
        match verdict {
            SweepVerdict::Open => s.open += 1,
            SweepVerdict::Closed => s.closed += 1,
            SweepVerdict::Filtered => s.filtered += 1,
            SweepVerdict::LocalError(_) => s.local_failures += 1,
        }
    }

    fn report(&mut self, item: Item, verdict: SweepVerdict) {
        self.count(verdict.clone());
        (self.shared.on_result)(SweepResult {
            group: self.shared.groups[item.group].group,
            addr: item.addr,
            port: item.port,
            verdict,
        });
    }

    fn local_error(&mut self, now: Instant, mut item: Item, e: &io::Error) {
        match self
            .pressure
            .on_local_error(now, self.in_flight, item.retries)
        {
            Retry::Again => {
                self.stats.local_retries += 1;
                item.retries += 1;
                self.retry.push_front(item);
            }
            Retry::GiveUp => self.report(item, SweepVerdict::LocalError(e.to_string())),
        }
    }

    /// Connect to `item` (whose host-gate slot is taken) and park it in a free slot.
    /// Returns `false` when no slot is free (the item is held for later).
    fn issue(&mut self, poll: &Poll, now: Instant, item: Item) -> bool {
        // `may_issue` checked `in_flight < limit ≤ window`, so a slot is free; stay safe anyway.
        let Some(i) = self.free.pop() else {
            self.shared.gate.release(item.addr);
            self.held = Some(item);
            return false;
        };
        let outcome = match TcpStream::connect(SocketAddr::new(item.addr, item.port)) {
            Err(e) => from_error(e),
            Ok(mut stream) => {
                match poll
                    .registry()
                    .register(&mut stream, Token(i), Interest::WRITABLE)
                {
                    Ok(()) => {
                        self.slots[i] = Some(Slot {
                            stream,
                            item,
                            deadline: now + self.shared.timeout,
                        });
                        self.in_flight += 1;
                        self.pressure.on_success();
                        return true;
                    }
                    // epoll is out of memory or watches: local, whatever the errno says.
                    Err(e) => Readiness::Local(e),
                }
            }
        };
        self.free.push(i);
        self.shared.gate.release(item.addr);
        match outcome {
            Readiness::Verdict(v) => self.report(item, v),
            Readiness::Local(e) => self.local_error(now, item, &e),
            Readiness::Pending => {}
        }
        true
    }

    /// Free slot `i`, returning its connect.
    fn release(&mut self, i: usize) -> Option<Slot> {
        let slot = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        self.in_flight -= 1;
        self.shared.gate.release(slot.item.addr);
        Some(slot)
    }

    /// Report every expired connect as filtered.
    fn sweep_expired(&mut self, now: Instant) {
        if self.in_flight == 0 {
            return;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|s| s.deadline <= now) {
                if let Some(slot) = self.release(i) {
                    drop(slot.stream);
                    self.report(slot.item, SweepVerdict::Filtered);
                }
            }
        }
    }

    /// Close everything in flight without a verdict (cancellation).
    fn abandon(&mut self) {
        for i in 0..self.slots.len() {
            self.release(i);
        }
    }
}

/// Open the worker's poller, retrying through transient descriptor exhaustion.
fn open_poll(cancel: &AtomicBool) -> io::Result<Poll> {
    let mut attempt: u16 = 0;
    loop {
        match Poll::new() {
            Ok(p) => return Ok(p),
            Err(e)
                if pressure::classify(&e) == ErrorClass::Local
                    && attempt < pressure::MAX_ITEM_RETRIES
                    && !cancel.load(Ordering::Relaxed) =>
            {
                attempt += 1;
                std::thread::sleep(backoff_delay(u32::from(attempt)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Run one worker over `slice` with at most `window` connects in flight.
pub(crate) fn run(shared: &Shared<'_>, slice: Range<u128>, window: usize) -> SweepStats {
    let window = window.max(1);
    let mut feed = Feed {
        shared,
        cursor: shared.plan.cursor(slice),
        last: None,
        excluded_hosts: 0,
        done: false,
    };
    let mut w = Worker {
        shared,
        stats: SweepStats::default(),
        slots: (0..window).map(|_| None).collect(),
        free: (0..window).rev().collect(),
        in_flight: 0,
        retry: VecDeque::new(),
        held: None,
        pressure: Pressure::new(window),
    };
    let mut poll = match open_poll(shared.cancel) {
        Ok(p) => p,
        Err(e) => {
            let reason = format!("cannot create a poller: {e}");
            while let Some(item) = feed.next() {
                if shared.cancel.load(Ordering::Relaxed) {
                    w.stats.cancelled = true;
                    break;
                }
                w.report(item, SweepVerdict::LocalError(reason.clone()));
            }
            w.stats.excluded_hosts = feed.excluded_hosts;
            return w.stats;
        }
    };
    let mut events = Events::with_capacity(window);
    let mut now = Instant::now();
    let mut next_sweep = now + shared.tick;
    let mut opened: Vec<(SweepResult, std::net::TcpStream)> = Vec::new();
    let mut opened_since = now;

    loop {
        if shared.cancel.load(Ordering::Relaxed) {
            w.stats.cancelled = true;
            w.abandon();
            break;
        }

        // Fill the window.
        let mut wake: Option<Instant> = None;
        while w.pressure.may_issue(now, w.in_flight) {
            let next = w.held.take().or_else(|| w.retry.pop_front());
            let Some(item) = next.or_else(|| feed.next()) else {
                break;
            };
            if !shared.gate.try_acquire(item.addr) {
                // Head-of-line wait: the host is at its cap until one of its connects ends.
                w.held = Some(item);
                break;
            }
            if let Some(limiter) = shared.limiter {
                if let Err(at) = limiter.check() {
                    shared.gate.release(item.addr);
                    w.held = Some(item);
                    wake = Some(at);
                    break;
                }
            }
            if !w.issue(&poll, now, item) {
                break;
            }
        }

        if w.in_flight == 0 && w.held.is_none() && w.retry.is_empty() && feed.done {
            break;
        }
        // Nothing in flight: no event will come to end the batch's wait.
        if !opened.is_empty() && w.in_flight == 0 {
            if let Some(on_open) = w.shared.on_open {
                on_open(std::mem::take(&mut opened));
            }
        }

        // Wait for answers, at most until the next sweep, the end of a pause or a rate slot.
        let mut until = next_sweep;
        if let Some(t) = w.pressure.resume_at(now) {
            until = until.min(t);
        }
        if let Some(t) = wake {
            until = until.min(t);
        }
        if !opened.is_empty() {
            until = until.min(opened_since + HANDOFF_DELAY);
        }
        if let Err(e) = poll.poll(&mut events, Some(until.saturating_duration_since(now))) {
            if e.kind() != io::ErrorKind::Interrupted {
                // The poller itself failed: nothing in flight can be judged any more.
                let reason = format!("poll failed: {e}");
                let mut pending: Vec<Item> = (0..w.slots.len())
                    .filter_map(|i| w.release(i).map(|s| s.item))
                    .collect();
                pending.extend(w.held.take());
                pending.extend(std::mem::take(&mut w.retry));
                for item in pending {
                    w.report(item, SweepVerdict::LocalError(reason.clone()));
                }
                while let Some(item) = feed.next() {
                    w.report(item, SweepVerdict::LocalError(reason.clone()));
                }
                break;
            }
        }
        now = Instant::now();

        let batch_was_empty = opened.is_empty();
        for event in events.iter() {
            let i = event.token().0;
            let Some(slot) = w.slots.get(i).and_then(Option::as_ref) else {
                continue;
            };
            let readiness = check(&slot.stream);
            if matches!(readiness, Readiness::Pending) {
                continue;
            }
            let Some(mut slot) = w.release(i) else {
                continue;
            };
            if let (Readiness::Verdict(SweepVerdict::Open), Some(_)) =
                (&readiness, w.shared.on_open)
            {
                // Out of this worker's epoll set before the socket changes hands: a registered
                // descriptor would keep waking this loop under a reused token.
                if poll.registry().deregister(&mut slot.stream).is_ok() {
                    w.count(SweepVerdict::Open);
                    let result = SweepResult {
                        group: w.shared.groups[slot.item.group].group,
                        addr: slot.item.addr,
                        port: slot.item.port,
                        verdict: SweepVerdict::Open,
                    };
                    opened.push((result, slot.stream.into()));
                    continue;
                }
            }
            drop(slot.stream);
            match readiness {
                Readiness::Verdict(v) => w.report(slot.item, v),
                Readiness::Local(e) => w.local_error(now, slot.item, &e),
                Readiness::Pending => {}
            }
        }

        if batch_was_empty {
            opened_since = now;
        }
        if let (false, Some(on_open)) = (opened.is_empty(), w.shared.on_open) {
            if opened.len() >= HANDOFF_BATCH || now >= opened_since + HANDOFF_DELAY {
                on_open(std::mem::take(&mut opened));
            }
        }

        if now >= next_sweep {
            w.sweep_expired(now);
            next_sweep = now + shared.tick;
        }
    }
    if let (false, Some(on_open)) = (opened.is_empty(), w.shared.on_open) {
        on_open(opened);
    }
    w.stats.excluded_hosts = feed.excluded_hosts;
    w.stats
}

/// [`check`] for the unit tests: the verdict of a ready socket, `None` while pending or on a
/// local error.
#[cfg(test)]
pub(crate) fn check_for_test(stream: &TcpStream) -> Option<SweepVerdict> {
    match check(stream) {
        Readiness::Verdict(v) => Some(v),
        Readiness::Pending | Readiness::Local(_) => None,
    }
}
