"""``wasmind check``: the effective configuration and startup set, or every problem found."""

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from wasmind.assets import cache_dir, config_dir
from wasmind.config.cache import ActorCache
from wasmind.config.errors import ConfigError, ConfigProblem, ResolutionError
from wasmind.config.manifest import Capabilities
from wasmind.config.resolve import ManifestReader, Resolution, ResolvedActor, resolve
from wasmind.config.user import UserConfig, load_user_config
from wasmind.config.validate import effective_startup, validate_startup
from wasmind.llm.endpoint import describe_llm
from wasmind_cli.console import console

RULE = "─" * 75
BOX = "─" * 29
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Configuration file")]


def default_config() -> Path:
    """The configuration used when ``-c`` is not given."""
    return config_dir() / "config.toml"


def check(config: ConfigOption = None) -> None:
    """Check a configuration: resolve its actors (no build) and validate the startup set."""
    path = config or default_config()
    out = partial(console.print, highlight=False, markup=False)
    out("Wasmind Configuration Status", highlight=False, markup=False)
    out("========================")
    if not path.exists():
        out(f"Config: {path} (not found)", highlight=False, markup=False)
        out("✗ Configuration file not found" if config else "✗ No configuration file found")
        raise typer.Exit(1)
    try:
        user = load_user_config(path)
        resolution = resolve(user, ManifestReader(cache=ActorCache(cache_dir())))
        llm = describe_llm(user)  # an invalid [litellm] section is a configuration error
    except ConfigError as error:
        out(f"Config: {path} ✗ Invalid", highlight=False, markup=False)
        out(
            "✗ Dependency resolution failed:"
            if isinstance(error, ResolutionError)
            else "✗ Configuration errors:"
        )
        for problem in error.problems:
            out(_indent(str(problem)), highlight=False, markup=False)
        raise typer.Exit(1) from None
    problems = validate_startup(user, resolution)
    out(f"Config: {path} ✓ Valid", highlight=False, markup=False)
    out(f"LLM endpoint: {llm}\n", highlight=False, markup=False)
    _startup(user, resolution, problems)
    _actors(user, resolution)
    _warnings([*user.warnings, *resolution.warnings])
    if problems:
        for problem in problems:
            out(f"✗ {problem}", highlight=False, markup=False)
        raise typer.Exit(1)
    out("System Validation: ✓ All checks passed")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "(none)"


def _startup(user: UserConfig, resolution: Resolution, problems: list[ConfigProblem]) -> None:
    auto = [n for n, a in resolution.actors.items() if a.auto_spawn]
    startup = effective_startup(user, resolution)
    has_start = bool(user.starting_actors) or any(d.auto_spawn for d in user.actors.values())
    console.print("Startup Behavior:", highlight=False, markup=False)
    console.print(
        f"├─ User-configured starting actors: {_names(user.starting_actors)}", highlight=False, markup=False
    )
    console.print(f"├─ Auto-spawn actors: {_names(sorted(auto))}", highlight=False, markup=False)
    console.print(
        f"├─ Calculated effective startup actors ({len(startup)} total): {_names(startup)}", highlight=False
    )
    mark = "✓ At least one starting actor configured" if has_start else "✗ No starting actors configured"
    console.print(f"└─ Validation: {mark}\n", highlight=False, markup=False)


def _tags(user: UserConfig, actor: ResolvedActor) -> str:
    tags = ["dependency" if actor.is_dependency else "user-defined"]
    if actor.logical_name in user.starting_actors:
        tags.append("starting")
    if actor.auto_spawn:
        tags.append("auto-spawn")
    if actor.config:
        tags.append("overridden")
    return ", ".join(tags)


def _actors(user: UserConfig, resolution: Resolution) -> None:
    ordered = sorted(resolution.actors.values(), key=lambda a: (a.is_dependency, a.logical_name))
    console.print(f"All Actors ({len(ordered)} total):\n", highlight=False, markup=False)
    for actor in ordered:
        console.print(f"{actor.logical_name} ({_tags(user, actor)})", highlight=False, markup=False)
        console.print(f"   ID: {actor.actor_id}", highlight=False, markup=False)
        console.print(f"   Source: {actor.source.short()}", highlight=False, markup=False)
        console.print(
            f"   Capabilities: {describe_capabilities(actor.capabilities)}", highlight=False, markup=False
        )
        if actor.required_spawn_with:
            console.print(
                f"   Spawned with: {', '.join(actor.required_spawn_with)}", highlight=False, markup=False
            )
        if actor.config:
            console.print(f"   Effective config:\n   ┌{BOX}", highlight=False, markup=False)
            for line in toml_lines(actor.config):
                console.print(f"   │ {line}", highlight=False, markup=False)
            console.print(f"   └{BOX}", highlight=False, markup=False)
        else:
            console.print("   Effective config: (empty)", highlight=False, markup=False)
        console.print(f"   {RULE}", highlight=False, markup=False)
    console.print()


def _warnings(warnings: list[ConfigProblem]) -> None:
    for warning in warnings:
        console.print(f"⚠ {warning}", highlight=False, markup=False)
    if warnings:
        console.print()


def describe_capabilities(capabilities: Capabilities | None) -> str:
    """One line: what an actor may use."""
    if capabilities is None:
        return "original grants (command, spawn, any HTTP host, / read-write)"
    granted = [name for name in ("command", "spawn") if getattr(capabilities, name)]
    if capabilities.http is True:
        granted.append("http (any host)")
    elif capabilities.http:
        granted.append(f"http ({', '.join(capabilities.http)})")
    granted.extend(f"fs {p.path} ({p.mode})" for p in capabilities.filesystem)
    return ", ".join(granted) if granted else "none"


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 100 else value[:97] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return (
            f"[{len(value)} items...]" if len(value) > 5 else "[" + ", ".join(_value(v) for v in value) + "]"
        )
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def toml_lines(table: dict[str, Any], prefix: str = "") -> list[str]:
    """A config table as TOML lines for display: sub-tables as ``[a.b]`` headers, long values cut."""
    lines = [f"{key} = {_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            lines.append(f"[{name}]")
            lines.extend(toml_lines(value, f"{name}."))
    return lines
