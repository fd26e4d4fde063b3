use super::*;

const HB: Duration = Duration::from_secs(15);
const BC: Duration = Duration::from_secs(30);

fn reg(id: u32) -> RegistryState {
    RegistryState::new(
        id,
        Timing {
            heartbeat_timeout: HB,
            broadcast_interval: BC,
        },
    )
}

fn register(name: &str, endpoint: &str, weight: u32) -> Vec<Vec<u8>> {
    Message::Register {
        service_type: ServiceType::Gateway,
        name: name.into(),
        endpoint: endpoint.into(),
        weight,
    }
    .encode()
}

fn providers(r: &RegistryState, name: &str) -> Vec<(String, Vec<u8>, u32)> {
    r.list()
        .services
        .into_iter()
        .filter(|s| s.name == name)
        .flat_map(|s| s.providers)
        .map(|p| (p.endpoint, p.routing_id, p.weight))
        .collect()
}

fn ok_ack(endpoint: &str) -> Option<Message> {
    Some(Message::RegisterAck {
        status: status::OK,
        endpoint: endpoint.into(),
        error: String::new(),
    })
}

#[test]
fn register_acks_and_lists_by_endpoint_with_sender_rid() {
    let t0 = Instant::now();
    let mut r = reg(1);
    assert_eq!(
        r.on_request(b"rid-b", &register("svc", "tcp://b:1", 0), t0),
        ok_ack("tcp://b:1")
    );
    assert_eq!(
        r.on_request(b"rid-a", &register("svc", "tcp://a:1", 3), t0),
        ok_ack("tcp://a:1")
    );
    assert_eq!(
        providers(&r, "svc"),
        [
            ("tcp://a:1".to_string(), b"rid-a".to_vec(), 3),
            ("tcp://b:1".to_string(), b"rid-b".to_vec(), 1)
        ]
    );
    // Re-registering the same endpoint overwrites routing id and weight.
    r.on_request(b"rid-c", &register("svc", "tcp://b:1", 2), t0);
    assert_eq!(
        providers(&r, "svc")[1],
        ("tcp://b:1".to_string(), b"rid-c".to_vec(), 2)
    );
}

#[test]
fn bad_requests_get_their_status() {
    let t0 = Instant::now();
    let mut r = reg(1);
    let ack = |status| move |m: Option<Message>| matches!(m, Some(Message::RegisterAck { status: s, .. }) if s == status);
    assert!(ack(status::EMPTY)(r.on_request(
        b"x",
        &register("", "tcp://a:1", 1),
        t0
    )));
    assert!(ack(status::EMPTY)(r.on_request(
        b"x",
        &register("svc", "", 1),
        t0
    )));
    let mut bad_type = register("svc", "tcp://a:1", 1);
    bad_type[1] = 9u16.to_le_bytes().to_vec();
    let m = r.on_request(b"x", &bad_type, t0);
    assert!(
        matches!(&m, Some(Message::RegisterAck { status: status::MALFORMED, endpoint, .. }) if endpoint == "tcp://a:1"),
        "{m:?}"
    );
    assert!(ack(status::MALFORMED)(r.on_request(
        b"x",
        &register("s", "e", 1)[..2],
        t0
    )));
    let update = Message::UpdateWeight {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://nowhere:1".into(),
        weight: 4,
    };
    assert!(ack(status::NOT_FOUND)(r.on_request(
        b"x",
        &update.encode(),
        t0
    )));
    // Garbage that is not a REGISTER or UPDATE_WEIGHT is dropped without an answer.
    assert_eq!(r.on_request(b"x", &[b"zz".to_vec()], t0), None);
    assert_eq!(r.on_request::<Vec<u8>>(b"x", &[], t0), None);
    assert!(r.list().services.is_empty());
}

