"""The envelope header codec, the target-scope rule, and the identifier formats."""

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmind.wire import ids
from wasmind.wire.envelope import (
    HEADER_FROM_ACTOR,
    HEADER_FROM_SCOPE,
    HEADER_ID,
    HEADER_REPLAYABLE,
    TRACE_HEADERS,
    Envelope,
    envelope_from_wire,
    envelope_to_headers,
    target_scope,
)

PROPERTY = settings(database=None, deadline=None, max_examples=200)
EXAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "spec_examples.json").read_text(encoding="utf-8")
)
# PROTOCOL.md §1.4: the payloads that name their target scope in a top-level `agent` field.
ADDRESSED_TYPES = {
    "wasmind.common.assistant.AddMessage",
    "wasmind.common.assistant.RequestStatusUpdate",
    "wasmind.common.assistant.QueueStatusChange",
    "wasmind.common.assistant.SystemPromptContribution",
    "wasmind.common.assistant.CompactedConversation",
}
ROOT_ID = re.compile(r"root:[A-Za-z0-9]{6}")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def envelope(**changes: Any) -> Envelope:
    base = Envelope(
        id="Q2x9Lm:k8Pz0a",
        message_type="wasmind.common.assistant.AddMessage",
        from_actor_id="wasmind:assistant",
        from_scope="Zz9Yy8",
        payload=b'{"agent":"aB3dE9","message":{"role":"user","content":"hi"}}',
    )
    return base._replace(**changes)


# --- header codec --------------------------------------------------------------------------------


def test_headers_carry_id_sender_and_scope_under_their_documented_names() -> None:
    assert envelope_to_headers(envelope()) == {
        "Wasmind-Id": "Q2x9Lm:k8Pz0a",
        "Wasmind-From-Actor": "wasmind:assistant",
        "Wasmind-From-Scope": "Zz9Yy8",
    }
    assert (HEADER_ID, HEADER_FROM_ACTOR, HEADER_FROM_SCOPE, HEADER_REPLAYABLE) == (
        "Wasmind-Id",
        "Wasmind-From-Actor",
        "Wasmind-From-Scope",
        "Wasmind-Replayable",
    )


def test_replayable_and_trace_context_travel_as_headers() -> None:
    traced = envelope(
        replayable=True, trace={"traceparent": TRACEPARENT, "tracestate": "k=v", "baggage": "a=1"}
    )

    headers = envelope_to_headers(traced)

    assert headers[HEADER_REPLAYABLE] == "1"
    assert {name: headers[name] for name in TRACE_HEADERS} == dict(traced.trace)


@pytest.mark.parametrize(
    "original",
    [
        envelope(),
        envelope(replayable=True),
        envelope(trace={"traceparent": TRACEPARENT}),
        envelope(replayable=True, trace={"traceparent": TRACEPARENT, "tracestate": "k=v", "baggage": "a=1"}),
        envelope(message_type="wasmind.common.actors.Exit", payload=b"null", from_scope="000000"),
        envelope(from_actor_id="wasmind__context", payload=b"\xff\x00 not json"),
    ],
    ids=["plain", "replayable", "traced", "everything", "exit", "binary payload"],
)
def test_envelope_round_trips_through_headers(original: Envelope) -> None:
    headers = envelope_to_headers(original)

    # The subject scope is the *target* scope and may differ from the sender's: headers win.
    rebuilt = envelope_from_wire(original.message_type, "aB3dE9", headers, original.payload)

    assert rebuilt == original


@PROPERTY
@given(
    st.text(min_size=1),
    st.text(min_size=1),
    st.text(min_size=1),
    st.binary(),
    st.booleans(),
    st.dictionaries(st.sampled_from(TRACE_HEADERS), st.text(min_size=1)),
)
def test_any_envelope_round_trips_through_headers(
    envelope_id: str, actor: str, scope: str, payload: bytes, replayable: bool, trace: dict[str, str]
) -> None:
    original = Envelope(envelope_id, "acme.Type", actor, scope, payload, replayable, trace)

    assert envelope_from_wire("acme.Type", "SUBJCT", envelope_to_headers(original), payload) == original


