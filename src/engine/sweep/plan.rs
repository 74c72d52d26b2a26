//! The sweep's work as one flat index space, and its split into per-worker slices.
//!
//! Item `i` of `0..Σ |addrs| × |ports|` is decoded by prefix sums over the groups, then
//! `offset / |ports|` (address index) and `offset % |ports|` (port index): address-major order.
//! Nothing is materialised — a lazy `/112` or a 2⁶⁴-address range costs the same as one host —
//! and every worker gets one contiguous slice, so workers never touch shared state per item.
//!
//! With a per-host concurrency cap the slices are snapped to address boundaries (each address
//! belongs to exactly one worker) and each worker walks its slice *port-major*: consecutive
//! connects go to different hosts, so the cap rarely stalls the worker.

use super::SweepGroup;
use std::ops::Range;

/// A position in the index space: group (index into the `groups` slice, not the caller's
/// `group` id), address index within the group's `AddrSet`, port index within its `ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub group: usize,
    pub addr: u64,
    pub port: usize,
}

/// The flattened index space of a sweep.
#[derive(Debug)]
pub(crate) struct Plan {
    /// `(address count, port count)` per group.
    shape: Vec<(u64, usize)>,
    /// `starts[g]` is the first index of group `g`; `starts[len]` is the total.
    starts: Vec<u128>,
    port_major: bool,
}

impl Plan {
    pub fn new(groups: &[SweepGroup], port_major: bool) -> Plan {
        let shape: Vec<(u64, usize)> = groups
            .iter()
            .map(|g| (g.addrs.len(), g.ports.len()))
            .collect();
        Plan::from_shape(shape, port_major)
    }

    /// A plan from group shapes alone (the mapping does not need the addresses).
    pub fn from_shape(shape: Vec<(u64, usize)>, port_major: bool) -> Plan {
        let mut starts = Vec::with_capacity(shape.len() + 1);
        let mut acc: u128 = 0;
        for &(addrs, ports) in &shape {
            starts.push(acc);
            acc += u128::from(addrs) * ports as u128;
        }
        starts.push(acc);
        Plan {
            shape,
            starts,
            port_major,
        }
    }

    pub fn total(&self) -> u128 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The position of index `i` (address-major), or `None` past the end.
    pub fn decode(&self, i: u128) -> Option<Pos> {
        if i >= self.total() {
            return None;
        }
        // The last group whose start is ≤ i and that is not empty.
        let group = self.starts.partition_point(|&s| s <= i) - 1;
        let ports = self.shape[group].1 as u128;
        let offset = i - self.starts[group];
        Some(Pos {
            group,
            addr: (offset / ports) as u64,
            port: (offset % ports) as usize,
        })
    }

    /// The index of a position (address-major).
    pub fn encode(&self, pos: Pos) -> u128 {
        self.starts[pos.group]
            + u128::from(pos.addr) * self.shape[pos.group].1 as u128
            + pos.port as u128
    }

    /// Split `0..total` into `workers` contiguous slices (some may be empty). Port-major plans
    /// cut only at address boundaries, so each address is owned by exactly one worker.
    pub fn split(&self, workers: usize) -> Vec<Range<u128>> {
        let workers = workers.max(1) as u128;
        let total = self.total();
        let mut cuts: Vec<u128> = (0..=workers).map(|k| total * k / workers).collect();
        if self.port_major {
            for cut in cuts.iter_mut() {
                if let Some(pos) = self.decode(*cut) {
                    if pos.port != 0 {
                        // Start of the next address (or of the next group: same index).
                        *cut =
                            self.encode(Pos { port: 0, ..pos }) + self.shape[pos.group].1 as u128;
                    }
                }
            }
        }
        cuts.windows(2).map(|w| w[0]..w[1].max(w[0])).collect()
    }

    /// Walk one slice of [`Plan::split`].
    pub fn cursor(&self, slice: Range<u128>) -> Cursor<'_> {
        let start = self.decode(slice.start);
        let mut cursor = Cursor {
            plan: self,
            remaining: slice.end.saturating_sub(slice.start),
            next: start,
            segment: None,
        };
        if self.port_major {
            cursor.segment = start.map(|s| {
                let end = self.decode(slice.end);
                Segment::new(self, s.group, s.addr, end)
            });
        }
        cursor
    }
}

/// One group's share of a port-major slice: addresses `lo..hi`, walked port by port.
#[derive(Debug, Clone, Copy)]
struct Segment {
    group: usize,
    lo: u64,
    hi: u64,
    port: usize,
    addr: u64,
    /// Where the slice ends (`None`: at the end of the plan).
    end: Option<Pos>,
}

impl Segment {
    fn new(plan: &Plan, group: usize, lo: u64, end: Option<Pos>) -> Segment {
        let hi = match end {
            Some(e) if e.group == group => e.addr,
            _ => plan.shape[group].0,
        };
        Segment {
            group,
            lo,
            hi,
            port: 0,
            addr: lo,
            end,
        }
    }
}

/// Iterator over the positions of one slice.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    plan: &'a Plan,
    remaining: u128,
    /// Address-major: the next position.
    next: Option<Pos>,
    /// Port-major: the current group segment.
    segment: Option<Segment>,
}

