//! REQ and REP: strict alternation (EFSM), envelopes, REQ_RELAXED, REQ_CORRELATE, mixing
//! with ROUTER and DEALER, and interop with pyzmq, on both backends.

use ringlink::SNDMORE;
use ringlink_tests::*;

fn req_rep(ctx: &Context) -> (Socket, Socket) {
    let mut rep = socket(ctx, SocketType::Rep);
    let ep = bind_tcp(&mut rep);
    let mut req = socket(ctx, SocketType::Req);
    connect(&mut req, &ep);
    (req, rep)
}

both_backends!(req_rep_alternation_and_efsm, |backend| {
    let ctx = ctx(backend);
    let (mut req, mut rep) = req_rep(&ctx);
    // REP cannot send before a request, REQ cannot receive before sending.
    assert!(matches!(rep.send(b"x", 0), Err(Error::State)));
    assert!(matches!(req.recv_bytes(0), Err(Error::State)));
    for i in 0..200u32 {
        req.send_multipart(&[&b"q"[..], &i.to_le_bytes()], 0)
            .expect("request");
        assert!(
            matches!(req.send(b"again", 0), Err(Error::State)),
            "two requests"
        );
        let got = recv_parts(&mut rep, "request");
        assert_eq!(got, vec![b"q".to_vec(), i.to_le_bytes().to_vec()]);
        assert!(
            matches!(rep.recv_bytes(0), Err(Error::State)),
            "two receives"
        );
        rep.send_multipart(&[&b"r"[..], &i.to_le_bytes()], 0)
            .expect("reply");
        assert_eq!(
            recv_parts(&mut req, "reply"),
            vec![b"r".to_vec(), i.to_le_bytes().to_vec()]
        );
    }
});

both_backends!(req_to_router_and_dealer_to_rep_envelopes, |backend| {
    let ctx = ctx(backend);
    // REQ → ROUTER: the router sees [id][empty][payload] and must reply with the same shape.
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut req = socket(&ctx, SocketType::Req);
    set_opt(&mut req, SocketOption::RoutingId(b"client".to_vec()));
    connect(&mut req, &ep);
    req.send(b"ask", 0).unwrap();
    assert_eq!(
        recv_parts(&mut router, "at router"),
        vec![b"client".to_vec(), Vec::new(), b"ask".to_vec()]
    );
    router
        .send_multipart(&[&b"client"[..], b"", b"answer"], 0)
        .unwrap();
    assert_eq!(recv_parts(&mut req, "answer"), vec![b"answer".to_vec()]);
    // DEALER → REP: the dealer adds the delimiter itself; REP keeps extra envelope frames.
    let mut rep = socket(&ctx, SocketType::Rep);
    let ep2 = bind_tcp(&mut rep);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    connect(&mut dealer, &ep2);
    dealer
        .send_multipart(&[&b"hop"[..], b"", b"body"], 0)
        .unwrap();
    assert_eq!(recv_parts(&mut rep, "at rep"), vec![b"body".to_vec()]);
    rep.send(b"back", 0).unwrap();
    assert_eq!(
        recv_parts(&mut dealer, "at dealer"),
        vec![b"hop".to_vec(), Vec::new(), b"back".to_vec()]
    );
    // A message without a delimiter is dropped by REP, the next good one is served.
    dealer.send(b"no delimiter", 0).unwrap();
    dealer.send_multipart(&[&b""[..], b"good"], 0).unwrap();
    assert_eq!(recv_parts(&mut rep, "good"), vec![b"good".to_vec()]);
    rep.send(b"ok", SNDMORE).unwrap();
    rep.send(b"!", 0).unwrap();
    assert_eq!(
        recv_parts(&mut dealer, "multipart reply"),
        vec![Vec::new(), b"ok".to_vec(), b"!".to_vec()]
    );
});

both_backends!(rep_serves_many_reqs, |backend| {
    let ctx = ctx(backend);
    let mut rep = socket(&ctx, SocketType::Rep);
    let ep = bind_tcp(&mut rep);
    let mut reqs: Vec<Socket> = (0..5)
        .map(|_| {
            let mut r = socket(&ctx, SocketType::Req);
            connect(&mut r, &ep);
            r
        })
        .collect();
    for (k, r) in reqs.iter_mut().enumerate() {
        r.send(&[k as u8], 0).unwrap();
    }
    for _ in 0..5 {
        let m = recv_parts(&mut rep, "request");
        rep.send(&[m[0][0] + 100], 0).unwrap();
    }
    for (k, r) in reqs.iter_mut().enumerate() {
        assert_eq!(
            recv_parts(r, "reply"),
            vec![vec![k as u8 + 100]],
            "reply to client {k}"
        );
    }
});

