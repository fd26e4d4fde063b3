"""The service layer: Registry, Discovery, Receiver, Gateway, service errors and lifetimes
(SpotNode and SpotSub: test_spot.py).

Every endpoint is tcp://127.0.0.1:* read back from the bind; every wait is bounded (10 s) and
waits on an event (discovery, a poll, a receive with a timeout), never on a sleep."""

from __future__ import annotations

import errno
import threading
import time
from array import array

import pytest

import ringlink
from svc_helpers import ANY, T, registry, wait_count



# ------------------------------------------------------------------------------ helpers
def receiver(ctx, reg, rid, service="echo", weight=1):
    r = ringlink.Receiver(ctx, rid, registry=reg.router_endpoint)
    r.bind(ANY)
    r.register(service, weight=weight)
    r.router.rcvtimeo = T
    r.router.sndtimeo = T
    return r


def gateway(ctx, reg, service="echo", providers=1):
    d = ringlink.Discovery(ctx, "gateway", registry=reg.pub_endpoint)
    gw = ringlink.Gateway(ctx, d)
    deadline_n = d.wait_available(service, T)
    while deadline_n < providers:  # each wait returns when the count changes
        deadline_n = wait_count(d, service, providers)
    gw.wait_connected(service, providers, timeout=T)
    return d, gw


def drain_counts(receivers, total):
    """Receive `total` requests over the receivers' ROUTERs; returns {rid: [payloads]}."""
    poller = ringlink.Poller()
    for r in receivers:
        poller.register(r.router, ringlink.POLLIN)
    got = {r.routing_id: [] for r in receivers}
    n = 0
    while n < total:
        ready = poller.poll(T)
        assert ready, f"received {n} of {total}"
        for sock, _ in ready:
            while True:
                try:
                    gw_id, *parts = sock.recv_multipart(ringlink.DONTWAIT)
                except ringlink.Again:
                    break
                got[sock.getsockopt(ringlink.ROUTING_ID)].append(parts)
                n += 1
    return got



# ------------------------------------------------------------------------------ gateway
def test_registry_endpoints_and_config(ctx):
    reg = ringlink.Registry(ctx, ANY, ANY, start=False)
    with pytest.raises(ringlink.RinglinkError) as e:
        reg.pub_endpoint  # not started
    assert e.value.errno == ringlink.EFSM
    reg.set_id(7)
    reg.set_heartbeat(5000)
    reg.set_broadcast_interval(1000)
    reg.start()
    assert reg.started
    assert reg.pub_endpoint.startswith("tcp://127.0.0.1:") and not reg.pub_endpoint.endswith("*")
    with pytest.raises(ringlink.RinglinkError) as e:
        reg.set_id(8)
    assert e.value.errno == ringlink.EFSM
    with ringlink.Registry(ctx, id=3, heartbeat=2000, peers=[reg.pub_endpoint]) as reg2:
        assert reg2.router_endpoint != reg.router_endpoint
    assert reg2.closed


def test_gateway_round_robin_round_trip(ctx):
    reg = registry(ctx)
    ra, rb = receiver(ctx, reg, b"rx-a"), receiver(ctx, reg, b"rx-b")
    d, gw = gateway(ctx, reg, providers=2)
    provs = sorted(d.providers("echo"), key=lambda p: p[1])
    assert [p[1] for p in provs] == [b"rx-a", b"rx-b"]
    assert all(p[0].startswith("tcp://127.0.0.1:") and p[2] == 1 for p in provs)
    assert d.service_available("echo") and d.provider_count("echo") == 2
    assert gw.connection_count("echo") == 2
    for i in range(20):
        gw.send("echo", [b"req", str(i).encode()])
    got = drain_counts([ra, rb], 20)
    assert len(got[b"rx-a"]) == 10 and len(got[b"rx-b"]) == 10  # counted round-robin
    assert all(p[0] == b"req" for p in got[b"rx-a"] + got[b"rx-b"])
    # Replies: each receiver answers through its ROUTER; the gateway names the service.
    for r in (ra, rb):
        r.router.send_multipart([gw_id_of(r, gw), b"reply", r.routing_id])
    replies = sorted(gw.recv(timeout=T) for _ in range(2))
    assert replies == [("echo", [b"reply", b"rx-a"]), ("echo", [b"reply", b"rx-b"])]


def gw_id_of(r, gw):
    """The gateway's routing id as the receiver sees it: one request, read back."""
    gw.send_rid("echo", r.routing_id, b"who")
    gid, payload = r.router.recv_multipart()
    assert payload == b"who"
    return gid


