"""The swarm across processes: a real nats-server, the spawner and several host processes."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import anyio
import pytest
from swarm_harness import Swarm, process_alive, running_swarm

from wasmind.transport.natsserver import NatsServer, NatsServerConfig
from wasmind.wire.messages import AgentSpawned, AllActorsReady, UserNotification

pytestmark = pytest.mark.anyio
HERE = Path(__file__).resolve().parent


def swarm_name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_the_test_swarm_configuration_is_valid() -> None:
    from wasmind.config.resolve import resolve
    from wasmind.config.user import load_user_config
    from wasmind.config.validate import validate_startup

    user = load_user_config(HERE / "swarm.toml")
    assert validate_startup(user, resolve(user)) == []


async def test_agents_start_from_the_configuration_and_answer_an_external_plain_json_client(
    nats_url: str, tmp_path: Path
) -> None:
    async with running_swarm(nats_url, name := swarm_name(), tmp_path, hosts=2, capacity=2) as swarm:
        reply = await swarm.spawn(["demo_coordinator"], "Root Agent", scope="000000")
        assert reply.error is None and reply.scope == "000000" and reply.actors == ["demo_coordinator"]
        client = await _run(
            sys.executable,
            str(HERE / "external_client.py"),
            nats_url,
            name,
            "one two three four five six seven",
        )
        assert client.returncode == 0, client.stderr
        assert "Total: 7 words from 2 worker agents." in client.stdout
        records = (await swarm.agents()).agents
        workers = [r for r in records if r.parent == "000000"]
        assert len(workers) == 2 and all(r.actors == ["demo_worker"] for r in workers)


async def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    )


async def test_an_actor_spawns_an_agent_that_lands_on_another_host_and_they_talk(
    nats_url: str, tmp_path: Path
) -> None:
    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=2, capacity=1) as swarm:
        root = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert root.error is None
        await swarm.publish("test.probe.spawn", {"actors": ["probe"], "name": "Child"})
        child = (await swarm.probe_result("spawn", "000000"))["scope"]
        records = {r.scope: r for r in (await swarm.agents()).agents}
        assert records[child].parent == "000000"
        assert records[child].host != records["000000"].host, "capacity 1: the child is on the other host"
        # the child sees its parent; the parent's broadcast reaches the child's host
        await swarm.publish("test.probe.parent", {}, scope=child)
        assert (await swarm.probe_result("parent", child))["parent_scope"] == "000000"
        await swarm.publish("test.probe.echo", b"across hosts", scope="000000")
        await swarm.until(lambda: swarm.of_type("test.probe.echoed"), 10, "the root's broadcast")
        await swarm.publish("test.probe.history", {}, scope=child)
        history = (await swarm.probe_result("history", child))["types"]
        assert "test.probe.echoed" in history
        spawned = [json.loads(e.payload) for e in swarm.of_type(AgentSpawned.TYPE)]
        assert {"agent_id": child, "name": "Child", "parent_agent": "000000", "actors": ["probe"]} in spawned


async def test_a_spawn_of_an_unknown_actor_fails_cleanly(nats_url: str, tmp_path: Path) -> None:
    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=1) as swarm:
        reply = await swarm.spawn(["probe", "no_such_actor"], "Bad")
        assert reply.error == "Failed to spawn agent: unknown actor 'no_such_actor'"
        assert (await swarm.agents()).agents == []


async def test_a_host_killed_with_sigkill_has_its_agents_running_again_elsewhere_within_10_s(
    nats_url: str, tmp_path: Path
) -> None:
    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=2, capacity=1) as swarm:
        await swarm.spawn(["probe"], "Root Agent", scope="000000")
        child = (await swarm.spawn(["probe"], "Victim", parent="000000")).scope
        assert child is not None
        victim_host = await swarm.until(lambda: swarm.host_of(child), 10, "the child's host")
        pid = swarm.heartbeats[victim_host].pid
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def moved() -> bool:
            return any(s.endswith(f"{child}.moved") for s, _ in swarm.events)

        await swarm.until(moved, 10, "the agent moved")
        assert time.monotonic() - killed_at < 10
        records = {r.scope: r for r in (await swarm.agents()).agents}
        assert records[child].host not in (victim_host, None) and records[child].restarts == 1
        await swarm.publish("test.probe.history", {}, scope=child)
        assert (await swarm.probe_result("history", child))["types"][0:2] == [
            "wasmind.common.actors.ActorReady",
            AllActorsReady.TYPE,
        ]
        notes = [json.loads(e.payload) for e in swarm.of_type(UserNotification.TYPE)]
        assert any(n["title"] == "Agent restarted on another host" and child in n["message"] for n in notes)


async def test_malformed_messages_are_refused_with_an_error_event_while_traffic_flows(
    nats_url: str, tmp_path: Path
) -> None:
    async with running_swarm(nats_url, name := swarm_name(), tmp_path, hosts=1) as swarm:
        await swarm.spawn(["probe", "echo"], "Root Agent", scope="000000")
        raw = swarm.nc
        root = f"wasmind.{name}.s.000000"
        await raw.publish(f"{root}.wasmind.common.assistant.AddMessage", b"{not json")
        await raw.publish(f"{root}.wasmind.common.assistant.AddMessage", b'{"agent": "000000"}')
        await raw.publish(f"{root}.wasmind.common.ui.Bogus", b"{}")
        await raw.publish(f"{root}.echo.request", b"x" * (2 << 20))
        await raw.publish(f"{root}.echo.request", b"still flowing")
        reply = await swarm.until(lambda: swarm.of_type("echo.reply"), 10, "the echo")
        assert reply[0].payload == b"still flowing"
        errors = await swarm.until(
            lambda: (
                [e for s, e in swarm.events if s.endswith(".evt.error")][:4]
                if len([s for s, _ in swarm.events if s.endswith(".evt.error")]) >= 4
                else None
            ),
            10,
            "four error events",
        )
        reasons = [e["reason"] for e in errors]
        assert reasons[0].startswith("invalid wasmind.common.assistant.AddMessage payload")
        assert "message" in reasons[1]
        assert reasons[2].startswith("unknown message type 'wasmind.common.ui.Bogus'")
        assert reasons[3] == f"payload of {2 << 20} bytes exceeds the limit of {1 << 20}"


async def test_a_host_with_narrow_interest_receives_only_what_it_asked_for(tmp_path: Path) -> None:
    server = NatsServer(NatsServerConfig(monitor_port=0))
    async with server, running_swarm(server.url, name := swarm_name(), tmp_path, hosts=1) as swarm:
        await swarm.spawn(["narrow"], "Narrow", scope="aaaaaa")
        await swarm.publish("echo.request", b"mine", scope="aaaaaa")
        await swarm.until(lambda: swarm.of_type("echo.reply"), 10, "the narrow echo")
        before = _host_connection(server)
        for i in range(200):
            await swarm.publish("other.traffic", {"i": i}, scope="bbbbbb")
            await swarm.publish("echo.request", b"not mine", scope="bbbbbb")
        await swarm.nc.flush()
        after = _host_connection(server)
        subscribed = {s["subject"] for s in after.get("subscriptions_list_detail", [])} or set(
            after.get("subscriptions_list", [])
        )
        assert f"wasmind.{name}.s.aaaaaa.echo.request" in subscribed
        assert not any(s.endswith(".s.>") for s in subscribed)
        assert after["out_msgs"] - before["out_msgs"] < 20, "the host got traffic it did not ask for"


def _host_connection(server: NatsServer) -> dict:  # type: ignore[type-arg]
    import urllib.request

    assert server.monitor_url is not None
    with urllib.request.urlopen(f"{server.monitor_url}/connz?subs=1") as response:
        connections = json.load(response)["connections"]
    (host,) = [c for c in connections if c.get("name", "").startswith("wasmind-host")]
    return host  # type: ignore[no-any-return]


async def test_shutdown_stops_every_host_and_leaves_no_process(nats_url: str, tmp_path: Path) -> None:
    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=2) as swarm:
        await swarm.spawn(["probe"], "Root Agent", scope="000000")
        pids = [beat.pid for beat in swarm.heartbeats.values()]
        spawner: Swarm = swarm
    assert spawner.spawner.poll() == 0
    assert not [pid for pid in pids if process_alive(pid)]


async def test_replayable_messages_reach_agents_started_later_on_any_host(
    nats_url: str, tmp_path: Path
) -> None:
    from wasmind.transport.replay import publish_replayable
    from wasmind.wire.envelope import Envelope
    from wasmind.wire.ids import COORDINATOR_SENDER, ROOT_SCOPE, root_id

    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=2, capacity=1) as swarm:
        await swarm.spawn(["probe"], "Root Agent", scope="000000")
        update = b'{"base_url":"http://llm:4000","models_available":["m"]}'
        await publish_replayable(
            swarm.nc,
            swarm.name,
            Envelope(
                root_id(), "wasmind.common.litellm.BaseUrlUpdate", COORDINATOR_SENDER, ROOT_SCOPE, update
            ),
        )
        late = (await swarm.spawn(["probe"], "Late", parent="000000")).scope
        assert late is not None and swarm.host_of("000000") != await swarm.until(
            lambda: swarm.host_of(late), 10
        )
        await swarm.publish("test.probe.history", {}, scope=late)
        types = (await swarm.probe_result("history", late))["types"]
        ready = types.index(AllActorsReady.TYPE)
        assert "wasmind.common.litellm.BaseUrlUpdate" in types[ready:]


async def test_a_host_drains_on_sigterm_and_its_agents_move(nats_url: str, tmp_path: Path) -> None:
    async with running_swarm(nats_url, swarm_name(), tmp_path, hosts=2, capacity=1) as swarm:
        await swarm.spawn(["probe"], "Root Agent", scope="000000")
        child = (await swarm.spawn(["probe"], "Mover", parent="000000")).scope
        assert child is not None
        host = await swarm.until(lambda: swarm.host_of(child), 10, "the child's host")
        os.kill(swarm.heartbeats[host].pid, signal.SIGTERM)
        await swarm.until(
            lambda: any(s.endswith(f"{child}.exited") for s, _ in swarm.events), 10, "destructors ran"
        )
        await swarm.until(
            lambda: any(s.endswith(f"{child}.moved") for s, _ in swarm.events), 20, "the agent moved"
        )
        records = {r.scope: r for r in (await swarm.agents()).agents}
        assert records[child].host != host and records[child].status == "running"
        log = (swarm.log_dir / f"{host}.log").read_text()
        assert "host drained" in log


async def test_heartbeats_carry_load_and_the_health_endpoints_answer(nats_url: str, tmp_path: Path) -> None:
    import urllib.request

    async with running_swarm(nats_url, name := swarm_name(), tmp_path, hosts=1) as swarm:
        await swarm.spawn(["probe", "echo"], "Root Agent", scope="000000")
        beat = await swarm.until(lambda: next((b for b in swarm.heartbeats.values() if b.agents), None), 10)
        assert (
            beat.agents == ["000000"] and beat.actors == 2 and beat.memory_bytes > 0 and beat.capacity == 100
        )
    port_file = tmp_path / "port"
    with port_file.open("wb") as output:
        host = subprocess.Popen(  # noqa: ASYNC220 - a standalone host with probes, no spawner needed
            [
                sys.executable,
                "-m",
                "wasmind_host",
                "--config",
                str(HERE / "swarm.toml"),
                "--swarm",
                name,
                "--nats",
                nats_url,
                "--health-port",
                "0",
                "--host-id",
                "probed",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:

        def port() -> int | None:
            for line in port_file.read_text().splitlines():
                if '"health endpoints"' in line:
                    return int(json.loads(line)["port"])
            return None

        with anyio.fail_after(60):
            while (found := port()) is None:  # noqa: ASYNC110 - polling a log file
                await anyio.sleep(0.1)
        for path, expected in (("/livez", 200), ("/readyz", 200)):
            with urllib.request.urlopen(f"http://127.0.0.1:{found}{path}") as response:  # noqa: ASYNC210
                assert response.status == expected
    finally:
        host.terminate()
        host.wait(timeout=30)


async def test_a_host_that_exits_before_joining_fails_the_spawn_with_where_to_look(
    nats_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-config.toml"  # the spawner never reads it; its hosts do, and exit
    args = ["--host-start-timeout", "60"]
    async with running_swarm(
        nats_url, swarm_name(), tmp_path, hosts=0, config=missing, spawner_args=args
    ) as swarm:
        started = time.monotonic()
        reply = await swarm.spawn(["probe"], "Root Agent", scope="000000")
        assert time.monotonic() - started < 30, "a host that ended is not waited for until the timeout"
        assert reply.error is not None
        found = re.search(
            r"host (h-\w+) ended before it joined: its process exited with status 1; see (\S+)", reply.error
        )
        assert found, reply.error
        assert found.group(2) == str(swarm.log_dir / f"{found.group(1)}.log")
        log_text = await anyio.Path(found.group(2)).read_text()
        assert "no-such-config.toml" in log_text, "the host's log says what was wrong"
        assert (await swarm.agents()).agents == [], "the failed spawn left no record"
