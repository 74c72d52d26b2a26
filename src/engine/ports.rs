//! Port specifications: the `--ports` flag and the `ports = "…"` key of posture.toml.
//!
//! A spec is a comma-separated list of items:
//!
//! * a port, `22`;
//! * an inclusive range, `8000-8100`;
//! * `topN` for 1 ≤ N ≤ 1000: the N TCP ports nmap finds open most often (`top100` is what
//!   `nmap -F` scans, `top1000` nmap's default), from [`super::top_ports::TOP_1000_TCP`];
//! * `all`, ports 1–65535.
//!
//! Items mix freely (`top100,8443,9000-9010`); spaces around items are allowed and keywords
//! are case-insensitive. Port 0 is not a port a service can listen on and is rejected, as are
//! numbers above 65535, reversed ranges, empty items (`22,,80`, a trailing comma) and anything
//! else; the error names the offending item so the user can find it in a long list.
//!
//! [`PortSpec::ports`] is de-duplicated and in **ascending order** whatever the items were.
//! nmap scans its top ports in ascending order too (it sorts the selection), and a fixed order
//! keeps reports, partial files and test expectations deterministic; the frequency order only
//! decides *which* ports `topN` selects.

use super::top_ports::TOP_1000_TCP;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Longest spec accepted, in bytes. Every port written out once with a comma is ~390 KB;
/// anything longer is not a port list someone meant.
pub const MAX_SPEC_BYTES: usize = 512 * 1024;
/// Characters of an offending item quoted in an error (hostile or pasted input can be huge).
const MAX_ITEM_CHARS_IN_ERROR: usize = 40;
/// The largest `topN`: the length of nmap's table we ship.
pub const MAX_TOP: usize = TOP_1000_TCP.len();

/// Why a port spec was rejected. Items are quoted as written (truncated when long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortSpecError {
    #[error("empty port list")]
    Empty,
    #[error("port list is too long ({len} bytes, at most {MAX_SPEC_BYTES})")]
    TooLong { len: usize },
    #[error("empty item {position} in port list (two commas in a row, or a comma at an end)")]
    EmptyItem { position: usize },
    #[error("port {item:?} is out of range: ports are 1-65535")]
    OutOfRange { item: String },
    #[error("range {item:?} is reversed: write {low}-{high}")]
    Reversed { item: String, low: u16, high: u16 },
    #[error("{item:?}: top ports go from top1 to top{MAX_TOP}")]
    TopOutOfRange { item: String },
    #[error("{item:?} is not a port (22), a range (8000-8100), topN (top100, top1000) or all")]
    Invalid { item: String },
}

/// One item of a spec, kept for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortItem {
    Port(u16),
    Range(u16, u16),
    Top(usize),
    All,
}

impl fmt::Display for PortItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortItem::Port(p) => write!(f, "{p}"),
            PortItem::Range(a, b) => write!(f, "{a}-{b}"),
            PortItem::Top(n) => write!(f, "top{n}"),
            PortItem::All => f.write_str("all"),
        }
    }
}

/// A validated port specification and the ports it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    items: Vec<PortItem>,
    ports: Arc<[u16]>,
}

impl PortSpec {
    /// Parses a spec (see the module docs for the grammar).
    pub fn parse(s: &str) -> Result<PortSpec, PortSpecError> {
        if s.len() > MAX_SPEC_BYTES {
            return Err(PortSpecError::TooLong { len: s.len() });
        }
        if s.trim().is_empty() {
            return Err(PortSpecError::Empty);
        }
        let mut items = Vec::new();
        let mut set = PortSet::new();
        for (index, raw) in s.split(',').enumerate() {
            let item = parse_item(raw, index + 1)?;
            set.add(item);
            items.push(item);
        }
        Ok(PortSpec {
            items,
            ports: set.into_sorted(),
        })
    }

    /// nmap's top `n` TCP ports (1 ≤ n ≤ 1000), ascending.
    pub fn top(n: usize) -> Result<PortSpec, PortSpecError> {
        PortSpec::parse(&format!("top{n}"))
    }

    /// The selected ports: unique, ascending, never empty.
    pub fn ports(&self) -> Arc<[u16]> {
        Arc::clone(&self.ports)
    }

    /// Number of selected ports.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Always false: a spec selects at least one port (kept for clippy's `len` convention).
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }
}

