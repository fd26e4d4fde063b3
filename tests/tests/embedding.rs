//! What a program embedding ringlink relies on, next to libzmq's behaviour (pyzmq runs the
//! same scenarios): LINGER -1 delivers to a peer that appears after the close, blocking
//! calls return EINTR when a signal arrives, library threads never run signal handlers,
//! LINGER values below -1 are refused, and a host name that does not resolve yet is retried.

use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use ringlink::{Backend, Monitor, MonitorEventKind, PollItem, POLLIN};
use ringlink_tests::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

/// A context on `backend`, with a reactor thread or inline.
fn ctx_mode(backend: Backend, inline: bool) -> Context {
    let ctx = Context::builder()
        .backend(backend)
        .io_threads(if inline { 0 } else { 1 })
        .build()
        .unwrap();
    assert_eq!(ctx.backend(), backend);
    ctx
}

/// Skips events until one matches `pred`.
fn expect_event(m: &Monitor, what: &str, pred: impl Fn(&MonitorEventKind) -> bool) {
    loop {
        let e = m
            .recv(WAIT)
            .expect("monitor recv")
            .unwrap_or_else(|| panic!("no {what} event within 20 s"));
        if pred(&e.kind) {
            return;
        }
    }
}

// ----- LINGER -1 ---------------------------------------------------------------------------

// A PUSH connects where nobody listens, sends, closes; the context's teardown must wait
// (LINGER -1) and the message must reach a PULL that binds afterwards (libzmq does this).
both_backends!(linger_forever_delivers_to_a_late_binder, |backend| {
    for inline in [false, true] {
        let port = free_tcp_port();
        let ep = format!("tcp://127.0.0.1:{port}");
        let (tx, rx) = mpsc::channel();
        let ep2 = ep.clone();
        // The sender's context lives on its own thread (an inline context is driven by its
        // dropping thread).
        let sender = thread::spawn(move || {
            let ctx = ctx_mode(backend, inline);
            let mut push = ctx.socket(SocketType::Push).unwrap();
            let m = push.monitor().unwrap();
            push.connect(&ep2).unwrap();
            push.send(b"late", 0).unwrap();
            drop(push);
            tx.send(m).unwrap();
            drop(ctx);
        });
        let m = rx.recv().unwrap();
        // Still trying after the close: the connection was refused and is retried.
        expect_event(&m, "MONITOR_STOPPED", |k| {
            matches!(k, MonitorEventKind::MonitorStopped)
        });
        expect_event(&m, "CONNECT_RETRIED after the close", |k| {
            matches!(k, MonitorEventKind::ConnectRetried(_))
        });
        assert!(
            !sender.is_finished(),
            "the context terminated with a message undelivered (inline={inline})"
        );
        let rctx = ctx_mode(backend, false);
        let mut pull = socket(&rctx, SocketType::Pull);
        pull.bind(&ep).unwrap();
        assert_eq!(
            recv_parts(&mut pull, "the late message"),
            vec![b"late".to_vec()]
        );
        sender.join().unwrap();
    }
});

// The same two ends with libzmq (pyzmq) on either side.
both_backends!(linger_forever_matches_libzmq, |backend| {
    // pyzmq PUSH, ringlink PULL binding late.
    let ep = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let mut py = PyPeer::spawn_script("lifecycle_peer", &["push-linger", &ep]);
    py.expect("SENT");
    py.expect("TERMINATING");
    let ctx = ctx(backend);
    let mut pull = socket(&ctx, SocketType::Pull);
    pull.bind(&ep).unwrap();
    assert_eq!(
        recv_parts(&mut pull, "pyzmq's late message"),
        vec![b"late".to_vec()]
    );
    py.expect("TERMINATED");
    py.finish();

    // ringlink PUSH, pyzmq PULL binding late.
    let ep = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let sctx = ctx_mode(backend, false);
    let mut push = sctx.socket(SocketType::Push).unwrap();
    let m = push.monitor().unwrap();
    push.connect(&ep).unwrap();
    push.send(b"late", 0).unwrap();
    drop(push);
    let dropper = thread::spawn(move || drop(sctx));
    expect_event(&m, "CONNECT_RETRIED", |k| {
        matches!(k, MonitorEventKind::ConnectRetried(_))
    });
    let mut py = PyPeer::spawn_script("lifecycle_peer", &["late-pull", &ep]);
    assert_eq!(py.expect("GOT ").trim(), "late");
    py.finish();
    dropper.join().unwrap();
});

