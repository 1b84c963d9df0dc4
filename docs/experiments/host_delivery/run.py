"""Experiment (not product code): hosted rounds, the Python floor on a guest thread, and the
floor's parse followed by the host's own delivery, next to the bare rate of the same rounds.
From the repository root:

    .venv/bin/python docs/experiments/host_delivery/run.py [messages per round] [rounds]
"""

import os
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

import anyio
from wasmind_cli.bench import swarm as bench

from wasmind.transport.natsserver import NatsServer
from wasmind.wire import subjects

HERE = Path(__file__).parent
NAMES = ("hosted", "floor on a guest thread", "floor's parse + host's delivery")


async def main(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = bench.write_config(work, bench.MESSAGING_CONFIG)
        async with NatsServer() as server:
            env = bench.bare_in_host_env(server.url)
            env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
            env["BENCH_SITECUSTOMIZE"] = str(bench.BARE_IN_HOST / "sitecustomize.py")
            async with bench.bench_swarm(
                server, config, "benchmsg", work, hosts=3, capacity=1, env=env
            ) as swarm:
                agent = await swarm.spawn(["counter"], "counter")
                scope = agent.scope or ""
                floor = f"{bench.FLOOR_PREFIX}.{scope}.counter.{bench.TICK}"
                tick = subjects.data(swarm.name, scope, bench.TICK)
                done = subjects.data(swarm.name, scope, bench.DONE)
                flood = bench._Flood(swarm.nc, tick, done, bench._headers(scope), floor)

                async def delivered_by_host(count: int) -> float:
                    return await flood._round(count, count, bench.tick_payload(count, "routed"), floor)

                async with flood:
                    measures = (
                        partial(flood.bare_rate, messages),
                        partial(flood.rate, messages),
                        partial(flood.floor_rate, messages, on_guest_thread=True),
                        partial(delivered_by_host, messages),
                    )
                    for measure in measures:  # warm-up
                        await measure()
                    by_round = await bench.alternate(measures, rounds)
                await swarm.stop(scope)
    for bare, *others in by_round:
        print(f"bare {bare:8.0f}/s", *(f"{n} {r / bare:.3f}" for n, r in zip(NAMES, others, strict=True)))
    for index, name in enumerate(NAMES, start=1):
        print(f"{name}: median {statistics.median(r[index] / r[0] for r in by_round):.3f}")


if __name__ == "__main__":
    anyio.run(
        main, int(sys.argv[1]) if len(sys.argv) > 1 else 5000, int(sys.argv[2]) if len(sys.argv) > 2 else 12
    )
