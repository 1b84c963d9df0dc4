"""The checked-in JSON Schemas: up to date with the models, and accepting every spec example."""

import json
from pathlib import Path
from typing import Any

import pytest

from wasmind.wire import schemas
from wasmind.wire.messages import MESSAGE_TYPES, decode, encode

REPO = Path(__file__).parents[2]
SCHEMA_DIR = REPO / "schemas"
EXAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "spec_examples.json").read_text(encoding="utf-8")
)
METADATA = {"$schema", "$id", "title", "description"}
"""The keys the generator sets on top of the model's schema."""
UNIT_TYPES = [
    "wasmind.common.actors.ActorReady",
    "wasmind.common.actors.AllActorsReady",
    "wasmind.common.actors.Exit",
]


# --- a JSON Schema validator for the keywords pydantic emits -------------------------------------
# Small on purpose (no new dependency); it refuses keywords it does not know, so a schema using
# more than this subset fails loudly instead of validating everything.

_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "default", "examples"}
_ASSERTIONS = {
    "$ref",
    "type",
    "const",
    "enum",
    "anyOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not JSON data: {value!r}")


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ``==``, ``true`` is not ``1``."""
    if _json_type(a) in ("integer", "number") and _json_type(b) in ("integer", "number"):
        return bool(a == b)
    if _json_type(a) != _json_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[key], b[key]) for key in a)
    return bool(a == b)


def schema_errors(instance: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Why ``instance`` does not validate against ``schema`` (empty: it validates)."""
    unknown = set(schema) - _ANNOTATIONS - _ASSERTIONS
    if unknown:
        raise AssertionError(f"the test validator does not know the keyword(s) {sorted(unknown)} (at {at})")
    errors: list[str] = []
    if "$ref" in schema:
        ref: str = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise AssertionError(f"the test validator resolves only local $defs references, not {ref!r}")
        errors += schema_errors(instance, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    kind = _json_type(instance)
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not (kind in allowed or (kind == "integer" and "number" in allowed)):
            return [*errors, f"{at}: expected {' or '.join(allowed)}, got {kind}"]
    if "const" in schema and not _json_equal(instance, schema["const"]):
        errors.append(f"{at}: expected {schema['const']!r}, got {instance!r}")
    if "enum" in schema and not any(_json_equal(instance, option) for option in schema["enum"]):
        errors.append(f"{at}: {instance!r} is not one of {schema['enum']!r}")
    if "anyOf" in schema:
        branches = [schema_errors(instance, option, root, at) for option in schema["anyOf"]]
        if all(branches):
            errors.append(f"{at}: matches no anyOf branch: {branches}")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        errors += [
            f"{at}: missing required {key!r}" for key in schema.get("required", []) if key not in instance
        ]
        for key, value in instance.items():
            if key in properties:
                errors += schema_errors(value, properties[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected key {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(value, schema["additionalProperties"], root, f"{at}.{key}")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], root, f"{at}[{index}]")
    return errors


def committed_schema(message_type: str) -> dict[str, Any]:
    path = SCHEMA_DIR / schemas.MESSAGES_DIR / f"{message_type}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def example_id(example: dict[str, Any]) -> str:
    return str(example["spec"]).removeprefix("§")


# --- the committed files -------------------------------------------------------------------------


def test_committed_schemas_are_up_to_date() -> None:
    generated = schemas.generate()
    messages_dir = SCHEMA_DIR / schemas.MESSAGES_DIR
    committed = {
        f"{schemas.MESSAGES_DIR}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(messages_dir.glob("*.json"))
    }

    stale = sorted(
        path for path in generated.keys() | committed.keys() if generated.get(path) != committed.get(path)
    )
    assert not stale, f"schemas are stale: run `make schemas` (differing: {', '.join(stale)})"


def test_there_is_one_schema_file_per_message_type_named_after_the_type() -> None:
    assert sorted(schemas.generate()) == sorted(
        f"messages/{message_type}.json" for message_type in MESSAGE_TYPES
    )


def test_generation_is_deterministic_with_sorted_keys_two_space_indent_and_a_final_newline() -> None:
    first, second = schemas.generate(), schemas.generate()

    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert not text.endswith("\n\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("message_type", sorted(MESSAGE_TYPES))
def test_every_schema_names_its_type_and_describes_it(message_type: str) -> None:
    schema = json.loads(schemas.generate()[f"messages/{message_type}.json"])

    assert schema["$id"] == f"urn:wasmind:schema:message:{message_type}"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == message_type
    docstring = MESSAGE_TYPES[message_type].__doc__ or ""
    assert schema["description"].startswith(docstring.strip().splitlines()[0])


@pytest.mark.parametrize("message_type", UNIT_TYPES)
def test_unit_message_schemas_are_null_and_say_any_payload_is_accepted(message_type: str) -> None:
    schema = committed_schema(message_type)

    assert {key: value for key, value in schema.items() if key not in METADATA} == {"type": "null"}
    assert "readers accept any payload" in schema["description"]


def test_struct_schemas_come_from_the_validation_mode_model_schema() -> None:
    cls = MESSAGE_TYPES["wasmind.common.assistant.SystemPromptContribution"]
    schema = committed_schema("wasmind.common.assistant.SystemPromptContribution")

    expected = cls.model_json_schema(mode="validation")
    assert {key: value for key, value in schema.items() if key not in METADATA} == {
        key: value for key, value in expected.items() if key not in METADATA
    }
    # Readers accept a missing Option field, so the schema does not require it.
    assert "section" not in schema["required"]


# --- the spec examples against the committed schemas ---------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_every_spec_example_validates_against_its_schema(example: dict[str, Any]) -> None:
    schema = committed_schema(example["type"])

    assert schema_errors(example["payload"], schema, schema) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_what_our_encoder_writes_validates_against_the_schema(example: dict[str, Any]) -> None:
    schema = committed_schema(example["type"])
    written = json.loads(encode(decode(example["type"], json.dumps(example["payload"]).encode())))

    assert schema_errors(written, schema, schema) == []


@pytest.mark.parametrize(
    ("message_type", "payload", "problem"),
    [
        ("wasmind.common.actors.Exit", {}, "expected null"),
        (
            "wasmind.common.assistant.AddMessage",
            {"message": {"role": "user", "content": "x"}},
            "missing required 'agent'",
        ),
        (
            "wasmind.common.assistant.AddMessage",
            {"agent": "a", "message": {"role": "robot", "content": "x"}},
            "anyOf",
        ),
        ("wasmind.common.assistant.StatusUpdate", {"status": {"Sleeping": {}}}, "anyOf"),
        ("wasmind.common.assistant.StatusUpdate", {"status": "Processing"}, "anyOf"),
        (
            "wasmind.common.assistant.StatusUpdate",
            {"status": {"Wait": {"reason": "WaitingForGodot"}}},
            "anyOf",
        ),
        (
            "wasmind.common.assistant.StatusUpdate",
            {"status": {"Processing": {"request_id": "r"}, "Wait": {"reason": "WaitingForUserInput"}}},
            "anyOf",
        ),
        (
            "wasmind.common.ui.UserNotification",
            {"level": "Debug", "title": "t", "message": "m"},
            "not one of",
        ),
        (
            "wasmind.common.litellm.BaseUrlUpdate",
            {"base_url": "u", "models_available": "gpt"},
            "expected array",
        ),
        (
            "wasmind.common.assistant.SystemPromptContribution",
            {"agent": "a", "key": "k", "content": {"Text": "t"}, "priority": "high"},
            "expected integer",
        ),
        ("code_with_experts.common.ApprovalResponse", "Rejected", "anyOf"),
        (
            "delegation_network.delegation_network_coordinator.AgentSpawned",
            {"agent_type": "Worker", "agent_id": True},
            "expected string",
        ),
    ],
)
def test_schemas_reject_payloads_our_readers_reject(message_type: str, payload: Any, problem: str) -> None:
    schema = committed_schema(message_type)

    errors = schema_errors(payload, schema, schema)

    assert errors
    assert problem in " ".join(errors)


def test_schemas_allow_unknown_fields_and_missing_option_fields_like_our_readers() -> None:
    schema = committed_schema("wasmind.common.actors.AgentSpawned")
    payload = {"agent_id": "000000", "name": "Root Agent", "actors": [], "spawned_at": 1}

    assert schema_errors(payload, schema, schema) == []
    decode("wasmind.common.actors.AgentSpawned", json.dumps(payload).encode())


# --- the generator command -----------------------------------------------------------------------


def test_main_writes_every_schema_and_removes_stale_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages_dir = tmp_path / "messages"
    messages_dir.mkdir()
    (messages_dir / "acme.Gone.json").write_text("{}\n", encoding="utf-8")
    (messages_dir / "notes.txt").write_text("kept\n", encoding="utf-8")

    assert schemas.main([str(tmp_path)]) == 0

    written = {
        f"messages/{path.name}": path.read_text(encoding="utf-8") for path in messages_dir.glob("*.json")
    }
    assert written == schemas.generate()
    assert (messages_dir / "notes.txt").exists()
    output = capsys.readouterr().out
    assert f"removed {messages_dir / 'acme.Gone.json'}" in output
    assert f"{len(MESSAGE_TYPES)} written, 1 removed" in output


def test_main_leaves_up_to_date_files_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schemas.main([str(tmp_path)])
    capsys.readouterr()
    target = tmp_path / "messages" / "wasmind.common.actors.Exit.json"
    target.write_text("outdated\n", encoding="utf-8")

    assert schemas.main([str(tmp_path)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"wrote {target}",
        f"{len(MESSAGE_TYPES)} message schemas in {tmp_path / 'messages'}: 1 written, 0 removed",
    ]


def test_main_rejects_more_than_one_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["a", "b"]) == 2
    assert "usage" in capsys.readouterr().err


def test_a_message_model_without_a_docstring_cannot_get_a_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmind.wire.messages import Message

    class Undocumented(Message):
        TYPE = "acme.Undocumented"

    monkeypatch.setitem(MESSAGE_TYPES, Undocumented.TYPE, Undocumented)

    with pytest.raises(ValueError, match=r"Undocumented \(acme\.Undocumented\) has no docstring"):
        schemas.generate()
