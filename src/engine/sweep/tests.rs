//! Sweep tests: loopback only, small timeouts.
//!
//! The machine's network namespace is shared with other processes that open listeners of their
//! own (on 127.0.0.1 and 0.0.0.0), so "every other port is closed" is checked against the
//! kernel's own list of listening sockets (`/proc/net/tcp{,6}`, read before and after the
//! sweep): a port may only be reported open if something listened on it. Scans use
//! 127.83.41.0/30 and low ports where possible, away from the ephemeral ports others bind.

use super::*;
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Network tests run one at a time: the 0.0.0.0 listeners of one test are visible to the
/// scans of all others.
static NET: Mutex<()> = Mutex::new(());

const SCAN_BASE: Ipv4Addr = Ipv4Addr::new(127, 83, 41, 1);
const SHORT: Duration = Duration::from_millis(300);

fn lock() -> std::sync::MutexGuard<'static, ()> {
    NET.lock().unwrap_or_else(|e| e.into_inner())
}

fn cfg(window: usize, workers: usize) -> SweepConfig {
    SweepConfig {
        window,
        workers,
        timeout: SHORT,
        ..SweepConfig::default()
    }
}

fn run(groups: &[SweepGroup], cfg: &SweepConfig) -> (Vec<SweepResult>, SweepStats) {
    let out = Mutex::new(Vec::new());
    let cancel = AtomicBool::new(false);
    let stats = sweep(groups, cfg, &cancel, &|r| out.lock().unwrap().push(r));
    (out.into_inner().unwrap(), stats)
}

/// Ports with a listening socket that accepts connects to `addr` (bound to it or to the
/// unspecified address of either family), per the kernel.
fn listening_ports(addr: IpAddr) -> HashSet<u16> {
    let mut ports = HashSet::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 || cols[3] != "0A" {
                continue;
            }
            let Some((ip_hex, port_hex)) = cols[1].split_once(':') else {
                continue;
            };
            let Ok(port) = u16::from_str_radix(port_hex, 16) else {
                continue;
            };
            // The kernel prints the address's in-memory words as host-order hex.
            let words: Vec<[u8; 4]> = (0..ip_hex.len() / 8)
                .filter_map(|i| u32::from_str_radix(&ip_hex[i * 8..i * 8 + 8], 16).ok())
                .map(u32::to_ne_bytes)
                .collect();
            let bound: IpAddr = if v6 {
                let mut b = [0u8; 16];
                for (i, w) in words.iter().enumerate().take(4) {
                    b[i * 4..i * 4 + 4].copy_from_slice(w);
                }
                let a = Ipv6Addr::from(b);
                a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
            } else {
                match words.first() {
                    Some(w) => IpAddr::V4(Ipv4Addr::from(*w)),
                    None => continue,
                }
            };
            if bound == addr || bound.is_unspecified() {
                ports.insert(port);
            }
        }
    }
    ports
}

/// The open (addr, port) pairs of a result list, asserting each item got exactly one verdict.
fn open_set(results: &[SweepResult]) -> HashSet<(IpAddr, u16)> {
    let mut seen = HashSet::new();
    for r in results {
        assert!(
            seen.insert((r.group, r.addr, r.port)),
            "two verdicts for {r:?}"
        );
    }
    results
        .iter()
        .filter(|r| r.verdict == SweepVerdict::Open)
        .map(|r| (r.addr, r.port))
        .collect()
}