// ----- signals -----------------------------------------------------------------------------

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// SIGUSR1 with a handler that does nothing and no SA_RESTART (as a program's Ctrl-C
/// handler that sets a flag).
fn install_handler() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask; flags 0 (no
        // SA_RESTART) on purpose.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigusr1 as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
    });
}

/// Runs `call` on a new thread and signals that thread until the call returns (the signal
/// may land before the call blocks: then it is simply sent again). Returns the call's
/// result and how long it took after the first signal was sent.
fn interrupt<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    install_handler();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        call()
    });
    let tid = rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.is_finished() {
        assert!(Instant::now() < deadline, "the call was never interrupted");
        // SAFETY: `tid` is a live thread until it finishes (checked before each signal;
        // the thread is joined below, so its id is not reused meanwhile).
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        // Pacing of the signal sender; the test waits for the call's return.
        thread::sleep(Duration::from_millis(5));
    }
    t.join().unwrap()
}

fn is_eintr<T: std::fmt::Debug>(r: &ringlink::Result<T>) -> bool {
    matches!(r, Err(ringlink::Error::Interrupted))
}

both_backends!(blocking_calls_return_eintr, |backend| {
    for inline in [false, true] {
        let ctx = ctx_mode(backend, inline);
        let what = format!("inline={inline}");
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Pull).unwrap();
            s.bind("tcp://127.0.0.1:*").unwrap();
            s.set_option(SocketOption::RcvTimeo(30_000)).unwrap();
            s.recv(&mut [0u8; 16], 0)
        });
        assert!(is_eintr(&r), "recv ({what}): {r:?}");
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Pull).unwrap();
            s.bind("tcp://127.0.0.1:*").unwrap();
            let (mut buf, mut lens) = (vec![0u8; 1024], vec![0usize; 16]);
            s.recv_batch(&mut buf, &mut lens, 0)
        });
        assert!(is_eintr(&r), "recv_batch ({what}): {r:?}");
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Pull).unwrap();
            s.bind("tcp://127.0.0.1:*").unwrap();
            ringlink::poll(&mut [PollItem::socket(&mut s, POLLIN)], None)
        });
        assert!(is_eintr(&r), "poll ({what}): {r:?}");
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Pull).unwrap();
            s.bind("tcp://127.0.0.1:*").unwrap();
            let mut fds = [0; 2];
            // SAFETY: a valid array of two ints for pipe(2).
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            let r = ringlink::poll(
                &mut [
                    PollItem::socket(&mut s, POLLIN),
                    PollItem::fd(fds[0], POLLIN),
                ],
                None,
            );
            // SAFETY: closing the two descriptors pipe(2) returned.
            unsafe {
                libc::close(fds[0]);
                libc::close(fds[1]);
            }
            r
        });
        assert!(is_eintr(&r), "poll with a raw fd ({what}): {r:?}");
        // A send blocked at the high-water mark (nobody reads).
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Push).unwrap();
            s.set_option(SocketOption::SndHwm(1)).unwrap();
            s.set_option(SocketOption::Linger(0)).unwrap();
            s.connect(&format!("tcp://127.0.0.1:{}", free_tcp_port()))
                .unwrap();
            loop {
                if let Err(e) = s.send(b"x", 0) {
                    break Err::<(), _>(e);
                }
            }
        });
        assert!(is_eintr(&r), "send at HWM ({what}): {r:?}");
        let c = ctx.clone();
        let r = interrupt(move || {
            let mut s = c.socket(SocketType::Pull).unwrap();
            let m = s.monitor().unwrap();
            loop {
                match m.recv(None) {
                    Ok(Some(_)) => continue,
                    other => return other.map(|_| ()),
                }
            }
        });
        assert!(is_eintr(&r), "monitor recv ({what}): {r:?}");
    }
});

