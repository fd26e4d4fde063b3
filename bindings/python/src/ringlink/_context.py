"""ringlink.Context: the native context plus socket tracking, instance(), destroy()."""

from __future__ import annotations

import atexit
import errno as _errno
import os
import threading
import warnings
import weakref
from typing import Any, ClassVar, TypeVar

from . import _ringlink as _rl
from ._errors import RinglinkError
from ._socket import Socket
from .constants import ContextOption

__all__ = ["Context"]

_exiting = False


def _notice_atexit() -> None:
    global _exiting
    _exiting = True


atexit.register(_notice_atexit)

_C = TypeVar("_C", bound="Context")


class Context(_rl.Context):
    """A ringlink context, shaped like ``zmq.Context``.

    ``Context(io_threads=1)``: the number of reactor (I/O) threads; 0 selects ringlink's
    inline mode (no reactor thread: asyncio sockets and readiness fds do not work then).
    ``socket(type)`` makes sockets; ``term()`` blocks until every socket is closed;
    ``destroy(linger=None)`` closes them all first. As a context manager it destroys the
    context on exit."""

    _socket_class: ClassVar[type] = Socket
    _instance: ClassVar[Any] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()
    _instance_pid: ClassVar[int | None] = None

    def __init__(self, io_threads: int = 1) -> None:
        super().__init__()
        self._sockets: weakref.WeakSet[Socket] = weakref.WeakSet()
        self._sockopts: dict[int, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def instance(cls: type[_C], io_threads: int = 1) -> _C:
        """The process-wide shared Context (made on first use, again after fork or term)."""
        inst = cls._instance
        if inst is None or inst.closed or cls._instance_pid != os.getpid():
            with cls._instance_lock:
                inst = cls._instance
                if inst is None or inst.closed or cls._instance_pid != os.getpid():
                    inst = cls(io_threads=io_threads)
                    cls._instance = inst
                    cls._instance_pid = os.getpid()
        return inst

    def _add_socket(self, sock: Socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def socket(self, socket_type: int, socket_class: type | None = None, **kwargs: Any) -> Any:
        """A new socket of ``socket_type``; keyword arguments set options
        (``ctx.socket(ringlink.PUSH, linger=0, sndhwm=10)``), after the defaults set with
        ``ctx.setsockopt``."""
        if self.closed:
            raise RinglinkError(_rl.ETERM)
        cls = socket_class or self._socket_class
        s = cls(self, socket_type)
        try:
            for opt, value in self._sockopts.items():
                s.setsockopt(opt, value)
            for name, value in kwargs.items():
                if not isinstance(getattr(type(s), name, None), property):
                    raise TypeError(f"socket(): unknown socket option {name!r}")
                setattr(s, name, value)
        except BaseException:
            s.close(linger=0)
            raise
        return s

    def setsockopt(self, option: int, value: Any) -> None:
        """A default option for sockets created from now on."""
        self._sockopts[option] = value

    def getsockopt(self, option: int) -> Any:
        return self._sockopts[option]

    @property
    def io_threads(self) -> int:
        return self.get(ContextOption.IO_THREADS)

    def destroy(self, linger: int | None = None) -> None:
        """Close every socket of the context (setting LINGER first when given), then term().

        A socket another thread is using (e.g. blocked in recv) cannot be closed here: the
        context is shut down so that its blocking call raises ContextTerminated, and term()
        then waits until that thread closes it."""
        if self.closed:
            return
        with self._lock:
            socks = list(self._sockets)
        busy = False
        for s in socks:
            if s.closed:
                continue
            try:
                s.close(linger=linger)
            except RinglinkError as e:
                if e.errno != _errno.EBUSY:
                    raise
                busy = True
        if busy:
            self.shutdown()
        self.term()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.destroy()

    def __del__(self) -> None:
        if _exiting or self.closed:
            return
        if getattr(self, "_sockets", None) is not None and any(not s.closed for s in self._sockets):
            warnings.warn(f"unclosed context {self!r}", ResourceWarning, stacklevel=2, source=self)
        try:
            self.destroy()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "terminated" if self.closed else f"{len(self._sockets)} socket(s)"
        return f"<{type(self).__module__}.{type(self).__name__} {state} at {id(self):#x}>"
