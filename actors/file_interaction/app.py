"""The `file_interaction` tool actor (ACTORS.md §4): `read_file` and `edit_file`.

File contents never appear in tool results: every file read or edited is shown, numbered, in a live
system-prompt section (`FilesReadAndEdited`) that is re-broadcast after each successful call and
emptied when the agent starts compacting its conversation. Config: `allow_edits` (bool, default
true) exposes `edit_file`; an invalid config fails the constructor.

The logic lives in ``files.py`` (operations), ``file_cache.py`` (lines and cache), ``edits.py``
(search-and-replace and diff) and ``params.py`` (argument parsing).
"""

from __future__ import annotations

import json
from typing import Any

from files import Failure, Files, Reply
from params import ParameterError, parse_edit, parse_read
from wasmind_sdk import Message, Tool, ToolCall, messages, on

READ_FILE = "read_file"
EDIT_FILE = "edit_file"
SECTION = "FilesReadAndEdited"
FILES_KEY = "file_interaction:files_read_and_edited"
FILES_PRIORITY = 500
PAYLOAD_LIMIT = 1 << 20
"""The bus's default message limit: larger results are cut, a larger files section is not sent."""
CONTENT_BUDGET = 600_000
EXPANDED_BUDGET = 300_000
CUT_NOTE = "\n[... cut: too large for one message ...]"
DISABLED = f"Tool `{EDIT_FILE}` is disabled for this agent"
PARSE_PREFIX = {
    READ_FILE: "Failed to parse read_file parameters: ",
    EDIT_FILE: "Failed to parse edit_file parameters: ",
}

FILES_TEMPLATE = (
    "Current Working Directory: {{ data.working_directory }}\n"
    "\n"
    "This section shows the current content of every file you have read or edited; it updates "
    "automatically after each read and edit.\n"
    "\n"
    "{% for file in data.files %}"
    '<file path="{{ file.path }}">\n'
    "{{ file.content }}\n"
    "</file>\n"
    "{% endfor %}"
)
"""Jinja template of the files section (rendered by the assistant; the variable ``data`` holds the data)."""

READ_FILE_DESCRIPTION = (
    "Reads a file and shows it with line numbers. Small files (up to 64 KiB) are read entirely; "
    "larger files (up to 10 MiB) need a line range (start_line and end_line, 1-based, inclusive). "
    "The content appears in the FilesReadAndEdited section of the system prompt, each line prefixed "
    "with LINE_NUMBER:. Paths may be absolute or relative to the working directory."
)
READ_FILE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "description": "Path of the file, absolute or relative to the working directory.",
        },
        "start_line": {"type": "integer", "description": "Optional first line to read (1-based)."},
        "end_line": {"type": "integer", "description": "Optional last line to read (inclusive)."},
    },
    "required": ["path"],
}

EDIT_FILE_DESCRIPTION = (
    "Applies a list of exact search-and-replace edits to a file, atomically: either every edit "
    "applies or the file is left untouched. Each old_string must match the file exactly (including "
    "whitespace and newlines) and, unless replace_all is true, exactly once. Also creates files: "
    "an edit with an empty old_string on a file that does not exist creates it (parent directories "
    "included). An existing file must be read with read_file first."
)
EDIT_FILE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "description": "Path of the file to edit or create, absolute or relative to the working directory.",
        },
        "edits": {
            "type": "array",
            "description": "The edits, applied in order, each to the result of the previous one.",
            "items": {
                "type": "object",
                "properties": {
                    "old_string": {
                        "type": "string",
                        "description": 'Exact text to replace (whitespace-sensitive); "" only to create a new file.',
                    },
                    "new_string": {"type": "string", "description": "Replacement text (empty to delete)."},
                    "replace_all": {
                        "type": "boolean",
                        "description": "Replace every occurrence instead of requiring a unique match.",
                        "default": False,
                    },
                },
                "required": ["old_string", "new_string"],
            },
        },
    },
    "required": ["path", "edits"],
}

