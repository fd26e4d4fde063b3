//! The C ABI called from Rust: every extern function, the error contract and the batch
//! calls' edge cases. (Unit tests rather than integration tests: the crate builds no rlib,
//! which would collide with the engine's `libringlink.rlib`.)

use std::ffi::{c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::*;

fn set_int(s: *mut rl_socket_t, opt: c_int, v: c_int) -> c_int {
    // SAFETY: `s` is a live socket in these tests; the value is a local int.
    unsafe { rl_setsockopt(s, opt, &v as *const c_int as *const c_void, 4) }
}

fn get_int(s: *mut rl_socket_t, opt: c_int) -> c_int {
    let mut v: c_int = -12345;
    let mut len = 4usize;
    // SAFETY: valid out-pointers.
    let rc = unsafe { rl_getsockopt(s, opt, &mut v as *mut c_int as *mut c_void, &mut len) };
    assert_eq!((rc, len), (0, 4), "getsockopt {opt}: errno {}", rl_errno());
    v
}

fn endpoint(s: *mut rl_socket_t) -> std::ffi::CString {
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // SAFETY: valid buffer and length.
    let rc = unsafe { rl_getsockopt(s, RL_LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len) };
    assert_eq!(rc, 0);
    CStr::from_bytes_with_nul(&buf[..len]).unwrap().to_owned()
}

/// A context and a connected pair of sockets of the given types (server binds).
struct Setup {
    ctx: *mut rl_ctx_t,
    server: *mut rl_socket_t,
    client: *mut rl_socket_t,
}

impl Setup {
    fn new(
        io_threads: c_int,
        server_ty: c_int,
        client_ty: c_int,
        client_id: Option<&[u8]>,
    ) -> Setup {
        // SAFETY: every call gets handles created here and valid pointers.
        unsafe {
            let ctx = rl_ctx_new();
            assert!(!ctx.is_null());
            assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, io_threads), 0);
            let server = rl_socket(ctx, server_ty);
            let client = rl_socket(ctx, client_ty);
            assert!(!server.is_null() && !client.is_null());
            for s in [server, client] {
                assert_eq!(set_int(s, RL_RCVTIMEO, 10_000), 0);
                assert_eq!(set_int(s, RL_LINGER, 0), 0);
            }
            if let Some(id) = client_id {
                assert_eq!(
                    rl_setsockopt(client, RL_ROUTING_ID, id.as_ptr().cast(), id.len()),
                    0
                );
            }
            assert_eq!(rl_bind(server, c"tcp://127.0.0.1:*".as_ptr()), 0);
            let ep = endpoint(server);
            assert!(ep.to_str().unwrap().starts_with("tcp://127.0.0.1:"));
            assert_eq!(rl_connect(client, ep.as_ptr()), 0);
            Setup {
                ctx,
                server,
                client,
            }
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // SAFETY: the handles are live until here.
        unsafe {
            assert_eq!(rl_close(self.server), 0);
            assert_eq!(rl_close(self.client), 0);
            assert_eq!(rl_ctx_term(self.ctx), 0);
        }
    }
}

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

