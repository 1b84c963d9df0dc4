"""The configurations under ``examples/``: valid, no literal keys, and the offline LLM demo of
``make run`` end to end (real processes, the scripted LLM, real tools and worker agents).

Also the example tool ``count_words_in_parallel`` (actors/examples/parallel_word_count) in a real
in-process host: its answer, its bad inputs, a failed spawn and its deadline.
"""

import json
import re
import subprocess
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import tomli_w
from harness import Recorder, running_host
from processes import assert_no_leftovers, run_env, run_wasmind

from wasmind.config.resolve import resolve
from wasmind.config.user import load_user_config
from wasmind.config.validate import validate_startup
from wasmind.llm.endpoint import describe_llm
from wasmind.llm.scripted import ScriptedLLM, ScriptedReply
from wasmind.runtime.instance import ActorSpec
from wasmind.transport.memory import InProcessBroker
from wasmind.wire.messages import ToolCallStatusUpdate, decode

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
OFFLINE_DEMO = EXAMPLES / "offline-demo.toml"
SCRIPT = EXAMPLES / "offline-demo.script.toml"
CONFIGS = sorted(p for p in EXAMPLES.glob("*.toml") if not p.name.endswith(".script.toml"))
HAIKU_FILE = Path("/tmp/wasmind-demo/haiku.txt")
HAIKU = "Small actors in wasm\nwhisper over NATS at dusk\nagents bloom, then rest\n"
PROMPT = "Write a haiku about Wasmind to /tmp/wasmind-demo/haiku.txt, then count its words in parallel"

# --- the configurations --------------------------------------------------------------------------


