"""A host's event loop polls for a moment before it sleeps (``--poll-us``), except while calls run."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
from wasmind_host.main import DEFAULT_POLL_US, event_loop_options
from wasmind_host.service import HostService, HostSettings

from wasmind.runtime.polling import PollingSelector
from wasmind.transport.nats import NatsOptions


def test_no_polling_means_the_default_event_loop() -> None:
    assert event_loop_options(0) == (None, {})


def test_the_host_event_loop_sleeps_through_the_polling_selector() -> None:
    poller, options = event_loop_options(DEFAULT_POLL_US)
    assert isinstance(poller, PollingSelector) and poller.window == DEFAULT_POLL_US / 1e6
    asked: list[bool] = []

    def hold_off() -> bool:  # asked each time the loop would sleep
        asked.append(True)
        return False

    poller.hold_off = hold_off
    anyio.run(anyio.sleep, 0.01, backend_options=options)
    assert asked


def test_the_service_holds_polling_off_while_its_guest_calls_run(tmp_path: Path) -> None:
    poller = PollingSelector(0.001)
    settings = HostSettings("loop", tmp_path / "swarm.toml", "host-1", tmp_path, str(tmp_path))
    service = HostService(settings, NatsOptions(), poller)
    calls_running = [True]
    host: Any = SimpleNamespace(workers=SimpleNamespace(busy=lambda: calls_running[0]))
    service._adopt(host)
    assert service.host is host and poller.hold_off()
    calls_running[0] = False
    assert not poller.hold_off()
