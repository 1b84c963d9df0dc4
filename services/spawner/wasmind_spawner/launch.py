"""The command lines that start a spawner and its hosts: one place for their flags."""

import sys
from pathlib import Path

__all__ = ["host_arguments", "spawner_command"]


def spawner_command(
    config: Path,
    *,
    swarm: str,
    nats_url: str,
    min_hosts: int,
    warm_pool: int,
    host_capacity: int,
    log_dir: Path,
    working_directory: str,
    heartbeat: float | None = None,
) -> list[str]:
    """``python -m wasmind_spawner`` with these settings (``heartbeat``: the spawner's default if None)."""
    command = [
        sys.executable,
        "-m",
        "wasmind_spawner",
        "--config",
        str(config),
        "--swarm",
        swarm,
        "--nats",
        nats_url,
        "--min-hosts",
        str(min_hosts),
        "--warm-pool",
        str(warm_pool),
        "--host-capacity",
        str(host_capacity),
        "--log-dir",
        str(log_dir),
        "--working-directory",
        working_directory,
    ]
    if heartbeat is not None:
        command += ["--heartbeat", str(heartbeat)]
    return command


def host_arguments(
    config: str,
    *,
    swarm: str,
    nats_url: str,
    host_id: str,
    capacity: int,
    working_directory: str,
    heartbeat: float,
) -> list[str]:
    """The arguments of ``wasmind-host`` (``python -m wasmind_host``) for host ``host_id``."""
    return [
        "--config",
        config,
        "--swarm",
        swarm,
        "--nats",
        nats_url,
        "--host-id",
        host_id,
        "--capacity",
        str(capacity),
        "--working-directory",
        working_directory,
        "--heartbeat",
        str(heartbeat),
    ]
