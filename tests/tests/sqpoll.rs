//! Contexts whose rings use SQPOLL (`UringFeatures::sqpoll_idle`): the kernel's thread
//! submits, so the send and wake-up paths run without submit system calls. Same behaviour as
//! without it; on epoll the option has no effect and the same flows must pass.

use std::thread;
use std::time::Duration;

use ringlink::{UringFeatures, SNDMORE};
use ringlink_tests::*;

fn sqpoll() -> UringFeatures {
    UringFeatures {
        sqpoll_idle: Some(Duration::from_millis(2)),
        ..UringFeatures::default()
    }
}

fn sqpoll_ctx(backend: Backend, io_threads: usize) -> Context {
    let ctx = builder()
        .backend(backend)
        .uring_features(sqpoll())
        .io_threads(io_threads)
        .build()
        .unwrap_or_else(|e| panic!("SQPOLL context on {}: {e}", backend.name()));
    assert_eq!(ctx.backend().name(), backend.name());
    ctx
}

/// 100,000 messages in order through a HWM of 100 (the sender blocks on back-pressure and
/// is woken through the ring), then a multipart message with a 300 KB frame, and a reply.
fn stream(rx_ctx: &Context, tx_ctx: Context) {
    const N: u32 = 100_000;
    let mut rx = socket(rx_ctx, SocketType::Pair);
    rx.set_option(SocketOption::RcvHwm(100)).expect("RCVHWM");
    let ep = bind_tcp(&mut rx);
    let sender = thread::spawn(move || {
        let mut tx = socket(&tx_ctx, SocketType::Pair);
        tx.set_option(SocketOption::SndHwm(100)).expect("SNDHWM");
        connect(&mut tx, &ep);
        for i in 0..N {
            tx.send(&i.to_le_bytes(), 0).expect("send");
        }
        tx.send(b"head", SNDMORE).expect("head");
        tx.send(&vec![5u8; 300_000], 0).expect("body");
        assert_eq!(recv_parts(&mut tx, "reply"), vec![b"done".to_vec()]);
    });
    for i in 0..N {
        let m = rx
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(m, i.to_le_bytes(), "message {i}");
    }
    let parts = recv_parts(&mut rx, "multipart");
    assert_eq!(parts, vec![b"head".to_vec(), vec![5u8; 300_000]]);
    rx.send(b"done", 0).expect("done");
    rx.flush();
    sender.join().expect("sender");
}

both_backends!(sqpoll_reactor_threads_stream, |backend| {
    let rx_ctx = sqpoll_ctx(backend, 1);
    stream(&rx_ctx, sqpoll_ctx(backend, 1));
});

both_backends!(sqpoll_inline_contexts_stream, |backend| {
    let rx_ctx = sqpoll_ctx(backend, 0);
    stream(&rx_ctx, sqpoll_ctx(backend, 0));
});

both_backends!(sqpoll_talks_to_a_context_without_it, |backend| {
    // One end with SQPOLL, the other with the default ring.
    let rx_ctx = builder().backend(backend).build().expect("context");
    stream(&rx_ctx, sqpoll_ctx(backend, 1));
});
