"""The assistant's state machine, tool loop and prompt (ACTORS.md §2), against a real scripted LLM server.

Tests marked "(ours)" guard a fix of the original's behaviour; their docstrings say which bug.
"""

import json

import anyio
import pytest
from assistant_harness import FAST_RETRY, SCOPE, chat, idle, reason

from wasmind.llm.scripted import ScriptedReply
from wasmind.wire.messages import decode

pytestmark = pytest.mark.anyio
TOOL = "wasmind.common.tools.ToolCallStatusUpdate"


def call(name: str, arguments: dict, call_id: str) -> dict:  # type: ignore[type-arg]
    return {"name": name, "arguments": arguments, "id": call_id}


async def test_a_user_message_gets_an_answer_and_the_assistant_goes_idle(kit) -> None:
    async with chat(kit, [ScriptedReply(content="Hello!")]) as c:
        await c.status(idle)  # ready, endpoint known, nothing pending
        await c.say("hi there")
        await c.rec.wait_for("wasmind.common.assistant.Response")
        await c.status(idle)
        request = c.llm.requests[0]
        assert request["model"] == "scripted"
        assert request["messages"][0]["role"] == "system"
        assert "Current working directory: /" in request["messages"][0]["content"]
        assert request["messages"][1:] == [{"role": "user", "content": "hi there"}]
        assert "tools" not in request, "(ours) no tools -> the key is omitted"
        response = c.payloads("wasmind.common.assistant.Response")[0]
        assert response["message"]["content"] == "Hello!"
        assert response["message"]["originating_request_id"].startswith("req_")
        for envelope in c.rec.messages:  # everything the assistant sent is valid for the host's models
            if envelope.message_type.startswith("wasmind.common."):
                decode(envelope.message_type, envelope.payload)
        statuses = [reason(s) or next(iter(s)) for s in c.statuses()]
        # the replayed endpoint may arrive before or after AllActorsReady; either way it ends idle, then works
        assert statuses[0] == "WaitingForAllActorsReady"
        assert statuses[-3:] == ["WaitingForSystemInput", "Processing", "WaitingForSystemInput"]
        assert set(statuses[1:-3]) <= {"WaitingForLiteLLM", "WaitingForAllActorsReady"}


async def test_the_tool_loop_runs_tools_and_answers_with_their_results_in_call_order(kit) -> None:
    """(ours) results are appended in the order of tool_calls, each with its own name, all at once."""
    replies = [
        ScriptedReply(
            tool_calls=[
                call("echo_tool", {"text": "first"}, "call_a"),
                call("echo_tool", {"text": "second"}, "call_b"),
            ]
        ),
        ScriptedReply(content="Both tools answered."),
    ]
    async with chat(
        kit, replies, extra={"tool": kit.spec("tool_echo", "tool")}, actors=["assistant", "tool"]
    ) as c:
        await c.status(idle)
        await c.say("use the tool twice")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        second = (await c.requests(2))[1]
        assert second["tools"][0]["function"]["name"] == "echo_tool"
        assert second["messages"][-2:] == [
            {"role": "tool", "tool_call_id": "call_a", "name": "echo_tool", "content": "first"},
            {"role": "tool", "tool_call_id": "call_b", "name": "echo_tool", "content": "second"},
        ]
        calls = c.payloads("wasmind.common.tools.ExecuteToolCall")
        assert [p["tool_call"]["id"] for p in calls] == ["call_a", "call_b"]


async def test_an_unknown_tool_gets_a_visible_error_result(kit) -> None:
    """(ours) the original recorded unknown-tool errors only locally: UIs never saw them."""
    replies = [ScriptedReply(tool_calls=[call("no_such_tool", {}, "call_x")]), ScriptedReply(content="ok")]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await c.say("go")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        update = c.payloads(TOOL)[0]
        assert update["id"] == "call_x"
        assert update["status"]["Done"]["result"]["Err"]["content"] == "Tool `no_such_tool` not found"
        assert c.llm.requests[1]["messages"][-1]["content"] == "Error: Tool `no_such_tool` not found"


async def test_an_empty_tool_call_list_counts_as_no_tool_calls(kit) -> None:
    """(ours) the original entered WaitingForTools with nothing to wait for and hung forever."""
    raw = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "done", "tool_calls": []}}],
    }
    async with chat(kit, [ScriptedReply(raw=raw)]) as c:
        await c.status(idle)
        await c.say("hi")
        await c.rec.wait_for("wasmind.common.assistant.Response")
        assert idle(await c.status(idle))


