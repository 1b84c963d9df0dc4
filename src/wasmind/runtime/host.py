"""The host core: agents and their supervised actors on one process, connected to a bus.

A host delivers messages published by its own actors in-process and publishes them on the bus
for everyone else; messages from the bus arrive through the subscriptions its actors' interests
need. The bus connection never echoes a host's own publishes, so nothing is delivered twice.

Spawning follows RUNTIME.md §4: records and mailboxes exist before any constructor runs,
constructors run in list order, a failure rolls the whole agent back. Readiness is counted per
instance (§5); replayable messages are re-delivered to an agent after each ``AllActorsReady``.
"""

import asyncio
import tempfile
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import anyio
import anyio.lowlevel
import structlog
from anyio import from_thread
from anyio.abc import TaskGroup

from wasmind.config.spawning import SpawnRules, UnknownActorError, expand_spawn_list
from wasmind.runtime import gil
from wasmind.runtime.bus import Bus, BusMessage, Subscription
from wasmind.runtime.capabilities.http import HttpClient
from wasmind.runtime.context import SpawnError
from wasmind.runtime.grants import Limits
from wasmind.runtime.instance import ActorSpec, GuestTrap, output_directory
from wasmind.runtime.interest import InterestFilter
from wasmind.runtime.supervisor import EXIT_TYPE, LONE_CALL_WAIT, SupervisedActor, backoff_seconds
from wasmind.runtime.workers import GuestWorkers, Started
from wasmind.telemetry import metrics, tracing
from wasmind.telemetry.logging import log_debug
from wasmind.wire import subjects
from wasmind.wire.control import ErrorEvent
from wasmind.wire.envelope import HEADER_HOST, Envelope, envelope_from_wire, envelope_to_headers, target_scope
from wasmind.wire.ids import CONTEXT_SENDER, READY_SENDER, ROOT_SCOPE, new_scope, root_id
from wasmind.wire.messages import ActorReady, AgentSpawned, AllActorsReady, Exit, UserNotification, encode
from wasmind.wire.validation import checks_content, payload_problem

__all__ = ["ActorHost", "AgentControl", "AgentRecord", "LocalAgentControl"]

log = structlog.get_logger("wasmind.runtime")
RUNTIME_SOURCE = "runtime"
OUTBOUND_LIMIT = 10_000
"""Guest broadcasts a host holds before making the broadcasting guests wait."""
TARGET_CACHE_SIZE = 4096
"""Delivery target lists a host remembers (one per message type, scope and pattern seen)."""
_Arrival = tuple[str, str, tuple[SupervisedActor, ...], bool]
"""``(scope, message type, local targets, content checked)`` of a subject received through a
pattern (the last: whether an outsider's payload of that type is checked beyond its size)."""
MAX_PAYLOAD = 1 << 20
"""Largest payload a host publishes (NATS's default ``max_payload``); larger ones are refused."""


class AgentControl(Protocol):
    """Creates agents and answers parent lookups (in-process here; the spawner service later)."""

    async def spawn_agent(self, parent_scope: str, actor_names: Sequence[str], agent_name: str) -> str:
        """Create a child agent of ``parent_scope``; returns its scope or raises :class:`SpawnError`."""

    async def parent_of(self, scope: str) -> str | None:
        """The parent of any scope created in this run (``None`` for the root or unknown scopes)."""


@dataclass
class AgentRecord:
    """An agent on this host. Parent records outlive the agent (``get-parent-scope-of``)."""

    scope: str
    parent: str | None
    name: str
    actors: list[str]
    members: list[SupervisedActor] = field(default_factory=list)
    exited: bool = False
    ready: bool = False


class LocalAgentControl:
    """Spawns every agent on the given host (the single-process default)."""

    def __init__(self, host: "ActorHost") -> None:
        self.host = host

    async def spawn_agent(self, parent_scope: str, actor_names: Sequence[str], agent_name: str) -> str:
        scope = new_scope(taken=set(self.host.agents))
        await self.host.start_agent(scope, parent_scope, agent_name, actor_names)
        return scope

    async def parent_of(self, scope: str) -> str | None:
        record = self.host.agents.get(scope)
        return record.parent if record else None


