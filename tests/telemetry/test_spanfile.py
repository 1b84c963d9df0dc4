"""The span-file exporter with the real OpenTelemetry SDK: file layout, fields, failures, reading back."""

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from structlog.testing import capture_logs

from wasmind.telemetry.spanfile import SpanFileExporter, read_spans, run_spans_dir


def _provider(exporter: SpanExporter, service: str, *, batch: bool = False) -> TracerProvider:
    resource = Resource.create({"service.name": service, "service.instance.id": f"{service}-1"})
    provider = TracerProvider(resource=resource)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def _by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in spans}


def _two_services(directory: Path) -> tuple[str, str]:
    """A CLI span (simple processor) whose child runs in a host (batch processor); returns the ids."""
    cli = _provider(SpanFileExporter(directory, "wasmind-cli"), "wasmind-cli")
    host = _provider(SpanFileExporter(directory, "wasmind-host"), "wasmind-host", batch=True)
    with cli.get_tracer("test").start_as_current_span("run", kind=SpanKind.CLIENT) as root:
        root.set_attribute("wasmind.scope", "000000")
        root.set_attribute("process.command", ("wasmind", "run", "demo.toml"))
        root.add_event("log", {"message": "spawning", "level": "info"})
        linked = root.get_span_context()
        context = trace.set_span_in_context(root)
        with host.get_tracer("test").start_as_current_span(
            "deliver", context=context, kind=SpanKind.CONSUMER, links=[Link(linked, {"why": "cause"})]
        ) as deliver:
            deliver.set_attribute("wasmind.actor_id", "assistant")
            with host.get_tracer("test").start_as_current_span("llm", kind=SpanKind.CLIENT) as llm:
                llm.set_attribute("gen_ai.usage.input_tokens", 12)
                llm.set_attribute("ratio", float("nan"))
                llm.set_status(Status(StatusCode.ERROR, "LLM down"))
    cli.shutdown()
    host.shutdown()
    return format(linked.trace_id, "032x"), format(linked.span_id, "016x")


def test_two_services_write_one_file_each_with_every_field(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "spans"  # created by the exporter
    trace_id, root_id = _two_services(directory)
    pid = os.getpid()
    assert sorted(p.name for p in directory.iterdir()) == [
        f"spans-wasmind-cli-{pid}.jsonl",
        f"spans-wasmind-host-{pid}.jsonl",
    ]
    spans = read_spans(directory)
    assert spans.malformed == 0 and len(spans.files) == 2
    by_name = _by_name(spans)
    assert set(by_name) == {"run", "deliver", "llm"}
    run, deliver, llm = by_name["run"], by_name["deliver"], by_name["llm"]
    assert {span["trace_id"] for span in spans} == {trace_id}
    assert run["span_id"] == root_id and run["parent_span_id"] is None
    assert deliver["parent_span_id"] == root_id and llm["parent_span_id"] == deliver["span_id"]
    assert all(len(s["trace_id"]) == 32 and len(s["span_id"]) == 16 for s in spans)
    assert all(s["trace_id"] == s["trace_id"].lower() for s in spans)
    assert (run["kind"], deliver["kind"], llm["kind"]) == ("client", "consumer", "client")
    assert run["start"] <= deliver["start"] <= llm["start"] <= llm["end"] <= deliver["end"] <= run["end"]
    assert all(isinstance(s["start"], int) and isinstance(s["end"], int) for s in spans)
    assert run["attributes"] == {
        "wasmind.scope": "000000",
        "process.command": ["wasmind", "run", "demo.toml"],
    }
    assert run["events"][0]["name"] == "log"
    assert run["events"][0]["attributes"] == {"message": "spawning", "level": "info"}
    assert run["start"] <= run["events"][0]["time"] <= run["end"]
    assert deliver["links"] == [{"trace_id": trace_id, "span_id": root_id, "attributes": {"why": "cause"}}]
    assert llm["status"] == {"code": "error", "message": "LLM down"}
    assert run["status"] == {"code": "unset", "message": None}
    assert llm["attributes"] == {"gen_ai.usage.input_tokens": 12, "ratio": "nan"}
    assert run["resource"]["service.name"] == "wasmind-cli"
    assert llm["resource"]["service.name"] == "wasmind-host"
    assert llm["resource"]["service.instance.id"] == "wasmind-host-1"


def test_every_line_is_one_compact_json_object(tmp_path: Path) -> None:
    _two_services(tmp_path)
    for path in tmp_path.iterdir():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            assert set(record) == {
                "trace_id",
                "span_id",
                "parent_span_id",
                "name",
                "kind",
                "start",
                "end",
                "status",
                "attributes",
                "events",
                "links",
                "resource",
            }


def test_a_batch_is_one_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = SpanFileExporter(tmp_path, "svc")
    provider = _provider(exporter, "svc", batch=True)
    for index in range(50):
        provider.get_tracer("test").start_span(f"s{index}").end()
    calls: list[int] = []
    real_write = os.write

    def counting(fd: int, data: Any) -> int:
        calls.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting)
    provider.force_flush()
    monkeypatch.undo()
    provider.shutdown()
    assert len(read_spans(tmp_path)) == 50
    assert len(calls) == 1, calls