async def test_empty_replies_are_retried_at_most_five_times_then_the_user_is_told(kit) -> None:
    """(ours) the original resubmitted forever."""
    async with chat(kit, [ScriptedReply(content="")], fallback=ScriptedReply(content="")) as c:
        await c.status(idle)
        await c.say("answer me")
        notes = await c.rec.wait_for("wasmind.common.ui.UserNotification", seconds=30)
        note = json.loads(notes[0].payload)
        assert (note["level"], note["title"]) == ("Warning", "Assistant stopped")
        assert note["message"] == "The model repeatedly ignored the response requirements"
        assert len(c.llm.requests) == 6
        assert c.llm.requests[1]["messages"][-1]["content"].startswith(
            "SYSTEM ERROR: It is required you respond with some text content or tool call."
        )
        assert idle(await c.status(idle))


async def test_require_tool_call_resubmits_a_reply_without_tools(kit) -> None:
    replies = [
        ScriptedReply(content="just talk"),
        ScriptedReply(tool_calls=[call("echo_tool", {"text": "t"}, "c1")]),
    ]
    async with chat(
        kit,
        replies,
        config={"require_tool_call": True},
        fallback=ScriptedReply(content="x"),
        extra={"tool": kit.spec("tool_echo", "tool")},
        actors=["assistant", "tool"],
    ) as c:
        await c.status(idle)
        await c.say("do it")
        await c.rec.wait_for("wasmind.common.tools.ExecuteToolCall")
        assert c.llm.requests[1]["messages"][-1]["content"].startswith(
            "SYSTEM ERROR: It is required you respond with some kind of tool call!"
        )


async def test_an_llm_that_fails_twice_then_answers_is_retried(kit) -> None:
    replies = [
        ScriptedReply(status=500),
        ScriptedReply(status=503),
        ScriptedReply(content="third time lucky"),
    ]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await c.say("try")
        response = await c.rec.wait_for("wasmind.common.assistant.Response")
        assert json.loads(response[0].payload)["message"]["content"] == "third time lucky"
        assert len(c.llm.requests) == 3
        assert not c.payloads("wasmind.common.ui.UserNotification")


async def test_an_unreachable_llm_tells_the_user_and_the_agent_waits_for_input(kit) -> None:
    async with chat(
        kit, [], config={"base_url": "http://127.0.0.1:9", "retry": FAST_RETRY}, base_url=False
    ) as c:
        await c.status(idle)
        await c.say("anyone there?")
        found = await c.rec.wait_for("wasmind.common.ui.UserNotification", count=2)
        notes = sorted((json.loads(e.payload) for e in found), key=lambda n: n["source"])
        assert notes == [  # the host's http capability reports exhausted retries too (SPEC runtime §http)
            {
                "level": "Error",
                "title": "LLM Request Failed",
                "source": "Assistant",
                "message": "Failed to communicate with language model after retries",
            },
            {
                "level": "Error",
                "title": "HTTP Request Failed",
                "source": "HTTP",
                "message": "Request failed after 3 attempts",
            },
        ]
        status = await c.status(lambda s: idle(s) and len(c.statuses()) > 3)
        assert idle(status)


async def test_without_an_endpoint_the_assistant_waits_for_one(kit) -> None:
    async with chat(kit, [ScriptedReply(content="now I can talk")], base_url=False) as c:
        await c.status(lambda s: reason(s) == "WaitingForLiteLLM")
        await c.say("queued until the endpoint is known")
        update = json.dumps({"base_url": c.llm.url, "models_available": ["scripted"]}).encode()
        from wasmind.wire.envelope import Envelope
        from wasmind.wire.ids import COORDINATOR_SENDER, root_id

        await c.host.publish(
            Envelope(root_id(), "wasmind.common.litellm.BaseUrlUpdate", COORDINATOR_SENDER, SCOPE, update)
        )
        await c.rec.wait_for("wasmind.common.assistant.Response")


async def test_a_configured_base_url_wins_over_the_published_one(kit) -> None:
    """(ours) the original always took the BaseUrlUpdate, so a configured base_url never worked."""
    from wasmind.llm.scripted import ScriptedLLM

    with ScriptedLLM([ScriptedReply(content="from the configured endpoint")]) as configured:
        async with chat(
            kit, [ScriptedReply(content="from the published endpoint")], config={"base_url": configured.url}
        ) as c:
            await c.status(idle)
            await c.say("which one?")
            response = await c.rec.wait_for("wasmind.common.assistant.Response")
            assert json.loads(response[0].payload)["message"]["content"] == "from the configured endpoint"
            assert c.llm.requests == []


