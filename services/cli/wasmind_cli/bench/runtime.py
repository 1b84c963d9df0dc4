"""The ``runtime`` suite: instantiate, handle-message latency/throughput and memory per instance.

A Python echo actor (componentize-py) is measured next to a minimal hand-written WAT actor in the
same run: the WAT figures are the floor set by wasmtime-py itself.
"""

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from wasmind.assets import cache_dir
from wasmind.processes import pss_kib
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.capabilities.http import HttpClient
from wasmind.runtime.component import LoadedComponent
from wasmind.runtime.engine import EngineSettings, EpochTicker, create_engine
from wasmind.runtime.instance import ActorInstance, ActorSpec, output_directory
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind.wire.envelope import Envelope
from wasmind_cli.bench.report import Result

__all__ = ["direct_instances", "run_runtime_suite", "timed"]

SUITE = "runtime"
PAYLOAD = b'{"text":"' + b"x" * 189 + b'"}'  # 200 bytes of JSON


class _Sink:
    """Instance services for benchmarks: broadcasts are collected, nothing else is available."""

    def __init__(self, io_dir: Path) -> None:
        self.working_directory = str(Path.cwd())
        self.http_client = HttpClient()
        self.io_dir = io_dir
        self.published = 0

    def publish(self, envelope: Envelope) -> None:
        self.published += 1

    def spawn_agent(self, parent_scope: str, actor_names: list[str], agent_name: str) -> str:
        raise RuntimeError("spawning is not available in benchmarks")

    def parent_of(self, scope: str) -> str | None:
        return None


@contextmanager
def direct_instances(store: ArtifactStore | None = None) -> Iterator[tuple[ComponentLoader, _Sink]]:
    """A loader (engine with its epoch ticker; ``store`` or the user's build cache) and a sink, for
    instances this process calls directly: no host, no NATS, no threads."""
    settings = EngineSettings()
    engine = create_engine(settings)
    ticker = EpochTicker(engine).start()
    io_dir = output_directory()
    sink = _Sink(Path(io_dir.name))
    try:
        yield (
            ComponentLoader(engine, build_linker(engine), store or ArtifactStore(cache_dir()), settings),
            sink,
        )
    finally:
        ticker.stop()
        sink.http_client.close()
        io_dir.cleanup()


def timed(fn: Callable[[], object], repeat: int, idle_gap: float = 0.0) -> list[float]:
    """Seconds taken by each of ``repeat`` calls of ``fn`` (each after sleeping ``idle_gap`` s)."""
    samples = []
    for _ in range(repeat):
        if idle_gap:
            time.sleep(idle_gap)
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _measure(flavour: str, spec: ActorSpec, sink: _Sink, calls: int, population: int) -> list[Result]:
    results = []
    name = f"{flavour}"
    load = timed(
        lambda: LoadedComponent(
            spec.component.engine, spec.component.linker, spec.component.path, spec.actor_id
        ),
        5,
    )
    results.append(Result.of(SUITE, f"{name}.load_cached_ms", load, "ms", 1e3))

    def instantiate() -> None:
        instance = ActorInstance(spec, "bench0", sink)
        instance.construct()
        created.append(instance)

    created: list[ActorInstance] = []
    samples = timed(instantiate, 50)
    for instance in created:
        instance.destroy()
    results.append(Result.of(SUITE, f"{name}.instantiate_ms", samples, "ms", 1e3, target=5.0))

    instance = ActorInstance(spec, "bench0", sink)
    instance.construct()
    for label, message_type, target in (("noop", "bench.noop", 100.0), ("echo", "echo.request", None)):
        envelope = Envelope("root:bench0", message_type, "bench", "bench0", PAYLOAD)
        for _ in range(min(200, calls)):
            instance.handle(envelope)
        started = time.perf_counter()
        latencies = timed(partial(instance.handle, envelope), calls)
        elapsed = time.perf_counter() - started
        results.append(Result.of(SUITE, f"{name}.handle_{label}_us", latencies, "µs", 1e6, target=target))
        results.append(
            Result(
                SUITE, f"{name}.handle_{label}_calls_per_s", round(calls / elapsed), "calls/s", samples=calls
            )
        )
    instance.destroy()

    gc.collect()
    before = pss_kib()
    live = []
    noop = Envelope("root:bench0", "bench.noop", "bench", "bench0", PAYLOAD)
    for _ in range(population):
        member = ActorInstance(spec, "bench0", sink)
        member.construct()
        member.handle(noop)
        live.append(member)
    gc.collect()
    per_instance = (pss_kib() - before) / population / 1024
    for member in live:
        member.destroy()
    target = 1.5 if flavour == "python" else None
    results.append(
        Result(
            SUITE, f"{name}.pss_per_instance_mib", round(per_instance, 3), "MiB", samples=population
        ).check(target)
    )
    return results


def run_runtime_suite(
    store: ArtifactStore, actors: dict[str, Path], calls: int = 3000, population: int = 200
) -> list[Result]:
    """Measure every flavour in ``actors`` (``python`` is compared with the ``wat`` floor)."""
    with direct_instances(store) as (loader, sink):
        by_flavour = {
            f: _measure(f, loader.actor(path, f"bench-{f}"), sink, calls, population)
            for f, path in actors.items()
        }
    floor = {r.name.split(".", 1)[1]: r for r in by_flavour.get("wat", [])}
    results = []
    for flavour, figures in by_flavour.items():
        for result in figures:
            base = floor.get(result.name.split(".", 1)[1])
            if flavour != "wat" and base is not None and not result.name.endswith("calls_per_s"):
                result.against(base)
            results.append(result)
    return results
