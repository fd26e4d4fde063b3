//! Socket patterns between ringlink sockets (libzmq 4.3 semantics): PAIR, DEALER
//! round-robin and fair queueing, ROUTER addressing and its options, high-water marks,
//! timeouts, the batch API, and endpoint handling. Every test runs on both backends.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringlink::{DONTWAIT, SNDMORE};
use ringlink_tests::*;

/// Linux errno values checked through `Error::errno()`.
const EADDRINUSE: i32 = 98;
const ENAMETOOLONG: i32 = 36;
const EHOSTUNREACH: i32 = 113;
const EAGAIN: i32 = 11;

/// A PAIR bound on `transport` and a PAIR connected to it.
fn pair_link(ctx: &Context, transport: Transport) -> (Socket, Socket, BindAddr) {
    let mut server = socket(ctx, SocketType::Pair);
    let addr = BindAddr::new(transport, "pair");
    let ep = bind(&mut server, &addr);
    let mut client = socket(ctx, SocketType::Pair);
    connect(&mut client, &ep);
    (server, client, addr)
}

fn recv1(sock: &mut Socket, what: &str) -> Vec<u8> {
    let parts = recv_parts(sock, what);
    assert_eq!(
        parts.len(),
        1,
        "{what}: expected one frame, got {}",
        parts.len()
    );
    parts.into_iter().next().unwrap()
}

fn send1(sock: &mut Socket, body: &[u8], what: &str) {
    sock.send(body, 0)
        .unwrap_or_else(|e| panic!("sending {what}: {e}"));
}

/// Sends `[id][body]` from a ROUTER.
fn route(sock: &mut Socket, id: &[u8], body: &[u8]) {
    sock.send_multipart(&[id, body], 0)
        .unwrap_or_else(|e| panic!("routing {:?} to {id:?}: {e}", String::from_utf8_lossy(body)));
}

/// Receives `[id][body]` on a ROUTER.
fn recv_routed(sock: &mut Socket, what: &str) -> (Vec<u8>, Vec<u8>) {
    let mut parts = recv_parts(sock, what);
    assert_eq!(parts.len(), 2, "{what}: expected [id][body], got {parts:?}");
    let body = parts.pop().unwrap();
    (parts.pop().unwrap(), body)
}

/// A DEALER with `id` connected to `ep`.
fn dealer_with_id(ctx: &Context, ep: &str, id: &[u8]) -> Socket {
    let mut d = socket(ctx, SocketType::Dealer);
    set_opt(&mut d, SocketOption::RoutingId(id.to_vec()));
    connect(&mut d, ep);
    d
}

// ---------------------------------------------------------------------------------------------
// PAIR

fn pair_roundtrip(backend: Backend, transport: Transport) {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, transport);
    for i in 0..50 {
        let msg = format!("client->server {i}");
        send1(&mut client, msg.as_bytes(), "client message");
        assert_eq!(recv1(&mut server, "client message"), msg.as_bytes());
        let reply = format!("server->client {i}");
        send1(&mut server, reply.as_bytes(), "server message");
        assert_eq!(recv1(&mut client, "server message"), reply.as_bytes());
    }
    // Both directions in flight at once.
    for i in 0..100 {
        send1(&mut client, format!("c{i}").as_bytes(), "c");
        send1(&mut server, format!("s{i}").as_bytes(), "s");
    }
    for i in 0..100 {
        assert_eq!(recv1(&mut server, "c"), format!("c{i}").as_bytes());
        assert_eq!(recv1(&mut client, "s"), format!("s{i}").as_bytes());
    }
}

both_backends!(pair_roundtrip_tcp, |b| pair_roundtrip(b, Transport::Tcp));
both_backends!(pair_roundtrip_ipc, |b| pair_roundtrip(b, Transport::Ipc));
both_backends!(pair_roundtrip_abstract, |b| pair_roundtrip(
    b,
    Transport::Abstract
));

fn multipart_boundaries(backend: Backend, transport: Transport) {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, transport);
    let msgs: Vec<Vec<Vec<u8>>> = vec![
        vec![
            b"a".to_vec(),
            Vec::new(),
            Vec::new(),
            b"b".to_vec(),
            Vec::new(),
        ],
        vec![Vec::new(), Vec::new()],
        vec![Vec::new()],
        vec![b"single".to_vec()],
        vec![
            Vec::new(),
            b"x".repeat(300),
            Vec::new(),
            b"y".repeat(70_000),
        ],
        (0..100).map(|i| vec![i as u8; i % 3]).collect(),
    ];
    for m in &msgs {
        send_parts(&mut client, m, "multipart");
    }
    for (k, m) in msgs.iter().enumerate() {
        // Frame by frame: rcvmore is set on all frames but the last, and the rest of a
        // message is there as soon as its first frame is (messages are delivered whole).
        let mut got = vec![server.recv_bytes(0).expect("first frame")];
        while server.rcvmore() {
            got.push(
                server
                    .recv_bytes(DONTWAIT)
                    .unwrap_or_else(|e| panic!("message {k}: later frame not there at once: {e}")),
            );
        }
        assert_parts_eq(&got, m, &format!("multipart message {k}"));
    }
    // Nothing beyond the messages sent.
    assert!(matches!(server.recv_bytes(DONTWAIT), Err(Error::Again)));
}

both_backends!(multipart_boundaries_tcp, |b| multipart_boundaries(
    b,
    Transport::Tcp
));
both_backends!(multipart_boundaries_ipc, |b| multipart_boundaries(
    b,
    Transport::Ipc
));

/// Two DEALERs send multipart messages concurrently to one ROUTER: every message arrives
/// with all its frames together (no interleaving of frames between senders).
fn multipart_atomic_across_senders(backend: Backend) {
    const N: usize = 300;
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let senders: Vec<_> = [b"A", b"B"]
        .into_iter()
        .map(|tag| {
            let mut d = dealer_with_id(&ctx, &ep, tag);
            thread::spawn(move || {
                for i in 0..N {
                    let parts: Vec<Vec<u8>> = (0..(i % 7) + 1)
                        .map(|f| {
                            if f % 2 == 1 {
                                Vec::new()
                            } else {
                                format!("{}-{i}-{f}", tag[0] as char).into_bytes()
                            }
                        })
                        .collect();
                    send_parts(&mut d, &parts, "multipart");
                }
                d
            })
        })
        .collect();
    let mut next = [0usize; 2];
    for _ in 0..2 * N {
        let parts = recv_parts(&mut router, "multipart");
        let who = match parts[0].as_slice() {
            b"A" => 0,
            b"B" => 1,
            other => panic!("unexpected routing id {other:?}"),
        };
        let tag = if who == 0 { 'A' } else { 'B' };
        let i = next[who];
        next[who] += 1;
        let want: Vec<Vec<u8>> = (0..(i % 7) + 1)
            .map(|f| {
                if f % 2 == 1 {
                    Vec::new()
                } else {
                    format!("{tag}-{i}-{f}").into_bytes()
                }
            })
            .collect();
        assert_parts_eq(&parts[1..], &want, &format!("message {i} from {tag}"));
    }
    for s in senders {
        drop(s.join().expect("sender thread"));
    }
}

