//! The per-address cap on connects in flight (`host_concurrency`), shared by all workers.
//!
//! Slices are snapped to address boundaries, so normally one worker owns an address; the gate
//! is still shared because the same address can appear in two groups (two targets resolving
//! to one IP) owned by different workers. Only addresses with connects in flight are in the
//! maps, so memory is bounded by the window, and the maps are sharded to keep the lock cheap.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Lock shards: enough that two to a few dozen workers rarely meet on one lock.
const SHARDS: usize = 64;

#[derive(Debug)]
pub(crate) struct HostGate {
    /// 0 = unlimited: the gate is inert and costs nothing.
    cap: usize,
    shards: Vec<Mutex<HashMap<IpAddr, usize>>>,
    hasher: RandomState,
    peak: AtomicUsize,
}

impl HostGate {
    pub fn new(cap: usize) -> HostGate {
        let shards = if cap == 0 { 0 } else { SHARDS };
        HostGate {
            cap,
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            peak: AtomicUsize::new(0),
        }
    }

    fn shard(&self, ip: IpAddr) -> &Mutex<HashMap<IpAddr, usize>> {
        &self.shards[(self.hasher.hash_one(ip) as usize) % self.shards.len()]
    }

    /// Take a slot for `ip` if fewer than the cap are in flight; `false` when full.
    pub fn try_acquire(&self, ip: IpAddr) -> bool {
        if self.cap == 0 {
            return true;
        }
        let mut map = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.cap {
            return false;
        }
        *n += 1;
        self.peak.fetch_max(*n, Ordering::Relaxed);
        true
    }

    /// Give back a slot taken by [`HostGate::try_acquire`].
    pub fn release(&self, ip: IpAddr) {
        if self.cap == 0 {
            return;
        }
        let mut map = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }

    /// Highest in-flight count seen for one address.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_forgets_idle_ones() {
        let g = HostGate::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        assert!(g.try_acquire(a));
        assert!(g.try_acquire(a));
        assert!(!g.try_acquire(a));
        assert!(g.try_acquire(b));
        g.release(a);
        assert!(g.try_acquire(a));
        assert_eq!(g.peak(), 2);
        g.release(a);
        g.release(a);
        g.release(b);
        assert!(g.shards.iter().all(|s| s.lock().unwrap().is_empty()));
    }

    #[test]
    fn zero_means_unlimited() {
        let g = HostGate::new(0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(g.try_acquire(a));
        }
        assert_eq!(g.peak(), 0);
    }
}
