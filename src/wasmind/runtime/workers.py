"""Guest calls on worker threads, with results handed back to the event loop cheaply.

``anyio.to_thread.run_sync`` costs ~95 µs per call on these machines (limiter, context copy,
worker queue); a plain executor plus ``call_soon_threadsafe`` costs ~55 µs. Guest calls are the hot
path of every message, so the host uses this. Threads are created on demand up to ``threads`` and
reused; an instance blocked in a long host call (an LLM request) holds one thread, not the loop.
"""

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["GuestWorkers"]

T = TypeVar("T")


def _settle(future: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled: nobody wants the outcome
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GuestWorkers:
    """A thread pool for guest calls (one call per instance at a time is the caller's rule)."""

    def __init__(self, threads: int) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="wasmind-guest"
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread. If the caller is cancelled, the call finishes unobserved."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                result = fn(*args)
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

        self._executor.submit(job)
        return await future

    def close(self) -> None:
        """Stop accepting calls; running ones finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
