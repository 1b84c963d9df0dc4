"""Parsing the arguments of `read_file` and `edit_file` (free-form descriptions of what is wrong)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edits import Edit
from wasmind_sdk.arguments import json_type, lone_surrogate


class ParameterError(ValueError):
    """The arguments do not fit the tool's parameter schema; the text describes why."""


@dataclass(frozen=True)
class ReadParams:
    """Arguments of `read_file`: a path and an optional line range."""

    path: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class EditParams:
    """Arguments of `edit_file`: a path and the edits to apply in order."""

    path: str
    edits: list[Edit]


def _wrong_type(where: str, expected: str, value: Any) -> ParameterError:
    return ParameterError(f"invalid type for `{where}`: expected {expected}, got {json_type(value)}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong_type(where, "a string", value)
    if lone_surrogate(value):
        raise ParameterError(f"invalid unicode in `{where}`: lone surrogate escape")
    return value


def _required(arguments: dict[str, Any], key: str, where: str | None = None) -> Any:
    if arguments.get(key) is None:
        suffix = f" in `{where}`" if where else ""
        raise ParameterError(f"missing field `{key}`{suffix}")
    return arguments[key]


def _optional_integer(arguments: dict[str, Any], key: str) -> int | None:
    value = arguments.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _wrong_type(key, "an integer", value)
    return value


def parse_read(arguments: dict[str, Any]) -> ReadParams:
    """`read_file` arguments (``null`` counts as absent for the optional ones).

    Raises:
        ParameterError: ``path`` missing, or a field of the wrong type.
    """
    path = _string(_required(arguments, "path"), "path")
    return ReadParams(
        path, _optional_integer(arguments, "start_line"), _optional_integer(arguments, "end_line")
    )


def _edit(value: Any, where: str) -> Edit:
    if not isinstance(value, dict):
        raise _wrong_type(where, "an object", value)
    old = _string(_required(value, "old_string", where), f"{where}.old_string")
    new = _string(_required(value, "new_string", where), f"{where}.new_string")
    replace_all = value.get("replace_all")
    if replace_all is not None and not isinstance(replace_all, bool):
        raise _wrong_type(f"{where}.replace_all", "a boolean", replace_all)
    return Edit(old, new, bool(replace_all))


def parse_edit(arguments: dict[str, Any]) -> EditParams:
    """`edit_file` arguments.

    Raises:
        ParameterError: ``path`` or ``edits`` (or a field of an edit) missing or of the wrong type.
    """
    path = _string(_required(arguments, "path"), "path")
    edits = _required(arguments, "edits")
    if not isinstance(edits, list):
        raise _wrong_type("edits", "an array", edits)
    return EditParams(path, [_edit(edit, f"edits[{index}]") for index, edit in enumerate(edits)])