class _ThreadServices:
    """What instances ask of the host, called on guest threads and run on the event loop."""

    def __init__(
        self, host: "ActorHost", working_directory: str, http_client: HttpClient, io_dir: Path
    ) -> None:
        self.host = host
        self.working_directory = working_directory
        self.http_client = http_client
        self.io_dir = io_dir

    def publish(self, envelope: Envelope) -> None:
        self.host.enqueue(envelope)

    def spawn_agent(self, parent_scope: str, actor_names: list[str], agent_name: str) -> str:
        with tracing.span(
            "spawn agent",
            kind=tracing.SpanKind.CLIENT,
            attributes={
                "wasmind.scope": parent_scope,
                "wasmind.agent_name": agent_name,
                "wasmind.actors": actor_names,
            },
        ) as span:
            headers = tracing.current_headers()  # the event loop's task does not share this thread's context

            async def spawn() -> str:
                with tracing.attached(headers):
                    return await self.host.agent_control.spawn_agent(parent_scope, actor_names, agent_name)

            scope: str = from_thread.run(spawn, token=self.host.token)
            if span is not None:
                span.set_attribute("wasmind.new_scope", scope)
            return scope

    def parent_of(self, scope: str) -> str | None:
        parent: str | None = from_thread.run(self.host.agent_control.parent_of, scope, token=self.host.token)
        return parent


