//! SPOT nodes over real sockets on both backends: local delivery, remote delivery after the
//! subscription reaches the publisher, exact topics and patterns, multipart, unsubscribe, no
//! re-publishing of remote messages, and failing instead of hanging after shutdown.

use std::time::Duration;

use ringlink_services::spot::SpotNode;
use ringlink_tests::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

/// Publish `probe` on `topic` from `from` until `sub` receives one (a subscription reaches a
/// remote publisher asynchronously: PUB/SUB's slow joiner), then drain the probes.
fn joined(from: &SpotNode, sub: &ringlink_services::spot::SpotSub, topic: &[u8]) {
    let mut got = false;
    for _ in 0..2000 {
        from.publish(topic, &[b"probe"]).unwrap();
        if sub.recv(0, Some(Duration::from_millis(10))).is_ok() {
            got = true;
            break;
        }
    }
    assert!(got, "the subscription never reached the publisher");
    while sub.recv(ringlink::DONTWAIT, None).is_ok() {}
}

/// The next message that is not a leftover probe of [`joined`] (some are still in flight
/// when it returns).
fn next(sub: &ringlink_services::spot::SpotSub) -> (Vec<u8>, Vec<Vec<u8>>) {
    loop {
        let m = sub.recv(0, WAIT).unwrap();
        if m.1 != [b"probe".to_vec()] {
            return m;
        }
    }
}