def test_gateway_weighted(ctx):
    reg = registry(ctx)
    ra, rb = receiver(ctx, reg, b"w-1", weight=1), receiver(ctx, reg, b"w-3", weight=3)
    d, gw = gateway(ctx, reg, providers=2)
    assert sorted(p[2] for p in d.providers("echo")) == [1, 3]
    gw.set_lb("echo", "weighted")
    n = 400
    for _ in range(n):
        gw.send("echo", b"x")
    got = drain_counts([ra, rb], n)
    a, b = len(got[b"w-1"]), len(got[b"w-3"])
    assert a + b == n and 1.5 < b / max(a, 1) < 6, (a, b)
    gw.set_lb("echo", ringlink.LB_ROUND_ROBIN)
    with pytest.raises(ValueError):
        gw.set_lb("echo", "random")


def test_gateway_send_many_const_counted(ctx):
    reg = registry(ctx)
    ra, rb = receiver(ctx, reg, b"m-a"), receiver(ctx, reg, b"m-b")
    _, gw = gateway(ctx, reg, providers=2)
    total = 1000
    assert gw.send_many_const("echo", b"payload", total) == total
    # The receivers drain with the routed batch receive (the existing fast path).
    ids, id_lens = bytearray(255 * 512), array("Q", bytes(8 * 512))
    buf, lens = bytearray(1 << 16), array("Q", bytes(8 * 512))
    counts = {}
    for r in (ra, rb):
        n = 0
        while n < total // 2:
            k = r.router.recv_pair_many_into(ids, id_lens, buf, lens)
            assert all(lens[i] == 7 for i in range(k))
            n += k
        counts[r.routing_id] = n
    assert counts == {b"m-a": 500, b"m-b": 500}
    assert gw.send_many_const("echo", b"p", 0) == 0


def test_gateway_recv_names_service_and_send_rid(ctx):
    reg = registry(ctx)
    ra = receiver(ctx, reg, b"alpha-1", service="alpha")
    rb = receiver(ctx, reg, b"beta-1", service="beta")
    d = ringlink.Discovery(ctx, registry=reg.pub_endpoint)
    gw = ringlink.Gateway(ctx, d, routing_id=b"gw-1")
    for s in ("alpha", "beta"):
        d.wait_available(s, T)
        gw.wait_connected(s, timeout=T)
    gw.send("beta", b"to beta")
    gw.send_rid("alpha", b"alpha-1", [b"to", b"alpha"])
    assert ra.router.recv_multipart() == [b"gw-1", b"to", b"alpha"]
    assert rb.router.recv_multipart() == [b"gw-1", b"to beta"]
    rb.router.send_multipart([b"gw-1", b"from beta"])
    assert gw.recv(timeout=T) == ("beta", [b"from beta"])
    ra.router.send_multipart([b"gw-1", b"from alpha"])
    assert gw.recv() == ("alpha", [b"from alpha"])  # blocking form
    with pytest.raises(ringlink.RinglinkError) as e:
        gw.send_rid("alpha", b"nobody", b"x")
    assert e.value.errno == errno.EHOSTUNREACH
    with pytest.raises(ringlink.Again):
        gw.recv(ringlink.DONTWAIT)
    with pytest.raises(ringlink.Again):
        gw.recv(timeout=30)
    # A large reply (the receive buffer grows) with many parts.
    big = [bytes([i]) * 70000 for i in range(3)] + [b""] * 100
    ra.router.send_multipart([b"gw-1", *big])
    assert gw.recv(timeout=T) == ("alpha", big)


def test_gateway_blocked_recv_does_not_block_send(ctx):
    reg = registry(ctx)
    r = receiver(ctx, reg, b"thr")
    _, gw = gateway(ctx, reg)
    out = []
    started = threading.Event()

    def waiter():
        started.set()
        out.append(gw.recv())  # blocks (GIL released) until the reply

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    assert started.wait(T / 1000)
    for i in range(5):  # sends from this thread while the other is blocked in recv
        gw.send("echo", [b"req", bytes([i])])
    reqs = [r.router.recv_multipart() for _ in range(5)]
    assert [q[2] for q in reqs] == [bytes([i]) for i in range(5)]
    r.router.send_multipart([reqs[0][0], b"done"])
    t.join(T / 1000)
    assert not t.is_alive()
    assert out == [("echo", [b"done"])]


