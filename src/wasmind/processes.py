"""Process helpers: children that cannot outlive their parent (Linux ``PR_SET_PDEATHSIG``), and
a process's proportional set size."""

import ctypes
import signal
import sys
from pathlib import Path

__all__ = ["die_with_parent", "pss_kib"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: the child gets SIGTERM when its parent dies.

    Even a SIGKILLed parent (or CLI) then leaves no host or spawner behind. A no-op off Linux.
    The signal fires when the *thread* that started the child exits, so start children from a
    thread that lives as long as the parent (the event loop's).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def pss_kib(pid: int | None = None) -> int:
    """Proportional set size of process ``pid`` (default: this one) in KiB, from
    ``/proc/<pid>/smaps_rollup``. Raises ``OSError`` where that file cannot be read."""
    path = Path(f"/proc/{'self' if pid is None else pid}/smaps_rollup")
    for line in path.read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise OSError(f"no Pss line in {path}")