static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn free_box(data: *mut c_void, hint: *mut c_void) {
    assert_eq!(hint as usize, 0x1234);
    // SAFETY: `data` is the Box<[u8; 5]> leaked in the test below.
    drop(unsafe { Box::from_raw(data as *mut [u8; 5]) });
    FREED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn messages() {
    let t = Setup::new(1, RL_PAIR, RL_PAIR, None);
    // SAFETY: messages are stack values initialised before use; live handles.
    unsafe {
        let mut a = rl_msg_t { _opaque: [0; 8] };
        let mut b = rl_msg_t { _opaque: [0; 8] };
        // Not initialised.
        assert_eq!(rl_msg_size(&a), 0);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_msg_close(&mut a), -1);
        assert_eq!(rl_msg_init(null_mut()), -1);

        let data = Box::into_raw(Box::new(*b"zero!"));
        assert_eq!(
            rl_msg_init_data(
                &mut a,
                data.cast(),
                5,
                Some(free_box),
                0x1234 as *mut c_void
            ),
            0
        );
        assert_eq!(rl_msg_init(&mut b), 0);
        assert_eq!(rl_msg_size(&b), 0);
        assert!(!rl_msg_data(&mut b).is_null());
        assert_eq!(rl_msg_copy(&mut b, &mut a), 0);
        assert_eq!(rl_msg_data(&mut b), data.cast());
        assert_eq!(rl_msg_close(&mut a), 0);
        assert_eq!(FREED.load(Ordering::SeqCst), 0, "still referenced by b");
        assert_eq!(rl_msg_init(&mut a), 0);
        assert_eq!(rl_msg_move(&mut a, &mut b), 0);
        assert_eq!(rl_msg_size(&b), 0);
        assert_eq!(rl_msg_size(&a), 5);
        // Sending releases the data (the engine copied it).
        assert_eq!(rl_msg_send(&mut a, t.client, RL_SNDMORE), 5);
        assert_eq!(FREED.load(Ordering::SeqCst), 1);
        assert_eq!(rl_msg_size(&a), 0);
        assert_eq!(rl_msg_close(&mut a), 0);

        assert_eq!(rl_msg_init_size(&mut a, 3), 0);
        std::ptr::copy_nonoverlapping(b"end".as_ptr(), rl_msg_data(&mut a).cast(), 3);
        let mut c = rl_msg_t { _opaque: [0; 8] };
        assert_eq!(rl_msg_init(&mut c), 0);
        assert_eq!(rl_msg_copy(&mut c, &mut a), 0); // owned data becomes shared
        assert_eq!(rl_msg_send(&mut a, t.client, 0), 3);
        assert_eq!(rl_msg_size(&c), 3);
        assert_eq!(rl_msg_close(&mut c), 0);

        assert_eq!(rl_msg_recv(&mut b, t.server, 0), 5);
        assert_eq!(
            std::slice::from_raw_parts(rl_msg_data(&mut b) as *const u8, 5),
            b"zero!"
        );
        assert_eq!(rl_msg_more(&b), 1);
        assert_eq!(rl_msg_get(&b, RL_MORE), 1);
        assert_eq!(rl_msg_get(&b, 77), -1);
        assert_eq!(rl_msg_recv(&mut b, t.server, 0), 3);
        assert_eq!(
            std::slice::from_raw_parts(rl_msg_data(&mut b) as *const u8, 3),
            b"end"
        );
        assert_eq!(rl_msg_more(&b), 0);
        assert_eq!(rl_msg_recv(&mut b, t.server, RL_DONTWAIT), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);
        assert_eq!(rl_msg_size(&b), 3, "unchanged after a failed receive");
        assert_eq!(rl_msg_close(&mut b), 0);
        assert_eq!(rl_msg_close(&mut a), 0);
    }
}

