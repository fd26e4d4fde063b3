//! `proxy` and `proxy_steerable` (zmq_proxy / zmq_proxy_steerable) on both backends: a
//! ROUTER/DEALER broker, a PULL/PUSH pipeline, capture, PAUSE/RESUME/STATISTICS/TERMINATE,
//! backpressure, and termination by context shutdown.
//!
//! Each proxy runs on its own thread and owns its sockets; the test thread plays the peers.

use std::thread::{self, JoinHandle};

use ringlink::{proxy, proxy_steerable};
use ringlink_tests::*;

type ProxyThread = JoinHandle<ringlink::Result<()>>;

fn spawn_proxy(mut front: Socket, mut back: Socket, capture: Option<Socket>) -> ProxyThread {
    thread::spawn(move || {
        let mut capture = capture;
        proxy(&mut front, &mut back, capture.as_mut())
    })
}

fn spawn_steerable(
    mut front: Socket,
    mut back: Socket,
    capture: Option<Socket>,
    mut control: Socket,
) -> ProxyThread {
    thread::spawn(move || {
        let mut capture = capture;
        proxy_steerable(&mut front, &mut back, capture.as_mut(), &mut control)
    })
}

/// Shuts the context down and checks that the proxy ended with `Error::Terminated`.
fn expect_terminated(ctx: &Context, p: ProxyThread) {
    ctx.shutdown();
    match p.join().expect("proxy thread panicked") {
        Err(Error::Terminated) => {}
        other => panic!("proxy after shutdown: {other:?}, want Err(Terminated)"),
    }
}

/// A PULL frontend and a PUSH backend, both bound: (frontend, backend, producer, consumer).
fn pipeline(ctx: &Context) -> (Socket, Socket, Socket, Socket) {
    let mut front = socket(ctx, SocketType::Pull);
    let front_ep = bind_tcp(&mut front);
    let mut back = socket(ctx, SocketType::Push);
    let back_ep = bind_tcp(&mut back);
    let mut producer = socket(ctx, SocketType::Push);
    connect(&mut producer, &front_ep);
    let mut consumer = socket(ctx, SocketType::Pull);
    connect(&mut consumer, &back_ep);
    (front, back, producer, consumer)
}

/// A REP control socket and the REQ that steers it (over inproc, as is usual).
fn control_pair(ctx: &Context) -> (Socket, Socket) {
    let ep = format!("inproc://{}", unique_name("proxy-control"));
    let mut control = socket(ctx, SocketType::Rep);
    control.bind(&ep).expect("bind control");
    let mut steer = socket(ctx, SocketType::Req);
    connect(&mut steer, &ep);
    (control, steer)
}

/// Sends a command through a REQ steering a REP control socket; returns the reply.
fn steer(req: &mut Socket, cmd: &str) -> Vec<Vec<u8>> {
    send_parts(req, &[cmd.as_bytes().to_vec()], cmd);
    recv_parts(req, &format!("reply to {cmd}"))
}

fn statistics(req: &mut Socket) -> Vec<u64> {
    steer(req, "STATISTICS")
        .iter()
        .map(|f| u64::from_ne_bytes(f.as_slice().try_into().expect("8-byte counter")))
        .collect()
}

