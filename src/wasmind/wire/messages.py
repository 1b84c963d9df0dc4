"""The message catalog (PROTOCOL.md §4): one model per type string, and the registry.

Every model carries its type string in ``TYPE``. :func:`encode` writes the exact JSON of the
original; :func:`decode` reads a payload by type string with the lenient rules of PROTOCOL.md §2.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, RootModel, ValidationError, model_serializer

from wasmind.wire.chat import (
    AssistantChatMessageWithOriginatingRequestId,
    ChatMessageForLLM,
    ChatMessageWithRequestId,
    Tool,
    ToolCall,
    Usage,
)
from wasmind.wire.prompt import Section, SystemPromptContent
from wasmind.wire.serde import ExternallyTagged, UnitVariant, WireModel
from wasmind.wire.status import ChatState, Status, ToolCallStatus

__all__ = [
    "MESSAGE_TYPES",
    "ActorReady",
    "AddMessage",
    "AgentSpawned",
    "AllActorsReady",
    "ApprovalResponse",
    "Approved",
    "BaseUrlUpdate",
    "ChatStateUpdated",
    "CompactedConversation",
    "DelegationAgentSpawned",
    "ExecuteToolCall",
    "Exit",
    "Message",
    "MessageDecodeError",
    "PlanReviewResponse",
    "QueueStatusChange",
    "Request",
    "RequestChanges",
    "RequestStatusUpdate",
    "Response",
    "StatusUpdate",
    "SystemPromptContribution",
    "ToolCallStatusUpdate",
    "ToolsAvailable",
    "UserNotification",
    "decode",
    "encode",
    "message_type_of",
]


class Message(WireModel):
    """A message payload with a struct shape. ``TYPE`` is its type string on the bus."""

    TYPE: ClassVar[str]


class UnitMessage(Message):
    """A message without data: written as ``null``; any payload (``null``, empty, ``{}``) reads."""

    @model_serializer(mode="plain")
    def _unit(self) -> None:
        return None


# --- runtime lifecycle -------------------------------------------------------------------------


class ActorReady(UnitMessage):
    """Sent by the runtime for an instance right after its constructor returned."""

    TYPE = "wasmind.common.actors.ActorReady"


class AllActorsReady(UnitMessage):
    """Sent by the runtime once every instance of an agent is ready."""

    TYPE = "wasmind.common.actors.AllActorsReady"


class Exit(UnitMessage):
    """Ends the agent of the envelope's ``from-scope`` (``000000``: the whole run)."""

    TYPE = "wasmind.common.actors.Exit"


class AgentSpawned(Message):
    """Sent by the runtime after a spawn completed; ``actors`` are logical names in spawn order."""

    TYPE = "wasmind.common.actors.AgentSpawned"
    agent_id: str
    name: str
    parent_agent: str | None = None
    actors: list[str]


# --- assistant protocol ------------------------------------------------------------------------


class StatusUpdate(Message):
    """An assistant's new status; the agent is the envelope's ``from-scope``."""

    TYPE = "wasmind.common.assistant.StatusUpdate"
    status: Status


class RequestStatusUpdate(Message):
    """A tool asks its assistant to change status now, for the tool round ``originating_request_id``."""

    TYPE = "wasmind.common.assistant.RequestStatusUpdate"
    agent: str
    status: Status
    originating_request_id: str | None = None


class QueueStatusChange(Message):
    """A status the assistant applies at its next submit (interrupt, compaction)."""

    TYPE = "wasmind.common.assistant.QueueStatusChange"
    agent: str
    status: Status


class AddMessage(Message):
    """Adds a system or user message to an agent's conversation."""

    TYPE = "wasmind.common.assistant.AddMessage"
    agent: str
    message: ChatMessageForLLM


class Request(Message):
    """Broadcast by an assistant right before each LLM call."""

    TYPE = "wasmind.common.assistant.Request"
    chat_state: ChatState


class Response(Message):
    """Broadcast by an assistant after a successful LLM call."""

    TYPE = "wasmind.common.assistant.Response"
    message: AssistantChatMessageWithOriginatingRequestId
    usage: Usage


class ChatStateUpdated(Message):
    """Broadcast by an assistant every time its history changes."""

    TYPE = "wasmind.common.assistant.ChatStateUpdated"
    chat_state: ChatState


class SystemPromptContribution(Message):
    """A piece of an agent's system prompt, replaced by later contributions with the same ``key``."""

    TYPE = "wasmind.common.assistant.SystemPromptContribution"
    agent: str
    key: str
    content: SystemPromptContent
    priority: int
    section: Section | None = None


class CompactedConversation(Message):
    """Replaces an assistant's history before ``compacted_to`` with ``messages``."""

    TYPE = "wasmind.common.assistant.CompactedConversation"
    agent: str
    messages: list[ChatMessageWithRequestId]
    compacted_to: str


