"""GitFetcher (CONFIG.md §4.3) against local repositories reached through ``file://`` URLs."""

import os
import pickle
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from wasmind.config.git import MISSING_GIT, GitFetcher, GitFetchError, GitNotInstalledError
from wasmind.config.sources import GitRef, GitSource

REAL_GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(REAL_GIT is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the user's nor the system's git configuration influences the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def run_git(cwd: Path, *args: str) -> str:
    """Run the real git in ``cwd`` with a fixed identity and return its stripped stdout."""
    assert REAL_GIT is not None
    config = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    done = subprocess.run(
        [REAL_GIT, *config, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@dataclass
class Remote:
    """A working repository whose commits, branches and tags are pushed to a bare repository.

    Fetchers clone the bare repository (``url``), as they would a server's.
    """

    path: Path

    @property
    def bare(self) -> Path:
        return self.path.with_name(self.path.name + ".git")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def publish(self) -> None:
        if not self.bare.exists():
            run_git(self.path.parent, "init", "-q", "--bare", str(self.bare))
        run_git(self.path, "push", "-q", "--force", "--all", str(self.bare))
        run_git(self.path, "push", "-q", "--force", "--tags", str(self.bare))

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            file = self.path / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
        run_git(self.path, "add", "-A")
        run_git(self.path, "commit", "-q", "-m", message)
        self.publish()
        return run_git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        output = run_git(self.path, *args)
        self.publish()
        return output


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """``main``: v1 (tagged ``v1``) then v2 (tip); ``feature``: v1 then a feature-only commit."""
    path = tmp_path / "remote"
    path.mkdir()
    run_git(path, "init", "-q")
    repo = Remote(path)
    repo.commit({"version.txt": "v1", "actors/a/Wasmind.toml": "a", "actors/b/Wasmind.toml": "b"}, "one")
    repo.git("tag", "v1")
    repo.git("switch", "-q", "-c", "feature")
    repo.commit({"version.txt": "feature"}, "feature")
    repo.git("switch", "-q", "main")
    repo.commit({"version.txt": "v2"}, "two")
    return repo


@dataclass
class LoggingGit:
    """A ``git`` wrapper script that logs each invocation (and its prompt environment) first."""

    path: Path
    log: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def subcommands(self) -> list[str]:
        """The git subcommand of each call (``clone``, ``init``, ``fetch``, ``checkout``)."""
        result = []
        for line in self.calls():
            words = line.split("|", 1)[1].split()
            if words[0] == "-C":
                words = words[2:]
            result.append(words[0])
        return result


@pytest.fixture
def logging_git(tmp_path: Path) -> LoggingGit:
    log = tmp_path / "git.log"
    script = tmp_path / "logging-git"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "prompt=$GIT_TERMINAL_PROMPT askpass=${{GIT_ASKPASS-unset}}|$*" >> "{log}"\n'
        f'exec "{REAL_GIT}" "$@"\n'
    )
    script.chmod(0o755)
    return LoggingGit(script, log)


def version(directory: Path) -> str:
    return (directory / "version.txt").read_text()


def cache_entries(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "git").iterdir()) if (cache / "git").exists() else []


def test_the_default_branch_is_cloned_into_a_directory_named_by_the_checkout_key(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url)
    actor_dir = GitFetcher(tmp_path / "cache").checkout(source)
    assert actor_dir == tmp_path / "cache" / "git" / source.checkout_key()
    assert version(actor_dir) == "v2"
    assert cache_entries(tmp_path / "cache") == [source.checkout_key()]


def test_a_named_branch_is_cloned_at_its_tip(remote: Remote, tmp_path: Path) -> None:
    actor_dir = GitFetcher(tmp_path / "cache").checkout(GitSource(remote.url, GitRef("branch", "feature")))
    assert version(actor_dir) == "feature"


def test_a_tag_is_cloned_at_the_tagged_commit(remote: Remote, tmp_path: Path) -> None:
    actor_dir = GitFetcher(tmp_path / "cache").checkout(GitSource(remote.url, GitRef("tag", "v1")))
    assert version(actor_dir) == "v1"


def test_a_rev_at_the_tip_is_checked_out_by_an_explicit_shallow_fetch(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    tip = remote.git("rev-parse", "main")
    actor_dir = GitFetcher(tmp_path / "cache", git=str(logging_git.path)).checkout(
        GitSource(remote.url, GitRef("rev", tip))
    )
    assert version(actor_dir) == "v2"
    assert run_git(actor_dir, "rev-parse", "HEAD") == tip
    assert logging_git.subcommands() == ["init", "fetch", "checkout"]


def test_an_older_rev_outside_the_shallow_tip_history_is_checked_out(remote: Remote, tmp_path: Path) -> None:
    old = remote.git("rev-parse", "v1")
    actor_dir = GitFetcher(tmp_path / "cache").checkout(GitSource(remote.url, GitRef("rev", old)))
    assert version(actor_dir) == "v1"
    assert run_git(actor_dir, "rev-parse", "HEAD") == old


def test_a_rev_only_on_another_branch_is_checked_out(remote: Remote, tmp_path: Path) -> None:
    feature = remote.git("rev-parse", "feature")
    actor_dir = GitFetcher(tmp_path / "cache").checkout(GitSource(remote.url, GitRef("rev", feature)))
    assert version(actor_dir) == "feature"


def test_an_abbreviated_rev_that_the_server_refuses_falls_back_to_a_full_clone(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    short = remote.git("rev-parse", "--short=8", "v1")
    actor_dir = GitFetcher(tmp_path / "cache", git=str(logging_git.path)).checkout(
        GitSource(remote.url, GitRef("rev", short))
    )
    assert version(actor_dir) == "v1"
    assert logging_git.subcommands() == ["init", "fetch", "clone", "checkout"]
    assert len(cache_entries(tmp_path / "cache")) == 1


def test_a_sub_dir_is_the_actor_directory_inside_the_checkout(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(remote.url, sub_dir="actors/a")
    actor_dir = GitFetcher(tmp_path / "cache").checkout(source)
    assert actor_dir == tmp_path / "cache" / "git" / source.checkout_key() / "actors" / "a"
    assert (actor_dir / "Wasmind.toml").read_text() == "a"


def test_two_sub_dirs_of_one_repository_and_ref_share_one_clone(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    fetcher = GitFetcher(tmp_path / "cache", git=str(logging_git.path))
    a = fetcher.checkout(GitSource(remote.url, GitRef("tag", "v1"), "actors/a"))
    b = fetcher.checkout(GitSource(remote.url, GitRef("tag", "v1"), "actors/b"))
    assert a.parent == b.parent
    assert logging_git.subcommands() == ["clone"]


def test_every_git_call_runs_with_terminal_prompts_disabled(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    fetcher = GitFetcher(tmp_path / "cache", git=str(logging_git.path))
    fetcher.checkout(GitSource(remote.url, GitRef("rev", remote.git("rev-parse", "v1"))))
    calls = logging_git.calls()
    assert calls
    assert all(call.startswith("prompt=0 askpass=|") for call in calls)


def test_a_tag_checkout_is_reused_by_a_later_fetcher_without_any_git_call(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    source = GitSource(remote.url, GitRef("tag", "v1"), "actors/a")
    first = GitFetcher(tmp_path / "cache").checkout(source)
    later = GitFetcher(tmp_path / "cache", refresh=True, git=str(logging_git.path))
    assert later.cached_checkout(source) == first
    assert later.checkout(source) == first
    assert logging_git.calls() == []


def test_a_branch_checkout_is_reused_by_a_later_fetcher_unless_refreshing(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    source = GitSource(remote.url, GitRef("branch", "main"))
    GitFetcher(tmp_path / "cache").checkout(source)
    remote.commit({"version.txt": "v3"})
    reused = GitFetcher(tmp_path / "cache", git=str(logging_git.path)).checkout(source)
    assert version(reused) == "v2"
    assert logging_git.calls() == []


def test_refresh_picks_up_a_new_commit_on_a_branch_and_swaps_the_checkout_in_place(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    source = GitSource(remote.url)
    before = GitFetcher(tmp_path / "cache").checkout(source)
    remote.commit({"version.txt": "v3"})
    fetcher = GitFetcher(tmp_path / "cache", refresh=True, git=str(logging_git.path))
    assert fetcher.cached_checkout(source) is None
    after = fetcher.checkout(source)
    assert after == before
    assert version(after) == "v3"
    assert fetcher.cached_checkout(source) == after
    fetcher.checkout(source)
    assert logging_git.subcommands() == ["clone"]
    assert cache_entries(tmp_path / "cache") == [source.checkout_key()]


def test_cached_checkout_is_none_until_a_checkout_exists_and_never_runs_git(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    source = GitSource(remote.url, GitRef("branch", "feature"), "actors/b")
    fetcher = GitFetcher(tmp_path / "cache", git=str(logging_git.path))
    assert fetcher.cached_checkout(source) is None
    assert logging_git.calls() == []
    actor_dir = fetcher.checkout(source)
    assert fetcher.cached_checkout(source) == actor_dir
    assert fetcher.cached_checkout(GitSource(remote.url, GitRef("branch", "feature"), "nope")) is None


def test_a_missing_repository_fails_with_the_source_and_gits_error_and_leaves_no_checkout(
    tmp_path: Path,
) -> None:
    source = GitSource("file:///nonexistent/repo.git")
    with pytest.raises(GitFetchError) as caught:
        GitFetcher(tmp_path / "cache").checkout(source)
    text = str(caught.value)
    assert text.startswith("Failed to fetch git source git: file:///nonexistent/repo.git: ")
    assert "does not appear to be a git repository" in text or "not found" in text
    assert caught.value.source == source
    assert cache_entries(tmp_path / "cache") == []


def test_a_rev_of_a_missing_repository_fails_after_the_fallback_with_gits_error(tmp_path: Path) -> None:
    source = GitSource("file:///nonexistent/repo.git", GitRef("rev", "0123456789abcdef"))
    with pytest.raises(GitFetchError, match=r"does not appear to be a git repository|not found") as caught:
        GitFetcher(tmp_path / "cache").checkout(source)
    assert "git: file:///nonexistent/repo.git (rev 0123456789abcdef)" in str(caught.value)
    assert cache_entries(tmp_path / "cache") == []


def test_a_rev_that_does_not_exist_fails_with_gits_error(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(remote.url, GitRef("rev", "deadbeef"))
    with pytest.raises(GitFetchError, match="deadbeef"):
        GitFetcher(tmp_path / "cache").checkout(source)
    assert cache_entries(tmp_path / "cache") == []


def test_a_missing_sub_dir_is_an_error_naming_the_sub_dir_and_the_source(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url, sub_dir="actors/missing")
    with pytest.raises(GitFetchError) as caught:
        GitFetcher(tmp_path / "cache").checkout(source)
    assert str(caught.value) == (
        f"Failed to fetch git source {source.display()}: "
        "sub_dir 'actors/missing' does not exist in the repository"
    )


def test_a_missing_git_binary_is_reported_as_a_missing_dependency(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(GitNotInstalledError) as caught:
        GitFetcher(tmp_path / "cache", git="/nonexistent/git").checkout(GitSource(remote.url))
    assert str(caught.value) == "Missing required dependency: git. Please install git to clone remote actors."
    assert str(caught.value) == MISSING_GIT
    assert isinstance(caught.value, GitFetchError)
    assert cache_entries(tmp_path / "cache") == []


def test_a_missing_git_binary_does_not_matter_when_the_checkout_is_cached(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url, GitRef("tag", "v1"))
    expected = GitFetcher(tmp_path / "cache").checkout(source)
    assert GitFetcher(tmp_path / "cache", git="/nonexistent/git").checkout(source) == expected


def test_a_git_command_that_hangs_is_killed_after_the_timeout(remote: Remote, tmp_path: Path) -> None:
    slow = tmp_path / "slow-git"
    slow.write_text("#!/bin/sh\nsleep 30\necho done\n")  # a child process holding the pipes open
    slow.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(GitFetchError, match=r"timed out after 0\.3 s"):
        GitFetcher(tmp_path / "cache", git=str(slow), timeout=0.3).checkout(GitSource(remote.url))
    assert time.monotonic() - started < 5
    assert cache_entries(tmp_path / "cache") == []


def test_a_left_over_temporary_clone_does_not_count_as_a_checkout(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(remote.url, GitRef("tag", "v1"))
    crashed = tmp_path / "cache" / "git" / f"{source.checkout_key()}.tmp-crashed"
    crashed.mkdir(parents=True)
    fetcher = GitFetcher(tmp_path / "cache")
    assert fetcher.cached_checkout(source) is None
    assert version(fetcher.checkout(source)) == "v1"


def test_four_threads_asking_for_the_same_checkout_wait_for_a_single_clone(
    remote: Remote, tmp_path: Path, logging_git: LoggingGit
) -> None:
    fetcher = GitFetcher(tmp_path / "cache", git=str(logging_git.path))
    barrier = threading.Barrier(4)

    def work(sub_dir: str) -> Path:
        barrier.wait(timeout=10)
        return fetcher.checkout(GitSource(remote.url, GitRef("branch", "main"), sub_dir))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, ["actors/a", "actors/b", "actors/a", "actors/b"], timeout=30))
    assert len({path.parent for path in results}) == 1
    assert logging_git.subcommands() == ["clone"]


def test_a_fetch_error_survives_pickling(tmp_path: Path) -> None:
    error = GitFetchError(GitSource("file:///x", GitRef("tag", "t")), "boom")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "Failed to fetch git source git: file:///x (tag t): boom"
    missing = pickle.loads(pickle.dumps(GitNotInstalledError(GitSource("file:///x"))))
    assert str(missing) == MISSING_GIT
