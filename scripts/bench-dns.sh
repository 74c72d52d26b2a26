#!/usr/bin/env bash
# scripts/bench-dns.sh — the DNS check benchmark (a measurement, not a test).
#
# domains/s for the full DNS check set (zone checks: SPF with includes, DMARC, MX, MTA-STS,
# TLS-RPT, CAA, DNSSEC, NS/SOA per nameserver, AXFR, recursion, wildcard, apex CNAME) on
# N generated zones served by NSD, a real authoritative server, on two loopback addresses.
#
# Runs in a private network namespace (re-execs itself under `unshare --net`), so NSD can use
# port 53, only our own servers exist and nothing leaves the machine. posture gets a
# posture.toml with N [[domain]] entries and `--resolver 127.0.0.2:53` (NSD answers every
# benchmark zone authoritatively; there is no recursive resolver in the namespace). Reported:
# best and median wall time of $RUNS runs, domains/s at the median, peak RSS
# (/usr/bin/time -v), and whether every run assessed every domain completely.
#
# checkdmarc (SPF, DMARC, MX, NS, DNSSEC, MTA-STS, TLS-RPT, BIMI; no SMTP TLS test) is compared when
# present: set CHECKDMARC_VENV to a virtualenv holding it, or INSTALL_CHECKDMARC=1 to create
# one in target/bench-venv (pip runs before entering the namespace; the runs happen inside).
#
# usage: [RUNS=5] [DOMAINS=100] [PROFILE=release|debug] scripts/bench-dns.sh   (needs root, nsd)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
DOMAINS=${DOMAINS:-100}
PROFILE=${PROFILE:-release}

if [[ "${POSTURE_BENCH_NETNS:-}" != 1 ]]; then
    # Outside the namespace: what needs the network or a long build happens here.
    if [[ "${INSTALL_CHECKDMARC:-}" == 1 && -z "${CHECKDMARC_VENV:-}" ]]; then
        export CHECKDMARC_VENV=$ROOT/target/bench-venv
        if [[ ! -x "$CHECKDMARC_VENV/bin/checkdmarc" ]]; then
            echo "== installing checkdmarc into $CHECKDMARC_VENV"
            python3 -m venv "$CHECKDMARC_VENV"
            "$CHECKDMARC_VENV/bin/pip" install -q checkdmarc
        fi
    fi
    echo "== build ($PROFILE)"
    if [[ "$PROFILE" == release ]]; then
        cargo build --release --locked 2>&1 | tail -1
    else
        cargo build --locked 2>&1 | tail -1
    fi
    export POSTURE_BENCH_NETNS=1
    exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up

POSTURE=$ROOT/target/$PROFILE/posture
NSD=$(command -v nsd || echo /usr/sbin/nsd)
if [[ ! -x "$NSD" ]]; then
    echo "nsd is not installed (Debian: apt-get install nsd)" >&2
    exit 1
fi
if [[ ! -x /usr/bin/time ]]; then
    echo "GNU time is not installed (Debian: apt-get install time)" >&2
    exit 1
