"""Ctrl-C: SIGINT interrupts a blocked recv (and poll, batch receive) with KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import signal, sys, ringlink
from array import array

def on_sigint(signum, frame):  # like Python's default handler, once (the test repeats SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt

signal.signal(signal.SIGINT, on_sigint)
what = sys.argv[1]
ctx = ringlink.Context()
s = ctx.socket(ringlink.PULL, linger=0)
s.bind("tcp://127.0.0.1:*")
extra = []
if what == "gateway_recv":
    # Built before "ready": an interrupt while they are being made would leave an object the
    # cleanup below cannot close, and ctx.term() waits for every object (as zmq_ctx_term).
    extra.append(ringlink.Discovery(ctx))
    extra.append(ringlink.Gateway(ctx, extra[0]))
try:
    print("ready", flush=True)
    if what == "recv":
        s.recv()
    elif what == "recv_multipart":
        s.recv_multipart()
    elif what == "poll":
        s.poll()
    elif what == "recv_many_into":
        s.recv_many_into(bytearray(64), array("Q", [0]))
    elif what == "poller":
        p = ringlink.Poller(); p.register(s, ringlink.POLLIN); p.poll()
    elif what == "gateway_recv":  # blocks in the C call, in slices
        extra[1].recv()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    for o in reversed(extra):
        o.close()
    s.close()
    ctx.term()
    sys.exit(42)
sys.exit(1)
"""


@pytest.mark.parametrize("what", ["recv", "recv_multipart", "poll", "recv_many_into", "poller", "gateway_recv"])
def test_sigint_interrupts_blocking_call(what):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    p = subprocess.Popen([sys.executable, "-c", CHILD, what], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        # A signal that arrives before the thread waits runs the handler but cannot interrupt
        # a wait that starts later (see docs/c-api.md): repeat it until the child reacts.
        deadline = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < deadline:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
        assert p.poll() == 42, "the blocked call did not raise KeyboardInterrupt"
        assert "interrupted" in p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
