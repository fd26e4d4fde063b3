#!/bin/bash
# CPU time (user and system), system calls and context switches per 1,000 messages of one
# side of a compare throughput run (both processes pinned as `compare --pin` pins them).
#
#   scripts/perfstat-peer.sh PATTERN IMPL send|recv [N]
#   e.g. scripts/perfstat-peer.sh PUSH_PULL ringlink-uring send 4000000
set -euo pipefail
P=$1 I=$2 S=$3 N=${4:-4000000}
cd "$(dirname "$0")/.."
. scripts/peer-lib.sh
peer_build
mkdir -p target/perfstat
LOG=target/perfstat/peer.log OUT=target/perfstat/$P.$I.$S.csv
EV=task-clock,user_time,system_time,context-switches,cpu-migrations,raw_syscalls:sys_enter
for c in poll futex write read io_uring_enter epoll_wait sendto recvfrom; do
  EV=$EV,syscalls:sys_enter_$c
done
STAT=(perf stat -x, -e "$EV" -o "$OUT")
if [ "$S" = send ]; then
  peer_run "$P" "$I" "$N" "$LOG" -- "${STAT[@]}"
else
  peer_run "$P" "$I" "$N" "$LOG" "${STAT[@]}" --
fi
grep RESULT "$LOG" | head -1
awk -F, -v n="$N" '/^[0-9]/ { printf "%-40s %14s  per 1k msgs %.2f\n", $3, $1, $1 * 1000 / n }' "$OUT"
