//! inproc:// — sockets of one context connected by pipes alone (no kernel): both backends'
//! contexts, threaded and inline, bind/connect in either order, summed HWM, routing ids.

use std::thread;

use ringlink::{DONTWAIT, SNDMORE};
use ringlink_tests::*;

fn name(tag: &str) -> String {
    format!("inproc://{}", unique_name(tag))
}

fn inproc_pair(ctx: &Context) {
    let ep = name("pair");
    let mut a = socket(ctx, SocketType::Pair);
    a.bind(&ep).unwrap();
    assert_eq!(a.last_endpoint().as_deref(), Some(ep.as_str()));
    let mut b = socket(ctx, SocketType::Pair);
    b.connect(&ep).unwrap();
    b.send(b"hello", SNDMORE).unwrap();
    b.send(b"", SNDMORE).unwrap();
    b.send(&vec![3u8; 1 << 20], 0).unwrap();
    let parts = recv_parts(&mut a, "multipart");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2].len(), 1 << 20);
    // A stream in both directions across threads.
    let t = thread::spawn(move || {
        for i in 0..100_000u32 {
            b.send(&i.to_le_bytes(), 0).unwrap();
        }
        assert_eq!(recv_parts(&mut b, "done"), vec![b"done".to_vec()]);
    });
    for i in 0..100_000u32 {
        assert_eq!(a.recv_bytes(0).unwrap(), i.to_le_bytes(), "message {i}");
    }
    a.send(b"done", 0).unwrap();
    t.join().unwrap();
}

both_backends!(inproc_pair_threaded, |backend| inproc_pair(&ctx(backend)));

both_backends!(inproc_pair_inline, |backend| {
    let ctx = Context::builder()
        .backend(backend)
        .io_threads(0)
        .build()
        .unwrap();
    inproc_pair(&ctx);
});

both_backends!(inproc_connect_before_bind_and_errors, |backend| {
    let ctx = ctx(backend);
    let ep = name("late");
    let mut c = socket(&ctx, SocketType::Dealer);
    c.connect(&ep).unwrap();
    c.send(b"early", 0).unwrap(); // queued before the binder exists
    let mut s = socket(&ctx, SocketType::Dealer);
    s.bind(&ep).unwrap();
    assert_eq!(recv_parts(&mut s, "early"), vec![b"early".to_vec()]);
    s.send(b"back", 0).unwrap();
    assert_eq!(recv_parts(&mut c, "back"), vec![b"back".to_vec()]);
    // A name can be bound once; unbind frees it; unknown names are NotFound.
    let mut other = socket(&ctx, SocketType::Dealer);
    let e = other.bind(&ep).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRINUSE);
    s.unbind(&ep).unwrap();
    other.bind(&ep).unwrap();
    assert!(matches!(
        other.unbind("inproc://nope"),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        c.disconnect("inproc://nope"),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        other.connect("inproc://"),
        Err(Error::InvalidArgument(_))
    ));
});

both_backends!(inproc_hwm_is_summed, |backend| {
    let ctx = ctx(backend);
    let ep = name("hwm");
    let mut rx = socket(&ctx, SocketType::Pair);
    set_opt(&mut rx, SocketOption::RcvHwm(10));
    rx.bind(&ep).unwrap();
    let mut tx = socket(&ctx, SocketType::Pair);
    set_opt(&mut tx, SocketOption::SndHwm(15));
    tx.connect(&ep).unwrap();
    let mut sent = 0;
    while tx.send(b"m", DONTWAIT).is_ok() {
        sent += 1;
        assert!(sent <= 100, "HWM not enforced");
    }
    assert_eq!(sent, 25, "SNDHWM 15 + RCVHWM 10");
    // A blocked sender resumes once the receiver drains.
    let t = thread::spawn(move || {
        tx.send(b"late", 0).unwrap();
        tx
    });
    for _ in 0..25 {
        assert_eq!(rx.recv_bytes(0).unwrap(), b"m");
    }
    assert_eq!(rx.recv_bytes(0).unwrap(), b"late");
    t.join().unwrap();
});

both_backends!(inproc_router_dealer_and_req_rep, |backend| {
    let ctx = ctx(backend);
    let ep = name("router");
    let mut router = socket(&ctx, SocketType::Router);
    router.bind(&ep).unwrap();
    let mut d = socket(&ctx, SocketType::Dealer);
    set_opt(&mut d, SocketOption::RoutingId(b"dealer-1".to_vec()));
    d.connect(&ep).unwrap();
    d.send(b"hi", 0).unwrap();
    assert_eq!(
        recv_parts(&mut router, "at router"),
        vec![b"dealer-1".to_vec(), b"hi".to_vec()]
    );
    router
        .send_multipart(&[&b"dealer-1"[..], b"yo"], 0)
        .unwrap();
    assert_eq!(recv_parts(&mut d, "at dealer"), vec![b"yo".to_vec()]);
    let ep2 = name("rep");
    let mut rep = socket(&ctx, SocketType::Rep);
    rep.bind(&ep2).unwrap();
    let mut req = socket(&ctx, SocketType::Req);
    req.connect(&ep2).unwrap();
    for i in 0..100u32 {
        req.send(&i.to_le_bytes(), 0).unwrap();
        let q = recv_parts(&mut rep, "request");
        rep.send(&q[0], 0).unwrap();
        assert_eq!(
            recv_parts(&mut req, "reply"),
            vec![i.to_le_bytes().to_vec()]
        );
    }
});

both_backends!(inproc_disconnect_and_close, |backend| {
    let ctx = ctx(backend);
    let ep = name("dc");
    let mut pull = socket(&ctx, SocketType::Pull);
    pull.bind(&ep).unwrap();
    let mut push = socket(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send(b"one", 0).unwrap();
    assert_eq!(recv_parts(&mut pull, "one"), vec![b"one".to_vec()]);
    push.disconnect(&ep).unwrap();
    // No peer left: a non-blocking send has nowhere to go.
    assert!(matches!(push.send(b"two", DONTWAIT), Err(Error::Again)));
    // Dropping a connected peer lets the other side see it go (and no receive hangs).
    let mut push2 = socket(&ctx, SocketType::Push);
    push2.connect(&ep).unwrap();
    push2.send(b"three", 0).unwrap();
    drop(push2);
    assert_eq!(recv_parts(&mut pull, "three"), vec![b"three".to_vec()]);
    set_opt(&mut pull, SocketOption::RcvTimeo(100));
    assert!(matches!(pull.recv_bytes(0), Err(Error::Again)));
});
