"""The test OTLP receiver against the real OpenTelemetry SDK and OTLP/HTTP exporters."""

import gzip
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from otlp_receiver import OtlpReceiver

from wasmind.telemetry.spanfile import SpanFileExporter, read_spans

RESOURCE = Resource.create({"service.name": "wasmind-host", "service.instance.id": "host-7"})


def _nested_spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("wasmind.test")
    with tracer.start_as_current_span("handle", kind=SpanKind.CONSUMER) as handle:
        handle.set_attributes(
            {"wasmind.scope": "a1b2c3", "wasmind.ids": ("a", "b"), "retries": 2, "ok": True}
        )
        handle.add_event("log", {"message": "start", "ratio": 0.5})
        cause = handle.get_span_context()
        with tracer.start_as_current_span(
            "chat", kind=SpanKind.CLIENT, links=[Link(cause, {"k": "v"})]
        ) as chat:
            chat.set_attribute("gen_ai.usage.input_tokens", 1200)
            chat.set_status(Status(StatusCode.ERROR, "LLM down"))


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_spans_from_the_otlp_exporter_arrive_with_parents_and_attributes(compression: Compression) -> None:
    with OtlpReceiver() as receiver:
        provider = TracerProvider(resource=RESOURCE)
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", compression=compression)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        _nested_spans(provider)
        provider.shutdown()
        spans = receiver.wait_for_spans(lambda spans: len(spans) == 2)
        requests = receiver.requests
    by_name = {span["name"]: span for span in spans}
    handle, chat = by_name["handle"], by_name["chat"]
    assert handle["parent_span_id"] is None and chat["parent_span_id"] == handle["span_id"]
    assert chat["trace_id"] == handle["trace_id"] and len(chat["trace_id"]) == 32
    assert (handle["kind"], chat["kind"]) == ("consumer", "client")
    assert handle["attributes"] == {
        "wasmind.scope": "a1b2c3",
        "wasmind.ids": ["a", "b"],
        "retries": 2,
        "ok": True,
    }
    assert handle["events"][0]["name"] == "log"
    assert handle["events"][0]["attributes"] == {"message": "start", "ratio": 0.5}
    assert chat["links"] == [
        {"trace_id": handle["trace_id"], "span_id": handle["span_id"], "attributes": {"k": "v"}}
    ]
    assert chat["status"] == {"code": "error", "message": "LLM down"}
    assert handle["status"] == {"code": "unset", "message": None}
    assert chat["resource"]["service.name"] == "wasmind-host"
    assert chat["resource"]["service.instance.id"] == "host-7"
    assert handle["start"] <= chat["start"] <= chat["end"] <= handle["end"]
    expected = "gzip" if compression is Compression.Gzip else ""
    assert [(r["path"], r["content_type"], r["encoding"]) for r in requests] == [
        ("/v1/traces", "application/x-protobuf", expected)
    ]


def test_a_received_span_equals_its_span_file_line(tmp_path: Path) -> None:
    with OtlpReceiver() as receiver:
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
        )
        provider.add_span_processor(SimpleSpanProcessor(SpanFileExporter(tmp_path, "wasmind-host")))
        _nested_spans(provider)
        provider.shutdown()
        received = receiver.wait_for_spans(lambda spans: len(spans) == 2)
    key = lambda span: span["span_id"]
    assert sorted(received, key=key) == sorted(read_spans(tmp_path), key=key)


def test_traces_groups_spans_by_trace_in_start_order() -> None:
    with OtlpReceiver() as receiver:
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
        )
        _nested_spans(provider)
        provider.get_tracer("wasmind.test").start_span("alone").end()
        provider.shutdown()
        receiver.wait_for_spans(lambda spans: len(spans) == 3)
        traces = receiver.traces()
    assert sorted([span["name"] for span in spans] for spans in traces.values()) == [
        ["alone"],
        ["handle", "chat"],
    ]


