//! Run-to-completion contexts (`io_threads(0)`): the application thread drives the ring or
//! epoll set itself. Same behaviour as with reactor threads, on both backends.

use std::thread;

use ringlink::SNDMORE;
use ringlink_tests::*;

/// An inline context on `backend`.
fn inline_ctx(backend: Backend) -> Context {
    let ctx = builder()
        .backend(backend)
        .io_threads(0)
        .build()
        .unwrap_or_else(|e| panic!("inline context on {}: {e}", backend.name()));
    assert_eq!(ctx.backend().name(), backend.name());
    ctx
}

both_backends!(inline_shared_context_roundtrip, |backend| {
    // Both sockets on one inline context: whichever blocks drives I/O for both.
    let ctx = inline_ctx(backend);
    let mut server = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut server);
    let mut client = socket(&ctx, SocketType::Pair);
    connect(&mut client, &ep);
    client.send(b"ping", 0).expect("send");
    assert_eq!(recv_parts(&mut server, "ping"), vec![b"ping".to_vec()]);
    server.send(b"a", SNDMORE).expect("a");
    server.send(b"", SNDMORE).expect("empty");
    server.send(&vec![9u8; 200_000], 0).expect("big");
    let parts = recv_parts(&mut client, "multipart");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], b"a");
    assert!(parts[1].is_empty());
    assert_eq!(parts[2], vec![9u8; 200_000]);
});

both_backends!(inline_contexts_on_two_threads_stream, |backend| {
    // One inline context per thread, like two processes: 200k messages in order, with HWM
    // back-pressure (the sender blocks and drives its own ring until the receiver catches up).
    const N: u32 = 200_000;
    let rx_ctx = inline_ctx(backend);
    let mut rx = socket(&rx_ctx, SocketType::Pair);
    let ep = bind_tcp(&mut rx);
    let sender = thread::spawn(move || {
        let ctx = inline_ctx(backend);
        let mut tx = socket(&ctx, SocketType::Pair);
        connect(&mut tx, &ep);
        for i in 0..N {
            tx.send(&i.to_le_bytes(), 0).expect("send");
        }
        tx.flush();
        // Keep driving until the receiver confirms (queued bytes only move inside calls).
        assert_eq!(recv_parts(&mut tx, "done"), vec![b"done".to_vec()]);
    });
    for i in 0..N {
        let m = rx
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(m, i.to_le_bytes(), "message {i}");
    }
    rx.send(b"done", 0).expect("done");
    rx.flush();
    sender.join().expect("sender");
});

both_backends!(inline_batch_api, |backend| {
    const N: usize = 50_000;
    let rx_ctx = inline_ctx(backend);
    let mut rx = socket(&rx_ctx, SocketType::Dealer);
    let ep = bind_tcp(&mut rx);
    let sender = thread::spawn(move || {
        let ctx = inline_ctx(backend);
        let mut tx = socket(&ctx, SocketType::Dealer);
        connect(&mut tx, &ep);
        let mut sent = 0;
        while sent < N {
            sent += tx
                .send_repeat(&[7u8; 100], (N - sent).min(3000), 0)
                .expect("send_repeat");
        }
        assert_eq!(recv_parts(&mut tx, "done"), vec![b"done".to_vec()]);
    });
    let (mut buf, mut lens) = (vec![0u8; 1 << 16], vec![0usize; 1024]);
    let mut got = 0;
    while got < N {
        let n = rx.recv_batch(&mut buf, &mut lens, 0).expect("recv_batch");
        assert!(lens[..n].iter().all(|&l| l == 100));
        assert!(buf[..n * 100].iter().all(|&b| b == 7));
        got += n;
    }
    assert_eq!(got, N);
    rx.send(b"done", 0).expect("done");
    rx.flush();
    sender.join().expect("sender");
});

both_backends!(inline_single_thread_context, |backend| {
    let ctx = builder()
        .backend(backend)
        .io_threads(0)
        .single_thread(true)
        .build()
        .expect("single_thread inline context");
    let mut server = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut server);
    let mut client = socket(&ctx, SocketType::Pair);
    connect(&mut client, &ep);
    for i in 0..10_000u32 {
        client.send(&i.to_le_bytes(), 0).expect("send");
    }
    for i in 0..10_000u32 {
        assert_eq!(
            recv_parts(&mut server, "msg"),
            vec![i.to_le_bytes().to_vec()]
        );
    }
    // Another thread may not drive this context: a clear error, not a hang or a crash.
    let mut moved = server;
    let err = thread::spawn(move || moved.recv_bytes(0).map(|_| ()))
        .join()
        .expect("join");
    assert!(
        matches!(err, Err(Error::InvalidArgument(_))),
        "expected InvalidArgument, got {err:?}"
    );
});
