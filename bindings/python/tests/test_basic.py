"""Socket types, message shapes, Frame, typed helpers, context lifecycle."""

from __future__ import annotations

import gc
import socket as pysocket
import threading

import pytest

import ringlink
from conftest import bind_connect, wait_subscribed


def test_version_and_constants():
    assert ringlink.library_version()[0] == ringlink._ringlink.VERSION_MAJOR
    assert ringlink.PAIR == ringlink.SocketType.PAIR == 0
    assert ringlink.STREAM == 11
    assert ringlink.DONTWAIT == ringlink.Flag.DONTWAIT == 1
    assert ringlink.SNDMORE == 2
    assert ringlink.POLLIN == 1 and ringlink.POLLOUT == 2
    assert ringlink.LINGER == ringlink.SocketOption.LINGER == 17
    assert ringlink.EVENT_HANDSHAKE_SUCCEEDED == ringlink.Event.HANDSHAKE_SUCCEEDED == 4096
    assert isinstance(ringlink.SocketType.ROUTER, int)


@pytest.mark.parametrize("stype", list(ringlink.SocketType))
def test_every_socket_type_opens(ctx, stype):
    s = ctx.socket(stype)
    assert s.type == stype
    assert s.getsockopt(ringlink.TYPE) == stype
    assert not s.closed
    s.close()
    assert s.closed


