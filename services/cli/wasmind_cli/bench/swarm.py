"""Swarm suites: ``messaging`` (round trips, sustained throughput) and ``spawn`` (spawn latency).

Each runs a real swarm (a private nats-server, the spawner and host subprocesses) and measures
raw nats-py on the same server in the same run as the baseline. The helpers here (a bench swarm,
ping round trips, host pids) are shared with the ``scale`` suite.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Self

import anyio
import anyio.lowlevel
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from wasmind_spawner.launch import spawner_command

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
from wasmind.wire.control import Heartbeat, ShutdownRequest, SpawnReply, SpawnRequest, StopRequest
from wasmind.wire.envelope import Envelope, envelope_to_headers
from wasmind.wire.ids import root_id
from wasmind_cli.bench.bare_in_host.sitecustomize import (
    BARE_PREFIX,
    FLOOR_PREFIX,
    GUEST_THREAD_PREFIX,
    INLINE_PREFIX,
)
from wasmind_cli.bench.floor import guest_call_samples, handoff_samples, round_trip_floor
from wasmind_cli.bench.report import Result
from wasmind_cli.embedded import wait_for_spawner

__all__ = [
    "BenchSwarm",
    "HostThreads",
    "alternate",
    "bare_in_host_env",
    "bench_swarm",
    "ping_round_trips",
    "rates_by_round",
    "raw_request_reply",
    "run_messaging_suite",
    "run_spawn_suite",
    "serial_estimate",
    "with_sitecustomize",
    "write_config",
]

MESSAGING_CONFIG = """
[actors.pinger]
source = {{ path = "{bench}/pinger" }}
[actors.echo]
source = {{ path = "{examples}/echo" }}
[actors.counter]
source = {{ path = "{bench}/counter" }}
[actors.wat_counter]
source = {{ path = "{bench}/wat_counter" }}
"""

SPAWN_CONFIG = """
[actors.trio_a]
source = {{ path = "{bench}/idle" }}
[actors.trio_b]
source = {{ path = "{bench}/idle" }}
[actors.trio_c]
source = {{ path = "{bench}/idle" }}
"""
"""A host loads every actor of its configuration when it starts: only what the suite spawns."""

TRIO = ["trio_a", "trio_b", "trio_c"]
TICK = "bench.count.Tick"
DONE = "bench.count.Done"
WARM_UP_MESSAGES = 2000
PUBLISH_SLICE = 100
"""Publishes after which a flood lets nats-py write them. nats-py only queues a publish; its
flusher task writes the queue when the publisher yields, or when 2 MiB have queued. A flood that
never yields reaches the consumer only once it has all been built (~30 ms for 5,000 ticks, the
consumer idle meanwhile: docs/performance.md, run I)."""
PAYLOAD_BYTES = 200
LOST_ROUNDS_ALLOWED = 5
"""Rounds of raw request/reply that may be lost to a reconnect before the figure is given up."""
BARE_IN_HOST = Path(__file__).parent / "bare_in_host"
"""Loaded into the hosts of the messaging swarm (``sitecustomize``): their own bare rounds."""


def write_config(directory: Path, template: str) -> Path:
    """Write the swarm configuration ``template`` and build/precompile its actors (cached) here.

    Hosts then find every component in the cache instead of each building it.
    """
    path = directory / "bench.toml"
    path.write_text(template.format(bench=actors_dir() / "bench", examples=actors_dir() / "examples"))
    settings = EngineSettings()
    engine = create_engine(settings)
    loader = ComponentLoader(engine, build_linker(engine), ArtifactStore(cache_dir()), settings)
    loader.load_config(load_user_config(path), working_directory=str(directory))
    return path


class BenchSwarm:
    """A spawner subprocess (and its hosts) of one swarm on the bench's nats-server."""

    def __init__(self, nc: Client, name: str, host_pids: dict[str, int]) -> None:
        self.nc = nc
        self.name = name
        self.host_pids = host_pids
        """Host id -> process id of the hosts running when the swarm came up (hosts run locally)."""

    async def spawn(self, actors: list[str], name: str) -> SpawnReply:
        """Spawn a root-level agent; raises ``RuntimeError`` with the spawner's error."""
        request = SpawnRequest(actors=actors, name=name, parent=None)
        msg = await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "spawn"), request.to_bytes(), timeout=120
        )
        reply = SpawnReply.model_validate_json(msg.data)
        if reply.error:
            raise RuntimeError(reply.error)
        return reply

    async def stop(self, scope: str) -> None:
        """Stop one agent (its destructors run)."""
        await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "stop"),
            StopRequest(scope=scope).to_bytes(),
            timeout=30,
        )

    async def stop_all(self) -> None:
        """Stop every agent on every host (destructors run) and wait for the spawner to say so."""
        await self.nc.request(
            subjects.control(self.name, subjects.SPAWNER, "stop"),
            StopRequest(scope=None).to_bytes(),
            timeout=300,
        )


