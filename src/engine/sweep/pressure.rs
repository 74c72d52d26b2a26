//! What a connect error means, and how a worker backs off from local resource exhaustion.
//!
//! Pure: no sockets, time passed in, so the retry/backoff state machine is unit-tested
//! without having to exhaust file descriptors or ephemeral ports for real.

use std::io;
use std::time::{Duration, Instant};

/// First pause after a local resource error. Long enough for a few in-flight connects to
/// complete and release their descriptors or ports on a busy host.
pub const BACKOFF_BASE: Duration = Duration::from_millis(2);
/// Longest pause between retries: a connect answers well within this on any network, so
/// waiting longer frees nothing more.
pub const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Retries of one item before it is reported as [`super::SweepVerdict::LocalError`].
/// 50 retries with pauses capped at [`BACKOFF_MAX`] is about 5 s: resource exhaustion that
/// lasts longer is not transient, and the endpoint is reported incomplete, never closed.
pub const MAX_ITEM_RETRIES: u16 = 50;
/// Successful connects needed to widen a shrunken window by one slot again (additive
/// increase, multiplicative decrease: the window creeps back toward the wall it hit).
pub const GROW_AFTER_SUCCESSES: u32 = 8;

/// What one connect error says about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The host answered with a reset: nothing listens.
    Closed,
    /// No answer, or an ICMP unreachable / local firewall verdict on the path.
    Filtered,
    /// Our side ran out of something (descriptors, buffers, ephemeral ports): retry later.
    /// Never a statement about the target.
    Local,
    /// An error that will not go away by retrying (address family unsupported, invalid
    /// address): reported as a local error at once.
    Fatal,
}

/// Classify an error from `socket()`/`connect()` or from `SO_ERROR` after the connect.
pub fn classify(err: &io::Error) -> ErrorClass {
    let Some(code) = err.raw_os_error() else {
        return match err.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => ErrorClass::Closed,
            io::ErrorKind::TimedOut => ErrorClass::Filtered,
            _ => ErrorClass::Fatal,
        };
    };
    classify_errno(code)
}

/// Classify a raw errno value (see [`classify`]).
pub fn classify_errno(code: i32) -> ErrorClass {
    match code {
        libc::ECONNREFUSED | libc::ECONNRESET => ErrorClass::Closed,
        libc::ETIMEDOUT
        | libc::EHOSTUNREACH
        | libc::ENETUNREACH
        | libc::EHOSTDOWN
        | libc::ENETDOWN
        | libc::EACCES
        | libc::EPERM
        | libc::EPROTO => ErrorClass::Filtered,
        libc::EMFILE
        | libc::ENFILE
        | libc::ENOBUFS
        | libc::ENOMEM
        | libc::EADDRNOTAVAIL
        | libc::EADDRINUSE
        | libc::EAGAIN
        | libc::EINTR => ErrorClass::Local,
        _ => ErrorClass::Fatal,
    }
}

/// What the worker does with an item whose connect hit a local resource error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Put it back and try again once the pause is over.
    Again,
    /// Out of retries: report it as a local error.
    GiveUp,
}

/// Per-worker back-pressure: the effective window and the pause after local errors.
#[derive(Debug, Clone)]
pub struct Pressure {
    /// Connects this worker may have in flight now (≤ `max`).
    limit: usize,
    max: usize,
    /// Local errors since the last successful connect.
    streak: u32,
    successes: u32,
    resume_at: Option<Instant>,
}

impl Pressure {
    pub fn new(max: usize) -> Pressure {
        let max = max.max(1);
        Pressure {
            limit: max,
            max,
            streak: 0,
            successes: 0,
            resume_at: None,
        }
    }

    /// The effective window now.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// May another connect be issued with `in_flight` outstanding?
    pub fn may_issue(&self, now: Instant, in_flight: usize) -> bool {
        in_flight < self.limit && self.resume_at.is_none_or(|t| now >= t)
    }

    /// When the current pause ends, if one is in force.
    pub fn resume_at(&self, now: Instant) -> Option<Instant> {
        self.resume_at.filter(|&t| t > now)
    }

    /// A connect was issued without a local error.
    pub fn on_success(&mut self) {
        self.streak = 0;
        self.resume_at = None;
        if self.limit < self.max {
            self.successes += 1;
            if self.successes >= GROW_AFTER_SUCCESSES {
                self.successes = 0;
                self.limit += 1;
            }
        }
    }

