"""Interest filters: the predicate and the subject patterns agree, and patterns route exactly once."""

from hypothesis import given
from hypothesis import strategies as st

from wasmind.config.manifest import Interest
from wasmind.runtime.bus import subject_matches
from wasmind.runtime.interest import InterestFilter
from wasmind.wire import subjects

SWARM = "t"
MINE = "aaaaaa"
TYPES = ["x.A", "x.B", "wasmind.common.actors.Exit", "y.C.D"]
type_lists = st.lists(st.sampled_from([*TYPES, "*"]), max_size=4)


@given(
    own=type_lists,
    any_=type_lists,
    message_type=st.sampled_from(TYPES),
    scope=st.sampled_from([MINE, "bbbbbb"]),
)
def test_a_message_is_wanted_exactly_when_exactly_one_pattern_routes_it(
    own: list[str], any_: list[str], message_type: str, scope: str
) -> None:
    interest = InterestFilter.from_manifest(Interest(own_scope=own, any_scope=any_), MINE)
    subject = subjects.data(SWARM, scope, message_type)
    matching = [p for p in interest.patterns(SWARM) if subject_matches(p, subject)]
    routed = [p for p in matching if interest.pattern_for(SWARM, message_type, scope) == p]
    assert interest.wants(message_type, scope) == bool(matching)
    assert len(routed) == (1 if interest.wants(message_type, scope) else 0)


def test_no_interest_declared_means_every_message_of_every_scope() -> None:
    interest = InterestFilter.from_manifest(None, MINE)
    assert interest.receives_everything
    assert interest.patterns(SWARM) == ["wasmind.t.s.>"]
    assert interest.wants("anything.At.All", "zzzzzz")


def test_own_scope_interest_ignores_other_scopes() -> None:
    interest = InterestFilter.from_manifest(Interest(own_scope=["x.A"]), MINE)
    assert interest.wants("x.A", MINE)
    assert not interest.wants("x.A", "bbbbbb")
    assert not interest.wants("x.B", MINE)
    assert interest.patterns(SWARM) == ["wasmind.t.s.aaaaaa.x.A"]