both_backends!(
    broker_router_dealer_with_req_clients_and_rep_workers,
    |backend| {
        const CLIENTS: usize = 3;
        const REQUESTS: usize = 50;
        let ctx = ctx(backend);
        let mut front = socket(&ctx, SocketType::Router);
        let front_ep = bind_tcp(&mut front);
        let mut back = socket(&ctx, SocketType::Dealer);
        let back_ep = bind_tcp(&mut back);
        let p = spawn_proxy(front, back, None);
        // Workers answer [their name, the request's frames...] until the context goes away.
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let mut rep = socket(&ctx, SocketType::Rep);
                // Idle workers wait for the shutdown at the end, not for RCVTIMEO.
                set_opt(&mut rep, SocketOption::RcvTimeo(-1));
                connect(&mut rep, &back_ep);
                thread::spawn(move || loop {
                    let req = match rep.recv_multipart(0) {
                        Ok(m) => m,
                        Err(Error::Terminated) => return,
                        Err(e) => panic!("worker {w} recv: {e}"),
                    };
                    let mut reply = vec![format!("worker-{w}").into_bytes()];
                    reply.extend(req);
                    match rep.send_multipart(&reply, 0) {
                        Ok(()) => {}
                        Err(Error::Terminated) => return,
                        Err(e) => panic!("worker {w} send: {e}"),
                    }
                })
            })
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let mut req = socket(&ctx, SocketType::Req);
                connect(&mut req, &front_ep);
                thread::spawn(move || {
                    for i in 0..REQUESTS {
                        // An empty middle frame must survive REP's envelope stripping.
                        let request = vec![
                            format!("client-{c}").into_bytes(),
                            Vec::new(),
                            format!("request-{i}").into_bytes(),
                        ];
                        send_parts(&mut req, &request, "request");
                        let reply = recv_parts(&mut req, "reply");
                        assert!(
                            reply.len() == 4 && reply[0].starts_with(b"worker-"),
                            "client {c} request {i}: reply {reply:?}"
                        );
                        assert_eq!(
                            reply[1..],
                            request[..],
                            "client {c}: reply to another request"
                        );
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client failed");
        }
        expect_terminated(&ctx, p);
        for w in workers {
            w.join().expect("worker failed");
        }
    }
);

both_backends!(
    pipeline_push_pull_keeps_messages_whole_and_in_order,
    |backend| {
        const N: usize = 200;
        let ctx = ctx(backend);
        let (front, back, mut producer, mut consumer) = pipeline(&ctx);
        let p = spawn_proxy(front, back, None);
        // Includes empty frames and one 1 MiB frame (test_message), sent from another thread
        // so the proxy's backpressure cannot stall the test thread.
        let sender = thread::spawn(move || {
            for i in 0..N {
                send_parts(&mut producer, &test_message(i, N), "message");
            }
            producer
        });
        for i in 0..N {
            let what = format!("message {i} of {N}");
            assert_parts_eq(
                &recv_parts(&mut consumer, &what),
                &test_message(i, N),
                &what,
            );
        }
        let _producer = sender.join().expect("sender failed");
        expect_terminated(&ctx, p);
    }
);

both_backends!(capture_gets_a_copy_of_each_direction, |backend| {
    let ctx = ctx(backend);
    // PAIR client <-> PAIR frontend | proxy | PAIR backend <-> PAIR server; capture is a
    // PUSH whose PULL end the test reads.
    let mut front = socket(&ctx, SocketType::Pair);
    let front_ep = bind_tcp(&mut front);
    let mut back = socket(&ctx, SocketType::Pair);
    let back_ep = bind_tcp(&mut back);
    let mut cap = socket(&ctx, SocketType::Push);
    let cap_ep = bind_tcp(&mut cap);
    let mut tap = socket(&ctx, SocketType::Pull);
    connect(&mut tap, &cap_ep);
    let mut client = socket(&ctx, SocketType::Pair);
    connect(&mut client, &front_ep);
    let mut server = socket(&ctx, SocketType::Pair);
    connect(&mut server, &back_ep);
    let p = spawn_proxy(front, back, Some(cap));
    let mut seen = Vec::new();
    for i in 0..20u8 {
        let ask = vec![b"ask".to_vec(), vec![i], Vec::new()];
        send_parts(&mut client, &ask, "request");
        assert_eq!(recv_parts(&mut server, "request at server"), ask);
        let answer = vec![b"answer".to_vec(), vec![i; 3]];
        send_parts(&mut server, &answer, "answer");
        assert_eq!(recv_parts(&mut client, "answer at client"), answer);
        seen.push(ask);
        seen.push(answer);
    }
    for (k, want) in seen.iter().enumerate() {
        let what = format!("capture copy {k}");
        assert_parts_eq(&recv_parts(&mut tap, &what), want, &what);
    }
    expect_terminated(&ctx, p);
});

