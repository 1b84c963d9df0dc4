"""``wasmind run`` on the embedded default, as a user runs it: real processes, nothing left behind."""

import signal
import subprocess
import time
from pathlib import Path

import pytest
from processes import WASMIND, assert_no_leftovers, run_env, run_wasmind

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "word-count.toml"


def test_a_headless_run_prints_the_answer_and_leaves_nothing_behind(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    done = run_wasmind("run", str(DEMO), "-p", "alpha beta gamma delta epsilon", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("Total: 5 words from 3 worker agents.")
    assert "[000000] done: Counted 5 words" in done.stderr
    assert_no_leftovers(marker)
    assert not (tmp_path / "state" / "current-run.json").exists()


def test_ctrl_c_stops_an_interactive_run_and_every_process(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    with subprocess.Popen(
        [WASMIND, "run", str(DEMO)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as chat:
        _chat(chat, tmp_path)
    assert_no_leftovers(marker)


def _chat(chat: "subprocess.Popen[str]", tmp_path: Path) -> None:
    try:
        assert chat.stdin is not None and chat.stdout is not None
        deadline = time.monotonic() + 120
        while not (tmp_path / "state" / "current-run.json").exists():
            assert chat.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        chat.stdin.write("one two three\n")
        chat.stdin.flush()
        lines = []
        while not any(line.startswith("Total: 3 words") for line in lines):
            line = chat.stdout.readline()
            assert line, "the run ended early"
            lines.append(line.strip())
        chat.send_signal(signal.SIGINT)
        assert chat.wait(timeout=60) == 0
    finally:
        if chat.poll() is None:
            chat.kill()


def test_an_invalid_configuration_fails_before_starting_anything(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    config = tmp_path / "bad.toml"
    config.write_text(
        'starting_actors = ["ghost"]\n[actors.echo]\nsource = { path = "%s" }\n'
        % (REPO / "actors/examples/echo")
    )
    done = run_wasmind("run", str(config), "-p", "hi", env=env)
    assert done.returncode == 1
    assert "Unknown starting actor 'ghost'. Defined actors: echo" in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_leftovers(marker)


@pytest.mark.parametrize("args", [["agents"], ["tail"]])
def test_operator_commands_explain_when_no_run_is_going(tmp_path: Path, args: list[str]) -> None:
    env, _ = run_env(tmp_path)
    done = run_wasmind(*args, env=env, timeout=30)
    assert done.returncode == 1 and "no `wasmind run` is running here" in done.stderr


@pytest.mark.anyio
async def test_a_run_joins_an_existing_swarm_with_nats_and_swarm(nats_url: str, tmp_path: Path) -> None:
    import anyio
    from swarm_harness import running_swarm

    env, _ = run_env(tmp_path)
    async with running_swarm(nats_url, "joined", tmp_path, hosts=2, capacity=2):
        args = ["run", str(DEMO), "--nats", nats_url, "--swarm", "joined", "-p", "a b c d"]
        for _ in range(2):  # the run stops its root agent, so a second run can start one again
            done = await anyio.to_thread.run_sync(lambda: run_wasmind(*args, env=env))
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip().endswith("from 3 worker agents.") or "Total: 4 words" in done.stdout


@pytest.mark.anyio
async def test_operator_commands_show_agents_publish_and_tail_a_live_swarm(
    nats_url: str, tmp_path: Path
) -> None:
    import json

    import anyio
    from swarm_harness import running_swarm

    env, _ = run_env(tmp_path)
    target = ["--nats", nats_url, "--swarm", "ops"]

    def wasmind(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_wasmind(*args, *target, env=env, stdin=stdin, timeout=60)

    async with running_swarm(nats_url, "ops", tmp_path, hosts=1) as swarm:
        await swarm.spawn(["probe", "echo"], "Root Agent", scope="000000")
        shown = await anyio.to_thread.run_sync(wasmind, "agents")
        assert shown.returncode == 0 and "000000  Root Agent  [probe, echo]" in shown.stdout
        listed = json.loads((await anyio.to_thread.run_sync(wasmind, "agents", "--json")).stdout)
        assert listed[0]["scope"] == "000000" and listed[0]["status"] == "running"
        with subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
            [WASMIND, "tail", "--type", "echo.reply", "--json", *target],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        ) as tail:
            await anyio.sleep(1.5)
            published = await anyio.to_thread.run_sync(
                lambda: wasmind("publish", "--type", "echo.request", "-", stdin='{"via": "stdin"}')
            )
            assert published.returncode == 0, published.stderr
            assert tail.stdout is not None
            line = await anyio.to_thread.run_sync(tail.stdout.readline)
            tail.terminate()
        record = json.loads(line)
        assert record["type"] == "echo.reply" and record["payload"] == {"via": "stdin"}
        assert record["from_actor"] == "example:echo"
