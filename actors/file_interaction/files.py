"""`read_file` and `edit_file` against the guest's file system, with the read cache (ACTORS.md §4.3, §4.4).

Every method returns a :class:`Reply` or raises :class:`Failure`; both carry the exact texts for the
LLM and the UI. The actor (``app.py``) only routes messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edits import EditError, apply_edits, unified_diff
from file_cache import (
    MAX_FILE_SIZE,
    SMALL_FILE_SIZE,
    Entry,
    FileCache,
    Full,
    Partial,
    Stamp,
    normalise,
    range_slice,
    text_lines,
)
from params import EditParams, ReadParams

READ_SUFFIX = " -- Check the FilesReadAndEdited section in the SystemPrompt to see the contents"
EDIT_SUFFIX = " -- Check the FilesReadAndEdited section in the SystemPrompt to see the updated edited file"


@dataclass(frozen=True)
class Reply:
    """A successful answer: LLM content and UI texts."""

    content: str
    collapsed: str
    expanded: str


class Failure(Exception):
    """A failed call: the LLM content and the UI texts of the ``Err`` result."""

    def __init__(self, content: str, collapsed: str, expanded: str) -> None:
        super().__init__(content)
        self.content = content
        self.collapsed = collapsed
        self.expanded = expanded


class ToolError(Exception):
    """A failure whose UI texts are the operation's generic ones; the text is for the LLM."""


def reason(error: OSError) -> str:
    """The OS's description of ``error``."""
    return error.strerror or str(error)


def stamp_of(path: str, shown: str) -> Stamp | None:
    """The stamp of the file at ``path``; ``None`` when it does not exist.

    Raises:
        ToolError: the file exists but cannot be inspected.
    """
    try:
        status = Path(path).stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise ToolError(f"Failed to read file '{shown}': {reason(error)}") from None
    return Stamp(status.st_mtime_ns, status.st_size)


