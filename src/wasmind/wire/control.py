"""Control-plane messages between the CLI, the spawner and the hosts (JSON on ``ctl``/``evt`` subjects).

These are our own (the original had one process); their subjects are in :mod:`wasmind.wire.subjects`
and their use is documented in ``docs/swarm.md``. Every request gets a reply with either the result
or an ``error`` text meant for the user.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AgentEvent",
    "AgentList",
    "AgentRecord",
    "AgentStatus",
    "ControlModel",
    "ErrorEvent",
    "Heartbeat",
    "HostDraining",
    "ParentReply",
    "ParentRequest",
    "Reply",
    "ShutdownRequest",
    "SpawnReply",
    "SpawnRequest",
    "StartAgent",
    "StartReply",
    "StopRequest",
]

AgentStatus = Literal["starting", "running", "moving", "stopped", "failed"]


class ControlModel(BaseModel):
    """Base of control messages: unknown fields are ignored, so versions can differ slightly."""

    model_config = ConfigDict(extra="ignore")

    def to_bytes(self) -> bytes:
        """Compact JSON."""
        return self.model_dump_json().encode()


class Reply(ControlModel):
    """A reply that is either fine or says what went wrong."""

    error: str | None = None


class SpawnRequest(ControlModel):
    """Create an agent: a child of ``parent`` (``None`` for the root) with these logical actor names."""

    actors: list[str]
    name: str
    parent: str | None = None
    scope: str | None = None
    """Only for the root agent (``000000``); otherwise the spawner picks a fresh scope."""


class SpawnReply(Reply):
    """The new agent's scope, its host and the actors it got after expansion."""

    scope: str | None = None
    host: str | None = None
    actors: list[str] = Field(default_factory=list)


class StopRequest(ControlModel):
    """Stop one agent (``scope``) or, with ``scope = None``, the whole swarm."""

    scope: str | None = None


class ShutdownRequest(ControlModel):
    """Ask a host to drain and exit."""

    reason: str = "shutdown"


class ParentRequest(ControlModel):
    """The parent of any scope created in this swarm."""

    scope: str


class ParentReply(Reply):
    """``parent`` is ``None`` for the root and for unknown scopes."""

    parent: str | None = None


class StartAgent(ControlModel):
    """Spawner -> host: construct agent ``scope`` (expansion of ``actors`` happens on the host)."""

    scope: str
    parent: str | None
    name: str
    actors: list[str]


class StartReply(Reply):
    """Host -> spawner: the agent is running with ``actors`` (expanded), or ``error``."""

    actors: list[str] = Field(default_factory=list)


class AgentRecord(ControlModel):
    """An agent in the registry (JetStream KV): parents are kept after exit for ``get-parent-scope-of``."""

    scope: str
    parent: str | None
    name: str
    requested: list[str]
    actors: list[str] = Field(default_factory=list)
    host: str | None = None
    status: AgentStatus = "starting"
    restarts: int = 0


class AgentList(Reply):
    """Every agent the registry knows, in creation order."""

    agents: list[AgentRecord] = Field(default_factory=list)


class Heartbeat(ControlModel):
    """Host -> everyone, every interval: liveness and load, used for placement and failure detection."""

    host: str
    pid: int
    agents: list[str]
    actors: int
    capacity: int
    """How many agents this host accepts in total."""
    mailbox_depth: int
    """Messages waiting in all mailboxes of the host."""
    memory_bytes: int
    """Proportional set size of the host process (read again at most as often as reading it costs
    1 % of a core: every beat on a small host, every few seconds on one of a thousand instances)."""
    draining: bool = False
    interval: float = 1.0


class HostDraining(ControlModel):
    """Host -> spawner: this host is leaving (SIGTERM); its agents were stopped."""

    host: str
    agents: list[str]


class AgentEvent(ControlModel):
    """Lifecycle of an agent, published on ``evt.agent.<scope>.<event>``."""

    scope: str
    event: Literal["spawned", "exited", "moved", "failed"]
    host: str | None = None
    detail: str = ""


class ErrorEvent(ControlModel):
    """A message a host refused (bad JSON, wrong shape, unknown ``wasmind.common`` type, oversized)."""

    reason: str
    subject: str
    message_type: str
    from_actor_id: str
    from_scope: str
    size: int
    host: str
