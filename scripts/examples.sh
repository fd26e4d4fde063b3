#!/usr/bin/env bash
# Builds and runs the engine's examples (engine/examples/) on both backends; each must exit 0
# within 120 s (they check their own results). `thr` is a benchmark with arguments and only
# built. tokio_pipeline needs the `tokio` feature.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ringlink --features tokio --examples
status=0
for src in engine/examples/*.rs; do
    name="$(basename "$src" .rs)"
    [ "$name" = thr ] && continue
    for backend in uring epoll; do
        if RINGLINK_BACKEND=$backend timeout 120 "target/release/examples/$name" >/dev/null; then
            echo "ok      example $name ($backend)"
        else
            echo "FAILED  example $name ($backend)"
            status=1
        fi
    done
done
exit "$status"
