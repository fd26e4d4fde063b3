//! One thread per socket at a time: concurrent use fails with EBUSY.

use super::*;

/// Issue 16 item 7d: two threads receiving from one socket used to lose and reorder messages
/// (and once double-freed). Now every call either works or fails with EBUSY (or EAGAIN at
/// the receive timeout): each message arrives exactly once, in order within each thread, and
/// of two threads closing the socket exactly one succeeds.
#[test]
fn concurrent_socket_use_fails_with_ebusy() {
    const N: u32 = 20_000;
    for threads in [1, 0] {
        let t = Setup::new(threads, RL_PAIR, RL_PAIR, None);
        assert_eq!(set_int(t.server, RL_RCVTIMEO, 100), 0);
        assert_eq!(set_int(t.server, RL_RCVHWM, 0), 0);
        assert_eq!(set_int(t.client, RL_SNDHWM, 0), 0);
        for i in 0..N {
            // SAFETY: live socket, used by this thread only.
            let rc = unsafe { rl_send(t.client, i.to_le_bytes().as_ptr().cast(), 4, 0) };
            assert_eq!(rc, 4);
        }
        // SAFETY: live socket, used by this thread only.
        assert_eq!(unsafe { rl_flush(t.client) }, 0);
        let taken = AtomicUsize::new(0);
        let busy = AtomicUsize::new(0);
        let closed = AtomicUsize::new(0);
        let server = t.server as usize;
        let results: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|w| {
                    let (taken, busy, closed) = (&taken, &busy, &closed);
                    scope.spawn(move || hammer(server as *mut rl_socket_t, w, taken, busy, closed))
                })
                .collect();
            workers.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u32> = results.iter().flatten().copied().collect();
        for r in &results {
            assert!(
                r.windows(2).all(|w| w[0] < w[1]),
                "reordered within a thread"
            );
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (0..N).collect::<Vec<_>>(),
            "lost or duplicated messages"
        );
        assert_eq!(closed.load(Ordering::Relaxed), 1);
        eprintln!(
            "io threads {threads}: {} EBUSY of the two threads' calls",
            busy.load(Ordering::Relaxed)
        );
        // The server is closed: finish the rest of the set-up by hand.
        // SAFETY: live handles.
        unsafe {
            assert_eq!(rl_close(t.client), 0);
            assert_eq!(rl_ctx_term(t.ctx), 0);
        }
        std::mem::forget(t);
    }
}

