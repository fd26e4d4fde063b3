//! PUB / SUB / XPUB / XSUB: prefix filtering (publisher side, over the wire, and subscriber
//! side), counted subscriptions, re-subscription after reconnect, ZMTP 3.1 commands and the
//! 3.0 message form, HWM drops, the XPUB options, INVERT_MATCHING, CONFLATE, batches, and
//! pyzmq interop in every direction. Every test runs on both backends.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ringlink::{DONTWAIT, POLLOUT, SNDMORE};
use ringlink_tests::raw::{self, Frame, RawConn};
use ringlink_tests::*;

#[derive(Clone, Copy)]
enum Tr {
    Tcp,
    Ipc,
    Inproc,
}

/// Bind `sock` on a fresh endpoint of `tr`; returns the endpoint to connect to (and the ipc
/// path guard).
fn bind_on(sock: &mut Socket, tr: Tr, tag: &str) -> (String, Option<BindAddr>) {
    match tr {
        Tr::Tcp => (bind(sock, &BindAddr::new(Transport::Tcp, tag)), None),
        Tr::Ipc => {
            let a = BindAddr::new(Transport::Ipc, tag);
            (bind(sock, &a), Some(a))
        }
        Tr::Inproc => {
            let ep = format!("inproc://{}", unique_name(tag));
            sock.bind(&ep).unwrap();
            (ep, None)
        }
    }
}

fn sub_opt(sock: &mut Socket, topic: &[u8]) {
    set_opt(sock, SocketOption::Subscribe(topic.to_vec()));
}

/// Publish `<topic>-sync` until `sub` receives one (the subscription reached the publisher),
/// then a `<topic>-sync-end` marker, and drain `sub` up to it.
fn sync(publ: &mut Socket, sub: &mut Socket, topic: &[u8]) {
    let probe = [topic, b"-sync"].concat();
    let end = [topic, b"-sync-end"].concat();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publ.send(&probe, 0).unwrap();
        if let Some(m) = try_recv_parts(sub, 20) {
            // A subscriber whose filter also matches an earlier sync on this topic (another
            // subscriber's) may hold that sync's end marker first.
            if m == vec![end.clone()] {
                continue;
            }
            assert_eq!(m, vec![probe.clone()], "sync probe");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscription never reached the publisher"
        );
    }
    loop {
        publ.send(&end, 0).unwrap();
        if let Some(m) = try_recv_parts(sub, 20) {
            if m == vec![end.clone()] {
                break;
            }
            assert_eq!(m, vec![probe.clone()], "draining sync probes");
        }
        assert!(Instant::now() < deadline, "sync end marker never arrived");
    }
    // Extra end markers may follow: drain them by one more round trip of a fresh marker.
    let fin = [topic, b"-sync-fin"].concat();
    publ.send(&fin, 0).unwrap();
    loop {
        let m = recv_parts(sub, "sync fin");
        if m == vec![fin.clone()] {
            break;
        }
        assert_eq!(m, vec![end.clone()], "draining sync end markers");
    }
}

fn strs(msgs: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
    msgs.iter()
        .map(|m| {
            m.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect()
        })
        .collect()
}

// ----- PUB → SUB ---------------------------------------------------------------------------

fn prefix_filtering(backend: Backend, tr: Tr) {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let (ep, _g) = bind_on(&mut publ, tr, "pubfilter");
    let mut sub = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sub, b"a");
    sub_opt(&mut sub, b"b");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"a");
    for t in ["a1", "c1", "b2", "ab", "x", "", "B", "ba"] {
        publ.send(t.as_bytes(), SNDMORE).unwrap();
        publ.send(b"body", 0).unwrap();
    }
    publ.send(b"a-end", 0).unwrap();
    let mut got = Vec::new();
    loop {
        let m = recv_parts(&mut sub, "filtered message");
        let end = m == vec![b"a-end".to_vec()];
        got.push(m);
        if end {
            break;
        }
    }
    assert_eq!(
        strs(&got),
        vec![
            vec!["a1", "body"],
            vec!["b2", "body"],
            vec!["ab", "body"],
            vec!["ba", "body"],
            vec!["a-end"]
        ]
    );
    assert_eq!(sub.topics_count(), 2);
    // libzmq's TOPICS_COUNT on a publisher: the distinct topics its subscribers hold.
    assert_eq!(publ.topics_count(), 2);
}

both_backends!(pubsub_prefix_tcp, |b| prefix_filtering(b, Tr::Tcp));
both_backends!(pubsub_prefix_ipc, |b| prefix_filtering(b, Tr::Ipc));
both_backends!(pubsub_prefix_inproc, |b| prefix_filtering(b, Tr::Inproc));

both_backends!(pubsub_prefix_inline_tcp, |backend| {
    let ctx = builder().backend(backend).io_threads(0).build().unwrap();
    let mut publ = socket(&ctx, SocketType::Pub);
    let ep = bind_tcp(&mut publ);
    let mut sub = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sub, b"k");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"k");
    for i in 0..1000u32 {
        let t = if i % 2 == 0 { b'k' } else { b'z' };
        let mut m = vec![t];
        m.extend_from_slice(&i.to_be_bytes());
        publ.send(&m, 0).unwrap();
    }
    for i in (0..1000u32).step_by(2) {
        let m = sub.recv_bytes(0).unwrap();
        assert_eq!(m[0], b'k');
        assert_eq!(m[1..], i.to_be_bytes());
    }
});

