//! Socket monitor events on both backends: a server's and a client's view of a connection's
//! life, connect retries, handshake failures and bind failures.

use std::io::Write;
use std::time::Duration;

use ringlink::{DisconnectReason, Monitor, MonitorEventKind};
use ringlink_tests::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// Waits for the first event matching `pred` (earlier ones are skipped) or fails.
fn expect(
    m: &Monitor,
    what: &str,
    pred: impl Fn(&MonitorEventKind) -> bool,
) -> ringlink::MonitorEvent {
    loop {
        let e = m
            .recv(WAIT)
            .expect("monitor recv")
            .unwrap_or_else(|| panic!("no {what} event within 10 s"));
        if pred(&e.kind) {
            return e;
        }
    }
}

both_backends!(monitor_connection_lifecycle, |backend| {
    let ctx = ctx(backend);
    let mut server = socket(&ctx, SocketType::Router);
    let sm = server.monitor().unwrap();
    let ep = bind_tcp(&mut server);
    let e = expect(&sm, "LISTENING", |k| *k == MonitorEventKind::Listening);
    assert_eq!(e.endpoint, ep);

    let mut client = socket(&ctx, SocketType::Dealer);
    set_opt(&mut client, SocketOption::RoutingId(b"watched".to_vec()));
    let cm = client.monitor().unwrap();
    connect(&mut client, &ep);
    expect(&cm, "CONNECTED", |k| *k == MonitorEventKind::Connected);
    expect(&cm, "HANDSHAKE_SUCCEEDED", |k| {
        *k == MonitorEventKind::HandshakeSucceeded
    });
    expect(&sm, "ACCEPTED", |k| *k == MonitorEventKind::Accepted);
    let e = expect(&sm, "HANDSHAKE_SUCCEEDED", |k| {
        *k == MonitorEventKind::HandshakeSucceeded
    });
    assert_eq!(e.peer_routing_id.as_deref(), Some(&b"watched"[..]));

    // The client goes away: the server sees a remote disconnect, the client's monitor stops.
    drop(client);
    expect(&cm, "MONITOR_STOPPED", |k| {
        *k == MonitorEventKind::MonitorStopped
    });
    expect(&sm, "DISCONNECTED(remote)", |k| {
        matches!(
            k,
            MonitorEventKind::Disconnected(DisconnectReason::Remote, _)
        )
    });
});

both_backends!(monitor_retries_and_failures, |backend| {
    let ctx = ctx(backend);
    // Connecting to a port nobody listens on: retries are reported.
    let port = free_tcp_port();
    let mut c = socket(&ctx, SocketType::Dealer);
    let m = c.monitor().unwrap();
    connect(&mut c, &format!("tcp://127.0.0.1:{port}"));
    let e = expect(&m, "CONNECT_RETRIED", |k| {
        matches!(k, MonitorEventKind::ConnectRetried(_))
    });
    if let MonitorEventKind::ConnectRetried(d) = e.kind {
        assert!(d >= Duration::from_millis(100), "retry interval {d:?}");
    }
    // Binding an address in use reports BIND_FAILED.
    let mut a = socket(&ctx, SocketType::Pair);
    let ep = bind_tcp(&mut a);
    let mut b = socket(&ctx, SocketType::Pair);
    let bm = b.monitor().unwrap();
    assert!(b.bind(&ep).is_err());
    expect(&bm, "BIND_FAILED", |k| {
        *k == MonitorEventKind::BindFailed(libc::EADDRINUSE)
    });
    // A raw client sending garbage: handshake failure, then a handshake disconnect.
    let am = a.monitor().unwrap();
    let port = endpoint_port(&ep);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.write_all(&[0x00; 64]).unwrap();
    expect(&am, "HANDSHAKE_FAILED_PROTOCOL", |k| {
        matches!(k, MonitorEventKind::HandshakeFailedProtocol(_))
    });
    expect(&am, "DISCONNECTED(handshake)", |k| {
        matches!(
            k,
            MonitorEventKind::Disconnected(DisconnectReason::Handshake, _)
        )
    });
});

both_backends!(monitor_dropped_stops_queueing, |backend| {
    let ctx = ctx(backend);
    let mut s = socket(&ctx, SocketType::Dealer);
    let m = s.monitor().unwrap();
    let ep = bind_tcp(&mut s);
    expect(&m, "LISTENING", |k| {
        matches!(k, MonitorEventKind::Listening)
    });
    drop(m);
    // Events while nobody monitors are not kept for a later monitor.
    let mut peer = socket(&ctx, SocketType::Dealer);
    peer.connect(&ep).unwrap();
    peer.send(b"x", 0).unwrap();
    assert_eq!(recv_parts(&mut s, "x"), vec![b"x".to_vec()]);
    let m2 = s.monitor().unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let first = m2.recv(WAIT).expect("monitor recv").expect("an event");
    assert!(
        matches!(first.kind, MonitorEventKind::Listening),
        "the new monitor starts empty, got {:?}",
        first.kind
    );
});
