"""How the spawner starts and stops host processes: the ``HostBackend`` protocol and the local
backend (the ``kubernetes`` one is in :mod:`wasmind_spawner.pods`)."""

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio
import structlog

from wasmind.processes import die_with_parent
from wasmind.telemetry import tracing
from wasmind_spawner.launch import host_arguments

__all__ = ["HostBackend", "LocalBackend", "LocalHostOptions", "trace_parent_env"]

log = structlog.get_logger("wasmind.spawner")


class HostBackend(Protocol):
    """Launches and terminates host processes (local subprocesses, Kubernetes Pods, ...)."""

    async def launch(self, host_id: str) -> None:
        """Start a host that will register itself with ``host_id``."""

    async def terminate(self, host_id: str, grace: float) -> None:
        """Stop a host: polite first, forced after ``grace`` seconds. Unknown ids are ignored."""

    async def reap(self, host_id: str, grace: float) -> None:
        """Wait for a host that announced it is leaving to exit; force it after ``grace``."""

    async def exited(self, host_id: str) -> bool:
        """Whether a launched host has ended (so it will never join)."""

    async def describe(self, host_id: str) -> str:
        """What is known of a launched host that has not joined (why it may be stuck), or ``""``."""

    async def close(self) -> None:
        """Stop every host this backend started."""


@dataclass(frozen=True)
class LocalHostOptions:
    """Arguments every local host gets."""

    nats_url: str
    swarm: str
    config_path: Path
    working_directory: str
    capacity: int = 100
    heartbeat: float = 1.0
    log_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


class LocalBackend:
    """Hosts as subprocesses of the spawner (``python -m wasmind_host``), each in its own process group."""

    def __init__(self, options: LocalHostOptions) -> None:
        self.options = options
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _command(self, host_id: str) -> list[str]:
        o = self.options
        return [
            sys.executable,
            "-m",
            "wasmind_host",
            *host_arguments(
                str(o.config_path),
                swarm=o.swarm,
                nats_url=o.nats_url,
                host_id=host_id,
                capacity=o.capacity,
                working_directory=o.working_directory,
                heartbeat=o.heartbeat,
            ),
        ]

    async def launch(self, host_id: str) -> None:
        """Start ``python -m wasmind_host`` for ``host_id``; output goes to ``<log_dir>/<host_id>.log``."""
        log_file = None
        if self.options.log_dir is not None:
            self.options.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.options.log_dir / f"{host_id}.log").open("ab")
        process = subprocess.Popen(  # noqa: ASYNC220 - a fast fork/exec, nothing to wait for
            self._command(host_id),
            stdin=subprocess.DEVNULL,
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            env={**os.environ, **self.options.env, **trace_parent_env()},
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only a prctl, safe before exec
        )
        if log_file is not None:
            log_file.close()
        self.processes[host_id] = process
        log.info("host launched", host=host_id, pid=process.pid)

    async def terminate(self, host_id: str, grace: float) -> None:
        """SIGTERM (the host drains), then SIGKILL of its process group after ``grace``."""
        process = self.processes.pop(host_id, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(grace):
                await anyio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
        if process.poll() is None:
            _kill_group(process)
        await anyio.to_thread.run_sync(process.wait)
        log.info("host stopped", host=host_id, returncode=process.returncode)

    async def exited(self, host_id: str) -> bool:
        """True when a host this backend launched is no longer running."""
        process = self.processes.get(host_id)
        return process is not None and process.poll() is not None

    async def describe(self, host_id: str) -> str:
        """Whether the host's process exited, and where its log is."""
        process = self.processes.get(host_id)
        if process is None or process.poll() is None:
            return ""
        log_dir = self.options.log_dir
        where = f"; see {log_dir / f'{host_id}.log'}" if log_dir is not None else ""
        return f"its process exited with status {process.returncode}{where}"

    async def reap(self, host_id: str, grace: float) -> None:
        """Wait for a host that is already leaving to exit; force it after ``grace``."""
        process = self.processes.pop(host_id, None)
        if process is None:
            return
        with anyio.move_on_after(grace):
            await anyio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
        if process.poll() is None:
            _kill_group(process)
            await anyio.to_thread.run_sync(process.wait)
        log.info("host left", host=host_id, returncode=process.returncode)

    async def close(self) -> None:
        """Terminate every host still running."""
        async with anyio.create_task_group() as tg:
            for host_id in list(self.processes):
                tg.start_soon(self.terminate, host_id, 10.0)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def trace_parent_env() -> dict[str, str]:
    """The launch's trace context for the new process (its ``host start`` span continues the trace)."""
    parent = tracing.current_headers().get("traceparent")
    return {tracing.TRACEPARENT_ENV: parent} if parent else {}