@asynccontextmanager
async def bench_swarm(
    server: NatsServer,
    config: Path,
    name: str,
    work: Path,
    *,
    hosts: int,
    capacity: int,
    env: dict[str, str] | None = None,
    shutdown_seconds: float = 30,
) -> AsyncIterator[BenchSwarm]:
    """A spawner with ``hosts`` hosts of ``capacity`` agents (no warm pool), stopped on exit."""
    command = spawner_command(
        config,
        swarm=name,
        nats_url=server.url,
        min_hosts=hosts,
        warm_pool=0,
        host_capacity=capacity,
        log_dir=work / name,
        working_directory=str(work),
    )
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
        yield BenchSwarm(nc, name, await _host_pids(nc, name, hosts))
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
            with anyio.move_on_after(shutdown_seconds):
                await anyio.to_thread.run_sync(spawner.wait, abandon_on_cancel=True)
            if spawner.poll() is None:
                spawner.kill()
            await nc.close()


async def _host_pids(nc: Client, swarm: str, count: int) -> dict[str, int]:
    """Host id -> process id of ``count`` live hosts, from their heartbeats (waits up to 60 s)."""
    pids: dict[str, int] = {}
    ready = anyio.Event()

    async def on_beat(msg: Msg) -> None:
        beat = Heartbeat.model_validate_json(msg.data)
        if not beat.draining:
            pids[beat.host] = beat.pid
        if len(pids) >= count:
            ready.set()

    sub = await nc.subscribe(subjects.heartbeat(swarm, "*"), cb=on_beat)
    with anyio.fail_after(60):
        await ready.wait()
    await sub.unsubscribe()
    return pids


async def ping_round_trips(swarm: BenchSwarm, scope: str, rounds: int) -> list[float]:
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


