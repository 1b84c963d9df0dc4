"""One conversation = one trace across the CLI, the spawner and several host processes.

The processes export over real OTLP/HTTP to a receiver running in the test; nothing is read from
an in-memory exporter.
"""

import json
import os
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest
import tomli_w
from otlp_receiver import OtlpReceiver
from processes import run_wasmind
from swarm_harness import running_swarm

from wasmind.llm.scripted import ScriptedLLM, ScriptedReply
from wasmind.wire import subjects

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "offline-demo.toml"
PROMPT = "Write a haiku to /tmp/wasmind-demo/haiku.txt and count its words in parallel"

Span = dict[str, Any]


def otlp_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }


def service(span: Span) -> str:
    return str(span["resource"]["service.name"])


def orphans(spans: list[Span]) -> list[Span]:
    ids = {s["span_id"] for s in spans}
    return [s for s in spans if s["parent_span_id"] and s["parent_span_id"] not in ids]


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[OtlpReceiver, subprocess.CompletedProcess[str], Path]:
    """The offline demo, headless, exporting to a receiver; the receiver after every process ended."""
    state = tmp_path_factory.mktemp("state")
    with OtlpReceiver() as receiver:
        env = {**os.environ, **otlp_env(receiver), "WASMIND_STATE_DIR": str(state), "WASMIND_LOG": "debug"}
        done = run_wasmind("run", str(DEMO), "-p", PROMPT, env=env, timeout=300)
    return receiver, done, state


def prompt_trace(receiver: OtlpReceiver) -> tuple[str, list[Span]]:
    [root] = [s for s in receiver.spans if s["name"] == "user message" and service(s) == "wasmind-cli"]
    return root["trace_id"], receiver.traces()[root["trace_id"]]


def test_the_demo_prompt_is_one_trace_across_the_cli_the_spawner_and_two_hosts(demo_run) -> None:  # type: ignore[no-untyped-def]
    receiver, done, _ = demo_run
    assert done.returncode == 0, done.stderr
    trace_id, spans = prompt_trace(receiver)
    assert f"Trace {trace_id}" in done.stderr, "the CLI names the trace"
    services = Counter(service(s) for s in spans)
    assert set(services) == {"wasmind-cli", "wasmind-spawner", "wasmind-host"}
    hosts = {s["resource"]["service.instance.id"] for s in spans if service(s) == "wasmind-host"}
    assert len(hosts) >= 2, "the worker agents ran on two host processes"
    assert orphans(spans) == [], "every parent of the trace was recorded"
    assert [s["name"] for s in spans if not s["parent_span_id"]] == ["user message"]


def test_parents_follow_the_message_flow(demo_run) -> None:  # type: ignore[no-untyped-def]
    receiver, _, _ = demo_run
    _, spans = prompt_trace(receiver)
    by_id = {s["span_id"]: s for s in spans}

    def parent(span: Span) -> Span:
        return by_id[span["parent_span_id"]]

    for span in spans:
        if span["kind"] == "consumer":  # a delivery comes from a publish (or the CLI's user message)
            assert parent(span)["kind"] == "producer", (span["name"], parent(span)["name"])
            assert (
                parent(span)["attributes"].get(
                    "wasmind.message_type", span["attributes"]["wasmind.message_type"]
                )
                == span["attributes"]["wasmind.message_type"]
            )
        if span["name"].endswith(" handle"):
            assert parent(span)["kind"] == "consumer"
            assert parent(span)["attributes"]["wasmind.actor_id"] == span["attributes"]["wasmind.actor_id"]
            assert span["attributes"]["wasmind.mailbox_wait_ms"] >= 0
        if span["name"] == "spawn" and service(span) == "wasmind-spawner":
            assert parent(span)["name"] == "spawn agent" and service(parent(span)) == "wasmind-host"
        if span["name"] == "start agent":
            assert parent(span)["name"] == "spawn"
    chats = [s for s in spans if s["name"] == "chat scripted"]
    assert len(chats) == 4, "one LLM call per step of the script"
    for chat in chats:
        attributes = chat["attributes"]
        assert chat["kind"] == "client" and parent(chat)["name"] == "assistant handle"
        assert attributes["gen_ai.request.model"] == "scripted"
        assert attributes["gen_ai.conversation.id"] == "000000"
        assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["http.response.status_code"] == 200
        assert "Authorization" not in json.dumps(chat) and "messages" not in attributes
    commands = [s for s in spans if s["name"].startswith("command ")]
    assert {s["name"] for s in commands} >= {"command bash", "command sh"}, "execute_bash and the workers"
    assert all(s["attributes"]["process.exit.code"] == 0 for s in commands)
    spawns = [s for s in spans if s["name"] == "spawn"]
    assert len(spawns) == 3, "three worker agents"


