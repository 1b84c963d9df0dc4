"""The wasmtime Engine of a host process and the epoch ticker that enforces call deadlines."""

import threading
from dataclasses import asdict, dataclass
from importlib.metadata import version

import wasmtime

__all__ = ["EPOCH_TICK_SECONDS", "EngineSettings", "EpochTicker", "create_engine", "wasmtime_version"]

EPOCH_TICK_SECONDS = 0.01
"""One epoch tick; call deadlines are counted in ticks of this length."""


def wasmtime_version() -> str:
    """The installed wasmtime-py version (part of every precompiled-artifact key)."""
    return version("wasmtime")


@dataclass(frozen=True)
class EngineSettings:
    """Engine configuration. Precompiled components only load into an Engine with equal settings."""

    epoch_interruption: bool = True
    cranelift_opt_level: str = "speed"
    memory_init_cow: bool = True

    def cache_key(self) -> str:
        """A stable text naming these settings and the wasmtime version."""
        fields = ",".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))
        return f"wasmtime-{wasmtime_version()};{fields}"


def create_engine(settings: EngineSettings) -> wasmtime.Engine:
    """A new Engine with ``settings`` (one per process is the rule)."""
    config = wasmtime.Config()
    config.epoch_interruption = settings.epoch_interruption
    config.cranelift_opt_level = settings.cranelift_opt_level
    config.memory_init_cow = settings.memory_init_cow
    config.parallel_compilation = True
    return wasmtime.Engine(config)


class EpochTicker:
    """A daemon thread that advances the engine's epoch every :data:`EPOCH_TICK_SECONDS`."""

    def __init__(self, engine: wasmtime.Engine, tick: float = EPOCH_TICK_SECONDS) -> None:
        self._engine = engine
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wasmind-epoch", daemon=True)

    def start(self) -> "EpochTicker":
        """Start ticking; returns ``self``."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self._engine.increment_epoch()

    def stop(self) -> None:
        """Stop ticking and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @staticmethod
    def ticks(seconds: float) -> int:
        """The number of ticks covering ``seconds`` (at least 1)."""
        return max(1, round(seconds / EPOCH_TICK_SECONDS))