fi
WORK=$(mktemp -d)
NSD_PID=
cleanup() {
    if [[ -n "$NSD_PID" ]]; then
        kill "$NSD_PID" 2>/dev/null || true
        wait "$NSD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- zones ---------------------------------------------------------------------------------
# d0001.bench.test … : two nameservers (127.0.0.2, 127.0.1.2), SPF with an include, DMARC with
# a report address in the zone, MX, CAA, TLS-RPT, a few hosts and an alias; every 10th zone
# allows AXFR, every 7th has no DMARC, every 5th publishes `?all`. bench.test holds the shared
# SPF include and the nameservers' addresses.
python3 - "$WORK" "$DOMAINS" <<'EOF'
import sys, os
work, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{work}/zones", exist_ok=True)
head = "$TTL 300\n@ IN SOA ns1.bench.test. hostmaster.bench.test. {serial} 3600 600 86400 300\n@ IN NS ns1.bench.test.\n@ IN NS ns2.bench.test.\n"
with open(f"{work}/zones/bench.test.zone", "w") as f:
    f.write("$ORIGIN bench.test.\n" + head.format(serial=1))
    f.write("ns1 IN A 127.0.0.2\nns2 IN A 127.0.1.2\n")
    f.write('_spf IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"\n')
conf = [
    "server:", "  ip-address: 127.0.0.2", "  ip-address: 127.0.1.2", "  port: 53",
    '  username: ""', '  chroot: ""', f'  zonesdir: "{work}/zones"', '  database: ""',
    f'  pidfile: "{work}/nsd.pid"', f'  xfrdfile: "{work}/xfrd.state"', f'  xfrdir: "{work}"',
    f'  zonelistfile: "{work}/zone.list"', f'  logfile: "{work}/nsd.log"', "  do-ip6: no",
    "  server-count: 1", "  verbosity: 0",
    # Response rate limiting off: every query comes from 127.0.0.1, and NSD's default of 200
    # answers/s per client /24 would drop answers (timeouts) and measure the limiter, not us.
    "  rrl-ratelimit: 0",
    "remote-control:", "  control-enable: no",
    "zone:", "  name: bench.test", "  zonefile: bench.test.zone",
]
domains = []
for i in range(1, n + 1):
    d = f"d{i:04d}.bench.test"
    domains.append(d)
    z = [f"$ORIGIN {d}.", head.format(serial=2024010100 + i)]
    z.append("@ IN A 127.0.0.80")
    z.append("@ IN MX 10 mail")
    z.append("mail IN A 127.0.0.25")
    z.append("www IN CNAME web")
    z.append("web IN A 127.0.0.80")
    z.append("api IN A 127.0.0.81")
    qual = "?all" if i % 5 == 0 else "-all"
    z.append(f'@ IN TXT "v=spf1 mx include:_spf.bench.test {qual}"')
    if i % 7 != 0:
        z.append(f'_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{d}"')
    z.append('@ IN CAA 0 issue "letsencrypt.org"')
    z.append(f'_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls@{d}"')
    with open(f"{work}/zones/{d}.zone", "w") as f:
        f.write("\n".join(z) + "\n")
    conf += ["zone:", f"  name: {d}", f"  zonefile: {d}.zone"]
    if i % 10 == 0:
        conf.append("  provide-xfr: 0.0.0.0/0 NOKEY")
with open(f"{work}/nsd.conf", "w") as f:
    f.write("\n".join(conf) + "\n")
with open(f"{work}/posture.toml", "w") as f:
    for d in domains:
        f.write(f'[[domain]]\nname = "{d}"\n\n')
with open(f"{work}/domains.txt", "w") as f:
    f.write("\n".join(domains) + "\n")
EOF

"$NSD" -d -c "$WORK/nsd.conf" >/dev/null 2>&1 &
NSD_PID=$!
for _ in $(seq 100); do
    if python3 - <<'EOF' 2>/dev/null; then break; fi
import socket, struct, sys
q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + b"\x05d0001\x05bench\x04test\x00" + struct.pack(">HH", 6, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.1)
s.sendto(q, ("127.0.0.2", 53)); r = s.recv(512)
sys.exit(0 if (r[3] & 15) == 0 else 1)
EOF
    sleep 0.1
done

median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
best() { python3 -c 'import sys; print(min(map(float, sys.argv[1:])))' "$@"; }

# measure NAME CHECK -- COMMAND...: $RUNS runs; CHECK is a shell command that exits 0 when the
# run's output is complete.
measure() {
    local name=$1 check=$2
    shift 3
    local times=() rss=0 ok=0
    for run in $(seq "$RUNS"); do
        rm -f "$WORK/out.json"
        local t0 t1 rc=0
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
        t1=$(date +%s%N)
        times+=("$(python3 -c "print(($t1 - $t0) / 1e9)")")
        local r
        r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        ((r > rss)) && rss=$r
        if verdict=$(bash -c "$check" 2>&1); then
            ok=$((ok + 1))
        else
            echo "   run $run: exit $rc: $verdict $(head -c 300 "$WORK/stderr.txt")"
        fi
    done
    local med
    med=$(median "${times[@]}")
    printf '%-28s best %7.3f s  median %7.3f s  %8.1f domains/s  RSS %6.1f MiB  complete %d/%d\n' \
        "$name" "$(best "${times[@]}")" "$med" "$(python3 -c "print($DOMAINS / $med)")" \
        "$(python3 -c "print($rss / 1024)")" "$ok" "$RUNS"
}

# Every domain has a complete DNS subject and nothing is incomplete.
cat >"$WORK/check_posture.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
subs = [s for s in r["subjects"] if s["subject"] == "dns" and s["dns"]["is_zone_apex"]]
done = sum(1 for s in subs if s["dns"]["complete"])
if done != n or r["incomplete"]:
    sys.exit(f"{done}/{n} complete, incomplete: {r['incomplete'][:2]}")
EOF
# checkdmarc prints one JSON object per domain (a list when several); the run counts when every
# domain is there with a usable answer.
cat >"$WORK/check_checkdmarc.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r = r if isinstance(r, list) else [r]
n = int(sys.argv[2])
if len(r) != n:
    sys.exit(f"{len(r)}/{n} domains in the output")
# Every zone publishes a valid SPF record: an error here means checkdmarc did not get answers.
bad = [d for d in r if not d.get("spf", {}).get("valid")]
if bad:
    sys.exit(f"{len(bad)} domains without a valid SPF result, e.g. {bad[0].get('spf')}")
EOF
POSTURE_CHECK="python3 $WORK/check_posture.py $WORK/out.json $DOMAINS"
CHECKDMARC_CHECK="python3 $WORK/check_checkdmarc.py $WORK/stdout.txt $DOMAINS"

echo "== $(nproc) cores, $RUNS runs, $DOMAINS zones on NSD $("$NSD" -v 2>&1 | head -1 | awk '{print $NF}'), posture $PROFILE build"
measure "posture scan (all dns.*)" "$POSTURE_CHECK" -- \
    "$POSTURE" scan --config "$WORK/posture.toml" --checks dns --resolver 127.0.0.2:53 \
    --json "$WORK/out.json" -q --fail-on none
python3 - "$WORK/out.json" <<'EOF'
import collections, json, sys
r = json.load(open(sys.argv[1]))
c = collections.Counter(f["rule_id"] for f in r["findings"])
print("   findings of the last run:", ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
EOF

CHECKDMARC=
if [[ -n "${CHECKDMARC_VENV:-}" && -x "$CHECKDMARC_VENV/bin/checkdmarc" ]]; then
    CHECKDMARC=$CHECKDMARC_VENV/bin/checkdmarc
elif command -v checkdmarc >/dev/null; then
    CHECKDMARC=$(command -v checkdmarc)
fi
if [[ -n "$CHECKDMARC" ]]; then
    measure "checkdmarc" "$CHECKDMARC_CHECK" -- \
        "$CHECKDMARC" -n 127.0.0.2 -t 2 -f json "$WORK/domains.txt"
else
    echo "checkdmarc: not installed, skipped (INSTALL_CHECKDMARC=1 installs it in a virtualenv)"
fi
