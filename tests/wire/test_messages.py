"""The message catalog against PROTOCOL.md: spec examples, serde shapes, lenient reading, errors."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from wasmind.wire.chat import (
    AssistantChatMessage,
    AssistantChatMessageWithOriginatingRequestId,
    ChatMessageForLLM,
    ChatRequest,
    ChatResponse,
    Function,
    SystemChatMessage,
    ToolCall,
    Usage,
    UserChatMessage,
)
from wasmind.wire.messages import (
    MESSAGE_TYPES,
    ActorReady,
    AddMessage,
    AllActorsReady,
    ApprovalResponse,
    Approved,
    Exit,
    MessageDecodeError,
    RequestChanges,
    RequestStatusUpdate,
    Response,
    StatusUpdate,
    SystemPromptContribution,
    ToolCallStatusUpdate,
    UserNotification,
    decode,
    encode,
    message_type_of,
)
from wasmind.wire.prompt import BUILTIN_SECTIONS, Data, Section, Text
from wasmind.wire.serde import Err, Ok
from wasmind.wire.status import (
    AgentTaskResponse,
    Processing,
    Received,
    StatusDone,
    ToolCallDone,
    ToolCallResult,
    UIDisplayInfo,
    Wait,
    WaitingForSystemInput,
    WaitingForUserInput,
)

EXAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "spec_examples.json").read_text(encoding="utf-8")
)
UNIT_TYPES = [ActorReady.TYPE, AllActorsReady.TYPE, Exit.TYPE]
ADD_MESSAGE = AddMessage.TYPE
# Hypothesis writes no example database into the working tree; models are warm, but CI machines are slow.
PROPERTY = settings(database=None, deadline=None, max_examples=150)


def wire(payload: Any) -> bytes:
    """``payload`` as compact wire JSON, the way serde_json writes it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def round_trip(message_type: str, payload: Any) -> Any:
    """Decode ``payload`` as ``message_type``, encode it again and parse the result."""
    return json.loads(encode(decode(message_type, wire(payload))))


def key_order(value: Any) -> Any:
    """``value`` with every object replaced by its (key, value) pairs, so comparisons see key order."""
    if isinstance(value, dict):
        return [(key, key_order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [key_order(item) for item in value]
    return value


def example_id(example: dict[str, Any]) -> str:
    """The test id of a spec example: its PROTOCOL.md reference (pytest would escape the ``§``)."""
    return str(example["spec"]).removeprefix("§")


# --- the spec examples ---------------------------------------------------------------------------


def test_every_message_type_of_the_catalog_has_a_spec_example() -> None:
    assert set(MESSAGE_TYPES) == {example["type"] for example in EXAMPLES}


def test_the_catalog_holds_exactly_the_types_of_protocol_summary_table() -> None:
    protocol = Path(__file__).parents[3] / "shared" / "spec" / "PROTOCOL.md"
    if not protocol.exists():
        pytest.skip(f"the shared spec is not beside this checkout ({protocol})")
    spec = protocol.read_text(encoding="utf-8")
    summary = spec.split("### 4.6 Summary", 1)[1].split("\n\n", 2)[1]
    listed = {row.split("`")[1] for row in summary.splitlines() if row.startswith("| `")}
    assert listed == set(MESSAGE_TYPES)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_spec_example_round_trips_through_decode_and_encode(example: dict[str, Any]) -> None:
    message = decode(example["type"], wire(example["payload"]))

    assert isinstance(message, MESSAGE_TYPES[example["type"]])
    assert message_type_of(message) == example["type"]
    assert json.loads(encode(message)) == example["payload"]


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_spec_example_encodes_with_the_keys_in_declaration_order(example: dict[str, Any]) -> None:
    assert key_order(round_trip(example["type"], example["payload"])) == key_order(example["payload"])


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_spec_example_encodes_to_compact_json_byte_for_byte(example: dict[str, Any]) -> None:
    payload = wire(example["payload"])

    assert encode(decode(example["type"], payload)) == payload


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_spec_example_decodes_from_pretty_printed_json(example: dict[str, Any]) -> None:
    pretty = json.dumps(example["payload"], indent=4).encode()

    assert encode(decode(example["type"], pretty)) == wire(example["payload"])


# --- unit messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", UNIT_TYPES)
@pytest.mark.parametrize(
    "payload", [b"null", b"", b"{}", b'{"unexpected": 1}', b"[]", b"not json", b"\xff"], ids=repr
)
def test_unit_messages_accept_null_empty_and_empty_object(message_type: str, payload: bytes) -> None:
    message = decode(message_type, payload)

    assert type(message) is MESSAGE_TYPES[message_type]
    assert encode(message) == b"null"


@pytest.mark.parametrize("cls", [ActorReady, AllActorsReady, Exit])
def test_unit_messages_encode_to_null(cls: type[BaseModel]) -> None:
    assert encode(cls()) == b"null"
    assert cls().model_dump(mode="json") is None


# --- serde shapes built from Python --------------------------------------------------------------


def test_tool_call_omits_index_when_absent_and_keeps_it_when_zero() -> None:
    call = ToolCall(id="call_1", function=Function(name="ls", arguments="{}"))

    assert call.model_dump(mode="json") == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "ls", "arguments": "{}"},
    }
    assert call.model_copy(update={"index": 0}).model_dump(mode="json")["index"] == 0