both_backends!(
    multipart_atomic_across_senders,
    multipart_atomic_across_senders
);

both_backends!(zero_byte_message, |backend| {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    client.send(b"", 0).expect("send empty");
    client.send(b"after", 0).expect("send marker");
    let mut buf = [0xAAu8; 8];
    assert_eq!(server.recv(&mut buf, 0).expect("recv empty"), 0);
    assert!(!server.rcvmore());
    assert_eq!(recv1(&mut server, "marker"), b"after");
    server.send(b"", 0).expect("send empty back");
    assert_eq!(
        recv_parts(&mut client, "empty reply"),
        vec![Vec::<u8>::new()]
    );
});

/// 64 MiB of a cheap, position-dependent pattern (u32 word index, little endian).
fn huge(len: usize, salt: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut w = 0u32;
    while v.len() < len {
        let bytes = (w ^ salt).to_le_bytes();
        let take = (len - v.len()).min(4);
        v.extend_from_slice(&bytes[..take]);
        w += 1;
    }
    v
}

both_backends!(message_64mib_both_directions, |backend| {
    const LEN: usize = 64 << 20;
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    let up = huge(LEN, 0);
    client.send(&up, 0).expect("send 64 MiB");
    let got = recv1(&mut server, "64 MiB up");
    assert_eq!(got.len(), LEN);
    assert!(got == up, "64 MiB message corrupted on the way up");
    drop((got, up));
    let down = huge(LEN, 0xA5A5_5A5A);
    server.send(&down, 0).expect("send 64 MiB back");
    let got = recv1(&mut client, "64 MiB down");
    assert_eq!(got.len(), LEN);
    assert!(got == down, "64 MiB message corrupted on the way down");
});

// ---------------------------------------------------------------------------------------------
// DEALER

fn dealer_round_robin(backend: Backend, peer_type: SocketType) {
    const COUNT: usize = 300;
    let ctx = ctx(backend);
    let mut peers: Vec<Socket> = (0..3).map(|_| socket(&ctx, peer_type)).collect();
    let eps: Vec<String> = peers.iter_mut().map(bind_tcp).collect();
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"rr".to_vec()));
    for ep in &eps {
        connect(&mut dealer, ep);
    }
    // The outbound queues exist from connect(), so the distribution is exact even while the
    // connections are still being made.
    for i in 0..COUNT {
        send1(
            &mut dealer,
            format!("{i}").as_bytes(),
            "round-robin message",
        );
    }
    let mut firsts = Vec::new();
    for (k, peer) in peers.iter_mut().enumerate() {
        let mut got = Vec::new();
        for _ in 0..COUNT / 3 {
            let mut parts = recv_parts(peer, &format!("message at peer {k}"));
            if peer_type == SocketType::Router {
                assert_eq!(parts[0], b"rr", "routing id at peer {k}");
                parts.remove(0);
            }
            assert_eq!(parts.len(), 1);
            let i: usize = String::from_utf8(parts.remove(0)).unwrap().parse().unwrap();
            got.push(i);
        }
        // Each peer gets every third message, in order.
        for w in got.windows(2) {
            assert_eq!(w[1], w[0] + 3, "peer {k} got {got:?}");
        }
        firsts.push(got[0]);
        assert!(
            try_recv_parts(peer, 0).is_none(),
            "peer {k} got more than {}",
            COUNT / 3
        );
    }
    firsts.sort_unstable();
    assert_eq!(
        firsts,
        vec![0, 1, 2],
        "each peer starts at a different offset"
    );
}

both_backends!(dealer_round_robin_to_dealers, |b| dealer_round_robin(
    b,
    SocketType::Dealer
));
both_backends!(dealer_round_robin_to_routers, |b| dealer_round_robin(
    b,
    SocketType::Router
));

/// A DEALER receiving from two busy peers serves both: once each peer has a backlog queued
/// at the receiver, reads alternate between them.
fn dealer_fair_queue(backend: Backend) {
    const MSG: usize = 64 << 10;
    // Sent by each peer before the receiver reads anything. Only SNDHWM (10) messages plus
    // what the kernel buffers (SNDBUF/RCVBUF 64 KiB each, so well under 100 messages of
    // 64 KiB) can be short of the receiver's queue, so at least `BACKLOG` are queued there.
    const BACKLOG: usize = 100;
    const SENT: usize = 10 + 100 + BACKLOG;
    let ctx = ctx(backend);
    let mut receiver = socket(&ctx, SocketType::Dealer);
    set_opt(&mut receiver, SocketOption::RcvBuf(65536));
    let ep = bind_tcp(&mut receiver);
    let mut senders: Vec<Socket> = (0..2)
        .map(|_| {
            let mut s = socket(&ctx, SocketType::Dealer);
            set_opt(&mut s, SocketOption::SndHwm(10));
            set_opt(&mut s, SocketOption::SndBuf(65536));
            connect(&mut s, &ep);
            s
        })
        .collect();
    // Both connections up (and served) before the backlog is built.
    for (k, s) in senders.iter_mut().enumerate() {
        send1(s, &[k as u8], "hello");
        let got = recv1(&mut receiver, "hello");
        assert_eq!(got, [k as u8]);
    }
    for (k, s) in senders.iter_mut().enumerate() {
        for i in 0..SENT {
            let mut body = vec![k as u8; MSG];
            body[1..9].copy_from_slice(&(i as u64).to_le_bytes());
            s.send(&body, 0)
                .unwrap_or_else(|e| panic!("sender {k} message {i}: {e}"));
        }
    }
    let mut order = Vec::new();
    let mut next = [0u64; 2];
    for _ in 0..2 * SENT {
        let got = recv1(&mut receiver, "backlog message");
        assert_eq!(got.len(), MSG);
        let k = got[0] as usize;
        assert!(k < 2, "unknown sender {k}");
        let i = u64::from_le_bytes(got[1..9].try_into().unwrap());
        assert_eq!(i, next[k], "sender {k}'s messages out of order");
        next[k] += 1;
        order.push(k);
    }
    let first = &order[..BACKLOG];
    let from0 = first.iter().filter(|&&k| k == 0).count();
    assert!(
        from0 >= BACKLOG / 4 && BACKLOG - from0 >= BACKLOG / 4,
        "unfair: of the first {BACKLOG} reads {from0} came from sender 0 (order {first:?})"
    );
}