fn counted_unsubscribe(backend: Backend, tr: Tr) {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let (ep, _g) = bind_on(&mut publ, tr, "unsub");
    let mut sub = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sub, b"t");
    sub_opt(&mut sub, b"t");
    sub_opt(&mut sub, b"u");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"u");
    set_opt(&mut sub, SocketOption::Unsubscribe(b"t".to_vec()));
    // Still subscribed once: an unsubscription is sent only when the count reaches zero.
    sync(&mut publ, &mut sub, b"u");
    publ.send(b"t-1", 0).unwrap();
    publ.send(b"u-1", 0).unwrap();
    assert_eq!(recv_parts(&mut sub, "t-1"), vec![b"t-1".to_vec()]);
    assert_eq!(recv_parts(&mut sub, "u-1"), vec![b"u-1".to_vec()]);
    set_opt(&mut sub, SocketOption::Unsubscribe(b"t".to_vec()));
    // Unknown topics are ignored, like libzmq.
    set_opt(&mut sub, SocketOption::Unsubscribe(b"never".to_vec()));
    sync(&mut publ, &mut sub, b"u");
    publ.send(b"t-2", 0).unwrap();
    publ.send(b"u-2", 0).unwrap();
    assert_eq!(recv_parts(&mut sub, "u-2"), vec![b"u-2".to_vec()]);
    assert_eq!(sub.topics_count(), 1);
}

both_backends!(pubsub_counted_unsubscribe_tcp, |b| counted_unsubscribe(
    b,
    Tr::Tcp
));
both_backends!(pubsub_counted_unsubscribe_inproc, |b| counted_unsubscribe(
    b,
    Tr::Inproc
));

fn fan_out(backend: Backend, tr: Tr) {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let (ep, _g) = bind_on(&mut publ, tr, "fanout");
    let topics: [&[u8]; 3] = [b"x", b"xy", b""];
    let mut subs: Vec<Socket> = topics
        .iter()
        .map(|t| {
            let mut s = socket(&ctx, SocketType::Sub);
            sub_opt(&mut s, t);
            sub_opt(&mut s, b"sync");
            connect(&mut s, &ep);
            s
        })
        .collect();
    for s in subs.iter_mut() {
        sync(&mut publ, s, b"sync");
    }
    // Drain the sync traffic each subscriber saw for the others.
    publ.send(b"sync-go", 0).unwrap();
    for s in subs.iter_mut() {
        while recv_parts(s, "go") != vec![b"sync-go".to_vec()] {}
    }
    let big = pattern(300_000);
    for m in [&b"xyz"[..], b"xa", b"q"] {
        publ.send(m, SNDMORE).unwrap();
        publ.send(&big, 0).unwrap();
    }
    let want: [&[&[u8]]; 3] = [&[b"xyz", b"xa"], &[b"xyz"], &[b"xyz", b"xa", b"q"]];
    for (s, want) in subs.iter_mut().zip(want) {
        for w in want {
            let m = recv_parts(s, "fan-out");
            assert_eq!(m.len(), 2);
            assert_eq!(&m[0][..], *w);
            assert!(m[1] == big, "multipart body intact");
        }
    }
}

both_backends!(pubsub_fan_out_tcp, |b| fan_out(b, Tr::Tcp));
both_backends!(pubsub_fan_out_inproc, |b| fan_out(b, Tr::Inproc));

both_backends!(pubsub_pub_drops_at_hwm, |backend| {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    set_opt(&mut publ, SocketOption::SndHwm(10));
    let ep = bind_tcp(&mut publ);
    let mut sub = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub, SocketOption::RcvHwm(10));
    sub_opt(&mut sub, b"");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"s");
    // 50 MB while nobody reads: PUB never blocks, it drops for the full subscriber.
    let n = 100_000u32;
    let mut m = vec![b'd'; 512];
    for i in 0..n {
        m[1..5].copy_from_slice(&i.to_be_bytes());
        publ.send(&m, 0).unwrap();
    }
    // Read until an end marker (re-sent until one fits) arrives after everything queued.
    let mut got = 0u32;
    let mut last: Option<u32> = None;
    loop {
        publ.send(b"end", 0).unwrap();
        let Some(p) = try_recv_parts(&mut sub, 20) else {
            continue;
        };
        if p == vec![b"end".to_vec()] {
            break;
        }
        let i = u32::from_be_bytes(p[0][1..5].try_into().unwrap());
        assert!(last.is_none_or(|l| i > l), "order kept: {i} after {last:?}");
        last = Some(i);
        got += 1;
    }
    assert!(
        got > 0 && got < n,
        "some messages were dropped: got {got} of {n}"
    );
});

