//! Classic send/receive in both modes, handle checks, context options and shutdown, socket options, errors and the version.

use super::*;

#[test]
fn classic_send_recv_both_modes() {
    for threads in [1, 0] {
        let t = Setup::new(threads, RL_PAIR, RL_PAIR, None);
        let mut buf = [0u8; 16];
        // SAFETY: live handles, valid buffers.
        unsafe {
            assert_eq!(rl_send(t.client, b"hello".as_ptr().cast(), 5, 0), 5);
            assert_eq!(rl_send_const(t.client, b"const".as_ptr().cast(), 5, 0), 5);
            assert_eq!(rl_recv(t.server, buf.as_mut_ptr().cast(), buf.len(), 0), 5);
            assert_eq!(&buf[..5], b"hello");
            // Truncation: the full size is returned, 2 bytes copied.
            let mut small = [0u8; 2];
            assert_eq!(rl_recv(t.server, small.as_mut_ptr().cast(), 2, 0), 5);
            assert_eq!(&small, b"co");
            // Multipart and RCVMORE.
            assert_eq!(rl_send(t.client, b"a".as_ptr().cast(), 1, RL_SNDMORE), 1);
            assert_eq!(rl_send(t.client, null(), 0, 0), 0);
            assert_eq!(rl_recv(t.server, buf.as_mut_ptr().cast(), 16, 0), 1);
            assert_eq!(get_int(t.server, RL_RCVMORE), 1);
            assert_eq!(rl_recv(t.server, buf.as_mut_ptr().cast(), 16, 0), 0);
            assert_eq!(get_int(t.server, RL_RCVMORE), 0);
            // Nothing queued.
            assert_eq!(
                rl_recv(t.server, buf.as_mut_ptr().cast(), 16, RL_DONTWAIT),
                -1
            );
            assert_eq!(rl_errno(), libc::EAGAIN);
            assert_eq!(rl_flush(t.client), 0);
        }
    }
}