both_backends!(dealer_fair_queue, dealer_fair_queue);

// ---------------------------------------------------------------------------------------------
// ROUTER

both_backends!(router_routes_by_id, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut d1 = dealer_with_id(&ctx, &ep, b"d1");
    let mut d2 = dealer_with_id(&ctx, &ep, b"d2");
    send1(&mut d1, b"from d1", "hello d1");
    send1(&mut d2, b"from d2", "hello d2");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (id, body) = recv_routed(&mut router, "hello");
        assert_eq!(
            body,
            [b"from ".as_slice(), &id].concat(),
            "body from {id:?}"
        );
        seen.push(id);
    }
    seen.sort();
    assert_eq!(seen, vec![b"d1".to_vec(), b"d2".to_vec()]);
    for i in 0..20 {
        let id: &[u8] = if i % 3 == 0 { b"d2" } else { b"d1" };
        route(
            &mut router,
            id,
            format!("to {} #{i}", id[1] as char).as_bytes(),
        );
    }
    route(&mut router, b"d1", b"end d1");
    route(&mut router, b"d2", b"end d2");
    for (d, name) in [(&mut d1, '1'), (&mut d2, '2')] {
        let mut got = Vec::new();
        loop {
            let m = recv1(d, "routed message");
            if m.starts_with(b"end ") {
                assert_eq!(m, format!("end d{name}").as_bytes());
                break;
            }
            got.push(String::from_utf8(m).unwrap());
        }
        let want: Vec<String> = (0..20)
            .filter(|i| (i % 3 == 0) == (name == '2'))
            .map(|i| format!("to {name} #{i}"))
            .collect();
        assert_eq!(got, want, "messages at d{name}");
    }
    // Replies by id keep working in the other direction.
    send1(&mut d2, b"again", "d2 again");
    assert_eq!(
        recv_routed(&mut router, "d2 again"),
        (b"d2".to_vec(), b"again".to_vec())
    );
});

both_backends!(router_generated_ids, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut dealers: Vec<Socket> = (0..2)
        .map(|_| {
            let mut d = socket(&ctx, SocketType::Dealer);
            connect(&mut d, &ep);
            d
        })
        .collect();
    let mut ids = Vec::new();
    for (k, d) in dealers.iter_mut().enumerate() {
        send1(d, format!("dealer {k}").as_bytes(), "hello");
        let (id, body) = recv_routed(&mut router, "hello");
        assert_eq!(body, format!("dealer {k}").as_bytes());
        assert_eq!(id.len(), 5, "generated id {id:?} is not 5 bytes");
        assert_eq!(id[0], 0, "generated id {id:?} does not start with 0");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "two peers got the same generated id");
    for (k, d) in dealers.iter_mut().enumerate() {
        route(&mut router, &ids[k], format!("reply {k}").as_bytes());
        assert_eq!(recv1(d, "reply"), format!("reply {k}").as_bytes());
    }
});

both_backends!(router_mandatory_unroutable, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    let ep = bind_tcp(&mut router);
    let mut known = dealer_with_id(&ctx, &ep, b"known");
    send1(&mut known, b"hi", "hello");
    assert_eq!(
        recv_routed(&mut router, "hello"),
        (b"known".to_vec(), b"hi".to_vec())
    );

    // Mandatory: the routing id frame fails, and the socket stays usable.
    let err = router
        .send(b"nobody", SNDMORE)
        .expect_err("send to unknown id");
    assert!(matches!(err, Error::HostUnreachable), "got {err:?}");
    assert_eq!(err.errno(), EHOSTUNREACH);
    let err = router
        .send(b"nobody", SNDMORE | DONTWAIT)
        .expect_err("send to unknown id, DONTWAIT");
    assert!(matches!(err, Error::HostUnreachable), "got {err:?}");
    route(&mut router, b"known", b"marker 1");
    assert_eq!(recv1(&mut known, "marker 1"), b"marker 1");

    // Not mandatory: the message is dropped silently (send succeeds, nothing arrives).
    set_opt(&mut router, SocketOption::RouterMandatory(false));
    router
        .send_multipart(&[&b"nobody"[..], b"lost", b"lost too"], 0)
        .expect("unroutable send without ROUTER_MANDATORY succeeds");
    route(&mut router, b"known", b"marker 2");
    assert_eq!(
        recv_parts(&mut known, "marker 2"),
        vec![b"marker 2".to_vec()],
        "the first thing to arrive after the dropped message must be the marker"
    );
});

both_backends!(router_mandatory_full_peer_again, |backend| {
    const MSG: usize = 16 << 10;
    const LIMIT: usize = 100_000;
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    set_opt(&mut router, SocketOption::SndHwm(10));
    let ep = bind_tcp(&mut router);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RcvHwm(5));
    set_opt(&mut dealer, SocketOption::RoutingId(b"slow".to_vec()));
    connect(&mut dealer, &ep);
    send1(&mut dealer, b"hi", "hello");
    recv_routed(&mut router, "hello");

    // The dealer does not read: its queue, the kernel buffers and then the router's queue
    // for it fill up, and a DONTWAIT send reports Again instead of dropping.
    let mut sent = 0;
    let mut again = false;
    while sent < LIMIT {
        match router.send(b"slow", SNDMORE | DONTWAIT) {
            Ok(()) => {}
            Err(e @ Error::Again) => {
                assert_eq!(e.errno(), EAGAIN);
                again = true;
                break;
            }
            Err(e) => panic!("routing id frame of message {sent}: {e}"),
        }
        let mut body = vec![0x5Au8; MSG];
        body[..8].copy_from_slice(&(sent as u64).to_le_bytes());
        router
            .send(&body, DONTWAIT)
            .unwrap_or_else(|e| panic!("body of message {sent}: {e}"));
        sent += 1;
    }
    assert!(
        again,
        "{sent} messages sent with DONTWAIT to a peer that does not read, never Again"
    );
    let err = router
        .send(b"slow", SNDMORE | DONTWAIT)
        .expect_err("still full");
    assert_eq!(err.errno(), EAGAIN);
    // Nothing was lost: the dealer gets every message that was accepted, in order.
    for i in 0..sent {
        let m = recv1(&mut dealer, "queued message");
        assert_eq!(m.len(), MSG);
        assert_eq!(u64::from_le_bytes(m[..8].try_into().unwrap()), i as u64);
    }
    // And the peer takes messages again once drained.
    route(&mut router, b"slow", b"after drain");
    assert_eq!(recv1(&mut dealer, "after drain"), b"after drain");
});