async def test_an_interrupt_queued_while_tools_run_applies_after_they_finish(kit) -> None:
    replies = [ScriptedReply(tool_calls=[call("late_tool", {}, "c1")]), ScriptedReply(content="resumed")]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await announce(c, "late_tool")
        await c.say("work")
        waiting = await c.status(lambda s: reason(s) == "WaitingForTools")
        request_id = waiting["Wait"]["reason"]["WaitingForTools"]["originating_request_id"]
        await c.rec.publish(
            "wasmind.common.assistant.QueueStatusChange",
            {"agent": SCOPE, "status": {"Wait": {"reason": "WaitingForUserInput"}}},
        )
        await anyio.sleep(0.2)
        assert reason(c.statuses()[-1]) == "WaitingForTools", "the interrupt waits for the running tool"
        await c.rec.publish(TOOL, late_result("late result", "c1", request_id))
        await c.status(lambda s: reason(s) == "WaitingForUserInput")
        await anyio.sleep(0.2)
        assert len(c.llm.requests) == 1, "the queued interrupt stops the loop before the next LLM call"
        await c.say("go on")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        assert c.llm.requests[1]["messages"][-2:] == [
            {"role": "tool", "tool_call_id": "c1", "name": "late_tool", "content": "late result"},
            {"role": "user", "content": "go on"},
        ]


async def announce(c, name: str) -> None:  # type: ignore[no-untyped-def]
    """Offer a tool the test itself answers (with ``late_result``)."""
    await c.rec.publish(
        "wasmind.common.tools.ToolsAvailable",
        {"tools": [{"type": "function", "function": {"name": name, "description": "d", "parameters": {}}}]},
    )
    await anyio.sleep(0.2)


def late_result(content: str, call_id: str, request_id: str) -> dict:  # type: ignore[type-arg]
    return {
        "status": {
            "Done": {
                "result": {
                    "Ok": {"content": content, "ui_display_info": {"collapsed": "x", "expanded": None}}
                }
            }
        },
        "id": call_id,
        "originating_request_id": request_id,
    }


async def test_a_tools_done_request_ends_the_agent_after_its_status_update(kit) -> None:
    """(ours) the original sent Exit before the StatusUpdate on one path and never on the other."""
    replies = [ScriptedReply(tool_calls=[call("no_such_tool", {}, "c1"), call("late_tool", {}, "c2")])]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await announce(c, "late_tool")
        await c.say("finish")
        waiting = await c.status(lambda s: reason(s) == "WaitingForTools")
        request_id = waiting["Wait"]["reason"]["WaitingForTools"]["originating_request_id"]
        done = {"Done": {"result": {"Ok": {"summary": "all done", "success": True}}}}
        await c.rec.publish(
            "wasmind.common.assistant.RequestStatusUpdate",
            {"agent": SCOPE, "status": done, "originating_request_id": request_id},
        )
        exit_ = await c.rec.wait_for("wasmind.common.actors.Exit", lambda e: e.from_scope == SCOPE)
        last_status = c.rec.of_type("wasmind.common.assistant.StatusUpdate")[-1]
        assert json.loads(last_status.payload)["status"] == done
        assert c.rec.messages.index(last_status) < c.rec.messages.index(exit_[0])


async def test_a_coordination_wait_keeps_the_round_and_wakes_only_when_results_are_in(kit) -> None:
    """(ours) the original lost sibling results and submitted while results were outstanding."""
    replies = [
        ScriptedReply(tool_calls=[call("no_such_tool", {}, "c1"), call("late_tool", {}, "c2")]),
        ScriptedReply(content="coordinated"),
    ]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await announce(c, "late_tool")
        await c.say("coordinate")
        waiting = await c.status(lambda s: reason(s) == "WaitingForTools")
        request_id = waiting["Wait"]["reason"]["WaitingForTools"]["originating_request_id"]
        coordination = {
            "Wait": {
                "reason": {
                    "WaitingForAgentCoordination": {
                        "originating_request_id": request_id,
                        "coordinating_tool_name": "late_tool",
                        "target_agent_scope": "kid001",
                        "user_can_interrupt": False,
                    }
                }
            }
        }
        await c.rec.publish(
            "wasmind.common.assistant.RequestStatusUpdate",
            {"agent": SCOPE, "status": coordination, "originating_request_id": request_id},
        )
        await c.status(lambda s: reason(s) == "WaitingForAgentCoordination")
        await c.say("report from the child", role="system", scope="kid001")  # arrives before the result
        await anyio.sleep(0.3)
        assert len(c.llm.requests) == 1, "no submit while a result of the round is outstanding"
        await c.rec.publish(TOOL, late_result("late result", "c2", request_id))
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        tail = c.llm.requests[1]["messages"][-3:]
        assert tail == [
            {
                "role": "tool",
                "tool_call_id": "c1",
                "name": "no_such_tool",
                "content": "Error: Tool `no_such_tool` not found",
            },
            {"role": "tool", "tool_call_id": "c2", "name": "late_tool", "content": "late result"},
            {"role": "system", "content": "report from the child"},
        ]


