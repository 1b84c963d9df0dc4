"""Configuration errors and warnings (CONFIG.md §7): exact texts, plus where and how to fix.

Every problem carries the file, the section and the key it is about (when known) and a hint,
so ``wasmind check`` can list all of them and a run can fail with one clear message.
"""

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ActorAndOverrideConflict",
    "ActorConflictsWithDependency",
    "CircularDependency",
    "ConfigError",
    "ConfigProblem",
    "ConflictingSources",
    "ManifestLoad",
    "MissingManifest",
    "ResolutionError",
]


@dataclass(frozen=True)
class ConfigProblem:
    """One error or warning: the message (the spec's text), where, and how to fix it."""

    message: str
    file: Path | None = None
    section: str | None = None
    key: str | None = None
    hint: str | None = None

    def location(self) -> str:
        """``<file> [section] key`` for the parts that are known."""
        parts = [str(self.file)] if self.file else []
        if self.section:
            parts.append(f"[{self.section}]")
        if self.key:
            parts.append(self.key)
        return " ".join(parts)

    def __str__(self) -> str:
        text = self.message
        where = self.location()
        if where and (not self.file or str(self.file) not in text):
            text += f" (at {where})"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(Exception):
    """One or more problems that stop a configuration from being used."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class ResolutionError(ConfigError):
    """A dependency-resolution failure (CONFIG.md §7.1)."""

    def __init__(
        self, message: str, *, hint: str | None = None, section: str | None = None, file: Path | None = None
    ) -> None:
        super().__init__([ConfigProblem(message, file=file, section=section, hint=hint)])


class ActorAndOverrideConflict(ResolutionError):
    """The same name in ``[actors]`` and ``[actor_overrides]``."""

    def __init__(self, name: str, file: Path | None = None) -> None:
        super().__init__(
            f"Invalid user configuration: Actor '{name}' is defined in both [actors] and [actor_overrides]. "
            f"Use only [actors.{name}] to define user actors, or only [actor_overrides.{name}] to override "
            "dependencies.",
            section=f"actor_overrides.{name}",
            file=file,
        )


class ActorConflictsWithDependency(ResolutionError):
    """A dependency declaration named like a user actor."""

    def __init__(self, name: str, file: Path | None = None) -> None:
        super().__init__(
            f"Invalid user configuration: Actor '{name}' is defined in [actors] but already exists in the "
            f"dependency chain. Use [actor_overrides.{name}] instead to override dependency configuration.",
            section=f"actors.{name}",
            file=file,
        )


class CircularDependency(ResolutionError):
    """A dependency that leads back to an actor on its own resolution path."""

    def __init__(self, root_actor_id: str, path: list[str]) -> None:
        super().__init__(
            f"Circular dependency detected while resolving '{root_actor_id}'. "
            f"Resolution path: {' -> '.join(path)}",
            hint="remove one of the dependencies on that path from its Wasmind.toml",
        )


class ConflictingSources(ResolutionError):
    """One dependency name declared with two different sources."""

    def __init__(
        self, name: str, root_actor_id: str, first: tuple[str, str], second: tuple[str, str]
    ) -> None:
        super().__init__(
            f"Conflicting sources for dependency '{name}' required by '{root_actor_id}'.\n"
            f"  - {first[0]} via '{first[1]}'\n"
            f"  - {second[0]} via '{second[1]}'",
            hint=f'pick one with [actor_overrides.{name}] source = {{ path = "..." }}',
        )


class MissingManifest(ResolutionError):
    """A source without ``Wasmind.toml``."""

    def __init__(self, name: str, source_display: str) -> None:
        super().__init__(
            f"Actor '{name}' at '{source_display}' is missing required Wasmind.toml manifest file. "
            "All actors must have a Wasmind.toml file that declares their actor_id.",
            hint='create Wasmind.toml with a line like actor_id = "my-company:my-actor", or fix the source path',
        )


class ManifestLoad(ResolutionError):
    """A manifest that cannot be read or parsed, or a source that cannot be fetched."""

    def __init__(self, name: str, source_display: str, detail: str) -> None:
        super().__init__(
            f"Failed to load manifest for actor '{name}' from source '{source_display}': {detail}"
        )
