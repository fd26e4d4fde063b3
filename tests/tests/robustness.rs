//! Misbehaving and minimal peers: raw TCP clients speaking (or failing to speak) ZMTP to a
//! ringlink socket. A bad peer must lose its own connection and nothing else; a correct
//! byte-level peer must interoperate. Also: 1000 connections to one ROUTER.

use std::time::{Duration, Instant};

use ringlink_tests::raw::{self, RawConn};
use ringlink_tests::*;

/// How long a misbehaving connection may stay open before the test fails.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

fn deadline() -> Instant {
    Instant::now() + CLOSE_DEADLINE
}

/// A ROUTER (with `opts`) bound on tcp, and a well-behaved DEALER ("good") connected to it
/// and checked with a round trip.
fn router_with_good_peer(ctx: &Context, opts: &[SocketOption]) -> (Socket, String, Socket) {
    let mut router = socket(ctx, SocketType::Router);
    for o in opts {
        set_opt(&mut router, o.clone());
    }
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    let ep = bind_tcp(&mut router);
    let mut good = socket(ctx, SocketType::Dealer);
    set_opt(&mut good, SocketOption::RoutingId(b"good".to_vec()));
    connect(&mut good, &ep);
    check_alive(&mut router, &mut good, "before");
    (router, ep, good)
}

/// The good DEALER and the ROUTER still exchange messages both ways.
fn check_alive(router: &mut Socket, good: &mut Socket, tag: &str) {
    let body = format!("alive {tag}").into_bytes();
    good.send(&body, 0)
        .unwrap_or_else(|e| panic!("good peer send ({tag}): {e}"));
    let got = recv_parts(router, &format!("good peer's message ({tag})"));
    assert_eq!(got, vec![b"good".to_vec(), body.clone()], "({tag})");
    router
        .send_multipart(&[&b"good"[..], &body], 0)
        .unwrap_or_else(|e| panic!("reply to the good peer ({tag}): {e}"));
    let got = recv_parts(good, &format!("reply to the good peer ({tag})"));
    assert_eq!(got, vec![body], "({tag})");
}

/// Property `name` of a READY command body, if present.
fn ready_property(ready: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut rest = ready.get(6..)?; // 0x05 "READY"
    while !rest.is_empty() {
        let n = rest[0] as usize;
        let key = rest.get(1..1 + n)?;
        let vlen = u32::from_be_bytes(rest.get(1 + n..5 + n)?.try_into().ok()?) as usize;
        let value = rest.get(5 + n..5 + n + vlen)?;
        if key.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(value.to_vec());
        }
        rest = &rest[5 + n + vlen..];
    }
    None
}

both_backends!(garbage_instead_of_greeting_is_closed, |backend| {
    let ctx = ctx(backend);
    let (mut router, ep, mut good) = router_with_good_peer(&ctx, &[]);
    let mut bad = RawConn::connect(&ep);
    let garbage = b"GET / HTTP/1.1\r\nHost: ringlink.test\r\nAccept: */*\r\n\r\n".repeat(20);
    bad.write_lenient(&garbage);
    let got = bad.expect_closed(deadline());
    // Whatever ringlink sent before closing can only be (part of) its greeting.
    assert!(got.len() <= 64, "got {} bytes from ringlink", got.len());
    if let Some(&b0) = got.first() {
        assert_eq!(b0, 0xFF, "ringlink's greeting starts with 0xFF");
    }
    check_alive(&mut router, &mut good, "after garbage");

    // A bad signature in an otherwise well-formed greeting (byte 9 without its low bit).
    let mut bad = RawConn::connect(&ep);
    let mut g = raw::greeting(1);
    g[9] = 0x7E;
    bad.write_lenient(&g);
    bad.expect_closed(deadline());
    // A ZMTP 2.0 (major version 1) greeting.
    let mut bad = RawConn::connect(&ep);
    let mut g = raw::greeting(1);
    g[10] = 1;
    bad.write_lenient(&g);
    bad.expect_closed(deadline());
    check_alive(&mut router, &mut good, "after bad greetings");
});

both_backends!(frame_over_max_msg_size_is_closed, |backend| {
    let ctx = ctx(backend);
    let (mut router, ep, mut good) = router_with_good_peer(&ctx, &[SocketOption::MaxMsgSize(1000)]);
    let mut raw = RawConn::connect(&ep);
    raw.handshake(1, "DEALER", Some(b"raw"));
    // Exactly the limit is fine.
    raw.write(&raw::message(&[0xAB; 1000], false));
    let got = recv_parts(&mut router, "1000-byte frame");
    assert_eq!(got, vec![b"raw".to_vec(), vec![0xAB; 1000]]);
    // One byte more disconnects the peer.
    raw.write_lenient(&raw::message(&[0xCD; 1001], false));
    raw.expect_closed(deadline());
    check_alive(&mut router, &mut good, "after oversize frame");
    assert!(
        try_recv_parts(&mut router, 100).is_none(),
        "the oversize frame was delivered"
    );

    // A long-frame header announcing 1 TiB: closed without waiting for (or allocating) it.
    let mut raw = RawConn::connect(&ep);
    raw.handshake(1, "DEALER", Some(b"raw2"));
    let mut hdr = vec![0x02];
    hdr.extend_from_slice(&(1u64 << 40).to_be_bytes());
    raw.write_lenient(&hdr);
    raw.expect_closed(deadline());
    check_alive(&mut router, &mut good, "after 1 TiB header");
});

