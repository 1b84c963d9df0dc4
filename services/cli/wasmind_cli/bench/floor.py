"""The floor of an actor round trip, measured piece by piece in the bench process.

A cross-host round trip (``bench:pinger`` -> example echo -> pinger) cannot cost less than:

- two NATS transits: the raw nats-py request/reply of the same run;
- the two guest calls themselves: the echo answering a request and the pinger taking the reply
  and sending its next request, each called directly on one thread (no host, no NATS), each
  after sleeping as long as that raw request/reply takes. In a round trip every actor idles for
  at least that long between two calls, and on a shared VM an idle core comes back with cold
  caches: such a call costs far more than one of a hot back-to-back loop (also reported).

Their sum is ``actor_round_trip_floor_us``: a host that did no work at all (no routing, no
threads, no mailboxes) would still need that much. The thread hand-off each hop makes (the guest
call runs on a worker thread while NATS I/O stays on the event loop,
:class:`~wasmind.runtime.workers.GuestWorkers`) is reported next to it.
"""

import asyncio
import json
import time
from functools import partial

from wasmind.assets import actors_dir
from wasmind.runtime.instance import ActorInstance
from wasmind.runtime.supervisor import LONE_CALL_WAIT
from wasmind.runtime.workers import GuestWorkers
from wasmind.wire.envelope import Envelope
from wasmind_cli.bench.report import Result
from wasmind_cli.bench.runtime import direct_instances, timed

__all__ = ["guest_call_samples", "handoff_samples", "round_trip_floor"]

SUITE = "messaging"
SCOPE = "bench0"
BODY = (SCOPE + ":").encode() + b"x" * 200
"""What the pinger sends (its scope, a colon, 200 bytes) and the echo sends back."""
WARM_UP_CALLS = 200


def guest_call_samples(calls: int, idle_gap: float = 0.0) -> dict[str, list[float]]:
    """Seconds per call, in this thread: ``echo`` answering a request, ``pinger`` taking a reply.

    With ``idle_gap`` (seconds), the thread sleeps that long before each timed call.
    """
    with direct_instances() as (loader, sink):
        echo = ActorInstance(loader.actor(actors_dir() / "examples" / "echo", "echo"), SCOPE, sink)
        pinger = ActorInstance(loader.actor(actors_dir() / "bench" / "pinger", "pinger"), SCOPE, sink)
        for instance in (echo, pinger):
            instance.construct()
        start = json.dumps({"rounds": 10 * calls + 1000, "payload_bytes": len(BODY) - len(SCOPE) - 1})
        pinger.handle(Envelope("root:start", "bench.ping.Start", "bench", SCOPE, start.encode()))
        request = Envelope("root:req", "echo.request", "bench:pinger", SCOPE, BODY)
        reply = Envelope("req:reply", "echo.reply", "example:echo", SCOPE, BODY)
        samples: dict[str, list[float]] = {}
        for instance, envelope, label in ((echo, request, "echo"), (pinger, reply, "pinger")):
            published = sink.published
            for _ in range(WARM_UP_CALLS):
                instance.handle(envelope)
            samples[label] = timed(partial(instance.handle, envelope), calls, idle_gap)
            if sink.published - published != calls + WARM_UP_CALLS:
                raise RuntimeError(f"the {label} did not answer every message; figure invalid")
        for instance in (echo, pinger):
            instance.destroy()
        return samples


async def handoff_samples(rounds: int) -> list[float]:
    """Seconds from the event loop to a worker thread and back (a no-op call), as hosts hand over
    a lone message."""
    workers = GuestWorkers(2)
    samples = []
    try:
        for index in range(rounds + 100):
            started = time.perf_counter()
            await workers.run(_nothing, block_for=LONE_CALL_WAIT)
            if index >= 100:
                samples.append(time.perf_counter() - started)
            await asyncio.sleep(0)
    finally:
        workers.close()
    return samples


def _nothing() -> None:
    return None


def round_trip_floor(
    raw_request_reply: Result,
    hot_calls: dict[str, list[float]],
    idle_calls: dict[str, list[float]],
    handoffs: list[float],
) -> list[Result]:
    """The parts (µs) and ``actor_round_trip_floor_us``: the raw round trip plus both guest calls
    after an idle gap (medians)."""
    parts = [
        Result.of(SUITE, f"{label}_guest_call_{kind}_us", calls[label], "µs", 1e6)
        for kind, calls in (("direct", hot_calls), ("after_idle", idle_calls))
        for label in ("echo", "pinger")
    ]
    floor = raw_request_reply.value + sum(part.value for part in parts[2:])
    return [
        *parts,
        Result.of(SUITE, "thread_handoff_round_trip_us", handoffs, "µs", 1e6),
        Result(SUITE, "actor_round_trip_floor_us", round(floor, 1), "µs", samples=1),
    ]