def test_gateway_close_ends_blocked_recv(ctx):
    """A thread blocked in recv() with no timeout (in the C call, in 100 ms slices) sees a
    close() from another thread and raises ENOTSOCK."""
    reg = registry(ctx)
    r = receiver(ctx, reg, b"c")  # noqa: F841 - the provider must stay alive
    _, gw = gateway(ctx, reg)
    errs = []
    started = threading.Event()

    def blocked():
        started.set()
        try:
            gw.recv()
        except ringlink.RinglinkError as e:
            errs.append(e.errno)

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    assert started.wait(T / 1000)
    gw.close()  # before or during the recv: ENOTSOCK either way
    t0 = time.monotonic()
    t.join(T / 1000)
    assert not t.is_alive() and errs == [errno.ENOTSOCK]
    # Within a few 100 ms slices; generous for a loaded 2-core machine (blocked for good
    # without the slices: the join above would time out).
    assert time.monotonic() - t0 < 10


def test_gateway_recv_timeout(ctx):
    """recv(timeout=50) raises Again after about 50 ms, also while another thread blocks in
    recv() with no timeout (which then still gets its reply)."""
    reg = registry(ctx)
    r = receiver(ctx, reg, b"to")
    _, gw = gateway(ctx, reg)
    with pytest.raises(ringlink.Again):
        gw.recv(flags=ringlink.DONTWAIT)
    with pytest.raises(ringlink.Again):
        gw.recv(timeout=0)
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(ringlink.Again):
            gw.recv(timeout=50)
        dt = time.monotonic() - t0
        assert 0.045 <= dt < 10, dt
    out = []
    started = threading.Event()

    def waiter():
        started.set()
        out.append(gw.recv())

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    assert started.wait(T / 1000)
    t0 = time.monotonic()
    with pytest.raises(ringlink.Again):
        gw.recv(timeout=50)
    dt = time.monotonic() - t0
    assert 0.045 <= dt < 10, dt
    gw.send("echo", b"req")
    gid, req = r.router.recv_multipart()
    r.router.send_multipart([gid, b"rep"])
    t.join(T / 1000)
    assert not t.is_alive() and out == [("echo", [b"rep"])]
    # A timeout longer than one slice, met by a reply.
    r.router.send_multipart([gid, b"later"])
    assert gw.recv(timeout=T) == ("echo", [b"later"])


def test_discovery_on_change_and_unregister(ctx):
    reg = ringlink.Registry(ctx, heartbeat=60000)
    d = ringlink.Discovery(ctx, "gateway", registry=[reg.pub_endpoint])
    d.subscribe("svc")
    events = []
    cond = threading.Condition()

    def on_change(name, count):
        with cond:
            events.append((name, count))
            cond.notify_all()

    d.on_change(on_change)
    r = receiver(ctx, reg, b"cb-1", service="svc", weight=2)
    with cond:
        assert cond.wait_for(lambda: ("svc", 1) in events, T / 1000)
    r.update_weight("svc", 5)
    with cond:
        assert cond.wait_for(lambda: d.providers("svc") and d.providers("svc")[0][2] == 5, T / 1000)
    r.unregister("svc")
    with cond:
        assert cond.wait_for(lambda: ("svc", 0) in events, T / 1000)
    assert not d.service_available("svc") and d.providers("svc") == []
    with pytest.raises(ringlink.Again):
        d.wait_available("svc", 20)
    d.on_change(None)
    d.unsubscribe("svc")
    with pytest.raises(ringlink.RinglinkError) as e:
        r.update_weight("nothing", 2)
    assert e.value.errno == errno.ENOENT


def test_receiver_router_is_a_socket_owned_by_the_receiver(ctx):
    reg = registry(ctx)
    r = receiver(ctx, reg, b"own")
    sock = r.router
    assert isinstance(sock, ringlink.Socket) and sock is r.router
    assert sock.socket_type == ringlink.ROUTER and sock.routing_id == b"own"
    with pytest.raises(ringlink.RinglinkError) as e:
        sock.close()
    assert e.value.errno == errno.EINVAL
    r.close()
    assert r.closed and sock.closed
    with pytest.raises(ringlink.RinglinkError) as e:
        sock.recv()
    assert e.value.errno == errno.ENOTSOCK