async def test_a_reannounced_tool_replaces_the_earlier_definition(kit) -> None:
    """(ours) the original appended tools again, offering the same tool twice."""
    async with chat(kit, [ScriptedReply(content="ok")]) as c:
        await c.status(idle)
        for description in ("old", "new"):
            await c.rec.publish(
                "wasmind.common.tools.ToolsAvailable",
                {
                    "tools": [
                        {
                            "type": "function",
                            "function": {"name": "t", "description": description, "parameters": {}},
                        }
                    ]
                },
            )
        await anyio.sleep(0.2)
        await c.say("list tools")
        request = (await c.requests(1))[0]
        assert [t["function"]["description"] for t in request["tools"]] == ["new"]


async def test_the_system_prompt_orders_sections_priorities_and_keys_and_renders_data(kit) -> None:
    """(ours) ties are broken by key; exclude also drops built-in keys; bad keys are rejected."""
    config = {
        "system_prompt": {
            "defaults": {"identity": "I am the tester."},
            "exclude": ["system:datetime"],
            "overrides": {"planner:plan": "PLAN={{ data.steps | join(',') }}"},
        }
    }
    async with chat(kit, [ScriptedReply(content="ok")], config=config) as c:
        await c.status(idle)
        contributions = [
            ("zeta:b", {"Text": "tool B"}, 5, "tools"),
            ("alpha:a", {"Text": "tool A"}, 5, "tools"),
            ("high:x", {"Text": "first in tools"}, 9, "TOOLS"),
            (
                "planner:plan",
                {"Data": {"data": {"steps": [1, 2]}, "default_template": "ignored"}},
                1,
                "Current Plan",
            ),
            ("bad.key", {"Text": "rejected"}, 1, "tools"),
            ("nosection:x", {"Text": "in default"}, 1, None),
        ]
        for key, content, priority, section in contributions:
            await c.rec.publish(
                "wasmind.common.assistant.SystemPromptContribution",
                {"agent": SCOPE, "key": key, "content": content, "priority": priority, "section": section},
            )
        await anyio.sleep(0.2)
        await c.say("show me")
        prompt = (await c.requests(1))[0]["messages"][0]["content"]
        assert prompt.startswith(
            "<identity>\nI am the tester.</identity>\n\n<tools>\nfirst in tools\n\ntool A\n\n"
            "tool B</tools>\n\n<system_context>\nCurrent working directory: /"
        )
        assert "Current date and time" not in prompt
        assert "<current_plan>\nPLAN=1,2</current_plan>\n\n<default>\nin default</default>\n\n" in prompt
        assert "rejected" not in prompt
        assert prompt.endswith("</default>\n\n")


async def test_a_failing_base_template_falls_back_to_the_default(kit) -> None:
    """(ours) the original sent an empty prompt on any template error."""
    config = {"system_prompt": {"base_template": "{% for x in %}broken", "defaults": {"identity": "Me"}}}
    async with chat(kit, [ScriptedReply(content="ok")], config=config) as c:
        await c.status(idle)
        await c.say("hello")
        prompt = (await c.requests(1))[0]["messages"][0]["content"]
        assert prompt.startswith("<identity>\nMe</identity>")


