//! The io_uring driver on this kernel: incremental buffer consumption where supported, and
//! holding what a stopped connection's receive read ahead.

use super::super::sys::EventFd;
use super::*;

/// Kernel >= 6.12 accepts incremental buffer consumption; older kernels fall back.
#[test]
fn incremental_buffer_ring_where_supported() {
    let efd = super::super::sys::EventFd::new().unwrap();
    let d = UringDriver::new(
        efd.fd(),
        true,
        BufConfig::default(),
        UringFeatures::default(),
    )
    .unwrap();
    let mut u: libc::utsname = unsafe_zeroed_utsname();
    // SAFETY: `u` is a valid utsname for the kernel to fill.
    assert_eq!(unsafe { libc::uname(&mut u) }, 0);
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) >= (6, 12) {
        assert!(
            d.bufs.inc,
            "kernel {release} should accept IOU_PBUF_RING_INC"
        );
    }
}

/// A driver with the default buffers and features, woken through `efd`.
fn default_driver(efd: &EventFd) -> UringDriver {
    UringDriver::new(
        efd.fd(),
        true,
        BufConfig::default(),
        UringFeatures::default(),
    )
    .unwrap()
}

fn unsafe_zeroed_utsname() -> libc::utsname {
    // SAFETY: utsname is plain old data; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// What a test driver reported, in order.
#[derive(PartialEq)]
enum Seen {
    Data(Vec<u8>),
    Closed,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Data(d) => write!(f, "Data({} bytes)", d.len()),
            Seen::Closed => write!(f, "Closed"),
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A stream socket pair whose one end has `len` bytes written and then shut down, and a
/// driver receiving on the other end.
fn driver_with_pending(
    cfg: BufConfig,
    len: usize,
) -> (EventFd, UringDriver, OwnedFd, Key, Vec<u8>) {
    driver_with_features(cfg, len, UringFeatures::default())
}

fn driver_with_features(
    cfg: BufConfig,
    len: usize,
    features: UringFeatures,
) -> (EventFd, UringDriver, OwnedFd, Key, Vec<u8>) {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    // Returned first, so the caller drops it after the driver.
    let efd = EventFd::new().unwrap();
    let d = UringDriver::new(efd.fd(), true, cfg, features).unwrap();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let data = pattern(len);
    tx.write_all(&data).unwrap();
    tx.shutdown(std::net::Shutdown::Write).unwrap();
    drop(tx);
    (efd, d, OwnedFd::from(rx), Key::new(3, 1), data)
}

/// Poll until `done` or a generous deadline, recording events; the reactor's part is played
/// by `react`, which may queue requests.
fn run(
    d: &mut UringDriver,
    reqs: &mut Vec<Req>,
    seen: &mut Vec<Seen>,
    mut react: impl FnMut(&Seen, &mut Vec<Req>),
    done: impl Fn(&UringDriver, &[Seen]) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done(d, seen) {
        assert!(std::time::Instant::now() < deadline, "timed out: {seen:?}");
        d.poll(
            reqs,
            Some(Duration::from_millis(50)),
            &mut [],
            |ev, reqs| {
                let s = match ev {
                    Event::Received { data, .. } => Seen::Data(data.to_vec()),
                    Event::RecvClosed { .. } => Seen::Closed,
                    _ => return,
                };
                react(&s, reqs);
                seen.push(s);
            },
        )
        .unwrap();
    }
}

/// Play a reactor whose pipe fills at the first data of `key`: stop receiving then, and
/// poll until the cancellation ended the receive (nothing armed, nothing more will come).
/// The `StopRecv` is consumed.
fn stop_at_first_data(d: &mut UringDriver, reqs: &mut Vec<Req>, seen: &mut Vec<Seen>, key: Key) {
    run(
        d,
        reqs,
        seen,
        |_, reqs| {
            if !reqs.iter().any(|r| matches!(r, Req::StopRecv { .. })) {
                reqs.push(Req::StopRecv { key });
            }
        },
        |d, seen| !seen.is_empty() && !d.slots[key.slot()].recv_armed,
    );
    reqs.retain(|r| !matches!(r, Req::StopRecv { .. }));
}

fn bytes(seen: &[Seen]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in seen {
        if let Seen::Data(d) = s {
            v.extend_from_slice(d);
        }
    }
    v
}

/// A receive stopped after its first completion keeps what the multishot receive read ahead
/// in the buffer ring (no event), including the end of the stream, and delivers it in order,
/// the end last, once it restarts.
#[test]
fn stopped_receive_holds_read_ahead_and_delivers_it_in_order_on_restart() {
    let small = BufConfig {
        count: 64,
        size: 4096,
        initial: 64,
    };
    let (_wake, mut d, rx, key, data) = driver_with_pending(small, 100 * 1024);
    let fd = rx.as_raw_fd();
    let mut reqs = vec![Req::StartRecv { key, fd }];
    let mut seen = Vec::new();
    stop_at_first_data(&mut d, &mut reqs, &mut seen, key);
    assert_eq!(seen.len(), 1, "events after the stop: {seen:?}");
    let held = d.slots[key.slot()].held.len();
    assert!(
        held > 0,
        "nothing was read ahead (the hold was not exercised)"
    );
    reqs.push(Req::StartRecv { key, fd });
    run(
        &mut d,
        &mut reqs,
        &mut seen,
        |_, _| {},
        |_, seen| seen.last() == Some(&Seen::Closed),
    );
    assert_eq!(bytes(&seen).len(), data.len());
    assert!(bytes(&seen) == data, "bytes out of order");
    assert_eq!(seen.iter().filter(|s| **s == Seen::Closed).count(), 1);
    assert_eq!(d.held_total, 0);
    drop(rx);
}

/// A connection that finds the ring dry while a stopped one holds its buffers gets them:
/// the held data is delivered (the reactor would stash it), still in order, and both
/// streams arrive whole.
#[test]
fn a_dry_ring_takes_back_what_stopped_connections_hold() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let tiny = BufConfig {
        count: 16,
        size: 4096,
        initial: 16,
    };
    let (_wake, mut d, rx, key, data) = driver_with_pending(tiny, 100 * 1024);
    let fd = rx.as_raw_fd();
    let mut reqs = vec![Req::StartRecv { key, fd }];
    let mut seen = Vec::new();
    // A stops at its first data and holds what its receive read ahead: most of the ring.
    stop_at_first_data(&mut d, &mut reqs, &mut seen, key);
    assert_eq!(seen.len(), 1, "A got data while stopped: {seen:?}");
    assert!(
        d.held_total > 8 * 4096,
        "A holds only {} bytes: the ring was not taken",
        d.held_total
    );
    // B starts receiving 40 KiB: the ring is dry, A's holds come back.
    let (mut tx_b, rx_b) = UnixStream::pair().unwrap();
    let data_b = pattern(40 * 1024);
    tx_b.write_all(&data_b).unwrap();
    drop(tx_b);
    let rx_b = OwnedFd::from(rx_b);
    let key_b = Key::new(5, 1);
    reqs.push(Req::StartRecv {
        key: key_b,
        fd: rx_b.as_raw_fd(),
    });
    let (mut got_a, mut got_b, mut closed_b) = (bytes(&seen), Vec::new(), false);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !closed_b {
        assert!(std::time::Instant::now() < deadline, "B never finished");
        d.poll(
            &mut reqs,
            Some(Duration::from_millis(50)),
            &mut [],
            |ev, _| match ev {
                Event::Received { key: k, data } if k == key => got_a.extend_from_slice(data),
                Event::Received { key: k, data } if k == key_b => got_b.extend_from_slice(data),
                Event::RecvClosed { key: k, .. } if k == key_b => closed_b = true,
                _ => {}
            },
        )
        .unwrap();
    }
    assert!(got_b == data_b, "B's bytes lost or out of order");
    assert!(
        got_a.len() > seen_len(&seen),
        "A's holds were not given back"
    );
    assert_eq!(d.held_total, 0);
    // A restarts and gets the rest, in order.
    let mut rest = vec![Seen::Data(got_a)];
    reqs.push(Req::StartRecv { key, fd });
    run(
        &mut d,
        &mut reqs,
        &mut rest,
        |_, _| {},
        |_, seen| seen.last() == Some(&Seen::Closed),
    );
    assert!(bytes(&rest) == data, "A's bytes lost or out of order");
    drop((rx, rx_b));
}

fn seen_len(seen: &[Seen]) -> usize {
    bytes(seen).len()
}

/// Closing a connection that holds data gives its buffers back.
#[test]
fn close_releases_held_buffers() {
    let small = BufConfig {
        count: 64,
        size: 4096,
        initial: 64,
    };
    let (_wake, mut d, rx, key, _) = driver_with_pending(small, 100 * 1024);
    let fd = rx.as_raw_fd();
    let mut reqs = vec![Req::StartRecv { key, fd }];
    let mut seen = Vec::new();
    stop_at_first_data(&mut d, &mut reqs, &mut seen, key);
    assert!(d.held_total > 0, "nothing held");
    reqs.push(Req::Close { key, fd: rx });
    let mut closed = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !closed {
        assert!(std::time::Instant::now() < deadline, "no Closed");
        d.poll(
            &mut reqs,
            Some(Duration::from_millis(50)),
            &mut [],
            |ev, _| {
                if let Event::Closed { .. } = ev {
                    closed = true;
                }
            },
        )
        .unwrap();
    }
    assert_eq!(d.held_total, 0);
    assert!(d.bufs.all_returned(), "held buffers were not given back");
}

/// The default features, all off, and SQPOLL.
fn feature_sets() -> [UringFeatures; 3] {
    [
        UringFeatures::default(),
        UringFeatures::NONE,
        UringFeatures {
            sqpoll_idle: Some(Duration::from_millis(2)),
            ..UringFeatures::default()
        },
    ]
}

/// Every io_uring feature on, all off, and SQPOLL: the same bytes arrive, the ring fd is
/// registered only when asked and not with SQPOLL, and SQPOLL is set up when asked (this
/// kernel has registered rings and unprivileged SQPOLL).
#[test]
fn features_on_and_off_move_the_same_bytes() {
    for features in feature_sets() {
        let (_wake, mut d, rx, key, data) =
            driver_with_features(BufConfig::default(), 100 * 1024, features);
        let sqpoll = features.sqpoll_idle.is_some();
        assert_eq!(d.ring.params().is_setup_sqpoll(), sqpoll);
        assert_eq!(d.enter.is_registered(), features.registered_ring && !sqpoll);
        let fd = rx.as_raw_fd();
        let mut reqs = vec![Req::StartRecv { key, fd }];
        let mut seen = Vec::new();
        run(
            &mut d,
            &mut reqs,
            &mut seen,
            |_, _| {},
            |_, seen| seen.last() == Some(&Seen::Closed),
        );
        assert!(
            bytes(&seen) == data,
            "{features:?}: bytes lost or out of order"
        );
        drop(rx);
    }
}

/// One turn that waits up to 20 ms for completions (none are expected).
/// Run `body` on a thread of its own and fail if it has not finished within `limit` (the
/// thread is left behind, stuck wherever it is; the test fails either way).
fn within(limit: Duration, what: &str, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {limit:?}")
        }
        // The body panicked: its panic is the failure.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = thread.join() {
                std::panic::resume_unwind(p)
            }
        }
    }
}

