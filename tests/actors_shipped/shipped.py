"""Helpers for the shipped-actor tests: one agent in a real in-process host, driven by tool calls."""

import itertools
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Recorder, running_host

from wasmind.runtime.instance import ActorSpec
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import SystemPromptContribution, ToolCallStatusUpdate, ToolsAvailable, decode

REPO = Path(__file__).resolve().parents[2]
EXECUTE_BASH_DIR = REPO / "actors" / "execute_bash"
FILE_INTERACTION_DIR = REPO / "actors" / "file_interaction"
SCOPE = "aB3dE9"
OTHER_SCOPE = "zZ9yY8"
REQUEST_ID = "req_7fK2pQ"
EXECUTE_TOOL_CALL = "wasmind.common.tools.ExecuteToolCall"
STATUS_UPDATE = "wasmind.common.assistant.StatusUpdate"


def done(ok: bool, content: str, collapsed: str, expanded: str | None, call_id: str) -> dict[str, Any]:
    """The exact ``ToolCallStatusUpdate`` payload of a final result."""
    result = {"content": content, "ui_display_info": {"collapsed": collapsed, "expanded": expanded}}
    return {
        "status": {"Done": {"result": {"Ok" if ok else "Err": result}}},
        "id": call_id,
        "originating_request_id": REQUEST_ID,
    }


@dataclass
class Agent:
    """One running agent (scope :data:`SCOPE`) with the actor under test, and a recorder."""

    recorder: Recorder
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def call(self, name: str, arguments: Any, *, scope: str = SCOPE) -> dict[str, Any]:
        """Send an ``ExecuteToolCall`` (``arguments``: a dict, encoded as JSON, or raw text) and
        return the ``Done`` update answering it (checked against the host's wire model)."""
        call_id = await self.send(name, arguments, scope=scope)
        return await self.update(call_id)

    async def send(self, name: str, arguments: Any, *, scope: str = SCOPE) -> str:
        """Send an ``ExecuteToolCall`` without waiting; returns its tool call id."""
        call_id = f"call_{next(self._ids)}"
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        payload = {
            "tool_call": {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}},
            "originating_request_id": REQUEST_ID,
        }
        await self.recorder.publish(EXECUTE_TOOL_CALL, payload, scope=scope)
        return call_id

    async def update(self, call_id: str, seconds: float = 15) -> dict[str, Any]:
        """The first ``ToolCallStatusUpdate`` for ``call_id``."""
        found = await self.recorder.wait_for(
            ToolCallStatusUpdate.TYPE, lambda e: json.loads(e.payload)["id"] == call_id, seconds
        )
        decode(ToolCallStatusUpdate.TYPE, found[0].payload)
        assert found[0].from_scope == SCOPE
        payload: dict[str, Any] = json.loads(found[0].payload)
        return payload

    def updates(self) -> list[dict[str, Any]]:
        """Every ``ToolCallStatusUpdate`` seen so far."""
        return [json.loads(e.payload) for e in self.recorder.of_type(ToolCallStatusUpdate.TYPE)]

    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions announced with ``ToolsAvailable``."""
        (envelope,) = self.recorder.of_type(ToolsAvailable.TYPE)
        assert envelope.from_scope == SCOPE
        tools: list[dict[str, Any]] = json.loads(envelope.payload)["tools"]
        return tools

    def contributions(self, key: str) -> list[dict[str, Any]]:
        """Every ``SystemPromptContribution`` with ``key``, oldest first (checked by the wire model)."""
        found = []
        for envelope in self.recorder.of_type(SystemPromptContribution.TYPE):
            decode(SystemPromptContribution.TYPE, envelope.payload)
            payload = json.loads(envelope.payload)
            if payload["key"] == key:
                found.append(payload)
        return found


@asynccontextmanager
async def agent_with(spec: ActorSpec, working_directory: Path) -> AsyncIterator[Agent]:
    """A host running ``spec`` alone in agent :data:`SCOPE`, with ``working_directory`` as the run's
    working directory."""
    broker = InProcessBroker()
    recorder = await Recorder(broker).start()
    specs: Mapping[str, ActorSpec] = {spec.logical_name: spec}
    async with running_host(broker, specs, working_directory=str(working_directory)) as host:
        await host.start_agent(SCOPE, None, "Agent", [spec.logical_name])
        yield Agent(recorder)
