"""Socket options: every family (int, int64, bytes, string, read-only, write-only)."""

from __future__ import annotations

import time

import pytest

import ringlink
from conftest import bind_connect

INT_OPTIONS = [
    ("linger", 0), ("linger", 250), ("sndhwm", 7), ("rcvhwm", 9), ("rcvtimeo", 123),
    ("sndtimeo", 456), ("reconnect_ivl", 50), ("reconnect_ivl_max", 500), ("backlog", 17),
    ("sndbuf", 65536), ("rcvbuf", 65536), ("immediate", 1), ("ipv6", 1), ("handshake_ivl", 1000),
    ("heartbeat_ivl", 100), ("heartbeat_ttl", 1000), ("heartbeat_timeout", 300),
]


@pytest.mark.parametrize("name,value", INT_OPTIONS)
def test_int_option_roundtrip(ctx, name, value):
    s = ctx.socket(ringlink.DEALER)
    setattr(s, name, value)
    assert getattr(s, name) == value
    opt = ringlink.SocketOption[name.upper()]
    s.setsockopt(opt, value)
    assert s.getsockopt(opt) == value
    s.set(opt, value)
    assert s.get(opt) == value


@pytest.mark.parametrize(
    "stype,name,value",
    [
        (ringlink.ROUTER, "router_mandatory", 1), (ringlink.ROUTER, "router_handover", 1),
        (ringlink.ROUTER, "probe_router", 1), (ringlink.REQ, "req_correlate", 1),
        (ringlink.REQ, "req_relaxed", 1), (ringlink.PULL, "conflate", 1),
        (ringlink.XPUB, "xpub_verbose", 1), (ringlink.XPUB, "xpub_verboser", 1),
        (ringlink.XPUB, "xpub_nodrop", 1), (ringlink.XPUB, "xpub_manual", 1),
        (ringlink.SUB, "invert_matching", 1), (ringlink.STREAM, "stream_notify", 0),
        (ringlink.STREAM, "stream_framing", ringlink.STREAM_FRAMING_LENGTH_PREFIXED),
    ],
)
def test_type_specific_options(ctx, stype, name, value):
    s = ctx.socket(stype)
    setattr(s, name, value)
    assert getattr(s, name) == value


def test_int64_option(ctx):
    s = ctx.socket(ringlink.PAIR)
    s.maxmsgsize = 1 << 40
    assert s.maxmsgsize == 1 << 40
    s.maxmsgsize = -1
    assert s.maxmsgsize == -1


def test_bytes_options(ctx):
    s = ctx.socket(ringlink.DEALER)
    s.routing_id = b"abc"
    assert s.routing_id == b"abc"
    s.identity = "xyz"  # str is encoded
    assert s.identity == b"xyz"
    x = ctx.socket(ringlink.XPUB)
    x.xpub_welcome_msg = b"welcome"
    assert x.xpub_welcome_msg == b"welcome"


def test_string_option_last_endpoint(ctx):
    s = ctx.socket(ringlink.PAIR)
    assert s.last_endpoint == b""
    s.bind("tcp://127.0.0.1:*")
    ep = s.last_endpoint
    assert ep.startswith(b"tcp://127.0.0.1:") and not ep.endswith(b"\0")
    assert s.getsockopt_string(ringlink.LAST_ENDPOINT) == ep.decode()


def test_read_only_and_write_only(ctx):
    s = ctx.socket(ringlink.SUB)
    with pytest.raises(AttributeError):
        s.type = 3
    with pytest.raises(AttributeError):
        s.last_endpoint = b"x"
    with pytest.raises(ringlink.RinglinkError) as e:
        s.getsockopt(ringlink.SUBSCRIBE)
    assert e.value.errno == ringlink.Errno.EINVAL
    with pytest.raises(ringlink.RinglinkError):
        s.setsockopt(ringlink.TYPE, 1)


def test_invalid_values(ctx):
    s = ctx.socket(ringlink.PAIR)
    with pytest.raises(ringlink.RinglinkError) as e:
        s.linger = -5
    assert e.value.errno == ringlink.Errno.EINVAL
    with pytest.raises(ringlink.RinglinkError):
        s.setsockopt(99999, 1)
    with pytest.raises(ringlink.RinglinkError):
        s.routing_id = b"\x00starts-with-zero"
    with pytest.raises(TypeError):
        s.linger = "soon"


def test_hwm_property(ctx):
    s = ctx.socket(ringlink.PAIR)
    s.hwm = 42
    assert s.sndhwm == 42 and s.rcvhwm == 42 and s.hwm == 42


def test_socket_kwargs_and_context_defaults(ctx):
    ctx.setsockopt(ringlink.LINGER, 77)
    s = ctx.socket(ringlink.PAIR, sndhwm=5)
    assert s.linger == 77 and s.sndhwm == 5
    with pytest.raises(TypeError):
        ctx.socket(ringlink.PAIR, no_such_option=1)


def test_rcvtimeo_bounds_recv(ctx):
    s = ctx.socket(ringlink.PULL, rcvtimeo=150)
    s.bind("tcp://127.0.0.1:*")
    t0 = time.monotonic()
    with pytest.raises(ringlink.Again):
        s.recv()
    assert 0.14 <= time.monotonic() - t0 < 5
    s.rcvtimeo = 0
    with pytest.raises(ringlink.Again):
        s.recv()


def test_sndtimeo_bounds_send(ctx):
    s = ctx.socket(ringlink.PUSH, sndtimeo=150, sndhwm=1)
    s.connect("tcp://127.0.0.1:9")  # nothing accepts: no pipe has room
    with pytest.raises(ringlink.Again):
        for _ in range(10):
            s.send(b"x")


def test_bind_to_random_port(ctx):
    s = ctx.socket(ringlink.PAIR)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    assert s.last_endpoint.decode().endswith(f":{port}")
    s2 = ctx.socket(ringlink.PAIR)
    port2 = s2.bind_to_random_port("tcp://127.0.0.1", min_port=20000, max_port=60000, max_tries=50)
    assert 20000 <= port2 < 60000
    s3 = ctx.socket(ringlink.PAIR)
    with pytest.raises(ringlink.RinglinkError) as e:
        s3.bind_to_random_port("tcp://127.0.0.1", min_port=port, max_port=port + 1, max_tries=3)
    assert e.value.errno == ringlink.Errno.EADDRINUSE


def test_context_options():
    c = ringlink.Context(io_threads=2)
    try:
        assert c.io_threads == 2
        assert c.get(ringlink.ContextOption.MSG_T_SIZE) == 64
        c.set(ringlink.CTX_IPV6, 1)
        assert c.get(ringlink.CTX_IPV6) == 1
        c.socket(ringlink.PAIR).close()
        with pytest.raises(ringlink.RinglinkError):
            c.set(ringlink.IO_THREADS, 3)  # fixed once the first socket exists
    finally:
        c.term()


def test_events_and_fd(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    assert isinstance(a.fd, int) and a.fd >= 0
    assert a.events & ringlink.POLLIN == 0
    b.send(b"x")
    assert a.poll(10000) == ringlink.POLLIN
    assert a.events & ringlink.POLLIN
