#!/bin/bash
# How the receiving reactor of a compare throughput run gets its bytes, per 1,000 messages:
# deliveries (io_uring receive completions with data, or epoll's recvfrom returns), bytes per
# delivery, and (io_uring) the pauses at RCVHWM (receive cancels) and the application's
# wake-ups of the reactor (eventfd reads completed). From tracepoints on the receiver only,
# pinned as `compare --pin` pins it.
#
#   scripts/deliveries-peer.sh PATTERN IMPL [N]
#   e.g. scripts/deliveries-peer.sh PAIR ringlink-uring 4000000
set -euo pipefail
P=$1 I=$2 N=${3:-4000000}
cd "$(dirname "$0")/.."
. scripts/peer-lib.sh
peer_build
mkdir -p target/perfstat
LOG=target/perfstat/deliveries.log OUT=target/perfstat/$P.$I.deliveries.data
case $I in
  *uring*) EV=(-e io_uring:io_uring_complete -e io_uring:io_uring_submit_req) ;;
  *) EV=(-e syscalls:sys_exit_recvfrom) ;;
esac
peer_run "$P" "$I" "$N" "$LOG" perf record -q "${EV[@]}" -o "$OUT" --
grep RESULT "$LOG" | head -1
perf script -i "$OUT" -F event,trace 2>/dev/null | python3 -c '
import re, sys
per = int(sys.argv[1]) / 1000
# user_data is (key << 8) | op (backend/uring/mod.rs): op 3 receive, 5 cancel, 6 wake-up read.
n = size = cancels = wakes = 0
sizes = []
for line in sys.stdin:
    if "io_uring_complete" in line:
        m = re.search(r"user_data 0x([0-9a-f]+), result (-?\d+)", line)
        op, res = int(m.group(1), 16) & 0xFF, int(m.group(2))
        if op == 3 and res > 0:
            sizes.append(res)
        elif op == 6 and res > 0:
            wakes += 1
    elif "io_uring_submit_req" in line and "ASYNC_CANCEL" in line:
        cancels += 1
    elif "sys_exit_recvfrom" in line:
        res = int(line.split()[-1], 16)
        if res < 1 << 62:
            sizes.append(res)
sizes.sort()
p50 = sizes[len(sizes) // 2] if sizes else 0
print(f"deliveries {len(sizes) / per:.2f} / 1k msgs, bytes each {sum(sizes) / max(len(sizes), 1):.0f} (p50 {p50})")
if "uring" in sys.argv[2]:
    print(f"pauses (receive cancels) {cancels / per:.2f} / 1k, reactor wake-ups {wakes / per:.2f} / 1k")
' "$N" "$I"