both_backends!(steerable_pause_resume_statistics_terminate, |backend| {
    let ctx = ctx(backend);
    let (front, back, mut producer, mut consumer) = pipeline(&ctx);
    let (control, mut req) = control_pair(&ctx);
    let p = spawn_steerable(front, back, None, control);
    send_parts(&mut producer, &[b"one".to_vec()], "one");
    assert_eq!(recv_parts(&mut consumer, "one"), vec![b"one".to_vec()]);
    // The REP control answers only after acting, so this reply means "paused".
    assert_eq!(steer(&mut req, "PAUSE"), vec![Vec::<u8>::new()]);
    send_parts(&mut producer, &[b"two".to_vec()], "two");
    // Absence can only be shown by waiting: 200 ms without delivery is what a paused proxy
    // must give; a working pause never fails this, whatever the load.
    assert_eq!(
        try_recv_parts(&mut consumer, 200),
        None,
        "delivered while paused"
    );
    assert_eq!(
        statistics(&mut req),
        [1, 3, 0, 0, 0, 0, 1, 3],
        "while paused"
    );
    assert_eq!(steer(&mut req, "RESUME"), vec![Vec::<u8>::new()]);
    assert_eq!(recv_parts(&mut consumer, "two"), vec![b"two".to_vec()]);
    assert_eq!(
        statistics(&mut req),
        [2, 6, 0, 0, 0, 0, 2, 6],
        "after resume"
    );
    // Unknown commands are ignored (and answered, REP must answer).
    assert_eq!(steer(&mut req, "BOGUS"), vec![Vec::<u8>::new()]);
    assert_eq!(steer(&mut req, "TERMINATE"), vec![Vec::<u8>::new()]);
    match p.join().expect("proxy thread panicked") {
        Ok(()) => {}
        other => panic!("proxy after TERMINATE: {other:?}"),
    }
});

both_backends!(steerable_with_pair_control_terminates, |backend| {
    let ctx = ctx(backend);
    let (front, back, mut producer, mut consumer) = pipeline(&ctx);
    let ep = format!("inproc://{}", unique_name("pair-control"));
    let mut control = socket(&ctx, SocketType::Pair);
    control.bind(&ep).expect("bind control");
    let mut ctl = socket(&ctx, SocketType::Pair);
    connect(&mut ctl, &ep);
    let p = spawn_steerable(front, back, None, control);
    // A PAIR control answers STATISTICS only. Commands are read in order, so once the
    // statistics arrive the PAUSE sent before them is in force.
    send_parts(&mut ctl, &[b"PAUSE".to_vec()], "PAUSE");
    send_parts(&mut ctl, &[b"STATISTICS".to_vec()], "STATISTICS");
    assert_eq!(recv_parts(&mut ctl, "statistics").len(), 8);
    send_parts(&mut producer, &[b"late".to_vec()], "late");
    send_parts(&mut ctl, &[b"RESUME".to_vec()], "RESUME");
    assert_eq!(recv_parts(&mut consumer, "late"), vec![b"late".to_vec()]);
    send_parts(&mut ctl, &[b"TERMINATE".to_vec()], "TERMINATE");
    match p.join().expect("proxy thread panicked") {
        Ok(()) => {}
        other => panic!("proxy after TERMINATE: {other:?}"),
    }
});

