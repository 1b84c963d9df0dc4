"""The shipped `file_interaction` actor (ACTORS.md §4) in a real in-process host: `read_file`,
`edit_file`, the cache and the FilesReadAndEdited prompt section, against a temporary working
directory granted to the guest as a preopen."""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Recorder, running_host
from shipped import (
    FILE_INTERACTION_DIR,
    OTHER_SCOPE,
    SCOPE,
    STATUS_UPDATE,
    Agent,
    agent_with,
    done,
)

from wasmind.runtime.context import SpawnError
from wasmind.runtime.grants import Grants, Preopen
from wasmind.transport.memory import InProcessBroker

pytestmark = pytest.mark.anyio

NAME = "file_interaction"
FILES_KEY = "file_interaction:files_read_and_edited"
READ_SUFFIX = " -- Check the FilesReadAndEdited section in the SystemPrompt to see the contents"
EDIT_SUFFIX = " -- Check the FilesReadAndEdited section in the SystemPrompt to see the updated edited file"
COMPACTING = {"status": {"Wait": {"reason": "CompactingConversation"}}}


def grants(directory: Path, writable: bool = True) -> Grants:
    """Only ``directory`` (at the same path in the guest), nothing else."""
    preopen = Preopen(str(directory), str(directory), writable)
    return Grants(command=False, spawn=False, http=False, http_hosts=None, preopens=(preopen,))


@pytest.fixture
def files(shipped_kit, tmp_path: Path) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """``async with files() as agent``: file_interaction alone in an agent whose working directory
    (and only preopen) is ``tmp_path``."""

    def start(config: dict[str, Any] | None = None, writable: bool = True):  # type: ignore[no-untyped-def]
        spec = shipped_kit.loader.actor(
            FILE_INTERACTION_DIR, NAME, config=config, grants=grants(tmp_path, writable)
        )
        return agent_with(spec, tmp_path)

    return start


