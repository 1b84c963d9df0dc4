"""``wasmind bench hops``: where the time of a cross-host round trip goes, stage by stage.

The messaging suite's pinger/echo pair runs on two host processes that load ``hop_marks`` (via
``PYTHONPATH``): every stage a message passes is timestamped in both processes on one clock. The
result is the median time between consecutive stages, over the round trips after a warm-up, in
the order a round trip passes them; transitions from one host to the other start at the sending
host's last mark (a reply written on a guest thread leaves while that host's event loop is still
finishing its read pass), so the NATS transits are also given on their own, from a socket write to
the other host's next socket read.
"""

import itertools
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import anyio

from wasmind.transport.natsserver import NatsServer
from wasmind_cli.bench.report import Result, percentile
from wasmind_cli.bench.swarm import (
    MESSAGING_CONFIG,
    bench_swarm,
    ping_round_trips,
    with_sitecustomize,
    write_config,
)

__all__ = ["run_hops_suite"]

SUITE = "hops"
MARKS = Path(__file__).parent / "hop_marks"
FLUSH_SECONDS = 1.5
"""The marks are written once a second: wait that long before the hosts stop."""


def run_hops_suite(rounds: int = 2000) -> list[Result]:
    """The round trip and the median of every stage-to-stage step of it."""
    return anyio.run(_hops, rounds)


async def _hops(rounds: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="wasmind-bench-") as tmp:
        work = Path(tmp)
        marks = work / "marks"
        marks.mkdir()
        config = await anyio.to_thread.run_sync(write_config, work, MESSAGING_CONFIG)
        env = with_sitecustomize(MARKS, WASMIND_HOPS_DIR=str(marks))
        async with (
            NatsServer() as server,
            bench_swarm(server, config, "benchhops", work, hosts=2, capacity=1, env=env) as swarm,
        ):
            pinger = await swarm.spawn(["pinger"], "pinger")
            echo = await swarm.spawn(["echo"], "echo")
            if pinger.host == echo.host or pinger.host is None or echo.host is None:
                raise RuntimeError("the pinger and the echo landed on one host; figures invalid")
            round_trips = await ping_round_trips(swarm, pinger.scope or "", rounds)
            await anyio.sleep(FLUSH_SECONDS)
            roles = {swarm.host_pids[pinger.host]: "pinger host", swarm.host_pids[echo.host]: "echo host"}
            events = _read_marks(marks, roles)
    round_trip = Result.of(SUITE, "actor_round_trip_cross_host_us", round_trips, "µs", 1e6, target=1000.0)
    return [round_trip, *stage_steps(events, min_count=len(round_trips) // 2), *transits(events)]


def _read_marks(directory: Path, roles: dict[int, str]) -> list[tuple[int, str]]:
    """``(nanoseconds, "<role>|<stage>")`` of both hosts, in time order."""
    events = []
    for pid, role in roles.items():
        path = directory / f"{pid}.txt"
        if not path.exists():
            raise RuntimeError(f"no stage marks from the {role} (pid {pid}): was hop_marks loaded?")
        for line in path.read_text().splitlines():
            stamp, stage = line.split(" ", 1)
            events.append((int(stamp), f"{role}|{stage}"))
    return sorted(events)


def stage_steps(events: list[tuple[int, str]], min_count: int) -> list[Result]:
    """Median µs between consecutive marks, per (from, to) pair seen at least ``min_count`` times,
    in order of first appearance after the first tenth (the warm-up)."""
    steady = events[len(events) // 10 :]
    steps: dict[str, list[float]] = defaultdict(list)
    for (start, first), (end, second) in itertools.pairwise(steady):
        steps[_step_name(first, second)].append((end - start) / 1000)
    return [
        Result(
            SUITE, name, round(statistics.median(gaps), 1), "µs", round(percentile(gaps, 0.99), 1), len(gaps)
        )
        for name, gaps in steps.items()
        if len(gaps) >= min_count
    ]


def transits(events: list[tuple[int, str]]) -> list[Result]:
    """Median µs from a host's socket write to the other host's next socket read, per direction
    (after the warm-up): the NATS transit, whatever else either host marked in between."""
    steady = events[len(events) // 10 :]
    gaps: dict[str, list[float]] = defaultdict(list)
    written: dict[str, int] = {}
    for stamp, event in steady:
        role, stage = event.split("|")
        if stage == "socket-write<":
            written[role] = stamp
            continue
        if stage != "socket-read>":
            continue
        for sender, since in list(written.items()):
            if sender != role:
                gaps[f"transit {sender} -> {role} (socket-write< -> socket-read>)"].append(
                    (stamp - since) / 1000
                )
                del written[sender]
    return [
        Result(
            SUITE,
            name,
            round(statistics.median(found), 1),
            "µs",
            round(percentile(found, 0.99), 1),
            len(found),
        )
        for name, found in gaps.items()
    ]


def _step_name(first: str, second: str) -> str:
    role, stage = first.split("|")
    next_role, next_stage = second.split("|")
    if role == next_role:
        return f"{role}: {stage} -> {next_stage}"
    return f"{role}: {stage} -> {next_role}: {next_stage}"
