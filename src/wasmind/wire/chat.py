"""OpenAI-compatible chat types (PROTOCOL.md §3.1 and §5)."""

from typing import Annotated, Any, ClassVar, Union

from pydantic import ConfigDict, Field

from wasmind.wire.serde import InternallyTagged, WireModel

__all__ = [
    "AssistantChatMessage",
    "AssistantChatMessageWithOriginatingRequestId",
    "ChatMessageForLLM",
    "ChatMessageWithRequestId",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "Function",
    "SystemChatMessage",
    "Tool",
    "ToolCall",
    "ToolChatMessage",
    "ToolFunction",
    "Usage",
    "UserChatMessage",
]


class Function(WireModel):
    """The function part of a tool call; ``arguments`` is JSON text exactly as the LLM produced it."""

    name: str
    arguments: str = ""


class ToolCall(WireModel):
    """One tool call of an assistant message."""

    OMIT_WHEN_NONE = frozenset({"index"})
    id: str
    type: str = "function"
    function: Function
    index: int | None = None


class AssistantChatMessage(WireModel):
    """An assistant turn as the LLM returned it; every field is omitted when absent."""

    OMIT_WHEN_NONE = frozenset(
        {"content", "tool_calls", "reasoning_content", "thinking_blocks", "provider_specific_fields"}
    )
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    # Kept as raw JSON objects whatever their shape: a provider-specific block never fails a call.
    thinking_blocks: list[dict[str, Any]] | None = None
    provider_specific_fields: Any = None


class AssistantChatMessageWithOriginatingRequestId(AssistantChatMessage):
    """An assistant turn plus the assistant request id that produced it."""

    originating_request_id: str


class SystemChatMessage(WireModel):
    """A system message."""

    content: str


class UserChatMessage(WireModel):
    """A user message."""

    content: str


class ToolChatMessage(WireModel):
    """The result of one tool call, as the LLM sees it."""

    tool_call_id: str
    name: str
    content: str


ChatMessageForLLM = Annotated[
    Union[SystemChatMessage, UserChatMessage, AssistantChatMessage, ToolChatMessage],  # noqa: UP007
    InternallyTagged(
        "role",
        {
            "system": SystemChatMessage,
            "user": UserChatMessage,
            "assistant": AssistantChatMessage,
            "tool": ToolChatMessage,
        },
    ),
]
"""A role-tagged chat message as sent to the LLM and in ``AddMessage``."""

ChatMessageWithRequestId = Annotated[
    Union[  # noqa: UP007
        SystemChatMessage, UserChatMessage, AssistantChatMessageWithOriginatingRequestId, ToolChatMessage
    ],
    InternallyTagged(
        "role",
        {
            "system": SystemChatMessage,
            "user": UserChatMessage,
            "assistant": AssistantChatMessageWithOriginatingRequestId,
            "tool": ToolChatMessage,
        },
    ),
]
"""A role-tagged chat message of an assistant's history (assistant turns carry their request id)."""


class ToolFunction(WireModel):
    """The function description of a tool definition; ``parameters`` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class Tool(WireModel):
    """A tool definition offered to the LLM."""

    type: str = "function"
    function: ToolFunction


class Usage(WireModel):
    """Token counts; provider-specific extra keys are preserved as-is."""

    model_config = ConfigDict(extra="allow")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatRequest(WireModel):
    """Body of ``POST <base_url>/v1/chat/completions``; ``tools`` is omitted when there are none."""

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"tools"})
    model: str
    messages: list[ChatMessageForLLM]
    tools: list[Tool] | None = None


class Choice(WireModel):
    """One choice of a chat completion."""

    OMIT_WHEN_NONE = frozenset({"finish_reason"})
    index: int = 0
    message: ChatMessageForLLM
    finish_reason: str | None = None


class ChatResponse(WireModel):
    """A chat completion; only ``choices`` is required (missing ``usage`` reads as zeros)."""

    model_config = ConfigDict(extra="allow")
    id: str = ""
    object: str = ""
    created: int = 0
    model: str = ""
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
