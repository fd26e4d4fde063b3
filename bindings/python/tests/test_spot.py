"""SPOT: SpotNode and SpotSub (local and remote delivery, patterns, batch receives and
publishes, handlers, a mesh through a registry and discovery).

Every endpoint is tcp://127.0.0.1:* read back from the bind; every wait is bounded (10 s) and
waits on an event (a receive with a timeout, a discovery), never on a sleep."""

from __future__ import annotations

import errno
import threading
from array import array

import pytest

import ringlink
from svc_helpers import ANY, T, registry, wait_count


def joined(pub_node, sub, topic):
    """Publish probes on `topic` until `sub` receives one (the subscription reached the
    remote publisher), then drain the probes (as services/tests/spot.rs)."""
    for _ in range(2000):
        pub_node.publish(topic, b"probe")
        try:
            sub.recv(timeout=10)
            break
        except ringlink.Again:
            pass
    else:
        raise AssertionError("the subscription never reached the publisher")
    while True:
        try:
            sub.recv(timeout=50)
        except ringlink.Again:
            return


def next_msg(sub):
    """The next message that is not a leftover probe."""
    while True:
        topic, parts = sub.recv(timeout=T)
        if parts != [b"probe"]:
            return topic, parts


def test_spot_local_and_remote_delivery(ctx):
    a, b = ringlink.SpotNode(ctx), ringlink.SpotNode(ctx)
    a_ep, b_ep = a.bind(ANY), b.bind(ANY)
    a.connect_peer(b_ep)
    b.connect_peer(a_ep)
    local = a.subscriber()
    local.subscribe("news")
    a.publish("news", [b"local", b"two parts"])
    assert local.recv(timeout=T) == (b"news", [b"local", b"two parts"])
    a.publish(b"other", b"not subscribed")
    with pytest.raises(ringlink.Again):
        local.recv(timeout=20)
    remote = ringlink.SpotSub(b)
    remote.subscribe("news")
    joined(a, remote, "news")
    a.publish("news", [b"remote", b"multi", b"part"])
    assert next_msg(remote) == (b"news", [b"remote", b"multi", b"part"])
    b.disconnect_peer(a_ep)
    with pytest.raises(ringlink.RinglinkError) as e:
        b.disconnect_peer(a_ep)
    assert e.value.errno == errno.ENOENT


def test_spot_patterns_and_unsubscribe(ctx):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    s.subscribe_pattern("prices.*")
    for t in ("prices.eur", "other", "prices.usd"):
        n.publish(t, t.encode())
    assert s.recv(timeout=T) == (b"prices.eur", [b"prices.eur"])
    assert s.recv(timeout=T) == (b"prices.usd", [b"prices.usd"])
    with pytest.raises(ringlink.Again):
        s.recv(flags=ringlink.DONTWAIT)
    s.unsubscribe("prices.*")
    n.publish("prices.gbp", b"x")
    with pytest.raises(ringlink.Again):
        s.recv(timeout=20)


def test_spot_recv_many_and_publish_many_const(ctx):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    s.subscribe("t")
    s.subscribe("u")
    for i in range(100):
        n.publish("t" if i % 2 else "u", str(i).encode())
    got = []
    while len(got) < 100:
        got += s.recv_many(64, timeout=T)
    assert got == [(b"t" if i % 2 else b"u", str(i).encode()) for i in range(100)]
    # Multipart: recv_many concatenates the parts of a message.
    n.publish("t", [b"ab", b"cd"])
    assert s.recv_many(10, timeout=T) == [(b"t", b"abcd")]
    # Counted batch publish (local), taken back in batches.
    total = 5000
    assert n.publish_many_const("t", b"x" * 64, total) == total
    count = 0
    while count < total:
        batch = s.recv_many(1024, timeout=T)
        assert all(m == (b"t", b"x" * 64) for m in batch)
        count += len(batch)
    assert count == total
    # A payload larger than the buffer: the buffer grows.
    n.publish("t", b"y" * 1_000_000)
    assert s.recv_many(4, timeout=T) == [(b"t", b"y" * 1_000_000)]
    with pytest.raises(ringlink.Again):
        s.recv_many(4, timeout=0)
    with pytest.raises(ValueError):
        s.recv_many(0)