def test_unrelated_headers_are_not_taken_as_trace_context() -> None:
    headers = {**envelope_to_headers(envelope()), "Nats-Msg-Id": "x", "traceparent": TRACEPARENT}

    rebuilt = envelope_from_wire("acme.Type", "aB3dE9", headers, b"{}")

    assert rebuilt.trace == {"traceparent": TRACEPARENT}
    assert rebuilt.replayable is False


@pytest.mark.parametrize("value", ["0", "true", "yes", ""])
def test_only_the_value_1_marks_a_message_replayable(value: str) -> None:
    rebuilt = envelope_from_wire("acme.Type", "aB3dE9", {HEADER_REPLAYABLE: value}, b"{}")

    assert rebuilt.replayable is False


@pytest.mark.parametrize("headers", [None, {}, {HEADER_ID: "", HEADER_FROM_ACTOR: "", HEADER_FROM_SCOPE: ""}])
def test_a_message_without_envelope_headers_gets_the_external_defaults(
    headers: dict[str, str] | None,
) -> None:
    rebuilt = envelope_from_wire("wasmind.common.actors.Exit", "aB3dE9", headers, b"null")

    assert rebuilt.from_actor_id == "external" == ids.EXTERNAL_SENDER
    assert ROOT_ID.fullmatch(rebuilt.id)
    assert rebuilt.from_scope == "aB3dE9"
    assert rebuilt.message_type == "wasmind.common.actors.Exit"
    assert rebuilt.payload == b"null"
    assert rebuilt.replayable is False
    assert rebuilt.trace == {}


def test_external_messages_each_get_a_fresh_root_id() -> None:
    first = envelope_from_wire("acme.Type", "aB3dE9", None, b"{}")
    second = envelope_from_wire("acme.Type", "aB3dE9", None, b"{}")

    assert first.id != second.id


def test_partial_headers_keep_what_was_sent_and_default_the_rest() -> None:
    rebuilt = envelope_from_wire("acme.Type", "aB3dE9", {HEADER_FROM_ACTOR: "my-bot"}, b"{}")

    assert rebuilt.from_actor_id == "my-bot"
    assert rebuilt.from_scope == "aB3dE9"
    assert ROOT_ID.fullmatch(rebuilt.id)


# --- envelope helpers ----------------------------------------------------------------------------


def test_with_trace_returns_a_copy_carrying_the_trace() -> None:
    original = envelope()

    traced = original.with_trace({"traceparent": TRACEPARENT})

    assert traced.trace == {"traceparent": TRACEPARENT}
    assert original.trace == {}
    assert traced._replace(trace={}) == original


def test_envelopes_are_immutable() -> None:
    with pytest.raises(AttributeError):
        envelope().id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        envelope().trace["traceparent"] = TRACEPARENT  # type: ignore[index]


def test_payload_text_is_the_utf8_text_or_none() -> None:
    assert envelope(payload="ünï".encode()).payload_text() == "ünï"
    assert envelope(payload=b"\xff").payload_text() is None


# --- target scope (PROTOCOL.md §1.4) -------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: str(example["spec"]).removeprefix("§"))
def test_spec_examples_target_the_agent_field_or_the_sender_scope(example: dict[str, Any]) -> None:
    payload = json.dumps(example["payload"]).encode()
    message = envelope(message_type=example["type"], payload=payload, from_scope="Zz9Yy8")

    expected = example["payload"]["agent"] if example["type"] in ADDRESSED_TYPES else "Zz9Yy8"

    assert target_scope(message) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b'{"status": {"Processing": {"request_id": "req_1"}}}',
        b'{"agent": "aB3dE9", oops',
        b'["agent", "aB3dE9"]',
        b'"agent"',
        b'{"agent": 7}',
        b'{"agent": null}',
        b'{"agent": ""}',
        b'{"agent": ["aB3dE9"]}',
        b'{"nested": {"agent": "aB3dE9"}}',
        b'\xff{"agent": "aB3dE9"}',
        b"",
        b"null",
    ],
    ids=repr,
)
def test_payloads_without_a_usable_top_level_agent_target_the_sender_scope(payload: bytes) -> None:
    assert target_scope(envelope(payload=payload, from_scope="Zz9Yy8")) == "Zz9Yy8"


