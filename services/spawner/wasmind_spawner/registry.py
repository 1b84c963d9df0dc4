"""The agent registry: one JetStream KV entry per scope, mirrored in memory by its single writer."""

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from wasmind.wire import subjects
from wasmind.wire.control import AgentRecord
from wasmind.wire.ids import new_scope

__all__ = ["Registry"]


class Registry:
    """Agents by scope. The spawner is the only writer; hosts read parents from the bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.records: dict[str, AgentRecord] = {}

    @classmethod
    async def open(cls, js: JetStreamContext, swarm: str) -> "Registry":
        """Open (or create) the swarm's bucket and load what it holds (a restarted spawner continues)."""
        bucket = subjects.agents_bucket(swarm)
        try:
            kv = await js.key_value(bucket)
        except (BucketNotFoundError, NotFoundError):
            kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE))
        registry = cls(kv)
        try:
            keys = await kv.keys()
        except (NoKeysError, NotFoundError):  # an empty bucket
            keys = []
        for key in keys:
            entry = await kv.get(key)
            if entry.value:
                record = AgentRecord.model_validate_json(entry.value)
                registry.records[record.scope] = record
        return registry

    def new_scope(self) -> str:
        """A fresh scope, unique among every scope of this swarm."""
        return new_scope(taken=set(self.records))

    def get(self, scope: str) -> AgentRecord | None:
        """The record of ``scope``."""
        return self.records.get(scope)

    async def put(self, record: AgentRecord) -> None:
        """Store ``record`` (memory and bucket)."""
        self.records[record.scope] = record
        await self.kv.put(record.scope, record.to_bytes())

    async def forget(self, scope: str) -> None:
        """Remove a record (a spawn that failed leaves nothing behind)."""
        self.records.pop(scope, None)
        await self.kv.delete(scope)

    def on_host(self, host: str) -> list[AgentRecord]:
        """Running agents placed on ``host``."""
        return [r for r in self.records.values() if r.host == host and r.status in ("running", "starting")]

    def live(self) -> list[AgentRecord]:
        """Agents that have not stopped."""
        return [r for r in self.records.values() if r.status in ("running", "starting", "moving")]