#[test]
fn handles_are_checked() {
    // SAFETY: NULL and closed handles are part of the contract; pointers otherwise valid.
    unsafe {
        assert_eq!(rl_close(null_mut()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_send(null_mut(), null(), 0, 0), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert!(rl_socket(null_mut(), RL_PAIR).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_term(null_mut()), -1);

        let ctx = rl_ctx_new();
        assert!(rl_socket(ctx, 99).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_socket(ctx, -1).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        let s = rl_socket(ctx, RL_DEALER);
        assert!(!s.is_null());
        // Wrong kinds of handle.
        assert_eq!(rl_send(ctx.cast(), null(), 0, 0), -1);
        assert_eq!(rl_errno(), libc::ENOTSOCK);
        assert_eq!(rl_ctx_get(s.cast(), RL_IO_THREADS), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        // Bad arguments.
        assert_eq!(rl_bind(s, null()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_bind(s, c"nope://x".as_ptr()), -1);
        assert_eq!(rl_errno(), libc::EPROTONOSUPPORT);
        assert_eq!(rl_unbind(s, c"tcp://127.0.0.1:1".as_ptr()), -1);
        assert_eq!(rl_errno(), libc::ENOENT);
        assert_eq!(rl_disconnect(s, c"tcp://127.0.0.1:1".as_ptr()), -1);
        assert_eq!(rl_errno(), libc::ENOENT);
        assert_eq!(rl_send(s, null(), 3, 0), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        // Closed socket.
        assert_eq!(rl_close(s), 0);
        assert_eq!(rl_close(s), -1);
        assert_eq!(rl_errno(), libc::ENOTSOCK);
        assert_eq!(rl_send(s, b"x".as_ptr().cast(), 1, 0), -1);
        assert_eq!(rl_errno(), libc::ENOTSOCK);
        assert_eq!(rl_ctx_term(ctx), 0);
        assert_eq!(rl_ctx_term(ctx), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_get(ctx, RL_IO_THREADS), -1);
    }
}

#[test]
fn context_options_and_shutdown() {
    // SAFETY: handles from this test.
    unsafe {
        let ctx = rl_ctx_new();
        assert_eq!(rl_ctx_get(ctx, RL_IO_THREADS), 1);
        assert_eq!(rl_ctx_get(ctx, RL_MSG_T_SIZE), 64);
        assert_eq!(rl_ctx_get(ctx, RL_BACKEND), RL_BACKEND_AUTO);
        assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, -1), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_ctx_set(ctx, 12345, 1), -1);
        assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, 2), 0);
        assert_eq!(rl_ctx_set(ctx, RL_BACKEND, RL_BACKEND_EPOLL), 0);
        assert_eq!(rl_ctx_set(ctx, RL_CTX_IPV6, 1), 0);
        let s = rl_socket(ctx, RL_PAIR);
        assert!(!s.is_null());
        assert_eq!(get_int(s, RL_IPV6), 1);
        assert_eq!(rl_ctx_get(ctx, RL_BACKEND), RL_BACKEND_EPOLL);
        // Fixed once built.
        assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, 1), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_ctx_get(ctx, RL_IO_THREADS), 2);
        // Shutdown: blocking calls fail with ETERM, no new sockets.
        assert_eq!(rl_ctx_shutdown(ctx), 0);
        let mut b = [0u8; 4];
        assert_eq!(rl_recv(s, b.as_mut_ptr().cast(), 4, 0), -1);
        assert_eq!(rl_errno(), RL_ETERM);
        assert!(rl_socket(ctx, RL_PAIR).is_null());
        assert_eq!(rl_errno(), RL_ETERM);
        assert_eq!(rl_close(s), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

#[test]
fn ctx_term_waits_for_sockets_closed_by_other_threads() {
    // SAFETY: the socket moves to the other thread, which alone uses and closes it.
    unsafe {
        let ctx = rl_ctx_new();
        let s = rl_socket(ctx, RL_PAIR) as usize;
        let t = std::thread::spawn(move || {
            let s = s as *mut rl_socket_t;
            let mut b = [0u8; 4];
            let rc = rl_recv(s, b.as_mut_ptr().cast(), 4, 0);
            let e = rl_errno();
            assert_eq!(rl_close(s), 0);
            (rc, e)
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(rl_ctx_term(ctx), 0);
        assert_eq!(t.join().unwrap(), (-1, RL_ETERM));
    }
}

#[test]
fn socket_options_round_trip() {
    // SAFETY: handles from this test; valid option buffers.
    unsafe {
        let ctx = rl_ctx_new();
        let r = rl_socket(ctx, RL_ROUTER);
        let d = rl_socket(ctx, RL_DEALER);
        for (opt, v) in [
            (RL_SNDHWM, 7),
            (RL_RCVHWM, 9),
            (RL_LINGER, 0),
            (RL_RCVTIMEO, 250),
            (RL_SNDTIMEO, 300),
            (RL_ROUTER_MANDATORY, 1),
            (RL_ROUTER_HANDOVER, 1),
            (RL_PROBE_ROUTER, 1),
            (RL_RECONNECT_IVL, 50),
            (RL_RECONNECT_IVL_MAX, 500),
            (RL_IMMEDIATE, 1),
            (RL_HEARTBEAT_IVL, 1000),
            (RL_HEARTBEAT_TTL, 2000),
            (RL_HEARTBEAT_TIMEOUT, 3000),
            (RL_HANDSHAKE_IVL, 4000),
            (RL_SNDBUF, 65536),
            (RL_RCVBUF, 131072),
            (RL_IPV6, 1),
            (RL_BACKLOG, 50),
        ] {
            assert_eq!(set_int(r, opt, v), 0, "set {opt}");
            assert_eq!(get_int(r, opt), v, "get {opt}");
        }
        assert_eq!(get_int(r, RL_TYPE), RL_ROUTER);
        assert_eq!(get_int(d, RL_TYPE), RL_DEALER);
        assert_eq!(set_int(d, RL_ROUTER_MANDATORY, 1), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(set_int(r, RL_TYPE, 1), -1);
        assert_eq!(set_int(r, RL_SNDHWM, -1), -1);
        assert_eq!(set_int(r, 9999, 1), -1);
        // Wrong length for an int option.
        let v: i64 = 5;
        assert_eq!(
            rl_setsockopt(r, RL_SNDHWM, (&v as *const i64).cast(), 8),
            -1
        );
        assert_eq!(rl_errno(), libc::EINVAL);
        // int64 MAXMSGSIZE.
        assert_eq!(
            rl_setsockopt(r, RL_MAXMSGSIZE, (&v as *const i64).cast(), 8),
            0
        );
        let (mut out, mut len) = (0i64, 8usize);
        assert_eq!(
            rl_getsockopt(r, RL_MAXMSGSIZE, (&mut out as *mut i64).cast(), &mut len),
            0
        );
        assert_eq!((out, len), (5, 8));
        // Binary routing id.
        assert_eq!(
            rl_setsockopt(d, RL_ROUTING_ID, b"abc".as_ptr().cast(), 3),
            0
        );
        let mut id = [0u8; 255];
        let mut len = id.len();
        assert_eq!(
            rl_getsockopt(d, RL_ROUTING_ID, id.as_mut_ptr().cast(), &mut len),
            0
        );
        assert_eq!(&id[..len], b"abc");
        let mut len = 2;
        assert_eq!(
            rl_getsockopt(d, RL_ROUTING_ID, id.as_mut_ptr().cast(), &mut len),
            -1
        );
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(
            rl_setsockopt(r, RL_CONNECT_ROUTING_ID, b"peer".as_ptr().cast(), 4),
            0
        );
        let mut len = id.len();
        assert_eq!(
            rl_getsockopt(r, RL_CONNECT_ROUTING_ID, id.as_mut_ptr().cast(), &mut len),
            -1
        );
        // LAST_ENDPOINT before bind: "".
        assert_eq!(endpoint(r).to_bytes(), b"");
        for s in [r, d] {
            assert_eq!(rl_close(s), 0);
        }
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

#[test]
fn errors_and_version() {
    // SAFETY: valid out-pointers (or NULL, allowed).
    unsafe {
        let (mut a, mut b, mut c) = (-1, -1, -1);
        rl_version(&mut a, &mut b, &mut c);
        assert_eq!(
            (a, b, c),
            (RL_VERSION_MAJOR, RL_VERSION_MINOR, RL_VERSION_PATCH)
        );
        rl_version(null_mut(), null_mut(), null_mut());
        let e = CStr::from_ptr(rl_strerror(RL_ETERM)).to_str().unwrap();
        assert_eq!(e, "Context was terminated");
        let e = CStr::from_ptr(rl_strerror(libc::EAGAIN)).to_str().unwrap();
        assert!(e.contains("unavailable"), "{e}");
        assert_eq!(rl_strerror(libc::EAGAIN), rl_strerror(libc::EAGAIN));
        // errno mirrors rl_errno.
        assert_eq!(rl_close(null_mut()), -1);
        assert_eq!(*libc::__errno_location(), libc::EFAULT);
    }
}
