"""The guest SDK's message constants and payload builders agree with the host's wire models.

``wasmind_sdk.messages`` runs inside components (no pydantic there); these tests run it on the
host's CPython and check every builder against ``wasmind.wire.messages``: the JSON it produces
decodes, and re-encodes to the very same bytes (same keys, order and spelling as the original).
"""

import json
import sys
from typing import Any

import pytest

from wasmind.assets import sdk_dir
from wasmind.wire.messages import MESSAGE_TYPES, decode, encode

sys.path.insert(0, str(sdk_dir()))

from wasmind_sdk import messages as m


def _constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(m).items()
        if name.isupper() and isinstance(value, str) and "." in value
    }


def test_type_constants_cover_exactly_the_host_registry() -> None:
    assert set(_constants().values()) == set(MESSAGE_TYPES)
    assert set(MESSAGE_TYPES) == m.ALL_TYPES
    assert len(_constants()) == len(MESSAGE_TYPES)  # no type string under two names


def test_type_constants_are_exported() -> None:
    assert set(_constants()) <= set(m.__all__)


def test_sdk_imports_on_the_host_without_component_bindings() -> None:
    import wasmind_sdk

    assert wasmind_sdk.Actor and wasmind_sdk.Tool
    assert not [name for name in sys.modules if name.startswith("wit_world")]


CODING_TOOL = m.tool_definition(
    "execute_bash",
    "Run a command",
    {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)

CASES: list[tuple[str, str, Any]] = [
    ("tools_available", m.TOOLS_AVAILABLE, m.tools_available([CODING_TOOL, m.tool_definition("noop", "")])),
    ("tools_available_empty", m.TOOLS_AVAILABLE, m.tools_available([])),
    ("tool_received", m.TOOL_CALL_STATUS_UPDATE, m.tool_call_received("call_1", "req_7fK2pQ", "Waiting 0/3")),
    (
        "tool_received_expanded",
        m.TOOL_CALL_STATUS_UPDATE,
        m.tool_call_received("call_1", "req_7fK2pQ", "Waiting 1/3", "one done"),
    ),
    (
        "tool_done_ok",
        m.TOOL_CALL_STATUS_UPDATE,
        m.tool_call_done("call_1", "req_7fK2pQ", "total 8\ndrwx", "ls: Success", "Command: ls"),
    ),
    ("tool_done_ok_no_expanded", m.TOOL_CALL_STATUS_UPDATE, m.tool_call_done("c", "r", "ok", "ok")),
    (
        "tool_done_err",
        m.TOOL_CALL_STATUS_UPDATE,
        m.tool_call_done(
            "call_2", "req_7fK2pQ", "Invalid JSON arguments for tool 'x': boom", "x: invalid", ok=False
        ),
    ),
    (
        "notification",
        m.USER_NOTIFICATION,
        m.user_notification("Error", "LLM Request Failed", "retries", "Assistant"),
    ),
    ("notification_no_source", m.USER_NOTIFICATION, m.user_notification("Info", "t", "ünïcode ✓")),
    ("notification_warning", m.USER_NOTIFICATION, m.user_notification("Warning", "t", "m")),
    ("add_user", m.ADD_MESSAGE, m.add_message("aB3dE9", "user", "Add a /health endpoint")),
    ("add_system", m.ADD_MESSAGE, m.add_message("000000", "system", "child finished")),
    (
        "request_done",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update("aB3dE9", m.status_done("Implemented it", True), "req_7fK2pQ"),
    ),
    (
        "request_done_unsuccessful",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update("aB3dE9", m.status_done("Could not", False), "req_7fK2pQ"),
    ),
    (
        "request_failed",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update("aB3dE9", m.status_failed("boom"), None),
    ),
    (
        "request_processing",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update("aB3dE9", m.status_processing("req_1"), "req_1"),
    ),
    (
        "request_wait_coordination",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update(
            "aB3dE9",
            m.status_wait(m.waiting_for_agent_coordination("req_7fK2pQ", "spawn_agent", None, True)),
            "req_7fK2pQ",
        ),
    ),
    (
        "request_wait_coordination_target",
        m.REQUEST_STATUS_UPDATE,
        m.request_status_update(
            "aB3dE9",
            m.status_wait(m.waiting_for_agent_coordination("req_1", "wait", "Zz9Yy8", False)),
            "req_1",
        ),
    ),
    (
        "queue_user_input",
        m.QUEUE_STATUS_CHANGE,
        m.queue_status_change("000000", m.status_wait("WaitingForUserInput")),
    ),
    (
        "queue_system_input",
        m.QUEUE_STATUS_CHANGE,
        m.queue_status_change("000000", m.status_wait(m.waiting_for_system_input())),
    ),
    (
        "queue_system_input_scope",
        m.QUEUE_STATUS_CHANGE,
        m.queue_status_change("000000", m.status_wait(m.waiting_for_system_input("aB3dE9", False))),
    ),
    (
        "queue_compacting",
        m.QUEUE_STATUS_CHANGE,
        m.queue_status_change("abc123", m.status_wait("CompactingConversation")),
    ),
    (
        "prompt_text",
        m.SYSTEM_PROMPT_CONTRIBUTION,
        m.system_prompt_text("aB3dE9", "execute_bash:usage_guide", "<tool>...</tool>", 800, "tools"),
    ),
    (
        "prompt_text_default_section",
        m.SYSTEM_PROMPT_CONTRIBUTION,
        m.system_prompt_text("aB3dE9", "a:b", "text"),
    ),
    (
        "prompt_data",
        m.SYSTEM_PROMPT_CONTRIBUTION,
        m.system_prompt_data(
            "aB3dE9",
            "planner:current_plan",
            {"plan": {"title": "Ship v1", "tasks": []}},
            "{{ data.plan.title }}",
            600,
            "Current Plan",
        ),
    ),
    ("exit", m.EXIT, None),
]


@pytest.mark.parametrize(
    ("message_type", "payload"), [(t, p) for _, t, p in CASES], ids=[c[0] for c in CASES]
)
def test_builder_output_round_trips_through_the_host_model(message_type: str, payload: Any) -> None:
    wire = m.encode_payload(payload)
    assert encode(decode(message_type, wire)) == wire


def test_encode_payload_matches_the_host_encoder_byte_for_byte() -> None:
    payload = m.user_notification("Info", "naïve ✓", 'quote " and \\ backslash\nnewline')
    assert m.encode_payload(payload) == encode(decode(m.USER_NOTIFICATION, json.dumps(payload).encode()))


def test_encode_payload_passes_bytes_and_text_through() -> None:
    assert m.encode_payload(b"\x00\xff") == b"\x00\xff"
    assert m.encode_payload(bytearray(b"ab")) == b"ab"
    assert m.encode_payload("héllo") == "héllo".encode()
    assert m.encode_payload(None) == b"null"
    assert m.encode_payload({"a": [1, 2], "b": None}) == b'{"a":[1,2],"b":null}'


def test_builders_reject_values_the_protocol_does_not_allow() -> None:
    with pytest.raises(ValueError, match="Info, Warning, Error"):
        m.user_notification("info", "t", "m")
    with pytest.raises(ValueError, match="'user' or 'system'"):
        m.add_message("aB3dE9", "assistant", "hi")


def test_tool_definition_defaults_to_a_schema_without_arguments() -> None:
    tool = m.tool_definition("noop", "does nothing")
    assert tool == {
        "type": "function",
        "function": {
            "name": "noop",
            "description": "does nothing",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }
