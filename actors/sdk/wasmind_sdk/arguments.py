"""Helpers for checking a tool call's JSON arguments and describing what was wrong."""

from __future__ import annotations

from typing import Any

__all__ = ["json_type", "lone_surrogate"]


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (``null``, ``boolean``, ``number``, ``string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def lone_surrogate(text: str) -> bool:
    """True if ``text`` holds a lone surrogate: valid as a JSON escape, but not encodable as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
