//! Reconnection and heartbeats: a connecting socket follows its peer across restarts (of a
//! ringlink socket or of a libzmq process) with its queued messages, does not when
//! RECONNECT_IVL is -1, and ZMTP 3.1 heartbeats drop silent peers but not live ones.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ringlink_tests::raw::{self, RawConn};
use ringlink_tests::*;

const WAIT: Duration = Duration::from_secs(10);

/// Binds a ringlink socket to `ep`, retrying while the old listener on that port is still
/// being closed asynchronously.
fn bind_again(sock: &mut Socket, ep: &str) {
    poll_until(WAIT, &format!("bind {ep} again"), || match sock.bind(ep) {
        Ok(()) => Some(()),
        Err(e) if e.errno() == 98 => None, // EADDRINUSE
        Err(e) => panic!("bind {ep}: {e}"),
    });
}

/// Binds a plain TCP listener on 127.0.0.1:`port` (retrying while the previous owner of the
/// port goes away) and waits for the reconnecting ringlink socket to connect to it. While
/// the returned connection is held open (never answering the greeting), the ringlink side
/// is provably disconnected from its old peer and messages it sends stay queued.
fn intercept_reconnect(port: u16) -> (TcpListener, TcpStream) {
    let listener = poll_until(
        WAIT,
        &format!("bind 127.0.0.1:{port}"),
        || match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == ErrorKind::AddrInUse => None,
            Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
        },
    );
    listener.set_nonblocking(true).expect("nonblocking");
    let conn = poll_until(
        WAIT,
        "the ringlink socket reconnecting",
        || match listener.accept() {
            Ok((s, _)) => Some(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(e) => panic!("accept: {e}"),
        },
    );
    (listener, conn)
}

/// A DONTWAIT send that may be refused with Again (but must not fail otherwise).
fn send_or_again(sock: &mut Socket, body: &[u8]) {
    match sock.send(body, ringlink::DONTWAIT) {
        Ok(()) | Err(Error::Again) => {}
        Err(e) => panic!("send: {e}"),
    }
}

fn recv_routed(sock: &mut Socket, what: &str) -> (Vec<u8>, Vec<u8>) {
    let mut parts = recv_parts(sock, what);
    assert_eq!(parts.len(), 2, "{what}: expected [id][body], got {parts:?}");
    let body = parts.pop().unwrap();
    (parts.pop().unwrap(), body)
}

both_backends!(dealer_follows_restarted_router, |backend| {
    let ctx = ctx(backend);
    let port = free_tcp_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::Linger(0));
    router
        .bind(&ep)
        .unwrap_or_else(|e| panic!("bind {ep}: {e}"));
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"dl".to_vec()));
    connect(&mut dealer, &ep);
    dealer.send(b"before restart", 0).expect("send");
    assert_eq!(
        recv_routed(&mut router, "first message"),
        (b"dl".to_vec(), b"before restart".to_vec())
    );

    drop(router);
    let (listener, held) = intercept_reconnect(port);
    // Disconnected for sure: these are queued in the dealer.
    for i in 0..10 {
        dealer
            .send(format!("queued {i}").as_bytes(), 0)
            .expect("send while disconnected");
    }
    drop(held);
    drop(listener);

    let mut router = socket(&ctx, SocketType::Router);
    bind_again(&mut router, &ep);
    for i in 0..10 {
        assert_eq!(
            recv_routed(&mut router, "queued message at the new router"),
            (b"dl".to_vec(), format!("queued {i}").into_bytes())
        );
    }
    dealer.send(b"after restart", 0).expect("send");
    assert_eq!(
        recv_routed(&mut router, "message after the restart"),
        (b"dl".to_vec(), b"after restart".to_vec())
    );
    router
        .send_multipart(&[&b"dl"[..], b"reply"], 0)
        .expect("reply");
    assert_eq!(recv_parts(&mut dealer, "reply"), vec![b"reply".to_vec()]);
});

