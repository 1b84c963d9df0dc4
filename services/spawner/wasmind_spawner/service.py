"""The spawner: the agent registry, placement on hosts, host lifecycle and failover.

Endpoints (a NATS micro service ``wasmind-spawner``, discoverable with ``$SRV.INFO``) under
``wasmind.<swarm>.ctl.spawner.<endpoint>``: ``spawn``, ``stop``, ``list``, ``tree``, ``parent``,
``draining`` (a host leaves), ``shutdown`` (stop the swarm). It never imports wasmtime.
"""

import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
import nats.micro
import structlog
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError
from nats.micro.request import Request

import wasmind
from wasmind.telemetry import metrics, tracing
from wasmind.transport.nats import NatsOptions, connect
from wasmind.wire import subjects
from wasmind.wire.control import (
    AgentEvent,
    AgentList,
    AgentRecord,
    Heartbeat,
    HostDraining,
    ParentReply,
    ParentRequest,
    Reply,
    ShutdownRequest,
    SpawnReply,
    SpawnRequest,
    StartAgent,
    StartReply,
    StopRequest,
)
from wasmind.wire.envelope import Envelope, envelope_to_headers
from wasmind.wire.ids import CONTEXT_SENDER, ROOT_SCOPE, new_scope, root_id
from wasmind.wire.messages import Exit, UserNotification, encode
from wasmind_spawner.backends import HostBackend
from wasmind_spawner.hosts import HostState, HostTable
from wasmind_spawner.registry import Registry

__all__ = ["Spawner", "SpawnerSettings"]

log = structlog.get_logger("wasmind.spawner")

_FIRST_LAUNCH_BACKOFF = 1.0
_LAST_LAUNCH_BACKOFF = 60.0
"""After a failed launch, the hosts the swarm keeps are launched again after a pause that doubles
from the first to the last (seconds) while launches keep failing."""
_LAUNCH_POLL_SECONDS = 0.5
"""How often a launched host that has not joined yet is checked for having ended."""
_GIVE_UP_MARGIN = 2.0
"""How much longer a placement waits than a launch (so the launch is given up first, with why)."""


@dataclass(frozen=True)
class SpawnerSettings:
    """How the spawner places agents and keeps hosts."""

    swarm: str
    min_hosts: int = 1
    warm_pool: int = 1
    """Idle hosts kept ready so a spawn rarely waits for a host to start."""
    silence_factor: float = 3.0
    """A host is dead after this many heartbeat intervals without a heartbeat."""
    host_start_timeout: float = 60.0
    start_timeout: float = 120.0
    shutdown_grace: float = 15.0