def read_text(path: str, shown: str) -> str:
    """The file's text (strict UTF-8).

    Raises:
        ToolError: ``Failed to read file '<shown>': <reason>``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ToolError(f"Failed to read file '{shown}': {reason(error)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"Failed to read file '{shown}': stream did not contain valid UTF-8") from None


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, creating its parent directories.

    Raises:
        ToolError: ``Failed to create directory: <reason>`` or ``Failed to write file: <reason>``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ToolError(f"Failed to create directory: {reason(error)}") from None
    try:
        target.write_bytes(text.encode("utf-8"))
    except OSError as error:
        raise ToolError(f"Failed to write file: {reason(error)}") from None


def read_message(params: ReadParams, content: Full | Partial) -> str:
    """The `Read file: ...` sentence for a successful read (ACTORS.md §4.3 step 6)."""
    path, total = params.path, content.total_lines
    if params.start_line is None or params.end_line is None:
        return f"Read file: {path} ({total} lines total - read complete file)"
    start, end = params.start_line, params.end_line
    first, last = (1, total) if isinstance(content, Full) else (start, min(end, total))
    whole = first == 1 and last == total
    if end > total:
        what = "complete file" if whole else f"lines {first}-{last}"
        return f"Read file: {path} (requested lines {start}-{end}, file has {total} lines - read {what})"
    if whole:
        return f"Read file: {path} (lines {first}-{last} of {total} total - read complete file)"
    return f"Read file: {path} (lines {first}-{last} of {total} total - {total - last} lines remaining)"


def check_line_numbers(params: ReadParams) -> None:
    """Negative line numbers fail with their own texts (ACTORS.md §4.3 step 1).

    Raises:
        Failure: ``start_line`` or ``end_line`` is negative.
    """
    for name, value in (("start_line", params.start_line), ("end_line", params.end_line)):
        if value is not None and value < 0:
            raise Failure(
                f"Invalid {name}: {value} - lines are 1-indexed.",
                f"{params.path}: Invalid line number",
                f"File: {params.path}\nError: {name} must be positive (was: {value})",
            )


class Files:
    """The cache and the two operations, relative to the run's working directory."""

    def __init__(self, working_directory: str) -> None:
        self.working_directory = working_directory
        self.cache = FileCache()

    def section_data(self) -> dict[str, object]:
        """The data of the FilesReadAndEdited prompt section."""
        return {"working_directory": self.working_directory, "files": self.cache.files()}

    # --- read_file ---------------------------------------------------------------------------------

    def read(self, params: ReadParams) -> Reply:
        """Read (or reuse) the file or range and describe it.

        Raises:
            Failure: with the texts of ACTORS.md §4.3.
        """
        check_line_numbers(params)
        try:
            entry = self._read(params)
        except ToolError as error:
            text = str(error)
            raise Failure(
                text, f"{params.path}: Read failed", f"File: {params.path}\nOperation: Read\nError: {text}"
            ) from None
        message = read_message(params, entry.content)
        expanded = (
            f"File: {params.path}\nTotal lines: {entry.content.total_lines}\n\n"
            f"{entry.content.numbered_content()}"
        )
        return Reply(message + READ_SUFFIX, message, expanded)

    def _read(self, params: ReadParams) -> Entry:
        """The up-to-date cache entry holding what ``params`` asks for, read from disk if needed."""
        start, end = params.start_line, params.end_line
        if (start is None) != (end is None):
            raise ToolError("Both start_line and end_line must be provided for partial reads")
        key = normalise(params.path, self.working_directory)
        stamp = stamp_of(key, params.path)
        if stamp is None:
            raise ToolError(f"File '{params.path}' does not exist.")
        entry = self.cache.get(key)
        fresh = entry if entry is not None and not entry.is_stale(stamp) else None
        if start is None or end is None:
            if fresh is None or not isinstance(fresh.content, Full):
                fresh = self._load_full(key, params.path, stamp)
        elif fresh is None or not fresh.content.covers(start, end):
            fresh = self._load_range(key, params.path, stamp, start, end, fresh)
        self.cache.put(key, fresh)
        return fresh

    def _load_lines(self, key: str, shown: str, stamp: Stamp) -> list[str]:
        if stamp.size > MAX_FILE_SIZE:
            raise ToolError(
                f"File '{shown}' is too large ({stamp.size} bytes). "
                f"Maximum file size is {MAX_FILE_SIZE} bytes."
            )
        return text_lines(read_text(key, shown))

    def _load_full(self, key: str, shown: str, stamp: Stamp) -> Entry:
        lines = self._load_lines(key, shown, stamp)
        if stamp.size > SMALL_FILE_SIZE:
            metadata = {"path": shown, "size_bytes": stamp.size, "total_lines": len(lines)}
            raise ToolError(
                "File too large. You must specify a line range (start_line and end_line). "
                f"File metadata: {json.dumps(metadata, separators=(',', ':'), ensure_ascii=False)}"
            )
        return Entry(Full(lines), stamp)

    def _load_range(
        self, key: str, shown: str, stamp: Stamp, start: int, end: int, fresh: Entry | None
    ) -> Entry:
        lines = self._load_lines(key, shown, stamp)
        total = len(lines)
        if start < 1 or start > total or end < start:
            raise ToolError(f"Invalid line range: {start}-{end} (file has {total} lines)")
        piece = range_slice(lines, start, end)
        if fresh is not None and isinstance(fresh.content, Partial):
            fresh.content.merge(piece)
            return fresh
        return Entry(Partial([piece], total), stamp)

    # --- edit_file ---------------------------------------------------------------------------------

    def edit(self, params: EditParams) -> Reply:
        """Apply the edits atomically, write the file and refresh the cache.

        Raises:
            Failure: with the texts of ACTORS.md §4.4.
        """
        try:
            diff = self._edit(params)
        except ToolError as error:
            text = str(error)
            raise Failure(
                text, f"{params.path}: Edit failed", f"File: {params.path}\nOperation: Edit\nError: {text}"
            ) from None
        count = len(params.edits)
        content = f"Successfully edited {params.path}\n\nDiff of changes:\n```diff\n{diff}\n```{EDIT_SUFFIX}"
        collapsed = f"{params.path}: {'1 edit' if count == 1 else f'{count} edits'} applied"
        expanded = (
            f"File: {params.path}\nOperation: Edit\nChanges: {count} operations applied\n\nDiff:\n{diff}"
        )
        return Reply(content, collapsed, expanded)

    def _edit(self, params: EditParams) -> str:
        """Edit the file; the diff."""
        key = normalise(params.path, self.working_directory)
        stamp = stamp_of(key, params.path)
        if stamp is None:
            if not any(edit.old_string == "" for edit in params.edits):
                raise ToolError(
                    f"File '{params.path}' does not exist. "
                    "To create a new file, use an edit with empty old_string."
                )
            entry, old = None, ""
        else:
            entry = self._editable_entry(key, params.path, stamp)
            old = read_text(key, params.path)
        try:
            new = apply_edits(old, params.edits)
        except EditError as error:
            raise ToolError(str(error)) from None
        try:
            diff = unified_diff(old, new, params.path)
        except Exception:  # noqa: BLE001  (a diff is informative only; the edit still applies)
            diff = "Could not generate diff"
        write_text(key, new)
        self._refresh(key, params.path, entry, new)
        return diff

    def _editable_entry(self, key: str, shown: str, stamp: Stamp) -> Entry:
        """The cache entry of an existing file, which must have been read and not changed since."""
        entry = self.cache.get(key)
        if entry is None:
            raise ToolError(
                f"File '{shown}' must be read before it can be edited. Please use the read_file tool first."
            )
        if entry.is_stale(stamp):
            raise ToolError(
                f"File '{key}' has been modified since last read. Please use the read_file tool first."
            )
        return entry

    def _refresh(self, key: str, shown: str, entry: Entry | None, text: str) -> None:
        """Cache what was just written: the old entry's shape over the new text, or, for a new
        file, the whole text when it is at most 64 KiB (else nothing)."""
        try:
            stamp = stamp_of(key, shown)
        except ToolError:
            stamp = None
        if stamp is None or (entry is None and stamp.size > SMALL_FILE_SIZE):
            self.cache.drop(key)
            return
        lines = text_lines(text)
        content = Full(lines) if entry is None else entry.content.refreshed(lines)
        self.cache.put(key, Entry(content, stamp))
