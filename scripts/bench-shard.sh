#!/usr/bin/env bash
# scripts/bench-shard.sh — what sharding costs (a measurement, not a test).
#
# 127.1.0.0/20 (4,096 hosts) x nmap's top 100 ports (409,600 connects), scanned
#   a) as one run:                       posture scan 127.1.0.0/20 --json one.json
#   b) as 4 sequential shards + merge:   posture scan … --shard K/4 --json shard-K.json (K=1..4)
#                                        posture merge shard-*.json --json merged.json
# For both: total CPU (user + sys, from /usr/bin/time) and wall time, medians of $RUNS
# interleaved runs, and the overhead of b over a. Goal: under 5 % total CPU. Every run is
# checked: the merged open ports and finding fingerprints equal the single run's.
#
# Runs in a private network namespace (re-execs itself under `unshare --net`, like bench.sh), so
# only our own listeners exist and nothing leaves the machine. Listeners on 0.0.0.0 make every
# address of the /20 answer on $LISTEN_PORTS; keep that set small: each open port also gets a
# banner probe, and the point here is the sweep. `--checks ports` skips TLS and HTTP.
#
# usage: [RUNS=5] [LISTEN_PORTS=22,443] scripts/bench-shard.sh      (needs root for unshare)
set -euo pipefail

if [[ "${POSTURE_BENCH_NETNS:-}" != 1 ]]; then
    export POSTURE_BENCH_NETNS=1
    exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up

cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
LISTEN_PORTS=${LISTEN_PORTS:-22,443}
SHARDS=4
TARGET=127.1.0.0/20
HOSTS=4096
WORK=$(mktemp -d)
LISTENER_PID=
cleanup() {
    if [[ -n "$LISTENER_PID" ]]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x /usr/bin/time ]]; then
    echo "installing GNU time (for CPU times)"
    apt-get install -y -qq time >/dev/null
fi
echo "== build"
cargo build --release --locked 2>&1 | tail -1
POSTURE=$ROOT/target/release/posture
if ! "$POSTURE" scan --help 2>&1 | grep -q -- '--shard'; then
    echo "error: $POSTURE has no --shard" >&2
    exit 1
fi

python3 "$ROOT/scripts/bench-listen.py" 0.0.0.0 "$LISTEN_PORTS" >"$WORK/listen.out" &
LISTENER_PID=$!
for _ in $(seq 100); do
    grep -q ready "$WORK/listen.out" 2>/dev/null && break
    sleep 0.05
done
grep -q ready "$WORK/listen.out" || { echo "listeners did not start" >&2; exit 1; }

COMMON=(--ports top100 --checks ports --fail-on none -q)

# timed LABEL COMMAND... : runs COMMAND under /usr/bin/time, appends "LABEL wall user sys" to
# $WORK/times.txt. posture's exit status must be 0 (--fail-on none; incomplete would be 3).
timed() {
    local label=$1
    shift
    local rc=0
    /usr/bin/time -f "%e %U %S" -o "$WORK/t.txt" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
    if ((rc != 0)); then
        echo "   $label: exit status $rc: $(head -c 300 "$WORK/stderr.txt")" >&2
        exit 1
    fi
    echo "$label $(tail -1 "$WORK/t.txt")" >>"$WORK/times.txt"
}

echo "== $(nproc) cores, kernel $(uname -r), $RUNS runs, listeners on 0.0.0.0:{$LISTEN_PORTS}"
echo "== $TARGET ($HOSTS hosts) x top100: one run vs $SHARDS sequential shards + merge"
: >"$WORK/times.txt"
for run in $(seq "$RUNS"); do
    # Interleaved, so drift (thermal, other load) hits both sides alike.
    timed "one:$run" "$POSTURE" scan "$TARGET" "${COMMON[@]}" --json "$WORK/one.json"
    rm -f "$WORK"/shard-*.json
    for k in $(seq "$SHARDS"); do
        timed "shard:$run:$k" "$POSTURE" scan "$TARGET" "${COMMON[@]}" \
            --shard "$k/$SHARDS" --json "$WORK/shard-$k.json"
    done
    timed "merge:$run" "$POSTURE" merge "$WORK"/shard-*.json --json "$WORK/merged.json" \
        --fail-on none -q
    python3 - "$WORK/one.json" "$WORK/merged.json" "$HOSTS" "$LISTEN_PORTS" <<'EOF'
