"""Conversation compaction (ACTORS.md §5) next to a real assistant, against a real scripted LLM server."""

import json
from typing import Any

import anyio
import pytest
from assistant_harness import FAST_RETRY, SCOPE, Chat, chat, idle

from wasmind.llm.scripted import ScriptedReply

pytestmark = pytest.mark.anyio
COMPACTED = "wasmind.common.assistant.CompactedConversation"
QUEUED = "wasmind.common.assistant.QueueStatusChange"
RESUME_PREFIX = "Below is the current state from the last task you were executing"


def with_compaction(kit: Any, threshold: int = 1000) -> dict[str, Any]:
    config = {"token_threshold": threshold, "model_name": "scripted", "retry": FAST_RETRY}
    return {"compaction": kit.spec("conversation_compaction", "compaction", config=config)}


async def two_turns(c: Chat) -> str:
    """Say "first" and "second"; the originating request id of the second answer."""
    await c.status(idle)
    for count, text in enumerate(("first", "second"), start=1):
        await c.say(text)
        await c.rec.wait_for("wasmind.common.assistant.Response", count=count)
        await c.status(idle)
    return str(c.payloads("wasmind.common.assistant.Response")[1]["message"]["originating_request_id"])


async def test_a_response_over_the_threshold_replaces_the_history_with_a_summary(kit) -> None:
    replies = [
        ScriptedReply(content="one", usage={"prompt_tokens": 9, "completion_tokens": 1}),
        ScriptedReply(content="two", usage={"prompt_tokens": 1500, "completion_tokens": 1}),
        ScriptedReply(content="THE SUMMARY", when="<user>first</user>"),
        ScriptedReply(content="three"),
    ]
    async with chat(kit, replies, extra=with_compaction(kit), actors=["assistant", "compaction"]) as c:
        boundary = await two_turns(c)
        compacted = json.loads((await c.rec.wait_for(COMPACTED))[0].payload)
        assert c.payloads(QUEUED) == [
            {"agent": SCOPE, "status": {"Wait": {"reason": "CompactingConversation"}}}
        ]
        assert compacted["compacted_to"] == boundary
        [resume] = compacted["messages"]
        assert resume["role"] == "user"
        assert resume["content"].startswith(RESUME_PREFIX)
        assert "<current_state_summary>THE SUMMARY</current_state_summary>" in resume["content"]

        summary_request = c.llm.requests[2]
        assert summary_request["messages"][0]["content"].startswith("You are a context distiller.")
        assert summary_request["messages"][1]["content"] == (
            "<user>first</user>\n\n<assistant>one</assistant>\n\n<user>second</user>"
        )
        await c.say("third")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=3)
        history = c.llm.requests[3]["messages"][1:]
        assert [(m["role"], m["content"][:20]) for m in history] == [
            ("user", RESUME_PREFIX[:20]),
            ("assistant", "two"),
            ("user", "third"),
        ]


async def test_a_failed_summary_warns_and_releases_the_assistant_unchanged(kit) -> None:
    """(ours) the original left the assistant waiting in CompactingConversation forever."""
    replies = [
        ScriptedReply(content="one", usage={"total_tokens": 10}),
        ScriptedReply(content="two", usage={"total_tokens": 5000}),
        ScriptedReply(status=503, content="overloaded", when="<user>first</user>", repeat=3),
        ScriptedReply(content="three"),
    ]
    async with chat(kit, replies, extra=with_compaction(kit), actors=["assistant", "compaction"]) as c:
        boundary = await two_turns(c)
        compacted = json.loads((await c.rec.wait_for(COMPACTED))[0].payload)
        assert compacted == {
            "agent": SCOPE,
            "compacted_to": boundary,
            "messages": [
                {"role": "user", "content": "first"},
                {
                    "role": "assistant",
                    "content": "one",
                    "originating_request_id": compacted["messages"][1]["originating_request_id"],
                },
                {"role": "user", "content": "second"},
            ],
        }
        notes = [json.loads(e.payload) for e in c.rec.of_type("wasmind.common.ui.UserNotification")]
        assert {
            "level": "Warning",
            "title": "Conversation compaction failed",
            "source": "conversation_compaction",
            "message": "the LLM answered HTTP 503",
        } in notes
        await c.say("third")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=3)
        assert [m["content"] for m in c.llm.requests[-1]["messages"][1:]] == [
            "first",
            "one",
            "second",
            "two",
            "third",
        ]


async def test_responses_under_the_threshold_leave_the_history_alone(kit) -> None:
    replies = [
        ScriptedReply(content="one", usage={"total_tokens": 10}),
        ScriptedReply(content="two", usage={"total_tokens": 999}),
    ]
    async with chat(kit, replies, extra=with_compaction(kit), actors=["assistant", "compaction"]) as c:
        await two_turns(c)
        await anyio.sleep(0.3)
        assert c.rec.of_type(COMPACTED) == []
        assert c.rec.of_type(QUEUED) == []
        assert len(c.llm.requests) == 2


async def test_a_compaction_config_without_a_threshold_fails_the_spawn(kit) -> None:
    from harness import running_host

    from wasmind.runtime.context import SpawnError
    from wasmind.transport.memory import InProcessBroker

    spec = kit.spec("conversation_compaction", "c", config={"model_name": "m"})
    async with running_host(InProcessBroker(), {"c": spec}) as host:
        with pytest.raises(SpawnError, match="token_threshold and model_name are required"):
            await host.start_agent(SCOPE, None, "Root Agent", ["c"])