/// A raw ZMTP SUB (3.1 or 3.0) subscribes to "a": the PUB must filter before sending.
fn raw_subscriber(backend: Backend, minor: u8) {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let ep = bind_tcp(&mut publ);
    let mut conn = RawConn::connect(&ep);
    conn.handshake(minor, "SUB", None);
    if minor == 1 {
        conn.write(&raw::command(b"\x09SUBSCRIBEa"));
    } else {
        conn.write(&raw::message(b"\x01a", false));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = thread::spawn(move || {
        let mut i = 0u32;
        while !stop2.load(Ordering::Relaxed) {
            publ.send(format!("b-{i}").as_bytes(), 0).unwrap();
            publ.send(format!("a-{i}").as_bytes(), 0).unwrap();
            i += 1;
            if i % 64 == 0 {
                thread::yield_now();
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..50 {
        let f = conn.read_frame(deadline).expect("frame from PUB");
        assert!(!f.is_command() || f.command_name() == Some(b"PING"));
        assert!(f.body.starts_with(b"a-"), "unfiltered frame {f:?}");
    }
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}

both_backends!(pubsub_publisher_filters_zmtp31, |b| raw_subscriber(b, 1));
both_backends!(pubsub_publisher_filters_zmtp30, |b| raw_subscriber(b, 0));

/// A raw ZMTP PUB: the SUB sends its subscriptions in the form the version expects, re-sends
/// them after a reconnect, cancels, and filters what an unfiltering publisher sends.
fn raw_publisher(backend: Backend, minor: u8) {
    let ctx = ctx(backend);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let mut sub = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub, SocketOption::ReconnectIvl(10));
    sub_opt(&mut sub, b"a");
    sub_opt(&mut sub, b"bb");
    connect(&mut sub, &ep);
    let deadline = Instant::now() + Duration::from_secs(30);
    let expect_subs = |conn: &mut RawConn, want: &[(bool, &[u8])]| {
        let mut got = Vec::new();
        while got.len() < want.len() {
            let f: Frame = conn.read_frame(deadline).expect("subscription frame");
            let parsed = if minor == 1 {
                match f.command_name() {
                    Some(b"SUBSCRIBE") => (true, f.body[10..].to_vec()),
                    Some(b"CANCEL") => (false, f.body[7..].to_vec()),
                    _ => panic!("unexpected frame {f:?}"),
                }
            } else {
                assert!(!f.is_command(), "3.0 peers get messages: {f:?}");
                (f.body[0] == 1, f.body[1..].to_vec())
            };
            got.push(parsed);
        }
        got.sort();
        let mut want: Vec<(bool, Vec<u8>)> = want.iter().map(|(o, t)| (*o, t.to_vec())).collect();
        want.sort();
        assert_eq!(got, want);
    };
    for round in 0..2 {
        let (stream, _) = listener.accept().unwrap();
        let mut conn = RawConn::from_stream(stream);
        conn.handshake(minor, "PUB", None);
        // Every connection (the second one is a reconnect) starts with the full set.
        expect_subs(&mut conn, &[(true, b"a"), (true, b"bb")]);
        // An unfiltering publisher: the SUB filters itself.
        let mut out = Vec::new();
        for m in ["b1", "a1", "bb1", "c", "a-end"] {
            out.extend(raw::message(m.as_bytes(), false));
        }
        conn.write(&out);
        let mut got = Vec::new();
        let mut lens = [0usize; 8];
        let mut buf = [0u8; 64];
        while got.last().map(Vec::as_slice) != Some(&b"a-end"[..]) {
            if round == 0 {
                got.push(recv_parts(&mut sub, "filtered").concat());
            } else {
                // The batch receive filters too.
                let n = sub.recv_batch(&mut buf, &mut lens, 0).unwrap();
                let mut off = 0;
                for &l in &lens[..n] {
                    got.push(buf[off..off + l].to_vec());
                    off += l;
                }
            }
        }
        assert_eq!(
            got,
            vec![b"a1".to_vec(), b"bb1".to_vec(), b"a-end".to_vec()]
        );
        if round == 1 {
            set_opt(&mut sub, SocketOption::Unsubscribe(b"bb".to_vec()));
            expect_subs(&mut conn, &[(false, b"bb")]);
            set_opt(&mut sub, SocketOption::Subscribe(b"z".to_vec()));
            expect_subs(&mut conn, &[(true, b"z")]);
        }
        drop(conn); // the SUB reconnects
    }
}

both_backends!(pubsub_subscriber_zmtp31, |b| raw_publisher(b, 1));
both_backends!(pubsub_subscriber_zmtp30, |b| raw_publisher(b, 0));

both_backends!(pubsub_resubscribe_after_publisher_restart, |backend| {
    let ctx = ctx(backend);
    let port = free_tcp_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut sub = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub, SocketOption::ReconnectIvl(10));
    sub_opt(&mut sub, b"r");
    connect(&mut sub, &ep);
    for round in 0..2 {
        let mut publ = socket(&ctx, SocketType::Pub);
        // The previous publisher's listener closes asynchronously: retry until it has.
        poll_until(Duration::from_secs(20), "re-bind", || publ.bind(&ep).ok());
        // A fresh publisher knows nothing: messages flow only if the SUB re-subscribed.
        sync(&mut publ, &mut sub, b"r");
        publ.send(format!("r-round{round}").as_bytes(), 0).unwrap();
        assert_eq!(
            recv_parts(&mut sub, "after restart"),
            vec![format!("r-round{round}").into_bytes()]
        );
    }
});

both_backends!(pubsub_invert_matching, |backend| {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    set_opt(&mut publ, SocketOption::InvertMatching(true));
    let ep = bind_tcp(&mut publ);
    let mut sub = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub, SocketOption::InvertMatching(true));
    sub_opt(&mut sub, b"a");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"s");
    for m in ["a1", "b1", "ab", "c1"] {
        publ.send(m.as_bytes(), 0).unwrap();
    }
    publ.send(b"end", 0).unwrap();
    let mut got = Vec::new();
    loop {
        let m = recv_parts(&mut sub, "inverted").concat();
        if m == b"end" {
            break;
        }
        got.push(String::from_utf8(m).unwrap());
    }
    assert_eq!(got, vec!["b1", "c1"]);
});

both_backends!(pubsub_conflate, |backend| {
    let ctx = ctx(backend);
    // inproc: every send lands in the subscriber's pipe before `send` returns, so the newest
    // message is known exactly.
    let mut publ = socket(&ctx, SocketType::Pub);
    let (ep, _g) = bind_on(&mut publ, Tr::Inproc, "conflate");
    let mut sub = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub, SocketOption::Conflate(true));
    sub_opt(&mut sub, b"");
    connect(&mut sub, &ep);
    sync(&mut publ, &mut sub, b"s");
    for i in 0..500u32 {
        publ.send(&i.to_be_bytes(), 0).unwrap();
    }
    assert_eq!(sub.recv_bytes(0).unwrap(), 499u32.to_be_bytes());
    assert!(matches!(sub.recv_bytes(DONTWAIT), Err(Error::Again)));
    // Over tcp the newest message queued at the time of the read is taken: increasing ids.
    let mut publ2 = socket(&ctx, SocketType::Pub);
    set_opt(&mut publ2, SocketOption::SndHwm(0)); // no drops at the publisher
    let ep2 = bind_tcp(&mut publ2);
    let mut sub2 = socket(&ctx, SocketType::Sub);
    set_opt(&mut sub2, SocketOption::Conflate(true));
    sub_opt(&mut sub2, b"");
    connect(&mut sub2, &ep2);
    sync(&mut publ2, &mut sub2, b"s");
    for i in 0..2000u32 {
        publ2.send(&i.to_be_bytes(), 0).unwrap();
    }
    let mut last = None;
    while last != Some(1999u32) {
        let i = u32::from_be_bytes(sub2.recv_bytes(0).unwrap().try_into().unwrap());
        assert!(last.is_none_or(|l| i > l));
        last = Some(i);
    }
});