both_backends!(req_relaxed_and_correlate, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let mut req = socket(&ctx, SocketType::Req);
    set_opt(&mut req, SocketOption::RoutingId(b"r".to_vec()));
    set_opt(&mut req, SocketOption::ReqRelaxed(true));
    set_opt(&mut req, SocketOption::ReqCorrelate(true));
    connect(&mut req, &ep);
    req.send(b"first", 0).unwrap();
    let first = recv_parts(&mut router, "first");
    assert_eq!(first.len(), 4, "[id][request id][empty][body]: {first:?}");
    assert_eq!(first[1].len(), 4);
    assert!(first[2].is_empty());
    // Relaxed: a second request without waiting; the reply to the first is then stale.
    req.send(b"second", 0).unwrap();
    let second = recv_parts(&mut router, "second");
    assert_ne!(first[1], second[1], "request ids differ");
    router
        .send_multipart(&[&b"r"[..], &first[1], b"", b"stale"], 0)
        .unwrap();
    router
        .send_multipart(&[&b"r"[..], &second[1], b"", b"fresh"], 0)
        .unwrap();
    assert_eq!(recv_parts(&mut req, "correlated"), vec![b"fresh".to_vec()]);
});

fn pyzmq_rep_case(backend: Backend, rl_binds: bool) {
    const N: usize = 100;
    let ctx = ctx(backend);
    let mut req = socket(&ctx, SocketType::Req);
    let (peer, _a) = link_peer(
        &mut req,
        Transport::Tcp,
        rl_binds,
        "REP",
        &[],
        &["echo", "100"],
    );
    for i in 0..N {
        let msg = test_message(i, N);
        req.send_multipart(&msg, 0).expect("request");
        assert_parts_eq(&recv_parts(&mut req, "echo"), &msg, "echo");
    }
    peer.finish();
    let mut rep = socket(&ctx, SocketType::Rep);
    let (peer, _b) = link_peer(
        &mut rep,
        Transport::Tcp,
        rl_binds,
        "REQ",
        &[],
        &["ping", "100"],
    );
    for _ in 0..N {
        let m = recv_parts(&mut rep, "request from pyzmq");
        rep.send_multipart(&m, 0).expect("reply");
    }
    peer.finish();
}

both_backends!(pyzmq_req_rep_rl_binds, |backend| pyzmq_rep_case(
    backend, true
));
both_backends!(pyzmq_req_rep_rl_connects, |backend| pyzmq_rep_case(
    backend, false
));

both_backends!(events_follow_the_alternation, |backend| {
    let ctx = ctx(backend);
    let mut rep = socket(&ctx, SocketType::Rep);
    let ep = bind_tcp(&mut rep);
    let mut a = socket(&ctx, SocketType::Req);
    connect(&mut a, &ep);
    let mut b = socket(&ctx, SocketType::Req);
    connect(&mut b, &ep);
    // A REQ with no request outstanding has nothing to receive.
    assert!(!a.events().unwrap().contains(ringlink::POLLIN));
    a.send(b"1", 0).unwrap();
    b.send(b"2", 0).unwrap();
    let first = recv_parts(&mut rep, "first request");
    // The second request is queued, but a REP that owes a reply cannot receive (libzmq).
    poll_until(
        std::time::Duration::from_secs(20),
        "2nd request queued",
        || (rep.peers().iter().map(|p| p.msgs_received).sum::<u64>() == 2).then_some(()),
    );
    assert_eq!(rep.events().unwrap(), ringlink::POLLOUT);
    rep.send(&first[0], 0).unwrap();
    assert_eq!(rep.events().unwrap() & ringlink::POLLIN, ringlink::POLLIN);
    let second = recv_parts(&mut rep, "second request");
    rep.send(&second[0], 0).unwrap();
    // REP fair-queues: either request may have arrived first, but each REQ gets its own echo.
    let mut got = vec![first, second];
    got.sort();
    assert_eq!(got, vec![vec![b"1".to_vec()], vec![b"2".to_vec()]]);
    assert_eq!(recv_parts(&mut a, "reply a"), vec![b"1".to_vec()]);
    assert_eq!(recv_parts(&mut b, "reply b"), vec![b"2".to_vec()]);
});
