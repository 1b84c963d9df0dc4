"""``wasmind run``: run a swarm from a configuration file."""

import typer

from wasmind_cli.console import err_console


def run() -> None:
    """Run a swarm (not available yet: the swarm on NATS is issue 4)."""
    err_console.print(
        "[yellow]wasmind run is not implemented yet:[/] the NATS swarm (host and spawner services) "
        "lands with issue 4. Until then, `wasmind build` and `wasmind bench runtime` work."
    )
    raise typer.Exit(2)
