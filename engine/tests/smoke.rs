use ringlink::{Backend, Context, SocketOption, SocketType, SNDMORE};

fn ctx(b: Backend, threads: usize) -> Context {
    Context::builder()
        .backend(b)
        .io_threads(threads)
        .build()
        .unwrap()
}

fn pair_roundtrip(b: Backend, ep: &str) {
    pair_roundtrip_in(ctx(b, 1), b, ep);
}

fn pair_roundtrip_in(ctx: Context, b: Backend, ep: &str) {
    assert_eq!(ctx.backend(), b);
    let mut s = ctx.socket(SocketType::Pair).unwrap();
    s.set_option(SocketOption::RcvTimeo(10_000)).unwrap();
    // Unlimited queues: this test sends everything before reading (with HWM 1000 and a small
    // unix socket buffer that would block, as it would with libzmq).
    s.set_option(SocketOption::RcvHwm(0)).unwrap();
    s.bind(ep).unwrap();
    let ep = s.last_endpoint().unwrap();
    let mut c = ctx.socket(SocketType::Pair).unwrap();
    c.set_option(SocketOption::RcvTimeo(10_000)).unwrap();
    c.set_option(SocketOption::SndHwm(0)).unwrap();
    c.connect(&ep).unwrap();
    c.send(b"hello", 0).unwrap();
    assert_eq!(s.recv_bytes(0).unwrap(), b"hello");
    c.send(b"in place", SNDMORE).unwrap();
    c.send(b"!", 0).unwrap();
    let (len, more) = s.recv_with(0, |b, more| (b.len(), more)).unwrap();
    assert_eq!((len, more), (8, true));
    assert!(s.recv_with(0, |b, more| b == b"!" && !more).unwrap());
    s.send(b"a", SNDMORE).unwrap();
    s.send(b"", SNDMORE).unwrap();
    s.send(&vec![7u8; 300_000], 0).unwrap();
    let parts = c.recv_multipart(0).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2].len(), 300_000);
    for i in 0..10_000u32 {
        c.send(&i.to_le_bytes(), 0).unwrap();
    }
    for i in 0..10_000u32 {
        assert_eq!(s.recv_bytes(0).unwrap(), i.to_le_bytes());
    }
}

#[test]
fn pair_tcp_uring() {
    pair_roundtrip(Backend::Uring, "tcp://127.0.0.1:*");
}

#[test]
fn pair_tcp_epoll() {
    pair_roundtrip(Backend::Epoll, "tcp://127.0.0.1:*");
}

#[test]
fn pair_ipc_uring() {
    pair_roundtrip(
        Backend::Uring,
        &format!("ipc://@rl-smoke-u-{}", std::process::id()),
    );
}

#[test]
fn pair_ipc_epoll() {
    pair_roundtrip(
        Backend::Epoll,
        &format!("ipc://@rl-smoke-e-{}", std::process::id()),
    );
}

#[test]
fn pair_tcp_inline_uring() {
    pair_roundtrip_in(ctx(Backend::Uring, 0), Backend::Uring, "tcp://127.0.0.1:*");
}

#[test]
fn pair_tcp_inline_epoll() {
    pair_roundtrip_in(ctx(Backend::Epoll, 0), Backend::Epoll, "tcp://127.0.0.1:*");
}

