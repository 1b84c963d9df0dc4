"""Fetching git sources (CONFIG.md §4.3): shared, cached, atomically written checkouts.

A checkout lives in ``<cache_root>/git/<source.checkout_key()>/`` and is shared by every source
with the same URL and ref, whatever its ``sub_dir``. Within one :class:`GitFetcher` (one run) a
checkout is made at most once. Across runs a checkout of a ``tag`` or ``rev`` is immutable and
reused as is; a checkout following a branch (or the default branch) is reused unless the fetcher
was created with ``refresh=True``.

A checkout is always written into a temporary sibling ``<key>.tmp-<random>`` and renamed into
place once complete, so an interrupted clone never leaves a half-written checkout under its final
name.
"""

import contextlib
import os
import posixpath
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from wasmind.config.sources import GitSource

__all__ = ["MISSING_GIT", "GitFetchError", "GitFetcher", "GitNotInstalledError"]

MISSING_GIT = "Missing required dependency: git. Please install git to clone remote actors."

DEFAULT_TIMEOUT = 300.0

# Variables that would make git operate on some other repository than the one we name with ``-C``
# (set, for instance, when wasmind runs from inside a git hook).
_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


class GitFetchError(Exception):
    """Fetching a git source failed: ``Failed to fetch git source <source display>: <detail>``.

    ``detail`` is git's standard error, stripped, or a description of what else went wrong (a
    timeout, a missing ``sub_dir``).
    """

    def __init__(self, source: GitSource, detail: str) -> None:
        super().__init__(f"Failed to fetch git source {source.display()}: {detail}")
        self.source = source
        self.detail = detail

    def __reduce__(self) -> tuple[type["GitFetchError"], tuple[GitSource, str]]:
        return type(self), (self.source, self.detail)


class GitNotInstalledError(GitFetchError):
    """The ``git`` executable is missing: ``Missing required dependency: git. Please install ...``."""

    def __init__(self, source: GitSource, detail: str = MISSING_GIT) -> None:
        Exception.__init__(self, MISSING_GIT)
        self.source = source
        self.detail = detail


