//! Descriptor release: a socket's descriptors are closed by the time its close returns
//! (LINGER 0, or nothing left to deliver), so a program near its descriptor limit can close
//! and re-create sockets as fast as with libzmq. One test in its own binary: it lowers
//! RLIMIT_NOFILE and counts this process's open descriptors, which parallel tests would
//! disturb.

use ringlink_tests::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn set_fd_limit(soft: u64) {
    // SAFETY: getrlimit/setrlimit on a valid rlimit struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
}

/// One round: ROUTER bind, DEALER connect, a round trip, close both (default LINGER -1,
/// nothing left queued). Returns the error of a failed round.
fn round(ctx: &Context) -> Result<(), ringlink::Error> {
    let mut r = ctx.socket(SocketType::Router)?;
    let mut d = ctx.socket(SocketType::Dealer)?;
    for s in [&mut r, &mut d] {
        s.set_option(SocketOption::RcvTimeo(IO_TIMEOUT_MS))?;
    }
    r.bind("tcp://127.0.0.1:*")?;
    d.connect(&r.last_endpoint().expect("bound"))?;
    d.send(b"x", 0)?;
    let msg = r.recv_multipart(0)?;
    r.send_multipart(&[&msg[0][..], b"y"], 0)?;
    d.recv_bytes(0)?;
    Ok(())
}

#[test]
fn closed_sockets_release_descriptors_at_once() {
    const ROUNDS: usize = 1000;
    set_fd_limit(1024);
    for backend in backends() {
        for inline in [false, true] {
            let ctx = Context::builder()
                .backend(backend)
                .io_threads(if inline { 0 } else { 1 })
                .build()
                .unwrap();
            let base = open_fds();
            let mut failures = Vec::new();
            for i in 0..ROUNDS {
                if let Err(e) = round(&ctx) {
                    failures.push((i, e.to_string()));
                }
                let now = open_fds();
                assert!(
                    now <= base,
                    "{backend:?} inline={inline}: round {i} left {} descriptors open",
                    now - base
                );
            }
            assert!(
                failures.is_empty(),
                "{backend:?} inline={inline}: {} of {ROUNDS} rounds failed, first: {:?}",
                failures.len(),
                failures[0]
            );
        }
    }
    // libzmq (pyzmq) under the same limit, for comparison: no failures either.
    let mut py = PyPeer::spawn_script("lifecycle_peer", &["fd-rounds", &ROUNDS.to_string()]);
    assert_eq!(py.expect("FAILURES ").trim(), "0", "libzmq failed rounds");
    py.finish();
}