READ_FILE_GUIDE = """<tool name="read_file">
Reads a file and shows it, numbered as `LINE_NUMBER:CONTENT` (line numbers start at 1), in the
FilesReadAndEdited section of the system prompt; the tool result only confirms the read. Paths may
be absolute (`/project/src/main.py`) or relative to the working directory (`src/main.py`).
Files up to 64 KiB are read whole; for larger files give `start_line` and `end_line` (inclusive).
Ranges read from the same file are combined, and the section always shows the current state.
</tool>"""

EDIT_FILE_GUIDE = """<tool name="edit_file">
Edits files by exact search and replace, and creates new files.
- Read a file with read_file before editing it; if it changed on disk since, read it again.
- `old_string` must match the file exactly, including indentation and newlines (the `N:` line
  prefixes of the FilesReadAndEdited section are not part of the file). It must match exactly once
  unless `replace_all` is true; add surrounding lines to make it unique.
- The edits of one call apply in order and atomically: if one fails, nothing is written.

Replace a line:
{"path": "src/app.py", "edits": [{"old_string": "    return x + 1\\n", "new_string": "    return x + 2\\n"}]}

Create a file (parent directories are created):
{"path": "docs/notes.md", "edits": [{"old_string": "", "new_string": "# Notes\\n"}]}

Rename every occurrence:
{"path": "src/app.py", "edits": [{"old_string": "old_name", "new_string": "new_name", "replace_all": true}]}
</tool>"""

GUIDES = {
    READ_FILE: ("file_interaction:read_file_usage_guide", 900, READ_FILE_GUIDE),
    EDIT_FILE: ("file_interaction:edit_file_usage_guide", 901, EDIT_FILE_GUIDE),
}


