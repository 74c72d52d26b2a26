//! The open-file limit: raised to the hard limit at start, and the concurrency capped below it.

use super::limits::FD_RESERVE;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024),
    }
}

/// The largest concurrency the fd limit allows: the limit minus a reserve for the resolver,
/// report files, probes and stdio, and never below 1.
pub fn cap_concurrency(requested: usize, fd_limit: u64) -> usize {
    let cap = fd_limit.saturating_sub(FD_RESERVE).max(1);
    requested
        .min(usize::try_from(cap).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_capped_below_the_fd_limit() {
        assert_eq!(cap_concurrency(256, 20_000), 256);
        assert_eq!(cap_concurrency(30_000, 20_000), 19_936);
        assert_eq!(cap_concurrency(256, 10), 1);
        assert_eq!(cap_concurrency(0, 20_000), 1);
    }
}
