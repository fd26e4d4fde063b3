#!/usr/bin/env bash
# Model-checks the lock-free hand-offs (pipe commit/deactivate, HWM credit, parker, inline
# leader hand-over) with loom: every interleaving of the real code on loom's atomics.
# Separate target dir: `--cfg loom` would otherwise invalidate the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
    cargo test --release -p ringlink --lib --target-dir target/loom loom_tests -- --test-threads=2
