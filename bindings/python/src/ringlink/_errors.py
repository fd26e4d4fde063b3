"""Exceptions of ringlink (the native module raises these)."""

from __future__ import annotations

import errno as _errno

__all__ = ["RinglinkError", "Again", "ContextTerminated", "MessageTooLarge"]


def _strerror(errnum: int) -> str:
    from ._ringlink import strerror

    return strerror(errnum)


class RinglinkError(Exception):
    """A ringlink call failed: ``.errno`` is the error number (libzmq's numbering: ``EAGAIN``,
    ``EINVAL``, ..., ``ringlink.ETERM``), ``.strerror`` its text."""

    errno: int
    strerror: str

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        if errno is None:
            errno = _errno.EINVAL
        self.errno = errno
        self.strerror = msg if msg is not None else _strerror(errno)
        super().__init__(errno, self.strerror)

    def __str__(self) -> str:
        return self.strerror

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.errno}, {self.strerror!r})"


class Again(RinglinkError):
    """EAGAIN: nothing to receive / no room to send (DONTWAIT, or the timeout expired)."""


class ContextTerminated(RinglinkError):
    """ETERM: the context was shut down or terminated."""


class MessageTooLarge(RinglinkError):
    """EMSGSIZE from a batch receive: the next message alone is larger than the buffer. It
    stays queued; ``.needed`` is its size in bytes (grow the buffer and call again)."""

    needed: int

    def __init__(self, needed: int, msg: str | None = None) -> None:
        super().__init__(_errno.EMSGSIZE, msg if msg is not None else f"message of {needed} bytes does not fit the buffer")
        self.needed = needed
        self.args = (needed, self.strerror)
