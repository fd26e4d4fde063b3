//! SPOT beyond two nodes, on both backends: handlers and batch receives, nodes that register
//! and find each other through a discovery (and drop a node that unregisters), and a
//! 20-node × 50-topic mesh with every message counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringlink_services::discovery::Discovery;
use ringlink_services::registry::Registry;
use ringlink_services::spot::{SpotNode, SpotSub, DEFAULT_SERVICE};
use ringlink_services::wire::ServiceType;
use ringlink_tests::*;

const WAIT: Duration = Duration::from_secs(30);
/// How long a round of [`join_all`] waits for remote probes before publishing again.
const ROUND: Duration = Duration::from_millis(10);

/// Publish probes from every node until every subscriber has heard every other node (a
/// subscription reaches a remote publisher asynchronously). Probes carry the sender's index.
/// Each subscriber subscribes `probe` last, so its earlier subscriptions are in place at a
/// publisher once a probe from it arrives.
fn join_all(nodes: &[SpotNode], subs: &[SpotSub]) {
    let n = nodes.len();
    let mut heard: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let deadline = Instant::now() + WAIT;
    while heard.iter().any(|h| h.len() < n) {
        assert!(Instant::now() < deadline, "mesh not joined: {heard:?}");
        for (i, node) in nodes.iter().enumerate() {
            node.publish(b"probe", &[i.to_le_bytes()]).unwrap();
        }
        for (i, sub) in subs.iter().enumerate() {
            // This round's local probe is there at once; remote ones get a moment more. A
            // round that did not wait would flood a publisher's pipe to a peer whose reactor
            // has not run yet with probes (thousands, dropped at its HWM), and leave some of
            // them ahead of what the test sends next.
            let mut wait = WAIT;
            while heard[i].len() < n {
                let batch = match sub.recv_many(1024, 0, Some(wait)) {
                    Ok(batch) => batch,
                    Err(Error::Again) if wait == ROUND => break,
                    Err(e) => panic!("probe receive: {e}"),
                };
                for (topic, parts) in batch {
                    if topic == b"probe" {
                        heard[i].insert(usize::from_le_bytes(parts[0][..].try_into().unwrap()));
                    }
                }
                wait = ROUND;
            }
        }
    }
    // Probes still in flight are told apart by topic later.
}

both_backends!(handlers_batches_and_repeat_publish, |backend| {
    let ctx = ctx(backend);
    // Every message of a 1000-message burst (the default HWM) must arrive: without limits,
    // as a PUB drops what a peer's pipe at its HWM cannot take (probes not yet sent count).
    let lossless = || {
        SpotNode::builder(&ctx)
            .pub_option(SocketOption::SndHwm(0))
            .sub_option(SocketOption::RcvHwm(0))
            .start()
            .unwrap()
    };
    let nodes = [lossless(), lossless()];
    let eps: Vec<String> = nodes
        .iter()
        .map(|n| n.bind("tcp://127.0.0.1:*").unwrap())
        .collect();
    nodes[0].connect_peer(&eps[1]).unwrap();
    nodes[1].connect_peer(&eps[0]).unwrap();
    let subs = [nodes[0].subscriber(), nodes[1].subscriber()];
    subs[0].subscribe("t").unwrap();
    for s in &subs {
        s.subscribe("probe").unwrap();
    }
    join_all(&nodes, &subs);
    let [at_a, _at_b] = subs;
    let [a, b] = nodes;
    // Remote messages to a handler, in order.
    let (tx, rx) = mpsc::channel();
    at_a.set_handler(move |topic, parts| {
        if topic == b"t" {
            tx.send(parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>())
                .unwrap();
        }
    })
    .unwrap();
    assert!(matches!(
        at_a.recv(ringlink::DONTWAIT, None),
        Err(Error::InvalidArgument(_))
    ));
    for i in 0..1000u32 {
        b.publish(b"t", &[&i.to_le_bytes()[..], b"second part"])
            .unwrap();
    }
    for i in 0..1000u32 {
        let parts = rx.recv_timeout(WAIT).unwrap_or_else(|e| {
            panic!(
                "handler call {i}: {e}; dropped by b's PUB: {}",
                b.publisher_dropped()
            )
        });
        assert_eq!(parts, [i.to_le_bytes().to_vec(), b"second part".to_vec()]);
    }
    at_a.clear_handler();
    // Back to receiving: a repeated local publish, taken in batches.
    assert_eq!(a.publish_repeat(b"t", b"same", 5000).unwrap(), 5000);
    let mut got = 0;
    while got < 5000 {
        let batch = at_a.recv_many(512, 0, Some(WAIT)).unwrap();
        assert!(batch.len() <= 512);
        for (topic, parts) in batch {
            if topic == b"t" {
                assert_eq!(parts, [b"same".to_vec()]);
                got += 1;
            }
        }
    }
    // A handler that clears itself from its own callback.
    let at_a = std::sync::Arc::new(at_a);
    let (tx, rx) = mpsc::channel();
    let me = std::sync::Arc::downgrade(&at_a);
    at_a.set_handler(move |_, _| {
        if let Some(s) = me.upgrade() {
            s.clear_handler();
        }
        let _ = tx.send(());
    })
    .unwrap();
    a.publish(b"t", &[b"x"]).unwrap();
    rx.recv_timeout(WAIT).unwrap();
    a.publish(b"t", &[b"after"]).unwrap();
    assert_eq!(
        at_a.recv(0, Some(WAIT)).unwrap().1,
        [b"after".to_vec()],
        "the handler is gone: recv works again"
    );
});

