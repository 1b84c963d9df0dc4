"""A real swarm for tests: the spawner as a subprocess (it launches host subprocesses) on a real NATS."""

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from nats.aio.client import Client
from nats.aio.msg import Msg
from wasmind_cli.embedded import wait_for_spawner
from wasmind_spawner.launch import spawner_command

from wasmind.transport.nats import NatsOptions, connect
from wasmind.wire import subjects
from wasmind.wire.control import AgentList, Heartbeat, ShutdownRequest, SpawnReply, SpawnRequest
from wasmind.wire.envelope import Envelope, envelope_from_wire, envelope_to_headers, target_scope
from wasmind.wire.ids import root_id

CONFIG = Path(__file__).resolve().parent / "swarm" / "swarm.toml"


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Swarm:
    """Handle on a running swarm: its connection, its messages, its hosts."""

    nc: Client
    name: str
    spawner: subprocess.Popen[bytes]
    log_dir: Path
    messages: list[Envelope] = field(default_factory=list)
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def _touch(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def start(self) -> None:
        async def on_data(msg: Msg) -> None:
            _, scope, message_type = subjects.parse_data(msg.subject)
            self.messages.append(envelope_from_wire(message_type, scope, msg.headers, msg.data))
            self._touch()

        async def on_beat(msg: Msg) -> None:
            beat = Heartbeat.model_validate_json(msg.data)
            self.heartbeats[beat.host] = beat
            self._touch()

        async def on_event(msg: Msg) -> None:
            self.events.append((msg.subject, json.loads(msg.data) if msg.data else {}))
            self._touch()

        await self.nc.subscribe(subjects.all_data(self.name), cb=on_data)
        await self.nc.subscribe(subjects.heartbeat(self.name, "*"), cb=on_beat)
        await self.nc.subscribe(f"wasmind.{self.name}.evt.agent.>", cb=on_event)
        await self.nc.subscribe(subjects.error_event(self.name), cb=on_event)

    async def until(self, check: Callable[[], Any], seconds: float = 30, what: str = "condition") -> Any:
        """Wait until ``check()`` is truthy; returns its value."""
        with anyio.move_on_after(seconds):
            while not (value := check()):
                with anyio.move_on_after(0.2):
                    await self.changed.wait()
            return value
        raise TimeoutError(f"timed out after {seconds} s waiting for {what}")

    async def spawn(
        self, actors: list[str], name: str = "Agent", parent: str | None = None, scope: str | None = None
    ) -> SpawnReply:
        request = SpawnRequest(actors=actors, name=name, parent=parent, scope=scope)
        reply = await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "spawn"), request.to_bytes(), timeout=120
        )
        return SpawnReply.model_validate_json(reply.data)

    async def agents(self) -> AgentList:
        reply = await self.nc.request(subjects.control(self.name, subjects.SPAWNER, "list"), b"{}", timeout=5)
        return AgentList.model_validate_json(reply.data)

    async def publish(self, message_type: str, payload: Any, scope: str = "000000") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        envelope = Envelope(root_id(), message_type, "test", scope, body)
        subject = subjects.data(self.name, target_scope(envelope), message_type)
        await self.nc.publish(subject, body, headers=envelope_to_headers(envelope))

    def of_type(
        self, message_type: str, where: Callable[[Envelope], bool] = lambda e: True
    ) -> list[Envelope]:
        return [e for e in self.messages if e.message_type == message_type and where(e)]

    async def probe_result(self, op: str, scope: str, seconds: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for e in self.of_type("test.probe.result", lambda e: e.from_scope == scope):
                data: dict[str, Any] = json.loads(e.payload)
                if data.get("op") == op:
                    return data
            return None

        result: dict[str, Any] = await self.until(found, seconds, f"probe result {op} from {scope}")
        return result

    def host_of(self, scope: str) -> str | None:
        for beat in self.heartbeats.values():
            if scope in beat.agents:
                return beat.host
        return None


@asynccontextmanager
async def running_swarm(
    nats_url: str,
    name: str,
    work: Path,
    *,
    hosts: int = 2,
    capacity: int = 100,
    warm_pool: int = 0,
    heartbeat: float = 0.3,
    config: Path = CONFIG,
    spawner_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Swarm]:
    """The spawner of swarm ``name`` (actors from ``config``) with ``hosts`` hosts; shut down on exit.

    ``spawner_args`` are added to its command line and ``env`` to its environment."""
    log_dir = work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = spawner_command(
        config,
        swarm=name,
        nats_url=nats_url,
        min_hosts=hosts,
        warm_pool=warm_pool,
        host_capacity=capacity,
        heartbeat=heartbeat,
        log_dir=log_dir,
        working_directory=str(work),
    ) + list(spawner_args)
    with (log_dir / "spawner.log").open("ab") as log_file:
        spawner = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "WASMIND_LOG": "info", **(env or {})},
        )
    nc = await connect(NatsOptions(servers=(nats_url,)), name="wasmind-test")
    swarm = Swarm(nc, name, spawner, log_dir)
    try:
        await swarm.start()
        await wait_for_spawner(nc, name)
        await swarm.until(lambda: len(swarm.heartbeats) >= hosts, 60, f"{hosts} hosts")
        yield swarm
    finally:
        with anyio.CancelScope(shield=True):
            await _shutdown(swarm)


async def _shutdown(swarm: Swarm) -> None:
    pids = [beat.pid for beat in swarm.heartbeats.values()]
    if swarm.spawner.poll() is None:
        try:
            await swarm.nc.request(
                subjects.control(swarm.name, subjects.SPAWNER, "shutdown"),
                ShutdownRequest().to_bytes(),
                timeout=5,
            )
        except Exception:  # noqa: BLE001
            swarm.spawner.send_signal(signal.SIGTERM)
        with anyio.move_on_after(30):
            await anyio.to_thread.run_sync(swarm.spawner.wait, abandon_on_cancel=True)
    if swarm.spawner.poll() is None:
        swarm.spawner.kill()
        swarm.spawner.wait()
    await swarm.nc.close()
    for pid in pids:
        with anyio.move_on_after(5):
            while process_alive(pid):  # noqa: ASYNC110 - a pid has no event to wait on
                await anyio.sleep(0.05)
    leftovers = [pid for pid in pids if process_alive(pid)]
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"host processes left behind: {leftovers}"
