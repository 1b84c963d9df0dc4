"""Which actors an agent gets (RUNTIME.md §4.1): requested names, auto-spawn, required companions."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SpawnRules", "UnknownActorError", "expand_spawn_list"]


@dataclass(frozen=True)
class SpawnRules:
    """The spawn-related settings of one resolved actor."""

    auto_spawn: bool = False
    required_spawn_with: tuple[str, ...] = ()


class UnknownActorError(ValueError):
    """A requested or required actor name that is not loaded."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown actor '{name}'")
        self.name = name


def expand_spawn_list(
    requested: Sequence[str], actors: Mapping[str, SpawnRules], *, skip_unknown: bool = False
) -> list[str]:
    """The ordered, duplicate-free list of logical names to instantiate.

    Requested names in order, then every auto-spawn actor in name order; after each name its
    ``required_spawn_with`` names, expanded transitively depth-first (cycle-safe); first
    occurrence wins.

    Raises:
        UnknownActorError: a requested or required name is not in ``actors`` (unless ``skip_unknown``).
    """
    seeds = [*requested, *sorted(name for name, rules in actors.items() if rules.auto_spawn)]
    result: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        if name not in actors:
            if skip_unknown:
                return
            raise UnknownActorError(name)
        seen.add(name)
        result.append(name)
        for companion in actors[name].required_spawn_with:
            visit(companion)

    for name in seeds:
        visit(name)
    return result
