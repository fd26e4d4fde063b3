"""Socket monitors: events as a NamedTuple instead of libzmq's two-frame messages."""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple

from ._errors import Again, ContextTerminated
from .constants import Event

__all__ = ["Monitor", "MonitorEvent"]


class MonitorEvent(NamedTuple):
    event: Event
    value: int
    reason: int
    endpoint: str
    detail: str
    peer_routing_id: bytes


class Monitor:
    """Events of one socket (``sock.monitor(events)``). Thread-safe; outlives the socket.

    ``recv(timeout=None)`` returns the next :class:`MonitorEvent` (timeout in ms; raises
    ``Again`` on timeout and ``ContextTerminated`` once the socket was closed and every event
    was read, ``MONITOR_STOPPED`` last). Iterating yields events until then. ``fd`` polls
    readable when events may be queued (drain with ``recv(0)`` until ``Again``)."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def recv(self, timeout: float | None = None) -> MonitorEvent:
        ev, value, reason, endpoint, detail, rid = self._native.recv(timeout)
        try:
            ev = Event(ev)
        except ValueError:
            pass
        return MonitorEvent(ev, value, reason, endpoint, detail, rid)

    def __iter__(self) -> Iterator[MonitorEvent]:
        """Every event until the monitor reports ContextTerminated (the socket was closed and
        every event, MONITOR_STOPPED included, was read)."""
        while True:
            try:
                ev = self.recv()
            except ContextTerminated:
                return
            yield ev

    def drain(self) -> list[MonitorEvent]:
        """Every event queued now (no wait)."""
        out = []
        while True:
            try:
                out.append(self.recv(0))
            except (Again, ContextTerminated):
                return out

    @property
    def fd(self) -> int:
        return self._native.fd

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
