"""From an actor directory to an instantiable :class:`~wasmind.runtime.instance.ActorSpec`."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
import wasmtime
from wasmtime.component import Linker

from wasmind.config.manifest import load_manifest
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.build import Progress, build_actor
from wasmind.runtime.component import LoadedComponent
from wasmind.runtime.engine import EngineSettings
from wasmind.runtime.grants import Grants, Limits
from wasmind.runtime.instance import ActorSpec

__all__ = ["ComponentLoader", "config_to_toml"]


def config_to_toml(config: Mapping[str, Any] | None) -> str:
    """An actor's config table as the TOML text its constructor receives (``""`` when none)."""
    return tomli_w.dumps(dict(config)) if config else ""


@dataclass
class ComponentLoader:
    """Builds, precompiles and loads actors for one Engine, each component file once."""

    engine: wasmtime.Engine
    linker: Linker
    store: ArtifactStore
    settings: EngineSettings

    def __post_init__(self) -> None:
        self._loaded: dict[Path, LoadedComponent] = {}

    def load(self, compiled: Path, actor_id: str) -> LoadedComponent:
        """The loaded component of a precompiled artifact (deserialized once per process)."""
        loaded = self._loaded.get(compiled)
        if loaded is None:
            loaded = self._loaded[compiled] = LoadedComponent(self.engine, self.linker, compiled, actor_id)
        return loaded

    def actor(
        self,
        actor_dir: Path,
        logical_name: str,
        *,
        config: Mapping[str, Any] | None = None,
        grants: Grants | None = None,
        limits: Limits | None = None,
        working_directory: str = "/",
        progress: Progress = lambda _: None,
    ) -> ActorSpec:
        """Build (if needed), precompile (if needed) and load the actor in ``actor_dir``."""
        manifest = load_manifest(actor_dir)
        built = build_actor(actor_dir, self.store, name=logical_name, progress=progress)
        compiled = self.store.precompile(built.component, self.engine, self.settings)
        return ActorSpec(
            logical_name=logical_name,
            actor_id=manifest.actor_id,
            component=self.load(compiled, manifest.actor_id),
            config_toml=config_to_toml(config),
            grants=grants or Grants.from_capabilities(manifest.capabilities, working_directory),
            limits=limits or Limits(),
            interest=manifest.interest,
        )
