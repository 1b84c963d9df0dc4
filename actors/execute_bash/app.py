"""The `execute_bash` tool actor (ACTORS.md §3): runs a command line with `bash -c` on the host.

The command runs in a fresh shell per call (no state carries over), in the run's working directory
or the given `directory`, with a timeout clamped to 1..600 seconds (default 30) and at most 5000
bytes captured per stream. The result text, the UI texts and the usage guide are exactly those of
ACTORS.md §3.2-§3.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from wasmind_sdk import CommandError, CommandResult, ExitStatus, Tool, ToolCall, command, messages
from wasmind_sdk.arguments import json_type, lone_surrogate

DEFAULT_TIMEOUT = 30
MIN_TIMEOUT = 1
MAX_TIMEOUT = 600
MAX_OUTPUT_BYTES = 5000
TRUNCATION_NOTE = "\n\n[Output truncated - use pipes like `| head` or `| grep` to filter output]"
PARSE_ERROR_PREFIX = "Failed to parse command parameters: "

USAGE_GUIDE_KEY = "execute_bash:usage_guide"
USAGE_GUIDE_PRIORITY = 800
USAGE_GUIDE = """<tool name="execute_bash">
Runs a command line with `bash -c` in a fresh shell: pipes, redirections, `&&` and `||` work, but
nothing (variables, `cd`, aliases) carries over from one call to the next. Use `directory` to run
somewhere else than the working directory, and `timeout` (seconds, 1-600, default 30) for slow
commands.

Exploring a code base:
- Prefer `rg "pattern"` over `grep -r` and `fd name` over `find -name`: both are faster and respect
  .gitignore.
- Useful starting points: `ls -la`, `rg "def function_name"`, `rg "TODO" --count`,
  `rg "error" -C 2`, `fd test`, `tree -L 2 -I 'node_modules|__pycache__'`.
- Sample large files with `head -n 50 file` or `tail -n 50 file`; count lines with `wc -l`.

Output is limited (about 5000 bytes per stream). When a command prints more, the output is cut,
the command is stopped and the result says so: filter with pipes such as `| head`, `| tail` or
`| grep` to see what matters.
</tool>"""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {
            "type": "string",
            "description": "The command line to run with `bash -c` (pipes, redirections, && and || allowed).",
        },
        "args": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Optional arguments appended to the command, joined with single spaces.",
        },
        "directory": {
            "type": "string",
            "description": "Optional directory to run the command in (default: the working directory).",
        },
        "timeout": {
            "type": "integer",
            "description": "Optional timeout in seconds (default 30, clamped to 1-600).",
            "default": DEFAULT_TIMEOUT,
            "minimum": MIN_TIMEOUT,
            "maximum": MAX_TIMEOUT,
        },
    },
    "required": ["command"],
}


class ParameterError(ValueError):
    """The tool call's arguments do not match the parameter schema; the text describes why."""


@dataclass(frozen=True)
class BashParams:
    """The parsed arguments of one `execute_bash` call."""

    command: str
    args: list[str] | None = None
    directory: str | None = None
    timeout: int | None = None

    @property
    def full_command(self) -> str:
        """The command line run by bash: `command`, then the `args` joined with single spaces."""
        return f"{self.command} {' '.join(self.args)}" if self.args else self.command

    @property
    def timeout_seconds(self) -> int:
        """The timeout to apply: the given one (default 30) clamped to 1..600."""
        timeout = DEFAULT_TIMEOUT if self.timeout is None else self.timeout
        return min(max(timeout, MIN_TIMEOUT), MAX_TIMEOUT)


@dataclass(frozen=True)
class Reply:
    """The final answer to a call: LLM content plus the UI texts."""

    ok: bool
    content: str
    collapsed: str
    expanded: str


def _checked(text: str, where: str) -> str:
    """``text`` unless it holds a lone surrogate (JSON allows the escape; UTF-8 cannot carry it)."""
    if lone_surrogate(text):
        raise ParameterError(f"invalid unicode in `{where}`: lone surrogate escape")
    return text


