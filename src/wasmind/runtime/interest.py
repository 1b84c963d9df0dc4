"""Which messages an actor instance receives, as a predicate and as subject patterns.

The two forms must agree: :meth:`InterestFilter.wants` decides local delivery, and
:meth:`InterestFilter.patterns` gives the subjects a host subscribes to for the same actor. The
patterns of one filter never overlap, so a message reaches an instance at most once.
"""

from dataclasses import dataclass

from wasmind.config.manifest import Interest
from wasmind.wire import subjects
from wasmind.wire.messages import Exit

__all__ = ["ALL_TYPES", "InterestFilter"]

ALL_TYPES = "*"


@dataclass(frozen=True)
class InterestFilter:
    """Interest of one instance in ``scope``; ``None`` sets mean "every type"."""

    scope: str
    own_types: frozenset[str] | None
    any_types: frozenset[str] | None

    @classmethod
    def everything(cls, scope: str) -> "InterestFilter":
        """The original's semantics: every message of every scope."""
        return cls(scope, frozenset(), None)

    @classmethod
    def from_manifest(cls, interest: Interest | None, scope: str) -> "InterestFilter":
        """The filter declared by a manifest (no ``[interest]``: everything)."""
        if interest is None:
            return cls.everything(scope)
        any_types = None if ALL_TYPES in interest.any_scope else frozenset(interest.any_scope)
        if any_types is None:
            return cls(scope, frozenset(), None)
        own = None if ALL_TYPES in interest.own_scope else frozenset(interest.own_scope) - any_types
        return cls(scope, own, any_types)

    @property
    def receives_everything(self) -> bool:
        """True when every message of every scope is wanted."""
        return self.any_types is None

    def wants(self, message_type: str, subject_scope: str) -> bool:
        """Whether a message of ``message_type`` published under ``subject_scope`` is delivered.

        An ``Exit`` of the instance's own scope is handled by the runtime whatever the interest.
        """
        if self.any_types is None or message_type in self.any_types:
            return True
        if subject_scope != self.scope:
            return False
        return self.own_types is None or message_type in self.own_types

    def patterns(self, swarm: str) -> list[str]:
        """Non-overlapping subject patterns covering exactly :meth:`wants`."""
        if self.any_types is None:
            return [subjects.all_data(swarm)]
        found = [subjects.type_wildcard(swarm, t) for t in sorted(self.any_types)]
        if self.own_types is None:
            found.append(subjects.scope_wildcard(swarm, self.scope))
        else:
            found.extend(subjects.data(swarm, self.scope, t) for t in sorted(self.own_types))
        return found

    def pattern_for(self, swarm: str, message_type: str, subject_scope: str) -> str | None:
        """The one pattern of :meth:`patterns` through which this instance takes such a message.

        Patterns may overlap on the wire (``s.*.T`` and ``s.<scope>.>``); delivering a message only
        through its own pattern keeps delivery exactly-once per instance.
        """
        if not self.wants(message_type, subject_scope):
            return None
        if self.any_types is None:
            return subjects.all_data(swarm)
        if message_type in self.any_types:
            return subjects.type_wildcard(swarm, message_type)
        if self.own_types is None:
            return subjects.scope_wildcard(swarm, self.scope)
        return subjects.data(swarm, self.scope, message_type)

    @staticmethod
    def lifecycle_pattern(swarm: str, scope: str) -> str:
        """The subject a host needs for every local agent whatever its actors declare: its ``Exit``."""
        return subjects.data(swarm, scope, Exit.TYPE)
