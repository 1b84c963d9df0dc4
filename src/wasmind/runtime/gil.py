"""Short system calls made on guest threads without letting go of the GIL.

Python releases the GIL around every system call (``os.fstat``, ``socket.send``). On a guest
thread of a busy host that is costly: the event-loop thread takes the GIL at once and keeps it
until its switch interval (5 ms) is up or it blocks, and only then does the guest thread get it
back. py-spy on a host under a flood of messages showed guest threads spending ~16 % of their time
waiting there after waking the loop, and ~3 % after checking their output files. These calls
never block (a regular file's size; one byte into the loop's non-blocking self-pipe), so they go
through a ``PyDLL`` handle of libc, which keeps the GIL, as ``abi.py`` does for wasmtime's short
calls.
"""

import asyncio
import ctypes
import os
from collections.abc import Callable
from typing import Any

__all__ = ["call_soon_threadsafe", "file_size"]

_libc = ctypes.PyDLL(None, use_errno=True)
_lseek = _libc.lseek
_lseek.restype, _lseek.argtypes = ctypes.c_long, [ctypes.c_int, ctypes.c_long, ctypes.c_int]
_write = _libc.write
_write.restype, _write.argtypes = ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
_WAKE_BYTE = b"\0"


def file_size(fd: int) -> int:
    """Size of the regular file open as ``fd`` (moves its offset to the end: read it with
    ``os.pread``). Raises ``OSError`` on failure."""
    size: int = _lseek(fd, 0, os.SEEK_END)
    if size < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return size


def call_soon_threadsafe(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
) -> None:
    """``loop.call_soon_threadsafe(callback, *args)`` from another thread, keeping the GIL.

    Same as asyncio's own for a selector event loop (queue the callback, then one byte into the
    loop's self-pipe, a full pipe being fine since the loop is awake then); other loops get their
    own method. Raises ``RuntimeError`` when the loop is closed.
    """
    self_pipe = getattr(loop, "_csock", None)
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop) or self_pipe is None:
        loop.call_soon_threadsafe(callback, *args)
        return
    if loop.is_closed():
        raise RuntimeError("Event loop is closed")
    loop._call_soon(callback, args, None)  # type: ignore[attr-defined]
    _write(self_pipe.fileno(), _WAKE_BYTE, 1)