both_backends!(router_handover_takes_over, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::RouterHandover(true));
    let ep = bind_tcp(&mut router);
    let mut first = socket(&ctx, SocketType::Dealer);
    set_opt(&mut first, SocketOption::RoutingId(b"dup".to_vec()));
    // Once handed over, the first dealer must not come back and take the id again.
    set_opt(&mut first, SocketOption::ReconnectIvl(-1));
    connect(&mut first, &ep);
    send1(&mut first, b"from first", "first hello");
    assert_eq!(
        recv_routed(&mut router, "first hello"),
        (b"dup".to_vec(), b"from first".to_vec())
    );
    route(&mut router, b"dup", b"to first");
    assert_eq!(recv1(&mut first, "to first"), b"to first");

    let mut second = dealer_with_id(&ctx, &ep, b"dup");
    send1(&mut second, b"from second", "second hello");
    assert_eq!(
        recv_routed(&mut router, "second hello"),
        (b"dup".to_vec(), b"from second".to_vec())
    );
    for i in 0..5 {
        route(&mut router, b"dup", format!("to new {i}").as_bytes());
    }
    for i in 0..5 {
        assert_eq!(
            recv1(&mut second, "routed to the new owner"),
            format!("to new {i}").as_bytes()
        );
    }
    assert!(
        try_recv_parts(&mut first, 200).is_none(),
        "the old owner of the id still receives"
    );
});

both_backends!(router_without_handover_refuses_duplicate, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut first = dealer_with_id(&ctx, &ep, b"dup");
    send1(&mut first, b"from first", "first hello");
    assert_eq!(
        recv_routed(&mut router, "first hello"),
        (b"dup".to_vec(), b"from first".to_vec())
    );

    // A raw ZMTP peer claiming the same id is refused: the router closes it. (As in libzmq,
    // the router attaches new peers when the application calls it, so keep it busy.)
    let (closed_tx, closed_rx) = mpsc::channel();
    let raw_ep = ep.clone();
    let impostor = thread::spawn(move || {
        let mut raw = raw::RawConn::connect(&raw_ep);
        raw.handshake(1, "DEALER", Some(b"dup"));
        raw.write_lenient(&raw::message(b"from impostor", false));
        raw.expect_closed(Instant::now() + Duration::from_secs(10));
        closed_tx.send(()).unwrap();
    });
    loop {
        match closed_rx.try_recv() {
            Ok(()) => break,
            Err(mpsc::TryRecvError::Disconnected) => {
                std::panic::resume_unwind(impostor.join().expect_err("impostor thread failed"))
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if let Some(m) = try_recv_parts(&mut router, 10) {
            panic!("router received {m:?} while a duplicate id was connecting");
        }
    }
    impostor.join().expect("impostor thread");

    // A ringlink dealer with the same id is refused too (its message never arrives).
    let mut second = dealer_with_id(&ctx, &ep, b"dup");
    send1(&mut second, b"from second", "second hello");
    assert!(try_recv_parts(&mut router, 300).is_none());

    // The first keeps the id.
    for i in 0..5 {
        route(&mut router, b"dup", format!("to first {i}").as_bytes());
    }
    for i in 0..5 {
        assert_eq!(
            recv1(&mut first, "routed to the first owner"),
            format!("to first {i}").as_bytes()
        );
    }
    send1(&mut first, b"first again", "first again");
    assert_eq!(
        recv_routed(&mut router, "first again"),
        (b"dup".to_vec(), b"first again".to_vec()),
        "only the first owner's messages may arrive"
    );
    assert!(try_recv_parts(&mut second, 200).is_none());
    assert!(try_recv_parts(&mut router, 200).is_none());
});

both_backends!(router_connect_routing_id, |backend| {
    let ctx = ctx(backend);
    let mut server = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut server);
    let mut client = socket(&ctx, SocketType::Router);
    set_opt(&mut client, SocketOption::RoutingId(b"cli".to_vec()));
    set_opt(&mut client, SocketOption::RouterMandatory(true));
    set_opt(&mut client, SocketOption::ConnectRoutingId(b"srv".to_vec()));
    connect(&mut client, &ep);
    // The connection completes asynchronously: retry while "srv" is unknown.
    poll_until(
        Duration::from_secs(10),
        "peer \"srv\" routable",
        || match client.send(b"srv", SNDMORE | DONTWAIT) {
            Ok(()) => Some(()),
            Err(Error::HostUnreachable) => None,
            Err(e) => panic!("send to srv: {e}"),
        },
    );
    client.send(b"hello srv", 0).expect("body");
    assert_eq!(
        recv_routed(&mut server, "from client"),
        (b"cli".to_vec(), b"hello srv".to_vec())
    );
    route(&mut server, b"cli", b"hello cli");
    assert_eq!(
        recv_routed(&mut client, "from server"),
        (b"srv".to_vec(), b"hello cli".to_vec()),
        "the connected peer is known as the CONNECT_ROUTING_ID"
    );
});

both_backends!(probe_router, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"prober".to_vec()));
    set_opt(&mut dealer, SocketOption::ProbeRouter(true));
    connect(&mut dealer, &ep);
    // Without sending anything, the router hears from the dealer: [id][empty].
    assert_eq!(
        recv_parts(&mut router, "probe"),
        vec![b"prober".to_vec(), Vec::new()]
    );
    send1(&mut dealer, b"after probe", "after probe");
    assert_eq!(
        recv_routed(&mut router, "after probe"),
        (b"prober".to_vec(), b"after probe".to_vec())
    );
    route(&mut router, b"prober", b"reply");
    assert_eq!(recv1(&mut dealer, "reply"), b"reply");
});

