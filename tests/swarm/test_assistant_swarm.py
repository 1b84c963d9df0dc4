"""Assistants and tools across processes: the spawner, host processes and a scripted LLM server over HTTP."""

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import tomli_w
from swarm_harness import Swarm, running_swarm

from wasmind.llm.scripted import ScriptedLLM, ScriptedReply

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
RESPONSE = "wasmind.common.assistant.Response"
STATUS = "wasmind.common.assistant.StatusUpdate"
TOOL_UPDATE = "wasmind.common.tools.ToolCallStatusUpdate"
NOTIFICATION = "wasmind.common.ui.UserNotification"
FAST_RETRY = {"attempts": 3, "base_delay_ms": 20}


def bash(command: str, call_id: str) -> dict[str, Any]:
    return {"name": "execute_bash", "arguments": {"command": command}, "id": call_id}


def swarm_config(path: Path, llm_url: str, assistant: dict[str, Any] | None = None) -> Path:
    """Every shipped actor, the assistant and the compaction talking to ``llm_url``."""

    def actor(directory: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "source": {"path": str(REPO / "actors" / directory)},
            **({"config": config} if config else {}),
        }

    llm = {"model_name": "scripted", "base_url": llm_url, "retry": FAST_RETRY}
    config = {
        "actors": {
            "assistant": actor("assistant", {**llm, **(assistant or {})}),
            "execute_bash": actor("execute_bash"),
            "file_interaction": actor("file_interaction"),
            "compaction": actor("conversation_compaction", {**llm, "token_threshold": 1000}),
        }
    }
    path.write_text(tomli_w.dumps(config))
    return path


@asynccontextmanager
async def llm_swarm(
    nats_url: str,
    work: Path,
    replies: Sequence[ScriptedReply],
    *,
    hosts: int = 1,
    capacity: int = 100,
    assistant: dict[str, Any] | None = None,
    llm_url: str | None = None,
) -> AsyncIterator[tuple[Swarm, ScriptedLLM]]:
    with ScriptedLLM(replies) as llm:
        config = swarm_config(work / "swarm.toml", llm_url or llm.url, assistant)
        name = f"a{uuid.uuid4().hex[:8]}"
        async with running_swarm(
            nats_url, name, work, hosts=hosts, capacity=capacity, config=config
        ) as swarm:
            yield swarm, llm


def payloads(swarm: Swarm, message_type: str, scope: str) -> list[dict[str, Any]]:
    return [json.loads(e.payload) for e in swarm.of_type(message_type, lambda e: e.from_scope == scope)]


def idle(status: dict[str, Any]) -> bool:
    reason = status.get("Wait", {}).get("reason")
    return (
        isinstance(reason, dict) and reason.get("WaitingForSystemInput", {}).get("required_scope", 1) is None
    )


async def start(swarm: Swarm, actors: list[str], scope: str = "000000", name: str = "Root Agent") -> str:
    """Spawn an agent and wait until its assistant is idle."""
    reply = await swarm.spawn(actors, name, scope=scope)
    assert reply.error is None, reply.error
    await swarm.until(
        lambda: any(idle(p["status"]) for p in payloads(swarm, STATUS, reply.scope)), 60, "idle"
    )
    return reply.scope


async def say(swarm: Swarm, scope: str, text: str) -> None:
    await swarm.publish(
        "wasmind.common.assistant.AddMessage",
        {"agent": scope, "message": {"role": "user", "content": text}},
        scope,
    )


async def answer(swarm: Swarm, scope: str, count: int = 1, seconds: float = 30) -> str:
    """The content of the ``count``-th text response of ``scope``."""

    def texts() -> list[str]:
        return [
            p["message"]["content"] for p in payloads(swarm, RESPONSE, scope) if p["message"].get("content")
        ]

    found: list[str] = await swarm.until(
        lambda: len(texts()) >= count and texts(), seconds, f"answer {count}"
    )
    return found[count - 1]


async def requests(llm: ScriptedLLM, n: int) -> list[dict[str, Any]]:
    return await anyio.to_thread.run_sync(llm.wait_for_requests, n)


