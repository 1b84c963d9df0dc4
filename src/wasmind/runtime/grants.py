"""Capability grants and limits of one actor (the sandbox the host enforces)."""

from dataclasses import dataclass
from pathlib import Path

from wasmind.config.manifest import Capabilities

__all__ = ["DEFAULT_DEADLINE_SECONDS", "DEFAULT_MEMORY_LIMIT", "Grants", "Limits", "Preopen"]

DEFAULT_MEMORY_LIMIT = 4 << 30
"""Bytes of linear memory per instance: the wasm32 maximum (RUNTIME.md §7.3)."""
DEFAULT_DEADLINE_SECONDS = 60.0
"""Guest execution time allowed per call, re-armed whenever a host call returns."""


@dataclass(frozen=True)
class Preopen:
    """A host directory visible to the guest at ``guest`` (read-only unless ``writable``)."""

    host: str
    guest: str
    writable: bool


@dataclass(frozen=True)
class Grants:
    """What an actor may use. ``http_hosts`` ``None`` means any host."""

    command: bool
    spawn: bool
    http: bool
    http_hosts: tuple[str, ...] | None
    preopens: tuple[Preopen, ...]

    @classmethod
    def original(cls) -> "Grants":
        """The original Wasmind's grants: everything, with ``/`` read/write."""
        return cls(command=True, spawn=True, http=True, http_hosts=None, preopens=(Preopen("/", "/", True),))

    @classmethod
    def from_capabilities(cls, capabilities: Capabilities | None, working_directory: str) -> "Grants":
        """Grants declared by a manifest; ``None`` (nothing declared) means :meth:`original`."""
        if capabilities is None:
            return cls.original()
        http = capabilities.http
        preopens = []
        for entry in capabilities.filesystem:
            host = str((Path(working_directory) / entry.path).resolve())
            preopens.append(Preopen(host, entry.guest or host, entry.mode == "rw"))
        return cls(
            command=capabilities.command,
            spawn=capabilities.spawn,
            http=http is not False,
            http_hosts=tuple(http) if isinstance(http, list) else None,
            preopens=tuple(preopens),
        )

    def denied(self, capability: str) -> str:
        """The error text for a call that needs ``capability`` (``command``, ``http``, ``spawn``)."""
        return (
            f"capability denied: this actor is not granted '{capability}'; declare it under "
            f"[capabilities] in its Wasmind.toml (e.g. {capability} = true)"
        )


@dataclass(frozen=True)
class Limits:
    """Per-instance resource limits."""

    memory_bytes: int = DEFAULT_MEMORY_LIMIT
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    mailbox_capacity: int = 1024
    mailbox_wait_seconds: float = 10.0
