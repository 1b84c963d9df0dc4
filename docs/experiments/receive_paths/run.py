"""Experiment (not product code): rounds of the ``counter`` actor on one host, alternating: as
hosts run, the suite's Python floor on a guest thread, the floor's parse followed by the host's
own delivery, and (once ``make`` has built ``natrecv`` here) the native receive path; each round's
ratios to the bare rate of the same round, and their medians; then, per kind, where the guest
thread's time went (its batches' wall and CPU time per message, and the rest of the rounds, when it
had nothing to call). From the repository root:

    .venv/bin/python docs/experiments/receive_paths/run.py [messages per round] [rounds]
"""

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path

import anyio
from wasmind_cli.bench import swarm as bench

from wasmind.transport.natsserver import NatsServer
from wasmind.wire import subjects

HERE = Path(__file__).parent
NATIVE_BUILT = any(HERE.glob("natrecv*.so"))
ROUTED_PREFIX = "routed"  # as in sitecustomize.py (importing it here would install the hooks)
NATIVE_PREFIX = "benchnative"  # the same


async def main(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = bench.write_config(work, bench.MESSAGING_CONFIG)
        async with NatsServer() as server:
            env = bench.bare_in_host_env(server.url)
            env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
            env["BENCH_SITECUSTOMIZE"] = str(bench.BARE_IN_HOST / "sitecustomize.py")
            env["WASMIND_EXPERIMENT_BATCH_LOG"] = str(work / "batches")
            if NATIVE_BUILT:
                env["WASMIND_BENCH_NATIVE_NATS"] = server.url
            async with bench.bench_swarm(
                server, config, "benchmsg", work, hosts=3, capacity=1, env=env
            ) as swarm:
                agent = await swarm.spawn(["counter"], "counter")
                scope = agent.scope or ""
                tick = subjects.data(swarm.name, scope, bench.TICK)
                done = subjects.data(swarm.name, scope, bench.DONE)
                floor = f"{bench.FLOOR_PREFIX}.{scope}.counter.{bench.TICK}"
                flood = bench._Flood(swarm.nc, tick, done, bench._headers(scope), floor)
                native = f"{NATIVE_PREFIX}.{scope}.counter.{bench.TICK}"
                kinds: dict[str, Callable[[int], Awaitable[float]]] = {
                    "bare": flood.bare_rate,
                    "hosted": flood.rate,
                    "floor on a guest thread": partial(flood.floor_rate, on_guest_thread=True),
                    "floor's parse + host's delivery": lambda n: flood._round(
                        n, n, bench.tick_payload(n, ROUTED_PREFIX), floor
                    ),
                }
                if NATIVE_BUILT:
                    kinds["native receive"] = lambda n: flood._round(n, n, bench.tick_payload(n), native)
                windows: list[tuple[str, float, float]] = []

                async def windowed(name: str, kind: Callable[[int], Awaitable[float]]) -> float:
                    started = time.monotonic()
                    rate = await kind(messages)
                    windows.append((name, started, time.monotonic()))
                    return rate

                async with flood:
                    for kind in kinds.values():  # warm-up
                        await kind(min(bench.WARM_UP_MESSAGES, messages))
                    by_round = await bench.alternate(
                        [partial(windowed, n, k) for n, k in kinds.items()], rounds
                    )
                await swarm.stop(scope)
            batches = read_batches(work)
    names = list(kinds)[1:]
    for bare, *others in by_round:
        print(f"bare {bare:8.0f}/s", *(f"{n} {r / bare:.3f}" for n, r in zip(names, others, strict=True)))
    for index, name in enumerate(names, start=1):
        print(f"{name}: median {statistics.median(r[index] / r[0] for r in by_round):.3f}")
    print_guest_time(kinds, windows, batches, messages)


def read_batches(work: Path) -> list[tuple[float, ...]]:
    """The rows the hosts' batch logs hold (``WASMIND_EXPERIMENT_BATCH_LOG``)."""
    return [tuple(map(float, line.split())) for log in work.glob("batches.*") for line in log.open()]


def print_guest_time(
    kinds: Mapping[str, object],
    windows: list[tuple[str, float, float]],
    batches: list[tuple[float, ...]],
    messages: int,
) -> None:
    """Per kind of round, µs per message: the guest thread's batches (wall, CPU) and the rest of
    the rounds (the guest thread had nothing to call: the loop was receiving, or the GIL was
    taken)."""
    for name in kinds:
        spans = [(start, end) for kind, start, end in windows if kind == name]
        inside = [b for b in batches if any(start <= b[0] <= end for start, end in spans)]
        calls = sum(b[3] for b in inside) or 1
        total = sum(end - start for start, end in spans)
        wall, cpu = sum(b[1] for b in inside), sum(b[2] for b in inside)
        print(
            f"{name}: {len(inside)} batches of {calls / max(1, len(inside)):.0f} calls; per message "
            f"{wall / calls * 1e6:.1f} µs in batches ({cpu / calls * 1e6:.1f} µs CPU), "
            f"{(total - wall) / calls * 1e6:.1f} µs outside ({calls:.0f} of {messages * len(spans)} counted)"
        )


if __name__ == "__main__":
    anyio.run(
        main, int(sys.argv[1]) if len(sys.argv) > 1 else 5000, int(sys.argv[2]) if len(sys.argv) > 2 else 12
    )
