#!/usr/bin/env bash
# Builds libringlink (cargo, release) and bench/c/rl_bench.c against the public header and the
# static library only (cc -O2, no sanitizers), then runs it; arguments go to rl_bench (see the
# comment at the top of rl_bench.c), e.g.
#   bench/c/run.sh                      # all patterns, both APIs, ~1.5 s per row
#   bench/c/run.sh -r 5 -b epoll        # 5 interleaved repetitions on epoll
#   bench/c/run.sh -t ipc -p PAIR -n 1000000
# Environment: CARGO_TARGET_DIR (default <repo>/target), CC (default cc), OUT (where the
# binary goes, default $CARGO_TARGET_DIR/release/rl_bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --quiet --release -p ringlink-ffi --lib --manifest-path "$root/Cargo.toml"
out="${OUT:-$target/release/rl_bench}"
"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -I "$root/ffi/include" "$root/bench/c/rl_bench.c" \
    "$target/release/libringlink.a" -lpthread -ldl -lm -o "$out"
exec "$out" "$@"
