"""Every benchmark suite runs (tiny sizes) and prints one JSON object per result.

Only the shape of the results is checked, never a measured value against a target: these machines
are shared and noisy, and the figures belong in ``make bench``, not in tests.
"""

import hashlib
import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from processes import run_wasmind
from wasmind_cli.bench.bare_in_host.sitecustomize import (
    BARE_MARK,
    BARE_PREFIX,
    GUEST_THREAD_MARK,
    GUEST_THREAD_PREFIX,
    INLINE_MARK,
    INLINE_PREFIX,
)
from wasmind_cli.bench.report import Result, print_results
from wasmind_cli.bench.swarm import (
    PAYLOAD_BYTES,
    HostThreads,
    _Flood,
    alternate,
    raw_request_reply,
    serial_estimate,
    tick_payload,
)

from wasmind.transport.nats import NatsOptions, connect
from wasmind.transport.natsserver import NatsServer

WAT_ECHO = str(Path(__file__).resolve().parents[2] / "actors" / "examples" / "wat_echo")

# figure -> (target, better) for the figures that have a target
TARGETS: dict[str, tuple[float, str]] = {
    "python.instantiate_ms": (5.0, "lower"),
    "actor_round_trip_cross_host_us": (1000.0, "lower"),
    "counter_host_over_bare_rate": (0.70, "higher"),
    "agent_of_3_python_actors_warm_host_ms": (25.0, "lower"),
    "agent_of_3_python_actors_cold_host_ms": (2000.0, "lower"),
    "spawn_all_agents_s": (60.0, "lower"),
    "pss_per_agent_marginal_mib": (3.0, "lower"),
    "ping_latency_n_over_10_agents": (1.3, "lower"),
}

NOT_POSITIVE_AT_TINY_SIZES = (
    "_overhead_us_per_msg",
    "_handover_us_per_msg",
    "_receive_over_floor_us_per_msg",
    "_cpu_us_per_msg",
    "_threads_busy_at_once",
)
"""A difference of two noisy rates, and CPU times read in 10 ms clock ticks: a round of a few
hundred messages may come out negative or zero."""


def run_suite(suite: str, args: list[str], timeout: float = 300) -> list[dict[str, Any]]:
    done = run_wasmind("bench", suite, "--json", *args, timeout=timeout)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for result in results:
        assert result["suite"] == suite
        assert {"name", "value", "unit", "samples"} <= set(result)
        assert math.isfinite(result["value"]), result
        if not result["name"].endswith(NOT_POSITIVE_AT_TINY_SIZES):
            assert result["value"] > 0, result
        if "target" in result:
            assert result["better"] in ("lower", "higher") and isinstance(result["ok"], bool), result
        if "ratio" in result or result["unit"] == "×":
            assert result["baseline"] in {r["name"] for r in results}, result
    return results


@pytest.mark.parametrize(
    ("suite", "args", "figures"),
    [
        (
            "runtime",
            ["--calls", "50", "--population", "4"],
            {"python.instantiate_ms", "wat.handle_noop_us"},
        ),
        (
            "messaging",
            ["--rounds", "60", "--messages", "300", "--flow-rounds", "1"],
            {
                "actor_round_trip_cross_host_us",
                "actor_round_trip_floor_us",
                "echo_guest_call_after_idle_us",
                "pinger_guest_call_after_idle_us",
                "cross_host_round_trip_over_floor",
                "thread_handoff_round_trip_us",
                "raw_nats_request_reply_us",
                "raw_nats_pub_sub_msgs_per_s",
                "counter_bare_handle_msgs_per_s",
                "counter_on_host_over_nats_msgs_per_s",
                "counter_host_over_bare_rate",
                "counter_host_overhead_us_per_msg",
                "counter_host_over_bare_serial_estimate",
                "counter_host_loop_thread_cpu_us_per_msg",
                "counter_host_guest_threads_cpu_us_per_msg",
                "counter_host_threads_busy_at_once",
                "counter_inline_on_host_over_nats_msgs_per_s",
                "counter_host_inline_over_bare_rate",
                "counter_host_handover_us_per_msg",
                "counter_python_floor_over_nats_msgs_per_s",
                "counter_python_floor_over_bare_rate",
                "counter_host_receive_over_floor_us_per_msg",
                "counter_python_floor_guest_thread_over_bare_rate",
                "counter_host_over_python_floor_rate",
                "wat_counter_on_host_over_nats_msgs_per_s",
            },
        ),
        (
            "hops",
            ["--rounds", "60"],
            {
                "actor_round_trip_cross_host_us",
                "echo host: route> -> mailbox-put>",
                "echo host: guest-calls> -> broadcast>",
                "pinger host: guest-calls> -> broadcast>",
            },
        ),
        (
            "spawn",
            ["--spawns", "3", "--cold-spawns", "1"],
            {
                "agent_of_3_python_actors_warm_host_ms",
                "agents_spawned_per_second_sequential",
                "agent_of_3_python_actors_cold_host_ms",
                "cold_host_ready_ms",
            },
        ),
        (
            "scale",
            ["--agents", "20", "--rounds", "60"],
            {
                "spawn_all_agents_s",
                "pss_per_agent_marginal_mib",
                "pss_per_agent_total_mib",
                "ping_round_trip_10_idle_agents_us",
                "ping_round_trip_n_idle_agents_us",
                "ping_latency_n_over_10_agents",
            },
        ),
        (
            "build",
            ["--actor", WAT_ECHO, "--loads", "2"],
            {
                "wat_echo.first_build_ms",
                "wat_echo.build_ms",
                "wat_echo.precompile_ms",
                "wat_echo.warm_load_ms",
            },
        ),
    ],
)
def test_a_bench_suite_prints_json_results(suite: str, args: list[str], figures: set[str]) -> None:
    results = {r["name"]: r for r in run_suite(suite, args)}
    assert figures <= set(results)
    if suite == "hops":  # the NATS transits both ways, whichever stage each host reached meanwhile
        for here, there in (("echo host", "pinger host"), ("pinger host", "echo host")):
            transit = results[f"transit {here} -> {there} (socket-write< -> socket-read>)"]
            assert transit["value"] > 0 and transit["samples"] >= 30
    for name in figures & set(TARGETS):
        assert (results[name]["target"], results[name]["better"]) == TARGETS[name]