// ---------------------------------------------------------------------------------------------
// High-water marks and timeouts

both_backends!(pair_hwm_again_then_blocked_sender_resumes, |backend| {
    const MSG: usize = 16 << 10;
    const LIMIT: usize = 100_000;
    let ctx = ctx(backend);
    let mut receiver = socket(&ctx, SocketType::Pair);
    set_opt(&mut receiver, SocketOption::RcvHwm(10));
    let ep = bind_tcp(&mut receiver);
    let mut sender = socket(&ctx, SocketType::Pair);
    set_opt(&mut sender, SocketOption::SndHwm(10));
    connect(&mut sender, &ep);
    send1(&mut sender, b"hello", "hello");
    assert_eq!(recv1(&mut receiver, "hello"), b"hello");

    let body = |i: usize| {
        let mut b = vec![(i % 251) as u8; MSG];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        b
    };
    let mut sent = 0;
    let mut again = false;
    while sent < LIMIT {
        match sender.send(&body(sent), DONTWAIT) {
            Ok(()) => sent += 1,
            Err(Error::Again) => {
                again = true;
                break;
            }
            Err(e) => panic!("DONTWAIT send {sent}: {e}"),
        }
    }
    assert!(
        again,
        "{sent} DONTWAIT sends to a peer that does not read, never Again"
    );
    assert!(
        sent >= 10,
        "Again after only {sent} messages (SNDHWM is 10)"
    );
    // The first Again may only mean the sender got ahead of its reactor: fill until sending
    // makes no progress at all, then a blocking send must wait for the receiver.
    sent += fill_until_stalled(&mut sender, sent, body);

    let extra = 5;
    let (done_tx, done_rx) = mpsc::channel();
    let first_extra = sent;
    let t = thread::spawn(move || {
        for i in first_extra..first_extra + extra {
            let r = sender.send(&body(i), 0);
            done_tx.send((i, r.is_ok())).unwrap();
            if let Err(e) = r {
                panic!("blocking send {i}: {e}");
            }
        }
        sender
    });
    let early = done_rx.recv_timeout(Duration::from_millis(300));
    assert!(
        matches!(early, Err(mpsc::RecvTimeoutError::Timeout)),
        "a blocking send to a full peer returned while nobody was reading \
         ({sent} messages were queued; (message, ok) = {early:?})"
    );
    for i in 0..sent + extra {
        let m = recv1(&mut receiver, "queued message");
        assert_eq!(m.len(), MSG);
        assert_eq!(u64::from_le_bytes(m[..8].try_into().unwrap()), i as u64);
        assert_eq!(m[MSG - 1], (i % 251) as u8);
    }
    let _sender = t.join().expect("blocked sender thread");
    let results: Vec<(usize, bool)> = done_rx.try_iter().collect();
    assert_eq!(results.len(), extra);
    assert!(results.iter().all(|&(_, ok)| ok));
});

/// Sends `body(i)` for i = `from..` until a send has made no progress for a whole second
/// (SNDTIMEO 1000 expires): the queues and kernel buffers towards a peer that does not read
/// are then full, not just momentarily ahead of the reactor. Returns how many were sent;
/// SNDTIMEO is restored to [`IO_TIMEOUT_MS`].
fn fill_until_stalled(sock: &mut Socket, from: usize, body: impl Fn(usize) -> Vec<u8>) -> usize {
    set_opt(sock, SocketOption::SndTimeo(1000));
    let mut i = from;
    loop {
        match sock.send(&body(i), 0) {
            Ok(()) => i += 1,
            Err(Error::Again) => break,
            Err(e) => panic!("send {i}: {e}"),
        }
        assert!(i - from < 100_000, "{} sends and never full", i - from);
    }
    set_opt(sock, SocketOption::SndTimeo(IO_TIMEOUT_MS));
    i - from
}

