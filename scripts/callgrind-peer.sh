#!/bin/bash
# Instructions per message of one side of a compare run, under callgrind (repeatable on this
# VM, unlike timings). The other side runs natively.
#
#   scripts/callgrind-peer.sh PATTERN IMPL send|recv [N]
#   e.g. scripts/callgrind-peer.sh PAIR ringlink-uring-inline-batch recv 300000
#
# Prints the total and per-message instruction count; the profile stays in
# target/callgrind/PATTERN.IMPL.SIDE.out (`callgrind_annotate --auto=yes` reads it).
set -euo pipefail
P=$1 I=$2 S=$3 N=${4:-300000}
cd "$(dirname "$0")/.."
B=target/release/ringlink-bench
[ -x "$B" ] || cargo build --release -p ringlink-bench
mkdir -p target/callgrind
OUT=target/callgrind/$P.$I.$S.out LOG=target/callgrind/peer.log
COMMON="--impl=$I --pattern=$P --transport=tcp --size=64 --count=$N --warmup=1000 --hwm=1000 --batch=1024"
endpoint() { # the receiver prints ENDPOINT once bound
  for _ in $(seq 600); do grep -q ENDPOINT "$LOG" 2>/dev/null && break; sleep 0.1; done
  grep ENDPOINT "$LOG" | head -1 | awk '{print $2}'
}
: > "$LOG"
if [ "$S" = send ]; then
  $B __peer thr-recv $COMMON > "$LOG" 2>&1 &
  valgrind --tool=callgrind --callgrind-out-file="$OUT" $B __peer thr-send $COMMON \
    --endpoint="$(endpoint)" > /dev/null 2> target/callgrind/valgrind.log
else
  valgrind --tool=callgrind --callgrind-out-file="$OUT" $B __peer thr-recv $COMMON \
    > "$LOG" 2> target/callgrind/valgrind.log &
  $B __peer thr-send $COMMON --endpoint="$(endpoint)" > /dev/null
fi
wait
T=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$P $I $S: $T instructions, $((T / N)) per message"