def test_concurrent_exports_never_interleave_lines(tmp_path: Path) -> None:
    exporter = SpanFileExporter(tmp_path, "svc")
    provider = _provider(exporter, "svc")
    tracer = provider.get_tracer("test")

    def work(worker: int) -> None:
        for index in range(100):
            with tracer.start_as_current_span(f"w{worker}-{index}") as span:
                span.set_attribute("payload", "x" * 500)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.shutdown()
    spans = read_spans(tmp_path)
    assert spans.malformed == 0 and len(spans) == 800


def test_shutdown_and_force_flush(tmp_path: Path) -> None:
    exporter = SpanFileExporter(tmp_path, "svc")
    provider = _provider(exporter, "svc")
    provider.get_tracer("test").start_span("before").end()
    assert exporter.force_flush() is True
    assert len(read_spans(tmp_path)) == 1  # already on disk, no flush needed
    provider.shutdown()
    exporter.shutdown()  # idempotent
    assert exporter.force_flush() is False
    assert exporter.export([]) is SpanExportResult.FAILURE
    assert [s["name"] for s in read_spans(tmp_path)] == ["before"]


def test_a_failing_write_returns_failure_and_logs_once(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    exporter = SpanFileExporter(blocker / "spans", "svc")
    provider = _provider(exporter, "svc")
    tracer = provider.get_tracer("test")
    results = []
    with capture_logs() as logs:
        for name in ("a", "b", "c"):
            span = tracer.start_span(name)
            span.end()
            results.append(exporter.export([span]))  # type: ignore[list-item]
    provider.shutdown()
    assert results == [SpanExportResult.FAILURE] * 3
    failures = [entry for entry in logs if entry["event"].startswith("span file export failed")]
    assert len(failures) == 1
    assert str(blocker / "spans") in failures[0]["path"]


def test_an_unsafe_service_name_makes_a_safe_file_name(tmp_path: Path) -> None:
    exporter = SpanFileExporter(tmp_path, "../wasmind host/1")
    assert exporter.path.parent == tmp_path
    assert exporter.path.name == f"spans-.._wasmind_host_1-{os.getpid()}.jsonl"
    assert run_spans_dir(tmp_path) == tmp_path / "spans"


def test_read_spans_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    _two_services(tmp_path)
    good = read_spans(tmp_path)[0]
    bad_lines = [
        "not json",
        "[1, 2]",
        json.dumps({"span_id": "a" * 16, "name": "no trace id", "start": 1}),
        json.dumps(good | {"start": "yesterday"}),
        json.dumps(good)[:40],  # a line cut short by a crash
    ]
    (tmp_path / "spans-broken-1.jsonl").write_text("\n".join([*bad_lines, "", json.dumps(good)]) + "\n")
    (tmp_path / "other.jsonl").write_text("ignored: not a span file\n")
    spans = read_spans(tmp_path)
    assert spans.malformed == len(bad_lines)
    assert len(spans) == 4
    assert spans.files[0].name == "spans-broken-1.jsonl"


def test_read_spans_gives_defaults_for_missing_optional_fields(tmp_path: Path) -> None:
    minimal = {"trace_id": "AB" * 16, "span_id": "CD" * 8, "name": "bare", "start": 5}
    odd = minimal | {"status": "bad", "events": [1, {"name": "e"}], "attributes": [], "parent_span_id": ""}
    (tmp_path / "spans-x-1.jsonl").write_text(json.dumps(minimal) + "\n" + json.dumps(odd) + "\n")
    for span in read_spans(tmp_path):
        assert span["trace_id"] == "ab" * 16 and span["span_id"] == "cd" * 8
        assert span["parent_span_id"] is None and span["end"] == 5 and span["kind"] == "internal"
        assert span["status"] == {"code": "unset", "message": None}
        assert span["attributes"] == {} and span["events"] == [] and span["links"] == []
        assert span["resource"] == {}


def test_read_spans_of_a_missing_directory_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        read_spans(tmp_path / "nope")
