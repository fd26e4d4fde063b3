//! The gateway over real sockets on both backends: round-robin and weighted distributions
//! counted, sending to one provider, replies named by service, errors, and a thread blocked in
//! `recv` while others send.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ringlink_services::discovery::Discovery;
use ringlink_services::gateway::{Gateway, LoadBalance};
use ringlink_services::receiver::Receiver;
use ringlink_services::registry::Registry;
use ringlink_services::wire::ServiceType;
use ringlink_tests::*;

use ringlink::{PollItem, DONTWAIT, POLLIN};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

struct World {
    ctx: Context,
    _reg: Registry,
    disc: Discovery,
    servers: Vec<JoinHandle<usize>>,
}

/// A registry, a discovery and one receiver per `(id, weight)` serving `service`: each
/// answers a request with its id and the request, until it gets `quit`; the thread returns
/// how many requests it answered.
fn world(backend: Backend, service: &str, receivers: &[(&str, u32)]) -> World {
    world_with(backend, service, receivers, None)
}

/// [`world`] whose receivers read no request before `gate` gives the word (one receiver).
fn world_with(
    backend: Backend,
    service: &str,
    receivers: &[(&str, u32)],
    mut gate: Option<mpsc::Receiver<()>>,
) -> World {
    let ctx = ctx(backend);
    let reg = Registry::builder(&ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .start()
        .unwrap();
    let disc = Discovery::builder(&ctx, ServiceType::Gateway)
        .registry(reg.pub_endpoint())
        .start()
        .unwrap();
    let mut servers = Vec::new();
    for &(id, weight) in receivers {
        let mut rx = Receiver::builder(&ctx)
            .routing_id(id.as_bytes())
            .registry(reg.router_endpoint())
            .start()
            .unwrap();
        rx.bind("tcp://127.0.0.1:*").unwrap();
        // Replies wait for room instead of being dropped when the gateway's queue is full.
        set_opt(rx.router(), SocketOption::RouterMandatory(true));
        rx.register(service, None, weight).unwrap();
        let gate = gate.take();
        servers.push(std::thread::spawn(move || {
            if let Some(gate) = gate {
                gate.recv().unwrap();
            }
            let mut served = 0;
            loop {
                let req = recv_parts(rx.router(), "request");
                if req[1] == b"quit" {
                    return served;
                }
                served += 1;
                let mut reply = vec![req[0].clone(), rx.routing_id().to_vec()];
                reply.extend(req[1..].iter().cloned());
                send_parts(rx.router(), &reply, "reply");
            }
        }));
    }
    let n = receivers.len();
    disc.wait_available(service, WAIT).unwrap();
    poll_until(Duration::from_secs(20), "every receiver discovered", || {
        (disc.provider_count(service) == n).then_some(())
    });
    World {
        ctx,
        _reg: reg,
        disc,
        servers,
    }
}

fn connected(gw: &Gateway, service: &str, n: usize) {
    poll_until(Duration::from_secs(20), "every provider connected", || {
        (gw.connection_count(service).unwrap() == n).then_some(())
    });
}

fn finish(w: World, gw: &Gateway, service: &str, ids: &[&str]) -> Vec<usize> {
    for id in ids {
        gw.send_to(service, id.as_bytes(), &[b"quit"], 0).unwrap();
    }
    w.servers.into_iter().map(|t| t.join().unwrap()).collect()
}

fn replies(gw: &Gateway, n: usize) -> HashMap<Vec<u8>, usize> {
    let mut by = HashMap::new();
    for _ in 0..n {
        let (service, parts) = gw.recv(0).unwrap();
        assert_eq!(service, "echo");
        *by.entry(parts[0].clone()).or_insert(0) += 1;
    }
    by
}

both_backends!(round_robin_spreads_requests_evenly, |backend| {
    let w = world(backend, "echo", &[("r-a", 1), ("r-b", 1)]);
    let gw = Gateway::new(&w.ctx, &w.disc, Some(b"gw-1")).unwrap();
    connected(&gw, "echo", 2);
    for i in 0..100u32 {
        gw.send("echo", &[&i.to_le_bytes()[..], b"payload"], 0)
            .unwrap();
    }
    let by = replies(&gw, 100);
    assert_eq!((by[&b"r-a".to_vec()], by[&b"r-b".to_vec()]), (50, 50));
    assert_eq!(finish(w, &gw, "echo", &["r-a", "r-b"]), [50, 50]);
});

both_backends!(weighted_spreads_requests_by_weight, |backend| {
    let w = world(backend, "echo", &[("w-a", 1), ("w-b", 3)]);
    let gw = Gateway::new(&w.ctx, &w.disc, None).unwrap();
    gw.set_load_balance("echo", LoadBalance::Weighted).unwrap();
    connected(&gw, "echo", 2);
    for _ in 0..100 {
        gw.send("echo", &[b"x"], 0).unwrap();
    }
    let by = replies(&gw, 100);
    assert_eq!((by[&b"w-a".to_vec()], by[&b"w-b".to_vec()]), (25, 75));
    // The batch form picks the same way (1,000: below the high-water marks, so no provider
    // is ever full and skipped for the next).
    assert_eq!(gw.send_repeat("echo", b"x", 1_000, 0).unwrap(), 1_000);
    let by = replies(&gw, 1_000);
    assert_eq!((by[&b"w-a".to_vec()], by[&b"w-b".to_vec()]), (250, 750));
    // Past the high-water marks it waits for room (a full provider is skipped for one with
    // room), with the replies read meanwhile: every request is answered.
    let by = std::thread::scope(|s| {
        let reader = s.spawn(|| replies(&gw, 20_000));
        assert_eq!(gw.send_repeat("echo", b"x", 20_000, 0).unwrap(), 20_000);
        reader.join().unwrap()
    });
    let (a, b) = (by[&b"w-a".to_vec()], by[&b"w-b".to_vec()]);
    assert_eq!(a + b, 20_000);
    assert!(matches!(
        gw.send_repeat("nothing-here", b"x", 5, 0),
        Err(Error::HostUnreachable)
    ));
    assert!(matches!(
        gw.send_repeat("echo", b"x", 5, ringlink::SNDMORE),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        finish(w, &gw, "echo", &["w-a", "w-b"]),
        [25 + 250 + a, 75 + 750 + b]
    );
});

both_backends!(a_pool_of_one_gets_each_batch_in_order, |backend| {
    let w = world(backend, "echo", &[("one", 1)]);
    let gw = Gateway::new(&w.ctx, &w.disc, None).unwrap();
    connected(&gw, "echo", 1);
    // Past the high-water marks (the run for the one provider waits for room), with the
    // replies read meanwhile: every request answered, in the order sent.
    const N: u32 = 20_000;
    let payloads: Vec<[u8; 4]> = (0..N).map(u32::to_le_bytes).collect();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            for i in 0..N {
                let (service, parts) = gw.recv(0).unwrap();
                assert_eq!(
                    (service.as_str(), &parts[..]),
                    ("echo", &[b"one".to_vec(), i.to_le_bytes().to_vec()][..])
                );
            }
        });
        let mut sent = 0;
        while sent < payloads.len() {
            sent += gw.send_many("echo", &payloads[sent..], 0).unwrap();
        }
        reader.join().unwrap();
    });
    assert_eq!(gw.send_repeat("echo", b"r", 500, 0).unwrap(), 500);
    let by = replies(&gw, 500);
    assert_eq!(by[&b"one".to_vec()], 500);
    assert_eq!(finish(w, &gw, "echo", &["one"]), [N as usize + 500]);
});

