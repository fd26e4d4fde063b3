"""GATEWAY and SPOT rows of `python -m ringlink.bench`: zlink's service layer through this
package (split from bench.py; the socket rows and the report stay there). The sender and
receiver run as two spawned processes; see bench.py's docstring for the methodology."""

from __future__ import annotations

import multiprocessing as mp
import time
from array import array
from typing import Any

TIMEOUT_MS = 10000


def _rate(n_after: int, t0: float, t1: float) -> dict:
    dt = t1 - t0
    return {"received_after_first": n_after, "seconds": dt, "kmsg_s": (n_after / dt / 1e3) if dt > 0 else 0.0}


SVC = "bench"


def _svc_rx(impl: str, pattern: str, count: int, size: int, warmup: int, lat: int, parent: Any, link: Any) -> None:
    try:
        parent.send(("result", _svc_receive(impl, pattern, count, size, warmup, lat, parent, link)))
    except BaseException as e:  # report, never hang the parent
        parent.send(("error", f"receiver: {type(e).__name__}: {e}"))


def _svc_receive(impl: str, pattern: str, count: int, size: int, warmup: int, lat: int, parent: Any, link: Any) -> dict:
    import ringlink as m

    ctx = m.Context()
    total = warmup + count
    batch = 4096
    buf = bytearray(batch * (size + 256))
    lens = array("Q", bytes(8 * batch))
    n = n0 = 0
    t0 = t1 = 0.0
    if pattern == "GATEWAY":
        reg = m.Registry(ctx)
        rx = m.Receiver(ctx, b"bench-rx", registry=reg.router_endpoint)
        rx.bind("tcp://127.0.0.1:*")
        rx.register(SVC)
        parent.send(("endpoint", reg.pub_endpoint))
        router = rx.router
        router.rcvtimeo = TIMEOUT_MS
        ids = bytearray(batch * m.ROUTING_ID_MAX)
        id_lens = array("Q", bytes(8 * batch))
        recv = router.recv_pair_many_into
        while n < total:
            n += recv(ids, id_lens, buf, lens)
            if t0 == 0.0 and n > warmup:
                t0 = time.perf_counter()
                n0 = n
        t1 = time.perf_counter()
        link.send("thr-done")
        for _ in range(lat):  # echo
            router.send_multipart(router.recv_multipart())
        res = _rate(n - n0, t0, t1)
        rx.close()
        reg.close()
    else:
        node = m.SpotNode(ctx, rcvhwm=0)  # and sndhwm=0 on the sender: nothing is dropped
        parent.send(("endpoint", node.bind("tcp://127.0.0.1:*")))
        node.connect_peer(link.recv())
        sub = node.subscriber()
        sub.subscribe(SVC)
        sub.subscribe("ping")
        topic, parts = sub.recv(timeout=TIMEOUT_MS)
        link.send("ready")
        while parts[0][:1] != b"S":
            topic, parts = sub.recv(timeout=TIMEOUT_MS)
        bench = SVC.encode()
        last = time.perf_counter()
        first_batch = None  # (clock before the call, measured messages) of the first measured batch
        try:
            if impl == "rl-fast":
                # Into preallocated buffers, no object per message (as the socket rows'
                # recv_many_into). Only the bench topic flows until "thr-done" ("S" was read).
                into, clock = sub.recv_many_into, time.perf_counter
                topics, topic_lens = bytearray(batch * len(bench)), array("Q", bytes(8 * batch))
                while n < total:
                    before = clock()
                    k = into(topics, topic_lens, buf, lens, 2000)
                    last = clock()
                    if t0 == 0.0 and n + k > warmup:
                        t0 = last  # as the socket rows: from this call's return
                        n0 = n + k
                        first_batch = (before, n + k - max(n, warmup))
                    n += k
            else:
                recv = sub.recv
                while n < total:
                    if recv(2000)[0] == bench:
                        n += 1
                    if t0 == 0.0 and n > warmup:
                        t0 = time.perf_counter()
                        n0 = n
                last = time.perf_counter()
        except m.Again:  # the PUB dropped some: count what came, up to the last arrival
            if impl != "rl-fast":
                last = time.perf_counter() - 2.0
        t1 = last
        if n == n0 and first_batch is not None:
            # Every measured message came in the batch that returned the first one: no time
            # from that call's return; time that batch from the clock taken before its call.
            t0, n0 = first_batch[0], n - first_batch[1]
        link.send("thr-done")
        while True:  # echo pings until "E"
            topic, parts = sub.recv(timeout=TIMEOUT_MS * 3)
            if topic != b"ping":
                continue
            if parts[0] == b"E":
                break
            node.publish("pong", parts)
        res = _rate(n - n0, t0, t1)
        sub.close()
        node.close()
    res["received"] = n
    ctx.term()
    return res


