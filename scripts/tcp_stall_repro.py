#!/usr/bin/env python3
"""Repro of the 200 ms loopback TCP stall (docs/reliability.md, "The 200 ms TCP stall").

Each run: a receiver process (Registry + Receiver, draining its ROUTER with
recv_pair_many_into) and this process (Discovery + Gateway) sending 201,000 64-byte requests
with per-message gateway.send. The receiver reports gaps of more than 60 ms between batches
and, during the first two of a run, prints `ss -tnioe` (socket queues, timers, windows).

    pip install ./bindings/python && python3 scripts/tcp_stall_repro.py 60
"""
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from array import array

SVC = "bench"
TOTAL = 201_000


def receiver(q):
    import ringlink as m

    ctx = m.Context()
    reg = m.Registry(ctx)
    rx = m.Receiver(ctx, b"bench-rx", registry=reg.router_endpoint)
    rx.bind("tcp://127.0.0.1:*")
    rx.register(SVC)
    q.put(reg.pub_endpoint)
    router = rx.router
    router.rcvtimeo = 20000
    ids, id_lens = bytearray(4096 * 255), array("Q", bytes(8 * 4096))
    buf, lens = bytearray(4096 * 320), array("Q", bytes(8 * 4096))
    state = {"last": time.perf_counter(), "done": False, "dumps": 0}

    def watch():
        while not state["done"]:
            time.sleep(0.01)
            quiet = time.perf_counter() - state["last"]
            if quiet > 0.06 and state["dumps"] < 2:
                state["dumps"] += 1
                ss = subprocess.run(["ss", "-tnioe", "state", "established"], capture_output=True, text=True)
                print(f"no batch for {quiet * 1000:.0f} ms:\n{ss.stdout}", flush=True)

    threading.Thread(target=watch, daemon=True).start()
    n, gaps = 0, []
    while n < TOTAL:
        k = router.recv_pair_many_into(ids, id_lens, buf, lens)
        now = time.perf_counter()
        if now - state["last"] > 0.06:
            gaps.append((n, round((now - state["last"]) * 1000, 1)))
        state["last"] = now
        n += k
    state["done"] = True
    q.put(gaps)


def main(runs):
    import ringlink as m

    stalled = 0
    for run in range(runs):
        q = mp.Queue()
        p = mp.Process(target=receiver, args=(q,))
        p.start()
        ctx = m.Context()
        d = m.Discovery(ctx, "gateway", registry=q.get())
        gw = m.Gateway(ctx, d)
        d.wait_available(SVC, 20000)
        gw.wait_connected(SVC, timeout=20000)
        send, msg = gw.send, b"M" * 64
        t0 = time.perf_counter()
        for _ in range(TOTAL):
            send(SVC, msg)
        ms = (time.perf_counter() - t0) * 1000
        gaps = q.get()
        p.join()
        gw.close()
        d.close()
        ctx.term()
        stalled += bool(gaps)
        print(f"run {run}: sent in {ms:.1f} ms; receiver gaps over 60 ms (at message, ms): {gaps}", flush=True)
    print(f"{stalled} of {runs} runs stalled")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
