#!/usr/bin/env python3
"""pyzmq (libzmq) PUB/SUB/XPUB/XSUB peer for ringlink's interoperability tests.

usage: pubsub_peer.py ROLE bind|connect ENDPOINT [--topic T] [--count N]

Roles (messages are two frames [b"<topic>-<i>", payload]; the payload is b"x" * (i % 100)):
  pub   publish topics A and B round-robin until a message arrives on the control PULL
        socket (its endpoint is printed as "CONTROL <ep>"), then exit.
  sub   subscribe to --topic, receive --count messages, check each is [topic-i.., payload]
        from that topic only, with correct payloads.
  xpub  wait for the subscription notification b"\\x01<topic>", print "SUBSCRIBED", send
        --count messages of topic B and of --topic each (B first), then b"<topic>-END";
        then wait for upstream user data b"hello-up" and the unsubscription b"\\x00<topic>".
  xsub  send the subscription b"\\x01<topic>", receive messages until b"<topic>-END" (all must
        be of --topic, at least --count of them), then send user data b"hello-up" and the
        unsubscription b"\\x00<topic>".

stdout: "ENDPOINT <endpoint>" once bound/connected, then "OK" when every check passed.
Errors go to stderr with a non-zero exit status.
"""

import argparse
import sys

try:
    import zmq
except ImportError as exc:
    sys.stderr.write(f"pubsub_peer.py: cannot import pyzmq ({exc}); pip install pyzmq\n")
    sys.exit(3)

TIMEOUT_MS = 20_000


def payload(i):
    return b"x" * (i % 100)


def fail(msg):
    sys.stderr.write(f"pubsub_peer.py: {msg}\n")
    sys.exit(1)


def recv(sock, what):
    try:
        return sock.recv_multipart()
    except zmq.Again:
        fail(f"timed out waiting for {what}")


def check_msg(msg, topic, what):
    if len(msg) != 2:
        fail(f"{what}: {len(msg)} frames, want 2: {msg!r}")
    head, body = msg
    if not head.startswith(topic + b"-"):
        fail(f"{what}: topic {head!r} does not match subscription {topic!r}")
    tail = head[len(topic) + 1:]
    if tail != b"END":
        i = int(tail)
        if body != payload(i):
            fail(f"{what}: payload of {head!r} has {len(body)} bytes, want {i % 100}")
    return head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["pub", "sub", "xpub", "xsub"])
    ap.add_argument("mode", choices=["bind", "connect"])
    ap.add_argument("endpoint")
    ap.add_argument("--topic", default="A")
    ap.add_argument("--count", type=int, default=100)
    a = ap.parse_args()
    topic = a.topic.encode()
    ctx = zmq.Context()
    kind = {"pub": zmq.PUB, "sub": zmq.SUB, "xpub": zmq.XPUB, "xsub": zmq.XSUB}[a.role]
    s = ctx.socket(kind)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.LINGER, 2000)
    if a.role == "sub":
        s.setsockopt(zmq.SUBSCRIBE, topic)
    if a.mode == "bind":
        s.bind(a.endpoint)
        ep = s.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        s.connect(a.endpoint)
        ep = a.endpoint
    print(f"ENDPOINT {ep}", flush=True)

    if a.role == "pub":
        ctl = ctx.socket(zmq.PULL)
        ctl.bind("tcp://127.0.0.1:*")
        print(f"CONTROL {ctl.getsockopt(zmq.LAST_ENDPOINT).decode()}", flush=True)
        i = 0
        while not ctl.poll(0):
            for t in (b"A", b"B"):
                s.send_multipart([b"%s-%d" % (t, i), payload(i)])
            i += 1
            if i % 100 == 0:
                ctl.poll(1)
        ctl.recv()
        ctl.close()
    elif a.role == "sub":
        for k in range(a.count):
            check_msg(recv(s, f"message {k}"), topic, f"message {k}")
    elif a.role == "xpub":
        while True:
            m = recv(s, "subscription")
            if m == [b"\x01" + topic]:
                break
            sys.stderr.write(f"pubsub_peer.py: ignoring {m!r} before the subscription\n")
        print("SUBSCRIBED", flush=True)
        for i in range(a.count):
            s.send_multipart([b"B-%d" % i, payload(i)])
            s.send_multipart([topic + b"-%d" % i, payload(i)])
        s.send_multipart([topic + b"-END", b""])
        got_data = got_unsub = False
        while not (got_data and got_unsub):
            m = recv(s, "upstream data and unsubscription")
            if m == [b"hello-up"]:
                got_data = True
            elif m == [b"\x00" + topic]:
                got_unsub = True
            else:
                fail(f"unexpected upstream message {m!r}")
    else:  # xsub
        s.send(b"\x01" + topic)
        n = 0
        while True:
            head = check_msg(recv(s, f"message {n}"), topic, f"message {n}")
            if head == topic + b"-END":
                break
            n += 1
        if n < a.count:
            fail(f"only {n} messages before END, want {a.count}")
        s.send(b"hello-up")
        s.send(b"\x00" + topic)
    s.close()
    ctx.term()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