def test_no_work_of_the_prompt_lands_in_another_trace(demo_run) -> None:  # type: ignore[no-untyped-def]
    receiver, _, _ = demo_run
    trace_id, spans = prompt_trace(receiver)
    start = min(s["start"] for s in spans)
    flow = ("chat ", "command ", "spawn", "start agent")
    stray = [
        (s["name"], service(s))
        for s in receiver.spans
        if s["trace_id"] != trace_id and s["start"] >= start and s["name"].startswith(flow)
    ]
    assert stray == []


def test_log_lines_of_the_hosts_carry_the_trace_id(demo_run) -> None:  # type: ignore[no-untyped-def]
    receiver, _, state = demo_run
    trace_id, spans = prompt_trace(receiver)
    span_ids = {s["span_id"] for s in spans}
    records = [
        json.loads(line)
        for log in state.glob("runs/*/hosts/*.log")
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    traced = [r for r in records if r.get("trace_id") == trace_id]
    assert traced, "debug message lines were written inside the trace"
    assert all(r["span_id"] in span_ids for r in traced)
    kinds = {r["event"] for r in traced}
    assert "message" in kinds, "the hosts' message lines (debug) are inside the publish spans"


def test_metrics_are_exported_by_every_kind_of_process(demo_run) -> None:  # type: ignore[no-untyped-def]
    receiver, _, _ = demo_run
    names = {(m["name"], m["resource"]["service.name"]) for m in receiver.metrics}
    assert ("wasmind.messages.published", "wasmind-host") in names
    assert ("wasmind.messages.delivered", "wasmind-host") in names
    assert ("wasmind.actor.handle.duration", "wasmind-host") in names
    assert ("wasmind.agent.spawn.duration", "wasmind-spawner") in names
    assert ("gen_ai.client.token.usage", "wasmind-host") in names


# --- an external publisher joins with traceparent ----------------------------------------------------


@pytest.mark.anyio
async def test_an_external_message_with_traceparent_joins_the_callers_trace_and_one_without_starts_one(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = [ScriptedReply(content="joined", repeat=2)]
    with OtlpReceiver() as receiver, ScriptedLLM(replies) as llm:
        for key, value in otlp_env(receiver).items():
            monkeypatch.setenv(key, value)
        config = tmp_path / "swarm.toml"
        assistant = {"model_name": "scripted", "base_url": llm.url}
        path = {"path": str(REPO / "actors" / "assistant")}
        config.write_text(tomli_w.dumps({"actors": {"assistant": {"source": path, "config": assistant}}}))
        name = f"x{uuid.uuid4().hex[:8]}"
        async with running_swarm(nats_url, name, tmp_path, hosts=1, config=config) as swarm:
            assert (await swarm.spawn(["assistant"], "Root Agent", scope="000000")).error is None
            caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
            external = await nats.connect(nats_url)  # a plain client, like any external system
            subject = subjects.data(name, "000000", "wasmind.common.assistant.AddMessage")
            body = json.dumps({"agent": "000000", "message": {"role": "user", "content": "hello"}}).encode()
            await external.publish(
                subject, body, headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"}
            )
            await swarm.until(lambda: len(swarm.of_type("wasmind.common.assistant.Response")) >= 1, 30)
            await external.publish(subject, body)
            await swarm.until(lambda: len(swarm.of_type("wasmind.common.assistant.Response")) >= 2, 30)
            await external.close()

        def chats(spans: list[Span]) -> list[Span]:
            return [s for s in spans if s["name"] == "chat scripted"]

        spans = await anyio.to_thread.run_sync(
            lambda: receiver.wait_for_spans(lambda s: len(chats(s)) >= 2, 30)
        )
    joined, fresh = sorted(chats(spans), key=lambda s: s["start"])
    assert joined["trace_id"] == caller_trace
    [entry] = [s for s in receiver.traces()[caller_trace] if s["parent_span_id"] == caller_span]
    assert entry["kind"] == "consumer" and entry["attributes"]["wasmind.message_type"].endswith("AddMessage")
    assert fresh["trace_id"] != caller_trace
    [root] = [s for s in receiver.traces()[fresh["trace_id"]] if not s["parent_span_id"]]
    assert root["kind"] == "consumer", "a message without trace headers starts a new trace at its delivery"