def toml_type(value: Any) -> str:
    """The TOML name of a config value's type, for error messages."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def allow_edits_from(config: dict[str, Any]) -> bool:
    """The `allow_edits` setting (default true).

    Raises:
        TypeError: it is not a boolean.
    """
    value = config.get("allow_edits", True)
    if not isinstance(value, bool):
        raise TypeError(
            "invalid file_interaction configuration: `allow_edits` must be a boolean (true or false), "
            f"got {toml_type(value)} {value!r}"
        )
    return value


def parse_error(call: ToolCall, description: str) -> Failure:
    """The answer to arguments that cannot be parsed (ACTORS.md §1.1)."""
    return Failure(
        PARSE_PREFIX[call.name] + description,
        "Parameters: Invalid format",
        f"Error: Failed to parse parameters\n\nDetails: {description}",
    )


def json_size(text: str) -> int:
    """Bytes ``text`` takes as a JSON string on the wire."""
    return len(json.dumps(text, ensure_ascii=False).encode())


def fit(text: str, budget: int) -> str:
    """``text``, or its beginning and a note when it takes more than ``budget`` bytes as JSON."""
    size = json_size(text)
    if size <= budget:
        return text
    while size > budget:
        text = text[: int(len(text) * budget / size * 0.9)]
        size = json_size(text + CUT_NOTE)
    return text + CUT_NOTE


def is_compacting(status: Any) -> bool:
    """Whether a ``Status`` is ``Wait{CompactingConversation}``."""
    wait = status.get("Wait") if isinstance(status, dict) else None
    return isinstance(wait, dict) and wait.get("reason") == "CompactingConversation"


class FileInteraction(Tool):
    """Offers `read_file` (and `edit_file` unless `allow_edits = false`) and keeps the files section."""

    def __init__(self, scope: str, config: dict[str, Any] | str | None = None) -> None:
        super().__init__(scope, config)
        self.allow_edits = allow_edits_from(self.config)
        self.files = Files(self.working_directory())

    def tools(self) -> list[dict[str, Any]]:
        """`read_file`, and `edit_file` when edits are allowed."""
        tools = [messages.tool_definition(READ_FILE, READ_FILE_DESCRIPTION, READ_FILE_PARAMETERS)]
        if self.allow_edits:
            tools.append(messages.tool_definition(EDIT_FILE, EDIT_FILE_DESCRIPTION, EDIT_FILE_PARAMETERS))
        return tools

    def on_start(self) -> None:
        """Announce the tools, then contribute their usage guides."""
        super().on_start()
        for name, (key, priority, text) in GUIDES.items():
            if name not in self.tool_names():
                continue
            guide = messages.system_prompt_text(self.scope, key, text, priority, "tools")
            self.broadcast(messages.SYSTEM_PROMPT_CONTRIBUTION, guide)

    def on_stop(self) -> None:
        """Forget every file."""
        self.files.cache.clear()

    # --- tool calls --------------------------------------------------------------------------------

    def execute(self, call: ToolCall) -> None:
        """Parse, run the operation, reply; a success re-broadcasts the files section."""
        try:
            reply = self.run(call)
        except Failure as failure:
            self.finish(call, False, failure.content, failure.collapsed, failure.expanded)
            return
        self.broadcast_files()
        self.finish(call, True, reply.content, reply.collapsed, reply.expanded)

    def finish(self, call: ToolCall, ok: bool, content: str, collapsed: str, expanded: str) -> None:
        """Send the final result; one over the bus limit (a huge range or diff) is cut to fit, so
        the call is still answered."""
        payload = messages.tool_call_done(call.id, call.originating_request_id, content, collapsed, expanded)
        if len(messages.encode_payload(payload)) > PAYLOAD_LIMIT:
            content, expanded = fit(content, CONTENT_BUDGET), fit(expanded, EXPANDED_BUDGET)
        (self.ok if ok else self.err)(call, content, collapsed, expanded)

    def run(self, call: ToolCall) -> Reply:
        """The reply to ``call``.

        Raises:
            Failure: bad arguments or a failed operation.
        """
        try:
            if call.name == READ_FILE:
                return self.files.read(parse_read(call.arguments))
            return self.files.edit(parse_edit(call.arguments))
        except ParameterError as error:
            raise parse_error(call, str(error)) from None

    def invalid_arguments(self, call: ToolCall, problem: str) -> None:
        """Arguments that are not a JSON object get the tool's own parse-error answer."""
        failure = parse_error(call, problem)
        self.err(call, failure.content, failure.collapsed, failure.expanded)

    @on(messages.EXECUTE_TOOL_CALL, scope="own")
    def disabled_edit(self, message: Message) -> None:
        """With edits disabled, answer `edit_file` calls with an error instead of leaving them open."""
        if self.allow_edits:
            return
        try:
            data = message.json()
            tool_call = data["tool_call"]
            if tool_call["function"]["name"] != EDIT_FILE:
                return
            call = ToolCall(tool_call["id"], EDIT_FILE, {}, "", data["originating_request_id"], message)
        except (ValueError, KeyError, TypeError):
            return
        self.err(call, DISABLED, f"{EDIT_FILE}: Disabled", f"Error: {DISABLED}")

    # --- prompt section ----------------------------------------------------------------------------

    @on(messages.STATUS_UPDATE, scope="own")
    def status_changed(self, message: Message) -> None:
        """When the agent starts compacting its conversation, forget every file."""
        try:
            status = message.json().get("status")
        except (ValueError, AttributeError):
            return
        if is_compacting(status):
            self.files.cache.clear()
            self.broadcast_files()

    def broadcast_files(self) -> None:
        """Send the current files section to this agent's assistant.

        A section over the bus's message limit (1 MiB) is not sent (the host would refuse it, and a
        much larger one would trap this instance); the user is warned instead.
        """
        contribution = messages.system_prompt_data(
            self.scope, FILES_KEY, self.files.section_data(), FILES_TEMPLATE, FILES_PRIORITY, SECTION
        )
        payload = messages.encode_payload(contribution)
        if len(payload) > PAYLOAD_LIMIT:
            text = (
                f"The files section ({len(payload)} bytes) exceeds {PAYLOAD_LIMIT} bytes and was not updated"
            )
            self.log.error(text)
            self.notify("Warning", "Files section too large", text, "file_interaction")
            return
        self.broadcast(messages.SYSTEM_PROMPT_CONTRIBUTION, payload)
