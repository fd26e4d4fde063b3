"""Shared fixtures. Every blocking call in the tests is bounded: sockets made through the
`ctx` fixture get RCVTIMEO/SNDTIMEO of 10 s, so a missing message fails with Again instead of
hanging; waits are on events (poll, monitor), never sleeps."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

import ringlink

TIMEOUT_MS = 10000


@pytest.fixture
def ctx():
    c = ringlink.Context()
    c.setsockopt(ringlink.RCVTIMEO, TIMEOUT_MS)
    c.setsockopt(ringlink.SNDTIMEO, TIMEOUT_MS)
    # A socket the test dropped without closing is closed by the garbage collector with its
    # own LINGER: 0 keeps term() from waiting for messages nobody will take (as in libzmq).
    c.setsockopt(ringlink.LINGER, 0)
    yield c
    c.destroy(linger=0)


@pytest.fixture
def ipc_dir():
    with tempfile.TemporaryDirectory(prefix="rlpy-") as d:
        yield d


def endpoint_of(sock) -> str:
    return sock.last_endpoint.decode()


def bind_connect(ctx, t_bind, t_conn, transport="tcp", ipc_dir=None, bind_opts=None, conn_opts=None):
    """A bound and a connected socket; returns (bound, connected, endpoint)."""
    a = ctx.socket(t_bind, **(bind_opts or {}))
    if transport == "tcp":
        a.bind("tcp://127.0.0.1:*")
        ep = endpoint_of(a)
    else:
        ep = f"ipc://{ipc_dir}/{t_bind}-{t_conn}-{os.getpid()}.ipc"
        a.bind(ep)
    b = ctx.socket(t_conn, **(conn_opts or {}))
    b.connect(ep)
    return a, b, ep


def wait_subscribed(pub, sub, topic=b"", timeout_ms=TIMEOUT_MS):
    """Send probes on pub until sub receives one (the subscription reached the publisher),
    then drain the probes. Each wait is a poll on sub, no sleep."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        pub.send(topic + b"__probe__")
        if sub.poll(20):
            break
    else:
        raise AssertionError("subscription never reached the publisher")
    while sub.poll(50):
        msg = sub.recv()
        assert msg.endswith(b"__probe__")


sys.path.insert(0, os.path.dirname(__file__))
