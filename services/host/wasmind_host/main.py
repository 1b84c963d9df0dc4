"""``wasmind-host``: run one host process of a swarm."""

import asyncio
import functools
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from wasmind.assets import cache_dir
from wasmind.runtime.polling import PollingSelector
from wasmind.telemetry.logging import configure_logging
from wasmind.telemetry.process import start_telemetry, stop_telemetry
from wasmind.telemetry.tracing import SERVICE_HOST
from wasmind.transport.nats import NatsOptions
from wasmind.wire.ids import new_scope
from wasmind_host.service import HostService, HostSettings

DEFAULT_POLL_US = 300
"""How long a host's event loop polls before it sleeps: see :mod:`wasmind.runtime.polling`."""

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The swarm's configuration file")],
    swarm: Annotated[str, typer.Option(help="Swarm name (subject namespace)")] = "default",
    nats_url: Annotated[str | None, typer.Option("--nats", help="NATS URL(s), comma-separated")] = None,
    host_id: Annotated[str | None, typer.Option(help="Unique host id (default: hostname-random)")] = None,
    capacity: Annotated[int, typer.Option(help="Agents this host accepts")] = 100,
    working_directory: Annotated[str | None, typer.Option(help="The run's working directory")] = None,
    heartbeat: Annotated[float, typer.Option(help="Seconds between heartbeats")] = 1.0,
    health_port: Annotated[int | None, typer.Option(help="Serve /livez and /readyz on this port")] = None,
    poll_us: Annotated[
        int,
        typer.Option(
            envvar="WASMIND_HOST_POLL_US",
            min=0,
            help="Microseconds the event loop polls for messages before it sleeps, while no call "
            "runs (0: never). Lower latency for some CPU",
        ),
    ] = DEFAULT_POLL_US,
) -> None:
    """Run a host: agents placed here by the spawner run their actors in this process."""
    configure_logging()
    options = NatsOptions.from_env(**({"servers": tuple(nats_url.split(","))} if nats_url else {}))
    host = host_id or f"{socket.gethostname().split('.')[0]}-{new_scope().lower()}"
    start_telemetry(SERVICE_HOST, host)
    settings = HostSettings(
        swarm=swarm,
        config_path=config.resolve(),
        host_id=host,
        cache_dir=cache_dir(),
        working_directory=working_directory or str(Path.cwd()),
        capacity=capacity,
        heartbeat_seconds=heartbeat,
        health_port=health_port,
    )
    poller, loop = event_loop_options(poll_us)
    try:
        anyio.run(HostService(settings, options, poller).run, backend_options=loop)
    finally:
        stop_telemetry()


def event_loop_options(poll_us: int) -> tuple[PollingSelector | None, dict[str, Any]]:
    """The selector polling ``poll_us`` µs before each sleep (``None`` for 0) and the asyncio
    backend options of ``anyio.run`` that give the host's event loop that selector."""
    if poll_us <= 0:
        return None, {}
    poller = PollingSelector(poll_us / 1e6)
    return poller, {"loop_factory": functools.partial(asyncio.SelectorEventLoop, poller)}


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