fn idle_turn(d: &mut UringDriver, reqs: &mut Vec<Req>) {
    d.poll(reqs, Some(Duration::from_millis(20)), &mut [], |_, _| {})
        .unwrap();
}

/// A wait with a timeout and nothing to complete returns (through the registered ring
/// index and through the fd alike).
#[test]
fn timed_wait_returns_without_completions() {
    for features in feature_sets() {
        let efd = EventFd::new().unwrap();
        let mut d = UringDriver::new(efd.fd(), true, BufConfig::default(), features).unwrap();
        let mut reqs = Vec::new();
        let start = std::time::Instant::now();
        for _ in 0..3 {
            idle_turn(&mut d, &mut reqs);
        }
        assert!(
            start.elapsed() >= Duration::from_millis(60),
            "{features:?}: the waits did not wait ({:?})",
            start.elapsed()
        );
        drop(d);
    }
}

/// More submissions in one turn than the submission queue holds (1,024): the driver
/// submits (with SQPOLL: wakes the kernel's thread, asleep after an idle turn, and waits for
/// it to take some) and goes on, and every one completes: 1,500 watches of one readable
/// eventfd each report POLLIN.
#[test]
fn a_turn_with_more_submissions_than_the_queue_holds() {
    // A wait for SQ room that never returns (SQ_WAIT without SQ_WAKEUP, stop 31) fails the
    // test instead of hanging the suite.
    within(Duration::from_secs(120), "the over-full turns", || {
        over_full_turns();
    });
}

