//! ZMTP codec micro-benchmarks through ringlink's public `protocol` module: frame encoding
//! (`frame::write_frame`) and the streaming decoder (`decoder::Decoder`) per frame size.
//!
//! `cargo bench -p ringlink-bench --bench codec`. Each iteration handles a stream of about
//! 256 KiB (at least 16 frames), so per-call overhead is amortised the way the receive path
//! sees it; throughput is reported in frames (elements) per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlink::protocol::decoder::{Decoded, Decoder};
use ringlink::protocol::frame;

/// Frame body sizes: short frames (≤ 255 B, 2-byte header) and long ones (9-byte header).
const SIZES: [usize; 6] = [8, 64, 255, 1024, 8192, 65536];

/// Read size of the chunked decode: a socket read of this many bytes at a time.
const READ: usize = 4096;

fn frames_for(size: usize) -> usize {
    ((256 << 10) / size.max(1)).max(16)
}

/// `n` single-frame messages of `size` bytes, encoded back to back.
fn stream(size: usize, n: usize) -> Vec<u8> {
    let body = vec![0x5a; size];
    let mut out = Vec::with_capacity(n * (size + frame::MAX_HEADER));
    for _ in 0..n {
        frame::write_frame(&mut out, false, false, &body);
    }
    out
}

/// Decodes `input`, fed `read` bytes at a time; returns the messages completed.
fn decode(input: &[u8], read: usize) -> usize {
    let mut dec = Decoder::new(None);
    let mut messages = 0;
    for mut chunk in input.chunks(read) {
        loop {
            let (n, item) = dec.decode(chunk).expect("valid stream");
            chunk = &chunk[n..];
            match item {
                Some(Decoded::Data { messages: m, .. }) => messages += m,
                Some(Decoded::Body { last: true, .. }) => messages += 1,
                Some(_) => {}
                None if n == 0 => break,
                None => {}
            }
        }
    }
    messages
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for size in SIZES {
        let n = frames_for(size);
        let body = vec![0x5a; size];
        let mut out = Vec::with_capacity(n * (size + frame::MAX_HEADER));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("write_frame", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                for _ in 0..n {
                    frame::write_frame(&mut out, false, false, black_box(&body));
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn decoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for size in SIZES {
        let n = frames_for(size);
        let input = stream(size, n);
        assert_eq!(decode(&input, input.len()), n);
        assert_eq!(decode(&input, READ), n);
        g.throughput(Throughput::Elements(n as u64));
        // The whole stream in one input: complete frames come back as one verbatim run.
        g.bench_with_input(BenchmarkId::new("one_input", size), &input, |b, input| {
            b.iter(|| decode(black_box(input), input.len()))
        });
        // 4 KiB reads: headers and bodies split across inputs, large bodies streamed.
        g.bench_with_input(BenchmarkId::new("4k_reads", size), &input, |b, input| {
            b.iter(|| decode(black_box(input), READ))
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
    targets = encode, decoder
}
criterion_main!(benches);
