"""The host on a real NATS bus: replies that leave from the guest thread while the loop waits."""

import json
import threading
from dataclasses import replace
from typing import Any

import anyio
import pytest
from harness import SWARM, Recorder

from wasmind.config.manifest import Interest
from wasmind.runtime.grants import Limits
from wasmind.runtime.host import ActorHost
from wasmind.runtime.workers import Started
from wasmind.transport.nats import NatsBus, NatsOptions, connect

pytestmark = pytest.mark.anyio


class _Broker:
    """What :class:`Recorder` needs of a broker: one connection (here a NatsBus)."""

    def __init__(self, bus: NatsBus) -> None:
        self.bus = bus

    def connect(self) -> NatsBus:
        return self.bus


async def test_a_lone_reply_leaves_from_the_guest_thread_unless_the_loop_is_needed(
    kit, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    observer = await connect(NatsOptions(servers=(nats_url,)), name="observer")
    host_nc = await connect(NatsOptions(servers=(nats_url,)), no_echo=True, name="host")
    sent_at_once: list[tuple[str, str, bool]] = []
    try:
        rec = await Recorder(_Broker(NatsBus(observer))).start()
        bus = NatsBus(host_nc)
        publish_now = bus.publish_now

        def spy(subject: str, headers: Any, payload: bytes) -> bool:
            sent = publish_now(subject, headers, payload)
            sent_at_once.append((threading.current_thread().name, subject, sent))
            return sent

        bus.publish_now = spy  # type: ignore[method-assign]
        waited_in_read_pass: list[bool] = []
        block = Started.block

        def spied_block(self: Started[Any], seconds: float) -> bool:
            done = block(self, seconds)
            waited_in_read_pass.append(done)
            return done

        # B's probe takes the replies of B's echo only: A's replies have no local recipient.
        probe = replace(
            kit.spec("probe", config={"quiet": True}),
            interest=Interest(own_scope=["echo.reply", "test.probe.history"]),
        )
        # Each echo answers its own agent's requests: a request starts one lone call (two calls
        # at once would queue their replies in either order, and B's needs the loop).
        echo = replace(kit.spec("echo"), interest=Interest(own_scope=["echo.request"]))
        specs = {"echo": echo, "probe": probe}
        monkeypatch.setattr(Started, "block", spied_block)
        async with ActorHost(specs, bus=bus, swarm=SWARM, host_id="h1") as host:
            await host.start_agent("aaaaaa", None, "A", ["echo"])
            await host.start_agent("bbbbbb", None, "B", ["echo", "probe"])
            await bus.flush()
            for n in range(20):
                for scope in ("aaaaaa", "bbbbbb"):
                    await rec.publish("echo.request", {"n": n}, scope=scope)
                    with anyio.fail_after(10):
                        await rec.wait_for(
                            "echo.reply",
                            lambda e, n=n, scope=scope: (
                                e.from_scope == scope and json.loads(e.payload) == {"n": n}
                            ),
                        )
            await rec.publish("test.probe.history", {}, scope="bbbbbb")
            history = json.loads((await rec.wait_for("test.probe.result"))[0].payload)["types"]
    finally:
        await observer.close()
        await host_nc.close()
    # Agent A's echo has no local listener: its replies may leave from the guest thread, and did.
    sent = [(thread, subject) for thread, subject, ok in sent_at_once if ok]
    assert all(thread.startswith("wasmind-guest") for thread, _ in sent)
    assert [subject for _, subject in sent if ".s.aaaaaa.echo.reply" in subject]
    # B's probe listens to B's replies: those need the loop (local delivery), so none went that way.
    assert not [subject for _, subject, _ in sent_at_once if ".s.bbbbbb.echo.reply" in subject]
    assert history.count("echo.reply") == 20
    assert any(waited_in_read_pass)  # the loop waited for lone calls (in the read pass or the task)
    for scope in ("aaaaaa", "bbbbbb"):
        replies = [json.loads(e.payload)["n"] for e in rec.of_type("echo.reply") if e.from_scope == scope]
        assert replies == list(range(20))


async def test_messages_from_the_bus_follow_agents_that_come_and_go(kit, nats_url: str) -> None:
    """What a host remembers of a subject (scope, type, local targets) changes with its routes."""
    observer = await connect(NatsOptions(servers=(nats_url,)), name="observer")
    host_nc = await connect(NatsOptions(servers=(nats_url,)), no_echo=True, name="host")
    try:
        rec = await Recorder(_Broker(NatsBus(observer))).start()
        bus = NatsBus(host_nc)

        async def repliers(n: int, count: int) -> list[str]:
            await bus.flush()
            await rec.publish("echo.request", {"n": n}, scope="cccccc")  # the same subject each time
            with anyio.fail_after(10):
                await rec.wait_for("echo.reply", lambda e: json.loads(e.payload) == {"n": n}, count=count)
            await anyio.sleep(0.2)  # any reply beyond ``count`` arrives meanwhile
            return sorted(
                e.from_scope for e in rec.of_type("echo.reply") if json.loads(e.payload) == {"n": n}
            )

        async with ActorHost({"echo": kit.spec("echo")}, bus=bus, swarm=SWARM, host_id="h1") as host:
            await host.start_agent("aaaaaa", None, "A", ["echo"])
            assert await repliers(1, 1) == ["aaaaaa"]
            await host.start_agent("bbbbbb", None, "B", ["echo"])
            assert await repliers(2, 2) == ["aaaaaa", "bbbbbb"]
            await host.stop_agent("aaaaaa")
            assert await repliers(3, 1) == ["bbbbbb"]
    finally:
        await observer.close()
        await host_nc.close()


async def test_a_burst_into_a_small_mailbox_arrives_whole_and_in_order(kit, nats_url: str) -> None:
    """A burst comes off the socket in runs (one bus call each); when the mailbox fills in the
    middle of a run, the rest of it and what arrives behind it wait, in order, and none is lost."""
    observer = await connect(NatsOptions(servers=(nats_url,)), name="observer")
    host_nc = await connect(NatsOptions(servers=(nats_url,)), no_echo=True, name="host")
    echo = kit.spec("echo", limits=Limits(mailbox_capacity=4, mailbox_wait_seconds=30))
    try:
        rec = await Recorder(_Broker(NatsBus(observer))).start()
        bus = NatsBus(host_nc)
        async with ActorHost({"echo": echo}, bus=bus, swarm=SWARM, host_id="h1") as host:
            await host.start_agent("aaaaaa", None, "A", ["echo"])
            await bus.flush()
            for n in range(300):
                await rec.publish("echo.request", {"n": n}, scope="cccccc")
            with anyio.fail_after(30):
                replies = await rec.wait_for("echo.reply", lambda e: True, count=300)
            assert host.agents["aaaaaa"].members[0].mailbox.stats().dropped == 0
    finally:
        await observer.close()
        await host_nc.close()
    assert [json.loads(e.payload)["n"] for e in replies] == list(range(300))
