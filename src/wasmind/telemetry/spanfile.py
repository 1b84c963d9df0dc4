"""Span files: finished spans as JSON lines, one file per process, read by ``wasmind trace``.

:class:`SpanFileExporter` is an OpenTelemetry ``SpanExporter``. Each process appends to its own
file ``<directory>/spans-<service>-<pid>.jsonl``, so processes never interleave; each batch is one
``write`` call, so a reader sees whole lines (a crash can leave at most a truncated last line,
which :func:`read_spans` skips and counts).

Every line is one JSON object, one span:

``trace_id``
    32 lowercase hex characters.
``span_id``
    16 lowercase hex characters.
``parent_span_id``
    16 lowercase hex characters, or ``null`` for a root span. The parent can be in another
    process's file, or missing (an "orphan": its process did not record it).
``name``
    The span name.
``kind``
    ``internal``, ``server``, ``client``, ``producer`` or ``consumer``.
``start``, ``end``
    Unix time in nanoseconds (integers).
``status``
    ``{"code": "unset" | "ok" | "error", "message": str | null}``.
``attributes``
    Object of JSON values: strings, booleans, numbers, and lists of them (OpenTelemetry tuples
    become lists; non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``).
``events``
    List of ``{"name": str, "time": int (unix ns), "attributes": {...}}``.
``links``
    List of ``{"trace_id": hex, "span_id": hex, "attributes": {...}}``.
``resource``
    Object of the resource attributes of the process (``service.name``, ``service.instance.id``,
    ``process.pid``, ...).

Readers must ignore fields they do not know: later versions may add fields, never remove one.
"""

import json
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext

__all__ = ["SPANS_DIRNAME", "SpanFileExporter", "SpanList", "read_spans", "run_spans_dir", "span_to_dict"]

log = structlog.get_logger("wasmind.telemetry")

SPANS_DIRNAME = "spans"
"""The sub-directory of a run directory (``<state>/runs/<time>/``) holding its span files."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_KINDS = frozenset({"internal", "server", "client", "producer", "consumer"})
_CODES = frozenset({"unset", "ok", "error"})


def run_spans_dir(run_dir: Path) -> Path:
    """The spans directory of a run directory: where every process of that run writes its file."""
    return run_dir / SPANS_DIRNAME


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Sequence):
        return [_json_value(item) for item in value]
    return str(value)


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(key): _json_value(value) for key, value in (attributes or {}).items()}


def _hex_ids(context: SpanContext) -> tuple[str, str]:
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _link(link: Link) -> dict[str, Any]:
    trace_id, span_id = _hex_ids(link.context)
    return {"trace_id": trace_id, "span_id": span_id, "attributes": _attributes(link.attributes)}


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """One finished SDK span in the span-file layout (see the module docstring)."""
    assert span.context is not None, "a finished SDK span always has a context"
    trace_id, span_id = _hex_ids(span.context)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "start": span.start_time or 0,
        "end": span.end_time or span.start_time or 0,
        "status": {"code": span.status.status_code.name.lower(), "message": span.status.description},
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": event.name, "time": event.timestamp, "attributes": _attributes(event.attributes)}
            for event in span.events
        ],
        "links": [_link(link) for link in span.links],
        "resource": _attributes(span.resource.attributes),
    }


class SpanFileExporter(SpanExporter):
    """Appends finished spans as JSON lines to ``<directory>/spans-<service>-<pid>.jsonl``.

    Thread-safe; never raises out of :meth:`export` (a failing write returns ``FAILURE`` and is
    logged once per exporter). Lines go straight to the operating system (no buffering in the
    process), so a crash after an export loses nothing.
    """

    def __init__(self, directory: Path, service: str) -> None:
        self._directory = Path(directory)
        self._service = _UNSAFE.sub("_", service) or "unknown"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._closed = False
        self._failed_once = False

    @property
    def path(self) -> Path:
        """This process's span file (created on the first export)."""
        return self._directory / f"spans-{self._service}-{os.getpid()}.jsonl"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append one line per span, the whole batch in a single write."""
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            data = "".join(json.dumps(span_to_dict(span), separators=(",", ":")) + "\n" for span in spans)
            with self._lock:
                self._write(data.encode())
        except Exception as error:  # noqa: BLE001 - an exporter must never raise into the SDK
            self._report(error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _write(self, data: bytes) -> None:
        if self._fd is None or self._pid != os.getpid():  # first write, or a forked child
            if self._fd is not None:
                os.close(self._fd)  # the child's copy of the parent's descriptor
            self._directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        view = memoryview(data)
        while view:  # one call for a regular file; the loop only covers a short write
            view = view[os.write(self._fd, view) :]

    def _report(self, error: Exception) -> None:
        if not self._failed_once:
            self._failed_once = True
            log.warning(
                "span file export failed; spans are dropped",
                path=str(self.path),
                error=f"{type(error).__name__}: {error}",
                fix="check that the directory is writable and the disk not full",
            )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered in the process: every export already reached the OS."""
        return not self._closed

    def shutdown(self) -> None:
        """Close the file; later exports return ``FAILURE`` without writing. Idempotent."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None


class SpanList(list[dict[str, Any]]):
    """The spans read from a directory, with what was skipped.

    ``malformed`` counts the lines that were not a JSON object with string ``trace_id``,
    ``span_id`` and ``name`` and an integer ``start`` (such as a last line cut short by a crash);
    ``files`` are the span files read, in name order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.malformed = 0
        self.files: list[Path] = []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status(value: Any) -> dict[str, Any]:
    status = _dict(value)
    code, message = status.get("code"), status.get("message")
    return {
        "code": code if code in _CODES else "unset",
        "message": message if isinstance(message, str) else None,
    }


