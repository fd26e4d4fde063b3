//! Context lifecycle: shutdown wakes blocked calls with `Terminated`; dropping everything
//! releases every thread and file descriptor (counted in /proc/self), on both backends.
//!
//! These tests count process-wide resources, so they run serially in this file's own
//! process (one #[test] that runs the cases one after another).

use std::time::Duration;

use ringlink_tests::*;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once every joined thread has left `/proc/self/task`. `join` returns when
/// the kernel clears the thread's tid, which is before the task is reaped and unlisted, so a
/// count taken right after a context joined its reactors can still include them (seen under
/// ThreadSanitizer, which widens that window). The kernel gives no event for the reaping:
/// wait for the count to reach `at_most` (generous deadline), then return it.
fn threads_settled(at_most: usize, what: &str) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = threads();
        if n <= at_most {
            return n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {n} threads, expected at most {at_most}"
        );
        std::thread::yield_now();
    }
}

fn busy_context(backend: Backend, io_threads: usize) {
    let ctx = Context::builder()
        .backend(backend)
        .io_threads(io_threads)
        .build()
        .unwrap();
    let mut server = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut server);
    let mut clients: Vec<Socket> = (0..20)
        .map(|i| {
            let mut d = socket(&ctx, SocketType::Dealer);
            set_opt(
                &mut d,
                SocketOption::RoutingId(format!("c{i}").into_bytes()),
            );
            connect(&mut d, &ep);
            d.send(b"hi", 0).unwrap();
            d
        })
        .collect();
    for _ in 0..20 {
        let m = recv_parts(&mut server, "hello");
        server.send_multipart(&[&m[0][..], b"back"], 0).unwrap();
    }
    for c in clients.iter_mut() {
        assert_eq!(recv_parts(c, "reply"), vec![b"back".to_vec()]);
    }
    let mut ipc = socket(&ctx, SocketType::Pair);
    let addr = BindAddr::new(Transport::Ipc, "life");
    bind(&mut ipc, &addr);
}

#[test]
fn no_thread_or_fd_leaks_and_shutdown_wakes_blocked_calls() {
    // Before any context: the baseline every count below settles back to.
    let base = threads();
    for backend in backends() {
        // Warm up lazily initialised process state (std, logging) before counting; the
        // count excludes the warm-up's own (joined) reactor and the previous backend's.
        busy_context(backend, 1);
        let (f0, t0) = (fds(), threads_settled(base, "warm-up"));
        for io_threads in [1, 2, 0] {
            busy_context(backend, io_threads);
        }
        assert_eq!(fds(), f0, "{}: file descriptors leaked", backend.name());
        let name = backend.name();
        assert_eq!(threads_settled(t0, name), t0, "{name}: threads leaked");

        // shutdown(): a recv blocked in another thread returns Terminated, and new calls too.
        let ctx = Context::builder().backend(backend).build().unwrap();
        let mut s = ctx.socket(SocketType::Pair).unwrap();
        s.set_option(SocketOption::Linger(0)).unwrap();
        bind_tcp(&mut s);
        let waiter = std::thread::spawn(move || {
            let r = s.recv_bytes(0);
            (r, s)
        });
        // Give it a moment to block; the outcome is the same if shutdown comes first.
        std::thread::sleep(Duration::from_millis(50));
        ctx.shutdown();
        let (r, mut s) = waiter.join().unwrap();
        assert!(
            matches!(r, Err(Error::Terminated)),
            "{}: got {r:?}",
            backend.name()
        );
        assert!(matches!(s.send(b"x", 0), Err(Error::Terminated)));
        assert!(matches!(
            ctx.socket(SocketType::Pair),
            Err(Error::Terminated)
        ));
    }
}
