//! `Socket::recv_msg`: large frames are handed over in the memory they were received into,
//! on both backends and every transport, threaded and inline; contents, MORE flags and
//! the order of small and large frames are kept, and memory handed over outlives the socket
//! and the context.

use ringlink::{Message, Socket, SocketOption};
use ringlink_tests::*;

/// A frame of `len` bytes whose content depends on `seed` and the position.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

const BIG: usize = 1 << 20;

/// `rounds` messages of [small, big, small, big] from `tx` to `rx`, received with
/// `recv_multipart_msgs`. Returns the messages.
fn exchange(tx: &mut Socket, rx: &mut Socket, rounds: u8) -> Vec<Vec<Message>> {
    let sizes = [10, BIG, 300 * 1024, BIG + 7];
    let mut got = Vec::new();
    for r in 0..rounds {
        let parts: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| pattern(n, r.wrapping_mul(4).wrapping_add(i as u8)))
            .collect();
        tx.send_multipart(&parts, 0).expect("send");
        let msg = rx.recv_multipart_msgs(0).expect("recv_multipart_msgs");
        assert_eq!(msg.len(), parts.len(), "round {r}");
        for (i, (m, p)) in msg.iter().zip(&parts).enumerate() {
            assert!(m[..] == p[..], "round {r} frame {i}: content differs");
            assert_eq!(m.more(), i + 1 < parts.len(), "round {r} frame {i}: MORE");
        }
        got.push(msg);
    }
    got
}

fn run(backend: Backend, io_threads: usize, transport: Transport) {
    let ctx = builder()
        .backend(backend)
        .io_threads(io_threads)
        .build()
        .unwrap();
    let mut rx = socket(&ctx, SocketType::Pull);
    let mut tx = socket(&ctx, SocketType::Push);
    let addr = BindAddr::new(transport, "zero-copy");
    let ep = bind(&mut rx, &addr);
    connect(&mut tx, &ep);
    let kept = exchange(&mut tx, &mut rx, 8);
    let what = format!("{backend:?} io_threads={io_threads} {transport:?}");
    // Every frame over 256 KiB arrives alone in its own memory: none was copied.
    for (r, msg) in kept.iter().enumerate() {
        for (i, m) in msg.iter().enumerate() {
            assert_eq!(
                m.is_zero_copy(),
                m.len() > 256 * 1024,
                "{what}: round {r} frame {i}"
            );
        }
    }
    // Frames handed over are the application's: they outlive the socket and the context.
    drop((tx, rx));
    drop(ctx);
    for (r, msg) in kept.iter().enumerate() {
        assert!(msg[1][..] == pattern(BIG, (r as u8).wrapping_mul(4).wrapping_add(1))[..]);
    }
}

both_backends!(large_frames_are_handed_over_tcp, |backend| {
    run(backend, 1, Transport::Tcp);
    run(backend, 0, Transport::Tcp);
});

both_backends!(large_frames_are_handed_over_ipc, |backend| {
    run(backend, 1, Transport::Ipc);
});

#[test]
fn large_frames_are_handed_over_inproc() {
    let ctx = builder().build().unwrap();
    let mut rx = socket(&ctx, SocketType::Pull);
    let mut tx = socket(&ctx, SocketType::Push);
    rx.bind("inproc://zero-copy").unwrap();
    tx.connect("inproc://zero-copy").unwrap();
    let kept = exchange(&mut tx, &mut rx, 4);
    for msg in &kept {
        for m in msg {
            assert_eq!(m.is_zero_copy(), m.len() > 256 * 1024);
        }
    }
}

// ROUTER prepends the routing id from its own memory; REP keeps the envelope: both small
// frames that must be copied next to large ones that are handed over.
both_backends!(router_and_rep_hand_over_large_bodies, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"d1".to_vec()));
    let ep = bind_tcp(&mut router);
    connect(&mut dealer, &ep);
    let big = pattern(BIG, 9);
    dealer.send_multipart(&[&b"head"[..], &big], 0).unwrap();
    let msg = router.recv_multipart_msgs(0).unwrap();
    assert_eq!(msg.len(), 3);
    assert!(msg[0][..] == b"d1"[..] && !msg[0].is_zero_copy() && msg[0].more());
    assert!(msg[1][..] == b"head"[..] && msg[1].more());
    assert!(msg[2][..] == big[..] && msg[2].is_zero_copy() && !msg[2].more());

    let mut rep = socket(&ctx, SocketType::Rep);
    let mut req = socket(&ctx, SocketType::Req);
    let ep = bind_tcp(&mut rep);
    connect(&mut req, &ep);
    req.send(&big, 0).unwrap();
    let m = rep.recv_msg(0).unwrap();
    assert!(m[..] == big[..] && m.is_zero_copy() && !m.more());
    rep.send(&m[..], 0).unwrap();
    let back = req.recv_msg(0).unwrap();
    assert!(back[..] == big[..] && back.is_zero_copy());
});
