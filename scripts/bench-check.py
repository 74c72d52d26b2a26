#!/usr/bin/env python3
"""Helpers for scripts/bench.sh: expected open sets, result parsing per tool, statistics.

  bench-check.py expect FIRST_IPV4 HOSTS PORT[,PORT...]      -> prints "ip:port" lines
  bench-check.py check FORMAT RESULT_FILE EXPECTED_FILE      -> "ok" (exit 0) or a diff (exit 1)
        FORMAT: posture-json | lines | nmap-grep | rustscan
  bench-check.py median T1 T2 ...                            -> the median
  bench-check.py stats NAME BASELINE_MEDIAN ITEMS T1 T2 ...  -> one table row (best, median, ports/s)

posture-json reads the ScanOutcome JSON report: open ports are the `subjects[]` entries with
"subject": "port", their address `target.ip` (or `target.host`) and `port.number`.
"""
import ipaddress
import json
import re
import statistics
import sys


def expect(first, hosts, ports):
    base = int(ipaddress.IPv4Address(first))
    for h in range(int(hosts)):
        ip = ipaddress.IPv4Address(base + h)
        for p in ports.split(","):
            print(f"{ip}:{int(p)}")


def parse_posture(path):
    with open(path) as f:
        doc = json.load(f)
    found = set()
    for s in doc.get("subjects", []):
        if s.get("subject") != "port":
            continue
        port = s.get("port", {})
        if port.get("state", "open") != "open" and not port.get("open", False):
            continue
        target = s.get("target", {})
        ip = target.get("ip") or target.get("host")
        found.add(f"{ip}:{port['number']}")
    return found


def parse_lines(path):
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def parse_nmap(path):
    found = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"Host: (\S+) .*Ports: (.*)", line)
            if not m:
                continue
            for entry in m.group(2).split(","):
                fields = entry.strip().split("/")
                if len(fields) > 2 and fields[1] == "open":
                    found.add(f"{m.group(1)}:{int(fields[0])}")
    return found


def parse_rustscan(path):
    found = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"(\S+) -> \[(.*)\]", line.strip())
            if m:
                for p in m.group(2).split(","):
                    if p.strip():
                        found.add(f"{m.group(1)}:{int(p)}")
    return found


PARSERS = {
    "posture-json": parse_posture,
    "lines": parse_lines,
    "nmap-grep": parse_nmap,
    "rustscan": parse_rustscan,
}


def check(fmt, result, expected):
    try:
        got = PARSERS[fmt](result)
    except (OSError, ValueError, KeyError) as e:
        print(f"WRONG (unreadable result: {e})")
        return 1
    want = parse_lines(expected)
    if got == want:
        print("ok")
        return 0
    missing, extra = sorted(want - got), sorted(got - want)
    print(f"WRONG: {len(missing)} missing {missing[:3]}, {len(extra)} extra {extra[:3]}")
    return 1


def stats(name, baseline, items, times):
    ts = sorted(float(t) for t in times)
    best, med = ts[0], statistics.median(ts)
    base = float(baseline) if float(baseline) > 0 else med  # the baseline row itself
    ratio = f"{med / base:5.2f}x"
    rate = int(items) / best if best > 0 else 0
    print(f"{name:<22} best {best:7.3f}s  median {med:7.3f}s  {rate:>10,.0f} ports/s  vs C {ratio}")


def main():
    cmd = sys.argv[1]
    if cmd == "expect":
        expect(*sys.argv[2:5])
        return 0
    if cmd == "check":
        return check(*sys.argv[2:5])
    if cmd == "median":
        print(statistics.median(float(t) for t in sys.argv[2:]))
        return 0
    if cmd == "stats":
        stats(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
