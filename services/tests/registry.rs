//! The registry over real sockets (tcp, ipc, inproc), on both backends: registration, lists
//! on the PUB, heartbeat expiry, weight updates and a two-registry cluster.

use std::time::{Duration, Instant};

use ringlink_services::registry::Registry;
use ringlink_services::wire::{status, Message, ServiceList, ServiceType};
use ringlink_tests::*;

/// A DEALER standing in for a receiver: its routing id is the provider's.
fn receiver(ctx: &Context, rid: &[u8], registry_router: &str) -> Socket {
    let mut d = socket(ctx, SocketType::Dealer);
    set_opt(&mut d, SocketOption::RoutingId(rid.to_vec()));
    set_opt(&mut d, SocketOption::Linger(0));
    connect(&mut d, registry_router);
    d
}

/// A SUB standing in for a discovery.
fn watcher(ctx: &Context, registry_pub: &str) -> Socket {
    let mut s = socket(ctx, SocketType::Sub);
    s.subscribe("").unwrap();
    connect(&mut s, registry_pub);
    s
}

fn request(d: &mut Socket, m: Message) -> Message {
    send_parts(d, &m.encode(), "request");
    Message::decode(&recv_parts(d, "ack")).expect("a valid answer")
}

fn register(name: &str, endpoint: &str, weight: u32) -> Message {
    Message::Register {
        service_type: ServiceType::Gateway,
        name: name.into(),
        endpoint: endpoint.into(),
        weight,
    }
}

/// Lists from `sub` until one satisfies `want` (each wait bounded by RCVTIMEO).
fn list_until(sub: &mut Socket, what: &str, want: impl Fn(&ServiceList) -> bool) -> ServiceList {
    loop {
        match Message::decode(&recv_parts(sub, what)) {
            Ok(Message::ServiceList(l)) if want(&l) => return l,
            Ok(Message::ServiceList(_)) => {}
            other => panic!("{what}: not a list: {other:?}"),
        }
    }
}

fn providers(l: &ServiceList, name: &str) -> Vec<(String, Vec<u8>, u32)> {
    l.services
        .iter()
        .filter(|s| s.name == name)
        .flat_map(|s| &s.providers)
        .map(|p| (p.endpoint.clone(), p.routing_id.clone(), p.weight))
        .collect()
}

fn endpoints(tag: &str, transport: &str) -> (String, String) {
    match transport {
        "tcp" => ("tcp://127.0.0.1:*".into(), "tcp://127.0.0.1:*".into()),
        "ipc" => (
            format!("ipc://@{}", unique_name(&format!("{tag}-pub"))),
            format!("ipc://@{}", unique_name(&format!("{tag}-router"))),
        ),
        _ => (
            format!("inproc://{}", unique_name(&format!("{tag}-pub"))),
            format!("inproc://{}", unique_name(&format!("{tag}-router"))),
        ),
    }
}

both_backends!(
    registration_is_acked_and_listed_on_every_transport,
    |backend| {
        let ctx = ctx(backend);
        for transport in ["tcp", "ipc", "inproc"] {
            let (p, r) = endpoints("reg", transport);
            let mut reg = Registry::builder(&ctx)
                .endpoints(&p, &r)
                .id(7)
                .start()
                .unwrap();
            let mut sub = watcher(&ctx, reg.pub_endpoint());
            // The new subscriber gets the (empty) list at once, not after 30 s.
            let first = list_until(&mut sub, "first list", |_| true);
            assert_eq!(first.registry_id, 7);
            let mut d = receiver(&ctx, b"svc-1", reg.router_endpoint());
            let t = Instant::now();
            let ack = request(&mut d, register("echo", "tcp://127.0.0.1:5555", 2));
            let took = t.elapsed();
            assert_eq!(
                ack,
                Message::RegisterAck {
                    status: status::OK,
                    endpoint: "tcp://127.0.0.1:5555".into(),
                    error: String::new(),
                },
                "{transport}"
            );
            let l = list_until(&mut sub, "list with the provider", |l| {
                !l.services.is_empty()
            });
            assert_eq!(
                providers(&l, "echo"),
                [("tcp://127.0.0.1:5555".to_string(), b"svc-1".to_vec(), 2)],
                "{transport}: the provider's routing id is the registering connection's"
            );
            assert_eq!(
                reg.list().unwrap(),
                ServiceList {
                    list_seq: l.list_seq,
                    ..l.clone()
                }
            );
            println!("{transport}: REGISTER acknowledged in {took:?}");
            // A bad request gets its status, and harms nothing.
            let ack = request(&mut d, register("", "tcp://127.0.0.1:5556", 1));
            assert!(
                matches!(
                    ack,
                    Message::RegisterAck {
                        status: status::EMPTY,
                        ..
                    }
                ),
                "{ack:?}"
            );
            send_parts(&mut d, &[b"garbage".to_vec()], "garbage");
            let ack = request(
                &mut d,
                Message::UpdateWeight {
                    service_type: ServiceType::Gateway,
                    name: "echo".into(),
                    endpoint: "tcp://127.0.0.1:5555".into(),
                    weight: 5,
                },
            );
            assert!(
                matches!(
                    ack,
                    Message::RegisterAck {
                        status: status::OK,
                        ..
                    }
                ),
                "{ack:?}"
            );
            list_until(&mut sub, "weight 5", |l| {
                providers(l, "echo").first().is_some_and(|p| p.2 == 5)
            });
            send_parts(
                &mut d,
                &Message::Unregister {
                    service_type: ServiceType::Gateway,
                    name: "echo".into(),
                    endpoint: "tcp://127.0.0.1:5555".into(),
                }
                .encode(),
                "unregister",
            );
            list_until(&mut sub, "empty list after unregister", |l| {
                l.services.is_empty()
            });
        }
    }
);