fn assert_timed_again(r: Result<(), Error>, start: Instant, timeout_ms: u64, what: &str) {
    let elapsed = start.elapsed();
    match r {
        Err(Error::Again) => {}
        other => panic!("{what}: expected Again, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(timeout_ms),
        "{what}: Again after {elapsed:?}, before the {timeout_ms} ms timeout"
    );
    assert!(
        elapsed < Duration::from_millis(timeout_ms) + Duration::from_secs(5),
        "{what}: Again only after {elapsed:?} (timeout {timeout_ms} ms)"
    );
}

both_backends!(send_and_recv_timeouts, |backend| {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    set_opt(&mut server, SocketOption::RcvTimeo(250));
    let start = Instant::now();
    let r = server.recv_bytes(0).map(|_| ());
    assert_timed_again(r, start, 250, "recv with RCVTIMEO 250");
    set_opt(&mut server, SocketOption::RcvTimeo(0));
    assert!(matches!(server.recv_bytes(0), Err(Error::Again)));
    // recv_batch honours RCVTIMEO as well.
    set_opt(&mut server, SocketOption::RcvTimeo(150));
    let (mut buf, mut lens) = (vec![0u8; 64], vec![0usize; 4]);
    let start = Instant::now();
    let r = server.recv_batch(&mut buf, &mut lens, 0).map(|_| ());
    assert_timed_again(r, start, 150, "recv_batch with RCVTIMEO 150");

    // A socket with no peer at all: send blocks until SNDTIMEO.
    let mut lonely = socket(&ctx, SocketType::Dealer);
    set_opt(&mut lonely, SocketOption::SndTimeo(250));
    let start = Instant::now();
    let r = lonely.send(b"x", 0);
    assert_timed_again(r, start, 250, "DEALER send with no peer, SNDTIMEO 250");

    // A full peer: send blocks until SNDTIMEO.
    fill_until_stalled(&mut client, 0, |_| vec![0u8; 16 << 10]);
    set_opt(&mut client, SocketOption::SndTimeo(200));
    let start = Instant::now();
    let r = client.send(b"y", 0);
    assert_timed_again(r, start, 200, "PAIR send to a full peer, SNDTIMEO 200");
});

// ---------------------------------------------------------------------------------------------
// Batch API

fn batch_msg(i: usize) -> Vec<u8> {
    let len = (i * 7) % 61;
    let mut v = vec![(i % 251) as u8; len];
    if len >= 4 {
        v[..4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    v
}

both_backends!(batch_roundtrip_100k, |backend| {
    const N: usize = 100_000;
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    let sender = thread::spawn(move || {
        let msgs: Vec<Vec<u8>> = (0..N).map(batch_msg).collect();
        let mut off = 0;
        while off < N {
            let end = (off + 7_000).min(N);
            let n = client
                .send_batch(&msgs[off..end], 0)
                .unwrap_or_else(|e| panic!("send_batch at {off}: {e}"));
            assert!(n > 0, "send_batch sent nothing");
            off += n;
        }
        client
    });
    let mut buf = vec![0u8; 64 << 10];
    let mut lens = vec![0usize; 4096];
    let mut got = 0;
    let mut batches = 0;
    while got < N {
        let n = server
            .recv_batch(&mut buf, &mut lens, 0)
            .unwrap_or_else(|e| panic!("recv_batch after {got} messages: {e}"));
        assert!(n >= 1 && n <= lens.len());
        let mut off = 0;
        for &len in &lens[..n] {
            let want = batch_msg(got);
            assert_eq!(len, want.len(), "length of message {got}");
            assert_eq!(&buf[off..off + len], want.as_slice(), "message {got}");
            off += len;
            got += 1;
        }
        batches += 1;
    }
    assert_eq!(got, N);
    assert!(
        batches < N,
        "recv_batch never returned more than one message"
    );
    let _client = sender.join().expect("sender");
    let mut lens1 = [0usize; 1];
    assert_eq!(server.drain(&mut buf, &mut lens1).expect("drain"), 0);
});

both_backends!(batch_drain_and_buffer_limits, |backend| {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    let mut big = vec![0u8; 1024];
    let mut lens = vec![0usize; 16];
    assert_eq!(server.drain(&mut big, &mut lens).expect("drain empty"), 0);

    // A buffer smaller than the message: MessageTooLarge(needed), and the message stays.
    let msg: Vec<u8> = (0..100u8).collect();
    client.send(&msg, 0).expect("send 100 bytes");
    let mut small = [0u8; 99];
    match server.recv_batch(&mut small, &mut lens, 0) {
        Err(Error::MessageTooLarge(need)) => assert_eq!(need, 100),
        other => panic!("recv_batch into 99 bytes: expected MessageTooLarge(100), got {other:?}"),
    }
    match server.drain(&mut small, &mut lens) {
        Err(Error::MessageTooLarge(100)) => {}
        other => panic!("drain into 99 bytes: expected MessageTooLarge(100), got {other:?}"),
    }
    // Exactly full.
    let mut exact = [0u8; 100];
    assert_eq!(
        server.recv_batch(&mut exact, &mut lens, 0).expect("exact"),
        1
    );
    assert_eq!(lens[0], 100);
    assert_eq!(exact.as_slice(), msg.as_slice());
    assert_eq!(server.drain(&mut big, &mut lens).expect("drain after"), 0);

    // Several messages exactly filling the buffer (collected over as many calls as needed).
    let sent = client
        .send_batch(&[&b"aaaa"[..], b"bbbbbb", b"", b"cc"], 0)
        .expect("send_batch");
    assert_eq!(sent, 4);
    let mut buf12 = [0u8; 12];
    let mut all = Vec::new();
    let mut all_lens = Vec::new();
    while all_lens.len() < 4 {
        let n = server
            .recv_batch(&mut buf12, &mut lens, 0)
            .expect("recv_batch");
        let used: usize = lens[..n].iter().sum();
        all.extend_from_slice(&buf12[..used]);
        all_lens.extend_from_slice(&lens[..n]);
    }
    assert_eq!(all_lens, vec![4, 6, 0, 2]);
    assert_eq!(all, b"aaaabbbbbbcc");

    // send_repeat, then drain picks up everything that arrived.
    assert_eq!(client.send_repeat(b"rep", 10, 0).expect("send_repeat"), 10);
    let mut got = 0;
    poll_until(Duration::from_secs(10), "10 repeated messages", || {
        let n = server.drain(&mut big, &mut lens).expect("drain");
        for k in 0..n {
            assert_eq!(lens[k], 3);
            assert_eq!(&big[3 * k..3 * k + 3], b"rep");
        }
        got += n;
        (got >= 10).then_some(())
    });
    assert_eq!(got, 10);
});

/// Receives `count` frames with `recv_batch_parts` as (bytes, more) pairs, checking that
/// every batch ends on a message boundary.
fn batch_frames(sock: &mut Socket, count: usize) -> Vec<(Vec<u8>, bool)> {
    let mut buf = vec![0u8; 1024];
    let (mut lens, mut more) = (vec![0usize; 16], vec![false; 16]);
    let mut frames = Vec::new();
    while frames.len() < count {
        let n = sock
            .recv_batch_parts(&mut buf, &mut lens, &mut more, 0)
            .expect("recv_batch_parts");
        let mut off = 0;
        for k in 0..n {
            frames.push((buf[off..off + lens[k]].to_vec(), more[k]));
            off += lens[k];
        }
        // Only whole messages are returned.
        assert!(!more[n - 1], "a batch ended in the middle of a message");
    }
    frames
}

both_backends!(batch_parts_more_flags, |backend| {
    let ctx = ctx(backend);
    let (mut server, mut client, _addr) = pair_link(&ctx, Transport::Tcp);
    client
        .send_multipart(&[&b"a"[..], b"", b"ccc"], 0)
        .expect("multipart");
    client.send(b"single", 0).expect("single");
    client
        .send_multipart(&[&b""[..], b"z"], 0)
        .expect("multipart 2");
    let frames = batch_frames(&mut server, 6);
    let want: Vec<(Vec<u8>, bool)> = vec![
        (b"a".to_vec(), true),
        (Vec::new(), true),
        (b"ccc".to_vec(), false),
        (b"single".to_vec(), false),
        (Vec::new(), true),
        (b"z".to_vec(), false),
    ];
    assert_eq!(frames, want);
});

both_backends!(router_recv_batch_includes_ids, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut dealer = dealer_with_id(&ctx, &ep, b"bd");
    dealer.send(b"x", 0).expect("x");
    dealer
        .send_multipart(&[&b"yy"[..], b"zzz"], 0)
        .expect("yy zzz");
    let frames = batch_frames(&mut router, 5);
    let want: Vec<(Vec<u8>, bool)> = vec![
        (b"bd".to_vec(), true),
        (b"x".to_vec(), false),
        (b"bd".to_vec(), true),
        (b"yy".to_vec(), true),
        (b"zzz".to_vec(), false),
    ];
    assert_eq!(frames, want);
    // Plain recv_batch carries the id frames too; the needed size counts the id.
    dealer.send(&[7u8; 10], 0).expect("10 bytes");
    let mut lens = vec![0usize; 16];
    let mut small = [0u8; 11];
    match router.recv_batch(&mut small, &mut lens, 0) {
        Err(Error::MessageTooLarge(need)) => assert_eq!(need, 12, "2-byte id + 10-byte body"),
        other => panic!("expected MessageTooLarge(12), got {other:?}"),
    }
    let mut exact = [0u8; 12];
    assert_eq!(
        router.recv_batch(&mut exact, &mut lens, 0).expect("exact"),
        2
    );
    assert_eq!(&lens[..2], &[2, 10]);
    assert_eq!(&exact[..2], b"bd");
    assert_eq!(&exact[2..], &[7u8; 10]);
});

// ---------------------------------------------------------------------------------------------
// Endpoints

fn connect_before_bind(backend: Backend, transport: Transport) {
    let ctx = ctx(backend);
    let addr = BindAddr::new(transport, "late");
    let ep = match transport {
        Transport::Tcp => format!("tcp://127.0.0.1:{}", free_tcp_port()),
        _ => addr.endpoint.clone(),
    };
    let mut client = socket(&ctx, SocketType::Pair);
    connect(&mut client, &ep);
    send1(&mut client, b"sent before bind", "early message");
    let mut server = socket(&ctx, SocketType::Pair);
    server
        .bind(&ep)
        .unwrap_or_else(|e| panic!("late bind {ep}: {e}"));
    assert_eq!(recv1(&mut server, "early message"), b"sent before bind");
    send1(&mut server, b"reply", "reply");
    assert_eq!(recv1(&mut client, "reply"), b"reply");
}

both_backends!(connect_before_bind_tcp, |b| connect_before_bind(
    b,
    Transport::Tcp
));
both_backends!(connect_before_bind_ipc, |b| connect_before_bind(
    b,
    Transport::Ipc
));

both_backends!(bad_endpoints, |backend| {
    let ctx = ctx(backend);
    let mut s = socket(&ctx, SocketType::Pair);
    for ep in [
        "tcp://127.0.0.1",
        "tcp://:5555",
        "tcp://127.0.0.1:99999",
        "127.0.0.1:5",
    ] {
        let e = s.connect(ep).expect_err(ep);
        assert!(
            matches!(e, Error::InvalidArgument(_)),
            "connect {ep}: {e:?}"
        );
        let e = s.bind(ep).expect_err(ep);
        assert!(matches!(e, Error::InvalidArgument(_)), "bind {ep}: {e:?}");
    }
    for ep in ["foo://x", "ws://x:1"] {
        let e = s.connect(ep).expect_err(ep);
        assert!(
            matches!(e, Error::ProtocolNotSupported(_)),
            "connect {ep}: {e:?}"
        );
        let e = s.bind(ep).expect_err(ep);
        assert!(
            matches!(e, Error::ProtocolNotSupported(_)),
            "bind {ep}: {e:?}"
        );
    }
    let long = format!("ipc:///tmp/{}", "n".repeat(120));
    let e = s.bind(&long).expect_err("long ipc bind");
    assert!(matches!(e, Error::NameTooLong), "bind long ipc: {e:?}");
    assert_eq!(e.errno(), ENAMETOOLONG);
    let e = s.connect(&long).expect_err("long ipc connect");
    assert!(matches!(e, Error::NameTooLong), "connect long ipc: {e:?}");

    // Address in use.
    let mut a = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut a);
    let mut b = socket(&ctx, SocketType::Pair);
    let e = b.bind(&ep).expect_err("bind to an address in use");
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    assert_eq!(e.errno(), EADDRINUSE, "{e:?}");

    // Unknown endpoints.
    assert!(matches!(
        s.unbind("tcp://127.0.0.1:1"),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.disconnect("tcp://127.0.0.1:1"),
        Err(Error::NotFound)
    ));
    assert!(matches!(a.disconnect(&ep), Err(Error::NotFound)));
    // A real bind/connect can be undone once, then it is unknown.
    a.unbind(&ep).expect("unbind bound endpoint");
    assert!(matches!(a.unbind(&ep), Err(Error::NotFound)));
    s.connect(&ep).expect("connect");
    s.disconnect(&ep).expect("disconnect");
    assert!(matches!(s.disconnect(&ep), Err(Error::NotFound)));
});

both_backends!(localhost_hostname_connects, |backend| {
    let ctx = ctx(backend);
    let mut server = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut server);
    let port = endpoint_port(&ep);
    let mut client = socket(&ctx, SocketType::Pair);
    connect(&mut client, &format!("tcp://localhost:{port}"));
    send1(&mut client, b"via localhost", "message");
    assert_eq!(recv1(&mut server, "message"), b"via localhost");
    send1(&mut server, b"back", "reply");
    assert_eq!(recv1(&mut client, "reply"), b"back");
});

