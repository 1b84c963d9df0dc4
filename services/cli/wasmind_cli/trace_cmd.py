"""``wasmind trace``: a recorded trace as a tree in the terminal, from the span files of a run.

Every process of a run with tracing enabled writes its finished spans to
``<state>/runs/<time>/spans/spans-<service>-<pid>.jsonl`` (see ``wasmind.telemetry.spanfile``).
Without a trace id the command lists the traces there; with one (or ``--last``) it draws its tree.
"""

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from wasmind.assets import state_dir
from wasmind.telemetry.spanfile import SPANS_DIRNAME, read_spans, run_spans_dir
from wasmind.telemetry.tracing import TRACE_DIR_ENV
from wasmind_cli.console import console, err_console

Span = dict[str, Any]

MIN_PREFIX = 6
_ENABLE_HINT = (
    "a run writes spans only when span files are on: `[telemetry] file = true` in the configuration, "
    "or WASMIND_TRACE_DIR=<dir> in the environment (then read them with --dir <dir>)"
)
# (attribute, label) shown after a span's name when present, in this order
_SHOWN = (
    ("wasmind.scope", "scope"),
    ("wasmind.actor_id", "actor"),
    ("wasmind.message_type", "type"),
    ("messaging.destination.name", "subject"),
    ("gen_ai.request.model", "model"),
    ("process.command", "command"),
    ("process.exit.code", "exit"),
)
_VALUE_WIDTH = 60


class TraceError(Exception):
    """A user error: printed as ``Error: ...``, exit status 1."""


@dataclass
class Trace:
    """The spans of one trace, indexed for drawing."""

    trace_id: str
    spans: list[Span]
    by_id: dict[str, Span] = field(init=False)
    children: dict[str, list[Span]] = field(init=False)
    tops: list[Span] = field(init=False)

    def __post_init__(self) -> None:
        self.spans.sort(key=_order)
        self.by_id = {}
        for span in self.spans:
            self.by_id.setdefault(span["span_id"], span)  # a span exported twice is drawn once
        self.children = {}
        self.tops = []
        for span in self.by_id.values():
            parent = span["parent_span_id"]
            if parent in self.by_id and parent != span["span_id"]:
                self.children.setdefault(parent, []).append(span)
            else:
                self.tops.append(span)

    @property
    def root(self) -> Span:
        """The earliest span without a parent, else the earliest span (every parent is missing)."""
        return next(
            (s for s in self.tops if s["parent_span_id"] is None),
            self.tops[0] if self.tops else self.spans[0],
        )

    @property
    def start(self) -> int:
        """When the root span started (unix ns)."""
        return int(self.root["start"])

    @property
    def duration_ns(self) -> int:
        """From the first start to the last end of any span."""
        return int(max(s["end"] for s in self.spans) - min(s["start"] for s in self.spans))

    @property
    def errors(self) -> int:
        """Spans with an error status."""
        return sum(1 for s in self.by_id.values() if _is_error(s))

    def is_orphan(self, span: Span) -> bool:
        """True for a span whose parent is not in the files."""
        return span["parent_span_id"] is not None and span["parent_span_id"] not in self.by_id

    def walk(self) -> Iterator[tuple[Span, str, str]]:
        """(span, prefix of its line, prefix of its children's lines), depth first, each span once."""
        seen: set[str] = set()
        tops = list(self.tops)
        while tops:  # spans caught in a parent cycle are reached by no top: draw them as tops too
            yield from self._walk(tops, seen)
            tops = [s for s in self.by_id.values() if s["span_id"] not in seen][:1]

    def _walk(self, tops: list[Span], seen: set[str]) -> Iterator[tuple[Span, str, str]]:
        stack: list[tuple[Span, str, str]] = [(span, "", "") for span in reversed(tops)]
        while stack:
            span, prefix, inner = stack.pop()
            if span["span_id"] in seen:
                continue
            seen.add(span["span_id"])
            yield span, prefix, inner
            kids = [k for k in self.children.get(span["span_id"], []) if k["span_id"] not in seen]
            for index, kid in reversed(list(enumerate(kids))):
                last = index == len(kids) - 1
                stack.append((kid, inner + ("└─ " if last else "├─ "), inner + ("   " if last else "│  ")))


def _order(span: Span) -> tuple[int, int, str]:
    return span["start"], span["end"], span["name"]


def _is_error(span: Span) -> bool:
    return bool(span["status"]["code"] == "error")


def _service(span: Span) -> str:
    return str(span["resource"].get("service.name", "?"))


