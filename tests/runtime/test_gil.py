"""GIL-holding system calls: same results as the stdlib's."""

import asyncio
import os
import threading
from pathlib import Path

import pytest

from wasmind.runtime import gil


def test_file_size_is_the_size_and_reads_by_offset_still_work(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"first line\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert gil.file_size(fd) == os.fstat(fd).st_size == 11
        with path.open("ab") as file:
            file.write(b"second\n")
        assert gil.file_size(fd) == 18
        assert os.pread(fd, 7, 11) == b"second\n"
    finally:
        os.close(fd)


def test_file_size_of_a_closed_descriptor_raises_oserror(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError):
        gil.file_size(fd)


def test_a_callback_queued_from_another_thread_wakes_an_idle_loop() -> None:
    """The loop sleeps in its selector with nothing else to do: only the self-pipe byte wakes it."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        done = asyncio.Event()

        def callback(value: str) -> None:
            seen.append(value)
            done.set()

        threading.Timer(0.05, gil.call_soon_threadsafe, (loop, callback, "from a thread")).start()
        await asyncio.wait_for(done.wait(), 10)
        return seen

    assert asyncio.run(main()) == ["from a thread"]


def test_queueing_on_a_closed_loop_raises_like_asyncio() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        gil.call_soon_threadsafe(loop, print)
