//! Deterministic sharding: which of `N` workers owns each endpoint of a scan.
//!
//! A large scope is split across machines (Kubernetes Indexed Jobs, a CI matrix, Nomad) by
//! giving every worker the same plan and `--shard K/N`. Each worker keeps only the endpoints
//! whose hash falls into bucket `K`, so the shards are disjoint, together complete, balanced,
//! and — because the hash is a fixed function, not std's per-process randomised `SipHash` —
//! identical on every run and every machine. No coordination is needed: the assignment is a
//! pure function of the endpoint.
//!
//! # What is hashed
//!
//! * an IP or each address of a CIDR: `(address, port)` — balanced even for one huge CIDR;
//! * a name: `(name, port)`, never its resolved addresses, which round-robin DNS would make
//!   differ between workers (an endpoint would be scanned twice or never);
//! * a `[[domain]]`: its name.
//!
//! Names are compared case-insensitively without a trailing dot (`Example.COM.` is
//! `example.com`). Each kind carries its own tag byte, so the three key spaces never collide.
//!
//! # The function (frozen)
//!
//! FNV-1a 64 over `tag ‖ key bytes ‖ port (big-endian)`, then MurmurHash3's 64-bit finaliser
//! (FNV's low bits mix poorly on short keys; the finaliser spreads every input bit over the
//! whole word), then Lemire's multiply-shift reduction `⌊h · N / 2⁶⁴⌋` into `0..N`. Changing
//! any of this moves endpoints between shards for users who merge results from mixed
//! versions, so `pinned_assignments` freezes a few values. The address part is hashed once per
//! address ([`AddrHash`]) and finished per port: the sweep's hot loop pays two bytes of FNV and
//! the finaliser per item.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Largest `N` accepted. Kubernetes caps Indexed Jobs at 100,000 completions; beyond that a
/// shard count is a typo, and per-shard overhead (plan, rules, report) would dominate.
pub const MAX_SHARDS: u32 = 100_000;

/// Environment variable holding the 0-based shard index for `--shards N` (checked first).
pub const ENV_SHARD_INDEX: &str = "POSTURE_SHARD_INDEX";
/// The 0-based index Kubernetes sets in every pod of an Indexed Job.
pub const ENV_JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const TAG_V4: u8 = b'4';
const TAG_V6: u8 = b'6';
const TAG_NAME_PORT: u8 = b'n';
const TAG_DOMAIN: u8 = b'd';

/// One shard of a scan: `k` of `n`, 1-based (`1 ≤ k ≤ n ≤` [`MAX_SHARDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    k: u32,
    n: u32,
}

/// Why a shard specification is unusable (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not a shard: expected K/N with 1 ≤ K ≤ N, e.g. 2/8")]
    Syntax(String),
    #[error("the shard count must be at least 1")]
    ZeroCount,
    #[error("{n} shards is more than the limit of {max}")]
    TooMany { n: u32, max: u32 },
    #[error("shard {k}/{n} is out of range: K must be between 1 and {n}")]
    OutOfRange { k: u32, n: u32 },
    #[error("--shards {n} needs the shard index: set {ENV_SHARD_INDEX} or {ENV_JOB_COMPLETION_INDEX} (0-based, 0..={last}), or pass --shard K/{n}", last = .n.saturating_sub(1))]
    NoIndex { n: u32 },
    #[error("{var}=`{value}` is not a shard index (a 0-based integer)")]
    BadIndex { var: &'static str, value: String },
    #[error("{var}={index} is out of range for --shards {n}: expected 0..={last} (0-based)", last = .n.saturating_sub(1))]
    IndexOutOfRange {
        var: &'static str,
        index: u64,
        n: u32,
    },
}

impl Shard {
    /// Shard `k` of `n` (1-based).
    pub fn new(k: u32, n: u32) -> Result<Shard, ShardError> {
        check_count(n)?;
        if k == 0 || k > n {
            return Err(ShardError::OutOfRange { k, n });
        }
        Ok(Shard { k, n })
    }

    /// The 1-based index `K`.
    pub fn k(self) -> u32 {
        self.k
    }

    /// The shard count `N`.
    pub fn n(self) -> u32 {
        self.n
    }

    /// `--shards n` with the index from the environment: [`ENV_SHARD_INDEX`], else
    /// [`ENV_JOB_COMPLETION_INDEX`], both 0-based (K = index + 1). `env` is injected so the
    /// choice is testable; the CLI passes `std::env::var`. An empty variable counts as unset.
    pub fn from_env(n: u32, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        check_count(n)?;
        for var in [ENV_SHARD_INDEX, ENV_JOB_COMPLETION_INDEX] {
            let Some(value) = env(var) else { continue };
            let text = value.trim();
            if text.is_empty() {
                continue;
            }
            let index: u64 = parse_digits(text).ok_or_else(|| ShardError::BadIndex {
                var,
                value: value.clone(),
            })?;
            if index >= u64::from(n) {
                return Err(ShardError::IndexOutOfRange { var, index, n });
            }
            // index < n ≤ MAX_SHARDS: fits.
            return Shard::new(index as u32 + 1, n);
        }
        Err(ShardError::NoIndex { n })
    }