fn over_full_turns() {
    for features in feature_sets() {
        let efd = EventFd::new().unwrap();
        let watched = EventFd::new().unwrap();
        watched.signal();
        let mut d = UringDriver::new(efd.fd(), true, BufConfig::default(), features).unwrap();
        let mut watch = vec![
            libc::pollfd {
                fd: watched.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            1500
        ];
        let mut reqs = Vec::new();
        // An idle turn first, longer than SQPOLL's idle time: the SQ thread is asleep when
        // the queue fills (a wait for room must wake it).
        idle_turn(&mut d, &mut reqs);
        let mut fired = vec![false; watch.len()];
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !fired.iter().all(|&f| f) {
            assert!(
                std::time::Instant::now() < deadline,
                "{features:?}: {} of {} watches reported",
                fired.iter().filter(|&&f| f).count(),
                fired.len()
            );
            d.poll(
                &mut reqs,
                Some(Duration::from_millis(50)),
                &mut watch,
                |_, _| {},
            )
            .unwrap();
            for (f, w) in fired.iter_mut().zip(&watch) {
                *f |= w.revents & libc::POLLIN != 0;
            }
        }
        d.unwatch();
        drop(d);
    }
}

/// Closing slots whose multishot operations are armed (a listener's accept, a connection's
/// receive with nothing to read) cancels each by its user data and reports both closed.
#[test]
fn close_cancels_armed_multishot_operations() {
    use std::os::unix::net::UnixStream;
    let efd = EventFd::new().unwrap();
    let mut d = default_driver(&efd);
    let listener = OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let (_peer, conn) = UnixStream::pair().unwrap();
    let conn = OwnedFd::from(conn);
    let (lkey, ckey) = (Key::new(1, 1), Key::new(2, 1));
    let mut reqs = vec![
        Req::Listen {
            key: lkey,
            fd: listener.as_raw_fd(),
        },
        Req::StartRecv {
            key: ckey,
            fd: conn.as_raw_fd(),
        },
    ];
    // Armed (submitted) by a turn with nothing to complete.
    d.poll(&mut reqs, Some(Duration::ZERO), &mut [], |_, _| {})
        .unwrap();
    assert!(d.slots[1].accepting && d.slots[2].recv_armed);
    reqs.push(Req::Close {
        key: lkey,
        fd: listener,
    });
    reqs.push(Req::Close {
        key: ckey,
        fd: conn,
    });
    let mut closed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while closed.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "closed only {closed:?}"
        );
        d.poll(
            &mut reqs,
            Some(Duration::from_millis(50)),
            &mut [],
            |ev, _| {
                if let Event::Closed { key } = ev {
                    closed.push(key);
                }
            },
        )
        .unwrap();
    }
    closed.sort_by_key(|k| k.0);
    assert_eq!(closed, [lkey, ckey]);
}