both_backends!(no_reconnect_with_reconnect_ivl_minus_1, |backend| {
    let ctx = ctx(backend);
    let port = free_tcp_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut router = socket(&ctx, SocketType::Router);
    set_opt(&mut router, SocketOption::Linger(0));
    router
        .bind(&ep)
        .unwrap_or_else(|e| panic!("bind {ep}: {e}"));
    let mut stays = socket(&ctx, SocketType::Dealer);
    set_opt(&mut stays, SocketOption::RoutingId(b"noreco".to_vec()));
    set_opt(&mut stays, SocketOption::ReconnectIvl(-1));
    connect(&mut stays, &ep);
    // A control dealer with the default RECONNECT_IVL shows when reconnection happened.
    let mut control = socket(&ctx, SocketType::Dealer);
    set_opt(&mut control, SocketOption::RoutingId(b"reco".to_vec()));
    connect(&mut control, &ep);
    stays.send(b"hello", 0).expect("send");
    control.send(b"hello", 0).expect("send");
    let mut ids = vec![
        recv_routed(&mut router, "hello").0,
        recv_routed(&mut router, "hello").0,
    ];
    ids.sort();
    assert_eq!(ids, vec![b"noreco".to_vec(), b"reco".to_vec()]);

    drop(router);
    let mut router = socket(&ctx, SocketType::Router);
    bind_again(&mut router, &ep);
    // Without reconnection its queue goes away with the connection (as in libzmq), so the
    // send may be refused; either way nothing may arrive.
    send_or_again(&mut stays, b"lost");
    // The control dealer gets through (a message sent before it noticed the restart may be
    // lost, so keep sending until one arrives).
    let mut k = 0;
    let deadline = Instant::now() + WAIT;
    loop {
        control
            .send(format!("probe {k}").as_bytes(), 0)
            .expect("send");
        k += 1;
        if let Some(m) = try_recv_parts(&mut router, 100) {
            assert_eq!(
                m[0], b"reco",
                "message {m:?} from a dealer with RECONNECT_IVL -1"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the control dealer never reconnected"
        );
    }
    // Ten reconnect intervals later, still nothing from the other one.
    let quiet_until = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < quiet_until {
        if let Some(m) = try_recv_parts(&mut router, 100) {
            assert_eq!(
                m[0], b"reco",
                "message {m:?} from a dealer with RECONNECT_IVL -1"
            );
        }
    }
    send_or_again(&mut stays, b"lost too");
    control.send(b"marker", 0).expect("send");
    loop {
        let m = recv_parts(&mut router, "marker");
        assert_eq!(
            m[0], b"reco",
            "message {m:?} from a dealer with RECONNECT_IVL -1"
        );
        if m[1] == b"marker" {
            break;
        }
    }
});

/// ringlink DEALER ↔ pyzmq ROUTER process at a fixed port; the process is killed and a new
/// one started on the same port: the messages the dealer queued meanwhile reach it.
fn peer_process_restart(backend: Backend) {
    const N: usize = 20;
    let ctx = ctx(backend);
    let port = free_tcp_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut first = PyPeer::spawn(&[
        "--expect-id",
        "rl",
        "ROUTER",
        "bind",
        &ep,
        "hello",
        "echo",
        "1",
        "recv",
        "1",
    ]);
    assert_eq!(first.endpoint(), ep);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"rl".to_vec()));
    connect(&mut dealer, &ep);
    let mut conv = Conv::plain(&mut dealer);
    conv.hello();
    conv.ping_n(1);

    // Kill the process (it is waiting in `recv 1`) and wait for it to be gone.
    drop(first);
    let (listener, held) = intercept_reconnect(port);
    let mut conv = Conv::plain(&mut dealer);
    conv.send_n(N);
    drop(held);
    drop(listener);

    let second = PyPeer::spawn(&[
        "--expect-id",
        "rl",
        "ROUTER",
        "bind",
        &ep,
        "recv",
        &N.to_string(),
        "send",
        "3",
    ]);
    let mut conv = Conv::plain(&mut dealer);
    conv.recv_n(3);
    second.finish();
}

both_backends!(reconnect_after_peer_process_restart, peer_process_restart);

// ---------------------------------------------------------------------------------------------
// Heartbeats

