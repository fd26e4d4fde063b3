#!/usr/bin/env python3
"""pyzmq (libzmq) side of ringlink's lifecycle comparisons (tests/tests/embedding.rs, fds.rs).

usage: lifecycle_peer.py MODE ARGS...

  push-linger ENDPOINT  PUSH (LINGER -1) connects to ENDPOINT, where nothing listens yet,
                        sends b"late", closes and terminates the context. Prints SENT, then
                        TERMINATING; ctx.term() blocks until the message is delivered, then
                        TERMINATED and OK.
  late-pull ENDPOINT    PULL binds ENDPOINT (a peer is already trying to connect), receives
                        one message, prints "GOT <text>" and OK.
  fd-rounds N           with RLIMIT_NOFILE lowered to 1024: N rounds of ROUTER bind +
                        DEALER connect + one round trip + close both (default linger); prints
                        "FAILURES <rounds that failed with EMFILE>" "FDS <open fds before>
                        <after>" and OK.
  eintr                 a SIGALRM handler (raising) interrupts a blocking recv; prints
                        "INTERRUPTED <seconds>" and OK.
  pull-seq ENDPOINT FILE LAST
                        PULL binds ENDPOINT and receives 8-byte little-endian sequence
                        numbers until LAST; appends each to FILE with one unbuffered write
                        (so the record survives a SIGKILL); prints "AT <n>" every 1000
                        messages and OK after LAST.

Errors go to stderr with a non-zero exit status.
"""

import os
import resource
import signal
import sys
import time

try:
    import zmq
except ImportError as exc:
    sys.stderr.write(f"cannot import pyzmq ({exc}); install it: python3 -m pip install pyzmq\n")
    sys.exit(3)

TIMEOUT_MS = 20_000


def push_linger(endpoint):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, -1)
    s.connect(endpoint)
    s.send(b"late")
    print("SENT", flush=True)
    s.close()
    print("TERMINATING", flush=True)
    ctx.term()
    print("TERMINATED", flush=True)


def late_pull(endpoint):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.bind(endpoint)
    msg = s.recv()
    print("GOT", msg.decode(), flush=True)
    s.close(0)
    ctx.term()


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def fd_rounds(n):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    ctx = zmq.Context()
    before = fd_count()
    failures = 0
    for _ in range(n):
        try:
            r = ctx.socket(zmq.ROUTER)
            d = ctx.socket(zmq.DEALER)
            for s in (r, d):
                s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
            r.bind("tcp://127.0.0.1:*")
            d.connect(r.getsockopt(zmq.LAST_ENDPOINT).decode())
            d.send(b"x")
            rid, _ = r.recv_multipart()
            r.send_multipart([rid, b"y"])
            d.recv()
            r.close()
            d.close()
        except zmq.ZMQError as e:
            if e.errno != zmq.EMFILE:
                raise
            failures += 1
    after = fd_count()
    print("FAILURES", failures, flush=True)
    print("FDS", before, after, flush=True)
    ctx.term()


class Interrupted(Exception):
    pass


def eintr():
    def handler(_sig, _frame):
        raise Interrupted()

    signal.signal(signal.SIGALRM, handler)
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.bind("tcp://127.0.0.1:*")
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        s.recv()
        sys.exit("recv returned without a message")
    except Interrupted:
        print("INTERRUPTED", round(time.monotonic() - start, 3), flush=True)
    s.close(0)
    ctx.term()


def pull_seq(endpoint, path, last):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.bind(endpoint)
    print("BOUND", flush=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    n = 0
    while True:
        msg = s.recv()
        os.write(fd, msg[:8])
        n += 1
        if n % 1000 == 0:
            print("AT", n, flush=True)
        if int.from_bytes(msg[:8], "little") == last:
            break
    os.close(fd)
    s.close(0)
    ctx.term()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "push-linger":
        push_linger(args[0])
    elif mode == "late-pull":
        late_pull(args[0])
    elif mode == "fd-rounds":
        fd_rounds(int(args[0]))
    elif mode == "eintr":
        eintr()
    elif mode == "pull-seq":
        pull_seq(args[0], args[1], int(args[2]))
    else:
        sys.exit(f"unknown mode {mode}")
    print("OK", flush=True)


if __name__ == "__main__":
    main()
