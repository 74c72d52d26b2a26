//! Sharding end to end: `--shard K/N` / `--shards N` split a scan into disjoint, complete parts;
//! `posture merge` puts them back together; the Kubernetes manifests say what they should.

use crate::support::*;
use clap::Parser;
use posture::cli::{build_plan, Cli, Command};
use posture::engine::plan::{endpoints, prepare, ScanPlan};
use posture::lab::dns_server::{start_dns_server, DnsServerHandle, DnsServerOptions};
use posture::lab::services::Kind;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The assignment: union of the shards == the unsharded scope, no overlap (library level).

/// Names the lab DNS server answers, with one to three addresses each (round-robin sets).
const NAME_POOL: [&str; 6] = [
    "h0.shard.test",
    "h1.shard.test",
    "h2.shard.test",
    "h3.shard.test",
    "h4.shard.test",
    "h5.shard.test",
];
const ZONE: &str = "$ORIGIN shard.test.\n$TTL 300\n\
@ IN SOA ns1.shard.test. hostmaster.shard.test. 1 3600 600 86400 300\n\
@ IN NS ns1.shard.test.\nns1 IN A 127.0.0.1\n\
h0 IN A 127.2.0.1\n\
h1 IN A 127.2.0.2\nh1 IN A 127.2.0.3\n\
h2 IN A 127.2.0.4\nh2 IN A 127.2.0.5\nh2 IN A 127.2.0.6\n\
h3 IN A 127.2.0.7\n\
h4 IN A 127.2.0.8\nh4 IN A 127.2.0.1\n\
h5 IN A 127.2.0.9\n";

struct Lab {
    rt: tokio::runtime::Runtime,
    dns: SocketAddr,
    _server: DnsServerHandle,
}

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(start_dns_server(
                "127.0.0.1:0".parse().unwrap(),
                &[("shard.test", ZONE)],
                DnsServerOptions::default(),
            ))
            .unwrap();
        Lab {
            rt,
            dns: server.addr,
            _server: server,
        }
    })
}

/// A random scope: IPv4 addresses (some with a port), small v4 and v6 CIDRs, names from the
/// pool with their own port lists (from posture.toml) or the global ones, and domains.
#[derive(Debug, Clone)]
struct Scope {
    ips: Vec<(u8, u8, Option<u16>)>,
    v4_nets: Vec<(u8, u8)>,
    v6_nets: Vec<(u16, u8)>,
    names: Vec<(usize, Option<Vec<u16>>)>,
    domains: BTreeSet<String>,
    ports: BTreeSet<u16>,
    exclude: Option<u8>,
}

fn scope_strategy() -> impl Strategy<Value = Scope> {
    let port = 1u16..2000;
    (
        proptest::collection::vec(
            (any::<u8>(), any::<u8>(), proptest::option::of(port.clone())),
            0..4,
        ),
        proptest::collection::vec((any::<u8>(), 28u8..=32), 0..3),
        proptest::collection::vec((any::<u16>(), 125u8..=128), 0..2),
        proptest::collection::vec(
            (
                0..NAME_POOL.len(),
                proptest::option::of(proptest::collection::vec(port.clone(), 1..6)),
            ),
            0..4,
        ),
        proptest::collection::btree_set("[a-z]{1,6}\\.(example|test)", 0..6),
        proptest::collection::btree_set(port, 1..8),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |(ips, v4_nets, v6_nets, names, domains, ports, exclude)| Scope {
                ips,
                v4_nets,
                v6_nets,
                names,
                domains,
                ports,
                exclude,
            },
        )
}

/// posture.toml for the names (their own ports) and the domains.
fn config_text(s: &Scope) -> String {
    let mut t = String::new();
    for (i, ports) in &s.names {
        t.push_str(&format!("[[target]]\nhost = \"{}\"\n", NAME_POOL[*i]));
        if let Some(p) = ports {
            let list: Vec<String> = p.iter().map(u16::to_string).collect();
            t.push_str(&format!("ports = \"{}\"\n", list.join(",")));
        }
    }
    for d in &s.domains {
        t.push_str(&format!("[[domain]]\nname = \"{d}\"\n"));
    }
    t
}

