"""Run programs on the host (WIT ``command``): ``command.run("ls", ["-la"], timeout=10)``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wasmind_sdk._errors import CommandError
from wasmind_sdk._host import wit, wit_err

__all__ = ["CommandError", "CommandResult", "ExitStatus", "run"]

_KINDS = {
    "ExitStatus_Exited": "exited",
    "ExitStatus_Signaled": "signaled",
    "ExitStatus_FailedToStart": "failed-to-start",
    "ExitStatus_TimeoutExpired": "timeout-expired",
}


@dataclass(frozen=True)
class ExitStatus:
    """How the program ended.

    Attributes:
        kind: ``exited``, ``signaled``, ``failed-to-start`` or ``timeout-expired``.
        code: the exit code (``exited``) or the signal number (``signaled``), else ``None``.
        error: why the program did not start (``failed-to-start``), else ``None``.
    """

    kind: str
    code: int | None = None
    error: str | None = None

    @property
    def success(self) -> bool:
        """Exited with code 0."""
        return self.kind == "exited" and self.code == 0

    def __str__(self) -> str:
        if self.kind == "exited":
            return f"exit code {self.code}"
        if self.kind == "signaled":
            return f"killed by signal {self.code}"
        if self.kind == "failed-to-start":
            return f"failed to start: {self.error}"
        return "timed out"


@dataclass(frozen=True)
class CommandResult:
    """The outcome of :func:`run`: captured output (each stream capped) and the exit status."""

    stdout: bytes
    stderr: bytes
    status: ExitStatus
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes become U+FFFD)."""
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (invalid bytes become U+FFFD)."""
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def success(self) -> bool:
        """The program exited with code 0."""
        return self.status.success


def _status(raw: Any) -> ExitStatus:
    kind = _KINDS.get(type(raw).__name__, type(raw).__name__)
    value = getattr(raw, "value", None)
    if kind == "failed-to-start":
        return ExitStatus(kind, error=str(value))
    return ExitStatus(kind, code=value)


def run(
    program: str,
    args: Iterable[str] = (),
    *,
    cwd: str | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    env: Mapping[str, str] | None = None,
    env_clear: bool = False,
) -> CommandResult:
    """Run ``program`` (resolved through ``PATH``, no shell) and wait for it.

    Args:
        program: the executable; for shell features run ``run("bash", ["-c", line])``.
        args: its arguments.
        cwd: working directory (default: the run's working directory; relative paths are relative to it).
        timeout: wall-clock limit in seconds (rounded up); the program is killed when it expires.
        max_output_bytes: cap per stream (host default 100 000); a stream over it kills the program.
        env: variables to set for the program.
        env_clear: start from an empty environment instead of the host's (``env`` still applies).

    Returns:
        The result; a program that could not start or timed out is reported in ``result.status``.

    Raises:
        CommandError: the host could not run the command at all.
    """
    if isinstance(args, str):
        raise TypeError("run() takes the arguments as a list of strings, not one string")
    command = wit("command")
    cmd = command.Cmd(program)
    steps: list[Any] = []  # builder calls return new handles sharing the command's state
    try:
        if env_clear:
            steps.append(cmd.env_clear())  # before env(): env-clear discards variables set earlier
        for key, value in (env or {}).items():
            steps.append(cmd.env(key, value))
        if args:
            steps.append(cmd.args([str(arg) for arg in args]))
        if cwd is not None:
            steps.append(cmd.current_dir(cwd))
        if timeout is not None:
            steps.append(cmd.timeout(max(0, math.ceil(timeout))))
        if max_output_bytes is not None:
            steps.append(cmd.max_output_bytes(max_output_bytes))
        try:
            output = cmd.run()
        except wit_err() as error:
            raise CommandError(str(getattr(error, "value", error))) from None
    finally:
        for handle in (*steps, cmd):
            handle.__exit__(None, None, None)
    return CommandResult(
        output.stdout, output.stderr, _status(output.status), output.stdout_truncated, output.stderr_truncated
    )