def test_assistant_message_omits_every_absent_field() -> None:
    empty = AddMessage(agent="aB3dE9", message=AssistantChatMessage())

    assert json.loads(encode(empty)) == {"agent": "aB3dE9", "message": {"role": "assistant"}}
    assert round_trip(ADD_MESSAGE, {"agent": "aB3dE9", "message": {"role": "assistant"}}) == {
        "agent": "aB3dE9",
        "message": {"role": "assistant"},
    }


def test_assistant_message_keeps_empty_content_and_empty_tool_calls() -> None:
    payload = {"agent": "aB3dE9", "message": {"role": "assistant", "content": "", "tool_calls": []}}

    assert round_trip(ADD_MESSAGE, payload) == payload


def test_role_is_the_first_key_of_a_chat_message() -> None:
    message = AddMessage(agent="aB3dE9", message=UserChatMessage(content="hi"))

    assert encode(message) == b'{"agent":"aB3dE9","message":{"role":"user","content":"hi"}}'


def test_standalone_assistant_message_with_request_id_has_no_role_key() -> None:
    response = Response(
        message=AssistantChatMessageWithOriginatingRequestId(content="ok", originating_request_id="req_1"),
        usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
    )

    assert json.loads(encode(response))["message"] == {"content": "ok", "originating_request_id": "req_1"}


def test_request_status_update_keeps_null_originating_request_id() -> None:
    update = RequestStatusUpdate(agent="aB3dE9", status=Wait(reason=WaitingForUserInput()))

    assert encode(update) == (
        b'{"agent":"aB3dE9","status":{"Wait":{"reason":"WaitingForUserInput"}},"originating_request_id":null}'
    )


def test_status_variants_built_in_python_encode_as_in_the_spec() -> None:
    done = StatusDone(result=Ok[AgentTaskResponse](value=AgentTaskResponse(summary="s", success=True)))
    failed = StatusDone(result=Err[str](value="boom"))
    waiting = Wait(reason=WaitingForSystemInput(interruptible_by_user=True))

    assert json.loads(encode(StatusUpdate(status=Processing(request_id="req_1")))) == {
        "status": {"Processing": {"request_id": "req_1"}}
    }
    assert json.loads(encode(StatusUpdate(status=done))) == {
        "status": {"Done": {"result": {"Ok": {"summary": "s", "success": True}}}}
    }
    assert json.loads(encode(StatusUpdate(status=failed))) == {
        "status": {"Done": {"result": {"Err": "boom"}}}
    }
    assert json.loads(encode(StatusUpdate(status=waiting))) == {
        "status": {
            "Wait": {
                "reason": {"WaitingForSystemInput": {"required_scope": None, "interruptible_by_user": True}}
            }
        }
    }


