"""Poller (like zmq.Poller) and select()."""

from __future__ import annotations

from typing import Any

from . import _ringlink as _rl
from .constants import PollEvent

__all__ = ["Poller", "select"]


def _fd_of(obj: Any) -> Any:
    if isinstance(obj, _rl.Socket) or isinstance(obj, int):
        return obj
    if hasattr(obj, "fileno"):
        return obj
    raise TypeError(f"cannot poll {obj!r}: not a ringlink Socket, an fd or an object with fileno()")


class Poller:
    """Wait on many sockets and file descriptors at once.

    ``register(sock_or_fd, flags=POLLIN|POLLOUT)``, ``modify``, ``unregister``; ``poll(timeout)``
    (milliseconds, None = no limit) returns a list of ``(socket_or_fd, events)`` pairs for the
    ready ones, like pyzmq."""

    def __init__(self) -> None:
        self.sockets: list[tuple[Any, int]] = []
        self._map: dict[Any, int] = {}
        self._items: tuple = ()

    def __contains__(self, sock: Any) -> bool:
        return sock in self._map

    def register(self, socket: Any, flags: int = PollEvent.POLLIN | PollEvent.POLLOUT) -> None:
        _fd_of(socket)
        if flags:
            if socket in self._map:
                self.sockets[self._map[socket]] = (socket, int(flags))
            else:
                self._map[socket] = len(self.sockets)
                self.sockets.append((socket, int(flags)))
            self._items = tuple(self.sockets)
        elif socket in self._map:
            self.unregister(socket)

    def modify(self, socket: Any, flags: int = PollEvent.POLLIN | PollEvent.POLLOUT) -> None:
        self.register(socket, flags)

    def unregister(self, socket: Any) -> None:
        idx = self._map.pop(socket)
        self.sockets.pop(idx)
        for s, i in list(self._map.items()):
            if i > idx:
                self._map[s] = i - 1
        self._items = tuple(self.sockets)

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Ready (socket_or_fd, events) pairs; timeout in ms (None or negative: wait)."""
        return _rl.poll(self._items, timeout)


def select(rlist: list, wlist: list, xlist: list, timeout: float | None = None) -> tuple[list, list, list]:
    """Like zmq.select: timeout in seconds (None: wait)."""
    items: dict[Any, int] = {}
    for s in rlist:
        items[s] = items.get(s, 0) | PollEvent.POLLIN
    for s in wlist:
        items[s] = items.get(s, 0) | PollEvent.POLLOUT
    for s in xlist:
        items[s] = items.get(s, 0) | PollEvent.POLLERR
    ms = None if timeout is None else int(timeout * 1000)
    ready = _rl.poll([(s, int(f)) for s, f in items.items()], ms)
    r = [s for s, ev in ready if ev & PollEvent.POLLIN]
    w = [s for s, ev in ready if ev & PollEvent.POLLOUT]
    x = [s for s, ev in ready if ev & PollEvent.POLLERR]
    return r, w, x