def test_the_examples_are_the_expected_ones() -> None:
    names = {p.name for p in CONFIGS}
    assert {"offline-demo.toml", "word-count.toml", "assistant.toml", "coding-agent.toml"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_configuration_passes_startup_validation(config: Path) -> None:
    user = load_user_config(config)
    resolution = resolve(user)
    assert validate_startup(user, resolution) == []
    assert [*user.warnings, *resolution.warnings] == []
    describe_llm(user)  # raises on an invalid [litellm] section


def _api_keys(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            if key in ("api_key", "master_key") or key.endswith("_API_KEY"):
                yield path, item
            yield from _api_keys(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _api_keys(item, f"{where}[{index}]")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_keys_are_only_referenced_never_written(config: Path) -> None:
    for where, value in _api_keys(tomllib.loads(config.read_text())):
        assert isinstance(value, str) and (
            re.fullmatch(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}", value) or value.startswith("os.environ/")
        ), f"{config.name}: {where} = {value!r} is not a ${{env:NAME}} / os.environ/NAME reference"
    assert not re.search(r"sk-[A-Za-z0-9]{8,}", config.read_text())


def test_the_offline_demo_script_loads_and_chains_on_real_tool_results() -> None:
    llm = ScriptedLLM.from_file(SCRIPT)
    assert llm.models == ["scripted"] and llm.fallback is not None
    assert "off script" in (llm.fallback.content or "")
    steps = [(r.when, [c["name"] for c in r.tool_calls]) for r in llm.replies]
    assert steps == [
        (None, ["execute_bash"]),
        ("scratch directory ready on", ["edit_file"]),
        ("Successfully edited /tmp/wasmind-demo/haiku.txt", ["count_words_in_parallel"]),
        ("Total: 13 words", []),
    ]
    assert llm.replies[1].tool_calls[0]["arguments"]["edits"][0]["new_string"] == HAIKU
    assert llm.replies[2].tool_calls[0]["arguments"] == {"text": HAIKU, "chunks": 3}
    user = load_user_config(OFFLINE_DEMO)
    assert "scripted" in describe_llm(user)


# --- real processes ------------------------------------------------------------------------------


def _run(config: Path, prompt: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_wasmind("run", str(config), "-p", prompt, env=env, cwd=cwd)


def test_the_offline_demo_runs_end_to_end_with_the_scripted_llm(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    HAIKU_FILE.unlink(missing_ok=True)
    done = _run(OFFLINE_DEMO, PROMPT, env, tmp_path)
    err = done.stderr
    assert done.returncode == 0, err
    # the answer on stdout: the scripted final reply, reached only through every step's real result
    assert done.stdout.startswith("Done. I wrote a haiku to /tmp/wasmind-demo/haiku.txt")
    assert "13 words in total" in done.stdout and "off script" not in done.stdout + err
    # the banner says the LLM is scripted and how to use a real one
    assert "THE LLM IS SCRIPTED: canned answers, no model is called." in err
    assert "For a real model, replace [litellm] scripted = ..." in err
    # the tool calls and their results
    assert "[000000] ⚙ execute_bash(" in err and "[000000] ✓ mkdir -p /tmp/wasmind-demo" in err
    assert "[000000] ⚙ edit_file(" in err and "[000000] ✓ /tmp/wasmind-demo/haiku.txt: 1 edit applied" in err
    assert '[000000] ⚙ count_words_in_parallel({"text": ' in err
    # three worker agents, children of the root, on more than one host process
    for n in (1, 2, 3):
        assert re.search(rf'● agent \w{{6}} "Word counter {n}/3" started \(parent 000000\): demo_worker', err)
    reports = re.findall(r"\[000000\] … chunk \d/3: (\d) words \(agent (\w{6}), host pid (\d+)\)", err)
    assert sorted(int(words) for words, _, _ in reports) == [4, 4, 5]
    assert len({pid for _, _, pid in reports}) >= 2, err
    assert re.search(r"\[000000\] ✓ 13 words counted by 3 worker agents on [23] hosts", err)
    assert all(f"[{scope}] exited" in err for _, scope, _ in reports)
    # the file the assistant wrote, and nothing left running
    assert HAIKU_FILE.read_text() == HAIKU
    assert_no_leftovers(marker)
    assert not (tmp_path / "state" / "current-run.json").exists()


def _with_endpoint(config: Path, llm_url: str, target: Path) -> Path:
    """``config`` with absolute actor paths and ``[litellm] base_url = llm_url`` (a stand-in)."""
    data = tomllib.loads(config.read_text())
    for table in data["actors"].values():
        table["source"]["path"] = str((config.parent / table["source"]["path"]).resolve())
    data["litellm"] = {"base_url": llm_url}
    target.write_text(tomli_w.dumps(data))
    return target


@pytest.mark.parametrize(
    ("name", "tools"),
    [("assistant.toml", []), ("coding-agent.toml", ["execute_bash", "read_file", "edit_file"])],
)
def test_the_real_model_examples_run_against_a_stand_in_endpoint(
    tmp_path: Path, name: str, tools: list[str]
) -> None:
    """The real-model configurations with only their endpoint swapped for a local scripted one."""
    replies = [ScriptedReply("Hello from the stand-in.")]
    if tools:
        call = {"name": "execute_bash", "arguments": {"command": "echo tool-ran-$((6*7))"}}
        replies = [ScriptedReply(tool_calls=[call]), ScriptedReply("The tool said 42.", when="tool-ran-42")]
    env, marker = run_env(tmp_path, LITELLM_MASTER_KEY="sk-stand-in")
    with ScriptedLLM(replies, models=["openai/gpt-5-mini"]) as llm:
        config = _with_endpoint(EXAMPLES / name, llm.url, tmp_path / name)
        done = _run(config, "hello", env, tmp_path)
        requests = list(llm.requests)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("The tool said 42." if tools else "Hello from the stand-in.")
    assert requests and all(r["model"] == "openai/gpt-5-mini" for r in requests)
    assert sorted(t["function"]["name"] for t in requests[0].get("tools", [])) == sorted(tools)
    assert_no_leftovers(marker)


# --- the tool actor in-process -------------------------------------------------------------------

TOOL = "count_words_in_parallel"
SCOPE = "aB3dE9"
EXECUTE_TOOL_CALL = "wasmind.common.tools.ExecuteToolCall"
ACTORS = REPO / "actors" / "examples"


@asynccontextmanager
async def tool_agent(
    kit: Any, tmp_path: Path, worker: str | None = "demo_worker", config: dict[str, Any] | None = None
) -> AsyncIterator[Recorder]:
    """The tool alone in agent :data:`SCOPE` of an in-process host that can also spawn ``worker``
    (an actor directory under actors/examples, run as `demo_worker`; ``None``: no such actor)."""
    specs: dict[str, ActorSpec] = {
        "parallel_word_count": kit.loader.actor(
            ACTORS / "parallel_word_count", "parallel_word_count", config=config
        )
    }
    if worker is not None:
        specs["demo_worker"] = kit.loader.actor(ACTORS / worker, "demo_worker")
    broker = InProcessBroker()
    recorder = await Recorder(broker).start()
    async with running_host(broker, specs, working_directory=str(tmp_path)) as host:
        await host.start_agent(SCOPE, None, "Agent", ["parallel_word_count"])
        yield recorder


async def call(recorder: Recorder, arguments: Any, call_id: str, seconds: float = 30) -> dict[str, Any]:
    """Call the tool and return the result (``{"Ok": ...}`` or ``{"Err": ...}``) of its ``Done`` update."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    payload = {
        "tool_call": {"id": call_id, "type": "function", "function": {"name": TOOL, "arguments": raw}},
        "originating_request_id": "req_test01",
    }
    await recorder.publish(EXECUTE_TOOL_CALL, payload, scope=SCOPE)
    return await result(recorder, call_id, seconds)


async def result(recorder: Recorder, call_id: str, seconds: float = 30) -> dict[str, Any]:
    def final(envelope: Any) -> bool:
        body = json.loads(envelope.payload)
        return bool(body["id"] == call_id and "Done" in body["status"])

    (found,) = await recorder.wait_for(ToolCallStatusUpdate.TYPE, final, seconds)
    decode(ToolCallStatusUpdate.TYPE, found.payload)
    outcome: dict[str, Any] = json.loads(found.payload)["status"]["Done"]["result"]
    return outcome


@pytest.mark.anyio
async def test_the_tool_counts_with_one_worker_agent_per_chunk(kit: Any, tmp_path: Path) -> None:
    async with tool_agent(kit, tmp_path) as recorder:
        outcome = await call(recorder, {"text": "one two three four five six seven", "chunks": 3}, "c1")
        tools = json.loads(recorder.of_type("wasmind.common.tools.ToolsAvailable")[0].payload)["tools"]
    content = outcome["Ok"]["content"]
    lines = content.splitlines()
    assert lines[0] == "Counted 7 words in parallel: 3 chunks, one worker agent each, on 1 host process."
    assert [re.sub(r"agent \w{6}, host pid \d+", "agent X, host pid P", line) for line in lines[1:]] == [
        "chunk 1: agent X, host pid P, 3 words",
        "chunk 2: agent X, host pid P, 2 words",
        "chunk 3: agent X, host pid P, 2 words",
        "Total: 7 words",
    ]
    assert outcome["Ok"]["ui_display_info"]["collapsed"] == "7 words counted by 3 worker agents on 1 host"
    assert "chunk 1: one two three" in outcome["Ok"]["ui_display_info"]["expanded"]
    progress = [
        json.loads(e.payload)["status"]["Received"]["display_info"]["collapsed"]
        for e in recorder.of_type(ToolCallStatusUpdate.TYPE)
        if "Received" in json.loads(e.payload)["status"]
    ]
    assert progress[0] == "counting 7 words with 3 worker agents" and len(progress) == 4
    assert tools[0]["function"]["name"] == TOOL
    assert tools[0]["function"]["parameters"]["required"] == ["text"]


@pytest.mark.anyio
async def test_the_tool_answers_bad_input_with_an_err(kit: Any, tmp_path: Path) -> None:
    invalid = f"Invalid arguments for {TOOL}: "
    cases: list[tuple[Any, str]] = [
        ({}, invalid + "`text` is required: the text whose words to count"),
        ({"text": 42}, invalid + "`text` must be a string, got 42"),
        ({"text": "  \n\t "}, invalid + "`text` is empty: give at least one word"),
        ({"text": "x " * 60_000}, invalid + "`text` is too long: 120000 characters (at most 100000)"),
        ({"text": "a b", "chunks": 0}, invalid + "`chunks` must be from 1 to 8, got 0"),
        ({"text": "a b", "chunks": 9}, invalid + "`chunks` must be from 1 to 8, got 9"),
        ({"text": "a b", "chunks": 2.5}, invalid + "`chunks` must be an integer from 1 to 8, got 2.5"),
        ({"text": "a b", "chunks": "3"}, invalid + '`chunks` must be an integer from 1 to 8, got "3"'),
        ({"text": "a b", "chunks": True}, invalid + "`chunks` must be an integer from 1 to 8, got true"),
        ("[1, 2]", f"Invalid JSON arguments for tool '{TOOL}': expected a JSON object, got list"),
    ]
    async with tool_agent(kit, tmp_path) as recorder:
        for index, (arguments, expected) in enumerate(cases):
            outcome = await call(recorder, arguments, f"bad{index}")
            assert outcome == {
                "Err": {
                    "content": expected,
                    "ui_display_info": {"collapsed": f"{TOOL}: invalid arguments", "expanded": None},
                }
            }, arguments
        # integral numbers count as integers; fewer words than chunks means fewer workers
        outcome = await call(recorder, {"text": "solo", "chunks": 4.0}, "fine")
        assert outcome["Ok"]["content"].endswith(", 1 word\nTotal: 1 word")
        assert outcome["Ok"]["content"].startswith(
            "Counted 1 word in parallel: 1 chunk, one worker agent each"
        )
        assert not recorder.of_type(
            "wasmind.common.actors.AgentSpawned", lambda e: "Word counter 2/" in e.payload.decode()
        )


@pytest.mark.anyio
async def test_a_failed_spawn_ends_the_call_with_the_hosts_reason(kit: Any, tmp_path: Path) -> None:
    async with tool_agent(kit, tmp_path, worker=None) as recorder:
        outcome = await call(recorder, {"text": "a b c"}, "nospawn")
    content = outcome["Err"]["content"]
    assert content.startswith(f"{TOOL} failed: could not spawn worker agent 1 of 3: Failed to spawn agent: ")
    assert "demo_worker" in content
    assert outcome["Err"]["ui_display_info"]["collapsed"] == f"{TOOL}: spawn failed"


@pytest.mark.anyio
async def test_silent_workers_time_out_at_the_next_message(kit: Any, tmp_path: Path) -> None:
    """The echo actor in place of `demo_worker` never reports; the deadline is checked lazily."""
    async with tool_agent(kit, tmp_path, worker="echo", config={"timeout_seconds": 0.5}) as recorder:
        payload = {
            "tool_call": {
                "id": "slow",
                "type": "function",
                "function": {"name": TOOL, "arguments": '{"text": "a b"}'},
            },
            "originating_request_id": "req_test01",
        }
        await recorder.publish(EXECUTE_TOOL_CALL, payload, scope=SCOPE)
        await recorder.wait_for(
            ToolCallStatusUpdate.TYPE, lambda e: "Received" in json.loads(e.payload)["status"], 30
        )
        await anyio.sleep(0.6)
        await call(recorder, {}, "wake")  # any message reaching the actor checks the deadlines
        outcome = await result(recorder, "slow", 5)
    content = outcome["Err"]["content"]
    assert re.fullmatch(
        rf"{TOOL} timed out after 0.5 s: no report from chunk 1 \(agent \w{{6}}\), chunk 2 \(agent \w{{6}}\); "
        r"0 of 2 chunks were counted\.",
        content,
    ), content