# --- tool protocol -----------------------------------------------------------------------------


class ToolsAvailable(Message):
    """Tools a tool actor offers to the assistant of its scope."""

    TYPE = "wasmind.common.tools.ToolsAvailable"
    tools: list[Tool]


class ExecuteToolCall(Message):
    """An assistant asks the tool actor of its scope to run one tool call."""

    TYPE = "wasmind.common.tools.ExecuteToolCall"
    tool_call: ToolCall
    originating_request_id: str


class ToolCallStatusUpdate(Message):
    """Progress or the final result of a tool call; ``id`` is the tool call id."""

    TYPE = "wasmind.common.tools.ToolCallStatusUpdate"
    status: ToolCallStatus
    id: str
    originating_request_id: str


# --- LLM endpoint and UI -----------------------------------------------------------------------


class BaseUrlUpdate(Message):
    """The OpenAI-compatible endpoint (without ``/v1``) and the models it serves. Replayable."""

    TYPE = "wasmind.common.litellm.BaseUrlUpdate"
    base_url: str
    models_available: list[str]


class UserNotification(Message):
    """A toast for UIs."""

    TYPE = "wasmind.common.ui.UserNotification"
    level: Literal["Info", "Warning", "Error"]
    title: str
    message: str
    source: str | None = None


# --- actor-defined messages of the shipped actors ----------------------------------------------


class DelegationAgentSpawned(Message):
    """Sent by ``spawn_agent`` from the spawning agent's scope, once per spawned agent."""

    TYPE = "delegation_network.delegation_network_coordinator.AgentSpawned"
    agent_type: Literal["MainManager", "SubManager", "Worker"]
    agent_id: str


class Approved(UnitVariant):
    """An expert approves the change."""

    TAG: ClassVar[str] = "Approved"


class RequestChanges(WireModel):
    """An expert asks for changes."""

    TAG: ClassVar[str] = "RequestChanges"
    changes: str


class ApprovalResponse(
    RootModel[Annotated[Approved | RequestChanges, ExternallyTagged(Approved, RequestChanges)]]
):
    """An expert's verdict; the whole payload is the enum: ``"Approved"`` or ``{"RequestChanges": ...}``."""

    TYPE: ClassVar[str] = "code_with_experts.common.ApprovalResponse"


class PlanReviewResponse(Message):
    """A reviewer's feedback on a plan."""

    TYPE = "review_plan.common.PlanReviewResponse"
    feedback: str


# --- registry ----------------------------------------------------------------------------------

_CATALOG: tuple[type[BaseModel], ...] = (
    ActorReady,
    AllActorsReady,
    Exit,
    AgentSpawned,
    StatusUpdate,
    RequestStatusUpdate,
    QueueStatusChange,
    AddMessage,
    Request,
    Response,
    ChatStateUpdated,
    SystemPromptContribution,
    CompactedConversation,
    ToolsAvailable,
    ExecuteToolCall,
    ToolCallStatusUpdate,
    BaseUrlUpdate,
    UserNotification,
    DelegationAgentSpawned,
    ApprovalResponse,
    PlanReviewResponse,
)

MESSAGE_TYPES: dict[str, type[BaseModel]] = {cls.TYPE: cls for cls in _CATALOG}  # type: ignore[attr-defined]
"""Type string -> model, for every message of PROTOCOL.md §4."""


class MessageDecodeError(ValueError):
    """A payload that does not fit its message type; the text says which type and why."""


def message_type_of(message: BaseModel) -> str:
    """The type string of a message model instance."""
    message_type: str = type(message).TYPE  # type: ignore[attr-defined]
    return message_type


def encode(message: BaseModel) -> bytes:
    """The compact UTF-8 JSON of ``message``, exactly as the original writes it."""
    return message.model_dump_json().encode()


def decode(message_type: str, payload: bytes) -> BaseModel:
    """Parse ``payload`` as the message ``message_type``.

    Raises:
        MessageDecodeError: unknown type, invalid UTF-8/JSON, or a shape that does not fit.
    """
    cls = MESSAGE_TYPES.get(message_type)
    if cls is None:
        raise MessageDecodeError(f"unknown message type {message_type!r}")
    if issubclass(cls, UnitMessage):
        return cls()
    try:
        return cls.model_validate_json(payload)
    except ValidationError as error:
        raise MessageDecodeError(f"invalid {message_type} payload: {_first_errors(error)}") from None


def _first_errors(error: ValidationError, limit: int = 3) -> str:
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def as_json(message: BaseModel) -> Any:
    """``message`` as JSON-compatible Python data (what :func:`encode` writes)."""
    return message.model_dump(mode="json")