fn heartbeat_pair(ctx: &Context) -> (Socket, String) {
    let mut pair = socket(ctx, SocketType::Pair);
    set_opt(&mut pair, SocketOption::HeartbeatIvl(100));
    set_opt(&mut pair, SocketOption::HeartbeatTimeout(300));
    let ep = bind_tcp(&mut pair);
    (pair, ep)
}

fn assert_ping(f: &raw::Frame) {
    assert_eq!(f.flags & 0x04, 0x04, "PING is a command frame: {f:02x?}");
    assert!(
        f.body.len() >= 7 && &f.body[..5] == b"\x04PING",
        "PING body: {f:02x?}"
    );
}

both_backends!(heartbeat_drops_silent_peer, |backend| {
    let ctx = ctx(backend);
    let (mut pair, ep) = heartbeat_pair(&ctx);
    let mut raw = RawConn::connect(&ep);
    raw.handshake(1, "PAIR", None);
    let start = Instant::now();
    let deadline = start + WAIT;
    let mut pings = 0;
    // PINGs until the connection is closed (read_frame fails the test at the deadline).
    while let Ok(f) = raw.read_frame(deadline) {
        assert_ping(&f);
        pings += 1;
    }
    let elapsed = start.elapsed();
    assert!(pings >= 1, "closed without sending a PING first");
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed after {elapsed:?}, before HEARTBEAT_TIMEOUT"
    );
    // The PAIR (once it has looked at its peers) is free again for a live peer.
    let mut peer = socket(&ctx, SocketType::Pair);
    connect(&mut peer, &ep);
    peer.send(b"next", 0).expect("send");
    assert_eq!(recv_parts(&mut pair, "next peer"), vec![b"next".to_vec()]);
});

both_backends!(heartbeat_answered_keeps_connection, |backend| {
    let ctx = ctx(backend);
    let (mut pair, ep) = heartbeat_pair(&ctx);
    let mut raw = RawConn::connect(&ep);
    raw.handshake(1, "PAIR", None);
    let deadline = Instant::now() + WAIT;
    // Answer ten PINGs (about a second, more than three HEARTBEAT_TIMEOUTs).
    for k in 0..10 {
        let f = raw
            .read_frame(deadline)
            .unwrap_or_else(|_| panic!("closed after {k} answered PINGs"));
        assert_ping(&f);
        let mut pong = b"\x04PONG".to_vec();
        pong.extend_from_slice(&f.body[7..]); // the PING's context
        raw.write(&raw::command(&pong));
    }
    raw.write(&raw::message(b"still here", false));
    assert_eq!(
        recv_parts(&mut pair, "raw message"),
        vec![b"still here".to_vec()]
    );
    pair.send(b"yes", 0).expect("send");
    loop {
        let f = raw.read_frame(deadline).expect("reply");
        if f.is_command() {
            assert_ping(&f);
            continue;
        }
        assert_eq!(f.body, b"yes");
        break;
    }
});

both_backends!(heartbeat_peers_stay_connected, |backend| {
    let ctx = ctx(backend);
    let (mut a, ep) = heartbeat_pair(&ctx);
    set_opt(&mut a, SocketOption::HeartbeatTtl(500));
    let mut b = socket(&ctx, SocketType::Pair);
    set_opt(&mut b, SocketOption::HeartbeatIvl(100));
    set_opt(&mut b, SocketOption::HeartbeatTimeout(300));
    set_opt(&mut b, SocketOption::HeartbeatTtl(500));
    // A dropped connection would not come back, so the round trips prove it stayed up.
    set_opt(&mut b, SocketOption::ReconnectIvl(-1));
    connect(&mut b, &ep);
    let start = Instant::now();
    for k in 0..20 {
        let msg = format!("round trip {k}").into_bytes();
        b.send(&msg, 0).expect("send");
        assert_eq!(recv_parts(&mut a, "ping"), vec![msg.clone()]);
        a.send(&msg, 0).expect("send back");
        assert_eq!(recv_parts(&mut b, "pong"), vec![msg]);
        // Idle for a heartbeat interval: only heartbeats flow (and are never delivered).
        assert!(try_recv_parts(&mut b, 100).is_none(), "heartbeat delivered");
    }
    assert!(start.elapsed() >= Duration::from_millis(2000));
});
