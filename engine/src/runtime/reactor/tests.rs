//! Deterministic reactor tests over the in-memory driver (`backend/mem.rs`): one accepted
//! connection whose remote end is a `ZmtpSession` fed exactly the bytes the engine sent. The
//! driver's send window makes sends partial or keeps them in flight; the monitor shows the
//! typed close reason as users see it. No threads, no sleeps: `pump` runs the reactor until
//! two turns in a row do nothing.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::backend::mem::{MemDriver, MemNet};
use crate::monitor::{DisconnectReason, Monitor, MonitorEventKind};
use crate::options::SocketOption;
use crate::pipe;
use crate::protocol::{frame, Command, HandshakeConfig, SocketType};
use crate::runtime::context::Context;
use crate::session::ZmtpSession;
use crate::socket::{Socket, DONTWAIT};
use crate::wire::testing::{Xor, XorFactory};
use crate::wire::WireTransform;

struct Harness {
    net: Arc<Mutex<MemNet>>,
    sock: Option<Socket>,
    monitor: Monitor,
    ctx: Option<Context>,
    key: u64,
    /// The remote peer: its protocol state, whether its handshake finished, and the pipe its
    /// received messages are decoded into.
    peer: ZmtpSession,
    peer_ready: bool,
    peer_in: (pipe::Writer, pipe::Reader),
    /// With a wire transform: the peer's own (it encodes what `push` sends and decodes what
    /// the engine sent).
    peer_wire: Option<Xor>,
    _pair: (UnixStream, UnixStream),
}

fn lock(net: &Mutex<MemNet>) -> MutexGuard<'_, MemNet> {
    net.lock().unwrap_or_else(|e| e.into_inner())
}

impl Harness {
    /// A socket of type `ty` (options applied before bind) with one accepted connection; the
    /// handshake has not started on the peer's side.
    fn new(ty: SocketType, opts: &[SocketOption]) -> Harness {
        Harness::build(ty, opts, false)
    }

    /// `new` with the test transform (`wire::testing::Xor`) on both ends.
    fn with_wire(ty: SocketType, opts: &[SocketOption]) -> Harness {
        Harness::build(ty, opts, true)
    }

    fn build(ty: SocketType, opts: &[SocketOption], wire: bool) -> Harness {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let net = Arc::new(Mutex::new(MemNet::default()));
        let factory = wire.then(|| Arc::new(XorFactory) as Arc<dyn crate::wire::WireFactory>);
        let ctx = Context::with_mem_driver(MemDriver::new(net.clone()), factory).expect("context");
        let mut sock = ctx.socket(ty).expect("socket");
        for o in opts {
            sock.set_option(o.clone()).expect("option");
        }
        let monitor = sock.monitor().expect("monitor");
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        sock.bind(&format!("ipc://@ringlink-rtest-{}-{n}", std::process::id()))
            .expect("bind");
        let pair = UnixStream::pair().expect("socketpair");
        lock(&net)
            .accept_queue
            .push_back(OwnedFd::from(pair.0.try_clone().expect("dup")));
        let mut peer = ZmtpSession::new(None, u64::MAX, false);
        let peer_ty = match ty {
            SocketType::Pub => SocketType::Sub,
            t => t,
        };
        peer.start_handshake(HandshakeConfig {
            socket_type: peer_ty,
            identity: Vec::new(),
        });
        let mut h = Harness {
            net,
            sock: Some(sock),
            monitor,
            ctx: Some(ctx),
            key: 0,
            peer,
            peer_ready: false,
            peer_in: pipe::pipe(1000),
            peer_wire: wire.then(Xor::default),
            _pair: pair,
        };
        h.pump();
        h.key = *lock(&h.net).conn_keys().first().expect("accepted");
        h
    }

    fn sock(&mut self) -> &mut Socket {
        self.sock.as_mut().expect("socket open")
    }

    /// Run the reactor until two turns in a row do nothing.
    fn pump(&mut self) {
        let ctx = self.ctx.as_ref().expect("context");
        let mut quiet = 0;
        for _ in 0..10_000 {
            let before = lock(&self.net).activity;
            ctx.drive_io();
            let busy = lock(&self.net).activity != before || ctx.reactor(0).has_cmds();
            quiet = if busy { 0 } else { quiet + 1 };
            if quiet == 2 {
                return;
            }
        }
        panic!("reactor still busy after 10000 turns");
    }

    /// Bytes from the peer (through its transform, if any), delivered by the next `pump`.
    fn push(&mut self, bytes: &[u8]) {
        let mut encoded = Vec::new();
        let bytes = match self.peer_wire.as_mut() {
            Some(w) => {
                w.encode(bytes, &mut encoded).expect("encode");
                &encoded[..]
            }
            None => bytes,
        };
        self.push_raw(bytes);
    }

