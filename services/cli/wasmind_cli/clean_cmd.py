"""``wasmind clean``: empty the build caches."""

import shutil
import sys
from typing import Annotated

import typer

from wasmind.assets import cache_dir
from wasmind_cli.console import console, err_console

AREAS = ("actors", "components", "compiled", "git")


def clean(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete the actor cache, built and precompiled components and git checkouts."""
    root = cache_dir()
    present = [root / area for area in AREAS if (root / area).exists()]
    if not present:
        console.print(f"No actor cache found at {root / 'actors'}", highlight=False)
        return
    if not yes:
        if not sys.stdin.isatty():
            err_console.print("[red]Error:[/] refusing to delete caches without confirmation: pass --yes")
            raise typer.Exit(1)
        typer.confirm(f"Delete {', '.join(str(p) for p in present)}?", abort=True)
    console.print(f"Cleaning actor cache at {root / 'actors'}...", highlight=False)
    for path in present:
        shutil.rmtree(path)
    console.print("✓ Actor cache cleaned successfully")
