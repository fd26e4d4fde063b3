"""Interop with pyzmq (libzmq) over tcp and ipc, both directions."""

from __future__ import annotations

import pytest

import ringlink

zmq = pytest.importorskip("zmq")

pytestmark = pytest.mark.interop


@pytest.fixture
def zctx():
    import warnings

    c = zmq.Context()
    yield c
    with warnings.catch_warnings():  # pyzmq warns about the sockets destroy() closes
        warnings.simplefilter("ignore", ResourceWarning)
        c.destroy(linger=0)


def endpoints(transport, ipc_dir, name):
    return "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{ipc_dir}/{name}.ipc"


def bind(sock, transport, ipc_dir, name):
    ep = endpoints(transport, ipc_dir, name)
    sock.bind(ep)
    last = sock.getsockopt(zmq.LAST_ENDPOINT if hasattr(sock, "copy_threshold") else ringlink.LAST_ENDPOINT)
    return last.decode() if transport == "tcp" else ep


PAIRS = [("PAIR", "PAIR"), ("PULL", "PUSH"), ("REP", "REQ"), ("ROUTER", "DEALER"), ("DEALER", "DEALER")]


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
@pytest.mark.parametrize("rl_binds", [True, False])
@pytest.mark.parametrize("bind_t,conn_t", PAIRS)
def test_roundtrip(ctx, zctx, ipc_dir, transport, rl_binds, bind_t, conn_t):
    if rl_binds:
        b = ctx.socket(getattr(ringlink, bind_t))
        c = zctx.socket(getattr(zmq, conn_t))
    else:
        b = zctx.socket(getattr(zmq, bind_t))
        c = ctx.socket(getattr(ringlink, conn_t))
    for s in (b, c):
        s.setsockopt(ringlink.RCVTIMEO, 10000)
        s.setsockopt(ringlink.LINGER, 0)
    if conn_t == "DEALER":
        c.setsockopt(ringlink.ROUTING_ID, b"peer")
    ep = bind(b, transport, ipc_dir, f"{bind_t}-{conn_t}-{rl_binds}")
    c.connect(ep)
    for i in range(20):
        c.send_multipart([b"req%d" % i, b"x" * i])
        got = b.recv_multipart()
        if bind_t == "ROUTER":
            assert got[0] == b"peer"
            got = got[1:]
        assert got == [b"req%d" % i, b"x" * i]
        if conn_t in ("PUSH",):
            continue
        reply = [b"rep%d" % i, b""]
        b.send_multipart(([b"peer"] if bind_t == "ROUTER" else []) + reply)
        assert c.recv_multipart() == reply


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
@pytest.mark.parametrize("rl_pub", [True, False])
def test_pubsub(ctx, zctx, ipc_dir, transport, rl_pub):
    pub = ctx.socket(ringlink.PUB) if rl_pub else zctx.socket(zmq.PUB)
    sub = zctx.socket(zmq.SUB) if rl_pub else ctx.socket(ringlink.SUB)
    sub.setsockopt(ringlink.SUBSCRIBE, b"t")
    sub.setsockopt(ringlink.RCVTIMEO, 10000)
    for s in (pub, sub):
        s.setsockopt(ringlink.LINGER, 0)
    ep = bind(pub, transport, ipc_dir, f"pub-{rl_pub}")
    sub.connect(ep)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pub.send(b"tprobe")
        if sub.poll(20):
            break
    while sub.poll(50):
        sub.recv()
    pub.send(b"x-not-subscribed")
    pub.send_multipart([b"topic", b"data"])
    assert sub.recv_multipart() == [b"topic", b"data"]


def test_fastpath_against_pyzmq(ctx, zctx):
    z = zctx.socket(zmq.PULL)
    z.setsockopt(zmq.RCVTIMEO, 10000)
    port = z.bind_to_random_port("tcp://127.0.0.1")
    r = ctx.socket(ringlink.PUSH)
    r.connect(f"tcp://127.0.0.1:{port}")
    assert r.send_many([b"a%d" % i for i in range(1000)]) == 1000
    assert [z.recv() for _ in range(1000)] == [b"a%d" % i for i in range(1000)]
    zr = zctx.socket(zmq.DEALER)
    zr.setsockopt(zmq.ROUTING_ID, b"Z")
    rr = ctx.socket(ringlink.ROUTER)
    rport = rr.bind_to_random_port("tcp://127.0.0.1")
    zr.connect(f"tcp://127.0.0.1:{rport}")
    zr.send(b"hi")
    assert rr.recv_multipart() == [b"Z", b"hi"]
    assert rr.send_routed_many_const(b"Z", b"p", 100) == 100
    zr.setsockopt(zmq.RCVTIMEO, 10000)
    assert [zr.recv() for _ in range(100)] == [b"p"] * 100
