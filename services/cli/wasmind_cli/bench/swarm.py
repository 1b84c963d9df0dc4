"""Swarm suites: ``messaging`` (actor-to-actor round trips) and ``spawn`` (agent spawn latency).

Each runs a real swarm (a private nats-server, the spawner and host subprocesses) and measures
raw nats-py request/reply on the same server in the same run as the baseline.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from nats.aio.client import Client
from nats.aio.msg import Msg

from wasmind.assets import actors_dir, cache_dir
from wasmind.config.user import load_user_config
from wasmind.processes import die_with_parent
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.engine import EngineSettings, create_engine
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind.transport.nats import NatsOptions, connect
from wasmind.transport.natsserver import NatsServer
from wasmind.wire import subjects
from wasmind.wire.control import ShutdownRequest, SpawnReply, SpawnRequest, StopRequest
from wasmind.wire.envelope import Envelope, envelope_to_headers
from wasmind.wire.ids import root_id
from wasmind_cli.bench.report import Result
from wasmind_cli.embedded import wait_for_spawner

__all__ = ["run_messaging_suite", "run_spawn_suite"]

CONFIG = """
[actors.pinger]
source = {{ path = "{bench}/pinger" }}
[actors.echo]
source = {{ path = "{examples}/echo" }}
[actors.trio_a]
source = {{ path = "{bench}/idle" }}
[actors.trio_b]
source = {{ path = "{bench}/idle" }}
[actors.trio_c]
source = {{ path = "{bench}/idle" }}
"""


def _write_config(directory: Path) -> Path:
    path = directory / "bench.toml"
    path.write_text(CONFIG.format(bench=actors_dir() / "bench", examples=actors_dir() / "examples"))
    settings = EngineSettings()
    engine = create_engine(settings)
    loader = ComponentLoader(engine, build_linker(engine), ArtifactStore(cache_dir()), settings)
    loader.load_config(load_user_config(path), working_directory=str(directory))
    return path


class BenchSwarm:
    """A spawner subprocess (and its hosts) of one swarm on the bench's nats-server."""

    def __init__(self, nc: Client, name: str) -> None:
        self.nc = nc
        self.name = name

    async def spawn(self, actors: list[str], name: str) -> SpawnReply:
        request = SpawnRequest(actors=actors, name=name, parent=None)
        msg = await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "spawn"), request.to_bytes(), timeout=120
        )
        reply = SpawnReply.model_validate_json(msg.data)
        if reply.error:
            raise RuntimeError(reply.error)
        return reply

    async def stop(self, scope: str) -> None:
        await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "stop"),
            StopRequest(scope=scope).to_bytes(),
            timeout=30,
        )


@asynccontextmanager
async def _swarm(
    server: NatsServer,
    config: Path,
    name: str,
    work: Path,
    *,
    hosts: int,
    capacity: int,
    env: dict[str, str] | None = None,
) -> AsyncIterator[BenchSwarm]:
    command = [
        sys.executable,
        "-m",
        "wasmind_spawner",
        "--config",
        str(config),
        "--swarm",
        name,
        "--nats",
        server.url,
        "--min-hosts",
        str(hosts),
        "--warm-pool",
        "0",
        "--host-capacity",
        str(capacity),
        "--log-dir",
        str(work / name),
        "--working-directory",
        str(work),
    ]
    with (work / f"{name}-spawner.log").open("ab") as log_file:
        spawner = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - a prctl only
            env={**os.environ, **(env or {})},
        )
    nc = await connect(NatsOptions(servers=(server.url,)), name="wasmind-bench")
    try:
        await wait_for_spawner(nc, name)
        await _wait_for_hosts(nc, name, hosts)
        yield BenchSwarm(nc, name)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await nc.request(
                    subjects.control(name, subjects.SPAWNER, "shutdown"),
                    ShutdownRequest().to_bytes(),
                    timeout=5,
                )
            except Exception:  # noqa: BLE001
                spawner.terminate()
            with anyio.move_on_after(30):
                await anyio.to_thread.run_sync(spawner.wait, abandon_on_cancel=True)
            if spawner.poll() is None:
                spawner.kill()
            await nc.close()


async def _wait_for_hosts(nc: Client, swarm: str, count: int) -> None:
    seen: set[str] = set()
    ready = anyio.Event()

    async def on_beat(msg: Msg) -> None:
        seen.add(msg.subject)
        if len(seen) >= count:
            ready.set()

    sub = await nc.subscribe(subjects.heartbeat(swarm, "*"), cb=on_beat)
    with anyio.fail_after(60):
        await ready.wait()
    await sub.unsubscribe()


