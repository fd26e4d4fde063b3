//! The gateway's event-loop wait through the C ABI (`rl_gateway_wait_fd`,
//! `rl_gateway_wait_done`), with `poll(2)` standing in for a binding's event loop beside
//! threads blocked in the same gateway; and the gateway helpers the service tests share.

use super::services::{cstr, ctx, errno_of, registry, until, BACKENDS, LONG};
use super::*;

/// Serve on a receiver's ROUTER until "quit": reply `[id][receiver name][request parts]`;
/// returns the number of requests served.
pub(super) fn serve(router: usize, name: &'static str) -> usize {
    let s = router as *mut rl_socket_t;
    let mut served = 0;
    loop {
        let mut frames = Vec::new();
        loop {
            let mut buf = vec![0u8; 256];
            // SAFETY: the ROUTER is used by this thread only while it serves.
            let n = unsafe { rl_recv(s, buf.as_mut_ptr().cast(), buf.len(), 0) };
            assert!(n >= 0, "receiver {name}: errno {}", rl_errno());
            buf.truncate(n as usize);
            frames.push(buf);
            if get_int(s, RL_RCVMORE) == 0 {
                break;
            }
        }
        if frames[1] == b"quit" {
            return served;
        }
        served += 1;
        let mut reply = vec![frames[0].clone(), name.as_bytes().to_vec()];
        reply.extend(frames[1..].iter().cloned());
        for (i, f) in reply.iter().enumerate() {
            let flags = if i + 1 < reply.len() { RL_SNDMORE } else { 0 };
            // SAFETY: as above.
            let rc = unsafe { rl_send(s, f.as_ptr().cast(), f.len(), flags) };
            assert_eq!(
                rc,
                f.len() as c_int,
                "receiver {name}: errno {}",
                rl_errno()
            );
        }
    }
}

/// One gateway reply: (service, parts).
pub(super) fn gw_recv(gw: *mut rl_gateway_t) -> (String, Vec<Vec<u8>>) {
    let mut service = [0u8; 64];
    let mut buf = [0u8; 1024];
    let mut lens = [0usize; 8];
    // SAFETY: live gateway, valid buffers.
    let n = unsafe {
        rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            64,
            buf.as_mut_ptr().cast(),
            1024,
            lens.as_mut_ptr(),
            8,
            null_mut(),
            0,
        )
    };
    assert!(n >= 1, "gateway recv: errno {}", rl_errno());
    let mut off = 0;
    let parts = lens[..n as usize]
        .iter()
        .map(|&l| {
            off += l;
            buf[off - l..off].to_vec()
        })
        .collect();
    (cstr(&service), parts)
}

pub(super) fn gw_send(
    gw: *mut rl_gateway_t,
    service: &CStr,
    parts: &[&[u8]],
    flags: c_int,
) -> c_int {
    let ptrs: Vec<*const c_void> = parts.iter().map(|p| p.as_ptr().cast()).collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    // SAFETY: live gateway, arrays of `parts.len()` entries.
    unsafe {
        rl_gateway_send(
            gw,
            service.as_ptr(),
            ptrs.as_ptr(),
            lens.as_ptr(),
            parts.len(),
            flags,
        )
    }
}

/// Run a `RL_DONTWAIT` call as an event loop does: on `EAGAIN`, step the wait
/// (`rl_gateway_wait_fd`), retry, and poll the fd it gave when the retry fails too.
fn on_loop(gw: *mut rl_gateway_t, mut call: impl FnMut() -> c_int) -> c_int {
    let mut rc = call();
    while rc < 0 && rl_errno() == libc::EAGAIN {
        let fd = rl_gateway_wait_fd(gw);
        assert!(fd >= 0, "rl_gateway_wait_fd: errno {}", rl_errno());
        rc = call();
        if rc < 0 && rl_errno() == libc::EAGAIN {
            readable(fd);
        }
    }
    rc
}

fn readable(fd: c_int) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, LONG) };
    assert_eq!(n, 1, "an event loop's wake-up was lost");
}

#[test]
fn gateway_event_loop_wait_beside_threads_blocked_in_calls() {
    for backend in BACKENDS {
        event_loop_world(backend);
    }
}