both_backends!(
    absurd_frame_length_without_max_msg_size_is_closed,
    |backend| {
        // Default options (MAXMSGSIZE unset): a frame announced larger than this machine's
        // memory can never be buffered; the connection is closed at its header (libzmq's
        // failing malloc does the same) and the process is unharmed.
        let ctx = ctx(backend);
        let (mut router, ep, mut good) = router_with_good_peer(&ctx, &[]);
        for (i, size) in [1u64 << 62, u64::MAX, 1 << 63].into_iter().enumerate() {
            let mut raw = RawConn::connect(&ep);
            raw.handshake(1, "DEALER", Some(format!("huge{i}").as_bytes()));
            let mut hdr = vec![0x02];
            hdr.extend_from_slice(&size.to_be_bytes());
            hdr.extend_from_slice(&[0xEE; 100]);
            raw.write_lenient(&hdr);
            raw.expect_closed(deadline());
            check_alive(
                &mut router,
                &mut good,
                &format!("after a {size}-byte header"),
            );
        }
        // Same for a REP server.
        let mut rep = socket(&ctx, SocketType::Rep);
        let ep = bind_tcp(&mut rep);
        let mut raw = RawConn::connect(&ep);
        raw.handshake(1, "REQ", None);
        let mut msg = vec![0x01, 0x00, 0x02];
        msg.extend_from_slice(&(1u64 << 62).to_be_bytes());
        raw.write_lenient(&msg);
        raw.expect_closed(deadline());
    }
);

both_backends!(reserved_flag_bits_are_closed, |backend| {
    let ctx = ctx(backend);
    let (mut router, ep, mut good) = router_with_good_peer(&ctx, &[]);
    for flags in [0x10u8, 0x80, 0x08] {
        let mut raw = RawConn::connect(&ep);
        raw.handshake(1, "DEALER", Some(b"rsv"));
        raw.write_lenient(&raw::frame_with_flags(flags, b"x"));
        raw.expect_closed(deadline());
        check_alive(&mut router, &mut good, &format!("after flags {flags:#04x}"));
    }
    assert!(
        try_recv_parts(&mut router, 100).is_none(),
        "a frame with reserved flags was delivered"
    );
});

both_backends!(half_handshake_times_out, |backend| {
    let ctx = ctx(backend);
    let (mut router, ep, mut good) =
        router_with_good_peer(&ctx, &[SocketOption::HandshakeIvl(200)]);
    let start = Instant::now();
    let mut raw = RawConn::connect(&ep);
    raw.write(&raw::greeting(1)[..10]);
    raw.expect_closed(deadline());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(190),
        "closed after {elapsed:?}, before HANDSHAKE_IVL (200 ms)"
    );
    // A silent client (connects, sends nothing) is dropped too.
    let mut silent = RawConn::connect(&ep);
    silent.expect_closed(deadline());
    check_alive(&mut router, &mut good, "after handshake timeouts");
});

both_backends!(raw_client_byte_level_compat, |backend| {
    let ctx = ctx(backend);
    let mut pair = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut pair);
    let mut raw = RawConn::connect(&ep);
    let ready = raw.handshake(1, "PAIR", None);
    assert_eq!(
        ready_property(&ready.body, "Socket-Type").as_deref(),
        Some(&b"PAIR"[..]),
        "READY {:?}",
        String::from_utf8_lossy(&ready.body)
    );
    // ringlink's greeting is exactly libzmq 4.3's.
    assert_eq!(raw.received[..64], raw::greeting(1)[..]);

    let mut out = raw::message(b"hello", true);
    out.extend(raw::message(b"", true));
    out.extend(raw::message(b"world", false));
    out.extend(raw::message(&[0x42; 300], false)); // long form
    out.extend(raw::message(b"", false));
    raw.write(&out);
    assert_eq!(
        recv_parts(&mut pair, "raw multipart"),
        vec![b"hello".to_vec(), Vec::new(), b"world".to_vec()]
    );
    assert_eq!(
        recv_parts(&mut pair, "raw long frame"),
        vec![vec![0x42; 300]]
    );
    assert_eq!(recv_parts(&mut pair, "raw empty"), vec![Vec::<u8>::new()]);

    pair.send(b"reply", 0).expect("reply");
    pair.send_multipart(&[&b"a"[..], b"b"], 0)
        .expect("multipart");
    pair.send(&[0x17; 256], 0).expect("long");
    let d = deadline();
    let mut next = || {
        let f = raw.read_frame(d).expect("frame from ringlink");
        // Skip heartbeats, if any; ringlink sends none unless configured.
        assert!(!f.is_command(), "unexpected command {f:02x?}");
        f
    };
    assert_eq!(
        next(),
        raw::Frame {
            flags: 0,
            body: b"reply".to_vec()
        }
    );
    assert_eq!(
        next(),
        raw::Frame {
            flags: 1,
            body: b"a".to_vec()
        }
    );
    assert_eq!(
        next(),
        raw::Frame {
            flags: 0,
            body: b"b".to_vec()
        }
    );
    assert_eq!(
        next(),
        raw::Frame {
            flags: 2,
            body: vec![0x17; 256]
        }
    );
});