async def _ping(swarm: BenchSwarm, scope: str, rounds: int) -> list[float]:
    """Start the pinger of agent ``scope`` and return its round trips in seconds."""
    done: list[list[float]] = []
    finished = anyio.Event()

    async def on_result(msg: Msg) -> None:
        done.append([rtt / 1e6 for rtt in json.loads(msg.data)["rtt_us"]])
        finished.set()

    sub = await swarm.nc.subscribe(subjects.data(swarm.name, scope, "bench.ping.Result"), cb=on_result)
    start = Envelope(root_id(), "bench.ping.Start", "bench", scope, json.dumps({"rounds": rounds}).encode())
    await swarm.nc.publish(
        subjects.data(swarm.name, scope, start.message_type),
        start.payload,
        headers=envelope_to_headers(start),
    )
    with anyio.fail_after(120):
        await finished.wait()
    await sub.unsubscribe()
    return done[0][min(50, rounds // 10) :]  # the first rounds warm caches and connections


async def _raw_request_reply(server: NatsServer, rounds: int) -> list[float]:
    responder = await connect(NatsOptions(servers=(server.url,)), name="bench-responder")
    requester = await connect(NatsOptions(servers=(server.url,)), name="bench-requester")

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.raw", cb=echo)
    await responder.flush()
    payload = b"x" * 200
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await requester.request("bench.raw", payload, timeout=5)
        samples.append(time.perf_counter() - started)
    await responder.close()
    await requester.close()
    return samples[min(50, rounds // 10) :]


async def _messaging(rounds: int) -> list[Result]:
    suite = "messaging"
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        config = await anyio.to_thread.run_sync(_write_config, work)
        async with NatsServer() as server:
            raw = Result.of(
                suite, "raw_nats_request_reply_us", await _raw_request_reply(server, rounds), "µs", 1e6
            )
            async with _swarm(server, config, "benchmsg", work, hosts=3, capacity=1) as swarm:
                local = await swarm.spawn(["pinger", "echo"], "intra-host pair")
                intra = Result.of(
                    suite,
                    "actor_round_trip_intra_host_us",
                    await _ping(swarm, local.scope or "", rounds),
                    "µs",
                    1e6,
                ).against(raw)
                await swarm.stop(local.scope or "")
                pinger = await swarm.spawn(["pinger"], "pinger")
                echo = await swarm.spawn(["echo"], "echo")
                if pinger.host == echo.host:
                    raise RuntimeError(
                        "the pinger and the echo landed on one host; cross-host figure invalid"
                    )
                cross = Result.of(
                    suite,
                    "actor_round_trip_cross_host_us",
                    await _ping(swarm, pinger.scope or "", rounds),
                    "µs",
                    1e6,
                    target=1000.0,
                ).against(raw)
            traced = await _traced_intra_host(server, config, work, rounds, intra)
    return [raw, intra, cross, traced]


async def _traced_intra_host(
    server: NatsServer, config: Path, work: Path, rounds: int, untraced: Result
) -> Result:
    """The intra-host round trip with every span recorded (to span files), next to tracing off."""
    env = {"WASMIND_TRACE_DIR": str(work / "spans"), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with _swarm(server, config, "benchtrace", work, hosts=1, capacity=1, env=env) as swarm:
        pair = await swarm.spawn(["pinger", "echo"], "traced pair")
        samples = await _ping(swarm, pair.scope or "", rounds)
    return Result.of("messaging", "actor_round_trip_intra_host_traced_us", samples, "µs", 1e6).against(
        untraced
    )


async def _spawn(spawns: int) -> list[Result]:
    suite = "spawn"
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        config = await anyio.to_thread.run_sync(_write_config, work)
        async with NatsServer() as server:
            raw = Result.of(
                suite, "raw_nats_request_reply_us", await _raw_request_reply(server, 500), "µs", 1e6
            )
            async with _swarm(server, config, "benchspawn", work, hosts=1, capacity=10_000) as swarm:
                for _ in range(3):  # warm: components loaded, first instances done
                    await swarm.spawn(["trio_a", "trio_b", "trio_c"], "warm-up")
                samples = []
                started_all = time.perf_counter()
                for i in range(spawns):
                    started = time.perf_counter()
                    await swarm.spawn(["trio_a", "trio_b", "trio_c"], f"agent {i}")
                    samples.append(time.perf_counter() - started)
                rate = spawns / (time.perf_counter() - started_all)
    latency = Result.of(suite, "agent_of_3_python_actors_warm_host_ms", samples, "ms", 1e3, target=25.0)
    per_second = Result(
        suite, "agents_spawned_per_second_sequential", round(rate, 1), "agents/s", samples=spawns
    )
    return [raw, latency.against(Result(suite, "raw", raw.value / 1000, "ms")), per_second]


def run_messaging_suite(rounds: int = 1000) -> list[Result]:
    """Actor-to-actor round trips within a host and across hosts, next to raw request/reply."""
    return anyio.run(_messaging, rounds)


def run_spawn_suite(spawns: int = 50) -> list[Result]:
    """Agent spawn latency on a warm host, next to raw request/reply."""
    return anyio.run(_spawn, spawns)
