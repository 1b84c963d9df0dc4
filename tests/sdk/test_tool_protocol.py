"""A tool written with the SDK speaks the tool protocol exactly, inside a real host."""

import json

import anyio
import pytest
from harness import Recorder, running_host

from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import ToolCallStatusUpdate, ToolsAvailable, decode

pytestmark = pytest.mark.anyio
SCOPE = "aaaaaa"


def _call(call_id: str, arguments: str, name: str = "echo_tool") -> dict[str, object]:
    return {
        "tool_call": {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}},
        "originating_request_id": "req_abc123",
    }


async def _updates(rec: Recorder, call_id: str, count: int = 1) -> list[dict]:  # type: ignore[type-arg]
    found = await rec.wait_for(
        ToolCallStatusUpdate.TYPE, lambda e: json.loads(e.payload)["id"] == call_id, count=count
    )
    for envelope in found:
        decode(ToolCallStatusUpdate.TYPE, envelope.payload)  # the host's model accepts it
    return [json.loads(e.payload) for e in found]


async def test_a_tool_announces_itself_and_answers_its_own_scopes_calls(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"tool": kit.spec("tool_echo", "tool")}) as host:
        await host.start_agent(SCOPE, None, "A", ["tool"])
        tools = json.loads(rec.of_type(ToolsAvailable.TYPE)[0].payload)["tools"]
        assert [t["function"]["name"] for t in tools] == ["echo_tool"]
        assert tools[0]["function"]["parameters"]["required"] == ["text"]

        await rec.publish(
            "wasmind.common.tools.ExecuteToolCall", _call("call_1", '{"text": "hi"}'), scope=SCOPE
        )
        (update,) = await _updates(rec, "call_1")
        assert update == {
            "status": {
                "Done": {
                    "result": {
                        "Ok": {"content": "hi", "ui_display_info": {"collapsed": "hi", "expanded": None}}
                    }
                }
            },
            "id": "call_1",
            "originating_request_id": "req_abc123",
        }
        assert rec.of_type(ToolCallStatusUpdate.TYPE)[0].from_scope == SCOPE


async def test_invalid_arguments_and_failures_become_error_results_and_the_tool_keeps_serving(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"tool": kit.spec("tool_echo", "tool")}) as host:
        await host.start_agent(SCOPE, None, "A", ["tool"])
        await rec.publish("wasmind.common.tools.ExecuteToolCall", _call("bad", "{not json"), scope=SCOPE)
        (update,) = await _updates(rec, "bad")
        error = update["status"]["Done"]["result"]["Err"]["content"]
        assert error.startswith("Invalid JSON arguments for tool 'echo_tool'")

        await rec.publish(
            "wasmind.common.tools.ExecuteToolCall", _call("boom", '{"text": "x", "fail": true}'), scope=SCOPE
        )
        (update,) = await _updates(rec, "boom")
        assert "echo_tool asked to fail" in update["status"]["Done"]["result"]["Err"]["content"]

        await rec.publish(
            "wasmind.common.tools.ExecuteToolCall",
            _call("slow", '{"text": "abc", "progress": true}'),
            scope=SCOPE,
        )
        received, done = await _updates(rec, "slow", count=2)
        assert received["status"] == {
            "Received": {"display_info": {"collapsed": "echoing 3 characters", "expanded": None}}
        }
        assert done["status"]["Done"]["result"]["Ok"]["content"] == "abc"


async def test_calls_for_other_scopes_or_other_tools_are_ignored(kit) -> None:
    broker = InProcessBroker()
    rec = await Recorder(broker).start()
    async with running_host(broker, {"tool": kit.spec("tool_echo", "tool")}) as host:
        await host.start_agent(SCOPE, None, "A", ["tool"])
        await rec.publish(
            "wasmind.common.tools.ExecuteToolCall", _call("c1", '{"text": "a"}'), scope="bbbbbb"
        )
        await rec.publish(
            "wasmind.common.tools.ExecuteToolCall",
            _call("c2", '{"text": "a"}', name="other_tool"),
            scope=SCOPE,
        )
        await anyio.sleep(0.3)
        assert not rec.of_type(ToolCallStatusUpdate.TYPE)
