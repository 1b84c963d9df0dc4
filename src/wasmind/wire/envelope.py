"""The message envelope and its header codec.

On NATS one message is one envelope: the payload is the message body, the envelope fields travel
in headers (names below, the one place they are defined), next to W3C trace context.
A publisher that sends only a subject and a body still works: see :func:`envelope_from_wire`.
"""

import functools
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from wasmind.wire.ids import EXTERNAL_SENDER, root_id

__all__ = [
    "HEADER_FROM_ACTOR",
    "HEADER_FROM_SCOPE",
    "HEADER_HOST",
    "HEADER_ID",
    "HEADER_REPLAYABLE",
    "NO_TRACE",
    "TRACE_HEADERS",
    "Envelope",
    "envelope_from_wire",
    "envelope_to_headers",
    "target_scope",
]

HEADER_ID = "Wasmind-Id"
HEADER_FROM_ACTOR = "Wasmind-From-Actor"
HEADER_FROM_SCOPE = "Wasmind-From-Scope"
HEADER_REPLAYABLE = "Wasmind-Replayable"
HEADER_HOST = "Wasmind-Host"
"""Set by hosts on what they publish; messages without it come from external publishers."""
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
"""W3C trace-context and baggage headers, carried unchanged next to the envelope."""


NO_TRACE: Mapping[str, str] = MappingProxyType({})
"""The ``trace`` of a message without propagation headers (shared, read-only)."""


class Envelope(NamedTuple):
    """One message on the bus (the WIT ``message-envelope`` plus transport metadata).

    ``trace`` holds the W3C propagation headers of the message (may be empty). Immutable; a named
    tuple rather than a frozen dataclass because one is built for every message a host receives
    or sends, at a quarter of the cost. Equality compares all fields.
    """

    id: str
    message_type: str
    from_actor_id: str
    from_scope: str
    payload: bytes
    replayable: bool = False
    trace: Mapping[str, str] = NO_TRACE

    def with_trace(self, trace: Mapping[str, str]) -> "Envelope":
        """A copy carrying ``trace`` as its propagation headers."""
        return self._replace(trace=dict(trace))

    def payload_text(self) -> str | None:
        """The payload as text when it is valid UTF-8, else ``None``."""
        try:
            return self.payload.decode()
        except UnicodeDecodeError:
            return None


def target_scope(envelope: Envelope) -> str:
    """The scope a message concerns: the payload's top-level ``agent`` field, else the sender's scope."""
    payload = envelope.payload
    if b'"agent"' in payload:  # cheap pre-check: most payloads never name an agent
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return envelope.from_scope
        agent = body.get("agent") if isinstance(body, dict) else None
        if isinstance(agent, str) and agent:
            return agent
    return envelope.from_scope


def envelope_to_headers(envelope: Envelope, host: str | None = None) -> dict[str, str]:
    """The NATS headers that carry ``envelope``'s fields (the message type travels in the subject)."""
    headers = {
        HEADER_ID: envelope.id,
        HEADER_FROM_ACTOR: envelope.from_actor_id,
        HEADER_FROM_SCOPE: envelope.from_scope,
    }
    if envelope.replayable:
        headers[HEADER_REPLAYABLE] = "1"
    if host is not None:
        headers[HEADER_HOST] = host
    headers.update(envelope.trace)
    return headers


_new_envelope = functools.partial(tuple.__new__, Envelope)
"""``Envelope`` from all seven fields as one tuple: what ``Envelope._make`` does, without its
Python-level checks (one per message a host receives)."""


def envelope_from_wire(
    message_type: str, subject_scope: str, headers: Mapping[str, str] | None, payload: bytes
) -> Envelope:
    """Rebuild an envelope from a received message; missing headers get the external defaults.

    Defaults: a fresh root correlation id, sender ``external``, and the subject's scope as
    ``from-scope`` (so an external ``Exit`` published under scope X ends agent X).
    """
    if not headers:
        return Envelope(root_id(), message_type, EXTERNAL_SENDER, subject_scope, payload)
    get = headers.get  # no trace copy unless there is one: the path of every message
    traced = not headers.keys().isdisjoint(TRACE_HEADERS)
    return _new_envelope(
        (
            get(HEADER_ID) or root_id(),
            message_type,
            get(HEADER_FROM_ACTOR) or EXTERNAL_SENDER,
            get(HEADER_FROM_SCOPE) or subject_scope,
            payload,
            get(HEADER_REPLAYABLE) == "1",
            {k: headers[k] for k in TRACE_HEADERS if k in headers} if traced else NO_TRACE,
        )
    )