both_backends!(pubsub_batches, |backend| {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    set_opt(&mut publ, SocketOption::SndHwm(0)); // no drops at the publisher
    let ep = bind_tcp(&mut publ);
    let mut sa = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sa, b"a");
    connect(&mut sa, &ep);
    let mut sb = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sb, b"b");
    connect(&mut sb, &ep);
    sync(&mut publ, &mut sa, b"a");
    sync(&mut publ, &mut sb, b"b");
    let msgs: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let mut m = vec![if i % 3 == 0 { b'b' } else { b'a' }];
            m.extend_from_slice(&i.to_be_bytes());
            m
        })
        .collect();
    assert_eq!(publ.send_batch(&msgs, 0).unwrap(), msgs.len());
    assert_eq!(publ.send_repeat(b"b-rep", 10, 0).unwrap(), 10);
    let mut buf = vec![0u8; 4096];
    let mut lens = [0usize; 256];
    for (sock, want) in [
        (
            &mut sa,
            msgs.iter()
                .filter(|m| m[0] == b'a')
                .cloned()
                .collect::<Vec<_>>(),
        ),
        (
            &mut sb,
            msgs.iter()
                .filter(|m| m[0] == b'b')
                .cloned()
                .chain((0..10).map(|_| b"b-rep".to_vec()))
                .collect(),
        ),
    ] {
        let mut got = Vec::new();
        while got.len() < want.len() {
            let n = sock.recv_batch(&mut buf, &mut lens, 0).unwrap();
            let mut off = 0;
            for &l in &lens[..n] {
                got.push(buf[off..off + l].to_vec());
                off += l;
            }
        }
        assert_eq!(got, want);
    }
});

both_backends!(pubsub_api_errors, |backend| {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let mut sub = socket(&ctx, SocketType::Sub);
    assert!(matches!(sub.send(b"x", 0), Err(Error::NotSupported)));
    assert!(matches!(
        publ.recv_bytes(DONTWAIT),
        Err(Error::NotSupported)
    ));
    assert!(publ
        .set_option(SocketOption::Subscribe(b"x".to_vec()))
        .is_err());
    assert!(sub.set_option(SocketOption::XpubVerbose(true)).is_err());
    assert!(sub.set_option(SocketOption::XpubNoDrop(true)).is_err());
    let mut dealer = socket(&ctx, SocketType::Dealer);
    assert!(dealer
        .set_option(SocketOption::InvertMatching(true))
        .is_err());
    assert!(dealer.set_option(SocketOption::StreamNotify(true)).is_err());
    let mut xpub = socket(&ctx, SocketType::XPub);
    // SUBSCRIBE on XPUB is for XPUB_MANUAL only.
    assert!(xpub
        .set_option(SocketOption::Subscribe(b"x".to_vec()))
        .is_err());
    assert!(matches!(
        xpub.recv_batch(&mut [0u8; 8], &mut [0usize; 2], DONTWAIT),
        Err(Error::NotSupported)
    ));
    // PUB and XPUB can always send; SUB never.
    assert_eq!(publ.events().unwrap() & POLLOUT, POLLOUT);
    assert!(!sub.events().unwrap().contains(POLLOUT));
    // With no subscriber a PUB drops silently.
    publ.send(b"nobody", 0).unwrap();
});

