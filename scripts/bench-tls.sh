#!/usr/bin/env bash
# scripts/bench-tls.sh — the TLS benchmark (issue 3 §10; a measurement, not a test).
#
# Many loopback TLS endpoints with full certificate facts: N `openssl s_server` processes (a
# real third-party TLS stack; EC P-256 leaf issued by a private CA made here, chain leaf + CA),
# scanned by URL (`https://127.0.0.1:P/`) with `--checks tls --ca-file`, for N = 1 and N = 50.
# For each: best and median wall time of $RUNS runs, endpoints/s at the median, peak RSS
# (/usr/bin/time -v), and correctness of every run (N TLS subjects, each with a trusted leaf).
# Compared with `sslyze --certinfo` on the same endpoints when sslyze is installed.
#
# Runs in a private network namespace (re-execs itself under `unshare --net`): only our own
# listeners exist, and tools that resolve names through the system resolver cannot leak.
#
# usage: [RUNS=5] [COUNTS="1 50"] scripts/bench-tls.sh        (needs root for unshare)
set -euo pipefail

if [[ "${POSTURE_BENCH_NETNS:-}" != 1 ]]; then
    export POSTURE_BENCH_NETNS=1
    exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up

cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
COUNTS=${COUNTS:-"1 50"}
WORK=$(mktemp -d)
SERVER_PIDS=()
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
trap cleanup EXIT

stop_servers() {
    if ((${#SERVER_PIDS[@]})); then
        # Each server is a process group (setsid): the sleep feeding it and s_server itself.
        local pid
        for pid in "${SERVER_PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
        wait "${SERVER_PIDS[@]}" 2>/dev/null || true
    fi
    SERVER_PIDS=()
}

if [[ ! -x /usr/bin/time ]]; then
    echo "installing GNU time (for peak RSS)"
    apt-get install -y -qq time >/dev/null
fi
echo "== build"
cargo build --release --locked 2>&1 | tail -1
POSTURE=$ROOT/target/release/posture

echo "== certificates (private CA + EC P-256 leaf for 127.0.0.1)"
(
    cd "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 3650 -subj "/CN=posture bench CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
        -out leaf.csr -subj "/CN=bench.test" 2>/dev/null
    printf 'subjectAltName=DNS:bench.test,IP:127.0.0.1\n' >ext.cnf
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem \
        -days 200 -sha256 -extfile ext.cnf 2>/dev/null
)

# start_servers N: N openssl s_server processes on 127.0.0.1:20001..; sets PORTS.
start_servers() {
    stop_servers
    PORTS=()
    local n=$1 p
    for i in $(seq "$n"); do
        p=$((20000 + i))
        # stdin must stay open or s_server quits: feed it a sleep.
        # In a process group of its own, so that stopping it stops both (killing a subshell
        # left the pipeline running, holding the caller's stdout open).
        setsid bash -c 'sleep 100000 | exec openssl s_server -accept "127.0.0.1:$1" \
            -naccept 1000000 -quiet -cert "$2/leaf.pem" -key "$2/leaf.key" \
            -cert_chain "$2/ca.pem"' _ "$p" "$WORK" >/dev/null 2>&1 </dev/null &
        SERVER_PIDS+=($!)
        PORTS+=("$p")
    done
    for p in "${PORTS[@]}"; do
        for _ in $(seq 200); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
            sleep 0.02
        done
    done
}

# check_posture JSON N: N TLS subjects, each with a trusted leaf certificate.
check_posture() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
tls = [s for s in r["subjects"] if s["subject"] == "tls"]
good = [s for s in tls if s.get("cert") and s["tls"].get("trusted") is True]
if len(good) != n or r["incomplete"]:
    print(f"{len(good)}/{n} TLS subjects with a trusted leaf; incomplete: {r['incomplete'][:3]}")
    sys.exit(1)
EOF
}

# check_sslyze JSON N: N scans completed with a certificate deployment.
check_sslyze() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
ok = 0
for s in r.get("server_scan_results", []):
    ci = (s.get("scan_result") or {}).get("certificate_info") or {}
    res = ci.get("result") or {}
    if res.get("certificate_deployments"):
        ok += 1
if ok != n:
    print(f"{ok}/{n} sslyze certificate results")
    sys.exit(1)
EOF
}

# measure NAME N CHECK RESULT -- COMMAND...: $RUNS runs, one summary row.
measure() {
    local name=$1 n=$2 check=$3 result=$4
    shift 5
    local times=() rss=0 ok=0
    for run in $(seq "$RUNS"); do
        rm -f "$result"
        local t0 t1 rc=0 r
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
        t1=$(date +%s%N)
        if ((rc != 0)); then
            echo "   run $run: exit status $rc: $(head -c 300 "$WORK/stderr.txt")"
        fi
        times+=("$(((t1 - t0) / 1000))")
        r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        ((r > rss)) && rss=$r
        if [[ -f "$result" ]] && $check "$result" "$n" >"$WORK/check.txt"; then
            ok=$((ok + 1))
        else
            echo "   run $run: incorrect: $(cat "$WORK/check.txt" 2>/dev/null)"
        fi
    done
    python3 - "$name" "$n" "$rss" "$ok" "$RUNS" "${times[@]}" <<'EOF'
import statistics, sys
name, n, rss, ok, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
t = sorted(int(x) / 1e6 for x in sys.argv[6:])
med = statistics.median(t)
print(f"{name:<24} {n:>3} endpoint(s)  best {t[0]:7.3f} s  median {med:7.3f} s  "
      f"{n / med:8.1f} endpoints/s  RSS {rss / 1024:6.1f} MiB  correct {ok}/{runs}")
EOF
}

SSLYZE=()
if command -v sslyze >/dev/null; then
    SSLYZE=(sslyze)
elif python3 -c "import sslyze" 2>/dev/null; then
    SSLYZE=(python3 -m sslyze)
fi

echo "== $(nproc) cores, $RUNS runs per tool, kernel $(uname -r), $(openssl version)"
for n in $COUNTS; do
    echo
    echo "== $n openssl s_server endpoint(s)"
    start_servers "$n"
    urls=()
    hostports=()
    for p in "${PORTS[@]}"; do
        urls+=("https://127.0.0.1:$p/")
        hostports+=("127.0.0.1:$p")
    done
    measure "posture scan" "$n" check_posture "$WORK/out.json" -- \
        "$POSTURE" scan "${urls[@]}" --checks tls --ca-file "$WORK/ca.pem" \
        --json "$WORK/out.json" -q --fail-on none --allow-incomplete
    if ((${#SSLYZE[@]})); then
        measure "sslyze --certinfo" "$n" check_sslyze "$WORK/sslyze.json" -- \
            "${SSLYZE[@]}" --certinfo --certinfo_ca_file "$WORK/ca.pem" --quiet \
            --json_out "$WORK/sslyze.json" "${hostports[@]}"
    else
        echo "sslyze: not installed, skipped (pip install sslyze)"
    fi
    stop_servers
done
