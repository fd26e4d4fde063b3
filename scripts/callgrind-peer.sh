#!/bin/bash
# Instructions per message of one side of a compare throughput run, under callgrind
# (repeatable on this VM, unlike timings). The other side runs natively; both pinned as
# `compare --pin` pins them.
#
#   scripts/callgrind-peer.sh PATTERN IMPL send|recv [N]
#   e.g. scripts/callgrind-peer.sh PAIR ringlink-uring-inline-batch recv 300000
#
# Prints the total and per-message instruction count; the profile stays in
# target/callgrind/PATTERN.IMPL.SIDE.out (`callgrind_annotate --auto=yes` reads it).
set -euo pipefail
P=$1 I=$2 S=$3 N=${4:-300000}
case "$I" in
  ringlink-uring*inline*) ;;
  ringlink-uring*)
    # Valgrind runs one thread at a time (a lock its threads wait for in a pipe read);
    # its io_uring_enter keeps that lock while the reactor waits for completions, so the
    # application thread never runs again (seen in /proc/PID/task/*/wchan).
    echo "callgrind-peer.sh: threaded io_uring implementations stall under valgrind;" \
      "use an -inline one or perfstat-peer.sh" >&2
    exit 2 ;;
esac
cd "$(dirname "$0")/.."
. scripts/peer-lib.sh
peer_build
mkdir -p target/callgrind
OUT=target/callgrind/$P.$I.$S.out LOG=target/callgrind/peer.log
VG=(valgrind --tool=callgrind --callgrind-out-file="$OUT" --log-file=target/callgrind/valgrind.log)
if [ "$S" = send ]; then
  peer_run "$P" "$I" "$N" "$LOG" -- "${VG[@]}"
else
  peer_run "$P" "$I" "$N" "$LOG" "${VG[@]}" --
fi
T=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$P $I $S: $T instructions, $((T / N)) per message"
