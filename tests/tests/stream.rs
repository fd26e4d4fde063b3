//! STREAM sockets: raw TCP/IPC peers in libzmq's framing (bytes as they come, empty payload =
//! connect/disconnect/close) and zlink's length-prefixed framing, MAXMSGSIZE, routing errors,
//! batches, and pyzmq's STREAM on the other end. Every test runs on both backends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ringlink::{StreamFraming, DONTWAIT, SNDMORE};
use ringlink_tests::*;

fn stream(ctx: &Context, framing: StreamFraming) -> Socket {
    let mut s = socket(ctx, SocketType::Stream);
    set_opt(&mut s, SocketOption::StreamFraming(framing));
    s
}

fn tcp_client(ep: &str) -> TcpStream {
    let c = TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

/// Receive `[id][payload]`.
fn recv2(s: &mut Socket, what: &str) -> (Vec<u8>, Vec<u8>) {
    let m = recv_parts(s, what);
    assert_eq!(m.len(), 2, "{what}: two frames, got {m:?}");
    (m[0].clone(), m[1].clone())
}

/// Collect `want.len()` payload bytes from peer `rid` (raw framing splits arbitrarily).
fn collect(s: &mut Socket, rid: &[u8], want: &[u8]) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        let (r, data) = recv2(s, "data");
        assert_eq!(r, rid, "data from the expected peer");
        assert!(!data.is_empty(), "peer closed early");
        got.extend(data);
    }
    assert_eq!(got, want);
}

fn send2(s: &mut Socket, rid: &[u8], data: &[u8]) {
    s.send(rid, SNDMORE).unwrap();
    s.send(data, 0).unwrap();
}

fn read_to_eof(c: &mut impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("read until the peer closes");
    all
}

both_backends!(stream_raw_tcp_server, |backend| {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::Raw);
    let ep = bind_tcp(&mut s);
    let mut c = tcp_client(&ep);
    let (rid, notice) = recv2(&mut s, "connect notification");
    assert!(notice.is_empty());
    assert_eq!(rid.len(), 5);
    assert_eq!(rid[0], 0);
    c.write_all(b"hello world").unwrap();
    collect(&mut s, &rid, b"hello world");
    let big = pattern(1 << 20);
    send2(&mut s, &rid, b"reply:");
    send2(&mut s, &rid, &big);
    // An empty payload closes the connection after what was queued before it.
    send2(&mut s, &rid, b"");
    let got = read_to_eof(&mut c);
    assert_eq!(got.len(), 6 + big.len());
    assert_eq!(&got[..6], b"reply:");
    assert!(got[6..] == big[..]);
    // The id is gone.
    assert!(matches!(s.send(&rid, SNDMORE), Err(Error::HostUnreachable)));
    // A second client that closes itself: connect and disconnect notifications.
    let c2 = tcp_client(&ep);
    let (rid2, n1) = recv2(&mut s, "second connect");
    assert!(n1.is_empty());
    assert_ne!(rid2, rid);
    drop(c2);
    assert_eq!(recv2(&mut s, "disconnect"), (rid2, Vec::new()));
});

both_backends!(stream_raw_tcp_client_with_alias, |backend| {
    let ctx = ctx(backend);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let mut s = stream(&ctx, StreamFraming::Raw);
    set_opt(&mut s, SocketOption::ConnectRoutingId(b"srv".to_vec()));
    connect(&mut s, &ep);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(recv2(&mut s, "connected"), (b"srv".to_vec(), Vec::new()));
    send2(&mut s, b"srv", b"GET / HTTP/1.0\r\n\r\n");
    let mut buf = [0u8; 18];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"GET / HTTP/1.0\r\n\r\n");
    conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nbody").unwrap();
    drop(conn);
    collect(&mut s, b"srv", b"HTTP/1.0 200 OK\r\n\r\nbody");
    assert_eq!(
        recv2(&mut s, "server closed"),
        (b"srv".to_vec(), Vec::new())
    );
});

