"""The shipped `execute_bash` actor (ACTORS.md §3) in a real in-process host: every result row,
the UI texts, the limits it asks the host for and its prompt contribution."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from shipped import EXECUTE_BASH_DIR, OTHER_SCOPE, SCOPE, Agent, agent_with, done

from wasmind.runtime.capabilities import command as host_command
from wasmind.runtime.grants import Grants

pytestmark = pytest.mark.anyio

TOOL = "execute_bash"
TRUNCATED = "\n\n[Output truncated - use pipes like `| head` or `| grep` to filter output]"
NO_COMMAND = Grants(command=False, spawn=False, http=False, http_hosts=None, preopens=())


@pytest.fixture
def bash(shipped_kit, tmp_path: Path) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """``async with bash() as agent``: execute_bash alone in an agent, working directory ``tmp_path``."""

    def start(grants: Grants | None = None):  # type: ignore[no-untyped-def]
        spec = shipped_kit.loader.actor(
            EXECUTE_BASH_DIR, TOOL, grants=grants, working_directory=str(tmp_path)
        )
        return agent_with(spec, tmp_path)

    return start


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[host_command.CommandSpec]:
    """The command specs the host runs (recorded on their way to the real ``run_command``)."""
    seen: list[host_command.CommandSpec] = []
    real = host_command.run_command

    def spy(spec: host_command.CommandSpec, working_directory: str) -> host_command.CommandOutput:
        seen.append(spec)
        return real(spec, working_directory)

    monkeypatch.setattr(host_command, "run_command", spy)
    return seen


async def run(agent: Agent, command: str, **arguments: Any) -> dict[str, Any]:
    """Call the tool with ``command`` and further arguments; the ``Done`` update."""
    return await agent.call(TOOL, {"command": command, **arguments})


def ok(content: str, collapsed: str, expanded: str, call_id: str = "call_1") -> dict[str, Any]:
    return done(True, content, collapsed, expanded, call_id)


def err(content: str, collapsed: str, expanded: str, call_id: str = "call_1") -> dict[str, Any]:
    return done(False, content, collapsed, expanded, call_id)


async def test_the_tool_is_announced_and_its_usage_guide_is_contributed_to_its_own_agent(bash) -> None:
    async with bash() as agent:
        (tool,) = agent.tools()
        assert tool["type"] == "function"
        assert tool["function"]["name"] == TOOL
        schema = tool["function"]["parameters"]
        assert schema["required"] == ["command"]
        assert {name: spec["type"] for name, spec in schema["properties"].items()} == {
            "command": "string",
            "args": "array",
            "directory": "string",
            "timeout": "integer",
        }
        (guide,) = agent.contributions("execute_bash:usage_guide")
        assert (guide["agent"], guide["priority"], guide["section"]) == (SCOPE, 800, "tools")
        text = guide["content"]["Text"]
        assert text.startswith('<tool name="execute_bash">') and text.endswith("</tool>")
        assert "rg" in text and "head" in text


async def test_a_successful_command_reports_its_output_stream_by_stream(bash) -> None:
    async with bash() as agent:
        assert await run(agent, "true") == ok(
            "Command completed successfully with no output",
            "true: Success (No output)",
            "Command: true\n(no output)",
            "call_1",
        )
        assert await run(agent, "echo hello") == ok(
            "hello\n",
            "echo hello: Success (1 lines output)",
            "Command: echo hello\n\n=== stdout ===\nhello\n",
            "call_2",
        )
        assert await run(agent, "echo oops >&2") == ok(
            "oops\n",
            "echo oops >&2: Success (0 lines output, 1 lines stderr)",
            "Command: echo oops >&2\n=== stderr ===\noops\n",
            "call_3",
        )
        assert await run(agent, "echo out; echo err >&2") == ok(
            "=== stdout ===\nout\n\n\n=== stderr ===\nerr\n",
            "echo out; echo err >&2: Success (1 lines output, 1 lines stderr)",
            "Command: echo out; echo err >&2\n\n=== stdout ===\nout\n\n\n=== stderr ===\nerr\n",
            "call_4",
        )


async def test_lines_are_counted_on_newlines_and_a_trailing_newline_adds_no_line(bash) -> None:
    command = r"printf 'a\n\nb\n'; printf 'e1\ne2' >&2"
    async with bash() as agent:
        update = await run(agent, command)
        result = update["status"]["Done"]["result"]["Ok"]
        assert result["content"] == "=== stdout ===\na\n\nb\n\n\n=== stderr ===\ne1\ne2"
        assert (
            result["ui_display_info"]["collapsed"] == f"{command}: Success (3 lines output, 2 lines stderr)"
        )


async def test_a_non_zero_exit_is_an_error_naming_the_exit_code(bash) -> None:
    async with bash() as agent:
        assert await run(agent, "exit 3") == err(
            "Command failed with exit code 3 (no output)",
            "exit 3: Failed (exit 3, no output)",
            "Command: exit 3\n(no output)",
            "call_1",
        )
        assert await run(agent, "echo bad; exit 2") == err(
            "Command failed with exit code 2:\nbad\n",
            "echo bad; exit 2: Failed (exit 2, 1 lines output)",
            "Command: echo bad; exit 2\n\n=== stdout ===\nbad\n",
            "call_2",
        )
        assert await run(agent, "echo bad >&2; exit 4") == err(
            "Command failed with exit code 4:\nbad\n",
            "echo bad >&2; exit 4: Failed (exit 4, 1 lines output)",
            "Command: echo bad >&2; exit 4\n=== stderr ===\nbad\n",
            "call_3",
        )
        assert await run(agent, "echo o; echo e1 >&2; echo e2 >&2; exit 1") == err(
            "Command failed with exit code 1:\n=== stdout ===\no\n\n\n=== stderr ===\ne1\ne2\n",
            "echo o; echo e1 >&2; echo e2 >&2; exit 1: Failed (exit 1, 3 lines output)",
            "Command: echo o; echo e1 >&2; echo e2 >&2; exit 1\n\n=== stdout ===\no\n\n\n=== stderr ===\ne1\ne2\n",
            "call_4",
        )


async def test_a_command_killed_by_a_signal_is_an_error_naming_the_signal(bash) -> None:
    async with bash() as agent:
        assert await run(agent, "kill -9 $$") == err(
            "Command terminated by signal 9 (no output)",
            "kill -9 $$: Terminated by signal",
            "Command: kill -9 $$\n\nResult: Terminated by signal (no output)",
            "call_1",
        )
        assert await run(agent, "echo before; kill -9 $$") == err(
            "Command terminated by signal 9:\n=== stdout ===\nbefore\n\n\n=== stderr ===\n",
            "echo before; kill -9 $$: Terminated by signal",
            "Command: echo before; kill -9 $$\n\nResult: Terminated by signal (no output)",
            "call_2",
        )


async def test_output_over_5000_bytes_is_cut_and_the_truncation_is_announced(bash, runs) -> None:
    command = r"head -c 6000 /dev/zero | tr '\0' x; sleep 5"
    async with bash() as agent:
        update = await run(agent, command)
    assert runs[0].max_output_bytes == 5000
    # The host kills the command once a stream overflows, so bash ends by SIGKILL.
    assert update == err(
        "Command terminated by signal 9:\n=== stdout ===\n" + "x" * 5000 + "\n\n=== stderr ===\n" + TRUNCATED,
        f"{command}: Terminated by signal",
        f"Command: {command}\n\nResult: Terminated by signal (no output)",
    )


async def test_a_timed_out_command_reports_the_output_it_produced_before_the_timeout(bash) -> None:
    """Guards the original's bug of discarding everything a timed-out command printed (it always
    answered `Command timed out (no output)`): ours keeps the partial output."""
    command = "echo partial; echo warn >&2; sleep 10"
    async with bash() as agent:
        assert await run(agent, command, timeout=1) == err(
            "Command timed out:\n=== stdout ===\npartial\n\n\n=== stderr ===\nwarn\n",
            f"{command}: Timed out",
            f"Command: {command}\n\nResult: Execution timed out (no output)",
        )


async def test_timeouts_are_clamped_to_1_to_600_seconds_and_default_to_30(bash, runs) -> None:
    async with bash() as agent:
        started = time.monotonic()
        assert await run(agent, "sleep 10", timeout=0) == err(
            "Command timed out (no output)",
            "sleep 10: Timed out",
            "Command: sleep 10\n\nResult: Execution timed out (no output)",
        )
        elapsed = time.monotonic() - started
        await run(agent, "true", timeout=10000)
        await run(agent, "true")
        await run(agent, "true", timeout=-5)
    assert 0.9 < elapsed < 5, "timeout 0 means one second, not the default"
    assert [spec.timeout_seconds for spec in runs] == [1, 600, 30, 1]


async def test_the_command_runs_through_bash_with_the_args_joined_by_single_spaces(bash, runs) -> None:
    async with bash() as agent:
        assert await run(agent, "echo", args=["a", "b  c"]) == ok(
            "a b c\n",
            "echo a b  c: Success (1 lines output)",
            "Command: echo a b  c\n\n=== stdout ===\na b c\n",
        )
        await run(agent, "echo plain", args=[])
        await run(agent, "echo nulls", args=None, directory=None, timeout=None)
    assert [(spec.program, spec.args) for spec in runs] == [
        ("bash", ["-c", "echo a b  c"]),
        ("bash", ["-c", "echo plain"]),
        ("bash", ["-c", "echo nulls"]),
    ]


async def test_the_command_runs_in_the_given_directory_or_the_working_directory(bash, tmp_path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    async with bash() as agent:
        here = await run(agent, "pwd -P")
        there = await run(agent, "pwd -P", directory=str(sub))
        relative = await run(agent, "pwd -P", directory="sub")
    contents = [u["status"]["Done"]["result"]["Ok"]["content"] for u in (here, there, relative)]
    assert contents == [f"{tmp_path.resolve()}\n", f"{sub.resolve()}\n", f"{sub.resolve()}\n"]


async def test_a_command_that_cannot_start_reports_the_reason(bash, tmp_path) -> None:
    missing = tmp_path / "missing"
    async with bash() as agent:
        update = await run(agent, "pwd", directory=str(missing))
    result = update["status"]["Done"]["result"]["Err"]
    assert result["content"].startswith("Failed to start command: ")
    assert str(missing) in result["content"]
    assert result["ui_display_info"] == {
        "collapsed": "pwd: Error (Failed to start command)",
        "expanded": "Command: pwd\n\nError: Failed to start command",
    }


async def test_a_command_the_host_refuses_to_run_reports_the_hosts_error(bash) -> None:
    message = f"Failed to execute command 'echo hi': {NO_COMMAND.denied('command')}"
    async with bash(NO_COMMAND) as agent:
        assert await run(agent, "echo hi") == err(
            message, f"echo hi: Error ({message})", f"Command: echo hi\n\nError: {message}"
        )


@pytest.mark.parametrize(
    ("arguments", "description"),
    [
        ("{}", "missing field `command`"),
        ('{"command": null}', "missing field `command`"),
        ('{"command": 5}', "invalid type for `command`: expected a string, got number"),
        ('{"command": "ls", "timeout": "5"}', "invalid type for `timeout`: expected an integer, got string"),
        ('{"command": "ls", "timeout": 1.5}', "invalid type for `timeout`: expected an integer, got number"),
        (
            '{"command": "ls", "args": "-la"}',
            "invalid type for `args`: expected an array of strings, got string",
        ),
        ('{"command": "ls", "args": ["-l", 1]}', "invalid type for `args[1]`: expected a string, got number"),
        (
            '{"command": "ls", "directory": true}',
            "invalid type for `directory`: expected a string, got boolean",
        ),
        ('{"command": "echo \\ud800"}', "invalid unicode in `command`: lone surrogate escape"),
        ("[1]", "expected a JSON object, got list"),
    ],
)
async def test_arguments_that_do_not_fit_the_schema_get_the_parse_error_answer(
    bash, arguments: str, description: str
) -> None:
    async with bash() as agent:
        assert await agent.call(TOOL, arguments) == err(
            f"Failed to parse command parameters: {description}",
            "Parameters: Invalid format",
            f"Error: Failed to parse parameters\n\nDetails: {description}",
        )


async def test_arguments_that_are_not_json_get_the_parse_error_answer(bash) -> None:
    async with bash() as agent:
        update = await agent.call(TOOL, "{not json")
    result = update["status"]["Done"]["result"]["Err"]
    prefix = "Failed to parse command parameters: "
    assert result["content"].startswith(prefix)
    details = result["content"].removeprefix(prefix)
    assert details
    assert result["ui_display_info"] == {
        "collapsed": "Parameters: Invalid format",
        "expanded": f"Error: Failed to parse parameters\n\nDetails: {details}",
    }


async def test_calls_from_other_agents_or_for_other_tools_are_ignored(bash) -> None:
    async with bash() as agent:
        await agent.send(TOOL, {"command": "echo other"}, scope=OTHER_SCOPE)
        await agent.send("read_file", {"path": "x"})
        answered = await agent.send(TOOL, {"command": "echo mine"})
        await agent.update(answered)
        assert [update["id"] for update in agent.updates()] == [answered]
