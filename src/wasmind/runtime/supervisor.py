"""A supervised actor instance: its mailbox, its message loop, and restarts after traps (RUNTIME.md §7.2)."""

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

import anyio
import structlog
from opentelemetry import trace

from wasmind.runtime.instance import ActorInstance, ActorSpec, GuestTrap
from wasmind.runtime.interest import InterestFilter
from wasmind.runtime.mailbox import Mailbox, MailboxClosed
from wasmind.runtime.workers import Started
from wasmind.telemetry import metrics, tracing
from wasmind.wire import subjects
from wasmind.wire.envelope import Envelope, target_scope
from wasmind.wire.messages import Exit

if TYPE_CHECKING:
    from wasmind.runtime.host import ActorHost

__all__ = ["BACKOFF_MAX", "CRASH_LIMIT", "CRASH_WINDOW", "EXIT_TYPE", "Delivery", "SupervisedActor"]

log = structlog.get_logger("wasmind.runtime")

BATCH = 1024
"""Queued messages handed to the worker thread at once: all a default mailbox holds. Each hand-over
leaves the actor idle for ~0.5 ms on these VMs (the worker waits for the GIL while the loop reads
what came meanwhile): batches of 1,024 instead of 256 took a flooded host from 0.59-0.68 (median
0.62) to 0.66-0.72 (median 0.71) of its bare rate in four alternating runs (docs/performance.md,
run I)."""
LONE_CALL_WAIT = 0.002
"""Seconds the event loop may block on the call for a lone message (an idle actor's usual case)
before awaiting it: a short call then costs no loop wake-up (see :mod:`wasmind.runtime.workers`).
Backlogs are awaited at once, so the loop keeps reading while the worker drains them."""

Delivery = tuple[Envelope, "tracing.Span | None"]
"""A mailbox entry: the message and, when tracing, its CONSUMER span (ended after the call)."""
StartedCalls = Started[tuple[int, GuestTrap] | None]
"""The calls for a batch on a worker thread: ``(index, trap)`` of the call that trapped, if one did."""

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
CRASH_LIMIT = 5
CRASH_WINDOW = 600.0
EXIT_TYPE = Exit.TYPE
"""A plain string: reading a class attribute of a pydantic model costs ~4× a global's, on the path of
every message."""