/// The normalised spec (`top100,8443`), which parses back to the same ports.
impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

impl FromStr for PortSpec {
    type Err = PortSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PortSpec::parse(s)
    }
}

impl Serialize for PortSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        PortSpec::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn parse_item(raw: &str, position: usize) -> Result<PortItem, PortSpecError> {
    let item = raw.trim();
    if item.is_empty() {
        return Err(PortSpecError::EmptyItem { position });
    }
    if item.eq_ignore_ascii_case("all") {
        return Ok(PortItem::All);
    }
    if let Some(n) = strip_prefix_ignore_case(item, "top") {
        return match parse_decimal(n) {
            Some(n) if (1..=MAX_TOP as u64).contains(&n) => Ok(PortItem::Top(n as usize)),
            Some(_) => Err(PortSpecError::TopOutOfRange { item: quote(item) }),
            None => Err(PortSpecError::Invalid { item: quote(item) }),
        };
    }
    if let Some((a, b)) = item.split_once('-') {
        let low = parse_port(a.trim(), item)?;
        let high = parse_port(b.trim(), item)?;
        if low > high {
            return Err(PortSpecError::Reversed {
                item: quote(item),
                low: high,
                high: low,
            });
        }
        return Ok(if low == high {
            PortItem::Port(low)
        } else {
            PortItem::Range(low, high)
        });
    }
    parse_port(item, item).map(PortItem::Port)
}

/// A port number 1–65535; `item` is the whole item, for the error.
fn parse_port(digits: &str, item: &str) -> Result<u16, PortSpecError> {
    match parse_decimal(digits) {
        Some(n) if (1..=u64::from(u16::MAX)).contains(&n) => Ok(n as u16),
        Some(_) => Err(PortSpecError::OutOfRange { item: quote(item) }),
        None => Err(PortSpecError::Invalid { item: quote(item) }),
    }
}

