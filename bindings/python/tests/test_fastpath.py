"""Batch fast paths: lengths and routing ids returned, nothing lost or truncated."""

from __future__ import annotations

import threading
from array import array

import pytest

import ringlink
from conftest import bind_connect


def lens_of(n):
    return array("Q", [0] * n)


def unpack(buf, lens, n):
    out, off = [], 0
    for i in range(n):
        out.append(bytes(buf[off:off + lens[i]]))
        off += lens[i]
    return out


def recv_all_into(sock, want, buf_size=1 << 16):
    buf, lens, got = bytearray(buf_size), lens_of(256), []
    while len(got) < want:
        n = sock.recv_many_into(buf, lens)
        got += unpack(buf, lens, n)
    return got


def test_send_many_recv_many_into(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    msgs = [b"m%d" % i * (i % 7) for i in range(500)] + [bytearray(b"ba"), memoryview(b"mv"), b""]
    assert b.send_many(msgs) == len(msgs)
    assert recv_all_into(a, len(msgs)) == [bytes(m) for m in msgs]


def test_send_repeat_and_recv_many(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PULL, ringlink.PUSH)
    assert b.send_repeat(b"x" * 10, 3000) == 3000
    assert b.send_many_const(b"y", 0) == 0
    got = []
    while len(got) < 3000:
        got += a.recv_many(1000)
    assert got == [b"x" * 10] * 3000


def test_empty_queue(ctx):
    a, _b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    buf, lens = bytearray(64), lens_of(4)
    assert a.drain_into(buf, lens) == 0
    with pytest.raises(ringlink.Again):
        a.recv_many_into(buf, lens, ringlink.DONTWAIT)
    with pytest.raises(ringlink.Again):
        a.recv_many(flags=ringlink.DONTWAIT)
    a.rcvtimeo = 50
    with pytest.raises(ringlink.Again):
        a.recv_many_into(buf, lens)


def test_buffer_too_small_then_grown(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send(b"z" * 300)
    b.send(b"after")
    lens = lens_of(4)
    with pytest.raises(ringlink.MessageTooLarge) as e:
        a.recv_many_into(bytearray(100), lens)
    assert e.value.needed == 300
    big = bytearray(e.value.needed)
    assert a.recv_many_into(big, lens) == 1 and lens[0] == 300 and big == b"z" * 300
    assert a.recv() == b"after"


def test_exactly_full_buffer(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send_repeat(b"12345678", 3)
    assert a.poll(10000)
    buf, lens = bytearray(16), lens_of(8)
    got = []
    while len(got) < 3:
        n = a.recv_many_into(buf, lens)
        assert 1 <= n <= 2  # two fit exactly, the third waits for the next call
        got += unpack(buf, lens, n)
    assert got == [b"12345678"] * 3


def test_lens_capacity_limits_count(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    b.send_repeat(b"ab", 10)
    got = []
    while len(got) < 10:
        n = a.recv_many_into(bytearray(1024), lens := lens_of(3))
        assert n <= 3
        got += [b"ab"] * n
        assert list(lens[:n]) == [2] * n
    assert a.drain_into(bytearray(64), lens_of(4)) == 0


def test_lens_type_checked(ctx):
    a, _b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    with pytest.raises(TypeError):
        a.recv_many_into(bytearray(64), array("i", [0] * 4))
    with pytest.raises(TypeError):
        a.recv_many_into(bytearray(64), bytearray(32))
    with pytest.raises(ValueError):
        a.recv_many_into(bytearray(64), array("Q"))
    with pytest.raises(BufferError):
        a.recv_many_into(b"readonly", lens_of(2))
    assert a.drain_into(bytearray(64), memoryview(bytearray(32)).cast("Q")) == 0


def test_multipart_many(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    msgs = [[b"t%d" % i, b"payload", b"x" * i] for i in range(50)] + [[b"single"]]
    assert b.send_multipart_many(msgs) == len(msgs)
    got = []
    while len(got) < len(msgs):
        got += a.recv_multipart_many(16)
    assert got == msgs
    with pytest.raises(ValueError):
        b.send_multipart_many([[]])
    with pytest.raises(TypeError):
        b.send_multipart_many([b"not a list of frames"])


def test_routed_many_and_pair_into(ctx):
    router, dealer, _ = bind_connect(ctx, ringlink.ROUTER, ringlink.DEALER, conn_opts={"routing_id": b"D"})
    dealer.send(b"hello")
    assert router.recv_multipart() == [b"D", b"hello"]
    assert router.send_routed_many([b"D"] * 3, [b"a", b"bb", b"ccc"]) == 3
    assert router.send_routed_many_const(b"D", b"r", 5) == 5
    assert router.send_routed_repeat(b"D", b"s", 0) == 0
    assert [dealer.recv() for _ in range(8)] == [b"a", b"bb", b"ccc"] + [b"r"] * 5
    with pytest.raises(ValueError):
        router.send_routed_many([b"D"], [b"a", b"b"])
    # ROUTER receive with ids split off
    dealer.send_many([b"p%d" % i for i in range(20)])
    ids, id_lens, buf, lens = bytearray(255 * 8), lens_of(8), bytearray(4096), lens_of(8)
    got = []
    while len(got) < 20:
        n = router.recv_pair_many_into(ids, id_lens, buf, lens)
        assert list(id_lens[:n]) == [1] * n and bytes(ids[:n]) == b"D" * n
        got += unpack(buf, lens, n)
    assert got == [b"p%d" % i for i in range(20)]
    with pytest.raises(ValueError):
        router.recv_pair_many_into(bytearray(10), lens_of(2), buf, lens_of(2))


def test_drain_after_poll(ctx):
    rx, tx, _ = bind_connect(ctx, ringlink.ROUTER, ringlink.DEALER, bind_opts={"routing_id": b"RX"},
                             conn_opts={"routing_id": b"TX"})
    ids, id_lens, buf, lens = bytearray(255 * 64), lens_of(64), bytearray(1 << 16), lens_of(64)
    assert rx.recv_pair_drain_into(ids, id_lens, buf, lens) == 0
    tx.send_repeat(b"q" * 64, 1000)
    n = 0
    while n < 1000:
        assert rx.poll(10000) & ringlink.POLLIN
        while (k := rx.recv_pair_drain_into(ids, id_lens, buf, lens)):
            assert bytes(ids[:2]) == b"TX" and lens[0] == 64
            n += k
    assert n == 1000
    assert rx.recv_pair_drain_into(ids, id_lens, buf, lens) == 0


def test_send_dontwait_partial_count(ctx):
    push = ctx.socket(ringlink.PUSH, sndhwm=10)
    push.connect("tcp://127.0.0.1:9")  # never accepted: only the HWM's worth can be queued
    n = push.send_repeat(b"x", 100000, ringlink.DONTWAIT)
    assert 1 <= n < 100000
    with pytest.raises(ringlink.Again):
        push.send_repeat(b"x", 10, ringlink.DONTWAIT)
    with pytest.raises(ValueError):
        push.send_repeat(b"x", 1, ringlink.SNDMORE)


def test_batch_releases_gil(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    a.rcvtimeo = -1
    out = []
    t = threading.Thread(target=lambda: out.append(a.recv_many(10)))
    t.start()
    # The main thread keeps running while the worker blocks in recv_many (GIL released).
    b.send(b"wake")
    t.join(10)
    assert out == [[b"wake"]]


def test_recv_many_grows_scratch(ctx):
    a, b, _ = bind_connect(ctx, ringlink.PAIR, ringlink.PAIR)
    big = b"B" * (1 << 20)
    b.send(big)
    assert a.recv_many(4) == [big]