def _optional_string(arguments: dict[str, Any], key: str) -> str | None:
    value = arguments.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParameterError(f"invalid type for `{key}`: expected a string, got {json_type(value)}")
    return _checked(value, key)


def _optional_args(arguments: dict[str, Any]) -> list[str] | None:
    value = arguments.get("args")
    if value is None:
        return None
    if not isinstance(value, list):
        raise ParameterError(f"invalid type for `args`: expected an array of strings, got {json_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ParameterError(
                f"invalid type for `args[{index}]`: expected a string, got {json_type(item)}"
            )
        _checked(item, f"args[{index}]")
    return value


def _optional_timeout(arguments: dict[str, Any]) -> int | None:
    value = arguments.get("timeout")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParameterError(f"invalid type for `timeout`: expected an integer, got {json_type(value)}")
    return value


def parse_params(arguments: dict[str, Any]) -> BashParams:
    """Validate the call's arguments (`null` counts as absent for the optional ones).

    Raises:
        ParameterError: a required field is missing or a field has the wrong type.
    """
    if "command" not in arguments or arguments["command"] is None:
        raise ParameterError("missing field `command`")
    command_line = arguments["command"]
    if not isinstance(command_line, str):
        raise ParameterError(f"invalid type for `command`: expected a string, got {json_type(command_line)}")
    return BashParams(
        _checked(command_line, "command"),
        _optional_args(arguments),
        _optional_string(arguments, "directory"),
        _optional_timeout(arguments),
    )


