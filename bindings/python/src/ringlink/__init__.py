"""ringlink: Python binding of the ringlink messaging engine (libzmq/ZMTP-3.1 compatible).

pyzmq-shaped::

    import ringlink
    ctx = ringlink.Context()
    push = ctx.socket(ringlink.PUSH); push.bind("tcp://127.0.0.1:5555")
    pull = ctx.socket(ringlink.PULL); pull.connect("tcp://127.0.0.1:5555")
    push.send(b"hello"); assert pull.recv() == b"hello"

plus batch fast paths (``send_many``, ``send_repeat``, ``recv_many_into``,
``recv_pair_many_into``, ``recv_pair_drain_into``, ...), ``ringlink.asyncio`` and the service
layer (``Registry``, ``Discovery``, ``Receiver``, ``Gateway``, ``SpotNode``, ``SpotSub``).
"""

from __future__ import annotations

from . import _ringlink
from ._context import Context
from ._errors import Again, ContextTerminated, MessageTooLarge, RinglinkError
from ._monitor import Monitor, MonitorEvent
from ._poll import Poller, select
from ._ringlink import Frame, library_version, poll, proxy, proxy_steerable, strerror
from ._services import (
    LB_ROUND_ROBIN,
    LB_WEIGHTED,
    SERVICE_GATEWAY,
    SERVICE_SPOT,
    SPOT_NODE_PUB,
    SPOT_NODE_SUB,
    Discovery,
    Gateway,
    Receiver,
    Registry,
    SpotNode,
    SpotSub,
)
from ._socket import Socket
from .constants import ContextOption, Errno, Event, Flag, PollEvent, SocketOption, SocketType

__version__ = "0.1.0"

Message = Frame

# Module-level aliases, as in pyzmq (ringlink.PAIR, ringlink.DONTWAIT, ringlink.LINGER, ...).
for _enum in (SocketType, SocketOption, Flag, PollEvent, ContextOption, Errno):
    for _m in _enum:
        globals().setdefault(_m.name, _m)
for _m in Event:
    globals()["EVENT_" + _m.name] = _m
del _enum, _m

IO_THREADS = ContextOption.IO_THREADS
CTX_IPV6 = ContextOption.IPV6
MORE = _ringlink.MORE
ROUTING_ID_MAX = _ringlink.ROUTING_ID_MAX
STREAM_FRAMING_RAW = _ringlink.STREAM_FRAMING_RAW
STREAM_FRAMING_LENGTH_PREFIXED = _ringlink.STREAM_FRAMING_LENGTH_PREFIXED
BACKEND_AUTO = _ringlink.BACKEND_AUTO
BACKEND_URING = _ringlink.BACKEND_URING
BACKEND_EPOLL = _ringlink.BACKEND_EPOLL
DISCONNECT_REMOTE = _ringlink.DISCONNECT_REMOTE
DISCONNECT_LOCAL = _ringlink.DISCONNECT_LOCAL
DISCONNECT_HANDSHAKE = _ringlink.DISCONNECT_HANDSHAKE
DISCONNECT_TRANSPORT = _ringlink.DISCONNECT_TRANSPORT

ZMQError = RinglinkError  # for code ported from pyzmq


def ringlink_version_info() -> tuple[int, int, int]:
    """The version of libringlink this package was built with."""
    return library_version()


__all__ = [
    "Context", "Socket", "Frame", "Message", "Poller", "Monitor", "MonitorEvent", "poll", "select",
    "proxy", "proxy_steerable", "RinglinkError", "ZMQError", "Again", "ContextTerminated",
    "MessageTooLarge", "SocketType", "SocketOption", "Flag", "PollEvent", "Event",
    "ContextOption", "Errno", "strerror", "library_version", "ringlink_version_info",
    "Registry", "Discovery", "Receiver", "Gateway", "SpotNode", "SpotSub", "SERVICE_GATEWAY",
    "SERVICE_SPOT", "LB_ROUND_ROBIN", "LB_WEIGHTED", "SPOT_NODE_PUB", "SPOT_NODE_SUB",
]
