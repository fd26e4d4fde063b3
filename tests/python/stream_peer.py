#!/usr/bin/env python3
"""pyzmq (libzmq) STREAM peer for ringlink's STREAM interop tests (raw TCP both ways).

usage: stream_peer.py bind|connect ENDPOINT

bind:    wait for a connection (libzmq's connect notification [id][b""]), collect b"ping" from
         it, answer b"pong", then wait for the disconnect notification [id][b""].
connect: connect, send b"ping" as soon as the connection is up, collect b"pong", then
         close the connection by sending an empty payload.

stdout: "ENDPOINT <endpoint>" once bound/connected, then "OK". Errors: stderr, exit 1.
"""

import sys

try:
    import zmq
except ImportError as exc:
    sys.stderr.write(f"stream_peer.py: cannot import pyzmq ({exc}); pip install pyzmq\n")
    sys.exit(3)


def fail(msg):
    sys.stderr.write(f"stream_peer.py: {msg}\n")
    sys.exit(1)


def recv(s, what):
    try:
        m = s.recv_multipart()
    except zmq.Again:
        fail(f"timed out waiting for {what}")
    if len(m) != 2:
        fail(f"{what}: {len(m)} frames {m!r}")
    return m


def collect(s, peer, want):
    got = b""
    while len(got) < len(want):
        rid, data = recv(s, repr(want))
        if rid != peer:
            fail(f"data from unknown id {rid!r}")
        if data == b"":
            fail(f"peer closed after {got!r}, want {want!r}")
        got += data
    if got != want:
        fail(f"got {got!r}, want {want!r}")


def main():
    mode, ep = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    s = ctx.socket(zmq.STREAM)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.setsockopt(zmq.LINGER, 2000)
    if mode == "bind":
        s.bind(ep)
        ep = s.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        s.connect(ep)
    print(f"ENDPOINT {ep}", flush=True)
    peer, data = recv(s, "connect notification")
    if data != b"":
        fail(f"first message is not a connect notification: {data!r}")
    if mode == "bind":
        collect(s, peer, b"ping")
        s.send_multipart([peer, b"pong"])
        rid, data = recv(s, "disconnect notification")
        if (rid, data) != (peer, b""):
            fail(f"expected the disconnect notification, got {rid!r} {data!r}")
    else:
        s.send_multipart([peer, b"ping"])
        collect(s, peer, b"pong")
        s.send_multipart([peer, b""])
    s.close()
    ctx.term()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
