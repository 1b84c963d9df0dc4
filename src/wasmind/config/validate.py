"""Start-up validation (CONFIG.md §7.3): checks that need the resolved set, before anything starts."""

from wasmind.config.errors import ConfigProblem
from wasmind.config.resolve import Resolution
from wasmind.config.spawning import expand_spawn_list
from wasmind.config.user import UserConfig

__all__ = ["NO_STARTING_ACTORS", "effective_startup", "validate_startup"]

NO_STARTING_ACTORS = (
    "No starting actors and no auto spawning actors configured - at least one starting actor or auto "
    "spawning actor is required"
)


def validate_startup(config: UserConfig, resolution: Resolution) -> list[ConfigProblem]:
    """Every start-up problem (empty when the configuration can run)."""
    problems = []
    user_auto_spawn = any(d.auto_spawn for d in config.actors.values())
    if not config.starting_actors and not user_auto_spawn:
        problems.append(
            ConfigProblem(
                NO_STARTING_ACTORS,
                config.path,
                key="starting_actors",
                hint='add starting_actors = ["<name>"] naming an actor of [actors]',
            )
        )
    defined = sorted(resolution.actors)
    for name in config.starting_actors:
        if name not in resolution.actors:
            problems.append(
                ConfigProblem(
                    f"Unknown starting actor '{name}'. Defined actors: {', '.join(defined)}",
                    config.path,
                    key="starting_actors",
                )
            )
    for actor in resolution.actors.values():
        for name in actor.required_spawn_with:
            if name not in resolution.actors:
                problems.append(
                    ConfigProblem(
                        f"Actor '{actor.logical_name}' lists '{name}' in required_spawn_with, but no actor named "
                        f"'{name}' is defined",
                        config.path,
                        section=f"actors.{actor.logical_name}",
                        key="required_spawn_with",
                    )
                )
    return problems


def effective_startup(config: UserConfig, resolution: Resolution) -> list[str]:
    """Starting actors, then auto-spawn actors, each followed transitively by its companions.

    Unknown names are left out here (:func:`validate_startup` reports them).
    """
    rules = {name: actor.spawn_rules for name, actor in resolution.actors.items()}
    return expand_spawn_list(config.starting_actors, rules, skip_unknown=True)