both_backends!(ipv6_loopback, |backend| {
    let ctx = ctx(backend);
    let mut server = socket(&ctx, SocketType::Pair);
    set_opt(&mut server, SocketOption::Ipv6(true));
    server.bind("tcp://[::1]:*").expect("bind [::1]");
    let ep = server.last_endpoint().expect("last_endpoint");
    assert!(ep.starts_with("tcp://[::1]:"), "last_endpoint {ep}");
    let mut client = socket(&ctx, SocketType::Pair);
    // Without the option an IPv6 address is refused.
    assert!(matches!(
        client.connect(&ep),
        Err(Error::InvalidArgument(_))
    ));
    set_opt(&mut client, SocketOption::Ipv6(true));
    connect(&mut client, &ep);
    send1(&mut client, b"over ipv6", "message");
    assert_eq!(recv1(&mut server, "message"), b"over ipv6");
    send1(&mut server, b"back", "reply");
    assert_eq!(recv1(&mut client, "reply"), b"back");
});

both_backends!(router_send_routed_batch, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut a = dealer_with_id(&ctx, &ep, b"A");
    let mut b = dealer_with_id(&ctx, &ep, b"B");
    // Both dealers must be known to the router before routing to them: say hello first.
    a.send(b"hi", 0).expect("a hi");
    b.send(b"hi", 0).expect("b hi");
    for _ in 0..2 {
        recv_parts(&mut router, "hello");
    }
    // Fewer messages per peer than SNDHWM: without ROUTER_MANDATORY a full peer would drop.
    const N: u32 = 900;
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for i in 0..N {
        let to = if i % 3 == 0 {
            b"A".to_vec()
        } else {
            b"B".to_vec()
        };
        batch.push((to, i.to_le_bytes().to_vec()));
        if i == N / 2 {
            // Unroutable without ROUTER_MANDATORY: dropped, counted.
            batch.push((b"nobody".to_vec(), b"lost".to_vec()));
        }
    }
    let mut off = 0;
    while off < batch.len() {
        off += router
            .send_routed_batch(&batch[off..], 0)
            .expect("send_routed_batch");
    }
    for (who, sock) in [(&b"A"[..], &mut a), (&b"B"[..], &mut b)] {
        let want: Vec<u32> = (0..N).filter(|i| (i % 3 == 0) == (who == b"A")).collect();
        for &i in &want {
            assert_eq!(recv_parts(sock, "routed"), vec![i.to_le_bytes().to_vec()]);
        }
    }
    // With ROUTER_MANDATORY a full peer blocks instead of dropping: 5000 messages to a
    // reader that keeps up all arrive in order.
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    let reader = thread::spawn(move || {
        for i in 0..5000u32 {
            assert_eq!(
                recv_parts(&mut b, "mandatory"),
                vec![i.to_le_bytes().to_vec()]
            );
        }
    });
    let many: Vec<(&[u8], [u8; 4])> = (0..5000u32).map(|i| (&b"B"[..], i.to_le_bytes())).collect();
    let mut off = 0;
    while off < many.len() {
        off += router
            .send_routed_batch(&many[off..], 0)
            .expect("blocking batch");
    }
    reader.join().expect("reader");
    // An unknown first id is an error, and a batch stops at an unroutable message.
    let err = router.send_routed_batch(&[(&b"nobody"[..], &b"x"[..])], 0);
    assert!(
        matches!(err, Err(Error::HostUnreachable)),
        "expected HostUnreachable, got {err:?}"
    );
    let n = router
        .send_routed_batch(&[(&b"A"[..], &b"y"[..]), (&b"nobody"[..], &b"z"[..])], 0)
        .expect("partial batch");
    assert_eq!(n, 1, "the batch stops at the unroutable message");
    assert_eq!(recv_parts(&mut a, "after mandatory"), vec![b"y".to_vec()]);
});

