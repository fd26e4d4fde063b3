"""The service layer (zlink's registry, discovery, receiver, gateway and SPOT topic mesh).

Every class subclasses a native type of ``ringlink._ringlink`` (``csrc/services.c``,
``csrc/spot.c``) built on ringlink's C calls ``rl_registry_*`` ... ``rl_spot_sub_*``; this
module adds argument conveniences, context tracking (``Context.destroy()`` closes service
objects as it closes sockets) and the context manager. See the README's "Services" section.

Timeouts are in milliseconds (None: no limit), as everywhere in the package. Errors are the
package's exceptions: ``RinglinkError`` (``.errno``: ``EHOSTUNREACH`` when a gateway service
has no connected provider, ``ENOENT``, ``EINVAL``, ``ENOTSUP``, ``EBUSY``, ...), ``Again``
for timeouts and ``ContextTerminated``; a call on a closed object raises
``RinglinkError(ENOTSOCK)``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

from . import _ringlink as _rl
from ._socket import Socket

__all__ = [
    "Registry", "Discovery", "Receiver", "Gateway", "SpotNode", "SpotSub",
    "SERVICE_GATEWAY", "SERVICE_SPOT", "LB_ROUND_ROBIN", "LB_WEIGHTED", "SPOT_NODE_PUB", "SPOT_NODE_SUB",
]

SERVICE_GATEWAY: int = _rl.SERVICE_GATEWAY
SERVICE_SPOT: int = _rl.SERVICE_SPOT
LB_ROUND_ROBIN: int = _rl.LB_ROUND_ROBIN
LB_WEIGHTED: int = _rl.LB_WEIGHTED
SPOT_NODE_PUB: int = _rl.SPOT_NODE_PUB
SPOT_NODE_SUB: int = _rl.SPOT_NODE_SUB

_TYPES = {"gateway": SERVICE_GATEWAY, "spot": SERVICE_SPOT}
_ROLES = {"pub": SPOT_NODE_PUB, "sub": SPOT_NODE_SUB}
_LB = {"round_robin": LB_ROUND_ROBIN, "roundrobin": LB_ROUND_ROBIN, "rr": LB_ROUND_ROBIN, "weighted": LB_WEIGHTED}

Buffer = Union[bytes, bytearray, memoryview]
Parts = Union[Buffer, Sequence[Buffer]]
ANY = "tcp://127.0.0.1:*"


class _Service:
    """Shared by the service classes: context tracking, context manager, repr."""

    closed: bool

    def _track(self, context: Any) -> None:
        add = getattr(context, "_add_socket", None)
        if add is not None:
            add(self)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ringlink.{type(self).__name__} {state} at {id(self):#x}>"


class Registry(_Service, _rl.Registry):
    """A registry: receivers and SPOT nodes register with its ROUTER endpoint, discoveries
    follow its PUB endpoint.

    ``Registry(ctx, pub_endpoint, router_endpoint, id=None, heartbeat=None,
    broadcast_interval=None, peers=(), start=True)``: wildcards (``tcp://127.0.0.1:*``, the
    default) are resolved at the start; read ``pub_endpoint`` / ``router_endpoint`` then.
    ``heartbeat`` (ms without a heartbeat before a provider is dropped) and
    ``broadcast_interval`` (ms) can only be set before the start (``start=False``, then the
    ``set_*`` calls, then ``start()``)."""

    def __new__(cls, context: Any, pub_endpoint: str = ANY, router_endpoint: str = ANY, **kw: Any) -> "Registry":
        return super().__new__(cls, context, pub_endpoint, router_endpoint)

    def __init__(
        self,
        context: Any,
        pub_endpoint: str = ANY,
        router_endpoint: str = ANY,
        *,
        id: int | None = None,
        heartbeat: int | None = None,
        broadcast_interval: int | None = None,
        peers: Sequence[str] = (),
        start: bool = True,
    ) -> None:
        super().__init__()
        try:
            if id is not None:
                self.set_id(id)
            if heartbeat is not None:
                self.set_heartbeat(heartbeat)
            if broadcast_interval is not None:
                self.set_broadcast_interval(broadcast_interval)
            for p in peers:
                self.add_peer(p)
            if start:
                self.start()
        except BaseException:
            self.close()
            raise
        self._track(context)

    def start(self) -> "Registry":  # type: ignore[override]
        """Bind both endpoints and start the worker (RinglinkError(EFSM) if started)."""
        _rl.Registry.start(self)
        return self


class Discovery(_Service, _rl.Discovery):
    """Follows registries and lists the providers of one service type:
    ``Discovery(ctx, "gateway")`` (receivers, for gateways; the default) or
    ``Discovery(ctx, "spot")`` (SPOT nodes); ``registry=`` connects one PUB endpoint (or a
    list) at once."""

    def __new__(cls, context: Any, type: str | int = SERVICE_GATEWAY, **kw: Any) -> "Discovery":
        st = _TYPES.get(type.lower()) if isinstance(type, str) else int(type)
        if st is None:
            raise ValueError(f"unknown service type {type!r}: 'gateway' or 'spot'")
        return super().__new__(cls, context, st)

    def __init__(self, context: Any, type: str | int = SERVICE_GATEWAY, *, registry: str | Sequence[str] | None = None) -> None:
        super().__init__()
        try:
            for ep in [registry] if isinstance(registry, str) else (registry or ()):
                self.connect_registry(ep)
        except BaseException:
            self.close()
            raise
        self._track(context)

    def on_change(self, callback: Callable[[str, int], Any] | None) -> None:
        """``callback(service, providers)`` for every change of a service's providers (0: it
        became unavailable), called on the discovery's own thread; None removes it. When this
        returns, the previous callback is not running and will not run again."""
        self.set_callback(callback)

    def providers(self, name: str) -> list[tuple[str, bytes, int]]:  # type: ignore[override]
        """The providers of ``name`` now: ``(endpoint, routing_id, weight)`` tuples."""
        return _rl.Discovery.providers(self, name)


class Receiver(_Service, _rl.Receiver):
    """The request-handler side of the gateway pattern: ``Receiver(ctx, routing_id=None,
    registry=None)``; then ``connect_registry`` (before anything else), ``bind``,
    ``register``, and serve on ``.router``, an ordinary ``ringlink.Socket`` (ROUTER):
    requests arrive as ``[gateway id, *parts]``, replies go back as ``[gateway id, *parts]``,
    with every socket call (``recv_multipart``, ``send_multipart``, the fast paths, ``poll``,
    options). The ROUTER belongs to the receiver: close the receiver, not the socket."""

    def __new__(cls, context: Any, routing_id: bytes | None = None, **kw: Any) -> "Receiver":
        return super().__new__(cls, context, routing_id)

    def __init__(self, context: Any, routing_id: bytes | None = None, *, registry: str | Sequence[str] | None = None) -> None:
        super().__init__()
        try:
            for ep in [registry] if isinstance(registry, str) else (registry or ()):
                self.connect_registry(ep)
        except BaseException:
            self.close()
            raise
        self._track(context)

    @property
    def router(self) -> Socket:
        """The receiver's ROUTER as a ringlink.Socket (the same object while it is alive)."""
        return self._router(Socket)

    @property
    def routing_id(self) -> bytes:
        """The ROUTER's routing id (as gateways and the registry see it)."""
        return self.router.getsockopt(_rl.ROUTING_ID)

    def register(self, name: str, advertise: str | None = None, weight: int = 1) -> None:  # type: ignore[override]
        """Register service ``name`` (waits for the registry's answer); ``advertise`` is the
        endpoint gateways connect to (None: the one bound endpoint, ``*`` → 127.0.0.1)."""
        _rl.Receiver.register(self, name, advertise, weight)


