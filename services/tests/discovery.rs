//! Discovery over real sockets on both backends: a registry's providers become visible by
//! type and name, changes reach the feed, and a stopped context fails waits.

use std::time::Duration;

use ringlink_services::discovery::Discovery;
use ringlink_services::registry::Registry;
use ringlink_services::wire::{Message, ServiceType};
use ringlink_tests::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

fn register(
    ctx: &Context,
    router: &str,
    rid: &[u8],
    t: ServiceType,
    name: &str,
    ep: &str,
) -> Socket {
    let mut d = socket(ctx, SocketType::Dealer);
    set_opt(&mut d, SocketOption::RoutingId(rid.to_vec()));
    set_opt(&mut d, SocketOption::Linger(0));
    connect(&mut d, router);
    let m = Message::Register {
        service_type: t,
        name: name.into(),
        endpoint: ep.into(),
        weight: 1,
    };
    send_parts(&mut d, &m.encode(), "register");
    let ack = Message::decode(&recv_parts(&mut d, "ack")).unwrap();
    assert!(
        matches!(ack, Message::RegisterAck { status: 0, .. }),
        "{ack:?}"
    );
    d
}

both_backends!(providers_by_type_and_name_with_a_change_feed, |backend| {
    let ctx = ctx(backend);
    let reg = Registry::builder(&ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .start()
        .unwrap();
    let disc = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    let feed = disc.changes();
    let mut a = register(
        &ctx,
        reg.router_endpoint(),
        b"svc-a",
        ServiceType::Gateway,
        "echo",
        "tcp://a:1",
    );
    let _spot = register(
        &ctx,
        reg.router_endpoint(),
        b"node",
        ServiceType::Spot,
        "spot-node",
        "tcp://s:1",
    );
    let p = disc.wait_available("echo", WAIT).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].endpoint.as_str(), &p[0].routing_id[..]),
        ("tcp://a:1", &b"svc-a"[..])
    );
    let c = feed.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!((c.name.as_str(), c.providers.len()), ("echo", 1));
    assert!(
        !disc.is_available("spot-node"),
        "another type's service is not shown"
    );
    assert_eq!(disc.services(), ["echo"]);
    // A name filter hides the others.
    disc.subscribe("time");
    assert!(!disc.is_available("echo"));
    disc.unsubscribe("time");
    assert_eq!(disc.provider_count("echo"), 1);
    // Unregistering shows up in the feed as a service without providers.
    let un = Message::Unregister {
        service_type: ServiceType::Gateway,
        name: "echo".into(),
        endpoint: "tcp://a:1".into(),
    };
    send_parts(&mut a, &un.encode(), "unregister");
    let c = feed.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!((c.name.as_str(), c.providers.len()), ("echo", 0));
    assert!(!disc.is_available("echo"));
    assert!(matches!(
        disc.wait_available("echo", Some(Duration::from_millis(50))),
        Err(Error::Again)
    ));
});

both_backends!(
    a_discovery_started_first_or_following_two_registries_sees_providers,
    |backend| {
        let ctx = ctx(backend);
        // Started before its registries exist: it connects when they come (tcp reconnects).
        let port_a = free_tcp_port();
        let mut disc = Discovery::builder(&ctx, ServiceType::Gateway)
            .registry(&format!("tcp://127.0.0.1:{port_a}"))
            .start()
            .unwrap();
        let a = Registry::builder(&ctx)
            .endpoints(&format!("tcp://127.0.0.1:{port_a}"), "tcp://127.0.0.1:*")
            .id(1)
            .start()
            .unwrap();
        let b = Registry::builder(&ctx)
            .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
            .id(2)
            .start()
            .unwrap();
        disc.connect_registry(b.pub_endpoint()).unwrap();
        assert!(matches!(
            disc.connect_registry("nope://x"),
            Err(Error::InvalidArgument(_))
        ));
        let _pa = register(
            &ctx,
            a.router_endpoint(),
            b"pa",
            ServiceType::Gateway,
            "at-a",
            "tcp://a:1",
        );
        disc.wait_available("at-a", WAIT).unwrap();
        let _pb = register(
            &ctx,
            b.router_endpoint(),
            b"pb",
            ServiceType::Gateway,
            "at-b",
            "tcp://b:1",
        );
        disc.wait_available("at-b", WAIT).unwrap();
    }
);

both_backends!(waits_fail_once_the_context_is_shut_down, |backend| {
    let ctx = ctx(backend);
    let disc = Discovery::builder(&ctx, ServiceType::Spot)
        .registry("tcp://127.0.0.1:1")
        .start()
        .unwrap();
    ctx.shutdown();
    assert!(matches!(
        disc.wait_available("x", None),
        Err(Error::Terminated)
    ));
});