#[test]
fn heartbeats_keep_providers_and_silence_expires_them() {
    let t0 = Instant::now();
    let mut r = reg(1);
    r.on_request(b"a", &register("svc", "tcp://a:1", 1), t0);
    r.on_request(b"b", &register("svc", "tcp://b:1", 1), t0);
    let hb = Message::Heartbeat {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
    };
    // From another connection (another routing id): keyed by endpoint, so it counts.
    r.on_request(b"other-conn", &hb.encode(), t0 + Duration::from_secs(10));
    let seq = r.list().list_seq;
    assert!(
        r.poll(t0 + Duration::from_secs(16)).is_some(),
        "expiry changes the list"
    );
    assert_eq!(providers(&r, "svc").len(), 1);
    assert_eq!(providers(&r, "svc")[0].0, "tcp://a:1");
    assert!(r.list().list_seq > seq);
    r.poll(t0 + Duration::from_secs(26));
    assert!(r.list().services.is_empty(), "a's heartbeat timed out too");
    // A heartbeat for an unknown provider does not register it.
    r.on_request(b"a", &hb.encode(), t0 + Duration::from_secs(27));
    assert!(r.list().services.is_empty());
}

#[test]
fn weight_updates_and_unregister_change_the_list() {
    let t0 = Instant::now();
    let mut r = reg(1);
    r.on_request(b"a", &register("svc", "tcp://a:1", 1), t0);
    let update = Message::UpdateWeight {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
        weight: 5,
    };
    assert_eq!(
        r.on_request(b"a", &update.encode(), t0),
        ok_ack("tcp://a:1")
    );
    assert_eq!(providers(&r, "svc")[0].2, 5);
    let un = Message::Unregister {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
    };
    assert_eq!(r.on_request(b"a", &un.encode(), t0), None);
    assert!(r.list().services.is_empty());
}

#[test]
fn publishes_on_change_on_new_subscriber_and_every_interval() {
    let t0 = Instant::now();
    let mut r = reg(1);
    assert!(r.poll(t0).is_some(), "the first list goes out at once");
    assert!(r.poll(t0).is_none());
    r.on_request(b"a", &register("svc", "tcp://a:1", 1), t0);
    let l = r.poll(t0).expect("a change is published at once");
    assert_eq!(l.services.len(), 1);
    assert!(r.poll(t0 + Duration::from_secs(1)).is_none());
    r.on_subscriber();
    assert_eq!(
        r.poll(t0 + Duration::from_secs(1)).map(|l| l.list_seq),
        Some(l.list_seq)
    );
    // Keep the provider alive; the next broadcast is due one interval after the last one.
    let hb = Message::Heartbeat {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
    };
    r.on_request(b"a", &hb.encode(), t0 + Duration::from_secs(20));
    assert!(r.poll(t0 + Duration::from_secs(30)).is_none());
    let due = r.next_deadline().expect("a broadcast is scheduled");
    assert_eq!(due, t0 + Duration::from_secs(31));
    assert!(r.poll(due).is_some());
}

#[test]
fn next_deadline_is_the_first_expiry() {
    let t0 = Instant::now();
    let mut r = reg(1);
    r.poll(t0);
    r.on_request(b"a", &register("svc", "tcp://a:1", 1), t0);
    assert_eq!(r.next_deadline(), Some(t0 + HB + Duration::from_millis(1)));
}

/// Two registries that exchange their lists until neither changes.
fn settle(rs: &mut [&mut RegistryState], now: Instant) {
    for _ in 0..20 {
        let lists: Vec<_> = rs.iter_mut().filter_map(|r| r.poll(now)).collect();
        if lists.is_empty() {
            return;
        }
        for l in &lists {
            let frames = Message::ServiceList(l.clone()).encode();
            for r in rs.iter_mut() {
                r.on_peer_message(&frames, now);
            }
        }
    }
    panic!("the registries never settled");
}