def _svc_tx(impl: str, pattern: str, count: int, size: int, warmup: int, lat: int, endpoint: str, parent: Any,
            link: Any) -> None:
    try:
        parent.send(("result", _svc_send(impl, pattern, count, size, warmup, lat, endpoint, link)))
    except BaseException as e:
        parent.send(("error", f"sender: {type(e).__name__}: {e}"))


def _svc_send(impl: str, pattern: str, count: int, size: int, warmup: int, lat: int, endpoint: str, link: Any) -> dict:
    import ringlink as m

    ctx = m.Context()
    pad = b"." * (size - 1)
    S, W, M = b"S" + pad, b"W" + pad, b"M" + pad
    fast = impl == "rl-fast"
    rtts: list[float] = []
    if pattern == "GATEWAY":
        d = m.Discovery(ctx, "gateway", registry=endpoint)
        gw = m.Gateway(ctx, d)
        d.wait_available(SVC, TIMEOUT_MS)
        gw.wait_connected(SVC, timeout=TIMEOUT_MS)
        t0 = time.perf_counter()
        if fast:
            gw.send_many_const(SVC, W, warmup)
            sent = gw.send_many_const(SVC, M, count)
        else:
            send = gw.send
            for _ in range(warmup):
                send(SVC, W)
            for _ in range(count):
                send(SVC, M)
            sent = count
        t1 = time.perf_counter()
        link.recv()  # the receiver counted everything: the latency phase may start
        send, recv, clock = gw.send, gw.recv, time.perf_counter
        for _ in range(lat):
            a = clock()
            send(SVC, M)
            recv()
            rtts.append(clock() - a)
        gw.close()
        d.close()
    else:
        node = m.SpotNode(ctx, sndhwm=0)  # a PUB drops at its high-water mark otherwise
        link.send(node.bind("tcp://127.0.0.1:*"))
        node.connect_peer(endpoint)
        sub = node.subscriber()
        sub.subscribe("pong")
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not link.poll(0.001):  # probes until the receiver saw one (slow joiner)
            node.publish(SVC, b"H" + pad)
            if time.monotonic() > deadline:
                raise TimeoutError("handshake: the receiver saw no probe")
        link.recv()
        t0 = time.perf_counter()
        node.publish(SVC, S)
        if fast:
            node.publish_many_const(SVC, W, warmup)
            sent = node.publish_many_const(SVC, M, count)
        else:
            publish = node.publish
            for _ in range(warmup):
                publish(SVC, W)
            for _ in range(count):
                publish(SVC, M)
            sent = count
        t1 = time.perf_counter()
        link.recv()
        for _ in range(2000):  # the "pong" subscription must reach the receiver first
            node.publish("ping", b"J")
            try:
                sub.recv(timeout=10)
                break
            except m.Again:
                pass
        else:
            raise TimeoutError("latency: no pong")
        publish, recv, clock = node.publish, sub.recv, time.perf_counter
        for i in range(lat):
            tag = b"L%d" % i
            a = clock()
            publish("ping", tag)
            while recv(timeout=TIMEOUT_MS)[1][0] != tag:
                pass
            rtts.append(clock() - a)
        node.publish("ping", b"E")
        sub.close()
        node.close()
    ctx.term()
    if sent != count:
        raise RuntimeError(f"sent {sent} of {count}")
    rtts.sort()
    out = {"tx_kmsg_s": count / (t1 - t0) / 1e3}
    if rtts:
        out.update(lat_p50_us=rtts[len(rtts) // 2] * 1e6, lat_p99_us=rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1e6)
    return out


def run_service(impl: str, pattern: str, count: int, size: int, warmup: int, lat: int) -> dict:
    ctx = mp.get_context("spawn")
    prx, crx = ctx.Pipe()
    ptx, ctx_ = ctx.Pipe()
    link_rx, link_tx = ctx.Pipe()
    rx = ctx.Process(target=_svc_rx, args=(impl, pattern, count, size, warmup, lat, crx, link_rx), daemon=True)
    rx.start()
    tx = None
    try:
        if not prx.poll(60):
            raise TimeoutError("receiver did not start")
        kind, val = prx.recv()
        if kind != "endpoint":
            raise RuntimeError(val)
        tx = ctx.Process(target=_svc_tx, args=(impl, pattern, count, size, warmup, lat, val, ctx_, link_tx), daemon=True)
        tx.start()
        if not ptx.poll(180):
            raise TimeoutError("sender did not finish")
        kind, txres = ptx.recv()
        if kind != "result":
            raise RuntimeError(txres)
        if not prx.poll(60):
            raise TimeoutError("receiver did not finish")
        kind, res = prx.recv()
        if kind != "result":
            raise RuntimeError(res)
        res.update(txres)
        return res
    finally:
        for p in (tx, rx):
            if p is not None:
                p.join(30)
                if p.is_alive():
                    p.kill()