both_backends!(router_send_routed_many_to_one_peer, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut a = dealer_with_id(&ctx, &ep, b"A");
    a.send(b"hi", 0).expect("a hi");
    recv_parts(&mut router, "hello");
    // ROUTER_MANDATORY: a run past SNDHWM blocks for room instead of dropping, so every
    // message of both calls arrives, in order, at a reader that keeps up.
    set_opt(&mut router, SocketOption::RouterMandatory(true));
    let reader = thread::spawn(move || {
        for i in 0..5000u32 {
            assert_eq!(recv_parts(&mut a, "many"), vec![i.to_le_bytes().to_vec()]);
        }
        for _ in 0..3000 {
            assert_eq!(recv_parts(&mut a, "repeat"), vec![b"r".to_vec()]);
        }
    });
    let many: Vec<[u8; 4]> = (0..5000u32).map(u32::to_le_bytes).collect();
    let mut off = 0;
    while off < many.len() {
        off += router
            .send_routed_many(b"A", &many[off..], 0)
            .expect("send_routed_many");
    }
    let mut left = 3000;
    while left > 0 {
        left -= router
            .send_routed_repeat(b"A", b"r", left, 0)
            .expect("send_routed_repeat");
    }
    reader.join().expect("reader");
    let err = router.send_routed_repeat(b"nobody", b"x", 2, 0);
    assert!(
        matches!(err, Err(Error::HostUnreachable)),
        "expected HostUnreachable, got {err:?}"
    );
});

both_backends!(push_round_robin_and_pull_fair_queue, |backend| {
    let ctx = ctx(backend);
    // One PUSH bound, two PULLs connected: messages alternate between them.
    let mut push = socket(&ctx, SocketType::Push);
    let ep = bind_tcp(&mut push);
    let mut pulls: Vec<Socket> = (0..2)
        .map(|_| {
            let mut p = socket(&ctx, SocketType::Pull);
            connect(&mut p, &ep);
            p
        })
        .collect();
    // Wait until both are attached: a PULL only receives, so probe with messages until each
    // has seen one (PUSH queues nothing for absent peers once both are there).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = [false, false];
    while !(seen[0] && seen[1]) {
        push.send(b"probe", 0).expect("probe");
        for (i, p) in pulls.iter_mut().enumerate() {
            if let Ok(m) = p.recv_bytes(ringlink::DONTWAIT) {
                assert_eq!(m, b"probe");
                seen[i] = true;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PULLs never both attached"
        );
    }
    for p in pulls.iter_mut() {
        while p.recv_bytes(ringlink::DONTWAIT).is_ok() {}
    }
    for i in 0..100u32 {
        push.send(&i.to_le_bytes(), 0).expect("push");
    }
    // Late probes may still arrive first: skip them.
    let take50 = |p: &mut Socket| -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < 50 {
            let m = recv1(p, "pull");
            if m != b"probe" {
                out.push(u32::from_le_bytes(m.try_into().expect("4-byte message")));
            }
        }
        out
    };
    let a = take50(&mut pulls[0]);
    let b = take50(&mut pulls[1]);
    assert!(a.windows(2).all(|w| w[0] < w[1]) && b.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<u32> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100).collect::<Vec<_>>(),
        "each message exactly once"
    );
    // Direction rules.
    assert!(matches!(
        push.recv_bytes(ringlink::DONTWAIT),
        Err(Error::NotSupported)
    ));
    assert!(matches!(pulls[0].send(b"x", 0), Err(Error::NotSupported)));
    // PULL fair-queues two PUSHes.
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep2 = bind_tcp(&mut pull);
    let mut pushes: Vec<Socket> = (0..2)
        .map(|_| {
            let mut p = socket(&ctx, SocketType::Push);
            connect(&mut p, &ep2);
            p
        })
        .collect();
    for (k, p) in pushes.iter_mut().enumerate() {
        for i in 0..200u32 {
            p.send(&[k as u8, i as u8], 0).expect("push");
        }
    }
    let mut counts = [0u32; 2];
    for _ in 0..400 {
        let m = recv1(&mut pull, "fair queue");
        counts[m[0] as usize] += 1;
    }
    assert_eq!(counts, [200, 200]);
});
