"""From an actor directory to an instantiable :class:`~wasmind.runtime.instance.ActorSpec`."""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w
import wasmtime
from wasmtime.component import Linker

from wasmind.config.cache import ActorCache, CacheMetadata, dev_mode
from wasmind.config.git import GitFetcher
from wasmind.config.interpolate import resolve_env
from wasmind.config.manifest import Interest, load_manifest
from wasmind.config.resolve import ManifestReader, Resolution, ResolvedActor, resolve
from wasmind.config.sources import GitSource, PathSource
from wasmind.config.spawning import SpawnRules
from wasmind.config.user import LimitsTable, UserConfig
from wasmind.runtime.artifacts import ArtifactStore, file_digest
from wasmind.runtime.build import Progress, build_actor
from wasmind.runtime.component import LoadedComponent
from wasmind.runtime.engine import EngineSettings
from wasmind.runtime.grants import Grants, Limits
from wasmind.runtime.instance import ActorSpec

__all__ = ["ComponentLoader", "LoadedActors", "config_to_toml", "limits_of"]


def limits_of(table: LimitsTable | None) -> Limits:
    """Runtime limits from an actor's ``limits`` table (defaults where unset)."""
    limits = Limits()
    if table is None:
        return limits
    return replace(
        limits,
        memory_bytes=(table.memory_mib << 20) if table.memory_mib else limits.memory_bytes,
        deadline_seconds=table.deadline_seconds or limits.deadline_seconds,
        mailbox_capacity=table.mailbox_capacity or limits.mailbox_capacity,
    )


def actor_version(actor_dir: Path) -> str:
    """``project.version`` of ``pyproject.toml`` or ``package.version`` of ``Cargo.toml``, else ``0.0.0``."""
    for name, keys in (("pyproject.toml", ("project", "version")), ("Cargo.toml", ("package", "version"))):
        path = actor_dir / name
        if path.is_file():
            try:
                value: Any = tomllib.loads(path.read_text())
                for key in keys:
                    value = value[key]
                return str(value)
            except (KeyError, TypeError, tomllib.TOMLDecodeError):
                continue
    return "0.0.0"


@dataclass
class LoadedActors:
    """Every resolved actor, ready to instantiate, and the rules for spawning them."""

    specs: dict[str, ActorSpec]
    rules: dict[str, SpawnRules]


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
        return self._spec(
            logical_name,
            manifest.actor_id,
            compiled,
            config,
            grants or Grants.from_capabilities(manifest.capabilities, working_directory),
            limits or Limits(),
            manifest.interest,
        )

    def _spec(
        self,
        logical_name: str,
        actor_id: str,
        compiled: Path,
        config: Mapping[str, Any] | None,
        grants: Grants,
        limits: Limits,
        interest: Interest | None,
    ) -> ActorSpec:
        return ActorSpec(
            logical_name=logical_name,
            actor_id=actor_id,
            component=self.load(compiled, actor_id),
            config_toml=config_to_toml(resolve_env(config, logical_name)),
            grants=grants,
            limits=limits,
            interest=interest,
        )

    def load_resolution(
        self,
        resolution: Resolution,
        *,
        fetcher: GitFetcher,
        cache: ActorCache,
        working_directory: str,
        report: Progress = lambda _: None,
    ) -> LoadedActors:
        """Build (only what changed), precompile and load every resolved actor (CONFIG.md §6).

        Reports ``Loading N actors...``, then per actor ``  Loading <name>`` and
        ``  ✓ <name> (cached)`` or ``(built)``, then ``✓ Actor loading complete``.
        """
        report(f"Loading {len(resolution.actors)} actors...")
        specs: dict[str, ActorSpec] = {}
        for name, actor in resolution.actors.items():
            report(f"  Loading {name}")
            compiled, cached = self._component(actor, fetcher, cache)
            specs[name] = self._spec(
                name,
                actor.actor_id,
                compiled,
                actor.config,
                Grants.from_capabilities(actor.capabilities, working_directory),
                limits_of(actor.limits),
                actor.manifest.interest,
            )
            report(f"  ✓ {name} ({'cached' if cached else 'built'})")
        report("✓ Actor loading complete")
        return LoadedActors(specs, {name: actor.spawn_rules for name, actor in resolution.actors.items()})

    def load_config(
        self,
        config: UserConfig,
        *,
        working_directory: str,
        refresh: bool = False,
        report: Progress = lambda _: None,
    ) -> tuple[Resolution, LoadedActors]:
        """Resolve a user configuration and load every actor (git checkouts and builds cached).

        ``refresh`` fetches git sources that follow a branch again.
        """
        report("Resolving actor dependencies...")
        cache = ActorCache(self.store.root)
        fetcher = GitFetcher(self.store.root, refresh=refresh)
        resolution = resolve(config, ManifestReader(cache, fetcher.checkout))
        loaded = self.load_resolution(
            resolution, fetcher=fetcher, cache=cache, working_directory=working_directory, report=report
        )
        return resolution, loaded

    def _component(self, actor: ResolvedActor, fetcher: GitFetcher, cache: ActorCache) -> tuple[Path, bool]:
        """The precompiled artifact of ``actor`` and whether its component came from the cache."""
        metadata = cache.metadata(actor.source)
        if isinstance(actor.source, GitSource) and metadata and not fetcher.refresh:
            component = self.store.root / "components" / f"{metadata.component_digest}.wasm"
            if component.is_file():
                return self.store.precompile(component, self.engine, self.settings), True
        directory = (
            actor.source.path if isinstance(actor.source, PathSource) else fetcher.checkout(actor.source)
        )
        built = build_actor(directory, self.store, name=actor.logical_name, rebuild=dev_mode())
        cache.store_metadata(
            actor.source,
            CacheMetadata(
                actor_id=actor.actor_id,
                logical_name=actor.logical_name,
                source_hash=actor.source.source_hash(),
                version=actor_version(directory),
                fingerprint=built.component.stem,
                component_digest=file_digest(built.component),
            ),
        )
        cached = built.cached and not dev_mode()
        return self.store.precompile(built.component, self.engine, self.settings), cached