fn scan_args(s: &Scope, config: &Path, shard: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = vec!["posture".into(), "scan".into()];
    for (x, y, port) in &s.ips {
        a.push(match port {
            Some(p) => format!("10.{x}.{y}.7:{p}"),
            None => format!("10.{x}.{y}.7"),
        });
    }
    for (x, len) in &s.v4_nets {
        a.push(format!("10.200.{x}.0/{len}"));
    }
    for (x, len) in &s.v6_nets {
        a.push(format!("2001:db8:{x:x}::/{len}"));
    }
    let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
    a.extend(["--ports".into(), ports.join(",")]);
    if let Some(x) = s.exclude {
        a.extend(["--exclude".into(), format!("10.200.{x}.0/30")]);
    }
    a.extend([
        "--config".into(),
        config.display().to_string(),
        "--resolver".into(),
        lab().dns.to_string(),
        "--timeout-ms".into(),
        "2000".into(),
        "--no-builtin-rules".into(),
    ]);
    if let Some(k) = shard {
        a.extend(["--shard".into(), k.into()]);
    }
    a
}

fn plan_of(args: &[String]) -> ScanPlan {
    let cli = Cli::try_parse_from(args).expect("arguments parse");
    match cli.command {
        Some(Command::Scan(a)) => build_plan(&a).map_err(|e| e.to_string()).unwrap().0,
        other => panic!("not a scan: {other:?}"),
    }
}

/// Every endpoint and domain a plan covers, one line each (duplicates kept: overlapping
/// targets scan an endpoint twice, and must do so in the same shard).
fn covered(plan: &ScanPlan) -> Vec<String> {
    let prepared = lab().rt.block_on(prepare(plan)).expect("prepare");
    assert!(prepared.unresolved.is_empty(), "{:?}", prepared.unresolved);
    let mut v: Vec<String> = endpoints(plan, &prepared)
        .map(|(g, ip, port)| format!("{}|{ip}|{port}", g.name.as_deref().unwrap_or("")))
        .collect();
    v.extend(plan.domains.iter().map(|d| format!("domain|{}", d.name)));
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn shards_partition_the_scope_exactly(s in scope_strategy()) {
        prop_assume!(!s.ips.is_empty() || !s.v4_nets.is_empty() || !s.v6_nets.is_empty()
            || !s.names.is_empty() || !s.domains.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("posture.toml");
        std::fs::write(&config, config_text(&s)).unwrap();
        let whole = covered(&plan_of(&scan_args(&s, &config, None)));
        prop_assert!(!whole.is_empty());
        for n in 1..=5u32 {
            let parts: Vec<Vec<String>> = (1..=n)
                .map(|k| covered(&plan_of(&scan_args(&s, &config, Some(&format!("{k}/{n}"))))))
                .collect();
            let mut union: Vec<String> = parts.iter().flatten().cloned().collect();
            union.sort();
            prop_assert_eq!(&union, &whole, "N={}: the union differs from the unsharded scope", n);
            let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
            for (k, part) in parts.iter().enumerate() {
                for line in part {
                    let prev = owner.insert(line.as_str(), k);
                    prop_assert!(prev.is_none_or(|p| p == k), "N={}: {} in shards {:?} and {}", n, line, prev, k + 1);
                }
            }
        }
    }
}

/// A name is sharded by (name, port), never by its addresses: every address of one name×port
/// is in the same shard.
#[test]
fn a_name_port_keeps_all_its_addresses_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("posture.toml");
    std::fs::write(&config, "[[target]]\nhost = \"h2.shard.test\"\n").unwrap();
    let s = Scope {
        ips: vec![],
        v4_nets: vec![],
        v6_nets: vec![],
        names: vec![],
        domains: BTreeSet::new(),
        ports: (1..=64).collect(),
        exclude: None,
    };
    let mut owners: BTreeMap<u16, BTreeSet<u32>> = BTreeMap::new();
    for k in 1..=3u32 {
        for line in covered(&plan_of(&scan_args(&s, &config, Some(&format!("{k}/3"))))) {
            let port: u16 = line.rsplit('|').next().unwrap().parse().unwrap();
            owners.entry(port).or_default().insert(k);
            assert!(line.starts_with("h2.shard.test|127.2.0."), "{line}");
        }
    }
    assert_eq!(owners.len(), 64);
    assert!(owners.values().all(|k| k.len() == 1), "{owners:?}");
    let used: BTreeSet<u32> = owners.values().flatten().copied().collect();
    assert_eq!(used.len(), 3, "64 ports all landed in fewer than 3 shards");
}