    /// Bytes from the peer exactly as given.
    fn push_raw(&mut self, bytes: &[u8]) {
        assert!(
            lock(&self.net).push_inbound(self.key, bytes),
            "connection open"
        );
    }

    /// What the engine sent since the last call, decoded by the peer's transform if any.
    fn take_sent(&mut self) -> Vec<u8> {
        let raw = lock(&self.net).take_sent(self.key);
        match self.peer_wire.as_mut() {
            Some(w) => {
                let mut plain = Vec::new();
                w.decode(&raw, &mut plain).expect("engine's records");
                plain
            }
            None => raw,
        }
    }

    fn set_window(&mut self, bytes: usize) {
        lock(&self.net).window = bytes;
    }

    /// Hand what the engine sent to the peer session; queue the peer's answers for the
    /// engine. Returns the data bytes the peer's session decoded (whole frames).
    fn peer_read(&mut self) -> Vec<u8> {
        let mut bytes = self.take_sent();
        if !self.peer_ready {
            let (n, done) = self
                .peer
                .handle_handshake(&bytes)
                .expect("engine handshake");
            self.peer_ready = done.is_some();
            bytes.drain(..n);
        }
        let w = &mut self.peer_in.0;
        self.peer
            .handle_bytes(Instant::now, &bytes, Some(w))
            .expect("engine bytes are valid ZMTP");
        let msgs = self.peer.take_marked();
        w.commit_marked(msgs);
        let lease = self.peer.poll_transmit(pipe::IovArray::default());
        let reply = lease.ctrl_bytes().to_vec();
        self.peer.handle_sent(reply.len(), lease);
        if !reply.is_empty() {
            self.push(&reply);
        }
        let mut got = Vec::new();
        loop {
            let b = self.peer_in.1.peek();
            if b.is_empty() {
                break;
            }
            let n = b.len();
            got.extend_from_slice(b);
            self.peer_in.1.consume(n);
        }
        got
    }

    /// Complete the handshake (the peer answers whatever the engine sends).
    fn handshake(&mut self) {
        for _ in 0..4 {
            self.pump();
            self.peer_read();
        }
        self.pump();
        assert!(self.peer_ready, "peer finished its handshake");
        assert!(
            self.events()
                .contains(&MonitorEventKind::HandshakeSucceeded),
            "engine finished its handshake"
        );
    }

    /// Monitor events so far.
    fn events(&mut self) -> Vec<MonitorEventKind> {
        let mut v = Vec::new();
        while let Some(e) = self.monitor.recv(Some(std::time::Duration::ZERO)).unwrap() {
            v.push(e.kind);
        }
        v
    }

