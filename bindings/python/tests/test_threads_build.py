"""GIL release across threads, and the build script's refusals."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import ringlink
from conftest import bind_connect

HERE = Path(__file__).resolve().parent.parent


def test_blocked_recv_does_not_block_other_threads(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    a.rcvtimeo = -1
    out = []
    t = threading.Thread(target=lambda: out.append(a.recv()))
    t.start()
    # CPU work in this thread makes progress while the other thread is blocked in recv.
    t0 = time.monotonic()
    x = 0
    for i in range(200000):
        x += i
    assert time.monotonic() - t0 < 5
    b.send(b"done")
    t.join(10)
    assert out == [b"done"]


def test_many_threads_many_sockets(ctx):
    errors = []

    def worker():
        try:
            a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
            for i in range(200):
                b.send(b"%d" % i)
                assert a.recv() == b"%d" % i
            a.close()
            b.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors


def test_sdist_refused():
    p = subprocess.run([sys.executable, "setup.py", "sdist"], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "sdist" in p.stderr


def test_stubs_and_marker_shipped():
    pkg = Path(ringlink.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_ringlink.pyi").is_file()
