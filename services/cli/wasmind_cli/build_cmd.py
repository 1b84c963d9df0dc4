"""``wasmind build``: build actor directories into components and precompile them for this host."""

import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from wasmind.assets import cache_dir
from wasmind.config.errors import ConfigError
from wasmind.config.git import GitFetchError
from wasmind.config.manifest import MANIFEST_NAME, ManifestError
from wasmind.config.user import load_user_config
from wasmind.runtime.artifacts import ArtifactStore, file_digest
from wasmind.runtime.build import BuildError, build_actor
from wasmind.runtime.engine import EngineSettings, create_engine
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind_cli.console import console, err_console


def _default_dirs() -> list[Path]:
    return sorted(p.parent for p in Path("actors").glob(f"*/{MANIFEST_NAME}"))


def _build_config(path: Path, refresh: bool) -> None:
    """Resolve a configuration and build and precompile all its actors, reporting each."""
    settings = EngineSettings()
    engine = create_engine(settings)
    loader = ComponentLoader(engine, build_linker(engine), ArtifactStore(cache_dir()), settings)
    try:
        user = load_user_config(path)
        for warning in user.warnings:
            err_console.print(f"⚠ {warning}", markup=False, highlight=False)
        resolution, _ = loader.load_config(
            user,
            working_directory=str(Path.cwd()),
            refresh=refresh,
            report=lambda line: console.print(line, markup=False, highlight=False),
        )
    except (ConfigError, BuildError, GitFetchError) as error:
        err_console.print(f"Error: {error}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    for warning in resolution.warnings:
        err_console.print(f"⚠ {warning}", markup=False, highlight=False)


def _describe(bar: Progress, task: TaskID, step: str) -> None:
    bar.update(task, description=step)


def build(
    dirs: Annotated[list[Path] | None, typer.Argument(help="Actor directories (default: actors/*)")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Build every actor of a configuration")
    ] = None,
    refresh: Annotated[
        bool, typer.Option(help="With -c: fetch git sources that follow a branch again")
    ] = False,
    no_precompile: Annotated[bool, typer.Option(help="Only build components, do not precompile")] = False,
) -> None:
    """Build actors (Wasmind.toml + Python source, or a prebuilt .wasm) into cached components."""
    if config is not None:
        _build_config(config, refresh)
        return
    targets = dirs or _default_dirs()
    if not targets:
        err_console.print("[red]Error:[/] no actor directories given and none found under actors/")
        raise typer.Exit(1)
    store = ArtifactStore(cache_dir())
    settings = EngineSettings()
    engine = create_engine(settings)
    table = Table("actor", "actor_id", "kind", "component", "precompiled", "seconds")
    failed = 0
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console
    ) as bar:
        for directory in targets:
            task = bar.add_task(f"{directory.name}: checking")
            started = time.perf_counter()
            try:
                result = build_actor(directory, store, progress=partial(_describe, bar, task))
                compiled = "skipped"
                if not no_precompile:
                    bar.update(task, description=f"{directory.name}: precompiling")
                    existed = store.compiled_path(file_digest(result.component), settings).exists()
                    store.precompile(result.component, engine, settings)
                    compiled = "cached" if existed else "compiled"
            except (BuildError, ManifestError) as error:
                failed += 1
                bar.update(task, description=f"[red]{directory.name}: failed")
                err_console.print(f"[red]Error:[/] {error}", highlight=False)
                continue
            finally:
                bar.stop_task(task)
            state = "cached" if result.cached else "built"
            bar.update(task, description=f"[green]✓[/] {directory.name} ({state})")
            table.add_row(
                directory.name,
                result.actor_id,
                result.kind,
                state,
                compiled,
                f"{time.perf_counter() - started:.1f}",
            )
    console.print(table)
    if failed:
        raise typer.Exit(1)
