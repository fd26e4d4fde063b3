#!/usr/bin/env python3
"""Delay and reordering on a link, for ringlink's fault tests (tests/tests/faults.rs).

usage: impair.py QUEUE DELAY_MS JITTER_MS SEED

Binds netfilter queue QUEUE of the current network namespace (run it with `ip netns exec`;
an `iptables-legacy ... -j NFQUEUE --queue-num QUEUE --queue-bypass` rule feeds it) over a
NETLINK_NETFILTER socket, standard library only. Every queued packet is held for DELAY_MS plus
a uniformly random 0..JITTER_MS (random.Random(SEED)) and then accepted; verdicts are issued in
deadline order, so when the jitter exceeds the gap between packets they leave out of their
arrival order: real reordering on the wire, which TCP has to repair.

This kernel has no netem (CONFIG_NET_SCH_NETEM unset) and no nftables `queue` expression
(CONFIG_NFT_QUEUE unset), hence the legacy iptables NFQUEUE target and this program.

Prints READY once bound. Runs until its stdin reaches end of file (the test closes it, or the
test process died); from then on it accepts new packets at once (`passed`) and lets the held
ones go at their deadlines, then prints

  STATS packets=N reordered=R mean_us=M min_us=A max_us=B passed=P bypassed=K

and exits 0. `reordered` counts verdicts issued for a packet after a verdict for a packet that
arrived later than it (packets overtaken); the `_us` figures are the time each packet was held
(arrival to verdict); `bypassed` are packets the kernel accepted without queueing them (queue
or socket full: the queue is fail-open). If this program dies, the rule's --queue-bypass lets
packets through undelayed, so nothing wedges. Errors go to stderr with a non-zero exit status.
"""

import errno
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
SO_RCVBUFFORCE = 33
QUEUE_MAXLEN = 8192
PACKET = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET


def attr(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + b"\0" * (-len(payload) % 4)


def message(kind, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    """A nfnetlink_queue message: nlmsghdr, nfgenmsg (AF_UNSPEC, v0, queue), attributes."""
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + attrs
    head = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0)
    return head + body


def messages(buf):
    """(type, payload) of each netlink message in `buf`."""
    off = 0
    while off + 16 <= len(buf):
        length, kind = struct.unpack_from("=IH", buf, off)
        if length < 16:
            break
        yield kind, buf[off + 16 : off + length]
        off += (length + 3) & ~3


def packet_id(payload):
    """The packet id in NFQA_PACKET_HDR of a NFQNL_MSG_PACKET payload (after nfgenmsg)."""
    off = 4
    while off + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, off)
        if length < 4:
            break
        if kind & 0x7FFF == NFQA_PACKET_HDR:
            return struct.unpack_from("!I", payload, off + 4)[0]
        off += (length + 3) & ~3
    raise ValueError("packet message without NFQA_PACKET_HDR")


def check_error(payload, what):
    """Raises for a NLMSG_ERROR payload carrying an error (zero is an acknowledgement)."""
    code = struct.unpack_from("=i", payload)[0]
    if code != 0:
        raise OSError(-code, f"{what}: {os.strerror(-code)}")


def queue_counters(queue):
    """(dropped, user_dropped) of `queue` from /proc/net/netfilter/nfnetlink_queue."""
    try:
        with open("/proc/net/netfilter/nfnetlink_queue") as f:
            for line in f:
                fields = line.split()
                if fields and int(fields[0]) == queue:
                    return int(fields[5]), int(fields[6])
    except OSError:
        pass
    return 0, 0


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    queue, seed = int(sys.argv[1]), int(sys.argv[4])
    delay_ms, jitter_ms = float(sys.argv[2]), float(sys.argv[3])
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    flags = struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)
    config = (
        attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))
        + attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
        + attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
        + attr(NFQA_CFG_MASK, flags)
        + attr(NFQA_CFG_FLAGS, flags)
    )
    sock.send(message(NFQNL_MSG_CONFIG, queue, config, NLM_F_REQUEST | NLM_F_ACK, seq=1))
    for kind, payload in messages(sock.recv(65536)):
        if kind == NLMSG_ERROR:
            check_error(payload, f"binding queue {queue} (root? another program bound to it?)")
    sock.setblocking(False)
    print("READY", flush=True)

    held = []  # heap of (deadline, arrival index, packet id, arrival time)
    arrivals = 0
    released = 0
    newest_released = -1
    reordered = 0
    held_sum = 0.0
    held_min = float("inf")
    held_max = 0.0
    stdin = sys.stdin.fileno()
    stopping = False
    passed = 0

    def verdict_message(pid):
        header = struct.pack("!II", NF_ACCEPT, pid)
        return message(NFQNL_MSG_VERDICT, queue, attr(NFQA_VERDICT_HDR, header))

    def verdict(pid):
        sock.send(verdict_message(pid))

    def release(until):
        nonlocal released, newest_released, reordered, held_sum, held_min, held_max
        out = []
        now = time.monotonic()
        while held and held[0][0] <= until:
            _, index, pid, arrived = heapq.heappop(held)
            if index < newest_released:
                reordered += 1
            newest_released = max(newest_released, index)
            took = now - arrived
            held_sum += took
            held_min = min(held_min, took)
            held_max = max(held_max, took)
            released += 1
            out.append(verdict_message(pid))
        if out:
            # One send: the kernel processes the messages in order.
            sock.send(b"".join(out))

    while True:
        timeout = None
        if held:
            timeout = max(0.0, held[0][0] - time.monotonic())
        readable, _, _ = select.select([sock] + ([] if stopping else [stdin]), [], [], timeout)
        if sock in readable:
            while True:
                try:
                    buf = sock.recv(1 << 16)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno == errno.ENOBUFS:  # overrun: the kernel accepted those (fail-open)
                        continue
                    raise
                now = time.monotonic()
                for kind, payload in messages(buf):
                    if kind == NLMSG_ERROR:
                        check_error(payload, "verdict")
                    elif kind == PACKET and stopping:
                        # Winding down: no new holds, only the ones already made end on time.
                        verdict(packet_id(payload))
                        passed += 1
                    elif kind == PACKET:
                        hold = (delay_ms + rng.uniform(0.0, jitter_ms)) / 1000.0
                        heapq.heappush(held, (now + hold, arrivals, packet_id(payload), now))
                        arrivals += 1
        if stdin in readable and not os.read(stdin, 4096):
            stopping = True
        release(time.monotonic())
        if stopping and not held:
            break

    dropped, user_dropped = queue_counters(queue)
    mean_us = held_sum / released * 1e6 if released else 0.0
    print(
        f"STATS packets={released} reordered={reordered} mean_us={mean_us:.0f} "
        f"min_us={(held_min if released else 0) * 1e6:.0f} max_us={held_max * 1e6:.0f} "
        f"passed={passed} bypassed={dropped + user_dropped}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