/// ASCII decimal digits only (no sign, no spaces, no `0x`); saturates instead of overflowing so
/// `99999999999999999999` is "out of range" rather than "not a number".
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The item as shown in errors: at most [`MAX_ITEM_CHARS_IN_ERROR`] characters.
fn quote(item: &str) -> String {
    let mut chars = item.chars();
    let mut out: String = chars.by_ref().take(MAX_ITEM_CHARS_IN_ERROR).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// A set of ports as a 65,536-bit bitmap: O(1) insert, ascending iteration, no sorting.
struct PortSet {
    bits: Vec<u64>,
}

impl PortSet {
    fn new() -> PortSet {
        PortSet {
            bits: vec![0; 1 << 10],
        }
    }

    fn insert(&mut self, port: u16) {
        let p = usize::from(port);
        if let Some(word) = self.bits.get_mut(p >> 6) {
            *word |= 1 << (p & 63);
        }
    }

    fn add(&mut self, item: PortItem) {
        match item {
            PortItem::Port(p) => self.insert(p),
            PortItem::Range(a, b) => (a..=b).for_each(|p| self.insert(p)),
            PortItem::Top(n) => TOP_1000_TCP.iter().take(n).for_each(|&p| self.insert(p)),
            PortItem::All => (1..=u16::MAX).for_each(|p| self.insert(p)),
        }
    }

    fn into_sorted(self) -> Arc<[u16]> {
        let mut out = Vec::new();
        for (w, &word) in self.bits.iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let bit = rest.trailing_zeros() as usize;
                // w < 1024 and bit < 64, so the port fits in u16.
                out.push(((w << 6) | bit) as u16);
                rest &= rest - 1;
            }
        }
        out.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ports(s: &str) -> Vec<u16> {
        PortSpec::parse(s).expect(s).ports().to_vec()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(ports("22"), vec![22]);
        assert_eq!(ports("80,22,443"), vec![22, 80, 443]);
        assert_eq!(ports("8000-8003"), vec![8000, 8001, 8002, 8003]);
        assert_eq!(ports("22,80,8000-8002"), vec![22, 80, 8000, 8001, 8002]);
        assert_eq!(ports(" 22 , 80 "), vec![22, 80]);
        assert_eq!(ports("5-5"), vec![5]);
        assert_eq!(ports("65535"), vec![65535]);
        assert_eq!(ports("1"), vec![1]);
        assert_eq!(ports("65530-65535").len(), 6);
    }

    #[test]
    fn duplicates_collapse_and_order_is_ascending() {
        assert_eq!(ports("443,22,443,20-23,22"), vec![20, 21, 22, 23, 443]);
        let spec = PortSpec::parse("top100,8443,80").unwrap();
        assert_eq!(spec.len(), 100, "8443 and 80 are already in top100");
        let p = spec.ports();
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ports("top100,31337").len(), 101);
    }

    #[test]
    fn keywords() {
        let all = ports("all");
        assert_eq!(all.len(), 65535);
        assert_eq!(all.first(), Some(&1));
        assert_eq!(all.last(), Some(&65535));
        assert_eq!(ports("ALL").len(), 65535);
        assert_eq!(ports("all,22").len(), 65535);
        assert_eq!(ports("top100").len(), 100);
        assert_eq!(ports("Top1000").len(), 1000);
        assert_eq!(ports("top1"), vec![80]);
        assert_eq!(ports("top3"), vec![23, 80, 443]);
        assert_eq!(PortSpec::top(10).unwrap().len(), 10);
        let top100 = ports("top100");
        for p in TOP_1000_TCP[..100].iter() {
            assert!(top100.contains(p));
        }
        assert!(!top100.contains(&TOP_1000_TCP[100]));
    }

    #[test]
    fn display_round_trips() {
        for s in ["22", "top100,8443", "all", "1-1024,3389", "80,80"] {
            let spec = PortSpec::parse(s).unwrap();
            let again = PortSpec::parse(&spec.to_string()).unwrap();
            assert_eq!(spec.ports(), again.ports());
        }
        assert_eq!(
            PortSpec::parse(" TOP100 , 22-22 ,8000-8010")
                .unwrap()
                .to_string(),
            "top100,22,8000-8010"
        );
    }

    #[test]
    fn serde_as_string() {
        #[derive(Deserialize, Serialize)]
        struct Scan {
            ports: PortSpec,
        }
        let scan: Scan = toml::from_str("ports = \"top100,31337\"").unwrap();
        assert_eq!(scan.ports.len(), 101);
        assert_eq!(
            toml::to_string(&scan).unwrap().trim(),
            "ports = \"top100,31337\""
        );
        let err = toml::from_str::<Scan>("ports = \"22,0\"").err().unwrap();
        assert!(err.to_string().contains("\"0\" is out of range"), "{err}");
    }

    #[test]
    fn rejects_with_the_offending_item() {
        use PortSpecError::*;
        let err = |s: &str| PortSpec::parse(s).unwrap_err();
        assert_eq!(err(""), Empty);
        assert_eq!(err("   "), Empty);
        assert_eq!(err("0"), OutOfRange { item: "0".into() });
        assert_eq!(
            err("22,65536"),
            OutOfRange {
                item: "65536".into()
            }
        );
        assert_eq!(
            err("0-10"),
            OutOfRange {
                item: "0-10".into()
            }
        );
        assert_eq!(
            err("99999999999999999999999"),
            OutOfRange {
                item: "99999999999999999999999".into()
            }
        );
        assert_eq!(
            err("100-90"),
            Reversed {
                item: "100-90".into(),
                low: 90,
                high: 100
            }
        );
        assert_eq!(err("22,,80"), EmptyItem { position: 2 });
        assert_eq!(err("22,"), EmptyItem { position: 2 });
        assert_eq!(err(",22"), EmptyItem { position: 1 });
        assert_eq!(
            err("top0"),
            TopOutOfRange {
                item: "top0".into()
            }
        );
        assert_eq!(
            err("top1001"),
            TopOutOfRange {
                item: "top1001".into()
            }
        );
        for bad in [
            "http", "22a", "-22", "22-", "-", "1-2-3", "+22", "0x16", "2 2", "top", "topx",
            "top-5", "22;80", "２２", "22\u{0}", "1e3", "all-5", "top100x",
        ] {
            assert!(
                matches!(err(bad), Invalid { .. }),
                "{bad:?} -> {:?}",
                err(bad)
            );
        }
        let msg = err("22,80,htp,443").to_string();
        assert!(msg.contains("\"htp\""), "{msg}");
        assert!(err("100-90").to_string().contains("write 90-100"));
    }

    #[test]
    fn hostile_input_is_bounded() {
        let long_item = "x".repeat(10_000);
        let Err(PortSpecError::Invalid { item }) = PortSpec::parse(&long_item) else {
            panic!("expected Invalid");
        };
        assert!(item.chars().count() <= MAX_ITEM_CHARS_IN_ERROR + 1);
        let huge = "1,".repeat(MAX_SPEC_BYTES);
        assert!(matches!(
            PortSpec::parse(&huge),
            Err(PortSpecError::TooLong { .. })
        ));
        // Multi-byte characters at the truncation point and in the `top` prefix check.
        assert!(PortSpec::parse(&"é".repeat(100)).is_err());
        assert!(PortSpec::parse("tö").is_err());
        assert!(PortSpec::parse("\u{202e}22").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_valid(s in "\\PC{0,64}") {
            if let Ok(spec) = PortSpec::parse(&s) {
                let p = spec.ports();
                prop_assert!(!p.is_empty());
                prop_assert!(p.iter().all(|&x| x >= 1));
                prop_assert!(p.windows(2).all(|w| w[0] < w[1]));
            }
        }

        #[test]
        fn spec_like_strings_never_panic(s in "[0-9a-zA-Z, -]{0,40}") {
            let _ = PortSpec::parse(&s);
        }

        #[test]
        fn lists_parse_to_their_ports(list in proptest::collection::vec(1u16..=65535, 1..20)) {
            let s = list.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
            let mut want = list.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(ports(&s), want);
        }

        #[test]
        fn ranges_parse_to_their_ports(a in 1u16..=65535, len in 0u16..300) {
            let b = a.saturating_add(len);
            let got = ports(&format!("{a}-{b}"));
            prop_assert_eq!(got.len(), usize::from(b - a) + 1);
            prop_assert_eq!(got.first().copied(), Some(a));
            prop_assert_eq!(got.last().copied(), Some(b));
        }
    }
}

