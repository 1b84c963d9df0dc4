"""run_command with real subprocesses (WIT.md §5)."""

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmind.runtime.capabilities.command import (
    CommandSpec,
    Exited,
    FailedToStart,
    Signaled,
    TimeoutExpired,
    run_command,
)

PY = sys.executable


def py(code: str, **kwargs: object) -> CommandSpec:
    """A spec running `code` with this interpreter."""
    return CommandSpec(PY, ["-c", code], **kwargs)  # type: ignore[arg-type]


def _gone_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if _gone_or_zombie(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(autouse=True)
def no_zombies() -> Iterator[None]:
    """After every test no child of this process is left unreaped."""
    yield
    with contextlib.suppress(ChildProcessError):
        assert os.waitpid(-1, os.WNOHANG) == (0, 0), "an unreaped child was left behind"


# --- exit statuses -------------------------------------------------------------------------------


def test_exit_code_and_output(tmp_path: Path) -> None:
    out = run_command(CommandSpec("sh", ["-c", "echo out; echo err >&2; exit 3"]), str(tmp_path))
    assert out.status == Exited(3)
    assert (out.stdout, out.stderr) == (b"out\n", b"err\n")
    assert not out.stdout_truncated and not out.stderr_truncated


@pytest.mark.parametrize(
    "spec",
    [CommandSpec("sh", ["-c", "exit 300"]), py("import sys; sys.exit(300)")],
    ids=["sh", "python"],
)
def test_exit_code_modulo_256(spec: CommandSpec, tmp_path: Path) -> None:
    assert run_command(spec, str(tmp_path)).status == Exited(300 % 256)


def test_killed_by_signal(tmp_path: Path) -> None:
    out = run_command(CommandSpec("sh", ["-c", "echo before; kill -TERM $$"]), str(tmp_path))
    assert out.status == Signaled(signal.SIGTERM)
    assert out.stdout == b"before\n"


def test_program_not_found(tmp_path: Path) -> None:
    out = run_command(CommandSpec("wasmind-no-such-program-xyz"), str(tmp_path))
    assert isinstance(out.status, FailedToStart)
    assert "No such file or directory" in out.status.reason
    assert (out.stdout, out.stderr, out.stdout_truncated, out.stderr_truncated) == (b"", b"", False, False)


def test_program_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    out = run_command(CommandSpec(str(script)), str(tmp_path))
    assert isinstance(out.status, FailedToStart)
    assert "Permission denied" in out.status.reason


def test_bad_current_dir(tmp_path: Path) -> None:
    out = run_command(CommandSpec("pwd", current_dir="missing"), str(tmp_path))
    assert isinstance(out.status, FailedToStart)
    assert "missing" in out.status.reason


def test_current_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = run_command(CommandSpec("pwd", current_dir="file"), str(tmp_path))
    assert isinstance(out.status, FailedToStart)


def test_invalid_environment_name_fails_to_start(tmp_path: Path) -> None:
    out = run_command(CommandSpec("true", env={"A=B": "x"}), str(tmp_path))
    assert isinstance(out.status, FailedToStart)


# --- directory, stdin, arguments, environment ----------------------------------------------------


def test_default_current_dir_is_working_directory(tmp_path: Path) -> None:
    out = run_command(CommandSpec("pwd"), str(tmp_path))
    assert out.stdout.decode().strip() == str(tmp_path.resolve())


def test_relative_current_dir_is_relative_to_working_directory(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    out = run_command(CommandSpec("pwd", current_dir="sub/deeper"), str(tmp_path))
    assert out.stdout.decode().strip() == str((tmp_path / "sub" / "deeper").resolve())


def test_absolute_current_dir(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    out = run_command(CommandSpec("pwd", current_dir=str(other)), "/")
    assert out.stdout.decode().strip() == str(other.resolve())


def test_stdin_is_empty(tmp_path: Path) -> None:
    out = run_command(CommandSpec("cat", timeout_seconds=5), str(tmp_path))
    assert out.status == Exited(0)
    assert out.stdout == b""


def test_program_runs_directly_without_shell(tmp_path: Path) -> None:
    out = run_command(CommandSpec("echo", ["$HOME", "a;b", "*"]), str(tmp_path))
    assert out.stdout == b"$HOME a;b *\n"


def test_env_adds_to_inherited_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMIND_TEST_INHERITED", "inherited")
    spec = CommandSpec("sh", ["-c", 'echo "$WASMIND_TEST_INHERITED $WASMIND_TEST_ADDED"'])
    spec.env["WASMIND_TEST_ADDED"] = "added"
    assert run_command(spec, str(tmp_path)).stdout == b"inherited added\n"


def test_env_clear_child_sees_only_given_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMIND_TEST_INHERITED", "inherited")
    out = run_command(CommandSpec("env", env={"ONLY": "1", "ALSO": "two"}, env_clear=True), str(tmp_path))
    assert out.status == Exited(0)
    assert sorted(out.stdout.decode().splitlines()) == ["ALSO=two", "ONLY=1"]


def test_env_clear_without_variables(tmp_path: Path) -> None:
    out = run_command(CommandSpec("env", env_clear=True), str(tmp_path))
    assert (out.status, out.stdout) == (Exited(0), b"")


# --- concurrent capture, limits ------------------------------------------------------------------


def test_large_stderr_before_stdout_does_not_deadlock(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('e' * 1_000_000); sys.stderr.flush(); sys.stdout.write('done')"
    start = time.monotonic()
    out = run_command(py(code, max_output_bytes=2_000_000, timeout_seconds=10), str(tmp_path))
    assert time.monotonic() - start < 5
    assert out.status == Exited(0)
    assert out.stdout == b"done"
    assert out.stderr == b"e" * 1_000_000
    assert not out.stderr_truncated


def test_output_exactly_at_limit_is_not_truncated(tmp_path: Path) -> None:
    out = run_command(CommandSpec("printf", ["abcde"], max_output_bytes=5), str(tmp_path))
    assert (out.status, out.stdout, out.stdout_truncated) == (Exited(0), b"abcde", False)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_truncation_kills_the_child(stream: str, tmp_path: Path) -> None:
    code = f"import sys, time; s = sys.{stream}; s.write('x' * 500); s.flush(); time.sleep(30)"
    start = time.monotonic()
    out = run_command(py(code, max_output_bytes=100, timeout_seconds=20), str(tmp_path))
    assert time.monotonic() - start < 5
    assert out.status == Signaled(signal.SIGKILL)
    assert getattr(out, stream) == b"x" * 100
    assert getattr(out, f"{stream}_truncated") is True
    other = "stderr" if stream == "stdout" else "stdout"
    assert (getattr(out, other), getattr(out, f"{other}_truncated")) == (b"", False)


def test_child_writing_forever_ends_quickly(tmp_path: Path) -> None:
    start = time.monotonic()
    out = run_command(CommandSpec("yes", max_output_bytes=1000), str(tmp_path))
    assert time.monotonic() - start < 5
    assert out.stdout == b"y\n" * 500
    assert out.stdout_truncated
    assert out.status == Signaled(signal.SIGKILL)


def test_truncation_kills_the_process_group(tmp_path: Path) -> None:
    script = "sleep 30 & echo $!; exec yes"
    out = run_command(CommandSpec("sh", ["-c", script], max_output_bytes=1000), str(tmp_path))
    assert out.stdout_truncated
    assert _wait_gone(int(out.stdout.split(b"\n", 1)[0]))


def test_escaped_grandchild_holding_the_pipe_does_not_block_after_kill(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "sys.stdout.write('x' * 10_000); sys.stdout.flush()\n"
        "import time; time.sleep(30)\n"
    )
    start = time.monotonic()
    out = run_command(py(code, max_output_bytes=1000), str(tmp_path))
    elapsed = time.monotonic() - start
    os.kill(int(out.stdout.split(b"\n", 1)[0]), signal.SIGKILL)  # it left our process group
    assert elapsed < 3
    assert out.stdout_truncated
    assert out.status == Signaled(signal.SIGKILL)


# --- timeout -------------------------------------------------------------------------------------


def test_timeout_returns_partial_output(tmp_path: Path) -> None:
    script = "echo before; echo err >&2; sleep 30; echo after"
    start = time.monotonic()
    out = run_command(CommandSpec("sh", ["-c", script], timeout_seconds=1), str(tmp_path))
    assert 0.9 < time.monotonic() - start < 5
    assert out.status == TimeoutExpired()
    assert (out.stdout, out.stderr) == (b"before\n", b"err\n")
    assert not out.stdout_truncated and not out.stderr_truncated


def test_overflow_ends_the_run_before_the_timeout(tmp_path: Path) -> None:
    code = "import sys, time; sys.stderr.write('x' * 50); sys.stderr.flush(); time.sleep(30)"
    start = time.monotonic()
    out = run_command(py(code, max_output_bytes=10, timeout_seconds=2), str(tmp_path))
    assert time.monotonic() - start < 1.5
    assert out.status == Signaled(signal.SIGKILL)
    assert out.stderr_truncated and out.stderr == b"x" * 10


def test_grandchild_holding_pipes_does_not_outlive_timeout(tmp_path: Path) -> None:
    start = time.monotonic()
    out = run_command(CommandSpec("sh", ["-c", "sleep 30 & echo $!"], timeout_seconds=1), str(tmp_path))
    assert time.monotonic() - start < 5
    assert out.status == TimeoutExpired()
    assert _wait_gone(int(out.stdout.strip())), "the grandchild in the process group was not killed"


def test_timeout_applies_while_waiting_after_pipes_closed(tmp_path: Path) -> None:
    start = time.monotonic()
    script = "echo closing; exec >&- 2>&-; sleep 30"
    out = run_command(CommandSpec("sh", ["-c", script], timeout_seconds=1), str(tmp_path))
    assert 0.9 < time.monotonic() - start < 5
    assert (out.status, out.stdout) == (TimeoutExpired(), b"closing\n")


def test_fast_command_with_timeout_exits_normally(tmp_path: Path) -> None:
    out = run_command(CommandSpec("true", timeout_seconds=10), str(tmp_path))
    assert out.status == Exited(0)
