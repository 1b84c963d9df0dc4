"""The ``build`` suite: an actor's first build versus loading it from a warm cache.

For each actor directory, in an empty temporary cache (never the user's):

- ``first_build_ms``: what the first ``wasmind run`` or ``wasmind build`` pays: the build
  (componentize-py for a Python actor, a copy for a prebuilt component), the precompilation for this
  host (Cranelift) and the deserialization; ``build_ms`` and ``precompile_ms`` are its two big parts;
- ``warm_load_ms``: what every later run (and every host start) pays per actor with that cache:
  the build check (digest of the actor's inputs), the precompiled-artifact check (digest of the
  component) and the deserialization (memory-mapped), with a fresh loader each time.
"""

import tempfile
import time
from pathlib import Path

from wasmind.config.manifest import load_manifest
from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.build import build_actor
from wasmind.runtime.engine import EngineSettings, create_engine
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind_cli.bench.report import Result

__all__ = ["run_build_suite"]

SUITE = "build"


def _measure(directory: Path, loads: int) -> list[Result]:
    label = directory.name
    settings = EngineSettings()
    engine = create_engine(settings)
    linker = build_linker(engine)
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-cache-") as tmp:
        store = ArtifactStore(Path(tmp))
        actor_id = load_manifest(directory).actor_id
        started = time.perf_counter()
        built = build_actor(directory, store, name=label)
        compiling = time.perf_counter()
        compiled = store.precompile(built.component, engine, settings)
        loading = time.perf_counter()
        ComponentLoader(engine, linker, store, settings).load(compiled, actor_id)
        done = time.perf_counter()
        if built.cached:
            raise RuntimeError(f"{directory}: found in an empty cache; the figure would be wrong")
        warm = []
        for _ in range(loads):
            loader = ComponentLoader(engine, linker, store, settings)  # nothing loaded yet
            begin = time.perf_counter()
            loader.actor(directory, label)
            warm.append(time.perf_counter() - begin)
    first = Result(SUITE, f"{label}.first_build_ms", round((done - started) * 1e3, 1), "ms", samples=1)
    warm_load = Result.of(SUITE, f"{label}.warm_load_ms", warm, "ms", 1e3)
    return [
        first.against(warm_load),
        Result(SUITE, f"{label}.build_ms", round((compiling - started) * 1e3, 1), "ms", samples=1),
        Result(SUITE, f"{label}.precompile_ms", round((loading - compiling) * 1e3, 1), "ms", samples=1),
        warm_load,
    ]


def run_build_suite(actors: list[Path], loads: int = 5) -> list[Result]:
    """First build into an empty cache versus warm-cache loads, for every actor directory."""
    return [result for directory in actors for result in _measure(directory.resolve(), loads)]
