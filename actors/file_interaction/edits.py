"""Search-and-replace edits and their unified diff (ACTORS.md §4.4 steps 3-4). Pure Python."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SHOWN_CHARS = 200
"""Longer search strings are cut to this many characters in error messages."""
CONTEXT_LINES = 10


class EditError(Exception):
    """An edit cannot be applied; the text is what the LLM sees."""


@dataclass(frozen=True)
class Edit:
    """Replace ``old_string`` by ``new_string`` (every occurrence with ``replace_all``)."""

    old_string: str
    new_string: str
    replace_all: bool = False


def shown(text: str) -> str:
    """A search string as error messages show it: quoted with ``\\n`` and ``\\t`` visible, or, when
    longer than 200 characters, its first 200 characters and its length (counted in characters)."""
    if len(text) > SHOWN_CHARS:
        return f'"{text[:SHOWN_CHARS]}..." (truncated, {len(text)} chars total)'
    return '"' + text.replace("\n", "\\n").replace("\t", "\\t") + '"'


def apply_edit(text: str, edit: Edit) -> str:
    """``text`` with one edit applied.

    Raises:
        EditError: empty ``old_string`` on a non-empty text, no match, or several matches without
            ``replace_all``.
    """
    if edit.old_string == "":
        if text:
            raise EditError(
                "Cannot use empty old_string on non-empty file. "
                "Empty old_string is only for creating new files."
            )
        return edit.new_string
    count = text.count(edit.old_string)
    if count == 0:
        raise EditError(
            f"String not found in file.\nLooking for: {shown(edit.old_string)}\n\n"
            "The string must match exactly including all whitespace and newlines."
        )
    if count > 1 and not edit.replace_all:
        raise EditError(
            f"Multiple matches found ({count} occurrences) for string:\n{shown(edit.old_string)}\n\n"
            'Either set "replace_all": true or include more context to make the string unique.'
        )
    return text.replace(edit.old_string, edit.new_string, -1 if edit.replace_all else 1)


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply ``edits`` in order, each on the result of the previous one (all or nothing).

    Raises:
        EditError: from the first edit that cannot be applied.
    """
    for edit in edits:
        text = apply_edit(text, edit)
    return text


def diff_lines(text: str) -> list[str]:
    """The lines of ``text`` split on ``\\n`` only, each keeping its ``\\n`` (the last may lack it)."""
    pieces = text.split("\n")
    last = pieces.pop()
    return [piece + "\n" for piece in pieces] + ([last] if last else [])


def unified_diff(old: str, new: str, path: str) -> str:
    """The GNU-style unified diff of ``old`` -> ``new`` with 10 lines of context, headers
    ``--- <path>`` and ``+++ <path> (modified)``; ``""`` when nothing changed. A last line without a
    newline is followed by ``\\ No newline at end of file``, as GNU diff prints it."""
    lines = difflib.unified_diff(
        diff_lines(old), diff_lines(new), fromfile=path, tofile=f"{path} (modified)", n=CONTEXT_LINES
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
