"""The floor of an actor round trip in this design, measured piece by piece in the bench process.

A cross-host round trip (``bench:pinger`` -> example echo -> pinger) cannot cost less than:

- two NATS transits: the raw nats-py request/reply of the same run;
- the two guest calls themselves: the echo answering a request and the pinger taking the reply
  and sending its next request, each called directly on one thread (no host, no NATS);
- two thread hand-offs per hop: each guest call runs on a worker thread while NATS I/O stays on
  the event loop (:class:`~wasmind.runtime.workers.GuestWorkers`, the host's own mechanism).

What a real round trip costs above their sum is the Python work of the hosts' event loops
(nats-py parsing and publishing, routing, mailboxes) and contention for the GIL.
"""

import asyncio
import json
import time
from functools import partial

from wasmind.assets import actors_dir
from wasmind.runtime.instance import ActorInstance
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


def guest_call_samples(calls: int) -> dict[str, list[float]]:
    """Seconds per call, in this thread: ``echo`` answering a request, ``pinger`` taking a reply."""
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
            samples[label] = timed(partial(instance.handle, envelope), calls)
            if sink.published - published != calls + WARM_UP_CALLS:
                raise RuntimeError(f"the {label} did not answer every message; figure invalid")
        for instance in (echo, pinger):
            instance.destroy()
        return samples


async def handoff_samples(rounds: int) -> list[float]:
    """Seconds from the event loop to a worker thread and back (a no-op call), as hosts do it."""
    workers = GuestWorkers(2)
    samples = []
    try:
        for index in range(rounds + 100):
            started = time.perf_counter()
            await workers.run(_nothing)
            if index >= 100:
                samples.append(time.perf_counter() - started)
            await asyncio.sleep(0)
    finally:
        workers.close()
    return samples


def _nothing() -> None:
    return None


def round_trip_floor(
    raw_request_reply: Result, guest_calls: dict[str, list[float]], handoffs: list[float]
) -> list[Result]:
    """The parts (µs) and their sum, ``actor_round_trip_floor_us`` (medians)."""
    echo = Result.of(SUITE, "echo_guest_call_direct_us", guest_calls["echo"], "µs", 1e6)
    pinger = Result.of(SUITE, "pinger_guest_call_direct_us", guest_calls["pinger"], "µs", 1e6)
    handoff = Result.of(SUITE, "thread_handoff_round_trip_us", handoffs, "µs", 1e6)
    floor = raw_request_reply.value + echo.value + pinger.value + 2 * handoff.value
    return [
        echo,
        pinger,
        handoff,
        Result(SUITE, "actor_round_trip_floor_us", round(floor, 1), "µs", samples=1),
    ]
