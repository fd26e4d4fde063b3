#!/usr/bin/env python3
"""Record what real libzmq peers (through pyzmq) put on the wire, and turn it into fuzz seeds.

For each scenario a raw TCP listener on 127.0.0.1 plays ringlink's side of the handshake
(greeting + READY, and PING / SUBSCRIBE where the scenario needs them) and records every byte
the pyzmq socket sends while it runs a little traffic: greetings, READY of each socket type,
SUBSCRIBE/CANCEL, PING/PONG, multipart and long frames. The raw captures go to
`raw/<scenario>.bin`; seeds for each target are derived from them in the input layouts that
`fuzz/src/lib.rs` documents (`<target>/<scenario>`).

Usage: python3 fuzz/seeds/capture.py   (needs pyzmq; writes next to this file)
The output is committed; re-run only to refresh it.
"""

import os
import socket
import struct
import threading
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
# Index of each type in ringlink's SocketType::ALL (the fuzz inputs pick types by it).
TYPES = ["PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB",
         "XSUB", "STREAM"]


def greeting():
    return bytes([0xFF] + [0] * 7 + [1, 0x7F, 3, 1]) + b"NULL" + bytes(16) + bytes(1) + bytes(31)


def command(name, data=b""):
    body = bytes([len(name)]) + name + data
    if len(body) <= 255:
        return bytes([0x04, len(body)]) + body
    return bytes([0x06]) + struct.pack(">Q", len(body)) + body


def ready(sock_type, identity=None):
    props = b"\x0bSocket-Type" + struct.pack(">I", len(sock_type)) + sock_type.encode()
    if identity is not None:
        props += b"\x08Identity" + struct.pack(">I", len(identity)) + identity
    return command(b"READY", props)


def frames(stream):
    """Split a ZMTP byte stream (after the greeting) into (flags, body) frames."""
    out, pos = [], 0
    while pos < len(stream):
        flags = stream[pos]
        if flags & 0x02:
            if pos + 9 > len(stream):
                break
            size = struct.unpack(">Q", stream[pos + 1:pos + 9])[0]
            hl = 9
        else:
            if pos + 2 > len(stream):
                break
            size, hl = stream[pos + 1], 2
        if pos + hl + size > len(stream):
            break
        out.append((flags, stream[pos + hl:pos + hl + size]))
        pos += hl + size
    return out


