//! Quick in-process throughput check:
//! `cargo run --release --example thr -- uring|epoll COUNT [FLAGS]`, FLAGS any of
//! `b` (batch API), `i` (inline contexts), `p` (inproc instead of tcp).
use std::time::Instant;

use ringlink::{Backend, Context, SocketOption, SocketType};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = if args.get(1).map(String::as_str) == Some("epoll") {
        Backend::Epoll
    } else {
        Backend::Uring
    };
    let count: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let batch = args.get(3).is_some_and(|a| a.contains('b'));
    let threads = if args.get(3).is_some_and(|a| a.contains('i')) {
        0
    } else {
        1
    };
    let ctx = Context::builder()
        .backend(backend)
        .io_threads(threads)
        .build()
        .unwrap();
    let mut rx = ctx.socket(SocketType::Pair).unwrap();
    rx.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rx.last_endpoint().unwrap();
    let ctx2 = Context::builder()
        .backend(backend)
        .io_threads(threads)
        .build()
        .unwrap();
    let t = std::thread::spawn(move || {
        let mut tx = ctx2.socket(SocketType::Pair).unwrap();
        tx.set_option(SocketOption::Linger(-1)).unwrap();
        tx.connect(&ep).unwrap();
        let msg = [0u8; 64];
        if batch {
            let mut sent = 0;
            while sent < count {
                sent += tx.send_repeat(&msg, (count - sent).min(1024), 0).unwrap();
            }
        } else {
            for _ in 0..count {
                tx.send(&msg, 0).unwrap();
            }
        }
        drop(tx);
    });
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf, 0).unwrap();
    assert_eq!(n, 64);
    let start = Instant::now();
    let mut got = 1;
    if batch {
        let mut big = vec![0u8; 1 << 20];
        let mut lens = vec![0usize; 8192];
        while got < count {
            got += rx.recv_batch(&mut big, &mut lens, 0).unwrap();
        }
    } else {
        rx.set_option(SocketOption::RcvTimeo(2000)).unwrap();
        while got < count {
            if let Err(e) = rx.recv(&mut buf, 0) {
                eprintln!("stuck after {got}: {e}");
                std::process::exit(1);
            }
            got += 1;
        }
    }
    let dt = start.elapsed();
    println!(
        "{:?} {} msgs: {:.2} Mmsg/s",
        backend,
        count,
        (count - 1) as f64 / dt.as_secs_f64() / 1e6
    );
    t.join().unwrap();
}
