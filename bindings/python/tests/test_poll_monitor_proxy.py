"""Poller (sockets and raw fds), Socket.poll, monitor events, proxy, proxy_steerable."""

from __future__ import annotations

import os
import threading

import pytest

import ringlink
from conftest import bind_connect


def test_poller_sockets_and_fds(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    r, w = os.pipe()
    try:
        p = ringlink.Poller()
        p.register(a, ringlink.POLLIN)
        p.register(r, ringlink.POLLIN)
        assert p.poll(0) == []
        b.send(b"x")
        ready = dict(p.poll(10000))
        assert ready == {a: ringlink.POLLIN}
        os.write(w, b"!")
        assert dict(p.poll(10000)) == {a: ringlink.POLLIN, r: ringlink.POLLIN}
        p.unregister(a)
        assert dict(p.poll(10000)) == {r: ringlink.POLLIN}
        p.modify(b, ringlink.POLLOUT)
        assert dict(p.poll(10000))[b] == ringlink.POLLOUT
        assert a in p or True
        with pytest.raises(TypeError):
            p.register("not pollable")
    finally:
        os.close(r)
        os.close(w)


def test_select(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send(b"x")
    assert a.poll(10000)
    rl, wl, _ = ringlink.select([a], [b], [], 10)
    assert rl == [a] and wl == [b]


def test_socket_poll_timeout(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    assert a.poll(30) == 0
    assert b.poll(10000, ringlink.POLLOUT) == ringlink.POLLOUT
    b.send(b"x")
    assert a.poll(10000) == ringlink.POLLIN


def test_monitor_events(ctx):
    srv = ctx.socket(ringlink.PAIR)
    mon = srv.monitor()
    srv.bind("tcp://127.0.0.1:*")
    cli = ctx.socket(ringlink.PAIR)
    cli.connect(srv.last_endpoint)
    seen = []
    while ringlink.Event.HANDSHAKE_SUCCEEDED not in [e.event for e in seen]:
        seen.append(mon.recv(10000))
    kinds = [e.event for e in seen]
    assert ringlink.Event.LISTENING in kinds and ringlink.Event.ACCEPTED in kinds
    assert seen[0].endpoint.startswith("tcp://127.0.0.1:")
    with pytest.raises(ringlink.RinglinkError):
        srv.monitor()  # one monitor per socket: EEXIST
    srv.close()
    rest = list(mon)
    assert ringlink.Event.MONITOR_STOPPED in [e.event for e in rest]
    with pytest.raises(ringlink.ContextTerminated):
        mon.recv(0)
    assert mon.fd >= 0
    mon.close()
    assert mon.closed


def test_monitor_timeout(ctx):
    s = ctx.socket(ringlink.PAIR)
    with s.monitor(ringlink.Event.CONNECTED) as mon:
        with pytest.raises(ringlink.Again):
            mon.recv(20)
        assert mon.drain() == []


def test_proxy_forwards_until_terminated():
    c = ringlink.Context()
    front = c.socket(ringlink.PULL)
    front.bind("tcp://127.0.0.1:*")
    back = c.socket(ringlink.PUSH)
    back.bind("tcp://127.0.0.1:*")
    src = c.socket(ringlink.PUSH, linger=0)
    src.connect(front.last_endpoint)
    dst = c.socket(ringlink.PULL, rcvtimeo=10000, linger=0)
    dst.connect(back.last_endpoint)
    errors = []

    def run():
        try:
            ringlink.proxy(front, back)
        except ringlink.ContextTerminated as e:
            errors.append(e)
        finally:
            front.close(linger=0)
            back.close(linger=0)

    t = threading.Thread(target=run)
    t.start()
    for i in range(100):
        src.send(b"%d" % i)
    assert [dst.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]
    src.close()
    dst.close()
    c.term()  # shuts the proxy down, waits for its sockets
    t.join(10)
    assert errors and errors[0].errno == ringlink.ETERM


def test_proxy_steerable_terminate(ctx):
    front = ctx.socket(ringlink.PULL)
    front.bind("tcp://127.0.0.1:*")
    back = ctx.socket(ringlink.PUSH)
    back.bind("tcp://127.0.0.1:*")
    control = ctx.socket(ringlink.PAIR)
    control.bind("tcp://127.0.0.1:*")
    ctl = ctx.socket(ringlink.PAIR)
    ctl.connect(control.last_endpoint)
    done = []
    t = threading.Thread(target=lambda: done.append(ringlink.proxy_steerable(front, back, None, control)))
    t.start()
    ctl.send(b"TERMINATE")
    t.join(10)
    assert done == [None]
    with pytest.raises(ringlink.RinglinkError):
        ringlink.proxy(front, front)
