//! The wire seam (`ringlink::wire`) with the test transform on real connections, whatever
//! `RINGLINK_TEST_WIRE` says: messages of every shape both ways over tcp and ipc, threaded and
//! inline; a peer without the transform is refused on that connection only; a sender at
//! SNDHWM is still held back. (scripts/test also runs the socket suites with the transform
//! under every connection.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlink::wire::testing::XorFactory;
use ringlink::{MonitorEventKind, DONTWAIT};
use ringlink_tests::*;

fn xor_ctx(backend: Backend, io_threads: usize) -> Context {
    Context::builder()
        .backend(backend)
        .io_threads(io_threads)
        .wire_transform(Arc::new(XorFactory))
        .build()
        .unwrap_or_else(|e| panic!("context on {}: {e}", backend.name()))
}

/// PAIR both ways through the transform: the usual mix of multipart, empty and 1 MiB parts.
fn round_trips(backend: Backend, io_threads: usize, transport: Transport) {
    let ctx = xor_ctx(backend, io_threads);
    let mut a = socket(&ctx, SocketType::Pair);
    let addr = BindAddr::new(transport, "wire-pair");
    let ep = bind(&mut a, &addr);
    let mut b = socket(&ctx, SocketType::Pair);
    connect(&mut b, &ep);
    let n = 200;
    for i in 0..n {
        send_parts(&mut b, &test_message(i, n), "b→a");
        // Inline mode moves bytes only inside calls: keep both directions going together.
        let got = recv_parts(&mut a, "a from b");
        assert_parts_eq(&got, &test_message(i, n), "a from b");
        send_parts(&mut a, &got, "a→b");
        assert_parts_eq(&recv_parts(&mut b, "b from a"), &test_message(i, n), "echo");
    }
}

both_backends!(xor_round_trips_tcp, |b| round_trips(b, 1, Transport::Tcp));
both_backends!(xor_round_trips_ipc, |b| round_trips(b, 1, Transport::Ipc));
both_backends!(xor_round_trips_inline, |b| round_trips(
    b,
    0,
    Transport::Tcp
));

// A ringlink peer without the transform fails its handshake with the transformed socket,
// which reports it and keeps serving its other (transformed) peer.
both_backends!(a_peer_without_the_transform_is_refused_alone, |backend| {
    let ctx = xor_ctx(backend, 1);
    let mut server = socket(&ctx, SocketType::Pull);
    let monitor = server.monitor().unwrap();
    let ep = bind_tcp(&mut server);
    let mut good = socket(&ctx, SocketType::Push);
    connect(&mut good, &ep);
    good.send(b"before", 0).unwrap();
    assert_eq!(server.recv_bytes(0).unwrap(), b"before");

    let plain_ctx = ctx_plain(backend);
    let mut plain = socket(&plain_ctx, SocketType::Push);
    connect(&mut plain, &ep);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut failed = false;
    while !failed {
        assert!(Instant::now() < deadline, "no handshake failure reported");
        if let Some(e) = monitor.recv(Some(Duration::from_millis(100))).unwrap() {
            if let MonitorEventKind::HandshakeFailedProtocol(why) = &e.kind {
                assert!(why.starts_with("xor: bad record length"), "{why}");
                failed = true;
            }
        }
    }
    good.send(b"after", 0).unwrap();
    assert_eq!(server.recv_bytes(0).unwrap(), b"after");
    assert!(matches!(server.recv_bytes(DONTWAIT), Err(Error::Again)));
});

/// A context without any transform (whatever RINGLINK_TEST_WIRE says).
fn ctx_plain(backend: Backend) -> Context {
    Context::builder()
        .backend(backend)
        .io_threads(1)
        .build()
        .unwrap()
}

// Encoded data counts as sent, but only a bounded batch of it: a sender nobody reads from
// still reaches SNDHWM, and everything it sent arrives once the reader drains.
both_backends!(sndhwm_still_holds_with_a_transform, |backend| {
    let ctx = xor_ctx(backend, 1);
    let mut rx = socket(&ctx, SocketType::Pull);
    set_opt(&mut rx, SocketOption::RcvHwm(10));
    set_opt(&mut rx, SocketOption::RcvBuf(4096));
    let ep = bind_tcp(&mut rx);
    let mut tx = socket(&ctx, SocketType::Push);
    set_opt(&mut tx, SocketOption::SndHwm(10));
    set_opt(&mut tx, SocketOption::SndBuf(4096));
    connect(&mut tx, &ep);
    let msg = vec![5u8; 10_000];
    // Full for good once nothing moves for 300 ms (the reader never reads).
    let sent = fill_until_full(
        &mut tx,
        &msg,
        Duration::from_millis(300),
        Duration::from_secs(30),
    );
    // RCVHWM + SNDHWM + socket buffers + the 1 MiB stash + two 256 KiB encoded batches:
    // far below what an unbounded encoder would have swallowed in 30 s.
    assert!(
        sent < 1000,
        "{sent} messages of 10 kB accepted by a stalled pipeline"
    );
    for i in 0..sent {
        let got = rx
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(got, msg, "message {i}");
    }
});
