#!/usr/bin/env bash
# The engine under sanitizers (nightly): AddressSanitizer and ThreadSanitizer over the pipe
# and runtime unit tests and the socket-level suites that exercise the runtime hardest
# (inline leader/followers, poll, inproc hand-offs, closes), then Miri over the pipe and
# codec unit tests. Each tool has its own target dir; std is rebuilt instrumented
# (-Zbuild-std), which TSan needs to see std's synchronisation. Bounded: a few minutes per
# tool on 2 cores after the first build.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
# The nightly toolchain of this workplace has both; add them only where they are missing.
for c in rust-src miri; do
    rustup component list --toolchain nightly --installed | grep -q "^$c" ||
        rustup component add --toolchain nightly "$c"
done

# Socket-level suites run under the sanitizers (both backends each).
suites=(--test inline --test poll --test inproc --test close --test lifecycle --test reqrep)

run_sanitizer() {
    local name=$1
    echo "== ${name}Sanitizer"
    RUSTFLAGS="-Zsanitizer=${name,,}" \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1" \
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=1" \
        cargo +nightly test -Zbuild-std --target "$target" --target-dir "target/san-${name,,}" \
        --release -p ringlink --lib -- --test-threads=2
    RUSTFLAGS="-Zsanitizer=${name,,}" \
    TSAN_OPTIONS="halt_on_error=1 allocator_may_return_null=1" ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=1" \
        cargo +nightly test -Zbuild-std --target "$target" --target-dir "target/san-${name,,}" \
        --release -p ringlink-tests "${suites[@]}" -- --test-threads=2
}

run_sanitizer Address
run_sanitizer Thread

echo "== Miri (pipe and codec unit tests)"
MIRIFLAGS="-Zmiri-disable-isolation" \
    cargo +nightly miri test --target-dir target/miri -p ringlink --lib -- pipe:: protocol::
