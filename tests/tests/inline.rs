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

both_backends!(inline_sends_start_once_64_kib_are_queued, |backend| {
    // An inline context moves bytes only inside its calls, so a run of sends must start the
    // wire by itself: here once 64 KiB are queued (8 messages, far fewer than the message
    // bound), with no flush and no blocking call after them.
    let rx_ctx = builder().backend(backend).build().expect("context");
    let mut rx = socket(&rx_ctx, SocketType::Pair);
    let addr = BindAddr::new(Transport::Abstract, "inline-flush");
    rx.bind(&addr.endpoint).expect("bind");
    let ep = addr.endpoint.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sender = thread::spawn(move || {
        let ctx = inline_ctx(backend);
        let mut tx = socket(&ctx, SocketType::Pair);
        connect(&mut tx, &ep);
        tx.send(b"hello", 0).expect("hello");
        // Blocking drives the context until the connection is up and the reply is in.
        assert_eq!(recv_parts(&mut tx, "go"), vec![b"go".to_vec()]);
        for i in 0..8u8 {
            tx.send(&[i; 8 * 1024], 0).expect("send");
        }
        // No ringlink call until the receiver has all eight.
        done_rx.recv().expect("done");
    });
    assert_eq!(recv_parts(&mut rx, "hello"), vec![b"hello".to_vec()]);
    rx.send(b"go", 0).expect("go");
    for i in 0..8u8 {
        let what = format!("message {i} (the inline sender never started sending)");
        assert_eq!(recv_parts(&mut rx, &what), vec![vec![i; 8 * 1024]]);
    }
    done_tx.send(()).expect("done");
    sender.join().expect("sender");
});
