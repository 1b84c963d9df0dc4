"""One line per message worth showing to a person (``wasmind run`` and ``wasmind tail``)."""

import json
from typing import Any

from wasmind.wire import messages as m
from wasmind.wire.envelope import Envelope

__all__ = ["describe"]


def _json(envelope: Envelope) -> Any:
    try:
        return json.loads(envelope.payload)
    except ValueError:
        return None


def _response(scope: str, body: dict[str, Any]) -> str:
    message = body.get("message") or {}
    lines = [f"[{scope}] assistant: {message['content']}"] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        lines.append(f"[{scope}] ⚙ {function.get('name')}({function.get('arguments', '')})")
    return "\n".join(lines)


def _tool_status(scope: str, body: dict[str, Any]) -> str | None:
    status = body.get("status") or {}
    if "Done" in status:
        result = status["Done"]["result"]
        ok = "Ok" in result
        info = (result.get("Ok") or result.get("Err") or {}).get("ui_display_info", {})
        return f"[{scope}] {'✓' if ok else '✗'} {info.get('collapsed', '')}"
    if "Received" in status:
        return f"[{scope}] … {status['Received']['display_info'].get('collapsed', '')}"
    return None


def _status(scope: str, body: dict[str, Any]) -> str | None:
    done = (body.get("status") or {}).get("Done")
    if done is None:
        return None
    result = done.get("result", {})
    if "Ok" in result:
        return f"[{scope}] done: {result['Ok'].get('summary', '')}"
    return f"[{scope}] failed: {result.get('Err', '')}"


def describe(envelope: Envelope) -> str | None:
    """A readable line (or lines) for ``envelope``, or ``None`` when it is not worth showing."""
    body = _json(envelope)
    scope = envelope.from_scope
    kind = envelope.message_type
    if not isinstance(body, dict):
        return f"[{scope}] exited" if kind == m.Exit.TYPE else None
    if kind == m.Response.TYPE:
        return _response(scope, body) or None
    if kind == m.ToolCallStatusUpdate.TYPE:
        return _tool_status(scope, body)
    if kind == m.StatusUpdate.TYPE:
        return _status(scope, body)
    if kind == m.AgentSpawned.TYPE:
        return (
            f'● agent {body.get("agent_id")} "{body.get("name")}" started (parent {body.get("parent_agent")}): '
            f"{', '.join(body.get('actors', []))}"
        )
    if kind == m.UserNotification.TYPE:
        return f"! {body.get('level')}: {body.get('title')}: {body.get('message')}"
    if kind == m.AddMessage.TYPE:
        message = body.get("message", {})
        return f"[{body.get('agent')}] {message.get('role')}: {message.get('content')}"
    return None