#[test]
fn peers_share_providers_and_local_entries_win() {
    let t0 = Instant::now();
    let (mut a, mut b) = (reg(1), reg(2));
    a.on_request(b"ra", &register("svc", "tcp://a:1", 1), t0);
    b.on_request(b"rb", &register("svc", "tcp://b:1", 2), t0);
    settle(&mut [&mut a, &mut b], t0);
    assert_eq!(providers(&a, "svc"), providers(&b, "svc"));
    assert_eq!(providers(&a, "svc").len(), 2);
    // b's list still names a's provider with a's data: a's local entry stays a's.
    b.on_request(b"imposter", &register("svc", "tcp://a:1", 9), t0);
    settle(&mut [&mut a, &mut b], t0);
    assert_eq!(
        providers(&a, "svc")[0],
        ("tcp://a:1".to_string(), b"ra".to_vec(), 1)
    );
}

#[test]
fn a_removal_is_not_brought_back_by_a_crossing_list() {
    let t0 = Instant::now();
    let (mut a, mut b) = (reg(1), reg(2));
    a.on_request(b"ra", &register("svc", "tcp://a:1", 1), t0);
    settle(&mut [&mut a, &mut b], t0);
    assert_eq!(providers(&b, "svc").len(), 1);
    // b's list (with the provider) is in flight while a unregisters it.
    let stale = Message::ServiceList(b.list()).encode();
    let un = Message::Unregister {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
    };
    a.on_request(b"ra", &un.encode(), t0);
    let a_list = Message::ServiceList(a.poll(t0).expect("changed")).encode();
    a.on_peer_message(&stale, t0);
    b.on_peer_message(&a_list, t0);
    settle(&mut [&mut a, &mut b], t0);
    assert!(a.list().services.is_empty(), "{:?}", a.list());
    assert!(b.list().services.is_empty(), "{:?}", b.list());
    // Registered again at the peer, it reaches a once the tombstone is over (one interval).
    let t1 = t0 + BC / 2;
    b.on_request(b"rb", &register("svc", "tcp://a:1", 1), t1);
    settle(&mut [&mut a, &mut b], t1);
    assert!(a.list().services.is_empty(), "tombstoned at a");
    let t2 = t0 + BC;
    b.on_subscriber(); // stands for b's periodic re-broadcast
    settle(&mut [&mut a, &mut b], t2);
    assert_eq!(providers(&a, "svc").len(), 1, "{a:?}\n{b:?}");
    // Registering it again where it was removed works at once.
    let mut c = reg(3);
    c.on_request(b"ra", &register("svc", "tcp://c:1", 1), t2);
    c.on_request(
        b"ra",
        &Message::Unregister {
            service_type: ServiceType::Gateway,
            name: "svc".into(),
            endpoint: "tcp://c:1".into(),
        }
        .encode(),
        t2,
    );
    c.on_request(b"ra", &register("svc", "tcp://c:1", 1), t2);
    assert_eq!(providers(&c, "svc").len(), 1);
}

#[test]
fn multi_hop_chain_propagates_and_removes() {
    // a - b - c: c hears only b, a hears only b.
    let t0 = Instant::now();
    let (mut a, mut b, mut c) = (reg(1), reg(2), reg(3));
    a.on_request(b"ra", &register("svc", "tcp://a:1", 1), t0);
    for _ in 0..5 {
        for (from, to) in [(0, 1), (1, 0), (1, 2), (2, 1)] {
            let rs = [&mut a, &mut b, &mut c];
            let l = Message::ServiceList(rs[from].list()).encode();
            let _ = rs;
            match to {
                0 => a.on_peer_message(&l, t0),
                1 => b.on_peer_message(&l, t0),
                _ => c.on_peer_message(&l, t0),
            }
        }
    }
    assert_eq!(providers(&c, "svc").len(), 1, "reached c over b");
    let un = Message::Unregister {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://a:1".into(),
    };
    a.on_request(b"ra", &un.encode(), t0);
    for _ in 0..5 {
        for (from, to) in [(2, 1), (1, 2), (0, 1), (1, 0)] {
            let l = match from {
                0 => Message::ServiceList(a.list()).encode(),
                1 => Message::ServiceList(b.list()).encode(),
                _ => Message::ServiceList(c.list()).encode(),
            };
            match to {
                0 => a.on_peer_message(&l, t0),
                1 => b.on_peer_message(&l, t0),
                _ => c.on_peer_message(&l, t0),
            }
        }
    }
    for r in [&a, &b, &c] {
        assert!(
            r.list().services.is_empty(),
            "registry {}: {:?}",
            r.id(),
            r.list()
        );
    }
}

