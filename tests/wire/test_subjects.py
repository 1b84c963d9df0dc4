"""The NATS subject grammar: building, parsing, escaping and wildcards."""

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmind.wire import subjects
from wasmind.wire.subjects import SubjectError

PROPERTY = settings(database=None, deadline=None, max_examples=300)
ADD_MESSAGE = "wasmind.common.assistant.AddMessage"


def nats_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` is one or more tokens."""
    pattern_tokens, subject_tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return index == len(pattern_tokens) - 1 and len(subject_tokens) > index
        if index >= len(subject_tokens) or (token != "*" and token != subject_tokens[index]):
            return False
    return len(subject_tokens) == len(pattern_tokens)


def assert_valid_nats_subject(subject: str) -> None:
    """What nats-server accepts for a published subject: no empty token, no wildcard, no whitespace."""
    tokens = subject.split(".")
    assert all(tokens), subject
    assert not any(character.isspace() for character in subject), subject
    assert "*" not in subject, subject
    assert ">" not in subject, subject


# --- data subjects -------------------------------------------------------------------------------


def test_data_subject_puts_the_type_tokens_after_swarm_and_scope() -> None:
    assert (
        subjects.data("dev", "aB3dE9", ADD_MESSAGE)
        == "wasmind.dev.s.aB3dE9.wasmind.common.assistant.AddMessage"
    )


def test_parse_data_returns_swarm_scope_and_type() -> None:
    assert subjects.parse_data("wasmind.dev.s.aB3dE9.wasmind.common.assistant.AddMessage") == (
        "dev",
        "aB3dE9",
        ADD_MESSAGE,
    )


def test_a_single_token_type_is_a_valid_type() -> None:
    subject = subjects.data("dev", "000000", "Ping")

    assert subject == "wasmind.dev.s.000000.Ping"
    assert subjects.parse_data(subject) == ("dev", "000000", "Ping")


@pytest.mark.parametrize(
    ("message_type", "tokens"),
    [
        ("acme.tools.Run*All", "acme.tools.Run%2AAll"),
        ("acme.tools.>", "acme.tools.%3E"),
        ("acme.tools.*", "acme.tools.%2A"),
        ("acme.my tool.Run", "acme.my%20tool.Run"),
        ("acme.tab\there.new\nline", "acme.tab%09here.new%0Aline"),
        ("acme.cr\rff\fvt\v", "acme.cr%0Dff%0Cvt%0B"),
        ("acme.100%.Done", "acme.100%25.Done"),
        ("acme.%2A.literal", "acme.%252A.literal"),
        ("acme.nul\x00del\x7f", "acme.nul%00del%7F"),
        ("acme.ideographic\u3000space", "acme.ideographic%E3%80%80space"),
        ("acme.line\u2028separator", "acme.line%E2%80%A8separator"),
        ("acme.no\u00a0break", "acme.no%C2%A0break"),
        ("acme.ünïcödé.Typ€", "acme.ünïcödé.Typ€"),
        ("acme.under_score-dash.Type", "acme.under_score-dash.Type"),
    ],
)
def test_unsafe_characters_are_percent_escaped_and_read_back(message_type: str, tokens: str) -> None:
    subject = subjects.data("dev", "aB3dE9", message_type)

    assert subjects.type_tokens(message_type) == tokens
    assert subject == f"wasmind.dev.s.aB3dE9.{tokens}"
    assert_valid_nats_subject(subject)
    assert subjects.parse_data(subject) == ("dev", "aB3dE9", message_type)


def test_lower_case_or_foreign_escapes_are_left_as_they_came() -> None:
    assert subjects.parse_data("wasmind.dev.s.aB3dE9.acme.a%2ab")[2] == "acme.a%2ab"
    assert subjects.parse_data("wasmind.dev.s.aB3dE9.acme.bad%FF")[2] == "acme.bad%FF"
    assert subjects.parse_data("wasmind.dev.s.aB3dE9.acme.%4")[2] == "acme.%4"


@pytest.mark.parametrize("message_type", ["", ".", "a.", ".a", "a..b", "wasmind.common..Exit"])
def test_empty_type_tokens_are_rejected(message_type: str) -> None:
    with pytest.raises(SubjectError, match="invalid message type"):
        subjects.data("dev", "aB3dE9", message_type)
    with pytest.raises(SubjectError, match="invalid message type"):
        subjects.type_wildcard("dev", message_type)


@pytest.mark.parametrize("scope", ["", "aB.dE9", "aB dE9", "*", ">", "a%b", "tab\t", "nl\n"])
def test_a_scope_that_is_not_one_safe_token_is_rejected(scope: str) -> None:
    with pytest.raises(SubjectError, match="invalid scope"):
        subjects.data("dev", scope, ADD_MESSAGE)
    with pytest.raises(SubjectError, match="invalid scope"):
        subjects.scope_wildcard("dev", scope)


@pytest.mark.parametrize("swarm", ["", "a.b", "a b", "*", ">", "dev*", "x" * 65, "prød", "tab\t", "%41"])
def test_bad_swarm_names_are_rejected_by_every_builder(swarm: str) -> None:
    builders: list[Callable[[], str]] = [
        lambda: subjects.validate_swarm(swarm),
        lambda: subjects.data(swarm, "aB3dE9", ADD_MESSAGE),
        lambda: subjects.all_data(swarm),
        lambda: subjects.scope_wildcard(swarm, "aB3dE9"),
        lambda: subjects.type_wildcard(swarm, ADD_MESSAGE),
        lambda: subjects.control(swarm, "spawner", "spawn"),
        lambda: subjects.host_control(swarm, "h1", "start"),
        lambda: subjects.event(swarm, "host", "h1", "heartbeat"),
    ]
    for build in builders:
        with pytest.raises(SubjectError, match="invalid swarm name"):
            build()


@pytest.mark.parametrize("swarm", ["dev", "D", "my-run_2", "x" * 64, "0", "-", "_"])
def test_good_swarm_names_are_accepted(swarm: str) -> None:
    assert subjects.validate_swarm(swarm) == swarm
    assert subjects.parse_data(subjects.data(swarm, "aB3dE9", ADD_MESSAGE))[0] == swarm


@pytest.mark.parametrize(
    "subject",
    [
        "wasmind.dev.ctl.spawner.spawn",
        "wasmind.dev.evt.host.h1.heartbeat",
        "other.dev.s.aB3dE9.acme.Type",
        "wasmind.dev.s.aB3dE9",
        "wasmind.dev.s",
        "wasmind",
        "",
    ],
)
def test_parse_data_rejects_what_is_not_a_data_subject(subject: str) -> None:
    with pytest.raises(SubjectError, match="not a data subject"):
        subjects.parse_data(subject)


def test_subject_errors_are_value_errors() -> None:
    assert issubclass(SubjectError, ValueError)


# --- wildcards, control and events ---------------------------------------------------------------


def test_wildcard_helpers_build_the_documented_patterns() -> None:
    assert subjects.all_data("dev") == "wasmind.dev.s.>"
    assert subjects.scope_wildcard("dev", "aB3dE9") == "wasmind.dev.s.aB3dE9.>"
    assert subjects.type_wildcard("dev", "wasmind.common.assistant.Response") == (
        "wasmind.dev.s.*.wasmind.common.assistant.Response"
    )
    assert subjects.type_wildcard("dev", "acme.a b") == "wasmind.dev.s.*.acme.a%20b"


def test_wildcards_match_exactly_the_intended_data_subjects() -> None:
    response = subjects.data("dev", "aB3dE9", "wasmind.common.assistant.Response")
    other_scope = subjects.data("dev", "Zz9Yy8", "wasmind.common.assistant.Response")
    longer_type = subjects.data("dev", "aB3dE9", "wasmind.common.assistant.Response.Extra")
    other_swarm = subjects.data("prod", "aB3dE9", "wasmind.common.assistant.Response")
    control = subjects.control("dev", "spawner", "spawn")

    every_response = subjects.type_wildcard("dev", "wasmind.common.assistant.Response")
    assert [nats_matches(every_response, s) for s in (response, other_scope, longer_type, other_swarm)] == [
        True,
        True,
        False,
        False,
    ]
    scope = subjects.scope_wildcard("dev", "aB3dE9")
    assert [nats_matches(scope, s) for s in (response, other_scope, longer_type, other_swarm)] == [
        True,
        False,
        True,
        False,
    ]
    everything = subjects.all_data("dev")
    assert [nats_matches(everything, s) for s in (response, other_scope, other_swarm, control)] == [
        True,
        True,
        False,
        False,
    ]


def test_control_and_event_subjects_follow_the_grammar() -> None:
    assert subjects.control("dev", "spawner", "spawn") == "wasmind.dev.ctl.spawner.spawn"
    assert subjects.host_control("dev", "h-1", "stop") == "wasmind.dev.ctl.host.h-1.stop"
    assert subjects.event("dev", "host", "h-1", "heartbeat") == "wasmind.dev.evt.host.h-1.heartbeat"
    assert subjects.event("dev", "agents") == "wasmind.dev.evt.agents"


# --- properties ----------------------------------------------------------------------------------

swarms = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
scopes = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), min_size=6, max_size=6
)
# Any character but the separator, with the ones that need escaping (incl. non-ASCII whitespace) made likely.
# (A list of characters, not st.text: text() merges the alphabets and then hardly draws the sampled ones.)
NEEDS_ESCAPING = "*>% \t\r\n\x00\x1f\x7f\x85\xa0\u2028\u3000"
type_names = st.lists(
    st.one_of(st.characters(exclude_characters="."), st.sampled_from(NEEDS_ESCAPING)), min_size=1, max_size=12
).map("".join)
message_types = st.lists(type_names, min_size=1, max_size=5).map(".".join)


@PROPERTY
@given(swarms, scopes, message_types)
def test_parse_data_inverts_data_for_any_valid_type(swarm: str, scope: str, message_type: str) -> None:
    assert subjects.parse_data(subjects.data(swarm, scope, message_type)) == (swarm, scope, message_type)


@PROPERTY
@given(swarms, scopes, message_types)
def test_data_subjects_are_valid_nats_subjects_with_one_token_per_type_name(
    swarm: str, scope: str, message_type: str
) -> None:
    subject = subjects.data(swarm, scope, message_type)

    assert_valid_nats_subject(subject)
    assert len(subject.split(".")) == 4 + len(message_type.split("."))


@PROPERTY
@given(swarms, scopes, message_types)
def test_a_data_subject_matches_its_scope_and_type_wildcards(
    swarm: str, scope: str, message_type: str
) -> None:
    subject = subjects.data(swarm, scope, message_type)

    assert nats_matches(subjects.all_data(swarm), subject)
    assert nats_matches(subjects.scope_wildcard(swarm, scope), subject)
    assert nats_matches(subjects.type_wildcard(swarm, message_type), subject)


@PROPERTY
@given(message_types, message_types)
def test_different_types_never_share_a_subject(first: str, second: str) -> None:
    if first != second:
        assert subjects.type_tokens(first) != subjects.type_tokens(second)