both_backends!(send_to_one_provider_and_errors, |backend| {
    let w = world(backend, "echo", &[("s-a", 1), ("s-b", 1)]);
    let gw = Gateway::new(&w.ctx, &w.disc, None).unwrap();
    connected(&gw, "echo", 2);
    for _ in 0..10 {
        gw.send_to("echo", b"s-b", &[b"only b"], 0).unwrap();
    }
    assert_eq!(replies(&gw, 10).get(b"s-b".as_slice()), Some(&10));
    assert!(matches!(
        gw.send_to("echo", b"nobody", &[b"x"], 0),
        Err(Error::HostUnreachable)
    ));
    assert!(matches!(
        gw.send("no-such-service", &[b"x"], 0),
        Err(Error::HostUnreachable)
    ));
    let none: [&[u8]; 0] = [];
    assert!(matches!(
        gw.send("echo", &none, 0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        gw.send("echo", &[b"x"], ringlink::SNDMORE),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(gw.recv(ringlink::DONTWAIT), Err(Error::Again)));
    let t0 = std::time::Instant::now();
    assert!(matches!(
        gw.recv_timeout(Some(Duration::from_millis(50))),
        Err(Error::Again)
    ));
    assert!(
        t0.elapsed() >= Duration::from_millis(50),
        "waited the timeout"
    );
    gw.send_to("echo", b"s-b", &[b"timed"], 0).unwrap();
    let (svc, parts) = gw.recv_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!((svc.as_str(), &parts[1][..]), ("echo", &b"timed"[..]));
    assert_eq!(finish(w, &gw, "echo", &["s-a", "s-b"]), [0, 11]);
});

both_backends!(a_thread_blocked_in_recv_does_not_stall_senders, |backend| {
    let w = world(backend, "echo", &[("c-a", 1), ("c-b", 1)]);
    let gw = Arc::new(Gateway::new(&w.ctx, &w.disc, None).unwrap());
    connected(&gw, "echo", 2);
    // Two threads wait in recv before anything is sent; the main thread and a third thread
    // send while they wait.
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| gw.recv(0).unwrap().1[1].clone())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sender = {
        let gw = gw.clone();
        std::thread::spawn(move || {
            for i in 0..100u32 {
                gw.send("echo", &[i.to_le_bytes()], 0).unwrap();
            }
        })
    };
    for i in 100..200u32 {
        gw.send("echo", &[i.to_le_bytes()], 0).unwrap();
    }
    sender.join().unwrap();
    let mut got: Vec<u32> = receivers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|b| u32::from_le_bytes(b[..].try_into().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        (0..200).collect::<Vec<_>>(),
        "every reply received exactly once"
    );
    assert_eq!(
        finish(w, &gw, "echo", &["c-a", "c-b"])
            .iter()
            .sum::<usize>(),
        200
    );
});

both_backends!(
    providers_are_connected_as_they_register_without_a_call,
    |backend| {
        let w = world(backend, "echo", &[("e-a", 1)]);
        let gw = Gateway::new(&w.ctx, &w.disc, Some(b"gw-eager")).unwrap();
        // A provider registering after the gateway exists: the gateway connects to it from
        // the discovery's change, with no gateway call in between. Both ends must see the
        // connection: the provider's ROUTER can finish its handshake before the gateway's
        // does (each side completes on the other's READY), so wait for both.
        let reg_router = w._reg.router_endpoint().to_string();
        let mut late = Receiver::builder(&w.ctx)
            .routing_id(b"e-late")
            .registry(&reg_router)
            .start()
            .unwrap();
        late.bind("tcp://127.0.0.1:*").unwrap();
        late.register("echo", None, 1).unwrap();
        poll_until(
            Duration::from_secs(20),
            "the gateway connects to the late provider",
            || {
                (late
                    .router()
                    .peers()
                    .iter()
                    .any(|p| p.routing_id == b"gw-eager")
                    && gw.connection_count("echo").unwrap() == 2)
                    .then_some(())
            },
        );
        assert_eq!(finish(w, &gw, "echo", &["e-a"]), [0]);
    }
);

/// Wait until `fd` is readable as an event loop would; a wake-up that never comes fails.
fn readable(fd: std::os::fd::RawFd) {
    let mut items = [PollItem::fd(fd, POLLIN)];
    assert_eq!(
        ringlink::poll(&mut items, WAIT).unwrap(),
        1,
        "an event loop's wake-up was lost"
    );
}

/// Run a `DONTWAIT` call as an event loop does (`Gateway::wait_fd`): on `Again`, step the
/// wait, retry, and poll the fd it gave when the retry fails too.
fn on_loop<R>(gw: &Gateway, mut call: impl FnMut() -> ringlink::Result<R>) -> R {
    let mut r = call();
    while matches!(r, Err(Error::Again)) {
        let fd = gw.wait_fd().unwrap();
        r = call();
        if matches!(r, Err(Error::Again)) {
            readable(fd);
        }
    }
    r.unwrap()
}

both_backends!(
    an_event_loop_waits_beside_threads_blocked_in_calls,
    |backend| {
        let (go, gate) = mpsc::channel();
        let w = world_with(backend, "echo", &[("l-a", 1)], Some(gate));
        let gw = Arc::new(Gateway::new(&w.ctx, &w.disc, None).unwrap());
        connected(&gw, "echo", 1);
        const N: u32 = 20_000;
        let number = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
        // A thread blocked in recv (mostly the waiting's leader) while the loop sends; it learns
        // the total once the queues are full (how much fits is the kernel's business).
        let (total_tx, total_rx) = mpsc::channel::<u32>();
        let rx = {
            let gw = gw.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut total = None;
                while total.is_none_or(|t| got.len() < t as usize) {
                    got.push(number(&gw.recv_timeout(WAIT).unwrap().1[1]));
                    total = total.or_else(|| total_rx.try_recv().ok());
                }
                got
            })
        };
        // The provider reads nothing yet: the queues fill until a send fails, and fails again
        // once the loop has registered (`wait_fd`, then the retry the protocol asks for). A
        // first failure can be the pipe at SNDHWM while the reactor still moves messages into
        // the kernel's buffers: then the retry goes through, and the fill goes on.
        let mut i = 0u32;
        let fd = loop {
            match gw.send("echo", &[i.to_le_bytes()], DONTWAIT) {
                Ok(()) => i += 1,
                Err(Error::Again) => {
                    let fd = gw.wait_fd().unwrap();
                    match gw.send("echo", &[i.to_le_bytes()], DONTWAIT) {
                        Ok(()) => i += 1,
                        Err(Error::Again) => break fd,
                        Err(e) => panic!("retry {i}: {e}"),
                    }
                }
                Err(e) => panic!("send {i}: {e}"),
            }
        };
        // Full, with the loop registered: room appears only once the provider reads.
        // The fill, then N more through the loop.
        let total = i + N;
        total_tx.send(total).unwrap();
        go.send(()).unwrap();
        readable(fd);
        for i in i..total {
            on_loop(&gw, || gw.send("echo", &[i.to_le_bytes()], DONTWAIT));
        }
        gw.wait_done();
        let mut got = rx.join().unwrap();
        got.sort_unstable();
        assert!(got == (0..total).collect::<Vec<_>>(), "every reply once");
        // A thread blocked in send (at the high-water marks while the loop reads slower than it
        // sends) while the loop receives.
        let tx = {
            let gw = gw.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    gw.send("echo", &[i.to_le_bytes()], 0).unwrap();
                }
            })
        };
        let mut got: Vec<u32> = (0..N)
            .map(|_| number(&on_loop(&gw, || gw.recv(DONTWAIT)).1[1]))
            .collect();
        gw.wait_done();
        tx.join().unwrap();
        got.sort_unstable();
        assert!(got == (0..N).collect::<Vec<_>>(), "every reply once");
        assert_eq!(finish(w, &gw, "echo", &["l-a"]), [(total + N) as usize]);
    }
);