async def raw_request_reply(server: NatsServer, rounds: int) -> list[float]:
    """Round trips of plain nats-py request/reply (200 bytes) between two connections, in seconds."""
    responder = await connect(NatsOptions(servers=(server.url,)), name="bench-responder")
    requester = await connect(NatsOptions(servers=(server.url,)), name="bench-requester")

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.raw", cb=echo)
    await responder.flush()
    payload = b"x" * 200
    samples: list[float] = []
    lost = 0
    while len(samples) < rounds:
        started = time.perf_counter()
        try:
            await requester.request("bench.raw", payload, timeout=1)
        except (NoRespondersError, NatsTimeoutError) as exc:
            # The server dropped both connections once in CI: the requester was back before the
            # responder's subscription, or the request was lost. Repeat the round, a few times at most.
            lost += 1
            if lost > LOST_ROUNDS_ALLOWED:
                raise
            print(f"raw request/reply: round lost ({type(exc).__name__}), again", file=sys.stderr)
            await responder.flush(timeout=30)
            continue
        samples.append(time.perf_counter() - started)
    await responder.close()
    await requester.close()
    return samples[min(50, rounds // 10) :]


# --- sustained throughput -------------------------------------------------------------------------


def tick_payload(count: int, pad: str = "") -> bytes:
    """``{"count":N,"pad":"…xx"}``, exactly :data:`PAYLOAD_BYTES` bytes of JSON; the pad starts with
    ``pad``: ``BARE_PREFIX`` for the trigger of a bare round in a host, ``INLINE_PREFIX`` for the
    ticks of an inline round (``bare_in_host``'s hooks)."""
    head = json.dumps({"count": count, "pad": pad}, separators=(",", ":")).encode()
    return head[:-2] + b"x" * (PAYLOAD_BYTES - len(head)) + b'"}'


def with_sitecustomize(directory: Path, **env: str) -> dict[str, str]:
    """``env`` plus a ``PYTHONPATH`` that loads ``directory/sitecustomize.py`` into a swarm's
    processes first (measuring tools of the benchmarks: no hooks in the product)."""
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return {**env, "PYTHONPATH": os.pathsep.join([str(directory), *inherited])}


def bare_in_host_env(nats_url: str) -> dict[str, str]:
    """The environment of a swarm on the server at ``nats_url`` whose hosts run bare, inline and
    floor rounds (:meth:`_Flood.bare_rate`, :meth:`_Flood.inline_rate`, :meth:`_Flood.floor_rate`)."""
    return with_sitecustomize(BARE_IN_HOST, WASMIND_BENCH_BARE_IN_HOST="1", WASMIND_BENCH_FLOOR_NATS=nats_url)


RAW_SUBSCRIBER = """
import asyncio, json, sys
import nats

async def main(url, subject):
    nc = await nats.connect(url, name="bench-raw-subscriber")
    state = {"seen": 0, "target": 0}

    async def on_tick(msg):  # what bench:counter does, in plain nats-py
        if not state["target"]:
            state["target"] = json.loads(msg.data)["count"]
        state["seen"] += 1
        if state["seen"] == state["target"]:
            await nc.publish(subject + ".done", json.dumps({"count": state["seen"]}).encode())
            state["seen"] = state["target"] = 0

    await nc.subscribe(subject, cb=on_tick)
    await nc.flush()
    await nc.publish(subject + ".ready", b"")
    await nc.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes it
    await nc.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
"""A plain nats-py subscriber process: counts ticks like ``bench:counter`` and answers ``.done``."""


class _Flood:
    """Rounds of ticks published to ``subject`` as fast as this connection can (written as they are
    made: :data:`PUBLISH_SLICE`), each timed from the first publish until the consumer's done
    message (on ``done_subject``) arrives."""

    def __init__(
        self,
        nc: Client,
        subject: str,
        done_subject: str,
        headers: dict[str, str],
        floor_subject: str | None = None,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.floor_subject = floor_subject
        self.done_subject = done_subject
        self.headers = headers
        self._done: Subscription | None = None

    async def __aenter__(self) -> Self:
        self._done = await self.nc.subscribe(self.done_subject)
        await self.nc.flush()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._done is not None:
            await self._done.unsubscribe()

    async def rate(self, count: int) -> float:
        """Messages/s of one round of ``count`` ticks published over NATS."""
        return await self._round(count, count, tick_payload(count))

    async def bare_rate(self, count: int) -> float:
        """Calls/s of one bare round of ``count`` ticks: the consumer's host handles them itself, on
        its guest thread, from one trigger (a swarm with :func:`bare_in_host_env`)."""
        return await self._round(count, 1, tick_payload(count, BARE_PREFIX))

    async def inline_rate(self, count: int) -> float:
        """Messages/s of one round of ``count`` ticks published over NATS that the consumer's host
        handles on its event loop's thread (no guest thread; a swarm with :func:`bare_in_host_env`)."""
        return await self._round(count, count, tick_payload(count, INLINE_PREFIX))

    async def floor_rate(self, count: int, on_guest_thread: bool = False) -> float:
        """Messages/s of one round of ``count`` ticks published over NATS to ``floor_subject``,
        which the consumer's host receives the leanest way Python can and calls on its event
        loop's thread, or on a guest thread (a swarm with :func:`bare_in_host_env`)."""
        assert self.floor_subject is not None, "a flood without a floor subject"
        payload = tick_payload(count, GUEST_THREAD_PREFIX if on_guest_thread else "")
        return await self._round(count, count, payload, self.floor_subject)

    async def _round(self, count: int, publishes: int, payload: bytes, subject: str | None = None) -> float:
        assert self._done is not None, "use the flood as an async context manager"
        subject = subject or self.subject
        started = time.perf_counter()
        for index in range(publishes):
            await self.nc.publish(subject, payload, headers=self.headers)
            if index % PUBLISH_SLICE == PUBLISH_SLICE - 1:
                await anyio.lowlevel.checkpoint()  # let nats-py's flusher task write what is queued
        reply = await self._done.next_msg(timeout=max(120, count / 100))
        elapsed = time.perf_counter() - started
        seen = json.loads(reply.data)["count"]
        if seen != count:
            raise RuntimeError(f"the consumer saw {seen} of {count} messages")
        return count / elapsed


def _rate(name: str, rates: Sequence[float], messages: int) -> Result:
    """The median rate of several rounds (``samples``: messages over all rounds)."""
    return Result("messaging", name, round(statistics.median(rates)), "msgs/s", samples=messages * len(rates))


def _headers(scope: str) -> dict[str, str]:
    """The envelope headers of a tick from an external publisher to agent ``scope``."""
    return envelope_to_headers(Envelope(root_id(), TICK, "bench", scope, b""))


async def raw_pub_sub(server: NatsServer, messages: int, rounds: int) -> list[float]:
    """Plain nats-py pub/sub: this process publishes, a subscriber process counts (same headers);
    messages/s of each round after a warm-up round."""
    nc = await connect(NatsOptions(servers=(server.url,)), name="bench-publisher")
    subject = "bench.flow"
    ready = await nc.subscribe(f"{subject}.ready")
    subscriber = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
        [sys.executable, "-c", RAW_SUBSCRIBER, server.url, subject],
        stdin=subprocess.PIPE,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - a prctl only
    )
    try:
        await ready.next_msg(timeout=30)
        async with _Flood(nc, subject, f"{subject}.done", _headers("bench0")) as flood:
            await flood.rate(min(WARM_UP_MESSAGES, messages))
            return [await flood.rate(messages) for _ in range(rounds)]
    finally:
        assert subscriber.stdin is not None
        subscriber.stdin.close()
        await anyio.to_thread.run_sync(subscriber.wait)
        await nc.close()


async def alternate(
    measures: Sequence[Callable[[], Awaitable[float]]], rounds: int
) -> list[tuple[float, ...]]:
    """``rounds`` tuples of one figure of each of ``measures``, measured back to back (in the order
    given), the one that runs first rotating from round to round (so that a machine speeding up or
    slowing down favours none)."""
    results = []
    for index in range(rounds):
        first = index % len(measures)
        figures = [0.0] * len(measures)
        for which in [*range(first, len(measures)), *range(first)]:
            figures[which] = await measures[which]()
        results.append(tuple(figures))
    return results


async def rates_by_round(
    swarm: BenchSwarm, actor: str, messages: int, rounds: int
) -> tuple[list[tuple[float, ...]], "HostThreads"]:
    """``(bare, hosted, inline, floor, floor on a guest thread)`` messages/s of the counter
    ``actor`` on a host process, round by round: called by the host itself without NATS
    (:meth:`_Flood.bare_rate`), flooded with ticks over NATS, flooded with its calls on the event
    loop's thread (:meth:`_Flood.inline_rate`), and flooded through the leanest Python receive
    path calling on the loop's thread and on a guest thread (:meth:`_Flood.floor_rate`), in turn
    (after a warm-up of each, :func:`alternate`), so that the figures of a round saw the same
    seconds of this shared machine; and the CPU time of the host's threads during the hosted
    rounds."""
    agent = await swarm.spawn([actor], actor)
    scope = agent.scope or ""
    flood = _Flood(
        swarm.nc,
        subjects.data(swarm.name, scope, TICK),
        subjects.data(swarm.name, scope, DONE),
        _headers(scope),
        f"{FLOOR_PREFIX}.{scope}.{actor}.{TICK}",
    )
    if agent.host not in swarm.host_pids:
        raise RuntimeError(f"the {actor} landed on host {agent.host!r}, not one of the swarm's first")
    threads = HostThreads(swarm.host_pids[agent.host])
    try:
        async with flood:
            kinds: list[Callable[[int], Awaitable[float]]] = [
                flood.bare_rate,
                flood.rate,
                flood.inline_rate,
                flood.floor_rate,
                partial(flood.floor_rate, on_guest_thread=True),
            ]
            for kind in kinds:
                await kind(min(WARM_UP_MESSAGES, messages))
            measures: list[Callable[[], Awaitable[float]]] = [partial(kind, messages) for kind in kinds]
            measures[1] = partial(threads.during, measures[1], messages)  # the hosted rounds' CPU
            return await alternate(measures, rounds), threads
    finally:
        await swarm.stop(scope)


class HostThreads:
    """CPU time of a host process's threads over chosen rounds (``/proc/<pid>/task/*/stat``): its
    event-loop (main) thread and its other threads (guest calls), per message and against the
    rounds' wall time."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.loop = self.others = self.wall = 0.0
        self.messages = 0

    async def during(self, measure: Callable[[], Awaitable[float]], messages: int) -> float:
        """Run one round (``measure()``, ``messages`` long) and add its CPU and wall time."""
        loop, others = self.cpu_seconds()
        started = time.perf_counter()
        rate = await measure()
        self.wall += time.perf_counter() - started
        loop_after, others_after = self.cpu_seconds()
        self.loop += loop_after - loop
        self.others += others_after - others
        self.messages += messages
        return rate

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU seconds of the main thread and of all the other threads so far."""
        loop = others = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
            if task.name == str(self.pid):
                loop += ticks
            else:
                others += ticks
        tick = os.sysconf("SC_CLK_TCK")
        return loop / tick, others / tick

    def results(self, actor: str) -> list[Result]:
        """Each thread kind's CPU µs per message, and how many threads were busy at once on average
        (1.0: they took turns; 2.0: both busy all the time)."""
        per_message = 1e6 / self.messages if self.messages else math.nan
        busy = round((self.loop + self.others) / self.wall, 2) if self.wall else math.nan
        return [
            Result(
                "messaging",
                f"{actor}_host_loop_thread_cpu_us_per_msg",
                round(self.loop * per_message, 1),
                "µs",
            ),
            Result(
                "messaging",
                f"{actor}_host_guest_threads_cpu_us_per_msg",
                round(self.others * per_message, 1),
                "µs",
            ),
            Result("messaging", f"{actor}_host_threads_busy_at_once", busy, "threads", samples=self.messages),
        ]


# --- suites ---------------------------------------------------------------------------------------


async def _throughput(swarm: BenchSwarm, raw: Result, messages: int, rounds: int) -> list[Result]:
    """Per counter (Python, then the WAT floor): its bare rate, its rate on a host over NATS (next to
    raw pub/sub), the host rate as a share of the bare rate and the time the host adds to each
    message (``1/hosted - 1/bare``); the same with the calls on the loop's thread, and what the
    hand-overs to a guest thread cost (``1/hosted - 1/inline``); the same through the leanest
    Python receive path, and what the host's own receive path costs over it
    (``1/inline - 1/floor``); and that floor calling on a guest thread, and the host's rate as a
    share of it (how close the host is to the least a Python host must do): each the median over
    rounds."""
    results = []
    for actor in ("counter", "wat_counter"):
        by_round, threads = await rates_by_round(swarm, actor, messages, rounds)
        bare_rates, hosted_rates, inline_rates, floor_rates, threaded_floor_rates = zip(
            *by_round, strict=True
        )
        alone = _rate(f"{actor}_bare_handle_msgs_per_s", bare_rates, messages)
        hosted = _rate(f"{actor}_on_host_over_nats_msgs_per_s", hosted_rates, messages).against(raw)
        inline = _rate(f"{actor}_inline_on_host_over_nats_msgs_per_s", inline_rates, messages)
        floor = _rate(f"{actor}_python_floor_over_nats_msgs_per_s", floor_rates, messages)
        threaded_floor = _rate(
            f"{actor}_python_floor_guest_thread_over_nats_msgs_per_s", threaded_floor_rates, messages
        )

        share_of_bare = partial(_share_of_bare, bare_rates=bare_rates, bare=alone)
        results += [
            alone,
            hosted,
            share_of_bare(
                f"{actor}_host_over_bare_rate", hosted_rates, hosted, 0.70 if actor == "counter" else None
            ),
            _difference(f"{actor}_host_overhead_us_per_msg", bare_rates, hosted_rates, alone),
            serial_estimate(actor, raw, alone),
            *threads.results(actor),
            inline,
            share_of_bare(f"{actor}_host_inline_over_bare_rate", inline_rates, inline),
            _difference(f"{actor}_host_handover_us_per_msg", inline_rates, hosted_rates, inline),
            floor,
            share_of_bare(f"{actor}_python_floor_over_bare_rate", floor_rates, floor),
            _difference(f"{actor}_host_receive_over_floor_us_per_msg", floor_rates, inline_rates, floor),
            threaded_floor,
            share_of_bare(
                f"{actor}_python_floor_guest_thread_over_bare_rate", threaded_floor_rates, threaded_floor
            ),
            Result.paired_quotient(
                f"{actor}_host_over_python_floor_rate",
                list(zip(hosted_rates, threaded_floor_rates, strict=True)),
                hosted,
                threaded_floor,
            ),
        ]
    return results


def _share_of_bare(
    name: str,
    rates: Sequence[float],
    rate: Result,
    target: float | None = None,
    *,
    bare_rates: Sequence[float],
    bare: Result,
) -> Result:
    """``rates`` over the bare rates of the same rounds (median of the rounds' quotients)."""
    pairs = list(zip(rates, bare_rates, strict=True))
    return Result.paired_quotient(name, pairs, rate, bare, target, higher_is_better=True)


def _difference(name: str, faster: Sequence[float], slower: Sequence[float], baseline: Result) -> Result:
    """µs per message that ``slower`` rates take over ``faster`` ones of the same rounds (median)."""
    result = Result.of(
        "messaging", name, [1 / low - 1 / high for high, low in zip(faster, slower, strict=True)], "µs", 1e6
    )
    result.baseline = baseline.name
    return result


def serial_estimate(actor: str, raw: Result, bare: Result) -> Result:
    """The host/bare ratio to expect of a host that received each message as fast as a plain
    nats-py subscriber (``raw``) and then made the bare call, one after the other: ``raw / (raw +
    bare)`` in rates. The GIL serialises a host's receiving with its calls' Python; the measured
    ratio is compared with this estimate (docs/performance.md)."""
    value = round(raw.value / (raw.value + bare.value), 3) if raw.value + bare.value else math.nan
    return Result(
        "messaging",
        f"{actor}_host_over_bare_serial_estimate",
        value,
        "×",
        samples=bare.samples,
        baseline=raw.name,
    )


async def _messaging(rounds: int, messages: int, flow_rounds: int) -> list[Result]:
    suite = "messaging"
    hot_calls = await anyio.to_thread.run_sync(guest_call_samples, rounds)
    handoffs = await handoff_samples(rounds)
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        config = await anyio.to_thread.run_sync(write_config, work, MESSAGING_CONFIG)
        async with NatsServer() as server:
            raw_flow = _rate(
                "raw_nats_pub_sub_msgs_per_s", await raw_pub_sub(server, messages, flow_rounds), messages
            )
            async with bench_swarm(
                server, config, "benchmsg", work, hosts=3, capacity=1, env=bare_in_host_env(server.url)
            ) as swarm:
                flow = await _throughput(swarm, raw_flow, messages, flow_rounds)
                # The floor's parts right before the round trips (the VM's speed drifts by the minute).
                raw = Result.of(
                    suite, "raw_nats_request_reply_us", await raw_request_reply(server, rounds), "µs", 1e6
                )
                idle_calls = await anyio.to_thread.run_sync(guest_call_samples, rounds, raw.value / 1e6)
                local = await swarm.spawn(["pinger", "echo"], "intra-host pair")
                intra = Result.of(
                    suite,
                    "actor_round_trip_intra_host_us",
                    await ping_round_trips(swarm, local.scope or "", rounds),
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
                    await ping_round_trips(swarm, pinger.scope or "", rounds),
                    "µs",
                    1e6,
                    target=1000.0,
                ).against(raw)
            traced = await _traced_intra_host(server, config, work, rounds, intra)
    floor = round_trip_floor(raw, hot_calls, idle_calls, handoffs)
    above_floor = Result.quotient("cross_host_round_trip_over_floor", cross, floor[-1])
    return [raw, intra, cross, *floor, above_floor, traced, raw_flow, *flow]


async def _traced_intra_host(
    server: NatsServer, config: Path, work: Path, rounds: int, untraced: Result
) -> Result:
    """The intra-host round trip with every span recorded (to span files), next to tracing off."""
    env = {"WASMIND_TRACE_DIR": str(work / "spans"), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with bench_swarm(server, config, "benchtrace", work, hosts=1, capacity=1, env=env) as swarm:
        pair = await swarm.spawn(["pinger", "echo"], "traced pair")
        samples = await ping_round_trips(swarm, pair.scope or "", rounds)
    return Result.of("messaging", "actor_round_trip_intra_host_traced_us", samples, "µs", 1e6).against(
        untraced
    )


async def _cold_spawns(server: NatsServer, config: Path, work: Path, spawns: int) -> list[Result]:
    """Spawns that each need a new host: hosts of capacity 1, the first one full, no warm pool."""
    suite = "spawn"
    joined: dict[str, float] = {}

    async def on_beat(msg: Msg) -> None:
        joined.setdefault(Heartbeat.model_validate_json(msg.data).host, time.perf_counter())

    async with bench_swarm(server, config, "benchcold", work, hosts=1, capacity=1) as swarm:
        beats = await swarm.nc.subscribe(subjects.heartbeat(swarm.name, "*"), cb=on_beat)
        first = await swarm.spawn(TRIO, "fills the only host")
        hosts = {first.host}
        samples, ready = [], []
        for i in range(spawns):
            started = time.perf_counter()
            reply = await swarm.spawn(TRIO, f"cold {i}")
            samples.append(time.perf_counter() - started)
            if reply.host in hosts or reply.host not in joined:
                raise RuntimeError(f"cold spawn {i} landed on a running host; figure invalid")
            hosts.add(reply.host)
            ready.append(joined[reply.host] - started)
        await beats.unsubscribe()
    return [
        Result.of(suite, "agent_of_3_python_actors_cold_host_ms", samples, "ms", 1e3, target=2000.0),
        Result.of(suite, "cold_host_ready_ms", ready, "ms", 1e3),
    ]


async def _spawn(spawns: int, cold_spawns: int) -> list[Result]:
    suite = "spawn"
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        config = await anyio.to_thread.run_sync(write_config, work, SPAWN_CONFIG)
        async with NatsServer() as server:
            raw = Result.of(
                suite, "raw_nats_request_reply_us", await raw_request_reply(server, 500), "µs", 1e6
            )
            async with bench_swarm(server, config, "benchspawn", work, hosts=1, capacity=10_000) as swarm:
                for _ in range(3):  # warm: components loaded, first instances done
                    await swarm.spawn(TRIO, "warm-up")
                samples = []
                started_all = time.perf_counter()
                for i in range(spawns):
                    started = time.perf_counter()
                    await swarm.spawn(TRIO, f"agent {i}")
                    samples.append(time.perf_counter() - started)
                rate = spawns / (time.perf_counter() - started_all)
            cold = await _cold_spawns(server, config, work, cold_spawns) if cold_spawns else []
    latency = Result.of(suite, "agent_of_3_python_actors_warm_host_ms", samples, "ms", 1e3, target=25.0)
    per_second = Result(
        suite, "agents_spawned_per_second_sequential", round(rate, 1), "agents/s", samples=spawns
    )
    raw_ms = Result(suite, "raw_nats_request_reply_us", raw.value / 1000, "ms")
    if cold:
        cold[0].against(latency)
    return [raw, latency.against(raw_ms), per_second, *cold]


def run_messaging_suite(rounds: int = 1000, messages: int = 20_000, flow_rounds: int = 5) -> list[Result]:
    """Round trips (same host, across hosts) and sustained throughput into one actor, next to the
    raw nats-py figures and the actor's bare handle-message rate."""
    return anyio.run(_messaging, rounds, messages, flow_rounds)


def run_spawn_suite(spawns: int = 50, cold_spawns: int = 3) -> list[Result]:
    """Agent spawn latency on a warm host and with a cold host start, next to raw request/reply."""
    return anyio.run(_spawn, spawns, cold_spawns)