/// The conveniences a Rust user reaches for first: `subscribe`/`unsubscribe`, `recv_string`
/// (invalid UTF-8 handed back as bytes, not lost), `SocketType: FromStr`, `AsFd`.
#[test]
fn subscribe_recv_string_and_parsing() {
    use std::os::fd::{AsFd, AsRawFd};
    assert_eq!("dealer".parse::<SocketType>(), Ok(SocketType::Dealer));
    assert_eq!("XPUB".parse::<SocketType>(), Ok(SocketType::XPub));
    let err = "nope".parse::<SocketType>().unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    for b in [Backend::Uring, Backend::Epoll] {
        let ctx = ctx(b, 1);
        let mut xpub = ctx.socket(SocketType::XPub).unwrap();
        xpub.set_option(SocketOption::RcvTimeo(10_000)).unwrap();
        xpub.bind("inproc://smoke-sub").unwrap();
        let mut sub = ctx.socket(SocketType::Sub).unwrap();
        sub.set_option(SocketOption::RcvTimeo(10_000)).unwrap();
        sub.connect("inproc://smoke-sub").unwrap();
        assert_eq!(sub.as_fd().as_raw_fd(), sub.as_raw_fd());
        sub.subscribe("news").unwrap();
        assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01news");
        xpub.send(b"news: ok", 0).unwrap();
        xpub.send(b"sport", 0).unwrap();
        xpub.send(b"news\xff", 0).unwrap();
        assert_eq!(sub.recv_string(0).unwrap(), Ok("news: ok".to_string()));
        assert_eq!(sub.recv_string(0).unwrap(), Err(b"news\xff".to_vec()));
        sub.unsubscribe("news").unwrap();
        assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x00news");
        let mut pair = ctx.socket(SocketType::Pair).unwrap();
        assert!(matches!(
            pair.subscribe("x"),
            Err(ringlink::Error::InvalidArgument(_))
        ));
    }
}

/// `Socket::stats`: messages and wire bytes both ways, drops at the high-water mark and for
/// unknown routing ids, and connection events, on both backends.
#[test]
fn stats_count_messages_bytes_drops_and_events() {
    use ringlink::MonitorEventKind as K;
    use std::time::Duration;
    let wait_for = |m: &ringlink::Monitor, want: fn(&K) -> bool| loop {
        let ev = m
            .recv(Some(Duration::from_secs(20)))
            .unwrap()
            .expect("event within 20 s");
        if want(&ev.kind) {
            return;
        }
    };
    for b in [Backend::Uring, Backend::Epoll] {
        let ctx = ctx(b, 1);
        let mut srv = ctx.socket(SocketType::Pair).unwrap();
        srv.set_option(SocketOption::RcvTimeo(20_000)).unwrap();
        let mon = srv.monitor().unwrap();
        srv.bind("tcp://127.0.0.1:*").unwrap();
        let mut cli = ctx.socket(SocketType::Pair).unwrap();
        cli.connect(&srv.last_endpoint().unwrap()).unwrap();
        for _ in 0..10 {
            cli.send(&[7u8; 64], 0).unwrap();
        }
        for _ in 0..10 {
            assert_eq!(srv.recv_bytes(0).unwrap().len(), 64);
        }
        let (c, s) = (cli.stats(), srv.stats());
        assert_eq!((c.msgs_sent, s.msgs_received), (10, 10), "{b:?}");
        assert!(s.bytes_received >= 10 * 66, "{s:?}");
        assert_eq!(s.connects, 1, "{s:?}");
        assert_eq!(
            s.msgs_dropped + s.reconnects + s.handshake_failures,
            0,
            "{s:?}"
        );
        drop(cli);
        wait_for(&mon, |k| matches!(k, K::Disconnected(..)));
        let s = srv.stats();
        assert_eq!((s.disconnects, s.msgs_received), (1, 10), "{s:?}");
        // The client's wire bytes: 10 frames of 2 + 64 bytes after the handshake.
        drop(srv);

        // ROUTER: an unknown routing id is dropped (and counted) without ROUTER_MANDATORY.
        let mut router = ctx.socket(SocketType::Router).unwrap();
        router.send(b"nobody", ringlink::SNDMORE).unwrap();
        router.send(b"lost", 0).unwrap();
        assert_eq!(router.stats().msgs_dropped, 1);
        assert_eq!(
            router
                .send_routed_batch(&[(b"x", b"y"), (b"z", b"w")], 0)
                .unwrap(),
            2
        );
        assert_eq!(router.stats().msgs_dropped, 3);

        // XPUB: a subscriber at its high-water mark misses messages; each is counted once.
        let mut xpub = ctx.socket(SocketType::XPub).unwrap();
        xpub.set_option(SocketOption::SndHwm(2)).unwrap();
        xpub.set_option(SocketOption::RcvTimeo(20_000)).unwrap();
        xpub.bind("inproc://smoke-stats").unwrap();
        let mut sub = ctx.socket(SocketType::Sub).unwrap();
        sub.set_option(SocketOption::RcvHwm(2)).unwrap();
        sub.connect("inproc://smoke-stats").unwrap();
        sub.subscribe("").unwrap();
        assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01");
        for _ in 0..100 {
            xpub.send(b"m", 0).unwrap();
        }
        let x = xpub.stats();
        assert_eq!(x.msgs_sent + x.msgs_dropped, 100, "{x:?}");
        assert!(x.msgs_dropped >= 90, "{x:?}");

        // A connect with nobody listening is retried (and counted).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut lonely = ctx.socket(SocketType::Dealer).unwrap();
        lonely.set_option(SocketOption::ReconnectIvl(10)).unwrap();
        let m = lonely.monitor().unwrap();
        lonely.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        wait_for(&m, |k| matches!(k, K::ConnectRetried(_)));
        assert!(lonely.stats().reconnects >= 1);
    }
}

