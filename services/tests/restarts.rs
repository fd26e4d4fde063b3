//! Restarts, on both backends: a registry restarted on the same endpoints gets its
//! registrations back from the receivers (no new `register` call), and a receiver restarted
//! with the same routing id and endpoint is reached again by a gateway that never changed.

use std::time::Duration;

use ringlink_services::discovery::Discovery;
use ringlink_services::gateway::Gateway;
use ringlink_services::receiver::Receiver;
use ringlink_services::registry::Registry;
use ringlink_services::wire::ServiceType;
use ringlink_tests::*;

const LIMIT: Duration = Duration::from_secs(20);

/// A registry on these endpoints, once the previous one's listeners are gone (closing a
/// listener completes on its reactor, so the name may still be taken for a moment).
fn registry_at(ctx: &Context, pub_ep: &str, router_ep: &str) -> Registry {
    poll_until(LIMIT, "the registry's endpoints are free again", || {
        Registry::builder(ctx)
            .endpoints(pub_ep, router_ep)
            .start()
            .ok()
    })
}

fn lists(reg: &mut Registry, name: &str) -> bool {
    reg.list()
        .unwrap()
        .services
        .iter()
        .any(|s| s.name == name && !s.providers.is_empty())
}

both_backends!(
    a_restarted_registry_gets_its_registrations_back,
    |backend| {
        let ctx = ctx(backend);
        let pub_ep = format!("ipc://@{}", unique_name("reg-pub"));
        let router_ep = format!("ipc://@{}", unique_name("reg-router"));
        let mut reg = registry_at(&ctx, &pub_ep, &router_ep);
        let mut rx = Receiver::builder(&ctx)
            .routing_id(b"survivor")
            .registry(&router_ep)
            .start()
            .unwrap();
        rx.bind("tcp://127.0.0.1:*").unwrap();
        rx.register("echo", None, 1).unwrap();
        assert!(lists(&mut reg, "echo"));
        drop(reg);
        // Same endpoints, empty state: the receiver sees its registry connection drop and come
        // back, and registers everything again.
        let mut reg = registry_at(&ctx, &pub_ep, &router_ep);
        poll_until(LIMIT, "the receiver registers again", || {
            lists(&mut reg, "echo").then_some(())
        });
        // And a discovery of the new registry sees it.
        let disc = Discovery::builder(&ctx, ServiceType::Gateway)
            .registry(&pub_ep)
            .start()
            .unwrap();
        let p = disc.wait_available("echo", Some(LIMIT)).unwrap();
        assert_eq!(&p[0].routing_id[..], b"survivor");
    }
);

/// A receiver serving `echo` as `id` on `endpoint`: replies `[gateway id][tag][request]`
/// until `quit`.
fn serve(
    ctx: &Context,
    registry: &str,
    endpoint: &str,
    tag: &'static [u8],
) -> std::thread::JoinHandle<()> {
    let mut rx = Receiver::builder(ctx)
        .routing_id(b"stable-id")
        .registry(registry)
        .start()
        .unwrap();
    poll_until(LIMIT, "the receiver's endpoint is free again", || {
        rx.bind(endpoint).ok()
    });
    rx.register("echo", None, 1).unwrap();
    std::thread::spawn(move || loop {
        let req = recv_parts(rx.router(), "request");
        if req[1] == b"quit" {
            return;
        }
        send_parts(
            rx.router(),
            &[req[0].clone(), tag.to_vec(), req[1].clone()],
            "reply",
        );
    })
}

both_backends!(a_restarted_receiver_is_reached_again, |backend| {
    let ctx = ctx(backend);
    let reg = Registry::builder(&ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .start()
        .unwrap();
    let endpoint = format!("ipc://@{}", unique_name("receiver"));
    let first = serve(&ctx, reg.router_endpoint(), &endpoint, b"first");
    let disc = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    disc.wait_available("echo", Some(LIMIT)).unwrap();
    let gw = Gateway::new(&ctx, &disc, Some(b"gw")).unwrap();
    // Until the gateway's connection is up, a send finds no routable provider.
    let ask = |tag: &[u8]| {
        poll_until(LIMIT, "a reply from the receiver", || {
            match gw.send("echo", &[b"ping"], ringlink::DONTWAIT) {
                Ok(()) => {}
                Err(Error::HostUnreachable | Error::Again) => return None,
                Err(e) => panic!("send: {e}"),
            }
            match gw.recv_timeout(Some(Duration::from_millis(200))) {
                Ok((_, parts)) if parts[0] == tag => Some(()),
                // A reply of the old process to an earlier ping, or none yet.
                Ok(_) | Err(Error::Again) => None,
                Err(e) => panic!("recv: {e}"),
            }
        })
    };
    ask(b"first");
    gw.send("echo", &[b"quit"], 0).unwrap();
    first.join().unwrap();
    // Same routing id, same endpoint: the gateway's ROUTER reconnects by itself.
    let second = serve(&ctx, reg.router_endpoint(), &endpoint, b"second");
    ask(b"second");
    gw.send("echo", &[b"quit"], 0).unwrap();
    second.join().unwrap();
});