class SupervisedActor:
    """One actor of an agent: delivers its mailbox to its instance, one message at a time, in order."""

    def __init__(self, host: "ActorHost", spec: ActorSpec, scope: str) -> None:
        self.host = host
        self.spec = spec
        self.scope = scope
        self.interest = InterestFilter.from_manifest(spec.interest, scope)
        self.mailbox: Mailbox[Delivery] = Mailbox(spec.limits.mailbox_capacity)
        self.instance: ActorInstance | None = None
        self.crashes: deque[float] = deque()
        self.failed = False
        self.stopped = anyio.Event()
        self.cancel_scope = anyio.CancelScope()
        """Cancels this actor's loop only (the host's other tasks are not affected)."""
        self._last_drop_notice = 0.0
        self.pending_drops = 0
        self._waiting_for_mail = False
        """The message loop waits on an empty mailbox: the next message may start its call at once."""
        self._early: tuple[Delivery, StartedCalls] | None = None
        """A lone message whose call :meth:`offer` started, and that call."""
        self._exit_queued = False
        """The own-scope ``Exit`` is in the mailbox (batches are searched for it only then)."""

    @property
    def label(self) -> str:
        """``<logical name> (<actor_id>) in agent <scope>``."""
        return f"{self.spec.logical_name} ({self.spec.actor_id}) in agent {self.scope}"

    async def construct(self) -> None:
        """Create the instance and run its constructor off the event loop. Raises :class:`GuestTrap`."""
        instance = ActorInstance(self.spec, self.scope, self.host.services)
        with tracing.span(f"{self.spec.logical_name} construct", attributes=self._attributes()):
            await self.host.workers.run(tracing.bound(instance.construct))
        self.instance = instance

    def _attributes(self, envelope: Envelope | None = None) -> dict[str, str]:
        attributes = {
            "wasmind.actor_id": self.spec.actor_id,
            "wasmind.logical_name": self.spec.logical_name,
            "wasmind.scope": self.scope,
        }
        if envelope is not None:
            attributes["wasmind.message_type"] = envelope.message_type
            attributes["wasmind.correlation_id"] = envelope.id
        return attributes

    def is_own_exit(self, envelope: Envelope) -> bool:
        """An ``Exit`` of this actor's scope ends it instead of being delivered."""
        return envelope.message_type == EXIT_TYPE and envelope.from_scope == self.scope

    def queue_exit(self, envelope: Envelope) -> None:
        """Queue the own-scope ``Exit`` even when the mailbox is full (it ends the message loop
        where it is in the queue)."""
        self.mailbox.put_urgent((envelope, None))
        self._exit_queued = True

    def offer(self, envelope: Envelope) -> bool:
        """Queue a message if the mailbox has room now (an own-scope ``Exit`` always goes in);
        False when it has not: then :meth:`deliver` waits for room."""
        if self.is_own_exit(envelope):
            self.queue_exit(envelope)
            return True
        delivery: Delivery
        if tracing.enabled():  # a span only for a message that goes in
            if not self.mailbox.has_room():
                return False
            delivery = (envelope, self._received(envelope))
        else:
            delivery = (envelope, None)
        queued = self.mailbox.offer(delivery)
        if not queued:
            return False
        metrics.delivered(envelope.message_type, self.spec.actor_id)
        if queued == 1 and self._waiting_for_mail and self.instance is not None:
            # An idle actor's call starts now, not once the loop has run its task: the worker
            # thread wakes while the loop finishes what it is doing (the latency of every hop).
            # (Nothing was ahead of it, an Exit say: it is the next to handle.)
            self._waiting_for_mail = False
            self._early = (delivery, self._start([delivery]))
            self.host.started_on_delivery(self._early[1])
        return True

    def offer_many(self, envelopes: list[Envelope]) -> int:
        """Queue as many of ``envelopes`` (of one message type, none an own-scope ``Exit``; tracing
        off) as the mailbox has room for now, in order: how many were taken. A burst's way in:
        no call starts early (the message loop takes them as a batch)."""
        taken = self.mailbox.offer_many([(envelope, None) for envelope in envelopes])
        if taken:
            metrics.delivered(envelopes[0].message_type, self.spec.actor_id, taken)
        return taken

    async def deliver(self, envelope: Envelope) -> None:
        """Queue a message (waits for space up to the limit; a drop is logged, counted and notified)."""
        if self.offer(envelope):
            return
        received = self._received(envelope) if tracing.enabled() else None
        if await self.mailbox.put((envelope, received), self.spec.limits.mailbox_wait_seconds):
            metrics.delivered(envelope.message_type, self.spec.actor_id)
            return
        metrics.dropped(self.spec.actor_id)
        if received is not None:
            tracing.error(received, "dropped: mailbox full")
            received.end()
        log.error(
            "message dropped: mailbox full",
            actor=self.label,
            message_type=envelope.message_type,
            correlation_id=envelope.id,
            from_actor_id=envelope.from_actor_id,
            from_scope=envelope.from_scope,
        )
        self.pending_drops += 1
        now = time.monotonic()
        if now - self._last_drop_notice >= 10.0:
            self._last_drop_notice = now
            count, self.pending_drops = self.pending_drops, 0
            await self.host.notify_runtime(
                "Warning",
                "Messages dropped",
                f"{self.spec.logical_name} in agent {self.scope} dropped {count} message(s)",
            )

    def _received(self, envelope: Envelope) -> tracing.Span:
        """The CONSUMER span of one delivery: from arrival in the mailbox to the end of the call."""
        attributes = {
            **self._attributes(envelope),
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": subjects.data(
                self.host.swarm, target_scope(envelope), envelope.message_type
            ),
            "wasmind.from_actor_id": envelope.from_actor_id,
            "wasmind.from_scope": envelope.from_scope,
        }
        return tracing.tracer().start_span(
            f"{envelope.message_type} process",
            context=tracing.context_from(envelope.trace),
            kind=tracing.SpanKind.CONSUMER,
            attributes=attributes,
        )

    def _handle_batch(self, instance: ActorInstance, batch: list[Delivery]) -> tuple[int, GuestTrap] | None:
        """On a worker thread: the calls for ``batch`` in order; ``(index, trap)`` of a call that trapped."""
        timed = metrics.enabled()
        for index, (envelope, received) in enumerate(batch):
            started = time.perf_counter() if timed else 0.0
            trap: GuestTrap | None = None
            try:
                if received is None:
                    instance.handle(envelope)
                else:
                    self._traced_handle(instance, envelope, received)
            except GuestTrap as error:
                trap = error
                tracing.error(received, trap.summary)
            if timed:
                metrics.handled(
                    time.perf_counter() - started, self.spec.actor_id, envelope.message_type, trap is not None
                )
            if received is not None:
                received.end()
            if trap is not None:
                return index, trap
        return None

    def _traced_handle(self, instance: ActorInstance, envelope: Envelope, received: tracing.Span) -> None:
        """The actor call as a child of the delivery (guest broadcasts join it)."""
        waited_ms = (time.time_ns() - (getattr(received, "start_time", None) or time.time_ns())) / 1e6
        attributes: dict[str, str | float] = {
            **self._attributes(envelope),
            "wasmind.mailbox_wait_ms": round(waited_ms, 3),
        }
        parent = trace.set_span_in_context(received)
        with tracing.tracer().start_as_current_span(
            f"{self.spec.logical_name} handle", context=parent, attributes=attributes
        ):
            instance.handle(envelope)

    async def run(self) -> None:
        """The message loop; returns after the own-scope ``Exit`` (or close) and the destructor.

        Messages already queued are handed to the worker thread together (up to ``BATCH``): one
        thread hop for many calls, each still one at a time and in order.
        """
        try:
            while True:
                self._waiting_for_mail = not self.mailbox
                try:
                    batch = await self.mailbox.get_batch(BATCH)
                except MailboxClosed:
                    break
                finally:
                    self._waiting_for_mail = False
                early, self._early = self._early, None
                started = None
                if early is not None and batch[0] is early[0]:  # its call is running already
                    self.mailbox.requeue(batch[1:])  # the next round takes them
                    batch, started = batch[:1], early[1]
                exit_at = self._exit_in(batch) if self._exit_queued else None
                await self._deliver_batch(batch if exit_at is None else batch[:exit_at], started)
                if exit_at is not None:
                    break
                await asyncio.sleep(0)  # a call done within the loop's blocking wait did not yield
        finally:
            self.mailbox.close()
            with anyio.CancelScope(shield=True):
                await self._destroy()
            self.stopped.set()

    def _exit_in(self, batch: list[Delivery]) -> int | None:
        """Where the own-scope ``Exit`` is in ``batch``, if it is."""
        return next((i for i, (envelope, _) in enumerate(batch) if self.is_own_exit(envelope)), None)

    async def _deliver_batch(self, batch: list[Delivery], started: StartedCalls | None = None) -> None:
        """Hand ``batch`` to the instance (``started``: its calls were begun already)."""
        if not batch:
            return
        if started is None and self.instance is None:  # permanently failed: the agent keeps running
            for _, received in batch:
                if received is not None:
                    tracing.error(received, "not delivered: the actor failed permanently")
                    received.end()
            return
        if started is None:
            started = self._start(batch)
        lone = len(batch) == 1
        trapped = await self.host.workers.finish(started, block_for=LONE_CALL_WAIT if lone else 0.0)
        await self.host.publish_broadcasts(self)
        if trapped is None:
            return
        index, trap = trapped
        envelope = batch[index][0]
        log.error(
            "message not redelivered after trap",
            actor=self.label,
            message_type=envelope.message_type,
            correlation_id=envelope.id,
        )
        self.mailbox.requeue(batch[index + 1 :])  # the restarted instance gets the rest
        await self._recover(trap)

    def _start(self, batch: list[Delivery]) -> StartedCalls:
        """Begin the calls for ``batch``; a lone message's call publishes its broadcasts itself
        while the loop waits for it (:meth:`ActorHost.publish_from_guest_thread`)."""
        assert self.instance is not None
        then = self.host.publish_from_guest_thread if len(batch) == 1 else None
        return self.host.workers.start(self._handle_batch, self.instance, batch, then=then)

    async def _destroy(self) -> None:
        instance, self.instance = self.instance, None
        if instance is not None:
            await self.host.workers.run(instance.destroy)

    async def _recover(self, trap: GuestTrap) -> None:
        """Restart with back-off after a trap, until the crash limit is reached."""
        self.instance = None
        while True:
            now = time.monotonic()
            self.crashes.append(now)
            while self.crashes and now - self.crashes[0] > CRASH_WINDOW:
                self.crashes.popleft()
            if len(self.crashes) >= CRASH_LIMIT:
                self.failed = True
                await self.host.notify_runtime(
                    "Error",
                    "Actor crashed",
                    f"{self.spec.logical_name} ({self.spec.actor_id}) in agent {self.scope} crashed "
                    f"{len(self.crashes)} times within {int(CRASH_WINDOW / 60)} minutes: {trap.summary}; "
                    "not restarting it again",
                )
                return
            await self.host.notify_runtime(
                "Error",
                "Actor crashed",
                f"{self.spec.logical_name} ({self.spec.actor_id}) in agent {self.scope} crashed: "
                f"{trap.summary}; restarting",
            )
            await anyio.sleep(self.host.backoff(len(self.crashes)))
            try:
                await self.construct()
            except GuestTrap as again:
                trap = again
                continue
            self.host.restarts += 1
            metrics.restarted(self.spec.actor_id)
            await self.host.actor_restarted(self)
            return


def backoff_seconds(crashes: int, start: float = BACKOFF_START, limit: float = BACKOFF_MAX) -> float:
    """Back-off before restart number ``crashes``: 1 s doubling per consecutive crash, at most 30 s."""
    return float(min(limit, start * 2 ** max(0, crashes - 1)))
