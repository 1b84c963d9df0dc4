"""Lines, numbered content and the read cache of `file_interaction` (ACTORS.md §4.2).

Pure Python (no host calls), so it runs in the guest and can be reasoned about on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_FILE_SIZE = 10 * 1024 * 1024
"""Files larger than this are never read (10 MiB)."""
SMALL_FILE_SIZE = 64 * 1024
"""Files up to this size may be read (and cached) whole (64 KiB)."""


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` with Rust ``str::lines`` semantics.

    Split on ``\\n`` only; a ``\\r`` right before a ``\\n`` is dropped; a final ``\\n`` does not start
    an extra line (so ``""`` has no line and ``"\\n"`` one empty line). Unlike ``str.splitlines``,
    other characters (form feed, ``\\u2028``, a lone ``\\r``) do not end a line.
    """
    pieces = text.split("\n")
    last = pieces.pop()
    lines = [piece.removesuffix("\r") for piece in pieces]
    if last:
        lines.append(last)
    return lines


def numbered(lines: list[str], first: int = 1) -> list[str]:
    """``<n>:<line>`` for each line, numbered from ``first``."""
    return [f"{number}:{line}" for number, line in enumerate(lines, first)]


def omitted(count: int) -> str:
    """The marker standing for ``count`` lines that were not read."""
    return f"[... {count} lines omitted ...]"


@dataclass(frozen=True)
class Stamp:
    """What identifies one version of a file on disk: modification time (ns) and size."""

    mtime_ns: int
    size: int


@dataclass
class Slice:
    """Lines ``start..end`` (1-based, inclusive) of a file."""

    start: int
    end: int
    lines: list[str]


@dataclass
class Full:
    """The whole file, as lines."""

    lines: list[str]

    @property
    def total_lines(self) -> int:
        return len(self.lines)

    def covers(self, start: int, end: int) -> bool:
        """A full read covers every range."""
        return True

    def numbered_content(self) -> str:
        return "\n".join(numbered(self.lines))

    def refreshed(self, lines: list[str]) -> Full:
        """The same shape over the new lines of the file."""
        return Full(lines)


@dataclass
class Partial:
    """Some ranges of a file of ``total_lines`` lines; slices sorted by start, never touching."""

    slices: list[Slice]
    total_lines: int

    def covers(self, start: int, end: int) -> bool:
        """Whether one cached slice holds all of ``start..end`` (an inverted range is never covered)."""
        return start <= end and any(s.start <= start and end <= s.end for s in self.slices)

    def merge(self, new: Slice) -> None:
        """Add ``new``; slices that overlap or touch (``start <= last.end + 1``) are joined."""
        merged: list[Slice] = []
        for piece in sorted([*self.slices, new], key=lambda s: s.start):
            last = merged[-1] if merged else None
            if last is None or piece.start > last.end + 1:
                merged.append(Slice(piece.start, piece.end, list(piece.lines)))
            elif piece.end > last.end:
                last.lines.extend(piece.lines[last.end + 1 - piece.start :])
                last.end = piece.end
        self.slices = merged

    def numbered_content(self) -> str:
        """The slices in order, with markers for the lines before, between and after them."""
        parts: list[str] = []
        last_end = 0
        for piece in self.slices:
            if piece.start > last_end + 1:
                parts.append(omitted(piece.start - last_end - 1))
            parts.extend(numbered(piece.lines, piece.start))
            last_end = piece.end
        if last_end < self.total_lines:
            parts.append(omitted(self.total_lines - last_end))
        return "\n".join(parts)

    def refreshed(self, lines: list[str]) -> Partial:
        """The same ranges cut from the new lines of the file, clipped to its new length."""
        total = len(lines)
        slices = [
            Slice(s.start, min(s.end, total), lines[s.start - 1 : min(s.end, total)])
            for s in self.slices
            if s.start <= total
        ]
        return Partial(slices, total)


def range_slice(lines: list[str], start: int, end: int) -> Slice:
    """Lines ``start..end`` of a file (``end`` clipped to its length); the range must be valid."""
    stop = min(end, len(lines))
    return Slice(start, stop, lines[start - 1 : stop])


@dataclass
class Entry:
    """A cached file: what was read, and the stamp of the version it was read from."""

    content: Full | Partial
    stamp: Stamp

    def is_stale(self, current: Stamp) -> bool:
        """Whether the file changed since it was read: modification time or size differ."""
        return current != self.stamp


@dataclass
class FileCache:
    """The cached files, keyed by absolute normalised path."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def get(self, path: str) -> Entry | None:
        return self.entries.get(path)

    def put(self, path: str, entry: Entry) -> None:
        self.entries[path] = entry

    def drop(self, path: str) -> None:
        self.entries.pop(path, None)

    def clear(self) -> None:
        self.entries.clear()

    def files(self) -> list[dict[str, str]]:
        """``[{"path", "content"}]`` with numbered content, sorted by path component by component."""
        paths = sorted(self.entries, key=lambda path: path.split("/"))
        return [{"path": path, "content": self.entries[path].content.numbered_content()} for path in paths]


def normalise(path: str, working_directory: str) -> str:
    """The absolute, lexically normalised form of ``path`` (relative to ``working_directory``):
    ``.`` and empty components dropped, ``..`` removes the previous component; no symlinks resolved."""
    joined = path if path.startswith("/") else f"{working_directory}/{path}"
    parts: list[str] = []
    for part in joined.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)
