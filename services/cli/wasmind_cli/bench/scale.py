"""The ``scale`` suite: N agents of 2 Python actors on this machine.

A real swarm with two hosts of capacity N/2 + 10 (so every agent fits on the two hosts that exist
before the first spawn, and their memory can be measured before and after):

- the time to spawn N agents (``bench:idle`` twice, under two logical names), 16 requests in flight;
- memory per agent as PSS, summed over the host processes (``/proc/<pid>/smaps_rollup``): the
  marginal figure (after minus before, over N) and the total over N (with the hosts' fixed cost);
- a ping round trip (``bench:pinger`` and the example echo in one agent) with 10 idle agents,
  then with N, then with 10 again once the others have stopped: the ratio is the figure, the
  10-agent latency before and after (one median over both series) its baseline, so that a VM
  speeding up or slowing down during the run favours neither side.
"""

import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import anyio

from wasmind.processes import pss_kib
from wasmind.transport.natsserver import NatsServer
from wasmind.wire import subjects
from wasmind.wire.control import AgentList
from wasmind_cli.bench.report import Result
from wasmind_cli.bench.swarm import BenchSwarm, bench_swarm, ping_round_trips, write_config

__all__ = ["BASELINE_AGENTS", "run_scale_suite"]

SUITE = "scale"
SCALE_CONFIG = """
[actors.pinger]
source = {{ path = "{bench}/pinger" }}
[actors.echo]
source = {{ path = "{examples}/echo" }}
[actors.idle_a]
source = {{ path = "{bench}/idle" }}
[actors.idle_b]
source = {{ path = "{bench}/idle" }}
"""
IDLE = ["idle_a", "idle_b"]
BASELINE_AGENTS = 10
"""Idle agents during the baseline ping (the first of the N)."""
HOSTS = 2


def _progress(text: str) -> None:
    sys.stderr.write(f"bench scale: {text}\n")
    sys.stderr.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _spawn_many(
    swarm: BenchSwarm,
    first: int,
    count: int,
    concurrency: int,
    total: int,
    latencies: list[float],
    scopes: list[str] | None = None,
) -> float:
    """Spawn idle agents ``first .. first + count - 1``, ``concurrency`` requests in flight (their
    scopes into ``scopes``); seconds."""
    cursor = first
    end = first + count
    step = max(1, total // 10)

    async def spawner() -> None:
        nonlocal cursor
        while cursor < end:
            index, cursor = cursor, cursor + 1
            started = time.perf_counter()
            reply = await swarm.spawn(IDLE, f"idle {index}")
            latencies.append(time.perf_counter() - started)
            if scopes is not None and reply.scope:
                scopes.append(reply.scope)
            done = len(latencies)
            if done % step == 0 or done == total:
                _progress(f"{done}/{total} agents spawned ({time.perf_counter() - began:.1f} s this phase)")

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, count)):
            tg.start_soon(spawner)
    return time.perf_counter() - began


async def _stop_many(swarm: BenchSwarm, scopes: list[str], concurrency: int) -> float:
    """Stop the agents ``scopes``, ``concurrency`` requests in flight; seconds."""
    waiting = list(scopes)

    async def stopper() -> None:
        while waiting:
            await swarm.stop(waiting.pop())

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(scopes))):
            tg.start_soon(stopper)
    return time.perf_counter() - began


async def _placement(swarm: BenchSwarm) -> dict[str, int]:
    """Running agents per host, from the spawner's registry."""
    msg = await swarm.nc.request(subjects.control(swarm.name, subjects.SPAWNER, "list"), b"{}", timeout=30)
    hosts: dict[str, int] = {}
    for record in AgentList.model_validate_json(msg.data).agents:
        if record.status == "running" and record.host is not None:
            hosts[record.host] = hosts.get(record.host, 0) + 1
    return hosts