/// `n` registered nodes, each following the registry through its own discovery, each with a
/// subscriber on `topics` (then `probe`).
fn registered_mesh(
    ctx: &Context,
    reg: &Registry,
    n: usize,
    topics: &[String],
    shared_discovery: Option<&Discovery>,
) -> (Vec<SpotNode>, Vec<SpotSub>, Vec<Discovery>) {
    let mut nodes = Vec::new();
    let mut subs = Vec::new();
    let mut discs = Vec::new();
    for _ in 0..n {
        let node = SpotNode::builder(ctx)
            .registry(reg.router_endpoint())
            .pub_option(SocketOption::SndHwm(0))
            .sub_option(SocketOption::RcvHwm(0))
            .start()
            .unwrap();
        node.bind("tcp://127.0.0.1:*").unwrap();
        node.register(None, None).unwrap();
        match shared_discovery {
            Some(d) => node.follow(d, DEFAULT_SERVICE).unwrap(),
            None => {
                let d = Discovery::builder(ctx, ServiceType::Spot)
                    .registry(reg.pub_endpoint())
                    .start()
                    .unwrap();
                node.follow(&d, DEFAULT_SERVICE).unwrap();
                discs.push(d);
            }
        }
        let sub = node.subscriber();
        for t in topics {
            sub.subscribe(t).unwrap();
        }
        sub.subscribe("probe").unwrap();
        nodes.push(node);
        subs.push(sub);
    }
    (nodes, subs, discs)
}

fn registry(ctx: &Context) -> Registry {
    Registry::builder(ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .start()
        .unwrap()
}

both_backends!(registered_nodes_mesh_through_discovery, |backend| {
    let ctx = ctx(backend);
    let reg = registry(&ctx);
    let (nodes, subs, _discs) = registered_mesh(&ctx, &reg, 3, &[], None);
    poll_until(WAIT, "every node sees the two others", || {
        nodes.iter().all(|n| n.peers().len() == 2).then_some(())
    });
    join_all(&nodes, &subs);
    // A node that unregisters leaves the others' meshes.
    nodes[2].unregister(DEFAULT_SERVICE).unwrap();
    poll_until(WAIT, "the others drop the unregistered node", || {
        nodes[..2]
            .iter()
            .all(|n| n.peers().len() == 1)
            .then_some(())
    });
    // Bad uses.
    let bare = SpotNode::new(&ctx).unwrap();
    assert!(matches!(
        bare.register(None, None),
        Err(Error::NotSupported)
    ));
    let gw = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    assert!(matches!(
        bare.follow(&gw, DEFAULT_SERVICE),
        Err(Error::InvalidArgument(_))
    ));
    let unbound = SpotNode::builder(&ctx)
        .registry(reg.router_endpoint())
        .start()
        .unwrap();
    assert!(matches!(
        unbound.register(None, None),
        Err(Error::InvalidArgument(_))
    ));
});

both_backends!(twenty_nodes_fifty_topics_every_message_counted, |backend| {
    const NODES: usize = 20;
    const TOPICS: usize = 50;
    const PER_TOPIC: u32 = 10;
    let ctx = ctx(backend);
    let reg = registry(&ctx);
    let disc = Discovery::builder(&ctx, ServiceType::Spot)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    let topics: Vec<String> = (0..TOPICS).map(|t| format!("topic.{t:02}")).collect();
    let (nodes, subs, _) = registered_mesh(&ctx, &reg, NODES, &topics, Some(&disc));
    join_all(&nodes, &subs);
    std::thread::scope(|s| {
        let receivers: Vec<_> = subs
            .iter()
            .map(|sub| {
                s.spawn(move || {
                    // (sender, topic) → the sequence numbers seen, in order.
                    let mut seen: HashMap<(u32, String), u32> = HashMap::new();
                    let mut count = 0;
                    let want = NODES * TOPICS * PER_TOPIC as usize;
                    while count < want {
                        for (topic, parts) in sub.recv_many(4096, 0, Some(WAIT)).unwrap() {
                            if topic == b"probe" {
                                continue;
                            }
                            let sender = u32::from_le_bytes(parts[0][..].try_into().unwrap());
                            let seq = u32::from_le_bytes(parts[1][..].try_into().unwrap());
                            let key = (sender, String::from_utf8(topic).unwrap());
                            let next = seen.entry(key.clone()).or_insert(0);
                            assert_eq!(seq, *next, "{key:?}: in order, none lost");
                            *next += 1;
                            count += 1;
                        }
                    }
                    seen
                })
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            for seq in 0..PER_TOPIC {
                for t in &topics {
                    let me = (i as u32).to_le_bytes();
                    node.publish(t.as_bytes(), &[&me[..], &seq.to_le_bytes()[..]])
                        .unwrap();
                }
            }
        }
        for r in receivers {
            let seen = r.join().unwrap();
            assert_eq!(seen.len(), NODES * TOPICS, "every (sender, topic)");
            assert!(seen.values().all(|&n| n == PER_TOPIC));
        }
    });
    assert!(nodes
        .iter()
        .all(|n| n.dropped() == 0 && n.publisher_dropped() == 0));
});
