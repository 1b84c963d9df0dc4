"""Guest calls on worker threads, handed over and back cheaply.

Guest calls are the hot path of every message. ``anyio.to_thread.run_sync`` costs ~95 µs per call
on these machines and a ``ThreadPoolExecutor`` plus ``call_soon_threadsafe`` ~110 µs under load;
most of it is waking the event loop (self-pipe, ``epoll``) and executor bookkeeping. Here a call
goes to an idle thread through a ``SimpleQueue`` and, when the caller allows it, the event loop
then *blocks* for a short while (GIL released) on a lock the worker releases when done: a call
that finishes within that budget costs a thread wake-up each way (15-30 µs) and no loop wake-up. A
call that takes longer (an LLM request, a command, a sleep) is awaited as usual once the budget is
spent, so the loop never stalls for more than the budget. Threads are created on demand up to
``threads`` and reused; an instance blocked in a long host call holds one thread, not the loop.
"""

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from wasmind.runtime import gil

__all__ = ["GuestWorkers", "Started"]

T = TypeVar("T")


class _Call(Generic[T]):
    """One call: run on a worker thread, its outcome collected by the event loop."""

    __slots__ = (
        "args",
        "collected",
        "done",
        "error",
        "finished",
        "fn",
        "future",
        "loop",
        "loop_waits",
        "result",
        "returned",
        "state",
        "then",
        "then_runs",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        then: Callable[[], None] | None = None,
        returned: Callable[[], None] | None = None,
    ) -> None:
        self.loop = loop
        self.fn = fn
        self.args = args
        self.then = then
        self.returned = returned
        """Called on the worker thread as soon as ``fn`` returned (before anyone can see it did)."""
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        """Held until the call finished: the loop's short blocking wait."""
        self.done.acquire()
        self.state = threading.Lock()
        """Guards the fields below (the hand-overs between the two threads)."""
        self.finished = False
        self.future: asyncio.Future[None] | None = None
        self.loop_waits = False
        """The event-loop thread is blocked in :meth:`waited_for` on this call."""
        self.then_runs = False
        """The worker runs ``then`` now: the loop must keep waiting, even past its budget."""
        self.collected = False
        """A blocking wait already saw the call finish (``done`` is taken: never wait on it again)."""

    def execute(self) -> None:
        """On a worker thread."""
        try:
            self.result = self.fn(*self.args)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            self.error = error
        if self.returned is not None:
            self.returned()
        with self.state:
            self.finished = True
            future = self.future
            self.then_runs = self.loop_waits and self.then is not None and self.error is None
        if self.then_runs:
            assert self.then is not None
            self.then()
        self.done.release()
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                gil.call_soon_threadsafe(self.loop, _settle, future)

    def waited_for(self, seconds: float) -> bool:
        """Block the calling (event loop) thread until done or ``seconds`` passed; True when done."""
        if self.collected:
            return True
        if seconds <= 0:
            return False
        with self.state:
            self.loop_waits = not self.finished
        if self.done.acquire(timeout=seconds):
            self.collected = True
            return True
        with self.state:
            self.loop_waits = False
            then_runs = self.then_runs
        if then_runs:  # the worker is doing the loop's share on its behalf: moments
            self.done.acquire()
            self.collected = True
        return self.collected

    async def outcome(self) -> T:
        with self.state:
            if not self.finished:
                self.future = self.loop.create_future()
        if self.future is not None:
            await self.future
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


@dataclass(frozen=True)
class Started(Generic[T]):
    """A call begun by :meth:`GuestWorkers.start`."""

    call: _Call[T]
    taken_at_once: bool
    """An idle thread took it (else it waits for one: no point blocking the loop on it)."""

    def block(self, seconds: float) -> bool:
        """Block the event loop until the call finished, at most ``seconds`` (see
        :meth:`GuestWorkers.run`); True when it has. Waiting again later costs nothing."""
        return self.taken_at_once and self.call.waited_for(seconds)


def _settle(future: "asyncio.Future[None]") -> None:
    if not future.done():  # else the awaiting task was cancelled: nobody wants the outcome
        future.set_result(None)


class GuestWorkers:
    """A thread pool for guest calls (one call per instance at a time is the caller's rule)."""

    def __init__(self, threads: int) -> None:
        self._limit = threads
        self._queue: queue.SimpleQueue[_Call[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._backlog = 0
        """Calls queued while every thread was busy."""
        self._running = 0
        """Calls submitted whose function has not returned yet."""
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any, block_for: float = 0.0) -> T:
        """``fn(*args)`` on a worker thread; its result or exception.

        ``block_for`` (seconds): how long the event loop may block waiting before it awaits
        instead. Only worth it for calls that usually take less (a lone message to an idle actor).
        A call done within that wait returns *without yielding* to the loop, so a caller that
        calls in a loop must yield itself (or a stream of short calls would starve the loop). If
        the caller is cancelled, the call finishes unobserved.
        """
        return await self.finish(self.start(fn, *args), block_for=block_for)

    def start(self, fn: Callable[..., T], *args: Any, then: Callable[[], None] | None = None) -> "Started[T]":
        """Begin ``fn(*args)`` on a worker thread now; :meth:`finish` collects the outcome.

        ``then``: run on the worker thread right after ``fn`` returns, but only while the event
        loop is blocked in :meth:`finish` on this call (its ``block_for``), i.e. while no code runs
        on the loop thread: work of the loop that may be done there, sooner (see
        ``ActorHost.publish_from_guest_thread``). It must not raise and must not block.
        """
        call = _Call(asyncio.get_running_loop(), fn, args, then, self._returned)
        return Started(call, self._submit(call))

    @staticmethod
    async def finish(started: "Started[T]", *, block_for: float = 0.0) -> T:
        """The result or exception of a call begun with :meth:`start` (``block_for`` as in :meth:`run`)."""
        started.block(block_for)
        return await started.call.outcome()

    def busy(self) -> bool:
        """Whether a call is running or waiting for a thread (read without the lock: a hint)."""
        return self._running > 0

    def _returned(self) -> None:
        with self._lock:
            self._running -= 1

    def _submit(self, call: "_Call[Any]") -> bool:
        """Queue ``call``; True when an idle thread takes it at once."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the guest workers are closed")
            self._running += 1
            idle_thread = self._idle > 0
            if idle_thread:
                self._idle -= 1
            elif self._threads < self._limit:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"wasmind-guest-{self._threads}", daemon=True
                ).start()
                idle_thread = True
            else:
                self._backlog += 1
        self._queue.put(call)
        return idle_thread

    def _work(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            call.execute()
            with self._lock:
                if self._backlog:
                    self._backlog -= 1  # this thread takes a queued call next
                else:
                    self._idle += 1

    def close(self) -> None:
        """Stop accepting calls; running ones finish in the background, queued ones never run."""
        with self._lock:
            self._closed = True
            threads = self._threads
        while True:
            try:
                dropped = self._queue.get_nowait()
            except queue.Empty:
                break
            if dropped is not None:
                self._returned()  # it never runs
        for _ in range(threads):
            self._queue.put(None)
