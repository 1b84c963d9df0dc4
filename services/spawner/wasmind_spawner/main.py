"""``wasmind-spawner``: run the spawner service of a swarm."""

import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer

from wasmind.assets import state_dir
from wasmind.telemetry.logging import configure_logging
from wasmind.telemetry.process import start_telemetry, stop_telemetry
from wasmind.telemetry.tracing import SERVICE_SPAWNER
from wasmind.transport.nats import NatsOptions
from wasmind_spawner.backends import LocalBackend, LocalHostOptions
from wasmind_spawner.service import Spawner, SpawnerSettings

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The swarm's configuration (passed to hosts)")
    ],
    swarm: Annotated[str, typer.Option(help="Swarm name (subject namespace)")] = "default",
    nats_url: Annotated[str | None, typer.Option("--nats", help="NATS URL(s), comma-separated")] = None,
    backend: Annotated[str, typer.Option(help="Host backend: local")] = "local",
    min_hosts: Annotated[int, typer.Option(help="Hosts kept running")] = 1,
    warm_pool: Annotated[int, typer.Option(help="Idle hosts kept ready")] = 1,
    host_capacity: Annotated[int, typer.Option(help="Agents per host")] = 100,
    heartbeat: Annotated[float, typer.Option(help="Seconds between host heartbeats")] = 1.0,
    working_directory: Annotated[str | None, typer.Option(help="The run's working directory")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Where local hosts write their logs")] = None,
) -> None:
    """Run the spawner: agent registry, placement and host lifecycle."""
    configure_logging()
    if backend != "local":
        raise typer.BadParameter(
            f"unknown backend {backend!r}: this build has 'local'", param_hint="--backend"
        )
    options = NatsOptions.from_env(**({"servers": tuple(nats_url.split(","))} if nats_url else {}))
    hosts = LocalBackend(
        LocalHostOptions(
            nats_url=",".join(options.servers),
            swarm=swarm,
            config_path=config.resolve(),
            working_directory=working_directory or str(Path.cwd()),
            capacity=host_capacity,
            heartbeat=heartbeat,
            log_dir=log_dir or state_dir() / "hosts",
        )
    )
    settings = SpawnerSettings(swarm=swarm, min_hosts=min_hosts, warm_pool=warm_pool)
    start_telemetry(SERVICE_SPAWNER, f"spawner-{swarm}")
    try:
        anyio.run(Spawner(settings, options, hosts).run)
    finally:
        stop_telemetry()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
