//! The receiver over real sockets on both backends: registration seen by discovery, requests
//! answered on its ROUTER, refusals and silence reported, heartbeats keeping it listed, and
//! failover to a second registry when the first goes away.

use std::time::Duration;

use ringlink_services::discovery::Discovery;
use ringlink_services::receiver::Receiver;
use ringlink_services::registry::Registry;
use ringlink_services::wire::ServiceType;
use ringlink_tests::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

fn registry(ctx: &Context, id: u32) -> Registry {
    Registry::builder(ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .id(id)
        .start()
        .unwrap()
}

both_backends!(
    a_registered_receiver_is_discovered_and_answers_requests,
    |backend| {
        let ctx = ctx(backend);
        let reg = registry(&ctx, 1);
        let disc = Discovery::builder(&ctx, ServiceType::Gateway)
            .registry(reg.pub_endpoint())
            .start()
            .unwrap();
        let mut rx = Receiver::builder(&ctx)
            .routing_id(b"svc-1")
            .registry(reg.router_endpoint())
            .start()
            .unwrap();
        let bound = rx.bind("tcp://0.0.0.0:*").unwrap();
        let advertised = rx.register("echo", None, 0).unwrap();
        assert_eq!(
            advertised,
            bound.replace("0.0.0.0", "127.0.0.1"),
            "wildcards resolved"
        );
        let p = disc.wait_available("echo", WAIT).unwrap();
        assert_eq!(
            (p[0].endpoint.as_str(), &p[0].routing_id[..], p[0].weight),
            (advertised.as_str(), &b"svc-1"[..], 1)
        );
        // A gateway stand-in: a ROUTER that connects with the provider's id.
        let mut gw = socket(&ctx, SocketType::Router);
        set_opt(
            &mut gw,
            SocketOption::ConnectRoutingId(p[0].routing_id.clone()),
        );
        set_opt(&mut gw, SocketOption::RouterMandatory(true));
        connect(&mut gw, &p[0].endpoint);
        let id = p[0].routing_id.clone();
        poll_until(
            Duration::from_secs(20),
            "the provider is routable",
            || match gw.send_multipart(&[id.clone(), b"ping".to_vec()], ringlink::DONTWAIT) {
                Ok(()) => Some(()),
                Err(Error::HostUnreachable | Error::Again) => None,
                Err(e) => panic!("{e}"),
            },
        );
        let req = recv_parts(rx.router(), "request");
        assert_eq!(req[1], b"ping");
        send_parts(rx.router(), &[req[0].clone(), b"pong".to_vec()], "reply");
        assert_eq!(
            recv_parts(&mut gw, "reply"),
            [b"svc-1".to_vec(), b"pong".to_vec()]
        );
        // Weight updates reach discovery; unknown names are refused.
        let feed = disc.changes();
        rx.update_weight("echo", 4).unwrap();
        let c = feed.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(c.providers[0].weight, 4);
        assert!(matches!(rx.update_weight("nope", 2), Err(Error::NotFound)));
        rx.unregister("echo").unwrap();
        let c = feed.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(c.providers.is_empty());
    }
);

both_backends!(refusals_and_silence_are_errors_not_hangs, |backend| {
    let ctx = ctx(backend);
    let reg = registry(&ctx, 1);
    let mut rx = Receiver::builder(&ctx)
        .registry(reg.router_endpoint())
        .start()
        .unwrap();
    assert!(
        matches!(rx.register("echo", None, 1), Err(Error::InvalidArgument(_))),
        "no bind to advertise"
    );
    let e = rx.register("", Some("tcp://127.0.0.1:9"), 1).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("0x02")),
        "{e}"
    );
    let mut lonely = Receiver::builder(&ctx)
        .registry(&format!("tcp://127.0.0.1:{}", free_tcp_port()))
        .ack_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    assert!(matches!(
        lonely.register("echo", Some("tcp://127.0.0.1:9"), 1),
        Err(Error::HostUnreachable)
    ));
    assert!(matches!(
        Receiver::builder(&ctx).start(),
        Err(Error::InvalidArgument(_))
    ));
    ctx.shutdown();
    assert!(matches!(
        rx.register("x", Some("tcp://h:1"), 1),
        Err(Error::Terminated)
    ));
});

both_backends!(heartbeats_keep_a_receiver_listed, |backend| {
    let ctx = ctx(backend);
    let reg = Registry::builder(&ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .heartbeat_timeout(Duration::from_millis(500))
        .start()
        .unwrap();
    let disc = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    let mut rx = Receiver::builder(&ctx)
        .registry(reg.router_endpoint())
        .heartbeat_interval(Duration::from_millis(100))
        .start()
        .unwrap();
    rx.register("echo", Some("tcp://127.0.0.1:9"), 1).unwrap();
    disc.wait_available("echo", WAIT).unwrap();
    let feed = disc.changes();
    // Three heartbeat timeouts pass without the provider being removed.
    assert!(
        feed.recv_timeout(Duration::from_millis(1500)).is_err(),
        "removed despite heartbeats"
    );
    drop(rx);
    let c = feed.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        c.providers.is_empty(),
        "expired once the heartbeats stopped"
    );
});

both_backends!(a_lost_registry_fails_over_to_the_next, |backend| {
    let ctx = ctx(backend);
    let a = registry(&ctx, 1);
    let b = registry(&ctx, 2);
    let at_b = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(b.pub_endpoint())
        .start()
        .unwrap();
    let mut rx = Receiver::builder(&ctx)
        .registry(a.router_endpoint())
        .registry(b.router_endpoint())
        .start()
        .unwrap();
    rx.register("echo", Some("tcp://127.0.0.1:9"), 1).unwrap();
    assert!(!at_b.is_available("echo"), "a and b are not peers");
    let stopped = std::time::Instant::now();
    drop(a);
    // The receiver notices, backs off ~200 ms, switches to b and registers again there.
    let p = at_b.wait_available("echo", WAIT).unwrap();
    assert_eq!(p[0].endpoint, "tcp://127.0.0.1:9");
    println!(
        "failover: listed at b {:?} after a stopped",
        stopped.elapsed()
    );
});