def count_lines(text: str) -> int:
    """Lines of ``text`` split on newlines, where a trailing newline starts no extra line."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def both_streams(out: str, err: str) -> str:
    """Both streams under their `=== stdout ===` / `=== stderr ===` headers."""
    return f"=== stdout ===\n{out}\n\n=== stderr ===\n{err}"


def result_content(status: ExitStatus, out: str, err: str) -> str:
    """What the LLM sees for a run that produced a status (without the truncation note)."""
    if status.kind == "exited" and status.code == 0:
        if out and err:
            return both_streams(out, err)
        return out or err or "Command completed successfully with no output"
    if status.kind == "exited":
        if not out and not err:
            return f"Command failed with exit code {status.code} (no output)"
        body = both_streams(out, err) if out and err else out or err
        return f"Command failed with exit code {status.code}:\n{body}"
    if status.kind == "signaled":
        if not out and not err:
            return f"Command terminated by signal {status.code} (no output)"
        return f"Command terminated by signal {status.code}:\n{both_streams(out, err)}"
    if not out and not err:
        return "Command timed out (no output)"
    return f"Command timed out:\n{both_streams(out, err)}"


def output_expanded(full: str, out: str, err: str) -> str:
    """The expanded UI text of a command that exited: the command, then its output sections."""
    text = f"Command: {full}"
    if not out and not err:
        return text + "\n(no output)"
    if out:
        text += f"\n\n=== stdout ===\n{out}"
    if err:
        text += ("\n" if out else "") + f"\n=== stderr ===\n{err}"
    return text


def success_collapsed(full: str, out: str, err: str) -> str:
    """`<full>: Success (...)` with the line counts of both streams."""
    if not out and not err:
        return f"{full}: Success (No output)"
    stdout_lines, stderr_lines = count_lines(out), count_lines(err)
    if stderr_lines:
        return f"{full}: Success ({stdout_lines} lines output, {stderr_lines} lines stderr)"
    return f"{full}: Success ({stdout_lines} lines output)"


def failure_collapsed(full: str, code: int | None, out: str, err: str) -> str:
    """`<full>: Failed (exit <n>, ...)` with the total line count of both streams."""
    if not out and not err:
        return f"{full}: Failed (exit {code}, no output)"
    return f"{full}: Failed (exit {code}, {count_lines(out) + count_lines(err)} lines output)"


def error_reply(full: str, error: str, content: str) -> Reply:
    """An `Err` reply for a command that could not run; the UI shows ``error``."""
    first_line = error.split("\n", 1)[0]
    return Reply(False, content, f"{full}: Error ({first_line})", f"Command: {full}\n\nError: {error}")


def describe(full: str, result: CommandResult) -> Reply:
    """The reply for a finished run (ACTORS.md §3.2 and §3.3)."""
    status = result.status
    if status.kind == "failed-to-start":
        return error_reply(full, "Failed to start command", f"Failed to start command: {status.error}")
    out, err = result.stdout_text, result.stderr_text
    content = result_content(status, out, err)
    if result.stdout_truncated or result.stderr_truncated:
        content += TRUNCATION_NOTE
    if status.kind == "exited":
        if status.code == 0:
            return Reply(True, content, success_collapsed(full, out, err), output_expanded(full, out, err))
        collapsed = failure_collapsed(full, status.code, out, err)
        return Reply(False, content, collapsed, output_expanded(full, out, err))
    if status.kind == "signaled":
        expanded = f"Command: {full}\n\nResult: Terminated by signal (no output)"
        return Reply(False, content, f"{full}: Terminated by signal", expanded)
    expanded = f"Command: {full}\n\nResult: Execution timed out (no output)"
    return Reply(False, content, f"{full}: Timed out", expanded)


def parse_error_reply(description: str) -> Reply:
    """The reply for arguments that cannot be parsed (ACTORS.md §1.1)."""
    return Reply(
        False,
        PARSE_ERROR_PREFIX + description,
        "Parameters: Invalid format",
        f"Error: Failed to parse parameters\n\nDetails: {description}",
    )


def run_bash(params: BashParams) -> Reply:
    """Run the command line and describe the outcome."""
    full = params.full_command
    try:
        result = command.run(
            "bash",
            ["-c", full],
            cwd=params.directory,
            timeout=params.timeout_seconds,
            max_output_bytes=MAX_OUTPUT_BYTES,
        )
    except CommandError as error:
        message = f"Failed to execute command '{full}': {error}"
        return error_reply(full, message, message)
    return describe(full, result)


class ExecuteBash(Tool):
    """Offers `execute_bash` and contributes its usage guide to the agent's system prompt."""

    name = "execute_bash"
    description = (
        "Runs a command line with `bash -c` in a fresh, stateless shell. Pipes (|), redirections "
        "(>, >>), command chaining (&&, ||) and every other bash feature work, but no state (variables, "
        "current directory) carries over between calls. Examples: `ls -la`, `rg pattern | head -20`, "
        "`make test && echo ok`."
    )
    parameters: ClassVar[dict[str, Any]] = PARAMETERS

    def on_start(self) -> None:
        """Announce the tool, then the usage guide (own scope, section `tools`)."""
        super().on_start()
        guide = messages.system_prompt_text(
            self.scope, USAGE_GUIDE_KEY, USAGE_GUIDE, USAGE_GUIDE_PRIORITY, "tools"
        )
        self.broadcast(messages.SYSTEM_PROMPT_CONTRIBUTION, guide)

    def execute(self, call: ToolCall) -> None:
        """Parse the arguments, run the command and reply."""
        try:
            params = parse_params(call.arguments)
        except ParameterError as error:
            self.reply(call, parse_error_reply(str(error)))
            return
        self.reply(call, run_bash(params))

    def invalid_arguments(self, call: ToolCall, problem: str) -> None:
        """Arguments that are not a JSON object get the tool's own parse-error answer."""
        self.reply(call, parse_error_reply(problem))

    def reply(self, call: ToolCall, reply: Reply) -> None:
        """Send the final `Done` update for ``call``."""
        finish = self.ok if reply.ok else self.err
        finish(call, reply.content, reply.collapsed, reply.expanded)
