"""``wasmind trace`` on span files written by the real SDK and the span-file exporter.

The scenario mimics a run: the CLI, the spawner and a host each write their own file; one span's
parent was never recorded (an orphan) and one tool call failed. Spans get explicit timestamps, so
the tree (and its durations) is exact.
"""

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import RandomIdGenerator, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from processes import run_wasmind
from rich.console import Console
from typer.testing import CliRunner
from wasmind_cli import trace_cmd
from wasmind_cli.main import app

from wasmind.telemetry.spanfile import SpanFileExporter

MS = 1_000_000
T0 = 1_746_100_800_000_000_000  # 2025-05-01 12:00:00 UTC, in unix ns

RUN_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CHECK_ID = "c0ffee0123456789abcdef0123456789"
TWIN_A = "abcdef0100000000000000000000000a"
TWIN_B = "abcdef0200000000000000000000000b"


class FixedIds(RandomIdGenerator):
    """Trace ids from a list (span ids stay random)."""

    def __init__(self, trace_ids: list[str]) -> None:
        self._trace_ids = [int(trace_id, 16) for trace_id in trace_ids]

    def generate_trace_id(self) -> int:
        return self._trace_ids.pop(0)


class Services:
    """One tracer provider (and span file) per service, all in one directory."""

    def __init__(self, directory: Path, trace_ids: list[str]) -> None:
        self.providers = {
            name: TracerProvider(
                resource=Resource.create({"service.name": name, "service.instance.id": f"{name}-1"}),
                id_generator=FixedIds(trace_ids),
            )
            for name in ("wasmind-cli", "wasmind-spawner", "wasmind-host")
        }
        for name, provider in self.providers.items():
            provider.add_span_processor(SimpleSpanProcessor(SpanFileExporter(directory, name)))

    def span(
        self,
        service: str,
        name: str,
        start_ms: float,
        end_ms: float,
        parent: trace.Span | None = None,
        attributes: dict[str, Any] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> trace.Span:
        """A span from start_ms to end_ms after T0 (ended when end_ms is given)."""
        tracer = self.providers[service].get_tracer("wasmind.test")
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            name, context=context, kind=kind, attributes=attributes, start_time=T0 + int(start_ms * MS)
        )
        span.end(end_time=T0 + int(end_ms * MS))
        return span

    def open(self, service: str, name: str, start_ms: float, parent: trace.Span | None = None) -> trace.Span:
        tracer = self.providers[service].get_tracer("wasmind.test")
        context = trace.set_span_in_context(parent) if parent is not None else None
        return tracer.start_span(name, context=context, start_time=T0 + int(start_ms * MS))

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def _run_trace(services: Services) -> None:
    """The interesting trace: a run, a spawn, a delivery with an LLM call and a failing tool."""
    run = services.open("wasmind-cli", "wasmind run", 0)
    run.set_attribute("process.command", ["wasmind", "run", "examples/demo.toml"])
    run.add_event("log", {"message": "root agent spawned", "scope": "a1b2c3"}, timestamp=T0 + 260 * MS)
    services.span(
        "wasmind-cli",
        "publish",
        5,
        5.4,
        run,
        {
            "messaging.destination.name": "wasmind.default.s.a1b2c3.assistant.AddMessage",
            "wasmind.message_type": "assistant.AddMessage",
        },
        SpanKind.PRODUCER,
    )
    spawn = services.open("wasmind-spawner", "spawn agent", 10, run)
    spawn.set_attribute("wasmind.scope", "a1b2c3")
    services.span("wasmind-host", "start actor", 100, 240, spawn, {"wasmind.actor_id": "assistant"})
    spawn.end(end_time=T0 + 250 * MS)
    handle = services.open("wasmind-host", "handle", 300, run)
    handle.set_attributes(
        {
            "wasmind.scope": "a1b2c3",
            "wasmind.actor_id": "assistant",
            "wasmind.message_type": "assistant.AddMessage",
        }
    )
    # started after the tool below, listed before it: children are ordered by start, not by end
    tool = services.open("wasmind-host", "execute_bash", 1510, handle)
    services.span(
        "wasmind-host",
        "chat",
        320,
        1500,
        handle,
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 85,
        },
        SpanKind.CLIENT,
    )
    tool.set_attributes({"process.command": "wc -w", "process.exit.code": 1})
    tool.set_status(Status(StatusCode.ERROR, "exit status 1"))
    tool.end(end_time=T0 + 1790 * MS)
    handle.end(end_time=T0 + 1800 * MS)
    missing = SpanContext(int(RUN_ID, 16), 0x1234, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    services.span("wasmind-host", "handle tool result", 1850, 1852.5, NonRecordingSpan(missing))
    run.end(end_time=T0 + 2000 * MS)


def write_scenario(directory: Path) -> None:
    """Four traces: the run (newest), a check, and two whose ids share the prefix abcdef0."""
    services = Services(directory, [CHECK_ID, TWIN_A, TWIN_B, RUN_ID])
    services.span("wasmind-cli", "wasmind check", -60_000, -59_990)
    services.span("wasmind-cli", "twin a", -50_000, -49_000)
    services.span("wasmind-cli", "twin b", -40_000, -39_000)
    _run_trace(services)
    services.shutdown()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory with three runs: an old one with spans, the latest with spans, one newer without."""
    root = tmp_path / "state"
    write_scenario(root / "runs" / "20250501-120000" / "spans")
    old = Services(root / "runs" / "20250430-090000" / "spans", ["0" * 31 + "1"])
    old.span("wasmind-cli", "an older run", 0, 1)
    old.shutdown()
    (root / "runs" / "20250502-080000").mkdir()  # a run with tracing off: no spans directory
    return root


def wasmind_trace(state: Path, *args: str, trace_dir: Path | None = None) -> tuple[int, str, str]:
    env = {"WASMIND_STATE_DIR": str(state), "WASMIND_TRACE_DIR": str(trace_dir) if trace_dir else None}
    result = CliRunner().invoke(app, ["trace", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


EXPECTED_TREE = [
    "2,000 ms  wasmind run  wasmind-cli  command=wasmind run examples/demo.toml",
    "0.400 ms  ├─ publish  wasmind-cli  type=assistant.AddMessage subject=wasmind.default.s.a1b2c3.assistant.AddMessage",
    "  240 ms  ├─ spawn agent  wasmind-spawner  scope=a1b2c3",
    "  140 ms  │  └─ start actor  wasmind-host  actor=assistant",
    "1,500 ms  └─ handle  wasmind-host  scope=a1b2c3 actor=assistant type=assistant.AddMessage",
    "1,180 ms     ├─ chat  wasmind-host  model=gpt-4o in_tokens=1200 out_tokens=85",
    "  280 ms     └─ execute_bash  wasmind-host  command=wc -w exit=1  ✗ error: exit status 1",
    "2.50 ms  handle tool result  wasmind-host  (parent not recorded)",
]


def test_last_draws_the_newest_trace_as_a_tree(state: Path) -> None:
    code, out, err = wasmind_trace(state, "--last")
    assert code == 0, err
    header, *tree = lines(out)
    assert header.startswith(f"trace {RUN_ID}  wasmind run  ")
    assert header.endswith("2,000 ms  8 spans, 1 error")
    assert [line.strip() for line in tree] == [line.strip() for line in EXPECTED_TREE]
    assert len({line.index("ms ") for line in tree}) == 1  # durations right-aligned in one column


def test_events_are_shown_under_their_span_on_request(state: Path) -> None:
    _, out, _ = wasmind_trace(state, "--last", "--events")
    tree = lines(out)[1:]
    assert tree[1].strip() == "+260 ms  │ · log  message=root agent spawned scope=a1b2c3"
    assert tree[2].strip().startswith("0.400 ms  ├─ publish")
    _, plain, _ = wasmind_trace(state, "--last")
    assert "root agent spawned" not in plain


def test_a_full_id_or_a_unique_prefix_selects_a_trace(state: Path) -> None:
    for given in (CHECK_ID, CHECK_ID[:6], CHECK_ID[:10].upper()):
        code, out, err = wasmind_trace(state, given)
        assert code == 0, err
        assert lines(out)[0].startswith(f"trace {CHECK_ID}  wasmind check")
        assert [line.strip() for line in lines(out)[1:]] == ["10.0 ms  wasmind check  wasmind-cli"]


def test_without_an_id_the_traces_are_listed_newest_first(state: Path) -> None:
    code, out, err = wasmind_trace(state)
    assert code == 0, err
    rows = lines(out)
    assert rows[0] == f"traces in {state / 'runs' / '20250501-120000' / 'spans'}"
    assert rows[1].split() == ["TRACE", "ID", "ROOT", "SERVICE", "START", "DURATION", "SPANS", "ERRORS"]
    assert [row.split()[0] for row in rows[2:6]] == [RUN_ID, TWIN_B, TWIN_A, CHECK_ID]
    run_row = rows[2]
    assert "wasmind run" in run_row and "wasmind-cli" in run_row
    assert run_row.split()[-3:] == ["ms", "8", "1"] and "2,000 ms" in run_row
    assert rows[5].split()[-4:] == ["10.0", "ms", "1", "0"]
    assert trace_cmd._clock(T0) in run_row
    assert "wasmind trace --last" in rows[-1]


def test_json_nests_children_and_keeps_orphans_at_top_level(state: Path) -> None:
    code, out, _ = wasmind_trace(state, "--last", "--json")
    assert code == 0
    forest = json.loads(out)
    assert [span["name"] for span in forest] == ["wasmind run", "handle tool result"]
    root, orphan = forest
    assert [child["name"] for child in root["children"]] == ["publish", "spawn agent", "handle"]
    handle = root["children"][2]
    assert [child["name"] for child in handle["children"]] == ["chat", "execute_bash"]
    assert handle["children"][1]["status"] == {"code": "error", "message": "exit status 1"}
    assert handle["children"][0]["parent_span_id"] == handle["span_id"]
    assert orphan["parent_span_id"] == format(0x1234, "016x") and orphan["children"] == []
    assert orphan["resource"]["service.name"] == "wasmind-host"


def test_json_without_an_id_lists_the_trace_summaries(state: Path) -> None:
    _, out, _ = wasmind_trace(state, "--json")
    listing = json.loads(out)
    assert [row["trace_id"] for row in listing] == [RUN_ID, TWIN_B, TWIN_A, CHECK_ID]
    assert listing[0] == {
        "trace_id": RUN_ID,
        "root": "wasmind run",
        "service": "wasmind-cli",
        "start": T0,
        "duration_ns": 2000 * MS,
        "spans": 8,
        "errors": 1,
    }


def test_an_ambiguous_prefix_lists_the_candidates(state: Path) -> None:
    code, out, err = wasmind_trace(state, "abcdef0")
    assert code == 1 and out == ""
    assert err.startswith("Error: trace id prefix 'abcdef0' matches 2 traces; give more characters:")
    assert TWIN_A in err and TWIN_B in err and RUN_ID not in err
    assert "Traceback" not in err


def test_an_unknown_or_too_short_id_is_explained(state: Path) -> None:
    code, _, err = wasmind_trace(state, "ffffff")
    assert code == 1
    assert err.startswith("Error: no trace 'ffffff' in the spans; traces there, newest first:")
    assert all(trace_id in err for trace_id in (RUN_ID, TWIN_A, TWIN_B, CHECK_ID))
    code, _, err = wasmind_trace(state, "4bf9")
    assert code == 1 and "too short: give at least 6 hex characters" in err
    code, _, err = wasmind_trace(state, RUN_ID, "--last")
    assert code == 1 and "Error: give a TRACE_ID or --last, not both" in err


def test_dir_reads_another_directory(state: Path) -> None:
    code, out, _ = wasmind_trace(state, "--last", "--dir", str(state / "runs" / "20250430-090000" / "spans"))
    assert code == 0 and "an older run" in out


def test_no_spans_directory_says_where_it_looked_and_how_to_enable_tracing(tmp_path: Path) -> None:
    (tmp_path / "runs" / "20250502-080000").mkdir(parents=True)
    code, out, err = wasmind_trace(tmp_path, "--last")
    assert code == 1 and out == ""
    assert f"Error: no spans found: looked for {tmp_path / 'runs' / '*' / 'spans'}" in err
    assert "WASMIND_TRACE_DIR=<dir>" in err and "[telemetry] file = true" in err and "--dir" in err
    code, _, err = wasmind_trace(tmp_path, "--last", trace_dir=tmp_path / "configured")
    assert code == 1 and f"Error: no spans directory at {tmp_path / 'configured'}" in err, (
        "WASMIND_TRACE_DIR wins"
    )
    code, _, err = wasmind_trace(tmp_path, "--dir", str(tmp_path / "elsewhere"))
    assert code == 1 and f"Error: no spans directory at {tmp_path / 'elsewhere'}" in err
    (tmp_path / "empty").mkdir()
    code, _, err = wasmind_trace(tmp_path, "--dir", str(tmp_path / "empty"))
    assert code == 1 and "Error: no spans in" in err


def _span_line(trace_id: str, span_id: str, parent: str | None, name: str, start: int) -> str:
    return json.dumps(
        {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name, "start": start}
    )


def test_broken_files_never_crash(tmp_path: Path) -> None:
    """Malformed lines, a parent cycle, a self-parent, a span written twice, markup in a name."""
    trace_id = "f" * 32
    rows = [
        _span_line(trace_id, "a" * 16, "b" * 16, "cycle a", 1),
        _span_line(trace_id, "b" * 16, "a" * 16, "cycle b", 2),
        _span_line(trace_id, "c" * 16, "c" * 16, "self parent", 3),
        _span_line(trace_id, "c" * 16, "c" * 16, "self parent", 3),
        "{not json",
        json.dumps({"trace_id": trace_id, "span_id": "d" * 16, "name": "odd", "start": 4, "status": 7}),
        _span_line("e" * 32, "e" * 16, None, "[/bold] not markup", 0),
    ]
    (tmp_path / "spans-broken-1.jsonl").write_text("\n".join(rows) + "\n")
    code, out, err = wasmind_trace(tmp_path, "--last", "--dir", str(tmp_path), "--events")
    assert code == 0, err
    assert "Warning: skipped 1 malformed line(s)" in err
    names = [line.split("  ")[1].lstrip("├└─│ ") for line in lines(out)[1:]]
    assert sorted(names) == ["cycle a", "cycle b", "odd", "self parent"]
    code, out, _ = wasmind_trace(tmp_path, "--last", "--dir", str(tmp_path), "--json")
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = wasmind_trace(tmp_path, "--dir", str(tmp_path))
    assert code == 0 and "[/bold] not markup" in out
    code, out, _ = wasmind_trace(tmp_path, "e" * 6, "--dir", str(tmp_path))
    assert code == 0 and "[/bold] not markup" in out


def test_errors_are_red_on_a_terminal(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(trace_cmd, "console", Console(file=screen, force_terminal=True, width=200))
    monkeypatch.setenv("WASMIND_STATE_DIR", str(state))
    trace_cmd.trace(None, last=True, directory=None, as_json=False, events=False)
    tool = next(line for line in screen.getvalue().splitlines() if "execute_bash" in line)
    assert "\x1b[1;31mexecute_bash" in tool and "\x1b[31m  ✗ error: exit status 1" in tool


def test_the_installed_command_reads_the_latest_run(state: Path) -> None:
    done = run_wasmind("trace", "--last", env={**os.environ, "WASMIND_STATE_DIR": str(state)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [line.strip() for line in lines(done.stdout)[1:]] == [line.strip() for line in EXPECTED_TREE]


if __name__ == "__main__":  # prints the example tree of docs/observability.md
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        write_scenario(Path(scratch))
        print(CliRunner().invoke(app, ["trace", "--last", "--events", "--dir", scratch]).stdout)


def test_last_prefers_the_newest_prompt_over_newer_lifecycle_traces() -> None:
    from wasmind_cli.trace_cmd import Trace, newest_conversation

    def trace(trace_id: str, name: str, start: int) -> Trace:
        span = {
            "trace_id": trace_id,
            "span_id": trace_id[:16],
            "parent_span_id": None,
            "name": name,
            "start": start,
            "end": start + 1,
        }
        return Trace(trace_id, [span])

    drain, prompt, older = (
        trace("a" * 32, "host drain", 30),
        trace("b" * 32, "user message", 20),
        trace("c" * 32, "user message", 10),
    )
    assert newest_conversation([drain, prompt, older]) is prompt
    assert newest_conversation([drain]) is drain, "no prompt at all: the newest trace"