async def test_a_prompt_runs_a_bash_tool_on_another_process_and_the_answer_uses_its_output(
    nats_url: str, tmp_path: Path
) -> None:
    replies = [
        ScriptedReply(tool_calls=[bash("echo hello-from-bash; pwd", "call_bash")]),
        ScriptedReply(content="The command printed hello-from-bash.", when="hello-from-bash"),
    ]
    async with llm_swarm(nats_url, tmp_path, replies) as (swarm, llm):
        scope = await start(swarm, ["assistant", "execute_bash"])
        await say(swarm, scope, "run something")
        assert await answer(swarm, scope) == "The command printed hello-from-bash."
        tool_message = (await requests(llm, 2))[1]["messages"][-1]
        assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_bash"
        assert "hello-from-bash" in tool_message["content"]
        assert str(tmp_path) in tool_message["content"], "the command ran in the swarm's working directory"
        done = [p for p in payloads(swarm, TOOL_UPDATE, scope) if "Done" in p["status"]]
        assert [p["id"] for p in done] == ["call_bash"] and "Ok" in done[0]["status"]["Done"]["result"]


async def test_files_are_read_and_edited_with_not_read_first_and_stale_errors(
    nats_url: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("alpha\nbeta\n")

    def edit(old: str, new: str, call_id: str) -> dict[str, Any]:
        edits = [{"old_string": old, "new_string": new}]
        return {"name": "edit_file", "arguments": {"path": str(notes), "edits": edits}, "id": call_id}

    read = {"name": "read_file", "arguments": {"path": str(notes)}, "id": "c_read"}
    replies = [
        ScriptedReply(tool_calls=[edit("beta", "gamma", "c_early")]),
        ScriptedReply(tool_calls=[read], when="must be read before it can be edited"),
        ScriptedReply(tool_calls=[edit("beta", "gamma", "c_edit")], when="read complete file"),
        ScriptedReply(content="edited", when="gamma"),
        ScriptedReply(tool_calls=[edit("gamma", "delta", "c_stale")], when="edit again"),
        ScriptedReply(content="it changed under me", when="has been modified since last read"),
    ]
    async with llm_swarm(nats_url, tmp_path, replies) as (swarm, llm):
        scope = await start(swarm, ["assistant", "file_interaction"])
        await say(swarm, scope, "change beta to gamma")
        assert await answer(swarm, scope) == "edited"
        assert notes.read_text() == "alpha\ngamma\n"
        sent = await requests(llm, 4)
        assert sent[1]["messages"][-1]["content"] == (
            f"Error: File '{notes}' must be read before it can be edited. Please use the read_file tool first."
        )
        assert "```diff" in sent[3]["messages"][-1]["content"]
        assert "1:alpha\n2:gamma" in sent[3]["messages"][0]["content"], "the files section shows the new text"

        notes.write_text("alpha\nchanged by someone else\n")
        await say(swarm, scope, "edit again")
        assert await answer(swarm, scope, 2) == "it changed under me"
        assert notes.read_text() == "alpha\nchanged by someone else\n", "a stale edit changes nothing"


async def test_compaction_at_the_token_threshold_summarises_the_history_across_processes(
    nats_url: str, tmp_path: Path
) -> None:
    replies = [
        ScriptedReply(content="one", usage={"total_tokens": 100}),
        ScriptedReply(content="two", usage={"total_tokens": 5000}),
        ScriptedReply(content="A SHORT SUMMARY", when="<user>first</user>"),
        ScriptedReply(content="three"),
    ]
    async with llm_swarm(nats_url, tmp_path, replies) as (swarm, llm):
        scope = await start(swarm, ["assistant", "compaction"])
        for count, text in enumerate(("first", "second"), start=1):
            await say(swarm, scope, text)
            await answer(swarm, scope, count)
        await swarm.until(
            lambda: payloads(swarm, "wasmind.common.assistant.CompactedConversation", scope), 30
        )
        await say(swarm, scope, "third")
        assert await answer(swarm, scope, 3) == "three"
        history = (await requests(llm, 4))[3]["messages"][1:]
        assert "<current_state_summary>A SHORT SUMMARY</current_state_summary>" in history[0]["content"]
        assert [m["content"] for m in history[1:]] == ["two", "third"]


async def test_an_interrupt_while_a_tool_runs_stops_the_loop_until_the_user_speaks(
    nats_url: str, tmp_path: Path
) -> None:
    replies = [
        ScriptedReply(tool_calls=[bash("sleep 1.5; echo slept", "c_sleep")]),
        ScriptedReply(content="resumed after the interrupt", when="carry on"),
    ]
    async with llm_swarm(nats_url, tmp_path, replies) as (swarm, llm):
        scope = await start(swarm, ["assistant", "execute_bash"])
        await say(swarm, scope, "take your time")

        def waiting_for_tools() -> bool:
            return any("WaitingForTools" in str(p["status"]) for p in payloads(swarm, STATUS, scope))

        await swarm.until(waiting_for_tools, 30, "the tool call")
        interrupt = {"agent": scope, "status": {"Wait": {"reason": "WaitingForUserInput"}}}
        await swarm.publish("wasmind.common.assistant.QueueStatusChange", interrupt, scope)

        def interrupted() -> bool:
            return any(p["status"] == interrupt["status"] for p in payloads(swarm, STATUS, scope))

        await swarm.until(interrupted, 30, "the interrupt to apply")
        assert any("Done" in p["status"] for p in payloads(swarm, TOOL_UPDATE, scope)), (
            "the tool finished first"
        )
        await anyio.sleep(0.3)
        assert len(llm.requests) == 1, "no LLM call after the interrupt"
        await say(swarm, scope, "carry on")
        assert await answer(swarm, scope) == "resumed after the interrupt"
        assert [m.get("content") for m in llm.requests[1]["messages"][-2:]][1] == "carry on"


async def test_two_server_errors_are_retried_and_the_third_attempt_answers_and_the_key_is_never_logged(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-" + uuid.uuid4().hex
    monkeypatch.setenv("WASMIND_TEST_API_KEY", secret)  # the spawner and its hosts inherit it
    replies = [ScriptedReply(status=500, repeat=2), ScriptedReply(content="third time lucky")]
    assistant = {"api_key": "${env:WASMIND_TEST_API_KEY}"}
    async with llm_swarm(nats_url, tmp_path, replies, assistant=assistant) as (swarm, llm):
        scope = await start(swarm, ["assistant"])
        await say(swarm, scope, "hello?")
        assert await answer(swarm, scope) == "third time lucky"
        assert len(llm.requests) == 3
        assert payloads(swarm, NOTIFICATION, scope) == []
    logs = "".join(path.read_text(errors="replace") for path in (tmp_path / "logs").iterdir())
    assert "LLM request" in logs or "500" in logs, "the failed attempts were logged"
    assert secret not in logs
    assert all(secret.encode() not in e.payload for e in swarm.messages)


async def test_an_unreachable_llm_notifies_the_user_and_the_agent_waits_for_input(
    nats_url: str, tmp_path: Path
) -> None:
    async with llm_swarm(nats_url, tmp_path, [], llm_url="http://127.0.0.1:9") as (swarm, _):
        scope = await start(swarm, ["assistant"])
        await say(swarm, scope, "anyone there?")
        await swarm.until(
            lambda: any(p["title"] == "LLM Request Failed" for p in payloads(swarm, NOTIFICATION, scope)), 30
        )
        await swarm.until(lambda: idle(payloads(swarm, STATUS, scope)[-1]["status"]), 30, "idle again")
        assert payloads(swarm, RESPONSE, scope) == []


async def test_two_assistants_on_different_hosts_never_see_each_others_tool_calls(
    nats_url: str, tmp_path: Path
) -> None:
    replies = [
        ScriptedReply(tool_calls=[bash("echo from-agent-a", "call_a")], when="task A"),
        ScriptedReply(tool_calls=[bash("echo from-agent-b", "call_b")], when="task B"),
        ScriptedReply(content="A done", when="from-agent-a"),
        ScriptedReply(content="B done", when="from-agent-b"),
    ]
    async with llm_swarm(nats_url, tmp_path, replies, hosts=2, capacity=1) as (swarm, llm):
        a = await start(swarm, ["assistant", "execute_bash"], scope="aaaaaa", name="A")
        b = await start(swarm, ["assistant", "execute_bash"], scope="bbbbbb", name="B")
        records = {r.scope: r for r in (await swarm.agents()).agents}
        assert records[a].host != records[b].host
        await say(swarm, a, "task A")
        await say(swarm, b, "task B")
        assert (await answer(swarm, a), await answer(swarm, b)) == ("A done", "B done")
        for scope, call_id in ((a, "call_a"), (b, "call_b")):
            assert {p["id"] for p in payloads(swarm, TOOL_UPDATE, scope)} == {call_id}
        for request in await requests(llm, 4):
            tool_ids = {m["tool_call_id"] for m in request["messages"] if m["role"] == "tool"}
            assert len(tool_ids) <= 1, "each conversation holds only its own tool result"