// ----- XPUB / XSUB -------------------------------------------------------------------------

fn xpub_with(ctx: &Context, opts: &[SocketOption]) -> (Socket, String) {
    let mut x = socket(ctx, SocketType::XPub);
    for o in opts {
        set_opt(&mut x, o.clone());
    }
    let ep = bind_tcp(&mut x);
    (x, ep)
}

fn sub_to(ctx: &Context, ep: &str, topics: &[&[u8]]) -> Socket {
    let mut s = socket(ctx, SocketType::Sub);
    for t in topics {
        sub_opt(&mut s, t);
    }
    connect(&mut s, ep);
    s
}

fn note(x: &mut Socket) -> Vec<u8> {
    recv_parts(x, "notification").concat()
}

// libzmq takes any frame of an upstream message that starts with 0/1 as an (un)subscription.
// When such a frame ends a data message, the message ends at its last data frame (no MORE
// left dangling) and the notification follows it, never between its frames.
both_backends!(xpub_subscription_frame_inside_a_data_message, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[]);
    let mut conn = RawConn::connect(&ep);
    conn.handshake(1, "XSUB", None);
    let mut wire = raw::message(b"x", true);
    wire.extend(raw::message(b"\x01abc", false));
    wire.extend(raw::message(b"y1", true));
    wire.extend(raw::message(b"\x01def", true));
    wire.extend(raw::message(b"y2", false));
    conn.write(&wire);
    assert_eq!(recv_parts(&mut x, "x"), vec![b"x".to_vec()]);
    assert_eq!(
        recv_parts(&mut x, "notification"),
        vec![b"\x01abc".to_vec()]
    );
    assert_eq!(
        recv_parts(&mut x, "y1 y2"),
        vec![b"y1".to_vec(), b"y2".to_vec()]
    );
    assert_eq!(
        recv_parts(&mut x, "notification"),
        vec![b"\x01def".to_vec()]
    );
});

both_backends!(xpub_notifications, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[]);
    let mut s1 = sub_to(&ctx, &ep, &[b"t"]);
    assert_eq!(note(&mut x), b"\x01t");
    let mut s2 = sub_to(&ctx, &ep, &[b"t", b"u"]);
    // The second subscriber's "t" is not new: only "u" is announced.
    assert_eq!(note(&mut x), b"\x01u");
    set_opt(&mut s1, SocketOption::Unsubscribe(b"t".to_vec()));
    sub_opt(&mut s1, b"v");
    assert_eq!(note(&mut x), b"\x01v", "t is still held by s2");
    set_opt(&mut s2, SocketOption::Unsubscribe(b"t".to_vec()));
    assert_eq!(note(&mut x), b"\x00t", "the last holder left");
    // Messages go where the subscriptions are.
    x.send(b"v-1", 0).unwrap();
    x.send(b"u-1", 0).unwrap();
    assert_eq!(recv_parts(&mut s1, "v-1"), vec![b"v-1".to_vec()]);
    assert_eq!(recv_parts(&mut s2, "u-1"), vec![b"u-1".to_vec()]);
    // A subscriber that goes away takes its topics with it.
    drop(s2);
    assert_eq!(note(&mut x), b"\x00u");
    assert!(x.events().unwrap().contains(POLLOUT));
});

both_backends!(xpub_verbose_and_verboser, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[SocketOption::XpubVerbose(true)]);
    let _s1 = sub_to(&ctx, &ep, &[b"t"]);
    assert_eq!(note(&mut x), b"\x01t");
    let mut s2 = sub_to(&ctx, &ep, &[b"t"]);
    assert_eq!(note(&mut x), b"\x01t", "VERBOSE passes duplicates");
    set_opt(&mut s2, SocketOption::Unsubscribe(b"t".to_vec()));
    sub_opt(&mut s2, b"w");
    assert_eq!(
        note(&mut x),
        b"\x01w",
        "VERBOSE hides non-last unsubscriptions"
    );

    let (mut y, ep) = xpub_with(&ctx, &[SocketOption::XpubVerboser(true)]);
    let _s3 = sub_to(&ctx, &ep, &[b"t"]);
    assert_eq!(note(&mut y), b"\x01t");
    let mut s4 = sub_to(&ctx, &ep, &[b"t"]);
    assert_eq!(note(&mut y), b"\x01t");
    set_opt(&mut s4, SocketOption::Unsubscribe(b"t".to_vec()));
    assert_eq!(
        note(&mut y),
        b"\x00t",
        "VERBOSER passes every unsubscription"
    );
});

