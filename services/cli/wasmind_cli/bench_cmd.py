"""``wasmind bench``: benchmark suites printing one JSON object per result with ``--json``."""

from typing import Annotated

import typer

from wasmind.assets import actors_dir, cache_dir
from wasmind.runtime.artifacts import ArtifactStore
from wasmind_cli.bench.report import print_results
from wasmind_cli.bench.runtime import run_runtime_suite

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
