"""Every benchmark suite runs (tiny sizes) and prints one JSON object per result."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

WASMIND = str(Path(sys.executable).parent / "wasmind")


@pytest.mark.parametrize(
    ("suite", "args", "figures"),
    [
        ("runtime", ["--calls", "50", "--population", "4"], {"python.instantiate_ms", "wat.handle_noop_us"}),
        ("messaging", ["--rounds", "60"], {"actor_round_trip_cross_host_us", "raw_nats_request_reply_us"}),
        ("spawn", ["--spawns", "3"], {"agent_of_3_python_actors_warm_host_ms"}),
    ],
)
def test_a_bench_suite_prints_json_results(suite: str, args: list[str], figures: set[str]) -> None:
    done = subprocess.run(
        [WASMIND, "bench", suite, "--json", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert figures <= {r["name"] for r in results}
    assert all(r["suite"] == suite and r["value"] > 0 for r in results)
