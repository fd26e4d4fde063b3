#!/usr/bin/env bash
# Soak test for CI: `ringlink-bench soak` for 60 s in total (PUSH/PULL, DEALER/ROUTER and
# PUB/SUB on io_uring and epoll, 10 s each, two processes per run over tcp loopback): zero
# loss, strict sequence, RSS of each process within ±10 % of its value at the end of warm-up,
# receiver >= 1 M msg/s. Exits non-zero when any check fails (the report names the check).
# Results (soak.md, soak.json, charts/*.svg) go to results/soak-ci (git-ignored) unless
# SOAK_OUT is set; extra arguments are passed on (e.g. --duration 600).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${SOAK_OUT:-results/soak-ci}"
rm -rf "$out"
cargo build --release -p ringlink-bench
echo "load average before the soak: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
cargo run --release -q -p ringlink-bench -- soak --duration 60 --out "$out" "$@" || status=$?
echo "load average after the soak: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "soak report: $out/soak.md, charts: $out/charts/"
exit "$status"