/// One of the two threads of `concurrent_socket_use_fails_with_ebusy`: receive with the three
/// receive calls in turn until N messages were taken in all, then close the socket.
fn hammer(
    s: *mut rl_socket_t,
    w: usize,
    taken: &AtomicUsize,
    busy: &AtomicUsize,
    closed: &AtomicUsize,
) -> Vec<u32> {
    const N: usize = 20_000;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let mut lens = [0usize; 8];
    let mut round = w;
    let check = |rc: c_int, busy: &AtomicUsize| -> bool {
        if rc >= 0 {
            return true;
        }
        match rl_errno() {
            libc::EBUSY => {
                busy.fetch_add(1, Ordering::Relaxed);
            }
            libc::EAGAIN => {}
            // The other thread took the last message and closed the socket in between this
            // thread's check of `taken` and its call.
            libc::ENOTSOCK => assert!(taken.load(Ordering::Acquire) >= N),
            e => panic!("unexpected errno {e}"),
        }
        false
    };
    // SAFETY: the socket is live until one of the threads closes it below; every call on it
    // is checked for EBUSY by the library.
    unsafe {
        while taken.load(Ordering::Acquire) < N {
            round += 1;
            match round % 4 {
                0 => {
                    let rc = rl_recv(s, buf.as_mut_ptr().cast(), buf.len(), 0);
                    if check(rc, busy) {
                        assert_eq!(rc, 4);
                        got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
                        taken.fetch_add(1, Ordering::Release);
                    }
                }
                1 => {
                    let mut m = rl_msg_t { _opaque: [0; 8] };
                    assert_eq!(rl_msg_init(&mut m), 0);
                    let rc = rl_msg_recv(&mut m, s, 0);
                    if check(rc, busy) {
                        assert_eq!(rc, 4);
                        let d = std::slice::from_raw_parts(rl_msg_data(&mut m) as *const u8, 4);
                        got.push(u32::from_le_bytes(d.try_into().unwrap()));
                        taken.fetch_add(1, Ordering::Release);
                    }
                    assert_eq!(rl_msg_close(&mut m), 0);
                }
                2 => {
                    let rc = rl_recv_batch(
                        s,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        lens.as_mut_ptr(),
                        lens.len(),
                        null_mut(),
                        0,
                    );
                    if check(rc, busy) {
                        for (i, l) in lens[..rc as usize].iter().enumerate() {
                            assert_eq!(*l, 4);
                            let b = &buf[4 * i..4 * i + 4];
                            got.push(u32::from_le_bytes(b.try_into().unwrap()));
                        }
                        taken.fetch_add(rc as usize, Ordering::Release);
                    }
                }
                _ => {
                    let mut item = rl_pollitem_t {
                        socket: s.cast(),
                        fd: -1,
                        events: RL_POLLIN,
                        revents: 0,
                    };
                    check(rl_poll(&mut item, 1, 0), busy);
                    let mut v: c_int = 0;
                    let mut len = 4usize;
                    let p = &mut v as *mut c_int as *mut c_void;
                    check(rl_getsockopt(s, RL_RCVMORE, p, &mut len), busy);
                }
            }
        }
        loop {
            match rl_close(s) {
                0 => {
                    closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                _ if rl_errno() == libc::ENOTSOCK => break,
                _ => {
                    assert_eq!(rl_errno(), libc::EBUSY);
                    busy.fetch_add(1, Ordering::Relaxed);
                    let mut len = 4usize;
                    let mut v: c_int = 0;
                    let p = &mut v as *mut c_int as *mut c_void;
                    let rc = rl_getsockopt(s, RL_TYPE, p, &mut len);
                    assert!(rc == 0 || matches!(rl_errno(), libc::EBUSY | libc::ENOTSOCK));
                }
            }
        }
    }
    got
}

/// A thread blocked in a call holds the socket: `rl_close` from another thread fails with
/// EBUSY (the socket stays usable) until the call returns.
#[test]
fn close_while_another_thread_is_inside_fails_with_ebusy() {
    let t = Setup::new(1, RL_PAIR, RL_PAIR, None);
    assert_eq!(set_int(t.server, RL_RCVTIMEO, -1), 0);
    let server = t.server as usize;
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        loop {
            // SAFETY: live socket; the main thread's calls meanwhile are refused with EBUSY.
            let rc = unsafe { rl_recv(server as *mut rl_socket_t, buf.as_mut_ptr().cast(), 8, 0) };
            // EBUSY while the main thread is inside its rl_getsockopt probe.
            if rc != -1 || rl_errno() != libc::EBUSY {
                return (rc, buf);
            }
            std::thread::yield_now();
        }
    });
    // SAFETY: live handles; the server's calls here are meant to meet the receiver.
    unsafe {
        // Wait (on the receiver entering its call, not on time) until the socket is held.
        loop {
            let mut v: c_int = 0;
            let mut len = 4usize;
            let p = &mut v as *mut c_int as *mut c_void;
            if rl_getsockopt(t.server, RL_TYPE, p, &mut len) == -1 {
                assert_eq!(rl_errno(), libc::EBUSY);
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(rl_close(t.server), -1);
        assert_eq!(rl_errno(), libc::EBUSY);
        assert_eq!(rl_send(t.server, b"x".as_ptr().cast(), 1, RL_DONTWAIT), -1);
        assert_eq!(rl_errno(), libc::EBUSY);
        assert!(rl_socket_monitor(t.server, RL_EVENT_ALL).is_null());
        assert_eq!(rl_errno(), libc::EBUSY);
        assert_eq!(rl_send(t.client, b"wake".as_ptr().cast(), 4, 0), 4);
    }
    let (rc, buf) = receiver.join().unwrap();
    assert_eq!((rc, &buf[..4]), (4, &b"wake"[..]));
    // Free again: Setup's drop closes it.
    assert_eq!(get_int(t.server, RL_TYPE), RL_PAIR);
}