both_backends!(
    full_backend_holds_back_without_blocking_control,
    |backend| {
        const N: u32 = 3000;
        // The backend reaches its consumer over inproc: no kernel buffers, so it is full after
        // exactly SNDHWM + RCVHWM messages (the HWMs of both ends add up).
        const ROOM: u64 = 10;
        let ctx = ctx(backend);
        let mut front = socket(&ctx, SocketType::Pull);
        let front_ep = bind_tcp(&mut front);
        let mut producer = socket(&ctx, SocketType::Push);
        connect(&mut producer, &front_ep);
        let back_ep = format!("inproc://{}", unique_name("full-backend"));
        let mut back = socket(&ctx, SocketType::Push);
        set_opt(&mut back, SocketOption::SndHwm(5));
        // As in real use: a send would block for good, not give up after the test's SNDTIMEO.
        set_opt(&mut back, SocketOption::SndTimeo(-1));
        back.bind(&back_ep).expect("bind backend");
        let mut consumer = socket(&ctx, SocketType::Pull);
        set_opt(&mut consumer, SocketOption::RcvHwm(5));
        connect(&mut consumer, &back_ep);
        let (control, mut req) = control_pair(&ctx);
        let p = spawn_steerable(front, back, None, control);
        let sender = thread::spawn(move || {
            for i in 0..N {
                producer.send(&i.to_le_bytes(), 0).expect("send");
            }
            producer
        });
        // Nothing is read yet: once the backend is full the proxy holds the next message back.
        // Each STATISTICS is answered only if the proxy is not blocked in a send (a blocked one
        // would leave the REQ to time out).
        // Ask until the backend is full and one more message was taken in (and held).
        let mut stats = statistics(&mut req);
        while stats[6] < ROOM || stats[0] <= ROOM {
            stats = statistics(&mut req);
        }
        assert_eq!(
            stats[..1],
            [ROOM + 1],
            "taken in while the backend is full: {stats:?}"
        );
        assert_eq!(
            stats[6], ROOM,
            "backend took more than its HWMs allow: {stats:?}"
        );
        assert_eq!(statistics(&mut req), stats, "moved while full");
        for i in 0..N {
            let got = recv_parts(&mut consumer, "message");
            assert_eq!(got, vec![i.to_le_bytes().to_vec()], "message {i}");
        }
        let _producer = sender.join().expect("sender failed");
        let (n, bytes) = (u64::from(N), 4 * u64::from(N));
        assert_eq!(
            statistics(&mut req),
            [n, bytes, 0, 0, 0, 0, n, bytes],
            "statistics at the end"
        );
        assert_eq!(steer(&mut req, "TERMINATE"), vec![Vec::<u8>::new()]);
        p.join().expect("proxy thread panicked").expect("TERMINATE");
    }
);

both_backends!(shutdown_ends_running_and_paused_proxies, |backend| {
    let ctx = ctx(backend);
    let mut front = socket(&ctx, SocketType::Router);
    bind_tcp(&mut front);
    let mut back = socket(&ctx, SocketType::Dealer);
    bind_tcp(&mut back);
    let running = spawn_proxy(front, back, None);
    let (front, back, _producer, _consumer) = pipeline(&ctx);
    let (control, mut req) = control_pair(&ctx);
    let paused = spawn_steerable(front, back, None, control);
    assert_eq!(steer(&mut req, "PAUSE"), vec![Vec::<u8>::new()]);
    expect_terminated(&ctx, running);
    match paused.join().expect("proxy thread panicked") {
        Err(Error::Terminated) => {}
        other => panic!("paused proxy after shutdown: {other:?}, want Err(Terminated)"),
    }
});

both_backends!(sockets_that_cannot_forward_are_refused, |backend| {
    let ctx = ctx(backend);
    let mut push_a = socket(&ctx, SocketType::Push);
    let mut push_b = socket(&ctx, SocketType::Push);
    let mut pull_a = socket(&ctx, SocketType::Pull);
    let mut pull_b = socket(&ctx, SocketType::Pull);
    // Nothing can be received: nothing to forward.
    assert!(matches!(
        proxy(&mut push_a, &mut push_b, None),
        Err(Error::NotSupported)
    ));
    // The frontend receives, but the backend cannot send.
    assert!(matches!(
        proxy(&mut pull_a, &mut pull_b, None),
        Err(Error::NotSupported)
    ));
});
