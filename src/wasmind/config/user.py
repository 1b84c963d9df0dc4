"""The user configuration file (CONFIG.md §2): actors, overrides, and application sections.

The pydantic models below are the schema (``schemas/config.json`` is generated from them);
:func:`load_user_config` reads a file into :class:`UserConfig`, collecting every problem with its
file, section and key, and turning source tables into :mod:`~wasmind.config.sources` values with
paths relative to the config file's directory.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wasmind.config.errors import ConfigError, ConfigProblem
from wasmind.config.manifest import Capabilities
from wasmind.config.sources import Source, SourceError, parse_source

__all__ = [
    "KNOWN_SECTIONS",
    "ActorTable",
    "Decl",
    "LimitsTable",
    "OverrideTable",
    "UserConfig",
    "UserConfigFile",
    "load_user_config",
    "parse_user_config",
]

M = TypeVar("M", bound=BaseModel)

KNOWN_SECTIONS = ("litellm", "tui", "swarm", "nats", "telemetry")
"""Application sections kept raw for their owners; any other unknown section gets a warning."""


class LimitsTable(BaseModel):
    """Per-actor resource limits (our extension)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    memory_mib: int | None = Field(default=None, ge=16, description="linear memory limit per instance")
    deadline_seconds: float | None = Field(default=None, gt=0, description="guest time allowed per call")
    mailbox_capacity: int | None = Field(default=None, ge=1, description="messages queued per instance")


class ActorTable(BaseModel):
    """``[actors.<name>]``: an actor defined by the user."""

    model_config = ConfigDict(extra="allow", strict=True)
    source: dict[str, Any] = Field(
        description='{ path = "<dir>" } or { git = "<url>", git_ref = {...}, sub_dir = "..." }'
    )
    config: dict[str, Any] | None = None
    auto_spawn: bool = False
    required_spawn_with: list[str] | None = None
    capabilities: Capabilities | None = None
    limits: LimitsTable | None = None


class OverrideTable(BaseModel):
    """``[actor_overrides.<name>]``: changes to a dependency, wherever it appears."""

    model_config = ConfigDict(extra="allow", strict=True)
    source: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    auto_spawn: bool | None = None
    required_spawn_with: list[str] | None = None
    capabilities: Capabilities | None = None
    limits: LimitsTable | None = None


class UserConfigFile(BaseModel):
    """The whole file. Other top-level tables are application sections (``[litellm]``, ``[swarm]``, ...)."""

    model_config = ConfigDict(extra="allow", strict=True)
    starting_actors: list[str] = Field(default_factory=list)
    actors: dict[str, ActorTable] = Field(default_factory=dict)
    actor_overrides: dict[str, OverrideTable] = Field(default_factory=dict)


@dataclass(frozen=True)
class Decl:
    """An actor declaration: a user actor, an override or a manifest dependency. ``None`` = not given."""

    name: str
    source: Source | None
    config: dict[str, Any] | None = None
    auto_spawn: bool | None = None
    required_spawn_with: tuple[str, ...] | None = None
    capabilities: Capabilities | None = None
    limits: LimitsTable | None = None


@dataclass
class UserConfig:
    """A loaded user configuration."""

    path: Path | None
    starting_actors: list[str] = field(default_factory=list)
    actors: dict[str, Decl] = field(default_factory=dict)
    overrides: dict[str, Decl] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    warnings: list[ConfigProblem] = field(default_factory=list)

    def section(self, name: str, model: type[M]) -> M | None:
        """Section ``name`` parsed into ``model`` (``None`` when absent).

        Raises:
            ConfigError: ``Config parsing error: TOML parsing error: <detail>``.
        """
        raw = self.sections.get(name)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"Config parsing error: TOML parsing error: {_details(error)}", self.path, name
                    )
                ]
            ) from None


def _details(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors())


def load_user_config(path: Path) -> UserConfig:
    """Read and check ``path``.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or has wrong types (every problem listed).
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(
            [
                ConfigProblem(
                    f"Error reading file: `{path}` - {error.strerror}",
                    path,
                    hint="check the path given with -c/--config",
                )
            ]
        ) from None
    return parse_user_config(text, path)


def parse_user_config(text: str, path: Path | None = None, base_dir: Path | None = None) -> UserConfig:
    """Parse configuration text; relative source paths are relative to ``base_dir`` (default: the file's dir)."""
    base = base_dir or (path.parent if path else Path.cwd())
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([ConfigProblem(f"TOML parsing error: {error}", path)]) from None
    problems: list[ConfigProblem] = []
    for section in ("actors", "actor_overrides"):
        if section in raw and not isinstance(raw[section], dict):
            problems.append(
                ConfigProblem(
                    f"Invalid configuration section '[{section}]': must be a table, not a different type",
                    path,
                    section,
                    hint=f"write [{section}.<name>] tables",
                )
            )
    if problems:
        raise ConfigError(problems)
    try:
        parsed = UserConfigFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError([_problem(e, path) for e in error.errors()]) from None
    config = UserConfig(path, list(parsed.starting_actors), sections=dict(parsed.model_extra or {}))
    for name, table in sorted(parsed.actors.items()):
        config.actors[name] = _decl(name, table, "actors", base, path, problems, config.warnings)
    for name, override in sorted(parsed.actor_overrides.items()):
        config.overrides[name] = _decl(
            name, override, "actor_overrides", base, path, problems, config.warnings
        )
    for section in sorted(config.sections):
        if section not in KNOWN_SECTIONS:
            config.warnings.append(
                ConfigProblem(
                    f"Unknown section [{section}] is ignored",
                    path,
                    section,
                    hint=f"known sections: actors, actor_overrides, {', '.join(KNOWN_SECTIONS)}",
                )
            )
    if problems:
        raise ConfigError(problems)
    return config


def _problem(error: Any, path: Path | None) -> ConfigProblem:
    loc = [str(p) for p in error["loc"]]
    section = ".".join(loc[:2]) if loc and loc[0] in ("actors", "actor_overrides") else None
    key = ".".join(loc[2:] if section else loc) or None
    return ConfigProblem(f"TOML parsing error: {'.'.join(loc)}: {error['msg']}", path, section, key)


def _decl(
    name: str,
    table: ActorTable | OverrideTable,
    section: str,
    base: Path,
    path: Path | None,
    problems: list[ConfigProblem],
    warnings: list[ConfigProblem],
) -> Decl:
    where = f"{section}.{name}"
    for key in sorted(table.model_extra or {}):
        warnings.append(
            ConfigProblem(
                f"Unknown key '{key}' in [{where}] is ignored",
                path,
                where,
                key,
                hint="actor settings are source, config, auto_spawn, required_spawn_with, capabilities, limits; "
                "actor-specific settings belong in the config table",
            )
        )
    source = None
    if table.source is not None:
        try:
            source = parse_source(table.source, base)
        except SourceError as error:
            problems.append(ConfigProblem(f"TOML parsing error: {error}", path, where, "source"))
    fields = table.model_fields_set
    return Decl(
        name=name,
        source=source,
        config=table.config,
        auto_spawn=table.auto_spawn if "auto_spawn" in fields or isinstance(table, ActorTable) else None,
        required_spawn_with=tuple(table.required_spawn_with)
        if table.required_spawn_with is not None
        else None,
        capabilities=table.capabilities,
        limits=table.limits,
    )
