//! Lazy expansion of targets into address blocks, exclusions and the host cap.
//!
//! A CIDR never becomes a `Vec`: it is an [`AddrBlock`] (first address + count) and the
//! address at index `i` is computed. Exclusions are a sorted, merged list of networks looked
//! up by binary search, so `--exclude` of a /8 costs the same as of one address.

use super::parse::TargetError;
use ipnet::IpNet;
use std::net::IpAddr;

/// A contiguous run of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrBlock {
    pub first: IpAddr,
    pub count: u64,
}

impl AddrBlock {
    pub fn single(ip: IpAddr) -> AddrBlock {
        AddrBlock {
            first: ip,
            count: 1,
        }
    }

    /// Every address of `net`, network and broadcast included (as nmap scans them).
    /// IPv6 networks are limited to /64 and longer by the parser; the count saturates.
    pub fn of_net(net: IpNet) -> AddrBlock {
        let bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let count = if bits >= 64 { u64::MAX } else { 1u64 << bits };
        AddrBlock {
            first: net.network(),
            count,
        }
    }

    /// The address at index `i` (`i < count`).
    pub fn nth(&self, i: u64) -> Option<IpAddr> {
        if i >= self.count {
            return None;
        }
        Some(match self.first {
            IpAddr::V4(a) => {
                let n = u64::from(u32::from(a)).checked_add(i)?;
                IpAddr::V4(u32::try_from(n).ok()?.into())
            }
            IpAddr::V6(a) => IpAddr::V6(u128::from(a).checked_add(u128::from(i))?.into()),
        })
    }

    /// The addresses, lazily.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..self.count).map_while(|i| self.nth(i))
    }

    /// Whether `ip` is one of the block's addresses (same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (start, end) = self.as_range();
        let at = match (self.first, ip) {
            (IpAddr::V4(_), IpAddr::V4(a)) => u128::from(u32::from(a)),
            (IpAddr::V6(_), IpAddr::V6(a)) => u128::from(a),
            _ => return false,
        };
        start <= at && at < end
    }

    /// Whether every address of `other` is one of this block's (same family).
    pub fn covers(&self, other: &AddrBlock) -> bool {
        let (start, end) = self.as_range();
        let (o_start, o_end) = other.as_range();
        self.first.is_ipv4() == other.first.is_ipv4() && start <= o_start && o_end <= end
    }

    fn as_range(&self) -> (u128, u128) {
        let start = match self.first {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        (start, start.saturating_add(u128::from(self.count)))
    }
}

/// Addresses never to be scanned (`--exclude`, `--exclude-file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excludes {
    /// Sorted by (family, start), non-overlapping: (is_v6, start, end exclusive).
    ranges: Vec<(bool, u128, u128)>,
    /// As the user wrote them, for the report's scope.
    pub shown: Vec<String>,
}

impl Excludes {
    /// Excludes exactly `nets`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Excludes {
        let mut ex = Excludes::default();
        for net in nets {
            ex.add_net(net.trunc());
            ex.shown.push(net.to_string());
        }
        ex
    }

    /// Parses one `ADDR` or `CIDR` (any prefix length: excluding a large IPv6 range is fine).
    pub fn add(&mut self, item: &str) -> Result<(), TargetError> {
        let item = item.trim();
        // `[::1]`, as IPv6 addresses are written in targets, is accepted too.
        let bare = item
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(item);
        let net: IpNet = match bare.parse::<IpNet>() {
            Ok(n) => n.trunc(),
            Err(_) => match bare.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => {
                    return Err(TargetError {
                        input: item
                            .chars()
                            .flat_map(char::escape_debug)
                            .take(120)
                            .collect(),
                        reason: "an exclusion must be an IP address or a CIDR network".into(),
                    })
                }
            },
        };
        self.add_net(net);
        self.shown.push(item.to_string());
        Ok(())
    }

    fn add_net(&mut self, net: IpNet) {
        let v6 = matches!(net, IpNet::V6(_));
        let start = match net.network() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let end = if bits >= 128 {
            u128::MAX
        } else {
            start.saturating_add(1u128 << bits)
        };
        self.ranges.push((v6, start, end));
        self.ranges.sort_unstable();
        // Merge overlapping or adjacent ranges of the same family.
        let mut merged: Vec<(bool, u128, u128)> = Vec::with_capacity(self.ranges.len());
        for r in self.ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if last.0 == r.0 && r.1 <= last.2 => last.2 = last.2.max(r.2),
                _ => merged.push(r),
            }
        }
        self.ranges = merged;
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Disjoint ranges after merging (overlapping and adjacent networks become one).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, x) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        let idx = self.ranges.partition_point(|r| (r.0, r.1) <= (v6, x));
        idx > 0 && {
            let r = self.ranges[idx - 1];
            r.0 == v6 && x < r.2
        }
    }

    /// How many addresses of `block` are excluded (exact, by range overlap).
    pub fn excluded_in(&self, block: &AddrBlock) -> u64 {
        let v6 = block.first.is_ipv6();
        let (s, e) = block.as_range();
        let mut n: u128 = 0;
        for r in self.ranges.iter().filter(|r| r.0 == v6) {
            let lo = r.1.max(s);
            let hi = r.2.min(e);
            if lo < hi {
                n += hi - lo;
            }
        }
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// Addresses of `blocks` that will be scanned, exclusions subtracted.
pub fn count_hosts<'a>(blocks: impl IntoIterator<Item = &'a AddrBlock>, ex: &Excludes) -> u64 {
    blocks.into_iter().fold(0u64, |acc, b| {
        acc.saturating_add(b.count.saturating_sub(ex.excluded_in(b)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_lazy_and_exact() {
        let b = AddrBlock::of_net("10.0.0.0/8".parse().unwrap());
        assert_eq!(b.count, 1 << 24);
        assert_eq!(b.nth(0), Some("10.0.0.0".parse().unwrap()));
        assert_eq!(
            b.nth((1 << 24) - 1),
            Some("10.255.255.255".parse().unwrap())
        );
        assert_eq!(b.nth(1 << 24), None);
        let b = AddrBlock::of_net("fd00::/120".parse().unwrap());
        assert_eq!(b.iter().count(), 256);
        assert_eq!(b.nth(255), Some("fd00::ff".parse().unwrap()));
        let top = AddrBlock {
            first: "255.255.255.255".parse().unwrap(),
            count: 2,
        };
        assert_eq!(
            top.iter().count(),
            1,
            "never wraps past the end of the family"
        );
    }

    #[test]
    fn excludes_merge_and_count() {
        let mut ex = Excludes::default();
        ex.add("10.0.0.0/25").unwrap();
        ex.add("10.0.0.128/25").unwrap();
        ex.add("10.0.0.7").unwrap();
        ex.add("::1").unwrap();
        assert!(ex.contains("10.0.0.200".parse().unwrap()));
        assert!(ex.contains("::1".parse().unwrap()));
        assert!(!ex.contains("10.0.1.0".parse().unwrap()));
        assert!(
            !ex.contains("0.0.0.1".parse().unwrap()),
            "families never mix"
        );
        let b = AddrBlock::of_net("10.0.0.0/23".parse().unwrap());
        assert_eq!(ex.excluded_in(&b), 256);
        assert_eq!(count_hosts([&b], &ex), 256);
        assert!(ex.add("10.0.0.0/40").is_err());
        assert!(ex.add("example.com").is_err());
        // Bracketed, as IPv6 targets are written.
        ex.add("[2001:db8::5]").unwrap();
        assert!(ex.contains("2001:db8::5".parse().unwrap()));
        assert!(ex.add("[10.0.0.1").is_err());
    }
}