def test_tool_call_status_variants_built_in_python_encode_as_in_the_spec() -> None:
    info = UIDisplayInfo(collapsed="c")
    result = ToolCallResult(content="x", ui_display_info=info)
    result_json = {"content": "x", "ui_display_info": {"collapsed": "c", "expanded": None}}

    def status_json(status: BaseModel) -> Any:
        update = ToolCallStatusUpdate(status=status, id="call_1", originating_request_id="req_1")
        return json.loads(encode(update))["status"]

    assert status_json(Received(display_info=info)) == {
        "Received": {"display_info": {"collapsed": "c", "expanded": None}}
    }
    assert status_json(ToolCallDone(result=Ok[ToolCallResult](value=result))) == {
        "Done": {"result": {"Ok": result_json}}
    }
    assert status_json(ToolCallDone(result=Err[ToolCallResult](value=result))) == {
        "Done": {"result": {"Err": result_json}}
    }


def test_system_prompt_content_variants_encode_as_newtype_and_struct_variants() -> None:
    text = SystemPromptContribution(agent="a", key="k:v", content=Text(value="t"), priority=1, section=None)
    data = SystemPromptContribution(
        agent="a", key="k:v", content=Data(data={"x": [1]}, default_template="{{ data }}"), priority=1
    )

    assert json.loads(encode(text))["content"] == {"Text": "t"}
    assert json.loads(encode(data))["content"] == {
        "Data": {"data": {"x": [1]}, "default_template": "{{ data }}"}
    }
    assert json.loads(encode(data))["section"] is None


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [(Approved(), b'"Approved"'), (RequestChanges(changes="no"), b'{"RequestChanges":{"changes":"no"}}')],
)
def test_approval_response_is_the_bare_enum(verdict: BaseModel, expected: bytes) -> None:
    assert encode(ApprovalResponse(verdict)) == expected


def test_approval_response_accepts_a_unit_variant_written_as_an_object() -> None:
    message = decode(ApprovalResponse.TYPE, b'{"Approved": null}')

    assert encode(message) == b'"Approved"'


# --- lenient reading (PROTOCOL.md §2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_type", "payload", "expected"),
    [
        pytest.param(
            ADD_MESSAGE,
            {"agent": "aB3dE9", "message": {"role": "user", "content": "hi", "name": "bob"}, "extra": [1]},
            {"agent": "aB3dE9", "message": {"role": "user", "content": "hi"}},
            id="top level and chat message",
        ),
        pytest.param(
            StatusUpdate.TYPE,
            {"status": {"Processing": {"request_id": "req_1", "attempt": 2}}, "at": "now"},
            {"status": {"Processing": {"request_id": "req_1"}}},
            id="struct variant",
        ),
        pytest.param(
            "wasmind.common.tools.ExecuteToolCall",
            {
                "tool_call": {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}", "x": 1},
                },
                "originating_request_id": "req_1",
                "deadline": 5,
            },
            {
                "tool_call": {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                "originating_request_id": "req_1",
            },
            id="tool call and function",
        ),
        pytest.param(
            "wasmind.common.tools.ToolCallStatusUpdate",
            {
                "status": {"Received": {"display_info": {"collapsed": "c", "expanded": None, "icon": "*"}}},
                "id": "call_1",
                "originating_request_id": "req_1",
                "progress": 0.5,
            },
            {
                "status": {"Received": {"display_info": {"collapsed": "c", "expanded": None}}},
                "id": "call_1",
                "originating_request_id": "req_1",
            },
            id="tool call status",
        ),
        pytest.param(
            ApprovalResponse.TYPE,
            {"RequestChanges": {"changes": "c", "severity": "high"}},
            {"RequestChanges": {"changes": "c"}},
            id="enum payload",
        ),
    ],
)
def test_unknown_fields_are_ignored(message_type: str, payload: Any, expected: Any) -> None:
    assert round_trip(message_type, payload) == expected