class Gateway(_Service, _rl.Gateway):
    """Sends requests to the providers a (gateway) Discovery lists, load-balanced, and
    receives their replies: ``Gateway(ctx, discovery, routing_id=None)``.

    Thread-safe: any number of threads may send and receive on one gateway; a thread blocked
    in ``recv`` does not delay another thread's ``send`` (the GIL is released). A blocking
    ``recv`` waits in the C call in slices of at most 100 ms, so Ctrl-C interrupts it and a
    ``close()`` from another thread ends it (``RinglinkError(ENOTSOCK)``) within a slice."""

    def __new__(cls, context: Any, discovery: Discovery, routing_id: bytes | None = None) -> "Gateway":
        return super().__new__(cls, context, discovery, routing_id)

    def __init__(self, context: Any, discovery: Discovery, routing_id: bytes | None = None) -> None:
        super().__init__()
        self._track(context)

    def set_lb(self, service: str, strategy: str | int) -> None:  # type: ignore[override]
        """``"round_robin"`` (default) or ``"weighted"`` (or LB_ROUND_ROBIN / LB_WEIGHTED)."""
        if isinstance(strategy, str):
            try:
                strategy = _LB[strategy.lower()]
            except KeyError:
                raise ValueError(f"unknown strategy {strategy!r}: 'round_robin' or 'weighted'") from None
        _rl.Gateway.set_lb(self, service, strategy)

    def wait_connected(self, service: str, count: int = 1, timeout: float | None = None) -> int:
        """Wait (ms; None: no limit) until ``count`` providers of ``service`` are connected
        (connections are made asynchronously after the discovery saw the provider).
        ringlink has no event for it, so this polls ``connection_count`` with a short
        sleep; Again on timeout."""
        import errno
        import time

        from ._errors import Again

        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        nap = 0.0005
        while True:
            n = self.connection_count(service)
            if n >= count:
                return n
            if deadline is not None and time.monotonic() >= deadline:
                raise Again(errno.EAGAIN)
            time.sleep(nap)
            nap = min(nap * 2, 0.02)


