# Shared by the per-side profiling scripts (perfstat-peer.sh, callgrind-peer.sh): run one
# compare throughput case as its two `__peer` processes, each pinned as `compare --pin`
# pins it (receiver on CPU 1, sender on CPU 0), with a command prefix (a profiler) on
# either side. The sender is held (its stdin open) until the receiver has everything, as
# `compare` does: a sender that exits early drops what its reactor has not sent yet.
#
#   peer_run PATTERN IMPL N LOG RX_PREFIX... -- TX_PREFIX...
#
# The receiver's output goes to LOG (its RESULT line among it).

PEER_BIN=target/release/ringlink-bench

peer_build() {
  [ -x "$PEER_BIN" ] || cargo build --release -p ringlink-bench
}

peer_run() {
  local p=$1 i=$2 n=$3 log=$4
  shift 4
  local rx=() tx=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do rx+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  tx=("$@")
  local common=(--impl="$i" --pattern="$p" --transport=tcp --size=64 --count="$n"
    --warmup=1000 --hwm=1000 --batch=1024)
  local fifo
  fifo=$(dirname "$log")/hold.$$
  : > "$log"
  rm -f "$fifo" && mkfifo "$fifo"
  taskset -c 1 "${rx[@]}" "$PEER_BIN" __peer thr-recv "${common[@]}" > "$log" 2>&1 &
  local r=$!
  for _ in $(seq 600); do grep -q ENDPOINT "$log" && break; sleep 0.1; done
  local ep
  ep=$(grep ENDPOINT "$log" | head -1 | awk '{print $2}')
  taskset -c 0 "${tx[@]}" "$PEER_BIN" __peer thr-send "${common[@]}" --endpoint="$ep" \
    > /dev/null < "$fifo" &
  local t=$!
  exec 3> "$fifo"
  wait "$r"
  exec 3>&-
  wait "$t"
  rm -f "$fifo"
}