    /// A local resource error while `in_flight` connects were outstanding, on an item that
    /// had already been retried `retries` times. Shrinks the window to half of what was in
    /// flight (at least one) and pauses for a bounded exponential delay.
    pub fn on_local_error(&mut self, now: Instant, in_flight: usize, retries: u16) -> Retry {
        self.streak = self.streak.saturating_add(1);
        self.successes = 0;
        self.limit = (in_flight.min(self.limit) / 2).max(1);
        self.resume_at = Some(now + backoff_delay(self.streak));
        if retries >= MAX_ITEM_RETRIES {
            Retry::GiveUp
        } else {
            Retry::Again
        }
    }
}

/// Pause after the `streak`-th consecutive local error: `BACKOFF_BASE · 2^(streak-1)`,
/// capped at [`BACKOFF_MAX`].
pub fn backoff_delay(streak: u32) -> Duration {
    let shift = streak.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        assert_eq!(classify_errno(libc::ECONNREFUSED), ErrorClass::Closed);
        assert_eq!(classify_errno(libc::EHOSTUNREACH), ErrorClass::Filtered);
        assert_eq!(classify_errno(libc::ENETUNREACH), ErrorClass::Filtered);
        assert_eq!(classify_errno(libc::EACCES), ErrorClass::Filtered);
        assert_eq!(classify_errno(libc::EPERM), ErrorClass::Filtered);
        assert_eq!(classify_errno(libc::ETIMEDOUT), ErrorClass::Filtered);
        for local in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::EADDRNOTAVAIL,
        ] {
            assert_eq!(classify_errno(local), ErrorClass::Local, "errno {local}");
        }
        assert_eq!(classify_errno(libc::EAFNOSUPPORT), ErrorClass::Fatal);
        assert_eq!(
            classify(&io::Error::from_raw_os_error(libc::EMFILE)),
            ErrorClass::Local
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            ErrorClass::Closed
        );
    }

    #[test]
    fn backoff_is_exponential_and_bounded() {
        assert_eq!(backoff_delay(1), BACKOFF_BASE);
        assert_eq!(backoff_delay(2), BACKOFF_BASE * 2);
        assert_eq!(backoff_delay(3), BACKOFF_BASE * 4);
        assert_eq!(backoff_delay(30), BACKOFF_MAX);
        assert_eq!(backoff_delay(u32::MAX), BACKOFF_MAX);
        let mut prev = Duration::ZERO;
        for s in 1..100 {
            let d = backoff_delay(s);
            assert!(d >= prev && d <= BACKOFF_MAX);
            prev = d;
        }
    }

    #[test]
    fn local_error_shrinks_window_and_pauses() {
        let t0 = Instant::now();
        let mut p = Pressure::new(64);
        assert!(p.may_issue(t0, 63));
        assert!(!p.may_issue(t0, 64));
        assert_eq!(p.on_local_error(t0, 40, 0), Retry::Again);
        assert_eq!(p.limit(), 20);
        assert!(!p.may_issue(t0, 0), "paused right after the error");
        assert_eq!(p.resume_at(t0), Some(t0 + BACKOFF_BASE));
        assert!(p.may_issue(t0 + BACKOFF_BASE, 19));
        assert!(!p.may_issue(t0 + BACKOFF_BASE, 20));
        // A second error before any success doubles the pause and halves again.
        assert_eq!(p.on_local_error(t0, 20, 1), Retry::Again);
        assert_eq!(p.limit(), 10);
        assert_eq!(p.resume_at(t0), Some(t0 + BACKOFF_BASE * 2));
        // Nothing in flight: the window never drops below one.
        p.on_local_error(t0, 0, 2);
        assert_eq!(p.limit(), 1);
    }

    #[test]
    fn window_grows_back_additively_to_the_configured_max() {
        let t0 = Instant::now();
        let mut p = Pressure::new(4);
        p.on_local_error(t0, 4, 0);
        assert_eq!(p.limit(), 2);
        for _ in 0..GROW_AFTER_SUCCESSES - 1 {
            p.on_success();
        }
        assert_eq!(p.limit(), 2);
        p.on_success();
        assert_eq!(p.limit(), 3);
        assert_eq!(p.resume_at(t0), None, "a success ends the pause");
        for _ in 0..10 * GROW_AFTER_SUCCESSES {
            p.on_success();
        }
        assert_eq!(p.limit(), 4);
    }

    #[test]
    fn an_item_gives_up_after_the_retry_bound() {
        let t0 = Instant::now();
        let mut p = Pressure::new(8);
        let mut retries = 0u16;
        let mut total_pause = Duration::ZERO;
        while p.on_local_error(t0, 1, retries) == Retry::Again {
            total_pause += p.resume_at(t0).map(|t| t - t0).unwrap_or_default();
            retries += 1;
            assert!(retries <= MAX_ITEM_RETRIES);
        }
        assert_eq!(retries, MAX_ITEM_RETRIES);
        assert!(total_pause <= BACKOFF_MAX * u32::from(MAX_ITEM_RETRIES));
    }
}