class SpotNode(_Service, _rl.SpotNode):
    """A SPOT node: one PUB for what it publishes, one SUB meshed with its peers' PUBs
    (``connect_peer``, or the nodes a discovery lists: ``set_discovery``), and local
    subscribers (``subscriber()`` / ``SpotSub(node)``). ``registry=`` gives a registry
    ROUTER endpoint (or a list) to ``register`` with; it must come before any other call.

    ``sndhwm`` / ``rcvhwm`` set the high-water mark of the node's PUB / SUB (per peer;
    default 1000, 0: no limit). A PUB drops what a peer at its mark cannot take, so a burst
    across nodes (``publish_many_const``) arrives whole only with ``sndhwm=0`` on the
    publishing node and ``rcvhwm=0`` on the receiving one. Other options: ``setsockopt``,
    before the node starts (its first call other than ``connect_registry``/``setsockopt``)."""

    def __new__(cls, context: Any, **kw: Any) -> "SpotNode":
        return super().__new__(cls, context)

    def __init__(
        self,
        context: Any,
        *,
        registry: str | Sequence[str] | None = None,
        sndhwm: int | None = None,
        rcvhwm: int | None = None,
    ) -> None:
        super().__init__()
        try:
            if sndhwm is not None:
                self.setsockopt(SPOT_NODE_PUB, _rl.SNDHWM, sndhwm)
            if rcvhwm is not None:
                self.setsockopt(SPOT_NODE_SUB, _rl.RCVHWM, rcvhwm)
            for ep in [registry] if isinstance(registry, str) else (registry or ()):
                self.connect_registry(ep)
        except BaseException:
            self.close()
            raise
        self._track(context)

    def setsockopt(self, role: str | int, option: int, value: int | bytes) -> None:  # type: ignore[override]
        """Set ``option`` (``ringlink.SNDHWM``, ``RCVHWM``, ...; an int, bytes for a binary
        option) on the node's PUB (``role`` ``"pub"`` / ``SPOT_NODE_PUB``) or SUB (``"sub"`` /
        ``SPOT_NODE_SUB``). Only before the node starts: ``RinglinkError(EFSM)`` after;
        an option the socket refuses fails the node's first call (``bind``, ...)."""
        if isinstance(role, str):
            try:
                role = _ROLES[role.lower()]
            except KeyError:
                raise ValueError(f"unknown role {role!r}: 'pub' or 'sub'") from None
        _rl.SpotNode.setsockopt(self, role, option, value)

    def subscriber(self) -> "SpotSub":
        """A new local subscriber of this node."""
        return SpotSub(self)


class SpotSub(_Service, _rl.SpotSub):
    """A subscriber of a SpotNode: ``subscribe(topic)``, ``subscribe_pattern("prefix*")``,
    then ``recv`` / ``recv_many`` (thread-safe: each message goes to one receiving thread)
    or ``set_handler(fn)`` (``fn(topic, parts)`` on the subscriber's own thread; the receive
    calls raise EINVAL meanwhile). It stays valid after its node is closed."""

    def __new__(cls, node: SpotNode) -> "SpotSub":
        return super().__new__(cls, node)

    def __init__(self, node: SpotNode) -> None:
        super().__init__()
        self._track(node.context)


for _cls in (Registry, Discovery, Receiver, Gateway, SpotNode, SpotSub):
    _cls.__module__ = "ringlink"
del _cls
