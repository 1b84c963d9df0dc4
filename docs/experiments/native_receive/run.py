"""Experiment (not product code): bare, hosted, Python-floor and native-receive rounds of the
``counter`` actor on one host, alternating; prints each round's ratios to the bare rate and the
medians. Run ``make`` here first (builds ``natrecv``), then, from the repository root:

    .venv/bin/python docs/experiments/native_receive/run.py [messages per round] [rounds]
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
NAMES = ("hosted", "floor", "floor on a guest thread", "native")


async def main(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = bench.write_config(work, bench.MESSAGING_CONFIG)
        async with NatsServer() as server:
            env = bench.bare_in_host_env(server.url)
            env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
            env["BENCH_SITECUSTOMIZE"] = str(bench.BARE_IN_HOST / "sitecustomize.py")
            env["WASMIND_BENCH_NATIVE_NATS"] = server.url
            async with bench.bench_swarm(
                server, config, "benchmsg", work, hosts=3, capacity=1, env=env
            ) as swarm:
                agent = await swarm.spawn(["counter"], "counter")
                scope = agent.scope or ""
                done = subjects.data(swarm.name, scope, bench.DONE)
                headers = bench._headers(scope)
                tick = subjects.data(swarm.name, scope, bench.TICK)
                floor = f"{bench.FLOOR_PREFIX}.{scope}.counter.{bench.TICK}"
                flood = bench._Flood(swarm.nc, tick, done, headers, floor)
                native = bench._Flood(swarm.nc, f"benchnative.{scope}.counter.{bench.TICK}", done, headers)
                async with flood:
                    native._done = flood._done  # one subscription to the counter's done message
                    measures = (
                        partial(flood.bare_rate, messages),
                        partial(flood.rate, messages),
                        partial(flood.floor_rate, messages),
                        partial(flood.floor_rate, messages, on_guest_thread=True),
                        partial(native.rate, messages),
                    )
                    for measure in measures:  # warm-up
                        await measure()
                    by_round = await bench.alternate(measures, rounds)
                await swarm.stop(scope)
    for bare, *others in by_round:
        print(
            f"bare {bare:8.0f}/s",
            *(f"{name} {rate / bare:.3f}" for name, rate in zip(NAMES, others, strict=True)),
        )
    for index, name in enumerate(NAMES, start=1):
        print(f"{name}: median {statistics.median(r[index] / r[0] for r in by_round):.3f}")


if __name__ == "__main__":
    anyio.run(
        main, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, int(sys.argv[2]) if len(sys.argv) > 2 else 6
    )