def test_a_counter_and_a_histogram_arrive_as_metrics() -> None:
    with OtlpReceiver() as receiver:
        exporter = OTLPMetricExporter(
            endpoint=f"{receiver.endpoint}/v1/metrics", compression=Compression.Gzip
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
        meter = provider.get_meter("wasmind.test")
        delivered = meter.create_counter("wasmind.messages.delivered", unit="{message}")
        latency = meter.create_histogram("wasmind.handle.duration", unit="ms")
        delivered.add(3, {"wasmind.message_type": "assistant.AddMessage"})
        delivered.add(2, {"wasmind.message_type": "assistant.AddMessage"})
        delivered.add(1, {"wasmind.message_type": "tools.Call"})
        for value in (1.0, 7.0, 300.0):
            latency.record(value, {"wasmind.actor_id": "assistant"})
        provider.shutdown()  # exports once more on the way out
        metrics = receiver.wait_for_metrics(
            lambda records: {"wasmind.handle.duration"} <= {r["name"] for r in records}
        )
    counter = next(m for m in metrics if m["name"] == "wasmind.messages.delivered")
    assert counter["kind"] == "sum" and counter["monotonic"] is True and counter["unit"] == "{message}"
    values = {point["attributes"]["wasmind.message_type"]: point["value"] for point in counter["points"]}
    assert values == {"assistant.AddMessage": 5, "tools.Call": 1}
    histogram = next(m for m in metrics if m["name"] == "wasmind.handle.duration")
    assert histogram["kind"] == "histogram" and histogram["resource"]["service.name"] == "wasmind-host"
    [point] = histogram["points"]
    assert point["attributes"] == {"wasmind.actor_id": "assistant"}
    assert (point["count"], point["sum"]) == (3, 308.0)
    assert (
        sum(point["bucket_counts"]) == 3 and len(point["bucket_counts"]) == len(point["explicit_bounds"]) + 1
    )


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


OTLP_JSON: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "external"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "publish",
                            "kind": 4,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [
                                {"key": "n", "value": {"intValue": "3"}},
                                {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": True}]}}},
                                {
                                    "key": "map",
                                    "value": {"kvlistValue": {"values": [{"key": "a", "value": {}}]}},
                                },
                            ],
                            "status": {"code": 2, "message": "failed"},
                        }
                    ]
                }
            ],
        }
    ]
}


def test_otlp_json_with_hex_ids_and_gzip_is_accepted() -> None:
    with OtlpReceiver() as receiver:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        status, body = _post(
            f"{receiver.endpoint}/v1/traces", gzip.compress(json.dumps(OTLP_JSON).encode()), headers
        )
        [span] = receiver.spans
    assert (status, body) == (200, b"{}")
    assert span["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert span["span_id"] == "eee19b7ec3c1b174" and span["parent_span_id"] == "eee19b7ec3c1b173"
    assert (span["kind"], span["start"], span["end"]) == (
        "producer",
        1544712660000000000,
        1544712661000000000,
    )
    assert span["attributes"] == {"n": 3, "list": [True], "map": {"a": None}}
    assert span["status"] == {"code": "error", "message": "failed"} and span["resource"] == {
        "service.name": "external"
    }


def test_bad_requests_are_rejected_and_remembered() -> None:
    with OtlpReceiver() as receiver:
        url = receiver.endpoint
        assert _post(f"{url}/v1/spans", b"", {"Content-Type": "application/x-protobuf"})[0] == 404
        assert _post(f"{url}/v1/traces", b"x", {"Content-Type": "text/plain"})[0] == 415
        assert _post(f"{url}/v1/traces", b"\xff\xff", {"Content-Type": "application/x-protobuf"})[0] == 400
        assert _post(f"{url}/v1/logs", b"{", {"Content-Type": "application/json"})[0] == 400
        protobuf = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        assert _post(f"{url}/v1/traces", b"not gzip", protobuf)[0] == 400
        assert len(receiver.errors) == 4 and receiver.spans == [] and receiver.requests == []
        with pytest.raises(TimeoutError, match="rejected requests"):
            receiver.wait_for_spans(timeout=0.1)


def test_an_empty_protobuf_export_gets_an_empty_protobuf_response() -> None:
    with OtlpReceiver() as receiver:
        status, body = _post(
            f"{receiver.endpoint}/v1/metrics", b"", {"Content-Type": "application/x-protobuf"}
        )
        assert (status, body) == (200, b"")
        assert receiver.requests == [
            {"path": "/v1/metrics", "content_type": "application/x-protobuf", "encoding": "", "records": 0}
        ]
    with pytest.raises(AssertionError, match="not started"):
        _ = receiver.endpoint


def test_log_records_arrive_with_their_span() -> None:
    with OtlpReceiver() as receiver:
        logs = LoggerProvider(resource=RESOURCE)
        logs.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{receiver.endpoint}/v1/logs"))
        )
        logger = logging.getLogger("wasmind.test.otlp")
        handler = LoggingHandler(logger_provider=logs)
        logger.addHandler(handler)
        tracer = TracerProvider(resource=RESOURCE)
        try:
            with tracer.get_tracer("wasmind.test").start_as_current_span("work") as span:
                logger.warning("disk %s full", "/tmp", extra={"wasmind.scope": "a1b2c3"})
        finally:
            logger.removeHandler(handler)
            logs.shutdown()
            tracer.shutdown()
        [record] = receiver.wait_for_logs()
    assert record["body"] == "disk /tmp full" and record["severity_text"] == "WARN"
    assert record["attributes"]["wasmind.scope"] == "a1b2c3"
    assert record["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert record["span_id"] == format(span.get_span_context().span_id, "016x")
    assert record["resource"]["service.name"] == "wasmind-host"
