#!/usr/bin/env python3
"""Counts packets and labelled sessions in lab runs, applying each run's labels.json rules.

usage: python3 lab/summarize.py [RUNS_DIR] [--per-run] [--json OUT]

A second table counts the sessions by the run's WAN condition (labels.json "wan", see lab/README.md).

A reference for the label rule (see lab/README.md), not the project's sessionizer: it keys
IPv4 packets by the bidirectional 5-tuple (ICMP and other portless protocols use port 0)."""

import json
import os
import struct
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label_rules import rule_class  # noqa: E402

PROTO = {1: "icmp", 6: "tcp", 17: "udp"}


def sessions(path):
    """Yields (session_key, first_src_addr) per IPv4 packet; counts frames in total."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        if linktype != 1:
            raise SystemExit(f"{path}: linktype {linktype}, expected Ethernet")
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            _, _, incl, _ = rec.unpack(h)
            data = f.read(incl)
            if len(data) < 34 or data[12:14] != b"\x08\x00":
                yield None
                continue
            ihl = (data[14] & 0x0F) * 4
            proto = data[23]
            src = ".".join(map(str, data[26:30]))
            dst = ".".join(map(str, data[30:34]))
            sport = dport = 0
            l4 = 14 + ihl
            if proto in (6, 17) and len(data) >= l4 + 4:
                sport, dport = struct.unpack("!HH", data[l4 : l4 + 4])
            a, b = (src, sport), (dst, dport)
            key = (proto,) + ((a, b) if a <= b else (b, a))
            yield key


def classify(key, rules):
    (_, (a, _), (b, _)) = key
    return rule_class(rules, a, b) or "unlabelled"


def condition(labels):
    """The run's link condition as a row name: lan, or the RTT band of a WAN run (runs before the WAN: lan)."""
    wan = labels.get("wan") or {"profile": "lan", "rtt_ms": 0}
    if wan["profile"] == "lan":
        return "lan"
    rtt = wan["rtt_ms"]
    band = "rtt 10-30" if rtt < 30 else "rtt 30-80" if rtt < 80 else "rtt 80-200"
    return band


def main():
    args = [a for a in sys.argv[1:]]
    per_run = "--per-run" in args
    out = None
    if "--json" in args:
        out = args[args.index("--json") + 1]
        args.remove(out)
    args = [a for a in args if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".lab", "runs")
    table = defaultdict(lambda: {"runs": 0, "packets": 0, "sessions": Counter()})
    by_condition = defaultdict(lambda: {"runs": 0, "packets": 0, "sessions": Counter()})
    runs = []
    for name in sorted(os.listdir(root)):
        lab = os.path.join(root, name, "labels.json")
        pcap = os.path.join(root, name, "capture.pcap")
        if not (os.path.exists(lab) and os.path.exists(pcap)):
            continue
        labels = json.load(open(lab))
        seen = set()
        packets = 0
        for key in sessions(pcap):
            packets += 1
            if key is not None:
                seen.add(key)
        counts = Counter(classify(k, labels["rules"]) for k in seen)
        row = table[labels["scenario"]]
        row["runs"] += 1
        row["packets"] += packets
        row["sessions"].update(counts)
        cond = condition(labels)
        by_condition[cond]["runs"] += 1
        by_condition[cond]["packets"] += packets
        by_condition[cond]["sessions"].update(counts)
        runs.append({"run": name, "packets": packets, "sessions": dict(counts), "wan": labels.get("wan")})
        if per_run:
            wan = labels.get("wan") or {}
            link = (f"rtt {wan.get('rtt_ms', 0)}ms jitter {wan.get('jitter_ms', 0)} loss {wan.get('loss_pct', 0)}% "
                    f"rate {wan.get('rate_mbit', 0) or '-'}" if wan.get("profile") == "wan" else "lan")
            print(f"{name:24} {packets:8} packets  {link:44} "
                  + "  ".join(f"{c}={n}" for c, n in sorted(counts.items())))
    classes = sorted({c for r in table.values() for c in r["sessions"]})
    print(f"{'scenario':12} {'runs':>5} {'packets':>9}  " + " ".join(f"{c:>11}" for c in classes))
    total = Counter()
    for sc in sorted(table):
        r = table[sc]
        total.update(r["sessions"])
        print(f"{sc:12} {r['runs']:5} {r['packets']:9}  " + " ".join(f"{r['sessions'].get(c, 0):11}" for c in classes))
    print(f"{'total':12} {sum(r['runs'] for r in table.values()):5} {sum(r['packets'] for r in table.values()):9}  "
          + " ".join(f"{total.get(c, 0):11}" for c in classes))
    print()
    print(f"{'condition':12} {'runs':>5} {'packets':>9}  " + " ".join(f"{c:>11}" for c in classes))
    order = ["lan", "rtt 10-30", "rtt 30-80", "rtt 80-200"]
    for cond in sorted(by_condition, key=order.index):
        r = by_condition[cond]
        print(f"{cond:12} {r['runs']:5} {r['packets']:9}  " + " ".join(f"{r['sessions'].get(c, 0):11}" for c in classes))
    if out:
        with open(out, "w") as f:
            json.dump({"runs": runs, "sessions_per_class": dict(total),
                       "sessions_per_condition": {k: dict(v["sessions"]) for k, v in by_condition.items()}}, f, indent=2)


if __name__ == "__main__":
    main()
