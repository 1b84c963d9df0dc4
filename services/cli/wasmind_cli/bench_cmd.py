"""``wasmind bench``: benchmark suites printing one JSON object per result with ``--json``."""

from pathlib import Path
from typing import Annotated

import typer

from wasmind.assets import actors_dir, cache_dir
from wasmind.runtime.artifacts import ArtifactStore
from wasmind_cli.bench.build import run_build_suite
from wasmind_cli.bench.hops import run_hops_suite
from wasmind_cli.bench.report import print_results
from wasmind_cli.bench.runtime import run_runtime_suite
from wasmind_cli.bench.scale import BASELINE_AGENTS, run_scale_suite
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
    messages: Annotated[int, typer.Option(help="Messages per throughput round")] = 5_000,
    flow_rounds: Annotated[
        int,
        typer.Option(help="Throughput rounds per figure (after a warm-up); bare and hosted rounds alternate"),
    ] = 20,
) -> None:
    """Round trips (same host, across hosts) next to raw request/reply; sustained messages/s into
    one actor on a host, next to raw pub/sub and the actor's bare handle-message rate."""
    print_results(run_messaging_suite(rounds, messages, flow_rounds), json_output)


@app.command("spawn")
def spawn(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    spawns: Annotated[int, typer.Option(help="Agents spawned on a warm host")] = 50,
    cold_spawns: Annotated[int, typer.Option(help="Spawns that each start a new host")] = 3,
) -> None:
    """Spawn latency of an agent of 3 Python actors on a warm host and with a cold host start."""
    print_results(run_spawn_suite(spawns, cold_spawns), json_output)


@app.command("scale")
def scale(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    agents: Annotated[
        int, typer.Option(min=BASELINE_AGENTS, help="Agents of 2 Python actors (progress on stderr)")
    ] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Spawn requests in flight")] = 16,
    rounds: Annotated[int, typer.Option(help="Ping round trips per latency figure")] = 1000,
) -> None:
    """N agents on this machine: time to spawn them, PSS per agent, ping latency with N vs 10 agents."""
    print_results(run_scale_suite(agents, concurrency, rounds), json_output)


@app.command("build")
def build(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    actor: Annotated[
        list[Path] | None,
        typer.Option(
            "--actor",
            exists=True,
            file_okay=False,
            help="Actor directory (repeatable; default: the Python and the WAT example echo)",
        ),
    ] = None,
    loads: Annotated[int, typer.Option(min=1, help="Warm-cache loads per actor")] = 5,
) -> None:
    """First build into an empty temporary cache versus loading from the warm cache, per actor."""
    examples = actors_dir() / "examples"
    directories = actor or [examples / "echo", examples / "wat_echo"]
    print_results(run_build_suite(directories, loads), json_output)


@app.command("hops")
def hops(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    rounds: Annotated[int, typer.Option(help="Round trips to time")] = 2000,
) -> None:
    """Where a cross-host round trip goes: the median time between consecutive stages in both hosts."""
    print_results(run_hops_suite(rounds), json_output)
