"""The fast marshalling path: payloads of 0..1 MiB survive a round trip through real guests."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmind.runtime.capabilities.http import HttpClient
from wasmind.runtime.instance import ActorInstance, ActorSpec
from wasmind.wire.envelope import Envelope

SIZES = [0, 1, 7, 31, 32, 33, 200, 4096, 65535, 65536, 1 << 20]


class Sink:
    """Instance services that keep what the guest broadcasts."""

    def __init__(self, io_dir: Path) -> None:
        self.working_directory = "/"
        self.http_client = HttpClient()
        self.io_dir = io_dir
        self.published: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def spawn_agent(self, parent_scope: str, actor_names: list[str], agent_name: str) -> str:
        raise AssertionError("not used")

    def parent_of(self, scope: str) -> str | None:
        return None


@contextmanager
def constructed(spec: ActorSpec, tmp_path: Path, scope: str) -> Iterator[tuple[ActorInstance, Sink]]:
    """A constructed instance of ``spec`` whose broadcasts ``Sink`` keeps; destroyed afterwards."""
    sink = Sink(tmp_path)
    instance = ActorInstance(spec, scope, sink)
    instance.construct()
    try:
        yield instance, sink
    finally:
        instance.destroy()
        sink.http_client.close()


@pytest.fixture(params=["echo", "wat_echo", "js_echo"])
def echo_instance(request, kit, tmp_path: Path):  # type: ignore[no-untyped-def]
    with constructed(kit.spec(request.param), tmp_path, "abi000") as (instance, sink):
        sink.published.clear()
        yield instance, sink


@pytest.mark.parametrize("size", SIZES)
def test_payload_bytes_round_trip_through_the_guest_unchanged(echo_instance, size: int) -> None:  # type: ignore[no-untyped-def]
    instance, sink = echo_instance
    payload = os.urandom(size)
    instance.handle(Envelope("root:abc123", "echo.request", "test", "abi000", payload))
    assert [(e.message_type, e.payload) for e in sink.published] == [("echo.reply", payload)]
    assert sink.published[0].id.startswith("abc123:"), "a child correlation id of the handled message"
    assert sink.published[0].from_scope == "abi000"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=5000), message_id=st.text(min_size=1, max_size=40))
def test_arbitrary_bytes_and_unicode_ids_survive(echo_instance, payload: bytes, message_id: str) -> None:  # type: ignore[no-untyped-def]
    instance, sink = echo_instance
    sink.published.clear()
    instance.handle(Envelope(message_id, "echo.request", "tést-ü", "abi000", payload))
    assert [e.payload for e in sink.published] == [payload]
