"""ringlink.Socket: the native socket plus pyzmq-style conveniences (off the hot path)."""

from __future__ import annotations

import errno as _errno
import json
import pickle
import random
from typing import Any, Sequence

from . import _ringlink as _rl
from ._errors import RinglinkError
from ._monitor import Monitor
from .constants import Event, PollEvent, SocketOption, SocketType

__all__ = ["Socket"]

# Options that can only be written (no property getter) and those only read.
_WRITE_ONLY = {SocketOption.SUBSCRIBE, SocketOption.UNSUBSCRIBE, SocketOption.CONNECT_ROUTING_ID}
_READ_ONLY = {SocketOption.RCVMORE, SocketOption.FD, SocketOption.EVENTS, SocketOption.TYPE, SocketOption.LAST_ENDPOINT}


class Socket(_rl.Socket):
    """A ringlink socket, shaped like ``zmq.Socket``.

    Create it with ``ctx.socket(ringlink.PAIR)`` (or ``Socket(ctx, type)``). The hot path
    (``send``, ``recv``, ``recv_into``, ``send_multipart``, ``recv_multipart`` and the batch
    calls) is implemented in C; this class adds options as attributes (``sock.linger = 0``,
    ``sock.rcvhwm``, ``sock.routing_id``, ``sock.last_endpoint``...), string/JSON/pickle
    helpers, ``subscribe``, ``bind_to_random_port``, ``monitor`` and the context manager.
    """

    def __init__(self, context: Any, socket_type: int) -> None:
        super().__init__()
        add = getattr(context, "_add_socket", None)
        if add is not None:
            add(self)

    # ------------------------------------------------------------------ basics
    @property
    def type(self) -> SocketType:
        return SocketType(self.socket_type)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        try:
            t = SocketType(self.socket_type).name
        except ValueError:
            t = str(self.socket_type)
        return f"<{type(self).__module__}.{type(self).__name__}({t}) {state} at {id(self):#x}>"

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set(self, option: int, value: Any) -> None:
        """Alias of setsockopt."""
        self.setsockopt(option, value)

    def get(self, option: int) -> Any:
        """Alias of getsockopt."""
        return self.getsockopt(option)

    def setsockopt_string(self, option: int, value: str, encoding: str = "utf-8") -> None:
        self.setsockopt(option, value.encode(encoding))

    def getsockopt_string(self, option: int, encoding: str = "utf-8") -> str:
        return self.getsockopt(option).decode(encoding)

    set_string = setsockopt_string
    get_string = getsockopt_string

    @property
    def hwm(self) -> int:
        """SNDHWM (setting it sets SNDHWM and RCVHWM, as pyzmq)."""
        return self.getsockopt(SocketOption.SNDHWM)

    @hwm.setter
    def hwm(self, value: int) -> None:
        self.setsockopt(SocketOption.SNDHWM, value)
        self.setsockopt(SocketOption.RCVHWM, value)

    @property
    def identity(self) -> bytes:
        """Alias of routing_id (pyzmq's old name)."""
        return self.getsockopt(SocketOption.ROUTING_ID)

    @identity.setter
    def identity(self, value: bytes | str) -> None:
        self.setsockopt(SocketOption.ROUTING_ID, value)

    def subscribe(self, topic: bytes | str = b"") -> None:
        """SUB/XSUB: receive messages starting with topic (b"" = everything)."""
        self.setsockopt(SocketOption.SUBSCRIBE, topic)

    def unsubscribe(self, topic: bytes | str = b"") -> None:
        self.setsockopt(SocketOption.UNSUBSCRIBE, topic)

    def bind_to_random_port(
        self,
        addr: str,
        min_port: int = 49152,
        max_port: int = 65536,
        max_tries: int = 100,
    ) -> int:
        """Bind to a random port of ``addr`` (e.g. ``"tcp://127.0.0.1"``) and return it.

        With the default range the OS picks a free port (``addr:*``); otherwise ports in
        ``[min_port, max_port)`` are tried at random, up to ``max_tries`` times."""
        if min_port == 49152 and max_port == 65536:
            self.bind(f"{addr}:*")
            ep = self.last_endpoint.decode()
            return int(ep.rsplit(":", 1)[-1])
        for _ in range(max_tries):
            port = random.randrange(min_port, max_port)
            try:
                self.bind(f"{addr}:{port}")
            except RinglinkError as e:
                if e.errno in (_errno.EADDRINUSE, _errno.EACCES):
                    continue
                raise
            return port
        raise RinglinkError(_errno.EADDRINUSE, "could not bind socket to a random port")

    # ------------------------------------------------------------------ typed send/recv
    def send_string(self, u: str, flags: int = 0, copy: bool = True, encoding: str = "utf-8") -> None:
        if not isinstance(u, str):
            raise TypeError("send_string takes str")
        self.send(u.encode(encoding), flags)

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:
        return self.recv(flags).decode(encoding)

    send_unicode = send_string
    recv_unicode = recv_string

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> None:
        self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags)

    def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        return json.loads(self.recv(flags), **kwargs)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
        self.send(pickle.dumps(obj, protocol), flags)

    def recv_pyobj(self, flags: int = 0) -> Any:
        return pickle.loads(self.recv(flags))

    def send_serialized(self, msg: Any, serialize: Any, flags: int = 0, copy: bool = True) -> None:
        self.send_multipart(serialize(msg), flags)

    def recv_serialized(self, deserialize: Any, flags: int = 0, copy: bool = True) -> Any:
        return deserialize(self.recv_multipart(flags))

    # ------------------------------------------------------------------ monitor
    def monitor(self, events: int = Event.ALL) -> Monitor:  # type: ignore[override]
        """Start monitoring: returns a Monitor whose ``recv(timeout)`` gives MonitorEvents."""
        return Monitor(_rl.Socket.monitor(self, int(events)))

    def poll(self, timeout: float | None = None, flags: int = PollEvent.POLLIN) -> int:  # type: ignore[override]
        """Wait until the socket is ready for ``flags`` (POLLIN/POLLOUT); timeout in ms
        (None: no limit). Returns the ready events, 0 on timeout."""
        return _rl.Socket.poll(self, timeout, int(flags))


def _make_option_property(opt: SocketOption) -> property:
    def fget(self: Socket) -> Any:
        return self.getsockopt(opt)

    def fset(self: Socket, value: Any) -> None:
        self.setsockopt(opt, value)

    doc = f"Socket option {opt.name} ({int(opt)})."
    if opt in _WRITE_ONLY:
        return property(None, fset, doc=doc)
    if opt in _READ_ONLY:
        return property(fget, None, doc=doc)
    return property(fget, fset, doc=doc)


for _opt in SocketOption:
    _name = _opt.name.lower()
    if _name in ("type",) or _name in Socket.__dict__:  # keep methods (subscribe, ...)
        continue
    setattr(Socket, _name, _make_option_property(_opt))
del _opt, _name