both_backends!(xpub_manual, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[SocketOption::XpubManual(true)]);
    let mut s = sub_to(&ctx, &ep, &[b"m"]);
    assert_eq!(note(&mut x), b"\x01m");
    // Not applied yet: this message reaches nobody.
    x.send(b"m-1", 0).unwrap();
    // The application decides what the peer gets: here a narrower topic than it asked for.
    set_opt(&mut x, SocketOption::Subscribe(b"m-x".to_vec()));
    x.send(b"m-2", 0).unwrap();
    x.send(b"m-x3", 0).unwrap();
    assert_eq!(recv_parts(&mut s, "m-x3"), vec![b"m-x3".to_vec()]);
    set_opt(&mut x, SocketOption::Subscribe(b"m".to_vec()));
    x.send(b"m-4", 0).unwrap();
    assert_eq!(recv_parts(&mut s, "m-4"), vec![b"m-4".to_vec()]);
    sub_opt(&mut s, b"n");
    assert_eq!(note(&mut x), b"\x01n");
    set_opt(&mut s, SocketOption::Unsubscribe(b"m".to_vec()));
    assert_eq!(note(&mut x), b"\x00m", "manual mode passes unsubscriptions");
    set_opt(&mut x, SocketOption::Unsubscribe(b"m".to_vec()));
    set_opt(&mut x, SocketOption::Unsubscribe(b"m-x".to_vec()));
    set_opt(&mut x, SocketOption::Subscribe(b"n".to_vec()));
    x.send(b"m-5", 0).unwrap();
    x.send(b"n-1", 0).unwrap();
    assert_eq!(recv_parts(&mut s, "n-1"), vec![b"n-1".to_vec()]);
});

both_backends!(xpub_manual_last_value, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[SocketOption::XpubManualLastValue(true)]);
    let mut s1 = sub_to(&ctx, &ep, &[b"k"]);
    assert_eq!(note(&mut x), b"\x01k");
    set_opt(&mut x, SocketOption::Subscribe(b"k".to_vec()));
    let mut s2 = sub_to(&ctx, &ep, &[b"k"]);
    assert_eq!(note(&mut x), b"\x01k");
    set_opt(&mut x, SocketOption::Subscribe(b"k".to_vec()));
    // The next message goes only to the peer of the last notification (s2), later ones to all.
    x.send(b"k-last", 0).unwrap();
    x.send(b"k-all", 0).unwrap();
    assert_eq!(recv_parts(&mut s2, "k-last"), vec![b"k-last".to_vec()]);
    assert_eq!(recv_parts(&mut s2, "k-all"), vec![b"k-all".to_vec()]);
    assert_eq!(recv_parts(&mut s1, "k-all"), vec![b"k-all".to_vec()]);
});

both_backends!(xpub_nodrop, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(
        &ctx,
        &[SocketOption::XpubNoDrop(true), SocketOption::SndHwm(2)],
    );
    let mut s = socket(&ctx, SocketType::Sub);
    set_opt(&mut s, SocketOption::RcvHwm(2));
    sub_opt(&mut s, b"");
    connect(&mut s, &ep);
    assert_eq!(note(&mut x), b"\x01");
    // Fill the subscriber: NODROP makes the send fail with EAGAIN instead of dropping.
    let big = vec![7u8; 64 * 1024];
    let mut sent = 0u32;
    loop {
        match x.send(&big, DONTWAIT) {
            Ok(()) => sent += 1,
            Err(Error::Again) => break,
            Err(e) => panic!("send: {e}"),
        }
        assert!(sent < 100_000, "EAGAIN never came");
    }
    assert!(
        x.events().unwrap().contains(POLLOUT),
        "XPUB reports POLLOUT like libzmq"
    );
    // Everything sent arrives (nothing was dropped), then a blocking send completes.
    let t = thread::spawn(move || {
        for _ in 0..sent + 1 {
            assert_eq!(s.recv_bytes(0).unwrap().len(), big.len());
        }
    });
    x.send(&vec![7u8; 64 * 1024], 0).unwrap();
    t.join().unwrap();
});

both_backends!(xpub_welcome_message, |backend| {
    let ctx = ctx(backend);
    let (mut x, ep) = xpub_with(&ctx, &[SocketOption::XpubWelcomeMsg(b"W-hi".to_vec())]);
    let mut s = sub_to(&ctx, &ep, &[b"W"]);
    // As in libzmq, the XPUB greets a peer when it takes the connection in: on its next call.
    assert_eq!(note(&mut x), b"\x01W");
    assert_eq!(recv_parts(&mut s, "welcome"), vec![b"W-hi".to_vec()]);
});

fn xsub_xpub(backend: Backend, tr: Tr) {
    let ctx = ctx(backend);
    let mut x = socket(&ctx, SocketType::XPub);
    set_opt(&mut x, SocketOption::OnlyFirstSubscribe(true));
    let (ep, _g) = bind_on(&mut x, tr, "xsub");
    let mut xs = socket(&ctx, SocketType::XSub);
    connect(&mut xs, &ep);
    xs.send(b"\x01q", 0).unwrap();
    assert_eq!(note(&mut x), b"\x01q");
    x.send(b"q-1", SNDMORE).unwrap();
    x.send(b"tail", 0).unwrap();
    x.send(b"r-1", 0).unwrap();
    x.send(b"q-2", 0).unwrap();
    assert_eq!(
        recv_parts(&mut xs, "q-1"),
        vec![b"q-1".to_vec(), b"tail".to_vec()]
    );
    assert_eq!(recv_parts(&mut xs, "q-2"), vec![b"q-2".to_vec()]);
    // User data goes upstream as it is (ONLY_FIRST_SUBSCRIBE: a later frame starting with
    // 0x01 is data, not a subscription).
    xs.send(b"up", SNDMORE).unwrap();
    xs.send(b"\x01zzz", 0).unwrap();
    assert_eq!(
        recv_parts(&mut x, "upstream data"),
        vec![b"up".to_vec(), b"\x01zzz".to_vec()]
    );
    xs.send(b"\x00q", 0).unwrap();
    assert_eq!(note(&mut x), b"\x00q");
    assert_eq!(xs.topics_count(), 0);
}