/// `send_shared`: large bodies go out without a copy over tcp, copied to inproc peers, small
/// ones copied; the REQ envelope around a shared body stays intact; PUB shares one body.
#[test]
fn send_shared_bodies_arrive_intact() {
    use std::sync::Arc;
    let big: Arc<[u8]> = (0..100_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let small: Arc<[u8]> = b"small body".to_vec().into();
    for b in [Backend::Uring, Backend::Epoll] {
        let ctx = ctx(b, 1);
        for ep in ["tcp://127.0.0.1:*", "inproc://smoke-shared"] {
            let mut rep = ctx.socket(SocketType::Rep).unwrap();
            rep.set_option(SocketOption::RcvTimeo(20_000)).unwrap();
            rep.bind(ep).unwrap();
            let mut req = ctx.socket(SocketType::Req).unwrap();
            req.set_option(SocketOption::RcvTimeo(20_000)).unwrap();
            req.connect(&rep.last_endpoint().unwrap()).unwrap();
            for body in [&big, &small, &big] {
                req.send_shared(body, 0).unwrap();
                assert_eq!(&rep.recv_bytes(0).unwrap()[..], &body[..], "{b:?} {ep}");
                assert!(!rep.rcvmore());
                rep.send_shared(body, 0).unwrap();
                assert_eq!(&req.recv_bytes(0).unwrap()[..], &body[..], "{b:?} {ep}");
            }
        }

        let mut publisher = ctx.socket(SocketType::XPub).unwrap();
        publisher
            .set_option(SocketOption::RcvTimeo(20_000))
            .unwrap();
        publisher
            .set_option(SocketOption::XpubVerbose(true))
            .unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let tcp = publisher.last_endpoint().unwrap();
        publisher.bind("inproc://smoke-shared-pub").unwrap();
        let mut subs = Vec::new();
        for ep in [tcp.as_str(), tcp.as_str(), "inproc://smoke-shared-pub"] {
            let mut s = ctx.socket(SocketType::Sub).unwrap();
            s.set_option(SocketOption::RcvTimeo(20_000)).unwrap();
            s.connect(ep).unwrap();
            s.subscribe("").unwrap();
            subs.push(s);
        }
        // XPUB_VERBOSE passes every subscriber's subscription up: all three have arrived.
        for _ in 0..3 {
            assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");
        }
        let st = publisher.stats();
        assert_eq!((st.connects, publisher.peer_count()), (2, 3), "{st:?}");
        publisher.send(b"topic", ringlink::SNDMORE).unwrap();
        publisher.send_shared(&big, 0).unwrap();
        for s in &mut subs {
            let parts = s.recv_multipart(0).unwrap();
            assert_eq!(parts[0], b"topic");
            assert_eq!(&parts[1][..], &big[..]);
        }
    }
}
