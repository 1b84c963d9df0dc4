"""Experiment (not product code): what a guest call costs while another Python thread is busy.

A host receives on its event loop's thread and calls actors on guest threads. A call's wasm runs
without the GIL; marshalling before it and the return after it need the GIL. This times calls of
the ``bench:counter`` actor in one thread: alone, how much of each is spent inside the guest
(``wasmtime_component_func_call``, the GIL released), and beside a thread that runs Python
without pause (as a host's loop does while it parses a burst of frames), under several GIL switch
intervals. From the repository root:

    .venv/bin/python docs/experiments/gil_convoy/convoy.py [calls]
"""

import sys
import threading
import time
from collections.abc import Callable

from wasmind_cli.bench.floor import SCOPE, direct_instances
from wasmind_cli.bench.swarm import TICK, tick_payload

from wasmind.assets import actors_dir
from wasmind.runtime import frame
from wasmind.runtime.instance import ActorInstance
from wasmind.wire.envelope import Envelope

SWITCH_INTERVALS = (0.005, 0.0005, 0.0001, 0.00002)
"""Seconds; CPython's default is 5 ms."""


def per_call_us(call: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def inside_guest_us(call: Callable[[], object], calls: int) -> float:
    """µs per call spent in ``func_call`` (the guest, GIL released), timed around it."""
    spent = 0.0
    original = frame._func_call

    def timed(*args: object) -> object:
        nonlocal spent
        started = time.perf_counter()
        try:
            return original(*args)
        finally:
            spent += time.perf_counter() - started

    frame._func_call = timed
    try:
        per_call_us(call, calls)
    finally:
        frame._func_call = original
    return spent / calls * 1e6


def beside_busy_thread_us(call: Callable[[], object], calls: int) -> float:
    """µs per call while another thread runs Python without pause."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        return per_call_us(call, calls)
    finally:
        stop.set()
        thread.join()


def main(calls: int) -> None:
    with direct_instances() as (loader, sink):
        counter = ActorInstance(loader.actor(actors_dir() / "bench" / "counter", "counter"), SCOPE, sink)
        counter.construct()
        tick = Envelope("root:tick", TICK, "bench", SCOPE, tick_payload(10**9))
        call = lambda: counter.handle(tick)
        per_call_us(call, 2000)  # warm-up
        alone = per_call_us(call, calls * 10)
        inside = inside_guest_us(call, calls * 10)
        print(f"alone: {alone:.1f} µs a call, {inside:.1f} µs of it inside the guest (GIL released)")
        default = sys.getswitchinterval()
        try:
            for interval in SWITCH_INTERVALS:
                sys.setswitchinterval(interval)
                beside = beside_busy_thread_us(call, calls)
                print(
                    f"beside a busy Python thread, switch interval {interval * 1e6:.0f} µs: {beside:.1f} µs a call"
                )
        finally:
            sys.setswitchinterval(default)
        counter.destroy()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