#[test]
fn silent_peers_are_dropped_with_their_entries() {
    let t0 = Instant::now();
    let (mut a, mut b) = (reg(1), reg(2));
    b.on_request(b"rb", &register("svc", "tcp://b:1", 1), t0);
    let l = Message::ServiceList(b.list()).encode();
    a.on_peer_message(&l, t0);
    assert_eq!(providers(&a, "svc").len(), 1);
    // Peer entries do not expire by heartbeat, only with the peer.
    a.poll(t0 + HB * 3);
    assert_eq!(providers(&a, "svc").len(), 1);
    // The same list re-broadcast keeps the peer alive.
    a.on_peer_message(&l, t0 + BC * 2);
    a.poll(t0 + BC * 4);
    assert_eq!(providers(&a, "svc").len(), 1);
    a.poll(t0 + BC * 5 + Duration::from_millis(1));
    assert!(a.list().services.is_empty());
    // Own lists and malformed ones are ignored.
    let own = Message::ServiceList(a.list()).encode();
    a.on_peer_message(&own, t0);
    a.on_peer_message(&[b"junk".to_vec()], t0);
    assert!(a.list().services.is_empty());
}

#[test]
fn the_number_of_providers_and_peers_is_bounded() {
    let t0 = Instant::now();
    let mut r = reg(1).with_max_providers(2);
    r.on_request(b"a", &register("svc", "tcp://a:1", 1), t0);
    r.on_request(b"b", &register("svc", "tcp://b:1", 1), t0);
    let full = r.on_request(b"c", &register("svc", "tcp://c:1", 1), t0);
    assert!(
        matches!(
            full,
            Some(Message::RegisterAck {
                status: status::FULL,
                ..
            })
        ),
        "{full:?}"
    );
    // Re-registering a known provider still works; freeing a place lets a new one in.
    assert_eq!(
        r.on_request(b"a2", &register("svc", "tcp://a:1", 3), t0),
        ok_ack("tcp://a:1")
    );
    let un = Message::Unregister {
        service_type: ServiceType::Gateway,
        name: "svc".into(),
        endpoint: "tcp://b:1".into(),
    };
    r.on_request(b"b", &un.encode(), t0);
    assert_eq!(
        r.on_request(b"c", &register("svc", "tcp://c:1", 1), t0),
        ok_ack("tcp://c:1")
    );
    // A peer's list is adopted only up to the bound.
    let mut p = reg(2);
    for i in 0..5 {
        p.on_request(b"p", &register("svc", &format!("tcp://p:{i}"), 1), t0);
    }
    let mut small = reg(3).with_max_providers(3);
    small.on_peer_message(&Message::ServiceList(p.list()).encode(), t0);
    assert_eq!(providers(&small, "svc").len(), 3);
    // Expiry frees places again.
    small.poll(t0 + BC * 4);
    assert!(small.list().services.is_empty());
    // At most MAX_PEERS peers are tracked.
    let mut hub = reg(1);
    for id in 0..MAX_PEERS as u32 + 1 {
        let mut peer = reg(100 + id);
        peer.on_request(b"x", &register("svc", &format!("tcp://x:{id}"), 1), t0);
        hub.on_peer_message(&Message::ServiceList(peer.list()).encode(), t0);
    }
    assert_eq!(providers(&hub, "svc").len(), MAX_PEERS);
}
