#!/bin/bash
# CPU time (user and system), system calls and context switches per 1,000 messages of one
# side of a compare throughput run, each process pinned as `compare --pin` pins it (receiver
# on CPU 1, sender on CPU 0).
#
#   scripts/perfstat-peer.sh PATTERN IMPL send|recv [N]
#   e.g. scripts/perfstat-peer.sh PUSH_PULL ringlink-uring send 4000000
#
# The sender is held (its stdin open) until the receiver has everything, as `compare` does.
set -euo pipefail
P=$1 I=$2 S=$3 N=${4:-4000000}
cd "$(dirname "$0")/.."
B=target/release/ringlink-bench
[ -x "$B" ] || cargo build --release -p ringlink-bench
mkdir -p target/perfstat
LOG=target/perfstat/peer.log OUT=target/perfstat/$P.$I.$S.csv FIFO=target/perfstat/hold.$$
EV=task-clock,user_time,system_time,context-switches,cpu-migrations,raw_syscalls:sys_enter
for c in poll futex write read io_uring_enter epoll_wait sendto recvfrom; do
  EV=$EV,syscalls:sys_enter_$c
done
COMMON="--impl=$I --pattern=$P --transport=tcp --size=64 --count=$N --warmup=1000 --hwm=1000 --batch=1024"
RX=() TX=()
if [ "$S" = send ]; then TX=(perf stat -x, -e "$EV" -o "$OUT"); else RX=(perf stat -x, -e "$EV" -o "$OUT"); fi
: > "$LOG"
rm -f "$FIFO" && mkfifo "$FIFO"
taskset -c 1 "${RX[@]}" $B __peer thr-recv $COMMON > "$LOG" 2>&1 &
R=$!
for _ in $(seq 600); do grep -q ENDPOINT "$LOG" && break; sleep 0.1; done
EP=$(grep ENDPOINT "$LOG" | head -1 | awk '{print $2}')
taskset -c 0 "${TX[@]}" $B __peer thr-send $COMMON --endpoint="$EP" > /dev/null < "$FIFO" &
T=$!
exec 3> "$FIFO"
wait $R
exec 3>&-
wait $T
rm -f "$FIFO"
grep RESULT "$LOG" | head -1
awk -F, -v n="$N" '/^[0-9]/ { printf "%-40s %14s  per 1k msgs %.2f\n", $3, $1, $1 * 1000 / n }' "$OUT"