class Spawner:
    """``await Spawner(settings, options, backend).run()`` until shut down."""

    def __init__(self, settings: SpawnerSettings, nats_options: NatsOptions, backend: HostBackend) -> None:
        self.settings = settings
        self.nats_options = nats_options
        self.backend = backend
        self.hosts = HostTable()
        self.launching: set[str] = set()
        self.launch_failures = 0
        self.launch_problem = ""
        """What went wrong with the last launch that failed (for the spawn errors it causes)."""
        self._retry_launches_at: float | None = None
        self._launch_backoff = _FIRST_LAUNCH_BACKOFF
        self.stopping = anyio.Event()
        self.swarm_exited = False
        self._nc: Client | None = None
        self._registry: Registry | None = None
        self._tg: TaskGroup | None = None
        self._lock = anyio.Lock()

    @property
    def nc(self) -> Client:
        """The connection (after ``run`` connected)."""
        assert self._nc is not None
        return self._nc

    @property
    def registry(self) -> Registry:
        """The agent registry (after ``run`` opened it)."""
        assert self._registry is not None
        return self._registry

    # --- start-up --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the registry, serve the endpoints, keep the hosts, until shutdown."""
        self._nc = await connect(self.nats_options, name="wasmind-spawner")
        js = self.nc.jetstream()
        self._registry = await Registry.open(js, self.settings.swarm)
        await self._replay_stream(js)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await self._subscribe()
                await self._serve()
                tg.start_soon(self._watch_hosts)
                await self.nc.flush()
                log.info("spawner ready", swarm=self.settings.swarm)
                await self.stopping.wait()
                await self._shutdown_hosts()
                tg.cancel_scope.cancel()
        finally:
            await self.backend.close()
            if not self.nc.is_closed:
                await self.nc.drain()

    async def _replay_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=subjects.replay_stream(self.settings.swarm),
            subjects=[subjects.replay_wildcard(self.settings.swarm)],
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)

    async def _subscribe(self) -> None:
        swarm = self.settings.swarm
        await self.nc.subscribe(subjects.heartbeat(swarm, "*"), cb=self._on_heartbeat)
        await self.nc.subscribe(subjects.agent_event(swarm, "*", "exited"), cb=self._on_agent_exited)
        await self.nc.subscribe(subjects.data(swarm, ROOT_SCOPE, Exit.TYPE), cb=self._on_root_exit)

    async def _serve(self) -> None:
        service = await nats.micro.add_service(
            self.nc,
            name="wasmind-spawner",
            version=wasmind.__version__,
            metadata={"swarm": self.settings.swarm},
        )
        handlers: dict[str, Callable[[Request], Awaitable[None]]] = {
            "spawn": self._in_task(self._spawn_endpoint),
            "stop": self._in_task(self._stop_endpoint),
            "list": self._list_endpoint,
            "tree": self._tree_endpoint,
            "parent": self._parent_endpoint,
            "draining": self._in_task(self._draining_endpoint),
            "shutdown": self._shutdown_endpoint,
        }
        for name, handler in handlers.items():
            await service.add_endpoint(
                name=name,
                subject=subjects.control(self.settings.swarm, subjects.SPAWNER, name),
                handler=handler,
            )

    def _in_task(
        self, handler: Callable[[Request], Coroutine[Any, Any, None]]
    ) -> Callable[[Request], Awaitable[None]]:
        """Run a slow endpoint in its own task, so a spawn never waits behind another."""

        async def start(request: Request) -> None:
            assert self._tg is not None
            self._tg.start_soon(handler, request)

        return start

    # --- spawning --------------------------------------------------------------------------------

    async def spawn(self, request: SpawnRequest) -> SpawnReply:
        """Create an agent on a host with room (starting a host when none has)."""
        scope = request.scope or self.registry.new_scope()
        existing = self.registry.get(scope)
        if existing is not None and existing.status in ("running", "starting", "moving"):
            return SpawnReply(
                error=f"Failed to spawn agent: scope {scope} is already running on {existing.host}"
            )
        record = AgentRecord(scope=scope, parent=request.parent, name=request.name, requested=request.actors)
        await self.registry.put(record)
        reply = await self._start_somewhere(record)
        if reply.error:
            await self.registry.forget(scope)
            return SpawnReply(error=reply.error)
        await self._event(AgentEvent(scope=scope, event="spawned", host=record.host))
        return SpawnReply(scope=scope, host=record.host, actors=record.actors)

    async def _start_somewhere(self, record: AgentRecord) -> StartReply:
        """Place ``record`` and start it there; updates the record on success."""
        with tracing.span("placement", attributes={"wasmind.scope": record.scope}) as span:
            host = await self._place()
            if span is not None:
                span.set_attribute("wasmind.host", host if isinstance(host, str) else host.host_id)
        if isinstance(host, str):
            return StartReply(error=f"Failed to spawn agent: {host}")
        start = StartAgent(
            scope=record.scope, parent=record.parent, name=record.name, actors=record.requested
        )
        try:
            msg = await self.nc.request(
                subjects.host_control(self.settings.swarm, host.host_id, "start"),
                start.to_bytes(),
                timeout=self.settings.start_timeout,
                headers=tracing.current_headers() or None,
            )
            reply = StartReply.model_validate_json(msg.data)
        except Exception as error:  # noqa: BLE001 - timeout, no responders: the host is gone or stuck
            reply = StartReply(error=f"Failed to spawn agent: host {host.host_id} did not answer ({error!r})")
        self.hosts.release(host.host_id, None if reply.error else record.scope)
        if not reply.error:
            record.host, record.actors, record.status = host.host_id, reply.actors, "running"
            await self.registry.put(record)
        await self._keep_warm_pool()
        return reply

    async def _place(self) -> HostState | str:
        """A host with a free slot (reserved), launching one and waiting for it when none has room;
        else why there is none: none could be started in time, or the launch it waited for failed."""
        failures = self.launch_failures
        # a launch it waits for is given up (with its reason) before this gives up
        with anyio.move_on_after(self.settings.host_start_timeout + _GIVE_UP_MARGIN):
            while True:
                chosen = self.hosts.place()
                if chosen is not None:
                    return chosen
                if self.launch_failures != failures and not self.launching:
                    return self.launch_problem  # the launches it waited for failed
                if not self.launching:
                    await self._launch()
                    continue  # it may have failed at once
                await self.hosts.changed.wait()
        reason = (
            f"no host with free capacity could be started within {self.settings.host_start_timeout:.0f} s"
        )
        return f"{reason} (last launch problem: {self.launch_problem})" if self.launch_problem else reason

    async def _launch(self) -> bool:
        """Start a host (False: the backend failed to); a launch that fails, or whose host does not
        join in time, is given up and said (logged, and in the errors of the spawns waiting for it)."""
        host_id = f"h-{new_scope().lower()}"
        self.launching.add(host_id)
        try:
            with tracing.span("host launch", attributes={"wasmind.host": host_id}):
                await self.backend.launch(host_id)
        except Exception as error:  # noqa: BLE001 - refused, no resources...: the spawner carries on
            self.launching.discard(host_id)
            self._launch_failed(host_id, f"could not be launched: {error}")
            return False
        assert self._tg is not None
        self._tg.start_soon(self._give_up_unless_joined, host_id)
        return True

    async def _give_up_unless_joined(self, host_id: str) -> None:
        """Give the launch of ``host_id`` up when its host ends, or has not joined in time."""
        timeout = self.settings.host_start_timeout
        what = f"did not join within {timeout:.0f} s"
        with anyio.move_on_after(timeout):
            while host_id in self.launching:
                if await self.backend.exited(host_id):
                    what = "ended before it joined"
                    break
                await anyio.sleep(_LAUNCH_POLL_SECONDS)
        if host_id not in self.launching:
            return
        diagnosis = await self.backend.describe(host_id)
        if host_id not in self.launching:
            return  # it joined meanwhile
        self.launching.discard(host_id)
        await self.backend.terminate(host_id, grace=0)
        self._launch_failed(host_id, what + (f": {diagnosis}" if diagnosis else ""))

    def _launch_failed(self, host_id: str, what: str) -> None:
        self.launch_failures += 1
        self.launch_problem = f"host {host_id} {what}"
        log.error("host launch failed", host=host_id, problem=what)
        self._retry_launches_at = time.monotonic() + self._launch_backoff
        self._launch_backoff = min(self._launch_backoff * 2, _LAST_LAUNCH_BACKOFF)
        self.hosts.notify()

    async def _keep_warm_pool(self) -> None:
        """Launch hosts until the minimum count and the idle warm pool are met."""
        if self.stopping.is_set() or self.swarm_exited:
            return
        missing = max(
            self.settings.min_hosts - len(self.hosts.hosts) - len(self.launching),
            self.settings.warm_pool - self.hosts.idle_count() - len(self.launching),
        )
        for _ in range(missing):
            if not await self._launch():
                break

    # --- hosts -----------------------------------------------------------------------------------

    async def _on_heartbeat(self, msg: Msg) -> None:
        beat = Heartbeat.model_validate_json(msg.data)
        if self.hosts.update(beat):
            self.launching.discard(beat.host)
            self._launch_backoff = _FIRST_LAUNCH_BACKOFF
            log.info("host joined", host=beat.host, capacity=beat.capacity)

    async def _watch_hosts(self) -> None:
        await self._keep_warm_pool()
        while True:
            await anyio.sleep(0.25)
            if self._retry_launches_at is not None and time.monotonic() >= self._retry_launches_at:
                self._retry_launches_at = None  # after a failed launch, with a growing pause
                await self._keep_warm_pool()
            for silent in self.hosts.silent(self.settings.silence_factor):
                await self._host_lost(silent.host_id, "stopped sending heartbeats")

    async def _host_lost(self, host_id: str, why: str) -> None:
        """A host died: forget it, stop what is left of it, move its agents to live hosts."""
        if self.hosts.remove(host_id) is None:
            return
        log.warning("host lost", host=host_id, reason=why)
        await self.backend.terminate(host_id, grace=0)
        orphans = self.registry.on_host(host_id)
        for record in orphans:
            record.status = "moving"
            await self.registry.put(record)
        async with anyio.create_task_group() as tg:
            for record in orphans:
                tg.start_soon(self._move, record, host_id, why)
        await self._keep_warm_pool()

    async def _move(self, record: AgentRecord, old_host: str, why: str) -> None:
        reply = await self._start_somewhere(record)
        if reply.error:
            record.status = "failed"
            await self.registry.put(record)
            await self._event(
                AgentEvent(scope=record.scope, event="failed", host=old_host, detail=reply.error)
            )
            await self._notify(
                "Error",
                "Agent lost",
                f"agent {record.scope} ({record.name}) was on host {old_host}, "
                f"which {why}, and could not be restarted: {reply.error}",
            )
            return
        record.restarts += 1
        await self.registry.put(record)
        await self._event(
            AgentEvent(scope=record.scope, event="moved", host=record.host, detail=f"from {old_host}")
        )
        await self._notify(
            "Warning",
            "Agent restarted on another host",
            f"agent {record.scope} ({record.name}) was restarted on host {record.host} after host "
            f"{old_host} {why}; its actors started fresh",
        )

    async def _shutdown_hosts(self) -> None:
        for host_id in list(self.hosts.hosts):
            try:
                await self.nc.request(
                    subjects.host_control(self.settings.swarm, host_id, "shutdown"),
                    ShutdownRequest().to_bytes(),
                    timeout=5,
                )
            except Exception as error:  # noqa: BLE001 - already gone
                log.info("host did not confirm shutdown", host=host_id, error=repr(error))
        await self.backend.close()  # waits for the drained hosts to exit (forced after a grace period)

    # --- events ----------------------------------------------------------------------------------

    async def _on_agent_exited(self, msg: Msg) -> None:
        event = AgentEvent.model_validate_json(msg.data)
        record = self.registry.get(event.scope)
        if record is not None and record.host == event.host and record.status == "running":
            record.status = "stopped"
            await self.registry.put(record)

    async def _on_root_exit(self, msg: Msg) -> None:
        """An ``Exit`` from the root ends the swarm: every agent on every host stops."""
        if self.swarm_exited:
            return
        self.swarm_exited = True
        log.info("root agent exited: stopping the swarm")
        await self._stop_everywhere()
        await self.nc.publish(subjects.event(self.settings.swarm, "swarm", "exited"), b"{}")

    async def _stop_everywhere(self) -> None:
        async with anyio.create_task_group() as tg:
            for host_id in list(self.hosts.hosts):
                tg.start_soon(self._stop_on, host_id, None)

    async def _stop_on(self, host_id: str, scope: str | None) -> None:
        try:
            await self.nc.request(
                subjects.host_control(self.settings.swarm, host_id, "stop"),
                StopRequest(scope=scope).to_bytes(),
                timeout=self.settings.shutdown_grace,
            )
        except Exception as error:  # noqa: BLE001
            log.warning("host did not confirm stop", host=host_id, scope=scope, error=repr(error))
        for record in self.registry.on_host(host_id):
            if scope is None or record.scope == scope:
                record.status = "stopped"
                await self.registry.put(record)

    async def _event(self, event: AgentEvent) -> None:
        await self.nc.publish(
            subjects.agent_event(self.settings.swarm, event.scope, event.event), event.to_bytes()
        )

    async def _notify(self, level: str, title: str, message: str) -> None:
        note = UserNotification(level=level, title=title, message=message, source="spawner")
        envelope = Envelope(root_id(), UserNotification.TYPE, CONTEXT_SENDER, ROOT_SCOPE, encode(note))
        await self.nc.publish(
            subjects.data(self.settings.swarm, ROOT_SCOPE, UserNotification.TYPE),
            envelope.payload,
            headers=envelope_to_headers(envelope, "spawner"),
        )

    # --- endpoints -------------------------------------------------------------------------------

    async def _spawn_endpoint(self, request: Request) -> None:
        spawn = SpawnRequest.model_validate_json(request.data)
        attributes = {
            "wasmind.agent_name": spawn.name,
            "wasmind.actors": spawn.actors,
            "wasmind.parent_scope": spawn.parent or "",
        }
        started = time.perf_counter()
        with tracing.span(
            "spawn", kind=tracing.SpanKind.SERVER, parent=request.headers or {}, attributes=attributes
        ) as span:
            reply = await self.spawn(spawn)
            if span is not None:
                span.set_attribute("wasmind.scope", reply.scope or "")
                span.set_attribute("wasmind.host", reply.host or "")
                if reply.error:
                    tracing.error(span, reply.error)
        metrics.spawned(time.perf_counter() - started, reply.error is None)
        await request.respond(reply.to_bytes())

    async def _stop_endpoint(self, request: Request) -> None:
        stop = StopRequest.model_validate_json(request.data)
        if stop.scope is None:
            await self._stop_everywhere()
        else:
            record = self.registry.get(stop.scope)
            if record is None or record.host is None:
                await request.respond(Reply(error=f"unknown agent {stop.scope}").to_bytes())
                return
            await self._stop_on(record.host, stop.scope)
        await request.respond(Reply().to_bytes())

    async def _list_endpoint(self, request: Request) -> None:
        await request.respond(AgentList(agents=list(self.registry.records.values())).to_bytes())

    async def _tree_endpoint(self, request: Request) -> None:
        await request.respond(json.dumps(_tree(list(self.registry.records.values()))).encode())

    async def _parent_endpoint(self, request: Request) -> None:
        record = self.registry.get(ParentRequest.model_validate_json(request.data).scope)
        await request.respond(ParentReply(parent=record.parent if record else None).to_bytes())

    async def _draining_endpoint(self, request: Request) -> None:
        draining = HostDraining.model_validate_json(request.data)
        await request.respond(Reply().to_bytes())
        self.hosts.remove(draining.host)
        assert self._tg is not None
        self._tg.start_soon(self.backend.reap, draining.host, self.settings.shutdown_grace)
        if self.swarm_exited or self.stopping.is_set():
            for scope in draining.agents:
                record = self.registry.get(scope)
                if record is not None:
                    record.status = "stopped"
                    await self.registry.put(record)
            return
        for record in [r for s in draining.agents if (r := self.registry.get(s)) is not None]:
            record.status = "moving"
            await self._move(record, draining.host, "was drained")

    async def _shutdown_endpoint(self, request: Request) -> None:
        await request.respond(Reply().to_bytes())
        self.stopping.set()


def _tree(records: list[AgentRecord]) -> list[dict[str, object]]:
    """Agents nested under their parents (roots first, children in creation order)."""
    children: dict[str | None, list[AgentRecord]] = {}
    for record in records:
        children.setdefault(record.parent, []).append(record)

    def node(record: AgentRecord) -> dict[str, object]:
        data: dict[str, object] = json.loads(record.to_bytes())
        data["children"] = [node(child) for child in children.get(record.scope, [])]
        return data

    known = {r.scope for r in records}
    return [node(r) for r in records if r.parent is None or r.parent not in known]