async def _scale(agents: int, concurrency: int, rounds: int) -> list[Result]:
    if agents < BASELINE_AGENTS:
        raise ValueError(f"--agents must be at least {BASELINE_AGENTS}")
    capacity = agents // HOSTS + BASELINE_AGENTS
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        config = await anyio.to_thread.run_sync(write_config, work, SCALE_CONFIG)
        async with NatsServer() as server:
            _progress(f"{HOSTS} hosts of capacity {capacity}, {agents} agents of {len(IDLE)} Python actors")
            pids: dict[str, int] = {}
            try:
                async with bench_swarm(
                    server, config, "benchscale", work, hosts=HOSTS, capacity=capacity, shutdown_seconds=180
                ) as swarm:
                    pids = swarm.host_pids
                    pair = await swarm.spawn(["pinger", "echo"], "ping pair")
                    scope = pair.scope or ""
                    await ping_round_trips(swarm, scope, min(rounds, 200))  # warm
                    before = sum(pss_kib(pid) for pid in pids.values())
                    latencies: list[float] = []
                    spawning = await _spawn_many(swarm, 0, BASELINE_AGENTS, concurrency, agents, latencies)
                    few = await ping_round_trips(swarm, scope, rounds)
                    _progress(f"ping with {BASELINE_AGENTS} idle agents done; spawning the rest")
                    extra: list[str] = []
                    spawning += await _spawn_many(
                        swarm,
                        BASELINE_AGENTS,
                        agents - BASELINE_AGENTS,
                        concurrency,
                        agents,
                        latencies,
                        extra,
                    )
                    many = await ping_round_trips(swarm, scope, rounds)
                    _progress(f"ping with {agents} idle agents done")
                    after = sum(pss_kib(pid) for pid in pids.values())
                    placed = await _placement(swarm)
                    if set(placed) - set(pids) or sum(placed.values()) != agents + 1:
                        raise RuntimeError(f"agents not where expected: {placed} on hosts {pids}")
                    _progress(f"stopping {len(extra)} agents")
                    stopping = await _stop_many(swarm, extra, concurrency)
                    few += await ping_round_trips(swarm, scope, rounds)
                    _progress(f"ping with {BASELINE_AGENTS} idle agents again done")
                    await swarm.stop_all()
            finally:
                with anyio.CancelScope(shield=True):
                    await _reap(pids)
    spawn_all = Result(SUITE, "spawn_all_agents_s", round(spawning, 2), "s", samples=agents).check(60.0)
    rate = Result(SUITE, "agents_spawned_per_second", round(agents / spawning, 1), "agents/s", samples=agents)
    latency = Result.of(SUITE, "spawn_latency_ms", latencies, "ms", 1e3)
    mib = 1024
    marginal = Result(
        SUITE, "pss_per_agent_marginal_mib", round((after - before) / agents / mib, 3), "MiB", samples=agents
    ).check(3.0)
    total = Result(SUITE, "pss_per_agent_total_mib", round(after / agents / mib, 3), "MiB", samples=agents)
    hosts_before = Result(SUITE, "hosts_pss_before_mib", round(before / mib, 1), "MiB", samples=HOSTS)
    ping_few = Result.of(SUITE, "ping_round_trip_10_idle_agents_us", few, "µs", 1e6)
    ping_many = Result.of(SUITE, "ping_round_trip_n_idle_agents_us", many, "µs", 1e6).against(ping_few)
    ratio = Result.quotient("ping_latency_n_over_10_agents", ping_many, ping_few, 1.3)
    stop = Result(SUITE, "stop_agents_s", round(stopping, 2), "s", samples=agents - BASELINE_AGENTS)
    return [spawn_all, rate, latency, marginal, total, hosts_before, ping_few, ping_many, ratio, stop]


async def _reap(pids: dict[str, int], grace: float = 15.0) -> None:
    """Hosts that outlive their spawner's shutdown by ``grace`` (they should not): said, then killed."""
    for _ in range(round(grace / 0.2)):  # not our children: poll, there is nothing to wait on
        if not any(_alive(pid) for pid in pids.values()):
            return
        await anyio.sleep(0.2)
    for host, pid in pids.items():
        if _alive(pid):
            _progress(f"host {host} (pid {pid}) still running after shutdown: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def run_scale_suite(agents: int = 1000, concurrency: int = 16, rounds: int = 1000) -> list[Result]:
    """Spawn time, PSS per agent and ping latency with ``agents`` agents of 2 Python actors."""
    return anyio.run(_scale, agents, concurrency, rounds)
