"""Running the `wasmind` command in tests: an isolated environment and a check that nothing is left running."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

WASMIND = str(Path(sys.executable).parent / "wasmind")
"""The `wasmind` console script of the test's virtual environment."""


def run_wasmind(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """``wasmind <args>`` with its output captured as text; the exit status is the caller's to check."""
    return subprocess.run(
        [WASMIND, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )


def run_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], str]:
    """An environment with private state and data directories, and a marker its processes inherit."""
    marker = uuid.uuid4().hex
    env = {
        **os.environ,
        "WASMIND_STATE_DIR": str(tmp_path / "state"),
        "WASMIND_DATA_DIR": str(tmp_path / "data"),
        "WASMIND_TEST_MARKER": marker,
        **extra,
    }
    return env, marker


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"WASMIND_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().split(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_no_leftovers(marker: str, seconds: float = 10) -> None:
    """Fail (after killing them) if processes with ``marker`` still run after ``seconds``."""
    deadline = time.monotonic() + seconds
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = processes_with(marker)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes left behind: {leftovers}"
