"""Actor sources (CONFIG.md §4): a local path or a git repository, with identity, display and hash."""

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["GitRef", "GitSource", "PathSource", "Source", "SourceError", "normalize", "parse_source"]


class SourceError(ValueError):
    """A source table that has neither shape, or a relative path that leaves its repository."""


def normalize(path: Path) -> Path:
    """Absolute and lexically normalised (``.``/``..`` removed, symlinks not resolved)."""
    return Path(posixpath.normpath(str(path.absolute())))


@dataclass(frozen=True)
class PathSource:
    """A local directory holding ``Wasmind.toml`` and the actor's source or component."""

    path: Path

    def display(self) -> str:
        """``path: <path>``."""
        return f"path: {self.path}"

    def short(self) -> str:
        """``path(<path>)`` as ``check`` prints it."""
        return f"path({self.path})"

    def source_hash(self) -> str:
        """Build-cache key: SHA-256 of ``"path:" + <path>``."""
        return hashlib.sha256(f"path:{self.path}".encode()).hexdigest()

    def relative(self, path: str, dependency: str, parent: str) -> "Source":
        """A dependency's path source declared in this actor's manifest."""
        return PathSource(normalize(self.path / path))


@dataclass(frozen=True)
class GitRef:
    """A branch, tag or revision."""

    kind: Literal["branch", "tag", "rev"]
    value: str


@dataclass(frozen=True)
class GitSource:
    """A directory ``sub_dir`` of a git repository at ``ref`` (default branch when ``None``)."""

    url: str
    ref: GitRef | None = None
    sub_dir: str | None = None

    def display(self) -> str:
        """``git: <url>``, plus ref and sub-directory when present."""
        parts = [f"{self.ref.kind} {self.ref.value}"] if self.ref else []
        if self.sub_dir:
            parts.append(f"sub_dir {self.sub_dir}")
        return f"git: {self.url}" + (f" ({', '.join(parts)})" if parts else "")

    def short(self) -> str:
        """``git(<url>)`` or ``git(<url>, sub_dir=<dir>)`` as ``check`` prints it."""
        return f"git({self.url}, sub_dir={self.sub_dir})" if self.sub_dir else f"git({self.url})"

    def source_hash(self) -> str:
        """Build-cache key: SHA-256 of ``"git:" + url [+ "<kind>:" + value] [+ "sub_dir:" + dir]``."""
        text = f"git:{self.url}"
        if self.ref:
            text += f"{self.ref.kind}:{self.ref.value}"
        if self.sub_dir:
            text += f"sub_dir:{self.sub_dir}"
        return hashlib.sha256(text.encode()).hexdigest()

    def checkout_key(self) -> str:
        """Clones are shared by every source with the same URL and ref, whatever the sub-directory."""
        ref = f"{self.ref.kind}:{self.ref.value}" if self.ref else ""
        return hashlib.sha256(f"{self.url}\0{ref}".encode()).hexdigest()

    def relative(self, path: str, dependency: str, parent: str) -> "Source":
        """A dependency's relative path inside this repository becomes a git source of the same repository."""
        if Path(path).is_absolute():
            return PathSource(normalize(Path(path)))
        joined = posixpath.normpath(posixpath.join(self.sub_dir or "", path))
        if joined == ".." or joined.startswith("../"):
            raise SourceError(
                f"Dependency '{dependency}' of '{parent}' uses path '{path}' that leaves repository {self.url}"
            )
        return GitSource(self.url, self.ref, None if joined == "." else joined)


Source = PathSource | GitSource


def parse_source(table: Any, base_dir: Path) -> Source:
    """A source from its TOML table; relative paths are relative to ``base_dir``.

    Raises:
        SourceError: the table is neither ``{path = ...}`` nor ``{git = ..., git_ref?, sub_dir?}``.
    """
    if not isinstance(table, dict):
        raise SourceError(
            f'a source must be a table like {{ path = "..." }} or {{ git = "..." }}, got {table!r}'
        )
    if isinstance(table.get("path"), str):
        return PathSource(normalize(base_dir / table["path"]))
    url = table.get("git")
    if isinstance(url, str) and url:
        ref = _parse_ref(table.get("git_ref"))
        sub_dir = table.get("sub_dir")
        if sub_dir is not None and not isinstance(sub_dir, str):
            raise SourceError(f"sub_dir must be a string, got {sub_dir!r}")
        return GitSource(url, ref, posixpath.normpath(sub_dir) if sub_dir else None)
    raise SourceError(
        f'a source needs `path = "<dir>"` or `git = "<url>"` (with optional git_ref and sub_dir), got {table!r}'
    )


def _parse_ref(table: Any) -> GitRef | None:
    if table is None:
        return None
    if isinstance(table, dict) and len(table) == 1:
        ((kind, value),) = table.items()
        if kind in ("branch", "tag", "rev") and isinstance(value, str) and value:
            return GitRef(kind, value)
    raise SourceError(
        f'git_ref must be one of {{ branch = "..." }}, {{ tag = "..." }}, {{ rev = "..." }}, got {table!r}'
    )