    /// The connection's DISCONNECTED event (asserting there is exactly one).
    fn disconnected(&mut self) -> (DisconnectReason, String) {
        let ends: Vec<_> = self
            .events()
            .into_iter()
            .filter_map(|k| match k {
                MonitorEventKind::Disconnected(r, t) => Some((r, t)),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 1, "one DISCONNECTED: {ends:?}");
        ends.into_iter().next().unwrap()
    }

    fn is_open(&self) -> bool {
        lock(&self.net).is_open(self.key)
    }

    /// Close the socket and check that the reactor lets go of every descriptor.
    fn finish(mut self) {
        self.shutdown();
        assert_eq!(lock(&self.net).open_endpoints(), 0, "endpoints left open");
    }

    fn shutdown(&mut self) {
        if let Some(sock) = self.sock.take() {
            self.set_window(usize::MAX);
            drop(sock);
            self.pump();
            if lock(&self.net).open_endpoints() != 0 {
                // Dropping the context would wait for them forever.
                std::mem::forget(self.ctx.take());
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn frames(parts: &[(bool, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut hdr = [0u8; frame::MAX_HEADER];
    for (more, body) in parts {
        let hl = frame::encode_header(&mut hdr, *more, false, body.len() as u64);
        out.extend_from_slice(&hdr[..hl]);
        out.extend_from_slice(body);
    }
    out
}

#[test]
fn handshake_then_data_both_ways() {
    for wire in [false, true] {
        let mut h = Harness::build(SocketType::Pair, &[], wire);
        let greeting = h.take_sent();
        assert_eq!(greeting.len(), 64, "the greeting goes out at once, alone");
        let (n, done) = h.peer.handle_handshake(&greeting).unwrap();
        assert_eq!((n, done.is_some()), (64, false));
        h.peer_read();
        h.handshake();
        h.sock().send(b"hello", 0).unwrap();
        h.pump();
        assert_eq!(h.peer_read(), frames(&[(false, b"hello")]));
        h.push(&frames(&[(true, b"a"), (false, b"b")]));
        h.pump();
        assert_eq!(h.sock().recv_bytes(DONTWAIT).unwrap(), b"a");
        assert_eq!(h.sock().recv_bytes(DONTWAIT).unwrap(), b"b");
        h.finish();
    }
}

#[test]
fn partial_sends_keep_frames_and_control_in_order() {
    for wire in [false, true] {
        partial_sends(wire);
    }
}

/// With a transform the engine encodes everything at once; the 7-byte window then cuts
/// records instead of frames.
fn partial_sends(wire: bool) {
    let mut h = Harness::build(SocketType::Pair, &[], wire);
    h.handshake();
    let big = vec![7u8; 1000];
    h.sock()
        .send_multipart(&[&big[..], b"end"], DONTWAIT)
        .unwrap();
    h.sock().send(b"second", DONTWAIT).unwrap();
    let mut ping = Vec::new();
    Command::Ping {
        ttl_ds: 0,
        context: b"p".to_vec(),
    }
    .encode(&mut ping);
    let want = frames(&[(true, &big), (false, b"end"), (false, b"second")]);
    let mut got = Vec::new();
    let mut rounds = 0;
    while got.len() < want.len() {
        // The peer reads 7 bytes per round; a PING arrives mid-message, and its PONG must
        // wait for the message boundary (the peer's decoder would fail otherwise).
        h.set_window(7);
        if rounds == 3 {
            h.push(&ping);
        }
        h.pump();
        got.extend(h.peer_read());
        rounds += 1;
        assert!(
            rounds < 1000,
            "no progress: {} of {} bytes",
            got.len(),
            want.len()
        );
    }
    assert_eq!(got, want);
    assert!(h
        .events()
        .iter()
        .all(|k| !matches!(k, MonitorEventKind::Disconnected(..))));
    h.finish();
}

/// A writer held at SNDHWM gets room for each message that left whole while the rest of
/// the backlog is still going out (a short send credits what it completed), not only once
/// everything that send carried has left.
#[test]
fn messages_that_left_whole_free_room_below_the_hwm() {
    const WHOLE: usize = 100_009; // a 100,000-byte body behind a 9-byte header
    let mut h = Harness::new(SocketType::Pair, &[SocketOption::SndHwm(4)]);
    h.handshake();
    let big = vec![3u8; 100_000];
    // The first message's send starts (and waits: the peer reads nothing); three more queue.
    h.set_window(0);
    for _ in 0..4 {
        h.sock().send(&big, DONTWAIT).unwrap();
    }
    let again = |r: crate::Result<()>| matches!(r, Err(crate::Error::Again));
    assert!(again(h.sock().send(b"fifth", DONTWAIT)));
    // The first send completes; the next carries the other three and waits.
    h.set_window(WHOLE);
    h.pump();
    assert_eq!(h.peer_read().len(), WHOLE);
    h.sock()
        .send(b"fifth", DONTWAIT)
        .expect("room for the first");
    assert!(again(h.sock().send(b"sixth", DONTWAIT)));
    // That send is cut after one and a half messages: the whole one frees a place.
    h.set_window(WHOLE + WHOLE / 2);
    h.pump();
    assert_eq!(h.peer_read().len(), WHOLE);
    h.sock()
        .send(b"sixth", DONTWAIT)
        .expect("room for the message that left whole");
    assert!(again(h.sock().send(b"seventh", DONTWAIT)));
    h.set_window(usize::MAX);
    h.pump();
    let rest = h.peer_read();
    assert_eq!(rest.len(), 2 * WHOLE + 2 * 7);
    assert!(rest.ends_with(b"sixth"));
    h.finish();
}

#[test]
fn peer_closes_while_a_send_is_in_flight() {
    for window in [0, 3] {
        let mut h = Harness::new(SocketType::Pair, &[]);
        h.handshake();
        h.set_window(window);
        h.sock().send(&[1u8; 100], DONTWAIT).unwrap();
        h.pump();
        assert!(h.is_open());
        lock(&h.net).peer_close(h.key);
        h.pump();
        assert!(!h.is_open(), "closed, the send in flight cancelled");
        assert_eq!(
            h.disconnected(),
            (
                DisconnectReason::Remote,
                "peer closed the connection".into()
            )
        );
        // The application may keep using the socket.
        let _ = h.sock().send(b"late", DONTWAIT);
        h.pump();
        h.finish();
    }
}

#[test]
fn socket_closes_while_a_send_is_stalled() {
    let mut h = Harness::new(SocketType::Pair, &[SocketOption::Linger(0)]);
    h.handshake();
    h.set_window(0);
    h.sock().send(&[1u8; 100], DONTWAIT).unwrap();
    h.pump();
    drop(h.sock.take());
    h.pump();
    assert!(!h.is_open());
    assert_eq!(lock(&h.net).open_endpoints(), 0);
}

#[test]
fn hostile_bytes_end_with_typed_reasons() {
    // A reserved flag bit after the handshake.
    let mut h = Harness::new(SocketType::Pair, &[]);
    h.handshake();
    h.push(&[0x80, 0]);
    h.pump();
    assert!(!h.is_open());
    assert_eq!(
        h.disconnected(),
        (
            DisconnectReason::Transport,
            "protocol error: reserved frame flags set (0x80)".into()
        )
    );
    h.finish();
    // A frame over MAXMSGSIZE.
    let mut h = Harness::new(SocketType::Pair, &[SocketOption::MaxMsgSize(4)]);
    h.handshake();
    h.push(&frames(&[(false, b"0123456789")]));
    h.pump();
    assert_eq!(
        h.disconnected(),
        (
            DisconnectReason::Transport,
            "protocol error: frame too large (10 > 4 bytes)".into()
        )
    );
    h.finish();
    // A bad greeting: a handshake failure with detail, then DISCONNECTED(Handshake).
    let mut h = Harness::new(SocketType::Pair, &[]);
    h.push(&[0x01; 64]);
    h.pump();
    let ev = h.events();
    assert!(ev.contains(&MonitorEventKind::HandshakeFailedProtocol(
        "bad greeting signature".into()
    )));
    assert!(ev.contains(&MonitorEventKind::Disconnected(
        DisconnectReason::Handshake,
        "handshake failed: bad greeting signature".into()
    )));
    h.finish();
}

// ---- with a wire transform (`crate::wire`) ------------------------------------------------

/// The transform's records on the wire: the greeting leaves as one record, not in plain, and
/// received records may be split anywhere (here: byte by byte, inside record headers too).
#[test]
fn wire_transform_frames_bytes_in_records() {
    let mut h = Harness::with_wire(SocketType::Pair, &[]);
    let raw = lock(&h.net).take_sent(h.key);
    assert_eq!(raw.len(), 2 + 64, "one record holding the greeting");
    assert_ne!(raw[2], 0xFF, "not the plain greeting");
    let mut greeting = Vec::new();
    h.peer_wire
        .as_mut()
        .unwrap()
        .decode(&raw, &mut greeting)
        .unwrap();
    assert_eq!((greeting[0], greeting[9], greeting[10]), (0xFF, 0x7F, 3));
    let (n, _) = h.peer.handle_handshake(&greeting).unwrap();
    assert_eq!(n, 64);
    h.peer_read();
    h.handshake();
    let mut wire = Vec::new();
    h.peer_wire
        .as_mut()
        .unwrap()
        .encode(&frames(&[(false, b"split")]), &mut wire)
        .unwrap();
    for b in wire {
        h.push_raw(&[b]);
        h.pump();
    }
    assert_eq!(h.sock().recv_bytes(DONTWAIT).unwrap(), b"split");
    h.finish();
}

/// LINGER -1: everything queued (here: encoded) reaches the peer before the close.
#[test]
fn lingering_ends_once_everything_left() {
    for wire in [false, true] {
        let mut h = Harness::build(SocketType::Pair, &[SocketOption::Linger(-1)], wire);
        h.handshake();
        h.set_window(100);
        for i in 0..50u8 {
            h.sock().send(&[i; 300], DONTWAIT).unwrap();
        }
        drop(h.sock.take());
        let mut got = Vec::new();
        for _ in 0..1000 {
            h.set_window(100);
            h.pump();
            got.extend(h.peer_read());
            if !h.is_open() {
                break;
            }
        }
        assert!(
            !h.is_open(),
            "closed once everything was sent (wire {wire})"
        );
        let parts: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 300]).collect();
        let want = frames(&parts.iter().map(|p| (false, &p[..])).collect::<Vec<_>>());
        assert!(
            got == want,
            "every message before the close (wire {wire}): {} of {} bytes",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn wire_transform_errors_close_that_connection() {
    // During the handshake: a handshake failure.
    let mut h = Harness::with_wire(SocketType::Pair, &[]);
    h.push_raw(&[0, 0]);
    h.pump();
    assert!(!h.is_open());
    let ev = h.events();
    assert!(ev.contains(&MonitorEventKind::HandshakeFailedProtocol(
        "xor: bad record length 0".into()
    )));
    assert!(ev.contains(&MonitorEventKind::Disconnected(
        DisconnectReason::Handshake,
        "wire transform: xor: bad record length 0".into()
    )));
    h.finish();
    // Bytes without the transform (an HTTP request, say) after the handshake.
    let mut h = Harness::with_wire(SocketType::Pair, &[]);
    h.handshake();
    h.push_raw(b"GET / HTTP/1.1\r\n");
    h.pump();
    assert_eq!(
        h.disconnected(),
        (
            DisconnectReason::Transport,
            "wire transform: xor: bad record length 18245".into()
        )
    );
    h.finish();
}
