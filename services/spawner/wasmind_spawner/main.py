"""``wasmind-spawner``: run the spawner service of a swarm."""

import os
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
from wasmind_spawner.backends import HostBackend, LocalBackend, LocalHostOptions
from wasmind_spawner.pods import (
    KubernetesBackend,
    KubernetesHostOptions,
    core_api,
    current_namespace,
    forwarded_env,
    host_resources,
)
from wasmind_spawner.service import Spawner, SpawnerSettings

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The swarm's configuration (passed to hosts)")
    ],
    swarm: Annotated[str, typer.Option(help="Swarm name (subject namespace)")] = "default",
    nats_url: Annotated[str | None, typer.Option("--nats", help="NATS URL(s), comma-separated")] = None,
    backend: Annotated[
        str, typer.Option(help="Where hosts run: local (subprocesses) or kubernetes (Pods)")
    ] = "local",
    min_hosts: Annotated[int, typer.Option(help="Hosts kept running")] = 1,
    warm_pool: Annotated[int, typer.Option(help="Idle hosts kept ready")] = 1,
    host_capacity: Annotated[int, typer.Option(help="Agents per host")] = 100,
    heartbeat: Annotated[float, typer.Option(help="Seconds between host heartbeats")] = 1.0,
    host_start_timeout: Annotated[
        float,
        typer.Option(min=1, help="Seconds a new host has to join before its launch is given up"),
    ] = SpawnerSettings.host_start_timeout,
    working_directory: Annotated[str | None, typer.Option(help="The run's working directory")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Where local hosts write their logs")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="kubernetes: the hosts' namespace (default: the spawner's own, or the kubeconfig's)"
        ),
    ] = None,
    host_image: Annotated[
        str | None, typer.Option(envvar="WASMIND_HOST_IMAGE", help="kubernetes: the hosts' container image")
    ] = None,
    config_map: Annotated[
        str,
        typer.Option(
            help="kubernetes: the ConfigMap that holds the configuration (a key named like --config)"
        ),
    ] = "wasmind-config",
    host_cpu: Annotated[
        str | None, typer.Option(help="kubernetes: CPU each host requests (e.g. 500m)")
    ] = None,
    host_memory: Annotated[
        str | None, typer.Option(help="kubernetes: memory each host requests and is limited to (e.g. 2Gi)")
    ] = None,
    host_secret: Annotated[
        list[str] | None,
        typer.Option(help="kubernetes: a Secret whose keys become the hosts' environment (repeatable)"),
    ] = None,
) -> None:
    """Run the spawner: agent registry, placement and host lifecycle."""
    configure_logging()
    options = NatsOptions.from_env(**({"servers": tuple(nats_url.split(","))} if nats_url else {}))
    servers = ",".join(options.servers)
    hosts: HostBackend
    if backend == "local":
        hosts = LocalBackend(
            LocalHostOptions(
                nats_url=servers,
                swarm=swarm,
                config_path=config.resolve(),
                working_directory=working_directory or str(Path.cwd()),
                capacity=host_capacity,
                heartbeat=heartbeat,
                log_dir=log_dir or state_dir() / "hosts",
            )
        )
    elif backend == "kubernetes":
        if not host_image:
            raise typer.BadParameter(
                "the kubernetes backend needs the hosts' image (--host-image or WASMIND_HOST_IMAGE)",
                param_hint="--host-image",
            )
        hosts = _kubernetes_backend(
            KubernetesHostOptions(
                nats_url=servers,
                swarm=swarm,
                image=host_image,
                namespace=namespace or current_namespace(),
                config_map=config_map,
                config_key=config.name,
                capacity=host_capacity,
                heartbeat=heartbeat,
                resources=host_resources(host_cpu, host_memory),
                env=forwarded_env(os.environ),
                env_from_secrets=tuple(host_secret or ()),
            )
        )
    else:
        raise typer.BadParameter(f"unknown backend {backend!r}: local or kubernetes", param_hint="--backend")
    settings = SpawnerSettings(
        swarm=swarm, min_hosts=min_hosts, warm_pool=warm_pool, host_start_timeout=host_start_timeout
    )
    start_telemetry(SERVICE_SPAWNER, f"spawner-{swarm}")
    try:
        anyio.run(Spawner(settings, options, hosts).run)
    finally:
        stop_telemetry()


def _kubernetes_backend(options: KubernetesHostOptions) -> KubernetesBackend:
    """The backend for ``options``, or the command line's error (exit status 2) saying what is wrong."""
    try:
        api = core_api()
    except RuntimeError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        return KubernetesBackend(options, api)
    except ValueError as error:  # the swarm's name cannot label Pods
        raise typer.BadParameter(str(error), param_hint="--swarm") from None


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