class ActorHost:
    """Agents of one process. Use as ``async with ActorHost(...) as host:``."""

    def __init__(
        self,
        specs: Mapping[str, ActorSpec],
        spawn_rules: Mapping[str, SpawnRules] | None = None,
        *,
        bus: Bus,
        swarm: str = "default",
        working_directory: str | None = None,
        agent_control: AgentControl | None = None,
        http_client: HttpClient | None = None,
        threads: int = 512,
        restart_backoff: float = 1.0,
        shutdown_grace: float = 10.0,
        max_payload: int = MAX_PAYLOAD,
        host_id: str = "local",
        on_agent_exit: Callable[[AgentRecord], Awaitable[None]] | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.spawn_rules = dict(spawn_rules) if spawn_rules is not None else {n: SpawnRules() for n in specs}
        self.bus = bus
        self.swarm = subjects.validate_swarm(swarm)
        self.working_directory = working_directory or str(Path.cwd())
        self.agent_control: AgentControl = agent_control or LocalAgentControl(self)
        self._http_client = http_client
        self.workers = GuestWorkers(threads)
        self._outbound: deque[Envelope] = deque()
        self._outbound_room = threading.Event()
        self._outbound_room.set()
        self._wake = asyncio.Event()
        self._publish_lock = asyncio.Lock()
        self.restart_backoff = restart_backoff
        self.shutdown_grace = shutdown_grace
        self.max_payload = max_payload
        self.host_id = host_id
        self.on_agent_exit = on_agent_exit
        self.agents: dict[str, AgentRecord] = {}
        self.replayable: list[Envelope] = []
        self.root_exited = anyio.Event()
        self.restarts = 0
        self._routes: dict[str, set[SupervisedActor]] = {}
        self._started_on_delivery: list[Started[Any]] = []
        """Calls that messages from the bus started since its last read pass (``_after_read_pass``)."""
        self._bus_delivery = False
        self._target_cache: dict[tuple[str, str, str | None], tuple[SupervisedActor, ...]] = {}
        """``_find_targets`` by (message type, scope, pattern); emptied whenever a route changes."""
        self._arrivals: dict[tuple[str, str], _Arrival] = {}
        """:meth:`_arrival` by (subject, pattern): the path of every message from the bus; emptied
        with ``_target_cache``."""
        self._subscriptions: dict[str, Subscription] = {}
        self._tg: TaskGroup | None = None
        self._io: tempfile.TemporaryDirectory[str] | None = None
        self.services: _ThreadServices

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.token = anyio.lowlevel.current_token()
        self._loop = asyncio.get_running_loop()
        self._io = output_directory()
        http_client = self._http_client or HttpClient()
        self.services = _ThreadServices(self, self.working_directory, http_client, Path(self._io.name))
        self.bus.on_read_pass(self._after_read_pass)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._pump_scope = anyio.CancelScope()
        self._tg.start_soon(self._run_pump)
        self._unobserve = metrics.observe_mailboxes(self._mailbox_depths)
        return self

    def _mailbox_depths(self) -> list[tuple[dict[str, str], int]]:
        """``(attributes, depth)`` of every running actor instance (read by the metrics exporter)."""
        return [
            ({"wasmind.actor_id": m.spec.actor_id, "wasmind.scope": m.scope}, len(m.mailbox))
            for record in list(self.agents.values())
            for m in list(record.members)
        ]

    async def __aexit__(self, *exc_info: object) -> None:
        self._unobserve()
        try:
            await self.shutdown()
        finally:
            assert self._tg is not None
            await self._tg.__aexit__(*exc_info)  # type: ignore[arg-type]
            if self._http_client is None:
                self.services.http_client.close()
            if self._io is not None:
                self._io.cleanup()
            self.workers.close()

    async def shutdown(self) -> None:
        """Stop every agent: current handlers may finish within the grace period, destructors run."""
        live = [record for record in self.agents.values() if not record.exited]
        members = [member for record in live for member in record.members]
        for record in live:
            self._end_agent(record, Envelope(root_id(), Exit.TYPE, CONTEXT_SENDER, record.scope, b"null"))
        with anyio.move_on_after(self.shutdown_grace):
            for member in members:
                await member.stopped.wait()
        for member in members:  # past the grace period: stop waiting for them
            member.cancel_scope.cancel()
        async with self._publish_lock:
            await self._publish_queued()  # what the destructors broadcast
        self._pump_scope.cancel()

    def backoff(self, crashes: int) -> float:
        """Seconds to wait before restart number ``crashes``."""
        return backoff_seconds(crashes, start=self.restart_backoff, limit=30.0 * self.restart_backoff)

    # --- agents ---------------------------------------------------------------------------------

    async def start_agent(
        self, scope: str, parent: str | None, name: str, requested: Sequence[str]
    ) -> AgentRecord:
        """Create agent ``scope`` with the expansion of ``requested``; atomic: raises :class:`SpawnError`."""
        if scope in self.agents and not self.agents[scope].exited:
            raise SpawnError(f"Failed to spawn agent: scope {scope} is already running on this host")
        try:
            names = expand_spawn_list(requested, self.spawn_rules)
        except UnknownActorError as error:
            raise SpawnError(f"Failed to spawn agent: {error}") from None
        record = AgentRecord(scope, parent, name, names)
        record.members = [SupervisedActor(self, self.specs[n], scope) for n in names]
        self.agents[scope] = record  # parent and expected set exist before any constructor runs
        for member in record.members:
            await self._route(member)
        await self._route_lifecycle(scope)
        try:
            failure = await self._construct_members(record)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._rollback(record)
            raise
        if failure is not None:
            await self._rollback(record)
            raise SpawnError(f"Failed to spawn agent: {failure}")
        await self._all_ready(record)
        spawned = AgentSpawned(agent_id=scope, name=name, parent_agent=parent, actors=names)
        await self.publish(
            Envelope(root_id(), AgentSpawned.TYPE, CONTEXT_SENDER, ROOT_SCOPE, encode(spawned))
        )
        log.info("agent spawned", scope=scope, name=name, parent=parent, actors=names)
        return record

    async def _construct_members(self, record: AgentRecord) -> str | None:
        """Run the constructors in list order, starting each loop; the failure text, if one trapped."""
        for member in record.members:
            try:
                await member.construct()
            except GuestTrap as trap:
                actor = f"actor '{member.spec.logical_name}' ({member.spec.actor_id})"
                if trap.phase == "instantiate":
                    return f"{actor} could not be instantiated: {trap.summary}"
                return f"constructor of {actor} failed: {trap.summary}"
            assert self._tg is not None
            self._tg.start_soon(self._run_member, record, member)
            await self.publish(
                Envelope(root_id(), ActorReady.TYPE, member.spec.actor_id, record.scope, b"null")
            )
        return None

    async def _rollback(self, record: AgentRecord) -> None:
        """Undo a failed spawn: stop started members (destructors run), forget the agent."""
        record.exited = True  # its loops ending must not report a finished agent
        for member in record.members:
            member.mailbox.close()
        for member in record.members:
            if member.instance is not None:
                await member.stopped.wait()
            await self._unroute(member)
        self.agents.pop(record.scope, None)
        await self._release(InterestFilter.lifecycle_pattern(self.swarm, record.scope))

    async def _all_ready(self, record: AgentRecord) -> None:
        """``AllActorsReady`` for the agent, then the replay of replayable messages to its members."""
        record.ready = True
        await self.publish(Envelope(root_id(), AllActorsReady.TYPE, READY_SENDER, record.scope, b"null"))
        for envelope in list(self.replayable):
            for member in record.members:
                if member.interest.wants(envelope.message_type, target_scope(envelope)):
                    await member.deliver(envelope)

    async def actor_restarted(self, member: SupervisedActor) -> None:
        """A restarted instance is ready: ``ActorReady``, then ``AllActorsReady`` again and the replay."""
        await self.publish(Envelope(root_id(), ActorReady.TYPE, member.spec.actor_id, member.scope, b"null"))
        record = self.agents.get(member.scope)
        if record is not None and not record.exited:
            await self._all_ready(record)

    async def _run_member(self, record: AgentRecord, member: SupervisedActor) -> None:
        try:
            with member.cancel_scope:
                await member.run()
        finally:
            with anyio.CancelScope(shield=True):
                await self._unroute(member)
                if not record.exited and all(m.stopped.is_set() for m in record.members):
                    await self._agent_finished(record)

    async def _agent_finished(self, record: AgentRecord) -> None:
        record.exited = True
        record.members = []
        await self._release(InterestFilter.lifecycle_pattern(self.swarm, record.scope))
        log.info("agent exited", scope=record.scope, name=record.name)
        if record.scope == ROOT_SCOPE:
            self.root_exited.set()
        if self.on_agent_exit is not None:
            await self.on_agent_exit(record)

    def _end_agent(self, record: AgentRecord, exit_envelope: Envelope) -> None:
        for member in record.members:
            member.queue_exit(exit_envelope)

    async def stop_agent(self, scope: str) -> None:
        """End agent ``scope`` as if its ``Exit`` arrived, and wait until its destructors ran."""
        record = self.agents.get(scope)
        if record is None or record.exited:
            return
        members = list(record.members)
        self._end_agent(record, Envelope(root_id(), Exit.TYPE, CONTEXT_SENDER, scope, b"null"))
        for member in members:
            await member.stopped.wait()

    # --- messages -------------------------------------------------------------------------------

    def enqueue(self, envelope: Envelope) -> None:
        """Hand a guest's broadcast to the host (called on guest threads; returns once accepted).

        Broadcasts leave in the order they were made (one queue per host); the guest waits only
        when the queue is full, at most the mailbox wait, and a message that still does not fit is
        dropped with a report.
        """
        if len(self._outbound) >= OUTBOUND_LIMIT and not self._outbound_room.wait(
            Limits().mailbox_wait_seconds
        ):
            log.error(
                "broadcast dropped: outbound queue full",
                message_type=envelope.message_type,
                from_actor_id=envelope.from_actor_id,
                from_scope=envelope.from_scope,
            )
            return
        self._outbound.append(envelope)
        if len(self._outbound) >= OUTBOUND_LIMIT:
            self._outbound_room.clear()
        gil.call_soon_threadsafe(self._loop, self._wake.set)

    async def publish_broadcasts(self, caller: SupervisedActor) -> None:
        """Publish what guests queued, now (called by ``caller`` right after its calls return).

        Saves the outbound pump's wake-up on the path of every reply; the pump still catches what
        is broadcast while no call has just returned (a call blocked in a host call) and runs
        after this anyway, finding the queue empty. Left to the pump when the caller's own
        mailbox might not take it all: waiting for room there would be this very task waiting
        for itself.
        """
        room = caller.mailbox.capacity - len(caller.mailbox)
        if self._outbound and len(self._outbound) <= room and not self._publish_lock.locked():
            async with self._publish_lock:
                await self._publish_queued()

    def started_on_delivery(self, started: "Started[Any]") -> None:
        """A delivery started an idle actor's call (``SupervisedActor.offer``)."""
        if self._bus_delivery:
            self._started_on_delivery.append(started)

    def _after_read_pass(self) -> None:
        """The bus handed over what arrived together. If that started exactly one call, wait for
        it here, up to ``LONE_CALL_WAIT``, as its actor's task would a loop pass later: the worker
        then finds the GIL free as it wakes. Several calls run in parallel instead."""
        started, self._started_on_delivery = self._started_on_delivery, []
        if len(started) == 1:
            started[0].block(LONE_CALL_WAIT)

    def publish_from_guest_thread(self) -> None:
        """Publish queued broadcasts on the calling guest thread, while the event loop waits for it.

        Run by the worker at the end of a lone message's call, only while the event-loop thread is
        blocked waiting for that call (``GuestWorkers.start(then=...)``), so no code runs on the
        loop meanwhile: the reply leaves without waiting for the loop thread to wake up (~50 µs on
        these VMs, on every hop). Only what needs nothing of the loop goes: no local recipient, no
        ``Exit``, tracing off, and the bus able to write at once. Anything else stays queued, in
        order, for :meth:`publish_broadcasts` right after.
        """
        try:
            if self._publish_lock.locked() or tracing.enabled():
                return
            while self._outbound:
                envelope = self._outbound[0]
                if not self._publish_without_loop(envelope):
                    return
                self._outbound.popleft()
                if len(self._outbound) < OUTBOUND_LIMIT // 2:
                    self._outbound_room.set()
        except Exception:  # never let the guest thread fail: the loop publishes what is left
            log.exception("publishing from a guest thread failed; left to the event loop")

    def _publish_without_loop(self, envelope: Envelope) -> bool:
        """:meth:`_publish_now` for a message bound only for the bus, if it can go at once."""
        if len(envelope.payload) > self.max_payload or envelope.message_type == EXIT_TYPE:
            return False
        scope = target_scope(envelope)
        if self._targets(envelope.message_type, scope, None):
            return False
        subject = subjects.data(self.swarm, scope, envelope.message_type)
        if not self.bus.publish_now(subject, envelope_to_headers(envelope, self.host_id), envelope.payload):
            return False
        self._published(envelope, scope)
        return True

    async def _run_pump(self) -> None:
        with self._pump_scope:
            await self._outbound_pump()

    async def _outbound_pump(self) -> None:
        """Publishes queued broadcasts, in order, whenever a guest queued some."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self._publish_lock:
                await self._publish_queued()

    async def _publish_queued(self) -> None:
        while self._outbound:
            envelope = self._outbound.popleft()
            if len(self._outbound) < OUTBOUND_LIMIT // 2:
                self._outbound_room.set()
            try:
                await self._publish_now(envelope)
            except Exception:  # one bad message must not stop the host's outbound queue
                log.exception(
                    "publish failed", message_type=envelope.message_type, from_actor_id=envelope.from_actor_id
                )

    async def publish(self, envelope: Envelope) -> None:
        """Deliver to local actors, then publish on the bus for everyone else.

        Broadcasts queued by guests go first, so runtime messages (``ActorReady``, ...) never
        overtake what an instance broadcast before them. A payload over ``max_payload`` is refused
        for everyone: logged, and the user is told.
        """
        async with self._publish_lock:
            await self._publish_queued()
            await self._publish_now(envelope)

    async def _publish_now(self, envelope: Envelope) -> None:
        if len(envelope.payload) > self.max_payload:
            await self._refuse_oversized(envelope)
            return
        scope = target_scope(envelope)
        subject = subjects.data(self.swarm, scope, envelope.message_type)
        if not tracing.enabled():
            await self._send(envelope, scope, subject)
            return
        with tracing.span(
            f"{envelope.message_type} publish",
            kind=tracing.SpanKind.PRODUCER,
            parent=envelope.trace or None,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "publish",
                "messaging.destination.name": subject,
                "messaging.message.id": envelope.id,
                "wasmind.message_type": envelope.message_type,
                "wasmind.scope": scope,
                "wasmind.from_actor_id": envelope.from_actor_id,
                "wasmind.from_scope": envelope.from_scope,
            },
        ):
            await self._send(envelope.with_trace(tracing.current_headers()), scope, subject)

    async def _send(self, envelope: Envelope, scope: str, subject: str) -> None:
        """Deliver locally, then publish on the bus."""
        self._published(envelope, scope)
        pending = self._deliver(envelope, scope, None)
        if pending is not None:
            await pending
        await self.bus.publish(subject, envelope_to_headers(envelope, self.host_id), envelope.payload)

    def _published(self, envelope: Envelope, scope: str) -> None:
        """The debug record and the metric of one message this host publishes."""
        if log_debug():
            log.debug(
                "message",
                scope=scope,
                from_actor_id=envelope.from_actor_id,
                message_type=envelope.message_type,
                correlation_id=envelope.id,
                payload=envelope.payload_text(),
            )
        if metrics.enabled():
            metrics.published(
                envelope.message_type, subjects.type_wildcard(self.swarm, envelope.message_type)
            )

    async def _refuse_oversized(self, envelope: Envelope) -> None:
        log.error(
            "message refused: payload too large",
            message_type=envelope.message_type,
            from_actor_id=envelope.from_actor_id,
            from_scope=envelope.from_scope,
            size=len(envelope.payload),
            limit=self.max_payload,
        )
        await self.notify_runtime(
            "Error",
            "Message too large",
            f"{envelope.message_type} from {envelope.from_actor_id} in agent {envelope.from_scope} has "
            f"{len(envelope.payload)} bytes; the limit is {self.max_payload}. It was not delivered.",
        )

    async def publish_replayable(self, envelope: Envelope) -> None:
        """Publish a message that every agent becoming ready later also receives (``BaseUrlUpdate``)."""
        envelope = Envelope(
            envelope.id,
            envelope.message_type,
            envelope.from_actor_id,
            envelope.from_scope,
            envelope.payload,
            replayable=True,
            trace=envelope.trace,
        )
        self.replayable.append(envelope)
        await self.publish(envelope)

    async def notify_runtime(self, level: str, title: str, message: str) -> None:
        """Broadcast a runtime ``UserNotification`` (queued: safe from inside delivery)."""
        note = UserNotification(level=level, title=title, message=message, source=RUNTIME_SOURCE)
        envelope = Envelope(root_id(), UserNotification.TYPE, CONTEXT_SENDER, ROOT_SCOPE, encode(note))
        self._outbound.append(envelope.with_trace(tracing.current_headers()))
        self._wake.set()

    def _deliver(self, envelope: Envelope, scope: str, pattern: str | None) -> Awaitable[None] | None:
        """Deliver to the local instances that want it (via ``pattern`` only, for bus arrivals).

        Returns what is left to await when a mailbox is full (``None``: delivered, the usual case).
        """
        return self._deliver_to(envelope, self._targets(envelope.message_type, scope, pattern), pattern)

    def _deliver_to(
        self, envelope: Envelope, targets: tuple[SupervisedActor, ...], pattern: str | None
    ) -> Awaitable[None] | None:
        """:meth:`_deliver` to ``targets``, the local instances that take the message."""
        if envelope.message_type == EXIT_TYPE:  # it ends its own agent instead of being delivered there
            lifecycle = InterestFilter.lifecycle_pattern(self.swarm, envelope.from_scope)
            if pattern is None or pattern == lifecycle:
                record = self.agents.get(envelope.from_scope)
                if record is not None and not record.exited:
                    self._end_agent(record, envelope)
            targets = tuple(member for member in targets if not member.is_own_exit(envelope))
        for index, member in enumerate(targets):
            if not member.offer(envelope):
                return self._deliver_waiting(envelope, targets[index:])
        return None

    def _targets(self, message_type: str, scope: str, pattern: str | None) -> tuple[SupervisedActor, ...]:
        """The local instances that take a message of ``message_type`` concerning ``scope``.

        Each takes it through its one pattern (:meth:`InterestFilter.pattern_for`); a bus arrival
        came through ``pattern`` and goes to those whose pattern it is. Remembered until a route
        changes (this is on the path of every message).
        """
        key = (message_type, scope, pattern)
        targets = self._target_cache.get(key)
        if targets is None:
            if len(self._target_cache) >= TARGET_CACHE_SIZE:
                self._target_cache.clear()
            targets = self._target_cache[key] = self._find_targets(message_type, scope, pattern)
        return targets

    def _find_targets(
        self, message_type: str, scope: str, pattern: str | None
    ) -> tuple[SupervisedActor, ...]:
        candidates = (
            (pattern,)
            if pattern is not None
            else (
                subjects.all_data(self.swarm),
                subjects.type_wildcard(self.swarm, message_type),
                subjects.scope_wildcard(self.swarm, scope),
                subjects.data(self.swarm, scope, message_type),
            )
        )
        return tuple(
            member
            for candidate in candidates
            for member in self._routes.get(candidate, ())
            if member.interest.pattern_for(self.swarm, message_type, scope) == candidate
        )

    @staticmethod
    async def _deliver_waiting(envelope: Envelope, members: Sequence[SupervisedActor]) -> None:
        """The rest of a delivery, from the first member whose mailbox is full, in order."""
        for member in members:
            await member.deliver(envelope)

    def _on_bus(self, messages: Sequence[BusMessage]) -> Awaitable[None] | None:
        """Deliver messages from the bus, in order; what is left to await when a mailbox is full
        or a message is refused (it delivers the rest of ``messages`` too)."""
        waiting, rest = self._deliver_from_bus(messages)
        return None if waiting is None else self._then_deliver(waiting, rest)

    def _deliver_from_bus(
        self, messages: Sequence[BusMessage]
    ) -> tuple[Awaitable[None] | None, Sequence[BusMessage]]:
        """Deliver ``messages`` until one has to wait: what it left to await and the messages
        behind it (``None, ()`` once all were delivered).

        Consecutive messages for one and the same instance (a burst, the usual case) go into its
        mailbox together (:meth:`SupervisedActor.offer_many`), unless spans are recorded.
        """
        arrivals = self._arrivals
        together = not tracing.enabled()
        run: list[Envelope] = []  # envelopes for ``member`` not handed over yet, in order
        member: SupervisedActor | None = None
        self._bus_delivery = True
        try:
            for index, (subject, headers, payload, pattern) in enumerate(messages):
                arrival = arrivals.get((subject, pattern)) or self._arrival(subject, pattern)
                if arrival is None:
                    continue
                scope, message_type, targets, checked = arrival
                envelope = envelope_from_wire(message_type, scope, headers, payload)
                if HEADER_HOST not in headers and (checked or len(payload) > self.max_payload):
                    problem = payload_problem(message_type, payload, self.max_payload)
                    if problem is not None:
                        waiting = self._hand_run(member, run)
                        if waiting is not None:
                            return waiting, messages[index:]
                        return self._refuse_external(subject, envelope, problem), messages[index + 1 :]
                if envelope.replayable and all(known.id != envelope.id for known in self.replayable):
                    self.replayable.append(envelope)
                if together and len(targets) == 1 and message_type != EXIT_TYPE:
                    if targets[0] is not member:
                        waiting = self._hand_run(member, run)
                        if waiting is not None:
                            return waiting, messages[index:]
                        member, run = targets[0], []
                    run.append(envelope)
                    continue
                waiting = self._hand_run(member, run)
                member, run = None, []
                if waiting is not None:
                    return waiting, messages[index:]
                waiting = self._deliver_to(envelope, targets, pattern)
                if waiting is not None:
                    return waiting, messages[index + 1 :]
            return self._hand_run(member, run), ()
        finally:
            self._bus_delivery = False

    def _hand_run(self, member: SupervisedActor | None, run: list[Envelope]) -> Awaitable[None] | None:
        """Put ``run`` in ``member``'s mailbox; what is left to await when it is full."""
        if not run or member is None:
            return None
        if len(run) > 1:
            taken = member.offer_many(run)
            return None if taken == len(run) else self._deliver_in_turn(member, run[taken:])
        # a lone message goes the usual way: it may start its call at once
        return None if member.offer(run[0]) else self._deliver_in_turn(member, run)

    @staticmethod
    async def _deliver_in_turn(member: SupervisedActor, envelopes: list[Envelope]) -> None:
        """The rest of a run, in order: a message that finds the mailbox full waits for room
        (:meth:`SupervisedActor.deliver`), then those behind it go in together as far as it has."""
        at = 0
        while at < len(envelopes):
            await member.deliver(envelopes[at])
            at += 1
            if at < len(envelopes):
                at += member.offer_many(envelopes[at:])

    async def _then_deliver(self, waiting: Awaitable[None] | None, rest: Sequence[BusMessage]) -> None:
        """Wait for ``waiting``, then deliver ``rest``, waiting again whenever a delivery has to."""
        while waiting is not None:
            await waiting
            waiting, rest = self._deliver_from_bus(rest)

    def _arrival(self, subject: str, pattern: str) -> _Arrival | None:
        """Scope, message type and local targets of messages on ``subject`` received through
        ``pattern`` (remembered like :meth:`_targets`); ``None`` for a subject that is not ours."""
        try:
            _, scope, message_type = subjects.parse_data(subject)
        except subjects.SubjectError as error:
            log.warning("ignored message with a bad subject", error=str(error))
            return None
        if len(self._arrivals) >= TARGET_CACHE_SIZE:
            self._arrivals.clear()
        arrival = self._arrivals[subject, pattern] = (
            scope,
            message_type,
            self._targets(message_type, scope, pattern),
            checks_content(message_type),
        )
        return arrival

    async def _refuse_external(self, subject: str, envelope: Envelope, reason: str) -> None:
        """Drop a malformed message from an external publisher and say so on the error subject."""
        log.warning("message refused", reason=reason, subject=subject, from_actor_id=envelope.from_actor_id)
        event = ErrorEvent(
            reason=reason,
            subject=subject,
            message_type=envelope.message_type,
            from_actor_id=envelope.from_actor_id,
            from_scope=envelope.from_scope,
            size=len(envelope.payload),
            host=self.host_id,
        )
        await self.bus.publish(subjects.error_event(self.swarm), {}, event.to_bytes())

    def load(self) -> tuple[int, int, int]:
        """``(live agents, live actor instances, messages waiting in mailboxes)``."""
        live = [record for record in self.agents.values() if not record.exited]
        members = [member for record in live for member in record.members]
        return len(live), len(members), sum(len(member.mailbox) for member in members)

    # --- subscriptions --------------------------------------------------------------------------

    async def _subscribe(self, pattern: str) -> None:
        if pattern not in self._subscriptions:
            self._subscriptions[pattern] = await self.bus.subscribe(pattern, self._on_bus)

    def _needed(self, pattern: str) -> bool:
        if pattern in self._routes:
            return True
        return any(
            pattern == InterestFilter.lifecycle_pattern(self.swarm, scope)
            for scope, record in self.agents.items()
            if not record.exited
        )

    async def _release(self, pattern: str) -> None:
        """Unsubscribe ``pattern`` unless a local actor or a live local agent still needs it."""
        if not self._needed(pattern):
            subscription = self._subscriptions.pop(pattern, None)
            if subscription is not None:
                await subscription.unsubscribe()

    def _forget_targets(self) -> None:
        self._target_cache.clear()
        self._arrivals.clear()

    async def _route(self, member: SupervisedActor) -> None:
        self._forget_targets()
        for pattern in member.interest.patterns(self.swarm):
            self._routes.setdefault(pattern, set()).add(member)
            await self._subscribe(pattern)

    async def _unroute(self, member: SupervisedActor) -> None:
        self._forget_targets()
        for pattern in member.interest.patterns(self.swarm):
            routed = self._routes.get(pattern)
            if routed is None:
                continue
            routed.discard(member)
            if not routed:
                del self._routes[pattern]
                await self._release(pattern)

    async def _route_lifecycle(self, scope: str) -> None:
        await self._subscribe(InterestFilter.lifecycle_pattern(self.swarm, scope))
