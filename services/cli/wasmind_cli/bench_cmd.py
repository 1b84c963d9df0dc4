"""``wasmind bench``: benchmark suites printing one JSON object per result with ``--json``."""

from typing import Annotated

import typer

from wasmind.assets import actors_dir, cache_dir
from wasmind.runtime.artifacts import ArtifactStore
from wasmind_cli.bench.report import print_results
from wasmind_cli.bench.runtime import run_runtime_suite
from wasmind_cli.bench.swarm import run_messaging_suite, run_spawn_suite

app = typer.Typer(help="Benchmarks (each suite measures its baseline in the same run).", no_args_is_help=True)


@app.command("runtime")
def runtime(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    calls: Annotated[int, typer.Option(help="handle-message calls per figure")] = 3000,
    population: Annotated[int, typer.Option(help="live instances for the memory figure")] = 200,
) -> None:
    """Instantiate time, handle-message latency/throughput, PSS per instance (Python vs WAT floor)."""
    examples = actors_dir() / "examples"
    actors = {"python": examples / "echo", "wat": examples / "wat_echo"}
    results = run_runtime_suite(ArtifactStore(cache_dir()), actors, calls=calls, population=population)
    print_results(results, json_output)


@app.command("messaging")
def messaging(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    rounds: Annotated[int, typer.Option(help="Round trips per figure")] = 1000,
) -> None:
    """Actor-to-actor round trips (same host, across hosts) next to raw nats-py request/reply."""
    print_results(run_messaging_suite(rounds), json_output)


@app.command("spawn")
def spawn(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    spawns: Annotated[int, typer.Option(help="Agents spawned for the figure")] = 50,
) -> None:
    """Spawn latency of an agent of 3 Python actors on a warm host, next to raw request/reply."""
    print_results(run_spawn_suite(spawns), json_output)