def test_spot_recv_many_into_caller_buffers(ctx):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    s.subscribe("t")
    s.subscribe("uu")
    for i in range(100):
        n.publish("t" if i % 2 else "uu", str(i).encode())
    n.publish("t", [b"ab", b"cd"])  # multipart: the parts concatenated
    tb, pb = bytearray(4096), bytearray(4096)
    tl, pl = array("Q", bytes(8 * 64)), array("Q", bytes(8 * 64))
    got = []
    while len(got) < 101:
        k = s.recv_many_into(tb, tl, pb, pl, timeout=T)
        assert 1 <= k <= 64
        to = po = 0
        for i in range(k):
            got.append((bytes(tb[to:to + tl[i]]), bytes(pb[po:po + pl[i]])))
            to += tl[i]
            po += pl[i]
    want = [(b"t" if i % 2 else b"uu", str(i).encode()) for i in range(100)]
    assert got == want + [(b"t", b"abcd")]
    # A batch stops where the payload buffer is full; the rest stays queued, in order.
    assert n.publish_many_const("t", b"x" * 100, 10) == 10
    small = bytearray(350)
    assert s.recv_many_into(tb, tl, small, pl, timeout=T) == 3
    assert list(pl[:3]) == [100] * 3 and bytes(small[:300]) == b"x" * 300
    assert s.recv_many_into(tb, tl, pb, pl, timeout=T) == 7
    # A first message larger than the buffer: an error, and it stays queued.
    n.publish("t", b"y" * 1000)
    with pytest.raises(ringlink.RinglinkError) as e:
        s.recv_many_into(tb, tl, small, pl, timeout=T)
    assert e.value.errno == errno.EMSGSIZE
    assert s.recv_many_into(tb, tl, pb, pl, timeout=T) == 1 and bytes(pb[:1000]) == b"y" * 1000
    with pytest.raises(ringlink.Again):
        s.recv_many_into(tb, tl, pb, pl, timeout=0)
    with pytest.raises(TypeError):
        s.recv_many_into(tb, array("i", [0] * 4), pb, pl)
    with pytest.raises(BufferError):
        s.recv_many_into(b"read-only", tl, pb, pl)
    s.close()
    with pytest.raises(ringlink.RinglinkError):
        s.recv_many_into(tb, tl, pb, pl, timeout=0)


def publish_and_count(node, sub, topic, total, batch):
    """Publish `total` 64 B messages on `topic` in one call, then count what `sub` receives
    (late probes skipped) until `total` arrived; a missing message fails on the timeout."""
    assert node.publish_many_const(topic, b"z" * 64, total) == total
    count = 0
    while count < total:
        count += sum(1 for m in sub.recv_many(batch, timeout=T) if m[1] != b"probe")
    return count


def test_spot_publish_many_const_remote_counted(ctx):
    a, b = ringlink.SpotNode(ctx), ringlink.SpotNode(ctx)
    b.connect_peer(a.bind(ANY))
    s = b.subscriber()
    s.subscribe("bulk")
    joined(a, s, "bulk")
    # 500: below the PUB's high-water mark, nothing is dropped
    assert publish_and_count(a, s, "bulk", 500, 256) == 500


def test_spot_node_hwm_options_burst_arrives_whole(ctx):
    """sndhwm=0 on the publishing node and rcvhwm=0 on the receiving one: a burst far above
    the default high-water mark (1000) crosses nodes whole (nothing is dropped)."""
    a = ringlink.SpotNode(ctx, sndhwm=0)
    b = ringlink.SpotNode(ctx, rcvhwm=0)
    b.connect_peer(a.bind(ANY))
    s = b.subscriber()
    s.subscribe("burst")
    joined(a, s, "burst")
    assert publish_and_count(a, s, "burst", 20000, 1024) == 20000


def test_spot_node_drop_counters(ctx):
    """dropped(): a local subscriber that does not read holds 100,000 messages.
    publisher_dropped(): a peer that does not read holds a few messages (two in each pipe,
    small kernel buffers), so most of a 64 KiB burst is dropped at the PUB; what arrives
    plus what it counted is the burst, in order (as services/tests/spot.rs)."""
    a = ringlink.SpotNode(ctx)
    assert (a.dropped(), a.publisher_dropped()) == (0, 0)
    a.setsockopt("pub", ringlink.SNDHWM, 2)  # reading the counters did not start the node
    a.setsockopt("pub", ringlink.SNDBUF, 4096)
    local = a.subscriber()
    local.subscribe("q")
    assert a.publish_many_const("q", b"x", 100_010) == 100_010
    assert a.dropped() == 10
    local.close()

    b = ringlink.SpotNode(ctx, rcvhwm=2)
    b.setsockopt("sub", ringlink.RCVBUF, 4096)
    b.connect_peer(a.bind(ANY))
    s = b.subscriber()
    s.subscribe("big")
    joined(a, s, "big")
    before = a.publisher_dropped()
    body = bytes([5]) * (64 << 10)
    burst = 200
    for i in range(burst):
        a.publish("big", [i.to_bytes(4, "big"), body])
    dropped = a.publisher_dropped() - before
    assert dropped >= burst // 2
    last = -1
    for _ in range(burst - dropped):
        _, parts = next_msg(s)
        i = int.from_bytes(parts[0], "big")
        assert i > last and parts[1] == body
        last = i
    while True:  # only probes still in flight may be left (they are ahead of the burst)
        try:
            _, parts = s.recv(timeout=0)
        except ringlink.Again:
            break
        assert parts == [b"probe"]
    assert b.dropped() == 0
    for x in (s, a, b):
        x.close()


