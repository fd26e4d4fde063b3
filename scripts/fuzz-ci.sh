#!/usr/bin/env bash
# Bounded fuzzing for CI: builds every cargo-fuzz target (nightly, AddressSanitizer, debug
# assertions) and runs each for FUZZ_SECONDS (default 30) starting from the committed corpus,
# seeds and regression inputs. Any crash, failed invariant, allocation over the bound, leak or
# hang fails the script; the input is left under fuzz/artifacts/<target>/.
# The replay of the committed inputs on stable is part of `cargo test` (tests/fuzz_replay.rs).
# Takes about 4 minutes plus 5 x FUZZ_SECONDS (plus a first cargo-fuzz install).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${FUZZ_SECONDS:-30}"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-ci: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked
fi

# The fuzz crate is outside the workspace, so the workspace's fmt and clippy skip it.
cargo +nightly fmt --check
cargo +nightly clippy --all-targets -- -D warnings
cargo +nightly fuzz build -O -a
status=0
for t in $(cargo +nightly fuzz list); do
    scratch="$(mktemp -d)"
    dirs=("$scratch")
    for d in corpus seeds regressions; do
        if [ -d "$d/$t" ]; then dirs+=("$d/$t"); fi
    done
    echo "fuzz-ci: $t for ${secs}s"
    # New inputs go to the scratch directory; the committed ones are only read.
    log="$scratch.log"
    rc=0
    cargo +nightly fuzz run -O -a "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done )' "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz-ci: $t FAILED (input under fuzz/artifacts/$t/)" >&2
        status=1
    fi
    rm -f "$log"
    rm -rf "$scratch"
done
exit "$status"