def test_pyzmq_dealer_talks_to_receiver_router(ctx):
    zmq = pytest.importorskip("zmq")
    reg = registry(ctx)
    r = receiver(ctx, reg, b"zmq-peer")
    ep = r.bind(ANY)
    zc = zmq.Context()
    try:
        dealer = zc.socket(zmq.DEALER)
        dealer.setsockopt(zmq.ROUTING_ID, b"pyzmq-dealer")
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RCVTIMEO, T)
        dealer.connect(ep)
        dealer.send_multipart([b"hello", b"from pyzmq"])
        assert r.router.recv_multipart() == [b"pyzmq-dealer", b"hello", b"from pyzmq"]
        r.router.send_multipart([b"pyzmq-dealer", b"hi", b"from ringlink"])
        assert dealer.recv_multipart() == [b"hi", b"from ringlink"]
        dealer.close()
    finally:
        zc.term()


# ------------------------------------------------------------------------------ SPOT
def test_service_errors(ctx):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    for bad in ("", "x" * 256):
        with pytest.raises(ringlink.RinglinkError) as e:
            n.publish(bad, b"x")
        assert e.value.errno == errno.EINVAL
        with pytest.raises(ringlink.RinglinkError) as e:
            s.subscribe(bad)
        assert e.value.errno == errno.EINVAL
    for bad in ("a*b", "*x", "noprefix"):
        with pytest.raises(ringlink.RinglinkError) as e:
            s.subscribe_pattern(bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(ringlink.RinglinkError) as e:
        n.publish("t", b"x", flags=ringlink.DONTWAIT)
    assert e.value.errno == errno.ENOTSUP
    with pytest.raises(ringlink.RinglinkError) as e:
        n.register("svc")  # no registry given
    assert e.value.errno == errno.ENOTSUP
    with pytest.raises(TypeError):
        n.publish("t", "a str is not bytes")
    with pytest.raises(ValueError):
        n.publish("t", [])
    # Receiver without a registry cannot start.
    r = ringlink.Receiver(ctx)
    with pytest.raises(ringlink.RinglinkError) as e:
        r.bind(ANY)
    assert e.value.errno == errno.EINVAL
    # A gateway service without a provider.
    reg = registry(ctx)
    d = ringlink.Discovery(ctx, registry=reg.pub_endpoint)
    gw = ringlink.Gateway(ctx, d)
    with pytest.raises(ringlink.RinglinkError) as e:
        gw.send("nobody", b"x")
    assert e.value.errno == errno.EHOSTUNREACH
    assert gw.connection_count("nobody") == 0
    with pytest.raises(ValueError):
        ringlink.Discovery(ctx, "nope")
    with pytest.raises(ringlink.RinglinkError):
        ringlink.Gateway(ctx, ringlink.Discovery(ctx, "spot"))  # a SPOT discovery
    # Operations after close: ENOTSOCK; close twice is fine.
    for obj in (s, n, gw, d, r, reg):
        obj.close()
        obj.close()
        assert obj.closed
    for call in (lambda: s.recv(timeout=0), lambda: s.subscribe("t"), lambda: n.publish("t", b"x"),
                 lambda: gw.send("svc", b"x"), lambda: gw.recv(timeout=0), lambda: d.provider_count("x"),
                 lambda: r.router, lambda: reg.pub_endpoint, lambda: n.subscriber()):
        with pytest.raises(ringlink.RinglinkError) as e:
            call()
        assert e.value.errno == errno.ENOTSOCK


def test_subscriber_outlives_node_and_close_from_other_thread(ctx):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    s.subscribe("t")
    n.publish("t", b"queued")
    n.close()
    assert s.recv(timeout=T) == (b"t", [b"queued"])
    # A thread blocked in recv sees the close (its wait is sliced) and raises ENOTSOCK.
    errs = []

    def blocked():
        try:
            s.recv()
        except ringlink.RinglinkError as e:
            errs.append(e.errno)

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    t.join(0.2)
    s.close()
    t.join(T / 1000)
    assert not t.is_alive() and errs == [errno.ENOTSOCK]


def test_context_destroy_closes_services():
    ctx = ringlink.Context()
    reg = registry(ctx)
    r = receiver(ctx, reg, b"d")
    d = ringlink.Discovery(ctx, registry=reg.pub_endpoint)
    gw = ringlink.Gateway(ctx, d)
    node = ringlink.SpotNode(ctx)
    sub = node.subscriber()
    sub.set_handler(lambda t, p: None)
    ctx.destroy()
    assert all(o.closed for o in (reg, r, d, gw, node, sub)) and ctx.closed
    with pytest.raises(ringlink.ContextTerminated):
        ringlink.SpotNode(ctx)
