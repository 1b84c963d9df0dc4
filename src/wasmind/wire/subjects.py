"""The NATS subject grammar: the one module that builds and parses subjects.

Data:     ``wasmind.<swarm>.s.<scope>.<message type tokens>``
          (a message naming an ``agent`` in its payload goes under that scope, others under the
          sender's scope, see :func:`wasmind.wire.envelope.target_scope`)
Control:  ``wasmind.<swarm>.ctl.<service>.<endpoint>`` and ``wasmind.<swarm>.ctl.host.<host id>.<verb>``
Events:   ``wasmind.<swarm>.evt.<kind>.<...>``

Message type strings keep their dots as subject separators, so
``wasmind.common.assistant.AddMessage`` to scope ``aB3dE9`` in swarm ``dev`` is
``wasmind.dev.s.aB3dE9.wasmind.common.assistant.AddMessage``. Characters that NATS does not allow
in a token (whitespace, ``*``, ``>``), control characters and ``%`` itself are written as the
``%XX`` escapes of their UTF-8 bytes (upper-case hex). Every builder checks the swarm name.
"""

import re
from functools import lru_cache

__all__ = [
    "PREFIX",
    "SubjectError",
    "all_data",
    "control",
    "data",
    "event",
    "host_control",
    "parse_data",
    "scope_wildcard",
    "type_tokens",
    "type_wildcard",
    "validate_swarm",
]

PREFIX = "wasmind"
_SWARM = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ESCAPE = re.compile(r"[\s*>%\x00-\x1f\x7f]")
_UNESCAPE = re.compile(r"(?:%[0-9A-F]{2})+")


def _escape(match: re.Match[str]) -> str:
    # UTF-8 bytes, so that non-ASCII whitespace (U+3000, U+2028, ...) still reads back as two hex digits.
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def _unescape(match: re.Match[str]) -> str:
    escaped = match.group()
    try:
        return bytes.fromhex(escaped.replace("%", "")).decode()
    except UnicodeDecodeError:  # not written by us: keep it as it came
        return escaped


class SubjectError(ValueError):
    """A subject, swarm name or message type that cannot be used on the bus."""


def validate_swarm(swarm: str) -> str:
    """Return ``swarm`` if it is a valid swarm name (``[A-Za-z0-9_-]``, 1 to 64 characters)."""
    if not _SWARM.fullmatch(swarm):
        raise SubjectError(f"invalid swarm name {swarm!r}: use 1-64 characters from [A-Za-z0-9_-]")
    return swarm


@lru_cache(maxsize=65536)
def type_tokens(message_type: str) -> str:
    """The subject tokens of a message type string (dots kept, unsafe characters escaped)."""
    tokens = message_type.split(".")
    if not message_type or any(not t for t in tokens):
        raise SubjectError(
            f"invalid message type {message_type!r}: must be non-empty dot-separated names "
            "(e.g. 'myproject.module.Type')"
        )
    return ".".join(_ESCAPE.sub(_escape, t) for t in tokens)


def _check_scope(scope: str) -> None:
    if not scope or "." in scope or _ESCAPE.search(scope):
        raise SubjectError(
            f"invalid scope {scope!r}: a scope is one subject token (6 characters [A-Za-z0-9])"
        )


@lru_cache(maxsize=65536)
def data(swarm: str, scope: str, message_type: str) -> str:
    """The subject of a message of ``message_type`` concerning ``scope``."""
    _check_scope(scope)
    return f"{PREFIX}.{validate_swarm(swarm)}.s.{scope}.{type_tokens(message_type)}"


@lru_cache(maxsize=65536)
def parse_data(subject: str) -> tuple[str, str, str]:
    """``(swarm, scope, message type)`` of a data subject (on the path of every message: cached)."""
    parts = subject.split(".", 4)
    if len(parts) != 5 or parts[0] != PREFIX or parts[2] != "s":
        raise SubjectError(f"not a data subject: {subject!r} (expected {PREFIX}.<swarm>.s.<scope>.<type>)")
    _, swarm, _, scope, tokens = parts
    return swarm, scope, _UNESCAPE.sub(_unescape, tokens)