// libzmq returns EINTR to pyzmq, whose handler raises: the recv does not wait on.
#[test]
fn libzmq_returns_eintr_too() {
    let mut py = PyPeer::spawn_script("lifecycle_peer", &["eintr"]);
    let secs: f64 = py.expect("INTERRUPTED ").trim().parse().unwrap();
    assert!(secs < 10.0);
    py.finish();
}

/// Signals the library's own threads block (from /proc/self/task/*/status, `SigBlk`).
///
/// Every context in this process is checked, including other tests' contexts. A thread of a
/// context that is being dropped can be read while the kernel releases it: its status then
/// says `Threads: 0` and `SigBlk 0` because the signal state is already gone, not because the
/// thread ran unblocked. Such threads are skipped.
fn blocked_signals_of(prefix: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let released = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_none_or(|v| v.trim() == "0");
        if released {
            continue;
        }
        let blk = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        out.push((comm.trim().to_string(), blk));
    }
    out
}

both_backends!(library_threads_block_signals, |backend| {
    let ctx = Context::builder()
        .backend(backend)
        .io_threads(2)
        .build()
        .unwrap();
    let _s = ctx.socket(SocketType::Pull).unwrap();
    let threads = blocked_signals_of("ringlink-io");
    assert!(threads.len() >= 2, "reactor threads not found: {threads:?}");
    for (name, blk) in threads {
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGALRM,
            libc::SIGUSR1,
            libc::SIGCHLD,
            libc::SIGPIPE,
            libc::SIGHUP,
        ] {
            assert!(
                blk & (1 << (sig - 1)) != 0,
                "{name} does not block signal {sig} (SigBlk {blk:x})"
            );
        }
    }
});

// ----- options and endpoints ----------------------------------------------------------------

both_backends!(linger_below_minus_one_is_refused, |backend| {
    let ctx = ctx(backend);
    let mut s = ctx.socket(SocketType::Push).unwrap();
    for v in [-2, -100, i32::MIN] {
        assert!(
            matches!(
                s.set_option(SocketOption::Linger(v)),
                Err(ringlink::Error::InvalidArgument(_))
            ),
            "LINGER {v} accepted"
        );
    }
    s.set_option(SocketOption::Linger(-1)).unwrap();
});

// A host name that does not resolve is not an error at connect time (libzmq returns 0 and
// keeps retrying); the retries show up as CONNECT_RETRIED.
both_backends!(unresolvable_host_is_retried, |backend| {
    let ctx = ctx(backend);
    let mut s = ctx.socket(SocketType::Dealer).unwrap();
    let m = s.monitor().unwrap();
    s.set_option(SocketOption::ReconnectIvl(20)).unwrap();
    s.connect("tcp://ringlink-no-such-host.invalid:5555")
        .expect("connect returns at once");
    for _ in 0..2 {
        expect_event(&m, "CONNECT_RETRIED", |k| {
            matches!(k, MonitorEventKind::ConnectRetried(_))
        });
    }
    // A resolvable name connects.
    let mut server = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut server);
    let port = endpoint_port(&ep);
    let mut c = socket(&ctx, SocketType::Dealer);
    c.connect(&format!("tcp://localhost:{port}")).unwrap();
    c.send(b"by name", 0).unwrap();
    assert_eq!(recv_parts(&mut server, "via localhost")[1], b"by name");
});