async def read(agent: Agent, path: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
    """Call `read_file`; the ``Done`` update."""
    arguments: dict[str, Any] = {"path": path}
    if start is not None:
        arguments["start_line"] = start
    if end is not None:
        arguments["end_line"] = end
    return await agent.call("read_file", arguments)


async def edit(agent: Agent, path: str, *edits: dict[str, Any]) -> dict[str, Any]:
    """Call `edit_file` with ``edits``; the ``Done`` update."""
    return await agent.call("edit_file", {"path": path, "edits": list(edits)})


def change(old: str, new: str, replace_all: bool | None = None) -> dict[str, Any]:
    """One edit."""
    edit = {"old_string": old, "new_string": new}
    return edit if replace_all is None else {**edit, "replace_all": replace_all}


def result(update: dict[str, Any], outcome: str) -> dict[str, Any]:
    """The ``Ok``/``Err`` result of a ``Done`` update (fails if the outcome differs)."""
    found: dict[str, Any] = update["status"]["Done"]["result"]
    assert outcome in found, found
    return found[outcome]  # type: ignore[no-any-return]


def read_ok(path: str, message: str, total: int, numbered: str, call_id: str) -> dict[str, Any]:
    """The exact update of a successful read."""
    expanded = f"File: {path}\nTotal lines: {total}\n\n{numbered}"
    return done(True, message + READ_SUFFIX, message, expanded, call_id)


def read_err(path: str, error: str, call_id: str) -> dict[str, Any]:
    """The exact update of a failed read."""
    return done(
        False, error, f"{path}: Read failed", f"File: {path}\nOperation: Read\nError: {error}", call_id
    )


def edit_err(path: str, error: str, call_id: str) -> dict[str, Any]:
    """The exact update of a failed edit."""
    return done(
        False, error, f"{path}: Edit failed", f"File: {path}\nOperation: Edit\nError: {error}", call_id
    )


def section(agent: Agent) -> dict[str, Any]:
    """The data of the latest files section."""
    data: dict[str, Any] = agent.contributions(FILES_KEY)[-1]["content"]["Data"]["data"]
    return data


def shown_files(agent: Agent) -> dict[str, str]:
    """Path -> numbered content of the latest files section (in section order)."""
    return {entry["path"]: entry["content"] for entry in section(agent)["files"]}


def lines(count: int, prefix: str = "line") -> str:
    """``count`` numbered lines, each ending with a newline."""
    return "".join(f"{prefix}{n}\n" for n in range(1, count + 1))


# --- announcement and configuration -----------------------------------------------------------------


async def test_both_tools_and_their_usage_guides_are_announced_to_the_own_agent(files) -> None:
    async with files() as agent:
        tools = {tool["function"]["name"]: tool["function"]["parameters"] for tool in agent.tools()}
        assert tools["read_file"]["required"] == ["path"]
        assert set(tools["read_file"]["properties"]) == {"path", "start_line", "end_line"}
        assert tools["edit_file"]["required"] == ["path", "edits"]
        assert tools["edit_file"]["properties"]["edits"]["items"]["required"] == ["old_string", "new_string"]
        for key, priority, name in (
            ("file_interaction:read_file_usage_guide", 900, "read_file"),
            ("file_interaction:edit_file_usage_guide", 901, "edit_file"),
        ):
            (guide,) = agent.contributions(key)
            assert (guide["agent"], guide["priority"], guide["section"]) == (SCOPE, priority, "tools")
            text = guide["content"]["Text"]
            assert text.startswith(f'<tool name="{name}">') and text.endswith("</tool>")
        assert agent.contributions(FILES_KEY) == [], "the files section starts with the first read"


async def test_with_edits_disabled_only_read_file_is_offered_and_edit_calls_get_an_error(
    files, tmp_path
) -> None:
    """Guards the original's silence: it ignored `edit_file` calls when edits were disabled, so the
    assistant waited forever for the result."""
    (tmp_path / "a.txt").write_text("hello\n")
    async with files({"allow_edits": False}) as agent:
        assert [tool["function"]["name"] for tool in agent.tools()] == ["read_file"]
        assert agent.contributions("file_interaction:edit_file_usage_guide") == []
        assert len(agent.contributions("file_interaction:read_file_usage_guide")) == 1
        await read(agent, "a.txt")
        message = "Tool `edit_file` is disabled for this agent"
        assert await edit(agent, "a.txt", change("hello", "bye")) == done(
            False, message, "edit_file: Disabled", f"Error: {message}", "call_2"
        )
    assert (tmp_path / "a.txt").read_text() == "hello\n"


async def test_an_invalid_configuration_fails_the_constructor(shipped_kit, tmp_path) -> None:
    """Guards the original's silent fallback to `allow_edits = true` for a config it could not parse
    (a read-only agent would get `edit_file`)."""
    spec = shipped_kit.loader.actor(
        FILE_INTERACTION_DIR, NAME, config={"allow_edits": "no"}, grants=grants(tmp_path)
    )
    broker = InProcessBroker()
    await Recorder(broker).start()
    async with running_host(broker, {NAME: spec}, working_directory=str(tmp_path)) as host:
        with pytest.raises(SpawnError) as raised:
            await host.start_agent(SCOPE, None, "Agent", [NAME])
    assert "constructor of actor 'file_interaction' (wasmind:file_interaction) failed" in str(raised.value)
    assert "`allow_edits` must be a boolean (true or false), got string 'no'" in str(raised.value)


# --- read_file ---------------------------------------------------------------------------------------


async def test_a_full_read_confirms_the_read_and_shows_the_file_in_the_prompt_section(
    files, tmp_path
) -> None:
    (tmp_path / "a.txt").write_text("alpha\nbeta\n")
    async with files() as agent:
        assert await read(agent, "a.txt") == read_ok(
            "a.txt", "Read file: a.txt (2 lines total - read complete file)", 2, "1:alpha\n2:beta", "call_1"
        )
        (contribution,) = agent.contributions(FILES_KEY)
        assert (contribution["agent"], contribution["priority"], contribution["section"]) == (
            SCOPE,
            500,
            "FilesReadAndEdited",
        )
        assert contribution["content"]["Data"]["data"] == {
            "working_directory": str(tmp_path),
            "files": [{"path": f"{tmp_path}/a.txt", "content": "1:alpha\n2:beta"}],
        }


async def test_the_files_section_template_renders_the_documented_layout(files, tmp_path) -> None:
    jinja2 = pytest.importorskip("jinja2", reason="the template is rendered by the assistant with jinja2")
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("x\ny\n")
    async with files() as agent:
        await read(agent, "b.txt")
        await read(agent, "a.txt")
        content = agent.contributions(FILES_KEY)[-1]["content"]["Data"]
    environment = jinja2.Environment(autoescape=False, keep_trailing_newline=True)
    rendered = environment.from_string(content["default_template"]).render(data=content["data"])
    head, note, files_part = rendered.split("\n\n", 2)
    assert head == f"Current Working Directory: {tmp_path}"
    assert note.startswith("This section shows") and "\n" not in note
    assert files_part == (
        f'<file path="{tmp_path}/a.txt">\n1:alpha\n</file>\n<file path="{tmp_path}/b.txt">\n1:x\n2:y\n</file>\n'
    )


@pytest.mark.parametrize("bound", ["start_line", "end_line"])
async def test_a_negative_line_number_is_rejected_with_its_own_texts(files, tmp_path, bound: str) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    async with files() as agent:
        update = await agent.call("read_file", {"path": "a.txt", "start_line": 1, "end_line": 1, bound: -2})
    assert update == done(
        False,
        f"Invalid {bound}: -2 - lines are 1-indexed.",
        "a.txt: Invalid line number",
        f"File: a.txt\nError: {bound} must be positive (was: -2)",
        "call_1",
    )


async def test_read_errors_name_the_problem(files, tmp_path) -> None:
    """Guards the original's `Failed to normalize path '<path>': <OS error>` for a missing file: ours
    says plainly that it does not exist."""
    (tmp_path / "a.txt").write_text("x\ny\nz\n")
    (tmp_path / "bin.dat").write_bytes(b"ok\n\xff\xfe\n")
    with (tmp_path / "huge.txt").open("wb") as huge:
        huge.truncate(10 * 1024 * 1024 + 1)
    async with files() as agent:
        assert await read(agent, "a.txt", start=2) == read_err(
            "a.txt", "Both start_line and end_line must be provided for partial reads", "call_1"
        )
        assert await read(agent, "nope.txt") == read_err(
            "nope.txt", "File 'nope.txt' does not exist.", "call_2"
        )
        assert await read(agent, "huge.txt") == read_err(
            "huge.txt",
            "File 'huge.txt' is too large (10485761 bytes). Maximum file size is 10485760 bytes.",
            "call_3",
        )
        assert await read(agent, "bin.dat") == read_err(
            "bin.dat", "Failed to read file 'bin.dat': stream did not contain valid UTF-8", "call_4"
        )
        for call_id, (start, end) in enumerate([(0, 2), (4, 5), (3, 2)], 5):
            assert await read(agent, "a.txt", start, end) == read_err(
                "a.txt", f"Invalid line range: {start}-{end} (file has 3 lines)", f"call_{call_id}"
            )
        assert agent.contributions(FILES_KEY) == [], "failed reads do not touch the section"


async def test_a_file_over_64_kib_needs_a_line_range(files, tmp_path) -> None:
    text = lines(8000)
    (tmp_path / "big.txt").write_text(text)
    size = len(text.encode())
    async with files() as agent:
        metadata = f'{{"path":"big.txt","size_bytes":{size},"total_lines":8000}}'
        assert await read(agent, "big.txt") == read_err(
            "big.txt",
            f"File too large. You must specify a line range (start_line and end_line). File metadata: {metadata}",
            "call_1",
        )
        assert await read(agent, "big.txt", 2, 3) == read_ok(
            "big.txt",
            "Read file: big.txt (lines 2-3 of 8000 total - 7997 lines remaining)",
            8000,
            "[... 1 lines omitted ...]\n2:line2\n3:line3\n[... 7997 lines omitted ...]",
            "call_2",
        )


async def test_partial_reads_are_merged_and_the_gaps_are_marked(files, tmp_path) -> None:
    (tmp_path / "f.txt").write_text(lines(10))
    full = str(tmp_path / "f.txt")
    async with files() as agent:
        assert await read(agent, "f.txt", 3, 4) == read_ok(
            "f.txt",
            "Read file: f.txt (lines 3-4 of 10 total - 6 lines remaining)",
            10,
            "[... 2 lines omitted ...]\n3:line3\n4:line4\n[... 6 lines omitted ...]",
            "call_1",
        )
        await read(agent, "f.txt", 7, 8)
        assert shown_files(agent)[full] == (
            "[... 2 lines omitted ...]\n3:line3\n4:line4\n[... 2 lines omitted ...]\n"
            "7:line7\n8:line8\n[... 2 lines omitted ...]"
        )
        await read(agent, "f.txt", 5, 6)  # touches both neighbours: one slice 3-8
        assert (
            shown_files(agent)[full]
            == "[... 2 lines omitted ...]\n"
            + "\n".join(f"{n}:line{n}" for n in range(3, 9))
            + "\n[... 2 lines omitted ...]"
        )
        assert result(await read(agent, "f.txt", 8, 12), "Ok")["ui_display_info"]["collapsed"] == (
            "Read file: f.txt (requested lines 8-12, file has 10 lines - read lines 8-10)"
        )
        assert result(await read(agent, "f.txt", 1, 10), "Ok")["ui_display_info"]["collapsed"] == (
            "Read file: f.txt (lines 1-10 of 10 total - read complete file)"
        )
        assert result(await read(agent, "f.txt", 1, 20), "Ok")["ui_display_info"]["collapsed"] == (
            "Read file: f.txt (requested lines 1-20, file has 10 lines - read complete file)"
        )
        assert shown_files(agent)[full] == "\n".join(f"{n}:line{n}" for n in range(1, 11))


async def test_a_range_of_a_fully_read_file_is_answered_from_the_whole_file(files, tmp_path) -> None:
    (tmp_path / "f.txt").write_text(lines(4))
    async with files() as agent:
        await read(agent, "f.txt")
        update = await read(agent, "f.txt", 2, 3)
    assert result(update, "Ok")["ui_display_info"]["collapsed"] == (
        "Read file: f.txt (lines 1-4 of 4 total - read complete file)"
    )


async def test_a_full_read_of_a_partly_read_file_reads_the_whole_file(files, tmp_path) -> None:
    """Guards the original's bug: a full request on an unmodified file cached as Partial returned
    the partial content while saying `read complete file`."""
    (tmp_path / "f.txt").write_text(lines(4))
    async with files() as agent:
        await read(agent, "f.txt", 1, 2)
        assert await read(agent, "f.txt") == read_ok(
            "f.txt",
            "Read file: f.txt (4 lines total - read complete file)",
            4,
            "1:line1\n2:line2\n3:line3\n4:line4",
            "call_2",
        )


async def test_a_file_changed_on_disk_is_read_again_even_when_only_its_size_changed(files, tmp_path) -> None:
    """Guards the original's staleness check by modification time alone: a file rewritten within
    the same timestamp (here: its old mtime restored) kept its stale cached content."""
    path = tmp_path / "f.txt"
    path.write_text("one\n")
    async with files() as agent:
        await read(agent, "f.txt")
        before = path.stat().st_mtime_ns
        path.write_text("one\ntwo\n")
        os.utime(path, ns=(before, before))
        assert result(await edit(agent, "./f.txt", change("one", "1")), "Err")["content"] == (
            f"File '{path}' has been modified since last read. Please use the read_file tool first."
        )
        assert result(await read(agent, "f.txt"), "Ok")["ui_display_info"]["expanded"] == (
            "File: f.txt\nTotal lines: 2\n\n1:one\n2:two"
        )
        later = before + 5_000_000_000
        path.write_text("uno\ntwo\n")  # same size, new modification time
        os.utime(path, ns=(later, later))
        assert result(await read(agent, "f.txt"), "Ok")["ui_display_info"]["expanded"] == (
            "File: f.txt\nTotal lines: 2\n\n1:uno\n2:two"
        )


async def test_lines_split_on_newlines_only_and_drop_the_carriage_return_of_crlf(files, tmp_path) -> None:
    """Lines follow Rust `str::lines`: form feed and U+2028 do not end a line (as they do for Python's
    `splitlines`), `\\r\\n` ends one without its `\\r`, a final lone `\\r` stays."""
    (tmp_path / "crlf.txt").write_bytes("one\r\ntwo\r\nthree\x0cstill\u2028three\r".encode())
    async with files() as agent:
        assert await read(agent, "crlf.txt") == read_ok(
            "crlf.txt",
            "Read file: crlf.txt (3 lines total - read complete file)",
            3,
            "1:one\n2:two\n3:three\x0cstill\u2028three\r",
            "call_1",
        )
        await edit(agent, "crlf.txt", change("two", "2"))
    assert (tmp_path / "crlf.txt").read_bytes() == "one\r\n2\r\nthree\x0cstill\u2028three\r".encode()


async def test_relative_paths_are_normalised_against_the_working_directory(files, tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("x\n")
    async with files() as agent:
        update = await read(agent, "sub/./../a.txt")
        assert result(update, "Ok")["ui_display_info"]["collapsed"] == (
            "Read file: sub/./../a.txt (1 lines total - read complete file)"
        )
        await read(agent, f"{tmp_path}/a.txt")
        assert list(shown_files(agent)) == [f"{tmp_path}/a.txt"], "one cache entry for both spellings"


@pytest.mark.parametrize(
    ("tool", "arguments", "description"),
    [
        ("read_file", "{}", "missing field `path`"),
        ("read_file", '{"path": 3}', "invalid type for `path`: expected a string, got number"),
        (
            "read_file",
            '{"path": "a", "start_line": "1"}',
            "invalid type for `start_line`: expected an integer, got string",
        ),
        ("read_file", "[]", "expected a JSON object, got list"),
        ("read_file", '{"path": "\\udc80.txt"}', "invalid unicode in `path`: lone surrogate escape"),
        ("edit_file", '{"path": "a"}', "missing field `edits`"),
        (
            "edit_file",
            '{"path": "a", "edits": {}}',
            "invalid type for `edits`: expected an array, got object",
        ),
        (
            "edit_file",
            '{"path": "a", "edits": [{"old_string": "x"}]}',
            "missing field `new_string` in `edits[0]`",
        ),
        (
            "edit_file",
            '{"path": "a", "edits": [{"old_string": "x", "new_string": "y", "replace_all": "yes"}]}',
            "invalid type for `edits[0].replace_all`: expected a boolean, got string",
        ),
    ],
)
async def test_arguments_that_do_not_fit_the_schema_get_the_tools_parse_error(
    files, tool: str, arguments: str, description: str
) -> None:
    async with files() as agent:
        assert await agent.call(tool, arguments) == done(
            False,
            f"Failed to parse {tool} parameters: {description}",
            "Parameters: Invalid format",
            f"Error: Failed to parse parameters\n\nDetails: {description}",
            "call_1",
        )


# --- edit_file ---------------------------------------------------------------------------------------


async def test_an_edit_with_an_empty_old_string_creates_the_file_and_its_directories(files, tmp_path) -> None:
    diff = "--- new/dir/f.txt\n+++ new/dir/f.txt (modified)\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
    async with files() as agent:
        assert await edit(agent, "new/dir/f.txt", change("", "hello\nworld\n")) == done(
            True,
            f"Successfully edited new/dir/f.txt\n\nDiff of changes:\n```diff\n{diff}\n```{EDIT_SUFFIX}",
            "new/dir/f.txt: 1 edit applied",
            f"File: new/dir/f.txt\nOperation: Edit\nChanges: 1 operations applied\n\nDiff:\n{diff}",
            "call_1",
        )
        assert shown_files(agent) == {f"{tmp_path}/new/dir/f.txt": "1:hello\n2:world"}
    assert (tmp_path / "new" / "dir" / "f.txt").read_text() == "hello\nworld\n"


async def test_edit_errors_name_the_problem_and_write_nothing(files, tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x = 1\nx = 1\n\ty\n")
    async with files() as agent:
        assert await edit(agent, "b.txt", change("a", "b")) == edit_err(
            "b.txt",
            "File 'b.txt' does not exist. To create a new file, use an edit with empty old_string.",
            "call_1",
        )
        assert await edit(agent, "a.txt", change("x", "z")) == edit_err(
            "a.txt",
            "File 'a.txt' must be read before it can be edited. Please use the read_file tool first.",
            "call_2",
        )
        await read(agent, "a.txt")
        assert await edit(agent, "a.txt", change("", "z")) == edit_err(
            "a.txt",
            "Cannot use empty old_string on non-empty file. Empty old_string is only for creating new files.",
            "call_4",
        )
        assert await edit(agent, "a.txt", change("nope\n\tz", "z")) == edit_err(
            "a.txt",
            'String not found in file.\nLooking for: "nope\\n\\tz"\n\n'
            "The string must match exactly including all whitespace and newlines.",
            "call_5",
        )
        assert await edit(agent, "a.txt", change("x = 1", "x = 2")) == edit_err(
            "a.txt",
            'Multiple matches found (2 occurrences) for string:\n"x = 1"\n\n'
            'Either set "replace_all": true or include more context to make the string unique.',
            "call_6",
        )
    assert path.read_text() == "x = 1\nx = 1\n\ty\n"
    assert not (tmp_path / "b.txt").exists()


async def test_long_search_strings_are_cut_at_200_characters_not_bytes(files, tmp_path) -> None:
    """Guards the original's byte counting: it cut at byte 200, which splits a multi-byte character
    (and crashed), and truncated strings of few but wide characters."""
    (tmp_path / "a.txt").write_text("text\n")
    async with files() as agent:
        await read(agent, "a.txt")
        long = result(await edit(agent, "a.txt", change("€" * 250, "")), "Err")["content"]
        short = result(await edit(agent, "a.txt", change("€" * 150, "")), "Err")["content"]
    assert long.startswith(
        f'String not found in file.\nLooking for: "{"€" * 200}..." (truncated, 250 chars total)\n\n'
    )
    assert short.startswith(f'String not found in file.\nLooking for: "{"€" * 150}"\n\n')


async def test_edits_apply_in_order_and_atomically(files, tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a b a\n")
    async with files() as agent:
        await read(agent, "a.txt")
        failed = await edit(agent, "a.txt", change("b", "c"), change("missing", "x"))
        assert result(failed, "Err")["content"].startswith("String not found in file.")
        assert path.read_text() == "a b a\n", "the first edit is not written either"
        update = await edit(agent, "a.txt", change("a", "x", replace_all=True), change("x b", "y"))
        assert result(update, "Ok")["ui_display_info"]["collapsed"] == "a.txt: 2 edits applied"
    assert path.read_text() == "y x\n"


async def test_the_diff_is_a_unified_diff_with_ten_lines_of_context(files, tmp_path) -> None:
    (tmp_path / "f.txt").write_text(lines(30))
    (tmp_path / "g.txt").write_text("a\nb")
    context_before = "".join(f" line{n}\n" for n in range(5, 15))
    context_after = "".join(f" line{n}\n" for n in range(16, 26))
    async with files() as agent:
        await read(agent, "f.txt")
        await read(agent, "g.txt")
        expanded_f = result(await edit(agent, "f.txt", change("line15\n", "fifteen\n")), "Ok")[
            "ui_display_info"
        ]
        expanded_g = result(await edit(agent, "g.txt", change("b", "c")), "Ok")["ui_display_info"]
    assert expanded_f["expanded"].split("\n\nDiff:\n", 1)[1] == (
        f"--- f.txt\n+++ f.txt (modified)\n@@ -5,21 +5,21 @@\n{context_before}-line15\n+fifteen\n{context_after}"
    )
    assert expanded_g["expanded"].split("\n\nDiff:\n", 1)[1] == (
        "--- g.txt\n+++ g.txt (modified)\n@@ -1,2 +1,2 @@\n a\n-b\n"
        "\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
    )


async def test_an_edited_file_can_be_edited_again_without_reading_it(files, tmp_path) -> None:
    """Guards the original's refresh by re-reading: a file that grew past 64 KiB could not be
    re-read, the old entry stayed, and the next edit failed with `modified since last read`."""
    path = tmp_path / "a.txt"
    path.write_text("start\n")
    filler = "x" * 70_000
    async with files() as agent:
        await read(agent, "a.txt")
        result(await edit(agent, "a.txt", change("start\n", f"start\n{filler}\n")), "Ok")
        result(await edit(agent, "a.txt", change("start", "begin")), "Ok")
        assert shown_files(agent) == {str(path): f"1:begin\n2:{filler}"}
    assert path.read_text() == f"begin\n{filler}\n"


async def test_a_partly_read_file_keeps_its_ranges_after_an_edit(files, tmp_path) -> None:
    (tmp_path / "f.txt").write_text(lines(10))
    async with files() as agent:
        await read(agent, "f.txt", 2, 3)
        await read(agent, "f.txt", 8, 10)
        await edit(agent, "f.txt", change("line2\n", "two\nmore\n"), change("line10\n", ""))
        assert shown_files(agent) == {
            str(tmp_path / "f.txt"): (
                "[... 1 lines omitted ...]\n2:two\n3:more\n[... 4 lines omitted ...]\n8:line7\n9:line8\n10:line9"
            )
        }


async def test_a_created_file_over_64_kib_is_not_cached(files, tmp_path) -> None:
    async with files() as agent:
        result(await edit(agent, "big.txt", change("", "y" * 70_000)), "Ok")
        assert agent.contributions(FILES_KEY)[-1]["content"]["Data"]["data"]["files"] == []
        assert result(await edit(agent, "big.txt", change("y", "z", replace_all=True)), "Err")["content"] == (
            "File 'big.txt' must be read before it can be edited. Please use the read_file tool first."
        )
    assert (tmp_path / "big.txt").stat().st_size == 70_000


async def test_write_failures_are_reported(files, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    async with files(writable=False) as agent:
        await read(agent, "a.txt")
        write = result(await edit(agent, "a.txt", change("x", "y")), "Err")["content"]
    async with files() as agent:
        directory = result(await edit(agent, "a.txt/sub/b.txt", change("", "y")), "Err")["content"]
    assert write.startswith("Failed to write file: ")
    assert directory.startswith("Failed to create directory: ")
    assert (tmp_path / "a.txt").read_text() == "x\n"


# --- the files section -------------------------------------------------------------------------------


async def test_the_files_section_lists_every_read_or_edited_file_sorted_by_path(files, tmp_path) -> None:
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "a-b.txt").write_text("ab\n")
    async with files() as agent:
        await read(agent, "b.txt")
        await edit(agent, "a/z.txt", change("", "z\n"))
        await read(agent, "a-b.txt")
        # Sorted component by component (like paths), so the directory `a` comes before `a-b.txt`.
        assert list(shown_files(agent)) == [f"{tmp_path}/a/z.txt", f"{tmp_path}/a-b.txt", f"{tmp_path}/b.txt"]
        assert len(agent.contributions(FILES_KEY)) == 3, "one section update per successful call"


async def test_compacting_the_conversation_empties_the_files_section(files, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    async with files() as agent:
        await read(agent, "a.txt")
        await agent.recorder.publish(STATUS_UPDATE, COMPACTING, scope=OTHER_SCOPE)
        waiting = {"status": {"Wait": {"reason": "WaitingForUserInput"}}}
        await agent.recorder.publish(STATUS_UPDATE, waiting, scope=SCOPE)
        await read(agent, "b.txt")
        assert list(shown_files(agent)) == [f"{tmp_path}/a.txt", f"{tmp_path}/b.txt"]

        await agent.recorder.publish(STATUS_UPDATE, COMPACTING, scope=SCOPE)
        await agent.recorder.wait_for(
            "wasmind.common.assistant.SystemPromptContribution",
            lambda e: json.loads(e.payload)["key"] == FILES_KEY,
            count=3,
        )
        assert section(agent) == {"working_directory": str(tmp_path), "files": []}
        assert result(await edit(agent, "a.txt", change("a", "b")), "Err")["content"].startswith(
            "File 'a.txt' must be read before it can be edited."
        )


async def test_results_and_sections_too_large_for_the_bus_are_cut_or_skipped_so_the_call_is_answered(
    files, tmp_path
) -> None:
    """A range of about 1.4 MB makes both the files section and the result's expanded text exceed the
    bus's 1 MiB message limit: the result is cut to fit, the section is not sent, the user is warned."""
    (tmp_path / "wide.txt").write_text(lines(20_000, "x" * 60))
    message = "Read file: wide.txt (lines 1-20000 of 20000 total - read complete file)"
    async with files() as agent:
        update = await read(agent, "wide.txt", 1, 20_000)
        (warning,) = agent.recorder.of_type("wasmind.common.ui.UserNotification")
        assert json.loads(warning.payload)["title"] == "Files section too large"
        assert agent.contributions(FILES_KEY) == []
    ok = result(update, "Ok")
    assert (ok["content"], ok["ui_display_info"]["collapsed"]) == (message + READ_SUFFIX, message)
    expanded = ok["ui_display_info"]["expanded"]
    assert expanded.startswith("File: wide.txt\nTotal lines: 20000\n\n1:" + "x" * 60 + "1\n")
    assert expanded.endswith("\n[... cut: too large for one message ...]")


async def test_paths_outside_the_granted_directories_get_an_error_and_the_actor_keeps_working(
    files, tmp_path
) -> None:
    """The sandbox: only preopened directories exist for the guest; the call is answered, not crashed."""
    outside = tmp_path.parent / f"outside-{tmp_path.name}.txt"
    outside.write_text("secret\n")
    (tmp_path / "inside.txt").write_text("fine\n")
    try:
        async with files() as agent:
            refused = await read(agent, str(outside))
            assert "Err" in refused["status"]["Done"]["result"]
            assert "secret" not in json.dumps(refused)
            created = await edit(agent, str(tmp_path.parent / "new-outside.txt"), change("", "x"))
            assert "Err" in created["status"]["Done"]["result"]
            assert not (tmp_path.parent / "new-outside.txt").exists()
            assert "Ok" in (await read(agent, "inside.txt"))["status"]["Done"]["result"]
            # the guest cannot tell "outside the sandbox" from "missing": both read as not existing
            assert (
                refused["status"]["Done"]["result"]["Err"]["content"] == f"File '{outside}' does not exist."
            )
    finally:
        outside.unlink()
