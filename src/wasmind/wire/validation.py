"""Checking messages from external publishers before any actor sees them."""

from wasmind.wire.messages import MESSAGE_TYPES, MessageDecodeError, decode

__all__ = ["RESERVED_PREFIX", "checks_content", "payload_problem"]

RESERVED_PREFIX = "wasmind.common."
"""Message types under this prefix are ours: unknown ones are refused (custom types pass unchecked)."""


def checks_content(message_type: str) -> bool:
    """Whether :func:`payload_problem` looks at more than a payload's size for this type."""
    return message_type in MESSAGE_TYPES or message_type.startswith(RESERVED_PREFIX)


def payload_problem(message_type: str, payload: bytes, max_payload: int) -> str | None:
    """Why a message must be refused, or ``None`` when it may be delivered.

    Known types are parsed with their model; unknown types in our namespace are refused; other
    custom types may carry anything.
    """
    if len(payload) > max_payload:
        return f"payload of {len(payload)} bytes exceeds the limit of {max_payload}"
    if message_type in MESSAGE_TYPES:
        try:
            decode(message_type, payload)
        except MessageDecodeError as error:
            return str(error)
        return None
    if message_type.startswith(RESERVED_PREFIX):
        return f"unknown message type {message_type!r} (no such type in the wasmind.common namespace)"
    return None