def capture(ours, peer_type, action, extra=b"", opts=()):
    """Run `action(sock)` on a pyzmq `peer_type` socket connected to a listener that plays
    ringlink's `ours` side; return every byte the pyzmq socket sent."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    port = lst.getsockname()[1]
    got = bytearray()
    done = threading.Event()

    def serve():
        conn, _ = lst.accept()
        conn.settimeout(0.05)
        ident = b"" if ours in ("REQ", "DEALER", "ROUTER") else None
        conn.sendall(greeting() + ready(ours, ident))
        pending = extra
        while not done.is_set():
            if pending and len(got) >= 64:
                # After the peer's greeting: libzmq stalls on commands that arrive with ours.
                conn.sendall(pending)
                pending = b""
            try:
                b = conn.recv(65536)
            except socket.timeout:
                continue
            if not b:
                break
            got.extend(b)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    ctx = zmq.Context()
    s = ctx.socket(getattr(zmq, peer_type))
    s.linger = 0
    for k, v in opts:
        s.setsockopt(k, v)
    s.connect(f"tcp://127.0.0.1:{port}")
    time.sleep(0.2)
    action(s)
    time.sleep(0.3)
    done.set()
    t.join()
    s.close()
    ctx.term()
    lst.close()
    return bytes(got)


def send_all(parts_list):
    def act(s):
        for parts in parts_list:
            s.send_multipart(parts)
    return act


def nothing(_s):
    pass


LONG = bytes(range(256)) * 3  # 768 bytes: long (8-byte size) frame header
BIG = b"x" * 70_000           # spans receive pieces


def subscriptions(s):
    for t in (b"topic", b"", b"a" * 300):
        s.setsockopt(zmq.SUBSCRIBE, t)
    time.sleep(0.05)
    s.setsockopt(zmq.UNSUBSCRIBE, b"topic")


def xsub_messages(s):
    s.send(b"\x01weather")
    s.send(b"\x00weather")
    s.send(b"\x01")


# (scenario, ringlink's type, pyzmq peer type, action, bytes we send after READY, options)
SCENARIOS = [
    ("push-pull-multipart", "PULL", "PUSH",
     send_all([[b"hello"], [b"a", b"", b"c"], [LONG], [BIG, b"tail"]]), b"", ()),
    ("dealer-router", "ROUTER", "DEALER",
     send_all([[b"req-1"], [b"", b"envelope"], [LONG]]), b"", ((zmq.ROUTING_ID, b"peer-1"),)),
    ("dealer-rep", "REP", "DEALER", send_all([[b"", b"request"]]), b"", ()),
    ("req-rep", "REP", "REQ", send_all([[b"ping?"]]), b"", ()),
    ("req-router", "ROUTER", "REQ", send_all([[b"hello", b"world"]]), b"",
     ((zmq.ROUTING_ID, b"client"),)),
    ("router-dealer", "DEALER", "ROUTER", nothing, b"", ((zmq.PROBE_ROUTER, 1),)),
    ("dealer-dealer", "DEALER", "DEALER", send_all([[b"x"] * 3]), b"", ()),
    ("pair-pair", "PAIR", "PAIR", send_all([[b"pair"], [LONG, b"more"]]), b"", ()),
    ("sub-pub", "PUB", "SUB", subscriptions, b"", ()),
    ("sub-xpub", "XPUB", "SUB", subscriptions, b"", ()),
    ("xsub-xpub", "XPUB", "XSUB", xsub_messages, b"", ()),
    ("pub-sub", "SUB", "PUB", lambda s: (time.sleep(0.1), send_all([[b"topic", b"news"]] * 3)(s)),
     command(b"SUBSCRIBE", b""), ()),
    ("pub-xsub", "XSUB", "XPUB", lambda s: (time.sleep(0.1), send_all([[b"t1"], [LONG]])(s)),
     command(b"SUBSCRIBE", b"t"), ()),
    # Heartbeats: the peer PINGs us (HEARTBEAT_IVL) and PONGs our PING.
    ("heartbeat-ping-pong", "PULL", "PUSH", lambda s: time.sleep(0.3),
     command(b"PING", b"\x00\x64ctx-1"),
     ((zmq.HEARTBEAT_IVL, 100), (zmq.HEARTBEAT_TTL, 2000))),
]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def connection_ops(stream):
    """Feed `stream` in pieces (feed ops), then pump and let the application drain."""
    ops, pos = bytearray(), 0
    while pos < len(stream):
        piece = stream[pos:pos + 4096]
        if len(piece) < 0x3F:
            ops += bytes([len(piece)]) + piece
        else:
            ops += bytes([0x3F]) + struct.pack("<H", len(piece)) + piece
        pos += len(piece)
    return bytes(ops) + b"\x40\x41"


def main():
    raw = {}
    for name, ours, peer, action, extra, opts in SCENARIOS:
        data = capture(ours, peer, action, extra, opts)
        raw[name] = (ours, data)
        write(os.path.join(HERE, "raw", name + ".bin"), data)
        print(f"{name}: {len(data)} bytes from a pyzmq {peer}")
    # A raw TCP client for STREAM (no ZMTP at all).
    raw["stream-http"] = ("STREAM", b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    commands = {}
    for name, (ours, data) in raw.items():
        t = TYPES.index(ours)
        big = len(data) > 8192
        # connection: [type][flags][chunk][ops]; flags 0x40 + chunk 63: 64-byte pieces.
        write(os.path.join(HERE, "connection", name), bytes([t, 0, 0]) + connection_ops(data))
        if not big:
            write(os.path.join(HERE, "connection", name + "-small-pieces"),
                  bytes([t, 0x40, 63]) + connection_ops(data))
        if ours == "STREAM":
            write(os.path.join(HERE, "connection", name + "-length-prefixed"),
                  bytes([t, 0x10, 0]) + connection_ops(struct.pack(">I", 5) + b"hello"))
            continue
        if big:
            # Keep the seeds small: the handshake and decoder seeds need no 70 KB frame.
            data = data[:64] + data[64:][:4096]
        write(os.path.join(HERE, "greeting", name), data[:64])
        # handshake: [type][flags][k][cuts][stream]
        write(os.path.join(HERE, "handshake", name), bytes([t, 1, 0]) + data)
        fr = frames(data[64:])
        # frame_decoder: [max][k][cuts][stream after the handshake]
        after = data[64:]
        if fr:
            first = fr[0]
            hl = 9 if data[64] & 0x02 else 2
            after = data[64 + hl + len(first[1]):]
        write(os.path.join(HERE, "frame_decoder", name), bytes([0, 0]) + after)
        for flags, body in fr:
            if flags & 0x04 and body:
                commands[body[1:1 + body[0]].decode(errors="replace") + "-" + name] = body
    for key, body in commands.items():
        write(os.path.join(HERE, "command", key.lower()), b"\x00" + body)
        if body.startswith(b"\x05READY"):
            write(os.path.join(HERE, "command", "metadata-" + key.lower()), b"\x01" + body[6:])


if __name__ == "__main__":
    main()
