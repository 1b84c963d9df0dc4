"""Assistant and tool-call status types (PROTOCOL.md §3.2 and §3.3)."""

from typing import Annotated, ClassVar, Union

from wasmind.wire.chat import ChatMessageWithRequestId, SystemChatMessage, Tool, ToolCall
from wasmind.wire.serde import ExternallyTagged, UnitVariant, WireModel, result_of

__all__ = [
    "AgentTaskResponse",
    "AwaitingSystem",
    "AwaitingSystemDetails",
    "ChatState",
    "CompactingConversation",
    "PendingToolCall",
    "Processing",
    "Received",
    "Status",
    "StatusDone",
    "ToolCallDone",
    "ToolCallResult",
    "ToolCallStatus",
    "UIDisplayInfo",
    "Wait",
    "WaitReason",
    "WaitingForAgentCoordination",
    "WaitingForAllActorsReady",
    "WaitingForLiteLLM",
    "WaitingForSystemInput",
    "WaitingForTools",
    "WaitingForUserInput",
]


class UIDisplayInfo(WireModel):
    """What UIs show for a tool call: a one-line summary and optional details."""

    collapsed: str
    expanded: str | None = None


class ToolCallResult(WireModel):
    """A tool's result; ``content`` is what the LLM sees."""

    content: str
    ui_display_info: UIDisplayInfo


class AwaitingSystemDetails(WireModel):
    """Details of a tool call waiting on the system."""

    required_scope: str | None = None
    ui_display_info: UIDisplayInfo


class Received(WireModel):
    """Tool call progress (may be sent any number of times before ``Done``)."""

    TAG: ClassVar[str] = "Received"
    display_info: UIDisplayInfo


class AwaitingSystem(WireModel):
    """Tool call waiting on the system (no shipped actor sends it; UIs render it)."""

    TAG: ClassVar[str] = "AwaitingSystem"
    details: AwaitingSystemDetails


class ToolCallDone(WireModel):
    """The final result of a tool call."""

    TAG: ClassVar[str] = "Done"
    result: result_of(ToolCallResult, ToolCallResult)  # type: ignore[valid-type]


ToolCallStatus = Annotated[
    Union[Received, AwaitingSystem, ToolCallDone],  # noqa: UP007
    ExternallyTagged(Received, AwaitingSystem, ToolCallDone),
]


class PendingToolCall(WireModel):
    """A tool call of the current round and its result once known."""

    tool_call: ToolCall
    result: result_of(ToolCallResult, ToolCallResult) | None = None  # type: ignore[valid-type]


class WaitingForAllActorsReady(UnitVariant):
    """Waiting until every actor of the agent is ready."""

    TAG: ClassVar[str] = "WaitingForAllActorsReady"


class WaitingForUserInput(UnitVariant):
    """Waiting for the user."""

    TAG: ClassVar[str] = "WaitingForUserInput"


class WaitingForSystemInput(WireModel):
    """Waiting for a system message (optionally from one scope)."""

    TAG: ClassVar[str] = "WaitingForSystemInput"
    required_scope: str | None = None
    interruptible_by_user: bool


class WaitingForAgentCoordination(WireModel):
    """Waiting while a coordination tool (spawn, wait) works with other agents."""

    TAG: ClassVar[str] = "WaitingForAgentCoordination"
    originating_request_id: str
    coordinating_tool_name: str
    target_agent_scope: str | None = None
    user_can_interrupt: bool


class WaitingForTools(WireModel):
    """Waiting for the results of the tool calls of one response."""

    TAG: ClassVar[str] = "WaitingForTools"
    originating_request_id: str
    tool_calls: dict[str, PendingToolCall]


class WaitingForLiteLLM(UnitVariant):
    """Waiting for the LLM endpoint to become known."""

    TAG: ClassVar[str] = "WaitingForLiteLLM"


class CompactingConversation(UnitVariant):
    """Waiting while the history is compacted."""

    TAG: ClassVar[str] = "CompactingConversation"


_WAIT_REASONS = (
    WaitingForAllActorsReady,
    WaitingForUserInput,
    WaitingForSystemInput,
    WaitingForAgentCoordination,
    WaitingForTools,
    WaitingForLiteLLM,
    CompactingConversation,
)
WaitReason = Annotated[
    Union[_WAIT_REASONS],  # type: ignore[valid-type]  # noqa: UP007
    ExternallyTagged(*_WAIT_REASONS),
]


class AgentTaskResponse(WireModel):
    """The outcome of an agent's task."""

    summary: str
    success: bool


class Processing(WireModel):
    """The assistant is calling the LLM."""

    TAG: ClassVar[str] = "Processing"
    request_id: str


class Wait(WireModel):
    """The assistant waits for something."""

    TAG: ClassVar[str] = "Wait"
    reason: WaitReason


class StatusDone(WireModel):
    """The assistant finished its task."""

    TAG: ClassVar[str] = "Done"
    result: result_of(AgentTaskResponse, str)  # type: ignore[valid-type]


Status = Annotated[
    Union[Processing, Wait, StatusDone],  # noqa: UP007
    ExternallyTagged(Processing, Wait, StatusDone),
]


class ChatState(WireModel):
    """What an assistant sends to the LLM: system prompt, tools and history."""

    system: SystemChatMessage
    tools: list[Tool]
    messages: list[ChatMessageWithRequestId]
