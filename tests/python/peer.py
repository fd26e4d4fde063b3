#!/usr/bin/env python3
"""pyzmq (libzmq) peer for ringlink's interoperability tests.

usage: peer.py [--routing-id ID] [--expect-id ID] [--timeout S]
               PAIR|DEALER|ROUTER|PUSH|PULL|REQ|REP bind|connect ENDPOINT STEP...

Steps run in order on one socket:
  hello       PAIR/DEALER: send [b"hello"]; ROUTER: receive it and learn the peer's id
  send N      send test messages 0..N-1
  recv N      receive N messages and check they are test messages 0..N-1
  echo N      receive N messages and send each back unchanged (ROUTER keeps the envelope)
  ping N      send test message i, expect it back, for i in 0..N-1
  large       receive one LARGE_LEN message, check it, send it back
  large-ping  send one LARGE_LEN message, expect it back

A ROUTER sends to the peer id it learned from the first message it received, and
checks that every later message comes from that id (and equals --expect-id if given).

stdout: "ENDPOINT <endpoint>" once bound/connected (the resolved address when binding),
then "OK" after every step passed and the socket was closed (linger flushed).
Errors go to stderr with a non-zero exit status.

Test messages are shared with tests/src/lib.rs (test_message, pattern): keep them in sync.
"""

import argparse
import functools
import signal
import sys

try:
    import zmq
except ImportError as exc:
    sys.stderr.write(
        f"peer.py: cannot import pyzmq ({exc}); install it: python3 -m pip install pyzmq\n"
    )
    sys.exit(3)

LARGE_LEN = 8 << 20
BIG_PART_LEN = 1 << 20
COUNTED_STEPS = {"send", "recv", "echo", "ping"}
PLAIN_STEPS = {"hello", "large", "large-ping"}


class Mismatch(Exception):
    pass