#[test]
fn batch_edges() {
    for threads in [1, 0] {
        let t = Setup::new(threads, RL_PAIR, RL_PAIR, None);
        let mut buf = [0u8; 64];
        let mut lens = [0usize; 8];
        let mut needed = 0usize;
        // SAFETY: live handles, buffers of the sizes passed.
        unsafe {
            // Empty queue.
            assert_eq!(
                rl_drain(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    8,
                    null_mut()
                ),
                0
            );
            let rc = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                64,
                lens.as_mut_ptr(),
                8,
                null_mut(),
                RL_DONTWAIT,
            );
            assert_eq!((rc, rl_errno()), (-1, libc::EAGAIN));
            assert_eq!(
                rl_recv_batch(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    0,
                    null_mut(),
                    0
                ),
                -1
            );
            assert_eq!(rl_errno(), libc::EINVAL);

            // Exactly full: three 10-byte messages into 30 bytes.
            let msgs: Vec<[u8; 10]> = (0..3u8).map(|i| [b'a' + i; 10]).collect();
            let iov: Vec<rl_iovec_t> = msgs
                .iter()
                .map(|m| rl_iovec_t {
                    data: m.as_ptr().cast(),
                    len: 10,
                })
                .collect();
            assert_eq!(rl_send_batch(t.client, iov.as_ptr(), 3, 0), 3);
            let mut got = Vec::new();
            while got.len() < 3 {
                let n = rl_recv_batch(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    30,
                    lens.as_mut_ptr(),
                    8,
                    null_mut(),
                    0,
                );
                assert!(n >= 1, "errno {}", rl_errno());
                let mut off = 0;
                for &l in &lens[..n as usize] {
                    got.push(buf[off..off + l].to_vec());
                    off += l;
                }
            }
            assert_eq!(got, msgs.iter().map(|m| m.to_vec()).collect::<Vec<_>>());

            // Too large for the whole buffer: EMSGSIZE, needed, not lost.
            assert_eq!(
                rl_send_repeat(t.client, [7u8; 40].as_ptr().cast(), 40, 2, 0),
                2
            );
            let rc = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                39,
                lens.as_mut_ptr(),
                8,
                &mut needed,
                0,
            );
            assert_eq!((rc, rl_errno(), needed), (-1, libc::EMSGSIZE, 40));
            // Fits once; the second does not fit the rest (64 - 40) and stays queued.
            let n = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                64,
                lens.as_mut_ptr(),
                8,
                &mut needed,
                0,
            );
            assert_eq!((n, lens[0]), (1, 40));
            assert!(buf[..40].iter().all(|&b| b == 7));
            let n = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                40,
                lens.as_mut_ptr(),
                1,
                null_mut(),
                0,
            );
            assert_eq!((n, lens[0]), (1, 40));

            // Multipart: parts per message.
            for parts in [&[&b"x"[..], b"yy", b"zzz"][..], &[b"one"], &[b"p", b""]] {
                for (i, p) in parts.iter().enumerate() {
                    let more = if i + 1 < parts.len() { RL_SNDMORE } else { 0 };
                    assert_eq!(
                        rl_send(t.client, p.as_ptr().cast(), p.len(), more),
                        p.len() as c_int
                    );
                }
            }
            let mut counts = [0usize; 8];
            let mut all_lens = Vec::new();
            let mut all_counts = Vec::new();
            let mut bytes = Vec::new();
            while all_counts.len() < 3 {
                let n = rl_recv_batch_parts(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    counts.as_mut_ptr(),
                    8,
                    null_mut(),
                    0,
                );
                assert!(n >= 1);
                let frames: usize = counts[..n as usize].iter().sum();
                all_counts.extend_from_slice(&counts[..n as usize]);
                all_lens.extend_from_slice(&lens[..frames]);
                bytes.extend_from_slice(&buf[..lens[..frames].iter().sum::<usize>()]);
            }
            assert_eq!(all_counts, [3, 1, 2]);
            assert_eq!(all_lens, [1, 2, 3, 3, 1, 0]);
            assert_eq!(bytes, b"xyyzzzonep");
            assert_eq!(
                rl_drain_parts(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    counts.as_mut_ptr(),
                    8,
                    null_mut()
                ),
                0
            );
            // Batch send rejects SNDMORE; empty batch is 0.
            assert_eq!(rl_send_batch(t.client, iov.as_ptr(), 3, RL_SNDMORE), -1);
            assert_eq!(rl_errno(), libc::EINVAL);
            assert_eq!(rl_send_batch(t.client, null(), 0, 0), 0);
            assert_eq!(rl_send_batch(t.client, null(), 1, 0), -1);
            assert_eq!(rl_errno(), libc::EFAULT);
        }
    }
}

