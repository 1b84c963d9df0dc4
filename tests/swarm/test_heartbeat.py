"""A host's heartbeat, published by the service itself: what it reports, and where it measures."""

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from wasmind_host import service
from wasmind_host.service import HostService, HostSettings, MemoryGauge

from wasmind.transport.nats import NatsOptions, connect
from wasmind.wire import subjects
from wasmind.wire.control import Heartbeat

pytestmark = pytest.mark.anyio


class _Record:
    def __init__(self, exited: bool) -> None:
        self.exited = exited


class _LoadedHost:
    """What a heartbeat reads of an ``ActorHost``: its agents and its load."""

    def __init__(self) -> None:
        self.agents = {"aaaaaa": _Record(exited=False), "bbbbbb": _Record(exited=True)}

    def load(self) -> tuple[int, int, int]:
        return 1, 3, 7


async def test_heartbeat_measures_memory_on_a_worker_thread(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the PSS takes milliseconds per hundred instances (the kernel walks every mapping);
    the event loop must not wait for it, so the heartbeat reads it on another thread."""
    readers: list[threading.Thread] = []

    def pss_bytes() -> int:
        readers.append(threading.current_thread())
        return 123 << 20

    monkeypatch.setattr(service, "pss_bytes", pss_bytes)
    settings = HostSettings("beat", tmp_path / "swarm.toml", "host-1", tmp_path, str(tmp_path))
    host_service = HostService(settings, NatsOptions(servers=(nats_url,)))
    host: Any = _LoadedHost()
    host_service.host = host
    nc = await connect(NatsOptions(servers=(nats_url,)))
    try:
        beats = await nc.subscribe(subjects.heartbeat("beat", "host-1"))
        await host_service._beat(nc)
        beat = Heartbeat.model_validate_json((await beats.next_msg(timeout=5)).data)
    finally:
        await nc.close()
    assert (beat.memory_bytes, beat.actors, beat.mailbox_depth, beat.agents) == (123 << 20, 3, 7, ["aaaaaa"])
    assert readers and readers[0] is not threading.current_thread()


async def test_memory_is_read_again_only_once_the_reads_cost_their_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that took 50 ms with a 10 % budget: the next one is due 0.5 s later, and heartbeats
    meanwhile report the value read last."""
    reads: list[int] = []

    def pss_bytes() -> int:
        time.sleep(0.05)  # the kernel walking many mappings
        reads.append(len(reads) + 1)
        return len(reads) << 20

    monkeypatch.setattr(service, "pss_bytes", pss_bytes)
    gauge = MemoryGauge(budget=0.1)
    assert await gauge.read() == 1 << 20
    assert await gauge.read() == 1 << 20  # not due yet
    assert reads == [1]
    await anyio.sleep(0.6)
    assert await gauge.read() == 2 << 20
    assert reads == [1, 2]