both_backends!(xsub_xpub_tcp, |b| xsub_xpub(b, Tr::Tcp));
both_backends!(xsub_xpub_inproc, |b| xsub_xpub(b, Tr::Inproc));

// ----- pyzmq interop -----------------------------------------------------------------------

fn py(role: &str, mode: &str, ep: &str, extra: &[&str]) -> PyPeer {
    let mut args = vec![role, mode, ep];
    args.extend_from_slice(extra);
    PyPeer::spawn_script("pubsub_peer", &args)
}

/// Start `pubsub_peer.py ROLE`: it connects to `sock`'s new tcp endpoint if `rl_binds`,
/// otherwise it binds and `sock` connects to it.
fn link_py(sock: &mut Socket, rl_binds: bool, role: &str, extra: &[&str]) -> PyPeer {
    let mut p = if rl_binds {
        let ep = bind_tcp(sock);
        py(role, "connect", &ep, extra)
    } else {
        py(role, "bind", "tcp://127.0.0.1:*", extra)
    };
    let ep = p.endpoint();
    if !rl_binds {
        connect(sock, &ep);
    }
    p
}

fn check_topic_msg(m: &[Vec<u8>], topic: &str) {
    assert_eq!(m.len(), 2, "two frames: {m:?}");
    let head = String::from_utf8_lossy(&m[0]).into_owned();
    let i: usize = head
        .strip_prefix(&format!("{topic}-"))
        .unwrap_or_else(|| panic!("topic of {head:?} is not {topic}"))
        .parse()
        .unwrap();
    assert_eq!(m[1], vec![b'x'; i % 100]);
}

/// pyzmq PUB → ringlink SUB (the publisher filters on our SUBSCRIBE command).
fn py_pub_to_sub(backend: Backend, rl_binds: bool) {
    let ctx = ctx(backend);
    let mut sub = socket(&ctx, SocketType::Sub);
    sub_opt(&mut sub, b"A");
    let mut peer = link_py(&mut sub, rl_binds, "pub", &[]);
    let control = peer.expect("CONTROL ").trim().to_owned();
    for _ in 0..200 {
        check_topic_msg(&recv_parts(&mut sub, "from pyzmq PUB"), "A");
    }
    let mut stop = socket(&ctx, SocketType::Push);
    connect(&mut stop, &control);
    stop.send(b"stop", 0).unwrap();
    peer.finish();
}

both_backends!(interop_py_pub_to_sub_connect, |b| py_pub_to_sub(b, false));
both_backends!(interop_py_pub_to_sub_bind, |b| py_pub_to_sub(b, true));

/// ringlink PUB → pyzmq SUB.
fn pub_to_py_sub(backend: Backend, rl_binds: bool) {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    let peer = link_py(&mut publ, rl_binds, "sub", &["--count", "300"]);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = thread::spawn(move || {
        let mut i = 0usize;
        while !stop2.load(Ordering::Relaxed) {
            for topic in ["B", "A"] {
                publ.send(format!("{topic}-{i}").as_bytes(), SNDMORE)
                    .unwrap();
                publ.send(&vec![b'x'; i % 100], 0).unwrap();
            }
            i += 1;
            if i % 32 == 0 {
                thread::sleep(Duration::from_millis(1)); // pace: the SUB is a Python loop
            }
        }
    });
    peer.finish();
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}

both_backends!(interop_pub_to_py_sub_bind, |b| pub_to_py_sub(b, true));
both_backends!(interop_pub_to_py_sub_connect, |b| pub_to_py_sub(b, false));

/// pyzmq XPUB ↔ ringlink XSUB: subscription, filtered messages, upstream data, cancel.
fn py_xpub_to_xsub(backend: Backend, rl_binds: bool) {
    let ctx = ctx(backend);
    let mut xs = socket(&ctx, SocketType::XSub);
    let mut peer = link_py(&mut xs, rl_binds, "xpub", &["--count", "50"]);
    xs.send(b"\x01A", 0).unwrap();
    peer.expect("SUBSCRIBED");
    for _ in 0..50 {
        check_topic_msg(&recv_parts(&mut xs, "from pyzmq XPUB"), "A");
    }
    assert_eq!(
        recv_parts(&mut xs, "end"),
        vec![b"A-END".to_vec(), Vec::new()]
    );
    xs.send(b"hello-up", 0).unwrap();
    xs.send(b"\x00A", 0).unwrap();
    peer.finish();
}

both_backends!(interop_py_xpub_to_xsub_connect, |b| py_xpub_to_xsub(
    b, false
));
both_backends!(interop_py_xpub_to_xsub_bind, |b| py_xpub_to_xsub(b, true));