both_backends!(stream_raw_ipc, |backend| {
    let ctx = ctx(backend);
    let addr = BindAddr::new(Transport::Ipc, "stream");
    let mut s = stream(&ctx, StreamFraming::Raw);
    let ep = bind(&mut s, &addr);
    let mut c = UnixStream::connect(ep.strip_prefix("ipc://").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (rid, _) = recv2(&mut s, "connect");
    c.write_all(b"over ipc").unwrap();
    collect(&mut s, &rid, b"over ipc");
    send2(&mut s, &rid, b"back");
    send2(&mut s, &rid, b"");
    assert_eq!(read_to_eof(&mut c), b"back");
});

fn lp(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

both_backends!(stream_length_prefixed, |backend| {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::LengthPrefixed);
    let ep = bind_tcp(&mut s);
    let mut c = tcp_client(&ep);
    let (rid, n) = recv2(&mut s, "connect");
    assert_eq!(rid, 1u32.to_be_bytes(), "ids count from 1");
    assert_eq!(n, [1]);
    // Two messages in one write, then one dribbled a byte at a time, then an empty one.
    let mut out = lp(b"first");
    out.extend(lp(&pattern(70_000)));
    c.write_all(&out).unwrap();
    for b in lp(b"third") {
        c.write_all(&[b]).unwrap();
    }
    c.write_all(&lp(b"")).unwrap();
    assert_eq!(recv2(&mut s, "1"), (rid.clone(), b"first".to_vec()));
    assert_eq!(recv2(&mut s, "2"), (rid.clone(), pattern(70_000)));
    assert_eq!(recv2(&mut s, "3"), (rid.clone(), b"third".to_vec()));
    assert_eq!(recv2(&mut s, "4"), (rid.clone(), Vec::new()));
    send2(&mut s, &rid, b"out");
    send2(&mut s, &rid, b"");
    send2(&mut s, &rid, &[0]); // close
    let mut want = lp(b"out");
    want.extend(lp(b""));
    assert_eq!(read_to_eof(&mut c), want);
    let c2 = tcp_client(&ep);
    assert_eq!(recv2(&mut s, "2nd"), (2u32.to_be_bytes().to_vec(), vec![1]));
    drop(c2);
    assert_eq!(
        recv2(&mut s, "2nd gone"),
        (2u32.to_be_bytes().to_vec(), vec![0])
    );
});

both_backends!(stream_maxmsgsize, |backend| {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::LengthPrefixed);
    set_opt(&mut s, SocketOption::MaxMsgSize(100));
    let ep = bind_tcp(&mut s);
    let mut good = tcp_client(&ep);
    let (g, _) = recv2(&mut s, "good");
    let mut bad = tcp_client(&ep);
    let (b, _) = recv2(&mut s, "bad");
    bad.write_all(&lp(&[9u8; 101])).unwrap();
    // The offender is dropped (its client sees EOF), with a disconnect notification.
    assert_eq!(recv2(&mut s, "bad dropped"), (b, vec![0]));
    assert!(read_to_eof(&mut bad).is_empty());
    // The other connection is unaffected.
    good.write_all(&lp(&[7u8; 100])).unwrap();
    assert_eq!(recv2(&mut s, "good data"), (g.clone(), vec![7u8; 100]));

    // Raw framing: MAXMSGSIZE caps each delivered piece.
    let mut r = stream(&ctx, StreamFraming::Raw);
    set_opt(&mut r, SocketOption::MaxMsgSize(10));
    let ep = bind_tcp(&mut r);
    let mut c = tcp_client(&ep);
    let (rid, _) = recv2(&mut r, "raw connect");
    c.write_all(&[5u8; 95]).unwrap();
    let mut total = 0;
    while total < 95 {
        let (from, data) = recv2(&mut r, "raw piece");
        assert_eq!(from, rid);
        assert!(
            !data.is_empty() && data.len() <= 10,
            "piece of {}",
            data.len()
        );
        total += data.len();
    }
});