@pytest.mark.parametrize(
    ("message_type", "payload", "expected"),
    [
        pytest.param(
            "wasmind.common.actors.AgentSpawned",
            {"agent_id": "000000", "name": "Root Agent", "actors": []},
            {"agent_id": "000000", "name": "Root Agent", "parent_agent": None, "actors": []},
            id="AgentSpawned.parent_agent",
        ),
        pytest.param(
            RequestStatusUpdate.TYPE,
            {"agent": "aB3dE9", "status": {"Processing": {"request_id": "req_1"}}},
            {
                "agent": "aB3dE9",
                "status": {"Processing": {"request_id": "req_1"}},
                "originating_request_id": None,
            },
            id="RequestStatusUpdate.originating_request_id",
        ),
        pytest.param(
            SystemPromptContribution.TYPE,
            {"agent": "aB3dE9", "key": "k:v", "content": {"Text": "t"}, "priority": 1},
            {"agent": "aB3dE9", "key": "k:v", "content": {"Text": "t"}, "priority": 1, "section": None},
            id="SystemPromptContribution.section",
        ),
        pytest.param(
            UserNotification.TYPE,
            {"level": "Info", "title": "t", "message": "m"},
            {"level": "Info", "title": "t", "message": "m", "source": None},
            id="UserNotification.source",
        ),
        pytest.param(
            StatusUpdate.TYPE,
            {"status": {"Wait": {"reason": {"WaitingForSystemInput": {"interruptible_by_user": False}}}}},
            {
                "status": {
                    "Wait": {
                        "reason": {
                            "WaitingForSystemInput": {"required_scope": None, "interruptible_by_user": False}
                        }
                    }
                }
            },
            id="WaitingForSystemInput.required_scope",
        ),
        pytest.param(
            StatusUpdate.TYPE,
            {
                "status": {
                    "Wait": {
                        "reason": {
                            "WaitingForAgentCoordination": {
                                "originating_request_id": "req_1",
                                "coordinating_tool_name": "wait",
                                "user_can_interrupt": True,
                            }
                        }
                    }
                }
            },
            {
                "status": {
                    "Wait": {
                        "reason": {
                            "WaitingForAgentCoordination": {
                                "originating_request_id": "req_1",
                                "coordinating_tool_name": "wait",
                                "target_agent_scope": None,
                                "user_can_interrupt": True,
                            }
                        }
                    }
                }
            },
            id="WaitingForAgentCoordination.target_agent_scope",
        ),
        pytest.param(
            StatusUpdate.TYPE,
            {
                "status": {
                    "Wait": {
                        "reason": {
                            "WaitingForTools": {
                                "originating_request_id": "req_1",
                                "tool_calls": {"c": {"tool_call": {"id": "c", "function": {"name": "f"}}}},
                            }
                        }
                    }
                }
            },
            {
                "status": {
                    "Wait": {
                        "reason": {
                            "WaitingForTools": {
                                "originating_request_id": "req_1",
                                "tool_calls": {
                                    "c": {
                                        "tool_call": {
                                            "id": "c",
                                            "type": "function",
                                            "function": {"name": "f", "arguments": ""},
                                        },
                                        "result": None,
                                    }
                                },
                            }
                        }
                    }
                }
            },
            id="PendingToolCall.result",
        ),
        pytest.param(
            "wasmind.common.tools.ToolCallStatusUpdate",
            {
                "status": {"AwaitingSystem": {"details": {"ui_display_info": {"collapsed": "c"}}}},
                "id": "call_1",
                "originating_request_id": "req_1",
            },
            {
                "status": {
                    "AwaitingSystem": {
                        "details": {
                            "required_scope": None,
                            "ui_display_info": {"collapsed": "c", "expanded": None},
                        }
                    }
                },
                "id": "call_1",
                "originating_request_id": "req_1",
            },
            id="AwaitingSystemDetails.required_scope and UIDisplayInfo.expanded",
        ),
    ],
)
def test_missing_option_fields_read_as_none_and_encode_as_null(
    message_type: str, payload: Any, expected: Any
) -> None:
    assert round_trip(message_type, payload) == expected