def _events(value: Any) -> list[dict[str, Any]]:
    events = [event for event in value if isinstance(event, dict)] if isinstance(value, list) else []
    return [
        {
            "name": str(event.get("name", "")),
            "time": event["time"],
            "attributes": _dict(event.get("attributes")),
        }
        for event in events
        if _is_int(event.get("time"))
    ]


def _links(value: Any) -> list[dict[str, Any]]:
    links = [link for link in value if isinstance(link, dict)] if isinstance(value, list) else []
    return [
        {
            "trace_id": link["trace_id"],
            "span_id": link["span_id"],
            "attributes": _dict(link.get("attributes")),
        }
        for link in links
        if isinstance(link.get("trace_id"), str) and isinstance(link.get("span_id"), str)
    ]


def _record(line: str) -> dict[str, Any] | None:
    """A span-file line as a span whose fields all have the documented types, or None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not _is_int(record.get("start")):
        return None
    if not all(isinstance(record.get(key), str) for key in ("trace_id", "span_id", "name")):
        return None
    parent = record.get("parent_span_id")
    return record | {
        "trace_id": record["trace_id"].lower(),
        "span_id": record["span_id"].lower(),
        "parent_span_id": parent.lower() if isinstance(parent, str) and parent else None,
        "kind": record.get("kind") if record.get("kind") in _KINDS else "internal",
        "end": record["end"] if _is_int(record.get("end")) else record["start"],
        "status": _status(record.get("status")),
        "attributes": _dict(record.get("attributes")),
        "events": _events(record.get("events")),
        "links": _links(record.get("links")),
        "resource": _dict(record.get("resource")),
    }


def read_spans(directory: Path) -> SpanList:
    """Every span of every ``spans-*.jsonl`` file of ``directory`` (skipping malformed lines).

    Optional fields that are missing or of the wrong type get their empty default (a missing
    ``end`` becomes ``start``), so a reader can index every documented field without checks. Raises ``FileNotFoundError`` if the directory does not exist.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"no spans directory at {directory}")
    spans = SpanList()
    spans.files = sorted(directory.glob("spans-*.jsonl"))
    for path in spans.files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    continue
                record = _record(line)
                if record is None:
                    spans.malformed += 1
                else:
                    spans.append(record)
    return spans
