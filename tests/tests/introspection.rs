//! Peer introspection: count, routing ids, addresses and message counts per peer, on both
//! backends, over tcp and inproc.

use std::time::Duration;

use ringlink::SNDMORE;
use ringlink_tests::*;

fn dealer_with_id(ctx: &Context, id: &[u8], ep: &str) -> Socket {
    let mut d = socket(ctx, SocketType::Dealer);
    set_opt(&mut d, SocketOption::RoutingId(id.to_vec()));
    connect(&mut d, ep);
    d
}

both_backends!(peer_introspection, |backend| {
    let ctx = ctx(backend);
    let mut r = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut r);
    r.bind("inproc://introspection-router").unwrap();
    let mut a = dealer_with_id(&ctx, b"A", &ep);
    let mut b = dealer_with_id(&ctx, b"B", "inproc://introspection-router");
    for _ in 0..3 {
        a.send(b"from a", 0).unwrap();
    }
    b.send(b"from b", 0).unwrap();
    for _ in 0..4 {
        recv_parts(&mut r, "hello");
    }
    for _ in 0..2 {
        r.send(b"A", SNDMORE).unwrap();
        r.send(b"to a", 0).unwrap();
    }
    assert_eq!(r.peer_count(), 2);
    let mut peers = r.peers();
    peers.sort_by(|x, y| x.routing_id.cmp(&y.routing_id));
    assert_eq!(peers[0].routing_id, b"A");
    assert!(
        peers[0].remote_addr.starts_with("tcp://127.0.0.1:") && peers[0].remote_addr != ep,
        "the dealer's own address, not ours: {}",
        peers[0].remote_addr
    );
    assert_eq!((peers[0].msgs_received, peers[0].msgs_sent), (3, 2));
    assert_eq!(peers[1].routing_id, b"B");
    assert_eq!(peers[1].remote_addr, "inproc://introspection-router");
    assert_eq!((peers[1].msgs_received, peers[1].msgs_sent), (1, 0));
    assert!(peers[0].connected_at <= std::time::SystemTime::now());
    assert_eq!(r.peer_stats(b"B").unwrap(), peers[1]);
    assert!(matches!(r.peer_stats(b"nobody"), Err(Error::NotFound)));
    // The DEALER sees its one peer, with the ROUTER's address.
    let da = a.peers();
    assert_eq!(da.len(), 1);
    assert_eq!(da[0].msgs_sent, 3);
    recv_parts(&mut a, "to a");
    recv_parts(&mut a, "to a");
    assert_eq!(a.peers()[0].msgs_received, 2);
    // A peer that leaves is no longer listed.
    drop(a);
    poll_until(Duration::from_secs(20), "peer A gone", || {
        (r.peer_count() == 1).then_some(())
    });
    assert_eq!(r.peers()[0].routing_id, b"B");
});
