"""Message type strings (PROTOCOL.md §4) and builders for the JSON payloads the SDK sends.

Everything here is pure Python with no WIT import, so it runs on the host's CPython too (the host
tests check these builders against the host's pydantic models). Builders return JSON-ready data
(dicts, lists, strings, ``None``) with keys in the order the original writes them; pass the result
to :meth:`wasmind_sdk.Actor.broadcast`, which encodes it with :func:`encode_payload`.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ACTOR_READY",
    "ADD_MESSAGE",
    "AGENT_SPAWNED",
    "ALL_ACTORS_READY",
    "ALL_TYPES",
    "APPROVAL_RESPONSE",
    "BASE_URL_UPDATE",
    "CHAT_STATE_UPDATED",
    "COMPACTED_CONVERSATION",
    "DELEGATION_AGENT_SPAWNED",
    "EXECUTE_TOOL_CALL",
    "EXIT",
    "NOTIFICATION_LEVELS",
    "PLAN_REVIEW_RESPONSE",
    "QUEUE_STATUS_CHANGE",
    "REQUEST",
    "REQUEST_STATUS_UPDATE",
    "RESPONSE",
    "STATUS_UPDATE",
    "SYSTEM_PROMPT_CONTRIBUTION",
    "TOOLS_AVAILABLE",
    "TOOL_CALL_STATUS_UPDATE",
    "USER_NOTIFICATION",
    "add_message",
    "encode_payload",
    "queue_status_change",
    "request_status_update",
    "status_done",
    "status_failed",
    "status_processing",
    "status_wait",
    "system_prompt_data",
    "system_prompt_text",
    "tool_call_done",
    "tool_call_received",
    "tool_definition",
    "tools_available",
    "ui_display_info",
    "user_notification",
    "waiting_for_agent_coordination",
    "waiting_for_system_input",
]

# --- type strings (PROTOCOL.md §4) --------------------------------------------------------------

ACTOR_READY = "wasmind.common.actors.ActorReady"
ALL_ACTORS_READY = "wasmind.common.actors.AllActorsReady"
EXIT = "wasmind.common.actors.Exit"
AGENT_SPAWNED = "wasmind.common.actors.AgentSpawned"

STATUS_UPDATE = "wasmind.common.assistant.StatusUpdate"
REQUEST_STATUS_UPDATE = "wasmind.common.assistant.RequestStatusUpdate"
QUEUE_STATUS_CHANGE = "wasmind.common.assistant.QueueStatusChange"
ADD_MESSAGE = "wasmind.common.assistant.AddMessage"
REQUEST = "wasmind.common.assistant.Request"
RESPONSE = "wasmind.common.assistant.Response"
CHAT_STATE_UPDATED = "wasmind.common.assistant.ChatStateUpdated"
SYSTEM_PROMPT_CONTRIBUTION = "wasmind.common.assistant.SystemPromptContribution"
COMPACTED_CONVERSATION = "wasmind.common.assistant.CompactedConversation"

TOOLS_AVAILABLE = "wasmind.common.tools.ToolsAvailable"
EXECUTE_TOOL_CALL = "wasmind.common.tools.ExecuteToolCall"
TOOL_CALL_STATUS_UPDATE = "wasmind.common.tools.ToolCallStatusUpdate"

BASE_URL_UPDATE = "wasmind.common.litellm.BaseUrlUpdate"
USER_NOTIFICATION = "wasmind.common.ui.UserNotification"

DELEGATION_AGENT_SPAWNED = "delegation_network.delegation_network_coordinator.AgentSpawned"
APPROVAL_RESPONSE = "code_with_experts.common.ApprovalResponse"
PLAN_REVIEW_RESPONSE = "review_plan.common.PlanReviewResponse"

ALL_TYPES: frozenset[str] = frozenset(
    {
        ACTOR_READY,
        ALL_ACTORS_READY,
        EXIT,
        AGENT_SPAWNED,
        STATUS_UPDATE,
        REQUEST_STATUS_UPDATE,
        QUEUE_STATUS_CHANGE,
        ADD_MESSAGE,
        REQUEST,
        RESPONSE,
        CHAT_STATE_UPDATED,
        SYSTEM_PROMPT_CONTRIBUTION,
        COMPACTED_CONVERSATION,
        TOOLS_AVAILABLE,
        EXECUTE_TOOL_CALL,
        TOOL_CALL_STATUS_UPDATE,
        BASE_URL_UPDATE,
        USER_NOTIFICATION,
        DELEGATION_AGENT_SPAWNED,
        APPROVAL_RESPONSE,
        PLAN_REVIEW_RESPONSE,
    }
)
"""Every type string of PROTOCOL.md §4."""

NOTIFICATION_LEVELS = ("Info", "Warning", "Error")
"""The values of ``UserNotification.level``."""


def encode_payload(payload: Any) -> bytes:
    """The bytes to broadcast: ``bytes`` as-is, ``str`` as UTF-8, anything else as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- tools (PROTOCOL.md §3.3, §4.3) ---------------------------------------------------------------