    /// The shard (1-based) a finished hash belongs to, out of `n`.
    fn bucket(hash: u64, n: u32) -> u32 {
        ((u128::from(hash) * u128::from(n)) >> 64) as u32 + 1
    }

    fn owns_hash(self, state: u64) -> bool {
        Shard::bucket(finish(state), self.n) == self.k
    }

    /// True when this shard owns `[[domain]]` `name` (and its DNS checks).
    pub fn owns_name(self, name: &str) -> bool {
        self.owns_hash(name_state(TAG_DOMAIN, name))
    }

    /// True when this shard owns port `port` of the name target `name`.
    pub fn owns_name_port(self, name: &str, port: u16) -> bool {
        let mut h = name_state(TAG_NAME_PORT, name);
        // The terminator keeps `ab` + port from colliding with `a` + other bytes.
        h = fnv(h, &[0]);
        self.owns_hash(fnv(h, &port.to_be_bytes()))
    }

    /// True when this shard owns `(addr, port)` of an IP or CIDR target.
    pub fn owns_addr_port(self, addr: IpAddr, port: u16) -> bool {
        AddrHash::new(addr).owned_by(self, port)
    }
}

/// The hash state after an address: computed once per address, finished per port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrHash(u64);

impl AddrHash {
    pub fn new(addr: IpAddr) -> AddrHash {
        AddrHash(match addr {
            IpAddr::V4(a) => fnv(fnv(FNV_OFFSET, &[TAG_V4]), &a.octets()),
            IpAddr::V6(a) => fnv(fnv(FNV_OFFSET, &[TAG_V6]), &a.octets()),
        })
    }

    /// True when `shard` owns this address's `port`.
    #[inline]
    pub fn owned_by(self, shard: Shard, port: u16) -> bool {
        shard.owns_hash(fnv(self.0, &port.to_be_bytes()))
    }
}

impl fmt::Display for Shard {
    /// `K/N`, as `--shard` takes it and reports carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `K/N` (1-based).
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let k = parse_digits(k.trim()).ok_or_else(syntax)?;
        let n = parse_digits(n.trim()).ok_or_else(syntax)?;
        let n = u32::try_from(n).map_err(|_| ShardError::TooMany {
            n: u32::MAX,
            max: MAX_SHARDS,
        })?;
        check_count(n)?;
        let k = u32::try_from(k).map_err(|_| ShardError::OutOfRange { k: u32::MAX, n })?;
        Shard::new(k, n)
    }
}

fn check_count(n: u32) -> Result<(), ShardError> {
    match n {
        0 => Err(ShardError::ZeroCount),
        n if n > MAX_SHARDS => Err(ShardError::TooMany { n, max: MAX_SHARDS }),
        _ => Ok(()),
    }
}