def _ms(duration_ns: int) -> str:
    value = duration_ns / 1e6
    if value < 1:
        return f"{value:.3f} ms"
    if value < 10:
        return f"{value:.2f} ms"
    if value < 100:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _clock(unix_ns: int) -> str:
    seconds, ns = divmod(unix_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{ns // 1_000_000:03d}"


def _short(value: Any) -> str:
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


def _details(attributes: dict[str, Any]) -> list[str]:
    shown = [f"{label}={_short(attributes[key])}" for key, label in _SHOWN if key in attributes]
    for key, label in (
        ("gen_ai.usage.input_tokens", "in_tokens"),
        ("gen_ai.usage.output_tokens", "out_tokens"),
    ):
        if key in attributes:
            shown.append(f"{label}={attributes[key]}")
    return shown


# --- choosing the directory and the trace ----------------------------------------------------------


def latest_spans_dir() -> Path:
    """``WASMIND_TRACE_DIR`` when set, else the spans directory of the newest run that has one."""
    if configured := os.environ.get(TRACE_DIR_ENV):
        return Path(configured)
    runs = state_dir() / "runs"
    run_dirs = sorted(runs.iterdir(), reverse=True) if runs.is_dir() else []  # names are start times
    for spans in map(run_spans_dir, run_dirs):
        if spans.is_dir():
            return spans
    raise TraceError(
        f"no spans found: looked for {runs / '*' / SPANS_DIRNAME}; {_ENABLE_HINT}. --dir DIR reads another directory"
    )


def load_traces(directory: Path) -> list[Trace]:
    """The traces of a spans directory, the newest root first."""
    try:
        spans = read_spans(directory)
    except FileNotFoundError:
        raise TraceError(f"no spans directory at {directory}; {_ENABLE_HINT}") from None
    except OSError as error:
        raise TraceError(f"cannot read the spans in {directory}: {error.strerror or error}") from None
    if spans.malformed:
        err_console.print(
            f"Warning: skipped {spans.malformed} malformed line(s) in {directory}", markup=False
        )
    if not spans:
        raise TraceError(f"no spans in {directory} (its span files are empty or missing); {_ENABLE_HINT}")
    grouped: dict[str, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span["trace_id"], []).append(span)
    traces = [Trace(trace_id, members) for trace_id, members in grouped.items()]
    return sorted(traces, key=lambda t: (t.start, t.trace_id), reverse=True)


def _candidates(traces: list[Trace]) -> str:
    shown = [f"  {t.trace_id}  {t.root['name']}  ({_clock(t.start)})" for t in traces[:10]]
    more = [f"  ... and {len(traces) - 10} more (wasmind trace lists them all)"] if len(traces) > 10 else []
    return "\n".join(shown + more)


def select(traces: list[Trace], trace_id: str) -> Trace:
    """The trace with this id, or the only one starting with this prefix (at least 6 characters)."""
    wanted = trace_id.strip().lower()
    exact = [t for t in traces if t.trace_id == wanted]
    if exact:
        return exact[0]
    if len(wanted) < MIN_PREFIX:
        raise TraceError(f"trace id {trace_id!r} is too short: give at least {MIN_PREFIX} hex characters")
    matches = [t for t in traces if t.trace_id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise TraceError(
            f"trace id prefix {trace_id!r} matches {len(matches)} traces; give more characters:\n{_candidates(matches)}"
        )
    raise TraceError(
        f"no trace {trace_id!r} in the spans; traces there, newest first:\n{_candidates(traces)}"
    )


# --- output -----------------------------------------------------------------------------------------


def _line(trace: Trace, span: Span, prefix: str, width: int) -> Text:
    error = _is_error(span)
    line = Text(_ms(span["end"] - span["start"]).rjust(width) + "  ", style="cyan")
    line.append(prefix, style="dim")
    line.append(span["name"], style="bold red" if error else "bold")
    line.append(f"  {_service(span)}", style="magenta")
    details = _details(span["attributes"])
    if details:
        line.append("  " + " ".join(details))
    if error:
        line.append(f"  ✗ error: {span['status']['message'] or '(no message)'}", style="red")
    if trace.is_orphan(span):
        line.append("  (parent not recorded)", style="yellow")
    return line


def _event_lines(span: Span, guide: str, width: int) -> Iterator[Text]:
    """The span's events, under its line: time since the span started, name, attributes."""
    for event in span["events"]:
        line = Text(f"+{_ms(event['time'] - span['start'])}".rjust(width) + "  ", style="dim cyan")
        line.append(guide + "· ", style="dim")
        line.append(str(event["name"]), style="italic")
        attributes = " ".join(f"{key}={_short(value)}" for key, value in event["attributes"].items())
        if attributes:
            line.append("  " + attributes, style="dim")
        yield line


def render(trace: Trace, events: bool) -> None:
    """Print the trace's header and one line per span (and per event with ``events``)."""
    console.print(
        f"trace {trace.trace_id}  {trace.root['name']}  {_clock(trace.start)}  "
        f"{_ms(trace.duration_ns)}  {_count(len(trace.by_id), 'span')}, {_count(trace.errors, 'error')}",
        markup=False,
        highlight=False,
    )
    walked = list(trace.walk())
    width = max(len(_ms(s["end"] - s["start"])) for s, _, _ in walked) + 1
    for span, prefix, inner in walked:
        console.print(_line(trace, span, prefix, width), highlight=False)
        if events:
            guide = inner + ("│ " if trace.children.get(span["span_id"]) else "  ")
            for line in _event_lines(span, guide, width):
                console.print(line, highlight=False)


def nested(trace: Trace) -> list[Span]:
    """The trace's spans as a forest: each span with a ``children`` list; orphans at top level."""
    made: dict[str, Span] = {}
    forest: list[Span] = []
    for span, prefix, _ in trace.walk():
        node = span | {"children": []}
        made[span["span_id"]] = node
        parent = made.get(span["parent_span_id"] or "") if prefix else None
        (parent["children"] if parent is not None else forest).append(node)
    return forest


def summary(trace: Trace) -> dict[str, Any]:
    """One row of the listing."""
    return {
        "trace_id": trace.trace_id,
        "root": trace.root["name"],
        "service": _service(trace.root),
        "start": trace.start,
        "duration_ns": trace.duration_ns,
        "spans": len(trace.by_id),
        "errors": trace.errors,
    }


_COLUMNS = ("TRACE ID", "ROOT", "SERVICE", "START", "DURATION", "SPANS", "ERRORS")


def list_traces(traces: list[Trace], directory: Path) -> None:
    """The traces of the directory, newest first."""
    table = Table(box=None, pad_edge=False, title=Text(f"traces in {directory}"), title_justify="left")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in _COLUMNS[-3:] else "left", no_wrap=True)
    for trace in traces:
        row = summary(trace)
        cells = (trace.trace_id, row["root"], row["service"], _clock(trace.start), _ms(trace.duration_ns))
        table.add_row(
            *(Text(cell) for cell in cells),
            Text(str(row["spans"])),
            Text(str(row["errors"]), style="red" if row["errors"] else ""),
        )
    console.print(table, highlight=False)
    console.print(
        "show one: wasmind trace <TRACE_ID or prefix>   the newest prompt: wasmind trace --last",
        markup=False,
        style="dim",
    )


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


CONVERSATION_ROOT = "user message"
"""The CLI's span for a prompt or chat line: the root of a conversation's trace."""


def newest_conversation(traces: list[Trace]) -> Trace:
    """The newest trace started by a user message, else the newest trace (``traces`` newest first)."""
    return next((t for t in traces if t.root["name"] == CONVERSATION_ROOT), traces[0])


def _run(trace_id: str | None, last: bool, directory: Path | None, as_json: bool, events: bool) -> None:
    if trace_id and last:
        raise TraceError("give a TRACE_ID or --last, not both")
    where = directory or latest_spans_dir()
    traces = load_traces(where)
    if not trace_id and not last:
        if as_json:
            _write_json([summary(t) for t in traces])
        else:
            list_traces(traces, where)
        return
    chosen = newest_conversation(traces) if last else select(traces, trace_id or "")
    if as_json:
        _write_json(nested(chosen))
    else:
        render(chosen, events)


def trace(
    trace_id: Annotated[
        str | None, typer.Argument(metavar="TRACE_ID", help="Trace id, or a unique prefix of 6+ characters")
    ] = None,
    last: Annotated[
        bool, typer.Option("--last", help="The newest prompt's trace (else the newest trace)")
    ] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="A spans directory (default: the latest run's)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The trace's spans as JSON, nested by children")
    ] = False,
    events: Annotated[bool, typer.Option("--events", help="Also show span events (log lines)")] = False,
) -> None:
    """Show a recorded trace as a tree; without TRACE_ID or --last, list the traces."""
    try:
        _run(trace_id, last, directory, as_json, events)
    except TraceError as error:
        err_console.print(f"Error: {error}", markup=False, highlight=False)
        raise typer.Exit(1) from None
