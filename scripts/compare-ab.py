#!/usr/bin/env python3
"""Before/after comparison of two `ringlink-bench` binaries (e.g. the previous commit's and
this one's), for a refactoring that must not change performance.

    python3 scripts/compare-ab.py BEFORE_BIN AFTER_BIN [--rounds 7] [--out DIR] [-- compare options]

Each round runs `compare --reps 1 <options>` with BEFORE, then with AFTER (so the two are
interleaved over time and share the machine's drift), and the summary gives, per row
(test, pattern, impl), the median over rounds of after/before for the headline metric
(throughput rx_kmsg_s: higher is better; latency mean_half_rtt_us: lower is better, reported
as before/after so that > 1 means faster), plus the median within-run ratio to libzmq of
each side (which factors out machine-wide drift). Default options: thr and lat for PAIR,
DEALER_ROUTER, ROUTER_ROUTER_POLL, PUBSUB, uring and epoll, threaded and inline, libzmq."""
import argparse
import json
import os
import statistics
import subprocess
import sys

DEFAULT = [
    "--tests", "thr,lat",
    "--patterns", "PAIR,DEALER_ROUTER,ROUTER_ROUTER_POLL,PUBSUB",
    "--impls", "ringlink-uring,ringlink-epoll,ringlink-uring-inline,ringlink-epoll-inline,libzmq",
]


def headline(run):
    m = run["metrics"]
    if run["test"] == "thr":
        return m.get("rx_kmsg_s")
    v = m.get("mean_half_rtt_us")
    return 1.0 / v if v else None


def load(path):
    out = {}
    for r in json.load(open(path))["runs"]:
        if not r.get("ok"):
            raise SystemExit(f"{path}: failed run {r['test']} {r['pattern']} {r['impl']}")
        out[(r["test"], r["pattern"], r["transport"], r["size"], r["impl"])] = headline(r)
    return out


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default="results/ab")
    a = ap.parse_args(argv)
    opts = extra or DEFAULT
    rounds = []
    for i in range(a.rounds):
        pair = {}
        for side, binary in (("before", a.before), ("after", a.after)):
            d = os.path.join(a.out, f"{i:02d}-{side}")
            cmd = [binary, "compare", "--reps", "1", "--out", d] + opts
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            pair[side] = load(os.path.join(d, "results.json"))
        rounds.append(pair)
        print(f"round {i + 1}/{a.rounds} done", file=sys.stderr)
    keys = sorted(rounds[0]["after"])
    print("| test | pattern | impl | after/before (median) | before vs libzmq | after vs libzmq |")
    print("|---|---|---|---|---|---|")
    for k in keys:
        test, pattern, _, _, impl = k
        if impl.startswith("libzmq"):
            continue
        zk = next((z for z in keys if z[:4] == k[:4] and z[4].startswith("libzmq")), None)
        ab = [r["after"][k] / r["before"][k] for r in rounds if r["after"].get(k) and r["before"].get(k)]
        def vs(side):
            v = [r[side][k] / r[side][zk] for r in rounds if zk and r[side].get(k) and r[side].get(zk)]
            return f"{statistics.median(v):.2f}" if v else "-"
        print(f"| {test} | {pattern} | {impl} | {statistics.median(ab):.2f} | {vs('before')} | {vs('after')} |")


if __name__ == "__main__":
    main()
