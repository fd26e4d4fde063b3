"""asyncio support: ``ringlink.asyncio.Context`` / ``Socket`` with awaitable send/recv.

Built on the socket's readiness descriptor (``RL_FD``) registered with ``loop.add_reader``
and ``RL_EVENTS``: the descriptor is edge style, so whenever it fires (and whenever a new
operation is queued) the socket reads ``RL_EVENTS`` (which re-arms the descriptor) and runs
the queued operations with ``DONTWAIT`` until one fails with ``EAGAIN``.

Cancellation safety: a queued receive takes a message only for a waiter whose future is not
cancelled, and if the awaiting task is cancelled after its message was taken (the race
between ``set_result`` and ``Task.cancel``), the message goes back to the front of the
socket's stash and is delivered to the next receive. No message is lost.

Example::

    import asyncio, ringlink, ringlink.asyncio

    async def main():
        ctx = ringlink.asyncio.Context()
        pull = ctx.socket(ringlink.PULL); port = pull.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(ringlink.PUSH); push.connect(f"tcp://127.0.0.1:{port}")
        await push.send(b"hi")
        print(await pull.recv())
        async for parts in pull:      # each message as a list of frames
            ...
"""

from __future__ import annotations

import asyncio
import json
import pickle
from collections import deque
from typing import Any, Deque, List, Optional

from . import _ringlink as _rl
from ._context import Context as _SyncContext
from ._errors import Again
from ._socket import Socket as _SyncSocket
from .constants import Flag, PollEvent, SocketOption

__all__ = ["Context", "Socket", "Poller"]

_DONTWAIT = int(Flag.DONTWAIT)
_POLLIN = int(PollEvent.POLLIN)
_POLLOUT = int(PollEvent.POLLOUT)

_sync_send = _rl.Socket.send
_sync_recv = _rl.Socket.recv
_sync_send_multipart = _rl.Socket.send_multipart
_sync_recv_multipart = _rl.Socket.recv_multipart
_sync_recv_many = _rl.Socket.recv_many
_sync_getsockopt = _rl.Socket.getsockopt
_sync_close = _rl.Socket.close


class _Waiter:
    __slots__ = ("fut", "kind", "flags", "copy", "arg", "taken")

    def __init__(self, fut: asyncio.Future, kind: str, flags: int, copy: bool, arg: Any) -> None:
        self.fut = fut
        self.kind = kind
        self.flags = flags
        self.copy = copy
        self.arg = arg
        self.taken: list = []  # (bytes, more) frames handed to this waiter