def test_missing_option_fields_are_none_on_the_model() -> None:
    message = decode(
        SystemPromptContribution.TYPE, b'{"agent":"a","key":"k:v","content":{"Text":"t"},"priority":1}'
    )

    assert isinstance(message, SystemPromptContribution)
    assert message.section is None


# --- Section (PROTOCOL.md §3.2) ------------------------------------------------------------------

BUILTIN_ORDER = [name for name, _ in BUILTIN_SECTIONS]


def test_builtin_sections_are_listed_in_the_spec_order() -> None:
    assert BUILTIN_SECTIONS == (
        ("identity", "Identity"),
        ("context", "Context"),
        ("capabilities", "Capabilities"),
        ("guidelines", "Guidelines"),
        ("tools", "Tools"),
        ("instructions", "Instructions"),
        ("system_context", "System Context"),
    )


@pytest.mark.parametrize("spelling", ["tools", "Tools", "TOOLS", "tOoLs"])
def test_builtin_section_names_parse_case_insensitively(spelling: str) -> None:
    section = Section(spelling)

    assert section.builtin
    assert section == Section("tools")
    assert str(section) == "tools"
    assert section.display_name == "Tools"


@pytest.mark.parametrize("spelling", ["system_context", "system-context", "System-Context", "SYSTEM_CONTEXT"])
def test_system_context_accepts_underscore_and_hyphen(spelling: str) -> None:
    section = Section(spelling)

    assert section.builtin
    assert str(section) == "system_context"
    assert section.display_name == "System Context"


@pytest.mark.parametrize(
    "name", ["Current Plan", "FilesReadAndEdited", "default", "Tools ", "system context", "ümlaut"]
)
def test_other_section_names_are_custom_with_their_case_preserved(name: str) -> None:
    section = Section(name)

    assert not section.builtin
    assert str(section) == name
    assert section.display_name == name
    assert repr(section) == f"Section.Custom({name!r})"


@pytest.mark.parametrize(
    ("written", "encoded"),
    [
        ("TOOLS", "tools"),
        ("system-context", "system_context"),
        ("Identity", "identity"),
        ("Current Plan", "Current Plan"),
    ],
)
def test_sections_encode_in_their_serialized_form(written: str, encoded: str) -> None:
    payload = {"agent": "a", "key": "k:v", "content": {"Text": "t"}, "priority": 0, "section": written}

    assert round_trip(SystemPromptContribution.TYPE, payload)["section"] == encoded


def test_sections_sort_builtins_in_declaration_order_then_customs_bytewise() -> None:
    expected = [*BUILTIN_ORDER, "Current Plan", "FilesReadAndEdited", "default"]
    shuffled = ["default", "tools", "FilesReadAndEdited", "IDENTITY", "system-context", "Current Plan"]
    shuffled += ["instructions", "Guidelines", "capabilities", "context"]

    assert [str(section) for section in sorted(map(Section, shuffled))] == expected
    assert Section("Current Plan") < Section("FilesReadAndEdited") < Section("default")
    assert Section("system_context") < Section("AAA")


def test_a_non_string_section_is_a_decode_error_naming_the_type() -> None:
    payload = b'{"agent":"a","key":"k:v","content":{"Text":"t"},"priority":0,"section":7}'

    with pytest.raises(MessageDecodeError, match=r"SystemPromptContribution.*section"):
        decode(SystemPromptContribution.TYPE, payload)


section_names = st.one_of(
    st.sampled_from([*BUILTIN_ORDER, "system-context", "TOOLS", "Identity", "Current Plan", "default"]),
    st.text(max_size=8),
)


