"""ringlink.asyncio: awaitables on RL_FD/RL_EVENTS, async for, cancellation safety."""

from __future__ import annotations

import asyncio
import random

import pytest

import ringlink
import ringlink.asyncio as rla
from ringlink import _ringlink as _rl


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def make_pair(ctx, t_bind=ringlink.PULL, t_conn=ringlink.PUSH):
    a = ctx.socket(t_bind, linger=0)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b = ctx.socket(t_conn, linger=0)
    b.connect(f"tcp://127.0.0.1:{port}")
    return a, b


def test_send_recv_multipart_poll():
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx, ringlink.PAIR, ringlink.PAIR)
            assert await a.poll(20) == 0
            pending = asyncio.ensure_future(a.recv())
            await asyncio.sleep(0)
            assert not pending.done()
            await b.send(b"one")
            assert await pending == b"one"
            await b.send_multipart([b"x", b"y"])
            assert await a.recv_multipart() == [b"x", b"y"]
            await b.send_string("s")
            assert await a.recv_string() == "s"
            await b.send_json({"a": 1})
            assert await a.recv_json() == {"a": 1}
            await b.send(b"f")
            f = await a.recv(copy=False)
            assert f.bytes == b"f" and not f.more
            await b.send(b"p")
            assert await a.poll(10000) == ringlink.POLLIN
            assert await a.recv() == b"p"
            with pytest.raises(ringlink.Again):
                await a.recv(ringlink.DONTWAIT)

    run(main())


def _wait_fd_readable(fd):
    import select

    assert select.select([fd], [], [], 20)[0] == [fd], "readiness fd never fired"


def test_poll_survives_wakeup_consumed_by_final_events_read(monkeypatch):
    # The message arrives after the polls were checked but before the handler's last
    # RL_EVENTS read, which re-arms (drains) the fd: the waiting poll must still resolve.
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx, ringlink.PAIR, ringlink.PAIR)
            await b.send(b"warm")
            assert await a.recv() == b"warm"
            orig = rla.Socket._resolve_polls
            fired = []

            def resolve_then_deliver(self):
                orig(self)
                if self is a and not fired and self._poll_q:
                    fired.append(1)
                    _rl.Socket.send(b, b"late", ringlink.DONTWAIT)
                    _wait_fd_readable(a._fd)

            monkeypatch.setattr(rla.Socket, "_resolve_polls", resolve_then_deliver)
            assert await asyncio.wait_for(a.poll(), 20) == ringlink.POLLIN
            assert fired
            assert await a.recv() == b"late"

    run(main())


def test_events_read_while_waiting_keeps_the_wakeup():
    # A user reading EVENTS re-arms the fd; a pending receive must not lose its wake-up.
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx, ringlink.PAIR, ringlink.PAIR)
            pending = asyncio.ensure_future(a.recv())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not pending.done()
            await b.send(b"x")
            # Block the loop until the message is there, reading EVENTS as a user would:
            # the read that reports it also re-arms (drains) the fd the receive waits on.
            # (The fd also fires for other changes, e.g. the peer attaching.)
            while True:
                _wait_fd_readable(a._fd)
                if a.getsockopt(ringlink.SocketOption.EVENTS) & ringlink.POLLIN:
                    break
            assert await asyncio.wait_for(pending, 20) == b"x"

    run(main())


def test_async_for_and_recv_many():
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx)
            for i in range(2000):
                await b.send(b"%d" % i)
            got = []
            while len(got) < 2000:
                got += await a.recv_many(500)
            assert got == [b"%d" % i for i in range(2000)]
            await b.send_multipart([b"k", b"v"])
            async for msg in a:
                assert msg == [b"k", b"v"]
                break

    run(main())


def test_send_waits_for_room():
    async def main():
        with rla.Context() as ctx:
            a = ctx.socket(ringlink.PULL, linger=0, rcvhwm=5)
            port = a.bind_to_random_port("tcp://127.0.0.1")
            b = ctx.socket(ringlink.PUSH, linger=0, sndhwm=5)
            b.connect(f"tcp://127.0.0.1:{port}")
            n = 3000
            sender = asyncio.ensure_future(asyncio.gather(*(b.send(b"%d" % i) for i in range(n))))
            got = [await a.recv() for _ in range(n)]
            await sender
            assert sorted(got, key=int) == [b"%d" % i for i in range(n)]

    run(main())


def test_cancelled_waiter_takes_nothing():
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx)
            t = asyncio.ensure_future(a.recv())
            await asyncio.sleep(0)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            await b.send(b"kept")
            assert await a.recv() == b"kept"

    run(main())


def test_cancel_after_message_taken_is_not_lost():
    """The race: the waiter's future got its message, then the task is cancelled before it
    runs. The message must go to the next recv."""

    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx)
            t = asyncio.ensure_future(a.recv())
            await asyncio.sleep(0)  # t is queued as a waiter
            await b.send(b"precious")
            assert _rl.Socket.poll(a, 10000) == ringlink.POLLIN  # arrived (sync wait)
            a._handle_events()  # resolves t's future with the message ...
            t.cancel()  # ... and t is cancelled before it could run
            with pytest.raises(asyncio.CancelledError):
                await t
            assert await a.recv() == b"precious"

    run(main())


def test_random_cancellation_loses_nothing():
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx)
            n = 500
            rnd = random.Random(1234)
            got = []

            async def producer():
                for i in range(n):
                    await b.send_multipart([b"%d" % i, b"tail"])
                    if i % 50 == 0:
                        await asyncio.sleep(0)

            prod = asyncio.ensure_future(producer())
            while len(got) < n:
                t = asyncio.ensure_future(a.recv_multipart())
                for _ in range(rnd.randrange(3)):
                    await asyncio.sleep(0)
                if rnd.random() < 0.5:
                    t.cancel()
                try:
                    got.append(await t)
                except asyncio.CancelledError:
                    pass
            await prod
            assert got == [[b"%d" % i, b"tail"] for i in range(n)]

    run(main())


def test_close_cancels_pending():
    async def main():
        ctx = rla.Context()
        a, _b = make_pair(ctx)
        t = asyncio.ensure_future(a.recv())
        await asyncio.sleep(0)
        a.close()
        with pytest.raises(asyncio.CancelledError):
            await t
        ctx.destroy(linger=0)

    run(main())


def test_async_poller():
    async def main():
        with rla.Context() as ctx:
            a, b = make_pair(ctx, ringlink.PAIR, ringlink.PAIR)
            p = rla.Poller()
            p.register(a, ringlink.POLLIN)
            assert await p.poll(20) == []
            await b.send(b"x")
            assert await p.poll(10000) == [(a, ringlink.POLLIN)]

    run(main())


def test_inline_context_refused():
    with pytest.raises(ValueError):
        rla.Context(io_threads=0)
