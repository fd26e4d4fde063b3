"""Throughput benchmark of the Python binding: ``python -m ringlink.bench``.

For each repetition, pattern and implementation (interleaved), a receiver and a sender run in
two separate processes (multiprocessing, spawn) over tcp loopback, 64 B messages:

* ``rl-msg``  ringlink-py per message (``send``/``recv``, ``send_multipart``/``recv_multipart``,
  ``Poller`` + ``DONTWAIT`` drain for ROUTER_ROUTER_POLL);
* ``rl-fast`` ringlink-py fast path (``send_repeat`` / ``send_routed_repeat`` and
  ``recv_many_into`` / ``recv_pair_many_into`` / ``poll`` + ``recv_pair_drain_into``);
* ``pyzmq``   pyzmq with the same plain loop as ``rl-msg`` (skipped if pyzmq is missing);
* ``c-batch`` ringlink's C batch API (``bench/c/rl_bench.c`` with ``-a batch``; two threads
  of one process, one context), the ceiling; it has PAIR, DEALER_ROUTER and
  ROUTER_ROUTER_POLL only.

The service rows (rl-msg = fast path off, rl-fast = fast path on; two processes as well):

* ``GATEWAY``: the receiver process runs a Registry and a Receiver (service "bench") and drains
  the Receiver's ROUTER with the batch receive (``recv_pair_many_into``) in both rows; the
  sender process (Discovery + Gateway) sends with ``gateway.send`` per message (off) or
  ``gateway.send_many_const`` (on).
* ``SPOT``: two SpotNodes meshed by hand (``connect_peer`` both ways); the sender publishes
  on "bench" with ``publish`` per message (off) or ``publish_many_const`` (on), the receiver
  takes them with ``SpotSub.recv`` per message (off) or ``recv_many_into`` into
  preallocated buffers (on: no object per message, as the socket rows). The sending
  node's PUB has SNDHWM 0 and the receiving node's SUB RCVHWM 0 (``SpotNode(sndhwm=0)`` /
  ``SpotNode(rcvhwm=0)``), so nothing is dropped; should messages go missing anyway, the
  receiver stops 2 s after the last one and the rate counts what arrived (``received`` in
  the JSON). Timed as the socket rows (below); if every measured message came in the batch
  that returned the first one, that batch is timed from the clock taken before its call.
* Latency (both): ``--lat`` (default 2000) single-message round trips after the throughput
  phase, p50 / p99 in µs: gateway.send + the receiver's echo + gateway.recv (GATEWAY); a
  publish on "ping", the receiver republishing it on "pong", a recv (SPOT).

Method (as rl_bench / zmq_bench): handshake ('H' probes until the receiver saw one, then an
'S' marker), then WARMUP 'W' messages, then COUNT measured 'M' messages. Throughput is
measured at the receiver from the first to the last measured message: messages received
after the receive call that returned the first measured message, divided by the time from
that call's return to the last one's (batch and per-message receivers alike). Default HWM
(1000) on both sides except PUBSUB (SNDHWM = RCVHWM = 0: PUB drops at the HWM). STREAM uses
ringlink's length-prefixed framing; pyzmq's STREAM is raw bytes, counted as bytes / size.

Output: a Markdown table and JSON (``--out DIR``: ``bench.md``, ``bench.json``,
``bench.svg``), medians and per-repetition paired ratios (median of ratios).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from ._bench_services import TIMEOUT_MS, _rate, run_service

PATTERNS = ["PAIR", "PUBSUB", "DEALER_DEALER", "DEALER_ROUTER", "ROUTER_ROUTER", "ROUTER_ROUTER_POLL", "STREAM",
            "GATEWAY", "SPOT"]
SERVICE_PATTERNS = {"GATEWAY", "SPOT"}
SERVICE_IMPLS = {"rl-msg", "rl-fast"}
IMPLS = ["rl-msg", "rl-fast", "pyzmq", "c-batch"]
C_PATTERNS = {"PAIR", "DEALER_ROUTER", "ROUTER_ROUTER_POLL"}
SEED_FAST = {"PAIR": 6616.66, "PUBSUB": 6076.77, "DEALER_DEALER": 6474.04, "DEALER_ROUTER": 5636.81,
             "ROUTER_ROUTER": 4882.99, "ROUTER_ROUTER_POLL": 5158.80, "STREAM": 5257.34,
             "GATEWAY": 4740.14, "SPOT": 1895.67}
SEED_OFF = {"PAIR": 1158.01, "PUBSUB": 1105.24, "DEALER_DEALER": 1150.75, "DEALER_ROUTER": 778.05,
            "ROUTER_ROUTER": 567.90, "ROUTER_ROUTER_POLL": 560.16, "STREAM": 492.58,
            "GATEWAY": 89.03, "SPOT": 95.95}
# zlink's raw latencies for the service rows (µs; fast path on / off), see the seed record.
SEED_LAT = {"GATEWAY": (64.9, 50.1), "SPOT": (1157, 1139)}
RX_ID = b"RX"
TX_ID = b"TX"

# Socket types per pattern: (receiver, sender) names.
TYPES = {
    "PAIR": ("PAIR", "PAIR"),
    "PUBSUB": ("SUB", "PUB"),
    "DEALER_DEALER": ("DEALER", "DEALER"),
    "DEALER_ROUTER": ("ROUTER", "DEALER"),
    "ROUTER_ROUTER": ("ROUTER", "ROUTER"),
    "ROUTER_ROUTER_POLL": ("ROUTER", "ROUTER"),
    "STREAM": ("STREAM", "STREAM"),
}


def _lib(impl: str) -> Any:
    if impl == "pyzmq":
        import zmq

        return zmq
    import ringlink

    return ringlink


def _setup(m: Any, impl: str, pattern: str, role: str) -> tuple[Any, Any]:
    ctx = m.Context()
    rx_t, tx_t = TYPES[pattern]
    s = ctx.socket(getattr(m, rx_t if role == "rx" else tx_t))
    s.setsockopt(m.LINGER, 0)
    if pattern == "PUBSUB":
        s.setsockopt(m.SNDHWM, 0)
        s.setsockopt(m.RCVHWM, 0)
        if role == "rx":
            s.setsockopt(m.SUBSCRIBE, b"")
    if pattern.startswith("ROUTER_ROUTER"):
        s.setsockopt(m.ROUTING_ID, RX_ID if role == "rx" else TX_ID)
        if role == "tx":
            s.setsockopt(m.ROUTER_MANDATORY, 1)
    if pattern == "DEALER_ROUTER" and role == "tx":
        s.setsockopt(m.ROUTING_ID, TX_ID)
    if pattern == "STREAM" and impl != "pyzmq":
        s.setsockopt(m.STREAM_FRAMING, m.STREAM_FRAMING_LENGTH_PREFIXED)
    s.setsockopt(m.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(m.SNDTIMEO, TIMEOUT_MS)
    return ctx, s


# ---------------------------------------------------------------------------------- receiver
def _receiver(impl: str, pattern: str, count: int, size: int, warmup: int, parent: Any, hs: Any) -> None:
    try:
        parent.send(("result", _receive(impl, pattern, count, size, warmup, parent, hs)))
    except BaseException as e:  # report, never hang the parent
        parent.send(("error", f"receiver: {type(e).__name__}: {e}"))


def _receive(impl: str, pattern: str, count: int, size: int, warmup: int, parent: Any, hs: Any) -> dict:
    m = _lib(impl)
    ctx, s = _setup(m, impl, pattern, "rx")
    s.bind("tcp://127.0.0.1:*")
    parent.send(("endpoint", s.getsockopt(m.LAST_ENDPOINT).decode()))
    routed = TYPES[pattern][0] in ("ROUTER", "STREAM")
    if pattern == "STREAM":
        s.recv_multipart()  # the connect notification
    else:
        first = s.recv_multipart()
        hs.send("ready")
        while first[-1][:1] != b"S":
            first = s.recv_multipart()
    total = warmup + count
    if impl == "rl-fast":
        res = _rx_fast(m, s, pattern, routed, total, warmup, size)
    elif pattern == "STREAM" and impl == "pyzmq":
        res = _rx_stream_bytes(s, total, warmup, size)
    else:
        res = _rx_loop(m, s, pattern, routed, total, warmup)
    s.close()
    ctx.term()
    return res


def _rx_loop(m: Any, s: Any, pattern: str, routed: bool, total: int, warmup: int) -> dict:
    """Per-message receiver, the same code for ringlink and pyzmq."""
    if pattern == "ROUTER_ROUTER_POLL":
        poller = m.Poller()
        poller.register(s, m.POLLIN)
        Again = m.Again
        dontwait = m.DONTWAIT
        recv_multipart = s.recv_multipart
        n = 0
        t0 = 0.0
        n0 = 0
        while n < total:
            if not poller.poll(TIMEOUT_MS):
                raise TimeoutError(f"received {n} of {total}")
            before = n
            while n < total:
                try:
                    recv_multipart(dontwait)
                except Again:
                    break
                n += 1
            if before <= warmup < n and t0 == 0.0:
                t0 = time.perf_counter()
                n0 = n
        t1 = time.perf_counter()
        return _rate(n - n0, t0, t1)
    recv = s.recv_multipart if routed else s.recv
    for _ in range(warmup):
        recv()
    recv()
    t0 = time.perf_counter()
    for _ in range(total - warmup - 1):
        recv()
    t1 = time.perf_counter()
    return _rate(total - warmup - 1, t0, t1)


def _rx_stream_bytes(s: Any, total: int, warmup: int, size: int) -> dict:
    """pyzmq raw STREAM: payload chunks of any size; messages = bytes / size."""
    need = total * size
    start = warmup * size
    got = 0
    t0 = 0.0
    g0 = 0
    recv_multipart = s.recv_multipart
    while got < need:
        got += len(recv_multipart()[1])
        if t0 == 0.0 and got > start:
            t0 = time.perf_counter()
            g0 = got
    t1 = time.perf_counter()
    return _rate((got - g0) // size, t0, t1)


def _rx_fast(m: Any, s: Any, pattern: str, routed: bool, total: int, warmup: int, size: int) -> dict:
    batch = 4096
    buf = bytearray(batch * (size + 256))
    lens = array("Q", bytes(8 * batch))
    n = 0
    t0 = 0.0
    n0 = 0
    if pattern == "ROUTER_ROUTER_POLL":
        ids = bytearray(batch * m.ROUTING_ID_MAX)
        id_lens = array("Q", bytes(8 * batch))
        drain = s.recv_pair_drain_into
        poll = s.poll
        while n < total:
            if not poll(TIMEOUT_MS):
                raise TimeoutError(f"received {n} of {total}")
            while True:
                k = drain(ids, id_lens, buf, lens)
                if k == 0:
                    break
                n += k
                if t0 == 0.0 and n > warmup:
                    t0 = time.perf_counter()
                    n0 = n
        t1 = time.perf_counter()
        return _rate(n - n0, t0, t1)
    if routed:
        ids = bytearray(batch * m.ROUTING_ID_MAX)
        id_lens = array("Q", bytes(8 * batch))
        recv = s.recv_pair_many_into
        while n < total:
            n += recv(ids, id_lens, buf, lens)
            if t0 == 0.0 and n > warmup:
                t0 = time.perf_counter()
                n0 = n
    else:
        recv = s.recv_many_into
        while n < total:
            n += recv(buf, lens)
            if t0 == 0.0 and n > warmup:
                t0 = time.perf_counter()
                n0 = n
    t1 = time.perf_counter()
    return _rate(n - n0, t0, t1)


# ---------------------------------------------------------------------------------- sender
def _sender(impl: str, pattern: str, count: int, size: int, warmup: int, endpoint: str, parent: Any, hs: Any) -> None:
    try:
        parent.send(("result", _send(impl, pattern, count, size, warmup, endpoint, hs)))
    except BaseException as e:
        parent.send(("error", f"sender: {type(e).__name__}: {e}"))


def _send(impl: str, pattern: str, count: int, size: int, warmup: int, endpoint: str, hs: Any) -> dict:
    m = _lib(impl)
    ctx, s = _setup(m, impl, pattern, "tx")
    s.connect(endpoint)
    pad = b"." * (size - 1)
    H, S, W, M = b"H" + pad, b"S" + pad, b"W" + pad, b"M" + pad
    peer = RX_ID
    if pattern == "STREAM":
        peer = s.recv_multipart()[0]  # connect notification: the peer id
    else:
        _handshake(m, s, pattern, H, hs)
    router = TYPES[pattern][1] in ("ROUTER", "STREAM")
    t0 = time.perf_counter()
    if impl == "rl-fast":
        if router:
            if pattern != "STREAM":
                s.send_multipart([peer, S])
            s.send_routed_repeat(peer, W, warmup)
            sent = s.send_routed_repeat(peer, M, count)
        else:
            s.send(S)
            s.send_repeat(W, warmup)
            sent = s.send_repeat(M, count)
    elif router:
        send_multipart = s.send_multipart
        if pattern != "STREAM":
            send_multipart([peer, S])
        for _ in range(warmup):
            send_multipart([peer, W])
        for _ in range(count):
            send_multipart([peer, M])
        sent = count
    else:
        send = s.send
        send(S)
        for _ in range(warmup):
            send(W)
        for _ in range(count):
            send(M)
        sent = count
    t1 = time.perf_counter()
    if sent != count:
        raise RuntimeError(f"sent {sent} of {count}")
    hs.recv()  # the receiver is done: close only now (LINGER 0)
    s.close()
    ctx.term()
    return {"tx_kmsg_s": count / (t1 - t0) / 1e3}


def _handshake(m: Any, s: Any, pattern: str, H: bytes, hs: Any) -> None:
    router = TYPES[pattern][1] == "ROUTER"
    err = m.ZMQError if hasattr(m, "ZMQError") else m.RinglinkError
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        try:
            if router:
                s.send_multipart([RX_ID, H], m.DONTWAIT)
            else:
                s.send(H, m.DONTWAIT)
        except err:
            pass  # EAGAIN / EHOSTUNREACH until the peer is connected
        if hs.poll(0.001):
            hs.recv()
            return
    raise TimeoutError("handshake: the receiver saw no probe")


# ---------------------------------------------------------------------------------- driver
def run_python(impl: str, pattern: str, count: int, size: int, warmup: int) -> dict:
    ctx = mp.get_context("spawn")
    prx, crx = ctx.Pipe()
    ptx, ctx_ = ctx.Pipe()
    hs_rx, hs_tx = ctx.Pipe()
    rx = ctx.Process(target=_receiver, args=(impl, pattern, count, size, warmup, crx, hs_rx), daemon=True)
    rx.start()
    try:
        if not prx.poll(60):
            raise TimeoutError("receiver did not start")
        kind, val = prx.recv()
        if kind != "endpoint":
            raise RuntimeError(val)
        tx = ctx.Process(target=_sender, args=(impl, pattern, count, size, warmup, val, ctx_, hs_tx), daemon=True)
        tx.start()
        try:
            if not prx.poll(120):
                raise TimeoutError("receiver did not finish")
            kind, res = prx.recv()
            hs_rx.send("done")
            if kind != "result":
                raise RuntimeError(res)
            if not ptx.poll(60):
                raise TimeoutError("sender did not finish")
            kind, txres = ptx.recv()
            if kind != "result":
                raise RuntimeError(txres)
            res.update(txres)
            return res
        finally:
            tx.join(30)
            if tx.is_alive():
                tx.kill()
    finally:
        rx.join(30)
        if rx.is_alive():
            rx.kill()


def build_c_bench(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    try:
        from . import _build_info
    except ImportError:
        return None
    ws, lib = _build_info.WORKSPACE, _build_info.LIBRARY
    if ws and (not lib or not Path(lib).is_file()):
        lib = str(Path(ws) / "target" / "release" / "libringlink.a")  # cargo's archive links too
    if not ws or not lib or not Path(lib).is_file():
        return None
    src = Path(ws) / "bench" / "c" / "rl_bench.c"
    cc = os.environ.get("CC", "cc")
    if not src.is_file() or shutil.which(cc) is None:
        return None
    out = Path(tempfile.gettempdir()) / f"ringlink-py-rl_bench-{os.getpid()}"
    subprocess.run([cc, "-std=c11", "-O2", "-I", str(Path(ws) / "ffi" / "include"), str(src), lib,
                    "-lpthread", "-ldl", "-lm", "-o", str(out)], check=True)
    return str(out)


def run_c(binary: str, pattern: str, count: int) -> dict:
    p = subprocess.run([binary, "-p", pattern, "-a", "batch", "-n", str(count), "-r", "1"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    mt = re.search(r"^RESULT .*rx_kmsg_s=([0-9.]+)", p.stdout, re.M)
    if not mt:
        raise RuntimeError(f"rl_bench failed: {p.stdout[-500:]} {p.stderr[-500:]}")
    return {"kmsg_s": float(mt.group(1))}


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict], patterns: list[str], impls: list[str]) -> dict:
    table: dict = {}
    for p in patterns:
        row: dict = {}
        by_rep: dict = {}
        for r in runs:
            if r["pattern"] == p and r.get("kmsg_s"):
                by_rep.setdefault(r["rep"], {})[r["impl"]] = r["kmsg_s"]
        for i in impls:
            vals = [v[i] for v in by_rep.values() if i in v]
            row[i] = {"median": _median(vals), "min": min(vals) if vals else None,
                      "max": max(vals) if vals else None, "n": len(vals)}

        def ratio(a: str, b: str) -> float | None:
            rs = [v[a] / v[b] for v in by_rep.values() if a in v and b in v and v[b] > 0]
            return _median(rs)

        for key in ("lat_p50_us", "lat_p99_us"):
            for i in impls:
                vals = [r[key] for r in runs if r["pattern"] == p and r["impl"] == i and key in r]
                row[i][key] = _median(vals)
        row["ratios"] = {
            "fast/pyzmq": ratio("rl-fast", "pyzmq"),
            "msg/pyzmq": ratio("rl-msg", "pyzmq"),
            "fast/msg": ratio("rl-fast", "rl-msg"),
            "fast/c-batch": ratio("rl-fast", "c-batch"),
        }
        table[p] = row
    return table


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "–" if v is None else format(v, spec)


def markdown(table: dict, meta: dict, impls: list[str]) -> str:
    lines = [
        f"# ringlink-py throughput (tcp, {meta['size']} B, {meta['count']} messages, {meta['reps']} reps)",
        "",
        f"Machine: {meta['machine']}. Kmsg/s at the receiver, median [min–max]; ratios are per-repetition "
        "paired ratios, median of ratios. Seed columns: zlink's Python binding on its authors' machine "
        "(not this one).",
        "",
        "| pattern | " + " | ".join(impls) + " | fast/pyzmq | msg/pyzmq | fast/msg | fast/C | seed off | seed on |",
        "|---|" + "---:|" * (len(impls) + 6),
    ]
    for p, row in table.items():
        cells = [f"{fmt(row[i]['median'])} [{fmt(row[i]['min'])}–{fmt(row[i]['max'])}]" if row[i]["n"] else "–"
                 for i in impls]
        r = row["ratios"]
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {fmt(r['fast/pyzmq'], '.2f')} | {fmt(r['msg/pyzmq'], '.2f')}"
                     f" | {fmt(r['fast/msg'], '.2f')} | {fmt(r['fast/c-batch'], '.2f')} | {SEED_OFF[p]:.0f} | {SEED_FAST[p]:.0f} |")
    svc = [p for p in table if p in SERVICE_PATTERNS]
    if svc:
        lines += ["", "Service rows: rl-msg = fast path off (per-message calls), rl-fast = fast path on (batch calls); "
                  "one-message round trip latency, median over reps of each run's p50 / p99 (µs):", "",
                  "| pattern | rl-msg p50 | rl-msg p99 | rl-fast p50 | rl-fast p99 | seed on | seed off |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for p in svc:
            row = table[p]
            c = [fmt(row.get(i, {}).get(k), ".1f") for i in ("rl-msg", "rl-fast") for k in ("lat_p50_us", "lat_p99_us")]
            lines.append(f"| {p} | " + " | ".join(c) + f" | {SEED_LAT[p][0]} | {SEED_LAT[p][1]} |")
    return "\n".join(lines) + "\n"


def svg_chart(table: dict, impls: list[str]) -> str:
    colors = {"rl-msg": "#8fb3de", "rl-fast": "#1f5fa8", "pyzmq": "#e0904a", "c-batch": "#555555"}
    pats = list(table)
    vmax = max([row[i]["median"] or 0 for row in table.values() for i in impls] + [1])
    W, H, left, top, bottom = 900, 420, 60, 40, 70
    gw = (W - left - 20) / max(len(pats), 1)
    bw = gw * 0.8 / max(len(impls), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">ringlink-py throughput, Kmsg/s (median)</text>']
    ph = H - top - bottom
    for k in range(5):
        v = vmax * k / 4
        y = top + ph - ph * k / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - 20}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for gi, p in enumerate(pats):
        x0 = left + gi * gw + gw * 0.1
        for ii, i in enumerate(impls):
            v = table[p][i]["median"] or 0
            h = ph * v / vmax
            x = x0 + ii * bw
            out.append(f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" fill="{colors.get(i, "#999")}">'
                       f'<title>{p} {i}: {v:.0f}</title></rect>')
        out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{H - bottom + 15}" text-anchor="middle">{p}</text>')
    for ii, i in enumerate(impls):
        x = left + ii * 130
        out.append(f'<rect x="{x}" y="{H - 30}" width="12" height="12" fill="{colors.get(i, "#999")}"/>')
        out.append(f'<text x="{x + 16}" y="{H - 20}">{i}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ringlink.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--lat", type=int, default=2000, help="round trips of the GATEWAY/SPOT latency phase")
    ap.add_argument("--patterns", default=",".join(PATTERNS))
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--c-bench", default=None, help="path of a built rl_bench (default: compiled from the workspace)")
    ap.add_argument("--out", default=None, help="directory for bench.md, bench.json, bench.svg")
    a = ap.parse_args(argv)
    patterns = [p.strip().upper() for p in a.patterns.split(",") if p.strip()]
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    for p in patterns:
        if p not in PATTERNS:
            ap.error(f"unknown pattern {p}")
    for i in impls:
        if i not in IMPLS:
            ap.error(f"unknown implementation {i}")
    if a.size < 2:
        ap.error("--size must be >= 2")
    notes = []
    if "pyzmq" in impls:
        try:
            import zmq  # noqa: F401
        except ImportError:
            impls.remove("pyzmq")
            notes.append("pyzmq is not installed: its column is missing")
    c_bin = None
    if "c-batch" in impls:
        try:
            c_bin = build_c_bench(a.c_bench)
        except (OSError, subprocess.CalledProcessError) as e:
            notes.append(f"could not build rl_bench: {e}")
        if c_bin is None:
            impls.remove("c-batch")
            notes.append("c-batch column missing: no rl_bench (needs the ringlink workspace)")
    runs: list[dict] = []
    for rep in range(a.reps):
        for p in patterns:
            for i in impls:
                if (i == "c-batch" and p not in C_PATTERNS) or (p in SERVICE_PATTERNS and i not in SERVICE_IMPLS):
                    continue
                try:
                    if p in SERVICE_PATTERNS:
                        r = run_service(i, p, a.count, a.size, a.warmup, a.lat)
                    elif i == "c-batch":
                        r = run_c(c_bin, p, a.count)
                    else:
                        r = run_python(i, p, a.count, a.size, a.warmup)
                except Exception as e:  # noqa: BLE001 - recorded and reported
                    r = {"error": str(e)}
                r.update(rep=rep, pattern=p, impl=i)
                runs.append(r)
                val = f"{r['kmsg_s']:9.1f} Kmsg/s" if "kmsg_s" in r else f"FAILED {r['error']}"
                if "lat_p50_us" in r:
                    val += f"  rtt p50 {r['lat_p50_us']:.1f} us p99 {r['lat_p99_us']:.1f} us  received {r['received']}"
                print(f"rep {rep + 1}/{a.reps} {p:<19} {i:<8} {val}", flush=True)
    table = summarize(runs, patterns, impls)
    meta = {"count": a.count, "size": a.size, "reps": a.reps, "warmup": a.warmup, "patterns": patterns,
            "impls": impls, "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}", "notes": notes,
            "c_bench_note": "c-batch: rl_bench -a batch, two threads of one process (PAIR, DEALER_ROUTER, ROUTER_ROUTER_POLL only)"}
    md = markdown(table, meta, impls)
    if notes:
        md += "\n" + "\n".join(f"* {n}" for n in notes) + "\n"
    md += f"\n* {meta['c_bench_note']}\n"
    failed = [r for r in runs if "error" in r]
    if failed:
        md += f"* {len(failed)} run(s) failed: " + "; ".join(f"{r['pattern']}/{r['impl']}: {r['error']}" for r in failed[:5]) + "\n"
    print()
    print(md)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text(md)
        (out / "bench.json").write_text(json.dumps({"meta": meta, "runs": runs, "table": table}, indent=1))
        (out / "bench.svg").write_text(svg_chart(table, impls))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
