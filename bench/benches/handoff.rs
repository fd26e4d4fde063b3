//! Hand-off per batch size, through the public API only: one PAIR → PAIR connection over
//! tcp://127.0.0.1 inside one context; an iteration sends `n` 64 B messages with one
//! `send_batch` and receives them all with `recv_batch`.
//!
//! * `inline/<backend>`: `io_threads(0)`, one thread does everything (pipe writes, the
//!   ring / epoll, kernel loopback, pipe reads): the cost of the path without thread
//!   hand-offs.
//! * `threaded/<backend>`: one reactor thread; each batch crosses application → reactor →
//!   kernel → reactor → application, so this is the proxy for the cross-thread queue
//!   hand-off per batch size (the pipe's own chunk recycling is measured by `pool`).
//!
//! `cargo bench -p ringlink-bench --bench handoff`. A backend that cannot start (e.g. no
//! io_uring) is skipped with a note.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlink::{Backend, Context, Socket, SocketOption, SocketType};

const SIZE: usize = 64;
const BATCHES: [usize; 5] = [1, 8, 64, 256, 1024];
/// Above every batch: a batch never waits for the HWM.
const HWM: i32 = 100_000;

struct Link {
    // Kept alive for the sockets.
    _ctx: Context,
    tx: Socket,
    rx: Socket,
    buf: Vec<u8>,
    lens: Vec<usize>,
}

impl Link {
    fn open(backend: Backend, inline: bool) -> Result<Link, ringlink::Error> {
        let ctx = Context::builder()
            .backend(backend)
            .io_threads(if inline { 0 } else { 1 })
            .build()?;
        if ctx.backend() != backend {
            return Err(ringlink::Error::NotSupported);
        }
        let mut rx = ctx.socket(SocketType::Pair)?;
        let mut tx = ctx.socket(SocketType::Pair)?;
        for s in [&mut rx, &mut tx] {
            s.set_option(SocketOption::SndHwm(HWM))?;
            s.set_option(SocketOption::RcvHwm(HWM))?;
        }
        rx.bind("tcp://127.0.0.1:*")?;
        let ep = rx.last_endpoint().ok_or(ringlink::Error::NotSupported)?;
        tx.connect(&ep)?;
        let mut link = Link {
            _ctx: ctx,
            tx,
            rx,
            buf: vec![0; 1 << 20],
            lens: vec![0; 1 << 14],
        };
        // Connection and handshake happen here, outside the measurement.
        link.round(&vec![vec![0u8; SIZE]; 16])?;
        Ok(link)
    }

    /// Sends `msgs` as one batch and receives them all.
    fn round(&mut self, msgs: &[Vec<u8>]) -> Result<usize, ringlink::Error> {
        let mut sent = 0;
        while sent < msgs.len() {
            sent += self.tx.send_batch(&msgs[sent..], 0)?;
        }
        let mut got = 0;
        while got < msgs.len() {
            got += self.rx.recv_batch(&mut self.buf, &mut self.lens, 0)?;
        }
        Ok(got)
    }
}

fn handoff(c: &mut Criterion) {
    for (mode, inline) in [("inline", true), ("threaded", false)] {
        for backend in [Backend::Uring, Backend::Epoll] {
            let mut link = match Link::open(backend, inline) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("skipping {mode}/{}: {e}", backend.name());
                    continue;
                }
            };
            let mut g = c.benchmark_group(format!("handoff/{mode}/{}", backend.name()));
            for n in BATCHES {
                let msgs = vec![vec![0x5au8; SIZE]; n];
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(BenchmarkId::new("send_batch+recv_batch", n), &n, |b, _| {
                    b.iter(|| black_box(link.round(&msgs).expect("round trip")))
                });
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = handoff
}
criterion_main!(benches);