def test_the_agent_field_wins_wherever_it_is_in_the_object() -> None:
    payload = b'{"key": "k:v", "content": {"Text": "agent"}, "priority": 1, "agent": "aB3dE9"}'

    assert target_scope(envelope(payload=payload, from_scope="Zz9Yy8")) == "aB3dE9"


# --- identifiers (PROTOCOL.md §1.1) --------------------------------------------------------------


def test_root_ids_are_root_and_six_alphanumerics() -> None:
    assert all(ROOT_ID.fullmatch(ids.root_id()) for _ in range(50))


def test_child_id_keeps_only_the_last_segment_of_the_parent() -> None:
    child = ids.child_id("root:Q2x9Lm")

    assert child.startswith("Q2x9Lm:")
    assert re.fullmatch(r"Q2x9Lm:[A-Za-z0-9]{6}", child)
    assert len(child.split(":")) == 2
    grandchild = ids.child_id(child)
    assert grandchild.startswith(child.split(":")[1] + ":")
    assert len(grandchild.split(":")) == 2


@PROPERTY
@given(st.text())
def test_a_child_id_always_has_exactly_two_segments(parent: str) -> None:
    segments = ids.child_id(parent).split(":")

    assert len(segments) == 2
    assert segments[0] == parent.rsplit(":", 1)[-1]
    assert re.fullmatch(r"[A-Za-z0-9]{6}", segments[1])


def test_ids_drawn_past_several_refills_of_the_pool_are_well_formed_and_distinct() -> None:
    drawn = [ids.root_id() for _ in range(5000)]

    assert all(ROOT_ID.fullmatch(found) for found in drawn)
    assert len(set(drawn)) >= 4990, "62**6 possibilities: a handful of repeats at most"


def test_a_forked_child_does_not_repeat_the_ids_its_parent_draws_next() -> None:
    ids.root_id()  # the pool holds ids now
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(writer, " ".join(ids.root_id() for _ in range(20)).encode())
        os._exit(0)
    os.close(writer)
    parents = {ids.root_id() for _ in range(20)}
    with os.fdopen(reader) as pipe:
        childs = set(pipe.read().split())
    os.waitpid(child, 0)

    assert len(childs) == 20
    assert not parents & childs


def test_request_ids_are_req_and_six_alphanumerics() -> None:
    assert all(re.fullmatch(r"req_[A-Za-z0-9]{6}", ids.new_request_id()) for _ in range(50))


def test_new_scopes_are_six_alphanumerics_and_never_the_root_scope() -> None:
    scopes = [ids.new_scope() for _ in range(200)]

    assert all(ids.is_scope(scope) and scope != ids.ROOT_SCOPE for scope in scopes)


def test_new_scope_regenerates_on_the_root_scope_and_on_taken_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates: Iterator[str] = iter(["000000", "aB3dE9", "Zz9Yy8", "Fresh1"])
    monkeypatch.setattr(ids, "_random", lambda: next(candidates))

    assert ids.new_scope(taken={"aB3dE9", "Zz9Yy8"}) == "Fresh1"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("aB3dE9", True),
        ("000000", True),
        ("ZZZZZZ", True),
        ("aB3dE", False),
        ("aB3dE9x", False),
        ("aB3dE!", False),
        ("aB3d 9", False),
        ("ñB3dE9", False),
        ("", False),
    ],
)
def test_is_scope_accepts_exactly_six_ascii_alphanumerics(value: str, valid: bool) -> None:
    assert ids.is_scope(value) is valid


def test_reserved_sender_ids_are_the_original_ones() -> None:
    assert ids.ROOT_SCOPE == "000000"
    assert ids.CONTEXT_SENDER == "wasmind__context"
    assert ids.READY_SENDER == "wasmind_coordinator"
    assert ids.COORDINATOR_SENDER == "wasmind__coordinator"
    assert ids.EXTERNAL_SENDER == "external"