async def test_a_compacted_conversation_replaces_the_history_before_the_boundary(kit) -> None:
    replies = [ScriptedReply(content="one"), ScriptedReply(content="two"), ScriptedReply(content="three")]
    async with chat(kit, replies) as c:
        await c.status(idle)
        await c.say("first")
        await c.rec.wait_for("wasmind.common.assistant.Response")
        await c.status(idle)
        await c.say("second")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        boundary = c.payloads("wasmind.common.assistant.Response")[1]["message"]["originating_request_id"]
        await c.rec.publish(
            "wasmind.common.assistant.QueueStatusChange",
            {"agent": SCOPE, "status": {"Wait": {"reason": "CompactingConversation"}}},
        )
        await c.rec.publish(
            "wasmind.common.assistant.CompactedConversation",
            {"agent": SCOPE, "messages": [{"role": "user", "content": "SUMMARY"}], "compacted_to": boundary},
        )
        await anyio.sleep(0.3)
        await c.say("third")
        await c.rec.wait_for("wasmind.common.assistant.Response", count=3)
        history = c.llm.requests[2]["messages"][1:]
        assert [m.get("content") for m in history] == ["SUMMARY", "two", "third"]
        assert reason(c.statuses()[-1]) != "CompactingConversation"


QUEUE = "wasmind.common.assistant.QueueStatusChange"
COMPACTED = "wasmind.common.assistant.CompactedConversation"
COMPACTING = {"Wait": {"reason": "CompactingConversation"}}


async def compacting_after_a_tool_round(c) -> str:  # type: ignore[no-untyped-def]
    """Say "go"; the LLM calls late_tool; compaction is queued while it runs; the result puts the
    assistant into CompactingConversation without an LLM call. Returns the round's request id."""
    await c.status(idle)
    await announce(c, "late_tool")
    await c.say("go")
    waiting = await c.status(lambda s: reason(s) == "WaitingForTools")
    request_id: str = waiting["Wait"]["reason"]["WaitingForTools"]["originating_request_id"]
    await c.rec.publish(QUEUE, {"agent": SCOPE, "status": COMPACTING})
    await c.rec.publish(TOOL, late_result("tool output", "c1", request_id))
    await c.status(lambda s: s == COMPACTING)
    await anyio.sleep(0.2)
    assert len(c.llm.requests) == 1, "no LLM call while compacting"
    return request_id


async def test_a_summary_that_arrives_while_compacting_continues_the_work(kit) -> None:
    """(ours) the original stayed in CompactingConversation when the queued status was consumed early."""
    replies = [ScriptedReply(tool_calls=[call("late_tool", {}, "c1")]), ScriptedReply(content="carried on")]
    async with chat(kit, replies) as c:
        boundary = await compacting_after_a_tool_round(c)
        summary = [{"role": "user", "content": "SUMMARY"}]
        await c.rec.publish(COMPACTED, {"agent": SCOPE, "messages": summary, "compacted_to": boundary})
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        history = (await c.requests(2))[1]["messages"][1:]
        assert [(m["role"], m.get("content")) for m in history] == [
            ("user", "SUMMARY"),
            ("assistant", None),
            ("tool", "tool output"),
        ]


async def test_a_summary_with_an_unknown_boundary_keeps_the_history_and_continues(kit) -> None:
    """(ours) the original dropped the summary silently and left the assistant compacting."""
    replies = [ScriptedReply(tool_calls=[call("late_tool", {}, "c1")]), ScriptedReply(content="carried on")]
    async with chat(kit, replies) as c:
        await compacting_after_a_tool_round(c)
        summary = [{"role": "user", "content": "SUMMARY"}]
        await c.rec.publish(COMPACTED, {"agent": SCOPE, "messages": summary, "compacted_to": "req_nosuch"})
        await c.rec.wait_for("wasmind.common.assistant.Response", count=2)
        history = (await c.requests(2))[1]["messages"][1:]
        assert [m.get("content") for m in history] == ["go", None, "tool output"]


async def test_a_status_change_while_compacting_applies_at_once(kit) -> None:
    """(ours) the original only queued it, so a failed compaction never released the assistant."""
    replies = [ScriptedReply(tool_calls=[call("late_tool", {}, "c1")])]
    async with chat(kit, replies) as c:
        await compacting_after_a_tool_round(c)
        await c.rec.publish(QUEUE, {"agent": SCOPE, "status": {"Wait": {"reason": "WaitingForUserInput"}}})
        await c.status(lambda s: reason(s) == "WaitingForUserInput")
        assert len(c.llm.requests) == 1


async def test_an_invalid_config_fails_the_spawn(kit) -> None:
    from harness import running_host

    from wasmind.runtime.context import SpawnError
    from wasmind.transport.memory import InProcessBroker

    async with running_host(
        InProcessBroker(), {"a": kit.spec("assistant", "a", config={"allow_empty_responses": 1})}
    ) as h:
        with pytest.raises(SpawnError, match="Failed to parse assistant config"):
            await h.start_agent(SCOPE, None, "Root Agent", ["a"])