@lru_cache(maxsize=65536)
def all_data(swarm: str) -> str:
    """Wildcard for every message of a swarm."""
    return f"{PREFIX}.{validate_swarm(swarm)}.s.>"


@lru_cache(maxsize=65536)
def scope_wildcard(swarm: str, scope: str) -> str:
    """Wildcard for every message concerning ``scope``."""
    _check_scope(scope)
    return f"{PREFIX}.{validate_swarm(swarm)}.s.{scope}.>"


@lru_cache(maxsize=65536)
def type_wildcard(swarm: str, message_type: str) -> str:
    """Wildcard for every message of ``message_type``, whatever its scope."""
    return f"{PREFIX}.{validate_swarm(swarm)}.s.*.{type_tokens(message_type)}"


def control(swarm: str, service: str, endpoint: str) -> str:
    """A control endpoint of a service (e.g. ``spawner``, ``spawn``)."""
    return f"{PREFIX}.{validate_swarm(swarm)}.ctl.{service}.{endpoint}"


def host_control(swarm: str, host_id: str, verb: str) -> str:
    """A control endpoint of one host (e.g. ``start``, ``stop``)."""
    return f"{PREFIX}.{validate_swarm(swarm)}.ctl.host.{host_id}.{verb}"


def event(swarm: str, kind: str, *tokens: str) -> str:
    """An event subject (e.g. ``event(swarm, "host", host_id, "heartbeat")``)."""
    return ".".join((PREFIX, validate_swarm(swarm), "evt", kind, *tokens))


# --- the names of JetStream resources and of the control endpoints --------------------------------

SPAWNER = "spawner"
SPAWNER_ENDPOINTS = ("spawn", "stop", "list", "tree", "parent", "draining", "shutdown")
"""Endpoints of the spawner service: ``wasmind.<swarm>.ctl.spawner.<endpoint>``."""
HOST_VERBS = ("start", "stop", "shutdown")
"""Endpoints of each host: ``wasmind.<swarm>.ctl.host.<host id>.<verb>``."""


def agents_bucket(swarm: str) -> str:
    """The JetStream KV bucket of the agent registry."""
    return f"wasmind-{validate_swarm(swarm)}-agents"


def replay_stream(swarm: str) -> str:
    """The JetStream stream holding a swarm's replayable messages (``BaseUrlUpdate``)."""
    return f"wasmind-{validate_swarm(swarm)}-replay"


def replay_wildcard(swarm: str) -> str:
    """Every subject of the replay stream."""
    return f"{PREFIX}.{validate_swarm(swarm)}.replay.>"


def replay(swarm: str, message_type: str) -> str:
    """The subject a replayable message is stored under (besides its data subject)."""
    return f"{PREFIX}.{validate_swarm(swarm)}.replay.{type_tokens(message_type)}"


def heartbeat(swarm: str, host_id: str) -> str:
    """Where a host publishes its heartbeats."""
    return event(swarm, "host", host_id, "heartbeat")


def agent_event(swarm: str, scope: str, kind: str) -> str:
    """Where an agent's lifecycle events are published (``spawned``, ``exited``, ``moved``, ``failed``)."""
    return event(swarm, "agent", scope, kind)


def error_event(swarm: str) -> str:
    """Where hosts report messages they refused."""
    return event(swarm, "error")


def parse_replay(subject: str) -> tuple[str, str]:
    """``(swarm, message type)`` of a replay-stream subject."""
    parts = subject.split(".", 3)
    if len(parts) != 4 or parts[0] != PREFIX or parts[2] != "replay":
        raise SubjectError(f"not a replay subject: {subject!r} (expected {PREFIX}.<swarm>.replay.<type>)")
    return parts[1], _UNESCAPE.sub(_unescape, parts[3])