both_backends!(
    silent_providers_expire_and_heartbeats_keep_them,
    |backend| {
        let ctx = ctx(backend);
        let reg = Registry::builder(&ctx)
            .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
            .heartbeat_timeout(Duration::from_millis(400))
            .start()
            .unwrap();
        let mut sub = watcher(&ctx, reg.pub_endpoint());
        let mut quiet = receiver(&ctx, b"quiet", reg.router_endpoint());
        let mut alive = receiver(&ctx, b"alive", reg.router_endpoint());
        request(&mut quiet, register("svc", "tcp://q:1", 1));
        request(&mut alive, register("svc", "tcp://a:1", 1));
        list_until(&mut sub, "both registered", |l| {
            providers(l, "svc").len() == 2
        });
        let start = Instant::now();
        // `alive` beats (from another connection, as zlink receivers do) until `quiet` is gone.
        let mut beat = receiver(&ctx, b"alive-beat", reg.router_endpoint());
        let hb = Message::Heartbeat {
            service_type: ServiceType::Gateway,
            name: "svc".into(),
            endpoint: "tcp://a:1".into(),
        }
        .encode();
        let l = loop {
            send_parts(&mut beat, &hb, "heartbeat");
            match try_recv_parts(&mut sub, 100) {
                Some(m) => match Message::decode(&m) {
                    Ok(Message::ServiceList(l)) if providers(&l, "svc").len() == 1 => break l,
                    _ => {}
                },
                None => assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "quiet never expired"
                ),
            }
        };
        assert_eq!(providers(&l, "svc")[0].0, "tcp://a:1");
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "expired early"
        );
        list_until(&mut sub, "alive expires once it stops beating", |l| {
            l.services.is_empty()
        });
        drop(reg);
    }
);

both_backends!(
    two_registries_share_lists_and_drop_a_stopped_peer,
    |backend| {
        let ctx = ctx(backend);
        let fast = Duration::from_millis(200);
        let mut a = Registry::builder(&ctx)
            .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
            .id(1)
            .broadcast_interval(fast)
            .start()
            .unwrap();
        let mut b = Registry::builder(&ctx)
            .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
            .id(2)
            .broadcast_interval(fast)
            .peer(a.pub_endpoint())
            .start()
            .unwrap();
        a.add_peer(b.pub_endpoint()).unwrap();
        let mut at_b = watcher(&ctx, b.pub_endpoint());
        let mut d = receiver(&ctx, b"svc-a", a.router_endpoint());
        request(&mut d, register("svc", "tcp://a:1", 1));
        let l = list_until(&mut at_b, "a's provider at b", |l| !l.services.is_empty());
        assert_eq!(l.registry_id, 2);
        assert_eq!(
            providers(&l, "svc"),
            [("tcp://a:1".to_string(), b"svc-a".to_vec(), 1)]
        );
        assert!(matches!(
            a.add_peer("bogus://x"),
            Err(Error::InvalidArgument(_))
        ));
        // Stop a: b drops its entries after three silent broadcast intervals.
        let stopped = Instant::now();
        drop(a);
        list_until(&mut at_b, "a's provider gone", |l| l.services.is_empty());
        // Dropped 3 intervals after a's last list, which came at most ~1 interval before the stop.
        assert!(stopped.elapsed() >= fast * 2, "dropped too early");
        assert_eq!(b.list().unwrap().services.len(), 0);
    }
);

#[test]
fn bad_configuration_is_refused() {
    let ctx = Context::new().unwrap();
    let err = |b: ringlink_services::registry::RegistryBuilder| b.start().unwrap_err();
    assert!(matches!(
        err(Registry::builder(&ctx)),
        Error::InvalidArgument(_)
    ));
    let eps = |b: ringlink_services::registry::RegistryBuilder| {
        b.endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    };
    assert!(matches!(
        err(eps(Registry::builder(&ctx)).id(0)),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        err(eps(Registry::builder(&ctx)).broadcast_interval(Duration::ZERO)),
        Error::InvalidArgument(_)
    ));
}

both_backends!(
    shutting_the_context_down_fails_calls_instead_of_hanging,
    |backend| {
        let ctx = ctx(backend);
        let mut reg = Registry::builder(&ctx)
            .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
            .start()
            .unwrap();
        assert!(reg.list().is_ok());
        ctx.shutdown();
        assert!(
            matches!(reg.list(), Err(Error::Terminated)),
            "{:?}",
            reg.list()
        );
        drop(reg); // joins the worker, which has ended
    }
);