import json, sys
one, merged = (json.load(open(p)) for p in sys.argv[1:3])
hosts, listen = int(sys.argv[3]), [int(p) for p in sys.argv[4].split(",")]
def opens(r):
    return sorted((s["target"]["ip"], s["port"]["number"]) for s in r["subjects"] if s["subject"] == "port")
def fps(r):
    return sorted(f["fingerprint"] for f in r["findings"])
problems = []
if opens(one) != opens(merged):
    problems.append(f"open ports differ: one run {len(opens(one))}, merged {len(opens(merged))}")
if fps(one) != fps(merged):
    problems.append("finding fingerprints differ")
if one["scan"]["stats"]["ports_scanned"] != merged["scan"]["stats"]["ports_scanned"]:
    problems.append("ports_scanned differ")
if merged["incomplete"] or one["incomplete"]:
    problems.append(f"incomplete: one {len(one['incomplete'])}, merged {len(merged['incomplete'])}")
if one["scan"]["stats"]["ports_scanned"] != hosts * 100:
    problems.append(f"one run scanned {one['scan']['stats']['ports_scanned']} of {hosts * 100}")
if problems:
    print("   MISMATCH: " + "; ".join(problems))
    sys.exit(1)
EOF
done

python3 - "$WORK/times.txt" "$SHARDS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
shards = int(sys.argv[2])
runs = {}
for label, wall, user, sys_ in rows:
    parts = label.split(":")
    kind, run = parts[0], int(parts[1])
    r = runs.setdefault(run, {"one": [0.0, 0.0], "sharded": [0.0, 0.0], "merge": [0.0, 0.0], "scans": [0.0, 0.0]})
    cpu, wall = float(user) + float(sys_), float(wall)
    side = "one" if kind == "one" else "sharded"
    r[side][0] += cpu
    r[side][1] += wall
    if kind == "merge":
        r["merge"][0] += cpu
        r["merge"][1] += wall
    if kind == "shard":
        r["scans"][0] += cpu
        r["scans"][1] += wall
med = lambda key, i: statistics.median(r[key][i] for r in runs.values())
one_cpu, one_wall = med("one", 0), med("one", 1)
sh_cpu, sh_wall = med("sharded", 0), med("sharded", 1)
print(f"{'':34}{'CPU user+sys':>14}{'wall':>10}   (medians of {len(runs)} runs)")
print(f"{'one run':34}{one_cpu:>12.2f} s{one_wall:>8.2f} s")
print(f"{f'{shards} shards (scans only)':34}{med('scans', 0):>12.2f} s{med('scans', 1):>8.2f} s")
print(f"{'merge':34}{med('merge', 0):>12.2f} s{med('merge', 1):>8.2f} s")
print(f"{f'{shards} shards + merge':34}{sh_cpu:>12.2f} s{sh_wall:>8.2f} s")
over = (sh_cpu - one_cpu) / one_cpu * 100 if one_cpu else float("nan")
over_runs = sorted((r["sharded"][0] - r["one"][0]) / r["one"][0] * 100 for r in runs.values() if r["one"][0])
print(f"sharding overhead, total CPU: {over:+.1f} %  (per run: {', '.join(f'{o:+.1f}' for o in over_runs)})"
      f"  goal < 5 %: {'met' if over < 5 else 'NOT met'}")
print(f"sequential wall time: {sh_wall / one_wall:.2f}x the one run (each shard alone: "
      f"{med('scans', 1) / shards / one_wall:.2f}x)")
EOF
