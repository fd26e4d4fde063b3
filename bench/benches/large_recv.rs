//! Receiving large frames: `recv_msg` (the frame handed over in the memory it was received
//! into) against `recv_bytes` (a copy into a new vector) and `recv` into one reused buffer
//! (a copy, no allocation: what a zmq_recv loop does). One PUSH → PULL connection over
//! tcp://127.0.0.1 per backend and mode; the sender uses `send_shared`, so the receive is
//! what differs between the variants.
//!
//! Paired and interleaved, as docs/benchmarks.md asks of a shared, noisy machine: each pair
//! runs the variants back to back on the same connection, and the ratio per pair is
//! reported with its median over the pairs.
//!
//! `cargo bench -p ringlink-bench --bench large_recv` (`-- <pairs> <frames per run>`;
//! default 9 and 200).

use std::sync::Arc;
use std::time::Instant;

use ringlink::{Backend, Context, Socket, SocketOption, SocketType};

const FRAME: usize = 1 << 20;

struct Link {
    _ctx: Context,
    tx: Socket,
    rx: Socket,
    body: Arc<[u8]>,
    buf: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Msg,
    Bytes,
    IntoBuffer,
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
        let mut rx = ctx.socket(SocketType::Pull)?;
        let mut tx = ctx.socket(SocketType::Push)?;
        rx.bind("tcp://127.0.0.1:*")?;
        let ep = rx.last_endpoint().ok_or(ringlink::Error::NotSupported)?;
        tx.set_option(SocketOption::SndHwm(4))?;
        tx.connect(&ep)?;
        let mut link = Link {
            _ctx: ctx,
            tx,
            rx,
            body: vec![0x5a; FRAME].into(),
            buf: vec![0; FRAME],
        };
        link.run(Variant::Msg, 4)?;
        Ok(link)
    }

    /// Sends and receives `frames` frames, keeping a few in flight; returns the seconds.
    fn run(&mut self, v: Variant, frames: usize) -> Result<f64, ringlink::Error> {
        const AHEAD: usize = 4;
        let start = Instant::now();
        let (mut sent, mut got) = (0, 0);
        while got < frames {
            while sent < frames && sent < got + AHEAD {
                self.tx.send_shared(&self.body, 0)?;
                sent += 1;
            }
            let n = match v {
                Variant::Msg => std::hint::black_box(self.rx.recv_msg(0)?).len(),
                Variant::Bytes => std::hint::black_box(self.rx.recv_bytes(0)?).len(),
                Variant::IntoBuffer => self.rx.recv(&mut self.buf, 0)?,
            };
            assert_eq!(n, FRAME);
            got += 1;
        }
        Ok(start.elapsed().as_secs_f64())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are positional.
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pairs = nums.first().copied().unwrap_or(9);
    let frames = nums.get(1).copied().unwrap_or(200);
    println!(
        "large_recv: {FRAME} B frames, {frames} per run, {pairs} interleaved pairs; GB/s \
         medians and the median of per-pair ratios (recv_msg / other)"
    );
    println!("| backend, mode | recv_msg GB/s | recv_bytes GB/s | recv (reused buffer) GB/s | recv_msg / recv_bytes | recv_msg / recv |");
    println!("|---|---|---|---|---|---|");
    for (mode, inline) in [("threaded", false), ("inline", true)] {
        for backend in [Backend::Uring, Backend::Epoll] {
            let mut link = match Link::open(backend, inline) {
                Ok(l) => l,
                Err(e) => {
                    println!("| {}, {mode} | skipped: {e} | | | | |", backend.name());
                    continue;
                }
            };
            let gbs = |secs: f64| (frames * FRAME) as f64 / secs / 1e9;
            let (mut m, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
            let (mut rb, mut rr) = (Vec::new(), Vec::new());
            for p in 0..pairs {
                // Rotate which variant runs first, so none always follows the same one.
                let order = [Variant::Msg, Variant::Bytes, Variant::IntoBuffer];
                let mut t = [0.0; 3];
                for k in 0..3 {
                    let i = (k + p) % 3;
                    t[i] = link.run(order[i], frames).expect("run");
                }
                m.push(gbs(t[0]));
                b.push(gbs(t[1]));
                r.push(gbs(t[2]));
                rb.push(t[1] / t[0]);
                rr.push(t[2] / t[0]);
            }
            println!(
                "| {}, {mode} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                backend.name(),
                median(m),
                median(b),
                median(r),
                median(rb),
                median(rr)
            );
        }
    }
}
