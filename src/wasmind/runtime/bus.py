"""The messaging seam between the runtime and a transport: subjects, headers and bytes.

The runtime publishes and subscribes through a :class:`Bus`; NATS (``wasmind.transport.nats``)
and an in-process broker (``wasmind.transport.memory``) implement it with the same semantics:
NATS subject wildcards (``*`` one token, ``>`` the rest), per-publisher order, and no echo of a
connection's own messages.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

__all__ = ["Bus", "BusMessage", "Handler", "MessageHandler", "Subscription", "each", "subject_matches"]


class BusMessage(NamedTuple):
    """One message as a transport carries it (a named tuple: one per message, built cheaply)."""

    subject: str
    headers: Mapping[str, str]
    payload: bytes
    pattern: str = ""
    """The subscription pattern through which it was received."""


Handler = Callable[[Sequence[BusMessage]], Awaitable[None] | None]
"""Called with messages of one subscription that arrived together (one or many: a burst read in
one pass costs one call), in arrival order. A handler that finishes its work at once returns
``None`` (the transport then goes on without a task switch: the hot path); one that has to wait
returns an awaitable (an ``async def`` handler returns its coroutine), which finishes handling
the messages it was given; the transport awaits it before the next messages of that connection."""

MessageHandler = Callable[[BusMessage], Awaitable[None] | None]
"""A handler of one message at a time (see :func:`each`)."""


def each(handler: MessageHandler) -> Handler:
    """A :data:`Handler` that gives ``handler`` the messages one by one, in order, each after what
    the one before left to await."""

    def handle(messages: Sequence[BusMessage]) -> Awaitable[None] | None:
        for index, message in enumerate(messages):
            pending = handler(message)
            if pending is not None:
                return _after(pending, handler, messages[index + 1 :])
        return None

    return handle


async def _after(pending: Awaitable[None], handler: MessageHandler, rest: Sequence[BusMessage]) -> None:
    await pending
    for message in rest:
        more = handler(message)
        if more is not None:
            await more


class Subscription(Protocol):
    """An active subscription."""

    async def unsubscribe(self) -> None:
        """Stop receiving."""


class Bus(Protocol):
    """A connection to the message transport."""

    async def publish(self, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Publish one message."""

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Receive every message matching ``pattern``; handlers see messages in arrival order, in
        batches of those that arrived together (:data:`Handler`; :func:`each` for one at a time)."""

    async def flush(self) -> None:
        """Wait until everything published so far has reached the transport."""

    def on_read_pass(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the transport has handed over a batch of messages that
        arrived together (after their handlers)."""

    def publish_now(self, subject: str, headers: Mapping[str, str], payload: bytes) -> bool:
        """Publish one message at once if that needs nothing of the event loop, else nothing
        (False: use :meth:`publish`). Called on a guest thread while the event-loop thread is
        blocked waiting for that thread's call, so nothing else runs on the loop meanwhile."""


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` matches one token, a final ``>`` one or more tokens."""
    want = pattern.split(".")
    have = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