/// A plain decimal integer (no sign, no spaces inside), or `None`.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// MurmurHash3's fmix64: every input bit affects every output bit.
#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV state after `tag` and the normalised name (ASCII-lowercased, one trailing dot dropped).
fn name_state(tag: u8, name: &str) -> u64 {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut h = fnv(FNV_OFFSET, &[tag]);
    for b in name.bytes() {
        h = fnv(h, &[b.to_ascii_lowercase()]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    }

    #[test]
    fn parses_and_displays_k_of_n() {
        let s: Shard = "2/8".parse().unwrap();
        assert_eq!((s.k(), s.n()), (2, 8));
        assert_eq!(s.to_string(), "2/8");
        assert_eq!(" 1 / 1 ".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in [
            "", "2", "/8", "2/", "a/8", "2/b", "-1/8", "+1/8", "1/2/3", "1.0/2",
        ] {
            assert!(
                matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "0/4".parse::<Shard>(),
            Err(ShardError::OutOfRange { k: 0, n: 4 })
        );
        assert_eq!(
            "5/4".parse::<Shard>(),
            Err(ShardError::OutOfRange { k: 5, n: 4 })
        );
        assert_eq!("1/0".parse::<Shard>(), Err(ShardError::ZeroCount));
        assert!(matches!(
            "1/100001".parse::<Shard>(),
            Err(ShardError::TooMany { .. })
        ));
        assert!(matches!(
            "1/99999999999".parse::<Shard>(),
            Err(ShardError::TooMany { .. })
        ));
        assert!("100000/100000".parse::<Shard>().is_ok());
    }

    #[test]
    fn index_from_the_environment_is_zero_based() {
        let s = Shard::from_env(4, env_of(&[(ENV_JOB_COMPLETION_INDEX, "2")])).unwrap();
        assert_eq!(s.to_string(), "3/4");
        let s = Shard::from_env(4, env_of(&[(ENV_SHARD_INDEX, "0")])).unwrap();
        assert_eq!(s.to_string(), "1/4");
        // posture's own variable wins over the Kubernetes one.
        let both = env_of(&[(ENV_SHARD_INDEX, "1"), (ENV_JOB_COMPLETION_INDEX, "3")]);
        assert_eq!(Shard::from_env(4, both).unwrap().to_string(), "2/4");
        // Empty counts as unset.
        let empty = env_of(&[(ENV_SHARD_INDEX, ""), (ENV_JOB_COMPLETION_INDEX, "3")]);
        assert_eq!(Shard::from_env(4, empty).unwrap().to_string(), "4/4");
        assert_eq!(
            Shard::from_env(4, env_of(&[])),
            Err(ShardError::NoIndex { n: 4 })
        );
        assert_eq!(
            Shard::from_env(4, env_of(&[(ENV_JOB_COMPLETION_INDEX, "4")])),
            Err(ShardError::IndexOutOfRange {
                var: ENV_JOB_COMPLETION_INDEX,
                index: 4,
                n: 4
            })
        );
        assert!(matches!(
            Shard::from_env(4, env_of(&[(ENV_SHARD_INDEX, "one")])),
            Err(ShardError::BadIndex { .. })
        ));
        assert_eq!(
            Shard::from_env(0, env_of(&[(ENV_SHARD_INDEX, "0")])),
            Err(ShardError::ZeroCount)
        );
        let msg = ShardError::NoIndex { n: 4 }.to_string();
        assert!(
            msg.contains("POSTURE_SHARD_INDEX") && msg.contains("0..=3"),
            "{msg}"
        );
    }

    /// The assignment is a published, frozen function: these values must never change.
    #[test]
    fn pinned_assignments() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let got: Vec<u32> = [
            Shard::bucket(finish(AddrHash::new(v4).0), 1),
            Shard::bucket(finish(fnv(AddrHash::new(v4).0, &443u16.to_be_bytes())), 4),
            Shard::bucket(finish(fnv(AddrHash::new(v4).0, &22u16.to_be_bytes())), 4),
            Shard::bucket(finish(fnv(AddrHash::new(v6).0, &443u16.to_be_bytes())), 7),
            Shard::bucket(finish(name_state(TAG_DOMAIN, "example.com")), 5),
        ]
        .to_vec();
        assert_eq!(got, PINNED.to_vec());
        assert_eq!(finish(FNV_OFFSET), PINNED_FINISH);
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }
    const PINNED: [u32; 5] = [1, 2, 3, 2, 4];
    const PINNED_FINISH: u64 = 17_280_346_270_528_514_342;

    #[test]
    fn names_are_case_and_trailing_dot_insensitive() {
        for n in 1..=7 {
            for k in 1..=n {
                let s = Shard::new(k, n).unwrap();
                assert_eq!(s.owns_name("Example.COM."), s.owns_name("example.com"));
                assert_eq!(
                    s.owns_name_port("WWW.example.com", 443),
                    s.owns_name_port("www.example.com.", 443)
                );
            }
        }
    }

    #[test]
    fn balanced_over_a_realistic_scope() {
        // 127.1.0.0/20 × 100 ports into 4 shards: each within 2 % of a quarter.
        let n = 4;
        let mut counts = [0u64; 4];
        for host in 0..4096u32 {
            let h = AddrHash::new(IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + host)));
            for port in crate::engine::top_ports::TOP_1000_TCP.iter().take(100) {
                for (k, c) in counts.iter_mut().enumerate() {
                    if h.owned_by(Shard::new(k as u32 + 1, n).unwrap(), *port) {
                        *c += 1;
                    }
                }
            }
        }
        let total: u64 = counts.iter().sum();
        assert_eq!(total, 409_600);
        for c in counts {
            let dev = (c as f64 - 102_400.0).abs() / 102_400.0;
            assert!(dev < 0.02, "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn every_key_has_exactly_one_owner(
            a in any::<u32>(), b in any::<u128>(), port in any::<u16>(),
            name in "[a-zA-Z0-9.-]{0,30}", n in 1u32..=9,
        ) {
            let owners = |f: &dyn Fn(Shard) -> bool| {
                (1..=n).filter(|&k| f(Shard::new(k, n).unwrap())).count()
            };
            let v4 = IpAddr::V4(Ipv4Addr::from(a));
            let v6 = IpAddr::V6(Ipv6Addr::from(b));
            prop_assert_eq!(owners(&|s| s.owns_addr_port(v4, port)), 1);
            prop_assert_eq!(owners(&|s| s.owns_addr_port(v6, port)), 1);
            prop_assert_eq!(owners(&|s| s.owns_name_port(&name, port)), 1);
            prop_assert_eq!(owners(&|s| s.owns_name(&name)), 1);
        }
    }
}