@PROPERTY
@given(section_names, section_names, section_names)
def test_section_ordering_is_a_total_order(a_name: str, b_name: str, c_name: str) -> None:
    a, b, c = Section(a_name), Section(b_name), Section(c_name)

    assert [a < b, a == b, b < a].count(True) == 1
    assert (a <= b) == (a < b or a == b)
    if a <= b <= c:
        assert a <= c
    if a == b:
        assert hash(a) == hash(b)
        assert str(a) == str(b)


@PROPERTY
@given(section_names, section_names)
def test_section_order_puts_builtins_first_and_customs_bytewise(a_name: str, b_name: str) -> None:
    a, b = Section(a_name), Section(b_name)

    if a.builtin and b.builtin:
        assert (a < b) == (BUILTIN_ORDER.index(str(a)) < BUILTIN_ORDER.index(str(b)))
    elif a.builtin != b.builtin:
        assert (a < b) == a.builtin
    else:
        assert (a < b) == (str(a).encode() < str(b).encode())


@PROPERTY
@given(section_names)
def test_section_parsing_is_idempotent(name: str) -> None:
    section = Section(name)

    assert Section(str(section)) == section


# --- the LLM HTTP call (PROTOCOL.md §5) ----------------------------------------------------------

CHAT_REQUEST_EXAMPLE = {
    "model": "openai/gpt-5-mini",
    "messages": [{"role": "system", "content": "<prompt>"}, {"role": "user", "content": "hello"}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "execute_bash",
                "description": "<text>",
                "parameters": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                },
            },
        }
    ],
}


def test_chat_request_example_round_trips() -> None:
    request = ChatRequest.model_validate_json(wire(CHAT_REQUEST_EXAMPLE))

    assert request.model_dump_json().encode() == wire(CHAT_REQUEST_EXAMPLE)


def test_chat_request_omits_tools_when_none_but_keeps_an_empty_list() -> None:
    messages: list[Any] = [SystemChatMessage(content="p"), UserChatMessage(content="hello")]

    assert json.loads(ChatRequest(model="m", messages=messages).model_dump_json()) == {
        "model": "m",
        "messages": [{"role": "system", "content": "p"}, {"role": "user", "content": "hello"}],
    }
    assert json.loads(ChatRequest(model="m", messages=messages, tools=[]).model_dump_json())["tools"] == []


def chat_response(message: dict[str, Any], **extra: Any) -> bytes:
    return wire({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], **extra})


def test_chat_response_needs_only_choices_and_reads_missing_usage_as_zeros() -> None:
    response = ChatResponse.model_validate_json(chat_response({"role": "assistant", "content": "hi"}))

    assert response.usage == Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
    assert response.usage.model_dump(mode="json") == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
    }
    with pytest.raises(ValidationError):
        ChatResponse.model_validate_json(b'{"id": "x", "usage": {}}')


def test_missing_usage_is_emitted_as_zeros_in_the_response_message() -> None:
    response = ChatResponse.model_validate_json(chat_response({"role": "assistant", "content": "hi"}))
    message = response.choices[0].message
    assert isinstance(message, AssistantChatMessage)

    emitted = Response(
        message=AssistantChatMessageWithOriginatingRequestId(
            **message.model_dump(), originating_request_id="req_1"
        ),
        usage=response.usage,
    )

    assert json.loads(encode(emitted)) == {
        "message": {"content": "hi", "originating_request_id": "req_1"},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def test_chat_response_keeps_thinking_blocks_raw_whatever_their_shape() -> None:
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "thinking", "thinking": "no signature"},
        {"type": "redacted_thinking", "data": "opaque", "nested": {"a": [1, None]}},
        {},
    ]
    response = ChatResponse.model_validate_json(
        chat_response({"role": "assistant", "thinking_blocks": blocks})
    )
    message = response.choices[0].message
    assert isinstance(message, AssistantChatMessage)

    assert message.thinking_blocks == blocks
    request = ChatRequest(model="m", messages=[message])
    assert json.loads(request.model_dump_json())["messages"] == [
        {"role": "assistant", "thinking_blocks": blocks}
    ]