/// ringlink XPUB ↔ pyzmq XSUB.
fn xpub_to_py_xsub(backend: Backend, rl_binds: bool) {
    let ctx = ctx(backend);
    let mut x = socket(&ctx, SocketType::XPub);
    let peer = link_py(&mut x, rl_binds, "xsub", &["--count", "50"]);
    assert_eq!(note(&mut x), b"\x01A");
    for i in 0..50usize {
        for topic in ["B", "A"] {
            x.send(format!("{topic}-{i}").as_bytes(), SNDMORE).unwrap();
            x.send(&vec![b'x'; i % 100], 0).unwrap();
        }
    }
    x.send(b"A-END", SNDMORE).unwrap();
    x.send(b"", 0).unwrap();
    assert_eq!(
        recv_parts(&mut x, "upstream data"),
        vec![b"hello-up".to_vec()]
    );
    assert_eq!(note(&mut x), b"\x00A");
    peer.finish();
}

both_backends!(interop_xpub_to_py_xsub_bind, |b| xpub_to_py_xsub(b, true));
both_backends!(interop_xpub_to_py_xsub_connect, |b| xpub_to_py_xsub(
    b, false
));

// ----- through a proxy (XSUB frontend, XPUB backend) ----------------------------------------

/// A proxy on its own thread: XSUB binds `front`, XPUB binds `back`; TERMINATE over inproc.
fn start_proxy(ctx: &Context) -> (String, String, Socket, thread::JoinHandle<()>) {
    let mut xsub = socket(ctx, SocketType::XSub);
    let front = bind_tcp(&mut xsub);
    let mut xpub = socket(ctx, SocketType::XPub);
    let back = bind_tcp(&mut xpub);
    let name = format!("inproc://{}", unique_name("proxy-ctl"));
    let mut ctl = socket(ctx, SocketType::Pair);
    ctl.bind(&name).unwrap();
    let mut ctl_peer = socket(ctx, SocketType::Pair);
    ctl_peer.connect(&name).unwrap();
    let t = thread::spawn(move || {
        ringlink::proxy_steerable(&mut xsub, &mut xpub, None, &mut ctl).unwrap();
    });
    (front, back, ctl_peer, t)
}

both_backends!(proxy_forwards_subscriptions, |backend| {
    let ctx = ctx(backend);
    let (front, back, mut ctl, t) = start_proxy(&ctx);
    let mut publ = socket(&ctx, SocketType::Pub);
    connect(&mut publ, &front);
    let mut sub = sub_to(&ctx, &back, &[b"A"]);
    // Messages flow only once "A" went SUB → XPUB → proxy → XSUB → PUB.
    sync(&mut publ, &mut sub, b"A");
    publ.send(b"B-1", 0).unwrap();
    publ.send(b"A-1", 0).unwrap();
    assert_eq!(recv_parts(&mut sub, "A-1"), vec![b"A-1".to_vec()]);
    ctl.send(b"TERMINATE", 0).unwrap();
    t.join().unwrap();
});

both_backends!(interop_pyzmq_pub_and_sub_through_proxy, |backend| {
    let ctx = ctx(backend);
    let (front, back, mut ctl, t) = start_proxy(&ctx);
    let mut publisher = py("pub", "connect", &front, &[]);
    publisher.endpoint();
    let control = publisher.expect("CONTROL ").trim().to_owned();
    // The pyzmq SUB's subscription reaches the pyzmq PUB only through the proxy.
    let subscriber = py("sub", "connect", &back, &["--topic", "A", "--count", "200"]);
    subscriber.finish();
    let mut stop = socket(&ctx, SocketType::Push);
    connect(&mut stop, &control);
    stop.send(b"stop", 0).unwrap();
    publisher.finish();
    ctl.send(b"TERMINATE", 0).unwrap();
    t.join().unwrap();
});

// Large bodies go to several tcp subscribers from one shared buffer: many of them, with the
// subscribers reading slowly (partial sends, HWM pauses), multipart and mixed sizes.
both_backends!(pubsub_large_fan_out_shared_bodies, |backend| {
    let ctx = ctx(backend);
    let mut publ = socket(&ctx, SocketType::Pub);
    set_opt(&mut publ, SocketOption::SndHwm(0));
    let ep = bind_tcp(&mut publ);
    let mut subs: Vec<Socket> = (0..4)
        .map(|_| {
            let mut s = socket(&ctx, SocketType::Sub);
            set_opt(&mut s, SocketOption::RcvHwm(4));
            sub_opt(&mut s, b"");
            connect(&mut s, &ep);
            s
        })
        .collect();
    for s in subs.iter_mut() {
        sync(&mut publ, s, b"sync");
    }
    publ.send(b"sync-go", 0).unwrap();
    for s in subs.iter_mut() {
        while recv_parts(s, "go") != vec![b"sync-go".to_vec()] {}
    }
    let n = 200usize;
    let body = |i: usize| {
        let mut b = pattern(8 * 1024 + (i * 7919) % (300 * 1024));
        b[0] = i as u8;
        b
    };
    let t = thread::spawn(move || {
        for i in 0..n {
            publ.send(&(i as u32).to_be_bytes(), SNDMORE).unwrap();
            publ.send(&body(i), 0).unwrap();
        }
        publ
    });
    for i in 0..n {
        for s in subs.iter_mut() {
            let m = recv_parts(s, "large");
            assert_eq!(m[0], (i as u32).to_be_bytes());
            assert!(m[1] == body(i), "body {i} intact");
        }
    }
    drop(t.join().unwrap());
});