@functools.lru_cache(maxsize=None)
def pattern(length):
    """Bytes j % 253 for j in 0..length."""
    block = bytes(range(253))
    return (block * (length // 253 + 1))[:length]


def test_message(i, n):
    """Message i of a run of n: multipart, with zero-length frames and one 1 MiB frame."""
    parts = [b"part0-%d" % i, bytes([i % 251]) * (i * 37 % 5000)]
    if i % 5 == 1:
        parts.insert(1, b"")  # zero-length frame in the middle
    if i % 4 == 3:
        parts.append(b"")  # trailing zero-length frame
    if i == n // 2:
        parts.append(pattern(BIG_PART_LEN))
    return parts


def describe(parts):
    return f"{len(parts)} parts, lengths {[len(p) for p in parts]}, first {parts[0][:32]!r}" if parts else "0 parts"


def check(what, got, want):
    if got == want:
        return
    detail = ""
    for k, (g, w) in enumerate(zip(got, want)):
        if g != w:
            off = next((j for j, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
            detail = f"; first difference in part {k} at byte {off}"
            break
    raise Mismatch(f"{what}: got {describe(got)}, want {describe(want)}{detail}")


class Peer:
    def __init__(self, sock, is_router, expect_id):
        self.sock = sock
        self.is_router = is_router
        self.expect_id = expect_id
        self.peer_id = None

    def recv_raw(self, what):
        """Receive one multipart message (with the envelope on ROUTER)."""
        try:
            msg = self.sock.recv_multipart()
        except zmq.Again:
            raise Mismatch(f"timed out waiting for {what}") from None
        if self.is_router:
            if len(msg) < 2:
                raise Mismatch(f"{what}: ROUTER got {describe(msg)}, no body after the routing id")
            rid = msg[0]
            if self.expect_id is not None and rid != self.expect_id:
                raise Mismatch(f"{what}: routing id {rid!r}, want {self.expect_id!r}")
            if self.peer_id is None:
                self.peer_id = rid
                sys.stderr.write(f"peer.py: peer routing id {rid!r}\n")
            elif rid != self.peer_id:
                raise Mismatch(f"{what}: from routing id {rid!r}, want {self.peer_id!r}")
        return msg

    def recv(self, what):
        msg = self.recv_raw(what)
        return msg[1:] if self.is_router else msg

    def send(self, parts):
        if self.is_router:
            if self.peer_id is None:
                raise Mismatch("ROUTER cannot send before it received from the peer (use hello)")
            parts = [self.peer_id] + parts
        self.send_raw(parts)

    def send_raw(self, parts):
        try:
            self.sock.send_multipart(parts)
        except zmq.Again:
            raise Mismatch("timed out sending") from None

    def run(self, step, n):
        if step == "hello":
            if self.is_router:
                check("hello", self.recv("hello"), [b"hello"])
            else:
                self.send([b"hello"])
        elif step == "send":
            for i in range(n):
                self.send(test_message(i, n))
        elif step == "recv":
            for i in range(n):
                check(f"recv message {i}", self.recv(f"message {i}"), test_message(i, n))
        elif step == "echo":
            for i in range(n):
                self.send_raw(self.recv_raw(f"echo message {i}"))
        elif step == "ping":
            for i in range(n):
                self.send(test_message(i, n))
                check(f"ping reply {i}", self.recv(f"ping reply {i}"), test_message(i, n))
        elif step == "large":
            got = self.recv("large message")
            check("large message", got, [pattern(LARGE_LEN)])
            self.send(got)
        elif step == "large-ping":
            self.send([pattern(LARGE_LEN)])
            check("large reply", self.recv("large reply"), [pattern(LARGE_LEN)])


def parse_steps(tokens):
    steps = []
    it = iter(tokens)
    for tok in it:
        if tok in COUNTED_STEPS:
            count = next(it, None)
            if count is None or not count.isdigit():
                raise SystemExit(f"peer.py: step {tok} needs a count")
            steps.append((tok, int(count)))
        elif tok in PLAIN_STEPS:
            steps.append((tok, 0))
        else:
            raise SystemExit(f"peer.py: unknown step {tok!r}")
    if not steps:
        raise SystemExit("peer.py: no steps given")
    return steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routing-id", help="ZMQ_ROUTING_ID to set before bind/connect")
    ap.add_argument("--expect-id", help="ROUTER: the routing id the peer must have")
    ap.add_argument("--timeout", type=float, default=20.0, help="RCVTIMEO/SNDTIMEO in seconds")
    ap.add_argument("type", choices=["PAIR", "DEALER", "ROUTER", "PUSH", "PULL", "REQ", "REP"])
    ap.add_argument("mode", choices=["bind", "connect"])
    ap.add_argument("endpoint")
    ap.add_argument("steps", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    steps = parse_steps(args.steps)

    # Hard cap on the whole run, so a stuck peer can never outlive its test for long.
    signal.signal(signal.SIGALRM, lambda *_: (sys.stderr.write("peer.py: overall time limit hit\n"), sys.exit(4)))
    signal.alarm(int(args.timeout * 3) + 10)

    ms = int(args.timeout * 1000)
    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, args.type))
    sock.setsockopt(zmq.RCVTIMEO, ms)
    sock.setsockopt(zmq.SNDTIMEO, ms)
    sock.setsockopt(zmq.LINGER, ms)  # flush what we sent before exiting, but bounded
    if args.routing_id is not None:
        sock.setsockopt(zmq.ROUTING_ID, args.routing_id.encode())
    if args.type == "ROUTER":
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a misrouted send fails loudly

    if args.mode == "bind":
        sock.bind(args.endpoint)
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        sock.connect(args.endpoint)
        endpoint = args.endpoint
    print(f"ENDPOINT {endpoint}", flush=True)

    peer = Peer(sock, args.type == "ROUTER", None if args.expect_id is None else args.expect_id.encode())
    status = 0
    try:
        for step, n in steps:
            peer.run(step, n)
            sys.stderr.write(f"peer.py: step {step} {n} done\n")
    except (Mismatch, zmq.ZMQError) as exc:
        sys.stderr.write(f"peer.py: {args.type} {args.mode} {endpoint}: FAILED: {exc}\n")
        status = 1
        sock.setsockopt(zmq.LINGER, 0)
    sock.close()
    ctx.term()
    if status == 0:
        print("OK", flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