// ---------------------------------------------------------------------------------------------
// The CLI: flags, environment, errors.

fn sharded_posture() -> assert_cmd::Command {
    let mut c = posture();
    c.env_remove("POSTURE_SHARD_INDEX")
        .env_remove("JOB_COMPLETION_INDEX");
    c
}

fn list(extra: &[&str], env: &[(&str, &str)]) -> (Vec<String>, String) {
    let mut c = sharded_posture();
    c.args(["scan", "127.0.0.1", "--ports", "1-300", "--list-targets"])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (lines, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn shard_index_from_the_environment_is_zero_based() {
    let (explicit, err) = list(&["--shard", "3/4"], &[]);
    assert!(err.contains("(shard 3/4)"), "{err}");
    assert!(!explicit.is_empty() && explicit.len() < 300);
    let (k8s, err) = list(&["--shards", "4"], &[("JOB_COMPLETION_INDEX", "2")]);
    assert!(err.contains("(shard 3/4)"), "{err}");
    assert_eq!(k8s, explicit);
    let (own, _) = list(&["--shards", "4"], &[("POSTURE_SHARD_INDEX", "2")]);
    assert_eq!(own, explicit);
    // The four shards list every endpoint once.
    let mut all: Vec<String> = (1..=4)
        .flat_map(|k| list(&["--shard", &format!("{k}/4")], &[]).0)
        .collect();
    all.sort();
    let (mut whole, _) = list(&[], &[]);
    whole.sort();
    assert_eq!(all, whole);
    assert_eq!(whole.len(), 300);
}

#[test]
fn bad_shard_arguments_exit_2_with_a_clear_message() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (&["--shard", "5/4"], &[], "out of range"),
        (&["--shard", "0/4"], &[], "out of range"),
        (&["--shard", "two"], &[], "K/N"),
        (
            &["--shard", "1/4", "--shards", "4"],
            &[],
            "cannot be used with",
        ),
        (&["--shards", "4"], &[], "JOB_COMPLETION_INDEX"),
        (
            &["--shards", "4"],
            &[("JOB_COMPLETION_INDEX", "4")],
            "out of range",
        ),
    ];
    for (args, env, needle) in cases {
        let mut c = sharded_posture();
        c.args(["scan", "127.0.0.1", "--ports", "80", "--list-targets"])
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Scan as 4 shards and as one run; merge must give the same findings and exit code.

struct Fixture {
    _labs: Vec<(tokio::runtime::Runtime, posture::lab::services::LabService)>,
    _plain: Vec<std::net::TcpListener>,
    ports: String,
}

fn fixture() -> Fixture {
    let labs: Vec<_> = [
        Kind::Redis,
        Kind::Telnet,
        Kind::Vnc,
        Kind::Ssh,
        Kind::Memcached,
    ]
    .into_iter()
    .map(start_lab)
    .collect();
    let plain = listeners(4);
    let mut ports: Vec<u16> = labs.iter().map(|(_, s)| s.addr.port()).collect();
    ports.extend(ports_of(&plain));
    ports.extend((0..4).map(|_| closed_port()));
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    Fixture {
        _labs: labs,
        _plain: plain,
        ports: list.join(","),
    }
}

/// Runs a scan of 127.0.0.1 over `ports`; returns the exit code and stdout.
fn scan(ports: &str, json: &Path, sarif: Option<&Path>, extra: &[&str]) -> (i32, String) {
    let mut c = sharded_posture();
    c.args([
        "scan",
        "127.0.0.1",
        "--ports",
        ports,
        "--timeout-ms",
        "1000",
    ])
    .arg("--json")
    .arg(json)
    .args(extra);
    if let Some(s) = sarif {
        c.arg("--sarif").arg(s);
    }
    let out = c.output().unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code != 2,
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn merge(files: &[PathBuf], extra: &[&str]) -> std::process::Output {
    sharded_posture()
        .arg("merge")
        .args(files)
        .args(extra)
        .output()
        .unwrap()
}

fn fingerprints(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn four_shards_merge_to_the_same_findings_and_exit_code_as_one_run() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let whole_json = dir.path().join("whole.json");
    let (whole_code, _) = scan(&fx.ports, &whole_json, None, &["-q"]);
    let whole = read_json(&whole_json);
    assert_eq!(whole_code, 1, "the risky services must give findings");
    assert!(fingerprints(&whole).len() >= 4, "{:?}", finding_ids(&whole));

    let mut files = Vec::new();
    let mut shard_fps: Vec<BTreeSet<String>> = Vec::new();
    for k in 1..=4 {
        let json = dir.path().join(format!("shard-{}.json", k - 1));
        let sarif = dir.path().join(format!("shard-{k}.sarif"));
        let (_, stdout) = scan(
            &fx.ports,
            &json,
            Some(&sarif),
            &["--shard", &format!("{k}/4")],
        );
        let r = read_json(&json);
        assert_eq!(r["scan"]["shard"], format!("{k}/4"));
        let s = read_json(&sarif);
        assert_eq!(s["runs"][0]["properties"]["shard"], format!("{k}/4"));
        assert!(stdout.contains(&format!("· shard {k}/4")), "{stdout}");
        shard_fps.push(fingerprints(&r));
        files.push(json);
    }
    // Disjoint: no finding in two shards.
    let total: usize = shard_fps.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<String> = shard_fps.iter().flatten().cloned().collect();
    assert_eq!(total, union.len(), "a finding appeared in two shards");

    let merged_json = dir.path().join("merged.json");
    let merged_sarif = dir.path().join("merged.sarif");
    let out = merge(
        &files,
        &[
            "-q",
            "--json",
            merged_json.to_str().unwrap(),
            "--sarif",
            merged_sarif.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(whole_code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = read_json(&merged_json);
    assert_eq!(fingerprints(&merged), fingerprints(&whole));
    assert_eq!(open_ports(&merged), open_ports(&whole));
    assert!(merged["incomplete"].as_array().unwrap().is_empty());
    assert!(merged["scan"].get("shard").is_none());
    for key in ["ports_scanned", "open", "closed", "filtered", "hosts"] {
        assert_eq!(
            merged["scan"]["stats"][key], whole["scan"]["stats"][key],
            "{key}"
        );
    }
    let sarif = read_json(&merged_sarif);
    assert_valid_sarif(&sarif);
    assert_eq!(sarif["runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        fingerprints(&whole).len()
    );

    // A missing shard: named in JSON and SARIF, the outcome incomplete. Findings from the
    // remaining shards still decide exit 1 when they reach the threshold, else 3.
    for drop in 0..4 {
        let kept: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, p)| p.clone())
            .collect();
        let j = dir.path().join(format!("missing-{drop}.json"));
        let s = dir.path().join(format!("missing-{drop}.sarif"));
        let out = merge(
            &kept,
            &[
                "--json",
                j.to_str().unwrap(),
                "--sarif",
                s.to_str().unwrap(),
            ],
        );
        let expect = if (0..4)
            .filter(|i| *i != drop)
            .any(|i| !shard_fps[i].is_empty())
        {
            1
        } else {
            3
        };
        assert_eq!(
            out.status.code(),
            Some(expect),
            "dropping shard {}",
            drop + 1
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = format!("shard {}/4", drop + 1);
        assert!(stderr.contains(&name), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&name) && stdout.contains("missing"),
            "{stdout}"
        );
        let r = read_json(&j);
        assert!(r["incomplete"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["endpoint"] == name.as_str()
                && i["stage"] == "shard"
                && i["reason"] == "missing"));
        let sarif = read_json(&s);
        assert_valid_sarif(&sarif);
        assert_eq!(sarif["runs"][0]["properties"]["complete"], false);
        assert!(
            sarif.to_string().contains(&name),
            "SARIF does not name {name}"
        );
        // With findings ignored, only the missing shard decides: 3.
        let out = merge(&kept, &["-q", "--fail-on", "critical"]);
        let critical = (0..4).filter(|i| *i != drop).any(|i| {
            read_json(&files[i])["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["severity"] == "critical")
        });
        assert_eq!(out.status.code(), Some(if critical { 1 } else { 3 }));
        let out = merge(
            &kept,
            &["-q", "--fail-on", "critical", "--allow-incomplete"],
        );
        assert_eq!(out.status.code(), Some(if critical { 1 } else { 0 }));
    }
}

#[test]
fn a_missing_shard_without_findings_exits_3() {
    let plain = listeners(3);
    let ports: Vec<String> = ports_of(&plain).iter().map(u16::to_string).collect();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let json = dir.path().join(format!("s{k}.json"));
            let (code, _) = scan(
                &ports.join(","),
                &json,
                None,
                &["-q", "--shard", &format!("{k}/3")],
            );
            assert_eq!(code, 0);
            json
        })
        .collect();
    let out = merge(&files, &["-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = dir.path().join("m.json");
    let s = dir.path().join("m.sarif");
    let out = merge(
        &files[..2],
        &[
            "-q",
            "--json",
            j.to_str().unwrap(),
            "--sarif",
            s.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let r = read_json(&j);
    assert_eq!(
        r["incomplete"],
        serde_json::json!([{"endpoint": "shard 3/3", "stage": "shard", "reason": "missing"}])
    );
    assert_valid_sarif(&read_json(&s));
    // Duplicated and mixed shards are loud too.
    let out = merge(
        &[
            files[0].clone(),
            files[0].clone(),
            files[1].clone(),
            files[2].clone(),
        ],
        &["-q", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(3));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r["incomplete"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("duplicate"),
        "{r}"
    );
    drop(plain);
}

#[test]
fn corrupt_unreadable_or_unsharded_files_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let plain = listeners(1);
    let port = ports_of(&plain)[0].to_string();
    let good = dir.path().join("shard-0.json");
    scan(&port, &good, None, &["-q", "--shard", "1/2"]);
    let corrupt = dir.path().join("shard-1.json");
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&corrupt, &text[..text.len() / 2]).unwrap();
    let out = merge(&[good.clone(), corrupt], &["-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard-1.json"));

    let absent = dir.path().join("shard-9.json");
    let out = merge(&[good.clone(), absent], &["-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard-9.json"));

    let whole = dir.path().join("whole.json");
    scan(&port, &whole, None, &["-q"]);
    let out = merge(&[good, whole.clone()], &["-q"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("whole.json") && err.contains("not a shard"),
        "{err}"
    );
    // Alone, an unsharded result merges to itself.
    let out = merge(&[whole], &["-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(plain);
}

// ---------------------------------------------------------------------------------------------
// deploy/kubernetes: the manifests parse and carry what the docs promise.

fn manifests() -> BTreeMap<String, Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
                .map(|d| {
                    let v: serde_norway::Value = serde::Deserialize::deserialize(d)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    serde_json::to_value(v).unwrap()
                })
                .collect();
            out.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                docs,
            );
        }
    }
    out
}

fn doc<'a>(all: &'a BTreeMap<String, Vec<Value>>, file: &str, kind: &str, name: &str) -> &'a Value {
    all[file]
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{file}: no {kind} {name}"))
}

fn assert_hardened(pod: &Value) {
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    for c in pod["containers"].as_array().unwrap() {
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{c}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{c}");
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(
            sc["capabilities"].get("add").is_none(),
            "no capability is needed"
        );
        assert!(sc
            .get("privileged")
            .is_none_or(|p| *p == Value::Bool(false)));
        for k in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(c["resources"][k][r].is_string(), "{k}.{r} missing");
            }
        }
    }
}

#[test]
fn kubernetes_manifests_parse_and_carry_the_essentials() {
    let all = manifests();
    for f in [
        "job.yaml",
        "cronjob.yaml",
        "merge-job.yaml",
        "configmap.yaml",
        "pvc.yaml",
    ] {
        assert!(all.contains_key(f), "deploy/kubernetes/{f} missing");
    }
    for (file, docs) in &all {
        for d in docs {
            if d["kind"] != "Namespace" {
                assert_eq!(
                    d["metadata"]["namespace"], "posture",
                    "{file}: {}",
                    d["kind"]
                );
            }
        }
    }
    assert_hardened(&doc(&all, "fetch-pod.yaml", "Pod", "posture-fetch")["spec"]);
    let pvc = doc(&all, "pvc.yaml", "PersistentVolumeClaim", "posture-results");
    assert!(pvc["spec"]["accessModes"]
        .as_array()
        .unwrap()
        .contains(&"ReadWriteMany".into()));
    let cm = doc(&all, "configmap.yaml", "ConfigMap", "posture-config");

    // The scan: an Indexed Job, N = completions = parallelism = --shards.
    let job = doc(&all, "job.yaml", "Job", "posture-scan");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(n));
    let pod = &spec["template"]["spec"];
    assert_hardened(pod);
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
    assert_eq!(args[0], "scan");
    assert_eq!(after("--config"), Some("/etc/posture/posture.toml"));
    assert_eq!(after("--shards"), Some(n.to_string().as_str()));
    assert_eq!(
        after("--json"),
        Some("/results/shard-$(JOB_COMPLETION_INDEX).json")
    );
    assert_eq!(after("--fail-on"), Some("none"));
    let mounts: BTreeMap<&str, &str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(mounts["config"], "/etc/posture");
    assert_eq!(mounts["results"], "/results");
    let vols = pod["volumes"].as_array().unwrap();
    let vol = |name: &str| vols.iter().find(|v| v["name"] == name).unwrap();
    assert_eq!(vol("config")["configMap"]["name"], cm["metadata"]["name"]);
    assert_eq!(
        vol("results")["persistentVolumeClaim"]["claimName"],
        pvc["metadata"]["name"]
    );
    // Every ConfigMap key is mounted.
    let keys: HashSet<&str> = cm["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mounted: HashSet<&str> = vol("config")["configMap"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, mounted);

    // The CronJob wraps exactly the same job.
    let cron = doc(&all, "cronjob.yaml", "CronJob", "posture-scan");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(
        &cron["spec"]["jobTemplate"]["spec"], spec,
        "the CronJob's job differs from job.yaml"
    );

    // The merge Job (and its CronJob) merge the shards' files.
    let merge_job = doc(&all, "merge-job.yaml", "Job", "posture-merge");
    let mpod = &merge_job["spec"]["template"]["spec"];
    assert_hardened(mpod);
    let script = mpod["containers"][0]["args"][0].as_str().unwrap();
    assert!(
        script.contains("posture merge /results/shard-*.json --sarif "),
        "{script}"
    );
    assert!(script.contains("--json "), "{script}");
    let mcron = doc(&all, "cronjob.yaml", "CronJob", "posture-merge");
    assert_eq!(&mcron["spec"]["jobTemplate"]["spec"], &merge_job["spec"]);

    // The inventory and rules in the ConfigMap are valid for this posture.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for item in vol("config")["configMap"]["items"].as_array().unwrap() {
        let text = cm["data"][item["key"].as_str().unwrap()].as_str().unwrap();
        std::fs::write(dir.path().join(item["path"].as_str().unwrap()), text).unwrap();
    }
    let (_silent, resolver) = silent_resolver();
    let out = sharded_posture()
        .args([
            "scan",
            "--list-targets",
            "--shard",
            "1/4",
            "--timeout-ms",
            "100",
            "--resolver",
        ])
        .arg(resolver.to_string())
        .arg("--config")
        .arg(dir.path().join("posture.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("(shard 1/4)"));
}
