#!/usr/bin/env python3
"""pyzmq (libzmq) peer for the hostile-peer suite (tests/tests/hostile.rs): a well-behaved
client that proves a ringlink server is still served before, during and after an attack.

usage: hostile_peer.py ROLE ENDPOINT

Roles (the peer connects to ENDPOINT, except xpub, which binds it):
  dealer      (ringlink ROUTER)     routing id b"py"; round N: send [b"ping-N"], expect [b"pong-N"]
  req         (ringlink REP)        round N: send b"ping-N", expect b"pong-N"
  push        (ringlink PULL)       round N: send b"ping-N"
  sub         (ringlink PUB, XPUB)  subscribes to b"t"; round N: receive until [b"t-N"] arrives
                                    (older rounds' messages are skipped: PUB repeats round 0
                                    until the subscription has reached it)
  xpub        (ringlink SUB)        binds; prints "SUBSCRIBED" once b"\\x01t" arrived; round N:
                                    send [b"t-N"]
  stream-raw  (ringlink STREAM, raw framing)   round N: send the bytes b"ping-N", expect b"pong-N"
  stream-lp   (ringlink STREAM, length-prefixed) the same, each as [u32 BE length][payload]

stdin: one command per line, "round N" or "quit". stdout: "ENDPOINT <ep>" once bound or
connected, "DONE N" after each round, "OK" after quit. Errors: stderr, exit status 1.
"""

import signal
import struct
import sys

try:
    import zmq
except ImportError as exc:
    sys.stderr.write(f"hostile_peer.py: cannot import pyzmq ({exc}); pip install pyzmq\n")
    sys.exit(3)

TIMEOUT_MS = 20_000


def fail(msg):
    sys.stderr.write(f"hostile_peer.py: {msg}\n")
    sys.exit(1)


def recv(sock, what):
    try:
        return sock.recv_multipart()
    except zmq.Again:
        fail(f"timed out waiting for {what}")


class Stream:
    """A libzmq STREAM connection: raw bytes to and from the one ringlink peer."""

    def __init__(self, sock, length_prefixed):
        self.sock = sock
        self.lp = length_prefixed
        self.buf = b""
        # libzmq announces the new connection as [id, b""].
        rid, payload = recv(sock, "the connect notification")
        if payload != b"":
            fail(f"expected the connect notification, got {payload!r}")
        self.rid = rid

    def send(self, payload):
        wire = struct.pack(">I", len(payload)) + payload if self.lp else payload
        self.sock.send_multipart([self.rid, wire])

    def expect(self, payload):
        want = struct.pack(">I", len(payload)) + payload if self.lp else payload
        while len(self.buf) < len(want):
            rid, data = recv(self.sock, f"{payload!r}")
            if rid != self.rid or data == b"":
                fail(f"unexpected STREAM message [{rid!r}, {data!r}] waiting for {payload!r}")
            self.buf += data
        got, self.buf = self.buf[: len(want)], self.buf[len(want):]
        if got != want:
            fail(f"got {got!r}, want {want!r}")


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    role, endpoint = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, lambda *_: fail("overall time limit hit"))
    signal.alarm(120)
    kind = {
        "dealer": zmq.DEALER,
        "req": zmq.REQ,
        "push": zmq.PUSH,
        "sub": zmq.SUB,
        "xpub": zmq.XPUB,
        "stream-raw": zmq.STREAM,
        "stream-lp": zmq.STREAM,
    }.get(role)
    if kind is None:
        fail(f"unknown role {role!r}")
    ctx = zmq.Context()
    s = ctx.socket(kind)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.LINGER, 2000)
    if role == "dealer":
        s.setsockopt(zmq.ROUTING_ID, b"py")
    if role == "sub":
        s.setsockopt(zmq.SUBSCRIBE, b"t")
    if role == "xpub":
        s.bind(endpoint)
        endpoint = s.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        s.connect(endpoint)
    print(f"ENDPOINT {endpoint}", flush=True)

    stream = None
    if role.startswith("stream"):
        stream = Stream(s, role == "stream-lp")
    if role == "xpub":
        while True:
            m = recv(s, "the subscription")
            if m == [b"\x01t"]:
                break
            sys.stderr.write(f"hostile_peer.py: ignoring {m!r} before the subscription\n")
        print("SUBSCRIBED", flush=True)

    for line in sys.stdin:
        cmd = line.split()
        if cmd == ["quit"]:
            break
        if len(cmd) != 2 or cmd[0] != "round":
            fail(f"bad command {line!r}")
        n = cmd[1].encode()
        ping, pong = b"ping-" + n, b"pong-" + n
        if role == "dealer" or role == "req":
            s.send(ping)
            got = recv(s, f"reply {pong!r}")
            if got != [pong]:
                fail(f"reply {got!r}, want [{pong!r}]")
        elif role == "push":
            s.send(ping)
        elif role == "sub":
            want = [b"t-" + n]
            while True:
                got = recv(s, f"{want!r}")
                if got == want:
                    break
                if len(got) != 1 or not got[0].startswith(b"t-") or int(got[0][2:]) >= int(n):
                    fail(f"unexpected message {got!r} waiting for {want!r}")
        elif role == "xpub":
            s.send(b"t-" + n)
        else:
            stream.send(ping)
            stream.expect(pong)
        print(f"DONE {n.decode()}", flush=True)
    s.close()
    ctx.term()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