class Socket(_SyncSocket):
    """A socket whose ``send``, ``recv``, ``send_multipart``, ``recv_multipart``, ``poll`` and
    ``recv_many`` are awaitable; ``async for parts in sock`` yields messages as lists of frames.
    The batch send calls and the ``*_into`` receives stay synchronous (they never block with
    ``DONTWAIT``)."""

    def __init__(self, context: Any, socket_type: int) -> None:
        super().__init__(context, socket_type)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd: Optional[int] = None
        self._recv_q: Deque[_Waiter] = deque()
        self._send_q: Deque[_Waiter] = deque()
        self._poll_q: List[tuple] = []
        self._stash: Deque[tuple] = deque()  # (bytes, more) taken but not delivered
        self._scheduled = False

    # ------------------------------------------------------------------ loop plumbing
    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._fd = _sync_getsockopt(self, SocketOption.FD)
            loop.add_reader(self._fd, self._handle_events)
        elif self._loop is not loop:
            raise RuntimeError("this ringlink.asyncio socket is used by another event loop")
        return loop

    def _schedule(self) -> None:
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._handle_events)

    def _take(self, w: _Waiter) -> Any:
        """Run w's receive now (DONTWAIT); returns the result, raises Again if nothing."""
        if w.kind == "recv":
            if self._stash:
                data, more = self._stash.popleft()
            else:
                f = _sync_recv(self, w.flags | _DONTWAIT, copy=False)
                data, more = f.bytes, f.more
            w.taken = [(data, more)]
            return data if w.copy else _rl.Frame(data, more)
        if w.kind == "recv_multipart":
            frames: list = []
            while self._stash:
                data, more = self._stash.popleft()
                frames.append((data, more))
                if not more:
                    break
            if not frames:
                parts = _sync_recv_multipart(self, w.flags | _DONTWAIT)
                frames = [(p, i + 1 < len(parts)) for i, p in enumerate(parts)]
            elif frames[-1][1]:
                # The rest of a message put back by a cancelled recv: queued with it.
                parts = _sync_recv_multipart(self, 0)
                frames += [(p, i + 1 < len(parts)) for i, p in enumerate(parts)]
            w.taken = frames
            return [d if w.copy else _rl.Frame(d, m) for d, m in frames]
        # recv_many
        if self._stash:
            out = []
            while self._stash and len(out) < w.arg:
                out.append(self._stash.popleft())
            w.taken = out
            return [d for d, _ in out]
        lst = _sync_recv_many(self, w.arg, w.flags | _DONTWAIT)
        w.taken = [(d, False) for d in lst]
        return lst

    def _unreceive(self, w: _Waiter) -> None:
        """w's task was cancelled after its message was taken: put the frames back in front."""
        self._stash.extendleft(reversed(w.taken))
        w.taken = []
        self._schedule()

    def _handle_events(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        _sync_getsockopt(self, SocketOption.EVENTS)  # re-arms the descriptor
        q = self._recv_q
        while q:
            w = q[0]
            if w.fut.done():
                q.popleft()
                continue
            try:
                result = self._take(w)
            except Again:
                break
            except Exception as e:  # noqa: BLE001 - handed to the waiter
                q.popleft()
                w.fut.set_exception(e)
                continue
            q.popleft()
            w.fut.set_result(result)
        q = self._send_q
        while q:
            w = q[0]
            if w.fut.done():
                q.popleft()
                continue
            try:
                if w.kind == "send":
                    _sync_send(self, w.arg, w.flags | _DONTWAIT)
                else:
                    _sync_send_multipart(self, w.arg, w.flags | _DONTWAIT)
            except Again:
                break
            except Exception as e:  # noqa: BLE001
                q.popleft()
                w.fut.set_exception(e)
                continue
            q.popleft()
            w.fut.set_result(None)
        if self._poll_q:
            self._resolve_polls()
        # Edge style: readiness that arrived while the queues ran may have been consumed by
        # the EVENTS read above without a new wake-up; read it again (this also re-arms the
        # descriptor) and run once more if an operation can now go on.
        # Waiting polls count too: their readiness may be what that read just consumed.
        ev = self._current_events()
        if (
            (ev & _POLLIN and self._recv_q)
            or (ev & _POLLOUT and self._send_q)
            or any(ev & flags for _fut, flags, _timer in self._poll_q)
        ):
            self._schedule()

    def getsockopt(self, option: int) -> Any:  # type: ignore[override]
        """As the synchronous ``getsockopt``; reading ``EVENTS`` re-arms the readiness fd, so
        queued operations and polls get a turn afterwards (their wake-up may have been it)."""
        value = _sync_getsockopt(self, option)
        if option == SocketOption.EVENTS and (self._recv_q or self._send_q or self._poll_q):
            self._schedule()
        return value

    def _current_events(self) -> int:
        ev = _sync_getsockopt(self, SocketOption.EVENTS)
        if self._stash:
            ev |= _POLLIN
        return ev

    def _resolve_polls(self) -> None:
        ev = self._current_events()
        keep = []
        for fut, flags, timer in self._poll_q:
            if fut.done():
                if timer is not None:
                    timer.cancel()
                continue
            if ev & flags:
                if timer is not None:
                    timer.cancel()
                fut.set_result(ev & flags)
            else:
                keep.append((fut, flags, timer))
        self._poll_q = keep

    async def _wait(self, w: _Waiter) -> Any:
        try:
            return await w.fut
        except asyncio.CancelledError:
            if w.fut.done() and not w.fut.cancelled() and w.fut.exception() is None and w.taken:
                self._unreceive(w)
            raise

    def _queue_recv(self, kind: str, flags: int, copy: bool, arg: Any) -> Any:
        loop = self._get_loop()
        w = _Waiter(loop.create_future(), kind, flags, copy, arg)
        if not self._recv_q:
            try:
                return self._take(w), None
            except Again:
                if flags & _DONTWAIT:
                    raise
        self._recv_q.append(w)
        self._schedule()
        return None, w

    # ------------------------------------------------------------------ awaitables
    async def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:  # type: ignore[override]
        res, w = self._queue_recv("recv", flags, copy, None)
        return res if w is None else await self._wait(w)

    async def recv_multipart(self, flags: int = 0, copy: bool = True, track: bool = False) -> list:  # type: ignore[override]
        res, w = self._queue_recv("recv_multipart", flags, copy, None)
        return res if w is None else await self._wait(w)

    async def recv_many(self, max: int = 1024, flags: int = 0) -> list:  # type: ignore[override]
        """Wait for at least one message, then take up to ``max`` frames in one call."""
        if max < 1:
            raise ValueError("max must be >= 1")
        res, w = self._queue_recv("recv_many", flags, True, max)
        return res if w is None else await self._wait(w)

    async def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False) -> None:  # type: ignore[override]
        await self._queue_send("send", data, flags)

    async def send_multipart(self, msg_parts: Any, flags: int = 0, copy: bool = True, track: bool = False) -> None:  # type: ignore[override]
        await self._queue_send("send_multipart", list(msg_parts), flags)

    async def _queue_send(self, kind: str, data: Any, flags: int) -> None:
        loop = self._get_loop()
        if not self._send_q:
            try:
                if kind == "send":
                    _sync_send(self, data, flags | _DONTWAIT)
                else:
                    _sync_send_multipart(self, data, flags | _DONTWAIT)
                return
            except Again:
                if flags & _DONTWAIT:
                    raise
        w = _Waiter(loop.create_future(), kind, flags, True, data)
        self._send_q.append(w)
        self._schedule()
        await w.fut

    async def poll(self, timeout: float | None = None, flags: int = PollEvent.POLLIN) -> int:  # type: ignore[override]
        """Wait until the socket is ready for ``flags``; timeout in ms (None: no limit).
        Returns the ready events (0 on timeout)."""
        loop = self._get_loop()
        flags = int(flags)
        ev = self._current_events() & flags
        if ev or timeout == 0:
            return ev
        fut = loop.create_future()
        timer = None
        if timeout is not None and timeout >= 0:
            timer = loop.call_later(timeout / 1000.0, lambda: fut.done() or fut.set_result(0))
        self._poll_q.append((fut, flags, timer))
        self._schedule()
        try:
            return await fut
        finally:
            if timer is not None:
                timer.cancel()

    async def send_string(self, u: str, flags: int = 0, copy: bool = True, encoding: str = "utf-8") -> None:  # type: ignore[override]
        await self.send(u.encode(encoding), flags)

    async def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:  # type: ignore[override]
        return (await self.recv(flags)).decode(encoding)

    async def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> None:  # type: ignore[override]
        await self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags)

    async def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:  # type: ignore[override]
        return json.loads(await self.recv(flags), **kwargs)

    async def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:  # type: ignore[override]
        await self.send(pickle.dumps(obj, protocol), flags)

    async def recv_pyobj(self, flags: int = 0) -> Any:  # type: ignore[override]
        return pickle.loads(await self.recv(flags))

    def __aiter__(self) -> "Socket":
        return self

    async def __anext__(self) -> list:
        if self.closed:
            raise StopAsyncIteration
        return await self.recv_multipart()

    def close(self, linger: int | None = None) -> None:  # type: ignore[override]
        """Close the socket; pending operations are cancelled."""
        if self.closed:
            return
        if self._loop is not None and self._fd is not None:
            try:
                self._loop.remove_reader(self._fd)
            except Exception:  # the loop may be closed already
                pass
        _sync_close(self, linger=linger)
        for q in (self._recv_q, self._send_q):
            while q:
                q.popleft().fut.cancel()
        for fut, _flags, timer in self._poll_q:
            if timer is not None:
                timer.cancel()
            fut.cancel()
        self._poll_q = []


