//! `ringlink::poll`, `Socket::events` and `Socket::fd` (ZMQ_POLL / ZMQ_EVENTS / ZMQ_FD), on
//! both backends, with reactor threads and inline.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ringlink::{poll, PollItem, POLLIN, POLLOUT};
use ringlink_tests::*;

const LONG: Option<Duration> = Some(Duration::from_secs(10));

both_backends!(poll_reports_readable_socket, |backend| {
    let ctx = ctx(backend);
    let mut a = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut a);
    let mut b = socket(&ctx, SocketType::Pair);
    connect(&mut b, &ep);
    // Nothing to read yet: a short poll times out with 0 ready, but PAIR b can send.
    {
        let mut items = [PollItem::socket(&mut a, POLLIN)];
        let t = Instant::now();
        assert_eq!(
            poll(&mut items, Some(Duration::from_millis(50))).unwrap(),
            0
        );
        assert!(t.elapsed() >= Duration::from_millis(45), "returned early");
        assert!(items[0].revents.is_empty());
    }
    assert_eq!(b.events().unwrap() & POLLOUT, POLLOUT);
    b.send(b"x", 0).unwrap();
    let mut items = [
        PollItem::socket(&mut a, POLLIN),
        PollItem::socket(&mut b, POLLIN),
    ];
    assert_eq!(poll(&mut items, LONG).unwrap(), 1);
    assert_eq!(items[0].revents, POLLIN);
    assert!(items[1].revents.is_empty(), "b has nothing to read");
    // Asking for POLLOUT too reports both for a connected PAIR with room.
    let mut items = [PollItem::socket(&mut a, POLLIN | POLLOUT)];
    assert_eq!(poll(&mut items, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(items[0].revents, POLLIN | POLLOUT);
    assert_eq!(recv_parts(&mut a, "x"), vec![b"x".to_vec()]);
    assert!(!a.events().unwrap().contains(POLLIN), "drained");
});

both_backends!(poll_then_drain_router, |backend| {
    // ROUTER_ROUTER_POLL: poll, then drain everything that is queued without blocking.
    const N: usize = 20_000;
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"d".to_vec()));
    connect(&mut dealer, &ep);
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < N {
            sent += dealer
                .send_repeat(b"payload", (N - sent).min(500), 0)
                .unwrap();
        }
        dealer
    });
    let (mut buf, mut lens) = (vec![0u8; 1 << 16], vec![0usize; 2048]);
    let mut got = 0;
    while got < N {
        let mut items = [PollItem::socket(&mut router, POLLIN)];
        assert_eq!(
            poll(&mut items, LONG).unwrap(),
            1,
            "poll timed out at {got}"
        );
        let frames = router.drain(&mut buf, &mut lens).unwrap();
        assert!(frames > 0, "POLLIN but nothing to drain");
        assert_eq!(frames % 2, 0, "id + payload per message");
        got += frames / 2;
    }
    assert_eq!(got, N);
    sender.join().unwrap();
});

both_backends!(poll_mixes_raw_fds, |backend| {
    let ctx = ctx(backend);
    let mut a = socket(&ctx, SocketType::Pair);
    bind_tcp(&mut a);
    let (rx, mut tx) = std::os::unix::net::UnixStream::pair().unwrap();
    {
        let mut items = [
            PollItem::socket(&mut a, POLLIN),
            PollItem::fd(rx.as_raw_fd(), POLLIN),
        ];
        assert_eq!(poll(&mut items, Some(Duration::ZERO)).unwrap(), 0);
    }
    std::io::Write::write_all(&mut tx, b"!").unwrap();
    let mut items = [
        PollItem::socket(&mut a, POLLIN),
        PollItem::fd(rx.as_raw_fd(), POLLIN),
    ];
    assert_eq!(poll(&mut items, LONG).unwrap(), 1);
    assert!(items[0].revents.is_empty());
    assert_eq!(items[1].revents, POLLIN);
});

both_backends!(socket_fd_signals_for_event_loops, |backend| {
    // An external loop waits on Socket::fd with poll(2), then checks events(): after
    // events() reports no POLLIN, the fd must fire when a message arrives (no re-polling).
    let ctx = ctx(backend);
    let mut a = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut a);
    let mut b = socket(&ctx, SocketType::Pair);
    connect(&mut b, &ep);
    let fd = a.fd();
    let wait_in = |a: &mut ringlink::Socket, round: u32| {
        while !a.events().unwrap().contains(POLLIN) {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 20_000) };
            assert_eq!(n, 1, "fd never signalled in round {round}");
        }
    };
    for round in 0..200u32 {
        b.send(&round.to_le_bytes(), 0).unwrap();
        wait_in(&mut a, round);
        let got = a.recv_bytes(ringlink::DONTWAIT).unwrap();
        assert_eq!(got, round.to_le_bytes().to_vec());
    }
});

both_backends!(poll_inline_context, |backend| {
    let ctx = builder().backend(backend).io_threads(0).build().unwrap();
    let mut a = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut a);
    let mut b = socket(&ctx, SocketType::Pair);
    connect(&mut b, &ep);
    for i in 0..100u32 {
        b.send(&i.to_le_bytes(), 0).unwrap();
        let mut items = [PollItem::socket(&mut a, POLLIN)];
        assert_eq!(poll(&mut items, LONG).unwrap(), 1, "message {i}");
        assert_eq!(recv_parts(&mut a, "inline"), vec![i.to_le_bytes().to_vec()]);
    }
});

both_backends!(poll_pollout_returns_when_hwm_drains, |backend| {
    let ctx = ctx(backend);
    let mut rx = socket(&ctx, SocketType::Pair);
    set_opt(&mut rx, SocketOption::RcvHwm(10));
    set_opt(&mut rx, SocketOption::RcvBuf(4096));
    let ep = bind_tcp(&mut rx);
    let mut tx = socket(&ctx, SocketType::Pair);
    set_opt(&mut tx, SocketOption::SndHwm(10));
    set_opt(&mut tx, SocketOption::SndBuf(4096));
    connect(&mut tx, &ep);
    // Fill every queue on the way until a non-blocking send fails.
    let sent = fill_until_full(
        &mut tx,
        &[7u8; 1000],
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    assert!(
        !tx.events().unwrap().contains(POLLOUT),
        "full socket reports POLLOUT"
    );
    // Drain everything on the receiving side; POLLOUT must come back.
    let reader = std::thread::spawn(move || {
        for _ in 0..sent {
            recv_parts(&mut rx, "drain");
        }
        rx
    });
    let mut items = [PollItem::socket(&mut tx, POLLOUT)];
    assert_eq!(poll(&mut items, LONG).unwrap(), 1, "POLLOUT never returned");
    assert_eq!(items[0].revents, POLLOUT);
    reader.join().unwrap();
});