fn event_loop_world(backend: c_int) {
    const N: u32 = 20_000;
    let ctx = ctx(backend);
    let (mut reg, pub_ep, router_ep) = registry(ctx);
    // SAFETY: every handle below is created here and used as documented; buffers are valid.
    unsafe {
        let mut rx = rl_receiver_new(ctx, c"loop-a".as_ptr().cast(), 6);
        assert!(!rx.is_null());
        assert_eq!(rl_receiver_connect_registry(rx, router_ep.as_ptr()), 0);
        let mut ep = [0u8; 256];
        let rc = rl_receiver_bind(
            rx,
            c"tcp://127.0.0.1:*".as_ptr(),
            ep.as_mut_ptr().cast(),
            256,
        );
        assert_eq!(rc, 0, "bind: errno {}", rl_errno());
        assert_eq!(rl_receiver_register(rx, c"echo".as_ptr(), null(), 1), 0);
        let router = rl_receiver_router(rx);
        assert_eq!(set_int(router, RL_RCVTIMEO, LONG), 0);
        assert_eq!(set_int(router, RL_ROUTER_MANDATORY, 1), 0);
        // The receiver reads nothing until told, so the gateway's sends fill up.
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let router = router as usize;
        let server = std::thread::spawn(move || {
            gate.recv().unwrap();
            serve(router, "loop-a")
        });
        let mut disc = rl_discovery_new(ctx, RL_SERVICE_GATEWAY);
        assert_eq!(rl_discovery_connect_registry(disc, pub_ep.as_ptr()), 0);
        assert!(rl_discovery_wait_available(disc, c"echo".as_ptr(), LONG) >= 1);
        let mut gw = rl_gateway_new(ctx, disc, null(), 0);
        assert!(!gw.is_null(), "gateway: errno {}", rl_errno());
        until("the provider connected", || {
            rl_gateway_connection_count(gw, c"echo".as_ptr()) == 1
        });
        let gwu = gw as usize;
        let number = |p: &[u8]| u32::from_le_bytes(p.try_into().unwrap());

        // A thread blocked in recv while the loop sends: it learns the total once the
        // queues are full (how much fits is the kernel's business).
        let (total_tx, total_rx) = std::sync::mpsc::channel::<u32>();
        let rx_thread = std::thread::spawn(move || {
            let gw = gwu as *mut rl_gateway_t;
            let mut got = Vec::new();
            let mut total = None;
            while total.is_none_or(|t| got.len() < t as usize) {
                got.push(number(&gw_recv(gw).1[1]));
                total = total.or_else(|| total_rx.try_recv().ok());
            }
            got
        });
        // Fill until a send fails and fails again once the loop has registered (a first
        // EAGAIN can be the pipe at SNDHWM while the reactor still moves messages into the
        // kernel's buffers: then the retry goes through and the fill goes on).
        let mut i = 0u32;
        let fd = loop {
            if gw_send(gw, c"echo", &[&i.to_le_bytes()], RL_DONTWAIT) == 0 {
                i += 1;
                continue;
            }
            assert_eq!(rl_errno(), libc::EAGAIN);
            let fd = rl_gateway_wait_fd(gw);
            assert!(fd >= 0);
            if gw_send(gw, c"echo", &[&i.to_le_bytes()], RL_DONTWAIT) == 0 {
                i += 1;
                continue;
            }
            assert_eq!(rl_errno(), libc::EAGAIN, "retry {i}");
            break fd;
        };
        // Full, with the loop registered: room appears once the receiver reads.
        // The fill, then N more through the loop.
        let total = i + N;
        total_tx.send(total).unwrap();
        go.send(()).unwrap();
        readable(fd);
        for i in i..total {
            let rc = on_loop(gw, || {
                gw_send(gw, c"echo", &[&i.to_le_bytes()], RL_DONTWAIT)
            });
            assert_eq!(rc, 0, "send {i}: errno {}", rl_errno());
        }
        assert_eq!(rl_gateway_wait_done(gw), 0);
        assert_eq!(rl_gateway_wait_done(gw), 0, "idempotent");
        let mut got = rx_thread.join().unwrap();
        got.sort_unstable();
        assert!(got == (0..total).collect::<Vec<_>>(), "every reply once");

        // A thread blocked in send while the loop receives.
        let tx_thread = std::thread::spawn(move || {
            let gw = gwu as *mut rl_gateway_t;
            for i in 0..N {
                assert_eq!(gw_send(gw, c"echo", &[&i.to_le_bytes()], 0), 0);
            }
        });
        let mut got = Vec::new();
        let mut service = [0u8; 64];
        let mut buf = [0u8; 256];
        let mut lens = [0usize; 4];
        for _ in 0..N {
            let n = on_loop(gw, || {
                rl_gateway_recv(
                    gw,
                    service.as_mut_ptr().cast(),
                    64,
                    buf.as_mut_ptr().cast(),
                    256,
                    lens.as_mut_ptr(),
                    4,
                    null_mut(),
                    RL_DONTWAIT,
                )
            });
            assert_eq!(n, 2, "recv: errno {}", rl_errno());
            got.push(number(&buf[lens[0]..lens[0] + lens[1]]));
        }
        assert_eq!(rl_gateway_wait_done(gw), 0);
        tx_thread.join().unwrap();
        got.sort_unstable();
        assert!(got == (0..N).collect::<Vec<_>>(), "every reply once");

        assert_eq!(gw_send(gw, c"echo", &[b"quit"], 0), 0);
        assert_eq!(server.join().unwrap(), (total + N) as usize);
        // Destroyed while the loop is registered: the wait ends with the handle.
        assert!(rl_gateway_wait_fd(gw) >= 0);
        assert_eq!(rl_gateway_destroy(&mut gw), 0);
        assert_eq!(errno_of(rl_gateway_wait_fd(gw)), libc::EFAULT);
        assert_eq!(errno_of(rl_gateway_wait_done(gw)), libc::EFAULT);
        assert_eq!(rl_discovery_destroy(&mut disc), 0);
        assert_eq!(rl_receiver_destroy(&mut rx), 0);
        assert_eq!(rl_registry_destroy(&mut reg), 0);
    }
    assert_eq!(rl_ctx_term(ctx), 0);
}
