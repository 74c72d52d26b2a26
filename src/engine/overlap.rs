//! Overlapping targets: one endpoint, one connect.
//!
//! A host listed twice (on the command line and in the inventory), or an address that is also
//! inside a listed CIDR, would otherwise be connected to twice, counted twice in the port
//! statistics, and shown twice by `--list-targets`. A later work group loses the ports an
//! earlier group of the same identity already sweeps on *all* of its addresses; a group left
//! with no port is dropped. The first declaration wins, so findings keep its posture.toml
//! line and its URL scheme.
//!
//! Identity is everything that changes what is done or reported: the name the user gave (a
//! named target is checked with SNI and the hostname, which its bare address is not); per
//! port, the URL scheme (`https://h:8443` and `h:8443` ask for different probes); the
//! inventory data (tags and owner reach rules and reports); whether it comes from posture.toml
//! (its findings point at that line); and whether it names one port (a silent named port is
//! reported, a silent swept one is just filtered). Two declarations that differ in any of
//! these are both kept, and two ranges that only partly overlap are left alone: the run loop
//! still assesses each endpoint once.

use super::plan::{AddrList, ScanPlan, WorkGroup};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Earlier multi-address blocks each later group is compared with, at most: beyond this many
/// CIDR targets the containment pass is skipped (exact repeats are still found).
pub const MAX_BLOCKS_COMPARED: usize = 4096;

/// Removes from `groups` the (address, port) pairs an earlier group already covers.
/// Returns how many groups were dropped entirely.
pub fn drop_repeats(plan: &ScanPlan, groups: &mut Vec<WorkGroup>) -> usize {
    let mut kept: Vec<WorkGroup> = Vec::with_capacity(groups.len());
    // Earlier groups by (name, single address), and unnamed multi-address blocks.
    let mut singles: HashMap<(Option<Arc<str>>, IpAddr), Vec<usize>> = HashMap::new();
    let mut lists: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    let mut blocks: Vec<usize> = Vec::new();
    let mut dropped = 0;
    for mut g in groups.drain(..) {
        let covering = covering_groups(&kept, &singles, &lists, &blocks, &g);
        if !covering.is_empty() {
            let left: Vec<u16> = g
                .ports
                .iter()
                .copied()
                .filter(|p| {
                    !covering.iter().any(|&e| {
                        let e = &kept[e];
                        e.ports.contains(p)
                            && plan.scheme_for(e.target, *p) == plan.scheme_for(g.target, *p)
                            && same_declaration(plan, e.target, g.target)
                    })
                })
                .collect();
            if left.is_empty() {
                dropped += 1;
                tracing::info!(
                    "target `{}` repeats `{}`: scanned once",
                    plan.targets[g.target].raw,
                    plan.targets[kept[covering[0]].target].raw
                );
                continue;
            }
            if left.len() < g.ports.len() {
                g.ports = left.into();
            }
        }
        let i = kept.len();
        match (&g.addrs, &g.name) {
            (AddrList::Block(b), name) if b.count == 1 => {
                singles.entry((name.clone(), b.first)).or_default().push(i)
            }
            (AddrList::Block(_), None) => blocks.push(i),
            (AddrList::Block(_), Some(n)) | (AddrList::List(_), Some(n)) => {
                lists.entry(n.clone()).or_default().push(i)
            }
            (AddrList::List(l), None) => {
                for ip in l.iter() {
                    singles.entry((None, *ip)).or_default().push(i);
                }
            }
        }
        kept.push(g);
    }
    *groups = kept;
    dropped
}

/// Whether targets `a` and `b` ask for the same thing apart from their addresses and ports:
/// the same inventory data, both or neither from posture.toml, both or neither naming one port.
fn same_declaration(plan: &ScanPlan, a: usize, b: usize) -> bool {
    let (ta, tb) = (&plan.targets[a], &plan.targets[b]);
    let from_config =
        |t: &crate::target::TargetSpec| matches!(t.origin, crate::target::Origin::Config { .. });
    let names_one_port =
        |t: &crate::target::TargetSpec| t.port.is_some() && plan.ports_for(t).len() == 1;
    ta.meta == tb.meta
        && from_config(ta) == from_config(tb)
        && names_one_port(ta) == names_one_port(tb)
}

/// Earlier groups of the same name that hold every address of `g`.
fn covering_groups(
    kept: &[WorkGroup],
    singles: &HashMap<(Option<Arc<str>>, IpAddr), Vec<usize>>,
    lists: &HashMap<Arc<str>, Vec<usize>>,
    blocks: &[usize],
    g: &WorkGroup,
) -> Vec<usize> {
    let mut out = Vec::new();
    // The same name, resolved to the same addresses (or a superset).
    if let Some(n) = &g.name {
        for &e in lists.get(n).into_iter().flatten() {
            if holds_all(&kept[e].addrs, &g.addrs) {
                out.push(e);
            }
        }
    }
    // One address: an earlier identical single address, or an unnamed range holding it.
    let single = match &g.addrs {
        AddrList::Block(b) if b.count == 1 => Some(b.first),
        AddrList::List(l) if l.len() == 1 => Some(l[0]),
        _ => None,
    };
    if let Some(ip) = single {
        out.extend(singles.get(&(g.name.clone(), ip)).into_iter().flatten());
    }
    if g.name.is_none() && blocks.len() <= MAX_BLOCKS_COMPARED {
        for &e in blocks {
            if holds_all(&kept[e].addrs, &g.addrs) {
                out.push(e);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether every address of `inner` is in `outer`.
fn holds_all(outer: &AddrList, inner: &AddrList) -> bool {
    match (outer, inner) {
        (AddrList::Block(o), AddrList::Block(i)) => o.covers(i),
        (AddrList::Block(o), AddrList::List(l)) => l.iter().all(|ip| o.contains(*ip)),
        (AddrList::List(o), AddrList::List(l)) => l.iter().all(|ip| o.contains(ip)),
        (AddrList::List(o), AddrList::Block(b)) => {
            b.count <= o.len() as u64 && b.iter().all(|ip| o.contains(&ip))
        }
    }
}