fn listener(addr: IpAddr) -> (TcpListener, u16) {
    let l = TcpListener::bind(SocketAddr::new(addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn group(addrs: AddrSet, ports: Vec<u16>, id: usize) -> SweepGroup {
    SweepGroup {
        addrs,
        ports: ports.into(),
        group: id,
        shard: None,
    }
}

/// `--shard K/N` on a range: each shard sweeps exactly the items it owns (verdicts only for
/// those, attempts counted only for those), in address-major and port-major walks alike, and the
/// shards together sweep every item once.
#[test]
fn sharded_groups_sweep_exactly_their_own_items() {
    use crate::engine::shard::Shard;
    let _g = lock();
    let ports: Vec<u16> = (1..=60).collect();
    let addrs = AddrSet::Range {
        first: IpAddr::V4(SCAN_BASE),
        count: 4,
    };
    let all: HashSet<(IpAddr, u16)> = (0..4)
        .flat_map(|i| {
            let a = addrs.get(i).unwrap();
            ports.iter().map(move |p| (a, *p))
        })
        .collect();
    for (n, host_concurrency) in [(1, 0), (3, 0), (4, 2)] {
        let mut union: Vec<(IpAddr, u16)> = Vec::new();
        for k in 1..=n {
            let shard = Shard::new(k, n).unwrap();
            let mut g = group(addrs.clone(), ports.clone(), 3);
            g.shard = Some(shard);
            let c = SweepConfig {
                host_concurrency,
                ..cfg(16, 2)
            };
            let (results, stats) = run(&[g], &c);
            assert_eq!(stats.attempts, results.len() as u64);
            for r in &results {
                assert!(shard.owns_addr_port(r.addr, r.port), "{r:?} not in {shard}");
            }
            union.extend(results.iter().map(|r| (r.addr, r.port)));
        }
        let unique: HashSet<(IpAddr, u16)> = union.iter().copied().collect();
        assert_eq!(
            unique.len(),
            union.len(),
            "an item swept by two shards (N={n})"
        );
        assert_eq!(unique, all, "N={n}");
    }
}

#[test]
fn finds_exactly_the_listeners_and_every_other_port_is_closed() {
    let _g = lock();
    let host = IpAddr::V4(SCAN_BASE);
    let listeners: Vec<(TcpListener, u16)> = (0..3).map(|_| listener(host)).collect();
    let mine: HashSet<u16> = listeners.iter().map(|l| l.1).collect();
    let mut ports: Vec<u16> = (1..=400).collect();
    ports.extend(&mine);
    let before = listening_ports(host);
    for workers in [1, 2, 3] {
        let groups = [group(AddrSet::List(vec![host].into()), ports.clone(), 7)];
        let (results, stats) = run(&groups, &cfg(64, workers));
        let after = listening_ports(host);
        assert_eq!(results.len(), ports.len());
        assert_eq!(stats.attempts, ports.len() as u64);
        assert!(results.iter().all(|r| r.group == 7 && r.addr == host));
        let open = open_set(&results);
        for port in &mine {
            assert!(
                open.contains(&(host, *port)),
                "listener {port} not found open"
            );
        }
        for (_, port) in &open {
            assert!(
                mine.contains(port) || before.contains(port) || after.contains(port),
                "port {port} reported open but nothing listened there"
            );
        }
        for r in &results {
            if r.verdict != SweepVerdict::Open {
                assert_eq!(r.verdict, SweepVerdict::Closed, "{r:?}");
            }
        }
        assert_eq!(stats.open + stats.closed, ports.len() as u64);
        assert_eq!(
            stats.filtered + stats.local_failures + stats.local_retries,
            0
        );
    }
}

#[test]
fn lazy_range_with_listeners_on_the_unspecified_address() {
    let _g = lock();
    let listeners: Vec<(TcpListener, u16)> = (0..2)
        .map(|_| listener(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
        .collect();
    let mine: Vec<u16> = listeners.iter().map(|l| l.1).collect();
    let mut ports: Vec<u16> = (1..=100).collect();
    ports.extend(&mine);
    let addrs = AddrSet::Range {
        first: IpAddr::V4(SCAN_BASE),
        count: 4,
    };
    let hosts: Vec<IpAddr> = (0..4).map(|i| addrs.get(i).unwrap()).collect();
    let groups = [group(addrs, ports.clone(), 0)];
    let (results, stats) = run(&groups, &cfg(64, 2));
    assert_eq!(results.len(), 4 * ports.len());
    assert_eq!(stats.attempts, 4 * ports.len() as u64);
    let open = open_set(&results);
    for h in &hosts {
        for p in &mine {
            assert!(open.contains(&(*h, *p)), "{h}:{p} not open");
        }
        let listening = listening_ports(*h);
        for p in 1..=100u16 {
            if !listening.contains(&p) {
                assert!(!open.contains(&(*h, p)), "{h}:{p} open without a listener");
            }
        }
    }
    let per_host: HashMap<IpAddr, usize> = results.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.addr).or_default() += 1;
        m
    });
    assert_eq!(per_host.len(), 4);
    assert!(per_host.values().all(|&n| n == ports.len()));
}

#[test]
fn ipv6_loopback() {
    let _g = lock();
    let host: IpAddr = "::1".parse().unwrap();
    let Ok(l) = TcpListener::bind(SocketAddr::new(host, 0)) else {
        // No IPv6 on this host: nothing to test (the IPv4 tests cover the loop).
        return;
    };
    let port = l.local_addr().unwrap().port();
    let groups = [group(
        AddrSet::Range {
            first: host,
            count: 1,
        },
        vec![port, 1, 2, 3],
        0,
    )];
    let (results, _) = run(&groups, &cfg(8, 1));
    let open = open_set(&results);
    assert!(open.contains(&(host, port)));
    assert_eq!(results.len(), 4);
}

#[test]
fn groups_keep_their_ids_and_excluded_hosts_are_never_touched() {
    let _g = lock();
    let first = IpAddr::V4(SCAN_BASE);
    let excluded = [
        IpAddr::V4(Ipv4Addr::new(127, 83, 41, 2)),
        IpAddr::V4(Ipv4Addr::new(127, 83, 41, 3)),
    ];
    let ports: Vec<u16> = (1..=50).collect();
    let groups = [
        group(AddrSet::Range { first, count: 4 }, ports.clone(), 10),
        group(
            AddrSet::List(vec![excluded[0], first].into()),
            vec![5, 6],
            20,
        ),
    ];
    let excludes = Excludes::new(["127.83.41.2/31".parse::<IpNet>().unwrap()]);
    for hc in [0, 2] {
        let mut c = cfg(32, 2);
        c.excludes = Arc::new(excludes.clone());
        c.host_concurrency = hc;
        let (results, stats) = run(&groups, &c);
        assert!(
            results.iter().all(|r| !excluded.contains(&r.addr)),
            "excluded address scanned"
        );
        assert_eq!(stats.excluded_hosts, 3, "two in group 10, one in group 20");
        assert_eq!(results.len(), 2 * 50 + 2);
        assert_eq!(results.iter().filter(|r| r.group == 10).count(), 100);
        assert_eq!(results.iter().filter(|r| r.group == 20).count(), 2);
        assert!(results
            .iter()
            .filter(|r| r.group == 20)
            .all(|r| r.addr == first));
    }
}

#[test]
fn host_concurrency_bounds_connects_in_flight_per_address() {
    let _g = lock();
    let host = IpAddr::V4(SCAN_BASE);
    let ports: Vec<u16> = (1..=300).collect();
    let groups = [group(AddrSet::List(vec![host].into()), ports.clone(), 0)];
    let mut c = cfg(64, 2);
    c.host_concurrency = 3;
    let (results, stats) = run(&groups, &c);
    assert_eq!(results.len(), 300);
    assert!(
        stats.peak_host_in_flight >= 1 && stats.peak_host_in_flight <= 3,
        "{stats:?}"
    );
    // The measurement can see more: without a tight cap the same sweep goes above 3.
    c.host_concurrency = 10_000;
    let (results, stats) = run(&groups, &c);
    assert_eq!(results.len(), 300);
    assert!(stats.peak_host_in_flight > 3, "{stats:?}");
}

#[test]
fn cancel_stops_early() {
    let _g = lock();
    let host = IpAddr::V4(SCAN_BASE);
    let groups = [group(
        AddrSet::List(vec![host].into()),
        (1..=u16::MAX).collect(),
        0,
    )];
    let cancel = AtomicBool::new(false);
    let seen = AtomicUsize::new(0);
    let started = Instant::now();
    let stats = sweep(&groups, &cfg(16, 2), &cancel, &|_| {
        if seen.fetch_add(1, Ordering::Relaxed) + 1 >= 200 {
            cancel.store(true, Ordering::Relaxed);
        }
    });
    assert!(stats.cancelled);
    let n = seen.load(Ordering::Relaxed) as u64;
    assert_eq!(stats.attempts, n);
    assert!((200..2_000).contains(&n), "{n} verdicts after cancel");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Cancelled before the start: nothing is tried.
    let stats = sweep(&groups, &cfg(16, 2), &cancel, &|_| {
        panic!("no verdict expected")
    });
    assert_eq!(stats.attempts, 0);
    assert!(stats.cancelled);
}

#[test]
fn ephemeral_ports_without_listeners_are_never_open() {
    // Connecting 127.0.0.1 → 127.0.0.1 to free ephemeral ports is where a socket can connect
    // to itself (TCP simultaneous open); such a port must be closed, never open.
    let _g = lock();
    let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ports: Vec<u16> = (40_000..44_000).collect();
    let before = listening_ports(host);
    let (results, stats) = run(
        &[group(AddrSet::List(vec![host].into()), ports, 0)],
        &cfg(64, 2),
    );
    let after = listening_ports(host);
    assert_eq!(results.len(), 4_000);
    assert_eq!(stats.filtered, 0);
    for (_, port) in open_set(&results) {
        assert!(
            before.contains(&port) || after.contains(&port),
            "127.0.0.1:{port} open with nothing listening"
        );
    }
}

#[test]
fn a_self_connected_socket_is_closed() {
    use socket2::{Domain, Socket, Type};
    // Force the self-connect: bind a port, then connect to that same address.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let me = sock.local_addr().unwrap().as_socket().unwrap();
    sock.set_nonblocking(true).unwrap();
    match sock.connect(&me.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => panic!("self-connect setup failed: {e}"),
    }
    let mut stream = mio::net::TcpStream::from_std(std::net::TcpStream::from(sock));
    let mut poll = mio::Poll::new().unwrap();
    poll.registry()
        .register(&mut stream, mio::Token(0), mio::Interest::WRITABLE)
        .unwrap();
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_secs(2)))
        .unwrap();
    assert!(!events.is_empty(), "self-connect never completed");
    assert_eq!(
        stream.peer_addr().unwrap(),
        me,
        "the socket is connected to itself"
    );
    assert!(matches!(
        worker::check_for_test(&stream),
        Some(SweepVerdict::Closed)
    ));
}