both_backends!(stream_errors_notify_and_batch, |backend| {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::Raw);
    assert!(matches!(
        s.send(b"nobody", SNDMORE),
        Err(Error::HostUnreachable)
    ));
    assert!(s.send(b"", SNDMORE).is_err(), "empty id frame");
    s.send(b"lone", 0).unwrap(); // dropped, like libzmq
    assert!(s.bind("inproc://stream-not-supported").is_err());
    set_opt(&mut s, SocketOption::StreamNotify(false));
    let ep = bind_tcp(&mut s);
    let mut c = tcp_client(&ep);
    c.write_all(b"x").unwrap();
    // No connect notification: the first message carries data.
    let (rid, data) = recv2(&mut s, "first");
    assert_eq!(data, b"x");
    drop(c);
    // No disconnect notification either: nothing more arrives, and the id disappears.
    poll_until(Duration::from_secs(20), "peer removed", || {
        assert!(matches!(s.recv_bytes(DONTWAIT), Err(Error::Again)));
        s.send(&rid, SNDMORE)
            .err()
            .filter(|e| matches!(e, Error::HostUnreachable))
    });

    // Batch receive: notifications and data as [id][payload] pairs.
    let mut t = stream(&ctx, StreamFraming::LengthPrefixed);
    let ep = bind_tcp(&mut t);
    let mut c = tcp_client(&ep);
    let mut bytes = lp(b"one");
    bytes.extend(lp(b"two"));
    c.write_all(&bytes).unwrap();
    let mut buf = [0u8; 256];
    let mut lens = [0usize; 16];
    let mut parts: Vec<Vec<u8>> = Vec::new();
    while parts.len() < 6 {
        let n = t.recv_batch(&mut buf, &mut lens, 0).unwrap();
        let mut off = 0;
        for &l in &lens[..n] {
            parts.push(buf[off..off + l].to_vec());
            off += l;
        }
    }
    let id = 1u32.to_be_bytes().to_vec();
    assert_eq!(
        parts,
        vec![
            id.clone(),
            vec![1],
            id.clone(),
            b"one".to_vec(),
            id,
            b"two".to_vec()
        ]
    );
});

// ----- pyzmq's STREAM on the other end -------------------------------------------------------

fn py_stream(backend: Backend, rl_binds: bool) {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::Raw);
    if rl_binds {
        let ep = bind_tcp(&mut s);
        let peer = PyPeer::spawn_script("stream_peer", &["connect", &ep]);
        let (rid, n) = recv2(&mut s, "pyzmq connects");
        assert!(n.is_empty());
        collect(&mut s, &rid, b"ping");
        send2(&mut s, &rid, b"pong");
        assert_eq!(recv2(&mut s, "pyzmq closes"), (rid, Vec::new()));
        peer.finish();
    } else {
        let mut peer = PyPeer::spawn_script("stream_peer", &["bind", "tcp://127.0.0.1:*"]);
        connect(&mut s, &peer.endpoint());
        let (rid, n) = recv2(&mut s, "connected to pyzmq");
        assert!(n.is_empty());
        send2(&mut s, &rid, b"ping");
        collect(&mut s, &rid, b"pong");
        send2(&mut s, &rid, b"");
        peer.finish();
    }
}

both_backends!(interop_stream_py_connects, |b| py_stream(b, true));
both_backends!(interop_stream_py_binds, |b| py_stream(b, false));

both_backends!(stream_routed_batch, |backend| {
    let ctx = ctx(backend);
    let mut s = stream(&ctx, StreamFraming::LengthPrefixed);
    let ep = bind_tcp(&mut s);
    let mut c1 = tcp_client(&ep);
    let (r1, _) = recv2(&mut s, "c1");
    let mut c2 = tcp_client(&ep);
    let (r2, _) = recv2(&mut s, "c2");
    let batch: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (r1.clone(), b"a".to_vec()),
        (r2.clone(), b"to c2".to_vec()),
        (r1.clone(), b"bb".to_vec()),
        (r1.clone(), vec![0]), // closes c1 after what came before
    ];
    assert_eq!(s.send_routed_batch(&batch, 0).unwrap(), 4);
    let mut want = lp(b"a");
    want.extend(lp(b"bb"));
    assert_eq!(read_to_eof(&mut c1), want);
    let mut got = vec![0u8; lp(b"to c2").len()];
    c2.read_exact(&mut got).unwrap();
    assert_eq!(got, lp(b"to c2"));
    // Unknown peers fail the batch (STREAM is always mandatory).
    assert!(matches!(
        s.send_routed_batch(&[(b"nope".to_vec(), b"x".to_vec())], 0),
        Err(Error::HostUnreachable)
    ));
});
