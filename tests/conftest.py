"""Shared fixtures: one wasmtime Engine per test session and real components built once.

Components are built with the real toolchain (componentize-py) into ``.wasmind-cache`` (or
``$WASMIND_CACHE_DIR``), so a run builds each actor at most once and later runs reuse the cache.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from actor_dirs import ACTOR_DIRS, PYTHON_ACTORS

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("WASMIND_CACHE_DIR", str(REPO / ".wasmind-cache"))

from wasmind.runtime.artifacts import ArtifactStore
from wasmind.runtime.build import build_actor
from wasmind.runtime.engine import EngineSettings, EpochTicker, create_engine
from wasmind.runtime.grants import Grants, Limits
from wasmind.runtime.instance import ActorSpec
from wasmind.runtime.linker import build_linker
from wasmind.runtime.loader import ComponentLoader
from wasmind.transport.natsserver import NatsServer


@dataclass
class Kit:
    """The session's engine, linker, artifact store and loader."""

    loader: ComponentLoader
    store: ArtifactStore

    def spec(
        self,
        actor: str,
        logical_name: str | None = None,
        *,
        config: dict[str, Any] | None = None,
        grants: Grants | None = None,
        limits: Limits | None = None,
        working_directory: str = "/",
    ) -> ActorSpec:
        """An ActorSpec of a test actor (built and precompiled from the cache)."""
        return self.loader.actor(
            ACTOR_DIRS[actor],
            logical_name or actor,
            config=config,
            grants=grants,
            limits=limits,
            working_directory=working_directory,
        )


@pytest.fixture(scope="session")
def kit() -> Iterator[Kit]:
    """One Engine per session, with an epoch ticker; Python actors are built in parallel once."""
    settings = EngineSettings()
    engine = create_engine(settings)
    ticker = EpochTicker(engine).start()
    store = ArtifactStore(Path(os.environ["WASMIND_CACHE_DIR"]))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for built in pool.map(lambda name: build_actor(ACTOR_DIRS[name], store, name=name), PYTHON_ACTORS):
            store.precompile(built.component, engine, settings)
    yield Kit(ComponentLoader(engine, build_linker(engine), store, settings), store)
    ticker.stop()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the services' event loop)."""
    return "asyncio"


# --- NATS: a real nats-server for the transport and swarm tests --------------------------------------


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One nats-server for the session: loopback, free port, JetStream in a private temp dir.

    Tests share it, so each test uses its own subjects (and its own server when it restarts,
    kills or reconfigures one).
    """
    server = NatsServer()
    anyio.run(server.start)
    yield server
    anyio.run(server.stop)


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The URL of the session's nats-server (restarted first if a test stopped it)."""
    if not nats_server.running:
        anyio.run(nats_server.restart)
    return nats_server.url