impl Cursor<'_> {
    fn next_address_major(&mut self) -> Option<Pos> {
        let pos = self.next?;
        let (addrs, ports) = self.plan.shape[pos.group];
        let mut n = pos;
        n.port += 1;
        if n.port == ports {
            n.port = 0;
            n.addr += 1;
            if n.addr == addrs {
                // Next non-empty group; `decode` skips empty ones.
                self.next = self.plan.decode(self.plan.starts[pos.group + 1]);
                return Some(pos);
            }
        }
        self.next = Some(n);
        Some(pos)
    }

    fn next_port_major(&mut self) -> Option<Pos> {
        loop {
            let seg = self.segment.as_mut()?;
            let ports = self.plan.shape[seg.group].1;
            if seg.addr < seg.hi && seg.port < ports {
                let pos = Pos {
                    group: seg.group,
                    addr: seg.addr,
                    port: seg.port,
                };
                seg.addr += 1;
                if seg.addr == seg.hi {
                    seg.addr = seg.lo;
                    seg.port += 1;
                }
                return Some(pos);
            }
            // Segment exhausted: move to the next non-empty group of the slice.
            let (group, end) = (seg.group, seg.end);
            let next = self.plan.decode(self.plan.starts[group + 1]);
            self.segment = match next {
                Some(n) if end.is_none_or(|e| n < e) => {
                    Some(Segment::new(self.plan, n.group, 0, end))
                }
                _ => None,
            };
        }
    }
}

impl Iterator for Cursor<'_> {
    type Item = Pos;

    fn next(&mut self) -> Option<Pos> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.plan.port_major {
            self.next_port_major()
        } else {
            self.next_address_major()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn visit_all(plan: &Plan, workers: usize) -> Vec<Pos> {
        plan.split(workers)
            .into_iter()
            .flat_map(|r| plan.cursor(r).collect::<Vec<_>>())
            .collect()
    }

    fn expected(shape: &[(u64, usize)]) -> HashSet<Pos> {
        let mut set = HashSet::new();
        for (g, &(a, p)) in shape.iter().enumerate() {
            for addr in 0..a {
                for port in 0..p {
                    set.insert(Pos {
                        group: g,
                        addr,
                        port,
                    });
                }
            }
        }
        set
    }

    #[test]
    fn address_major_order_within_a_slice() {
        let plan = Plan::from_shape(vec![(2, 3)], false);
        let got: Vec<(u64, usize)> = plan.cursor(0..6).map(|p| (p.addr, p.port)).collect();
        assert_eq!(got, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn port_major_order_alternates_hosts() {
        let plan = Plan::from_shape(vec![(3, 2)], true);
        let got: Vec<(u64, usize)> = plan.cursor(0..6).map(|p| (p.addr, p.port)).collect();
        assert_eq!(got, vec![(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn port_major_split_owns_whole_addresses() {
        let plan = Plan::from_shape(vec![(5, 7), (0, 3), (3, 0), (4, 2)], true);
        for workers in 1..=9 {
            let mut owner = std::collections::HashMap::new();
            for (w, r) in plan.split(workers).into_iter().enumerate() {
                for pos in plan.cursor(r) {
                    let prev = owner.insert((pos.group, pos.addr), w);
                    assert!(prev.is_none_or(|p| p == w), "address split across workers");
                }
            }
        }
    }

    #[test]
    fn huge_lazy_ranges_map_without_materialising() {
        // 2^64-1 addresses × 65,535 ports: far beyond anything that could be listed.
        let plan = Plan::from_shape(vec![(3, 10), (u64::MAX, 65_535), (7, 1)], false);
        let total = 30 + u128::from(u64::MAX) * 65_535 + 7;
        assert_eq!(plan.total(), total);
        let slices = plan.split(7);
        assert_eq!(slices.first().map(|r| r.start), Some(0));
        assert_eq!(slices.last().map(|r| r.end), Some(total));
        for w in slices.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for r in &slices {
            let first: Vec<Pos> = plan.cursor(r.clone()).take(10_000).collect();
            for (k, pos) in first.iter().enumerate() {
                assert_eq!(plan.decode(r.start + k as u128), Some(*pos));
            }
        }
        let last = plan.decode(total - 1).unwrap();
        assert_eq!(
            last,
            Pos {
                group: 2,
                addr: 6,
                port: 0
            }
        );
        assert_eq!(plan.decode(total), None);
    }

    proptest! {
        #[test]
        fn every_item_visited_exactly_once(
            shape in proptest::collection::vec((0u64..6, 0usize..6), 0..6),
            workers in 1usize..9,
            port_major in any::<bool>(),
        ) {
            let plan = Plan::from_shape(shape.clone(), port_major);
            let visited = visit_all(&plan, workers);
            let unique: HashSet<Pos> = visited.iter().copied().collect();
            prop_assert_eq!(visited.len(), unique.len(), "an item was visited twice");
            prop_assert_eq!(unique, expected(&shape));
            prop_assert_eq!(visited.len() as u128, plan.total());
        }

        #[test]
        fn decode_encode_round_trip_on_huge_shapes(
            shape in proptest::collection::vec((0u64..=u64::MAX, 0usize..70_000), 1..5),
            frac in 0.0f64..1.0,
            workers in 1usize..65,
            port_major in any::<bool>(),
        ) {
            let plan = Plan::from_shape(shape, port_major);
            let total = plan.total();
            prop_assume!(total > 0);
            let i = ((total as f64) * frac) as u128 % total;
            let pos = plan.decode(i).unwrap();
            prop_assert_eq!(plan.encode(pos), i);
            let slices = plan.split(workers);
            prop_assert_eq!(slices.len(), workers);
            prop_assert_eq!(slices[0].start, 0);
            prop_assert_eq!(slices[workers - 1].end, total);
            for w in slices.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
            }
            for r in slices {
                let n = plan.cursor(r.clone()).take(64).count() as u128;
                prop_assert_eq!(n, (r.end - r.start).min(64));
                if !port_major {
                    if let Some(first) = plan.cursor(r.clone()).next() {
                        prop_assert_eq!(Some(first), plan.decode(r.start));
                    }
                }
            }
        }
    }
}