#[test]
fn router_batches() {
    let t = Setup::new(1, RL_ROUTER, RL_DEALER, Some(b"client-1"));
    let mut buf = [0u8; 256];
    let mut lens = [0usize; 16];
    let mut ids = vec![0u8; 16 * 255];
    let mut id_lens = [0usize; 16];
    // SAFETY: live handles, buffers of the sizes passed.
    unsafe {
        assert_eq!(
            rl_send_repeat(t.client, b"ping".as_ptr().cast(), 4, 5, 0),
            5
        );
        assert_eq!(rl_send_routed(t.client, null(), null(), 0, 0), 0);
        let mut got = 0;
        while got < 5 {
            let n = rl_recv_batch_routed(
                t.server,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                ids.as_mut_ptr().cast(),
                ids.len(),
                id_lens.as_mut_ptr(),
                16,
                null_mut(),
                0,
            );
            assert!(n >= 1, "errno {}", rl_errno());
            let (mut off, mut idoff) = (0, 0);
            for j in 0..n as usize {
                assert_eq!(&ids[idoff..idoff + id_lens[j]], b"client-1");
                assert_eq!(&buf[off..off + lens[j]], b"ping");
                off += lens[j];
                idoff += id_lens[j];
            }
            got += n;
        }
        assert_eq!(got, 5);
        assert_eq!(
            rl_drain_routed(
                t.server,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                ids.as_mut_ptr().cast(),
                ids.len(),
                id_lens.as_mut_ptr(),
                16,
                null_mut()
            ),
            0
        );
        // ids buffer too small for one id.
        let rc = rl_recv_batch_routed(
            t.server,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            ids.as_mut_ptr().cast(),
            254,
            id_lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((rc, rl_errno()), (-1, libc::EINVAL));
        // Routed form on a DEALER.
        let rc = rl_recv_batch_routed(
            t.client,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            ids.as_mut_ptr().cast(),
            ids.len(),
            id_lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((rc, rl_errno()), (-1, libc::ENOTSUP));
        // Batch send on ROUTER is not supported: routed pairs instead.
        assert_eq!(rl_send_repeat(t.server, b"x".as_ptr().cast(), 1, 1, 0), -1);
        assert_eq!(rl_errno(), libc::ENOTSUP);
        let id = rl_iovec_t {
            data: b"client-1".as_ptr().cast(),
            len: 8,
        };
        let pl: Vec<rl_iovec_t> = [&b"r0"[..], b"r1", b"r2"]
            .iter()
            .map(|p| rl_iovec_t {
                data: p.as_ptr().cast(),
                len: 2,
            })
            .collect();
        let idv = [id; 3];
        assert_eq!(rl_send_routed(t.server, idv.as_ptr(), pl.as_ptr(), 3, 0), 3);
        // The DEALER gets plain payloads.
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = rl_recv_batch(
                t.client,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                16,
                null_mut(),
                0,
            );
            assert!(n >= 1);
            let mut off = 0;
            for &l in &lens[..n as usize] {
                got.push(buf[off..off + l].to_vec());
                off += l;
            }
        }
        assert_eq!(got, [b"r0", b"r1", b"r2"]);
        // Mandatory: an unknown id fails first → -1 EHOSTUNREACH.
        assert_eq!(set_int(t.server, RL_ROUTER_MANDATORY, 1), 0);
        let bad = [rl_iovec_t {
            data: b"nobody".as_ptr().cast(),
            len: 6,
        }];
        assert_eq!(
            rl_send_routed(t.server, bad.as_ptr(), pl.as_ptr(), 1, 0),
            -1
        );
        assert_eq!(rl_errno(), libc::EHOSTUNREACH);
        // Mixed: the second fails → 1.
        let mixed = [id, bad[0]];
        assert_eq!(
            rl_send_routed(t.server, mixed.as_ptr(), pl.as_ptr(), 2, 0),
            1
        );
        // Plain recv_batch on the ROUTER: id frame first, then payload.
        assert_eq!(rl_send(t.client, b"solo".as_ptr().cast(), 4, 0), 4);
        let n = rl_recv_batch(
            t.server,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((n, lens[0], lens[1]), (2, 8, 4));
        assert_eq!(&buf[..12], b"client-1solo");
        let n = rl_recv_batch(
            t.client,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((n, &buf[..2]), (1, &b"r0"[..]));
    }
}

#[test]
fn poll_sockets_and_fds() {
    for threads in [1, 0] {
        let t = Setup::new(threads, RL_PAIR, RL_PAIR, None);
        let mut fds = [0 as c_int; 2];
        // SAFETY: a valid array for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let item = |socket: *mut rl_socket_t, fd: c_int, events| rl_pollitem_t {
            socket: socket.cast(),
            fd,
            events,
            revents: -1,
        };
        // SAFETY: live handles, valid item arrays.
        unsafe {
            let mut items = [
                item(t.server, 0, RL_POLLIN),
                item(null_mut(), fds[0], RL_POLLIN),
            ];
            assert_eq!(rl_poll(items.as_mut_ptr(), 2, 0), 0, "nothing ready yet");
            assert_eq!((items[0].revents, items[1].revents), (0, 0));
            assert_eq!(rl_send(t.client, b"x".as_ptr().cast(), 1, 0), 1);
            assert_eq!(rl_poll(items.as_mut_ptr(), 2, 10_000), 1);
            assert_eq!((items[0].revents, items[1].revents), (RL_POLLIN, 0));
            assert_eq!(libc::write(fds[1], b"!".as_ptr().cast(), 1), 1);
            let mut buf = [0u8; 4];
            assert_eq!(rl_recv(t.server, buf.as_mut_ptr().cast(), 4, 0), 1);
            assert_eq!(rl_poll(items.as_mut_ptr(), 2, 10_000), 1);
            assert_eq!((items[0].revents, items[1].revents), (0, RL_POLLIN));
            // A PAIR with room can send.
            let mut out = [item(t.client, 0, RL_POLLOUT)];
            assert_eq!(rl_poll(out.as_mut_ptr(), 1, 0), 1);
            assert_eq!(out[0].revents, RL_POLLOUT);
            // Errors: the same socket twice, NULL items, a closed socket handle.
            let mut twice = [item(t.server, 0, RL_POLLIN), item(t.server, 0, RL_POLLIN)];
            assert_eq!(rl_poll(twice.as_mut_ptr(), 2, 0), -1);
            assert_eq!(rl_errno(), libc::EINVAL);
            assert_eq!(rl_poll(null_mut(), 1, 0), -1);
            assert_eq!(rl_errno(), libc::EFAULT);
            assert_eq!(rl_poll(null_mut(), 0, 0), 0);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}

fn blank_event() -> rl_monitor_event_t {
    rl_monitor_event_t {
        event: -1,
        value: -2,
        reason: -3,
        endpoint: [1; RL_MONITOR_ENDPOINT_LEN],
        detail: [1; RL_MONITOR_DETAIL_LEN],
        peer_routing_id: [0; 255],
        peer_routing_id_size: 999,
    }
}

/// The next event of `m` with bit `code` (others are skipped), waiting up to 10 s for each.
fn expect_event(m: *mut rl_monitor_t, code: c_int) -> rl_monitor_event_t {
    let mut ev = blank_event();
    loop {
        // SAFETY: a live monitor and a valid event struct.
        let rc = unsafe { rl_monitor_recv(m, &mut ev, 0, 10_000) };
        assert_eq!(
            rc,
            0,
            "no event {code:#x} within 10 s: errno {}",
            rl_errno()
        );
        if ev.event == code {
            return ev;
        }
    }
}

fn c_str(b: &[std::ffi::c_char]) -> &str {
    // SAFETY: the monitor NUL-terminates every string it fills.
    unsafe { CStr::from_ptr(b.as_ptr()) }.to_str().unwrap()
}

#[test]
fn monitor_events() {
    // SAFETY: handles from this test; valid event structs and item arrays.
    unsafe {
        let ctx = rl_ctx_new();
        let server = rl_socket(ctx, RL_ROUTER);
        let client = rl_socket(ctx, RL_DEALER);
        for s in [server, client] {
            assert_eq!(set_int(s, RL_LINGER, 0), 0);
        }
        let sm = rl_socket_monitor(server, RL_EVENT_ALL);
        assert!(!sm.is_null(), "errno {}", rl_errno());
        // One open monitor per socket.
        assert!(rl_socket_monitor(server, RL_EVENT_ALL).is_null());
        assert_eq!(rl_errno(), libc::EEXIST);
        assert_eq!(rl_bind(server, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let ep = endpoint(server);
        let ev = expect_event(sm, RL_EVENT_LISTENING);
        assert_eq!(c_str(&ev.endpoint), ep.to_str().unwrap());
        assert_eq!((ev.value, ev.reason, ev.peer_routing_id_size), (-1, 0, 0));
        assert_eq!(c_str(&ev.detail), "");

        // The client sees only CONNECTED and HANDSHAKE_SUCCEEDED (and MONITOR_STOPPED).
        assert_eq!(
            rl_setsockopt(client, RL_ROUTING_ID, b"watched".as_ptr().cast(), 7),
            0
        );
        let cm = rl_socket_monitor(client, RL_EVENT_CONNECTED | RL_EVENT_HANDSHAKE_SUCCEEDED);
        assert!(!cm.is_null());
        let mut ev = blank_event();
        assert_eq!(rl_monitor_recv(cm, &mut ev, RL_DONTWAIT, -1), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);
        assert_eq!(ev.event, -1, "untouched on failure");
        assert_eq!(rl_connect(client, ep.as_ptr()), 0);
        assert_eq!(rl_monitor_recv(cm, &mut ev, 0, 10_000), 0);
        assert_eq!((ev.event, ev.value), (RL_EVENT_CONNECTED, -1));
        assert_eq!(c_str(&ev.endpoint), ep.to_str().unwrap());
        assert_eq!(rl_monitor_recv(cm, &mut ev, 0, 10_000), 0);
        assert_eq!(ev.event, RL_EVENT_HANDSHAKE_SUCCEEDED);
        // Nothing else passes the mask: no wait, a timeout of 0, a short timeout.
        assert_eq!(rl_monitor_recv(cm, &mut ev, RL_DONTWAIT, 10_000), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);
        assert_eq!(rl_monitor_recv(cm, &mut ev, 0, 0), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);
        assert_eq!(rl_monitor_recv(cm, &mut ev, 0, 20), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);

        expect_event(sm, RL_EVENT_ACCEPTED);
        let ev = expect_event(sm, RL_EVENT_HANDSHAKE_SUCCEEDED);
        assert_eq!(&ev.peer_routing_id[..ev.peer_routing_id_size], b"watched");
        assert_eq!(ev.value, 0);

        // A second bind to the same address fails and says so.
        let other = rl_socket(ctx, RL_PAIR);
        let om = rl_socket_monitor(other, RL_EVENT_BIND_FAILED);
        assert_eq!(rl_bind(other, ep.as_ptr()), -1);
        let ev = expect_event(om, RL_EVENT_BIND_FAILED);
        assert_eq!(ev.value, libc::EADDRINUSE);
        assert_eq!(rl_close(other), 0);
        // MONITOR_STOPPED passes any mask; then RL_ETERM without waiting.
        expect_event(om, RL_EVENT_MONITOR_STOPPED);
        let mut ev = blank_event();
        assert_eq!(rl_monitor_recv(om, &mut ev, 0, -1), -1);
        assert_eq!(rl_errno(), RL_ETERM);
        assert_eq!(rl_monitor_close(om), 0);

        // The client goes away: the server's monitor fd polls readable, the drain finds a
        // remote DISCONNECTED.
        let fd = rl_monitor_fd(sm);
        assert!(fd >= 0);
        while rl_monitor_recv(sm, &mut ev, RL_DONTWAIT, 0) == 0 {}
        assert_eq!(rl_close(client), 0);
        let mut found = None;
        while found.is_none() {
            let mut item = [rl_pollitem_t {
                socket: null_mut(),
                fd,
                events: RL_POLLIN,
                revents: 0,
            }];
            assert_eq!(rl_poll(item.as_mut_ptr(), 1, 10_000), 1, "fd not readable");
            while rl_monitor_recv(sm, &mut ev, RL_DONTWAIT, 0) == 0 {
                if ev.event == RL_EVENT_DISCONNECTED {
                    found = Some((ev.value, ev.reason, c_str(&ev.detail).to_string()));
                }
            }
            assert_eq!(rl_errno(), libc::EAGAIN);
        }
        let (value, reason, detail) = found.unwrap();
        assert_eq!((value, reason), (-1, RL_DISCONNECT_REMOTE));
        assert!(!detail.is_empty());
        // The client's monitor: MONITOR_STOPPED (outside its mask), then RL_ETERM.
        let ev = expect_event(cm, RL_EVENT_MONITOR_STOPPED);
        assert_eq!(c_str(&ev.endpoint), "");
        assert_eq!(rl_monitor_recv(cm, &mut blank_event(), 0, 10_000), -1);
        assert_eq!(rl_errno(), RL_ETERM);
        assert_eq!(rl_monitor_close(cm), 0);

        // Unbinding closes the listener.
        assert_eq!(rl_unbind(server, ep.as_ptr()), 0);
        let ev = expect_event(sm, RL_EVENT_CLOSED);
        assert_eq!(c_str(&ev.endpoint), ep.to_str().unwrap());

        // Closing the monitor frees the socket for a new one, which starts empty.
        assert_eq!(rl_bind(server, c"tcp://127.0.0.1:*".as_ptr()), 0);
        assert_eq!(rl_monitor_close(sm), 0);
        let sm2 = rl_socket_monitor(server, RL_EVENT_ALL);
        assert!(!sm2.is_null());
        let mut ev = blank_event();
        assert_eq!(rl_monitor_recv(sm2, &mut ev, RL_DONTWAIT, 0), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);

        // Handles and arguments.
        assert!(rl_socket_monitor(null_mut(), RL_EVENT_ALL).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        assert!(rl_socket_monitor(client, RL_EVENT_ALL).is_null());
        assert_eq!(rl_errno(), libc::ENOTSOCK);
        assert!(rl_socket_monitor(server, 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_socket_monitor(server, 0x10000).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_monitor_recv(null_mut(), &mut ev, 0, 0), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_recv(sm2, null_mut(), 0, 0), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_fd(null_mut()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_close(null_mut()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        // Closed monitors, and handles of other kinds.
        assert_eq!(rl_monitor_close(sm), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_recv(sm, &mut ev, RL_DONTWAIT, 0), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_fd(sm), -1);
        assert_eq!(rl_monitor_fd(server.cast()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_fd(ctx.cast()), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_send(sm2.cast(), null(), 0, 0), -1);
        assert_eq!(rl_errno(), libc::ENOTSOCK);

        // A monitor outlives its socket and context.
        assert_eq!(rl_close(server), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
        expect_event(sm2, RL_EVENT_MONITOR_STOPPED);
        assert_eq!(rl_monitor_close(sm2), 0);
        // Closed after the context went: still a checked stale handle.
        assert_eq!(rl_monitor_fd(sm2), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_monitor_close(sm2), -1);
        assert_eq!(rl_ctx_get(sm2.cast(), RL_IO_THREADS), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
    }
}

#[test]
fn every_socket_type_is_passed_through() {
    // SAFETY: handles from this test.
    unsafe {
        let ctx = rl_ctx_new();
        for ty in RL_PAIR..=RL_STREAM {
            let s = rl_socket(ctx, ty);
            assert!(!s.is_null(), "type {ty}: errno {}", rl_errno());
            assert_eq!(get_int(s, RL_TYPE), ty);
            assert_eq!(rl_close(s), 0);
        }
        assert!(rl_socket(ctx, RL_STREAM + 1).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

/// Sets `opt` to each value on a fresh socket of `ty` and reads it back.
fn round_trip_where_supported(ctx: *mut rl_ctx_t, ty: c_int, opts: &[(c_int, &[c_int])]) {
    // SAFETY: `ctx` is live; the socket is this function's.
    unsafe {
        let s = rl_socket(ctx, ty);
        assert!(!s.is_null(), "type {ty}: errno {}", rl_errno());
        for &(opt, values) in opts {
            for &v in values {
                assert_eq!(
                    set_int(s, opt, v),
                    0,
                    "type {ty} set {opt}={v}: {}",
                    rl_errno()
                );
                assert_eq!(get_int(s, opt), v, "type {ty} get {opt}");
            }
        }
        assert_eq!(rl_close(s), 0);
    }
}

#[test]
fn pattern_options() {
    // SAFETY: handles from this test; valid option buffers.
    unsafe {
        let ctx = rl_ctx_new();
        let on_off: &[c_int] = &[1, 0];
        round_trip_where_supported(
            ctx,
            RL_REQ,
            &[(RL_REQ_RELAXED, on_off), (RL_REQ_CORRELATE, on_off)],
        );
        for ty in [RL_DEALER, RL_PULL, RL_SUB] {
            round_trip_where_supported(ctx, ty, &[(RL_CONFLATE, on_off)]);
        }
        round_trip_where_supported(
            ctx,
            RL_XPUB,
            &[
                (RL_XPUB_VERBOSE, on_off),
                (RL_XPUB_VERBOSER, on_off),
                (RL_XPUB_MANUAL, on_off),
                (RL_XPUB_MANUAL_LAST_VALUE, on_off),
                (RL_XPUB_NODROP, on_off),
                (RL_INVERT_MATCHING, on_off),
                (RL_ONLY_FIRST_SUBSCRIBE, on_off),
            ],
        );
        round_trip_where_supported(ctx, RL_SUB, &[(RL_INVERT_MATCHING, on_off)]);
        round_trip_where_supported(
            ctx,
            RL_STREAM,
            &[
                (RL_STREAM_NOTIFY, &[0, 1]),
                (
                    RL_STREAM_FRAMING,
                    &[RL_STREAM_FRAMING_LENGTH_PREFIXED, RL_STREAM_FRAMING_RAW],
                ),
            ],
        );
        // Defaults (libzmq's), binary options and bad values, on a socket that exists today.
        let d = rl_socket(ctx, RL_DEALER);
        assert_eq!(get_int(d, RL_CONFLATE), 0);
        assert_eq!(get_int(d, RL_STREAM_NOTIFY), 1);
        assert_eq!(get_int(d, RL_STREAM_FRAMING), RL_STREAM_FRAMING_RAW);
        assert_eq!(set_int(d, RL_STREAM_FRAMING, 2), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(get_int(d, RL_STREAM_FRAMING), RL_STREAM_FRAMING_RAW);
        // SUBSCRIBE/UNSUBSCRIBE are write-only; bytes, with NULL allowed for 0 bytes.
        let mut buf = [0u8; 16];
        let mut len = buf.len();
        for opt in [RL_SUBSCRIBE, RL_UNSUBSCRIBE] {
            assert_eq!(rl_getsockopt(d, opt, buf.as_mut_ptr().cast(), &mut len), -1);
            assert_eq!(rl_errno(), libc::EINVAL);
            assert_eq!(rl_setsockopt(d, opt, null(), 3), -1);
            assert_eq!(rl_errno(), libc::EFAULT);
        }
        let sub = rl_socket(ctx, RL_SUB);
        if !sub.is_null() {
            assert_eq!(rl_setsockopt(sub, RL_SUBSCRIBE, null(), 0), 0);
            assert_eq!(
                rl_setsockopt(sub, RL_SUBSCRIBE, b"topic".as_ptr().cast(), 5),
                0
            );
            assert_eq!(
                rl_setsockopt(sub, RL_UNSUBSCRIBE, b"topic".as_ptr().cast(), 5),
                0
            );
            assert_eq!(rl_close(sub), 0);
        }
        let xpub = rl_socket(ctx, RL_XPUB);
        if !xpub.is_null() {
            assert_eq!(
                rl_setsockopt(xpub, RL_XPUB_WELCOME_MSG, b"hi".as_ptr().cast(), 2),
                0
            );
            let mut len = buf.len();
            assert_eq!(
                rl_getsockopt(xpub, RL_XPUB_WELCOME_MSG, buf.as_mut_ptr().cast(), &mut len),
                0
            );
            assert_eq!(&buf[..len], b"hi");
            assert_eq!(rl_close(xpub), 0);
        }
        assert_eq!(rl_close(d), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

// ----- lifecycle: nothing stays allocated per terminated context ---------------------------

/// Counts the heap bytes each thread allocated minus those it freed, so a test can measure
/// its own thread's growth while other tests run in parallel.
struct CountingAlloc;

thread_local! {
    static THREAD_HEAP: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: nothing to count during thread teardown.
    let _ = THREAD_HEAP.try_with(|c| c.set(c.get() + delta));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments; the
// counting touches a const-initialised thread-local Cell, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        count(-(layout.size() as isize));
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        count(new as isize - layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn thread_heap() -> isize {
    THREAD_HEAP.with(|c| c.get())
}

/// Issue 16 item 5: 100,000 `rl_ctx_new` + `rl_ctx_term` cycles used to keep ~170 bytes each
/// (16.9 MB). Now the heap of this thread must not grow beyond the handle table's own slack
/// (a few slots, if other tests hold contexts at the same time), and stale handles, even of
/// a slot reused 100,000 times since, still give EFAULT.
#[test]
fn terminated_contexts_keep_no_memory() {
    for _ in 0..16 {
        assert_eq!(rl_ctx_term(rl_ctx_new()), 0);
    }
    let first = rl_ctx_new();
    assert!(!first.is_null());
    assert_eq!(rl_ctx_term(first), 0);
    let before = thread_heap();
    let mut last = null_mut();
    for i in 0..100_000 {
        let c = rl_ctx_new();
        assert!(!c.is_null(), "cycle {i}: errno {}", rl_errno());
        if i % 10_000 == 0 {
            assert_eq!(rl_ctx_set(c, RL_IO_THREADS, 0), 0);
            assert_eq!(rl_ctx_get(c, RL_IO_THREADS), 0);
        }
        assert_eq!(rl_ctx_term(c), 0);
        last = c;
    }
    let grown = thread_heap() - before;
    assert!(
        grown <= 4096,
        "100,000 context cycles kept {grown} bytes of heap"
    );
    for stale in [first, last] {
        assert_eq!(rl_ctx_get(stale, RL_IO_THREADS), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_set(stale, RL_IO_THREADS, 2), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_shutdown(stale), -1);
        assert_eq!(rl_ctx_term(stale), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert!(rl_socket(stale, RL_PAIR).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
    }
    // A stale handle whose slot holds a live context again does not reach it.
    let live = rl_ctx_new();
    assert_eq!(rl_ctx_set(live, RL_IO_THREADS, 3), 0);
    assert_eq!(rl_ctx_get(last, RL_IO_THREADS), -1);
    assert_eq!(rl_ctx_term(last), -1);
    assert_eq!(rl_ctx_get(live, RL_IO_THREADS), 3);
    assert_eq!(rl_ctx_term(live), 0);
}

/// Contexts with sockets and monitors (inline mode: no reactor thread, so every allocation
/// happens on this thread): closed sockets' husks are freed by term, monitors closed before
/// or after term leave nothing behind.
#[test]
fn socket_and_monitor_cycles_keep_no_memory() {
    let cycle = |monitor_after_term: bool| {
        let ctx = rl_ctx_new();
        assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, 0), 0);
        let s = rl_socket(ctx, RL_PAIR);
        assert!(!s.is_null());
        // SAFETY: `s` is live until closed here, by this thread only.
        unsafe {
            let m = rl_socket_monitor(s, RL_EVENT_ALL);
            assert!(!m.is_null());
            if !monitor_after_term {
                assert_eq!(rl_monitor_close(m), 0);
            }
            assert_eq!(rl_close(s), 0);
            assert_eq!(rl_ctx_term(ctx), 0);
            if monitor_after_term {
                assert_eq!(rl_monitor_close(m), 0);
            }
            assert_eq!(rl_monitor_fd(m), -1);
        }
    };
    for _ in 0..8 {
        cycle(false);
        cycle(true);
    }
    let before = thread_heap();
    for _ in 0..500 {
        cycle(false);
        cycle(true);
    }
    let grown = thread_heap() - before;
    assert!(
        grown <= 4096,
        "1,000 socket+monitor cycles kept {grown} bytes"
    );
}

// ----- one thread per socket at a time: concurrent use fails with EBUSY --------------------

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
