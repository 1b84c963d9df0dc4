"""A bounded, observable per-instance mailbox (RUNTIME.md §8).

``put`` waits for space up to a limit and then reports a drop (never silent); ``put_urgent``
bypasses the capacity for an own-scope ``Exit`` while keeping its position in the queue.
Wake-ups use bare asyncio futures: this sits on the path of every delivered message. Writers
blocked on a full mailbox resume together once it has drained to a low-water mark (a quarter of
the capacity free), so a sustained flood costs one wait per many messages instead of one each.
"""

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

__all__ = ["Mailbox", "MailboxClosed", "MailboxStats"]

T = TypeVar("T")


class MailboxClosed(Exception):
    """The mailbox was closed: its instance stopped."""


@dataclass(frozen=True)
class MailboxStats:
    """A snapshot for heartbeats and metrics."""

    depth: int
    capacity: int
    delivered: int
    dropped: int


def _wake(waiter: "asyncio.Future[None] | None") -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Mailbox(Generic[T]):
    """FIFO with a capacity, for one consumer task and any number of producers on one event loop."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._resume_at = capacity - max(1, capacity // 4)
        """Depth at which blocked writers resume."""
        self._items: deque[T] = deque()
        self._reader: asyncio.Future[None] | None = None
        self._writers: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def _push(self, item: T) -> None:
        self._items.append(item)
        self.delivered += 1
        _wake(self._reader)

    def has_room(self) -> bool:
        """Whether :meth:`offer` would take an item now (open and not full)."""
        return not self._closed and len(self._items) < self.capacity

    def offer(self, item: T) -> int:
        """Enqueue ``item`` if the mailbox is open and not full: the number of items queued now
        (``1``: it is the only one), or ``0`` when it was not taken. One call on the path of every
        delivered message."""
        if self._closed or len(self._items) >= self.capacity:
            return 0
        self._push(item)
        return len(self._items)

    async def put(self, item: T, wait_seconds: float) -> bool:
        """Enqueue ``item``, waiting up to ``wait_seconds`` for space. False means dropped (counted)."""
        if self._closed:
            return False
        if len(self._items) < self.capacity:
            self._push(item)
            return True
        with anyio.move_on_after(wait_seconds):
            while len(self._items) >= self.capacity and not self._closed:
                waiter = asyncio.get_running_loop().create_future()
                self._writers.append(waiter)
                await waiter
            if not self._closed:
                self._push(item)
                return True
        self.dropped += 1
        return False

    def offer_many(self, items: list[T]) -> int:
        """Enqueue as many of ``items`` as there is room for now, in order: how many (the first
        ones) were taken."""
        room = 0 if self._closed else self.capacity - len(self._items)
        taken = items if len(items) <= room else items[: max(0, room)]
        if taken:
            self._items.extend(taken)
            self.delivered += len(taken)
            _wake(self._reader)
        return len(taken)

    def put_urgent(self, item: T) -> None:
        """Enqueue ``item`` even when full (used for ``Exit``, which must never be dropped)."""
        if not self._closed:
            self._push(item)

    async def get(self) -> T:
        """The next item; raises :class:`MailboxClosed` once closed and drained."""
        return (await self.get_batch(1))[0]

    async def get_batch(self, limit: int) -> list[T]:
        """The next item and up to ``limit - 1`` more that are already queued (one wake-up for many).

        Raises :class:`MailboxClosed` once closed and drained.
        """
        while not self._items:
            if self._closed:
                raise MailboxClosed
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        batch = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
        self._resume_writers()
        return batch

    def _resume_writers(self) -> None:
        if self._writers and len(self._items) <= self._resume_at:
            while self._writers:
                _wake(self._writers.popleft())

    def requeue(self, items: list[T]) -> None:
        """Put taken ``items`` back at the front, in order (not counted again)."""
        self._items.extendleft(reversed(items))
        _wake(self._reader)

    def close(self) -> None:
        """Stop accepting items; the consumer drains what is queued, then gets :class:`MailboxClosed`."""
        self._closed = True
        _wake(self._reader)
        while self._writers:
            _wake(self._writers.popleft())

    def clear(self) -> int:
        """Discard queued items; returns how many."""
        count = len(self._items)
        self._items.clear()
        while self._writers:
            _wake(self._writers.popleft())
        return count

    def stats(self) -> MailboxStats:
        """Depth, capacity and counters."""
        return MailboxStats(len(self._items), self.capacity, self.delivered, self.dropped)