/// Connects queued in one turn reach their address although later requests of the same
/// turn grow the slot table: the kernel reads a connect's address when the SQE is
/// submitted, after the turn, so it must not live in a slot that the growth moves (it did:
/// connects of a growing turn went to freed memory, failed, and their connections came up
/// only after a reconnect interval, a 200 ms stall in `scale`'s set-up at the 513th and
/// 1025th connection).
#[test]
fn connects_of_a_turn_that_grows_the_slot_table_reach_their_address() {
    use std::net::TcpListener;
    const N: usize = 1500;
    let efd = EventFd::new().unwrap();
    let mut d = default_driver(&efd);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fds = Vec::new();
    let mut reqs = Vec::new();
    for i in 0..N {
        let fd = super::super::sys::stream_socket(libc::AF_INET).unwrap();
        reqs.push(Req::Connect {
            key: Key::new(i + 1, 1),
            fd: fd.as_raw_fd(),
            addr: super::super::sys::SockAddr::from_inet(addr),
        });
        fds.push(fd);
    }
    // The table grows from empty to N + 1 slots while this one turn queues the connects.
    let (mut ok, mut failed) = (0, Vec::new());
    let mut accepted = Vec::new();
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ok + failed.len() < N {
        assert!(
            std::time::Instant::now() < deadline,
            "{ok} connected, {failed:?}"
        );
        d.poll(
            &mut reqs,
            Some(Duration::from_millis(50)),
            &mut [],
            |ev, _| {
                if let Event::Connected { key, result } = ev {
                    match result {
                        Ok(()) => ok += 1,
                        Err(e) => failed.push((key.slot(), e.to_string())),
                    }
                }
            },
        )
        .unwrap();
        // Keep the accept queue from overflowing.
        while let Ok((s, _)) = listener.accept() {
            accepted.push(s);
        }
    }
    assert!(failed.is_empty(), "failed connects: {failed:?}");
    assert_eq!(ok, N);
}
