"""An in-process broker with NATS semantics, for single-process runs and tests.

Each :meth:`InProcessBroker.connect` returns a connection (a :class:`~wasmind.runtime.bus.Bus`).
Like a NATS connection with ``no_echo``, a connection never receives its own publishes. Delivery
is in publish order: a publish returns after every matching handler has run.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wasmind.runtime.bus import BusMessage, Handler, subject_matches

__all__ = ["InProcessBroker", "InProcessConnection"]


@dataclass(eq=False)
class _Subscription:
    connection: "InProcessConnection"
    pattern: str
    handler: Handler
    active: bool = True

    async def unsubscribe(self) -> None:
        self.active = False
        self.connection.broker.subscriptions.remove(self)


@dataclass
class InProcessBroker:
    """Routes messages between the connections of one process."""

    subscriptions: list[_Subscription] = field(default_factory=list)

    def connect(self, *, no_echo: bool = True) -> "InProcessConnection":
        """A new connection to this broker."""
        return InProcessConnection(self, no_echo)


class InProcessConnection:
    """One connection to an :class:`InProcessBroker`."""

    def __init__(self, broker: InProcessBroker, no_echo: bool) -> None:
        self.broker = broker
        self.no_echo = no_echo

    async def publish(self, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Deliver to every matching subscription of other connections, in subscription order."""
        for sub in list(self.broker.subscriptions):
            if not sub.active or (self.no_echo and sub.connection is self):
                continue
            if subject_matches(sub.pattern, subject):
                pending = sub.handler((BusMessage(subject, dict(headers), payload, sub.pattern),))
                if pending is not None:
                    await pending

    async def subscribe(self, pattern: str, handler: Handler) -> _Subscription:
        """Receive messages matching ``pattern``."""
        sub = _Subscription(self, pattern, handler)
        self.broker.subscriptions.append(sub)
        return sub

    async def flush(self) -> None:
        """Nothing is buffered in process."""

    def on_read_pass(self, callback: Callable[[], None]) -> None:
        """Nothing is read in batches in process: never called."""

    def publish_now(self, subject: str, headers: Mapping[str, str], payload: bytes) -> bool:
        """Never: in-process delivery runs handlers on the event loop (use :meth:`publish`)."""
        return False