def test_chat_response_ignores_unknown_message_fields_and_keeps_usage_extras() -> None:
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 1,
        "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": None},
        "cost": 0.25,
    }
    body = chat_response(
        {"role": "assistant", "content": "x", "refusal": None, "annotations": []},
        id="chatcmpl-1",
        object="chat.completion",
        created=1700000000,
        model="m",
        usage=usage,
        system_fingerprint="fp_1",
    )
    response = ChatResponse.model_validate_json(body)

    assert response.choices[0].message.model_dump(mode="json") == {"content": "x"}
    assert response.usage.model_dump(mode="json") == usage
    assert response.created == 1700000000
    assert key_order(response.usage.model_dump(mode="json")) == key_order(usage)


def test_chat_message_for_llm_rejects_an_unknown_role() -> None:
    with pytest.raises(ValidationError, match="role"):
        TypeAdapter(ChatMessageForLLM).validate_python({"role": "developer", "content": "x"})


# --- decode errors -------------------------------------------------------------------------------


def test_an_unknown_type_is_a_decode_error_naming_the_type() -> None:
    with pytest.raises(MessageDecodeError, match=r"unknown message type 'acme\.things\.Widget'"):
        decode("acme.things.Widget", b"{}")


@pytest.mark.parametrize("payload", [b"{not json", b"", b'{"agent": "a",', b"\xff\xfe{}"], ids=repr)
def test_invalid_json_is_a_decode_error_naming_the_type(payload: bytes) -> None:
    with pytest.raises(
        MessageDecodeError, match=r"invalid wasmind\.common\.assistant\.AddMessage payload: .*JSON"
    ):
        decode(ADD_MESSAGE, payload)


@pytest.mark.parametrize(
    ("message_type", "payload", "mentions"),
    [
        (ADD_MESSAGE, b'{"message": {"role": "user", "content": "x"}}', "agent"),
        (ADD_MESSAGE, b'{"agent": "a", "message": {"role": "robot", "content": "x"}}', "robot"),
        (ADD_MESSAGE, b"null", "payload"),
        (ADD_MESSAGE, b"[1, 2]", "payload"),
        (StatusUpdate.TYPE, b'{"status": {"Sleeping": {}}}', "Sleeping"),
        (StatusUpdate.TYPE, b'{"status": "Processing"}', "Processing"),
        (StatusUpdate.TYPE, b'{"status": {"Wait": {"reason": "WaitingForGodot"}}}', "WaitingForGodot"),
        (StatusUpdate.TYPE, b'{"status": {"Done": {"result": {"Maybe": 1}}}}', "Maybe"),
        (UserNotification.TYPE, b'{"level": "Debug", "title": "t", "message": "m", "source": null}', "level"),
        (ApprovalResponse.TYPE, b'"Rejected"', "Rejected"),
        (
            "delegation_network.delegation_network_coordinator.AgentSpawned",
            b'{"agent_type": "Boss", "agent_id": "a"}',
            "agent_type",
        ),
    ],
)
def test_a_wrong_shape_is_a_decode_error_naming_the_type_and_the_problem(
    message_type: str, payload: bytes, mentions: str
) -> None:
    with pytest.raises(MessageDecodeError) as caught:
        decode(message_type, payload)

    text = str(caught.value)
    assert text.startswith(f"invalid {message_type} payload: ")
    assert mentions in text


def test_decode_errors_are_value_errors_without_a_chained_validation_error() -> None:
    with pytest.raises(ValueError) as caught:
        decode(ADD_MESSAGE, b"{}")

    assert isinstance(caught.value, MessageDecodeError)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_decode_errors_list_at_most_three_problems_and_count_the_rest() -> None:
    payload = wire({"agent_id": 1, "name": 2, "parent_agent": 3, "actors": 4})

    with pytest.raises(MessageDecodeError, match=r"\(\+1 more\)$"):
        decode("wasmind.common.actors.AgentSpawned", payload)