#[test]
fn no_answer_is_filtered_after_the_timeout() {
    use socket2::{Domain, Socket, Type};
    let _g = lock();
    // A listener whose accept queue is full drops further SYNs: connects get no answer.
    let host = SocketAddr::from((SCAN_BASE, 0));
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&host.into()).unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        // Queue entries (the last ones may themselves hang: bounded by the timeout).
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    let groups = [group(
        AddrSet::List(vec![addr.ip()].into()),
        vec![addr.port(); 3],
        0,
    )];
    let mut c = cfg(8, 1);
    c.timeout = Duration::from_millis(150);
    let started = Instant::now();
    let (results, stats) = run(&groups, &c);
    assert_eq!(results.len(), 3);
    assert_eq!(stats.filtered, 3, "{results:?}");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(
        took < Duration::from_millis(150) + SWEEP_TICK_MAX * 4,
        "{took:?}"
    );
}

#[test]
fn rate_limit_spaces_connects() {
    let _g = lock();
    let host = IpAddr::V4(SCAN_BASE);
    let groups = [group(
        AddrSet::List(vec![host].into()),
        (1..=60).collect(),
        0,
    )];
    let mut c = cfg(64, 2);
    c.rate = NonZeroU32::new(200);
    let started = Instant::now();
    let (results, _) = run(&groups, &c);
    assert_eq!(results.len(), 60);
    // 60 connects at 200/s with a 2-connect burst: at least ~0.29 s.
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn empty_work_returns_at_once() {
    let groups = [
        group(AddrSet::List(Vec::new().into()), vec![1, 2], 0),
        group(
            AddrSet::Range {
                first: IpAddr::V4(SCAN_BASE),
                count: 5,
            },
            vec![],
            1,
        ),
    ];
    let (results, stats) = run(&groups, &cfg(8, 2));
    assert!(results.is_empty());
    assert_eq!(stats.attempts, 0);
    let (results, _) = run(&[], &cfg(8, 2));
    assert!(results.is_empty());
}

#[test]
fn addr_set_ranges_are_lazy_and_clamped() {
    let r = AddrSet::Range {
        first: "255.255.255.250".parse().unwrap(),
        count: 100,
    };
    assert_eq!(r.len(), 6);
    assert_eq!(r.get(5), Some("255.255.255.255".parse().unwrap()));
    assert_eq!(r.get(6), None);
    let r = AddrSet::Range {
        first: "2001:db8::".parse().unwrap(),
        count: u64::MAX,
    };
    assert_eq!(r.len(), u64::MAX);
    assert_eq!(r.get(0x1_0001), Some("2001:db8::1:1".parse().unwrap()));
    let r = AddrSet::Range {
        first: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap(),
        count: 10,
    };
    assert_eq!(r.len(), 2);
    assert!(AddrSet::Range {
        first: "127.255.255.254".parse().unwrap(),
        count: 2
    }
    .is_loopback());
    assert!(!AddrSet::Range {
        first: "127.255.255.254".parse().unwrap(),
        count: 3
    }
    .is_loopback());
    assert!(
        !AddrSet::List(vec!["127.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap()].into())
            .is_loopback()
    );
}

#[test]
fn excludes_merge_and_match_at_the_edges() {
    let ex = Excludes::new(
        [
            "10.0.0.0/25",
            "10.0.0.128/25",
            "192.168.1.7/32",
            "2001:db8::/127",
        ]
        .iter()
        .map(|s| s.parse::<IpNet>().unwrap()),
    );
    assert_eq!(ex.range_count(), 3, "adjacent /25s merge into one range");
    for yes in ["10.0.0.0", "10.0.0.255", "192.168.1.7", "2001:db8::1"] {
        assert!(ex.contains(yes.parse().unwrap()), "{yes}");
    }
    for no in [
        "9.255.255.255",
        "10.0.1.0",
        "192.168.1.6",
        "192.168.1.8",
        "2001:db8::2",
        "::a00:1",
    ] {
        assert!(!ex.contains(no.parse().unwrap()), "{no}");
    }
    assert!(Excludes::default().is_empty());
    let all = Excludes::new(["0.0.0.0/0".parse::<IpNet>().unwrap()]);
    assert!(all.contains("255.255.255.255".parse().unwrap()));
    assert!(!all.contains("::1".parse().unwrap()));
}

#[test]
fn window_is_shared_out_and_clamped_on_loopback() {
    let _g = lock();
    let host = IpAddr::V4(SCAN_BASE);
    let groups = [group(
        AddrSet::List(vec![host].into()),
        (1..=600).collect(),
        0,
    )];
    let (_, stats) = run(&groups, &cfg(256, 2));
    assert_eq!(stats.workers, 2);
    assert_eq!(stats.window_per_worker, LOOPBACK_WINDOW_PER_WORKER);
    let (_, stats) = run(&groups, &cfg(10, 2));
    assert_eq!(stats.window_per_worker, 5);
    // Tiny sweeps do not spawn idle workers.
    let groups = [group(AddrSet::List(vec![host].into()), vec![1, 2, 3], 0)];
    let (_, stats) = run(&groups, &cfg(10, 8));
    assert_eq!(stats.workers, 1);
}

#[test]
fn sweep_tick_is_bounded() {
    assert_eq!(sweep_tick(Duration::from_millis(1_500)), SWEEP_TICK_MAX);
    assert_eq!(
        sweep_tick(Duration::from_millis(80)),
        Duration::from_millis(10)
    );
    assert_eq!(sweep_tick(Duration::ZERO), SWEEP_TICK_MIN);
}

#[test]
fn config_from_limits() {
    let mut l = Limits {
        rate: 0,
        host_concurrency: 4,
        ..Limits::default()
    };
    let c = SweepConfig::from_limits(&l, Arc::new(Excludes::default()));
    assert_eq!(c.window, DEFAULT_CONCURRENCY);
    assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
    assert_eq!(c.rate, None);
    assert_eq!(c.host_concurrency, 4);
    l.rate = 10_000_000_000;
    let c = SweepConfig::from_limits(&l, Arc::new(Excludes::default()));
    assert_eq!(c.rate, NonZeroU32::new(u32::MAX));
}

/// Set in the child process of [`out_of_descriptors_is_retried_never_a_verdict`].
const EMFILE_CHILD: &str = "POSTURE_SWEEP_EMFILE_CHILD";

#[test]
fn out_of_descriptors_is_retried_never_a_verdict() {
    // The descriptor limit is per process, so the sweep runs in a child copy of this test
    // binary that lowers its own soft limit far below the window (other tests keep theirs).
    if std::env::var_os(EMFILE_CHILD).is_some() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        rlimit::setrlimit(rlimit::Resource::NOFILE, 24, hard).unwrap();
        let host = IpAddr::V4(SCAN_BASE);
        let (l, port) = listener(host);
        let mut ports: Vec<u16> = (1..=1_500).collect();
        ports.push(port);
        let groups = [group(AddrSet::List(vec![host].into()), ports, 0)];
        let (results, stats) = run(&groups, &cfg(128, 2));
        drop(l);
        assert!(
            stats.local_retries > 0,
            "the limit was never hit: {stats:?}"
        );
        assert_eq!(stats.local_failures, 0, "{stats:?}");
        assert_eq!(stats.filtered, 0, "{stats:?}");
        assert_eq!(results.len(), 1_501);
        assert!(open_set(&results).contains(&(host, port)));
        return;
    }
    let _g = lock();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "engine::sweep::tests::out_of_descriptors_is_retried_never_a_verdict",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}
