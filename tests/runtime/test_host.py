"""The host core with real components: spawning, readiness, delivery, supervision, exit."""

import json

import anyio
import pytest
from harness import Recorder, running_host

from wasmind.config.manifest import Interest
from wasmind.config.spawning import SpawnRules
from wasmind.runtime import supervisor
from wasmind.runtime.bus import BusMessage, each
from wasmind.runtime.context import SpawnError
from wasmind.runtime.grants import Limits
from wasmind.runtime.host import ActorHost
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import (
    ActorReady,
    AgentSpawned,
    AllActorsReady,
    Exit,
    UserNotification,
)

pytestmark = pytest.mark.anyio


def payload(envelope) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(envelope.payload)


async def test_an_agent_starts_its_actors_in_order_and_announces_readiness_then_itself(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {"first": kit.spec("probe", "first"), "second": kit.spec("probe", "second")}
    async with running_host(broker, specs) as host:
        await host.start_agent("000000", None, "Root Agent", ["first", "second"])
        types = [e.message_type for e in rec.messages]
        assert types == [
            "test.probe.started",
            ActorReady.TYPE,
            "test.probe.started",
            ActorReady.TYPE,
            AllActorsReady.TYPE,
            AgentSpawned.TYPE,
        ]
        spawned = payload(rec.of_type(AgentSpawned.TYPE)[0])
        assert spawned == {
            "agent_id": "000000",
            "name": "Root Agent",
            "parent_agent": None,
            "actors": ["first", "second"],
        }
        assert rec.of_type(AllActorsReady.TYPE)[0].from_actor_id == "wasmind_coordinator"
        assert rec.of_type(ActorReady.TYPE)[0].from_actor_id == "test:probe"
        assert all(e.id.startswith("root:") for e in rec.messages)


async def test_siblings_see_each_others_constructor_broadcasts_before_all_actors_ready(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {"a": kit.spec("probe", "a"), "b": kit.spec("probe", "b")}
    async with running_host(broker, specs) as host:
        await host.start_agent("000000", None, "Root Agent", ["a", "b"])
        await rec.publish("test.probe.history", {})
        histories = await rec.wait_for("test.probe.result", lambda e: payload(e)["op"] == "history", count=2)
        for history in histories:
            types = payload(history)["types"]
            ready = types.index(AllActorsReady.TYPE)
            assert types[:ready].count("test.probe.started") == 2


async def test_auto_spawn_and_required_companions_expand_transitively_in_order(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    quiet = {"quiet": True}
    specs = {
        n: kit.spec("probe", n, config=quiet) for n in ("main", "helper", "helpers_helper", "everywhere")
    }
    rules = {
        "main": SpawnRules(required_spawn_with=("helper",)),
        "helper": SpawnRules(required_spawn_with=("helpers_helper", "main")),
        "helpers_helper": SpawnRules(),
        "everywhere": SpawnRules(auto_spawn=True),
    }
    async with running_host(broker, specs, rules) as host:
        await host.start_agent("000000", None, "Root Agent", ["main", "main"])
        assert payload(rec.of_type(AgentSpawned.TYPE)[0])["actors"] == [
            "main",
            "helper",
            "helpers_helper",
            "everywhere",
        ]


async def test_an_actor_spawns_a_child_agent_and_sees_its_parent(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.spawn", {"actors": ["probe"], "name": "Worker"})
        child = (await rec.result("spawn", "000000"))["scope"]
        assert len(child) == 6 and child != "000000"
        spawned = payload(rec.of_type(AgentSpawned.TYPE)[-1])
        assert spawned == {"agent_id": child, "name": "Worker", "parent_agent": "000000", "actors": ["probe"]}
        await rec.publish("test.probe.parent", {"scope": child}, scope=child)
        parents = await rec.result("parent", child)
        assert parents["parent_scope"] == "000000"
        assert parents["parent_scope_of"] == "000000"
        assert host.agents[child].parent == "000000"


async def test_spawning_an_unknown_actor_fails_without_leaving_anything(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.spawn", {"actors": ["probe", "worker_assistnt"], "name": "W"})
        result = await rec.result("spawn")
        assert result["error"] == "Failed to spawn agent: unknown actor 'worker_assistnt'"
        assert list(host.agents) == ["000000"]
        assert len(rec.of_type(AgentSpawned.TYPE)) == 1


async def test_a_failing_constructor_rolls_the_whole_spawn_back(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {
        "good": kit.spec("probe", "good"),
        "bad": kit.spec("probe", "bad", config={"fail_in_constructor": True}),
    }
    async with running_host(broker, specs) as host:
        with pytest.raises(SpawnError) as failure:
            await host.start_agent("abc123", "000000", "Doomed", ["good", "bad"])
        text = str(failure.value)
        assert text.startswith("Failed to spawn agent: constructor of actor 'bad' (test:probe) failed: ")
        assert "probe constructor failed on purpose" in text
        assert "abc123" not in host.agents
        assert not rec.of_type(AgentSpawned.TYPE)
        assert not host._routes, "no subscription of the failed agent remains"


async def test_malformed_config_text_fails_the_spawn_naming_actor_and_cause(kit) -> None:
    broker = InProcessBroker()
    spec = kit.spec("probe", "broken")
    from dataclasses import replace

    spec = replace(spec, config_toml="this is = = not toml")
    async with running_host(broker, {"broken": spec}) as host:
        with pytest.raises(SpawnError) as failure:
            await host.start_agent("000000", None, "Root Agent", ["broken"])
    assert "constructor of actor 'broken' (test:probe) failed" in str(failure.value)
    assert "TOML" in str(failure.value)


async def test_a_trap_restarts_only_that_instance_and_tells_the_user(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {"victim": kit.spec("probe", "victim"), "bystander": kit.spec("probe", "bystander")}
    async with running_host(broker, specs) as host:
        await host.start_agent("000000", None, "Root Agent", ["victim", "bystander"])
        host.replayable.clear()
        await host.publish_replayable(
            _envelope(
                "wasmind.common.litellm.BaseUrlUpdate", {"base_url": "http://llm", "models_available": []}
            )
        )
        await rec.publish("test.probe.raise", {}, scope="000000")
        notes = await rec.wait_for(UserNotification.TYPE, count=1)
        note = payload(notes[0])
        assert note["title"] == "Actor crashed" and note["level"] == "Error" and note["source"] == "runtime"
        # Both probes got test.probe.raise: both crash and restart. The message names each.
        notes = await rec.wait_for(UserNotification.TYPE, count=2)
        messages = sorted(payload(n)["message"] for n in notes)
        assert messages[0].startswith(
            "bystander (test:probe) in agent 000000 crashed: RuntimeError: probe raised"
        )
        assert messages[0].endswith("; restarting")
        await rec.wait_for(AllActorsReady.TYPE, count=3)  # the first, then one per restart
        await anyio.sleep(0.2)
        await rec.publish("test.probe.history", {})
        for history in await rec.wait_for(
            "test.probe.result", lambda e: payload(e)["op"] == "history", count=2
        ):
            types = payload(history)["types"]
            ready = types.index(AllActorsReady.TYPE)
            assert "wasmind.common.litellm.BaseUrlUpdate" in types[ready:], "replayed after AllActorsReady"
        assert host.restarts == 2


async def test_messages_queued_behind_a_trap_reach_the_restarted_instance_in_order(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"victim": kit.spec("probe", "victim", config={"quiet": True})}) as host:
        await host.start_agent("000000", None, "Root Agent", ["victim"])
        await rec.wait_for(AllActorsReady.TYPE)
        # Published back to back, the three are queued together and handed over as one batch.
        await rec.publish("test.probe.raise", {})
        for text in (b"first", b"second"):
            await rec.publish("test.probe.echo", text)
        echoed = await rec.wait_for("test.probe.echoed", count=2)
        assert [e.payload for e in echoed] == [b"first", b"second"]
        assert len(rec.of_type(AllActorsReady.TYPE)) == 2, "answered by the restarted instance"
        assert host.restarts == 1


async def test_after_five_crashes_an_actor_stays_down_and_the_agent_keeps_running(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    specs = {
        "fragile": kit.spec("probe", "fragile", config={"quiet": True}),
        "steady": kit.spec("echo", "steady"),
    }
    async with running_host(broker, specs, restart_backoff=0.01) as host:
        await host.start_agent("000000", None, "Root Agent", ["fragile", "steady"])
        for _ in range(5):
            before = len(rec.of_type(UserNotification.TYPE))
            await rec.publish("test.probe.raise", {})
            await rec.wait_for(UserNotification.TYPE, count=before + 1)
            await anyio.sleep(0.1)
        final = payload(rec.of_type(UserNotification.TYPE)[-1])["message"]
        assert "crashed 5 times within 10 minutes" in final and "not restarting it again" in final
        await rec.publish("echo.request", b"still alive")
        reply = await rec.wait_for("echo.reply")
        assert reply[0].payload == b"still alive"


async def test_exit_of_a_scope_stops_that_agent_and_runs_destructors(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await host.start_agent("child1", "000000", "Child", ["probe"])
        await rec.publish(Exit.TYPE, None, scope="child1")
        with anyio.fail_after(5):
            for member in list(host.agents["child1"].members):
                await member.stopped.wait()
        assert host.agents["child1"].exited
        assert not host.agents["000000"].exited
        assert host.agents["child1"].parent == "000000", "parent records outlive the agent"
        await rec.publish("test.probe.history", {}, scope="child1")
        await rec.publish("test.probe.history", {}, scope="000000")
        await rec.result("history")
        assert all(e.from_scope == "000000" for e in rec.of_type("test.probe.result"))


async def test_root_exit_ends_the_run(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"echo": kit.spec("echo")}) as host:
        await host.start_agent("000000", None, "Root Agent", ["echo"])
        await rec.publish(Exit.TYPE, None, scope="000000")
        with anyio.fail_after(5):
            await host.root_exited.wait()


async def test_messages_before_exit_are_handled_and_none_after(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"echo": kit.spec("echo")}) as host:
        await host.start_agent("aaaaaa", None, "A", ["echo"])
        member = host.agents["aaaaaa"].members[0]
        for i in range(3):
            await member.deliver(_envelope("echo.request", {"i": i}, scope="x"))
        await member.deliver(_envelope(Exit.TYPE, None, scope="aaaaaa"))
        await member.deliver(_envelope("echo.request", {"i": 99}, scope="x"))
        await member.stopped.wait()
        assert [payload(e)["i"] for e in rec.of_type("echo.reply")] == [0, 1, 2]


async def test_a_message_behind_an_exit_is_not_handled_even_by_an_idle_actor(kit) -> None:
    """An idle actor's first message starts its call on delivery: not when an Exit is ahead of it."""
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"echo": kit.spec("echo")}) as host:
        await host.start_agent("aaaaaa", None, "A", ["echo"])
        await anyio.sleep(0.05)  # idle, waiting for mail
        member = host.agents["aaaaaa"].members[0]
        await member.deliver(_envelope(Exit.TYPE, None, scope="aaaaaa"))
        await member.deliver(_envelope("echo.request", {"i": 99}, scope="x"))
        await member.stopped.wait()
        await anyio.sleep(0.05)
        assert rec.of_type("echo.reply") == []


async def test_a_full_mailbox_drops_explicitly_and_notifies(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    limits = Limits(mailbox_capacity=2, mailbox_wait_seconds=0.05)
    async with running_host(
        broker, {"probe": kit.spec("probe", config={"quiet": True}, limits=limits)}
    ) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.command", {"program": "sleep", "args": ["0.5"]})
        await anyio.sleep(0.1)
        for _ in range(4):
            await rec.publish("test.probe.echo", b"x")
        note = payload((await rec.wait_for(UserNotification.TYPE))[0])
        assert note["title"] == "Messages dropped" and note["level"] == "Warning"
        assert note["message"].startswith("probe in agent 000000 dropped ")
        assert host.agents["000000"].members[0].mailbox.stats().dropped >= 1


async def test_an_actor_flooding_its_own_full_mailbox_loses_nothing(
    kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broadcasts of a call are published by the actor's own task when it returns, except
    when its own mailbox might not take them: waiting for room there would be the task waiting
    for itself (each put would time out and drop). The outbound pump waits instead. (The loop
    blocks for the whole call here, so the pump cannot start publishing during it.)"""
    from dataclasses import replace

    monkeypatch.setattr(supervisor, "LONE_CALL_WAIT", 30.0)
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    limits = Limits(mailbox_capacity=4, mailbox_wait_seconds=0.2)
    probe = replace(
        kit.spec("probe", config={"quiet": True}, limits=limits),
        interest=Interest(own_scope=["test.probe.burst", "test.probe.tick", "test.probe.history"]),
    )
    async with running_host(broker, {"probe": probe}) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("test.probe.history", {})
        await rec.result("history")  # idle again: the burst comes alone
        await rec.publish("test.probe.burst", {"count": 40, "type": "test.probe.tick"})
        assert (await rec.result("burst"))["sent"] == 40
        await rec.wait_for("test.probe.tick", count=40)
        await rec.publish("test.probe.history", {})
        history = (await rec.result("history"))["types"]
        assert history.count("test.probe.tick") == 40
        assert host.agents["000000"].members[0].mailbox.stats().dropped == 0


async def test_narrow_interest_only_receives_what_it_declared(kit) -> None:
    from dataclasses import replace

    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    narrow = replace(
        kit.spec("probe", "narrow", config={"quiet": True}),
        interest=Interest(own_scope=["test.probe.history", "test.probe.echo"]),
    )
    async with running_host(broker, {"narrow": narrow}) as host:
        await host.start_agent("aaaaaa", None, "A", ["narrow"])
        await rec.publish("test.probe.echo", b"other scope", scope="bbbbbb")
        await rec.publish("unrelated.Type", b"{}", scope="aaaaaa")
        await rec.publish("test.probe.echo", b"mine", scope="aaaaaa")
        await rec.publish("test.probe.history", {}, scope="aaaaaa")
        history = (await rec.result("history"))["types"]
        assert history == ["test.probe.echo", "test.probe.history"]
        assert [e.payload for e in rec.of_type("test.probe.echoed")] == [b"mine"]
        assert host._subscriptions.keys() == {
            "wasmind.test.s.aaaaaa.test.probe.echo",
            "wasmind.test.s.aaaaaa.test.probe.history",
            "wasmind.test.s.aaaaaa.wasmind.common.actors.Exit",
        }


async def test_delivery_follows_agents_as_they_come_and_go(kit) -> None:
    """The host remembers who takes a message type; a spawn or a stop must change that at once."""
    broker = InProcessBroker()
    rec = await Recorder(broker).start()

    def echoes(text: bytes) -> list[str]:
        return sorted(e.from_scope for e in rec.of_type("test.probe.echoed") if e.payload == text)

    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("aaaaaa", None, "A", ["probe"])
        await rec.publish("test.probe.echo", b"1", scope="cccccc")
        await rec.wait_for("test.probe.echoed", lambda e: e.payload == b"1")
        await host.start_agent("bbbbbb", None, "B", ["probe"])
        await rec.publish("test.probe.echo", b"2", scope="cccccc")
        await rec.wait_for("test.probe.echoed", lambda e: e.payload == b"2", count=2)
        assert echoes(b"2") == ["aaaaaa", "bbbbbb"]
        await host.stop_agent("aaaaaa")
        await rec.publish("test.probe.echo", b"3", scope="cccccc")
        await rec.wait_for("test.probe.echoed", lambda e: e.payload == b"3")
        await anyio.sleep(0.2)
        assert echoes(b"1") == ["aaaaaa"] and echoes(b"3") == ["bbbbbb"]


async def test_a_burst_to_an_idle_actor_is_handled_in_order(kit) -> None:
    """The first message's call starts on delivery; those behind it must still come after it."""
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("aaaaaa", None, "A", ["probe"])
        for round_ in range(3):
            await anyio.sleep(0.05)  # idle again
            sent = [b"%d-%d" % (round_, n) for n in range(5)]
            for text in sent:  # no yield in between: all arrive before the actor's task runs
                await rec.publish("test.probe.echo", text, scope="aaaaaa")
            echoed = await rec.wait_for(
                "test.probe.echoed", lambda e, r=round_: e.payload.startswith(b"%d-" % r), count=5
            )
            assert [e.payload for e in echoed] == sent


async def test_only_calls_started_by_bus_messages_wait_for_the_read_pass(kit) -> None:
    """A call started by a local delivery must not make a later read pass of the bus wait on it."""
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"echo": kit.spec("echo")}) as host:
        await host.start_agent("aaaaaa", None, "A", ["echo"])
        await anyio.sleep(0.05)
        await host.publish(_envelope("echo.request", {"i": 1}, scope="bbbbbb"))  # local delivery
        assert host._started_on_delivery == []
        await rec.wait_for("echo.reply")
        await anyio.sleep(0.05)  # idle again
        await rec.publish("echo.request", {"i": 2}, scope="cccccc")  # from the bus
        assert len(host._started_on_delivery) == 1
        await rec.wait_for("echo.reply", count=2)


async def test_two_hosts_on_one_bus_deliver_across_without_duplicates(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    quiet = {"quiet": True}
    async with (
        running_host(broker, {"probe": kit.spec("probe", config=quiet)}) as left,
        running_host(broker, {"probe": kit.spec("probe", config=quiet), "echo": kit.spec("echo")}) as right,
    ):
        await left.start_agent("aaaaaa", None, "Left", ["probe"])
        await right.start_agent("bbbbbb", None, "Right", ["probe", "echo"])
        # An echo request from the left probe reaches the right host's echo exactly once.
        await rec.publish("test.probe.echo", b"ping", scope="aaaaaa")
        await rec.wait_for("test.probe.echoed", count=2)
        await left.publish(_envelope("echo.request", {"n": 1}, scope="aaaaaa"))
        await rec.wait_for("echo.reply")
        await anyio.sleep(0.2)
        assert len(rec.of_type("echo.reply")) == 1
        # Both probes answer (their interest is broad); wait for each answer, not for "the next".
        await rec.publish("test.probe.history", {}, scope="aaaaaa")
        for scope in ("aaaaaa", "bbbbbb"):
            (answer,) = await rec.wait_for(
                "test.probe.result", lambda e, scope=scope: e.from_scope == scope and b"history" in e.payload
            )
            types = json.loads(answer.payload)["types"]
            assert types.count("echo.request") == 1 and types.count("echo.reply") == 1


async def test_a_payload_that_is_not_utf8_is_delivered_unchanged(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"echo": kit.spec("echo")}) as host:
        await host.start_agent("000000", None, "Root Agent", ["echo"])
        await rec.publish("echo.request", b"\xff\xfe\x00binary")
        assert (await rec.wait_for("echo.reply"))[0].payload == b"\xff\xfe\x00binary"


async def test_shutdown_runs_destructors_of_every_agent(kit) -> None:
    broker = InProcessBroker()
    host = ActorHost({"echo": kit.spec("echo")}, bus=broker.connect(), swarm="test")
    async with host:
        await host.start_agent("000000", None, "Root Agent", ["echo"])
        await host.start_agent("cccccc", "000000", "C", ["echo"])
        members = [m for r in host.agents.values() for m in r.members]
    assert all(m.stopped.is_set() and m.instance is None for m in members)


def _envelope(message_type: str, body: object, scope: str = "000000"):  # type: ignore[no-untyped-def]
    from wasmind.wire.envelope import Envelope
    from wasmind.wire.ids import root_id

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Envelope(root_id(), message_type, "test", scope, data)


async def _error_events(rec: Recorder) -> list[dict]:  # type: ignore[type-arg]
    """The payloads of the swarm's error events, as they arrive."""
    errors: list[dict] = []  # type: ignore[type-arg]

    async def on_error(message: BusMessage) -> None:
        errors.append(json.loads(message.payload))

    await rec.connection.subscribe("wasmind.test.evt.error", each(on_error))
    return errors


async def test_an_oversized_message_is_refused_with_a_notification_or_an_error_event(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    errors = await _error_events(rec)
    async with running_host(broker, {"echo": kit.spec("echo")}, max_payload=1000) as host:
        await host.start_agent("000000", None, "Root Agent", ["echo"])
        await host.publish(_envelope("echo.request", b"x" * 900))
        await host.publish(_envelope("echo.request", b"y" * 1001))  # a local sender: the user is told
        note = payload((await rec.wait_for(UserNotification.TYPE))[0])
        assert note["title"] == "Message too large"
        assert note["message"].startswith("echo.request from test in agent 000000 has 1001 bytes")
        await rec.publish("echo.request", b"z" * 1001)  # an external publisher: an error event
        assert errors and errors[0]["reason"] == "payload of 1001 bytes exceeds the limit of 1000"
        assert errors[0]["host"] == "local" and errors[0]["message_type"] == "echo.request"
        await rec.wait_for("echo.reply")
        await anyio.sleep(0.1)
        assert [len(e.payload) for e in rec.of_type("echo.reply")] == [900]


async def test_malformed_external_messages_are_refused_and_other_traffic_flows(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    errors = await _error_events(rec)
    async with running_host(broker, {"probe": kit.spec("probe", config={"quiet": True})}) as host:
        await host.start_agent("000000", None, "Root Agent", ["probe"])
        await rec.publish("wasmind.common.assistant.AddMessage", b"{not json")
        await rec.publish(
            "wasmind.common.assistant.AddMessage", {"agent": "000000", "message": {"role": "x"}}
        )
        await rec.publish("wasmind.common.assistant.NoSuchThing", {})
        await rec.publish("test.probe.history", {})
        history = (await rec.result("history"))["types"]
        assert history == [ActorReady.TYPE, AllActorsReady.TYPE, AgentSpawned.TYPE, "test.probe.history"]
        reasons = [e["reason"] for e in errors]
        assert reasons[0].startswith("invalid wasmind.common.assistant.AddMessage payload")
        assert "role" in reasons[1]
        assert reasons[2].startswith("unknown message type 'wasmind.common.assistant.NoSuchThing'")
