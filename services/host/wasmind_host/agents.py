"""The host's view of the agent registry: spawning through the spawner, parents from the KV bucket."""

from collections.abc import Sequence

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from wasmind.runtime.context import SpawnError
from wasmind.telemetry import tracing
from wasmind.wire import subjects
from wasmind.wire.control import AgentRecord, SpawnReply, SpawnRequest

__all__ = ["SPAWN_TIMEOUT", "RemoteAgentControl"]

SPAWN_TIMEOUT = 120.0
"""Seconds a guest's ``spawn-agent`` may wait (a cold host start plus constructors)."""


class RemoteAgentControl:
    """``AgentControl`` backed by the spawner service and the registry bucket."""

    def __init__(self, nc: Client, swarm: str, registry: KeyValue) -> None:
        self.nc = nc
        self.swarm = swarm
        self.registry = registry
        self._parents: dict[str, str | None] = {}

    async def spawn_agent(self, parent_scope: str, actor_names: Sequence[str], agent_name: str) -> str:
        """Ask the spawner for a child agent of ``parent_scope``; it may land on another host."""
        request = SpawnRequest(actors=list(actor_names), name=agent_name, parent=parent_scope)
        try:
            response = await self.nc.request(
                subjects.control(self.swarm, subjects.SPAWNER, "spawn"),
                request.to_bytes(),
                timeout=SPAWN_TIMEOUT,
                headers=tracing.current_headers() or None,
            )
        except NatsTimeoutError:
            raise SpawnError(
                f"Failed to spawn agent: the spawner did not answer within {SPAWN_TIMEOUT:.0f} s"
            ) from None
        except Exception as error:  # noqa: BLE001 - no responders, connection closed, ...
            raise SpawnError(
                f"Failed to spawn agent: spawner unreachable ({type(error).__name__}: {error})"
            ) from None
        reply = SpawnReply.model_validate_json(response.data)
        if reply.error or reply.scope is None:
            raise SpawnError(reply.error or "Failed to spawn agent: the spawner returned no scope")
        self._parents[reply.scope] = parent_scope
        return reply.scope

    async def parent_of(self, scope: str) -> str | None:
        """The parent recorded in the registry (cached: a parent never changes)."""
        if scope in self._parents:
            return self._parents[scope]
        try:
            entry = await self.registry.get(scope)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        parent = AgentRecord.model_validate_json(entry.value).parent
        self._parents[scope] = parent
        return parent