class Context(_SyncContext):
    """A context whose sockets are ``ringlink.asyncio.Socket`` (needs io_threads >= 1)."""

    _socket_class = Socket
    _instance = None

    def __init__(self, io_threads: int = 1) -> None:
        if io_threads < 1:
            raise ValueError("ringlink.asyncio needs io_threads >= 1 (inline mode cannot drive an event loop)")
        super().__init__(io_threads)


class Poller:
    """An awaitable Poller over ringlink.asyncio sockets: ``await poller.poll(timeout_ms)``."""

    def __init__(self) -> None:
        self._items: dict = {}

    def register(self, socket: Socket, flags: int = PollEvent.POLLIN | PollEvent.POLLOUT) -> None:
        self._items[socket] = int(flags)

    def modify(self, socket: Socket, flags: int = PollEvent.POLLIN | PollEvent.POLLOUT) -> None:
        self.register(socket, flags)

    def unregister(self, socket: Socket) -> None:
        del self._items[socket]

    async def poll(self, timeout: float | None = None) -> list:
        ready = [(s, s._current_events() & f) for s, f in self._items.items()]
        ready = [(s, e) for s, e in ready if e]
        if ready or timeout == 0:
            return ready
        tasks = {asyncio.ensure_future(s.poll(None, f)): s for s, f in self._items.items()}
        try:
            done, _ = await asyncio.wait(tasks, timeout=None if timeout is None or timeout < 0 else timeout / 1000.0,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
        return [(tasks[t], t.result()) for t in done if not t.cancelled() and t.result()]
