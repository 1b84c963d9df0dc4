"""GuestWorkers: guest calls on worker threads, with a short blocking wait by the event loop."""

import asyncio
import threading
import time

import pytest

from wasmind.runtime.workers import GuestWorkers

pytestmark = pytest.mark.anyio


async def test_a_call_runs_on_a_worker_thread_and_returns_its_result() -> None:
    workers = GuestWorkers(2)
    try:
        for block_for in (0.0, 0.5):
            name = await workers.run(lambda: threading.current_thread().name, block_for=block_for)
            assert name.startswith("wasmind-guest") and name != threading.current_thread().name
    finally:
        workers.close()


async def test_an_exception_of_the_call_reaches_the_awaiting_task() -> None:
    workers = GuestWorkers(1)

    def fail() -> None:
        raise ValueError("guest trapped")

    try:
        for block_for in (0.0, 0.5):
            with pytest.raises(ValueError, match="guest trapped"):
                await workers.run(fail, block_for=block_for)
    finally:
        workers.close()


async def test_the_loop_runs_again_while_a_call_outlasts_the_blocking_wait() -> None:
    """The call can only finish once another task on the loop has run: with a loop that stayed
    blocked until the call ended, it would give up and return False."""
    workers = GuestWorkers(1)
    loop_ran = threading.Event()

    async def mark() -> None:
        loop_ran.set()

    try:
        asyncio.get_running_loop().create_task(mark())
        assert await workers.run(loop_ran.wait, 30.0, block_for=0.05)
    finally:
        workers.close()


async def test_calls_beyond_the_thread_limit_wait_their_turn_and_all_complete() -> None:
    workers = GuestWorkers(2)
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def call(index: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(30)
        with lock:
            running -= 1
        return index

    try:
        calls = [asyncio.ensure_future(workers.run(call, i, block_for=0.01)) for i in range(6)]
        await asyncio.sleep(0.1)
        release.set()
        assert await asyncio.gather(*calls) == list(range(6))
        assert most == 2
        assert await workers.run(lambda: "still serving", block_for=0.5) == "still serving"
    finally:
        workers.close()


async def test_a_closed_pool_refuses_calls_with_a_clear_error() -> None:
    workers = GuestWorkers(1)
    workers.close()
    with pytest.raises(RuntimeError, match="closed"):
        await workers.run(lambda: None)


async def test_a_started_call_runs_before_anyone_waits_for_it() -> None:
    workers = GuestWorkers(1)
    ran = threading.Event()
    try:
        started = workers.start(lambda: ran.set() or 42)
        assert started.taken_at_once
        assert await asyncio.to_thread(ran.wait, 5)  # nobody has asked for the outcome yet
        assert await workers.finish(started, block_for=0.5) == 42
    finally:
        workers.close()


async def test_then_runs_on_the_worker_only_while_the_loop_waits_and_the_loop_waits_for_it() -> None:
    workers = GuestWorkers(1)
    ran: list[str] = []

    def then() -> None:
        time.sleep(0.05)  # longer than the loop's budget below: it must wait anyway
        ran.append(threading.current_thread().name)

    try:
        started = workers.start(lambda: time.sleep(0.005) or 1, then=then)  # the loop waits first
        assert await workers.finish(started, block_for=0.01) == 1
        assert len(ran) == 1 and ran[0].startswith("wasmind-guest")  # done before finish returned
        release = threading.Event()
        started = workers.start(release.wait, 5, then=then)  # the loop does not wait for this one
        release.set()
        assert await workers.finish(started, block_for=0.0) is True
        await asyncio.sleep(0.1)
        assert len(ran) == 1
    finally:
        workers.close()


async def test_a_call_seen_finished_by_a_blocking_wait_needs_no_second_wait() -> None:
    """The bus's read pass may wait for a call before its actor's task does: both must see it done."""
    workers = GuestWorkers(1)
    try:
        started = workers.start(lambda: time.sleep(0.005) or 7)
        assert started.block(10) and started.block(10)  # a second real wait would time out: False
        assert await workers.finish(started, block_for=10) == 7
    finally:
        workers.close()


async def test_busy_while_a_call_runs_and_not_once_its_outcome_is_seen() -> None:
    """The host's polling event loop holds off while a call runs; the worker marks the call done
    before the loop can see it finished (else the loop would sleep instead of polling)."""
    workers = GuestWorkers(2)
    started, release = threading.Event(), threading.Event()

    def call() -> int:
        started.set()
        release.wait(5)
        return 7

    try:
        assert not workers.busy()
        for block_for in (0.0, 0.5):
            started.clear()
            release.clear()
            running = asyncio.ensure_future(workers.run(call, block_for=block_for))
            await asyncio.to_thread(started.wait, 5)
            assert workers.busy()
            release.set()
            assert await running == 7
            assert not workers.busy()
    finally:
        workers.close()


async def test_calls_dropped_by_close_do_not_count_as_busy() -> None:
    workers = GuestWorkers(1)
    running, release = threading.Event(), threading.Event()

    def first_call() -> None:
        running.set()
        release.wait(5)

    first = workers.start(first_call)
    await asyncio.to_thread(running.wait, 5)
    workers.start(lambda: None)  # waits for the only thread: dropped by close
    workers.close()
    assert workers.busy()  # the first still runs
    release.set()
    await first.call.outcome()
    assert not workers.busy()
