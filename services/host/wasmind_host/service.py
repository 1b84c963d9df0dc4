"""The host service: an :class:`~wasmind.runtime.host.ActorHost` on NATS, driven by the spawner.

Endpoints (``wasmind.<swarm>.ctl.host.<host id>.start|stop|shutdown``) start and stop agents;
heartbeats on ``wasmind.<swarm>.evt.host.<host id>.heartbeat`` carry liveness and load; replayable
messages are read from the swarm's replay stream; SIGTERM drains (destructors run, spawner told).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from signal import SIGINT, SIGTERM

import anyio
import nats.micro
import structlog
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.micro.request import Request

import wasmind
from wasmind.config.user import load_user_config
from wasmind.processes import pss_kib
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.context import SpawnError
from wasmind.runtime.engine import EngineSettings, EpochTicker, create_engine
from wasmind.runtime.host import ActorHost, AgentRecord
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader, LoadedActors
from wasmind.runtime.polling import PollingSelector
from wasmind.telemetry import tracing
from wasmind.transport.nats import NatsBus, NatsOptions, connect
from wasmind.wire import subjects
from wasmind.wire.control import (
    AgentEvent,
    Heartbeat,
    HostDraining,
    Reply,
    StartAgent,
    StartReply,
    StopRequest,
)
from wasmind.wire.envelope import envelope_from_wire
from wasmind.wire.ids import ROOT_SCOPE
from wasmind_host.agents import RemoteAgentControl
from wasmind_host.health import serve_health

__all__ = ["HostService", "HostSettings", "MemoryGauge"]

log = structlog.get_logger("wasmind.host")


@dataclass(frozen=True)
class HostSettings:
    """How one host process runs."""

    swarm: str
    config_path: Path
    host_id: str
    cache_dir: Path
    working_directory: str
    capacity: int = 100
    heartbeat_seconds: float = 1.0
    health_port: int | None = None
    shutdown_grace: float = 10.0
    registry_wait_seconds: float = 30.0


def pss_bytes() -> int:
    """Proportional set size of this process, 0 where unavailable."""
    try:
        return pss_kib() * 1024
    except OSError:
        return 0


MEMORY_READ_BUDGET = 0.01
"""Share of a core a host may spend reading its PSS for heartbeats."""


class MemoryGauge:
    """The host's PSS for its heartbeats, read again only once reading it has become cheap enough.

    The kernel walks every mapping for the PSS: ~1.4 ms with one instance, ~13 ms with 100, more
    with each one. Read every second, that became a steady load on hosts of many agents (and a
    lock on their memory maps meanwhile). So the next read waits ``took / budget`` after one that
    took ``took``: every heartbeat while it is cheap, every few seconds on a host of a thousand
    instances; a heartbeat in between reports the last value.
    """

    def __init__(self, budget: float = MEMORY_READ_BUDGET) -> None:
        self.budget = budget
        self.value = 0
        self._due = 0.0

    async def read(self) -> int:
        """The PSS in bytes, read now (on a worker thread, the loop goes on) or the last value."""
        started = time.monotonic()
        if started >= self._due:
            self.value = await anyio.to_thread.run_sync(pss_bytes)
            finished = time.monotonic()
            self._due = finished + (finished - started) / self.budget
        return self.value


class HostService:
    """One host process. ``await HostService(settings, options).run()`` until shutdown."""

    def __init__(
        self, settings: HostSettings, nats_options: NatsOptions, poller: PollingSelector | None = None
    ) -> None:
        """``poller``: the selector of the event loop this runs on, when it polls before sleeping
        (:class:`~wasmind.runtime.polling.PollingSelector`): it holds off while calls run."""
        self.settings = settings
        self.nats_options = nats_options
        self.poller = poller
        self._memory = MemoryGauge()
        self.stopping = anyio.Event()
        self.draining = False
        self.ready = False
        self.host: ActorHost | None = None
        self._tg: TaskGroup | None = None
        self._nc: Client | None = None

    # --- start-up --------------------------------------------------------------------------------

    def _load_actors(self) -> tuple[LoadedActors, EpochTicker]:
        settings = EngineSettings()
        engine = create_engine(settings)
        loader = ComponentLoader(
            engine, build_linker(engine), ArtifactStore(self.settings.cache_dir), settings
        )
        user = load_user_config(self.settings.config_path)
        _, loaded = loader.load_config(user, working_directory=self.settings.working_directory)
        return loaded, EpochTicker(engine).start()

    async def _registry(self, js: JetStreamContext) -> KeyValue:
        bucket = subjects.agents_bucket(self.settings.swarm)
        with anyio.fail_after(self.settings.registry_wait_seconds):
            while True:
                try:
                    return await js.key_value(bucket)
                except (BucketNotFoundError, NotFoundError):
                    await anyio.sleep(0.2)

    async def run(self) -> None:
        """Connect, load actors, serve until SIGTERM/SIGINT or a shutdown request, then drain."""
        attributes = {"wasmind.host": self.settings.host_id}
        with tracing.span("host start", parent=tracing.launch_context(), attributes=attributes):
            loaded, ticker = await anyio.to_thread.run_sync(self._load_actors)
            nc = self._nc = await connect(
                self.nats_options, no_echo=True, name=f"wasmind-host {self.settings.host_id}"
            )
        try:
            registry = await self._registry(nc.jetstream())
            bus = NatsBus(nc)
            async with (
                ActorHost(
                    loaded.specs,
                    loaded.rules,
                    bus=bus,
                    swarm=self.settings.swarm,
                    working_directory=self.settings.working_directory,
                    agent_control=RemoteAgentControl(nc, self.settings.swarm, registry),
                    host_id=self.settings.host_id,
                    on_agent_exit=self._agent_exited,
                    shutdown_grace=self.settings.shutdown_grace,
                ) as host,
                anyio.create_task_group() as tg,
            ):
                self._adopt(host)
                self._tg = tg
                await self._serve(nc, tg)
                await self.stopping.wait()
                await self._drain(nc)
                tg.cancel_scope.cancel()
            await bus.close()
        finally:
            ticker.stop()
            if not nc.is_closed:
                await nc.drain()

    def _adopt(self, host: ActorHost) -> None:
        """Serve ``host``; the event loop stops polling while its guest calls run."""
        self.host = host
        if self.poller is not None:
            self.poller.hold_off = host.workers.busy

    async def _serve(self, nc: Client, tg: TaskGroup) -> None:
        await self._follow_replays(nc.jetstream())
        service = await nats.micro.add_service(
            nc,
            name="wasmind-host",
            version=wasmind.__version__,
            metadata={"swarm": self.settings.swarm, "host": self.settings.host_id},
        )
        for verb, handler in (
            ("start", self._on_start),
            ("stop", self._on_stop),
            ("shutdown", self._on_shutdown),
        ):
            await service.add_endpoint(
                name=verb,
                subject=subjects.host_control(self.settings.swarm, self.settings.host_id, verb),
                handler=handler,
            )
        tg.start_soon(self._signals)
        tg.start_soon(self._heartbeats, nc)
        if self.settings.health_port is not None:
            port = await tg.start(
                serve_health, self.settings.health_port, lambda: self.ready and not self.draining
            )
            log.info("health endpoints", port=port)
        await nc.flush()
        self.ready = True
        await self._beat(nc)
        log.info("host ready", host=self.settings.host_id, swarm=self.settings.swarm, pid=os.getpid())

    async def _follow_replays(self, js: JetStreamContext) -> None:
        """Read every replayable message of the swarm (stored in its stream), now and as they come."""

        async def on_replay(msg: Msg) -> None:
            _, message_type = subjects.parse_replay(msg.subject)
            envelope = envelope_from_wire(message_type, ROOT_SCOPE, msg.headers, msg.data)
            envelope = envelope._replace(replayable=True)
            host = self.host
            if host is not None and all(known.id != envelope.id for known in host.replayable):
                host.replayable.append(envelope)

        try:
            await js.subscribe(
                subjects.replay_wildcard(self.settings.swarm),
                cb=on_replay,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
        except NotFoundError:
            log.warning("no replay stream yet; replayable messages published later reach this host only live")

    # --- endpoints -------------------------------------------------------------------------------

    async def _on_start(self, request: Request) -> None:
        # Constructors can spawn agents that land on this very host: never handle a start inline.
        assert self._tg is not None
        self._tg.start_soon(self._start, request)

    async def _start(self, request: Request) -> None:
        start = StartAgent.model_validate_json(request.data)
        attributes = {
            "wasmind.scope": start.scope,
            "wasmind.agent_name": start.name,
            "wasmind.host": self.settings.host_id,
        }
        with tracing.span(
            "start agent", kind=tracing.SpanKind.SERVER, parent=request.headers or {}, attributes=attributes
        ):
            await self._start_traced(request, start)

    async def _start_traced(self, request: Request, start: StartAgent) -> None:
        host = self.host
        if host is None or self.draining:
            await request.respond(
                StartReply(
                    error=f"Failed to spawn agent: host {self.settings.host_id} is draining"
                ).to_bytes()
            )
            return
        try:
            record = await host.start_agent(start.scope, start.parent, start.name, start.actors)
        except SpawnError as error:
            await request.respond(StartReply(error=str(error)).to_bytes())
            return
        await host.bus.flush()  # every subscription of the new agent is on the server before we answer
        await request.respond(StartReply(actors=record.actors).to_bytes())

    async def _on_stop(self, request: Request) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._stop, request)

    async def _stop(self, request: Request) -> None:
        stop = StopRequest.model_validate_json(request.data)
        host = self.host
        if host is not None:
            scopes = [stop.scope] if stop.scope else [s for s, r in host.agents.items() if not r.exited]
            async with anyio.create_task_group() as tg:
                for scope in scopes:
                    tg.start_soon(host.stop_agent, scope)
        await request.respond(Reply().to_bytes())

    async def _on_shutdown(self, request: Request) -> None:
        await request.respond(Reply().to_bytes())
        self.stopping.set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(SIGTERM, SIGINT) as signals:
            async for signum in signals:  # keeps handling signals (ignoring repeats) until the drain is done
                if self.stopping.is_set():
                    log.info("already draining", signal=signum)
                    continue
                log.info("signal received, draining", signal=signum)
                self.stopping.set()

    async def _agent_exited(self, record: AgentRecord) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        event = AgentEvent(scope=record.scope, event="exited", host=self.settings.host_id)
        await self._nc.publish(
            subjects.agent_event(self.settings.swarm, record.scope, "exited"), event.to_bytes()
        )

    async def _drain(self, nc: Client) -> None:
        """Stop taking agents, end every agent (destructors run), tell the spawner."""
        with tracing.span("host drain", attributes={"wasmind.host": self.settings.host_id}):
            await self._drain_agents(nc)

    async def _drain_agents(self, nc: Client) -> None:
        self.draining = True
        host = self.host
        assert host is not None
        scopes = [scope for scope, record in host.agents.items() if not record.exited]
        await self._beat(nc)
        await host.shutdown()
        try:
            await nc.request(
                subjects.control(self.settings.swarm, subjects.SPAWNER, "draining"),
                HostDraining(host=self.settings.host_id, agents=scopes).to_bytes(),
                timeout=5,
            )
        except Exception as error:  # noqa: BLE001 - the spawner may be gone already
            log.info("spawner not told about the drain", error=str(error))
        log.info("host drained", host=self.settings.host_id, agents=len(scopes))

    async def _heartbeats(self, nc: Client) -> None:
        while True:
            await anyio.sleep(self.settings.heartbeat_seconds)
            await self._beat(nc)

    async def _beat(self, nc: Client) -> None:
        memory = await self._memory.read()
        host = self.host
        if host is None or nc.is_closed:
            return
        _, actors, depth = host.load()
        beat = Heartbeat(
            host=self.settings.host_id,
            pid=os.getpid(),
            agents=[scope for scope, record in host.agents.items() if not record.exited],
            actors=actors,
            capacity=self.settings.capacity,
            mailbox_depth=depth,
            memory_bytes=memory,
            draining=self.draining,
            interval=self.settings.heartbeat_seconds,
        )
        await nc.publish(subjects.heartbeat(self.settings.swarm, self.settings.host_id), beat.to_bytes())