# --- generated round trips -----------------------------------------------------------------------

text = st.text(max_size=20)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
tool_calls = st.builds(
    lambda call_id, name, arguments, index: {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
        **({} if index is None else {"index": index}),
    },
    text,
    text,
    text,
    st.none() | st.integers(0, 2**31 - 1),
)
thinking_blocks = st.dictionaries(text, json_values, max_size=3)


@st.composite
def assistant_messages(draw: st.DrawFn) -> dict[str, Any]:
    """An assistant chat message in which every optional field may be absent (never ``null``)."""
    optional = {
        "content": text,
        "tool_calls": st.lists(tool_calls, max_size=3),
        "reasoning_content": text,
        "thinking_blocks": st.lists(thinking_blocks, max_size=2),
        "provider_specific_fields": json_values.filter(lambda value: value is not None),
    }
    message: dict[str, Any] = {"role": "assistant"}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            message[key] = draw(strategy)
    return message


chat_messages_for_llm = st.one_of(
    st.builds(lambda content: {"role": "system", "content": content}, text),
    st.builds(lambda content: {"role": "user", "content": content}, text),
    assistant_messages(),
    st.builds(
        lambda call_id, name, content: {
            "role": "tool",
            "tool_call_id": call_id,
            "name": name,
            "content": content,
        },
        text,
        text,
        text,
    ),
)
add_messages = st.builds(
    lambda agent, message: {"agent": agent, "message": message}, text, chat_messages_for_llm
)
user_notifications = st.builds(
    lambda level, title, message, source: {
        "level": level,
        "title": title,
        "message": message,
        "source": source,
    },
    st.sampled_from(["Info", "Warning", "Error"]),
    text,
    text,
    st.none() | text,
)
display_infos = st.builds(
    lambda collapsed, expanded: {"collapsed": collapsed, "expanded": expanded}, text, st.none() | text
)
tool_call_results = st.builds(
    lambda content, info: {"content": content, "ui_display_info": info}, text, display_infos
)
tool_call_statuses = st.one_of(
    st.builds(lambda info: {"Received": {"display_info": info}}, display_infos),
    st.builds(
        lambda scope, info: {
            "AwaitingSystem": {"details": {"required_scope": scope, "ui_display_info": info}}
        },
        st.none() | text,
        display_infos,
    ),
    st.builds(lambda result: {"Done": {"result": {"Ok": result}}}, tool_call_results),
    st.builds(lambda result: {"Done": {"result": {"Err": result}}}, tool_call_results),
)
tool_call_status_updates = st.builds(
    lambda status, call_id, request_id: {
        "status": status,
        "id": call_id,
        "originating_request_id": request_id,
    },
    tool_call_statuses,
    text,
    text,
)


@pytest.mark.parametrize(
    ("message_type", "payloads"),
    [
        (ADD_MESSAGE, add_messages),
        (UserNotification.TYPE, user_notifications),
        ("wasmind.common.tools.ToolCallStatusUpdate", tool_call_status_updates),
    ],
)
@PROPERTY
@given(data=st.data())
def test_generated_payloads_round_trip_exactly(message_type: str, payloads: Any, data: st.DataObject) -> None:
    payload = data.draw(payloads)

    encoded = encode(decode(message_type, wire(payload)))

    assert json.loads(encoded) == payload
    assert key_order(json.loads(encoded)) == key_order(payload)
    assert encode(decode(message_type, encoded)) == encoded


@PROPERTY
@given(add_messages)
def test_generated_add_messages_survive_a_python_round_trip(payload: dict[str, Any]) -> None:
    message = decode(ADD_MESSAGE, wire(payload))

    rebuilt = AddMessage.model_validate(message.model_dump())

    assert rebuilt == message
    assert encode(rebuilt) == encode(message)