class _GitFailed(Exception):
    """One git command failed; ``detail`` is its stripped standard error (or a description)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _GitMissing(Exception):
    """The git executable could not be started because it does not exist."""


class GitFetcher:
    """Makes and reuses checkouts of git sources under ``<cache_root>/git``.

    Thread-safe: two threads asking for the same checkout wait for a single clone; different
    checkouts are fetched in parallel.

    Args:
        cache_root: the cache directory; checkouts go to ``<cache_root>/git/<checkout key>``.
        refresh: fetch checkouts that follow a branch again (once per fetcher) instead of
            reusing those left by an earlier run; tags and revisions are never fetched again.
        git: the git executable (default: ``git`` found on ``PATH``).
        timeout: seconds after which a single git command is killed and reported as failed.
    """

    def __init__(
        self,
        cache_root: Path,
        *,
        refresh: bool = False,
        git: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.root = Path(cache_root).absolute() / "git"
        self.refresh = refresh
        self.git = git or "git"
        self.timeout = timeout
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, Path] = {}

    def checkout(self, source: GitSource) -> Path:
        """The actor directory of ``source``: ``<checkout>/<sub_dir>``, or the checkout root.

        Clones (or reuses) the checkout first; see the class documentation for the reuse rules.

        Raises:
            GitNotInstalledError: a fetch was needed and the git executable is missing.
            GitFetchError: git failed or timed out (the text carries git's stderr), or
                ``sub_dir`` does not exist in the checkout.
        """
        key = source.checkout_key()
        with self._lock_for(key):
            root = self._done.get(key)
            if root is None:
                root = self._fetch(source, key)
                with self._guard:
                    self._done[key] = root
        return self._actor_dir(source, root)

    def cached_checkout(self, source: GitSource) -> Path | None:
        """The actor directory of ``source`` if a usable checkout already exists, else ``None``.

        Never runs git. A checkout is usable when this fetcher already made or reused it, or when
        an earlier run left it and it would be reused as is (always for tags and revisions; for
        branches only without ``refresh``). ``None`` also when ``sub_dir`` is missing from it.
        """
        key = source.checkout_key()
        with self._guard:
            root = self._done.get(key)
        if root is None:
            final = self.root / key
            if not _is_checkout(final) or (self.refresh and _follows_branch(source)):
                return None
            root = final
        try:
            return self._actor_dir(source, root)
        except GitFetchError:
            return None

    # -- internals ------------------------------------------------------------------------------

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _fetch(self, source: GitSource, key: str) -> Path:
        """Reuse the checkout on disk when allowed, otherwise clone into a temporary directory and
        move it into place."""
        final = self.root / key
        replace = _is_checkout(final)
        if replace and not (self.refresh and _follows_branch(source)):
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=self.root))
        try:
            self._clone(source, tmp)
            _install(tmp, final, replace=replace)
        except _GitMissing:
            raise GitNotInstalledError(source) from None
        except _GitFailed as error:
            raise GitFetchError(source, error.detail) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def _clone(self, source: GitSource, dest: Path) -> None:
        """Write the checkout of ``source`` into the existing empty directory ``dest``."""
        ref = source.ref
        if ref is None or ref.kind != "rev":
            branch = ["--branch", ref.value] if ref else []
            self._git("clone", "--quiet", "--depth", "1", *branch, "--", source.url, str(dest))
            return
        self._git("init", "--quiet", str(dest))
        try:
            self._git("-C", str(dest), "fetch", "--quiet", "--depth", "1", "--", source.url, ref.value)
        except _GitFailed:
            # The server does not serve that object by name (or the name is abbreviated):
            # fall back to the whole history.
            shutil.rmtree(dest)
            dest.mkdir()
            self._git("clone", "--quiet", "--", source.url, str(dest))
            self._git("-C", str(dest), "checkout", "--quiet", "--detach", ref.value)
        else:
            self._git("-C", str(dest), "checkout", "--quiet", "--detach", "FETCH_HEAD")

    def _git(self, *args: str) -> None:
        """Run one git command without a terminal; raise :class:`_GitFailed` when it fails."""
        env = {name: value for name, value in os.environ.items() if name not in _REPOSITORY_VARIABLES}
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["GIT_ASKPASS"] = ""
        _run([self.git, *args], env=env, timeout=self.timeout)

    def _actor_dir(self, source: GitSource, root: Path) -> Path:
        if not source.sub_dir:
            return root
        sub_dir = posixpath.normpath(source.sub_dir)
        if posixpath.isabs(sub_dir) or sub_dir == ".." or sub_dir.startswith("../"):
            raise GitFetchError(source, f"sub_dir '{source.sub_dir}' leaves the repository")
        actor_dir = root / sub_dir
        if not actor_dir.is_dir():
            raise GitFetchError(source, f"sub_dir '{source.sub_dir}' does not exist in the repository")
        return actor_dir


def _follows_branch(source: GitSource) -> bool:
    """A checkout of a branch (or of the default branch) may change; tags and revisions do not."""
    return source.ref is None or source.ref.kind == "branch"


def _is_checkout(path: Path) -> bool:
    return (path / ".git").exists()


def _install(tmp: Path, final: Path, *, replace: bool) -> None:
    """Move the finished checkout ``tmp`` to ``final``; with ``replace``, swap out the old one.

    The final name only ever holds a complete checkout. When another process installed the same
    checkout meanwhile, theirs is kept (unless replacing).
    """
    if not replace:
        try:
            tmp.rename(final)
        except OSError:
            if not _is_checkout(final):
                raise
        return
    old = final.with_name(f"{final.name}.old-{secrets.token_hex(6)}")
    with contextlib.suppress(FileNotFoundError):
        final.rename(old)
    try:
        tmp.rename(final)
    except OSError:
        if old.exists() and not final.exists():
            old.rename(final)
        if not _is_checkout(final):
            raise
    shutil.rmtree(old, ignore_errors=True)


def _run(argv: Sequence[str], *, env: dict[str, str], timeout: float) -> None:
    """Run ``argv`` in its own session (no controlling terminal), stdin from ``/dev/null``.

    On timeout the whole process group is killed, so helpers git started (``ssh``,
    ``git-remote-https``, ``upload-pack``) do not linger.
    """
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise _GitMissing(argv[0]) from None
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.communicate()
        raise _GitFailed(
            f"`git {_describe(argv[1:])}` timed out after {timeout:g} s and was killed"
        ) from None
    except BaseException:
        _kill(process)
        process.wait()
        raise
    if process.returncode != 0:
        raise _GitFailed(
            stderr.strip() or f"`git {_describe(argv[1:])}` exited with code {process.returncode}"
        )


def _kill(process: "subprocess.Popen[str]") -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except ProcessLookupError:
        pass


def _describe(args: Sequence[str]) -> str:
    return " ".join(arg for arg in args if arg not in ("--quiet", "--"))