/// Checks of the generated nmap table (`top_ports.rs` has no hand-written code to test it).
#[cfg(test)]
mod top_ports_data {
    use super::super::top_ports::{port_service_name, TOP_1000_TCP};
    use std::collections::BTreeSet;

    #[test]
    fn top100_starts_with_nmaps_most_frequent_ports() {
        assert_eq!(
            TOP_1000_TCP[..12],
            [80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53]
        );
    }

    #[test]
    fn entries_are_unique_and_nonzero() {
        let top100: BTreeSet<u16> = TOP_1000_TCP[..100].iter().copied().collect();
        assert_eq!(top100.len(), 100);
        let top1000: BTreeSet<u16> = TOP_1000_TCP.iter().copied().collect();
        assert_eq!(top1000.len(), 1000);
        assert!(!top1000.contains(&0));
    }

    /// The set `nmap -F` (= `--top-ports 100`) scans, as nmap 7.9x prints it with `-oX`
    /// (`<scaninfo services=…>`); an independent check of the derivation, tie-break included.
    #[test]
    fn top100_is_nmaps_fast_scan_set() {
        let nmap_fast: BTreeSet<u16> = [
            7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135,
            139, 143, 144, 179, 199, 389, 427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548,
            554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027, 1028, 1029, 1110, 1433, 1720,
            1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899,
            5000, 5009, 5051, 5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001,
            6646, 7070, 8000, 8008, 8009, 8080, 8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152,
            49153, 49154, 49155, 49156, 49157,
        ]
        .into_iter()
        .collect();
        let ours: BTreeSet<u16> = TOP_1000_TCP[..100].iter().copied().collect();
        assert_eq!(ours, nmap_fast);
    }

    #[test]
    fn every_top1000_port_with_a_name_has_nmaps_name() {
        assert_eq!(port_service_name(23), Some("telnet"));
        assert_eq!(port_service_name(445), Some("microsoft-ds"));
        assert_eq!(port_service_name(3389), Some("ms-wbt-server"));
        assert_eq!(port_service_name(6000), Some("x11"));
        assert_eq!(port_service_name(11211), Some("memcache"));
        assert_eq!(port_service_name(0), None);
        // nmap lists some top ports as `unknown`: they have no name, everything else does.
        let named = TOP_1000_TCP
            .iter()
            .filter(|&&p| port_service_name(p).is_some())
            .count();
        assert!(named > 700, "{named}");
        assert_eq!(port_service_name(1), Some("tcpmux"));
        assert_eq!(port_service_name(65535), None);
    }
}