both_backends!(incompatible_socket_type_is_closed, |backend| {
    let ctx = ctx(backend);
    let mut pair = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut pair);
    let mut raw = RawConn::connect(&ep);
    let mut out = raw::greeting(1);
    out.extend(raw::ready("PUB", None));
    raw.write_lenient(&out);
    let got = raw.expect_closed(deadline());
    assert!(
        raw::contains(&got, b"\x05ERROR"),
        "no ERROR command before the close; got {} bytes: {:02x?}",
        got.len(),
        &got[..got.len().min(200)]
    );
    // The PAIR is still free for a compatible peer.
    let mut peer = socket(&ctx, SocketType::Pair);
    connect(&mut peer, &ep);
    peer.send(b"compatible", 0).expect("send");
    assert_eq!(
        recv_parts(&mut pair, "compatible"),
        vec![b"compatible".to_vec()]
    );
    pair.send(b"back", 0).expect("reply");
    assert_eq!(recv_parts(&mut peer, "reply"), vec![b"back".to_vec()]);

    // A ROUTER does not take a PAIR either.
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut raw = RawConn::connect(&ep);
    let mut out = raw::greeting(1);
    out.extend(raw::ready("PAIR", None));
    raw.write_lenient(&out);
    let got = raw.expect_closed(deadline());
    assert!(
        raw::contains(&got, b"\x05ERROR"),
        "no ERROR command before the close"
    );
});

both_backends!(zmtp_3_0_greeting_is_accepted, |backend| {
    let ctx = ctx(backend);
    let mut pair = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut pair);
    let mut raw = RawConn::connect(&ep);
    raw.handshake(0, "PAIR", None);
    raw.write(&raw::message(b"from a 3.0 peer", false));
    assert_eq!(
        recv_parts(&mut pair, "message from a ZMTP 3.0 peer"),
        vec![b"from a 3.0 peer".to_vec()]
    );
    pair.send(b"to a 3.0 peer", 0).expect("reply");
    let f = raw.read_frame(deadline()).expect("reply frame");
    assert_eq!(
        f,
        raw::Frame {
            flags: 0,
            body: b"to a 3.0 peer".to_vec()
        }
    );
});

/// The thousand-connection tests take about 3,000 descriptors each (a client socket, an
/// accepted one and a DEALER's mailbox per connection): two at once would not fit a common
/// 4,096 limit, and a table that is full makes connections wait (CI run of 1fdab01).
static THOUSAND: std::sync::Mutex<()> = std::sync::Mutex::new(());

both_backends!(thousand_connections, |backend| {
    const N: usize = 1000;
    let _one_at_a_time = THOUSAND.lock().unwrap_or_else(|e| e.into_inner());
    ringlink::raise_fd_limit();
    // SAFETY: getrlimit on a valid rlimit struct.
    let limit = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur
    };
    assert!(
        limit >= (3 * N + 512) as u64,
        "this test needs {} descriptors; RLIMIT_NOFILE allows {limit} (raise `ulimit -Hn`)",
        3 * N + 512
    );
    let start = Instant::now();
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    set_opt(&mut router, SocketOption::Backlog(N as i32));
    let ep = bind_tcp(&mut router);
    let id = |i: usize| format!("dealer-{i:04}").into_bytes();
    let mut dealers: Vec<Socket> = (0..N)
        .map(|i| {
            let mut d = socket(&ctx, SocketType::Dealer);
            set_opt(&mut d, SocketOption::RoutingId(id(i)));
            connect(&mut d, &ep);
            d.send(format!("hello from {i}").as_bytes(), 0)
                .unwrap_or_else(|e| panic!("dealer {i} send: {e}"));
            d
        })
        .collect();
    let mut seen = vec![false; N];
    for k in 0..N {
        let parts = recv_parts(&mut router, &format!("message {k} of {N}"));
        assert_eq!(parts.len(), 2, "{parts:?}");
        let rid = String::from_utf8(parts[0].clone()).expect("utf-8 id");
        let i: usize = rid
            .strip_prefix("dealer-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected routing id {rid:?}"));
        assert!(!seen[i], "two messages from {rid}");
        seen[i] = true;
        assert_eq!(parts[1], format!("hello from {i}").as_bytes(), "from {rid}");
        router
            .send_multipart(
                &[parts[0].as_slice(), format!("reply to {i}").as_bytes()],
                0,
            )
            .unwrap_or_else(|e| panic!("reply to {rid}: {e}"));
    }
    for (i, d) in dealers.iter_mut().enumerate() {
        assert_eq!(
            recv_parts(d, &format!("reply at dealer {i}")),
            vec![format!("reply to {i}").into_bytes()]
        );
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "1000 connections took {elapsed:?}"
    );
    eprintln!("thousand_connections ({}): {elapsed:?}", backend.name());
});