def test_targets_go_either_way_and_ratio_targets_are_figures_of_their_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = Result("messaging", "bare_msgs_per_s", 10_000, "msgs/s")
    hosted = Result("messaging", "hosted_msgs_per_s", 6_000, "msgs/s").check(5_000, higher_is_better=True)
    share = Result.quotient("hosted_over_bare", hosted, bare, 0.70, higher_is_better=True)
    latency = Result("scale", "latency_us", 900, "µs").check(1000)
    assert (hosted.ok, hosted.better) == (True, "higher")
    assert (share.value, share.unit, share.baseline, share.ok, share.better) == (
        0.6,
        "×",
        "bare_msgs_per_s",
        False,
        "higher",
    )
    assert (latency.ok, latency.better) == (True, "lower")
    print_results([bare, hosted, share, latency], as_json=False)
    table = capsys.readouterr().out
    assert "≥ 0.7" in table and "≥ 5000" in table and "≤ 1000" in table
    print_results([share], as_json=True)
    assert json.loads(capsys.readouterr().out)["better"] == "higher"


def test_a_ratio_of_paired_rounds_is_the_median_of_each_pairs_ratio() -> None:
    # The machine sped up between rounds: each pair's share is what the host kept of that minute.
    pairs = [(1.0, 1.0), (10.0, 20.0), (30.0, 40.0)]  # (hosted, bare)
    hosted = Result("messaging", "hosted_msgs_per_s", 10.0, "msgs/s")
    bare = Result("messaging", "bare_msgs_per_s", 20.0, "msgs/s")
    share = Result.paired_quotient("hosted_over_bare", pairs, hosted, bare, 0.70, higher_is_better=True)
    assert (share.value, share.baseline, share.ok) == (0.75, "bare_msgs_per_s", True)
    assert Result.quotient("of_medians", hosted, bare).value == 0.5


def test_the_serial_estimate_is_the_share_left_when_receiving_and_calling_take_turns() -> None:
    # 1/30,000 s to receive a message plus 1/10,000 s to handle it: 7,500/s, 0.75 of the bare rate.
    raw = Result("messaging", "raw_nats_pub_sub_msgs_per_s", 30_000, "msgs/s")
    bare = Result("messaging", "counter_bare_handle_msgs_per_s", 10_000, "msgs/s", samples=5)
    estimate = serial_estimate("counter", raw, bare)
    assert (estimate.name, estimate.value, estimate.baseline) == (
        "counter_host_over_bare_serial_estimate",
        0.75,
        "raw_nats_pub_sub_msgs_per_s",
    )


def test_the_rounds_ticks_are_ticks_the_hosts_can_tell_apart() -> None:
    pads = ("", BARE_PREFIX, INLINE_PREFIX, GUEST_THREAD_PREFIX)
    payloads = [tick_payload(5000, pad) for pad in pads]
    assert {len(payload) for payload in payloads} == {PAYLOAD_BYTES}
    assert {json.loads(payload)["count"] for payload in payloads} == {5000}
    for mark, marked in ((BARE_MARK, 1), (INLINE_MARK, 2), (GUEST_THREAD_MARK, 3)):
        assert [mark in payload for payload in payloads] == [index == marked for index in range(len(pads))]


@pytest.mark.anyio
async def test_rounds_rotate_which_figure_runs_first() -> None:
    """A machine that slows down round by round must not favour the figure measured first."""
    order: list[str] = []

    def round_of(name: str) -> Callable[[], Awaitable[float]]:
        async def measure() -> float:
            order.append(name)
            return float(100 - len(order))  # later rounds are slower

        return measure

    pairs = await alternate([round_of("bare"), round_of("hosted")], 4)
    assert order == ["bare", "hosted", "hosted", "bare", "bare", "hosted", "hosted", "bare"]
    assert pairs == [(99.0, 98.0), (96.0, 97.0), (95.0, 94.0), (92.0, 93.0)]  # (bare, hosted)
    order.clear()
    triples = await alternate([round_of("bare"), round_of("hosted"), round_of("inline")], 3)
    assert order == ["bare", "hosted", "inline", "hosted", "inline", "bare", "inline", "bare", "hosted"]
    assert triples == [(99.0, 98.0, 97.0), (94.0, 96.0, 95.0), (92.0, 91.0, 93.0)]