both_backends!(
    local_and_remote_delivery_with_topics_and_patterns,
    |backend| {
        let ctx = ctx(backend);
        let a = SpotNode::new(&ctx).unwrap();
        let b = SpotNode::new(&ctx).unwrap();
        let a_ep = a.bind("tcp://127.0.0.1:*").unwrap();
        let b_ep = b.bind("tcp://127.0.0.1:*").unwrap();
        a.connect_peer(&b_ep).unwrap();
        b.connect_peer(&a_ep).unwrap();
        // Local: a subscriber on the publishing node gets it at once.
        let local = a.subscriber();
        local.subscribe("news").unwrap();
        a.publish(b"news", &[&b"local"[..], b"two parts"]).unwrap();
        assert_eq!(
            local.recv(0, WAIT).unwrap(),
            (
                b"news".to_vec(),
                vec![b"local".to_vec(), b"two parts".to_vec()]
            )
        );
        // Remote: exact topic and pattern subscribers on b.
        let exact = b.subscriber();
        exact.subscribe("news").unwrap();
        let pattern = b.subscriber();
        pattern.subscribe_pattern("news.*").unwrap();
        joined(&a, &exact, b"news");
        joined(&a, &pattern, b"news.eu");
        while local.recv(ringlink::DONTWAIT, None).is_ok() {}
        a.publish(b"newsroom", &[b"not for exact"]).unwrap(); // passes b's SUB filter "news"
        a.publish(b"news.eu", &[b"eu"]).unwrap();
        a.publish(b"news", &[b"plain"]).unwrap();
        assert_eq!(
            next(&exact).1,
            [b"plain".to_vec()],
            "exact topics re-checked"
        );
        assert_eq!(next(&pattern), (b"news.eu".to_vec(), vec![b"eu".to_vec()]));
        assert!(matches!(
            exact.recv(ringlink::DONTWAIT, None),
            Err(Error::Again)
        ));
        // Unsubscribed: nothing more arrives for it (a later message for the pattern proves the
        // earlier one was not delivered).
        exact.unsubscribe("news").unwrap();
        a.publish(b"news", &[b"after unsubscribe"]).unwrap();
        a.publish(b"news.x", &[b"marker"]).unwrap();
        assert_eq!(next(&pattern).1, [b"marker".to_vec()]);
        assert!(matches!(
            exact.recv(ringlink::DONTWAIT, None),
            Err(Error::Again)
        ));
        // Bad input.
        assert!(matches!(
            a.publish(b"", &[b"x"]),
            Err(Error::InvalidArgument(_))
        ));
        let none: [&[u8]; 0] = [];
        assert!(matches!(
            a.publish(b"t", &none),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            exact.subscribe_pattern("no-star"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            a.connect_peer("bogus://x"),
            Err(Error::ProtocolNotSupported(_))
        ));
        assert!(matches!(
            a.disconnect_peer("tcp://127.0.0.1:1"),
            Err(Error::NotFound)
        ));
        a.disconnect_peer(&b_ep).unwrap();
    }
);

both_backends!(remote_messages_are_not_published_again, |backend| {
    // a -> b -> c: c hears only b; a's messages reach b but never c.
    let ctx = ctx(backend);
    let (a, b, c) = (
        SpotNode::new(&ctx).unwrap(),
        SpotNode::new(&ctx).unwrap(),
        SpotNode::new(&ctx).unwrap(),
    );
    let a_ep = a.bind("tcp://127.0.0.1:*").unwrap();
    let b_ep = b.bind("tcp://127.0.0.1:*").unwrap();
    b.connect_peer(&a_ep).unwrap();
    c.connect_peer(&b_ep).unwrap();
    let at_b = b.subscriber();
    at_b.subscribe("t").unwrap();
    let at_c = c.subscriber();
    at_c.subscribe("t").unwrap();
    joined(&a, &at_b, b"t");
    joined(&b, &at_c, b"t");
    a.publish(b"t", &[b"from a"]).unwrap();
    assert_eq!(next(&at_b).1, [b"from a".to_vec()]);
    // b's own message follows a's on every path to c: c getting b's first shows a's never
    // came.
    b.publish(b"t", &[b"from b"]).unwrap();
    assert_eq!(next(&at_b).1, [b"from b".to_vec()], "local delivery on b");
    assert_eq!(
        next(&at_c).1,
        [b"from b".to_vec()],
        "a's message was not published again"
    );
});

both_backends!(
    subscribers_fail_instead_of_hanging_after_shutdown,
    |backend| {
        let ctx = ctx(backend);
        let node = SpotNode::new(&ctx).unwrap();
        let sub = node.subscriber();
        sub.subscribe("t").unwrap();
        ctx.shutdown();
        assert!(matches!(sub.recv(0, None), Err(Error::Terminated)));
    }
);

/// A message's sequence number, or `None` for a leftover probe of [`joined`].
fn seq(parts: &[Vec<u8>]) -> Option<u32> {
    (parts[0] != b"probe").then(|| u32::from_be_bytes(parts[0][..4].try_into().unwrap()))
}

both_backends!(
    in_place_receives_leave_the_other_subscribers_messages_queued_in_order,
    |backend| {
        // One receiver takes its messages one by one, in place from the SUB; the same
        // batches hold messages for two other subscribers of the node, which must find all
        // of theirs queued, in order, with refusals and a failing callback in between.
        let ctx = ctx(backend);
        let a = SpotNode::new(&ctx).unwrap();
        let b = SpotNode::new(&ctx).unwrap();
        let a_ep = a.bind("tcp://127.0.0.1:*").unwrap();
        b.connect_peer(&a_ep).unwrap();
        let exact = b.subscriber();
        exact.subscribe("t").unwrap();
        let pattern = b.subscriber();
        pattern.subscribe_pattern("t*").unwrap();
        let other = b.subscriber();
        other.subscribe("u").unwrap();
        joined(&a, &exact, b"t");
        joined(&a, &other, b"u");
        // Larger than the node's receive batch: delivered on its own.
        let big = vec![7u8; 300 << 10];
        let n = 200u32;
        for i in 0..n {
            let s = i.to_be_bytes();
            let parts: Vec<&[u8]> = match i % 4 {
                0 => vec![&s],
                1 => vec![&s, b"second"],
                _ if i == 103 => vec![&s, &big],
                3 => vec![&s, b"", b"third"],
                _ => vec![&s],
            };
            let topic: &[u8] = match i % 4 {
                1 => b"u",
                2 => b"tx",
                _ => b"t",
            };
            a.publish(topic, &parts).unwrap();
        }
        let want =
            |rems: &[u32]| -> Vec<u32> { (0..n).filter(|i| rems.contains(&(i % 4))).collect() };

        let mut got = Vec::new();
        while got.len() < want(&[0, 3]).len() {
            let (topic, parts) = exact.recv(0, WAIT).unwrap();
            if let Some(s) = seq(&parts) {
                assert_eq!(topic, b"t");
                match s {
                    103 => assert!(parts[1] == big, "the large message whole"),
                    s if s % 4 == 3 => assert_eq!(parts[1..], [b"".to_vec(), b"third".to_vec()]),
                    _ => assert_eq!(parts.len(), 1),
                }
                got.push(s);
            }
        }
        assert_eq!(got, want(&[0, 3]), "taken in place, one by one");

        let mut got = Vec::new();
        while got.len() < want(&[0, 2, 3]).len() {
            for (_, parts) in pattern.recv_many(16, 0, WAIT).unwrap() {
                got.extend(seq(&parts));
            }
        }
        assert_eq!(
            got,
            want(&[0, 2, 3]),
            "queued while the other took in place"
        );

        // Refuse every third message offered (it must come first next time), and fail once.
        let (mut got, mut offered, mut failed) = (Vec::new(), 0, false);
        while got.len() < want(&[1]).len() {
            let r = other.recv_with(8, WAIT, |r| {
                offered += 1;
                if offered == 5 && !failed {
                    failed = true;
                    return Err(ringlink::Error::InvalidArgument("test".into()));
                }
                if offered % 3 == 0 {
                    return Ok(false);
                }
                let parts: Vec<Vec<u8>> = r.parts().map(<[u8]>::to_vec).collect();
                if let Some(s) = seq(&parts) {
                    assert_eq!((r.topic, &parts[1][..]), (&b"u"[..], &b"second"[..]));
                    got.push(s);
                }
                Ok(true)
            });
            match r {
                Ok(_) => {}
                Err(ringlink::Error::InvalidArgument(_)) => assert!(failed),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(failed);
        assert_eq!(
            got,
            want(&[1]),
            "refused and failed messages stay first in line"
        );
        assert_eq!(b.dropped(), 0);
    }
);

both_backends!(
    a_publisher_at_its_hwm_drops_and_counts_what_it_dropped,
    |backend| {
        // A peer that does not read: its path holds a few messages (two in each pipe, small
        // kernel buffers), so most of a 64 KiB burst is dropped at the PUB, and what arrives
        // plus what the PUB counted as dropped is the burst, in order.
        let ctx = ctx(backend);
        let a = SpotNode::builder(&ctx)
            .pub_option(SocketOption::SndHwm(2))
            .pub_option(SocketOption::SndBuf(4096))
            .start()
            .unwrap();
        let b = SpotNode::builder(&ctx)
            .sub_option(SocketOption::RcvHwm(2))
            .sub_option(SocketOption::RcvBuf(4096))
            .start()
            .unwrap();
        b.connect_peer(&a.bind("tcp://127.0.0.1:*").unwrap())
            .unwrap();
        let sub = b.subscriber();
        sub.subscribe("big").unwrap();
        joined(&a, &sub, b"big");
        let before = a.publisher_dropped();
        let body = vec![5u8; 64 << 10];
        const BURST: u32 = 200;
        for i in 0..BURST {
            a.publish(b"big", &[&i.to_be_bytes()[..], &body]).unwrap();
        }
        let dropped = a.publisher_dropped() - before;
        assert!(dropped >= u64::from(BURST) / 2, "dropped {dropped}");
        let mut last = None;
        for _ in 0..u64::from(BURST) - dropped {
            let (_, parts) = next(&sub);
            let i = u32::from_be_bytes(parts[0][..].try_into().unwrap());
            assert!(last < Some(i), "in order: {i} after {last:?}");
            assert!(parts[1] == body);
            last = Some(i);
        }
        assert!(matches!(
            sub.recv(ringlink::DONTWAIT, None),
            Err(Error::Again)
        ));
        assert_eq!(b.dropped(), 0, "nothing dropped at the receiving node");
    }
);