def test_spot_node_setsockopt(ctx):
    n = ringlink.SpotNode(ctx)
    n.setsockopt("pub", ringlink.SNDHWM, 10)
    n.setsockopt(ringlink.SPOT_NODE_SUB, ringlink.RCVHWM, 20)
    with pytest.raises(ValueError):
        n.setsockopt("router", ringlink.SNDHWM, 1)
    with pytest.raises(ringlink.RinglinkError) as e:
        n.setsockopt(7, ringlink.SNDHWM, 1)  # unknown role
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        n.setsockopt("pub", ringlink.SNDHWM, "10")
    n.bind(ANY)  # the node starts
    with pytest.raises(ringlink.RinglinkError) as e:
        n.setsockopt("pub", ringlink.SNDHWM, 0)
    assert e.value.errno == ringlink.EFSM
    with pytest.raises(TypeError):
        ringlink.SpotNode(ctx, sndhwm="x")


def test_spot_handler(ctx, monkeypatch):
    n = ringlink.SpotNode(ctx)
    s = n.subscriber()
    s.subscribe("h")
    s.subscribe("echo")
    got = []
    done = threading.Event()
    main = threading.get_ident()

    def handler(topic, parts):
        assert threading.get_ident() != main
        got.append((topic, parts))
        if topic == b"h":
            n.publish("echo", parts)  # a handler may publish on its node
        if len(got) == 20:
            done.set()

    s.set_handler(handler)
    assert s.handler is handler
    with pytest.raises(ringlink.RinglinkError) as e:
        s.recv(timeout=0)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ringlink.RinglinkError) as e:
        s.recv_many(10, timeout=0)
    assert e.value.errno == errno.EINVAL
    for i in range(10):
        n.publish("h", [b"m", bytes([i])])
    assert done.wait(T / 1000)
    assert sorted(got) == sorted([(b"h", [b"m", bytes([i])]) for i in range(10)] +
                                 [(b"echo", [b"m", bytes([i])]) for i in range(10)])
    s.set_handler(None)  # returns once the handler is not running
    assert s.handler is None
    n.publish("h", b"after")
    assert s.recv(timeout=T) == (b"h", [b"after"])
    # A handler that raises is reported (sys.unraisablehook) and the subscriber goes on.
    seen = threading.Event()
    reported = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: reported.append(u.exc_type))

    def bad(topic, parts):
        if parts == [b"ok"]:
            seen.set()
        raise RuntimeError("handler failure")

    s.set_handler(bad)
    n.publish("h", b"boom")
    n.publish("h", b"ok")
    assert seen.wait(T / 1000)
    s.close()  # with a handler set: waits for a call in progress
    assert reported == [RuntimeError, RuntimeError]
    with pytest.raises(TypeError):
        n.subscriber().set_handler(42)


def test_spot_mesh_through_registry_and_discovery(ctx):
    reg = registry(ctx)
    a = ringlink.SpotNode(ctx, registry=reg.router_endpoint)
    b = ringlink.SpotNode(ctx, registry=reg.router_endpoint)
    a.bind(ANY)
    b.bind(ANY)
    adv_a, adv_b = a.register("mesh"), b.register("mesh")
    assert adv_a.startswith("tcp://127.0.0.1:") and adv_a != adv_b
    d = ringlink.Discovery(ctx, "spot", registry=reg.pub_endpoint)
    d.subscribe("mesh")
    seen = d.wait_available("mesh", T)
    while seen < 2:
        seen = wait_count(d, "mesh", 2)
    assert sorted(p[0] for p in d.providers("mesh")) == sorted([adv_a, adv_b])
    a.set_discovery(d, "mesh")
    b.set_discovery(d, "mesh")
    sb = b.subscriber()
    sb.subscribe("mesh.topic")
    joined(a, sb, "mesh.topic")
    a.publish("mesh.topic", b"through the mesh")
    assert next_msg(sb) == (b"mesh.topic", [b"through the mesh"])
    a.unregister("mesh")
    b.unregister()  # "spot-node", never registered: no answer, no error


# ------------------------------------------------------------------------------ errors
