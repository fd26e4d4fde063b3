//! `rl_poll` over sockets and raw fds, and socket monitors' events.

use super::*;

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

        // Closing the monitor frees the socket for a new one, which starts empty: the events
        // of a bind (LISTENING comes from the reactor, after `rl_bind` returns) went to the
        // old one.
        assert_eq!(rl_bind(server, c"tcp://127.0.0.1:*".as_ptr()), 0);
        expect_event(sm, RL_EVENT_LISTENING);
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
