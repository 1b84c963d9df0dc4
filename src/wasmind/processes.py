"""Child processes that cannot outlive their parent (Linux ``PR_SET_PDEATHSIG``)."""

import ctypes
import signal
import sys

__all__ = ["die_with_parent"]

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
