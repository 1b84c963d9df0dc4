"""The actor manifest ``Wasmind.toml`` (CONFIG.md §3) and our additions: capabilities and interest."""

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MANIFEST_NAME",
    "Capabilities",
    "Interest",
    "Manifest",
    "ManifestError",
    "Preopen",
    "load_manifest",
]

MANIFEST_NAME = "Wasmind.toml"


class ManifestError(ValueError):
    """A manifest that is missing or invalid; the text names the file and the fix."""


class Preopen(BaseModel):
    """A host directory made visible to the guest.

    ``path`` is a host path (relative paths are relative to the run's working directory);
    ``guest`` defaults to the absolute host path, so paths mean the same inside and outside.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    path: str
    guest: str | None = None
    mode: Literal["ro", "rw"] = "rw"


class Capabilities(BaseModel):
    """What an actor may use. A manifest without ``[capabilities]`` gets the original's grants
    (full ``/`` read/write, command, any HTTP host, spawn) so actors built for the original work."""

    model_config = ConfigDict(extra="forbid", strict=True)
    command: bool = False
    spawn: bool = False
    http: bool | list[str] = False
    """``true``: any host; a list: only these hosts (``api.example.com``, ``*.example.com``, ``host:port``)."""
    filesystem: list[Preopen] = Field(default_factory=list)


class Interest(BaseModel):
    """Which messages an actor receives. Without ``[interest]`` it receives everything.

    ``own_scope``: message types wanted only when they concern the actor's scope (published under
    it: sent from it, or naming it in the payload's ``agent`` field). ``any_scope``: types wanted
    from every scope. ``"*"`` in either list means every type.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    own_scope: list[str] = Field(default_factory=list)
    any_scope: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """A parsed ``Wasmind.toml``. Unknown top-level keys are ignored (the original has decorative ones)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    actor_id: str
    required_spawn_with: list[str] = Field(default_factory=list)
    dependencies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    component: str | None = None
    python_module: str | None = None
    python_requirements: list[str] = Field(default_factory=list)
    """Pure-Python packages bundled into a Python actor (pin exact versions: they are part of its build key
    only through this text)."""
    capabilities: Capabilities | None = None
    interest: Interest | None = None


def load_manifest(actor_dir: Path) -> Manifest:
    """Read ``<actor_dir>/Wasmind.toml``.

    Raises:
        ManifestError: the file is missing, is not TOML, or does not fit the schema.
    """
    path = actor_dir / MANIFEST_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ManifestError(f"Actor manifest not found: {path}") from None
    except OSError as error:
        raise ManifestError(f"Error reading file: `{path}` - {error.strerror}") from None
    try:
        return Manifest.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"TOML parsing error: {path}: {error}") from None
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}" for e in error.errors()
        )
        raise ManifestError(f"TOML parsing error: {path}: {details}") from None