def _burn(seconds: float) -> None:
    """Keep this thread busy (holding the GIL)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _burn_without_the_gil(seconds: float) -> None:
    """Keep this thread busy in C (hashlib lets go of the GIL for large inputs)."""
    block = b"x" * 20_000_000  # ~50 ms a digest: the GIL changes hands seldom
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        hashlib.sha256(block).digest()


@pytest.mark.anyio
async def test_host_threads_tell_the_main_threads_cpu_from_the_others() -> None:
    """Rounds that keep the main thread busy, then another thread, then both at once."""
    threads = HostThreads(os.getpid())

    async def on_main() -> float:
        _burn(0.3)
        return 0.0

    async def elsewhere() -> float:
        await anyio.to_thread.run_sync(_burn, 0.3)
        return 0.0

    async def both() -> float:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.to_thread.run_sync, _burn_without_the_gil, 0.3)
            await anyio.sleep(0.02)  # the thread is under way
            _burn(0.25)
        return 0.0

    await threads.during(on_main, 1000)
    assert threads.loop >= 0.25 and threads.others < 0.1
    await threads.during(elsewhere, 1000)
    assert threads.others >= 0.25 and threads.loop < 0.45
    figures = {r.name: r for r in threads.results("counter")}
    assert 125 <= figures["counter_host_loop_thread_cpu_us_per_msg"].value <= 250  # ~0.3 s / 2000
    assert 125 <= figures["counter_host_guest_threads_cpu_us_per_msg"].value <= 250
    # Busy at once: CPU over wall time. Only the CPU is certain on a shared machine: a loaded one
    # stretches the wall time, so the figure is checked against its parts, not against 1.0 or 2.0.
    busy = HostThreads(os.getpid())
    await busy.during(both, 1000)
    assert busy.loop >= 0.2 and busy.others >= 0.25, "both threads' CPU counted in one round"
    at_once = busy.results("counter")[2]
    assert at_once.value == round((busy.loop + busy.others) / busy.wall, 2) and at_once.unit == "threads"


@pytest.mark.anyio
async def test_raw_request_reply_repeats_the_rounds_a_server_restart_loses() -> None:
    """Both connections drop and come back; the rounds lost meanwhile are measured again (a CI run
    once failed with "no responders": the requester was back before the responder)."""
    async with NatsServer() as server, anyio.create_task_group() as tasks:
        samples: list[list[float]] = []

        async def measure() -> None:
            samples.append(await raw_request_reply(server, 10_000))

        tasks.start_soon(measure)
        for _ in range(3):  # each loses a round about every other time
            await anyio.sleep(0.2)
            server.kill()  # mid-round: its request or reply is lost, or the responder is late
            await anyio.sleep(0.3)
            await server.restart()
    assert len(samples[0]) == 10_000 - 50  # the first 50 rounds warm up and are left out


@pytest.mark.slow
def test_the_build_suite_builds_the_python_example_from_an_empty_cache() -> None:
    results = {r["name"]: r for r in run_suite("build", ["--loads", "1"], timeout=900)}
    assert {"echo.first_build_ms", "echo.warm_load_ms", "wat_echo.first_build_ms"} <= set(results)
    assert results["echo.first_build_ms"]["baseline"] == "echo.warm_load_ms"


@pytest.mark.anyio
async def test_a_flood_reaches_its_consumer_while_it_is_still_being_published(nats_url: str) -> None:
    """nats-py writes a publish only when the publisher yields (or 2 MiB have queued): a flood that
    never yields would keep its consumer idle until the whole round is built, and time that too."""
    publisher = await connect(NatsOptions(servers=(nats_url,)), name="publisher")
    consumer = await connect(NatsOptions(servers=(nats_url,)), name="consumer")
    published = 0
    publish = publisher.publish

    async def counting_publish(*args: Any, **kwargs: Any) -> None:
        nonlocal published
        await publish(*args, **kwargs)
        published += 1

    publisher.publish = counting_publish  # type: ignore[method-assign]
    seen: list[int] = []  # how many had been published when each tick arrived

    async def on_tick(msg: Any) -> None:
        seen.append(published)
        if len(seen) == json.loads(msg.data)["count"]:
            await consumer.publish("flood.done", json.dumps({"count": len(seen)}).encode())

    try:
        await consumer.subscribe("flood.tick", cb=on_tick)
        await consumer.flush()
        async with _Flood(publisher, "flood.tick", "flood.done", {"Wasmind-Id": "root:x"}) as flood:
            with anyio.fail_after(60):
                assert await flood.rate(2000) > 0
    finally:
        await publisher.close()
        await consumer.close()
    assert len(seen) == 2000
    assert seen[0] < 2000  # the first tick arrived long before the last one was published
