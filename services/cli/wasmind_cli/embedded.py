"""The embedded default: a private nats-server and the spawner, started and stopped by ``wasmind run``."""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from nats.aio.client import Client
from wasmind_spawner.launch import spawner_command

from wasmind.config.sections import SwarmSection
from wasmind.processes import die_with_parent
from wasmind.transport.natsserver import NatsServer, NatsServerConfig
from wasmind.wire import subjects
from wasmind.wire.control import AgentList, ShutdownRequest

__all__ = ["EmbeddedSwarm", "wait_for_spawner"]


async def wait_for_spawner(
    nc: Client, swarm: str, seconds: float = 60, failed: Callable[[], str | None] = lambda: None
) -> None:
    """Until the spawner of ``swarm`` answers (raises ``TimeoutError`` with a hint).

    ``failed`` tells early when a local spawner process died (its log tail).
    """
    subject = subjects.control(swarm, subjects.SPAWNER, "list")
    with anyio.move_on_after(seconds):
        while True:
            problem = failed()
            if problem is not None:
                raise RuntimeError(problem)
            try:
                AgentList.model_validate_json((await nc.request(subject, b"{}", timeout=1)).data)
                return
            except Exception:  # noqa: BLE001 - no responders yet
                await anyio.sleep(0.1)
    raise TimeoutError(
        f"no spawner answered on {subject} within {seconds:.0f} s: is wasmind-spawner running?"
    )


@dataclass
class EmbeddedSwarm:
    """nats-server (JetStream under ``run_dir``) plus a spawner subprocess that launches hosts."""

    config_path: Path
    settings: SwarmSection
    working_directory: str
    run_dir: Path

    def __post_init__(self) -> None:
        self.server = NatsServer(
            NatsServerConfig(store_dir=self.run_dir / "jetstream"), log_file=self.run_dir / "nats-server.log"
        )
        self.spawner: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The private server's URL."""
        return self.server.url

    async def start(self) -> None:
        """Start the server, then the spawner (which starts the hosts)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        await self.server.start()
        s = self.settings
        command = spawner_command(
            self.config_path,
            swarm=s.name,
            nats_url=self.server.url,
            min_hosts=s.hosts,
            warm_pool=s.warm_pool,
            host_capacity=s.host_capacity,
            heartbeat=s.heartbeat_seconds,
            working_directory=self.working_directory,
            log_dir=self.run_dir / "hosts",
        )
        with (self.run_dir / "spawner.log").open("ab") as log_file:
            self.spawner = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )

    async def stop(self, nc: Client | None, grace: float = 30) -> None:
        """Ask the spawner to stop the swarm (hosts drain, destructors run), then stop the server."""
        if self.spawner is not None and self.spawner.poll() is None:
            if nc is not None and not nc.is_closed:
                try:
                    await nc.request(
                        subjects.control(self.settings.name, subjects.SPAWNER, "shutdown"),
                        ShutdownRequest().to_bytes(),
                        timeout=5,
                    )
                except Exception:  # noqa: BLE001 - it may be gone; the signal below still works
                    self.spawner.terminate()
            else:
                self.spawner.terminate()
            with anyio.move_on_after(grace):
                await anyio.to_thread.run_sync(self.spawner.wait, abandon_on_cancel=True)
        self.kill_spawner()
        await self.server.stop()

    def spawner_failure(self) -> str | None:
        """What the spawner printed, if it already exited."""
        if self.spawner is None or self.spawner.poll() is None:
            return None
        lines = (self.run_dir / "spawner.log").read_text(errors="replace").splitlines()
        return f"the spawner exited with status {self.spawner.returncode}:\n" + "\n".join(lines[-15:])

    def kill_spawner(self) -> None:
        """SIGKILL the spawner if it still runs (its hosts follow: they die with their parent)."""
        if self.spawner is not None and self.spawner.poll() is None:
            self.spawner.kill()
            self.spawner.wait()

    def kill(self) -> None:
        """Stop everything now (second Ctrl-C)."""
        self.kill_spawner()
        self.server.kill()
