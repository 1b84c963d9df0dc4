"""Runtime test helpers: a recorder on the in-process broker and a host factory."""

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from wasmind.config.spawning import SpawnRules
from wasmind.runtime.bus import BusMessage, each
from wasmind.runtime.host import ActorHost
from wasmind.runtime.instance import ActorSpec
from wasmind.transport.memory import InProcessBroker
from wasmind.wire import subjects
from wasmind.wire.envelope import Envelope, envelope_from_wire, envelope_to_headers, target_scope
from wasmind.wire.ids import root_id

SWARM = "test"


class Recorder:
    """Sees every message on the broker (like an external observer) and can publish."""

    def __init__(self, broker: InProcessBroker) -> None:
        self.connection = broker.connect()
        self.messages: list[Envelope] = []
        self._changed = anyio.Event()

    async def start(self) -> "Recorder":
        await self.connection.subscribe(subjects.all_data(SWARM), each(self._on))
        return self

    async def _on(self, message: BusMessage) -> None:
        _, scope, message_type = subjects.parse_data(message.subject)
        self.messages.append(envelope_from_wire(message_type, scope, message.headers, message.payload))
        self._changed.set()
        self._changed = anyio.Event()

    async def publish(
        self, message_type: str, payload: Any, *, scope: str = "000000", from_actor: str = "test"
    ) -> Envelope:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        envelope = Envelope(root_id(), message_type, from_actor, scope, body)
        subject = subjects.data(SWARM, target_scope(envelope), message_type)
        await self.connection.publish(subject, envelope_to_headers(envelope), body)
        return envelope

    def of_type(
        self, message_type: str, where: Callable[[Envelope], bool] = lambda e: True
    ) -> list[Envelope]:
        return [e for e in self.messages if e.message_type == message_type and where(e)]

    async def wait_for(
        self,
        message_type: str,
        where: Callable[[Envelope], bool] = lambda e: True,
        seconds: float = 15,
        count: int = 1,
    ) -> list[Envelope]:
        with anyio.fail_after(seconds):
            while len(found := self.of_type(message_type, where)) < count:
                await self._changed.wait()
        return found

    async def result(self, op: str, scope: str | None = None, seconds: float = 15) -> dict[str, Any]:
        """The next ``test.probe.result`` for ``op`` not seen before (probe actors)."""

        def match(e: Envelope) -> bool:
            return json.loads(e.payload).get("op") == op and (scope is None or e.from_scope == scope)

        before = len(self.of_type("test.probe.result", match))
        found = await self.wait_for("test.probe.result", match, seconds, count=before + 1)
        data: dict[str, Any] = json.loads(found[before].payload)
        return data


@asynccontextmanager
async def running_host(
    broker: InProcessBroker,
    specs: Mapping[str, ActorSpec],
    rules: Mapping[str, SpawnRules] | None = None,
    **options: Any,
) -> AsyncIterator[ActorHost]:
    """An ActorHost on ``broker`` with fast restarts for tests."""
    options.setdefault("restart_backoff", 0.05)
    async with ActorHost(specs, rules, bus=broker.connect(), swarm=SWARM, **options) as host:
        yield host
