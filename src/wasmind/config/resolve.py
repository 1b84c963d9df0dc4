"""Dependency resolution (CONFIG.md §5): user actors and their manifests' dependencies, flattened.

Depth-first from every user actor in logical-name order; dependencies in name order; cycles are
detected by name or by source on the current path; the same name reached twice must come from the
same source (or be pinned by an override). The result is deterministic whatever the input order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmind.config.cache import ActorCache
from wasmind.config.errors import (
    ActorAndOverrideConflict,
    ActorConflictsWithDependency,
    CircularDependency,
    ConfigProblem,
    ConflictingSources,
    ManifestLoad,
    MissingManifest,
)
from wasmind.config.manifest import MANIFEST_NAME, Capabilities, Manifest, ManifestError, load_manifest
from wasmind.config.merge import deep_merge
from wasmind.config.sources import GitSource, PathSource, Source, SourceError, parse_source
from wasmind.config.spawning import SpawnRules
from wasmind.config.user import Decl, LimitsTable, UserConfig

__all__ = ["ManifestReader", "Resolution", "ResolvedActor", "resolve"]

DEPENDENCY_KEYS = frozenset({"source", "auto_spawn", "config", "required_spawn_with"})


@dataclass(frozen=True)
class ResolvedActor:
    """One actor after resolution, keyed by its logical name."""

    logical_name: str
    actor_id: str
    source: Source
    config: dict[str, Any] | None
    auto_spawn: bool
    required_spawn_with: tuple[str, ...]
    is_dependency: bool
    manifest: Manifest
    capabilities: Capabilities | None = None
    limits: LimitsTable | None = None

    @property
    def spawn_rules(self) -> SpawnRules:
        """What spawning needs to know about this actor."""
        return SpawnRules(self.auto_spawn, self.required_spawn_with)


@dataclass
class Resolution:
    """All resolved actors (in resolution order) and the warnings found on the way."""

    actors: dict[str, ResolvedActor] = field(default_factory=dict)
    warnings: list[ConfigProblem] = field(default_factory=list)


CheckoutFn = Callable[[GitSource], Path]


class ManifestReader:
    """Reads manifests: path sources from their directory, git sources from the cache or a checkout."""

    def __init__(self, cache: ActorCache | None = None, checkout: CheckoutFn | None = None) -> None:
        self.cache = cache
        self.checkout = checkout

    def read(self, name: str, source: Source) -> Manifest:
        """The manifest at ``source``. Raises :class:`MissingManifest` or :class:`ManifestLoad`."""
        if isinstance(source, PathSource):
            return self._load(name, source.display(), source.path)
        cached = self.cache.cached_manifest(source) if self.cache else None
        if cached is not None:
            return self._load(name, f"cached: {cached}", cached.parent)
        if self.checkout is None:
            raise ManifestLoad(name, source.display(), "git sources cannot be fetched here")
        try:
            directory = self.checkout(source)
        except Exception as error:  # noqa: BLE001 - any fetch failure is reported with its text
            raise ManifestLoad(name, source.display(), str(error)) from None
        manifest = self._load(name, source.display(), directory)
        if self.cache is not None:
            self.cache.store_manifest(source, directory / MANIFEST_NAME)
        return manifest

    @staticmethod
    def _load(name: str, display: str, directory: Path) -> Manifest:
        if not (directory / MANIFEST_NAME).is_file():
            raise MissingManifest(name, display)
        try:
            return load_manifest(directory)
        except ManifestError as error:
            raise ManifestLoad(name, display, str(error)) from None


@dataclass(frozen=True)
class _Frame:
    name: str
    source: Source


@dataclass(frozen=True)
class _Declared:
    source: Source
    via: str
    decl: Decl


class _Resolver:
    def __init__(self, config: UserConfig, reader: ManifestReader) -> None:
        self.config = config
        self.reader = reader
        self.result = Resolution()
        self.declared: dict[str, _Declared] = {}

    def run(self) -> Resolution:
        clashes = sorted(set(self.config.actors) & set(self.config.overrides))
        if clashes:
            raise ActorAndOverrideConflict(clashes[0], self.config.path)
        for name in sorted(self.config.actors):
            self.visit(self.config.actors[name], [], is_dependency=False, via=name)
        for name in sorted(self.config.overrides):
            actor = self.result.actors.get(name)
            if actor is None or not actor.is_dependency:
                self.result.warnings.append(
                    ConfigProblem(
                        f"Invalid user configuration: Actor override '{name}' specified in [actor_overrides] but no "
                        "actor with this name exists in any dependency chain. Remove this override or add the actor "
                        "to [actors] if you want to define a new actor.",
                        self.config.path,
                        f"actor_overrides.{name}",
                    )
                )
        return self.result

    def visit(self, decl: Decl, stack: list[_Frame], *, is_dependency: bool, via: str) -> None:
        assert decl.source is not None
        override = self.config.overrides.get(decl.name) if is_dependency else None
        effective = override.source if override and override.source else decl.source
        root_id = self.result.actors[stack[0].name].actor_id if stack else ""
        if any(f.name == decl.name or f.source == effective for f in stack):
            raise CircularDependency(root_id, [*(f.name for f in stack), decl.name])
        if is_dependency and decl.name in self.config.actors:
            raise ActorConflictsWithDependency(decl.name, self.config.path)
        if decl.name in self.result.actors:
            self.already_resolved(decl, via, override, root_id)
            return
        self.declared[decl.name] = _Declared(decl.source, via, decl)
        manifest = self.reader.read(decl.name, effective)
        self.result.actors[decl.name] = self.fields(decl, override, effective, manifest, is_dependency)
        frame = _Frame(decl.name, effective)
        for dependency in self.dependencies(decl.name, effective, manifest):
            self.visit(dependency, [*stack, frame], is_dependency=True, via=f"{via} -> {dependency.name}")

    def already_resolved(self, decl: Decl, via: str, override: Decl | None, root_id: str) -> None:
        first = self.declared[decl.name]
        assert decl.source is not None
        if first.source != decl.source and not (override and override.source):
            declaring = via.rsplit(" -> ", 1)[0]
            first_declaring = first.via.rsplit(" -> ", 1)[0]
            raise ConflictingSources(
                decl.name,
                root_id,
                (first.source.display(), first_declaring),
                (decl.source.display(), declaring),
            )
        settings = ("config", "auto_spawn", "required_spawn_with")
        if any(getattr(first.decl, s) != getattr(decl, s) for s in settings):
            self.result.warnings.append(
                ConfigProblem(
                    f"Dependency '{decl.name}' is declared with different settings via '{first.via}' and via "
                    f"'{via}'; the first declaration is used",
                    self.config.path,
                    hint=f"make them agree, or set them once in [actor_overrides.{decl.name}]",
                )
            )

    def fields(
        self, decl: Decl, override: Decl | None, source: Source, manifest: Manifest, is_dependency: bool
    ) -> ResolvedActor:
        layers = [d for d in (decl, override) if d is not None]
        required = next(
            (d.required_spawn_with for d in reversed(layers) if d.required_spawn_with is not None),
            tuple(manifest.required_spawn_with),
        )
        auto_spawn = next((d.auto_spawn for d in reversed(layers) if d.auto_spawn is not None), False)
        return ResolvedActor(
            logical_name=decl.name,
            actor_id=manifest.actor_id,
            source=source,
            config=deep_merge(decl.config, override.config if override else None),
            auto_spawn=auto_spawn,
            required_spawn_with=tuple(required),
            is_dependency=is_dependency,
            manifest=manifest,
            capabilities=next(
                (d.capabilities for d in reversed(layers) if d.capabilities), manifest.capabilities
            ),
            limits=next((d.limits for d in reversed(layers) if d.limits), None),
        )

    def dependencies(self, parent: str, source: Source, manifest: Manifest) -> list[Decl]:
        found = []
        for name, table in sorted(manifest.dependencies.items()):
            where = f"dependencies.{name}"
            for key in sorted(set(table) - DEPENDENCY_KEYS):
                self.result.warnings.append(
                    ConfigProblem(
                        f"Unknown key '{key}' in [{where}] of the manifest of '{parent}' is ignored",
                        section=where,
                        key=key,
                        hint=f"settings for the dependency belong in [{where}.config]",
                    )
                )
            found.append(self.dependency(parent, source, name, table))
        return found

    def dependency(self, parent: str, source: Source, name: str, table: dict[str, Any]) -> Decl:
        raw = table.get("source")
        try:
            if isinstance(raw, dict) and isinstance(raw.get("path"), str):
                dep_source = source.relative(raw["path"], name, parent)
            else:
                dep_source = parse_source(raw, Path.cwd())
        except SourceError as error:
            raise ManifestLoad(parent, source.display(), f"[dependencies.{name}]: {error}") from None
        _check_types(parent, source, name, table)
        required = table.get("required_spawn_with")
        return Decl(
            name=name,
            source=dep_source,
            config=table.get("config"),
            auto_spawn=table.get("auto_spawn"),
            required_spawn_with=tuple(required) if isinstance(required, list) else None,
        )


def _check_types(parent: str, source: Source, name: str, table: dict[str, Any]) -> None:
    expected = {
        "auto_spawn": (bool, "true or false"),
        "config": (dict, "a table"),
        "required_spawn_with": (list, "an array of actor names"),
    }
    for key, (kind, wanted) in expected.items():
        if key in table and not isinstance(table[key], kind):
            raise ManifestLoad(parent, source.display(), f"[dependencies.{name}] {key} must be {wanted}")


def resolve(config: UserConfig, reader: ManifestReader | None = None) -> Resolution:
    """Resolve every actor of ``config`` (CONFIG.md §5.1).

    Raises:
        ResolutionError: one of the errors of CONFIG.md §7.1 (exact texts).
    """
    return _Resolver(config, reader or ManifestReader()).run()
