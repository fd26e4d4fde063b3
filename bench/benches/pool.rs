//! The application-side buffer pool: the engine's byte pipes keep their bytes in chunks
//! (1 KiB growing to 256 KiB while a pipe stays busy) and recycle them through a few spare
//! slots: the reader parks a chunk it has finished, the writer takes it back for its next
//! chunk. (The io_uring provided-buffer ring is the kernel-side pool and is not measured
//! here.)
//!
//! An iteration writes one single-frame message, commits it, reads it, consumes it and
//! credits it, on one thread (`ringlink::bench_hooks::PipePair`):
//!
//! * `pool/recycled/<size>`: one long-lived pipe. Chunks are 256 KiB in the steady state,
//!   so a chunk is taken from and returned to the spare slots once every
//!   ⌊262144 / (size + header)⌋ messages: amortised for small messages, every message from
//!   128 KiB up (two such frames do not fit one chunk).
//! * `pool/fresh/<size>`: a new pipe per message, so its chunk is allocated (zeroed) and
//!   freed every time: what the message would cost without recycling (plus the pipe's own
//!   small allocation).
//!
//! `cargo bench -p ringlink-bench --bench pool`; throughput in bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlink::bench_hooks::PipePair;

const SIZES: [usize; 5] = [64, 1024, 16 << 10, 128 << 10, 256 << 10];

fn pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    for size in SIZES {
        let body = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut pipe = PipePair::new();
        // Reach the steady state first: chunks grow 1 KiB -> 256 KiB over the first
        // switches, and the spare slots fill up. 8 MiB of messages is well past that.
        for _ in 0..((8 << 20) / size).max(1000) {
            assert_eq!(pipe.roundtrip(&body), size);
        }
        g.bench_with_input(BenchmarkId::new("recycled", size), &body, |b, body| {
            b.iter(|| pipe.roundtrip(black_box(body)))
        });
        g.bench_with_input(BenchmarkId::new("fresh", size), &body, |b, body| {
            b.iter(|| PipePair::new().roundtrip(black_box(body)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = pool
}
criterion_main!(benches);