def test_pair_bytes_and_buffers(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send(b"hello")
    assert a.recv() == b"hello"
    b.send(bytearray(b"ba"))
    b.send(memoryview(b"xmvx")[1:3])
    b.send(ringlink.Frame(b"frame"))
    b.send(b"")
    assert a.recv() == b"ba"
    assert a.recv() == b"mv"
    assert a.recv() == b"frame"
    assert a.recv() == b""
    with pytest.raises(TypeError):
        b.send("str is not bytes")
    big = bytes(range(256)) * 4096
    a.send(big)
    assert b.recv() == big


def test_frame_copy_false(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send_multipart([b"one", b"two"])
    f1 = a.recv(copy=False)
    f2 = a.recv(copy=False)
    assert isinstance(f1, ringlink.Frame)
    assert f1.bytes == b"one" and f1.more is True
    assert bytes(f2) == b"two" and f2.more is False
    assert f2.buffer.tobytes() == b"two" and f2.buffer.readonly
    assert len(f1) == 3 and f1 == b"one"
    parts = (b.send_multipart([b"x", b"y"]), a.recv_multipart(copy=False))[1]
    assert [p.bytes for p in parts] == [b"x", b"y"]
    assert [p.more for p in parts] == [True, False]


def test_recv_into(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    buf = bytearray(8)
    b.send(b"abc")
    assert a.recv_into(buf) == 3
    assert buf[:3] == b"abc"
    b.send(b"0123456789")
    assert a.recv_into(buf) == 10  # full size reported, truncated to the buffer
    assert buf == b"01234567"
    b.send(b"zzzz")
    assert a.recv_into(buf, nbytes=2) == 4
    assert buf[:2] == b"zz"
    with pytest.raises(BufferError):
        a.recv_into(b"readonly")


def test_multipart_and_rcvmore(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send_multipart([b"a", bytearray(b"b"), memoryview(b"c")])
    assert a.recv_multipart() == [b"a", b"b", b"c"]
    b.send(b"x", ringlink.SNDMORE)
    b.send(b"y")
    assert a.recv() == b"x"
    assert a.rcvmore == 1
    assert a.recv() == b"y"
    assert a.rcvmore == 0
    with pytest.raises(ValueError):
        b.send_multipart([])
    with pytest.raises(TypeError):
        b.send_multipart([b"ok", 5])


def test_string_json_pyobj(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send_string("héllo")
    assert a.recv_string() == "héllo"
    b.send_json({"k": [1, 2]})
    assert a.recv_json() == {"k": [1, 2]}
    b.send_pyobj({1, 2})
    assert a.recv_pyobj() == {1, 2}


def test_push_pull(ctx):
    pull, push, _ = bind_connect(ctx, ringlink.PULL, ringlink.PUSH)
    for i in range(100):
        push.send(b"%d" % i)
    assert [pull.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]


def test_req_rep(ctx):
    rep, req, _ = bind_connect(ctx, ringlink.REP, ringlink.REQ)
    for i in range(3):
        req.send(b"ping%d" % i)
        assert rep.recv() == b"ping%d" % i
        rep.send(b"pong%d" % i)
        assert req.recv() == b"pong%d" % i
    with pytest.raises(ringlink.RinglinkError) as e:
        rep.send(b"no request pending")
    assert e.value.errno == ringlink.Errno.EFSM


def test_pub_sub_topics(ctx):
    sub, pub, _ = bind_connect(ctx, ringlink.SUB, ringlink.PUB)
    sub.subscribe(b"a")
    wait_subscribed(pub, sub, b"a")
    pub.send(b"b-not-for-you")
    pub.send(b"a-for-you")
    assert sub.recv() == b"a-for-you"
    sub.unsubscribe("a")
    sub.subscribe("c")
    wait_subscribed(pub, sub, b"c")
    pub.send(b"a-dropped")
    pub.send(b"c-kept")
    assert sub.recv() == b"c-kept"


def test_xpub_xsub(ctx):
    xpub, xsub, _ = bind_connect(ctx, ringlink.XPUB, ringlink.XSUB)
    xsub.send(b"\x01topic")  # subscription message
    assert xpub.recv() == b"\x01topic"
    xpub.send(b"topic data")
    assert xsub.recv() == b"topic data"


def test_dealer_router(ctx):
    router, dealer, _ = bind_connect(ctx, ringlink.ROUTER, ringlink.DEALER, conn_opts={"routing_id": b"D1"})
    dealer.send(b"hi")
    rid, msg = router.recv_multipart()
    assert (rid, msg) == (b"D1", b"hi")
    router.send_multipart([rid, b"back"])
    assert dealer.recv() == b"back"


def test_router_router_mandatory(ctx):
    rx, tx, _ = bind_connect(ctx, ringlink.ROUTER, ringlink.ROUTER, bind_opts={"routing_id": b"RX"},
                             conn_opts={"routing_id": b"TX", "router_mandatory": 1})
    with pytest.raises(ringlink.RinglinkError) as e:
        tx.send_multipart([b"nobody", b"x"])
    assert e.value.errno == ringlink.Errno.EHOSTUNREACH
    mon_ok = False
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # unroutable until the handshake is done: probe
        try:
            tx.send_multipart([b"RX", b"hello"], ringlink.DONTWAIT)
            mon_ok = True
            break
        except ringlink.RinglinkError as err:
            assert err.errno in (ringlink.Errno.EHOSTUNREACH, ringlink.Errno.EAGAIN)
            rx.poll(10)
    assert mon_ok
    assert rx.recv_multipart() == [b"TX", b"hello"]


def test_stream_raw_with_plain_tcp(ctx):
    s = ctx.socket(ringlink.STREAM)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    c = pysocket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        rid, note = s.recv_multipart()  # connect notification
        assert note == b""
        c.sendall(b"raw bytes")
        got = b""
        while len(got) < 9:
            r, data = s.recv_multipart()
            assert r == rid
            got += data
        assert got == b"raw bytes"
        s.send_multipart([rid, b"reply"])
        assert c.recv(5) == b"reply"
    finally:
        c.close()


def test_context_manager_and_destroy():
    with ringlink.Context() as c:
        s = c.socket(ringlink.PAIR)
        s.bind("tcp://127.0.0.1:*")
    assert c.closed
    assert s.closed  # destroy() closed it


def test_context_instance():
    a = ringlink.Context.instance()
    assert ringlink.Context.instance() is a
    a.term()
    b = ringlink.Context.instance()
    assert b is not a and not b.closed


def test_socket_context_manager(ctx):
    with ctx.socket(ringlink.PAIR) as s:
        assert not s.closed
    assert s.closed
    s.close()  # idempotent


def test_term_waits_for_socket_closed_in_other_thread():
    c = ringlink.Context()
    s = c.socket(ringlink.PULL)
    s.bind("tcp://127.0.0.1:*")
    closed = threading.Event()
    errors = []

    def worker():
        try:
            s.recv()
        except ringlink.ContextTerminated:
            s.close()
            closed.set()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    c.term()  # blocks until the worker closed its socket
    t.join(10)
    assert closed.is_set() and not errors
    assert c.closed


def test_destroy_with_socket_blocked_in_other_thread():
    c = ringlink.Context()
    s = c.socket(ringlink.PULL)
    s.bind("tcp://127.0.0.1:*")
    started = threading.Event()
    result = []

    def worker():
        started.set()
        try:
            s.recv()
        except ringlink.ContextTerminated as e:
            result.append(e)
            s.close()

    t = threading.Thread(target=worker)
    t.start()
    started.wait(10)
    # The worker may not be inside recv yet; destroy copes either way (close now, or
    # shutdown + term waiting for the worker to close its socket).
    c.destroy(linger=0)
    t.join(10)
    assert not t.is_alive()
    assert c.closed


def test_socket_gc_closes_handle():
    c = ringlink.Context()
    s = c.socket(ringlink.PAIR)
    s.bind("tcp://127.0.0.1:*")
    del s
    gc.collect()
    c.term()  # would block forever if the socket stayed open
    assert c.closed


def test_socket_after_term_raises():
    c = ringlink.Context()
    c.term()
    with pytest.raises(ringlink.RinglinkError) as e:
        c.socket(ringlink.PAIR)
    assert e.value.errno == ringlink.Errno.ETERM


def test_subclassing_socket(ctx):
    class MySocket(ringlink.Socket):
        def send_upper(self, s: str) -> None:
            self.send(s.upper().encode())

    a = ctx.socket(ringlink.PAIR, socket_class=MySocket)
    a.bind("tcp://127.0.0.1:*")
    b = ctx.socket(ringlink.PAIR)
    b.connect(a.last_endpoint)
    assert isinstance(a, MySocket)
    a.send_upper("hi")
    assert b.recv() == b"HI"
