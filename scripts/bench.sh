#!/usr/bin/env bash
# scripts/bench.sh — the connect-sweep benchmark (a measurement, not a test).
#
# Runs in a private network namespace (re-execs itself under `unshare --net`), so only our own
# listeners exist and nothing leaves the machine. Two scenarios:
#   a) all 65,535 ports of 127.0.0.1, 20 listeners on 127.0.0.1 (some in the ephemeral range,
#      where self-connects happen);
#   b) 127.1.0.0/24 (256 hosts) x nmap's top 100 ports, listeners on 0.0.0.0.
# Tools: a C epoll connect loop (scripts/bench/connect_loop.c: the kernel limit), posture, and
# nmap -sT / rustscan when installed. For each: best and median wall time of $RUNS runs, ports/s,
# median CPU time (user + system), peak RSS (/usr/bin/time -v), correctness of every run (open set == listener set exactly),
# and the ratio of the median to the C loop's median.
#
# usage: [RUNS=5] [C_WINDOW=32] scripts/bench.sh [all|top100|both]     (needs root for unshare)
set -euo pipefail

if [[ "${POSTURE_BENCH_NETNS:-}" != 1 ]]; then
    export POSTURE_BENCH_NETNS=1
    exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up

cd "$(dirname "$0")/.."
ROOT=$PWD
SCENARIOS=${1:-both}
RUNS=${RUNS:-5}
# In-flight connects per thread for the C loop: flat optimum on loopback is 8-64.
C_WINDOW=${C_WINDOW:-32}
THREADS=$(nproc)
CHECK="python3 $ROOT/scripts/bench-check.py"
WORK=$(mktemp -d)
LISTENER_PID=
cleanup() {
    if [[ -n "$LISTENER_PID" ]]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Listener sets. Scenario a: spread over the range, 5 above 32768 (ephemeral range).
A_PORTS=22,80,443,1234,3306,5432,8080,9999,12345,20000,31337,32768,33000,40000,45678,49152,50000,55555,60000,65535
# Scenario b: a subset of nmap's top 100 (both sides must agree on it), incl. ephemeral-range ports.
B_PORTS=21,22,25,80,443,445,3306,3389,5432,8080,8443,32768,49152,49157
TOP100=7,9,13,21,22,23,25,26,37,53,79,80,81,88,106,110,111,113,119,135,139,143,144,179,199,389,427,443,444,445,465,513,514,515,543,544,548,554,587,631,646,873,990,993,995,1025,1026,1027,1028,1029,1110,1433,1720,1723,1755,1900,2000,2001,2049,2121,2717,3000,3128,3306,3389,3986,4899,5000,5009,5051,5060,5101,5190,5357,5432,5631,5666,5800,5900,6000,6001,6646,7070,8000,8008,8009,8080,8081,8443,8888,9100,9999,10000,32768,49152,49153,49154,49155,49156,49157

if [[ ! -x /usr/bin/time ]]; then
    echo "installing GNU time (for peak RSS)"
    apt-get install -y -qq time >/dev/null
fi
echo "== build"
cargo build --release --locked 2>&1 | tail -1
gcc -O2 -pthread -o "$WORK/connect_loop" scripts/bench/connect_loop.c
gcc -O2 -o "$WORK/listen" scripts/bench/listen.c
POSTURE=$ROOT/target/release/posture
HAVE_POSTURE=1
if ! "$POSTURE" scan --help 2>&1 | grep -q -- '--ports'; then
    HAVE_POSTURE=0
    echo "note: '$POSTURE scan' is not available in this build; posture rows skipped"
fi

start_listeners() { # ADDR PORTS
    stop_listeners
    "$WORK/listen" "$1" "$2" >"$WORK/listen.out" &
    LISTENER_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$WORK/listen.out" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "listeners did not start" >&2
    exit 1
}
stop_listeners() {
    if [[ -n "$LISTENER_PID" ]]; then
        kill "$LISTENER_PID" 2>/dev/null || true
        wait "$LISTENER_PID" 2>/dev/null || true
        LISTENER_PID=
    fi
}

# measure NAME FORMAT RESULT_FILE EXPECTED ITEMS BASELINE_MEDIAN -- COMMAND...
# Runs COMMAND $RUNS times; prints one summary row; sets LAST_MEDIAN.
measure() {
    local name=$1 fmt=$2 result=$3 expected=$4 items=$5 baseline=$6
    shift 7
    local times=() cpus=() rss=0 ok=0 verdict
    for run in $(seq "$RUNS"); do
        rm -f "$result"
        local t0 t1
        t0=$(date +%s%N)
        local rc=0
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
        t1=$(date +%s%N)
        if ((rc != 0)); then
            echo "   run $run: exit status $rc: $(head -c 200 "$WORK/stderr.txt")"
        fi
        times+=("$(python3 -c "print(($t1 - $t0) / 1e9)")")
        local r
        # CPU time (user + system) is steadier than wall time on a shared machine.
        cpus+=("$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/time.txt")")
        r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        ((r > rss)) && rss=$r
        if verdict=$($CHECK check "$fmt" "$result" "$expected"); then
            ok=$((ok + 1))
        else
            echo "   run $run: $verdict"
        fi
    done
    LAST_MEDIAN=$($CHECK median "${times[@]}")
    printf '%s  CPU %6.3fs  RSS %6.1f MiB  correct %d/%d\n' \
        "$($CHECK stats "$name" "$baseline" "$items" "${times[@]}")" \
        "$($CHECK median "${cpus[@]}")" \
        "$(python3 -c "print($rss / 1024)")" "$ok" "$RUNS"
}

scenario() { # NAME LISTEN_ADDR LISTEN_PORTS FIRST_IP HOSTS PORTS_C PORTS_CLI NMAP_PORTS RUSTSCAN_PORTS TARGET
    local name=$1 laddr=$2 lports=$3 first=$4 hosts=$5 cports=$6 cliports=$7 nports=$8 rports=$9 target=${10}
    local count=65535
    [[ "$cports" != all ]] && count=$(awk -F, '{print NF}' <<<"$cports")
    local items=$((hosts * count))
    echo
    echo "== $name: $hosts host(s) x $count ports = $items connects; listeners on $laddr:{$lports}"
    start_listeners "$laddr" "$lports"
    $CHECK expect "$first" "$hosts" "$lports" >"$WORK/expected.txt"

    measure "C epoll loop (w=$C_WINDOW)" lines "$WORK/stdout.txt" "$WORK/expected.txt" "$items" 0 -- \
        "$WORK/connect_loop" "$first" "$hosts" "$cports" "$C_WINDOW" "$THREADS" 1500
    local base=$LAST_MEDIAN

    if ((HAVE_POSTURE)); then
        measure "posture scan" posture-json "$WORK/out.json" "$WORK/expected.txt" "$items" "$base" -- \
            "$POSTURE" scan "$target" --ports "$cliports" --json "$WORK/out.json" -q --fail-on none
    fi
    if command -v nmap >/dev/null; then
        measure "nmap -sT" nmap-grep "$WORK/stdout.txt" "$WORK/expected.txt" "$items" "$base" -- \
            nmap -sT -n -Pn $nports -oG - "$target"
    else
        echo "nmap: not installed, skipped"
    fi
    if command -v rustscan >/dev/null; then
        measure "rustscan" rustscan "$WORK/stdout.txt" "$WORK/expected.txt" "$items" "$base" -- \
            rustscan -a "$target" $rports -g -b 4500 -t 1500 --ulimit 20000
    else
        echo "rustscan: not installed, skipped"
    fi
    stop_listeners
}

echo "== $THREADS cores, $RUNS runs per tool, kernel $(uname -r)"
if [[ "$SCENARIOS" == all || "$SCENARIOS" == both ]]; then
    scenario "all ports of 127.0.0.1" 127.0.0.1 "$A_PORTS" 127.0.0.1 1 all all "-p-" "-r 1-65535" 127.0.0.1
fi
if [[ "$SCENARIOS" == top100 || "$SCENARIOS" == both ]]; then
    scenario "127.1.0.0/24 x top100" 0.0.0.0 "$B_PORTS" 127.1.0.0 256 "$TOP100" top100 \
        "--top-ports 100" "-p $TOP100" 127.1.0.0/24
fi
