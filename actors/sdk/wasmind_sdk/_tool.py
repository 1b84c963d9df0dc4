"""The ``Tool`` base class: an actor that offers LLM tools and answers their calls (PROTOCOL.md §4.3)."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar

from wasmind_sdk import messages
from wasmind_sdk._actor import Actor, Message

__all__ = ["Tool", "ToolCall"]

SUMMARY_LIMIT = 100


@dataclass
class ToolCall:
    """One call of one of the actor's tools, from an ``ExecuteToolCall`` message.

    Attributes:
        id: the tool call id chosen by the LLM.
        name: the tool's name.
        arguments: the arguments, parsed (always a dict).
        raw_arguments: the arguments exactly as the LLM wrote them.
        originating_request_id: the assistant request the call belongs to.
        message: the ``ExecuteToolCall`` message itself.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str
    originating_request_id: str
    message: Message | None = field(default=None, repr=False)
    finished: bool = field(default=False, init=False)
    """Whether the final ``Done`` was sent (by :meth:`Tool.ok` / :meth:`Tool.err`)."""


def _summary(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


class Tool(Actor):
    """An actor offering tools to the assistant of its agent.

    For one tool set the class attributes ``name``, ``description`` and ``parameters`` (a JSON
    Schema); for several, override :meth:`tools`. Implement :meth:`execute`.

    On start the tool definitions are announced with ``ToolsAvailable`` (a subclass overriding
    :meth:`on_start` must call ``super().on_start()``). Every ``ExecuteToolCall`` from the actor's own
    scope naming one of its tools goes to :meth:`execute`; other messages go to ``@on`` methods.
    """

    name: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Any] | None] = None
    _tool_names: frozenset[str] | None = None

    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions to announce (see :func:`wasmind_sdk.messages.tool_definition`)."""
        if not self.name:
            raise TypeError(
                f"{type(self).__name__}: set the class attribute `name` (and `description`, "
                "`parameters`) or override tools()"
            )
        return [messages.tool_definition(self.name, self.description, self.parameters)]

    def tool_names(self) -> frozenset[str]:
        """The names of this actor's tools (computed once)."""
        if self._tool_names is None:
            self._tool_names = frozenset(tool["function"]["name"] for tool in self.tools())
        return self._tool_names

    def on_start(self) -> None:
        """Announce the tools (``ToolsAvailable``)."""
        tools = self.tools()
        self._tool_names = frozenset(tool["function"]["name"] for tool in tools)
        self.broadcast(messages.TOOLS_AVAILABLE, messages.tools_available(tools))

    def execute(self, call: ToolCall) -> str | None:
        """Run one tool call.

        Return a string to reply ``Ok`` with it, or reply yourself with :meth:`ok` / :meth:`err` (now
        or later, from another handler) and return ``None``. An exception becomes an ``Err`` reply
        naming it (the traceback is logged); the actor keeps running.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement execute(call)")

    def handle(self, message: Message) -> None:
        """Route own-scope ``ExecuteToolCall`` messages for our tools to :meth:`execute`, the rest to ``@on``."""
        if (
            message.type == messages.EXECUTE_TOOL_CALL
            and message.from_scope == self.scope
            and self._dispatch(message)
        ):
            return
        super().handle(message)

    def invalid_arguments(self, call: ToolCall, problem: str) -> None:
        """Answer a call whose arguments are not a JSON object (``execute`` is not called).

        Default: ``Err`` ``Invalid JSON arguments for tool '<name>': <problem>``. Override to answer
        with the tool's own wording (e.g. ``Failed to parse command parameters: <problem>``).
        """
        self.err(
            call,
            f"Invalid JSON arguments for tool '{call.name}': {problem}",
            f"{call.name}: invalid arguments",
        )

    # --- replies -----------------------------------------------------------------------------------

    def ok(
        self, call: ToolCall, content: str, collapsed: str | None = None, expanded: str | None = None
    ) -> None:
        """Finish ``call`` with an ``Ok`` result. ``content`` is what the LLM sees; ``collapsed``
        (default: the first line of ``content``) and ``expanded`` are shown by UIs."""
        self._done(call, True, content, collapsed, expanded)

    def err(
        self, call: ToolCall, content: str, collapsed: str | None = None, expanded: str | None = None
    ) -> None:
        """Finish ``call`` with an ``Err`` result (same arguments as :meth:`ok`)."""
        self._done(call, False, content, collapsed, expanded)

    def progress(self, call: ToolCall, collapsed: str, expanded: str | None = None) -> None:
        """Report progress of ``call`` (status ``Received``); may be sent any number of times before the end."""
        payload = messages.tool_call_received(call.id, call.originating_request_id, collapsed, expanded)
        self.broadcast(messages.TOOL_CALL_STATUS_UPDATE, payload)

    def _done(
        self, call: ToolCall, ok: bool, content: str, collapsed: str | None, expanded: str | None
    ) -> None:
        if call.finished:
            self.log.warning(f"tool call {call.id} ({call.name}) already finished; extra reply dropped")
            return
        call.finished = True
        summary = _summary(content) if collapsed is None else collapsed
        payload = messages.tool_call_done(
            call.id, call.originating_request_id, content, summary, expanded, ok=ok
        )
        self.broadcast(messages.TOOL_CALL_STATUS_UPDATE, payload)

    # --- dispatch ----------------------------------------------------------------------------------

    def _dispatch(self, message: Message) -> bool:
        """Answer ``message`` if it calls one of our tools; returns whether it did."""
        try:
            data = message.json()
            tool_call = data["tool_call"]
            name = tool_call["function"]["name"]
            call_id = tool_call["id"]
            raw = tool_call["function"].get("arguments", "")
            originating_request_id = data["originating_request_id"]
            if not all(isinstance(value, str) for value in (name, call_id, originating_request_id)):
                raise TypeError(
                    "tool_call.id, tool_call.function.name and originating_request_id must be strings"
                )
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(f"ignoring malformed ExecuteToolCall {message.id}: {error!r}")
            return False
        if name not in self.tool_names():
            return False
        call = ToolCall(
            call_id,
            name,
            {},
            raw if isinstance(raw, str) else json.dumps(raw),
            originating_request_id,
            message,
        )
        problem = None
        try:
            # An empty string (some providers send it for tools without parameters) means no arguments.
            arguments = json.loads(call.raw_arguments) if call.raw_arguments.strip() else {}
        except ValueError as error:
            problem = str(error)
        else:
            if isinstance(arguments, dict):
                call.arguments = arguments
            else:
                problem = f"expected a JSON object, got {type(arguments).__name__}"
        if problem is not None:
            self.invalid_arguments(call, problem)
        else:
            self._execute(call)
        return True

    def _execute(self, call: ToolCall) -> None:
        try:
            result = self.execute(call)
            if result is not None and not isinstance(result, str):
                raise TypeError(f"execute() must return a str or None, got {type(result).__name__}")
        except Exception as error:  # noqa: BLE001  (a failing tool call must not stop the actor)
            self.log.error(f"tool '{call.name}' call {call.id} raised:\n{traceback.format_exc()}")
            if not call.finished:
                self.err(
                    call,
                    f"Tool '{call.name}' failed: {type(error).__name__}: {error}",
                    f"{call.name}: failed ({type(error).__name__})",
                )
            return
        if result is not None:
            self.ok(call, result)
