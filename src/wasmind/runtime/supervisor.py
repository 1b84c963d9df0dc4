"""A supervised actor instance: its mailbox, its message loop, and restarts after traps (RUNTIME.md §7.2)."""

import time
from collections import deque
from typing import TYPE_CHECKING

import anyio
import structlog

from wasmind.runtime.instance import ActorInstance, ActorSpec, GuestTrap
from wasmind.runtime.interest import InterestFilter
from wasmind.runtime.mailbox import Mailbox, MailboxClosed
from wasmind.wire.envelope import Envelope
from wasmind.wire.messages import Exit

if TYPE_CHECKING:
    from wasmind.runtime.host import ActorHost

__all__ = ["BACKOFF_MAX", "CRASH_LIMIT", "CRASH_WINDOW", "SupervisedActor"]

log = structlog.get_logger("wasmind.runtime")

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
CRASH_LIMIT = 5
CRASH_WINDOW = 600.0


class SupervisedActor:
    """One actor of an agent: delivers its mailbox to its instance, one message at a time, in order."""

    def __init__(self, host: "ActorHost", spec: ActorSpec, scope: str) -> None:
        self.host = host
        self.spec = spec
        self.scope = scope
        self.interest = InterestFilter.from_manifest(spec.interest, scope)
        self.mailbox: Mailbox[Envelope] = Mailbox(spec.limits.mailbox_capacity)
        self.instance: ActorInstance | None = None
        self.crashes: deque[float] = deque()
        self.failed = False
        self.stopped = anyio.Event()
        self.cancel_scope = anyio.CancelScope()
        """Cancels this actor's loop only (the host's other tasks are not affected)."""
        self._last_drop_notice = 0.0
        self.pending_drops = 0

    @property
    def label(self) -> str:
        """``<logical name> (<actor_id>) in agent <scope>``."""
        return f"{self.spec.logical_name} ({self.spec.actor_id}) in agent {self.scope}"

    async def construct(self) -> None:
        """Create the instance and run its constructor off the event loop. Raises :class:`GuestTrap`."""
        instance = ActorInstance(self.spec, self.scope, self.host.services)
        await self.host.workers.run(instance.construct)
        self.instance = instance

    def is_own_exit(self, envelope: Envelope) -> bool:
        """An ``Exit`` of this actor's scope ends it instead of being delivered."""
        return envelope.message_type == Exit.TYPE and envelope.from_scope == self.scope

    async def deliver(self, envelope: Envelope) -> None:
        """Queue a message (waits for space up to the limit; a drop is logged, counted and notified)."""
        if self.is_own_exit(envelope):
            self.mailbox.put_urgent(envelope)
            return
        if await self.mailbox.put(envelope, self.spec.limits.mailbox_wait_seconds):
            return
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

    async def run(self) -> None:
        """The message loop; returns after the own-scope ``Exit`` (or close) and the destructor."""
        try:
            while True:
                try:
                    envelope = await self.mailbox.get()
                except MailboxClosed:
                    break
                if self.is_own_exit(envelope):
                    break
                if self.instance is None:
                    continue  # permanently failed: the rest of the agent keeps running
                try:
                    await self.host.workers.run(self.instance.handle, envelope)
                except GuestTrap as trap:
                    log.error(
                        "message not redelivered after trap",
                        actor=self.label,
                        message_type=envelope.message_type,
                        correlation_id=envelope.id,
                    )
                    await self._recover(trap)
        finally:
            self.mailbox.close()
            with anyio.CancelScope(shield=True):
                await self._destroy()
            self.stopped.set()

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
            await self.host.actor_restarted(self)
            return


def backoff_seconds(crashes: int, start: float = BACKOFF_START, limit: float = BACKOFF_MAX) -> float:
    """Back-off before restart number ``crashes``: 1 s doubling per consecutive crash, at most 30 s."""
    return float(min(limit, start * 2 ** max(0, crashes - 1)))
