"""Errors: errno and text, Again, ContextTerminated, EMSGSIZE with the needed size, EBUSY."""

from __future__ import annotations

import errno
import pickle
import threading

import pytest

import ringlink
from conftest import bind_connect


def test_error_attributes():
    e = ringlink.RinglinkError(errno.EINVAL)
    assert e.errno == errno.EINVAL
    assert e.strerror == ringlink.strerror(errno.EINVAL) and "nvalid" in e.strerror
    assert str(e) == e.strerror
    assert isinstance(ringlink.Again(errno.EAGAIN), ringlink.RinglinkError)
    t = ringlink.ContextTerminated(ringlink.ETERM)
    assert "terminat" in str(t).lower() or t.strerror
    m = ringlink.MessageTooLarge(100)
    assert m.errno == errno.EMSGSIZE and m.needed == 100
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.needed == 100 and m2.errno == errno.EMSGSIZE
    assert ringlink.ZMQError is ringlink.RinglinkError


def test_again_dontwait(ctx):
    s = ctx.socket(ringlink.PULL)
    s.bind("tcp://127.0.0.1:*")
    with pytest.raises(ringlink.Again) as e:
        s.recv(ringlink.DONTWAIT)
    assert e.value.errno == errno.EAGAIN
    with pytest.raises(ringlink.Again):
        s.recv_multipart(flags=ringlink.DONTWAIT)
    with pytest.raises(ringlink.Again):
        s.recv_into(bytearray(4), flags=ringlink.DONTWAIT)


def test_closed_socket_enotsock(ctx):
    s = ctx.socket(ringlink.PAIR)
    s.close()
    for call in (lambda: s.send(b"x"), lambda: s.recv(), lambda: s.bind("tcp://127.0.0.1:*"),
                 lambda: s.getsockopt(ringlink.LINGER), lambda: s.send_repeat(b"x", 2),
                 lambda: s.recv_many(), lambda: s.poll(0)):
        with pytest.raises(ringlink.RinglinkError) as e:
            call()
        assert e.value.errno == errno.ENOTSOCK


def test_bad_endpoints(ctx):
    s = ctx.socket(ringlink.PAIR)
    with pytest.raises(ringlink.RinglinkError) as e:
        s.bind("nonsense")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ringlink.RinglinkError) as e:
        s.connect("udp://127.0.0.1:5")
    assert e.value.errno == errno.EPROTONOSUPPORT
    s.bind("tcp://127.0.0.1:*")
    s2 = ctx.socket(ringlink.PAIR)
    with pytest.raises(ringlink.RinglinkError) as e:
        s2.bind(s.last_endpoint)
    assert e.value.errno == errno.EADDRINUSE
    with pytest.raises(ringlink.RinglinkError) as e:
        s2.unbind("tcp://127.0.0.1:1")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(TypeError):
        s2.bind(12)


def test_context_terminated_unblocks_recv():
    c = ringlink.Context()
    s = c.socket(ringlink.PULL)
    s.bind("tcp://127.0.0.1:*")
    caught = []
    entered = threading.Event()

    def worker():
        entered.set()
        try:
            s.recv()
        except ringlink.ContextTerminated as e:
            caught.append(e)
        finally:
            s.close()

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(10)
    c.shutdown()
    t.join(10)
    assert not t.is_alive()
    assert caught and caught[0].errno == ringlink.ETERM
    c.term()


def test_ebusy_from_second_thread(ctx):
    s = ctx.socket(ringlink.PULL, rcvtimeo=-1)
    s.bind("tcp://127.0.0.1:*")
    push = ctx.socket(ringlink.PUSH)
    push.connect(s.last_endpoint)
    result = []
    t = threading.Thread(target=lambda: result.append(s.recv()))
    t.start()
    # Wait until the worker is inside the blocking call: then every call from here is EBUSY.
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            s.getsockopt(ringlink.LINGER)
        except ringlink.RinglinkError as e:
            assert e.errno == errno.EBUSY
            break
    else:
        raise AssertionError("the worker never blocked")
    with pytest.raises(ringlink.RinglinkError) as e:
        s.close()
    assert e.value.errno == errno.EBUSY
    push.send(b"release")
    t.join(10)
    assert result == [b"release"]


def test_message_too_large_keeps_message(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send(b"x" * 1000)
    lens = __import__("array").array("Q", [0] * 4)
    with pytest.raises(ringlink.MessageTooLarge) as e:
        a.recv_many_into(bytearray(100), lens)
    assert e.value.needed == 1000 and e.value.errno == errno.EMSGSIZE
    assert isinstance(e.value, ringlink.RinglinkError)
    assert a.recv() == b"x" * 1000  # still queued
