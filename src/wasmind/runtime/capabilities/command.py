"""The `command` capability (WIT.md §5): run a program directly and capture its output.

Pure, synchronous Python: called from a worker thread of the host, it knows nothing about wasmtime.
stdout and stderr are read concurrently with `selectors` in the calling thread, so no output
pattern can deadlock a run; the limit, the timeout and failures to start never raise.
"""

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeAlias

__all__ = [
    "CommandOutput",
    "CommandSpec",
    "ExitStatus",
    "Exited",
    "FailedToStart",
    "Signaled",
    "TimeoutExpired",
    "run_command",
]

DEFAULT_MAX_OUTPUT_BYTES = 100_000
_READ_CHUNK = 65_536
_KILL_GRACE_SECONDS = 0.1
"""After a kill, stop reading once the child exited and this much time passed (grandchildren may
keep a pipe open)."""
_POLL_SECONDS = 0.02


@dataclass
class CommandSpec:
    """Builder state of a WIT `cmd`; every handle derived from one constructor shares one spec."""

    program: str
    args: list[str] = field(default_factory=list)
    current_dir: str | None = None
    timeout_seconds: int | None = None
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    env: dict[str, str] = field(default_factory=dict)
    env_clear: bool = False


@dataclass(frozen=True)
class Exited:
    """Normal exit with `code` (0..255)."""

    code: int


@dataclass(frozen=True)
class Signaled:
    """Killed by signal number `signal`."""

    signal: int


@dataclass(frozen=True)
class FailedToStart:
    """The program could not be started; `reason` is the OS error text."""

    reason: str


@dataclass(frozen=True)
class TimeoutExpired:
    """The wall-clock limit of the run expired; the child (and its process group) was killed."""


ExitStatus: TypeAlias = Exited | Signaled | FailedToStart | TimeoutExpired


@dataclass(frozen=True)
class CommandOutput:
    """Result of a run: captured output (each stream at most `max_output_bytes`) and status."""

    stdout: bytes
    stderr: bytes
    status: ExitStatus
    stdout_truncated: bool
    stderr_truncated: bool


def run_command(spec: CommandSpec, working_directory: str) -> CommandOutput:
    """Run `spec` to completion (or limit/timeout) and return its output; never raises for the
    cases of WIT.md §5.2 and never leaves a zombie."""
    try:
        proc = _start(spec, working_directory)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return CommandOutput(b"", b"", FailedToStart(_start_error_text(exc)), False, False)
    return _Run(proc, spec).execute()


def _start(spec: CommandSpec, working_directory: str) -> "subprocess.Popen[bytes]":
    """Start the child in its own session (so its whole process group can be killed)."""
    cwd = Path(working_directory)
    if spec.current_dir is not None:
        cwd = cwd / spec.current_dir
    return subprocess.Popen(
        [spec.program, *spec.args],
        cwd=cwd,
        env=_child_env(spec),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _child_env(spec: CommandSpec) -> dict[str, str]:
    """The inherited environment (unless cleared) plus the variables set on the spec."""
    env = {} if spec.env_clear else dict(os.environ)
    env.update(spec.env)
    return env


def _start_error_text(exc: Exception) -> str:
    """OS error text of a failed start, naming the program or directory involved."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror} (os error {exc.errno})"
        return f"{text}: {exc.filename}" if exc.filename is not None else text
    return str(exc) or type(exc).__name__


def _status(returncode: int) -> ExitStatus:
    """Map a Popen return code (negative: signal) to an exit status."""
    if returncode < 0:
        return Signaled(-returncode)
    return Exited(returncode % 256)


class _Capture:
    """One captured stream, bounded to `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = max(0, limit)
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        """Append what fits; True when this chunk overflowed the limit for the first time."""
        room = self.limit - len(self.data)
        if len(chunk) <= room:
            self.data += chunk
            return False
        self.data += chunk[: max(room, 0)]
        first = not self.truncated
        self.truncated = True
        return first


class _Run:
    """One running child: pumps both pipes, enforces the limit and the deadline, then reaps."""

    def __init__(self, proc: "subprocess.Popen[bytes]", spec: CommandSpec) -> None:
        self.proc = proc
        self.deadline = None if spec.timeout_seconds is None else time.monotonic() + spec.timeout_seconds
        self.stdout = _Capture(spec.max_output_bytes)
        self.stderr = _Capture(spec.max_output_bytes)
        self.killed_at: float | None = None

    def execute(self) -> CommandOutput:
        """Pump, reap and build the output; always kills and reaps the child on the way out."""
        try:
            finished = self._pump() and self._reap()
            status = _status(self._returncode()) if finished else TimeoutExpired()
            return CommandOutput(
                bytes(self.stdout.data),
                bytes(self.stderr.data),
                status,
                self.stdout.truncated,
                self.stderr.truncated,
            )
        finally:
            self._cleanup()

    def _returncode(self) -> int:
        code = self.proc.returncode
        assert code is not None, "child reaped before its status is read"
        return code

    def _pump(self) -> bool:
        """Read both pipes until closed (or the post-kill grace ends); False on timeout."""
        with selectors.DefaultSelector() as sel:
            for pipe, capture in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
                assert pipe is not None
                sel.register(pipe, selectors.EVENT_READ, capture)
            while sel.get_map():
                if self._expired():
                    self._kill()
                    return False
                if self._grace_over():
                    return True
                for key, _ in sel.select(self._wait_seconds()):
                    self._read(sel, key)
        return True

    def _read(self, sel: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        """Read one chunk from a ready pipe; kill the child when a stream overflows."""
        try:
            chunk = os.read(key.fd, _READ_CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(key.fileobj)
            return
        capture: _Capture = key.data
        if capture.add(chunk) and self.killed_at is None:
            self._kill()
            self.killed_at = time.monotonic()

    def _expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _grace_over(self) -> bool:
        if self.killed_at is None or time.monotonic() - self.killed_at < _KILL_GRACE_SECONDS:
            return False
        return self.proc.poll() is not None

    def _wait_seconds(self) -> float | None:
        """How long one select may block: until the deadline, shorter while a kill is pending."""
        waits: list[float] = []
        if self.deadline is not None:
            waits.append(max(0.0, self.deadline - time.monotonic()))
        if self.killed_at is not None:
            waits.append(_POLL_SECONDS)
        return min(waits) if waits else None

    def _reap(self) -> bool:
        """Wait for the child within the deadline; False (after killing it) on timeout."""
        remaining = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        try:
            self.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            self._kill()
            return False
        return True

    def _kill(self) -> None:
        """SIGKILL the child's process group and the child itself, unless already reaped (its pid
        could then be reused by an unrelated process)."""
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.proc.pid, signal.SIGKILL)

    def _cleanup(self) -> None:
        """Kill and reap the child if still unreaped; close our pipe ends."""
        if self.proc.returncode is None:
            self._kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            _close(pipe)


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        with contextlib.suppress(OSError):
            pipe.close()