def tool_definition(name: str, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``Tool`` offered to the LLM; ``parameters`` is a JSON Schema (default: no arguments)."""
    if parameters is None:
        parameters = {"type": "object", "properties": {}, "required": []}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def tools_available(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Payload of ``ToolsAvailable``: a list of :func:`tool_definition` dicts."""
    return {"tools": list(tools)}


def ui_display_info(collapsed: str, expanded: str | None = None) -> dict[str, Any]:
    """``UIDisplayInfo``: a one-line summary and optional details for UIs."""
    return {"collapsed": collapsed, "expanded": expanded}


def tool_call_received(
    call_id: str, originating_request_id: str, collapsed: str, expanded: str | None = None
) -> dict[str, Any]:
    """Payload of a progress ``ToolCallStatusUpdate`` (status ``Received``)."""
    status = {"Received": {"display_info": ui_display_info(collapsed, expanded)}}
    return {"status": status, "id": call_id, "originating_request_id": originating_request_id}


def tool_call_done(
    call_id: str,
    originating_request_id: str,
    content: str,
    collapsed: str,
    expanded: str | None = None,
    *,
    ok: bool = True,
) -> dict[str, Any]:
    """Payload of the final ``ToolCallStatusUpdate`` (status ``Done`` with an ``Ok``/``Err`` result).

    ``content`` is what the LLM sees; ``collapsed``/``expanded`` are for UIs.
    """
    result = {"content": content, "ui_display_info": ui_display_info(collapsed, expanded)}
    status = {"Done": {"result": {"Ok" if ok else "Err": result}}}
    return {"status": status, "id": call_id, "originating_request_id": originating_request_id}


# --- UI ---------------------------------------------------------------------------------------------


def user_notification(level: str, title: str, message: str, source: str | None = None) -> dict[str, Any]:
    """Payload of ``UserNotification``; ``level`` is ``"Info"``, ``"Warning"`` or ``"Error"``."""
    if level not in NOTIFICATION_LEVELS:
        raise ValueError(f"notification level must be one of {', '.join(NOTIFICATION_LEVELS)}, got {level!r}")
    return {"level": level, "title": title, "message": message, "source": source}


# --- assistant protocol (PROTOCOL.md §3.2, §4.2) -----------------------------------------------------


def add_message(agent: str, role: str, content: str) -> dict[str, Any]:
    """Payload of ``AddMessage``: a ``"user"`` or ``"system"`` message for the assistant of ``agent``."""
    if role not in ("user", "system"):
        raise ValueError(
            f"AddMessage role must be 'user' or 'system' (assistants accept no other), got {role!r}"
        )
    return {"agent": agent, "message": {"role": role, "content": content}}


def status_processing(request_id: str) -> dict[str, Any]:
    """``Status`` ``Processing`` for the assistant request ``request_id``."""
    return {"Processing": {"request_id": request_id}}


def status_wait(reason: str | dict[str, Any]) -> dict[str, Any]:
    """``Status`` ``Wait``. ``reason`` is a unit reason name (``"WaitingForUserInput"``) or a dict
    from :func:`waiting_for_system_input` / :func:`waiting_for_agent_coordination`."""
    return {"Wait": {"reason": reason}}


def status_done(summary: str, success: bool = True) -> dict[str, Any]:
    """``Status`` ``Done`` with an ``Ok`` task result."""
    return {"Done": {"result": {"Ok": {"summary": summary, "success": success}}}}


def status_failed(error: str) -> dict[str, Any]:
    """``Status`` ``Done`` with an ``Err`` task result."""
    return {"Done": {"result": {"Err": error}}}


def waiting_for_system_input(
    required_scope: str | None = None, interruptible_by_user: bool = True
) -> dict[str, Any]:
    """``WaitReason`` ``WaitingForSystemInput``."""
    return {
        "WaitingForSystemInput": {
            "required_scope": required_scope,
            "interruptible_by_user": interruptible_by_user,
        }
    }


def waiting_for_agent_coordination(
    originating_request_id: str,
    coordinating_tool_name: str,
    target_agent_scope: str | None = None,
    user_can_interrupt: bool = True,
) -> dict[str, Any]:
    """``WaitReason`` ``WaitingForAgentCoordination``."""
    return {
        "WaitingForAgentCoordination": {
            "originating_request_id": originating_request_id,
            "coordinating_tool_name": coordinating_tool_name,
            "target_agent_scope": target_agent_scope,
            "user_can_interrupt": user_can_interrupt,
        }
    }


def request_status_update(
    agent: str, status: str | dict[str, Any], originating_request_id: str | None
) -> dict[str, Any]:
    """Payload of ``RequestStatusUpdate``: ask the assistant of ``agent`` to change status now."""
    return {"agent": agent, "status": status, "originating_request_id": originating_request_id}


def queue_status_change(agent: str, status: str | dict[str, Any]) -> dict[str, Any]:
    """Payload of ``QueueStatusChange``: a status the assistant applies at its next submit."""
    return {"agent": agent, "status": status}


def system_prompt_text(
    agent: str, key: str, text: str, priority: int = 0, section: str | None = None
) -> dict[str, Any]:
    """Payload of ``SystemPromptContribution`` with text inserted as-is.

    ``key`` is ``<actor_type>:<name>``; ``section`` ``None`` renders in the custom section ``default``.
    """
    return {"agent": agent, "key": key, "content": {"Text": text}, "priority": priority, "section": section}


def system_prompt_data(
    agent: str, key: str, data: Any, default_template: str, priority: int = 0, section: str | None = None
) -> dict[str, Any]:
    """Payload of ``SystemPromptContribution`` with data rendered through a Jinja template (variable ``data``)."""
    content = {"Data": {"data": data, "default_template": default_template}}
    return {"agent": agent, "key": key, "content": content, "priority": priority, "section": section}
